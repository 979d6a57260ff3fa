"""``dagmm demo``, ``fit``, ``score`` and ``info``."""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import numpy as np

from ..presets import PRESETS
from .params import (
    CHUNK_ROWS_OPTION,
    THREADS_OPTION,
    FiniteFloatRange,
    GuessingChoice,
    UserPath,
    csv_format_options,
    estimator_options,
    estimator_params,
    model_device_option,
    refuse_stdin_model,
    restart_options,
)

if TYPE_CHECKING:  # the CLI imports the package's modules when a command runs
    import pandas as pd

    from ..batch import ScoredRows
    from ..tableio import CsvFormat

_PRESET_CHOICE = GuessingChoice(sorted(PRESETS))


#: Fewest rows ``dagmm demo`` takes: each half holds at least 2 (a fit needs 2 rows).
DEMO_MIN_ROWS = 4
#: Largest ``--seed``: the estimator's ``random_state`` range.
DEMO_MAX_SEED = 2**32 - 1


@click.command()
@click.option(
    "--rows",
    default=20000,
    show_default=True,
    type=click.IntRange(min=DEMO_MIN_ROWS),
    help="Rows to generate: at least 4, and enough to plant one anomaly (11 at "
    "--anomaly-ratio 0.05).",
)
@click.option(
    "--anomaly-ratio",
    default=0.05,
    show_default=True,
    type=FiniteFloatRange(0, 0.5, min_open=True),
    help="Share of planted anomalies, and of the test half flagged.",
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=click.IntRange(0, DEMO_MAX_SEED),
    help="Seed for data, split and model.",
)
@click.option("--save-model", type=UserPath(dir_okay=False), help="Also write the model here.")
@click.option(
    "--report",
    "report_path",
    type=UserPath(dir_okay=False),
    help="Also write an HTML report on the test half here, named .html or .htm (needs matplotlib).",
)
@THREADS_OPTION
def demo(
    rows: int, anomaly_ratio: float, seed: int, save_model: str | None, report_path: str | None
) -> None:
    """Train on a built-in synthetic data set with planted anomalies and report how it does.

    Rows are split 50/50; the model trains unsupervised on the first half
    (anomalies included) and flags the top anomaly-ratio of the second half.
    An untrained network with the same protocol is the control.
    """
    from .. import DAGMM
    from ..metrics import evaluate
    from ..synthetic import make_tabular_anomalies

    # before any data is generated: a mistake must not cost the run
    _check_demo_options(rows, anomaly_ratio, save_model, report_path)
    started = time.perf_counter()
    frame, y = make_tabular_anomalies(rows, anomaly_ratio, seed)
    order = np.random.default_rng(seed).permutation(len(frame))
    train, test = order[: len(order) // 2], order[len(order) // 2 :]
    click.echo(
        f"data: {len(frame)} rows x {frame.shape[1]} columns "
        f"({', '.join(frame.columns)}), {int(y.sum())} planted "
        f"{'anomaly' if int(y.sum()) == 1 else 'anomalies'}"
    )
    results = {}
    for name, epochs in (("untrained control", 0), ("DAGMM (trained)", None)):
        model = DAGMM(
            epochs=epochs,
            contamination=anomaly_ratio,
            random_state=seed,
            verbose=int(sys.stderr.isatty()),
        )
        model.fit(frame.iloc[train])
        results[name] = evaluate(y[test], model.decision_function(frame.iloc[test]), anomaly_ratio)
    click.echo(f"\ntest half: {len(test)} rows, flagging the top {anomaly_ratio:.0%} by energy")
    click.echo(f"{'model':<20} {'precision':>9} {'recall':>7} {'F1':>6} {'AUROC':>6} {'AUPRC':>6}")
    for name, m in results.items():
        click.echo(
            f"{name:<20} {m['precision']:>9.3f} {m['recall']:>7.3f} {m['f1']:>6.3f} "
            f"{_demo_metric(m['auroc'])} {_demo_metric(m['auprc'])}"
        )
    in_test = int(y[test].sum())
    if in_test in (0, len(test)):
        from ..report import NOT_AVAILABLE

        held = "no planted anomaly" if in_test == 0 else "planted anomalies only"
        click.echo(
            f"the test half holds {held}: AUROC and AUPRC, which rank anomalies against "
            f"normal rows, are {NOT_AVAILABLE}; more --rows (or another --seed) puts both "
            "in it"
        )
    click.echo(
        f"\ntrained {model.epochs_} epochs, {model.n_iter_} steps; "
        f"wall time {time.perf_counter() - started:.1f} s"
    )
    if save_model:
        model.save(save_model)
        click.echo(f"model written to {save_model}")
    if report_path:
        from ..report import write_report

        write_report(
            model,
            frame.iloc[test].reset_index(drop=True),
            report_path,
            labels=y[test],
            ids=test,
            title="DAGMM demo: synthetic flow records, test half",
            source=f"dagmm demo --rows {rows} --seed {seed} (test half)",
            label_name="planted anomaly",
        )
        click.echo(f"report written to {report_path}")


def _demo_metric(value: float) -> str:
    """An AUROC or AUPRC in the demo's table: n/a (as ``dagmm report`` shows it) where
    the test half holds one class only."""
    from ..report import NOT_AVAILABLE

    return f"{NOT_AVAILABLE:>6}" if math.isnan(value) else f"{value:>6.3f}"


def demo_min_rows(anomaly_ratio: float) -> int | None:
    """The fewest rows at which ``dagmm demo`` plants an anomaly at ``anomaly_ratio``
    (it plants ``round(anomaly_ratio * rows)``), at least :data:`DEMO_MIN_ROWS`; None
    where that is beyond any number of rows a machine could hold."""
    bound = 0.5 / anomaly_ratio
    if bound > 2**53:
        return None
    rows = max(DEMO_MIN_ROWS, math.floor(bound) - 1)
    while round(anomaly_ratio * rows) < 1:
        rows += 1
    return rows


def _check_demo_options(
    rows: int, anomaly_ratio: float, save_model: str | None, report_path: str | None
) -> None:
    """The mistakes in ``dagmm demo``'s options and output paths, found before any work."""
    from .._atomic import check_not_an_input, check_writable
    from ..exceptions import InvalidInputError

    if round(anomaly_ratio * rows) < 1:
        least = demo_min_rows(anomaly_ratio)
        way_out = f"give --rows {least} or more, or" if least is not None else "give"
        raise click.UsageError(
            f"--rows {rows} at --anomaly-ratio {anomaly_ratio:g} plants no anomaly "
            f"({anomaly_ratio:g} x {rows} rounds to 0): {way_out} a larger --anomaly-ratio"
        )
    if save_model == "-":
        raise InvalidInputError(
            "demo --save-model -: a model is a file read back by path (safetensors), not a "
            "stream; give a file name such as model.dagmm"
        )
    if report_path == "-":
        raise InvalidInputError(
            "demo --report -: a report is an HTML file, not a stream; give a file name such "
            "as report.html"
        )
    if save_model:
        check_writable(save_model)
        check_replaceable(save_model, "--save-model", "model")
    if report_path:
        from ..report import check_report_target, require_matplotlib
        from .report import check_html_name

        require_matplotlib()  # fail before training when matplotlib is missing
        check_html_name(report_path, "--report", png_hint=False)
        check_report_target(report_path, "html")
        if save_model:
            check_not_an_input(report_path, "--report", {"--save-model": save_model})


@click.command()
@click.argument("data", type=UserPath(dir_okay=True))
@click.option("--out", "out", required=True, type=UserPath(), help="Model file to write.")
@click.option(
    "--preset", type=_PRESET_CHOICE, help="Start from a paper configuration (default: none)."
)
@click.option(
    "--exclude",
    multiple=True,
    help="Column to leave out; repeatable, or a comma list: --exclude id,label.",
)
@csv_format_options
@estimator_options
@click.option(
    "--contamination",
    type=FiniteFloatRange(0, 0.5, min_open=True),
    help="Share of the training rows the threshold flags (default: the preset's, else 0.1).",
)
@click.option(
    "--validation-fraction",
    type=FiniteFloatRange(0, 1, min_open=True, max_open=True),
    help="Hold out this share of the rows; stop after 10 epochs without improving their "
    "objective, keeping the best weights (default: none).",
)
@click.option(
    "--missing",
    type=GuessingChoice(["raise", "impute"]),
    help="raise (default): a missing value is an error naming it; impute: training "
    "medians and modes.",
)
@click.option(
    "--max-categories",
    type=click.IntRange(min=1),
    help="Most distinct values a text column may have (default 1000); more is an error.",
)
@click.option(
    "--random-state",
    type=int,
    help="Seed, for the same model every run (default: one drawn at random and printed, so "
    "that the fit can be repeated; with --checkpoint, kept in the checkpoint).",
)
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="-v progress bar (in a log file: a line every 10 s), -vv a line per epoch.",
)
@click.option(
    "--checkpoint",
    "checkpoint_path",
    type=UserPath(dir_okay=False),
    help="Write a training checkpoint here (safetensors, no pickle; default: none).",
)
@click.option(
    "--checkpoint-every", type=click.IntRange(min=1), help="Epochs between checkpoints (default 1)."
)
@click.option(
    "--resume", is_flag=True, help="Continue from --checkpoint (same result as uninterrupted)."
)
@click.option(
    "--distributed",
    is_flag=True,
    help="Exact data-parallel training; launch with torchrun --nproc-per-node N (see docs).",
)
@click.option(
    "--sample-rows",
    type=click.IntRange(min=2),
    help="Train on a uniform random sample of this many rows; the mixture and the "
    "threshold are then computed over the whole file, streamed (default: train on every row).",
)
@restart_options
@THREADS_OPTION
def fit(
    data: str,
    out: str,
    preset: str | None,
    exclude: tuple[str, ...],
    verbose: int,
    resume: bool,
    distributed: bool,
    sample_rows: int | None,
    csv_format: CsvFormat,
    **options,
) -> None:
    """Train a model on DATA (CSV, Parquet file or folder, Feather, JSON Lines); write --out."""
    from .. import DAGMM
    from ..exceptions import DistributedInputError, InvalidInputError
    from ..tableio import DataFileError, drop_empty_unnamed, read_table
    from .pipes import shown

    try:
        _check_fit_options(data, out, distributed, resume, sample_rows, options)
    except InvalidInputError as exc:
        if not distributed:
            raise
        # every process checks the same command line: rank 0 alone says what is wrong
        raise DistributedInputError(str(exc)) from None
    if distributed:
        return _fit_distributed(data, out, preset, exclude, verbose, options, csv_format)
    drawn = _drawn_random_state(options)
    if sample_rows:
        from ..outofcore import sample_table

        frame = sample_table(data, sample_rows, options.get("random_state"), csv_format=csv_format)
    else:
        frame = read_table(data, csv_format=csv_format)
    if len(frame) == 0:
        # named here: the estimator's own message cannot say which file held no rows
        raise DataFileError(f"{shown(data)}: no rows to train on")
    frame, unnamed = drop_empty_unnamed(frame)
    if unnamed:
        _note_unnamed(data, unnamed)
    frame = without_excluded(frame, exclude, data)
    params = _model_params(verbose, options)
    model = DAGMM.from_preset(preset, **params) if preset else DAGMM(**params)
    started = time.perf_counter()
    with stopping_at(options.get("checkpoint_path")):
        model.fit(frame, resume=resume)
    if sample_rows:
        from ..outofcore import refit_mixture_on_file

        n_file = refit_mixture_on_file(model, data, training_rows=frame, csv_format=csv_format)
        click.echo(f"mixture and threshold computed over all {n_file} rows of {shown(data)}")
    model.save(out)
    # the rows held out for validation are scored, not trained on
    held = round(float(model.validation_fraction) * len(frame)) if model.validation_fraction else 0
    click.echo(
        f"trained on {len(frame) - held} rows x {frame.shape[1]} columns"
        f"{f' ({held} more held out for validation)' if held else ''} in "
        f"{time.perf_counter() - started:.1f} s ({model.n_iter_} steps{_restarts_note(model)}); "
        f"threshold {model.threshold_:.4g}; model written to {out}"
    )
    if drawn is not None:
        click.echo(f"random state {drawn} (drawn: --random-state {drawn} repeats this fit)")


