"""Comparing floats computed twice: exact on the CPU, to float32 round-off on a GPU."""

from __future__ import annotations

import numpy as np

#: How far two float32 GPU computations of the same values may lie apart: cuBLAS picks
#: its matrix kernels (and their order of summing) by the shapes, so a batch of another
#: size, or a network stacked with others, sums differently. Measured on an H100,
#: 2026-12-05: 4.8e-6 apart on energies near 20, 3e-7 on z, 1.7e-7 relative on means.
GPU_RTOL = GPU_ATOL = 1e-5


def assert_same_floats(actual, desired, device, *, rtol: float = 0.0) -> None:
    """``actual == desired`` to ``rtol`` on the CPU (the default: digit for digit, as
    its kernels sum a row the same way in any batch); to :data:`GPU_RTOL` on CUDA."""
    if str(device).startswith("cuda"):
        np.testing.assert_allclose(actual, desired, rtol=max(rtol, GPU_RTOL), atol=GPU_ATOL)
    else:
        np.testing.assert_allclose(actual, desired, rtol=rtol, atol=0.0)
