"""DATA from standard input (``-``) or a pipe, for every command that reads DATA.

The readers of :mod:`dagmm.tableio` open a data file more than once (a CSV file's
header, then its rows; ``fit --sample-rows`` the whole file twice), which a pipe
cannot give. So the command line copies a pipe, once and in fixed-size pieces, into
a private temporary file, named with the suffix its first bytes call for, and runs
the command on that file. The copy takes as much disk as the input (in the system's
temporary folder, ``TMPDIR``); it is removed when the command ends, on an error,
Ctrl-C or SIGTERM too.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import sys
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import click

#: DATA (or MODEL) naming standard input.
STDIN = "-"
#: Other names of standard input: the same stream, read once.
_STDIN_ALIASES = ("/dev/stdin", "/dev/fd/0", "/proc/self/fd/0")
#: Bytes copied at once: the memory the copy takes, whatever the input's size.
COPY_CHUNK_BYTES = 1 << 20
#: Free room the copy leaves in its folder: it stops with an error below this much
#: (or below 5 % of the file system), rather than fill the disk other programs share.
#: ``DAGMM_SPOOL_RESERVE_BYTES`` sets another (0: none).
SPOOL_RESERVE_BYTES = 1 << 30
#: Bytes read before the copy to tell the format (``read`` of a pipe returns them all
#: unless the input is shorter).
HEAD_BYTES = 1 << 16

#: ``--input-format`` values and the suffix each gives the copy (compression apart).
INPUT_FORMATS = {
    "csv": ".csv",
    "tsv": ".tsv",
    "parquet": ".parquet",
    "arrow": ".arrow",
    "feather": ".feather",
    "jsonl": ".jsonl",
}
#: The first bytes of an Arrow IPC stream (its continuation marker), which the Arrow
#: reader takes as well as the file format.
_ARROW_STREAM = b"\xff\xff\xff\xff"
#: Compressed inputs the readers take (tableio's CSV and JSON Lines suffixes).
_COMPRESSED_FORMATS = {".csv", ".tsv", ".jsonl"}

#: Temporary copy -> the name the user gave, for the messages (see :func:`shown`).
_SHOWN: dict[str, str] = {}


def shown(text: str) -> str:
    """``text`` with each temporary copy's path replaced by the DATA the user gave
    (``stdin``, or the pipe's path): the readers' messages name the file they read.

    Advice to rename the copy (``--input-format csv`` on Parquet bytes: "name it
    dagmm-stdin-x1y2.parquet" until 2026-12-07) becomes advice on the option that
    named it so.
    """
    for path, name in _SHOWN.items():
        copy = os.path.basename(path)
        if copy.startswith("dagmm-stdin-"):
            text = re.sub(
                rf"name it {re.escape(copy.split('.', 1)[0])}\S*",
                "drop --input-format (the format is found from its bytes), or give the "
                "format it is",
                text,
            )
        text = text.replace(path, name)
    return text


def is_stdin(name: str | None) -> bool:
    """Whether ``name`` (DATA, MODEL) means standard input."""
    return name is not None and (name == STDIN or name in _STDIN_ALIASES)


def is_pipe(name: str) -> bool:
    """Whether DATA ``name`` is read as a stream: ``-`` or a named pipe (``<(...)``,
    ``mkfifo``, ``/dev/stdin`` given a pipe)."""
    if is_stdin(name):
        return True
    try:
        return stat.S_ISFIFO(os.stat(name).st_mode)
    except OSError:  # missing: the reader says so
        return False


def sniffed_suffix(head: bytes, input_format: str | None = None) -> str:
    """The file suffix that makes :mod:`dagmm.tableio` read data starting with ``head``.

    Compression (gzip, bzip2, xz, zstd) is told by its magic bytes; the format by
    ``input_format`` when given, else by the (decompressed, for gzip) first bytes:
    Parquet (``PAR1``), Arrow IPC file (``ARROW1``) or stream (its continuation
    marker), JSON Lines (first non-blank byte ``{``), else CSV, whose separator the
    reader finds from the header.

    Parameters
    ----------
    head : bytes
        The input's first bytes.
    input_format : str, optional
        A key of :data:`INPUT_FORMATS`, overriding the content's.

    Returns
    -------
    str
        Such as ``".csv"``, ``".csv.gz"``, ``".parquet"``.

    Raises
    ------
    DataFileError
        A compressed format the readers do not take (a gzipped Parquet file).
    """
    from ..tableio import COMPRESSION_SUFFIXES, DataFileError, signature_suffix

    found = signature_suffix(head)
    compression = found if found in COMPRESSION_SUFFIXES else ""
    inner = head
    if compression == ".gz":
        with contextlib.suppress(zlib.error):
            # the start of the text: enough for its first non-blank byte
            inner = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 4096)
    elif compression:
        inner = b""  # bzip2, xz and zstd are read as CSV (JSON Lines: plain or gzip)
    typed = signature_suffix(inner)  # Parquet, an Arrow IPC file (compressions: not inside)
    if input_format is not None:
        suffix = INPUT_FORMATS[input_format]
    elif typed in (".parquet", ".arrow"):
        suffix = typed
    elif inner.startswith(_ARROW_STREAM):
        suffix = ".arrow"
    elif inner.lstrip()[:1] == b"{":
        suffix = ".jsonl"
    else:
        suffix = ".csv"
    if compression and suffix not in _COMPRESSED_FORMATS:
        raise DataFileError(
            f"stdin: {suffix[1:]} data compressed as {compression[1:]} is not read; "
            "decompress it before the pipe"
        )
    if compression and suffix == ".jsonl" and compression != ".gz":
        raise DataFileError(
            f"stdin: JSON Lines compressed as {compression[1:]} is not read (gzip is); "
            "decompress it before the pipe"
        )
    return suffix + compression


@contextlib.contextmanager
def spooled_data(
    data: str,
    input_format: str | None = None,
    refusal: str | None = None,
) -> Iterator[str]:
    """DATA as a file the readers can open more than once: ``data`` itself, or a
    temporary copy of ``-`` or a pipe, removed on leaving (an error and Ctrl-C too).

    Parameters
    ----------
    data : str
        DATA as given on the command line.
    input_format : str, optional
        ``--input-format``: the copy's format instead of the one its bytes show.
    refusal : str, optional
        Why this command cannot read a pipe (``--distributed``), or None.

    Yields
    ------
    str
        The path to read.

    Raises
    ------
    click.UsageError
        ``--input-format`` for a file, or ``refusal``.
    DataFileError
        The copy failed (no room in the temporary folder).
    """
    if not is_pipe(data):
        if input_format is None:
            yield data
            return
        named = _named_format(data)
        if named is not None:
            raise click.UsageError(
                f"--input-format is for DATA read from stdin ('-'), a pipe or a file whose "
                f"name does not tell its format; {data}'s name says {named}: rename it, or "
                "drop --input-format"
            )
        with _named_as(data, input_format) as path:
            yield path
        return
    if refusal:
        raise click.UsageError(f"{refusal}: give DATA as a file, not stdin or a pipe")
    name = "stdin" if is_stdin(data) else data
    if data == STDIN and sys.stdin.isatty():
        click.echo("dagmm: reading DATA from the terminal; end it with Ctrl-D", err=True)
    with _source(data) as source:
        head = source.read(HEAD_BYTES)
        suffix = sniffed_suffix(head, input_format)
        reserve = _reserve_bytes(tempfile.gettempdir())
        # mkstemp: mode 0600, in TMPDIR (else the system's temporary folder)
        handle, path = tempfile.mkstemp(prefix="dagmm-stdin-", suffix=suffix)
        _SHOWN[path] = name
        try:
            try:
                with os.fdopen(handle, "wb") as copy:
                    copy.write(head)
                    while chunk := source.read(COPY_CHUNK_BYTES):
                        if reserve and shutil.disk_usage(path).free - len(chunk) < reserve:
                            _refuse_full(name, path, copy.tell(), reserve)
                        copy.write(chunk)
            except OSError as exc:
                from ..tableio import DataFileError

                raise DataFileError(
                    f"{name}: copying the input to {path} failed ({exc.strerror or exc}); "
                    "the copy takes as much room as the input: point TMPDIR at a folder "
                    "with room for it"
                ) from None
            yield path
        finally:
            # the name stays in _SHOWN: the error that ends the command is printed
            # after this, by the command group
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


def _named_format(data: str) -> str | None:
    """What ``data``'s name says it is (``"csv"``, a folder ``"parquet"``), or None: a
    name without a suffix the readers know (a log file ``flows``), or no such file."""
    from ..tableio import DataFileError, table_format

    path = Path(data)
    if path.is_dir():
        return "parquet"  # a folder is a Parquet dataset
    if not path.is_file():
        return None  # the reader says it does not exist
    try:
        return table_format(path)
    except DataFileError:
        return None


@contextlib.contextmanager
def _named_as(data: str, input_format: str) -> Iterator[str]:
    """The file ``data``, whose name tells no format, under a name that says
    ``input_format`` (and its compression, found from its bytes): a link to it in a
    temporary folder (a copy where links cannot be made), removed on leaving.

    Until 2026-12-07 such a file could only be read as stdin (``dagmm score m - <
    flows``): --input-format was refused for a file.
    """
    path = Path(data)
    if not path.is_file():
        yield data  # missing: the reader's message names it
        return
    with open(path, "rb") as stream:
        suffix = sniffed_suffix(stream.read(HEAD_BYTES), input_format)
    folder = tempfile.mkdtemp(prefix="dagmm-input-")
    named = os.path.join(folder, path.name + suffix)
    _SHOWN[named] = data
    try:
        try:
            os.symlink(path.resolve(), named)
        except OSError:  # no links here (Windows without the privilege): a copy
            shutil.copyfile(path, named)
        yield named
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(named)
        with contextlib.suppress(OSError):
            os.rmdir(folder)


def _reserve_bytes(folder: str) -> int:
    """The free room the copy in ``folder`` must leave: :data:`SPOOL_RESERVE_BYTES` (or
    ``DAGMM_SPOOL_RESERVE_BYTES``), at most 5 % of its file system (a small disk)."""
    from ..tableio import DataFileError

    setting = os.environ.get("DAGMM_SPOOL_RESERVE_BYTES", "").strip()
    try:
        reserve = int(setting) if setting else SPOOL_RESERVE_BYTES
    except ValueError:
        raise DataFileError(
            f"DAGMM_SPOOL_RESERVE_BYTES must be a whole number of bytes, got {setting!r}"
        ) from None
    if reserve <= 0:
        return 0
    return min(reserve, shutil.disk_usage(folder).total // 20) if not setting else reserve


def _refuse_full(name: str, path: str, copied: int, reserve: int) -> None:
    from ..tableio import DataFileError

    raise DataFileError(
        f"{name}: stopped copying the input after {copied:,} bytes, which left less than "
        f"{reserve:,} bytes free in {os.path.dirname(path)}: dagmm reads DATA more than once, "
        "so it copies a pipe to a temporary file first, and a stream without end (tail -f) "
        "never ends that copy; give it in files, or point TMPDIR at a folder with room "
        "(DAGMM_SPOOL_RESERVE_BYTES sets the room kept free)"
    )


@contextlib.contextmanager
def _source(data: str) -> Iterator[BinaryIO]:
    """The bytes of ``-`` (standard input, left open) or of a pipe's path."""
    if data == STDIN:
        yield sys.stdin.buffer
        return
    with open(Path(data), "rb") as stream:
        yield stream
