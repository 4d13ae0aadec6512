"""Indexing primitives, each declared once: basic and advanced getitem (in PyTorch's order),
its adjoint unindex, out-of-place setitem, gather and scatter_add; with their wrappers and the
views built on them (narrow, select). The index is a hashable spec; integer index arrays are
operands after x."""
from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

import numpy as np

from jitgrad._kernels.spec import IndexOutOfRangeError

from . import dtypes, shapes
from .core import INDEX, Primitive, Symbolic, TensorBase, bind, lift, planned_alone
from .prims_elementwise import needs_grad
from .prims_mask import mask_select
from .prims_promotion import as_tensor_operand, promoted

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from ._typing import TensorLike
    from .tensor import Tensor


def _index_of(spec, arrays):
    """Rebuild a NumPy index tuple from a spec and its index arrays."""
    out = []
    for item in spec:
        kind = item[0]
        if kind == "a":
            out.append(arrays[item[1]])
        elif kind == "i":
            out.append(item[1])
        elif kind == "s":
            out.append(slice(item[1], item[2], item[3]))
        elif kind == "n":
            out.append(None)
        else:
            out.append(Ellipsis)
    return tuple(out)


def _advanced_block(spec, arrays, ndim: int) -> tuple:
    """See _advanced_block_of (this reads the index arrays' ndims, the only thing it depends on)."""
    key = (spec, tuple([np.ndim(a) for a in arrays]), ndim)
    found = _BLOCKS.get(key)
    if found is None:
        if len(_BLOCKS) >= _CACHE_LIMIT:
            _BLOCKS.clear()
        found = _BLOCKS[key] = _advanced_block_of(spec, key[1], ndim)
    return found


# Index-shape computations depend only on (spec, shapes, ndims): cached, as an op's eager cost is
# dominated by them on small arrays (a GRU step indexes the same way at every time step).
_CACHE_LIMIT = 4096
_BLOCKS: dict = {}
_BASIC_SHAPES: dict = {}


def _advanced_block_of(spec, array_ndims: tuple, ndim: int) -> tuple:
    """Where the dims of the advanced (integer-array) indices go: (NumPy's position, PyTorch's
    position, number of dims), positions counted in output dims.

    PyTorch applies an int index (and a 0-d index tensor) as select() before the array indices,
    so ints never join the advanced block; NumPy counts them in it. Both then put the block where
    the first array index stands if the array indices are adjacent, else in front. So
    `x[3, 2:, [1, 3]]` is (4, 2) in PyTorch and (2, 4) in NumPy; jitgrad follows PyTorch."""
    items = []
    for item in spec:
        if item[0] == "e":
            used = builtins.sum(1 for it in spec if it[0] in "isa")
            items.extend([("s",)] * (ndim - used))
        elif item[0] == "a":
            items.append(("a", array_ndims[item[1]]))
        else:
            items.append(item)
    arrays_nd = [it for it in items if it[0] == "a"]
    if not arrays_nd:
        return 0, 0, 0
    block = builtins.max(it[1] for it in arrays_nd)

    def position(is_advanced):
        kept = [it for it in items if is_advanced(it) or it[0] in "sn"]
        where = [k for k, it in enumerate(kept) if is_advanced(it)]
        if not where or where[-1] - where[0] + 1 != len(where):
            return 0
        return builtins.sum(1 for it in kept[:where[0]] if not is_advanced(it))

    numpy_at = position(lambda it: it[0] in "ia")
    torch_at = position(lambda it: it[0] == "a" and it[1] > 0)
    return numpy_at, torch_at, block


def _to_torch_order(result, spec, arrays, ndim: int, inverse: bool = False):
    """NumPy's result of x[index] with its advanced block moved to PyTorch's place (inverse=True:
    a PyTorch-ordered array moved back to NumPy's order, for writes and the adjoint)."""
    numpy_at, torch_at, block = _advanced_block(spec, arrays, ndim)
    if numpy_at == torch_at or block == 0:
        return result
    src, dst = list(range(numpy_at, numpy_at + block)), list(range(torch_at, torch_at + block))
    return np.moveaxis(result, dst, src) if inverse else np.moveaxis(result, src, dst)


