"""Training checkpoints: resume an interrupted fit with the same result, no pickle.

A checkpoint is a safetensors file like a model file (see
:mod:`dagmm.persistence`): tensors for the network weights, the best weights
so far (early stopping), Adam's moment estimates and step counts, and the
random number generator states; a JSON document in the header holds the
epoch, step count, history, a fingerprint of the data and parameters, and a
sha256 of every tensor. Loading checks all of it before anything is used, and
a checkpoint whose fingerprint differs from the current fit (other data,
parameters or seed) is refused rather than silently mixed in.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from ._atomic import atomic_write_bytes
from .exceptions import CheckpointError, TrainingDivergedError
from .persistence import (
    _read_header,
    _sha256,
    check_document_sha256,
    check_replaceable_by,
    document_sha256,
    read_file,
)
from .training import LoopSnapshot

__all__ = [
    "CHECKPOINT_FORMAT",
    "check_checkpoint_path",
    "drawn_seed",
    "fingerprint",
    "load_checkpoint",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = "dagmm-checkpoint"
CHECKPOINT_VERSION = 1
_OPTIM_KEYS = ("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")
#: Estimator parameters that do not change what training computes.
_IGNORED_PARAMS = ("verbose", "checkpoint_path", "checkpoint_every", "device")


def fingerprint(
    params: dict[str, Any],
    data: np.ndarray,
    member_rows: Sequence[np.ndarray],
    validation_rows: Sequence[np.ndarray] | None,
    seeds: Sequence[int],
) -> tuple[str, dict[str, Any]]:
    """sha256 of everything a resumed run must share with the interrupted one, and the
    same part by part, for a checkpoint to keep: a resume that differs is told which
    part (a parameter by name, the data, the rows, the seeds).

    Returns
    -------
    digest : str
        sha256 hex digest of the parameters, seeds, data and rows, in that order.
    inputs : dict
        ``params`` (JSON), ``seeds``, and the sha256 of ``data`` and of ``rows``.
    """
    relevant = {k: v for k, v in sorted(params.items()) if k not in _IGNORED_PARAMS}
    params_json = json.dumps(relevant, default=str, sort_keys=True)
    seeds = [int(s) for s in seeds]
    whole, data_digest, rows_digest = hashlib.sha256(), hashlib.sha256(), hashlib.sha256()
    whole.update(params_json.encode())
    whole.update(json.dumps(seeds).encode())
    values = np.ascontiguousarray(data, dtype=np.float32).data  # its bytes, not a copy
    whole.update(values)
    data_digest.update(values)
    for rows in (*member_rows, *(validation_rows or [])):
        piece = b"|" + np.ascontiguousarray(rows, dtype=np.int64).tobytes()
        whole.update(piece)
        rows_digest.update(piece)
    inputs = {
        "params": json.loads(params_json),
        "seeds": seeds,
        "data": data_digest.hexdigest(),
        "rows": rows_digest.hexdigest(),
    }
    return whole.hexdigest(), inputs


def _differences(then: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """How the fit that wrote a checkpoint (``then``, from its file) differs from this one.

    An ensemble's ``run`` (what its caller says identifies the run, such as ``dagmm
    reproduce``'s data set, seeds and restarts) is named first, in the caller's terms;
    the seeds, data and rows that follow from it are then not named again.
    """
    found = []
    then_run, now_run = then.get("run") or {}, now.get("run") or {}
    for name in sorted(set(then_run) | set(now_run)):
        old, new = then_run.get(name), now_run.get(name)
        if old != new:
            found.append(f"{name} ({_short(old)} then, {_short(new)} now)")
    explained = bool(found)
    names = sorted(set(then["params"]) | set(now["params"]))
    for name in names:
        old, new = then["params"].get(name), now["params"].get(name)
        if old != new:
            found.append(f"{name} ({_short(old)} then, {_short(new)} now)")
    if explained:
        return found
    if then["seeds"] != now["seeds"]:
        if "run" in now:  # an ensemble: its seeds were given, not drawn
            old, new = _short(then["seeds"]), _short(now["seeds"])
            found.append(f"the models' seeds ({old} then, {new} now)")
        else:
            found.append("the seeds drawn from random_state (another random_state or n_restarts)")
    if then["data"] != now["data"]:
        found.append("the training data")
    elif then["rows"] != now["rows"]:
        found.append("the rows each network trains on (the validation split)")
    return found


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def checkpoint_bytes(
    snap: LoopSnapshot,
    fingerprint: str,
    total_epochs: int,
    inputs: dict[str, Any] | None = None,
) -> bytes:
    """Serialise a :class:`~dagmm.training.LoopSnapshot` (the file's content)."""
    tensors: dict[str, torch.Tensor] = {}

    def put(name: str, tensor: torch.Tensor) -> None:
        tensors[name] = tensor.detach().to("cpu").contiguous().clone()

    for key, value in snap.net_state.items():
        put(f"net.{key}", value)
    for key, value in (snap.best_state or {}).items():
        put(f"best.{key}", value)
    for index, state in snap.optimizer_state["state"].items():
        for key, value in state.items():
            if key not in _OPTIM_KEYS:
                raise CheckpointError(f"cannot checkpoint optimizer state {key!r}")
            put(f"optim.{int(index)}.{key}", torch.as_tensor(value))
    put("best_loss", snap.best_loss.to(torch.float64))
    put("rng.torch", snap.rng_state)
    put("rng.generator", snap.generator_state)
    if snap.cuda_rng_state is not None:
        put("rng.cuda", snap.cuda_rng_state)
    document = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "fingerprint": fingerprint,
        "epoch": int(snap.epoch),
        "total_epochs": int(total_epochs),
        "steps": int(snap.steps),
        "stale": int(snap.stale),
        "best_epoch": [int(e) for e in snap.best_epoch],
        "history": [{k: [float(x) for x in v] for k, v in h.items()} for h in snap.history],
        "tensors": {name: _sha256(t) for name, t in tensors.items()},
    }
    if inputs is not None:
        document["inputs"] = inputs
    text = json.dumps(document)  # NaN never reaches here: checked every epoch
    metadata = {
        "format": CHECKPOINT_FORMAT,
        "document": text,
        "document_sha256": document_sha256(text),
    }
    return save_safetensors(tensors, metadata=metadata)


