"""Never wrong quietly: bad input (API and CLI), model files from strangers, properties.

Every case here is listed in docs/reliability.md; ``test_reliability_page_matches_tests``
keeps the page and the tests in step.
"""

from __future__ import annotations

import ast
import bz2
import datetime as dt
import functools
import gzip
import io
import lzma
import re
import struct
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from _cli import invoke
from _modelfile import forge_tensors, rewrite_document
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import dagmm
from dagmm import DAGMM, InvalidInputError, ModelFileError, fit_ensemble
from dagmm.estimator import FewRowsWarning
from dagmm.exceptions import NumericalError
from dagmm.persistence import load_bytes, model_bytes
from dagmm.tableio import CsvFormat, DataFileError, read_table
from dagmm.tabular import (
    CLOSE_NAMES_LOOKED_UP,
    IDENTIFIER_MIN_ROWS,
    EmptyColumnWarning,
    IdentifierColumnWarning,
    LabelColumnWarning,
    UnseenCategoryWarning,
    close_names,
)

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(dagmm.__file__).parent
TINY = {"epochs": 3, "n_components": 2, "hidden_sizes": (6, 3), "batch_size": 64}


def _frame(n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "bytes": rng.gamma(2.0, 100.0, n),
            "duration": rng.exponential(1.0, n),
            "proto": rng.choice(["tcp", "udp"], n),
        }
    )


@pytest.fixture(scope="module")
def frame_model():
    frame = _frame()
    return DAGMM(**TINY, random_state=0).fit(frame), frame


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dagmm.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def _one_error_line(code: int, output: str) -> str:
    """The error line of a command run by :func:`_cli.invoke`, which must have failed as
    bad input does (exit code 2) with one ``dagmm: error:`` line."""
    assert code == 2, (code, output)
    (line,) = [line for line in output.splitlines() if line.startswith("dagmm: error:")]
    return line


# ----------------------------------------------------------------- bad input: API
def test_non_finite_values_name_columns_and_row_counts():
    frame = _frame()
    frame.loc[[3, 7, 9], "bytes"] = [np.nan, np.inf, -np.inf]
    with pytest.raises(InvalidInputError, match=r"'bytes' has 3 non-finite value\(s\) \(NaN/inf"):
        DAGMM(**TINY).fit(frame)
    frame = _frame()
    frame.loc[[4], "proto"] = None
    with pytest.raises(InvalidInputError, match=r"'proto' has 1 missing value\(s\) \(row\(s\) 4\)"):
        DAGMM(**TINY).fit(frame)


def test_missing_markers_in_a_numeric_column_are_named_as_what_they_are(frame_model):
    """Until 2026-12-07 ``pd.NA``, None and a nullable column's missing entries were all
    named "NaN" ("column 'bytes' has 1 non-finite value(s) (NaN; row(s) 4)"): the message
    read the values after their conversion to floats, where each is NaN. They are named
    as the input held them, as pandas writes them; float NaN and inf as before."""
    model, frame = frame_model

    def column(values: list, dtype: str, rows: list[int]) -> pd.DataFrame:
        changed = frame.copy()
        held = changed["bytes"].astype(dtype)
        for row, value in zip(rows, values, strict=True):
            held.iloc[row] = value
        changed["bytes"] = held
        return changed

    cases = [
        (column([pd.NA, np.nan], "object", [3, 7]), "2 non-finite value(s) (NA/NaN; row(s) 3, 7)"),
        (column([None], "object", [4]), "1 non-finite value(s) (None; row(s) 4)"),
        (column([None, np.inf], "object", [2, 5]), "2 non-finite value(s) (None/inf; row(s) 2, 5)"),
        (column([pd.NA], "Float64", [6]), "1 non-finite value(s) (NA; row(s) 6)"),
        (
            column([np.nan, -np.inf], "float64", [1, 8]),  # -inf read "inf" until 2026-12-07
            "2 non-finite value(s) (NaN/-inf; row(s) 1, 8)",
        ),
        (
            column([np.inf, -np.inf], "float64", [1, 8]),
            "2 non-finite value(s) (inf/-inf; row(s) 1, 8)",
        ),
    ]
    for changed, said in cases:
        with pytest.raises(InvalidInputError, match=re.escape(f"column 'bytes' has {said}")):
            model.decision_function(changed)
    frame = _frame()
    frame["bytes"] = frame["bytes"].round().astype("Int64")
    frame.loc[5, "bytes"] = pd.NA
    with pytest.raises(
        InvalidInputError, match=r"'bytes' has 1 non-finite value\(s\) \(NA; row\(s\) 5\)"
    ):
        DAGMM(**TINY).fit(frame)


def test_impute_is_explicit_and_applies_at_scoring():
    frame = _frame()
    frame.loc[[3, 7], "bytes"] = np.nan
    frame.loc[[5], "proto"] = None
    model = DAGMM(**TINY, missing="impute", random_state=0).fit(frame)
    filled = frame.fillna({"bytes": frame["bytes"].median(), "proto": frame["proto"].mode()[0]})
    np.testing.assert_allclose(model.decision_function(frame), model.decision_function(filled))
    strict = DAGMM(**TINY, random_state=0).fit(filled)
    with pytest.raises(InvalidInputError, match="non-finite"):
        strict.decision_function(frame)  # a model fitted with missing="raise" keeps raising


def test_columns_are_matched_by_name(frame_model):
    model, frame = frame_model
    scores = model.decision_function(frame)
    np.testing.assert_array_equal(model.decision_function(frame[frame.columns[::-1]]), scores)
    with pytest.raises(InvalidInputError, match=r"missing column\(s\) \['duration'\]"):
        model.decision_function(frame.drop(columns=["duration"]))
    with pytest.warns(UserWarning, match=r"ignoring column\(s\) \['extra'\]"):
        np.testing.assert_array_equal(model.decision_function(frame.assign(extra=1)), scores)
    encoded = frame.to_numpy()
    with pytest.warns(UserWarning, match="matching them by position"):
        np.testing.assert_array_equal(model.decision_function(encoded), scores)


def test_an_all_numeric_frame_model_warns_when_scoring_an_array_too():
    # All-numeric input takes a fast path; it must not skip the positional warning.
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"bytes": rng.normal(size=60), "duration": rng.normal(size=60)})
    model = DAGMM(**TINY, random_state=0).fit(frame)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scores = model.decision_function(frame.to_numpy())
    positional = [w for w in caught if "matching them by position" in str(w.message)]
    assert len(positional) == 1 and positional[0].filename == __file__  # the caller's line
    np.testing.assert_array_equal(scores, model.decision_function(frame))
    with warnings.catch_warnings(record=True) as caught:  # the general path: NaN imputed
        warnings.simplefilter("always")
        imputing = DAGMM(**TINY, random_state=0, missing="impute").fit(frame)
        holes = frame.to_numpy().copy()
        holes[0, 0] = np.nan
        imputing.decision_function(holes)
    positional = [w for w in caught if "matching them by position" in str(w.message)]
    assert len(positional) == 1 and positional[0].filename == __file__


def test_a_frame_of_an_array_s_positions_scores_the_array_without_a_warning():
    """Until 2026-12-07 a model fitted on pd.DataFrame(X), whose names are 0, 1, 2, warned
    "X has no column names ... matching them by position" when X itself was scored;
    scikit-learn gives such a frame no feature names. Its names are the positions."""
    X = np.random.default_rng(0).normal(size=(80, 3))
    model = DAGMM(**TINY, random_state=0).fit(pd.DataFrame(X))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(
            model.decision_function(X), model.decision_function(pd.DataFrame(X))
        )
    named = DAGMM(**TINY, random_state=0).fit(pd.DataFrame(X, columns=["b", "a", "c"]))
    with pytest.warns(UserWarning, match="matching them by position"):
        named.decision_function(X)


def test_an_array_holding_text_or_one_arrow_column_is_refused_with_the_way_out():
    """Until 2026-12-07 an object array of numbers and words (a ColumnTransformer's
    passthrough output) was refused without a word of why (an array is read as numbers),
    and a pyarrow ChunkedArray (or a polars Series) got Arrow's "Cannot import schema:
    ArrowSchema describes non-struct type double"."""
    import pyarrow as pa

    frame = pd.DataFrame({"a": np.arange(60.0), "kind": ["p", "q", "r"] * 20})
    with pytest.raises(InvalidInputError, match=r"holds text such as 'p'.*give a DataFrame"):
        DAGMM(**TINY).fit(frame.to_numpy())
    assert "kind" in DAGMM(**TINY, random_state=0).fit(frame).encoder_.categories
    model = DAGMM(**TINY, random_state=0).fit(frame[["a"]])
    with pytest.raises(
        InvalidInputError, match=r"got a pyarrow ChunkedArray \(one column of values\)"
    ):
        model.decision_function(pa.chunked_array([[1.0, 2.0]]))
    scores = model.decision_function(pa.table({"a": [1.0, 2.0]}))
    np.testing.assert_array_equal(scores, model.decision_function(pd.DataFrame({"a": [1.0, 2.0]})))


def test_true_and_false_beside_numbers_score_as_1_and_0_however_chunks_fall(tmp_path):
    """Until 2026-12-07 a CSV file's numeric column holding "true"/"false" beside numbers
    scored or failed by --chunk-rows: a chunk of the words alone pandas reads as booleans
    (1/0), a chunk mixing them with numbers held text ("should be numeric but holds text
    such as 'true'"); JSON Lines' booleans were always 1/0. Now every way reads 1/0."""
    frame = _frame(60)
    frame["flag"] = np.arange(60) % 2
    model = DAGMM(**TINY, random_state=0).fit(frame)
    rows = frame.head(6).copy()
    words = rows.assign(flag=["1", "true", "0", "false", "True", "FALSE"])
    expected = model.decision_function(rows.assign(flag=[1, 1, 0, 0, 1, 0]))
    np.testing.assert_array_equal(model.decision_function(words), expected)
    words.to_csv(tmp_path / "words.csv", index=False)
    model.save(tmp_path / "m.dagmm")
    for chunk in ("1", "2", "65536"):
        out = tmp_path / f"s{chunk}.csv"
        code, output = invoke(
            "score", str(tmp_path / "m.dagmm"), str(tmp_path / "words.csv"), "--out", str(out),
            "--chunk-rows", chunk,
        )  # fmt: skip
        assert code == 0, (chunk, output)
        np.testing.assert_array_equal(pd.read_csv(out)["energy"].to_numpy(), expected)
    with pytest.raises(InvalidInputError, match="holds text such as 'yes'"):
        model.decision_function(rows.assign(flag=["1", "yes", "0", "0", "1", "0"]))


def test_array_feature_count_mismatch():
    X = np.random.default_rng(0).normal(size=(50, 4))
    model = DAGMM(**TINY, random_state=0).fit(X)
    for width in (3, 5):
        with pytest.raises(InvalidInputError, match=f"X has {width} features.*expecting 4"):
            model.decision_function(np.zeros((2, width)))
    with pytest.raises(InvalidInputError, match="2-D"):
        model.decision_function(np.zeros(4))


def test_unseen_category_is_counted_and_documented(frame_model):
    model, frame = frame_model
    new = frame.head(6).copy()
    new.loc[new.index[:4], "proto"] = ["sctp", "sctp", "icmp", "tcp"]
    with pytest.warns(UnseenCategoryWarning, match=r"'proto': 3 value"):
        scores = model.decision_function(new)
    assert np.isfinite(scores).all()
    with pytest.warns(UnseenCategoryWarning):
        all_zero = model.encoder_.transform(new)[:3, -2:]
    assert (all_zero == 0).all()  # documented: unseen -> all-zero one-hot group


