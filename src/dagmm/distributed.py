"""Exact data-parallel training on ``torch.distributed`` (launch with ``torchrun``).

DAGMM's mixture parameters are formed from the gamma-weighted sufficient
statistics of the whole batch, so averaging the gradients of N independent
per-process steps (plain DDP) would train a different model. Here every step
sums the statistics over all processes with a differentiable all-reduce and
takes the loss's row means over the union of the processes' batches: N
processes at batch B compute the same mixture, loss and gradients as one
process at batch N x B on the same rows. The test-time mixture pass, the
feature scaling, the categories and the threshold are combined the same way.

Usage (every process runs the same code on its own shard)::

    from dagmm import DAGMM
    from dagmm.distributed import fit_distributed, init_process_group

    init_process_group()                  # reads torchrun's environment
    model = fit_distributed(DAGMM(random_state=0), my_shard)
    if torch.distributed.get_rank() == 0:
        model.save("model.dagmm")

What is not exact: dropout masks are drawn per process (with ``dropout=0``
the run matches one process bit for bit up to float summation order), each
epoch's batches are drawn within each shard (the union of the processes'
batches forms the global batch). ``missing="impute"`` fills with the medians and
most frequent values over every shard, as one process would.
"""

from __future__ import annotations

import functools
import json
import os
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.distributed as dist
from sklearn.utils import check_random_state
from torch import Tensor

from .estimator import (
    DAGMM,
    _architecture,
    _Members,
    _network,
    _new_encoder,
    _progress_callback,
    _training_config,
    _training_levels,
    _warn_few_rows,
    auto_epochs,
    best_restart,
    resolve_device,
    unresolved_columns,
    warn_unresolved_columns,
)
from .exceptions import DAGMMError, DistributedInputError, InvalidInputError
from .levels import Levels, merge_levels, pack_levels, unpack_levels
from .mixture import MixtureStatistics
from .quantile import exact_median, exact_quantile
from .tabular import (
    TabularEncoder,
    check_category_count,
    find_numbers_as_text,
    find_stray_text,
    refuse_empty_column,
    shifts_from_ranges,
    warn_if_identifier,
)
from .training import (
    AUTO_SPARSE_SHARE,
    fit_generator,
    fitted_mixture,
    majority_candidates,
    scale_from_spread,
    seeded_device_rng,
    stream_statistics,
    train_members,
)

if TYPE_CHECKING:  # read lazily, as the tables are
    from .tableio import CsvFormat

__all__ = [
    "DistributedInputError",
    "ProcessGroupReducer",
    "agree",
    "all_reduce_sum",
    "drop_empty_unnamed_everywhere",
    "fit_distributed",
    "init_process_group",
    "is_distributed",
    "shard_indices",
]


# torch before 2.8 destroys a gloo group while holding the GIL (pytorch/pytorch#154976),
# and gloo's worker thread may at that moment still be freeing the last collective's
# tensors: a tensor Python already let go of needs the GIL to be freed, so each waits for
# the other for ever (9 runs in 150 of benchmarks/stress_teardown.py hung under torch 2.2).
# Holding the tensors of the latest collectives here means gloo never drops the last
# reference to one, whenever the caller destroys the group.
# Every collective dagmm makes goes through the three functions below.
_RECENT_COLLECTIVES: deque[tuple[Tensor, ...]] = deque(maxlen=8)


def _all_reduce(tensor: Tensor, op: Any, group: Any) -> None:
    _RECENT_COLLECTIVES.append((tensor,))
    dist.all_reduce(tensor, op=op, group=group)


def _all_gather(outputs: list[Tensor], tensor: Tensor, group: Any) -> None:
    _RECENT_COLLECTIVES.append((tensor, *outputs))
    dist.all_gather(outputs, tensor, group=group)


def _broadcast(tensor: Tensor, src: int, group: Any) -> None:
    _RECENT_COLLECTIVES.append((tensor,))
    dist.broadcast(tensor, src, group=group)


def is_distributed() -> bool:
    """Whether a default process group is initialised."""
    return dist.is_available() and dist.is_initialized()


