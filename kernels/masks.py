"""Boolean-mask selection in two passes: `count_true` (the count pass, which ends a program:
the size of what follows depends on it) and `mask_select` / `mask_scatter` (the compaction and
its adjoint, in a program compiled for that count). x is viewed as (pre, m, post) with the
mask's m elements in the middle; selected elements keep the mask's C order."""
from __future__ import annotations

import numba
import numpy as np

from .spec import Array, Call


@numba.njit(cache=True)
def count_true(mask):
    """How many elements of a 1-D boolean array are True."""
    n = 0
    for j in range(mask.size):
        if mask[j]:
            n += 1
    return n


@numba.njit(cache=True)
def _selected(mask, count):
    """The positions of the True elements (a mask that disagrees with `count` is refused: the
    program was compiled for that many, and must never write past its buffers)."""
    where = np.empty(count, np.int64)
    k = 0
    for j in range(mask.size):
        if mask[j]:
            if k == count:
                raise RuntimeError("boolean mask selects more elements than this program was compiled for")
            where[k] = j
            k += 1
    if k != count:
        raise RuntimeError("boolean mask selects fewer elements than this program was compiled for")
    return where


@numba.njit(cache=True)
def mask_select(x3, mask, out3):
    """out3[p, k, q] = x3[p, j_k, q] for the k-th True element j_k of the flat mask."""
    where = _selected(mask, out3.shape[1])
    for p in range(x3.shape[0]):
        for k in range(where.size):
            j = where[k]
            for q in range(x3.shape[2]):
                out3[p, k, q] = x3[p, j, q]


@numba.njit(cache=True)
def mask_scatter(g3, mask, out3):
    """out3 (zeros) gets g3[p, k, q] at [p, j_k, q]: mask_select's adjoint."""
    where = _selected(mask, g3.shape[1])
    for p in range(g3.shape[0]):
        for k in range(where.size):
            j = where[k]
            for q in range(g3.shape[2]):
                out3[p, j, q] = g3[p, k, q]


OPS = ("count_true", "mask_select", "mask_scatter")


def call_source(step: Call, arrays: dict[str, Array]) -> str:
    """count_true: a 0-d int64 count of its mask. mask_select / mask_scatter: params = ((pre,
    m, post) view of x, count); the output is x[mask] (or zeros of x's shape with g put back)."""
    o = step.output
    out = arrays[o]
    if step.op == "count_true":
        mask = step.inputs[0]
        return (f"{o} = np.empty((), np.int64)\n"
                f"{o}[()] = lib.count_true(np.ascontiguousarray({mask}).reshape(-1))")
    (pre, m, post), count = step.params
    src, mask = step.inputs
    flat_mask = f"np.ascontiguousarray({mask}).reshape(-1)"
    if step.op == "mask_select":
        return (f"{o} = np.empty({tuple(out.shape)!r}, np.{out.dtype})\n"
                f"lib.mask_select(np.ascontiguousarray({src}).reshape(({pre}, {m}, {post})), {flat_mask}, "
                f"{o}.reshape(({pre}, {count}, {post})))")
    if step.op == "mask_scatter":
        return (f"{o} = np.zeros({tuple(out.shape)!r}, np.{out.dtype})\n"
                f"lib.mask_scatter(np.ascontiguousarray({src}).reshape(({pre}, {count}, {post})), {flat_mask}, "
                f"{o}.reshape(({pre}, {m}, {post})))")
    raise ValueError(f"unknown mask op {step.op!r}; known: {OPS}")