def test_numbers_held_as_objects_train_as_numbers():
    # A database driver's NUMERIC column arrives as decimal.Decimal objects; astype(object)
    # or records with None leave floats as objects. Each number was a one-hot column.
    from decimal import Decimal

    frame = _frame()
    as_objects = frame.assign(
        bytes=[Decimal(str(round(v, 3))) for v in frame["bytes"]],
        duration=frame["duration"].astype(object),
    )
    as_floats = as_objects.assign(bytes=as_objects["bytes"].astype(float)).astype(
        {"duration": float}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", IdentifierColumnWarning)
        model = DAGMM(**TINY, random_state=0).fit(as_objects)
    assert set(model.encoder_.categories) == {"proto"}
    reference = DAGMM(**TINY, random_state=0).fit(as_floats)
    np.testing.assert_array_equal(
        model.decision_function(as_objects), reference.decision_function(as_floats)
    )
    # Text among them in many rows is still a category (and mixed text and numbers too);
    # in one row of 120 it is a slip, named (until 2026-12-07 a category too)
    text = np.where(np.arange(len(frame)) % 10 == 0, "x", as_objects["duration"])
    mixed = as_objects.assign(duration=text)
    assert "duration" in DAGMM(**TINY, random_state=0).fit(mixed).encoder_.categories
    slip = as_objects.assign(duration=["x", *as_objects["duration"][1:]])
    with pytest.raises(
        InvalidInputError, match=r"but for 'x' in 1 of 120 rows, the first in row 0"
    ):
        DAGMM(**TINY, random_state=0).fit(slip)


def test_identifier_and_free_text_columns_are_refused_with_the_way_out():
    frame = _frame(1500)
    frame["flow_id"] = [f"f{i:05d}" for i in range(len(frame))]
    with pytest.raises(
        InvalidInputError,
        match=r"column 'flow_id' has 1500 distinct values \(such as 'f00000'.*"
        r"max_categories=1000.*--exclude flow_id",
    ):
        DAGMM(**TINY, random_state=0).fit(frame)
    european = frame.assign(flow_id=frame["bytes"].map(lambda v: f"{v:.3f}".replace(".", ",")))
    with pytest.raises(InvalidInputError, match=r"look like numbers written with decimal commas"):
        DAGMM(**TINY, random_state=0).fit(european)
    # the limit counts distinct values, and None lifts it
    with pytest.raises(InvalidInputError, match="'proto' has 2 distinct values"):
        DAGMM(**TINY, max_categories=1, random_state=0).fit(_frame())
    model = DAGMM(**TINY, max_categories=None, random_state=0)
    with pytest.warns(IdentifierColumnWarning, match=r"'flow_id' holds a different value"):
        model.fit(frame.head(200))
    assert len(model.encoder_.categories["flow_id"]) == 200
    same = load_bytes(model_bytes(model))
    assert same.max_categories is None
    with pytest.raises(InvalidInputError, match="max_categories must be an integer >= 1"):
        DAGMM(max_categories=0).fit(_frame())


def _with_text(values: list[str], n: int = 120) -> pd.DataFrame:
    """_frame(n) with a column "load" of ``values`` repeated to n rows, as text."""
    return _frame(n).assign(load=[values[i % len(values)] for i in range(n)])


def _with_markers(markers: list[str], n: int = 120) -> pd.DataFrame:
    """_frame(n) with a column "load" of numbers as text, its 3 ``markers`` in rows 7, 40 and 90"""
    load = [f"{v:.2f}" for v in _frame(n)["duration"]]
    for row, marker in zip((7, 40, 90), markers, strict=True):
        load[row] = marker
    return _frame(n).assign(load=load)


@pytest.mark.parametrize(
    ("frame", "found", "way_out"),
    [
        (
            _with_text(["2,5", "-0,75", "1.234,5", "3"]),
            r"numbers written with decimal commas \(such as '-0,75', '1.234,5', '2,5'\)",
            r"pandas.read_csv\(\.\.\., decimal=',', thousands='\.'\), or for a table already "
            r"read, pd.to_numeric\(X\['load'\]\.str\.replace\('\.', ''\)\.str\.replace\(',', "
            r"'\.'\)\)\)",
        ),
        (
            _with_text(["1,234,567", "12,345", "7", "8,000.5"]),
            r"numbers written with thousands separators \(such as '1,234,567', '8,000.5'",
            r"pandas.read_csv\(\.\.\., thousands=','\)",
        ),
        (
            _with_text(["12 345", "1 000", "7"]),
            r"thousands separators \(such as '1 000', '12 345'\)",
            r"pandas.read_csv\(\.\.\., thousands=' '\)",
        ),
        (
            _with_markers(["-", "?", "-"]),
            r"numbers \(such as .*\), with '-', '\?' in place of missing numbers "
            r"\(3 of 120 rows, the first in row 7\)",
            r"pandas.read_csv\(\.\.\., na_values=\['-', '\?'\]\), or for a table already read, "
            r"pd.to_numeric\(X\['load'\].mask\(X\['load'\].isin\(\['-', '\?'\]\)\)\)\), then "
            r"train with missing='impute' \(dagmm fit --missing impute\) or fix those rows",
        ),
        (
            _with_markers(["#DIV/0!", "#VALUE!", "--"]),
            r"with '#DIV/0!', '#VALUE!', '--' in place of missing numbers \(3 of 120 rows, "
            r"the first in row 7\)",
            r"na_values=\['#DIV/0!', '#VALUE!', '--'\]",
        ),
        (  # the words a CSV file's numeric column reads as missing, given as text
            _with_markers([".", "NA", "null"]),
            r"with '\.', 'NA', 'null' in place of missing numbers",
            r"na_values=\['\.', 'NA', 'null'\]",
        ),
        (  # a French export: no-break spaces between thousands
            _with_text(["1\u00a0234,56", "12\u00a0345,5", "7,25"]),
            r"decimal commas \(such as '12\\xa0345,5', '1\\xa0234,56', '7,25'\)",
            r"pandas.read_csv\(\.\.\., decimal=',', thousands='\\xa0'\), or for a table "
            r"already read, pd.to_numeric\(X\['load'\]\.str\.replace\('\\xa0', ''\)",
        ),
        (  # narrow no-break spaces, thousands only
            _with_text(["1\u202f234", "5\u202f678", "7"]),
            r"thousands separators \(such as '1\\u202f234', '5\\u202f678'\)",
            r"pandas.read_csv\(\.\.\., thousands='\\u202f'\)",
        ),
        (  # a Swiss export
            _with_text(["1'234.5", "2'000", "7.5"]),
            r"thousands separators \(such as \"1'234.5\", \"2'000\"\)",
            r"pandas.read_csv\(\.\.\., thousands=\"'\"\)",
        ),
    ],
    ids=[
        "decimal_comma",
        "thousands_comma",
        "thousands_space",
        "markers",
        "errors",
        "words",
        "nbsp",
        "nnbsp",
        "apostrophe",
    ],
)
def test_numbers_written_as_text_are_refused_with_the_way_out(frame, found, way_out):
    with pytest.raises(InvalidInputError) as caught:
        DAGMM(**TINY, random_state=0).fit(frame)
    message = str(caught.value)
    assert message.startswith("column 'load' would be a category, though its values look like")
    assert re.search(found, message), message
    assert re.search(way_out, message), message
    assert message.endswith("if it truly is a category, exclude it (dagmm fit --exclude load)")


def test_decimal_signalling_nan_is_missing_like_nan():
    # A database's NUMERIC column as decimal.Decimal objects, one of them Decimal("sNaN"):
    # until 2026-12-05 fit raised a bare decimal.InvalidOperation and scoring a TypeError
    # ("Cannot hash a signaling NaN value"). It is missing, as Decimal("NaN") is.
    from decimal import Decimal

    frame = _frame().assign(price=[Decimal(f"{v:.3f}") for v in _frame()["duration"]])
    model = DAGMM(**TINY, random_state=0).fit(frame)
    assert "price" not in model.encoder_.categories
    for bad in (Decimal("sNaN"), Decimal("NaN"), Decimal("-sNaN12")):
        broken = frame.copy()
        broken.loc[9, "price"] = bad
        expected = r"column 'price' has 1 non-finite value\(s\) \(NaN; row\(s\) 9\)"
        with pytest.raises(InvalidInputError, match=expected):
            DAGMM(**TINY, random_state=0).fit(broken)
        with pytest.raises(InvalidInputError, match=expected):
            model.decision_function(broken)
        with pytest.raises(InvalidInputError, match=r"column '2' has 1 non-finite"):
            DAGMM(**TINY, random_state=0).fit(broken.drop(columns="proto").to_numpy())
        imputed = DAGMM(**TINY, random_state=0, missing="impute").fit(broken)
        assert np.isfinite(imputed.decision_function(broken)).all()
        assert broken.loc[9, "price"] is bad  # the caller's frame is left as it was


def test_cli_refuses_numbers_written_as_text_in_one_line(tmp_path):
    data, out = tmp_path / "flows.csv", tmp_path / "model.dagmm"
    _with_markers(["-", "-", "?"]).to_csv(data, index=False)
    line = _one_error_line(*invoke("fit", data, "--out", out, "--epochs", 1))
    assert line.startswith("dagmm: error: column 'load' would be a category, though its values ")
    assert "with '-', '?' in place of missing numbers (3 of 120 rows, the first in row 7)" in line
    assert "dagmm fit --na-values - --na-values '?'" in line
    assert "--exclude load" in line
    assert not out.exists()


@pytest.mark.parametrize(
    "values",
    [
        ["tcp", "udp", "icmp"],
        ["A7", "B12", "C3"],  # codes
        ["01", "02", "17"],  # leading zeros: codes
        ["02139", "10001", "94103", "-"],  # zip codes, one unknown
        ["10001", "60601", "94103"],  # plain numbers alone may be codes
        ["3-4", "5-6", "1-2"],  # ranges
        ["1.2.3", "1.10.0", "2.0.1"],  # versions
        ["1", "2", "three", "four", "five", "six"],  # a few numbers among words
        ["yes", "no"],
        ["True", "False"],
        ["1", "2", "3", "X"],  # a letter may be a category of its own
        ["1", "2", "-", "-", "-"],  # a marker this common is likelier a category
        ["1,2", "3,4,5", "6,7"],  # lists
        ["2,5", "1,234,567"],  # commas both ways: not one number format
        ["2,5"],  # one number is no evidence
    ],
)
def test_text_that_only_looks_numeric_still_trains_as_categories(values):
    model = DAGMM(**TINY, random_state=0).fit(_with_text(values))
    assert sorted(model.encoder_.categories["load"]) == sorted(set(values))


def test_a_slip_of_text_among_numbers_is_named_not_trained_as_a_category(tmp_path):
    """Until 2026-12-07 one "oops" in a column of measurements made it text, and it
    trained silently as a category of every distinct number (67 one-hot inputs for
    2,000 rows rounded to one decimal; past 1,000 distinct numbers the error blamed
    max_categories, never the word)."""
    rng = np.random.default_rng(0)
    frame = _frame(2000)
    load = rng.normal(size=2000).round(1).astype(str).astype(object)
    load[9] = "oops"
    with pytest.raises(InvalidInputError) as caught:
        DAGMM(**TINY, random_state=0).fit(frame.assign(load=load))
    message = str(caught.value)
    assert "column 'load' holds numbers (such as " in message
    assert "but for 'oops' in 1 of 2000 rows, the first in row 9" in message
    assert "na_values=['oops']" in message and "--exclude load" in message
    # whole numbers need more distinct ones to be a measure rather than codes
    counts = rng.integers(0, 500, 2000).astype(str).astype(object)
    counts[3] = "n.a"
    with pytest.raises(InvalidInputError, match=r"'n\.a' in 1 of 2000 rows, the first in row 3"):
        DAGMM(**TINY, random_state=0).fit(frame.assign(load=counts))
    # the command line names its option; the reader's file row is the frame's index
    path = tmp_path / "load.csv"
    frame.assign(load=load).to_csv(path, index=False)
    said = _one_error_line(*invoke("fit", str(path), "--out", str(tmp_path / "m.dagmm")))
    assert "mark the text missing (dagmm fit --na-values oops)" in said, said
    assert not (tmp_path / "m.dagmm").exists()
    # what stays a category: codes, text in more than 1 % of the rows, many words
    for values in (
        np.where(np.arange(2000) == 5, "X", rng.integers(1, 4, 2000).astype(str)),  # 3 codes
        np.where(np.arange(2000) % 50 == 0, "high", load),  # 40 rows of text: 2 %
        np.where(np.arange(2000) < 4, ["a", "b", "c", "d"] * 500, load),  # 4 different texts
        np.where(np.arange(2000) == 5, "X", rng.integers(0, 50, 2000).astype(str)),  # 50 ints
    ):
        model = DAGMM(**TINY, random_state=0, max_categories=None).fit(frame.assign(load=values))
        assert "load" in model.encoder_.categories
    zips = np.char.zfill(rng.integers(0, 99999, 2000).astype(str), 5).astype(object)
    zips[7] = "K1A 0B1"  # leading zeros: codes
    model = DAGMM(**TINY, random_state=0, max_categories=None).fit(frame.assign(load=zips))
    assert "load" in model.encoder_.categories


def test_a_decimal_point_among_decimal_commas_is_the_value_named(tmp_path):
    """Until 2026-12-07 one "0.5" in a column of "0,125"-style numbers was blamed on the
    others: "holds text such as '0,125' (19 value(s), row(s) 0, 1, ...); read them as
    numbers (dagmm score --decimal ,)", the option the command already had."""
    frame = _frame(40)
    model = DAGMM(**TINY, random_state=0).fit(frame)
    lines = frame.to_csv(index=False, sep=";", decimal=",").splitlines()
    fields = lines[16].split(";")
    fields[1] = "0.5"  # row 15's duration
    lines[16] = ";".join(fields)
    path, model_path = tmp_path / "semi.csv", tmp_path / "m.dagmm"
    path.write_text("\n".join(lines) + "\n")
    model.save(model_path)
    said = "column 'duration' mixes numbers written with a decimal comma (such as "
    for options in (["--decimal", ","], ["--decimal", ",", "--chunk-rows", "7"]):
        out = tmp_path / "o.csv"
        line = _one_error_line(
            *invoke("score", str(model_path), str(path), "--out", str(out), *options)
        )
        assert said in line and "decimal point (such as '0.5'; 1 value(s), row(s) 15)" in line
        assert "write every number of the column one way" in line and not out.exists()
    fit = ["fit", str(path), "--out", str(tmp_path / "f.dagmm"), "--decimal", ","]
    line = _one_error_line(*invoke(*fit))
    assert said in line and "decimal point (such as '0.5')" in line, line
    # not told which, the reader takes the point for the file's decimal mark (it is in
    # the first lines), and the columns of commas only are what it names
    line = _one_error_line(*invoke("score", str(model_path), str(path), "--out", str(out)))
    assert "'bytes' should be numeric" in line and "(dagmm score --decimal ,)" in line, line


@pytest.mark.parametrize(
    ("values", "said"),
    [
        (["5,125", "1,000"], "decimal commas or thousands separators: if the commas are "
         "decimal marks, read them with a decimal comma"),
        (["5,125", "1,234,567"], "thousands separators: read them as numbers"),
        (["5,125", "12,5"], "a decimal comma: read them as numbers"),
    ],
    ids=["either_way", "thousands", "decimal"],
)  # fmt: skip
def test_numbers_with_a_comma_that_read_either_way_are_named_so_at_scoring(values, said):
    """Until 2026-12-07 scoring read "5,125" as a decimal comma only ("they look like
    numbers written with a decimal comma: read them as numbers (... str.replace(',',
    '.'))"), advice that made a byte count of 5125 into 5.125; fit named both readings.
    Now scoring does too, where nothing tells them apart."""
    frame = _frame(40)
    model = DAGMM(**TINY, random_state=0).fit(frame)
    rows = frame.head(2).assign(bytes=values)
    with pytest.raises(InvalidInputError, match="look like numbers written with") as caught:
        model.decision_function(rows)
    assert said in str(caught.value), str(caught.value)
    both = "if they separate thousands, read them with that separator" in str(caught.value)
    assert both == ("if the commas" in said)


def test_a_saved_index_read_back_as_a_column_is_named_as_a_row_number(tmp_path):
    _frame(200).to_csv(tmp_path / "with_index.csv")  # index=True: pandas' default
    frame = pd.read_csv(tmp_path / "with_index.csv")
    assert frame.columns[0] == "Unnamed: 0"
    with pytest.warns(IdentifierColumnWarning, match=r"'Unnamed: 0' counts the rows \(0, 1, 2"):
        DAGMM(**TINY, random_state=0).fit(frame)
    with warnings.catch_warnings():
        warnings.simplefilter("error", IdentifierColumnWarning)
        DAGMM(**TINY, random_state=0).fit(frame.drop(columns="Unnamed: 0"))
        DAGMM(**TINY, random_state=0).fit(frame.sample(frac=1.0, random_state=0))  # unordered
        DAGMM(**TINY, random_state=0).fit(frame.head(IDENTIFIER_MIN_ROWS - 1))  # too few rows


def test_a_label_left_among_the_training_columns_is_named():
    """Until 2026-12-05 `dagmm fit` on a file still holding its label column (KDDCUP's
    `label`, a `class` of 0/1) trained on it silently: only `dagmm info` showed it."""
    frame = _frame(200)
    rng = np.random.default_rng(0)
    for name, values in (
        ("label", rng.choice(["normal.", "smurf.", "neptune."], 200)),
        ("Class", rng.choice([0, 1], 200)),
        (" is_anomaly ", rng.choice([0, 1], 200)),
    ):
        with pytest.warns(LabelColumnWarning, match=rf"column {name!r} is named like a label"):
            DAGMM(**TINY, random_state=0).fit(frame.assign(**{name: values}))
    with warnings.catch_warnings():
        warnings.simplefilter("error", LabelColumnWarning)
        DAGMM(**TINY, random_state=0).fit(frame.assign(labelled=rng.choice([0, 1], 200)))
        DAGMM(**TINY, random_state=0).fit(frame.assign(target=rng.normal(size=200)))  # a measure
        DAGMM(**TINY, random_state=0).fit(frame.assign(y=rng.choice([0, 1], 200)))  # a coordinate


def test_a_renamed_or_mistyped_column_is_named_with_the_near_one():
    """Until 2026-12-05 a column renamed in an export (`bytes` -> `Bytes`) or mistyped in
    an option was "missing" with every column listed, the near name left to be found."""
    frame = _frame(200)
    model = DAGMM(**TINY, random_state=0).fit(frame)
    renamed = frame.rename(columns={"bytes": "Bytes", "duration": "durations"})
    with pytest.raises(InvalidInputError) as caught:
        model.decision_function(renamed)
    assert str(caught.value).startswith(
        "missing column(s) ['bytes', 'duration'] ('bytes': did you mean 'Bytes'?; "
        "'duration': did you mean 'durations'?): the model was fitted with columns "
    ), caught.value
    with pytest.raises(InvalidInputError, match=r"missing column\(s\) \['bytes'\]: the model"):
        model.decision_function(frame.rename(columns={"bytes": "size"}))  # nothing near: no guess
    # only the first few missing names are looked up: a table of other columns stays fast
    many = [f"c{i}" for i in range(100)]
    found = close_names(many, [name.upper() for name in many])
    assert found.count("did you mean") == CLOSE_NAMES_LOOKED_UP, found


def test_an_empty_training_column_is_named_with_the_way_out():
    """Until 2026-12-05 a column without a single value (a header an export kept for a
    field it left empty) was refused as "3000 non-finite value(s) ... train with
    missing='impute'", and with impute it trained silently as a constant."""
    frame = _frame(200)
    for empty in (np.nan, None):  # a float column of NaN; an object column of None
        with pytest.raises(InvalidInputError, match=r"column 'notes' is empty: none of its "
                           r"200 training rows holds a value.*--exclude notes"):  # fmt: skip
            DAGMM(**TINY, random_state=0).fit(frame.assign(notes=empty))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = DAGMM(**TINY, random_state=0, missing="impute").fit(frame.assign(notes=empty))
        # one warning, not also every row's imputed value called an unseen category
        assert [w.category for w in caught] == [EmptyColumnWarning], caught
        kept = "imputed, it is one constant" if empty is np.nan else "it adds no input"
        assert re.search(rf"column 'notes' is empty.*{kept}", str(caught[0].message))
        assert np.isfinite(model.decision_scores_).all()
    # one value is enough to learn from (imputed elsewhere), and a single row says nothing
    with warnings.catch_warnings():
        warnings.simplefilter("error", EmptyColumnWarning)
        DAGMM(**TINY, random_state=0, missing="impute").fit(
            frame.assign(notes=[1.0] + [np.nan] * 199)
        )


def test_a_column_of_inf_only_is_as_empty_as_one_of_nan_only():
    """Until 2026-12-07 an all-inf column trained under impute as a silent constant, and a
    column starting with two infs gave numpy's "invalid value" RuntimeWarning (an error
    under ``-W error``) beside the message naming the rows."""
    frame = _frame(200)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = DAGMM(**TINY, random_state=0, missing="impute").fit(frame.assign(ratio=np.inf))
    assert [w.category for w in caught] == [EmptyColumnWarning], caught
    assert "none of its 200 training rows holds a finite value" in str(caught[0].message)
    assert np.isfinite(model.decision_scores_).all()
    two_infs = frame.assign(ratio=[np.inf, -np.inf] + [1.0] * 198)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InvalidInputError, match=r"'ratio' has 2 non-finite .*row\(s\) 0, 1"):
            DAGMM(**TINY, random_state=0).fit(two_infs)


