"""Restarts: several networks from different seeds, trained together, combined into one model."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from _devices import assert_same_floats
from _modelfile import read_document, rewrite_document
from click.testing import CliRunner

from dagmm import DAGMM, InvalidInputError, ModelFileError, fit_ensemble, load
from dagmm.cli.main import cli
from dagmm.estimator import (
    best_restart,
    combine_restart_energies,
    restart_loss,
    restart_scales,
)
from dagmm.outofcore import refit_mixture_on_file
from dagmm.persistence import load_bytes, model_bytes

SMALL = {"n_components": 2, "hidden_sizes": (8, 4), "latent_dim": 1, "epochs": 6}


def _frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, 5)), columns=[f"c{j}" for j in range(5)])
    frame.loc[:9, "c2"] += 8.0  # ten rows far out in one column
    return frame


@pytest.mark.parametrize("how", ["mean", "median"])
def test_restarts_score_the_combined_standardised_energies_of_their_members(how):
    frame = _frame()
    model = DAGMM(**SMALL, n_restarts=3, restart_combine=how, random_state=0).fit(frame)
    assert model.n_members_ == 3 and len(set(model.restart_seeds_)) == 3
    # The same networks, trained one per seed by fit_ensemble on the same rows (the
    # same vectorised run), scored one by one and combined by hand.
    members = fit_ensemble(DAGMM(**SMALL), frame, model.restart_seeds_)
    energies = np.stack([m.decision_function(frame) for m in members])
    train = np.stack([m.decision_scores_ for m in members])
    # on a GPU the stacked networks and the single ones sum in other orders
    device = model.device_
    assert_same_floats(model.restart_offsets_, train.mean(axis=1), device)
    assert_same_floats(model.restart_scales_, train.std(axis=1), device)
    standardised = (energies - train.mean(axis=1)[:, None]) / train.std(axis=1)[:, None]
    pool = np.mean if how == "mean" else np.median
    expected = pool(standardised, axis=0)
    assert_same_floats(model.decision_function(frame), expected, device)
    assert_same_floats(model.decision_scores_, expected, device)
    if how == "mean":
        # The training scores are means of standardised energies, so their mean is 0.
        assert abs(float(np.mean(model.decision_scores_))) < 1e-9
    assert_same_floats(model.threshold_, np.percentile(expected, 90.0), device, rtol=1e-12)
    energy = model.decision_function(frame)
    np.testing.assert_array_equal(model.predict(frame), (energy > model.threshold_).astype(int))
    assert [restart_loss(m.history_) for m in members] == model.restart_losses_


def test_best_restart_keeps_the_lowest_loss_network_only():
    frame = _frame()
    model = DAGMM(**SMALL, n_restarts=4, restart_combine="best", random_state=1).fit(frame)
    members = fit_ensemble(DAGMM(**SMALL), frame, model.restart_seeds_)
    losses = [m.history_["loss"][-1] for m in members]
    assert model.restart_losses_ == losses
    chosen = int(np.argmin(losses))
    assert model.n_members_ == 1 and model.seed_ == model.restart_seeds_[chosen]
    np.testing.assert_array_equal(
        model.decision_function(frame), members[chosen].decision_function(frame)
    )
    assert model.history_ == members[chosen].history_
    assert not hasattr(model, "restart_offsets_")


def test_one_restart_draws_the_seed_a_plain_fit_draws():
    frame = _frame()
    plain = DAGMM(**SMALL, random_state=7).fit(frame)
    several = DAGMM(**SMALL, random_state=7, n_restarts=3).fit(frame)
    assert plain.restart_seeds_ == [plain.seed_] == several.restart_seeds_[:1]
    assert plain.n_members_ == 1 and several.n_members_ == 3
    # Same random_state, same data: the same scores.
    again = DAGMM(**SMALL, random_state=7, n_restarts=3).fit(frame)
    np.testing.assert_array_equal(again.decision_function(frame), several.decision_function(frame))


def test_restarts_with_a_validation_split_standardise_over_every_training_row():
    frame = _frame()
    params = {**SMALL, "validation_fraction": 0.25, "random_state": 3}
    model = DAGMM(**params, n_restarts=2).fit(frame)
    assert len(model.decision_scores_) == len(frame)
    np.testing.assert_array_equal(model.decision_scores_, model.decision_function(frame))
    assert len(model.history_["val_loss"]) == len(model.history_["loss"])
    best = DAGMM(**params, n_restarts=2, restart_combine="best").fit(frame)
    chosen = best_restart(best.restart_losses_)
    assert best.seed_ == best.restart_seeds_[chosen]
    # judged by the lowest held-out objective, not by the last training loss
    assert best.restart_losses_[chosen] == min(best.history_["val_loss"])
    assert best.restart_losses_[chosen] != best.history_["loss"][-1]


def test_shapes_names_and_transform_of_a_model_with_restarts():
    frame = _frame()
    model = DAGMM(**SMALL, n_restarts=3, random_state=0).fit(frame)
    assert model.weights_.shape == (3, 2)
    assert model.means_.shape == (3, 2, 3) and model.covariances_.shape == (3, 2, 3, 3)
    z = model.transform(frame.iloc[:7])
    assert z.shape == (7, 9)
    names = list(model.get_feature_names_out())
    assert names[:3] == [
        "restart_0_latent_0",
        "restart_0_relative_distance",
        "restart_0_cosine_similarity",
    ]
    assert len(names) == 9 and names[-1] == "restart_2_cosine_similarity"
    # Each restart's block is that restart's own representation.
    for r in range(3):
        alone = model._restart_view(r).transform(frame.iloc[:7])
        assert_same_floats(z[:, 3 * r : 3 * r + 3], alone, model.device_, across_batches=True)
    single = DAGMM(**SMALL, random_state=0).fit(frame)
    assert single.weights_.shape == (2,) and single.transform(frame.iloc[:7]).shape == (7, 3)


@pytest.mark.parametrize(
    "params",
    [
        {"n_restarts": 3},
        {"n_restarts": 2, "restart_combine": "median"},
        {"n_restarts": 3, "restart_combine": "best"},
        {"n_restarts": 2, "epochs": 0},
    ],
)
def test_model_file_round_trip_of_restarts(params, tmp_path):
    frame = _frame()
    model = DAGMM(**{**SMALL, **params}, random_state=2).fit(frame)
    path = tmp_path / "m.dagmm"
    model.save(path)
    loaded = load(path)
    np.testing.assert_array_equal(loaded.decision_function(frame), model.decision_function(frame))
    np.testing.assert_array_equal(loaded.decision_scores_, model.decision_scores_)
    assert loaded.restart_seeds_ == model.restart_seeds_
    np.testing.assert_array_equal(loaded.restart_losses_, model.restart_losses_)
    assert loaded.n_members_ == model.n_members_ and loaded.threshold_ == model.threshold_
    several = model.n_members_ > 1
    assert loaded.format_version_ == 4  # with the training range and levels
    np.testing.assert_array_equal(loaded.input_range_, model.input_range_)
    assert [v is None for v in loaded.input_levels_] == [v is None for v in model.input_levels_]
    if several:
        np.testing.assert_array_equal(loaded.restart_scales_, model.restart_scales_)
    if params.get("epochs") == 0:
        assert all(math.isnan(x) for x in loaded.restart_losses_)


def test_a_single_network_file_without_a_training_range_stays_format_version_1(tmp_path):
    frame = _frame()
    model = DAGMM(**SMALL, random_state=0).fit(frame)
    assert "restarts" not in read_document(model_bytes(model))["fitted"]
    del model.input_range_  # as loaded from a file of format version 1
    assert read_document(model_bytes(model))["format_version"] == 1


def _claim_two_members(doc: dict) -> None:
    """A consistent document for two networks over the tensors of three."""
    doc["fitted"]["n_members"] = doc["params"]["n_restarts"] = 2
    for values in doc["fitted"]["restarts"].values():
        if isinstance(values, list):
            values.pop()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["fitted"]["restarts"].update(combine="best"), "restarts.combine mean or"),
        (lambda d: d["fitted"]["restarts"]["scales"].pop(), "offsets and scales of that length"),
        (lambda d: d["fitted"]["restarts"]["losses"].pop(), "losses and seeds differ"),
        (lambda d: d["fitted"]["restarts"]["scales"].__setitem__(0, 0.0), "scales"),
        (_claim_two_members, "tensor 'net"),
    ],
)
def test_a_tampered_restarts_document_is_refused(edit, message):
    frame = _frame()
    raw = model_bytes(DAGMM(**SMALL, n_restarts=3, random_state=0).fit(frame))
    bad = rewrite_document(raw, lambda header, doc: edit(doc))
    with pytest.raises(ModelFileError, match=message):
        load_bytes(bad)


def test_a_file_of_several_networks_needs_format_version_2():
    frame = _frame()
    raw = model_bytes(DAGMM(**SMALL, n_restarts=2, random_state=0).fit(frame))

    def downgrade(header, doc):
        header["__metadata__"]["format_version"] = "1"
        doc["format_version"] = 1

    with pytest.raises(ModelFileError, match="needs format_version 2"):
        load_bytes(rewrite_document(raw, downgrade))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n_restarts": 0}, "n_restarts must be an integer >= 1"),
        ({"n_restarts": 2.5}, "n_restarts must be an integer >= 1"),
        ({"restart_combine": "max"}, "restart_combine must be one of"),
    ],
)
def test_bad_restart_parameters_are_named(params, message):
    with pytest.raises(InvalidInputError, match=message):
        DAGMM(**SMALL, **params).fit(_frame())


def test_fit_ensemble_refuses_restarts():
    with pytest.raises(InvalidInputError, match="fit_ensemble trains one model per seed"):
        fit_ensemble(DAGMM(**SMALL, n_restarts=2), _frame(), [1, 2])


@pytest.mark.parametrize("how", ["mean", "median"])
def test_a_file_refit_of_restarts_equals_the_fit_on_the_same_rows(tmp_path, how):
    # Refitting on a file holding exactly the training rows must give back what the fit
    # computed in memory: each network's mixture, its standardisation and the threshold.
    frame = _frame(700)
    model = DAGMM(**SMALL, n_restarts=3, restart_combine=how, random_state=0).fit(frame)
    before = {
        "offsets": model.restart_offsets_.copy(),
        "scales": model.restart_scales_.copy(),
        "threshold": model.threshold_,
        "scores": model.decision_function(frame),
        "weights": model.weights_.copy(),
    }
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    n_rows = refit_mixture_on_file(model, path, training_rows=frame, chunk_rows=128)
    assert n_rows == len(frame)
    np.testing.assert_allclose(model.weights_, before["weights"], rtol=1e-6)
    np.testing.assert_allclose(model.restart_offsets_, before["offsets"], rtol=1e-6)
    np.testing.assert_allclose(model.restart_scales_, before["scales"], rtol=1e-6)
    assert model.threshold_ == pytest.approx(before["threshold"], rel=1e-5, abs=1e-6)
    np.testing.assert_allclose(model.decision_function(frame), before["scores"], atol=1e-5)
    np.testing.assert_array_equal(model.decision_scores_, model.decision_function(frame))


def test_cli_fit_sample_rows_with_restarts(tmp_path):
    frame = _frame(900)
    data = tmp_path / "d.csv"
    frame.to_csv(data, index=False)
    out = tmp_path / "m.dagmm"
    result = CliRunner().invoke(
        cli,
        [
            "fit",
            str(data),
            "--out",
            str(out),
            "--restarts",
            "2",
            "--sample-rows",
            "300",
            "--epochs",
            "3",
            "--random-state",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "mixture and threshold computed over all 900 rows" in result.output
    model = load(out)
    assert model.n_members_ == 2
    scores = model.decision_function(frame)
    # the standardisation is over the whole file: its scores have mean 0 there
    assert abs(float(scores.mean())) < 1e-6
    assert model.threshold_ == pytest.approx(np.percentile(scores, 90.0), rel=1e-4)


def test_combine_restart_energies_by_hand():
    energies = np.array([[1.0, 3.0, 5.0], [10.0, 10.0, 40.0], [0.0, 0.0, 3.0]])
    offsets, scales = np.array([3.0, 20.0, 1.0]), np.array([2.0, 10.0, 1.0])
    # standardised: [-1, 0, 1], [-1, -1, 2], [-1, -1, 2]
    np.testing.assert_array_equal(
        combine_restart_energies(energies, offsets, scales), [-1.0, -2 / 3, 5 / 3]
    )
    np.testing.assert_array_equal(
        combine_restart_energies(energies, offsets, scales, "median"), [-1.0, -1.0, 2.0]
    )
    with pytest.raises(ValueError, match="how must be"):
        combine_restart_energies(energies, offsets, scales, "best")
    assert best_restart([3.0, math.nan, 1.0]) == 2 and best_restart([math.nan] * 2) == 0


def test_restarts_on_equal_training_energies_divide_by_one_not_by_round_off():
    # All rows alike: each restart's training energies are equal, yet np.std of them was
    # 3.6e-15, not 0; dividing by it scored the training rows 0.67 (not 0) and any other
    # row about 1e20.
    same = np.ones((50, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # collapsed components: expected here
        model = DAGMM(epochs=2, n_restarts=3, random_state=0).fit(same)
    np.testing.assert_array_equal(model.restart_scales_, 1.0)
    np.testing.assert_allclose(model.decision_scores_, 0.0, atol=1e-9)
    other = np.random.default_rng(0).normal(size=(5, 3))
    # With a scale of 1 the score is the mean raw energy difference from the training rows.
    energies = model._member_energies(other.astype(np.float32))
    expected = (energies - model.restart_offsets_[:, None]).mean(axis=0)
    np.testing.assert_allclose(model.decision_function(other), expected)
    assert np.abs(model.decision_function(other)).max() < 1e12
    np.testing.assert_array_equal(
        restart_scales([-30.0, 5.0, 0.0, -30.0], [3.6e-15, 0.2, 0.0, 1e-9]), [1.0, 0.2, 1.0, 1e-9]
    )


def test_explain_with_restarts_explains_the_combined_score():
    frame = _frame()
    model = DAGMM(**{**SMALL, "epochs": 30}, n_restarts=3, random_state=0).fit(frame)
    table = model.explain(frame.iloc[:10], top_k=1)
    np.testing.assert_allclose(
        table["energy"].to_numpy(), model.decision_function(frame.iloc[:10]), rtol=0, atol=0
    )
    assert (table["contribution"] >= 0).all()
    # the planted column drives most of the planted rows
    assert (table["column"] == "c2").sum() >= 8


@pytest.mark.parametrize("combine", ["mean", "median"])
def test_explain_differentiates_the_score_decision_function_gives(combine):
    # explain's contributions and gradients come from a torch twin of
    # combine_restart_energies (it must be differentiable); both must give one score.
    from dagmm.explain import _per_feature

    frame = _frame()
    model = DAGMM(**SMALL, n_restarts=4, restart_combine=combine, random_state=0).fit(frame)
    rows = frame.iloc[:40]
    explained = _per_feature(model, model._encode(rows))["energy"]
    np.testing.assert_allclose(explained, model.decision_function(rows), rtol=1e-5, atol=1e-5)


def test_cli_fit_score_info_with_restarts(tmp_path):
    frame = _frame()
    data = tmp_path / "d.csv"
    frame.to_csv(data, index=False)
    runner = CliRunner()
    model_path = tmp_path / "m.dagmm"
    result = runner.invoke(
        cli,
        [
            "fit",
            str(data),
            "--out",
            str(model_path),
            "--restarts",
            "3",
            "--epochs",
            "4",
            "--hidden-sizes",
            "8,4",
            "--latent-dim",
            "1",
            "--random-state",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "(4 steps, 3 restarts (mean));" in result.output
    model = load(model_path)
    assert model.n_members_ == 3 and model.restart_combine == "mean"
    out = tmp_path / "s.csv"
    result = runner.invoke(cli, ["score", str(model_path), str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(pd.read_csv(out)["energy"], model.decision_function(frame))
    result = runner.invoke(cli, ["info", str(model_path)])
    assert result.exit_code == 0 and "restarts: 3 (mean of their standardised energies)" in (
        result.output
    )
    summary = json.loads(runner.invoke(cli, ["info", str(model_path), "--json"]).output)
    assert summary["restarts"]["seeds"] == model.restart_seeds_
    assert np.asarray(summary["mixture_weights"]).shape == (3, 2)


def test_resume_with_restarts_equals_an_uninterrupted_run(tmp_path, monkeypatch):
    from dagmm import checkpoint as checkpoint_module

    frame = _frame()
    params = {**SMALL, "n_restarts": 3, "random_state": 4, "batch_size": 64}
    reference = DAGMM(**params).fit(frame)
    path = tmp_path / "run.ckpt"
    real_save = checkpoint_module.save_checkpoint
    saved = []

    def save_then_crash(*args, **kw):
        real_save(*args, **kw)
        saved.append(args[1].epoch)
        if len(saved) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint_module, "save_checkpoint", save_then_crash)
    with pytest.raises(KeyboardInterrupt):
        DAGMM(**params, checkpoint_path=str(path), checkpoint_every=2).fit(frame)
    monkeypatch.setattr(checkpoint_module, "save_checkpoint", real_save)
    assert saved == [2, 4]
    # how the restarts are combined is chosen after training: a resumed run may change it
    resumed = DAGMM(
        **params, restart_combine="median", checkpoint_path=str(path), checkpoint_every=2
    ).fit(frame, resume=True)
    median = DAGMM(**params, restart_combine="median").fit(frame)
    np.testing.assert_array_equal(resumed.decision_function(frame), median.decision_function(frame))
    np.testing.assert_array_equal(resumed.restart_offsets_, reference.restart_offsets_)
    # but not the number of restarts
    with pytest.raises(Exception, match="checkpoint"):
        DAGMM(**{**params, "n_restarts": 2}, checkpoint_path=str(path)).fit(frame, resume=True)


def test_the_protocol_runner_takes_restarts_from_the_estimator():
    from dagmm.reproduce import dagmm_method, paper_splits

    rng = np.random.default_rng(5)
    X = rng.normal(size=(200, 4)).astype(np.float32)
    y = (np.arange(200) < 20).astype(int)
    X[y == 1] += 3.0
    splits = paper_splits(y, [0, 1])
    configured = dagmm_method(DAGMM(**SMALL, n_restarts=3, restart_combine="median"))(X, splits)
    explicit = dagmm_method(DAGMM(**SMALL), restarts=3, combine="median")(X, splits)
    for a, b in zip(configured, explicit, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="give one of them"):
        dagmm_method(DAGMM(**SMALL, n_restarts=3), restarts=2)


def test_the_combination_rule_is_fixed_at_fit_time(tmp_path):
    frame = _frame()
    model = DAGMM(**SMALL, n_restarts=3, random_state=0).fit(frame)
    before = model.decision_function(frame)
    # parameters, not the fitted model (and a file saved after that still loads)
    model.set_params(restart_combine="median", n_restarts=5)
    np.testing.assert_array_equal(model.decision_function(frame), before)
    assert model.restart_combine_ == "mean"
    path = tmp_path / "m.dagmm"
    model.save(path)
    loaded = load(path)
    assert loaded.restart_combine_ == "mean" and loaded.restart_combine == "median"
    assert loaded.n_members_ == 3 and len(loaded.restart_seeds_) == 3
    np.testing.assert_array_equal(loaded.decision_function(frame), before)
    # a document without the fitted rule (written before it was recorded) falls back to
    # the parameter
    raw = rewrite_document(
        model_bytes(
            DAGMM(**SMALL, n_restarts=2, restart_combine="median", random_state=0).fit(frame)
        ),
        lambda header, doc: doc["fitted"]["restarts"].pop("combine"),
    )
    assert load_bytes(raw).restart_combine_ == "median"
