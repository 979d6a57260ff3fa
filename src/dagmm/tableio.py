"""Reading and writing tables, in bounded memory, with clear errors.

Input is a CSV, Parquet, Arrow IPC (Feather) or JSON Lines file, or a folder of Parquet
files (a dataset written by Spark, pandas or pyarrow: its files are read one after
another in path order; Hive partition keys in folder names are not read as columns).
Output is one CSV, Parquet or JSON Lines file, or CSV on standard output (:data:`STDOUT`).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import itertools
import json
import math
import os
import re
import stat
import sys
import warnings
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.io.common import get_handle

from ._atomic import atomic_path
from ._numbers import READ_CSV_EXACT, to_numeric
from .exceptions import DAGMMError, InvalidInputError
from .tabular import (
    BOOLEAN_WORDS,
    MARK_NAMES,
    MISSING_WORDS,
    missing_columns_message,
)

__all__ = [
    "MISSING_WORDS",
    "STDOUT",
    "CsvFormat",
    "DataFileError",
    "TableWriter",
    "check_csv_format",
    "count_rows",
    "drop_empty_unnamed",
    "encoding_problem",
    "infer_missing",
    "iter_table",
    "iter_table_copies",
    "number_mark_problem",
    "output_format",
    "read_table",
    "table_format",
    "text_columns",
]

#: Compressed tab-separated files since 2026-12-07 (``.tsv.gz`` was refused as an
#: unsupported file type although ``.tsv`` and ``.csv.gz`` were read).
_TSV_SUFFIXES = (".tsv", ".tsv.gz", ".tsv.bz2", ".tsv.xz", ".tsv.zst")
_CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zst", *_TSV_SUFFIXES, ".txt")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_ARROW_SUFFIXES = (".arrow", ".feather", ".ipc")
_JSON_LINES_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")
_FORMATS = {
    "parquet": _PARQUET_SUFFIXES,
    "arrow": _ARROW_SUFFIXES,
    "jsonl": _JSON_LINES_SUFFIXES,
    "csv": _CSV_SUFFIXES,
}
#: The formats read, as messages name them.
_FORMAT_NAMES = {"parquet": "Parquet", "arrow": "Arrow IPC (Feather)", "jsonl": "JSON Lines"}
#: The first bytes of the binary formats and compressions the readers take:
#: (magic bytes, the suffix the readers know it by, what it is, for messages). Read
#: where a file's name cannot tell (a pipe's copy; a MODEL that is really data).
FILE_SIGNATURES = (
    (b"PAR1", ".parquet", "a Parquet file"),
    (b"ARROW1", ".arrow", "an Arrow / Feather file"),
    (b"\x1f\x8b", ".gz", "a gzip-compressed file"),
    (b"BZh", ".bz2", "a bzip2-compressed file"),
    (b"\xfd7zXZ\x00", ".xz", "an xz-compressed file"),
    (b"\x28\xb5\x2f\xfd", ".zst", "a zstd-compressed file"),
)
#: The compressions among :data:`FILE_SIGNATURES`' suffixes.
COMPRESSION_SUFFIXES = (".gz", ".bz2", ".xz", ".zst")


def signature_suffix(head: bytes) -> str | None:
    """The suffix of :data:`FILE_SIGNATURES` whose magic bytes ``head`` starts with
    (``".parquet"``, ``".gz"``, ...), or None."""
    return next(
        (
            suffix
            for magic, suffix, _ in FILE_SIGNATURES
            if head.startswith(magic) and (suffix != ".bz2" or _bzip2_stream(head))
        ),
        None,
    )


def _bzip2_stream(head: bytes) -> bool:
    """Whether ``head``, starting ``BZh``, is a bzip2 stream: then a block size digit and
    a block's (or the end's) 48-bit magic, which a text's ``BZh_rate,...`` header lacks."""
    return head[3:4] in (b"1", b"2", b"3", b"4", b"5", b"6", b"7", b"8", b"9") and head[4:10] in (
        b"1AY&SY",  # a block: the digits of pi
        b"\x17rE8P\x90",  # the end of the stream (an empty one): those of sqrt(pi)
    )


#: The formats written (a subset of those read).
_OUTPUT_FORMATS = {
    "csv": _CSV_SUFFIXES,
    "parquet": _PARQUET_SUFFIXES,
    "jsonl": _JSON_LINES_SUFFIXES,
}


#: The output path that means standard output: CSV, streamed chunk by chunk.
STDOUT = "-"


class DataFileError(DAGMMError, ValueError):
    """A data file is missing, of an unsupported type, or cannot be parsed."""


class MissingColumnsError(DataFileError):
    """A data file lacks columns asked for by name.

    Parameters
    ----------
    path : str or PathLike
        The file.
    missing : list of str
        The names asked for and not found.
    available : list of str
        The file's columns.
    wanted_by : mapping of str to str, optional
        What asked for each name (:func:`dagmm.tabular.missing_columns_message`).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        missing: list[str],
        available: list[str],
        wanted_by: Mapping[str, str] | None = None,
    ) -> None:
        self.path, self.missing, self.available = path, list(missing), list(available)
        super().__init__(
            f"{path}: {missing_columns_message(self.missing, self.available, wanted_by)}; "
            f"the file has {self.available}"
        )


@contextlib.contextmanager
def columns_wanted_by(wanted_by: Mapping[str, str]) -> Iterator[None]:
    """Name what asked for a column the file lacks: a :class:`MissingColumnsError`
    raised inside is raised again with ``wanted_by``
    (``{"flow": "--id-column"}``), so that it says which option to correct."""
    try:
        yield
    except MissingColumnsError as exc:
        raise MissingColumnsError(exc.path, exc.missing, exc.available, wanted_by) from None


def table_format(path: str | os.PathLike[str]) -> str:
    """The format of a file to read from its name: ``"csv"``, ``"parquet"``, ``"arrow"``
    (Arrow IPC / Feather) or ``"jsonl"`` (JSON Lines)."""
    return _format_of(
        path,
        _FORMATS,
        "file type",
        "not a data table ({expected}); where a command takes both, MODEL comes before DATA "
        "(dagmm score MODEL DATA --out FILE)",
    )


def output_format(path: str | os.PathLike[str]) -> str:
    """``"csv"``, ``"parquet"`` or ``"jsonl"``: the formats written, from the file name
    (:data:`STDOUT` is CSV)."""
    if str(path) == STDOUT:
        return "csv"
    return _format_of(
        path,
        _OUTPUT_FORMATS,
        "output file type",
        "but what is written here is a table of rows; name it with one of {expected}",
    )


def _format_of(
    path: str | os.PathLike[str],
    formats: dict[str, tuple[str, ...]],
    what: str,
    if_model_name: str,
) -> str:
    """The format ``path``'s suffix names, else a DataFileError: ``if_model_name`` (with
    ``{expected}``, the suffixes) ends it where the name is a model file's (``.dagmm``)."""
    name = Path(path).name.lower()
    for kind, suffixes in formats.items():
        if name.endswith(suffixes):
            return kind
    expected = ", ".join(sum(formats.values(), ()))
    if name.endswith(".dagmm"):
        hint = if_model_name.format(expected=expected)
        raise DataFileError(f"{path}: named as a dagmm model file, {hint}")
    raise DataFileError(f"{path}: unsupported {what}; expected one of {expected}")


def _check_readable(path: str | os.PathLike[str]) -> tuple[Path, str]:
    """The input's path and format (a folder is a Parquet dataset), or a DataFileError."""
    target = Path(path)
    if target.is_dir():
        _parquet_parts(target)
        return target, "parquet"
    if not target.exists():
        raise DataFileError(f"{target}: file not found")
    mode = target.stat().st_mode
    if not stat.S_ISREG(mode):
        # a named pipe (mkfifo, <(...), /dev/stdin) would be consumed by the first read
        # and block the next open for ever
        what = "a pipe" if stat.S_ISFIFO(mode) else "not a regular file (a device or socket)"
        raise DataFileError(
            f"{target}: is {what}; dagmm reads a data file more than once (a CSV file's "
            "header, then its rows; fit --sample-rows the whole file twice), so write the "
            "data to a file and give that (the dagmm command copies a pipe or - to a "
            "temporary file itself)"
        )
    kind = table_format(target)
    if kind in _TEXT_FORMATS:
        _refuse_binary(target, kind)
    return target, kind


#: The formats read as text (a compression suffix on the name aside), by message name.
_TEXT_FORMATS = {"csv": "CSV", "jsonl": "JSON Lines"}


def _refuse_binary(target: Path, kind: str) -> None:
    """A DataFileError where the file ``target``, named as text of ``kind`` (``"csv"``,
    ``"jsonl"``), is binary: compressed as its name does not say (``gz.csv`` holding
    gzip), a Parquet, Arrow or zip file, or a safetensors file (a dagmm model). Read as
    text it would give a misleading error (not UTF-8; with --encoding, a header of binary
    junk). Only a file whose first bytes hold both a signature and a control character
    is refused: a header that happens to start ``PAR1,`` or ``BZh`` is text. A file that
    cannot be read is left to the read."""
    try:
        with open(target, "rb") as file:
            head = file.read(64)
            size = os.fstat(file.fileno()).st_size
    except OSError:
        return
    if not _binary(head):
        return
    name = target.name
    said = next((c for c in COMPRESSION_SUFFIXES if name.lower().endswith(c)), "")
    base = name[: len(name) - len(said)]
    found = signature_suffix(head)
    if found is not None and found == said:
        return
    if found in COMPRESSION_SUFFIXES:
        # "a gzip-compressed file" -> "gzip-compressed data"
        what = _signature_kind(found).split(" ", 1)[1].replace(" file", " data")
        renamed = base + found
        try:
            readable = table_format(renamed) == kind
        except DataFileError:
            readable = False
        fix = f"name it {renamed} (or decompress it)" if readable else "decompress it"
    elif found is not None:
        what = _signature_kind(found)
        fix = f"name it {base.rsplit('.', 1)[0] if '.' in base else base}{found}"
    elif head.startswith(b"PK\x03\x04"):
        what, fix = "a zip archive (a spreadsheet workbook?)", "unzip it, or save the sheet as CSV"
    elif _is_safetensors(head, size):
        if not _dagmm_model(target, int.from_bytes(head[:8], "little")):
            what, fix = "a safetensors file", "give a data table"
        else:
            what, fix = "a dagmm model file", "where a command takes both, MODEL comes before DATA"
    else:
        return
    text = _TEXT_FORMATS[kind]
    expected = (
        f"{_signature_kind(said).split(' ', 1)[1].replace(' file', '')} {text}"
        if said
        else f"{text} text"
    )
    raise DataFileError(f"{target}: {what}, not {expected}: {fix}")


