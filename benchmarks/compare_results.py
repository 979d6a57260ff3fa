"""Paired comparison of DAGMM's per-seed records in two result files.

``dagmm reproduce`` and ``dagmm benchmark`` write one record per data set,
protocol, method and seed. This pairs the DAGMM records of two such files on
the same (data set, protocol, seed) and prints, per data set and protocol, the
mean AUROC and F1 of each, their mean paired difference and how many seeds went
up, then the same over all pairs.

Usage::

    python benchmarks/compare_results.py docs/results/benchmark-r1.json \\
        docs/results/benchmark-r5mean.json
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict

import numpy as np


def _records(path: str) -> dict[tuple, dict]:
    with open(path, encoding="utf-8") as handle:
        document = json.load(handle)
    # an undefined metric is null in the file (NaN in files of before 2026-12-05)
    return {
        (r.get("dataset", ""), r.get("protocol", ""), r["seed"]): {
            k: float("nan") if v is None else v for k, v in r.items()
        }
        for r in document["records"]
        if r["method"] == "dagmm"
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", help="result JSON (the baseline)")
    parser.add_argument("after", help="result JSON compared with it")
    args = parser.parse_args()
    before, after = _records(args.before), _records(args.after)
    shared = sorted(set(before) & set(after))
    if not shared:
        raise SystemExit("no (data set, protocol, seed) in common")
    cells: dict[tuple, list[tuple]] = defaultdict(list)
    for key in shared:
        cells[key[:2]].append(key)
    print(f"{'data set':12s} {'protocol':13s} {'AUROC before':>12s} {'after':>7s} "
          f"{'paired diff':>11s} {'up':>6s} {'F1 diff':>8s}")  # fmt: skip
    for cell, keys in sorted(cells.items()):
        auroc = np.array([after[k]["auroc"] - before[k]["auroc"] for k in keys])
        f1 = np.array([after[k]["f1"] - before[k]["f1"] for k in keys])
        print(
            f"{cell[0]:12s} {cell[1]:13s} {np.mean([before[k]['auroc'] for k in keys]):12.4f} "
            f"{np.mean([after[k]['auroc'] for k in keys]):7.4f} {auroc.mean():+11.4f} "
            f"{int((auroc > 0).sum()):>3d}/{len(keys):<2d} {f1.mean():+8.4f}"
        )
    auroc = np.array([after[k]["auroc"] - before[k]["auroc"] for k in shared])
    print(
        f"all {len(shared)} pairs: mean AUROC {np.mean([before[k]['auroc'] for k in shared]):.4f}"
        f" -> {np.mean([after[k]['auroc'] for k in shared]):.4f}, paired {auroc.mean():+.4f}, "
        f"{int((auroc > 0).sum())} up"
    )


if __name__ == "__main__":
    main()
