from __future__ import annotations

import json
import re
import struct
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from _modelfile import forge_tensors, read_document, rewrite_document

import dagmm
from dagmm import DAGMM, ModelFileError
from dagmm.persistence import FORMAT_VERSION, LEVELS_VERSION, load_bytes, model_bytes

PACKAGE = Path(dagmm.__file__).parent


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=200),
            "b": rng.gamma(2.0, size=200),
            "c": rng.choice(["x", "y"], 200),
            "d": rng.integers(0, 3, 200),  # a count of few values: levels
        }
    )
    return DAGMM(epochs=10, batch_size=64, random_state=0).fit(frame), frame


def test_round_trip_reproduces_scores_exactly(fitted, tmp_path):
    model, frame = fitted
    path = tmp_path / "m.dagmm"
    model.save(path)
    loaded = dagmm.load(path)
    np.testing.assert_array_equal(loaded.decision_function(frame), model.decision_function(frame))
    np.testing.assert_array_equal(loaded.decision_scores_, model.decision_scores_)
    np.testing.assert_array_equal(loaded.transform(frame), model.transform(frame))
    assert loaded.threshold_ == model.threshold_
    assert loaded.get_params() == model.get_params()
    assert loaded.history_ == model.history_
    np.testing.assert_array_equal(loaded.predict_proba(frame), model.predict_proba(frame))
    assert list(loaded.feature_names_in_) == ["a", "b", "c", "d"]
    assert DAGMM.load(path).threshold_ == model.threshold_


