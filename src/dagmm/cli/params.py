"""Options shared by several commands: the estimator's parameters (every command that
trains: fit, reproduce, benchmark), the chunk size (every command that scores a file)
and how a CSV file writes its text and numbers (every command that reads a data file).

One declaration per option, so that the commands accept the same spelling,
range and help, and one conversion of the given values into ``DAGMM`` keyword
arguments.
"""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..exceptions import DAGMMError, InvalidInputError

if TYPE_CHECKING:  # the CLI imports the package's modules when a command runs
    from ..tableio import CsvFormat


class UserPath(click.Path):
    """``click.Path`` that expands a leading ``~`` as the shell does before a word: the
    shell leaves it in ``--out=~/runs`` and in a quoted ``'~/runs'``, and taken as it is
    it made a folder named ``~`` in the current one."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and value.startswith("~"):
            value = os.path.expanduser(value)
        return super().convert(value, param, ctx)


class GuessingChoice(click.Choice):
    """``click.Choice`` whose refusal of a mistyped value names the near choice, as the
    messages about a file's columns do (``'thyriod' ... (did you mean 'thyroid'?)``)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter as exc:
            import difflib

            near = difflib.get_close_matches(str(value).lower(), [str(c) for c in self.choices], 1)
            if not near:
                raise
            raise click.BadParameter(
                f"{exc.message.rstrip('.')} (did you mean {near[0]!r}?)", ctx=ctx, param=param
            ) from None


#: Rows read and scored at once by score, report and explain.
CHUNK_ROWS_OPTION = click.option(
    "--chunk-rows",
    default=65536,
    show_default=True,
    type=click.IntRange(min=1),
    help="Rows read and scored at once; bounds the memory used.",
)


def _set_torch_threads(ctx: click.Context, param: click.Parameter, value: int | None) -> None:
    if value is not None:
        import torch

        torch.set_num_threads(value)


#: ``--threads``: torch's CPU threads for a command that trains or scores. Set as the
#: command line is read, before any work.
THREADS_OPTION = click.option(
    "--threads",
    type=click.IntRange(min=1),
    expose_value=False,
    callback=_set_torch_threads,
    help="torch CPU threads (default: torch's, one per core). On a machine busy with other "
    "work, 1 is often several times faster: more threads spin-wait for each other.",
)


def model_device_option(note: str = "") -> Any:
    """``--device``: where a model read from a file scores (score, report, explain);
    ``note`` ends the help's parenthesis."""
    return click.option(
        "--device",
        help="cpu, cuda, cuda:1, auto (default: the device the model was trained on when this "
        f"machine has it, else cpu{note}).",
    )


class FiniteFloatRange(click.FloatRange):
    """:class:`click.FloatRange` that refuses NaN and infinities too: click compares the
    value with its bounds, and every comparison with NaN is false, so ``nan`` passed any
    range (and ``inf`` any range without an upper bound)."""

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value} is not a finite number in {self._describe_range()}.", param, ctx)
        return number


class _NumberMark(click.ParamType):
    """A decimal mark or thousands separator: one ASCII character a number may hold; a
    thousands separator also a no-break space or the like, or its name (``nbsp``)."""

    name = "CHAR"

    def __init__(self, thousands: bool = False) -> None:
        self.thousands = thousands

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        from ..tableio import number_mark_problem, thousands_mark

        mark = thousands_mark(str(value)) if self.thousands else str(value)
        problem = number_mark_problem(mark, self.thousands)
        if problem:
            self.fail(problem, param, ctx)
        return mark


class _Encoding(click.ParamType):
    """A CSV file's text encoding: a name Python's codecs know (cp1252, latin-1, ...)."""

    name = "NAME"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        from ..tableio import encoding_problem

        problem = encoding_problem(str(value))
        if problem:
            self.fail(problem, param, ctx)
        return str(value)