def _dagmm_model(target: Path, length: int) -> bool:
    """Whether the safetensors file ``target``, whose header is ``length`` bytes, is a
    dagmm model: its header's metadata names the format (anywhere in it: safetensors
    writes the metadata's keys in no set order)."""
    with contextlib.suppress(Exception):
        with open(target, "rb") as file:
            file.seek(8)
            header = json.loads(file.read(min(length, 1 << 26)))
        return bool(header["__metadata__"]["format"] == "dagmm")
    return False


def _binary(head: bytes) -> bool:
    """Whether a file's first bytes ``head`` hold a control character no text holds."""
    return any((byte < 0x20 and byte not in b"\t\n\r\x0b\x0c") or byte == 0x7F for byte in head)


def _signature_kind(suffix: str) -> str:
    """What a file whose first bytes are :data:`FILE_SIGNATURES`' ``suffix``'s is."""
    return next(what for _, known, what in FILE_SIGNATURES if known == suffix)


def _is_safetensors(head: bytes, size: int) -> bool:
    """Whether a file of ``size`` bytes starting with ``head`` is laid out as a
    safetensors file (a dagmm model is one): the length of a JSON header (8 bytes, little
    endian), then the header's ``{"``. Text's first 8 bytes read as such a length exceed
    any file's size."""
    if len(head) < 10 or head[8:10] != b'{"':
        return False
    return 8 + int.from_bytes(head[:8], "little") <= size


def _parquet_parts(target: Path) -> list[Path]:
    """The Parquet files of a folder (a dataset written by Spark, pandas or pyarrow), in
    path order. Entries whose names start with "." or "_" (``_SUCCESS``, ``.crc``
    files, ``_temporary``) are skipped, as Spark and Hive skip them."""
    parts = sorted(
        path
        for path in target.rglob("*")
        if path.name.lower().endswith(_PARQUET_SUFFIXES)
        and not any(name.startswith((".", "_")) for name in path.relative_to(target).parts)
        and path.is_file()
    )
    if not parts:
        raise DataFileError(
            f"{target}: is a directory holding no Parquet files, expected a data file "
            f"or a folder of Parquet files"
        )
    return parts


def _input_parts(target: Path) -> list[Path]:
    return _parquet_parts(target) if target.is_dir() else [target]


#: Thousands separators of more than one byte in UTF-8 that a CSV file's numbers may hold:
#: the no-break space (U+00A0) and narrow no-break space (U+202F) of French, Nordic,
#: Czech, Polish or Russian exports, the right single quotation mark (U+2019) of Swiss
#: ones. pandas' CSV parser takes one byte, so they are read through a stand-in
#: (:data:`_STAND_IN`).
WIDE_THOUSANDS = ("\u00a0", "\u202f", "\u2019")
#: The byte a wide thousands separator is read as: a control character (unit
#: separator) that no text file holds; one that does is refused (:class:`_StandIn`).
_STAND_IN = "\x1f"


def thousands_mark(value: str) -> str:
    """The thousands separator ``--thousands value`` means: the character named by
    ``value`` in :data:`MARK_NAMES` (``space``, ``nbsp``, ``nnbsp``, in any case), else
    ``value`` itself."""
    return MARK_NAMES.get(value.lower(), value)


def number_mark_problem(mark: str, thousands: bool = False) -> str | None:
    """What is wrong with ``mark`` as a decimal mark (or, ``thousands``, a thousands
    separator), or None.

    One ASCII character: pandas' CSV parser reads bytes, and quietly leaves a
    character of more in the text, so the column would be read as text; a thousands
    separator may also be one of :data:`WIDE_THOUSANDS`, read through a stand-in. Not
    a letter, digit, sign, quote mark or line break, which a number or a CSV file
    uses for something else, nor a separator other than the comma (``;``, tab, ``|``:
    a slip for the file's separator, which no locale writes numbers with). A comma
    may be both the separator and a mark: a comma-separated file quotes such numbers
    (``"2,5"``). The apostrophe of Swiss numbers (``1'234.5``) is no quote mark in CSV.
    """
    if len(mark) != 1:
        names = f" (or one of the names {', '.join(MARK_NAMES)})" if thousands else ""
        return f"{mark!r} is not one character{names}"
    if not mark.isascii() and not (thousands and mark in WIDE_THOUSANDS):
        if thousands:
            return (
                f"{mark!r} is neither an ASCII character, which pandas' CSV parser needs, nor "
                "a no-break space (nbsp), narrow no-break space (nnbsp) or \u2019 (U+2019)"
            )
        return f"{mark!r} is not an ASCII character, which pandas' CSV parser needs"
    if mark.isalnum() or mark in '"+-\r\n':
        return f"{mark!r} is a letter, digit, sign, quote mark or line break"
    if mark in _OTHER_SEPARATORS:
        return f"{mark!r} is a field separator, not a mark of numbers"
    return None


#: Encodings named where a CSV file is not UTF-8 text: Windows' Western European (Excel's
#: "CSV" export in French, German, Spanish... Windows), and the UTF-16 of its
#: "Unicode Text" export, told by its byte-order mark.
_LIKELY_ENCODING = "cp1252 (Windows' Western European)"
_UTF16_MARKS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def encoding_problem(name: str) -> str | None:
    """What is wrong with ``name`` as a CSV file's text encoding, or None.

    A name :func:`codecs.lookup` knows, in any of its spellings (``cp1252``,
    ``windows-1252``, ``latin-1``, ``iso-8859-15``, ``utf-16``), of a codec between
    bytes and text: not ``base64`` or ``rot13``, which turn bytes into bytes or text
    into text.
    """
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):  # ValueError: a name holding a NUL character
        return (
            f"{name!r} is not an encoding Python knows; e.g. utf-8, cp1252 (Windows' Western "
            "European), latin-1, iso-8859-15 or utf-16"
        )
    # _is_text_encoding: False for the bytes-to-bytes and text-to-text codecs
    if not getattr(info, "_is_text_encoding", True):
        return f"{name!r} ({info.name}) is not a text encoding; e.g. utf-8 or cp1252"
    return None


