from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import settings

torch.set_num_threads(min(2, torch.get_num_threads()))

# The default run draws the same examples every time, so that a test run (CI's too) cannot
# fail on a new random draw; DAGMM_HYPOTHESIS_PROFILE=explore draws afresh (and with
# DAGMM_FUZZ_EXAMPLES=1000, many more) to look for new failures.
settings.register_profile("repeatable", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("DAGMM_HYPOTHESIS_PROFILE", "repeatable"))


@pytest.fixture
def blobs() -> tuple[np.ndarray, np.ndarray]:
    """600 normal rows on two correlated blobs in 6-D, plus 30 far-off anomalies."""
    rng = np.random.default_rng(0)
    base = rng.normal(size=(600, 2))
    mix = np.array([[1.0, 0.5, -0.3, 0.8, 0.1, -0.6], [0.2, -1.0, 0.7, 0.3, 0.9, 0.4]])
    normal = base @ mix + rng.normal(scale=0.05, size=(600, 6))
    normal[:300] += 3.0
    anomalies = rng.uniform(-6, 9, size=(30, 6))
    X = np.vstack([normal, anomalies]).astype(np.float32)
    y = np.r_[np.zeros(600, int), np.ones(30, int)]
    return X, y


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    """The shared benchmark data (DAGMM_DATA, else ../shared/datasets beside the project)."""
    env = os.environ.get("DAGMM_DATA")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "datasets"
    if not path.is_dir():
        pytest.skip(f"datasets folder {path} not found (set DAGMM_DATA)")
    return path
