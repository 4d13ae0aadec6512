"""Scans and the stable sort along one dim: cumsum/cumprod (sequential, in the result dtype,
as NumPy's cumsum/cumprod compute them, so compiled equals eager bit for bit) and argsort
(a stable merge sort; NaN sorts as the largest value, first when descending, as in PyTorch).

The input is viewed as (pre, n, post) with the scanned dim in the middle, so one kernel
serves every rank and dim; calls render as one line of the generated function."""
from __future__ import annotations

import numba
import numpy as np

from .spec import Array, Call


@numba.njit(cache=True, error_model="numpy")
def scan_along(x3, out3, multiply):
    """out3[p, :, q] = running sum (or product) of x3[p, :, q], accumulated in out3's dtype."""
    pre, n, post = x3.shape
    for p in range(pre):
        for q in range(post):
            for j in range(n):
                out3[p, j, q] = x3[p, j, q]  # (cast to the result dtype first, as NumPy does)
            for j in range(1, n):
                if multiply:
                    out3[p, j, q] = out3[p, j - 1, q] * out3[p, j, q]
                else:
                    out3[p, j, q] = out3[p, j - 1, q] + out3[p, j, q]


@numba.njit(cache=True)
def _before(a, b, descending):
    """Whether value a sorts strictly before b (NaN is the largest value)."""
    if descending:
        return (a != a and b == b) or a > b
    return (b != b and a == a) or a < b


@numba.njit(cache=True)
def argsort_along(x3, descending):
    """The stable sorting order of each x3[p, :, q] (bottom-up merge sort over positions)."""
    pre, n, post = x3.shape
    out = np.empty((pre, n, post), np.int64)
    order = np.empty(n, np.int64)
    scratch = np.empty(n, np.int64)
    for p in range(pre):
        for q in range(post):
            for j in range(n):
                order[j] = j
            width = 1
            while width < n:
                lo = 0
                while lo < n:
                    mid = min(lo + width, n)
                    hi = min(lo + 2 * width, n)
                    i, k, t = lo, mid, lo
                    while i < mid and k < hi:
                        # take from the right run only when it is strictly first: equal keys keep their order
                        if _before(x3[p, order[k], q], x3[p, order[i], q], descending):
                            scratch[t] = order[k]
                            k += 1
                        else:
                            scratch[t] = order[i]
                            i += 1
                        t += 1
                    while i < mid:
                        scratch[t] = order[i]
                        i += 1
                        t += 1
                    while k < hi:
                        scratch[t] = order[k]
                        k += 1
                        t += 1
                    lo = hi
                for j in range(n):
                    order[j] = scratch[j]
                width *= 2
            for j in range(n):
                out[p, j, q] = order[j]
    return out


OPS = ("scan", "argsort")


def call_source(step: Call, arrays: dict[str, Array]) -> str:
    """A scan (params: (pre, n, post) view, multiply) or argsort (params: view, descending)."""
    x = step.inputs[0]
    out = arrays[step.output]
    view, flag = step.params
    o = step.output
    x3 = f"np.ascontiguousarray({x}).reshape({tuple(view)!r})"
    if step.op == "scan":
        return (f"{o} = np.empty({tuple(out.shape)!r}, np.{out.dtype})\n"
                f"lib.scan_along({x3}, {o}.reshape({tuple(view)!r}), {bool(flag)})")
    if step.op == "argsort":
        return f"{o} = lib.argsort_along({x3}, {bool(flag)}).reshape({tuple(out.shape)!r})"
    raise ValueError(f"unknown scan op {step.op!r}; known: {OPS}")
