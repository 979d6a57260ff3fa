"""How often the two-process gloo fit of tests/test_distributed.py hangs at its end.

Each run starts the test's two ``fit`` workers (``python tests/test_distributed.py fit DIR
RANK``: six ``fit_distributed`` calls, then ``dist.barrier()`` and
``dist.destroy_process_group()``) and counts a run as hung when either worker is still
running after ``--timeout`` seconds (one run takes about 3 s on a 2-core VM). Under torch
before 2.8, ``destroy_process_group`` could deadlock with gloo's worker thread (see
``dagmm.distributed._RECENT_COLLECTIVES``); run it with the Python of an environment built
from ``.ci/lowest.txt`` to see that torch. Not a speed benchmark: a check of an
intermittent hang, which no single test run can show.

Usage::

    python benchmarks/stress_teardown.py --runs 200
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import machine_line

ROOT = Path(__file__).resolve().parents[1]


def run_pair(python: str, timeout: float) -> str:
    """``"ok"``, ``"hung"`` or ``"failed"`` for one run of the worker pair."""
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT / "src")]),
    }
    with tempfile.TemporaryDirectory() as out:
        workers = [
            subprocess.Popen(
                [python, str(ROOT / "tests" / "test_distributed.py"), "fit", out, str(rank)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for rank in range(2)
        ]
        deadline = time.monotonic() + timeout
        codes = []
        for worker in workers:
            try:
                codes.append(worker.wait(max(deadline - time.monotonic(), 0.1)))
            except subprocess.TimeoutExpired:
                codes.append(None)
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    if None in codes:
        return "hung"
    return "ok" if codes == [0, 0] else "failed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds before a run is hung")
    parser.add_argument("--python", default=sys.executable, help="the workers' interpreter")
    args = parser.parse_args()
    version = subprocess.run(
        [args.python, "-c", "import torch; print(torch.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    print(machine_line())
    print(f"torch {version}, {args.runs} runs of the two-process fit worker pair")
    counts = {"ok": 0, "hung": 0, "failed": 0}
    started = time.perf_counter()
    for index in range(args.runs):
        outcome = run_pair(args.python, args.timeout)
        counts[outcome] += 1
        if outcome != "ok":
            print(f"run {index + 1}: {outcome}", flush=True)
    print(
        f"hung {counts['hung']}, failed {counts['failed']}, ok {counts['ok']} of {args.runs} "
        f"in {time.perf_counter() - started:.0f} s"
    )
    if counts["hung"] or counts["failed"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