def without_excluded(frame: pd.DataFrame, exclude: tuple[str, ...], data: str) -> pd.DataFrame:
    """``frame`` less the ``--exclude`` columns; one option may list several, comma
    separated (``--exclude id,label``), unless the whole is a column's name.

    Raises
    ------
    InvalidInputError
        A name that is no column of the file: the message gives the closest names,
        else the file's columns.
    """
    from ..exceptions import InvalidInputError
    from ..tabular import close_names

    columns = [str(c) for c in frame.columns]
    names: list[str] = []
    for given in exclude:
        parts = [given] if given in columns else [p.strip() for p in given.split(",") if p.strip()]
        names.extend(p for p in parts if p not in names)
    missing = [name for name in names if name not in columns]
    if missing:
        near = close_names(missing, columns)
        listed = ", ".join(map(repr, columns[:30])) + (
            f", ... ({len(columns)} in all)" if len(columns) > 30 else ""
        )
        raise InvalidInputError(
            f"{data}: --exclude column(s) {missing} not in the file"
            + (near or f"; its columns: {listed}")
        )
    return frame.drop(columns=names)


def _drawn_random_state(options: dict[str, Any]) -> int | None:
    """Draw the fit's seed where none was given, so the output can say how to repeat
    the fit (the sample of --sample-rows included); None where one was given.

    Not with --checkpoint: a resumed fit finds the seed its checkpoint drew, which a
    new draw here would contradict (the same command must resume it).
    """
    if options.get("random_state") is not None or options.get("checkpoint_path"):
        return None
    import secrets

    options["random_state"] = secrets.randbelow(2**31 - 1)
    return int(options["random_state"])


