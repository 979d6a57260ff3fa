"""Exact quantiles of more values than fit in memory at once, or spread over processes.

``np.percentile`` needs all values in one array. :func:`exact_quantile` gives
the same number, bit for bit, from values it sees chunk by chunk in a few
passes (and from several processes, given a sum and a gather), by narrowing
an interval of the values' order-preserving integer keys with bucket counts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["exact_median", "exact_quantile"]

_SIGN = np.uint64(0x8000000000000000)


def _ordered(values: np.ndarray) -> np.ndarray:
    """Map float64 to uint64 keys with the same order (finite values)."""
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)
    return np.where(bits & _SIGN, ~bits, bits | _SIGN)


def _unordered(keys: np.ndarray) -> np.ndarray:
    keys = np.asarray(keys, dtype=np.uint64)
    bits = np.where(keys & _SIGN, keys & ~_SIGN, ~keys)
    return bits.view(np.float64)


def _kth_smallest(
    chunks: Any,
    k: int,
    reduce_counts: Any,
    gather: Any,
    n_buckets: int = 4096,
    small: int = 1 << 16,
) -> float:
    """Exact k-th smallest (0-based) of values spread over chunks and processes.

    Narrows a key interval with bucket counts until at most ``small`` values
    remain in it, then sorts those. Each round is one pass over ``chunks()``.
    """
    lo, hi = 0, (1 << 64) - 1  # inclusive key interval holding the answer
    below = 0  # values with a key < lo
    while True:
        width = (hi - lo) // n_buckets + 1
        counts = np.zeros(n_buckets, dtype=np.int64)
        for chunk in chunks():
            keys = _ordered(chunk)
            keys = keys[(keys >= np.uint64(lo)) & (keys <= np.uint64(hi))]
            counts += np.bincount(
                ((keys - np.uint64(lo)) // np.uint64(width)).astype(np.int64),
                minlength=n_buckets,
            )
        counts = reduce_counts(counts)
        inside = int(counts.sum())
        if inside <= small or width == 1:
            kept = [
                k_[(k_ >= np.uint64(lo)) & (k_ <= np.uint64(hi))]
                for k_ in (_ordered(c) for c in chunks())
            ]
            candidates = np.sort(np.concatenate([*gather(np.concatenate([*kept, _EMPTY]))]))
            return float(_unordered(candidates[k - below : k - below + 1])[0])
        cumulative = below + np.cumsum(counts)
        bucket = int(np.searchsorted(cumulative, k, side="right"))
        below = int(cumulative[bucket - 1]) if bucket > 0 else below
        lo, hi = lo + bucket * width, min(hi, lo + (bucket + 1) * width - 1)


_EMPTY = np.zeros(0, dtype=np.uint64)


def exact_quantile(
    chunks: Any,
    q: float,
    n_total: int,
    reduce_counts: Any = None,
    gather: Any = None,
    small: int = 1 << 16,
) -> float:
    """``np.percentile(values, 100 q)`` (linear interpolation) of values too many to sort at once.

    Parameters
    ----------
    chunks : callable
        Returns a fresh iterable of float64 arrays (this process's values) on
        each call; it is called a few times (about 2 to 6 passes).
    q : float
        Quantile in [0, 1].
    n_total : int
        Number of values over all chunks and processes.
    reduce_counts : callable, optional
        Sums an int64 array over processes (default: one process).
    gather : callable, optional
        Every process's uint64 array, as a list (default: one process).
    small : int
        Once at most this many values are left in the interval, they are sorted.
    """
    if n_total < 1:
        raise ValueError("quantile of no values")
    reduce_counts = reduce_counts or (lambda c: c)
    gather = gather or (lambda a: [a])
    # numpy's "linear" method step by step (percent -> fraction -> index -> lerp), so
    # the result equals np.percentile(values, 100 q) bit for bit.
    fraction = np.true_divide(np.float64(100.0 * q), 100)
    position = (n_total - 1) * fraction
    low = int(np.floor(position))
    t = float(position - low)
    a = _kth_smallest(chunks, low, reduce_counts, gather, small=small)
    if low + 1 >= n_total:
        return a
    b = _kth_smallest(chunks, low + 1, reduce_counts, gather, small=small)
    diff = b - a
    return float(b - diff * (1.0 - t)) if t >= 0.5 else float(a + diff * t)


def exact_median(
    chunks: Any,
    n_total: int,
    reduce_counts: Any = None,
    gather: Any = None,
    small: int = 1 << 16,
) -> float:
    """``np.median(values)`` of values too many to sort at once, bit for bit: the middle
    value, or the mean of the two middle ones (which :func:`exact_quantile`'s linear
    interpolation may round differently). Parameters as :func:`exact_quantile`'s."""
    if n_total < 1:
        raise ValueError("median of no values")
    reduce_counts = reduce_counts or (lambda c: c)
    gather = gather or (lambda a: [a])
    k = (n_total - 1) // 2
    a = _kth_smallest(chunks, k, reduce_counts, gather, small=small)
    if n_total % 2:
        return a
    b = _kth_smallest(chunks, k + 1, reduce_counts, gather, small=small)
    return float(np.mean(np.array([a, b])))