def init_process_group(device: str = "auto", timeout_s: float = 1800.0) -> torch.device:
    """Join the process group described by torchrun's environment variables.

    Uses NCCL when the resolved device is a GPU (one GPU per process, picked by
    ``LOCAL_RANK``) and gloo on CPUs. Does nothing but resolve the device when a
    group is already initialised.

    Returns
    -------
    torch.device
        The device this process should train on.
    """
    if not dist.is_available():
        raise InvalidInputError("torch.distributed is not available in this PyTorch build")
    missing = [
        k for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ
    ]
    if not dist.is_initialized() and missing:
        raise InvalidInputError(
            f"distributed training needs the environment variables {missing}; "
            "launch with `torchrun --nproc-per-node N ...`"
        )
    resolved = resolve_device(device)
    if resolved.type == "cuda" and resolved.index is None:
        resolved = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    if resolved.type == "cuda":
        torch.cuda.set_device(resolved)
    if not dist.is_initialized():
        from datetime import timedelta

        dist.init_process_group(
            backend="nccl" if resolved.type == "cuda" else "gloo",
            timeout=timedelta(seconds=timeout_s),
        )
    return resolved


class _AllReduceSum(torch.autograd.Function):
    """Sum over processes in one collective; the backward sums the gradients the same way.

    Every process computes the same scalar loss from the summed tensors, so the
    backward all-reduce hands each process N times its share of the gradient;
    :meth:`ProcessGroupReducer.gradients` divides by N after summing.
    """

    @staticmethod
    def forward(ctx: Any, group: Any, *tensors: Tensor) -> tuple[Tensor, ...]:
        ctx.group = group
        ctx.like = [torch.empty(0, dtype=t.dtype, device=t.device) for t in tensors]
        ctx.shapes = [t.shape for t in tensors]
        return _sum_flat(tensors, group)

    @staticmethod
    def backward(ctx: Any, *grads: Tensor) -> tuple[Any, ...]:
        filled = [
            like.new_zeros(shape) if g is None else g
            for g, like, shape in zip(grads, ctx.like, ctx.shapes, strict=True)
        ]
        return (None, *_AllReduceSum.apply(ctx.group, *filled))


def _sum_flat(tensors: Sequence[Tensor], group: Any) -> tuple[Tensor, ...]:
    # One collective for all tensors: latency, not bandwidth, dominates these small messages.
    dtype = tensors[0].dtype
    flat = torch.cat([t.detach().reshape(-1).to(dtype) for t in tensors])
    _all_reduce(flat, dist.ReduceOp.SUM, group)
    parts = flat.split([t.numel() for t in tensors])
    return tuple(
        p.reshape(t.shape).to(t.dtype).clone() for p, t in zip(parts, tensors, strict=True)
    )


def all_reduce_sum(*tensors: Tensor, group: Any = None) -> tuple[Tensor, ...]:
    """Differentiable sum of ``tensors`` over all processes of ``group``."""
    return _AllReduceSum.apply(group, *tensors)