def test_a_complex_column_in_a_frame_is_refused_by_name():
    """A complex array was refused, but a complex column of a DataFrame lost its
    imaginary parts with only numpy's ComplexWarning, at fit and at scoring."""
    frame = _frame(200)
    complex_column = frame.assign(phase=np.exp(1j * np.linspace(0, 3, 200)))
    message = r"column 'phase' holds complex numbers \(complex128\); split it"
    with pytest.raises(InvalidInputError, match=message):
        DAGMM(**TINY, random_state=0).fit(complex_column)
    model = DAGMM(**TINY, random_state=0).fit(frame.assign(phase=0.5))
    with pytest.raises(InvalidInputError, match=message):
        model.decision_function(complex_column)
    as_objects = complex_column.assign(phase=complex_column["phase"].astype(object))
    with pytest.raises(InvalidInputError, match="column 'phase' holds complex numbers"):
        model.decision_function(as_objects)


@pytest.mark.parametrize(
    "column",
    [
        pd.date_range("2026-01-01", periods=120, freq="min"),
        pd.date_range("2026-01-01", periods=120, freq="min", tz="UTC"),
        pd.to_timedelta(np.arange(120), unit="s"),
        pd.period_range("2026-01", periods=120, freq="M"),
    ],
    ids=["datetime", "datetime_tz", "timedelta", "period"],
)
def test_time_columns_are_refused_at_fit(column):
    frame = _frame().assign(seen=column)
    with pytest.raises(InvalidInputError, match=r"column 'seen' holds .* values.*hour of day"):
        DAGMM(**TINY, random_state=0).fit(frame)
    # as text, by choice, it is a category like any other
    few = frame.assign(seen=frame["seen"].astype(str).str[:4])
    assert "seen" in DAGMM(**TINY, random_state=0).fit(few).encoder_.categories


