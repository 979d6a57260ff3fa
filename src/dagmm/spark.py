"""Scoring Spark DataFrames with a saved model (``pip install dagmm[spark]``).

The model travels to the executors once, as the bytes of its safetensors file
in a Spark broadcast variable (no pickled torch objects); each Python worker
rebuilds it once with :func:`dagmm.persistence.load_bytes` and caches it.
Partitions are scored with ``mapInPandas`` in vectorised batches of Arrow
record batches, so the energies are the same numbers local scoring gives.

Example::

    from pyspark.sql import SparkSession
    from dagmm.spark import score_spark

    spark = SparkSession.builder.getOrCreate()
    flows = spark.read.parquet("s3://bucket/flows/")
    scored = score_spark(flows, "flows.dagmm")     # + energy, is_anomaly
    scored.filter("is_anomaly = 1").write.parquet("s3://bucket/alerts/")
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import uuid
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import numpy as np
import pandas as pd

from ._atomic import check_not_an_input
from .batch import SCORE_COLUMNS, ScoredRows, columns_wanted_by_whom, copied_columns
from .exceptions import DAGMMError, InvalidInputError, ModelFileError
from .persistence import load_bytes, model_bytes
from .tableio import DataFileError
from .tabular import (
    UnseenCounts,
    close_names,
    held_unseen_categories,
    merge_unseen_examples,
    missing_columns_message,
    warn_unseen_categories,
)

__all__ = ["SparkScoringError", "score_parquet_spark", "score_spark", "spark_session"]

#: Rows handed to the network at once inside a partition (Arrow batches are merged up to it).
DEFAULT_BATCH_ROWS = 65536

# One model per Python worker process and model content (Spark reuses workers).
_MODELS: dict[str, Any] = {}


class SparkScoringError(DAGMMError, RuntimeError):
    """A Spark job scoring with a dagmm model failed (the message says why and names the row)."""


class _CountsParam:
    """Spark accumulator of per-column counts of unseen categories (``{column: n}``),
    summed over the tasks, with a few of the values (``examples``, as
    :func:`~dagmm.tabular.held_unseen_categories` collects them: the first to reach the
    driver, at most :data:`~dagmm.tabular.UNSEEN_EXAMPLES` a column)."""

    def zero(self, value: dict[str, int]) -> UnseenCounts:
        return UnseenCounts()

    def addInPlace(self, total: dict[str, int], more: dict[str, int]) -> UnseenCounts:
        if not isinstance(total, UnseenCounts):  # the value the accumulator was made with
            total = UnseenCounts.of(total)
        for name, count in more.items():
            total[name] = total.get(name, 0) + count
        merge_unseen_examples(total.examples, getattr(more, "examples", {}))
        return total


def _scored_counting_unseen(model: Any, frame: pd.DataFrame, unseen: Any) -> np.ndarray:
    """``model.decision_function(frame)``; with an accumulator ``unseen``, the unseen
    categories' counts go to it instead of a warning on the worker's stderr, for the
    driver to warn once with the counts of the whole job."""
    if unseen is None:
        return model.decision_function(frame)
    with held_unseen_categories() as counts:
        energy = model.decision_function(frame)
    if counts:
        unseen.add(counts)
    return energy


def _model_blob(model: Any) -> bytes:
    if isinstance(model, (bytes, bytearray, memoryview)):
        return bytes(model)
    if isinstance(model, (str, os.PathLike)):
        path = Path(model)
        if not path.is_file():
            raise ModelFileError(f"{path}: model file not found")
        return path.read_bytes()
    # A fitted estimator: ship its file content, without the training scores it does not need.
    return model_bytes(model, include_training_scores=False)


def _shipped_model(model: Any) -> tuple[bytes, Any]:
    """The model file's bytes the executors get, and the model they rebuild, checked here."""
    blob = _model_blob(model)
    source = str(model) if isinstance(model, (str, os.PathLike)) else "<model>"
    return blob, load_bytes(blob, source, "cpu")


