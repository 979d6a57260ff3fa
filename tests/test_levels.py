"""Each column's few distinct training values (dagmm.levels), against np.unique."""

from __future__ import annotations

import numpy as np
import pytest

from dagmm import levels as levels_module
from dagmm.levels import (
    MAX_LEVELS,
    column_levels,
    member_levels,
    merge_levels,
    pack_levels,
    unpack_levels,
)


def _reference(values: np.ndarray, max_levels: int = MAX_LEVELS) -> list:
    out = []
    for column in values.T:
        seen = np.unique(column).astype(np.float64)
        out.append(seen if len(seen) <= max_levels else None)
    return out


def _assert_same(got: list, want: list) -> None:
    assert len(got) == len(want)
    for f, (a, b) in enumerate(zip(got, want, strict=True)):
        if b is None:
            assert a is None, f
        else:
            assert a is not None and a.dtype == np.float64, f
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("block_values", [levels_module._BLOCK_VALUES, 9_000, 1])
def test_levels_equal_the_distinct_values_where_few(monkeypatch, block_values):
    # one block after the head, several, and the smallest (1,024 rows at a time)
    monkeypatch.setattr(levels_module, "_BLOCK_VALUES", block_values)
    rng = np.random.default_rng(0)
    n = 140_000
    columns = {
        "flag": (rng.random(n) < 0.1).astype(np.float32),
        "constant": np.full(n, 7.5, np.float32),
        "count": rng.poisson(2.0, n).clip(max=20).astype(np.float32),
        "exactly_max": rng.integers(0, MAX_LEVELS, n).astype(np.float32),
        "one_too_many": rng.integers(0, MAX_LEVELS + 1, n).astype(np.float32),
        "measurement": rng.normal(size=n).astype(np.float32),
        # few values in the head, many later: dropped in a later block
        "late_spread": np.where(np.arange(n) < 5000, 0.0, rng.normal(size=n)).astype(np.float32),
        # a value first seen in the last rows
        "late_value": np.where(np.arange(n) == n - 1, 3.0, rng.integers(0, 2, n)).astype(
            np.float32
        ),
        "signed_zeros": np.where(rng.random(n) < 0.5, -0.0, 0.0).astype(np.float32),
    }
    values = np.stack(list(columns.values()), axis=1)
    got = column_levels(values)
    _assert_same(got, _reference(values))
    named = dict(zip(columns, got, strict=True))
    assert named["one_too_many"] is None and named["late_spread"] is None
    np.testing.assert_array_equal(named["late_value"], [0.0, 1.0, 3.0])
    assert len(named["exactly_max"]) == MAX_LEVELS
    # a strided view (a column subset of a wider table) and no rows
    _assert_same(column_levels(values[::3, ::2]), _reference(values[::3, ::2]))
    assert column_levels(values[:0]) == [None] * values.shape[1]


def test_only_the_columns_asked_for_and_stand_ins_not_held_by_any_row():
    rng = np.random.default_rng(2)
    n = 3000
    flag = (rng.random(n) < 0.5).astype(np.float32)
    count = rng.integers(0, 4, n).astype(np.float32)
    values = np.stack([flag, count, flag], axis=1)
    stand_ins = np.zeros(values.shape, dtype=bool)
    stand_ins[::10, 0] = True  # missing values given the median 0.5, which no row holds
    values[::10, 0] = 0.5
    stand_ins[::7, 1] = True  # ... and the median 2, which rows do hold
    values[::7, 1] = 2.0
    got = column_levels(values, columns=[0, 1], stand_ins=stand_ins)
    np.testing.assert_array_equal(got[0], [0.0, 1.0])
    np.testing.assert_array_equal(got[1], [0.0, 1.0, 2.0, 3.0])
    assert got[2] is None  # not asked for
    np.testing.assert_array_equal(column_levels(values)[0], [0.0, 0.5, 1.0])
    # each member's rows; members on the same rows share one result
    rows = [np.arange(0, 100), np.arange(100, 3000), np.arange(0, 100)]
    values[:100, 1] = 0.0
    per = member_levels(values, rows, [1], stand_ins)
    np.testing.assert_array_equal(per[0][1], [0.0])
    np.testing.assert_array_equal(per[1][1], [0.0, 1.0, 2.0, 3.0])
    assert per[2] is per[0] and per[0][0] is None


def test_merged_levels_are_those_of_the_union():
    rng = np.random.default_rng(1)
    values = np.stack(
        [
            rng.integers(0, 3, 400),
            np.where(np.arange(400) < 200, 0, rng.integers(0, 40, 400)),  # many in one part
            np.r_[rng.integers(0, 20, 200), rng.integers(20, 40, 200)],  # few in each, many in all
            np.r_[np.zeros(200), np.ones(200)],  # 0 in one part, 1 in the other
        ],
        axis=1,
    ).astype(np.float32)
    parts = [column_levels(values[:200]), column_levels(values[200:])]
    _assert_same(merge_levels(parts), _reference(values))
    np.testing.assert_array_equal(merge_levels(parts)[3], [0.0, 1.0])


def test_packed_levels_round_trip_and_tampering_is_named():
    levels = [np.array([0.0, 1.0]), None, np.array([-2.0, 0.5, 9.0])]
    values, counts = pack_levels(levels)
    assert values.shape == (MAX_LEVELS, 3) and counts.dtype == np.int64
    _assert_same(unpack_levels(values, counts), levels)

    def broken(edit):
        v, c = values.copy(), counts.copy()
        edit(v, c)
        return v, c

    for edit, message in [
        (lambda v, c: c.__setitem__(0, MAX_LEVELS + 1), "column 0 has 33 levels"),
        (lambda v, c: c.__setitem__(2, -1), "column 2 has -1 levels"),
        (lambda v, c: v.__setitem__((1, 2), -5.0), "column 2's levels are not sorted"),
        (lambda v, c: v.__setitem__((0, 0), 1.0), "column 0's levels are not sorted"),
        (lambda v, c: v.__setitem__((5, 0), 0.0), "column 0's levels are not sorted"),
    ]:
        with pytest.raises(ValueError, match=message):
            unpack_levels(*broken(edit))
    with pytest.raises(ValueError, match="do not match"):
        unpack_levels(values, counts[:2])
