"""Shape, selection and scatter ops composed from prims.py's primitives (reshape, expand,
permute, getitem, setitem, gather, scatter_add, where), so each gradient comes from theirs:
split/chunk/unbind, repeat/tile/repeat_interleave, flip/roll, diagonal/diag/diag_embed/trace,
tril/triu, masked_fill/masked_select, index_select, scatter/scatter_add, take_along_dim.

Index arrays that depend only on shapes are NumPy constants; indices given by the user are
checked here, in eager mode, with PyTorch's exception types and the bad value named."""
from __future__ import annotations

import builtins
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from jitgrad._kernels.spec import IndexOutOfRangeError

from . import core, dtypes, prims, shapes
from .core import Symbolic, TensorBase

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from ._typing import Number, TensorLike
    from .tensor import Tensor


IndexOutOfRangeError = IndexOutOfRangeError  # (an IndexError and a RuntimeError; eager checks and kernels raise it)


def _tensor(x) -> TensorBase:
    return prims.as_tensor_operand(x)


def _sizes(args: tuple) -> tuple:
    """Varargs sizes or one sequence of them."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    return tuple(builtins.int(a) for a in args)


def _concrete(t: TensorBase) -> np.ndarray | None:
    """A tensor's host values, or None while tracing (the check then falls to the kernels)."""
    data = t._data
    return data if isinstance(data, np.ndarray) else None if isinstance(data, Symbolic) else np.asarray(t.numpy())


def _check_range(index: TensorBase, low: int, size: int, op: str, dim: int) -> None:
    """Concrete indices lie in [low, size); the first one outside is named."""
    values = _concrete(index)
    if values is None:
        return
    bad = values[(values < low) | (values >= size)]
    if bad.size:
        raise IndexOutOfRangeError(f"{op}(): index {builtins.int(bad.reshape(-1)[0])} is out of range for dimension "
                                   f"{dim} with size {size}")


def _check_index_dtype(index: TensorBase, op: str, argument: str = "index") -> None:
    if dtypes.is_floating(index.dtype) or index.dtype == dtypes.bool_:
        raise RuntimeError(f"{op}(): Expected dtype int64 for {argument}, got {dtypes.name(index.dtype)}")


# ----- splitting ---------------------------------------------------------------------------------


def split(tensor: TensorLike, split_size_or_sections: int | Sequence[int], dim: int = 0) -> tuple[Tensor, ...]:
    """Pieces of `split_size_or_sections` elements along dim (the last may be smaller), or of the
    listed sizes, which must add up to the dim's size. Each piece is a view (narrow).

    Example:
        >>> jg.split(jg.arange(5), 2)
        (tensor([0, 1]), tensor([2, 3]), tensor([4]))
    """
    x = _tensor(tensor)
    d = shapes.normalize_dim(dim, x.ndim)
    size = x.shape[d]
    if isinstance(split_size_or_sections, (builtins.int, np.integer)):
        step = builtins.int(split_size_or_sections)
        if step < 0 or (step == 0 and size != 0):
            raise RuntimeError(f"split(): split_size can only be 0 if dimension size is 0, but got split_size={step}"
                               if step == 0 else f"split(): split_size must be non-negative, got {step}")
        sections = [builtins.min(step, size - start) for start in range(0, size, step)] if size else [0]
    else:
        sections = [builtins.int(s) for s in split_size_or_sections]
        if builtins.sum(sections) != size or any(s < 0 for s in sections):
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {size} (input tensor's size "
                               f"at dimension {d}), but got split_sizes={sections}")
    pieces, start = [], 0
    for n in sections:
        pieces.append(prims.narrow(x, d, start, n))
        start += n
    return tuple(pieces)