def test_a_loaded_model_scores_where_it_was_trained_when_this_machine_has_it(
    fitted, tmp_path, monkeypatch
):
    import torch

    from dagmm.exceptions import InvalidInputError
    from dagmm.persistence import scoring_device

    model, frame = fitted
    path = tmp_path / "m.dagmm"
    model.save(path)
    on_cpu = dagmm.load(path, device="cpu")
    assert on_cpu.net_.input_scale.device.type == "cpu"
    if str(model.device_) == "cpu":
        np.testing.assert_array_equal(
            on_cpu.decision_function(frame), model.decision_function(frame)
        )
    else:  # a GPU's float32 rounding differs (tests/test_gpu.py: same device, same digits)
        np.testing.assert_allclose(
            on_cpu.decision_function(frame), model.decision_function(frame), rtol=1e-4, atol=1e-4
        )
    cpu = torch.device("cpu")
    assert scoring_device("cpu") == cpu
    assert scoring_device("not a device") == cpu  # the file's word, never trusted
    assert scoring_device("cuda:0", "cpu") == cpu
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert scoring_device("cuda:0") == cpu  # trained on a GPU, loaded where there is none
    with pytest.raises(InvalidInputError, match="CUDA is not available"):
        dagmm.load(path, device="cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert scoring_device("cuda:1") == torch.device("cuda", 1)
    assert scoring_device("cuda") == torch.device("cuda")
    assert scoring_device("cuda:2") == cpu  # a GPU this machine lacks


@pytest.mark.parametrize(
    "params",
    [
        {"checkpoint_path": "PATH"},
        {"log_inputs": np.bool_(True)},
        {"hidden_sizes": np.array([6, 3]), "estimation_hidden_sizes": np.array([5])},
        {"device": torch.device("cpu")},
        # until 2026-12-07: "invalid model document: .params.contamination: expected a
        # number, got Fraction", after training
        {"contamination": Fraction(1, 10), "learning_rate": Fraction(1, 1000)},
    ],
    ids=["pathlib-checkpoint", "numpy-bool", "numpy-sizes", "torch-device", "fractions"],
)
def test_every_parameter_fit_accepts_saves_and_loads(params, tmp_path):
    # Each of these trained, then save failed: "Object of type PosixPath / bool_ / ndarray /
    # device is not JSON serializable", the trained model lost.
    if params.get("checkpoint_path") == "PATH":
        params = {"checkpoint_path": tmp_path / "run.ckpt"}
    X = np.random.default_rng(0).normal(size=(64, 4))
    model = DAGMM(epochs=2, batch_size=32, random_state=0, **params).fit(X)
    model.save(tmp_path / "m.dagmm")
    loaded = dagmm.load(tmp_path / "m.dagmm")
    np.testing.assert_array_equal(loaded.decision_function(X), model.decision_function(X))
    assert loaded.hidden_sizes_ == model.hidden_sizes_ and loaded.log_inputs == model.log_inputs
    if "contamination" in params:  # the numbers they are, as floats
        assert loaded.get_params()["learning_rate"] == 0.001 and loaded.contamination_ == 0.1
        assert loaded.threshold_ == model.threshold_


def test_a_model_saved_after_set_params_contamination_keeps_its_fitted_cut(fitted):
    # The file held the new contamination beside the old threshold, so the loaded model
    # (and `dagmm score --contamination`, `dagmm info`, reports) read the old cut as the
    # new share's; the fitted share is now written beside the threshold when they differ.
    model, frame = fitted
    raw = model_bytes(model)
    assert "contamination" not in read_document(raw)["fitted"]  # older releases read it
    changed = load_bytes(raw).set_params(contamination=0.25)
    raw = model_bytes(changed)
    assert read_document(raw)["fitted"]["contamination"] == 0.1
    loaded = load_bytes(raw)
    assert loaded.contamination == 0.25 and loaded.contamination_ == 0.1
    assert loaded.threshold_ == model.threshold_
    with pytest.warns(UserWarning, match="fitted with contamination=0.1"):
        np.testing.assert_array_equal(
            loaded.predict_confidence(frame), model.predict_confidence(frame)
        )
    older = rewrite_document(raw, lambda _, doc: doc["fitted"].pop("contamination"))
    assert load_bytes(older).contamination_ == 0.25  # a file without it: its parameter


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"contamination": 0.9}, r"contamination must be in \(0, 0.5\], got 0.9"),
        ({"learning_rate": "0.01"}, "learning_rate must be a finite real number"),
        ({"activation": "swish"}, "activation must be one of"),
        ({"verbose": 500}, r"params.verbose: .*500 outside \[0, 100\]"),  # fit takes it
    ],
)
def test_save_refuses_parameters_that_would_not_load_back(fitted, tmp_path, change, words):
    # set_params after fit, then save: the file was written, and only loading it (later,
    # elsewhere) failed with "invalid model document: .params.contamination: 0.9 ...".
    from dagmm import InvalidInputError
    from dagmm.persistence import load_bytes

    model, _ = fitted
    changed = load_bytes(model_bytes(model)).set_params(**change)
    path = tmp_path / "m.dagmm"
    with pytest.raises(InvalidInputError, match="cannot save this model: .*" + words):
        changed.save(path)
    assert not path.exists()


def test_save_without_training_scores(fitted, tmp_path):
    model, frame = fitted
    model.save(tmp_path / "small.dagmm", include_training_scores=False)
    loaded = dagmm.load(tmp_path / "small.dagmm")
    assert not hasattr(loaded, "decision_scores_")
    np.testing.assert_array_equal(loaded.decision_function(frame), model.decision_function(frame))


def test_truncated_file(fitted, tmp_path):
    data = model_bytes(fitted[0])
    for cut in (0, 5, 100, len(data) // 2, len(data) - 1):
        path = tmp_path / f"cut{cut}.dagmm"
        path.write_bytes(data[:cut])
        with pytest.raises(ModelFileError):
            dagmm.load(path)


def test_tampered_tensor_bytes(fitted, tmp_path):
    data = bytearray(model_bytes(fitted[0]))
    data[-3] ^= 0xFF
    path = tmp_path / "tampered.dagmm"
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=r"checksum|non-finite"):
        dagmm.load(path)


def test_newer_format_version_is_refused(fitted, tmp_path):
    def newer(header, doc):
        header["__metadata__"]["format_version"] = str(FORMAT_VERSION + 1)

    path = tmp_path / "newer.dagmm"
    path.write_bytes(rewrite_document(model_bytes(fitted[0]), newer))
    with pytest.raises(ModelFileError, match="newer"):
        dagmm.load(path)


