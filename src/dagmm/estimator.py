"""The :class:`DAGMM` estimator: PyOD/scikit-learn API around the network and mixture."""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
import sys
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, overload

import numpy as np
import pandas as pd
import torch
from scipy.special import erf
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._docstrings import fill_doc
from .exceptions import InvalidInputError, NumericalError, TrainingDivergedError
from .levels import Levels, member_levels, merge_levels
from .network import ACTIVATIONS, DAGMMNet
from .presets import preset_params
from .rejection import REJECTED, RejectionStats, check_rejection_args, rejected, rejection_stats
from .tabular import TabularEncoder, as_table, describe_rows, symlog
from .training import (
    SMALLEST_SPREAD,
    FittedMixture,
    TrainingConfig,
    exact_mixture,
    fit_generator,
    fit_input_scaling,
    score_energy,
    seeded_device_rng,
    train_members,
)

__all__ = [
    "DAGMM",
    "RESTART_COMBINE",
    "ComponentCollapseWarning",
    "UnresolvedColumnWarning",
    "auto_architecture",
    "auto_epochs",
    "best_restart",
    "collapsed_components",
    "combine_restart_energies",
    "fit_ensemble",
    "resolve_device",
    "restart_loss",
    "restart_scales",
]

#: Rows sent to the scoring device at a time: a GPU's memory bounds the block, not the
#: input. A multiple of every scoring chunk (4096 on the CPU, 8192 elsewhere), so a
#: row's energy is the same whatever the input's length around it.
SCORE_BLOCK_ROWS = 1 << 20

#: A component with a smaller mixture weight is reported as collapsed.
COLLAPSE_WEIGHT = 1e-3
#: A component whose variance along some z dimension is below this fraction of
#: the whole mixture's variance along it is reported as collapsed.
COLLAPSE_RELATIVE_VARIANCE = 1e-4


class ComponentCollapseWarning(UserWarning):
    """A mixture component holds almost no weight or almost no variance."""


class UnresolvedColumnWarning(UserWarning):
    """A numeric training column's values are ones float32 cannot tell apart: they
    vary only below its smallest normal number (they become zeros and subnormals). To
    the float32 network the column is one constant. (Until 2026-12-07 also given for
    values far from 0 that vary little, such as Unix times; those are now shifted in
    float64 before the cast, :attr:`dagmm.tabular.TabularEncoder.shifts`.)"""


class FewRowsWarning(UserWarning):
    """Too few training rows for the mixture's full covariances.

    A full covariance in ``d`` dimensions is singular when fitted on ``d`` rows or
    fewer, so ``n_components`` components need at least ``n_components * (d + 1)``
    rows; with fewer, the covariances are mostly ``reg_covar`` and the energies rank
    rows by little more than their distance from the means.
    """


def collapsed_components(
    weights: np.ndarray, means: np.ndarray, covariances: np.ndarray
) -> list[dict[str, Any]]:
    """Components with weight < :data:`COLLAPSE_WEIGHT`, or a variance below
    :data:`COLLAPSE_RELATIVE_VARIANCE` times the mixture's total variance along that dimension.

    Variances are compared with the mixture's total (not absolute values) because
    the cosine-similarity feature of ``z`` legitimately varies very little.

    Returns
    -------
    list of dict
        ``component``, ``weight``, ``relative_variance`` (smallest ratio) and ``reason``.
    """
    weights = np.asarray(weights, float)
    means = np.asarray(means, float)
    variances = np.diagonal(np.asarray(covariances, float), axis1=-2, axis2=-1)
    centre = weights @ means
    total = weights @ (variances + (means - centre) ** 2)
    ratio = np.where(total > 0, variances / np.where(total > 0, total, 1.0), 1.0).min(-1)
    out = []
    for k in range(len(weights)):
        reasons = []
        if weights[k] < COLLAPSE_WEIGHT:
            reasons.append(f"weight {weights[k]:.2g} < {COLLAPSE_WEIGHT:g}")
        if ratio[k] < COLLAPSE_RELATIVE_VARIANCE:
            reasons.append(
                f"variance {ratio[k]:.2g} x the total along a dimension "
                f"(< {COLLAPSE_RELATIVE_VARIANCE:g})"
            )
        if reasons:
            out.append(
                {
                    "component": k,
                    "weight": float(weights[k]),
                    "relative_variance": float(ratio[k]),
                    "reason": "; ".join(reasons),
                }
            )
    return out


#: Optimizer steps the automatic ``epochs`` aims for (see :func:`auto_epochs`).
AUTO_TARGET_STEPS = 2000
AUTO_MIN_EPOCHS = 10
AUTO_MAX_EPOCHS = 2000


#: How :class:`DAGMM` combines its restarts (``restart_combine``).
RESTART_COMBINE = ("mean", "median", "best")


def restart_loss(history: dict[str, list[float]]) -> float:
    """The unsupervised criterion a restart is judged by (lower is better).

    Parameters
    ----------
    history : dict of str to list of float
        The restart's ``history_``.

    Returns
    -------
    float
        Its lowest held-out objective (``val_loss``) when it had a validation
        split, else its final training objective; NaN when it did not train.
    """
    if history.get("val_loss"):
        return float(np.nanmin(history["val_loss"]))
    return float(history["loss"][-1]) if history.get("loss") else math.nan


def epochs_summary(model: Any) -> dict[str, Any]:
    """What a fitted ``model`` trained, as ``dagmm info`` and the HTML report say it.

    ``epochs`` (scheduled: ``epochs_``), ``epochs_run`` (the history's length: early
    stopping ends a fit before ``epochs``), ``best_epoch`` (the epoch whose weights the
    model holds, 1-based; 0 untrained; with restarts combined, the latest of theirs) and
    that epoch's ``best_epoch_loss`` and ``best_epoch_val_loss`` (None where not
    recorded, or with restarts combined: each kept its own epoch, and the history is
    their mean). :func:`describe_epochs` puts it in words.
    """
    history = model.history_
    run = len(history.get("loss", ()))
    best = int(model.best_epoch_)
    losses: dict[str, float | None] = {"best_epoch_loss": None, "best_epoch_val_loss": None}
    if 0 < best <= run and model.n_members_ == 1:
        for key, term in (("best_epoch_loss", "loss"), ("best_epoch_val_loss", "val_loss")):
            values = history.get(term, ())
            losses[key] = float(values[best - 1]) if len(values) >= best else None
    return {"epochs": int(model.epochs_), "epochs_run": run, "best_epoch": best, **losses}


def describe_epochs(summary: dict[str, Any]) -> tuple[str, str | None]:
    """The words for an :func:`epochs_summary`: the epochs trained (``"200 epochs"``,
    ``"26 of 200 epochs (stopped early)"``) and, where the model holds an earlier
    epoch's weights than its last, which (``"epoch 16's (lowest validation loss): loss
    1.25, validation loss 1.31"``), else None."""
    run, scheduled = summary["epochs_run"], summary["epochs"]
    epochs = f"{run} epochs" if run == scheduled else f"{run} of {scheduled} epochs (stopped early)"
    best = summary["best_epoch"]
    if not 0 < best < run:
        return epochs, None
    if summary["best_epoch_loss"] is None:  # restarts combined: each keeps its own
        return epochs, f"each restart's epoch of lowest validation loss (the latest: epoch {best})"
    val = summary["best_epoch_val_loss"]
    kept = f"epoch {best}'s (lowest validation loss): loss {summary['best_epoch_loss']:.5g}" + (
        f", validation loss {val:.5g}" if val is not None else ""
    )
    return epochs, kept


def best_restart(losses: Sequence[float]) -> int:
    """Which restart ``restart_combine="best"`` keeps.

    Parameters
    ----------
    losses : sequence of float
        Each restart's :func:`restart_loss`.

    Returns
    -------
    int
        Index of the lowest finite loss; 0 when none is finite.
    """
    values = np.asarray(losses, dtype=np.float64)
    return int(np.nanargmin(values)) if np.isfinite(values).any() else 0


#: A spread of training energies no larger than this fraction of their mean's magnitude
#: is the round-off of equal energies, not a spread: ``np.std`` of 50 equal energies of
#: about -30 is 3.6e-15, and dividing by it turned equal energies into scores of +-1 and
#: the energy of any other row into 1e20. Distinct rows' energies (from float32
#: representations) differ by far more.
ENERGY_SPREAD_RTOL = 1e-12


def restart_scales(offsets: Any, spreads: Any) -> np.ndarray:
    """The divisors that standardise each restart's energies (``restart_scales_``).

    Parameters
    ----------
    offsets, spreads : array-like of shape (n_restarts,)
        Mean and standard deviation of each restart's training energies.

    Returns
    -------
    ndarray of shape (n_restarts,), float64
        ``spreads``, except 1 where a restart's training energies are all equal: a
        spread of 0, or of at most :data:`ENERGY_SPREAD_RTOL` times ``|offset|``
        (the round-off of computing the standard deviation of equal values).
    """
    offsets = np.asarray(offsets, dtype=np.float64)
    spreads = np.asarray(spreads, dtype=np.float64)
    # (a spread above a non-negative bound is above 0; NaN compares False)
    return np.where(spreads > ENERGY_SPREAD_RTOL * np.abs(offsets), spreads, 1.0)


def combine_restart_energies(
    energies: np.ndarray, offsets: np.ndarray, scales: np.ndarray, how: str = "mean"
) -> np.ndarray:
    """Scores of rows from the energies several restarts give them.

    Each restart's energies are standardised by its own training energies
    (``(E_r - offsets[r]) / scales[r]``), which puts restarts whose energies live
    on different scales on one; then the mean, or the median, over restarts.

    Parameters
    ----------
    energies : ndarray of shape (n_restarts, n_rows)
    offsets, scales : ndarray of shape (n_restarts,)
        Mean and standard deviation (> 0) of each restart's training energies.
    how : {"mean", "median"}, default "mean"

    Returns
    -------
    ndarray of shape (n_rows,), float64
    """
    standardised = (np.asarray(energies, dtype=np.float64) - np.asarray(offsets)[:, None]) / (
        np.asarray(scales)[:, None]
    )
    if how == "mean":
        return standardised.mean(axis=0)
    if how == "median":
        return np.median(standardised, axis=0)
    raise ValueError(f"how must be 'mean' or 'median', got {how!r}")


