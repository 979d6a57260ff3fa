"""A self-contained HTML report (or a folder of PNG figures) for a fitted model and a table.

The report shows the energy distribution with the threshold (training vs scored
rows), the ``z`` space as in the paper's Figure 3, the training curves, the
mixture (with a warning on collapsed components), with labels the ROC and
precision-recall curves and the metrics at the threshold, and the most anomalous
rows with their explanations (:mod:`dagmm.explain`).

Plots use matplotlib's object API (``matplotlib.figure.Figure`` with the Agg
canvas), never ``pyplot``, so no global state or display is touched. Every user
string (column names, categories, ids) is HTML-escaped.
"""

from __future__ import annotations

import base64
import contextlib
import html
import io
import math
import os
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from . import __version__
from ._atomic import (
    atomic_write_bytes,
    atomic_write_files,
    check_folder_writable,
    check_writable,
)
from ._numbers import to_numeric, value_text
from .estimator import describe_epochs, epochs_summary
from .exceptions import DAGMMError, InvalidInputError, NumericalError
from .explain import explain_encoded
from .tableio import (
    CsvFormat,
    DataFileError,
    MissingColumnsError,
    columns_wanted_by,
    iter_table_copies,
    text_columns,
)
from .tabular import summed_unseen_categories

__all__ = [
    "FIGURES",
    "EncodedChunk",
    "MissingDependencyError",
    "ReportData",
    "TopRows",
    "check_report_target",
    "collapsed_components",
    "collect",
    "collect_file",
    "encoded_chunks",
    "render_figures",
    "report_html",
    "require_matplotlib",
    "write_report",
    "write_report_file",
]

#: Figure names, in report order (also the PNG file stems in ``--format png``).
FIGURES = ("energy", "z_space", "training", "mixture", "roc_pr")

#: A component is reported as collapsed below this weight ...
COLLAPSED_WEIGHT = 1e-3
#: ... or when a variance is within this factor of ``reg_covar`` (nothing left but the floor).
COLLAPSED_VARIANCE_FACTOR = 10.0

_MAX_SCATTER_POINTS = 4000


class MissingDependencyError(DAGMMError, ImportError):
    """An optional dependency (matplotlib for reports) is not installed."""


def require_matplotlib() -> tuple[Any, Any, Any]:
    """matplotlib, its Figure class and the Agg canvas; a clear error when not installed.

    Returns
    -------
    matplotlib : module
        The ``matplotlib`` package.
    Figure : type
        :class:`matplotlib.figure.Figure`.
    FigureCanvasAgg : type
        :class:`matplotlib.backends.backend_agg.FigureCanvasAgg`, to render PNGs
        without ``pyplot``.

    Raises
    ------
    MissingDependencyError
        matplotlib is not installed (``pip install 'dagmm[plots]'``).
    """
    try:
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise MissingDependencyError(
            f"reports need matplotlib, which is not installed: pip install 'dagmm[plots]' ({exc})"
        ) from None
    return matplotlib, Figure, FigureCanvasAgg


@dataclass
class ReportData:
    """Everything the report shows, computed once.

    Built by :func:`collect`; ``n_rows`` is the number of rows reported on.

    Attributes
    ----------
    energy : ndarray of shape (n_rows,), float64
        Energy of each row (higher is more anomalous).
    predicted : ndarray of shape (n_rows,), int
        1 where ``energy > threshold`` (flagged), else 0.
    z : ndarray of shape (n_rows, latent_dim + 2), float32
        Each row's representation ``[z_c, relative distance, cosine similarity]``.
    threshold : float
        The model's energy threshold ``threshold_``.
    train_energy : ndarray of shape (n_train,), float64, or None
        The training energies ``decision_scores_``; None when the model has none
        (saved with ``include_training_scores=False``).
    labels : ndarray of shape (n_rows,), int, or None
        Ground truth, 1 = anomaly; None when no labels were given.
    ids : ndarray of shape (n_rows,)
        Row identifiers shown in the top-rows table (row positions by default).
    explanations : DataFrame
        :func:`~dagmm.explain.explain` output for the rows of ``top_rows``, whose
        ``row`` column holds positions in the reported rows.
    top_rows : ndarray of shape (n_top,), int
        Positions of the most anomalous rows, highest energy first (ties by position).
    metrics : dict of str to dict of str to float, default {}
        With labels: per way of flagging (``"at the model threshold"``, ``"top
        x% of these rows"`` with x the model's contamination), ``precision``,
        ``recall``, ``f1``, ``auroc`` and ``auprc``. Empty without labels.
    source : str, default ""
        Where the rows came from (e.g. a file name), shown in the report's header.
    """

    energy: np.ndarray
    predicted: np.ndarray
    z: np.ndarray
    threshold: float
    train_energy: np.ndarray | None
    labels: np.ndarray | None
    ids: np.ndarray
    explanations: pd.DataFrame
    top_rows: np.ndarray
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    source: str = ""


def _check_labels(
    labels: Any,
    n_rows: int,
    name: str,
    start: int = 0,
    anomaly_values: Collection[str] | None = None,
    hint: str = "",
) -> np.ndarray:
    """``labels`` as 0/1 ints; ``start``: the first row's position, for error messages.

    With ``anomaly_values`` a row is an anomaly (1) where its label, as text, is one of
    them (a number also where it equals one: ``2`` is ``2.0``), else normal (0). Without,
    the labels must be 0/1 or booleans; ``hint`` ends the message saying they are not.
    """
    values = pd.Series(np.asarray(labels).ravel())
    if len(values) != n_rows:
        raise InvalidInputError(f"labels {name!r} have {len(values)} values for {n_rows} rows")
    if values.isna().any():
        row = int(np.flatnonzero(values.isna().to_numpy())[0])
        raise InvalidInputError(f"labels {name!r} have a missing value at row {row + start}")
    if anomaly_values is not None:
        return _is_anomaly_value(values, anomaly_values).astype(int)
    if pd.api.types.is_bool_dtype(values):
        return values.astype(int).to_numpy()
    numeric = to_numeric(values)
    bad = numeric.isna() | ~numeric.isin([0, 1])
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        held = values.iloc[row]
        held = held.item() if isinstance(held, np.generic) else held  # 2, not np.int64(2)
        raise InvalidInputError(
            f"labels {name!r} must be 0 (normal) or 1 (anomaly); row {row + start} holds "
            f"{held!r}{hint}"
        )
    return numeric.astype(int).to_numpy()


