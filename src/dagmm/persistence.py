"""Model files: one safetensors file, no pickle, safe to load from an untrusted source.

Layout
------
A standard safetensors file. Its tensors are the network weights and scaling
buffers (``net.*``, float32), the test-time mixture (``mixture.*``, float64),
the training range of every encoded input column (``input_range``, float64,
(2, n_features): min then max; from format version 3), the distinct training
values of the columns that hold few (``input_levels``, float64, (32,
n_features), and ``input_level_counts``, int64, (n_features,); from format
version 4; see :mod:`dagmm.levels`) and optionally the training energies
(``decision_scores``). Its header
metadata holds ``format = "dagmm"``, ``format_version`` and ``document``: a
JSON document with the estimator parameters, the fitted encoder, the
resolved architecture, threshold, training history, and a sha256 of every
tensor; and ``document_sha256``, the sha256 of the document's UTF-8 text
(from 2026-12-07; a key older releases ignore, so the format version did not
change, and files without it load as before). Loading checks the header, the
document's checksum, the document, every tensor's shape and dtype against the
architecture, and every checksum before anything is used.

Format versions
---------------
A reader refuses a file with a tensor or document key it does not know, so an
addition that older releases cannot skip takes a new version, and a file is
written as the lowest version that holds it: 1, one network; 2, several restarts
kept (tensors with a leading member axis); 3, the training range
(``input_range``); 4, the levels (``input_levels``); every model fitted by a
release that writes them has both; 5, numeric columns shifted in float64 before
the cast to float32 (``encoder.shifts``, only in a model that has such a column:
:attr:`dagmm.tabular.TabularEncoder.shifts`). Older releases then say "upgrade dagmm"
instead of "file tampered with". A model loaded from an older file lacks what
its version does not hold and is written back as the version it was read.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import numbers
import os
import re
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from ._atomic import atomic_write_bytes
from ._docstrings import fill_doc
from ._schema import SchemaError, model_document_schema, validate
from .exceptions import ModelFileError
from .levels import MAX_LEVELS, Levels, pack_levels, unpack_levels
from .network import ACTIVATIONS, DAGMMNet
from .tabular import TabularEncoder
from .training import FittedMixture

if TYPE_CHECKING:  # the estimator imports this module
    from .estimator import DAGMM

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "load", "load_model", "model_bytes", "save_model"]

FORMAT_NAME = "dagmm"
#: The newest format this version reads and writes (see the module docstring for
#: which version a file is written as).
FORMAT_VERSION = 5
#: The first format version whose files hold the training range (``input_range``).
RANGE_VERSION = 3
#: The first format version whose files hold the columns' levels (``input_levels``).
LEVELS_VERSION = 4
#: The first format version whose encoder may shift columns (``encoder.shifts``).
SHIFT_VERSION = 5
_MAX_HEADER = 100 * 1024 * 1024
_MIXTURE_KEYS = ("weights", "means", "covariances", "scale_tril")


def _sha256(tensor: torch.Tensor) -> str:
    return hashlib.sha256(tensor.contiguous().cpu().numpy().tobytes()).hexdigest()


def document_sha256(document: str) -> str:
    """The checksum of a file's JSON document, as written beside it in the header."""
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


def check_document_sha256(
    meta: dict[str, Any], error: type[Exception], source: str, noun: str = "model"
) -> None:
    """Refuse a header whose document does not match its checksum.

    The tensors' checksums live in the document, so without this one a byte
    changed in the document itself (the threshold, a category, a column name)
    would load silently and score differently. Files written before the
    checksum was added (2026-12-07) have none and are read as before.
    """
    if "document_sha256" not in meta:
        return
    listed, document = meta["document_sha256"], meta.get("document")
    if not isinstance(listed, str) or not isinstance(document, str):
        raise error(f"{source}: corrupted header (document or its checksum is not a string)")
    if document_sha256(document) != listed:
        raise error(f"{source}: checksum mismatch for the {noun} document (file tampered with?)")


def _jsonable(value: Any) -> Any:
    """A parameter as the JSON the document's schema reads back.

    Every value ``DAGMM.fit`` accepts must come out here as plain JSON: a numpy
    array of sizes, a numpy bool, a ``pathlib.Path`` or a ``torch.device`` once
    trained and then failed to save, as did a ``fractions.Fraction``.
    """
    if isinstance(value, (tuple, list, np.ndarray)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, numbers.Real) and not isinstance(value, (numbers.Integral, float)):
        return float(value)  # a Fraction: fit takes any real number, as scikit-learn does
    if isinstance(value, np.random.RandomState):
        return None
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, torch.device):
        return str(value)
    return value


