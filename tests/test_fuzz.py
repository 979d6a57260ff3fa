"""Fuzzing the readers of untrusted files: only documented exceptions may come out.

``dagmm.persistence.load_bytes`` (what ``dagmm.load`` runs on a file's bytes)
and ``dagmm.tableio.read_table`` get random bytes, mutated valid files and
mutated JSON documents. Every outcome must be either a clean
:class:`~dagmm.DAGMMError` or a successful load whose scores are finite.
The longer atheris variant: ``python fuzz/fuzz_load.py``.
"""

from __future__ import annotations

import os
import struct

import numpy as np
import pandas as pd
import pytest
from _modelfile import read_document, rewrite_document
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dagmm import DAGMM, DAGMMError
from dagmm.persistence import load_bytes, model_bytes
from dagmm.tableio import read_table

#: DAGMM_FUZZ_EXAMPLES=2000 for a longer run than the default suite's.
FUZZ = settings(
    max_examples=int(os.environ.get("DAGMM_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def model_file():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=40), "c": rng.choice(["x", "y"], 40)})
    model = DAGMM(epochs=1, n_components=2, hidden_sizes=(4,), random_state=0).fit(frame)
    return model_bytes(model), frame


def _load_or_clean_error(data: bytes, frame: pd.DataFrame | None = None) -> None:
    try:
        model = load_bytes(data, "fuzz")
    except DAGMMError as exc:
        assert str(exc).startswith("fuzz"), str(exc)
        assert "\n" not in str(exc)
        return
    if frame is not None:  # whatever loaded must score cleanly or raise a clean error
        try:
            assert np.isfinite(model.decision_function(frame)).all()
        except DAGMMError:
            pass


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes_never_escape(data):
    _load_or_clean_error(data)


@FUZZ
@given(st.binary(min_size=8, max_size=512))
def test_random_header_after_plausible_length(tail):
    # a length prefix that fits, so the bytes reach the JSON and safetensors parsers
    _load_or_clean_error(struct.pack("<Q", len(tail)) + tail)


@FUZZ
@given(data=st.data())
def test_mutated_model_file(model_file, data):
    raw, frame = model_file
    mutated = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 8), label="flips")):
        pos = data.draw(st.integers(0, len(mutated) - 1), label="pos")
        mutated[pos] = data.draw(st.integers(0, 255), label="byte")
    cut = data.draw(st.integers(0, len(mutated)), label="cut")
    if data.draw(st.booleans(), label="truncate"):
        mutated = mutated[:cut]
    _load_or_clean_error(bytes(mutated), frame)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*prefix, i))


@FUZZ
@given(data=st.data())
def test_mutated_document(model_file, data):
    """Replace any value of the JSON document (params included) by random JSON."""
    raw, frame = model_file
    paths = [p for p in _paths(read_document(raw)) if p]
    path = data.draw(st.sampled_from(paths), label="path")
    value = data.draw(JSON_VALUES, label="value")
    delete = data.draw(st.booleans(), label="delete")

    def edit(header, node):
        parent = node
        for key in path[:-1]:
            parent = parent[key]
        if delete and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = value

    _load_or_clean_error(rewrite_document(raw, edit), frame)


@FUZZ
@given(
    data=st.binary(max_size=1024),
    suffix=st.sampled_from([".csv", ".tsv", ".parquet", ".feather", ".arrow", ".jsonl"]),
)
def test_table_reader_random_bytes(tmp_path_factory, data, suffix):
    path = tmp_path_factory.mktemp("fuzz") / f"t{suffix}"
    path.write_bytes(data)
    try:
        frame = read_table(path)
    except DAGMMError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
        return
    assert isinstance(frame, pd.DataFrame)


@FUZZ
@given(data=st.data())
def test_table_reader_mutated_files(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("fuzzmut")
    frame = pd.DataFrame({"a": np.arange(20.0), "b": ["x", "y"] * 10})
    suffix = data.draw(st.sampled_from([".csv", ".parquet", ".feather", ".jsonl"]), label="suffix")
    path = folder / f"t{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif suffix == ".feather":
        frame.to_feather(path)
    else:
        frame.to_json(path, orient="records", lines=True)
    raw = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 6), label="flips")):
        pos = data.draw(st.integers(0, len(raw) - 1), label="pos")
        raw[pos] = data.draw(st.integers(0, 255), label="byte")
    path.write_bytes(bytes(raw[: data.draw(st.integers(0, len(raw)), label="cut")]))
    try:
        read_table(path)
    except DAGMMError as exc:
        assert "\n" not in str(exc)
