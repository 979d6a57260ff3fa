"""``dagmm report`` and ``dagmm explain``."""

from __future__ import annotations

import time

import click


def _read(model, data: str, requested: list[str | None]):
    """The model's feature columns plus the ``requested`` ones (id, labels) from DATA."""
    from ..exceptions import InvalidInputError
    from ..tableio import read_table, text_columns

    extra = [c for c in dict.fromkeys(requested) if c]
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        features = [str(c) for c in names]
        clash = [c for c in extra if c in features]
        if clash:
            raise InvalidInputError(
                f"{data}: column(s) {clash} are model features and cannot be used as id/labels"
            )
        frame = read_table(data, features + extra, text_columns(model) + extra)
        return frame[features], frame
    frame = read_table(data, text_columns=extra)  # a model of an array: numeric columns
    missing = [c for c in extra if c not in frame.columns]
    if missing:
        raise InvalidInputError(f"{data}: column(s) {missing} not in the file")
    return frame.drop(columns=extra), frame


@click.command()
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=True))
@click.argument("data", type=click.Path(dir_okay=True))
@click.option("--out", "out", required=True, type=click.Path(), help="HTML file (or PNG folder).")
@click.option("--labels", "labels", help="0/1 ground-truth column (1 = anomaly) for ROC/PR.")
@click.option("--id-column", help="Column identifying rows in the top-rows table.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "png"]),
    default="html",
    show_default=True,
    help="One self-contained HTML file, or one PNG per figure in the --out folder.",
)
@click.option("--top", default=20, show_default=True, type=click.IntRange(min=0), help="Rows.")
@click.option("--title", help="Report title.")
def report(
    model_path: str,
    data: str,
    out: str,
    labels: str | None,
    id_column: str | None,
    fmt: str,
    top: int,
    title: str | None,
) -> None:
    """Write a report on DATA scored by MODEL: energies, z space, training, mixture, top rows."""
    from .. import load
    from .._atomic import check_not_an_input
    from ..exceptions import InvalidInputError
    from ..report import check_report_target, require_matplotlib, write_report

    require_matplotlib()
    check_report_target(out, fmt)  # before any scoring: a mistyped --out must not cost it
    check_not_an_input(out, "--out", {"DATA": data, "MODEL": model_path})
    model = load(model_path)
    started = time.perf_counter()
    features, frame = _read(model, data, [id_column, labels])
    try:
        written = write_report(
            model,
            features,
            out,
            labels=frame[labels].to_numpy() if labels else None,
            ids=frame[id_column].to_numpy() if id_column else None,
            top=top,
            fmt=fmt,
            title=title,
            source=data,
            label_name=labels or "labels",
        )
    except InvalidInputError as exc:
        raise InvalidInputError(f"{data}: {exc}") from None
    what = written[0] if fmt == "html" else f"{len(written)} PNG files in {out}"
    click.echo(
        f"report on {len(frame)} rows written to {what} ({time.perf_counter() - started:.1f} s)"
    )


@click.command()
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=True))
@click.argument("data", type=click.Path(dir_okay=True))
@click.option(
    "--top",
    "top_k",
    default=3,
    show_default=True,
    type=click.IntRange(min=1),
    help="Columns per row.",
)
@click.option(
    "--rows",
    "max_rows",
    type=click.IntRange(min=1),
    help="Explain only the N highest-energy rows (default: every row).",
)
@click.option("--id-column", help="Column copied to the output to identify rows.")
@click.option(
    "--out", "out", type=click.Path(), help="CSV, Parquet or JSON Lines to write (default: print)."
)
def explain(
    model_path: str,
    data: str,
    top_k: int,
    max_rows: int | None,
    id_column: str | None,
    out: str | None,
) -> None:
    """Explain DATA's rows: the columns that drive each row's energy, and their normal values."""
    import numpy as np

    from .. import load
    from .._atomic import check_not_an_input, check_writable
    from ..explain import explain_encoded
    from ..tableio import TableWriter, output_format

    if out:
        output_format(out)
        check_writable(out)
        check_not_an_input(out, "--out", {"DATA": data, "MODEL": model_path})
    model = load(model_path)
    features, frame = _read(model, data, [id_column])
    encoded = model._encode(features)
    rows = np.arange(len(encoded))
    if max_rows is not None:
        energy = model._energy_numeric(encoded)
        rows = np.lexsort((rows, -energy))[:max_rows]
    table = explain_encoded(model, encoded[rows], top_k=top_k, row_labels=rows)
    for name in ("value", "expected"):
        table[name] = [f"{v:.6g}" if isinstance(v, float) else str(v) for v in table[name]]
    if id_column:
        table.insert(1, id_column, frame[id_column].to_numpy()[table["row"].to_numpy()])
    if out:
        with TableWriter(out) as writer:
            writer.write(table)
        click.echo(f"explained {len(rows)} rows; wrote {out}")
    else:
        click.echo(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))


COMMANDS = [report, explain]
