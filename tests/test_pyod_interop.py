"""DAGMM inside PyOD's own tools: its ensembles and score combination take it as a detector."""

from __future__ import annotations

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
