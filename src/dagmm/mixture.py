"""Gaussian-mixture math of DAGMM as small pure tensor functions.

Every function is batched over arbitrary leading dimensions ``...`` (for example
the S members of an ensemble) and over the K mixture components: there is no
Python loop over components and no explicit matrix inverse. Shapes use

- ``N``: samples, ``K``: components, ``D``: dimension of the representation z.

The mixture of a batch (PAPER.md Eq. 5) is obtained from gamma-weighted
sufficient statistics (``sum gamma``, ``sum gamma z``, ``sum gamma z z^T``), so
the same code serves a training step, an exact streaming pass over a whole
training set, and a distributed all-reduce (statistics add up across shards).
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "DAGMMNumericalWarning",
    "EnergyFactors",
    "MixtureStatistics",
    "add_statistics",
    "cholesky_with_fallback",
    "covariance_penalty",
    "energy_and_penalty",
    "energy_factors",
    "energy_penalty_and_failure",
    "log_gaussian_density",
    "parameters_from_statistics",
    "regularize_covariances",
    "sample_energy",
    "sample_energy_numpy",
    "sufficient_statistics",
]

_LOG_2PI = math.log(2.0 * math.pi)


class DAGMMNumericalWarning(RuntimeWarning):
    """A covariance needed more diagonal jitter than ``reg_covar`` to be factorised."""


class MixtureStatistics(NamedTuple):
    """Gamma-weighted sufficient statistics of a mixture, taken about ``shift``.

    Attributes
    ----------
    n_rows : Tensor, shape (...)
        Number (total weight) of samples.
    sum_gamma : Tensor, shape (..., K)
        ``sum_i gamma_ik``.
    sum_gamma_z : Tensor, shape (..., K, D)
        ``sum_i gamma_ik (z_i - shift)``.
    sum_gamma_zz : Tensor, shape (..., K, D, D)
        ``sum_i gamma_ik (z_i - shift)(z_i - shift)^T``.
    shift : Tensor, shape (..., D)
        Constant subtracted from z before accumulating; it removes the
        cancellation of the one-pass covariance formula and does not change
        the parameters.
    """

    n_rows: Tensor
    sum_gamma: Tensor
    sum_gamma_z: Tensor
    sum_gamma_zz: Tensor
    shift: Tensor


def sufficient_statistics(
    z: Tensor,
    gamma: Tensor,
    mask: Tensor | None = None,
    shift: Tensor | None = None,
) -> MixtureStatistics:
    """Accumulate gamma-weighted statistics of one batch.

    Parameters
    ----------
    z : Tensor, shape (..., N, D)
        Representations.
    gamma : Tensor, shape (..., N, K)
        Soft memberships (rows sum to one).
    mask : Tensor, shape (..., N), optional
        1 for rows that count, 0 for padding rows.
    shift : Tensor, shape (..., D), optional
        Centre for the accumulation (default: zeros). Must be identical for
        statistics that are later added together.

    Returns
    -------
    MixtureStatistics
    """
    if shift is None:
        shift = torch.zeros(z.shape[:-2] + z.shape[-1:], dtype=z.dtype, device=z.device)
    if mask is not None:
        mask = mask.to(gamma.dtype)
        gamma = gamma * mask.unsqueeze(-1)
        count = mask.sum(-1)
    else:
        count = torch.full(z.shape[:-2], z.shape[-2], dtype=z.dtype, device=z.device)
    centred = z - shift.unsqueeze(-2)
    gamma_t = gamma.transpose(-1, -2)  # (..., K, N)
    sum_gamma = gamma.sum(-2)
    sum_gamma_z = gamma_t @ centred
    # (..., K, D, N) @ (..., 1, N, D): one batched matmul for all components.
    weighted = gamma_t.unsqueeze(-2) * centred.transpose(-1, -2).unsqueeze(-3)
    sum_gamma_zz = weighted @ centred.unsqueeze(-3)
    return MixtureStatistics(count, sum_gamma, sum_gamma_z, sum_gamma_zz, shift)


def add_statistics(a: MixtureStatistics, b: MixtureStatistics) -> MixtureStatistics:
    """Sum two sets of statistics taken about the same shift."""
    return MixtureStatistics(
        a.n_rows + b.n_rows,
        a.sum_gamma + b.sum_gamma,
        a.sum_gamma_z + b.sum_gamma_z,
        a.sum_gamma_zz + b.sum_gamma_zz,
        a.shift,
    )


def parameters_from_statistics(stats: MixtureStatistics) -> tuple[Tensor, Tensor, Tensor]:
    """Mixture weights, means and covariances (Eq. 5) from sufficient statistics.

    Returns
    -------
    weights : Tensor, shape (..., K)
    means : Tensor, shape (..., K, D)
    covariances : Tensor, shape (..., K, D, D)
        Unregularised; a component that received no weight gets a zero mean
        offset and a zero covariance (``reg_covar`` then keeps it factorable).
    """
    tiny = torch.finfo(stats.sum_gamma.dtype).tiny
    weights = stats.sum_gamma / stats.n_rows.clamp_min(tiny).unsqueeze(-1)
    nk = stats.sum_gamma.clamp_min(tiny).unsqueeze(-1)
    centred_means = stats.sum_gamma_z / nk
    second = stats.sum_gamma_zz / nk.unsqueeze(-1)
    covariances = second - centred_means.unsqueeze(-1) * centred_means.unsqueeze(-2)
    covariances = 0.5 * (covariances + covariances.transpose(-1, -2))
    means = centred_means + stats.shift.unsqueeze(-2)
    return weights, means, covariances


def regularize_covariances(covariances: Tensor, reg_covar: float) -> Tensor:
    """Add ``reg_covar`` to the diagonals, never less than the dtype can represent.

    A fixed constant such as 1e-12 vanishes when added to a float32 diagonal of
    order one; the jitter is therefore floored at ``D * eps(dtype) * max|diag|``
    per component so that it always changes the matrix.

    Parameters
    ----------
    covariances : Tensor, shape (..., K, D, D)
    reg_covar : float

    Returns
    -------
    Tensor, shape (..., K, D, D)
    """
    dim = covariances.shape[-1]
    diag = covariances.diagonal(dim1=-2, dim2=-1)
    eps = torch.finfo(covariances.dtype).eps
    floor = (dim * eps) * diag.abs().amax(-1).detach()
    jitter = floor.clamp_min(reg_covar)
    eye = torch.eye(dim, dtype=covariances.dtype, device=covariances.device)
    return covariances + jitter[..., None, None] * eye


def cholesky_with_fallback(covariances: Tensor, max_tries: int = 6) -> Tensor:
    """Lower Cholesky factors, escalating diagonal jitter where a factorisation fails.

    Components that are still not positive definite after ``max_tries``
    escalations fall back to their (jittered) diagonal, which always factorises;
    a :class:`DAGMMNumericalWarning` is emitted whenever jitter had to be raised.

    Parameters
    ----------
    covariances : Tensor, shape (..., K, D, D)
        Regularised covariances (see :func:`regularize_covariances`).

    Returns
    -------
    Tensor, shape (..., K, D, D)
        ``scale_tril`` with ``L @ L^T`` equal to the (possibly jittered) covariance.
    """
    scale_tril, info = torch.linalg.cholesky_ex(covariances)
    failed = info > 0
    if not bool(failed.any()):
        return scale_tril
    dim = covariances.shape[-1]
    eye = torch.eye(dim, dtype=covariances.dtype, device=covariances.device)
    diag = covariances.diagonal(dim1=-2, dim2=-1)
    scale = diag.abs().amax(-1).clamp_min(1.0)
    eps = torch.finfo(covariances.dtype).eps
    jitter_used = 0.0
    for attempt in range(1, max_tries + 1):
        jitter = scale * (math.sqrt(eps) * 10.0 ** (attempt - 1))
        retry = covariances + torch.where(failed, jitter, 0.0)[..., None, None] * eye
        new_tril, info = torch.linalg.cholesky_ex(retry)
        scale_tril = torch.where(failed[..., None, None], new_tril, scale_tril)
        jitter_used = float(jitter[failed].detach().max())
        failed = failed & (info > 0)
        if not bool(failed.any()):
            break
    if bool(failed.any()):
        diag_only = torch.diag_embed(diag.clamp_min(eps).sqrt())
        scale_tril = torch.where(failed[..., None, None], diag_only, scale_tril)
        message = (
            "Covariance not positive definite even after adding diagonal jitter "
            f"{jitter_used:.1e}; using its diagonal instead."
        )
    else:
        message = (
            "Covariance not positive definite with reg_covar; added diagonal jitter "
            f"up to {jitter_used:.1e}. Consider a larger reg_covar."
        )
    warnings.warn(message, DAGMMNumericalWarning, stacklevel=2)
    return scale_tril


def log_gaussian_density(z: Tensor, means: Tensor, scale_tril: Tensor) -> Tensor:
    """Log-density of every sample under every Gaussian component.

    Parameters
    ----------
    z : Tensor, shape (..., N, D)
    means : Tensor, shape (..., K, D)
    scale_tril : Tensor, shape (..., K, D, D)
        Lower Cholesky factors of the covariances.

    Returns
    -------
    Tensor, shape (..., N, K)
        ``log N(z_i; mu_k, L_k L_k^T)``.
    """
    dim = z.shape[-1]
    diff = z.unsqueeze(-3) - means.unsqueeze(-2)  # (..., K, N, D)
    solved = torch.linalg.solve_triangular(scale_tril, diff.transpose(-1, -2), upper=False)
    mahalanobis = solved.square().sum(-2)  # (..., K, N)
    half_log_det = scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)  # (..., K)
    log_prob = -0.5 * (dim * _LOG_2PI + mahalanobis) - half_log_det.unsqueeze(-1)
    return log_prob.transpose(-1, -2)


def sample_energy(z: Tensor, weights: Tensor, means: Tensor, scale_tril: Tensor) -> Tensor:
    """Sample energy ``E(z) = -log sum_k phi_k N(z; mu_k, Sigma_k)`` (Eq. 6).

    Computed as a log-sum-exp, so far-away samples keep distinct, finite
    energies instead of saturating.

    Parameters
    ----------
    z : Tensor, shape (..., N, D)
    weights : Tensor, shape (..., K)
    means : Tensor, shape (..., K, D)
    scale_tril : Tensor, shape (..., K, D, D)

    Returns
    -------
    Tensor, shape (..., N)
    """
    log_weights = weights.clamp_min(torch.finfo(weights.dtype).tiny).log()
    joint = log_gaussian_density(z, means, scale_tril) + log_weights.unsqueeze(-2)
    return -torch.logsumexp(joint, dim=-1)


class EnergyFactors(NamedTuple):
    """A fixed mixture prepared for :func:`sample_energy_numpy` (numpy, float64).

    ``inv_tril`` (S, K, D, D) holds the components' ``L_k^-1``; ``inv_means``
    (S, K, D, 1) is ``L_k^-1 mu_k``; ``log_const`` (S, K) is
    ``log phi_k - log det L_k - D/2 log 2 pi``.
    """

    inv_tril: np.ndarray
    inv_means: np.ndarray
    log_const: np.ndarray


def _log_const(weights: np.ndarray, diag_tril: np.ndarray) -> np.ndarray:
    """``log phi_k - log det L_k - D/2 log 2 pi``, (S, K), from the diagonals of L (S, K, D)."""
    tiny = np.finfo(weights.dtype).tiny
    dim = diag_tril.shape[-1]
    return np.log(np.maximum(weights, tiny)) - np.log(diag_tril).sum(-1) - 0.5 * dim * _LOG_2PI


def _log_joint(y_t: np.ndarray, factors: EnergyFactors) -> np.ndarray:
    """``l_ik = log phi_k + log N(y_i; mu_k, Sigma_k)``, shape (S, K, N).

    ``y_t`` (S, D, N) holds the rows along the last axis; the solves of all K
    components are one matrix product per member, so the cost is a handful of
    numpy operations whatever K.
    """
    n_members, dim, n_rows = y_t.shape
    n_comp = factors.log_const.shape[-1]
    flat = factors.inv_tril.reshape(n_members, n_comp * dim, dim)
    solved = (flat @ y_t).reshape(n_members, n_comp, dim, n_rows)
    solved -= factors.inv_means
    return factors.log_const[..., None] - 0.5 * np.einsum("skdn,skdn->skn", solved, solved)


def energy_factors(weights: Tensor, means: Tensor, scale_tril: Tensor) -> EnergyFactors:
    """Prepare a fixed mixture ((S, K), (S, K, D), (S, K, D, D)) for :func:`sample_energy_numpy`."""
    phi, mu, tril = (t.detach().cpu().double().numpy() for t in (weights, means, scale_tril))
    inv_tril = np.linalg.inv(tril)
    diag = np.diagonal(tril, axis1=-2, axis2=-1)
    return EnergyFactors(inv_tril, inv_tril @ mu[..., None], _log_const(phi, diag))


def sample_energy_numpy(z_t: np.ndarray, factors: EnergyFactors) -> np.ndarray:
    """:func:`sample_energy` of rows ``z_t`` (S, D, N) (float64, rows along the last axis).

    Returns
    -------
    ndarray, shape (S, N)
    """
    if z_t.shape[-1] == 1:
        # BLAS sums a one-column product (matrix-vector) in another order than a matrix
        # product: a row alone would not get the energy it gets among others
        return sample_energy_numpy(np.repeat(z_t, 2, axis=-1), factors)[:, :1]
    joint_t = _log_joint(z_t, factors)
    top = joint_t.max(-2)
    joint_t -= top[:, None]
    np.exp(joint_t, out=joint_t)
    return -(top + np.log(joint_t.sum(-2)))


def covariance_penalty(covariances: Tensor) -> Tensor:
    """``P(Sigma) = sum_k sum_j 1 / Sigma_k[j, j]`` (Eq. 7).

    Parameters
    ----------
    covariances : Tensor, shape (..., K, D, D)

    Returns
    -------
    Tensor, shape (...)
    """
    return covariances.diagonal(dim1=-2, dim2=-1).reciprocal().sum((-1, -2))


class CholeskyFallbackNeeded(RuntimeError):
    """Raised inside :func:`energy_and_penalty` when a covariance needs extra jitter."""


class _EnergyAndPenalty(torch.autograd.Function):
    """Mean sample energy and covariance penalty of a batch under its own mixture.

    The forward is the composition ``sufficient_statistics`` ->
    ``parameters_from_statistics`` -> ``regularize_covariances`` -> Cholesky ->
    ``sample_energy`` -> masked mean, plus ``covariance_penalty``; the backward
    is its gradient in closed form (about 30 tensor operations instead of the
    ~300 autograd runs for the composition; for K=4, D=3 and a 1024-row batch
    every one of them costs microseconds, so their number is what counts).

    Notation (per member): ``y = z - shift``, ``A_k = sum_i g_ik``,
    ``B_k = sum_i g_ik y_i``, ``C_k = sum_i g_ik y_i y_i^T``, ``m_k = B_k / A_k``,
    ``Sigma_k = C_k / A_k - m_k m_k^T + jitter I = L_k L_k^T``,
    ``l_ik = log phi_k + log N(y_i; m_k, Sigma_k)``, ``E_i = -logsumexp_k l_ik``.
    """

    @staticmethod
    def forward(ctx, z, gamma_t, weight, shift, reg_covar, check):  # type: ignore[override]
        mean_energy, penalty, failed, saved = _energy_penalty_forward(
            z, gamma_t, weight, shift, reg_covar, check
        )
        ctx.save_for_backward(*saved)
        ctx.mark_non_differentiable(failed)
        return mean_energy, penalty, failed

    @staticmethod
    def backward(ctx, grad_energy, grad_penalty, _grad_failed):  # type: ignore[override]
        grad_y, grad_g_t = _energy_penalty_backward(ctx.saved_tensors, grad_energy, grad_penalty)
        return grad_y, grad_g_t, None, None, None, None


def _energy_penalty_forward(
    z: Tensor,
    gamma_t: Tensor,
    weight: Tensor | None,
    shift: Tensor,
    reg_covar: float,
    check: bool = True,
) -> tuple[Tensor, Tensor, Tensor, tuple]:
    """Forward of :class:`_EnergyAndPenalty`: mean energy, penalty, failure flag, saved tensors.

    ``z`` (..., N, D) and ``gamma_t`` (..., K, N) in float64; ``weight`` (..., N)
    are the row weights (mask / number of rows), None for all rows equal.
    ``check=True`` raises :class:`CholeskyFallbackNeeded` when a covariance
    does not factorise; ``check=False`` never waits on the device and returns
    the 0-d flag ``failed`` instead (the values are then meaningless when it is set).
    """
    y = z - shift.unsqueeze(-2)
    g = gamma_t if weight is None else gamma_t * (weight > 0).to(gamma_t.dtype).unsqueeze(-2)
    count = (
        torch.full(z.shape[:-2], z.shape[-2], dtype=z.dtype, device=z.device)
        if weight is None
        else (weight > 0).to(z.dtype).sum(-1)
    )
    stats = MixtureStatistics(
        count,
        g.sum(-1),
        g @ y,
        (g.unsqueeze(-2) * y.transpose(-1, -2).unsqueeze(-3)) @ y.unsqueeze(-3),
        torch.zeros_like(shift),
    )
    weights, centred_means, covariances = parameters_from_statistics(stats)
    covariances = regularize_covariances(covariances, reg_covar)
    scale_tril, info = torch.linalg.cholesky_ex(covariances)
    failed = (info > 0).any()
    if check and bool(failed):
        raise CholeskyFallbackNeeded
    dim = z.shape[-1]
    eye = torch.eye(dim, dtype=z.dtype, device=z.device)
    inv_tril = torch.linalg.solve_triangular(scale_tril, eye, upper=False)  # (..., K, D, D)
    diff_t = y.transpose(-1, -2).unsqueeze(-3) - centred_means.unsqueeze(-1)  # (..., K, D, N)
    solved = inv_tril @ diff_t
    half_log_det = scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)
    log_weights = weights.clamp_min(torch.finfo(weights.dtype).tiny).log()
    joint_t = (
        -0.5 * (dim * _LOG_2PI + solved.square().sum(-2))
        - half_log_det.unsqueeze(-1)
        + log_weights.unsqueeze(-1)
    )  # (..., K, N)
    log_norm = torch.logsumexp(joint_t, dim=-2)  # (..., N) = -energy
    if weight is None:
        mean_energy = -log_norm.mean(-1)
    else:
        mean_energy = -(log_norm * weight).sum(-1)
    penalty = covariances.diagonal(dim1=-2, dim2=-1).reciprocal().sum((-1, -2))
    resp_t = (joint_t - log_norm.unsqueeze(-2)).exp_()
    saved = (
        y, g, weight, stats.sum_gamma, stats.sum_gamma_z, stats.sum_gamma_zz,
        centred_means, covariances, inv_tril, solved, resp_t,
    )  # fmt: skip
    return mean_energy, penalty, failed, saved


def _energy_penalty_backward(
    saved: tuple, grad_energy: Tensor | None, grad_penalty: Tensor | None
) -> tuple[Tensor, Tensor]:
    """Closed-form gradients of :func:`_energy_penalty_forward` w.r.t. ``z`` and ``gamma_t``."""
    y, g, weight, sum_g, sum_gy, sum_gyy, means, cov, inv_tril, solved, resp_t = saved
    n_rows = y.shape[-2]
    tiny = torch.finfo(y.dtype).tiny
    if grad_energy is None:
        grad_energy = torch.zeros_like(sum_g[..., 0])
    if grad_penalty is None:
        grad_penalty = torch.zeros_like(sum_g[..., 0])
    # d mean_energy / d l_ik = -rho_ik with rho = resp * row weight.
    row = (
        (grad_energy / n_rows).unsqueeze(-1)
        if weight is None
        else (grad_energy.unsqueeze(-1) * weight)
    )
    rho_t = resp_t * row.unsqueeze(-2)  # (..., K, N)
    rho_sum = rho_t.sum(-1)  # (..., K)
    inv_t = inv_tril.transpose(-1, -2)
    precision_diff = inv_t @ solved  # Sigma^-1 (y_i - m_k), (..., K, D, N)
    grad_diff = precision_diff * rho_t.unsqueeze(-2)  # d/d(y_i - m_k)
    precision = inv_t @ inv_tril
    # d/dSigma of the energy: 1/2 sum_i rho_ik (Sigma^-1 - Sigma^-1 d d^T Sigma^-1).
    grad_cov = 0.5 * (
        rho_sum[..., None, None] * precision - grad_diff @ precision_diff.transpose(-1, -2)
    ) - torch.diag_embed(
        grad_penalty[..., None, None] * cov.diagonal(dim1=-2, dim2=-1).square().reciprocal()
    )
    safe = sum_g > tiny
    sum_g_safe = sum_g.clamp_min(tiny)
    grad_means = -grad_diff.sum(-1) - 2.0 * (grad_cov @ means.unsqueeze(-1)).squeeze(-1)
    # phi_k = A_k / n: d/dA of sum_k R_k log phi_k is R_k / A_k.
    grad_sum_g = (
        -rho_sum - ((grad_cov * sum_gyy).sum((-1, -2)) + (grad_means * sum_gy).sum(-1)) / sum_g_safe
    ) / sum_g_safe
    grad_sum_g = torch.where(safe, grad_sum_g, 0.0)
    grad_sum_gy = torch.where(safe.unsqueeze(-1), grad_means / sum_g_safe.unsqueeze(-1), 0.0)
    grad_sum_gyy = torch.where(safe[..., None, None], grad_cov / sum_g_safe[..., None, None], 0.0)
    y_c = y.unsqueeze(-3) @ grad_sum_gyy  # (..., K, N, D)
    grad_g_t = (
        grad_sum_g.unsqueeze(-1)
        + grad_sum_gy @ y.transpose(-1, -2)
        + (y_c * y.unsqueeze(-3)).sum(-1)
    )
    if weight is not None:
        grad_g_t = grad_g_t * (weight > 0).to(grad_g_t.dtype).unsqueeze(-2)
    grad_y = (
        grad_diff.sum(-3).transpose(-1, -2)
        + g.transpose(-1, -2) @ grad_sum_gy
        + 2.0 * (y_c * g.unsqueeze(-1)).sum(-3)
    )
    return grad_y, grad_g_t


def _row_weights_and_centre(z: Tensor, mask: Tensor | None) -> tuple[Tensor | None, Tensor]:
    """Row weights (mask / rows counted; None: all rows equal) and the (masked) mean of ``z``."""
    if mask is None:
        return None, z.mean(-2)
    m = mask.to(z.dtype)
    total = m.sum(-1, keepdim=True).clamp_min(1.0)
    return m / total, (z * m.unsqueeze(-1)).sum(-2) / total


def energy_and_penalty(
    z: Tensor,
    gamma: Tensor,
    reg_covar: float,
    mask: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Mean sample energy and covariance penalty of a batch under its own mixture (Eq. 5-7).

    The same numbers as ``sample_energy`` under the batch's regularised mixture
    averaged over the (unmasked) rows, and ``covariance_penalty`` of its
    covariances, with a closed-form backward.

    Parameters
    ----------
    z : Tensor, shape (..., N, D)
    gamma : Tensor, shape (..., N, K)
        Soft memberships; ``gamma.transpose(-1, -2)`` contiguous is fastest.
    reg_covar : float
    mask : Tensor, shape (..., N), optional

    Returns
    -------
    mean_energy, penalty : Tensor, shape (...)

    Raises
    ------
    CholeskyFallbackNeeded
        When a covariance is not positive definite with ``reg_covar`` alone; the
        caller then uses the autograd composition, which escalates the jitter.
    """
    mean_energy, penalty, _ = _energy_and_penalty(z, gamma, reg_covar, mask, check=True)
    return mean_energy, penalty


