"""The training step's forward and backward pass replayed from CUDA graphs.

On a GPU one DAGMM step is about 250 small kernels (a 1024-row batch, K = 4
components in a 3-dimensional space). The GPU runs all of them in under a
millisecond; launching them costs the host 7-11 ms per step on an H200
(``benchmarks/profile_step.py --device cuda``), so the host's launches are the
time. A CUDA graph records the forward and backward pass once per batch shape
and replays it as one launch; the Adam update stays an ordinary (fused) kernel
call, so the optimizer's state is what it is in the eager loop.

The graph's inputs and outputs are fixed buffers: each step copies its rows
into the captured batch, replays, reads the loss terms from the captured
outputs, and points every parameter's ``.grad`` at the gradients the graph
wrote. The first steps of each batch shape run eagerly (``WARMUP``), as CUDA
graphs require before a capture.

A graph cannot branch on its data, and the Cholesky factorisation of a batch's
covariances can fail and need more jitter: the captured pass computes a failure
flag instead of raising (:func:`~dagmm.mixture.energy_penalty_and_failure`),
and a step whose flag is set is taken again eagerly, where the jitter
escalates as it always does. A capture that CUDA refuses (an operation that
cannot be recorded) turns graphs off for the rest of the run with a
:class:`CUDAGraphWarning`; training continues eagerly. ``DAGMM_CUDA_GRAPHS=0``
in the environment turns them off from the start.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor

__all__ = ["CUDAGraphWarning", "GraphedStep", "gather_rows", "graph_backend", "graphs_enabled"]

#: Eager steps of each batch shape before it is captured.
WARMUP = 3


class CUDAGraphWarning(RuntimeWarning):
    """CUDA graphs could not be used; training went on without them (slower, same results)."""


def graphs_enabled() -> bool:
    """False when ``DAGMM_CUDA_GRAPHS`` is ``0``/``false``/``no``/``off`` in the environment."""
    value = os.environ.get("DAGMM_CUDA_GRAPHS", "1").strip().lower()
    return value not in ("0", "false", "no", "off")


class GraphBackend(Protocol):
    """What :class:`GraphedStep` needs from CUDA (a stand-in lets tests run on the CPU)."""

    def capture(self, fn: Callable[[], tuple[Tensor, ...]], pool: Any) -> tuple[Any, tuple]:
        """Record ``fn()`` into a new graph sharing memory ``pool`` (None: a new pool).

        Returns the graph and ``fn``'s outputs, which each replay overwrites.
        """
        ...

    def replay(self, graph: Any) -> None: ...

    def pool(self, graph: Any) -> Any: ...

    def side_stream(self) -> contextlib.AbstractContextManager[None]:
        """Run the enclosed eager work on a side stream, ordered with the current one."""
        ...


class _CUDABackend:
    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._stream: torch.cuda.Stream | None = None

    def capture(self, fn: Callable[[], tuple[Tensor, ...]], pool: Any) -> tuple[Any, tuple]:
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=pool):
            outputs = fn()
        return graph, outputs

    def replay(self, graph: Any) -> None:
        graph.replay()

    def pool(self, graph: Any) -> Any:
        return graph.pool()

    @contextlib.contextmanager
    def side_stream(self) -> Iterator[None]:
        if self._stream is None:
            self._stream = torch.cuda.Stream(self.device)
        current = torch.cuda.current_stream(self.device)
        self._stream.wait_stream(current)
        try:
            with torch.cuda.stream(self._stream):
                yield
        finally:  # also when the step raised: later work must not overtake it
            current.wait_stream(self._stream)


def graph_backend(device: torch.device) -> GraphBackend | None:
    """The backend for ``device``: CUDA graphs on the current CUDA device, else None.

    ``torch.cuda.graph`` captures on a stream of the current device; a network on
    another device (``device="cuda:1"`` while device 0 is current) would run its
    work outside the capture, so it trains with eager steps.
    """
    if device.type != "cuda" or not graphs_enabled():
        return None
    if device.index is not None and device.index != torch.cuda.current_device():
        return None
    return _CUDABackend(device)


@dataclass
class _Capture:
    graph: Any
    batch: Tensor  # (S, width, F), the captured input
    mask: Tensor | None  # (S, width), the captured mask
    outputs: tuple[Tensor, ...]  # the loss terms, (S,) each
    failed: Tensor  # 0-d bool
    grads: list[Tensor | None]  # where the graph writes each parameter's gradient


class GraphedStep:
    """One training step, replayed from a CUDA graph per batch shape.

    Parameters
    ----------
    params : sequence of Tensor
        The trained parameters (the optimizer's).
    step : callable ``(batch, mask) -> terms``
        The eager step: forward, backward and optimizer update; the warm-up
        steps and the steps whose Cholesky failed run it.
    loss : callable ``(batch, mask) -> (terms, failed)``
        The forward pass without host synchronisation: the loss terms (the
        first is the per-member total to differentiate) and a 0-d failure flag.
    update : callable
        The optimizer update from the parameters' ``.grad``.
    backend : GraphBackend
    """

    def __init__(
        self,
        params: Sequence[Tensor],
        step: Callable[[Tensor, Tensor | None], tuple[Tensor, ...]],
        loss: Callable[[Tensor, Tensor | None], tuple[tuple[Tensor, ...], Tensor]],
        update: Callable[[], None],
        backend: GraphBackend,
    ) -> None:
        self.params = list(params)
        self.step = step
        self.loss = loss
        self.update = update
        self.backend = backend
        self.enabled = True
        self.replays = 0
        self.retries = 0
        self._captures: dict[tuple[int, bool], _Capture] = {}
        self._warm: Counter[tuple[int, bool]] = Counter()
        self._pool: Any = None
        self._attached: _Capture | None = None  # whose gradients the parameters hold

    def __call__(self, x: Tensor, rows: Tensor, mask: Tensor | None) -> tuple[Tensor, ...]:
        """Train on rows ``rows`` (S, width) of ``x`` (n, F); returns the step's loss terms.

        The returned terms of a replayed step are the graph's output buffers: read
        them before the next step.
        """
        if not self.enabled:
            return self._eager(gather_rows(x, rows), mask)
        key = (int(rows.shape[-1]), mask is not None)
        capture = self._captures.get(key)
        if capture is None:
            if self._warm[key] < WARMUP:
                self._warm[key] += 1
                batch = gather_rows(x, rows)
                with self.backend.side_stream():
                    return self._eager(batch, mask)
            capture = self._capture(gather_rows(x, rows), mask)
            if capture is None:
                return self._eager(gather_rows(x, rows), mask)
            self._captures[key] = capture
        else:
            gather_rows(x, rows, out=capture.batch)
            if capture.mask is not None and mask is not None:  # the key says both or neither
                capture.mask.copy_(mask)
        self.backend.replay(capture.graph)
        self.replays += 1
        if bool(capture.failed):
            # Some covariance needs more jitter than reg_covar: the eager step escalates it.
            self.retries += 1
            return self._eager(capture.batch.clone(), mask)
        if self._attached is not capture:
            for param, grad in zip(self.params, capture.grads, strict=True):
                param.grad = grad
            self._attached = capture
        self.update()
        return capture.outputs

    def _eager(self, batch: Tensor, mask: Tensor | None) -> tuple[Tensor, ...]:
        self._attached = None  # the eager step gives the parameters new gradients
        # Detached, so that no autograd graph outlives its step: a graph kept alive keeps
        # the parameters' gradient accumulators, and with them the stream they were made on
        # (torch warns of the mismatch when a later step runs on another stream).
        return tuple(term.detach() for term in self.step(batch, mask))

    def _capture(self, batch: Tensor, mask: Tensor | None) -> _Capture | None:
        static_mask = None if mask is None else mask.clone()
        self._attached = None
        for param in self.params:
            param.grad = None  # the graph's backward allocates its own gradients

        def forward_backward() -> tuple[Tensor, ...]:
            terms, failed = self.loss(batch, static_mask)
            terms[0].sum().backward()
            return tuple(term.detach() for term in (*terms, failed))  # as in _eager

        try:
            graph, outputs = self.backend.capture(forward_backward, self._pool)
        except Exception as error:  # whatever CUDA refuses to record, the eager step runs
            for param in self.params:
                param.grad = None
            self.enabled = False
            warnings.warn(
                f"capturing the training step as a CUDA graph failed ({type(error).__name__}: "
                f"{error}); training continues with eager steps, which take longer",
                CUDAGraphWarning,
                stacklevel=3,
            )
            return None
        if self._pool is None:
            self._pool = self.backend.pool(graph)
        return _Capture(
            graph, batch, static_mask, outputs[:-1], outputs[-1], [p.grad for p in self.params]
        )


def gather_rows(x: Tensor, rows: Tensor, out: Tensor | None = None) -> Tensor:
    """``x[rows]`` for ``rows`` of shape (S, width): a contiguous (S, width, F) batch,
    written into ``out`` (of that shape) when given."""
    # index_select copies whole rows; advanced indexing is several times slower on CPU.
    flat = rows.reshape(-1)
    if out is not None:
        torch.index_select(x, 0, flat, out=out.view(-1, x.shape[-1]))
        return out
    return x.index_select(0, flat).view(*rows.shape, x.shape[-1])