def chunk(input: TensorLike, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:  # noqa: A002 - PyTorch's argument name
    """At most `chunks` pieces of ceil(size / chunks) elements along dim.

    Example:
        >>> jg.chunk(jg.arange(4), 2)
        (tensor([0, 1]), tensor([2, 3]))
    """
    if builtins.int(chunks) <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    x = _tensor(input)
    size = x.shape[shapes.normalize_dim(dim, x.ndim)]
    return split(x, builtins.max(math.ceil(size / builtins.int(chunks)), 1), dim)


def unbind(input: TensorLike, dim: int = 0) -> tuple[Tensor, ...]:  # noqa: A002
    """The slices along dim, that dim removed.

    Example:
        >>> jg.unbind(jg.tensor([[1.0, 2.0], [3.0, 4.0]]))
        (tensor([1., 2.]), tensor([3., 4.]))
    """
    x = _tensor(input)
    d = shapes.normalize_dim(dim, x.ndim)
    return tuple(prims.select(x, d, i) for i in range(x.shape[d]))


# ----- repeating ---------------------------------------------------------------------------------


def repeat(input, *sizes):  # noqa: A002
    """The tensor repeated sizes[i] times along dim i (new leading dims where sizes is longer):
    an expand of an interleaved reshape, so the gradient sums over the copies."""
    x = _tensor(input)
    reps = _sizes(sizes)
    if len(reps) < x.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions of "
                           f"tensor (repeat dims: {len(reps)}, tensor: {x.ndim})")
    if any(r < 0 for r in reps):
        raise RuntimeError(f"Trying to create tensor with negative dimension: repeat sizes {list(reps)}")
    shape = (1,) * (len(reps) - x.ndim) + tuple(x.shape)
    interleaved = prims.reshape(x, tuple(v for s in shape for v in (1, s)))
    expanded = prims.expand(interleaved, tuple(v for r, s in zip(reps, shape) for v in (r, s)))
    return prims.reshape(expanded, tuple(r * s for r, s in zip(reps, shape)))


def tile(input: TensorLike, dims: int | Sequence[int]) -> Tensor:  # noqa: A002
    """repeat, with `dims` padded with leading ones to the tensor's rank.

    Example:
        >>> jg.tile(jg.tensor([1, 2]), 2)
        tensor([1, 2, 1, 2])
    """
    x = _tensor(input)
    reps = _sizes((dims,))
    return repeat(x, (1,) * (x.ndim - len(reps)) + reps)


def repeat_interleave(input: TensorLike, repeats: int | TensorLike, dim: int | None = None) -> Tensor:  # noqa: A002
    """Each element repeated `repeats` times (an int, or one count per element along dim).

    Example:
        >>> jg.repeat_interleave(jg.tensor([1, 2]), 2)
        tensor([1, 1, 2, 2])
    """
    x = _tensor(input)
    if dim is None:
        x, dim = prims.reshape(x, (-1,)), 0
    d = shapes.normalize_dim(dim, x.ndim)
    if isinstance(repeats, (builtins.int, np.integer)):
        if repeats < 0:
            raise RuntimeError(f"repeat_interleave: repeats must be non-negative, got {repeats}")
        shape = x.shape
        y = prims.expand(prims.unsqueeze(x, d + 1), shape[:d + 1] + (builtins.int(repeats),) + shape[d + 1:])
        return prims.reshape(y, shape[:d] + (shape[d] * builtins.int(repeats),) + shape[d + 1:])
    counts = np.asarray(repeats.numpy() if isinstance(repeats, TensorBase) else repeats)
    if counts.ndim > 1 or counts.dtype.kind not in "iu":
        raise RuntimeError("repeat_interleave: repeats must be an int or a 1-D integer tensor")
    if counts.size not in (1, x.shape[d]):
        raise RuntimeError(f"repeats must have the same size as input along dim, but got repeats.size(0) = "
                           f"{counts.size} and input.size({d}) = {x.shape[d]}")
    if np.any(counts < 0):
        raise RuntimeError("repeats can not be negative")
    index = np.repeat(np.arange(x.shape[d]), np.broadcast_to(counts, (x.shape[d],)))
    return prims.getitem(x, (slice(None),) * d + (index,))


# ----- reordering ---------------------------------------------------------------------------------


