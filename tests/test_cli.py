from __future__ import annotations

import csv
import gzip
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _cli import invoke
from _devices import assert_same_floats

from dagmm._numbers import READ_CSV_EXACT


def run(*args, cwd=None, timeout=900):
    return subprocess.run(
        [sys.executable, "-m", "dagmm.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
    )


def fit_flows(folder, model, epochs, *options):
    """``dagmm fit`` of the module's flows table (its id column left out) into ``model``."""
    return run(
        "fit",
        str(folder / "flows.csv"),
        "--out",
        str(model),
        "--exclude",
        "flow_id",
        "--epochs",
        str(epochs),
        *options,
    )


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame(
        {
            "flow_id": [f"f{i}" for i in range(n)],
            "bytes": rng.gamma(2.0, 100.0, n),
            "duration": rng.exponential(1.0, n),
            "proto": rng.choice(["tcp", "udp"], n),
        }
    )
    folder = tmp_path_factory.mktemp("cli")
    frame.to_csv(folder / "flows.csv", index=False)
    frame.to_parquet(folder / "flows.parquet", index=False)
    return folder, frame


def test_fit_score_info_end_to_end(table):
    folder, frame = table
    model = folder / "model.dagmm"
    fit = fit_flows(folder, model, 5, "--random-state", "0")
    assert fit.returncode == 0, fit.stderr
    assert model.exists()
    for name in ("scores.csv", "scores.parquet"):
        out = folder / name
        score = run(
            "score",
            str(model),
            str(folder / "flows.parquet"),
            "--out",
            str(out),
            "--id-column",
            "flow_id",
            "--chunk-rows",
            "64",
        )
        assert score.returncode == 0, score.stderr
        result = pd.read_csv(out) if name.endswith(".csv") else pd.read_parquet(out)
        assert list(result.columns) == ["flow_id", "energy", "is_anomaly"]
        assert len(result) == len(frame) and result["flow_id"].tolist() == frame["flow_id"].tolist()
        assert np.isfinite(result["energy"]).all()
    import dagmm

    loaded = dagmm.load(model)
    expected = loaded.decision_function(frame.drop(columns=["flow_id"]))
    np.testing.assert_allclose(result["energy"].to_numpy(), expected, rtol=1e-6)
    info = run("info", str(model))
    assert info.returncode == 0 and "mixture weights" in info.stdout
    assert f"0.01: {loaded.threshold_at(0.01):.6g}" in info.stdout  # other alert rates
    info_json = run("info", str(model), "--json")
    assert '"n_features_in": 3' in info_json.stdout
    cuts = json.loads(info_json.stdout)["training_energy_thresholds"]
    assert list(cuts) == ["0.5", "0.1", "0.05", "0.01", "0.001"]
    assert cuts["0.1"] == loaded.threshold_at(0.1) == loaded.threshold_


def test_a_model_saved_after_set_params_contamination_scores_each_share_at_its_own_cut(
    table, tmp_path
):
    # set_params(contamination=0.05) after a fit at 0.1, then save: `score --contamination
    # 0.05` took the file's threshold (0.1's) as "the model's own threshold (contamination
    # 0.05)" and flagged 10 %, and `info` printed it as the 0.05 cut.
    from click.testing import CliRunner

    import dagmm
    from dagmm.cli.main import cli

    folder, frame = table
    model = dagmm.DAGMM(epochs=3, hidden_sizes=(4,), random_state=0, contamination=0.1)
    model.fit(frame.drop(columns=["flow_id"])).set_params(contamination=0.05)
    path, out = tmp_path / "m.dagmm", tmp_path / "scores.csv"
    model.save(path)
    argv = ["score", str(path), str(folder / "flows.csv"), "--out", str(out)]
    result = CliRunner().invoke(cli, [*argv, "--id-column", "flow_id", "--contamination", "0.05"])
    assert result.exit_code == 0, result.output
    assert "the top 0.05 of the 400 training energies" in result.output
    assert pd.read_csv(out)["is_anomaly"].sum() == 20  # 5 % of the 400 training rows
    result = CliRunner().invoke(cli, [*argv, "--id-column", "flow_id", "--contamination", "0.1"])
    assert "the model's own threshold (contamination 0.1)" in result.output
    assert pd.read_csv(out)["is_anomaly"].sum() == 40
    info = json.loads(CliRunner().invoke(cli, ["info", str(path), "--json"]).output)
    assert info["contamination"] == 0.1 and info["threshold"] == model.threshold_
    cuts = info["training_energy_thresholds"]
    assert cuts["0.1"] == model.threshold_ and cuts["0.05"] == model.threshold_at(0.05)


@pytest.mark.parametrize(
    "args, message",
    [
        (["score", "{m}", "{d}/missing.csv", "--out", "{d}/o.csv"], "file not found"),
        (["score", "{d}", "{d}/flows.csv", "--out", "{d}/o.csv"], "is a directory"),
        (["score", "{m}", "{d}/bad.csv", "--out", "{d}/o.csv"], "should be numeric"),
        (["score", "{m}", "{d}/flows.json", "--out", "{d}/o.csv"], "unsupported file type"),
        (["score", "{m}", "{d}/broken.parquet", "--out", "{d}/o.csv"], "cannot read as Parquet"),
        (["fit", "{d}/flows.csv", "--out", "{d}/x.dagmm", "--exclude", "nope"], "nope"),
        (["info", "{d}/flows.csv"], "not a dagmm model"),
        # model and data swapped, or a model name given as --out (since 2026-12-06)
        (["score", "{d}/flows.csv", "{m}", "--out", "{d}/o.csv"], "MODEL before DATA"),
        (["fit", "{m}", "--out", "{d}/x.dagmm"], "named as a dagmm model file, not a data"),
        (["score", "{m}", "{d}/flows.csv", "--out", "{d}/o.dagmm"], "name it with one of .csv"),
        # output paths are checked before any training or scoring
        (["fit", "{d}/flows.csv", "--out", "{d}/nodir/x.dagmm"], "nodir does not exist"),
        (["fit", "{d}/flows.csv", "--out", "{d}"], "is a directory"),
        (["fit", "{d}/flows.csv", "--out", "{d}/x.dagmm", "--checkpoint", "{d}/n/c"], "n does"),
        (["score", "{m}", "{d}/flows.csv", "--out", "{d}/nodir/o.csv"], "nodir does not exist"),
        (["score", "{m}", "{d}/flows.csv", "--out", "{d}/o.csv", "--device", "gpu0"], "'gpu0'"),
        (["score", "{m}", "{d}/flows.csv", "--out", "{d}/o.feather"], "unsupported output"),
        # a folder, whose name has no suffix: "unsupported output file type" until 2026-12-05
        (["score", "{m}", "{d}/flows.csv", "--out", "{d}"], "is a directory, expected a file"),
        (["explain", "{m}", "{d}/flows.csv", "--out", "{d}"], "is a directory, expected a file"),
        # the byte's line, and --encoding first among the ways out (since 2026-12-05)
        (
            ["fit", "{d}/latin.csv", "--out", "{d}/x.dagmm"],
            "not UTF-8 text (byte 0xe9 at line 2 cannot be decoded); give its encoding, e.g. "
            "--encoding cp1252 (Windows' Western European), or save it as UTF-8",
        ),
        (["score", "{m}", "{d}/flows.jsonl", "--out", "{d}/o.csv"], "line 2 is not JSON"),
        # pandas read the second "bytes" as "bytes.1", and fit trained on it silently
        (["fit", "{d}/twice.csv", "--out", "{d}/x.dagmm"], "column(s) ['bytes'] more than once"),
        (
            [
                "score",
                "{m}",
                "{d}",
                "--out",
                "{d}/o.parquet",
                "--engine",
                "spark",
                "--device",
                "cuda",
            ],
            "drop --device",
        ),
        # the estimator's options are one declaration for every command that trains
        (["fit", "{d}/flows.csv", "--out", "{d}/x.dagmm", "--hidden-sizes", "6,x"], "60,30,10"),
        (["reproduce", "thyroid", "--hidden-sizes", "6,x", "--data-dir", "{d}"], "60,30,10"),
        (["benchmark", "--hidden-sizes", "6,", "--data-dir", "{d}"], "60,30,10"),
        # click's own usage errors too (they were four lines: usage, hint, blank, error)
        (["fit", "{d}/flows.csv", "--out", "{d}/x", "--sample-rows", "0"], "x>=2. (see 'dagmm fit"),
        # click 8.1 words it "No such option: --epoch", click 8.5 "No such option '--epoch'."
        (["fit", "{d}/flows.csv", "--out", "{d}/x", "--epoch", "3"], "No such option"),
        (["score", "{m}", "{d}/flows.csv"], "Missing option '--out'"),
        (["scores", "{m}"], "No such command 'scores'"),
    ],
)
def test_user_errors_are_one_line(table, args, message):
    folder, frame = table
    model = folder / "err_model.dagmm"
    if not model.exists():
        assert fit_flows(folder, model, 2).returncode == 0
    bad = frame.drop(columns=["flow_id"]).astype({"bytes": object})
    bad.loc[250, "bytes"] = "lots"
    bad.to_csv(folder / "bad.csv", index=False)
    (folder / "flows.json").write_text("{}")
    (folder / "latin.csv").write_bytes("city,bytes\nMontr\u00e9al,1\n".encode("cp1252"))
    (folder / "flows.jsonl").write_text('{"bytes": 1.0}\n{"bytes": 2.0,\n')
    (folder / "broken.parquet").write_bytes(b"PAR1 definitely not parquet")
    twice = frame[["bytes", "duration", "bytes"]].to_csv(index=False)
    (folder / "twice.csv").write_text(twice)
    argv = [a.format(m=model, d=folder) for a in args]
    result = run(*argv)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dagmm: error:"), result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.stderr
    assert not (folder / "o.csv").exists()


@pytest.mark.parametrize("distributed", [False, True])
def test_a_mistyped_out_fails_before_training(table, monkeypatch, distributed):
    from click.testing import CliRunner

    import dagmm
    from dagmm.cli.main import cli

    folder, _ = table
    monkeypatch.setattr(dagmm.DAGMM, "fit", lambda *a, **k: pytest.fail("trained first"))
    monkeypatch.setenv("RANK", "0")
    argv = ["fit", str(folder / "flows.csv"), "--out", str(folder / "nodir" / "m.dagmm")]
    result = CliRunner().invoke(cli, argv + (["--distributed"] if distributed else []))
    assert result.exit_code == 2, result.output
    assert "nodir does not exist" in result.output
    assert not (folder / "nodir").exists()


@pytest.mark.parametrize(
    "args, named",
    [
        (["fit", "{data}", "--out", "{data}"], "same file as DATA"),
        (["fit", "{data}", "--out", "{d}/x.dagmm", "--checkpoint", "{data}"], "--checkpoint"),
        (["fit", "{data}", "--out", "{d}/m", "--checkpoint", "{d}/m"], "same file as --out"),
        (["score", "{m}", "{data}", "--out", "{data}"], "--out"),
        (["score", "{m}", "{data}", "--out", "{link}"], "--out"),  # the data by another name
        (["explain", "{m}", "{data}", "--out", "{data}"], "--out"),
        (["report", "{m}", "{data}", "--out", "{data}"], "--out"),
    ],
)
def test_out_onto_an_input_is_refused_and_the_input_kept(table, tmp_path, args, named):
    pytest.importorskip("matplotlib")  # dagmm report needs it before it looks at --out
    folder, _ = table
    model = folder / "err_model.dagmm"
    if not model.exists():
        assert fit_flows(folder, model, 2).returncode == 0
    data = tmp_path / "flows.csv"
    data.write_bytes((folder / "flows.csv").read_bytes())
    (tmp_path / "link.csv").symlink_to(data)
    argv = [a.format(m=model, d=tmp_path, data=data, link=tmp_path / "link.csv") for a in args]
    code, output = invoke(*argv)
    # the atomic rename used to put the output (scores, a model, a report) in the
    # data's place: the command succeeded and the data were gone
    assert code == 2, output
    assert output.startswith("dagmm: error: ") and output.count("\n") == 1
    assert named in output and "same file as" in output and "choose another path" in output
    assert data.read_bytes() == (folder / "flows.csv").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flows.csv", "link.csv"]


@pytest.mark.parametrize("command", ["explain", "report"])
def test_explain_and_report_check_out_before_any_work(table, monkeypatch, command):
    pytest.importorskip("matplotlib")
    import dagmm

    folder, _ = table
    model = folder / "err_model.dagmm"
    if not model.exists():
        assert fit_flows(folder, model, 2).returncode == 0
    monkeypatch.setattr(dagmm.DAGMM, "_encode", lambda *a, **k: pytest.fail("scored first"))
    out = folder / "nodir" / ("e.csv" if command == "explain" else "r.html")
    code, output = invoke(command, model, folder / "flows.csv", "--out", out)
    assert code == 2 and output == f"dagmm: error: directory {out.parent} does not exist " + (
        f"(writing {out})\n"
    )


def test_a_reader_that_leaves_ends_the_command_quietly(table):
    folder, _ = table
    model = folder / "err_model.dagmm"
    if not model.exists():
        assert fit_flows(folder, model, 2).returncode == 0
    # `dagmm info MODEL | head -1`: the reader is gone before the command prints
    process = subprocess.Popen(
        [sys.executable, "-m", "dagmm.cli.main", "info", str(model)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    process.stdout.close()
    stderr = process.stderr.read().decode()
    # it printed "dagmm: error: Broken pipe" and exited with 2, as for a mistake
    assert process.wait(timeout=120) == 141 and stderr == ""


def test_fit_takes_the_loss_weights(table):
    import dagmm

    folder, _ = table
    model = folder / "weights.dagmm"
    fit = fit_flows(
        folder,
        model,
        1,
        "--lambda-cov",
        "0.0001",
        "--lambda-energy",
        "0.2",
        "--reg-covar",
        "0.001",
        "--scaler",
        "none",
    )
    assert fit.returncode == 0, fit.stderr
    params = dagmm.load(model).get_params()
    assert (params["lambda_cov"], params["lambda_energy"], params["reg_covar"]) == (1e-4, 0.2, 1e-3)
    assert params["scaler"] is None


def test_fit_v_into_a_log_file_writes_whole_lines(table, tmp_path):
    # `dagmm fit ... -v 2> fit.log`: the bar's carriage returns piled every refresh onto
    # one line of the log
    folder, _ = table
    result = fit_flows(folder, tmp_path / "m.dagmm", 30, "-v")
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr
    # the bar's width is tqdm's own: 10 characters with tqdm 4.70, 16 with tqdm 4.60
    assert re.match(r"dagmm fit: 100%\|#+\| 30/30 ", result.stderr.splitlines()[-1])


def test_every_fit_option_with_a_value_says_its_default():
    # `dagmm fit --help` listed --batch-size, --learning-rate, --latent-dim, --scaler,
    # --contamination, --missing, --random-state ... with no word on what they default to
    import click

    from dagmm.cli.core import fit

    silent = []
    for param in fit.params:
        if not isinstance(param, click.Option) or param.is_flag or param.count:
            continue
        if param.required or param.show_default or param.multiple:
            continue
        if "default" not in (param.help or ""):
            silent.append(param.opts[0])
    assert silent == []


def test_bad_chunk_leaves_no_partial_output(table):
    folder, frame = table
    model = folder / "chunk_model.dagmm"
    assert fit_flows(folder, model, 2).returncode == 0
    bad = frame.drop(columns=["flow_id"]).astype({"bytes": object})
    bad.loc[390, "bytes"] = "oops"  # in the last chunk
    bad.to_csv(folder / "late_bad.csv", index=False)
    out = folder / "late.parquet"
    code, output = invoke("score", model, folder / "late_bad.csv", "--out", out, "--chunk-rows", 50)
    assert code == 2 and "row(s) 390" in output, output
    assert not out.exists()
    assert not [p for p in folder.iterdir() if p.name.startswith(".late")]


#: An output named onto an existing file of another kind: the command's words, the file
#: it finds there (a copy of the data, the model or a checkpoint) and the error's text.
REPLACEMENTS = {
    "fit_model_onto_a_csv": (
        ["fit", "{d}/flows.csv", "--exclude", "flow_id", "--out", "{d}/other.csv"],
        "flows.csv",
        "--out {d}/other.csv exists and is a text file (CSV, JSON Lines?), not a dagmm model",
    ),
    "fit_model_onto_a_checkpoint": (
        ["fit", "{d}/flows.csv", "--exclude", "flow_id", "--out", "{d}/other.ckpt"],
        "checkpoint",
        "--out {d}/other.ckpt exists and is a dagmm checkpoint file, not a dagmm model",
    ),
    "fit_checkpoint_onto_a_parquet": (
        ["fit", "{d}/flows.csv", "--exclude", "flow_id", "--out", "{d}/m.dagmm",
         "--checkpoint", "{d}/other.parquet"],
        "flows.parquet",
        "--checkpoint {d}/other.parquet exists and is a Parquet file, not a dagmm checkpoint",
    ),
    "score_onto_a_model": (
        ["score", "{d}/model.dagmm", "{d}/flows.csv", "--out", "{d}/other.csv"],
        "model",
        "--out {d}/other.csv is a dagmm model file: the rows written there would replace it",
    ),
    "explain_onto_a_model": (
        ["explain", "{d}/model.dagmm", "{d}/flows.csv", "--out", "{d}/other.csv"],
        "model",
        "--out {d}/other.csv is a dagmm model file: the rows written there would replace it",
    ),
    "demo_model_onto_a_csv": (
        ["demo", "--save-model", "{d}/other.csv"],
        "flows.csv",
        "--save-model {d}/other.csv exists and is a text file",
    ),
}  # fmt: skip


@pytest.fixture(scope="module")
def model_and_checkpoint(table):
    """A model of the flows table and the checkpoint its fit wrote."""
    folder, _ = table
    model, checkpoint = folder / "replace_model.dagmm", folder / "replace.ckpt"
    assert fit_flows(folder, model, 2, "--checkpoint", str(checkpoint)).returncode == 0
    return model, checkpoint


@pytest.mark.parametrize("case", sorted(REPLACEMENTS))
def test_an_output_never_replaces_a_file_of_another_kind(
    table, model_and_checkpoint, tmp_path, case
):
    """Until 2026-12-07 ``fit --out scores.csv`` (a slip for ``model.dagmm``) replaced the
    CSV with a model, and ``score --out`` a model named ``.csv`` with scores: the file
    was lost for good. Now each is refused before any work, and the file is untouched."""
    folder, _ = table
    model, checkpoint = model_and_checkpoint
    args, found, message = REPLACEMENTS[case]
    source = {"model": model, "checkpoint": checkpoint}.get(found, folder / found)
    named = args[args.index("--checkpoint") + 1] if "--checkpoint" in args else args[-1]
    victim = tmp_path / Path(named).name
    shutil.copyfile(source, victim)
    shutil.copyfile(model, tmp_path / "model.dagmm")
    for name in ("flows.csv", "flows.parquet"):
        shutil.copyfile(folder / name, tmp_path / name)
    before = victim.read_bytes()
    code, output = invoke(*(a.format(d=tmp_path) for a in args))  # refused before training
    assert code == 2, output
    lines = output.strip().splitlines()
    assert len(lines) == 1 and message.format(d=tmp_path) in lines[0], output
    assert victim.read_bytes() == before
    assert not (tmp_path / "m.dagmm").exists()


def test_outputs_replace_files_of_their_own_kind(table, model_and_checkpoint, tmp_path):
    """A rerun writes over the model, checkpoint and scores of the run before, and over
    an empty file (as ``mktemp`` makes)."""
    folder, _ = table
    model, checkpoint = model_and_checkpoint
    shutil.copyfile(model, tmp_path / "m.dagmm")
    shutil.copyfile(checkpoint, tmp_path / "c.ckpt")
    (tmp_path / "empty").write_bytes(b"")
    code, output = invoke(
        "fit", folder / "flows.csv", "--exclude", "flow_id", "--out", tmp_path / "m.dagmm",
        "--checkpoint", tmp_path / "c.ckpt", "--epochs", 3,
    )  # fmt: skip
    assert code == 0, output
    assert tmp_path.joinpath("m.dagmm").read_bytes() != model.read_bytes()
    code, output = invoke(
        "fit", folder / "flows.csv", "--exclude", "flow_id", "--out", tmp_path / "empty",
        "--epochs", 1,
    )  # fmt: skip
    assert code == 0 and tmp_path.joinpath("empty").stat().st_size > 0, output
    for _ in range(2):
        code, output = invoke("score", model, folder / "flows.csv", "--out", tmp_path / "s.csv")
        assert code == 0, output


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_an_output_that_is_a_pipe_or_device_is_refused_not_replaced(
    table, model_and_checkpoint, tmp_path
):
    """Outputs are written beside their name and renamed into place: until 2026-12-07 a
    named pipe given as --out (or ``/dev/null`` run as root, ``/dev/stdout``, a
    ``>(gzip ...)`` substitution) was replaced by a regular file, its reader left with
    nothing. Now refused before any work, the pipe left as it was."""
    import stat as stat_module

    folder, _ = table
    model, _ = model_and_checkpoint
    pipe = tmp_path / "scores.csv"
    os.mkfifo(pipe)
    code, output = invoke("score", model, folder / "flows.csv", "--out", pipe)
    assert code == 2, output
    assert f"{pipe} is a named pipe, not a regular file" in output, output
    assert stat_module.S_ISFIFO(os.stat(pipe).st_mode)
    code, output = invoke(
        "fit", folder / "flows.csv", "--exclude", "flow_id", "--out", pipe, "--epochs", 1
    )
    assert code == 2 and "is a named pipe, not a regular file" in output, output
    assert stat_module.S_ISFIFO(os.stat(pipe).st_mode)


def test_a_rerun_keeps_an_output_s_link_and_permissions(table, model_and_checkpoint, tmp_path):
    """Until 2026-12-07 rewriting an output replaced a symbolic link with a file (the
    file it pointed to kept the old output) and reset a file kept private (mode 600)
    to the umask's 644; a name of 240 characters failed after the work, its temporary
    file's name being too long."""
    folder, _ = table
    model, _ = model_and_checkpoint
    (tmp_path / "runs").mkdir()
    target, link = tmp_path / "runs" / "scores.csv", tmp_path / "latest.csv"
    link.symlink_to(target)
    for _ in range(2):
        code, output = invoke("score", model, folder / "flows.csv", "--out", link)
        assert code == 0, output
        assert link.is_symlink() and target.stat().st_size > 0
        target.chmod(0o600)
    assert target.stat().st_mode & 0o777 == 0o600
    saved = tmp_path / "model.dagmm"
    shutil.copyfile(model, saved)
    saved.chmod(0o600)
    code, output = invoke("fit", folder / "flows.csv", "--exclude", "flow_id", "--out", saved,
                          "--epochs", 1)  # fmt: skip
    assert code == 0 and saved.stat().st_mode & 0o777 == 0o600, output
    long_name = tmp_path / ("a" * 240 + ".csv")
    code, output = invoke("score", model, folder / "flows.csv", "--out", long_name)
    assert code == 0 and long_name.stat().st_size > 0, output


def test_an_output_inside_a_parquet_folder_read_as_data_is_refused(table, model_and_checkpoint,
                                                                   tmp_path):  # fmt: skip
    """Until 2026-12-07 ``score DATA_FOLDER --out DATA_FOLDER/part-1.parquet`` replaced
    half of the data (and a new name there broke every later read of the folder)."""
    _, frame = table
    model, _ = model_and_checkpoint
    data = tmp_path / "flows"
    data.mkdir()
    frame.iloc[:200].to_parquet(data / "part-0.parquet")
    frame.iloc[200:].to_parquet(data / "part-1.parquet")
    before = (data / "part-1.parquet").read_bytes()
    for command in ("score", "explain"):
        for name in ("part-1.parquet", "scores.csv"):
            code, output = invoke(command, model, data, "--out", data / name)
            assert code == 2, output
            assert f"--out {data / name} is inside DATA ({data}), a folder read as data" in output
    assert (data / "part-1.parquet").read_bytes() == before
    assert sorted(p.name for p in data.iterdir()) == ["part-0.parquet", "part-1.parquet"]


def test_model_from_standard_input_is_refused_by_name(table, model_and_checkpoint):
    """Until 2026-12-07 ``dagmm score - data.csv < model.dagmm`` said "-: model file not
    found"."""
    folder, _ = table
    for args in (
        ["score", "-", folder / "flows.csv", "--out", "-"],
        ["score", "/dev/stdin", folder / "flows.csv", "--out", "-"],
        ["info", "-"],
    ):
        code, output = invoke(*args)
        assert code == 2, output
        assert "a model is read from its file by path, not from standard input" in output


def test_explain_and_report_take_a_feature_as_id_or_labels(table, model_and_checkpoint, tmp_path):
    """Until 2026-12-07 explain and report refused a feature as --id-column or --labels
    ("column(s) ['bytes'] are model features, which explain and report do not also list
    as --id-column or --labels"), while ``score --id-column bytes`` took it."""
    folder, frame = table
    model, _ = model_and_checkpoint
    data = folder / "flows.csv"
    code, output = invoke("explain", model, data, "--out", tmp_path / "by_flow.csv",
                          "--id-column", "flow_id")  # fmt: skip
    assert code == 0, output
    code, output = invoke("explain", model, data, "--out", tmp_path / "by_bytes.csv",
                          "--id-column", "bytes")  # fmt: skip
    assert code == 0, output
    by_flow = pd.read_csv(tmp_path / "by_flow.csv", dtype={"bytes": str}, **READ_CSV_EXACT)
    by_bytes = pd.read_csv(tmp_path / "by_bytes.csv", dtype={"bytes": str}, **READ_CSV_EXACT)
    # the same explanations, scored from the feature; the id as the file writes it
    pd.testing.assert_frame_equal(
        by_bytes.drop(columns="bytes"), by_flow.drop(columns="flow_id"), check_exact=True
    )
    written = dict(zip(_csv_fields(data, "flow_id"), _csv_fields(data, "bytes"), strict=True))
    assert by_bytes["bytes"].tolist() == [written[f] for f in by_flow["flow_id"]]
    # report: a feature as the ids and as the labels (a 0/1 feature)
    labelled = frame.assign(flag=(frame["duration"] > 2.0).astype(int))
    labelled.to_csv(tmp_path / "labelled.csv", index=False)
    from dagmm import DAGMM

    DAGMM(epochs=1, hidden_sizes=(4,), random_state=0).fit(labelled.drop(columns="flow_id")).save(
        tmp_path / "flag.dagmm"
    )
    code, output = invoke("report", tmp_path / "flag.dagmm", tmp_path / "labelled.csv",
                          "--out", tmp_path / "r.html", "--id-column", "bytes",
                          "--labels", "flag")  # fmt: skip
    assert code == 0, output
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    from dagmm import load
    from dagmm.tableio import read_table

    energy = load(tmp_path / "flag.dagmm").decision_function(
        read_table(tmp_path / "labelled.csv").drop(columns="flow_id")
    )
    top = int(np.argmax(energy))  # the first of the top rows, by the id the file writes
    assert "AUROC" in page and f"<td>{_csv_fields(data, 'bytes')[top]}</td>" in page


def test_demo_runs_and_beats_control():
    result = run("demo", "--rows", "3000")
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line.strip()}
    control_auroc = float(lines["untrained"][-2])
    trained_auroc = float(lines["DAGMM"][-2])
    assert trained_auroc > control_auroc


DEMO_MISTAKES = {
    "rows_negative": (["--rows", "-5"], "'--rows': -5 is not in the range x>=4"),
    "ratio_negative": (["--anomaly-ratio", "-1"], "'--anomaly-ratio': -1.0 is not in the range"),
    "ratio_nan": (
        ["--anomaly-ratio", "nan"],
        "'--anomaly-ratio': nan is not a finite number in 0<x",
    ),
    "ratio_above_half": (["--anomaly-ratio", "0.6"], "'--anomaly-ratio': 0.6 is not in the range"),
    "seed_negative": (["--seed", "-1"], "'--seed': -1 is not in the range 0<=x<=4294967295"),
    "seed_too_large": (["--seed", str(2**32)], "'--seed': 4294967296 is not in the range"),
    "no_anomaly_planted": (
        ["--rows", "10"],
        "--rows 10 at --anomaly-ratio 0.05 plants no anomaly (0.05 x 10 rounds to 0): "
        "give --rows 11 or more",
    ),
    "save_model_in_missing_folder": (
        ["--save-model", "{d}/nope/x.dagmm"],
        "directory {d}/nope does not exist",
    ),
    "report_in_missing_folder": (["--report", "{d}/nope/r.html"], "directory {d}/nope does not"),
    "report_not_html": (
        ["--report", "{d}/r.txt"],
        "--report {d}/r.txt: the HTML report's name must end in .html or .htm (got '.txt')",
    ),
    "report_onto_the_model": (
        ["--save-model", "{d}/m.html", "--report", "{d}/m.html"],
        "--report {d}/m.html is the same file as --save-model",
    ),
}


@pytest.mark.parametrize("case", sorted(DEMO_MISTAKES))
def test_demo_mistakes_are_one_line_before_any_data(tmp_path, monkeypatch, case):
    import dagmm.synthetic

    monkeypatch.setattr(
        dagmm.synthetic, "make_tabular_anomalies", lambda *a, **k: pytest.fail("generated first")
    )
    args, message = DEMO_MISTAKES[case]
    code, output = invoke("demo", *(a.format(d=tmp_path) for a in args))
    assert code == 2, output
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dagmm: error:"), output
    assert message.format(d=tmp_path) in lines[0], output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("option", "value"),
    [("--contamination", "nan"), ("--learning-rate", "inf"), ("--validation-fraction", "nan"),
     ("--lambda-cov", "inf"), ("--reg-covar", "nan")],
)  # fmt: skip
def test_fit_refuses_nan_and_inf_options_before_reading_data(tmp_path, option, value):
    """click's FloatRange let ``nan`` through any range and ``inf`` through one without an
    upper bound: until 2026-12-07 the estimator refused them only after the data were read."""
    code, output = invoke(
        "fit", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "m.dagmm"), option, value
    )
    assert code == 2 and f"Invalid value for '{option}': {value} is not a finite number" in output
    assert "not found" not in output  # refused before the data file is looked at


