"""Training throughput of ``DAGMM.fit`` against a port-style eager PyTorch baseline.

The paper's KDDCUP network (120-60-30-10-1 and its mirror, estimation 3-10-4,
K=4, tanh, dropout 0.5, batch 1024, Adam lr 1e-4) on KDDCUP when
``$DAGMM_DATA`` holds it, else on synthetic data of the same shape.

Two figures for each side, measured in one process, alternating runs:

- end to end: ``DAGMM(...).fit(X)`` from a numpy array (training, the exact
  mixture pass, the training energies) vs the baseline's DataLoader training,
  mixture pass and training energies; samples/s = rows x epochs / wall seconds;
- training step only: our training loop (shuffle, gather, step) vs the
  baseline's step on batches already collated in memory.

Usage::

    python benchmarks/bench_train.py --threads 2 --rows 100000 --epochs 2 --repeats 3
    python benchmarks/bench_train.py --device cuda --rows 198000 --epochs 5 --repeats 3

On a GPU (``--device cuda``) both sides train there: the data moved once (ours) or
batch by batch (the baseline, as the ports do); the CPU-only variants are skipped, and
our steps replayed from CUDA graphs (the default) are also timed against our eager
steps (``DAGMM_CUDA_GRAPHS=0``).
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch
from _common import (
    PAPER_KDDCUP,
    device_line,
    interleaved,
    kddcup_or_synthetic,
    kernels_off,
    machine_line,
    rate_line,
    set_threads,
    timed,
)
from _port import PortSolver

from dagmm import DAGMM, _kernels
from dagmm.network import DAGMMNet
from dagmm.training import TrainingConfig, fit_scaling, train_members

PAPER = PAPER_KDDCUP


def ours_fit(data: np.ndarray, epochs: int, seed: int, device: str = "cpu") -> None:
    DAGMM(epochs=epochs, random_state=seed, device=device, **PAPER).fit(data)


def ours_fit_eager_steps(data: np.ndarray, epochs: int, seed: int, device: str) -> None:
    """``ours_fit`` without CUDA graphs, as ``DAGMM_CUDA_GRAPHS=0``."""
    saved = os.environ.get("DAGMM_CUDA_GRAPHS")
    os.environ["DAGMM_CUDA_GRAPHS"] = "0"
    try:
        ours_fit(data, epochs, seed, device)
    finally:
        if saved is None:
            del os.environ["DAGMM_CUDA_GRAPHS"]
        else:
            os.environ["DAGMM_CUDA_GRAPHS"] = saved


def ours_fit_numpy_step(data: np.ndarray, epochs: int, seed: int) -> None:
    """``ours_fit`` with the step's compiled kernels switched off, as ``DAGMM_NUMBA=0``."""
    with kernels_off():
        ours_fit(data, epochs, seed)


def ours_loop(
    data: np.ndarray,
    epochs: int,
    seed: int,
    fused_step: bool = True,
    device: str = "cpu",
    cuda_graphs: bool = True,
):
    """Only the training loop: the network and scaling are prepared outside the timer."""
    x = torch.from_numpy(data).to(device)
    rows = [torch.arange(len(data), device=device)]
    net = DAGMMNet(data.shape[1], (60, 30, 10), 1, (10,), 4, n_members=1)
    net.reset_parameters([seed])
    net.to(device)
    offset, scale = fit_scaling(x, rows, "minmax")
    net.input_offset.copy_(offset)
    net.input_scale.copy_(scale)
    config = TrainingConfig(
        epochs=epochs,
        batch_size=1024,
        learning_rate=1e-4,
        fused_step=fused_step,
        cuda_graphs=cuda_graphs,
    )
    torch.manual_seed(seed)
    return lambda: train_members(net, x, rows, config)


