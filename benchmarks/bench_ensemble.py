"""Many seeds at once: ``dagmm.fit_ensemble`` against the same models fitted one after another.

Two shapes from the paper: KDDCUP (120 features, 60-30-10-1, K=4) and Thyroid
(6 features, 12-4-1, K=2, about 1,800 training rows), both with batch 1024.
Total throughput is seeds x rows x epochs / wall seconds, measured in one process,
alternating the two ways. Each way is also split into its training loop
(``train_members``, timed inside the same runs) and the rest (encoding, scaling,
the exact mixture pass and the training rows' scores, the same work both ways).

Usage::

    python benchmarks/bench_ensemble.py --threads 2 --seeds 20 --repeats 3
    python benchmarks/bench_ensemble.py --threads 2 --seeds 10 --shape kddcup --epochs 20
    python benchmarks/bench_ensemble.py --device cuda --seeds 20 --epochs 20 --repeats 2
    python benchmarks/bench_ensemble.py --threads 2 --seeds 5 --shape thyroid --restarts
    python benchmarks/bench_ensemble.py --threads 2 --seeds 20 --shape kddcup --step-split
    python benchmarks/bench_ensemble.py --threads 2 --seeds 20 --shape kddcup --step-split \
        --thread-groups 2 --batches 8

``--process-groups N`` adds a third way, measured in the same run: the seeds split
into N groups, each group one ``fit_ensemble`` in a process of its own with
``--threads / N`` threads, the N processes side by side (a lever measured, not one
the package uses; its wall time counts the processes' start-up, and the line after
it their fits alone).

``--step-split`` times the fused training step alone instead (no data, no Adam),
one model against ``--seeds`` members in one batched step, and splits each into
its matrix products and the rest (torch's profiler). The products of S members
cost S single products or more, so ``one model's step / one member's products``
bounds what batching members can gain per step. With ``--thread-groups N`` it also
times the S members' step as N groups in N Python threads side by side, each group's
step on one torch thread, two ways: each group running its steps free of the others, and
the groups joined after every step, as a training loop must join them (a lever measured,
not one the package uses; ``--batches K`` cycles every way through K different batches,
as a loop's fresh batch per step does).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from _common import device_line, interleaved, machine_line, rate_line, set_threads, synthetic

from dagmm import DAGMM, estimator, fit_ensemble
from dagmm.fused import FusedStep
from dagmm.network import DAGMMNet

#: Seconds spent in ``train_members`` during the current run.
_LOOP_SECONDS = [0.0]


def _timed_train_members(*args, **kwargs):
    start = time.perf_counter()
    try:
        return _TRAIN_MEMBERS(*args, **kwargs)
    finally:
        _LOOP_SECONDS[0] += time.perf_counter() - start


_TRAIN_MEMBERS = estimator.train_members

SHAPES = {
    "kddcup": {
        "features": 120,
        "rows": 20_000,
        "epochs": 2,
        "params": {"hidden_sizes": (60, 30, 10), "latent_dim": 1, "n_components": 4},
    },
    "thyroid": {
        "features": 6,
        "rows": 1_800,
        "epochs": 40,
        "params": {"hidden_sizes": (12, 4), "latent_dim": 1, "n_components": 2},
    },
}


#: The ops that hold a step's matrix products (a batched product's bias copy included).
_PRODUCT_OPS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm")


def _step_and_batch(
    shape: dict, members: list[int], n_batches: int = 1
) -> tuple[FusedStep, list[torch.Tensor]]:
    """A fused step of a network of ``members`` (their seeds) and ``n_batches`` random
    1024-row batches."""
    est = DAGMM(**shape["params"])  # the network and loss the ensemble runs train
    net = DAGMMNet(
        shape["features"],
        est.hidden_sizes,
        est.latent_dim,
        est.estimation_hidden_sizes,
        est.n_components,
        n_members=len(members),
    )
    net.reset_parameters(members)
    net.train()
    step = FusedStep(net, est.lambda_energy, est.lambda_cov, est.reg_covar)
    generator = torch.Generator().manual_seed(members[0])
    size = (len(members), 1024, shape["features"])
    return step, [torch.rand(size, generator=generator) for _ in range(n_batches)]


def _step_split(shape: dict, members: int, repeats: int) -> tuple[float, float]:
    """Seconds per member of one fused step, and of its matrix products (medians)."""
    from torch.profiler import ProfilerActivity, profile

    step, (batch,) = _step_and_batch(shape, list(range(members)))
    calls = max(10, 400 // members)
    for _ in range(calls):  # warm-up: compiled kernels, allocator, thread pool
        step(batch)
    walls, products = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            step(batch)
        walls.append((time.perf_counter() - start) / calls / members)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(calls):
                step(batch)
        micros = sum(e.self_cpu_time_total for e in prof.key_averages() if e.key in _PRODUCT_OPS)
        products.append(micros * 1e-6 / calls / members)
    return float(np.median(walls)), float(np.median(products))


def step_split(args: argparse.Namespace) -> None:
    """Print the fused step's split into products and the rest, 1 member and S members."""
    for name, shape in SHAPES.items():
        if args.shape not in (name, "both"):
            continue
        print(f"{name}: the fused step alone, 1024-row batches, {args.repeats} repeats (medians)")
        single_wall, single_products = _step_split(shape, 1, args.repeats)
        wall, products = _step_split(shape, args.seeds, args.repeats)
        for label, w, p in (
            ("one model", single_wall, single_products),
            (f"{args.seeds} members, per member", wall, products),
        ):
            print(
                f"  {label}: step {w * 1e3:.3f} ms, matrix products {p * 1e3:.3f} ms, "
                f"the rest {(w - p) * 1e3:.3f} ms"
            )
        print(f"  step gain of batching: {single_wall / wall:.2f}x")
        print(
            "  bound on that gain if all but the products were free: "
            f"{single_wall / products:.2f}x (one model's step / one member's products)"
        )
        if args.thread_groups:
            groups = args.thread_groups
            batched, free, joined = _thread_groups(
                shape, args.seeds, groups, args.repeats, args.batches
            )
            print(
                f"  {args.seeds} members in one batched step on {torch.get_num_threads()} "
                f"threads, {args.batches} batch(es) in turn: {batched * 1e3:.3f} ms per member; "
                f"as {groups} groups in {groups} Python threads, one torch thread each: "
                f"{free * 1e3:.3f} ms per member running free ({batched / free:.2f}x), "
                f"{joined * 1e3:.3f} ms joined after every step ({batched / joined:.2f}x)"
            )