def _is_anomaly_value(values: pd.Series, anomaly_values: Collection[str]) -> np.ndarray:
    """Which of ``values`` are one of ``anomaly_values``: as text, or as numbers."""
    wanted = [str(v) for v in anomaly_values]
    hit = values.astype(str).isin(wanted).to_numpy()
    numbers = to_numeric(pd.Series(wanted)).dropna()
    if len(numbers) and pd.api.types.is_numeric_dtype(values):
        hit = hit | values.isin(numbers.tolist()).to_numpy()
    return hit


def collect(
    model: Any,
    X: Any,
    labels: Any = None,
    ids: Any = None,
    top: int = 20,
    top_columns: int = 3,
    source: str = "",
    label_name: str = "labels",
) -> ReportData:
    """Score ``X``, explain its ``top`` most anomalous rows and compute the metrics.

    Parameters
    ----------
    model : fitted DAGMM
        The model to report on.
    X : array or DataFrame
        Rows to report on (feature columns only).
    labels : array-like of shape (n_rows,) of 0/1 or bool, optional
        Ground truth (1 = anomaly) for the ROC/PR curves and metrics.
    ids : array-like of shape (n_rows,), optional
        Row identifiers shown in the top-rows table (default: row positions).
    top : int, default 20
        Number of most anomalous rows to list and explain (>= 0).
    top_columns : int, default 3
        Columns shown per explained row.
    source : str, default ""
        Where the rows came from (e.g. a file name), shown in the report's header.
    label_name : str, default "labels"
        Name of the labels (e.g. their column) used in error messages.

    Returns
    -------
    ReportData

    Raises
    ------
    InvalidInputError
        ``top`` is negative; ``labels`` or ``ids`` do not have one value per row;
        a label is missing or not 0/1; ``X`` cannot be scored.
    """
    if int(top) < 0:
        raise InvalidInputError(f"top must be >= 0, got {top!r}")
    data = model._encode(X)
    energy = model._energy_numeric(data)
    n_rows = len(energy)
    y = _check_labels(labels, n_rows, label_name) if labels is not None else None
    id_values = np.arange(n_rows) if ids is None else np.asarray(ids)
    if len(id_values) != n_rows:
        raise InvalidInputError(f"got {len(id_values)} ids for {n_rows} rows")
    z = shown_restart(model)._transform_encoded(data)
    # Highest energy first; ties broken by row position for a reproducible list.
    order = np.lexsort((np.arange(n_rows), -energy))[: int(top)]
    imputed = model.encoder_.imputed(X)
    return _report_data(
        model,
        energy,
        z,
        y,
        id_values,
        data[order],
        order,
        top_columns,
        source,
        None if imputed is None else imputed[order],
    )


def _report_data(
    model: Any,
    energy: np.ndarray,
    z: np.ndarray,
    y: np.ndarray | None,
    id_values: np.ndarray,
    top_data: np.ndarray,
    order: np.ndarray,
    top_columns: int,
    source: str,
    top_imputed: np.ndarray | None = None,
) -> ReportData:
    """The report's data once every row is scored: the top rows (``order``, their
    encoded rows ``top_data``, the values the encoder imputed in them ``top_imputed``)
    explained, the metrics against ``y``."""
    from .metrics import evaluate

    predicted = (energy > model.threshold_).astype(int)
    if len(order):
        explanations = explain_encoded(
            model, top_data, top_k=top_columns, row_labels=order, imputed=top_imputed
        )
    else:
        explanations = pd.DataFrame(columns=["row", "rank", "column"])
    metrics: dict[str, dict[str, float]] = {}
    if y is not None:
        tp = int(np.sum((predicted == 1) & (y == 1)))
        precision = tp / max(int(predicted.sum()), 1)
        recall = tp / max(int(y.sum()), 1)
        f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
        ranked = evaluate(y, energy, float(model.contamination_))
        metrics["at the model threshold"] = {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "auroc": ranked["auroc"],
            "auprc": ranked["auprc"],
        }
        metrics[f"top {float(model.contamination_):.1%} of these rows"] = ranked
    train = getattr(model, "decision_scores_", None)
    return ReportData(
        energy=energy,
        predicted=predicted,
        z=z,
        threshold=float(model.threshold_),
        train_energy=None if train is None else np.asarray(train, dtype=float),
        labels=y,
        ids=id_values,
        explanations=explanations,
        top_rows=order,
        metrics=metrics,
        source=source,
    )


class TopRows:
    """The ``n`` highest-energy rows seen so far of a table scored chunk by chunk.

    Highest energy first, ties by position: the order of
    ``np.lexsort((positions, -energy))[:n]`` over all the rows at once.

    Parameters
    ----------
    n : int
        Number of rows to keep (>= 0).

    Attributes
    ----------
    positions : ndarray of shape (n_kept,), int64
        The kept rows' 0-based positions in the table, in that order.
    energy : ndarray of shape (n_kept,), float64
        Their energies.
    data : ndarray of shape (n_kept, n_features_out) or None
        Their encoded rows (None before the first chunk).
    ids : Series of shape (n_kept,) or None
        Their identifiers, when chunks came with ids, of the dtype the chunks' ids
        have (a nullable ``Int64`` stays one: as an object array it became float64).
    imputed : ndarray of shape (n_kept, n_columns), bool, or None
        Which of their values the encoder imputed, when chunks came with them.
    """

    def __init__(self, n: int) -> None:
        self.n = int(n)
        self.positions = np.zeros(0, dtype=np.int64)
        self.energy = np.zeros(0)
        self.data: np.ndarray | None = None
        self.ids: pd.Series | None = None
        self.imputed: np.ndarray | None = None

    def add(
        self,
        energy: np.ndarray,
        data: np.ndarray,
        start: int,
        ids: Any = None,
        imputed: np.ndarray | None = None,
    ) -> None:
        """Offer a chunk's rows; keep the ``n`` highest-energy rows of all offered.

        Parameters
        ----------
        energy : ndarray of shape (n_chunk,)
            The chunk's energies.
        data : ndarray of shape (n_chunk, n_features_out)
            The chunk's encoded rows.
        start : int
            Position of the chunk's first row in the table.
        ids : array-like of shape (n_chunk,), optional
            The chunk's row identifiers.
        imputed : ndarray of shape (n_chunk, n_columns), bool, optional
            Which of the chunk's values the encoder imputed
            (:attr:`EncodedChunk.imputed`).
        """
        positions = np.arange(start, start + len(energy), dtype=np.int64)
        # the chunk's own top n first: the pool never holds more than 2 n rows
        best = np.lexsort((positions, -energy))[: self.n]
        pool_energy = np.concatenate([self.energy, energy[best]])
        pool_positions = np.concatenate([self.positions, positions[best]])
        chunk_data = data[best]
        pool_data = chunk_data if self.data is None else np.concatenate([self.data, chunk_data])
        keep = np.lexsort((pool_positions, -pool_energy))[: self.n]
        self.energy, self.positions, self.data = (
            pool_energy[keep],
            pool_positions[keep],
            pool_data[keep],
        )
        if ids is not None:
            chunk_ids = pd.Series(ids).iloc[best].reset_index(drop=True)
            pool_ids = (
                chunk_ids
                if self.ids is None
                else pd.concat([self.ids, chunk_ids], ignore_index=True)
            )
            self.ids = pool_ids.iloc[keep].reset_index(drop=True)
        if imputed is not None:
            chunk_imputed = imputed[best]
            pool_imputed = (
                chunk_imputed
                if self.imputed is None
                else np.concatenate([self.imputed, chunk_imputed])
            )
            self.imputed = pool_imputed[keep]