@dataclass(frozen=True)
class CsvFormat:
    """How a CSV file writes its text, its numbers and its missing values.

    Parquet, Arrow and JSON Lines files hold typed numbers: a format other than the
    default applies to CSV files only.

    Parameters
    ----------
    decimal : str, optional
        The decimal mark (``","`` for ``2,5``). None: ``"."``, except in a
        ``;``-separated file whose first lines hold numbers written with a decimal
        comma and none with a decimal point (a European spreadsheet's export):
        ``","`` there (:func:`_decided_decimal`).
    thousands : str, optional
        The thousands separator (``"."`` for ``1.234,5`` with ``decimal=","``), one
        ASCII character, one of :data:`WIDE_THOUSANDS` or a name of :data:`MARK_NAMES`
        (``"nbsp"``: kept as the character it names); None: none.
    na_values : tuple of str, default ()
        More values read as missing, as :data:`MISSING_WORDS` are: in numeric
        columns only (in a model's categorical columns they stay values).
    encoding : str, optional
        The file's text encoding, a name :func:`codecs.lookup` knows (``"cp1252"``
        for a Windows spreadsheet's export, ``"latin-1"``, ``"utf-16"``), kept as
        its canonical name (``"latin-1"`` becomes ``"iso8859-1"``). None: UTF-8,
        where a leading byte-order mark is skipped (as it is with ``"utf-8"``). A
        file's own: a model does not keep it, so that it may score files written
        elsewhere; outputs are UTF-8 whatever it is.

    Raises
    ------
    InvalidInputError
        A mark is not one ASCII character (:func:`number_mark_problem`), or both
        marks are the same; an encoding Python does not know
        (:func:`encoding_problem`).
    """

    decimal: str | None = None
    thousands: str | None = None
    na_values: tuple[str, ...] = ()
    encoding: str | None = None

    def __post_init__(self) -> None:
        if self.thousands is not None:
            object.__setattr__(self, "thousands", thousands_mark(self.thousands))
        for name, mark in (("decimal", self.decimal), ("thousands", self.thousands)):
            problem = None if mark is None else number_mark_problem(mark, name == "thousands")
            if problem:
                raise InvalidInputError(f"{name}: {problem}")
        if self.decimal is not None and self.decimal == self.thousands:
            raise InvalidInputError(
                f"the decimal mark and the thousands separator are both {self.decimal!r} "
                "(--decimal, --thousands): give two different characters"
            )
        # a list given stays a value of this hashable, comparable record
        object.__setattr__(self, "na_values", tuple(self.na_values))
        if self.encoding is not None:
            problem = encoding_problem(self.encoding)
            if problem:
                raise InvalidInputError(f"encoding: {problem}")
            # one spelling per codec: cp1252 and windows-1252 give equal formats
            object.__setattr__(self, "encoding", codecs.lookup(self.encoding).name)

    @property
    def text_encoding(self) -> str:
        """The codec the file's text is read with: ``encoding``, else UTF-8 (a
        byte-order mark skipped: ``utf-8-sig``, for a stream opened here; pandas'
        own reads skip it with ``utf-8``)."""
        return self.encoding or "utf-8-sig"

    def with_marks(self, decimal: str | None) -> CsvFormat:
        """This format with the decimal mark ``decimal`` (decided for a file)."""
        return CsvFormat(decimal, self.thousands, self.na_values, self.encoding)

    def missing_words(self) -> frozenset[str]:
        """:data:`MISSING_WORDS` and ``na_values``: missing in numeric columns."""
        return MISSING_WORDS | frozenset(self.na_values)

    def number_options(self) -> dict[str, Any]:
        """``read_csv``'s ``decimal`` and ``thousands`` (a wide one as :data:`_STAND_IN`:
        read the text through :meth:`stand_in`), each number read as the nearest double."""
        wide = self.thousands in WIDE_THOUSANDS
        return {
            "decimal": self.decimal or ".",
            "thousands": _STAND_IN if wide else self.thousands,
            **READ_CSV_EXACT,
        }

    @property
    def wide_thousands(self) -> bool:
        """Whether the thousands separator is one of :data:`WIDE_THOUSANDS`, read
        through :meth:`stand_in`."""
        return self.thousands in WIDE_THOUSANDS

    def stand_in(self, text: Any, where: str = "the data") -> Any:
        """A text stream (or str) ``text`` with a wide thousands separator as
        :data:`_STAND_IN`, for ``read_csv`` with :meth:`number_options`; ``text``
        itself for any other format."""
        if self.thousands not in WIDE_THOUSANDS:
            return text
        if isinstance(text, str):
            _refuse_stand_in(text, where)
            return text.replace(str(self.thousands), _STAND_IN)
        return _StandIn(text, str(self.thousands), where)

    def restored(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` read through :meth:`stand_in`, its text (values and names) as the
        file writes it: a text column's ``1\u00a0234`` stays as it was."""
        if self.thousands not in WIDE_THOUSANDS:
            return frame
        mark = str(self.thousands)
        if any(_STAND_IN in str(c) for c in frame.columns):
            frame = frame.rename(columns=lambda c: str(c).replace(_STAND_IN, mark))
        restored = {}
        for name in frame.columns:
            column = frame[name]
            if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
                continue
            held = column.map(lambda v: isinstance(v, str) and _STAND_IN in v).astype(bool)
            if held.any():
                restored[name] = column.where(~held, column[held].str.replace(_STAND_IN, mark))
        if restored:
            frame = frame.copy()
            for name, values in restored.items():
                frame[name] = values
        return frame


def _refuse_stand_in(text: str, where: str = "the data") -> None:
    if _STAND_IN in text:
        raise DataFileError(
            f"{where}: it holds the control character U+001F, which stands in for a wide "
            "thousands separator (--thousands nbsp, nnbsp or \u2019) while it is read: "
            "remove it, or replace the separator first (sed 's/\xc2\xa0//g')"
        )


class _StandIn:
    """A text stream read with a wide thousands separator ``mark`` replaced by
    :data:`_STAND_IN`, which pandas' one-byte parser takes for it. Replaced block by
    block as pandas reads: a character is never split between blocks of text."""

    def __init__(self, raw: Any, mark: str, where: str) -> None:
        self._raw = raw
        self._mark = mark
        self._where = where

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> str:
        block = self._raw.read(-1 if size is None else size)
        _refuse_stand_in(block, self._where)
        return block.replace(self._mark, _STAND_IN)

    def readline(self, size: int | None = -1) -> str:
        line = self._raw.readline(-1 if size is None else size)
        _refuse_stand_in(line, self._where)
        return line.replace(self._mark, _STAND_IN)

    def __iter__(self) -> Iterator[str]:
        return iter(self.readline, "")


#: The default: numbers as pandas writes them, only pandas' own words missing.
_PLAIN = CsvFormat()

#: Data lines of a ``;``-separated file from which its decimal mark is decided.
DECIMAL_SAMPLE_LINES = 1000
#: Its thousands may be grouped (``1 234,5``, ``1\u00a0234,5``, ``1'234.5``): such a
#: number says which its decimal mark is as well as ``2,5`` does.
_DECIMAL_COMMA = re.compile(r"-?(?:\d{1,3}(?:[. \u00a0\u202f'\u2019]\d{3})+|\d+),\d+")
_DECIMAL_POINT = re.compile(r"-?(?:\d{1,3}(?:[, \u00a0\u202f'\u2019]\d{3})+|\d+)\.\d+")


#: What pandas raises on a CSV file it cannot read (besides ValueError's many meanings).
_CSV_READ_ERRORS = (
    pd.errors.ParserError,
    pd.errors.EmptyDataError,
    UnicodeDecodeError,
    OSError,
    EOFError,
)


def _csv_options(path: Path) -> dict[str, Any]:
    return {"sep": "\t" if path.name.lower().endswith(_TSV_SUFFIXES) else ","}


def _read_options(path: Path, encoding: str | None) -> dict[str, Any]:
    """``read_csv``'s ``sep`` (the extension's) and ``encoding`` (None: UTF-8, pandas'
    fastest read, a byte-order mark skipped), for every read of the file's text."""
    return {**_csv_options(path), "encoding": encoding}


#: Separators tried when a ``.csv`` file's header is one comma-separated field.
_OTHER_SEPARATORS = (";", "\t", "|")


def _csv_header(path: Path, encoding: str | None = None) -> tuple[dict[str, Any], list[str]]:
    """The file's separator and its columns' names, from one read of its first line
    (more only where a name holds another separator).

    The separator is the extension's, unless a ``.csv`` header is a single
    comma-separated field that ``;``, a tab or ``|`` splits (a spreadsheet's export
    in many locales), or one whose comma-separated names hold a quote mark that such a
    separator splits into more names without any (a quoted name holding a comma), or
    one whose comma-separated names hold such a separator that splits the file's first
    lines better (:func:`_splits_lines_better`: an unquoted name holding a comma):
    then that one (the line read again with it), so that the columns are not read as
    one text column.

    ``encoding``: the file's text encoding (:attr:`CsvFormat.encoding`).

    Returns
    -------
    read_options : dict
        ``read_csv``'s ``sep`` and ``encoding``.
    names : list of str
        The columns' names as pandas reads them: an empty one as ``Unnamed: N``.

    Raises
    ------
    DataFileError
        Two columns of the header share a name: pandas would rename the second ``a``
        to ``a.1`` without a word, so the model would train on a column the file does
        not name, ``--exclude a`` would leave its twin in, and ``--keep a`` copy
        either. (Empty names are pandas' ``Unnamed: N``, each its own.)
    """
    options = _read_options(path, encoding)
    names = _header_names(path, options)
    # A quote mark inside a comma-split name is a quoted field the comma cut open:
    # `id;"amount, EUR";x` read with "," is two columns, every row's values in the first.
    cut_open = any('"' in name for name in names)
    if options["sep"] == ",":
        for sep in _OTHER_SEPARATORS:
            if not any(sep in name for name in names):
                continue
            if len(names) == 1 or cut_open:
                other = _header_names(path, {**options, "sep": sep})
                if len(names) == 1 or (
                    len(other) > len(names) and not any('"' in n for n in other)
                ):
                    options, names = {**options, "sep": sep}, other
                    break
            elif _splits_lines_better(path, sep, encoding):
                # an unquoted comma in a name (`id;amount, EUR;x`): the rows decide
                options = {**options, "sep": sep}
                names = _header_names(path, options)
                break
    twice = sorted({name for name in names if name and names.count(name) > 1})
    if twice:
        raise DataFileError(
            f"{path}: the header names column(s) {twice} more than once; give each column "
            "a name of its own"
        )
    return options, [name or f"Unnamed: {i}" for i, name in enumerate(names)]


#: Lines (the header's included) whose widths decide between two separators.
SEPARATOR_SAMPLE_LINES = 50


def _width(path: Path, sep: str, encoding: str | None) -> int | None:
    """The number of fields each of the file's first :data:`SEPARATOR_SAMPLE_LINES`
    lines splits into with ``sep``, or None where they differ."""
    try:
        # the python engine: the C engine reads a shorter line's missing fields as ""
        # too, so lines of 3 fields and of 1 made a width of 3
        lines = pd.read_csv(
            path, sep=sep, header=None, nrows=SEPARATOR_SAMPLE_LINES, dtype=str,
            keep_default_na=False, index_col=False, encoding=encoding, engine="python",
        )  # fmt: skip
    except (*_CSV_READ_ERRORS, ValueError):
        return None  # a line longer than the first
    # a shorter line's missing fields are NaN (an empty field is "")
    return None if lines.isna().to_numpy().any() else lines.shape[1]


def _splits_lines_better(path: Path, sep: str, encoding: str | None) -> bool:
    """Whether ``sep`` splits the file's first lines into more than one field, as many
    in each, where the comma gives fewer fields or lines of different widths.

    For a header whose comma-split names hold ``sep``: `id;amount, EUR;x` over rows
    `1;2,5;3` (a ``;`` file whose name holds a comma) splits into 2 fields by commas
    and 3 by ``;``; `id,ratio;pct,x` over rows `1,0.5,3` (a comma file whose name holds
    a ``;``) into 3 by commas and lines of 2 and 1 by ``;``.
    """
    width = _width(path, sep, encoding)
    if width is None or width < 2:
        return False
    by_comma = _width(path, ",", encoding)
    return by_comma is None or by_comma < width


def _header_names(path: Path, read_options: dict[str, Any]) -> list[str]:
    """The names in the CSV file's first line, as written (an empty name as ""), read
    with ``read_options`` (its separator and encoding)."""
    header = pd.read_csv(
        path, header=None, nrows=1, dtype=str, keep_default_na=False, **read_options
    )
    return [str(name) for name in header.iloc[0]] if len(header) else []


@contextlib.contextmanager
def _extra_fields_refused(path: Path, read_options: dict[str, Any]) -> Iterator[None]:
    """Raise a DataFileError where pandas drops values beyond the header's last column.

    With ``index_col=False`` pandas reads a row with more fields than the header
    names by dropping the extra ones, with only a ``ParserWarning``: values lost, and
    quite likely a header that lacks a name. Empty extra fields (a trailing delimiter
    on every row) raise nothing.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "error", message="Length of header or names", category=pd.errors.ParserWarning
        )
        try:
            yield
        except pd.errors.ParserWarning:
            raise _long_rows_error(path, read_options) from None


def _long_rows_error(path: Path, read_options: dict[str, Any]) -> DataFileError:
    return DataFileError(
        f"{path}: {_first_long_row(path, read_options)} holds more fields than the "
        "header names: the values beyond the last named column would be lost; name "
        "every column in the header, or remove the extra fields"
    )


def _first_long_row(path: Path, read_options: dict[str, Any]) -> str:
    """Where in a CSV file a row first holds a value beyond the header's columns (its
    line, the header being line 1), for the message of :func:`_extra_fields_refused`."""
    width = len(pd.read_csv(path, nrows=0, **read_options).columns)
    spare = 256
    try:
        chunks = pd.read_csv(
            path,
            header=None,
            skiprows=1,
            names=list(range(width + spare)),
            dtype=str,
            keep_default_na=False,
            chunksize=65536,
            **read_options,
        )
        start = 0
        with chunks:
            for chunk in chunks:
                extra = chunk.iloc[:, width:]
                long_rows = np.flatnonzero((extra.notna() & (extra != "")).any(axis=1))
                if len(long_rows):
                    return f"line {start + int(long_rows[0]) + 2}"
                start += len(chunk)
    except (*_CSV_READ_ERRORS, ValueError):
        pass  # more than `spare` extra fields, or a row pandas cannot split
    return "a row"


class _ShortRows:
    """Finds a CSV file's rows with fewer fields than its header names, to refuse them.

    pandas reads the fields a short row lacks as missing values (the last line of a
    file still being written, ``1.5,2`` under ``a,b,c,d,e``): ``missing="impute"``
    would score it with the training medians without a word. pandas' C parser gives
    a missing field as it gives an empty one (``""`` with ``dtype=str``, NaN among
    numbers), so the fields are counted here, line by line (a line with a quote mark
    by Python's ``csv`` module), and only where a chunk holds a missing value in the
    last named column, as a short row must: a file with a value in every row of that
    column is not read twice. The count is one pass over the file at most, however
    many chunks ask for it.

    Parameters
    ----------
    path : Path
        The CSV file (compressed as its name says).
    read_options : dict
        ``read_csv``'s ``sep`` and ``encoding`` for it (:func:`_csv_header`).
    header : list of str
        Its columns' names as :func:`_csv_header` gives them. Fields are needed up to
        the last named one: a header ending in the delimiter (``a,b,c,``) over rows
        without it (``1,2,3``) loses no value, and was read before.
    """

    def __init__(self, path: Path, read_options: dict[str, Any], header: list[str]) -> None:
        self._path = path
        self._options = read_options
        self._width = len(header)
        named = [i for i, name in enumerate(header) if name != f"Unnamed: {i}"]
        self._needed = named[-1] + 1 if named else 0
        self._rows: Iterator[tuple[int, int]] | None = None
        self._last_line = ""
        self._lines_read = 0
        self._stack = contextlib.ExitStack()

    def close(self) -> None:
        """Close the file the fields were counted in, if it was opened."""
        self._stack.close()

    def check(self, chunk: pd.DataFrame, start: int) -> None:
        """Raise a DataFileError where a row of ``chunk`` (the file's rows from
        position ``start``, every column of the header) holds fewer fields than the
        header names."""
        if self._needed < 2 or not chunk.iloc[:, self._needed - 1].isna().any():
            return
        end = start + len(chunk)
        for position, fields in self._counts(end):
            if position >= start and fields < self._needed:
                raise self._error(position, fields)

    def _counts(self, end: int) -> Iterator[tuple[int, int]]:
        """The positions and field counts of the rows not counted yet, up to ``end``."""
        if self._rows is None:
            self._rows = self._count_rows()
        for position, fields in self._rows:
            yield position, fields
            if position + 1 >= end:
                return

    def _count_rows(self) -> Iterator[tuple[int, int]]:
        raw = get_handle(self._path, "rb", compression="infer", is_text=False)
        self._stack.callback(raw.close)
        # undecodable bytes are the rows' read to name; here they count as a character
        text = io.TextIOWrapper(
            raw.handle,
            encoding=self._options.get("encoding") or "utf-8-sig",
            errors="replace",
            newline="",
        )

        def lines() -> Iterator[str]:
            for line in text:
                self._last_line = line
                self._lines_read += 1
                yield line

        sep = self._options["sep"]
        # pandas skips blank lines and lines of spaces and tabs alone (the separator apart)
        spaces = " \t".replace(sep, "")
        rest = lines()
        position = -1  # the header's
        try:
            for line in rest:
                if '"' in line:
                    # a quoted field may hold the separator or a line break: csv reads
                    # the row, from this line on, as far as it goes
                    row = next(csv.reader(itertools.chain([line], rest), delimiter=sep), [])
                    fields, blank = len(row), False  # a quote mark is never a blank line
                else:
                    # most lines: counted without csv's list of fields, twice as fast
                    body = line.rstrip("\r\n")
                    fields = body.count(sep) + 1
                    blank = not body.strip(spaces)
                if blank:
                    continue
                if position >= 0:
                    yield position, fields
                position += 1
        except csv.Error:
            return  # a field over csv's size limit: its rows cannot be told short

    def _error(self, position: int, fields: int) -> DataFileError:
        """The message for the row at ``position`` holding ``fields`` fields."""
        # the counting stopped just after the row's last line: the file's last one
        # where no row and no line follows
        read = self._lines_read
        last = (
            self._rows is not None
            and next(self._rows, None) is None
            and self._lines_read == read
            and not self._last_line.endswith(("\n", "\r"))
        )
        holds = f"{fields} field" if fields == 1 else f"{fields} fields"
        where = f"{self._path}: line {position + 2} holds {holds}"
        where += f" where the header names {self._width}"
        if last:
            return DataFileError(
                f"{where} (the last line, with no line break after it: a file still being "
                "written, or cut short?)"
            )
        return DataFileError(
            f"{where}: its missing fields would be read as missing values; write every "
            "field, an empty one where a value is missing"
        )


def _csv_missing(
    columns: list[str] | None,
    text_columns: Collection[str] | None,
    header: list[str],
    csv_format: CsvFormat = _PLAIN,
) -> dict[str, Any]:
    """``read_csv`` options: only empty fields are missing, except in the numeric columns
    of a known layout (``text_columns`` given), where the words pandas reads as missing
    and ``csv_format``'s ``na_values`` are missing too (columns found out later go
    through :func:`infer_missing`). ``header``: the file's column names, from
    :func:`_csv_header`."""
    if text_columns is None:
        return {"keep_default_na": False, "na_values": [""]}
    if columns is None:
        columns = header
    words = ["", *sorted(csv_format.missing_words())]
    return {
        "keep_default_na": False,
        "na_values": {c: [""] if c in text_columns else words for c in columns},
    }


def text_columns(model: Any) -> list[str]:
    """The categorical columns of a fitted model (read as text from a CSV file)."""
    encoder = getattr(model, "encoder_", None)
    return [str(c) for c in encoder.categories] if encoder is not None else []


def infer_missing(frame: pd.DataFrame, csv_format: CsvFormat | None = None) -> pd.DataFrame:
    """Read the words of :data:`MISSING_WORDS` as missing in the columns they leave numeric
    (or boolean), as pandas' default would; in a text column they stay values.

    For a CSV read with only empty fields missing (``iter_table(..., text_columns=None)``
    does this per chunk; call it once on chunks concatenated, so that every chunk of a
    column is read the same way). A column of nothing but such words is missing
    throughout, as pandas would read it. ``csv_format``: the file's (its decimal mark
    decided), whose ``na_values`` are such words too and whose marks the numbers are
    read with.
    """
    csv_format = csv_format or _PLAIN
    words = csv_format.missing_words()
    converted = {}
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            continue
        is_word = column.isin(words)
        if not is_word.any():
            continue
        rest = column[column.notna() & ~is_word]
        if rest.empty:
            converted[name] = pd.Series(float("nan"), index=frame.index)
            continue
        if _numbers(rest, csv_format) is not None:
            converted[name] = _numbers(column.where(~is_word), csv_format)
        elif rest.map(lambda v: isinstance(v, bool) or v in BOOLEAN_WORDS).all():
            converted[name] = column.map(
                lambda v: None if v in words else BOOLEAN_WORDS.get(v, v)
            ).astype(object)
    if converted:
        frame = frame.copy()
        for name, values in converted.items():
            frame[name] = values
    return numbers_beside_text(frame, csv_format)


def numbers_beside_text(
    frame: pd.DataFrame, csv_format: CsvFormat, text: Collection[str] = ()
) -> pd.DataFrame:
    """``frame`` (read from a CSV file written in ``csv_format``) with the numbers that
    pandas left as text in a column holding a few other values read as numbers.

    pandas reads a column as numbers only where every value is one: beside one slip
    (``abc``) the whole column stays text. With its own marks (``.``) that text still
    reads as numbers downstream, and the slip alone is named; with a decimal comma or
    a thousands separator it does not, and until 2026-12-07 every value was named
    (score: "holds text such as '7,686339785866931' (600 value(s) ...)", with the
    advice to give the ``--decimal ,`` given), or fit trained the column as a category
    of 600 values. Here the values written as the file writes numbers, where they are
    more than half of a column's, are read as numbers (by the parser that reads the
    file's other chunks), and the others stay as they are, to be named. (A sample of
    the rows, ``--sample-rows``, may hold none of the others: then it is numbers.)

    Parameters
    ----------
    frame : DataFrame
        Rows as read.
    csv_format : CsvFormat
        The file's format, its decimal mark decided.
    text : collection of str, default ()
        Columns that are text whatever they hold (a model's categorical columns).

    Returns
    -------
    DataFrame
        ``frame`` itself where nothing is read again.
    """
    if csv_format.number_options() == _PLAIN.number_options():
        return frame
    pattern = _number_pattern(csv_format)
    converted = {}
    for name in frame.columns:
        column = frame[name]
        # pandas 3 reads text as its string dtype, pandas 2 as objects
        if name in text or not (
            pd.api.types.is_object_dtype(column) or isinstance(column.dtype, pd.StringDtype)
        ):
            continue
        present = column.notna().to_numpy()
        values = column[present]
        written = values.map(lambda v: isinstance(v, str) and pattern.fullmatch(v) is not None)
        if not written.any() or 2 * int(written.sum()) <= len(values):
            continue
        if to_numeric(values[~written]).notna().any():
            continue  # "0.5" among "0,125": each way is named where the column is read
        typed = _typed_text(values[written].to_frame(), csv_format).iloc[:, 0]
        if not pd.api.types.is_float_dtype(typed) and not pd.api.types.is_integer_dtype(typed):
            continue
        read = column.astype(object)  # a copy
        # by position: an index may repeat labels
        at = np.flatnonzero(present)[written.to_numpy()]
        read.iloc[at] = typed.to_numpy(dtype=object)
        converted[name] = read
    if not converted:
        return frame
    frame = frame.copy()
    for name, values in converted.items():
        frame[name] = values
    return frame


def _number_pattern(csv_format: CsvFormat) -> re.Pattern[str]:
    """A number written in ``csv_format``: its decimal mark, its thousands grouped
    with its separator or not grouped, an exponent."""
    mark = re.escape(csv_format.decimal or ".")
    whole = r"\d+"
    if csv_format.thousands:
        whole = rf"(?:\d{{1,3}}(?:{re.escape(csv_format.thousands)}\d{{3}})+|\d+)"
    return re.compile(rf"\s*[+-]?(?:{whole}(?:{mark}\d*)?|{mark}\d+)(?:[eE][+-]?\d+)?\s*")


def _numbers(values: pd.Series, csv_format: CsvFormat) -> pd.Series | None:
    """Text ``values`` as the numbers ``csv_format`` writes (missing ones NaN), or None
    where one is not such a number."""
    if csv_format.number_options() == _PLAIN.number_options():
        # pandas' own marks: one call, as before there were others
        numbers = to_numeric(values)
        return numbers if (numbers.notna() | values.isna()).all() else None
    typed = _typed_text(values.to_frame(), csv_format).iloc[:, 0]
    if pd.api.types.is_numeric_dtype(typed) and not pd.api.types.is_bool_dtype(typed):
        return pd.Series(typed.to_numpy(), index=values.index, name=values.name)
    return None


def _typed_text(
    text: pd.DataFrame, csv_format: CsvFormat, na_values: Collection[str] = ("",)
) -> pd.DataFrame:
    """Text columns typed as ``read_csv`` types a file's columns written in ``csv_format``
    (only empty fields missing, or ``na_values``): the same parser, so the same numbers
    as the file's other chunks."""
    # any separator that is neither mark: the values are quoted where they hold it
    sep = next(c for c in ",;|" if c not in (csv_format.decimal, csv_format.thousands))
    typed = pd.read_csv(
        io.StringIO(csv_format.stand_in(text.to_csv(index=False, sep=sep))),
        sep=sep,
        keep_default_na=False,
        na_values=list(na_values),
        **csv_format.number_options(),
    )
    return csv_format.restored(typed)


def check_csv_format(path: str | os.PathLike[str], csv_format: CsvFormat) -> None:
    """Raise a DataFileError where ``csv_format`` cannot apply to the file ``path``.

    Checked before any work (the command line does): a format other than the default
    (an encoding included) for a file that is not CSV, or a thousands separator that
    is also the decimal mark decided for the file. A file that cannot be read is left
    to the read that follows, which says why.

    Raises
    ------
    DataFileError
        As :func:`_decided_format`.
    """
    if csv_format == _PLAIN:
        return
    target = Path(path)
    try:
        kind = "parquet" if target.is_dir() else table_format(target)
        sep = _csv_header(target, csv_format.encoding)[0]["sep"] if kind == "csv" else None
    except (DataFileError, *_CSV_READ_ERRORS, ValueError):
        return
    _decided_format(target, kind, csv_format, sep)


def _decided_format(target: Path, kind: str, csv_format: CsvFormat, sep: str | None) -> CsvFormat:
    """``csv_format`` for the file ``target`` of type ``kind`` whose separator is ``sep``
    (None: not CSV), its decimal mark decided (:func:`_decided_decimal`).

    Raises
    ------
    DataFileError
        A format other than the default for a file that is not CSV; a thousands
        separator that is also the decimal mark.
    """
    if sep is None:
        if csv_format != CsvFormat(encoding=csv_format.encoding):
            raise DataFileError(
                f"{target}: {_FORMAT_NAMES[kind]} holds typed numbers: a decimal mark, thousands "
                "separator or missing-value words (--decimal, --thousands, --na-values) "
                "apply to CSV files only"
            )
        if csv_format.encoding is not None:
            # Parquet and Arrow store text as UTF-8, and JSON is UTF-8 (RFC 8259)
            stored = (
                "JSON Lines is UTF-8 text (convert a file that is not, e.g. iconv -f cp1252 "
                "-t utf-8)"
                if kind == "jsonl"
                else f"{_FORMAT_NAMES[kind]} stores its text as UTF-8"
            )
            raise DataFileError(
                f"{target}: a text encoding (--encoding) applies to CSV files only: {stored}; "
                "drop --encoding"
            )
        return csv_format
    decimal = csv_format.decimal or _decided_decimal(
        target, sep, csv_format.thousands, csv_format.encoding
    )
    if decimal == csv_format.thousands:
        raise DataFileError(
            f"{target}: the thousands separator {decimal!r} (--thousands) is also the "
            "decimal mark: give the decimal mark too (--decimal)"
        )
    return csv_format.with_marks(decimal)


def _decided_decimal(target: Path, sep: str, thousands: str | None, encoding: str | None) -> str:
    """The decimal mark of a CSV file for which none was given.

    ``"."``, except in a ``;``-separated file (a spreadsheet's export in the locales
    whose decimal mark is the comma, which is why it is not comma-separated): ``","``
    there where a field of its first :data:`DECIMAL_SAMPLE_LINES` data lines is a
    number written with a decimal comma (``-2,5``) and none with a decimal point, or
    where the thousands separator is ``"."``. Decided once per file, so that every
    chunk reads the numbers alike. ``encoding``: the file's (:attr:`CsvFormat.encoding`).
    """
    if sep != ";" or thousands == ",":
        return "."
    if thousands == ".":
        return ","
    try:
        sample = pd.read_csv(
            target, sep=sep, header=None, skiprows=1, nrows=DECIMAL_SAMPLE_LINES,
            dtype=str, keep_default_na=False, index_col=False, encoding=encoding,
        )  # fmt: skip
    except (*_CSV_READ_ERRORS, ValueError):
        return "."  # the read of the rows says what is wrong
    fields = pd.Series(sample.to_numpy().ravel(), dtype=object).str.strip()
    commas = fields.str.fullmatch(_DECIMAL_COMMA.pattern).any()
    points = fields.str.fullmatch(_DECIMAL_POINT.pattern).any()
    return "," if commas and not points else "."


def typed_once(
    path: str | os.PathLike[str], frame: pd.DataFrame, csv_format: CsvFormat | None = None
) -> pd.DataFrame:
    """Rows read chunk by chunk with ``iter_table(path, ..., infer=False)`` and
    concatenated, indexed by their 0-based positions in the file, typed as a read of
    the whole file types them.

    pandas types each chunk of a CSV file alone: a chunk holding only ``01`` and
    ``02`` of a column that also holds ``A7`` gives the numbers 1 and 2, so the
    concatenation holds 1 beside ``"01"`` for one value (until 2026-12-05 the model
    learnt both as categories). Such a column, numbers or booleans beside text, is
    read again from the file as text, for these rows only, and typed once; then the
    missing-value words go through :func:`infer_missing`.

    Parameters
    ----------
    path : str or PathLike
        The file the rows were read from.
    frame : DataFrame
        The rows, indexed by their positions in the file.
    csv_format : CsvFormat, optional
        The one they were read with.

    Returns
    -------
    DataFrame
        The same rows and index, typed.
    """
    target = Path(path)
    if target.is_dir() or table_format(target) != "csv":
        return infer_missing(frame)
    csv_format = csv_format or _PLAIN
    read_options, _ = _csv_header(target, csv_format.encoding)
    csv_format = _decided_format(target, "csv", csv_format, read_options["sep"])
    mixed = [
        name
        for name in frame.columns
        if pd.api.types.is_object_dtype(frame[name])
        and pd.api.types.infer_dtype(frame[name], skipna=True) not in ("string", "empty")
    ]
    if mixed:
        typed = _typed_text(_csv_text(target, read_options, mixed, frame.index), csv_format)
        frame = frame.copy()
        for i, name in enumerate(mixed):
            frame[name] = typed.iloc[:, i].to_numpy()
    return infer_missing(frame, csv_format)


def _csv_text(
    target: Path, read_options: dict[str, Any], names: list[str], positions: pd.Index
) -> pd.DataFrame:
    """Columns ``names`` of a CSV file (read with ``read_options``, its separator and
    encoding) as text, at the rows ``positions`` (0-based)."""
    wanted = pd.Index(positions)
    parts, start = [], 0
    with pd.read_csv(
        target, usecols=names, dtype=str, keep_default_na=False, na_values=[""],
        index_col=False, chunksize=65536, **read_options,
    ) as reader:  # fmt: skip
        for chunk in reader:
            chunk.index = pd.RangeIndex(start, start + len(chunk))
            start += len(chunk)
            parts.append(chunk.loc[chunk.index.intersection(wanted), names])
    return pd.concat(parts).loc[wanted]


def read_table(
    path: str | os.PathLike[str],
    columns: list[str] | None = None,
    text_columns: Collection[str] | None = None,
    csv_format: CsvFormat | None = None,
) -> pd.DataFrame:
    """Read a whole CSV or Parquet file into a DataFrame (see :func:`iter_table`)."""
    chunks = list(
        iter_table(
            path, chunk_rows=None, columns=columns, text_columns=text_columns,
            csv_format=csv_format,
        )
    )  # fmt: skip
    if not chunks:
        raise DataFileError(f"{path}: no rows")
    return pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]


def drop_empty_unnamed(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """``frame`` without the columns a header left unnamed and no row fills.

    pandas names an empty header field ``Unnamed: N``; one with no value in any row
    is what a trailing delimiter on every line leaves (``a,b,c,``), which holds
    nothing to train on and would otherwise fail the fit as an all-NaN column.

    Returns
    -------
    frame : DataFrame
        Without those columns.
    dropped : list of str
        Their names.
    """
    dropped = [
        str(name)
        for name in frame.columns
        if re.fullmatch(r"Unnamed: \d+", str(name)) and frame[name].isna().all()
    ]
    return (frame.drop(columns=dropped) if dropped else frame), dropped


def iter_table(
    path: str | os.PathLike[str],
    chunk_rows: int | None = 65536,
    columns: list[str] | None = None,
    text_columns: Collection[str] | None = None,
    infer: bool = True,
    categories: Collection[str] = (),
    csv_format: CsvFormat | None = None,
) -> Iterator[pd.DataFrame]:
    """Yield the file's rows in DataFrames of at most ``chunk_rows`` rows (None: all at once).

    In a CSV file an empty field is missing. The words pandas reads as missing
    (:data:`MISSING_WORDS`: "NA", "NULL", "None", "nan", ...) are missing in numeric
    columns only: in ``text_columns`` (a model's categorical columns) they are
    values. In a CSV file ``categories`` (a model's categorical columns) are read as
    text in every chunk, whatever their values (``01`` stays ``01``). Without
    ``text_columns`` each chunk goes through :func:`infer_missing`;
    ``infer=False`` leaves that to the caller: :func:`typed_once` on the chunks
    concatenated.
    In a Parquet or Arrow file a decimal column is read as float64 numbers, except in
    ``text_columns``.
    ``csv_format`` says how a CSV file writes its text and numbers and which more
    values are missing (:class:`CsvFormat`; default: UTF-8, numbers as pandas writes
    them, but for a ``;``-separated file's decimal mark, decided from its first
    lines).

    Raises
    ------
    DataFileError
        Missing file, directory, a pipe or device (read more than once, a CSV file's
        first line and then its rows), unsupported type, malformed CSV, text that
        ``csv_format``'s encoding cannot decode (its first such byte and line named),
        unreadable Parquet; a ``csv_format`` that cannot apply
        (:func:`check_csv_format`).
    """
    for frame, _ in _iter_rows(
        path, chunk_rows, columns, text_columns, infer, categories, csv_format, ()
    ):
        yield frame


def iter_table_copies(
    path: str | os.PathLike[str],
    chunk_rows: int | None = 65536,
    columns: list[str] | None = None,
    copies: Collection[str] = (),
    text_columns: Collection[str] | None = None,
    categories: Collection[str] = (),
    csv_format: CsvFormat | None = None,
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """:func:`iter_table`'s chunks, each beside the columns ``copies`` exactly as the
    file holds them: the values ``dagmm score --id-column/--keep`` copies to its output.

    In a CSV file (or JSON Lines, a string) a copy is the field's text: ``00042``,
    ``TRUE``, ``1e5`` and a 19-digit id stay as written, an empty field is missing
    (the words of :data:`MISSING_WORDS` are text). In a Parquet or Arrow file a copy
    keeps its type: an integer or boolean column as pandas' nullable ``Int64``
    (``UInt8``, ...) or ``boolean``, so that a missing value does not turn the rest into
    floats; a decimal column as its ``decimal.Decimal`` values. A JSON Lines file's
    numbers are Python's: a column of integers (and nulls) as ``Int64``, of booleans
    as ``boolean``.

    Every chunk reads its copies alike, whatever its values (until 2026-12-07 an id
    column was typed chunk by chunk: a 19-digit id became a float, ``00042`` the
    number 42, and a chunk holding an empty id wrote ``1032.0`` where the others wrote
    ``1032``).

    The chunk itself holds a copy as :func:`iter_table` would read it where it is not
    in ``text_columns`` or ``categories`` (a model's numeric feature, scored from its
    numbers); else the copy (text in a CSV file).

    Parameters
    ----------
    path, chunk_rows, columns, text_columns, categories, csv_format
        As :func:`iter_table`.
    copies : collection of str
        The columns copied (with ``columns``, among them). One the file lacks is
        absent from ``copied``, for the caller to name.

    Yields
    ------
    chunk : DataFrame
        As :func:`iter_table` yields it.
    copied : DataFrame
        The columns ``copies`` of the chunk's rows, in that order, indexed as ``chunk``.
    """
    for frame, copied in _iter_rows(
        path, chunk_rows, columns, text_columns, True, categories, csv_format, copies
    ):
        yield frame, frame[[]] if copied is None else copied


def _iter_rows(
    path: str | os.PathLike[str],
    chunk_rows: int | None,
    columns: list[str] | None,
    text_columns: Collection[str] | None,
    infer: bool,
    categories: Collection[str],
    csv_format: CsvFormat | None,
    copied_names: Collection[str],
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame | None]]:
    """:func:`iter_table`'s chunks, with :func:`iter_table_copies`' copies of the
    columns ``copied_names`` (None where it is empty)."""
    copies = list(dict.fromkeys(copied_names))
    target, kind = _check_readable(path)
    csv_format = csv_format or _PLAIN
    if kind != "csv":
        _decided_format(target, kind, csv_format, None)
    if kind == "parquet":
        yield from _iter_parquet(target, chunk_rows, columns, text_columns, copies)
        return
    if kind == "arrow":
        yield from _iter_arrow(target, chunk_rows, columns, text_columns, copies)
        return
    if kind == "jsonl":
        yield from _iter_json_lines(target, chunk_rows, columns, copies)
        return

    def infer_chunk(frame: pd.DataFrame) -> pd.DataFrame:
        # csv_format: the file's, decided below before the first chunk is read
        if text_columns is None and infer:
            return infer_missing(frame, csv_format)
        if text_columns is not None:  # scoring: the slip among numbers is named there
            return numbers_beside_text(frame, csv_format or _PLAIN, text_columns)
        return frame

    read_options: dict[str, Any] = _read_options(target, csv_format.encoding)
    header: list[str] | None = None
    try:
        # the separator and the names, from one read of the first line: the file is
        # opened twice in all (then for the rows), not once per decision about it
        read_options, header = _csv_header(target, csv_format.encoding)
        csv_format = _decided_format(target, kind, csv_format, read_options["sep"])
        options = {
            **read_options,
            **csv_format.number_options(),
            **_csv_missing(columns, text_columns, header, csv_format),
        }
        if categories or copies:
            # A model's categorical column is text in every chunk: a chunk holding only
            # "01" and "02" would else be read as the numbers 1 and 2, categories
            # training never saw, so a row's score would depend on its chunk. A copied
            # column is text too, written as the file writes it.
            options["dtype"] = {c: str for c in header if c in categories or c in copies}
        # the copies that are numeric features: typed again from their text, per chunk
        retyped = [
            c
            for c in copies
            if c not in categories and (text_columns is None or c not in text_columns)
        ]
        if copies:
            # a copy is text: only an empty field is missing in it
            na_values = options["na_values"]
            if isinstance(na_values, dict):
                options["na_values"] = {
                    c: [""] if c in copies else words for c, words in na_values.items()
                }
        retype_missing = [""] if text_columns is None else ["", *sorted(csv_format.missing_words())]

        def split(chunk: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame | None]:
            if not copies:
                return infer_chunk(chunk), None
            copied = chunk[[c for c in copies if c in chunk.columns]]
            present = [c for c in retyped if c in chunk.columns]
            if present:
                typed = _typed_text(chunk[present], csv_format, retype_missing)
                chunk = chunk.copy()
                for i, name in enumerate(present):
                    chunk[name] = typed.iloc[:, i].to_numpy()
            return infer_chunk(chunk), copied

        # index_col=False: rows one field longer than the header (a trailing delimiter)
        # would otherwise make the first column the index, every value one column left.
        with contextlib.ExitStack() as stack:
            source: Any = target
            if csv_format.wide_thousands:
                # a wide thousands separator: the decompressed text through a stand-in
                handles = get_handle(
                    target, "r", encoding=csv_format.text_encoding, compression="infer"
                )
                stack.callback(handles.close)
                source = csv_format.stand_in(handles.handle, str(target))
            wanted = None
            if columns is not None:
                # Not usecols: with it pandas takes a row's fields by position and drops
                # those beyond the header without a word (a row with one field too many
                # scored every value one column to the left); without it such a row is
                # a parser error naming its line.
                names = list(pd.read_csv(target, nrows=0, **read_options).columns)
                _check_columns(target, names, columns)
                wanted = [name for name in names if name in set(columns)]

            def checked(chunk: pd.DataFrame) -> pd.DataFrame:
                return chunk if wanted is None else chunk[wanted]

            short_rows = _ShortRows(target, read_options, header)
            stack.callback(short_rows.close)
            with _extra_fields_refused(target, read_options):
                reader = pd.read_csv(source, chunksize=chunk_rows, index_col=False, **options)
            if chunk_rows is None:
                short_rows.check(reader, 0)
                yield split(csv_format.restored(checked(reader)))
                return
            start = 0
            with reader:
                while True:
                    with _extra_fields_refused(target, read_options):
                        chunk = next(reader, None)
                    if chunk is None:
                        return
                    short_rows.check(chunk, start)
                    start += len(chunk)
                    yield split(csv_format.restored(checked(chunk)))
    except DataFileError:
        raise
    except ImportError as exc:  # pandas reads .csv.zst with zstandard, if installed
        raise DataFileError(
            f"{target}: reading it needs a package that is not installed ({_first_line(exc)})"
        ) from exc
    except UnicodeDecodeError as exc:
        raise DataFileError(_not_text(target, csv_format.encoding, exc)) from exc
    except _CSV_READ_ERRORS as exc:
        too_long = _TOO_MANY_FIELDS.search(str(exc))
        if too_long and header is not None and int(too_long[1]) == len(header):
            raise DataFileError(
                f"{target}: cannot parse as CSV: line {too_long[2]} holds more fields than the "
                "header names "
                f"({too_long[3]}, not {too_long[1]}): its values cannot be matched to the "
                "columns; name every column in the header, or remove the extra fields"
            ) from exc
        raise DataFileError(f"{target}: cannot parse as CSV ({_first_line(exc)})") from exc
    except ValueError as exc:
        raise DataFileError(f"{target}: cannot parse as CSV ({_first_line(exc)})") from exc


#: pandas' C parser on a row longer than the header: expected, line, seen.
_TOO_MANY_FIELDS = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def _not_text(target: Path, encoding: str | None, exc: UnicodeDecodeError) -> str:
    """The message for a CSV file that ``encoding`` (None: UTF-8) cannot decode: its first
    such byte, the line it is on, and the ways out, ``--encoding`` first."""
    byte, line, head = _first_undecodable(target, encoding)
    if byte is None:  # not found again: the byte pandas' read failed on
        byte = exc.object[exc.start] if exc.start < len(exc.object) else 0
    at = f" at line {line}" if line else ""
    name = "UTF-8" if encoding in (None, "utf-8") else encoding
    said = (
        f"{target}: cannot parse as CSV: not {name} text (byte 0x{byte:02x}{at} cannot be decoded)"
    )
    if name != "UTF-8":
        return (
            f"{said}; give the encoding it is written in (--encoding), or save it as UTF-8 "
            '(a spreadsheet\'s "CSV UTF-8")'
        )
    # a spreadsheet's "Unicode Text" export is UTF-16, which starts with its byte-order mark
    guess = "utf-16" if head.startswith(_UTF16_MARKS) else _LIKELY_ENCODING
    return (
        f"{said}; give its encoding, e.g. --encoding {guess}, or save it as UTF-8 "
        '(a spreadsheet\'s "CSV UTF-8")'
    )


def _first_undecodable(target: Path, encoding: str | None) -> tuple[int | None, int, bytes]:
    """The first byte of the CSV file ``target`` (decompressed) that ``encoding`` (None:
    UTF-8) cannot decode, the line it is on (1: the header), and the file's first bytes;
    None for the byte where all of it decodes or it cannot be read.

    Read again only for the message (pandas' error gives an offset into a block of
    bytes, not the file), line by line: in an ASCII-based encoding a line break ends
    every character, so the byte's line is exact (in UTF-16 it may be one early).
    """
    decoder = codecs.getincrementaldecoder(encoding or "utf-8-sig")()
    newlines, head = 0, b""
    # any failure (a damaged .xz or .zst raises its own error types) leaves the message
    # without the line: it must not replace the error it words
    with contextlib.suppress(Exception):
        handles = get_handle(target, "rb", compression="infer", is_text=False)
        with handles:
            for piece in handles.handle:
                head = head or piece[:4]
                try:
                    newlines += decoder.decode(piece).count("\n")
                except UnicodeDecodeError as exc:
                    return exc.object[exc.start], newlines + 1, head
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError as exc:
                return exc.object[exc.start], newlines + 1, head
    return None, 0, head


def _to_pandas(data: Any, text_columns: Collection[str] | None) -> pd.DataFrame:
    """An Arrow table or record batch as a DataFrame, its decimal columns as float64.

    pyarrow turns a decimal column (a database's or Spark's ``DECIMAL(10, 2)``, money
    say) into ``decimal.Decimal`` objects, which the model reads as text: each amount
    would be a category of its own. A model's categorical column (``text_columns``)
    keeps them, as the model saw them when it was fitted.
    """
    import pyarrow as pa

    keep = text_columns or ()
    for index, column in enumerate(data.schema):
        if pa.types.is_decimal(column.type) and column.name not in keep:
            if isinstance(data, pa.RecordBatch):  # pyarrow 15 has no RecordBatch.set_column
                data = pa.Table.from_batches([data])
            values = data.column(index).cast(pa.float64())
            data = data.set_column(index, pa.field(column.name, pa.float64()), values)
    return data.to_pandas()


def _nullable_types() -> dict[Any, Any]:
    """pandas' nullable dtypes of Arrow's integer and boolean types."""
    import pyarrow as pa

    return {
        pa.int8(): pd.Int8Dtype(), pa.int16(): pd.Int16Dtype(), pa.int32(): pd.Int32Dtype(),
        pa.int64(): pd.Int64Dtype(), pa.uint8(): pd.UInt8Dtype(), pa.uint16(): pd.UInt16Dtype(),
        pa.uint32(): pd.UInt32Dtype(), pa.uint64(): pd.UInt64Dtype(), pa.bool_(): pd.BooleanDtype(),
    }  # fmt: skip


def _arrow_pair(
    data: Any, text_columns: Collection[str] | None, copies: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """An Arrow table or record batch as :func:`_to_pandas`'s frame, and its columns
    ``copies`` (those it holds) as they are typed (None without ``copies``): an integer
    or boolean column as a nullable dtype (``to_pandas`` makes one with a null float64,
    every id above 2**53 rounded), a decimal one as ``decimal.Decimal`` values."""
    frame = _to_pandas(data, text_columns)
    if not copies:
        return frame, None
    import pyarrow as pa

    present = [name for name in copies if name in data.schema.names]
    if not present:
        return frame, frame[[]]
    # a table of its own (Table.to_pandas takes types_mapper in every pyarrow allowed)
    own = pa.Table.from_arrays([data.column(name) for name in present], names=present)
    copied = own.to_pandas(types_mapper=_nullable_types().get)
    copied.index = frame.index
    return frame, copied


#: Besides pyarrow's own errors, what reading a damaged Parquet or Arrow file raises: a
#: damaged file's pandas metadata (JSON in the schema) fails in to_pandas as JSON,
#: Unicode or dtype errors, and the file is as unreadable as a damaged page.
_ARROW_READ_ERRORS = (OSError, ValueError, TypeError, KeyError)


def _iter_parquet(
    target: Path,
    chunk_rows: int | None,
    columns: list[str] | None,
    text_columns: Collection[str] | None = None,
    copies: list[str] | None = None,
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame | None]]:
    """The rows of a Parquet file, or of a folder's Parquet files one after another
    (decimal columns as numbers, except ``text_columns``: see :func:`_to_pandas`), each
    chunk with its ``copies`` (see :func:`_arrow_pair`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    first_names: list[str] | None = None
    for part in _input_parts(target):
        try:
            handle = pq.ParquetFile(part)
            names = handle.schema_arrow.names
            wanted = columns
            if first_names is None:
                first_names = names
                if columns is not None:
                    _check_columns(target, names, columns)
            elif columns is None and sorted(names) == sorted(first_names):
                # Writers need not keep one column order across a folder's files: the
                # columns are matched by name, in the first file's order.
                wanted = first_names
            elif names != first_names and (columns is None or any(c not in names for c in columns)):
                raise DataFileError(
                    f"{part}: its columns {names} differ from those of the folder's first "
                    f"Parquet file {first_names}"
                )
            if chunk_rows is None:
                yield _arrow_pair(handle.read(columns=wanted), text_columns, copies or [])
                continue
            # One row group at a time: ParquetFile.iter_batches keeps what it read in
            # Arrow's memory pool, so its memory grows with the file (measured with
            # benchmarks/bench_outofcore.py); a row group's table is freed once consumed.
            for group in range(handle.num_row_groups):
                table = handle.read_row_group(group, columns=wanted)
                for batch in table.to_batches(max_chunksize=chunk_rows):
                    yield _arrow_pair(batch, text_columns, copies or [])
                del table
        except DataFileError:
            raise
        except (pa.ArrowException, *_ARROW_READ_ERRORS) as exc:
            raise DataFileError(f"{part}: cannot read as Parquet ({_first_line(exc)})") from exc


def _iter_arrow(
    target: Path,
    chunk_rows: int | None,
    columns: list[str] | None,
    text_columns: Collection[str] | None = None,
    copies: list[str] | None = None,
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame | None]]:
    """The rows of an Arrow IPC file (Feather v2) or stream, a record batch at a time from
    a memory map (Feather v1, an older layout, is read whole); decimal columns as numbers,
    except ``text_columns`` (see :func:`_to_pandas`); each chunk with its ``copies``
    (see :func:`_arrow_pair`).

    The map is closed when the rows are read or the reader is dropped; the frames
    already yielded keep their data (Arrow's buffers hold the mapped region).
    """
    import pyarrow as pa

    source = None
    try:
        source = pa.memory_map(str(target))
        try:
            reader: Any = pa.ipc.open_file(source)
            batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
            schema = reader.schema
        except pa.ArrowInvalid:
            try:
                source.seek(0)
                reader = pa.ipc.open_stream(source)
                batches, schema = iter(reader), reader.schema
            except pa.ArrowInvalid:
                import pyarrow.feather as feather

                table = feather.read_table(str(target))
                batches, schema = iter(table.to_batches()), table.schema
        if columns is not None:
            _check_columns(target, schema.names, columns)
        if chunk_rows is None:
            table = pa.Table.from_batches(list(batches), schema=schema)
            table = table if columns is None else table.select(columns)
            yield _arrow_pair(table, text_columns, copies or [])
            return
        for batch in batches:
            table = pa.Table.from_batches([batch], schema=schema)
            if columns is not None:
                table = table.select(columns)
            for piece in table.to_batches(max_chunksize=chunk_rows):
                yield _arrow_pair(piece, text_columns, copies or [])
    except DataFileError:
        raise
    except (pa.ArrowException, *_ARROW_READ_ERRORS) as exc:
        raise DataFileError(
            f"{target}: cannot read as Arrow IPC / Feather ({_first_line(exc)})"
        ) from exc
    finally:
        if source is not None:
            source.close()


def _json_records_frame(records: list[dict]) -> pd.DataFrame:
    """Records as a table: nested objects flattened into dotted column names
    (``{"src": {"port": 80}}`` -> ``src.port``), lists kept as their JSON text."""
    frame = pd.json_normalize(records, sep=".")
    for name in frame.columns:
        column = frame[name]
        if not pd.api.types.is_object_dtype(column):
            continue
        nested = column.map(lambda v: isinstance(v, (list, dict)))
        if nested.any():
            frame[name] = column.where(
                ~nested, column[nested].map(lambda v: json.dumps(v, sort_keys=True))
            )
    return frame


def _flat_record(record: dict, prefix: str = "", into: dict | None = None) -> dict:
    """``record`` with its nested objects flattened into dotted keys, as
    :func:`_json_records_frame` names its columns (an empty object gives no key)."""
    flat: dict = {} if into is None else into
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            _flat_record(value, f"{name}.", flat)
        else:
            flat[name] = value
    return flat


def _json_copy(values: list[Any]) -> Any:
    """One copied column of JSON Lines records (None: missing), as its values are: of
    integers, pandas' nullable ``Int64`` (a null made the numbers floats); of booleans,
    ``boolean``; else Python's values (lists and objects as their JSON text)."""
    held = [v for v in values if v is not None]
    if held and all(type(v) is int and -(2**63) <= v < 2**63 for v in held):
        return pd.array(values, dtype="Int64")
    if held and all(type(v) is bool for v in held):
        return pd.array(values, dtype="boolean")
    out = np.empty(len(values), dtype=object)
    out[:] = [json.dumps(v, sort_keys=True) if isinstance(v, (list, dict)) else v for v in values]
    return out


def _iter_json_lines(
    target: Path,
    chunk_rows: int | None,
    columns: list[str] | None,
    copies: list[str] | None = None,
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame | None]]:
    """The records of a JSON Lines file (one JSON object per line; empty lines skipped).

    A key absent from a record, or null, is missing. With ``columns``, the first chunk
    must hold each of them; a later chunk without one gets it as missing. Each chunk
    comes with its ``copies`` (those it holds) as the records hold them
    (:func:`_json_copy`), or None without ``copies``.
    """
    import gzip

    opener = gzip.open if target.name.lower().endswith(".gz") else open
    records: list[dict] = []
    first = True

    def chunk() -> tuple[pd.DataFrame, pd.DataFrame | None]:
        nonlocal first
        frame = _json_records_frame(records)
        if columns is not None:
            if first:
                _check_columns(target, [str(c) for c in frame.columns], columns)
            frame = frame.reindex(columns=columns)
        first = False
        copied = None
        if copies:
            flat = [_flat_record(record) for record in records]
            copied = pd.DataFrame(
                {
                    name: _json_copy([values.get(name) for values in flat])
                    for name in copies
                    if name in frame.columns
                },
                index=frame.index,
            )
        records.clear()
        return frame, copied

    try:
        # utf-8-sig: a byte-order mark before the first record (Windows PowerShell's
        # Out-File and Set-Content write one) is not part of the JSON
        with opener(target, "rt", encoding="utf-8-sig") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataFileError(
                        f"{target}: line {number} is not JSON ({exc.msg}, column {exc.colno})"
                    ) from exc
                except RecursionError as exc:
                    raise DataFileError(f"{target}: line {number} is nested too deeply") from exc
                if not isinstance(record, dict):
                    raise DataFileError(
                        f"{target}: line {number} is a JSON {type(record).__name__}, "
                        "expected an object ({...}) per line"
                    )
                records.append(record)
                if chunk_rows is not None and len(records) >= chunk_rows:
                    yield chunk()
    except (UnicodeDecodeError, OSError, EOFError) as exc:
        raise DataFileError(f"{target}: cannot read as JSON Lines ({_first_line(exc)})") from exc
    if records:
        yield chunk()


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _check_columns(path: Path, available: list[str], wanted: list[str]) -> None:
    missing = [c for c in wanted if c not in available]
    if missing:
        raise MissingColumnsError(path, missing, available)


def count_rows(path: str | os.PathLike[str]) -> int | None:
    """Number of data rows where cheap to know (Parquet metadata), else None."""
    target, kind = _check_readable(path)
    with contextlib.suppress(Exception):
        if kind == "parquet":
            import pyarrow.parquet as pq

            return sum(int(pq.ParquetFile(p).metadata.num_rows) for p in _input_parts(target))
        if kind == "arrow":
            import pyarrow as pa

            with pa.memory_map(str(target)) as source:
                reader = pa.ipc.open_file(source)
                return sum(reader.get_batch(i).num_rows for i in range(reader.num_record_batches))
    return None


class TableWriter:
    """Write DataFrames chunk by chunk to CSV, Parquet or JSON Lines; the file appears only
    when complete.

    Use as a context manager: on an exception the partial output is removed and
    any existing file at ``path`` is left as it was. ``path`` :data:`STDOUT` (``"-"``)
    writes CSV to standard output instead, each chunk as it comes (no temporary file:
    on an exception what was written stays written).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.to_stdout = str(path) == STDOUT
        self.path = Path(path)
        self.kind = output_format(self.path)
        self._open_text = _text_opener(self.path)
        self._context = atomic_path(self.path)
        self._tmp: Path | None = None
        self._writer: Any = None
        self._handle: Any = None
        self._first = True
        self.rows = 0

    def __enter__(self) -> TableWriter:
        if self.to_stdout:
            self._tmp = self.path
            sys.stdout.flush()  # anything printed before comes first
            return self
        self._tmp = self._context.__enter__()
        return self

    def write(self, frame: pd.DataFrame) -> None:
        """Append ``frame`` (same columns every call)."""
        assert self._tmp is not None, "use TableWriter as a context manager"
        if self.to_stdout:
            _write_stdout(frame.to_csv(header=self._first, index=False))
        elif self.kind == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self._writer is None:
                self._writer = pq.ParquetWriter(self._tmp, _file_schema(table.schema))
            if not table.schema.equals(self._writer.schema, check_metadata=False):
                # the file's schema is the first chunk's: a later chunk's column must fit it
                table = _cast_chunk(table, self._writer.schema, self.path)
            self._writer.write_table(table)
        else:
            if self._handle is None:
                # one text stream for the whole file, compressed as its name says
                self._handle = self._open_text(self._tmp)
            if self.kind == "csv":
                options = _csv_options(self.path)
                frame.to_csv(self._handle, header=self._first, index=False, **options)
            else:
                self._handle.write(json_lines(frame))
        self._first = False
        self.rows += len(frame)

    def __exit__(self, exc_type, exc, tb) -> bool:
        if self.to_stdout:
            return False  # each chunk was flushed as written
        try:
            if self._writer is not None:
                self._writer.close()
            elif self._handle is not None:
                self._handle.close()
            elif self._first and exc_type is None and self._tmp is not None:
                self._open_text(self._tmp).close()  # no rows: an empty (compressed) file
        except BaseException:
            self._context.__exit__(*sys.exc_info())
            raise
        return bool(self._context.__exit__(exc_type, exc, tb))


def _write_stdout(text: str) -> None:
    """Write ``text`` to standard output as UTF-8 bytes, as a CSV file holds it, and
    flush it: a reader down the pipe gets each chunk as it is scored."""
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:  # a text-only stream (a test's capture)
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    buffer.write(text.encode("utf-8"))
    buffer.flush()


def _file_schema(schema: Any) -> Any:
    """The schema of a Parquet file written chunk by chunk, from its first chunk's.

    A column missing in every row of the first chunk (an id column, text copied
    with --keep) has Arrow's null type, which no later chunk's values would fit:
    it is written as text, the only type such a column is read as.
    """
    import pyarrow as pa

    fields = [
        field.with_type(pa.large_string()) if pa.types.is_null(field.type) else field
        for field in schema
    ]
    return pa.schema(fields, metadata=schema.metadata)


def _cast_chunk(table: Any, schema: Any, path: Path) -> Any:
    """``table`` cast to the Parquet file's ``schema`` (a later chunk's column all
    missing, or ints where the first chunk had floats), or a DataFileError naming the
    columns whose values do not fit."""
    import pyarrow as pa

    try:
        return table.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        changed = [
            f"{field.name!r} ({field.type}, was {schema.field(field.name).type})"
            for field in table.schema
            if field.type != schema.field(field.name).type
        ]
        raise DataFileError(
            f"{path}: a later chunk's column(s) {', '.join(changed)} do not fit the types "
            "the file was started with"
        ) from None


def json_lines(frame: pd.DataFrame) -> str:
    """The rows of ``frame`` as JSON Lines: one object per row, each line ending in ``\\n``.

    Floats are written in their shortest form that reads back as the same number
    (as CSV does; pandas' own JSON writer rounds to at most 15 decimals or prints
    binary artefacts such as ``190.800000000000011``); NaN, infinities and missing
    values as ``null``; times as ISO 8601 strings.

    Parameters
    ----------
    frame : DataFrame
        Column names become the keys (as strings), in order.

    Returns
    -------
    str
        Empty for a frame without rows.
    """
    if len(frame) == 0:
        return ""
    fields = []
    for name, column in frame.items():
        # pandas' own dtypes (nullable ints, strings, categories) go value by value
        plain = isinstance(column.dtype, np.dtype)
        values = column.to_numpy() if plain else column.astype(object).to_numpy()
        kind = values.dtype.kind
        if kind == "f":
            text = values.astype(str).astype(object)
            text[~np.isfinite(values)] = "null"
        elif kind in "iu":
            text = values.astype(str).astype(object)
        elif kind == "b":
            text = np.where(values, "true", "false").astype(object)
        else:
            # a time column as pandas' Timestamps (NaT included), not numpy's datetime64
            items = column.astype(object) if kind in "Mm" else values
            text = np.fromiter((_json_value(v) for v in items), dtype=object, count=len(items))
        fields.append(json.dumps(str(name)) + ":" + text)
    return "".join("{" + ",".join(row) + "}\n" for row in zip(*fields, strict=True))


def _json_value(value: Any) -> str:
    """One JSON value; numpy scalars as their Python values, times as ISO 8601."""
    if isinstance(value, str):
        return json.dumps(value)
    if pd.api.types.is_scalar(value) and pd.isna(value):  # None, NaN, NaT, pd.NA
        return "null"
    if hasattr(value, "isoformat"):
        return json.dumps(value.isoformat())
    if hasattr(value, "item"):  # a numpy scalar
        value = value.item()
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else "null"
    if isinstance(value, (bool, int)):
        return json.dumps(value)
    return json.dumps(str(value))


class _ClosingText(io.TextIOWrapper):
    """A text stream over a compressor that also closes the file beneath it."""

    def __init__(self, stream: Any, raw: Any) -> None:
        super().__init__(stream, encoding="utf-8", newline="")
        self._raw = raw

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._raw.close()


def _gzip_text(target: Path, inner_name: str) -> Any:
    """gzip text output whose header names the final file, not the temporary one, and
    holds no time stamp (the same rows give the same bytes)."""
    import gzip

    raw = open(target, "wb")  # closed by the returned stream
    return _ClosingText(gzip.GzipFile(inner_name, "wb", fileobj=raw, mtime=0), raw)


def _text_opener(path: Path) -> Any:
    """A function opening a file for writing text, compressed as ``path``'s name says."""
    name = path.name.lower()
    if name.endswith(".gz"):
        return lambda target: _gzip_text(target, path.name[: -len(".gz")])
    if name.endswith(".bz2"):
        import bz2

        return lambda target: bz2.open(target, "wt", encoding="utf-8", newline="")
    if name.endswith(".xz"):
        import lzma

        return lambda target: lzma.open(target, "wt", encoding="utf-8", newline="")
    if name.endswith(".zst"):
        try:
            import zstandard
        except ImportError as exc:
            raise DataFileError(
                f"{path}: writing .zst needs the zstandard package (pip install zstandard)"
            ) from exc
        return lambda target: zstandard.open(target, "wt", encoding="utf-8", newline="")
    return lambda target: open(target, "w", encoding="utf-8", newline="")