def _arrow_column(values, arrow_type) -> pd.Series:
    import pyarrow as pa

    return pd.Series(pa.array(values, type=arrow_type), dtype=pd.ArrowDtype(arrow_type))


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda pa: _arrow_column(np.arange(120), pa.duration("s")), r"duration\[s\]\[pyarrow\]"),
        (
            lambda pa: _arrow_column(np.arange(120) * 10**6, pa.time64("us")),
            r"time64\[us\]\[pyarrow\]",
        ),
        (
            lambda pa: pd.Series(pd.to_timedelta(np.arange(120), unit="s")).astype(object),
            r"object \(timedelta\)",
        ),
        (lambda pa: pd.Series([dt.time(i % 24, i % 60) for i in range(120)]), r"object \(time\)"),
        # five distinct days: as text they would pass as labels; as dates they are times
        (
            lambda pa: pd.Series([dt.date(2026, 1, 1 + i % 5) for i in range(120)]),
            r"object \(date\)",
        ),
    ],
    ids=[
        "arrow_duration",
        "arrow_time_of_day",
        "timedelta_objects",
        "time_objects",
        "date_objects",
    ],
)
def test_arrow_and_object_time_columns_are_refused_as_time_typed_ones(make, kind):
    # Until 2026-12-05 they trained as categories, one one-hot column per distinct time:
    # pandas' datetime and timedelta checks know neither Arrow's durations and times of
    # day nor a column of time objects (a Parquet date column read without pyarrow dtypes)
    import pyarrow as pa

    frame = _frame().assign(seen=make(pa))
    with pytest.raises(InvalidInputError, match=rf"column 'seen' holds {kind} values.*hour of day"):
        DAGMM(**TINY, random_state=0).fit(frame)


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda pa, n: pd.date_range("2026-01-01", periods=n, freq="min"), r"datetime64\[\w+\]"),
        (
            lambda pa, n: pd.date_range("2026-01-01", periods=n, freq="min", tz="UTC"),
            r"datetime64\[\w+, UTC\]",
        ),
        (lambda pa, n: pd.to_timedelta(np.arange(n), unit="s"), r"timedelta64\[\w+\]"),
        (lambda pa, n: pd.period_range("2026-01", periods=n, freq="M"), r"period\[M\]"),
        (
            lambda pa, n: _arrow_column(np.arange(n) * 10**6, pa.timestamp("us")),
            r"timestamp\[us\]\[pyarrow\]",
        ),
        (
            lambda pa, n: _arrow_column(np.arange(n), pa.duration("s")),
            r"duration\[s\]\[pyarrow\]",
        ),
        (lambda pa, n: [dt.date(2026, 1, 1 + i) for i in range(n)], r"object \(date\)"),
        (
            lambda pa, n: pd.Series(pd.to_timedelta(np.arange(n), unit="s")).astype(object),
            r"object \(timedelta\)",
        ),
    ],
    ids=[
        "datetime",
        "datetime_tz",
        "timedelta",
        "period",
        "arrow_timestamp",
        "arrow_duration",
        "date_objects",
        "timedelta_objects",
    ],
)
def test_times_in_a_column_fitted_on_numbers_are_refused_at_scoring(frame_model, make, kind):
    # Until 2026-12-05 they were scored silently: pandas reads a datetime or a timedelta
    # as its nanoseconds and a period as its ordinal, far out of the training range
    # (the energies saturated). Arrow times failed as "non-finite values", time objects
    # as "text such as datetime.date(2026, 1, 1)".
    import pyarrow as pa

    model, frame = frame_model
    rows = frame.head(6)
    bad = rows.assign(bytes=pd.Series(make(pa, 6)).set_axis(rows.index))
    expected = (
        rf"column 'bytes' holds {kind} values where the model expects numbers, as in its "
        r"training data; convert the column to numbers \(seconds since the epoch, say\) the "
        r"same way in both the training and the scoring data"
    )
    for score in (model.decision_function, model.predict, model.transform, model.explain):
        with pytest.raises(InvalidInputError, match=expected):
            score(bad)


def test_other_values_in_a_numeric_column_are_named_by_what_they_hold(frame_model):
    model, frame = frame_model
    rows = frame.head(4)
    # a plain array of datetime64 for a model fitted on a plain array: scored silently
    # as nanoseconds until 2026-12-05
    on_array = DAGMM(**TINY, random_state=0).fit(frame[["bytes", "duration"]].to_numpy())
    times = np.array(pd.date_range("2026-01-01", periods=4)).reshape(2, 2)
    with pytest.raises(InvalidInputError, match=r"column '0' holds datetime64\[\w+\] values"):
        on_array.decision_function(times)
    # lists, dicts and bytes are no text: until 2026-12-05 "holds text such as [1, 2]"
    for value, held in (([1, 2], "list"), ({"k": 1}, "dict"), (b"\x00", "bytes")):
        bad = rows.assign(bytes=pd.Series([value] * 4, index=rows.index, dtype=object))
        with pytest.raises(
            InvalidInputError, match=rf"'bytes' should be numeric but holds {held} values such"
        ):
            model.decision_function(bad)
    # booleans are accepted as the numbers 0 and 1, as numpy and pandas read them
    flags = rows.assign(duration=[True, False, True, True])
    as_numbers = rows.assign(duration=[1.0, 0.0, 1.0, 1.0])
    np.testing.assert_array_equal(
        model.decision_function(flags), model.decision_function(as_numbers)
    )


def test_categories_match_by_value_whatever_the_dtype():
    # Categories are kept as text: until 2026-12-05 a category column fitted on integers
    # and scored as floats (a column that gains a missing value reads as float64) was
    # "1.0", not "1": every row an unseen category, scored on an all-zero one-hot group.
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"x": rng.normal(size=120), "code": pd.Categorical(rng.choice([1, 2, 30], 120))}
    )
    model = DAGMM(**TINY, random_state=0).fit(frame)
    assert model.encoder_.categories == {"code": ["1", "2", "30"]}
    rows = frame.head(8)
    expected = model.decision_function(rows)
    as_floats = rows["code"].astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnseenCategoryWarning)
        for code in (
            as_floats,
            rows["code"].astype(np.int64),
            rows["code"].astype(np.int8),
            rows["code"].astype("Int64"),
            as_floats.astype("Float64"),
            as_floats.astype(np.float32),
            as_floats.astype("category"),
            as_floats.astype(object),
            as_floats.astype(str),  # "1.0": a CSV file pandas wrote the floats into
            rows["code"].astype(str),
        ):
            np.testing.assert_array_equal(model.decision_function(rows.assign(code=code)), expected)
    # a number no category holds, and codes written otherwise, are still unseen
    for value in (1.5, 4.0, "01", "+1", "1.5", "1e0", True):
        other = rows.assign(code=pd.Series([value] * 8, index=rows.index, dtype=object))
        with pytest.warns(UnseenCategoryWarning, match=r"'code': 8 value"):
            model.decision_function(other)
    # the other way round: fitted on floats, scored as integers
    floats = DAGMM(**TINY, random_state=0).fit(
        frame.assign(code=frame["code"].astype(float).astype("category"))
    )
    assert floats.encoder_.categories == {"code": ["1.0", "2.0", "30.0"]}
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnseenCategoryWarning)
        np.testing.assert_array_equal(
            floats.decision_function(rows.assign(code=rows["code"].astype(np.int64))),
            floats.decision_function(rows.assign(code=as_floats)),
        )
    # missing="impute" fills a float column's missing value with the training category
    imputing = DAGMM(**TINY, random_state=0, missing="impute").fit(frame)
    gap = rows.assign(code=as_floats.where(rows.index != 3, np.nan))
    filled = rows.assign(
        code=as_floats.where(rows.index != 3, float(imputing.encoder_.fill_values["code"]))
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnseenCategoryWarning)
        np.testing.assert_array_equal(
            imputing.decision_function(gap), imputing.decision_function(filled)
        )


def test_rows_with_repeated_index_labels_are_named_with_their_positions():
    # Until 2026-12-05 a frame whose index repeats (pd.concat of frames with their own
    # RangeIndex) had its bad rows named "row(s) 0, 0": labels that find no row
    frame = pd.concat([_frame(60), _frame(60, seed=1)])
    assert not frame.index.is_unique
    model = DAGMM(**TINY, random_state=0).fit(frame.reset_index(drop=True))
    bad = frame.copy()
    bad.iloc[[5, 65], 0] = np.nan
    with pytest.raises(InvalidInputError, match=r"row\(s\) 5 \(position 5\), 5 \(position 65\)\)"):
        model.decision_function(bad)
    bad = frame.astype({"proto": object})
    bad.iloc[70, 2] = None
    with pytest.raises(
        InvalidInputError, match=r"missing value\(s\) \(row\(s\) 10 \(position 70\)\)"
    ):
        model.decision_function(bad)
    bad = frame.astype({"duration": object})
    bad.iloc[61, 1] = "oops"
    with pytest.raises(
        InvalidInputError, match=r"'oops' \(1 value\(s\), row\(s\) 1 \(position 61\)\)"
    ):
        model.decision_function(bad)
    bad = frame.copy()
    bad.iloc[62, 0] = 1e30
    with pytest.raises(NumericalError, match=r"row\(s\) 2 \(position 62\)\)"):
        model.decision_function(bad)
    # a unique index names rows by their labels alone, as before
    with pytest.raises(NumericalError, match=r"\(row\(s\) 62\)"):
        model.decision_function(bad.reset_index(drop=True))


def test_a_list_of_rows_far_out_of_range_is_a_numerical_error():
    # Until 2026-12-05 a list's .index (a method) was taken for row labels: the rows'
    # NumericalError became "TypeError: 'builtin_function_or_method' object is not subscriptable"
    model = DAGMM(**TINY, random_state=0).fit(_frame()[["bytes", "duration"]].to_numpy())
    with pytest.raises(NumericalError, match=r"non-finite energy for 1 row\(s\) \(row\(s\) 0\)"):
        model.decision_function([[1e30, 1.0], [100.0, 1.0]])