def test_demo_help_states_the_ranges():
    code, output = invoke("demo", "--help")
    assert code == 0, output
    for shown in ("[default: 20000; x>=4]", "0<x<=0.5]", "0<=x<=4294967295]", ".html or .htm"):
        assert shown in " ".join(output.split()), output


def test_demo_with_no_planted_anomaly_in_the_test_half_shows_n_a_not_nan():
    # 20 rows at 5 %: one anomaly planted, and with seed 0 it falls in the training half
    code, output = invoke("demo", "--rows", 20)
    assert code == 0, output
    assert "nan" not in output, output
    rows = {line.split()[0]: line.split() for line in output.splitlines() if line.strip()}
    assert rows["untrained"][-2:] == ["n/a", "n/a"] and rows["DAGMM"][-2:] == ["n/a", "n/a"]
    assert "the test half holds no planted anomaly: AUROC and AUPRC" in output, output
    assert "), 1 planted anomaly\n" in output, output  # until 2026-12-07 "1 planted anomalies"


def test_csv_words_like_na_are_categories_in_text_columns(tmp_path):
    # "NA" (North America) and "None" (no service) are values of a text column; in a
    # numeric column "NA" and "nan" are missing; an empty field is missing anywhere.
    rng = np.random.default_rng(1)
    n = 120
    frame = pd.DataFrame(
        {
            "bytes": rng.gamma(2.0, 100.0, n).round(3),
            "region": rng.choice(["NA", "EU", "APAC"], n),
            "service": rng.choice(["http", "None", "null"], n),
        }
    )
    frame.to_csv(tmp_path / "train.csv", index=False)
    model_path = tmp_path / "model.dagmm"
    code, output = invoke("fit", tmp_path / "train.csv", "--out", model_path, "--epochs", 2)
    assert code == 0, output
    from dagmm import load

    model = load(model_path)
    assert model.encoder_.categories == {
        "region": ["APAC", "EU", "NA"],
        "service": ["None", "http", "null"],
    }
    # Scoring: a chunk whose region is only "NA" still reads it as the category.
    frame.iloc[:4].assign(region="NA").to_csv(tmp_path / "score.csv", index=False)
    out = tmp_path / "scores.csv"
    code, output = invoke("score", model_path, tmp_path / "score.csv", "--out", out)
    assert code == 0, output
    expected = model.decision_function(frame.iloc[:4].assign(region="NA"))
    scored = pd.read_csv(out)
    np.testing.assert_allclose(scored["energy"], expected, rtol=1e-5)
    # In the numeric column the words are missing, with the row named.
    bad = frame.iloc[:4].astype({"bytes": object})
    bad.loc[2, "bytes"] = "NA"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    out = tmp_path / "bad_scores.csv"
    code, output = invoke("score", model_path, tmp_path / "bad.csv", "--out", out)
    assert code != 0 and not out.exists()
    assert "column 'bytes'" in output and "row(s) 2" in output, output


