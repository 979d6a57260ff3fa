"""Exceptions raised for user mistakes; anything else escaping the package is a bug."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sklearn.exceptions import NotFittedError

__all__ = [
    "CheckpointError",
    "DAGMMError",
    "DistributedInputError",
    "InvalidInputError",
    "ModelFileError",
    "NotFittedError",
    "NumericalError",
    "TrainingDivergedError",
]


class DAGMMError(Exception):
    """Base class of every error the package raises on purpose, but one:
    :class:`NotFittedError` (a model used before ``fit``) is scikit-learn's own class,
    which scikit-learn's tools and users' code already catch; catch it beside this."""


class InvalidInputError(DAGMMError, ValueError):
    """Input data has the wrong shape, type, columns or values."""


class DistributedInputError(InvalidInputError):
    """An input error that every process of a distributed fit raises alike, with one message.

    One process's bad shard fails every process (:func:`dagmm.distributed.agree`),
    and a mistake in the command line is the same on every process, so one process
    (rank 0) reporting it is enough: ``dagmm fit --distributed`` prints it there only,
    while every process ends with the error status.
    """


class ModelFileError(DAGMMError, ValueError):
    """A model file is missing, truncated, corrupted, tampered with, or of a newer format."""


class CheckpointError(ModelFileError):
    """A training checkpoint is unreadable, tampered with, or belongs to another run."""


class NumericalError(DAGMMError, FloatingPointError):
    """A computation produced NaN or infinity (scores of far out-of-range input, divergence)."""


class TrainingDivergedError(NumericalError):
    """A loss term became non-finite during training.

    Attributes
    ----------
    epoch : int
        The epoch (1-based) whose loss was non-finite.
    terms : list of str
        The loss terms that were non-finite ("reconstruction", "energy", "penalty"),
        or "gradient" where squared gradients overflowed the optimizer's moments.
    """

    def __init__(self, message: str, epoch: int = 0, terms: list[str] | None = None) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.terms: list[str] = list(terms or [])


def __getattr__(name: str) -> Any:
    # scikit-learn's own NotFittedError (so code catching it catches ours), imported on
    # first use: the command line's error handling imports this module, and importing
    # scikit-learn takes most of a second.
    if name == "NotFittedError":
        from sklearn.exceptions import NotFittedError

        globals()[name] = NotFittedError
        return NotFittedError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