def flip(input: TensorLike, dims: int | Sequence[int]) -> Tensor:  # noqa: A002
    """The elements in reverse order along each of dims (a copy, as in PyTorch).

    Example:
        >>> jg.flip(jg.arange(3), 0)
        tensor([2, 1, 0])
    """
    x = _tensor(input)
    ds = shapes.normalize_dims(dims if isinstance(dims, (tuple, list)) else (dims,), x.ndim)
    for d in ds:
        x = prims.getitem(x, (slice(None),) * d + (np.arange(x.shape[d] - 1, -1, -1),))
    return x


def fliplr(input: TensorLike) -> Tensor:  # noqa: A002
    """Reverse the order of the columns (dim 1).

    Example:
        >>> jg.fliplr(jg.tensor([[1.0, 2.0], [3.0, 4.0]]))
        tensor([[2., 1.],
                [4., 3.]])
    """
    return flip(input, (1,))


def flipud(input: TensorLike) -> Tensor:  # noqa: A002
    """Reverse the order of the rows (dim 0).

    Example:
        >>> jg.flipud(jg.tensor([[1.0, 2.0], [3.0, 4.0]]))
        tensor([[3., 4.],
                [1., 2.]])
    """
    return flip(input, (0,))


def roll(input: TensorLike, shifts: int | Sequence[int],
         dims: int | Sequence[int] | None = None) -> Tensor:  # noqa: A002
    """Elements shifted by `shifts` along dims, wrapping around (the flattened tensor if dims is None).

    Example:
        >>> jg.roll(jg.arange(4), 1)
        tensor([3, 0, 1, 2])
    """
    x = _tensor(input)
    shift_list = list(shifts) if isinstance(shifts, (tuple, list)) else [shifts]
    if dims is None:
        if len(shift_list) != 1:
            raise RuntimeError(f"roll(): with dims=None, shifts must be one int, got {shift_list}")
        return prims.reshape(roll(prims.reshape(x, (-1,)), shift_list[0], 0), x.shape)
    dim_list = list(dims) if isinstance(dims, (tuple, list)) else [dims]
    if len(shift_list) != len(dim_list):
        raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shift_list)}, dims:{len(dim_list)}")
    for shift, dim in zip(shift_list, dim_list):
        d = shapes.normalize_dim(dim, x.ndim)
        n = x.shape[d]
        if n:
            x = prims.getitem(x, (slice(None),) * d + ((np.arange(n) - builtins.int(shift)) % n,))
    return x


# ----- diagonals and triangles ----------------------------------------------------------------------