def test_a_category_that_looks_like_numbers_is_text_in_every_chunk(tmp_path):
    # Codes with leading zeros ("01", "02") beside text ("A7") make a categorical
    # column; a chunk holding only "01" and "02" must not be read as the numbers 1, 2
    # (categories training never saw), so that a row's score does not depend on its chunk.
    import warnings

    from dagmm import DAGMM
    from dagmm.batch import score_file
    from dagmm.tableio import read_table

    rng = np.random.default_rng(2)
    n = 60
    train = pd.DataFrame({"x": rng.normal(size=n), "code": rng.choice(["01", "02", "A7"], n)})
    train.to_csv(tmp_path / "train.csv", index=False)
    model = DAGMM(n_components=2, epochs=2, random_state=0).fit(read_table(tmp_path / "train.csv"))
    assert model.encoder_.categories == {"code": ["01", "02", "A7"]}
    rows = pd.DataFrame({"x": [0.1, 0.2, 0.3, 0.4], "code": ["01", "02", "01", "A7"]})
    expected = model.decision_function(rows)
    rows.assign(n=[7, 8, 9, 10]).to_csv(tmp_path / "rows.csv", index=False)
    out = tmp_path / "scores.parquet"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no UnseenCategoryWarning
        score_file(model, tmp_path / "rows.csv", out, id_column="n", chunk_rows=2)
    scored = pd.read_parquet(out)
    np.testing.assert_allclose(scored["energy"], expected, rtol=1e-5)
    # copied as the CSV file writes it, text in every chunk (until 2026-12-07 typed chunk
    # by chunk: 7 here, 7.0 in a chunk holding an empty id, 0 for an id 00)
    assert scored["n"].tolist() == ["7", "8", "9", "10"]


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_a_quoted_name_holding_a_comma_does_not_hide_the_separator(tmp_path, sep):
    # R's write.csv2 and many database exports quote every text field: until 2026-12-05
    # `"id";"amount, EUR";"x"` read with "," was two columns, every row's values in the
    # first as one text value, without an error.
    from dagmm.tableio import read_table

    frame = pd.DataFrame(
        {"id": ["a1", "a2", "a3"], "amount, EUR": [12.5, 3.0, 7.25], "x": [3, 4, 5]}
    )
    frame.to_csv(tmp_path / "export.csv", index=False, sep=sep, quoting=csv.QUOTE_NONNUMERIC)
    assert '"amount, EUR"' in (tmp_path / "export.csv").read_text()
    pd.testing.assert_frame_equal(read_table(tmp_path / "export.csv"), frame)
    # a comma file whose quoted name holds the other separator stays a comma file
    frame.rename(columns={"amount, EUR": f"amount{sep} EUR"}).to_csv(
        tmp_path / "comma.csv", index=False
    )
    assert list(read_table(tmp_path / "comma.csv")) == ["id", f"amount{sep} EUR", "x"]


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_an_unquoted_comma_in_a_name_does_not_hide_the_separator(tmp_path, sep):
    # Until 2026-12-05 `id;amount, EUR;x` was read with "," as two columns, `id;amount`
    # and ` EUR;x`, every row's values in the first as one text value, without an error.
    from dagmm.tableio import read_table

    frame = pd.DataFrame(
        {"id": ["a1", "a2", "a3"], "amount, EUR": [12.5, 3.0, 7.25], "x": [3, 4, 5]}
    )
    frame.to_csv(tmp_path / "export.csv", index=False, sep=sep, quoting=csv.QUOTE_NONE)
    assert "amount, EUR" + sep in (tmp_path / "export.csv").read_text()
    pd.testing.assert_frame_equal(read_table(tmp_path / "export.csv"), frame)
    if sep == ";":  # with decimal commas too, which the comma also splits on every row
        frame.to_csv(
            tmp_path / "commas.csv", index=False, sep=sep, quoting=csv.QUOTE_NONE,
            decimal=",", escapechar="\\",
        )  # fmt: skip
        assert "a1;12,5;3" in (tmp_path / "commas.csv").read_text()
        pd.testing.assert_frame_equal(read_table(tmp_path / "commas.csv"), frame)
    # comma files whose unquoted name holds the other separator stay comma files, also
    # where a value of every row holds it
    (tmp_path / "name.csv").write_text(f"id,ratio{sep}pct,x\na1,0.5,3\na2,0.25,4\n")
    assert list(read_table(tmp_path / "name.csv")) == ["id", f"ratio{sep}pct", "x"]
    (tmp_path / "rows.csv").write_text(f"id,note{sep}x,y\na1,u{sep}v,3\na2,w{sep}z,4\n")
    assert read_table(tmp_path / "rows.csv")["y"].tolist() == [3, 4]
    # a header of three names by the other separator over rows of one field by it: until
    # 2026-12-07 those widths were taken for one (pandas' C engine reads a missing field
    # as an empty one), so "1,2" read as the decimal 1.2 under `ratio`
    (tmp_path / "more.csv").write_text(f"ratio{sep}pct{sep}share,w\n1,2\n3,4\n5,6\n")
    read = read_table(tmp_path / "more.csv")
    assert list(read) == [f"ratio{sep}pct{sep}share", "w"] and read["w"].tolist() == [2, 4, 6]


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_csv_separated_otherwise_is_read_by_its_separator(tmp_path, sep):
    # A spreadsheet's ".csv" export is ';'-separated in many locales: read with ',' it
    # was one text column whose every row is a category of its own.
    from dagmm.tableio import iter_table, read_table

    rng = np.random.default_rng(2)
    frame = pd.DataFrame(
        {"bytes": rng.gamma(2.0, 100.0, 50).round(3), "proto": rng.choice(["tcp", "udp"], 50)}
    )
    frame.to_csv(tmp_path / "other.csv", index=False, sep=sep)
    pd.testing.assert_frame_equal(read_table(tmp_path / "other.csv"), frame)
    chunks = list(iter_table(tmp_path / "other.csv", chunk_rows=20, columns=["proto"]))
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), frame[["proto"]])
    if sep == ";":
        code, output = invoke(
            "fit", tmp_path / "other.csv", "--out", tmp_path / "m.dagmm", "--epochs", 1
        )
        assert code == 0, output
        from dagmm import load

        assert load(tmp_path / "m.dagmm").encoder_.columns == ["bytes", "proto"]
    # a one-column comma file stays one column
    frame[["bytes"]].to_csv(tmp_path / "one.csv", index=False)
    assert list(read_table(tmp_path / "one.csv").columns) == ["bytes"]


def _flows_in_locales(folder):
    """The same small flows table written with decimal points (``points.csv``) and as a
    European spreadsheet exports it, ``;``-separated with decimal commas (``semi.csv``)."""
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(
        {
            "bytes": rng.gamma(2.0, 100.0, 60).round(2),
            "duration": rng.exponential(1.0, 60).round(3),
            "proto": rng.choice(["tcp", "udp"], 60),
        }
    )
    frame.to_csv(folder / "points.csv", index=False)
    frame.to_csv(folder / "semi.csv", index=False, sep=";", decimal=",")
    return frame


