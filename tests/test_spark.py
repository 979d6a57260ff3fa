"""Scoring on Spark (local mode) gives the energies local scoring gives; bad rows fail clearly."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pyspark = pytest.importorskip("pyspark")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("Spark needs Java (none on PATH, JAVA_HOME unset)", allow_module_level=True)

from dagmm import DAGMM  # noqa: E402
from dagmm.spark import score_spark  # noqa: E402


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("dagmm-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "100")
        .getOrCreate()
    )
    yield session
    session.stop()


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    n = 1200
    values = rng.normal(size=(n, 4)) @ rng.normal(size=(4, 4))
    values[-40:] += rng.uniform(4, 8, size=(40, 4))
    out = pd.DataFrame(values, columns=["a", "b", "c", "d"])
    out["proto"] = rng.choice(["tcp", "udp", "icmp"], size=n)
    out.insert(0, "row_id", np.arange(n))
    return out


@pytest.fixture(scope="module")
def model(frame: pd.DataFrame) -> DAGMM:
    return DAGMM(epochs=3, random_state=0, contamination=0.05, device="cpu").fit(
        frame.drop(columns="row_id")
    )


def test_scores_equal_local_scoring(spark, frame, model, tmp_path: Path) -> None:
    path = tmp_path / "m.dagmm"
    model.save(path)
    df = spark.createDataFrame(frame).repartition(3)
    # batch_rows below the partition size: batches are merged and split within partitions.
    scored = score_spark(df, path, batch_rows=250).toPandas().sort_values("row_id")
    local = model.decision_function(frame.drop(columns="row_id"))
    assert list(scored.columns) == [*frame.columns, "energy", "is_anomaly"]
    assert len(scored) == len(frame)
    # Equal to float32 rounding: the network's float32 matmuls round a row differently
    # in batches of different sizes (local scoring with another chunk size differs as much).
    np.testing.assert_allclose(scored["energy"].to_numpy(), local, rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(
        scored["is_anomaly"].to_numpy(), model.predict(frame.drop(columns="row_id"))
    )
    # Pass-through columns are untouched.
    np.testing.assert_array_equal(scored["proto"].to_numpy(), frame["proto"].to_numpy())


def test_model_bytes_and_estimator_inputs(spark, frame, model) -> None:
    from dagmm.persistence import model_bytes

    df = spark.createDataFrame(frame.head(50))
    a = score_spark(df, model_bytes(model)).toPandas()["energy"].to_numpy()
    b = score_spark(df, model).toPandas()["energy"].to_numpy()
    np.testing.assert_array_equal(a, b)


def test_partition_with_bad_rows_fails_clearly(spark, frame, model) -> None:
    bad = frame.copy()
    bad["b"] = bad["b"].astype(object)
    bad.loc[7, "b"] = "oops"
    df = spark.createDataFrame(bad.astype({"b": str})).coalesce(1)
    with pytest.raises(Exception) as info:
        score_spark(df, model).collect()
    text = str(info.value)
    assert "SparkScoringError" in text and "partition 0" in text
    assert "'b'" in text and "oops" in text and "row(s) 7" in text


def test_missing_column_is_reported_before_the_job(spark, frame, model) -> None:
    df = spark.createDataFrame(frame.drop(columns="c").head(10))
    with pytest.raises(Exception, match=r"lacks the model's column\(s\) \['c'\]; it has"):
        score_spark(df, model)
    renamed = spark.createDataFrame(frame.rename(columns={"c": "C"}).head(10))
    with pytest.raises(Exception, match=r"\['c'\] \('c': did you mean 'C'\?\); it has"):
        score_spark(renamed, model)


def test_cli_engine_spark_parquet(frame, model, tmp_path: Path, spark) -> None:
    data = tmp_path / "in.parquet"
    frame.to_parquet(data)
    path = tmp_path / "m.dagmm"
    model.save(path)
    out = tmp_path / "scores.parquet"
    from dagmm.spark import score_parquet_spark

    # The CLI's code path, in this process so the JVM already running is reused.
    n = score_parquet_spark(path, data, out, id_column="row_id", master="local[2]")
    assert n.rows == n.written == len(frame)
    assert n.anomalies == int(
        (model.decision_function(frame.drop(columns="row_id")) > model.threshold_).sum()
    )
    got = pd.read_parquet(out).sort_values("row_id")
    assert list(got.columns) == ["row_id", "energy", "is_anomaly"]
    np.testing.assert_allclose(
        got["energy"].to_numpy(),
        model.decision_function(frame.drop(columns="row_id")),
        rtol=1e-5,
        atol=1e-4,
    )
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_spark_alerts_only_with_kept_columns(frame, model, tmp_path: Path, spark) -> None:
    from dagmm.exceptions import InvalidInputError
    from dagmm.spark import score_parquet_spark

    data, out = tmp_path / "in.parquet", tmp_path / "alerts.parquet"
    frame.to_parquet(data)
    energy = model.decision_function(frame.drop(columns="row_id"))
    flagged = np.flatnonzero(energy > model.threshold_)
    counts = score_parquet_spark(
        model, data, out, "row_id", "local[2]", keep_columns=["proto", "a"], only_anomalies=True
    )
    assert tuple(counts) == (len(frame), len(flagged), len(flagged))
    got = pd.read_parquet(out).sort_values("row_id")
    assert list(got.columns) == ["row_id", "proto", "a", "energy", "is_anomaly"]
    assert got["row_id"].tolist() == frame["row_id"].iloc[flagged].tolist()
    assert got["proto"].tolist() == frame["proto"].iloc[flagged].tolist()
    np.testing.assert_array_equal(got["a"].to_numpy(), frame["a"].iloc[flagged].to_numpy())
    np.testing.assert_allclose(got["energy"].to_numpy(), energy[flagged], rtol=1e-5, atol=1e-4)
    with pytest.raises(InvalidInputError, match="needs --id-column or --keep"):
        score_parquet_spark(model, data, tmp_path / "x.parquet", only_anomalies=True)
    assert not (tmp_path / "x.parquet").exists()
    # a copied column the file lacks is named with the option that asked for it
    lacking = tmp_path / "lacking.parquet"
    frame.drop(columns="a").to_parquet(lacking)
    with pytest.raises(
        InvalidInputError,
        match=r"missing column\(s\) \['a', 'rowid'\] \('rowid': did you mean 'row_id'\?\), "
        r"wanted by the model \('a'\) and --id-column \('rowid'\)",
    ):
        score_parquet_spark(model, lacking, tmp_path / "x.parquet", "rowid", "local[2]")
    with pytest.raises(InvalidInputError, match=r"\['prot'\] .*, wanted by --keep; the file"):
        score_parquet_spark(model, data, tmp_path / "x.parquet", keep_columns=["prot"])
    assert not (tmp_path / "x.parquet").exists()


def test_cli_engine_spark_at_another_alert_rate(frame, model, tmp_path: Path, spark) -> None:
    from click.testing import CliRunner

    from dagmm.cli.main import cli

    data, path, out = tmp_path / "in.parquet", tmp_path / "m.dagmm", tmp_path / "s.parquet"
    frame.to_parquet(data)
    model.save(path)
    argv = ["score", str(path), str(data), "--out", str(out), "--engine", "spark"]
    result = CliRunner().invoke(cli, [*argv, "--id-column", "row_id", "--contamination", "0.01"])
    assert result.exit_code == 0, result.output
    got = pd.read_parquet(out)
    cut = model.threshold_at(0.01)
    assert cut > model.threshold_
    np.testing.assert_array_equal(got["is_anomaly"], (got["energy"] > cut).astype(np.int8))
    assert 0 < got["is_anomaly"].sum() < 0.05 * len(frame)


@pytest.mark.slow
def test_cli_engine_spark_subprocess(frame, model, tmp_path: Path) -> None:
    data = tmp_path / "in.parquet"
    frame.to_parquet(data)
    path = tmp_path / "m.dagmm"
    model.save(path)
    out = tmp_path / "scores.parquet"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dagmm.cli.main",
            "score",
            str(path),
            str(data),
            "--out",
            str(out),
            "--id-column",
            "row_id",
            "--engine",
            "spark",
            "--spark-master",
            "local[2]",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert len(pd.read_parquet(out)) == len(frame)


def test_engine_spark_bad_rows_end_in_a_dagmm_error_and_no_output(spark, frame, model, tmp_path):
    from dagmm.exceptions import DAGMMError
    from dagmm.spark import score_parquet_spark

    bad = frame.copy()
    bad.loc[3, "c"] = np.nan
    data = tmp_path / "bad.parquet"
    bad.to_parquet(data)
    path = tmp_path / "m.dagmm"
    model.save(path)
    out = tmp_path / "scores.parquet"
    with pytest.raises(DAGMMError, match=r"bad\.parquet: .*column 'c' has 1 non-finite value"):
        score_parquet_spark(path, data, out, master="local[2]")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.parquet", "m.dagmm"]


def test_a_model_with_restarts_scores_on_spark_as_locally(spark, frame) -> None:
    features = frame.drop(columns="row_id")
    several = DAGMM(epochs=3, random_state=0, n_restarts=3, device="cpu").fit(features)
    df = spark.createDataFrame(frame).repartition(2)
    scored = score_spark(df, several, batch_rows=300).toPandas().sort_values("row_id")
    np.testing.assert_allclose(
        scored["energy"].to_numpy(), several.decision_function(features), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_array_equal(scored["is_anomaly"].to_numpy(), several.predict(features))


def test_engine_spark_out_onto_the_data_is_refused_and_the_data_kept(frame, model, tmp_path):
    from dagmm.exceptions import InvalidInputError
    from dagmm.spark import score_parquet_spark

    # The output replaces what --out names, folders included: until 2026-12-05 `dagmm score
    # m flows.parquet --out flows.parquet --engine spark` put the scores in the data's place.
    data = tmp_path / "flows.parquet"
    frame.to_parquet(data)
    folder = tmp_path / "dataset.parquet"  # a Spark-style folder of part files
    folder.mkdir()
    frame.to_parquet(folder / "part-0.parquet")
    path = tmp_path / "m.dagmm"
    model.save(path)
    for source, out in ((data, data), (folder, folder), (folder / "part-0.parquet", folder)):
        with pytest.raises(InvalidInputError, match=r"--out .* DATA .*choose another path"):
            score_parquet_spark(path, source, out, master="local[2]")
    pd.testing.assert_frame_equal(pd.read_parquet(data), frame)
    pd.testing.assert_frame_equal(pd.read_parquet(folder / "part-0.parquet"), frame)


def test_columns_with_dots_in_their_names_score_as_locally(spark, frame, tmp_path) -> None:
    from dagmm.spark import score_parquet_spark

    # dagmm flattens JSON Lines into names like `src.port`; Spark reads a dot in a column
    # reference as a struct field. Until 2026-12-05 both entry points failed here
    # ("A column ... with name `src`.`a` cannot be resolved").
    dotted = frame.rename(columns={"a": "src.a", "row_id": "flow.id"})
    features = dotted.drop(columns="flow.id")
    model = DAGMM(epochs=1, random_state=0, device="cpu").fit(features)
    expected = model.decision_function(features)
    scored = score_spark(spark.createDataFrame(dotted), model).toPandas().sort_values("flow.id")
    assert list(scored.columns) == [*dotted.columns, "energy", "is_anomaly"]
    np.testing.assert_allclose(scored["energy"].to_numpy(), expected, rtol=1e-5, atol=1e-5)
    data, out = tmp_path / "in.parquet", tmp_path / "out.parquet"
    dotted.to_parquet(data)
    score_parquet_spark(model, data, out, id_column="flow.id", keep_columns=["src.a"])
    got = pd.read_parquet(out).sort_values("flow.id")
    assert list(got.columns) == ["flow.id", "src.a", "energy", "is_anomaly"]
    np.testing.assert_allclose(got["energy"].to_numpy(), expected, rtol=1e-5, atol=1e-5)


def test_engine_spark_refuses_a_folder_whose_file_lacks_a_model_column(frame, tmp_path):
    from dagmm.exceptions import InvalidInputError
    from dagmm.spark import score_parquet_spark

    # Spark reads a folder with one file's columns and gives another file's rows nulls for
    # a column that file lacks: until 2026-12-05 a missing="impute" model scored those rows
    # with the training medians and the job succeeded (the local engine refuses the folder).
    features = frame.drop(columns="row_id")
    model = DAGMM(epochs=1, random_state=0, missing="impute", device="cpu").fit(features)
    folder = tmp_path / "flows 2024.parquet"  # a space: Spark lists the files as URIs
    folder.mkdir()
    frame.iloc[:600].to_parquet(folder / "part-0.parquet")
    frame.iloc[600:].drop(columns="c").to_parquet(folder / "part-1.parquet")
    out = tmp_path / "scores.parquet"
    out.write_bytes(b"an earlier output")
    with pytest.raises(InvalidInputError, match=r"part-1\.parquet: missing column\(s\) \['c'\]"):
        score_parquet_spark(model, folder, out, id_column="row_id", master="local[2]")
    assert out.read_bytes() == b"an earlier output"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flows 2024.parquet", "scores.parquet"]
    # A folder whose files all hold the model's columns (in any order) scores as before.
    (folder / "part-1.parquet").unlink()
    frame.iloc[600:][["c", *frame.columns.drop("c")]].to_parquet(folder / "part-1.parquet")
    counts = score_parquet_spark(model, folder, out, id_column="row_id", master="local[2]")
    assert counts.rows == len(frame)
    got = pd.read_parquet(out).sort_values("row_id")
    np.testing.assert_allclose(
        got["energy"].to_numpy(), model.decision_function(features), rtol=1e-5, atol=1e-5
    )


def _files_disagreeing_on_a_type(frame, model, tmp_path):
    """A model file, a Parquet folder whose files disagree on column c's type (double in
    one, int64 in the other) and the output path scoring it would write."""
    folder = tmp_path / "flows.parquet"
    folder.mkdir()
    frame.iloc[:600].to_parquet(folder / "part-0.parquet")
    frame.iloc[600:].astype({"c": "int64"}).to_parquet(folder / "part-1.parquet")
    model_path = tmp_path / "m.dagmm"
    model.save(model_path)
    return model_path, folder, tmp_path / "scores.parquet"


def test_engine_spark_names_the_file_and_column_of_a_type_spark_cannot_read(frame, model, tmp_path):
    """Until 2026-12-07 a folder whose files disagree on a column's type (double in one,
    int64 in another) failed with Py4J's first line, "An error occurred while calling
    o76.parquet.", Spark's own message lost in its log."""
    from _cli import invoke

    model_path, folder, out = _files_disagreeing_on_a_type(frame, model, tmp_path)
    code, output = invoke(
        "score", str(model_path), str(folder), "--out", str(out), "--engine", "spark",
        "--spark-master", "local[2]",
    )  # fmt: skip
    assert code == 2, output
    line = [text for text in output.splitlines() if text.startswith("dagmm: error:")][-1]
    assert not out.exists()
    if int(pyspark.__version__.split(".")[0]) >= 4:  # its error classes' wording
        assert "An error occurred while calling" not in line, line
        assert "part-1.parquet" in line and "column [c]" in line and "INT64" in line, line


