"""Deterministic reductions (sum/prod/max/min with a scale for mean) and arg-reductions. Fixed
order everywhere: each thread folds a fixed subset, then a shared-memory tree; no float atomics.
Strategies, chosen from the shape only: one block per output (reduced elements read coalesced),
one thread per output (small reductions, or a kept contiguous last axis with many outputs), and
for few outputs over many elements, partials per (output, chunk) then a second short pass."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import cuda  # noqa: F401  (module global: the simulator patches kernel globals)

from kernels.cuda import runtime
from kernels.cuda.elementwise import fill_into
from kernels.cuda.layout import _squeeze, contiguous_strides, flat

THREADS = runtime.REDUCE_THREADS  # power of two: block size of the shared-memory trees
_SMALL_R = 32                     # at most this many elements per output: one thread per output
_MIN_CHUNK = 4 * THREADS          # fewest elements per block worth a chunk of its own
_NAMES = {"sum": "sum", "prod": "product", "max": "maximum", "min": "minimum"}
_INT_MAX = {"int32": 2**31 - 1, "int64": 2**63 - 1}  # identities of min (and of max as -max - 1)
_kernels: dict = {}


def _acc_dtype(op: str, dtype: np.dtype) -> str:
    if op in ("sum", "prod"):
        return "float64" if dtype.kind == "f" else "int64"
    return "int32" if dtype == np.bool_ else dtype.name


def _identity(op: str, acc: str) -> str:
    if op == "sum":
        return f"np.{acc}(0)"
    if op == "prod":
        return f"np.{acc}(1)"
    if acc.startswith("float"):
        return f"np.{acc}({'-' if op == 'max' else ''}np.inf)"
    hi = _INT_MAX[acc]  # the lower limit written as -hi - 1: a literal -2**63 would type as uint64
    return f"np.{acc}({-hi} - 1)" if op == "max" else f"np.{acc}({hi})"


def _combine(op: str, a: str, b: str) -> str:
    if op == "sum":
        return f"{a} + {b}"
    if op == "prod":
        return f"{a} * {b}"
    cmp = ">=" if op == "max" else "<="
    return f"{a} if ({a} {cmp} {b} or {a} != {a}) else {b}"  # NaN propagates like NumPy


def _position(var: str, index: str, shape: str, strides: str, nd: int) -> list[str]:
    """Lines setting var = sum(unravel(index, shape)[d] * strides[d]) for a rank-nd space."""
    lines = [f"k_q = {index}", f"{var} = 0"]
    for d in range(nd - 1, 0, -1):
        lines.append(f"{var} += (k_q % {shape}[{d}]) * {strides}[{d}]")
        lines.append(f"k_q //= {shape}[{d}]")
    lines.append(f"{var} += k_q * {strides}[0]")
    return lines


def _indent(lines: list[str], n: int) -> str:
    return "\n".join(" " * n + line for line in lines)


def _source(op: str, acc: str, knd: int, rnd: int, final: bool, scale: bool, strategy: str) -> str:
    ident = _identity(op, acc)
    result = "k_acc * k_scale" if (final and scale) else "k_acc"
    head = f'''import math

import numpy as np
from numba import cuda

THREADS = {THREADS}

'''
    if strategy == "thread":
        body = [
            "k_p = k_job // k_nout",
            "k_o = k_job - k_p * k_nout",
            *_position("k_base", "k_o", "k_kshape", "k_kst", knd),
            f"k_acc = {ident}",
            "k_lo = k_p * k_chunk",
            "k_hi = k_lo + k_chunk if k_lo + k_chunk < k_n else k_n",  # numba.cuda can't type min(a, b)
            "for k_r in range(k_lo, k_hi):",
            *["    " + line for line in _position("k_pos", "k_r", "k_rshape", "k_rst", rnd)],
            f"    k_v = np.{acc}(k_x[k_base + k_pos])",
            f"    k_acc = {_combine(op, 'k_acc', 'k_v')}",
            f"k_out[k_job] = {result}",
        ]
        return head + f'''
@cuda.jit(cache=True)
def kernel(k_x, k_out, k_kshape, k_kst, k_rshape, k_rst, k_n, k_chunk, k_parts, k_scale):
    """One thread per (chunk, output) job: {op} in a fixed order, {acc} accumulator."""
    k_nout = k_out.size // k_parts
    for k_job in range(cuda.grid(1), k_out.size, cuda.gridsize(1)):
{_indent(body, 8)}
'''
    body = [
        "k_o = k_job // k_parts",
        "k_p = k_job - k_o * k_parts",
        *_position("k_base", "k_o", "k_kshape", "k_kst", knd),
        f"k_acc = {ident}",
        "k_lo = k_p * k_chunk",
        "k_hi = k_lo + k_chunk if k_lo + k_chunk < k_n else k_n",
        "for k_r in range(k_lo + k_tid, k_hi, THREADS):",
        *["    " + line for line in _position("k_pos", "k_r", "k_rshape", "k_rst", rnd)],
        f"    k_v = np.{acc}(k_x[k_base + k_pos])",
        f"    k_acc = {_combine(op, 'k_acc', 'k_v')}",
        "k_sm[k_tid] = k_acc",
        "cuda.syncthreads()",
        "k_s = THREADS // 2",
        "while k_s > 0:",
        "    if k_tid < k_s:",
        f"        k_sm[k_tid] = {_combine(op, 'k_sm[k_tid]', 'k_sm[k_tid + k_s]')}",
        "    cuda.syncthreads()",
        "    k_s //= 2",
        "if k_tid == 0:",
        "    k_acc = k_sm[0]",
        f"    k_out[k_job] = {result}",
        "cuda.syncthreads()",
    ]
    return head + f'''
@cuda.jit(cache=True)
def kernel(k_x, k_out, k_kshape, k_kst, k_rshape, k_rst, k_n, k_chunk, k_parts, k_scale):
    """One block per (output, chunk): {op} in a shared-memory tree, {acc} accumulator."""
    k_sm = cuda.shared.array(THREADS, np.{acc})
    k_tid = cuda.threadIdx.x
    for k_job in range(cuda.blockIdx.x, k_out.size, cuda.gridDim.x):
{_indent(body, 8)}
'''


def _kernel(op: str, dtype: np.dtype, acc: str, knd: int, rnd: int, final: bool, scale: bool, strategy: str):
    key = (op, dtype, acc, knd, rnd, final, scale, strategy)
    kernel = _kernels.get(key)
    if kernel is None:
        text = _source(op, acc, knd, rnd, final, scale, strategy)
        reason = f"reduce {op} {dtype.name} {knd}x{rnd} {strategy}"
        kernel = _kernels[key] = runtime.load_generated(text, reason).kernel
    return kernel


def _norm_axes(axes: Any, ndim: int) -> tuple[int, ...]:
    axes = tuple(sorted({int(a) % ndim if ndim else int(a) for a in axes}))
    if any(not 0 <= a < max(ndim, 1) for a in axes) or (ndim == 0 and axes):
        raise np.exceptions.AxisError(f"axes {axes} out of range for an array of rank {ndim}")
    return axes


def _out_shape(shape: tuple, axes: tuple, keepdim: bool) -> tuple[int, ...]:
    if keepdim:
        return tuple(1 if d in axes else n for d, n in enumerate(shape))
    return tuple(n for d, n in enumerate(shape) if d not in axes)


def reduce(x, op: str, axes: tuple[int, ...], keepdim: bool, out_dtype: Any, scale: float = 1.0):
    """op (sum/prod/max/min) of x over axes (() = none), times scale; deterministic order."""
    if op not in _NAMES:
        raise ValueError(f"reduce: unknown op {op!r}")
    shape = tuple(int(n) for n in x.shape)
    axes = _norm_axes(axes, len(shape))
    out_dtype = np.dtype(out_dtype)
    out = runtime.empty(_out_shape(shape, axes, keepdim), out_dtype)
    strides = contiguous_strides(shape)
    n_red = math.prod(shape[d] for d in axes)
    if n_red == 0 and op in ("max", "min"):
        raise ValueError(f"zero-size array to reduction operation {_NAMES[op]} which has no identity")
    n_out = out.size
    if n_out == 0:
        return out
    if n_red == 0:
        fill_into(out, (0 if op == "sum" else 1) * scale)
        return out
    kept = [d for d in range(len(shape)) if d not in axes]
    kshape, kst = _squeeze(tuple(shape[d] for d in kept), tuple(strides[d] for d in kept))
    rshape, rst = _squeeze(tuple(shape[d] for d in axes), tuple(strides[d] for d in axes))
    space = (kshape, kst, rshape, rst, n_red)
    acc = _acc_dtype(op, x.dtype)
    inner_kept = bool(shape) and (len(shape) - 1) not in axes
    if n_red <= _SMALL_R or inner_kept:
        # threads over outputs (coalesced when the last axis is kept); chunks of the reduced
        # space when outputs alone can't fill the device: partials laid out (parts, n_out)
        parts = 1 if n_red <= _SMALL_R else min(-(-runtime.resident_threads() // n_out), math.isqrt(n_red))
        parts = -(-n_red // -(-n_red // parts))
        strategy, layout = "thread", ((n_out,), (1,), (parts,), (n_out,))
    else:
        # a block per output reads the reduced (innermost) space coalesced; chunks of it when
        # there are fewer outputs than blocks to fill the device: partials laid out (n_out, parts)
        parts = min(-(-runtime.reduce_blocks(1 << 30) // n_out), -(-n_red // _MIN_CHUNK))
        parts = -(-n_red // -(-n_red // max(parts, 1)))
        strategy, layout = "block", ((n_out,), (parts,), (parts,), (1,))
    if parts <= 1:
        _run(op, x, out, acc, space, 1, scale, True, strategy)
        return out
    partial = runtime.empty((n_out * parts,), np.dtype(acc))
    _run(op, x, partial, acc, space, parts, 1.0, False, strategy)
    second = "thread" if (strategy == "thread" and n_out >= THREADS) else "block"
    _run(op, partial, out, acc, (*layout, parts), 1, scale, True, second)
    return out


def _run(op: str, x, out, acc: str, space: tuple, parts: int, scale: float, final: bool, strategy: str) -> None:
    """Launch one pass: out (flat, n_out * parts jobs) from x over space (kept/reduced shapes)."""
    kshape, kst, rshape, rst, n_red = space
    chunk = -(-n_red // parts)
    has_scale = final and scale != 1.0
    kernel = _kernel(op, x.dtype, acc, len(kshape), len(rshape), final, has_scale, strategy)
    jobs = out.size
    if strategy == "thread":
        cfg = runtime.launch(kernel, jobs)
    else:
        cfg = runtime.configure(kernel, runtime.reduce_blocks(jobs), THREADS)
    cfg(flat(x), flat(out), kshape, kst, rshape, rst, n_red, chunk, parts, float(scale))


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