def test_one_slip_in_a_decimal_comma_file_is_the_value_named(tmp_path):
    """Until 2026-12-07 one "abc" in a column of a ';' export's decimal-comma numbers
    left the whole column as text: fit trained it as a category of 600 values with a
    warning and exit 0, and score named all 600 values ("holds text such as
    '7,686339785866931' (600 value(s) ...)") with the advice --decimal , already given.
    A '.' file's slip was named; now this one is, by every path."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"a": rng.normal(size=600), "b": rng.normal(10, 2, size=600), "proto": "tcp"}
    )
    frame.loc[::3, "proto"] = "udp"
    frame.to_csv(tmp_path / "good.csv", sep=";", decimal=",", index=False)
    lines = (tmp_path / "good.csv").read_text().splitlines()
    fields = lines[301].split(";")
    fields[1] = "abc"  # row 300's b
    lines[301] = ";".join(fields)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    model = tmp_path / "m.dagmm"
    for extra in ((), ("--decimal", ","), ("--sample-rows", "100")):
        code, output = invoke(
            "fit", bad, "--out", model, "--epochs", "1", "--random-state", "0", *extra
        )
        assert code == 2 and not model.exists(), (extra, output)
        assert "'abc'" in output and "row 300" in output.replace("row(s) 300", "row 300"), (
            extra,
            output,
        )
    code, output = invoke("fit", tmp_path / "good.csv", "--out", model, "--epochs", "1")
    assert code == 0, output
    for extra in ((), ("--decimal", ","), ("--chunk-rows", "50")):
        out = tmp_path / "s.csv"
        code, output = invoke("score", model, bad, "--out", out, *extra)
        assert code == 2 and not out.exists(), (extra, output)
        assert "holds text such as 'abc' (1 value(s), row(s) 300)" in output, (extra, output)


def test_a_semicolon_file_with_decimal_commas_fits_and_scores_as_numbers(tmp_path):
    # Until 2026-12-05 a ';' export's "183,43" was text: each value a category of its own.
    from dagmm import load
    from dagmm.tableio import CsvFormat, read_table

    frame = _flows_in_locales(tmp_path)
    assert "," in (tmp_path / "semi.csv").read_text().splitlines()[1]
    pd.testing.assert_frame_equal(read_table(tmp_path / "semi.csv"), frame)
    # --decimal . overrides the decision: the numbers stay text
    as_text = read_table(tmp_path / "semi.csv", csv_format=CsvFormat(decimal="."))
    assert not pd.api.types.is_numeric_dtype(as_text["bytes"])
    energies, thresholds = {}, {}
    for name in ("points", "semi"):
        model = tmp_path / f"{name}.dagmm"
        for extra in ((), ("--sample-rows", "40")):
            code, output = invoke(
                "fit", tmp_path / f"{name}.csv", "--out", model, "--epochs", "1",
                "--random-state", "0", *extra,
            )  # fmt: skip
            assert code == 0, output
            thresholds[name, extra] = load(model).threshold_
        assert load(model).encoder_.columns == ["bytes", "duration", "proto"]
        assert list(load(model).encoder_.categories) == ["proto"]
        out = tmp_path / f"{name}-scores.csv"
        code, output = invoke("score", model, tmp_path / f"{name}.csv", "--out", out)
        assert code == 0, output
        energies[name] = pd.read_csv(out)["energy"].to_numpy()
    assert thresholds["semi", ()] == thresholds["points", ()]
    assert (
        thresholds["semi", ("--sample-rows", "40")] == thresholds["points", ("--sample-rows", "40")]
    )
    np.testing.assert_array_equal(energies["semi"], energies["points"])
    # a comma file whose numbers are quoted "183,43", scored without --decimal: the error
    # names the column and the first row, and the way out
    frame.to_csv(tmp_path / "comma.csv", index=False, decimal=",")
    code, output = invoke(
        "score", tmp_path / "points.dagmm", tmp_path / "comma.csv", "--out", tmp_path / "o.csv"
    )
    assert code == 2 and not (tmp_path / "o.csv").exists()
    (line,) = output.strip().splitlines()
    assert "column 'bytes' should be numeric" in line and "row(s) 0," in line, line
    assert "--decimal ," in line, line
    # a marker in place of a number is not taken for a decimal comma (until 2026-12-05
    # it was: the hint's check skipped the values it did not match)
    marked = frame.astype({"bytes": object})
    marked.loc[3, "bytes"] = "-"
    marked.to_csv(tmp_path / "marked.csv", index=False)
    code, output = invoke(
        "score", tmp_path / "points.dagmm", tmp_path / "marked.csv", "--out", tmp_path / "o.csv"
    )
    (line,) = output.strip().splitlines()
    assert code == 2 and "holds text such as '-'" in line, line
    assert "decimal" not in line and "--na-values -" in line, line
    code, output = invoke(
        "score", tmp_path / "points.dagmm", tmp_path / "comma.csv",
        "--out", tmp_path / "o.csv", "--decimal", ",",
    )  # fmt: skip
    assert code == 0, output
    np.testing.assert_array_equal(pd.read_csv(tmp_path / "o.csv")["energy"], energies["points"])


def test_decimal_thousands_and_na_values_read_a_spreadsheets_numbers(tmp_path):
    # "1.234,5" in a comma-separated file (quoted), "-" for a missing value: until
    # 2026-12-05 no option said so, and the column was text.
    from dagmm import load

    rng = np.random.default_rng(6)
    frame = pd.DataFrame(
        {
            "bytes": rng.gamma(2.0, 1000.0, 60).round(1) + 1000,
            "duration": rng.exponential(1.0, 60).round(3),
        }
    )
    written = frame.astype(object).copy()
    written["bytes"] = [
        f"{v:,.1f}".replace(",", " ").replace(".", ",").replace(" ", ".") for v in frame["bytes"]
    ]
    written["duration"] = [str(v).replace(".", ",") for v in frame["duration"]]
    written.loc[7, "duration"] = "-"
    written.to_csv(tmp_path / "sheet.csv", index=False)
    assert (
        '"1.' in (tmp_path / "sheet.csv").read_text()
        or '"2.' in (tmp_path / "sheet.csv").read_text()
    )
    options = ("--decimal", ",", "--thousands", ".", "--na-values", "-")
    base = ("fit", tmp_path / "sheet.csv", "--out", tmp_path / "m.dagmm", "--epochs", 1)
    # without --missing impute the marker is a missing value, named as such
    code, output = invoke(*base, *options)
    assert code == 2 and not (tmp_path / "m.dagmm").exists()
    assert "column 'duration' has 1 non-finite value(s)" in output, output
    assert "row(s) 7" in output, output
    code, output = invoke(*base, *options, "--missing", "impute")
    assert code == 0, output
    model = load(tmp_path / "m.dagmm")
    assert list(model.encoder_.categories) == []
    assert model.encoder_.fill_values["duration"] == frame["duration"].drop(index=7).median()
    # the thousands are read: the training rows' numbers are the frame's
    expected = frame.copy()
    expected.loc[7, "duration"] = frame["duration"].drop(index=7).median()
    np.testing.assert_allclose(model.decision_function(expected), model.decision_scores_)
    out = tmp_path / "s.csv"
    code, output = invoke(
        "score", tmp_path / "m.dagmm", tmp_path / "sheet.csv", "--out", out, *options
    )
    assert code == 0, output
    np.testing.assert_allclose(pd.read_csv(out)["energy"], model.decision_scores_)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--decimal", "ab"), "Invalid value for '--decimal': 'ab' is not one character"),
        (("--thousands", ""), "Invalid value for '--thousands': '' is not one character"),
        (("--decimal", ";"), "';' is a field separator"),
        (("--decimal", ",", "--thousands", ","), "are both ','"),
        (("--thousands", "."), "points.csv: the thousands separator '.' (--thousands) is also"),
        (("--decimal", ",", "PARQUET"), "Parquet holds typed numbers"),
        (("--na-values", "-", "PARQUET"), "Parquet holds typed numbers"),
        (("--decimal", ",", "SPARK"), "--engine spark reads Parquet"),
        (("--encoding", "klingon"), "Invalid value for '--encoding': 'klingon' is not an enc"),
        (("--encoding", "rot13"), "'rot13' (rot-13) is not a text encoding"),
        (("--encoding", "cp1252", "PARQUET"), "--encoding) applies to CSV files only: Parquet"),
        (("--encoding", "cp1252", "SPARK"), "--na-values and --encoding"),
    ],
)
def test_csv_format_mistakes_are_one_line_before_any_output(tmp_path, args, message):
    frame = _flows_in_locales(tmp_path)
    frame.to_parquet(tmp_path / "points.parquet", index=False)
    data = tmp_path / ("points.parquet" if "PARQUET" in args else "points.csv")
    options = [a for a in args if a not in ("PARQUET", "SPARK")]
    commands = [("fit", str(data), "--out", str(tmp_path / "o.dagmm"))]
    if "SPARK" in args:
        # checked before Spark starts (the model file need not even exist)
        commands = [
            (
                "score",
                str(tmp_path / "m.dagmm"),
                str(data),
                "--out",
                str(tmp_path / "o.parquet"),
                "--engine",
                "spark",
            )
        ]
    elif "PARQUET" in args:
        commands.append(
            ("explain", str(tmp_path / "m.dagmm"), str(data), "--out", str(tmp_path / "o.csv"))
        )
    for command in commands:
        code, output = invoke(*command, *options)
        assert code == 2, output
        lines = output.strip().splitlines()  # stdout's and stderr's: one line in all
        assert len(lines) == 1 and lines[0].startswith("dagmm: error:"), output
        assert message in lines[0], lines[0]
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(("o.", ".o."))]


def _flows_in_cp1252(folder):
    """One table with accented names and categories, written as a French Windows
    spreadsheet exports it (cp1252, ``;``, decimal commas: ``cp.csv``) and in UTF-8
    (``utf8.csv``)."""
    rng = np.random.default_rng(7)
    n = 120
    frame = pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(n)],
            "d\u00e9bit": rng.gamma(2.0, 100.0, n).round(2),
            "dur\u00e9e": rng.exponential(1.0, n).round(3),
            "proto": rng.choice(["entr\u00e9e", "sortie"], n),
        }
    )
    frame.to_csv(folder / "cp.csv", index=False, sep=";", decimal=",", encoding="cp1252")
    frame.to_csv(folder / "utf8.csv", index=False, sep=";", decimal=",")
    return frame


def test_encoding_reads_a_cp1252_export_as_its_utf8_twin(tmp_path):
    # Until 2026-12-05 a file that is not UTF-8 was refused ("not UTF-8 text"): no option
    # read a Windows spreadsheet's export as it is.
    from dagmm import load

    _flows_in_cp1252(tmp_path)
    assert b"d\xe9bit" in (tmp_path / "cp.csv").read_bytes()
    models = {}
    for name, options in (("utf8", ()), ("cp", ("--encoding", "cp1252"))):
        for extra in ((), ("--sample-rows", "60")):
            model = tmp_path / f"{name}{len(extra)}.dagmm"
            code, output = invoke(
                "fit", tmp_path / f"{name}.csv", "--out", model, "--exclude", "id",
                "--epochs", "1", "--random-state", "0", *options, *extra,
            )  # fmt: skip
            assert code == 0, output
            models[name, len(extra)] = load(model)
    for (name, sampled), model in models.items():
        assert model.encoder_.columns == ["d\u00e9bit", "dur\u00e9e", "proto"], name
        assert model.encoder_.categories == {"proto": ["entr\u00e9e", "sortie"]}, name
        assert model.threshold_ == models["utf8", sampled].threshold_, name
    outputs = {}
    for name, options in (("utf8", ()), ("cp", ("--encoding", "cp1252"))):
        data = tmp_path / f"{name}.csv"
        for command in ("score", "explain"):
            out = tmp_path / f"{name}.{command}.csv"
            code, output = invoke(
                command, tmp_path / "utf80.dagmm", data, "--out", out, "--id-column", "id",
                *options,
            )  # fmt: skip
            assert code == 0 and "never seen" not in output, output
            outputs[name, command] = out.read_bytes()
    # the same scores and explanations, byte for byte; outputs are UTF-8
    assert outputs["cp", "score"] == outputs["utf8", "score"]
    assert outputs["cp", "explain"] == outputs["utf8", "explain"]
    assert "d\u00e9bit" in outputs["cp", "explain"].decode("utf-8")
    # the model does not keep the encoding: scoring the cp1252 file without it is refused
    code, output = invoke(
        "score", tmp_path / "cp0.dagmm", tmp_path / "cp.csv", "--out", tmp_path / "o.csv"
    )
    assert code == 2 and "--encoding cp1252" in output, output
    # DATA piped to fit: the copy is the file's bytes, read with --encoding too
    piped = run_piped(
        "fit", "-", "--out", tmp_path / "piped.dagmm", "--exclude", "id", "--epochs", "1",
        "--random-state", "0", "--encoding", "cp1252", stdin=(tmp_path / "cp.csv").read_bytes(),
    )  # fmt: skip
    assert piped.returncode == 0, piped.stderr
    assert load(tmp_path / "piped.dagmm").threshold_ == models["utf8", 0].threshold_


def test_encoding_reads_a_report_and_other_encodings(tmp_path):
    pytest.importorskip("matplotlib")
    from dagmm.tableio import CsvFormat, read_table

    frame = _flows_in_cp1252(tmp_path)
    code, output = invoke(
        "fit", tmp_path / "utf8.csv", "--out", tmp_path / "m", "--exclude", "id",
        "--epochs", "1",
    )  # fmt: skip
    assert code == 0, output
    out = tmp_path / "r.html"
    code, output = invoke(
        "report", tmp_path / "m", tmp_path / "cp.csv", "--out", out, "--encoding", "cp1252"
    )
    assert code == 0, output
    assert "d\u00e9bit" in out.read_text(encoding="utf-8")
    expected = read_table(tmp_path / "utf8.csv")
    pd.testing.assert_frame_equal(expected, frame)
    # other spellings and encodings: latin-1, ISO-8859-15, UTF-16 (a byte-order mark),
    # compressed; a wide thousands separator's stand-in read in the file's encoding
    for encoding, suffix in (
        ("latin-1", ".csv"), ("iso-8859-15", ".csv.gz"), ("utf-16", ".csv"),
        ("windows-1252", ".csv.bz2"),
    ):  # fmt: skip
        path = tmp_path / f"other{suffix}"
        frame.to_csv(path, index=False, sep=";", decimal=",", encoding=encoding)
        read = read_table(path, csv_format=CsvFormat(encoding=encoding))
        pd.testing.assert_frame_equal(read, expected, obj=encoding)
        read = read_table(path, csv_format=CsvFormat(encoding=encoding, thousands="nbsp"))
        pd.testing.assert_frame_equal(read, expected, obj=encoding)
    # UTF-16 read as UTF-8 names utf-16 (its byte-order mark tells it)
    code, output = invoke("fit", tmp_path / "other.csv", "--out", tmp_path / "x")
    assert code == 2 and "--encoding utf-16," in output, output
    # a byte the given encoding cannot decode: its line, and the option again
    (tmp_path / "ascii.csv").write_text("a,b\n1,x\n2,y\n3,\u00e9\n", encoding="utf-8")
    code, output = invoke(
        "fit", tmp_path / "ascii.csv", "--out", tmp_path / "x", "--encoding", "ascii"
    )
    assert code == 2, output
    assert "not ascii text (byte 0xc3 at line 4 cannot be decoded); give the encoding" in output


def test_csv_format_encoding_is_checked_and_kept_as_one_name():
    from dagmm.exceptions import InvalidInputError
    from dagmm.tableio import CsvFormat

    assert CsvFormat(encoding="windows-1252") == CsvFormat(encoding="CP1252")
    assert CsvFormat(encoding="latin-1").encoding == "iso8859-1"
    assert CsvFormat(encoding="utf8").encoding == "utf-8"
    assert CsvFormat().encoding is None  # UTF-8, a byte-order mark skipped
    with pytest.raises(InvalidInputError, match="'klingon' is not an encoding Python knows"):
        CsvFormat(encoding="klingon")
    with pytest.raises(InvalidInputError, match=r"'base64' \(base64\) is not a text encoding"):
        CsvFormat(encoding="base64")


def test_a_folder_of_parquet_files_reads_as_its_files_in_order(table, tmp_path):
    # Spark, pandas and pyarrow write a dataset as a folder of part files; until
    # 2026-12-04 fit and score refused a folder ("is a directory").
    from dagmm.tableio import DataFileError, count_rows, iter_table, read_table

    folder, frame = table
    dataset = tmp_path / "flows.parquet"  # Spark names the folder like a file
    (dataset / "sub").mkdir(parents=True)
    (dataset / "_temporary").mkdir()
    frame.iloc[:100].to_parquet(dataset / "part-00000.parquet", index=False)
    frame.iloc[100:250].to_parquet(dataset / "part-00001.parquet", index=False)
    frame.iloc[250:].to_parquet(dataset / "sub" / "part-00002.parquet", index=False)
    frame.iloc[:7].to_parquet(dataset / "_temporary" / "part-9.parquet", index=False)  # skipped
    frame.iloc[:7].to_parquet(dataset / ".part-00000.parquet", index=False)  # skipped
    (dataset / "_SUCCESS").write_text("")
    pd.testing.assert_frame_equal(read_table(dataset), frame)
    chunks = list(iter_table(dataset, chunk_rows=64, columns=["bytes", "proto"]))
    assert max(len(c) for c in chunks) <= 64
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), frame[["bytes", "proto"]])
    assert count_rows(dataset) == len(frame)

    common = ["--exclude", "flow_id", "--epochs", "2", "--random-state", "0"]
    single = folder / "flows.parquet"
    for data, model in ((single, "f.dagmm"), (dataset, "d.dagmm")):
        code, output = invoke("fit", data, "--out", tmp_path / model, *common)
        assert code == 0, output
    code, output = invoke("score", tmp_path / "d.dagmm", dataset, "--out", tmp_path / "s.csv")
    assert code == 0, output
    import dagmm

    expected = dagmm.load(tmp_path / "f.dagmm").decision_function(frame.drop(columns="flow_id"))
    np.testing.assert_array_equal(dagmm.load(tmp_path / "d.dagmm").decision_scores_, expected)
    # each part file is scored in chunks of its own rows (_devices.CPU_BATCH_EXACT)
    scores = pd.read_csv(tmp_path / "s.csv")["energy"]
    assert_same_floats(scores, expected, "cpu", rtol=1e-12, across_batches=True)

    # Part files whose writers ordered the columns differently are matched by name.
    reordered = tmp_path / "reordered"
    reordered.mkdir()
    frame.iloc[:100].to_parquet(reordered / "part-0.parquet", index=False)
    frame.iloc[100:][frame.columns[::-1]].to_parquet(reordered / "part-1.parquet", index=False)
    pd.testing.assert_frame_equal(read_table(reordered), frame)
    chunks = list(iter_table(reordered, chunk_rows=64))
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), frame)

    renamed = frame.iloc[:5].rename(columns={"bytes": "octets"})
    renamed.to_parquet(dataset / "sub" / "part-3.parquet")
    with pytest.raises(DataFileError, match=r"part-3.parquet: its columns .* differ"):
        read_table(dataset)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataFileError, match="holding no Parquet files"):
        read_table(tmp_path / "empty")


def test_compressed_csv_output_is_compressed_and_complete(table, tmp_path):
    # Until 2026-12-04 a .csv.gz output of more than one chunk failed ("gzip CSV output
    # must be written in one chunk"), and .csv.bz2/.xz/.zst outputs were plain text.
    import importlib.util

    from dagmm.tableio import DataFileError, TableWriter, read_table

    folder, frame = table
    chunks = [frame.iloc[i : i + 64] for i in range(0, len(frame), 64)]
    magic = {".gz": b"\x1f\x8b", ".bz2": b"BZh", ".xz": b"\xfd7zXZ"}
    for suffix, head in magic.items():
        path = tmp_path / f"out.csv{suffix}"
        with TableWriter(path) as writer:
            for chunk in chunks:
                writer.write(chunk)
        assert path.read_bytes().startswith(head), suffix
        pd.testing.assert_frame_equal(pd.read_csv(path), frame)
        pd.testing.assert_frame_equal(read_table(path), frame)
    first = (tmp_path / "out.csv.gz").read_bytes()
    with TableWriter(tmp_path / "out.csv.gz") as writer:
        for chunk in chunks:
            writer.write(chunk)
    assert (tmp_path / "out.csv.gz").read_bytes() == first  # no time stamp, no temporary name
    if importlib.util.find_spec("zstandard") is None:
        with pytest.raises(DataFileError, match="needs the zstandard package"):
            TableWriter(tmp_path / "out.csv.zst")
        (tmp_path / "in.csv.zst").write_bytes(b"(\xb5/\xfd not really")
        with pytest.raises(DataFileError, match="needs a package that is not installed"):
            read_table(tmp_path / "in.csv.zst")

    model = folder / "gz_model.dagmm"
    assert fit_flows(folder, model, 2).returncode == 0
    out = tmp_path / "scores.csv.gz"
    code, output = invoke("score", model, folder / "flows.csv", "--out", out, "--chunk-rows", 64)
    assert code == 0, output
    assert len(pd.read_csv(out)) == len(frame)


def test_arrow_and_json_lines_files_read_as_tables(table, tmp_path):
    import gzip

    import pyarrow as pa

    from dagmm.tableio import DataFileError, count_rows, iter_table, read_table

    _, frame = table
    frame.to_feather(tmp_path / "flows.feather")
    arrow = pa.Table.from_pandas(frame, preserve_index=False)
    with pa.ipc.new_stream(tmp_path / "stream.arrow", arrow.schema) as writer:
        writer.write_table(arrow, max_chunksize=70)
    for name in ("flows.feather", "stream.arrow"):
        pd.testing.assert_frame_equal(read_table(tmp_path / name), frame)
        chunks = list(iter_table(tmp_path / name, chunk_rows=64, columns=["proto", "bytes"]))
        assert max(map(len, chunks)) <= 64
        pd.testing.assert_frame_equal(
            pd.concat(chunks, ignore_index=True), frame[["proto", "bytes"]]
        )
    assert count_rows(tmp_path / "flows.feather") == len(frame)

    # JSON Lines: nested objects flattened to dotted names, lists kept as JSON text,
    # an absent key or a null missing
    lines = []
    for i, row in enumerate(frame.itertuples(index=False)):
        record = {"flow_id": row.flow_id, "net": {"bytes": row.bytes, "proto": row.proto},
                  "duration": row.duration, "tags": ["a", i % 3]}  # fmt: skip
        if i == 5:
            del record["net"]["bytes"]
        if i == 6:
            record["duration"] = None
        lines.append(json.dumps(record))
    text = "\n".join(lines[:100]) + "\n\n" + "\n".join(lines[100:]) + "\n"
    (tmp_path / "flows.jsonl").write_text(text)
    with gzip.open(tmp_path / "flows.jsonl.gz", "wt") as handle:
        handle.write(text)
    for name in ("flows.jsonl", "flows.jsonl.gz"):
        read = read_table(tmp_path / name)
        assert list(read.columns) == ["flow_id", "duration", "tags", "net.bytes", "net.proto"]
        assert read["tags"].iloc[4] == '["a", 1]'
        assert np.isnan(read["net.bytes"].iloc[5]) and np.isnan(read["duration"].iloc[6])
        np.testing.assert_array_equal(read["net.bytes"].drop(index=5), frame["bytes"].drop(5))
        assert read["net.proto"].tolist() == frame["proto"].tolist()
    chunks = list(iter_table(tmp_path / "flows.jsonl", chunk_rows=5, columns=["net.bytes"]))
    assert [len(c) for c in chunks][:2] == [5, 5] and np.isnan(chunks[1]["net.bytes"].iloc[0])
    (tmp_path / "bad.jsonl").write_text('{"a": 1}\n[1, 2]\n')
    with pytest.raises(DataFileError, match="line 2 is a JSON list, expected an object"):
        read_table(tmp_path / "bad.jsonl")
    with pytest.raises(DataFileError, match=r"missing column\(s\) \['nope'\]"):
        list(iter_table(tmp_path / "flows.jsonl", columns=["nope"]))

    model = tmp_path / "j.dagmm"
    code, output = invoke("fit", tmp_path / "flows.jsonl", "--out", model, "--exclude", "flow_id",
                          "--exclude", "tags", "--missing", "impute", "--epochs", 2)  # fmt: skip
    assert code == 0, output
    import dagmm

    assert dagmm.load(model).encoder_.columns == ["duration", "net.bytes", "net.proto"]
    code, output = invoke("score", model, tmp_path / "flows.jsonl.gz", "--out",
                          tmp_path / "s.parquet", "--id-column", "flow_id")  # fmt: skip
    assert code == 0, output
    assert pd.read_parquet(tmp_path / "s.parquet")["flow_id"].tolist() == frame["flow_id"].tolist()


def test_json_lines_with_a_byte_order_mark_reads_as_without(tmp_path):
    # Windows PowerShell's Out-File writes UTF-8 with a byte-order mark
    from dagmm.tableio import read_table

    text = '{"bytes": 1.5, "proto": "tcp"}\n{"bytes": 2.5, "proto": "udp"}\n'
    (tmp_path / "plain.jsonl").write_text(text, encoding="utf-8")
    (tmp_path / "bom.jsonl").write_text(text, encoding="utf-8-sig")
    pd.testing.assert_frame_equal(
        read_table(tmp_path / "bom.jsonl"), read_table(tmp_path / "plain.jsonl")
    )
    assert list(read_table(tmp_path / "bom.jsonl").columns) == ["bytes", "proto"]


@pytest.mark.parametrize("suffix", [".parquet", ".feather"])
def test_decimal_columns_read_as_numbers(tmp_path, suffix):
    import decimal

    import pyarrow as pa
    import pyarrow.feather as feather
    import pyarrow.parquet as pq

    from dagmm.tableio import iter_table, read_table
    from dagmm.tabular import TabularEncoder

    amounts = [decimal.Decimal(f"{i * 1.37:.2f}") for i in range(1200)] + [None]
    table = pa.table(
        {
            "amount": pa.array(amounts, pa.decimal128(10, 2)),
            "code": pa.array([decimal.Decimal(i % 3) for i in range(1201)], pa.decimal128(3, 0)),
        }
    )
    path = tmp_path / f"money{suffix}"
    pq.write_table(table, path) if suffix == ".parquet" else feather.write_feather(table, path)
    frame = read_table(path)
    # pyarrow gives decimal.Decimal objects: the amounts were read as text, and fit
    # refused them as a column of 1,200 categories ("more than max_categories")
    assert frame["amount"].dtype == np.float64 and frame["amount"].iloc[1] == 1.37
    assert np.isnan(frame["amount"].iloc[-1])
    assert TabularEncoder().fit(frame.fillna(0.0)).categories == {}
    chunks = list(iter_table(path, chunk_rows=500))
    assert [c["amount"].dtype for c in chunks] == [np.float64] * 3
    # a model fitted on them as categories (before) reads them as it saw them
    kept = next(iter_table(path, chunk_rows=10, text_columns=["code"]))
    assert kept["code"].tolist()[:3] == [decimal.Decimal(i) for i in range(3)]
    assert kept["amount"].dtype == np.float64


def test_info_reports_the_running_torch_not_its_install_metadata(monkeypatch):
    # A CUDA wheel's metadata can say 2.11.0 where torch.__version__ says 2.11.0+cu130
    # (seen on a GPU machine, 2026-12-05): the build suffix is what a bug report needs.
    from importlib import metadata

    import torch
    from click.testing import CliRunner

    from dagmm.cli.main import cli as main

    real = metadata.version

    def version(name):
        return "0.0.1-metadata" if name in ("torch", "scikit-learn") else real(name)

    monkeypatch.setattr(metadata, "version", version)
    monkeypatch.setattr(torch, "__version__", "2.11.0+cu130")
    text = CliRunner().invoke(main, ["info"])
    assert text.exit_code == 0, text.output
    assert "torch 2.11.0+cu130," in text.output and "metadata" not in text.output
    env = json.loads(CliRunner().invoke(main, ["info", "--json"]).output)
    assert env["packages"]["torch"] == "2.11.0+cu130"
    import sklearn  # a package whose module has another name: read from the module too

    assert env["packages"]["scikit-learn"] == sklearn.__version__


def test_a_library_deprecation_is_not_shown_as_a_dagmm_warning(monkeypatch):
    # matplotlib 3.7.0 under pyparsing 3.3 printed "dagmm: warning: 'enablePackrat'
    # deprecated - use 'enable_packrat'" under `dagmm report`: pyparsing's deprecation is
    # a UserWarning too, so Python's default filters let it through.
    import warnings

    from dagmm.cli import core

    class LibraryDeprecation(UserWarning, DeprecationWarning):  # pyparsing's kind
        pass

    environment = core._environment

    def warning_environment():
        for message, category in [
            ("'enablePackrat' deprecated - use 'enable_packrat'", LibraryDeprecation),
            ("an old keyword", DeprecationWarning),
            ("a keyword's default will change", FutureWarning),
            ("'proto': 2 values seen once", UserWarning),
        ]:
            warnings.warn(message, category, stacklevel=2)
        return environment()

    monkeypatch.setattr(core, "_environment", warning_environment)
    code, output = invoke("info")
    assert code == 0, output
    assert "dagmm: warning: 'proto': 2 values seen once" in output
    assert output.count("dagmm: warning:") == 1, output


def test_info_without_a_model_describes_the_installation(tmp_path, monkeypatch):
    import torch
    from click.testing import CliRunner

    from dagmm import __version__
    from dagmm.cli.main import cli as main

    (tmp_path / "pima.mat").write_bytes(b"not checked here")
    (tmp_path / "notes.txt").write_text("not a data set file")
    monkeypatch.setenv("DAGMM_DATA", str(tmp_path))
    text = CliRunner().invoke(main, ["info"])
    assert text.exit_code == 0, text.output
    assert f"dagmm {__version__}" in text.output and f"torch {torch.__version__}" in text.output
    assert f"data directory: {tmp_path} (from DAGMM_DATA): 1 data set file(s): pima.mat" in (
        text.output
    )
    result = CliRunner().invoke(main, ["info", "--json"])
    env = json.loads(result.output)
    assert env["packages"]["torch"] == torch.__version__
    assert env["cuda_available"] == torch.cuda.is_available()
    assert env["data_files"] == ["pima.mat"] and env["data_dir_from"] == "DAGMM_DATA"
    monkeypatch.setattr("dagmm._kernels.ENABLED", False)
    off = json.loads(CliRunner().invoke(main, ["info", "--json"]).output)
    assert off["compiled_cpu_kernels"] is False
    # A mistyped DAGMM_DATA is named as such, not as an empty folder (until 2026-12-05).
    monkeypatch.setenv("DAGMM_DATA", str(tmp_path / "typo"))
    assert "typo (from DAGMM_DATA): does not exist" in CliRunner().invoke(main, ["info"]).output
    monkeypatch.setenv("DAGMM_DATA", str(tmp_path / "notes.txt"))
    assert "(from DAGMM_DATA): is not a directory" in CliRunner().invoke(main, ["info"]).output


def _strict_json(text):
    """``text`` read as JSON, refusing Python's ``NaN`` and ``Infinity`` as JSON readers do."""

    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("combine", ["mean", "best"])