def _getitem_impl(x, *arrays, spec):
    """x[index] in PyTorch's order; basic indexing gives a view even when it selects one element
    (NumPy returns a scalar copy for x[1] but a 0-d view for x[1, ...]), so writes through x[1] reach x."""
    if spec == _ROWS and type(x) is np.ndarray and type(arrays[0]) is np.ndarray and x.ndim:
        return x.take(arrays[0], axis=0)  # x[rows], an embedding lookup (the rule checked the bounds)
    index = _index_of(spec, arrays)
    if not arrays and ("e",) not in spec:
        return x[index + (Ellipsis,)]
    return np.asarray(_to_torch_order(x[index], spec, arrays, x.ndim))


def indexed_shape(shape, spec, arrays):
    """Indexing result shape (PyTorch's), found by indexing a zero-stride stand-in (also checks bounds).
    Without index arrays the result depends on (shape, spec) alone and is cached."""
    if len(arrays) == 1 and spec[0] == ("a", 0) and all(s == _FULL_SLICE for s in spec[1:]) and len(shape) >= 1:
        rows = arrays[0]  # x[rows] (an embedding lookup): rows' shape then the other dims, once in bounds
        if type(rows) is np.ndarray and rows.size and rows.dtype.kind in "iu" and len(spec) <= len(shape):
            n = shape[0]
            if np.minimum.reduce(rows, axis=None) >= -n and np.maximum.reduce(rows, axis=None) < n:
                return rows.shape + tuple(shape[1:])
    if not arrays:
        key = (tuple(shape), spec)
        found = _BASIC_SHAPES.get(key)
        if found is None:
            found = _indexed_shape(shape, spec, arrays)
            if len(_BASIC_SHAPES) >= _CACHE_LIMIT:
                _BASIC_SHAPES.clear()
            _BASIC_SHAPES[key] = found
        return found
    return _indexed_shape(shape, spec, arrays)


_STAND_IN_ITEM = np.zeros(1, dtype=np.bool_)


def _indexed_shape(shape, spec, arrays):
    stand_in = np.ndarray(tuple(shape), dtype=np.bool_, buffer=_STAND_IN_ITEM, strides=(0,) * len(shape))
    stand_ins = [a if isinstance(a, np.ndarray) else np.zeros(a.shape, dtype=np.int64) for a in arrays]
    try:
        return _to_torch_order(stand_in[_index_of(spec, stand_ins)], spec, stand_ins, len(shape)).shape
    except IndexError as exc:
        raise IndexError(f"{exc} (indexing a tensor of shape {tuple(shape)})") from None


def _getitem_rule(x, *arrays, spec):
    return indexed_shape(x.shape, spec, [a._data if isinstance(a, TensorBase) else a for a in arrays]), x.dtype


def _getitem_vjp(g, out, x, *arrays, spec):
    return (unindex(g, *arrays, spec=spec, shape=x.shape),) + (None,) * len(arrays)


def _getitem_name(params, in_shapes):
    """PyTorch records one node per indexing step (full slices and ... record none): name the last."""
    spec = params["spec"]
    if any(item[0] == "a" for item in spec):
        return "IndexBackward0"
    for item in reversed(spec):
        if item[0] == "i":
            return "SelectBackward0"
        if item[0] == "n":
            return "UnsqueezeBackward0"
        if item[0] == "s" and item[1:] != (None, None, None):
            return "SliceBackward0"
    return "SliceBackward0" if any(item[0] == "s" for item in spec) else "AliasBackward0"


def _add_at(out: np.ndarray, index, values: np.ndarray) -> None:
    """np.add.at(out, index, values) through a compiled loop over flat positions (repeats
    accumulate, in the index's order): the eager backward of advanced indexing, ~50x faster."""
    from jitgrad._kernels.library import add_at_flat  # (lazy: the kernel compiles, or loads from disk, on first use)
    if out.dtype == np.float16:  # (Numba has no float16 on the CPU: accumulate in float32)
        wide = out.astype(np.float32)
        _add_at(wide, index, values)
        out[...] = wide
        return
    positions = np.arange(out.size, dtype=np.int64).reshape(out.shape)[index]
    values = np.ascontiguousarray(np.broadcast_to(values, positions.shape), dtype=out.dtype)
    add_at_flat(out.reshape(-1), positions.reshape(-1), values.reshape(-1))


