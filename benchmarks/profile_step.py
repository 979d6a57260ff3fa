"""Where a training step's time goes: ``torch.profiler`` over a few epochs of ``DAGMM.fit``.

The paper's KDDCUP network and batch (1024) on synthetic rows of its shape. Prints the
operators with the most self time on the host and on the device, how many host-device
synchronisations and copies the steps made, and the wall time per step.

Usage::

    python benchmarks/profile_step.py --device cuda --rows 20480 --epochs 3
"""

from __future__ import annotations

import argparse
import time

import torch
from _common import PAPER_KDDCUP, device_line, machine_line, set_threads, synthetic
from torch.profiler import ProfilerActivity, profile

from dagmm import DAGMM

PAPER = PAPER_KDDCUP


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rows", type=int, default=20_480)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    set_threads(args.threads)
    print(machine_line())
    print(device_line(args.device))
    data = synthetic(args.rows, 120)
    DAGMM(**PAPER, epochs=1, random_state=0, device=args.device).fit(data[:2048])  # warm-up
    activities = [ProfilerActivity.CPU]
    if torch.device(args.device).type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    start = time.perf_counter()
    with profile(activities=activities) as prof:
        DAGMM(**PAPER, epochs=args.epochs, random_state=0, device=args.device).fit(data)
    wall = time.perf_counter() - start
    steps = args.epochs * -(-args.rows // PAPER["batch_size"])
    print(f"fit: {wall:.2f} s under the profiler, {steps} steps, {1e3 * wall / steps:.2f} ms/step")
    events = prof.key_averages()
    for name in ("cudaStreamSynchronize", "cudaDeviceSynchronize", "cudaMemcpyAsync"):
        count = sum(e.count for e in events if e.key == name)
        print(f"{name}: {count} calls ({count / steps:.1f} per step)")
    print(events.table(sort_by="self_cpu_time_total", row_limit=args.top))
    if len(activities) > 1:
        print(events.table(sort_by="self_device_time_total", row_limit=args.top))


if __name__ == "__main__":
    main()