#: How a CSV input writes its text, numbers and missing values (every command reading DATA).
CSV_FORMAT_OPTIONS = (
    click.option(
        "--decimal",
        type=_NumberMark(),
        help="Decimal mark of a CSV file's numbers, e.g. ',' for 2,5 (default '.'; in a "
        "';'-separated file ',' where its first 1000 lines hold such numbers and none "
        "with a point).",
    ),
    click.option(
        "--thousands",
        type=_NumberMark(thousands=True),
        help="Thousands separator of a CSV file's numbers, e.g. '.' for 1.234,5, \"'\" for "
        "1'234.5, space, nbsp (no-break space) or nnbsp (narrow no-break space) for "
        "1 234,5; the character itself works too (default: none).",
    ),
    click.option(
        "--na-values",
        multiple=True,
        metavar="WORD",
        help="Another value read as missing in a CSV file's numeric columns, as NA or NULL "
        "are (e.g. - or '#DIV/0!'); repeatable.",
    ),
    click.option(
        "--encoding",
        type=_Encoding(),
        help="Text encoding of a CSV file, e.g. cp1252 (a Windows spreadsheet's CSV export in "
        "Western Europe), latin-1, iso-8859-15, utf-16 (default: UTF-8, a byte-order mark "
        "skipped). Not kept in the model: give it to each command reading such a file; "
        "outputs are always UTF-8.",
    ),
)


#: The format of DATA read from stdin or a pipe, where its first bytes do not tell it.
INPUT_FORMAT_OPTION = click.option(
    "--input-format",
    type=GuessingChoice(["csv", "tsv", "parquet", "arrow", "feather", "jsonl"]),
    help="Format of DATA given as - (stdin), a pipe or a file whose name tells none, such as "
    "a log file 'flows' (default: found from its first bytes; gzip, bzip2, xz and zstd are "
    "found as well). Any other file's format comes from its name.",
)


def csv_format_options(func):
    """Decorate a click command reading ``data`` with :data:`CSV_FORMAT_OPTIONS`, given
    to it as one ``csv_format`` (:func:`csv_format`), and :data:`INPUT_FORMAT_OPTION`.

    DATA given as ``-`` or a pipe reaches the command as a temporary copy
    (:func:`~dagmm.cli.pipes.spooled_data`), removed when the command ends.
    """
    from .._atomic import check_writable
    from .pipes import is_pipe, spooled_data

    @functools.wraps(func)
    def command(*args, decimal, thousands, na_values, encoding, input_format, **kwargs):
        from ..tableio import STDOUT, table_format
        from ..tabular import hints_for

        out = kwargs.get("out")
        if out is not None and out != STDOUT and is_pipe(kwargs["data"]):
            # before the copy, which uses up stdin: a mistyped folder would else be
            # found only once all of it was read, and the data piped again
            check_writable(out)
        with spooled_data(kwargs["data"], input_format, _pipe_refusal(kwargs)) as data:
            kwargs["data"] = data
            kwargs["csv_format"] = csv_format(data, decimal, thousands, na_values, encoding)
            try:
                source = "csv" if table_format(data) == "csv" else "typed"
            except DAGMMError:  # a folder of Parquet files, or a file the read will refuse
                source = "typed" if Path(data).is_dir() else "csv"
            # the messages about numbers written as text name this command's options, or
            # say that a typed file holds the column as text
            with hints_for(source, func.__name__.replace("_", "-")):
                return func(*args, **kwargs)

    for option in reversed((*CSV_FORMAT_OPTIONS, INPUT_FORMAT_OPTION)):
        command = option(command)
    return command


def _pipe_refusal(options: dict[str, Any]) -> str | None:
    """Why a command with these options cannot read DATA from a pipe, or None."""
    if options.get("distributed"):
        return "fit --distributed: every process reads DATA itself"
    if options.get("engine") == "spark":
        return "score --engine spark: the Spark executors read DATA"
    return None


def csv_format(
    data: str,
    decimal: str | None,
    thousands: str | None,
    na_values: tuple[str, ...],
    encoding: str | None = None,
) -> CsvFormat:
    """The :class:`~dagmm.tableio.CsvFormat` of :data:`CSV_FORMAT_OPTIONS`, checked against
    DATA before any work.

    Raises
    ------
    click.UsageError
        Both marks the same (the decimal mark given or decided for DATA), or these
        options for a file that is not CSV: a mistake in the command line, which
        every process of ``fit --distributed`` finds alike and rank 0 alone reports.
    """
    from ..exceptions import DAGMMError
    from ..tableio import CsvFormat, check_csv_format

    try:
        chosen = CsvFormat(decimal, thousands, na_values, encoding)
        check_csv_format(data, chosen)
    except DAGMMError as exc:
        raise click.UsageError(str(exc)) from None
    return chosen