def _check_fit_options(
    data: str, out: str, distributed: bool, resume: bool, sample_rows: int | None, options: dict
) -> None:
    """The mistakes in ``dagmm fit``'s options and output paths, found before any work."""
    from .._atomic import check_not_an_input, check_writable
    from ..exceptions import InvalidInputError
    from .main import torchrun_rank

    if out == "-":
        raise InvalidInputError(
            "fit --out -: a model is a file read back by path (safetensors), not a stream; "
            "give a file name such as model.dagmm"
        )
    if distributed and sample_rows:
        raise InvalidInputError("--distributed and --sample-rows cannot be combined")
    # the checkpoint is rewritten during training, the model at its end
    check_checkpoint_options(
        options.get("checkpoint_path"),
        options.get("checkpoint_every"),
        resume,
        {"DATA": data, "--out": out},
    )
    if distributed and (resume or options.get("checkpoint_path")):
        raise InvalidInputError("--checkpoint/--resume are not supported with --distributed")
    # before any training: a mistyped --out must not cost the run. With --distributed
    # only rank 0 writes (torchrun stops the other ranks when it exits).
    if not distributed or torchrun_rank() in (None, 0):
        check_writable(out)
    check_not_an_input(out, "--out", {"DATA": data})
    if not distributed or torchrun_rank() in (None, 0):
        check_replaceable(out, "--out", "model")


