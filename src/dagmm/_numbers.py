"""Decimal text to float64 as Python's ``float`` reads it (the nearest double), on every
pandas the package supports.

pandas 2's C parser, behind ``read_csv``'s default ``float_precision`` and behind
``pd.to_numeric``, reads about one in six 17-significant-digit numbers one unit in the
last place off: a float written with ``repr`` and read back is another float, so a
kept column would not echo its input and a file's scores would differ from the same
frame's in memory. pandas 3 reads them exactly (and deprecates ``float_precision``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

#: Whether this pandas reads decimal text as the nearest double (pandas 3 and later).
PARSES_EXACTLY: bool = int(pd.__version__.split(".")[0]) >= 3

#: ``read_csv`` options that read each number as the nearest double.
READ_CSV_EXACT: dict[str, Any] = {} if PARSES_EXACTLY else {"float_precision": "round_trip"}


def to_numeric(values: Any, *, exact: bool | None = None) -> Any:
    """``pd.to_numeric(values, errors="coerce")``, each text read as ``float`` reads it.

    Parameters
    ----------
    values : pandas.Series, numpy.ndarray or list
        Numbers, text or both.
    exact : bool, optional
        Read again with ``float`` each text that pandas read as a finite float.
        Default: where this pandas does not read text exactly (:data:`PARSES_EXACTLY`).

    Returns
    -------
    pandas.Series or numpy.ndarray
        What ``pd.to_numeric`` returns for ``values``, NaN where a value is no number;
        where text was read again, float64 values in a Series (for a Series, its index
        and name kept) or else in an array of ``values``' shape.
    """
    numbers = pd.to_numeric(values, errors="coerce")
    if exact is None:
        exact = not PARSES_EXACTLY
    if not exact:
        return numbers
    parsed = np.asarray(numbers)
    if parsed.dtype != np.float64:
        return numbers  # integers (and booleans) are read exactly
    texts = np.asarray(values, dtype=object).reshape(-1)
    parsed = parsed.reshape(-1).copy()
    for i in np.flatnonzero(np.isfinite(parsed)):
        text = texts[i]
        if isinstance(text, str):
            try:
                parsed[i] = float(text)
            except ValueError:
                pass  # a form pandas reads and Python does not: pandas' reading stands
    if isinstance(numbers, pd.Series):
        return pd.Series(parsed, index=numbers.index, name=numbers.name)
    return parsed.reshape(np.shape(numbers))