def test_info_of_untrained_restarts_is_valid_json_without_nan(table, tmp_path, combine):
    # An untrained restart (--epochs 0) has no loss: NaN, which `info --json` printed as a
    # bare NaN that strict JSON readers (jq, JavaScript) refuse, and the text read "nan".
    from click.testing import CliRunner

    from dagmm.cli.main import cli

    folder, _ = table
    model = tmp_path / "untrained.dagmm"
    argv = ["fit", str(folder / "flows.csv"), "--out", str(model), "--exclude", "flow_id"]
    argv += ["--epochs", "0", "--restarts", "2", "--restart-combine", combine]
    result = CliRunner().invoke(cli, [*argv, "--random-state", "0"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(cli, ["info", str(model), "--json"])
    assert result.exit_code == 0, result.output
    summary = _strict_json(result.output)
    assert summary["restarts"]["losses"] == [None, None]
    assert summary["final_loss"] is None and summary["threshold"] is not None
    text = CliRunner().invoke(cli, ["info", str(model)]).output
    assert "nan" not in text.lower() and "no final losses (untrained)" in text
    assert ("none trained" in text) == (combine == "best")


def test_score_at_another_alert_rate_or_threshold_without_retraining(table, tmp_path):
    from click.testing import CliRunner

    import dagmm
    from dagmm.cli.main import cli

    folder, frame = table
    features = frame.drop(columns=["flow_id"])
    model = dagmm.DAGMM(epochs=3, hidden_sizes=(4,), random_state=0, contamination=0.1)
    model.fit(features)
    assert model.threshold_at(0.1) == model.threshold_  # the model's own cut, by the same rule
    path, bare = tmp_path / "m.dagmm", tmp_path / "bare.dagmm"
    model.save(path)
    model.save(bare, include_training_scores=False)

    def score(model_path, *options):
        out = tmp_path / "scores.csv"
        out.unlink(missing_ok=True)
        argv = ["score", str(model_path), str(folder / "flows.csv"), "--out", str(out)]
        result = CliRunner().invoke(cli, [*argv, "--id-column", "flow_id", *options])
        return result, pd.read_csv(out) if out.exists() else None

    result, scores = score(path)
    assert result.exit_code == 0, result.output
    assert scores["is_anomaly"].sum() == 40  # 10 % of the 400 training rows scored again
    result, fewer = score(path, "--contamination", "0.02")
    assert result.exit_code == 0, result.output
    assert "the top 0.02 of the 400 training energies" in result.output
    cut = model.threshold_at(0.02)
    assert cut > model.threshold_ and f"{cut:.6g}" in result.output
    np.testing.assert_array_equal(fewer["is_anomaly"], (fewer["energy"] > cut).astype(int))
    assert fewer["is_anomaly"].sum() == 8
    median = float(np.median(scores["energy"]))
    result, half = score(path, "--threshold", repr(median))
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(half["is_anomaly"], (half["energy"] > median).astype(int))
    assert half["is_anomaly"].sum() == 200
    for model_path, options, message in [
        (path, ["--contamination", "0.02", "--threshold", "1"], "not both"),
        (path, ["--contamination", "0.7"], "contamination must be in (0, 0.5]"),
        (path, ["--threshold", "nan"], "finite energy"),
        (bare, ["--contamination", "0.02"], "holds no training energies"),
    ]:
        result, written = score(model_path, *options)
        assert result.exit_code == 2 and message in result.output, result.output
        assert written is None  # nothing written
    result, _ = score(bare, "--threshold", "0")  # a bare model takes an explicit threshold
    assert result.exit_code == 0, result.output


def test_score_writes_an_alerts_file_with_kept_columns(table, tmp_path):
    from click.testing import CliRunner

    import dagmm
    from dagmm.batch import score_file
    from dagmm.cli.main import cli

    folder, frame = table
    model = dagmm.DAGMM(epochs=3, hidden_sizes=(4,), random_state=0, contamination=0.05)
    model.fit(frame.drop(columns=["flow_id"]))
    path = tmp_path / "m.dagmm"
    model.save(path)
    energy = model.decision_function(frame.drop(columns=["flow_id"]))
    flagged = np.flatnonzero(energy > model.threshold_)
    assert 0 < len(flagged) < len(frame)

    out = tmp_path / "alerts.jsonl.gz"
    argv = ["score", str(path), str(folder / "flows.csv"), "--out", str(out), "--chunk-rows", "64"]
    options = ["--id-column", "flow_id", "--keep", "proto", "--keep", "bytes", "--only-anomalies"]
    result = CliRunner().invoke(cli, [*argv, *options])
    assert result.exit_code == 0, result.output
    assert "scored 400 rows in" in result.output
    assert f"flagged {len(flagged)} ({len(flagged) / 400:.2%})" in result.output
    assert f"({len(flagged)} rows)" in result.output
    import gzip

    lines = gzip.decompress(out.read_bytes()).decode().splitlines()
    records = [json.loads(line) for line in lines]
    assert [list(r) for r in records[:1]] == [
        ["row", "flow_id", "proto", "bytes", "energy", "is_anomaly"]
    ]
    assert [r["row"] for r in records] == flagged.tolist()  # positions across chunks
    assert [r["flow_id"] for r in records] == frame["flow_id"].iloc[flagged].tolist()
    assert [r["proto"] for r in records] == frame["proto"].iloc[flagged].tolist()
    # a kept feature is the CSV file's text (a JSON string: until 2026-12-07 pandas'
    # typing of each chunk, which turned 00042 into 42), the same float read back;
    # energies the very same floats (shortest repr)
    assert [float(r["bytes"]) for r in records] == frame["bytes"].iloc[flagged].tolist()
    assert [r["bytes"] for r in records] == [repr(v) for v in frame["bytes"].iloc[flagged]]
    assert [r["energy"] for r in records] == energy[flagged].tolist()
    assert {r["is_anomaly"] for r in records} == {1}

    # Python: the same counts; every row written without only_anomalies
    counts = score_file(
        model, folder / "flows.parquet", tmp_path / "all.csv", keep_columns=["bytes"]
    )
    assert counts == (400, len(flagged), 400)
    written = pd.read_csv(tmp_path / "all.csv", **READ_CSV_EXACT)  # pandas 2: else 1 ulp off
    assert list(written.columns) == ["bytes", "energy", "is_anomaly"]
    np.testing.assert_array_equal(written["energy"].to_numpy(), energy)

    for options, message in [
        (["--keep", "energy"], "the scores are written as ['energy', 'is_anomaly']"),
        (["--keep", "row", "--only-anomalies"], "cannot copy column(s) ['row']"),
        (["--id-column", "flow_id", "--keep", "flow_id"], "named more than once"),
        (["--keep", "nope"], "missing column(s) ['nope'], wanted by --keep; the file has"),
        (["--keep", "Duration"], "missing column(s) ['Duration'] ('Duration': did you mean "),
    ]:
        bad = tmp_path / "bad.jsonl"
        result = CliRunner().invoke(cli, ["score", str(path), str(folder / "flows.csv"),
                                          "--out", str(bad), *options])  # fmt: skip
        assert result.exit_code != 0 and message in result.output, (options, result.output)
        assert not bad.exists() and not list(tmp_path.glob(".bad*"))


@pytest.fixture(scope="module")
def copied(tmp_path_factory):
    """A model of four numeric columns, and rows to score with columns to copy: accounts
    with leading zeros, ids above 2**53 (one of them missing, in the 36th row), and text
    pandas would type (``TRUE``, ``1e5``, ``NA``)."""
    from dagmm import DAGMM

    folder = tmp_path_factory.mktemp("copied")
    rng = np.random.default_rng(0)
    train = pd.DataFrame(rng.normal(size=(300, 4)), columns=list("abcd"))
    DAGMM(epochs=1, hidden_sizes=(4,), random_state=0).fit(train).save(folder / "m.dagmm")
    rows = train.iloc[:50].copy()
    rows["acct"] = [f"{i:05d}" for i in range(50)]
    rows["tx"] = pd.array([2**60 + i for i in range(50)], dtype="Int64")
    rows.loc[35, "tx"] = pd.NA
    rows["flag"] = ["TRUE", "false"] * 25
    rows["amount"] = ["1e5", "NA", "0.50", "", "+7"] * 10
    rows.to_csv(folder / "rows.csv", index=False)
    rows.to_parquet(folder / "rows.parquet")
    rows.to_json(folder / "rows.jsonl", orient="records", lines=True)
    return folder, rows


def _csv_fields(path, column):
    """The text of ``column`` in each row of the CSV file ``path`` (an empty field: "")."""
    with open(path, newline="") as handle:
        return [row[column] for row in csv.DictReader(handle)]


@pytest.mark.parametrize("chunk_rows", ["65536", "10"])
def test_copied_columns_are_written_as_the_csv_file_writes_them(copied, chunk_rows):
    """Until 2026-12-07 ``score --id-column/--keep`` typed the copied columns chunk by
    chunk: the account ``00000`` was written ``0``, the ids above 2**53 as one float
    ``1.152921504606847e+18`` (50 ids, 1 distinct), and with ``--chunk-rows 10`` only the
    chunk holding an empty id wrote ``1152921504606846986.0``-style floats; ``TRUE``
    became ``True``, ``1e5`` ``100000.0``. Now each is the file's text, an empty field
    stays empty; a copied feature (``a``) is scored from its numbers, as without copies."""
    folder, _ = copied
    out, plain = folder / f"s{chunk_rows}.csv", folder / f"p{chunk_rows}.csv"
    copies = ["--id-column", "acct", "--keep", "tx", "--keep", "flag", "--keep", "amount"]
    code, output = invoke("score", folder / "m.dagmm", folder / "rows.csv", "--out", out,
                          "--chunk-rows", chunk_rows, *copies, "--keep", "a")  # fmt: skip
    assert code == 0, output
    for column in ("acct", "tx", "flag", "amount", "a"):
        assert _csv_fields(out, column) == _csv_fields(folder / "rows.csv", column), column
    assert _csv_fields(out, "acct")[0] == "00000" and _csv_fields(out, "tx")[35] == ""
    assert len(set(_csv_fields(out, "tx"))) == 50  # 49 ids and the empty field
    code, output = invoke("score", folder / "m.dagmm", folder / "rows.csv", "--out", plain,
                          "--chunk-rows", chunk_rows)  # fmt: skip
    assert code == 0, output
    assert _csv_fields(out, "energy") == _csv_fields(plain, "energy")  # copies change no score


@pytest.mark.parametrize("source", ["rows.parquet", "rows.jsonl"])
def test_copied_integer_ids_keep_their_type_from_parquet_and_json_lines(copied, source):
    """Until 2026-12-07 a nullable Int64 id column of a Parquet file (and integers beside
    a null in JSON Lines) was read as float64: ``score --id-column tx`` wrote 49 distinct
    ids as one float, to Parquet as to CSV. Now the ids stay integers: the Parquet output's
    column is Int64 with its null, the CSV output's text every digit."""
    folder, rows = copied
    for chunk_rows in ("65536", "10"):
        out = folder / f"ids-{source}-{chunk_rows}.parquet"
        options = ["--id-column", "tx", "--keep", "acct", "--chunk-rows", chunk_rows]
        code, output = invoke("score", folder / "m.dagmm", folder / source, "--out", out, *options)
        assert code == 0, output
        written = pd.read_parquet(out)
        assert written["tx"].dtype == "Int64", written["tx"].dtype
        pd.testing.assert_series_equal(written["tx"], rows["tx"].reset_index(drop=True))
        assert written["acct"].tolist() == rows["acct"].tolist()
        text = folder / f"ids-{source}-{chunk_rows}.csv"
        code, output = invoke("score", folder / "m.dagmm", folder / source, "--out", text,
                              "--id-column", "tx", "--chunk-rows", chunk_rows)  # fmt: skip
        assert code == 0, output
        assert _csv_fields(text, "tx") == _csv_fields(folder / "rows.csv", "tx")


def test_explain_writes_ids_as_the_file_holds_them(copied):
    """Until 2026-12-07 ``explain --id-column`` typed the ids as ``score`` did: ``00012``
    written as ``12``; a Parquet file's nullable Int64 ids as float64, every id above
    2**53 one float ``1.152921504606847e+18``, with ``--rows`` too. Now they are the CSV
    file's text, or the Parquet file's integers (Int64, in a Parquet output)."""
    folder, rows = copied
    out = folder / "why.csv"
    code, output = invoke("explain", folder / "m.dagmm", folder / "rows.csv", "--out", out,
                          "--id-column", "acct", "--chunk-rows", "10")  # fmt: skip
    assert code == 0, output
    assert set(_csv_fields(out, "acct")) == set(rows["acct"])
    for options in ([], ["--rows", "40"]):
        out = folder / "why.parquet"
        code, output = invoke("explain", folder / "m.dagmm", folder / "rows.parquet", "--out",
                              out, "--id-column", "tx", "--chunk-rows", "10", *options)  # fmt: skip
        assert code == 0, output
        ids = pd.read_parquet(out)["tx"]
        assert ids.dtype == "Int64", (options, ids.dtype)
        assert set(ids.dropna()) <= set(rows["tx"].dropna()) and ids.nunique() >= 39, options


def test_report_lists_the_top_rows_by_their_ids_as_the_file_holds_them(copied):
    """Until 2026-12-07 the ``report`` top-rows table typed the ids as ``score`` did:
    ``00012`` listed as ``12``, every id above 2**53 as ``1.152921504606847e+18``. Now
    they are the CSV file's text, or the Parquet file's integers."""
    pytest.importorskip("matplotlib")
    folder, rows = copied
    for source, column in (("rows.csv", "acct"), ("rows.parquet", "tx")):
        report = folder / "report.html"
        options = ["--id-column", column, "--top", "50", "--chunk-rows", "10"]
        code, output = invoke(
            "report", folder / "m.dagmm", folder / source, "--out", report, *options
        )
        assert code == 0, output
        shown = re.findall(r"<tr><td>([^<]*)</td><td class=\"num\">", report.read_text())
        expected = {str(v) for v in rows[column].dropna()}
        assert len(shown) == 50 and expected <= set(shown), (column, shown[:5])


def test_json_lines_writes_every_type_as_json_reads_it():
    import math

    from dagmm.tableio import json_lines

    frame = pd.DataFrame(
        {
            "text": ['quote " and \\', "ü", None],
            "float": [190.8, np.nan, np.inf],
            "energy": [-2.885011169217613, 1e-20, 1.2345678901234567e19],
            "flag": [True, False, True],
            "maybe": pd.array([True, None, False], dtype="boolean"),
            "count": pd.array([1, None, 3], dtype="Int64"),
            "when": pd.to_datetime(["2024-01-01 10:00", None, "2024-03-01 00:00"]),
            "category": pd.Categorical(["x", "y", None]),
            "small": np.array([1, 0, 1], dtype=np.int8),
        }
    )
    lines = json_lines(frame)
    assert lines.endswith("\n") and lines.count("\n") == 3
    rows = [json.loads(line) for line in lines.splitlines()]
    assert [r["text"] for r in rows] == ['quote " and \\', "ü", None]
    assert rows[0]["float"] == 190.8 and '"float":190.8,' in lines  # no binary artefacts
    assert rows[1]["float"] is None and rows[2]["float"] is None  # JSON has no NaN or inf
    assert [r["energy"] for r in rows] == frame["energy"].tolist()  # exact round trip
    assert [r["flag"] for r in rows] == [True, False, True]
    assert [r["maybe"] for r in rows] == [True, None, False]
    assert [r["count"] for r in rows] == [1, None, 3]  # integers, not 1.0
    assert [r["when"] for r in rows] == ["2024-01-01T10:00:00", None, "2024-03-01T00:00:00"]
    assert [r["category"] for r in rows] == ["x", "y", None]
    assert [r["small"] for r in rows] == [1, 0, 1]
    assert not any(isinstance(v, float) and math.isnan(v) for r in rows for v in r.values())
    assert json_lines(frame.iloc[:0]) == ""


def test_a_trailing_delimiter_keeps_every_column_in_place(tmp_path):
    # Rows one field longer than the header made pandas take the first column for the
    # index: every value one column to the left, and a last column of NaN.
    header = "a,b,c\n"
    rows = "".join(f"{i % 7},{10 + i % 5},{100 + i % 3},\n" for i in range(60))
    (tmp_path / "rows.csv").write_text(header + rows)
    # A header that ends in the delimiter too leaves an empty, nameless column.
    (tmp_path / "both.csv").write_text("a,b,c,\n" + rows)
    from dagmm.tableio import read_table

    frame = read_table(tmp_path / "rows.csv")
    assert list(frame.columns) == ["a", "b", "c"]
    assert frame["a"].tolist()[:3] == [0, 1, 2] and frame["c"].tolist()[:3] == [100, 101, 102]
    for name in ("rows.csv", "both.csv"):
        code, output = invoke(
            "fit", tmp_path / name, "--out", tmp_path / f"{name}.dagmm", "--epochs", "1"
        )
        assert code == 0, output
        assert "3 columns" in output
    assert "left out column(s) ['Unnamed: 3']" in output


def test_values_beyond_the_header_are_refused_naming_the_line(tmp_path):
    # pandas dropped them with index_col=False (and before, shifted every column).
    rows = [f"{i % 7},{10 + i % 5},{100 + i % 3}," for i in range(60)]
    rows[41] = "1,2,3,4"
    (tmp_path / "extra.csv").write_text("a,b,c\n" + "\n".join(rows) + "\n")
    code, output = invoke("fit", tmp_path / "extra.csv", "--out", tmp_path / "m", "--epochs", "1")
    assert code == 2
    assert "line 43 holds more fields than the header names" in output
    assert not (tmp_path / "m").exists()


def _five_columns(n):
    """``n`` full rows of five numeric columns, each ending in a line break."""
    return "".join(f"{i % 7},{10 + i % 5},{100 + i % 3},{i % 4}.5,{i % 9}\n" for i in range(n))


@pytest.fixture(scope="module")
def imputing_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("short_rows")
    (folder / "full.csv").write_text("a,b,c,d,e\n" + _five_columns(60))
    model = folder / "impute.dagmm"
    code, output = invoke(
        "fit", folder / "full.csv", "--out", model, "--epochs", "1", "--missing", "impute"
    )
    assert code == 0, output
    return model


CUT_SHORT = (
    "cut.csv: line 62 holds 2 fields where the header names 5 (the last line, with no "
    "line break after it: a file still being written, or cut short?)"
)


def test_a_last_line_cut_short_is_refused_naming_it(imputing_model, tmp_path):
    # pandas read the fields it lacks as missing values: --missing impute scored the
    # half-written last line of a file with the training medians, exit 0.
    model = imputing_model
    cut = tmp_path / "cut.csv"
    cut.write_text("a,b,c,d,e\n" + _five_columns(60) + "1.5,2")
    fit = ("fit", cut, "--out", tmp_path / "o.dagmm", "--epochs", "1")
    runs = [
        (*fit, "--missing", "impute"),
        fit,
        (*fit, "--missing", "impute", "--sample-rows", "20"),
        *[
            ("score", model, cut, "--out", tmp_path / "o.csv", *chunks)
            for chunks in ((), ("--chunk-rows", "1"), ("--chunk-rows", "3"), ("--chunk-rows", "7"))
        ],
    ]
    for args in runs:
        code, output = invoke(*args)
        assert code == 2, (args, output)
        assert CUT_SHORT in output, (args, output)
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(("o.", ".o."))], args
    with gzip.open(tmp_path / "cut.csv.gz", "wt") as packed:
        packed.write(cut.read_text())
    code, output = invoke("score", model, tmp_path / "cut.csv.gz", "--out", tmp_path / "o.csv")
    assert code == 2 and CUT_SHORT.replace("cut.csv", "cut.csv.gz") in output, output
    piped = subprocess.run(
        [sys.executable, "-m", "dagmm.cli.main", "score", str(model), "-", "--out",
         str(tmp_path / "o.csv")],
        input=cut.read_text(), capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert piped.returncode == 2, piped.stderr
    assert CUT_SHORT.replace("cut.csv", "stdin") in piped.stderr, piped.stderr
    assert not (tmp_path / "o.csv").exists()
    from dagmm.tableio import DataFileError, read_table

    with pytest.raises(DataFileError, match="line 62 holds 2 fields"):
        read_table(cut)


def test_a_short_row_amid_the_file_is_refused_naming_it(imputing_model, tmp_path):
    model = imputing_model
    rows = _five_columns(60).splitlines(keepends=True)
    rows[27] = "3,4,5\n"
    (tmp_path / "mid.csv").write_text("a,b,c,d,e\n" + "".join(rows))
    message = (
        "mid.csv: line 29 holds 3 fields where the header names 5: its missing fields "
        "would be read as missing values; write every field, an empty one where a value "
        "is missing"
    )
    for chunks in ((), ("--chunk-rows", "1"), ("--chunk-rows", "3"), ("--chunk-rows", "28")):
        code, output = invoke(
            "score", model, tmp_path / "mid.csv", "--out", tmp_path / "o.csv", *chunks
        )
        assert code == 2 and message in output, (chunks, output)
        assert not (tmp_path / "o.csv").exists()
    code, output = invoke(
        "fit", tmp_path / "mid.csv", "--out", tmp_path / "o.dagmm", "--epochs", "1",
        "--missing", "impute",
    )  # fmt: skip
    assert code == 2 and message in output, output
    assert not (tmp_path / "o.dagmm").exists()


def test_empty_fields_are_missing_values_not_short_rows(imputing_model, tmp_path):
    # Only fields a row lacks make it short: an empty or quoted empty one is a missing
    # value, imputed as before; so is a row ending in a line break, and blank lines.
    model = imputing_model
    rows = _five_columns(60).splitlines(keepends=True)
    rows[5] = "1,,3,4,5\n"
    rows[9] = "1,2,3,4,\n"
    rows[12] = '1,2,3,4,""\n'
    rows[20] = "\n"
    (tmp_path / "empty.csv").write_text("a,b,c,d,e\n" + "".join(rows) + "1,2,3,4,")
    from dagmm.tableio import read_table

    frame = read_table(tmp_path / "empty.csv")
    assert len(frame) == 60 and frame["e"].isna().sum() == 3 and frame["b"].isna().sum() == 1
    for chunks in ((), ("--chunk-rows", "1"), ("--chunk-rows", "3")):
        code, output = invoke(
            "score", model, tmp_path / "empty.csv", "--out", tmp_path / "o.csv", *chunks
        )
        assert code == 0, (chunks, output)
        assert len(pd.read_csv(tmp_path / "o.csv")) == 60
    code, output = invoke(
        "fit", tmp_path / "empty.csv", "--out", tmp_path / "o.dagmm", "--epochs", "1",
        "--missing", "impute",
    )  # fmt: skip
    assert code == 0, output
    # a header ending in the delimiter over rows without it loses no value
    (tmp_path / "open.csv").write_text("a,b,c,d,e,\n" + _five_columns(60))
    assert read_table(tmp_path / "open.csv").shape == (60, 6)


def test_dates_as_text_are_refused_as_time_columns_are(tmp_path):
    rng = np.random.default_rng(0)
    times = pd.date_range("2024-01-01", periods=80, freq="h").astype(str)
    frame = pd.DataFrame({"ts": times, "x": rng.normal(size=80)})
    frame.to_csv(tmp_path / "times.csv", index=False)
    code, output = invoke("fit", tmp_path / "times.csv", "--out", tmp_path / "m", "--epochs", "1")
    assert code == 2
    assert "column 'ts' holds dates or times as text" in output and "--exclude ts" in output
    # A few dates repeated over the rows are labels, as before.
    frame["ts"] = np.array(["2024-01-01", "2024-01-02", "2024/01/03"])[np.arange(80) % 3]
    frame.to_csv(tmp_path / "days.csv", index=False)
    code, output = invoke("fit", tmp_path / "days.csv", "--out", tmp_path / "m", "--epochs", "1")
    assert code == 0, output


def test_a_missing_value_at_scoring_points_at_the_fit_option(tmp_path):
    # The policy is the model's, chosen at fit: "pass missing='impute'" named nothing a
    # user of `dagmm score` could pass.
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=80), "b": rng.normal(size=80)})
    frame.to_csv(tmp_path / "train.csv", index=False)
    frame.loc[5, "b"] = np.nan
    frame.to_csv(tmp_path / "new.csv", index=False)
    code, output = invoke("fit", tmp_path / "train.csv", "--out", tmp_path / "m", "--epochs", "1")
    assert code == 0, output
    code, output = invoke(
        "score", tmp_path / "m", tmp_path / "new.csv", "--out", tmp_path / "s.csv"
    )
    assert code == 2
    assert "column 'b' has 1 non-finite value(s) (NaN; row(s) 5)" in output
    assert "train with missing='impute' (dagmm fit --missing impute)" in output


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_pipe_is_refused_by_the_library_instead_of_hanging(tmp_path):
    """A named pipe with a data file's name (mkfifo flows.csv; also what <(zcat ...) and
    /dev/stdin are) is consumed by the first read of its header: until 2026-12-05 the
    next open waited for a writer for ever. The library refuses it before opening it
    (the command line copies it to a temporary file first: the tests of pipes below)."""
    from dagmm.tableio import DataFileError, read_table

    fifo = tmp_path / "flows.csv"
    os.mkfifo(fifo)
    with pytest.raises(DataFileError, match="is a pipe; dagmm reads a data file more than once"):
        read_table(fifo)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flows.csv"]


