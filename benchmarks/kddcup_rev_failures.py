"""Why some KDDCUP-Rev seeds fail: which attack types a trained model ranks among the normal rows.

Trains the ``kddcup_rev`` preset (the paper's recipe) on the given seeds' splits of
``dagmm reproduce kddcup_rev`` (the same attack draw and 50/50 split per seed, all
seeds in one :func:`dagmm.fit_ensemble` run), scores each test half and, per
attack type, prints how many rows the protocol flags (energy above the 80th
percentile of the test energies, as :func:`dagmm.metrics.precision_recall_f1_at_ratio`),
the median energy and the median representation ``z = [z_c, relative distance,
cosine]``, then the fitted mixture's weights and means. The labels are used for
this report only.

A seed trained here is not the same model as that seed inside a 20-seed
``reproduce`` run: an ensemble's shuffling stream depends on its members.

Usage::

    python benchmarks/kddcup_rev_failures.py --seeds 7,19,0,8 --threads 1

Needs KDDCUP (``$DAGMM_DATA`` or the download cache). About 6 minutes for four
seeds on one core of a 2-core EPYC.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import machine_line, set_threads

#: Attack types with at least ~25 rows in a KDDCUP-Rev test half, most frequent first.
TYPES = ("smurf.", "neptune.", "back.", "satan.", "ipsweep.", "portsweep.", "warezclient.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="7,19,0,8", help="comma-separated split seeds")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=None, help="default: the preset's 200")
    args = parser.parse_args()
    set_threads(args.threads)
    print(machine_line())

    from dagmm import DAGMM, datasets, fit_ensemble
    from dagmm.metrics import evaluate
    from dagmm.reproduce import PAPER_RHO, _load, _rev_populations, paper_splits

    seeds = [int(s) for s in args.seeds.split(",")]
    X, y, _ = _load("kddcup_rev", None)
    kinds = datasets.kddcup_labels()
    splits = paper_splits(y, seeds, _rev_populations(y, seeds))
    overrides = {} if args.epochs is None else {"epochs": args.epochs}
    estimator = DAGMM.from_preset("kddcup_rev", verbose=0, **overrides)
    started = time.perf_counter()
    models = fit_ensemble(estimator, X, seeds, rows=[s.train for s in splits])
    print(f"trained {len(seeds)} model(s) in {time.perf_counter() - started:.0f} s")
    rho = PAPER_RHO["kddcup_rev"]
    for model, split in zip(models, splits, strict=True):
        energy = model.decision_function(X[split.test])
        z = model.transform(X[split.test])
        truth, kind = y[split.test], kinds[split.test]
        threshold = np.percentile(energy, 100.0 * (1.0 - rho))
        flagged = energy > threshold
        result = evaluate(truth, energy, rho)
        print(
            f"\nseed {split.seed}: F1 {result['f1']:.4f}, AUROC {result['auroc']:.4f}, "
            f"threshold {threshold:.4g}"
        )
        print(f"  {'rows':13s} {'n':>6s} {'flagged':>8s} {'median energy':>14s}  median z")
        for name in ("normal.", *TYPES):
            rows = kind == name
            if not rows.any():
                continue
            print(
                f"  {name:13s} {rows.sum():6d} {flagged[rows].mean():8.3f} "
                f"{np.median(energy[rows]):14.4g}  "
                + np.array2string(np.median(z[rows], axis=0), precision=3)
            )
        others = (truth == 1) & ~np.isin(kind, TYPES)
        print(f"  {'other attacks':13s} {others.sum():6d} {flagged[others].mean():8.3f}")
        print("  mixture weights", np.array2string(model.weights_, precision=4))
        print("  mixture means  ", np.array2string(model.means_, precision=3).replace("\n", ""))


if __name__ == "__main__":
    main()
