#!/usr/bin/env bash
# Benchmark: delta updates. With version 1 of a SIZE_MIB artifact in the cache, how many bytes
# does fetching version 2 cost, counted at the server (scripts/peers/trustless_gateway.py's
# /_stats)? Only the blocks the cache lacks are fetched (the fetcher narrows the missing DAG
# before it asks for a CAR), so the cost is the changed chunks plus the nodes above them.
# Goals: 1% of the bytes changed in place -> <= 3% of SIZE_MIB fetched; 1% inserted in the
# middle -> <= 5% with the content-defined chunker (the unixfs-*-buzhash profiles, Kubo's
# `--chunker=buzhash`); the fixed-size profiles are reported for comparison.
#   scripts/bench-delta.sh [SIZE_MIB]     default: 64
# TROVE_BENCH_DIR picks the folder the caches and files go to (default: $TMPDIR or /tmp).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
size_mib=${1:-64}
. "$root/scripts/lib/build-trove.sh"
build_trove
work=$(mktemp -d -p "${TROVE_BENCH_DIR:-${TMPDIR:-/tmp}}" bench-delta.XXXXXX)
gateway_pid=
cleanup() {
  [ -n "$gateway_pid" ] && kill "$gateway_pid" 2>/dev/null
  chmod -R u+w "$work" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
export TROVE_CONFIG=$work/none.toml
: > "$work/none.toml"

# v1: random bytes; v2-inplace: 1% of them overwritten in one run; v2-scattered: 1% overwritten
# in 8 runs spread over the file; v2-insert: 1% new bytes inserted in the middle.
python3 - "$work" "$size_mib" <<'PY'
import random, sys
work, mib = sys.argv[1], int(sys.argv[2])
n = mib << 20
rng = random.Random(1)
v1 = rng.randbytes(n)
open(f"{work}/v1.bin", "wb").write(v1)
def overwrite(runs):
    out, each = bytearray(v1), n // 100 // runs
    for i in range(runs):
        at = (i * n) // runs + rng.randrange(n // runs - each)
        out[at:at + each] = rng.randbytes(each)
    return out
open(f"{work}/v2-inplace.bin", "wb").write(overwrite(1))
open(f"{work}/v2-scattered.bin", "wb").write(overwrite(8))
mid = n // 2
open(f"{work}/v2-insert.bin", "wb").write(v1[:mid] + rng.randbytes(n // 100) + v1[mid:])
PY

# The CARs, made with a cache of their own, with Kubo's default profile (256 KiB chunks), the
# 2025 one (1 MiB chunks), and both cut by buzhash.
profiles="unixfs-v0-2015 unixfs-v1-2025 unixfs-v0-2015-buzhash unixfs-v1-2025-buzhash"
variants="v2-inplace v2-scattered v2-insert"
export TROVE_CACHE_DIR=$work/maker
declare -A cid
cars=()
for p in $profiles; do
  for v in v1 $variants; do
    "$trove" car export "$work/$v.bin" -o "$work/$v.$p.car" --profile "$p" >/dev/null 2>&1
    cid[$v.$p]=$("$trove" add -Q -n --profile "$p" "$work/$v.bin")
    cars+=(--car "$work/$v.$p.car")
  done
done

python3 "$root/scripts/peers/trustless_gateway.py" --port 0 --port-file "$work/port" \
  "${cars[@]}" >/dev/null 2>"$work/gateway.err" &
gateway_pid=$!
for _ in $(seq 600); do [ -s "$work/port" ] && break; sleep 0.1; done
[ -s "$work/port" ] || { echo "the gateway did not start:" >&2; cat "$work/gateway.err" >&2; exit 1; }
url=http://127.0.0.1:$(cat "$work/port")
served() { python3 -c 'import json, sys, urllib.request; print(json.load(urllib.request.urlopen(sys.argv[1] + "/_stats"))["bytes"])' "$url"; }

# Each v2 against a cache holding v1: bytes served for v1, then for v2.
total=$((size_mib << 20))
printf '%-23s %-13s %12s %12s %9s\n' "profile" "update" "v1 bytes" "v2 bytes" "v2/size"
for p in $profiles; do
  for v in $variants; do
    export TROVE_CACHE_DIR=$work/cache
    before=$(served)
    "$trove" get "${cid[v1.$p]}" --source gateway --gateway "$url" -q -o "$work/out-v1" >/dev/null
    mid=$(served)
    start=$(date +%s.%N)
    "$trove" get "${cid[$v.$p]}" --source gateway --gateway "$url" -q -o "$work/out-v2" >/dev/null
    end=$(date +%s.%N)
    after=$(served)
    cmp -s "$work/out-v2" "$work/$v.bin" || { echo "$v ($p): wrong bytes" >&2; exit 1; }
    printf '%-23s %-13s %12d %12d %8.2f%%   (%.2f s)\n' "$p" "$v" $((mid - before)) \
      $((after - mid)) "$(echo "100 * ($after - $mid) / $total" | bc -l)" "$(echo "$end - $start" | bc -l)"
    chmod -R u+w "$work/out-v1" "$work/out-v2" "$work/cache" 2>/dev/null
    rm -rf "$work/out-v1" "$work/out-v2" "$work/cache"
  done
done
echo "goals: v2-inplace <= 3%; v2-insert <= 5% with a buzhash profile (fixed-size profiles for comparison)"