# ------------------------------------------------- pipes: DATA from -, --out -
def run_piped(*args, stdin=b"", env=None, timeout=300):
    """``dagmm ARGS`` fed ``stdin`` (bytes); stdout and stderr as bytes."""
    return subprocess.run(
        [sys.executable, "-m", "dagmm.cli.main", *map(str, args)],
        input=stdin,
        capture_output=True,
        env=env,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def piped(table):
    """The flows table, a model trained on it and its scores written to a CSV file."""
    folder, _ = table
    model = folder / "pipes.dagmm"
    assert fit_flows(folder, model, 2, "--random-state", "0").returncode == 0
    scores = folder / "pipes_scores.csv"
    argv = ["score", model, folder / "flows.csv", "--out", scores, "--id-column", "flow_id"]
    assert run_piped(*argv).returncode == 0
    return folder, model, scores.read_bytes()


def _spool_env(folder):
    """The environment with TMPDIR at ``folder``, where the copy of a pipe is made."""
    folder.mkdir(exist_ok=True)
    return {**os.environ, "TMPDIR": str(folder)}


def test_stdin_csv_is_data_for_fit_score_and_explain(piped, tmp_path):
    folder, model, expected = piped
    csv_bytes = (folder / "flows.csv").read_bytes()
    fitted = run_piped(
        "fit", "-", "--out", tmp_path / "m.dagmm", "--exclude", "flow_id", "--epochs", "1",
        stdin=csv_bytes,
    )  # fmt: skip
    assert fitted.returncode == 0, fitted.stderr
    assert (tmp_path / "m.dagmm").is_file()
    out = tmp_path / "scores.csv"
    scored = run_piped("score", model, "-", "--out", out, "--id-column", "flow_id", stdin=csv_bytes)
    assert scored.returncode == 0, scored.stderr
    assert out.read_bytes() == expected
    explained = run_piped("explain", model, "-", "--rows", "2", stdin=csv_bytes)
    assert explained.returncode == 0, explained.stderr
    assert b"contribution" in explained.stdout


def test_stdin_gzip_csv_is_found_from_its_bytes(piped, tmp_path):
    import gzip

    folder, model, expected = piped
    packed = gzip.compress((folder / "flows.csv").read_bytes())
    out = tmp_path / "scores.csv"
    result = run_piped("score", model, "-", "--out", out, "--id-column", "flow_id", stdin=packed)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == expected


def test_stdin_csv_whose_header_starts_bzh_is_csv_not_bzip2():
    """bzip2's signature is ``BZh``, a block size digit, then a 48-bit magic: until
    2026-12-07 the three letters alone made a piped CSV with a column ``BZh_rate``
    first "bzip2", and its read failed as a corrupt stream."""
    import bz2

    from dagmm.cli.pipes import sniffed_suffix

    assert sniffed_suffix(b"BZh_rate,duration\n1,2\n") == ".csv"
    assert sniffed_suffix(b"BZh9,duration\n1,2\n") == ".csv"
    for level in (1, 9):
        assert sniffed_suffix(bz2.compress(b"a,b\n1,2\n", level)) == ".csv.bz2"
    assert sniffed_suffix(bz2.compress(b"")) == ".csv.bz2"  # the end-of-stream magic


def test_stdin_parquet_is_found_from_its_bytes(piped, tmp_path):
    folder, model, expected = piped
    parquet = (folder / "flows.parquet").read_bytes()
    out = tmp_path / "scores.csv"
    result = run_piped("score", model, "-", "--out", out, "--id-column", "flow_id", stdin=parquet)
    assert result.returncode == 0, result.stderr
    # the same rows and energies (Parquet's floats round-trip exactly, as the CSV's)
    pd.testing.assert_frame_equal(pd.read_csv(out), pd.read_csv(io.BytesIO(expected)))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_fifo_path_is_copied_once_and_read(piped, tmp_path):
    """What <(zcat flows.csv.gz) gives: a path that is a pipe, written by another process."""
    import threading

    folder, model, expected = piped
    fifo = tmp_path / "flows.fifo"
    os.mkfifo(fifo)
    data = (folder / "flows.csv").read_bytes()

    def write() -> None:
        with open(fifo, "wb") as stream:  # waits for the reader to open the pipe
            for start in range(0, len(data), 1000):
                stream.write(data[start : start + 1000])

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    out = tmp_path / "scores.csv"
    result = run_piped("score", model, fifo, "--out", out, "--id-column", "flow_id")
    writer.join(timeout=60)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == expected


def test_out_dash_writes_the_csv_file_bytes_to_stdout_and_messages_to_stderr(piped, tmp_path):
    import torch

    folder, model, expected = piped
    options = ["--id-column", "flow_id", "--chunk-rows", "64", "--contamination", "0.1"]
    result = run_piped("score", model, folder / "flows.csv", "--out", "-", *options)
    assert result.returncode == 0, result.stderr
    # no summary, no "flagging energies above" in it: the bytes of the file
    wrote = run_piped("score", model, folder / "flows.csv", "--out", tmp_path / "s.csv", *options)
    assert wrote.returncode == 0, wrote.stderr
    assert result.stdout == (tmp_path / "s.csv").read_bytes()
    if not torch.cuda.is_available():
        # and on the CPU those of the file scored in one chunk at the model's own threshold
        # (a GPU scores a chunk of another size differently in the 7th digit)
        assert result.stdout == expected
    stderr = result.stderr.decode()
    assert "flagging energies above" in stderr and "wrote stdout" in stderr


def test_a_pipeline_from_stdin_to_stdout_keeps_stdout_clean(piped, tmp_path):
    folder, model, expected = piped
    result = run_piped(
        "score", model, "-", "--out", "-", "--id-column", "flow_id", "--only-anomalies",
        stdin=(folder / "flows.csv").read_bytes(), env=_spool_env(tmp_path / "spool"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    alerts = pd.read_csv(io.BytesIO(result.stdout))
    scores = pd.read_csv(io.BytesIO(expected))
    assert list(alerts.columns) == ["row", "flow_id", "energy", "is_anomaly"]
    assert alerts["flow_id"].tolist() == scores.loc[scores["is_anomaly"] == 1, "flow_id"].tolist()
    assert b"scored" in result.stderr and b"scored" not in result.stdout
    assert list((tmp_path / "spool").iterdir()) == []  # the copy of stdin is removed


def test_a_reader_leaving_a_scores_pipe_ends_quietly(piped):
    """`dagmm score MODEL DATA --out - | head -1`: the reader is gone before the rows."""
    folder, model, _ = piped
    process = subprocess.Popen(
        [sys.executable, "-m", "dagmm.cli.main", "score", str(model), "-", "--out", "-"],
        stdin=open(folder / "flows.csv", "rb"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=300) == 141 and stderr == ""


def test_piped_bytes_of_another_format_than_input_format_says_is_named_so(piped, tmp_path):
    """Until 2026-12-07 Parquet piped with --input-format csv said "name it
    dagmm-stdin-jr3zlygy.parquet", the name of dagmm's own temporary copy."""
    folder, model, _ = piped
    parquet = tmp_path / "flows.parquet"
    pd.read_csv(folder / "flows.csv").to_parquet(parquet)
    result = run_piped(
        "score", model, "-", "--out", "-", "--input-format", "csv",
        stdin=parquet.read_bytes(), env=_spool_env(tmp_path / "spool"),
    )  # fmt: skip
    stderr = result.stderr.decode()
    assert result.returncode == 2 and "dagmm-stdin" not in stderr, stderr
    assert "stdin: a Parquet file, not CSV text: drop --input-format" in stderr, stderr
    assert list((tmp_path / "spool").iterdir()) == []


def test_an_error_mid_stream_is_one_line_and_a_failure(piped, tmp_path):
    """A row that cannot be scored after chunks were written: those stay on stdout (a
    stream cannot be taken back), the status is 2 and stderr says why in one line; the
    copy of stdin is removed."""
    folder, model, _ = piped
    lines = (folder / "flows.csv").read_text().splitlines()
    lines[301] = lines[301].split(",")[0] + ",lots,1.0,tcp"  # row 300: text for bytes
    result = run_piped(
        "score", model, "-", "--out", "-", "--chunk-rows", "64",
        stdin=("\n".join(lines) + "\n").encode(), env=_spool_env(tmp_path / "spool"),
    )  # fmt: skip
    assert result.returncode == 2
    stderr = result.stderr.decode()
    assert stderr.startswith("dagmm: error: stdin: ") and stderr.count("\n") == 1, stderr
    assert "dagmm-stdin" not in stderr  # the user's name for the data, not the copy's
    assert result.stdout.startswith(b"energy,is_anomaly\n") and result.stdout.count(b"\n") > 64
    assert list((tmp_path / "spool").iterdir()) == []


def test_an_empty_stdin_is_the_error_of_an_empty_file(piped, tmp_path):
    _, model, _ = piped
    (tmp_path / "empty.csv").write_bytes(b"")
    from_file = run_piped("score", model, tmp_path / "empty.csv", "--out", tmp_path / "o.csv")
    from_stdin = run_piped("score", model, "-", "--out", tmp_path / "o.csv", stdin=b"")
    assert from_file.returncode == from_stdin.returncode == 2
    message = from_file.stderr.decode().replace(str(tmp_path / "empty.csv"), "stdin")
    assert from_stdin.stderr.decode() == message


def test_a_file_whose_name_tells_no_format_is_read_with_input_format(piped, tmp_path):
    """Until 2026-12-07 a file named without a suffix (a log file ``flows``, a TSV saved
    as ``flows.tsv.gz``) could be read only as stdin: --input-format was refused for a
    file ("its format comes from its name"), and .tsv.gz was an unsupported type."""
    import gzip
    import shutil

    folder, model, scores = piped
    argv = ["--id-column", "flow_id"]
    spool = tmp_path / "tmp"
    spool.mkdir()
    env = _spool_env(spool)
    flows = tmp_path / "flows"
    shutil.copyfile(folder / "flows.csv", flows)
    tabbed = pd.read_csv(folder / "flows.csv", dtype=str, keep_default_na=False)
    with gzip.open(tmp_path / "flows.tsv.gz", "wt") as stream:
        tabbed.to_csv(stream, sep="\t", index=False)
    (tmp_path / "tabs").write_bytes((tmp_path / "flows.tsv.gz").read_bytes())
    for data, extra in (
        (flows, ["--input-format", "csv"]),
        (tmp_path / "flows.tsv.gz", []),
        (tmp_path / "tabs", ["--input-format", "tsv"]),  # gzip found from its bytes
    ):
        out = tmp_path / "o.csv"
        result = run_piped("score", model, data, "--out", out, *argv, *extra, env=env)
        assert result.returncode == 0, (data, result.stderr)
        assert out.read_bytes() == scores, data
        assert not list(spool.iterdir())  # the link and its folder are gone
        out.unlink()
    refused = run_piped("score", model, flows, "--out", tmp_path / "o.csv")
    assert refused.returncode == 2 and b"unsupported file type" in refused.stderr
    # a message names the file as given, not the link read
    bad = tmp_path / "broken"
    bad.write_text("flow_id,bytes\nx,1\n")
    result = run_piped(
        "score", model, bad, "--out", tmp_path / "o.csv", "--input-format", "csv", env=env
    )
    assert result.returncode == 2 and str(bad).encode() in result.stderr, result.stderr
    assert b"dagmm-input-" not in result.stderr and not list(spool.iterdir())


@pytest.mark.parametrize(
    "args, message",
    [
        (["score", "-", "-", "--out", "o.csv"], "a model is read from its file by path, not from"),
        (["score", "{m}", "{d}", "--out", "o.csv", "--input-format", "csv"], "--input-format is"),
        (["fit", "-", "--out", "-"], "fit --out -: a model is a file"),
        (["fit", "-", "--out", "o.dagmm", "--distributed"], "every process reads DATA itself"),
        (["report", "{m}", "{d}", "--out", "-"], "report --out -: a report is an HTML file"),
        (["score", "{m}", "{d}", "--out", "-", "--engine", "spark"], "needs --engine local"),
    ],
)
def test_what_cannot_be_piped_is_refused_in_one_line(piped, tmp_path, args, message):
    folder, model, _ = piped
    argv = [a.format(m=model, d=folder / "flows.csv") for a in args]
    result = run_piped(*argv, stdin=(folder / "flows.csv").read_bytes(), env=_spool_env(tmp_path))
    stderr = result.stderr.decode()
    assert result.returncode == 2 and stderr.count("\n") == 1 and message in stderr, stderr
    assert result.stdout == b"" and list(tmp_path.iterdir()) == []


def test_a_wrong_out_is_refused_before_an_endless_pipe_is_read(piped, tmp_path):
    """The copy of stdin would never end (`yes` writes for ever): a folder that does not
    exist in --out is said at once, not after the input (until 2026-12-05, hours after
    pipes were read, only after the whole copy)."""
    _, model, _ = piped
    for command, out in (("score", "missing/o.csv"), ("fit", "missing/m.dagmm")):
        endless = subprocess.Popen(["yes", "1.0,2.0"], stdout=subprocess.PIPE)
        try:
            result = subprocess.run(
                [sys.executable, "-m", "dagmm.cli.main", command, *([model] * (command == "score")),
                 "-", "--out", str(tmp_path / out)],
                stdin=endless.stdout, capture_output=True, timeout=120,
                env=_spool_env(tmp_path / "spool"),
            )  # fmt: skip
        finally:
            endless.kill()
            endless.wait()
        stderr = result.stderr.decode()
        assert result.returncode == 2 and stderr.count("\n") == 1, stderr
        assert "does not exist" in stderr and str(tmp_path / "missing") in stderr
        assert list((tmp_path / "spool").iterdir()) == []


def test_the_copy_of_a_pipe_stops_before_the_disk_is_full(piped, tmp_path):
    """A stream without end would fill the temporary folder's disk, which other programs
    share: the copy stops while DAGMM_SPOOL_RESERVE_BYTES are still free (here 16 MiB
    of room are left to it), says why in one line and removes itself."""
    _, model, _ = piped
    spool = tmp_path / "spool"
    env = _spool_env(spool)
    env["DAGMM_SPOOL_RESERVE_BYTES"] = str(shutil.disk_usage(spool).free - (16 << 20))
    stdin = b"bytes,duration,proto\n" + b"1.0,2.0,tcp\n" * (6 << 20)  # 72 MiB
    result = run_piped("score", model, "-", "--out", tmp_path / "o.csv", stdin=stdin, env=env)
    stderr = result.stderr.decode()
    assert result.returncode == 2 and stderr.count("\n") == 1, stderr
    assert "stdin: stopped copying the input after" in stderr and "tail -f" in stderr
    assert list(spool.iterdir()) == [] and not (tmp_path / "o.csv").exists()


def test_a_csv_file_is_read_twice_its_first_line_then_its_rows(tmp_path, monkeypatch):
    """Until 2026-12-05 the header was read by three separate opens of the file (separator,
    names given twice, the missing-value words' columns) before the rows."""
    from dagmm import tableio

    comma, semicolon = tmp_path / "a.csv", tmp_path / "b.csv"
    comma.write_text("a,b,kind\n1,2,x\n3,4,NA\n")
    semicolon.write_text("a;b;kind\n1;2;x\n3;4;NA\n")
    real, opened = pd.read_csv, []

    def counting(path, *args, **kwargs):
        opened.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(pd, "read_csv", counting)
    for text_columns in (None, ["kind"]):
        opened.clear()
        frame = tableio.read_table(comma, text_columns=text_columns)
        assert opened == [comma, comma]
        assert frame["kind"].tolist() == ["x", "NA"]  # a category in a text column
    opened.clear()
    frame = tableio.read_table(semicolon)
    # the first line again, split by ";", then its first lines for its decimal mark
    assert opened == [semicolon] * 4
    assert list(frame.columns) == ["a", "b", "kind"]


@pytest.mark.parametrize(
    ("mark", "spelling", "sep", "decimal"),
    [
        ("\u00a0", "nbsp", ";", ","),  # French: 1 234,56 with no-break spaces
        ("\u202f", "nnbsp", ";", ","),  # narrow no-break spaces
        (" ", "space", ";", ","),
        ("\u00a0", "\u00a0", ";", ","),  # the character itself
        ("'", "'", ",", "."),  # Swiss: 1'234.56
        ("\u2019", "\u2019", ",", "."),
    ],
    ids=["nbsp", "nnbsp", "space", "nbsp_char", "apostrophe", "quote_mark"],
)
def test_thousands_marks_of_other_locales_read_the_same_numbers(
    tmp_path, mark, spelling, sep, decimal
):
    # Until 2026-12-05 --thousands refused any mark but one ASCII character, and pandas'
    # parser leaves a no-break space in the text: such files could not be read as numbers.
    from dagmm import load

    frame = _flows_in_locales(tmp_path)
    frame["bytes"] += 1000  # every value has its thousands grouped
    frame["proto"] = frame["proto"].where(frame.index != 4, f"x{mark}y 1{mark}234")
    frame.to_csv(tmp_path / "points.csv", index=False)
    written = frame.astype(object)
    written["bytes"] = [
        f"{v:,.2f}".replace(",", "G").replace(".", decimal).replace("G", mark)
        for v in frame["bytes"]
    ]
    written["duration"] = [str(v).replace(".", decimal) for v in frame["duration"]]
    written.to_csv(tmp_path / "local.csv.gz", index=False, sep=sep)
    models = {}
    for name, options in (("points", ()), ("local", ("--thousands", spelling))):
        data = tmp_path / ("points.csv" if name == "points" else "local.csv.gz")
        out = tmp_path / f"{name}.dagmm"
        code, output = invoke(
            "fit", data, "--out", out, "--epochs", "1", "--random-state", "0", *options
        )
        assert code == 0, output
        models[name] = load(out)
        code, output = invoke(
            "score", out, data, "--out", tmp_path / f"{name}-scores.csv", *options
        )
        assert code == 0, output
    # the same numbers, and the text column's own marks left as they were
    assert models["local"].encoder_.categories == models["points"].encoder_.categories
    assert f"x{mark}y 1{mark}234" in models["local"].encoder_.categories["proto"]
    np.testing.assert_array_equal(
        models["local"].decision_scores_, models["points"].decision_scores_
    )
    np.testing.assert_array_equal(
        pd.read_csv(tmp_path / "local-scores.csv")["energy"],
        pd.read_csv(tmp_path / "points-scores.csv")["energy"],
    )
    # without --thousands: refused at fit, and at scoring, naming the spelling to give
    names = {"\u00a0": "nbsp", "\u202f": "nnbsp", " ": "space", "'": '"\'"', "\u2019": "'\u2019'"}
    hint = f"--thousands {names.get(mark, mark)}"
    code, output = invoke("fit", tmp_path / "local.csv.gz", "--out", tmp_path / "x.dagmm")
    assert code == 2 and "column 'bytes' would be a category" in output, output
    assert hint in output and "pandas" not in output, output
    code, output = invoke(
        "score", tmp_path / "points.dagmm", tmp_path / "local.csv.gz", "--out", tmp_path / "x.csv"
    )
    assert code == 2 and "column 'bytes' should be numeric" in output, output
    assert f"(dagmm score {'--decimal , ' if decimal == ',' else ''}{hint})" in output, output


def test_numbers_as_text_in_a_typed_file_are_converted_upstream(tmp_path):
    # Parquet holds the column as text: --decimal cannot apply (CSV only), so until
    # 2026-12-05 the hint named an option the same command then refused.
    frame = _flows_in_locales(tmp_path)
    written = frame.astype({"bytes": object})
    written["bytes"] = [f"{v:.2f}".replace(".", ",") for v in frame["bytes"]]
    written.to_parquet(tmp_path / "text.parquet", index=False)
    code, output = invoke("fit", tmp_path / "text.parquet", "--out", tmp_path / "m.dagmm")
    assert code == 2 and not (tmp_path / "m.dagmm").exists()
    (line,) = output.strip().splitlines()
    assert "column 'bytes' would be a category" in line, line
    assert "the file stores column 'bytes' as text" in line and "--decimal ," not in line, line
    code, output = invoke(
        "fit", tmp_path / "points.csv", "--out", tmp_path / "p.dagmm", "--epochs", 1
    )
    assert code == 0, output
    code, output = invoke(
        "score", tmp_path / "p.dagmm", tmp_path / "text.parquet", "--out", tmp_path / "o.csv"
    )
    (line,) = output.strip().splitlines()
    assert code == 2 and "column 'bytes' should be numeric" in line, line
    assert "the file stores column 'bytes' as text" in line and "--decimal ," not in line, line


def test_wide_thousands_marks_are_refused_for_the_decimal_mark(tmp_path):
    _flows_in_locales(tmp_path)
    for args, message in (
        (("--decimal", "nbsp"), "'nbsp' is not one character"),
        (("--decimal", "\u00a0"), "is not an ASCII character, which"),
        (
            ("--thousands", "\u00e9"),
            "is neither an ASCII character, which pandas' CSV parser needs, nor a no-break",
        ),
        (("--thousands", "tab"), "(or one of the names space, nbsp, nnbsp)"),
    ):
        code, output = invoke("fit", tmp_path / "semi.csv", "--out", tmp_path / "m.dagmm", *args)
        assert code == 2 and message in output, (args, output)


@pytest.mark.parametrize("command", ["score", "explain", "report"])
def test_a_time_column_where_the_model_read_numbers_is_refused_in_one_line(tmp_path, command):
    # Until 2026-12-05 a Parquet file whose numeric column had become a timestamp was
    # scored silently: pandas read each time as its nanoseconds, far out of range.
    if command == "report":
        pytest.importorskip("matplotlib")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=80), "b": rng.normal(size=80)})
    frame.to_csv(tmp_path / "train.csv", index=False)
    frame.assign(b=pd.date_range("2026-01-01", periods=80, freq="h")).to_parquet(
        tmp_path / "new.parquet"
    )
    code, output = invoke("fit", tmp_path / "train.csv", "--out", tmp_path / "m", "--epochs", "1")
    assert code == 0, output
    out = tmp_path / ("r.html" if command == "report" else "s.csv")
    code, output = invoke(command, tmp_path / "m", tmp_path / "new.parquet", "--out", out)
    assert code == 2, output
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dagmm: error:"), output
    assert "column 'b' holds datetime64[" in output
    assert "where the model expects numbers, as in its training data" in output
    assert not out.exists()


def test_a_category_of_integers_scores_the_same_once_its_column_gains_a_missing_value(tmp_path):
    # A category column of integers (with a code among them, so text at fit) scored from
    # a file that pandas wrote after a missing value made the column float64: until
    # 2026-12-05 "1.0" was not "1", and every row was a category never seen.
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=200), "code": rng.choice([1, 2, 30], 200)})
    frame = frame.astype({"code": object})
    frame.loc[0, "code"] = "x9"
    frame.to_csv(tmp_path / "train.csv", index=False)
    code, output = invoke(
        "fit", tmp_path / "train.csv", "--out", tmp_path / "m", "--epochs", "1",
        "--missing", "impute",
    )  # fmt: skip
    assert code == 0, output
    rows = pd.read_csv(tmp_path / "train.csv").iloc[1:41].reset_index(drop=True)
    assert not pd.api.types.is_numeric_dtype(rows["code"])  # "x9" is in the file: text
    rows.to_csv(tmp_path / "same.csv", index=False)
    gap = rows.assign(code=rows["code"].astype(float))
    gap.loc[5, "code"] = np.nan
    gap.to_csv(tmp_path / "gap.csv", index=False)  # 1.0, 2.0, 30.0 and an empty field
    gap.to_parquet(tmp_path / "gap.parquet")  # float64 with a null
    code, output = invoke(
        "score", tmp_path / "m", tmp_path / "same.csv", "--out", tmp_path / "s.csv"
    )
    assert code == 0, output
    expected = pd.read_csv(tmp_path / "s.csv")["energy"].drop(index=5)
    for name in ("gap.csv", "gap.parquet"):
        out = tmp_path / f"{name}.scores.csv"
        code, output = invoke("score", tmp_path / "m", tmp_path / name, "--out", out)
        assert code == 0 and "never seen" not in output, output
        energy = pd.read_csv(out)["energy"]
        np.testing.assert_allclose(energy.drop(index=5), expected, rtol=1e-6)