def test_a_document_with_unknown_keys_names_the_release_that_wrote_it(fitted):
    # A newer release may add a key under the same format version; the error named
    # only the key, not which dagmm wrote the file nor what to do about it.
    def newer(header, doc):
        doc["dagmm_version"] = "9.1.0"
        doc["fitted"]["calibration"] = {"kind": "isotonic"}

    with pytest.raises(ModelFileError) as caught:
        load_bytes(rewrite_document(model_bytes(fitted[0]), newer), "m.dagmm")
    message = str(caught.value)
    assert "unknown key(s) ['calibration']" in message
    written = f"written by dagmm 9.1.0 as format version {LEVELS_VERSION}; this is dagmm"
    assert f"{written} {dagmm.__version__}" in message
    assert f"reads format versions 1 to {FORMAT_VERSION}" in message
    assert "\n" not in message


MODEL_FILES = Path(__file__).parent / "model_files"


@pytest.mark.parametrize(
    "name", sorted(json.loads((MODEL_FILES / "expected.json").read_text())["files"])
)
def test_model_files_of_older_versions_load_and_score_as_they_did(name):
    """Files written by earlier commits of this package (``expected.json`` names each
    commit): a tiny model, ``DAGMM(n_components=2, hidden_sizes=(4,), latent_dim=1,
    estimation_hidden_sizes=(3,), epochs=2, batch_size=32, random_state=0, device="cpu")``
    (the v2 file with ``n_restarts=2, restart_combine="mean"``), fitted on
    ``np.random.default_rng(0).normal(size=(64, 3))`` and saved there; ``scores`` are
    that commit's ``decision_function`` of the first 8 rows before saving.

    The first commit's energies differ from today's in the 6th digit (float32 network
    arithmetic reordered since); later files score digit for digit.
    """
    expected = json.loads((MODEL_FILES / "expected.json").read_text())
    model = dagmm.load(MODEL_FILES / name, device="cpu")
    assert model.format_version_ == int(name[1])
    np.testing.assert_allclose(
        model.decision_function(np.asarray(expected["rows"])),
        expected["files"][name]["scores"],
        rtol=1e-4,
    )
    assert len(model.decision_scores_) == 64 and model.labels_.sum() > 0


def test_tampered_document_is_refused(fitted, tmp_path):
    def bad_shape(header, doc):
        doc["fitted"]["hidden_sizes"] = [7, 3]

    def bad_type(header, doc):
        doc["fitted"]["threshold"] = "high"

    for edit, match in ((bad_shape, "expected"), (bad_type, "threshold")):
        path = tmp_path / "doc.dagmm"
        path.write_bytes(rewrite_document(model_bytes(fitted[0]), edit))
        with pytest.raises(ModelFileError, match=match):
            dagmm.load(path)


def _edit_header_bytes(raw: bytes, old: bytes, new: bytes) -> bytes:
    """``raw`` with the first ``old`` in its header replaced by ``new`` of the same
    length: what a flipped byte on a disk does, no checksum recomputed."""
    assert len(old) == len(new)
    (length,) = struct.unpack("<Q", raw[:8])
    at = raw.index(old, 8, 8 + length)
    return raw[:at] + new + raw[at + len(old) :]


