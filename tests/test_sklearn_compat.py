"""scikit-learn's own estimator checks (``parametrize_with_checks``), and what they found.

DAGMM follows PyOD where PyOD and scikit-learn disagree; the checks that test
scikit-learn's side of those disagreements are listed below with the reason, and
pytest reports them as expected failures (a listed check that starts to pass is
reported too, as XPASS, and should leave the list).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn
import torch
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from dagmm import DAGMM, InvalidInputError

SKLEARN_VERSION = tuple(int(p) for p in sklearn.__version__.split(".")[:2])
SKLEARN_1_6 = SKLEARN_VERSION >= (1, 6)

#: check name -> why DAGMM fails it on purpose
EXPECTED_FAILED_CHECKS = {
    "check_outliers_train": (
        "predict returns PyOD's 0 (inlier) / 1 (anomaly), not -1 / +1; past that, the "
        "check wants scikit-learn's decision_function (score_samples - offset_, < 0 = "
        "outlier), and DAGMM's is PyOD's energy (higher = more anomalous)"
    ),
    "check_outliers_fit_predict": "fit_predict returns PyOD's 0 / 1 labels, not -1 / +1",
    "check_estimator_sparse_array": (
        "sparse input is accepted; the check then reads classifier tags because "
        "DAGMM has predict_proba (test_sparse_input_scores_as_dense covers it)"
    ),
    "check_estimator_sparse_matrix": "as check_estimator_sparse_array",
}
if SKLEARN_VERSION[:2] == (1, 6):
    EXPECTED_FAILED_CHECKS["check_positive_only_tag_during_fit"] = (
        "scikit-learn 1.6's own check turns X into integers for an estimator tagged "
        "categorical, then subtracts a float mean in place (UFuncOutputCastingError); "
        "1.7 fixed the check, which DAGMM passes"
    )


def _small() -> DAGMM:
    return DAGMM(epochs=2, hidden_sizes=(4,), batch_size=16, random_state=0)


if SKLEARN_1_6:
    from sklearn.utils.estimator_checks import parametrize_with_checks

    @parametrize_with_checks([_small()], expected_failed_checks=lambda _: EXPECTED_FAILED_CHECKS)
    def test_sklearn_estimator_checks(estimator, check):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # FewRowsWarning etc. on the checks' tiny data
            check(estimator)


def _rows(n: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 4))


def test_frame_with_integer_column_labels_fits_and_scores_like_the_array():
    # pd.DataFrame(array) has columns 0, 1, ...: fit used to fail with KeyError: '0'
    X = _rows()
    from_frame = _small().fit(pd.DataFrame(X))
    from_array = _small().fit(X)
    np.testing.assert_array_equal(
        from_frame.decision_function(pd.DataFrame(X)), from_array.decision_function(X)
    )
    assert list(from_frame.feature_names_in_) == ["0", "1", "2", "3"]
    with pytest.raises(InvalidInputError, match=r"duplicate column name\(s\) \['1'\]"):
        _small().fit(pd.DataFrame(X[:, :2], columns=[1, "1"]))


def test_ignored_columns_may_repeat_a_name_at_scoring():
    """Until 2026-12-07 a frame with two extra columns named alike was refused at scoring
    ("duplicate column name(s) ['z']"), though every other extra column is ignored."""
    X = pd.DataFrame(_rows(), columns=list("abcd"))
    model = _small().fit(X)
    extra = pd.concat([X, pd.DataFrame(np.zeros((len(X), 2)), columns=["z", "z"])], axis=1)
    with pytest.warns(UserWarning, match=r"ignoring column\(s\) \['z'\] that the model"):
        scores = model.decision_function(extra)
    np.testing.assert_array_equal(scores, model.decision_function(X))
    # a model column named twice is ambiguous: still refused, as at fit
    with pytest.raises(InvalidInputError, match=r"duplicate column name\(s\) \['a'\]"):
        model.decision_function(pd.concat([X, X[["a"]]], axis=1))
    with pytest.raises(InvalidInputError, match=r"duplicate column name\(s\) \['z'\]"):
        _small().fit(extra)


def test_a_frame_scored_by_a_model_fitted_without_names_warns_as_sklearn_does():
    # Fitted on an array, scored with a named frame: its columns were matched by position
    # silently, so a frame in another column order scored wrong without a word.
    X = _rows()
    model = _small().fit(X)
    named = pd.DataFrame(X, columns=list("abcd"))
    with pytest.warns(UserWarning, match="X has feature names, but DAGMM was fitted without"):
        scores = model.decision_function(named)
    np.testing.assert_array_equal(scores, model.decision_function(X))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pd.DataFrame(X)'s 0, 1, ... are the array's positions
        np.testing.assert_array_equal(model.decision_function(pd.DataFrame(X)), scores)


def test_sparse_input_scores_as_dense():
    from scipy import sparse

    X = _rows()
    X[np.abs(X) < 0.8] = 0.0
    dense = _small().fit(X)
    for kind in (sparse.csr_matrix, sparse.csr_array, sparse.coo_matrix):
        model = _small().fit(kind(X))
        np.testing.assert_array_equal(model.decision_scores_, dense.decision_scores_)
        np.testing.assert_array_equal(model.decision_function(kind(X)), dense.decision_function(X))
        assert model.predict_proba(kind(X)).shape == (len(X), 2)


def test_in_a_pipeline_after_a_sparse_one_hot_encoder():
    frame = pd.DataFrame({"proto": ["tcp", "udp", "icmp", "tcp"] * 16})
    pipeline = make_pipeline(OneHotEncoder(), _small())  # OneHotEncoder's output is sparse
    pipeline.fit(frame)
    scores = pipeline.decision_function(frame)
    assert scores.shape == (64,) and np.isfinite(scores).all()
    np.testing.assert_array_equal(scores, clone(pipeline).fit(frame).decision_function(frame))


def test_set_output_pandas_labels_the_representation():
    from sklearn.preprocessing import StandardScaler

    frame = pd.DataFrame(_rows(), columns=list("abcd"), index=range(100, 164))
    pipeline = make_pipeline(StandardScaler(), _small()).set_output(transform="pandas")
    z = pipeline.fit(frame).transform(frame)
    model = pipeline[-1]
    assert list(z.columns) == [
        *(f"latent_{j}" for j in range(model.latent_dim_)),
        "relative_distance",
        "cosine_similarity",
    ]
    assert list(z.index) == list(frame.index)
    np.testing.assert_array_equal(
        z.to_numpy(), model.set_output(transform="default").transform(pipeline[0].transform(frame))
    )


def test_fit_transform_is_fit_then_transform():
    X = _rows()
    np.testing.assert_array_equal(_small().fit_transform(X), _small().fit(X).transform(X))


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        (_rows()[:1], "n_samples = 1"),
        (_rows()[0], "Reshape your data"),
        (_rows() + 1j, "Complex data not supported"),
        (np.zeros((5, 0)), r"0 feature\(s\) \(shape=\(5, 0\)\)"),
    ],
)
def test_bad_input_messages_use_the_words_sklearn_users_know(bad, words):
    with pytest.raises(InvalidInputError, match=words):
        _small().fit(bad)
    model = _small().fit(_rows())
    with pytest.raises(InvalidInputError, match="X has 3 features, but DAGMM is expecting 4"):
        model.decision_function(_rows()[:, :3])


@pytest.mark.skipif(torch.cuda.is_available(), reason="a machine without CUDA")
def test_a_model_pickled_on_a_gpu_unpickles_and_scores_on_a_machine_without_one():
    # Until 2026-12-05 a model fitted on a GPU pickled its CUDA tensors as such:
    # joblib.load on a machine without CUDA failed ("Attempting to deserialize object on
    # a CUDA device"). Its state now carries CPU tensors and the device they were on
    # (tests/test_gpu.py pickles a real CUDA model); here, such a state comes back on
    # the CPU, as load() puts a GPU model file.
    import pickle

    model = DAGMM(epochs=2, hidden_sizes=(4,), random_state=0).fit(_rows(96))
    assert "_pickled_on_device" not in model.__getstate__()  # a CPU model: as it was
    state = model.__getstate__()
    state["_pickled_on_device"] = "cuda:0"
    copied = DAGMM.__new__(DAGMM)
    copied.__setstate__(state)
    assert "_pickled_on_device" not in vars(copied)
    assert copied.net_.input_scale.device.type == "cpu"
    assert all(t.device.type == "cpu" for t in copied.mixture_)
    np.testing.assert_array_equal(
        copied.decision_function(_rows(96)), model.decision_function(_rows(96))
    )
    again = pickle.loads(pickle.dumps(copied))
    np.testing.assert_array_equal(
        again.decision_function(_rows(96)), model.decision_function(_rows(96))
    )


def test_a_fitted_model_pickles_in_memory_for_joblib_and_multiprocessing():
    # Model files are save/load (safetensors, no pickle), but joblib.Parallel,
    # multiprocessing, GridSearchCV(n_jobs=...), SUOD(n_jobs=...) and copy.deepcopy move
    # estimators by pickling them in memory: a fitted one must come back whole.
    import copy
    import io
    import pickle

    import joblib

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(_rows(96), columns=list("abcd")).assign(
        proto=rng.choice(["tcp", "udp"], 96)
    )
    model = DAGMM(epochs=2, hidden_sizes=(4,), n_restarts=2, random_state=0).fit(frame)

    def through_joblib(m):
        buffer = io.BytesIO()
        joblib.dump(m, buffer)
        buffer.seek(0)
        return joblib.load(buffer)

    for copied in (pickle.loads(pickle.dumps(model)), through_joblib(model), copy.deepcopy(model)):
        assert copied.get_params() == model.get_params()
        np.testing.assert_array_equal(
            copied.decision_function(frame), model.decision_function(frame)
        )
        np.testing.assert_array_equal(copied.transform(frame), model.transform(frame))
        np.testing.assert_array_equal(
            copied.predict(frame, return_confidence=True),
            model.predict(frame, return_confidence=True),
        )
        np.testing.assert_array_equal(copied.restart_scales_, model.restart_scales_)
        assert list(copied.feature_names_in_) == list(copied.encoder_.columns) == list(frame)
        assert (copied.threshold_, copied.contamination_) == (model.threshold_, 0.1)
    # and in other processes (loky workers unpickle it there)
    parts = (frame[:48], frame[48:])
    scores = joblib.Parallel(n_jobs=2)(
        joblib.delayed(DAGMM.decision_function)(model, part) for part in parts
    )
    for part, scored in zip(parts, scores, strict=True):
        np.testing.assert_array_equal(scored, model.decision_function(part))


def test_model_selection_scores_with_anomaly_labels():
    # cross_val_score and GridSearchCV score DAGMM on decision_function ("roc_auc",
    # "average_precision") or predict ("f1"), with PyOD's labels: 1 = anomaly.
    # scikit-learn 1.4 and 1.5 tell an outlier detector by _estimator_type (1.6 on: by
    # __sklearn_tags__); without it their scorers took DAGMM for a regressor and every
    # score was NaN ("Got a regressor with response_method=decision_function").
    from sklearn.base import is_outlier_detector
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score

    assert getattr(DAGMM(), "_estimator_type", None) == "outlier_detector"
    assert is_outlier_detector(DAGMM())
    X, y = _rows(120), (np.arange(120) < 12).astype(int)
    X[y == 1] += 6.0
    cv = StratifiedKFold(2, shuffle=True, random_state=0)
    scores = cross_val_score(_small(), X, y, scoring="roc_auc", cv=cv, error_score="raise")
    by_hand = [
        roc_auc_score(y[test], _small().fit(X[train]).decision_function(X[test]))
        for train, test in cv.split(X, y)
    ]
    np.testing.assert_allclose(scores, by_hand)
    grid = {"contamination": [0.05, 0.2]}
    search = GridSearchCV(_small(), grid, scoring="f1", cv=cv, error_score="raise").fit(X, y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.best_estimator_.contamination_ == search.best_params_["contamination"]


def test_after_a_column_transformer_with_pandas_output():
    from sklearn.compose import make_column_transformer
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(_rows(), columns=list("abcd")).assign(proto=rng.choice(["tcp", "udp"], 64))
    columns = make_column_transformer(
        (StandardScaler(), list("abcd")), (OneHotEncoder(sparse_output=False), ["proto"])
    )
    pipeline = make_pipeline(columns, _small()).set_output(transform="pandas").fit(frame)
    model = pipeline[-1]
    names = list(pipeline[0].get_feature_names_out())
    assert list(model.feature_names_in_) == names and model.n_features_in_ == 6
    scores = pipeline.decision_function(frame)
    # the model reads the transformer's frame by its column names
    np.testing.assert_array_equal(scores, model.decision_function(pipeline[0].transform(frame)))
    shuffled = frame[["proto", *"dcba"]]
    np.testing.assert_array_equal(pipeline.decision_function(shuffled), scores)
    np.testing.assert_array_equal(pipeline.predict(frame), (scores > model.threshold_).astype(int))


def test_a_series_is_refused_with_the_conversion_its_shape_suggests():
    frame = pd.DataFrame(_rows(), columns=["a", "b", "c", "d"])
    model = _small().fit(frame)
    # frame.iloc[0] is one row: until 2026-12-05 the message said series.to_frame(),
    # which makes it one column and fails again on the column count
    with pytest.raises(InvalidInputError, match=r"for one row use series\.to_frame\(\)\.T"):
        model.decision_function(frame.iloc[0])
    with pytest.raises(InvalidInputError, match=r"for one column use series\.to_frame\(\),"):
        model.decision_function(frame["a"])
    np.testing.assert_array_equal(
        model.decision_function(frame.iloc[0].to_frame().T), model.decision_function(frame[:1])
    )
