from __future__ import annotations

import io
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from dagmm import DAGMM, InvalidInputError, NotFittedError, fit_ensemble
from dagmm.estimator import FewRowsWarning, auto_architecture
from dagmm.presets import PRESETS
from dagmm.synthetic import make_tabular_anomalies
from dagmm.tabular import UnseenCategoryWarning

FAST = {"epochs": 30, "batch_size": 256, "random_state": 0}


def test_pyod_attributes_and_shapes(blobs):
    X, y = blobs
    model = DAGMM(n_components=2, contamination=0.05, **FAST).fit(X)
    assert model.decision_scores_.shape == (len(X),)
    assert model.labels_.shape == (len(X),) and set(np.unique(model.labels_)) <= {0, 1}
    assert abs(model.labels_.mean() - 0.05) < 0.01
    assert model.weights_.shape == (2,) and abs(model.weights_.sum() - 1) < 1e-9
    assert model.means_.shape == (2, model.latent_dim_ + 2)
    assert model.covariances_.shape == (2, model.latent_dim_ + 2, model.latent_dim_ + 2)
    assert model.n_features_in_ == 6
    scores = model.decision_function(X)
    np.testing.assert_allclose(scores, model.decision_scores_, rtol=1e-6)
    np.testing.assert_array_equal(model.score_samples(X), -scores)
    np.testing.assert_array_equal(model.predict(X), (scores > model.threshold_).astype(int))
    assert model.transform(X).shape == (len(X), model.latent_dim_ + 2)
    for method in ("linear", "unify"):
        proba = model.predict_proba(X, method=method)
        assert proba.shape == (len(X), 2)
        np.testing.assert_allclose(proba.sum(1), 1.0)
        assert proba.min() >= 0 and proba.max() <= 1
    assert roc_auc_score(y, scores) > 0.9


def _pyod_confidence(train, contamination, threshold, scores):
    """PyOD's predict_confidence written out row by row (its loop, not our code)."""
    from scipy.stats import binom

    n = len(train)
    out = []
    for score in scores:
        p = (1 + np.count_nonzero(train <= score)) / (2 + n)
        c = 1 - binom.cdf(n - int(n * contamination), n, p)
        out.append(c if score > threshold else 1 - c)
    return np.array(out)


def test_pyod_confidence_matches_pyod_formula(blobs):
    X, _ = blobs
    model = DAGMM(n_components=2, contamination=0.05, **FAST).fit(X[:300])
    rows = X[250:]  # 50 training rows and unseen ones
    scores = model.decision_function(rows)
    expected = _pyod_confidence(model.decision_scores_, 0.05, model.threshold_, scores)
    confidence = model.predict_confidence(rows)
    np.testing.assert_allclose(confidence, expected, rtol=0, atol=1e-12)
    assert ((confidence >= 0) & (confidence <= 1)).all() and np.ptp(confidence) > 0.1
    labels, same = model.predict(rows, return_confidence=True)
    np.testing.assert_array_equal(labels, model.predict(rows))
    np.testing.assert_array_equal(same, confidence)
    proba, same = model.predict_proba(rows, method="unify", return_confidence=True)
    np.testing.assert_array_equal(proba, model.predict_proba(rows, method="unify"))
    np.testing.assert_array_equal(same, confidence)
    with pytest.raises(InvalidInputError, match="method must be 'linear' or 'unify'"):
        model.predict_proba(rows, method="logistic")
    from dagmm.persistence import load_bytes, model_bytes

    bare = load_bytes(model_bytes(model, include_training_scores=False))
    with pytest.raises(InvalidInputError, match="saved without them"):
        bare.predict_confidence(rows)