@fill_doc
def model_bytes(model: Any, include_training_scores: bool = True) -> bytes:
    """Serialise a fitted :class:`~dagmm.DAGMM` to bytes (the file's content).

    Parameters
    ----------
    model : fitted DAGMM
        The estimator to serialise, on any device (the tensors are copied to the CPU).
    {include_training_scores}

    Returns
    -------
    bytes
        A safetensors file with the metadata described in the module docstring;
        :func:`load_bytes` reads it back.

    Raises
    ------
    NotFittedError
        ``model`` is not fitted.
    dagmm.InvalidInputError
        A parameter is invalid (set by ``set_params`` after fit): the file would
        not load back. The message names the parameter.
    """
    from sklearn.utils.validation import check_is_fitted

    from . import __version__
    from .exceptions import InvalidInputError

    check_is_fitted(model, "net_")
    try:
        model._validate_params()
    except InvalidInputError as exc:
        raise InvalidInputError(
            f"cannot save this model: {exc} (a parameter set after fit; a file holding it "
            "would not load back)"
        ) from None
    tensors: dict[str, torch.Tensor] = {
        f"net.{k}": v.detach().to("cpu", torch.float32).contiguous()
        for k, v in model.net_.state_dict().items()
    }
    for key in _MIXTURE_KEYS:
        tensors[f"mixture.{key}"] = getattr(model.mixture_, key).detach().to("cpu").contiguous()
    if include_training_scores and getattr(model, "decision_scores_", None) is not None:
        tensors["decision_scores"] = torch.from_numpy(np.asarray(model.decision_scores_, float))
    input_range = getattr(model, "input_range_", None)
    if input_range is not None:
        tensors["input_range"] = torch.from_numpy(np.array(input_range, dtype=np.float64))
    input_levels = getattr(model, "input_levels_", None) if input_range is not None else None
    if input_levels is not None:
        values, counts = pack_levels(input_levels)
        tensors["input_levels"] = torch.from_numpy(values)
        tensors["input_level_counts"] = torch.from_numpy(counts)
    n_members = int(model.net_.n_members)
    version = (
        SHIFT_VERSION
        if model.encoder_.shifts
        else LEVELS_VERSION
        if input_levels is not None
        else RANGE_VERSION
        if input_range is not None
        else 1
        if n_members == 1
        else 2
    )
    document = {
        "format": FORMAT_NAME,
        "format_version": version,
        "dagmm_version": __version__,
        "params": {k: _jsonable(v) for k, v in model.get_params().items()},
        "encoder": model.encoder_.to_dict(),
        "fitted": {
            "n_features": int(model.net_.n_features),
            "hidden_sizes": list(model.hidden_sizes_),
            "latent_dim": int(model.latent_dim_),
            # the network's, not the parameter: set_params after fit changes only the latter
            "estimation_hidden_sizes": _estimation_hidden_sizes(model.net_),
            "n_components": int(model.net_.n_components),
            "activation": model.net_.activation,
            "dropout": float(model.net_.dropout),
            "epochs": int(model.epochs_),
            "batch_size": int(model.batch_size_),
            "n_iter": int(model.n_iter_),
            "best_epoch": int(model.best_epoch_),
            "seed": int(model.seed_),
            "trained_on": str(model.device_),
            "threshold": float(model.threshold_),
            **_contamination_document(model),
            "score_stats": dict(model.score_stats_),
            "history": {k: [float(x) for x in v] for k, v in model.history_.items()},
            **_restarts_document(model),
        },
        "tensors": {
            name: {
                "dtype": str(t.dtype).removeprefix("torch."),
                "shape": list(t.shape),
                "sha256": _sha256(t),
            }
            for name, t in tensors.items()
        },
    }
    try:  # what is written must load back: the same checks as loading
        _validate_document(document, "the model to save", version)
    except ModelFileError as exc:
        raise InvalidInputError(f"cannot save this model: {exc}") from None
    text = json.dumps(document, allow_nan=False)
    metadata = {
        "format": FORMAT_NAME,
        "format_version": str(version),
        "document": text,
        "document_sha256": document_sha256(text),
    }
    return save_safetensors(tensors, metadata=metadata)


def _estimation_hidden_sizes(net: DAGMMNet) -> list[int]:
    """The widths of the fitted network's estimation hidden layers (the last layer is
    its ``n_components`` outputs)."""
    return [int(layer.out_features) for layer in net.estimation[:-1]]


