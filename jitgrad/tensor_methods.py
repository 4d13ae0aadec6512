"""Tensor methods that call the op modules beyond prims.py (math_ops, ...): a mixin of
one-line forwards, so tensor.py keeps its own job (attributes, autograd, operators)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from . import linalg_ops, math_ops, random_ops, reduce_ops, shape_ops
from .inplace import inplace as _inplace

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from collections.abc import Sequence
    from typing import Any

    from ._typing import Dims, DTypeLike, Number, TensorLike
    from .tensor import Tensor


class OpMethods:
    """PyTorch's Tensor methods for the ops of math_ops (x.asin() is jitgrad.asin(x))."""

    __slots__ = ()

    def asin(self) -> Tensor:
        """``Tensor.asin`` as in PyTorch (see ``jitgrad.asin`` where it exists).

        Example:
            >>> jg.tensor([0.5, 0.25]).asin()
            tensor([0.5236, 0.2527])
        """
        return math_ops.asin(self)

    def acos(self) -> Tensor:
        """``Tensor.acos`` as in PyTorch (see ``jitgrad.acos`` where it exists).

        Example:
            >>> jg.tensor([0.5, 0.25]).acos()
            tensor([1.0472, 1.3181])
        """
        return math_ops.acos(self)

    def atan(self) -> Tensor:
        """``Tensor.atan`` as in PyTorch (see ``jitgrad.atan`` where it exists).

        Example:
            >>> jg.tensor([0.5, 0.25]).atan()
            tensor([0.4636, 0.2450])
        """
        return math_ops.atan(self)

    def sinh(self) -> Tensor:
        """``Tensor.sinh`` as in PyTorch (see ``jitgrad.sinh`` where it exists).

        Example:
            >>> jg.tensor([0.5, 0.25]).sinh()
            tensor([0.5211, 0.2526])
        """
        return math_ops.sinh(self)

    def cosh(self) -> Tensor:
        """``Tensor.cosh`` as in PyTorch (see ``jitgrad.cosh`` where it exists).

        Example:
            >>> jg.tensor([0.5, 0.25]).cosh()
            tensor([1.1276, 1.0314])
        """
        return math_ops.cosh(self)

    def asinh(self) -> Tensor:
        """``Tensor.asinh`` as in PyTorch (see ``jitgrad.asinh`` where it exists).

        Example:
            >>> jg.tensor([0.5, 0.25]).asinh()
            tensor([0.4812, 0.2475])
        """
        return math_ops.asinh(self)

    def acosh(self) -> Tensor:
        """``Tensor.acosh`` as in PyTorch (see ``jitgrad.acosh`` where it exists).

        Example:
            >>> jg.tensor([1.5, 2.0]).acosh()
            tensor([0.9624, 1.3170])
        """
        return math_ops.acosh(self)

    def atanh(self) -> Tensor:
        """``Tensor.atanh`` as in PyTorch (see ``jitgrad.atanh`` where it exists).

        Example:
            >>> jg.tensor([0.5, 0.25]).atanh()
            tensor([0.5493, 0.2554])
        """
        return math_ops.atanh(self)

    arcsin, arccos, arctan, arcsinh, arccosh, arctanh = asin, acos, atan, asinh, acosh, atanh

    def erf(self) -> Tensor:
        """``Tensor.erf`` as in PyTorch (see ``jitgrad.erf`` where it exists).

        Example:
            >>> jg.tensor([0.5, 0.25]).erf()
            tensor([0.5205, 0.2763])
        """
        return math_ops.erf(self)

    def erfc(self) -> Tensor:
        """``Tensor.erfc`` as in PyTorch (see ``jitgrad.erfc`` where it exists).

        Example:
            >>> jg.tensor([0.5, 0.25]).erfc()
            tensor([0.4795, 0.7237])
        """
        return math_ops.erfc(self)

    def exp2(self) -> Tensor:
        """``Tensor.exp2`` as in PyTorch (see ``jitgrad.exp2`` where it exists).

        Example:
            >>> jg.tensor([0.5, 0.25]).exp2()
            tensor([1.4142, 1.1892])
        """
        return math_ops.exp2(self)

    def log2(self) -> Tensor:
        """``Tensor.log2`` as in PyTorch (see ``jitgrad.log2`` where it exists).

        Example:
            >>> jg.tensor([0.5, 0.25]).log2()
            tensor([-1., -2.])
        """
        return math_ops.log2(self)

    def log10(self) -> Tensor:
        """``Tensor.log10`` as in PyTorch (see ``jitgrad.log10`` where it exists).

        Example:
            >>> jg.tensor([0.5, 0.25]).log10()
            tensor([-0.3010, -0.6021])
        """
        return math_ops.log10(self)

    def rsqrt(self) -> Tensor:
        """``Tensor.rsqrt`` as in PyTorch (see ``jitgrad.rsqrt`` where it exists).

        Example:
            >>> jg.tensor([0.5, 0.25]).rsqrt()
            tensor([1.4142, 2.0000])
        """
        return math_ops.rsqrt(self)

    def sinc(self) -> Tensor:
        """``Tensor.sinc`` as in PyTorch (see ``jitgrad.sinc`` where it exists).

        Example:
            >>> jg.tensor([0.5, 0.25]).sinc()
            tensor([0.6366, 0.9003])
        """
        return math_ops.sinc(self)

    def square(self) -> Tensor:
        """``Tensor.square`` as in PyTorch (see ``jitgrad.square`` where it exists).

        Example:
            >>> jg.tensor([0.5, 0.25]).square()
            tensor([0.2500, 0.0625])
        """
        return math_ops.square(self)

    def deg2rad(self) -> Tensor:
        """``Tensor.deg2rad`` as in PyTorch (see ``jitgrad.deg2rad`` where it exists).

        Example:
            >>> jg.tensor([0.5, 0.25]).deg2rad()
            tensor([0.0087, 0.0044])
        """
        return math_ops.deg2rad(self)

    def rad2deg(self) -> Tensor:
        """``Tensor.rad2deg`` as in PyTorch (see ``jitgrad.rad2deg`` where it exists).

        Example:
            >>> jg.tensor([0.5, 0.25]).rad2deg()
            tensor([28.6479, 14.3239])
        """
        return math_ops.rad2deg(self)

    def atan2(self, other: TensorLike) -> Tensor:
        """``Tensor.atan2`` as in PyTorch (see ``jitgrad.atan2`` where it exists).

        Example:
            >>> jg.tensor([0.5, 0.25]).atan2(jg.tensor([1.0, 1.0]))
            tensor([0.4636, 0.2450])
        """
        return math_ops.atan2(self, other)

    arctan2 = atan2

    def hypot(self, other: TensorLike) -> Tensor:
        """``Tensor.hypot`` as in PyTorch (see ``jitgrad.hypot`` where it exists).

        Example:
            >>> jg.tensor([3.0, 5.0]).hypot(jg.tensor([4.0, 12.0]))
            tensor([ 5., 13.])
        """
        return math_ops.hypot(self, other)

    def fmod(self, other: TensorLike) -> Tensor:
        """``Tensor.fmod`` as in PyTorch (see ``jitgrad.fmod`` where it exists).

        Example:
            >>> jg.tensor([-3.0, 3.0]).fmod(2.0)
            tensor([-1.,  1.])
        """
        return math_ops.fmod(self, other)

    def remainder(self, other: TensorLike) -> Tensor:
        """``Tensor.remainder`` as in PyTorch (see ``jitgrad.remainder`` where it exists).

        Example:
            >>> jg.tensor([-3.0, 3.0]).remainder(2.0)
            tensor([1., 1.])
        """
        return math_ops.remainder(self, other)

    def floor_divide(self, other: TensorLike) -> Tensor:
        """``Tensor.floor_divide`` as in PyTorch (also ``self // other``; see ``jitgrad.floor_divide``).

        Example:
            >>> jg.tensor([7.0, -7.0]).floor_divide(2)
            tensor([ 3., -4.])
        """
        return math_ops.floor_divide(self, other)

    def __floordiv__(self, other):
        return math_ops.floor_divide(self, other)

    def __rfloordiv__(self, other):
        return math_ops.floor_divide(other, self)

    def __mod__(self, other):
        return math_ops.remainder(self, other)

    def __rmod__(self, other):
        return math_ops.remainder(other, self)

    def nan_to_num(self, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None) -> Tensor:
        """``Tensor.nan_to_num`` as in PyTorch (see ``jitgrad.nan_to_num`` where it exists).

        Example:
            >>> jg.tensor([float('nan'), 1.0]).nan_to_num()
            tensor([0., 1.])
        """
        return math_ops.nan_to_num(self, nan, posinf, neginf)

    def clamp_min(self, min: TensorLike | None) -> Tensor:  # noqa: A002
        """``Tensor.clamp_min`` as in PyTorch (see ``jitgrad.clamp_min`` where it exists).

        Example:
            >>> jg.tensor([0.5, 0.25]).clamp_min(0.3)
            tensor([0.5000, 0.3000])
        """
        return math_ops.clamp_min(self, min)

    def clamp_max(self, max: TensorLike | None) -> Tensor:  # noqa: A002
        """``Tensor.clamp_max`` as in PyTorch (see ``jitgrad.clamp_max`` where it exists).

        Example:
            >>> jg.tensor([0.5, 0.25]).clamp_max(0.3)
            tensor([0.3000, 0.2500])
        """
        return math_ops.clamp_max(self, max)

    def signbit(self) -> Tensor:
        """``Tensor.signbit`` as in PyTorch (see ``jitgrad.signbit`` where it exists).

        Example:
            >>> jg.tensor([0.5, 0.25]).signbit()
            tensor([False, False])
        """
        return math_ops.signbit(self)

    def isnan(self) -> Tensor:
        """``Tensor.isnan`` as in PyTorch (see ``jitgrad.isnan`` where it exists).

        Example:
            >>> jg.tensor([0.5, 0.25]).isnan()
            tensor([False, False])
        """
        return math_ops.isnan(self)

    def isinf(self) -> Tensor:
        """``Tensor.isinf`` as in PyTorch (see ``jitgrad.isinf`` where it exists).

        Example:
            >>> jg.tensor([0.5, 0.25]).isinf()
            tensor([False, False])
        """
        return math_ops.isinf(self)

    def isfinite(self) -> Tensor:
        """``Tensor.isfinite`` as in PyTorch (see ``jitgrad.isfinite`` where it exists).

        Example:
            >>> jg.tensor([0.5, 0.25]).isfinite()
            tensor([True, True])
        """
        return math_ops.isfinite(self)

    def isclose(self, other: TensorLike, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> Tensor:
        """``Tensor.isclose`` as in PyTorch (see ``jitgrad.isclose`` where it exists).

        Example:
            >>> jg.tensor([0.5, 0.25]).isclose(jg.tensor([0.5, 0.3]))
            tensor([ True, False])
        """
        return math_ops.isclose(self, other, rtol, atol, equal_nan)

    def allclose(self, other: TensorLike, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> Tensor:
        """``Tensor.allclose`` as in PyTorch (see ``jitgrad.allclose`` where it exists).

        Example:
            >>> jg.tensor([0.5, 0.25]).allclose(jg.tensor([0.5, 0.25]))
            True
        """
        return math_ops.allclose(self, other, rtol, atol, equal_nan)


class ShapeMethods:
    """PyTorch's Tensor methods for the ops of shape_ops (x.flip(0) is jitgrad.flip(x, 0))."""

    __slots__ = ()

    def split(self, split_size: int | Sequence[int], dim: Dims = 0) -> Tensor:
        """``Tensor.split`` as in PyTorch (see ``jitgrad.split`` where it exists).

        Example:
            >>> jg.arange(5).split(2)
            (tensor([0, 1]), tensor([2, 3]), tensor([4]))
        """
        return shape_ops.split(self, split_size, dim)

    def chunk(self, chunks: int, dim: Dims = 0) -> Tensor:
        """``Tensor.chunk`` as in PyTorch (see ``jitgrad.chunk`` where it exists).

        Example:
            >>> jg.arange(4).chunk(2)
            (tensor([0, 1]), tensor([2, 3]))
        """
        return shape_ops.chunk(self, chunks, dim)

    def unbind(self, dim: Dims = 0) -> Tensor:
        """``Tensor.unbind`` as in PyTorch (see ``jitgrad.unbind`` where it exists).

        Example:
            >>> jg.tensor([[1.0, 2.0], [3.0, 4.0]]).unbind()
            (tensor([1., 2.]), tensor([3., 4.]))
        """
        return shape_ops.unbind(self, dim)

    def repeat(self, *sizes: Sequence[int]) -> Tensor:
        """``Tensor.repeat`` as in PyTorch (see ``jitgrad.repeat`` where it exists).

        Example:
            >>> jg.tensor([1, 2]).repeat(2)
            tensor([1, 2, 1, 2])
        """
        return shape_ops.repeat(self, *sizes)

    def tile(self, *dims: int | Sequence[int]) -> Tensor:
        """``Tensor.tile`` as in PyTorch (see ``jitgrad.tile`` where it exists).

        Example:
            >>> jg.tensor([1, 2]).tile(2)
            tensor([1, 2, 1, 2])
        """
        return shape_ops.tile(self, dims[0] if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims)

    def repeat_interleave(self, repeats: int | TensorLike, dim: Dims = None) -> Tensor:
        """``Tensor.repeat_interleave`` as in PyTorch (see ``jitgrad.repeat_interleave`` where it exists).

        Example:
            >>> jg.tensor([1, 2]).repeat_interleave(2)
            tensor([1, 1, 2, 2])
        """
        return shape_ops.repeat_interleave(self, repeats, dim)

    def flip(self, *dims: int | Sequence[int]) -> Tensor:
        """``Tensor.flip`` as in PyTorch (see ``jitgrad.flip`` where it exists).

        Example:
            >>> jg.arange(3).flip(0)
            tensor([2, 1, 0])
        """
        return shape_ops.flip(self, dims[0] if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims)

    def fliplr(self) -> Tensor:
        """``Tensor.fliplr`` as in PyTorch (see ``jitgrad.fliplr`` where it exists).

        Example:
            >>> jg.tensor([[1.0, 2.0], [3.0, 4.0]]).fliplr()
            tensor([[2., 1.],
                    [4., 3.]])
        """
        return shape_ops.fliplr(self)

    def flipud(self) -> Tensor:
        """``Tensor.flipud`` as in PyTorch (see ``jitgrad.flipud`` where it exists).

        Example:
            >>> jg.tensor([[1.0, 2.0], [3.0, 4.0]]).flipud()
            tensor([[3., 4.],
                    [1., 2.]])
        """
        return shape_ops.flipud(self)

    def roll(self, shifts: int | Sequence[int], dims: int | Sequence[int] | None = None) -> Tensor:
        """``Tensor.roll`` as in PyTorch (see ``jitgrad.roll`` where it exists).

        Example:
            >>> jg.arange(4).roll(1)
            tensor([3, 0, 1, 2])
        """
        return shape_ops.roll(self, shifts, dims)

    def diagonal(self, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
        """``Tensor.diagonal`` as in PyTorch (see ``jitgrad.diagonal`` where it exists).

        Example:
            >>> jg.tensor([[1.0, 2.0], [3.0, 4.0]]).diagonal()
            tensor([1., 4.])
        """
        return shape_ops.diagonal(self, offset, dim1, dim2)

    def diag(self, diagonal: int = 0) -> Tensor:
        """``Tensor.diag`` as in PyTorch (see ``jitgrad.diag`` where it exists).

        Example:
            >>> jg.tensor([[1.0, 2.0], [3.0, 4.0]]).diag()
            tensor([1., 4.])
        """
        return shape_ops.diag(self, diagonal)

    def diag_embed(self, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
        """``Tensor.diag_embed`` as in PyTorch (see ``jitgrad.diag_embed`` where it exists).

        Example:
            >>> jg.tensor([1.0, 2.0]).diag_embed()
            tensor([[1., 0.],
                    [0., 2.]])
        """
        return shape_ops.diag_embed(self, offset, dim1, dim2)

    def trace(self) -> Tensor:
        """``Tensor.trace`` as in PyTorch (see ``jitgrad.trace`` where it exists).

        Example:
            >>> jg.tensor([[1.0, 2.0], [3.0, 4.0]]).trace()
            tensor(5.)
        """
        return shape_ops.trace(self)

    def tril(self, diagonal: int = 0) -> Tensor:
        """``Tensor.tril`` as in PyTorch (see ``jitgrad.tril`` where it exists).

        Example:
            >>> jg.tensor([[1.0, 2.0], [3.0, 4.0]]).tril()
            tensor([[1., 0.],
                    [3., 4.]])
        """
        return shape_ops.tril(self, diagonal)

    def triu(self, diagonal: int = 0) -> Tensor:
        """``Tensor.triu`` as in PyTorch (see ``jitgrad.triu`` where it exists).

        Example:
            >>> jg.tensor([[1.0, 2.0], [3.0, 4.0]]).triu()
            tensor([[1., 2.],
                    [0., 4.]])
        """
        return shape_ops.triu(self, diagonal)

    def masked_fill(self, mask: TensorLike, value: Number) -> Tensor:
        """``Tensor.masked_fill`` as in PyTorch (see ``jitgrad.masked_fill`` where it exists).

        Example:
            >>> jg.tensor([[1.0, 2.0], [3.0, 4.0]]).masked_fill(jg.tensor([[1.0, 2.0], [3.0, 4.0]]) > 2, 0.0)
            tensor([[1., 2.],
                    [0., 0.]])
        """
        return shape_ops.masked_fill(self, mask, value)

    def masked_fill_(self, mask: TensorLike, value: Number) -> Tensor:
        """``Tensor.masked_fill_`` as in PyTorch (see ``jitgrad.masked_fill_`` where it exists).

        Example:
            >>> jg.tensor([[1.0, 2.0], [3.0, 4.0]]).masked_fill_(jg.tensor([[1.0, 2.0], [3.0, 4.0]]) > 2, 0.0)
            tensor([[1., 2.],
                    [0., 0.]])
        """
        return _inplace(self, "masked_fill_", lambda src: shape_ops.masked_fill(src, mask, value), (mask, value))

    def masked_select(self, mask: TensorLike) -> Tensor:
        """``Tensor.masked_select`` as in PyTorch (see ``jitgrad.masked_select`` where it exists).

        Example:
            >>> jg.tensor([[1.0, 2.0], [3.0, 4.0]]).masked_select(jg.tensor([[1.0, 2.0], [3.0, 4.0]]) > 2)
            tensor([3., 4.])
        """
        return shape_ops.masked_select(self, mask)

    def index_select(self, dim: int, index: TensorLike) -> Tensor:
        """``Tensor.index_select`` as in PyTorch (see ``jitgrad.index_select`` where it exists).

        Example:
            >>> jg.tensor([[1.0, 2.0], [3.0, 4.0]]).index_select(0, jg.tensor([1]))
            tensor([[3., 4.]])
        """
        return shape_ops.index_select(self, dim, index)

    def scatter(self, dim: int, index: TensorLike, src: TensorLike | None = None, *,
                value: Number | None = None) -> Tensor:
        """``Tensor.scatter`` as in PyTorch (see ``jitgrad.scatter`` where it exists).

        Example:
            >>> jg.zeros(3).scatter(0, jg.tensor([2]), jg.tensor([5.0]))
            tensor([0., 0., 5.])
        """
        return shape_ops.scatter(self, dim, index, src, value=value)

    def scatter_add(self, dim: int, index: TensorLike, src: TensorLike) -> Tensor:
        """``Tensor.scatter_add`` as in PyTorch (see ``jitgrad.scatter_add`` where it exists).

        Example:
            >>> jg.zeros(3).scatter_add(0, jg.tensor([2, 2]), jg.tensor([1.0, 2.0]))
            tensor([0., 0., 3.])
        """
        return shape_ops.scatter_add(self, dim, index, src)

    def take_along_dim(self, indices: Tensor, dim: Dims = None) -> Tensor:
        """``Tensor.take_along_dim`` as in PyTorch (see ``jitgrad.take_along_dim`` where it exists).

        Example:
            >>> jg.tensor([[1.0, 2.0], [3.0, 4.0]]).take_along_dim(jg.tensor([[1], [0]]), 1)
            tensor([[2.],
                    [3.]])
        """
        return shape_ops.take_along_dim(self, indices, dim)


class ReduceMethods:
    """PyTorch's Tensor methods for the ops of reduce_ops (x.cumsum(0) is jitgrad.cumsum(x, 0))."""

    __slots__ = ()

    def all(self, dim: Dims = None, keepdim: bool = False) -> Tensor:
        """``Tensor.all`` as in PyTorch (see ``jitgrad.all``).

        Example:
            >>> jg.tensor([1.0, 2.0]).all()
            tensor(True)
        """
        return reduce_ops.all(self, dim, keepdim)

    def any(self, dim: Dims = None, keepdim: bool = False) -> Tensor:
        """``Tensor.any`` as in PyTorch (see ``jitgrad.any``).

        Example:
            >>> jg.tensor([0.0, 2.0]).any()
            tensor(True)
        """
        return reduce_ops.any(self, dim, keepdim)

    def cumsum(self, dim: Dims, *, dtype: DTypeLike = None) -> Tensor:
        """``Tensor.cumsum`` as in PyTorch (see ``jitgrad.cumsum`` where it exists).

        Example:
            >>> jg.tensor([3.0, 1.0, 2.0]).cumsum(0)
            tensor([3., 4., 6.])
        """
        return reduce_ops.cumsum(self, dim, dtype=dtype)

    def cumprod(self, dim: Dims, *, dtype: DTypeLike = None) -> Tensor:
        """``Tensor.cumprod`` as in PyTorch (see ``jitgrad.cumprod`` where it exists).

        Example:
            >>> jg.tensor([3.0, 1.0, 2.0]).cumprod(0)
            tensor([3., 3., 6.])
        """
        return reduce_ops.cumprod(self, dim, dtype=dtype)

    def softmax(self, dim: Dims, dtype: DTypeLike = None) -> Tensor:
        """``Tensor.softmax`` as in PyTorch (see ``jitgrad.softmax`` where it exists).

        Example:
            >>> jg.tensor([0.0, 0.0]).softmax(0)
            tensor([0.5000, 0.5000])
        """
        return reduce_ops.softmax(self, dim, dtype)

    def log_softmax(self, dim: Dims, dtype: DTypeLike = None) -> Tensor:
        """``Tensor.log_softmax`` as in PyTorch (see ``jitgrad.log_softmax`` where it exists).

        Example:
            >>> jg.tensor([0.0, 0.0]).log_softmax(0)
            tensor([-0.6931, -0.6931])
        """
        return reduce_ops.log_softmax(self, dim, dtype)

    def logsumexp(self, dim: Dims, keepdim: bool = False) -> Tensor:
        """``Tensor.logsumexp`` as in PyTorch (see ``jitgrad.logsumexp`` where it exists).

        Example:
            >>> jg.tensor([0.0, 0.0]).logsumexp(0)
            tensor(0.6931)
        """
        return reduce_ops.logsumexp(self, dim, keepdim)

    def argsort(self, dim: Dims = -1, descending: bool = False, stable: bool = False) -> Tensor:
        """``Tensor.argsort`` as in PyTorch (see ``jitgrad.argsort`` where it exists).

        Example:
            >>> jg.tensor([3.0, 1.0, 2.0]).argsort()
            tensor([1, 2, 0])
        """
        return reduce_ops.argsort(self, dim, descending, stable)

    def sort(self, dim: Dims = -1, descending: bool = False, stable: bool = False) -> Tensor:
        """``Tensor.sort`` as in PyTorch (see ``jitgrad.sort`` where it exists).

        Example:
            >>> jg.tensor([3.0, 1.0, 2.0]).sort()
            ValuesIndices(values=tensor([1., 2., 3.]), indices=tensor([1, 2, 0]))
        """
        return reduce_ops.sort(self, dim, descending, stable)

    def topk(self, k: int, dim: Dims = -1, largest: bool = True, sorted: bool = True) -> Tensor:  # noqa: A002
        """``Tensor.topk`` as in PyTorch (see ``jitgrad.topk`` where it exists).

        Example:
            >>> jg.tensor([3.0, 1.0, 2.0]).topk(2)
            ValuesIndices(values=tensor([3., 2.]), indices=tensor([0, 2]))
        """
        return reduce_ops.topk(self, k, dim, largest, sorted)

    def median(self, dim: Dims = None, keepdim: bool = False) -> Tensor:
        """``Tensor.median`` as in PyTorch (see ``jitgrad.median`` where it exists).

        Example:
            >>> jg.tensor([3.0, 1.0, 2.0]).median()
            tensor(2.)
        """
        return reduce_ops.median(self, dim, keepdim)

    def histc(self, bins: int = 100, min: TensorLike | None = 0, max: TensorLike | None = 0) -> Tensor:  # noqa: A002
        """``Tensor.histc`` as in PyTorch (see ``jitgrad.histc`` where it exists).

        Example:
            >>> jg.tensor([3.0, 1.0, 2.0]).histc(bins=3, min=0, max=3)
            tensor([0., 1., 2.])
        """
        return reduce_ops.histc(self, bins, min, max)


class LinalgMethods:
    """PyTorch's Tensor methods for the products of linalg_ops."""

    __slots__ = ()

    def outer(self, vec2: TensorLike) -> Tensor:
        """``Tensor.outer`` as in PyTorch (see ``jitgrad.outer`` where it exists).

        Example:
            >>> jg.tensor([1.0, 2.0]).outer(jg.tensor([1.0, 3.0]))
            tensor([[1., 3.],
                    [2., 6.]])
        """
        return linalg_ops.outer(self, vec2)

    ger = outer

    def bmm(self, mat2: TensorLike) -> Tensor:
        """``Tensor.bmm`` as in PyTorch (see ``jitgrad.bmm`` where it exists).

        Example:
            >>> jg.ones(1, 2, 2).bmm(jg.ones(1, 2, 1))
            tensor([[[2.],
                     [2.]]])
        """
        return linalg_ops.bmm(self, mat2)

    def addmm(self, mat1: TensorLike, mat2: TensorLike, *, beta: Number = 1, alpha: Number = 1) -> Tensor:
        """``Tensor.addmm`` as in PyTorch (see ``jitgrad.addmm`` where it exists).

        Example:
            >>> jg.zeros(2, 2).addmm(jg.tensor([[1.0, 2.0], [3.0, 4.0]]), jg.eye(2))
            tensor([[1., 2.],
                    [3., 4.]])
        """
        return linalg_ops.addmm(self, mat1, mat2, beta=beta, alpha=alpha)

    def baddbmm(self, batch1: TensorLike, batch2: TensorLike, *, beta: Number = 1, alpha: Number = 1) -> Tensor:
        """``Tensor.baddbmm`` as in PyTorch (see ``jitgrad.baddbmm`` where it exists).

        Example:
            >>> jg.zeros(1, 2, 1).baddbmm(jg.ones(1, 2, 2), jg.ones(1, 2, 1))
            tensor([[[2.],
                     [2.]]])
        """
        return linalg_ops.baddbmm(self, batch1, batch2, beta=beta, alpha=alpha)


class RandomMethods:
    """PyTorch's random Tensor methods: in-place fills and bernoulli/multinomial, each with generator=."""

    __slots__ = ()

    def normal_(self, mean: float = 0.0, std: float = 1.0, *, generator: Any = None) -> Tensor:
        """``Tensor.normal_`` as in PyTorch (see ``jitgrad.normal_`` where it exists).

        Example:
            >>> jg.zeros(2).normal_().shape
            (2,)
        """
        return random_ops.normal_(self, mean, std, generator=generator)

    # (PyTorch names a and b `from` and `to`)
    def uniform_(self, a: TensorLike = 0.0, b: TensorLike = 1.0, *, generator: Any = None) -> Tensor:
        """``Tensor.uniform_`` as in PyTorch (see ``jitgrad.uniform_`` where it exists).

        Example:
            >>> jg.zeros(2).uniform_(0, 1).shape
            (2,)
        """
        return random_ops.uniform_(self, a, b, generator=generator)

    def bernoulli_(self, p: float | str | None = 0.5, *, generator: Any = None) -> Tensor:
        """``Tensor.bernoulli_`` as in PyTorch (see ``jitgrad.bernoulli_`` where it exists).

        Example:
            >>> jg.zeros(2).bernoulli_(1.0)
            tensor([1., 1.])
        """
        return random_ops.bernoulli_(self, p, generator=generator)

    def bernoulli(self, p: float | str | None = None, *, generator: Any = None) -> Tensor:
        """``Tensor.bernoulli`` as in PyTorch (see ``jitgrad.bernoulli`` where it exists).

        Example:
            >>> jg.ones(2).bernoulli()
            tensor([1., 1.])
        """
        return random_ops.bernoulli(self, p, generator=generator)

    def multinomial(self, num_samples: int, replacement: bool = False, *, generator: Any = None) -> Tensor:
        """``Tensor.multinomial`` as in PyTorch (see ``jitgrad.multinomial`` where it exists).

        Example:
            >>> jg.tensor([0.0, 1.0]).multinomial(1)
            tensor([1])
        """
        return random_ops.multinomial(self, num_samples, replacement, generator=generator)
