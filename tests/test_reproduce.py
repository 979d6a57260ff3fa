"""The paper's protocol, its controls and metrics, on small data with known answers."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dagmm import DAGMM
from dagmm.presets import PRESETS
from dagmm.reproduce import (
    Split,
    _rev_populations,
    contaminated_splits,
    dagmm_method,
    format_markdown,
    format_summary,
    paper_splits,
    run_contamination_study,
    run_reproduction,
    score_methods,
    summarize,
    unsupervised_splits,
    write_results,
)


def _labels(n: int = 1000, ratio: float = 0.2, seed: int = 0) -> np.ndarray:
    y = np.zeros(n, dtype=np.int64)
    y[np.random.default_rng(seed).choice(n, size=round(ratio * n), replace=False)] = 1
    return y


def test_paper_splits_sizes_and_normal_only_training() -> None:
    y = _labels(1001)
    splits = paper_splits(y, [0, 1, 2])
    for split in splits:
        assert len(split.test) == 1001 - 500
        assert np.intersect1d(split.train, split.test).size == 0
        # only the normal rows of the training half are trained on
        assert (y[split.train] == 0).all()
        half = np.setdiff1d(np.arange(1001), split.test)
        assert len(half) == 500
        assert np.array_equal(split.train, half[y[half] == 0])
        # the test half keeps its anomalies
        assert y[split.test].sum() > 0
    assert np.array_equal(paper_splits(y, [1])[0].test, splits[1].test)
    assert not np.array_equal(splits[0].test, splits[1].test)


def test_paper_splits_restricted_to_populations() -> None:
    y = _labels(400)
    populations = [np.arange(0, 200), np.arange(200, 400)]
    splits = paper_splits(y, [0, 1], populations)
    for split, pop in zip(splits, populations, strict=True):
        assert np.isin(split.train, pop).all() and np.isin(split.test, pop).all()
        assert len(split.test) == 100


def test_unsupervised_splits_include_anomalies() -> None:
    y = _labels(1000)
    for split in unsupervised_splits(1000, [0, 1]):
        assert len(split.train) == 700 and len(split.test) == 300
        assert np.union1d(split.train, split.test).size == 1000
        assert y[split.train].sum() > 100  # anomalies are in the training rows


@pytest.mark.parametrize("level", [0.01, 0.05])
def test_contaminated_splits(level: float) -> None:
    y = _labels(4000)
    clean = paper_splits(y, [3])[0]
    split = contaminated_splits(y, [3], level)[0]
    assert np.array_equal(split.test, clean.test)
    assert np.isin(clean.train, split.train).all()
    share = y[split.train].mean()
    assert abs(share - level) < 0.5 / len(split.train) + 1e-9
    assert np.intersect1d(split.train, split.test).size == 0


def test_contaminated_splits_too_few_anomalies() -> None:
    y = _labels(100, ratio=0.02)
    with pytest.raises(ValueError, match="needs"):
        contaminated_splits(y, [0], 0.4)


def test_rev_populations_keep_every_normal_row() -> None:
    y_rev = np.r_[np.zeros(500, np.int64), np.ones(30000, np.int64)]
    pops = _rev_populations(y_rev, [0, 1])
    for pop in pops:
        assert np.isin(np.arange(500), pop).all()
        assert int(y_rev[pop].sum()) == 24319
    assert not np.array_equal(pops[0], pops[1])


def _oracle(sign: float):
    """Scores equal to the true label (plus distinct tiny noise): a perfect or reversed scorer."""

    def run(y: np.ndarray):
        def method(X: np.ndarray, splits):
            rng = np.random.default_rng(0)
            return [sign * y[s.test] + 1e-3 * rng.random(len(s.test)) for s in splits]

        return method

    return run


def test_oracle_and_reversed_scorer_known_answers() -> None:
    # 50 test rows with exactly 10 anomalies: flagging the top 20 % flags exactly 10.
    y = np.r_[np.zeros(90, np.int64), np.ones(10, np.int64)]
    splits = [Split(0, np.arange(0, 50) + 0, np.r_[np.arange(50, 90), np.arange(90, 100)])]
    X = np.zeros((100, 2), np.float32)
    methods = {"oracle": _oracle(1.0)(y), "reversed": _oracle(-1.0)(y)}
    records = score_methods(X, y, splits, methods, ratio=0.2)
    by = {r["method"]: r for r in records}
    for metric in ("precision", "recall", "f1", "auroc", "auprc"):
        assert by["oracle"][metric] == pytest.approx(1.0)
    for metric in ("precision", "recall", "f1", "auroc"):
        assert by["reversed"][metric] == pytest.approx(0.0)
    assert by["oracle"]["n_test"] == 50 and by["oracle"]["n_test_anomalies"] == 10


def test_methods_receive_only_normal_training_rows() -> None:
    y = _labels(600, 0.15)
    X = np.random.default_rng(0).normal(size=(600, 3)).astype(np.float32)
    seen = []

    def spy(X_: np.ndarray, splits):
        seen.extend(s.train for s in splits)
        return [np.zeros(len(s.test)) for s in splits]

    splits = paper_splits(y, [0, 1, 2])
    score_methods(X, y, splits, {"spy": spy}, 0.15)
    assert len(seen) == 3
    for rows in seen:
        assert (y[rows] == 0).all() and len(rows) > 200


def test_summarize_and_format() -> None:
    records = [
        {"method": "a", "precision": p, "recall": p, "f1": p, "auroc": p, "auprc": p}
        for p in (0.2, 0.4, 0.9)
    ] + [{"method": "b", "precision": 1, "recall": 0, "f1": 0, "auroc": 0.5, "auprc": 0.1}]
    summary = summarize(records)
    assert [row["method"] for row in summary] == ["a", "b"]
    assert summary[0]["f1_mean"] == pytest.approx(0.5)
    assert summary[0]["f1_std"] == pytest.approx(np.std([0.2, 0.4, 0.9]))
    assert summary[0]["n_seeds"] == 3 and summary[1]["f1_std"] == 0
    text = format_summary(summary)
    assert "0.5000 ± 0.2944" in text and text.splitlines()[2].startswith("b")


def test_write_results_atomic(tmp_path: Path) -> None:
    doc = {"records": [{"method": "a", "seed": 0, "f1": 0.5}, {"method": "a", "seed": 1, "f1": 1}]}
    json_path, csv_path = write_results(tmp_path / "out", "x", doc)
    assert json.loads(json_path.read_text()) == doc
    with csv_path.open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["seed"] for r in rows] == ["0", "1"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["x.csv", "x.json"]


def test_write_results_writes_undefined_metrics_as_null(tmp_path: Path) -> None:
    # The AUROC of a test half without anomalies is NaN; bare NaN is not JSON, and
    # strict readers (JavaScript, jq, Spark) refuse the whole file.
    doc = {"records": [{"seed": 0, "auroc": float("nan"), "f1": np.float64(np.inf)}], "n": 1.5}
    json_path, _ = write_results(tmp_path, "x", doc)

    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    read = json.loads(json_path.read_text(), parse_constant=refuse)
    assert read == {"records": [{"seed": 0, "auroc": None, "f1": None}], "n": 1.5}


def test_dagmm_method_restarts_pick_lowest_training_loss(blobs) -> None:
    X, y = blobs
    splits = paper_splits(y, [0, 1])
    info: dict = {}
    est = DAGMM(epochs=3, hidden_sizes=(8, 4), latent_dim=1, n_components=2)
    scores = dagmm_method(est, restarts=3, info=info)(X, splits)
    assert [len(s) for s in scores] == [len(sp.test) for sp in splits]
    # the chosen restart of each seed has the smallest final loss among its 3 models
    from dagmm import fit_ensemble

    models = fit_ensemble(est, X, [0, 1, 2, 3, 4, 5], rows=[s.train for s in splits for _ in "abc"])
    finals = np.array([m.history_["loss"][-1] for m in models]).reshape(2, 3)
    assert info["chosen_restart"] == [int(np.argmin(f)) for f in finals]
    assert info["final_loss"] == pytest.approx(finals.min(1).tolist())


def test_run_reproduction_on_small_data_with_controls(blobs) -> None:
    X, y = blobs
    est = DAGMM(epochs=40, hidden_sizes=(8, 4), latent_dim=1, n_components=2, random_state=0)
    result = run_reproduction(
        "blobs", est, [0, 1], X=X, y=y, ratio=0.05, controls=("untrained", "iforest")
    )
    methods = [r["method"] for r in result.records]
    assert methods == ["dagmm"] * 2 + ["untrained"] * 2 + ["iforest"] * 2
    assert {r["n_train_anomalies"] for r in result.records} == {0}
    summary = {row["method"]: row for row in result.summary}
    # far-off uniform anomalies are easy: the trained model finds them
    assert summary["dagmm"]["auroc_mean"] > 0.8
    again = run_reproduction("blobs", est, [0, 1], X=X, y=y, ratio=0.05, controls=())
    assert [r["f1"] for r in again.records] == [r["f1"] for r in result.records[:2]]


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dagmm.cli.main", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=600,
    )


def test_cli_reproduce_end_to_end(datasets_dir: Path, tmp_path: Path) -> None:
    if not (datasets_dir / "thyroid.npz").is_file():
        pytest.skip("thyroid.npz not available")
    out = tmp_path / "res"
    proc = _cli(
        "reproduce", "thyroid", "--seeds", "2", "--epochs", "3", "--out", str(out),
        "--data-dir", str(datasets_dir), "--threads", "1",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "untrained" in proc.stdout and "iforest" in proc.stdout
    assert "total wall time" in proc.stdout and "training 2 seed(s)" in proc.stderr
    doc = json.loads((out / "thyroid.json").read_text())
    assert doc["seeds"] == [0, 1] and doc["ratio"] == 0.025
    assert doc["estimator"]["epochs"] == 3 and doc["estimator"]["learning_rate"] == 1e-4
    with (out / "thyroid.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6
    for row in rows:
        assert int(row["n_train_anomalies"]) == 0
        assert int(row["n_test"]) == 3772 - 3772 // 2
        assert 0 <= float(row["auroc"]) <= 1


def test_cli_reproduce_default_configuration(datasets_dir: Path, tmp_path: Path) -> None:
    """``--preset default`` runs DAGMM()'s own settings, not the paper's preset."""
    if not (datasets_dir / "arrhythmia.mat").is_file():
        pytest.skip("arrhythmia.mat not available")
    proc = _cli(
        "reproduce", "arrhythmia", "--preset", "default", "--seeds", "1", "--epochs", "2",
        "--controls", "none", "--out", str(tmp_path), "--data-dir", str(datasets_dir),
        "--threads", "1", "--tag", "defaults", "--combine", "median",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    # one model per seed combines nothing; until 2026-12-07 the line said "(median)"
    assert "restarts = 1\n" in proc.stdout, proc.stdout
    params = json.loads((tmp_path / "arrhythmia-defaults.json").read_text())["estimator"]
    defaults = DAGMM().get_params()
    for name in ("learning_rate", "lambda_cov", "scaler", "n_components", "hidden_sizes"):
        assert params[name] == defaults[name], name
    assert params["epochs"] == 2
    assert params["learning_rate"] != PRESETS["arrhythmia"]["learning_rate"]


def test_cli_benchmark_end_to_end(datasets_dir: Path, tmp_path: Path) -> None:
    if not (datasets_dir / "pima.mat").is_file():
        pytest.skip("pima.mat not available")
    proc = _cli(
        "benchmark", "--datasets", "pima", "--seeds", "2", "--epochs", "2", "--out",
        str(tmp_path), "--data-dir", str(datasets_dir), "--threads", "1",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    with (tmp_path / "benchmark.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 * 2 * 2  # protocols x methods x seeds
    unsup = [r for r in rows if r["protocol"] == "unsupervised"]
    assert {int(r["n_train"]) for r in unsup} == {537}  # floor(0.7 * 768)
    assert all(int(r["n_train_anomalies"]) > 0 for r in unsup)
    paper = [r for r in rows if r["protocol"] == "paper"]
    assert all(int(r["n_train_anomalies"]) == 0 for r in paper)


def test_cli_reproduce_rejects_unknown_dataset(tmp_path: Path) -> None:
    proc = _cli("reproduce", "nosuch", "--out", str(tmp_path))
    assert proc.returncode == 2 and "nosuch" in proc.stderr and "did you mean" not in proc.stderr
    # a typo names the near one, as a mistyped column does (until 2026-12-07 not)
    for args, said in [
        (["reproduce", "thyriod"], "'thyriod' is not one of 'kddcup', 'kddcup_rev', 'thyroid', "
         "'arrhythmia' (did you mean 'thyroid'?)"),
        (["reproduce", "arrhythmia", "--combine", "maen"], "(did you mean 'mean'?)"),
        (["benchmark", "--datasets", "pimma"], "unknown data set 'pimma' (did you mean 'pima'?)"),
    ]:  # fmt: skip
        result = _invoke(*args, "--seeds", "1", "--out", str(tmp_path / "res"))
        assert result.exit_code == 2 and said in " ".join(result.output.split()), result.output
        assert not (tmp_path / "res").exists()


def test_format_markdown() -> None:
    records = [{"method": "m", "precision": v, "recall": v, "f1": v, "auroc": v, "auprc": v}
               for v in (0.25, 0.75)]  # fmt: skip
    lines = format_markdown(summarize(records)).splitlines()
    assert lines[0] == "| method | seeds | precision | recall | f1 | auroc | auprc |"
    assert lines[2] == "| m | 2 | " + " | ".join(["0.5000 ± 0.2500"] * 5) + " |"


def test_mean_combination_of_one_restart_is_a_monotone_rescaling(blobs) -> None:
    X, y = blobs
    splits = paper_splits(y, [0])
    est = DAGMM(epochs=2, hidden_sizes=(8, 4), latent_dim=1, n_components=2)
    best = dagmm_method(est, restarts=1, combine="best")(X, splits)[0]
    mean = dagmm_method(est, restarts=1, combine="mean")(X, splits)[0]
    # (E - mean_train) / std_train keeps the order of the energies exactly
    assert np.array_equal(np.argsort(best, kind="stable"), np.argsort(mean, kind="stable"))
    assert not np.allclose(best, mean)
    with pytest.raises(ValueError, match="combine"):
        dagmm_method(est, combine="vote")


def test_median_combination_outvotes_one_restart(blobs, monkeypatch) -> None:
    from dagmm import estimator

    X, y = blobs
    splits = paper_splits(y, [0])
    captured = {}
    real = estimator.fit_ensemble

    def spy(*args, **kwargs):
        captured["models"] = real(*args, **kwargs)
        return captured["models"]

    monkeypatch.setattr(estimator, "fit_ensemble", spy)
    est = DAGMM(epochs=2, hidden_sizes=(8, 4), latent_dim=1, n_components=2)
    median = dagmm_method(est, restarts=3, combine="median")(X, splits)[0]
    test = X[splits[0].test]
    standardised = np.array(
        [
            (m.decision_function(test) - m.score_stats_["mean"]) / m.score_stats_["std"]
            for m in captured["models"]
        ]
    )
    np.testing.assert_allclose(median, np.median(standardised, axis=0))
    # each row's score is one of its three restarts' scores (the middle one)
    assert np.all(np.any(np.isclose(standardised, median), axis=0))


def test_contamination_study_one_ensemble_run(blobs) -> None:
    X, y = blobs
    est = DAGMM(epochs=2, hidden_sizes=(8, 4), latent_dim=1, n_components=2)
    doc = run_contamination_study(est, [0, 1], (0.01, 0.03), X=X, y=y, ratio=0.05)
    records = doc["records"]
    assert [(r["contamination"], r["seed"]) for r in records] == [
        (0.01, 0), (0.01, 1), (0.03, 0), (0.03, 1)
    ]  # fmt: skip
    for rec in records:
        share = rec["n_train_anomalies"] / rec["n_train"]
        assert abs(share - rec["contamination"]) < 1.0 / rec["n_train"]
    # a seed keeps its test half at every level
    assert records[0]["n_test"] == records[2]["n_test"]
    assert [row["contamination"] for row in doc["summary"]] == [0.01, 0.03]


def test_compare_results_pairs_records_by_dataset_protocol_and_seed(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    def document(aurocs: dict) -> dict:
        records = [
            {"dataset": d, "protocol": "paper", "method": m, "seed": s, "auroc": a, "f1": a / 2}
            for (d, s), a in aurocs.items()
            for m in ("dagmm", "iforest")
        ]
        return {"records": records}

    before = {("a", 0): 0.5, ("a", 1): 0.7, ("b", 0): 0.9}
    after = {("a", 0): 0.6, ("a", 1): 0.6, ("b", 0): 0.95, ("b", 7): 0.1}  # b/7: no partner
    paths = []
    for name, aurocs in (("before", before), ("after", after)):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(document(aurocs)))
        paths.append(str(path))
    script = Path(__file__).parents[1] / "benchmarks" / "compare_results.py"
    out = subprocess.run(
        [sys.executable, str(script), *paths], capture_output=True, text=True, check=True
    ).stdout
    lines = out.splitlines()
    # a: 0.6 before (mean of 0.5, 0.7) and after; +0.1 and -0.1 pair to 0; one seed up
    assert lines[1].split()[2:6] == ["0.6000", "0.6000", "+0.0000", "1/2"]
    assert lines[2].split()[2:6] == ["0.9000", "0.9500", "+0.0500", "1/1"]
    assert lines[-1] == "all 3 pairs: mean AUROC 0.7000 -> 0.7167, paired +0.0167, 2 up"


def _invoke(*args: str, env: dict | None = None):
    from click.testing import CliRunner

    from dagmm.cli.main import cli

    return CliRunner().invoke(cli, list(args), env=env)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--controls", "iforest,nosuch"], "unknown control(s) ['nosuch']"),
        (["--first-seed", "-1"], "-1 is not in the range x>=0"),
        (["--contamination-study", "--restarts", "2"], "drop --restarts"),
        (["--contamination-study", "--contamination", "0.02"], "drop --contamination"),
        (["--out", "{file}/results"], "is a file, not a directory"),
        (["--out", "{file}"], "is a file, not a directory"),
        # until 2026-12-07 these three ran the whole study, then failed to write it
        (["--tag", "a/b"], "--tag 'a/b': a tag ends the results' file names"),
        (["--tag", "../up"], "--tag '../up'"),
        (["--out", "{folder}", "--overwrite"], "thyroid.json is a directory, expected a file"),
        # until 2026-12-07 found after loading, naming the internal seed 4294967296
        (
            ["--first-seed", "2147483648", "--restarts", "2"],
            "give a --first-seed of at most 2147483647",
        ),
        # until 2026-12-07 "give a --first-seed of at most -141006541"
        (["--seeds", "1000000000", "--restarts", "5"], "; give at most 858993459 --seeds"),
    ],
    ids=[
        "control",
        "seed",
        "study_restarts",
        "study_contamination",
        "out_under_file",
        "out_file",
        "tag_with_folder",
        "tag_up",
        "result_is_a_folder",
        "seed_past_2_32",
        "seeds_past_2_32",
    ],
)
def test_cli_reproduce_mistakes_end_before_the_data_is_loaded(
    tmp_path: Path, args: list[str], message: str
) -> None:
    """Until 2026-12-05 an unknown control and a negative seed ended in a traceback after
    loading the data, ``--out`` onto a file failed only when the results were written at
    the end of the run, and the study silently ignored --restarts and --contamination."""
    (tmp_path / "file").write_text("not a folder")
    (tmp_path / "folder" / "thyroid.json").mkdir(parents=True)
    args = [
        a.replace("{file}", str(tmp_path / "file")).replace("{folder}", str(tmp_path / "folder"))
        for a in args
    ]
    # An empty data folder and a closed port: loading the data would fail another way.
    empty = tmp_path / "data"
    result = _invoke(
        "reproduce", "thyroid", "--seeds", "1", "--epochs", "1", "--data-dir", str(empty),
        *(["--out", str(tmp_path / "res")] if "--out" not in args else []), *args,
        env={"DAGMM_DATA_URL": "http://127.0.0.1:9"},
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert "downloading" not in result.output and not empty.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "folder"]
    assert [p.name for p in (tmp_path / "folder").iterdir()] == ["thyroid.json"]


def test_cli_reproduce_contamination_beyond_the_data_is_one_line(
    datasets_dir: Path, tmp_path: Path
) -> None:
    if not (datasets_dir / "thyroid.npz").is_file():
        pytest.skip("thyroid.npz not available")
    result = _invoke(
        "reproduce", "thyroid", "--seeds", "1", "--contamination", "0.2",
        "--data-dir", str(datasets_dir), "--out", str(tmp_path / "res"),
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "contamination 0.2 needs 460 anomalies in the training half of seed 0, which has 48" in (
        result.output
    )
    assert "Traceback" not in result.output and "seed(s)" not in result.output  # none trained
    assert not (tmp_path / "res").exists()
    # the study's own levels, which no option sets: until 2026-12-07 the same words, as if
    # the user had asked for 0.03
    result = _invoke(
        "reproduce", "thyroid", "--seeds", "1", "--contamination-study",
        "--data-dir", str(datasets_dir), "--out", str(tmp_path / "res"),
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert (
        "thyroid: the contamination study's contamination 0.03 needs 57 anomalies in the "
        "training half of seed 0, which has 48 (at most 0.0255 is possible); its levels "
        "(0.01, 0.02, 0.03, 0.04, 0.05) need a data set with more anomalies"
    ) in said and "dagmm reproduce thyroid --contamination C" in said, said
    assert not (tmp_path / "res").exists()


def test_cli_benchmark_loads_every_data_set_before_training(
    datasets_dir: Path, tmp_path: Path
) -> None:
    """Until 2026-12-05 a mistyped name after the first ended the run once the earlier
    data sets had trained, losing their results."""
    if not (datasets_dir / "pima.mat").is_file():
        pytest.skip("pima.mat not available")
    result = _invoke(
        "benchmark", "--datasets", "pima,nosuch", "--seeds", "1", "--epochs", "1",
        "--data-dir", str(datasets_dir), "--out", str(tmp_path),
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "unknown data set 'nosuch'; choose one of ['kddcup', 'kddcup_rev', " in result.output
    assert "protocol" not in result.output  # no data set was trained on
    empty = _invoke("benchmark", "--datasets", ",", "--out", str(tmp_path))
    assert empty.exit_code == 2 and "no data set to benchmark" in empty.output


def test_one_seed_shows_no_spread() -> None:
    """Until 2026-12-05 one seed printed "0.1875 ± 0.0000", a spread of zero it never measured."""
    records = [{"method": m, "precision": 0.1875, "recall": 0.2, "f1": 0.19, "auroc": 0.6,
                "auprc": 0.1} for m in ("a", "b", "b")]  # fmt: skip
    summary = summarize(records)
    text = format_summary(summary)
    line_a, line_b = text.splitlines()[1:3]
    assert "0.1875" in line_a and "±" not in line_a
    assert "0.1875 ± 0.0000" in line_b  # two seeds: a measured spread of 0
    assert text.splitlines()[-1].startswith("(one seed: no ± std")
    assert len(line_a) == len(line_b)  # the columns stay aligned
    table = format_markdown(summary).splitlines()
    assert "| a | 1 | 0.1875 | 0.2000 |" in table[2] and "±" in table[3]


@pytest.mark.parametrize(
    "args, stem",
    [
        (["reproduce", "thyroid"], "thyroid"),
        (["reproduce", "thyroid", "--tag", "gpu"], "thyroid-gpu"),
        (["reproduce", "thyroid", "--contamination-study"], "thyroid-contamination"),
        (["benchmark", "--datasets", "pima"], "benchmark"),
    ],
    ids=["reproduce", "tag", "study", "benchmark"],
)
@pytest.mark.parametrize("kept", [".json", ".csv"])
def test_cli_refuses_to_replace_an_earlier_run_before_it_starts(
    tmp_path: Path, args: list[str], stem: str, kept: str
) -> None:
    """Until 2026-12-05 a repeat of a run with the same --out and --tag silently replaced
    the earlier run's results (hours of work) when it ended."""
    out = tmp_path / "res"
    out.mkdir()
    (out / f"{stem}{kept}").write_text("an earlier run's results")
    empty = tmp_path / "data"  # loading the data would fail another way
    result = _invoke(
        *args, "--seeds", "1", "--epochs", "1", "--data-dir", str(empty), "--out", str(out),
        env={"DAGMM_DATA_URL": "http://127.0.0.1:9"},
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert f"{out / stem}{kept} already hold(s) the results of an earlier run" in result.output
    assert "--overwrite to replace them" in result.output and "downloading" not in result.output
    assert (out / f"{stem}{kept}").read_text() == "an earlier run's results"
    assert sorted(p.name for p in out.iterdir()) == [f"{stem}{kept}"] and not empty.exists()
    # --overwrite lets the run start: it then fails on the missing data instead
    again = _invoke(
        *args, "--seeds", "1", "--epochs", "1", "--data-dir", str(empty), "--out", str(out),
        "--overwrite", env={"DAGMM_DATA_URL": "http://127.0.0.1:9"},
    )  # fmt: skip
    assert again.exit_code == 2 and "already hold" not in again.output, again.output
    assert "127.0.0.1:9" in again.output


def _fake_benchmark(writes_meanwhile: list[Path]):
    """A stand-in for run_benchmark that writes ``writes_meanwhile`` (another run finishing
    during this one) and returns a one-record document."""

    def run(estimator, datasets, seeds, **kwargs):
        for path in writes_meanwhile:
            path.write_text("another run's results")
        metrics = dict.fromkeys(("precision", "recall", "f1", "auroc", "auprc"), 0.5)
        records = [{"dataset": "pima", "protocol": "paper", "method": "dagmm", "seed": 0}]
        records[0].update(metrics)
        summary = summarize(records, ("dataset", "protocol", "method"))
        return {"records": records, "summary": summary}

    return run


def test_cli_reads_lists_and_prints_the_contamination_as_given(tmp_path, monkeypatch) -> None:
    """Until 2026-12-07 ``--controls "untrained, "`` was "unknown control(s) ['']",
    ``--contamination 0.004`` printed "contamination 0%", and ``--datasets pima,PIMA``
    ran pima twice into one group, its seed count doubled."""
    from types import SimpleNamespace

    from dagmm import reproduce

    seen: dict = {}

    def fake_reproduction(dataset, estimator, seeds, **kwargs):
        seen.update(kwargs)
        metrics = dict.fromkeys(("precision", "recall", "f1", "auroc", "auprc"), 0.5)
        records = [{"method": "dagmm", "seed": 0, **metrics}]
        return SimpleNamespace(
            document={"ratio": 0.15, "records": records}, summary=summarize(records, ("method",))
        )

    monkeypatch.setattr(reproduce, "run_reproduction", fake_reproduction)
    result = _invoke(
        "reproduce", "arrhythmia", "--seeds", "1", "--controls", "untrained, ",
        "--contamination", "0.004", "--out", str(tmp_path),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert seen["controls"] == ["untrained"] and seen["contamination"] == 0.004
    assert "arrhythmia, contamination 0.4%: 1 seeds" in result.output
    run = _fake_benchmark([])
    names: list = []
    monkeypatch.setattr(
        reproduce,
        "run_benchmark",
        lambda e, datasets, *a, **k: names.append(datasets) or run(e, datasets, *a, **k),
    )
    result = _invoke("benchmark", "--out", str(tmp_path), "--datasets", "pima, PIMA,ionosphere")
    assert result.exit_code == 0, result.output
    assert names == [["pima", "ionosphere"]]


def test_cli_results_under_a_tilde_the_shell_left_go_to_the_home_folder(
    tmp_path, monkeypatch
) -> None:
    """bash leaves ``--out=~/runs`` and a quoted ``'~/runs'`` as they are: until 2026-12-07
    reproduce and benchmark wrote into a new folder named ``~`` in the current one (one
    ``rm -rf ~`` from losing the home folder while cleaning it up)."""
    from types import SimpleNamespace

    from dagmm import reproduce

    def fake_reproduction(dataset, estimator, seeds, **kwargs):
        metrics = dict.fromkeys(("precision", "recall", "f1", "auroc", "auprc"), 0.5)
        records = [{"method": "dagmm", "seed": 0, **metrics}]
        return SimpleNamespace(
            document={"ratio": 0.15, "records": records}, summary=summarize(records, ("method",))
        )

    home, here = tmp_path / "home", tmp_path / "here"
    home.mkdir()
    here.mkdir()
    monkeypatch.chdir(here)
    monkeypatch.setattr(reproduce, "run_reproduction", fake_reproduction)
    monkeypatch.setattr(reproduce, "run_benchmark", _fake_benchmark([]))
    env = {"HOME": str(home)}
    result = _invoke("reproduce", "arrhythmia", "--seeds", "1", "--out=~/runs", env=env)
    assert result.exit_code == 0, result.output
    assert (home / "runs" / "arrhythmia.json").is_file()
    result = _invoke("benchmark", "--out", "~/bench", env=env)
    assert result.exit_code == 0, result.output
    assert (home / "bench" / "benchmark.json").is_file()
    assert list(here.iterdir()) == []


def _small_sets():
    rng = np.random.default_rng(0)
    sets = {}
    for name, (n, f) in {"pima": (200, 4), "cardio": (150, 5)}.items():
        X = rng.normal(size=(n, f)).astype(np.float32)
        y = (rng.random(n) < 0.1).astype(int)
        X[y == 1] += 3.0
        sets[name] = (X, y)
    return sets


def _interrupting_at_block(monkeypatch, block: int) -> None:
    """score_methods raising KeyboardInterrupt (Ctrl-C) when its ``block``-th call starts."""
    from dagmm import reproduce

    real, calls = reproduce.score_methods, []

    def scored(*args, **kwargs):
        calls.append(1)
        if len(calls) == block:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(reproduce, "score_methods", scored)


def _without_wall(records):
    return [{k: v for k, v in r.items() if k != "wall_s"} for r in records]


def test_an_interrupted_benchmark_resumes_from_its_checkpoint(tmp_path, monkeypatch) -> None:
    """Until 2026-12-07 benchmark kept nothing until its end: Ctrl-C lost every data set
    already run, and there was no way to resume."""
    from dagmm import DAGMM
    from dagmm.exceptions import CheckpointError
    from dagmm.reproduce import run_benchmark

    sets, seeds = _small_sets(), [0, 1]
    estimator = DAGMM(epochs=2, random_state=0)
    reference = run_benchmark(estimator, list(sets), seeds, loaded=sets)
    path = tmp_path / "bench.ckpt"
    with monkeypatch.context() as patch:
        _interrupting_at_block(patch, 3)  # pima's two protocols done, cardio's first not
        with pytest.raises(KeyboardInterrupt):
            run_benchmark(estimator, list(sets), seeds, loaded=sets, checkpoint=path)
    said: list[str] = []
    resumed = run_benchmark(
        estimator, list(sets), seeds, loaded=sets, checkpoint=path, resume=True,
        progress=said.append,
    )  # fmt: skip
    assert (
        said[:2]
        == [
            "pima, paper protocol: from the checkpoint",
            "pima, unsupervised protocol: from the checkpoint",
        ]
        and len(said) == 4
    )
    assert _without_wall(resumed["records"]) == _without_wall(reference["records"])
    assert resumed["summary"] == reference["summary"]
    # another run's checkpoint is refused, naming what differs
    other = {**sets, "cardio": (sets["cardio"][0] + 1.0, sets["cardio"][1])}
    with pytest.raises(CheckpointError, match=r"the data of cardio; epochs \(2 then, 3 now\)"):
        run_benchmark(
            DAGMM(epochs=3, random_state=0), list(sets), seeds, loaded=other,
            checkpoint=path, resume=True,
        )  # fmt: skip
    (tmp_path / "junk.ckpt").write_text("[1, 2]")
    with pytest.raises(CheckpointError, match="not a dagmm benchmark checkpoint"):
        run_benchmark(estimator, list(sets), seeds, loaded=sets,
                      checkpoint=tmp_path / "junk.ckpt", resume=True)  # fmt: skip
    with pytest.warns(UserWarning, match="no checkpoint at"):
        run_benchmark(estimator, ["pima"], [0], loaded=sets,
                      checkpoint=tmp_path / "none.ckpt", resume=True)  # fmt: skip


def test_cli_benchmark_and_reproduce_say_what_an_interrupt_kept(tmp_path, monkeypatch) -> None:
    from types import SimpleNamespace

    from dagmm import datasets, reproduce

    sets = _small_sets()
    monkeypatch.setattr(
        datasets,
        "load_dataset",
        lambda name, **_: SimpleNamespace(X=sets[name][0], y=sets[name][1]),
    )
    out, checkpoint = tmp_path / "res", tmp_path / "bench.ckpt"
    command = ["benchmark", "--datasets", "pima,cardio", "--seeds", "2", "--epochs", "2",
               "--out", str(out)]  # fmt: skip
    with monkeypatch.context() as patch:
        _interrupting_at_block(patch, 3)
        result = _invoke(*command, "--checkpoint", str(checkpoint))
        assert result.exit_code == 130, result.output
        assert (
            f"dagmm: interrupted; the checkpoint {checkpoint} holds the results of pima "
            "(paper), pima (unsupervised): rerun the same command with --resume to continue"
        ) in " ".join(result.output.split())
        assert not out.exists()
        _interrupting_at_block(patch, 1)
        result = _invoke(*command)
        assert (
            result.exit_code == 130
            and "dagmm: interrupted; no results were written (with "
            "--checkpoint FILE a run keeps its work as it goes"
            in " ".join(result.output.split())
        )
    result = _invoke(*command, "--checkpoint", str(checkpoint), "--resume")
    assert result.exit_code == 0, result.output
    assert "pima, paper protocol: from the checkpoint" in result.output
    records = json.loads((out / "benchmark.json").read_text())["records"]
    from dagmm import DAGMM

    reference = reproduce.run_benchmark(DAGMM(epochs=2), list(sets), [0, 1])
    assert len(records) == 2 * 2 * 2 * 2  # data sets x protocols x methods x seeds
    assert _without_wall(records) == _without_wall(reference["records"])
    # mistakes found before any work
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    for extra, said in [
        (["--resume"], "--resume needs --checkpoint PATH"),
        (["--checkpoint", str(tmp_path / "data.csv")], "is not a dagmm benchmark checkpoint"),
    ]:
        result = _invoke(*command[:-1], str(tmp_path / "res2"), *extra)
        assert result.exit_code == 2 and said in result.output, result.output
    assert (tmp_path / "data.csv").read_text() == "a,b\n1,2\n"
    # reproduce without a checkpoint says the same
    monkeypatch.setattr(reproduce, "run_reproduction", lambda *a, **k: (_ for _ in ()).throw(
        KeyboardInterrupt))  # fmt: skip
    result = _invoke("reproduce", "arrhythmia", "--seeds", "1", "--out", str(tmp_path / "r"))
    assert result.exit_code == 130 and "dagmm: interrupted; no results were written" in (
        result.output
    )


def test_cli_benchmark_overwrite_replaces_and_a_late_twin_is_kept(tmp_path, monkeypatch) -> None:
    from dagmm import reproduce

    (tmp_path / "benchmark.json").write_text("an earlier run's results")
    monkeypatch.setattr(reproduce, "run_benchmark", _fake_benchmark([]))
    result = _invoke("benchmark", "--out", str(tmp_path), "--overwrite")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "benchmark.json").read_text())["records"][0]["seed"] == 0
    # Results of the same name written by another run while this one ran are kept:
    # these go to the next free name, with a warning.
    twin = [tmp_path / "benchmark-x.csv"]
    monkeypatch.setattr(reproduce, "run_benchmark", _fake_benchmark(twin))
    result = _invoke("benchmark", "--out", str(tmp_path), "--tag", "x")
    assert result.exit_code == 0, result.output
    assert twin[0].read_text() == "another run's results"
    assert "writing these as benchmark-x.2 instead" in result.output
    assert f"results: {tmp_path / 'benchmark-x.2.json'}" in result.output
    assert json.loads((tmp_path / "benchmark-x.2.json").read_text())["records"][0]["f1"] == 0.5
    assert not (tmp_path / "benchmark-x.json").exists()