def _contamination_document(model: Any) -> dict[str, Any]:
    """The ``fitted`` entry of the share ``threshold_`` flags (``contamination_``), written
    only when it differs from the ``contamination`` parameter (``set_params`` after fit
    without fitting again): a file without it reads as fitted with its parameter, as
    every file of older releases does, and they read such files."""
    fitted = float(model.contamination_)
    return {} if fitted == float(model.contamination) else {"contamination": fitted}


def _restarts_document(model: Any) -> dict[str, Any]:
    """The ``fitted`` entries of a model trained with restarts (none without)."""
    seeds = getattr(model, "restart_seeds_", None)
    if seeds is None or len(seeds) == 1:
        return {}
    restarts: dict[str, Any] = {
        "combine": str(model.restart_combine_),
        "seeds": [int(s) for s in seeds],
        "losses": [float(x) if np.isfinite(x) else None for x in model.restart_losses_],
    }
    out: dict[str, Any] = {"restarts": restarts}
    if int(model.net_.n_members) > 1:
        out["n_members"] = int(model.net_.n_members)
        restarts["offsets"] = [float(x) for x in model.restart_offsets_]
        restarts["scales"] = [float(x) for x in model.restart_scales_]
    return out


@fill_doc
def save_model(
    model: Any, path: str | os.PathLike[str], include_training_scores: bool = True
) -> None:
    """Write ``model`` to ``path`` atomically (temporary file, fsync, rename).

    An interrupted write leaves no partial file and keeps any earlier one.

    Parameters
    ----------
    model : fitted DAGMM
        The estimator to save (see :func:`model_bytes`).
    path : str or PathLike
        The model file to write (conventionally ``*.dagmm``); its folder must exist.
    {include_training_scores}

    Raises
    ------
    NotFittedError
        ``model`` is not fitted.
    dagmm.InvalidInputError
        A parameter is invalid (set by ``set_params`` after fit), or ``path`` holds a
        file other than a dagmm model (a CSV, a checkpoint: ``model.save("scores.csv")``);
        nothing is written. A model file, or an empty one, is replaced.
    OSError
        The folder is missing or not writable, or ``path`` is a folder.
    """
    data = model_bytes(model, include_training_scores)
    check_replaceable_by(path, "model")
    atomic_write_bytes(path, data)


def check_replaceable_by(path: str | os.PathLike[str], kind: str, name: str = "") -> None:
    """Refuse to write a dagmm ``kind`` (``"model"`` or ``"checkpoint"``) over ``path``
    when it holds a non-empty file of another kind (:func:`existing_file_kind`): a
    data file, or the other kind of dagmm file. A file of that kind, or an empty one,
    may be replaced.

    ``name``: how the caller names ``path`` in the message (``checkpoint_path``).

    Raises
    ------
    dagmm.InvalidInputError
        Naming ``path`` and what it holds.
    """
    from .exceptions import InvalidInputError

    found = existing_file_kind(path)
    if found is None or found == kind:
        return
    what = f"a dagmm {found} file" if found in ("model", "checkpoint") else found
    writing = "saving the model" if kind == "model" else "writing checkpoints"
    label = f"{name} {os.fspath(path)}" if name else os.fspath(path)
    raise InvalidInputError(
        f"{label} exists and is {what}, not a dagmm {kind}: {writing} there would replace "
        "it; delete it first if it is to go, or choose another path"
    )


