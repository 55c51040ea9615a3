#!/usr/bin/env bash
# Benchmark: the warm paths of the library front door, in one run.
#   - `import trove` in Python (the optimized wheel, built with `pip install .` into a venv)
#     against starting the interpreter alone: goal <= 50 ms;
#   - a warm `trove.get(ID)` in a notebook-style loop: goal <= 5 ms per call;
#   - a warm `trove get CID -o FILE` of a SIZE_MIB file against `cp` of the same file, both
#     from the page cache: goal ratio trove/cp <= 1.0. trove syncs the output before renaming
#     it into place (a crash never leaves a short file under the output's name), which `cp`
#     does not: `cp` followed by `sync FILE` is shown too, the like-for-like reference.
#   scripts/bench-client.sh [SIZE_MIB]     default: 100
# TROVE_BENCH_DIR picks the folder the venv, caches and files go to (default: $TMPDIR or /tmp).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
size_mib=${1:-100}
. "$root/scripts/lib/build-trove.sh"
build_trove
work=$(mktemp -d -p "${TROVE_BENCH_DIR:-${TMPDIR:-/tmp}}" bench-client.XXXXXX)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
venv=$work/venv
python3 -m venv "$venv"
echo "building the wheel (pip install .)..." >&2
"$venv/bin/pip" install --quiet --disable-pip-version-check "$root"
export TROVE_CACHE_DIR=$work/cache TROVE_CONFIG=$work/none.toml
: > "$work/none.toml"
now() { date +%s.%N; }
best() { sort -n | head -1; }

# import trove, against the bare interpreter (best of 7 each).
bare=$(for _ in 1 2 3 4 5 6 7; do s=$(now); "$venv/bin/python" -c pass; e=$(now); echo "$e - $s" | bc -l; done | best)
with=$(for _ in 1 2 3 4 5 6 7; do s=$(now); "$venv/bin/python" -c 'import trove'; e=$(now); echo "$e - $s" | bc -l; done | best)

# A warm trove.get(ID) from the repository's registry (the first call fetches from the CAR
# beside it; the next ones find the snapshot).
warm=$("$venv/bin/python" - "$root/registry/registry.json" <<'EOF'
import sys, time, trove
reg = sys.argv[1]
trove.get("coalescent_n5_theta1", registry=reg)
n = 200
start = time.perf_counter()
for _ in range(n):
    trove.get("coalescent_n5_theta1", registry=reg)
print((time.perf_counter() - start) / n)
EOF
)

# A warm get -o of a big file against cp of the same file.
head -c "$((size_mib * 1024 * 1024))" /dev/urandom > "$work/data.bin"
cid=$("$trove" add -Q "$work/data.bin")
"$trove" get "$cid" -o "$work/first.bin" -q
cat "$work/data.bin" > /dev/null
cp_s=$(for i in 1 2 3 4 5; do rm -f "$work/cp$i"; s=$(now); cp "$work/data.bin" "$work/cp$i"; e=$(now); echo "$e - $s" | bc -l; done | best)
cpsync_s=$(for i in 1 2 3 4 5; do rm -f "$work/cs$i"; s=$(now); cp "$work/data.bin" "$work/cs$i"; sync "$work/cs$i"; e=$(now); echo "$e - $s" | bc -l; done | best)
trove_s=$(for i in 1 2 3 4 5; do rm -f "$work/t$i"; s=$(now); "$trove" get "$cid" -o "$work/t$i" -q; e=$(now); echo "$e - $s" | bc -l; done | best)
cmp "$work/t1" "$work/data.bin"

printf 'import trove:            %.1f ms (interpreter alone %.1f ms, with trove %.1f ms; goal <= 50)\n' \
  "$(echo "($with - $bare) * 1000" | bc -l)" "$(echo "$bare * 1000" | bc -l)" "$(echo "$with * 1000" | bc -l)"
printf 'warm trove.get(ID):      %.2f ms per call (goal <= 5)\n' "$(echo "$warm * 1000" | bc -l)"
printf 'warm get -o, %d MiB:    trove %.3f s, cp %.3f s, ratio trove/cp %.2f (goal <= 1.0)\n' \
  "$size_mib" "$trove_s" "$cp_s" "$(echo "$trove_s / $cp_s" | bc -l)"
printf '                         cp + sync FILE %.3f s, ratio trove/(cp + sync) %.2f\n' \
  "$cpsync_s" "$(echo "$trove_s / $cpsync_s" | bc -l)"