class ProcessGroupReducer:
    """The :class:`dagmm.training.DataParallel` hooks over a torch.distributed group.

    Parameters
    ----------
    group : ProcessGroup, optional
        Default: the default group.
    """

    def __init__(self, group: Any = None) -> None:
        self.group = group
        self.world_size = dist.get_world_size(group)
        self.rank = dist.get_rank(group)

    def __call__(self, stats: MixtureStatistics) -> MixtureStatistics:
        """Sum the statistics (taken about the zero shift) over all processes."""
        count, sum_gamma, sum_gamma_z, sum_gamma_zz = all_reduce_sum(
            stats.n_rows, stats.sum_gamma, stats.sum_gamma_z, stats.sum_gamma_zz, group=self.group
        )
        return MixtureStatistics(count, sum_gamma, sum_gamma_z, sum_gamma_zz, stats.shift)

    def sum(self, tensor: Tensor) -> Tensor:
        """Differentiable sum over all processes."""
        return all_reduce_sum(tensor, group=self.group)[0]

    def batches(self, n_batches: int) -> int:
        """The largest per-process batch count: every process must run every step."""
        return int(self.reduce_scalar(n_batches, dist.ReduceOp.MAX))

    def gradients(self, parameters: Sequence[Tensor]) -> None:
        """Sum the gradients over processes and divide by N (see :class:`_AllReduceSum`)."""
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in parameters]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        _all_reduce(flat, dist.ReduceOp.SUM, self.group)
        flat /= self.world_size
        for p, part in zip(parameters, flat.split([g.numel() for g in grads]), strict=True):
            p.grad = part.view_as(p).clone()

    # ------------------------------------------------------------ plain helpers
    def _device(self) -> torch.device:
        if dist.get_backend(self.group) == "nccl":
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")

    def reduce_scalar(self, value: float, op: Any = dist.ReduceOp.SUM) -> float:
        """Reduce one number over all processes (float64)."""
        t = torch.tensor([float(value)], dtype=torch.float64, device=self._device())
        _all_reduce(t, op, self.group)
        return float(t.item())

    def reduce_array(self, values: np.ndarray, op: Any = dist.ReduceOp.SUM) -> np.ndarray:
        """Reduce a float64 / int64 array element-wise over all processes."""
        t = torch.from_numpy(np.ascontiguousarray(values)).to(self._device())
        _all_reduce(t, op, self.group)
        return t.cpu().numpy()

    def gather_bytes(self, data: bytes) -> list[bytes]:
        """Every process's ``data``, in rank order (no pickle: raw bytes)."""
        device = self._device()
        size = torch.tensor([len(data)], dtype=torch.int64, device=device)
        sizes = [torch.zeros_like(size) for _ in range(self.world_size)]
        _all_gather(sizes, size, self.group)
        longest = max(int(s.item()) for s in sizes)
        buffer = torch.zeros(max(longest, 1), dtype=torch.uint8, device=device)
        if data:
            buffer[: len(data)] = torch.frombuffer(bytearray(data), dtype=torch.uint8).to(device)
        gathered = [torch.zeros_like(buffer) for _ in range(self.world_size)]
        _all_gather(gathered, buffer, self.group)
        return [
            bytes(g[: int(s.item())].cpu().numpy().tobytes())
            for g, s in zip(gathered, sizes, strict=True)
        ]

    def broadcast_int(self, value: int, src: int = 0) -> int:
        """Rank ``src``'s ``value`` on every process."""
        t = torch.tensor([int(value)], dtype=torch.int64, device=self._device())
        _broadcast(t, src, self.group)
        return int(t.item())


def shard_indices(n_rows: int, rank: int, world_size: int) -> slice:
    """Contiguous, near-equal block of rows ``rank`` owns (``np.array_split`` layout)."""
    base, extra = divmod(n_rows, world_size)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (1 if rank < extra else 0))


# ------------------------------------------------------------------- training
def _global_ranges(
    reducer: ProcessGroupReducer, encoder: TabularEncoder, X: Any
) -> dict[str, tuple[float, float]]:
    """Each numeric column's (low, high) over every shard's rows, as one process fitting
    them all finds it (:meth:`TabularEncoder.training_ranges`; NaN where no shard has a
    finite value)."""
    ranges = _agreed(reducer, lambda: encoder.training_ranges(X))
    names = list(ranges)
    if not names:
        return {}
    bounds = np.array([ranges[n] for n in names], dtype=np.float64).T  # (2, n): low, high
    # a shard without a finite value holds no bound: +inf / -inf drop out of MIN / MAX
    low = reducer.reduce_array(np.nan_to_num(bounds[0], nan=np.inf), dist.ReduceOp.MIN)
    high = reducer.reduce_array(np.nan_to_num(bounds[1], nan=-np.inf), dist.ReduceOp.MAX)
    return {
        n: (float(lo), float(hi)) if np.isfinite(lo) else (np.nan, np.nan)
        for n, lo, hi in zip(names, low, high, strict=True)
    }


def _merge_encoders(reducer: ProcessGroupReducer, local: TabularEncoder) -> TabularEncoder:
    # every process compares every process's encoder: a mismatch fails all alike
    states = [json.loads(b) for b in reducer.gather_bytes(json.dumps(local.to_dict()).encode())]
    first = states[0]
    for rank, state in enumerate(states):
        if state["columns"] != first["columns"] or state["input_kind"] != first["input_kind"]:
            raise DistributedInputError(
                f"rank {rank} has columns {state['columns']} but rank 0 has {first['columns']}; "
                "every shard must have the same columns"
            )
        categorical = set(state["categories"])
        if categorical != set(first["categories"]):
            raise DistributedInputError(
                f"rank {rank} reads columns {sorted(categorical ^ set(first['categories']))} "
                "as categorical and rank 0 does not (or the reverse); give every shard the "
                "same column types"
            )
    merged = dict(first)
    merged["categories"] = {
        name: sorted({v for state in states for v in state["categories"][name]})
        for name in first["categories"]
    }
    return TabularEncoder.from_dict(merged)


