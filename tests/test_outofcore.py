"""Sampling a large file, the exact whole-file mixture and threshold, and exact quantiles."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from dagmm import DAGMM, load
from dagmm.exceptions import InvalidInputError
from dagmm.outofcore import refit_mixture_on_file, sample_table
from dagmm.quantile import exact_median, exact_quantile
from dagmm.tableio import DataFileError
from dagmm.training import fitted_mixture, stream_statistics


@pytest.fixture
def table(tmp_path: Path) -> tuple[pd.DataFrame, Path, Path]:
    rng = np.random.default_rng(2)
    n = 1500
    frame = pd.DataFrame(rng.normal(size=(n, 3)) @ rng.normal(size=(3, 4)), columns=list("abcd"))
    frame["kind"] = rng.choice(["x", "y"], size=n)
    frame.insert(0, "row", np.arange(n))
    csv, parquet = tmp_path / "t.csv", tmp_path / "t.parquet"
    frame.to_csv(csv, index=False)
    frame.to_parquet(parquet)
    return frame, csv, parquet


def test_sample_is_a_reproducible_uniform_subset(table) -> None:
    frame, csv, parquet = table
    a = sample_table(csv, 200, random_state=1, chunk_rows=128)
    assert len(a) == 200 and a["row"].is_unique and a["row"].is_monotonic_increasing
    # Rows are the file's rows, unchanged, indexed by their positions in the file.
    pd.testing.assert_frame_equal(a, frame.iloc[a["row"].to_numpy()])
    # Same seed, same sample, whatever the format or the chunking.
    b = sample_table(parquet, 200, random_state=1, chunk_rows=128)
    np.testing.assert_array_equal(a["row"], b["row"])
    c = sample_table(csv, 200, random_state=2, chunk_rows=500)
    assert not np.array_equal(a["row"], c["row"])
    # Uniform: over many seeds each third of the file is drawn about a third of the time.
    drawn = np.concatenate(
        [sample_table(parquet, 60, random_state=s, chunk_rows=256)["row"] for s in range(30)]
    )
    share = np.bincount(drawn * 3 // len(frame), minlength=3) / len(drawn)
    np.testing.assert_allclose(share, 1 / 3, atol=0.05)
    assert len(sample_table(csv, 10_000)) == len(frame)  # fewer rows than asked: all of them


def test_refit_gives_the_exact_whole_file_mixture_and_threshold(table) -> None:
    frame, csv, _ = table
    features = frame.drop(columns="row")
    sample = sample_table(csv, 300, random_state=0, chunk_rows=256).drop(columns="row")
    model = DAGMM(epochs=3, random_state=0, contamination=0.2, device="cpu").fit(sample)
    sample_threshold = model.threshold_
    # a share changed after fit takes effect at the refit, which sets the threshold
    model.set_params(contamination=0.1)
    n = refit_mixture_on_file(model, csv, training_rows=sample, chunk_rows=100, quantile_small=50)
    assert model.contamination_ == 0.1  # the share the new threshold flags
    assert n == len(frame)
    # Reference: the in-memory exact pass over all rows with the trained network.
    x = torch.from_numpy(model.encoder_.transform(features))
    expected = fitted_mixture(stream_statistics(model.net_, x, [torch.arange(n)]), model.reg_covar)
    # Same statistics; only the float32 network's round-off differs with the chunk shape.
    np.testing.assert_allclose(model.weights_, expected.weights[0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(model.means_, expected.means[0].numpy(), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(
        model.covariances_, expected.covariances[0].numpy(), rtol=1e-5, atol=1e-9
    )
    energies = model.decision_function(features)
    assert model.threshold_ == np.percentile(energies, 90.0)
    assert model.threshold_ != sample_threshold
    assert model.score_stats_["max"] == energies.max()
    np.testing.assert_allclose(model.score_stats_["std"], energies.std(), rtol=1e-10)
    np.testing.assert_array_equal(model.decision_scores_, model.decision_function(sample))


def test_refit_on_a_file_without_rows_names_it_and_keeps_the_model(table, tmp_path) -> None:
    frame = table[0]
    features = frame.drop(columns="row")
    model = DAGMM(epochs=1, random_state=0, device="cpu").fit(features.iloc[:200])
    before = (model.weights_.copy(), model.threshold_)
    # A Parquet file without rows yields no chunk; a header-only CSV yields an empty one.
    for name in ("empty.parquet", "header_only.csv"):
        empty = tmp_path / name
        if name.endswith(".csv"):
            frame.iloc[:0].to_csv(empty, index=False)
        else:
            frame.iloc[:0].to_parquet(empty)
        with pytest.raises((DataFileError, InvalidInputError), match=rf"{name}: .*no rows"):
            refit_mixture_on_file(model, empty)
    np.testing.assert_array_equal(model.weights_, before[0])
    assert model.threshold_ == before[1]


def test_cli_fit_sample_rows(table, tmp_path: Path) -> None:
    _, _, parquet = table
    out = tmp_path / "m.dagmm"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dagmm.cli.main",
            "fit",
            str(parquet),
            "--out",
            str(out),
            "--sample-rows",
            "400",
            "--epochs",
            "2",
            "--exclude",
            "row",
            "--random-state",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "over all 1500 rows" in result.stdout
    model = load(out)
    assert len(model.decision_scores_) == 400


def test_cli_after_sample_rows_the_models_own_share_is_its_exact_threshold(
    table, tmp_path: Path
) -> None:
    """`dagmm info` and `score --contamination` at the model's own share use its
    whole-file threshold_ (README: "the model's own threshold_ is
    threshold_at(contamination)"), not the sample's estimate of it."""
    import json

    from click.testing import CliRunner

    from dagmm.cli.main import cli

    _, csv, parquet = table
    out = tmp_path / "m.dagmm"
    argv = ["fit", str(parquet), "--out", str(out), "--sample-rows", "300", "--epochs", "2"]
    fitted = CliRunner().invoke(cli, [*argv, "--exclude", "row", "--random-state", "0"])
    assert fitted.exit_code == 0, fitted.output
    model = load(out)
    assert model.contamination == 0.1
    # the model's own share is its own threshold (until 2026-12-07 threshold_at gave the
    # sample's estimate, which differs)
    assert model.threshold_at(0.1) == model.threshold_
    assert np.quantile(model.decision_scores_, 0.9) != pytest.approx(model.threshold_)
    info = CliRunner().invoke(cli, ["info", str(out), "--json"])
    cuts = json.loads(info.output)["training_energy_thresholds"]
    assert cuts["0.1"] == model.threshold_
    assert cuts["0.01"] == model.threshold_at(0.01)
    assert json.loads(info.output)["training_energies"] == 300
    # the text says the others are the sample's, and leaves the exact cut out of their
    # list (until 2026-12-07 one list mixing them, out of order on small samples)
    text = CliRunner().invoke(cli, ["info", str(out)]).output
    line = next(x for x in text.splitlines() if "other alert rates" in x)
    assert "(--contamination), from the 300 training energies: 0.5: " in line, line
    assert " 0.1: " not in line and f"0.01: {model.threshold_at(0.01):.6g}" in line, line

    def flagged(*options: str) -> np.ndarray:
        scores = tmp_path / "s.csv"
        argv = ["score", str(out), str(csv), "--out", str(scores), *options]
        result = CliRunner().invoke(cli, argv)
        assert result.exit_code == 0, result.output
        return pd.read_csv(scores)["is_anomaly"].to_numpy()

    np.testing.assert_array_equal(flagged("--contamination", "0.1"), flagged())


def test_cli_sample_rows_bad_row_names_file_and_row(table, tmp_path: Path) -> None:
    frame, _, _ = table
    bad = frame.copy()
    bad.loc[1400, "b"] = np.nan  # an empty cell
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dagmm.cli.main",
            "fit",
            str(path),
            "--out",
            str(tmp_path / "m.dagmm"),
            "--sample-rows",
            "100",
            "--epochs",
            "1",
            "--exclude",
            "row",
            "--random-state",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    # The sample leaves row 1400 out; the whole-file pass finds it and names file, column, row.
    assert result.returncode == 2
    assert "bad.csv" in result.stderr and "'b'" in result.stderr and "row(s) 1400" in result.stderr
    assert not (tmp_path / "m.dagmm").exists()


def test_cli_sample_rows_bad_row_in_the_sample_names_the_file_row(table, tmp_path) -> None:
    from click.testing import CliRunner

    from dagmm.cli.main import cli

    frame, _, _ = table
    bad = frame.copy()
    bad.loc[1400, "b"] = np.nan
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    argv = ["fit", str(path), "--out", str(tmp_path / "m.dagmm"), "--sample-rows", "1499"]
    result = CliRunner().invoke(cli, [*argv, "--epochs", "1", "--random-state", "0"])
    # Row 1400 is in the sample: fit names it as the file's row 1400. Until 2026-12-05 it
    # named its position in the sample (row 1399 here), which is no row of the file.
    assert result.exit_code == 2, result.output
    assert "column 'b' has 1 non-finite value(s) (NaN; row(s) 1400)" in result.output
    assert not (tmp_path / "m.dagmm").exists()


def _heavy_tailed_with_ties(n: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """n values over 16 orders of magnitude, a third of them rounded (ties), and 7 chunks."""
    rng = np.random.default_rng(n)
    values = rng.standard_cauchy(n) * 10.0 ** rng.integers(-8, 8, size=n)
    values[: n // 3] = np.round(values[: n // 3])
    return values, np.array_split(values, 7)


@pytest.mark.parametrize("n", [1, 2, 5, 999, 20_000])
def test_exact_quantile_equals_numpy(n: int) -> None:
    values, chunks = _heavy_tailed_with_ties(n)
    for q in (0.0, 0.05, 0.5, 0.9, 0.999, 1.0):
        for small in (1, 100, 1 << 16):
            got = exact_quantile(lambda: chunks, q, n, small=small)
            assert got == np.percentile(values, 100 * q), (q, small)


@pytest.mark.parametrize("n", [1, 2, 5, 1000, 20_001])
def test_exact_median_equals_numpy(n: int) -> None:
    values, chunks = _heavy_tailed_with_ties(n)
    for small in (1, 100, 1 << 16):
        assert exact_median(lambda: chunks, n, small=small) == np.median(values), small


def test_words_like_na_read_the_same_in_every_chunk(tmp_path: Path) -> None:
    from dagmm.distributed import read_shard
    from dagmm.tableio import iter_table, read_table

    # In chunks of 4 rows, the second chunk's region holds nothing but "NA" (and an
    # empty field): read alone it would look like a column of missing values.
    lines = ["x,region,flag"] + [f"{i}.5,EU,True" for i in range(4)]
    lines += ["NA,NA,NA", "nan,NA,False", ",,", "6.5,NA,true", "7,None,true"]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    whole = read_table(tmp_path / "t.csv")
    assert whole["x"].dtype == np.float64 and whole["x"].isna().tolist() == [0] * 4 + [
        1,
        1,
        1,
        0,
        0,
    ]
    assert whole["region"].tolist()[4:] == ["NA", "NA", np.nan, "NA", "None"]
    assert whole["flag"].isna().tolist() == [0] * 4 + [1, 0, 1, 0, 0]
    assert whole["flag"].dropna().map(type).eq(bool).all()
    sampled = sample_table(tmp_path / "t.csv", 100, random_state=0, chunk_rows=4)
    pd.testing.assert_frame_equal(sampled, whole, check_dtype=False)
    shard = read_shard(tmp_path / "t.csv", 0, 1, chunk_rows=4)
    pd.testing.assert_frame_equal(shard, whole, check_dtype=False)
    # A known layout: "NA" stays a category even in a chunk that holds nothing else.
    chunks = list(iter_table(tmp_path / "t.csv", 2, text_columns=["region"]))
    assert chunks[2]["region"].tolist() == ["NA", "NA"]
    assert chunks[2]["x"].isna().tolist() == [True, True]


def test_a_sample_and_a_shard_type_each_column_as_the_whole_file_does(tmp_path):
    """Until 2026-12-05 `fit --sample-rows` and `fit --distributed` typed each chunk of a
    CSV alone: a chunk holding only the codes 01 and 02 of a column that also holds A7 read
    them as the numbers 1 and 2, so the model learnt the categories "1" and "01" for one
    value (and scoring, which reads the column as text, never saw "1")."""
    from dagmm.distributed import read_shard
    from dagmm.outofcore import sample_table
    from dagmm.tableio import read_table

    rng = np.random.default_rng(0)
    n = 240
    code = np.where(np.arange(n) < 120, rng.choice(["01", "02"], n), rng.choice(["01", "A7"], n))
    frame = pd.DataFrame(
        {
            "code": code,
            "x": rng.normal(size=n).round(4),
            "count": rng.integers(0, 9, n),
            "flag": rng.choice(["true", "false"], n),
            "level": np.where(np.arange(n) % 7 == 0, "NA", rng.integers(0, 5, n).astype(str)),
        }
    )
    data = tmp_path / "flows.csv"
    frame.to_csv(data, index=False)
    whole = read_table(data)
    assert whole["code"].map(type).eq(str).all() and whole["level"].dtype == float  # NA: missing
    sample = sample_table(data, n, random_state=0, chunk_rows=50)
    pd.testing.assert_frame_equal(sample, whole)
    shard = read_shard(data, 1, 2, chunk_rows=50)
    pd.testing.assert_frame_equal(shard, whole.iloc[1::2])
    model = DAGMM(epochs=1, random_state=0, missing="impute").fit(sample)
    assert model.encoder_.categories["code"] == ["01", "02", "A7"]
