#!/usr/bin/env python3
"""Builds the small scientific artifacts that ship in registry/artifacts/, deterministically
(exact rational arithmetic, no randomness, no dependencies beyond the standard library).

Kingman coalescent, block-counting process (the phase-type representation of the site frequency
spectrum used by phasic): for a sample of n lineages, a state is the vector (a_1..a_{n-1}) where
a_i counts lineages ancestral to exactly i sampled leaves. Two lineages merge at rate 1 per pair.
Output for each (n, theta): states.csv, subintensity.csv (exact rationals), sfs.csv (expected
site frequency spectrum, E[xi_i] = theta / i, checked against the phase-type reward computation),
and model.json with the parameters.

    scripts/make-artifacts.py [OUTDIR]        default: registry/artifacts
"""
import csv
import json
import os
import sys
from fractions import Fraction


def states_of(n):
    start = tuple([n] + [0] * (n - 2))
    seen, order, todo = {start}, [start], [start]
    while todo:
        s = todo.pop(0)
        for nxt, _ in transitions(s):
            if sum(nxt) > 1 and nxt not in seen:
                seen.add(nxt)
                order.append(nxt)
                todo.append(nxt)
    return order


def transitions(s):
    out = []
    k = sum(s)
    if k < 2:
        return out
    n = len(s) + 1
    for i in range(len(s)):
        for j in range(i, len(s)):
            pairs = s[i] * (s[i] - 1) // 2 if i == j else s[i] * s[j]
            if pairs == 0:
                continue
            t = list(s) + [0]
            t[i] -= 1
            t[j] -= 1
            t[i + j + 1] += 1
            out.append((tuple(t[: n - 1]) if i + j + 2 < n else tuple([0] * (n - 1)), Fraction(pairs)))
    return out


def expected_sfs(n, theta, states, index):
    # E[time in each state] from the absorbing-chain equations, then rewards a_i per state.
    m = len(states)
    exit_rate = [sum(r for _, r in transitions(s)) for s in states]
    occupancy = [Fraction(0)] * m
    occupancy[0] = Fraction(1)
    for a, s in enumerate(states):  # states are in topological order (lineages only decrease)
        for nxt, r in transitions(s):
            if nxt in index:
                occupancy[index[nxt]] += occupancy[a] * r / exit_rate[a]
    time = [occupancy[a] / exit_rate[a] for a in range(m)]
    return [theta / 2 * sum(time[a] * states[a][i] for a in range(m)) for i in range(n - 1)]


def build(outdir, n, theta):
    states = states_of(n)
    states.sort(key=lambda s: (-sum(s), [-x for x in s]))
    index = {s: i for i, s in enumerate(states)}
    name = f"coalescent_n{n}_theta{theta}"
    d = os.path.join(outdir, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "states.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["state"] + [f"a{i + 1}" for i in range(n - 1)])
        for i, s in enumerate(states):
            w.writerow([i] + list(s))
    with open(os.path.join(d, "subintensity.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["from", "to", "rate"])
        for i, s in enumerate(states):
            total = Fraction(0)
            for nxt, r in transitions(s):
                total += r
                if nxt in index:
                    w.writerow([i, index[nxt], str(r)])
            w.writerow([i, i, str(-total)])
    sfs = expected_sfs(n, Fraction(theta), states, index)
    for i, v in enumerate(sfs):
        assert v == Fraction(theta, i + 1), (i, v)  # the classic result E[xi_i] = theta / i
    with open(os.path.join(d, "sfs.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["i", "expected_xi"])
        for i, v in enumerate(sfs):
            w.writerow([i + 1, str(v)])
    model = {
        "model": "Kingman coalescent, block-counting process",
        "sample_size": n,
        "theta": theta,
        "states": len(states),
        "files": {
            "states.csv": "state vectors (a_i = lineages subtending i leaves)",
            "subintensity.csv": "phase-type sub-intensity matrix, exact rationals",
            "sfs.csv": "expected site frequency spectrum E[xi_i] = theta / i",
        },
        "generator": "scripts/make-artifacts.py",
    }
    with open(os.path.join(d, "model.json"), "w") as f:
        json.dump(model, f, indent=2, sort_keys=True)
        f.write("\n")
    return d


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "registry", "artifacts")
    for n, theta in [(5, 1), (10, 1)]:
        print(build(outdir, n, theta))


if __name__ == "__main__":
    main()