def test_training_learns_beyond_untrained_control():
    # Anomalies that stay inside the normal range (broken joint structure, mismatched
    # categories): an untrained network cannot see them, a trained one must.
    frame, y = make_tabular_anomalies(4000, 0.05, random_state=1)
    train, test = np.arange(2000), np.arange(2000, 4000)
    # The default scaling already makes the untrained network's features informative
    # (AUROC 0.875 here), so the margin it must beat is smaller than with min-max (0.1).
    old_default = {"scaler": "minmax", "n_components": 4, "latent_dim": 2}
    for extra, margin in (({}, 0.03), (old_default, 0.1)):
        params = {"epochs": 60, "batch_size": 256, "random_state": 0, **extra}
        trained = DAGMM(**params).fit(frame.iloc[train])
        assert trained.history_["loss"][-1] < 0.5 * trained.history_["loss"][0]
        control = DAGMM(**{**params, "epochs": 0}).fit(frame.iloc[train])
        assert control.n_iter_ == 0
        auc_trained = roc_auc_score(y[test], trained.decision_function(frame.iloc[test]))
        auc_control = roc_auc_score(y[test], control.decision_function(frame.iloc[test]))
        assert auc_trained > auc_control + margin, (extra, auc_trained, auc_control)


def test_sklearn_clone_and_params():
    model = DAGMM(n_components=3, learning_rate=1e-2)
    assert model.get_params()["n_components"] == 3
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    copy.set_params(n_components=5)
    assert copy.n_components == 5 and model.n_components == 3
    assert not hasattr(model, "net_")


def _process_state():
    import logging
    import os
    import random

    root = logging.getLogger()
    return {
        "numpy rng": repr(np.random.get_state()),  # noqa: NPY002 - the global one
        "python rng": random.getstate(),
        "torch rng": torch.get_rng_state().tolist(),
        "torch threads": torch.get_num_threads(),
        "default dtype": torch.get_default_dtype(),
        "deterministic": torch.are_deterministic_algorithms_enabled(),
        "grad enabled": torch.is_grad_enabled(),
        "warnings filters": list(warnings.filters),
        "root logger": (root.level, list(root.handlers)),
        "environment": dict(os.environ),
        "cwd": (os.getcwd(), sorted(os.listdir("."))),
    }


def test_fit_score_save_load_explain_leave_the_process_as_they_found_it(
    blobs, tmp_path, monkeypatch
):
    import dagmm

    X, _ = blobs
    monkeypatch.chdir(tmp_path)
    params = {"n_components": 2, "epochs": 2, "batch_size": 256, "random_state": 0}
    model = DAGMM(**params).fit(X[:200])  # imports and one-time set-up done
    before = _process_state()
    model = DAGMM(**params).fit(X[:200])
    model.decision_function(X)
    fit_ensemble(DAGMM(**{**params, "random_state": None}), X[:200], [1, 2])
    model.save(tmp_path / "m.dagmm")
    dagmm.load(tmp_path / "m.dagmm").explain(X[:5])
    DAGMM(**{**params, "n_restarts": 2, "validation_fraction": 0.2}).fit(X[:200])
    after = _process_state()
    after["cwd"] = (after["cwd"][0], [n for n in after["cwd"][1] if n != "m.dagmm"])
    assert [k for k in before if before[k] != after[k]] == []


def test_random_state_none_draws_from_numpy_global_rng_as_documented(blobs):
    # sklearn's convention: np.random.seed makes a fit without random_state repeatable;
    # torch's global RNG is still left alone.
    X, _ = blobs
    params = {"n_components": 2, "epochs": 2, "batch_size": 256}
    torch_state = torch.get_rng_state()
    np.random.seed(7)  # noqa: NPY002 - the global RNG is the subject
    a = DAGMM(**params).fit(X[:200]).decision_function(X)
    np.random.seed(7)  # noqa: NPY002 - the global RNG is the subject
    b = DAGMM(**params).fit(X[:200]).decision_function(X)
    np.testing.assert_array_equal(a, b)
    assert torch.equal(torch.get_rng_state(), torch_state)


def test_a_verbose_fit_leaves_no_thread_behind(blobs, capsys):
    # tqdm started its monitor thread (a daemon waking every 10 s) with the progress
    # bar, and it outlived the fit for the life of the process.
    import threading

    import tqdm
    import tqdm.auto

    for cls in {tqdm.tqdm, tqdm.auto.tqdm}:  # a monitor another test's bar left running
        if cls.monitor is not None:
            cls.monitor.exit()
            cls.monitor = None
    threads = {t.ident for t in threading.enumerate()}
    DAGMM(n_components=2, epochs=3, batch_size=256, random_state=0, verbose=1).fit(blobs[0])
    assert "dagmm fit" in capsys.readouterr().err
    assert [t.name for t in threading.enumerate() if t.ident not in threads] == []


