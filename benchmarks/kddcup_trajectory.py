"""Test F1 of one KDDCUP seed along training: how stable is the paper's recipe?

Trains the preset's model on one seed's split of the paper protocol (train on the
normal rows of a random half, score the other half, flag the top 20 %) and every
``--every`` epochs fits the exact mixture on the training rows and scores the test
half. Besides F1 and AUROC it prints the false negatives and the attack types
among the false positives: the labels are used for reporting only, never for
training or for choosing anything.

It also reports a snapshot average: from epoch ``--average-from`` on, each
evaluation's test energies are standardised by the mean and standard deviation
of that snapshot's energies on the training rows (no labels), and the running
mean of the standardised energies is scored as one detector ("avg F1").

Usage::

    python benchmarks/kddcup_trajectory.py --seed 0 --every 10 --threads 1
    python benchmarks/kddcup_trajectory.py --seed 0 --set latent_dim=2
    python benchmarks/kddcup_trajectory.py --seed 0 --score-reg-covar 1e-4 1e-2
    python benchmarks/kddcup_trajectory.py --seed 0 --log1p --set "scaler='standard'"

``--score-reg-covar`` rescores every snapshot with larger covariance floors in
the fitted mixture (the model and its training are unchanged). ``--log1p`` takes
``log1p`` of the (non-negative, float32) KDDCUP inputs before everything else, as
``DAGMM(log_inputs=True)`` does with ``sign(x) * log1p(|x|)`` in float64 (which
``--set log_inputs=True`` applies here).

Needs KDDCUP (``$DAGMM_DATA`` or the download cache). About 10 minutes per 200
epochs on one core of a 2-core EPYC.
"""

from __future__ import annotations

import argparse
import ast
import time

import numpy as np
import torch
from _common import machine_line

from dagmm import DAGMM, datasets
from dagmm.estimator import _architecture, _network, _training_config
from dagmm.metrics import evaluate
from dagmm.reproduce import PAPER_RHO, _rev_populations, paper_splits
from dagmm.tabular import symlog
from dagmm.training import (
    fit_scaling,
    fitted_mixture,
    score_energy,
    stream_statistics,
    train_members,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dataset", choices=["kddcup", "kddcup_rev"], default="kddcup")
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--average-from", type=int, default=None, help="first epoch of the snapshot average"
    )
    parser.add_argument(
        "--set", action="append", default=[], help="preset override NAME=VALUE (repeatable)"
    )
    parser.add_argument(
        "--score-reg-covar",
        type=float,
        nargs="*",
        default=[],
        help="also score each snapshot with these covariance floors (no retraining)",
    )
    parser.add_argument(
        "--log1p", action="store_true", help="screen: log1p of the (nonnegative) inputs first"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(machine_line())
    overrides = {}
    for item in args.set:
        name, value = item.split("=", 1)
        overrides[name] = ast.literal_eval(value)

    if args.log1p and overrides.get("log_inputs"):
        parser.error("--log1p and --set log_inputs=True are two versions of one transform")
    data = datasets.load_kddcup()
    labels = datasets.kddcup_labels()
    if args.dataset == "kddcup_rev":
        y = (1 - data.y).astype(np.int64)
        split = paper_splits(y, [args.seed], _rev_populations(y, [args.seed]))[0]
    else:
        y = data.y
        split = paper_splits(y, [args.seed])[0]
    ratio = PAPER_RHO[args.dataset]
    est = DAGMM.from_preset(args.dataset, random_state=args.seed, **overrides)
    print(
        f"{args.dataset} seed {args.seed}, preset with {overrides or 'no overrides'}"
        + (", log1p inputs" if args.log1p else "")
    )

    n_features = data.X.shape[1]
    torch.manual_seed(args.seed)
    net = _network(est, n_features, _architecture(est, n_features), [args.seed])
    features = data.X
    if args.log1p:
        features = np.log1p(data.X)  # in float32: how the logs in docs/results were taken
    elif est.log_inputs:
        features = symlog(data.X)  # --set log_inputs=True: what DAGMM.fit does
    x = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
    rows = [torch.as_tensor(split.train)]
    offset, scale = fit_scaling(x, rows, est.scaler)
    net.input_offset.copy_(offset)
    net.input_scale.copy_(scale)
    config = _training_config(est, est.epochs, est.batch_size)
    x_test, y_test, test_labels = x[torch.as_tensor(split.test)], y[split.test], labels[split.test]
    average_from = config.epochs // 2 if args.average_from is None else args.average_from
    x_train = x[rows[0]]
    snapshots: list[np.ndarray] = []
    started = time.perf_counter()

    def report(epoch: int, terms: dict) -> None:
        if epoch % args.every and epoch != config.epochs:
            return
        stats = stream_statistics(net, x, rows)
        mixture = fitted_mixture(stats, config.reg_covar)
        energy = score_energy(net, mixture, x_test)[0].numpy()
        floors = ""
        for reg in args.score_reg_covar:
            floored = score_energy(net, fitted_mixture(stats, reg), x_test)[0].numpy()
            floors += f"  F1@{reg:g} {evaluate(y_test, floored, ratio)['f1']:.4f}"
        averaged = ""
        if epoch >= average_from:
            train_energy = score_energy(net, mixture, x_train)[0].numpy()
            snapshots.append((energy - train_energy.mean()) / train_energy.std())
            avg_f1 = evaluate(y_test, np.mean(snapshots, axis=0), ratio)["f1"]
            averaged = f"  avg F1 {avg_f1:.4f} ({len(snapshots)})"
        net.train()
        metrics = evaluate(y_test, energy, ratio)
        flagged = energy >= np.sort(energy)[::-1][int(ratio * len(energy)) - 1]
        false_negatives = int((~flagged & (y_test == 1)).sum())
        kinds, counts = np.unique(test_labels[flagged & (y_test == 0)], return_counts=True)
        top = ", ".join(
            f"{k} {c}" for c, k in sorted(zip(counts, kinds, strict=True), reverse=True)[:3]
        )
        print(
            f"epoch {epoch:4d}  loss {float(np.mean(terms['loss'])):8.4f}  "
            f"F1 {metrics['f1']:.4f}  AUROC {metrics['auroc']:.4f}  "
            f"FN {false_negatives:6d}{averaged}{floors}  FP: {top}  "
            f"({time.perf_counter() - started:.0f} s)",
            flush=True,
        )

    train_members(net, x, rows, config, progress=report)


if __name__ == "__main__":
    main()
