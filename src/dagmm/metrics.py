"""Evaluation under the paper's protocol: flag the top ``ratio`` of scores, score P/R/F1."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

__all__ = ["evaluate", "precision_recall_f1_at_ratio"]


def precision_recall_f1_at_ratio(
    y_true: np.ndarray, scores: np.ndarray, ratio: float
) -> tuple[float, float, float]:
    """Precision, recall and F1 of flagging scores above the ``1 - ratio`` quantile.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        1 = anomaly (the positive class), 0 = normal. Flattened and cast to int.
    scores : array-like of shape (n_samples,)
        Higher = more anomalous. Flattened and cast to float.
    ratio : float in [0, 1]
        Fraction of rows to flag (the paper's rho). The rows flagged are those
        strictly above the ``100 * (1 - ratio)`` percentile of ``scores`` (linear
        interpolation), so ties at the threshold can leave fewer than ``ratio`` flagged.

    Returns
    -------
    precision : float
        Share of the flagged rows that are anomalies; 0.0 when no row is flagged.
    recall : float
        Share of the anomalies that are flagged; 0.0 when ``y_true`` has no anomaly.
    f1 : float
        Harmonic mean of ``precision`` and ``recall``; 0.0 when both are 0.

    Raises
    ------
    ValueError
        If ``y_true`` and ``scores`` do not have the same number of elements, or
        ``ratio`` is outside [0, 1].
    """
    y_true = np.asarray(y_true).astype(int).ravel()
    scores = np.asarray(scores, dtype=float).ravel()
    if y_true.shape != scores.shape:
        raise ValueError(f"y_true has {y_true.size} rows but scores has {scores.size}")
    threshold = np.percentile(scores, 100.0 * (1.0 - ratio))
    flagged = scores > threshold
    true_pos = int(np.sum(flagged & (y_true == 1)))
    precision = true_pos / max(int(flagged.sum()), 1)
    recall = true_pos / max(int((y_true == 1).sum()), 1)
    f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return float(precision), float(recall), float(f1)


def evaluate(y_true: np.ndarray, scores: np.ndarray, ratio: float) -> dict[str, float]:
    """P/R/F1 at ``ratio`` plus AUROC and AUPRC (which need no ratio).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        1 = anomaly (the positive class), 0 = normal.
    scores : array-like of shape (n_samples,)
        Higher = more anomalous.
    ratio : float in [0, 1]
        Fraction of rows flagged for precision, recall and F1 (the paper's rho);
        see :func:`precision_recall_f1_at_ratio`.

    Returns
    -------
    dict of str to float
        ``precision``, ``recall`` and ``f1`` from
        :func:`precision_recall_f1_at_ratio`; ``auroc`` (area under the ROC curve)
        and ``auprc`` (average precision, anomaly as the positive class), both NaN
        when ``y_true`` does not contain both classes.

    Raises
    ------
    ValueError
        If ``y_true`` and ``scores`` do not have the same number of elements, or
        ``ratio`` is outside [0, 1].
    """
    precision, recall, f1 = precision_recall_f1_at_ratio(y_true, scores, ratio)
    y_true = np.asarray(y_true).astype(int).ravel()
    both = len(np.unique(y_true)) == 2
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "auroc": float(roc_auc_score(y_true, scores)) if both else float("nan"),
        "auprc": float(average_precision_score(y_true, scores)) if both else float("nan"),
    }