def save_checkpoint(
    path: str | os.PathLike[str],
    snap: LoopSnapshot,
    fingerprint: str,
    total_epochs: int,
    inputs: dict[str, Any] | None = None,
) -> None:
    """Write a checkpoint atomically (the previous one stays intact until the rename)."""
    atomic_write_bytes(path, checkpoint_bytes(snap, fingerprint, total_epochs, inputs))


def _fail(source: str, what: str) -> CheckpointError:
    return CheckpointError(f"{source}: invalid checkpoint: {what}")


def _validate(doc: Any, source: str) -> None:
    def is_int(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0

    if not isinstance(doc, dict):
        raise _fail(source, "document is not a JSON object")
    expected = {
        "format",
        "format_version",
        "fingerprint",
        "epoch",
        "total_epochs",
        "steps",
        "stale",
        "best_epoch",
        "history",
        "tensors",
    }
    if set(doc) - {"inputs"} != expected:  # "inputs" since 2026-12-05
        raise _fail(source, f"keys {sorted((set(doc) - {'inputs'}) ^ expected)} missing or unknown")
    if "inputs" in doc and not _valid_inputs(doc["inputs"]):
        raise _fail(source, "inputs must hold params, seeds, data and rows")
    if doc["format_version"] != CHECKPOINT_VERSION:
        raise _fail(source, f"format_version {doc['format_version']!r} not supported")
    for key in ("epoch", "total_epochs", "steps", "stale"):
        if not is_int(doc[key]):
            raise _fail(source, f"{key} must be a non-negative integer")
    if not (isinstance(doc["fingerprint"], str) and len(doc["fingerprint"]) == 64):
        raise _fail(source, "fingerprint must be a sha256 hex string")
    if not (isinstance(doc["best_epoch"], list) and all(is_int(e) for e in doc["best_epoch"])):
        raise _fail(source, "best_epoch must be a list of integers")
    history = doc["history"]
    if not (
        isinstance(history, list)
        and len(history) == len(doc["best_epoch"])
        and all(
            isinstance(h, dict)
            and all(
                isinstance(v, list)
                and len(v) <= doc["epoch"]
                and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
                for v in h.values()
            )
            for h in history
        )
    ):
        raise _fail(source, "history must be one mapping of loss lists per member")
    tensors = doc["tensors"]
    if not (isinstance(tensors, dict) and all(isinstance(v, str) for v in tensors.values())):
        raise _fail(source, "tensors must map names to sha256 strings")


def _valid_inputs(inputs: Any) -> bool:
    drawn = inputs.get("drawn_seed", 0) if isinstance(inputs, dict) else None
    return (
        isinstance(inputs, dict)
        and set(inputs) - {"drawn_seed", "run"} == {"params", "seeds", "data", "rows"}
        and isinstance(inputs.get("run", {}), dict)
        and isinstance(drawn, int)
        and not isinstance(drawn, bool)
        and 0 <= drawn < 2**32
        and isinstance(inputs["params"], dict)
        and isinstance(inputs["seeds"], list)
        and all(isinstance(s, int) and not isinstance(s, bool) for s in inputs["seeds"])
        and isinstance(inputs["data"], str)
        and isinstance(inputs["rows"], str)
    )


def check_checkpoint_path(path: str | os.PathLike[str], resume: bool) -> None:
    """Refuse, before training, a ``checkpoint_path`` whose existing file the fit's
    checkpoints would replace for good: a non-empty file that is not a dagmm checkpoint
    (``DAGMM(checkpoint_path="train.csv")``). A checkpoint, an empty file or none at
    all is fine; with ``resume`` an existing file is read first, and
    :func:`load_checkpoint` refuses anything else in its own words (a truncated or
    damaged checkpoint, a model).

    Raises
    ------
    dagmm.InvalidInputError
        Naming the path and what it holds.
    """
    if resume and Path(path).exists():
        return
    check_replaceable_by(path, "checkpoint", "checkpoint_path")


def drawn_seed(path: str | os.PathLike[str]) -> int | None:
    """The seed a fit without ``random_state`` drew, from its checkpoint at ``path``; None
    when there is no checkpoint or it holds none (the resume then refuses or starts over,
    as it would have)."""
    if not Path(path).is_file():
        return None
    inputs = load_checkpoint(path)[1].get("inputs") or {}
    return inputs.get("drawn_seed")


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[LoopSnapshot, dict[str, Any]]:
    """Read and verify a checkpoint.

    Returns
    -------
    snapshot : LoopSnapshot
        Its optimizer state holds only ``"state"``; the caller's optimizer
        supplies the parameter groups (see :func:`restore_optimizer_state`).
    document : dict
        ``fingerprint``, ``epoch``, ``total_epochs`` and the rest of the JSON document.

    Raises
    ------
    CheckpointError
        Missing, truncated, tampered with, or not a checkpoint.
    """
    target = Path(path)
    source = str(target)
    data = read_file(target, CheckpointError, "checkpoint", "a checkpoint file")
    try:
        header = _read_header(data, source, CheckpointError)
    except CheckpointError:
        raise
    except Exception as exc:  # anything else the reader met
        raise CheckpointError(f"{source}: not a readable checkpoint ({exc})") from exc
    meta = header.get("__metadata__")
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{source}: not a dagmm training checkpoint")
    check_document_sha256(meta, CheckpointError, source, noun="checkpoint")
    try:
        document = json.loads(meta["document"])
    except (KeyError, TypeError, ValueError) as exc:
        raise _fail(source, f"document missing or not JSON ({exc})") from exc
    _validate(document, source)
    try:
        tensors = load_safetensors(data)
    except Exception as exc:  # safetensors raises its own error types
        raise CheckpointError(f"{source}: corrupted tensor data ({exc})") from exc
    if set(tensors) != set(document["tensors"]):
        raise _fail(source, "tensor list does not match the document")
    for name, tensor in tensors.items():
        if _sha256(tensor) != document["tensors"][name]:
            raise CheckpointError(f"{source}: checksum mismatch for tensor {name!r}")
    for name in ("best_loss", "rng.torch", "rng.generator"):
        if name not in tensors:
            raise _fail(source, f"tensor {name!r} missing")
    if tensors["rng.torch"].dtype != torch.uint8 or tensors["rng.generator"].dtype != torch.uint8:
        raise _fail(source, "random generator states must be uint8")

    def group(prefix: str) -> dict[str, torch.Tensor]:
        return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}

    optim: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in group("optim.").items():
        index, _, name = key.partition(".")
        if not index.isdigit() or name not in _OPTIM_KEYS:
            raise _fail(source, f"unexpected optimizer tensor {key!r}")
        optim.setdefault(int(index), {})[name] = value
    best = group("best.")
    snap = LoopSnapshot(
        epoch=document["epoch"],
        steps=document["steps"],
        stale=document["stale"],
        history=[{k: list(v) for k, v in h.items()} for h in document["history"]],
        best_loss=tensors["best_loss"],
        best_epoch=list(document["best_epoch"]),
        best_state=best or None,
        net_state=group("net."),
        optimizer_state={"state": optim},
        generator_state=tensors["rng.generator"],
        rng_state=tensors["rng.torch"],
        cuda_rng_state=tensors.get("rng.cuda"),
    )
    return snap, document


