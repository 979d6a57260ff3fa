"""Peak memory of ``dagmm score`` and ``dagmm fit --sample-rows`` as the file grows.

Writes Parquet and CSV files of N and 4N rows, runs each command in a fresh
child process and reads the child's peak resident memory (``ru_maxrss``).
Bounded memory means the 4N figure is close to the N figure; the in-memory
``dagmm fit`` (reading the whole file) is shown as the baseline that grows. The
baseline runs with ``--epochs 0`` (read, encode, mixture pass, energies, no
optimizer steps), which needs the same memory as training and minutes less.

    python benchmarks/bench_outofcore.py --rows 500000
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from _common import peak_mb


def write(path: Path, rows: int) -> None:
    rng = np.random.default_rng(0)
    mix = rng.normal(size=(3, 8))
    parts = []
    for start in range(0, rows, 250_000):
        n = min(250_000, rows - start)
        frame = pd.DataFrame(
            rng.normal(size=(n, 3)) @ mix + rng.normal(scale=0.1, size=(n, 8)),
            columns=[f"x{i}" for i in range(8)],
        )
        frame.insert(0, "flow_id", np.arange(start, start + n))
        parts.append(frame)
    if path.suffix == ".csv":
        for i, frame in enumerate(parts):
            frame.to_csv(path, mode="w" if i == 0 else "a", header=i == 0, index=False)
    else:
        with pq.ParquetWriter(path, pa.Schema.from_pandas(parts[0], preserve_index=False)) as w:
            for frame in parts:
                w.write_table(pa.Table.from_pandas(frame, preserve_index=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = work / "m.dagmm"
        sizes = (args.rows, 4 * args.rows)
        for n in sizes:
            for suffix in (".parquet", ".csv"):
                write(work / f"d{n}{suffix}", n)
        fit = ["fit", "--epochs", "1", "--exclude", "flow_id", "--random-state", "0"]
        peak_mb(
            [
                *fit,
                str(work / f"d{sizes[0]}.parquet"),
                "--out",
                str(model),
                "--sample-rows",
                "20000",
            ]
        )
        print(f"{'command':<42} {'rows':>9} {'peak MB':>8} {'wall s':>7}")
        rows = []
        for n in sizes:
            for suffix in (".parquet", ".csv"):
                data = str(work / f"d{n}{suffix}")
                out = str(work / f"s{suffix}")
                cases = [
                    (
                        f"dagmm score ({suffix[1:]})",
                        ["score", str(model), data, "--out", out, "--id-column", "flow_id"],
                    ),
                    (
                        f"dagmm fit --sample-rows 20000 ({suffix[1:]})",
                        [*fit, data, "--out", str(work / "s.dagmm"), "--sample-rows", "20000"],
                    ),
                    (
                        f"dagmm fit --epochs 0, whole file ({suffix[1:]})",
                        ["fit", "--epochs", "0", *fit[3:], data, "--out", str(work / "w.dagmm")],
                    ),
                ]
                for name, command in cases:
                    mb, wall = peak_mb(command)
                    rows.append((name, n, mb))
                    print(f"{name:<42} {n:>9} {mb:>8.0f} {wall:>7.1f}", flush=True)
        print("\nratio of peak memory, 4N rows / N rows (1.0 = bounded):")
        for name in dict.fromkeys(r[0] for r in rows):
            small, large = (mb for rname, _, mb in rows if rname == name)
            print(f"  {name:<42} {large / small:.2f}")


if __name__ == "__main__":
    main()
