"""Vectorisable elementary functions for Numba (CPU) and CUDA device code.

Why: Numba lowers ``math.exp``/``math.sin``/... to scalar libm calls, and pip's
llvmlite ships no SVML, so a loop calling them never vectorises. Every function
here is written with arithmetic, FMAs, ``a if c else b`` selects and bit casts
only (Cody-Waite range reduction, near-minimax polynomials, exponent
construction by integer->float bit casting), so after LLVM inlines it into a
loop the loop vectorises (AVX2/AVX-512 on x86).

Usage from generated code::

    from jitgrad._kernels import vmath as vm

    @numba.njit(fastmath={'contract'}, error_model='numpy')
    def k(x, out):
        for i in range(x.size):
            out[i] = vm.tanh_f32(x[i])

Each op has a float32 (``*_f32``, computes in float32 at full SIMD width) and a
float64 (``*_f64``) version; :data:`FUNCTIONS` maps op names to them and
:func:`resolve` returns the dispatcher for a dtype. Compile callers with
``error_model='numpy'`` (Python's ZeroDivisionError check is a branch that
blocks vectorisation) and at most ``fastmath={'contract'}``; flags such as
``nnan``/``ninf`` (``fastmath=True``) let LLVM delete the NaN/inf selects.

Accuracy (see ``benchmarks/vmath_sweep.py``): float32 <= 2 ulp, float64 <= 4 ulp
against correctly rounded results, over the whole range; special values (+-0, +-inf, NaN,
subnormals, overflow/underflow thresholds) as NumPy. sin/cos/tan reduce their argument with
Cody-Waite (fast, vectorisable) below 2**17 (float32) / 2**20 (float64) and exactly beyond
(Payne-Hanek, ``_trig_big``; float32 goes through float64 there). That slow path is a branch,
and a branch with a call keeps a loop from vectorising, so each op also has a branch-free
``*_fast_*`` version (accurate below the bound, finite beyond) and ``trig_large_*`` (the range
check, 0 or 1): a loop max-reduces the check while it computes the fast versions and, only when the
result is not 0, runs again with the full-range functions -- what jitgrad's generated CPU loops
do (kernels/source.py); see ``FAST`` and ``LARGE_CHECK``. An FMA unit is
assumed (x86-64 since Haswell, every CUDA GPU); without one ``llvm.fma``
becomes a libm call.

CUDA: :func:`cuda_device` compiles the same Python source with
``numba.cuda.jit(device=True)`` (imported lazily); the bit casts and FMA are
generic-target overloads that lower to plain LLVM instructions, so they work
on the CUDA target and, as Python fallbacks, in the CUDA simulator. On GPUs
we RECOMMEND native ``math.*`` instead: it maps to libdevice, which is
vectorised per thread by construction, fast, and accurate (<= 2 ulp), and
CUDA's own ``__expf``-style intrinsics are there when speed matters more. Use
these device versions when bit-for-bit agreement with the CPU kernels matters
(for example to test a generated kernel on both back ends).
"""
from __future__ import annotations

import types as _pytypes
from pathlib import Path
from typing import Callable

import numpy as np
from numba.core.registry import CPUDispatcher

from ._f32 import (
    cos_f32,
    cos_fast_f32,
    erf_f32,
    exp2_f32,
    exp_f32,
    expm1_f32,
    log1p_f32,
    log2_f32,
    log_f32,
    pow_f32,
    rsqrt_f32,
    sigmoid_f32,
    sin_f32,
    sin_fast_f32,
    sqrt_f32,
    tan_f32,
    tan_fast_f32,
    tanh_f32,
    trig_large_f32,
)
from ._f64 import (
    cos_f64,
    cos_fast_f64,
    erf_f64,
    exp2_f64,
    exp_f64,
    expm1_f64,
    log1p_f64,
    log2_f64,
    log_f64,
    pow_f64,
    rsqrt_f64,
    sigmoid_f64,
    sin_f64,
    sin_fast_f64,
    sqrt_f64,
    tan_f64,
    tan_fast_f64,
    tanh_f64,
    trig_large_f64,
)
from ._prims import JIT_OPTIONS