def test_a_structured_array_is_read_as_a_table_of_its_fields():
    # Until 2026-12-05 a structured or record array (np.genfromtxt(..., names=True)) was
    # refused as "1-D shape (120,). Reshape your data: x.reshape(1, -1) ...", advice that
    # cannot help: it is read as the DataFrame of its fields, names and text included
    frame = _frame()
    records = frame.to_records(index=False).astype(
        [("bytes", "f8"), ("duration", "f8"), ("proto", "U3")]
    )
    model = DAGMM(**TINY, random_state=0).fit(records)
    assert list(model.feature_names_in_) == ["bytes", "duration", "proto"]
    assert list(model.encoder_.categories) == ["proto"]
    np.testing.assert_array_equal(model.decision_function(records), model.decision_scores_)
    np.testing.assert_array_equal(model.decision_function(frame), model.decision_scores_)
    numeric = DAGMM(**TINY, random_state=0).fit(frame[["bytes", "duration"]])
    np.testing.assert_array_equal(
        numeric.decision_function(
            np.rec.fromarrays([frame["bytes"], frame["duration"]], names="bytes,duration")
        ),
        numeric.decision_scores_,
    )


class _InterchangeOnly:
    """A data frame known only by the dataframe interchange protocol."""

    def __init__(self, table) -> None:
        self._table = table

    def __dataframe__(self, nan_as_null: bool = False, allow_copy: bool = True):
        return self._table.__dataframe__(nan_as_null, allow_copy)


class _ArrowStreamOnly:
    """A data frame known only by the Arrow PyCapsule stream interface."""

    def __init__(self, table) -> None:
        self._table = table

    def __arrow_c_stream__(self, requested_schema=None):
        return self._table.__arrow_c_stream__(requested_schema)


def test_polars_and_arrow_frames_fit_and_score_like_pandas():
    # Until 2026-12-04 they were read as arrays: names lost, and a text column was
    # "column '2' should be numeric".
    import pyarrow as pa

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"a": rng.normal(size=300), "b": rng.gamma(2.0, size=300), "c": rng.choice(["x", "y"], 300)}
    )
    reference = DAGMM(**TINY, random_state=0).fit(frame)
    expected = reference.decision_function(frame)
    others = {
        "pyarrow.Table": pa.Table.from_pandas(frame, preserve_index=False),
        "interchange protocol": _InterchangeOnly(pa.Table.from_pandas(frame, preserve_index=False)),
        "Arrow stream": _ArrowStreamOnly(pa.Table.from_pandas(frame, preserve_index=False)),
    }
    try:
        import polars as pl

        others["polars.DataFrame"] = pl.from_pandas(frame)
    except ImportError:  # not a dependency; tested where it is installed
        pass
    for name, table in others.items():
        model = DAGMM(**TINY, random_state=0).fit(table)
        assert list(model.feature_names_in_) == ["a", "b", "c"], name
        assert model.encoder_.categories == reference.encoder_.categories, name
        np.testing.assert_array_equal(model.decision_function(table), expected, err_msg=name)
        np.testing.assert_array_equal(reference.decision_function(table), expected, err_msg=name)
    with pytest.raises(InvalidInputError, match="missing column"):
        reference.decision_function(pa.table({"a": [1.0], "b": [2.0]}))


def test_numeric_column_arriving_as_strings(frame_model):
    model, frame = frame_model
    as_text = frame.assign(duration=frame["duration"].map(repr))
    np.testing.assert_allclose(model.decision_function(as_text), model.decision_function(frame))
    as_text.loc[11, "duration"] = "n/a"
    with pytest.raises(
        InvalidInputError, match=r"'duration' should be numeric.*'n/a'.*row\(s\) 11"
    ):
        model.decision_function(as_text)


@pytest.mark.parametrize(
    "case",
    ["empty_rows", "empty_columns", "empty_frame", "one_row"],
)
def test_empty_and_single_row_inputs(case, frame_model):
    data = {
        "empty_rows": np.zeros((0, 3)),
        "empty_columns": np.zeros((5, 0)),
        "empty_frame": pd.DataFrame({"a": []}),
        "one_row": np.ones((1, 3)),
    }[case]
    with pytest.raises(InvalidInputError, match=r"no rows|no columns|at least 2 rows"):
        DAGMM(**TINY).fit(data)
    model, frame = frame_model
    with pytest.raises(InvalidInputError, match="no rows"):
        model.decision_function(frame.head(0))
    assert np.isfinite(model.decision_function(frame.head(1))).all()  # one row scores fine


class _LazyFrame:
    """Stands for a lazy frame (polars.LazyFrame): rows only after ``collect()``."""

    def collect(self):  # pragma: no cover - never called
        raise AssertionError


def test_a_path_or_a_lazy_frame_is_named_with_the_way_out(frame_model):
    model, _ = frame_model
    for path in ("flows.csv", Path("flows.csv")):
        with pytest.raises(InvalidInputError, match=r"got the path 'flows.csv'.*read_table"):
            DAGMM(**TINY).fit(path)
        with pytest.raises(InvalidInputError, match=r"got the path 'flows.csv'"):
            model.decision_function(path)
    with pytest.raises(InvalidInputError, match=r"got a _LazyFrame \(a lazy frame: .collect"):
        DAGMM(**TINY).fit(_LazyFrame())
    with pytest.raises(InvalidInputError, match=r"expected a 2-D table .*got a int"):
        DAGMM(**TINY).fit(5)


def test_too_few_rows_for_the_covariances_warn_with_the_count_needed():
    # z = [z_c (1), distance, cosine]: 3 dimensions, so each of K = 2 full covariances
    # needs 4 rows: 8 in all.
    X = np.random.default_rng(0).normal(size=(40, 3))
    params = {**TINY, "latent_dim": 1, "random_state": 0}
    with pytest.warns(FewRowsWarning, match=r"^7 training rows for 2 mixture .* 3-dimensional"):
        DAGMM(**params).fit(X[:7])
    with pytest.warns(FewRowsWarning, match=r"at least 4 rows \(8 in all\)"):
        fit_ensemble(DAGMM(**params), X, seeds=[0, 1], rows=[np.arange(40), np.arange(7)])
    with warnings.catch_warnings():
        warnings.simplefilter("error", FewRowsWarning)
        DAGMM(**params).fit(X[:8])
        fit_ensemble(DAGMM(**params), X, seeds=[0, 1], rows=[np.arange(40), np.arange(8)])


@pytest.mark.parametrize(
    "case",
    ["identical_rows", "constant_columns", "huge_values", "n_below_k", "k_above_distinct"],
)
def test_degenerate_training_data_gives_finite_scores(case):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 4))
    if case == "identical_rows":
        X = np.tile(X[:1], (60, 1))
    elif case == "constant_columns":
        X = np.full((60, 4), 3.0)
        X[:, 0] = rng.normal(size=60)
        X[:, 1:] = [[3.0, -1.0, 0.0]]
    elif case == "huge_values":
        X = X * 1e30
    elif case == "n_below_k":
        X = X[:3]
    elif case == "k_above_distinct":
        X = np.repeat(X[:2], 30, axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # collapse and jitter warnings are expected here
        model = DAGMM(**{**TINY, "n_components": 5}, random_state=0).fit(X)
        assert np.isfinite(model.decision_scores_).all(), case
        assert np.isfinite(model.decision_function(X[:7])).all(), case
        assert np.isfinite(model.threshold_)


def test_values_below_float32_s_resolution_are_named_at_fit():
    """Values beyond float32's range were refused, values below it passed without a word:
    at 1e-40 (subnormal) or 1e-300 (zero) a column became one constant to the network,
    and a model of such data gave every row the same energy and flagged none."""
    from dagmm.estimator import UnresolvedColumnWarning

    X = np.random.default_rng(0).normal(size=(300, 3))
    message = r"column\(s\) \['0', '1', '2'\] vary only below float32's smallest normal number"
    for scale in (1e-40, 1e-300):
        with pytest.warns(UnresolvedColumnWarning, match=message):
            model = DAGMM(**TINY, random_state=0).fit(X * scale)
        assert np.isfinite(model.decision_scores_).all()
        assert model.encoder_.shifts == {}  # no shift helps there (nor needs format 5)
    frame = _frame(200).assign(tiny=np.linspace(0, 1e-39, 200))
    with pytest.warns(UnresolvedColumnWarning, match=r"\['tiny'\] vary only .*leave them out"):
        DAGMM(**TINY, random_state=0).fit(frame)
    with pytest.warns(UnresolvedColumnWarning, match=r"\['tiny'\] vary only below"):
        fit_ensemble(DAGMM(**TINY), frame, [0], [np.arange(100)])
    # values float32 holds (1e-25) that differ by less than its smallest normal number:
    # shifted to [0, 1e-38], one constant too (until 2026-12-07 without a word)
    near = _frame(200).assign(tiny=1e-25 + np.linspace(0, 1e-38, 200))
    assert near["tiny"].nunique() > 100  # distinct in float64
    with pytest.warns(UnresolvedColumnWarning, match=r"\['tiny'\] vary only below"):
        model = DAGMM(**TINY, random_state=0).fit(near)
    assert model.encoder_.shifts == {"tiny": 1e-25}
    # a constant column, and one whose small values float32 resolves, say nothing
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnresolvedColumnWarning)
        DAGMM(**TINY, random_state=0).fit(frame.assign(tiny=0.0))
        model = DAGMM(**TINY, random_state=0).fit(X * 1e-30)
    assert len(np.unique(model.decision_scores_)) > 1


def test_values_far_from_zero_that_vary_little_reach_the_network_intact(tmp_path):
    """Unix times within one hour (about 1.7e9) reached the float32 network in steps of
    128 s: at most 29 distinct values of 300, so rows a minute apart scored alike (until
    2026-12-07 without a word; then with a warning asking to subtract a constant). The
    encoder now subtracts one in float64 before the cast: every value arrives."""
    from dagmm.estimator import UnresolvedColumnWarning, _encode_numeric_fast
    from dagmm.explain import explain

    rng = np.random.default_rng(0)
    ts = 1.7e9 + rng.uniform(0, 3600, 300)
    frame = _frame(300).assign(ts=ts, big=1e9 + rng.normal(size=300))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnresolvedColumnWarning)
        model = DAGMM(**TINY, random_state=0).fit(frame)
        logged = DAGMM(**TINY, random_state=0, log_inputs=True).fit(frame)
        plain = DAGMM(**TINY, random_state=0).fit(frame[["ts", "big"]].to_numpy())
    assert model.encoder_.shifts == {"ts": ts.min(), "big": frame["big"].min()}
    array = frame[["ts", "big"]].to_numpy()
    for fitted, data, names in (
        (model, frame, ["ts", "big"]),
        (logged, frame, ["ts", "big"]),
        (plain, array, ["0", "1"]),  # an array's columns are its positions
    ):
        encoded = fitted.encoder_.transform(data)
        for name in names:
            column = encoded[:, fitted.encoder_.feature_names_out.index(name)]
            assert len(np.unique(column)) == 300, (name, len(np.unique(column)))
    # named with every digit of the shift (10 significant digits hid milliseconds), and
    # as the log the network sees with log_inputs
    assert model.encoder_.shift_text("ts") == f"ts - {float(ts.min())!r}"
    assert logged.encoder_.shift_text("ts").startswith("symlog(ts) - 21.25389")
    ms = dagmm.tabular.TabularEncoder().fit(pd.DataFrame({"ms": 1700000002804.0 + np.arange(9)}))
    assert ms.shift_text("ms") == "ms - 1700000002804"
    # in the column's own units: the shift is what was subtracted, nothing rounded away
    encoded = model.encoder_.transform(frame)[:, model.encoder_.feature_names_out.index("ts")]
    np.testing.assert_allclose(
        encoded.astype(np.float64) + model.encoder_.shifts["ts"], ts, rtol=0, atol=1e-3
    )
    # the fast numeric path (all-numeric data) shifts as the general one does
    fast = _encode_numeric_fast(plain.encoder_, array)
    np.testing.assert_array_equal(fast, plain.encoder_.transform(array))
    # a saved model shifts as the one in memory; its file says it needs format 5
    model.save(tmp_path / "m.dagmm")
    loaded = dagmm.load(tmp_path / "m.dagmm")
    assert loaded.format_version_ == 5 and loaded.encoder_.shifts == model.encoder_.shifts
    np.testing.assert_array_equal(loaded.decision_function(frame), model.decision_function(frame))
    # explanations report the column in its own units, not shifted ones
    table = explain(model, frame.head(5))
    values = table.loc[table["column"] == "ts", ["row", "value", "expected"]].sort_values("row")
    np.testing.assert_allclose(values["value"].astype(float), ts[:5], rtol=0, atol=1e-3)
    expected = values["expected"].astype(float)
    assert ((expected >= ts.min() - 1e-3) & (expected <= ts.max() + 1e-3)).all(), expected
    # a constant column far from 0 (a build number) is taken to vary by units: until
    # 2026-12-07 a later row up to 64 away from it scored as if equal to it
    built = _frame(300).assign(build=1700000007.0)
    for log_inputs in (False, True):
        constant = DAGMM(**TINY, random_state=0, log_inputs=log_inputs).fit(built)
        assert list(constant.encoder_.shifts) == ["build"], log_inputs
        moved = built.head(1).loc[[0, 0, 0]].assign(build=1700000007.0 + np.array([0, 1, -60]))
        energies = constant.decision_function(moved)
        assert energies[2] != energies[0], (log_inputs, energies)
        if not log_inputs:  # in log units a second at 1.7e9 is 6e-10: too little to tell
            assert energies[1] != energies[0], energies
    # columns float32 resolves (bytes from 0 to 1e9, years, pressures) are not shifted,
    # so models of them score as before
    wide = _frame(300).assign(
        ts=rng.exponential(1e8, 300),
        year=rng.integers(1990, 2026, 300),
        hpa=1013.25 + rng.normal(0, 5, 300),
    )
    assert DAGMM(**TINY, random_state=0).fit(wide).encoder_.shifts == {}
    # nor constant columns of small numbers (a flag always 1, a year)
    flags = wide.assign(flag=1.0, year=2026)
    assert DAGMM(**TINY, random_state=0).fit(flags).encoder_.shifts == {}
    assert DAGMM(**TINY, random_state=0, log_inputs=True).fit(flags).encoder_.shifts == {}


def test_far_out_of_range_scoring_is_a_clear_error_not_nan():
    X = np.random.default_rng(0).normal(size=(60, 3))
    model = DAGMM(**TINY, random_state=0).fit(X)
    rows = X[:4].copy()
    rows[2] = 1e30
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # the error says it all, no numpy noise
        message = r"non-finite energy for 1 row\(s\) \(row\(s\) 2\)"
        with pytest.raises(NumericalError, match=message):
            model.decision_function(rows)
    frame = pd.DataFrame(rows, columns=["0", "1", "2"], index=[10, 11, 12, 13])
    with pytest.raises(NumericalError, match=r"row\(s\) 12\)"):
        model.decision_function(frame)  # DataFrame rows are named by their index
    with pytest.raises(InvalidInputError, match="float32 range"):
        model.decision_function(np.full((1, 3), 1e300))


def test_values_beyond_float32_name_their_columns_and_rows():
    # until 2026-12-07 the columns only: "column(s) ['0', '2'] hold values beyond ..."
    X = np.random.default_rng(0).normal(size=(60, 3))
    model = DAGMM(**TINY, random_state=0).fit(X)
    rows = X[:6].copy()
    rows[[1, 4], 0] = 1e300
    rows[2, 2] = -1e39
    message = (
        "column '0' holds values beyond the float32 range (|x| > 3.4e38; row(s) 1, 4), "
        "column '2' (row(s) 2)"
    )
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        model.decision_function(rows)  # an array's rows: positions
    frame = pd.DataFrame(rows, columns=["0", "1", "2"], index=[10, 11, 12, 13, 14, 15])
    with pytest.raises(InvalidInputError, match=re.escape("(|x| > 3.4e38; row(s) 11, 14), ")):
        model.decision_function(frame)  # a DataFrame's: its index labels


#: Binary files named as text, their content and what the refusal says of them.
BINARY_NAMED_AS_TEXT = {
    "bz.csv": (
        bz2.compress(b"a,b\n1,2\n"),
        "bzip2-compressed data, not CSV text: name it bz.csv.bz2 (or decompress it)",
    ),
    # .tsv.xz is read since 2026-12-07 (before, the advice was only "decompress it")
    "xz.tsv": (
        lzma.compress(b"a\tb\n1\t2\n"),
        "xz-compressed data, not CSV text: name it xz.tsv.xz (or decompress it)",
    ),
    "xz.txt": (lzma.compress(b"a,b\n1,2\n"), "xz-compressed data, not CSV text: decompress it"),
    "zst.txt": (b"\x28\xb5\x2f\xfd\x00\x58", "zstd-compressed data, not CSV text"),
    "gz.jsonl": (
        gzip.compress(b'{"a": 1}\n'),
        "gzip-compressed data, not JSON Lines text: name it gz.jsonl.gz (or decompress it)",
    ),
    "bz.csv.gz": (
        bz2.compress(b"a,b\n1,2\n"),
        "bzip2-compressed data, not gzip-compressed CSV: name it bz.csv.bz2",
    ),
    "arrow.csv": (
        b"ARROW1\x00\x00\xff\xff",
        "an Arrow / Feather file, not CSV text: name it arrow.arrow",
    ),
    "book.csv": (b"PK\x03\x04\x14\x00", "a zip archive (a spreadsheet workbook?), not CSV text"),
}


@pytest.mark.parametrize("name", sorted(BINARY_NAMED_AS_TEXT))
def test_binary_file_named_as_text_is_refused_before_parsing(tmp_path, name):
    # until 2026-12-07 read as text: "not UTF-8 text (byte 0x8b ...)", and with --encoding
    # a header of binary junk
    content, message = BINARY_NAMED_AS_TEXT[name]
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataFileError, match=re.escape(f"{path}: {message}")):
        read_table(path)
    with pytest.raises(DataFileError, match=re.escape(f"{path}: {message}")):
        read_table(path, csv_format=CsvFormat(encoding="latin-1"))


def test_text_starting_as_a_signature_is_read(tmp_path):
    # a header whose first bytes are a Parquet or bzip2 signature, but text: read as CSV
    for text in ("PAR1,b\n1,2\n", "BZh91AY&SY,b\n1,2\n", "ARROW1,b\n1,2\n"):
        path = tmp_path / "t.csv"
        path.write_text(text)
        assert read_table(path).shape == (1, 2), text