def test_a_fit_without_a_seed_prints_the_one_it_drew_which_repeats_it(table, tmp_path):
    """Until 2026-12-05 two `dagmm fit` runs without --random-state gave two models and
    nothing said how to get either again; now the drawn seed is printed, and giving it
    repeats the fit, the sample of --sample-rows included."""
    folder, _ = table
    energies, seeds = [], []
    for name in ("a", "b"):
        code, output = invoke(
            "fit", folder / "flows.csv", "--out", tmp_path / f"{name}.dagmm", "--exclude",
            "flow_id", "--epochs", "2", "--sample-rows", "300",
        )  # fmt: skip
        assert code == 0, output
        found = re.search(
            r"random state (\d+) \(drawn: --random-state \1 repeats this fit\)", output
        )
        assert found, output
        seeds.append(int(found.group(1)))
    assert seeds[0] != seeds[1]
    code, output = invoke(
        "fit", folder / "flows.csv", "--out", tmp_path / "again.dagmm", "--exclude", "flow_id",
        "--epochs", "2", "--sample-rows", "300", "--random-state", seeds[0],
    )  # fmt: skip
    assert code == 0 and "random state" not in output, output
    for name in ("a", "again"):
        code, output = invoke(
            "score", tmp_path / f"{name}.dagmm", folder / "flows.csv", "--out",
            tmp_path / f"{name}.csv",
        )  # fmt: skip
        assert code == 0, output
        energies.append(pd.read_csv(tmp_path / f"{name}.csv")["energy"].to_numpy())
    np.testing.assert_array_equal(energies[0], energies[1])


