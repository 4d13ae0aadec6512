"""Shape primitives, each declared once (reshape, expand, permute, transpose, squeeze,
unsqueeze, cat, stack), with their wrappers; views by indexing live in prims_index.py."""
from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

import numpy as np

from . import shapes
from .core import SHAPE, Primitive, bind
from .prims_elementwise import needs_grad, unbroadcast
from .prims_index import narrow, select
from .prims_promotion import as_tensor_operand, promoted

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from collections.abc import Sequence

    from ._typing import ShapeLike, TensorLike
    from .tensor import Tensor


def _shape_to(x, shape):
    return tuple(shape), x.dtype


RESHAPE = Primitive("reshape", lambda x, shape: x.reshape(shape), _shape_to,
                    lambda g, out, x, shape: (reshape(g, x.shape),), SHAPE, "ViewBackward0",
                    params=("shape",))


def _expand_rule(x, shape):
    if shapes.broadcast(x.shape, shape) != tuple(shape):
        raise RuntimeError(f"The expanded size of the tensor {tuple(shape)} must match the existing "
                           f"size {tuple(x.shape)} at non-singleton dimensions")
    return tuple(shape), x.dtype


def _expand_impl(x, shape):
    """np.broadcast_to's read-only view; on a C-contiguous ndarray built directly with zero strides
    on the broadcast dims (np.broadcast_to's Python layers cost ten times the view on small arrays)."""
    if type(x) is not np.ndarray or not x.size or not x.flags.c_contiguous:
        return np.broadcast_to(x, shape)
    lead = len(shape) - x.ndim
    strides = [0] * lead
    for n, size, stride in zip(shape[lead:], x.shape, x.strides):
        strides.append(0 if size != n else stride)
    view = np.ndarray(shape, x.dtype, x, 0, tuple(strides))
    view.flags.writeable = False
    return view


EXPAND = Primitive("expand", _expand_impl, _expand_rule,
                   lambda g, out, x, shape: (unbroadcast(g, x.shape),), SHAPE, "ExpandBackward0",
                   params=("shape",))


def _permute_rule(x, dims):
    return tuple(x.shape[d] for d in dims), x.dtype


PERMUTE = Primitive("permute", lambda x, dims: np.transpose(x, dims), _permute_rule,
                    lambda g, out, x, dims: (permute(g, shapes.inverse_permutation(dims)),), SHAPE,
                    "PermuteBackward0", params=("dims",))


def _swap(ndim, d0, d1):
    perm = list(range(ndim))
    perm[d0], perm[d1] = perm[d1], perm[d0]
    return tuple(perm)


def _transpose_impl(x, dim0, dim1):
    """np.swapaxes (the ndarray method on an ndarray: np.swapaxes's dispatch layer costs more than the view)."""
    return x.swapaxes(dim0, dim1) if type(x) is np.ndarray else np.swapaxes(x, dim0, dim1)


TRANSPOSE = Primitive("transpose", _transpose_impl,
                      lambda x, dim0, dim1: (_permute_rule(x, _swap(x.ndim, dim0, dim1))),
                      lambda g, out, x, dim0, dim1: (transpose(g, dim0, dim1),), SHAPE,
                      "TransposeBackward0", params=("dim0", "dim1"))
def _squeeze_name(params, in_shapes):
    """PyTorch names squeeze() SqueezeBackward0 and squeeze(dim) SqueezeBackward1."""
    return "SqueezeBackward1" if params["explicit"] else "SqueezeBackward0"


SQUEEZE = Primitive("squeeze", lambda x, dims, explicit: np.squeeze(x, axis=dims),
                    lambda x, dims, explicit: (tuple(s for i, s in enumerate(x.shape) if i not in dims), x.dtype),
                    lambda g, out, x, dims, explicit: (reshape(g, x.shape),), SHAPE,
                    _squeeze_name, params=("dims", "explicit"))
