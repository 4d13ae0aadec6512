"""Shape ops on GPU storage as strided copies: the element strides and offset of a view come
from applying the op's own NumPy implementation to a stand-in array (never read), so every
view rule (transpose, expand, slicing with steps, squeeze...) is NumPy's, written once."""
from __future__ import annotations

import numpy as np

from jitgrad._kernels.cuda import layout, runtime

from .. import prims
from ..core import Primitive


def basic(params: dict) -> bool:
    """Whether an op's index spec (if any) is basic: ints, slices, None, Ellipsis; no arrays."""
    if "spec" not in params:
        return True
    return not any(item[0] == "a" for item in params["spec"])


def copy_of_view(prim: Primitive, x, params: dict, shape: tuple):
    """A new contiguous array holding the view `prim` takes of x."""
    (view_shape, strides), offset = _geometry(prim, tuple(x.shape), params)
    return layout.strided_copy(x, shape, fit_strides(view_shape, strides, shape), offset)


def unindex(g, spec: tuple, shape: tuple, dtype: np.dtype):
    """Zeros of `shape` with g written where the basic index `spec` selects (getitem's adjoint)."""
    out = runtime.zeros(shape, dtype)
    (view_shape, strides), offset = _geometry(prims.GETITEM, shape, {"spec": spec})
    layout.strided_scatter(out, g, fit_strides(view_shape, strides, tuple(g.shape)), offset)
    return out


def _geometry(prim: Primitive, in_shape: tuple, params: dict) -> tuple[tuple, int]:
    """((view shape, element strides), offset) of the view `prim` takes of a C-contiguous array.
    Integer indices become one-element slices, so the result is always a view (NumPy returns
    a scalar copy for x[0, 1]); fit_strides drops the size-1 dims again."""
    if "spec" in params:
        spec = tuple(("s", it[1], (it[1] + 1) or None, 1) if it[0] == "i" else it for it in params["spec"])
        params = {**params, "spec": spec}
    return geometry_of(in_shape, lambda v: prim.impl(v, **params))


def fit_strides(view_shape: tuple, view_strides: tuple, shape: tuple) -> tuple:
    """Strides for `shape`, which is view_shape with size-1 dims dropped or added: the dims of
    size > 1 appear in the same order in both; size-1 dims take stride 0."""
    if tuple(view_shape) == tuple(shape):
        return tuple(view_strides)
    big = iter([st for n, st in zip(view_shape, view_strides) if n != 1])
    return tuple(next(big) if n != 1 else 0 for n in shape)


def geometry_of(in_shape: tuple, view) -> tuple[tuple, int]:
    """Apply a view-making NumPy function to a stand-in with C strides over a one-element buffer
    (never read) and read the result's shape, strides and offset in elements."""
    item = 8
    c_strides = []
    step = item
    for size in reversed(in_shape):
        c_strides.append(step)
        step *= max(size, 1)
    buffer = np.zeros(1, dtype=np.int64)
    stand_in = np.lib.stride_tricks.as_strided(buffer, tuple(in_shape), tuple(reversed(c_strides)),
                                               writeable=False)
    out = view(stand_in)
    if out.base is None and out.size > 0:
        raise AssertionError("internal error: a view primitive copied its input")
    offset = (out.__array_interface__["data"][0] - buffer.__array_interface__["data"][0]) // item
    return (tuple(out.shape), tuple(s // item for s in out.strides)), offset
