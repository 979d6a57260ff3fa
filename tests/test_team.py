"""Tasks on torch's OpenMP threads (dagmm._team) and the compiled kernels split by it."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest
import torch

from dagmm import _kernels, _team

needs_team = pytest.mark.skipif(
    not _team.available(), reason="torch's OpenMP runtime is not reachable here"
)
needs_numba = pytest.mark.skipif(not _kernels.available(), reason="numba is not installed")


@pytest.fixture
def two_torch_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield 2
    torch.set_num_threads(before)


@pytest.mark.parametrize("n_tasks", [1, 2, 5])
@pytest.mark.parametrize("threads", [1, 2, 8])
def test_every_task_runs_exactly_once(n_tasks, threads):
    runs = []
    _team.run([lambda i=i: runs.append(i) for i in range(n_tasks)], threads)
    assert sorted(runs) == list(range(n_tasks))


@needs_team
def test_tasks_run_side_by_side_on_torch_s_own_threads(two_torch_threads):
    # a barrier of two passes only if both tasks wait at it at once
    barrier = threading.Barrier(2, timeout=20)
    threads = []

    def task():
        threads.append(threading.get_native_id())
        barrier.wait()

    torch.randn(1 << 22).exp_()  # an elementwise parallel_for: torch's OpenMP team exists
    before = set(os.listdir("/proc/self/task"))
    _team.run([task, task], two_torch_threads)
    assert len(set(threads)) == 2
    # the worker is one of torch's threads: no new OpenMP runtime spawned one
    assert set(os.listdir("/proc/self/task")) <= before


@needs_team
def test_the_first_error_is_raised_after_every_task_ran(two_torch_threads):
    ran = []

    def fail(message):
        ran.append(message)
        raise ValueError(message)

    with pytest.raises(ValueError, match=r"first|second"):
        _team.run(
            [lambda: fail("first"), lambda: ran.append("ok"), lambda: fail("second")],
            two_torch_threads,
        )
    assert sorted(ran) == ["first", "ok", "second"]


def test_without_the_runtime_tasks_run_in_order_on_the_calling_thread(monkeypatch):
    monkeypatch.setattr(_team, "_runtime", lambda: None)
    seen = []
    _team.run([lambda i=i: seen.append((i, threading.get_native_id())) for i in range(3)], 2)
    assert seen == [(i, threading.get_native_id()) for i in range(3)]
    assert not _team.available()


def test_a_forked_child_does_not_hand_work_to_its_parent_s_threads(monkeypatch):
    runtime = _team._runtime()
    if runtime is None:
        pytest.skip("torch's OpenMP runtime is not reachable here")
    monkeypatch.setattr(runtime, "pid", -1)  # as seen from a child of the process
    monkeypatch.setattr(runtime, "parallel", lambda *args: pytest.fail("handed to OpenMP"))
    seen = []
    _team.run([lambda: seen.append(threading.get_native_id())] * 2, 2)
    assert seen == [threading.get_native_id()] * 2
    assert not _team.available()


def test_torch_s_own_libgomp_is_chosen_among_those_mapped():
    site = os.path.join("/env", "lib", "site-packages")
    torch_copy = os.path.join(site, "torch", "lib", "libgomp.so.1")
    other = os.path.join(site, "scikit_learn.libs", "libgomp-e985bcbb.so.1.0.0")
    system = "/usr/lib/x86_64-linux-gnu/libgomp.so.1.0.0"
    vision = os.path.join(site, "torchvision.libs", "libgomp-a34b3233.so.1")
    libs = os.path.join(site, "torch.libs", "libgomp-a34b3233.so.1")
    assert _team._torch_libgomp({torch_copy, other}, site) == torch_copy
    assert _team._torch_libgomp({torch_copy, vision}, site) == torch_copy
    assert _team._torch_libgomp({libs, vision, other}, site) == libs
    assert _team._torch_libgomp({system}, site) == system  # e.g. conda's torch
    assert _team._torch_libgomp({system, other}, site) is None  # which one? neither
    assert _team._torch_libgomp(set(), site) is None


def _mixture_case(n_members, rows=200, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n_members, rows, 3)).astype(np.float32)
    logits_t = rng.standard_normal((n_members, 4, rows)).astype(np.float32)
    mask = rng.random((n_members, rows)) < 0.8
    lam_e = rng.uniform(0.05, 0.2, n_members)
    lam_p = rng.uniform(0.001, 0.01, n_members)
    return z, logits_t, mask, lam_e, lam_p


def _recording_run(monkeypatch):
    calls = []
    real = _team.run

    def run(tasks, threads):
        calls.append((len(tasks), threads))
        real(tasks, threads)

    monkeypatch.setattr(_team, "run", run)
    return calls


@needs_numba
@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("masked", [False, True])
def test_the_mixture_split_over_threads_equals_one_pass(monkeypatch, threads, masked):
    z, logits_t, mask, lam_e, lam_p = _mixture_case(7)
    mask = mask if masked else None
    whole = _kernels.mixture_step(z, logits_t, mask, 1e-6, lam_e, lam_p)
    calls = _recording_run(monkeypatch)
    split = _kernels.mixture_step(z, logits_t, mask, 1e-6, lam_e, lam_p, threads)
    assert calls == [(threads, threads)]
    assert whole is not None and split is not None
    for a, b in zip(whole, split, strict=True):
        np.testing.assert_array_equal(a, b)


@needs_numba
def test_a_member_without_a_positive_definite_covariance_fails_the_split_step():
    z, logits_t, _, lam_e, lam_p = _mixture_case(4)
    z[3] = 0.0  # the last member's codes collapse: no covariance without jitter
    assert _kernels.mixture_step(z, logits_t, None, 1e-6, lam_e, lam_p, 2) is not None
    assert _kernels.mixture_step(z, logits_t, None, 0.0, lam_e, lam_p, 2) is None
    assert _kernels.mixture_step(z[:2], logits_t[:2], None, 0.0, lam_e, lam_p, 2) is not None


@needs_numba
@pytest.mark.parametrize("threads", [2, 3])
def test_the_reconstruction_kernels_split_over_threads_equal_one_pass(monkeypatch, threads):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 150, 11)).astype(np.float32)
    x_hat = (x + 0.3 * rng.standard_normal(x.shape)).astype(np.float32)
    z_c = rng.standard_normal((5, 150, 2)).astype(np.float32)
    grad_z = rng.standard_normal((5, 150, 4)).astype(np.float32)
    row_weight = rng.random((5, 150)).astype(np.float32)
    products, z = _kernels.reconstruction_features(x, x_hat, z_c, 1e-8)
    grad = _kernels.reconstruction_gradient(x, x_hat, products, grad_z, row_weight, 1e-8)
    calls = _recording_run(monkeypatch)
    products_t, z_t = _kernels.reconstruction_features(x, x_hat, z_c, 1e-8, threads)
    out = np.full_like(x_hat, np.nan)
    grad_t = _kernels.reconstruction_gradient(
        x, x_hat, products_t, grad_z, row_weight, 1e-8, out=out, threads=threads
    )
    assert calls == [(threads, threads)] * 2
    assert grad_t is out
    np.testing.assert_array_equal(products_t, products)
    np.testing.assert_array_equal(z_t, z)
    np.testing.assert_array_equal(grad_t, grad)


@needs_numba
@pytest.mark.parametrize("size", [_kernels._TEAM_TANH_VALUES - 1, _kernels._TEAM_TANH_VALUES + 37])
def test_tanh_split_over_threads_equals_one_pass(monkeypatch, size):
    values = np.random.default_rng(2).normal(0.0, 3.0, size).astype(np.float32)
    whole = _kernels.tanh_(values.copy())
    calls = _recording_run(monkeypatch)
    split = _kernels.tanh_(values.copy(), 2)
    assert calls == ([] if size < _kernels._TEAM_TANH_VALUES else [(2, 2)])
    np.testing.assert_array_equal(split, whole)