def _check_numbers_as_text(
    reducer: ProcessGroupReducer, encoder: TabularEncoder, X: Any, name: str, with_a_value: int
) -> None:
    """:func:`~dagmm.tabular.check_numbers_as_text` and
    :func:`~dagmm.tabular.check_stray_text` on the union of the shards' values of
    categorical column ``name``, as one process would check the whole: one shard may
    hold too few numbers or only markers, another the word that makes it a category. The
    rows holding markers (or the stray text) are counted over every shard, and the first
    named by its row in the shard's index (the file's row when the CLI reads the shards);
    ``with_a_value``: the rows of every shard with a value in the column."""
    numbers = find_numbers_as_text(encoder.categories[name])
    stray = find_stray_text(encoder.categories[name])
    checks: list[tuple[Any, list[str]]] = [
        (numbers, numbers.markers if numbers else []),
        (stray, stray.text if stray else []),
    ]
    for found, values in checks:
        if found is None:  # alike on every rank: the categories are the union's
            continue
        held, first = _rows_holding(reducer, encoder, X, name, values)
        error = found.error(name, held, with_a_value, first)
        if error is not None:
            raise error


def _rows_holding(
    reducer: ProcessGroupReducer, encoder: TabularEncoder, X: Any, name: str, values: list[str]
) -> tuple[int, Any]:
    """The rows of every shard whose column ``name`` holds one of ``values``, and the
    lowest such row's label where every shard's is an integer (else None). Every rank
    calls it alike: ``values`` come from the union of the categories, the same
    everywhere."""
    if not values:
        return 0, None
    local = _agreed(reducer, functools.partial(_local_rows_holding, encoder, X, name, values))
    count = int(reducer.reduce_array(local[:1])[0])
    lowest = reducer.reduce_array(local[1:], dist.ReduceOp.MIN)[0]
    return count, int(lowest) if np.isfinite(lowest) else None


def _rows_with_a_value(
    reducer: ProcessGroupReducer, encoder: TabularEncoder, X: Any, name: str
) -> int:
    local = _agreed(
        reducer,
        lambda: np.array([len(encoder.category_text(X, name))], dtype=np.float64),
    )
    return int(reducer.reduce_array(local)[0])


def _local_rows_holding(
    encoder: TabularEncoder, X: Any, name: str, values: list[str]
) -> np.ndarray:
    """This shard's count of rows holding ``values`` in column ``name``, and the first
    one's row if an integer (else inf), as float64."""
    rows = encoder.category_text(X, name)
    hits = np.flatnonzero(rows.isin(values).to_numpy())
    label = rows.index[hits[0]] if len(hits) else None
    first = float(label) if isinstance(label, (int, np.integer)) else np.inf
    return np.array([len(hits), first], dtype=np.float64)


#: What :func:`agree` reports from every process instead of raising on one only.
_AGREED_ERRORS = (DAGMMError, ValueError, OSError, MemoryError)


def _describe(exc: BaseException) -> str:
    """One process's failure, in one line: its type and message."""
    if isinstance(exc, MemoryError):
        text = "out of memory"
    elif isinstance(exc, OSError) and exc.filename:
        text = f"{exc.filename}: {exc.strerror or exc}"
    else:
        text = str(exc)
    return f"{type(exc).__name__}: {text}"


def agree(step: Any, group: Any = None) -> Any:
    """Run ``step()`` on every process; if it fails on any, fail on every one alike.

    Without this a bad shard (or a file one process cannot read) would leave the
    other processes waiting in the next collective until the timeout, or report the
    error once per process.

    Parameters
    ----------
    step : callable
        Called with no arguments on every process; it must not use collectives.
    group : ProcessGroup, optional

    Returns
    -------
    object
        What ``step()`` returned on this process.

    Raises
    ------
    DistributedInputError
        On every process, when ``step`` raised one of the package's errors, a
        ``ValueError``, ``OSError`` or ``MemoryError`` on any: the same message
        everywhere, naming each failing rank and its error, or only the error
        when every rank failed alike (a missing file).
    """
    return _agreed(ProcessGroupReducer(group), step)


