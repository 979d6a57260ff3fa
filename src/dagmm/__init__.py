"""dagmm: the Deep Autoencoding Gaussian Mixture Model for unsupervised anomaly detection."""

from __future__ import annotations

__version__ = "0.1.0"

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