def test_unused_stem_skips_names_either_file_holds(tmp_path: Path) -> None:
    from dagmm.reproduce import result_paths, unused_stem

    assert unused_stem(tmp_path / "missing", "x") == "x"
    assert result_paths(tmp_path, "x") == (tmp_path / "x.json", tmp_path / "x.csv")
    (tmp_path / "x.csv").write_text("")
    (tmp_path / "x.2.json").write_text("")
    assert unused_stem(tmp_path, "x") == "x.3"


# ------------------------------------------------------------ interrupted runs
def _small_dagmm(**overrides) -> DAGMM:
    params = {"epochs": 6, "hidden_sizes": (8, 4), "latent_dim": 1, "n_components": 2}
    return DAGMM(**{**params, **overrides})


def _record_saves(monkeypatch, interrupt_after: int | None = None) -> list[int]:
    """The epochs of the checkpoints written from now on; with ``interrupt_after``, the
    training ends by Ctrl-C right after that many (later ones are written as ever)."""
    import dagmm.checkpoint as checkpoint_module

    saved: list[int] = []
    real_save = checkpoint_module.save_checkpoint
    interrupts = [interrupt_after]  # once: the resumed run is not interrupted

    def save_and_record(*args, **kw):
        real_save(*args, **kw)
        saved.append(args[1].epoch)
        if len(saved) == interrupts[0]:
            interrupts[0] = None
            raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint_module, "save_checkpoint", save_and_record)
    return saved


