"""Tensor methods that call the op modules beyond prims.py (math_ops, ...): a mixin of
one-line forwards, so tensor.py keeps its own job (attributes, autograd, operators)."""
from __future__ import annotations

from . import linalg_ops, math_ops, random_ops, reduce_ops, shape_ops
from .inplace import inplace as _inplace


class OpMethods:
    """PyTorch's Tensor methods for the ops of math_ops (x.asin() is jitgrad.asin(x))."""

    __slots__ = ()

    def asin(self):
        return math_ops.asin(self)

    def acos(self):
        return math_ops.acos(self)

    def atan(self):
        return math_ops.atan(self)

    def sinh(self):
        return math_ops.sinh(self)

    def cosh(self):
        return math_ops.cosh(self)

    def asinh(self):
        return math_ops.asinh(self)

    def acosh(self):
        return math_ops.acosh(self)

    def atanh(self):
        return math_ops.atanh(self)

    arcsin, arccos, arctan, arcsinh, arccosh, arctanh = asin, acos, atan, asinh, acosh, atanh

    def erf(self):
        return math_ops.erf(self)

    def erfc(self):
        return math_ops.erfc(self)

    def exp2(self):
        return math_ops.exp2(self)

    def log2(self):
        return math_ops.log2(self)

    def log10(self):
        return math_ops.log10(self)

    def rsqrt(self):
        return math_ops.rsqrt(self)

    def sinc(self):
        return math_ops.sinc(self)

    def square(self):
        return math_ops.square(self)

    def deg2rad(self):
        return math_ops.deg2rad(self)

    def rad2deg(self):
        return math_ops.rad2deg(self)

    def atan2(self, other):
        return math_ops.atan2(self, other)

    arctan2 = atan2

    def hypot(self, other):
        return math_ops.hypot(self, other)

    def fmod(self, other):
        return math_ops.fmod(self, other)

    def remainder(self, other):
        return math_ops.remainder(self, other)

    def __mod__(self, other):
        return math_ops.remainder(self, other)

    def __rmod__(self, other):
        return math_ops.remainder(other, self)

    def nan_to_num(self, nan=0.0, posinf=None, neginf=None):
        return math_ops.nan_to_num(self, nan, posinf, neginf)

    def clamp_min(self, min):  # noqa: A002
        return math_ops.clamp_min(self, min)

    def clamp_max(self, max):  # noqa: A002
        return math_ops.clamp_max(self, max)

    def signbit(self):
        return math_ops.signbit(self)

    def isnan(self):
        return math_ops.isnan(self)

    def isinf(self):
        return math_ops.isinf(self)

    def isfinite(self):
        return math_ops.isfinite(self)

    def isclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
        return math_ops.isclose(self, other, rtol, atol, equal_nan)

    def allclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
        return math_ops.allclose(self, other, rtol, atol, equal_nan)


class ShapeMethods:
    """PyTorch's Tensor methods for the ops of shape_ops (x.flip(0) is jitgrad.flip(x, 0))."""

    __slots__ = ()

    def split(self, split_size, dim=0):
        return shape_ops.split(self, split_size, dim)

    def chunk(self, chunks, dim=0):
        return shape_ops.chunk(self, chunks, dim)

    def unbind(self, dim=0):
        return shape_ops.unbind(self, dim)

    def repeat(self, *sizes):
        return shape_ops.repeat(self, *sizes)

    def tile(self, *dims):
        return shape_ops.tile(self, dims[0] if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims)

    def repeat_interleave(self, repeats, dim=None):
        return shape_ops.repeat_interleave(self, repeats, dim)

    def flip(self, *dims):
        return shape_ops.flip(self, dims[0] if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims)

    def fliplr(self):
        return shape_ops.fliplr(self)

    def flipud(self):
        return shape_ops.flipud(self)

    def roll(self, shifts, dims=None):
        return shape_ops.roll(self, shifts, dims)

    def diagonal(self, offset=0, dim1=0, dim2=1):
        return shape_ops.diagonal(self, offset, dim1, dim2)

    def diag(self, diagonal=0):
        return shape_ops.diag(self, diagonal)

    def diag_embed(self, offset=0, dim1=-2, dim2=-1):
        return shape_ops.diag_embed(self, offset, dim1, dim2)

    def trace(self):
        return shape_ops.trace(self)

    def tril(self, diagonal=0):
        return shape_ops.tril(self, diagonal)

    def triu(self, diagonal=0):
        return shape_ops.triu(self, diagonal)

    def masked_fill(self, mask, value):
        return shape_ops.masked_fill(self, mask, value)

    def masked_fill_(self, mask, value):
        return _inplace(self, "masked_fill_", lambda src: shape_ops.masked_fill(src, mask, value), (mask, value))

    def masked_select(self, mask):
        return shape_ops.masked_select(self, mask)

    def index_select(self, dim, index):
        return shape_ops.index_select(self, dim, index)

    def scatter(self, dim, index, src=None, *, value=None):
        return shape_ops.scatter(self, dim, index, src, value=value)

    def scatter_add(self, dim, index, src):
        return shape_ops.scatter_add(self, dim, index, src)

    def take_along_dim(self, indices, dim=None):
        return shape_ops.take_along_dim(self, indices, dim)


