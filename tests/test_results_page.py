"""The figures of ``docs/results.md`` and of the README's headline table are those of their
records in ``docs/results/``, and the commands shown are the ones the records ran.

Project standard: a number in the docs comes from a command shown next to it that anyone can
rerun. Each ``dagmm reproduce`` / ``dagmm benchmark`` run writes a JSON record (its command,
machine, wall time and per-seed metrics); this test holds the pages to those records, so that
an edit changing a figure without a run fails.

How a table cites its record (the only structure the checker relies on):

- A link to ``results/<stem>.json`` (``docs/results/<stem>.json`` in the README) names a
  record. In a column header it is that column's record; anywhere else in a row it is that
  row's; in the first header cell it is the whole table's. A column's record wins over the
  row's, the row's over the table's. Several links in one place pool their per-seed records
  (one experiment run in parts, e.g. seeds 0-9 and 10-19).
- What a cell holds is read from the labels in the same order (column header, row label,
  first header cell): the metric from ``precision``, ``recall``, ``F1``, ``AUROC``,
  ``AUPRC``, ``seeds`` (number of seeds), ``wall`` (the record's wall time), ``epochs``
  (the epochs the run chose); the method from ``IsolationForest``, ``untrained``,
  ``paper's`` / a label starting with ``paper`` (the paper's own figure: its F1 is checked
  against the record's ``paper_f1``, the rest is not in the records), else DAGMM; a
  ``method`` column, where a table has one, comes right after the column header. A row label
  names a metric only at its start (``wall time of the whole run``).
- A record of several data sets, protocols or contamination levels is read at the row's
  ``data set`` / ``protocol`` / ``c`` cells (an empty cell repeats the one above); a row
  labelled ``mean of ...`` is the mean over all of the record's cells for that method.
- ``0.4848 ± 0.1158`` is a mean and standard deviation (ddof 0) over the per-seed records,
  recomputed here; each must equal the record's value rounded to the digits printed.

Tables without a record link (screens run from scratch scripts, the paper's own numbers)
are not checked. Every record a page links, or names by file name or by ``--tag`` in its
prose, must have its command shown on the pages (order of options, ``--out`` and the
program's path aside), and every command of a code block that writes a record (``--out``)
must be that record's command.
"""

from __future__ import annotations

import json
import math
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import click
import numpy as np
import pytest

from dagmm.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
#: The pages checked, each with the prefix its links to the records carry.
PAGES = {"docs/results.md": "results/", "README.md": "docs/results/"}

METRICS = ("precision", "recall", "f1", "auroc", "auprc")
_METRIC_WORDS = (*METRICS, "seeds", "wall", "epochs")
_METHOD_WORDS = (
    ("iforest", re.compile(r"IsolationForest")),
    ("untrained", re.compile(r"\buntrained\b", re.IGNORECASE)),
    ("paper", re.compile(r"^paper\b|\bpaper's\b", re.IGNORECASE)),
    ("dagmm", re.compile(r"\bDAGMM\b")),
)
_LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]+)\)")
_FIGURE = re.compile(r"^(\d[\d,]*(?:\.\d+)?)(?:\s*±\s*(\d+(?:\.\d+)?))?(?:\s*s)?$")
_EMPTY = {"", "–", "-"}
_PLACEHOLDER = re.compile(r"^[A-Z][A-Z_]+$")


# --- reading the page ---------------------------------------------------------------------


@dataclass
class Table:
    page: str
    line: int  # 1-based line of the header
    header: list[str]
    rows: list[tuple[int, list[str]]] = field(default_factory=list)


def _cells(line: str) -> list[str]:
    inner = line.strip()[1:-1] if line.strip().endswith("|") else line.strip()[1:]
    # ``\|`` is a literal bar inside a cell.
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", inner)]


def tables(text: str, page: str = "page") -> list[Table]:
    """The Markdown tables of ``text`` (outside code blocks)."""
    found: list[Table] = []
    lines = text.splitlines()
    in_code = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith("```"):
            in_code = not in_code
        elif (
            not in_code
            and line.startswith("|")
            and i + 1 < len(lines)
            and re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", lines[i + 1].strip())
        ):
            table = Table(page, i + 1, _cells(line))
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                table.rows.append((i + 1, _cells(lines[i])))
                i += 1
            found.append(table)
            continue
        i += 1
    return found


