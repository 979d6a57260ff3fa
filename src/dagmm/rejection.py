"""Learning to reject: which labels are too unstable to give (Perini et al., 2023).

PyOD's ``BaseDetector.predict_with_rejection`` and ``compute_rejection_stats``: a
label whose ExCeeD confidence (:meth:`dagmm.DAGMM.predict_confidence`) is at most
``1 - 2 exp(-T)`` away from a coin toss is withheld, and the share of rows so
withheld, and the cost of the predictions, are bounded from the number of training
energies and the contamination alone. Pure functions of those numbers.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

__all__ = ["REJECTED", "RejectionStats", "rejected", "rejection_stats"]

#: The label of a withheld prediction (PyOD's).
REJECTED = -2


class RejectionStats(NamedTuple):
    """What rejecting at ``T`` costs, from ``n`` training energies.

    Attributes
    ----------
    expected_rejection_rate : float
        The share of rows expected to be withheld.
    upper_bound_rejection_rate : float
        A bound on that share holding with probability ``1 - delta``.
    upper_bound_cost : float
        A bound on the expected cost of a prediction (false positives, false
        negatives and rejections, each at its cost).
    """

    expected_rejection_rate: float
    upper_bound_rejection_rate: float
    upper_bound_cost: float


def check_rejection_args(T: float, delta: float, costs: dict[str, float]) -> None:
    """Raise ``ValueError`` naming the argument out of its range (PyOD replaces such a
    value by its default with a warning, which a result can then hide)."""
    if not (isinstance(T, (int, float)) and math.isfinite(T) and T > 0):
        raise ValueError(f"T must be a positive number, got {T!r}")
    if not (isinstance(delta, (int, float)) and 0 < delta < 1):
        raise ValueError(f"delta must be in (0, 1), got {delta!r}")
    for name, cost in costs.items():
        if not (isinstance(cost, (int, float)) and math.isfinite(cost) and cost >= 0):
            raise ValueError(f"{name} must be a non-negative number, got {cost!r}")


def rejected(confidence: np.ndarray, T: float) -> np.ndarray:
    """Which labels to withhold: confidence within ``1 - 2 exp(-T)`` of 1/2, scaled.

    Parameters
    ----------
    confidence : ndarray of shape (n_samples,)
        Each label's confidence, in [0, 1] (symmetric: ``c`` and ``1 - c`` alike).
    T : float
        Positive; the larger, the more labels are withheld.

    Returns
    -------
    ndarray of shape (n_samples,), bool
    """
    return 2.0 * np.abs(confidence - 0.5) <= 1.0 - 2.0 * math.exp(-T)


def _binomial_root(k: int, n: int, level: float) -> float:
    """The ``p`` at which ``P(Binomial(n, p) <= k) = level``."""
    from scipy.optimize import root_scalar
    from scipy.stats import binom

    return float(
        root_scalar(lambda p: binom.cdf(k, n, p) - level, bracket=[0.0, 1.0], method="brentq").root
    )


def rejection_stats(
    n: int,
    contamination: float,
    T: float,
    delta: float,
    c_fp: float,
    c_fn: float,
    c_r: float,
) -> RejectionStats:
    """PyOD's ``compute_rejection_stats`` for ``n`` training energies.

    Parameters
    ----------
    n : int
        The number of training energies.
    contamination : float
        The share of them above the threshold.
    T : float
        The rejection parameter of :func:`rejected`.
    delta : float
        In (0, 1): the upper bound on the rejection rate holds with probability
        ``1 - delta``.
    c_fp, c_fn, c_r : float
        The costs of a false positive, a false negative and a rejection.

    Returns
    -------
    RejectionStats

    Raises
    ------
    ValueError
        When fewer than one of the ``n`` training energies lies above the threshold
        (``n * contamination < 1``): the bounds are then undefined.
    """
    above = int(n * contamination)
    if above < 1:
        raise ValueError(
            f"rejection statistics need at least one training energy above the threshold; "
            f"{n} x contamination {contamination:g} gives none"
        )
    low = _binomial_root(above - 1, n, 1.0 - math.exp(-T))
    high = _binomial_root(above - 1, n, math.exp(-T))
    expected = high - low

    right = (-contamination * (n + 2) + n + 1) / n + (T * (n + 2)) / math.sqrt(2 * n**3 * T)
    radicand = (
        0.5
        * n**5
        * (
            2
            * n
            * (-3 * contamination**2 - 2 * n * (1 - contamination) ** 2 + 4 * contamination - 3)
            + T * (n + 2) ** 2
            - 8
        )
    )
    # PyOD takes max(0, nan) = 0 where the radicand is negative
    left = (
        (2 + n * (1 - contamination) * (n + 1)) / n**2 - math.sqrt(radicand) / n**4
        if radicand >= 0
        else 0.0
    )
    upper_rate = min(1.0, right) - max(0.0, left) + 2 * math.sqrt(math.log(2 / delta) / (2 * n))
    cost = min(contamination, low) * c_fp + min(1 - high, contamination) * c_fn + expected * c_r
    return RejectionStats(expected, upper_rate, cost)
