#!/usr/bin/env bash
# Benchmark: `trove get --source p2p` of a file held by a real Kubo v0.22 peer
# (../shared/peers/kubo_peer.py serve) over loopback, against `kubo_peer.py fetch` (a second
# Kubo node) from the same peer, in the same run. Prints both throughputs, the ratio
# trove/Kubo (goal >= 4) and trove's peak RSS (goal <= 100 MiB).
#   scripts/bench-p2p.sh [SIZE_MIB] [RUNS]     defaults: 64 5
# TROVE_BENCH_DIR picks the folder the caches and outputs go to (default: target/).
# Needs the Kubo venv (scripts/setup-peers installs it; TROVE_TEST_KUBO_PYTHON overrides).
# Kubo's time is the download alone (its node start excluded, as kubo_peer.py reports it);
# trove's is the whole command: process start, node start, dial, fetch, verify, write the file.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
size_mib=${1:-64}
runs=${2:-5}
python=${TROVE_TEST_KUBO_PYTHON:-$root/.peers/kubo-venv/bin/python}
[ -x "$python" ] || { echo "no Kubo venv at $python: run scripts/setup-peers first" >&2; exit 1; }
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
trove="$root/target/release/trove"
mkdir -p "$root/target"
work=$(mktemp -d -p "${TROVE_BENCH_DIR:-$root/target}" bench-p2p.XXXXXX)
kubo_pid=
cleanup() { [ -n "$kubo_pid" ] && kill "$kubo_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
head -c "$((size_mib * 1024 * 1024))" /dev/urandom > "$work/data.bin"
"$python" "$root/../shared/peers/kubo_peer.py" serve --repo "$work/serve/repo" --port "$(free_port)" \
  --add "$work/data.bin" --info "$work/info.json" > "$work/serve.log" 2>&1 &
kubo_pid=$!
for _ in $(seq 1 1200); do grep -q READY "$work/serve.log" 2>/dev/null && break; sleep 0.1; done
grep -q READY "$work/serve.log" || { cat "$work/serve.log" >&2; exit 1; }
read -r cid peer < <(python3 -c '
import json,sys; i=json.load(open(sys.argv[1]))
print(list(i["added"].values())[0], [a for a in i["multiaddrs"] if "/tcp/" in a][0])' "$work/info.json")

export TROVE_P2P_BOOTSTRAP=none TROVE_P2P_ROUTERS=none TROVE_P2P_MDNS=0
now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
kubo_times=()
trove_times=()
for i in $(seq 1 "$runs"); do
  # Alternate the contenders so that neither always runs on a warmer machine.
  rm -rf "$work/k$i" "$work/kout$i"
  k=$("$python" "$root/../shared/peers/kubo_peer.py" fetch --repo "$work/k$i/repo" --port "$(free_port)" \
      --connect "$peer" --cid "$cid" --out "$work/kout$i" 2>/dev/null | python3 -c '
import json,sys
r=[json.loads(l) for l in sys.stdin if l.startswith("{")][-1]
assert r["ok"], r
print(r["seconds"])')
  cmp "$work/kout$i" "$work/data.bin"
  kubo_times+=("$k")
  rm -rf "$work/c$i" "$work/out$i"
  s=$(now)
  TROVE_CACHE_DIR="$work/c$i" "$trove" get "$cid" --source p2p --peer "$peer" -o "$work/out$i" -q
  e=$(now)
  cmp "$work/out$i" "$work/data.bin"
  trove_times+=("$(echo "$e - $s" | bc -l)")
  rm -rf "$work/k$i" "$work/kout$i" "$work/c$i" "$work/out$i"
done
kubo_s=$(printf '%s\n' "${kubo_times[@]}" | median)
trove_s=$(printf '%s\n' "${trove_times[@]}" | median)
rm -rf "$work/c9"
rss_kib=$( { TROVE_CACHE_DIR="$work/c9" /usr/bin/time -f '%M' "$trove" get "$cid" --source p2p --peer "$peer" -o "$work/out9" -q; } 2>&1 | tail -1)

printf 'file: %d MiB (Kubo defaults: CIDv0, 256 KiB chunks), %d runs, %d cores\n' "$size_mib" "$runs" "$(nproc)"
printf 'kubo fetch:       median %.3f s (%.0f MiB/s)  runs: %s\n' "$kubo_s" "$(echo "$size_mib / $kubo_s" | bc -l)" "${kubo_times[*]}"
printf 'trove get (p2p):  median %.3f s (%.0f MiB/s)  runs: %s\n' "$trove_s" "$(echo "$size_mib / $trove_s" | bc -l)" \
  "$(printf '%.3f ' "${trove_times[@]}")"
printf 'throughput ratio trove/kubo: %.2f (goal >= 4)\n' "$(echo "$kubo_s / $trove_s" | bc -l)"
printf 'trove peak RSS: %.1f MiB (goal <= 100)\n' "$(echo "$rss_kib / 1024" | bc -l)"