def _plain(cell: str) -> str:
    """A cell's text: links by their text, no emphasis or code marks."""
    return _LINK.sub(r"\1", cell).replace("**", "").replace("`", "").strip()


def _stems(cell: str, prefix: str) -> tuple[str, ...]:
    out = []
    for _, target in _LINK.findall(cell):
        match = re.fullmatch(re.escape(prefix) + r"([^/#]+)\.json", target)
        if match:
            out.append(match.group(1))
    return tuple(out)


def _metric(label: str, start_only: bool = False) -> str | None:
    words = re.findall(r"[a-z0-9]+", _plain(label).lower())
    if start_only:
        words = words[:1]
    named = [w for w in _METRIC_WORDS if w in words]
    return named[0] if len(named) == 1 else None


def _method(label: str) -> str | None:
    text = _plain(label)
    for name, pattern in _METHOD_WORDS:
        if pattern.search(text):
            return name
    return None


# --- reading the records ------------------------------------------------------------------


@cache
def record(stem: str) -> dict[str, Any]:
    return json.loads((RESULTS / f"{stem}.json").read_text(encoding="utf-8"))


_GROUP_KEYS = ("dataset", "protocol", "contamination")


def _group_keys(stems: tuple[str, ...]) -> tuple[str, ...]:
    """The keys besides the method that tell a record's summary rows apart."""
    keys: set[str] = set()
    for stem in stems:
        for row in record(stem)["summary"]:
            keys.update(k for k in _GROUP_KEYS if k in row)
    return tuple(k for k in _GROUP_KEYS if k in keys)


def _per_seed(stems: tuple[str, ...], method: str, where: dict[str, Any]) -> list[dict]:
    return [
        r
        for stem in stems
        for r in record(stem)["records"]
        if r["method"] == method and all(r.get(k) == v for k, v in where.items())
    ]


# --- checking -----------------------------------------------------------------------------


@dataclass
class Check:
    problems: list[str] = field(default_factory=list)
    figures: int = 0  # numbers compared with a record
    stems: set[str] = field(default_factory=set)  # records cited by a table


def _matches(printed: str, value: float) -> bool:
    """``printed`` is ``value`` rounded to the digits shown (either way at a half)."""
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    number = float(printed.replace(",", ""))
    return math.isfinite(value) and abs(number - value) <= 0.5 * 10.0**-decimals + 1e-9


def _expected(
    stems: tuple[str, ...], method: str, metric: str, where: dict[str, Any] | None
) -> tuple[float, float | None] | str:
    """(value, std or None) the record gives, or why there is none. ``where`` None: the mean
    over all of the record's cells."""
    return _expected_at(stems, method, metric, None if where is None else tuple(where.items()))


@cache
def _expected_at(
    stems: tuple[str, ...], method: str, metric: str, at: tuple[tuple[str, Any], ...] | None
) -> tuple[float, float | None] | str:
    where = None if at is None else dict(at)
    if metric in ("wall", "epochs"):
        if len(stems) != 1:
            return f"{metric} of pooled records"
        doc = record(stems[0])
        if metric == "wall":
            return float(doc["wall_s"]), None
        epochs = doc.get("dagmm_info", {}).get("epochs")
        return (float(epochs), None) if epochs is not None else "no epochs in the record"
    if method == "paper":
        if metric != "f1" or "paper_f1" not in record(stems[0]):
            return "not in the record"
        return float(record(stems[0])["paper_f1"]), None
    if where is None:  # the mean of a record's cells
        keys = _group_keys(stems)
        cells: dict[tuple, list[float]] = {}
        for stem in stems:
            for r in record(stem)["records"]:
                if r["method"] == method:
                    cells.setdefault(tuple(r.get(k) for k in keys), []).append(r[metric])
        if not cells or metric == "seeds":
            return "no cells to average"
        return float(np.mean([np.mean(v) for v in cells.values()])), None
    recs = _per_seed(stems, method, where)
    if not recs:
        return f"no {method} records at {where}"
    if metric == "seeds":
        return float(len(recs)), None
    values = np.array([r[metric] for r in recs], dtype=float)
    return float(np.mean(values)), float(np.std(values))