class ReduceMethods:
    """PyTorch's Tensor methods for the ops of reduce_ops (x.cumsum(0) is jitgrad.cumsum(x, 0))."""

    __slots__ = ()

    def cumsum(self, dim, *, dtype=None):
        return reduce_ops.cumsum(self, dim, dtype=dtype)

    def cumprod(self, dim, *, dtype=None):
        return reduce_ops.cumprod(self, dim, dtype=dtype)

    def softmax(self, dim, dtype=None):
        return reduce_ops.softmax(self, dim, dtype)

    def log_softmax(self, dim, dtype=None):
        return reduce_ops.log_softmax(self, dim, dtype)

    def logsumexp(self, dim, keepdim=False):
        return reduce_ops.logsumexp(self, dim, keepdim)

    def argsort(self, dim=-1, descending=False, stable=False):
        return reduce_ops.argsort(self, dim, descending, stable)

    def sort(self, dim=-1, descending=False, stable=False):
        return reduce_ops.sort(self, dim, descending, stable)

    def topk(self, k, dim=-1, largest=True, sorted=True):  # noqa: A002
        return reduce_ops.topk(self, k, dim, largest, sorted)

    def median(self, dim=None, keepdim=False):
        return reduce_ops.median(self, dim, keepdim)

    def histc(self, bins=100, min=0, max=0):  # noqa: A002
        return reduce_ops.histc(self, bins, min, max)


class LinalgMethods:
    """PyTorch's Tensor methods for the products of linalg_ops."""

    __slots__ = ()

    def outer(self, vec2):
        return linalg_ops.outer(self, vec2)

    ger = outer

    def bmm(self, mat2):
        return linalg_ops.bmm(self, mat2)

    def addmm(self, mat1, mat2, *, beta=1, alpha=1):
        return linalg_ops.addmm(self, mat1, mat2, beta=beta, alpha=alpha)

    def baddbmm(self, batch1, batch2, *, beta=1, alpha=1):
        return linalg_ops.baddbmm(self, batch1, batch2, beta=beta, alpha=alpha)


class RandomMethods:
    """PyTorch's random Tensor methods: in-place fills and bernoulli/multinomial, each with generator=."""

    __slots__ = ()

    def normal_(self, mean=0.0, std=1.0, *, generator=None):
        return random_ops.normal_(self, mean, std, generator=generator)

    def uniform_(self, a=0.0, b=1.0, *, generator=None):  # PyTorch's names: from, to
        return random_ops.uniform_(self, a, b, generator=generator)

    def bernoulli_(self, p=0.5, *, generator=None):
        return random_ops.bernoulli_(self, p, generator=generator)

    def bernoulli(self, p=None, *, generator=None):
        return random_ops.bernoulli(self, p, generator=generator)

    def multinomial(self, num_samples, replacement=False, *, generator=None):
        return random_ops.multinomial(self, num_samples, replacement, generator=generator)