def test_a_byte_changed_in_the_document_is_refused(fitted, tmp_path):
    # The tensors' checksums live in the document, and the document had none: a
    # threshold or a category edited in place loaded silently and scored otherwise.
    model, frame = fitted
    raw = model_bytes(model)
    threshold = json.dumps(float(model.threshold_)).encode()
    edits = {
        "threshold": (threshold, b"7" + threshold[1:]),
        "categories": (rb"[\"x\", \"y\"]", rb"[\"y\", \"x\"]"),
    }
    for name, (old, new) in edits.items():
        edited = _edit_header_bytes(raw, old, new)
        with pytest.raises(ModelFileError, match="checksum mismatch for the model document"):
            load_bytes(edited, f"{name}.dagmm")
        # the same edit in a file of an older release, which has no checksum, loads
        # and scores otherwise: what is refused is the mismatch, so the test can fail
        unchecked = rewrite_document(
            edited, lambda header, doc: header["__metadata__"].pop("document_sha256")
        )
        scores = load_bytes(unchecked, "old.dagmm").decision_function(frame)
        changed = load_bytes(unchecked, "old.dagmm").threshold_ != model.threshold_ or (
            not np.array_equal(scores, model.decision_function(frame))
        )
        assert changed, name
    untouched = rewrite_document(
        raw, lambda header, doc: header["__metadata__"].pop("document_sha256")
    )
    np.testing.assert_array_equal(
        load_bytes(untouched, "old.dagmm").decision_function(frame),
        model.decision_function(frame),
    )
    not_text = rewrite_document(
        raw, lambda header, doc: header["__metadata__"].update(document_sha256=None)
    )
    with pytest.raises(ModelFileError, match="not a string"):
        load_bytes(not_text, "m.dagmm")


def test_missing_directory_and_foreign_files(tmp_path):
    with pytest.raises(ModelFileError, match="not found"):
        dagmm.load(tmp_path / "nope.dagmm")
    with pytest.raises(ModelFileError, match="directory"):
        dagmm.load(tmp_path)
    text = tmp_path / "notes.txt"
    text.write_text("hello, this is not a model")
    with pytest.raises(ModelFileError):
        dagmm.load(text)


def test_failed_save_keeps_old_file(fitted, tmp_path, monkeypatch):
    model, _ = fitted
    path = tmp_path / "m.dagmm"
    model.save(path)
    before = path.read_bytes()
    import dagmm.persistence as persistence

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(persistence, "model_bytes", broken)
    with pytest.raises(RuntimeError):
        model.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.dagmm"]


def test_no_pickle_in_package():
    offenders = []
    for source in PACKAGE.rglob("*.py"):
        text = source.read_text()
        for needle in (
            "import pickle",
            "cPickle",
            "joblib",
            "torch.load(",
            "np.load(",
            "allow_pickle=True",
        ):
            if needle in text and not ("np.load(" in needle and "allow_pickle=False" in text):
                offenders.append((source.name, needle))
    assert offenders == []


def test_the_training_range_survives_save_and_load(fitted, tmp_path):
    model, frame = fitted
    assert model.input_range_.shape == (2, len(model.encoder_.feature_names_out))
    model.save(tmp_path / "m.dagmm")
    loaded = dagmm.load(tmp_path / "m.dagmm")
    assert loaded.format_version_ == 4  # older releases say "upgrade dagmm"
    assert loaded.input_range_.dtype == np.float64
    np.testing.assert_array_equal(loaded.input_range_, model.input_range_)
    assert [v is not None for v in model.input_levels_] == [False, False, False, False, True]
    for got, want in zip(loaded.input_levels_, model.input_levels_, strict=True):
        assert (got is None) == (want is None)
        if want is not None:
            np.testing.assert_array_equal(got, want)
    pd.testing.assert_frame_equal(loaded.explain(frame[:5]), model.explain(frame[:5]))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t["input_range"][0].__setitem__(1, float("nan")), "non-finite"),
        (lambda t: t["input_range"][1].__setitem__(0, float("inf")), "non-finite"),
        (lambda t: t["input_range"].copy_(t["input_range"].flip(0)), "minimum exceeds"),
        (lambda t: t.__setitem__("input_range", t["input_range"][:, :-1].contiguous()), "expected"),
        (lambda t: t.__setitem__("input_range", t["input_range"].repeat(2, 1)), "expected"),
        (lambda t: t.__setitem__("input_range", t["input_range"].float()), "expected"),
        (lambda t: t.pop("input_range"), "'input_range' missing"),
    ],
    ids=["nan", "inf", "low-above-high", "too-few-columns", "four-rows", "float32", "missing"],
)
def test_a_tampered_training_range_is_refused(fitted, edit, message):
    model, _ = fitted
    with pytest.raises(ModelFileError, match=message):
        load_bytes(forge_tensors(model_bytes(model), edit), "m.dagmm")


