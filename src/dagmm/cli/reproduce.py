"""``dagmm reproduce`` (the paper's protocol) and ``dagmm benchmark`` (default config, ODDS)."""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import click

from ..presets import PRESETS
from .params import (
    THREADS_OPTION,
    FiniteFloatRange,
    GuessingChoice,
    UserPath,
    estimator_options,
    estimator_params,
    restart_options,
)

_DATASETS = ("kddcup", "kddcup_rev", "thyroid", "arrhythmia")
#: ``--preset`` value for ``DAGMM()``'s own defaults instead of a paper configuration.
DEFAULT_CONFIGURATION = "default"


def _progress(started: float):
    def report(message: str) -> None:
        click.echo(f"[{time.perf_counter() - started:7.1f} s] {message}", err=True)

    return report


def _model_options(func):
    options = [
        THREADS_OPTION,
        click.option("--data-dir", type=UserPath(file_okay=False), help="Data directory."),
        click.option(
            "-v",
            "--verbose",
            count=True,
            help="-v: a training progress bar; -vv: one line per epoch (default: a bar on a tty).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return estimator_options(func)


#: What an interrupted run without a checkpoint says it lost.
_LOST = (
    "no results were written (with --checkpoint FILE a run keeps its work as it goes, "
    "and the same command with --resume continues it)"
)

#: Earlier results of the same name are kept unless this is given (a run can take hours).
_OVERWRITE = click.option(
    "--overwrite",
    is_flag=True,
    help="Replace the results of an earlier run with the same --out and --tag "
    "(default: refuse, before the run starts).",
)


#: What a --tag may hold: it is part of the results' file names.
_TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=-]*")


def _check_no_earlier_results(out_dir: str, stem: str, overwrite: bool, tag: str = "") -> None:
    """Refuse, before the run, a --tag that is no file name, results that could not be
    written where they go, and (without --overwrite) an earlier run's results."""
    from .._atomic import check_writable
    from ..exceptions import InvalidInputError
    from ..reproduce import result_paths

    if tag and not _TAG.fullmatch(tag):
        raise InvalidInputError(
            f"--tag {tag!r}: a tag ends the results' file names; give letters, digits and "
            ". _ - + = only (no folder: that is --out)"
        )
    for path in result_paths(out_dir, stem):
        if path.parent.is_dir():  # a missing --out is made when the results are written
            check_writable(path)
    existing = [str(path) for path in result_paths(out_dir, stem) if path.exists()]
    if existing and not overwrite:
        raise InvalidInputError(
            f"{' and '.join(existing)} already hold(s) the results of an earlier run; "
            "give another --tag (or --out), or --overwrite to replace them"
        )


def _write_results(out_dir: str, stem: str, document: dict, overwrite: bool) -> None:
    """Write the results; files of the same name that appeared during the run (another
    run with the same --tag) are kept, these results going to the next free name."""
    from ..reproduce import unused_stem, write_results

    final = stem if overwrite else unused_stem(out_dir, stem)
    if final != stem:
        click.echo(
            f"dagmm: warning: results named {stem} were written to {out_dir} by another run "
            f"while this one ran; writing these as {final} instead",
            err=True,
        )
    json_path, csv_path = write_results(out_dir, final, document)
    click.echo(f"results: {json_path}, {csv_path}")


def _verbosity(count: int) -> int:
    return min(count, 2) if count else int(sys.stderr.isatty())


def _epochs_label(estimator) -> str:
    return "auto" if estimator.epochs is None else str(estimator.epochs)


@click.command()
@click.argument("dataset", type=GuessingChoice(_DATASETS))
@click.option("--seeds", default=20, show_default=True, type=click.IntRange(min=1))
@click.option("--first-seed", default=0, show_default=True, type=click.IntRange(min=0))
@click.option("--out", "out_dir", default="results", show_default=True, type=UserPath())
@click.option(
    "--preset",
    type=GuessingChoice([*sorted(PRESETS), DEFAULT_CONFIGURATION]),
    help="Configuration (default: the paper's preset named like DATASET); "
    f"'{DEFAULT_CONFIGURATION}' is the estimator's own defaults, as a user without a preset "
    "gets them (chosen on the ODDS sets, never on the paper's).",
)
@click.option(
    "--restarts",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Models per seed, combined as --combine says (no labels used).",
)
@click.option(
    "--combine",
    "--restart-combine",
    "combine",
    type=GuessingChoice(["best", "mean", "median"]),
    default="best",
    show_default=True,
    help="With restarts: keep the lowest training loss, or the mean or the row-wise median "
    "of their standardised energies (here the default is best, as in every earlier run).",
)
@click.option(
    "--controls",
    default="untrained,iforest",
    show_default=True,
    help="Comma list of untrained, iforest, ocsvm (or 'none').",
)
@click.option(
    "--contamination",
    type=FiniteFloatRange(min=0, max=0.5, min_open=True),
    help="Mix this share of anomalies into training (robustness study).",
)
@click.option(
    "--contamination-study",
    is_flag=True,
    help="Run c = 1%,...,5% (the paper's Table 4) instead of one protocol run.",
)
@click.option("--tag", default="", help="Suffix of the output file names.")
@_OVERWRITE
@click.option(
    "--checkpoint",
    "checkpoint",
    type=UserPath(dir_okay=False),
    help="Write the DAGMM ensemble's training checkpoint here (safetensors, no pickle).",
)
@click.option(
    "--checkpoint-every",
    type=click.IntRange(min=1),
    help="Epochs between checkpoints (default: a hundredth of the epochs, at least 1).",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue from --checkpoint (the same results as an uninterrupted run).",
)
@_model_options
def reproduce(
    dataset: str,
    seeds: int,
    first_seed: int,
    out_dir: str,
    preset: str | None,
    restarts: int,
    combine: str,
    controls: str,
    contamination: float | None,
    contamination_study: bool,
    tag: str,
    overwrite: bool,
    checkpoint: str | None,
    checkpoint_every: int | None,
    resume: bool,
    data_dir: str | None,
    verbose: int,
    **model_options,
) -> None:
    """Run the paper's protocol on DATASET over many seeds, with controls on the same splits.

    Per seed: a random 50/50 split, training on the normal rows of the training
    half only, scoring the whole test half, flagging the top rho of energies.
    Prints mean ± std and writes every seed to OUT/DATASET[-TAG].json and .csv
    (refusing, before the run, to replace an earlier run's without --overwrite).
    With --checkpoint, an interrupted run continues where its last checkpoint
    left it when the same command is given again with --resume.
    """
    from .. import DAGMM
    from ..exceptions import InvalidInputError
    from ..reproduce import (
        check_output_dir,
        format_summary,
        result_paths,
        run_contamination_study,
        run_reproduction,
    )
    from .core import check_checkpoint_options, stopping_at

    # Mistakes that would otherwise surface only when the results are written, or be
    # silently ignored, end the command before any data is loaded.
    check_output_dir(out_dir)
    if (first_seed + seeds) * restarts > 2**32:
        # a lower first seed where one exists; else too many seeds (restarts) for any
        most_first, most_seeds = 2**32 // restarts - seeds, 2**32 // restarts - first_seed
        way = (
            f"give a --first-seed of at most {most_first}"
            if most_first >= 0
            else f"give at most {most_seeds} --seeds"
            if most_seeds >= 1
            else f"give at most {2**32 // (first_seed + seeds)} --restarts"
        )
        raise click.UsageError(
            f"--first-seed {first_seed} --seeds {seeds} --restarts {restarts}: the models' "
            f"seeds, (first seed + seed) x restarts + restart, run past 2**32 - 1; {way}"
        )
    stem = f"{dataset}{'-contamination' if contamination_study else ''}{f'-{tag}' if tag else ''}"
    _check_no_earlier_results(out_dir, stem, overwrite, tag)
    # the checkpoint is rewritten during training, the results at its end
    json_path, csv_path = result_paths(out_dir, stem)
    check_checkpoint_options(
        checkpoint, checkpoint_every, resume, {"the results": json_path, "the CSV": csv_path}
    )
    if contamination_study:
        ignored = [
            name
            for name, given in (
                ("--contamination", contamination is not None),
                ("--restarts", restarts != 1),
                ("--combine", combine != "best"),
            )
            if given
        ]
        if ignored:
            raise InvalidInputError(
                f"--contamination-study runs its own levels with one model per seed; "
                f"drop {', '.join(ignored)}"
            )
    started = time.perf_counter()
    progress = _progress(started)
    params = {"verbose": _verbosity(verbose), **estimator_params(model_options)}
    if preset == DEFAULT_CONFIGURATION:
        estimator = DAGMM(**params)
    else:
        estimator = DAGMM.from_preset(preset or dataset, **params)
    control_list = (
        [] if controls.strip() == "none" else [c.strip() for c in controls.split(",") if c.strip()]
    )
    seed_list = list(range(first_seed, first_seed + seeds))
    run_options = {
        "data_dir": data_dir,
        "controls": control_list,
        "progress": progress,
        "checkpoint": checkpoint,
        "checkpoint_every": checkpoint_every,
        "resume": resume,
    }
    with stopping_at(checkpoint, _LOST):
        if contamination_study:
            document = run_contamination_study(estimator, seed_list, dataset=dataset, **run_options)
        else:
            result = run_reproduction(
                dataset,
                estimator,
                seed_list,
                restarts=restarts,
                combine=combine,
                contamination=contamination,
                **run_options,
            )
    if contamination_study:
        click.echo(
            f"\n{dataset}, contaminated training: {len(seed_list)} seeds per level, "
            f"rho = {document['ratio']}, epochs = {_epochs_label(estimator)}"
        )
        click.echo(format_summary(document["summary"], by=("contamination", "method")))
    else:
        document = result.document
        click.echo(
            f"\n{dataset}"
            + (f", contamination {contamination * 100:g}%" if contamination else "")
            + f": {len(seed_list)} seeds, rho = {document['ratio']}, "
            f"epochs = {_epochs_label(estimator)}, restarts = {restarts}"
            # one model per seed combines nothing: "(median)" would say it did
             + (f" ({combine})" if restarts > 1 else "")
        )
        click.echo(format_summary(result.summary))
        if document.get("paper_f1") and not contamination:
            click.echo(f"paper's DAGMM F1: {document['paper_f1']}")
    document["total_wall_s"] = round(time.perf_counter() - started, 1)
    _write_results(out_dir, stem, document, overwrite)
    click.echo(f"total wall time {time.perf_counter() - started:.1f} s")


@click.command()
@click.option("--seeds", default=5, show_default=True, type=click.IntRange(min=1))
@click.option("--out", "out_dir", default="results", show_default=True, type=UserPath())
@click.option(
    "--datasets",
    default="cardio,ionosphere,letter,pima",
    show_default=True,
    help="Comma list of data sets: the ODDS ones in the data directory (cardio, ionosphere, "
    "letter, pima, thyroid, arrhythmia) or kddcup, kddcup_rev (minutes per seed).",
)
@click.option("--tag", default="", help="Suffix of the output file names.")
@_OVERWRITE
@click.option(
    "--checkpoint",
    "checkpoint",
    type=UserPath(dir_okay=False),
    help="Keep each data set's and protocol's results here as it ends (JSON).",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Take the results --checkpoint holds and run the rest (the same results as an "
    "uninterrupted run).",
)
@restart_options
@_model_options
def benchmark(
    seeds: int,
    out_dir: str,
    datasets: str,
    tag: str,
    overwrite: bool,
    checkpoint: str | None,
    resume: bool,
    data_dir: str | None,
    verbose: int,
    **model_options,
) -> None:
    """The DEFAULT configuration (no preset) against IsolationForest on ODDS data sets.

    Two protocols on the same splits per seed: "paper" (train on the normal
    rows of a random half) and "unsupervised" (train on a random 70 % including
    its anomalies, test on the other 30 %). Options override single defaults.
    Writes OUT/benchmark[-TAG].json and .csv (refusing, before the run, to replace
    an earlier run's without --overwrite). With --checkpoint, an interrupted run
    continues after the last data set and protocol it finished when the same
    command is given again with --resume.
    """
    from .. import DAGMM
    from ..reproduce import check_output_dir, format_summary, result_paths, run_benchmark
    from .core import stopping_at

    check_output_dir(out_dir)
    stem = f"benchmark{f'-{tag}' if tag else ''}"
    _check_no_earlier_results(out_dir, stem, overwrite, tag)
    _check_benchmark_checkpoint(checkpoint, resume, result_paths(out_dir, stem))
    started = time.perf_counter()
    estimator = DAGMM(verbose=_verbosity(verbose), **estimator_params(model_options))
    with stopping_at(checkpoint, _LOST, _benchmark_checkpoint_holds):
        document = run_benchmark(
            estimator,
            list(dict.fromkeys(d.strip().lower() for d in datasets.split(",") if d.strip())),
            list(range(seeds)),
            data_dir=data_dir,
            progress=_progress(started),
            checkpoint=checkpoint,
            resume=resume,
        )
    click.echo(format_summary(document["summary"], by=("dataset", "protocol", "method")))
    _write_results(out_dir, stem, document, overwrite)
    click.echo(f"total wall time {time.perf_counter() - started:.1f} s")


def _check_benchmark_checkpoint(
    checkpoint: str | None, resume: bool, results: tuple[Path, Path]
) -> None:
    """The mistakes in benchmark's --checkpoint and --resume, found before any work."""
    from .._atomic import check_not_an_input, check_writable
    from ..exceptions import InvalidInputError
    from ..reproduce import BENCHMARK_CHECKPOINT

    if resume and not checkpoint:
        raise InvalidInputError("--resume needs --checkpoint PATH (the file the run wrote)")
    if not checkpoint:
        return
    check_writable(checkpoint)
    check_not_an_input(
        checkpoint, "--checkpoint", {"the results": results[0], "the CSV": results[1]}
    )
    target = Path(checkpoint)
    if target.is_file() and target.stat().st_size and not resume:
        with open(target, "rb") as handle:
            start = handle.read(64)
        if f'"format": "{BENCHMARK_CHECKPOINT}"'.encode() not in start:
            # an earlier benchmark's is replaced, as fit replaces its checkpoint
            raise InvalidInputError(
                f"--checkpoint {checkpoint} exists and is not a dagmm benchmark checkpoint: "
                "writing one there would replace it; give another path"
            )


def _benchmark_checkpoint_holds(checkpoint: str) -> str | None:
    """What a benchmark checkpoint holds, for the message of an interrupted run."""
    try:
        document = json.loads(Path(checkpoint).read_bytes())
        done = [f"{b['dataset']} ({b['protocol']})" for b in document["done"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return f"the results of {', '.join(done)}" if done else None


COMMANDS = [reproduce, benchmark]