class EncodedChunk(NamedTuple):
    """One chunk of a file, read and encoded by :func:`encoded_chunks`.

    Attributes
    ----------
    start : int
        Position of the chunk's first row in the file.
    frame : DataFrame
        The chunk's rows: the model's columns and the extra ones, indexed by position.
    encoded : ndarray of shape (n_rows, n_features_out), float32
        The model's encoding of the rows.
    energy : ndarray of shape (n_rows,) or None
        Their energies (``decision_function``), or None when not asked for.
    imputed : ndarray of shape (n_rows, n_columns), bool, or None
        Which of their values the encoder imputed (``model.encoder_.imputed``: the
        rows do not hold what the network saw there); None when the model imputes
        nothing (``missing="raise"``).
    """

    start: int
    frame: pd.DataFrame
    encoded: np.ndarray
    energy: np.ndarray | None
    imputed: np.ndarray | None


def encoded_chunks(
    model: Any,
    path: str | os.PathLike[str],
    extra: list[str | None],
    chunk_rows: int = 65536,
    energy: bool = True,
    csv_format: CsvFormat | None = None,
    copies: Collection[str] = (),
    wanted_by: Mapping[str, str] | None = None,
) -> Iterator[EncodedChunk]:
    """A file's rows chunk by chunk, encoded (and scored) by ``model``.

    As ``dagmm score`` reads a file: the categories training never saw are
    warned about once, summed over the file, and an error names the file and the
    row's position in it.

    Parameters
    ----------
    model : fitted DAGMM
        The model whose columns are read and which encodes them.
    path : str or PathLike
        A CSV, Parquet, Arrow or JSON Lines file or a folder of Parquet files.
    extra : list of str or None
        More columns to read as text, e.g. an id or labels (None entries are skipped).
    chunk_rows : int, default 65536
        Rows per chunk.
    energy : bool, default True
        Score the rows too.
    csv_format : CsvFormat, optional
        How a CSV file writes its numbers and missing values (see
        :func:`dagmm.tableio.iter_table`).
    copies : collection of str, default ()
        Columns of ``extra`` held in each chunk's frame exactly as the file holds
        them, to be copied to an output (an id: a CSV file's ``00042`` stays text, a
        Parquet file's nullable integers stay integers; see
        :func:`dagmm.tableio.iter_table_copies`).
    wanted_by : mapping of str to str, optional
        What asks for each ``extra`` column (``{"flow": "--id-column"}``), for the
        message naming one the file lacks (the model's features are named as such).

    Yields
    ------
    EncodedChunk

    Raises
    ------
    InvalidInputError
        A row cannot be encoded.
    NumericalError
        A row's energy is not finite.
    MissingColumnsError
        The file lacks a feature or an ``extra`` column, named with what asked for it.
    DataFileError
        As :func:`dagmm.tableio.iter_table`; the file has no rows.
    """
    wanted = [c for c in dict.fromkeys(extra) if c]
    copied = [c for c in dict.fromkeys(copies) if c in wanted]
    names = getattr(model, "feature_names_in_", None)
    features = None if names is None else [str(c) for c in names]
    if features is not None:
        # a feature named as an id or the labels too (a port, a label left among the
        # features) is read as the feature, its copy as the file holds it beside
        others = [c for c in wanted if c not in features]
        chunks = iter_table_copies(
            path,
            chunk_rows,
            features + others,
            copied,
            text_columns(model) + others,
            categories=text_columns(model),
            csv_format=csv_format,
        )
    else:  # a model of an array: the numeric columns
        chunks = iter_table_copies(
            path, chunk_rows, copies=copied, text_columns=wanted, csv_format=csv_format
        )
    start = 0
    asked = {**dict.fromkeys(features or [], "the model"), **(wanted_by or {})}
    with summed_unseen_categories(f"{path}: "), columns_wanted_by(asked):
        for frame, exact in chunks:
            frame.index = pd.RangeIndex(start, start + len(frame))
            if features is None:
                missing = [c for c in wanted if c not in frame.columns]
                if missing:
                    raise MissingColumnsError(path, missing, [str(c) for c in frame.columns])
            # the rows encoded before the copies stand in the frame, a feature among them
            rows = frame[features] if features is not None else frame.drop(columns=wanted)
            if len(exact.columns):
                frame = frame.copy(deep=False)
                for name in exact.columns:
                    frame[name] = exact[name].array
            try:
                encoded = model._encode(rows)
                scores = model._energy_numeric(encoded, rows.index) if energy else None
            except (InvalidInputError, NumericalError) as exc:
                raise type(exc)(f"{path}: {exc}") from None
            yield EncodedChunk(start, frame, encoded, scores, model.encoder_.imputed(rows))
            start += len(frame)
    if start == 0:
        raise DataFileError(f"{path}: no rows")


#: Distinct label values named when none of them is an anomaly value.
_VALUES_NAMED = 10


