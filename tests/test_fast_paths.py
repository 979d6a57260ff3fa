"""The fast paths compute what the plain compositions compute (values and gradients)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from dagmm import DAGMM, InvalidInputError, fit_ensemble
from dagmm.estimator import _encode_numeric_fast
from dagmm.mixture import (
    CholeskyFallbackNeeded,
    DAGMMNumericalWarning,
    covariance_penalty,
    energy_and_penalty,
    sample_energy,
)
from dagmm.network import DAGMMNet, EnsembleLinear, _features_and_error, _linear_tanh
from dagmm.training import (
    FittedMixture,
    TrainingConfig,
    _batch_plan,
    _masked_mean,
    _objective,
    _padded_batches,
    batch_mixture,
    score_energy,
)


def _reference_terms(z, gamma, mask):
    weights, means, covariances, scale_tril = batch_mixture(z, gamma, 1e-6, mask)
    energy = _masked_mean(sample_energy(z, weights, means, scale_tril), mask)
    return energy, covariance_penalty(covariances)


@pytest.mark.parametrize("use_mask", [False, True])
def test_energy_and_penalty_matches_the_composition_with_gradients(use_mask):
    torch.manual_seed(0)
    z = torch.randn(3, 60, 3, dtype=torch.float64, requires_grad=True)
    logits = torch.randn(3, 60, 4, dtype=torch.float64, requires_grad=True)
    mask = torch.rand(3, 60) > 0.25 if use_mask else None
    upstream = torch.randn(2, 3, dtype=torch.float64)

    def value_and_grads(fn):
        terms = fn(z, torch.softmax(logits, -1), mask)
        total = (terms[0] * upstream[0]).sum() + (terms[1] * upstream[1]).sum()
        return (*terms, *torch.autograd.grad(total, (z, logits)))

    fast = value_and_grads(lambda a, b, m: energy_and_penalty(a, b, 1e-6, m))
    reference = value_and_grads(_reference_terms)
    for got, want in zip(fast, reference, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)


def test_energy_and_penalty_gradcheck():
    torch.manual_seed(1)
    z = torch.randn(2, 14, 3, dtype=torch.float64, requires_grad=True)
    gamma = torch.softmax(torch.randn(2, 14, 2, dtype=torch.float64), -1).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: energy_and_penalty(a, b, 1e-6), (z, gamma))


def test_failed_factorisation_falls_back_to_the_escalating_composition(monkeypatch):
    torch.manual_seed(6)
    z = torch.randn(1, 32, 3, dtype=torch.float64)
    gamma = torch.softmax(torch.randn(1, 32, 2, dtype=torch.float64), -1)
    config = TrainingConfig(epochs=1, batch_size=32, learning_rate=1e-3)
    fused = _objective(z[..., 0].square(), z, gamma, 3, config)
    real = torch.linalg.cholesky_ex

    def failing(matrix, **kwargs):
        tril, info = real(matrix, **kwargs)
        return tril, torch.ones_like(info)

    monkeypatch.setattr(torch.linalg, "cholesky_ex", failing)
    with pytest.raises(CholeskyFallbackNeeded):
        energy_and_penalty(z, gamma, 1e-6)
    # The composition then escalates the jitter and, every try failing here, falls
    # back to the diagonals: it warns and stays finite.
    with pytest.warns(DAGMMNumericalWarning):
        fallback = _objective(z[..., 0].square(), z, gamma, 3, config)
    assert torch.isfinite(fallback.total).all() and torch.isfinite(fused.total).all()
    torch.testing.assert_close(fallback.reconstruction, fused.reconstruction)


def test_fused_tanh_layer_matches_autograd():
    torch.manual_seed(2)
    layer = EnsembleLinear(2, 5, 4).double()
    layer.reset_member(0, torch.Generator().manual_seed(0))
    layer.reset_member(1, torch.Generator().manual_seed(1))
    x = torch.randn(2, 9, 5, dtype=torch.float64, requires_grad=True)
    fast = _linear_tanh(layer, x)
    plain = torch.tanh(torch.baddbmm(layer.bias, x, layer.weight))
    torch.testing.assert_close(fast, plain)
    grad = torch.randn_like(fast)
    got = torch.autograd.grad(fast, (x, layer.weight, layer.bias), grad)
    want = torch.autograd.grad(plain, (x, layer.weight, layer.bias), grad)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b)
    with torch.inference_mode():
        torch.testing.assert_close(_linear_tanh(layer, x.detach()), plain.detach())


def test_row_products_gradcheck():
    torch.manual_seed(3)
    x = torch.randn(1, 6, 5, dtype=torch.float64, requires_grad=True)
    x_hat = torch.randn(1, 6, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: _features_and_error(a, b), (x, x_hat))
    features, squared = _features_and_error(x, x_hat)
    torch.testing.assert_close(squared, (x - x_hat).square().sum(-1))
    cosine = torch.nn.functional.cosine_similarity(x, x_hat, dim=-1)
    torch.testing.assert_close(features[..., 1], cosine)


@pytest.mark.parametrize("sizes", [[10, 10, 10], [10, 7, 9]])
def test_batch_plan_has_the_padded_batches(sizes):
    rows = [torch.arange(s) * 3 + i for i, s in enumerate(sizes)]
    plan = _batch_plan(rows, 3, torch.Generator().manual_seed(5), torch.device("cpu"))
    index, valid, widths = _padded_batches(rows, 3, torch.Generator().manual_seed(5))
    for b, (batch_rows, mask) in enumerate(plan):
        width = int(widths[b])
        torch.testing.assert_close(batch_rows, index[b, :, :width])
        expected = valid[b, :, :width]
        if mask is None:
            assert bool(expected.all())
        else:
            torch.testing.assert_close(mask, expected)


def test_scores_do_not_depend_on_the_chunk_size(monkeypatch):
    from dagmm import training

    # the general (torch) path; the CPU path has its own fixed chunks
    monkeypatch.setattr(training, "cpu_scoring_supported", lambda net: False)
    torch.manual_seed(4)
    net = DAGMMNet(6, (8, 4), 1, (10,), 2, n_members=2)
    net.reset_parameters([0, 1])
    eye = torch.eye(3, dtype=torch.float64)
    mixture = FittedMixture(
        torch.full((2, 2), 0.5, dtype=torch.float64),
        torch.zeros(2, 2, 3, dtype=torch.float64),
        eye.expand(2, 2, 3, 3),
        eye.expand(2, 2, 3, 3),
    )
    x = torch.randn(50, 6)
    torch.testing.assert_close(score_energy(net, mixture, x, 7), score_energy(net, mixture, x, 64))


@pytest.mark.parametrize("engine", ["cpu", "torch"])
def test_scoring_in_device_blocks_gives_the_same_energies(monkeypatch, blobs, engine):
    # rows go to the scoring device a block at a time (a GPU's memory bounds the block);
    # blocks are whole scoring chunks, so every row's energy is the same as in one pass
    from dagmm import DAGMM, estimator, inference, training

    if engine == "torch":
        monkeypatch.setattr(training, "cpu_scoring_supported", lambda net: False)
    X, _ = blobs
    X = np.tile(X, (30, 1))  # 18,900 rows: two full blocks of 8,192 and a part
    model = DAGMM(n_components=2, hidden_sizes=(8, 4), epochs=2, random_state=0).fit(X[:600])
    whole = model.decision_function(X)
    monkeypatch.setattr(estimator, "SCORE_BLOCK_ROWS", 8192)
    np.testing.assert_array_equal(model.decision_function(X), whole)
    assert estimator.SCORE_BLOCK_ROWS % training.SCORE_CHUNK_ROWS == 0
    assert estimator.SCORE_BLOCK_ROWS % inference.CHUNK_ROWS == 0


def test_fast_encoding_equals_the_general_path(blobs):
    X, _ = blobs
    model = DAGMM(epochs=1, batch_size=256, random_state=0).fit(X)
    for data in (X, X.astype(np.float64), (X * 1000).astype(np.int64)):
        fast = _encode_numeric_fast(model.encoder_, data)
        assert fast is not None and fast.dtype == np.float32 and fast.flags.c_contiguous
        np.testing.assert_array_equal(fast, model.encoder_.transform(data))
    bad = X.copy()
    bad[3, 2] = np.nan
    assert _encode_numeric_fast(model.encoder_, bad) is None
    with pytest.raises(InvalidInputError, match="NaN"):
        model.decision_function(bad)


def test_fast_encoding_of_frames():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=300), "b": rng.integers(0, 9, 300)})
    model = DAGMM(epochs=1, batch_size=128, random_state=0).fit(frame)
    fast = _encode_numeric_fast(model.encoder_, frame)
    np.testing.assert_array_equal(fast, model.encoder_.transform(frame))
    assert _encode_numeric_fast(model.encoder_, frame[["b", "a"]]) is None
    with_text = frame.assign(c="x")
    assert _encode_numeric_fast(model.encoder_, with_text) is None


def _scoring_case(n_members=2, n_rows=300, seed=5, hidden=(8, 4)):
    """A small random network with a mixture fitted on its own representations."""
    from dagmm.training import fitted_mixture, stream_statistics

    torch.manual_seed(seed)
    net = DAGMMNet(6, hidden, 2, (10,), 3, n_members=n_members)
    net.reset_parameters(list(range(seed, seed + n_members)))
    with torch.no_grad():
        net.input_scale.uniform_(0.5, 2.0)
        net.input_offset.uniform_(-0.5, 0.5)
    x = torch.randn(n_rows, 6)
    rows = [torch.arange(n_rows)] * n_members
    return net, fitted_mixture(stream_statistics(net, x, rows), 1e-6), x


@pytest.mark.parametrize("hidden", [(8, 4), (), (5,)])
@pytest.mark.parametrize("tanh_kernel", ["numpy", "compiled", "sigmoid"])
def test_cpu_scoring_equals_the_torch_composition(monkeypatch, hidden, tanh_kernel):
    from dagmm import _kernels, inference, network, training

    # every way of evaluating tanh, whichever this CPU would take
    if tanh_kernel == "compiled" and not _kernels.available():
        pytest.skip("numba is not installed")
    monkeypatch.setattr(network, "_NUMPY_SIMD_TANH", tanh_kernel == "numpy")
    monkeypatch.setattr(_kernels, "ENABLED", tanh_kernel == "compiled" and _kernels.ENABLED)
    compiled_calls = []
    real_tanh = _kernels.tanh_
    monkeypatch.setattr(
        _kernels, "tanh_", lambda a, *threads: compiled_calls.append(1) or real_tanh(a, *threads)
    )
    net, mixture, x = _scoring_case(hidden=hidden)
    fast = score_energy(net, mixture, x)
    assert bool(compiled_calls) == (tanh_kernel == "compiled" and bool(hidden))
    with monkeypatch.context() as patch:
        patch.setattr(training, "cpu_scoring_supported", lambda net: False)
        plain = score_energy(net, mixture, x)
    spread = float(plain.max() - plain.min())
    assert spread > 1.0
    # tanh from another kernel, or as 2 (sigmoid(2a) - 1/2): the same to float32 rounding
    torch.testing.assert_close(fast, plain, rtol=0, atol=1e-4 * spread)
    # a wrong fold of the weights (here: a plain tanh chain read as the sigmoid form) is caught
    monkeypatch.setattr(inference, "_centred_sigmoid_", lambda a: torch.from_numpy(a).tanh_())
    wrong = score_energy(net, mixture, x)
    if hidden and tanh_kernel == "sigmoid":  # without hidden layers there is nothing to fold
        assert float((wrong - plain).abs().max()) > 1e-2 * spread


def test_inference_layers_are_the_tanh_network():
    from dagmm.inference import inference_layers

    net, _, x = _scoring_case(n_members=2)
    with torch.no_grad():
        scaled, x_hat, z, _ = net.represent(x.expand(2, -1, -1))
    for member in range(2):
        layers, latent = inference_layers(net, member, fold_sigmoid=True)
        h = scaled[member].double().numpy()
        for index, layer in enumerate(layers):
            h = h @ layer.weight.astype(np.float64) + layer.bias
            if layer.activation == "centred_sigmoid":
                h = 1.0 / (1.0 + np.exp(-h)) - 0.5
            if index == latent:
                np.testing.assert_allclose(h, z[member, :, :2].numpy(), atol=2e-5)
        np.testing.assert_allclose(h, x_hat[member].numpy(), atol=2e-5)


def test_cpu_scoring_is_the_same_for_any_number_of_threads():
    from dagmm.inference import CHUNK_ROWS, cpu_energy

    net, mixture, _ = _scoring_case(n_members=1)
    x = torch.randn(2 * CHUNK_ROWS + 17, 6).numpy()
    one = cpu_energy(net, *mixture[:3], x, threads=1)
    three = cpu_energy(net, *mixture[:3], x, threads=3)
    np.testing.assert_array_equal(one, three)
    assert np.isfinite(one).all() and one.shape == (1, len(x))


def test_blas_thread_limit_is_counted_across_interleaved_scoring_calls():
    # Two scoring calls from two threads of a service may end in either order: BLAS must
    # stay at one thread while either runs and get the callers' setting back after both.
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from dagmm.inference import _single_threaded_blas

    def blas_threads() -> list[int]:
        info = threadpoolctl.threadpool_info()
        return [i["num_threads"] for i in info if i["user_api"] == "blas"]

    if not blas_threads():
        pytest.skip("numpy has no BLAS that threadpoolctl can see")
    with threadpoolctl.ThreadpoolController().limit(limits=2, user_api="blas"):
        before = blas_threads()
        assert max(before) == 2
        first, second = _single_threaded_blas(), _single_threaded_blas()
        first.__enter__()
        second.__enter__()
        assert set(blas_threads()) == {1}
        first.__exit__(None, None, None)
        assert set(blas_threads()) == {1}  # the second call is still scoring
        second.__exit__(None, None, None)
        assert blas_threads() == before


def _member_rows(n_rows, sizes, seed=0):
    rng = np.random.default_rng(seed)
    return [torch.from_numpy(np.sort(rng.choice(n_rows, size, replace=False))) for size in sizes]


def test_exact_mixture_energies_are_those_of_scoring_each_member_alone():
    from dagmm.inference import CHUNK_ROWS
    from dagmm.training import exact_mixture, fitted_mixture, stream_statistics

    net, _, _ = _scoring_case(n_members=3)
    n_rows = 3 * CHUNK_ROWS + 123
    x = torch.randn(n_rows, 6)
    # unequal members, none a multiple of a chunk; statistics chunks of 5,000 rows (padding, masks)
    rows = _member_rows(n_rows, [n_rows, CHUNK_ROWS + 1, 2 * CHUNK_ROWS + 99])
    rows[0] = torch.arange(n_rows)  # the whole data set, as DAGMM.fit passes it
    mixture, energies = exact_mixture(net, x, rows, 1e-6, chunk_size=5000)
    # the statistics are those of the two-pass stream, up to the float32 round-off of z
    # (a chunk's products round differently when the chunk holds other rows)
    reference = fitted_mixture(stream_statistics(net, x, rows), 1e-6)
    for got, want in zip(mixture, reference, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-8)
    assert [len(e) for e in energies] == [len(r) for r in rows]
    for member, member_rows in enumerate(rows):
        single = FittedMixture(*(t[member : member + 1] for t in mixture))
        alone = score_energy(net.member(member), single, x[member_rows])[0].numpy()
        np.testing.assert_array_equal(energies[member], alone)


def test_exact_mixture_without_the_cpu_engine_leaves_the_energies_to_the_caller(monkeypatch):
    from dagmm import training

    net, _, x = _scoring_case(n_members=2)
    monkeypatch.setattr(training, "cpu_scoring_supported", lambda net: False)
    mixture, energies = training.exact_mixture(net, x, [torch.arange(len(x))] * 2, 1e-6)
    assert energies is None
    assert torch.isfinite(mixture.weights).all()


@pytest.mark.parametrize("engine", [True, False])
def test_training_scores_are_the_scores_of_the_training_rows(monkeypatch, engine):
    from dagmm import training
    from dagmm.inference import CHUNK_ROWS

    if not engine:
        monkeypatch.setattr(training, "cpu_scoring_supported", lambda net: False)
    X = np.random.default_rng(3).normal(size=(CHUNK_ROWS + 77, 5))
    model = DAGMM(hidden_sizes=(6,), epochs=1, batch_size=512, random_state=0).fit(X)
    np.testing.assert_array_equal(model.decision_scores_, model.decision_function(X))
    # with held-out rows the training scores still cover every row given to fit
    held = DAGMM(hidden_sizes=(6,), epochs=1, validation_fraction=0.25, random_state=0).fit(X)
    np.testing.assert_array_equal(held.decision_scores_, held.decision_function(X))
    rows = [r.numpy() for r in _member_rows(len(X), [len(X) - 10, 700], seed=1)]
    models = fit_ensemble(DAGMM(hidden_sizes=(6,), epochs=1), X, [0, 1], rows=rows)
    for member, member_rows in zip(models, rows, strict=True):
        np.testing.assert_array_equal(
            member.decision_scores_, member.decision_function(X[member_rows])
        )


def test_training_scores_do_not_depend_on_blas_threads(monkeypatch):
    # OpenBLAS 0.3.21 (numpy 1.24) inverts the mixture's 6 x 6 factors a few ulp
    # differently on one thread and on two; fit inverted them outside the one-thread
    # limit scoring sets, and its training scores left decision_function's in the 14th
    # digit. Here an inverse that rounds differently on several BLAS threads stands in.
    from threadpoolctl import threadpool_info, threadpool_limits

    inverse = np.linalg.inv

    def inverse_by_threads(a):
        blas = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
        return inverse(a) * (1.0 + 1e-14) if max(blas) > 1 else inverse(a)

    monkeypatch.setattr(np.linalg, "inv", inverse_by_threads)
    X = np.random.default_rng(5).normal(size=(300, 5))
    with threadpool_limits(2, user_api="blas"):
        model = DAGMM(hidden_sizes=(6,), epochs=1, random_state=0).fit(X)
        np.testing.assert_array_equal(model.decision_scores_, model.decision_function(X))


def test_members_on_the_same_rows_share_one_scaling():
    from dagmm.training import fit_scaling

    x = torch.from_numpy(np.random.default_rng(4).lognormal(size=(500, 4))).float()
    rows = _member_rows(500, [300, 300, 200], seed=2)
    same = rows[0].clone()  # equal rows, another tensor
    for method in ("auto", "standard", "minmax", None):
        offset, scale = fit_scaling(x, [rows[0], rows[1], same, rows[2]], method)
        for member, member_rows in enumerate([rows[0], rows[1], same, rows[2]]):
            alone = fit_scaling(x, [member_rows], method)
            torch.testing.assert_close(offset[member], alone[0][0], rtol=0, atol=0)
            torch.testing.assert_close(scale[member], alone[1][0], rtol=0, atol=0)
        if method is not None:  # different rows, different scaling
            assert not torch.equal(scale[0], scale[1])


def test_column_summary_is_float64_exact_enough():
    from dagmm.training import _column_summary

    rng = np.random.default_rng(5)
    # a column far from zero with a small spread: centring in float32 would lose it
    values = np.column_stack(
        [rng.normal(1e6, 0.5, 20_000), rng.lognormal(0, 3, 20_000), np.full(20_000, 7.0)]
    ).astype(np.float32)
    low, high, mean, std = _column_summary(torch.from_numpy(values), True)
    wide = values.astype(np.float64)
    np.testing.assert_array_equal(low.numpy(), wide.min(0))
    np.testing.assert_array_equal(high.numpy(), wide.max(0))
    np.testing.assert_allclose(mean.numpy(), wide.mean(0), rtol=1e-13)
    np.testing.assert_allclose(std.numpy(), wide.std(0), rtol=1e-10, atol=1e-12)
    assert std[2] == 0.0
    assert _column_summary(torch.from_numpy(values), False)[2:] == (None, None)


def test_parallel_chunks_are_all_finished_when_one_fails():
    # A failing chunk must not return control (and the error) to the caller while
    # other chunks still write into the caller's arrays; chunks not yet started
    # are not run at all.
    import threading
    import time

    from dagmm.inference import _run_tasks

    slow_started, finished, started_late = threading.Event(), threading.Event(), []

    def fail() -> None:
        # Fails only once the slow chunk runs: failing at once let the caller cancel
        # the slow chunk before a busy machine's second thread had taken it (CI, 3.13).
        assert slow_started.wait(timeout=30)
        raise ValueError("chunk 0 failed")

    def slow() -> None:
        slow_started.set()
        time.sleep(0.3)
        finished.set()

    def late() -> None:
        started_late.append(True)
        time.sleep(0.02)

    with pytest.raises(ValueError, match="chunk 0 failed"):
        _run_tasks([fail, slow, *[late] * 50], threads=2)
    assert finished.is_set()
    assert len(started_late) < 10  # all 50 run one after another without the cancel