def _agreed(reducer: ProcessGroupReducer, step: Any) -> Any:
    """:func:`agree` with the reducer of the caller's group."""
    try:
        result, message = step(), ""
    except _AGREED_ERRORS as exc:
        result, message = None, _describe(exc)
    if reducer.reduce_scalar(1.0 if message else 0.0) > 0:
        texts = [text.decode() for text in reducer.gather_bytes(message.encode())]
        if all(text == texts[0] for text in texts):  # every rank alike: as one process says it
            raise DistributedInputError(texts[0].split(": ", 1)[1])
        ranks: dict[str, list[int]] = {}
        for rank, text in enumerate(texts):
            if text:
                ranks.setdefault(text, []).append(rank)
        raise DistributedInputError(
            "; ".join(
                f"rank{'s' if len(found) > 1 else ''} {', '.join(map(str, found))}: {text}"
                for text, found in ranks.items()
            )
        )
    return result


def _global_top_share(reducer: ProcessGroupReducer, data: np.ndarray, n_total: float) -> np.ndarray:
    """Each column's share of the rows of every process taken by its most frequent value,
    exact where above one half (else at most 1/2), as ``scaler="auto"`` tests it.

    A value filling more than half of all rows fills more than half of some process's
    rows, so it is that process's majority candidate: each process's candidates are
    gathered and counted over every process's rows. (Each shard's own share, weighted
    by its rows, would call a column of 0s in one shard and 1s in another sparse.)
    """
    n_features = data.shape[1]
    local = (
        majority_candidates(data)[0].astype(np.float64)
        if len(data)
        else np.full(n_features, np.nan)  # matches nothing
    )
    candidates = [np.frombuffer(b) for b in reducer.gather_bytes(local.tobytes())]
    counts = np.stack([np.equal(data, c).sum(0) for c in candidates]).astype(np.float64)
    return reducer.reduce_array(counts).max(0) / n_total


def _global_scaling(
    reducer: ProcessGroupReducer, x: Tensor, method: str | None
) -> tuple[Tensor, Tensor, np.ndarray]:
    """The scaling :func:`dagmm.training.fit_input_scaling` fits on the union of every
    process's rows: ``(offset, scale)``, each (1, 1, F) float32, and the columns' min
    and max, (2, F) float64."""
    data = x.to(torch.float64).cpu().numpy()
    n_features = data.shape[1]
    # the training range, for explanations, whatever the scaler
    low = reducer.reduce_array(data.min(0), dist.ReduceOp.MIN)
    high = reducer.reduce_array(data.max(0), dist.ReduceOp.MAX)
    if method in ("minmax", "standard", "auto"):
        sums = reducer.reduce_array(np.concatenate([[len(data)], data.sum(0)]))
        n, mean = sums[0], sums[1:] / sums[0]
        std = np.sqrt(reducer.reduce_array(((data - mean) ** 2).sum(0)) / n)
        if method == "minmax":
            centre, spread = low, high - low
        elif method == "standard":
            centre, spread = mean, std
        else:
            sparse = _global_top_share(reducer, data, sums[0]) > AUTO_SPARSE_SHARE
            centre, spread = np.where(sparse, low, mean), np.where(sparse, high - low, std)
        scale = scale_from_spread(spread)
        offset = -centre * scale
    elif method in (None, "none"):
        scale, offset = np.ones(n_features), np.zeros(n_features)
    else:
        raise InvalidInputError(
            f"scaler must be 'auto', 'standard', 'minmax' or None, got {method!r}"
        )
    as_tensor = lambda a: torch.from_numpy(a).view(1, 1, n_features).to(torch.float32)  # noqa: E731
    return as_tensor(offset), as_tensor(scale), np.stack([low, high])


def _global_levels(
    reducer: ProcessGroupReducer, encoder: TabularEncoder, X: Any, data: np.ndarray
) -> Levels:
    """The levels of every process's rows (``DAGMM.input_levels_``): each process's
    own, gathered and merged. A value imputed in one shard's rows and held by another's
    stays; one no row of any shard holds does not."""
    (local,) = _training_levels(encoder, X, data, [np.arange(len(data))])
    values, counts = pack_levels(local)
    gathered = reducer.gather_bytes(counts.tobytes() + values.tobytes())
    n_features = len(counts)
    parts = []
    for raw in gathered:
        shard_counts = np.frombuffer(raw[: 8 * n_features], dtype=np.int64)
        shard_values = np.frombuffer(raw[8 * n_features :]).reshape(values.shape)
        parts.append(unpack_levels(shard_values, shard_counts))
    return merge_levels(parts)


