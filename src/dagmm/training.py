"""Objective, training loop and the exact test-time mixture pass.

All functions work on S members at once (see :mod:`dagmm.network`); members
may train on different row subsets of one data tensor (the paper's protocol
draws a different split per seed), handled by padding and masks.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol, cast

import numpy as np
import torch
from torch import Tensor

from . import _kernels
from .adam import Adam
from .exceptions import TrainingDivergedError
from .fused import FusedStep, fused_step_supported
from .graphs import GraphedStep, gather_rows, graph_backend
from .inference import (
    cpu_energy,
    cpu_energy_of_representation,
    cpu_member_representations,
    cpu_represent,
    cpu_scoring_supported,
)
from .mixture import (
    CholeskyFallbackNeeded,
    MixtureStatistics,
    add_statistics,
    cholesky_with_fallback,
    covariance_penalty,
    energy_and_penalty,
    energy_penalty_and_failure,
    parameters_from_statistics,
    regularize_covariances,
    sample_energy,
    sufficient_statistics,
)
from .network import DAGMMNet, NetworkOutput

__all__ = [
    "FittedMixture",
    "LoopSnapshot",
    "LossTerms",
    "TrainingConfig",
    "accumulated_statistics",
    "batch_mixture",
    "dagmm_objective",
    "exact_mixture",
    "fit_input_scaling",
    "fit_scaling",
    "fitted_mixture",
    "score_energy",
    "stream_statistics",
    "train_members",
]

MIXTURE_DTYPE = torch.float64
#: Rows per forward pass when scoring: small enough for the activations to stay
#: in cache, large enough that per-operation overhead is a few percent.
SCORE_CHUNK_ROWS = 8192
StatisticsReducer = Callable[[MixtureStatistics], MixtureStatistics]


class DataParallel(Protocol):
    """Hooks that make training data parallel across processes (see :mod:`dagmm.distributed`).

    Calling it sums mixture statistics over the processes, differentiably.
    """

    def __call__(self, stats: MixtureStatistics) -> MixtureStatistics: ...

    def sum(self, tensor: Tensor) -> Tensor:
        """Differentiable sum of ``tensor`` over the processes."""
        ...

    def batches(self, n_batches: int) -> int:
        """Batches per epoch that every process runs (shards may be uneven)."""
        ...

    def gradients(self, parameters: Sequence[Tensor]) -> None:
        """Combine the parameters' gradients over the processes after ``backward``."""
        ...


class LossTerms(NamedTuple):
    """Per-member terms of Eq. 7, each of shape (S,)."""

    total: Tensor
    reconstruction: Tensor
    energy: Tensor
    penalty: Tensor


class FittedMixture(NamedTuple):
    """Test-time mixture parameters (float64), leading member dimension S."""

    weights: Tensor  # (S, K)
    means: Tensor  # (S, K, D)
    covariances: Tensor  # (S, K, D, D), regularised
    scale_tril: Tensor  # (S, K, D, D)


@dataclass
class TrainingConfig:
    """Resolved training settings shared by every member."""

    epochs: int
    batch_size: int
    learning_rate: float
    lambda_energy: float = 0.1
    lambda_cov: float = 0.005
    reg_covar: float = 1e-6
    reconstruction_loss: str = "sum"
    patience: int | None = None
    weight_decay: float = 0.0
    #: Use the hand-derived step of :mod:`dagmm.fused` where it applies (tanh
    #: networks on the CPU, one process); False forces the autograd step.
    fused_step: bool = True
    #: Replay the step's forward and backward pass from CUDA graphs on a CUDA
    #: device (see :mod:`dagmm.graphs`); False forces eager steps.
    cuda_graphs: bool = True
    extra: dict = field(default_factory=dict)


def _masked_mean(values: Tensor, mask: Tensor | None) -> Tensor:
    if mask is None:
        return values.mean(-1)
    mask = mask.to(values.dtype)
    return (values * mask).sum(-1) / mask.sum(-1).clamp_min(1.0)


