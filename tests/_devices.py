"""Comparing floats computed twice: exact on the CPU, to float32 round-off on a GPU
(and on a CPU without AVX-512, when the two came from batches of other rows)."""

from __future__ import annotations

import numpy as np

from dagmm import network

#: How far two float32 GPU computations of the same values may lie apart: cuBLAS picks
#: its matrix kernels (and their order of summing) by the shapes, so a batch of another
#: size, or a network stacked with others, sums differently. Measured on an H100,
#: 2026-12-05: 4.8e-6 apart on energies near 20, 3e-7 on z, 1.7e-7 relative on means.
GPU_RTOL = GPU_ATOL = 1e-5


#: Whether this CPU gives a row the same floats in batches of any size or make-up. So on
#: the AVX-512 VMs measured (numpy's AVX-512 tanh, OpenBLAS's SkylakeX kernels); not on an
#: AVX2 one (a Zen 3 VM, 2026-12-06), where OpenBLAS's Haswell kernels sum a row's matrix
#: product in another order for another number of rows, and (without numba) torch's
#: sigmoid, the tanh there (:func:`dagmm.network.tanh_`), leaves a call's last elements
#: to a scalar kernel that rounds differently: 1.7e-7 apart on z, up to 9.4e-6 on
#: energies near 1. The compiled tanh numba gives does not depend on the position.
CPU_BATCH_EXACT = network._NUMPY_SIMD_TANH
#: How far apart a CPU without :data:`CPU_BATCH_EXACT` puts a row in two batches.
CPU_BATCH_RTOL, CPU_BATCH_ATOL = 1e-5, 1e-4


def assert_same_floats(
    actual, desired, device, *, rtol: float = 0.0, across_batches: bool = False
) -> None:
    """``actual == desired`` to ``rtol`` on the CPU (the default: digit for digit); to
    :data:`GPU_RTOL` on CUDA. ``across_batches``: the two were computed in batches of
    other rows (chunks of another size, a network stacked with others), which on a CPU
    without :data:`CPU_BATCH_EXACT` round to :data:`CPU_BATCH_RTOL` and ``_ATOL``."""
    if str(device).startswith("cuda"):
        np.testing.assert_allclose(actual, desired, rtol=max(rtol, GPU_RTOL), atol=GPU_ATOL)
    elif across_batches and not CPU_BATCH_EXACT:
        np.testing.assert_allclose(
            actual, desired, rtol=max(rtol, CPU_BATCH_RTOL), atol=CPU_BATCH_ATOL
        )
    else:
        np.testing.assert_allclose(actual, desired, rtol=rtol, atol=0.0)