UNSQUEEZE = Primitive("unsqueeze", lambda x, dim: np.expand_dims(x, dim),
                      lambda x, dim: (x.shape[:dim] + (1,) + x.shape[dim:], x.dtype),
                      lambda g, out, x, dim: (reshape(g, x.shape),), SHAPE, "UnsqueezeBackward0",
                      params=("dim",))


def _cat_rule(*xs, dim):
    first = xs[0]
    shape = first.shape
    size = shape[dim]
    before, after = shape[:dim], shape[dim + 1:]
    for x in xs[1:]:
        other = x.shape
        if len(other) != len(shape) or other[:dim] != before or other[dim + 1:] != after:
            raise RuntimeError(f"Sizes of tensors must match except in dimension {dim}: got shapes "
                               f"{tuple(shape)} and {tuple(other)}")
        size += other[dim]
    return before + (size,) + after, first.dtype


def _cat_vjp(g, out, *xs, dim):
    grads, start = [], 0
    for x in xs:
        n = x.shape[dim]
        grads.append(narrow(g, dim, start, n) if needs_grad(x) else None)
        start += n
    return tuple(grads)


def _stack_rule(*xs, dim):
    for x in xs[1:]:
        if x.shape != xs[0].shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {tuple(xs[0].shape)} "
                               f"and {tuple(x.shape)}")
    s = xs[0].shape
    return s[:dim] + (len(xs),) + s[dim:], xs[0].dtype


def _stack_vjp(g, out, *xs, dim):
    return tuple(select(g, dim, i) if needs_grad(x) else None for i, x in enumerate(xs))


CAT = Primitive("cat", lambda *xs, dim: np.concatenate(xs, axis=dim), _cat_rule, _cat_vjp, SHAPE,
                "CatBackward0", params=("dim",))
STACK = Primitive("stack", lambda *xs, dim: np.stack(xs, axis=dim), _stack_rule, _stack_vjp, SHAPE,
                  "StackBackward0", params=("dim",))


def reshape(x: TensorLike, *shape: ShapeLike) -> Tensor:
    """The same values in a new shape (-1 infers one size); a view when possible.

    Example:
        >>> jg.reshape(jg.arange(6), (2, 3))
        tensor([[0, 1, 2],
                [3, 4, 5]])
        >>> jg.reshape(jg.arange(6), (-1, 2)).shape
        (3, 2)
    """
    x = as_tensor_operand(x)
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    shape = shapes.infer_reshape(x.shape, shape)
    return x if shape == x.shape else bind(RESHAPE, x, shape=shape)


def expand(x: TensorLike, *shape: ShapeLike) -> Tensor:
    """A view repeating size-1 dims to `shape` (-1 keeps a size), without copying.

    Example:
        >>> jg.expand(jg.tensor([[1], [2]]), (2, 3))
        tensor([[1, 1, 1],
                [2, 2, 2]])
    """
    x = as_tensor_operand(x)
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    lead = len(shape) - x.ndim
    if lead < 0:
        raise RuntimeError(f"expand: the number of sizes provided ({len(shape)}) must be greater or equal "
                           f"to the number of dimensions in the tensor ({x.ndim})")
    shape = tuple(x.shape[i - lead] if s == -1 else builtins.int(s) for i, s in enumerate(shape))
    return x if shape == x.shape else bind(EXPAND, x, shape=shape)


def broadcast_to(x: TensorLike, shape: ShapeLike) -> Tensor:
    """`x` broadcast to `shape` (a view, as expand).

    Example:
        >>> jg.broadcast_to(jg.tensor([1, 2]), (2, 2))
        tensor([[1, 2],
                [1, 2]])
    """
    return expand(x, tuple(shape))


def permute(x: TensorLike, *dims: int | Sequence[int]) -> Tensor:
    """A view with the dims reordered.

    Example:
        >>> jg.permute(jg.zeros(2, 3, 4), (2, 0, 1)).shape
        (4, 2, 3)
    """
    x = as_tensor_operand(x)
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = dims[0]
    return bind(PERMUTE, x, dims=shapes.check_permutation(dims, x.ndim))


