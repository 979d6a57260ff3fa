"""Each input column's distinct training values, for a column that holds few.

Pure numpy: no torch, no files. :mod:`dagmm.explain` offers a column's most
normal value among these levels (a flag stays 0 or 1, a count a count seen in
training) instead of a grid over its range, which would suggest ``0.35`` for a
0/1 column. A column's levels are a sorted float64 array of its distinct
values when it has at most :data:`MAX_LEVELS`, else None.

In a model file the levels are two tensors (:func:`pack_levels`): the values,
``(MAX_LEVELS, F)`` float64, each column's sorted levels padded with its last
one (a column without levels holds zeros), and their counts, ``(F,)`` int64
(0: no levels).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["MAX_LEVELS", "Levels", "column_levels", "merge_levels", "pack_levels", "unpack_levels"]

#: The most distinct training values a column may hold to keep them as its levels.
MAX_LEVELS = 32
#: Rows read first, each column's values sorted: most columns of measurements show
#: more than ``MAX_LEVELS`` values there and are dropped before the full pass.
_HEAD_ROWS = 1024
#: Rows per block of the full pass over the columns still in play.
_BLOCK_ROWS = 65536

Levels = list[np.ndarray | None]


def column_levels(values: np.ndarray, max_levels: int = MAX_LEVELS) -> Levels:
    """Each column's sorted distinct values, or None where it holds more than ``max_levels``.

    Parameters
    ----------
    values : ndarray of shape (n_rows, F)
        Finite values (the encoded training rows, before the network's scaling).
    max_levels : int

    Returns
    -------
    list of F entries, each a float64 ndarray of shape (n_levels,), sorted, or None.
    """
    n_rows, n_features = values.shape
    found: Levels = [None] * n_features
    if n_rows == 0:
        return found
    head = values[:_HEAD_ROWS]
    alive = []
    for f in range(n_features):
        seen = np.unique(head[:, f])
        if len(seen) <= max_levels:
            found[f] = seen
            alive.append(f)
    for start in range(_HEAD_ROWS, n_rows, _BLOCK_ROWS):
        if not alive:
            break
        block = np.ascontiguousarray(values[start : start + _BLOCK_ROWS, alive].T)
        still = []
        for f, column in zip(alive, block, strict=True):
            known = found[f]
            assert known is not None  # alive
            at = np.searchsorted(known, column).clip(max=len(known) - 1)
            new = known[at] != column
            if new.any():
                known = np.union1d(known, column[new])
                if len(known) > max_levels:
                    found[f] = None
                    continue
                found[f] = known
            still.append(f)
        alive = still
    return [None if v is None else v.astype(np.float64) for v in found]


def merge_levels(parts: Sequence[Levels], max_levels: int = MAX_LEVELS) -> Levels:
    """The levels of the union of the row sets ``parts`` describe (one entry per set).

    A column keeps levels only where every part has them and their union holds at
    most ``max_levels`` values.
    """
    merged: Levels = []
    for columns in zip(*parts, strict=True):
        if any(c is None for c in columns):
            merged.append(None)
            continue
        union = np.unique(np.concatenate(columns))
        merged.append(union if len(union) <= max_levels else None)
    return merged


def pack_levels(levels: Levels, max_levels: int = MAX_LEVELS) -> tuple[np.ndarray, np.ndarray]:
    """``(values, counts)``: levels as a ``(max_levels, F)`` float64 array and ``(F,)`` int64."""
    values = np.zeros((max_levels, len(levels)))
    counts = np.zeros(len(levels), dtype=np.int64)
    for f, column in enumerate(levels):
        if column is not None:
            counts[f] = len(column)
            values[: len(column), f] = column
            values[len(column) :, f] = column[-1]
    return values, counts


def unpack_levels(values: np.ndarray, counts: np.ndarray) -> Levels:
    """The levels :func:`pack_levels` packed, checked.

    Raises
    ------
    ValueError
        Naming the first column whose entry is not what :func:`pack_levels`
        writes (a count outside ``[0, max_levels]``, levels not strictly
        increasing, padding that does not repeat the last level).
    """
    if values.ndim != 2 or counts.shape != (values.shape[1],):
        raise ValueError(f"levels {values.shape} and counts {counts.shape} do not match")
    levels: Levels = []
    for f, count in enumerate(counts.tolist()):
        if not 0 <= count <= values.shape[0]:
            raise ValueError(f"column {f} has {count} levels, outside 0..{values.shape[0]}")
        column = values[:, f]
        if count == 0:
            levels.append(None)
            continue
        held = column[:count]
        if (np.diff(held) <= 0).any() or (column[count:] != held[-1]).any():
            raise ValueError(f"column {f}'s levels are not sorted distinct values and padding")
        levels.append(held.copy())
    return levels