def _read_header(
    data: bytes, source: str, error: type[ModelFileError] = ModelFileError
) -> dict[str, Any]:
    """The safetensors header of ``data``: ``error`` (a :class:`CheckpointError` for a
    checkpoint, whose messages then name one) when there is none."""
    noun = "dagmm model file" if error is ModelFileError else "dagmm checkpoint"
    if len(data) < 8:
        raise error(f"{source}: not a {noun} (only {len(data)} bytes)")
    (length,) = struct.unpack("<Q", data[:8])
    if length > _MAX_HEADER or 8 + length > len(data):
        cut = _cut_short_format(data)
        if cut is not None:
            what = "dagmm model file" if cut == FORMAT_NAME else "dagmm checkpoint"
            raise error(
                f"{source}: truncated {what} (its header of {length} bytes is cut short in "
                f"a file of {len(data)} bytes: an interrupted copy or download?)"
            )
        kind = _data_file_kind(data)
        if kind:
            advice = (
                " (a model is what dagmm fit --out or model.save writes; the commands take "
                "MODEL before DATA)"
                if error is ModelFileError
                else ""
            )
            raise error(f"{source}: {kind}, not a {noun}{advice}")
        raise error(
            f"{source}: truncated or not a {noun} (header of {length} bytes, "
            f"file of {len(data)} bytes)"
        )
    header_noun = "model" if error is ModelFileError else "checkpoint"
    try:
        header = json.loads(data[8 : 8 + length].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise error(f"{source}: corrupted {header_noun} header ({exc})") from None
    if not isinstance(header, dict):
        raise error(f"{source}: corrupted {header_noun} header (not a JSON object)")
    return header


#: The format names of a dagmm file (a model's or a checkpoint's) near the start of its
#: safetensors header: the header's own ``"format":"..."`` entry or its document's first
#: key, whichever of the metadata comes first (safetensors orders them as it likes).
_FORMAT_NEAR_START = re.compile(
    rb'"format":"(dagmm|dagmm-checkpoint)"'
    rb'|"document":"\{\\"format\\": \\"(dagmm|dagmm-checkpoint)\\"'
)


def _cut_short_format(data: bytes) -> str | None:
    """The format name (``"dagmm"``, ``"dagmm-checkpoint"``) of a file whose safetensors
    header starts as a dagmm file's does, read from its first bytes: how a model or a
    checkpoint cut short (a copy or download interrupted) is told from another file.
    None for any other start."""
    start = data[8:4096]
    if not start.startswith(b'{"__metadata__":{'):
        return None
    found = _FORMAT_NEAR_START.search(start)
    if found is None:
        return None
    return (found.group(1) or found.group(2)).decode("ascii")


def existing_file_kind(path: str | os.PathLike[str]) -> str | None:
    """What the existing file ``path`` holds, for a command about to replace it.

    Returns
    -------
    str or None
        ``"model"`` (a dagmm model file), ``"checkpoint"`` (a dagmm checkpoint; either
        also when cut short, its header's start that of such a file), or
        how another file looks (``"a text file (CSV, JSON Lines?)"``, ``"a gzip-compressed
        file"``, ``"a file of unknown content"``); None where ``path`` is missing, empty
        or no regular file (the write itself reports a folder).
    """
    from .checkpoint import CHECKPOINT_FORMAT  # checkpoint imports this module

    target = Path(path)
    try:
        if not target.is_file() or target.stat().st_size == 0:
            return None
        with open(target, "rb") as file:
            head = file.read(4096)
            size = os.fstat(file.fileno()).st_size
            (length,) = struct.unpack("<Q", head[:8]) if len(head) >= 8 else (size,)
            if 8 + length <= size and length <= _MAX_HEADER and head[8:10] == b'{"':
                file.seek(8)
                with contextlib.suppress(ValueError, AttributeError, RecursionError):
                    meta = json.loads(file.read(length)).get("__metadata__") or {}
                    kind = {FORMAT_NAME: "model", CHECKPOINT_FORMAT: "checkpoint"}
                    if isinstance(meta, dict) and meta.get("format") in kind:
                        return kind[meta["format"]]
            cut = _cut_short_format(head) if 8 + length > size else None
            if cut is not None:  # cut short: still the kind it was
                return "model" if cut == FORMAT_NAME else "checkpoint"
    except OSError:
        return None
    return _data_file_kind(head) or "a file of unknown content"


#: The first bytes of the data files a model's path is most often mixed up with.
def _data_file_kind(data: bytes) -> str | None:
    """What a file that is no model looks like, from its first bytes (None: unknown)."""
    # only on an error's path: pandas is slow to import
    from .tableio import FILE_SIGNATURES, signature_suffix

    found = signature_suffix(data)
    if found is not None:
        return next(kind for _, suffix, kind in FILE_SIGNATURES if suffix == found)
    head = data[:4096]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:  # a multi-byte character cut at the end
        if exc.start < len(head) - 3:
            return None
        text = head[: exc.start].decode("utf-8")
    if text and all(c.isprintable() or c in "\t\r\n" for c in text.lstrip("\ufeff")):
        return "a text file (CSV, JSON Lines?)"
    return None


def _resume_advice(meta: dict[str, Any], source: str) -> str:
    """How to go on with the run a checkpoint's metadata describes: ``dagmm reproduce``
    wrote the ones whose run names a data set, ``dagmm fit`` (or ``fit(resume=True)``)
    the others."""
    try:
        document = json.loads(meta.get("document", ""))
        run = document["inputs"].get("run") or {}
        dataset = run.get("dataset") if isinstance(run, dict) else None
        held = f"it holds epoch {int(document['epoch'])} of {int(document['total_epochs'])}; "
    except (TypeError, ValueError, KeyError, AttributeError):  # an unreadable document
        dataset, held = None, ""
    if isinstance(dataset, str) and dataset.isidentifier():
        study = " --contamination-study" if run.get("study") else ""
        return (
            f"{held}resume it with dagmm reproduce {dataset}{study} --checkpoint {source} "
            "--resume (the same options as the run that wrote it)"
        )
    return (
        f"{held}resume it with dagmm fit DATA --out MODEL --checkpoint {source} --resume "
        "(the same options as the fit that wrote it)"
    )


def _parse_document(header: dict[str, Any], source: str) -> dict[str, Any]:
    meta = header.get("__metadata__")
    if isinstance(meta, dict) and meta.get("format") == "dagmm-checkpoint":
        raise ModelFileError(
            f"{source}: a training checkpoint, not a dagmm model file: "
            + _resume_advice(meta, source)
        )
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{source}: a safetensors file, but not a dagmm model")
    raw_version = meta.get("format_version", "")
    try:
        if not isinstance(raw_version, str) or len(raw_version) > 9:
            raise ValueError(raw_version)
        version = int(raw_version)
    except ValueError as exc:
        raise ModelFileError(f"{source}: invalid format_version {str(raw_version)[:40]!r}") from exc
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{source}: model format version {version} is newer than this dagmm supports "
            f"({FORMAT_VERSION}); upgrade dagmm to load it"
        )
    if version < 1:
        raise ModelFileError(f"{source}: invalid format_version {version}")
    check_document_sha256(meta, ModelFileError, source)
    try:
        document = json.loads(meta["document"])
    except (KeyError, TypeError, json.JSONDecodeError, RecursionError) as exc:
        raise ModelFileError(f"{source}: model document missing or not valid JSON ({exc})") from exc
    try:
        _validate_document(document, source, version)
    except ModelFileError as exc:
        raise ModelFileError(f"{exc}{_writer_hint(document, version)}") from None
    return document


