"""``dagmm fit --distributed`` under torchrun, in a subprocess (test helper)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

_TORCHRUN = Path(sys.executable).with_name("torchrun")

#: Skip a test where torchrun is not installed.
needs_torchrun = pytest.mark.skipif(
    shutil.which("torchrun") is None and not _TORCHRUN.exists(), reason="torchrun not installed"
)


def torchrun_fit(
    cwd: Path,
    data: Path,
    out: Path,
    *options: str,
    nproc: int = 2,
    env: dict | None = None,
    random_state: str | None = "0",
) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc-per-node NPROC -m dagmm.cli.main fit DATA --out OUT
    --random-state RANDOM_STATE --distributed OPTIONS`` in ``cwd`` (None: no
    ``--random-state``)."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **(env or {})}
    return subprocess.run(
        [
            str(_TORCHRUN if _TORCHRUN.exists() else "torchrun"),
            "--standalone",
            "--nproc-per-node",
            str(nproc),
            "-m",
            "dagmm.cli.main",
            "fit",
            str(data),
            "--out",
            str(out),
            *(["--random-state", random_state] if random_state is not None else []),
            "--distributed",
            *options,
        ],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )
