"""Where the CUDA tests (tests/cuda) run: under Numba's simulator (NUMBA_ENABLE_CUDASIM=1, as
.ci/run does) or, without the simulator, on a real CUDA GPU when one is usable. `needs_cuda`
skips a module otherwise; `simulator_only` marks the few tests that check simulator behaviour."""
from __future__ import annotations

import os

import pytest

SIMULATED = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"


def _real_gpu() -> bool:
    if SIMULATED:
        return False
    try:
        from numba import cuda
        return bool(cuda.is_available())
    except Exception:  # noqa: BLE001 - no numba.cuda, no driver: no GPU
        return False


ON_CUDA = SIMULATED or _real_gpu()
needs_cuda = pytest.mark.skipif(not ON_CUDA, reason="needs NUMBA_ENABLE_CUDASIM=1 (Numba's CUDA simulator) "
                                                   "or a usable CUDA GPU")
simulator_only = pytest.mark.skipif(not SIMULATED, reason="checks behaviour of Numba's CUDA simulator")
real_gpu_only = pytest.mark.skipif(SIMULATED or not ON_CUDA, reason="needs a real CUDA GPU (device pointers)")
