"""Compiled row loops for the fused CPU training step and CPU scoring, and the scaler's
majority vote (numba).

The fused step (:mod:`dagmm.fused`) spends most of its non-product time in
some hundred numpy calls on arrays of a few thousand elements: the
reconstruction features, the softmax, the batch mixture and their gradients.
Each call costs microseconds of dispatch for well under a microsecond of
arithmetic. The functions here do the same work as single passes over the
rows, compiled by numba: the formulas are those of
:func:`dagmm.mixture.energy_and_penalty_gradients_numpy` and
``fused._ReconstructionFeatures``, term for term, so results differ from the
numpy path only by float rounding (sums in another order, ``exp`` and
``sqrt`` from another library). ``tests/test_fused.py`` checks both paths
against autograd. :func:`majority_count` runs the majority vote of
``scaler="auto"`` (``training.top_value_share``) with the numpy vote's merges,
so it picks the same values exactly.

:func:`row_products` also serves CPU scoring (:mod:`dagmm.inference`): the
four row products of the reconstruction features in one pass over a chunk.
:func:`tanh_` is the hidden layers' ``tanh`` on CPUs where numpy has no AVX-512
kernel (:func:`dagmm.network.tanh_`), in the training step and in scoring.

The kernels loop over a range of an ensemble's members. Given ``threads`` > 1
(the fused step passes torch's thread count when it has several members), the
wrappers split the members into contiguous slices that run side by side on
torch's own OpenMP threads (:mod:`dagmm._team`); each member's numbers are
those of one pass, bit for bit.

Without numba (not installed, or ``DAGMM_NUMBA=0`` in the environment)
:func:`available` is False and the fused step, scoring and the vote keep their
numpy paths. The compiled code is cached on disk (numba's ``cache=True``,
next to this file or in the user's cache directory), so only the first
training step on a machine pays the compilation (about 7 s on a 2-core VM);
later processes load it in a fraction of a second (0.4 s for
:func:`row_products`, with 0.2 s to import numba, on a 2-core Zen 3 VM).
"""

from __future__ import annotations

import functools
import importlib.util
import itertools
import math
import os
from types import SimpleNamespace

import numpy as np

from . import _team

_LOG_2PI = math.log(2.0 * math.pi)
_TINY32 = np.float32(np.finfo(np.float32).tiny)
_TINY64 = float(np.finfo(np.float64).tiny)
_EPS64 = float(np.finfo(np.float64).eps)
#: Flags that let the row sums vectorise (any summation order); the compiled
#: code, hence every result, is still the same from run to run.
_FASTMATH = {"reassoc", "contract", "nsz"}
#: Stands for "no mask" where a kernel's bool (S, N) argument is not read.
_NO_MASK = np.zeros((1, 0), dtype=np.bool_)
#: The fewest ``tanh`` values split over torch's threads: below it the hand-over
#: (about 50 us) costs what the second thread saves (20 x 1024 x 30 values: 262
#: against 223 us; x 60: 624 against 470 us; x 10: 88 against 109 us; Zen 3, scratch).
_TEAM_TANH_VALUES = 1 << 19


def _enabled_by_environment() -> bool:
    return os.environ.get("DAGMM_NUMBA", "1").strip().lower() not in ("0", "false", "no", "off")


#: Whether the fused step and the vote use these kernels: numba is installed and
#: ``DAGMM_NUMBA`` does not say otherwise. Read at each call, so tests can flip it.
ENABLED = _enabled_by_environment() and importlib.util.find_spec("numba") is not None


