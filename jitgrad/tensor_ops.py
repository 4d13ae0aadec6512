"""The operators and out-of-place methods of Tensor (a mixin): each calls the op wrapper that
prims.py exports, so a tensor method and the function of the same name are one code path."""
from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

from . import prims, shapes

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from collections.abc import Sequence
    from typing import Any

    from ._typing import Dims, DTypeLike, Number, ShapeLike, TensorLike
    from .tensor import Tensor


class TensorOps:
    """Operators (+, *, @, ==, [], ...) and math, reduction and shape methods of Tensor."""

    __slots__ = ()

    # ----- operators --------------------------------------------------------------------------

    def __add__(self, other: TensorLike) -> Tensor:
        return prims.add(self, other)

    def __radd__(self, other: TensorLike) -> Tensor:
        # Commutative: the tensor is operand 0, as PyTorch records `2 + b` (next_functions[0] is b's node).
        return prims.add(self, other)

    def __sub__(self, other: TensorLike) -> Tensor:
        return prims.sub(self, other)

    def __rsub__(self, other: TensorLike) -> Tensor:
        if prims.is_python_scalar(other):
            return prims.rsub_scalar(other, self)
        return prims.sub(other, self)

    def __mul__(self, other: TensorLike) -> Tensor:
        return prims.mul(self, other)

    def __rmul__(self, other: TensorLike) -> Tensor:
        # Commutative: the tensor is operand 0, as PyTorch records `2 * b` (next_functions[0] is b's node).
        return prims.mul(self, other)

    def __truediv__(self, other: TensorLike) -> Tensor:
        return prims.div(self, other)

    def __rtruediv__(self, other: TensorLike) -> Tensor:
        if prims.is_python_scalar(other):
            return prims.rdiv_scalar(other, self)
        return prims.div(other, self)

    def __pow__(self, other: TensorLike) -> Tensor:
        return prims.pow(self, other)

    def __rpow__(self, other: TensorLike) -> Tensor:
        if prims.is_python_scalar(other):
            return prims.rpow_scalar(other, self)
        return prims.pow(other, self)

    def __matmul__(self, other: TensorLike) -> Tensor:
        return prims.matmul(self, other)

    def __rmatmul__(self, other: TensorLike) -> Tensor:
        return prims.matmul(other, self)

    def __neg__(self) -> Tensor:
        return prims.neg(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return prims.abs(self)

    def __eq__(self, other: Any) -> Tensor:  # noqa: D105 - elementwise, as in PyTorch
        return prims.eq(self, other)

    def __ne__(self, other: Any) -> Tensor:
        return prims.ne(self, other)

    def __lt__(self, other: TensorLike) -> Tensor:
        return prims.lt(self, other)

    def __le__(self, other: TensorLike) -> Tensor:
        return prims.le(self, other)

    def __gt__(self, other: TensorLike) -> Tensor:
        return prims.gt(self, other)

    def __ge__(self, other: TensorLike) -> Tensor:
        return prims.ge(self, other)

    def __and__(self, other: TensorLike) -> Tensor:
        return prims.logical_and(self, other)

    def __or__(self, other: TensorLike) -> Tensor:
        return prims.logical_or(self, other)

    def __invert__(self) -> Tensor:
        return prims.logical_not(self)

    def __getitem__(self, index: Any) -> Tensor:
        return prims.getitem(self, index)

    # ----- math methods -----------------------------------------------------------------------

    def add(self, other: TensorLike, alpha: Number = 1) -> Tensor:
        return prims.add(self, other, alpha=alpha)

    def sub(self, other: TensorLike, alpha: Number = 1) -> Tensor:
        return prims.sub(self, other, alpha=alpha)

    def mul(self, other: TensorLike) -> Tensor:
        return prims.mul(self, other)

    def div(self, other: TensorLike) -> Tensor:
        return prims.div(self, other)

    def pow(self, exponent: TensorLike) -> Tensor:
        return prims.pow(self, exponent)

    def matmul(self, other: TensorLike) -> Tensor:
        return prims.matmul(self, other)

    def mm(self, other: TensorLike) -> Tensor:
        return prims.mm(self, other)

    def neg(self) -> Tensor:
        return prims.neg(self)

    def abs(self) -> Tensor:
        return prims.abs(self)

    def sign(self) -> Tensor:
        return prims.sign(self)

    def exp(self) -> Tensor:
        return prims.exp(self)

    def expm1(self) -> Tensor:
        return prims.expm1(self)

    def log(self) -> Tensor:
        return prims.log(self)

    def log1p(self) -> Tensor:
        return prims.log1p(self)

    def sqrt(self) -> Tensor:
        return prims.sqrt(self)

    def reciprocal(self) -> Tensor:
        return prims.reciprocal(self)

    def sin(self) -> Tensor:
        return prims.sin(self)

    def cos(self) -> Tensor:
        return prims.cos(self)

    def tan(self) -> Tensor:
        return prims.tan(self)

    def tanh(self) -> Tensor:
        return prims.tanh(self)

    def sigmoid(self) -> Tensor:
        return prims.sigmoid(self)

    def relu(self) -> Tensor:
        return prims.relu(self)

    def maximum(self, other: TensorLike) -> Tensor:
        return prims.maximum(self, other)

    def minimum(self, other: TensorLike) -> Tensor:
        return prims.minimum(self, other)

    def clamp(self, min: TensorLike | None = None, max: TensorLike | None = None) -> Tensor:  # noqa: A002
        return prims.clamp(self, min, max)

    clip = clamp

    def where(self, condition: TensorLike, other: TensorLike) -> Tensor:
        return prims.where(condition, self, other)

    def eq(self, other: TensorLike) -> Tensor:
        return prims.eq(self, other)

    def ne(self, other: TensorLike) -> Tensor:
        return prims.ne(self, other)

    def lt(self, other: TensorLike) -> Tensor:
        return prims.lt(self, other)

    def le(self, other: TensorLike) -> Tensor:
        return prims.le(self, other)

    def gt(self, other: TensorLike) -> Tensor:
        return prims.gt(self, other)

    def ge(self, other: TensorLike) -> Tensor:
        return prims.ge(self, other)

    def sum(self, dim: Dims = None, keepdim: bool = False, dtype: DTypeLike = None) -> Tensor:
        return prims.sum(self, dim, keepdim, dtype=dtype)

    def mean(self, dim: Dims = None, keepdim: bool = False, dtype: DTypeLike = None) -> Tensor:
        return prims.mean(self, dim, keepdim, dtype=dtype)

    def nansum(self, dim: Dims = None, keepdim: bool = False, dtype: DTypeLike = None) -> Tensor:
        return prims.nansum(self, dim, keepdim, dtype=dtype)

    def sum_to_size(self, *size: ShapeLike) -> Tensor:
        """Summed over the dims that broadcasting to this shape added or expanded, down to `size`
        (PyTorch's sum_to_size; the autograd engine calls it on cotangents of broadcasting ops)."""
        shape = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else tuple(size)
        try:
            expandable = shapes.broadcast(shape, self.shape) == tuple(self.shape)
        except ValueError:
            expandable = False
        if not expandable:
            raise RuntimeError(f"size {{{list(shape)}}} is not expandable to size {{{list(self.shape)}}}.")
        return prims.unbroadcast(self, shape)

    def max(self, dim: int | None = None, keepdim: bool = False) -> Any:
        return prims.max(self, dim, keepdim)

    def min(self, dim: int | None = None, keepdim: bool = False) -> Any:
        return prims.min(self, dim, keepdim)

    def amax(self, dim: Dims = None, keepdim: bool = False) -> Tensor:
        return prims.amax(self, dim, keepdim)

    def amin(self, dim: Dims = None, keepdim: bool = False) -> Tensor:
        return prims.amin(self, dim, keepdim)

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        return prims.argmax(self, dim, keepdim)

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        return prims.argmin(self, dim, keepdim)

    def prod(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        return prims.prod(self, dim, keepdim)

    def norm(self, p: float | str | None = "fro", dim: Dims = None, keepdim: bool = False) -> Tensor:
        return prims.norm(self, p, dim, keepdim)

    def var(self, dim: Dims = None, unbiased: bool | None = None, keepdim: bool = False, *,
            correction: int | None = None) -> Tensor:
        return prims.var(self, dim, unbiased, keepdim, correction=correction)

    def std(self, dim: Dims = None, unbiased: bool | None = None, keepdim: bool = False, *,
            correction: int | None = None) -> Tensor:
        return prims.std(self, dim, unbiased, keepdim, correction=correction)

    # ----- shape methods ----------------------------------------------------------------------

    def reshape(self, *shape: int | Sequence[int]) -> Tensor:
        return prims.reshape(self, *shape)

    def view(self, *shape: int | Sequence[int]) -> Tensor:
        if len(shape) == 1 and not isinstance(shape[0], (tuple, list, builtins.int)):
            return self.to(shape[0])
        return prims.reshape(self, *shape)

    def view_as(self, other: TensorLike) -> Tensor:
        return prims.reshape(self, other.shape)

    def reshape_as(self, other: TensorLike) -> Tensor:
        return prims.reshape(self, other.shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        return prims.flatten(self, start_dim, end_dim)

    def expand(self, *shape: int | Sequence[int]) -> Tensor:
        return prims.expand(self, *shape)

    def expand_as(self, other: TensorLike) -> Tensor:
        return prims.expand(self, other.shape)

    def broadcast_to(self, shape: ShapeLike) -> Tensor:
        return prims.broadcast_to(self, shape)

    def permute(self, *dims: int | Sequence[int]) -> Tensor:
        return prims.permute(self, *dims)

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        return prims.transpose(self, dim0, dim1)

    def t(self) -> Tensor:
        return prims.t(self)

    def squeeze(self, dim: int | Sequence[int] | None = None) -> Tensor:
        return prims.squeeze(self, dim)

    def unsqueeze(self, dim: int) -> Tensor:
        return prims.unsqueeze(self, dim)

    def gather(self, dim: int, index: Tensor) -> Tensor:
        return prims.gather(self, dim, index)

    def narrow(self, dim: int, start: int | TensorLike, length: int) -> Tensor:
        return prims.narrow(self, dim, start, length)

    def select(self, dim: int, index: int) -> Tensor:
        return prims.select(self, dim, index)
