"""Eager GPU reductions. A plain reduction (a row of kernels.reductions: sum, prod, max, min, ...,
with a scale for mean) is a one-loop spec.Program rendered by THE CUDA reduction generator,
kernels/cuda/loops.py, the same one compiled programs use (its strategies and thresholds): one
program per (op, dtypes, canonical shape, scale), kept in memory. The arg-reductions below (first
index of the extremum, NaN wins) are the index-carrying kernel. All deterministic: fixed order,
no float atomics."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import cuda  # noqa: F401  (module global: the simulator patches kernel globals)

from .. import reductions
from ..spec import Array, Load, Loop, Program, Reduce
from . import program, runtime
from .layout import flat

THREADS = runtime.REDUCE_THREADS  # power of two: block size of the arg-reductions' shared-memory trees
_NAMES = {"sum": "sum", "prod": "product", "max": "maximum", "min": "minimum"}
_kernels: dict = {}
_programs: dict = {}


def _norm_axes(axes: Any, ndim: int) -> tuple[int, ...]:
    axes = tuple(sorted({int(a) % ndim if ndim else int(a) for a in axes}))
    if any(not 0 <= a < max(ndim, 1) for a in axes) or (ndim == 0 and axes):
        raise np.exceptions.AxisError(f"axes {axes} out of range for an array of rank {ndim}")
    return axes


def _out_shape(shape: tuple, axes: tuple, keepdim: bool) -> tuple[int, ...]:
    if keepdim:
        return tuple(1 if d in axes else n for d, n in enumerate(shape))
    return tuple(n for d, n in enumerate(shape) if d not in axes)


def _canonical(shape: tuple, axes: tuple) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The same reduction over fewer dims: size-1 dims dropped, neighbouring dims that are both
    kept or both reduced merged (C order is unchanged), so shapes that differ only there share
    one program."""
    merged: list[list] = []  # [size, reduced]
    for d, n in enumerate(shape):
        if n == 1:
            continue
        reduced = d in axes
        if merged and merged[-1][1] == reduced:
            merged[-1][0] *= n
        else:
            merged.append([n, reduced])
    return tuple(m[0] for m in merged), tuple(i for i, m in enumerate(merged) if m[1])


def program_spec(op: str, in_dtype: np.dtype, out_dtype: np.dtype, shape: tuple, axes: tuple,
                 scale: float) -> Program:
    """The one-loop program reducing a contiguous `shape` over `axes` into `out` (kept dims only)."""
    kept = tuple(n for d, n in enumerate(shape) if d not in axes)
    loop = Loop(shape, (Load("v", "x"),), (), reduces=(Reduce("out", op, "v", axes, scale, op),))
    return Program(f"reduce_{op}", (Array("x", shape, in_dtype.name),), ("out",),
                   temporaries=(Array("out", kept, out_dtype.name),), steps=(loop,),
                   notes=(f"eager {op} of {in_dtype.name}{list(shape)} over {list(axes)}",))


def _program(op: str, in_dtype: np.dtype, out_dtype: np.dtype, shape: tuple, axes: tuple, scale: float):
    """The compiled program_spec (kept in memory per key)."""
    key = (op, in_dtype, out_dtype, shape, axes, scale)
    fn = _programs.get(key)
    if fn is None:
        spec = program_spec(op, in_dtype, out_dtype, shape, axes, scale)
        fn = _programs[key] = program.compile_program(spec, f"reduce {op} {in_dtype.name}").fn
    return fn


def reduce(x, op: str, axes: tuple[int, ...], keepdim: bool, out_dtype: Any, scale: float = 1.0):
    """op (a row of kernels.reductions) of x over axes (() = none), times scale; deterministic order."""
    reductions.row(op)
    shape = tuple(int(n) for n in x.shape)
    axes = _norm_axes(axes, len(shape))
    out_dtype = np.dtype(out_dtype)
    out_shape = _out_shape(shape, axes, keepdim)
    n_red = math.prod(shape[d] for d in axes)
    if n_red == 0 and op in ("max", "min"):
        raise ValueError(f"zero-size array to reduction operation {_NAMES[op]} which has no identity")
    if math.prod(out_shape) == 0:
        return runtime.empty(out_shape, out_dtype)
    if n_red == 0:
        out = runtime.empty(out_shape, out_dtype)
        runtime.fill_into(out, reductions.identity_value(op, out_dtype.name) * scale)
        return out
    cshape, caxes = _canonical(shape, axes)
    (out,) = _program(op, np.dtype(x.dtype), out_dtype, cshape, caxes, float(scale))(x.reshape(cshape))
    return out.reshape(out_shape) if tuple(out.shape) != out_shape else out


