"""The core (math, network, training, estimator) must not import the edges."""

from __future__ import annotations

import ast
from pathlib import Path

import dagmm

CORE = (
    "mixture.py",
    "network.py",
    "fused.py",
    "inference.py",
    "training.py",
    "estimator.py",
    "tabular.py",
    "presets.py",
    "rejection.py",
    "_kernels.py",
    "_team.py",
)
EDGES = (
    "persistence",
    "tableio",
    "batch",
    "cli",
    "datasets",
    "spark",
    "report",
    "plots",
    "explain",
    "distributed",
    "reproduce",
)


def test_core_does_not_import_edges_at_module_level():
    package = Path(dagmm.__file__).parent
    for name in CORE:
        tree = ast.parse((package / name).read_text())
        for node in tree.body:  # module level only: lazy imports inside functions are allowed
            if isinstance(node, ast.ImportFrom) and node.level >= 1:
                module = (node.module or "").split(".")[0]
                assert module not in EDGES, f"{name} imports edge module {module}"
