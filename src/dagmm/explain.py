"""Per-row explanations: which original columns drive a row's energy.

Pure computation (torch autograd and pandas); no plotting, no files.

For every row the network sees the scaled input ``x`` (after one-hot encoding
and the scaling fitted on the training rows) and reconstructs it as ``x_hat``.
Three per-column quantities are computed, each for an ORIGINAL column (a
categorical column's one-hot group counts as one column):

``contribution`` (the ranking score)
    How much lower the row's energy would be if this column alone took its
    most normal value: ``E(x) - min_v E(x with column := v)``, never negative.
    The candidates ``v`` are every training category for a categorical column;
    for a numeric column, its distinct training values where it holds at most
    32 (``DAGMM.input_levels_``: a 0/1 flag is offered 0 and 1, not 0.35),
    else 21 evenly spaced values over its training range (its minimum to its
    maximum, ``DAGMM.input_range_``), whatever the scaler, so ``expected``
    never leaves the values training saw. The minimising value is reported as
    ``expected``. A model loaded from a file of format version 3 keeps no
    levels and searches every numeric column's range. A model loaded from a file
    written before the range was kept (format versions 1 and 2) has none, and
    searches as releases before it did: ``[0, 1]`` scaled with min-max
    scaling, ``[-3, 3]`` standard deviations with standard scaling, and
    otherwise (``"auto"``, no scaling) a grid around the row's
    reconstruction, which can leave the training range.
``gradient``
    ``sum_j dE/dx_j * (x_j - x_hat_j)``: the gradient of the energy with
    respect to the SCALED input (so columns in different units compare), times
    the row's deviation from its own reconstruction, i.e. the first-order
    estimate of the energy change from moving the column to its reconstructed
    value. Gradient x deviation rather than gradient x input because under
    min-max scaling an input of 0 only means "the training minimum", an
    arbitrary baseline; rather than ``|grad|`` because sensitivity is not
    abnormality (a column the energy is steep in but whose value is perfectly
    normal would rank first).
``reconstruction_error``
    ``sum_j (x_j - x_hat_j)^2``: the column's share of the squared
    reconstruction error behind the relative-distance and cosine features.

Why rank by the counterfactual drop and not by the gradient: a one-hot column
changes by a jump of 1, far outside the range where a first-order estimate
holds, and the gradient's component along a one-hot group's all-ones direction
(an infeasible move) does not cancel; numeric anomalies of several standard
deviations are also beyond the linear regime. On planted anomalies
(``benchmarks/explain_planted.py``) the counterfactual ranks the planted column
first clearly more often than gradient x deviation or the reconstruction error
alone; both are still reported, because they say different things (how
sensitive the energy is; what the autoencoder fails to reproduce).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from .exceptions import InvalidInputError
from .mixture import sample_energy
from .tabular import as_table
from .training import MIXTURE_DTYPE

__all__ = ["MISSING_VALUE", "UNSEEN_CATEGORY", "explain", "explain_encoded"]

#: Shown as the value of a categorical column whose category training never saw.
UNSEEN_CATEGORY = "<unseen>"
#: Shown as the value of a column whose value was missing (or, numeric, not finite) and
#: imputed (``missing="impute"``): the network saw the training median or most frequent
#: category, which the row does not hold.
MISSING_VALUE = "<missing>"

_CHUNK_ROWS = 4096


def _scores(model: Any, z: torch.Tensor, mixture: list[torch.Tensor]) -> torch.Tensor:
    """The model's score of rows whose members' representations are ``z`` (S, n, D):
    the energy, or with several restarts kept their combined standardised energies
    (as :func:`dagmm.estimator.combine_restart_energies`)."""
    weights, means, _, scale_tril = mixture
    energy = sample_energy(z.to(MIXTURE_DTYPE), weights, means, scale_tril)
    if energy.shape[0] == 1:
        return energy[0]
    offsets = torch.as_tensor(model.restart_offsets_, dtype=energy.dtype, device=energy.device)
    scales = torch.as_tensor(model.restart_scales_, dtype=energy.dtype, device=energy.device)
    standardised = (energy - offsets[:, None]) / scales[:, None]
    if model.restart_combine_ == "median":
        return torch.quantile(standardised, 0.5, dim=0)  # the mean of the middle two, as numpy
    return standardised.mean(dim=0)


def _per_feature(model: Any, data: np.ndarray) -> dict[str, np.ndarray]:
    """Score, scaled input, each member's reconstruction and d score/dx (scaled)."""
    net = model.net_
    device = model._scoring_device()
    mixture = list(model._batched_mixture(device))
    members = net.n_members
    net.eval()
    parts: dict[str, list[np.ndarray]] = {"energy": [], "x": [], "x_hat": [], "grad": []}
    for start in range(0, len(data), _CHUNK_ROWS):
        chunk = torch.from_numpy(np.ascontiguousarray(data[start : start + _CHUNK_ROWS]))
        raw = chunk.to(device=device, dtype=torch.float32).unsqueeze(0)
        raw = raw.expand(members, -1, -1).clone().requires_grad_(True)
        with torch.enable_grad():
            out = net(raw)
            score = _scores(model, out.z, mixture)
            # Rows do not interact in eval mode under a fixed mixture, so the gradient
            # of the sum holds every row's own gradient.
            (grad,) = torch.autograd.grad(score.sum(), out.x)
        parts["energy"].append(score.detach().cpu().numpy())
        parts["x"].append(out.x[0].detach().cpu().numpy())
        parts["x_hat"].append(out.x_hat.detach().cpu().numpy())
        parts["grad"].append(grad.detach().cpu().numpy())
    return {k: np.concatenate(v, axis=1 if k in ("x_hat", "grad") else 0) for k, v in parts.items()}


