"""DAGMM inside PyOD's own tools: its ensembles and score combination take it as a detector."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from dagmm import DAGMM

pytest.importorskip("pyod")

FAST = {"epochs": 10, "batch_size": 128, "contamination": 0.1}


@pytest.fixture(scope="module")
def pyod_data():
    from pyod.utils.data import generate_data

    X_train, X_test, _, y_test = generate_data(
        n_train=400, n_test=200, n_features=6, contamination=0.1, random_state=0
    )
    return X_train, X_test, y_test


def test_pyod_lscp_ensembles_dagmm_detectors(pyod_data):
    from pyod.models.lscp import LSCP

    X_train, X_test, y_test = pyod_data
    detectors = [DAGMM(random_state=seed, **FAST) for seed in (0, 1)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # LSCP's own warnings on small data
        lscp = LSCP(detectors, random_state=0).fit(X_train)
    scores = lscp.decision_function(X_test)
    assert scores.shape == (len(X_test),) and np.isfinite(scores).all()
    assert roc_auc_score(y_test, scores) > 0.85
    # LSCP scores with the detectors it fitted, and they are ours, trained
    assert all(hasattr(d, "mixture_") for d in lscp.detector_list)


def test_pyod_suod_runs_dagmm_beside_its_own_detectors(pyod_data):
    pytest.importorskip("suod")
    from pyod.models.iforest import IForest
    from pyod.models.suod import SUOD

    X_train, X_test, y_test = pyod_data
    suod = SUOD(
        base_estimators=[DAGMM(random_state=0, **FAST), IForest(random_state=0)],
        n_jobs=1,
        combination="average",
        approx_flag_global=False,  # keep DAGMM's own scores, not a regressor's imitation
        verbose=False,
    ).fit(X_train)
    scores = suod.decision_function(X_test)
    assert roc_auc_score(y_test, scores) > 0.85
    dagmm_alone = DAGMM(random_state=0, **FAST).fit(X_train)
    fitted = [e for e in suod.model_.base_estimators if isinstance(e, DAGMM)]
    assert len(fitted) == 1 and hasattr(fitted[0], "mixture_")
    # same seed, same data: SUOD's copy scores as the one fitted here
    np.testing.assert_allclose(
        fitted[0].decision_function(X_test), dagmm_alone.decision_function(X_test), rtol=1e-6
    )


def test_pyod_score_combination_of_dagmm_seeds(pyod_data):
    pytest.importorskip("combo")
    from pyod.models.combination import average
    from pyod.utils.utility import standardizer

    X_train, X_test, y_test = pyod_data
    scores = np.column_stack(
        [
            DAGMM(random_state=seed, **FAST).fit(X_train).decision_function(X_test)
            for seed in (0, 1, 2)
        ]
    )
    combined = average(standardizer(scores))
    assert combined.shape == (len(X_test),)
    assert roc_auc_score(y_test, combined) > 0.85


def _pyod_reference(model: DAGMM, contamination: float):
    """PyOD's own ``BaseDetector`` code run on a fitted DAGMM's energies: its threshold,
    labels, probabilities and confidence, to hold ours to (not a copy of its formulas)."""
    from pyod.models.base import BaseDetector

    class Reference(BaseDetector):
        def __init__(self, contamination=0.1):
            super().__init__(contamination=contamination)

        def fit(self, X, y=None):
            self._set_n_classes(y)
            self.decision_scores_ = model.decision_scores_.copy()
            self._process_decision_scores()
            return self

        def decision_function(self, X):
            return model.decision_function(X)

    return Reference(contamination).fit(None)


def test_outputs_are_pyod_base_detector_outputs(pyod_data):
    X_train, X_test, _ = pyod_data
    model = DAGMM(random_state=0, **FAST).fit(X_train)
    reference = _pyod_reference(model, 0.1)
    assert model.threshold_ == reference.threshold_ and model.contamination_ == 0.1
    np.testing.assert_array_equal(model.labels_, reference.labels_)
    np.testing.assert_array_equal(model.predict(X_test), reference.predict(X_test))
    for method in ("linear", "unify"):
        np.testing.assert_allclose(
            model.predict_proba(X_test, method=method),
            reference.predict_proba(X_test, method=method),
            rtol=0,
            atol=1e-12,
        )
    confidence = reference.predict_confidence(X_test)
    assert np.ptp(confidence) > 0.1  # rows on both sides of the cut, some near it
    np.testing.assert_allclose(model.predict_confidence(X_test), confidence, rtol=0, atol=1e-12)
    labels, same = model.predict(X_test, return_confidence=True)
    np.testing.assert_array_equal(labels, reference.predict(X_test))
    np.testing.assert_allclose(same, confidence, rtol=0, atol=1e-12)


def test_set_params_contamination_keeps_the_fitted_cut_until_fit_and_says_so(pyod_data):
    # PyOD recomputes nothing on set_params: its predict keeps threshold_, but its
    # predict_confidence read the new contamination against the old threshold_, so a
    # row flagged at the 10 % cut got the confidence of a 30 % cut. Here every
    # threshold-derived output keeps the fitted share (contamination_), with a warning.
    X_train, X_test, _ = pyod_data
    model = DAGMM(random_state=0, **FAST).fit(X_train)
    threshold, labels_ = model.threshold_, model.labels_.copy()
    labels, confidence = model.predict(X_test, return_confidence=True)
    model.set_params(contamination=0.3)
    said = r"fitted with contamination=0.1: threshold_, labels_, .* threshold_at\(0.3\)"
    with pytest.warns(UserWarning, match=said):
        again, confidence_again = model.predict(X_test, return_confidence=True)
    with pytest.warns(UserWarning, match=said):
        np.testing.assert_array_equal(model.predict_confidence(X_test), confidence)
    with pytest.warns(UserWarning, match=said):
        _, proba_confidence = model.predict_proba(X_test, return_confidence=True)
    np.testing.assert_array_equal(again, labels)
    np.testing.assert_array_equal(confidence_again, confidence)
    np.testing.assert_array_equal(proba_confidence, confidence)
    assert model.threshold_ == threshold and model.contamination_ == 0.1
    np.testing.assert_array_equal(model.labels_, labels_)
    # the share does not enter predict_proba: no warning there
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.predict_proba(X_test)
    # the documented way to another share without training again
    assert (model.decision_scores_ > model.threshold_at(0.3)).mean() == pytest.approx(0.3)
    model.fit(X_train)  # fitting again takes the new share everywhere
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        labels, confidence = model.predict(X_test, return_confidence=True)
    reference = _pyod_reference(model, 0.3)
    assert model.contamination_ == 0.3 and model.threshold_ == reference.threshold_
    assert model.labels_.mean() == pytest.approx(0.3)
    np.testing.assert_array_equal(labels, reference.predict(X_test))
    np.testing.assert_allclose(confidence, reference.predict_confidence(X_test), atol=1e-12)


def test_pyod_feature_bagging_fits_dagmm_on_feature_subsets(pyod_data):
    from pyod.models.feature_bagging import FeatureBagging

    X_train, X_test, y_test = pyod_data
    bagging = FeatureBagging(
        base_estimator=DAGMM(random_state=0, **FAST), n_estimators=3, random_state=0
    ).fit(X_train)
    fitted = bagging.estimators_
    # each a clone with its own seed, fitted on its own columns
    assert all(isinstance(e, DAGMM) and hasattr(e, "mixture_") for e in fitted)
    assert len({e.random_state for e in fitted}) == 3
    widths = [e.n_features_in_ for e in fitted]
    assert widths == [len(f) for f in bagging.estimators_features_]
    scores = bagging.decision_function(X_test)
    assert np.isfinite(scores).all() and roc_auc_score(y_test, scores) > 0.85


@pytest.mark.parametrize("T", [0.5, 2.0, 32])
def test_predict_with_rejection_is_pyod_base_detector_output(pyod_data, T):
    X_train, X_test, _ = pyod_data
    model = DAGMM(random_state=0, **FAST).fit(X_train)
    reference = _pyod_reference(model, 0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # PyOD's sqrt of a negative: nan
        expected, expected_stats = reference.predict_with_rejection(
            X_test, T=T, return_stats=True, c_r=0.1
        )
    labels, stats = model.predict_with_rejection(X_test, T=T, return_stats=True)
    np.testing.assert_array_equal(labels, expected)
    np.testing.assert_allclose(stats, expected_stats, rtol=1e-12, atol=1e-12)
    if T == 2.0:  # some labels withheld, some given: the comparison sees both
        assert 0 < (labels == -2).sum() < len(labels)
    np.testing.assert_array_equal(model.predict_with_rejection(X_test, T=T), expected)
    costs = {"c_fp": 2.0, "c_fn": 0.5, "c_r": 0.3}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # PyOD's sqrt of a negative: nan
        reference_stats = reference.compute_rejection_stats(T=T, delta=0.05, **costs)
    np.testing.assert_allclose(
        model.compute_rejection_stats(T=T, delta=0.05, **costs), reference_stats, rtol=1e-12
    )


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"T": 0}, "T must be a positive number, got 0"),
        ({"delta": 1.0}, "delta must be in (0, 1), got 1.0"),
        ({"c_r": -1}, "c_r must be a non-negative number, got -1"),  # PyOD's "use the share"
        ({"c_fp": float("nan")}, "c_fp must be a non-negative number, got nan"),
    ],
)
def test_rejection_arguments_out_of_range_are_refused_not_replaced(pyod_data, arguments, message):
    # PyOD replaces each of these by its default with a warning; the stats then describe
    # arguments nobody asked for.
    X_train, X_test, _ = pyod_data
    model = DAGMM(random_state=0, **FAST).fit(X_train)
    with pytest.raises(ValueError, match=re.escape(message)):
        model.predict_with_rejection(X_test, return_stats=True, **arguments)
    with pytest.raises(ValueError, match=re.escape(message)):
        model.compute_rejection_stats(**arguments)
    assert not hasattr(model, "rejection_threshold_")  # nothing stored by a prediction


def test_rejection_needs_the_training_energies_and_a_fitted_model(pyod_data, tmp_path):
    from sklearn.exceptions import NotFittedError

    from dagmm import load
    from dagmm.exceptions import InvalidInputError

    X_train, X_test, _ = pyod_data
    with pytest.raises(NotFittedError):
        DAGMM().predict_with_rejection(X_test)
    model = DAGMM(random_state=0, **FAST).fit(X_train)
    model.save(tmp_path / "m.dagmm", include_training_scores=False)
    bare = load(tmp_path / "m.dagmm")
    with pytest.raises(InvalidInputError, match="needs the training energies"):
        bare.predict_with_rejection(X_test)
    with pytest.raises(InvalidInputError, match="rejection statistics needs the training"):
        bare.compute_rejection_stats()


def test_threshold_at_the_models_own_share_is_its_threshold_without_training_energies(
    pyod_data, tmp_path
):
    """README: "the model's own threshold_ is threshold_at(contamination_)". Until
    2026-12-07 a model saved without its training energies (as `dagmm fit --distributed`
    saves) refused that call although threshold_ is known; other shares still need them."""
    from dagmm import load
    from dagmm.exceptions import InvalidInputError

    X_train, _, _ = pyod_data
    model = DAGMM(random_state=0, **FAST).fit(X_train)
    assert model.threshold_at(model.contamination_) == model.threshold_
    model.save(tmp_path / "m.dagmm", include_training_scores=False)
    bare = load(tmp_path / "m.dagmm")
    assert bare.threshold_at(bare.contamination_) == bare.threshold_ == model.threshold_
    with pytest.raises(InvalidInputError, match="holds no training energies"):
        bare.threshold_at(0.05)