_FULL_SLICE = ("s", None, None, None)


def _add_rows(out: np.ndarray, rows: np.ndarray, g: np.ndarray) -> None:
    """out[rows] += g for one index array on dim 0 (an embedding's backward): whole rows at a time."""
    from jitgrad._kernels.library import add_rows
    if out.dtype == np.float16:  # (Numba has no float16 on the CPU: accumulate in float32)
        wide = out.astype(np.float32)
        _add_rows(wide, rows, g)
        out[...] = wide
        return
    rows = rows.reshape(-1)
    if rows.size and np.minimum.reduce(rows) < 0:
        rows = np.where(rows < 0, rows + out.shape[0], rows)
    width = shapes.numel(out.shape[1:])
    add_rows(out.reshape(out.shape[0], width), np.ascontiguousarray(rows, dtype=np.int64),
             np.ascontiguousarray(g, dtype=out.dtype).reshape(rows.size, width))


def _unindex_impl(g, *arrays, spec, shape):
    out = np.zeros(shape, dtype=g.dtype)
    index = _index_of(spec, arrays)
    if len(arrays) == 1 and spec[0] == ("a", 0) and all(s in (_FULL_SLICE, ("e",)) for s in spec[1:]) \
            and len(shape) >= 1 and out.size:
        _add_rows(out, np.asarray(arrays[0]), g)
    elif arrays:
        _add_at(out, index, _to_torch_order(g, spec, arrays, len(shape), inverse=True))
    else:
        out[index] += g
    return out


# (without index arrays, x[i] and slices, its shape follows from x's shape and the spec)
GETITEM = planned_alone(Primitive("getitem", _getitem_impl,
                                  _getitem_rule, _getitem_vjp, INDEX, _getitem_name, params=("spec",)))
UNINDEX = Primitive("unindex", _unindex_impl, lambda g, *arrays, spec, shape: (tuple(shape), g.dtype),
                    lambda gg, out, g, *arrays, spec, shape: (getitem_spec(gg, spec, arrays),) +
                    (None,) * len(arrays), INDEX, "IndexPutBackward0", params=("spec", "shape"))


def _spec_of(index, x):
    """Split a user index into (hashable spec, list of integer index tensors)."""
    if not isinstance(index, tuple):
        index = (index,)
    spec, arrays = [], []
    pos = 0  # the dim of x that the next index item applies to
    for item in index:
        if item is None:
            spec.append(("n",))
            continue
        elif item is Ellipsis:
            spec.append(("e",))
            pos += x.ndim - builtins.sum(_dims_consumed(i) for i in index)
            continue
        elif isinstance(item, slice):
            parts = [None if v is None else _index_int(v) for v in (item.start, item.stop, item.step)]
            spec.append(("s", *parts))
        elif isinstance(item, (builtins.bool, np.bool_)):
            raise IndexError("indexing with a Python bool is not supported; use a boolean tensor mask")
        elif isinstance(item, (builtins.int, np.integer)):
            spec.append(("i", builtins.int(item)))
        else:
            arr = as_tensor_operand(item)
            if arr.dtype == dtypes.bool_:
                _check_mask_shape(arr.shape, x.shape, pos)
                pos += arr.ndim
                if isinstance(arr._data, Symbolic):
                    raise TypeError("a traced boolean mask (its result has a data-dependent shape) can be "
                                    "combined only with full slices (`x[mask]`, `x[:, mask]`, `x[..., mask]`) "
                                    "and not assigned to; use jitgrad.where(mask, value, x) for assignments, "
                                    "or pass the mask as a NumPy array")
                for part in np.nonzero(arr._data):
                    spec.append(("a", len(arrays)))
                    arrays.append(lift(part, dtypes.int64, arr))
                continue
            if dtypes.is_floating(arr.dtype):
                raise IndexError("tensors used as indices must be long, int or bool tensors, got "
                                 f"{dtypes.name(arr.dtype)}")
            spec.append(("a", len(arrays)))
            arrays.append(arr)
        pos += 1
    return tuple(spec), arrays


