"""Scoring on the CPU: the compression network and the energy in numpy, chunks in parallel.

The energy of a row needs the compression network (encoder, decoder), the two
reconstruction features and the fixed mixture; the estimation network plays no
part. On a CPU at the paper's sizes the work is a few matrix products per
chunk and one hyperbolic tangent per hidden unit, and both dominate:

- The hidden layers' tanh is :func:`dagmm.network.tanh_`: numpy's where numpy
  has its AVX-512 kernel, else the compiled rational approximation of
  :func:`dagmm._kernels.tanh_` where numba serves. Without either the layers
  are evaluated as ``tanh(a) = 2 (sigmoid(2 a) - 1/2)`` with both factors 2
  folded into the weights (:func:`inference_layers`): the same function, but
  torch's sigmoid kernel costs half its tanh kernel on AVX2 CPUs. The
  subtraction of 1/2 is exact (sigmoid(2 a) - 1/2 lies within a factor 2 of
  1/2 wherever it matters), so a zero pre-activation gives an exact zero, as
  tanh does.
- Row chunks are scored in parallel threads, each with single-threaded kernels
  (numpy's BLAS held at one thread for the call): a chunk is a few dozen
  large operations that release the GIL, where one chunk at a time with two
  BLAS threads would spend much of its time synchronising them.
- The reconstruction features' four row products (squared error, both squared
  norms, the dot product) come from one compiled pass over a chunk's rows and
  their reconstructions (:func:`dagmm._kernels.row_products`), where numba
  serves; else from four numpy ``einsum`` passes and a difference.

Every chunk is computed by the same single-threaded kernels whatever the
number of threads, so the scores do not depend on it.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any, NamedTuple

import numpy as np
import torch

from . import _kernels, network
from ._torch import is_compiling
from .mixture import EnergyFactors, energy_factors, sample_energy_numpy
from .network import NORM_FLOOR, DAGMMNet

__all__ = [
    "InferenceLayer",
    "cpu_energy",
    "cpu_energy_of_representation",
    "cpu_member_representations",
    "cpu_represent",
    "cpu_scoring_supported",
    "inference_layers",
]

#: Rows per chunk: the activations of a chunk stay in the core's cache.
CHUNK_ROWS = 4096
#: torch runs an elementwise kernel in the calling thread below this many
#: elements (its internal grain size); larger calls would start an OpenMP team
#: from inside a chunk's thread.
_INLINE_ELEMENTS = 32768


class InferenceLayer(NamedTuple):
    """One dense layer of one member, ready for inference.

    ``output = input @ weight + bias``, then ``activation`` in place:
    "centred_sigmoid" (``sigmoid(a) - 1/2``), "tanh" (:func:`dagmm.network.tanh_`) or None.
    """

    weight: np.ndarray  # (in, out), float32, C-contiguous
    bias: np.ndarray  # (1, out), float32
    activation: str | None


def inference_layers(
    net: DAGMMNet, member: int, fold_sigmoid: bool | None = None
) -> tuple[list[InferenceLayer], int]:
    """The encoder and decoder of ``member`` as one chain of layers for a tanh network.

    With ``fold_sigmoid`` (default: where :func:`dagmm.network.tanh_` would take
    torch's sigmoid, i.e. neither numpy's AVX-512 tanh nor numba serves) hidden layer
    ``l``, ``h_l = tanh(a_l)``, is evaluated as ``s_l = sigmoid(2 a_l) - 1/2``
    with ``h_l = 2 s_l``: the next layer's ``h_l @ W + b`` becomes
    ``s_l @ (2 W) + b``, and its own pre-activation is doubled when it is hidden
    too. Algebraically the same network, and the scalings by 2 are exact (no
    bias ``b - 1^T W`` whose cancellation against ``s @ 2 W`` would cost the
    sum's round-off even at ``a = 0``); otherwise the layers are the network's
    own with ``tanh``.

    Returns
    -------
    layers, latent_index
        The chain (encoder then decoder) and the index of the layer whose output
        is the code ``z_c``.
    """
    if fold_sigmoid is None:
        fold_sigmoid = not network._NUMPY_SIMD_TANH and not _kernels.available()
    dense = [*net.encoder, *net.decoder]
    hidden = [True] * len(dense)
    hidden[len(net.encoder) - 1] = hidden[-1] = False  # z_c and x_hat are linear
    layers = []
    previous_hidden = False
    for layer, is_hidden in zip(dense, hidden, strict=True):
        w = layer.weight[member].detach().double()
        b = layer.bias[member].detach().double()
        if fold_sigmoid and previous_hidden:  # the input is 2 s
            w = 2.0 * w
        if fold_sigmoid and is_hidden:  # sigmoid(2 a)
            w, b = 2.0 * w, 2.0 * b
        activation = ("centred_sigmoid" if fold_sigmoid else "tanh") if is_hidden else None
        layers.append(
            InferenceLayer(np.ascontiguousarray(w.float().numpy()), b.float().numpy(), activation)
        )
        previous_hidden = is_hidden
    return layers, len(net.encoder) - 1


def _centred_sigmoid_(a: np.ndarray) -> None:
    flat = torch.from_numpy(a.reshape(-1))
    for start in range(0, flat.numel(), _INLINE_ELEMENTS):
        piece = flat[start : start + _INLINE_ELEMENTS]
        torch.sigmoid(piece, out=piece)
        piece -= 0.5


class _Member(NamedTuple):
    """One member's compression network, ready for :func:`_chunk_z`."""

    offset: np.ndarray  # (1, F)
    scale: np.ndarray  # (1, F)
    layers: list[InferenceLayer]
    latent_index: int


def _member(net: DAGMMNet, member: int) -> _Member:
    layers, latent_index = inference_layers(net, member)
    return _Member(
        net.input_offset[member].detach().numpy(),
        net.input_scale[member].detach().numpy(),
        layers,
        latent_index,
    )


def _chunk_z(x: np.ndarray, model: _Member) -> np.ndarray:
    """The representation ``z = [z_c, relative distance, cosine]`` of raw rows, (D, n) float64."""
    # Rows far outside float32's range overflow to inf/NaN here; the caller reports them
    # by row (NumericalError), so numpy's RuntimeWarnings would only repeat it vaguely.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _chunk_z_unchecked(x, model)


def _chunk_z_unchecked(x: np.ndarray, model: _Member) -> np.ndarray:
    if len(x) == 1:
        # BLAS multiplies one row as a matrix-vector product, whose sums run in another
        # order than a matrix product's: a row scored alone would not get the energy it
        # gets among others (6.7e-6 apart), nor perhaps the same label near the threshold
        return _chunk_z_unchecked(np.repeat(x, 2, axis=0), model)[:, :1]
    scaled = x * model.scale
    scaled += model.offset
    h = scaled
    z_c = h
    for index, layer in enumerate(model.layers):
        h = h @ layer.weight
        h += layer.bias
        if layer.activation == "centred_sigmoid":
            _centred_sigmoid_(h)
        elif layer.activation == "tanh":
            network.tanh_(h)
        if index == model.latent_index:
            z_c = h
    x_hat = h
    if _kernels.available():
        # one pass over the chunk's two (n, F) arrays instead of five
        squared_error, xx, hh, xh = _kernels.row_products(scaled, x_hat)
    else:
        diff = scaled - x_hat
        squared_error = np.einsum("nf,nf->n", diff, diff)
        xx = np.einsum("nf,nf->n", scaled, scaled)
        hh = np.einsum("nf,nf->n", x_hat, x_hat)
        xh = np.einsum("nf,nf->n", scaled, x_hat)
    # the clamps of dagmm.network._features_and_error
    tiny = np.finfo(np.float32).tiny
    floor = np.float32(NORM_FLOOR)
    x_norm = np.sqrt(np.maximum(xx, tiny))
    x_hat_norm = np.sqrt(np.maximum(hh, tiny))
    z_t = np.empty((z_c.shape[1] + 2, len(x)))
    z_t[:-2] = z_c.T
    z_t[-2] = np.sqrt(np.maximum(squared_error, tiny)) / np.maximum(x_norm, floor)
    z_t[-1] = xh / np.maximum(x_norm * x_hat_norm, floor)
    return z_t


class _BlasLimit:
    """The state behind :func:`_single_threaded_blas`, shared by all threads."""

    def __init__(self) -> None:
        self.controller: Any = None  # threadpoolctl's view of the BLAS libraries, looked up once
        self.forget_calls()

    def forget_calls(self) -> None:
        # Also run in a forked child: the fork copies the lock (perhaps held by another
        # thread) and the calls that belong to the parent; the child starts afresh (its
        # BLAS keeps whatever limit the parent had at that moment).
        self.lock = threading.Lock()
        self.calls = 0  # scoring calls inside the limit
        self.limiter: Any = None  # restores the callers' setting when the last call ends


_BLAS = _BlasLimit()

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_BLAS.forget_calls)