def check_checkpoint_options(
    checkpoint: str | None,
    every: int | None,
    resume: bool,
    outputs: Mapping[str, str | os.PathLike[str]],
) -> None:
    """The mistakes in --checkpoint, --checkpoint-every and --resume, found before any
    work: the last two without the first, or a checkpoint that cannot be written or
    would overwrite one of ``outputs`` (name -> path: DATA, --out, the results)."""
    from .._atomic import check_not_an_input, check_writable
    from ..exceptions import InvalidInputError

    if resume and not checkpoint:
        raise InvalidInputError("--resume needs --checkpoint PATH (the file the run wrote)")
    if every is not None and not checkpoint:
        # else no checkpoint at all is written, found only when there is one to resume from
        raise InvalidInputError("--checkpoint-every needs --checkpoint PATH (where to write them)")
    if checkpoint:
        check_writable(checkpoint)
        check_not_an_input(checkpoint, "--checkpoint", outputs)
        if resume and Path(checkpoint).exists():
            # read first, not replaced: the loader names what is wrong with it (cut
            # short, damaged, a model) before any data is read
            from ..checkpoint import load_checkpoint

            load_checkpoint(checkpoint)
        else:
            check_replaceable(checkpoint, "--checkpoint", "checkpoint")


def check_replaceable(path: str | os.PathLike[str], option: str, writes: str) -> None:
    """Refuse, before any work, an output ``path`` whose existing file another kind of
    output would replace: a model or checkpoint written over a data file (``--out
    data.csv`` for ``--data``'s file), or scores written over a model.

    A file of the kind written is replaced, as a rerun expects; so is an empty one.

    Parameters
    ----------
    path : str or PathLike
        The file to be written.
    option : str
        How the user named ``path`` (``--out``), for the message.
    writes : {"model", "checkpoint", "table"}
        What the command writes there.

    Raises
    ------
    InvalidInputError
        ``path`` holds a file another kind of output would replace.
    """
    from ..exceptions import InvalidInputError
    from ..persistence import check_replaceable_by, existing_file_kind

    if writes != "table":
        check_replaceable_by(path, writes, option)
        return
    found = existing_file_kind(path)
    if found in ("model", "checkpoint"):
        raise InvalidInputError(
            f"{option} {path} is a dagmm {found} file: the rows written there would "
            "replace it; choose another path"
        )


#: A shell's status for a command ended by Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130


def interrupted(
    checkpoint: str, holds: Callable[[str], str | None] | None = None
) -> click.exceptions.Exit:
    """Say where an interrupted fit can continue from (the checkpoint, written atomically,
    is the last complete one) and end with the status of an interrupted command.
    ``holds`` says what a checkpoint holds (None: none written yet) where it is not a
    training checkpoint (a benchmark's)."""
    from ..checkpoint import load_checkpoint
    from ..exceptions import CheckpointError

    if holds is not None:
        held = holds(checkpoint)
    else:
        try:
            document = load_checkpoint(checkpoint)[1]
        except (CheckpointError, OSError):
            held = None
        else:
            held = f"epoch {document['epoch']} of {document['total_epochs']}"
    if held is None:
        where = f"no checkpoint was written to {checkpoint} yet"
    else:
        where = (
            f"the checkpoint {checkpoint} holds {held}: rerun the same command with "
            "--resume to continue"
        )
    click.echo(f"dagmm: interrupted; {where}", err=True)
    return click.exceptions.Exit(EXIT_INTERRUPTED)


@contextlib.contextmanager
def stopping_at(
    checkpoint: str | None,
    lost: str | None = None,
    holds: Callable[[str], str | None] | None = None,
) -> Iterator[None]:
    """Turn Ctrl-C or SIGTERM during a run that writes ``checkpoint`` into one line
    naming where to resume from (:func:`interrupted`; ``holds`` says what a checkpoint
    other than a training one holds); without a checkpoint, into "dagmm: interrupted;
    ``lost``" where given, else they pass through unchanged (Ctrl-C: "dagmm:
    interrupted", status 130)."""
    from .main import Terminated

    try:
        yield
    except (KeyboardInterrupt, Terminated) as exc:
        if checkpoint is None:
            if lost is None:
                raise
            click.echo(f"dagmm: interrupted; {lost}", err=True)
            if isinstance(exc, Terminated):
                raise
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
        stop = interrupted(checkpoint, holds)
        if isinstance(exc, Terminated):
            raise  # main() ends the process by the signal
        raise stop from None


def _note_unnamed(data: str, unnamed: list[str]) -> None:
    """Say which nameless, empty columns fit leaves out."""
    from .pipes import shown

    click.echo(
        f"dagmm: note: {shown(data)}: left out column(s) {unnamed}: no name in the header and "
        "no value in any row (a trailing delimiter)",
        err=True,
    )


def _restarts_note(model: Any) -> str:
    """``, 3 restarts (mean)`` for a model trained with restarts, else nothing."""
    count = len(model.restart_seeds_)
    return "" if count == 1 else f", {count} restarts ({model.restart_combine_})"


def _model_params(verbose: int, options: dict) -> dict:
    params = estimator_params(options)
    params["verbose"] = max(verbose, 1 if sys.stderr.isatty() else 0)
    return params