@dataclass(frozen=True)
class _RowNames:
    """How the rows of a batch that fails are named in the error message.

    Worked out only once a batch has failed (:func:`_located_failure`), so the
    success path pays nothing for it. With ``id_column`` a row is named by its id
    (``flow_id=10205``); with ``file_column`` and ``row_column`` (Spark's
    ``_metadata.file_path`` and ``_metadata.row_index``) by its Parquet file and
    row within it (``5 of part-1.parquet``, or ``5`` when the input is that file);
    otherwise by its Spark partition and row within that partition
    (``205 of partition 1``), as nothing else locates it.
    """

    id_column: str | None = None
    file_column: str | None = None
    row_column: str | None = None
    #: The input folder, whose files are named relative to it (None: the input is one file).
    folder: str | None = None

    def labels(self, frame: pd.DataFrame, partition: int, start: int) -> pd.Index:
        """One label per row of ``frame``, the batch of ``partition`` starting at row ``start``."""
        in_partition = [f"{start + i} of partition {partition}" for i in range(len(frame))]
        if self.id_column is not None:
            ids = frame[self.id_column].tolist()  # Python scalars: 5, not np.int64(5)
            named = [
                f"{self.id_column}={v!r}" if isinstance(v, str) else f"{self.id_column}={v}"
                for v in ids
            ]
            if len(set(ids)) < len(ids):
                # a repeated id alone does not find its row
                named = [f"{n} ({p})" for n, p in zip(named, in_partition, strict=True)]
            return pd.Index(named, dtype=object)
        if self.file_column is not None and self.row_column is not None:
            rows = frame[self.row_column].tolist()
            if self.folder is None:
                return pd.Index(rows)
            files = [self._shown(uri) for uri in frame[self.file_column].tolist()]
            return pd.Index([f"{r} of {f}" for r, f in zip(rows, files, strict=True)], dtype=object)
        return pd.Index(in_partition, dtype=object)

    def _shown(self, uri: str) -> str:
        """A file of the input folder, named relative to it (as the user lists the folder)."""
        path = _file_path(uri)
        assert self.folder is not None
        relative = os.path.relpath(path, self.folder)
        return path if relative.startswith("..") else relative


def _located_failure(
    model: Any, features: pd.DataFrame, labels: pd.Index, exc: BaseException
) -> str:
    """The message of ``exc`` (raised scoring ``features``) with the rows named by ``labels``.

    The batch is scored again with ``labels`` as its index, so that the error names its
    rows by them: the messages of :mod:`dagmm.tabular` name rows by index label. Done
    only on failure, on one batch; should the second try not fail (it repeats the same
    computation), the first message stands.
    """
    try:
        with warnings.catch_warnings(), held_unseen_categories():
            warnings.simplefilter("ignore")  # already-seen trouble, said by the first try
            model.decision_function(features.set_axis(labels, axis=0))
    except (DAGMMError, FloatingPointError) as again:
        return str(again)
    return str(exc)


def _feature_columns(model: Any) -> list[str]:
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        raise InvalidInputError(
            "the model was fitted on an unnamed array; Spark scoring needs a model fitted on "
            "a DataFrame so that columns can be matched by name"
        )
    return [str(c) for c in names]


def _check_numeric_types(df: Any, numeric: Sequence[str]) -> None:
    """Refuse, on the driver before any job runs, a column the model reads as numbers
    whose Spark type holds none: an array, map, struct, binary or variant value (which failed
    each batch as "text such as array([...])"), or a time (which pandas would read as
    its nanoseconds; the executors refuse it too, batch by batch). Numbers, booleans
    (0/1) and strings (parsed as numbers, as in a CSV file) pass."""
    from pyspark.sql import types as T

    times = (
        T.TimestampType, T.TimestampNTZType, T.DateType, T.DayTimeIntervalType,
        T.YearMonthIntervalType, T.CalendarIntervalType,
    )  # fmt: skip
    # VARIANT (semi-structured JSON, Spark 4.0 on) holds whatever a row's JSON held
    variant = getattr(T, "VariantType", None)
    nested = (T.ArrayType, T.MapType, T.StructType, T.BinaryType, *([variant] if variant else []))
    fields = {field.name: field.dataType for field in df.schema.fields}
    for name in numeric:
        kind = fields[name]
        if isinstance(kind, times):
            way = "convert it to numbers (seconds since the epoch, say: unix_timestamp)"
        elif isinstance(kind, nested):
            way = "select or compute one number per row from it"
        else:
            continue
        raise InvalidInputError(
            f"column {name!r} is {kind.simpleString()} in the DataFrame where the model "
            f"expects numbers, as in its training data: {way}, as the training data held it"
        )