@contextlib.contextmanager
def _single_threaded_blas() -> Iterator[None]:
    """numpy's BLAS at one thread while any scoring call runs, restored when the last one ends.

    Counted, not nested: concurrent calls from several threads (a service scoring
    requests in parallel) leave and enter in any order, and a plain nested limit
    would let the first one out restore the setting under the others, or the
    last one out restore the limit itself for good.
    """
    with _BLAS.lock:
        if _BLAS.controller is None:
            from threadpoolctl import ThreadpoolController

            _BLAS.controller = ThreadpoolController()
        if _BLAS.calls == 0:
            _BLAS.limiter = _BLAS.controller.limit(limits=1, user_api="blas")
        _BLAS.calls += 1
    try:
        yield
    finally:
        with _BLAS.lock:
            _BLAS.calls -= 1
            if _BLAS.calls == 0:
                _BLAS.limiter.restore_original_limits()
                _BLAS.limiter = None


_POOL: tuple[int, int, ThreadPoolExecutor] | None = None
_POOL_LOCK = threading.Lock()


def _pool(workers: int) -> ThreadPoolExecutor:
    """A pool of ``workers`` threads, made anew after a fork or a change of size."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL[0] != os.getpid() or _POOL[1] != workers:
            _POOL = (os.getpid(), workers, ThreadPoolExecutor(workers, "dagmm-score"))
        return _POOL[2]


def _map_chunks(task, n_rows: int, threads: int | None) -> None:
    """``task(start)`` for every chunk start, in parallel threads when there are several."""
    _run_tasks([functools.partial(task, start) for start in range(0, n_rows, CHUNK_ROWS)], threads)


def _run_tasks(tasks: Sequence[Callable[[], None]], threads: int | None) -> None:
    """Every task, in parallel threads when there are several (default: torch's number).

    Returns only when no task is running, also when one fails: its error is then
    raised (the first in task order) after the tasks not yet started are
    cancelled and the running ones have finished, so that none is still writing
    into the caller's arrays while the caller handles the error.
    """
    threads = torch.get_num_threads() if threads is None else int(threads)
    if threads < 2 or len(tasks) < 2:
        for task in tasks:
            task()
        return
    pool = _pool(min(threads, len(tasks)))
    futures = [pool.submit(task) for task in tasks]
    done, _ = wait(futures, return_when=FIRST_EXCEPTION)
    if any(future.exception() is not None for future in done):
        for future in futures:
            future.cancel()
        wait(futures)
    for future in futures:
        if not future.cancelled() and (error := future.exception()) is not None:
            raise error


def cpu_energy(
    net: DAGMMNet,
    weights: torch.Tensor,
    means: torch.Tensor,
    scale_tril: torch.Tensor,
    x: np.ndarray,
    threads: int | None = None,
) -> np.ndarray:
    """Energies of the rows of ``x`` (n, F) under each member's fixed mixture, on the CPU.

    Parameters
    ----------
    net : DAGMMNet
        A tanh network on the CPU (see :func:`cpu_scoring_supported`).
    weights, means, scale_tril : Tensor
        The fixed mixture, shapes (S, K), (S, K, D), (S, K, D, D).
    x : ndarray, shape (n, F)
    threads : int, optional
        Chunks scored at once (default: torch's number of threads).

    Returns
    -------
    ndarray, shape (S, n), float64
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    energy = np.empty((net.n_members, len(x)))
    with _single_threaded_blas():
        for member in range(net.n_members):
            model = _member(net, member)
            factors = energy_factors(
                weights[member : member + 1],
                means[member : member + 1],
                scale_tril[member : member + 1],
            )
            task = functools.partial(_energy_task, x, model, factors, energy[member])
            _map_chunks(task, len(x), threads)
    return energy


def _energy_task(x, model: _Member, factors: EnergyFactors, out: np.ndarray, start: int) -> None:
    stop = min(start + CHUNK_ROWS, len(x))
    out[start:stop] = sample_energy_numpy(_chunk_z(x[start:stop], model)[None], factors)[0]


def cpu_represent(net: DAGMMNet, x: np.ndarray, threads: int | None = None) -> np.ndarray:
    """The representation ``z`` of each member's rows on the CPU.

    Parameters
    ----------
    net : DAGMMNet
    x : ndarray, shape (S, n, F)
        Raw rows per member.

    Returns
    -------
    ndarray, shape (S, n, D), float64
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    z = np.empty((net.n_members, net.latent_dim + 2, x.shape[1]))
    cpu_member_representations(net, [(x[m], None) for m in range(net.n_members)], threads, z)
    return np.swapaxes(z, -1, -2)


def cpu_member_representations(
    net: DAGMMNet,
    sources: Sequence[tuple[np.ndarray, np.ndarray | None]],
    threads: int | None = None,
    out: Sequence[np.ndarray] | np.ndarray | None = None,
) -> list[np.ndarray]:
    """Each member's representation of its own rows, rows along the last axis.

    Member ``s`` represents ``x[rows]`` for ``(x, rows) = sources[s]`` (all of
    ``x`` when ``rows`` is None) in the chunks :func:`cpu_energy` uses on those
    rows, so that :func:`cpu_energy_of_representation` of the result equals
    :func:`cpu_energy` bit for bit (a chunk's matrix products round differently
    when the chunk holds other rows). Every member's chunks share one pool of
    threads, and each chunk gathers its own rows: no member's rows are copied
    whole.

    Returns
    -------
    list of S ndarrays, shape (L + 2, n_s), float64
    """
    if out is None:
        out = [
            np.empty((net.latent_dim + 2, len(x) if rows is None else len(rows)))
            for x, rows in sources
        ]
    tasks = []
    for member, ((x, rows), z_t) in enumerate(zip(sources, out, strict=True)):
        model = _member(net, member)
        for start in range(0, z_t.shape[1], CHUNK_ROWS):
            tasks.append(functools.partial(_rows_z_task, x, rows, model, z_t, start))
    with _single_threaded_blas():
        _run_tasks(tasks, threads)
    return list(out)


def _rows_z_task(x, rows, model: _Member, out: np.ndarray, start: int) -> None:
    stop = min(start + CHUNK_ROWS, out.shape[1])
    chunk = x[start:stop] if rows is None else x[rows[start:stop]]
    out[:, start:stop] = _chunk_z(np.ascontiguousarray(chunk, dtype=np.float32), model)


def cpu_energy_of_representation(
    z_t: np.ndarray,
    weights: torch.Tensor,
    means: torch.Tensor,
    scale_tril: torch.Tensor,
    threads: int | None = None,
) -> np.ndarray:
    """Energies of rows whose representation is ``z_t`` (D, n), as :func:`cpu_energy` computes them.

    Parameters
    ----------
    z_t : ndarray, shape (D, n), float64
        From :func:`cpu_member_representations`.
    weights, means, scale_tril : Tensor
        One member's fixed mixture, shapes (1, K), (1, K, D), (1, K, D, D).

    Returns
    -------
    ndarray, shape (n,), float64
    """
    energy = np.empty(z_t.shape[1])
    with _single_threaded_blas():
        # the factors under the same BLAS setting as cpu_energy's: OpenBLAS 0.3.21 (numpy
        # 1.24) inverts a 6 x 6 factor a few ulp differently on one thread and on two
        factors = energy_factors(weights, means, scale_tril)

        def task(start: int) -> None:
            chunk = np.ascontiguousarray(z_t[:, start : start + CHUNK_ROWS])
            energy[start : start + chunk.shape[1]] = sample_energy_numpy(chunk[None], factors)[0]

        _map_chunks(task, z_t.shape[1], threads)
    return energy


def cpu_scoring_supported(net: DAGMMNet) -> bool:
    """Whether :func:`cpu_energy` computes this network's energies."""
    return (
        net.activation == "tanh"
        and net.input_scale.device.type == "cpu"
        and all(p.dtype == torch.float32 for p in net.parameters())
        and not is_compiling()
    )
