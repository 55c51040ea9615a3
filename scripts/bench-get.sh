#!/usr/bin/env bash
# Benchmark: `trove get` through a local trustless gateway (scripts/peers/trustless_gateway.py)
# against `curl` downloading the same bytes from the same server's /files/, in the same run.
# Prints throughput of both and the ratio trove/curl (goal >= 0.8), trove's peak RSS (goal <=
# 100 MiB), and what a get costs when no IPFS daemon runs (the kubo tier probing 127.0.0.1:5001)
# compared with the same get with the kubo tier switched off (goal <= 100 ms).
#   scripts/bench-get.sh [SIZE_MIB] [PROFILE]     defaults: 256 unixfs-v1-2025
# TROVE_BENCH_DIR picks the folder the files, caches and outputs go to (default: $TMPDIR or /tmp).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
size_mib=${1:-256}
profile=${2:-unixfs-v1-2025}
. "$root/scripts/lib/build-trove.sh"
build_trove
work=$(mktemp -d -p "${TROVE_BENCH_DIR:-${TMPDIR:-/tmp}}" bench-get.XXXXXX)
gw_pid=
cleanup() { [ -n "$gw_pid" ] && kill "$gw_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/files"
head -c "$((size_mib * 1024 * 1024))" /dev/urandom > "$work/files/data.bin"
cid=$(TROVE_CACHE_DIR="$work/c0" "$trove" car export "$work/files/data.bin" -o "$work/data.car" --profile "$profile")
python3 "$root/scripts/peers/trustless_gateway.py" --car "$work/data.car" --files-dir "$work/files" \
  --port 0 --port-file "$work/port" > "$work/gw.log" 2>&1 &
gw_pid=$!
for _ in $(seq 1 600); do [ -s "$work/port" ] && break; sleep 0.1; done
url="http://127.0.0.1:$(cat "$work/port")"
# Warm the gateway's CAR cache and the page cache for both contenders.
curl -s -o /dev/null "$url/files/data.bin"
curl -s -o /dev/null "$url/ipfs/$cid?format=car&dag-scope=all"

now() { date +%s.%N; }
best() { sort -n | head -1; }
curl_s=$(for _ in 1 2 3; do s=$(now); curl -s -o "$work/curl.out" "$url/files/data.bin"; e=$(now); echo "$e - $s" | bc -l; done | best)
trove_s=$(for i in 1 2 3; do rm -rf "$work/c$i" "$work/out$i"; s=$(now)
  TROVE_CACHE_DIR="$work/c$i" "$trove" get "$cid" --source gateway --gateway "$url" -o "$work/out$i" -q; e=$(now)
  echo "$e - $s" | bc -l; done | best)
cmp "$work/out1" "$work/files/data.bin"
rm -rf "$work/c9"
rss_kib=$( { TROVE_CACHE_DIR="$work/c9" /usr/bin/time -f '%M' "$trove" get "$cid" --source gateway --gateway "$url" -o "$work/out9" -q; } 2>&1 | tail -1)

# Daemon-absent cost: a small get (one block) with the kubo tier first vs without it.
printf 'hello trove\n' > "$work/files/small.txt"
small=$(TROVE_CACHE_DIR="$work/c0" "$trove" car export "$work/files/small.txt" -o "$work/small.car")
kill "$gw_pid"; wait "$gw_pid" 2>/dev/null || true
python3 "$root/scripts/peers/trustless_gateway.py" --car "$work/data.car" --car "$work/small.car" \
  --port 0 --port-file "$work/port2" > "$work/gw2.log" 2>&1 &
gw_pid=$!
for _ in $(seq 1 600); do [ -s "$work/port2" ] && break; sleep 0.1; done
url="http://127.0.0.1:$(cat "$work/port2")"
get_small() { # $1 = source list; prints seconds (best of 5)
  for i in 1 2 3 4 5; do rm -rf "$work/s$i"; s=$(now)
    IPFS_PATH="$work/no-ipfs" TROVE_CACHE_DIR="$work/s$i" "$trove" get "$small" --source "$1" --gateway "$url" -o "$work/s$i.txt" -q
    e=$(now); echo "$e - $s" | bc -l; done | best
}
with_kubo=$(get_small kubo,gateway)
without=$(get_small gateway)
cmp "$work/s1.txt" "$work/files/small.txt"

printf 'file: %d MiB, profile %s, %d cores\n' "$size_mib" "$profile" "$(nproc)"
printf 'curl /files/:        %.3f s (%.0f MiB/s)\n' "$curl_s" "$(echo "$size_mib / $curl_s" | bc -l)"
printf 'trove get (gateway): %.3f s (%.0f MiB/s)\n' "$trove_s" "$(echo "$size_mib / $trove_s" | bc -l)"
printf 'throughput ratio trove/curl: %.2f (goal >= 0.80)\n' "$(echo "$curl_s / $trove_s" | bc -l)"
printf 'trove peak RSS: %.1f MiB (goal <= 100)\n' "$(echo "$rss_kib / 1024" | bc -l)"
printf 'get with no daemon running: %.1f ms, kubo tier off: %.1f ms, cost %.1f ms (goal <= 100)\n' \
  "$(echo "$with_kubo * 1000" | bc -l)" "$(echo "$without * 1000" | bc -l)" "$(echo "($with_kubo - $without) * 1000" | bc -l)"
