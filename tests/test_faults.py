"""Faults: processes killed mid-write, interrupted training, divergence, collapse."""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import dagmm
import dagmm.checkpoint as checkpoint_module
from dagmm import DAGMM
from dagmm.checkpoint import load_checkpoint, save_checkpoint
from dagmm.estimator import ComponentCollapseWarning, collapsed_components
from dagmm.exceptions import CheckpointError, InvalidInputError, TrainingDivergedError

SRC = str(Path(dagmm.__file__).resolve().parents[1])
PACKAGE = Path(dagmm.__file__).parent


def _foreground_signals() -> None:
    """In the child, before exec: Ctrl-C's default handling, as in a terminal's
    foreground. A shell script's background job (`cmd &`) and all it starts ignore
    SIGINT, and a Python started with SIGINT ignored keeps ignoring it: run from such a
    job, the suite would send Ctrl-C to a command deaf to it (the README check did)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dagmm.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(),
    )


def _wait_for(predicate, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"writer exited early: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("timed out waiting for the writer")
        time.sleep(0.005)


# A child that saves two different models to the same path over and over; the
# scores tensor makes each file ~16 MB so that a kill lands mid-write.
_SAVER = """
import sys
import numpy as np
from dagmm import DAGMM
path = sys.argv[1]
rng = np.random.default_rng(0)
model = DAGMM(epochs=0, n_components=2, hidden_sizes=(4,), random_state=0).fit(
    rng.normal(size=(20, 3)))
variants = [rng.normal(size=2_000_000), rng.normal(size=2_000_000)]
i = 0
while True:
    model.decision_scores_ = variants[i % 2]
    model.save(path)
    i += 1
    print(i, flush=True)