def test_engine_spark_failure_is_not_buried_in_spark_s_task_logs(frame, model, tmp_path):
    """Until 2026-12-07 the session ``dagmm score --engine spark`` started logged at WARN:
    a failed task printed about 400 lines of ERROR and WARN logs with Java stack traces,
    dagmm's one line at their end. Now its log level is FATAL (``--spark-log-level``)."""
    model_path, folder, out = _files_disagreeing_on_a_type(frame, model, tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "dagmm.cli.main", "score", str(model_path), str(folder),
         "--out", str(out), "--engine", "spark", "--spark-master", "local[2]"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    lines = result.stderr.replace("\r", "\n").splitlines()
    assert lines[-1].startswith("dagmm: error:"), result.stderr[-2000:]
    assert not [line for line in lines if " ERROR " in line or line.startswith("\tat ")], (
        result.stderr[-2000:]
    )
    assert len(lines) < 40, len(lines)  # Spark's start-up notes and progress


def test_engine_spark_warns_once_of_unseen_categories_with_the_total(frame, model, tmp_path):
    from dagmm.spark import score_parquet_spark
    from dagmm.tabular import UnseenCategoryWarning

    # The executors' warnings stay on their stderr (an executor log on a cluster): until
    # 2026-12-05 the caller of score --engine spark learnt nothing of categories training never
    # saw, which the local engine counts over the file in one warning.
    data, out = tmp_path / "in.parquet", tmp_path / "out.parquet"
    unseen = frame.copy()
    unseen.loc[[3, 500, 1100], "proto"] = "sctp"
    unseen.loc[700, "proto"] = "TCP"  # until 2026-12-07 counts only, where local names them
    unseen.to_parquet(data)
    with pytest.warns(UnseenCategoryWarning, match=r"in\.parquet: .*\('proto': 4 value") as seen:
        counts = score_parquet_spark(model, data, out, "row_id", "local[2]", batch_rows=250)
    warned = [w.message for w in seen if w.category is UnseenCategoryWarning]
    assert [w.counts for w in warned] == [{"proto": 4}]
    assert warned[0].examples == {"proto": {"sctp": None, "TCP": "tcp"}}
    assert "'TCP' (training has 'tcp')" in str(warned[0]) and "'sctp'" in str(warned[0])
    assert counts.rows == len(frame)
    with pytest.warns(UnseenCategoryWarning):
        expected = model.decision_function(unseen.drop(columns="row_id"))
    got = pd.read_parquet(out).sort_values("row_id")
    np.testing.assert_allclose(got["energy"].to_numpy(), expected, rtol=1e-5, atol=1e-4)


def test_engine_spark_reads_a_name_with_glob_characters_as_it_is(frame, model, tmp_path):
    from dagmm.spark import score_parquet_spark

    # Spark reads a path as a Hadoop glob: until 2026-12-05 `flows[eu].parquet` scored the
    # file flowse.parquet beside it instead, and an --out named so lost the finished job
    # when its output was read back to be counted.
    data, other = tmp_path / "flows[eu].parquet", tmp_path / "flowse.parquet"
    frame.to_parquet(data)
    frame.head(10).to_parquet(other)
    expected = model.decision_function(frame.drop(columns="row_id"))
    for out in (tmp_path / "scores.parquet", tmp_path / "scores{1}[eu].parquet"):
        counts = score_parquet_spark(model, data, out, "row_id", "local[2]")
        assert (counts.rows, counts.written) == (len(frame), len(frame))
        got = pd.read_parquet(out).sort_values("row_id")
        assert got["row_id"].tolist() == frame["row_id"].tolist()
        np.testing.assert_allclose(got["energy"].to_numpy(), expected, rtol=1e-5, atol=1e-4)


def test_engine_spark_refuses_an_input_without_rows_and_keeps_the_output(frame, model, tmp_path):
    from dagmm.spark import score_parquet_spark
    from dagmm.tableio import DataFileError

    # As the local engine (batch.score_file): until 2026-12-05 an empty Parquet file scored
    # "0 rows" and replaced the output named by --out with an empty folder, exit status 0.
    data, out = tmp_path / "empty.parquet", tmp_path / "scores.parquet"
    frame.head(0).to_parquet(data)
    out.write_bytes(b"an earlier output")
    for only_anomalies in (False, True):
        with pytest.raises(DataFileError, match=r"empty\.parquet: no rows to score"):
            score_parquet_spark(
                model, data, out, "row_id", "local[2]", only_anomalies=only_anomalies
            )
        assert out.read_bytes() == b"an earlier output"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.parquet", "scores.parquet"]


def test_engine_spark_with_another_cut_spares_the_model_too(frame, model, tmp_path):
    from click.testing import CliRunner

    from dagmm.cli.main import cli

    # With --contamination or --threshold the CLI hands score_parquet_spark the loaded model,
    # not its file: until 2026-12-05 an --out folder holding the MODEL was then replaced by
    # the scores, the model deleted (refused without those options).
    data, folder = tmp_path / "in.parquet", tmp_path / "run.parquet"
    frame.to_parquet(data)
    folder.mkdir()
    path = folder / "m.dagmm"
    model.save(path)
    for cut in (["--contamination", "0.01"], ["--threshold", "3"]):
        argv = ["score", str(path), str(data), "--out", str(folder), "--engine", "spark", *cut]
        result = CliRunner().invoke(cli, argv)
        assert result.exit_code != 0
        assert "is a folder holding MODEL" in result.output
        assert path.is_file()


def test_engine_spark_names_a_file_spark_would_skip_as_hidden(frame, model, tmp_path):
    # Spark's reader skips names starting with "." or "_": until 2026-12-05 such a DATA
    # failed with Spark's own "Unable to infer schema", not naming why
    from dagmm.exceptions import InvalidInputError
    from dagmm.spark import score_parquet_spark

    data = tmp_path / "_flows.parquet"
    frame.to_parquet(data)
    with pytest.raises(InvalidInputError, match=r"_flows\.parquet: Spark skips files whose"):
        score_parquet_spark(model, data, tmp_path / "s.parquet", master="local[2]")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["_flows.parquet"]


def _in_three_partitions(spark, bad_rows: list[int]):
    """1200 rows of the model's columns in 3 partitions of 400 rows, in order (partition 1:
    rows 400-799), ``row_id`` 10000 + the row, NaN in column c of ``bad_rows``."""
    from pyspark.sql import functions as F

    # spark.range splits its rows into contiguous partitions, in order, whatever the plan
    ids = spark.range(0, 1200, 1, numPartitions=3)
    value = (F.col("id") % 13).cast("double") / 4
    return ids.select(
        (F.col("id") + 10_000).alias("row_id"),
        value.alias("a"),
        value.alias("b"),
        F.when(F.col("id").isin(bad_rows), F.lit(float("nan"))).otherwise(value).alias("c"),
        value.alias("d"),
        F.lit("tcp").alias("proto"),
    )


def test_score_spark_names_a_bad_row_by_id_or_by_partition_and_row_of_it(spark, frame, model):
    from dagmm.spark import explain_failure

    # Until 2026-12-05 a bad row was named by its position in its partition alone
    # ("row(s) 5, 190"): every partition has a row 5; score_spark had no id_column.
    df = _in_three_partitions(spark, [405, 590])
    with pytest.raises(Exception) as info:
        score_spark(df, model, id_column="row_id").collect()
    assert "row(s) row_id=10405, row_id=10590)" in explain_failure(info.value)
    with pytest.raises(Exception) as info:
        score_spark(df, model).collect()
    assert "row(s) 5 of partition 1, 190 of partition 1)" in explain_failure(info.value)


def test_engine_spark_names_a_bad_row_by_id_or_by_its_file_and_row(frame, model, tmp_path):
    from click.testing import CliRunner

    from dagmm.cli.main import cli

    # Until 2026-12-05 `--engine spark` named a bad row by its position in a Spark partition
    # ("partition 1 (rows 0-799 of the partition): ... row(s) 205"), which no file shows.
    folder, path = tmp_path / "flows.parquet", tmp_path / "m.dagmm"
    folder.mkdir()
    model.save(path)
    bad = frame.copy()
    bad["b"] = bad["b"].astype(str)
    bad.loc[405, "b"] = "oops"
    for i in range(3):
        bad.iloc[400 * i : 400 * (i + 1)].to_parquet(folder / f"part-{i}.parquet")
    argv = ["score", str(path), str(folder), "--engine", "spark", "--spark-master", "local[2]"]
    runs = {
        "id": [*argv, "--out", str(tmp_path / "a.parquet"), "--id-column", "row_id"],
        "file": [*argv, "--out", str(tmp_path / "b.parquet")],
    }
    said = {}
    for case, args in runs.items():
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2, result.output
        # one line, no Java trace (PySpark's own warnings aside: pandas 3 draws one)
        lines = result.output.strip().splitlines()
        [said[case]] = [line for line in lines if not line.startswith("dagmm: warning:")]
    assert said["id"].startswith(f"dagmm: error: {folder}: column 'b' should be numeric but")
    assert "'oops' (1 value(s), row(s) row_id=405)" in said["id"]
    assert "'oops' (1 value(s), row(s) 5 of part-1.parquet)" in said["file"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flows.parquet", "m.dagmm"]


@pytest.mark.parametrize(
    "kept", [["_dagmm_located_file", "_DAGMM_LOCATED_ROW"], ["_metadata"]], ids=["helpers", "meta"]
)
def test_engine_spark_names_a_bad_row_by_file_beside_columns_named_as_its_helpers(
    frame, model, tmp_path, kept
):
    from pyspark.sql import DataFrame

    from dagmm.spark import SparkScoringError, score_parquet_spark

    # The re-run job naming a bad row by file adds columns `_dagmm_located_file` and
    # `_dagmm_located_row`: until 2026-12-05 a kept column of that name made two of it,
    # and the row was named by its Spark partition again ("row(s) 5 of partition 0").
    # It reads them from Spark's hidden `_metadata` column, which a data column of that
    # name hides: that failed with Spark's own error (no field file_path in an int).
    folder = tmp_path / "flows.parquet"
    folder.mkdir()
    bad = frame.assign(**{name: -1 for name in kept})
    bad["b"] = bad["b"].astype(str)
    bad.loc[405, "b"] = "oops"
    for i in range(2):
        bad.iloc[400 * i : 400 * (i + 1)].to_parquet(folder / f"part-{i}.parquet")
    out = tmp_path / "out.parquet"
    # a Spark before 4.0 cannot reach the hidden column past a data column of its name
    where = (
        "5 of part-1"
        if hasattr(DataFrame, "metadataColumn") or kept != ["_metadata"]
        else "5 of partition 1"
    )
    with pytest.raises(SparkScoringError, match=rf"'oops' \(1 value\(s\), row\(s\) {where}"):
        score_parquet_spark(model, folder, out, master="local[2]", keep_columns=kept)


def test_a_spark_before_4_names_rows_by_partition_past_a_data_column_named_metadata(spark):
    from dagmm.spark import _hidden_metadata

    # Spark 3.5 has no DataFrame.metadataColumn: past a data column `_METADATA` the
    # hidden column cannot be reached, and the re-run job is not tried.
    before_4 = type("Frame", (), {"columns": ["a", "_METADATA"]})()
    assert _hidden_metadata(before_4) is None
    before_4.columns = ["a"]
    assert "_metadata" in str(_hidden_metadata(before_4))


def test_a_model_column_of_arrays_binary_or_times_is_refused_before_the_job(
    spark, frame, model, tmp_path
):
    import re

    from dagmm.exceptions import InvalidInputError
    from dagmm.spark import score_parquet_spark

    # Until 2026-12-05 an array, map or binary column where the model reads numbers failed
    # inside the job, batch by batch ("should be numeric but holds text such as
    # array([...])"), and a timestamp column was scored silently as its nanoseconds.
    rows = frame.head(20)
    cases = {
        "array<double>": rows.assign(b=[[1.0, 2.0]] * 20),
        "binary": rows.assign(b=[b"\x00\x01"] * 20),
        "timestamp": rows.assign(b=pd.date_range("2026-01-01", periods=20)),
    }
    for kind, bad in cases.items():
        expected = rf"column 'b' is {re.escape(kind)} in the DataFrame where the model expects"
        with pytest.raises(InvalidInputError, match=expected):
            score_spark(spark.createDataFrame(bad), model)
    # a VARIANT column (Spark 4's parsed JSON), even where each row's JSON is a number
    from pyspark.sql import types as spark_types

    if hasattr(spark_types, "VariantType"):
        parsed = spark.createDataFrame(rows.assign(b="1.5")).selectExpr(
            "a", "parse_json(b) AS b", *[c for c in rows.columns if c not in ("a", "b")]
        )
        with pytest.raises(InvalidInputError, match=r"column 'b' is variant in the DataFrame"):
            score_spark(parsed, model)
    # struct and map columns (nested JSON), as score --engine spark reads them from Parquet
    data, out = tmp_path / "nested.parquet", tmp_path / "out.parquet"
    rows.assign(b=[{"x": 1.0, "y": 2.0}] * 20).to_parquet(data)
    with pytest.raises(InvalidInputError, match=r"column 'b' is struct<x:double,y:double> in"):
        score_parquet_spark(model, data, out, master="local[2]")
    assert not out.exists()