def test_the_command_line_bars_start_no_monitor_thread_either():
    # `dagmm score`'s row bar (on a terminal) was a plain tqdm, monitor and all; it and
    # the fit's epoch bar now come from one factory
    import io
    import threading

    import tqdm.auto

    from dagmm._progress import progress_bar

    if tqdm.auto.tqdm.monitor is not None:
        tqdm.auto.tqdm.monitor.exit()
        tqdm.auto.tqdm.monitor = None
    threads = {t.ident for t in threading.enumerate()}
    with progress_bar(total=3, desc="dagmm score", file=io.StringIO()) as bar:
        bar.update(3)
    assert [t.name for t in threading.enumerate() if t.ident not in threads] == []
    assert isinstance(bar, tqdm.auto.tqdm) and bar.n == 3


def test_a_verbose_fit_into_a_log_file_writes_lines_not_carriage_returns(blobs, capsys):
    # stderr redirected to a file (`dagmm fit -v 2> fit.log`, nohup, a notebook's log):
    # tqdm's bar wrote every refresh after a carriage return, twice an epoch, all on one
    # line of the log, with block characters
    DAGMM(n_components=2, epochs=40, batch_size=256, random_state=0, verbose=1).fit(blobs[0])
    err = capsys.readouterr().err
    assert "\r" not in err and err.isascii()
    lines = err.splitlines()
    assert 2 <= len(lines) <= 3  # started, (10 s later,) done
    assert all(line.startswith("dagmm fit:") for line in lines)
    assert "40/40" in lines[-1] and "loss=" in lines[-1]


def test_a_bar_on_a_terminal_redraws_in_place():
    from dagmm._progress import _redraws_in_place

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert _redraws_in_place(Terminal())
    assert not _redraws_in_place(io.StringIO())


def test_not_fitted_and_feature_mismatch(blobs):
    X, _ = blobs
    with pytest.raises(NotFittedError):
        DAGMM().decision_function(X)
    model = DAGMM(**FAST).fit(X)
    with pytest.raises(ValueError, match="6 features"):
        model.decision_function(X[:, :5])


def test_determinism_and_global_rng_untouched(blobs):
    X, _ = blobs
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = DAGMM(**FAST).fit(X).decision_function(X)
    assert torch.equal(torch.get_rng_state(), state)
    b = DAGMM(**FAST).fit(X).decision_function(X)
    np.testing.assert_array_equal(a, b)
    c = DAGMM(**{**FAST, "random_state": 1}).fit(X).decision_function(X)
    assert not np.allclose(a, c)


def test_scores_independent_of_batch_and_order(blobs):
    X, _ = blobs
    model = DAGMM(**FAST).fit(X)
    full = model.decision_function(X)
    ones = np.concatenate([model.decision_function(X[i : i + 1]) for i in range(0, 50)])
    # float32 matmuls of other batch shapes or row positions change the last bits of z;
    # the energy carries that as an absolute error (energies can be near zero)
    np.testing.assert_allclose(ones, full[:50], rtol=1e-5, atol=1e-5)
    order = np.random.default_rng(0).permutation(len(X))
    np.testing.assert_allclose(model.decision_function(X[order]), full[order], rtol=1e-6, atol=1e-5)
    np.testing.assert_array_equal(model.decision_function(X), full)


