"""The CUDA-graph step (dagmm.graphs) trains exactly as the eager loop does.

CUDA graphs need a GPU (``tests/test_gpu.py`` runs them there). Here a stand-in
backend gives the CPU a graph's semantics: capturing records the step without
its effects on the random stream, each replay recomputes it into the captured
output and gradient buffers. Everything around the graph (warm-up, one capture
per batch shape and mask, reading the buffers, the eager retry when a Cholesky
factorisation fails, turning graphs off when a capture fails) is then the code
that runs on a GPU.
"""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from dagmm import graphs, training
from dagmm.mixture import (
    CholeskyFallbackNeeded,
    energy_and_penalty,
    energy_penalty_and_failure,
)
from dagmm.network import DAGMMNet
from dagmm.training import TrainingConfig, fit_scaling, train_members


class EagerGraphs:
    """A CPU stand-in for CUDA graphs with their semantics (see the module docstring)."""

    def __init__(self, params, refuse: bool = False) -> None:
        self.params = list(params)
        self.refuse = refuse
        self.graphs: list[SimpleNamespace] = []
        self.replays = 0
        self.side_stream_steps = 0

    def capture(self, fn, pool):
        if self.refuse:
            raise RuntimeError("operation not permitted when stream is capturing")
        assert all(p.grad is None for p in self.params), "capture must start without gradients"
        rng = torch.get_rng_state()
        outputs = fn()  # a capture records; the kernels do not run, nor draw random numbers
        torch.set_rng_state(rng)
        graph = SimpleNamespace(fn=fn, outputs=outputs, grads=[p.grad for p in self.params])
        self.graphs.append(graph)
        return graph, outputs

    def replay(self, graph) -> None:
        self.replays += 1
        saved = [p.grad for p in self.params]
        for p in self.params:
            p.grad = None
        fresh = graph.fn()
        with torch.no_grad():
            for static, value in zip(graph.outputs, fresh, strict=True):
                static.copy_(value)
            for static, p in zip(graph.grads, self.params, strict=True):
                static.copy_(p.grad)
        for p, grad in zip(self.params, saved, strict=True):
            p.grad = grad

    def pool(self, graph):
        return id(self.graphs[0])

    @contextlib.contextmanager
    def side_stream(self):
        self.side_stream_steps += 1
        yield


def _net(n_members, dropout):
    net = DAGMMNet(20, (12, 6), 2, (5,), 3, dropout=dropout, n_members=n_members)
    net.reset_parameters(list(range(n_members)))
    return net


def _train(backend_for, members=2, dropout=0.5, epochs=4):
    """Train on 302 rows; ``backend_for(net)`` gives the graph backend (None: eager loop)."""
    torch.manual_seed(5)
    x = torch.rand(302, 20)
    rows = [torch.arange(0, 302), torch.arange(40, 258)][:members]
    net = _net(members, dropout)
    offset, scale = fit_scaling(x, rows, "minmax")
    net.input_offset.copy_(offset)
    net.input_scale.copy_(scale)
    config = TrainingConfig(epochs=epochs, batch_size=64, learning_rate=1e-3, fused_step=False)
    backend = backend_for(net)
    torch.manual_seed(6)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(training, "graph_backend", lambda device: backend)
        result = train_members(net, x, rows, config)
    return result, net, backend


def _assert_same_training(a, b):
    (result_a, net_a, _), (result_b, net_b, _) = a, b
    assert result_a.history == result_b.history
    assert result_a.steps == result_b.steps
    for (name, p), q in zip(net_a.named_parameters(), net_b.parameters(), strict=True):
        assert torch.equal(p, q), name


@pytest.mark.parametrize("members", [1, 2])
@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_graphed_training_equals_the_eager_loop(members, dropout):
    eager = _train(lambda net: None, members, dropout)
    graphed = _train(lambda net: EagerGraphs(net.parameters()), members, dropout)
    _assert_same_training(graphed, eager)
    backend = graphed[2]
    # 302 rows in 5 batches of 61 or 60 rows (a 2nd member's 218 rows, 44 or 43 per batch, are
    # masked): one graph per batch shape, each after WARMUP eager steps on the side stream
    assert len(backend.graphs) == 2
    assert backend.side_stream_steps == graphs.WARMUP * 2
    assert backend.replays == 4 * 5 - graphs.WARMUP * 2