def _writer_hint(document: Any, version: int) -> str:
    """Which dagmm wrote a model document this one refuses, and what to do.

    A key this version does not know most likely comes from a newer release that
    added it under the same format version; the message names both releases.

    Parameters
    ----------
    document : Any
        The parsed JSON document of the file.
    version : int
        The format version its header declares.

    Returns
    -------
    str
        Text to append to the error message (empty when the document names no writer,
        or this release).
    """
    from . import __version__

    written = document.get("dagmm_version") if isinstance(document, dict) else None
    if not isinstance(written, str) or written == __version__:
        return ""  # this release's own file: damaged or edited, not newer
    return (
        f" (written by dagmm {written[:40]} as format version {version}; this is dagmm "
        f"{__version__}, which reads format versions 1 to {FORMAT_VERSION}: a file written "
        "by a newer dagmm loads with that release or later)"
    )


def _params_known_to_schema() -> tuple[tuple[str, ...], tuple[str, ...]]:
    import inspect

    from .estimator import DAGMM

    names = tuple(p for p in inspect.signature(DAGMM.__init__).parameters if p != "self")
    base = model_document_schema(tuple(ACTIVATIONS)).required["params"]
    listed = set(base.required) | set(base.optional)
    return tuple(sorted(ACTIVATIONS)), tuple(n for n in names if n not in listed)


