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

__all__ = [
    "MAX_LEVELS",
    "Levels",
    "column_levels",
    "member_levels",
    "merge_levels",
    "pack_levels",
    "unpack_levels",
]

#: The most distinct training values a column may hold to keep them as its levels.
MAX_LEVELS = 32
#: Rows read first, each column's values sorted: most columns of measurements show
#: more than ``MAX_LEVELS`` values there and are dropped before the full pass.
_HEAD_ROWS = 1024
#: Values per block of the full pass (rows x columns still in play): bounds its memory.
_BLOCK_VALUES = 1 << 22

Levels = list[np.ndarray | None]


def column_levels(
    values: np.ndarray,
    max_levels: int = MAX_LEVELS,
    columns: Sequence[int] | None = None,
    stand_ins: np.ndarray | None = None,
) -> Levels:
    """Each column's sorted distinct values, or None where it holds more than ``max_levels``.

    Parameters
    ----------
    values : ndarray of shape (n_rows, F)
        Finite values (the encoded training rows, before the network's scaling).
    max_levels : int
    columns : sequence of int, optional
        The columns to look at (default: all); the others get None.
    stand_ins : bool ndarray of shape (n_rows, F), optional
        True where a value stands in for a missing one (``missing="impute"``'s
        median): dropped from its column's levels unless a row of its own holds
        it, so that an even split of 0s and 1s does not offer the median 0.5.

    Returns
    -------
    list of F entries, each a float64 ndarray of shape (n_levels,), sorted, or None.
    """
    n_rows, n_features = values.shape
    if n_rows == 0:
        return [None] * n_features
    head = values[:_HEAD_ROWS]
    alive: dict[int, np.ndarray] = {}  # the columns still in play, and their levels so far
    for f in range(n_features) if columns is None else columns:
        seen = np.unique(head[:, f])
        if len(seen) <= max_levels:
            alive[f] = seen
    start = _HEAD_ROWS
    while alive and start < n_rows:
        stop = min(n_rows, start + max(1024, _BLOCK_VALUES // len(alive)))
        # Columns of similar level counts together: each value is compared with as many
        # levels as its column's group holds at most (a 0/1 flag with 2, not 32).
        buckets: dict[int, list[int]] = {}
        for f, levels in alive.items():
            buckets.setdefault(int(np.ceil(np.log2(len(levels)))), []).append(f)
        for order in buckets.values():
            _grow(alive, order, values[start:stop, order], max_levels)
        start = stop
    found: Levels = [None] * n_features
    for f, levels in alive.items():
        if stand_ins is not None and stand_ins[:, f].any():
            levels = _without_stand_in(levels, values[:, f], stand_ins[:, f])
        found[f] = levels.astype(np.float64) if len(levels) else None
    return found


def _grow(alive: dict[int, np.ndarray], order: list[int], block: np.ndarray, most: int) -> None:
    """Add the values of ``block`` (rows x the columns ``order``) to each column's levels
    in ``alive``; drop a column past ``most`` levels."""
    width = max(len(alive[f]) for f in order)
    # each column's known levels, padded with its last one, against the whole block
    known = np.stack([np.pad(alive[f], (0, width - len(alive[f])), "edge") for f in order], 1)
    held = block == known[0]
    for level in known[1:]:
        held |= block == level
    for j in np.flatnonzero(~held.all(axis=0)):
        f = order[j]
        grown = np.union1d(alive[f], block[~held[:, j], j])
        if len(grown) <= most:
            alive[f] = grown
        else:
            del alive[f]


def _without_stand_in(levels: np.ndarray, column: np.ndarray, stand_in: np.ndarray) -> np.ndarray:
    """``levels`` without the column's imputed value unless a row of its own holds it."""
    imputed = column[np.argmax(stand_in)]  # a column's stand-ins are all the same value
    if (column[~stand_in] == imputed).any():
        return levels
    return levels[levels != imputed]


def member_levels(
    values: np.ndarray,
    member_rows: Sequence[np.ndarray],
    columns: Sequence[int],
    stand_ins: np.ndarray | None = None,
) -> list[Levels]:
    """:func:`column_levels` of each member's rows ``values[rows]`` (members on the same
    rows, such as restarts, share one computation)."""
    done: list[tuple[np.ndarray, Levels]] = []
    out = []
    for rows in member_rows:
        rows = np.asarray(rows)
        same = next((lv for r, lv in done if r is rows or np.array_equal(r, rows)), None)
        if same is None:
            every = len(rows) == len(values) and bool((rows == np.arange(len(rows))).all())
            part = values if every else values[rows]
            marks = None if stand_ins is None else stand_ins if every else stand_ins[rows]
            same = column_levels(part, columns=columns, stand_ins=marks)
            done.append((rows, same))
        out.append(same)
    return out


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
