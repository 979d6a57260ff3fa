"""The hand-derived training step (dagmm.fused) computes what autograd computes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional

from dagmm.fused import FusedStep, fused_step_supported
from dagmm.mixture import (
    CholeskyFallbackNeeded,
    energy_and_penalty,
    energy_and_penalty_gradients_numpy,
)
from dagmm.network import DAGMMNet
from dagmm.training import (
    MIXTURE_DTYPE,
    TrainingConfig,
    _objective,
    fit_scaling,
    train_members,
)


@pytest.fixture(autouse=True, params=["numpy", "compiled"])
def step_path(request, monkeypatch):
    """Every test runs on both paths of the fused step: numpy calls, compiled kernels."""
    from dagmm import _kernels

    if request.param == "compiled" and not _kernels.available():
        pytest.skip("numba is not installed")
    monkeypatch.setattr(_kernels, "ENABLED", request.param == "compiled")
    return request.param


def _net(n_members, dropout=0.0, est=(5,), hidden=(12, 6), latent=2, k=3, seed=0):
    net = DAGMMNet(20, hidden, latent, est, k, dropout=dropout, n_members=n_members)
    net.reset_parameters(list(range(seed, seed + n_members)))
    with torch.no_grad():
        net.input_scale.uniform_(0.5, 1.5)
        net.input_offset.uniform_(-0.2, 0.2)
    return net


def _autograd(net, x, mask, config):
    net.train()
    net.zero_grad(set_to_none=True)
    _, _, z, squared_error = net.represent(x)
    gamma = net.memberships_t(z, MIXTURE_DTYPE).transpose(-1, -2)
    terms = _objective(squared_error, z, gamma, x.shape[-1], config, mask)
    terms.total.sum().backward()
    return terms, {name: p.grad.clone() for name, p in net.named_parameters()}


def _fused(net, x, mask, config):
    net.train()
    step = FusedStep(
        net, config.lambda_energy, config.lambda_cov, config.reg_covar, config.reconstruction_loss
    )
    terms = step(x, mask)
    return terms, {name: p.grad.clone() for name, p in net.named_parameters()}


def _assert_same(fused, reference):
    for got, want in zip(fused[0], reference[0], strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    for name, want in reference[1].items():
        scale = want.abs().max().clamp_min(1e-6)
        err = (fused[1][name] - want).abs().max() / scale
        assert err < 1e-4, f"{name}: relative gradient error {float(err):.2e}"


@pytest.mark.parametrize(
    ("n_members", "use_mask", "loss", "est"),
    [
        (1, False, "sum", (5,)),
        (1, True, "mean", (5,)),
        (3, True, "mean", (5,)),
        (2, False, "sum", (6, 4)),
        (2, True, "sum", ()),
    ],
)
def test_fused_step_equals_autograd(n_members, use_mask, loss, est):
    torch.manual_seed(0)
    net = _net(n_members, est=est)
    x = torch.randn(n_members, 64, 20)
    mask = torch.rand(n_members, 64) > 0.2 if use_mask else None
    config = TrainingConfig(epochs=1, batch_size=64, learning_rate=1e-3, reconstruction_loss=loss)
    _assert_same(_fused(net, x, mask, config), _autograd(net, x, mask, config))


@pytest.mark.parametrize("est", [(8, 5), (6,)])
def test_fused_step_equals_autograd_with_dropout(monkeypatch, est):
    """Same dropout masks on both sides: the reference draws them as the fused step does."""

    def same_draws(h, p, training):
        if not training or p == 0.0:
            return h
        keep = 1.0 - p
        return h * (torch.rand(h.shape, dtype=h.dtype) < keep).to(h.dtype) / keep

    monkeypatch.setattr(functional, "dropout", same_draws)
    net = _net(2, dropout=0.5, est=est)
    x = torch.randn(2, 50, 20)
    config = TrainingConfig(epochs=1, batch_size=50, learning_rate=1e-3)
    torch.manual_seed(3)
    fused = _fused(net, x, None, config)
    torch.manual_seed(3)
    reference = _autograd(net, x, None, config)
    _assert_same(fused, reference)
    # and the masks matter: another draw gives other gradients
    torch.manual_seed(4)
    other = _autograd(net, x, None, config)
    assert not torch.allclose(other[1]["estimation.0.weight"], reference[1]["estimation.0.weight"])


def test_zero_rows_and_degenerate_reconstructions_stay_finite():
    net = _net(1)
    x = torch.randn(1, 32, 20)
    x[0, :4] = 0.0
    with torch.no_grad():
        net.input_offset.zero_()  # all-zero input rows stay zero after scaling
    config = TrainingConfig(epochs=1, batch_size=32, learning_rate=1e-3)
    fused = _fused(net, x, None, config)
    assert all(bool(torch.isfinite(g).all()) for g in fused[1].values())
    _assert_same(fused, _autograd(net, x, None, config))


@pytest.mark.parametrize("use_mask", [False, True])
def test_numpy_mixture_gradients_equal_the_torch_closed_form(use_mask):
    torch.manual_seed(2)
    z = torch.randn(3, 80, 4, dtype=torch.float64, requires_grad=True)
    logits = torch.randn(3, 80, 5, dtype=torch.float64)
    logits[1, :, 2] = -60.0  # a component with (almost) no weight in member 1
    gamma = torch.softmax(logits, -1).requires_grad_()
    mask = torch.rand(3, 80) > 0.3 if use_mask else None
    lam_e = torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64)
    lam_p = torch.tensor([0.005, 0.01, 0.0], dtype=torch.float64)
    energy, penalty = energy_and_penalty(z, gamma, 1e-6, mask)
    grad_z, grad_gamma = torch.autograd.grad((energy * lam_e + penalty * lam_p).sum(), (z, gamma))
    arrays = energy_and_penalty_gradients_numpy(
        z.detach().numpy(),
        gamma.detach().transpose(-1, -2).contiguous().numpy(),
        1e-6,
        lam_e.numpy(),
        lam_p.numpy(),
        None if mask is None else mask.numpy(),
    )
    got = [torch.from_numpy(a) for a in arrays]
    torch.testing.assert_close(got[0], energy.detach(), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(got[1], penalty.detach(), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(got[2], grad_z, rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(got[3], grad_gamma.transpose(-1, -2), rtol=1e-8, atol=1e-10)


def test_failed_factorisation_raises_before_any_gradient_is_written():
    net = _net(1)
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()  # every row maps to the same z: zero covariance
    x = torch.randn(1, 32, 20)
    config = TrainingConfig(epochs=1, batch_size=32, learning_rate=1e-3, reg_covar=0.0)
    for p in net.parameters():
        p.grad = torch.full_like(p, 7.0)
    with pytest.raises(CholeskyFallbackNeeded):
        _fused(net, x, None, config)
    assert all(bool((p.grad == 7.0).all()) for p in net.parameters())


def test_batches_the_fused_step_cannot_factorise_take_the_autograd_step(monkeypatch):
    from dagmm import fused

    def refuse(*args, **kwargs):
        raise CholeskyFallbackNeeded

    plain, plain_net = _train(False, epochs=2)
    monkeypatch.setattr(fused, "energy_and_penalty_gradients_numpy", refuse)
    monkeypatch.setattr(fused._kernels, "mixture_step", lambda *args: None)
    fallen_back, fallen_net = _train(True, epochs=2)
    assert fallen_back.history == plain.history
    for p, q in zip(fallen_net.parameters(), plain_net.parameters(), strict=True):
        assert torch.equal(p, q)


def _train(fused_step, members=2, epochs=4):
    torch.manual_seed(5)
    x = torch.rand(300, 20)
    rows = [torch.arange(0, 300), torch.arange(40, 260)][:members]
    net = _net(members)
    offset, scale = fit_scaling(x, rows, "minmax")
    net.input_offset.copy_(offset)
    net.input_scale.copy_(scale)
    config = TrainingConfig(epochs=epochs, batch_size=64, learning_rate=1e-3, fused_step=fused_step)
    torch.manual_seed(6)
    result = train_members(net, x, rows, config)
    return result, net


def test_training_with_the_fused_step_follows_the_autograd_run():
    fused, fused_net = _train(True)
    plain, plain_net = _train(False)
    for a, b in zip(fused.history, plain.history, strict=True):
        np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-4)
    for a, b in zip(fused_net.parameters(), plain_net.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5)


def test_fused_training_is_reproducible():
    a, net_a = _train(True, epochs=2)
    b, net_b = _train(True, epochs=2)
    assert a.history == b.history
    for p, q in zip(net_a.parameters(), net_b.parameters(), strict=True):
        assert torch.equal(p, q)


@pytest.mark.parametrize(("n_members", "use_mask"), [(1, False), (3, True)])
def test_a_step_that_keeps_its_buffers_equals_a_fresh_step(n_members, use_mask):
    """The step keeps its intermediate tensors from call to call: nothing of one
    batch may reach the next, and nothing it returned may be overwritten later."""
    torch.manual_seed(0)
    net = _net(n_members, dropout=0.5, est=(6, 4))
    config = TrainingConfig(epochs=1, batch_size=64, learning_rate=1e-3)
    first, second = torch.randn(n_members, 64, 20), 2.0 * torch.randn(n_members, 64, 20)
    mask = torch.rand(n_members, 64) > 0.2 if use_mask else None

    def new_step():
        return FusedStep(net, config.lambda_energy, config.lambda_cov, config.reg_covar)

    def run(step, batch, seed):
        torch.manual_seed(seed)  # the same dropout draws
        terms = step(batch, mask)
        return terms, {name: p.grad.clone() for name, p in net.named_parameters()}

    kept = new_step()
    run(kept, first, 1)
    again = run(kept, second, 2)
    buffers = {key: t.data_ptr() for key, t in kept._workspace._tensors.items()}
    fresh = run(new_step(), second, 2)
    for got, want in zip(again[0], fresh[0], strict=True):
        assert torch.equal(got, want)
    for name, want in fresh[1].items():
        assert torch.equal(again[1][name], want), name
    returned = [t.clone() for t in again[0]]
    run(kept, first, 1)
    for got, want in zip(again[0], returned, strict=True):
        assert torch.equal(got, want)
    # the input, code and reconstruction and every layer's input gradient but the first
    # layer's are kept, and a later step allocates none
    assert {("x",), ("z_c",), ("x_hat",)} <= set(buffers)
    assert sum(key[-1] == "input" for key in buffers) == 8
    assert {key: t.data_ptr() for key, t in kept._workspace._tensors.items()} == buffers


def test_fused_step_is_only_used_where_it_applies():
    net = _net(1)
    x = torch.zeros(4, 20)
    assert fused_step_supported(net, x, distributed=False)
    assert not fused_step_supported(net, x, distributed=True)
    assert not fused_step_supported(net, x.double(), distributed=False)
    relu = DAGMMNet(20, (6,), 1, (4,), 2, activation="relu")
    assert not fused_step_supported(relu, x, distributed=False)


def test_ensemble_row_products_member_by_member_equal_each_member_alone():
    # The ensemble path reduces member by member (in cache); each member must get
    # exactly what the one-model path computes from the same rows.
    from dagmm.fused import _reconstruction_gradient
    from dagmm.network import row_dot, row_products

    gen = torch.Generator().manual_seed(0)
    n_members, n_rows, hidden, n_features = 3, 257, 7, 19
    weight = torch.randn(n_members, hidden, n_features, generator=gen)
    bias = torch.randn(n_members, 1, n_features, generator=gen)
    h = torch.randn(n_members, n_rows, hidden, generator=gen)
    x = torch.randn(n_members, n_rows, n_features, generator=gen)
    coefficients = tuple(torch.randn(n_members, n_rows, 1, generator=gen) for _ in range(2))
    x_hat = torch.baddbmm(bias, h, weight)
    products = row_products(x, x_hat)
    grad = _reconstruction_gradient(x, x_hat, coefficients)
    for s in range(n_members):
        xs, x_hat_s = x[s], x_hat[s]
        want = (row_dot(xs - x_hat_s), row_dot(xs), row_dot(x_hat_s), row_dot(xs, x_hat_s))
        for got, expected in zip(products, want, strict=True):
            assert torch.equal(got[s], expected)
        expected_grad = _reconstruction_gradient(xs, x_hat_s, tuple(c[s] for c in coefficients))
        assert torch.equal(grad[s], expected_grad)
    # the same as the whole-array reductions (the autograd path's values did not move)
    assert torch.equal(products[0], row_dot(x - x_hat))
    assert torch.equal(products[3], row_dot(x, x_hat))
    # and they are the products they claim to be
    torch.testing.assert_close(products[0], ((x - x_hat) ** 2).sum(-1), rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(products[3], (x * x_hat).sum(-1), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize(
    ("torch_tanh", "numpy_tanh", "compiled"),
    [(True, True, False), (False, True, False), (False, False, True), (False, False, False)],
)
def test_fused_step_equals_autograd_with_every_tanh_kernel(
    monkeypatch, step_path, torch_tanh, numpy_tanh, compiled
):
    # the kernel is chosen by the CPU: torch's (Intel AVX-512), numpy's (other
    # AVX-512 CPUs), else the compiled rational form (numba) or the sigmoid form;
    # each must give the same step
    from dagmm import _kernels, fused, network

    if compiled and step_path == "numpy":
        pytest.skip("the compiled tanh serves only with the compiled kernels")
    monkeypatch.setattr(fused, "_TORCH_TANH_FAST", torch_tanh)
    monkeypatch.setattr(network, "_NUMPY_SIMD_TANH", numpy_tanh)
    # the step's other kernels stay as they are; only tanh_'s choice is switched
    real_ok, real_tanh, real_compiled = network._compiled_tanh_ok, network.tanh_, _kernels.tanh_
    monkeypatch.setattr(network, "_compiled_tanh_ok", lambda a: compiled and real_ok(a))
    calls, compiled_calls = [], []
    monkeypatch.setattr(
        network, "tanh_", lambda a, *threads: calls.append(a.shape) or real_tanh(a, *threads)
    )
    monkeypatch.setattr(
        _kernels,
        "tanh_",
        lambda a, *threads: compiled_calls.append(1) or real_compiled(a, *threads),
    )
    torch.manual_seed(0)
    net = _net(2)
    x = torch.randn(2, 64, 20)
    config = TrainingConfig(epochs=1, batch_size=64, learning_rate=1e-3)
    fused_terms = _fused(net, x, None, config)
    assert bool(calls) != torch_tanh  # torch's kernel bypasses network.tanh_
    assert bool(compiled_calls) == compiled
    _assert_same(fused_terms, _autograd(net, x, None, config))


def test_cpu_vendor_reads_proc_cpuinfo(monkeypatch, tmp_path):
    import builtins

    from dagmm import network

    fake = tmp_path / "cpuinfo"
    fake.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu\n")
    real_open = builtins.open
    monkeypatch.setattr(
        builtins,
        "open",
        lambda path, *a, **k: real_open(fake if path == "/proc/cpuinfo" else path, *a, **k),
    )
    assert network._cpu_vendor() == "GenuineIntel"
    fake.write_text("processor\t: 0\n")
    assert network._cpu_vendor() == ""
    fake.unlink()
    assert network._cpu_vendor() == ""


@pytest.mark.parametrize("n_members", [1, 4])
def test_members_share_torch_s_threads_and_step_as_on_one(monkeypatch, n_members):
    """With several members the compiled passes split them over torch's threads
    (dagmm._team); each member's losses and gradients stay exactly those of one pass.
    The numpy path (the other variant of the autouse fixture) hands nothing over."""
    from dagmm import _kernels, _team

    compiled = _kernels.available()
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        torch.manual_seed(0)
        net = _net(n_members, dropout=0.5, est=(6, 4))
        x = torch.randn(n_members, 64, 20)
        mask = torch.rand(n_members, 64) > 0.2
        config = TrainingConfig(epochs=1, batch_size=64, learning_rate=1e-3)
        calls = []
        real_run = _team.run

        def counted(tasks, threads):
            calls.append(len(tasks))
            real_run(tasks, threads)

        def one_after_another(tasks, threads):
            for task in tasks:
                task()

        monkeypatch.setattr(_team, "run", counted)
        torch.manual_seed(1)
        shared = _fused(net, x, mask, config)
        monkeypatch.setattr(_team, "run", one_after_another)
        torch.manual_seed(1)
        alone = _fused(net, x, mask, config)
    finally:
        torch.set_num_threads(before)
    # features, mixture and reconstruction gradient (the layers' tanh are too small)
    assert calls == ([2, 2, 2] if compiled and n_members > 1 else [])
    for got, want in zip(shared[0], alone[0], strict=True):
        assert torch.equal(got, want)
    for name, want in alone[1].items():
        assert torch.equal(shared[1][name], want), name