def _diagonal_positions(rows: int, cols: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
    start_r, start_c = builtins.max(-offset, 0), builtins.max(offset, 0)
    n = builtins.max(builtins.min(rows - start_r, cols - start_c), 0)
    return np.arange(start_r, start_r + n), np.arange(start_c, start_c + n)


def diagonal(input: TensorLike, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:  # noqa: A002
    """The diagonal of the (dim1, dim2) planes, as a new last dim (offset > 0: above it).

    Example:
        >>> jg.diagonal(jg.tensor([[1.0, 2.0], [3.0, 4.0]]))
        tensor([1., 4.])
    """
    x = _tensor(input)
    d1, d2 = shapes.normalize_dim(dim1, x.ndim), shapes.normalize_dim(dim2, x.ndim)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    rest = tuple(d for d in range(x.ndim) if d not in (d1, d2))
    moved = prims.permute(x, rest + (d1, d2)) if rest + (d1, d2) != tuple(range(x.ndim)) else x
    rows, cols = _diagonal_positions(x.shape[d1], x.shape[d2], offset)
    return prims.getitem(moved, (Ellipsis, rows, cols))


def diag_embed(input: TensorLike, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:  # noqa: A002
    """Matrices (in dims dim1, dim2 of the result) whose diagonal is the input's last dim.

    Example:
        >>> jg.diag_embed(jg.tensor([1.0, 2.0]))
        tensor([[1., 0.],
                [0., 2.]])
    """
    x = _tensor(input)
    ndim = x.ndim + 1
    d1, d2 = shapes.normalize_dim(dim1, ndim), shapes.normalize_dim(dim2, ndim)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    m = x.shape[-1] + builtins.abs(offset)
    rows, cols = _diagonal_positions(m, m, offset)
    zeros = type(x)._wrap(core.full_like_data(x._data, x.shape[:-1] + (m, m), x.dtype, 0))
    out = prims.setitem(zeros, (Ellipsis, rows, cols), x)
    order = _movedim_order(ndim, (ndim - 2, ndim - 1), (d1, d2))
    return prims.permute(out, order) if order != tuple(range(ndim)) else out


def diag(input: TensorLike, diagonal: int = 0) -> Tensor:  # noqa: A002
    """A 1-D input: the square matrix with it on the given diagonal; a 2-D input: that diagonal.

    Example:
        >>> jg.diag(jg.tensor([[1.0, 2.0], [3.0, 4.0]]))
        tensor([1., 4.])
    """
    x = _tensor(input)
    if x.ndim == 1:
        return diag_embed(x, diagonal, 0, 1)
    if x.ndim == 2:
        return globals()["diagonal"](x, diagonal)
    raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {x.ndim}D")


def trace(input: TensorLike) -> Tensor:  # noqa: A002
    """The sum of the main diagonal of a matrix.

    Example:
        >>> jg.trace(jg.tensor([[1.0, 2.0], [3.0, 4.0]]))
        tensor(5.)
    """
    x = _tensor(input)
    if x.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {x.ndim}")
    return prims.sum(diagonal(x))


def _triangle(x, keep: np.ndarray, name: str):
    if x.ndim < 2:
        raise RuntimeError(f"{name}: input tensor must have at least 2 dimensions")
    return prims.where(prims.constant_like(keep, dtypes.bool_, x), x, prims.zero_constant_like(x))


def tril(input: TensorLike, diagonal: int = 0) -> Tensor:  # noqa: A002
    """The lower triangle (elements on and below the given diagonal); the rest zero.

    Example:
        >>> jg.tril(jg.tensor([[1.0, 2.0], [3.0, 4.0]]))
        tensor([[1., 0.],
                [3., 4.]])
    """
    x = _tensor(input)
    rows, cols = (x.shape[-2], x.shape[-1]) if x.ndim >= 2 else (0, 0)
    return _triangle(x, np.tri(rows, cols, diagonal, dtype=bool), "tril")


def triu(input: TensorLike, diagonal: int = 0) -> Tensor:  # noqa: A002
    """The upper triangle (elements on and above the given diagonal); the rest zero.

    Example:
        >>> jg.triu(jg.tensor([[1.0, 2.0], [3.0, 4.0]]))
        tensor([[1., 2.],
                [0., 4.]])
    """
    x = _tensor(input)
    rows, cols = (x.shape[-2], x.shape[-1]) if x.ndim >= 2 else (0, 0)
    return _triangle(x, ~np.tri(rows, cols, diagonal - 1, dtype=bool), "triu")


# ----- masks ----------------------------------------------------------------------------------------


def _check_mask(mask: TensorBase, op: str) -> None:
    if mask.dtype != dtypes.bool_:
        raise RuntimeError(f"{op} only supports boolean masks, but got mask with dtype {dtypes.name(mask.dtype)}")


def masked_fill(input: TensorLike, mask: TensorLike, value: Number) -> Tensor:  # noqa: A002
    """`value` where mask is True, else the input (mask broadcasts to the input's shape).

    Example:
        >>> jg.masked_fill(jg.tensor([[1.0, 2.0], [3.0, 4.0]]), jg.tensor([[1.0, 2.0], [3.0, 4.0]]) > 2, 0.0)
        tensor([[1., 2.],
                [0., 0.]])
    """
    x, m = _tensor(input), _tensor(mask)
    _check_mask(m, "masked_fill_")
    if isinstance(value, TensorBase) and value.ndim != 0:
        raise RuntimeError(f"masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                           f"{value.ndim} dimension(s).")
    if shapes.broadcast(x.shape, m.shape) != tuple(x.shape):
        raise RuntimeError(f"The size of the mask {tuple(m.shape)} must be broadcastable to the input's "
                           f"{tuple(x.shape)}")
    fill = prims.cast(value, x.dtype) if isinstance(value, TensorBase) else value
    return prims.where(m, fill, x)


def masked_select(input: TensorLike, mask: TensorLike) -> Tensor:  # noqa: A002
    """The elements where mask is True, as a 1-D tensor (its length depends on the data).

    Example:
        >>> jg.masked_select(jg.tensor([[1.0, 2.0], [3.0, 4.0]]), jg.tensor([[1.0, 2.0], [3.0, 4.0]]) > 2)
        tensor([3., 4.])
    """
    x, m = _tensor(input), _tensor(mask)
    _check_mask(m, "masked_select:")
    shape = shapes.broadcast(x.shape, m.shape)
    return prims.getitem(prims.expand(x, shape), prims.expand(m, shape))


# ----- index-driven selection and scatter -------------------------------------------------------------


def index_select(input: TensorLike, dim: int, index: TensorLike) -> Tensor:  # noqa: A002
    """The slices at `index` (a 1-D integer tensor) along dim.

    Example:
        >>> jg.index_select(jg.tensor([[1.0, 2.0], [3.0, 4.0]]), 0, jg.tensor([1]))
        tensor([[3., 4.]])
    """
    x, idx = _tensor(input), _tensor(index)
    d = shapes.normalize_dim(dim, x.ndim) if x.ndim else 0
    _check_index_dtype(idx, "index_select")
    if idx.ndim > 1:
        raise IndexError(f"index_select(): Index is supposed to be a vector, got a tensor of {idx.ndim} dims")
    _check_range(idx, 0, x.shape[d] if x.ndim else 1, "index_select", d)
    if x.ndim == 0:
        return prims.expand(x, tuple(idx.shape))
    return prims.getitem(x, (slice(None),) * d + (prims.reshape(idx, (-1,)),))


def _scatter_args(op: str, x, dim, index, src):
    x, idx = _tensor(x), _tensor(index)
    d = shapes.normalize_dim(dim, x.ndim)
    _check_index_dtype(idx, op)
    if idx.ndim != x.ndim:
        raise RuntimeError(f"{op}(): Index tensor must have the same number of dimensions as self tensor "
                           f"({idx.ndim} vs {x.ndim})")
    for k in range(x.ndim):
        if k != d and idx.shape[k] > x.shape[k]:
            raise RuntimeError(f"{op}(): Expected index {tuple(idx.shape)} to be smaller than self {tuple(x.shape)} "
                               f"apart from dimension {d}")
    _check_range(idx, 0, x.shape[d], op, d)
    if isinstance(src, TensorBase):
        if src.ndim != x.ndim or any(i > s for i, s in zip(idx.shape, src.shape)):
            raise RuntimeError(f"{op}(): Expected index {tuple(idx.shape)} to be smaller than src "
                               f"{tuple(src.shape)} in every dimension")
        src = prims.cast(src, x.dtype)
        if tuple(src.shape) != tuple(idx.shape):
            src = prims.getitem(src, tuple(slice(0, s) for s in idx.shape))
    else:
        src = prims.expand(prims.constant_like(np.asarray(src, dtype=x.dtype), x.dtype, x), tuple(idx.shape))
    return x, d, idx, src


def scatter(input: TensorLike, dim: int, index: TensorLike, src: TensorLike | None = None, *,
            value: Number | None = None) -> Tensor:  # noqa: A002
    """A copy of the input with src[i][j] written at [index[i][j]][j] (for dim 0); `value` writes
    one number. Where index repeats a position, which write wins is unspecified (as in PyTorch).

    Example:
        >>> jg.scatter(jg.zeros(3), 0, jg.tensor([2]), jg.tensor([5.0]))
        tensor([0., 0., 5.])
    """
    if (src is None) == (value is None):
        raise TypeError("scatter() needs exactly one of `src` (a tensor or number) and `value`")
    x, d, idx, src = _scatter_args("scatter", input, dim, index, value if src is None else src)
    grid = list(np.indices(idx.shape, sparse=True))
    grid[d] = idx
    return prims.setitem(x, tuple(grid), src)


def scatter_add(input: TensorLike, dim: int, index: TensorLike, src: TensorLike) -> Tensor:  # noqa: A002
    """A copy of the input with src[i][j] added at [index[i][j]][j] (for dim 0); repeats add up.

    Example:
        >>> jg.scatter_add(jg.zeros(3), 0, jg.tensor([2, 2]), jg.tensor([1.0, 2.0]))
        tensor([0., 0., 3.])
    """
    x, d, idx, src = _scatter_args("scatter_add", input, dim, index, src)
    return prims.add(x, prims.scatter_add_to(src, idx, d, x.shape))


def take_along_dim(input: TensorLike, indices: TensorLike, dim: int | None = None) -> Tensor:  # noqa: A002
    """gather with the input and indices broadcast against each other outside dim (the
    flattened input when dim is None).

    Example:
        >>> jg.take_along_dim(jg.tensor([[1.0, 2.0], [3.0, 4.0]]), jg.tensor([[1], [0]]), 1)
        tensor([[2.],
                [3.]])
    """
    x, idx = _tensor(input), _tensor(indices)
    _check_index_dtype(idx, "take_along_dim", "indices")
    if dim is None:
        return take_along_dim(prims.reshape(x, (-1,)), prims.reshape(idx, (-1,)), 0)
    d = shapes.normalize_dim(dim, x.ndim)
    if idx.ndim != x.ndim:
        raise RuntimeError(f"torch.take_along_dim(): input and indices should have the same number of dimensions, "
                           f"but got {x.ndim} dimensions for input, and {idx.ndim} dimensions for indices")
    outer = shapes.broadcast(tuple(1 if k == d else s for k, s in enumerate(x.shape)),
                             tuple(1 if k == d else s for k, s in enumerate(idx.shape)))
    x = prims.expand(x, outer[:d] + (x.shape[d],) + outer[d + 1:])
    idx = prims.expand(idx, outer[:d] + (idx.shape[d],) + outer[d + 1:])
    _check_range(idx, -x.shape[d], x.shape[d], "take_along_dim", d)
    values = _concrete(idx)
    if values is not None and np.any(values < 0):  # negative indices count from the end, as in PyTorch
        idx = prims.as_tensor_operand(np.where(values < 0, values + x.shape[d], values))
    return prims.gather(x, d, idx)


def _movedim_order(ndim: int, source: Sequence[int], destination: Sequence[int]) -> tuple:
    """The permutation that moves dims `source` to positions `destination`."""
    order = [None] * ndim
    for s, t in zip(source, destination):
        order[t] = s
    rest = iter(d for d in range(ndim) if d not in source)
    return tuple(next(rest) if o is None else o for o in order)


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 indicator vectors: out[..., c] = 1 where tensor == c (num_classes = max + 1 when -1)."""
    t = _tensor(tensor)
    if t.dtype != dtypes.int64:
        raise RuntimeError(f"one_hot is only applicable to index tensor of type LongTensor, got {dtypes.name(t.dtype)}")
    values = _concrete(t)
    if num_classes == -1:
        if values is None:
            raise TypeError("one_hot(): num_classes=-1 makes the result's shape data-dependent and cannot be traced; "
                            "give num_classes")
        if values.size == 0:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        num_classes = builtins.int(values.max()) + 1
    if num_classes < 1 and (values is None or values.size):
        raise RuntimeError(f"one_hot(): num_classes should be positive, got {num_classes}")
    _check_range(t, 0, num_classes, "one_hot", t.ndim)
    if values is None and isinstance(t._data, Symbolic):
        # Traced: rows of the identity picked by a bounds-checked gather, so the compiled kernel
        # raises IndexOutOfRangeError for a class outside [0, num_classes) as eager mode does.
        eye = prims.constant_like(np.eye(num_classes, dtype=np.int64), dtypes.int64, t)
        rows = prims.expand(prims.reshape(t, (-1, 1)), (t.numel(), num_classes))
        return prims.reshape(prims.gather(eye, 0, rows), tuple(t.shape) + (num_classes,))
    classes = prims.constant_like(np.arange(num_classes), dtypes.int64, t)  # (on t's device)
    return prims.cast(prims.eq(prims.unsqueeze(t, -1), classes), dtypes.int64)
