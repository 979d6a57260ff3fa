"""Numbers to and from text: decimal text to float64 as Python's ``float`` reads it (the
nearest double), on every pandas the package supports; a value the network saw back to
the shortest text that names it (:func:`value_text`).

pandas 2's C parser, behind ``read_csv``'s default ``float_precision`` and behind
``pd.to_numeric``, reads about one in six 17-significant-digit numbers one unit in the
last place off: a float written with ``repr`` and read back is another float, so a
kept column would not echo its input and a file's scores would differ from the same
frame's in memory. pandas 3 reads them exactly (and deprecates ``float_precision``).
"""

from __future__ import annotations

import decimal
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


def value_text(value: float, shift: float | None = None, log_inputs: bool = False) -> str:
    """The shortest text that reads back as the float32 the network saw.

    Every digit of a count such as 1234567 (6 significant digits gave ``1.23457e+06``
    in ``dagmm explain`` until 2026-12-05, and 4 gave ``1.235e+06`` in the HTML report
    until 2026-12-07), and no float64 noise (``0.1``, not ``0.10000000149011612``).

    Parameters
    ----------
    value : float
        A value of a numeric column, in the column's own units.
    shift : float, optional
        The constant the encoder subtracts from the column in float64 before its
        float32 cast (``TabularEncoder.shifts``: Unix times, say). The network saw
        ``value - shift``: the text is that float32's shortest text plus the shift,
        added as decimals (``1700002883.122894``; as a float32 the value itself reads
        1700003000).
    log_inputs : bool, default False
        The encoder takes the symlog of numeric columns: with a ``shift``, the
        float64 value is written in full.

    Returns
    -------
    str
    """
    if shift is not None:
        if log_inputs:
            return repr(float(value))
        seen = np.format_float_positional(np.float32(value - shift), unique=True, trim="-")
        total = (decimal.Decimal(repr(float(shift))) + decimal.Decimal(seen)).normalize()
        return format(total, "f")
    number = np.float32(value)
    if number == 0 or 1e-4 <= abs(number) < 1e16:
        return np.format_float_positional(number, unique=True, trim="-")
    return np.format_float_scientific(number, unique=True, trim="-")