def _where(stems: tuple[str, ...], keys: dict[str, str | None]) -> dict[str, Any] | str:
    """Which cells of the records a row reads: its data set, protocol and level, as far as
    the records have several; or why that cannot be told."""
    wanted = _group_keys(stems)
    where: dict[str, Any] = {}
    for key in wanted:
        text = keys.get(key)
        if not text:
            return f"no {key} for a record of several"
        if key == "contamination":
            match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*%", text)
            if not match:
                return f"contamination {text!r} unreadable"
            where[key] = round(float(match.group(1)) / 100, 10)
        else:
            where[key] = text.split()[0].lower()
    return where


def _key_columns(header: list[str]) -> dict[int, str]:
    out = {}
    for j, head in enumerate(header):
        text = _plain(head).lower()
        if text.startswith("data set"):
            out[j] = "dataset"
        elif text.startswith("protocol"):
            out[j] = "protocol"
        elif re.match(r"^c\b", text):
            out[j] = "contamination"
        elif j and text.startswith("method"):
            out[j] = "method"
    return out


def check_table(table: Table, prefix: str, check: Check) -> None:
    header = table.header
    column_stems = [_stems(h, prefix) if j else () for j, h in enumerate(header)]
    table_stems = _stems(header[0], prefix)
    key_columns = _key_columns(header)
    keys: dict[str, str | None] = {}
    for line, cells in table.rows:
        where_at = f"{table.page}:{line}"
        row_stems = tuple(s for c in cells for s in _stems(c, prefix))
        label = cells[0] if cells else ""
        for j, key in key_columns.items():
            if j < len(cells) and _plain(cells[j]):
                keys[key] = _plain(cells[j])
        for j, cell in enumerate(cells):
            if j == 0 or j in key_columns or j >= len(header):
                continue
            stems = column_stems[j] or row_stems or table_stems
            if not stems:
                continue
            metric = _metric(header[j]) or _metric(label, True) or _metric(header[0])
            if metric is None:
                continue  # not a figure of the record (a note, a setting)
            method = (
                _method(header[j])
                or _method(keys.get("method") or "")
                or _method(label)
                or _method(header[0])
                or "dagmm"
            )
            text = _plain(cell)
            if text in _EMPTY:
                continue
            figure = _FIGURE.fullmatch(text)
            if figure is None:
                check.problems.append(f"{where_at}: {header[j]!r}: {cell!r} is no figure")
                continue
            missing = [s for s in stems if not (RESULTS / f"{s}.json").is_file()]
            if missing:
                check.problems.append(f"{where_at}: no record {missing}")
                continue
            check.stems.update(stems)
            where: dict[str, Any] | None = None  # None: the mean over the record's cells
            if not _plain(label).lower().startswith("mean of"):
                selected = _where(stems, keys)
                if isinstance(selected, str):
                    check.problems.append(f"{where_at}: {selected}")
                    continue
                where = selected
            expected = _expected(stems, method, metric, where)
            if isinstance(expected, str):
                if method != "paper":
                    check.problems.append(f"{where_at}: {metric} of {method}: {expected}")
                continue
            value, std = expected
            shown_mean, shown_std = figure.group(1), figure.group(2)
            name = f"{'+'.join(stems)} {method} {metric}{'' if where is None else where}"
            check.figures += 1
            if not _matches(shown_mean, value):
                check.problems.append(f"{where_at}: {name}: shown {shown_mean}, record {value:.6g}")
            if shown_std is not None:
                if std is None:
                    check.problems.append(f"{where_at}: {name}: a ± where the record has none")
                elif not _matches(shown_std, std):
                    check.problems.append(
                        f"{where_at}: {name}: std shown {shown_std}, record {std:.6g}"
                    )


# --- commands -----------------------------------------------------------------------------


def _code_lines(text: str) -> Iterator[tuple[int, str, bool]]:
    """(line, command, in a code block) of the commands of a Markdown text: the lines of
    its code blocks and its inline code spans (which may run over a line break)."""
    in_code = False
    prose: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            in_code = not in_code
            continue
        if in_code:
            yield number, re.sub(r"\s+#.*$", "", line.strip()), True
        else:
            prose.append((number, line))
    joined = "\n".join(line for _, line in prose)
    for match in re.finditer(r"`([^`]+)`", joined):
        number = prose[joined.count("\n", 0, match.start())][0]
        yield number, " ".join(match.group(1).split()), False


