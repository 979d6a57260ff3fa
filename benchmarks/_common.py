"""Shared helpers of the benchmark scripts: data, threads, timing, reporting."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

KDD_FILE = "kddcup.data_10_percent.gz"

# Runs the command in argv in a grandchild and prints the grandchild's peak RSS (KiB):
# this small intermediate process waits for the command alone, so RUSAGE_CHILDREN is the
# command's own high-water mark, not the benchmark process's image copied by fork.
_PEAK = (
    "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)"
)

#: The paper's KDDCUP network and training settings (120-60-30-10-1 and its mirror,
#: estimation 3-10-4, K=4, batch 1024, Adam lr 1e-4), as ``DAGMM`` keyword arguments.
PAPER_KDDCUP = {
    "hidden_sizes": (60, 30, 10),
    "latent_dim": 1,
    "n_components": 4,
    "estimation_hidden_sizes": (10,),
    "batch_size": 1024,
    "learning_rate": 1e-4,
}


def set_threads(threads: int) -> None:
    """Pin torch's intra-op pool (and BLAS pools started after this) to ``threads``."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    torch.set_num_threads(threads)


@contextmanager
def kernels_off() -> Iterator[None]:
    """Run the block with dagmm's compiled row kernels switched off, as ``DAGMM_NUMBA=0`` does."""
    from dagmm import _kernels

    enabled = _kernels.ENABLED
    _kernels.ENABLED = False
    try:
        yield
    finally:
        _kernels.ENABLED = enabled


def machine_line() -> str:
    """One line naming the machine, torch and the thread count."""
    from dagmm import _kernels

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    kernels = "compiled (numba)" if _kernels.available() else "numpy (no numba or DAGMM_NUMBA=0)"
    return (
        f"machine: {platform.machine()} {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, python {platform.python_version()}, "
        f"load average {load:.1f} at start; CPU row kernels (training step, scoring): {kernels}"
    )


def peak_mb(args: list[str], cwd: str | Path | None = None) -> tuple[float, float]:
    """Peak RSS (MiB) and wall seconds of ``dagmm ARGS`` run in a fresh child process.

    The peak is the child's ``getrusage(RUSAGE_CHILDREN).ru_maxrss``, read in an
    intermediate process that runs nothing else; the project's ``src`` is put first on
    the child's ``PYTHONPATH``. A failing command stops the benchmark with its stderr.
    """
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", _PEAK, sys.executable, "-m", "dagmm.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
    )
    if result.returncode != 0:
        raise SystemExit(result.stderr)
    return int(result.stdout.strip().splitlines()[-1]) / 1024, time.perf_counter() - started


def kddcup_or_synthetic(
    n_rows: int, n_features: int = 120, seed: int = 0
) -> tuple[np.ndarray, str]:
    """KDDCUP rows (one-hot, min-max scaled) when ``$DAGMM_DATA`` has the file, else synthetic.

    The synthetic data have the KDDCUP network's shape: ``n_features`` columns in
    [0, 1], rows drawn around a few random prototypes so that the mixture has
    structure to fit. Real KDDCUP one-hot encodes to 118 columns.
    """
    folder = os.environ.get("DAGMM_DATA")
    path = Path(folder) / KDD_FILE if folder else None
    if path is not None and path.is_file():
        import pandas as pd

        frame = pd.read_csv(path, header=None)
        frame = frame.drop(columns=[41])
        encoded = pd.get_dummies(frame, columns=[1, 2, 3], dtype=np.float32).to_numpy(np.float32)
        low, high = encoded.min(0), encoded.max(0)
        encoded = (encoded - low) / np.where(high > low, high - low, 1.0)
        rng = np.random.default_rng(seed)
        take = rng.choice(len(encoded), size=min(n_rows, len(encoded)), replace=False)
        return np.ascontiguousarray(encoded[take], dtype=np.float32), f"KDDCUP ({path})"
    return synthetic(n_rows, n_features, seed), "synthetic"


def synthetic(n_rows: int, n_features: int, seed: int = 0) -> np.ndarray:
    """Rows in [0, 1] around 8 random prototypes, float32, C-contiguous."""
    rng = np.random.default_rng(seed)
    prototypes = rng.random((8, n_features), dtype=np.float32)
    which = rng.integers(0, 8, size=n_rows)
    noise = rng.normal(scale=0.05, size=(n_rows, n_features)).astype(np.float32)
    return np.clip(prototypes[which] + noise, 0.0, 1.0).astype(np.float32)


def timed(fn: Callable[[], object]) -> float:
    """Wall seconds of one call (with the GPU's queued work finished, where there is one)."""
    start = time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def device_line(device: str) -> str:
    """The device the benchmark runs on, by name."""
    if device.startswith("cuda"):
        return f"device: {device} ({torch.cuda.get_device_name(torch.device(device))})"
    return f"device: {device}"


def interleaved(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Run each callable ``repeats`` times, alternating between them, and return wall times.

    Alternating spreads the machine's background load evenly over the contenders,
    which matters on a shared machine: compare medians from the same process.
    """
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            times[name].append(timed(fn))
    return times


def rate_line(label: str, units: float, seconds: list[float], unit: str) -> float:
    """Print and return the median rate ``units / seconds``."""
    rates = sorted(units / s for s in seconds)
    median = statistics.median(rates)
    spread = ", ".join(f"{r:,.0f}" for r in rates)
    print(f"  {label:<44s} {median:>12,.0f} {unit}  (median of {len(rates)}: {spread})")
    return median