def _quoted(name: str) -> str:
    """``name`` as a Spark column reference that is read literally (``a.b`` is no field b of a)."""
    return "`" + name.replace("`", "``") + "`"


def _scorer(
    blob_broadcast: Any,
    key: str,
    columns: list[str],
    batch_rows: int,
    threads: int,
    names: list[str],
    unseen: Any = None,
    row_names: _RowNames = _RowNames(),
    hidden: Sequence[str] = (),
):
    """The ``mapInPandas`` function scoring a partition; the columns named in ``hidden``
    (those that name rows, carried only on the failure path) are left out of its output."""

    def score_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import torch
        from pyspark import TaskContext

        if threads:
            torch.set_num_threads(threads)
        model = _MODELS.get(key)
        if model is None:
            model = _MODELS[key] = load_bytes(blob_broadcast.value, "<broadcast model>", "cpu")
        context = TaskContext.get()
        partition = context.partitionId() if context is not None else 0
        start = 0
        pending: list[pd.DataFrame] = []
        pending_rows = 0

        def flush() -> pd.DataFrame:
            nonlocal start
            frame = pending[0] if len(pending) == 1 else pd.concat(pending, ignore_index=True)
            pending.clear()
            # the columns arrive under the placeholder names score_spark gave them
            placeholders = list(frame.columns)
            frame.columns = names
            try:
                energy = _scored_counting_unseen(model, frame[columns], unseen)
            except (DAGMMError, FloatingPointError) as exc:
                labels = row_names.labels(frame, partition, start)
                message = _located_failure(model, frame[columns], labels, exc)
                if "row(s) " not in message:
                    # a failure of the batch as a whole: say which batch
                    message = (
                        f"a batch of partition {partition} (its rows {start}-"
                        f"{start + len(frame) - 1} of that partition): {message}"
                    )
                raise SparkScoringError(message) from None
            start += len(frame)
            out = frame.drop(columns=list(hidden)) if hidden else frame
            for name, dtype in out.dtypes.items():
                # pandas >= 3 reads strings as Arrow-backed columns, which PySpark's
                # pandas -> Arrow conversion rejects; plain objects convert everywhere.
                if isinstance(dtype, (pd.StringDtype, pd.ArrowDtype)):
                    out[name] = out[name].astype(object)
            out.columns = placeholders[: len(out.columns)]
            out["energy"] = energy
            out["is_anomaly"] = (energy > model.threshold_).astype(np.int8)
            return out

        for batch in batches:
            pending.append(batch)
            pending_rows += len(batch)
            if pending_rows >= batch_rows:
                pending_rows = 0
                yield flush()
        if pending:
            yield flush()

    return score_partition


def score_spark(
    df: Any,
    model: Any,
    *,
    id_column: str | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    torch_threads: int = 1,
) -> Any:
    """Add ``energy`` (float64) and ``is_anomaly`` (int8, 0/1) columns to a Spark DataFrame.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        Must hold the model's columns (by name); other columns are passed through.
    model : path, bytes or fitted DAGMM
        A model file, its bytes, or a fitted estimator (fitted on a DataFrame).
    id_column : str, optional
        A column of ``df`` naming its rows: an error names a bad row by its value
        there (``row(s) flow_id=10205``). Without it a row is named by its Spark
        partition and row within that partition (``row(s) 205 of partition 1``),
        which only locates it in this DataFrame's partitioning.
    batch_rows : int
        Rows scored at once within a partition.
    torch_threads : int
        Threads each Python worker gives torch (0: torch's default). One per
        worker avoids oversubscribing the cores Spark already runs tasks on.

    Returns
    -------
    pyspark.sql.DataFrame
        Lazy: nothing is scored until an action runs. A row the model cannot
        score fails the job with a :class:`SparkScoringError` message naming the
        column, the problem and the row (see ``id_column``); the action raises
        PySpark's exception holding that message (:func:`explain_failure`
        extracts it).

    Raises
    ------
    InvalidInputError
        ``df`` lacks a model column or ``id_column``, or already has ``energy`` /
        ``is_anomaly``; ``batch_rows`` is below 1.
    """
    if id_column is not None and id_column not in df.columns:
        raise InvalidInputError(
            f"id_column {id_column!r} is not a column of the DataFrame; it has {df.columns}"
        )
    return _with_scores(df, model, batch_rows, torch_threads, row_names=_RowNames(id_column))


