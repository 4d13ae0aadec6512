"""Layout kernels on contiguous device arrays: strided gather (transpose, permute, expand, slicing,
reshape), strided scatter (slice assignment and its adjoint) and concatenate. Strides are in
elements, may be 0 or negative; one grid-stride kernel per rank (numba specialises on tuple length)."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from numba import cuda  # module global: the simulator patches kernel globals

from . import runtime


@cuda.jit(device=True)
def _position(i, shape, strides, offset):
    """offset + sum(unravel(i, shape)[d] * strides[d]): where flat element i of a strided view lies."""
    ndim = len(shape)
    rem = i
    pos = offset
    for j in range(ndim):
        d = ndim - 1 - j
        pos += (rem % shape[d]) * strides[d]
        rem //= shape[d]
    return pos


@cuda.jit(cache=True)
def _gather(src, out, shape, strides, offset):
    """out[i] = src[position(i)] over flat 1-D views."""
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = src[_position(i, shape, strides, offset)]


@cuda.jit(cache=True)
def _scatter(dst, src, shape, strides, offset):
    """dst[position(i)] = src[i] over flat 1-D views."""
    for i in range(cuda.grid(1), src.size, cuda.gridsize(1)):
        dst[_position(i, shape, strides, offset)] = src[i]


@cuda.jit(cache=True)
def _scatter_add(dst, src, shape, strides, offset):
    """dst[position(i)] += src[i] (targets are distinct)."""
    for i in range(cuda.grid(1), src.size, cuda.gridsize(1)):
        dst[_position(i, shape, strides, offset)] += src[i]


def flat(a):
    """1-D view of a contiguous device array (0-d arrays become shape (1,))."""
    return a if len(a.shape) == 1 else a.reshape(a.size)


def _squeeze(shape: tuple, strides: tuple) -> tuple[tuple, tuple]:
    """Drop size-1 dims and merge dims that are contiguous with each other (fewer div/mods)."""
    dims = [(n, s) for n, s in zip(shape, strides) if n != 1]
    merged: list[list[int]] = []
    for n, s in dims:
        if merged and merged[-1][1] == s * n:
            merged[-1] = [merged[-1][0] * n, s]
        else:
            merged.append([n, s])
    if not merged:
        merged = [[1, 0]]
    return tuple(m[0] for m in merged), tuple(m[1] for m in merged)


def _norm(shape: Sequence[int], strides: Sequence[int]) -> tuple[tuple, tuple]:
    shape = tuple(int(n) for n in shape)
    strides = tuple(int(s) for s in strides)
    if len(shape) != len(strides):
        raise ValueError(f"shape {shape} and strides {strides} differ in rank")
    return shape, strides


def _check_bounds(size: int, shape: tuple, strides: tuple, offset: int, what: str) -> None:
    if math.prod(shape) == 0:
        return
    lo = offset + sum(s * (n - 1) for n, s in zip(shape, strides) if s < 0)
    hi = offset + sum(s * (n - 1) for n, s in zip(shape, strides) if s > 0)
    if lo < 0 or hi >= size:
        raise IndexError(f"{what}: strided view (shape {shape}, strides {strides}, offset {offset}) "
                         f"reaches outside an array of {size} elements")


def strided_copy(src, out_shape: Sequence[int], strides: Sequence[int], offset: int = 0):
    """New contiguous array out[idx] = src.ravel()[offset + sum(idx[d] * strides[d])]."""
    out_shape, strides = _norm(out_shape, strides)
    offset = int(offset)
    _check_bounds(src.size, out_shape, strides, offset, "strided_copy")
    out = runtime.empty(out_shape, src.dtype)
    n = out.size
    if n:
        shape, st = _squeeze(out_shape, strides)
        runtime.launch(_gather, n)(flat(src), flat(out), shape, st, offset)
    return out


def strided_scatter(dst, src, strides: Sequence[int], offset: int = 0, accumulate: bool = False) -> None:
    """dst.ravel()[offset + sum(idx * strides)] (+)= src[idx] for idx over src.shape, in place."""
    shape, strides = _norm(src.shape, strides)
    offset = int(offset)
    _check_bounds(dst.size, shape, strides, offset, "strided_scatter")
    n = src.size
    if n:
        sq_shape, st = _squeeze(shape, strides)
        kernel = _scatter_add if accumulate else _scatter
        runtime.launch(kernel, n)(flat(dst), flat(src), sq_shape, st, offset)


def contiguous_strides(shape: Sequence[int]) -> tuple[int, ...]:
    """Element strides of a C-contiguous array of shape."""
    strides, acc = [], 1
    for n in reversed(tuple(shape)):
        strides.append(acc)
        acc *= max(int(n), 1)
    return tuple(reversed(strides))


def concatenate(arrays: Sequence, axis: int = 0):
    """Join device arrays along an existing axis (NumPy's concatenate; result dtype promoted)."""
    arrays = list(arrays)
    if not arrays:
        raise ValueError("need at least one array to concatenate")
    ndim = len(arrays[0].shape)
    if ndim == 0:
        raise ValueError("zero-dimensional arrays cannot be concatenated")
    if not -ndim <= axis < ndim:
        raise np.exceptions.AxisError(axis, ndim)
    axis %= ndim
    first = tuple(arrays[0].shape)
    for a in arrays[1:]:
        shape = tuple(a.shape)
        if len(shape) != ndim or shape[:axis] + shape[axis + 1:] != first[:axis] + first[axis + 1:]:
            raise ValueError(f"concatenate: shapes {first} and {shape} differ outside axis {axis}")
    dtype = np.result_type(*[a.dtype for a in arrays])
    out_shape = first[:axis] + (sum(int(a.shape[axis]) for a in arrays),) + first[axis + 1:]
    out = runtime.empty(out_shape, dtype)
    strides = contiguous_strides(out_shape)
    offset = 0
    for a in arrays:
        strided_scatter(out, a, strides, offset)
        offset += int(a.shape[axis]) * strides[axis]
    return out
