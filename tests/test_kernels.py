"""The compiled kernels (dagmm._kernels) compute what the numpy path computes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dagmm import _kernels
from dagmm.fused import _ReconstructionFeatures, _softmax_over_components
from dagmm.mixture import energy_and_penalty_gradients_numpy
from dagmm.network import NORM_FLOOR

pytestmark = pytest.mark.skipif(not _kernels.available(), reason="numba is not installed")


def _numpy_mixture_step(z, logits_t, mask, reg_covar, lam_e, lam_p):
    gamma = _softmax_over_components(logits_t.astype(np.float64))
    energy, penalty, grad_z, grad_gamma = energy_and_penalty_gradients_numpy(
        z.astype(np.float64), gamma, reg_covar, lam_e, lam_p, mask
    )
    weighted = (gamma * grad_gamma).sum(-2, keepdims=True)
    return energy, penalty, grad_z, (gamma * (grad_gamma - weighted)).astype(np.float32)


@pytest.mark.parametrize("use_mask", [False, True])
@pytest.mark.parametrize(("n_members", "n_rows", "dim", "n_comp"), [(1, 300, 3, 4), (3, 97, 4, 2)])
def test_mixture_step_equals_the_numpy_closed_form(use_mask, n_members, n_rows, dim, n_comp):
    rng = np.random.default_rng(n_members * 10 + dim)
    z = rng.standard_normal((n_members, n_rows, dim)).astype(np.float32)
    z[..., -1] *= 0.01  # a narrow dimension, as the cosine feature often is
    logits_t = rng.standard_normal((n_members, n_comp, n_rows)).astype(np.float32)
    logits_t[0, 1] -= 60.0  # a component with (almost) no weight
    mask = rng.random((n_members, n_rows)) > 0.3 if use_mask else None
    lam_e = np.linspace(0.1, 0.3, n_members)
    lam_p = np.linspace(0.005, 0.0, n_members)
    got = _kernels.mixture_step(z, logits_t, mask, 1e-6, lam_e, lam_p)
    want = _numpy_mixture_step(z, logits_t, mask, 1e-6, lam_e, lam_p)
    for name, a, b in zip(("energy", "penalty", "grad_z"), got[:3], want[:3], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(got[3], want[3], rtol=1e-5, atol=1e-7 * np.abs(want[3]).max())
    if use_mask:  # padded rows get no gradient
        assert not np.any(got[2][~mask])
        assert not np.any(got[3].transpose(0, 2, 1)[~mask])


def test_mixture_step_reports_a_covariance_it_cannot_factorise():
    z = np.zeros((1, 50, 3), dtype=np.float32)  # every row the same code
    logits_t = np.zeros((1, 2, 50), dtype=np.float32)
    ones = np.ones(1)
    assert _kernels.mixture_step(z, logits_t, None, 0.0, ones, ones) is None
    assert _kernels.mixture_step(z, logits_t, None, 1e-6, ones, ones) is not None


def test_reconstruction_features_and_gradient_equal_the_numpy_path():
    rng = np.random.default_rng(0)
    n_members, n_rows, n_features, latent = 2, 130, 37, 2
    x = rng.standard_normal((n_members, n_rows, n_features)).astype(np.float32)
    x_hat = (x + 0.1 * rng.standard_normal(x.shape)).astype(np.float32)
    x[0, :3] = 0.0  # zero rows: the clamps bind
    x_hat[1, 5] = x[1, 5]  # a perfect reconstruction
    z_c = rng.standard_normal((n_members, n_rows, latent)).astype(np.float32)
    products, z = _kernels.reconstruction_features(x, x_hat, z_c, NORM_FLOOR)
    diff = x.astype(np.float64) - x_hat
    want = [
        (diff * diff).sum(-1),
        (x.astype(np.float64) ** 2).sum(-1),
        (x_hat.astype(np.float64) ** 2).sum(-1),
        (x.astype(np.float64) * x_hat).sum(-1),
    ]
    for got, expected in zip(products, want, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert products[0][1, 5] == 0.0
    features = _ReconstructionFeatures(*products)
    np.testing.assert_allclose(z, features.representation(z_c), rtol=1e-6, atol=1e-7)

    grad_z = rng.standard_normal((n_members, n_rows, latent + 2)).astype(np.float32)
    row_weight = np.full((n_members, n_rows), 1.0 / n_rows, dtype=np.float32)
    got = _kernels.reconstruction_gradient(x, x_hat, products, grad_z, row_weight, NORM_FLOOR)
    c_x_hat, c_x = features.reconstruction_coefficients(
        grad_z[..., latent], grad_z[..., latent + 1], row_weight
    )
    want = c_x_hat * x_hat + c_x * x
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * np.abs(want).max())
    assert np.isfinite(got).all()


def test_reconstruction_gradient_is_the_derivative_of_the_loss():
    # against torch autograd of the loss in float64, independent of the numpy path's formulas
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 4, 6)).astype(np.float32)
    x_hat = rng.standard_normal((1, 4, 6)).astype(np.float32)
    z_c = np.zeros((1, 4, 1), dtype=np.float32)
    # loss = sum_i w . features_i + |x_i - x_hat_i|^2 / 4
    weights = np.array([0.3, -0.7], dtype=np.float32)
    grad_z = np.zeros((1, 4, 3), dtype=np.float32)
    grad_z[..., 1:] = weights
    row_weight = np.full((1, 4), 0.25, dtype=np.float32)
    products, _ = _kernels.reconstruction_features(x, x_hat, z_c, NORM_FLOOR)
    got = _kernels.reconstruction_gradient(x, x_hat, products, grad_z, row_weight, NORM_FLOOR)

    x64 = torch.from_numpy(x).double()
    x_hat64 = torch.from_numpy(x_hat).double().requires_grad_()
    se = ((x64 - x_hat64) ** 2).sum(-1)
    relative = se.sqrt() / x64.norm(dim=-1).clamp_min(NORM_FLOOR)
    cosine = (x64 * x_hat64).sum(-1) / (x64.norm(dim=-1) * x_hat64.norm(dim=-1)).clamp_min(
        NORM_FLOOR
    )
    loss = (0.25 * se + 0.3 * relative - 0.7 * cosine).sum()
    (want,) = torch.autograd.grad(loss, x_hat64)
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-4, atol=1e-6)


def test_the_environment_can_turn_the_kernels_off(monkeypatch):
    monkeypatch.setenv("DAGMM_NUMBA", "0")
    assert not _kernels._enabled_by_environment()
    monkeypatch.setenv("DAGMM_NUMBA", "1")
    assert _kernels._enabled_by_environment()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("n_rows", "step"), [(1, 1), (2, 1), (5, 1), (64, 1), (999, 1), (1000, 3), (7, 4)]
)
def test_majority_count_picks_the_numpy_tree_candidate(dtype, n_rows, step):
    from dagmm.training import majority_candidates

    rng = np.random.default_rng(n_rows * 7 + step)
    columns = [
        rng.integers(0, 3, n_rows),  # ties between three values: no majority, some value wins
        np.where(rng.random(n_rows) < 0.7, 0.0, rng.normal(size=n_rows)),  # a sparse column
        rng.normal(size=n_rows),  # all distinct
        np.where(rng.random(n_rows) < 0.5, -0.0, 0.0),  # signed zeros compare equal
        np.where(rng.random(n_rows) < 0.6, np.nan, 1.0),  # NaN never equals itself
    ]
    data = np.stack(columns, axis=1).astype(dtype)
    candidate, count = _kernels.majority_count(data, step)
    rows = data[::step]
    want = majority_candidates(rows)[0]
    np.testing.assert_array_equal(candidate, want)  # NaN == NaN here
    np.testing.assert_array_equal(count, np.count_nonzero(rows == want, axis=0))
    assert candidate.dtype == dtype and count.shape == (data.shape[1],)
    # a column-major copy takes the copying path and gives the same answer
    candidate_f, count_f = _kernels.majority_count(np.asfortranarray(data), step)
    np.testing.assert_array_equal(candidate_f, want)
    np.testing.assert_array_equal(count_f, count)


def test_cpu_scoring_takes_its_row_products_from_the_kernel(monkeypatch):
    # the CPU scoring engine's reconstruction features: one compiled pass where numba
    # serves, numpy's einsum passes without it; the two agree to float32 rounding
    from dagmm import DAGMM, inference

    rng = np.random.default_rng(0)
    rows = rng.standard_normal((300, 9)).astype(np.float32)
    rows[:2] = 0.0  # zero rows: the clamps bind
    model = DAGMM(epochs=1, batch_size=64, random_state=0, device="cpu").fit(rows)
    member = inference._member(model.net_, 0)
    calls = []
    kernel = _kernels.row_products
    monkeypatch.setattr(_kernels, "row_products", lambda *a: calls.append(1) or kernel(*a))
    compiled = inference._chunk_z(rows, member)
    assert calls == [1]
    monkeypatch.setattr(_kernels, "ENABLED", False)
    plain = inference._chunk_z(rows, member)
    assert calls == [1]
    np.testing.assert_allclose(compiled, plain, rtol=1e-5, atol=1e-6)

    x_hat = (rows + 0.1 * rng.standard_normal(rows.shape)).astype(np.float32)
    diff = rows.astype(np.float64) - x_hat
    want = [(diff * diff).sum(-1), (rows.astype(np.float64) ** 2).sum(-1)]
    want += [(x_hat.astype(np.float64) ** 2).sum(-1), (rows.astype(np.float64) * x_hat).sum(-1)]
    got = kernel(rows, x_hat)
    assert got.shape == (4, 300) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # a row's products do not depend on the rows around it, digit for digit (where the
    # matrix products do not either, a row then scores the same in any chunk)
    for start, stop in ((5, 6), (7, 300), (0, 131)):
        part = kernel(rows[start:stop].copy(), x_hat[start:stop].copy())
        np.testing.assert_array_equal(part, got[:, start:stop])


def _float32_ulps(got: np.ndarray, exact: np.ndarray) -> np.ndarray:
    return np.abs(got - exact) / np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)


def test_compiled_tanh_is_tanh_to_a_few_ulps():
    # every float32 from 0 to 8 (where tanh rounds to 1) in steps of 4,099 ulps
    # (odd, so every low-bit pattern is visited), and the two ends
    bits = np.arange(0, np.float32(8.0).view(np.int32), 4099, dtype=np.int32)
    x = np.concatenate([bits.view(np.float32), np.float32([3.9e-4, 4e-4, 8.0, 9.0, 1e30])])
    got = _kernels.tanh_(x.copy())
    ulps = _float32_ulps(got, np.tanh(x.astype(np.float64)))
    assert ulps.max() <= 5.0, x[ulps.argmax()]  # 4.90 over all floats in [0, 10]
    assert ulps.mean() < 0.5
    assert np.all(np.abs(got) <= 1.0) and got[-1] == 1.0  # saturates exactly
    # odd, exact at 0 (-0 too) and inf; NaN stays NaN
    np.testing.assert_array_equal(_kernels.tanh_(-x), -got)
    special = _kernels.tanh_(np.float32([0.0, -0.0, np.inf, -np.inf, np.nan]))
    np.testing.assert_array_equal(special, [0.0, -0.0, 1.0, -1.0, np.nan])
    assert np.signbit(special[1])


def test_compiled_tanh_does_not_depend_on_a_value_s_position():
    rng = np.random.default_rng(3)
    values = (3.0 * rng.standard_normal(1000)).astype(np.float32)
    whole = _kernels.tanh_(values.copy())
    # slices of every length around the vector width, starting at every offset
    for start in range(17):
        for length in (1, 3, 7, 8, 9, 15, 16, 17, 33, 100):
            piece = _kernels.tanh_(values[start : start + length].copy())
            np.testing.assert_array_equal(piece, whole[start : start + length])
    # a 2-D C-contiguous array is tanh'd as its flat values
    grid = values[:960].reshape(40, 24).copy()
    np.testing.assert_array_equal(_kernels.tanh_(grid).reshape(-1), whole[:960])


def test_compiled_tanh_refuses_what_it_cannot_overwrite_in_place():
    with pytest.raises(ValueError, match="C-contiguous float32"):
        _kernels.tanh_(np.zeros(4))
    with pytest.raises(ValueError, match="C-contiguous float32"):
        _kernels.tanh_(np.zeros((4, 4), dtype=np.float32).T)


def test_network_tanh_takes_the_compiled_kernel_without_numpy_s_simd_tanh(monkeypatch):
    from dagmm import network

    monkeypatch.setattr(network, "_NUMPY_SIMD_TANH", False)
    calls = []
    real = _kernels.tanh_
    monkeypatch.setattr(
        _kernels, "tanh_", lambda a, *threads: calls.append(a.dtype) or real(a, *threads)
    )
    values = np.linspace(-5, 5, 101, dtype=np.float32)
    out = network.tanh_(values.copy())
    assert calls == [np.float32]
    np.testing.assert_allclose(out, np.tanh(values), rtol=0, atol=5e-7)
    network.tanh_(values.astype(np.float64))  # float64 takes the sigmoid form
    network.tanh_(values.copy()[::2])  # as does a strided view
    monkeypatch.setattr(_kernels, "ENABLED", False)
    network.tanh_(values.copy())
    assert calls == [np.float32]