@pytest.mark.parametrize(
    "case",
    ["constant_column", "duplicated_rows", "two_rows", "all_zero_rows", "n_below_k", "scale_1e6"],
)
def test_degenerate_data_stays_finite(case):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    if case == "constant_column":
        X[:, 2] = 7.0
    elif case == "duplicated_rows":
        X = np.repeat(X[:3], 70, axis=0)
    elif case == "two_rows":
        X = X[:2]
    elif case == "all_zero_rows":
        X[:100] = 0.0
    elif case == "n_below_k":
        X = X[:3]
    elif case == "scale_1e6":
        X = X * 1e6
    few_rows = len(X) < 4 * (6 + 1)  # K (d + 1) rows; d = 6: the auto latent_dim (4) + 2
    for scaler in ("minmax", "standard", None):
        model = DAGMM(n_components=4, epochs=20, batch_size=1024, scaler=scaler, random_state=0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", FewRowsWarning)
            model.fit(X)
        assert any(issubclass(w.category, FewRowsWarning) for w in caught) == few_rows, case
        assert model.n_iter_ == 20  # smaller than one batch: one full-batch step per epoch
        scores = model.decision_function(X)
        assert np.isfinite(scores).all(), (case, scaler)
        assert np.isfinite(model.decision_function(np.zeros((1, 5)))).all()


def test_too_few_rows_is_a_clear_error():
    with pytest.raises(InvalidInputError, match="at least 2 rows"):
        DAGMM().fit(np.ones((1, 3)))


def test_invalid_params_are_clear_errors():
    X = np.random.default_rng(0).normal(size=(20, 3))
    for kwargs, match in [
        ({"n_components": 0}, "n_components"),
        ({"contamination": 0.9}, "contamination"),
        ({"activation": "swish"}, "activation"),
        ({"dropout": 1.0}, "dropout"),
        ({"epochs": -1}, "epochs"),
        # Text that float() reads trained, then the saved model failed to load (its file's
        # schema wants numbers); other text, None and lists failed deep inside with a bare
        # ValueError or TypeError; an infinite reg_covar or lambda_cov diverged in training.
        ({"contamination": "0.1"}, "contamination"),
        ({"learning_rate": "0.01"}, "learning_rate must be a finite real number"),
        ({"learning_rate": None}, "learning_rate must be a finite real number"),
        ({"dropout": "x"}, "dropout must be a finite real number"),
        ({"reg_covar": float("inf")}, "reg_covar must be a finite real number"),
        ({"lambda_cov": float("inf")}, "lambda_cov must be a finite real number"),
        ({"validation_fraction": "0.2"}, "validation_fraction must be a finite real number"),
        ({"hidden_sizes": 8}, "hidden_sizes must be a sequence of integers"),
        ({"estimation_hidden_sizes": None}, "estimation_hidden_sizes must be a sequence"),
        ({"verbose": -1}, "verbose must be an integer >= 0"),
        ({"random_state": -1}, r"random_state must be an int in \[0, 2\*\*32 - 1\]"),
        ({"random_state": np.random.default_rng(0)}, "Generator.*rng.integers"),
    ]:
        with pytest.raises(InvalidInputError, match=match):
            DAGMM(**kwargs).fit(X)


def _frame(n=300, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "bytes": rng.gamma(2.0, 100.0, n),
            "duration": rng.exponential(1.0, n),
            "proto": rng.choice(["tcp", "udp"], n),
            "flag": rng.choice(["SF", "S0", "REJ"], n),
        }
    )


def test_dataframe_with_categoricals():
    frame = _frame()
    model = DAGMM(**FAST).fit(frame)
    assert list(model.feature_names_in_) == ["bytes", "duration", "proto", "flag"]
    assert model.net_.n_features == 2 + 2 + 3
    scores = model.decision_function(frame)
    shuffled = frame[["flag", "bytes", "proto", "duration"]]
    np.testing.assert_array_equal(model.decision_function(shuffled), scores)
    with pytest.raises(ValueError, match="missing column"):
        model.decision_function(frame.drop(columns=["flag"]))
    unseen = frame.head(10).copy()
    unseen.loc[unseen.index[:3], "proto"] = "sctp"
    with pytest.warns(UnseenCategoryWarning, match="'proto': 3"):
        out = model.decision_function(unseen)
    assert np.isfinite(out).all()
    with pytest.warns(UserWarning, match="ignoring column"):
        model.decision_function(frame.assign(extra=1.0))