@functools.cache
def _compiled() -> SimpleNamespace | None:
    """The jitted kernels (numba imported here, on first use, not with ``dagmm``)."""
    try:
        import numba
    except ImportError:  # pragma: no cover - find_spec saw it, the import failed
        return None

    def jit(fn, fastmath=False, error_model="python"):
        options = {"nogil": True, "fastmath": fastmath, "error_model": error_model}
        try:
            return numba.njit(cache=True, **options)(fn)
        except RuntimeError:  # no writable cache directory: compile in each process
            return numba.njit(**options)(fn)

    return SimpleNamespace(
        row_products=jit(_row_products, _FASTMATH),
        representation=jit(_representation),
        reconstruction_gradient=jit(_reconstruction_gradient),
        mixture_step=jit(_mixture_step, _FASTMATH),
        majority_count=jit(_majority_count),
        # numpy's error model: a division that cannot raise lets the loop vectorise
        tanh=jit(_tanh, {"contract"}, "numpy"),
    )


def _require() -> SimpleNamespace:
    """The jitted kernels, for callers that checked :func:`available`."""
    kernels = _compiled()
    if kernels is None:
        raise RuntimeError("the compiled kernels are not available (numba failed to import)")
    return kernels


def available() -> bool:
    """Whether the compiled kernels serve this process (see :data:`ENABLED`)."""
    return ENABLED and _compiled() is not None


def _by_members(kernel, n_members: int, threads: int, *args) -> list:
    """``kernel(*args, start, stop)`` on contiguous slices of the members, side by side.

    One slice per thread (at most ``threads``, on torch's OpenMP threads through
    :func:`dagmm._team.run`); each kernel loops over members ``start:stop`` only
    and writes their outputs alone, so every member's numbers are those of one
    call over all of them. Returns each slice's result, in order.
    """
    groups = max(1, min(threads, n_members))
    if groups == 1:
        return [kernel(*args, 0, n_members)]
    results: list = [None] * groups

    def run_slice(group: int) -> None:
        start, stop = n_members * group // groups, n_members * (group + 1) // groups
        results[group] = kernel(*args, start, stop)

    _team.run([functools.partial(run_slice, g) for g in range(groups)], groups)
    return results


def _row_products(x, x_hat, products, start, stop):  # pragma: no cover - compiled
    n_rows, n_features = x.shape[1:]
    for s in range(start, stop):
        for i in range(n_rows):
            se = np.float32(0.0)
            xx = np.float32(0.0)
            hh = np.float32(0.0)
            xh = np.float32(0.0)
            for f in range(n_features):
                a = x[s, i, f]
                b = x_hat[s, i, f]
                d = a - b
                se += d * d
                xx += a * a
                hh += b * b
                xh += a * b
            products[0, s, i] = se
            products[1, s, i] = xx
            products[2, s, i] = hh
            products[3, s, i] = xh


# tanh(x) ~ x p(x^2) / q(x^2) on [-c, c], the float32 rational approximation of Eigen
# (``generic_fast_tanh_float``), which XLA and ONNX Runtime use too; c is Eigen's clamp
# for fused multiply-adds, where the quotient reaches exactly 1.
_TANH_P = tuple(
    np.float32(v)
    for v in (
        -2.76076847742355e-16,
        2.00018790482477e-13,
        -8.60467152213735e-11,
        5.12229709037114e-08,
        1.48572235717979e-05,
        6.37261928875436e-04,
        4.89352455891786e-03,
    )
)
_TANH_Q = tuple(
    np.float32(v)
    for v in (
        1.19825839466702e-06,
        1.18534705686654e-04,
        2.26843463243900e-03,
        4.89352518554385e-03,
    )
)
_TANH_CLAMP = np.float32(7.99881172180175781)
# Below this tanh(x) rounds to x; the quotient would lose digits to subnormal products.
_TANH_LINEAR = np.float32(4e-4)


def _tanh(values):  # pragma: no cover - compiled
    p13, p11, p9, p7, p5, p3, p1 = _TANH_P
    q6, q4, q2, q0 = _TANH_Q
    c = _TANH_CLAMP
    for i in range(values.size):
        x = values[i]
        x = c if x > c else x  # NaN passes both clamps and stays NaN
        x = -c if x < -c else x
        x2 = x * x
        p = x2 * p13 + p11
        p = x2 * p + p9
        p = x2 * p + p7
        p = x2 * p + p5
        p = x2 * p + p3
        p = x2 * p + p1
        q = x2 * q6 + q4
        q = x2 * q + q2
        q = x2 * q + q0
        values[i] = x if abs(x) < _TANH_LINEAR else x * p / q


