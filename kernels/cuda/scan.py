"""CUDA kernels for the scan and ordering primitives of jitgrad/prims_scan.py, on a contiguous
array viewed as (pre, n, post) lines along the scanned dim:

- cumsum / cumprod: one thread per line, adding (multiplying) in index order in the result
  dtype, as NumPy's sequential scan does, so results equal the CPU's bit for bit;
- argsort (stable; NaN sorts as the largest value, first when descending, as in PyTorch): one
  thread per element counts the elements of its line that come before it (a smaller key, or an
  equal key at a lower index) and writes its index at that rank. O(n) per element: the work is
  n^2 per line, all in parallel, with no sorting network or atomics; meant for the short lines
  sort/topk/median see (long lines would want a merge sort).
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda  # module global: the simulator patches kernel globals

from . import runtime
from .layout import flat


@cuda.jit(cache=True)
def _scan(x, out, lines, n, post, multiply):
    for line in range(cuda.grid(1), lines, cuda.gridsize(1)):
        first = (line // post) * n * post + line % post
        out[first] = x[first]
        acc = out[first]
        for j in range(1, n):
            at = first + j * post
            acc = acc * x[at] if multiply else acc + x[at]
            out[at] = acc


@cuda.jit(device=True)
def _before(a, ia, b, ib, descending):
    """Element (a at ia) sorts before (b at ib): NaN is the largest value; ties keep index order."""
    a_nan = a != a
    b_nan = b != b
    if a_nan or b_nan:
        if a_nan and b_nan:
            return ia < ib
        return a_nan if descending else b_nan
    if a == b:
        return ia < ib
    return a > b if descending else a < b


@cuda.jit(cache=True)
def _argsort(x, out, n, post, descending):
    for e in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        i = (e // post) % n
        first = e - i * post
        v = x[e]
        rank = 0
        for j in range(n):
            if j != i and _before(x[first + j * post], j, v, i, descending):
                rank += 1
        out[first + rank * post] = i


def _lines(shape: tuple, dim: int) -> tuple[int, int]:
    n = int(shape[dim])
    post = math.prod(int(s) for s in shape[dim + 1:])
    return n, post


def scan(x, dim: int, out_dtype, multiply: bool):
    """cumsum (or cumprod when `multiply`) of x along dim, in out_dtype; a 0-d x is its element."""
    shape = tuple(int(s) for s in x.shape)
    out = runtime.empty(shape, np.dtype(out_dtype))
    if not shape:
        shape, dim = (1,), 0
    n, post = _lines(shape, dim % len(shape))
    if out.size:
        lines = out.size // n
        runtime.launch(_scan, lines)(flat(x), flat(out), lines, n, max(post, 1), bool(multiply))
    return out


def argsort(x, dim: int, descending: bool):
    """Stable int64 argsort of x along dim."""
    shape = tuple(int(s) for s in x.shape)
    out = runtime.empty(shape, np.int64)
    if not shape:
        runtime.fill_into(out, 0)
        return out
    n, post = _lines(shape, dim % len(shape))
    if out.size:
        keys = x if x.dtype != np.bool_ else _as_int(x)
        runtime.launch(_argsort, out.size)(flat(keys), flat(out), n, max(post, 1), bool(descending))
    return out


def _as_int(x):
    from .elementwise import elementwise
    return elementwise("np.int32(x0)", [x], tuple(x.shape), np.dtype(np.int32))


def run(name: str, datas: list, params: dict, dtype):
    """Run the primitive `name` (cumsum, cumprod or argsort) with its declared params."""
    x = datas[0]
    if name == "argsort":
        return argsort(x, params["dim"], params["descending"])
    return scan(x, params["dim"], dtype, name == "cumprod")


PRIMS = ("cumsum", "cumprod", "argsort")