def energy_penalty_and_failure(
    z: Tensor,
    gamma: Tensor,
    reg_covar: float,
    mask: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`energy_and_penalty` that never waits on the device (for CUDA graphs).

    Instead of raising :class:`CholeskyFallbackNeeded` it returns a 0-d bool
    tensor ``failed``, set when some covariance did not factorise with
    ``reg_covar`` alone; the energy, penalty and their gradients are then not to
    be used, and the caller repeats the step with :func:`energy_and_penalty`.

    Returns
    -------
    mean_energy, penalty : Tensor, shape (...)
    failed : Tensor, shape ()
    """
    return _energy_and_penalty(z, gamma, reg_covar, mask, check=False)


def _energy_and_penalty(
    z: Tensor, gamma: Tensor, reg_covar: float, mask: Tensor | None, check: bool
) -> tuple[Tensor, Tensor, Tensor]:
    with torch.no_grad():
        weight, shift = _row_weights_and_centre(z, mask)
    return _EnergyAndPenalty.apply(
        z, gamma.transpose(-1, -2), weight, shift, float(reg_covar), check
    )


def energy_and_penalty_gradients_numpy(
    z: np.ndarray,
    gamma_t: np.ndarray,
    reg_covar: float,
    grad_energy: np.ndarray,
    grad_penalty: np.ndarray,
    mask: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`energy_and_penalty` and its gradients in one call, without autograd, in numpy.

    For the CPU training step (:mod:`dagmm.fused`), which holds these arrays in
    numpy and chains the gradients itself. The formulas are those of the torch
    closed form (``_energy_penalty_forward`` and ``_backward``).

    Parameters
    ----------
    z : ndarray, shape (S, N, D), float64
    gamma_t : ndarray, shape (S, K, N)
        Soft memberships, transposed.
    reg_covar : float
    grad_energy, grad_penalty : ndarray, shape (S,)
        Weights of the mean energy and of the penalty in the scalar whose
        gradient is wanted (lambda_1 and lambda_2 of Eq. 7).
    mask : ndarray of bool, shape (S, N), optional

    Returns
    -------
    mean_energy, penalty : ndarray, shape (S,)
    grad_z : ndarray, shape (S, N, D)
    grad_gamma_t : ndarray, shape (S, K, N)

    Raises
    ------
    CholeskyFallbackNeeded
        As :func:`energy_and_penalty`.
    """
    if mask is None:
        weight = None
        shift = z.mean(-2)
    else:
        valid = mask.astype(z.dtype)
        total = np.maximum(valid.sum(-1, keepdims=True), 1.0)
        weight = valid / total
        shift = (z * valid[..., None]).sum(-2) / total
    return _energy_penalty_gradients_numpy(
        z, gamma_t, weight, shift, float(reg_covar), grad_energy, grad_penalty
    )


def _energy_penalty_gradients_numpy(
    z: np.ndarray,
    gamma_t: np.ndarray,
    weight: np.ndarray | None,
    shift: np.ndarray,
    reg_covar: float,
    grad_energy: np.ndarray,
    grad_penalty: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_energy_penalty_forward` then ``_backward`` in numpy, for (S, N, D) inputs.

    The same formulas; on the CPU numpy dispatches these small-array operations
    several times faster than torch. Rows lie along the last axis, and the sums
    over components and pairs of dimensions are matrix products over all
    components at once (the outer products ``y y^T`` of the rows, (S, D*D, N),
    serve the second moments and both of their gradients), so that a step runs
    about 45 operations whatever K.
    """
    n_members, n_rows, dim = z.shape
    n_comp = gamma_t.shape[1]
    tiny = np.finfo(z.dtype).tiny
    y_t = np.subtract(np.swapaxes(z, -1, -2), shift[:, :, None], order="C")  # (S, D, N)
    if weight is None:
        valid = None
        g = gamma_t
        count = np.full(n_members, float(n_rows))
    else:
        valid = (weight > 0).astype(z.dtype)
        g = gamma_t * valid[:, None, :]
        count = valid.sum(-1)
    # outer products of the rows, (S, D*D, N): turns every sum over components
    # and pairs of dimensions below into one matrix product per member
    yy = (y_t[:, :, None, :] * y_t[:, None, :, :]).reshape(n_members, dim * dim, n_rows)
    sum_g = g.sum(-1)  # (S, K)
    sum_gy = g @ np.swapaxes(y_t, -1, -2)  # (S, K, D)
    sum_gyy = (g @ np.swapaxes(yy, -1, -2)).reshape(n_members, n_comp, dim, dim)
    weights = sum_g / np.maximum(count, tiny)[:, None]
    sum_g_safe = np.maximum(sum_g, tiny)
    means = sum_gy / sum_g_safe[..., None]
    cov = sum_gyy / sum_g_safe[..., None, None] - means[..., :, None] * means[..., None, :]
    cov = 0.5 * (cov + np.swapaxes(cov, -1, -2))
    diag_idx = np.arange(dim)
    cov_diag = cov[..., diag_idx, diag_idx]
    floor = (dim * np.finfo(z.dtype).eps) * np.abs(cov_diag).max(-1)
    cov[..., diag_idx, diag_idx] += np.maximum(floor, reg_covar)[..., None]
    cov_diag = cov[..., diag_idx, diag_idx]
    try:
        scale_tril = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        raise CholeskyFallbackNeeded from None
    diag_l = scale_tril[..., diag_idx, diag_idx]
    if not (diag_l > 0).all():
        raise CholeskyFallbackNeeded
    inv_tril = np.linalg.inv(scale_tril)  # (S, K, D, D)
    factors = EnergyFactors(inv_tril, inv_tril @ means[..., None], _log_const(weights, diag_l))
    joint_t = _log_joint(y_t, factors)
    top = joint_t.max(-2, keepdims=True)
    resp_t = np.exp(joint_t - top)
    total = resp_t.sum(-2, keepdims=True)
    log_norm = (top + np.log(total))[:, 0]  # (S, N)
    resp_t /= total
    if weight is None:
        mean_energy = log_norm.sum(-1) * (-1.0 / n_rows)
        row = (grad_energy / n_rows)[:, None]
    else:
        mean_energy = -(log_norm * weight).sum(-1)
        row = grad_energy[:, None] * weight
    penalty = (1.0 / cov_diag).sum((-1, -2))

    rho_t = resp_t * row[:, None, :]  # (S, K, N)
    rho_sum = rho_t.sum(-1)
    precision = np.swapaxes(inv_tril, -1, -2) @ inv_tril
    # Sigma^-1 (y - m), likewise in one product per member
    flat = (n_members, n_comp * dim, dim)
    precision_diff = (precision.reshape(flat) @ y_t).reshape(n_members, n_comp, dim, n_rows)
    precision_diff -= precision @ means[..., None]
    grad_diff = precision_diff * rho_t[:, :, None, :]
    grad_cov = 0.5 * (
        rho_sum[..., None, None] * precision - grad_diff @ np.swapaxes(precision_diff, -1, -2)
    )
    grad_cov[..., diag_idx, diag_idx] -= grad_penalty[:, None, None] / np.square(cov_diag)
    safe = sum_g > tiny
    grad_means = -grad_diff.sum(-1) - 2.0 * (grad_cov @ means[..., None])[..., 0]
    grad_sum_g = (
        -rho_sum - ((grad_cov * sum_gyy).sum((-1, -2)) + (grad_means * sum_gy).sum(-1)) / sum_g_safe
    ) / sum_g_safe
    grad_sum_g = np.where(safe, grad_sum_g, 0.0)
    grad_sum_gy = np.where(safe[..., None], grad_means / sum_g_safe[..., None], 0.0)
    grad_sum_gyy = np.where(safe[..., None, None], grad_cov / sum_g_safe[..., None, None], 0.0)
    # d/dg_ik of sum_k (a_k + b_k . y_i + y_i^T C_k y_i)
    grad_g_t = grad_sum_g[..., None] + grad_sum_gy @ y_t
    grad_g_t += grad_sum_gyy.reshape(n_members, n_comp, dim * dim) @ yy
    if valid is not None:
        grad_g_t *= valid[:, None, :]
    # sum_k g_ik C_k, per row, as (S, D*D, N); C_k is symmetric
    c_g = np.swapaxes(grad_sum_gyy.reshape(n_members, n_comp, dim * dim), -1, -2) @ g
    grad_y_t = grad_diff.sum(1) + np.swapaxes(grad_sum_gy, -1, -2) @ g
    grad_y_t += 2.0 * np.einsum("sden,sen->sdn", c_g.reshape(n_members, dim, dim, n_rows), y_t)
    return mean_energy, penalty, np.swapaxes(grad_y_t, -1, -2), grad_g_t
