#!/usr/bin/env bash
# Benchmark: `trove add --only-hash` of a large file against `openssl dgst -sha256` of the same
# file, in the same run (both read it from the page cache after a warm-up read).
# Prints both times, the ratio trove/openssl (goal <= 1.0) and trove's peak RSS (goal <= 64 MiB).
#   scripts/bench-add.sh [SIZE_MIB] [PROFILE]     defaults: 1024 unixfs-v0-2015
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
size_mib=${1:-1024}
profile=${2:-unixfs-v0-2015}
. "$root/scripts/lib/build-trove.sh"
build_trove
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
file="$work/input.bin"
head -c "$((size_mib * 1024 * 1024))" /dev/urandom > "$file"
cat "$file" > /dev/null   # warm the page cache for both contenders

best() { sort -n | head -1; }
time_cmd() { # prints seconds (best of 3)
  for _ in 1 2 3; do
    local start end
    start=$(date +%s.%N)
    "$@" > /dev/null
    end=$(date +%s.%N)
    echo "$end - $start" | bc -l
  done | best
}

openssl_s=$(time_cmd openssl dgst -sha256 "$file")
trove_s=$(time_cmd "$trove" add --only-hash -Q --profile "$profile" "$file")
rss_kib=$( { /usr/bin/time -f '%M' "$trove" add --only-hash -Q --profile "$profile" "$file" > /dev/null; } 2>&1 | tail -1)
ratio=$(echo "$trove_s / $openssl_s" | bc -l)
printf 'file: %d MiB, profile %s, %d cores\n' "$size_mib" "$profile" "$(nproc)"
printf 'openssl dgst -sha256: %.3f s (%.0f MiB/s)\n' "$openssl_s" "$(echo "$size_mib / $openssl_s" | bc -l)"
printf 'trove add --only-hash: %.3f s (%.0f MiB/s)\n' "$trove_s" "$(echo "$size_mib / $trove_s" | bc -l)"
printf 'ratio trove/openssl: %.2f (goal <= 1.00)\n' "$ratio"
printf 'trove peak RSS: %.1f MiB (goal <= 64)\n' "$(echo "$rss_kib / 1024" | bc -l)"
