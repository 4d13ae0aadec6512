"""Every op-table case on the GPU: eager CUDA kernels and compiled (fused numba.cuda) mode give
the CPU eager values and gradients. Runs under Numba's simulator in CI (tiny shapes):

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda
"""
import warnings

import numpy as np
import pytest
from gpu_targets import needs_cuda
from helpers import GPU_MODES, check_modes
from op_table import CASES, TRACED_MASK_CASES, jitgrad_fn, make_inputs
from op_table_conv import HOST_FALLBACK_CASES as CONV_ON_HOST
from op_table_reduce import HOST_FALLBACK_CASES as SCANS_ON_HOST

pytestmark = needs_cuda

# Primitives with no kernel inside compiled CUDA programs: a program splits there and runs the
# op's eager GPU path in between. Only the traced boolean masks (their count/compact kernels are
# CPU-only so far); every other op of the table runs inside the program.
NO_CUDA_PROGRAM_KERNEL = frozenset({"mask_select", "mask_scatter"})


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_gpu_matches_cpu(case, monkeypatch):
    """GPU eager and GPU compiled give the CPU eager values and gradients (float64), every op on
    GPU kernels (a host fallback would raise here) and every compiled GPU function one program
    (an interpreter fallback would raise, outside NO_CUDA_PROGRAM_KERNEL)."""
    from jitgrad import executable
    from jitgrad.cuda.eager import HostFallbackWarning

    monkeypatch.setattr(executable, "_warned_fallbacks", set())
    modes = ["eager", "cuda-eager"] if case.eager_only else GPU_MODES
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # traced masks: no GPU kernels yet (conv, pooling, scans and sorts have theirs)
        if case.name not in CONV_ON_HOST | SCANS_ON_HOST | TRACED_MASK_CASES:
            warnings.simplefilter("error", HostFallbackWarning)
        check_modes(jitgrad_fn(case), make_inputs(case, np.float64), rtol=1e-9, atol=1e-11, modes=modes)
    split = [str(w.message) for w in caught if issubclass(w.category, executable.InterpreterFallbackWarning)
             and not any(f"'{name}'" in str(w.message) for name in NO_CUDA_PROGRAM_KERNEL)]
    assert not split, f"{case.name}: compiled GPU programs split at {split}"
