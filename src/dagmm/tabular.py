"""Turning user tables (numpy arrays, pandas DataFrames) into the numeric matrix the network sees.

The encoder is fitted on the training data and saved with the model as plain
JSON. Numeric columns pass through, or through :func:`symlog` with
``log_inputs=True`` (scaling happens inside the network, see
:mod:`dagmm.network`); categorical and string columns are one-hot encoded
with the categories seen in training. A category never seen in training
encodes as all zeros in its column's one-hot group (so such a row looks like
"none of the known categories"), and a :class:`UnseenCategoryWarning` counts
how many values were affected. Categories are kept as text and matched by value:
an integer category matches the same integer in any dtype (``1``, ``1.0``,
``"1"``), never ``"01"`` or ``1.5``.

At scoring, a column fitted on numbers must hold numbers (booleans count as 0
and 1): times are refused, as at fit, rather than read as nanoseconds.
"""

from __future__ import annotations

import contextlib
import decimal
import math
import os
import re
import shlex
import sys
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from ._numbers import to_numeric
from .exceptions import InvalidInputError

__all__ = [
    "FLOAT32_STEPS",
    "MARKERS_MAX_SHARE",
    "MARK_NAMES",
    "MISSING_WORDS",
    "EmptyColumnWarning",
    "IdentifierColumnWarning",
    "LabelColumnWarning",
    "NumbersAsText",
    "StrayText",
    "TabularEncoder",
    "UnseenCategoryWarning",
    "check_category_count",
    "check_numbers_as_text",
    "check_stray_text",
    "close_names",
    "describe_rows",
    "find_numbers_as_text",
    "find_stray_text",
    "float32_shift",
    "held_unseen_categories",
    "hints_for",
    "mark_spelling",
    "read_as_numbers_hint",
    "refuse_empty_column",
    "shifts_from_ranges",
    "summed_unseen_categories",
    "symexp",
    "symlog",
    "warn_if_identifier",
    "warn_unseen_categories",
]

_MISSING_POLICIES = ("raise", "impute")

#: The words pandas reads as missing by default ("NA", "NULL", "None", "nan", ...).
#: In a CSV file they mean "missing" only in numeric columns: in a text column
#: (a category such as the region "NA" or the service "None") they are values.
#: An empty field is missing in every column.
MISSING_WORDS = frozenset(
    # pandas.read_csv's default na_values (its documentation lists them), less ""
    (
        "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
        "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
    )
)  # fmt: skip
#: The words ``pandas.read_csv`` reads as booleans, and the booleans they are.
BOOLEAN_WORDS = {
    "True": True, "TRUE": True, "true": True, "False": False, "FALSE": False, "false": False
}  # fmt: skip


class UnseenCategoryWarning(UserWarning):
    """Scoring data holds categorical values that training never saw.

    Attributes
    ----------
    counts : dict of str to int
        For each categorical column, how many of its values training never saw.
    examples : dict of str to dict of str to str or None
        For each such column, a few of those values (at most :data:`UNSEEN_EXAMPLES`,
        as text), each with the training category it equals but for surrounding
        spaces and case (``"tcp "``: ``"tcp"``), else None.
    """

    def __init__(
        self,
        message: str,
        counts: dict[str, int] | None = None,
        examples: dict[str, dict[str, str | None]] | None = None,
    ) -> None:
        super().__init__(message)
        self.counts: dict[str, int] = dict(counts or {})
        self.examples: dict[str, dict[str, str | None]] = {
            name: dict(values) for name, values in (examples or {}).items()
        }


#: Values an :class:`UnseenCategoryWarning` names per column.
UNSEEN_EXAMPLES = 3


def _unseen_message(
    counts: dict[str, int],
    where: str = "",
    examples: dict[str, dict[str, str | None]] | None = None,
) -> str:
    examples = examples or {}
    parts = []
    for name, count in counts.items():
        shown = [
            repr(value) + (f" (training has {near!r})" if near is not None else "")
            for value, near in examples.get(name, {}).items()
        ]
        such = f" such as {', '.join(shown)}" if shown else ""
        parts.append(f"{name!r}: {count} value(s){such}")
    return (
        f"{where}categorical values never seen in training were encoded as all-zero "
        f"one-hot groups ({'; '.join(parts)})"
    )


def merge_unseen_examples(
    into: dict[str, dict[str, str | None]], more: dict[str, dict[str, str | None]]
) -> None:
    """Add ``more``'s examples to ``into``'s, at most :data:`UNSEEN_EXAMPLES` a column."""
    for name, values in more.items():
        kept = into.setdefault(name, {})
        for value, near in values.items():
            if len(kept) < UNSEEN_EXAMPLES:
                kept.setdefault(value, near)


def _unseen_examples(known: Sequence[str], values: Any) -> dict[str, str | None]:
    """A few distinct ``values`` (categories training never saw), as text, each with
    the training category of ``known`` it equals but for surrounding spaces and case
    (``"tcp "`` and ``"TCP"``: ``"tcp"``), else None.

    Parameters
    ----------
    known : sequence of str
        The column's training categories.
    values : iterable
        Its values never seen, in order.

    Returns
    -------
    dict of str to str or None
        At most :data:`UNSEEN_EXAMPLES` of them.
    """
    folded = {str(k).strip().casefold(): str(k) for k in known}
    found: dict[str, str | None] = {}
    for value in pd.unique(pd.Series(values, dtype=object).astype(str)):
        if len(found) == UNSEEN_EXAMPLES:
            break
        found[value] = folded.get(value.strip().casefold())
    return found


@contextlib.contextmanager
def held_unseen_categories() -> Iterator[dict[str, int]]:
    """Hold back the :class:`UnseenCategoryWarning` of everything encoded inside,
    counting its values per column; other warnings pass through as they come.

    Yields
    ------
    dict of str to int
        The counts so far, per column (complete on leaving).
    """
    totals = UnseenCounts()
    with warnings.catch_warnings():
        # every chunk's warning must reach the count, repeated messages included
        warnings.simplefilter("always", UnseenCategoryWarning)
        show = warnings.showwarning

        def hold(message, category, filename, lineno, file=None, line=None) -> None:
            if isinstance(message, UnseenCategoryWarning):
                for name, count in message.counts.items():
                    totals[name] = totals.get(name, 0) + count
                merge_unseen_examples(totals.examples, message.examples)
            else:
                show(message, category, filename, lineno, file, line)

        warnings.showwarning = hold
        yield totals


def warn_unseen_categories(totals: dict[str, int], where: str = "", stacklevel: int = 2) -> None:
    """One :class:`UnseenCategoryWarning` for the counts ``totals`` (none if empty).

    Parameters
    ----------
    totals : dict of str to int
        Values never seen in training, per column.
    where : str, default ""
        Put before the message (a file name and ": ").
    stacklevel : int, default 2
        As ``warnings.warn``'s, counted from the caller of this function.
    """
    if totals:
        examples = getattr(totals, "examples", {})
        warnings.warn(
            UnseenCategoryWarning(_unseen_message(totals, where, examples), dict(totals), examples),
            stacklevel=stacklevel + 1,
        )


class UnseenCounts(dict):
    """Counts of values never seen in training per column, and a few of them
    (``examples``, as :class:`UnseenCategoryWarning` has them)."""

    def __init__(self) -> None:
        super().__init__()
        self.examples: dict[str, dict[str, str | None]] = {}

    @classmethod
    def of(cls, counts: dict[str, int]) -> UnseenCounts:
        """The counts ``counts``, with their examples where it has them."""
        made = cls()
        made.update(counts)
        merge_unseen_examples(made.examples, getattr(counts, "examples", {}))
        return made


@contextlib.contextmanager
def summed_unseen_categories(where: str = "", stacklevel: int = 3) -> Iterator[dict[str, int]]:
    """Hold back the :class:`UnseenCategoryWarning` of everything encoded inside; on
    leaving without an error, warn once with the counts summed per column.

    For a file scored chunk by chunk: a warning per chunk buried the total (and a
    large file printed hundreds of them). Other warnings pass through as they come.

    Parameters
    ----------
    where : str, default ""
        Put before the message (a file name and ": ").
    stacklevel : int, default 3
        The warning's ``stacklevel`` (3: the line of the ``with`` statement).

    Yields
    ------
    dict of str to int
        The counts so far, per column.
    """
    with held_unseen_categories() as totals:
        yield totals
    # outside the hold: the caller's filters ("error", "ignore") apply to it
    warn_unseen_categories(totals, where, stacklevel)


class IdentifierColumnWarning(UserWarning):
    """A training column looks like an identifier: a text column with a different value
    in every row, or a numeric one counting the rows (0, 1, 2, ...)."""


class EmptyColumnWarning(UserWarning):
    """A training column holds no value in any row (``missing="impute"`` fills it with
    one constant, which carries nothing)."""


class LabelColumnWarning(UserWarning):
    """A training column is named like the answer (``label``, ``class``, ``is_anomaly``,
    ...; :data:`LABEL_NAMES`) and holds few distinct values: a label left among the
    inputs."""


def warn_if_identifier(name: str, rows: int, distinct: int, stacklevel: int = 4) -> None:
    """Warn (:class:`IdentifierColumnWarning`) if text column ``name`` holds a different
    value in each of its ``rows`` training rows with a value (``distinct`` of them), at
    least :data:`IDENTIFIER_MIN_ROWS`."""
    if rows >= IDENTIFIER_MIN_ROWS and distinct == rows:
        warnings.warn(
            f"column {name!r} holds a different value in each of its {rows} training rows: "
            "as a category it tells nothing about a new row (whose value training never "
            f"saw); exclude it if it is an identifier (dagmm fit --exclude {name})",
            IdentifierColumnWarning,
            stacklevel=stacklevel,
        )


def refuse_empty_column(
    name: str, rows: int, missing: str, text: bool, infinite: bool = False
) -> None:
    """A training column without a single value (``infinite``: without a finite one):
    an error (``missing="raise"``), else a warning; either way leaving it out is the
    fix (a header kept for a field that an export left empty, a join that matched
    nothing)."""
    held = "a finite value (only inf and missing ones)" if infinite else "a value"
    told = (
        f"column {name!r} is empty: none of its {rows} training rows holds {held}, so it "
        f"carries nothing to learn; leave it out (dagmm fit --exclude {name})"
    )
    if missing != "impute":
        raise InvalidInputError(told)
    kept = (
        "a text column without categories, it adds no input"
        if text
        else "imputed, it is one constant"
    )
    warnings.warn(f"{told}; {kept}", EmptyColumnWarning, stacklevel=4)