@pytest.mark.parametrize("version", [1, 3])
def test_a_training_range_in_a_file_of_an_older_format_version_is_refused(fitted, version):
    def older(header, doc):
        header["__metadata__"]["format_version"] = str(version)
        doc["format_version"] = version

    with pytest.raises(ModelFileError, match="do not match the model document"):
        load_bytes(rewrite_document(model_bytes(fitted[0]), older), "m.dagmm")


def _levelled(model):
    """The position of a column with at least two levels, and its count."""
    f = next(f for f, v in enumerate(model.input_levels_) if v is not None and len(v) >= 2)
    return f, len(model.input_levels_[f])


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t, f, n: t["input_level_counts"].__setitem__(f, 33), "has 33 levels"),
        (lambda t, f, n: t["input_levels"][:, f].copy_(t["input_levels"][:, f].flip(0)), "sorted"),
        (lambda t, f, n: t["input_levels"].__setitem__((n, f), -1e9), "sorted"),
        (lambda t, f, n: t["input_levels"][:, f].add_(1e-3), "span its training range"),
        (lambda t, f, n: t["input_levels"].__setitem__((0, f), float("nan")), "non-finite"),
        (
            lambda t, f, n: t.__setitem__("input_level_counts", t["input_level_counts"].double()),
            "expected torch.int64",
        ),
        (lambda t, f, n: t.pop("input_level_counts"), "'input_level_counts' missing"),
    ],
    ids=["count", "unsorted", "padding", "beside-range", "nan", "float-counts", "missing"],
)
def test_tampered_levels_are_refused(fitted, edit, message):
    model, _ = fitted
    f, n = _levelled(model)
    with pytest.raises(ModelFileError, match=message):
        load_bytes(forge_tensors(model_bytes(model), lambda t: edit(t, f, n)), "m.dagmm")


@pytest.mark.parametrize(
    "name",
    [
        name
        for name in sorted(json.loads((MODEL_FILES / "expected.json").read_text())["files"])
        if name[:2] in ("v1", "v2")
    ],
)
def test_model_files_without_a_training_range_explain_and_save_as_before(name):
    model = dagmm.load(MODEL_FILES / name, device="cpu")
    assert not hasattr(model, "input_range_")
    rows = np.asarray(json.loads((MODEL_FILES / "expected.json").read_text())["rows"])
    table = model.explain(rows)
    assert len(table) == rows.size and np.isfinite(table["expected"].astype(float)).all()
    # written back as the version it was read, which the releases that wrote it read
    raw = model_bytes(model)
    assert read_document(raw)["format_version"] == model.format_version_
    assert "input_range" not in read_document(raw)["tensors"]


def test_a_model_file_without_levels_explains_over_its_range_and_saves_as_before():
    model = dagmm.load(MODEL_FILES / "v3-2026-12-05-8db886d.dagmm", device="cpu")
    assert model.format_version_ == 3 and not hasattr(model, "input_levels_")
    rows = np.asarray(json.loads((MODEL_FILES / "expected.json").read_text())["rows"])
    table = model.explain(rows)
    low, high = model.input_range_
    for j in range(rows.shape[1]):
        expected = table.loc[table["column"] == str(j), "expected"].astype(float)
        assert len(expected) == len(rows)
        assert ((expected >= low[j]) & (expected <= high[j])).all()
    raw = model_bytes(model)
    assert read_document(raw)["format_version"] == 3
    assert {"input_levels", "input_level_counts"}.isdisjoint(read_document(raw)["tensors"])


ARCHITECTURE_CHANGES = {
    "estimation_hidden_sizes": {"estimation_hidden_sizes": (5,)},
    "hidden_sizes": {"hidden_sizes": (7,)},
    "latent_dim": {"latent_dim": 3},
    "activation": {"activation": "relu"},
    "dropout": {"dropout": 0.1},
    "n_components": {"n_components": 3},
    "restarts": {"n_restarts": 2, "restart_combine": "median"},
}