def _without_wall_time(document: dict) -> dict:
    """The document but for the fields that time the run."""
    kept = {k: v for k, v in document.items() if k not in ("wall_s", "total_wall_s")}
    kept["records"] = [{k: v for k, v in r.items() if k != "wall_s"} for r in kept["records"]]
    return kept


@pytest.mark.parametrize("study", [False, True], ids=["reproduction", "contamination_study"])
def test_reproduce_resumed_after_an_interrupt_equals_an_uninterrupted_run(
    blobs, tmp_path: Path, monkeypatch, study: bool
) -> None:
    """Until 2026-12-05 the ensemble of ``dagmm reproduce`` could not resume: an
    interrupted run (Ctrl-C, a killed job) lost all its training."""
    from dagmm.checkpoint import load_checkpoint

    X, y = blobs
    path = tmp_path / "run.ckpt"
    if study:
        kwargs: dict = {"X": X, "y": y, "ratio": 0.05, "levels": (0.01, 0.02)}

        def run(**extra):
            return run_contamination_study(_small_dagmm(), [0, 1], controls=("untrained",),
                                           dataset="blobs", **kwargs, **extra)  # fmt: skip
    else:
        kwargs = {"X": X, "y": y, "ratio": 0.05, "restarts": 2, "combine": "mean"}

        def run(**extra):
            return run_reproduction("blobs", _small_dagmm(), [0, 1], controls=("untrained",),
                                    **kwargs, **extra).document  # fmt: skip

    reference = run()
    saved = _record_saves(monkeypatch, interrupt_after=2)
    with pytest.raises(KeyboardInterrupt):
        run(checkpoint=path, checkpoint_every=2)
    assert saved == [2, 4] and load_checkpoint(path)[1]["epoch"] == 4
    saved.clear()
    resumed = run(checkpoint=path, checkpoint_every=2, resume=True)
    assert saved == [6]  # it went on from epoch 4: epochs 5 and 6 alone were trained
    assert _without_wall_time(resumed) == _without_wall_time(reference)
    # the results files too (CSV: one row per record)
    write_results(tmp_path / "a", "r", _without_wall_time(reference))
    write_results(tmp_path / "b", "r", _without_wall_time(resumed))
    for name in ("r.json", "r.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert load_checkpoint(path)[1]["epoch"] == 6


def test_reproduce_resume_of_another_run_is_refused_naming_the_difference(
    blobs, tmp_path: Path
) -> None:
    from dagmm.exceptions import CheckpointError

    X, y = blobs
    path = tmp_path / "run.ckpt"
    common = {"X": X, "y": y, "ratio": 0.05, "controls": (), "checkpoint": path}
    run_reproduction("blobs", _small_dagmm(epochs=2), [0, 1], **common)
    for dataset, seeds, est, extra, named in (
        ("other", [0, 1], {}, {}, r"dataset \('blobs' then, 'other' now\)"),
        ("blobs", [0, 1, 2], {}, {}, r"seeds \(\[0, 1\] then, \[0, 1, 2\] now\)"),
        ("blobs", [1, 2], {}, {}, r"seeds \(\[0, 1\] then, \[1, 2\] now\)"),
        ("blobs", [0, 1], {}, {"restarts": 2}, r"restarts \(1 then, 2 now\)"),
        ("blobs", [0, 1], {}, {"contamination": 0.02}, r"contamination \(None then, 0.02 now\)"),
        ("blobs", [0, 1], {"epochs": 3}, {}, r"epochs \(2 then, 3 now\)"),
        ("blobs", [0, 1], {"learning_rate": 0.01}, {}, r"learning_rate \(.* then, 0.01 now\)"),
    ):
        with pytest.raises(CheckpointError, match=f"another run: {named}") as info:
            run_reproduction(
                dataset, _small_dagmm(**{"epochs": 2, **est}), seeds, **common, **extra, resume=True
            )
        assert len(str(info.value).splitlines()) == 1
    # a tampered checkpoint is refused by the checkpoint's own checks
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum mismatch for tensor"):
        run_reproduction("blobs", _small_dagmm(epochs=2), [0, 1], **common, resume=True)


def test_reproduce_resume_without_a_checkpoint_warns_and_starts_fresh(blobs, tmp_path) -> None:
    X, y = blobs
    common = {"X": X, "y": y, "ratio": 0.05, "controls": ()}
    reference = run_reproduction("blobs", _small_dagmm(epochs=2), [0], **common)
    path = tmp_path / "none.ckpt"
    with pytest.warns(UserWarning, match=f"no checkpoint at {path}; training starts from epoch 1"):
        fresh = run_reproduction(
            "blobs", _small_dagmm(epochs=2), [0], **common, checkpoint=path, resume=True
        )
    assert [r["auroc"] for r in fresh.records] == [r["auroc"] for r in reference.records]
    assert path.is_file()


def test_cli_reproduce_interrupted_says_how_to_resume(
    datasets_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    if not (datasets_dir / "thyroid.npz").is_file():
        pytest.skip("thyroid.npz not available")
    ckpt = tmp_path / "run.ckpt"
    args = ["reproduce", "thyroid", "--seeds", "2", "--epochs", "4", "--controls", "none",
            "--out", str(tmp_path / "res"), "--data-dir", str(datasets_dir),
            "--checkpoint", str(ckpt), "--checkpoint-every", "2"]  # fmt: skip
    saved = _record_saves(monkeypatch, interrupt_after=1)
    result = _invoke(*args)
    assert result.exit_code == 130, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("dagmm:")]
    assert lines == [
        f"dagmm: interrupted; the checkpoint {ckpt} holds epoch 2 of 4: rerun the same "
        "command with --resume to continue"
    ], result.output
    assert not (tmp_path / "res" / "thyroid.json").exists()
    # Given where a model goes, the checkpoint names the command that resumes it (until
    # 2026-12-05: "resume it with dagmm fit DATA --out MODEL ...", which cannot).
    shown = _invoke("info", str(ckpt))
    assert shown.exit_code != 0
    assert (
        f"a training checkpoint, not a dagmm model file: it holds epoch 2 of 4; resume it "
        f"with dagmm reproduce thyroid --checkpoint {ckpt} --resume"
    ) in " ".join(shown.output.split()), shown.output
    saved.clear()
    resumed = _invoke(*args, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert saved == [4]  # went on from the epoch-2 checkpoint
    reference = _invoke(*args[:-4], "--tag", "uninterrupted")
    assert reference.exit_code == 0, reference.output
    for suffix in (".json", ".csv"):
        if suffix == ".json":
            docs = [
                _without_wall_time(json.loads((tmp_path / "res" / f"{stem}.json").read_text()))
                for stem in ("thyroid", "thyroid-uninterrupted")
            ]
            assert docs[0] == docs[1]
        else:
            rows = [
                [
                    {k: v for k, v in row.items() if k != "wall_s"}
                    for row in csv.DictReader((tmp_path / "res" / f"{stem}.csv").open())
                ]
                for stem in ("thyroid", "thyroid-uninterrupted")
            ]
            assert rows[0] == rows[1]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--resume"], "--resume needs --checkpoint PATH"),
        (["--checkpoint-every", "5"], "--checkpoint-every needs --checkpoint PATH"),
        (["--checkpoint", "{missing}/run.ckpt"], "does not exist"),
    ],
    ids=["resume", "every", "missing_folder"],
)
def test_cli_reproduce_checkpoint_mistakes_end_before_the_data_is_loaded(
    tmp_path: Path, args: list[str], message: str
) -> None:
    args = [a.replace("{missing}", str(tmp_path / "missing")) for a in args]
    empty = tmp_path / "data"
    result = _invoke(
        "reproduce", "thyroid", "--seeds", "1", "--epochs", "1", "--data-dir", str(empty),
        "--out", str(tmp_path / "res"), *args, env={"DAGMM_DATA_URL": "http://127.0.0.1:9"},
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not empty.exists()


def test_reproduce_checkpoints_a_hundredth_of_the_epochs_by_default():
    """A checkpoint per epoch cost Thyroid's short epochs 67 % more time (500 epochs,
    20 seeds: 13.0 s -> 21.7 s); by default a run writes about 100."""
    from dagmm.reproduce import _checkpointed

    def every(estimator, given=None):
        return _checkpointed(estimator, "run.ckpt", given, False).checkpoint_every

    assert every(DAGMM(epochs=20_000)) == 200
    assert every(DAGMM(epochs=150)) == 2 and every(DAGMM(epochs=6)) == 1
    assert every(DAGMM(epochs=None)) == 1  # chosen at fit: each epoch
    assert every(DAGMM(epochs=20_000), given=7) == 7
    assert every(DAGMM(epochs=20_000, checkpoint_every=50)) == 50