def batch_mixture(
    z: Tensor,
    gamma: Tensor,
    reg_covar: float,
    mask: Tensor | None = None,
    reducer: StatisticsReducer | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Differentiable mixture of a batch (Eq. 5) in float64.

    ``reducer`` (e.g. an all-reduce across processes) is applied to the
    statistics before the parameters are formed; its shift must agree across
    shards, so a reducer is used with the zero shift.

    Returns
    -------
    weights (S, K), means (S, K, D), covariances (S, K, D, D) regularised, scale_tril.
    """
    z64 = z.to(MIXTURE_DTYPE)
    shift = None if reducer is not None else _batch_centre(z64, mask)
    stats = sufficient_statistics(z64, gamma.to(MIXTURE_DTYPE), mask, shift)
    if reducer is not None:
        stats = reducer(stats)
    weights, means, covariances = parameters_from_statistics(stats)
    covariances = regularize_covariances(covariances, reg_covar)
    return weights, means, covariances, cholesky_with_fallback(covariances)


def _batch_centre(z: Tensor, mask: Tensor | None) -> Tensor:
    with torch.no_grad():
        if mask is None:
            return z.mean(-2)
        m = mask.to(z.dtype).unsqueeze(-1)
        return (z * m).sum(-2) / m.sum(-2).clamp_min(1.0)


def dagmm_objective(
    out: NetworkOutput,
    config: TrainingConfig,
    mask: Tensor | None = None,
    reducer: StatisticsReducer | DataParallel | None = None,
) -> LossTerms:
    """Eq. 7 per member: reconstruction + lambda1 * mean energy + lambda2 * P(Sigma).

    ``reconstruction_loss="sum"`` is the paper's per-sample sum of squares over
    features; ``"mean"`` divides it by the number of features.
    """
    squared_error = (out.x - out.x_hat).square().sum(-1)
    return _objective(squared_error, out.z, out.gamma, out.x.shape[-1], config, mask, reducer)


def _objective(
    squared_error: Tensor,
    z: Tensor,
    gamma: Tensor,
    n_features: int,
    config: TrainingConfig,
    mask: Tensor | None = None,
    reducer: StatisticsReducer | None = None,
) -> LossTerms:
    """:func:`dagmm_objective` from the per-row squared reconstruction error."""
    per_row = _per_row_error(squared_error, n_features, config)
    z64 = z.to(MIXTURE_DTYPE)
    terms = None
    if reducer is None:
        try:
            terms = energy_and_penalty(z64, gamma.to(MIXTURE_DTYPE), config.reg_covar, mask)
        except CholeskyFallbackNeeded:
            terms = None  # the composition below escalates the jitter (and warns)
    if terms is None:
        weights, means, covariances, scale_tril = batch_mixture(
            z, gamma, config.reg_covar, mask, reducer
        )
        energy = sample_energy(z64, weights, means, scale_tril)
        if reducer is not None and hasattr(reducer, "sum"):
            reconstruction, mean_energy = _global_means(
                cast(DataParallel, reducer), per_row, energy, mask
            )
        else:
            reconstruction = _masked_mean(per_row, mask)
            mean_energy = _masked_mean(energy, mask)
        terms = mean_energy, covariance_penalty(covariances)
    else:
        reconstruction = _masked_mean(per_row, mask)
    return _loss_terms(reconstruction, terms[0], terms[1], config)


def _per_row_error(squared_error: Tensor, n_features: int, config: TrainingConfig) -> Tensor:
    return squared_error if config.reconstruction_loss == "sum" else squared_error / n_features


def _loss_terms(
    reconstruction: Tensor, mean_energy: Tensor, penalty: Tensor, config: TrainingConfig
) -> LossTerms:
    mean_energy = mean_energy.to(reconstruction.dtype)
    penalty = penalty.to(reconstruction.dtype)
    total = reconstruction + config.lambda_energy * mean_energy + config.lambda_cov * penalty
    return LossTerms(total, reconstruction, mean_energy, penalty)


def _graphable_objective(
    squared_error: Tensor,
    z: Tensor,
    gamma: Tensor,
    n_features: int,
    config: TrainingConfig,
    mask: Tensor | None = None,
) -> tuple[LossTerms, Tensor]:
    """:func:`_objective` (one process) without waiting on the device, for CUDA graphs.

    Returns the loss terms and a 0-d flag set when some covariance did not
    factorise with ``reg_covar`` alone; the terms are then not to be used (see
    :func:`~dagmm.mixture.energy_penalty_and_failure`).
    """
    per_row = _per_row_error(squared_error, n_features, config)
    mean_energy, penalty, failed = energy_penalty_and_failure(
        z.to(MIXTURE_DTYPE), gamma.to(MIXTURE_DTYPE), config.reg_covar, mask
    )
    return _loss_terms(_masked_mean(per_row, mask), mean_energy, penalty, config), failed


def _global_means(
    reducer: DataParallel, per_row: Tensor, energy: Tensor, mask: Tensor | None
) -> tuple[Tensor, Tensor]:
    # Means over the union of every process's rows, so that N processes at batch B
    # see the loss of one process at batch N x B.
    weight = torch.ones_like(energy) if mask is None else mask.to(energy.dtype)
    local = torch.stack(
        [(per_row.to(energy.dtype) * weight).sum(-1), (energy * weight).sum(-1), weight.sum(-1)]
    )
    total = reducer.sum(local)
    count = total[2].clamp_min(1.0)
    return (total[0] / count).to(per_row.dtype), (total[1] / count).to(per_row.dtype)


#: With ``scaler="auto"``, a column whose most frequent value fills more than this
#: share of the training rows is min-max scaled instead of standardised.
AUTO_SPARSE_SHARE = 0.5
#: A column whose spread is below float32's smallest normal number is constant to
#: the float32 network (its values differ only in subnormals, and 1 / spread would
#: overflow float32 to inf, the scaled column to inf and NaN), so it gets scale 1.
SMALLEST_SPREAD = float(np.finfo(np.float32).tiny)


def scale_from_spread(spread: np.ndarray) -> np.ndarray:
    """Per-column scales ``1 / spread``, and 1 where the spread is below
    :data:`SMALLEST_SPREAD` (a constant column) or NaN.

    Parameters
    ----------
    spread : ndarray of shape (F,)

    Returns
    -------
    ndarray of shape (F,), the dtype of ``spread``
    """
    wide = spread >= SMALLEST_SPREAD
    return np.where(wide, 1.0 / np.where(wide, spread, 1.0), 1.0).astype(spread.dtype, copy=False)


#: Rows (evenly spaced) that :func:`top_value_share` looks at, at most.
_TOP_SHARE_ROWS = 100_000


#: Tables with fewer elements than this keep the numpy vote (a few milliseconds).
_COMPILED_VOTE_MIN_ELEMENTS = 1 << 20


def top_value_share(data: np.ndarray, compiled: bool = False) -> np.ndarray:
    """Share of the rows taken by each column's most frequent value, where above one half.

    Exact whenever a value fills more than half of a column, and at most 1/2
    otherwise (then the share of some value of the column): enough for the
    ``> 1/2`` test of ``scaler="auto"``. Computed on at most 100,000 evenly
    spaced rows. ``compiled=True`` lets a large float table take the compiled
    vote of :func:`dagmm._kernels.majority_count` (the same candidates), for
    callers whose training loads the compiled kernels anyway (CPU fits): on
    its own, loading numba costs more than the vote saves.

    Returns
    -------
    ndarray, shape (n_features,)
    """
    step = max(1, math.ceil(len(data) / _TOP_SHARE_ROWS))
    n_sampled = len(range(0, len(data), step))
    if n_sampled == 0:
        return np.zeros(data.shape[1])
    if (
        compiled
        and data.size >= _COMPILED_VOTE_MIN_ELEMENTS
        and data.dtype in (np.float32, np.float64)
        and _kernels.available()
    ):
        # one compiled pass per tree level and one to count: 2.7x faster than
        # the whole-array passes below on a 65,536 x 120 table (docs/performance.md)
        _, count = _kernels.majority_count(data, step)
        return count / n_sampled
    rows = data[::step]
    candidate = majority_candidates(rows)
    return np.count_nonzero(rows == candidate, axis=0) / n_sampled


def majority_candidates(rows: np.ndarray) -> np.ndarray:
    """Each column's majority value, if it has one (else some value of it), shape (1, F).

    Boyer and Moore's majority vote, merged pairwise up a tree of rows so that
    each level is a few whole-array operations: a (candidate, weight) pair
    stands for ``weight`` more copies of its candidate than of anything else in
    its rows, and a majority of the whole survives every merge. Linear in the
    rows, without the partial sort (which took 0.5 s on 65,536 x 120 rows with
    many ties, and 0.08 s without).
    """
    n = len(rows)
    # the first level: a pair of equal values weighs 2, a mixed pair cancels
    candidate = rows[0 : n - 1 : 2]
    weight = np.equal(candidate, rows[1::2]).astype(np.int32) * 2
    if n % 2:
        candidate = np.concatenate([candidate, rows[-1:]])
        weight = np.concatenate([weight, np.ones((1, rows.shape[1]), np.int32)])
    while len(candidate) > 1:
        m = len(candidate)
        first, second = candidate[0 : m - 1 : 2], candidate[1::2]
        w_first, w_second = weight[0 : m - 1 : 2], weight[1::2]
        merged = np.where(w_first >= w_second, first, second)
        merged_weight = np.where(first == second, w_first + w_second, np.abs(w_first - w_second))
        if m % 2:
            merged = np.concatenate([merged, candidate[-1:]])
            merged_weight = np.concatenate([merged_weight, weight[-1:]])
        candidate, weight = merged, merged_weight
    return candidate


def fit_scaling(
    x: Tensor, member_rows: Sequence[Tensor], method: str | None
) -> tuple[Tensor, Tensor]:
    """Per-member affine scaling ``x * scale + offset`` fitted on each member's rows.

    ``"minmax"`` maps the training range to [0, 1], ``"standard"`` to zero mean
    and unit variance, ``"auto"`` standardises each column unless one value
    fills more than :data:`AUTO_SPARSE_SHARE` of its rows (sparse or
    near-constant columns, whose rare values z-scoring would blow up to tens of
    units), which it min-max scales; a constant column gets scale 1 (it becomes 0).

    Returns
    -------
    offset, scale : Tensor, shape (S, 1, F)
    """
    offset, scale, _ = fit_input_scaling(x, member_rows, method)
    return offset, scale


def fit_input_scaling(
    x: Tensor, member_rows: Sequence[Tensor], method: str | None
) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`fit_scaling`, and each member's training range from the same pass.

    Parameters
    ----------
    x : Tensor of shape (n_rows, F)
        The encoded rows (before the network's scaling).
    member_rows : sequence of LongTensor
        Each member's training rows.
    method : {"auto", "standard", "minmax", None, "none"}
        The scaler (see :func:`fit_scaling`).

    Returns
    -------
    offset, scale : Tensor, shape (S, 1, F), the dtype of ``x``
    input_range : Tensor, shape (S, 2, F), float64
        Each column's minimum (``[:, 0]``) and maximum (``[:, 1]``) over each
        member's rows, for every ``method``: what explanations search for a
        column's most normal value (:mod:`dagmm.explain`).
    """
    if method not in ("minmax", "standard", "auto", None, "none"):
        raise ValueError(f"scaler must be 'auto', 'standard', 'minmax' or None, got {method!r}")
    fitted: list[tuple[Tensor, tuple[Tensor, Tensor, Tensor]]] = []  # per distinct row set
    per_member = []
    for rows in member_rows:
        # members on the same rows (restarts, fit_ensemble's default) share one fit
        same = next(
            (
                f
                for f in fitted
                if f[0] is rows or (f[0].shape == rows.shape and torch.equal(f[0], rows))
            ),
            None,
        )
        if same is None:
            same = (rows, _scaling_of(x, rows, method))
            fitted.append(same)
        per_member.append(same[1])
    offsets, scales, ranges = zip(*per_member, strict=True)
    return (
        torch.stack(offsets).unsqueeze(1).to(x.dtype),
        torch.stack(scales).unsqueeze(1).to(x.dtype),
        torch.stack(ranges).cpu(),
    )


def _every_row(rows: Tensor, n_rows: int) -> bool:
    """Whether ``rows`` is ``0, 1, ..., n_rows - 1`` (so ``x[rows]`` would copy ``x`` as it is)."""
    return rows.numel() == n_rows and bool((rows == torch.arange(n_rows, device=rows.device)).all())


def _column_summary(
    data: Tensor, moments: bool
) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
    """Each column's min, max and (with ``moments``) mean and standard deviation, float64.

    min and max are exact in the data's dtype; the moments accumulate in float64.
    On the CPU in numpy, a block of rows at a time: torch's reductions over the
    rows of an (n, F) array take several times longer there (0.3 s for a
    65,536 x 120 table, most of a short fit's preparation).
    """
    if data.device.type != "cpu":
        low, high = data.amin(0).to(MIXTURE_DTYPE), data.amax(0).to(MIXTURE_DTYPE)
        if not moments:
            return low, high, None, None
        wide = data.to(MIXTURE_DTYPE)
        return low, high, wide.mean(0), wide.std(0, correction=0)
    values = data.numpy()
    low, high = values.min(0).astype(np.float64), values.max(0).astype(np.float64)
    if not moments:
        return torch.from_numpy(low), torch.from_numpy(high), None, None
    mean = values.mean(0, dtype=np.float64)
    squares = np.zeros(values.shape[1])
    for start in range(0, len(values), 8192):
        centred = values[start : start + 8192] - mean
        squares += np.einsum("ij,ij->j", centred, centred)
    std = np.sqrt(squares / len(values))
    return (
        torch.from_numpy(low),
        torch.from_numpy(high),
        torch.from_numpy(mean),
        torch.from_numpy(std),
    )


def _scaling_of(x: Tensor, rows: Tensor, method: str | None) -> tuple[Tensor, Tensor, Tensor]:
    """``(offset, scale, range)`` of the rows ``x[rows]``: offset and scale (F,), range
    (2, F) the columns' min and max, all float64 (see :func:`fit_input_scaling`)."""
    data = x if _every_row(rows, x.shape[0]) else x[rows]
    low, high, mean, std = _column_summary(data, method not in ("minmax", None, "none"))
    span = torch.stack([low, high])
    if method in (None, "none"):
        scale = torch.ones(x.shape[1], dtype=MIXTURE_DTYPE, device=low.device)
        return torch.zeros_like(scale), scale, span
    if method == "minmax":
        centre, spread = low, high - low
    else:
        assert mean is not None and std is not None  # asked for: method != "minmax"
        if method == "standard":
            centre, spread = mean, std
        else:
            shares = top_value_share(data.cpu().numpy(), compiled=data.device.type == "cpu")
            sparse = torch.from_numpy(shares > AUTO_SPARSE_SHARE)
            centre = torch.where(sparse.to(data.device), low, mean)
            spread = torch.where(sparse.to(data.device), high - low, std)
    scale = torch.from_numpy(scale_from_spread(spread.cpu().numpy())).to(spread.device)
    return -centre * scale, scale, span


def _padded_batches(
    member_rows: Sequence[Tensor], n_batches: int, generator: torch.Generator | None
) -> tuple[Tensor, Tensor, Tensor]:
    """Split each member's rows into ``n_batches`` near-equal batches.

    Rows are shuffled with ``generator``; with ``generator=None`` they keep their order.

    Returns
    -------
    index : LongTensor (n_batches, S, width)
        Row indices, 0 where padded.
    valid : BoolTensor (n_batches, S, width)
    widths : LongTensor (n_batches,)
        Largest real batch size in each step (slice ``[..., :width]``).
    """
    return _pad_orders(_shuffled(member_rows, generator), n_batches)


def _shuffled(member_rows: Sequence[Tensor], generator: torch.Generator | None) -> list[Tensor]:
    """Each member's rows in a fresh random order (one ``randperm`` per member, in order)."""
    if generator is None:
        return list(member_rows)
    return [rows[torch.randperm(rows.numel(), generator=generator)] for rows in member_rows]


def _pad_orders(orders: Sequence[Tensor], n_batches: int) -> tuple[Tensor, Tensor, Tensor]:
    n_members = len(orders)
    width = math.ceil(max(int(o.numel()) for o in orders) / n_batches)
    index = torch.zeros(n_batches, n_members, width, dtype=torch.long)
    valid = torch.zeros(n_batches, n_members, width, dtype=torch.bool)
    for s, order in enumerate(orders):
        for b, chunk in enumerate(torch.tensor_split(order, n_batches)):
            index[b, s, : chunk.numel()] = chunk
            valid[b, s, : chunk.numel()] = True
    widths = valid.sum(-1).amax(-1)
    return index, valid, widths


def _batch_plan(
    member_rows: Sequence[Tensor],
    n_batches: int,
    generator: torch.Generator | None,
    device: torch.device,
) -> list[tuple[Tensor, Tensor | None]]:
    """``(rows (S, width), mask (S, width) or None)`` for each step of one pass.

    The same batches as :func:`_padded_batches`, planned on the host once per
    pass: when every member has as many rows as the others (one model, or an
    ensemble on equal splits) the batches are slices of one ``(S, n)`` order
    and need no mask; otherwise padded batches carry a mask only where some
    member is short. Nothing in the loop then waits on the device.
    """
    orders = _shuffled(member_rows, generator)
    if len({int(o.numel()) for o in orders}) == 1:
        stacked = torch.stack(orders).to(device)
        return [(chunk, None) for chunk in torch.tensor_split(stacked, n_batches, dim=1)]
    index, valid, widths = _pad_orders(orders, n_batches)
    plan = []
    for b, width in enumerate(widths.tolist()):
        mask = valid[b, :, :width]
        plan.append(
            (
                index[b, :, :width].to(device),
                None if bool(mask.all()) else mask.to(device),
            )
        )
    return plan


def _make_adam(net: DAGMMNet, config: TrainingConfig) -> Adam:
    """Adam with the fused kernel where this torch and device have one (see :mod:`dagmm.adam`)."""
    return Adam(net.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)


def _forward(net: DAGMMNet, batch: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per-row squared error (S, N), ``z`` (S, N, D) and ``gamma`` (S, N, K) of a batch."""
    _, _, z, squared_error = net.represent(batch)
    return squared_error, z, net.memberships_t(z, MIXTURE_DTYPE).transpose(-1, -2)


def _graphed_step(
    net: DAGMMNet, optimizer: Adam, config: TrainingConfig, x: Tensor, distributed: bool
) -> GraphedStep | None:
    """The step replayed from CUDA graphs, where they apply (see :mod:`dagmm.graphs`)."""
    backend = graph_backend(x.device) if config.cuda_graphs and not distributed else None
    if backend is None:
        return None

    def loss(batch: Tensor, mask: Tensor | None) -> tuple[LossTerms, Tensor]:
        squared_error, z, gamma = _forward(net, batch)
        return _graphable_objective(squared_error, z, gamma, batch.shape[-1], config, mask)

    return GraphedStep(
        list(net.parameters()),
        lambda batch, mask: _train_step(net, optimizer, batch, mask, config, None),
        loss,
        optimizer.step,
        backend,
    )


def _train_step(
    net: DAGMMNet,
    optimizer: Adam,
    batch: Tensor,
    mask: Tensor | None,
    config: TrainingConfig,
    reducer: StatisticsReducer | None,
) -> LossTerms:
    """One optimizer step on a gathered ``(S, width, F)`` batch; returns the loss terms."""
    squared_error, z, gamma = _forward(net, batch)
    terms = _objective(squared_error, z, gamma, batch.shape[-1], config, mask, reducer)
    optimizer.zero_grad(set_to_none=True)
    terms.total.sum().backward()
    if reducer is not None and hasattr(reducer, "gradients"):
        reducer.gradients(list(net.parameters()))
    optimizer.step()
    return terms


def fit_generator(seed: int) -> torch.Generator:
    """A fit's own CPU generator (``train_members(random=...)``), seeded with ``seed``.

    It draws what torch's global generator drew after ``torch.manual_seed(seed)``
    until 2026-12-07, so a fit's numbers are those of a fit then; but no other thread
    changes its draws, and it changes no other thread's.
    """
    return torch.Generator().manual_seed(int(seed))


@contextlib.contextmanager
def seeded_device_rng(device: torch.device, seed: int) -> Iterator[None]:
    """On a GPU, the device's default generator seeded with ``seed``, restored after.

    There dropout draws from it: the fused dropout kernel takes no other generator,
    and a CUDA graph records the default one. On the CPU, nothing
    (:func:`fit_generator` draws everything).
    """
    if device.type != "cuda":
        yield
        return
    index = device.index if device.index is not None else torch.cuda.current_device()
    state = torch.cuda.get_rng_state(index)
    torch.cuda.default_generators[index].manual_seed(int(seed))
    try:
        yield
    finally:
        torch.cuda.set_rng_state(state, index)


@dataclass
class LoopSnapshot:
    """Everything :func:`train_members` needs to continue exactly after ``epoch``.

    Tensors and dicts are the live objects (not copies): a checkpoint callback
    must serialise them before returning.
    """

    epoch: int
    steps: int
    stale: int
    history: list[dict[str, list[float]]]
    best_loss: Tensor
    best_epoch: list[int]
    best_state: dict | None
    net_state: dict
    optimizer_state: dict
    generator_state: Tensor
    rng_state: Tensor
    cuda_rng_state: Tensor | None = None


@dataclass
class TrainingResult:
    """What :func:`train_members` returns besides the trained network."""

    history: list[dict[str, list[float]]]
    best_epoch: list[int]
    steps: int


def train_members(
    net: DAGMMNet,
    x: Tensor,
    member_rows: Sequence[Tensor],
    config: TrainingConfig,
    validation_rows: Sequence[Tensor] | None = None,
    progress: Callable[[int, dict[str, np.ndarray]], None] | None = None,
    reducer: DataParallel | None = None,
    checkpoint: Callable[[LoopSnapshot], None] | None = None,
    resume: LoopSnapshot | None = None,
    random: torch.Generator | None = None,
) -> TrainingResult:
    """Train all members of ``net`` end to end with Adam on Eq. 7.

    Parameters
    ----------
    net : DAGMMNet
        Initialised network with S members (scaling buffers already set).
    x : Tensor, shape (n, F)
        All data, float32, on the training device.
    member_rows : sequence of S LongTensors
        Training rows of each member.
    config : TrainingConfig
    validation_rows : sequence of S LongTensors, optional
        Held-out rows per member; with ``config.patience`` set, training stops
        once no member improved its validation objective for that many epochs,
        and each member keeps its best weights.
    progress : callable, optional
        Called after every epoch with the epoch number and per-member loss terms.
    reducer : DataParallel, optional
        Makes the step exact across processes (distributed training): statistics
        and row means are summed over all processes, every process runs the same
        number of batches, and gradients are combined before each update.
    checkpoint : callable, optional
        Called after every completed epoch with a :class:`LoopSnapshot`.
    resume : LoopSnapshot, optional
        Continue from this snapshot (weights, optimizer, RNG states, history):
        the result equals the uninterrupted run's.
    random : torch.Generator, optional
        The run's own CPU generator (:func:`fit_generator`): it seeds the shuffling
        and draws the dropout masks of a network on the CPU, so that runs in other
        threads neither change nor see its draws. Default: torch's global generator.
        On a GPU the dropout masks come from the device's default generator (see
        :func:`seeded_device_rng`).

    Returns
    -------
    TrainingResult
    """
    n_members = net.n_members
    if len(member_rows) != n_members:
        raise ValueError(f"member_rows has {len(member_rows)} entries for {n_members} members")
    device = x.device
    optimizer = _make_adam(net, config)
    largest = max(int(r.numel()) for r in member_rows)
    n_batches = max(1, math.ceil(largest / config.batch_size))
    if reducer is not None and hasattr(reducer, "batches"):
        n_batches = reducer.batches(n_batches)
    random = torch.default_generator if random is None else random
    seed = int(torch.randint(0, 2**62, (1,), generator=random).item())
    generator = torch.Generator().manual_seed(seed)
    fused = None
    if config.fused_step and fused_step_supported(net, x, reducer is not None):
        fused = FusedStep(
            net, config.lambda_energy, config.lambda_cov, config.reg_covar,
            config.reconstruction_loss,
        )  # fmt: skip
    names = ("loss", "reconstruction", "energy", "penalty")
    history: list[dict[str, list[float]]] = [
        {name: [] for name in (*names, *(["val_loss"] if validation_rows else []))}
        for _ in range(n_members)
    ]
    best_loss = torch.full((n_members,), math.inf, dtype=MIXTURE_DTYPE)
    best_epoch = [0] * n_members
    best_state = None
    stale = 0
    steps = 0
    start = 1
    if resume is not None:
        _restore(resume, net, optimizer, generator, random)
        start, steps, stale = resume.epoch + 1, resume.steps, resume.stale
        history, best_epoch = resume.history, list(resume.best_epoch)
        # a checkpoint file is read onto the CPU; the merge below runs where the net is
        best_state = (
            None
            if resume.best_state is None
            else {key: value.to(device) for key, value in resume.best_state.items()}
        )
        best_loss = resume.best_loss.to(MIXTURE_DTYPE).clone()
        if config.patience is not None and validation_rows and stale >= config.patience:
            start = config.epochs + 1  # the interrupted run had already stopped early
    graphed = None
    if fused is None:
        graphed = _graphed_step(net, optimizer, config, x, reducer is not None)
    net.dropout_generator = random if device.type == "cpu" else None
    try:
        for epoch in range(start, config.epochs + 1):
            net.train()
            sums = torch.zeros(4, n_members, dtype=MIXTURE_DTYPE, device=device)
            for rows, mask in _batch_plan(member_rows, n_batches, generator, device):
                terms = None
                if graphed is not None:
                    terms = graphed(x, rows, mask)
                elif fused is not None:
                    batch = fused.gather(x, rows)
                    try:
                        terms = LossTerms(*fused(batch, mask))
                        optimizer.step()
                    except CholeskyFallbackNeeded:
                        terms = None  # the autograd step escalates the jitter (and warns)
                if terms is None:
                    terms = _train_step(net, optimizer, gather_rows(x, rows), mask, config, reducer)
                steps += 1
                with torch.no_grad():
                    sums += torch.stack(terms)
            epoch_terms = (sums / n_batches).cpu().numpy()
            if not np.isfinite(epoch_terms).all():
                _raise_non_finite(epoch, epoch_terms, names)
            _check_moments(optimizer, epoch)
            for s in range(n_members):
                for name, value in zip(names, epoch_terms[:, s], strict=True):
                    history[s][name].append(float(value))
            report = dict(zip(names, epoch_terms, strict=True))
            if validation_rows:
                val = validation_objective(net, x, validation_rows, config)
                for s in range(n_members):
                    history[s]["val_loss"].append(float(val[s]))
                report["val_loss"] = val
                improved = torch.as_tensor(val) < best_loss
                if bool(improved.any()):
                    best_loss = torch.where(improved, torch.as_tensor(val), best_loss)
                    best_state = _merge_state(best_state, net.state_dict(), improved)
                    for member in np.flatnonzero(improved.numpy()):
                        best_epoch[int(member)] = epoch
                    stale = 0
                else:
                    stale += 1
            else:
                best_epoch = [epoch] * n_members
            if progress is not None:
                progress(epoch, report)
            if checkpoint is not None:
                checkpoint(
                    LoopSnapshot(
                        epoch,
                        steps,
                        stale,
                        history,
                        best_loss,
                        best_epoch,
                        best_state,
                        net.state_dict(),
                        optimizer.state_dict(),
                        generator.get_state(),
                        random.get_state(),
                        torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
                    )
                )
            if config.patience is not None and validation_rows and stale >= config.patience:
                break
        if best_state is not None:
            net.load_state_dict(best_state)
        net.eval()
        return TrainingResult(history, best_epoch, steps)
    finally:
        net.dropout_generator = None


def _merge_state(best: dict | None, current: dict, improved: Tensor) -> dict:
    if best is None:
        return copy.deepcopy(current)
    merged = {}
    for key, value in current.items():
        mask = improved.to(value.device).view(-1, *([1] * (value.dim() - 1)))
        merged[key] = torch.where(mask, value, best[key]).clone()
    return merged


def _restore(
    snap: LoopSnapshot,
    net: DAGMMNet,
    optimizer: Adam,
    generator: torch.Generator,
    random: torch.Generator,
) -> None:
    net.load_state_dict(snap.net_state)
    state = snap.optimizer_state
    if "param_groups" not in state:  # checkpoints keep only per-parameter state
        state = {**optimizer.state_dict(), "state": state["state"]}
    optimizer.load_state_dict(state)
    generator.set_state(snap.generator_state)
    random.set_state(snap.rng_state)
    if snap.cuda_rng_state is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state(snap.cuda_rng_state, next(net.parameters()).device)


def _check_moments(optimizer: Adam, epoch: int) -> None:
    """Raise :class:`TrainingDivergedError` where a squared gradient overflowed Adam's
    second moment: every later update of that weight is 0 / inf = 0, so training went
    on without moving it, the loss finite and nothing said (``lambda_energy=1e30``
    trained no weight at all)."""
    moments = optimizer.exp_avg_sqs
    if not moments or bool(torch.stack([m.isfinite().all() for m in moments]).all()):
        return  # one synchronisation per epoch
    raise TrainingDivergedError(
        f"training diverged at epoch {epoch}: the gradients overflowed float32 (Adam's "
        "second moment is infinite), so the weights stopped moving; lower lambda_energy, "
        "lambda_cov or the scale of the inputs",
        epoch=epoch,
        terms=["gradient"],
    )


def _raise_non_finite(epoch: int, terms: np.ndarray, names: Sequence[str]) -> None:
    bad = [
        name for name, row in zip(names[1:], terms[1:], strict=True) if not np.isfinite(row).all()
    ]
    raise TrainingDivergedError(
        f"training diverged at epoch {epoch}: loss term(s) {', '.join(bad) or 'loss'} became "
        "non-finite; lower learning_rate or raise reg_covar",
        epoch=epoch,
        terms=bad or ["loss"],
    )


@torch.no_grad()
def validation_objective(
    net: DAGMMNet, x: Tensor, rows: Sequence[Tensor], config: TrainingConfig
) -> np.ndarray:
    """Eq. 7 on each member's held-out rows, in eval mode, with their own mixture."""
    was_training = net.training
    net.eval()
    index, valid, widths = _padded_batches(rows, 1, None)
    width = int(widths[0])
    mask = valid[0, :, :width].to(x.device)
    out = net(x[index[0, :, :width].to(x.device)])
    terms = dagmm_objective(out, config, None if bool(mask.all()) else mask)
    net.train(was_training)
    return terms.total.to(MIXTURE_DTYPE).cpu().numpy()


def _cpu_engine_applies(net: DAGMMNet, x: Tensor) -> bool:
    """Whether :mod:`dagmm.inference` computes ``net``'s pass over the rows ``x``."""
    return x.device.type == "cpu" and x.dtype == torch.float32 and cpu_scoring_supported(net)


@torch.no_grad()
def eval_memberships(net: DAGMMNet, x: Tensor) -> tuple[Tensor, Tensor]:
    """Representation and memberships in eval mode, as scoring computes them.

    The CPU engine when it covers the network, else the torch composition; every
    pass over whole data sets (in memory, from a file, per process) goes through
    here so that their round-off agrees.

    Parameters
    ----------
    net : DAGMMNet, in eval mode
    x : (S, N, D) float32

    Returns
    -------
    z : (S, N, L + 2) float64
    gamma : (S, N, K) float64
    """
    if _cpu_engine_applies(net, x):
        z = torch.from_numpy(cpu_represent(net, x.numpy()))
    else:
        z = net.represent(x)[2].to(MIXTURE_DTYPE)
    gamma = net.memberships_t(z.to(x.dtype), MIXTURE_DTYPE).transpose(-1, -2)
    return z, gamma


def stream_statistics(
    net: DAGMMNet,
    x: Tensor,
    member_rows: Sequence[Tensor],
    chunk_size: int = 65536,
    reducer: StatisticsReducer | None = None,
) -> MixtureStatistics:
    """Exact gamma-weighted statistics of each member's rows, in bounded memory.

    One pass in eval mode (no dropout), accumulating in float64. Statistics are
    centred on the first chunk's mean unless a ``reducer`` (which needs a shift
    shared by all processes) is given.
    """
    net.eval()
    largest = max(int(r.numel()) for r in member_rows)
    n_chunks = max(1, math.ceil(largest / chunk_size))
    chunks = (
        (*eval_memberships(net, gather_rows(x, rows)), mask)
        for rows, mask in _batch_plan(member_rows, n_chunks, None, x.device)
    )
    total = accumulated_statistics(chunks, centre=reducer is None)
    return reducer(total) if reducer is not None else total


def accumulated_statistics(
    chunks: Iterable[tuple[Tensor, Tensor, Tensor | None]], centre: bool
) -> MixtureStatistics:
    """The sum of :func:`sufficient_statistics` over ``(z, gamma, mask)`` chunks.

    With ``centre`` the sums are centred on the first chunk's mean (accuracy in
    float64 when z sits far from zero); without, on zero (a shift shared by all
    processes is then the caller's business).
    """
    total: MixtureStatistics | None = None
    shift = None
    for z, gamma, mask in chunks:
        if shift is None and centre:
            shift = _batch_centre(z, mask)
        stats = sufficient_statistics(z, gamma, mask, shift)
        total = stats if total is None else add_statistics(total, stats)
    assert total is not None
    return total


@torch.no_grad()
def exact_mixture(
    net: DAGMMNet,
    x: Tensor,
    member_rows: Sequence[Tensor],
    reg_covar: float,
    chunk_size: int = 65536,
) -> tuple[FittedMixture, list[np.ndarray] | None]:
    """Each member's test-time mixture from all its rows, and those rows' energies under it.

    Where the CPU engine scores the network, one pass computes each member's
    representation of its rows in the chunks scoring uses; the statistics and
    then the energies come from it, bit for bit those :func:`score_energy` gives
    the rows with the member alone (``net.member(s)``), without a second pass
    through the network. Elsewhere this is :func:`stream_statistics` and the
    energies are None (the caller scores the rows).

    Parameters
    ----------
    net : DAGMMNet
    x : Tensor, shape (N, F), float32
    member_rows : sequence of S integer tensors
        The rows of each member.
    reg_covar : float

    Returns
    -------
    mixture : FittedMixture
    energies : list of S ndarrays of shape (len(member_rows[s]),), or None
    """
    if not _cpu_engine_applies(net, x):
        return fitted_mixture(stream_statistics(net, x, member_rows, chunk_size), reg_covar), None
    net.eval()
    data = x.numpy()
    sources = [
        (data, None if _every_row(rows, len(data)) else rows.cpu().numpy()) for rows in member_rows
    ]
    z_t = [torch.from_numpy(z) for z in cpu_member_representations(net, sources)]

    def chunks():
        for start in range(0, max(z.shape[1] for z in z_t), chunk_size):
            z, mask = _stack_padded([z[:, start : start + chunk_size].T for z in z_t])
            yield z, net.memberships_t(z.to(x.dtype), MIXTURE_DTYPE).transpose(-1, -2), mask

    mixture = fitted_mixture(accumulated_statistics(chunks(), centre=True), reg_covar)
    energies = [
        cpu_energy_of_representation(
            z.numpy(),
            mixture.weights[s : s + 1],
            mixture.means[s : s + 1],
            mixture.scale_tril[s : s + 1],
        )
        for s, z in enumerate(z_t)
    ]
    return mixture, energies


def _stack_padded(parts: Sequence[Tensor]) -> tuple[Tensor, Tensor | None]:
    """Stack (n_s, D) tensors to (S, max n_s, D), zero-padded, with a mask where any is short."""
    width = max(p.shape[0] for p in parts)
    if all(p.shape[0] == width for p in parts):
        return torch.stack(list(parts)), None
    stacked = parts[0].new_zeros(len(parts), width, parts[0].shape[1])
    mask = torch.zeros(len(parts), width, dtype=torch.bool)
    for member, part in enumerate(parts):
        stacked[member, : part.shape[0]] = part
        mask[member, : part.shape[0]] = True
    return stacked, mask


def fitted_mixture(stats: MixtureStatistics, reg_covar: float) -> FittedMixture:
    """Test-time mixture parameters from whole-training-set statistics."""
    weights, means, covariances = parameters_from_statistics(stats)
    covariances = regularize_covariances(covariances, reg_covar)
    return FittedMixture(weights, means, covariances, cholesky_with_fallback(covariances))


@torch.no_grad()
def score_energy(
    net: DAGMMNet, mixture: FittedMixture, x: Tensor, chunk_size: int = SCORE_CHUNK_ROWS
) -> Tensor:
    """Energies of the rows of ``x`` (n, F) under each member's fixed mixture.

    Only the compression network runs (the estimation network plays no part in
    a fixed mixture's energy). A tanh network on the CPU is scored by
    :func:`dagmm.inference.cpu_energy`; anything else chunk by chunk with the
    torch modules into one preallocated output.

    Returns
    -------
    Tensor, shape (S, n), float64
    """
    net.eval()
    if _cpu_engine_applies(net, x):
        return torch.from_numpy(
            cpu_energy(net, mixture.weights, mixture.means, mixture.scale_tril, x.numpy())
        )
    n_rows = x.shape[0]
    energy = torch.empty(net.n_members, n_rows, dtype=MIXTURE_DTYPE, device=x.device)
    for start in range(0, n_rows, chunk_size):
        chunk = x[start : start + chunk_size].unsqueeze(0)
        _, _, z, _ = net.represent(chunk.expand(net.n_members, -1, -1))
        energy[:, start : start + chunk.shape[1]] = sample_energy(
            z.to(MIXTURE_DTYPE), mixture.weights, mixture.means, mixture.scale_tril
        )
    return energy