@pytest.mark.parametrize("case", sorted(ARCHITECTURE_CHANGES))
def test_a_model_saved_after_set_params_of_its_architecture_loads_and_scores_as_it_does(
    fitted, tmp_path, case
):
    """Until 2026-12-07 ``save`` after ``set_params(estimation_hidden_sizes=(5,))`` wrote
    the parameter as the fitted network's layer sizes: the file never loaded ("tensor
    'net.estimation.0.weight' has dtype torch.float32 shape (1, 6, 10), expected ... (1,
    6, 5)"); after ``set_params(n_components=3)`` save refused ("fitted.n_components
    differs from params.n_components"). The file holds the fitted architecture, and the
    changed parameter as the parameter: the loaded model scores as the one in memory,
    and a refit of it takes the parameter."""
    model, frame = fitted
    change = ARCHITECTURE_CHANGES[case]
    changed = load_bytes(model_bytes(model)).set_params(**change)
    path = tmp_path / "changed.dagmm"
    changed.save(path)
    loaded = dagmm.load(path)
    np.testing.assert_array_equal(loaded.decision_function(frame), model.decision_function(frame))
    assert loaded.get_params() == changed.get_params()
    fitted_shapes = {k: v.shape for k, v in model.net_.state_dict().items()}
    assert {k: v.shape for k, v in loaded.net_.state_dict().items()} == fitted_shapes
    if case in ("estimation_hidden_sizes", "n_components"):
        refit = loaded.set_params(epochs=1).fit(frame)
        assert refit.net_.n_components == refit.n_components
        widths = [layer.out_features for layer in refit.net_.estimation[:-1]]
        assert widths == list(refit.estimation_hidden_sizes)


def test_a_forged_component_count_names_the_architecture(fitted):
    """``fitted.n_components`` may differ from the parameter now (set_params after fit):
    a document claiming another count than its tensors hold is refused by their shapes,
    the message naming the architecture the document describes."""
    raw = rewrite_document(
        model_bytes(fitted[0]), lambda _, doc: doc["fitted"].update(n_components=3)
    )
    with pytest.raises(ModelFileError, match=r"expected .*n_components 3"):
        load_bytes(raw)


def test_save_refuses_to_replace_a_file_that_is_not_a_model(fitted, tmp_path):
    """Until 2026-12-07 ``model.save("scores.csv")`` replaced the CSV with a model without a
    word (the command line refused it already): the file was lost for good. A model file
    and an empty file are replaced as before."""
    from dagmm import InvalidInputError

    model, frame = fitted
    scores = tmp_path / "scores.csv"
    frame.to_csv(scores, index=False)
    checkpoint = tmp_path / "run.ckpt"
    DAGMM(epochs=1, random_state=0, checkpoint_path=checkpoint).fit(frame)
    for victim, what in ((scores, r"a text file \(CSV"), (checkpoint, "a dagmm checkpoint")):
        before = victim.read_bytes()
        with pytest.raises(
            InvalidInputError, match=f"{re.escape(str(victim))} exists and is {what}"
        ):
            model.save(victim)
        assert victim.read_bytes() == before
    other, empty = tmp_path / "other.dagmm", tmp_path / "empty"
    DAGMM(epochs=1, random_state=1).fit(frame).save(other)
    empty.write_bytes(b"")
    for target in (other, empty):
        model.save(target)
        assert dagmm.load(target).threshold_ == model.threshold_