def auto_architecture(n_features: int) -> tuple[tuple[int, ...], int]:
    """Encoder hidden sizes and latent size for ``n_features`` inputs.

    First hidden layer ``clip(n_features, 8, 64)``, second half of that (at
    least 4); a latent code of ``clip(n_features // 4, 4, 8)`` dimensions (never
    more than ``n_features``). The latent size was chosen on the ODDS
    benchmark (docs/results.md): codes of 1 or 2 dimensions, the paper's sizes
    for its data sets, ranked anomalies worse on data nobody tuned for.
    """
    first = int(min(64, max(8, n_features)))
    second = max(4, first // 2)
    latent = int(min(n_features, min(8, max(4, n_features // 4))))
    return (first, second), latent


def auto_epochs(n_rows: int, batch_size: int) -> int:
    """Epochs giving about :data:`AUTO_TARGET_STEPS` optimizer steps, within [10, 2000]."""
    steps_per_epoch = max(1, math.ceil(n_rows / batch_size))
    epochs = math.ceil(AUTO_TARGET_STEPS / steps_per_epoch)
    return int(min(AUTO_MAX_EPOCHS, max(AUTO_MIN_EPOCHS, epochs)))


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` picks CUDA, then Apple MPS, then the CPU."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise InvalidInputError(f"unknown device {device!r}: {exc}") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError(f"device {device!r} requested but CUDA is not available")
    return resolved


class DAGMM(TransformerMixin, BaseEstimator):
    """Deep Autoencoding Gaussian Mixture Model for unsupervised anomaly detection.

    The anomaly score is the sample energy ``E(z) = -log sum_k phi_k N(z; mu_k,
    Sigma_k)`` of the learned representation ``z`` under a Gaussian mixture fitted
    exactly on the whole training set after training: higher is more anomalous.

    Parameters
    ----------
    n_components : int, default 2
        K, the number of mixture components.
    hidden_sizes : sequence of int or None, default None
        Encoder hidden layers (the decoder mirrors them). None sizes them from
        the number of features (:func:`auto_architecture`).
    latent_dim : int or None, default None
        Size of the code ``z_c``; None: ``clip(n_features // 4, 4, 8)``
        (see :func:`auto_architecture`).
    estimation_hidden_sizes : sequence of int, default (10,)
        Hidden layers of the estimation network.
    activation : str, default "tanh"
        Hidden activation (tanh, relu, sigmoid, elu, gelu, leaky_relu).
    dropout : float, default 0.5
        Drop probability in the estimation network (training only).
    lambda_energy : float, default 0.1
        Weight of the mean sample energy in the objective (lambda1).
    lambda_cov : float, default 1e-4
        Weight of the covariance penalty ``sum 1/Sigma_k[j,j]`` (lambda2). The
        paper's 0.005 is kept by the presets; 1e-4 scored better on the ODDS
        data sets the defaults were chosen on (docs/results.md).
    reconstruction_loss : {"sum", "mean"}, default "sum"
        Per-sample sum of squared errors over features (the paper), or their mean
        (which weakens the reconstruction term by a factor of n_features).
    reg_covar : float, default 1e-6
        Added to covariance diagonals (never less than the dtype resolves).
    scaler : {"auto", "standard", "minmax", None}, default "auto"
        Feature scaling fitted on the training rows and applied inside the network.
        "auto" standardises each column, except columns where one value fills
        more than half the rows (sparse or near-constant), which it min-max
        scales (:func:`dagmm.training.fit_scaling`). The paper's presets use
        "minmax"; the choice of "auto" is measured in docs/results.md.
    log_inputs : bool, default False
        Pass every numeric column through ``sign(x) * log(1 + |x|)`` before
        scaling (:func:`dagmm.tabular.symlog`): compresses heavy tails such as
        byte counts and durations, so that a few huge values do not squeeze all
        other rows into a sliver of the scaled range. Saved with the model and
        applied at scoring; 0/1 columns are unaffected after scaling.
    epochs : int or None, default None
        Passes over the training data; None sizes them from the number of rows
        (:func:`auto_epochs`). ``0`` is allowed on purpose: an untrained network
        with a fitted mixture, the control every result should be compared with.
    batch_size : int, default 1024
        Rows per optimizer step; a data set smaller than one batch trains on
        the full batch. Each epoch is split into near-equal batches.
    learning_rate : float, default 1e-3
        Adam learning rate (the paper's presets use 1e-4 with long schedules).
    weight_decay : float, default 0.0
        Adam L2 penalty.
    validation_fraction : float or None, default None
        Hold out this fraction of the rows; training stops after ``patience``
        epochs without improvement of the held-out objective and keeps the best
        weights.
    patience : int, default 10
        Early-stopping patience in epochs (used with ``validation_fraction``).
    contamination : float, default 0.1
        Expected fraction of anomalies; sets ``threshold_`` from the training
        scores when the model is fitted. As every parameter, it takes effect at
        the next :meth:`fit`: ``set_params(contamination=...)`` on a fitted
        model changes none of ``threshold_``, ``labels_``, :meth:`predict` or
        :meth:`predict_confidence` (as in scikit-learn and PyOD), which warn
        that they still use ``contamination_``; :meth:`threshold_at` gives the
        threshold of another share without training again.
    missing : {"raise", "impute"}, default "raise"
        NaN/inf handling (see :class:`dagmm.tabular.TabularEncoder`).
    max_categories : int or None, default 1000
        A categorical column with more distinct training values than this is an
        error naming it (each value becomes an input column of its own; an
        identifier or free text would silently make thousands). None: no limit.
    random_state : int, RandomState or None, default None
        Seed for initialisation, shuffling and dropout. None draws the seeds from numpy's
        global RNG, as scikit-learn does (``np.random.seed`` then makes a fit repeatable),
        and so advances it; an int or RandomState leaves numpy's global RNG untouched.
        torch's and Python's global RNGs are never touched.
    device : str, default "auto"
        "auto" picks CUDA, then MPS, then CPU. A model trained on a GPU scores on a CPU.
        On CUDA each training step is replayed from a CUDA graph (:mod:`dagmm.graphs`;
        the same scores as eager steps, several times faster for small networks);
        ``DAGMM_CUDA_GRAPHS=0`` in the environment turns that off.
    verbose : int, default 0
        0 silent, 1 a progress bar on stderr (where stderr is not a terminal, a
        plain line when it starts, every 10 s and when it ends), 2 one line per
        epoch with every loss term.
    checkpoint_path : str or None, default None
        Write a training checkpoint here (safetensors + JSON, no pickle) every
        ``checkpoint_every`` epochs and after the last; ``fit(X, resume=True)``
        continues from it with the same result as an uninterrupted run.
    checkpoint_every : int, default 1
        Epochs between checkpoints.
    n_restarts : int, default 1
        Train this many models from different seeds (drawn from
        ``random_state``) on the same rows, together in one vectorised run,
        and combine them as ``restart_combine`` says. Restarts steady DAGMM's
        seed-to-seed spread; averaging 3 to 10 of them gave the best results on
        the paper's data sets (docs/results.md).
    restart_combine : {"mean", "median", "best"}, default "mean"
        How restarts are combined. ``"mean"`` (``"median"``): the score is the
        mean (median) over restarts of each restart's energy standardised by
        the mean and standard deviation of its own training energies
        (``restart_offsets_``, ``restart_scales_``), so the model keeps every
        restart and scores in standard-deviation units instead of raw energy;
        the median outvotes one failed restart among three or more.
        ``"best"``: keep only the restart with the lowest final training
        objective (the lowest held-out objective with ``validation_fraction``);
        the model is then a single network that scores raw energy. No choice
        looks at labels.

    Attributes
    ----------
    decision_scores_ : ndarray of shape (n_samples,)
        Energies of the training rows (with restarts combined by mean or
        median, their combined standardised energies; so for every "energy"
        below).
    threshold_ : float
        Energy above which a row is labelled an anomaly: the ``1 -
        contamination_`` quantile of the training energies.
    contamination_ : float
        The ``contamination`` the model was fitted with, the share of training
        rows ``threshold_`` flags; :meth:`predict_confidence` uses it too.
    labels_ : ndarray of shape (n_samples,)
        0/1 labels of the training rows.
    weights_, means_, covariances_ : ndarray
        Test-time mixture: shapes (K,), (K, D), (K, D, D), with D = latent_dim + 2;
        with restarts combined by mean or median, a leading axis of length
        ``n_restarts`` (one mixture per restart).
    restart_seeds_ : list of int
        The seed of each restart (one entry without restarts).
    restart_losses_ : list of float
        Each restart's final training objective (held-out objective with
        ``validation_fraction``), the criterion of ``restart_combine="best"``;
        NaN for an untrained restart.
    restart_combine_ : str or None
        The rule the fitted model applies ("mean", "median" or "best"; None with
        one restart): ``restart_combine`` at fit time, which a later
        ``set_params`` does not change.
    restart_offsets_, restart_scales_ : ndarray of shape (n_restarts,)
        Mean and standard deviation of each restart's training energies, which
        standardise its energies before they are combined; only with restarts
        combined by mean or median.
    input_range_ : ndarray of shape (2, n_encoded_features)
        Each encoded input column's minimum (``input_range_[0]``) and maximum
        (``input_range_[1]``) over the training rows, as the network reads it
        before its scaling (after imputation, ``log_inputs``, the encoder's
        ``shifts`` and one-hot encoding: one column per one-hot category),
        whatever the ``scaler``;
        with a validation split, of the rows trained on.
        :meth:`explain` searches each numeric column's most normal value in
        this range. Absent from models loaded from files written before it was
        kept (format versions 1 and 2).
    input_levels_ : list of (ndarray or None), one per encoded input column
        A numeric column's distinct values over the training rows, sorted (in
        the units of ``input_range_``), where it holds at most 32, else None
        (and None for a one-hot column): a 0/1 flag's ``[0., 1.]``, a small
        count's values; a median ``missing="impute"`` filled in is left out
        unless a row holds it. :meth:`explain` offers these as the column's
        most normal value instead of points of its range. Absent from models
        loaded from files of format versions 1 to 3.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when fitted on a DataFrame.
    history_ : dict of str to list of float
        Per-epoch loss terms ("loss", "reconstruction", "energy", "penalty", and
        "val_loss" with a validation split); with restarts combined by mean or
        median, their mean over restarts.
    n_iter_ : int
        Optimizer steps taken.
    collapsed_components_ : list of dict
        Mixture components with almost no weight or variance (see
        :func:`collapsed_components`); fitting warns with
        :class:`ComponentCollapseWarning` when it is not empty.
    """

    # How scikit-learn 1.4 and 1.5 tell an outlier detector (is_outlier_detector, and so
    # the scorers: without it, scoring="roc_auc" took DAGMM for a regressor and failed);
    # from 1.6 on, __sklearn_tags__ says it.
    _estimator_type = "outlier_detector"

    # Fitted attributes, set by fit and by dagmm.load (declared for type checkers;
    # an unfitted estimator has none of them).
    encoder_: TabularEncoder
    net_: DAGMMNet
    mixture_: FittedMixture
    n_features_in_: int
    feature_names_in_: np.ndarray
    decision_scores_: np.ndarray
    threshold_: float
    contamination_: float
    labels_: np.ndarray
    score_stats_: dict[str, float]
    history_: dict[str, list[float]]
    best_epoch_: int
    n_iter_: int
    hidden_sizes_: tuple[int, ...]
    latent_dim_: int
    epochs_: int
    batch_size_: int
    device_: str
    seed_: int
    format_version_: int
    restart_seeds_: list[int]
    restart_losses_: list[float]
    restart_combine_: str | None
    restart_offsets_: np.ndarray
    restart_scales_: np.ndarray
    input_range_: np.ndarray
    input_levels_: Levels

    def __init__(
        self,
        n_components: int = 2,
        hidden_sizes: Sequence[int] | None = None,
        latent_dim: int | None = None,
        estimation_hidden_sizes: Sequence[int] = (10,),
        activation: str = "tanh",
        dropout: float = 0.5,
        lambda_energy: float = 0.1,
        lambda_cov: float = 1e-4,
        reconstruction_loss: str = "sum",
        reg_covar: float = 1e-6,
        scaler: str | None = "auto",
        log_inputs: bool = False,
        epochs: int | None = None,
        batch_size: int = 1024,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
        validation_fraction: float | None = None,
        patience: int = 10,
        contamination: float = 0.1,
        missing: str = "raise",
        max_categories: int | None = 1000,
        random_state: int | np.random.RandomState | None = None,
        device: str = "auto",
        verbose: int = 0,
        checkpoint_path: str | None = None,
        checkpoint_every: int = 1,
        n_restarts: int = 1,
        restart_combine: str = "mean",
    ) -> None:
        self.n_components = n_components
        self.hidden_sizes = hidden_sizes
        self.latent_dim = latent_dim
        self.estimation_hidden_sizes = estimation_hidden_sizes
        self.activation = activation
        self.dropout = dropout
        self.lambda_energy = lambda_energy
        self.lambda_cov = lambda_cov
        self.reconstruction_loss = reconstruction_loss
        self.reg_covar = reg_covar
        self.scaler = scaler
        self.log_inputs = log_inputs
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.contamination = contamination
        self.missing = missing
        self.max_categories = max_categories
        self.random_state = random_state
        self.device = device
        self.verbose = verbose
        self.checkpoint_path = checkpoint_path
        self.checkpoint_every = checkpoint_every
        self.n_restarts = n_restarts
        self.restart_combine = restart_combine

    # ------------------------------------------------------------ constructors
    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> DAGMM:
        """The paper's configuration for one of its data sets (PAPER.md, Sec. 4.3).

        Parameters
        ----------
        name : {"kddcup", "kddcup_rev", "thyroid", "arrhythmia"}
            The data set whose architecture, K, epochs, batch size, learning rate
            and contamination to take (``-`` for ``_`` and case are accepted).
        **overrides
            Any :class:`DAGMM` parameter, replacing the preset's value.

        Returns
        -------
        DAGMM
            An unfitted estimator.

        Raises
        ------
        InvalidInputError
            If ``name`` is not one of the four presets (a ``ValueError`` too).
        """
        return cls(**preset_params(name, **overrides))

    @classmethod
    def load(cls, path: str | os.PathLike[str], device: str | torch.device | None = None) -> DAGMM:
        """Load a model written by :meth:`save` (see :func:`dagmm.load`).

        Parameters
        ----------
        path : str or PathLike
            The model file.
        device : str or torch.device, optional
            Where the model scores ("cpu", "cuda", "auto", ...). Default: the
            device it was trained on when this machine has it, else the CPU.

        Returns
        -------
        DAGMM
            The fitted model; it scores as it did before it was saved.

        Raises
        ------
        dagmm.ModelFileError
            If the file is missing, truncated, corrupted or not a model file.
        """
        from .persistence import load_model

        return load_model(path, device)

    @fill_doc
    def save(self, path: str | os.PathLike[str], include_training_scores: bool = True) -> None:
        """Write the fitted model to one safetensors file (no pickle), atomically.

        The file is written under a temporary name and renamed into place, so an
        interrupted save leaves no partial file and keeps any earlier one.

        Parameters
        ----------
        path : str or PathLike
            The model file to write (conventionally ``*.dagmm``).
        {include_training_scores}

        Raises
        ------
        dagmm.InvalidInputError
            A parameter is invalid (set by ``set_params`` after fit): the file
            would not load back, so nothing is written; the message names it.
        """
        from .persistence import save_model

        save_model(self, path, include_training_scores=include_training_scores)

    # ----------------------------------------------------------------- fitting
    def _validate_params(self) -> None:
        def positive_int(name: str, value: Any, allow_zero: bool = False) -> None:
            if not _is_int(value) or value < (0 if allow_zero else 1):
                bound = ">= 0" if allow_zero else ">= 1"
                raise InvalidInputError(f"{name} must be an integer {bound}, got {value!r}")

        def finite_number(name: str, value: Any) -> float:
            if not _is_real(value) or not math.isfinite(float(value)):
                raise InvalidInputError(f"{name} must be a finite real number, got {value!r}")
            return float(value)

        def sizes(name: str, value: Any) -> None:
            if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
                raise InvalidInputError(f"{name} must be a sequence of integers, got {value!r}")
            for size in value:
                positive_int(f"every entry of {name}", size)

        positive_int("n_components", self.n_components)
        positive_int("batch_size", self.batch_size)
        positive_int("patience", self.patience)
        positive_int("checkpoint_every", self.checkpoint_every)
        positive_int("n_restarts", self.n_restarts)
        if self.restart_combine not in RESTART_COMBINE:
            raise InvalidInputError(
                f"restart_combine must be one of {RESTART_COMBINE}, got {self.restart_combine!r}"
            )
        if self.max_categories is not None:
            positive_int("max_categories", self.max_categories)
        if self.checkpoint_path is not None and not isinstance(
            self.checkpoint_path, (str, os.PathLike)
        ):
            raise InvalidInputError(
                f"checkpoint_path must be a path or None, got {self.checkpoint_path!r}"
            )
        if self.epochs is not None:
            positive_int("epochs", self.epochs, allow_zero=True)
        if self.latent_dim is not None:
            positive_int("latent_dim", self.latent_dim)
        if self.hidden_sizes is not None:
            sizes("hidden_sizes", self.hidden_sizes)
        sizes("estimation_hidden_sizes", self.estimation_hidden_sizes)
        if self.activation not in ACTIVATIONS:
            raise InvalidInputError(
                f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}"
            )
        if not 0.0 <= finite_number("dropout", self.dropout) < 1.0:
            raise InvalidInputError(f"dropout must be in [0, 1), got {self.dropout!r}")
        _checked_contamination(self.contamination)
        if self.reconstruction_loss not in ("sum", "mean"):
            raise InvalidInputError(
                f"reconstruction_loss must be 'sum' or 'mean', got {self.reconstruction_loss!r}"
            )
        if self.scaler not in ("auto", "standard", "minmax", None, "none"):
            raise InvalidInputError(
                f"scaler must be 'auto', 'standard', 'minmax' or None, got {self.scaler!r}"
            )
        if not isinstance(self.log_inputs, (bool, np.bool_)):
            raise InvalidInputError(f"log_inputs must be True or False, got {self.log_inputs!r}")
        for name in ("learning_rate", "reg_covar"):
            if not finite_number(name, getattr(self, name)) > 0.0:
                raise InvalidInputError(f"{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("lambda_energy", "lambda_cov", "weight_decay"):
            if not finite_number(name, getattr(self, name)) >= 0.0:
                raise InvalidInputError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if self.validation_fraction is not None and not (
            0.0 < finite_number("validation_fraction", self.validation_fraction) < 1.0
        ):
            raise InvalidInputError(
                f"validation_fraction must be in (0, 1), got {self.validation_fraction!r}"
            )
        if not isinstance(self.verbose, (bool, np.bool_)):
            positive_int("verbose", self.verbose, allow_zero=True)
        _checked_random_state(self.random_state)

    def fit(self, X: Any, y: Any = None, resume: bool = False) -> DAGMM:
        """Train on ``X`` (array or DataFrame; ``y`` is ignored) and fit the test-time mixture.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), DataFrame or sparse matrix
            Training rows. Numeric columns are scaled as ``scaler`` says; text or
            categorical columns of a DataFrame are one-hot encoded (at most
            ``max_categories`` values each); missing values are handled as
            ``missing`` says.
        y : None
            Ignored; present for the scikit-learn API.
        resume : bool, default False
            Continue from ``checkpoint_path`` if it exists (a missing checkpoint
            starts from epoch 1 with a warning). The checkpoint must come from a
            fit of the same data, parameters and ``random_state``, else
            :class:`~dagmm.exceptions.CheckpointError` is raised.

        Returns
        -------
        self
        """
        self._validate_params()
        if resume and self.checkpoint_path is None:
            raise InvalidInputError("resume=True needs checkpoint_path")
        _check_checkpoint_path(self, resume)
        X = as_table(X)
        encoder = _new_encoder(self).fit(X)
        data = _encode_for_fit(encoder, X)
        n_rows = data.shape[0]
        if n_rows < 2:
            raise InvalidInputError(f"need at least 2 rows to fit, got n_samples = {n_rows}")
        rng, drawn = self._training_rng(resume)
        # One draw per restart: without restarts the seed is the one it always was.
        seeds = [int(rng.randint(0, 2**31 - 1)) for _ in range(int(self.n_restarts))]
        rows = np.arange(n_rows)
        val_rows = None
        if self.validation_fraction:
            rows, held_out = _hold_out(rows, self.validation_fraction, rng)
            val_rows = [held_out] * len(seeds)
        levels = _training_levels(encoder, X, data, [rows])
        members = _fit_members(
            self,
            data,
            [rows] * len(seeds),
            val_rows,
            seeds,
            levels * len(seeds),
            resume=resume,
            drawn_seed=drawn,
        )
        # Without a validation split the mixture pass scored every training row already.
        train_energy = members.train_energy if val_rows is None else None
        self._set_fitted_restarts(encoder, members, data, train_energy)
        self._warn_collapse()
        return self

    def _set_fitted_restarts(
        self,
        encoder: TabularEncoder,
        members: _Members,
        data: np.ndarray,
        train_energy: Sequence[np.ndarray] | None,
    ) -> None:
        """Keep the restarts ``members`` as ``restart_combine`` says; score ``data``'s rows.

        ``train_energy``: each member's energies of all of ``data``'s rows when
        already computed, else None (they are computed here).
        """
        self._record_restarts(members)
        if len(members.seeds) == 1 or self.restart_combine == "best":
            index = best_restart(self.restart_losses_)
            self._set_fitted(encoder, members, index)
            if train_energy is not None:
                self.decision_scores_ = _checked_energy(train_energy[index])
            else:
                self.decision_scores_ = self._energy_numeric(data)
        else:
            self._set_fitted(encoder, members, None)
            energies = (
                np.stack([_checked_energy(e) for e in train_energy])
                if train_energy is not None
                else self._member_energies(data)
            )
            self._set_standardisation(energies.mean(axis=1), energies.std(axis=1))
            self.decision_scores_ = self._combined(energies)
        self._set_threshold(self.decision_scores_)

    def _record_restarts(self, members: _Members) -> None:
        """Each restart's seed and loss and the rule applied; forget an earlier fit's
        standardisation (set again by :meth:`_set_standardisation` when it applies)."""
        self.restart_seeds_ = list(members.seeds)
        self.restart_losses_ = [restart_loss(h) for h in members.history]
        self.restart_combine_ = None if len(members.seeds) == 1 else self.restart_combine
        for name in ("restart_offsets_", "restart_scales_"):
            if hasattr(self, name):
                delattr(self, name)

    def _training_rng(self, resume: bool) -> tuple[np.random.RandomState, int | None]:
        """The generator of a fit's seeds and validation split, and the seed drawn for it
        when ``random_state`` is None and the fit writes checkpoints (else None).

        Such a fit keeps that draw in its checkpoints, and resuming it draws the same
        seeds and rows again: rerunning the same command resumes, though nothing fixed
        the seed.
        """
        if self.random_state is not None or self.checkpoint_path is None:
            return _checked_random_state(self.random_state), None
        drawn = None
        if resume:
            from .checkpoint import drawn_seed  # an edge (files): imported only when used

            drawn = drawn_seed(self.checkpoint_path)
        if drawn is None:
            drawn = int(check_random_state(None).randint(0, 2**31 - 1))
        return np.random.RandomState(drawn), drawn

    def _set_standardisation(self, offsets: np.ndarray, spread: np.ndarray) -> None:
        """Each restart's training-energy mean and standard deviation (energies all
        equal divide by 1 instead, see :func:`restart_scales`)."""
        self.restart_offsets_ = np.asarray(offsets, dtype=np.float64)
        self.restart_scales_ = restart_scales(offsets, spread)

    @property
    def collapsed_components_(self) -> list[dict[str, Any]]:
        """Collapsed mixture components (see :func:`collapsed_components`); with
        several restarts kept, each entry also names its ``restart``."""
        check_is_fitted(self, "mixture_")
        if self.n_members_ == 1:
            return collapsed_components(self.weights_, self.means_, self.covariances_)
        found = []
        for r, parts in enumerate(zip(self.weights_, self.means_, self.covariances_, strict=True)):
            found += [{"restart": r, **c} for c in collapsed_components(*parts)]
        return found

    def _warn_collapse(self) -> None:
        collapsed = self.collapsed_components_
        if collapsed:
            detail = ", ".join(
                ("" if "restart" not in c else f"restart {c['restart']} ")
                + f"{c['component']} ({c['reason']})"
                for c in collapsed
            )
            total = len(self.weights_) if self.n_members_ == 1 else self.weights_.size
            warnings.warn(
                f"{len(collapsed)} of {total} mixture components collapsed: "
                f"{detail}; consider fewer n_components or a larger reg_covar",
                ComponentCollapseWarning,
                stacklevel=3,
            )

    @property
    def n_members_(self) -> int:
        """Networks the fitted model scores with: ``n_restarts`` when restarts are
        combined by mean or median, else 1."""
        check_is_fitted(self, "net_")
        return int(self.net_.n_members)

    def _restart_view(self, index: int) -> DAGMM:
        """Restart ``index`` of a model keeping several, as a single-network model for
        inspecting its ``transform`` and mixture (``dagmm report`` draws one). It has
        no threshold or training scores, so it cannot ``predict``."""
        view = self.__class__(**{**self.get_params(), "n_restarts": 1})
        for name in (
            "encoder_",
            "n_features_in_",
            "feature_names_in_",
            "hidden_sizes_",
            "input_range_",
            "input_levels_",
        ):
            if hasattr(self, name):
                setattr(view, name, getattr(self, name))
        for name in ("latent_dim_", "epochs_", "batch_size_", "device_", "n_iter_"):
            setattr(view, name, getattr(self, name))
        view.net_ = self.net_.member(index)
        view.mixture_ = FittedMixture(*(t[index].clone() for t in self.mixture_))
        view.seed_ = self.restart_seeds_[index]
        view.restart_seeds_ = [view.seed_]
        view.restart_losses_ = [self.restart_losses_[index]]
        view.restart_combine_ = None
        view.history_, view.best_epoch_ = {}, self.best_epoch_
        return view

    def _set_fitted(self, encoder: TabularEncoder, members: _Members, index: int | None) -> None:
        """Take member ``index`` of ``members`` as the fitted model (None: all of them)."""
        self.encoder_ = encoder
        self.n_features_in_ = len(encoder.columns)
        if encoder.input_kind == "frame":
            self.feature_names_in_ = np.asarray(encoder.columns, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        if index is None:
            self.net_ = members.net.eval()
            for parameter in self.net_.parameters():
                parameter.grad = None  # training's buffers: the fitted model needs none
            self.mixture_ = FittedMixture(*members.mixture)
            terms = members.history[0].keys()
            self.history_ = {
                k: [float(v) for v in np.mean([h[k] for h in members.history], axis=0)]
                for k in terms
            }
            self.best_epoch_ = max(members.best_epoch)
            self.seed_ = members.seeds[0]
            # the range of every member's rows (restarts share theirs)
            ranges = members.input_range
            self.input_range_ = np.stack([ranges[:, 0].min(axis=0), ranges[:, 1].max(axis=0)])
            self.input_levels_ = merge_levels(members.input_levels)
        else:
            self.net_ = members.net.member(index)
            self.mixture_ = FittedMixture(*(t[index] for t in members.mixture))
            self.history_ = members.history[index]
            self.best_epoch_ = members.best_epoch[index]
            self.seed_ = members.seeds[index]
            self.input_range_ = members.input_range[index].copy()
            # copies, as the range is: models of one ensemble may share their rows' levels
            levels = members.input_levels[index]
            self.input_levels_ = [None if v is None else v.copy() for v in levels]
        self.n_iter_ = members.steps
        self.hidden_sizes_ = members.hidden_sizes
        self.latent_dim_ = members.latent_dim
        self.epochs_ = members.epochs
        self.batch_size_ = members.batch_size
        self.device_ = members.device

    def _set_threshold(self, train_scores: np.ndarray) -> None:
        self.contamination_ = float(self.contamination)
        self.threshold_ = _quantile_threshold(train_scores, self.contamination_)
        self.labels_ = (train_scores > self.threshold_).astype(int)
        self.score_stats_ = {
            "min": float(np.min(train_scores)),
            "max": float(np.max(train_scores)),
            "mean": float(np.mean(train_scores)),
            "std": float(np.std(train_scores)),
        }

    # ----------------------------------------------------------------- scoring
    @property
    def weights_(self) -> np.ndarray:
        """Mixture weights phi, shape (K,)."""
        check_is_fitted(self, "mixture_")
        return self.mixture_.weights.cpu().numpy()

    @property
    def means_(self) -> np.ndarray:
        """Component means in z space, shape (K, D)."""
        check_is_fitted(self, "mixture_")
        return self.mixture_.means.cpu().numpy()

    @property
    def covariances_(self) -> np.ndarray:
        """Regularised component covariances, shape (K, D, D)."""
        check_is_fitted(self, "mixture_")
        return self.mixture_.covariances.cpu().numpy()

    def _encode(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "net_")
        X = as_table(X)
        fast = _encode_numeric_fast(self.encoder_, X)
        return fast if fast is not None else self.encoder_.transform(X)

    def _scoring_device(self) -> torch.device:
        device = self.net_.input_scale.device
        if device.type == "cuda" and not torch.cuda.is_available():
            device = torch.device("cpu")
        return device

    def _batched_mixture(self, device: torch.device) -> FittedMixture:
        """The mixture with a leading member axis, on ``device``."""
        if self.n_members_ == 1:
            return FittedMixture(*(t.to(device).unsqueeze(0) for t in self.mixture_))
        return FittedMixture(*(t.to(device) for t in self.mixture_))

    def _member_energies(self, data: np.ndarray, index: pd.Index | None = None) -> np.ndarray:
        """Each member's energies of encoded rows, shape (n_members, n), float64, or
        :class:`NumericalError` naming the rows (by ``index``) where one is not finite."""
        device = self._scoring_device()
        rows = torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32))
        mixture = self._batched_mixture(device)
        energy = np.empty((self.n_members_, len(rows)), dtype=np.float64)
        with torch.inference_mode():
            for start in range(0, len(rows), SCORE_BLOCK_ROWS):
                block = rows[start : start + SCORE_BLOCK_ROWS].to(device)
                scored = score_energy(self.net_, mixture, block)
                energy[:, start : start + len(block)] = scored.cpu().numpy()
        for member in energy:
            _checked_energy(member, index)
        return energy

    def _combined(self, energies: np.ndarray) -> np.ndarray:
        """The score of rows whose members' energies are ``energies`` (n_members, n)."""
        if len(energies) == 1:
            return energies[0]
        return combine_restart_energies(
            energies, self.restart_offsets_, self.restart_scales_, str(self.restart_combine_)
        )

    def _energy_numeric(self, data: np.ndarray, index: pd.Index | None = None) -> np.ndarray:
        """The score of encoded rows (``index``: their labels, for error messages)."""
        return self._combined(self._member_energies(data, index))

    @fill_doc
    def decision_function(self, X: Any) -> np.ndarray:
        """Sample energy of each row: higher is more anomalous.

        Parameters
        ----------
        {rows}

        Returns
        -------
        ndarray of shape (n_samples,), float64
            The energies, in the order of the rows.

        Raises
        ------
        dagmm.InvalidInputError
            If a column is missing or of the wrong type, or a value is NaN/inf
            (with ``missing="raise"``); the message names the column and row.
        dagmm.exceptions.NumericalError
            If a row's energy is not finite (a scaled input beyond about 1e19,
            where float32 overflows); the message names the rows (by a DataFrame's
            index labels).
        """
        # only a DataFrame's index labels its rows: a list's .index is a method
        index = X.index if isinstance(X, (pd.DataFrame, pd.Series)) else None
        return self._energy_numeric(self._encode(X), index)

    @fill_doc
    def score_samples(self, X: Any) -> np.ndarray:
        """Minus the energy (scikit-learn convention: higher is more normal).

        Parameters
        ----------
        {rows}

        Returns
        -------
        ndarray of shape (n_samples,), float64
            ``-decision_function(X)``.
        """
        return -self.decision_function(X)

    @overload
    def predict(self, X: Any, return_confidence: Literal[False] = ...) -> np.ndarray: ...

    @overload
    def predict(
        self, X: Any, return_confidence: Literal[True]
    ) -> tuple[np.ndarray, np.ndarray]: ...

    @fill_doc
    def predict(
        self, X: Any, return_confidence: bool = False
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """0 for inliers, 1 for anomalies (energy above ``threshold_``).

        Parameters
        ----------
        {rows}
        return_confidence : bool, default False
            Also return each label's confidence, as PyOD does (see
            :meth:`predict_confidence`).

        Returns
        -------
        labels : ndarray of shape (n_samples,), int
            PyOD's convention: 1 = anomaly, 0 = inlier (not scikit-learn's -1/+1).
        confidence : ndarray of shape (n_samples,), float64
            Only with ``return_confidence=True``.
        """
        self._warn_contamination_changed()
        scores = self.decision_function(X)
        labels = (scores > self.threshold_).astype(int)
        return (labels, self._confidence(scores)) if return_confidence else labels

    def _warn_contamination_changed(self) -> None:
        """Warn when ``contamination`` was changed after fit (``set_params``) without
        fitting again: the cut still flags ``contamination_`` of the training rows."""
        check_is_fitted(self, "mixture_")
        fitted = self.contamination_
        try:
            share: float | None = _checked_contamination(self.contamination)
        except InvalidInputError:  # set_params takes anything; fit would refuse it
            share = None
        if share == fitted:
            return
        other = f"threshold_at({share:g})" if share is not None else "threshold_at(share)"
        warnings.warn(
            f"contamination is {self.contamination!r}, but this model was fitted with "
            f"contamination={fitted:g}: threshold_, labels_, predict and predict_confidence "
            f"flag the top {fitted:g} of the training energies until fit runs again "
            "(set_params changes no fitted attribute); to flag another share without "
            f"training again, compare decision_function(X) with {other}",
            UserWarning,
            stacklevel=3,
        )

    def threshold_at(self, contamination: float) -> float:
        """The energy above which a share ``contamination`` of the training rows lies.

        ``threshold_at(self.contamination_)`` is ``threshold_``, the model's own
        threshold, whatever the model holds. Another share gives the threshold for
        another alert rate without training again (``dagmm score --contamination``):
        the quantile of ``decision_scores_``, the training energies the model holds:
        every training row after ``fit``; after an out-of-core fit (``--sample-rows``)
        those of the sample, so there an estimate (while ``threshold_`` itself is the
        exact quantile over the whole file). A model file from ``dagmm fit
        --distributed`` holds none, so there only the model's own share has one.

        Parameters
        ----------
        contamination : float in (0, 0.5]
            The share of training rows whose energy is to lie above the threshold.

        Returns
        -------
        float
            The energy threshold.

        Raises
        ------
        dagmm.InvalidInputError
            If ``contamination`` is outside (0, 0.5], or it is not the model's own
            share and the model holds no training energies.
        """
        check_is_fitted(self, "mixture_")
        share = _checked_contamination(contamination)
        if share == float(self.contamination_):
            # until 2026-12-07 a quantile of decision_scores_: after --sample-rows an
            # estimate beside the exact threshold_, and without them an error
            return float(self.threshold_)
        train = getattr(self, "decision_scores_", None)
        if train is None or len(train) == 0:
            raise InvalidInputError(
                "this model holds no training energies (decision_scores_): it was saved "
                "with include_training_scores=False (as `dagmm fit --distributed` saves), "
                "or fitted out of core without a sample; a share of them cannot set a "
                "threshold, so give the energy threshold itself (--threshold)"
            )
        return _quantile_threshold(np.asarray(train, dtype=np.float64), share)

    @fill_doc
    def predict_confidence(self, X: Any) -> np.ndarray:
        """How stable each row's label is, in [0, 1], as PyOD's ``predict_confidence``
        (ExCeeD, Perini et al., 2020).

        A row whose energy exceeds ``k`` of the ``n`` training energies is an
        anomaly with probability ``p = (1 + k) / (2 + n)``; its confidence is the
        chance that, of ``n`` rows each an anomaly with probability ``p``, more than
        ``n - floor(n * contamination_)`` are (for a predicted inlier: one minus that),
        with ``contamination_`` the share the model was fitted with, which
        ``threshold_`` flags. Needs the training energies (``decision_scores_``; a model saved with
        ``include_training_scores=False`` has none).

        Parameters
        ----------
        {rows}

        Returns
        -------
        ndarray of shape (n_samples,), float64
            The confidence in each row's label from :meth:`predict`.
        """
        self._warn_contamination_changed()
        return self._confidence(self.decision_function(X))

    @fill_doc
    def predict_with_rejection(
        self,
        X: Any,
        T: float = 32,
        return_stats: bool = False,
        delta: float = 0.1,
        c_fp: float = 1.0,
        c_fn: float = 1.0,
        c_r: float | None = None,
    ) -> np.ndarray | tuple[np.ndarray, RejectionStats]:
        """Labels as :meth:`predict`, withholding the unstable ones (-2), as PyOD's.

        A label is withheld when its confidence (:meth:`predict_confidence`) is
        within ``1 - 2 exp(-T)`` of a coin toss, scaled to [0, 1] (Perini et al.,
        2023). Unlike PyOD's, an argument out of its range is refused, not replaced
        by its default with a warning, and nothing is stored on the model.

        Parameters
        ----------
        {rows}
        T : float, default 32
            Positive: the larger, the more labels are withheld.
        return_stats : bool, default False
            Also return :meth:`compute_rejection_stats` for these arguments.
        delta : float, default 0.1
            In (0, 1); see :meth:`compute_rejection_stats`.
        c_fp, c_fn : float, default 1.0
            The costs of a false positive and of a false negative.
        c_r : float, optional
            The cost of a rejection; by default ``contamination_`` (PyOD's default).

        Returns
        -------
        labels : ndarray of shape (n_samples,), int
            1 = anomaly, 0 = inlier, -2 = withheld.
        stats : RejectionStats
            Only with ``return_stats=True``: the expected and bounded rejection
            rates and the bounded cost (a tuple, as PyOD's list of three).
        """
        costs = self._rejection_costs(T, delta, c_fp, c_fn, c_r)
        labels, confidence = self.predict(X, return_confidence=True)
        labels[rejected(confidence, T)] = REJECTED
        if not return_stats:
            return labels
        return labels, self._rejection_stats(T, delta, costs)

    def compute_rejection_stats(
        self,
        T: float = 32,
        delta: float = 0.1,
        c_fp: float = 1.0,
        c_fn: float = 1.0,
        c_r: float | None = None,
        verbose: bool = False,
    ) -> RejectionStats:
        """What rejecting at ``T`` costs, bounded from the training energies (PyOD's).

        Parameters
        ----------
        T : float, default 32
            The rejection parameter of :meth:`predict_with_rejection`.
        delta : float, default 0.1
            In (0, 1): the upper bound on the rejection rate holds with probability
            ``1 - delta``.
        c_fp, c_fn : float, default 1.0
            The costs of a false positive and of a false negative.
        c_r : float, optional
            The cost of a rejection; by default ``contamination_``.
        verbose : bool, default False
            Also print the three figures.

        Returns
        -------
        RejectionStats
            ``(expected_rejection_rate, upper_bound_rejection_rate,
            upper_bound_cost)``.
        """
        stats = self._rejection_stats(T, delta, self._rejection_costs(T, delta, c_fp, c_fn, c_r))
        if verbose:
            print(
                f"expected rejection rate {stats.expected_rejection_rate:.4g}, upper bound "
                f"{stats.upper_bound_rejection_rate:.4g} (probability {1 - delta:g}); "
                f"upper bound of the cost {stats.upper_bound_cost:.4g}"
            )
        return stats

    def _rejection_costs(
        self, T: float, delta: float, c_fp: float, c_fn: float, c_r: float | None
    ) -> dict[str, float]:
        """The three costs (``c_r`` by default ``contamination_``), the arguments checked."""
        check_is_fitted(self, "mixture_")
        costs = {"c_fp": c_fp, "c_fn": c_fn, "c_r": self.contamination_ if c_r is None else c_r}
        check_rejection_args(T, delta, costs)
        return costs

    def _rejection_stats(self, T: float, delta: float, costs: dict[str, float]) -> RejectionStats:
        train = self._training_energies("rejection statistics")
        return rejection_stats(len(train), self.contamination_, T, delta, **costs)

    def _training_energies(self, what: str) -> np.ndarray:
        train = getattr(self, "decision_scores_", None)
        if train is None:
            raise InvalidInputError(
                f"{what} needs the training energies (decision_scores_); this model "
                "was saved without them (include_training_scores=False)"
            )
        return np.asarray(train)

    def _confidence(self, scores: np.ndarray) -> np.ndarray:
        from scipy.stats import binom

        train = self._training_energies("confidence")
        n = len(train)
        below = np.searchsorted(np.sort(train), scores, side="right")  # training energies <= score
        outlier_probability = (1.0 + below) / (2.0 + n)
        confidence = binom.sf(n - int(n * self.contamination_), n, outlier_probability)
        return np.where(scores > self.threshold_, confidence, 1.0 - confidence)

    @fill_doc
    def fit_transform(self, X: Any, y: Any = None) -> np.ndarray:
        """Fit, then return :meth:`transform` of the same rows.

        Parameters
        ----------
        {training_rows}

        Returns
        -------
        ndarray of shape (n_samples, latent_dim + 2), float32
        """
        return self.fit(X).transform(X)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of :meth:`transform`'s columns.

        ``set_output(transform="pandas")`` labels the columns with them.

        Parameters
        ----------
        input_features : None
            Ignored (the output columns do not depend on the input's names).

        Returns
        -------
        ndarray of shape (latent_dim + 2,), object
            ``latent_0``, ... ``latent_{d-1}``, ``relative_distance``,
            ``cosine_similarity``; with several restarts kept, each restart's
            names prefixed ``restart_{r}_``.
        """
        check_is_fitted(self, "net_")
        latent = [f"latent_{j}" for j in range(int(self.latent_dim_))]
        names = [*latent, "relative_distance", "cosine_similarity"]
        if self.n_members_ > 1:
            names = [f"restart_{r}_{name}" for r in range(self.n_members_) for name in names]
        return np.asarray(names, dtype=object)

    @fill_doc
    def fit_predict(self, X: Any, y: Any = None) -> np.ndarray:
        """Fit and return the training labels ``labels_``.

        Parameters
        ----------
        {training_rows}

        Returns
        -------
        ndarray of shape (n_samples,), int
            1 for the training rows above ``threshold_``, else 0.
        """
        return self.fit(X).labels_

    @overload
    def predict_proba(
        self, X: Any, method: str = ..., return_confidence: Literal[False] = ...
    ) -> np.ndarray: ...

    @overload
    def predict_proba(
        self, X: Any, method: str = ..., *, return_confidence: Literal[True]
    ) -> tuple[np.ndarray, np.ndarray]: ...

    @fill_doc
    def predict_proba(
        self, X: Any, method: str = "linear", return_confidence: bool = False
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Anomaly probability, PyOD style: columns (P(inlier), P(anomaly)).

        Parameters
        ----------
        {rows}
        method : {"linear", "unify"}, default "linear"
            ``"linear"`` min-max scales energies by the training range;
            ``"unify"`` standardises them by the training scores and applies the
            Gaussian error function (Kriegel et al., 2011), as PyOD does. Both are
            clipped to [0, 1].
        return_confidence : bool, default False
            Also return each row's confidence (see :meth:`predict_confidence`).

        Returns
        -------
        proba : ndarray of shape (n_samples, 2), float64
            ``[:, 0]`` = 1 - ``[:, 1]``.
        confidence : ndarray of shape (n_samples,), float64
            Only with ``return_confidence=True``.

        Raises
        ------
        dagmm.InvalidInputError
            If ``method`` is neither.
        """
        if method not in ("linear", "unify"):
            raise InvalidInputError(f"method must be 'linear' or 'unify', got {method!r}")
        if return_confidence:
            self._warn_contamination_changed()
        scores = self.decision_function(X)
        stats = self.score_stats_
        if method == "linear":
            spread = stats["max"] - stats["min"]
            proba = (scores - stats["min"]) / (spread if spread > 0 else 1.0)
        else:
            std = stats["std"] if stats["std"] > 0 else 1.0
            proba = erf((scores - stats["mean"]) / std / math.sqrt(2.0))
        proba = np.clip(proba, 0.0, 1.0)
        proba = np.column_stack([1.0 - proba, proba])
        return (proba, self._confidence(scores)) if return_confidence else proba

    @fill_doc
    def transform(self, X: Any) -> np.ndarray:
        """The representation ``z = [z_c, relative distance, cosine similarity]``.

        Parameters
        ----------
        {rows}

        Returns
        -------
        ndarray of shape (n_samples, latent_dim + 2), float32
            The code ``z_c`` and the two reconstruction features, the space the
            mixture lives in (column names: :meth:`get_feature_names_out`). With
            restarts combined by mean or median, each restart's ``latent_dim + 2``
            columns side by side, ``n_restarts`` times as many.
        """
        return self._transform_encoded(self._encode(X))

    def _transform_encoded(self, data: np.ndarray) -> np.ndarray:
        """:meth:`transform` of rows already encoded (``_encode``): (n, F) float32."""
        device = self._scoring_device()
        self.net_.eval()
        members = self.n_members_
        parts = []
        with torch.inference_mode():
            for start in range(0, len(data), 65536):
                chunk = torch.from_numpy(data[start : start + 65536]).to(device)
                z = self.net_(chunk.unsqueeze(0).expand(members, -1, -1)).z
                # (members, n, D) -> (n, members * D): each restart's columns side by side
                z = z[0] if members == 1 else z.transpose(0, 1).reshape(len(chunk), -1)
                parts.append(z.cpu().numpy())
        return np.concatenate(parts, axis=0)

    @fill_doc
    def explain(self, X: Any, top_k: int | None = None) -> pd.DataFrame:
        """Per-row, per-column contributions to the energy, in the original columns.

        See :func:`dagmm.explain.explain` for what each quantity means.

        Parameters
        ----------
        {rows}
        top_k : int, optional
            Keep each row's ``top_k`` columns with the largest contribution;
            default: all columns.

        Returns
        -------
        DataFrame
            Tidy, one line per (row, column): row, energy, rank, column, value,
            expected, contribution, gradient, reconstruction_error.
        """
        from .explain import explain

        return explain(self, X, top_k=top_k)

    def __getstate__(self) -> dict[str, Any]:
        # pickle (parallel workers, multiprocessing, GridSearchCV(n_jobs=...)) records each tensor's
        # device: a model fitted on a GPU would need CUDA to be unpickled at all. Its
        # tensors travel on the CPU, beside the device they were on.
        state = super().__getstate__()
        net = state.get("net_")
        if net is None or net.input_scale.device.type == "cpu":
            return state
        state = {name: _on_cpu(value) for name, value in state.items()}
        state[_PICKLED_ON] = str(net.input_scale.device)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        pickled_on = state.pop(_PICKLED_ON, None)
        super().__setstate__(state)
        if pickled_on is not None:
            # back on that device where this machine has it, else on the CPU, as load does
            from .persistence import scoring_device

            device = scoring_device(pickled_on)
            self.net_.to(device)
            self.mixture_ = FittedMixture(*(t.to(device) for t in self.mixture_))

    def __sklearn_tags__(self) -> Any:  # pragma: no cover - sklearn >= 1.6 metadata
        from sklearn.utils import TransformerTags

        tags = super().__sklearn_tags__()
        tags.estimator_type = "outlier_detector"
        tags.transformer_tags = TransformerTags(preserves_dtype=[])
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = True
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        return tags


#: The state key of the device a pickled model's tensors were on (absent: the CPU).
_PICKLED_ON = "_pickled_on_device"


def _on_cpu(value: Any) -> Any:
    """``value`` with its tensors on the CPU: a copy where one is elsewhere."""
    if isinstance(value, torch.nn.Module):
        import copy

        return copy.deepcopy(value).cpu()
    if isinstance(value, torch.Tensor):
        return value.cpu()
    if isinstance(value, FittedMixture):
        return FittedMixture(*(t.cpu() for t in value))
    return value


def _new_encoder(est: DAGMM) -> TabularEncoder:
    """An unfitted encoder with the estimator's preprocessing parameters."""
    return TabularEncoder(
        missing=est.missing, max_categories=est.max_categories, log_inputs=est.log_inputs
    )


def _encode_for_fit(encoder: TabularEncoder, X: Any) -> np.ndarray:
    """``X`` encoded by the fitted ``encoder``, warning (:class:`UnresolvedColumnWarning`)
    of numeric columns whose values float32 cannot tell apart because they differ only
    below float32's smallest normal number (:data:`~dagmm.training.SMALLEST_SPREAD`).

    Values beyond float32's range are refused by the encoder; values too small for it
    would become zeros and subnormals, a column of them one constant to the network,
    without a word. (Values far from 0 that vary little, such as Unix times, the
    encoder shifts in float64 before the cast: :attr:`TabularEncoder.shifts`.)
    """
    data = _encode_numeric_fast(encoder, X)
    if data is None:
        data = encoder.transform(X)
    if not len(data):
        return data
    high, low = data.max(axis=0), data.min(axis=0)
    if (high.astype(np.float64) - low < SMALLEST_SPREAD).any():  # else none can be
        tiny = unresolved_columns(encoder.training_ranges(X), encoder.shifts)
        warn_unresolved_columns(tiny, stacklevel=4)  # the caller of fit or fit_ensemble
    return data


def unresolved_columns(
    ranges: dict[str, tuple[float, float]], shifts: dict[str, float] | None = None
) -> list[str]:
    """The numeric columns, of their (low, high) training ranges, that vary only below
    float32's smallest normal number (:data:`~dagmm.training.SMALLEST_SPREAD`) once
    ``shifts`` (:attr:`TabularEncoder.shifts`) are subtracted: values of 1e-25 that
    differ by 1e-38 are shifted to [0, 1e-38], where float32 has only subnormals."""
    shifts = shifts or {}
    found = []
    for name, (low, high) in ranges.items():
        shift = shifts.get(name, 0.0)
        if high > low and max(abs(low - shift), abs(high - shift)) < SMALLEST_SPREAD:
            found.append(name)
    return found


def warn_unresolved_columns(names: Sequence[str], stacklevel: int = 2) -> None:
    """:class:`UnresolvedColumnWarning` naming ``names`` (nothing when there are none)."""
    if names:
        warnings.warn(
            f"column(s) {list(names)} vary only below float32's smallest normal number "
            f"({SMALLEST_SPREAD:.2g}): to the float32 network each is one constant, which "
            "tells the model nothing; rescale them (multiply by a power of ten), or leave "
            "them out",
            UnresolvedColumnWarning,
            stacklevel=stacklevel,
        )


def _encode_numeric_fast(encoder: TabularEncoder, X: Any) -> np.ndarray | None:
    """The encoder's output for an all-numeric array or frame, in one cast and one check.

    Returns None whenever the general path could do anything but a plain cast
    (categorical columns, other column sets, non-numeric types, NaN/inf, values
    beyond float32, no rows), so its messages, warnings and imputation apply.
    An array given to a model fitted on named columns gets the general path's
    warning here (once the fast path has succeeded, so it is never given twice).
    """
    if encoder.categories:
        return None
    if isinstance(X, np.ndarray):
        if X.ndim != 2 or X.dtype.kind not in "fiub" or X.shape[1] != len(encoder.columns):
            return None
        values = X
    elif isinstance(X, pd.DataFrame):
        if encoder.input_kind != "frame" or list(map(str, X.columns)) != encoder.columns:
            return None
        dtypes = list(X.dtypes)
        if not all(isinstance(d, np.dtype) and d.kind in "fiub" for d in dtypes):
            return None
        values = X.to_numpy() if len(set(dtypes)) == 1 else X.to_numpy(dtype=np.float64)
    else:
        return None
    out = _cast_finite(values, encoder.log_inputs, encoder.shift_vector())
    if out is not None and isinstance(X, np.ndarray) and encoder.input_kind == "frame":
        encoder.warn_matching_by_position(stacklevel=5)
    return out


def _cast_finite(
    values: np.ndarray, log_inputs: bool, shifts: np.ndarray | None = None
) -> np.ndarray | None:
    """``values`` as a writeable float32 array as the general path casts them (symlog
    with ``log_inputs``, then ``shifts`` subtracted, in float64), or None when there
    are no rows or a value is not finite there."""
    if len(values) == 0:
        return None
    if log_inputs or shifts is not None:
        # As the general path: symlog and the shift in float64, then one cast.
        values = np.asarray(values, dtype=np.float64)
        if not np.isfinite(values).all():
            return None
        if log_inputs:
            values = symlog(values)
        if shifts is not None:
            values = values - shifts
        with np.errstate(over="ignore"):
            out = values.astype(np.float32)
        return out if np.isfinite(out).all() else None
    if values.dtype.kind in "iu":
        # Through float64 as the general path goes, so huge integers round the same way.
        values = values.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.ascontiguousarray(values, dtype=np.float32)
    if not np.isfinite(out).all():
        return None
    return out if out.flags.writeable else out.copy()


@dataclasses.dataclass
class _Members:
    """Trained ensemble: network, mixtures and what was resolved for it."""

    net: DAGMMNet
    mixture: Any
    history: list[dict[str, list[float]]]
    best_epoch: list[int]
    steps: int
    hidden_sizes: tuple[int, ...]
    latent_dim: int
    epochs: int
    batch_size: int
    device: str
    seeds: list[int]
    input_range: np.ndarray  # (S, 2, F): each member's training min and max
    input_levels: list[Levels]  # each member's columns' few distinct training values
    train_energy: list[np.ndarray] | None

    @classmethod
    def trained(
        cls,
        net: DAGMMNet,
        mixture: Any,
        result: Any,
        architecture: tuple[tuple[int, ...], int],
        epochs: int,
        batch_size: int,
        device: torch.device,
        seeds: Sequence[int],
        input_range: np.ndarray,
        input_levels: Sequence[Levels],
        train_energy: list[np.ndarray] | None = None,
    ) -> _Members:
        """What a finished training run (:class:`~dagmm.training.TrainingResult`) leaves.

        ``input_range``: each member's training range, (S, 2, F) (see
        :func:`~dagmm.training.fit_input_scaling`), and ``input_levels`` its numeric
        columns' levels (:func:`_training_levels`). ``train_energy``: each member's
        training-row energies where the mixture pass computed them
        (:func:`~dagmm.training.exact_mixture`), else None.
        """
        hidden, latent = architecture
        return cls(
            net=net,
            mixture=mixture,
            history=result.history,
            best_epoch=result.best_epoch,
            steps=result.steps,
            hidden_sizes=hidden,
            latent_dim=latent,
            epochs=epochs,
            batch_size=batch_size,
            device=str(device),
            seeds=[int(s) for s in seeds],
            input_range=np.asarray(input_range, dtype=np.float64),
            input_levels=list(input_levels),
            train_energy=train_energy,
        )


def _hold_out(
    rows: np.ndarray, fraction: float, rng: np.random.RandomState, where: str = ""
) -> tuple[np.ndarray, np.ndarray]:
    """``(training, validation)`` rows, each sorted: ``fraction`` of ``rows`` drawn by ``rng``."""
    n_val = round(fraction * len(rows))
    if n_val < 2 or len(rows) - n_val < 2:
        raise InvalidInputError(
            f"validation_fraction={fraction} leaves {n_val} validation and "
            f"{len(rows) - n_val} training rows{where}; need at least 2 of each"
        )
    shuffled = rows[rng.permutation(len(rows))]
    return np.sort(shuffled[n_val:]), np.sort(shuffled[:n_val])


def _architecture(est: DAGMM, n_features: int) -> tuple[tuple[int, ...], int]:
    """Encoder hidden sizes and latent size: the estimator's, else :func:`auto_architecture`."""
    auto_hidden, auto_latent = auto_architecture(n_features)
    hidden = (
        tuple(int(h) for h in est.hidden_sizes) if est.hidden_sizes is not None else auto_hidden
    )
    latent = int(est.latent_dim) if est.latent_dim is not None else auto_latent
    return hidden, latent


def _network(
    est: DAGMM, n_features: int, architecture: tuple[tuple[int, ...], int], seeds: Sequence[int]
) -> DAGMMNet:
    """``est``'s network with one member per seed, initialised from those seeds."""
    hidden, latent = architecture
    net = DAGMMNet(
        n_features,
        hidden,
        latent,
        [int(h) for h in est.estimation_hidden_sizes],
        int(est.n_components),
        est.activation,
        float(est.dropout),
        n_members=len(seeds),
    )
    net.reset_parameters(seeds)
    return net


def _training_config(est: DAGMM, epochs: int, batch_size: int) -> TrainingConfig:
    return TrainingConfig(
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=float(est.learning_rate),
        lambda_energy=float(est.lambda_energy),
        lambda_cov=float(est.lambda_cov),
        reg_covar=float(est.reg_covar),
        reconstruction_loss=est.reconstruction_loss,
        patience=int(est.patience) if est.validation_fraction else None,
        weight_decay=float(est.weight_decay),
    )


def _is_int(value: Any) -> bool:
    """An integer parameter's value: a Python or numpy int, not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_real(value: Any) -> bool:
    """A number parameter's value: a real number, not a bool nor text that converts (a
    model fitted with text saves it, and its file's schema refuses it on load)."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _checked_contamination(contamination: Any) -> float:
    """``contamination`` as a float in (0, 0.5] (a real number, see :func:`_is_real`),
    else an InvalidInputError."""
    share = float(contamination) if _is_real(contamination) else math.nan
    if not 0.0 < share <= 0.5:
        raise InvalidInputError(f"contamination must be in (0, 0.5], got {contamination!r}")
    return share


def _checked_random_state(random_state: Any) -> np.random.RandomState:
    """scikit-learn's ``check_random_state``, with an :class:`InvalidInputError` naming the
    parameter (and the way from a numpy ``Generator``) instead of numpy's bare ValueError."""
    if isinstance(random_state, np.random.Generator):
        raise InvalidInputError(
            "random_state must be an int in [0, 2**32 - 1], a numpy RandomState or None, "
            f"got a numpy Generator ({random_state!r}); draw a seed from it: "
            "random_state=int(rng.integers(2**32))"
        )
    try:
        return check_random_state(random_state)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"random_state must be an int in [0, 2**32 - 1], a numpy RandomState or None, "
            f"got {random_state!r} ({exc})"
        ) from None


def _quantile_threshold(scores: np.ndarray, contamination: float) -> float:
    """The energy above which a share ``contamination`` of ``scores`` lies (PyOD's rule)."""
    return float(np.percentile(scores, 100.0 * (1.0 - contamination)))


def _warn_few_rows(est: DAGMM, n_rows: int, latent_dim: int, stacklevel: int) -> None:
    """Warn (:class:`FewRowsWarning`) when ``n_rows`` cannot support full covariances."""
    z_dim = latent_dim + 2
    needed = est.n_components * (z_dim + 1)
    if n_rows < needed:
        warnings.warn(
            f"{n_rows} training rows for {est.n_components} mixture component(s) in a "
            f"{z_dim}-dimensional representation: each full covariance needs at least "
            f"{z_dim + 1} rows ({needed} in all), so the mixture will be set mostly by "
            "reg_covar; use more rows, fewer n_components or a smaller latent_dim",
            FewRowsWarning,
            stacklevel=stacklevel,
        )


def _check_checkpoint_path(est: DAGMM, resume: bool) -> None:
    """Refuse, before any work, a ``checkpoint_path`` holding a file that is no checkpoint
    (see :func:`dagmm.checkpoint.check_checkpoint_path`)."""
    if est.checkpoint_path is not None:
        from .checkpoint import check_checkpoint_path  # an edge (files): imported when used

        check_checkpoint_path(est.checkpoint_path, resume)


def _fit_members(
    est: DAGMM,
    data: np.ndarray,
    member_rows: Sequence[np.ndarray],
    validation_rows: Sequence[np.ndarray] | None,
    seeds: Sequence[int],
    input_levels: Sequence[Levels],
    resume: bool = False,
    drawn_seed: int | None = None,
    run: dict[str, Any] | None = None,
) -> _Members:
    """Train ``len(seeds)`` independent models of ``est``'s configuration together
    (``input_levels``: each member's, :func:`_training_levels`; ``drawn_seed``: what a
    fit without ``random_state`` drew, kept in checkpoints; ``run``: an ensemble's
    description of its run, kept in checkpoints and compared on resume)."""
    n_features = data.shape[1]
    architecture = _architecture(est, n_features)
    smallest = min(len(r) for r in member_rows)
    if smallest < 2:
        raise InvalidInputError(f"need at least 2 training rows per model, got {smallest}")
    _warn_few_rows(est, smallest, architecture[1], stacklevel=4)
    largest = max(len(r) for r in member_rows)
    batch_size = int(min(est.batch_size, largest))
    epochs = int(est.epochs) if est.epochs is not None else auto_epochs(largest, batch_size)
    device = resolve_device(est.device)
    config = _training_config(est, epochs, batch_size)
    random = fit_generator(int(seeds[0]))
    with seeded_device_rng(device, int(seeds[0])):
        net = _network(est, n_features, architecture, seeds)
        x = torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32)).to(device)
        rows = [torch.as_tensor(np.asarray(r), dtype=torch.long) for r in member_rows]
        offset, scale, input_range = fit_input_scaling(x, [r.to(device) for r in rows], est.scaler)
        net.input_offset.copy_(offset.cpu())
        net.input_scale.copy_(scale.cpu())
        net.to(device)
        val = (
            [torch.as_tensor(np.asarray(r), dtype=torch.long) for r in validation_rows]
            if validation_rows
            else None
        )
        checkpointer = None
        if est.checkpoint_path is not None:
            from .checkpoint import Checkpointer  # an edge (files): imported only when used

            checkpointer = Checkpointer.for_fit(
                est, data, member_rows, validation_rows, seeds, epochs, resume, drawn_seed, run
            )
        try:
            result = train_members(
                net,
                x,
                rows,
                config,
                val,
                _progress_callback(est, epochs),
                checkpoint=checkpointer,
                resume=checkpointer.resume_snapshot(net) if checkpointer else None,
                random=random,
            )
            if not all(bool(torch.isfinite(p).all()) for p in net.parameters()):
                raise TrainingDivergedError(
                    f"training diverged at epoch {epochs}: network weights became non-finite "
                    "in the last epoch; lower learning_rate or raise reg_covar",
                    epoch=epochs,
                    terms=["weights"],
                )
        except TrainingDivergedError as exc:
            if checkpointer is None:
                raise
            raise TrainingDivergedError(
                f"{exc}; {checkpointer.describe_last()}", exc.epoch, exc.terms
            ) from None
        mixture, train_energy = exact_mixture(net, x, rows, config.reg_covar)
    return _Members.trained(
        net,
        mixture,
        result,
        architecture,
        epochs,
        batch_size,
        device,
        seeds,
        input_range.numpy(),
        input_levels,
        train_energy,
    )


def _checked_energy(energy: np.ndarray, index: pd.Index | None = None) -> np.ndarray:
    """``energy``, or :class:`NumericalError` naming the rows whose energy is not finite."""
    bad = np.flatnonzero(~np.isfinite(energy))
    if len(bad):
        raise NumericalError(
            f"non-finite energy for {len(bad)} row(s) ({describe_rows(bad, index=index)}): "
            "the input is far outside the range the "
            "model can represent in float32 (a scaled value beyond about 1e19 overflows the "
            "reconstruction features); such rows are anomalous by any measure: clip or "
            "remove them"
        )
    return energy


def _progress_callback(est: DAGMM, epochs: int):
    if not est.verbose or epochs == 0:
        return None
    if int(est.verbose) >= 2:

        def log_line(epoch: int, terms: dict[str, np.ndarray]) -> None:
            parts = " ".join(f"{k}={float(np.mean(v)):.5g}" for k, v in terms.items())
            print(f"epoch {epoch}/{epochs} {parts}", file=sys.stderr, flush=True)

        return log_line
    from ._progress import progress_bar

    bar = progress_bar(total=epochs, desc="dagmm fit", unit="epoch", file=sys.stderr)

    def advance(epoch: int, terms: dict[str, np.ndarray]) -> None:
        bar.set_postfix(loss=f"{float(np.mean(terms['loss'])):.4g}", refresh=False)
        bar.update(epoch - bar.n)
        if epoch >= epochs:
            bar.close()

    return advance


def fit_ensemble(
    estimator: DAGMM,
    X: Any,
    seeds: Sequence[int],
    rows: Sequence[np.ndarray] | None = None,
    *,
    resume: bool = False,
    run: Mapping[str, Any] | None = None,
) -> list[DAGMM]:
    """Train one independent model per seed in a single vectorised run.

    Each returned model is the same as a separately fitted ``estimator`` in
    architecture and protocol, at a fraction of the cost. Member ``i`` starts
    from the initialisation of a separate fit whose ``seed_`` is ``seeds[i]``
    (shuffling and dropout draws differ); it keeps ``seeds[i]`` as its
    ``random_state`` and ``seed_``, but a separate fit with
    ``random_state=seeds[i]`` draws another ``seed_`` from that state, so
    ``clone(member).fit(X)`` trains another model (until 2026-12-07 this said
    the initialisation per seed was identical).

    Parameters
    ----------
    estimator : DAGMM
        Unfitted configuration (``random_state`` is ignored; ``n_restarts`` must
        be 1: give each model's restarts seeds of their own). With
        ``validation_fraction``, each model holds out that share of its rows
        (drawn with its seed), and training stops once no model has improved its
        validation objective for ``patience`` epochs; each keeps its best weights.
    X : array or DataFrame
        All data; each model trains on ``X[rows[s]]``.
    seeds : sequence of int
        One seed per model.
    rows : sequence of integer arrays or boolean masks, optional
        Training rows of each model, as positions in ``X`` or a boolean mask over
        its rows (default: all rows for every model).
    resume : bool, default False
        Continue from the estimator's ``checkpoint_path`` (written every
        ``checkpoint_every`` epochs by any run with one) as :meth:`DAGMM.fit`
        does: the same models as an uninterrupted run, bit for bit; a missing
        checkpoint starts from epoch 1 with a warning, and one written by another
        run (data, rows, seeds, parameters or ``run``) raises
        :class:`~dagmm.exceptions.CheckpointError` naming what differs.
    run : mapping, optional
        JSON-serialisable description of the run kept in its checkpoints (such
        as ``dagmm reproduce``'s data set, seeds and restarts), so that a resume
        of another run is refused in those terms rather than by its data or seeds.

    Returns
    -------
    list of fitted DAGMM, one per seed; ``decision_scores_`` hold the energies of
    each model's own rows (its held-out rows included, as :meth:`DAGMM.fit` does).
    """
    estimator._validate_params()
    if resume and estimator.checkpoint_path is None:
        raise InvalidInputError("resume=True needs the estimator's checkpoint_path")
    _check_checkpoint_path(estimator, resume)
    if estimator.n_restarts != 1:
        raise InvalidInputError(
            "fit_ensemble trains one model per seed and takes n_restarts=1; give each "
            "model's restarts seeds of their own (as `dagmm reproduce --restarts` does), "
            f"or fit one DAGMM(n_restarts={estimator.n_restarts!r})"
        )
    seeds = _checked_seeds(seeds)
    X = as_table(X)
    n_given = len(X)
    if rows is None:
        # Every model on every row: the encoder learns from X itself, no union to build.
        rows = [np.arange(len(X))] * len(seeds)
        subset = X if hasattr(X, "iloc") else np.asarray(X)
    elif len(rows) != len(seeds):
        raise InvalidInputError(f"got {len(rows)} row sets for {len(seeds)} seeds")
    else:
        rows = [_checked_rows(r, len(X), i) for i, r in enumerate(rows)]
        union = np.unique(np.concatenate([np.asarray(r) for r in rows]))
        subset = X.iloc[union] if hasattr(X, "iloc") else np.asarray(X)[union]
        # Only the rows some model trains on are encoded: a NaN or an unseen category
        # in a row no model sees is none of this fit's business. Rows are then counted
        # in the subset.
        rows = [np.searchsorted(union, r) for r in rows]
    X = subset
    try:
        encoder = _new_encoder(estimator).fit(X)
        data = _encode_for_fit(encoder, X)
    except InvalidInputError as exc:
        if hasattr(X, "iloc") or len(X) == n_given:
            raise
        # an array's rows are named by position, here among the training rows only
        raise InvalidInputError(
            f"{exc} (rows counted among the {len(X)} rows of X that some model trains on, in order)"
        ) from None
    train_rows, val_rows = list(rows), None
    if estimator.validation_fraction:
        train_rows, val_rows = [], []
        for member_rows, seed in zip(rows, seeds, strict=True):
            kept, held_out = _hold_out(
                np.asarray(member_rows),
                estimator.validation_fraction,
                np.random.RandomState(int(seed)),
                f" for seed {seed}",
            )
            train_rows.append(kept)
            val_rows.append(held_out)
    # An empty run description still marks the checkpoint as an ensemble's (whose seeds
    # were given, not drawn), for the wording of a refused resume.
    levels = _training_levels(encoder, X, data, train_rows)
    members = _fit_members(
        estimator, data, train_rows, val_rows, seeds, levels, resume=resume, run=dict(run or {})
    )
    models = []
    for index, seed in enumerate(seeds):
        model = estimator.__class__(**{**estimator.get_params(), "random_state": int(seed)})
        model._set_fitted(encoder, members, index)
        model.restart_seeds_ = [int(seed)]
        model.restart_losses_ = [restart_loss(members.history[index])]
        model.restart_combine_ = None
        if members.train_energy is not None and val_rows is None:
            model.decision_scores_ = _checked_energy(members.train_energy[index])
        else:
            model.decision_scores_ = model._energy_numeric(data[np.asarray(rows[index])])
        model._set_threshold(model.decision_scores_)
        models.append(model)
    return models


def _training_levels(
    encoder: TabularEncoder, X: Any, data: np.ndarray, member_rows: Sequence[np.ndarray]
) -> list[Levels]:
    """Each member's levels of the numeric columns of ``data`` (``X`` encoded), the
    values ``missing="impute"`` filled in left out where no row holds them."""
    # (input column, its encoded column) of each numeric column
    numeric = [
        (c, idx[0])
        for c, (name, idx) in enumerate(encoder.groups)
        if name not in encoder.categories
    ]
    mask = encoder.imputed(X)
    stand_ins = None
    if mask is not None and mask.any():
        stand_ins = np.zeros(data.shape, dtype=bool)
        for c, j in numeric:
            stand_ins[:, j] = mask[:, c]
    return member_levels(data, member_rows, [j for _, j in numeric], stand_ins)


def _checked_seeds(seeds: Sequence[int]) -> list[int]:
    """``seeds`` as ints, each a valid ``random_state`` (the models keep them as theirs, and
    a model file holds one in [0, 2**32 - 1]), else an :class:`InvalidInputError`."""
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Iterable):
        shown = str(seeds) if _is_int(seeds) else repr(seeds)
        hint = f"; for {shown} models give range({shown})" if _is_int(seeds) else ""
        raise InvalidInputError(
            "seeds must be a sequence of ints, one model per seed, got "
            f"{type(seeds).__name__} {shown}{hint}"
        )
    values = list(seeds)
    if not values:
        raise InvalidInputError("seeds is empty: give at least one seed")
    for seed in values:
        if not _is_int(seed) or not 0 <= seed <= 2**32 - 1:
            raise InvalidInputError(f"every seed must be an int in [0, 2**32 - 1], got {seed!r}")
    return [int(s) for s in values]


def _checked_rows(rows: Any, n_rows: int, which: int) -> np.ndarray:
    """One model's training rows as sorted-as-given int64 positions in ``[0, n_rows)``;
    a boolean mask over the ``n_rows`` rows becomes the positions it selects."""
    values = np.asarray(rows)
    if values.dtype.kind == "b" and values.shape == (n_rows,):
        values = np.flatnonzero(values)
    if values.size == 0:
        raise InvalidInputError(f"rows[{which}] selects no row: each model needs rows to train on")
    if values.ndim != 1 or (values.size and values.dtype.kind not in "iu"):
        raise InvalidInputError(
            f"rows[{which}] must be a 1-D array of row positions (integers) or a boolean mask "
            f"of length {n_rows}, got {values.dtype} of shape {values.shape}"
        )
    values = values.astype(np.int64)
    outside = values[(values < 0) | (values >= n_rows)]
    if len(outside):
        raise InvalidInputError(
            f"rows[{which}] holds position(s) outside [0, {n_rows}) such as {int(outside[0])}"
        )
    return values
