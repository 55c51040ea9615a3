#!/usr/bin/env bash
# Benchmark: `trove import` of a SIZE_MIB .tar.gz against `tar xzf` of the same file, same run
# (goal: trove <= 1.2x tar; gzip decoding dominates both). The archive holds 16 files of random
# bytes (incompressible, so the gzip stream is as large as the data). trove unpacks into its
# sandbox, then imports (hashes every chunk and writes the blocks): its time covers both, and
# its cache is emptied between runs. Best of 3 each; peak RSS of trove.
#   scripts/bench-import.sh [SIZE_MIB]     default: 1024
# TROVE_BENCH_DIR picks the folder the files go to (default: $TMPDIR or /tmp).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
size_mib=${1:-1024}
. "$root/scripts/lib/build-trove.sh"
build_trove
work=$(mktemp -d -p "${TROVE_BENCH_DIR:-${TMPDIR:-/tmp}}" bench-import.XXXXXX)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
export TROVE_CONFIG=$work/none.toml
: > "$work/none.toml"
mkdir -p "$work/src/bundle"
for i in $(seq 1 16); do
  head -c "$((size_mib * 1024 * 1024 / 16))" /dev/urandom > "$work/src/bundle/part-$i.bin"
done
tar czf "$work/bundle.tar.gz" -C "$work/src" bundle
cat "$work/bundle.tar.gz" > /dev/null
now() { date +%s.%N; }
best() { sort -n | head -1; }
tar_s=$(for i in 1 2 3; do rm -rf "$work/x"; mkdir "$work/x"; s=$(now); tar xzf "$work/bundle.tar.gz" -C "$work/x" || exit 1; e=$(now); echo "$e - $s" | bc -l; done | best)
[ -n "$tar_s" ] || { echo "bench-import: tar xzf failed" >&2; exit 1; }
rss=0
trove_s=$(for i in 1 2 3; do
  rm -rf "$work/cache"
  s=$(now)
  /usr/bin/time -f '%M' -o "$work/rss" env TROVE_CACHE_DIR="$work/cache" "$trove" import -Q "$work/bundle.tar.gz" > "$work/cid" \
    || { echo "bench-import: trove import failed (see above)" >&2; exit 1; }
  e=$(now)
  echo "$e - $s" | bc -l
done | best)
[ -s "$work/cid" ] && [ -n "$trove_s" ] || { echo "bench-import: trove import failed" >&2; exit 1; }
rss=$(cat "$work/rss")
printf 'import of a %d MiB .tar.gz: trove %.2f s, tar xzf %.2f s, ratio trove/tar %.2f (goal <= 1.2); trove peak RSS %d MiB; CID %s\n' \
  "$size_mib" "$trove_s" "$tar_s" "$(echo "$trove_s / $tar_s" | bc -l)" "$((rss / 1024))" "$(cat "$work/cid")"