def _with_scores(
    df: Any,
    model: Any,
    batch_rows: int,
    torch_threads: int,
    unseen: Any = None,
    row_names: _RowNames = _RowNames(),
) -> Any:
    """:func:`score_spark`, the unseen categories counted in the accumulator ``unseen``
    (None: each worker warns of its batches' own, on its stderr), rows named in errors
    by ``row_names``; its ``file_column`` / ``row_column``, when set, must be the last
    columns of ``df`` and are left out of the result."""
    from pyspark.sql.types import ByteType, DoubleType, StructField, StructType

    if batch_rows < 1:
        raise InvalidInputError(f"batch_rows must be >= 1, got {batch_rows}")
    blob, checked = _shipped_model(model)
    columns = _feature_columns(checked)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InvalidInputError(
            f"DataFrame lacks the model's column(s) {missing}{close_names(missing, df.columns)}; "
            f"it has {df.columns}"
        )
    for name in ("energy", "is_anomaly"):
        if name in df.columns:
            raise InvalidInputError(f"DataFrame already has a column named {name!r}")
    _check_numeric_types(df, [c for c in columns if c not in checked.encoder_.categories])
    hidden = [c for c in (row_names.file_column, row_names.row_column) if c is not None]
    key = hashlib.sha256(blob).hexdigest()
    shipped = df.sparkSession.sparkContext.broadcast(blob)
    # PySpark's mapInPandas looks each column up by its name, which fails for a name with
    # a dot (`src.port`, as dagmm flattens JSON): the columns travel under placeholder
    # names (renamed by position) and get their own names back, on both sides.
    names = list(df.columns)
    placeholders = [f"_dagmm_{i}" for i in range(len(names))]
    renamed = df.toDF(*placeholders)
    kept = renamed.schema.fields[: len(names) - len(hidden)]
    schema = StructType(
        [
            *kept,
            StructField("energy", DoubleType(), False),
            StructField("is_anomaly", ByteType(), False),
        ]
    )
    scorer = _scorer(
        shipped, key, columns, batch_rows, torch_threads, names, unseen, row_names, hidden
    )
    shown = names[: len(kept)]
    return renamed.mapInPandas(scorer, schema).toDF(*shown, "energy", "is_anomaly")