def _fit_distributed(data, out, preset, exclude, verbose, options, csv_format) -> None:
    import torch.distributed as dist

    from .. import DAGMM
    from ..distributed import (
        agree,
        drop_empty_unnamed_everywhere,
        fit_distributed,
        init_process_group,
        read_shard,
    )
    from ..exceptions import DistributedInputError, InvalidInputError

    try:
        params = _model_params(verbose, options)
    except InvalidInputError as exc:  # the same command line on every process
        raise DistributedInputError(str(exc)) from None
    init_process_group(params.get("device", "auto"))
    status, written = 0, False
    rank, world = dist.get_rank(), dist.get_world_size()
    try:
        drawn = None
        if params.get("random_state") is None:
            # drawn once, on rank 0, for every process, and printed, as one process
            # prints its own: until 2026-12-07 no seed was drawn, so no rerun repeated it
            import secrets

            seed: list[Any] = [secrets.randbelow(2**31 - 1) if rank == 0 else None]
            dist.broadcast_object_list(seed, src=0)
            params["random_state"] = drawn = int(seed[0])
        # a file one process cannot read fails every process, with one message
        frame = agree(lambda: read_shard(data, rank, world, csv_format=csv_format))
        # as fit without --distributed does, decided over every shard's rows
        frame, unnamed = drop_empty_unnamed_everywhere(frame)
        if unnamed and rank == 0:
            _note_unnamed(data, unnamed)

        frame = agree(lambda: without_excluded(frame, exclude, data))
        if rank != 0:
            params["verbose"] = 0
        model = DAGMM.from_preset(preset, **params) if preset else DAGMM(**params)
        started = time.perf_counter()
        fit_distributed(model, frame)
        if rank == 0:
            # Per-rank training energies would describe rank 0's shard only.
            model.save(out, include_training_scores=False)
            written = True
            click.echo(
                f"trained on {world} processes x ~{len(frame)} rows in "
                f"{time.perf_counter() - started:.1f} s "
                f"({model.n_iter_} steps{_restarts_note(model)}); "
                f"threshold {model.threshold_:.4g}; model written to {out}"
            )
            if drawn is not None:
                click.echo(f"random state {drawn} (drawn: --random-state {drawn} repeats this fit)")
        # Leave together: a rank that tears gloo down while another still uses it can abort.
        dist.barrier()
    except Exception as exc:  # reported here: the process ends below
        from .main import EXIT_USER_ERROR, USER_ERRORS, report_user_error

        # an input error the processes agreed on (DistributedInputError) is printed by
        # rank 0 alone, every process ending with the error status; any other error is
        # reported by the process that met it (a failed save on rank 0 reaches the rest
        # as a broken barrier)
        lost = lost_process_message(exc, rank, world)
        if isinstance(exc, USER_ERRORS):
            report_user_error(exc)
            status = EXIT_USER_ERROR
        elif lost is not None:
            wrote = "" if written else "; no model was written"
            click.echo(f"dagmm: error: {lost}{wrote}", err=True)
            status = 1
        else:
            traceback.print_exc()
            status = 1
    finally:
        dist.destroy_process_group()
    # gloo's worker threads can still be joinable when the interpreter runs C++ static
    # destructors, which aborts the process ("terminate called without an active exception")
    # after all work is done (the model is already written and fsynced, or nothing is), so
    # end here, on success and on a reported error alike.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


#: Words of gloo's and NCCL's errors when a peer process has gone (killed, crashed, its
#: machine lost): the connection to it closed or reset, or a collective waited in vain.
_LOST_PEER_WORDS = (
    "closed by peer",
    "reset by peer",
    "Broken pipe",
    "Connection refused",
    "Timed out",
    "timed out",
)


def lost_process_message(exc: BaseException, rank: int, world: int) -> str | None:
    """One line for an error that says another process of a distributed run has gone
    (gloo: "Connection closed by peer"), or None for any other error.

    The process left prints this instead of the traceback through the training loop
    that ends in the collective library's own words.
    """
    text = str(exc).strip()
    if not isinstance(exc, RuntimeError) or not any(w in text for w in _LOST_PEER_WORDS):
        return None
    first = text.splitlines()[0] if text else type(exc).__name__
    if len(first) > 200:
        first = first[:197] + "..."
    return (
        f"process {rank} of {world}: another process of the run ended or lost its "
        f"connection ({first})"
    )


def _is_own_share(model: Any, share: float) -> bool:
    """Whether ``share`` is the contamination a loaded model was fitted with
    (``contamination_``, which its ``contamination`` parameter need not be after
    ``set_params``): its cut is then the model's own ``threshold_``. After ``fit
    --sample-rows`` that is the exact quantile over the whole file, which
    ``threshold_at`` can only estimate from the sample's energies. (Not in
    ``threshold_at`` itself: there a ``threshold_`` set by hand could have parted the
    two.)"""
    return share == model.contamination_


def _set_cut(
    model: Any, contamination: float | None, threshold: float | None, err: bool = False
) -> None:
    """Point ``model.threshold_`` (this command's copy) at the cut the user asked for
    (the model's own share keeps its own ``threshold_``, see :func:`_is_own_share`);
    ``err``: say so on stderr (stdout carries the scores)."""
    if contamination is not None and _is_own_share(model, contamination):
        click.echo(
            f"flagging energies above {model.threshold_:.6g}: the model's own threshold "
            f"(contamination {contamination:g})",
            err=err,
        )
    elif contamination is not None:
        model.threshold_ = model.threshold_at(contamination)
        model.contamination_ = float(contamination)
        click.echo(
            f"flagging energies above {model.threshold_:.6g}: the top {contamination:g} of the "
            f"{len(model.decision_scores_)} training energies the model holds",
            err=err,
        )
    elif threshold is not None:
        model.threshold_ = float(threshold)
        click.echo(f"flagging energies above {model.threshold_:.6g}", err=err)


