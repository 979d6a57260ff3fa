"""Reading and writing CSV and Parquet tables, in bounded memory, with clear errors."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from ._atomic import atomic_path
from .exceptions import DAGMMError

__all__ = [
    "DataFileError",
    "TableWriter",
    "count_rows",
    "iter_table",
    "read_table",
    "table_format",
]

_CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zst", ".tsv", ".txt")
_PARQUET_SUFFIXES = (".parquet", ".pq")


class DataFileError(DAGMMError, ValueError):
    """A data file is missing, of an unsupported type, or cannot be parsed."""


def table_format(path: str | os.PathLike) -> str:
    """``"csv"`` or ``"parquet"`` from the file name."""
    name = Path(path).name.lower()
    if name.endswith(_PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(_CSV_SUFFIXES):
        return "csv"
    raise DataFileError(
        f"{path}: unsupported file type; expected one of "
        f"{', '.join(_CSV_SUFFIXES + _PARQUET_SUFFIXES)}"
    )


def _check_readable(path: str | os.PathLike) -> Path:
    target = Path(path)
    if target.is_dir():
        raise DataFileError(f"{target}: is a directory, expected a data file")
    if not target.exists():
        raise DataFileError(f"{target}: file not found")
    table_format(target)
    return target


def _csv_options(path: Path) -> dict[str, Any]:
    return {"sep": "\t" if path.name.lower().endswith(".tsv") else ","}


def read_table(path: str | os.PathLike, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a whole CSV or Parquet file into a DataFrame."""
    chunks = list(iter_table(path, chunk_rows=None, columns=columns))
    if not chunks:
        raise DataFileError(f"{path}: no rows")
    return pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]


def iter_table(
    path: str | os.PathLike, chunk_rows: int | None = 65536, columns: list[str] | None = None
) -> Iterator[pd.DataFrame]:
    """Yield the file's rows in DataFrames of at most ``chunk_rows`` rows (None: all at once).

    Raises
    ------
    DataFileError
        Missing file, directory, unsupported type, malformed CSV, unreadable Parquet.
    """
    target = _check_readable(path)
    kind = table_format(target)
    if kind == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            handle = pq.ParquetFile(target)
            if columns is not None:
                _check_columns(target, handle.schema_arrow.names, columns)
            if chunk_rows is None:
                yield handle.read(columns=columns).to_pandas()
                return
            # One row group at a time: iter_batches over the whole file buffers the
            # file's row groups ahead (peak RSS grew with the file, 7.8 GB for 10M rows).
            for group in range(handle.num_row_groups):
                for batch in handle.iter_batches(
                    batch_size=chunk_rows, columns=columns, row_groups=[group]
                ):
                    yield batch.to_pandas()
        except (pa.ArrowException, OSError) as exc:
            raise DataFileError(f"{target}: cannot read as Parquet ({exc})") from exc
        return
    try:
        reader = pd.read_csv(target, chunksize=chunk_rows, usecols=columns, **_csv_options(target))
        if chunk_rows is None:
            yield reader
            return
        with reader:
            yield from reader
    except (
        pd.errors.ParserError,
        pd.errors.EmptyDataError,
        UnicodeDecodeError,
        OSError,
        EOFError,
    ) as exc:
        raise DataFileError(f"{target}: cannot parse as CSV ({_first_line(exc)})") from exc
    except ValueError as exc:
        if columns is not None and "Usecols" in str(exc):
            header = pd.read_csv(target, nrows=0, **_csv_options(target)).columns
            _check_columns(target, [str(c) for c in header], columns)
        raise DataFileError(f"{target}: cannot parse as CSV ({_first_line(exc)})") from exc


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _check_columns(path: Path, available: list[str], wanted: list[str]) -> None:
    missing = [c for c in wanted if c not in available]
    if missing:
        raise DataFileError(f"{path}: missing column(s) {missing}; the file has {available}")


def count_rows(path: str | os.PathLike) -> int | None:
    """Number of data rows where cheap to know (Parquet metadata), else None."""
    target = _check_readable(path)
    if table_format(target) == "parquet":
        import pyarrow.parquet as pq

        with contextlib.suppress(Exception):
            return int(pq.ParquetFile(target).metadata.num_rows)
    return None


class TableWriter:
    """Write DataFrames chunk by chunk to CSV or Parquet; the file appears only when complete.

    Use as a context manager: on an exception the partial output is removed and
    any existing file at ``path`` is left as it was.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.kind = table_format(self.path)
        self._context = atomic_path(self.path)
        self._tmp: Path | None = None
        self._writer: Any = None
        self._first = True
        self.rows = 0

    def __enter__(self) -> TableWriter:
        self._tmp = self._context.__enter__()
        return self

    def write(self, frame: pd.DataFrame) -> None:
        """Append ``frame`` (same columns every call)."""
        assert self._tmp is not None, "use TableWriter as a context manager"
        if self.kind == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self._writer is None:
                self._writer = pq.ParquetWriter(self._tmp, table.schema)
            self._writer.write_table(table)
        else:
            compression = "gzip" if self.path.name.lower().endswith(".gz") else None
            if compression and not self._first:
                raise DataFileError("gzip CSV output must be written in one chunk")
            frame.to_csv(
                self._tmp,
                mode="w" if self._first else "a",
                header=self._first,
                index=False,
                compression=compression,
                **_csv_options(self.path),
            )
        self._first = False
        self.rows += len(frame)

    def __exit__(self, exc_type, exc, tb) -> bool:
        if self._writer is not None:
            self._writer.close()
        elif self._first and exc_type is None and self._tmp is not None:
            self._tmp.write_bytes(b"")
        return bool(self._context.__exit__(exc_type, exc, tb))