def test_a_replay_whose_cholesky_failed_is_taken_again_eagerly(monkeypatch):
    """Every third captured forward reports a failed factorisation; those steps run eagerly."""
    calls = []

    def flaky(*args, **kwargs):
        mean_energy, penalty, failed = energy_penalty_and_failure(*args, **kwargs)
        calls.append(1)
        return mean_energy, penalty, failed | (len(calls) % 3 == 0)

    eager = _train(lambda net: None, dropout=0.0)
    monkeypatch.setattr(training, "energy_penalty_and_failure", flaky)
    graphed = _train(lambda net: EagerGraphs(net.parameters()), dropout=0.0)
    _assert_same_training(graphed, eager)
    assert graphed[2].replays >= 9  # and a third of them were retried, yet the runs agree


def test_a_refused_capture_turns_graphs_off_with_a_warning():
    eager = _train(lambda net: None)
    with pytest.warns(graphs.CUDAGraphWarning, match="operation not permitted"):
        refused = _train(lambda net: EagerGraphs(net.parameters(), refuse=True))
    _assert_same_training(refused, eager)
    assert refused[2].replays == 0


def test_graphs_apply_to_the_current_cuda_device_unless_turned_off(monkeypatch):
    monkeypatch.delenv("DAGMM_CUDA_GRAPHS", raising=False)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    assert graphs.graph_backend(torch.device("cpu")) is None
    assert graphs.graph_backend(torch.device("cuda")) is not None
    assert graphs.graph_backend(torch.device("cuda", 0)) is not None
    assert graphs.graph_backend(torch.device("cuda", 1)) is None  # not the current device
    for off in ("0", "false", "OFF", " no "):
        monkeypatch.setenv("DAGMM_CUDA_GRAPHS", off)
        assert graphs.graph_backend(torch.device("cuda", 0)) is None
    monkeypatch.setenv("DAGMM_CUDA_GRAPHS", "1")
    assert graphs.graph_backend(torch.device("cuda", 0)) is not None


def test_the_config_switch_and_distributed_training_keep_the_eager_step():
    net = _net(1, 0.0)
    x = torch.zeros(10, 20)
    optimizer = training._make_adam(net, TrainingConfig(epochs=1, batch_size=4, learning_rate=1e-3))
    on = TrainingConfig(epochs=1, batch_size=4, learning_rate=1e-3)
    off = TrainingConfig(epochs=1, batch_size=4, learning_rate=1e-3, cuda_graphs=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(training, "graph_backend", lambda device: EagerGraphs(net.parameters()))
        assert training._graphed_step(net, optimizer, on, x, distributed=False) is not None
        assert training._graphed_step(net, optimizer, off, x, distributed=False) is None
        assert training._graphed_step(net, optimizer, on, x, distributed=True) is None


@pytest.mark.parametrize("use_mask", [False, True])
def test_the_unchecked_energy_equals_the_checked_one(use_mask):
    torch.manual_seed(0)
    z = torch.randn(2, 50, 3, dtype=torch.float64)
    gamma = torch.softmax(torch.randn(2, 50, 4, dtype=torch.float64), -1)
    mask = (torch.rand(2, 50) > 0.2) if use_mask else None
    checked = energy_and_penalty(z, gamma, 1e-6, mask)
    *unchecked, failed = energy_penalty_and_failure(z, gamma, 1e-6, mask)
    assert not bool(failed) and failed.shape == ()
    for a, b in zip(checked, unchecked, strict=True):
        assert torch.equal(a, b)


def test_a_singular_covariance_raises_when_checked_and_is_flagged_when_not():
    z = torch.ones(1, 20, 3, dtype=torch.float64)  # one point: zero covariance
    gamma = torch.full((1, 20, 2), 0.5, dtype=torch.float64)
    with pytest.raises(CholeskyFallbackNeeded):
        energy_and_penalty(z, gamma, 0.0)
    *_, failed = energy_penalty_and_failure(z, gamma, 0.0)
    assert bool(failed)
    np.testing.assert_array_equal(failed.numpy(), True)


def test_no_step_keeps_its_autograd_graph_alive(monkeypatch):
    """A live autograd graph would pin the gradient accumulators to the stream it ran on."""
    net = _net(1, 0.5)
    x = torch.rand(64, 20)
    rows = torch.arange(64).view(1, -1)
    config = TrainingConfig(epochs=1, batch_size=64, learning_rate=1e-3, fused_step=False)
    backend = EagerGraphs(net.parameters())
    monkeypatch.setattr(training, "graph_backend", lambda device: backend)
    step = training._graphed_step(net, training._make_adam(net, config), config, x, False)
    for _ in range(graphs.WARMUP + 2):  # eager warm-up steps, the capture, a replay
        terms = step(x, rows, None)
        assert all(term.grad_fn is None and not term.requires_grad for term in terms)
    assert backend.replays == 2