@click.command()
@click.argument(
    "model_path", metavar="MODEL", type=UserPath(dir_okay=True), callback=refuse_stdin_model
)
@click.argument("data", type=UserPath(dir_okay=True))
@click.option(
    "--out",
    "out",
    required=True,
    type=UserPath(),
    help="CSV, Parquet or JSON Lines (.jsonl) to write; - writes CSV to stdout (messages "
    "then go to stderr).",
)
@click.option("--id-column", help="Column copied to the output to identify rows.")
@click.option(
    "--keep",
    "keep_columns",
    multiple=True,
    metavar="COLUMN",
    help="Another column of DATA copied to the output (repeatable: --keep src --keep dst).",
)
@click.option(
    "--only-anomalies",
    is_flag=True,
    help="Write only the flagged rows, each with its 0-based position in DATA as `row`.",
)
@CHUNK_ROWS_OPTION
@csv_format_options
@click.option(
    "--engine",
    type=GuessingChoice(["local", "spark"]),
    default="local",
    show_default=True,
    help="spark: score a Parquet file or folder with Spark into a Parquet folder.",
)
@click.option("--spark-master", default="local[*]", show_default=True, help="Spark master URL.")
@click.option(
    "--spark-log-level",
    # lower case: click 8.1 shows the choices as given, later releases lowered
    type=GuessingChoice(["off", "fatal", "error", "warn", "info", "debug"], case_sensitive=False),
    default="fatal",
    show_default=True,
    help="Spark's own log level for the session --engine spark starts (FATAL: a failure "
    "is told in dagmm's one line, not after Spark's task logs and stack traces).",
)
@model_device_option("; Spark executors score on their CPUs")
@click.option(
    "--contamination",
    type=float,
    help="Flag the energies above which this share of the training rows lies, instead of the "
    "model's own threshold (e.g. 0.01 for fewer alerts); no retraining.",
)
@click.option(
    "--threshold",
    type=float,
    help="Flag the energies above this value instead of the model's threshold.",
)
@THREADS_OPTION
def score(
    model_path: str,
    data: str,
    out: str,
    id_column: str | None,
    keep_columns: tuple[str, ...],
    only_anomalies: bool,
    chunk_rows: int,
    engine: str,
    spark_master: str,
    spark_log_level: str,
    device: str | None,
    contamination: float | None,
    threshold: float | None,
    csv_format: CsvFormat,
) -> None:
    """Score DATA with MODEL: writes energy (higher = more anomalous) and is_anomaly (0/1)."""
    from .._progress import progress_bar
    from ..batch import copied_columns
    from ..exceptions import InvalidInputError
    from ..tableio import STDOUT

    copied_columns(id_column, keep_columns, only_anomalies)

    if contamination is not None and threshold is not None:
        raise InvalidInputError("give --contamination or --threshold, not both")
    if threshold is not None and not math.isfinite(threshold):
        raise InvalidInputError(f"--threshold must be a finite energy, got {threshold}")
    if engine == "spark":
        if out == STDOUT:
            raise InvalidInputError(
                "--engine spark writes a Parquet folder: --out - (CSV on stdout) needs "
                "--engine local"
            )
        if device not in (None, "cpu"):
            raise InvalidInputError("--engine spark scores on the executors' CPUs: drop --device")
        from ..tableio import CsvFormat

        if csv_format != CsvFormat():
            raise InvalidInputError(
                "--engine spark reads Parquet, which holds typed numbers and UTF-8 text: drop "
                "--decimal, --thousands, --na-values and --encoding"
            )
        from ..spark import _check_out_spares_inputs, score_parquet_spark

        model_or_path: Any = model_path
        if contamination is not None or threshold is not None:
            from .. import load

            # score_parquet_spark gets the model itself then, not its file to spare
            _check_out_spares_inputs(Path(out), Path(data), model_path)
            model_or_path = load(model_path, "cpu")
            _set_cut(model_or_path, contamination, threshold)
        started = time.perf_counter()
        counts = score_parquet_spark(
            model_or_path,
            data,
            out,
            id_column,
            spark_master,
            chunk_rows,
            keep_columns=keep_columns,
            only_anomalies=only_anomalies,
            log_level=spark_log_level.upper(),
        )
        click.echo(_scored_summary(counts, time.perf_counter() - started, out, " on Spark"))
        return

    from .. import load
    from .._atomic import check_not_an_input, check_writable
    from ..batch import score_file
    from ..tableio import count_rows, output_format

    to_stdout = out == STDOUT
    if not to_stdout:
        # a folder first: its name has no suffix, and "unsupported output file type" would
        # hide that it is a folder
        check_writable(out)
        output_format(out)
        check_not_an_input(out, "--out", {"DATA": data, "MODEL": model_path})
        check_replaceable(out, "--out", "table")
    model = load(model_path, device)
    _set_cut(model, contamination, threshold, err=to_stdout)
    started = time.perf_counter()
    with progress_bar(
        total=count_rows(data),
        unit="row",
        desc="dagmm score",
        file=sys.stderr,
        disable=not sys.stderr.isatty(),
    ) as bar:
        counts = score_file(
            model,
            data,
            out,
            id_column,
            chunk_rows,
            bar.update,
            keep_columns=keep_columns,
            only_anomalies=only_anomalies,
            csv_format=csv_format,
        )
    # on stderr when stdout carries the scores: the pipe holds CSV alone
    click.echo(_scored_summary(counts, time.perf_counter() - started, out), err=to_stdout)


