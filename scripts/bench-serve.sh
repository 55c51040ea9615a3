#!/usr/bin/env bash
# Benchmark: `curl` of a SIZE_MIB file as a CAR from `trove serve --http` against `curl` of the
# same CAR bytes from a static file server (Python's http.server) in the same run (goal: trove
# >= 0.8x the static server's throughput). The file is random bytes added with the
# unixfs-v1-2025 profile (1 MiB raw leaves); trove reads every block from its cache and re-hashes
# it before sending, the static server sends a file. The page cache is warm for both (one
# untimed request each first). Best of 3 each; peak RSS of the trove server (Linux /proc).
#   scripts/bench-serve.sh [SIZE_MIB]     default: 256
# TROVE_BENCH_DIR picks the folder the files go to (default: $TMPDIR or /tmp).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
size_mib=${1:-256}
. "$root/scripts/lib/build-trove.sh"
build_trove
work=$(mktemp -d -p "${TROVE_BENCH_DIR:-${TMPDIR:-/tmp}}" bench-serve.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
export TROVE_CONFIG=$work/none.toml TROVE_CACHE_DIR=$work/cache
: > "$work/none.toml"
head -c "$((size_mib * 1024 * 1024))" /dev/urandom > "$work/data.bin"
cid=$("$trove" add -Q --profile unixfs-v1-2025 "$work/data.bin")
mkdir "$work/static"
"$trove" car export --profile unixfs-v1-2025 "$work/data.bin" -o "$work/static/data.car" > /dev/null 2>&1
rm "$work/data.bin"

# wait_listening FILE: the URL a server printed as `LISTENING URL` (up to 20 s).
wait_listening() {
  for _ in $(seq 1 200); do
    url=$(awk '/^LISTENING /{print $2; exit}' "$1" 2>/dev/null || true)
    [ -n "$url" ] && { echo "$url"; return 0; }
    sleep 0.1
  done
  echo "bench-serve: no LISTENING line in $1" >&2
  return 1
}
"$trove" serve --http 127.0.0.1:0 --no-page > "$work/trove.out" 2> "$work/trove.err" &
pids+=($!)
trove_url=$(wait_listening "$work/trove.out")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$work/static" > /dev/null 2>&1 &
pids+=($!)
static_url="http://127.0.0.1:$port"
for _ in $(seq 1 100); do curl -sf -o /dev/null "$static_url/" && break; sleep 0.1; done

# seconds URL: the best of 3 transfers (after one untimed), checking the bytes once.
seconds() {
  curl -sf -o "$work/got.car" "$1" || { echo "bench-serve: curl $1 failed" >&2; return 1; }
  cmp -s "$work/got.car" "$work/static/data.car" || { echo "bench-serve: $1 sent other bytes" >&2; return 1; }
  rm "$work/got.car"
  for i in 1 2 3; do curl -sf -o /dev/null -w '%{time_total}\n' "$1"; done | sort -n | head -1
}
static_s=$(seconds "$static_url/data.car")
trove_s=$(seconds "$trove_url/ipfs/$cid?format=car")
rss=$(awk '/^VmHWM:/{print $2}' "/proc/${pids[0]}/status" 2>/dev/null || echo 0)
car_mib=$(( $(stat -c %s "$work/static/data.car") / 1024 / 1024 ))
printf 'curl of a %d MiB CAR: trove serve --http %.2f s (%.0f MiB/s), static http.server %.2f s (%.0f MiB/s), throughput ratio trove/static %.2f (goal >= 0.8); trove peak RSS %d MiB\n' \
  "$car_mib" "$trove_s" "$(echo "$car_mib / $trove_s" | bc -l)" "$static_s" "$(echo "$car_mib / $static_s" | bc -l)" \
  "$(echo "$static_s / $trove_s" | bc -l)" "$((rss / 1024))"
