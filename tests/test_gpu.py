"""CUDA: the same model, reproducible, and portable to a machine without a GPU.

Skipped where CUDA is not available (CI has none); ``benchmarks/gpu_check.sh`` runs
these on a GPU machine, then the whole suite there with ``device="auto"`` (CUDA), which
covers the rest on the GPU (ensembles, resume, explanations, the command line).
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from _torchrun import needs_torchrun, torchrun_fit
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from dagmm import DAGMM, graphs, load

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


def test_cuda_model_pickles_for_a_machine_without_a_gpu(blobs, tmp_path):
    # joblib/pickle of a GPU model: back on the GPU here, and on the CPU in a process
    # that sees no GPU (until 2026-12-05 it could not be unpickled there at all)
    import pickle
    import subprocess
    import sys

    X, y = blobs
    model = DAGMM(**PARAMS, random_state=0, device="cuda").fit(X[y == 0])
    data = pickle.dumps(model)
    here = pickle.loads(data)
    assert here.net_.input_scale.device.type == "cuda"
    assert model.net_.input_scale.device.type == "cuda"  # pickling moved no tensor of it
    np.testing.assert_array_equal(here.decision_function(X), model.decision_function(X))
    (tmp_path / "model.pkl").write_bytes(data)
    np.save(tmp_path / "X.npy", X)
    script = (
        "import pickle, sys, numpy as np; "
        "m = pickle.loads(open(sys.argv[1], 'rb').read()); "
        "assert m.net_.input_scale.device.type == 'cpu'; "
        "np.save(sys.argv[3], m.decision_function(np.load(sys.argv[2])))"
    )
    out = tmp_path / "scores.npy"
    arguments = [str(tmp_path / name) for name in ("model.pkl", "X.npy", "scores.npy")]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    subprocess.run([sys.executable, "-c", script, *arguments], check=True, env=env, timeout=300)
    np.testing.assert_allclose(np.load(out), model.decision_function(X), rtol=1e-4, atol=1e-4)


def test_cuda_scores_of_a_row_agree_across_batch_sizes_to_float32_round_off(blobs):
    # cuBLAS sums a row in another order in a batch of another shape: on an H100
    # (2026-12-05) a file scored in chunks of 37 rows lay up to 4.8e-6 from one batch
    # (energies near 20). A CPU with AVX-512 scores a row the same in any batch
    # (tests/test_report.py, _devices.CPU_BATCH_EXACT).
    from _devices import assert_same_floats

    X, y = blobs
    model = DAGMM(**PARAMS, random_state=0, device="cuda").fit(X[y == 0])
    whole = model.decision_function(X)
    chunked = np.concatenate([model.decision_function(X[i : i + 37]) for i in range(0, len(X), 37)])
    assert_same_floats(chunked, whole, model.device_)


def _fit_with_and_without_graphs(X, monkeypatch, **params):
    """The same fit replayed from CUDA graphs and with eager steps; the number of replays."""
    replays = []
    replay = graphs._CUDABackend.replay

    def counted(self, graph):
        replays.append(1)
        replay(self, graph)

    monkeypatch.setattr(graphs._CUDABackend, "replay", counted)
    with warnings.catch_warnings():
        warnings.simplefilter("error", graphs.CUDAGraphWarning)  # a refused capture fails here
        warnings.filterwarnings("error", "The AccumulateGrad node's stream")  # torch's, stream
        graphed = DAGMM(**params, random_state=0, device="cuda").fit(X)
    n_graphed = len(replays)
    monkeypatch.setenv("DAGMM_CUDA_GRAPHS", "0")
    eager = DAGMM(**params, random_state=0, device="cuda").fit(X)
    assert len(replays) == n_graphed  # none without graphs
    return graphed, eager, n_graphed


def _report(what, graphed, eager):
    # shown by ``pytest -rP`` (benchmarks/gpu_check.sh): how far the two runs' scores differ
    diff = np.abs(graphed - eager).max()
    print(f"{what}: graphed vs eager scores, max |diff| {diff:.3g}, equal: {diff == 0}")


# 600 training rows in batches of 70: 9 batches of 67 or 66 rows per epoch, two shapes
GRAPHED = {**PARAMS, "batch_size": 70, "epochs": 20}


def test_cuda_graphs_are_replayed_and_train_as_eager_steps_do(blobs, monkeypatch):
    X, y = blobs
    graphed, eager, replays = _fit_with_and_without_graphs(
        X[y == 0], monkeypatch, **GRAPHED, dropout=0.0
    )
    assert replays == 20 * 9 - 2 * graphs.WARMUP  # every step after each shape's warm-up
    a, b = graphed.decision_function(X), eager.decision_function(X)
    _report("dropout 0", a, b)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(graphed.history_["loss"], eager.history_["loss"], rtol=1e-4)


def test_cuda_graphs_with_dropout_detect_as_well(blobs, monkeypatch):
    X, y = blobs
    graphed, eager, replays = _fit_with_and_without_graphs(X[y == 0], monkeypatch, **GRAPHED)
    assert replays == 20 * 9 - 2 * graphs.WARMUP
    a, b = graphed.decision_function(X), eager.decision_function(X)
    _report("dropout 0.5", a, b)
    assert np.isfinite(a).all()
    assert abs(roc_auc_score(y, a) - roc_auc_score(y, b)) < 0.05


@needs_torchrun
def test_torchrun_fit_over_nccl_on_one_gpu(blobs, tmp_path):
    """`dagmm fit --distributed --device cuda` under torchrun: NCCL, one process on one GPU."""
    X, y = blobs
    data = tmp_path / "train.csv"
    pd.DataFrame(X[y == 0], columns=[f"f{i}" for i in range(X.shape[1])]).to_csv(data, index=False)
    out = tmp_path / "model.dagmm"
    options = ["--epochs", "60", "--hidden-sizes", "8,4", "--latent-dim", "1"]
    options += ["--n-components", "2", "--device", "cuda"]
    result = torchrun_fit(tmp_path, data, out, *options, nproc=1)
    assert result.returncode == 0, result.stderr[-3000:]
    model = load(out)
    assert str(model.device_).startswith("cuda") and model.n_iter_ == 60
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    scores = model.decision_function(frame)
    assert np.isfinite(scores).all()
    assert roc_auc_score(y, scores) > 0.9
    single = DAGMM(**PARAMS, random_state=0, device="cuda").fit(frame[y == 0])
    rho = spearmanr(scores, single.decision_function(frame)).statistic
    assert rho > 0.9, rho  # the same model up to dropout masks and float rounding