def collect_file(
    model: Any,
    path: str | os.PathLike[str],
    labels: str | None = None,
    id_column: str | None = None,
    top: int = 20,
    top_columns: int = 3,
    chunk_rows: int = 65536,
    source: str = "",
    csv_format: CsvFormat | None = None,
    anomaly_values: Collection[str] | None = None,
) -> ReportData:
    """:func:`collect` of a file's rows, read and scored chunk by chunk.

    Memory holds one chunk, each row's energy and ``z`` and label, and the ``top``
    rows; the result is :func:`collect`'s on the whole table, except that ``ids``
    holds the identifiers of the ``top`` rows only (None elsewhere).

    Parameters
    ----------
    model : fitted DAGMM
        The model to report on.
    path : str or PathLike
        A CSV, Parquet, Arrow or JSON Lines file or a folder of Parquet files.
    labels : str, optional
        The ground-truth column: 0/1 (1 = anomaly), or see ``anomaly_values``.
    id_column : str, optional
        The column identifying rows in the top-rows table (default: positions).
    top : int, default 20
        Number of most anomalous rows to list and explain (>= 0).
    top_columns : int, default 3
        Columns shown per explained row.
    chunk_rows : int, default 65536
        Rows read and scored at once.
    source : str, default ""
        Shown in the report's header.
    csv_format : CsvFormat, optional
        As :func:`encoded_chunks`.
    anomaly_values : collection of str, optional
        The values of ``labels`` that mark an anomaly (``["attack"]``; a number also
        matches its float form); every other value is normal. At least one row must
        hold one of them.

    Returns
    -------
    ReportData

    Raises
    ------
    InvalidInputError
        As :func:`collect` and :func:`encoded_chunks`; messages name the file and the
        row's position in it.
    DataFileError
        The file cannot be read, lacks a column or has no rows.
    """
    if int(top) < 0:
        raise InvalidInputError(f"top must be >= 0, got {top!r}")
    view = shown_restart(model)
    best = TopRows(int(top))
    energies: list[np.ndarray] = []
    zs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    seen: set[str] = set()  # a few of the labels' values, to name when none is an anomaly
    # both spellings, as the Python API and `dagmm report` reach this alike
    hint = (
        "; where the column names classes, give the anomalies' value(s), e.g. "
        "anomaly_values=['attack'] (dagmm report --anomaly-value attack, repeatable)"
    )
    # the ids as the file holds them (00042, a 19-digit number), the labels typed
    exact_ids = [id_column] if id_column and id_column != labels else []
    asked = [(labels, "--labels"), (id_column, "--id-column")]
    for chunk in encoded_chunks(
        model,
        path,
        [id_column, labels],
        chunk_rows,
        csv_format=csv_format,
        copies=exact_ids,
        wanted_by={name: option for name, option in asked if name},
    ):
        start, frame, data, energy, imputed = chunk
        assert energy is not None  # asked for
        if labels:
            try:
                ys.append(
                    _check_labels(
                        frame[labels].to_numpy(), len(frame), labels, start, anomaly_values, hint
                    )
                )
            except InvalidInputError as exc:
                raise InvalidInputError(f"{path}: {exc}") from None
            if anomaly_values is not None and len(seen) < _VALUES_NAMED:
                seen.update(frame[labels].astype(str).unique()[:_VALUES_NAMED].tolist())
        zs.append(view._transform_encoded(data))
        energies.append(energy)
        ids = frame[id_column] if id_column else None
        best.add(energy, data, start, ids, imputed)
    energy = np.concatenate(energies)
    order = best.positions
    if id_column:
        id_values = np.full(len(energy), None, dtype=object)
        if best.ids is not None:
            # object, value by value: a nullable Int64's own to_numpy() would be floats
            id_values[order] = best.ids.to_numpy(dtype=object)
    else:
        id_values = np.arange(len(energy))
    top_data = best.data if best.data is not None else np.zeros((0, 0), dtype=np.float32)
    y = np.concatenate(ys) if labels else None
    if y is not None and anomaly_values is not None and not y.any():
        held = ", ".join(repr(v) for v in sorted(seen)[:_VALUES_NAMED])
        raise InvalidInputError(
            f"{path}: no row's {labels!r} is {' or '.join(repr(str(v)) for v in anomaly_values)} "
            f"(anomaly_values, or --anomaly-value in dagmm report); it holds "
            f"{held}{', ...' if len(seen) > _VALUES_NAMED else ''}"
        )
    return _report_data(
        model,
        energy,
        np.concatenate(zs),
        y,
        id_values,
        top_data,
        order,
        top_columns,
        source,
        best.imputed,
    )


def shown_restart(model: Any) -> Any:
    """The model whose z space and mixture a report draws: ``model`` itself, or the
    first restart of a model that keeps several (each has its own z space)."""
    return model._restart_view(0) if model.n_members_ > 1 else model


def collapsed_components(model: Any) -> list[tuple[int, str]]:
    """Components with weight below :data:`COLLAPSED_WEIGHT` or a variance at the floor.

    The floor is :data:`COLLAPSED_VARIANCE_FACTOR` times the model's ``reg_covar``:
    a diagonal variance below it holds little but the regularisation.

    Parameters
    ----------
    model : fitted DAGMM
        The model whose mixture (``weights_``, ``covariances_``) is checked.

    Returns
    -------
    list of (int, str)
        ``(k, reason)`` for every collapsed component ``k``, in component order;
        ``reason`` says which weight or variances are too small. Empty when none is.
    """
    weights = model.weights_
    variances = np.diagonal(model.covariances_, axis1=-2, axis2=-1)
    floor = COLLAPSED_VARIANCE_FACTOR * float(model.reg_covar)
    out = []
    for k in range(len(weights)):
        reasons = []
        if weights[k] < COLLAPSED_WEIGHT:
            reasons.append(f"weight {weights[k]:.2g} < {COLLAPSED_WEIGHT:g}")
        low = np.flatnonzero(variances[k] < floor)
        if len(low):
            reasons.append(
                f"variance of z[{', '.join(str(int(j)) for j in low)}] < {floor:.2g} "
                "(about reg_covar alone)"
            )
        if reasons:
            out.append((k, "; ".join(reasons)))
    return out


def _z_names(model: Any) -> list[str]:
    latent = int(model.latent_dim_)
    names = [f"latent z_c[{j}]" if latent > 1 else "latent z_c" for j in range(latent)]
    return [*names, "relative Euclidean distance", "cosine similarity"]


