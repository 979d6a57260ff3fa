"""The paper's evaluation protocol, its controls, and the default-config benchmark.

Pure functions on arrays: splits, training-row selection, scoring of any number
of methods on the same splits, and summaries. The command line (``dagmm
reproduce``, ``dagmm benchmark``) is a thin layer over :func:`run_reproduction`
and :func:`run_benchmark`.

Protocol (Zong et al. 2018, Sec. 4.4), per seed: split the rows 50/50 at random;
train on the normal rows of the training half only; score the whole test half;
flag the top ``rho`` of test scores; precision, recall, F1 with the anomaly as the
positive class; plus AUROC and AUPRC, which need no ``rho``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._docstrings import fill_doc
from .exceptions import InvalidInputError
from .metrics import evaluate

__all__ = [
    "BENCHMARK_DATASETS",
    "COMBINE",
    "CONTROLS",
    "PAPER_F1",
    "PAPER_RHO",
    "Split",
    "check_output_dir",
    "contaminated_splits",
    "dagmm_method",
    "format_markdown",
    "format_summary",
    "isolation_forest_method",
    "oneclass_svm_method",
    "paper_splits",
    "result_paths",
    "run_benchmark",
    "run_contamination_study",
    "run_reproduction",
    "score_methods",
    "strict_json",
    "summarize",
    "unsupervised_splits",
    "unused_stem",
    "write_results",
]

#: The paper's anomaly ratio rho per data set (the share of test rows flagged).
PAPER_RHO = {"kddcup": 0.2, "kddcup_rev": 0.2, "thyroid": 0.025, "arrhythmia": 0.15}
#: The paper's DAGMM F1 (Table 2; KDDCUP-Rev from the camera-ready).
PAPER_F1 = {"kddcup": 0.9369, "kddcup_rev": 0.9380, "thyroid": 0.4782, "arrhythmia": 0.4983}
#: How ``dagmm_method`` combines the restarts of one seed.
COMBINE = ("best", "mean", "median")
#: Control methods scored on the same splits as the DAGMM.
CONTROLS = ("untrained", "iforest", "ocsvm")
#: ODDS sets for the default-configuration benchmark.
BENCHMARK_DATASETS = ("cardio", "ionosphere", "letter", "pima")

Method = Callable[[np.ndarray, Sequence["Split"]], list[np.ndarray]]
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Split:
    """Rows of one run: ``train`` are the rows a model is fitted on, ``test`` the scored rows.

    Attributes
    ----------
    seed : int
        The seed the split was drawn with; the methods also seed their models with it.
    train : ndarray of int
        Sorted row indices (into ``X``/``y``) a model is fitted on.
    test : ndarray of int
        Sorted row indices that are scored and evaluated.
    """

    seed: int
    train: np.ndarray
    test: np.ndarray


def _half_split(population: np.ndarray, rng: np.random.Generator, fraction: float):
    order = rng.permutation(population)
    n_train = math.floor(fraction * len(order))
    return np.sort(order[:n_train]), np.sort(order[n_train:])


def paper_splits(
    y: np.ndarray,
    seeds: Sequence[int],
    populations: Sequence[np.ndarray] | None = None,
    train_fraction: float = 0.5,
) -> list[Split]:
    """The paper's splits: per seed a random ``train_fraction`` of the population for
    training, of which only the normal rows (``y == 0``) are kept; the rest is the test set.

    The anomalies of the training half are neither trained on nor tested.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        1 = anomaly, 0 = normal.
    seeds : sequence of int
        One split per seed, drawn with ``np.random.default_rng(seed)``.
    populations : sequence of ndarray of int, optional
        Optionally restricts each seed to a subset of rows, ``populations[i]`` for
        ``seeds[i]`` (KDDCUP-Rev draws its anomalies anew per run); default all rows.
    train_fraction : float, default=0.5
        Share of the population in the training half (rounded down).

    Returns
    -------
    list of Split
        One per seed, in the order of ``seeds``.
    """
    y = np.asarray(y)
    splits = []
    for i, seed in enumerate(seeds):
        pop = np.arange(len(y)) if populations is None else np.asarray(populations[i])
        train, test = _half_split(pop, np.random.default_rng(seed), train_fraction)
        splits.append(Split(int(seed), train[y[train] == 0], test))
    return splits


def unsupervised_splits(
    n_rows: int, seeds: Sequence[int], train_fraction: float = 0.7
) -> list[Split]:
    """Per seed a random ``train_fraction`` of all rows, anomalies INCLUDED, for training.

    Parameters
    ----------
    n_rows : int
        Number of rows to split.
    seeds : sequence of int
        One split per seed, drawn with ``np.random.default_rng(seed)``.
    train_fraction : float, default=0.7
        Share of the rows for training (rounded down); the other rows are the test set.

    Returns
    -------
    list of Split
        One per seed, in the order of ``seeds``.
    """
    splits = []
    for seed in seeds:
        train, test = _half_split(np.arange(n_rows), np.random.default_rng(seed), train_fraction)
        splits.append(Split(int(seed), train, test))
    return splits


def contaminated_splits(
    y: np.ndarray, seeds: Sequence[int], contamination: float, train_fraction: float = 0.5
) -> list[Split]:
    """The paper's splits with anomalies of the training half mixed into training so that
    they make up ``contamination`` of the training rows (the robustness study, Table 4).

    The halves, and so the test set and the normal training rows, are those of
    :func:`paper_splits` with the same seed (over all rows).

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        1 = anomaly, 0 = normal.
    seeds : sequence of int
        One split per seed; the halves and the anomalies added both follow from it.
    contamination : float in [0, 1)
        Share of anomalies among the training rows: ``round(c / (1 - c) * n_normal)``
        anomalies of the training half are drawn without replacement. 0 gives the
        paper's splits.
    train_fraction : float, default=0.5
        Share of the rows in the training half (rounded down).

    Returns
    -------
    list of Split
        One per seed, in the order of ``seeds``.

    Raises
    ------
    InvalidInputError
        If a seed's training half has fewer anomalies than ``contamination`` needs
        (a ``ValueError``, raised before anything is trained).
    """
    y = np.asarray(y)
    splits = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        train, test = _half_split(np.arange(len(y)), rng, train_fraction)
        normal, anomalous = train[y[train] == 0], train[y[train] == 1]
        n_add = round(contamination / (1.0 - contamination) * len(normal))
        if n_add > len(anomalous):
            # The most a training half can hold: all its anomalies among its normal rows.
            most = len(anomalous) / (len(anomalous) + len(normal))
            raise InvalidInputError(
                f"contamination {contamination} needs {n_add} anomalies in the training half "
                f"of seed {seed}, which has {len(anomalous)} (at most {most:.4f} is possible)"
            )
        added = rng.choice(anomalous, size=n_add, replace=False)
        splits.append(Split(int(seed), np.sort(np.concatenate([normal, added])), test))
    return splits


# ------------------------------------------------------------------- methods
def dagmm_method(
    estimator: Any,
    restarts: int = 1,
    progress: Progress | None = None,
    info: dict | None = None,
    combine: str = "best",
    *,
    resume: bool = False,
    run: dict[str, Any] | None = None,
) -> Method:
    """Score each split's test rows with a DAGMM trained on its training rows.

    All seeds (times ``restarts``) train together with :func:`dagmm.fit_ensemble`.
    With ``restarts > 1`` each seed trains ``restarts`` models on the same rows;
    ``combine="best"`` keeps the one with the lowest final training objective,
    ``combine="mean"`` averages their energies, each standardised by the mean and
    standard deviation of its own training energies, and ``combine="median"``
    takes the median of those standardised energies row by row, so that one
    failed restart among three or more is outvoted rather than averaged in.
    None looks at labels.

    Parameters
    ----------
    estimator : DAGMM
        Unfitted configuration; model ``r`` of a split with seed ``s`` is seeded
        ``s * restarts + r``. With ``n_restarts`` above 1 it brings its own
        ``restarts`` and ``combine`` (its ``restart_combine``).
    restarts : int, default=1
        Models trained per split.
    progress : callable, optional
        Called with a one-line message (str) after each split is scored.
    info : dict, optional
        Receives the chosen restart and final training loss per seed, updated in
        place when the method runs: ``chosen_restart`` (list of int; the
        lowest-loss restart, also reported with ``combine="mean"`` or
        ``"median"``), ``final_loss`` (list of float, that restart's loss) and
        ``epochs`` (int, the resolved ``epochs`` setting, ``epochs_`` of the models).
    combine : {"best", "mean", "median"}, default="best"
        How the restarts of one seed are combined, as above.
    resume : bool, default=False
        Continue the ensemble's training from the estimator's ``checkpoint_path``
        (see :func:`dagmm.fit_ensemble`); the scores are those of an uninterrupted run.
    run : dict, optional
        Description of the run kept in the checkpoints and compared on resume
        (see :func:`dagmm.fit_ensemble`).

    Returns
    -------
    callable
        ``method(X, splits) -> list of ndarray``: ``X`` is an ndarray of shape
        (n_samples, n_features) and each returned array, one per split, holds the
        scores of that split's ``test`` rows, higher = more anomalous (energies for
        ``"best"``, standardised energies otherwise).

    Raises
    ------
    ValueError
        If ``combine`` is not one of :data:`COMBINE`, or restarts are given both as
        ``restarts`` and as the estimator's ``n_restarts`` (raised here, before any
        training).
    """
    from .estimator import combine_restart_energies, fit_ensemble, restart_scales

    if getattr(estimator, "n_restarts", 1) > 1:
        # A DAGMM configured with restarts: its own count and rule, trained as here.
        if restarts != 1:
            raise ValueError(
                f"restarts={restarts} given for an estimator with n_restarts="
                f"{estimator.n_restarts}; give one of them"
            )
        from sklearn.base import clone

        restarts, combine = int(estimator.n_restarts), estimator.restart_combine
        estimator = clone(estimator).set_params(n_restarts=1)
    if combine not in COMBINE:
        raise ValueError(f"combine must be one of {COMBINE}, got {combine!r}")

    def train_and_score(X: np.ndarray, splits: Sequence[Split]) -> list[np.ndarray]:
        seeds = [s.seed * restarts + r for s in splits for r in range(restarts)]
        rows = [s.train for s in splits for _ in range(restarts)]
        models = fit_ensemble(estimator, X, seeds, rows=rows, resume=resume, run=run)
        scores, chosen, losses = [], [], []
        for i, split in enumerate(splits):
            group = models[i * restarts : (i + 1) * restarts]
            final = [m.history_["loss"][-1] if m.history_["loss"] else math.nan for m in group]
            pick = int(np.nanargmin(final)) if np.isfinite(final).any() else 0
            chosen.append(pick)
            losses.append(float(final[pick]))
            if combine == "best":
                scores.append(group[pick].decision_function(X[split.test]))
            else:
                # As DAGMM(n_restarts=..., restart_combine=combine) scores its restarts.
                scores.append(
                    combine_restart_energies(
                        np.stack([m.decision_function(X[split.test]) for m in group]),
                        np.asarray([m.score_stats_["mean"] for m in group]),
                        restart_scales(
                            [m.score_stats_["mean"] for m in group],
                            [m.score_stats_["std"] for m in group],
                        ),
                        combine,
                    )
                )
            if progress is not None:
                progress(f"scored seed {split.seed} ({i + 1}/{len(splits)})")
        if info is not None:
            info.update(chosen_restart=chosen, final_loss=losses, epochs=models[0].epochs_)
        return scores

    return train_and_score


def isolation_forest_method(progress: Progress | None = None, **params: Any) -> Method:
    """scikit-learn IsolationForest fitted per split (seeded by the split's seed).

    Parameters
    ----------
    progress : callable, optional
        Called with a one-line message (str) once all splits are scored.
    **params
        Passed to ``IsolationForest`` (all but ``random_state``, which is the split's seed).

    Returns
    -------
    callable
        ``method(X, splits) -> list of ndarray``: one array per split with the
        negated ``score_samples`` of its ``test`` rows, higher = more anomalous.
    """
    from sklearn.ensemble import IsolationForest

    def run(X: np.ndarray, splits: Sequence[Split]) -> list[np.ndarray]:
        scores = []
        for split in splits:
            model = IsolationForest(random_state=split.seed, **params).fit(X[split.train])
            scores.append(-model.score_samples(X[split.test]))
        if progress is not None:
            progress(f"IsolationForest: {len(splits)} splits done")
        return scores

    return run


def oneclass_svm_method(
    progress: Progress | None = None, max_train_rows: int = 10000, **params: Any
) -> Method:
    """scikit-learn OneClassSVM (RBF, min-max scaled on the training rows) per split.

    Training rows beyond ``max_train_rows`` are subsampled (seeded): the kernel
    method is quadratic in the number of rows.

    Parameters
    ----------
    progress : callable, optional
        Called with a one-line message (str) once all splits are scored.
    max_train_rows : int, default=10000
        Most training rows per split; larger training sets are subsampled without
        replacement, seeded by the split's seed.
    **params
        Passed to ``OneClassSVM``; they override the defaults ``nu=0.1`` and
        ``gamma="scale"``.

    Returns
    -------
    callable
        ``method(X, splits) -> list of ndarray``: one array per split with the
        negated ``decision_function`` of its ``test`` rows (scaled with the training
        rows' scaler), higher = more anomalous.
    """
    from sklearn.preprocessing import MinMaxScaler
    from sklearn.svm import OneClassSVM

    def run(X: np.ndarray, splits: Sequence[Split]) -> list[np.ndarray]:
        scores = []
        for split in splits:
            rows = split.train
            if len(rows) > max_train_rows:
                rng = np.random.default_rng(split.seed)
                rows = np.sort(rng.choice(rows, size=max_train_rows, replace=False))
            scaler = MinMaxScaler().fit(X[rows])
            model = OneClassSVM(**{"nu": 0.1, "gamma": "scale", **params})
            model.fit(scaler.transform(X[rows]))
            scores.append(-model.decision_function(scaler.transform(X[split.test])))
        if progress is not None:
            progress(f"OneClassSVM: {len(splits)} splits done")
        return scores

    return run


# ---------------------------------------------------------------- evaluation
def score_methods(
    X: np.ndarray,
    y: np.ndarray,
    splits: Sequence[Split],
    methods: dict[str, Method],
    ratio: float,
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """Run every method on the same splits; one record per (method, seed).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        All rows; the splits index into it.
    y : array-like of shape (n_samples,)
        1 = anomaly, 0 = normal; used for evaluation and the counts only.
    splits : sequence of Split
        The splits every method is run on.
    methods : dict of str to callable
        Name -> method, as returned by :func:`dagmm_method`,
        :func:`isolation_forest_method` or :func:`oneclass_svm_method`.
    ratio : float
        Share of each test set flagged for precision, recall and F1 (the paper's rho).
    progress : callable, optional
        Called with a one-line message (str) before and after each method.

    Returns
    -------
    list of dict
        Method by method, split by split. Each record holds method, seed,
        precision, recall, f1, auroc, auprc (see :func:`dagmm.metrics.evaluate`),
        n_train, n_train_anomalies, n_test, n_test_anomalies and the method's wall
        time for all seeds (wall_s, in seconds, rounded to 0.01).

    Raises
    ------
    ValueError
        If a method returns a different number of score arrays than there are splits.
    """
    y = np.asarray(y)
    records = []
    for name, method in methods.items():
        if progress is not None:
            progress(f"{name}: training {len(splits)} seed(s)")
        started = time.perf_counter()
        scores = method(X, splits)
        wall = time.perf_counter() - started
        for split, s in zip(splits, scores, strict=True):
            metrics = evaluate(y[split.test], s, ratio)
            records.append(
                {
                    "method": name,
                    "seed": split.seed,
                    **metrics,
                    "n_train": len(split.train),
                    "n_train_anomalies": int(y[split.train].sum()),
                    "n_test": len(split.test),
                    "n_test_anomalies": int(y[split.test].sum()),
                    "wall_s": round(wall, 2),
                }
            )
        if progress is not None:
            progress(f"{name}: done in {wall:.1f} s")
    return records


METRICS = ("precision", "recall", "f1", "auroc", "auprc")


def summarize(records: Sequence[dict[str, Any]], by: Sequence[str] = ("method",)) -> list[dict]:
    """Mean and standard deviation (ddof=0) of each metric per group, in first-seen order.

    Parameters
    ----------
    records : sequence of dict
        Records as :func:`score_methods` makes them: each holds the keys in ``by``
        and precision, recall, f1, auroc and auprc.
    by : sequence of str, default=("method",)
        Record keys whose values define a group.

    Returns
    -------
    list of dict
        One per group: the ``by`` keys, ``n_seeds`` (the group's number of records)
        and ``<metric>_mean`` and ``<metric>_std`` for each metric. A NaN metric in
        any record of a group (e.g. auroc of a one-class test set) makes that
        group's mean and std NaN.
    """
    groups: dict[tuple, list[dict]] = {}
    for rec in records:
        groups.setdefault(tuple(rec[k] for k in by), []).append(rec)
    out = []
    for key, recs in groups.items():
        row: dict[str, Any] = dict(zip(by, key, strict=True))
        row["n_seeds"] = len(recs)
        for metric in METRICS:
            values = np.array([r[metric] for r in recs], dtype=float)
            row[f"{metric}_mean"] = float(np.mean(values))
            row[f"{metric}_std"] = float(np.std(values))
        out.append(row)
    return out


def format_summary(summary: Sequence[dict], by: Sequence[str] = ("method",)) -> str:
    """A plain-text table of mean ± std per group.

    Parameters
    ----------
    summary : sequence of dict
        Rows from :func:`summarize`.
    by : sequence of str, default=("method",)
        The ``by`` that ``summary`` was made with; its values, joined by ``" / "``,
        label the rows.

    Returns
    -------
    str
        A header line, then one line per group with the number of seeds and each
        metric to 4 decimals, as mean ± std; a group of one seed shows its value
        alone (the std of one value says nothing about the spread over seeds), and
        a last line says so. No trailing newline.
    """
    width = max([len(" / ".join(str(r[k]) for k in by)) for r in summary] + [10])
    lines = [f"{'':<{width}}  seeds  " + "  ".join(f"{m:>15}" for m in METRICS)]
    for row in summary:
        label = " / ".join(str(row[k]) for k in by)
        cells = "  ".join(_mean_std(row, m).rjust(15) for m in METRICS)
        lines.append(f"{label:<{width}}  {row['n_seeds']:>5}  {cells}")
    if any(row["n_seeds"] == 1 for row in summary):
        lines.append("(one seed: no ± std; run more seeds to see the spread)")
    return "\n".join(lines)


def _mean_std(row: dict, metric: str) -> str:
    mean = f"{row[f'{metric}_mean']:.4f}"
    return f"{mean}         " if row["n_seeds"] == 1 else f"{mean} ± {row[f'{metric}_std']:.4f}"


def format_markdown(summary: Sequence[dict], by: Sequence[str] = ("method",)) -> str:
    """A Markdown table of mean ± std per group (for the results page).

    Parameters
    ----------
    summary : sequence of dict
        Rows from :func:`summarize`.
    by : sequence of str, default=("method",)
        The ``by`` that ``summary`` was made with; one column each.

    Returns
    -------
    str
        The table: columns ``by``, seeds, then each metric as mean ± std to 4
        decimals (the value alone for a group of one seed); no trailing newline.
    """
    head = [*by, "seeds", *METRICS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in summary:
        cells = [str(row[k]) for k in by] + [str(row["n_seeds"])]
        cells += [_mean_std(row, m).rstrip() for m in METRICS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _machine() -> dict[str, Any]:
    import torch

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def check_output_dir(out_dir: Any) -> Path:
    """Raise what :func:`write_results` would raise for ``out_dir``, before a long run.

    Parameters
    ----------
    out_dir : str or path-like
        The results directory: an existing, writable directory, or a path whose
        nearest existing ancestor is a writable directory (it is created at the end).

    Returns
    -------
    pathlib.Path
        ``out_dir`` as a path; nothing is created.

    Raises
    ------
    NotADirectoryError
        ``out_dir``, or the ancestor it would be created in, is a file.
    PermissionError
        That directory is not writable.
    """
    from ._atomic import check_folder_writable

    return check_folder_writable(out_dir)


def result_paths(out_dir: Any, stem: str) -> tuple[Path, Path]:
    """The files :func:`write_results` writes for ``stem``: ``out_dir/stem.json`` and ``.csv``.

    Parameters
    ----------
    out_dir : str or path-like
        The results directory.
    stem : str
        File name without extension.

    Returns
    -------
    json_path, csv_path : pathlib.Path
        Whether they exist or not.
    """
    out = Path(out_dir)
    return out / f"{stem}.json", out / f"{stem}.csv"


def unused_stem(out_dir: Any, stem: str) -> str:
    """``stem`` if neither of its :func:`result_paths` exists, else the first free
    ``stem.2``, ``stem.3``, ...: where results that must not replace earlier ones go.

    Parameters
    ----------
    out_dir : str or path-like
        The results directory (it may not exist yet).
    stem : str
        File name without extension.

    Returns
    -------
    str
        A stem whose JSON and CSV files both do not exist.
    """
    candidate, number = stem, 1
    while any(path.exists() for path in result_paths(out_dir, candidate)):
        number += 1
        candidate = f"{stem}.{number}"
    return candidate


def strict_json(value: Any) -> Any:
    """``value`` with every non-finite float as None, in nested dicts, lists and tuples.

    An undefined number (the AUROC of a test half without anomalies, the final loss of
    an untrained restart) is then ``null``, which every JSON reader takes, where
    Python's default ``NaN`` is refused by strict ones (JavaScript, jq, Spark).

    Parameters
    ----------
    value : Any
        What ``json.dumps`` is to write.

    Returns
    -------
    Any
        The same structure, dicts and lists rebuilt.
    """
    if isinstance(value, dict):
        return {key: strict_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(item) for item in value]
    if isinstance(value, (float, np.floating)) and not math.isfinite(value):
        return None
    return value


def write_results(out_dir: Any, stem: str, document: dict[str, Any]) -> tuple[Any, Any]:
    """Write ``stem.json`` (everything) and ``stem.csv`` (one row per record), atomically.

    Each file is written to a temporary name and renamed into place, so a crash
    leaves the old file or none, never a partial one. Files of the same names are
    replaced: to keep earlier results, pass :func:`unused_stem` ``(out_dir, stem)``
    (``dagmm reproduce`` and ``benchmark`` refuse such a ``--tag`` before the run,
    unless given ``--overwrite``).

    Parameters
    ----------
    out_dir : str or path-like
        Directory to write to; created (with its parents) if missing.
    stem : str
        File name without extension.
    document : dict
        JSON-serialisable results (a non-finite float is written as ``null``), such
        as :attr:`Reproduction.document` or the dict :func:`run_benchmark` returns;
        ``document["records"]`` (list of dict) becomes the CSV, with the first
        record's keys as columns (empty file when there are no records).

    Returns
    -------
    json_path, csv_path : pathlib.Path
        The paths written.

    Raises
    ------
    NotADirectoryError, PermissionError
        As :func:`check_output_dir` raises for ``out_dir``.
    """
    from ._atomic import atomic_write_bytes

    out = check_output_dir(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, csv_path = result_paths(out, stem)
    text = json.dumps(strict_json(document), indent=1, allow_nan=False)
    atomic_write_bytes(json_path, text.encode() + b"\n")
    records = document["records"]
    buffer = io.StringIO()
    if records:
        writer = csv.DictWriter(buffer, fieldnames=list(records[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
    atomic_write_bytes(csv_path, buffer.getvalue().encode())
    return json_path, csv_path


# ------------------------------------------------------------------ drivers
@dataclass
class Reproduction:
    """What :func:`run_reproduction` returns.

    Attributes
    ----------
    dataset : str
        The data set's name.
    records : list of dict
        One per (method, seed), as :func:`score_methods` makes them, plus
        ``dataset`` (and ``contamination`` when given).
    summary : list of dict
        :func:`summarize` of ``records`` by method.
    document : dict
        Everything above with the configuration, the machine and the wall time, as
        JSON-serialisable data for :func:`write_results`.
    """

    dataset: str
    records: list[dict[str, Any]]
    summary: list[dict[str, Any]]
    document: dict[str, Any] = field(default_factory=dict)


def _load(dataset: str, data_dir: Any) -> tuple[np.ndarray, np.ndarray, list | None]:
    """X, y (paper semantics) and per-seed populations (KDDCUP-Rev) as a function."""
    from . import datasets

    if dataset == "kddcup_rev":
        full = datasets.load_kddcup(data_dir)
        # On the whole file, the attacks (y == 0 in KDDCUP's labels) are Rev's anomalies.
        return full.X, (1 - full.y).astype(np.int64), None
    data = datasets.load_dataset(dataset, data_dir=data_dir)
    return data.X, data.y, None


def _rev_populations(y_rev: np.ndarray, seeds: Sequence[int]) -> list[np.ndarray]:
    from .datasets import KDDCUP_REV_ANOMALIES

    normal, attack = np.flatnonzero(y_rev == 0), np.flatnonzero(y_rev == 1)
    pops = []
    for seed in seeds:
        # A stream separate from the split's so the draw and the split are independent.
        rng = np.random.default_rng([int(seed), 1])
        drawn = rng.choice(attack, size=min(KDDCUP_REV_ANOMALIES, len(attack)), replace=False)
        pops.append(np.sort(np.concatenate([normal, drawn])))
    return pops


@fill_doc
def run_reproduction(
    dataset: str,
    estimator: Any,
    seeds: Sequence[int],
    *,
    X: np.ndarray | None = None,
    y: np.ndarray | None = None,
    ratio: float | None = None,
    data_dir: Any = None,
    controls: Sequence[str] = ("untrained", "iforest"),
    restarts: int = 1,
    combine: str = "best",
    contamination: float | None = None,
    progress: Progress | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
) -> Reproduction:
    """The paper's protocol for ``dataset`` with ``estimator`` and the controls, same splits.

    Parameters
    ----------
    dataset : str
        ``kddcup``, ``kddcup_rev``, ``thyroid``, ``arrhythmia`` (or any loader name
        with ``ratio`` given). For ``kddcup_rev`` each seed draws its own 24,319
        attacks as anomalies. Also labels the records.
    estimator : DAGMM
        Unfitted configuration; the untrained control is the same with ``epochs=0``.
    seeds : sequence of int
        One run per seed (split, initialisation, shuffling all follow from it).
    X : ndarray of shape (n_samples, n_features), optional
        Data to use instead of loading ``dataset`` (tests, custom data); needs ``y``.
    y : ndarray of shape (n_samples,), optional
        Labels of ``X``, 1 = anomaly, 0 = normal; both ``X`` and ``y`` bypass loading.
    ratio : float, optional
        Share of each test set flagged (rho); default :data:`PAPER_RHO` of ``dataset``.
    data_dir : str or path-like, optional
        Data directory for the loader (default ``$DAGMM_DATA``, else the user cache).
    controls : sequence of {"untrained", "iforest", "ocsvm"}, default=("untrained", "iforest")
        Methods scored on the same splits: the untrained DAGMM (one restart),
        scikit-learn's IsolationForest and OneClassSVM (see
        :func:`isolation_forest_method`, :func:`oneclass_svm_method`).
    restarts : int, default=1
        Models per seed, combined as ``combine`` says (see :func:`dagmm_method`).
    combine : {"best", "mean", "median"}, default="best"
        How the trained DAGMM's restarts are combined (see :func:`dagmm_method`).
    contamination : float, optional
        Mix this share of training-half anomalies into training (robustness study,
        :func:`contaminated_splits`); the splits are then drawn over all rows, also
        for ``kddcup_rev``. None or 0: the paper's splits.
    progress : callable, optional
        Called with one-line status messages (str).
    {ensemble_checkpoint}
    resume : bool, default=False
        Continue from ``checkpoint``: the records equal an uninterrupted run's, bit
        for bit (all but ``wall_s``). A missing checkpoint warns and starts from
        epoch 1, as :meth:`DAGMM.fit` does; one written by another run (another
        data set, other seeds, restarts, contamination or estimator parameters,
        epochs included) or damaged raises :class:`~dagmm.exceptions.CheckpointError`
        naming what differs or what is wrong, before the first epoch.

    Returns
    -------
    Reproduction
        The records (one per method and seed), their summary by method, and the JSON
        document for :func:`write_results`.

    Raises
    ------
    InvalidInputError
        For an unknown control, a negative seed, or ``resume`` or ``checkpoint_every``
        without a checkpoint (before the data is loaded), or a ``contamination`` the
        training halves lack the anomalies for (before any training); all are
        ``ValueError``.
    CheckpointError
        With ``resume``: the checkpoint belongs to another run or is damaged.
    ValueError
        For an unknown ``combine``.
    KeyError
        If ``ratio`` is None and ``dataset`` is not in :data:`PAPER_RHO`.
    """
    started = time.perf_counter()
    # Every mistake in the arguments is reported before the data is loaded (KDDCUP: seconds).
    _check_seeds(seeds)
    if ratio is None:
        ratio = PAPER_RHO[dataset]
    info: dict[str, Any] = {}
    trained = _checkpointed(estimator, checkpoint, checkpoint_every, resume)
    # What identifies the run, kept in its checkpoints: a resume of another is refused
    # naming these (the restarts as trained, whichever way they were given).
    run = {
        "dataset": dataset,
        "seeds": [int(s) for s in seeds],
        "restarts": restarts if restarts != 1 else int(getattr(estimator, "n_restarts", 1)),
        "contamination": contamination or None,
    }
    methods: dict[str, Method] = {
        "dagmm": dagmm_method(trained, restarts, progress, info, combine, resume=resume, run=run),
        **_control_methods(estimator, controls, progress),
    }
    if X is None or y is None:
        X, y, _ = _load(dataset, data_dir)
    if contamination:
        splits = contaminated_splits(y, seeds, contamination)
    else:
        pops = _rev_populations(y, seeds) if dataset == "kddcup_rev" else None
        splits = paper_splits(y, seeds, pops)
    records = score_methods(X, y, splits, methods, ratio, progress)
    for rec in records:
        rec["dataset"] = dataset
        if contamination:
            rec["contamination"] = contamination
    summary = summarize(records)
    document = {
        "dataset": dataset,
        "protocol": "paper" if not contamination else f"paper, contaminated {contamination}",
        "ratio": ratio,
        "seeds": [int(s) for s in seeds],
        "restarts": restarts,
        "combine": combine,
        "estimator": {k: _jsonable(v) for k, v in estimator.get_params().items()},
        "dagmm_info": info,
        "paper_f1": PAPER_F1.get(dataset),
        "summary": summary,
        "records": records,
        "machine": _machine(),
        "command": " ".join(sys.argv),
        "wall_s": round(time.perf_counter() - started, 1),
    }
    return Reproduction(dataset, records, summary, document)


@fill_doc
def run_contamination_study(
    estimator: Any,
    seeds: Sequence[int],
    levels: Sequence[float] = (0.01, 0.02, 0.03, 0.04, 0.05),
    *,
    dataset: str = "kddcup",
    X: np.ndarray | None = None,
    y: np.ndarray | None = None,
    ratio: float | None = None,
    data_dir: Any = None,
    controls: Sequence[str] = (),
    progress: Progress | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """The paper's robustness study: for each level c, the paper's splits with anomalies
    making up c of the training rows. Every (level, seed) model trains in ONE ensemble
    run; a seed has the same test half at every level.

    Parameters
    ----------
    estimator : DAGMM
        Unfitted configuration; one model per (level, seed).
    seeds : sequence of int
        One split per seed and level (see :func:`contaminated_splits`).
    levels : sequence of float, default=(0.01, 0.02, 0.03, 0.04, 0.05)
        Shares of anomalies among the training rows.
    dataset : str, default="kddcup"
        Name of the data set to load; also labels the records. Splits are drawn over
        all rows (no per-seed KDDCUP-Rev draw).
    X : ndarray of shape (n_samples, n_features), optional
        Data to use instead of loading ``dataset``; needs ``y``.
    y : ndarray of shape (n_samples,), optional
        Labels of ``X``, 1 = anomaly, 0 = normal; both ``X`` and ``y`` bypass loading.
    ratio : float, optional
        Share of each test set flagged (rho); default :data:`PAPER_RHO` of ``dataset``.
    data_dir : str or path-like, optional
        Data directory for the loader (default ``$DAGMM_DATA``, else the user cache).
    controls : sequence of {"untrained", "iforest", "ocsvm"}, default=()
        Methods scored on the same splits besides the DAGMM (see :func:`run_reproduction`).
    progress : callable, optional
        Called with one-line status messages (str).
    {ensemble_checkpoint}
    resume : bool, default=False
        Continue from ``checkpoint``: the records equal an uninterrupted run's, bit
        for bit (all but ``wall_s``). A missing checkpoint warns and starts from
        epoch 1, as :meth:`DAGMM.fit` does; one written by another run (another
        data set, other seeds, levels or estimator parameters, epochs included) or
        damaged raises :class:`~dagmm.exceptions.CheckpointError` naming what
        differs or what is wrong, before the first epoch.

    Returns
    -------
    dict
        JSON-serialisable, for :func:`write_results`: ``dataset``, ``study``,
        ``levels``, ``ratio``, ``seeds``, ``estimator`` (its parameters),
        ``summary`` (:func:`summarize` by contamination and method), ``records``
        (one per method, level and seed, with ``dataset`` and ``contamination``),
        ``machine``, ``command`` and ``wall_s``.

    Raises
    ------
    InvalidInputError
        For an unknown control, a negative seed, or ``resume`` or ``checkpoint_every``
        without a checkpoint (before the data is loaded), or a level the training
        halves lack the anomalies for (before any training); all are ``ValueError``.
    CheckpointError
        With ``resume``: the checkpoint belongs to another run or is damaged.
    KeyError
        If ``ratio`` is None and ``dataset`` is not in :data:`PAPER_RHO`.
    """
    started = time.perf_counter()
    _check_seeds(seeds)
    ratio = PAPER_RHO[dataset] if ratio is None else ratio
    trained = _checkpointed(estimator, checkpoint, checkpoint_every, resume)
    # Every (level, seed) model trains in one ensemble: one checkpoint holds the study.
    run = {
        "study": "contaminated training",
        "dataset": dataset,
        "seeds": [int(s) for s in seeds],
        "levels": [float(v) for v in levels],
    }
    methods: dict[str, Method] = {
        "dagmm": dagmm_method(trained, progress=progress, resume=resume, run=run),
        **_control_methods(estimator, controls, progress),
    }
    if X is None or y is None:
        X, y, _ = _load(dataset, data_dir)
    splits, tags = [], []
    for level in levels:
        try:
            level_splits = contaminated_splits(y, seeds, level)
        except InvalidInputError as exc:
            # the study's levels are not the user's contamination: say what can be done
            shown = ", ".join(f"{float(v):g}" for v in levels)
            raise InvalidInputError(
                f"{dataset}: the contamination study's {exc}; its levels ({shown}) need a "
                "data set with more anomalies (the paper's study is on kddcup), or lower "
                "levels (levels=... in Python); for one run at a lower contamination: "
                f"dagmm reproduce {dataset} --contamination C"
            ) from None
        for split in level_splits:
            splits.append(split)
            tags.append(float(level))
    records = score_methods(X, y, splits, methods, ratio, progress)
    for index, rec in enumerate(records):
        rec["dataset"] = dataset
        rec["contamination"] = tags[index % len(splits)]
    return {
        "dataset": dataset,
        "study": "contaminated training",
        "levels": [float(v) for v in levels],
        "ratio": ratio,
        "seeds": [int(s) for s in seeds],
        "estimator": {k: _jsonable(v) for k, v in estimator.get_params().items()},
        "summary": summarize(records, by=("contamination", "method")),
        "records": records,
        "machine": _machine(),
        "command": " ".join(sys.argv),
        "wall_s": round(time.perf_counter() - started, 1),
    }


def _check_seeds(seeds: Sequence[int]) -> None:
    negative = [int(s) for s in seeds if int(s) < 0]
    if negative:
        # numpy's generators take no negative seed: say so before anything is loaded.
        raise InvalidInputError(f"seeds must be >= 0, got {negative}")


def _control_methods(
    estimator: Any, controls: Sequence[str], progress: Progress | None
) -> dict[str, Method]:
    """The methods of ``controls`` (names in :data:`CONTROLS`), or an InvalidInputError."""
    unknown = [c for c in controls if c not in CONTROLS]
    if unknown:
        raise InvalidInputError(
            f"unknown control(s) {unknown}; choose from {', '.join(CONTROLS)} (or none)"
        )
    makers: dict[str, Callable[[], Method]] = {
        "untrained": lambda: dagmm_method(_untrained(estimator)),
        "iforest": lambda: isolation_forest_method(progress),
        "ocsvm": lambda: oneclass_svm_method(progress),
    }
    return {control: makers[control]() for control in controls}


def _untrained(estimator: Any) -> Any:
    from sklearn.base import clone

    # Nothing to checkpoint, and the trained ensemble's checkpoint must not be replaced.
    return clone(estimator).set_params(epochs=0, checkpoint_path=None)


#: Checkpoints a reproduction writes by default (``checkpoint_every`` not given): one
#: every hundredth of its epochs, so an interruption loses at most 1 % of the training.
CHECKPOINTS_PER_RUN = 100


def _checkpointed(
    estimator: Any,
    checkpoint: str | os.PathLike[str] | None,
    every: int | None,
    resume: bool,
) -> Any:
    """``estimator`` writing its training checkpoints to ``checkpoint`` (a copy; the
    results record the configuration as given), or an InvalidInputError for a
    ``checkpoint_every`` or ``resume`` that would have nothing to act on."""
    if checkpoint is None:
        if every is not None:
            # else no checkpoint at all is written, found only when one is needed
            raise InvalidInputError("checkpoint_every needs checkpoint (where to write them)")
        if resume and getattr(estimator, "checkpoint_path", None) is None:
            raise InvalidInputError(
                "resume=True needs checkpoint (the file an earlier run wrote), or an "
                "estimator with checkpoint_path"
            )
        return estimator
    from sklearn.base import clone

    if every is None and getattr(estimator, "checkpoint_every", 1) != 1:
        every = estimator.checkpoint_every  # the estimator's own choice
    if every is None:
        # A checkpoint per epoch would cost more than the epochs of the short ones
        # (Thyroid's 20,000 epochs of 2 batches: 13.0 s -> 21.7 s for 500 epochs).
        epochs = getattr(estimator, "epochs", None)
        every = max(1, math.ceil(epochs / CHECKPOINTS_PER_RUN)) if epochs else 1
    params = {"checkpoint_path": os.fspath(checkpoint), "checkpoint_every": every}
    return clone(estimator).set_params(**params)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if value is None or isinstance(value, (int, float, str, bool)):
        return value
    return repr(value)


#: What a benchmark checkpoint says it is (its "format").
BENCHMARK_CHECKPOINT = "dagmm benchmark checkpoint"
_BENCHMARK_IGNORED = ("verbose", "checkpoint_path", "checkpoint_every", "device")


def _benchmark_run(
    estimator: Any,
    data_sets: dict[str, tuple[np.ndarray, np.ndarray]],
    protocols: Sequence[str],
    seeds: Sequence[int],
) -> dict[str, Any]:
    """What a benchmark run's records depend on, as JSON: a resume must share it."""
    import hashlib

    digests = {}
    for name, (X, y) in data_sets.items():
        digest = hashlib.sha256()
        for values in (np.asarray(X), np.asarray(y)):
            # the arrays' own bytes, no float64 copy (KDDCUP's would take 460 MB)
            digest.update(f"{values.dtype.str}{values.shape}".encode())
            digest.update(np.ascontiguousarray(values).data)
        digests[name] = digest.hexdigest()
    params = estimator.get_params()
    return {
        "datasets": list(data_sets),
        "data": digests,
        "protocols": list(protocols),
        "seeds": [int(s) for s in seeds],
        "estimator": {
            k: _jsonable(v) for k, v in sorted(params.items()) if k not in _BENCHMARK_IGNORED
        },
    }


def _write_benchmark_checkpoint(
    path: str | os.PathLike[str],
    run: dict[str, Any],
    done: dict[tuple[str, str], list[dict[str, Any]]],
) -> None:
    from ._atomic import atomic_write_bytes

    blocks = [{"dataset": d, "protocol": p, "records": r} for (d, p), r in done.items()]
    document = {"format": BENCHMARK_CHECKPOINT, "version": 1, "run": run, "done": blocks}
    # NaN as JSON's NaN token, which json reads back: the records as they were
    atomic_write_bytes(path, json.dumps(document).encode())


def _benchmark_done(
    path: str | os.PathLike[str] | None, run: dict[str, Any]
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The finished blocks' records of the checkpoint at ``path`` for ``run``."""
    import warnings

    from .exceptions import CheckpointError

    assert path is not None
    if not Path(path).exists():
        warnings.warn(
            f"no checkpoint at {path}; the benchmark starts from the first data set",
            UserWarning,
            stacklevel=3,
        )
        return {}
    try:
        document = json.loads(Path(path).read_bytes())
        if not isinstance(document, dict) or document.get("format") != BENCHMARK_CHECKPOINT:
            raise ValueError("not a dagmm benchmark checkpoint")
        then, blocks = document["run"], document["done"]
        done = {(str(b["dataset"]), str(b["protocol"])): list(b["records"]) for b in blocks}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(
            f"{path}: cannot resume from it ({exc}); delete it, or run without resume, to "
            "start over"
        ) from None
    differs = [
        f"{key} ({_short_json(then.get(key))} then, {_short_json(value)} now)"
        for key, value in run.items()
        if then.get(key) != value and key not in ("estimator", "data")
    ]
    then_data = then.get("data") or {}
    changed = [n for n, digest in run["data"].items() if then_data.get(n, digest) != digest]
    if changed:
        differs.append(f"the data of {', '.join(changed)}")
    then_params = then.get("estimator") or {}
    differs += [
        f"{key} ({_short_json(then_params.get(key))} then, {_short_json(value)} now)"
        for key, value in run["estimator"].items()
        if then_params.get(key) != value
    ]
    if differs:
        raise CheckpointError(
            f"{path}: checkpoint was written by another benchmark: {'; '.join(differs)}; "
            "refusing to resume from it (delete it, or run without resume, to start over)"
        )
    return done


def _short_json(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


def run_benchmark(
    estimator: Any,
    datasets: Sequence[str] = BENCHMARK_DATASETS,
    seeds: Sequence[int] = range(5),
    protocols: Sequence[str] = ("paper", "unsupervised"),
    data_dir: Any = None,
    progress: Progress | None = None,
    loaded: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """``estimator`` (normally the default ``DAGMM()``) and IsolationForest on the same splits.

    Protocols: ``"paper"`` (50/50, train on the normal rows of the training half)
    and ``"unsupervised"`` (train on a random 70 % including its anomalies, test
    on the other 30 %). F1 uses each data set's true anomaly ratio as ``rho``.

    Parameters
    ----------
    estimator : DAGMM
        Unfitted configuration.
    datasets : sequence of str, default=BENCHMARK_DATASETS
        Names for :func:`dagmm.datasets.load_dataset`.
    seeds : sequence of int, default=range(5)
        One split per seed, data set and protocol.
    protocols : sequence of {"paper", "unsupervised"}, default=("paper", "unsupervised")
        Protocols to run on each data set.
    data_dir : str or path-like, optional
        Data directory for the loader (default ``$DAGMM_DATA``, else the user cache).
    progress : callable, optional
        Called with a one-line message (str) before each data set and protocol.
    loaded : dict of str to (ndarray, ndarray), optional
        ``name -> (X, y)`` used instead of loading those data sets.
    checkpoint : str or path-like, optional
        A JSON file rewritten (atomically) as each data set and protocol ends, with
        its records: an interrupted run loses at most the one it was running.
    resume : bool, default=False
        Take the records of the data sets and protocols ``checkpoint`` holds and run
        the others: the records equal an uninterrupted run's (all but ``wall_s``). A
        missing checkpoint warns and starts from the first; one written by another
        run (other data sets, data, protocols, seeds or estimator parameters) or
        damaged raises :class:`~dagmm.exceptions.CheckpointError` naming what differs.

    Returns
    -------
    dict
        JSON-serialisable, for :func:`write_results`: ``benchmark``, ``datasets``,
        ``protocols``, ``seeds``, ``estimator`` (its parameters), ``summary``
        (:func:`summarize` by data set, protocol and method), ``records`` (one per
        data set, protocol, method and seed, with ``dataset`` and ``protocol``),
        ``machine``, ``command`` and ``wall_s``.

    Raises
    ------
    InvalidInputError
        For no data set, an unknown protocol, a negative seed, or ``resume`` without
        ``checkpoint`` (a ``ValueError``).
    DatasetError
        A data set cannot be loaded.
    CheckpointError
        With ``resume``: the checkpoint belongs to another run or is damaged.

    Notes
    -----
    Every data set is loaded before the first model trains, so that a mistyped
    name or a missing file ends the run at once, not after the others have trained.
    """
    from . import datasets as ds

    started = time.perf_counter()
    if not datasets:
        raise InvalidInputError("no data set to benchmark")
    unknown = [p for p in protocols if p not in ("paper", "unsupervised")]
    if unknown:
        raise InvalidInputError(f"unknown protocol(s) {unknown}; use paper or unsupervised")
    _check_seeds(seeds)
    if resume and checkpoint is None:
        raise InvalidInputError("resume=True needs checkpoint (the file an earlier run wrote)")
    data_sets = {}
    for name in datasets:
        if loaded and name in loaded:
            data_sets[name] = loaded[name]
        else:
            data = ds.load_dataset(name, data_dir=data_dir)
            data_sets[name] = (data.X, data.y)
    run = _benchmark_run(estimator, data_sets, protocols, seeds) if checkpoint else {}
    done = _benchmark_done(checkpoint, run) if resume else {}
    records = []
    for name in datasets:
        X, y = data_sets[name]
        ratio = float(np.mean(y))
        for protocol in protocols:
            if (name, protocol) in done:
                if progress is not None:
                    progress(f"{name}, {protocol} protocol: from the checkpoint")
                records.extend(done[name, protocol])
                continue
            if protocol == "paper":
                splits = paper_splits(y, seeds)
            else:
                splits = unsupervised_splits(len(y), seeds)
            if progress is not None:
                progress(f"{name} ({X.shape[0]} x {X.shape[1]}), {protocol} protocol")
            methods = {
                "dagmm": dagmm_method(estimator),
                "iforest": isolation_forest_method(),
            }
            block = [
                {"dataset": name, "protocol": protocol, **rec}
                for rec in score_methods(X, y, splits, methods, ratio)
            ]
            records.extend(block)
            if checkpoint is not None:
                done[name, protocol] = block
                _write_benchmark_checkpoint(checkpoint, run, done)
    summary = summarize(records, by=("dataset", "protocol", "method"))
    return {
        "benchmark": "default configuration on ODDS data",
        "datasets": list(datasets),
        "protocols": list(protocols),
        "seeds": [int(s) for s in seeds],
        "estimator": {k: _jsonable(v) for k, v in estimator.get_params().items()},
        "summary": summary,
        "records": records,
        "machine": _machine(),
        "command": " ".join(sys.argv),
        "wall_s": round(time.perf_counter() - started, 1),
    }