#: Column names (any case, around spaces stripped) that a data set gives its labels.
LABEL_NAMES = frozenset(
    {
        "label", "labels", "class", "target", "ground_truth", "anomaly", "is_anomaly",
        "outlier", "is_outlier", "fraud", "is_fraud",
    }
)  # fmt: skip
#: Distinct values up to which a column so named is taken for a label, not a measure.
LABEL_MAX_VALUES = 100


def warn_if_label(name: str, col: pd.Series) -> None:
    """Warn (:class:`LabelColumnWarning`) if the training column ``col`` named ``name``
    looks like a label left among the inputs (its values counted only then)."""
    if name.strip().lower() not in LABEL_NAMES:
        return
    distinct = int(col.nunique())
    if distinct <= LABEL_MAX_VALUES:
        warnings.warn(
            f"column {name!r} is named like a label ({distinct} distinct values), yet trains "
            f"as a feature: DAGMM learns without labels, and one among its inputs makes the "
            f"scores repeat it (and mislead on rows that come without it); exclude it (dagmm "
            f"fit --exclude {name}; X.drop(columns=[{name!r}])) unless it truly is a measure",
            LabelColumnWarning,
            stacklevel=4,
        )


#: Training rows from which a categorical column with a different value in every
#: row is taken for an identifier (:class:`IdentifierColumnWarning`).
IDENTIFIER_MIN_ROWS = 50


def check_category_count(name: str, values: list[str], max_categories: int | None) -> None:
    """Raise :class:`InvalidInputError` if column ``name`` has more than ``max_categories``
    distinct training values (None: no limit): each becomes a one-hot input column."""
    if max_categories is None or len(values) <= max_categories:
        return
    examples = ", ".join(repr(v) for v in values[:3])
    # numbers as text are refused before this, by check_numbers_as_text, with their way out
    raise InvalidInputError(
        f"column {name!r} has {len(values)} distinct values (such as {examples}), more than "
        f"max_categories={max_categories}: as a category each value would become an input "
        f"column of its own; an identifier or free text carries nothing a new row can "
        f"match: exclude it (dagmm fit --exclude {name}); if it holds numbers, make it "
        f"numeric; else raise max_categories (--max-categories)"
    )


#: At most this share of a column's rows may hold markers ("-", "?", "#DIV/0!") for the
#: column to be taken for numbers with missing values when nothing else says so: a
#: marker more common than that is likelier a category of its own ("-": not applicable).
MARKERS_MAX_SHARE = 0.2

#: A number as Python and pandas read it: ``7``, ``-0.75``, ``.5``, ``1e-3``.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
#: A number with a decimal comma, its thousands grouped or not: ``2,5``, ``-0,75``,
#: ``1234,5``, ``1.234,5``, ``12 345,5`` (spaces, no-break spaces, apostrophes group too).
_DECIMAL_COMMA = re.compile(
    r"[+-]?(?:\d{1,3}(?P<group>[. \u00a0\u202f'’])\d{3}(?:(?P=group)\d{3})*|\d+),\d+"
)
#: A number with thousands separators and maybe a decimal point: ``1,234,567``,
#: ``12 345``, ``1'234.5``. A group never starts with 0 (``0,123`` is a decimal comma).
_THOUSANDS = re.compile(
    r"[+-]?[1-9]\d{0,2}(?P<sep>[, \u00a0\u202f'’])\d{3}(?:(?P=sep)\d{3})*(?:\.\d+)?"
)
#: A spreadsheet's error value in place of a number: ``#DIV/0!``, ``#VALUE!``, ``#NAME?``.
_SPREADSHEET_ERROR = re.compile(r"#[A-Za-z][A-Za-z0-9/_]*[!?]")
#: An integer written with a leading zero (``01``, ``007``, ``02139``): a code.
_LEADING_ZERO = re.compile(r"[+-]?0\d")


def _is_marker(value: str) -> bool:
    """Whether ``value`` (stripped) stands for a missing number: a word of
    :data:`MISSING_WORDS`, a spreadsheet error or punctuation only (``-``, ``?``, ``.``,
    ``--``, ``*``, or nothing at all). A letter or a digit makes it a possible category."""
    return (
        value in MISSING_WORDS
        or not any(ch.isalnum() for ch in value)
        or _SPREADSHEET_ERROR.fullmatch(value) is not None
    )


@dataclass(frozen=True)
class NumbersAsText:
    """A categorical column's distinct values that are numbers written as text.

    Found by :func:`find_numbers_as_text`; :meth:`error` is the refusal.

    Attributes
    ----------
    decimal : list of str
        Values with a decimal comma only (``2,5``, ``1.234,5``).
    thousands : list of str
        Values with thousands separators only (``1,234,567``, ``12 345``).
    either : list of str
        Values that read either way (``1,234``).
    numbers : list of str
        Every value that is a number (these three and plain ones like ``7``).
    markers : list of str
        Values standing for a missing number (``-``, ``?``, ``#DIV/0!``).
    groups : list of str
        The separators grouping the thousands, for reading the file.
    """

    decimal: list[str]
    thousands: list[str]
    either: list[str]
    numbers: list[str]
    markers: list[str]
    groups: list[str]

    @property
    def has_separators(self) -> bool:
        """Whether commas or grouped thousands, not markers alone, give the numbers away."""
        return bool(self.decimal or self.thousands or self.either)

    def error(
        self, name: str, marker_rows: int = 0, rows: int = 0, first_marker: Any = None
    ) -> InvalidInputError | None:
        """The refusal of column ``name``, or None where markers are its only sign and
        more than :data:`MARKERS_MAX_SHARE` of its rows hold them (or it has none).

        The ways out name how to read the numbers where the data come from
        (:func:`read_as_numbers_hint`, :func:`hints_for`).

        Parameters
        ----------
        name : str
            The column.
        marker_rows, rows : int
            Its rows holding a marker, and its rows with a value.
        first_marker : optional
            The first row holding a marker (its index label), when known.
        """
        if not self.has_separators and (not self.markers or marker_rows > MARKERS_MAX_SHARE * rows):
            return None
        written = set(self.decimal + self.thousands + self.either)
        points = [v for v in self.numbers if v not in written and "." in v]
        if self.decimal and points and not any("." in v for v in self.decimal):
            # "0,5" beside "0.5": no option reads both
            return InvalidInputError(
                f"column {name!r} mixes numbers written with a decimal comma (such as "
                f"{self.decimal[0]!r}) and with a decimal point (such as {points[0]!r}): "
                "write every number of the column one way"
            )
        # the values that read either way ("1,234") go with the unambiguous ones
        if self.decimal:
            kind, examples = "numbers written with decimal commas", self.decimal + self.either
        elif self.thousands:
            kind, examples = (
                "numbers written with thousands separators",
                self.thousands + self.either,
            )
        elif self.either:
            kind = "numbers written with decimal commas or thousands separators"
            examples = self.either
        else:
            kind, examples = "numbers", self.numbers
        shown = ", ".join(repr(v) for v in examples[:3])
        found = f"its values look like {kind} (such as {shown})"
        ways = []
        if self.decimal or (self.either and not self.thousands):
            group = self.groups[0] if len(self.groups) == 1 else None
            hint = read_as_numbers_hint(name, decimal=",", thousands=group)
            ways.append(
                f"{'if the commas are decimal marks, ' if not self.decimal else ''}read the "
                f"column with a decimal comma ({hint})"
            )
        if self.thousands or (self.either and not self.decimal):
            group = self.groups[0] if len(self.groups) == 1 else ","
            hint = read_as_numbers_hint(name, thousands=group)
            ways.append(
                f"{'if they separate thousands, ' if not self.thousands else ''}read it with "
                f"its thousands separator ({hint})"
            )
        if self.markers:
            where = f", the first in row {first_marker}" if first_marker is not None else ""
            found += (
                f", with {', '.join(repr(v) for v in self.markers[:3])} in place of missing "
                f"numbers ({marker_rows} of {rows} rows{where})"
            )
            hint = read_as_numbers_hint(name, markers=self.markers)
            ways.append(
                f"mark them missing ({hint}), then train with missing='impute' "
                f"(dagmm fit --missing impute) or fix those rows"
            )
        ways.append(f"if it truly is a category, exclude it (dagmm fit --exclude {name})")
        return InvalidInputError(
            f"column {name!r} would be a category, though {found}: as a category each "
            f"value would become an input column of its own and the model could not "
            f"compare their sizes; {'; '.join(ways)}"
        )


#: Where the rows being fitted or scored come from, which decides how a message tells
#: the user to read numbers written as text (:func:`read_as_numbers_hint`): ``"python"``
#: (a table given to the Python API), ``"csv"`` (a CSV file given to the command line,
#: which reads it with --decimal, --thousands, --na-values) or ``"typed"`` (a Parquet,
#: Arrow or JSON Lines file given to the command line: the column is text in the file).
HINT_SOURCES = ("python", "csv", "typed")
_HINT_SOURCE: ContextVar[str] = ContextVar("dagmm_hint_source", default="python")


@contextlib.contextmanager
def hints_for(source: str, command: str = "fit") -> Iterator[None]:
    """Within this block, messages about numbers written as text name the way out for
    rows from ``source`` (one of :data:`HINT_SOURCES`), read by the command line's
    ``command``; the command line sets it, the Python API's default is ``"python"``.

    A context variable, not a parameter of every fit and score: the core modules do
    not know the command line, which only says where its rows come from.
    """
    if source not in HINT_SOURCES:
        raise ValueError(f"source must be one of {HINT_SOURCES}, got {source!r}")
    token = _HINT_SOURCE.set(f"{source} {command}")
    try:
        yield
    finally:
        _HINT_SOURCE.reset(token)


#: Names of the thousands separators that are hard to type or to see in a shell:
#: ``--thousands space`` (``1 234``), ``nbsp`` (no-break space, U+00A0: ``1\u00a0234``)
#: and ``nnbsp`` (narrow no-break space, U+202F, French and Swiss exports).
MARK_NAMES = {"space": " ", "nbsp": "\u00a0", "nnbsp": "\u202f"}