def _dims_consumed(item) -> int:
    """How many dims of the indexed tensor an index item uses (a boolean mask: its ndim)."""
    if item is None or item is Ellipsis:
        return 0
    if isinstance(item, (TensorBase, np.ndarray)) and item.dtype in (np.bool_, dtypes.bool_):
        return item.ndim
    return 1


def _check_mask_shape(mask_shape: tuple, shape: tuple, pos: int) -> None:
    """A boolean mask must match the dims it indexes (PyTorch's IndexError)."""
    for k, size in enumerate(mask_shape):
        d = pos + k
        if d >= len(shape) or shape[d] != size:
            raise IndexError(f"The shape of the mask {list(mask_shape)} at index {k} does not match the shape of "
                             f"the indexed tensor {list(shape)} at index {d}")


def _index_int(v):
    if isinstance(v, TensorBase):
        raise TypeError("slice bounds must be Python ints, not tensors")
    return builtins.int(v)


_ROWS = (("a", 0),)  # the spec of x[rows] with one integer index array
_INT_SPECS: dict = {}  # i -> the spec of x[i] (one tuple per index: cheap keys downstream)


def getitem(x, index):
    """x[index]: ints, slices, None, Ellipsis, integer arrays/tensors, boolean masks."""
    x = as_tensor_operand(x)
    if type(index) is builtins.int:  # x[i] (iterating, params[0]): what _spec_of makes of it, without its walk
        spec = _INT_SPECS.get(index)
        if spec is None:
            spec = (("i", index),)
            if len(_INT_SPECS) < 1024:
                _INT_SPECS[index] = spec
        return bind(GETITEM, x, spec=spec)
    if isinstance(index, TensorBase) and type(index._data) is np.ndarray and index._data.dtype.kind in "iu":
        return bind(GETITEM, x, index, spec=_ROWS)  # x[rows] (what _spec_of makes of it, without its walk)
    traced_mask = _traced_mask(index, x)
    if traced_mask is not None:
        return mask_select(x, *traced_mask)
    spec, arrays = _spec_of(index, x)
    return bind(GETITEM, x, *arrays, spec=spec)


def _traced_mask(index, x):
    """(mask, pos) when the index is one traced boolean mask among full slices and at most
    one Ellipsis (`x[mask]`, `x[:, mask]`, `x[..., mask]`): compiled by prims_mask's two-pass
    selection. None otherwise (_spec_of takes it, and refuses other traced masks)."""
    items = index if isinstance(index, tuple) else (index,)
    if not any([isinstance(it, TensorBase) and isinstance(it._data, Symbolic) for it in items]):
        return None
    masks = [k for k, it in enumerate(items) if isinstance(it, TensorBase) and it.dtype == dtypes.bool_
             and isinstance(it._data, Symbolic) and it._data.value is None]
    if len(masks) != 1 or builtins.sum(1 for it in items if it is Ellipsis) > 1:
        return None
    k = masks[0]
    mask = items[k]
    full = all(it is Ellipsis or (isinstance(it, slice) and it == slice(None)) for j, it in enumerate(items) if j != k)
    if not full:
        return None
    before = items[:k]
    pos = len(before) if Ellipsis not in before else x.ndim - (len(items) - 1 - 1 + mask.ndim) + (len(before) - 1)
    if pos < 0:
        return None
    _check_mask_shape(mask.shape, x.shape, pos)
    return mask, pos


def getitem_spec(x, spec, arrays):
    return bind(GETITEM, x, *arrays, spec=spec)


def unindex(g, *arrays, spec, shape):
    """Zeros of `shape` with g added at x[index] (the VJP of indexing; repeats accumulate)."""
    return bind(UNINDEX, g, *arrays, spec=spec, shape=tuple(shape))