# ---------------------------------------------------------------------------------------------
# arg-reductions: first index of the extremum along one axis, NaN wins (NumPy's argmax/argmin)

def _arg_source(op: str, val: str) -> str:
    cmp = ">" if op == "max" else "<"
    return f'''import numpy as np
from numba import cuda

THREADS = {THREADS}


@cuda.jit(device=True)
def better(vb, ib, va, ia):
    """(vb, ib) beats (va, ia): NaN first, then the {op}imum, then the lower index; -1 is empty."""
    if ib < 0:
        return False
    if ia < 0:
        return True
    a_nan = va != va
    if vb != vb:
        return (not a_nan) or ib < ia
    if a_nan:
        return False
    if vb {cmp} va:
        return True
    return vb == va and ib < ia


@cuda.jit(cache=True)
def kernel(k_x, k_vals, k_idx, k_n, k_post):
    """One block per output of a (pre, n, post) array: arg{op} over n in a shared-memory tree."""
    k_sv = cuda.shared.array(THREADS, np.{val})
    k_si = cuda.shared.array(THREADS, np.int64)
    k_tid = cuda.threadIdx.x
    for k_o in range(cuda.blockIdx.x, k_vals.size, cuda.gridDim.x):
        k_base = (k_o // k_post) * (k_n * k_post) + (k_o % k_post)
        k_bv = np.{val}(0)
        k_bi = -1
        for k_r in range(k_tid, k_n, THREADS):
            k_v = np.{val}(k_x[k_base + k_r * k_post])
            if better(k_v, k_r, k_bv, k_bi):
                k_bv = k_v
                k_bi = k_r
        k_sv[k_tid] = k_bv
        k_si[k_tid] = k_bi
        cuda.syncthreads()
        k_s = THREADS // 2
        while k_s > 0:
            if k_tid < k_s and better(k_sv[k_tid + k_s], k_si[k_tid + k_s], k_sv[k_tid], k_si[k_tid]):
                k_sv[k_tid] = k_sv[k_tid + k_s]
                k_si[k_tid] = k_si[k_tid + k_s]
            cuda.syncthreads()
            k_s //= 2
        if k_tid == 0:
            k_vals[k_o] = k_sv[0]
            k_idx[k_o] = k_si[0]
        cuda.syncthreads()
'''


def arg_reduce(x, op: str, axis: int, keepdim: bool):
    """(values, int64 indices) of the max/min along axis: first extremum, NaN wins."""
    if op not in ("max", "min"):
        raise ValueError(f"arg_reduce: op must be 'max' or 'min', got {op!r}")
    shape = tuple(int(n) for n in x.shape)
    if not shape:
        shape, axis = (1,), 0
        x = x.reshape(1)
        keepdim = False
    (axis,) = _norm_axes((axis,), len(shape))
    n = shape[axis]
    out_shape = _out_shape(shape, (axis,), keepdim)
    if n == 0:
        raise ValueError(f"attempt to get arg{op} of an empty sequence")
    vals = runtime.empty(out_shape, x.dtype)
    idx = runtime.empty(out_shape, np.int64)
    if vals.size == 0:
        return vals, idx
    val = "int32" if x.dtype == np.bool_ else x.dtype.name
    key = ("arg", op, val)
    kernel = _kernels.get(key)
    if kernel is None:
        kernel = _kernels[key] = runtime.load_generated(_arg_source(op, val), f"arg{op} {val}").kernel
    post = math.prod(shape[axis + 1:])
    runtime.configure(kernel, runtime.reduce_blocks(vals.size), THREADS)(flat(x), flat(vals), flat(idx), n, post)
    return vals, idx
