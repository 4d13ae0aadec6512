"""Every op-table case on the GPU: eager CUDA kernels and compiled (fused numba.cuda) mode give
the CPU eager values and gradients. Runs under Numba's simulator in CI (tiny shapes):

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda
"""
import warnings

import numpy as np
import pytest
from gpu_targets import needs_cuda
from helpers import GPU_MODES, check_modes
from op_table import CASES, jitgrad_fn, make_inputs
from op_table_conv import HOST_FALLBACK_CASES as CONV_ON_HOST
from op_table_reduce import HOST_FALLBACK_CASES as SCANS_ON_HOST

pytestmark = needs_cuda


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_gpu_matches_cpu(case, monkeypatch):
    """GPU eager and GPU compiled give the CPU eager values and gradients (float64), every op on
    GPU kernels (a host fallback would raise here, traced boolean masks included) and every
    compiled GPU function one program, or for a traced mask two split at its count (an
    interpreter fallback would raise)."""
    from jitgrad import executable
    from jitgrad.cuda.eager import HostFallbackWarning

    monkeypatch.setattr(executable, "_warned_fallbacks", set())
    modes = ["eager", "cuda-eager"] if case.eager_only else GPU_MODES
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if case.name not in CONV_ON_HOST | SCANS_ON_HOST:  # (both empty: every op has its GPU kernels)
            warnings.simplefilter("error", HostFallbackWarning)
        check_modes(jitgrad_fn(case), make_inputs(case, np.float64), rtol=1e-9, atol=1e-11, modes=modes)
    split = [str(w.message) for w in caught if issubclass(w.category, executable.InterpreterFallbackWarning)]
    assert not split, f"{case.name}: compiled GPU programs split at {split}"
