"""Scan and ordering primitives (part of prims.ALL), each declared once: cumsum and cumprod
along one dim, and the stable argsort that sort, topk, argsort and median are built on (their
values are a gather, so their gradients are gather's).

On the CPU, compiled mode runs them as library calls inside the one program (kernels/scans.py:
sequential scans in the result dtype, as NumPy's, and a stable merge sort). The VJP rules
are written with Tensor methods, so this module needs nothing declared after it; the public
wrappers are in reduce_ops.py.
"""
from __future__ import annotations

import numpy as np

from . import dtypes
from .core import OTHER, Primitive, bind
from .prims_device import constant_like
from .prims_elementwise import quiet

# Scans over at most this many elements differentiate cumprod exactly to every order, zeros
# included (through an n x n intermediate); longer ones use reverse_cumsum(g * out) / x, exact
# where no element of the scan is 0.
CUMPROD_EXACT_MAX = 64


def _scan_rule(x, dim):
    dt = x.dtype if dtypes.is_floating(x.dtype) else dtypes.int64
    return x.shape, dt


def _reverse_cumsum(g, dim):
    """sum_{j >= i} g_j along dim: the VJP of cumsum (total - prefix + own term)."""
    return g.sum(dim, keepdim=True) - bind(CUMSUM, g, dim=dim) + g


def _cumsum_vjp(g, out, x, dim):
    return ((g,) if x.ndim == 0 else (_reverse_cumsum(g, dim),))  # (a 0-d scan is its input)


def _cumprod_vjp(g, out, x, dim):
    n = x.shape[dim] if x.ndim else 1
    if n <= 1:
        return (g,)
    if n > CUMPROD_EXACT_MAX:
        return (_reverse_cumsum(g * out, dim) / x,)
    # d out_j / d x_i = prod_{k <= j, k != i} x_k for i <= j: row i of an n x n matrix holds the
    # cumprod of x with x_i replaced by 1, masked to j >= i; gx_i = sum_j g_j * that.
    moved = dim != x.ndim - 1
    last = x.transpose(dim, -1) if moved else x
    rows = last.unsqueeze(-2).expand(*last.shape[:-1], n, n)
    others = bind(CUMPROD, rows.where(constant_like(~np.eye(n, dtype=bool), dtypes.bool_, x), 1.0), dim=x.ndim)
    g_last = g.transpose(dim, -1) if moved else g
    upper = constant_like(np.triu(np.ones((n, n), dtype=bool)), dtypes.bool_, x)
    local = (others * g_last.unsqueeze(-2)).where(upper, 0.0).sum(-1)
    return (local.transpose(dim, -1) if moved else local,)


def _scan(np_scan):
    """A scan along dim in jitgrad's result dtypes; a 0-d input scans as its one element (PyTorch)."""
    def impl(x, dim):
        dtype = None if dtypes.is_floating(x.dtype) else np.int64
        return np.array(x, dtype=dtype) if x.ndim == 0 else np_scan(x, axis=dim, dtype=dtype)
    return impl


_cumsum_impl = _scan(np.cumsum)
_cumprod_impl = _scan(np.cumprod)


CUMSUM = Primitive("cumsum", quiet(_cumsum_impl), _scan_rule, _cumsum_vjp, OTHER, "CumsumBackward0",
                   params=("dim",))
CUMPROD = Primitive("cumprod", quiet(_cumprod_impl), _scan_rule, _cumprod_vjp, OTHER, "CumprodBackward0",
                    params=("dim",))


def _argsort_impl(x, dim, descending):
    """Stable order along dim; NaN sorts as the largest value (first when descending), as in PyTorch."""
    if not descending:
        return np.argsort(x, axis=dim, kind="stable")
    if x.dtype == np.bool_:
        key = ~x
    elif dtypes.is_floating(x.dtype):
        key = np.where(np.isnan(x), -np.inf, -x)
        # -x of +inf is -inf too: NaN must still come first, so rank by (not NaN, -x).
        nan_first = np.argsort(key, axis=dim, kind="stable")
        keys_sorted = np.take_along_axis(~np.isnan(x), nan_first, axis=dim)
        return np.take_along_axis(nan_first, np.argsort(keys_sorted, axis=dim, kind="stable"), axis=dim)
    else:
        key = -x.astype(np.int64)
    return np.argsort(key, axis=dim, kind="stable")


ARGSORT = Primitive("argsort", _argsort_impl, lambda x, dim, descending: (x.shape, dtypes.int64), None, OTHER, "",
                    params=("dim", "descending"))

SCAN_PRIMS = (CUMSUM, CUMPROD, ARGSORT)