def _setitem_rule(x, v, *arrays, spec):
    target = indexed_shape(x.shape, spec, [a._data if isinstance(a, TensorBase) else a for a in arrays])
    shapes.broadcast(target, v.shape)
    if shapes.broadcast(target, v.shape) != target:
        raise RuntimeError(f"shape mismatch: value tensor of shape {tuple(v.shape)} cannot be broadcast to "
                           f"indexing result of shape {target}")
    return x.shape, x.dtype


def _setitem_impl(x, v, *arrays, spec):
    out = x.copy()
    if arrays:  # v is shaped as PyTorch's x[index]: broadcast, then in NumPy's order
        target = indexed_shape(x.shape, spec, arrays)
        v = _to_torch_order(np.broadcast_to(v, target), spec, arrays, x.ndim, inverse=True)
    out[_index_of(spec, arrays)] = v
    return out


def _setitem_vjp(g, out, x, v, *arrays, spec):
    gx = None
    if needs_grad(x):
        gx = setitem_spec(g, lift(0, g.dtype, g), spec, arrays)
    gv = getitem_spec(g, spec, arrays) if needs_grad(v) else None  # (the engine unbroadcasts it to v)
    return (gx, gv) + (None,) * len(arrays)


SETITEM = Primitive("setitem", _setitem_impl, _setitem_rule, _setitem_vjp, INDEX,
                    lambda p, s: "IndexPutBackward0" if any(i[0] == "a" for i in p["spec"]) else "CopySlices",
                    params=("spec",))


def setitem(x, index, value):
    """Out-of-place x[index] = value (the in-place form is Tensor.__setitem__)."""
    x = as_tensor_operand(x)
    spec, arrays = _spec_of(index, x)
    value = promoted(x, value)[1]
    return bind(SETITEM, x, value, *arrays, spec=spec)


def setitem_spec(x, value, spec, arrays):
    return bind(SETITEM, x, value, *arrays, spec=spec)


def _gather_rule(x, index, dim):
    if index.ndim != x.ndim:
        raise RuntimeError(f"gather: index tensor must have the same number of dimensions as input "
                           f"({index.ndim} vs {x.ndim})")
    for d in range(x.ndim):
        if d != dim and index.shape[d] > x.shape[d]:
            raise RuntimeError(f"gather: size of index {tuple(index.shape)} exceeds input {tuple(x.shape)} "
                               f"at dimension {d}")
    return tuple(index.shape), x.dtype


def _gather_impl(x, index, dim):
    if type(x) is not np.ndarray or type(index) is not np.ndarray or index.ndim == 0:
        trimmed = x[tuple(slice(0, s) if d != dim else slice(None) for d, s in enumerate(index.shape))]
        _check_along(index, dim, x.shape[dim], "gather")
        return np.take_along_axis(trimmed, index, axis=dim)
    _check_along(index, dim, x.shape[dim], "gather")
    # np.take_along_axis's own indexing (index along dim, broadcast aranges over the other dims,
    # which also trims x to index's extent there), without its Python layers
    nd = index.ndim
    return x[tuple([index if d == dim else _arange_along(n, d, nd) for d, n in enumerate(index.shape)])]


_ARANGES: dict = {}


def _arange_along(n: int, d: int, nd: int) -> np.ndarray:
    """0..n-1 along dim d of an nd-dim array of ones elsewhere (cached, read-only)."""
    key = (n, d, nd)
    found = _ARANGES.get(key)
    if found is None:
        if len(_ARANGES) >= _CACHE_LIMIT:
            _ARANGES.clear()
        found = np.arange(n).reshape((1,) * d + (n,) + (1,) * (nd - d - 1))
        found.flags.writeable = False
        _ARANGES[key] = found
    return found