def check_against(snap: LoopSnapshot, net: torch.nn.Module, source: str) -> None:
    """Refuse a snapshot whose tensors do not fit ``net`` (names, shapes, dtypes)."""
    live = net.state_dict()
    for label, state in (("weights", snap.net_state), ("best weights", snap.best_state)):
        if state is None:
            continue
        if set(state) != set(live):
            raise _fail(source, f"{label} do not match the network being trained")
        for key, value in state.items():
            if value.shape != live[key].shape or value.dtype != live[key].dtype:
                raise _fail(source, f"{label} tensor {key!r} has the wrong shape or dtype")
    params = list(net.parameters())
    state = snap.optimizer_state["state"]
    if state and set(state) != set(range(len(params))):
        raise _fail(source, "optimizer state does not match the network")
    for index, entry in state.items():
        for name, value in entry.items():
            want = () if name == "step" else tuple(params[index].shape)
            if tuple(value.shape) != want or not value.dtype.is_floating_point:
                raise _fail(source, f"optimizer tensor {index}.{name} has the wrong shape")
    n_members = getattr(net, "n_members", 1)
    if tuple(snap.best_loss.shape) != (n_members,) or len(snap.history) != n_members:
        raise _fail(source, "member count does not match the network")


class Checkpointer:
    """The ``checkpoint`` callback of :func:`~dagmm.training.train_members` for one fit."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        every: int,
        fingerprint: str,
        total_epochs: int,
        resume: bool,
        inputs: dict[str, Any] | None = None,
        at_contamination: Callable[[Any], str] | None = None,
    ) -> None:
        self.path = Path(path)
        self.every = int(every)
        self.fingerprint = fingerprint
        self.inputs = inputs
        self.total_epochs = int(total_epochs)
        self.resume = resume
        self.last_saved: int | None = None
        # The fingerprint of this fit with another contamination: it sets the cut after
        # training, so a resume may change it. Kept in the fingerprint all the same, as
        # checkpoints of earlier releases have it there.
        self.at_contamination = at_contamination

    @classmethod
    def for_fit(
        cls,
        est: Any,
        data: np.ndarray,
        member_rows: Sequence[np.ndarray],
        validation_rows: Sequence[np.ndarray] | None,
        seeds: Sequence[int],
        total_epochs: int,
        resume: bool,
        drawn_seed: int | None = None,
        run: dict[str, Any] | None = None,
    ) -> Checkpointer:
        """Checkpointer for ``est``'s fit of ``data`` (``drawn_seed``: the seed drawn for a
        fit without ``random_state``, kept so that resuming it draws the same again;
        ``run``: an ensemble's description of its run, JSON, kept and compared on resume)."""
        params = {**est.get_params(), "epochs": int(total_epochs)}
        # The drawn seeds stand for random_state and n_restarts; how restarts are combined
        # after training does not change training, so a run may resume with another.
        for name in ("random_state", "n_restarts", "restart_combine"):
            params.pop(name, None)
        print_, inputs = fingerprint(params, data, member_rows, validation_rows, seeds)

        def at_contamination(contamination: Any) -> str:
            changed = {**params, "contamination": contamination}
            return fingerprint(changed, data, member_rows, validation_rows, seeds)[0]

        if drawn_seed is not None:
            inputs["drawn_seed"] = int(drawn_seed)
        if run is not None:
            # Through JSON now, so that it compares equal to what a checkpoint file holds.
            inputs["run"] = json.loads(json.dumps(run, sort_keys=True))
        return cls(
            est.checkpoint_path,
            est.checkpoint_every,
            print_,
            total_epochs,
            resume,
            inputs,
            at_contamination,
        )

    def __call__(self, snap: LoopSnapshot) -> None:
        if snap.epoch % self.every == 0 or snap.epoch == self.total_epochs:
            # The loss is checked per epoch, but the epoch's last step may still have
            # broken the weights: never replace a good checkpoint with such a state.
            if not all(bool(torch.isfinite(t).all()) for t in snap.net_state.values()):
                raise TrainingDivergedError(
                    f"training diverged at epoch {snap.epoch}: network weights became "
                    "non-finite; lower learning_rate or raise reg_covar",
                    epoch=snap.epoch,
                    terms=["weights"],
                )
            save_checkpoint(self.path, snap, self.fingerprint, self.total_epochs, self.inputs)
            self.last_saved = snap.epoch

    def resume_snapshot(self, net: torch.nn.Module) -> LoopSnapshot | None:
        """The verified snapshot to resume from, or None (fresh start)."""
        if not self.resume:
            return None
        if not self.path.exists():
            import warnings

            warnings.warn(
                f"no checkpoint at {self.path}; training starts from epoch 1",
                UserWarning,
                stacklevel=4,
            )
            return None
        snap, document = load_checkpoint(self.path)
        then_run = (document.get("inputs") or {}).get("run")
        now_run = (self.inputs or {}).get("run")
        if (
            document["fingerprint"] != self.fingerprint or then_run != now_run
        ) and not self._differs_only_in_contamination(document):
            found = (
                _differences(document["inputs"], self.inputs)
                if "inputs" in document and self.inputs is not None
                else []
            )
            other = "another run" if now_run is not None else "another fit"
            what = (
                f"{other}: " + "; ".join(found)
                if found
                else "a fit of other data, parameters or random_state"
            )
            raise CheckpointError(
                f"{self.path}: checkpoint was written by {what}; refusing to resume from it "
                "(delete it, or run without resume, to start over)"
            )
        check_against(snap, net, str(self.path))
        self.last_saved = snap.epoch
        return snap

    def _differs_only_in_contamination(self, document: dict[str, Any]) -> bool:
        """Whether the checkpoint's fit is this one at another ``contamination``."""
        then = (document.get("inputs") or {}).get("params") or {}
        if self.at_contamination is None or "contamination" not in then:
            return False
        if (document.get("inputs") or {}).get("run") != (self.inputs or {}).get("run"):
            return False
        return bool(self.at_contamination(then["contamination"]) == document["fingerprint"])

    def describe_last(self) -> str:
        """Where the last good checkpoint is, for error messages."""
        if self.last_saved is None:
            return f"no checkpoint was written before that (checkpoint_path={self.path})"
        return f"the last good checkpoint (epoch {self.last_saved}) is kept at {self.path}"