def _validate_document(doc: Any, source: str, version: int) -> None:
    """Schema check of the JSON document (see :mod:`dagmm._schema`), then cross-field checks."""
    activations, others = _params_known_to_schema()
    try:
        validate(doc, model_document_schema(activations, others))
    except SchemaError as exc:
        raise ModelFileError(f"{source}: invalid model document: {exc}") from None
    enc = doc["encoder"]
    columns = enc["columns"]
    problems = []
    if len(set(columns)) != len(columns):
        problems.append("encoder.columns has duplicates")
    if not set(enc["categories"]) <= set(columns):
        problems.append("encoder.categories names a column not in encoder.columns")
    if not set(enc["fill_values"]) <= set(columns):
        problems.append("encoder.fill_values names a column not in encoder.columns")
    if enc["missing"] == "impute" and set(enc["fill_values"]) != set(columns):
        problems.append("encoder.fill_values must cover every column when missing='impute'")
    shifts = enc.get("shifts", {})
    if not set(shifts) <= set(columns) - set(enc["categories"]):
        problems.append("encoder.shifts names a column not among the numeric columns")
    if shifts and version < SHIFT_VERSION:
        problems.append(f"encoder.shifts needs format_version {SHIFT_VERSION}")
    fitted = doc["fitted"]
    # fitted.n_components may differ from params.n_components (set_params after fit, as
    # every architecture parameter may): the network and mixture are built from
    # ``fitted``, whose tensors' shapes are checked against it, and a refit takes params.
    if doc["format_version"] != version:
        problems.append(f"format_version {doc['format_version']} differs from the header's")
    n_members = fitted.get("n_members", 1)
    restarts = fitted.get("restarts")
    if n_members > 1 and version < 2:
        problems.append("fitted.n_members above 1 needs format_version 2")
    if restarts is not None:
        seeds = restarts["seeds"]
        if len(restarts["losses"]) != len(seeds):
            problems.append("fitted.restarts.losses and seeds differ in length")
    if n_members > 1:
        if restarts is None or any(
            len(restarts.get(key, ())) != n_members for key in ("seeds", "offsets", "scales")
        ):
            problems.append(
                "fitted.n_members above 1 needs restarts.seeds, offsets and scales of that length"
            )
        combine = (restarts or {}).get("combine", doc["params"].get("restart_combine"))
        if combine not in ("mean", "median"):
            problems.append("fitted.n_members above 1 needs restarts.combine mean or median")
    if problems:
        raise ModelFileError(f"{source}: invalid model document: {'; '.join(problems)}")


def _parameter_count(fitted: dict[str, Any]) -> int:
    """Weights the described network holds, computed without allocating it."""

    def dense(widths: list[int]) -> int:
        return sum(a * b + b for a, b in itertools.pairwise(widths))

    encoder = [fitted["n_features"], *fitted["hidden_sizes"], fitted["latent_dim"]]
    estimation = [
        fitted["latent_dim"] + 2,
        *fitted["estimation_hidden_sizes"],
        fitted["n_components"],
    ]
    members = fitted.get("n_members", 1)
    return members * (2 * dense(encoder) + dense(estimation) + 2 * fitted["n_features"])


def _architecture_text(fitted: dict[str, Any]) -> str:
    """The ``fitted`` entries a file's tensor shapes follow from, for a message."""
    keys = ("n_features", "hidden_sizes", "latent_dim", "estimation_hidden_sizes")
    text = ", ".join(f"{key} {fitted[key]}" for key in (*keys, "n_components"))
    members = fitted.get("n_members", 1)
    return text if members == 1 else f"{text}, n_members {members}"


def _network(fitted: dict[str, Any]) -> DAGMMNet:
    """An untrained network of the architecture a model file records."""
    return DAGMMNet(
        fitted["n_features"],
        fitted["hidden_sizes"],
        fitted["latent_dim"],
        fitted["estimation_hidden_sizes"],
        fitted["n_components"],
        fitted["activation"],
        fitted["dropout"],
        n_members=fitted.get("n_members", 1),
    )


def _expected_shapes(fitted: dict[str, Any], version: int) -> dict[str, tuple[int, ...]]:
    """Every tensor a file of ``version`` describing ``fitted`` must hold, with its shape."""
    net = _network(fitted)
    shapes = {f"net.{k}": tuple(v.shape) for k, v in net.state_dict().items()}
    k, d = fitted["n_components"], fitted["latent_dim"] + 2
    members = fitted.get("n_members", 1)
    lead = () if members == 1 else (members,)
    shapes.update(
        {
            "mixture.weights": (*lead, k),
            "mixture.means": (*lead, k, d),
            "mixture.covariances": (*lead, k, d, d),
            "mixture.scale_tril": (*lead, k, d, d),
        }
    )
    if version >= RANGE_VERSION:
        shapes["input_range"] = (2, fitted["n_features"])
    if version >= LEVELS_VERSION:
        shapes["input_levels"] = (MAX_LEVELS, fitted["n_features"])
        shapes["input_level_counts"] = (fitted["n_features"],)
    return shapes


def _checked_levels(tensors: dict[str, torch.Tensor], source: str) -> Levels | None:
    """The levels a file holds (None before format version 4), checked as
    :func:`dagmm.levels.unpack_levels` does and against the training range."""
    if "input_levels" not in tensors:
        return None
    try:
        levels = unpack_levels(
            tensors["input_levels"].numpy(), tensors["input_level_counts"].numpy()
        )
    except ValueError as exc:
        raise ModelFileError(
            f"{source}: tensor 'input_levels': {exc} (file tampered with?)"
        ) from None
    low, high = tensors["input_range"].numpy()
    for f, column in enumerate(levels):
        if column is not None and (column[0] != low[f] or column[-1] != high[f]):
            raise ModelFileError(
                f"{source}: tensor 'input_levels': column {f}'s levels do not span its "
                "training range (file tampered with?)"
            )
    return levels