__all__ = [
    'FUNCTIONS', 'ARITY', 'JIT_OPTIONS', 'resolve', 'cuda_device', 'exp_f32', 'exp_f64',
    'expm1_f32', 'expm1_f64', 'exp2_f32', 'exp2_f64', 'log_f32', 'log_f64', 'log1p_f32',
    'log1p_f64', 'log2_f32', 'log2_f64', 'sin_f32', 'sin_f64', 'cos_f32', 'cos_f64',
    'tan_f32', 'tan_f64', 'tanh_f32', 'tanh_f64', 'sigmoid_f32', 'sigmoid_f64', 'erf_f32',
    'erf_f64', 'pow_f32', 'pow_f64', 'sqrt_f32', 'sqrt_f64', 'rsqrt_f32', 'rsqrt_f64',
    'sin_fast_f32', 'sin_fast_f64', 'cos_fast_f32', 'cos_fast_f64', 'tan_fast_f32', 'tan_fast_f64',
    'trig_large_f32', 'trig_large_f64', 'FAST', 'LARGE_CHECK',
]

#: op name -> (float32 function name, float64 function name) in this module.
FUNCTIONS: dict[str, tuple[str, str]] = {
    op: (f'{op}_f32', f'{op}_f64') for op in (
        'exp', 'expm1', 'exp2', 'log', 'log1p', 'log2', 'sin', 'cos', 'tan',
        'tanh', 'sigmoid', 'erf', 'pow', 'sqrt', 'rsqrt')}

#: Ops whose full-range function branches to a slow exact path for large arguments (which keeps
#: a loop from vectorising) -> their vectorisable versions, accurate below the range check.
FAST: dict[str, tuple[str, str]] = {op: (f'{op}_fast_f32', f'{op}_fast_f64') for op in ('sin', 'cos', 'tan')}

#: The range check of FAST's functions: 1 where the fast version is inaccurate, else 0 (int32 for
#: float32, int64 for float64: as wide as the lanes, so the loop's max reduction vectorises).
LARGE_CHECK: tuple[str, str] = ('trig_large_f32', 'trig_large_f64')

#: Number of arguments of each op (pow is binary).
ARITY: dict[str, int] = {op: (2 if op == 'pow' else 1) for op in FUNCTIONS}


def _name(op: str, dtype) -> str:
    """Function name for op and a float32/float64 dtype."""
    dt = np.dtype(dtype)
    if dt == np.float32:
        return FUNCTIONS[op][0]
    if dt == np.float64:
        return FUNCTIONS[op][1]
    raise TypeError(f'vmath supports float32 and float64, not {dt}')


def resolve(name: str, dtype: np.dtype) -> Callable:
    """The njit dispatcher computing op ``name`` for ``dtype`` (float32/float64)."""
    return globals()[_name(name, dtype)]


_CUDA_CACHE: dict[int, object] = {}


def _cuda_compile(disp: CPUDispatcher):
    """CUDA device version of a vmath dispatcher, its callees rewired recursively."""
    key = id(disp)
    if key not in _CUDA_CACHE:
        from numba import cuda  # lazy: importing numba.cuda is slow and optional

        fn = disp.py_func
        glb = dict(fn.__globals__)
        for ref in fn.__code__.co_names:
            obj = glb.get(ref)
            if isinstance(obj, CPUDispatcher):
                glb[ref] = _cuda_compile(obj)
        clone = _pytypes.FunctionType(fn.__code__, glb, fn.__name__,
                                      fn.__defaults__, fn.__closure__)
        clone.__doc__ = fn.__doc__
        _CUDA_CACHE[key] = cuda.jit(device=True)(clone)
    return _CUDA_CACHE[key]


def cuda_device(name: str, dtype: np.dtype):
    """``numba.cuda.jit(device=True)`` version of op ``name`` for ``dtype``."""
    return _cuda_compile(resolve(name, dtype))


def _functions() -> list:
    """Every compiled function of the package (the public ops and the helpers they call)."""
    from . import _f32, _f64, _prims, _trig_big
    found: dict = {}
    for module in (_f32, _f64, _prims, _trig_big):
        for value in vars(module).values():
            if isinstance(value, CPUDispatcher) and value.py_func.__module__ == module.__name__:
                found[id(value)] = value
    return list(found.values())


def stamp(root: Path | None = None) -> str:
    """The hash of this package's sources (and what they import; `root`: another copy of the
    back end's folder): the disk-cache entries of its functions are valid for this value only
    (kernels.cache.cache_on_disk).

    >>> len(stamp())
    64
    """
    from .. import source_deps
    text = f"from {source_deps.PACKAGE} import vmath\n"
    return source_deps.dependency_digest(text) if root is None else source_deps.dependency_digest(text, root)


def _cache_functions_on_disk() -> None:
    from .. import cache
    cache.cache_on_disk(_functions(), stamp())


_cache_functions_on_disk()