def _check_along(index, dim, size, op):
    """gather/scatter_add indices lie in [0, size) (no negative ones, as in PyTorch): the first
    offending one is named, in the same words as the compiled kernels' bounds check."""
    if type(index) is np.ndarray and index.size and index.dtype.kind in "iu" \
            and np.minimum.reduce(index, axis=None) >= 0 and np.maximum.reduce(index, axis=None) < size:
        return  # (two reductions; the search for the first bad index only when there is one)
    bad = np.flatnonzero((index < 0) | (index >= size))
    if bad.size:
        raise IndexOutOfRangeError(f"{op}(): index {builtins.int(index.reshape(-1)[bad[0]])} is out of bounds for "
                           f"dimension {dim} with size {size}")


def _scatter_add_impl(g, index, dim, shape):
    """Zeros of `shape` with g added along dim at index: one compiled pass in index order, as the
    compiled program's scatter_add loop (bounds checked there, PyTorch's RuntimeError)."""
    from jitgrad._kernels.library import scatter_add_along  # (lazy: compiles, or loads from disk, on first use)
    out = np.zeros(shape, dtype=g.dtype)
    if index.size:
        values = g if g.shape == index.shape else np.broadcast_to(g, index.shape)
        scatter_add_along(out, np.ascontiguousarray(index, dtype=np.int64),
                          np.ascontiguousarray(values, dtype=out.dtype), dim)
    return out


GATHER = Primitive("gather", _gather_impl, _gather_rule,
                   lambda g, out, x, index, dim: (scatter_add_to(g, index, dim, x.shape), None),
                   INDEX, "GatherBackward0", params=("dim",))
SCATTER_ADD = Primitive("scatter_add", _scatter_add_impl, lambda g, index, dim, shape: (tuple(shape), g.dtype),
                        lambda gg, out, g, index, dim, shape: (gather(gg, dim, index), None),
                        INDEX, "ScatterAddBackward0", params=("dim", "shape"))


def gather(x: TensorLike, dim: int, index: Tensor) -> Tensor:
    """out[i][j] = x[index[i][j]][j] for dim=0 (PyTorch's gather).

    Example:
        >>> x = jg.tensor([[1.0, 2.0], [3.0, 4.0]])
        >>> jg.gather(x, 1, jg.tensor([[1], [0]]))
        tensor([[2.],
                [3.]])
    """
    x = as_tensor_operand(x)
    index = as_tensor_operand(index)
    if dtypes.is_floating(index.dtype) or index.dtype == dtypes.bool_:
        raise RuntimeError(f"gather(): Expected dtype int64 for index, got {dtypes.name(index.dtype)}")
    return bind(GATHER, x, index, dim=shapes.normalize_dim(dim, x.ndim))


def scatter_add_to(g, index, dim, shape):
    """Zeros of `shape` with g added at the gather positions (the VJP of gather)."""
    return bind(SCATTER_ADD, g, index, dim=dim, shape=tuple(shape))


def narrow(x: TensorLike, dim: int, start: int | TensorLike, length: int) -> Tensor:
    """The slice [start, start+length) along dim (a view, as in PyTorch); it must lie inside the dim.

    Example:
        >>> jg.narrow(jg.arange(6), 0, 2, 3)
        tensor([2, 3, 4])
    """
    x = as_tensor_operand(x)
    dim = shapes.normalize_dim(dim, x.ndim)
    size = x.shape[dim]
    if not -size <= start <= size:
        raise IndexError(f"start out of range (expected to be in range of [{-size}, {size}], but got {start})")
    start = start + size if start < 0 else start
    if length < 0:
        raise RuntimeError("narrow(): length must be non-negative.")
    if start + length > size:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({size}).")
    index = (slice(None),) * dim + (slice(start, start + length),)
    return getitem(x, index)


def select(x: TensorLike, dim: int, index: int) -> Tensor:
    """The sub-tensor at `index` along dim (that dim removed).

    Example:
        >>> jg.select(jg.tensor([[1, 2], [3, 4]]), 1, 0)
        tensor([1, 3])
    """
    return getitem(x, (slice(None),) * dim + (index,))


# The indexing primitives declared here, in prims.ALL's order.
INDEX_PRIMS = (GETITEM, UNINDEX, SETITEM, GATHER, SCATTER_ADD)