def _png(fig: Any, canvas_cls: Any) -> bytes:
    canvas_cls(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return buffer.getvalue()


def _energy_figure(data: ReportData, Figure: Any) -> Any:
    fig = Figure(figsize=(9, 3.8), layout="constrained")
    ax = fig.add_subplot()
    parts = [data.energy] + ([data.train_energy] if data.train_energy is not None else [])
    combined = np.concatenate(parts)
    low = float(np.min(combined))
    # Energies have long right tails (far-out rows): end the axis at three times the
    # bulk's spread below the threshold past it, so the bulk stays readable, and
    # draw what lies beyond in the last bin.
    bulk = data.threshold - float(np.quantile(combined, 0.005))
    high = min(float(np.max(combined)), data.threshold + 3.0 * max(bulk, 1e-12))
    high = max(high, data.threshold) + 0.02 * max(high - low, 1e-12)
    bins = np.linspace(low, high, 60)
    beyond = {}
    if data.train_energy is not None:
        ax.hist(
            np.clip(data.train_energy, low, high),
            bins=bins,
            density=True,
            alpha=0.5,
            color="#4c72b0",
            label=f"training rows ({len(data.train_energy)})",
        )
        beyond["training"] = int(np.sum(data.train_energy > high))
    ax.hist(
        np.clip(data.energy, low, high),
        bins=bins,
        density=True,
        histtype="step",
        linewidth=1.8,
        color="#dd8452",
        label=f"scored rows ({len(data.energy)})",
    )
    beyond["scored"] = int(np.sum(data.energy > high))
    ax.axvline(data.threshold, color="#c44e52", linestyle="--", linewidth=1.5)
    ax.annotate(
        f"threshold {data.threshold:.4g}",
        (data.threshold, 1.0),
        xycoords=("data", "axes fraction"),
        xytext=(4, -14),
        textcoords="offset points",
        color="#c44e52",
    )
    ax.set_xlabel("energy (higher = more anomalous)")
    ax.set_ylabel("density")
    if any(beyond.values()):
        detail = ", ".join(f"{v} {k}" for k, v in beyond.items() if v)
        ax.set_title(f"rows above {high:.4g} are drawn in the last bin ({detail})", fontsize=9)
    ax.legend(loc="best")
    return fig


def _z_figure(model: Any, data: ReportData, Figure: Any) -> Any:
    names = _z_names(model)
    latent = int(model.latent_dim_)
    pairs = [(0, latent), (0, latent + 1), (latent, latent + 1)]
    if latent > 1:
        pairs.insert(0, (0, 1))
    fig = Figure(figsize=(4.2 * len(pairs), 4.0), layout="constrained")
    n = len(data.z)
    rng = np.random.default_rng(0)
    shown = np.sort(rng.choice(n, _MAX_SCATTER_POINTS, replace=False)) if n > 4000 else None
    index = np.arange(n) if shown is None else shown
    if data.labels is not None:
        colour_by, legend = data.labels, ("label 0 (normal)", "label 1 (anomaly)")
    else:
        colour_by, legend = data.predicted, ("predicted normal", "predicted anomaly")
    means = model.means_
    for p, (a, b) in enumerate(pairs):
        ax = fig.add_subplot(1, len(pairs), p + 1)
        # Anomalies as hollow rings under the normal rows' small dots: the two often
        # overlap, and normal rows concentrate in tight clusters that filled anomaly
        # markers drawn on top would hide completely.
        sel = index[colour_by[index] == 1]
        ax.scatter(
            data.z[sel, a],
            data.z[sel, b],
            s=28,
            facecolors="none",
            edgecolors="#c44e52",
            linewidths=1.0,
            label=f"{legend[1]} ({int(np.sum(colour_by == 1))})",
        )
        sel = index[colour_by[index] == 0]
        ax.scatter(
            data.z[sel, a],
            data.z[sel, b],
            s=4,
            c="#1f4e9c",
            alpha=0.6,
            linewidths=0,
            label=f"{legend[0]} ({int(np.sum(colour_by == 0))})",
        )
        ax.scatter(
            means[:, a],
            means[:, b],
            marker="P",
            s=110,
            c="#222222",
            edgecolors="white",
            label="mixture means",
        )
        ax.set_xlabel(names[a])
        ax.set_ylabel(names[b])
        if p == 0:
            ax.legend(fontsize=8, loc="best", markerscale=1.5)
    if shown is not None:
        fig.suptitle(f"a random {len(shown)} of {n} rows", fontsize=9)
    return fig


def _training_figure(model: Any, Figure: Any) -> Any | None:
    history = {k: v for k, v in getattr(model, "history_", {}).items() if len(v)}
    if not history:
        return None
    terms = [t for t in ("loss", "reconstruction", "energy", "penalty") if t in history]
    terms += [t for t in history if t not in terms and t != "val_loss"]
    fig = Figure(figsize=(3.2 * len(terms), 3.2), layout="constrained")
    best = getattr(model, "best_epoch_", None)
    for i, term in enumerate(terms):
        ax = fig.add_subplot(1, len(terms), i + 1)
        values = np.asarray(history[term], dtype=float)
        epochs = np.arange(1, len(values) + 1)
        ax.plot(epochs, values, color="#4c72b0", label="training")
        if term == "loss" and "val_loss" in history:
            val = np.asarray(history["val_loss"], dtype=float)
            ax.plot(np.arange(1, len(val) + 1), val, color="#dd8452", label="validation")
        if best is not None and term == "loss" and "val_loss" in history:
            ax.axvline(int(best), color="grey", linestyle=":", label=f"best epoch {best}")
        if term == "penalty" and np.all(values > 0):
            ax.set_yscale("log")
        ax.set_title(term)
        ax.set_xlabel("epoch")
        if term == "loss" and "val_loss" in history:
            ax.legend(fontsize=8)
    return fig


def _mixture_figure(model: Any, Figure: Any) -> Any:
    weights = model.weights_
    variances = np.diagonal(model.covariances_, axis1=-2, axis2=-1)
    names = _z_names(model)
    fig = Figure(figsize=(11, 3.2), layout="constrained")
    ax = fig.add_subplot(1, 2, 1)
    collapsed = {k for k, _ in collapsed_components(model)}
    colours = ["#c44e52" if k in collapsed else "#4c72b0" for k in range(len(weights))]
    ax.bar(np.arange(len(weights)), weights, color=colours)
    ax.set_xticks(np.arange(len(weights)))
    ax.set_xlabel("component")
    ax.set_ylabel("weight phi_k")
    ax.set_title("weights (red: collapsed)")
    ax = fig.add_subplot(1, 2, 2)
    width = 0.8 / variances.shape[1]
    for j in range(variances.shape[1]):
        ax.bar(np.arange(len(weights)) + j * width, variances[:, j], width, label=names[j])
    ax.set_yscale("log")
    ax.set_xticks(np.arange(len(weights)) + 0.4 - width / 2, [str(k) for k in range(len(weights))])
    ax.set_xlabel("component")
    ax.set_title("covariance diagonal (log scale)")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return fig


def _roc_pr_figure(data: ReportData, Figure: Any) -> Any | None:
    if data.labels is None or len(np.unique(data.labels)) < 2:
        return None
    from sklearn.metrics import precision_recall_curve, roc_curve

    fig = Figure(figsize=(9, 3.8), layout="constrained")
    fpr, tpr, _ = roc_curve(data.labels, data.energy)
    ax = fig.add_subplot(1, 2, 1)
    ax.plot(fpr, tpr, color="#4c72b0")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
    at = data.energy > data.threshold
    op_fpr = np.sum(at & (data.labels == 0)) / max(np.sum(data.labels == 0), 1)
    op_tpr = np.sum(at & (data.labels == 1)) / max(np.sum(data.labels == 1), 1)
    ax.scatter([op_fpr], [op_tpr], color="#c44e52", zorder=3, label="at the threshold")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC")
    ax.legend(loc="lower right", fontsize=8)
    precision, recall, _ = precision_recall_curve(data.labels, data.energy)
    ax = fig.add_subplot(1, 2, 2)
    ax.plot(recall, precision, color="#4c72b0")
    ax.axhline(float(np.mean(data.labels)), color="grey", linestyle=":", label="base rate")
    op_precision = np.sum(at & (data.labels == 1)) / max(int(np.sum(at)), 1)
    ax.scatter([op_tpr], [op_precision], color="#c44e52", zorder=3, label="at the threshold")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title("precision-recall")
    ax.legend(loc="upper right", fontsize=8)
    return fig


def render_figures(model: Any, data: ReportData) -> dict[str, bytes]:
    """PNG bytes of each figure of :data:`FIGURES` that applies (ROC/PR only with labels).

    Parameters
    ----------
    model : fitted DAGMM
        The model the report is about (its mixture and training history are drawn).
    data : ReportData
        What :func:`collect` computed for the same model.

    Returns
    -------
    dict of str to bytes
        Figure name to PNG content (100 dpi), in the order of :data:`FIGURES`.
        ``"training"`` is left out when the model has no training history, and
        ``"roc_pr"`` unless the labels hold both classes.

    Raises
    ------
    MissingDependencyError
        matplotlib is not installed.
    """
    _, Figure, Canvas = require_matplotlib()
    figures = {
        "energy": _energy_figure(data, Figure),
        "z_space": _z_figure(shown_restart(model), data, Figure),
        "training": _training_figure(model, Figure),
        "mixture": _mixture_figure(shown_restart(model), Figure),
        "roc_pr": _roc_pr_figure(data, Figure),
    }
    return {name: _png(fig, Canvas) for name, fig in figures.items() if fig is not None}


# --------------------------------------------------------------------------- HTML
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;
background:#fafafa}
main{max-width:1180px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:1.6em;margin:0.4em 0 0.1em}h2{font-size:1.25em;margin-top:1.6em;
border-bottom:1px solid #ddd;padding-bottom:4px}
p.meta{color:#666;margin-top:0}
table{border-collapse:collapse;margin:8px 0;font-size:0.9em;background:#fff}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f0f0f0}td.num{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%;height:auto;background:#fff;border:1px solid #eee}
.warn{background:#fff4e5;border-left:4px solid #e8a317;padding:8px 12px;margin:8px 0}
.ok{color:#2a7a2a}.anom{color:#b22}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px 14px;min-width:120px}
.card b{display:block;font-size:1.3em}
small{color:#666}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


#: Shown for a number the report cannot give (AUROC of labels holding one class).
NOT_AVAILABLE = "n/a"


def _fmt(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return NOT_AVAILABLE if math.isnan(value) else f"{value:.4g}"
    return str(value)


def _img(name: str, png: bytes, alt: str) -> str:
    encoded = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{encoded}" alt="{_e(alt)}" id="fig-{name}">'


def _table(header: list[str], rows: list[list[Any]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="num">{_e(_fmt(v))}</td>' if i in numeric else f"<td>{_e(_fmt(v))}</td>"
            for i, v in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _explanation_text(group: pd.DataFrame, encoder: Any) -> str:
    parts = []
    for _, r in group.iterrows():
        value, expected = (
            # every digit the network saw: a Unix time read 1.7e+09 until 2026-12-07
            value_text(v, encoder.shifts.get(r["column"]), encoder.log_inputs)
            if isinstance(v, float)
            else str(v)
            for v in (r["value"], r["expected"])
        )
        parts.append(
            f"<b>{_e(r['column'])}</b> = {_e(value)} "
            f"<small>(most normal: {_e(expected)}; energy -{r['contribution']:.3g})</small>"
        )
    return "<br>".join(parts)


def _model_section(model: Any) -> str:
    encoder = model.encoder_
    described = []
    for name in encoder.columns:
        if name in encoder.categories:
            cats = encoder.categories[name]
            shown = ", ".join(cats[:8]) + (f", ... ({len(cats)} in all)" if len(cats) > 8 else "")
            described.append([name, f"categorical: {shown}"])
        elif name in encoder.shifts:
            shifted = encoder.shift_text(name)
            described.append([name, f"numeric, sent as {shifted} (in float64, before float32)"])
        else:
            described.append([name, "numeric"])
    hidden = "-".join(str(h) for h in model.hidden_sizes_)
    epochs, kept = describe_epochs(epochs_summary(model))
    return (
        "<details><summary>Model: "
        f"{len(encoder.columns)} columns -> {len(encoder.feature_names_out)} features, "
        f"network {len(encoder.feature_names_out)}-{_e(hidden)}-{int(model.latent_dim_)}, "
        f"K={int(model.net_.n_components)}, trained {_e(epochs)}"
        + (f"; weights kept: {_e(kept)}" if kept is not None else "")
        + "</summary>"
        + _table(["column", "kind"], described)
        + "</details>"
    )


def report_html(model: Any, data: ReportData, figures: dict[str, bytes], title: str) -> str:
    """The report as one HTML document (figures embedded as base64 PNG).

    Parameters
    ----------
    model : fitted DAGMM
        The model the report is about.
    data : ReportData
        What :func:`collect` computed for the same model.
    figures : dict of str to bytes
        PNG content by figure name, as :func:`render_figures` returns it;
        ``"energy"``, ``"z_space"`` and ``"mixture"`` are required.
    title : str
        The page's title and heading (HTML-escaped).

    Returns
    -------
    str
        A self-contained HTML5 document (no external files or scripts).
    """
    n = len(data.energy)
    flagged = int(data.predicted.sum())
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">dagmm {_e(__version__)}, generated '
        f"{_e(datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC'))}"
        + (f"; data: {_e(data.source)}" if data.source else "")
        + "</p>",
        '<div class="cards">',
        f'<div class="card">rows scored<b>{n}</b></div>',
        f'<div class="card">flagged<b class="anom">{flagged} ({flagged / max(n, 1):.1%})</b></div>',
        f'<div class="card">threshold<b id="threshold">{data.threshold:.6g}</b></div>',
        f'<div class="card">contamination<b>{float(model.contamination_):g}</b></div>',
        f'<div class="card">columns<b>{len(model.encoder_.columns)}</b></div>',
        "</div>",
        _model_section(model),
        "<h2>Energy distribution</h2>",
        "<p>Energy is minus the log-density of a row's representation under the mixture "
        "fitted on the training rows. Rows above the threshold (the "
        f"{1 - float(model.contamination_):.1%} quantile of the training energies) are "
        "flagged.</p>",
        _img("energy", figures["energy"], "energy histogram"),
    ]
    if data.train_energy is None:
        out.append(
            '<p class="warn">The model file holds no training energies '
            "(saved with include_training_scores=False): only scored rows are shown.</p>"
        )
    out += [
        "<h2>The z space</h2>",
        "<p>Each row's latent code against the two reconstruction features (relative "
        "Euclidean distance and cosine similarity), as in Figure 3 of Zong et al. (2018). "
        + (
            "Colours are the given labels."
            if data.labels is not None
            else "Colours are the predicted labels (no labels given)."
        )
        + "</p>",
        _img("z_space", figures["z_space"], "z space scatter plots"),
        "<h2>Training curves</h2>",
    ]
    if "training" in figures:
        out.append(
            "<p>Each term of the objective per epoch: the total loss, the reconstruction "
            "error, the mean sample energy and the covariance penalty.</p>"
        )
        out.append(_img("training", figures["training"], "training curves"))
    else:
        out.append("<p>No training history (the model was trained for 0 epochs).</p>")
    out.append("<h2>Mixture</h2>")
    shown = shown_restart(model)
    if shown is not model:
        out.append(
            f"<p>The model combines {model.n_members_} restarts "
            f"({_e(str(model.restart_combine_))} of their standardised energies, which are the "
            "energies shown above); the z space above and the mixture below are the first "
            "restart's.</p>"
        )
    collapsed = collapsed_components(shown)
    for k, reason in collapsed:
        out.append(f'<p class="warn">Component {k} looks collapsed: {_e(reason)}.</p>')
    names = _z_names(shown)
    weights, means = shown.weights_, shown.means_
    variances = np.diagonal(shown.covariances_, axis1=-2, axis2=-1)
    rows = [
        [k, float(weights[k])]
        + [f"{means[k, j]:.4g} / {variances[k, j]:.3g}" for j in range(means.shape[1])]
        for k in range(len(weights))
    ]
    out.append(
        _table(
            ["component", "weight", *[f"{nm}: mean / variance" for nm in names]],
            rows,
            numeric={0, 1},
        )
    )
    out.append(_img("mixture", figures["mixture"], "mixture weights and variances"))
    if data.metrics and data.labels is not None:
        out.append("<h2>Detection quality</h2>")
        out.append(f"<p>Against the labels: {int(data.labels.sum())} anomalies among {n} rows.</p>")
        if len(np.unique(data.labels)) < 2:
            out.append(
                '<p class="warn">The labels hold one class only: AUROC and AUPRC, which rank '
                f"anomalies against normal rows, are {NOT_AVAILABLE}.</p>"
            )
        out.append(
            _table(
                ["flagging", "precision", "recall", "F1", "AUROC", "AUPRC"],
                [
                    [name, m["precision"], m["recall"], m["f1"], m["auroc"], m["auprc"]]
                    for name, m in data.metrics.items()
                ],
                numeric={1, 2, 3, 4, 5},
            )
        )
        if "roc_pr" in figures:
            out.append(_img("roc_pr", figures["roc_pr"], "ROC and precision-recall curves"))
    if len(data.top_rows):  # top=0 asks for none: no section of an empty table
        out.append(f"<h2>Most anomalous rows (top {len(data.top_rows)})</h2>")
        out.append(
            "<p>For each row, the columns whose value raises its energy the most: "
            "<i>most normal</i> is the value of that column (others unchanged) with the lowest "
            "energy, and <i>energy -x</i> how much lower the energy would be with it "
            "(see <code>dagmm explain</code>).</p>"
        )
        header = ["id", "energy", "flagged"]
        if data.labels is not None:
            header.append("label")
        header.append("why")
        grouped = dict(tuple(data.explanations.groupby("row", sort=False)))
        table_rows = []
        for row in data.top_rows:
            cells = [
                f"<td>{_e(data.ids[row])}</td>",
                f'<td class="num">{data.energy[row]:.4g}</td>',
                f"<td>{'yes' if data.predicted[row] else 'no'}</td>",
            ]
            if data.labels is not None:
                cells.append(f"<td>{int(data.labels[row])}</td>")
            group = grouped.get(row)
            why = _explanation_text(group, model.encoder_) if group is not None else ""
            cells.append(f"<td>{why}</td>")
            table_rows.append(f"<tr>{''.join(cells)}</tr>")
        out.append(
            "<table><thead><tr>"
            + "".join(f"<th>{_e(h)}</th>" for h in header)
            + f"</tr></thead><tbody>{''.join(table_rows)}</tbody></table>"
        )
    out.append("</main></body></html>")
    return "\n".join(out)


def check_report_target(out: str | os.PathLike[str], fmt: str) -> Path:
    """Raise what writing a report of format ``fmt`` to ``out`` would, before any work.

    Parameters
    ----------
    out : str or PathLike
        The HTML file (``fmt="html"``) or the folder of PNG files (``fmt="png"``).
    fmt : {"html", "png"}
        The output format.

    Returns
    -------
    Path
        ``out``; nothing is created.

    Raises
    ------
    InvalidInputError
        ``fmt`` is neither "html" nor "png", or ``out`` is a file with ``fmt="png"``.
    FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError
        ``out`` cannot be written: its folder is missing or read-only, or, with
        ``fmt="html"``, ``out`` is a folder.
    """
    if fmt not in ("html", "png"):
        raise InvalidInputError(f"format must be 'html' or 'png', got {fmt!r}")
    target = Path(out)
    if fmt == "html":
        return check_writable(target)
    if target.exists() and not target.is_dir():
        raise InvalidInputError(f"{target} exists and is not a directory (--format png)")
    # The folder is created only once the figures exist; where it would be must allow that.
    return check_folder_writable(target)


def write_report(
    model: Any,
    X: Any,
    out: str | os.PathLike[str],
    labels: Any = None,
    ids: Any = None,
    top: int = 20,
    fmt: str = "html",
    title: str | None = None,
    source: str = "",
    label_name: str = "labels",
) -> list[Path]:
    """Write the report for ``model`` on rows ``X``; return the paths written.

    ``fmt="html"`` writes one self-contained HTML file at ``out``;
    ``fmt="png"`` writes one PNG per figure into the directory ``out``
    (created if needed), named after :data:`FIGURES`, and removes the files of
    :data:`FIGURES` that this report has not (left by an earlier report there:
    ROC/PR without labels, training curves of an untrained model); other files
    in ``out`` are left alone. Files are written atomically: every figure to a
    temporary name first, then all renamed into place.

    Parameters
    ----------
    model : fitted DAGMM
        The model to report on.
    X : array or DataFrame
        Rows to report on (feature columns only).
    out : str or PathLike
        The HTML file (``fmt="html"``; its folder must exist) or the folder of PNG
        files (``fmt="png"``).
    labels : array-like of shape (n_rows,) of 0/1 or bool, optional
        Ground truth (1 = anomaly) for the ROC/PR curves and metrics.
    ids : array-like of shape (n_rows,), optional
        Row identifiers shown in the top-rows table (default: row positions).
    top : int, default 20
        Number of most anomalous rows to list and explain (3 columns each).
    fmt : {"html", "png"}, default "html"
        Output format.
    title : str, optional
        Title of the HTML report; default "DAGMM anomaly report". Not used for PNG.
    source : str, default ""
        Where the rows came from (e.g. a file name), shown in the report's header.
    label_name : str, default "labels"
        Name of the labels (e.g. their column) used in error messages.

    Returns
    -------
    list of Path
        The HTML file, or the PNG files written (``<out>/<figure>.png``).

    Raises
    ------
    InvalidInputError
        ``fmt`` is not "html" or "png"; ``out`` exists and is not a folder with
        ``fmt="png"``; or as :func:`collect` raises.
    FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError
        ``out`` cannot be written (its folder is missing or read-only, or, with
        ``fmt="html"``, ``out`` is a folder); raised before any scoring.
    MissingDependencyError
        matplotlib is not installed (raised before any scoring).
    """
    target = check_report_target(out, fmt)  # before any scoring, as is what follows
    require_matplotlib()
    data = collect(model, X, labels=labels, ids=ids, top=top, source=source, label_name=label_name)
    return _write(model, data, target, fmt, title)


def write_report_file(
    model: Any,
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    labels: str | None = None,
    id_column: str | None = None,
    top: int = 20,
    fmt: str = "html",
    title: str | None = None,
    chunk_rows: int = 65536,
    csv_format: CsvFormat | None = None,
    anomaly_values: Collection[str] | None = None,
) -> tuple[list[Path], int]:
    """:func:`write_report` on the rows of the file ``path``, read chunk by chunk.

    What ``dagmm report`` runs: memory holds one chunk of rows, each row's energy,
    ``z`` and label, and the ``top`` rows (:func:`collect_file`), not the table.

    Parameters
    ----------
    model : fitted DAGMM
        The model to report on.
    path : str or PathLike
        The rows: a CSV, Parquet, Arrow or JSON Lines file or a folder of Parquet files.
    out : str or PathLike
        As :func:`write_report`.
    labels : str, optional
        The ground-truth column for ROC/PR: 0/1 (1 = anomaly), or see ``anomaly_values``.
    id_column : str, optional
        The column identifying rows in the top-rows table.
    top : int, default 20
        Number of most anomalous rows to list and explain.
    fmt : {"html", "png"}, default "html"
        Output format.
    title : str, optional
        Title of the HTML report.
    chunk_rows : int, default 65536
        Rows read and scored at once.
    csv_format : CsvFormat, optional
        As :func:`encoded_chunks`.
    anomaly_values : collection of str, optional
        As :func:`collect_file`.

    Returns
    -------
    written : list of Path
        As :func:`write_report`.
    n_rows : int
        Rows reported on.

    Raises
    ------
    InvalidInputError, DataFileError
        As :func:`collect_file`; as :func:`write_report` for ``out`` and ``fmt``.
    """
    target = check_report_target(out, fmt)
    require_matplotlib()
    data = collect_file(
        model,
        path,
        labels,
        id_column,
        top,
        chunk_rows=chunk_rows,
        source=str(path),
        csv_format=csv_format,
        anomaly_values=anomaly_values,
    )
    return _write(model, data, target, fmt, title), len(data.energy)


def _write(model: Any, data: ReportData, target: Path, fmt: str, title: str | None) -> list[Path]:
    """Render ``data`` and write it to ``target`` (checked by :func:`check_report_target`)."""
    figures = render_figures(model, data)
    if fmt == "png":
        target.mkdir(parents=True, exist_ok=True)
        written = atomic_write_files({target / f"{name}.png": png for name, png in figures.items()})
        # An earlier report's figures that this one has not (ROC/PR without labels, the
        # training curves of an untrained model) would stand beside it as if they were
        # its own; other files in the folder are not the report's and stay.
        for stale in (target / f"{name}.png" for name in FIGURES if name not in figures):
            if not stale.is_dir():
                with contextlib.suppress(FileNotFoundError):
                    stale.unlink()
        return written
    document = report_html(model, data, figures, title or "DAGMM anomaly report")
    atomic_write_bytes(target, document.encode("utf-8"))
    return [target]