def mark_spelling(mark: str) -> str:
    """How ``mark`` is given to ``--decimal`` or ``--thousands`` in a shell: its name in
    :data:`MARK_NAMES` (a space would else be lost or look like none), else the
    character quoted as a shell needs it (``"'"``)."""
    for word, char in MARK_NAMES.items():
        if mark == char:
            return word
    return '"\'"' if mark == "'" else shlex.quote(mark)


def read_as_numbers_hint(
    name: str,
    decimal: str | None = None,
    thousands: str | None = None,
    markers: Sequence[str] = (),
) -> str:
    """How to read column ``name``'s numbers written as text with the decimal mark
    ``decimal``, the thousands separator ``thousands`` and ``markers`` for missing
    values, for rows from where :func:`hints_for` says: the command line's options for
    a CSV file, the conversion upstream for a file that holds the column as text, or
    pandas' way for the Python API. One wording, so fit and score say the same."""
    source, command = _HINT_SOURCE.get().partition(" ")[::2]
    markers = list(markers)
    if source == "csv":
        options = []
        if decimal:
            options.append(f"--decimal {mark_spelling(decimal)}")
        if thousands:
            options.append(f"--thousands {mark_spelling(thousands)}")
        options.extend(f"--na-values {shlex.quote(v)}" for v in markers)
        return f"dagmm {command} {' '.join(options)}"
    if source == "typed":
        return (
            f"the file stores column {name!r} as text, which --decimal, --thousands and "
            "--na-values (CSV only) cannot change: write it as numbers where the file is "
            "made, or convert it there"
        )
    arguments = []
    if decimal:
        arguments.append(f"decimal={decimal!r}")
    if thousands:
        arguments.append(f"thousands={thousands!r}")
    if markers:
        arguments.append(f"na_values={markers!r}")
    column = f"X[{name!r}]"
    expression = f"{column}.mask({column}.isin({markers!r}))" if markers else column
    if thousands:
        expression += f".str.replace({thousands!r}, '')"
    if decimal and decimal != ".":
        expression += f".str.replace({decimal!r}, '.')"
    return (
        f"pandas.read_csv(..., {', '.join(arguments)}), or for a table already read, "
        f"pd.to_numeric({expression})"
    )


def find_numbers_as_text(categories: list[str]) -> NumbersAsText | None:
    """What makes a categorical column's distinct values ``categories`` numbers written
    as text, or None where they are not: a column is numbers only when

    * each value (spaces around it aside) is a number (:data:`_PLAIN_NUMBER`), a number
      with a decimal comma (:data:`_DECIMAL_COMMA`) or thousands separators
      (:data:`_THOUSANDS`), or a marker of a missing number (:func:`_is_marker`): one
      other value (``A7``, ``3-4``, ``1.2.3``, ``X``, ``yes``, a date) makes it a category;
    * at least 2 distinct values are numbers;
    * no number has a leading zero (``01``, ``02139``: codes);
    * the commas are used one way: decimal commas beside thousands separated by commas
      (or numbers with a decimal point) are a list, not a number format;
    * something gives it away: a decimal comma, a thousands separator or a marker. Plain
      numbers alone (``1``, ``2``, ``3`` or zip codes) may be codes, and pass.

    Whether markers alone are enough depends on how many rows hold them: see
    :meth:`NumbersAsText.error`. The values are read one by one until one is not a
    number, which for a text column is the first: it is cheap on any column.
    """
    decimal: list[str] = []
    thousands: list[str] = []
    either: list[str] = []
    numbers: list[str] = []
    markers: list[str] = []
    groups: set[str] = set()
    for value in categories:
        text = value.strip()
        if _is_marker(text):
            markers.append(value)
            continue
        if _PLAIN_NUMBER.fullmatch(text):
            if _LEADING_ZERO.match(text):
                return None
            numbers.append(value)
            continue
        comma = _DECIMAL_COMMA.fullmatch(text)
        grouped = _THOUSANDS.fullmatch(text)
        if comma is None and grouped is None:
            return None
        if comma is not None and comma["group"]:
            groups.add(comma["group"])
        if grouped is not None:
            groups.add(grouped["sep"])
        (either if comma and grouped else decimal if comma else thousands).append(value)
        numbers.append(value)
    if len(numbers) < 2 or not (decimal or thousands or either or markers):
        return None
    if decimal and any("," in v or "." in v for v in thousands):
        return None
    if decimal or (either and not thousands):
        groups.discard(",")  # a decimal comma's, not a thousands separator
    return NumbersAsText(decimal, thousands, either, numbers, markers, sorted(groups))


#: Most rows (as a share of those with a value) that may hold the text among a column
#: of numbers for :func:`find_stray_text` to take it for a slip, not for categories.
STRAY_TEXT_MAX_SHARE = 0.01
#: Most distinct texts among a column of numbers that are taken for slips.
STRAY_TEXT_MAX_VALUES = 3
#: Fewest distinct numbers that make a text column a measure with a slip in it: with a
#: fraction among them (``0.5``, ``1e-3``), else (whole numbers only: codes, maybe).
STRAY_TEXT_MIN_NUMBERS = (10, 100)


@dataclass(frozen=True)
class StrayText:
    """A categorical column that is numbers but for a few slips of text (``oops``, a
    pasted label): read as text only because of them, it would train as a category of
    every distinct number. Found by :func:`find_stray_text`; :meth:`error` refuses it.

    Attributes
    ----------
    numbers : list of str
        Its distinct values that are numbers.
    text : list of str
        Those that are neither numbers nor markers of missing ones.
    markers : list of str
        Those that stand for a missing number (``-``, ``?``).
    """

    numbers: list[str]
    text: list[str]
    markers: list[str]

    def error(
        self, name: str, text_rows: int, rows: int, first: Any = None
    ) -> InvalidInputError | None:
        """The refusal of column ``name``, whose ``rows`` rows with a value hold the
        text in ``text_rows`` (the first ``first``, its index label, when known); None
        where more than :data:`STRAY_TEXT_MAX_SHARE` of them (or one row of few) do."""
        if text_rows > max(1.0, STRAY_TEXT_MAX_SHARE * rows):
            return None
        where = f", the first in row {first}" if first is not None else ""
        shown = ", ".join(repr(v) for v in self.numbers[:3])
        hint = read_as_numbers_hint(name, markers=self.text + self.markers)
        return InvalidInputError(
            f"column {name!r} holds numbers (such as {shown}) but for "
            f"{', '.join(repr(v) for v in self.text)} in {text_rows} of {rows} rows{where}: "
            f"as text it would be a category, each of its {len(self.numbers)} distinct "
            "numbers an input column of its own that the model could not compare; fix "
            f"those rows, or mark the text missing ({hint}) and train with "
            "missing='impute' (dagmm fit --missing impute); if it truly is a category, "
            f"exclude it (dagmm fit --exclude {name})"
        )


def find_stray_text(categories: list[str]) -> StrayText | None:
    """Whether a categorical column's distinct values ``categories`` are numbers but for
    at most :data:`STRAY_TEXT_MAX_VALUES` other texts, with enough distinct numbers
    (:data:`STRAY_TEXT_MIN_NUMBERS`) and none with a leading zero, which codes have.
    ``"1"``, ``"2"``, ``"3"``, ``"X"`` stay a category; whether the texts are slips
    depends on how many rows hold them (:meth:`StrayText.error`)."""
    numbers: list[str] = []
    text: list[str] = []
    markers: list[str] = []
    for value in categories:
        stripped = value.strip()
        if _PLAIN_NUMBER.fullmatch(stripped):
            if _LEADING_ZERO.match(stripped):
                return None
            numbers.append(value)
        elif _is_marker(stripped):
            markers.append(value)
        else:
            text.append(value)
            if len(text) > STRAY_TEXT_MAX_VALUES:
                return None
    if not text:
        return None
    fractions = any(not stripped.lstrip("+-").isdigit() for stripped in map(str.strip, numbers))
    if len(numbers) < STRAY_TEXT_MIN_NUMBERS[0 if fractions else 1]:
        return None
    return StrayText(numbers, text, markers)


def check_stray_text(name: str, categories: list[str], rows: pd.Series) -> None:
    """Raise :class:`InvalidInputError` if categorical column ``name`` is numbers but
    for a few slips of text (:func:`find_stray_text`, :meth:`StrayText.error`).

    Parameters
    ----------
    name : str
        The column.
    categories : list of str
        Its distinct training values.
    rows : Series of str
        Its training values, missing ones left out, indexed by row.
    """
    found = find_stray_text(categories)
    if found is not None:
        _refuse_rows_holding(name, found, found.text, rows)


def _refuse_rows_holding(
    name: str, found: NumbersAsText | StrayText, values: list[str], rows: pd.Series
) -> None:
    """Raise ``found``'s error for column ``name`` (if it has one), counting the
    ``rows`` that hold ``values`` and naming the first."""
    held = np.flatnonzero(rows.isin(values).to_numpy())
    first = rows.index[held[0]] if len(held) else None
    error = found.error(name, len(held), len(rows), first)
    if error is not None:
        raise error


def check_numbers_as_text(name: str, categories: list[str], rows: pd.Series) -> None:
    """Raise :class:`InvalidInputError` if categorical column ``name`` is numbers written
    as text (:func:`find_numbers_as_text`): with decimal commas, thousands separators or
    markers of missing values ("-", "?", "#DIV/0!"), each distinct number would become a
    one-hot input column and the model could not compare them.

    Parameters
    ----------
    name : str
        The column.
    categories : list of str
        Its distinct training values.
    rows : Series of str
        Its training values, missing ones left out, indexed by row: the rows holding
        markers are counted and the first is named.
    """
    found = find_numbers_as_text(categories)
    if found is not None:
        _refuse_rows_holding(name, found, found.markers, rows)


def _counts_rows(col: pd.Series) -> bool:
    """Whether a numeric column holds consecutive integers in row order (a row number)."""
    if len(col) < IDENTIFIER_MIN_ROWS or pd.api.types.is_bool_dtype(col):
        return False
    if not pd.api.types.is_numeric_dtype(col):
        return False
    values = col.to_numpy(dtype=float, na_value=np.nan)
    if not np.isfinite(values[[0, 1, -1]]).all():  # inf - inf would warn; no row number
        return False
    step = values[1] - values[0]
    if step not in (1.0, -1.0) or values[-1] - values[0] != step * (len(values) - 1):
        return False
    return bool((np.diff(values) == step).all())


