from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from dagmm.mixture import (
    DAGMMNumericalWarning,
    add_statistics,
    cholesky_with_fallback,
    covariance_penalty,
    log_gaussian_density,
    parameters_from_statistics,
    regularize_covariances,
    sample_energy,
    sufficient_statistics,
)


def _random_mixture(rng, k=3, d=4):
    weights = rng.dirichlet(np.ones(k))
    means = rng.normal(size=(k, d)) * 2
    covs = []
    for _ in range(k):
        a = rng.normal(size=(d, d))
        covs.append(a @ a.T + 0.3 * np.eye(d))
    return weights, means, np.stack(covs)


def test_energy_matches_scipy():
    rng = np.random.default_rng(1)
    weights, means, covs = _random_mixture(rng)
    z = rng.normal(size=(50, 4)) * 3
    expected = -logsumexp(
        np.stack(
            [
                np.log(w) + multivariate_normal(m, c).logpdf(z)
                for w, m, c in zip(weights, means, covs, strict=False)
            ],
            axis=1,
        ),
        axis=1,
    )
    tril = torch.linalg.cholesky(torch.from_numpy(covs))
    got = sample_energy(
        torch.from_numpy(z), torch.from_numpy(weights), torch.from_numpy(means), tril
    )
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5)


def test_log_density_matches_torch_distributions():
    rng = np.random.default_rng(2)
    _, means, covs = _random_mixture(rng, k=2, d=3)
    z = torch.from_numpy(rng.normal(size=(10, 3)))
    tril = torch.linalg.cholesky(torch.from_numpy(covs))
    got = log_gaussian_density(z, torch.from_numpy(means), tril)
    for k in range(2):
        dist = torch.distributions.MultivariateNormal(
            torch.from_numpy(means[k]), scale_tril=tril[k]
        )
        torch.testing.assert_close(got[:, k], dist.log_prob(z))


def test_far_anomalies_do_not_saturate():
    weights = torch.tensor([1.0], dtype=torch.float64)
    means = torch.zeros(1, 2, dtype=torch.float64)
    tril = torch.eye(2, dtype=torch.float64).unsqueeze(0)
    z = torch.tensor([[10.0, 0], [20.0, 0], [40.0, 0], [80.0, 0]], dtype=torch.float64)
    energy = sample_energy(z, weights, means, tril)
    assert torch.all(torch.diff(energy) > 100), energy
    assert torch.isfinite(energy).all()


def test_batched_over_components_equals_loop():
    rng = np.random.default_rng(3)
    z = torch.from_numpy(rng.normal(size=(40, 3)))
    gamma = torch.softmax(torch.from_numpy(rng.normal(size=(40, 4))), -1)
    weights, means, covs = parameters_from_statistics(sufficient_statistics(z, gamma))
    for k in range(4):
        g = gamma[:, k : k + 1]
        mu = (g * z).sum(0) / g.sum()
        diff = z - mu
        cov = (g * diff).T @ diff / g.sum()
        torch.testing.assert_close(weights[k], gamma[:, k].mean())
        torch.testing.assert_close(means[k], mu)
        torch.testing.assert_close(covs[k], cov)


def test_streaming_statistics_equal_one_shot():
    rng = np.random.default_rng(4)
    z = torch.from_numpy(rng.normal(size=(1000, 3)) * 5 + 100)
    gamma = torch.softmax(torch.from_numpy(rng.normal(size=(1000, 2))), -1)
    one_shot = parameters_from_statistics(sufficient_statistics(z, gamma, shift=z.mean(0)))
    shift = z[:100].mean(0)
    total = None
    for chunk in range(0, 1000, 128):
        part = sufficient_statistics(
            z[chunk : chunk + 128], gamma[chunk : chunk + 128], shift=shift
        )
        total = part if total is None else add_statistics(total, part)
    streamed = parameters_from_statistics(total)
    for a, b in zip(one_shot, streamed, strict=False):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_mask_ignores_padding_rows():
    rng = np.random.default_rng(5)
    z = torch.from_numpy(rng.normal(size=(30, 2)))
    gamma = torch.softmax(torch.from_numpy(rng.normal(size=(30, 2))), -1)
    padded_z = torch.cat([z, torch.full((5, 2), 1e6, dtype=torch.float64)])
    padded_g = torch.cat([gamma, torch.full((5, 2), 0.5, dtype=torch.float64)])
    mask = torch.cat([torch.ones(30), torch.zeros(5)])
    a = parameters_from_statistics(sufficient_statistics(z, gamma))
    b = parameters_from_statistics(sufficient_statistics(padded_z, padded_g, mask))
    for x, y in zip(a, b, strict=False):
        torch.testing.assert_close(x, y)


def test_reg_covar_works_in_float32():
    # Perfectly correlated, large-scale covariance: 1e-6 alone is rounded away in float32.
    cov = torch.tensor([[[1e3, 1e3], [1e3, 1e3]]], dtype=torch.float32)
    assert torch.equal(cov + 1e-6 * torch.eye(2), cov)  # the trap
    reg = regularize_covariances(cov, 1e-6)
    assert not torch.equal(reg, cov)
    _, info = torch.linalg.cholesky_ex(reg)
    assert int(info.max()) == 0


def test_cholesky_fallback_warns_and_stays_finite():
    bad = torch.tensor([[[1.0, 2.0], [2.0, 1.0]]], dtype=torch.float64)  # indefinite
    with pytest.warns(DAGMMNumericalWarning):
        tril = cholesky_with_fallback(bad)
    assert torch.isfinite(tril).all()
    assert (tril.diagonal(dim1=-2, dim2=-1) > 0).all()
    good = torch.eye(2, dtype=torch.float64).unsqueeze(0) * 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        torch.testing.assert_close(cholesky_with_fallback(good), torch.linalg.cholesky(good))


def test_empty_component_is_finite():
    z = torch.randn(20, 3, dtype=torch.float64)
    gamma = torch.zeros(20, 2, dtype=torch.float64)
    gamma[:, 0] = 1.0
    weights, means, covs = parameters_from_statistics(sufficient_statistics(z, gamma))
    covs = regularize_covariances(covs, 1e-6)
    energy = sample_energy(z, weights, means, cholesky_with_fallback(covs))
    assert torch.isfinite(energy).all()
    assert torch.isfinite(covariance_penalty(covs))


def test_covariance_penalty_value():
    covs = torch.diag_embed(torch.tensor([[1.0, 2.0], [4.0, 0.5]]))
    assert covariance_penalty(covs).item() == pytest.approx(1 + 0.5 + 0.25 + 2)


def test_gradients_flow_through_energy():
    z = torch.randn(64, 3, dtype=torch.float64, requires_grad=True)
    logits = torch.randn(64, 2, dtype=torch.float64, requires_grad=True)
    gamma = torch.softmax(logits, -1)
    weights, means, covs = parameters_from_statistics(
        sufficient_statistics(z, gamma, shift=z.detach().mean(0))
    )
    covs = regularize_covariances(covs, 1e-6)
    sample_energy(z, weights, means, cholesky_with_fallback(covs)).mean().backward()
    assert torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0