def test_exclude_takes_a_comma_list_and_a_typo_names_the_columns(table, tmp_path):
    _, frame = table
    data = tmp_path / "t.csv"
    frame.assign(**{"label": 0, "a,b": 1.0}).to_csv(data, index=False)
    out = tmp_path / "m.dagmm"
    common = ["--out", out, "--epochs", "1", "--random-state", "0"]
    # one option naming two columns, as one per option does (until 2026-12-05: refused)
    code, output = invoke("fit", data, "--exclude", "flow_id,label", "--exclude", "a,b", *common)
    assert code == 0, output
    assert load_columns(out) == ["bytes", "duration", "proto"]
    code, output = invoke("fit", data, "--exclude", "flow_id, label ", *common)
    assert code == 0 and load_columns(out) == ["bytes", "duration", "proto", "a,b"], output
    out.unlink()
    code, output = invoke("fit", data, "--exclude", "flow_idd", *common)
    assert code == 2 and not out.exists()
    assert (
        "--exclude column(s) ['flow_idd'] not in the file ('flow_idd': did you mean 'flow_id'?)"
        in output
    )
    code, output = invoke("fit", data, "--exclude", "zzz", *common)
    assert code == 2 and not out.exists()
    assert (
        "--exclude column(s) ['zzz'] not in the file; its columns: 'flow_id', 'bytes', "
        "'duration', 'proto', 'label', 'a,b'"
    ) in " ".join(output.split())


@pytest.mark.parametrize("chunk_rows", ["65536", "7"])
def test_a_column_the_file_lacks_is_named_with_the_option_that_asked_for_it(
    table, tmp_path, chunk_rows
):
    from dagmm import DAGMM

    _, frame = table
    data = tmp_path / "t.csv"
    frame.assign(label=0).to_csv(data, index=False)
    frame.drop(columns="bytes").to_csv(tmp_path / "no_bytes.csv", index=False)
    features = frame[["bytes", "duration", "proto"]]
    named = tmp_path / "named.dagmm"
    DAGMM(epochs=1, hidden_sizes=(4,), random_state=0).fit(features).save(named)
    numbers = tmp_path / "numbers.dagmm"  # a model of an array: it reads every column
    DAGMM(epochs=1, hidden_sizes=(4,), random_state=0).fit(
        frame[["bytes", "duration"]].to_numpy()
    ).save(numbers)
    frame[["bytes", "duration", "flow_id"]].to_csv(tmp_path / "two.csv", index=False)
    out = tmp_path / "out.csv"
    has = "; the file has ['flow_id', 'bytes', 'duration', 'proto', 'label']"
    cases = [
        (["score", named, data, "--id-column", "nope"], "['nope'], wanted by --id-column" + has),
        (["score", named, data, "--keep", "lable"],
         "['lable'] ('lable': did you mean 'label'?), wanted by --keep" + has),
        (["score", named, tmp_path / "no_bytes.csv", "--id-column", "nope"],
         "['bytes', 'nope'], wanted by the model ('bytes') and --id-column ('nope')"),
        (["score", named, tmp_path / "no_bytes.csv"], "['bytes'], wanted by the model;"),
        # --keep takes one column a time (--exclude takes a list)
        (["score", named, data, "--keep", "flow_id,label"],
         "['flow_id,label'], wanted by --keep (--keep takes one column: repeat it, "
         "--keep flow_id --keep label)" + has),
        (["score", numbers, tmp_path / "two.csv", "--id-column", "flow"],
         "['flow'] ('flow': did you mean 'flow_id'?), wanted by --id-column"),
        (["explain", named, data, "--id-column", "nope"], "['nope'], wanted by --id-column" + has),
        (["explain", numbers, tmp_path / "two.csv", "--id-column", "nope"],
         "['nope'], wanted by --id-column"),
        (["report", named, data, "--labels", "lable"],
         "['lable'] ('lable': did you mean 'label'?), wanted by --labels" + has),
        (["report", named, data, "--labels", "label", "--id-column", "flow"],
         "['flow'] ('flow': did you mean 'flow_id'?), wanted by --id-column" + has),
    ]  # fmt: skip
    for args, message in cases:
        command = args[0]
        target = out.with_suffix(".html") if command == "report" else out
        code, output = invoke(*args, "--out", target, "--chunk-rows", chunk_rows)
        said = " ".join(output.split())
        assert code == 2 and f"missing column(s) {message}" in said, (args, output)
        assert not target.exists(), args
    assert set(os.listdir(tmp_path)) == {
        "t.csv",
        "no_bytes.csv",
        "two.csv",
        "named.dagmm",
        "numbers.dagmm",
    }


def test_a_tilde_the_shell_left_in_a_path_option_is_the_home_folder(table, tmp_path, monkeypatch):
    # bash leaves `--out=~/runs` and a quoted '~/runs' as they are: until 2026-12-07 fit
    # refused it ("directory ~ does not exist") and reproduce and benchmark wrote their
    # results into a new folder named `~` in the current one.
    folder, _ = table
    home, here = tmp_path / "home", tmp_path / "here"
    home.mkdir()
    here.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(here)
    code, output = invoke(
        "fit", folder / "flows.csv", "--out=~/m.dagmm", "--epochs", "1", "--random-state", "0",
        "--checkpoint", "~/m.ckpt",
    )  # fmt: skip
    assert code == 0, output
    assert (home / "m.dagmm").is_file() and (home / "m.ckpt").is_file()
    code, output = invoke("score", "~/m.dagmm", folder / "flows.csv", "--out=~/s.csv")
    assert code == 0 and (home / "s.csv").is_file(), output
    code, output = invoke("report", "~/m.dagmm", folder / "flows.csv", "--out", "~/r.html")
    assert code == 0 and (home / "r.html").is_file(), output
    assert list(here.iterdir()) == []  # no folder named ~


def load_columns(path) -> list[str]:
    import dagmm

    return list(dagmm.load(path).encoder_.columns)


def test_help_version_and_usage_errors_do_not_import_torch_or_pandas():
    # `import dagmm` imported the estimator, so `dagmm --help` took 2.5 s and 370 MB
    # (torch, scikit-learn, pandas) to print its usage.
    code = """if True:
        import sys
        from click.testing import CliRunner
        import dagmm
        from dagmm.cli.main import cli
        usage_error = ["fit", "x.csv", "--epoch", "1"]
        for argv in (["--help"], ["--version"], ["fit", "--help"], usage_error):
            result = CliRunner().invoke(cli, argv)
            assert result.exit_code == (2 if argv is usage_error else 0), result.output
        print(sorted(m for m in ("torch", "sklearn", "pandas", "numba") if m in sys.modules))
    """
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_package_names_import_on_first_use():
    import sklearn.exceptions

    import dagmm
    from dagmm import estimator, exceptions, persistence

    assert dagmm.DAGMM is estimator.DAGMM and dagmm.fit_ensemble is estimator.fit_ensemble
    assert dagmm.load is persistence.load
    assert dagmm.NotFittedError is exceptions.NotFittedError is sklearn.exceptions.NotFittedError
    assert issubclass(dagmm.InvalidInputError, dagmm.DAGMMError)
    assert set(dagmm.__all__) <= set(dir(dagmm))
    namespace: dict = {}
    exec("from dagmm import *", namespace)
    assert {name for name in namespace if not name.startswith("__")} | {"__version__"} == set(
        dagmm.__all__
    )
    with pytest.raises(AttributeError, match="has no attribute 'DAGMMM'"):
        dagmm.DAGMMM  # noqa: B018
    with pytest.raises(AttributeError, match="has no attribute 'NotFitted'"):
        exceptions.NotFitted  # noqa: B018


def test_python_dash_m_dagmm_is_the_dagmm_command():
    # where pip puts the script off PATH (pip install --user, some Windows setups)
    run_m = [sys.executable, "-m", "dagmm"]
    version = subprocess.run([*run_m, "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("dagmm, version "), version
    wrong = subprocess.run([*run_m, "fit", "x.csv", "--epoch", "1"], capture_output=True, text=True)
    assert wrong.returncode == 2, wrong
    # click 8.1.0 quotes no option name ("No such option: --epoch"), newer ones do
    assert wrong.stderr.startswith("dagmm: error: No such option"), wrong.stderr
    assert "--epoch" in wrong.stderr and "\n" not in wrong.stderr.rstrip("\n"), wrong.stderr


def test_the_documented_tab_completion_completes_commands_and_choices():
    # docs/cli.md: eval "$(_DAGMM_COMPLETE=bash_source dagmm)"; each Tab runs the
    # command line, so it must not load torch (see the test of --help above)
    run_m = [sys.executable, "-m", "dagmm"]

    def complete(words: str) -> list[str]:
        env = {
            **os.environ,
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
            "_DAGMM_COMPLETE": "bash_complete",
        }
        out = subprocess.run(run_m, env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return out.stdout.split()

    assert complete("dagmm sc") == ["plain,score"]
    assert complete("dagmm fit --preset ") == [
        "plain,arrhythmia", "plain,kddcup", "plain,kddcup_rev", "plain,thyroid",
    ]  # fmt: skip
    env = {**os.environ, "_DAGMM_COMPLETE": "bash_source"}
    script = subprocess.run(run_m, env=env, capture_output=True, text=True)
    assert "_dagmm_completion()" in script.stdout, script.stderr


def test_info_of_an_early_stopped_fit_says_the_epochs_run_and_the_weights_kept(table, tmp_path):
    """Until 2026-12-07 ``dagmm info`` of a fit that early stopping ended after 26 of 200
    epochs, keeping epoch 16's weights, said "trained: 200 epochs" and the last epoch's
    loss as if it were the model's. It says the epochs run, and which epoch's weights the
    file holds with that epoch's losses; ``--json`` adds ``epochs_run``, ``best_epoch``,
    ``best_epoch_loss`` and ``best_epoch_val_loss`` (``epochs`` and ``final_loss`` keep
    their meaning: scheduled epochs, the last epoch's loss)."""
    import dagmm

    folder, _ = table
    model = tmp_path / "v.dagmm"
    code, output = invoke(
        "fit", folder / "flows.csv", "--exclude", "flow_id", "--out", model, "--epochs", 200,
        "--validation-fraction", 0.3, "--batch-size", 32, "--learning-rate", 0.05,
        "--random-state", 0,
    )  # fmt: skip
    assert code == 0, output
    # the 400 rows: 120 held out, scored each epoch, not trained on (until 2026-12-07
    # "trained on 400 rows")
    assert "trained on 280 rows x 3 columns (120 more held out for validation) in" in output
    loaded = dagmm.load(model)
    run_, best = len(loaded.history_["loss"]), loaded.best_epoch_
    assert run_ < 200 and 0 < best < run_  # the case: stopped early, earlier weights kept
    code, output = invoke("info", model, "--json")
    summary = _strict_json(output)
    assert summary["epochs"] == 200 and summary["epochs_run"] == run_
    assert summary["best_epoch"] == best
    assert summary["best_epoch_loss"] == loaded.history_["loss"][best - 1]
    assert summary["best_epoch_val_loss"] == loaded.history_["val_loss"][best - 1]
    assert summary["final_loss"] == loaded.history_["loss"][-1]
    code, text = invoke("info", model)
    assert f"trained: {run_} of 200 epochs (stopped early)" in text, text
    assert f"weights kept: epoch {best}'s (lowest validation loss)" in text, text
    assert f"validation loss {loaded.history_['val_loss'][best - 1]:.5g}" in text, text


def test_resume_from_a_cut_short_or_empty_checkpoint_gets_the_checkpoint_loader_s_word(
    table, model_and_checkpoint, tmp_path
):
    """Until 2026-12-07 ``fit --checkpoint ckt.ckpt --resume`` of a checkpoint cut short
    (``head -c 10000``) said it "exists and is a file of unknown content ... delete it
    first", and of an empty one "not a readable checkpoint (cke.ckpt: not a dagmm model
    file (only 0 bytes))". Both are read as checkpoints, and the loader says what is
    wrong, before the data are read; the file is left as it was."""
    folder, _ = table
    _, checkpoint = model_and_checkpoint
    data = checkpoint.read_bytes()
    cut, empty = tmp_path / "ckt.ckpt", tmp_path / "cke.ckpt"
    cut.write_bytes(data[: len(data) // 3])
    empty.write_bytes(b"")
    expected = {
        cut: f"{cut}: truncated dagmm checkpoint (its header of",
        empty: f"{empty}: not a dagmm checkpoint (only 0 bytes)",
    }
    for path, message in expected.items():
        before = path.read_bytes()
        code, output = invoke(
            "fit", folder / "nope.csv", "--out", tmp_path / "x.dagmm", "--checkpoint", path,
            "--resume", "--epochs", 3,
        )  # fmt: skip
        lines = output.strip().splitlines()
        assert code == 2 and len(lines) == 1 and message in lines[0], output
        assert "delete it" not in output and "model" not in output
        assert path.read_bytes() == before


def test_fit_then_score_a_csv_of_unix_times_keeps_every_second(tmp_path):
    """A CSV's Unix times within an hour (about 1.7e9) reached the float32 network in
    steps of 128 s until 2026-12-07, so rows a minute apart scored alike. The encoder
    shifts such a column in float64 first; ``dagmm info`` names the column and the shift,
    and a row moved by one minute scores differently."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"ts": 1.7e9 + np.arange(300) * 12.0, "bytes": rng.gamma(2.0, 100.0, 300)})
    frame.to_csv(tmp_path / "t.csv", index=False)
    model = tmp_path / "m.dagmm"
    code, output = invoke("fit", tmp_path / "t.csv", "--out", model, "--epochs", 3)
    assert code == 0, output
    code, text = invoke("info", model)
    assert "shifted in float64 before float32: ts - 1700000000" in text, text
    code, output = invoke("info", model, "--json")
    assert _strict_json(output)["shifted_columns"] == {"ts": 1.7e9}
    moved = frame.head(2).assign(ts=frame["ts"].iloc[0] + np.array([0.0, 60.0]))
    moved["bytes"] = frame["bytes"].iloc[0]  # the same row, one minute apart
    moved.to_csv(tmp_path / "moved.csv", index=False)
    code, output = invoke("score", model, tmp_path / "moved.csv", "--out", tmp_path / "s.csv")
    assert code == 0, output
    scores = pd.read_csv(tmp_path / "s.csv")["energy"].to_numpy()
    assert scores[0] != scores[1], scores
    # explain writes the column in its own units, every second of it
    code, output = invoke("explain", model, tmp_path / "moved.csv", "--out", tmp_path / "e.csv")
    assert code == 0, output
    explained = pd.read_csv(tmp_path / "e.csv", dtype=str)
    assert list(explained.loc[explained["column"] == "ts", "value"]) == [
        "1700000000",
        "1700000060",
    ], explained
    code, output = invoke("report", model, tmp_path / "t.csv", "--out", tmp_path / "r.html")
    assert code == 0, output
    page = (tmp_path / "r.html").read_text()
    assert "numeric, sent as ts - 1700000000 (in float64, before float32)" in page


@pytest.mark.parametrize(
    "args",
    [
        ["demo", "--save-model", "{tmp}/no/such/folder/m.dagmm"],
        ["fit", "{tmp}/missing.csv", "--out", "{tmp}/m.dagmm"],
        ["score", "{tmp}/missing.dagmm", "{tmp}/missing.csv", "--out", "{tmp}/s.csv"],
        ["explain", "{tmp}/missing.dagmm", "{tmp}/missing.csv", "--out", "{tmp}/e.csv"],
        ["report", "{tmp}/missing.dagmm", "{tmp}/missing.csv", "--out", "{tmp}/r.html"],
        ["reproduce", "thyroid", "--data-dir", "{tmp}/no/such/folder", "--out", "{tmp}/o"],
    ],
    ids=lambda args: args[0],
)
def test_every_command_that_trains_or_scores_takes_threads(args, tmp_path, monkeypatch):
    """docs/performance.md tells users on a busy machine to use --threads 1 (two torch
    threads spin-wait for each other there: demo took 71 s against 3.6 s with one); until
    2026-12-07 only reproduce and benchmark had the option."""
    import torch

    asked: list[int] = []
    monkeypatch.setattr(torch, "set_num_threads", asked.append)
    code, output = invoke(*[a.format(tmp=tmp_path) for a in args], "--threads", 1)
    assert code == 2 and "No such option" not in output, output  # failed on its arguments
    assert asked == [1], output