def spark_session(
    master: str = "local[*]", app_name: str = "dagmm", log_level: str | None = None
) -> Any:
    """The active SparkSession, or a new one on ``master``.

    A new session has the Spark UI off and Arrow transfers on. For a local
    master, ``PYSPARK_PYTHON`` is set to this interpreter when it is not set,
    so that the workers can import torch and dagmm.

    Parameters
    ----------
    master : str, default "local[*]"
        Spark master URL of a new session (``"local[4]"``, ``"spark://host:7077"``,
        ...); an already active session is returned as it is.
    app_name : str, default "dagmm"
        Application name of a new session.
    log_level : str, optional
        Spark's log level for a new session (``"FATAL"``, ``"ERROR"``, ``"WARN"``,
        ...; ``SparkContext.setLogLevel``); an active session's is left as it is.

    Returns
    -------
    pyspark.sql.SparkSession

    Raises
    ------
    DAGMMError
        pyspark is not installed, or Spark could not start (e.g. no Java 17).
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise DAGMMError(
            "Spark scoring needs pyspark: pip install 'dagmm[spark]' (and Java 17)"
        ) from exc
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
    )
    if master.startswith("local") and "PYSPARK_PYTHON" not in os.environ:
        # Local workers must run this interpreter (the one with torch), not python3 on
        # PATH; PySpark reads only the environment variable when it starts workers.
        os.environ["PYSPARK_PYTHON"] = sys.executable
    active = SparkSession.getActiveSession()
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # the JVM failing to start surfaces as several error types
        raise DAGMMError(
            f"could not start Spark on {master!r} (is Java 17 installed?): {exc}"
        ) from None
    if log_level is not None and active is None:
        session.sparkContext.setLogLevel(log_level)
    return session


def _dagmm_message(exc: BaseException) -> str | None:
    """The dagmm message inside a Spark job failure (a Python worker's traceback), if any."""
    found = re.search(r"(?:SparkScoringError|InvalidInputError): (.+)", str(exc))
    return found.group(1).strip() if found else None


def explain_failure(exc: BaseException) -> str:
    """The dagmm message inside a Spark job failure, else Spark's own message (the first
    line naming an error class, ``[FAILED_READ_FILE...] ... column [c]. Expected Spark
    type double, actual Parquet type INT64``), else the failure's first line (for a Java
    error that is Py4J's "An error occurred while calling o76.parquet.", which names
    nothing)."""
    found = _dagmm_message(exc)
    if found is not None:
        return found
    text = str(exc)
    spark = _SPARK_ERROR_CLASS.search(text)
    if spark is not None:
        return spark[0].split(" SQLSTATE:")[0].strip()
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


#: A line of Spark's own message, which starts with its error class (Spark 3.4 on).
_SPARK_ERROR_CLASS = re.compile(r"\[[A-Z][A-Z0-9_]*(?:\.[A-Z0-9_]+)*\] [^\n]+")


#: Columns locating a row in its Parquet file, carried by the job re-run on failure only
#: (under another name where the data has a column of this one: see :func:`_unused_name`).
_FILE_COLUMN, _ROW_COLUMN = "_dagmm_located_file", "_dagmm_located_row"


def _unused_name(base: str, taken: Sequence[str]) -> str:
    """``base``, else ``base_1``, ``base_2``, ...: the first that is none of ``taken``.

    Compared case-insensitively, as Spark resolves column names by default.
    """
    lowered = {name.lower() for name in taken}
    name, n = base, 0
    while name.lower() in lowered:
        n += 1
        name = f"{base}_{n}"
    return name


def _hidden_metadata(frame: Any) -> Any:
    """Spark's hidden ``_metadata`` column of a file-based ``frame``, or None.

    A data column named ``_metadata`` (in any case) hides it from ``F.col``:
    Spark 4 reaches it past that column (``DataFrame.metadataColumn``), an
    earlier Spark cannot, and the rows are then named by partition.
    """
    from pyspark.sql import functions as F

    if hasattr(frame, "metadataColumn"):
        return frame.metadataColumn("_metadata")
    if any(name.lower() == "_metadata" for name in frame.columns):
        return None
    return F.col("_metadata")


def _failure_in_files(
    frame: Any, wanted_columns: list[str], blob: bytes, batch_rows: int, source: Path
) -> str | None:
    """The scoring job's failure again, its rows named by Parquet file and row in it.

    Run only once the job has failed on rows it could name only by Spark partition
    (no ``id_column``): the same job again, each row carrying Spark's
    ``_metadata.file_path`` and ``_metadata.row_index``, until it fails. The first job
    does not carry them, as a path string per row would slow every job that succeeds.

    Returns
    -------
    str or None
        The failure's message, or None where the second job found nothing to name
        (it succeeded, or failed otherwise: e.g. a Spark without ``row_index``).
    """
    metadata = _hidden_metadata(frame)
    if metadata is None:
        return None
    # named apart from the data's columns: a column of the same name (the user's, kept
    # by --keep) made two of it, and the rows were named by partition again
    file_column = _unused_name(_FILE_COLUMN, frame.columns)
    row_column = _unused_name(_ROW_COLUMN, [*frame.columns, file_column])
    located = frame.select(
        *wanted_columns,
        metadata.getField("file_path").alias(file_column),
        metadata.getField("row_index").alias(row_column),
    )
    folder = os.path.abspath(source) if source.is_dir() else None
    names = _RowNames(file_column=file_column, row_column=row_column, folder=folder)
    # unseen categories were counted by the first job: these are not warned of
    ignored = frame.sparkSession.sparkContext.accumulator(UnseenCounts(), _CountsParam())
    try:
        scored = _with_scores(located, blob, batch_rows, 1, ignored, names)
        scored.write.format("noop").mode("overwrite").save()  # runs the job, writes nothing
    except Exception as exc:  # the job's failure, whatever PySpark wraps it in
        return _dagmm_message(exc)
    return None


def _check_out_spares_inputs(target: Path, source: Path, model: Any) -> None:
    """Refuse an ``out`` whose replacement would delete the data or the model being read.

    The finished output replaces whatever ``out`` names, a whole folder included:
    ``out`` naming the data (or a folder holding it) would delete the input for good.
    """
    inputs: dict[str, str | os.PathLike[str]] = {"DATA": source}
    if isinstance(model, (str, os.PathLike)):
        inputs["MODEL"] = model
    check_not_an_input(target, "--out", inputs)
    if target.is_dir():
        for name, path in inputs.items():
            if Path(path).resolve().is_relative_to(target.resolve()):
                raise InvalidInputError(
                    f"--out {target} is a folder holding {name} ({path}): writing it would "
                    "delete that file; choose another path"
                )


def _literal(path: Path) -> str:
    """``path`` for Spark's readers, its glob characters escaped.

    Spark reads a path as a Hadoop glob: ``flows[eu].parquet`` named the files
    ``flowse.parquet`` and ``flowsu.parquet``, not itself (its writer takes names as
    they are, so only reads need this).
    """
    return re.sub(r"([\\\[\]{}*?])", r"\\\1", str(path))


def _file_path(uri: str) -> str:
    """The local path of a ``file:`` URI as Spark lists it (``file:/a%20b/x.parquet``)."""
    parsed = urlparse(uri)
    return url2pathname(parsed.path) if parsed.scheme in ("", "file") else uri


def _check_files_hold(frame: Any, wanted: Sequence[str]) -> None:
    """Refuse input whose Parquet files do not all hold the ``wanted`` columns.

    Spark reads a folder with the columns of one of its files, and a file lacking one
    of them yields nulls there: a ``missing="impute"`` model scored such rows with the
    training medians, silently (the local engine refuses such a folder). The footers
    are read on the driver, before any job runs.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    for uri in frame.inputFiles():
        path = _file_path(uri)
        try:
            names = pq.read_schema(path).names
        except (pa.ArrowException, OSError) as exc:
            raise InvalidInputError(f"{path}: cannot read as Parquet ({exc})") from None
        missing = [c for c in wanted if c not in names]
        if missing:
            raise InvalidInputError(
                f"{path}: missing column(s) {missing}{close_names(missing, names)}, which "
                f"Spark would read as nulls (the file has {names})"
            )


def score_parquet_spark(
    model_path: str | os.PathLike[str] | Any,
    data: str | os.PathLike[str],
    out: str | os.PathLike[str],
    id_column: str | None = None,
    master: str = "local[*]",
    batch_rows: int = DEFAULT_BATCH_ROWS,
    keep_columns: Sequence[str] = (),
    only_anomalies: bool = False,
    log_level: str | None = None,
) -> ScoredRows:
    """Score a Parquet file or folder with Spark into a Parquet folder ``out``.

    Writes ``[id,] [kept columns,] energy, is_anomaly`` like ``dagmm score``. The output
    appears under its name only when the job succeeded (written beside it,
    then renamed), replacing any file or folder of that name. ``model_path`` may
    also be a fitted model (its ``threshold_`` sets ``is_anomaly``).

    Parameters
    ----------
    model_path : str, PathLike, bytes or fitted DAGMM
        The model file, its content, or a fitted estimator; it must have been
        fitted on a DataFrame, as columns are matched by name.
    data : str or PathLike
        A Parquet file (``.parquet`` or ``.pq``) or a folder of Parquet files,
        holding the model's columns (other columns are ignored).
    out : str or PathLike
        The Parquet folder to write (Spark writes a folder of part files); its
        name must end with ``.parquet`` or ``.pq`` and its parent folder exist.
    id_column : str, optional
        A column of ``data`` copied to the output's first column.
    master : str, default "local[*]"
        Spark master URL, used when no session is active (see :func:`spark_session`).
    batch_rows : int, default 65536
        Rows scored at once within a partition (see :func:`score_spark`).
    keep_columns : sequence of str, default ()
        More columns of ``data`` copied to the output, after ``id_column``.
    only_anomalies : bool, default False
        Write only the flagged rows (an alerts folder). Spark has no row
        positions, so this needs ``id_column`` or ``keep_columns`` to name them.
    log_level : str, optional
        Spark's log level for a session this call starts (see :func:`spark_session`).

    Returns
    -------
    dagmm.batch.ScoredRows
        Rows scored (counted in ``data``), rows flagged, rows written (counted in
        the written output).

    Raises
    ------
    InvalidInputError
        ``data`` is missing or not Parquet, ``out`` is not named ``*.parquet`` or
        its folder is missing, a model column or a copied column is missing (from
        any of the files of a folder, which Spark would read as nulls), a
        copied column is named twice or ``energy`` / ``is_anomaly``,
        ``only_anomalies`` is asked without a column to name the rows, or ``out``
        names ``data`` or the model file (or a folder holding either), which
        writing it would delete.
    ModelFileError
        The model file is missing or invalid.
    DataFileError
        ``data`` holds no rows (nothing is written, as by ``dagmm score``).
    SparkScoringError
        The Spark job failed; for a bad row the message names it by ``id_column``,
        else by its Parquet file and row within it (the job is run a second time, on
        failure only, to find them).
    DAGMMError
        pyspark is not installed or Spark could not start.

    Warns
    -----
    UnseenCategoryWarning
        Rows hold categories training never saw: one warning, with the count per
        column over the whole input (counted by the executors), before the output
        is put in place.
    """
    source, target = Path(data), Path(out)
    copied = copied_columns(id_column, keep_columns)
    if only_anomalies and not copied:
        raise InvalidInputError(
            "--only-anomalies with --engine spark needs --id-column or --keep to name the "
            "flagged rows (Spark has no row positions)"
        )
    if not source.exists():
        raise InvalidInputError(f"{source}: not found")
    if not (source.is_dir() or source.name.lower().endswith((".parquet", ".pq"))):
        raise InvalidInputError(f"{source}: --engine spark reads Parquet (a file or a folder)")
    if source.is_file() and source.name.startswith((".", "_")):
        # Spark's reader skips such names as hidden, then fails "Unable to infer schema"
        raise InvalidInputError(
            f"{source}: Spark skips files whose names start with '.' or '_' as hidden; "
            "rename it, or score it without --engine spark"
        )
    if not target.name.lower().endswith((".parquet", ".pq")):
        raise InvalidInputError(f"{target}: --engine spark writes Parquet; name it *.parquet")
    if not target.parent.exists():
        raise InvalidInputError(f"directory {target.parent} does not exist (writing {target})")
    _check_out_spares_inputs(target, source, model_path)
    blob, checked = _shipped_model(model_path)
    spark = spark_session(master, log_level=log_level)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        frame = spark.read.parquet(_literal(source))
        wanted = _feature_columns(checked) + copied
        missing = [c for c in wanted if c not in frame.columns]
        if missing:
            asked = columns_wanted_by_whom(_feature_columns(checked), id_column, keep_columns)
            raise InvalidInputError(
                f"{source}: {missing_columns_message(missing, frame.columns, asked)}; "
                f"the file has {frame.columns}"
            )
        _check_files_hold(frame, wanted)
        wanted_columns = [_quoted(name) for name in dict.fromkeys(wanted)]
        # A warning on an executor's stderr never reaches the user: the counts come back
        # in an accumulator (a retried task may add its batches' twice).
        unseen = spark.sparkContext.accumulator(UnseenCounts(), _CountsParam())
        rows = _RowNames(id_column)
        scored = _with_scores(frame.select(*wanted_columns), blob, batch_rows, 1, unseen, rows)
        scored = scored.select(*(_quoted(name) for name in [*copied, *SCORE_COLUMNS]))
        if only_anomalies:
            scored = scored.filter("is_anomaly = 1")
        scored.write.parquet(str(tmp))
        # one pass over the output counts both its rows and its flags
        totals = spark.read.parquet(_literal(tmp)).selectExpr(
            "count(*)", "coalesce(sum(is_anomaly), 0)"
        )
        n_written, n_flagged = (int(v) for v in totals.first())
        n_rows = frame.count() if only_anomalies else n_written
        if n_rows == 0:
            # as the local engine: an empty input is an upstream failure to report, not an
            # empty output to put in place of an earlier one
            raise DataFileError(f"{source}: no rows to score")
        if unseen.value:
            # as the local engine: one warning for the whole input, prefixed by its name, before
            # the output is in place (a warning made an error leaves none, as there)
            warn_unseen_categories(unseen.value, f"{source}: ", stacklevel=2)
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        os.replace(tmp, target)
    except DAGMMError:
        raise
    except Exception as exc:
        if type(exc).__module__.startswith(("pyspark", "py4j")):
            message = explain_failure(exc)
            if id_column is None and re.search(r"row\(s\) .* of partition \d", message):
                # a partition's row means nothing to the user: find the row's file instead
                message = _failure_in_files(frame, wanted_columns, blob, batch_rows, source) or (
                    message
                )
            raise SparkScoringError(f"{source}: {message}") from None
        raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return ScoredRows(n_rows, n_flagged, n_written)