# ----------------------------------------------------------------- bad input: CLI
@pytest.fixture(scope="module")
def cli_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rel_cli")
    frame = _frame(80)
    frame.to_csv(folder / "good.csv", index=False)
    model = folder / "m.dagmm"
    DAGMM(**TINY, random_state=0, checkpoint_path=str(folder / "m.ckpt")).fit(frame).save(model)
    (folder / "ragged.csv").write_text("bytes,duration,proto\n1,2,tcp\n3,4,udp,9,9\n")
    lines = frame.assign(extra=1).to_csv(index=False).splitlines()
    fields = lines[3].split(",")
    lines[3] = ",".join([fields[0], "1,234.5", *fields[1:]])  # a thousands separator
    (folder / "ragged_good.csv").write_text("\n".join(lines) + "\n")
    # the last line of a file still being written: its proto (and more) not there yet
    (folder / "cut_short.csv").write_text((folder / "good.csv").read_text() + "5")
    (folder / "binary.csv").write_bytes(bytes(range(256)) * 8)
    (folder / "header_only.csv").write_text("bytes,duration,proto\n")
    (folder / "empty.csv").write_bytes(b"")
    nan_frame = frame.copy()
    nan_frame.loc[[2, 5], "bytes"] = np.nan
    nan_frame.to_csv(folder / "nan.csv", index=False)
    unseen = frame.copy()
    unseen.loc[[0, 1], "proto"] = "sctp"
    unseen.to_csv(folder / "unseen.csv", index=False)
    huge = frame.copy()
    huge.loc[3, "bytes"] = 1e30
    huge.to_csv(folder / "huge.csv", index=False)
    beyond = frame.copy()
    beyond.loc[3, "bytes"] = 1e300
    beyond.loc[7, "duration"] = -1e39
    beyond.to_csv(folder / "beyond.csv", index=False)
    frame.to_parquet(folder / "good.parquet", index=False)
    # binary files named as text: a gzip-compressed CSV, a Parquet file, a model
    (folder / "gz.csv").write_bytes(gzip.compress((folder / "good.csv").read_bytes()))
    (folder / "pq.csv").write_bytes((folder / "good.parquet").read_bytes())
    (folder / "model.csv").write_bytes(model.read_bytes())
    raw = (folder / "good.parquet").read_bytes()
    (folder / "truncated.parquet").write_bytes(raw[: len(raw) // 2])
    (folder / "notes.txt.gz").write_bytes(b"not gzip")
    (folder / "fake.csv.gz").write_bytes(b"not gzip either")
    (folder / "model_dir").mkdir()
    return folder


CLI_CASES = {
    "malformed_csv": (
        ["fit", "{d}/ragged.csv", "--out", "{d}/o.dagmm"],
        "ragged.csv: cannot parse as CSV: line 3 holds more fields than the header names "
        "(5, not 3)",
    ),
    # Until 2026-12-07 these read the columns they need by position (pandas' usecols),
    # silently: line 3's values one column to the left, the extra ones dropped, exit 0.
    "score_row_longer_than_header": (
        ["score", "{m}", "{d}/ragged_good.csv", "--out", "{d}/o.csv", "--keep", "bytes"],
        "ragged_good.csv: cannot parse as CSV: line 4 holds more fields than the header names "
        "(6, not 4)",
    ),
    "score_row_longer_than_header_in_chunks": (
        ["score", "{m}", "{d}/ragged_good.csv", "--out", "{d}/o.csv", "--chunk-rows", "2"],
        "line 4 holds more fields",
    ),
    "explain_row_longer_than_header": (
        ["explain", "{m}", "{d}/ragged_good.csv", "--out", "{d}/o.csv"],
        "line 4 holds more fields",
    ),
    # Until 2026-12-07 the fields a row lacks were read as missing values: "missing
    # value" at best, and a model trained with missing='impute' scored the row silently.
    "score_row_cut_short": (
        ["score", "{m}", "{d}/cut_short.csv", "--out", "{d}/o.csv"],
        "cut_short.csv: line 82 holds 1 field where the header names 3 (the last line, with "
        "no line break after it: a file still being written, or cut short?)",
    ),
    "score_row_cut_short_by_chunks_of_2": (
        ["score", "{m}", "{d}/cut_short.csv", "--out", "{d}/o.csv", "--chunk-rows", "2"],
        "line 82 holds 1 field where the header names 3",
    ),
    "fit_row_cut_short": (
        ["fit", "{d}/cut_short.csv", "--out", "{d}/o.dagmm", "--missing", "impute", "--epochs=1"],
        "line 82 holds 1 field where the header names 3",
    ),
    "binary_csv": (["fit", "{d}/binary.csv", "--out", "{d}/o.dagmm"], "cannot parse as CSV"),
    "empty_csv": (["fit", "{d}/empty.csv", "--out", "{d}/o.dagmm"], "cannot parse as CSV"),
    "header_only_csv": (
        ["fit", "{d}/header_only.csv", "--out", "{d}/o.dagmm"],
        "header_only.csv: no rows to train on",
    ),
    "nan_in_fit": (["fit", "{d}/nan.csv", "--out", "{d}/o.dagmm"], "'bytes' has 2 non-finite"),
    "missing_data_file": (["fit", "{d}/nope.csv", "--out", "{d}/o.dagmm"], "file not found"),
    "data_is_directory": (["fit", "{d}/model_dir", "--out", "{d}/o.dagmm"], "is a directory"),
    "truncated_parquet": (
        ["score", "{m}", "{d}/truncated.parquet", "--out", "{d}/o.csv"],
        "cannot read as Parquet",
    ),
    "wrong_file_type": (
        ["fit", "{d}/notes.txt.gz", "--out", "{d}/o.dagmm"],
        "unsupported file type",
    ),
    "fake_gzip_csv": (["fit", "{d}/fake.csv.gz", "--out", "{d}/o.dagmm"], "cannot parse as CSV"),
    # until 2026-12-07 "not UTF-8 text (byte 0x8b ...); give its encoding", and with it a
    # missing column beside a header of binary junk
    "gzip_named_csv_fit": (
        ["fit", "{d}/gz.csv", "--out", "{d}/o.dagmm"],
        "gz.csv: gzip-compressed data, not CSV text: name it gz.csv.gz (or decompress it)",
    ),
    "gzip_named_csv_score": (
        ["score", "{m}", "{d}/gz.csv", "--out", "{d}/o.csv"],
        "gz.csv: gzip-compressed data, not CSV text: name it gz.csv.gz (or decompress it)",
    ),
    "gzip_named_csv_with_encoding": (
        ["score", "{m}", "{d}/gz.csv", "--out", "{d}/o.csv", "--encoding", "latin-1"],
        "gz.csv: gzip-compressed data, not CSV text: name it gz.csv.gz (or decompress it)",
    ),
    "parquet_named_csv_explain": (
        ["explain", "{m}", "{d}/pq.csv", "--out", "{d}/o.csv"],
        "pq.csv: a Parquet file, not CSV text: name it pq.parquet",
    ),
    "parquet_named_csv_report": (
        ["report", "{m}", "{d}/pq.csv", "--out", "{d}/o.html", "--encoding", "cp1252"],
        "pq.csv: a Parquet file, not CSV text: name it pq.parquet",
    ),
    "model_named_csv": (
        ["score", "{m}", "{d}/model.csv", "--out", "{d}/o.csv"],
        "model.csv: a dagmm model file, not CSV text: where a command takes both, MODEL "
        "comes before DATA",
    ),
    "wrong_output_type": (["score", "{m}", "{d}/good.csv", "--out", "{d}/o.json"], "unsupported"),
    "output_dir_missing": (
        ["fit", "{d}/good.csv", "--out", "{d}/no/such/dir/o.dagmm", "--epochs", "1"],
        "does not exist",
    ),
    "model_missing": (
        ["score", "{d}/nope.dagmm", "{d}/good.csv", "--out", "{d}/o.csv"],
        "not found",
    ),
    "model_is_directory": (["info", "{d}/model_dir"], "is a directory"),
    "model_is_csv": (  # MODEL and DATA swapped
        ["score", "{d}/good.csv", "{m}", "--out", "{d}/o.csv"],
        "good.csv: a text file (CSV, JSON Lines?), not a dagmm model file (a model is what "
        "dagmm fit --out or model.save writes; the commands take MODEL before DATA)",
    ),
    "model_is_parquet": (
        ["explain", "{d}/good.parquet", "{m}", "--out", "{d}/o.csv"],
        "good.parquet: a Parquet file, not a dagmm model file",
    ),
    "model_is_checkpoint": (
        ["info", "{d}/m.ckpt"],
        "m.ckpt: a training checkpoint, not a dagmm model file: it holds epoch 3 of 3; "
        "resume it with dagmm fit",
    ),
    "score_empty_csv": (["score", "{m}", "{d}/header_only.csv", "--out", "{d}/o.csv"], "no rows"),
    "score_far_out_of_range": (
        ["score", "{m}", "{d}/huge.csv", "--out", "{d}/o.csv"],
        "huge.csv: non-finite energy for 1 row(s) (row(s) 3)",
    ),
    # until 2026-12-07 explain's named no file (energies of rows all explained)
    "explain_far_out_of_range": (
        ["explain", "{m}", "{d}/huge.csv", "--out", "{d}/o.csv"],
        "huge.csv: non-finite energy for 1 row(s) (row(s) 3)",
    ),
    "explain_far_out_of_range_top_rows": (
        ["explain", "{m}", "{d}/huge.csv", "--out", "{d}/o.csv", "--rows", "2"],
        "huge.csv: non-finite energy for 1 row(s) (row(s) 3)",
    ),
    # until 2026-12-07 the columns only: "column(s) ['bytes', 'duration'] hold values ..."
    "score_beyond_float32": (
        ["score", "{m}", "{d}/beyond.csv", "--out", "{d}/o.csv"],
        "column 'bytes' holds values beyond the float32 range (|x| > 3.4e38; row(s) 3), "
        "column 'duration' (row(s) 7)",
    ),
    "too_many_categories": (
        ["fit", "{d}/good.csv", "--out", "{d}/o.dagmm", "--max-categories", "1"],
        "'proto' has 2 distinct values",
    ),
    "resume_without_checkpoint": (
        ["fit", "{d}/good.csv", "--out", "{d}/o.dagmm", "--resume"],
        "--checkpoint",
    ),
    "checkpoint_every_without_checkpoint": (
        ["fit", "{d}/good.csv", "--out", "{d}/o.dagmm", "--checkpoint-every", "5"],
        "--checkpoint-every needs --checkpoint PATH",
    ),
}


def _pandas_finds_long_rows_in_chunks() -> bool:
    """Whether this pandas' chunked CSV reader refuses a row longer than the header that
    starts a chunk: pandas 2.0's drops its extra fields without a word."""
    try:
        list(pd.read_csv(io.StringIO("a,b\n1,2\n3,4,5\n"), index_col=False, chunksize=1))
    except pd.errors.ParserError:
        return True
    return False


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_cli_bad_input_is_one_line(case, cli_files):
    if case.endswith("_in_chunks") and not _pandas_finds_long_rows_in_chunks():
        pytest.skip(f"pandas {pd.__version__} drops a long row's fields where it starts a chunk")
    args, message = CLI_CASES[case]
    argv = [a.format(d=cli_files, m=cli_files / "m.dagmm") for a in args]
    # in this process; test_cli.py::test_user_errors_are_one_line runs the `dagmm` process
    line = _one_error_line(*invoke(*argv))
    assert message in line, line
    assert not [p for p in cli_files.iterdir() if p.name.startswith(("o.", ".o."))]


def test_cli_unseen_category_warns_and_scores(cli_files):
    out = cli_files / "unseen_scores.csv"
    result = _cli(
        "score", str(cli_files / "m.dagmm"), str(cli_files / "unseen.csv"), "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert "dagmm: warning:" in result.stderr and "'proto': 2 value" in result.stderr
    assert np.isfinite(pd.read_csv(out)["energy"]).all()


def test_unseen_categories_warn_once_per_file_with_the_total(tmp_path):
    import warnings

    from dagmm.batch import score_file
    from dagmm.outofcore import refit_mixture_on_file
    from dagmm.report import collect_file, encoded_chunks

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=120), "proto": rng.choice(["tcp", "udp"], 120)})
    model = DAGMM(epochs=1, random_state=0).fit(frame)
    frame.loc[[3, 4, 50, 51, 52, 119], "proto"] = "sctp"  # in 4 of 12 chunks
    frame.to_csv(tmp_path / "new.csv", index=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        score_file(model, tmp_path / "new.csv", tmp_path / "s.csv", chunk_rows=10)
        refit_mixture_on_file(model, tmp_path / "new.csv", chunk_rows=10)
        # dagmm report and dagmm explain read the file as score does
        collect_file(model, tmp_path / "new.csv", top=3, chunk_rows=10)
        for _ in encoded_chunks(model, tmp_path / "new.csv", [], chunk_rows=10, energy=False):
            pass
    unseen = [w.message for w in caught if w.category is UnseenCategoryWarning]
    # one warning per chunk (4, each with its own count, none with the total), and the
    # refit's passes over the file warned again; report's once more per chunk for z
    assert [str(m) for m in unseen] == [
        f"{tmp_path / 'new.csv'}: categorical values never seen in training were encoded "
        "as all-zero one-hot groups ('proto': 6 value(s) such as 'sctp')"
    ] * 4
    assert [m.counts for m in unseen] == [{"proto": 6}] * 4
    assert [m.examples for m in unseen] == [{"proto": {"sctp": None}}] * 4
    with warnings.catch_warnings():  # the caller's filters still decide
        warnings.simplefilter("error", UnseenCategoryWarning)
        with pytest.raises(UnseenCategoryWarning, match="'proto': 6"):
            score_file(model, tmp_path / "new.csv", tmp_path / "t.csv", chunk_rows=10)
    assert not (tmp_path / "t.csv").exists()


def test_unseen_categories_are_named_with_the_training_category_they_nearly_are(tmp_path):
    """Until 2026-12-07 the warning gave a count only ("'proto': 3 value(s)"): a row
    whose "tcp " kept a trailing space (or read "TCP") scored as an anomaly (energy 28.5
    against -4.6) and the warning did not say which value. Now it names a few, and the
    training category each equals but for spaces and case, from a frame or a file read
    in chunks alike."""
    import warnings

    from dagmm.batch import score_file

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=120), "proto": rng.choice(["tcp", "udp"], 120)})
    model = DAGMM(epochs=1, random_state=0).fit(frame)
    new = frame.head(8).copy()
    new.loc[[1, 5], "proto"], new.loc[2, "proto"], new.loc[6, "proto"] = "tcp ", "TCP", "sctp"
    new.to_csv(tmp_path / "new.csv", index=False)
    said = (
        "('proto': 4 value(s) such as 'tcp ' (training has 'tcp'), 'TCP' (training has "
        "'tcp'), 'sctp')"
    )
    with pytest.warns(UnseenCategoryWarning) as caught:
        model.decision_function(new)
    (message,) = [w.message for w in caught if w.category is UnseenCategoryWarning]
    assert str(message).endswith(said), str(message)
    assert message.examples == {"proto": {"tcp ": "tcp", "TCP": "tcp", "sctp": None}}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        score_file(model, tmp_path / "new.csv", tmp_path / "s.csv", chunk_rows=2)
    (message,) = [w.message for w in caught if w.category is UnseenCategoryWarning]
    assert str(message).endswith(said), str(message)


# --------------------------------------------------------- model files from strangers
def _with_document(raw: bytes, edit) -> bytes:
    return rewrite_document(raw, lambda header, doc: edit(doc))


def _set(path: str, value):
    def edit(doc):
        *parents, last = path.split(".")
        node = doc
        for key in parents:
            node = node[key]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value

    return edit


_DELETE = object()

