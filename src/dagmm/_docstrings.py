"""numpydoc sections that several public docstrings share, written once.

A docstring names a section by a line holding only its placeholder, ``{name}``,
indented as the section's entry should be; :func:`fill_doc` writes the section
there. ``tests/test_docstrings.py`` fails on a placeholder left unfilled.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from typing import Any, TypeVar

_F = TypeVar("_F", bound=Callable[..., Any])

#: name -> section text, entries at column 0 and descriptions indented by 4.
SECTIONS = {
    "rows": """\
X : array-like of shape (n_samples, n_features), DataFrame or sparse matrix
    Rows with the columns the model was fitted on (a DataFrame's by name,
    text columns encoded as in :meth:`fit`).""",
    "training_rows": """\
X : array-like of shape (n_samples, n_features), DataFrame or sparse matrix
    Training rows, as for :meth:`fit`.
y : None
    Ignored.""",
    "include_training_scores": """\
include_training_scores : bool, default True
    Also store the training energies ``decision_scores_`` (float64, 8 bytes a
    training row), which :meth:`~dagmm.DAGMM.threshold_at`,
    :meth:`~dagmm.DAGMM.predict_confidence` and ``predict_proba(...,
    return_confidence=True)`` need after loading.""",
    "ensemble_checkpoint": """\
checkpoint : str or path-like, optional
    Write the training checkpoints of the DAGMM ensemble (one for the whole run:
    every seed, restart and level) here (safetensors and JSON, no pickle; see
    :mod:`dagmm.checkpoint`), every ``checkpoint_every`` epochs and after the last;
    the file is replaced at each write.
checkpoint_every : int, optional
    Epochs between checkpoints (default: a hundredth of the estimator's epochs,
    at least 1; every epoch where they are chosen automatically).""",
    "file_parameters": """\
data_dir : str or PathLike, optional
    Folder holding the file; default: ``$DAGMM_DATA``, else the user cache
    (see :func:`data_dir`).
download : bool, default True
    Download the file into that folder if it is missing (see :func:`fetch_file`);
    with False a missing file raises :class:`DatasetError`.""",
    "file_errors": """\
DatasetError
    The file is missing and ``download`` is False, or it cannot be parsed.
ChecksumError
    The file in the data directory, or the one downloaded, is not the
    canonical file: its sha256 differs (a :class:`DatasetError`).
DownloadError
    Downloading the missing file failed (a :class:`DatasetError`).""",
}

_PLACEHOLDER = re.compile(r"^( *)\{(\w+)\}$", re.MULTILINE)


def fill_doc(function: _F) -> _F:
    """Write the :data:`SECTIONS` into ``function``'s docstring at their placeholders."""

    def section(match: re.Match[str]) -> str:
        indent, name = match.groups()
        return textwrap.indent(SECTIONS[name], indent) if name in SECTIONS else match[0]

    if function.__doc__:  # None under python -OO
        function.__doc__ = _PLACEHOLDER.sub(section, function.__doc__)
    return function