def test_checkpoint_path_onto_a_file_that_is_not_a_checkpoint_is_refused_before_training(
    fitted, tmp_path, monkeypatch
):
    """Until 2026-12-07 ``DAGMM(checkpoint_path="train.csv").fit(X)`` turned the CSV into a
    binary checkpoint. Now refused before any training, the file untouched; with resume
    the file is read, and the checkpoint loader says what it is."""
    import dagmm.estimator
    from dagmm import InvalidInputError
    from dagmm.exceptions import CheckpointError

    model, frame = fitted
    train = tmp_path / "train.csv"
    frame.to_csv(train, index=False)
    before = train.read_bytes()
    model.save(tmp_path / "m.dagmm")
    monkeypatch.setattr(
        dagmm.estimator, "_fit_members", lambda *a, **k: pytest.fail("trained first")
    )
    with pytest.raises(
        InvalidInputError, match=r"checkpoint_path .*train\.csv exists and is a text"
    ):
        DAGMM(epochs=1, checkpoint_path=train).fit(frame)
    with pytest.raises(InvalidInputError, match="exists and is a dagmm model file"):
        DAGMM(epochs=1, checkpoint_path=tmp_path / "m.dagmm").fit(frame)
    monkeypatch.undo()  # with resume the loader reads it, in the fit, before training
    with pytest.raises(
        CheckpointError,
        match=r"train.csv: a text file \(CSV, JSON Lines\?\), not a dagmm checkpoint",
    ):
        DAGMM(epochs=1, random_state=0, checkpoint_path=train).fit(frame, resume=True)
    assert train.read_bytes() == before


def test_a_cut_short_model_or_checkpoint_is_recognised_as_one(fitted, tmp_path):
    """Until 2026-12-07 a model or checkpoint cut short (an interrupted copy) was "a file
    of unknown content" to the commands about to replace it (and the command line advised
    deleting it), its loader said "truncated or not a dagmm model file", and an empty
    checkpoint was "not a dagmm model file (only 0 bytes)". Each is named for what it
    is, from the start of its header."""
    from dagmm.checkpoint import load_checkpoint
    from dagmm.exceptions import CheckpointError
    from dagmm.persistence import existing_file_kind

    model, frame = fitted
    checkpoint = tmp_path / "run.ckpt"
    DAGMM(epochs=1, random_state=0, checkpoint_path=checkpoint).fit(frame)
    whole = {"model": model_bytes(model), "checkpoint": checkpoint.read_bytes()}
    for kind, data in whole.items():
        (length,) = struct.unpack("<Q", data[:8])
        for cut in (300, 8 + length // 2, 8 + length - 1):
            path = tmp_path / f"cut-{kind}-{cut}"
            path.write_bytes(data[:cut])
            assert existing_file_kind(path) == kind
            if kind == "model":
                with pytest.raises(ModelFileError, match="truncated dagmm model file"):
                    dagmm.load(path)
            else:
                with pytest.raises(CheckpointError, match="truncated dagmm checkpoint"):
                    load_checkpoint(path)
    empty = tmp_path / "empty.ckpt"
    empty.write_bytes(b"")
    with pytest.raises(
        CheckpointError, match=r"empty.ckpt: not a dagmm checkpoint \(only 0 bytes\)$"
    ):
        load_checkpoint(empty)
    (tmp_path / "noise").write_bytes(b"\x00\x10" * 600)
    assert existing_file_kind(tmp_path / "noise") == "a file of unknown content"


def test_forged_column_shifts_are_refused(fitted):
    """encoder.shifts (format version 5) changes every value a column sends to the
    network: one in a file that says it is older, on a column that is not numeric or
    not a column, or not a finite number, is refused before anything is used."""
    raw = model_bytes(fitted[0])  # no shifted column: written as version 4
    assert read_document(raw)["format_version"] == LEVELS_VERSION

    def shifted(shifts, version=None):
        def edit(header, doc):
            doc["encoder"]["shifts"] = shifts
            if version is not None:
                doc["format_version"] = version
                header["__metadata__"]["format_version"] = str(version)

        return rewrite_document(raw, edit)

    cases = {
        "needs format_version 5": shifted({"a": 1.0}),
        "not among the numeric columns": shifted({"c": 1.0}, 5),
        "not among the numeric columns ": shifted({"zz": 1.0}, 5),
        "expected a number": shifted({"a": "1e9"}, 5),
    }
    for needle, forged in cases.items():
        with pytest.raises(ModelFileError, match=needle.strip()):
            load_bytes(forged, "m.dagmm")
    # a genuine version-5 document with a numeric column's shift loads
    assert load_bytes(shifted({"a": 1.0}, 5), "m.dagmm").encoder_.shifts == {"a": 1.0}
