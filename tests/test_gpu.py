"""CUDA: the same model, reproducible, and portable to a machine without a GPU.

Skipped where CUDA is not available (CI has none); ``benchmarks/gpu_check.sh`` runs
these on a GPU machine, then the whole suite there with ``device="auto"`` (CUDA), which
covers the rest on the GPU (ensembles, resume, explanations, the command line).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from dagmm import DAGMM, load

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")

PARAMS = {"n_components": 2, "hidden_sizes": (8, 4), "latent_dim": 1, "epochs": 60}


def test_cuda_fit_scores_as_well_as_cpu(blobs):
    X, y = blobs
    gpu = DAGMM(**PARAMS, random_state=0, device="cuda").fit(X[y == 0])
    cpu = DAGMM(**PARAMS, random_state=0, device="cpu").fit(X[y == 0])
    assert str(gpu.device_).startswith("cuda") and str(cpu.device_) == "cpu"
    gpu_scores, cpu_scores = gpu.decision_function(X), cpu.decision_function(X)
    assert np.isfinite(gpu_scores).all()
    gpu_auc, cpu_auc = roc_auc_score(y, gpu_scores), roc_auc_score(y, cpu_scores)
    assert gpu_auc > 0.9
    assert abs(gpu_auc - cpu_auc) < 0.05, (gpu_auc, cpu_auc)


def test_cuda_same_seed_same_scores(blobs):
    X, y = blobs
    first = DAGMM(**PARAMS, random_state=3, device="cuda").fit(X[y == 0])
    again = DAGMM(**PARAMS, random_state=3, device="cuda").fit(X[y == 0])
    np.testing.assert_array_equal(first.decision_scores_, again.decision_scores_)
    np.testing.assert_array_equal(first.decision_function(X), again.decision_function(X))
    other = DAGMM(**PARAMS, random_state=4, device="cuda").fit(X[y == 0])
    assert not np.allclose(first.decision_function(X), other.decision_function(X))


def test_cuda_model_file_scores_on_the_gpu_and_on_the_cpu(blobs, tmp_path):
    X, y = blobs
    model = DAGMM(**PARAMS, random_state=0, device="cuda").fit(X[y == 0])
    path = tmp_path / "gpu.dagmm"
    model.save(path)
    loaded = load(path)  # onto the GPU it was trained on: the same scores, digit for digit
    assert str(loaded.device_).startswith("cuda")
    assert loaded.net_.input_scale.device.type == "cuda"
    np.testing.assert_array_equal(loaded.decision_function(X), model.decision_function(X))
    on_cpu = load(path, device="cpu")  # as on a machine without one
    assert on_cpu.net_.input_scale.device.type == "cpu"
    np.testing.assert_allclose(
        on_cpu.decision_function(X), model.decision_function(X), rtol=1e-4, atol=1e-4
    )
