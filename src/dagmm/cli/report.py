"""``dagmm report`` and ``dagmm explain``."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import click

from .params import (
    CHUNK_ROWS_OPTION,
    THREADS_OPTION,
    GuessingChoice,
    UserPath,
    csv_format_options,
    model_device_option,
    refuse_stdin_model,
)

if TYPE_CHECKING:  # the CLI imports the package's modules when a command runs
    from ..tableio import CsvFormat

#: Most rows ``dagmm explain`` prints without --rows (beyond: --rows N or --out FILE).
PRINT_LIMIT = 10_000


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
    help="HTML file, named .html or .htm (a PNG folder with --format png).",
)
@click.option(
    "--labels",
    "labels",
    help="Ground-truth column for ROC/PR: 0/1 (1 = anomaly), or see --anomaly-value "
    "(default: none).",
)
@click.option(
    "--anomaly-value",
    "anomaly_values",
    multiple=True,
    metavar="VALUE",
    help="A value of --labels that marks an anomaly, every other value normal "
    "(repeatable: --anomaly-value attack --anomaly-value probe).",
)
@click.option(
    "--id-column", help="Column identifying rows in the top-rows table (default: row positions)."
)
@click.option(
    "--format",
    "fmt",
    type=GuessingChoice(["html", "png"]),
    default="html",
    show_default=True,
    help="One self-contained HTML file, or one PNG per figure in the --out folder.",
)
@click.option(
    "--top",
    default=20,
    show_default=True,
    type=click.IntRange(min=0),
    help="Most anomalous rows listed and explained in the report.",
)
@click.option("--title", help="Report title (default: DAGMM anomaly report).")
@CHUNK_ROWS_OPTION
@model_device_option()
@csv_format_options
@THREADS_OPTION
def report(
    model_path: str,
    data: str,
    out: str,
    labels: str | None,
    anomaly_values: tuple[str, ...],
    id_column: str | None,
    fmt: str,
    top: int,
    title: str | None,
    chunk_rows: int,
    device: str | None,
    csv_format: CsvFormat,
) -> None:
    """Write a report on DATA scored by MODEL: energies, z space, training, mixture, top rows.

    DATA is read in chunks: memory holds one chunk, each row's energy and z, and the
    --top rows.
    """
    from .. import load
    from .._atomic import check_not_an_input
    from ..report import check_report_target, require_matplotlib, write_report_file

    if out == "-":
        from ..exceptions import InvalidInputError

        raise InvalidInputError(
            "report --out -: a report is an HTML file (or PNG files), not a stream; give a "
            "file name such as report.html (score --out - writes scores to stdout)"
        )
    if anomaly_values and not labels:
        raise click.UsageError(
            "--anomaly-value says which values of --labels are anomalies: give --labels too"
        )
    require_matplotlib()
    check_report_target(out, fmt)  # before any scoring: a mistyped --out must not cost it
    check_not_an_input(out, "--out", {"DATA": data, "MODEL": model_path})
    if fmt == "html":
        check_html_name(out)
    model = load(model_path, device)
    started = time.perf_counter()
    # streamed: memory holds a chunk, each row's energy and z, and the --top rows
    written, n_rows = write_report_file(
        model,
        data,
        out,
        labels=labels,
        anomaly_values=anomaly_values or None,
        id_column=id_column,
        top=top,
        fmt=fmt,
        title=title,
        chunk_rows=chunk_rows,
        csv_format=csv_format,
    )
    what = written[0] if fmt == "html" else f"{len(written)} PNG files in {out}"
    rows = f"{n_rows} row" if n_rows == 1 else f"{n_rows} rows"
    click.echo(f"report on {rows} written to {what} ({time.perf_counter() - started:.1f} s)")


#: Names an HTML report may have (``--out``), in lower case.
HTML_SUFFIXES = (".html", ".htm")


def check_html_name(out: str, option: str = "--out", png_hint: bool = True) -> None:
    """Refuse an HTML report's file (``option``, as the user named it) of another type's
    name: ``report.pdf`` or ``report.png`` would hold HTML that the program the name
    calls for cannot open. ``png_hint``: say that ``--format png`` writes PNG files (a
    command without ``--format``, ``dagmm demo``, does not)."""
    from pathlib import Path

    from ..exceptions import InvalidInputError

    suffix = Path(out).suffix
    if suffix.lower() not in HTML_SUFFIXES:
        got = f"'{suffix}'" if suffix else "no suffix"
        hint = "; --format png writes one PNG file per figure into a folder" if png_hint else ""
        raise InvalidInputError(
            f"{option} {out}: the HTML report's name must end in .html or .htm (got {got})" + hint
        )


@click.command()
@click.argument(
    "model_path", metavar="MODEL", type=UserPath(dir_okay=True), callback=refuse_stdin_model
)
@click.argument("data", type=UserPath(dir_okay=True))
@click.option(
    "--top",
    "top_k",
    default=3,
    show_default=True,
    type=click.IntRange(min=1),
    help="Columns listed per row: those whose most normal value lowers its energy the most.",
)
@click.option(
    "--rows",
    "max_rows",
    type=click.IntRange(min=1),
    help="Explain only the N highest-energy rows, found in one streamed pass over DATA "
    "(default: every row, explained chunk by chunk; without --out at most "
    f"{PRINT_LIMIT:,} rows are printed).",
)
@click.option("--id-column", help="Column copied to the output to identify rows.")
@click.option(
    "--out",
    "out",
    type=UserPath(),
    help="CSV, Parquet or JSON Lines to write; - writes CSV to stdout (default: print a table).",
)
@CHUNK_ROWS_OPTION
@model_device_option()
@csv_format_options
@THREADS_OPTION
def explain(
    model_path: str,
    data: str,
    top_k: int,
    max_rows: int | None,
    id_column: str | None,
    out: str | None,
    chunk_rows: int,
    device: str | None,
    csv_format: CsvFormat,
) -> None:
    """Explain DATA's rows: the columns that drive each row's energy, and their normal values.

    DATA is read in chunks: with --rows N memory holds one chunk and the N rows,
    without it every row is explained and written as its chunk is read.
    """
    import numpy as np
    import pandas as pd

    from .. import load
    from .._atomic import check_not_an_input, check_writable
    from ..exceptions import InvalidInputError, NumericalError
    from ..explain import EXPLANATION_COLUMNS
    from ..report import TopRows, encoded_chunks
    from ..tableio import STDOUT, TableWriter, output_format
    from .core import check_replaceable

    if id_column in EXPLANATION_COLUMNS:
        raise InvalidInputError(
            f"cannot copy column {id_column!r} to the output (--id-column): the explanations "
            f"are written as {list(EXPLANATION_COLUMNS)}"
        )
    if out and out != STDOUT:
        check_writable(out)  # a folder named as such, as score does
        output_format(out)
        check_not_an_input(out, "--out", {"DATA": data, "MODEL": model_path})
        check_replaceable(out, "--out", "table")
    model = load(model_path, device)

    def scored():
        # energies only to find the --rows highest
        chunks = encoded_chunks(
            model,
            data,
            [id_column],
            chunk_rows,
            energy=max_rows is not None,
            csv_format=csv_format,
            copies=[id_column] if id_column else [],  # as the file holds them: 00042 stays
            wanted_by={id_column: "--id-column"} if id_column else None,
        )
        for start, frame, encoded, energy, imputed in chunks:
            yield start, encoded, energy, frame[id_column] if id_column else None, imputed

    def tables():
        try:
            yield from explained()
        except NumericalError as exc:
            # explain_encoded's energies: named with the file, as score's are (until
            # 2026-12-07 "non-finite energy for 2 row(s) ..." named none)
            prefix = f"{data}: "
            raise NumericalError(
                str(exc) if str(exc).startswith(prefix) else prefix + str(exc)
            ) from None

    def explained():
        if max_rows is not None:
            best = TopRows(max_rows)
            for start, encoded, energy, ids, imputed in scored():
                best.add(energy, encoded, start, ids, imputed)
            assert best.data is not None  # encoded_chunks raises on a file without rows
            yield _explained(
                model, best.data, best.positions, top_k, id_column, best.ids, best.imputed
            )
            return
        for start, encoded, _, ids, imputed in scored():
            if not out and start + len(encoded) > PRINT_LIMIT:
                raise InvalidInputError(
                    f"{data} has more than {PRINT_LIMIT:,} rows, too many to print: give "
                    "--rows N to explain the N highest-energy rows, or --out FILE to "
                    "explain every row into a file"
                )
            positions = np.arange(start, start + len(encoded))
            yield _explained(model, encoded, positions, top_k, id_column, ids, imputed)

    n_rows = 0
    if out:
        with TableWriter(out) as writer:
            for table in tables():
                writer.write(table)
                n_rows += table["row"].nunique()
        # on stderr when stdout carries the rows: the pipe holds CSV alone
        to_stdout = out == STDOUT
        click.echo(
            f"explained {n_rows} rows; wrote {'stdout' if to_stdout else out}", err=to_stdout
        )
    else:
        table = pd.concat(list(tables()), ignore_index=True)
        click.echo(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))


def _explained(model, encoded, positions, top_k: int, id_column: str | None, ids, imputed=None):
    """The explanation table of encoded rows at ``positions``, as ``dagmm explain`` writes it."""
    import numpy as np

    from .._numbers import value_text
    from ..explain import explain_encoded

    table = explain_encoded(model, encoded, top_k=top_k, row_labels=positions, imputed=imputed)
    shifts, log_inputs = model.encoder_.shifts, model.encoder_.log_inputs
    for name in ("value", "expected"):
        table[name] = [
            value_text(v, shifts.get(column), log_inputs) if isinstance(v, float) else str(v)
            for v, column in zip(table[name], table["column"], strict=True)
        ]
    if id_column:
        import pandas as pd

        per_row = len(table) // len(positions)  # min(top_k, columns) lines per row
        # taken from the ids' own array: a nullable Int64 stays integers (np.asarray
        # made it float64, and a CSV file's 00042 stays text)
        values = pd.Series(ids).array
        table.insert(1, id_column, values.take(np.repeat(np.arange(len(values)), per_row)))
    return table


COMMANDS = [report, explain]
