"""Peak memory and wall time of ``dagmm report``, ``explain`` and ``score`` on one big file.

Writes, in a temporary folder, ``--rows`` rows (seeded, so the same file every run) of
``--columns`` correlated normal columns ``x0``, ``x1``, ..., a 4-category text column
``cat`` and a unique text ``id`` ("r0", "r1", ...), as Parquet (pyarrow, in row groups of
``--row-group`` rows) or CSV; and a 20,000-row sample file of the same rows (the first
20,000: the rows are independent draws). It fits a small model on the sample::

    dagmm fit sample.<fmt> --out model.dagmm --exclude id --epochs 2 --random-state 0

then runs each command below in a fresh child process, in that folder, and prints its
peak RSS (the child's ``getrusage(RUSAGE_CHILDREN).ru_maxrss``, ``_common.peak_mb``),
its wall time and the command itself::

    dagmm report model.dagmm big.<fmt> --out r.html --id-column id
    dagmm explain model.dagmm big.<fmt> --rows 20 --id-column id --out e.csv
    dagmm score model.dagmm big.<fmt> --id-column id --out s.parquet
    dagmm explain model.dagmm big.<fmt> --id-column id --out x.parquet   (--explain-all)

The last explains every row (about 100 s per million rows on a 2-core VM). Bounded
memory shows as a peak that hardly moves when ``--rows`` grows. Wall times depend on the
machine's other load; peak RSS does not.

Usage::

    python benchmarks/bench_big_files.py --rows 2000000 --format parquet
    python benchmarks/bench_big_files.py --rows 2000000 --format csv
    python benchmarks/bench_big_files.py --rows 2000000 --format parquet --explain-all
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from _common import machine_line, peak_mb, set_threads

SAMPLE_ROWS = 20_000
CATEGORIES = np.array(["tcp", "udp", "icmp", "other"])


def batches(rows: int, columns: int, batch: int, seed: int = 0) -> Iterator[pa.Table]:
    """The file's rows, ``batch`` at a time, the same for the same arguments."""
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(3, columns))
    for start in range(0, rows, batch):
        n = min(batch, rows - start)
        values = rng.normal(size=(n, 3)) @ mix + rng.normal(scale=0.3, size=(n, columns))
        cat = CATEGORIES[rng.choice(4, size=n, p=[0.5, 0.3, 0.15, 0.05])]
        data = {"id": pa.array(np.char.add("r", np.arange(start, start + n).astype(str)))}
        data.update({f"x{i}": values[:, i] for i in range(columns)})
        data["cat"] = pa.array(cat)
        yield pa.table(data)


def write(path: Path, tables: Iterator[pa.Table], limit: int | None = None) -> None:
    """Write ``tables`` (at most ``limit`` rows) to ``path``: one row group per table."""
    writer = None
    written = 0
    try:
        for table in tables:
            if limit is not None:
                table = table.slice(0, limit - written)
            if writer is None:
                if path.suffix == ".csv":
                    writer = pacsv.CSVWriter(path, table.schema)
                else:
                    writer = pq.ParquetWriter(path, table.schema)
            if path.suffix == ".csv":
                writer.write_table(table)
            else:
                writer.write_table(table, row_group_size=len(table))
            written += len(table)
            if limit is not None and written >= limit:
                break
    finally:
        if writer is not None:
            writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    parser.add_argument("--columns", type=int, default=6, help="numeric columns (default 6)")
    parser.add_argument(
        "--row-group", type=int, default=100_000, help="Parquet row group rows (default 100000)"
    )
    parser.add_argument("--threads", type=int, default=2, help="OMP/torch threads of the children")
    parser.add_argument(
        "--explain-all", action="store_true", help="also explain every row into x.parquet (slow)"
    )
    args = parser.parse_args()
    set_threads(args.threads)
    print(machine_line())
    with tempfile.TemporaryDirectory(prefix="dagmm-bigfiles-") as tmp:
        work = Path(tmp)
        big, sample = f"big.{args.format}", f"sample.{args.format}"
        started = time.perf_counter()
        write(work / big, batches(args.rows, args.columns, args.row_group))
        write(work / sample, batches(args.rows, args.columns, args.row_group), SAMPLE_ROWS)
        size = (work / big).stat().st_size / 1e9
        layout = f"row groups of {args.row_group:,}" if args.format == "parquet" else "CSV"
        print(
            f"data: {args.rows:,} rows ({args.format}, {size:.2f} GB, {layout}) of "
            f"{args.columns} normal columns x0..x{args.columns - 1}, a 4-category text column "
            f"cat and a text id; written in {time.perf_counter() - started:.1f} s"
        )
        fit = f"fit {sample} --out model.dagmm --exclude id --epochs 2 --random-state 0"
        mb, wall = peak_mb(fit.split(), cwd=work)
        print(f"model: dagmm {fit}  ({mb:.0f} MB, {wall:.1f} s)")
        commands = [
            f"report model.dagmm {big} --out r.html --id-column id",
            f"explain model.dagmm {big} --rows 20 --id-column id --out e.csv",
            f"score model.dagmm {big} --id-column id --out s.parquet",
        ]
        if args.explain_all:
            commands.append(f"explain model.dagmm {big} --id-column id --out x.parquet")
        print(f"{'peak MB':>8} {'wall s':>7}  command")
        for command in commands:
            mb, wall = peak_mb(command.split(), cwd=work)
            print(f"{mb:>8.0f} {wall:>7.1f}  dagmm {command}", flush=True)


if __name__ == "__main__":
    main()