def _argv(command: str) -> list[str] | None:
    """The words after ``reproduce`` / ``benchmark`` of a ``dagmm`` command, with the
    subcommand first; None for another command."""
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    for i, word in enumerate(words):
        if word in ("reproduce", "benchmark") and (
            i == 0 or words[i - 1].endswith(("dagmm", "main.py", "-c"))
        ):
            return words[i:]
    return None


def _params(argv: list[str]) -> dict[str, Any] | None:
    """What the command line makes of ``argv`` (output folder aside), None if it does not
    parse."""
    params = _parsed(tuple(argv))
    return None if params is None else dict(params)


@cache
def _parsed(argv: tuple[str, ...]) -> dict[str, Any] | None:
    command = cli.commands[argv[0]]
    try:
        ctx = command.make_context(argv[0], list(argv[1:]))
    except click.exceptions.ClickException:
        return None
    params = dict(ctx.params)
    params.pop("out_dir", None)
    return params


def shown_commands(texts: list[str]) -> list[tuple[int, list[str], bool]]:
    out = []
    for text in texts:
        for line, command, in_code in _code_lines(text):
            if "dagmm" not in command:
                continue
            argv = _argv(command)
            if argv is not None:
                out.append((line, argv, in_code))
    return out


def _same(shown: list[str], recorded: list[str]) -> bool:
    if shown[0] != recorded[0]:
        return False
    if any(_PLACEHOLDER.match(w) for w in shown):  # ``dagmm reproduce DATASET ...``
        if len(shown) != len(recorded):
            return False
        shown = [r if _PLACEHOLDER.match(s) else s for s, r in zip(shown, recorded, strict=True)]
    a, b = _params(shown), _params(recorded)
    return a is not None and a == b


def _stem_of(argv: list[str]) -> str | None:
    params = _params(argv)
    if params is None:
        return None
    tag = f"-{params['tag']}" if params.get("tag") else ""
    if argv[0] == "benchmark":
        return f"benchmark{tag}"
    study = "-contamination" if params.get("contamination_study") else ""
    return f"{params['dataset']}{study}{tag}"


def check_commands(text: str, others: list[str], stems: set[str], page: str, check: Check) -> None:
    """Every record in ``stems`` has its command shown in ``text`` or ``others``; every
    command of a code block of ``text`` that writes a record (``--out``) is that record's."""
    shown = shown_commands([text, *others])
    for stem in sorted(stems):
        recorded = _argv(record(stem)["command"])
        if recorded is None or _params(recorded) is None:
            check.problems.append(f"{stem}.json: command {record(stem)['command']!r} unreadable")
            continue
        if not any(_same(argv, recorded) for _, argv, _ in shown):
            check.problems.append(
                f"{page}: {stem}.json's command is shown nowhere: {' '.join(recorded)}"
            )
    for line, argv, in_code in shown_commands([text]):
        if not in_code or "--out" not in argv or any(_PLACEHOLDER.match(w) for w in argv):
            continue
        target = _stem_of(argv)
        if target is None:
            check.problems.append(f"{page}:{line}: `{' '.join(argv)}` does not parse")
        elif (RESULTS / f"{target}.json").is_file():
            written = _argv(record(target)["command"])
            if written is None or not _same(argv, written):
                check.problems.append(
                    f"{page}:{line}: `{' '.join(argv)}` is not {target}.json's command "
                    f"({record(target)['command']})"
                )


def named_records(text: str) -> set[str]:
    """The records ``text`` names outside its tables' links: by file name, or by the
    ``--tag`` of their command (prose such as "the same command with ``--tag X``")."""
    named = set()
    for path in sorted(RESULTS.glob("*.json")):
        stem = path.stem
        argv = _argv(record(stem)["command"])
        params = _params(argv) if argv else None
        tag = params.get("tag") if params else None
        if re.search(rf"(?<![\w.-]){re.escape(stem)}(?![\w-])", text) or (
            tag and re.search(rf"--tag\s+{re.escape(tag)}(?![\w.-])", text)
        ):
            named.add(stem)
    return named


