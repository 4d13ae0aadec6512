"""CUDA-simulator tests of kernels.vmath.cuda_device (run with NUMBA_ENABLE_CUDASIM=1).

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda/test_vmath_cuda.py
"""
import warnings

import numpy as np
import pytest
from gpu_targets import ON_CUDA, needs_cuda

pytestmark = needs_cuda
if ON_CUDA:
    from numba import cuda  # module global: the simulator patches kernel globals


@pytest.mark.parametrize('dtype', [np.float32, np.float64], ids=['f32', 'f64'])
def test_device_functions_match_cpu(dtype):
    """Every cuda_device() version agrees with the CPU kernel within 1 ulp on a small sample."""
    from jitgrad._kernels import vmath as vm

    rng = np.random.default_rng(0)
    warnings.simplefilter('ignore')
    for op in vm.FUNCTIONS:
        dev = vm.cuda_device(op, dtype)
        x = np.concatenate([rng.uniform(-5, 5, 6), [0.0, -0.0, np.inf, np.nan]]).astype(dtype)
        y = rng.uniform(-3, 3, x.size).astype(dtype)
        if op in ('log', 'log2', 'sqrt', 'rsqrt', 'pow'):
            x = np.abs(x)
        out = np.zeros_like(x)
        cpu_f = vm.resolve(op, dtype)
        if vm.ARITY[op] == 1:
            @cuda.jit
            def k1(x, out):
                i = cuda.grid(1)
                if i < x.size:
                    out[i] = dev(x[i])  # noqa: B023 (compiled immediately)
            k1[1, 32](x, out)
            cpu = np.array([cpu_f(v) for v in x], dtype)
        else:
            @cuda.jit
            def k2(x, y, out):
                i = cuda.grid(1)
                if i < x.size:
                    out[i] = dev(x[i], y[i])  # noqa: B023
            k2[1, 32](x, y, out)
            cpu = np.array([cpu_f(a, b) for a, b in zip(x, y, strict=True)], dtype)
        same = (out == cpu) | (np.isnan(out) & np.isnan(cpu))
        with np.errstate(all='ignore'):
            diff = np.abs(out.astype(np.float64) - cpu) / np.spacing(np.abs(cpu))
        assert np.all(same | (diff <= 1)), (op, x, out, cpu)


@pytest.mark.parametrize('dtype', [np.float32, np.float64], ids=['f32', 'f64'])
def test_trig_of_large_arguments_matches_cpu(dtype):
    """The exact range reduction (one source for both targets) gives the CPU's results on the
    device too, up to the largest finite value."""
    from jitgrad._kernels import vmath as vm

    warnings.simplefilter('ignore')
    x = np.array([2767877888.0, -1e22, 2.0**40 + 3, -123456789.0, 1.5, 3.0e38], dtype)
    for op in ('sin', 'cos', 'tan'):
        dev = vm.cuda_device(op, dtype)

        @cuda.jit
        def k(x, out):
            i = cuda.grid(1)
            if i < x.size:
                out[i] = dev(x[i])  # noqa: B023 (compiled immediately)
        out = np.zeros_like(x)
        k[1, 32](x, out)
        cpu_f = vm.resolve(op, dtype)
        cpu = np.array([cpu_f(v) for v in x], dtype)
        with np.errstate(all='ignore'):
            diff = np.abs(out.astype(np.float64) - cpu) / np.spacing(np.abs(cpu))
        assert np.all((out == cpu) | (diff <= 1)), (op, x, out, cpu)
