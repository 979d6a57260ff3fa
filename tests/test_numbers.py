"""Numbers read from text are the floats the text writes, on pandas 2 as on pandas 3.

pandas 2's parser read about one in six 17-digit numbers one unit in the last place off
(seen on a GPU machine's pandas 2, 2026-12-05: `dagmm score --keep` wrote another float
than its input held); these tests fail there without :mod:`dagmm._numbers`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dagmm import _numbers
from dagmm.tableio import CsvFormat, read_table


def _values(n: int = 3000) -> np.ndarray:
    # 17 significant digits where repr needs them: the cases a parser can round wrongly
    return np.random.default_rng(0).lognormal(5.0, 1.0, n).tolist()


@pytest.mark.parametrize("decimal", [".", ","])
def test_a_csv_file_reads_back_the_floats_written_to_it(tmp_path, decimal):
    values = np.array(_values())
    path = tmp_path / "x.csv"
    text = "\n".join(["x;y", *(f"{v!r};{-v!r}" for v in values.tolist())]) + "\n"
    path.write_text(text.replace(".", decimal) if decimal == "," else text.replace(";", ","))
    csv_format = CsvFormat(decimal=",") if decimal == "," else None
    frame = read_table(path, csv_format=csv_format)
    np.testing.assert_array_equal(frame["x"].to_numpy(), values)
    np.testing.assert_array_equal(frame["y"].to_numpy(), -values)


def test_to_numeric_reads_each_text_as_float_does(monkeypatch):
    texts = pd.Series(["315.42548266820415", "1e-3", "abc", None, " 2.5 ", "inf", "7"])
    expected = [315.42548266820415, 1e-3, np.nan, np.nan, 2.5, np.inf, 7.0]
    real = pd.to_numeric

    def one_unit_off(values, errors="raise"):
        # as pandas 2's parser can be: a finite float one unit in the last place off
        numbers = real(values, errors=errors)
        off = np.where(np.isfinite(numbers), np.nextafter(numbers, np.inf), numbers)
        if isinstance(numbers, pd.Series):
            return pd.Series(off, index=numbers.index, name=numbers.name)
        return off

    monkeypatch.setattr(pd, "to_numeric", one_unit_off)
    exact = _numbers.to_numeric(texts, exact=True)
    assert isinstance(exact, pd.Series) and list(exact.index) == list(texts.index)
    np.testing.assert_array_equal(exact.to_numpy(), expected)
    # exact=False: pandas' reading stands
    np.testing.assert_array_equal(
        _numbers.to_numeric(texts, exact=False), one_unit_off(texts, "coerce")
    )
    array = _numbers.to_numeric(np.array(["0.1", "x"], dtype=object), exact=True)
    assert isinstance(array, np.ndarray)
    np.testing.assert_array_equal(array, [0.1, np.nan])
    # numbers that are no text are left as pandas gives them
    numbers = pd.Series([0.5, 2.0])
    kept = _numbers.to_numeric(numbers, exact=True)
    np.testing.assert_array_equal(kept, np.nextafter(numbers, np.inf))


def test_read_csv_is_told_to_read_exactly_where_pandas_does_not():
    if _numbers.PARSES_EXACTLY:
        assert _numbers.READ_CSV_EXACT == {}  # pandas 3 deprecates the option
    else:
        assert _numbers.READ_CSV_EXACT == {"float_precision": "round_trip"}
    assert _numbers.PARSES_EXACTLY == (int(pd.__version__.split(".")[0]) >= 3)
