"""Exceptions raised for user mistakes; anything else escaping the package is a bug."""

from __future__ import annotations

from sklearn.exceptions import NotFittedError

__all__ = ["DAGMMError", "InvalidInputError", "ModelFileError", "NotFittedError"]


class DAGMMError(Exception):
    """Base class of every error the package raises on purpose."""


class InvalidInputError(DAGMMError, ValueError):
    """Input data has the wrong shape, type, columns or values."""


class ModelFileError(DAGMMError, ValueError):
    """A model file is missing, truncated, corrupted, tampered with, or of a newer format."""