def _check_not_complex(name: str, col: pd.Series) -> None:
    """Refuse a complex column: casting it to the network's floats would silently drop
    its imaginary parts."""
    if pd.api.types.is_complex_dtype(col.dtype):
        raise InvalidInputError(
            f"column {name!r} holds complex numbers ({col.dtype}); split it into real "
            "columns first (e.g. its .real and .imag, or abs and angle)"
        )


#: What :func:`pandas.api.types.infer_dtype` calls an ``object`` column of times:
#: ``pd.Timestamp``/``datetime``, ``date``, ``time``, ``pd.Timedelta``/``timedelta``,
#: ``pd.Period`` or ``pd.Interval`` values (``astype(object)``, records from a database).
_TIMES_AS_OBJECTS = (
    "datetime64", "datetime", "date", "time", "timedelta64", "timedelta", "period", "interval",
)  # fmt: skip


def _time_kind(col: pd.Series) -> str | None:
    """What kind of times column ``col`` holds (its dtype, or for an ``object`` column of
    time values "object (<kind>)"), or None where it holds no times."""
    dtype = col.dtype
    if (
        pd.api.types.is_datetime64_any_dtype(dtype)
        or pd.api.types.is_timedelta64_dtype(dtype)
        or isinstance(dtype, (pd.PeriodDtype, pd.IntervalDtype))
    ):
        return str(dtype)
    # Arrow's durations and times of day are not numpy's timedelta64 or datetime64, so
    # pandas' checks above miss them (its timestamps and dates they catch)
    arrow = getattr(dtype, "pyarrow_dtype", None)
    if arrow is not None:
        import pyarrow as pa

        if pa.types.is_temporal(arrow):
            return str(dtype)
    if pd.api.types.is_object_dtype(dtype) and col.notna().any():
        kind = pd.api.types.infer_dtype(col, skipna=True)
        if kind in _TIMES_AS_OBJECTS:
            return f"object ({kind})"
    return None


def _check_not_temporal(name: str, col: pd.Series) -> None:
    kind = _time_kind(col)
    if kind is not None:
        raise InvalidInputError(
            f"column {name!r} holds {kind} values: DAGMM reads numbers and categories, and "
            f"as categories times never match a new row's. Derive numeric features from it "
            f"(hour of day, weekday, seconds since an event), convert it to text if its "
            f"values are a small set of labels, or exclude it (dagmm fit --exclude {name})"
        )


#: ISO 8601 dates and times as text (``2024-03-01``, ``2024/03/01 12:30``,
#: ``2024-03-01T12:30:00.5+01:00``): how a CSV file, which has no time type, holds them.
_ISO_TIME_TEXT = re.compile(
    r"\d{4}[-/]\d{1,2}[-/]\d{1,2}"
    r"([T ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|[+-]\d{2}(:?\d{2})?)?)?"
)
#: More distinct dates than this in a text column are times, not a few labels.
TIME_TEXT_MAX_LABELS = 20


def _check_numbers_not_times(name: str, col: pd.Series) -> None:
    """Refuse times where the model was fitted on numbers: pandas reads a datetime or a
    timedelta as its count of nanoseconds, and a period as its ordinal, so the row
    would be scored far out of the training range, silently wrong."""
    kind = _time_kind(col)
    if kind is not None:
        raise InvalidInputError(
            f"column {name!r} holds {kind} values where the model expects numbers, as in "
            f"its training data; convert the column to numbers (seconds since the epoch, "
            f"say) the same way in both the training and the scoring data"
        )


def _check_not_time_text(name: str, categories: list[str]) -> None:
    """Refuse a text column of dates or times (a CSV file's timestamp column), as
    :func:`_check_not_temporal` refuses a time-typed one; a few distinct dates
    (:data:`TIME_TEXT_MAX_LABELS` or fewer) pass as labels."""
    if len(categories) <= TIME_TEXT_MAX_LABELS:
        return
    if all(_ISO_TIME_TEXT.fullmatch(value.strip()) for value in categories):
        raise InvalidInputError(
            f"column {name!r} holds dates or times as text (such as {categories[0]!r}, "
            f"{len(categories)} distinct): DAGMM reads numbers and categories, and as "
            f"categories times never match a new row's. Derive numeric features from it "
            f"(hour of day, weekday, seconds since an event) or exclude it "
            f"(dagmm fit --exclude {name})"
        )


def symlog(values: np.ndarray) -> np.ndarray:
    """``sign(x) * log(1 + |x|)``, elementwise: heavy tails compressed, order and sign kept.

    Near 0 it is the identity to first order; on a 0/1 column it is affine, so
    after scaling it changes nothing there. Computed in float64.
    """
    values = np.asarray(values, dtype=np.float64)
    return np.sign(values) * np.log1p(np.abs(values))


def symexp(values: np.ndarray) -> np.ndarray:
    """The inverse of :func:`symlog`: ``sign(y) * (exp(|y|) - 1)``."""
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(over="ignore"):
        return np.sign(values) * np.expm1(np.abs(values))


#: A numeric training column spanning fewer float32 steps than this at its largest
#: magnitude (Unix times of one hour: about 1.7e9 in steps of 128, 28 values) is
#: shifted in float64 before the cast (:func:`float32_shift`), which keeps every
#: difference between its values.
FLOAT32_STEPS = 1000


def float32_shift(low: float, high: float, unit: float = 1.0) -> float:
    """The constant a numeric column is shifted by, in float64, before the cast to float32.

    Parameters
    ----------
    low, high : float
        The column's smallest and largest finite training value (after :func:`symlog`
        with ``log_inputs``); NaN when it has none.
    unit : float, default 1.0
        What a constant column is taken to vary by, in these units (a difference of 1
        in the column's own).

    Returns
    -------
    float
        ``low`` or ``high``, whichever is nearer 0, when the column spans fewer than
        :data:`FLOAT32_STEPS` float32 steps at its size (both ends then have one
        sign), else 0.0; a constant column counts as spanning ``unit`` (so one of at
        least 16384 in magnitude, where float32's step exceeds a thousandth, is
        shifted by its value: a later row's difference from it reaches the
        network). Shifted by a bound, its training values lie in ``[0, high -
        low]`` (or ``[low - high, 0]``), where float32 resolves them finely; a
        later value ``x`` loses no precision to the shift as long as ``|x - shift|
        <= |x|``, i.e. beyond half the bound on the same side of 0.
    """
    if not (math.isfinite(low) and math.isfinite(high)) or high < low or high == low == 0:
        return 0.0
    size = max(abs(low), abs(high))
    if size > np.finfo(np.float32).max:
        return 0.0  # refused by transform, which names the rows
    if size < np.finfo(np.float32).tiny:
        # below float32's normal numbers no shift helps (a spread of 1e-300 stays 0):
        # fit's UnresolvedColumnWarning names such a column
        return 0.0
    step = float(np.spacing(np.float32(size)))
    # A constant column has no spread to measure steps by: taken to vary by units (a
    # build number, a Unix time), it is shifted where float32 cannot tell a thousandth.
    width = high - low if high > low else unit
    if width / step >= FLOAT32_STEPS:
        return 0.0
    return float(low if abs(low) <= abs(high) else high)


def shifts_from_ranges(
    ranges: dict[str, tuple[float, float]], log_inputs: bool = False
) -> dict[str, float]:
    """:attr:`TabularEncoder.shifts` from each numeric column's (low, high), after
    :func:`symlog` with ``log_inputs`` (where a constant column's unit, 1 in its own
    units, is what the log makes of it there)."""
    shifts = {}
    for name, (low, high) in ranges.items():
        unit = 1.0
        if log_inputs and low == high:
            size = float(symexp(np.array([abs(low)]))[0])
            unit = float(np.diff(symlog(np.array([size, size + 1.0])))[0])
        shift = float32_shift(low, high, unit) if unit > 0 else 0.0
        if shift != 0.0:
            shifts[name] = shift
    return shifts


def _array_columns(X: np.ndarray, names: list[str]) -> Iterator[tuple[str, np.ndarray]]:
    """(name, values) of each column of a numeric array; where no column holds NaN or
    inf, each column's smallest and largest value alone (all a range needs)."""
    if not len(X):
        return
    with np.errstate(invalid="ignore"):
        bounds = np.stack([X.min(axis=0), X.max(axis=0)]).astype(np.float64)
    if np.isfinite(bounds).all():
        yield from zip(names, bounds.T, strict=True)
    else:
        yield from ((name, X[:, i]) for i, name in enumerate(names))


def _finite_range(values: np.ndarray) -> tuple[float, float]:
    """The smallest and largest finite value of ``values`` (float64), NaN if none."""
    if not len(values):
        return math.nan, math.nan
    low, high = float(values.min()), float(values.max())
    if math.isfinite(low) and math.isfinite(high):  # no NaN, no inf: one pass each
        return low, high
    finite = values[np.isfinite(values)]
    if not len(finite):
        return math.nan, math.nan
    return float(finite.min()), float(finite.max())


#: What :func:`pandas.api.types.infer_dtype` calls a column of Python numbers (or
#: booleans) held as objects: numbers, though the column's dtype is ``object``.
_NUMBERS_AS_OBJECTS = ("integer", "floating", "mixed-integer-float", "decimal", "boolean")


def _is_categorical(series: pd.Series) -> bool:
    """Whether a training column is a category: not numeric or boolean, by its dtype or,
    for an ``object`` column, by its values. A database driver gives a NUMERIC column as
    ``decimal.Decimal`` objects, ``astype(object)`` or records with None give floats as
    objects: as categories each number would be a one-hot column of its own."""
    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return False
    if series.dtype == object and series.notna().any():
        return pd.api.types.infer_dtype(series, skipna=True) not in _NUMBERS_AS_OBJECTS
    return True


def _float_values(col: pd.Series) -> np.ndarray:
    """A numeric column's values as float64, missing ones NaN."""
    return to_numeric(col).to_numpy(dtype=float, na_value=np.nan)


def _finite_numbers(col: pd.Series) -> np.ndarray:
    """A numeric column's finite values, as float64 (what its training median is of)."""
    numeric = _float_values(col)
    return numeric[np.isfinite(numeric)]


def _category_text(col: pd.Series) -> pd.Series:
    """A categorical column's values as text, missing ones left out: its categories."""
    return col[col.notna()].astype(str)


#: An integer as ``str`` writes it (``7``, ``-12``; no leading zero, no sign ``+``), or an
#: integral float as ``str`` writes it (``7.0``): group 1 is the integer.
_INTEGRAL_TEXT = r"^(-?(?:0|[1-9]\d*))(?:\.0)?$"
#: Integers as float64 are exact up to 2**53: beyond, two categories could be one number.
_EXACT_INTEGERS = 2.0**53


