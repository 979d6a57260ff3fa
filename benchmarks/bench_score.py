"""Scoring throughput of ``DAGMM.decision_function`` and peak memory of ``dagmm score``.

1. rows/s of ``decision_function`` on ``--rows`` rows (a numpy array) against the
   port-style baseline's scoring (per-row Dataset, DataLoader of 1024), one process,
   alternating runs; the KDDCUP network (120-60-30-10-1, K=4). On the CPU with numba,
   also against the same call with the compiled kernels off (as ``DAGMM_NUMBA=0``):
   the reconstruction features' row products by numpy and the hidden layers' tanh
   by torch's sigmoid instead (on CPUs without numpy's AVX-512 tanh).
2. Peak RSS of ``dagmm score`` streaming a ``--parquet-rows``-row Parquet file
   (written in a temporary folder by pyarrow in 100,000-row row groups) in a child
   process, read from ``getrusage(RUSAGE_CHILDREN).ru_maxrss``.

Usage::

    python benchmarks/bench_score.py --threads 2 --rows 1000000 --parquet-rows 10000000
    python benchmarks/bench_score.py --device cuda --rows 4000000 --parquet-rows 0

``--device cuda`` fits the model there and scores part 1 there (both sides); ``dagmm
score`` (part 2) reads the model file onto the CPU, where it always scores.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from _common import (
    device_line,
    interleaved,
    kernels_off,
    machine_line,
    rate_line,
    set_threads,
    synthetic,
)
from _port import PortSolver

from dagmm import DAGMM, _kernels

NETWORK = {"hidden_sizes": (60, 30, 10), "latent_dim": 1, "n_components": 4}


def write_parquet(path: Path, n_rows: int, n_features: int, batch: int = 100_000) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = [f"f{i}" for i in range(n_features)]
    rng = np.random.default_rng(7)
    prototypes = rng.random((8, n_features), dtype=np.float32)
    writer = None
    try:
        for start in range(0, n_rows, batch):
            size = min(batch, n_rows - start)
            values = prototypes[rng.integers(0, 8, size)] + rng.normal(
                scale=0.05, size=(size, n_features)
            ).astype(np.float32)
            table = pa.table({name: values[:, i] for i, name in enumerate(names)})
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


# Runs ``dagmm`` in the child and writes the child's own high-water RSS (VmHWM, KiB)
# at exit: getrusage(RUSAGE_CHILDREN) would also count the parent's image copied by fork.
_REPORT_HWM = """
import atexit, sys
target = sys.argv.pop(1)

def report():
    with open("/proc/self/status") as status:
        hwm = next(line.split()[1] for line in status if line.startswith("VmHWM"))
    with open(target, "w") as out:
        out.write(hwm)

atexit.register(report)
sys.argv[0] = "dagmm"
from dagmm.cli.main import main
main()
"""


def cli_peak_rss(model: Path, data: Path, out: Path, threads: int) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB, the child's VmHWM) of ``dagmm score``."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    src = Path(__file__).resolve().parents[1] / "src"
    env["PYTHONPATH"] = os.pathsep.join([str(src), env.get("PYTHONPATH", "")])
    hwm = out.with_suffix(".hwm")
    command = [sys.executable, "-c", _REPORT_HWM, str(hwm), "score", str(model), str(data)]
    command += ["--out", str(out)]
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    return seconds, int(hwm.read_text()) / 1024.0


def score_rows(model: DAGMM, port: PortSolver, args: argparse.Namespace) -> None:
    data = synthetic(args.rows, args.features, seed=1)
    print(f"decision_function on {args.rows:,} rows x {args.features} features (numpy array):")
    # The model was fitted on named columns (part 2 scores a file by name); an array is
    # matched by position, which is what is meant here.
    warnings.filterwarnings("ignore", "X has no column names", UserWarning)
    model.decision_function(data[:10_000])  # warm-up
    runs = {"dagmm": lambda: model.decision_function(data), "port": lambda: port.score(data)}
    # the CPU engine's compiled kernels against its numpy path, when both exist
    compare_numpy = args.device == "cpu" and _kernels.available()
    if compare_numpy:
        runs["numpy"] = lambda: without_kernels(model, data)
    times = interleaved(runs, args.repeats)
    ours = rate_line("DAGMM.decision_function", args.rows, times["dagmm"], "rows/s")
    base = rate_line("port (Dataset + DataLoader, no_grad)", args.rows, times["port"], "rows/s")
    print(f"  ratio dagmm / port: {ours / base:.1f}x")
    if compare_numpy:
        plain = rate_line("same, kernels off (DAGMM_NUMBA=0)", args.rows, times["numpy"], "rows/s")
        print(f"  ratio compiled kernels / kernels off: {ours / plain:.2f}x")


def without_kernels(model: DAGMM, data: np.ndarray) -> np.ndarray:
    """``model.decision_function(data)`` with the compiled kernels off, as ``DAGMM_NUMBA=0``."""
    with kernels_off():
        return model.decision_function(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--parquet-rows", type=int, default=10_000_000, help="0 skips part 2")
    parser.add_argument("--features", type=int, default=120)
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, ... (part 1)")
    args = parser.parse_args()
    set_threads(args.threads)
    print(machine_line())
    print(device_line(args.device))
    names = [f"f{i}" for i in range(args.features)]
    train = synthetic(20_000, args.features)
    model = DAGMM(**NETWORK, epochs=1, random_state=0, device=args.device)
    model.fit(pd.DataFrame(train, columns=names))
    port = PortSolver(args.features, device=args.device)
    port.train(train, 1)
    port.fit_mixture(train)

    if args.rows:
        score_rows(model, port, args)

    if args.parquet_rows:
        with tempfile.TemporaryDirectory(prefix="dagmm-bench-") as tmp:
            folder = Path(tmp)
            model_path = folder / "model.dagmm"
            model.save(model_path)
            parquet = folder / "rows.parquet"
            start = time.perf_counter()
            write_parquet(parquet, args.parquet_rows, args.features)
            size = parquet.stat().st_size / 2**30
            print(
                f"dagmm score on a {args.parquet_rows:,}-row Parquet file ({size:.2f} GiB, "
                f"written in {time.perf_counter() - start:.0f} s):"
            )
            seconds, peak = cli_peak_rss(
                model_path, parquet, folder / "scores.parquet", args.threads
            )
            scored = pd.read_parquet(folder / "scores.parquet", columns=["energy"])
            assert len(scored) == args.parquet_rows and np.isfinite(scored["energy"]).all()
            print(f"  wall {seconds:.1f} s ({args.parquet_rows / seconds:,.0f} rows/s end to end)")
            print(f"  peak RSS of the child process: {peak:,.0f} MiB (bar: under 1024 MiB)")


if __name__ == "__main__":
    main()
