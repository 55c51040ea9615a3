#!/usr/bin/env bash
# Benchmark: `trove get --source p2p` of one file over loopback from two real bitswap peers,
# each against that peer's own implementation fetching the same file from it, in the same run:
#   - Kubo v0.22 (scripts/peers/kubo_peer.py serve; Kubo's defaults: CIDv0, 256 KiB chunks)
#     against `kubo_peer.py fetch` (a second Kubo node). Goal: trove >= 4x Kubo->Kubo.
#   - Helia 7 (scripts/peers/helia/helia_peer.mjs serve; @helia/unixfs defaults: CIDv1, 1 MiB
#     raw leaves) against `helia_peer.mjs fetch` (a second Helia node).
# Prints each pair's medians, throughputs and ratio, and trove's peak RSS (goal <= 100 MiB).
#   scripts/bench-p2p.sh [SIZE_MIB] [RUNS]     defaults: 64 5
# TROVE_BENCH_DIR picks the folder the caches and outputs go to (default: $TMPDIR or /tmp).
# Needs the peers scripts/setup-peers installs under .peers/ (TROVE_TEST_KUBO_PYTHON and
# TROVE_TEST_HELIA_DIR override where they are).
# The peers' times are the download alone (their node start excluded, as their fetch commands
# report it); trove's is the whole command: process start, node start, dial, fetch, verify, write.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
size_mib=${1:-64}
runs=${2:-5}
python=${TROVE_TEST_KUBO_PYTHON:-$root/.peers/kubo-venv/bin/python}
helia=${TROVE_TEST_HELIA_DIR:-$root/.peers/helia}
[ -x "$python" ] || { echo "no Kubo venv at $python: run scripts/setup-peers first" >&2; exit 1; }
[ -f "$helia/helia_peer.mjs" ] && [ -d "$helia/node_modules" ] \
  || { echo "no Helia peer in $helia: run scripts/setup-peers first" >&2; exit 1; }
. "$root/scripts/lib/build-trove.sh"
build_trove
work=$(mktemp -d -p "${TROVE_BENCH_DIR:-${TMPDIR:-/tmp}}" bench-p2p.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
export TROVE_P2P_BOOTSTRAP=none TROVE_P2P_ROUTERS=none TROVE_P2P_MDNS=0
head -c "$((size_mib * 1024 * 1024))" /dev/urandom > "$work/data.bin"

# serve NAME COMMAND…: starts a peer that prints a JSON line and READY; sets $cid and $peer.
serve() {
  local name=$1; shift
  "$@" > "$work/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 1200); do grep -q READY "$work/$name.log" 2>/dev/null && break; sleep 0.1; done
  grep -q READY "$work/$name.log" || { cat "$work/$name.log" >&2; exit 1; }
  read -r cid peer < <(grep '^{' "$work/$name.log" | head -1 | python3 -c '
import json, sys
info = json.load(sys.stdin)
print(list(info["added"].values())[0], [a for a in info["multiaddrs"] if "/tcp/" in a][0])')
}

# pair NAME FETCH…: alternates the peer's own fetch (FETCH… OUT, printing a JSON report with
# "seconds") and trove's get of $cid from $peer, $runs times; sets ${NAME}_ref and ${NAME}_trove
# to the medians and ${NAME}_refs/${NAME}_troves to every run.
pair() {
  local name=$1; shift
  local refs=() troves=() i s e r
  for i in $(seq 1 "$runs"); do
    rm -rf "$work/ref$i" "$work/refout$i"
    r=$("$@" "$work/refout$i" "$work/ref$i" 2>/dev/null | python3 -c '
import json, sys
report = [json.loads(l) for l in sys.stdin if l.startswith("{")][-1]
assert report["ok"], report
print(report["seconds"])')
    cmp "$work/refout$i" "$work/data.bin"
    refs+=("$r")
    rm -rf "$work/c$i" "$work/out$i"
    s=$(now)
    TROVE_CACHE_DIR="$work/c$i" "$trove" get "$cid" --source p2p --peer "$peer" -o "$work/out$i" -q
    e=$(now)
    cmp "$work/out$i" "$work/data.bin"
    troves+=("$(echo "$e - $s" | bc -l)")
    rm -rf "$work/ref$i" "$work/refout$i" "$work/c$i" "$work/out$i"
  done
  printf -v "${name}_ref" '%s' "$(printf '%s\n' "${refs[@]}" | median)"
  printf -v "${name}_trove" '%s' "$(printf '%s\n' "${troves[@]}" | median)"
  printf -v "${name}_refs" '%s' "${refs[*]}"
  printf -v "${name}_troves" '%s' "$(printf '%.3f ' "${troves[@]}")"
  rm -rf "$work/c9" "$work/out9"
  printf -v "${name}_rss" '%s' "$( { TROVE_CACHE_DIR="$work/c9" /usr/bin/time -f '%M' "$trove" get "$cid" \
    --source p2p --peer "$peer" -o "$work/out9" -q; } 2>&1 | tail -1)"
}

kubo_fetch() { # OUT REPO_DIR
  "$python" "$root/scripts/peers/kubo_peer.py" fetch --repo "$2/repo" --port "$(free_port)" \
    --connect "$peer" --cid "$cid" --out "$1"
}
helia_fetch() { # OUT _
  node "$helia/helia_peer.mjs" fetch --connect "$peer" --cid "$cid" --out "$1"
}

serve kubo "$python" "$root/scripts/peers/kubo_peer.py" serve --repo "$work/serve/repo" \
  --port "$(free_port)" --add "$work/data.bin"
pair kubo kubo_fetch
serve helia node "$helia/helia_peer.mjs" serve --port 0 --profile v1-raw-1m --add "$work/data.bin"
pair helia helia_fetch

line() { # LABEL SECONDS RUNS
  printf '%-24s median %.3f s (%4.0f MiB/s)  runs: %s\n' "$1" "$2" "$(echo "$size_mib / $2" | bc -l)" "$3"
}
printf 'file: %d MiB, %d runs, %d cores\n' "$size_mib" "$runs" "$(nproc)"
line 'Kubo -> Kubo:' "$kubo_ref" "$kubo_refs"
line 'Kubo -> trove:' "$kubo_trove" "$kubo_troves"
printf 'throughput ratio trove/Kubo: %.2f (goal >= 4); trove peak RSS %.1f MiB (goal <= 100)\n' \
  "$(echo "$kubo_ref / $kubo_trove" | bc -l)" "$(echo "$kubo_rss / 1024" | bc -l)"
line 'Helia -> Helia:' "$helia_ref" "$helia_refs"
line 'Helia -> trove:' "$helia_trove" "$helia_troves"
printf 'throughput ratio trove/Helia: %.2f; trove peak RSS %.1f MiB (goal <= 100)\n' \
  "$(echo "$helia_ref / $helia_trove" | bc -l)" "$(echo "$helia_rss / 1024" | bc -l)"