def _integral_numbers(text: pd.Series) -> np.ndarray:
    """The integers that ``text`` writes in :data:`_INTEGRAL_TEXT` form, as float64; NaN
    for any other text (``01``, ``+1``, ``1.5``, ``1e3``, words)."""
    integer = text.astype(object).str.extract(_INTEGRAL_TEXT)[0]
    values = pd.to_numeric(integer, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return np.where(np.abs(values) > _EXACT_INTEGERS, np.nan, values)


def _holds_numbers(col: pd.Series) -> bool:
    """Whether ``col`` holds numbers by its dtype (a ``category`` one by its categories'),
    booleans aside: ``str(True)`` is no number."""
    dtype = col.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        dtype = dtype.categories.dtype
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def _codes_by_value(
    known: pd.Index, col: pd.Series, text: pd.Series, codes: np.ndarray
) -> np.ndarray:
    """``codes`` (positions in ``known`` of the values ``text`` of ``col``, -1 where none),
    with the values not found matched by number where both are integers: ``1.0`` to the
    category ``1``, and ``1`` to the category ``1.0``.

    Categories are kept as text (``str`` of the training values), so the same integer
    in another dtype at scoring would be a category never seen: a column of integers
    read as float64 once it gains a missing value, an ``Int64`` or ``category`` column,
    a CSV file pandas wrote ``1.0`` into. Text matches only in the forms ``str`` writes
    (:data:`_INTEGRAL_TEXT`): ``01`` and ``+1`` (codes) are not the integer 1, and
    ``1.5`` matches no integer. Vectorised, and over the values not found only: a
    column whose values all match as text costs nothing more.
    """
    keys = _integral_numbers(pd.Series(known))
    held = ~np.isnan(keys)
    if not held.any():
        return codes
    # the first category of a number where two write it ("1" and "1.0", both seen in training)
    numbers = pd.Series(np.flatnonzero(held), index=keys[held])
    numbers = numbers[~numbers.index.duplicated()]
    missed = np.flatnonzero(codes < 0)
    # each distinct value once: a category column repeats a few values over many rows
    inverse, distinct = pd.factorize((col if _holds_numbers(col) else text).iloc[missed])
    if _holds_numbers(col):
        values = np.asarray(distinct, dtype=float)
        values = np.where(values == np.trunc(values), values, np.nan)  # 1.5 is no integer
    else:
        values = _integral_numbers(pd.Series(distinct))
    found = numbers.index.get_indexer(values)
    matched = np.where(found >= 0, numbers.to_numpy()[found], -1)
    codes = codes.copy()
    codes[missed] = np.where(inverse >= 0, matched[inverse], -1)  # -1: a missing value
    return codes


def _category_codes(known: pd.Index, col: pd.Series) -> np.ndarray:
    """The position in ``known`` (a categorical column's training values as text) of
    each value of ``col``, -1 for one never seen: by its text, else by its number
    (:func:`_codes_by_value`)."""
    text = col.astype(str)
    codes = known.get_indexer(text)
    if (codes < 0).any():
        codes = _codes_by_value(known, col, text, codes)
    return codes


def _decimal_points(col: pd.Series, numeric: pd.Series) -> np.ndarray:
    """The positions of ``col``'s text values that ``numeric`` (``col`` read as numbers)
    read as numbers and that hold a decimal point (``0.5``)."""
    text = col.map(lambda v: isinstance(v, str) and "." in v).to_numpy(dtype=bool)
    return np.flatnonzero(text & numeric.notna().to_numpy())


class _NumberFormat(NamedTuple):
    """How numbers written as text are written: the decimal mark and the thousands
    separator, or ``either`` (every comma reads both ways: ``1,234``)."""

    decimal: str | None
    thousands: str | None
    either: bool = False


def _number_format(values: pd.Series) -> _NumberFormat | None:
    """The decimal mark and thousands separator with which every one of the text
    ``values`` is a number (``(",", None)`` for ``2,5``, ``(None, "\u00a0")`` for
    ``1\u00a0234``), or None where one is not such a number or they disagree.

    A value that reads either way (``5,125``) goes with the unambiguous ones, as
    :func:`find_numbers_as_text` has it at fit; where every value reads either way,
    ``either`` is True (and the format thousands written with commas,
    ``(None, ",")``, one reading of the two).
    """
    decimal, thousands, either = False, False, False
    groups: set[str] = set()
    # not Series.all() over the matches: it skips None, so no match at all read as True
    for value in values:
        if not isinstance(value, str):
            return None
        comma = _DECIMAL_COMMA.fullmatch(value.strip())
        grouped = _THOUSANDS.fullmatch(value.strip())
        if comma is not None and grouped is not None and not comma["group"]:
            either = True  # 5,125: five and a bit, or five thousand
        elif comma is not None:
            decimal = True
            if comma["group"]:
                groups.add(comma["group"])
        elif grouped is not None:
            thousands = True
            groups.add(grouped["sep"])
        else:
            return None
    if either and not decimal:
        groups.add(",")  # with thousands written with commas, or alone
    if decimal and "," in groups:
        return None  # "2,5" beside "1,234,567": a list, not a number format
    if len(groups) > 1:
        return None
    return _NumberFormat(
        "," if decimal else None,
        next(iter(groups), None),
        either and not decimal and not thousands,
    )


def _quiet_signalling_nans(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its signalling NaN ``decimal.Decimal`` values (``Decimal("sNaN")``,
    which a database may hand over) made quiet ones, read as missing as ``Decimal("NaN")``
    is: pandas compares a value with itself to find NaN, which on a signalling NaN
    raises ``decimal.InvalidOperation`` (or hashing it a ``TypeError``)."""
    fixed = {}
    for name in frame.columns:
        column = frame[name]
        # infer_dtype runs in C: a column of text (or numbers) is passed over at once
        if column.dtype != object or not any(
            kind in pd.api.types.infer_dtype(column, skipna=False) for kind in ("decimal", "mixed")
        ):
            continue
        values = column.to_numpy()
        rows = [i for i, v in enumerate(values) if isinstance(v, decimal.Decimal) and v.is_snan()]
        if rows:
            values = values.copy()
            values[rows] = decimal.Decimal("NaN")
            fixed[name] = pd.Series(values, index=frame.index, name=name, dtype=object)
    if not fixed:
        return frame
    frame = frame.copy()
    for name, column in fixed.items():
        frame[name] = column
    return frame


#: Missing names for which :func:`close_names` looks for near ones (each look reads
#: every available name).
CLOSE_NAMES_LOOKED_UP = 5


def close_names(missing: list[str], available: list[str]) -> str:
    """`` ('bytes': did you mean 'Bytes'?)``: for the first missing names, the available
    ones that differ only in case, else the closest by :mod:`difflib`; "" when none is
    near (a file of other columns altogether).

    Parameters
    ----------
    missing : list of str
        Names asked for and not found.
    available : list of str
        The names there are.

    Returns
    -------
    str
        To append to the message naming ``missing``.
    """
    from difflib import get_close_matches

    folded = {name.casefold(): name for name in available}
    found = []
    for name in missing[:CLOSE_NAMES_LOOKED_UP]:
        same = folded.get(name.casefold())
        near = [same] if same is not None else get_close_matches(name, available, 2, 0.6)
        if near:
            found.append(f"{name!r}: did you mean {' or '.join(map(repr, near))}?")
    return f" ({'; '.join(found)})" if found else ""


def missing_columns_message(
    missing: list[str], available: list[str], wanted_by: Mapping[str, str] | None = None
) -> str:
    """``missing column(s) ['nope'] ('nope': did you mean 'none'?), wanted by
    --id-column``: the names asked for and not found, the near ones, and what asked
    for them.

    Parameters
    ----------
    missing : list of str
        Names asked for and not found.
    available : list of str
        The names there are.
    wanted_by : mapping of str to str, optional
        What asks for a name (``{"flow": "--id-column", "bytes": "the model"}``), so
        that the message says which option to correct; names it lacks are listed
        without one.

    Returns
    -------
    str
        The message, for the caller to prefix with where and follow with what is there.
    """
    # "id,label" where both are columns: a list, not a misspelt name
    misspelt = [n for n in missing if not set(n.split(",")) <= set(available)]
    said = f"missing column(s) {missing}{close_names(misspelt, available)}"
    asking: dict[str, list[str]] = {}
    for name in missing:
        if wanted_by and wanted_by.get(name):
            asking.setdefault(wanted_by[name], []).append(name)
    if len(asking) == 1 and sum(map(len, asking.values())) == len(missing):
        said += f", wanted by {next(iter(asking))}"
    elif asking:
        each = [f"{who} ({', '.join(map(repr, names))})" for who, names in asking.items()]
        said += f", wanted by {' and '.join(each)}"
    for who, names in asking.items():
        listed = next((name for name in names if "," in name), None)
        if who.startswith("--") and listed is not None:
            # as --exclude takes them; --keep's names are read before the header is
            again = " ".join(f"{who} {part.strip()}" for part in listed.split(",") if part)
            said += f" ({who} takes one column: repeat it, {again})"
    return said


def describe_rows(rows: np.ndarray, limit: int = 5, index: pd.Index | None = None) -> str:
    """The first ``limit`` of ``rows`` for a message: ``"row(s) 3, 7 and 2 more"``.

    Parameters
    ----------
    rows : ndarray of int
        0-based positions of the rows.
    limit : int, default 5
        How many to show.
    index : Index, optional
        The rows' labels (a DataFrame's index): rows are named by them. Where labels
        repeat, a label alone does not find its row, so each is followed by its
        position (``"row(s) 0 (position 7)"``).

    Returns
    -------
    str
    """
    shown_rows = rows[:limit]
    if index is None:
        shown = ", ".join(str(r) for r in shown_rows)
    elif index.is_unique:
        shown = ", ".join(str(label) for label in index[shown_rows])
    else:
        shown = ", ".join(
            f"{label} (position {r})"
            for label, r in zip(index[shown_rows], shown_rows, strict=True)
        )
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return f"row(s) {shown}{more}"


def _one_column_message(X: Any) -> str:
    """The refusal of one column of values (a polars Series, a pyarrow Array) as data."""
    library = type(X).__module__.split(".")[0]
    return (
        f"expected a 2-D table, got a {library} {type(X).__name__} (one column of values); "
        "for one column make it a table named as at fit: series.to_frame() (polars), "
        "pa.table({'name': array}) (pyarrow)"
    )


def as_table(X: Any) -> Any:
    """``X`` in a form the encoder reads, else ``X`` itself.

    A SciPy sparse matrix or array becomes its dense rows (the network reads dense
    rows, so sparse input, a one-hot encoder's output say, costs its dense size once).
    A data frame of another library (a polars DataFrame, a pyarrow Table, anything
    with ``to_pandas()``, an Arrow stream or the dataframe interchange protocol) becomes a pandas
    DataFrame with its column names and types, so that its text columns are
    categories and its names are the model's, as for pandas input. So does a numpy
    structured or record array (``np.genfromtxt(..., names=True)``): a 1-D array of
    named fields is a table, not one feature.
    """
    if isinstance(X, np.ndarray) and X.dtype.names:
        return pd.DataFrame(X)
    if isinstance(X, (pd.DataFrame, pd.Series, np.ndarray)):
        return X
    sparse = sys.modules.get("scipy.sparse")  # not loaded: X cannot be sparse
    if sparse is not None and sparse.issparse(X):
        return X.toarray()
    to_pandas = getattr(X, "to_pandas", None)
    if callable(to_pandas) and (hasattr(X, "schema") or hasattr(X, "columns")):
        try:
            return to_pandas()
        except Exception as exc:  # the library's own conversion failed
            raise InvalidInputError(
                f"could not convert the {type(X).__name__} to a pandas DataFrame: {exc}"
            ) from exc
    arrow = sys.modules.get("pyarrow")  # not loaded: X is no Arrow array
    if arrow is not None and isinstance(X, (arrow.Array, arrow.ChunkedArray)):
        # one column of values, refused as below (pyarrow < 16 has no stream for it)
        raise InvalidInputError(_one_column_message(X))
    if hasattr(X, "__arrow_c_stream__"):  # the Arrow PyCapsule interface
        try:
            import pyarrow as pa

            return pa.RecordBatchReader.from_stream(X).read_all().to_pandas()
        except Exception as exc:
            if "non-struct" in str(exc):
                # one column of values: a polars Series; until 2026-12-07 "Cannot import
                # schema: ArrowSchema describes non-struct type"
                raise InvalidInputError(_one_column_message(X)) from None
            raise InvalidInputError(
                f"could not read the {type(X).__name__} as an Arrow stream: {exc}"
            ) from exc
    if hasattr(X, "__dataframe__"):
        try:
            with warnings.catch_warnings():  # pandas 3 deprecates the protocol, still reads it
                warnings.simplefilter("ignore", DeprecationWarning)
                warnings.simplefilter("ignore", FutureWarning)
                return pd.api.interchange.from_dataframe(X)
        except Exception as exc:
            raise InvalidInputError(
                f"could not read the {type(X).__name__} through the dataframe interchange "
                f"protocol: {exc}"
            ) from exc
    return X


#: The kinds :func:`_non_finite_kinds` names, in the order it names them.
_NON_FINITE_KINDS = ("NA", "None", "NaT", "NaN", "inf", "-inf")


def _non_finite_kinds(col: pd.Series, values: np.ndarray, rows: np.ndarray) -> str:
    """What ``col`` held at ``rows`` (positions), where its float ``values`` are not
    finite, for a message: ``"NA/NaN"``.

    As floats, pandas' missing value (``pd.NA``, a nullable or Arrow column's missing
    entry), None and NaT are all NaN; they are told apart in ``col``, before the
    conversion, and named as pandas writes them ("NA", "None", "NaT"), the rest "NaN",
    "inf" or "-inf" by their float value (until 2026-12-07 -inf read "inf"). Only
    looked at once an error is to be raised.
    """
    held = col.iloc[rows]
    if held.dtype == object:
        marks = [
            "None" if v is None else "NA" if v is pd.NA else "NaT" if v is pd.NaT else ""
            for v in held
        ]
    elif isinstance(held.dtype, np.dtype):  # numpy numbers: NaN is NaN
        marks = [""] * len(rows)
    else:  # an extension dtype: its missing entries are pandas' NA
        marks = ["NA" if m else "" for m in held.isna().to_numpy()]
    floats = values[rows]
    kinds = {
        mark or ("NaN" if np.isnan(v) else "inf" if v > 0 else "-inf")
        for mark, v in zip(marks, floats, strict=True)
    }
    return "/".join(k for k in _NON_FINITE_KINDS if k in kinds)


@dataclass
class TabularEncoder:
    """Fitted column layout: which input columns, how each becomes numbers.

    Parameters
    ----------
    missing : {"raise", "impute"}
        What to do with NaN/inf/None: ``"raise"`` (default) names the columns and
        rows; ``"impute"`` replaces them with the training median (numeric) or the
        most frequent training category.
    max_categories : int or None
        At fit, a categorical column with more distinct values is an
        :class:`~dagmm.exceptions.InvalidInputError` (None: no limit). Datetime,
        timedelta, period and interval columns are refused at fit whatever it is, and
        so is a text column of more than :data:`TIME_TEXT_MAX_LABELS` distinct ISO
        8601 dates or times (a CSV file's timestamps).
    log_inputs : bool
        Pass every numeric column through :func:`symlog` (after imputation).
    check_numbers : bool
        At fit, refuse a categorical column of numbers written as text
        (:func:`check_numbers_as_text`), and a column without a value in any row
        (with ``missing="impute"``: warn, :class:`EmptyColumnWarning`). Off for a
        shard of the data, whose values tell less than all of them.

    Attributes
    ----------
    shifts : dict of str to float
        Learnt at fit: the numeric columns too far from 0 for their spread to reach
        float32 intact (Unix times: about 1.7e9 in steps of 128), each with the
        constant subtracted from it in float64 before the cast
        (:func:`float32_shift`); the network, ``DAGMM.input_range_`` and
        ``input_levels_`` see the shifted values, and explanations report values with
        the shift added back.
    """

    missing: str = "raise"
    max_categories: int | None = None  # at fit only; not part of the saved state
    input_kind: str = ""  # "array" or "frame"
    columns: list[str] = field(default_factory=list)
    categories: dict[str, list[str]] = field(default_factory=dict)
    fill_values: dict[str, Any] = field(default_factory=dict)
    log_inputs: bool = False
    # at fit only: the distributed fit checks the union of its shards' categories instead
    check_numbers: bool = True
    shifts: dict[str, float] = field(default_factory=dict)

    # ------------------------------------------------------------------ fitting
    def fit(self, X: Any) -> TabularEncoder:
        """Learn the column layout (and categories, fill values) from training data."""
        if self.missing not in _MISSING_POLICIES:
            raise InvalidInputError(
                f"missing must be one of {_MISSING_POLICIES}, got {self.missing!r}"
            )
        X = as_table(X)
        if (
            isinstance(X, np.ndarray)
            and X.ndim == 2
            and X.shape[1] > 0
            and X.dtype.kind in "fiub"
            and self.missing != "impute"
        ):
            # A numeric array has nothing to learn but its width and range: no DataFrame.
            self.input_kind = "array"
            self.columns = [str(i) for i in range(X.shape[1])]
            self.categories, self.fill_values = {}, {}
            ranges = self.numeric_ranges(_array_columns(X, self.columns))
            self.shifts = shifts_from_ranges(ranges, self.log_inputs)
            return self
        frame, self.input_kind = self._as_frame(X, fitting=True)
        if frame.shape[1] == 0:
            raise InvalidInputError(
                f"0 feature(s) (shape={frame.shape}) while a minimum of 1 is required: "
                "the input has no columns"
            )
        self.columns = [str(c) for c in frame.columns]
        self.categories = {}
        self.fill_values = {}
        for name in self.columns:
            col = frame[name]
            if self.check_numbers and len(col) > 1 and bool(col.isna().all()):
                refuse_empty_column(name, len(col), self.missing, _is_categorical(col))
            _check_not_temporal(name, col)
            warn_if_label(name, col)
            if _is_categorical(col):
                values = _category_text(col)
                if self.missing == "raise":
                    self._check_no_missing_categorical(name, col)
                self.categories[name] = sorted(values.unique().tolist())
                _check_not_time_text(name, self.categories[name])
                if self.check_numbers:
                    check_numbers_as_text(name, self.categories[name], values)
                    check_stray_text(name, self.categories[name], values)
                check_category_count(name, self.categories[name], self.max_categories)
                if self.check_numbers:  # a shard's rows tell less than all of them
                    warn_if_identifier(name, len(values), len(self.categories[name]))
                if self.missing == "impute":
                    mode = values.mode()
                    self.fill_values[name] = str(mode.iloc[0]) if len(mode) else ""
            else:
                _check_not_complex(name, col)
                if _counts_rows(col):
                    warnings.warn(
                        f"column {name!r} counts the rows ({col.iloc[0]}, {col.iloc[1]}, "
                        f"{col.iloc[2]}, ...): a row number (a DataFrame index saved to the "
                        f"file?) says nothing about a row, yet trains as a feature; exclude it "
                        f"(dagmm fit --exclude {name!r})",
                        IdentifierColumnWarning,
                        stacklevel=3,
                    )
                if self.missing == "impute":
                    finite = _finite_numbers(col)
                    if (
                        not len(finite)
                        and self.check_numbers
                        and len(col) > 1
                        and not col.isna().all()  # warned of above
                    ):  # inf only: as empty as NaN only
                        refuse_empty_column(name, len(col), self.missing, text=False, infinite=True)
                    self.fill_values[name] = float(np.median(finite)) if len(finite) else 0.0
        self.shifts = shifts_from_ranges(self._frame_ranges(frame), self.log_inputs)
        return self

    def numeric_ranges(
        self, pairs: Iterable[tuple[str, np.ndarray]]
    ) -> dict[str, tuple[float, float]]:
        """Each numeric column's finite range as the network's input sees it before the
        shift (after :func:`symlog` with ``log_inputs``, which keeps order): ``pairs``
        of (column name, its values)."""
        out = {}
        for name, values in pairs:
            low, high = _finite_range(np.asarray(values, dtype=np.float64))
            if self.log_inputs and math.isfinite(low):
                low, high = (float(v) for v in symlog(np.array([low, high])))
            out[name] = (low, high)
        return out

    def training_ranges(self, X: Any) -> dict[str, tuple[float, float]]:
        """:meth:`numeric_ranges` of ``X``'s numeric columns, as :meth:`fit` finds them
        (the distributed fit combines its shards' into one :attr:`shifts`)."""
        X = as_table(X)
        if isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype.kind in "fiub":
            return self.numeric_ranges(_array_columns(X, self.columns))
        frame, kind = self._as_frame(X, fitting=False)
        return self._frame_ranges(self._align(frame, kind))

    def _frame_ranges(self, frame: pd.DataFrame) -> dict[str, tuple[float, float]]:
        """:meth:`numeric_ranges` of the numeric columns of ``frame``, a frame of
        :attr:`columns`."""
        return self.numeric_ranges(
            (name, _float_values(frame[name]))
            for name in self.columns
            if name not in self.categories
        )

    # ----------------------------------------------------------------- applying
    @property
    def feature_names_out(self) -> list[str]:
        """Names of the numeric columns produced, one-hot columns as ``col=value``."""
        names: list[str] = []
        for name in self.columns:
            if name in self.categories:
                names.extend(f"{name}={value}" for value in self.categories[name])
            else:
                names.append(name)
        return names

    @property
    def groups(self) -> list[tuple[str, list[int]]]:
        """For each original column, the indices of the numeric columns it produced."""
        out, start = [], 0
        for name in self.columns:
            width = len(self.categories[name]) if name in self.categories else 1
            out.append((name, list(range(start, start + width))))
            start += width
        return out

    def transform(self, X: Any) -> np.ndarray:
        """Encode ``X`` into a finite float32 matrix of ``len(feature_names_out)`` columns."""
        frame, kind = self._as_frame(X, fitting=False)
        frame = self._align(frame, kind)
        if len(frame) == 0:
            raise InvalidInputError("input has no rows: expected at least one row")
        blocks: list[np.ndarray] = []
        unseen: dict[str, int] = {}
        examples: dict[str, dict[str, str | None]] = {}
        for name in self.columns:
            col = frame[name]
            if name in self.categories:
                blocks.append(self._one_hot(name, col, unseen, examples))
            else:
                values = self._numeric(name, col)
                if self.log_inputs:
                    values = symlog(values)
                if name in self.shifts:
                    values = values - self.shifts[name]
                blocks.append(values[:, None])
        if unseen:
            warnings.warn(
                UnseenCategoryWarning(_unseen_message(unseen, "", examples), unseen, examples),
                stacklevel=3,
            )
        matrix = np.hstack(blocks) if blocks else np.zeros((len(frame), 0))
        with np.errstate(over="ignore"):
            out = matrix.astype(np.float32)
        overflow = ~np.isfinite(out).all(axis=0)
        if overflow.any():
            columns = np.flatnonzero(overflow)
            raise InvalidInputError(self._overflow_message(out, columns, frame.index))
        return out

    def _overflow_message(self, out: np.ndarray, columns: np.ndarray, index: pd.Index) -> str:
        """One line naming the ``columns`` of ``out`` (positions) that hold a value cast to
        float32 as inf, and their rows (``index``: the frame's), as the NaN/inf messages
        do; the rows are looked for once overflow is found."""
        limit = 5
        parts = []
        for k, i in enumerate(columns[:limit]):
            rows = describe_rows(np.flatnonzero(~np.isfinite(out[:, i])), index=index)
            said = "holds values beyond the float32 range (|x| > 3.4e38; " if k == 0 else "("
            parts.append(f"column {self.feature_names_out[i]!r} {said}{rows})")
        more = f" and {len(columns) - limit} more column(s)" if len(columns) > limit else ""
        return ", ".join(parts) + more

    def fit_transform(self, X: Any) -> np.ndarray:
        """Fit, then transform the same data."""
        return self.fit(X).transform(X)

    def imputed(self, X: Any) -> np.ndarray | None:
        """Which of ``X``'s values :meth:`transform` replaces under ``missing="impute"``.

        Parameters
        ----------
        X : array or DataFrame
            Rows as :meth:`transform` takes them (already checked by it: errors and
            warnings are its).

        Returns
        -------
        ndarray of shape (n_rows, len(columns)), bool, or None
            True where a numeric value is missing or not finite, or a categorical one
            missing: the training median or most frequent category stands in its
            place. None when nothing is imputed (``missing="raise"``).
        """
        if self.missing != "impute":
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # transform has given them
            frame, kind = self._as_frame(X, fitting=False)
            frame = self._align(frame, kind)
        mask = np.zeros((len(frame), len(self.columns)), dtype=bool)
        for c, name in enumerate(self.columns):
            col = frame[name]
            if name in self.categories:
                mask[:, c] = col.isna().to_numpy()
            else:
                values = self._coerce_numeric(name, col).to_numpy(dtype=float, na_value=np.nan)
                mask[:, c] = ~np.isfinite(values)
        return mask

    # --------------------------------------------------------------- internals
    def _as_frame(self, X: Any, fitting: bool) -> tuple[pd.DataFrame, str]:
        if isinstance(X, pd.DataFrame):
            # Columns are known by their names as text (a model file stores text), so
            # pd.DataFrame(array)'s 0, 1, ... are "0", "1", ...
            names = pd.Index([str(c) for c in X.columns])
            if names.duplicated().any():
                dup = names[names.duplicated()].unique().tolist()
                if not fitting and getattr(self, "input_kind", None) == "frame":
                    # at scoring only the model's columns are read, by name: the others
                    # are ignored (and named so, once), and may repeat a name
                    dup = [name for name in dup if name in self.columns]
                    if not dup:
                        keep = ~names.duplicated()
                        X, names = X.loc[:, keep], names[keep]
                if dup:
                    raise InvalidInputError(f"duplicate column name(s) {dup}")
            if not names.equals(X.columns):
                X = X.set_axis(names, axis=1)
            return _quiet_signalling_nans(X), "frame"
        if isinstance(X, pd.Series):
            one_row = "series.to_frame().T (or frame.iloc[[i]] for a frame's row i)"
            one_column = "series.to_frame()"
            # frame.iloc[i], indexed by the fitted columns, is the common case at scoring
            is_row = not fitting and [str(i) for i in X.index] == getattr(self, "columns", None)
            first, second = (one_row, one_column) if is_row else (one_column, one_row)
            what = ("one row", "one column") if is_row else ("one column", "one row")
            raise InvalidInputError(
                f"expected a 2-D table, got a pandas Series; for {what[0]} use {first}, "
                f"for {what[1]} {second}"
            )
        X = as_table(X)
        if isinstance(X, (str, bytes, os.PathLike)):
            raise InvalidInputError(
                f"got the path {os.fsdecode(X)!r}, expected a table: read the file first, e.g. "
                "dagmm.tableio.read_table(path) (CSV, Parquet, Feather, JSON Lines), or train "
                "from the command line (dagmm fit PATH)"
            )
        try:
            array = np.asarray(X)
        except Exception as exc:  # ragged lists and the like
            raise InvalidInputError(f"could not read input as a 2-D array: {exc}") from exc
        if array.ndim == 0:
            hint = " (a lazy frame: .collect() it first)" if hasattr(X, "collect") else ""
            raise InvalidInputError(
                f"expected a 2-D table (array or DataFrame), got a {type(X).__name__}{hint}"
            )
        if array.ndim != 2:
            raise InvalidInputError(
                f"expected a 2-D array of shape (n_samples, n_features), got {array.ndim}-D "
                f"shape {array.shape}. Reshape your data: x.reshape(1, -1) for a single "
                "sample, x.reshape(-1, 1) for a single feature"
            )
        if array.dtype.kind == "c":
            raise InvalidInputError("Complex data not supported: the input is complex-valued")
        frame = pd.DataFrame(array, columns=[str(i) for i in range(array.shape[1])])
        if array.dtype == object:
            frame = _quiet_signalling_nans(frame)
        # text in an array is parsed as numbers, except when a model fitted on a
        # DataFrame scores it: its categorical columns are matched by position then
        if array.dtype.kind in "OUS" and (fitting or self.input_kind != "frame"):
            try:
                for name in frame.columns:
                    frame[name] = self._coerce_numeric(name, frame[name], label="column")
            except InvalidInputError as exc:
                if not fitting or "holds text" not in str(exc):
                    raise
                # an object array of numbers and words (ColumnTransformer's passthrough
                # output): until 2026-12-07 the message did not say why text is refused
                raise InvalidInputError(
                    f"{exc}; the columns of an array are read as numbers: to have a text "
                    "column one-hot encoded, give a DataFrame (pd.DataFrame(X), or "
                    "set_output(transform='pandas') on the step before DAGMM in a pipeline)"
                ) from None
        return frame, "array"

    def category_text(self, X: Any, name: str) -> pd.Series:
        """The categorical column ``name`` of ``X`` as :meth:`fit` reads it.

        Parameters
        ----------
        X : DataFrame or table
            Rows with the columns the encoder was fitted on.
        name : str
            One of :attr:`categories`.

        Returns
        -------
        Series of str
            Its values as text, missing ones left out, indexed by row.
        """
        frame, _ = self._as_frame(X, fitting=False)
        return _category_text(frame[name])

    def value_counts(self, X: Any) -> np.ndarray:
        """How many rows of ``X`` hold a value (not missing) in each of :attr:`columns`.

        Returns
        -------
        ndarray, shape (n_columns,), float64
        """
        frame, _ = self._as_frame(X, fitting=False)
        return np.array([float(frame[name].notna().sum()) for name in self.columns])

    def fill_sources(self, X: Any) -> dict[str, np.ndarray | pd.Series]:
        """What :meth:`fit` takes each column's ``missing="impute"`` fill value from.

        For a fit over shards (:mod:`dagmm.distributed`), which combines them over
        every shard to fill as one process would.

        Parameters
        ----------
        X : DataFrame or table
            Rows with the columns the encoder was fitted on.

        Returns
        -------
        dict
            Column name -> a numeric column's finite values (float64, shape (n,)), the
            median of which fills it, or a categorical column's values as text
            (:meth:`category_text`), the most frequent of which fills it (the first in
            sort order among ties).
        """
        frame, _ = self._as_frame(X, fitting=False)
        return {
            name: _category_text(frame[name])
            if name in self.categories
            else _finite_numbers(frame[name])
            for name in self.columns
        }

    def warn_matching_by_position(self, stacklevel: int) -> None:
        """The ``UserWarning`` for unnamed columns given to a model fitted on named ones.

        None where the names are the positions (``pd.DataFrame(array)``'s 0, 1, 2, ...):
        there position is the name, as scikit-learn, which gives such a frame no
        feature names, has it (until 2026-12-07 scoring the array itself warned).
        """
        if self.columns == [str(i) for i in range(len(self.columns))]:
            return
        warnings.warn(
            f"X has no column names, but the model was fitted with named columns "
            f"{self.columns}: matching them by position",
            UserWarning,
            stacklevel=stacklevel,
        )

    def _align(self, frame: pd.DataFrame, kind: str) -> pd.DataFrame:
        if kind != self.input_kind and self.input_kind == "frame":
            if frame.shape[1] != len(self.columns):
                raise InvalidInputError(
                    f"X has {frame.shape[1]} features, but the model was fitted with "
                    f"{len(self.columns)} named columns {self.columns}"
                )
            self.warn_matching_by_position(stacklevel=6)
            return frame.set_axis(self.columns, axis=1)
        if kind == "array" or self.input_kind == "array":
            if frame.shape[1] != len(self.columns):
                raise InvalidInputError(
                    f"X has {frame.shape[1]} features, but DAGMM is expecting "
                    f"{len(self.columns)} features as input"
                )
            if kind == "frame" and list(frame.columns) != self.columns:
                # scikit-learn's warning: named columns are not matched by name here, so a
                # frame whose columns come in another order would be scored silently wrong.
                warnings.warn(
                    f"X has feature names, but DAGMM was fitted without feature names: "
                    f"matching columns {list(frame.columns)[:10]} by position",
                    UserWarning,
                    stacklevel=5,
                )
            return frame.set_axis(self.columns, axis=1)
        names = [str(c) for c in frame.columns]
        missing = [c for c in self.columns if c not in names]
        if missing:
            raise InvalidInputError(
                f"missing column(s) {missing}{close_names(missing, names)}: the model was "
                f"fitted with columns {self.columns}"
            )
        extra = list(dict.fromkeys(c for c in names if c not in self.columns))
        if extra:
            warnings.warn(
                f"ignoring column(s) {extra} that the model was not fitted with",
                UserWarning,
                stacklevel=4,
            )
        frame = frame.set_axis(names, axis=1)
        return frame[self.columns]

    def _check_no_missing_categorical(self, name: str, col: pd.Series) -> None:
        bad = np.flatnonzero(col.isna().to_numpy())
        if len(bad):
            raise InvalidInputError(
                f"column {name!r} has {len(bad)} missing value(s) "
                f"({describe_rows(bad, index=col.index)}); "
                "clean them, or train with missing='impute' (dagmm fit --missing impute)"
            )

    def _coerce_numeric(self, name: str, col: pd.Series, label: str = "column") -> pd.Series:
        if pd.api.types.is_bool_dtype(col):
            return col.astype(float)
        if pd.api.types.is_numeric_dtype(col):
            return col
        numeric = to_numeric(col)
        bad = np.flatnonzero(numeric.isna().to_numpy() & col.notna().to_numpy())
        if len(bad):
            # true/false beside numbers are 1/0, as a chunk of them alone (which pandas
            # reads as booleans) and JSON Lines' booleans are: until 2026-12-07 whether a
            # CSV file scored depended on how its chunks fell
            words = col.iloc[bad].map(
                lambda v: BOOLEAN_WORDS.get(v) if isinstance(v, str) else None
            )
            said = words.notna().to_numpy()
            if said.any():
                numeric = numeric.astype(float).copy()
                numeric.iloc[bad[said]] = words[said].astype(float).to_numpy()
                bad = bad[~said]
        if len(bad):
            first = col.iloc[bad[0]]
            sample = col.iloc[bad[:100]]
            hint = ""
            written = _number_format(sample)
            points = (
                _decimal_points(col, numeric)
                if written and written.decimal == ","
                else np.zeros(0, dtype=np.intp)
            )
            if written is not None and len(points) and written.thousands != ".":
                # "0,5" beside "0.5": no option reads both, and the comma ones are the many
                raise InvalidInputError(
                    f"{label} {name!r} mixes numbers written with a decimal comma (such as "
                    f"{first!r}; {len(bad)} value(s)) and with a decimal point (such as "
                    f"{col.iloc[points[0]]!r}; {len(points)} value(s), "
                    f"{describe_rows(points, index=col.index)}): write every number of the "
                    "column one way"
                )
            if written is not None and written.either:
                # as at fit (NumbersAsText.error): 5,125 reads either way
                as_decimal = read_as_numbers_hint(name, decimal=",")
                as_thousands = read_as_numbers_hint(name, thousands=",")
                hint = (
                    "; they look like numbers written with decimal commas or thousands "
                    f"separators: if the commas are decimal marks, read them with a decimal "
                    f"comma ({as_decimal}); if they separate thousands, read them with that "
                    f"separator ({as_thousands})"
                )
            elif written is not None:
                mark, group = written.decimal, written.thousands
                kind = " and ".join(
                    part
                    for part, given in (("a decimal comma", mark), ("thousands separators", group))
                    if given
                )
                read = read_as_numbers_hint(name, decimal=mark, thousands=group)
                hint = (
                    f"; they look like numbers written with {kind}: read them as numbers ({read})"
                )
            elif all(isinstance(v, str) and _is_marker(v.strip()) for v in sample):
                read = read_as_numbers_hint(name, markers=sorted(set(sample))[:3])
                hint = f"; if they stand for missing values, read them as missing ({read})"
            # a list, a dict or bytes (a Spark array, map or binary value) is no text
            held = "text" if isinstance(first, str) else f"{type(first).__name__} values"
            raise InvalidInputError(
                f"{label} {name!r} should be numeric but holds {held} such as {first!r} "
                f"({len(bad)} value(s), {describe_rows(bad, index=col.index)}){hint}"
            )
        return numeric

    def _numeric(self, name: str, col: pd.Series) -> np.ndarray:
        if not pd.api.types.is_numeric_dtype(col):  # numbers and booleans (as 0/1) pass
            _check_numbers_not_times(name, col)
        numbers = self._coerce_numeric(name, col)
        _check_not_complex(name, numbers)
        values = numbers.to_numpy(dtype=float, na_value=np.nan)
        bad = ~np.isfinite(values)
        if bad.any():
            if self.missing == "impute":
                values = np.where(bad, self.fill_values[name], values)
            else:
                rows = np.flatnonzero(bad)
                kinds = _non_finite_kinds(col, values, rows[:1000])
                raise InvalidInputError(
                    f"column {name!r} has {len(rows)} non-finite value(s) ({kinds}; "
                    f"{describe_rows(rows, index=col.index)}); clean them, or train with "
                    "missing='impute' (dagmm fit --missing impute)"
                )
        return values

    def _one_hot(
        self,
        name: str,
        col: pd.Series,
        unseen: dict[str, int],
        examples: dict[str, dict[str, str | None]],
    ) -> np.ndarray:
        known = self.categories[name]
        index = pd.Index(known)
        is_missing = col.isna().to_numpy()
        impute = is_missing.any() and self.missing == "impute"
        if is_missing.any() and not impute:
            self._check_no_missing_categorical(name, col)
        if not known:  # empty at fit (EmptyColumnWarning): no inputs, nothing to match
            return np.zeros((len(col), 0), dtype=np.float32)
        if _holds_numbers(col):
            # Each distinct number once: a category column repeats a few values, and
            # str of a float is slow (0.4 s per million).
            inverse, distinct = pd.factorize(col)  # -1: missing, imputed below
            # the -1 appended is what inverse's -1 picks
            codes = np.append(_category_codes(index, pd.Series(distinct)), -1)[inverse]
            if impute:
                codes[is_missing] = index.get_indexer([self.fill_values[name]])[0]
        else:
            if impute:
                col = col.astype(object).where(~is_missing, self.fill_values[name])
            codes = _category_codes(index, col)
        out = np.zeros((len(col), len(known)), dtype=np.float32)
        seen = codes >= 0
        out[np.flatnonzero(seen), codes[seen]] = 1.0
        if (~seen).any():
            unseen[name] = int((~seen).sum())
            # a few by name: "tcp " or "TCP" beside training's "tcp" is a cleaning slip
            first = np.flatnonzero(~seen)[: 100 * UNSEEN_EXAMPLES]
            examples[name] = _unseen_examples(known, col.iloc[first].to_numpy())
        return out

    # ------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state."""
        return {
            "missing": self.missing,
            "input_kind": self.input_kind,
            "columns": list(self.columns),
            "categories": {k: list(v) for k, v in self.categories.items()},
            "fill_values": dict(self.fill_values),
            "log_inputs": bool(self.log_inputs),
            # only when there are any: a file without them is read by older releases
            **({"shifts": dict(self.shifts)} if self.shifts else {}),
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> TabularEncoder:
        """Rebuild from :meth:`to_dict` output."""
        return cls(
            missing=str(state["missing"]),
            input_kind=str(state["input_kind"]),
            columns=[str(c) for c in state["columns"]],
            categories={str(k): [str(x) for x in v] for k, v in state["categories"].items()},
            fill_values=dict(state["fill_values"]),
            # absent from files written before the option existed
            log_inputs=bool(state.get("log_inputs", False)),
            shifts={str(k): float(v) for k, v in state.get("shifts", {}).items()},
        )

    def shift_vector(self) -> np.ndarray | None:
        """:attr:`shifts` as one float64 value per encoded column (0 where none), or
        None when no column is shifted."""
        if not self.shifts:
            return None
        out = np.zeros(len(self.feature_names_out))
        for name, idx in self.groups:
            if name in self.shifts:
                out[idx[0]] = self.shifts[name]
        return out

    def shift_text(self, name: str) -> str:
        """What shifted column ``name`` sends the network, in words, every digit of the
        shift: ``"ts - 1700000000"``, with ``log_inputs`` ``"symlog(ts) - 21.25389409897"``."""
        shift = np.format_float_positional(self.shifts[name], unique=True, trim="-")
        return f"{f'symlog({name})' if self.log_inputs else name} - {shift}"

    def numeric_units(self, name: str, values: np.ndarray) -> np.ndarray:
        """Encoded values of numeric column ``name`` in the column's own units, float64:
        the shift added back, :func:`symlog` undone."""
        values = np.asarray(values, dtype=np.float64) + self.shifts.get(name, 0.0)
        return symexp(values) if self.log_inputs else values