#: Parameters that may differ between processes: the seeds are rank 0's, each process
#: may train on its own device, and rank 0 alone reports progress.
_PER_PROCESS_PARAMETERS = frozenset({"random_state", "device", "verbose"})


def _check_same_parameters(reducer: ProcessGroupReducer, est: DAGMM) -> None:
    """Raise :class:`DistributedInputError` on every process alike where the estimators'
    parameters differ between processes: a different ``epochs`` ran a different number
    of collectives and hung every process, a different ``contamination`` gave each its
    own threshold without a word."""
    mine = {k: repr(v) for k, v in est.get_params().items() if k not in _PER_PROCESS_PARAMETERS}
    texts = reducer.gather_bytes(json.dumps(mine, sort_keys=True).encode())
    every = [json.loads(text) for text in texts]
    differ = sorted(
        name for name in set().union(*every) if len({params.get(name) for params in every}) > 1
    )
    if differ:
        shown = "; ".join(
            f"{name}: " + ", ".join(f"rank {r} {p.get(name)}" for r, p in enumerate(every))
            for name in differ[:3]
        )
        raise DistributedInputError(
            f"the estimator's parameters differ between processes ({shown}): give every "
            "process the same DAGMM (random_state, device and verbose may differ)"
        )


def fit_distributed(estimator: DAGMM, X: Any, group: Any = None) -> DAGMM:
    """Fit ``estimator`` on the union of every process's ``X``, exactly as one process would.

    Call it on every process of an initialised group (see
    :func:`init_process_group`) with that process's shard. Every process ends
    with the same model; save it from rank 0 only.

    Parameters
    ----------
    estimator : DAGMM
        ``batch_size`` is the batch of each process (the global batch is
        ``world_size x batch_size``); ``validation_fraction`` is not supported.
        With ``n_restarts`` the restarts train together, as in :meth:`DAGMM.fit`,
        and each network's standardisation is over every process's rows.
    X : array or DataFrame
        This process's rows (at least one).
    group : ProcessGroup, optional

    Returns
    -------
    DAGMM
        ``estimator``, fitted. ``decision_scores_`` and ``labels_`` hold this
        process's rows; ``threshold_`` and the score statistics are over all rows.

    Raises
    ------
    DistributedInputError
        On every process alike, for a bad parameter or a bad shard on any of them
        (a value that is not a number, too many categories in all, columns that
        differ between shards, fewer than 2 rows in all): one process (rank 0)
        reporting it is enough.
    InvalidInputError
        No process group is initialised.
    """
    if not is_distributed():
        raise InvalidInputError(
            "fit_distributed needs an initialised process group (init_process_group())"
        )
    est = estimator
    reducer = ProcessGroupReducer(group)
    _check_same_parameters(reducer, est)

    def fit_local() -> TabularEncoder:
        est._validate_params()
        if est.validation_fraction:
            raise InvalidInputError(
                "validation_fraction is not supported with distributed training"
            )
        if len(X) == 0:
            raise InvalidInputError(
                f"no rows to train on in process {reducer.rank} of {reducer.world_size}: "
                "give every process at least one row"
            )
        local = _new_encoder(est)
        local.check_numbers = False  # a shard's values tell less than all of them: below
        return local.fit(X)

    encoder = _merge_encoders(reducer, _agreed(reducer, fit_local))
    ranges = _global_ranges(reducer, encoder, X)
    encoder.shifts = shifts_from_ranges(ranges, encoder.log_inputs)
    if reducer.rank == 0:  # as one process fitting every row would
        warn_unresolved_columns(unresolved_columns(ranges, encoder.shifts), stacklevel=3)
    _check_no_empty_column(reducer, encoder, X, est.missing)
    if encoder.missing == "impute":
        encoder.fill_values = _global_fill_values(reducer, encoder, X)
    try:
        for name, values in encoder.categories.items():
            with_a_value = _rows_with_a_value(reducer, encoder, X, name)
            _check_numbers_as_text(reducer, encoder, X, name, with_a_value)
            check_category_count(name, values, est.max_categories)
            # as one process decides it: each shard holds fewer repeats of a value
            if reducer.rank == 0:
                warn_if_identifier(name, with_a_value, len(values), stacklevel=3)
    except InvalidInputError as exc:  # every rank holds the same union: fails alike
        raise DistributedInputError(str(exc)) from None
    data = _agreed(reducer, lambda: encoder.transform(X))
    n_local = data.shape[0]
    n_total = int(reducer.reduce_scalar(n_local))
    if n_total < 2:
        raise DistributedInputError(f"need at least 2 rows to fit, got n_samples = {n_total}")
    rng = check_random_state(est.random_state)
    # As DAGMM.fit draws them (one per restart), rank 0's everywhere.
    seeds = [reducer.broadcast_int(int(rng.randint(0, 2**31 - 1))) for _ in range(est.n_restarts)]

    n_features = data.shape[1]
    architecture = _architecture(est, n_features)
    if reducer.rank == 0:
        _warn_few_rows(est, n_total, architecture[1], stacklevel=3)
    largest = int(reducer.reduce_scalar(n_local, dist.ReduceOp.MAX))
    batch_size = int(min(est.batch_size, largest))
    epochs = (
        int(est.epochs)
        if est.epochs is not None
        else auto_epochs(n_total, batch_size * reducer.world_size)
    )
    device = resolve_device(est.device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    config = _training_config(est, epochs, batch_size)
    # Same weights everywhere; dropout and shuffling draw per process.
    draws = seeds[0] + 7919 * reducer.rank
    random = fit_generator(draws)
    with seeded_device_rng(device, draws):
        net = _network(est, n_features, architecture, seeds)
        x = torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32)).to(device)
        offset, scale, input_range = _global_scaling(reducer, x, est.scaler)
        input_levels = _global_levels(reducer, encoder, X, data)
        net.input_offset.copy_(offset)
        net.input_scale.copy_(scale)
        net.to(device)
        rows = [torch.arange(n_local)] * len(seeds)
        progress = _progress_callback(est, epochs) if reducer.rank == 0 else None
        result = train_members(net, x, rows, config, None, progress, reducer, random=random)
        mixture = fitted_mixture(stream_statistics(net, x, rows, reducer=reducer), config.reg_covar)
    members = _Members.trained(
        net,
        mixture,
        result,
        architecture,
        epochs,
        batch_size,
        device,
        seeds,
        np.broadcast_to(input_range, (len(seeds), *input_range.shape)),
        [input_levels] * len(seeds),
    )
    est._record_restarts(members)
    if len(seeds) == 1 or est.restart_combine == "best":
        # Every process keeps the same network: rank 0's choice.
        est._set_fitted(encoder, members, reducer.broadcast_int(best_restart(est.restart_losses_)))
        energy = est._energy_numeric(data)
    else:
        est._set_fitted(encoder, members, None)
        energies = est._member_energies(data)
        # Each network's standardisation over the energies of every process's rows.
        offsets = reducer.reduce_array(energies.sum(axis=1)) / n_total
        squares = reducer.reduce_array(((energies - offsets[:, None]) ** 2).sum(axis=1))
        est._set_standardisation(offsets, np.sqrt(squares / n_total))
        energy = est._combined(energies)
    est.decision_scores_ = energy
    _set_global_threshold(est, reducer, energy, n_total)
    return est