def _thread_groups(
    shape: dict, members: int, groups: int, repeats: int, n_batches: int
) -> tuple[float, float, float]:
    """Seconds per member of one step three ways (medians, the ways alternating): all
    members batched on torch's threads; the members as ``groups`` groups stepping side by
    side in Python threads, one torch thread each, each group running its steps free of
    the others; and the same groups joined after every step, as a training loop must
    (it updates the weights between steps). Each way cycles through ``n_batches``
    different batches (a training loop gathers a new one for every step)."""
    threads = torch.get_num_threads()
    whole = _step_and_batch(shape, list(range(members)), n_batches)
    parts = [
        _step_and_batch(shape, [int(m) for m in g], n_batches)
        for g in np.array_split(range(members), groups)
    ]
    calls = max(10, 400 // members)
    pool = ThreadPoolExecutor(groups - 1 or 1, initializer=torch.set_num_threads, initargs=(1,))

    def batched() -> None:
        step, batches = whole
        for i in range(calls):
            step(batches[i % n_batches])

    def free() -> None:
        def run(step: FusedStep, batches: list[torch.Tensor]) -> None:
            torch.set_num_threads(1)  # this thread's torch (and MKL) pool
            for i in range(calls):
                step(batches[i % n_batches])

        workers = [threading.Thread(target=run, args=part) for part in parts[1:]]
        for worker in workers:
            worker.start()
        run(*parts[0])
        for worker in workers:
            worker.join()
        torch.set_num_threads(threads)

    def joined() -> None:
        torch.set_num_threads(1)
        (own, own_batches), others = parts[0], parts[1:]
        for i in range(calls):
            futures = [pool.submit(step, batches[i % n_batches]) for step, batches in others]
            own(own_batches[i % n_batches])
            for future in futures:
                future.result()
        torch.set_num_threads(threads)

    ways = {"batched": batched, "free": free, "joined": joined}
    try:
        for fn in ways.values():  # warm-up: compiled kernels, allocator, thread pools
            fn()
        walls: dict[str, list[float]] = {name: [] for name in ways}
        for _ in range(repeats):
            for name, fn in ways.items():
                start = time.perf_counter()
                fn()
                walls[name].append((time.perf_counter() - start) / calls / members)
    finally:
        pool.shutdown()
        torch.set_num_threads(threads)
    batched_s, free_s, joined_s = (float(np.median(walls[name])) for name in ways)
    return batched_s, free_s, joined_s


def _run_setup(args: argparse.Namespace, shape: dict) -> tuple[np.ndarray, int, DAGMM]:
    """The data, epochs and configuration every way of a shape's run trains (the
    ``--process-groups`` workers too, which must train exactly what they are compared with)."""
    data = synthetic(shape["rows"], shape["features"], seed=1)
    epochs = args.epochs if args.epochs is not None else shape["epochs"]
    base = DAGMM(
        **shape["params"], epochs=epochs, batch_size=1024, learning_rate=1e-4, device=args.device
    )
    return data, epochs, base


def _group_worker(args: argparse.Namespace) -> None:
    """One process of ``--process-groups``: fit its seeds, print the fit's wall seconds."""
    first, last = (int(v) for v in args.worker_seeds.split(":"))
    data, _, base = _run_setup(args, SHAPES[args.shape])
    fit_ensemble(base, data[:2048], seeds=[first])  # warm-up: compiled kernels, pools
    start = time.perf_counter()
    fit_ensemble(base, data, seeds=list(range(first, last)))
    print(time.perf_counter() - start)


def _in_process_groups(args: argparse.Namespace, shape_name: str, fits: list[float]) -> None:
    """The seeds in ``args.process_groups`` processes side by side; appends the slowest
    process's fit seconds to ``fits``."""
    groups = np.array_split(np.arange(args.seeds), args.process_groups)
    threads = max(1, args.threads // args.process_groups)
    command = [sys.executable, __file__, "--shape", shape_name, "--threads", str(threads)]
    command += ["--device", args.device]
    if args.epochs is not None:
        command += ["--epochs", str(args.epochs)]
    workers = [
        subprocess.Popen(
            [*command, "--worker-seeds", f"{g[0]}:{g[-1] + 1}"], stdout=subprocess.PIPE, text=True
        )
        for g in groups
    ]
    outputs = [w.communicate()[0] for w in workers]
    if any(w.returncode for w in workers):
        raise SystemExit("a --process-groups worker failed")
    fits.append(max(float(out.split()[-1]) for out in outputs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--shape", choices=[*SHAPES, "both"], default="both")
    parser.add_argument(
        "--epochs",
        type=int,
        help="Epochs for every shape run (default: each shape's own, 2 for KDDCUP, 40 for "
        "Thyroid); the longer the run, the more of it is the training loop.",
    )
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:1, ...")
    parser.add_argument(
        "--restarts",
        action="store_true",
        help="Time one DAGMM(n_restarts=SEEDS).fit (restarts of one model, combined) instead "
        "of fit_ensemble's independent models; the same training, plus the combination.",
    )
    parser.add_argument(
        "--step-split",
        action="store_true",
        help="Time the fused training step alone (CPU), one model against SEEDS members, "
        "split into matrix products and the rest; see the module docstring.",
    )
    parser.add_argument(
        "--thread-groups",
        type=int,
        default=0,
        help="With --step-split, also time the members' step as this many groups in as many "
        "Python threads side by side, one torch thread each (see the module docstring).",
    )
    parser.add_argument(
        "--batches",
        type=int,
        default=1,
        help="With --thread-groups, the number of different batches each way cycles through "
        "(default 1: one batch, cache-warm; a training loop gathers a new one every step).",
    )
    parser.add_argument(
        "--process-groups",
        type=int,
        default=0,
        help="Also time the seeds split into this many processes side by side, each one "
        "fit_ensemble with THREADS / N threads (see the module docstring).",
    )
    parser.add_argument("--worker-seeds", help=argparse.SUPPRESS)
    args = parser.parse_args()
    set_threads(args.threads)
    if args.worker_seeds:
        _group_worker(args)
        return
    if args.thread_groups and not (args.step_split and 1 <= args.thread_groups <= args.seeds):
        parser.error(f"--thread-groups needs --step-split and must be 1 to --seeds ({args.seeds})")
    if args.batches < 1 or (args.batches > 1 and not args.thread_groups):
        parser.error("--batches must be 1 or more, and more than 1 only with --thread-groups")
    if args.process_groups and not 1 <= args.process_groups <= args.seeds:
        parser.error(f"--process-groups must be 1 to --seeds ({args.seeds})")
    if args.process_groups and args.restarts:
        parser.error("--process-groups times fit_ensemble's independent models, not --restarts")
    print(machine_line())
    if args.step_split:
        step_split(args)
        return
    print(device_line(args.device))
    estimator.train_members = _timed_train_members
    seeds = list(range(args.seeds))
    for name, shape in SHAPES.items():
        if args.shape not in (name, "both"):
            continue
        data, epochs, base = _run_setup(args, shape)
        samples = len(seeds) * len(data) * epochs
        print(
            f"{name}: {len(seeds)} seeds x {len(data):,} rows x {data.shape[1]} features "
            f"x {epochs} epochs"
        )

        loop: dict[str, list[float]] = {"together": [], "one_by_one": []}

        def one_by_one(base=base, data=data, loop=loop) -> None:
            _LOOP_SECONDS[0] = 0.0
            for seed in seeds:
                base.set_params(random_state=seed)
                DAGMM(**base.get_params()).fit(data)
            loop["one_by_one"].append(_LOOP_SECONDS[0])

        def together(base=base, data=data, loop=loop) -> None:
            _LOOP_SECONDS[0] = 0.0
            if args.restarts:
                DAGMM(**{**base.get_params(), "n_restarts": len(seeds), "random_state": 0}).fit(
                    data
                )
            else:
                fit_ensemble(base, data, seeds=seeds)
            loop["together"].append(_LOOP_SECONDS[0])

        together()  # warm-up
        loop["together"].clear()
        runs = {"together": together, "one_by_one": one_by_one}
        group_fits: list[float] = []
        if args.process_groups:
            runs["groups"] = lambda name=name, fits=group_fits: _in_process_groups(args, name, fits)
        times = interleaved(runs, args.repeats)
        label = (
            f"DAGMM(n_restarts={len(seeds)}).fit (one vectorised run)"
            if args.restarts
            else "fit_ensemble (one vectorised run)"
        )
        fast = rate_line(label, samples, times["together"], "samples/s")
        slow = rate_line(
            "DAGMM.fit per seed, one after another", samples, times["one_by_one"], "samples/s"
        )
        print(f"  ratio together / one by one: {fast / slow:.2f}x")
        if args.process_groups:
            label = f"{args.process_groups} processes side by side"
            groups = rate_line(label, samples, times["groups"], "samples/s")
            group_fit = rate_line("  their fits alone", samples, group_fits, "samples/s")
            print(
                f"  ratios: processes / one by one {groups / slow:.2f}x (fits alone "
                f"{group_fit / slow:.2f}x); processes / together {groups / fast:.2f}x "
                f"(fits alone {group_fit / fast:.2f}x)"
            )
        fast_loop = rate_line(
            "training loop only, together", samples, loop["together"], "samples/s"
        )
        slow_loop = rate_line(
            "training loop only, one by one", samples, loop["one_by_one"], "samples/s"
        )
        print(f"  ratio of the training loops: {fast_loop / slow_loop:.2f}x")
        print(
            f"  wall: together {np.median(times['together']):.2f} s "
            f"({np.median(loop['together']):.2f} s training), one by one "
            f"{np.median(times['one_by_one']):.2f} s ({np.median(loop['one_by_one']):.2f} s "
            "training) (medians)"
        )


if __name__ == "__main__":
    main()
