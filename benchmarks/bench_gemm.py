"""The matrix-product ceiling of this machine for the KDDCUP network.

Training and scoring are bounded by the dense layers' matrix products. This
times them alone, at the shapes ``dagmm`` runs them, and prints what they
imply for the two speed bars of issue 4:

- training: per 1,024-row batch, the forward product of every layer and the two
  backward ones (input gradient ``G @ W^T``, weight gradient ``X^T @ G``), with
  torch on ``--threads`` threads, as the fused step runs them;
- scoring: the forward products of the compression network on 4,096-row
  chunks with numpy on one thread, as each of the scoring engine's threads
  runs them, scaled by ``--threads``.

Usage::

    python benchmarks/bench_gemm.py --threads 2

The ceilings are upper bounds: everything else a step or a chunk does (tanh,
elementwise passes, the mixture, Adam) comes on top.
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
import torch
from _common import machine_line, set_threads
from threadpoolctl import threadpool_limits

#: The paper's KDDCUP compression network.
WIDTHS = (120, 60, 30, 10, 1, 10, 30, 60, 120)


def _best_seconds(fn, repeats: int) -> float:
    """Best of five timings of ``repeats`` calls, per call."""
    for _ in range(max(3, repeats // 10)):
        fn()
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        best = min(best, (time.perf_counter() - start) / repeats)
    return best


def training_step_seconds(batch: int, repeats: int) -> float:
    """Seconds of one step's forward and backward products (torch, current threads)."""
    g = torch.Generator().manual_seed(0)
    total = 0.0
    for n_in, n_out in itertools.pairwise(WIDTHS):
        x = torch.randn(batch, n_in, generator=g)
        w = torch.randn(n_in, n_out, generator=g)
        grad = torch.randn(batch, n_out, generator=g)
        out = torch.empty(batch, n_out)
        grad_in = torch.empty(batch, n_in)
        grad_w = torch.empty(n_in, n_out)
        total += _best_seconds(lambda x=x, w=w, out=out: torch.mm(x, w, out=out), repeats)
        total += _best_seconds(
            lambda grad=grad, w=w, grad_in=grad_in: torch.mm(grad, w.t(), out=grad_in), repeats
        )
        total += _best_seconds(
            lambda x=x, grad=grad, grad_w=grad_w: torch.mm(x.t(), grad, out=grad_w), repeats
        )
    return total


def scoring_chunk_seconds(chunk: int, repeats: int) -> float:
    """Seconds of one chunk's forward products (numpy, one thread)."""
    rng = np.random.default_rng(0)
    total = 0.0
    with threadpool_limits(1):
        for n_in, n_out in itertools.pairwise(WIDTHS):
            x = rng.standard_normal((chunk, n_in), dtype=np.float32)
            w = rng.standard_normal((n_in, n_out), dtype=np.float32)
            total += _best_seconds(lambda x=x, w=w: x @ w, repeats)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    set_threads(args.threads)
    print(machine_line())
    macs = sum(a * b for a, b in itertools.pairwise(WIDTHS))
    print(f"KDDCUP compression network {'-'.join(map(str, WIDTHS))}: {2 * macs:,} FLOP per row")

    step = training_step_seconds(1024, args.repeats)
    train_rate = 1024 / step
    print(
        f"training, batch 1024, torch on {args.threads} thread(s): products {step * 1e3:.2f} ms "
        f"per step ({3 * 2 * macs * 1024 / step / 1e9:.1f} GFLOP/s): at most {train_rate:,.0f} "
        f"samples/s from the products alone; the 250,000 bar leaves them "
        f"{250_000 / train_rate:.0%} of the time"
    )
    chunk = scoring_chunk_seconds(4096, args.repeats)
    score_rate = 4096 / chunk * args.threads
    print(
        f"scoring, 4096-row chunks, numpy on 1 thread x {args.threads}: products "
        f"{chunk * 1e3:.2f} ms per chunk ({2 * macs * 4096 / chunk / 1e9:.1f} GFLOP/s per "
        f"thread): at most {score_rate:,.0f} rows/s from the products alone; the 1,000,000 bar "
        f"leaves them {1_000_000 / score_rate:.0%} of the time"
    )


if __name__ == "__main__":
    main()