def _scored_summary(counts: ScoredRows, elapsed: float, out: str, where: str = "") -> str:
    """``scored N rows in T s, flagged K (P %); wrote OUT`` (and how many rows it holds)."""
    share = counts.anomalies / counts.rows if counts.rows else 0.0
    line = f"scored {counts.rows} rows in {elapsed:.1f} s{where}, flagged {counts.anomalies} "
    line += f"({share:.2%}); wrote {'stdout' if out == '-' else out}"
    return line if counts.written == counts.rows else line + f" ({counts.written} rows)"


#: Packages whose versions `dagmm info` reports (the optional ones may be absent).
_REPORTED_PACKAGES = (
    "torch", "numpy", "pandas", "pyarrow", "scikit-learn", "scipy", "safetensors", "numba",
    "polars", "pyspark",
)  # fmt: skip


#: Module names of the reported packages, where they differ from the package's.
_MODULE_NAMES = {"scikit-learn": "sklearn"}


def _environment() -> dict:
    """This installation: versions, threads, devices, the fast paths, the data directory."""
    import platform
    from importlib import metadata

    import torch

    from .. import __version__, _kernels, datasets, graphs

    def version(name: str) -> str | None:
        # The running module's own version where it is loaded: an install's metadata can
        # name another (torch 2.11.0 for the running 2.11.0+cu130, or a copy found first
        # on the path); the build suffix says which CUDA a wheel was built for.
        loaded = sys.modules.get(_MODULE_NAMES.get(name, name))
        running = getattr(loaded, "__version__", None)
        if isinstance(running, str):
            return running
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    cuda = torch.cuda.is_available()
    directory = datasets.data_dir()
    return {
        "dagmm": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {name: version(name) for name in _REPORTED_PACKAGES},
        "torch_threads": torch.get_num_threads(),
        "cuda_available": cuda,
        "cuda_version": torch.version.cuda,
        "cuda_devices": [
            f"cuda:{i} {torch.cuda.get_device_name(i)}" for i in range(torch.cuda.device_count())
        ]
        if cuda
        else [],
        # ENABLED, not available(): the latter compiles the kernels on a machine's first call
        "compiled_cpu_kernels": bool(_kernels.ENABLED),
        "cuda_graphs": cuda and graphs.graphs_enabled(),
        "data_dir": str(directory),
        "data_dir_from": "DAGMM_DATA" if os.environ.get("DAGMM_DATA") else "user cache",
        "data_files": sorted(name for name in datasets.FILES if (directory / name).is_file()),
    }


def _echo_environment(env: dict) -> None:
    packages = env["packages"]
    click.echo(f"dagmm {env['dagmm']}, Python {env['python']} on {env['platform']}")
    click.echo(f"  torch {packages['torch']}, {env['torch_threads']} CPU threads")
    if env["cuda_available"]:
        click.echo(f"  CUDA {env['cuda_version']}: {', '.join(env['cuda_devices'])}")
        graphs = "on" if env["cuda_graphs"] else "off"
        click.echo(f"  CUDA graphs for training: {graphs} (DAGMM_CUDA_GRAPHS=0 turns them off)")
    else:
        click.echo("  CUDA: not available (training and scoring run on the CPU)")
    kernels = "on" if env["compiled_cpu_kernels"] else "off"
    numba = packages["numba"] or "not installed"
    click.echo(
        f"  compiled CPU step kernels: {kernels} (numba {numba}; DAGMM_NUMBA=0 turns them off)"
    )
    others = [
        f"{name} {packages[name] or 'not installed'}"
        for name in _REPORTED_PACKAGES
        if name not in ("torch", "numba")
    ]
    click.echo(f"  packages: {', '.join(others)}")
    files = env["data_files"]
    folder = Path(env["data_dir"])
    # A mistyped DAGMM_DATA is what a user asking "why does it download?" needs to see.
    if not folder.exists():
        state = "does not exist (data sets are downloaded into it when first loaded)"
    elif not folder.is_dir():
        state = "is not a directory"
    else:
        state = (
            f"{len(files)} data set file(s): {', '.join(files)}" if files else "no data set files"
        )
    click.echo(f"  data directory: {env['data_dir']} (from {env['data_dir_from']}): {state}")


#: Shares of the training rows for which `dagmm info` prints the threshold.
_ALERT_SHARES = (0.5, 0.1, 0.05, 0.01, 0.001)


def _count(values: Any) -> int | None:
    return None if values is None else len(values)


def _alert_thresholds(model: Any) -> dict[str, float]:
    """``{share: model.threshold_at(share)}``, the model's own share mapped to its own
    ``threshold_`` (:func:`_is_own_share`); empty for a model without training energies."""
    if getattr(model, "decision_scores_", None) is None:
        return {}
    return {
        f"{share:g}": (
            float(model.threshold_) if _is_own_share(model, share) else model.threshold_at(share)
        )
        for share in _ALERT_SHARES
    }