DOCUMENT_CASES = {
    "unknown_top_key": (_set("extra", 1), "unknown key"),
    "missing_key": (_set("fitted", _DELETE), "missing key"),
    "missing_param": (_set("params.n_components", _DELETE), "missing key"),
    "unknown_param": (_set("params.__class__", "os.system"), "unknown key"),
    "param_wrong_type": (
        _set("params.n_components", "4"),
        "params.n_components: expected an integer",
    ),
    "param_object": (_set("params.device", {"type": "cuda"}), "params.device: expected a string"),
    "param_out_of_range": (_set("params.dropout", 1.5), "params.dropout"),
    "param_bad_choice": (_set("params.activation", "__import__"), "is not one of"),
    "string_too_long": (_set("encoder.columns", ["x" * 5000]), "longer than"),
    "bool_as_int": (_set("fitted.latent_dim", True), "expected an integer"),
    "nan_threshold": (_set("fitted.threshold", "NaN"), "expected a number"),
    "bad_checksum_format": (_set("tensors.mixture\\.weights", 1), "tensors"),
    "huge_network": (_set("fitted.hidden_sizes", [1_000_000, 1_000_000]), "larger than the file"),
    "duplicate_columns": (_set("encoder.columns", ["bytes", "bytes", "proto"]), "duplicates"),
    "components_disagree": (_set("fitted.n_components", 3), "n_components"),
}


@pytest.mark.parametrize("case", sorted(DOCUMENT_CASES))
def test_document_schema_refuses(case, frame_model):
    model, _ = frame_model
    edit, message = DOCUMENT_CASES[case]
    if case == "bad_checksum_format":

        def edit(doc):  # a key holding a dot
            doc["tensors"]["mixture.weights"]["sha256"] = "zz"

        message = "not of the expected form"
    raw = _with_document(model_bytes(model), edit)
    with pytest.raises(ModelFileError, match=re.escape(message)):
        load_bytes(raw, "m.dagmm")


def test_params_are_checked_before_the_estimator_sees_them(frame_model, monkeypatch):
    model, _ = frame_model
    seen = []
    original = DAGMM.__init__

    @functools.wraps(original)  # keeps the signature the schema reads
    def spy(self, **kwargs):
        seen.append(kwargs)
        original(self, **kwargs)

    monkeypatch.setattr(DAGMM, "__init__", spy)
    with pytest.raises(ModelFileError):
        load_bytes(_with_document(model_bytes(model), _set("params.epochs", [1, 2])), "m")
    assert seen == []
    load_bytes(model_bytes(model), "m")
    assert len(seen) == 1


FORGERIES = {
    "dtype_float64": (
        lambda t: t.__setitem__("net.input_scale", t["net.input_scale"].double()),
        "expected",
    ),
    "wrong_shape": (
        lambda t: t.__setitem__("mixture.weights", torch.ones(1, 3, dtype=torch.float64)),
        "expected",
    ),
    "extra_tensor": (lambda t: t.__setitem__("payload", torch.zeros(3)), "do not match"),
    "missing_tensor": (lambda t: t.pop("mixture.means"), "missing"),
    "non_finite_weight": (lambda t: t["net.input_scale"].fill_(float("nan")), "non-finite"),
    "scores_wrong_dtype": (
        lambda t: t.__setitem__("decision_scores", t["decision_scores"].float()),
        "1-D float64",
    ),
}


@pytest.mark.parametrize("case", sorted(FORGERIES))
def test_forged_tensors_are_refused(case, frame_model):
    model, _ = frame_model
    edit, message = FORGERIES[case]
    with pytest.raises(ModelFileError, match=message):
        load_bytes(forge_tensors(model_bytes(model), edit), "m.dagmm")


def test_checksum_and_truncation_are_caught_before_use(frame_model, tmp_path):
    model, frame = frame_model
    raw = model_bytes(model)
    header_len = struct.unpack("<Q", raw[:8])[0] + 8
    flipped = bytearray(raw)
    flipped[header_len + 4] ^= 0x01  # a low bit of the first tensor: still finite
    with pytest.raises(ModelFileError, match="checksum mismatch"):
        load_bytes(bytes(flipped), "m.dagmm")
    for cut in (7, 8, header_len - 1, header_len, len(raw) - 8, len(raw) - 1):
        with pytest.raises(ModelFileError):
            load_bytes(raw[:cut], "m.dagmm")
    assert load_bytes(raw, "m").decision_function(frame).shape == (len(frame),)


UNSAFE_MODULES = {
    "pickle",
    "cPickle",
    "_pickle",
    "dill",
    "cloudpickle",
    "joblib",
    "shelve",
    "marshal",
}


def _unsafe_calls(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] in UNSAFE_MODULES]
        elif (
            isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in UNSAFE_MODULES
        ):
            found.append(node.module)
        elif isinstance(node, ast.Call):
            name = ast.unparse(node.func)
            keywords = {k.arg: ast.unparse(k.value) for k in node.keywords}
            if name.endswith("torch.load") and keywords.get("weights_only") != "True":
                found.append(name)
            elif (
                name.endswith(("np.load", "numpy.load")) and keywords.get("allow_pickle") != "False"
            ):
                found.append(name)
            elif name.endswith(("read_pickle", "to_pickle", "yaml.load", "yaml.unsafe_load")):
                found.append(name)
            elif name in ("eval", "exec", "__import__"):
                found.append(name)
    return found


def test_no_pickle_or_unsafe_loads_in_package():
    offenders = {
        str(path.relative_to(PACKAGE)): calls
        for path in PACKAGE.rglob("*.py")
        if (calls := _unsafe_calls(ast.parse(path.read_text())))
    }
    assert offenders == {}
    # the scanner itself must catch what it looks for
    bad = "import pickle\nfrom joblib import dump\nimport torch\ntorch.load(f)\nnp.load(f)\n"
    assert len(_unsafe_calls(ast.parse(bad))) == 4
    assert _unsafe_calls(ast.parse("torch.load(f, weights_only=True)")) == []


# ------------------------------------------------------------ property-based tests
PROPERTY = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def tables(draw):
    n = draw(st.integers(2, 40))
    f = draw(st.integers(1, 5))
    values = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, width=32)
    X = draw(hnp.arrays(np.float64, (n, f), elements=values))
    k = draw(st.integers(1, 4))
    return X, k


def _near_singular_table() -> tuple[np.ndarray, int]:
    """Found by hypothesis: its one-component mixture is nearly singular (condition ~1e6)."""
    X = np.zeros((36, 2))
    X[0, 0], X[2, 0] = 1539.0, -1.0
    return X, 1


def _subnormal_spread_table() -> tuple[np.ndarray, int]:
    """Found by hypothesis: a column differing only by float32's smallest subnormal
    (its 1 / spread overflowed float32, and training diverged on the first step)."""
    return np.array([[1.40129846e-45], [0.0]]), 1


def test_spreads_below_float32_normals_scale_as_constant_columns():
    from dagmm.training import SMALLEST_SPREAD, scale_from_spread

    spread = np.array([0.0, SMALLEST_SPREAD / 2, SMALLEST_SPREAD, 2.0, np.nan, np.inf])
    scale = scale_from_spread(spread)
    np.testing.assert_array_equal(scale, [1.0, 1.0, 1.0 / SMALLEST_SPREAD, 0.5, 1.0, 0.0])
    assert np.isfinite(scale.astype(np.float32)).all()  # the network's dtype
    assert scale_from_spread(spread.astype(np.float32)).dtype == np.float32


@PROPERTY
@given(tables(), st.integers(0, 2**16))
@example(_near_singular_table(), 1)
@example(_subnormal_spread_table(), 0)
def test_property_energies_finite_deterministic_batch_and_order_free(table, seed):
    X, k = table
    params = {"epochs": 2, "n_components": k, "hidden_sizes": (4,), "batch_size": 16}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = DAGMM(**params, random_state=seed).fit(X)
        b = DAGMM(**params, random_state=seed).fit(X)
    scores = a.decision_function(X)
    assert np.isfinite(scores).all() and np.isfinite(a.decision_scores_).all()
    np.testing.assert_array_equal(scores, b.decision_function(X))  # deterministic
    one_by_one = np.concatenate([a.decision_function(X[i : i + 1]) for i in range(len(X))])
    # float32 network: batch shapes change the last bits of z, and a nearly singular
    # covariance amplifies them in the energy (5.3e-4 relative on the example above)
    np.testing.assert_allclose(one_by_one, scores, rtol=1e-3, atol=1e-3)
    order = np.random.default_rng(seed).permutation(len(X))
    np.testing.assert_allclose(a.decision_function(X[order]), scores[order], rtol=1e-4, atol=1e-4)


def test_a_row_scored_alone_gets_the_energy_it_gets_among_others():
    """Until 2026-12-07 one row was scored with BLAS matrix-vector products, whose sums
    run in another order than a matrix product's: alone, its energy differed from its
    energy among other rows (6.7e-6 here) and a row at the threshold could change its
    label when scored as it streams in. A lone row (a chunk's last one too) is now
    scored as a pair; on the CPU engine every row's energy is then that of the batch."""
    X = np.random.default_rng(0).normal(size=(200, 6))
    model = DAGMM(**TINY, random_state=0).fit(X)
    batch = model.decision_function(X)
    alone = np.array([model.decision_function(X[i : i + 1])[0] for i in range(40)])
    paired = model.decision_function(X[:41])[:40]  # the same kernels as any batch
    np.testing.assert_array_equal(
        alone, np.array([model.decision_function(X[i : i + 2])[0] for i in range(40)])
    )
    np.testing.assert_allclose(alone, paired, rtol=1e-12)
    np.testing.assert_allclose(alone, batch[:40], rtol=1e-12)
    assert list(model.predict(X[:40])) == [model.predict(X[i : i + 1])[0] for i in range(40)]


@PROPERTY
@given(st.integers(3, 60), st.integers(1, 25))
def test_property_file_scoring_independent_of_chunk_size(tmp_path_factory, frame_model, n, chunk):
    from dagmm.batch import score_file

    frame = _frame(n, seed=n)
    model = frame_model[0]
    folder = tmp_path_factory.mktemp("chunks")
    frame.to_csv(folder / "in.csv", index=False)
    score_file(model, folder / "in.csv", folder / "out.csv", chunk_rows=chunk)
    np.testing.assert_allclose(
        pd.read_csv(folder / "out.csv")["energy"],
        model.decision_function(frame),
        rtol=1e-4,  # float32 matmuls of different batch shapes differ in the last bits
        atol=1e-4,
    )


# ------------------------------------------------------------------ the report page
def _test_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")
    }


def test_reliability_page_matches_tests():
    page = (ROOT / "docs" / "reliability.md").read_text()
    cited = set(re.findall(r"`(tests/test_\w+\.py)::(test_\w+)(?:\[[^\]`]*\])?`", page))
    assert cited, "no test references found in docs/reliability.md"
    missing = [f"{f}::{t}" for f, t in cited if t not in _test_names(ROOT / f)]
    assert missing == [], f"the page cites tests that do not exist: {missing}"
    for name in ("test_reliability.py", "test_faults.py", "test_fuzz.py"):
        uncited = _test_names(ROOT / "tests" / name) - {t for f, t in cited if f.endswith(name)}
        assert uncited == set(), f"tests/{name} has tests the page does not list: {uncited}"
    # parametrised cases: every case is on the page, and every case on the page exists
    for test, cases in (
        ("test_cli_bad_input_is_one_line", CLI_CASES),
        ("test_document_schema_refuses", DOCUMENT_CASES),
        ("test_forged_tensors_are_refused", FORGERIES),
    ):
        listed = set(re.findall(rf"::{test}\[(\w+)\]", page))
        assert listed == set(cases), (test, listed ^ set(cases))