def check_page(text: str, prefix: str, page: str, others: list[str]) -> Check:
    """Check every record-citing table of ``text``, and that the records it cites or names
    have their commands shown."""
    check = Check()
    for target in re.findall(r"\]\((" + re.escape(prefix) + r"[^)\s#]+)\)", text):
        if not (ROOT / Path(page).parent / target).exists():
            check.problems.append(f"{page}: link to missing {target}")
    for table in tables(text, page):
        check_table(table, prefix, check)
    check_commands(text, others, check.stems | named_records(text), page, check)
    return check


def _read(page: str) -> str:
    return (ROOT / page).read_text(encoding="utf-8")


def _check(page: str, text: str | None = None) -> Check:
    text = _read(page) if text is None else text
    # The README's records are run with the commands shown on the results page.
    others = [_read(p) for p in PAGES if p != page]
    return check_page(text, PAGES[page], page, others)


# --- tests --------------------------------------------------------------------------------


@pytest.mark.parametrize("page", list(PAGES))
def test_figures_and_commands_are_those_of_the_records(page: str) -> None:
    check = _check(page)
    assert not check.problems, "\n".join(check.problems)


def test_every_record_is_cited() -> None:
    """A record in docs/results/ that no page links or names is a run nobody can find (until
    2026-12-05 benchmark-k1.json was one); its CSV twin goes with it."""
    cited: set[str] = set()
    for page in PAGES:
        text = _read(page)
        cited |= _check(page, text).stems | named_records(text)
    records = {path.stem for path in RESULTS.glob("*.json")}
    assert not records - cited, sorted(records - cited)
    tables_without_record = {p.stem for p in RESULTS.glob("*.csv")} - records
    assert not tables_without_record, sorted(tables_without_record)


def test_the_check_sees_the_tables() -> None:
    # It must not pass by reading nothing: the tables cite records and hold many figures.
    results, readme = _check("docs/results.md"), _check("README.md")
    assert results.figures > 800 and len(results.stems) > 50
    assert readme.figures > 50 and len(readme.stems) >= 10


def _mutated(text: str, old: str, new: str) -> str:
    assert text.count(old) >= 1, old
    return text.replace(old, new, 1)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        # one digit of a mean, of a std, of an IsolationForest control, of a wall time
        ("| 0.4729 ± 0.1169 |", "| 0.4729 ± 0.1168 |"),
        ("**0.4848 ± 0.1158**", "**0.4849 ± 0.1158**"),
        ("| 0.9142 ± 0.0023 |", "| 0.9142 ± 0.0024 |"),
        ("| 1,692 s |", "| 1,682 s |"),
        # a mean over a benchmark's cells, a contamination level
        ("| 0.817 | 0.830 |", "| 0.818 | 0.830 |"),
        ("| 1 % | 0.8401 ± 0.0393 |", "| 1 % | 0.8402 ± 0.0393 |"),
    ],
)
def test_a_changed_digit_fails(old: str, new: str) -> None:
    check = _check("docs/results.md", _mutated(_read("docs/results.md"), old, new))
    assert check.problems, f"changing {old!r} to {new!r} went unnoticed"


def test_a_changed_readme_figure_fails() -> None:
    text = _mutated(_read("README.md"), "**0.950 ± 0.015**", "**0.951 ± 0.015**")
    assert any("0.951" in p for p in _check("README.md", text).problems)


def test_a_changed_command_fails() -> None:
    text = _read("docs/results.md")
    edited = _mutated(
        text, "--seeds 20 --epochs 2000 --threads 1", "--seeds 20 --epochs 3000 --threads 1"
    )
    problems = _check("docs/results.md", edited).problems
    assert any("thyroid-paper-e2000" in p for p in problems), problems


def test_a_row_citing_no_record_is_not_checked() -> None:
    page = "| method | F1 |\n|---|---|\n| a screen | 0.1234 ± 0.0001 |\n"
    check = check_page(page, "results/", "page.md", [])
    assert check.figures == 0 and not check.problems


def test_figures_match_to_the_printed_digits() -> None:
    assert _matches("0.4848", 0.48475852) and _matches("0.485", 0.48475852)
    assert not _matches("0.4847", 0.48475852 + 1e-5)
    assert _matches("1,692", 1691.5) and not _matches("1,690", 1691.5)