def _numeric_values(model: Any, feature: int, n_grid: int) -> np.ndarray | None:
    """The candidate values of encoded numeric ``feature`` (before the network's
    scaling), float64: its training levels where it holds few
    (``DAGMM.input_levels_``), else ``n_grid`` values evenly spread over its
    training range; None for a model without a stored range (loaded from a file
    of format version 1 or 2)."""
    input_range = getattr(model, "input_range_", None)
    if input_range is None:
        return None
    levels = getattr(model, "input_levels_", None)
    if levels is not None and levels[feature] is not None:
        return levels[feature]
    return np.linspace(input_range[0, feature], input_range[1, feature], n_grid)


def _candidates(model: Any, name: str, idx: list[int], n_grid: int) -> np.ndarray | None:
    """Candidate scaled values of a column, one per line (None: derive them per row)."""
    if name in model.encoder_.categories:
        return np.eye(len(idx), dtype=np.float32)
    grid = _numeric_values(model, idx[0], n_grid)
    if grid is not None:
        net = model.net_
        offset = float(net.input_offset[0, 0, idx[0]])
        scale = float(net.input_scale[0, 0, idx[0]])
        return (grid * scale + offset).astype(np.float32)[:, None]
    if model.scaler == "minmax":
        return np.linspace(0.0, 1.0, n_grid, dtype=np.float32)[:, None]
    if model.scaler == "standard":
        return np.linspace(-3.0, 3.0, n_grid, dtype=np.float32)[:, None]
    return None