def transpose(x: TensorLike, dim0: int, dim1: int) -> Tensor:
    """A view with dims `dim0` and `dim1` swapped.

    Example:
        >>> jg.transpose(jg.tensor([[1, 2, 3]]), 0, 1)
        tensor([[1],
                [2],
                [3]])
    """
    x = as_tensor_operand(x)
    d0, d1 = shapes.normalize_dim(dim0, x.ndim), shapes.normalize_dim(dim1, x.ndim)
    return bind(TRANSPOSE, x, dim0=builtins.min(d0, d1), dim1=builtins.max(d0, d1))


def t(x: TensorLike) -> Tensor:
    """Transpose of a tensor of rank <= 2 (PyTorch's .t()).

    Example:
        >>> jg.t(jg.tensor([[1, 2], [3, 4]]))
        tensor([[1, 3],
                [2, 4]])
    """
    x = as_tensor_operand(x)
    if x.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {x.ndim}D")
    return x if x.ndim < 2 else transpose(x, 0, 1)


def squeeze(x: TensorLike, dim: int | Sequence[int] | None = None) -> Tensor:
    """A view without size-1 dims (all of them, or those in `dim`).

    Example:
        >>> jg.squeeze(jg.zeros(2, 1, 3)).shape
        (2, 3)
        >>> jg.squeeze(jg.zeros(1, 2, 1), 0).shape
        (2, 1)
    """
    x = as_tensor_operand(x)
    if dim is None:
        dims = tuple(i for i, s in enumerate(x.shape) if s == 1)
    else:
        dims = tuple(d for d in shapes.normalize_dims(dim, x.ndim) if x.shape[d] == 1)
    return x if not dims else bind(SQUEEZE, x, dims=dims, explicit=dim is not None)


def unsqueeze(x: TensorLike, dim: int) -> Tensor:
    """A view with a new size-1 dim at `dim`.

    Example:
        >>> jg.unsqueeze(jg.tensor([1, 2]), 1)
        tensor([[1],
                [2]])
    """
    x = as_tensor_operand(x)
    return bind(UNSQUEEZE, x, dim=shapes.normalize_dim(dim, x.ndim + 1))


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """The tensors joined along an existing dim (their other sizes must match).

    Example:
        >>> jg.cat([jg.zeros(1, 2), jg.ones(2, 2)], dim=0)
        tensor([[0., 0.],
                [1., 1.],
                [1., 1.]])
    """
    xs = promoted(*tensors) if len(tensors) else []
    if not xs:
        raise RuntimeError("cat expects a non-empty list of tensors")
    return bind(CAT, *xs, dim=shapes.normalize_dim(dim, xs[0].ndim))


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """The tensors (all of one shape) joined along a new dim.

    Example:
        >>> jg.stack([jg.tensor([1, 2]), jg.tensor([3, 4])], dim=1)
        tensor([[1, 3],
                [2, 4]])
    """
    xs = promoted(*tensors) if len(tensors) else []
    if not xs:
        raise RuntimeError("stack expects a non-empty list of tensors")
    return bind(STACK, *xs, dim=shapes.normalize_dim(dim, xs[0].ndim + 1))


def flatten(x: TensorLike, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """The dims `start_dim`..`end_dim` merged into one.

    Example:
        >>> jg.flatten(jg.zeros(2, 3, 4), 1).shape
        (2, 12)
    """
    x = as_tensor_operand(x)
    if x.ndim == 0:
        return reshape(x, (1,))
    s = shapes.normalize_dim(start_dim, x.ndim)
    e = shapes.normalize_dim(end_dim, x.ndim)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    return reshape(x, x.shape[:s] + (-1,) + x.shape[e + 1:])


# The shape primitives declared here, in prims.ALL's order.
SHAPE_PRIMS = (RESHAPE, EXPAND, PERMUTE, TRANSPOSE, SQUEEZE, UNSQUEEZE, CAT, STACK)
