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
    """``[id_column,] energy, is_anomaly`` for the rows of ``frame``."""
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

    Only the model's columns (and ``id_column``) are read. Nothing is left at
    ``out_path`` if any chunk fails; errors name the file and the row.
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