def port_step_only(data: np.ndarray, epochs: int, seed: int, device: str = "cpu"):
    """The baseline's step on pre-collated batches (its DataLoader excluded)."""
    torch.manual_seed(seed)
    solver = PortSolver(data.shape[1], device=device)
    batches = []
    for _ in range(epochs):
        order = np.random.default_rng(seed).permutation(len(data))
        batches += [
            torch.from_numpy(data[order[i : i + 1024]]).to(device)
            for i in range(0, len(data), 1024)
        ]

    def run() -> None:
        for batch in batches:
            solver.step(batch)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--synthetic", action="store_true", help="ignore $DAGMM_DATA")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:1, ...")
    args = parser.parse_args()
    set_threads(args.threads)
    device = args.device
    on_cpu = torch.device(device).type == "cpu"
    if args.synthetic:
        from _common import synthetic

        data, source = synthetic(args.rows, 120), "synthetic"
    else:
        data, source = kddcup_or_synthetic(args.rows)
    samples = len(data) * args.epochs
    print(machine_line())
    print(device_line(device))
    print(
        f"data: {source}, {data.shape[0]:,} rows x {data.shape[1]} features, {args.epochs} epochs"
    )

    # Warm-up: first calls pay for lazy initialisation (thread pools, allocator) and,
    # on a machine's first run, for compiling the step's kernels (then cached on disk).
    warm = timed(lambda: ours_fit(data[:4096], 1, 0, device))
    print(f"first fit in this process (4,096 rows, 1 epoch; not timed below): {warm:.2f} s")
    PortSolver(data.shape[1], device=device).fit(data[:4096], 1)

    print("end to end (fit from a numpy array):")
    runs = {
        "dagmm": lambda: ours_fit(data, args.epochs, 0, device),
        "port": lambda: PortSolver(data.shape[1], device=device).fit(data, args.epochs),
    }
    if _kernels.available() and on_cpu:
        runs["numpy step"] = lambda: ours_fit_numpy_step(data, args.epochs, 0)
    if not on_cpu:
        runs["eager steps"] = lambda: ours_fit_eager_steps(data, args.epochs, 0, device)
    times = interleaved(runs, args.repeats)
    ours = rate_line("DAGMM.fit", samples, times["dagmm"], "samples/s")
    port = rate_line("port (Dataset + DataLoader)", samples, times["port"], "samples/s")
    print(f"  ratio dagmm / port: {ours / port:.1f}x")
    if "numpy step" in times:
        plain = rate_line(
            "DAGMM.fit without the compiled kernels", samples, times["numpy step"], "samples/s"
        )
        print(f"  ratio compiled / numpy step kernels: {ours / plain:.2f}x")
    if "eager steps" in times:
        eager = rate_line(
            "DAGMM.fit with eager steps (DAGMM_CUDA_GRAPHS=0)",
            samples,
            times["eager steps"],
            "samples/s",
        )
        print(f"  ratio CUDA graphs / eager steps: {ours / eager:.2f}x")

    print("training step only:")
    loops = {
        "dagmm": ours_loop(data, args.epochs, 0, device=device),
        "port": port_step_only(data, args.epochs, 0, device),
    }
    if on_cpu:  # elsewhere the fused step is not used: the autograd step is the loop
        loops["autograd"] = ours_loop(data, args.epochs, 0, fused_step=False)
    else:
        loops["eager"] = ours_loop(data, args.epochs, 0, device=device, cuda_graphs=False)
    times = interleaved(loops, args.repeats)
    step = "fused step" if on_cpu else "autograd step in CUDA graphs"
    ours = rate_line(
        f"dagmm training loop (shuffle+gather+{step})", samples, times["dagmm"], "samples/s"
    )
    port = rate_line("port step on pre-collated batches", samples, times["port"], "samples/s")
    print(f"  ratio dagmm / port: {ours / port:.1f}x")
    if on_cpu:
        autograd = rate_line(
            "dagmm training loop, autograd step", samples, times["autograd"], "samples/s"
        )
        print(f"  ratio fused / autograd step: {ours / autograd:.2f}x")
    else:
        eager = rate_line("dagmm training loop, eager steps", samples, times["eager"], "samples/s")
        print(f"  ratio CUDA graphs / eager steps: {ours / eager:.2f}x")


if __name__ == "__main__":
    main()