def test_nan_is_a_clear_error_unless_imputed():
    frame = _frame()
    frame.loc[[3, 7], "bytes"] = np.nan
    with pytest.raises(InvalidInputError, match=r"'bytes' has 2 non-finite.*3, 7"):
        DAGMM(**FAST).fit(frame)
    model = DAGMM(missing="impute", **FAST).fit(frame)
    assert np.isfinite(model.decision_function(frame)).all()


def test_numeric_column_as_strings():
    frame = _frame()
    model = DAGMM(**FAST).fit(frame)
    as_text = frame.assign(bytes=frame["bytes"].astype(str))
    np.testing.assert_allclose(
        model.decision_function(as_text), model.decision_function(frame), rtol=1e-6
    )
    broken = as_text.copy()
    broken.loc[5, "bytes"] = "12kB"
    with pytest.raises(InvalidInputError, match=r"'bytes' should be numeric.*'12kB'.*row\(s\) 5"):
        model.decision_function(broken)


def test_presets_follow_the_paper():
    kdd = DAGMM.from_preset("kddcup")
    assert kdd.hidden_sizes == (60, 30, 10) and kdd.latent_dim == 1 and kdd.n_components == 4
    assert kdd.epochs == 200 and kdd.batch_size == 1024 and kdd.learning_rate == 1e-4
    thy = DAGMM.from_preset("thyroid", epochs=5)
    assert thy.hidden_sizes == (12, 4) and thy.n_components == 2 and thy.epochs == 5
    arr = DAGMM.from_preset("arrhythmia")
    assert arr.hidden_sizes == (10,) and arr.latent_dim == 2 and arr.batch_size == 128
    assert DAGMM.from_preset("kddcup_rev").hidden_sizes == (60, 30, 10)
    # the reproductions were measured with min-max scaling, whatever the estimator default
    assert {DAGMM.from_preset(name).scaler for name in PRESETS} == {"minmax"}
    # the paper's lambda2, whatever the estimator default (1e-4, chosen on the ODDS sets)
    assert {DAGMM.from_preset(name).lambda_cov for name in PRESETS} == {0.005}
    assert DAGMM().lambda_cov == 1e-4
    with pytest.raises(ValueError, match="unknown preset"):
        DAGMM.from_preset("mnist")
    # until 2026-12-07 a plain ValueError, and None an AttributeError ('lower')
    for name in ("mnist", None):
        with pytest.raises(InvalidInputError, match=rf"unknown preset {name!r}; choose one of"):
            DAGMM.from_preset(name)


@pytest.mark.parametrize(
    ("n_features", "expected"),
    [(2, ((8, 4), 2)), (8, ((8, 4), 4)), (21, ((21, 10), 5)), (33, ((33, 16), 8)),
     (120, ((64, 32), 8))],
)  # fmt: skip
def test_auto_architecture_follows_its_documented_rule(n_features, expected):
    assert auto_architecture(n_features) == expected
    model = DAGMM(epochs=1, random_state=0).fit(
        np.random.default_rng(0).normal(size=(40, n_features))
    )
    assert (model.hidden_sizes_, model.latent_dim_) == expected


#: A configuration that stops early on the blobs, well before its 400 epochs.
_EARLY_STOPPING = {
    "epochs": 400,
    "validation_fraction": 0.2,
    "patience": 3,
    "learning_rate": 5e-2,
    "batch_size": 128,
}


def test_early_stopping_keeps_best_epoch(blobs):
    X, _ = blobs
    model = DAGMM(**_EARLY_STOPPING, random_state=0).fit(X)
    val = model.history_["val_loss"]
    assert len(val) < 400
    assert model.best_epoch_ == int(np.argmin(val)) + 1