def _order_collectives(reducer: ProcessGroupReducer) -> tuple[Any, Any]:
    """The count sum and key gather that :mod:`dagmm.quantile` needs across processes."""

    def gather(keys: np.ndarray) -> list[np.ndarray]:
        blobs = reducer.gather_bytes(np.ascontiguousarray(keys, dtype=np.uint64).tobytes())
        return [np.frombuffer(b, dtype=np.uint64) for b in blobs]

    return (lambda c: reducer.reduce_array(c.astype(np.int64))), gather


def _check_no_empty_column(
    reducer: ProcessGroupReducer, encoder: TabularEncoder, X: Any, missing: str
) -> None:
    """:func:`~dagmm.tabular.refuse_empty_column` for a column without a value in any
    shard, as one process refuses it (or warns, rank 0 only, under impute); a shard
    alone, which may hold a column's few values elsewhere, does not tell."""
    counts = reducer.reduce_array(_agreed(reducer, lambda: encoder.value_counts(X)))
    n_total = int(reducer.reduce_scalar(float(len(X))))
    for name, count in zip(encoder.columns, counts, strict=True):
        if count == 0 and n_total > 1 and (missing != "impute" or reducer.rank == 0):
            try:
                refuse_empty_column(name, n_total, missing, name in encoder.categories)
            except InvalidInputError as exc:  # every process has the same counts
                raise DistributedInputError(str(exc)) from None


