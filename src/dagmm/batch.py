"""Scoring files in bounded memory: stream rows in chunks, write energies and labels."""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import pandas as pd

from .exceptions import InvalidInputError, NumericalError
from .tableio import DataFileError, TableWriter, iter_table, text_columns

__all__ = ["score_file", "score_frame"]


def score_frame(model, frame: pd.DataFrame, id_column: str | None = None) -> pd.DataFrame:
    """``[id_column,] energy, is_anomaly`` for the rows of ``frame``.

    Parameters
    ----------
    model : fitted DAGMM
        Scores the rows (:meth:`~dagmm.DAGMM.decision_function`); its
        ``threshold_`` sets ``is_anomaly``.
    frame : DataFrame of shape (n_rows, n_columns)
        The model's columns, plus ``id_column`` when given.
    id_column : str, optional
        A column of ``frame`` that is not a feature: left out of the scoring and
        copied to the output's first column.

    Returns
    -------
    DataFrame of shape (n_rows, 2) or (n_rows, 3)
        One row per row of ``frame``, in its order, with a fresh 0-based index:
        ``id_column`` (when given), ``energy`` (float64; higher is more anomalous)
        and ``is_anomaly`` (int8, 1 where ``energy > model.threshold_``).

    Raises
    ------
    InvalidInputError
        A column is missing or a value cannot be scored (as ``decision_function``).
    NumericalError
        A row's energy is not finite.
    """
    features = frame.drop(columns=[id_column]) if id_column else frame
    energy = model.decision_function(features)
    out = pd.DataFrame(
        {"energy": energy, "is_anomaly": (energy > model.threshold_).astype(np.int8)}
    )
    if id_column:
        out.insert(0, id_column, frame[id_column].to_numpy())
    return out


def score_file(
    model,
    data_path: str | os.PathLike,
    out_path: str | os.PathLike,
    id_column: str | None = None,
    chunk_rows: int = 65536,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Score ``data_path`` chunk by chunk into ``out_path`` (CSV or Parquet); return the row count.

    Only the model's columns (and ``id_column``) are read, when the model was
    fitted on a DataFrame; otherwise every column is. In a CSV file the model's
    categorical columns are read as text ("NA" is a category there, not missing).
    Nothing is left at ``out_path`` if any chunk fails (an existing file there is
    kept); errors name the file and the row.

    Parameters
    ----------
    model : fitted DAGMM
        Scores the rows; its ``threshold_`` sets ``is_anomaly``.
    data_path : str or PathLike
        The rows to score: a CSV (optionally compressed), Parquet, Arrow IPC
        (Feather) or JSON Lines file, or a folder of Parquet files; the format is
        taken from the name.
    out_path : str or PathLike
        The output file, CSV (``.csv``, ``.csv.gz``, ...) or Parquet (``.parquet``,
        ``.pq``) by its name, with the columns of :func:`score_frame`, in the
        input's row order. Written under a temporary name and renamed when complete.
    id_column : str, optional
        A column of the input copied to the output's first column (not a feature).
    chunk_rows : int, default 65536
        Rows read and scored at once; bounds the memory used.
    progress : callable, optional
        Called after each chunk is written with that chunk's number of rows.

    Returns
    -------
    int
        The number of rows scored (and written).

    Raises
    ------
    DataFileError
        The input is missing, of an unsupported type, unreadable, lacks a column
        (``id_column`` included) or has no rows; the output's type is unsupported.
    InvalidInputError, NumericalError
        A row cannot be scored (see :func:`score_frame`); the message names the
        file and the row's position in it.
    OSError
        The output's folder is missing or not writable, or ``out_path`` is a folder.
    """
    columns = None
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        columns = [str(c) for c in names] + ([id_column] if id_column else [])
    elif id_column:
        columns = None
    text = text_columns(model) + ([id_column] if id_column else [])
    start = 0
    with TableWriter(out_path) as writer:
        for chunk in iter_table(data_path, chunk_rows, columns, text_columns=text):
            if id_column and id_column not in chunk.columns:
                raise DataFileError(f"{data_path}: id column {id_column!r} not found")
            chunk.index = pd.RangeIndex(start, start + len(chunk))
            try:
                writer.write(score_frame(model, chunk, id_column))
            except (InvalidInputError, NumericalError) as exc:
                raise type(exc)(f"{data_path}: {exc}") from None
            start += len(chunk)
            if progress is not None:
                progress(len(chunk))
        if start == 0:
            raise DataFileError(f"{data_path}: no rows to score")
    return start