#: ``DAGMM`` parameters settable from every command that trains, in ``--help`` order.
ESTIMATOR_OPTIONS = (
    click.option(
        "--epochs",
        type=click.IntRange(min=0),
        help="Passes over the data (default: the preset's, else auto).",
    ),
    click.option(
        "--batch-size",
        type=click.IntRange(min=1),
        help="Rows per training step (default: the preset's, else 1024, or every row when fewer).",
    ),
    click.option(
        "--learning-rate",
        type=FiniteFloatRange(min=0, min_open=True),
        help="Adam's learning rate (default: the preset's, else 1e-3).",
    ),
    click.option(
        "--n-components",
        type=click.IntRange(min=1),
        help="Mixture components K (default: the preset's, else 2).",
    ),
    click.option(
        "--latent-dim",
        type=click.IntRange(min=1),
        help="Size of the latent code (default: the preset's, else from the number of "
        "features, 4 to 8).",
    ),
    click.option(
        "--hidden-sizes",
        help="Encoder hidden layers, e.g. 60,30,10 (default: the preset's, else from the "
        "number of features).",
    ),
    click.option(
        "--reg-covar",
        type=FiniteFloatRange(min=0, min_open=True),
        help="Added to the covariances' diagonal (default: the preset's, else 1e-6).",
    ),
    click.option(
        "--lambda-energy",
        type=FiniteFloatRange(min=0),
        help="Weight of the mean energy, lambda1 (default: the preset's, else 0.1).",
    ),
    click.option(
        "--lambda-cov",
        type=FiniteFloatRange(min=0),
        help="Weight of the covariance penalty, lambda2 (default: the preset's, else 1e-4).",
    ),
    click.option(
        "--scaler",
        type=GuessingChoice(["auto", "standard", "minmax", "none"]),
        help="Input scaling (default: the preset's, else auto: standardised, min-max for "
        "sparse or near-constant columns).",
    ),
    click.option(
        "--log-inputs/--no-log-inputs",
        default=None,
        help="sign(x) log(1 + |x|) of numeric columns before scaling, for heavy tails "
        "(default: the preset's, else off).",
    ),
    click.option("--device", help="auto (the default), cpu, cuda, cuda:1, mps."),
)


#: Restarts of one model (``DAGMM``'s ``n_restarts`` and ``restart_combine``), for the
#: commands that train one model per run (fit) or per split (benchmark).
RESTART_OPTIONS = (
    click.option(
        "--restarts",
        "n_restarts",
        type=click.IntRange(min=1),
        help="Train this many networks from different seeds, together, and combine them "
        "(default 1; 3-5 steady the results, see docs/results.md).",
    ),
    click.option(
        "--restart-combine",
        type=GuessingChoice(["mean", "median", "best"]),
        help="mean (default) or median of the restarts' standardised energies, or keep the "
        "restart with the lowest training loss.",
    ),
)


def restart_options(func):
    """Decorate a click command with :data:`RESTART_OPTIONS`."""
    for option in reversed(RESTART_OPTIONS):
        func = option(func)
    return func


def estimator_options(func):
    """Decorate a click command with :data:`ESTIMATOR_OPTIONS`."""
    for option in reversed(ESTIMATOR_OPTIONS):
        func = option(func)
    return func


def estimator_params(options: dict[str, Any]) -> dict[str, Any]:
    """``DAGMM`` keyword arguments from the options given on the command line.

    Options left out (None) are dropped, so that a preset's or the default value
    stands; ``--scaler none`` becomes None and ``--hidden-sizes 60,30,10`` a tuple.
    """
    params = {k: v for k, v in options.items() if v is not None}
    if params.get("scaler") == "none":
        params["scaler"] = None
    if "hidden_sizes" in params:
        text = str(params["hidden_sizes"])
        try:
            params["hidden_sizes"] = tuple(int(h) for h in text.split(","))
        except ValueError:
            raise InvalidInputError(
                f"--hidden-sizes must be integers like 60,30,10, got {text!r}"
            ) from None
    return params


def refuse_stdin_model(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A click callback for MODEL arguments: ``-`` (standard input) is refused, as
    DATA may be piped but a model is read by path (its header, then its tensors)."""
    from .pipes import is_stdin

    if is_stdin(value):
        raise click.BadParameter(
            "a model is read from its file by path, not from standard input: give the "
            "model file's path",
            ctx=ctx,
            param=param,
        )
    return value