def _global_fill_values(
    reducer: ProcessGroupReducer, encoder: TabularEncoder, X: Any
) -> dict[str, Any]:
    """``missing="impute"``'s fill values over every shard, as one process computes them
    from all the rows: each numeric column's exact median, each categorical column's
    most frequent value (the first in sort order among ties)."""
    sources = _agreed(reducer, lambda: encoder.fill_sources(X))
    fills: dict[str, Any] = {}
    for name in encoder.columns:  # the same order in every process: collectives in step
        source = sources[name]
        if name in encoder.categories:
            local = {str(k): int(v) for k, v in source.value_counts().items()}
            counts: dict[str, int] = {}
            for blob in reducer.gather_bytes(json.dumps(local).encode()):
                for value, count in json.loads(blob).items():
                    counts[value] = counts.get(value, 0) + count
            top = max(counts.values(), default=0)
            fills[name] = min((v for v, c in counts.items() if c == top), default="")
        else:
            n_total = int(reducer.reduce_scalar(float(len(source))))
            fills[name] = (
                exact_median(lambda s=source: [s], n_total, *_order_collectives(reducer))
                if n_total
                else 0.0
            )
    return fills


def _set_global_threshold(
    est: DAGMM, reducer: ProcessGroupReducer, energy: np.ndarray, n_total: int
) -> None:
    threshold = exact_quantile(
        lambda: [energy], 1.0 - float(est.contamination), n_total, *_order_collectives(reducer)
    )
    total = reducer.reduce_scalar(float(energy.sum()))
    mean = total / n_total
    var = reducer.reduce_scalar(float(((energy - mean) ** 2).sum())) / n_total
    est.threshold_ = float(threshold)
    est.contamination_ = float(est.contamination)
    est.labels_ = (energy > est.threshold_).astype(int)
    est.score_stats_ = {
        "min": reducer.reduce_scalar(float(energy.min()), dist.ReduceOp.MIN),
        "max": reducer.reduce_scalar(float(energy.max()), dist.ReduceOp.MAX),
        "mean": float(mean),
        "std": float(np.sqrt(var)),
    }


def drop_empty_unnamed_everywhere(frame: Any, group: Any = None) -> tuple[Any, list[str]]:
    """:func:`dagmm.tableio.drop_empty_unnamed` over the rows of every process.

    A nameless column (a trailing delimiter) is left out only where no process's
    shard holds a value in it, so every process keeps the same columns, and the
    same ones as a fit of the whole file in one process.

    Returns
    -------
    frame : DataFrame
        This process's shard without those columns.
    dropped : list of str
        Their names, the same on every process.
    """
    from .tableio import drop_empty_unnamed

    _, local = drop_empty_unnamed(frame)
    reducer = ProcessGroupReducer(group)
    found = [json.loads(b) for b in reducer.gather_bytes(json.dumps(local).encode())]
    dropped = [name for name in found[0] if all(name in names for names in found)]
    return frame.drop(columns=dropped), dropped


def read_shard(
    path: str | os.PathLike[str],
    rank: int,
    world_size: int,
    chunk_rows: int = 65536,
    csv_format: CsvFormat | None = None,
):
    """Rows ``rank, rank + N, rank + 2N, ...`` of a CSV or Parquet file, streamed.

    Each process keeps only its rows, so no process holds the whole file. The
    rows are indexed by their 0-based positions in the file, so that an error
    in this shard (a missing value, say) names the file's row. ``csv_format``: a
    :class:`dagmm.tableio.CsvFormat`, as :func:`dagmm.tableio.iter_table` reads it.
    """
    import pandas as pd

    from .tableio import DataFileError, iter_table, typed_once

    parts, start = [], 0
    for chunk in iter_table(path, chunk_rows=chunk_rows, infer=False, csv_format=csv_format):
        first = (rank - start) % world_size
        part = chunk.iloc[first::world_size]
        part.index = pd.RangeIndex(start + first, start + len(chunk), world_size)
        parts.append(part)
        start += len(chunk)
    if not parts or start == 0:
        raise DataFileError(f"{path}: no rows")
    if rank >= start:
        raise DataFileError(
            f"{path}: {start} row(s) for {world_size} processes leave none to process "
            f"{rank}: run at most {start} (torchrun --nproc-per-node)"
        )
    return typed_once(path, pd.concat(parts), csv_format)
