"""dagmm: the Deep Autoencoding Gaussian Mixture Model for unsupervised anomaly detection."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .estimator import DAGMM, fit_ensemble
    from .exceptions import DAGMMError, InvalidInputError, ModelFileError, NotFittedError
    from .persistence import load

__all__ = [
    "DAGMM",
    "DAGMMError",
    "InvalidInputError",
    "ModelFileError",
    "NotFittedError",
    "__version__",
    "fit_ensemble",
    "load",
]

# Where each public name lives. They are imported on first use, not with the package:
# the estimator pulls in torch and scikit-learn (about 2 s and 300 MB), which
# `dagmm --help`, `--version` and a mistyped command line do not need.
_HOMES = {
    "DAGMM": "estimator",
    "fit_ensemble": "estimator",
    "DAGMMError": "exceptions",
    "InvalidInputError": "exceptions",
    "ModelFileError": "exceptions",
    "NotFittedError": "exceptions",
    "load": "persistence",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
