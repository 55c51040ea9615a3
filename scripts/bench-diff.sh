#!/usr/bin/env bash
# Benchmark: `trove diff A.tsv B.tsv --key id --tolerance 1e-9` against a short pandas script
# doing the same comparison (read both, align on the key, compare the 9 value columns with the
# same absolute tolerance, count mismatching keys, missing and new keys), same run. Two
# ROWS-row TSVs with 10 columns (id + 9 floats); in B, 0.1% of the values are changed, a few
# rows are dropped and a few added. Goal: trove >= 5x faster than pandas, trove peak RSS
# <= 200 MiB. Best of 3 each. pandas is installed into a venv under .peers/ on first use.
#   scripts/bench-diff.sh [ROWS]     default: 1000000
# TROVE_BENCH_DIR picks the folder the files go to (default: $TMPDIR or /tmp).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rows=${1:-1000000}
. "$root/scripts/lib/build-trove.sh"
build_trove
venv=$root/.peers/bench-venv
if ! "$venv/bin/python" -c 'import pandas, numpy' >/dev/null 2>&1; then
  echo "bench-diff: installing pandas into $venv" >&2
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'pandas==2.*' >&2 \
    || { echo "bench-diff: pip could not install pandas" >&2; exit 1; }
fi
work=$(mktemp -d -p "${TROVE_BENCH_DIR:-${TMPDIR:-/tmp}}" bench-diff.XXXXXX)
trap 'rm -rf "$work"' EXIT
export TROVE_CONFIG=$work/none.toml
: > "$work/none.toml"
"$venv/bin/python" - "$rows" "$work/a.tsv" "$work/b.tsv" <<'PY'
import sys, numpy as np
rows, a_path, b_path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
rng = np.random.default_rng(16)
values = rng.random((rows, 9)) * 1000
ids = np.array([f"ENSG{i:011d}" for i in range(rows)])
changed = values.copy()
mask = rng.random(changed.shape) < 0.001
changed[mask] += 1.0
keep = np.ones(rows, dtype=bool)
keep[rng.choice(rows, size=max(1, rows // 10000), replace=False)] = False
def write(path, ids, vals):
    with open(path, "w") as f:
        f.write("id\t" + "\t".join(f"v{j}" for j in range(9)) + "\n")
        for i in range(len(ids)):
            f.write(ids[i] + "\t" + "\t".join("%.6f" % x for x in vals[i]) + "\n")
write(a_path, ids, values)
extra = np.array([f"NEW{i:011d}" for i in range(max(1, rows // 10000))])
write(b_path, np.concatenate([ids[keep], extra]),
      np.concatenate([changed[keep], rng.random((len(extra), 9))]))
PY
cat > "$work/compare.py" <<'PY'
import sys, numpy as np, pandas as pd
a = pd.read_csv(sys.argv[1], sep="\t", index_col="id")
b = pd.read_csv(sys.argv[2], sep="\t", index_col="id")
common = a.index.intersection(b.index)
x, y = a.loc[common], b.loc[common, a.columns]
close = np.isclose(x.to_numpy(), y.to_numpy(), rtol=0.0, atol=1e-9)
bad = ~close.all(axis=1)
print(f"{int(bad.sum())} differ, {len(a.index.difference(b.index))} missing, {len(b.index.difference(a.index))} new")
PY
now() { date +%s.%N; }
best() { sort -n | head -1; }
cat "$work/a.tsv" "$work/b.tsv" > /dev/null
pandas_s=$(for i in 1 2 3; do s=$(now); "$venv/bin/python" "$work/compare.py" "$work/a.tsv" "$work/b.tsv" > "$work/pandas.out" || exit 1; e=$(now); echo "$e - $s" | bc -l; done | best)
[ -s "$work/pandas.out" ] || { echo "bench-diff: the pandas script failed" >&2; exit 1; }
trove_s=$(for i in 1 2 3; do
  rm -rf "$work/cache"
  s=$(now)
  /usr/bin/time -f '%M' -o "$work/rss" env TROVE_CACHE_DIR="$work/cache" "$trove" diff "$work/a.tsv" "$work/b.tsv" --key id --tolerance 1e-9 --json > "$work/trove.out" \
    && { echo "bench-diff: trove found no difference" >&2; exit 1; }
  e=$(now)
  echo "$e - $s" | bc -l
done | best)
summary=$(tail -1 "$work/trove.out")
[ -n "$trove_s" ] && [ -n "$summary" ] || { echo "bench-diff: trove diff failed" >&2; exit 1; }
counts=$(printf '%s' "$summary" | python3 -c '
import json, sys
t = json.load(sys.stdin)["tables"][0]["summary"]
print("%d differ, %d missing, %d new" % (t["mismatched"], t["missing_in_b"], t["new_in_b"]))')
[ "$counts" = "$(cat "$work/pandas.out")" ] || { echo "bench-diff: trove ($counts) and pandas ($(cat "$work/pandas.out")) disagree" >&2; exit 1; }
rss=$(tail -1 "$work/rss")
printf 'diff of two %d-row TSVs (%s): trove %.2f s, pandas %.2f s, speed-up %.1fx (goal >= 5); trove peak RSS %d MiB (goal <= 200)\n' \
  "$rows" "$counts" "$trove_s" "$pandas_s" "$(echo "$pandas_s / $trove_s" | bc -l)" "$((rss / 1024))"