def _best_values(
    model: Any, per: dict[str, np.ndarray], n_grid: int
) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """For every row and column, the lowest energy over candidate values and its argmin.

    Returns
    -------
    best_energy : (n_rows, n_columns) float64
    best_scaled : list (one per column) of (n_rows, width) scaled candidate values
    best_index : (n_rows, n_columns) int
        The position of the minimising candidate among the column's candidates.
    """
    net = model.net_
    device = model._scoring_device()
    mixture = list(model._batched_mixture(device))
    offset = net.input_offset[0, 0].detach().cpu().numpy()
    scale = net.input_scale[0, 0].detach().cpu().numpy()
    xs = per["x"]
    n_rows = xs.shape[0]
    groups = model.encoder_.groups
    best_energy = np.empty((n_rows, len(groups)))
    best_index = np.empty((n_rows, len(groups)), dtype=np.intp)
    best_scaled: list[np.ndarray] = []
    net.eval()
    for c, (name, idx) in enumerate(groups):
        fixed = _candidates(model, name, idx, n_grid)
        chosen = np.empty((n_rows, len(idx)), dtype=np.float32)
        rows_per_chunk = max(1, _CHUNK_ROWS * 4 // (len(fixed) if fixed is not None else n_grid))
        for start in range(0, n_rows, rows_per_chunk):
            block = xs[start : start + rows_per_chunk]
            n = block.shape[0]
            if fixed is not None:
                cand = np.broadcast_to(fixed, (n, *fixed.shape))
            else:
                # Unscaled columns: a grid around the reconstruction, at least one unit wide.
                centre = per["x_hat"][:, start : start + n, idx[0]].mean(axis=0)
                width = np.maximum(np.abs(block[:, idx[0]] - centre), 1.0)
                cand = (centre[:, None] + np.linspace(-1, 1, n_grid) * width[:, None])[..., None]
            m = cand.shape[1]
            trial = np.repeat(block[:, None, :], m, axis=1)
            trial[:, :, idx] = cand
            raw = (trial.reshape(n * m, -1) - offset) / scale
            with torch.no_grad():
                x = torch.from_numpy(raw.astype(np.float32)).to(device).unsqueeze(0)
                z = net(x.expand(net.n_members, -1, -1)).z
                energy = _scores(model, z, mixture).cpu().numpy()
            energy = energy.reshape(n, m)
            arg = energy.argmin(axis=1)
            best_energy[start : start + n, c] = energy[np.arange(n), arg]
            best_index[start : start + n, c] = arg
            chosen[start : start + n] = cand[np.arange(n), arg]
        best_scaled.append(chosen)
    return best_energy, best_scaled, best_index


#: The columns of an explanation table, in order (:func:`explain_encoded`).
EXPLANATION_COLUMNS = (
    "row", "energy", "rank", "column", "value", "expected", "contribution", "gradient",
    "reconstruction_error",
)  # fmt: skip


def explain_encoded(
    model: Any,
    data: np.ndarray,
    top_k: int | None = None,
    row_labels: np.ndarray | None = None,
    n_grid: int = 21,
    imputed: np.ndarray | None = None,
) -> pd.DataFrame:
    """Explain rows already encoded by ``model.encoder_`` (see :func:`explain`).

    Parameters
    ----------
    model : fitted DAGMM
        The model whose energy is explained.
    data : ndarray of shape (n_rows, n_features_out)
        Rows as the model's encoder outputs them (one-hot groups, before the
        network's scaling), e.g. ``model._encode(X)``.
    top_k : int or None, default None
        Keep the ``top_k`` columns with the largest contribution per row (all when None).
    row_labels : ndarray of shape (n_rows,), optional
        Values of the output's ``row`` column (e.g. the rows' positions in a larger
        table); default: 0 to n_rows - 1.
    n_grid : int, default 21
        Number of candidate values tried for a numeric column.
    imputed : ndarray of shape (n_rows, n_columns), bool, optional
        The values the encoder imputed (``model.encoder_.imputed(X)``), shown as
        ``"<missing>"``; default: none.

    Returns
    -------
    DataFrame
        As :func:`explain` returns it, ``row`` holding ``row_labels``.

    Raises
    ------
    InvalidInputError
        ``top_k`` is not None or an integer >= 1.
    """
    if top_k is not None and (isinstance(top_k, bool) or int(top_k) != top_k or top_k < 1):
        raise InvalidInputError(f"top_k must be an integer >= 1 or None, got {top_k!r}")
    encoder = model.encoder_
    n_rows = data.shape[0]
    per = _per_feature(model, data)
    # Reported as decision_function reports it (the CPU engine's round-off); the
    # contributions compare energies of one engine, the autograd composition.
    energy = model._energy_numeric(data)
    deviation = per["x"][None] - per["x_hat"]  # (members, rows, features)
    offset = model.net_.input_offset[0, 0].detach().cpu().numpy().astype(np.float64)
    scale = model.net_.input_scale[0, 0].detach().cpu().numpy().astype(np.float64)
    best_energy, best_scaled, best_index = _best_values(model, per, n_grid)

    groups = encoder.groups
    n_cols = len(groups)
    # The energy the row would lose if this column alone took its most normal value;
    # never negative (the observed value is always a candidate in spirit).
    contribution = np.maximum(per["energy"][:, None] - best_energy, 0.0)
    gradient = np.empty((n_rows, n_cols))
    recon = np.empty((n_rows, n_cols))
    value_matrix = np.empty((n_rows, n_cols), dtype=object)
    expected_matrix = np.empty((n_rows, n_cols), dtype=object)
    for c, (name, idx) in enumerate(groups):
        # With several restarts: the first-order change summed over their inputs, and
        # their mean squared reconstruction error.
        gradient[:, c] = (per["grad"][..., idx] * deviation[..., idx]).sum(axis=(0, 2))
        recon[:, c] = np.square(deviation[..., idx]).sum(axis=2).mean(axis=0)
        if name in encoder.categories:
            cats = np.asarray([*encoder.categories[name], UNSEEN_CATEGORY], dtype=object)
            block = data[:, idx]
            observed = np.where(block.max(axis=1) > 0.5, block.argmax(axis=1), len(idx))
            value_matrix[:, c] = cats[observed]
            expected_matrix[:, c] = cats[best_scaled[c].argmax(axis=1)]
        else:
            j = idx[0]
            value = data[:, j].astype(np.float64)
            grid = _numeric_values(model, j, n_grid)
            if grid is not None:
                # the candidate itself: undoing the float32 scaling could step past the range
                expected = grid[best_index[:, c]]
            else:
                expected = (best_scaled[c][:, 0].astype(np.float64) - offset[j]) / scale[j]
            # Reported in the column's own units, not the (log, shifted) ones the network sees.
            value_matrix[:, c] = encoder.numeric_units(name, value)
            expected_matrix[:, c] = encoder.numeric_units(name, expected)

    if imputed is not None:
        # the row does not hold the value the network saw in its place
        value_matrix[np.asarray(imputed, dtype=bool)] = MISSING_VALUE

    k = n_cols if top_k is None else min(int(top_k), n_cols)
    # Stable descending order; ties keep the column order of the table.
    order = np.argsort(-contribution, axis=1, kind="stable")[:, :k]
    rows = np.repeat(np.arange(n_rows), k)
    cols = order.ravel()
    names = np.asarray([name for name, _ in groups], dtype=object)
    labels = np.arange(n_rows) if row_labels is None else np.asarray(row_labels)
    return pd.DataFrame(
        {
            "row": labels[rows],
            "energy": energy[rows],
            "rank": np.tile(np.arange(1, k + 1), n_rows),
            "column": names[cols],
            "value": value_matrix[rows, cols],
            "expected": expected_matrix[rows, cols],
            "contribution": contribution[rows, cols],
            "gradient": gradient[rows, cols],
            "reconstruction_error": recon[rows, cols],
        }
    )


def explain(model: Any, X: Any, top_k: int | None = None) -> pd.DataFrame:
    """Per-row, per-column contributions to the energy, in the ORIGINAL columns.

    Parameters
    ----------
    model : fitted DAGMM
        The model whose energy is explained.
    X : array or DataFrame
        Rows to explain, in the layout the model was fitted on.
    top_k : int or None, default None
        Keep the ``top_k`` columns with the largest contribution per row (all when None).

    Returns
    -------
    DataFrame
        One line per (row, column), sorted by row then rank, with columns

        ``row``
            Position of the row in ``X`` (0-based).
        ``energy``
            The row's energy (as :meth:`DAGMM.decision_function`).
        ``rank``
            1 = the column that pushes the energy up the most.
        ``column``
            Original column name; a categorical column's one-hot group is summed.
        ``value``
            The observed value (the category for categorical columns,
            ``"<unseen>"`` for a category training never saw, ``"<missing>"`` for a
            value missing or, numeric, not finite, that ``missing="impute"``
            replaced). A numeric value is
            the float32 the network reads (the input to about 7 significant
            digits); with ``log_inputs=True`` it is recovered from the
            float32 log the network sees, so it may differ in the 6th or 7th digit.
        ``expected``
            The column's most normal value, in its own units or the category: of
            the candidates (the training categories; a numeric column's distinct
            training values where it has at most 32, such as a flag's 0 and 1,
            else 21 values evenly spread over its training range), the one
            giving the row the lowest energy with the other columns unchanged.
            A model loaded from a file of format version 1 or 2 keeps no
            training range: its numeric candidates are those of older releases
            (see the module docstring), which can lie outside the range with the
            default ``scaler="auto"``.
        ``contribution``
            How much lower the energy would be with ``expected`` in this column,
            ``E(x) - min_v E(x with column := v)``, never negative; the ranking
            score (see the module docstring for why).
        ``gradient``
            ``sum_j dE/dx_j * (x_j - x_hat_j)`` over the column's scaled features:
            the first-order estimate of the energy change from moving the column
            to its reconstruction.
        ``reconstruction_error``
            ``sum_j (x_j - x_hat_j)^2`` over the column's scaled features.

    Raises
    ------
    InvalidInputError
        ``top_k`` is not None or an integer >= 1, or ``X`` cannot be encoded
        (a column is missing or of the wrong type).
    """
    encoded = model._encode(X)
    imputed = model.encoder_.imputed(as_table(X))
    return explain_encoded(model, encoded, top_k=top_k, imputed=imputed)