@click.command()
@click.argument(
    "model_path",
    metavar="[MODEL]",
    required=False,
    type=UserPath(dir_okay=True),
    callback=refuse_stdin_model,
)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def info(model_path: str | None, as_json: bool) -> None:
    """Describe a saved model: configuration, architecture, mixture, training.

    Without MODEL, describe this installation: versions, CPU threads, GPUs, the
    fast paths in use and the data directory (for a bug report, say).
    """
    if model_path is None:
        env = _environment()
        if as_json:
            click.echo(json.dumps(env, indent=2))
        else:
            _echo_environment(env)
        return
    from .. import load
    from ..estimator import describe_epochs, epochs_summary

    model = load(model_path)
    summary = {
        "file": str(Path(model_path)),
        "format_version": model.format_version_,
        "n_features_in": model.n_features_in_,
        "columns": list(model.encoder_.columns),
        "categorical_columns": {k: len(v) for k, v in model.encoder_.categories.items()},
        # numeric columns far from 0 that vary little: the constant subtracted in float64
        "shifted_columns": dict(model.encoder_.shifts),
        "encoder_width": len(model.encoder_.feature_names_out),
        "hidden_sizes": list(model.hidden_sizes_),
        "latent_dim": model.latent_dim_,
        # the fitted network's (a parameter set_params changed after fit is in params)
        "n_components": int(model.net_.n_components),
        # epochs: scheduled; epochs_run: trained (fewer when early stopping ended the fit)
        **epochs_summary(model),
        "steps": model.n_iter_,
        "trained_on": model.device_,
        "threshold": model.threshold_,
        "contamination": model.contamination_,
        "mixture_weights": np.round(model.weights_, 6).tolist(),
        "collapsed_components": model.collapsed_components_,
        "final_loss": model.history_["loss"][-1] if model.history_.get("loss") else None,
        "restarts": _restarts_summary(model),
        # thresholds for other alert rates (dagmm score --contamination C flags above these)
        "training_energy_thresholds": _alert_thresholds(model),
        # how many energies those are (after --sample-rows the sample's, not the file's)
        "training_energies": _count(getattr(model, "decision_scores_", None)),
        "params": model.get_params(),
    }
    if as_json:
        # strict JSON: a NaN would be Python's bare `NaN`, which JSON readers refuse
        from ..reproduce import strict_json

        click.echo(json.dumps(strict_json(summary), indent=2, default=str, allow_nan=False))
        return
    click.echo(f"dagmm model {summary['file']} (format {summary['format_version']})")
    click.echo(
        f"  input: {summary['n_features_in']} columns -> {summary['encoder_width']} features"
        + (", numeric columns as sign(x) log(1 + |x|)" if model.encoder_.log_inputs else "")
    )
    if summary["categorical_columns"]:
        click.echo(f"  categorical: {summary['categorical_columns']}")
    if summary["shifted_columns"]:
        shifted = ", ".join(map(model.encoder_.shift_text, summary["shifted_columns"]))
        click.echo(f"  shifted in float64 before float32: {shifted}")
    click.echo(
        f"  network: {summary['encoder_width']}-{'-'.join(map(str, summary['hidden_sizes']))}"
        f"-{summary['latent_dim']} (mirrored decoder), K={summary['n_components']}"
    )
    epochs, kept = describe_epochs(summary)
    click.echo(f"  trained: {epochs}, {summary['steps']} steps on {summary['trained_on']}")
    if summary["final_loss"] is not None:
        click.echo(f"  final loss: {summary['final_loss']:.5g} (epoch {summary['epochs_run']})")
    if kept is not None:
        click.echo(f"  weights kept: {kept}")
    restarts = summary["restarts"]
    if restarts is not None:
        # an untrained restart (--epochs 0) has no loss: NaN, which is no number to show
        trained = [x for x in restarts["losses"] if math.isfinite(x)]
        losses = ", ".join(f"{x:.5g}" if math.isfinite(x) else "none" for x in restarts["losses"])
        if restarts["combine"] != "best":
            kept = f"{restarts['combine']} of their standardised energies"
        elif trained:
            kept = f"restart {restarts['kept']} kept (lowest loss)"
        else:
            kept = f"restart {restarts['kept']} kept (none trained: no loss to compare)"
        what = f"final losses {losses}" if trained else "no final losses (untrained)"
        click.echo(f"  restarts: {len(restarts['seeds'])} ({kept}); {what}")
    click.echo(f"  mixture weights: {summary['mixture_weights']}")
    for comp in summary["collapsed_components"]:
        where = f"restart {comp['restart']} " if "restart" in comp else ""
        click.echo(f"  warning: {where}component {comp['component']} collapsed ({comp['reason']})")
    click.echo(
        f"  threshold: {summary['threshold']:.6g} (contamination {summary['contamination']})"
    )
    cuts = summary["training_energy_thresholds"]
    # the model's own share is the threshold above; the others are quantiles of the
    # training energies (after --sample-rows those of the sample, an estimate beside the
    # threshold, exact over the file, which they need not order with)
    others = {share: cut for share, cut in cuts.items() if not _is_own_share(model, float(share))}
    if others:
        click.echo(
            f"  other alert rates (--contamination), from the {summary['training_energies']} "
            "training energies: "
            + ", ".join(f"{share}: {cut:.6g}" for share, cut in others.items())
        )


def _restarts_summary(model: Any) -> dict[str, Any] | None:
    """What ``dagmm info`` says of a model's restarts (None without restarts)."""
    from ..estimator import best_restart

    seeds = model.restart_seeds_
    if len(seeds) == 1:
        return None
    combine = model.restart_combine_
    return {
        "seeds": seeds,
        "losses": model.restart_losses_,
        "combine": combine,
        "kept": best_restart(model.restart_losses_) if combine == "best" else None,
    }


COMMANDS = [demo, fit, score, info]