def tanh_(values: np.ndarray, threads: int = 1) -> np.ndarray:
    """``tanh`` of a C-contiguous float32 array, in place, in one compiled pass.

    Eigen's rational approximation: within 5 float32 ulps of ``tanh`` (4.90 at
    most, 0.12 on average, over all floats in [0, 10] in a scratch check;
    `tests/test_kernels.py` checks a grid of them), odd, exactly 0
    at 0 and exactly +-1 from about 8 on, never beyond +-1; NaN stays NaN. A
    value's result does not depend on its position in the array (the vector loop
    and its scalar remainder compute the same operations). About 0.35-0.5 ns per
    element on one thread of a Zen 3 VM, where torch's sigmoid form of
    :func:`dagmm.network.tanh_` takes four dispatched passes.

    With ``threads`` > 1, an array of :data:`_TEAM_TANH_VALUES` values or more is
    split into that many pieces that run on torch's OpenMP threads
    (:func:`dagmm._team.run`); the result is the same.
    """
    if values.dtype != np.float32 or not values.flags.c_contiguous:
        raise ValueError(f"expected a C-contiguous float32 array, got {values.dtype}")
    kernel = _require().tanh
    flat = values.reshape(-1)
    if threads < 2 or flat.size < _TEAM_TANH_VALUES:
        kernel(flat)
        return values
    # pieces of a multiple of 16 values: in a 64-byte aligned array (torch's and
    # numpy's large ones are) no two threads write the same cache line
    bounds = [flat.size * g // threads // 16 * 16 for g in range(threads)] + [flat.size]
    pieces = [flat[a:b] for a, b in itertools.pairwise(bounds)]
    _team.run([functools.partial(kernel, piece) for piece in pieces], threads)
    return values


def _representation(products, z_c, eps, z, start, stop):  # pragma: no cover - compiled
    n_rows, latent = z_c.shape[1:]
    tiny = _TINY32
    eps = np.float32(eps)
    for s in range(start, stop):
        for i in range(n_rows):
            for j in range(latent):
                z[s, i, j] = z_c[s, i, j]
            distance = np.sqrt(max(products[0, s, i], tiny))
            x_norm = np.sqrt(max(products[1, s, i], tiny))
            x_hat_norm = np.sqrt(max(products[2, s, i], tiny))
            z[s, i, latent] = distance / max(x_norm, eps)
            z[s, i, latent + 1] = products[3, s, i] / max(x_norm * x_hat_norm, eps)


def row_products(x: np.ndarray, x_hat: np.ndarray) -> np.ndarray:
    """Per-row ``|x - x_hat|^2``, ``|x|^2``, ``|x_hat|^2`` and ``x . x_hat`` in one pass.

    Parameters
    ----------
    x, x_hat : ndarray, shape (N, F), float32

    Returns
    -------
    ndarray, shape (4, N), float32
    """
    products = np.empty((4, 1, len(x)), dtype=np.float32)
    _require().row_products(x[None], x_hat[None], products, 0, 1)
    return products[:, 0]


def reconstruction_features(
    x: np.ndarray, x_hat: np.ndarray, z_c: np.ndarray, eps: float, threads: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Row products and ``z = [z_c, relative distance, cosine]`` in two passes.

    Parameters
    ----------
    x, x_hat : ndarray, shape (S, N, F), float32
    z_c : ndarray, shape (S, N, L), float32
    eps : float
        The norm floor of :data:`dagmm.network.NORM_FLOOR`.
    threads : int, default 1
        Members split over up to this many of torch's threads (:func:`_by_members`).

    Returns
    -------
    products : ndarray, shape (4, S, N)
        ``|x - x_hat|^2``, ``|x|^2``, ``|x_hat|^2``, ``x . x_hat``.
    z : ndarray, shape (S, N, L + 2)
    """
    n_members, n_rows, latent = z_c.shape
    products = np.empty((4, n_members, n_rows), dtype=np.float32)
    z = np.empty((n_members, n_rows, latent + 2), dtype=np.float32)
    kernels = _require()

    def features(start: int, stop: int) -> None:
        kernels.row_products(x, x_hat, products, start, stop)
        kernels.representation(products, z_c, eps, z, start, stop)

    _by_members(features, n_members, threads)
    return products, z


def _reconstruction_gradient(
    x, x_hat, products, grad_z, row_weight, latent, eps, grad_x_hat, start, stop
):  # pragma: no cover - compiled
    n_rows, n_features = x.shape[1:]
    tiny = _TINY32
    eps = np.float32(eps)
    half = np.float32(0.5)
    two = np.float32(2.0)
    zero = np.float32(0.0)
    for s in range(start, stop):
        for i in range(n_rows):
            se = products[0, s, i]
            xx = products[1, s, i]
            hh = products[2, s, i]
            xh = products[3, s, i]
            grad_relative = grad_z[s, i, latent]
            grad_cosine = grad_z[s, i, latent + 1]
            distance = np.sqrt(max(se, tiny))
            x_norm = np.sqrt(max(xx, tiny))
            x_hat_norm = np.sqrt(max(hh, tiny))
            x_norm_c = max(x_norm, eps)
            norms = x_norm * x_hat_norm
            denominator = max(norms, eps)
            g_se = row_weight[s, i]
            if se >= tiny:
                g_se += grad_relative * half / (distance * x_norm_c)
            g_xh = grad_cosine / denominator
            g_hh = zero
            if norms >= eps and hh >= tiny:
                g_hh = -grad_cosine * xh / (denominator * denominator) * x_norm * half / x_hat_norm
            c_x_hat = two * (g_se + g_hh)
            c_x = g_xh - two * g_se
            for f in range(n_features):
                grad_x_hat[s, i, f] = c_x_hat * x_hat[s, i, f] + c_x * x[s, i, f]


def reconstruction_gradient(
    x: np.ndarray,
    x_hat: np.ndarray,
    products: np.ndarray,
    grad_z: np.ndarray,
    row_weight: np.ndarray,
    eps: float,
    out: np.ndarray | None = None,
    threads: int = 1,
) -> np.ndarray:
    """Gradient w.r.t. ``x_hat`` of the weighted squared error and the two features.

    ``grad_z`` (S, N, L + 2) holds the gradient of the loss w.r.t. ``z`` (only
    its last two columns are read); ``row_weight`` (S, N) each row's weight in
    the reconstruction term. Returns (S, N, F), float32: ``out`` where given (of
    that shape and type, C-contiguous). Members split over up to ``threads`` of
    torch's threads (:func:`_by_members`).
    """
    grad_x_hat = np.empty_like(x_hat) if out is None else out
    latent = grad_z.shape[-1] - 2
    kernel = _require().reconstruction_gradient
    args = (x, x_hat, products, grad_z, row_weight, latent, eps, grad_x_hat)
    _by_members(kernel, len(x), threads, *args)
    return grad_x_hat


def _mixture_step(
    z,
    logits_t,
    mask,
    masked,
    reg_covar,
    grad_energy,
    grad_penalty,
    terms,
    grad_z,
    grad_logits_t,
    start,
    stop,
):  # pragma: no cover - compiled
    n_rows, dim = z.shape[1:]
    n_comp = logits_t.shape[1]
    tiny = _TINY64
    eps = _EPS64
    gamma = np.empty((n_comp, n_rows))
    g = np.empty((n_comp, n_rows))
    resp = np.empty((n_comp, n_rows))
    pd = np.empty((n_comp, dim, n_rows))
    y = np.empty((dim, n_rows))
    grad_y = np.empty((dim, n_rows))
    weight = np.empty(n_rows)
    row = np.empty(n_rows)
    top = np.empty(n_rows)
    total = np.empty(n_rows)
    tmp = np.empty(n_rows)
    quad = np.empty(n_rows)
    grad_g = np.empty((n_comp, n_rows))
    sum_g = np.empty(n_comp)
    sum_gy = np.empty((n_comp, dim))
    sum_gyy = np.empty((n_comp, dim, dim))
    means = np.empty((n_comp, dim))
    cov_diag = np.empty((n_comp, dim))
    tril = np.zeros((n_comp, dim, dim))
    inv = np.zeros((n_comp, dim, dim))
    precision = np.empty((n_comp, dim, dim))
    log_const = np.empty(n_comp)
    rho_sum = np.empty(n_comp)
    rho_pd = np.empty((n_comp, dim))
    rho_pdpd = np.empty((n_comp, dim, dim))
    grad_cov = np.empty((n_comp, dim, dim))
    grad_sum_g = np.empty(n_comp)
    grad_sum_gy = np.empty((n_comp, dim))
    grad_sum_gyy = np.empty((n_comp, dim, dim))
    for s in range(start, stop):
        # softmax over the components, in float64
        for i in range(n_rows):
            top[i] = logits_t[s, 0, i]
        for k in range(1, n_comp):
            for i in range(n_rows):
                top[i] = max(top[i], np.float64(logits_t[s, k, i]))
        for i in range(n_rows):
            total[i] = 0.0
        for k in range(n_comp):
            for i in range(n_rows):
                gamma[k, i] = np.exp(np.float64(logits_t[s, k, i]) - top[i])
            for i in range(n_rows):
                total[i] += gamma[k, i]
        for k in range(n_comp):
            for i in range(n_rows):
                gamma[k, i] /= total[i]
        # row weights (in the mean energy), the centring shift, masked memberships
        for d in range(dim):
            for i in range(n_rows):
                y[d, i] = z[s, i, d]
        if masked:
            count = 0.0
            for i in range(n_rows):
                count += 1.0 if mask[s, i] else 0.0
            n_valid = max(count, 1.0)
            for i in range(n_rows):
                weight[i] = 1.0 / n_valid if mask[s, i] else 0.0
            for i in range(n_rows):
                row[i] = grad_energy[s] * weight[i]
            for d in range(dim):
                acc = 0.0
                for i in range(n_rows):
                    acc += y[d, i] if mask[s, i] else 0.0
                acc /= n_valid
                for i in range(n_rows):
                    y[d, i] -= acc
            for k in range(n_comp):
                for i in range(n_rows):
                    g[k, i] = gamma[k, i] if weight[i] > 0.0 else 0.0
        else:
            count = float(n_rows)
            for i in range(n_rows):
                row[i] = grad_energy[s] / n_rows
            for d in range(dim):
                acc = 0.0
                for i in range(n_rows):
                    acc += y[d, i]
                acc /= n_rows
                for i in range(n_rows):
                    y[d, i] -= acc
            for k in range(n_comp):
                for i in range(n_rows):
                    g[k, i] = gamma[k, i]
        # gamma-weighted statistics
        for k in range(n_comp):
            acc = 0.0
            for i in range(n_rows):
                acc += g[k, i]
            sum_g[k] = acc
            for d in range(dim):
                acc = 0.0
                for i in range(n_rows):
                    acc += g[k, i] * y[d, i]
                sum_gy[k, d] = acc
                for e in range(d + 1):
                    acc = 0.0
                    for i in range(n_rows):
                        acc += g[k, i] * y[d, i] * y[e, i]
                    sum_gyy[k, d, e] = acc
                    sum_gyy[k, e, d] = acc
        # the mixture: means, covariances with jitter, Cholesky factors and inverses
        for k in range(n_comp):
            sgs = max(sum_g[k], tiny)
            for d in range(dim):
                means[k, d] = sum_gy[k, d] / sgs
            largest = 0.0
            for d in range(dim):
                for e in range(dim):
                    tril[k, d, e] = sum_gyy[k, d, e] / sgs - means[k, d] * means[k, e]
                largest = max(largest, abs(tril[k, d, d]))
            jitter = max(dim * eps * largest, reg_covar)
            for d in range(dim):
                tril[k, d, d] += jitter
                cov_diag[k, d] = tril[k, d, d]
            for d in range(dim):  # Cholesky, in place on the lower triangle
                for e in range(d + 1):
                    acc = tril[k, d, e]
                    for j in range(e):
                        acc -= tril[k, d, j] * tril[k, e, j]
                    if d == e:
                        if not acc > 0.0:
                            return False
                        tril[k, d, d] = np.sqrt(acc)
                    else:
                        tril[k, d, e] = acc / tril[k, e, e]
                for e in range(d + 1, dim):
                    tril[k, d, e] = 0.0
            for c in range(dim):  # L^-1 by forward substitution
                for d in range(dim):
                    if d < c:
                        inv[k, d, c] = 0.0
                        continue
                    acc = 1.0 if d == c else 0.0
                    for j in range(c, d):
                        acc -= tril[k, d, j] * inv[k, j, c]
                    inv[k, d, c] = acc / tril[k, d, d]
            for d in range(dim):
                for e in range(dim):
                    acc = 0.0
                    for j in range(dim):
                        acc += inv[k, j, d] * inv[k, j, e]
                    precision[k, d, e] = acc
            log_det = 0.0
            for d in range(dim):
                log_det += np.log(tril[k, d, d])
            log_const[k] = (
                np.log(max(sum_g[k] / max(count, tiny), tiny)) - log_det - 0.5 * dim * _LOG_2PI
            )
        # log phi_k + log N(y_i; mu_k, Sigma_k), into resp
        for k in range(n_comp):
            for i in range(n_rows):
                quad[i] = 0.0
            for d in range(dim):
                for i in range(n_rows):
                    tmp[i] = 0.0
                for j in range(d + 1):
                    c = inv[k, d, j]
                    m = means[k, j]
                    for i in range(n_rows):
                        tmp[i] += c * (y[j, i] - m)
                for i in range(n_rows):
                    quad[i] += tmp[i] * tmp[i]
            for i in range(n_rows):
                resp[k, i] = log_const[k] - 0.5 * quad[i]
        for i in range(n_rows):
            top[i] = resp[0, i]
        for k in range(1, n_comp):
            for i in range(n_rows):
                top[i] = max(top[i], resp[k, i])
        for i in range(n_rows):
            total[i] = 0.0
        for k in range(n_comp):
            for i in range(n_rows):
                resp[k, i] = np.exp(resp[k, i] - top[i])
            for i in range(n_rows):
                total[i] += resp[k, i]
        energy = 0.0
        if masked:
            for i in range(n_rows):
                energy -= (top[i] + np.log(total[i])) * weight[i]
        else:
            for i in range(n_rows):
                energy -= top[i] + np.log(total[i])
            energy /= n_rows
        penalty = 0.0
        for k in range(n_comp):
            for d in range(dim):
                penalty += 1.0 / cov_diag[k, d]
        terms[0, s] = energy
        terms[1, s] = penalty
        # responsibilities times each row's weight, Sigma^-1 (y - mu) and their sums
        for k in range(n_comp):
            for i in range(n_rows):
                resp[k, i] = resp[k, i] / total[i] * row[i]
            acc = 0.0
            for i in range(n_rows):
                acc += resp[k, i]
            rho_sum[k] = acc
            for d in range(dim):
                for i in range(n_rows):
                    pd[k, d, i] = 0.0
                for e in range(dim):
                    c = precision[k, d, e]
                    m = means[k, e]
                    for i in range(n_rows):
                        pd[k, d, i] += c * (y[e, i] - m)
                acc = 0.0
                for i in range(n_rows):
                    acc += resp[k, i] * pd[k, d, i]
                rho_pd[k, d] = acc
                for e in range(d + 1):
                    acc = 0.0
                    for i in range(n_rows):
                        acc += resp[k, i] * pd[k, d, i] * pd[k, e, i]
                    rho_pdpd[k, d, e] = acc
                    rho_pdpd[k, e, d] = acc
        # backward through the statistics
        for k in range(n_comp):
            sgs = max(sum_g[k], tiny)
            safe = sum_g[k] > tiny
            for d in range(dim):
                for e in range(dim):
                    grad_cov[k, d, e] = 0.5 * (rho_sum[k] * precision[k, d, e] - rho_pdpd[k, d, e])
                grad_cov[k, d, d] -= grad_penalty[s] / (cov_diag[k, d] * cov_diag[k, d])
            inner = 0.0
            for d in range(dim):
                acc = 0.0
                for e in range(dim):
                    acc += grad_cov[k, d, e] * means[k, e]
                    inner += grad_cov[k, d, e] * sum_gyy[k, d, e]
                grad_mean = -rho_pd[k, d] - 2.0 * acc
                inner += grad_mean * sum_gy[k, d]
                grad_sum_gy[k, d] = grad_mean / sgs if safe else 0.0
            grad_sum_g[k] = (-rho_sum[k] - inner / sgs) / sgs if safe else 0.0
            for d in range(dim):
                for e in range(dim):
                    grad_sum_gyy[k, d, e] = grad_cov[k, d, e] / sgs if safe else 0.0
        # the memberships' gradient (then the softmax's) and the codes'
        for d in range(dim):
            for i in range(n_rows):
                grad_y[d, i] = 0.0
        for k in range(n_comp):
            for i in range(n_rows):
                quad[i] = grad_sum_g[k]
            for d in range(dim):
                for i in range(n_rows):
                    tmp[i] = 0.0
                for e in range(dim):
                    c = grad_sum_gyy[k, d, e]
                    for i in range(n_rows):
                        tmp[i] += c * y[e, i]
                b = grad_sum_gy[k, d]
                for i in range(n_rows):
                    quad[i] += (b + tmp[i]) * y[d, i]
                    grad_y[d, i] += g[k, i] * (b + 2.0 * tmp[i]) + resp[k, i] * pd[k, d, i]
            if masked:
                for i in range(n_rows):
                    grad_g[k, i] = quad[i] if weight[i] > 0.0 else 0.0
            else:
                for i in range(n_rows):
                    grad_g[k, i] = quad[i]
        for i in range(n_rows):
            tmp[i] = 0.0
        for k in range(n_comp):
            for i in range(n_rows):
                tmp[i] += gamma[k, i] * grad_g[k, i]
        for k in range(n_comp):
            for i in range(n_rows):
                grad_logits_t[s, k, i] = gamma[k, i] * (grad_g[k, i] - tmp[i])
        for d in range(dim):
            for i in range(n_rows):
                grad_z[s, i, d] = grad_y[d, i]
    return True


def mixture_step(
    z: np.ndarray,
    logits_t: np.ndarray,
    mask: np.ndarray | None,
    reg_covar: float,
    grad_energy: np.ndarray,
    grad_penalty: np.ndarray,
    threads: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Softmax, batch mixture, mean energy and penalty, and their gradients, per member.

    Parameters
    ----------
    z : ndarray, shape (S, N, D), float32
    logits_t : ndarray, shape (S, K, N), float32
        The estimation network's output, transposed.
    mask : ndarray of bool, shape (S, N), optional
    reg_covar : float
    grad_energy, grad_penalty : ndarray, shape (S,), float64
        The weights of the mean energy and the penalty in the scalar to differentiate.
    threads : int, default 1
        Members split over up to this many of torch's threads (:func:`_by_members`).

    Returns
    -------
    mean_energy, penalty : ndarray, shape (S,), float64
    grad_z : ndarray, shape (S, N, D), float64
    grad_logits_t : ndarray, shape (S, K, N), float32
        Or None where a covariance is not positive definite (the caller falls
        back to the autograd step, which escalates the jitter).
    """
    n_members = z.shape[0]
    terms = np.empty((2, n_members))
    grad_z = np.empty(z.shape)
    grad_logits_t = np.empty(logits_t.shape, dtype=np.float32)
    masked = mask is not None
    ok = _by_members(
        _require().mixture_step,
        n_members,
        threads,
        z,
        logits_t,
        mask if masked else _NO_MASK,
        masked,
        float(reg_covar),
        np.ascontiguousarray(grad_energy, dtype=np.float64),
        np.ascontiguousarray(grad_penalty, dtype=np.float64),
        terms,
        grad_z,
        grad_logits_t,
    )
    if not all(ok):
        return None
    return terms[0], terms[1], grad_z, grad_logits_t


def _majority_count(data, step, candidate, weight, count):  # pragma: no cover - compiled
    n_rows = (data.shape[0] + step - 1) // step
    n_features = data.shape[1]
    # The pairwise tree of training.majority_candidates, level by level in
    # place (level i's pair 2i, 2i + 1 is read before slot i is written), so
    # that both paths pick the same candidate even where no value has a majority.
    m = (n_rows + 1) // 2
    for i in range(n_rows // 2):
        first = 2 * i * step
        for j in range(n_features):
            a = data[first, j]
            candidate[i, j] = a
            weight[i, j] = 2 if a == data[first + step, j] else 0
    if n_rows % 2:
        for j in range(n_features):
            candidate[m - 1, j] = data[(n_rows - 1) * step, j]
            weight[m - 1, j] = 1
    while m > 1:
        half = m // 2
        for i in range(half):
            for j in range(n_features):
                a = candidate[2 * i, j]
                b = candidate[2 * i + 1, j]
                w_a = weight[2 * i, j]
                w_b = weight[2 * i + 1, j]
                candidate[i, j] = a if w_a >= w_b else b
                weight[i, j] = w_a + w_b if a == b else abs(w_a - w_b)
        if m % 2:
            for j in range(n_features):
                candidate[half, j] = candidate[m - 1, j]
                weight[half, j] = weight[m - 1, j]
        m = half + m % 2
    for j in range(n_features):
        count[j] = 0
    for i in range(n_rows):
        row = i * step
        for j in range(n_features):
            if data[row, j] == candidate[0, j]:
                count[j] += 1


def majority_count(data: np.ndarray, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Each column's majority candidate among rows ``0, step, 2 step, ...`` and its count.

    The same candidate as :func:`dagmm.training.majority_candidates` on
    ``data[::step]`` (the same pairwise Boyer-Moore merges, in one pass per tree
    level without temporaries) and the number of those rows equal to it.

    Parameters
    ----------
    data : ndarray, shape (n, F), float32 or float64, n >= 1
    step : int

    Returns
    -------
    candidate : ndarray, shape (F,), data's dtype
    count : ndarray, shape (F,), int64
    """
    if not data.flags.c_contiguous:
        data, step = np.ascontiguousarray(data[::step]), 1  # copy only the rows read
    half = ((data.shape[0] + step - 1) // step + 1) // 2
    candidate = np.empty((half, data.shape[1]), dtype=data.dtype)
    weight = np.empty((half, data.shape[1]), dtype=np.int64)
    count = np.empty(data.shape[1], dtype=np.int64)
    _require().majority_count(data, int(step), candidate, weight, count)
    return candidate[0].copy(), count
