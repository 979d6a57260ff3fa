"""A small declarative JSON schema for model documents, and its validator.

Model files may come from strangers, so every key of the JSON document is
declared here with its type, range and length; unknown keys are refused, and
estimator parameters are checked before they reach ``DAGMM(**params)``.
(The schema is written as Python objects rather than a JSON Schema document
to avoid a dependency.)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SchemaError", "model_document_schema", "validate"]

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
MAX_NAME = 1024  # column names, category values, tensor names
MAX_ITEMS = 10_000_000  # list lengths (history of 2,000 epochs is far below)
MAX_SIZE = 1_000_000  # layer widths, feature counts


class SchemaError(ValueError):
    """The document does not follow the schema; the message names the JSON path."""


@dataclass(frozen=True)
class Int:
    low: int = 0
    high: int = 2**63 - 1


@dataclass(frozen=True)
class Num:
    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False


@dataclass(frozen=True)
class Str:
    max_length: int = MAX_NAME
    choices: tuple[str, ...] | None = None
    pattern: re.Pattern | None = None


@dataclass(frozen=True)
class Bool:
    pass


@dataclass(frozen=True)
class Null:
    pass


@dataclass(frozen=True)
class List:
    item: Any
    max_items: int = MAX_ITEMS
    min_items: int = 0


@dataclass(frozen=True)
class Obj:
    """A JSON object with fixed keys: ``required`` and ``optional``; others are refused."""

    required: dict[str, Any]
    optional: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Map:
    """A JSON object with arbitrary (length-limited) keys, all values of one type."""

    value: Any
    max_items: int = MAX_ITEMS


@dataclass(frozen=True)
class AnyOf:
    options: tuple[Any, ...]


def _fail(path: str, what: str) -> SchemaError:
    return SchemaError(f"{path or '(document)'}: {what}")


def validate(value: Any, spec: Any, path: str = "") -> None:
    """Raise :class:`SchemaError` naming the first place where ``value`` breaks ``spec``."""
    if isinstance(spec, AnyOf):
        errors = []
        for option in spec.options:
            try:
                validate(value, option, path)
                return
            except SchemaError as exc:
                errors.append(str(exc).split(": ", 1)[-1])
        raise _fail(path, " or ".join(errors))
    if isinstance(spec, Null):
        if value is not None:
            raise _fail(path, f"expected null, got {type(value).__name__}")
    elif isinstance(spec, Bool):
        if not isinstance(value, bool):
            raise _fail(path, f"expected true/false, got {type(value).__name__}")
    elif isinstance(spec, Int):
        if not isinstance(value, int) or isinstance(value, bool):
            raise _fail(path, f"expected an integer, got {type(value).__name__}")
        if not spec.low <= value <= spec.high:
            raise _fail(path, f"{value} outside [{spec.low}, {spec.high}]")
    elif isinstance(spec, Num):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise _fail(path, f"expected a number, got {type(value).__name__}")
        if not math.isfinite(value):
            raise _fail(path, "expected a finite number")
        too_low = value <= spec.low if spec.low_open else value < spec.low
        too_high = value >= spec.high if spec.high_open else value > spec.high
        if too_low or too_high:
            lo, hi = "(" if spec.low_open else "[", ")" if spec.high_open else "]"
            raise _fail(path, f"{value} outside {lo}{spec.low}, {spec.high}{hi}")
    elif isinstance(spec, Str):
        if not isinstance(value, str):
            raise _fail(path, f"expected a string, got {type(value).__name__}")
        if len(value) > spec.max_length:
            raise _fail(path, f"string longer than {spec.max_length} characters")
        if spec.choices is not None and value not in spec.choices:
            raise _fail(path, f"{value[:40]!r} is not one of {list(spec.choices)}")
        if spec.pattern is not None and not spec.pattern.match(value):
            raise _fail(path, f"{value[:40]!r} is not of the expected form")
    elif isinstance(spec, List):
        if not isinstance(value, list):
            raise _fail(path, f"expected a list, got {type(value).__name__}")
        if not spec.min_items <= len(value) <= spec.max_items:
            raise _fail(path, f"list of {len(value)} items, expected {spec.min_items}..")
        for i, item in enumerate(value):
            validate(item, spec.item, f"{path}[{i}]")
    elif isinstance(spec, (Obj, Map)):
        if not isinstance(value, dict):
            raise _fail(path, f"expected an object, got {type(value).__name__}")
        if isinstance(spec, Map):
            if len(value) > spec.max_items:
                raise _fail(path, f"more than {spec.max_items} entries")
            for key, item in value.items():
                if len(key) > MAX_NAME:
                    raise _fail(path, f"key longer than {MAX_NAME} characters")
                validate(item, spec.value, f"{path}.{key[:40]}")
            return
        missing = [k for k in spec.required if k not in value]
        if missing:
            raise _fail(path, f"missing key(s) {missing}")
        unknown = [k[:40] for k in value if k not in spec.required and k not in spec.optional]
        if unknown:
            raise _fail(path, f"unknown key(s) {unknown}")
        for key, item in value.items():
            validate(item, spec.required.get(key, spec.optional.get(key)), f"{path}.{key}")
    else:  # pragma: no cover - a mistake in the schema itself
        raise TypeError(f"bad schema node {spec!r}")


#: A parameter the schema does not list by name (added to DAGMM later): plain JSON scalars only.
SCALAR = AnyOf((Null(), Bool(), Int(-(2**63), 2**63 - 1), Num(), Str(4096)))


def model_document_schema(activations: tuple[str, ...], other_params: tuple[str, ...] = ()) -> Obj:
    """Schema of the JSON document in a model file's header (format versions 1 to 5).

    Version 2 adds nothing but ``fitted.n_members`` above 1 (a model that keeps
    several restarts, whose tensors have a leading member axis); version 3 adds
    nothing to the document but a tensor, ``input_range``, and version 4 two,
    ``input_levels`` and ``input_level_counts`` (int64; see
    :mod:`dagmm.persistence`); version 5 ``encoder.shifts``.

    ``other_params`` are estimator parameters not described here (newer
    additions to :class:`~dagmm.DAGMM`): accepted as optional scalars or lists of scalars.
    """
    size = Int(1, MAX_SIZE)
    sizes = List(size, max_items=64)
    name = Str(MAX_NAME)
    positive = Num(0.0, low_open=True)
    non_negative = Num(0.0)
    params = Obj(
        required={
            "n_components": Int(1, 10_000),
            "hidden_sizes": AnyOf((Null(), sizes)),
            "latent_dim": AnyOf((Null(), Int(1, MAX_SIZE))),
            "estimation_hidden_sizes": sizes,
            "activation": Str(choices=activations),
            "dropout": Num(0.0, 1.0, high_open=True),
            "lambda_energy": non_negative,
            "lambda_cov": non_negative,
            "reconstruction_loss": Str(choices=("sum", "mean")),
            "reg_covar": positive,
            "scaler": AnyOf((Null(), Str(choices=("auto", "minmax", "standard", "none")))),
            "epochs": AnyOf((Null(), Int(0, 10**9))),
            "batch_size": Int(1, 2**40),
            "learning_rate": positive,
            "weight_decay": non_negative,
            "validation_fraction": AnyOf((Null(), Num(0.0, 1.0, True, True))),
            "patience": Int(1, 10**9),
            "contamination": Num(0.0, 0.5, low_open=True),
            "missing": Str(choices=("raise", "impute")),
            "random_state": AnyOf((Null(), Int(0, 2**32))),
            "device": Str(64),
            "verbose": AnyOf((Bool(), Int(0, 100))),
        },
        # added after format version 1 was first written: absent in older files
        optional={
            "checkpoint_path": AnyOf((Null(), Str(4096))),
            "checkpoint_every": Int(1, 10**9),
            "log_inputs": Bool(),
            "max_categories": AnyOf((Null(), Int(1, 2**62))),
            "n_restarts": Int(1, 10_000),
            "restart_combine": Str(choices=("mean", "median", "best")),
            **{k: AnyOf((SCALAR, List(SCALAR, max_items=1024))) for k in other_params},
        },
    )
    encoder = Obj(
        required={
            "missing": Str(choices=("raise", "impute")),
            "input_kind": Str(choices=("array", "frame")),
            "columns": List(name, max_items=MAX_SIZE, min_items=1),
            "categories": Map(List(name, max_items=MAX_SIZE), max_items=MAX_SIZE),
            "fill_values": Map(AnyOf((Num(), name)), max_items=MAX_SIZE),
        },
        optional={"log_inputs": Bool(), "shifts": Map(Num(), max_items=MAX_SIZE)},
    )
    fitted = Obj(
        required={
            "n_features": size,
            "hidden_sizes": sizes,
            "latent_dim": size,
            "estimation_hidden_sizes": sizes,
            "n_components": Int(1, 10_000),
            "activation": Str(choices=activations),
            "dropout": Num(0.0, 1.0, high_open=True),
            "epochs": Int(0, 10**9),
            "batch_size": Int(1, 2**40),
            "n_iter": Int(0, 2**62),
            "best_epoch": Int(0, 10**9),
            "seed": Int(0, 2**63 - 1),
            "trained_on": Str(64),
            "threshold": Num(),
            "score_stats": Obj(required={k: Num() for k in ("min", "max", "mean", "std")}),
            "history": Map(List(Num(), max_items=10**9), max_items=64),
        },
        # added with restarts (n_restarts), and contamination (the share threshold
        # flags, written when set_params changed the parameter after fit): absent in
        # older files
        optional={
            "contamination": Num(0.0, 0.5, low_open=True),
            "n_members": Int(1, 10_000),
            "restarts": Obj(
                required={
                    "seeds": List(Int(0, 2**63 - 1), max_items=10_000, min_items=1),
                    "losses": List(AnyOf((Null(), Num())), max_items=10_000, min_items=1),
                },
                optional={
                    "combine": Str(choices=("mean", "median", "best")),
                    "offsets": List(Num(), max_items=10_000, min_items=1),
                    "scales": List(Num(0.0, low_open=True), max_items=10_000, min_items=1),
                },
            ),
        },
    )
    tensor = Obj(
        required={
            "dtype": Str(choices=("float32", "float64", "int64")),
            "shape": List(Int(0, 2**40), max_items=8),
            "sha256": Str(64, pattern=_HEX64),
        }
    )
    return Obj(
        required={
            "format": Str(choices=("dagmm",)),
            "format_version": Int(1, 10**6),
            "dagmm_version": Str(64),
            "params": params,
            "encoder": encoder,
            "fitted": fitted,
            "tensors": Map(tensor, max_items=1000),
        }
    )
