"""Scoring files in bounded memory: stream rows in chunks, write energies and labels."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from .exceptions import InvalidInputError, NumericalError
from .tableio import (
    CsvFormat,
    DataFileError,
    MissingColumnsError,
    TableWriter,
    columns_wanted_by,
    iter_table_copies,
    text_columns,
)
from .tabular import summed_unseen_categories

__all__ = ["ScoredRows", "score_file", "score_frame"]

#: The columns the scores are written to.
SCORE_COLUMNS = ("energy", "is_anomaly")


class ScoredRows(NamedTuple):
    """What :func:`score_file` scored.

    Attributes
    ----------
    rows : int
        Rows scored (every row of the input).
    anomalies : int
        Rows flagged (``is_anomaly`` 1).
    written : int
        Rows written to the output: ``rows``, or ``anomalies`` with
        ``only_anomalies=True``.
    """

    rows: int
    anomalies: int
    written: int


def copied_columns(
    id_column: str | None, keep_columns: Sequence[str], only_anomalies: bool = False
) -> list[str]:
    """The input columns copied to the output, checked against each other and the scores."""
    copied = ([id_column] if id_column else []) + list(keep_columns)
    reserved = [*SCORE_COLUMNS, *(["row"] if only_anomalies else [])]
    clash = [c for c in copied if c in reserved]
    if clash:
        raise InvalidInputError(
            f"cannot copy column(s) {clash} to the output: the scores are written as {reserved}"
        )
    twice = sorted({c for c in copied if copied.count(c) > 1})
    if twice:
        raise InvalidInputError(f"column(s) {twice} named more than once (--id-column, --keep)")
    return copied


def columns_wanted_by_whom(
    features: Sequence[str], id_column: str | None = None, keep_columns: Sequence[str] = ()
) -> dict[str, str]:
    """What asks for each column read: ``"the model"`` for its features, the option
    for a copied column (``"--id-column"``, ``"--keep"``), for a message naming one
    the file lacks (:class:`dagmm.tableio.MissingColumnsError`)."""
    wanted = dict.fromkeys(features, "the model")
    wanted.update(dict.fromkeys(keep_columns, "--keep"))
    if id_column:
        wanted[id_column] = "--id-column"
    return wanted


def _feature_names(model: Any) -> list[str] | None:
    names = getattr(model, "feature_names_in_", None)
    return None if names is None else [str(c) for c in names]


def score_frame(
    model: Any,
    frame: pd.DataFrame,
    id_column: str | None = None,
    keep_columns: Sequence[str] = (),
    copies: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """``[id_column,] [keep_columns...,] energy, is_anomaly`` for the rows of ``frame``.

    Parameters
    ----------
    model : fitted DAGMM
        Scores the rows (:meth:`~dagmm.DAGMM.decision_function`); its
        ``threshold_`` sets ``is_anomaly``.
    frame : DataFrame of shape (n_rows, n_columns)
        The model's columns, plus ``id_column`` and ``keep_columns`` when given.
    id_column : str, optional
        A column of ``frame`` that is not a feature: left out of the scoring and
        copied to the output's first column.
    keep_columns : sequence of str, default ()
        More columns of ``frame`` copied to the output, after ``id_column``. A
        model feature among them is scored as well; for a model fitted on an
        unnamed array they are not features (left out of the scoring).
    copies : DataFrame, optional
        The values written for the copied columns it holds, row for row with
        ``frame`` (as :func:`dagmm.tableio.iter_table_copies` reads them: a file's
        text, not the numbers a feature among them is scored from); default:
        ``frame``'s. Copied as they are, their dtypes kept.

    Returns
    -------
    DataFrame of shape (n_rows, n_copied + 2)
        One row per row of ``frame``, in its order, with a fresh 0-based index:
        the copied columns, ``energy`` (float64; higher is more anomalous) and
        ``is_anomaly`` (int8, 1 where ``energy > model.threshold_``).

    Raises
    ------
    InvalidInputError
        A column is missing, a copied column is named twice or ``energy`` /
        ``is_anomaly``, or a value cannot be scored (as ``decision_function``).
    NumericalError
        A row's energy is not finite.
    """
    copied = copied_columns(id_column, keep_columns)
    features = _feature_names(model)
    absent = [c for c in copied if c not in frame.columns]
    if absent:
        raise InvalidInputError(f"missing column(s) {absent}; the input has {list(frame.columns)}")
    not_features = [c for c in copied if features is None or c not in features]
    energy = model.decision_function(frame.drop(columns=not_features) if not_features else frame)
    out = pd.DataFrame(
        {"energy": energy, "is_anomaly": (energy > model.threshold_).astype(np.int8)}
    )
    for position, name in enumerate(copied):
        source = copies if copies is not None and name in copies.columns else frame
        # the array itself: a nullable Int64's to_numpy() would be float64
        out.insert(position, name, source[name].array)
    return out


def score_file(
    model: Any,
    data_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    id_column: str | None = None,
    chunk_rows: int = 65536,
    progress: Callable[[int], None] | None = None,
    keep_columns: Sequence[str] = (),
    only_anomalies: bool = False,
    csv_format: CsvFormat | None = None,
) -> ScoredRows:
    """Score ``data_path`` chunk by chunk into ``out_path``; return the counts.

    Only the model's columns (and the copied ones) are read, when the model was
    fitted on a DataFrame; otherwise every column is. In a CSV file the model's
    categorical columns, and the copied columns that are not features, are read
    as text ("NA" is a category there, not missing), and the copied columns are
    written as the file holds them (:func:`dagmm.tableio.iter_table_copies`: a CSV
    file's text, ``00042`` and ``1e5`` as written; a Parquet file's nullable integers as
    integers), a feature among them scored from its numbers. Categorical values training
    never saw are counted over the whole file, in one
    :class:`~dagmm.tabular.UnseenCategoryWarning` at the end. Nothing is left at
    ``out_path`` if any chunk fails (an existing file there is kept); errors name
    the file and the row.

    Parameters
    ----------
    model : fitted DAGMM
        Scores the rows; its ``threshold_`` sets ``is_anomaly``.
    data_path : str or PathLike
        The rows to score: a CSV (optionally compressed), Parquet, Arrow IPC
        (Feather) or JSON Lines file, or a folder of Parquet files; the format is
        taken from the name.
    out_path : str or PathLike
        The output file, by its name CSV (``.csv``, ``.csv.gz``, ``.tsv``, ...),
        Parquet (``.parquet``, ``.pq``) or JSON Lines (``.jsonl``, ``.ndjson``,
        ``.jsonl.gz``), with the columns of :func:`score_frame` in the input's row
        order. Written under a temporary name and renamed when complete.
    id_column : str, optional
        A column of the input copied to the output's first column (not a feature).
    chunk_rows : int, default 65536
        Rows read and scored at once; bounds the memory used.
    progress : callable, optional
        Called after each chunk is written with that chunk's number of rows.
    keep_columns : sequence of str, default ()
        More input columns copied to the output (see :func:`score_frame`).
    only_anomalies : bool, default False
        Write only the flagged rows, an alerts file, each with its 0-based
        position in the input as a first column ``row``.
    csv_format : CsvFormat, optional
        How a CSV input writes its numbers and missing values (see
        :func:`dagmm.tableio.iter_table`).

    Returns
    -------
    ScoredRows
        Rows scored, rows flagged, rows written.

    Raises
    ------
    DataFileError
        The input is missing, of an unsupported type, unreadable, lacks a column
        (``id_column`` and ``keep_columns`` included) or has no rows; the output's
        type is unsupported.
    InvalidInputError, NumericalError
        A row cannot be scored (see :func:`score_frame`), or a copied column is
        named twice or as an output column; the message names the file and the
        row's position in it.
    OSError
        The output's folder is missing or not writable, or ``out_path`` is a folder.
    """
    copied = copied_columns(id_column, keep_columns, only_anomalies)
    features = _feature_names(model)
    columns = None if features is None else list(dict.fromkeys([*features, *copied]))
    text = text_columns(model) + [c for c in copied if features is None or c not in features]
    wanted_by = columns_wanted_by_whom(features or [], id_column, keep_columns)
    start = flagged = written = 0
    with (
        TableWriter(out_path) as writer,
        summed_unseen_categories(f"{data_path}: "),
        columns_wanted_by(wanted_by),
    ):
        for chunk, copies in iter_table_copies(
            data_path,
            chunk_rows,
            columns,
            copied,
            text_columns=text,
            categories=text_columns(model),
            csv_format=csv_format,
        ):
            absent = [c for c in copied if c not in chunk.columns]
            if absent:
                raise MissingColumnsError(data_path, absent, [str(c) for c in chunk.columns])
            chunk.index = pd.RangeIndex(start, start + len(chunk))
            try:
                scored = score_frame(model, chunk, id_column, keep_columns, copies)
            except (InvalidInputError, NumericalError) as exc:
                raise type(exc)(f"{data_path}: {exc}") from None
            alerts = scored["is_anomaly"].to_numpy() == 1
            if only_anomalies:
                scored = scored[alerts]
                scored.insert(0, "row", np.flatnonzero(alerts) + start)
            writer.write(scored)
            start += len(chunk)
            flagged += int(alerts.sum())
            written += len(scored)
            if progress is not None:
                progress(len(chunk))
        if start == 0:
            raise DataFileError(f"{data_path}: no rows to score")
    return ScoredRows(start, flagged, written)
