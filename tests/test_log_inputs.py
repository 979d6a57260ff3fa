"""``log_inputs``: numeric columns through sign(x) log(1 + |x|) before scaling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _cli import invoke
from _modelfile import rewrite_document

import dagmm
from dagmm import DAGMM, InvalidInputError, ModelFileError
from dagmm.estimator import _encode_numeric_fast
from dagmm.persistence import model_bytes
from dagmm.tabular import TabularEncoder, symexp, symlog


def heavy_tailed(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "bytes": rng.lognormal(6.0, 2.5, n),  # spans about six orders of magnitude
            "delta": rng.standard_cauchy(n) * 50.0,  # heavy tails of both signs
            "count": rng.poisson(3.0, n),
            "proto": rng.choice(["tcp", "udp", "icmp"], n),
        }
    )


def test_symlog_is_odd_monotone_and_inverted_by_symexp():
    x = np.array([-1e30, -1e6, -3.5, -1e-9, 0.0, 1e-9, 0.5, 1.0, 7.0, 1e6, 1e300])
    y = symlog(x)
    assert y[4] == 0.0
    np.testing.assert_array_equal(symlog(-x), -y)
    assert np.all(np.diff(y) > 0)
    np.testing.assert_allclose(symlog(np.array([1e-9])), [1e-9], rtol=1e-8)  # identity near 0
    np.testing.assert_allclose(symexp(y), x, rtol=1e-12)
    assert np.isfinite(y).all() and y.max() < 691


def test_fit_with_log_inputs_is_fit_on_the_transformed_table():
    frame = heavy_tailed()
    numeric = ["bytes", "delta", "count"]
    transformed = frame.copy()
    transformed[numeric] = symlog(frame[numeric].to_numpy())
    with_option = DAGMM(epochs=4, batch_size=64, random_state=0, log_inputs=True).fit(frame)
    by_hand = DAGMM(epochs=4, batch_size=64, random_state=0).fit(transformed)
    np.testing.assert_array_equal(with_option.decision_scores_, by_hand.decision_scores_)
    np.testing.assert_array_equal(
        with_option.decision_function(frame), by_hand.decision_function(transformed)
    )
    without = DAGMM(epochs=4, batch_size=64, random_state=0).fit(frame)
    assert not np.allclose(without.decision_scores_, with_option.decision_scores_)


def test_one_hot_columns_are_left_alone():
    frame = heavy_tailed()
    encoded = TabularEncoder(log_inputs=True).fit(frame).transform(frame)
    plain = TabularEncoder().fit(frame).transform(frame)
    np.testing.assert_array_equal(encoded[:, 3:], plain[:, 3:])  # proto=icmp, tcp, udp
    np.testing.assert_allclose(encoded[:, :3], symlog(plain[:, :3]), rtol=1e-6)


@pytest.mark.parametrize("kind", ["float64", "int64", "frame", "beyond_float32"])
def test_fast_encoding_equals_the_general_path_with_log_inputs(kind):
    rng = np.random.default_rng(1)
    values = rng.standard_cauchy((300, 4)) * 1e3
    if kind == "int64":
        values = values.astype(np.int64)
    if kind == "beyond_float32":
        values[5, 2] = 1e300  # finite in float64, the log brings it in range
    data = pd.DataFrame(values, columns=list("abcd")) if kind == "frame" else values
    encoder = TabularEncoder(log_inputs=True).fit(data)
    general = encoder.transform(data)
    fast = _encode_numeric_fast(encoder, data)
    assert fast is not None and fast.dtype == np.float32
    np.testing.assert_array_equal(fast, general)
    assert np.isfinite(general).all()


def test_log_inputs_survive_save_and_load(tmp_path):
    frame = heavy_tailed()
    model = DAGMM(epochs=3, batch_size=64, random_state=0, log_inputs=True).fit(frame)
    path = tmp_path / "m.dagmm"
    model.save(path)
    loaded = dagmm.load(path)
    assert loaded.log_inputs is True and loaded.encoder_.log_inputs is True
    np.testing.assert_array_equal(loaded.decision_function(frame), model.decision_function(frame))


def test_files_written_before_the_option_load_without_it(tmp_path):
    frame = heavy_tailed()
    model = DAGMM(epochs=3, batch_size=64, random_state=0).fit(frame)

    def drop(header, doc):
        del doc["encoder"]["log_inputs"]
        del doc["params"]["log_inputs"]

    path = tmp_path / "old.dagmm"
    path.write_bytes(rewrite_document(model_bytes(model), drop))
    loaded = dagmm.load(path)
    assert loaded.log_inputs is False and loaded.encoder_.log_inputs is False
    np.testing.assert_array_equal(loaded.decision_function(frame), model.decision_function(frame))


@pytest.mark.parametrize("where", ["encoder", "params"])
def test_a_non_boolean_log_inputs_in_a_file_is_refused(tmp_path, where):
    frame = heavy_tailed()
    model = DAGMM(epochs=1, batch_size=64, random_state=0).fit(frame)

    def corrupt(header, doc):
        doc[where]["log_inputs"] = "yes"

    path = tmp_path / "bad.dagmm"
    path.write_bytes(rewrite_document(model_bytes(model), corrupt))
    with pytest.raises(ModelFileError, match="log_inputs"):
        dagmm.load(path)


def test_a_non_boolean_log_inputs_parameter_is_refused():
    with pytest.raises(InvalidInputError, match="log_inputs must be True or False"):
        DAGMM(epochs=1, log_inputs="yes").fit(heavy_tailed())


def test_explanations_report_values_in_the_columns_own_units():
    frame = heavy_tailed()
    model = DAGMM(epochs=3, batch_size=64, random_state=0, log_inputs=True).fit(frame)
    rows = frame.iloc[:20]
    table = model.explain(rows)
    for column in ("bytes", "delta", "count"):
        part = table[table["column"] == column].sort_values("row")
        np.testing.assert_allclose(
            part["value"].to_numpy(dtype=float), rows[column].to_numpy(dtype=float), rtol=1e-5
        )
        expected = part["expected"].to_numpy(dtype=float)
        assert np.isfinite(expected).all()
    # the most normal "bytes" lies within the training range, in bytes (not log bytes)
    expected_bytes = table.loc[table["column"] == "bytes", "expected"].to_numpy(dtype=float)
    assert expected_bytes.max() > 10.0 * symlog(frame["bytes"].to_numpy()).max()


def test_cli_fit_with_log_inputs_and_info(tmp_path):
    frame = heavy_tailed()
    frame.to_csv(tmp_path / "flows.csv", index=False)
    model = tmp_path / "m.dagmm"
    code, output = invoke(
        "fit", tmp_path / "flows.csv", "--out", model, "--epochs", 2, "--random-state", 0,
        "--log-inputs",
    )  # fmt: skip
    assert code == 0, output
    assert dagmm.load(model).encoder_.log_inputs is True
    code, output = invoke("info", model)
    assert code == 0 and "log(1 + |x|)" in output, output
