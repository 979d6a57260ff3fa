"""Fitting on files larger than memory: train on a sample, fit the mixture on the whole file.

``dagmm fit big.parquet --sample-rows N`` trains the network on a uniform
random sample of N rows (:func:`sample_table`, one streaming pass), then
:func:`refit_mixture_on_file` replaces the test-time mixture with the exact one
of the WHOLE file (the gamma-weighted statistics summed over every row in one
streaming pass, float64) and sets the threshold to the exact quantile of the
whole file's energies (a second pass that spills them to a temporary file of
8 bytes per row, then :func:`dagmm.quantile.exact_quantile`). Memory stays
bounded by the sample and a chunk, whatever the file's size.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from .exceptions import InvalidInputError
from .mixture import MixtureStatistics
from .quantile import exact_quantile
from .tableio import CsvFormat, DataFileError, iter_table, text_columns, typed_once
from .tabular import UnseenCategoryWarning, summed_unseen_categories
from .training import FittedMixture, accumulated_statistics, eval_memberships, fitted_mixture

__all__ = ["refit_mixture_on_file", "sample_table", "stream_file_statistics"]


def sample_table(
    path: str | os.PathLike[str],
    n_rows: int,
    random_state: int | None = None,
    chunk_rows: int = 65536,
    columns: list[str] | None = None,
    csv_format: CsvFormat | None = None,
) -> pd.DataFrame:
    """A uniform random sample of ``n_rows`` rows (without replacement) of a CSV or Parquet file.

    One streaming pass: every row draws a uniform key and the ``n_rows`` rows
    with the smallest keys are kept (a reservoir), so memory holds the sample
    and one chunk. The sample keeps the file's row order and is indexed by each
    row's 0-based position in the file, so that an error in it (a missing value,
    say) names the file's row; the same seed gives the same sample. A file with
    fewer rows is returned whole. ``csv_format``: as :func:`dagmm.tableio.iter_table`.
    """
    if n_rows < 1:
        raise InvalidInputError(f"sample size must be >= 1, got {n_rows}")
    rng = np.random.default_rng(random_state)
    kept: pd.DataFrame | None = None
    kept_keys = np.zeros(0)
    kept_pos = np.zeros(0, dtype=np.int64)
    start = 0
    # Words such as "NA" are read as missing or as values once, on the whole sample,
    # so that a column is read the same way in every chunk.
    chunks = iter_table(
        path, chunk_rows=chunk_rows, columns=columns, infer=False, csv_format=csv_format
    )
    for chunk in chunks:
        keys = rng.random(len(chunk))
        positions = np.arange(start, start + len(chunk))
        start += len(chunk)
        chunk = chunk.reset_index(drop=True)
        if kept is None:
            kept, pool_keys, pool_pos = chunk, keys, positions
        else:
            kept = pd.concat([kept, chunk], ignore_index=True)
            pool_keys = np.concatenate([kept_keys, keys])
            pool_pos = np.concatenate([kept_pos, positions])
        if len(kept) > n_rows:
            best = np.argpartition(pool_keys, n_rows - 1)[:n_rows]
            kept, pool_keys, pool_pos = kept.iloc[best], pool_keys[best], pool_pos[best]
            kept = kept.reset_index(drop=True)
        kept_keys, kept_pos = pool_keys, pool_pos
    if kept is None or start == 0:
        raise DataFileError(f"{path}: no rows")
    order = np.argsort(kept_pos, kind="stable")
    sample = kept.iloc[order]
    sample.index = pd.Index(kept_pos[order])
    return typed_once(path, sample, csv_format)


def _encoded_chunks(
    model: Any, path: str | os.PathLike[str], chunk_rows: int, csv_format: CsvFormat | None
) -> Iterator[np.ndarray]:
    names = getattr(model, "feature_names_in_", None)
    columns = [str(c) for c in names] if names is not None else None
    start = 0
    for chunk in iter_table(
        path,
        chunk_rows,
        columns,
        text_columns=text_columns(model),
        categories=text_columns(model),
        csv_format=csv_format,
    ):
        chunk.index = pd.RangeIndex(start, start + len(chunk))
        try:
            yield model.encoder_.transform(chunk)
        except InvalidInputError as exc:
            raise InvalidInputError(f"{path}: {exc}") from None
        start += len(chunk)


@torch.no_grad()
def stream_file_statistics(
    model: Any,
    path: str | os.PathLike[str],
    chunk_rows: int = 65536,
    csv_format: CsvFormat | None = None,
) -> tuple[MixtureStatistics, int]:
    """Exact gamma-weighted statistics of every row of a file under ``model``'s network.

    The streaming counterpart of :func:`dagmm.training.stream_statistics`:
    eval mode, float64 accumulation, centred on the first chunk's mean.
    ``csv_format``: as :func:`dagmm.tableio.iter_table`.

    Returns
    -------
    statistics (leading member dimension: the model's networks), number of rows
    """
    net = model.net_
    net.eval()
    device = model._scoring_device()
    n_rows = 0

    def chunks() -> Iterator[tuple[torch.Tensor, torch.Tensor, None]]:
        nonlocal n_rows
        for data in _encoded_chunks(model, path, chunk_rows, csv_format):
            x = torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32)).to(device)
            n_rows += len(data)
            yield (*eval_memberships(net, x.unsqueeze(0).expand(net.n_members, -1, -1)), None)

    remaining = chunks()
    first = next(remaining, None)
    if first is None:
        raise DataFileError(f"{path}: no rows")
    total = accumulated_statistics(itertools.chain([first], remaining), centre=True)
    return total, n_rows


def refit_mixture_on_file(
    model: Any,
    path: str | os.PathLike[str],
    training_rows: Any = None,
    chunk_rows: int = 65536,
    spill_dir: str | os.PathLike[str] | None = None,
    quantile_small: int = 1 << 16,
    csv_format: CsvFormat | None = None,
) -> int:
    """Replace a fitted model's mixture and threshold with those of the whole file.

    Two streaming passes: the exact mixture from every row's statistics, then
    every row's energy (spilled to a temporary float64 file in ``spill_dir``,
    default the system temp folder) for the exact ``1 - contamination``
    quantile and the score statistics. A model keeping several restarts
    (``n_members_`` above 1) gets each network's mixture from the file, and each
    network's standardisation (``restart_offsets_``, ``restart_scales_``) from
    the energies of every row, spilled the same way, before they are combined.
    Only the model's columns are read, as ``csv_format`` says for a CSV file (see
    :func:`dagmm.tableio.iter_table`).
    ``decision_scores_`` become the energies of ``training_rows`` (the sample
    the network was trained on) under the new mixture, or are removed.

    Returns
    -------
    int
        Rows in the file.
    """
    # Rows beyond the training sample can hold categories it lacked: counted over the file
    # once, on the first pass; the later passes read the same rows again.
    with summed_unseen_categories(f"{path}: "):
        stats, n_rows = stream_file_statistics(model, path, chunk_rows, csv_format)

    def encoded() -> Iterator[np.ndarray]:
        return _encoded_chunks(model, path, chunk_rows, csv_format)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnseenCategoryWarning)
        return _refit_from_statistics(
            model,
            path,
            encoded,
            stats,
            n_rows,
            training_rows,
            chunk_rows,
            spill_dir,
            quantile_small,
        )


def _refit_from_statistics(
    model: Any,
    path: str | os.PathLike[str],
    encoded: Callable[[], Iterator[np.ndarray]],
    stats: MixtureStatistics,
    n_rows: int,
    training_rows: Any,
    chunk_rows: int,
    spill_dir: str | os.PathLike[str] | None,
    quantile_small: int,
) -> int:
    """:func:`refit_mixture_on_file` after its first pass (``stats`` of ``n_rows`` rows);
    ``encoded()`` reads the file's rows again, encoded, a chunk at a time."""
    fitted = fitted_mixture(stats, float(model.reg_covar))
    members = model.n_members_
    model.mixture_ = FittedMixture(*(t[0] if members == 1 else t for t in fitted))
    with tempfile.TemporaryDirectory(dir=spill_dir, prefix="dagmm-energies-") as tmp:
        if members > 1:
            # Each network's energies are standardised by their mean and spread over the
            # whole file before they are combined: those come first, from a spill of them.
            restart_spill = Path(tmp) / "restart-energies.f64"
            with open(restart_spill, "wb") as handle:
                _spill_energies(model, path, encoded(), handle, n_rows)
            model._set_standardisation(*_column_moments(restart_spill, n_rows, members, chunk_rows))

            def scores() -> Iterator[np.ndarray]:
                rows = np.memmap(restart_spill, dtype=np.float64, mode="r", shape=(n_rows, members))
                step = max(1, chunk_rows)
                for start in range(0, n_rows, step):
                    yield model._combined(np.asarray(rows[start : start + step]).T)

            score_chunks: Iterable[np.ndarray] = scores()
        else:
            score_chunks = (model._energy_numeric(d) for d in encoded())
        spill = Path(tmp) / "energies.f64"
        total, total_sq, low, high, written = 0.0, 0.0, np.inf, -np.inf, 0
        with open(spill, "wb") as handle:
            for energy in score_chunks:
                handle.write(energy.tobytes())
                total += float(energy.sum())
                low, high = min(low, float(energy.min())), max(high, float(energy.max()))
                written += len(energy)
        if written != n_rows:
            raise DataFileError(f"{path}: changed while it was read ({n_rows} then {written} rows)")
        energies = np.memmap(spill, dtype=np.float64, mode="r", shape=(n_rows,))
        step = max(1, chunk_rows) * 16

        def chunks() -> Iterator[np.ndarray]:
            for start in range(0, n_rows, step):
                yield np.asarray(energies[start : start + step])

        mean = total / n_rows
        for chunk in chunks():
            total_sq += float(((chunk - mean) ** 2).sum())
        threshold = exact_quantile(
            chunks, 1.0 - float(model.contamination), n_rows, small=quantile_small
        )
    model.threshold_ = float(threshold)
    model.contamination_ = float(model.contamination)
    model.score_stats_ = {
        "min": low,
        "max": high,
        "mean": float(mean),
        "std": float(np.sqrt(total_sq / n_rows)),
    }
    if training_rows is not None:
        model.decision_scores_ = model.decision_function(training_rows)
        model.labels_ = (model.decision_scores_ > model.threshold_).astype(int)
    else:
        # Energies under the old mixture would no longer match the model.
        for name in ("decision_scores_", "labels_"):
            if hasattr(model, name):
                delattr(model, name)
    return n_rows


def _spill_energies(
    model: Any, path: Any, encoded: Iterable[np.ndarray], handle: Any, n_rows: int
) -> None:
    """Write every network's energy of every row of ``path`` (``encoded``, its rows
    encoded) to ``handle``, (rows, networks)."""
    written = 0
    for data in encoded:
        energies = model._member_energies(data)
        handle.write(np.ascontiguousarray(energies.T).tobytes())
        written += len(data)
    if written != n_rows:
        raise DataFileError(f"{path}: changed while it was read ({n_rows} then {written} rows)")


def _column_moments(
    spill: Path, n_rows: int, members: int, chunk_rows: int
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation (ddof 0) of each column of a (rows, networks) spill."""
    rows = np.memmap(spill, dtype=np.float64, mode="r", shape=(n_rows, members))
    step = max(1, chunk_rows) * 16
    total = np.zeros(members)
    for start in range(0, n_rows, step):
        total += np.asarray(rows[start : start + step]).sum(axis=0)
    mean = total / n_rows
    squares = np.zeros(members)
    for start in range(0, n_rows, step):
        squares += ((np.asarray(rows[start : start + step]) - mean) ** 2).sum(axis=0)
    return mean, np.sqrt(squares / n_rows)
