"""Library calls for the ops that are neither fused loops nor views: indexing with runtime
index arrays (getitem, its adjoint unindex, setitem, gather, scatter_add), cat and stack,
reductions that return indices or moments (max/min along a dim, argmax/argmin, norm, var,
std), the scans cumsum/cumprod, argsort, traced boolean masks, batched matmul, convolution and
pooling (kernels/conv.py). Static index structure becomes integer maps computed here once and
passed to the program as constants; the index arrays themselves stay runtime inputs."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from jitgrad._kernels.spec import Call

from . import prims
from .ir import Eqn
from .shapes import numel


def c_strides(shape: tuple) -> tuple:
    strides, step = [], 1
    for s in reversed(shape):
        strides.append(step)
        step *= s
    return tuple(reversed(strides))


def array_dims(spec: tuple, ndim: int) -> list:
    """The dim of x that each index array (in operand order) indexes."""
    explicit = sum(1 for it in spec if it[0] in "isa")
    dims, d = {}, 0
    for it in spec:
        if it[0] == "e":
            d += ndim - explicit
        elif it[0] == "a":
            dims[it[1]] = d
            d += 1
        elif it[0] in "is":
            d += 1
    return [dims[k] for k in sorted(dims)]


def index_maps(spec: tuple, shape: tuple, index_shapes: list) -> tuple:
    """(base, sels) for x[spec] with x of `shape`: element o of the result reads x's flat
    position base[o] + sum_k stride(dim_k) * index_k.flat[sel_k[o]] (PyTorch's result order).
    Found by indexing position grids with zero (and arange) stand-ins for the index arrays."""
    take = prims.GETITEM.impl
    zeros = [np.zeros(s, np.int64) for s in index_shapes]
    try:
        base = take(np.arange(numel(shape), dtype=np.int64).reshape(shape), *zeros, spec=spec)
    except IndexError:  # a zero-size dim: no valid index at all, every one is checked and refused
        out_shape = prims.indexed_shape(shape, spec, zeros)
        return np.zeros(out_shape, np.int64), [np.zeros(out_shape, np.int64) for _ in index_shapes]
    sels = []
    for k, d in enumerate(array_dims(spec, len(shape))):
        wide = shape[:d] + (max(numel(index_shapes[k]), 1),) + shape[d + 1:]
        grid = np.arange(numel(wide), dtype=np.int64).reshape(wide)
        marked = list(zeros)
        marked[k] = np.arange(numel(index_shapes[k]), dtype=np.int64).reshape(index_shapes[k])
        sels.append((take(grid, *marked, spec=spec) - take(grid, *zeros, spec=spec)) // c_strides(wide)[d])
    return np.ascontiguousarray(base), sels


def along_maps(index_shape: tuple, shape: tuple, dim: int) -> np.ndarray:
    """gather/scatter_add base: x's flat position of each index element with its `dim` coord 0."""
    strides = c_strides(shape)
    grid = np.indices(index_shape, dtype=np.int64) if index_shape else np.zeros((0,), np.int64)
    base = np.zeros(index_shape, np.int64)
    for d in range(len(index_shape)):
        if d != dim:
            base += grid[d] * strides[d]
    return base


def row_index(spec: tuple, shape: tuple, index_vars: list) -> bool:
    """Whether x[spec] (x of `shape`) is x[idx] for one integer array idx indexing dim 0: element o
    reads row idx.flat[o // inner] at column o % inner (inner: the size of a row), so the lookup
    copies whole rows (TRF's embedding: 50 us per element through the general maps, ~5 us by rows)."""
    if len(index_vars) != 1 or not shape or array_dims(spec, len(shape)) != [0]:
        return False
    n, inner = numel(tuple(index_vars[0].shape)), numel(tuple(shape[1:]))
    base, (sel,) = index_maps(spec, tuple(shape), [tuple(index_vars[0].shape)])
    return base.size == n * inner and np.array_equal(base.reshape(-1), np.tile(np.arange(inner), n)) \
        and np.array_equal(np.asarray(sel).reshape(-1), np.repeat(np.arange(n), inner))


def _is_identity(m: np.ndarray) -> bool:
    return np.array_equal(m.reshape(-1), np.arange(m.size))


def lower_call(eqn: Eqn, ins: list, out: str, const: Callable | None, in_place: list | None = None,
               rows: bool = False) -> Call:
    """The Call for `eqn` (an op fuse.is_call_op accepts); `ins` are its inputs' array names, `const(value)`
    registers a constant int64 array and returns its name; `in_place` (cat/stack): per input,
    whether a fused loop already wrote it into its slice of the output; `rows` (a back end that has
    them, the CPU's): a lookup of whole rows by one index array (an embedding) as take_rows and its
    adjoint as scatter_rows (see row_index)."""
    name = eqn.prim.name
    origin = f"{name} -> {out}"
    p = eqn.params

    def terms_for(spec, shape, index_vars, index_names):
        base, sels = index_maps(spec, tuple(shape), [tuple(v.shape) for v in index_vars])
        strides = c_strides(tuple(shape))
        terms = []
        for k, d in enumerate(array_dims(spec, len(shape))):
            sel = "" if _is_identity(sels[k]) else const(np.ascontiguousarray(sels[k]))
            terms.append((index_names[k], sel, strides[d], shape[d], d))
        return base, tuple(terms)

    if rows and name in ("getitem", "unindex") and row_index(p["spec"], tuple(p["shape"] if name == "unindex"
                                                                               else eqn.inputs[0].shape),
                                                               eqn.inputs[1:]):
        shape = tuple(p["shape"] if name == "unindex" else eqn.inputs[0].shape)
        op = "take_rows" if name == "getitem" else "scatter_rows"
        return Call(op, (ins[0], ins[1]), out, (shape[0], numel(shape[1:])), origin)
    if name in ("getitem", "unindex", "setitem"):
        n_lead = {"getitem": 1, "unindex": 1, "setitem": 2}[name]
        shape = p["shape"] if name == "unindex" else eqn.inputs[0].shape
        base, terms = terms_for(p["spec"], shape, eqn.inputs[n_lead:], ins[n_lead:])
        op = {"getitem": "take", "unindex": "scatter_add", "setitem": "put"}[name]
        value = None
        if name == "setitem":
            v = eqn.inputs[1]
            vmap = np.broadcast_to(np.arange(v.size, dtype=np.int64).reshape(v.shape), base.shape)
            scalar = v.size == 1
            value = (ins[1], "" if scalar or _is_identity(vmap) else const(np.ascontiguousarray(vmap)), scalar)
        return Call(op, (ins[0], const(base)) + tuple(t[0] for t in terms) + tuple(t[1] for t in terms if t[1]),
                    out, (terms, value, ""), origin)
    if name in ("gather", "scatter_add"):
        dim = p["dim"]
        shape = eqn.inputs[0].shape if name == "gather" else p["shape"]
        base = along_maps(tuple(eqn.inputs[1].shape), tuple(shape), dim)
        terms = ((ins[1], "", c_strides(tuple(shape))[dim], shape[dim], dim),)
        op = "take" if name == "gather" else "scatter_add"
        return Call(op, (ins[0], const(base), ins[1]), out, (terms, None, f"{name}(): "), origin)
    if name in ("cat", "stack"):
        dim = p["dim"]
        nd = eqn.out.ndim
        slices, views, copied, start = [], [], [], 0
        in_place = in_place or [False] * len(ins)
        for v, arr, done in zip(eqn.inputs, ins, in_place):
            width = v.shape[dim] if name == "cat" else 1
            if not done:
                parts = [":"] * nd
                parts[dim] = f"{start}:{start + width}"
                slices.append(", ".join(parts))
                views.append(tuple(v.shape) if name == "cat" else tuple(v.shape[:dim]) + (1,) + tuple(v.shape[dim:]))
                copied.append(arr)
            start += width
        return Call("cat", tuple(copied), out, (tuple(slices), tuple(views), any(in_place)), origin)
    if name in ("max_dim", "min_dim", "argmax", "argmin"):
        x = eqn.inputs[0]
        dim = p["dim"]
        view = (numel(x.shape[:dim]), x.shape[dim], numel(x.shape[dim + 1:]))
        return Call("extreme", (ins[0],), out, (None, view, (name in ("max_dim", "argmax"), name.startswith("arg"))),
                    origin)
    if name in ("norm", "var", "std"):
        x = eqn.inputs[0]
        dims = tuple(p["dims"])
        kept = tuple(d for d in range(x.ndim) if d not in dims)
        perm = kept + dims
        view = (numel(tuple(x.shape[d] for d in kept)), numel(tuple(x.shape[d] for d in dims)))
        extra = float(p["p"]) if name == "norm" else (int(p["correction"]), name == "std")
        return Call("norm" if name == "norm" else "moments", (ins[0],), out,
                    (None if perm == tuple(range(x.ndim)) else perm, view, extra), origin)
    if name in ("mask_select", "mask_scatter"):
        x_shape = tuple(eqn.inputs[0].shape) if name == "mask_select" else tuple(p["shape"])
        mask = eqn.inputs[1]
        view = (numel(x_shape[:p["pos"]]), mask.size, numel(x_shape[p["pos"] + mask.ndim:]))
        selected = (eqn.out if name == "mask_select" else eqn.inputs[0]).shape[p["pos"]]
        return Call(name, tuple(ins), out, (view, selected), origin)
    if name in ("cumsum", "cumprod", "argsort"):
        return Call("argsort" if name == "argsort" else "scan", (ins[0],), out,
                    (along_view(tuple(eqn.inputs[0].shape), p["dim"]),
                     p["descending"] if name == "argsort" else name == "cumprod"), origin)
    if name in _CONV_CALLS:
        return Call(name, tuple(ins), out, _conv_params(eqn), origin)
    return _batched_matmul(eqn, ins, out, origin)


def along_view(shape: tuple, dim: int) -> tuple:
    """(pre, n, post): `shape` viewed with dim in the middle (a 0-d value is one element)."""
    if not shape:
        return (1, 1, 1)
    dim %= len(shape)
    return (numel(shape[:dim]), shape[dim], numel(shape[dim + 1:]))


_CONV_CALLS = ("conv2d", "conv2d_input_grad", "conv2d_weight_grad", "max_pool2d_indices",
               "adaptive_max_pool2d_indices")


def _conv_params(eqn: Eqn) -> tuple:
    """The flat integer arguments of a kernels/conv.py entry point after its arrays."""
    p = eqn.params
    if eqn.prim.name == "adaptive_max_pool2d_indices":
        return tuple(p["output_size"])
    out_hw = tuple(eqn.out.shape[2:])
    if eqn.prim.name == "max_pool2d_indices":
        return (*p["kernel"], *p["stride"], *p["padding"], *p["dilation"], *out_hw)
    last = {"conv2d": out_hw, "conv2d_input_grad": p.get("input_hw"), "conv2d_weight_grad": p.get("kernel")}
    return (*p["stride"], *p["padding"], *p["dilation"], p["groups"], *last[eqn.prim.name])


def _batched_matmul(eqn: Eqn, ins: list, out: str, origin: str) -> Call:
    a, b = eqn.inputs
    a2 = (1,) + tuple(a.shape) if a.ndim == 1 else tuple(a.shape)
    b2 = tuple(b.shape) + (1,) if b.ndim == 1 else tuple(b.shape)
    m, k, n = a2[-2], a2[-1], b2[-1]
    if b.ndim <= 2 and a.ndim > 2:  # one GEMM on the flattened rows
        return Call("batched_matmul", tuple(ins), out, ((numel(a2[:-1]), k), None, None, None, None), origin)
    batch = np.broadcast_shapes(a2[:-2], b2[:-2])
    count = numel(batch)

    def source_of(own: tuple):
        grid = np.broadcast_to(np.arange(numel(own), dtype=np.int64).reshape(own), batch).reshape(-1)
        return None if _is_identity(grid) and grid.size == count else tuple(int(i) for i in grid)

    return Call("batched_matmul", tuple(ins), out,
                ((numel(a2[:-2]), m, k), (numel(b2[:-2]), k, n), (count, m, n),
                 source_of(a2[:-2]), source_of(b2[:-2])), origin)
