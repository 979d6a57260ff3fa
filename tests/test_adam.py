"""dagmm.adam.Adam updates as torch.optim.Adam does, and its state round-trips."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from dagmm.adam import Adam, _has_kernel

#: torch.optim.Adam(fused=True) on the CPU, the reference below: torch 2.4 on
cpu_fused = pytest.mark.skipif(
    not _has_kernel("aten::_fused_adam_", "cpu"), reason="torch has fused Adam on the CPU from 2.4"
)


def _params(seed=0):
    g = torch.Generator().manual_seed(seed)
    return [
        torch.randn(2, 7, 5, generator=g).requires_grad_(),
        torch.randn(2, 1, 5, generator=g).requires_grad_(),
        torch.randn(3, generator=g).requires_grad_(),
    ]


def _run(optimizers, param_sets, steps, reload_at=None):
    g = torch.Generator().manual_seed(1)
    for step in range(steps):
        grads = [torch.randn(p.shape, generator=g) for p in param_sets[0]]
        for params, opt in zip(param_sets, optimizers, strict=True):
            for p, grad in zip(params, grads, strict=True):
                p.grad = grad.clone()
            opt.step()
            if step == reload_at:
                opt.load_state_dict(opt.state_dict())


@cpu_fused
@pytest.mark.parametrize("weight_decay", [0.0, 1e-3])
def test_fused_updates_equal_torch_fused_adam_bit_for_bit(weight_decay):
    ours, theirs = _params(), _params()
    mine = Adam(ours, lr=1e-2, weight_decay=weight_decay)
    assert mine.fused
    ref = torch.optim.Adam(theirs, lr=1e-2, weight_decay=weight_decay, fused=True)
    _run([mine, ref], [ours, theirs], steps=7, reload_at=3)
    for p, q in zip(ours, theirs, strict=True):
        assert torch.equal(p, q)
    for i, entry in ref.state_dict()["state"].items():
        for key, value in entry.items():
            assert torch.equal(mine.state_dict()["state"][i][key], value), (i, key)


@pytest.mark.parametrize("weight_decay", [0.0, 1e-3])
def test_fallback_updates_equal_torch_single_tensor_adam(weight_decay):
    ours, theirs = _params(), _params()
    mine = Adam(ours, lr=1e-2, weight_decay=weight_decay)
    mine.fused = False  # as on a device without the fused kernel
    ref = torch.optim.Adam(theirs, lr=1e-2, weight_decay=weight_decay, foreach=False)
    _run([mine, ref], [ours, theirs], steps=7, reload_at=2)
    for p, q in zip(ours, theirs, strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-7)
    moved = [p.detach().clone() for p in _params()]
    assert all(not torch.equal(p, q) for p, q in zip(ours, moved, strict=True))


def test_a_torch_without_the_fused_kernel_for_the_device_gets_the_formula(monkeypatch):
    # torch 2.2 and 2.3 define torch._fused_adam_ with a CUDA kernel only: every CPU fit
    # failed with "Could not run 'aten::_fused_adam_' with arguments from the 'CPU' backend"
    registered = {("aten::_fused_adam_", "CUDA")}
    monkeypatch.setattr(
        torch._C, "_dispatch_has_kernel_for_dispatch_key", lambda op, key: (op, key) in registered
    )
    params = _params()
    mine = Adam(params, lr=1e-2)
    assert not mine.fused
    before = [p.detach().clone() for p in params]
    _run([mine], [params], steps=2)
    assert all(not torch.equal(p, q) for p, q in zip(params, before, strict=True))


@cpu_fused
def test_resumes_from_torch_adam_state_and_back():
    # a checkpoint written while training used torch.optim.Adam continues here
    ours, theirs = _params(), _params()
    ref = torch.optim.Adam(theirs, lr=1e-2, fused=True)
    _run([ref], [theirs], steps=3)
    for p, q in zip(ours, theirs, strict=True):
        p.data.copy_(q.data)
    mine = Adam(ours, lr=1e-2)
    mine.load_state_dict(ref.state_dict())
    _run([mine, ref], [ours, theirs], steps=4)
    for p, q in zip(ours, theirs, strict=True):
        assert torch.equal(p, q)
    # and its state loads into torch.optim.Adam
    fresh = torch.optim.Adam(_params(), lr=1e-2, fused=True)
    fresh.load_state_dict(mine.state_dict())
    assert float(fresh.state_dict()["state"][0]["step"]) == 7.0


@pytest.mark.parametrize("fused", [pytest.param(True, marks=cpu_fused), False])
def test_parameters_without_gradients_are_skipped_as_torch_does(fused):
    ours, theirs = _params(), _params()
    mine = Adam(ours, lr=1e-2)
    mine.fused = fused
    ref = torch.optim.Adam(theirs, lr=1e-2, fused=fused, foreach=None if fused else False)
    g = torch.Generator().manual_seed(2)
    for step in range(5):
        grads = [torch.randn(p.shape, generator=g) for p in ours]
        for params in (ours, theirs):
            for i, (p, grad) in enumerate(zip(params, grads, strict=True)):
                # the middle parameter has no gradient in steps 0 and 3
                p.grad = None if i == 1 and step in (0, 3) else grad.clone()
        mine.step()
        ref.step()
    for p, q in zip(ours, theirs, strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0 if fused else 1e-7)
    assert float(mine.state_dict()["state"][1]["step"]) == 3.0
    assert float(mine.state_dict()["state"][0]["step"]) == 5.0
    for p in ours:
        p.grad = None
    before = [p.detach().clone() for p in ours]
    mine.step()  # nothing to do
    assert all(torch.equal(p, b) for p, b in zip(ours, before, strict=True))


def test_bad_state_is_named():
    params = _params()
    opt = Adam(params, lr=1e-3)
    for p in params:
        p.grad = torch.ones_like(p)
    opt.step()
    state = opt.state_dict()
    state["state"][3] = state["state"][2]
    with pytest.raises(ValueError, match=r"entries \[3\] beyond the 3 parameters"):
        Adam(_params(), lr=1e-3).load_state_dict(state)
    # a parameter torch.optim.Adam never stepped has no entry: it starts afresh
    state = opt.state_dict()
    del state["state"][2]
    partial = Adam(_params(), lr=1e-3)
    partial.load_state_dict(state)
    assert float(partial.state_dict()["state"][2]["step"]) == 0.0
    assert float(partial.state_dict()["state"][1]["step"]) == 1.0
    state = opt.state_dict()
    state["state"][1] = {**state["state"][1], "exp_avg": torch.zeros(4)}
    with pytest.raises(ValueError, match=r"1\.exp_avg has shape \(4,\)"):
        Adam(_params(), lr=1e-3).load_state_dict(state)
    with pytest.raises(ValueError, match="learning rate"):
        Adam(_params(), lr=float("nan"))
    opt.zero_grad()
    assert all(p.grad is None for p in params)


def test_fit_does_not_import_dynamo():
    # torch.optim's constructor imports torch._dynamo (over a second per process)
    code = (
        "import sys, numpy as np; from dagmm import DAGMM; "
        "DAGMM(epochs=1, random_state=0).fit(np.random.default_rng(0).normal(size=(300, 4)));"
        "print('torch._dynamo' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
