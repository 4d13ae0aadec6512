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
        """Same as jg.add(self, other).

        Example:
            >>> jg.tensor([1.0, 2.0]).add(10)
            tensor([11., 12.])
        """
        return prims.add(self, other, alpha=alpha)

    def sub(self, other: TensorLike, alpha: Number = 1) -> Tensor:
        """Same as jg.sub(self, other).

        Example:
            >>> jg.tensor([1.0, 2.0]).sub(1)
            tensor([0., 1.])
        """
        return prims.sub(self, other, alpha=alpha)

    def mul(self, other: TensorLike) -> Tensor:
        """Same as jg.mul(self, other).

        Example:
            >>> jg.tensor([1.0, 2.0]).mul(2)
            tensor([2., 4.])
        """
        return prims.mul(self, other)

    def div(self, other: TensorLike) -> Tensor:
        """Same as jg.div(self, other).

        Example:
            >>> jg.tensor([1.0, 2.0]).div(2)
            tensor([0.5000, 1.0000])
        """
        return prims.div(self, other)

    def pow(self, exponent: TensorLike) -> Tensor:
        """Same as jg.pow(self, other).

        Example:
            >>> jg.tensor([1.0, 2.0]).pow(2)
            tensor([1., 4.])
        """
        return prims.pow(self, exponent)

    def matmul(self, other: TensorLike) -> Tensor:
        """Same as jg.matmul(self, ...).

        Example:
            >>> jg.eye(2).matmul(jg.tensor([1.0, 2.0]))
            tensor([1., 2.])
        """
        return prims.matmul(self, other)

    def mm(self, other: TensorLike) -> Tensor:
        """Same as jg.mm(self, ...).

        Example:
            >>> jg.eye(2).mm(jg.ones(2, 1))
            tensor([[1.],
                    [1.]])
        """
        return prims.mm(self, other)

    def neg(self) -> Tensor:
        """Same as jg.neg(self).

        Example:
            >>> jg.tensor([1.0, -2.0]).neg()
            tensor([-1.,  2.])
        """
        return prims.neg(self)

    def abs(self) -> Tensor:
        """Same as jg.abs(self).

        Example:
            >>> jg.tensor([-1.5, 2.0]).abs()
            tensor([1.5000, 2.0000])
        """
        return prims.abs(self)

    def sign(self) -> Tensor:
        """Same as jg.sign(self).

        Example:
            >>> jg.tensor([-2.0, 0.0, 3.0]).sign()
            tensor([-1.,  0.,  1.])
        """
        return prims.sign(self)

    def exp(self) -> Tensor:
        """Same as jg.exp(self).

        Example:
            >>> jg.tensor([0.0, 1.0]).exp()
            tensor([1.0000, 2.7183])
        """
        return prims.exp(self)

    def expm1(self) -> Tensor:
        """Same as jg.expm1(self).

        Example:
            >>> jg.tensor([0.0, 1e-3]).expm1()
            tensor([0.0000, 0.0010])
        """
        return prims.expm1(self)

    def log(self) -> Tensor:
        """Same as jg.log(self).

        Example:
            >>> jg.tensor([1.0, 2.718282]).log()
            tensor([0.0000, 1.0000])
        """
        return prims.log(self)

    def log1p(self) -> Tensor:
        """Same as jg.log1p(self).

        Example:
            >>> jg.tensor([0.0, 1e-3]).log1p()
            tensor([0.0000, 0.0010])
        """
        return prims.log1p(self)

    def sqrt(self) -> Tensor:
        """Same as jg.sqrt(self).

        Example:
            >>> jg.tensor([4.0, 2.0]).sqrt()
            tensor([2.0000, 1.4142])
        """
        return prims.sqrt(self)

    def reciprocal(self) -> Tensor:
        """Same as jg.reciprocal(self).

        Example:
            >>> jg.tensor([2.0, 4.0]).reciprocal()
            tensor([0.5000, 0.2500])
        """
        return prims.reciprocal(self)

    def sin(self) -> Tensor:
        """Same as jg.sin(self).

        Example:
            >>> jg.tensor([0.0, 1.5707964]).sin()
            tensor([0., 1.])
        """
        return prims.sin(self)

    def cos(self) -> Tensor:
        """Same as jg.cos(self).

        Example:
            >>> jg.tensor([0.0, 3.1415927]).cos()
            tensor([ 1., -1.])
        """
        return prims.cos(self)

    def tan(self) -> Tensor:
        """Same as jg.tan(self).

        Example:
            >>> jg.tensor([0.0, 0.7853982]).tan()
            tensor([0., 1.])
        """
        return prims.tan(self)

    def tanh(self) -> Tensor:
        """Same as jg.tanh(self).

        Example:
            >>> jg.tensor([-1.0, 0.0, 1.0]).tanh()
            tensor([-0.7616,  0.0000,  0.7616])
        """
        return prims.tanh(self)

    def sigmoid(self) -> Tensor:
        """Same as jg.sigmoid(self).

        Example:
            >>> jg.tensor([-1.0, 0.0, 1.0]).sigmoid()
            tensor([0.2689, 0.5000, 0.7311])
        """
        return prims.sigmoid(self)

    def relu(self) -> Tensor:
        """Same as jg.relu(self).

        Example:
            >>> jg.tensor([-1.0, 0.0, 2.0]).relu()
            tensor([0., 0., 2.])
        """
        return prims.relu(self)

    def maximum(self, other: TensorLike) -> Tensor:
        """Same as jg.maximum(self, other).

        Example:
            >>> jg.tensor([1.0, 2.0]).maximum(jg.tensor(1.5))
            tensor([1.5000, 2.0000])
        """
        return prims.maximum(self, other)

    def minimum(self, other: TensorLike) -> Tensor:
        """Same as jg.minimum(self, other).

        Example:
            >>> jg.tensor([1.0, 2.0]).minimum(jg.tensor(1.5))
            tensor([1.0000, 1.5000])
        """
        return prims.minimum(self, other)

    def clamp(self, min: TensorLike | None = None, max: TensorLike | None = None) -> Tensor:  # noqa: A002
        """Same as jg.clamp(self, ...).

        Example:
            >>> jg.tensor([-2.0, 2.0]).clamp(-1, 1)
            tensor([-1.,  1.])
        """
        return prims.clamp(self, min, max)

    clip = clamp

    def where(self, condition: TensorLike, other: TensorLike) -> Tensor:
        """Same as jg.where(self, ...).

        Example:
            >>> jg.tensor([1.0, 2.0]).where(jg.tensor([True, False]), 0.0)
            tensor([1., 0.])
        """
        return prims.where(condition, self, other)

    def eq(self, other: TensorLike) -> Tensor:
        """Same as jg.eq(self, other).

        Example:
            >>> jg.tensor([1.0, 2.0]).eq(2.0)
            tensor([False,  True])
        """
        return prims.eq(self, other)

    def ne(self, other: TensorLike) -> Tensor:
        """Same as jg.ne(self, other).

        Example:
            >>> jg.tensor([1.0, 2.0]).ne(2.0)
            tensor([ True, False])
        """
        return prims.ne(self, other)

    def lt(self, other: TensorLike) -> Tensor:
        """Same as jg.lt(self, other).

        Example:
            >>> jg.tensor([1.0, 2.0]).lt(2.0)
            tensor([ True, False])
        """
        return prims.lt(self, other)

    def le(self, other: TensorLike) -> Tensor:
        """Same as jg.le(self, other).

        Example:
            >>> jg.tensor([1.0, 2.0]).le(2.0)
            tensor([True, True])
        """
        return prims.le(self, other)

    def gt(self, other: TensorLike) -> Tensor:
        """Same as jg.gt(self, other).

        Example:
            >>> jg.tensor([1.0, 2.0]).gt(2.0)
            tensor([False, False])
        """
        return prims.gt(self, other)

    def ge(self, other: TensorLike) -> Tensor:
        """Same as jg.ge(self, other).

        Example:
            >>> jg.tensor([1.0, 2.0]).ge(2.0)
            tensor([False,  True])
        """
        return prims.ge(self, other)

    def sum(self, dim: Dims = None, keepdim: bool = False, dtype: DTypeLike = None) -> Tensor:
        """Same as jg.sum(self, ...).

        Example:
            >>> jg.tensor([[1, 2], [3, 4]]).sum(dim=1)
            tensor([3, 7])
        """
        return prims.sum(self, dim, keepdim, dtype=dtype)

    def mean(self, dim: Dims = None, keepdim: bool = False, dtype: DTypeLike = None) -> Tensor:
        """Same as jg.mean(self, ...).

        Example:
            >>> jg.tensor([[1.0, 2.0], [3.0, 4.0]]).mean()
            tensor(2.5000)
        """
        return prims.mean(self, dim, keepdim, dtype=dtype)

    def nansum(self, dim: Dims = None, keepdim: bool = False, dtype: DTypeLike = None) -> Tensor:
        """The sum over `dim` with NaNs counted as zero.

        Example:
            >>> jg.tensor([1.0, float('nan'), 2.0]).nansum()
            tensor(3.)
        """
        return prims.nansum(self, dim, keepdim, dtype=dtype)

    def sum_to_size(self, *size: ShapeLike) -> Tensor:
        """Summed over the dims that broadcasting to this shape added or expanded, down to `size`
        (PyTorch's sum_to_size; the autograd engine calls it on cotangents of broadcasting ops).

        Example:
            >>> jg.ones(2, 3).sum_to_size(1, 3)
            tensor([[2., 2., 2.]])
        """
        shape = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else tuple(size)
        try:
            expandable = shapes.broadcast(shape, self.shape) == tuple(self.shape)
        except ValueError:
            expandable = False
        if not expandable:
            raise RuntimeError(f"size {{{list(shape)}}} is not expandable to size {{{list(self.shape)}}}.")
        return prims.unbroadcast(self, shape)

    def max(self, dim: int | None = None, keepdim: bool = False) -> Any:
        """Same as jg.max(self, ...).

        Example:
            >>> jg.tensor([[1.0, 5.0], [3.0, 2.0]]).max(dim=0).values
            tensor([3., 5.])
        """
        return prims.max(self, dim, keepdim)

    def min(self, dim: int | None = None, keepdim: bool = False) -> Any:
        """Same as jg.min(self, ...).

        Example:
            >>> jg.tensor([[1.0, 4.0], [3.0, 2.0]]).min()
            tensor(1.)
        """
        return prims.min(self, dim, keepdim)

    def amax(self, dim: Dims = None, keepdim: bool = False) -> Tensor:
        """Same as jg.amax(self, ...).

        Example:
            >>> jg.tensor([[1.0, 4.0], [3.0, 2.0]]).amax(dim=0)
            tensor([3., 4.])
        """
        return prims.amax(self, dim, keepdim)

    def amin(self, dim: Dims = None, keepdim: bool = False) -> Tensor:
        """Same as jg.amin(self, ...).

        Example:
            >>> jg.tensor([[1.0, 4.0], [3.0, 2.0]]).amin(dim=0)
            tensor([1., 2.])
        """
        return prims.amin(self, dim, keepdim)

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """Same as jg.argmax(self, ...).

        Example:
            >>> jg.tensor([[1.0, 4.0], [3.0, 2.0]]).argmax(dim=1)
            tensor([1, 0])
        """
        return prims.argmax(self, dim, keepdim)

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """Same as jg.argmin(self, ...).

        Example:
            >>> jg.tensor([[1.0, 4.0], [3.0, 2.0]]).argmin(dim=1)
            tensor([0, 1])
        """
        return prims.argmin(self, dim, keepdim)

    def prod(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """Same as jg.prod(self, ...).

        Example:
            >>> jg.tensor([[1.0, 4.0], [3.0, 2.0]]).prod()
            tensor(24.)
        """
        return prims.prod(self, dim, keepdim)

    def norm(self, p: float | str | None = "fro", dim: Dims = None, keepdim: bool = False) -> Tensor:
        """Same as jg.norm(self, ...).

        Example:
            >>> jg.tensor([[1.0, 4.0], [3.0, 2.0]]).norm()
            tensor(5.4772)
        """
        return prims.norm(self, p, dim, keepdim)

    def var(self, dim: Dims = None, unbiased: bool | None = None, keepdim: bool = False, *,
            correction: int | None = None) -> Tensor:
        """Same as jg.var(self, ...).

        Example:
            >>> jg.tensor([[1.0, 4.0], [3.0, 2.0]]).var()
            tensor(1.6667)
        """
        return prims.var(self, dim, unbiased, keepdim, correction=correction)

    def std(self, dim: Dims = None, unbiased: bool | None = None, keepdim: bool = False, *,
            correction: int | None = None) -> Tensor:
        """Same as jg.std(self, ...).

        Example:
            >>> jg.tensor([[1.0, 4.0], [3.0, 2.0]]).std(dim=0)
            tensor([1.4142, 1.4142])
        """
        return prims.std(self, dim, unbiased, keepdim, correction=correction)

    # ----- shape methods ----------------------------------------------------------------------

    def reshape(self, *shape: int | Sequence[int]) -> Tensor:
        """Same as jg.reshape(self, shape); the sizes may be separate arguments.

        Example:
            >>> jg.arange(6).reshape(3, 2)
            tensor([[0, 1],
                    [2, 3],
                    [4, 5]])
        """
        return prims.reshape(self, *shape)

    def view(self, *shape: int | Sequence[int]) -> Tensor:
        """A view with a new shape (the storage is shared; the sizes may be separate arguments).

        Example:
            >>> jg.arange(4).view(2, 2)
            tensor([[0, 1],
                    [2, 3]])
        """
        if len(shape) == 1 and not isinstance(shape[0], (tuple, list, builtins.int)):
            return self.to(shape[0])
        return prims.reshape(self, *shape)

    def view_as(self, other: TensorLike) -> Tensor:
        """A view with the shape of `other`.

        Example:
            >>> jg.arange(4).view_as(jg.zeros(2, 2))
            tensor([[0, 1],
                    [2, 3]])
        """
        return prims.reshape(self, other.shape)

    def reshape_as(self, other: TensorLike) -> Tensor:
        """Reshaped to the shape of `other`.

        Example:
            >>> jg.arange(4).reshape_as(jg.zeros(2, 2))
            tensor([[0, 1],
                    [2, 3]])
        """
        return prims.reshape(self, other.shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        """Same as jg.flatten(self, ...).

        Example:
            >>> jg.zeros(2, 3, 4).flatten(1).shape
            (2, 12)
        """
        return prims.flatten(self, start_dim, end_dim)

    def expand(self, *shape: int | Sequence[int]) -> Tensor:
        """Same as jg.expand(self, ...).

        Example:
            >>> jg.tensor([[1], [2]]).expand(2, 3)
            tensor([[1, 1, 1],
                    [2, 2, 2]])
        """
        return prims.expand(self, *shape)

    def expand_as(self, other: TensorLike) -> Tensor:
        """Expanded to the shape of `other` (a view).

        Example:
            >>> jg.tensor([[1], [2]]).expand_as(jg.zeros(2, 2))
            tensor([[1, 1],
                    [2, 2]])
        """
        return prims.expand(self, other.shape)

    def broadcast_to(self, shape: ShapeLike) -> Tensor:
        """Same as jg.broadcast_to(self, ...).

        Example:
            >>> jg.tensor([1, 2]).broadcast_to((2, 2))
            tensor([[1, 2],
                    [1, 2]])
        """
        return prims.broadcast_to(self, shape)

    def permute(self, *dims: int | Sequence[int]) -> Tensor:
        """Same as jg.permute(self, ...).

        Example:
            >>> jg.zeros(2, 3, 4).permute(2, 0, 1).shape
            (4, 2, 3)
        """
        return prims.permute(self, *dims)

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        """Same as jg.transpose(self, ...).

        Example:
            >>> jg.zeros(2, 3).transpose(0, 1).shape
            (3, 2)
        """
        return prims.transpose(self, dim0, dim1)

    def t(self) -> Tensor:
        """Same as jg.t(self, ...).

        Example:
            >>> jg.tensor([[1, 2]]).t()
            tensor([[1],
                    [2]])
        """
        return prims.t(self)

    def squeeze(self, dim: int | Sequence[int] | None = None) -> Tensor:
        """Same as jg.squeeze(self, ...).

        Example:
            >>> jg.zeros(2, 1).squeeze().shape
            (2,)
        """
        return prims.squeeze(self, dim)

    def unsqueeze(self, dim: int) -> Tensor:
        """Same as jg.unsqueeze(self, ...).

        Example:
            >>> jg.tensor([1, 2]).unsqueeze(0)
            tensor([[1, 2]])
        """
        return prims.unsqueeze(self, dim)

    def gather(self, dim: int, index: Tensor) -> Tensor:
        """Same as jg.gather(self, ...).

        Example:
            >>> jg.tensor([[1, 2], [3, 4]]).gather(1, jg.tensor([[1], [0]]))
            tensor([[2],
                    [3]])
        """
        return prims.gather(self, dim, index)

    def narrow(self, dim: int, start: int | TensorLike, length: int) -> Tensor:
        """Same as jg.narrow(self, ...).

        Example:
            >>> jg.arange(5).narrow(0, 1, 2)
            tensor([1, 2])
        """
        return prims.narrow(self, dim, start, length)

    def select(self, dim: int, index: int) -> Tensor:
        """Same as jg.select(self, ...).

        Example:
            >>> jg.tensor([[1, 2], [3, 4]]).select(0, 1)
            tensor([3, 4])
        """
        return prims.select(self, dim, index)
