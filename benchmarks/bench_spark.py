"""Rows per second scoring a multi-million-row Parquet file: Spark local[N] vs one process.

Writes a synthetic Parquet file (numeric and categorical columns), trains a
small model on a sample of it, then scores the whole file twice in this
process: with ``dagmm score``'s code path (:func:`dagmm.batch.score_file`, one
process, chunks of 65,536 rows) as the baseline, and with
:func:`dagmm.spark.score_parquet_spark` on ``local[N]``. Prints both rates,
their ratio, Spark's start-up time (not included in its rate) and the largest
energy difference between the two outputs.

    python benchmarks/bench_spark.py --rows 2000000 --master 'local[2]'
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


def write_data(path: Path, rows: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(3, 8))
    with pq.ParquetWriter(path, _schema()) as writer:
        for start in range(0, rows, 500_000):
            n = min(500_000, rows - start)
            values = rng.normal(size=(n, 3)) @ mix + rng.normal(scale=0.1, size=(n, 8))
            frame = pd.DataFrame(values, columns=[f"x{i}" for i in range(8)])
            frame["proto"] = rng.choice(np.array(["tcp", "udp", "icmp"], dtype=object), size=n)
            frame.insert(0, "flow_id", np.arange(start, start + n, dtype=np.int64))
            writer.write_table(pa.Table.from_pandas(frame, schema=_schema(), preserve_index=False))


def _schema() -> pa.Schema:
    fields = [pa.field("flow_id", pa.int64())]
    fields += [pa.field(f"x{i}", pa.float64()) for i in range(8)]
    fields.append(pa.field("proto", pa.string()))
    return pa.schema(fields)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--workdir", help="Folder for the data (default: a temporary one).")
    args = parser.parse_args()

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    import torch

    from dagmm import DAGMM
    from dagmm.batch import score_file
    from dagmm.outofcore import sample_table
    from dagmm.spark import score_parquet_spark, spark_session

    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        data = work / "flows.parquet"
        started = time.perf_counter()
        write_data(data, args.rows)
        print(
            f"data: {args.rows} rows, {data.stat().st_size / 1e6:.0f} MB Parquet "
            f"({time.perf_counter() - started:.1f} s to write)"
        )
        sample = sample_table(data, 20_000, random_state=0).drop(columns="flow_id")
        model = DAGMM(epochs=2, random_state=0, contamination=0.01, device="cpu").fit(sample)
        model_path = work / "flows.dagmm"
        model.save(model_path)

        local_out = work / "local.parquet"
        started = time.perf_counter()
        score_file(model, data, local_out, id_column="flow_id")
        local_s = time.perf_counter() - started
        print(f"torch threads in this process: {torch.get_num_threads()}")

        started = time.perf_counter()
        spark = spark_session(args.master)
        spark.range(1).count()
        startup_s = time.perf_counter() - started
        spark_out = work / "spark.parquet"
        started = time.perf_counter()
        n = score_parquet_spark(model_path, data, spark_out, "flow_id", args.master)
        spark_s = time.perf_counter() - started
        assert n == args.rows, (n, args.rows)

        a = pd.read_parquet(local_out).sort_values("flow_id")["energy"].to_numpy()
        b = pd.read_parquet(spark_out).sort_values("flow_id")["energy"].to_numpy()
        print(f"one process (dagmm score):  {local_s:7.1f} s  {args.rows / local_s:>10,.0f} rows/s")
        print(
            f"Spark {args.master:<10}          {spark_s:7.1f} s  "
            f"{args.rows / spark_s:>10,.0f} rows/s"
            f"  (+ {startup_s:.1f} s to start Spark)"
        )
        print(f"ratio Spark / one process: {local_s / spark_s:.2f}x")
        print(f"largest |energy difference|: {np.abs(a - b).max():.2e}")
        spark.stop()


if __name__ == "__main__":
    main()