"""


def test_model_save_killed_mid_write_leaves_a_whole_file(tmp_path):
    target = tmp_path / "model.dagmm"
    for attempt in range(3):
        proc = subprocess.Popen(
            [sys.executable, "-c", _SAVER, str(target)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        if attempt == 0:  # first round: killed before any save completed -> no file at all
            _wait_for(lambda: any(p.suffix == ".tmp" for p in tmp_path.iterdir()), proc)
            proc.send_signal(signal.SIGKILL)
            proc.communicate()  # also closes the pipes
            assert not target.exists()
            continue
        proc.stdout.readline()  # at least one complete save
        time.sleep(0.05 * attempt)  # then kill at some point of a later write
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        loaded = dagmm.load(target)  # whole and verified, never partial
        assert loaded.decision_scores_.shape == (2_000_000,)
    # leftovers are hidden temporary names only, never the target name
    assert {p.name for p in tmp_path.iterdir() if not p.name.startswith(".")} == {"model.dagmm"}


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_score_output_killed_mid_write_keeps_the_old_file(tmp_path, stop):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=60_000), "b": rng.normal(size=60_000)})
    frame.to_csv(tmp_path / "data.csv", index=False)
    model = DAGMM(epochs=0, n_components=2, hidden_sizes=(4,), random_state=0).fit(frame[:100])
    model.save(tmp_path / "m.dagmm")
    out = tmp_path / "scores.csv"
    out.write_text("old content\n")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dagmm.cli.main",
            "score",
            str(tmp_path / "m.dagmm"),
            str(tmp_path / "data.csv"),
            "--out",
            str(out),
            "--chunk-rows",
            "500",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        preexec_fn=_foreground_signals,
    )

    def partial_written() -> bool:
        temps = [p for p in tmp_path.iterdir() if p.name.startswith(".scores.csv")]
        return bool(temps) and temps[0].stat().st_size > 10_000

    _wait_for(partial_written, proc)
    proc.send_signal(stop)
    proc.communicate(timeout=60)
    assert out.read_text() == "old content\n"
    if stop == signal.SIGTERM:
        # `kill`, `docker stop`, a scheduler's time limit: the command unwinds as on
        # Ctrl-C, so no temporary is left (until 2026-12-05 it was, as on SIGKILL), and
        # still ends by the signal
        assert proc.returncode == -signal.SIGTERM
        assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv", "m.dagmm", "scores.csv"]


def _table(n: int = 240, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "y": rng.gamma(2.0, size=n),
            "kind": rng.choice(["a", "b", "c"], n),
        }
    )


FAST = {"n_components": 3, "hidden_sizes": (8, 4), "batch_size": 64, "random_state": 0}


def test_resume_after_interrupt_equals_uninterrupted_run(tmp_path, monkeypatch):
    frame = _table()
    kwargs = {**FAST, "epochs": 6, "validation_fraction": 0.2, "patience": 20}
    reference = DAGMM(**kwargs).fit(frame)
    path = tmp_path / "run.ckpt"
    saved = []
    real_save = checkpoint_module.save_checkpoint

    def save_then_crash(*args, **kw):
        real_save(*args, **kw)
        saved.append(args[1].epoch)
        if len(saved) == 2:
            raise KeyboardInterrupt  # the process dies after the epoch-4 checkpoint

    monkeypatch.setattr(checkpoint_module, "save_checkpoint", save_then_crash)
    with pytest.raises(KeyboardInterrupt):
        DAGMM(**kwargs, checkpoint_path=str(path), checkpoint_every=2).fit(frame)
    monkeypatch.setattr(checkpoint_module, "save_checkpoint", real_save)
    assert saved == [2, 4] and load_checkpoint(path)[1]["epoch"] == 4
    resumed = DAGMM(**kwargs, checkpoint_path=str(path), checkpoint_every=2).fit(frame, resume=True)
    np.testing.assert_array_equal(
        resumed.decision_function(frame), reference.decision_function(frame)
    )
    assert resumed.history_ == reference.history_
    assert resumed.n_iter_ == reference.n_iter_ and resumed.best_epoch_ == reference.best_epoch_
    # a fresh run without resume ignores (and overwrites) the checkpoint: same result again
    again = DAGMM(**kwargs, checkpoint_path=str(path)).fit(frame)
    np.testing.assert_array_equal(
        again.decision_function(frame), reference.decision_function(frame)
    )


def test_a_fit_without_random_state_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    # Its seeds were drawn anew by every run, so the rerun command was always refused
    # ("another fit: the seeds drawn from random_state"): the draw is kept in checkpoints.
    frame = _table()
    kwargs = {**FAST, "random_state": None, "epochs": 4, "validation_fraction": 0.2}
    path = tmp_path / "run.ckpt"
    real_save = checkpoint_module.save_checkpoint

    def save_then_crash(*args, **kw):
        real_save(*args, **kw)
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint_module, "save_checkpoint", save_then_crash)
    with pytest.raises(KeyboardInterrupt):
        DAGMM(**kwargs, checkpoint_path=str(path), checkpoint_every=2).fit(frame)
    monkeypatch.setattr(checkpoint_module, "save_checkpoint", real_save)
    drawn = load_checkpoint(path)[1]["inputs"]["drawn_seed"]
    resumed = DAGMM(**kwargs, checkpoint_path=str(path)).fit(frame, resume=True)
    # the uninterrupted fit of the same draw: seeds, validation rows, weights, scores
    reference = DAGMM(**{**kwargs, "random_state": drawn}).fit(frame)
    np.testing.assert_array_equal(
        resumed.decision_function(frame), reference.decision_function(frame)
    )
    assert resumed.history_ == reference.history_


def test_resume_refuses_a_checkpoint_of_another_fit(tmp_path):
    frame = _table()
    path = tmp_path / "run.ckpt"
    DAGMM(**FAST, epochs=2, checkpoint_path=str(path)).fit(frame)
    # the refusal names what differs (the checkpoint keeps what its fit digested)
    for other, data, named in (
        ({"learning_rate": 0.01}, frame, r"another fit: learning_rate \(.* then, 0.01 now\)"),
        ({"random_state": 1}, frame, "the seeds drawn from random_state"),
        ({}, frame.assign(x=frame["x"] + 1), "another fit: the training data;"),
        ({"epochs": 3}, frame, r"another fit: epochs \(2 then, 3 now\);"),
    ):
        params = {**FAST, "epochs": 2, **other}
        with pytest.raises(CheckpointError, match=named):
            DAGMM(**params, checkpoint_path=str(path)).fit(data, resume=True)
    # a checkpoint written before 2026-12-05 (no "inputs") still resumes, or is refused
    snap, document = load_checkpoint(path)
    save_checkpoint(path, snap, document["fingerprint"], document["total_epochs"])
    assert "inputs" not in load_checkpoint(path)[1]
    with pytest.raises(CheckpointError, match="other data, parameters or random_state"):
        DAGMM(**FAST, epochs=2, learning_rate=0.01, checkpoint_path=str(path)).fit(
            frame, resume=True
        )
    DAGMM(**FAST, epochs=2, checkpoint_path=str(path)).fit(frame, resume=True)
    with pytest.raises(InvalidInputError, match="checkpoint_path"):
        DAGMM(**FAST, epochs=2).fit(frame, resume=True)
    with pytest.warns(UserWarning, match="no checkpoint"):
        DAGMM(**FAST, epochs=1, checkpoint_path=str(tmp_path / "none.ckpt")).fit(frame, resume=True)


def test_a_resume_may_change_contamination_which_sets_the_cut_after_training(tmp_path, monkeypatch):
    # contamination only places threshold_ once training is over; until 2026-12-07 a
    # resume with another one was refused as "another fit: contamination (0.1 then,
    # 0.05 now)", though the weights it would train are the same
    frame = _table()
    kwargs = {**FAST, "epochs": 4}
    path = tmp_path / "run.ckpt"
    real_save = checkpoint_module.save_checkpoint

    def save_then_crash(*args, **kw):
        real_save(*args, **kw)
        raise KeyboardInterrupt  # after the epoch-2 checkpoint

    monkeypatch.setattr(checkpoint_module, "save_checkpoint", save_then_crash)
    with pytest.raises(KeyboardInterrupt):
        DAGMM(**kwargs, checkpoint_path=str(path), checkpoint_every=2).fit(frame)
    monkeypatch.setattr(checkpoint_module, "save_checkpoint", real_save)
    interrupted = path.read_bytes()
    for contamination in (0.05, 0.2):
        path.write_bytes(interrupted)
        resumed = DAGMM(
            **kwargs, contamination=contamination, checkpoint_path=str(path), checkpoint_every=2
        ).fit(frame, resume=True)
        reference = DAGMM(**kwargs, contamination=contamination).fit(frame)
        np.testing.assert_array_equal(
            resumed.decision_function(frame), reference.decision_function(frame)
        )
        assert resumed.threshold_ == reference.threshold_
        assert resumed.contamination_ == float(contamination)
    # the checkpoint it then wrote is of the new contamination: resumed again at it
    DAGMM(**kwargs, contamination=0.2, checkpoint_path=str(path)).fit(frame, resume=True)
    # another change beside it is still refused, and named
    path.write_bytes(interrupted)
    with pytest.raises(CheckpointError, match=r"learning_rate \(.* then, 0.01 now\)"):
        DAGMM(**kwargs, contamination=0.05, learning_rate=0.01, checkpoint_path=str(path)).fit(
            frame, resume=True
        )
    with pytest.raises(CheckpointError, match=r"the seeds drawn from random_state"):
        DAGMM(**{**kwargs, "random_state": 1}, contamination=0.05, checkpoint_path=str(path)).fit(
            frame, resume=True
        )


def test_missing_or_folder_checkpoint_is_named(tmp_path):
    with pytest.raises(CheckpointError, match=r"nope\.ckpt: checkpoint not found"):
        load_checkpoint(tmp_path / "nope.ckpt")
    with pytest.raises(CheckpointError, match="is a directory, expected a checkpoint file"):
        load_checkpoint(tmp_path)


def test_tampered_checkpoint_is_refused(tmp_path):
    frame = _table()
    path = tmp_path / "run.ckpt"
    DAGMM(**FAST, epochs=2, checkpoint_path=str(path)).fit(frame)
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="checksum"):
        DAGMM(**FAST, epochs=2, checkpoint_path=str(path)).fit(frame, resume=True)
    path.write_bytes(bytes(raw[: len(raw) // 3]))
    with pytest.raises(CheckpointError):
        load_checkpoint(path)
    model = tmp_path / "m.dagmm"
    DAGMM(**FAST, epochs=1).fit(frame).save(model)
    with pytest.raises(CheckpointError, match="not a dagmm training checkpoint"):
        load_checkpoint(model)


def test_a_byte_changed_in_a_checkpoint_s_document_is_refused(tmp_path):
    frame = _table()
    path = tmp_path / "run.ckpt"
    DAGMM(**FAST, epochs=2, checkpoint_path=str(path)).fit(frame)
    raw = path.read_bytes()
    edited = raw.replace(b'\\"epoch\\": 2', b'\\"epoch\\": 1', 1)  # in the header's JSON
    assert edited != raw
    path.write_bytes(edited)
    with pytest.raises(CheckpointError, match="checksum mismatch for the checkpoint document"):
        load_checkpoint(path)


def test_checkpoint_has_no_pickle(tmp_path):
    frame = _table()
    path = tmp_path / "run.ckpt"
    DAGMM(**FAST, epochs=2, checkpoint_path=str(path)).fit(frame)
    from safetensors import safe_open

    with safe_open(str(path), "pt") as handle:  # a plain safetensors file: readable as such
        names = set(handle.keys())
        assert handle.metadata()["format"] == "dagmm-checkpoint"
    assert {"rng.torch", "rng.generator", "best_loss"} <= names
    assert any(n.startswith("optim.") and n.endswith("exp_avg_sq") for n in names)


def test_gradients_overflowing_adam_s_moments_are_divergence_not_a_silent_no_op():
    """With lambda_energy=1e30 a squared gradient overflowed Adam's second moment: every
    update became 0 / inf = 0, and until 2026-12-07 "training" ran its epochs and
    returned the untrained network, the loss finite and nothing said."""
    X = np.random.default_rng(5).normal(size=(200, 4))
    for params in ({"lambda_energy": 1e30}, {"lambda_cov": 1e30}):
        with pytest.raises(
            TrainingDivergedError, match="the gradients overflowed float32"
        ) as caught:
            DAGMM(**FAST, epochs=3, **params).fit(X)
        assert caught.value.terms == ["gradient"] and caught.value.epoch == 1
    DAGMM(**FAST, epochs=3, lambda_energy=1e3).fit(X)  # large, not overflowing


def test_divergence_names_term_epoch_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    # Where a too-large learning rate first breaks the weights is chaotic; here a
    # weight turns non-finite in the first update of epoch 2 (4 steps per epoch), as
    # an overflowing update would leave it, and everything downstream follows. The
    # optimizer's update is poisoned: every step ends with it (the fused step on the
    # CPU, the autograd step, a step replayed from a CUDA graph).
    from dagmm import adam

    update = adam.Adam.step
    calls = []

    def poisoned_update(self):
        update(self)
        calls.append(1)
        if len(calls) == 5:
            with torch.no_grad():
                self.params[0].view(-1)[0] = float("inf")

    monkeypatch.setattr(adam.Adam, "step", poisoned_update)
    frame = _table()
    path = tmp_path / "run.ckpt"
    model = DAGMM(**FAST, epochs=5, checkpoint_path=str(path))
    with pytest.raises(TrainingDivergedError) as info:
        model.fit(frame)
    message = str(info.value)
    assert f"at epoch {info.value.epoch}" in message and info.value.epoch == 2
    assert info.value.terms and all(term in message for term in info.value.terms)
    assert f"last good checkpoint (epoch {info.value.epoch - 1})" in message
    snap, document = load_checkpoint(path)  # intact and finite
    assert document["epoch"] == info.value.epoch - 1
    assert all(np.isfinite(v.numpy()).all() for v in snap.net_state.values())
    assert isinstance(info.value, FloatingPointError)  # backwards compatible


def test_cli_divergence_is_one_line(tmp_path):
    _table().to_csv(tmp_path / "t.csv", index=False)
    result = _cli(
        "fit", str(tmp_path / "t.csv"), "--out", str(tmp_path / "m.dagmm"), "--epochs", "5",
        "--batch-size", "64", "--learning-rate", "1e20", "--random-state", "0",
    )  # fmt: skip
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("dagmm: error:")]
    assert len(errors) == 1 and "diverged at epoch" in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "m.dagmm").exists()


def test_cli_checkpoint_survives_sigkill_and_resume_matches(tmp_path):
    frame = _table(200)
    frame.to_csv(tmp_path / "t.csv", index=False)
    common = ["--epochs", "12", "--batch-size", "100", "--n-components", "3",
              "--hidden-sizes", "8,4", "--random-state", "0"]  # fmt: skip
    # the uninterrupted run, in process (the CLI passes exactly these parameters)
    reference = DAGMM(
        epochs=12, batch_size=100, n_components=3, hidden_sizes=(8, 4), random_state=0
    ).fit(pd.read_csv(tmp_path / "t.csv"))
    ckpt = tmp_path / "run.ckpt"
    argv = [sys.executable, "-m", "dagmm.cli.main", "fit", str(tmp_path / "t.csv"), "--out",
            str(tmp_path / "m.dagmm"), *common, "--checkpoint", str(ckpt),
            "--checkpoint-every", "2"]  # fmt: skip
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env()
    )
    _wait_for(ckpt.exists, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    epoch = load_checkpoint(ckpt)[1]["epoch"]
    assert 2 <= epoch < 12 and not (tmp_path / "m.dagmm").exists()
    resumed = subprocess.run([*argv, "--resume"], capture_output=True, text=True, env=_env())
    assert resumed.returncode == 0, resumed.stderr
    result = dagmm.load(tmp_path / "m.dagmm")
    np.testing.assert_array_equal(result.decision_scores_, reference.decision_scores_)
    assert result.history_ == reference.history_


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_cli_fit_interrupted_names_the_checkpoint_to_resume_from(tmp_path, stop):
    _table(200).to_csv(tmp_path / "t.csv", index=False)
    ckpt = tmp_path / "run.ckpt"
    argv = [sys.executable, "-m", "dagmm.cli.main", "fit", str(tmp_path / "t.csv"), "--out",
            str(tmp_path / "m.dagmm"), "--epochs", "100000", "--checkpoint", str(ckpt)]  # fmt: skip
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        preexec_fn=_foreground_signals,
    )
    try:
        _wait_for(ckpt.exists, proc)
        proc.send_signal(stop)  # Ctrl-C; a scheduler's time limit
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()  # a fit that ignored the signal must not outlive the test (100,000 epochs)
    # Until 2026-12-05: "Aborted!" and status 1 (SIGINT) or nothing at all (SIGTERM), not
    # a word of the checkpoint. Ctrl-C ends with the shell's status for it, SIGTERM by
    # the signal itself.
    assert proc.returncode == (130 if stop == signal.SIGINT else -signal.SIGTERM), stderr
    assert stderr.startswith(f"dagmm: interrupted; the checkpoint {ckpt} holds epoch "), stderr
    assert "of 100000: rerun the same command with --resume" in stderr, stderr
    assert len(stderr.splitlines()) == 1 and not (tmp_path / "m.dagmm").exists()
    load_checkpoint(ckpt)  # whole


@pytest.mark.parametrize("command", ["fit", "score"])
def test_cli_interrupted_without_a_checkpoint_ends_with_the_interrupt_status(
    tmp_path, monkeypatch, command
):
    """Until 2026-12-07 Ctrl-C during `score`, or `fit` without --checkpoint, ended with
    click's "Aborted!" and status 1, the status of any failure: a cron wrapper could not
    tell an interrupt from an error. Now "dagmm: interrupted" and 130, as with a
    checkpoint, and no output file."""
    from click.testing import CliRunner

    from dagmm.cli.main import cli

    _table(200).to_csv(tmp_path / "t.csv", index=False)
    model, scores = tmp_path / "m.dagmm", tmp_path / "s.csv"
    DAGMM(epochs=1, random_state=0).fit(_table(200)).save(model)

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    if command == "fit":
        out = tmp_path / "new.dagmm"
        monkeypatch.setattr(DAGMM, "fit", ctrl_c)
        argv = ["fit", str(tmp_path / "t.csv"), "--out", str(out), "--epochs", "1"]
    else:
        out = scores
        monkeypatch.setattr(DAGMM, "_energy_numeric", ctrl_c)
        argv = ["score", str(model), str(tmp_path / "t.csv"), "--out", str(out)]
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == 130, (result.output, result.exception)
    assert result.output.strip().splitlines()[-1] == "dagmm: interrupted", result.output
    assert "Aborted" not in result.output and not out.exists()


def test_component_collapse_is_reported(tmp_path):
    weights = np.array([0.5, 0.4999, 0.0001])
    means = np.array([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]])
    covariances = np.stack([np.eye(2), np.eye(2), np.eye(2)])
    found = collapsed_components(weights, means, covariances)
    assert [c["component"] for c in found] == [2] and "weight" in found[0]["reason"]
    covariances[1] = np.diag([1.0, 1e-9])
    found = collapsed_components(np.array([0.5, 0.3, 0.2]), means, covariances)
    assert [c["component"] for c in found] == [1] and "variance" in found[0]["reason"]
    assert collapsed_components(np.array([0.5, 0.3, 0.2]), means, np.stack([np.eye(2)] * 3)) == []

    # a real fit that collapses: far too large a learning rate leaves a component empty
    # (3.0 collapses a component for each of random_state 0..4; 1.0 for 4 of them)
    X = np.random.default_rng(0).normal(size=(300, 5))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = DAGMM(
            epochs=3,
            learning_rate=3.0,
            batch_size=32,
            hidden_sizes=(8, 4),
            n_components=4,
            scaler="minmax",
            random_state=0,
        ).fit(X[:100])
    collapse = [w for w in caught if issubclass(w.category, ComponentCollapseWarning)]
    assert len(collapse) == 1 and "collapsed" in str(collapse[0].message)
    assert model.collapsed_components_
    model.save(tmp_path / "collapsed.dagmm")
    info = _cli("info", str(tmp_path / "collapsed.dagmm"))
    assert info.returncode == 0 and "collapsed" in info.stdout, info.stdout
    # and a healthy fit reports nothing
    with warnings.catch_warnings():
        warnings.simplefilter("error", ComponentCollapseWarning)
        healthy = DAGMM(epochs=5, batch_size=64, random_state=0).fit(X)
    healthy.save(tmp_path / "healthy.dagmm")
    assert "collapsed" not in _cli("info", str(tmp_path / "healthy.dagmm")).stdout


_WRITERS = ("write_text", "write_bytes", "to_csv", "to_parquet", "to_json", "savefig", "save")
#: Modules that implement the atomic writers themselves.
_WRITER_MODULES = {"_atomic.py", "tableio.py"}


def _non_atomic_writes(tree: ast.AST) -> list[int]:
    """Line numbers of file writes outside ``with atomic_path(...)`` / ``TableWriter(...)``."""
    protected: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.With) and any(
            isinstance(item.context_expr, ast.Call)
            # A private TemporaryDirectory holds scratch files, never the tool's output.
            and ast.unparse(item.context_expr.func).split(".")[-1]
            in ("atomic_path", "TableWriter", "TemporaryDirectory")
            for item in node.items
        ):
            protected.update(id(inner) for inner in ast.walk(node))
    # Writes into an in-memory buffer (io.BytesIO / io.StringIO) touch no file.
    buffers = {
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Call)
        and ast.unparse(node.value.func).split(".")[-1] in ("BytesIO", "StringIO")
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or id(node) in protected:
            continue
        if node.args and isinstance(node.args[0], ast.Name) and node.args[0].id in buffers:
            continue
        name = ast.unparse(node.func)
        method = name.split(".")[-1]
        if method == "save" and not name.startswith(("torch.", "np.", "numpy.")):
            continue  # DAGMM.save / model.save go through atomic_write_bytes
        mode = ""
        if name == "open" and len(node.args) > 1 and isinstance(node.args[1], ast.Constant):
            mode = str(node.args[1].value)
        for keyword in node.keywords:
            if name == "open" and keyword.arg == "mode" and isinstance(keyword.value, ast.Constant):
                mode = str(keyword.value.value)
        if (method in _WRITERS) or (name == "open" and any(c in mode for c in "wax+")):
            lines.append(node.lineno)
    return sorted(lines)


def test_every_file_write_in_the_package_is_atomic():
    offenders = {}
    for path in PACKAGE.rglob("*.py"):
        if path.name in _WRITER_MODULES:
            continue
        lines = _non_atomic_writes(ast.parse(path.read_text()))
        if lines:
            offenders[str(path.relative_to(PACKAGE))] = lines
    assert offenders == {}, (
        f"files written without a temporary name + rename: {offenders}; "
        "use dagmm._atomic.atomic_path / atomic_write_bytes or dagmm.tableio.TableWriter"
    )
    # the scanner catches what it looks for, and accepts the atomic forms
    bad = "open(p, 'w').write(s)\nframe.to_csv(p)\nPath(p).write_bytes(b)\nplt.savefig(p)\n"
    assert _non_atomic_writes(ast.parse(bad)) == [1, 2, 3, 4]
    good = "with atomic_path(p) as tmp:\n    frame.to_csv(tmp)\n    open(tmp, 'wb')\nopen(p)\n"
    assert _non_atomic_writes(ast.parse(good)) == []