def scoring_device(trained_on: str, device: str | torch.device | None = None) -> torch.device:
    """Where a loaded model scores: ``device`` when given, else the device it was trained
    on when this machine has it (so a model scores here as it did when it was saved,
    digit for digit), else the CPU.

    A network's float32 arithmetic differs between devices in the last digits: a
    model trained on a GPU and scored on a CPU gives energies within about 1e-5
    (relative) of the GPU's.
    """
    if device is not None:
        from .estimator import resolve_device

        return resolve_device(device)
    try:
        wanted = torch.device(trained_on)
    except (RuntimeError, TypeError, ValueError):
        return torch.device("cpu")
    if (
        wanted.type == "cuda"
        and torch.cuda.is_available()
        and (wanted.index or 0) < torch.cuda.device_count()
    ):
        return wanted
    if wanted.type == "mps" and torch.backends.mps.is_available():
        return wanted
    return torch.device("cpu")


def load_bytes(
    data: bytes, source: str = "<bytes>", device: str | torch.device | None = None
) -> DAGMM:
    """Rebuild a fitted :class:`~dagmm.DAGMM` from the bytes of a model file.

    ``device``: where the model scores (see :func:`scoring_device`; default: the
    device it was trained on when this machine has it, else the CPU).
    """
    from .estimator import DAGMM, restart_loss

    header = _read_header(data, source)
    document = _parse_document(header, source)
    fitted = document["fitted"]
    # A hostile document could describe a network of billions of weights: compare
    # with what the file can hold before allocating anything.
    if 4 * _parameter_count(fitted) > len(data):
        raise ModelFileError(
            f"{source}: the document describes a network larger than the file "
            f"({_parameter_count(fitted)} weights in {len(data)} bytes)"
        )
    try:
        tensors = load_safetensors(data)
    except Exception as exc:  # safetensors raises its own error types
        raise ModelFileError(f"{source}: corrupted tensor data ({exc})") from exc
    try:
        encoder = TabularEncoder.from_dict(document["encoder"])
        expected = _expected_shapes(fitted, int(document["format_version"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{source}: invalid model document ({exc})") from exc
    if len(encoder.feature_names_out) != fitted["n_features"]:
        raise ModelFileError(
            f"{source}: encoder produces {len(encoder.feature_names_out)} features but the "
            f"network expects {fitted['n_features']}"
        )
    listed = document["tensors"]
    allowed = set(expected) | {"decision_scores"}
    if set(tensors) - allowed or set(listed) != set(tensors):
        raise ModelFileError(
            f"{source}: the file's tensors {sorted(tensors)[:10]} do not match the model "
            "document (file tampered with?)"
        )
    if "decision_scores" in tensors and (
        tensors["decision_scores"].dtype != torch.float64 or tensors["decision_scores"].dim() != 1
    ):
        raise ModelFileError(f"{source}: tensor 'decision_scores' must be 1-D float64")
    for name, tensor in tensors.items():
        spec = listed[name]
        if spec["shape"] != list(tensor.shape) or spec["dtype"] != str(tensor.dtype)[6:]:
            raise ModelFileError(
                f"{source}: tensor {name!r} is {tensor.dtype} {list(tensor.shape)} but the "
                f"document lists {spec['dtype']} {spec['shape']} (file tampered with?)"
            )
    for name, shape in expected.items():
        if name not in tensors:
            raise ModelFileError(f"{source}: tensor {name!r} missing")
        if name == "input_level_counts":
            want = torch.int64
        elif name.startswith("mixture.") or name in ("input_range", "input_levels"):
            want = torch.float64
        else:
            want = torch.float32
        if tensors[name].dtype != want or tuple(tensors[name].shape) != shape:
            raise ModelFileError(
                f"{source}: tensor {name!r} has dtype {tensors[name].dtype} shape "
                f"{tuple(tensors[name].shape)}, expected {want} {shape} (the architecture "
                f"the document describes: {_architecture_text(fitted)})"
            )
    for name, tensor in tensors.items():
        if _sha256(tensor) != listed[name]["sha256"]:
            raise ModelFileError(
                f"{source}: checksum mismatch for tensor {name!r} (file tampered with?)"
            )
        if not torch.isfinite(tensor).all():
            raise ModelFileError(f"{source}: tensor {name!r} holds non-finite values")
    if "input_range" in tensors and bool(
        (tensors["input_range"][0] > tensors["input_range"][1]).any()
    ):
        raise ModelFileError(
            f"{source}: tensor 'input_range' has a column whose minimum exceeds its maximum "
            "(file tampered with?)"
        )
    input_levels = _checked_levels(tensors, source)
    params = dict(document["params"])
    for key in ("hidden_sizes", "estimation_hidden_sizes"):
        if isinstance(params.get(key), list):
            params[key] = tuple(params[key])
    try:
        model = DAGMM(**params)
    except TypeError as exc:
        raise ModelFileError(f"{source}: unknown estimator parameters ({exc})") from exc
    net = _network(fitted)
    net.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("net.")})
    net.eval()
    net.to(scoring_device(str(fitted.get("trained_on", "cpu")), device))
    model.encoder_ = encoder
    model.n_features_in_ = len(encoder.columns)
    if encoder.input_kind == "frame":
        model.feature_names_in_ = np.asarray(encoder.columns, dtype=object)
    model.net_ = net
    model.mixture_ = FittedMixture(*(tensors[f"mixture.{k}"] for k in _MIXTURE_KEYS))
    model.hidden_sizes_ = tuple(fitted["hidden_sizes"])
    model.latent_dim_ = fitted["latent_dim"]
    model.epochs_ = fitted["epochs"]
    model.batch_size_ = fitted["batch_size"]
    model.n_iter_ = fitted["n_iter"]
    model.best_epoch_ = fitted["best_epoch"]
    model.seed_ = fitted["seed"]
    model.device_ = str(fitted.get("trained_on", "cpu"))
    model.threshold_ = float(fitted["threshold"])
    model.contamination_ = float(fitted.get("contamination", model.contamination))
    model.score_stats_ = {k: float(v) for k, v in fitted["score_stats"].items()}
    model.history_ = {k: [float(x) for x in v] for k, v in fitted["history"].items()}
    if "decision_scores" in tensors:
        model.decision_scores_ = tensors["decision_scores"].numpy()
        model.labels_ = (model.decision_scores_ > model.threshold_).astype(int)
    restarts = fitted.get("restarts")
    if restarts is None:
        model.restart_seeds_ = [int(fitted["seed"])]
        model.restart_losses_ = [restart_loss(model.history_)]
        model.restart_combine_ = None
    else:
        model.restart_combine_ = restarts.get("combine", model.restart_combine)
        model.restart_seeds_ = [int(s) for s in restarts["seeds"]]
        model.restart_losses_ = [math.nan if x is None else float(x) for x in restarts["losses"]]
        if "offsets" in restarts and net.n_members > 1:
            model.restart_offsets_ = np.asarray(restarts["offsets"], dtype=np.float64)
            model.restart_scales_ = np.asarray(restarts["scales"], dtype=np.float64)
    if "input_range" in tensors:
        model.input_range_ = tensors["input_range"].numpy()
    if input_levels is not None:
        model.input_levels_ = input_levels
    model.format_version_ = int(document["format_version"])
    return model


def load_model(path: str | os.PathLike[str], device: str | torch.device | None = None) -> DAGMM:
    """Load a model file written by :meth:`DAGMM.save`.

    The file is fully checked (header, document, tensor shapes, dtypes and
    checksums) before anything is used, so an untrusted file is safe to load.

    Parameters
    ----------
    path : str or PathLike
        The model file (safetensors, as :meth:`DAGMM.save` writes it).
    device : str or torch.device, optional
        Where the model scores ("cpu", "cuda", "auto", ...). Default: the device it
        was trained on when this machine has it (same scores as before it was
        saved), else the CPU.

    Returns
    -------
    DAGMM
        The fitted estimator, ready to score; it has ``decision_scores_`` and
        ``labels_`` only when the file holds the training energies.

    Raises
    ------
    ModelFileError
        Missing, directory, truncated, corrupted, tampered or newer-format file.
    """
    target = Path(path)
    return load_bytes(
        read_file(target, ModelFileError, "model file", "a dagmm model file"), str(target), device
    )


def read_file(path: Path, error: type[Exception], noun: str, expected: str) -> bytes:
    """The bytes of ``path``, or ``error`` naming it when it is a folder, missing or unreadable."""
    if path.is_dir():
        raise error(f"{path}: is a directory, expected {expected}")
    if not path.exists():
        raise error(f"{path}: {noun} not found")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise error(f"{path}: cannot read {noun} ({exc.strerror})") from exc


load = load_model