def test_ensemble_early_stopping_holds_out_rows_per_seed(blobs):
    X, _ = blobs
    est = DAGMM(n_components=2, **_EARLY_STOPPING)
    rows = [np.arange(0, len(X) - 10), np.arange(10, len(X))]
    models = fit_ensemble(est, X, [5, 6], rows)
    for model, member_rows in zip(models, rows, strict=True):
        val = model.history_["val_loss"]
        # stopped early, on the validation objective, and kept its best weights
        assert 0 < len(val) < 400
        assert model.best_epoch_ == int(np.argmin(val)) + 1
        # the training scores cover the model's rows, held-out ones included
        assert len(model.decision_scores_) == len(member_rows)
        np.testing.assert_allclose(
            model.decision_scores_, model.decision_function(X[member_rows]), rtol=1e-5, atol=1e-5
        )
    # each seed draws its own held-out rows; the same seed draws the same ones again
    again = fit_ensemble(est, X, [5, 6], rows)
    np.testing.assert_array_equal(models[0].decision_scores_, again[0].decision_scores_)
    assert models[0].history_["val_loss"] != models[1].history_["val_loss"]
    with pytest.raises(InvalidInputError, match="for seed 7"):
        fit_ensemble(DAGMM(validation_fraction=0.5), X, [7], [np.arange(3)])
    with pytest.raises(InvalidInputError, match=r"leaves 2 validation and 1 training rows; need"):
        DAGMM(validation_fraction=0.5).fit(X[:3])


def test_ensemble_seeds_and_rows_are_checked_and_masks_taken():
    X = np.random.default_rng(0).normal(size=(40, 3))
    est = DAGMM(epochs=1, batch_size=16)
    # Each used to fail deep inside (min() of an empty sequence, numpy's or torch's
    # IndexError), or (seed -1, 2**40) to train models whose files then failed to load.
    for seeds, rows, match in [
        ([], None, "seeds is empty"),
        ([-1], None, r"seed must be an int in \[0, 2\*\*32 - 1\], got -1"),
        ([2**40], None, "seed must be an int"),
        ([0], [np.array([0, 1, 40])], r"rows\[0\] holds position\(s\) outside \[0, 40\)"),
        ([0], [np.array([0, 1, -1])], "outside"),
        ([0], [np.array([0.0, 1.0, 2.0])], r"rows\[0\] must be a 1-D array of row positions"),
        # until 2026-12-07 "input has no rows ... among the 0 rows of X", and a TypeError
        ([0, 1], [np.arange(5), np.array([], int)], r"rows\[1\] selects no row: each model"),
        ([0], [np.zeros(40, bool)], r"rows\[0\] selects no row"),
        (3, None, r"seeds must be a sequence of ints, one model per seed, got int 3; for 3 "),
        ("01", None, r"seeds must be a sequence of ints, one model per seed, got str '01'$"),
    ]:
        with pytest.raises(InvalidInputError, match=match):
            fit_ensemble(est, X, seeds, rows)
    mask = np.arange(40) % 2 == 0
    by_mask = fit_ensemble(est, X, [3], [mask])[0]
    by_index = fit_ensemble(est, X, [3], [np.flatnonzero(mask)])[0]
    np.testing.assert_array_equal(by_mask.decision_scores_, by_index.decision_scores_)
    assert by_mask.decision_scores_.shape == (20,)


def test_ensemble_member_equals_single_model():
    # Full-batch and no dropout: shuffling and dropout draws do not matter, so an
    # ensemble member must match a model trained alone with its seed.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4)).astype(np.float32)
    rows = [np.arange(0, 100), np.arange(20, 120), np.arange(0, 90)]
    est = DAGMM(n_components=2, epochs=25, batch_size=4096, dropout=0.0)
    together = fit_ensemble(est, X, [11, 12, 13], rows)
    for seed, r, model in zip([11, 12, 13], rows, together, strict=False):
        alone = fit_ensemble(est, X, [seed], [r])[0]
        np.testing.assert_allclose(
            model.decision_function(X), alone.decision_function(X), rtol=2e-4, atol=1e-5
        )
    assert not np.allclose(together[0].decision_function(X), together[1].decision_function(X))


def test_ensemble_without_rows_trains_every_model_on_every_row():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.normal(size=(80, 3)), columns=["a", "b", "c"])
    frame["kind"] = rng.choice(["x", "y"], size=80)
    est = DAGMM(n_components=2, epochs=3, hidden_sizes=(4,), latent_dim=1)
    default = fit_ensemble(est, frame, [3, 4])
    explicit = fit_ensemble(est, frame, [3, 4], [np.arange(80)] * 2)
    for a, b in zip(default, explicit, strict=True):
        assert a.encoder_.columns == b.encoder_.columns
        assert a.encoder_.categories == b.encoder_.categories
        np.testing.assert_array_equal(a.decision_function(frame), b.decision_function(frame))
        np.testing.assert_array_equal(a.decision_scores_, b.decision_scores_)
    with pytest.raises(InvalidInputError, match="got 1 row sets for 2 seeds"):
        fit_ensemble(est, frame, [3, 4], [np.arange(80)])


def test_ensemble_reads_only_the_rows_its_models_train_on():
    # Every row of X used to be encoded: a NaN in a row no model trains on failed the
    # fit, and a category only such rows hold warned of "unseen" values.
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(rng.normal(size=(90, 2)), columns=["a", "b"])
    frame["kind"] = ["x"] * 60 + ["y"] * 30
    frame.loc[75, "a"] = np.nan
    rows = [np.arange(0, 50), np.arange(10, 60)]
    est = DAGMM(n_components=2, epochs=3, hidden_sizes=(4,), latent_dim=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        models = fit_ensemble(est, frame, [3, 4], rows)
    alone = fit_ensemble(est, frame.iloc[:60], [3, 4], rows)
    for model, same, member_rows in zip(models, alone, rows, strict=True):
        assert model.encoder_.categories == {"kind": ["x"]}
        np.testing.assert_array_equal(model.decision_scores_, same.decision_scores_)
        np.testing.assert_array_equal(
            model.decision_function(frame.iloc[member_rows]),
            same.decision_function(frame.iloc[member_rows]),
        )
    # a bad training row is still refused, named by its label in a frame...
    frame.loc[12, "b"] = np.inf
    with pytest.raises(InvalidInputError, match=r"column 'b' .*row\(s\) 12\b"):
        fit_ensemble(est, frame, [3], [np.arange(10, 20)])
    # ...and in an array, where positions are counted among the training rows
    with pytest.raises(InvalidInputError, match=r"row\(s\) 2\b.*among the 10 rows of X"):
        fit_ensemble(est, frame[["a", "b"]].to_numpy(), [3], [np.arange(10, 20)])


def test_auto_scaling_standardises_dense_columns_and_min_maxes_sparse_ones():
    import torch

    from dagmm.training import fit_scaling, top_value_share

    rng = np.random.default_rng(0)
    dense = rng.normal(3.0, 2.0, size=400)
    sparse = np.zeros(400)
    sparse[:20] = rng.uniform(1.0, 50.0, size=20)  # 95 % zeros, rare large values
    constant = np.full(400, 7.0)
    X = np.stack([dense, sparse, constant], axis=1)
    np.testing.assert_allclose(top_value_share(X), [1 / 400, 0.95, 1.0])
    # a majority value in the middle of the range; a 45 % plurality is not a majority
    majority = rng.permutation(np.repeat([1.0, 5.0, 9.0], [80, 240, 80]))
    plurality = rng.permutation(np.concatenate([np.full(180, 2.0), rng.normal(size=220)]))
    shares = top_value_share(np.stack([majority, plurality], axis=1))
    assert shares[0] == pytest.approx(0.6) and shares[1] <= 0.5
    offset, scale = fit_scaling(torch.from_numpy(X).float(), [torch.arange(400)], "auto")
    scaled = X * scale[0, 0].double().numpy() + offset[0, 0].double().numpy()
    assert abs(scaled[:, 0].mean()) < 1e-5 and abs(scaled[:, 0].std() - 1.0) < 1e-5
    assert scaled[:, 1].min() == pytest.approx(0.0, abs=1e-6)
    assert scaled[:, 1].max() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(scaled[:, 2], 0.0, atol=1e-6)
    # z-scoring the sparse column would put its rare values 4+ units out
    standard_offset, standard_scale = fit_scaling(
        torch.from_numpy(X).float(), [torch.arange(400)], "standard"
    )
    assert (X[:, 1] * standard_scale[0, 0, 1].item() + standard_offset[0, 0, 1].item()).max() > 4
    assert DAGMM().scaler == "auto"


@pytest.mark.parametrize("compiled", [False, True], ids=["numpy", "compiled"])
@pytest.mark.parametrize("n_rows", [1, 2, 3, 7, 64, 1001])
def test_top_value_share_is_exact_above_one_half(n_rows, compiled, monkeypatch):
    from dagmm import _kernels, training
    from dagmm.training import top_value_share

    if compiled and not _kernels.available():
        pytest.skip("numba is not installed")
    monkeypatch.setattr(_kernels, "ENABLED", compiled)
    monkeypatch.setattr(training, "_COMPILED_VOTE_MIN_ELEMENTS", 0)

    rng = np.random.default_rng(n_rows)
    columns = []
    for share in (0.0, 0.3, 0.5, 0.51, 0.75, 1.0):
        column = rng.normal(size=n_rows).round(1)
        planted = rng.random(n_rows) < share
        column[planted] = -3.0
        columns.append(column[rng.permutation(n_rows)])
    data = np.stack(columns, axis=1).astype(np.float32)
    shares = top_value_share(data, compiled=True)
    for j in range(data.shape[1]):
        _, counts = np.unique(data[:, j], return_counts=True)
        top = counts.max() / n_rows
        if top > 0.5:
            assert shares[j] == top
        else:
            # some value's share, never above one half
            assert shares[j] <= 0.5 and shares[j] * n_rows in counts


def test_a_fit_ensemble_member_starts_where_a_fit_with_its_seed_does():
    """fit_ensemble's docstring said a member's initialisation per seed was that of a
    separate fit with that seed; it is that of a fit whose ``seed_`` is the seed (a fit
    with ``random_state=s`` draws its ``seed_`` from that state), as it now says."""
    from dagmm import fit_ensemble

    X = np.random.default_rng(0).normal(size=(200, 4))
    alone = DAGMM(epochs=0, random_state=0).fit(X)
    (member,) = fit_ensemble(DAGMM(epochs=0), X, seeds=[alone.seed_])
    assert member.seed_ == alone.seed_ != 0
    for (name, got), want in zip(
        member.net_.state_dict().items(), alone.net_.state_dict().values(), strict=True
    ):
        assert torch.equal(got, want), name
    np.testing.assert_array_equal(member.decision_function(X), alone.decision_function(X))


@pytest.mark.parametrize("activation", ["tanh", "relu"])  # the fused step; autograd's
def test_a_fit_draws_from_its_own_generator_not_torch_s_global_one(activation, monkeypatch):
    """Until 2026-12-07 a fit seeded torch's global generator and drew its dropout masks
    from it: fits running in threads at once (joblib's threading backend, a service)
    took each other's draws, so one random_state gave another model each time (energies
    up to 1.0 apart), and a fit took draws from every other thread's seeded sequence.
    Now it draws from its own generator, seeded as the global one was: the same model
    as before, whatever other threads draw."""
    from concurrent.futures import ThreadPoolExecutor

    import dagmm.training

    X = np.random.default_rng(0).normal(size=(300, 6))

    def fit():
        model = DAGMM(epochs=3, batch_size=64, activation=activation, random_state=0)
        return model.fit(X).decision_function(X)

    alone = fit()
    # another thread at work during each epoch, deterministically: it seeds the global
    # generator at the first epoch and draws at each
    drawn: list[torch.Tensor] = []
    check_moments = dagmm.training._check_moments

    def other_thread(optimizer, epoch):
        if epoch == 1:
            torch.manual_seed(7)
        drawn.append(torch.rand(4))
        return check_moments(optimizer, epoch)

    monkeypatch.setattr(dagmm.training, "_check_moments", other_thread)
    beside = fit()
    np.testing.assert_array_equal(beside, alone)
    torch.manual_seed(7)
    expected = torch.rand(4 * len(drawn))
    assert torch.equal(torch.cat(drawn), expected)  # the fit took none of its draws
    monkeypatch.undo()
    # and truly in threads
    with ThreadPoolExecutor(3) as pool:
        together = list(pool.map(lambda _: fit(), range(3)))
    for energies in together:
        np.testing.assert_array_equal(energies, alone)
