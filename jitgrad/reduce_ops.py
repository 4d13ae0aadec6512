"""Reductions, scans and orderings beyond prims.py's: cumsum/cumprod (prims_scan's primitives),
softmax/log_softmax/logsumexp, sort/argsort/topk/median (an argsort, then a gather, so the
gradient is gather's), var_mean/std_mean, and histc (composed from comparisons and a sum)."""
from __future__ import annotations

import builtins
from collections import namedtuple
from typing import TYPE_CHECKING

import numpy as np

from . import dtypes, prims, prims_scan, shapes
from .core import TensorBase, bind

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from typing import Any

    from ._typing import Dims, DTypeLike, Number, TensorLike
    from .tensor import Tensor

ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])


def _tensor(x) -> TensorBase:
    return prims.as_tensor_operand(x)


def _dim(x: TensorBase, dim) -> int:
    """A dim of x; a 0-d tensor accepts 0 and -1, as in PyTorch."""
    return shapes.normalize_dim(dim, builtins.max(x.ndim, 1))


def _as_1d(x: TensorBase) -> TensorBase:
    return prims.reshape(x, (1,)) if x.ndim == 0 else x


def _from_1d(result: TensorBase, x: TensorBase) -> TensorBase:
    return prims.reshape(result, ()) if x.ndim == 0 else result


# ----- scans -----------------------------------------------------------------------------------------


def cumsum(input: TensorLike, dim: int, *, dtype: DTypeLike = None) -> Tensor:  # noqa: A002 - PyTorch's argument name
    """Running sums along dim (integers and bools accumulate in int64).

    Example:
        >>> jg.cumsum(jg.tensor([3.0, 1.0, 2.0]), 0)
        tensor([3., 4., 6.])
    """
    x = _tensor(input)
    if dtype is not None:
        x = prims.cast(x, dtype)
    return bind(prims_scan.CUMSUM, x, dim=_dim(x, dim))


def cumprod(input: TensorLike, dim: int, *, dtype: DTypeLike = None) -> Tensor:  # noqa: A002
    """Running products along dim (integers and bools accumulate in int64).

    Example:
        >>> jg.cumprod(jg.tensor([3.0, 1.0, 2.0]), 0)
        tensor([3., 3., 6.])
    """
    x = _tensor(input)
    if dtype is not None:
        x = prims.cast(x, dtype)
    return bind(prims_scan.CUMPROD, x, dim=_dim(x, dim))


# ----- softmax family ------------------------------------------------------------------------------------


def _softmax_dim(ndim: int, dim, name: str) -> int:
    if dim is None:
        raise TypeError(f"{name}() missing the dim argument: give the dim to normalise over (e.g. dim=-1)")
    return shapes.normalize_dim(dim, builtins.max(ndim, 1))


def _softmax_input(input, dtype) -> TensorBase:  # noqa: A002
    x = _tensor(input)
    if dtype is not None:
        x = prims.cast(x, dtype)
    if not dtypes.is_floating(x.dtype):
        raise RuntimeError(f"softmax: expected a floating point input, got {dtypes.name(x.dtype)} (convert with "
                           ".float() or pass dtype=)")
    return x


def _shift(x: TensorBase, dim: int) -> TensorBase:
    """x minus its max along dim (a constant: the result does not depend on it); a row that is all
    -inf keeps its values, so exp gives 0 rather than NaN."""
    peak = prims.amax(x, dim, keepdim=True).detach()
    peak = prims.where(prims.eq(prims.abs(peak), np.inf), 0.0, peak)
    return prims.sub(x, peak)


def log_softmax(input: TensorLike, dim: int | None = None, dtype: DTypeLike = None) -> Tensor:  # noqa: A002
    """x - log(sum(exp(x))) along dim, computed stably (the max is subtracted first).

    Example:
        >>> jg.log_softmax(jg.tensor([0.0, 0.0]), 0)
        tensor([-0.6931, -0.6931])
    """
    x = _softmax_input(input, dtype)
    d = _softmax_dim(x.ndim, dim, "log_softmax")
    shifted = _shift(x, d)
    return prims.sub(shifted, prims.log(prims.sum(prims.exp(shifted), d, keepdim=True)))


def softmax(input: TensorLike, dim: int | None = None, dtype: DTypeLike = None) -> Tensor:  # noqa: A002
    """exp(x) / sum(exp(x)) along dim, computed stably (the max is subtracted first).

    Example:
        >>> jg.softmax(jg.tensor([0.0, 0.0]), 0)
        tensor([0.5000, 0.5000])
    """
    x = _softmax_input(input, dtype)
    d = _softmax_dim(x.ndim, dim, "softmax")
    e = prims.exp(_shift(x, d))
    return prims.div(e, prims.sum(e, d, keepdim=True))


def all(input: TensorLike, dim: Dims = None, keepdim: bool = False) -> Tensor:  # noqa: A001, A002
    """True where every element (along ``dim``) is non-zero; a bool tensor, not differentiable.

    Example:
        >>> jg.all(jg.tensor([[1.0, 0.0], [2.0, 3.0]]), dim=1)
        tensor([False,  True])
    """
    return prims.logical_not(_tensor(input)).sum(dim, keepdim) == 0


def any(input: TensorLike, dim: Dims = None, keepdim: bool = False) -> Tensor:  # noqa: A001, A002
    """True where some element (along ``dim``) is non-zero; a bool tensor, not differentiable.

    Example:
        >>> jg.any(jg.tensor([[1.0, 0.0], [0.0, 0.0]]), dim=1)
        tensor([ True, False])
    """
    return prims.ne(_tensor(input), 0).sum(dim, keepdim) > 0


def logsumexp(input: TensorLike, dim: Dims, keepdim: bool = False) -> Tensor:  # noqa: A002
    """log(sum(exp(x))) over dim, computed stably.

    Example:
        >>> jg.logsumexp(jg.tensor([0.0, 0.0]), 0)
        tensor(0.6931)
    """
    x = _tensor(input)
    if not dtypes.is_floating(x.dtype):
        x = prims.cast(x, dtypes.get_default_dtype())
    dims = shapes.normalize_dims(dim, x.ndim)
    peak = prims.amax(x, dims, keepdim=True).detach() if shapes.numel(x.shape) else prims.zero_constant_like(
        prims.sum(x, dims, keepdim=True))
    peak = prims.where(prims.eq(prims.abs(peak), np.inf), 0.0, peak)
    out = prims.add(prims.log(prims.sum(prims.exp(prims.sub(x, peak)), dims, keepdim=True)), peak)
    return out if keepdim else prims.squeeze(out, dims) if dims else out


# ----- orderings ------------------------------------------------------------------------------------------


def argsort(input: TensorLike, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:  # noqa: A002
    """The indices that sort the input along dim (a stable sort: equal values keep their order).

    Example:
        >>> jg.argsort(jg.tensor([3.0, 1.0, 2.0]))
        tensor([1, 2, 0])
    """
    x = _tensor(input)
    if x.dtype == dtypes.bool_:
        x = prims.cast(x, dtypes.int64)
    return _from_1d(bind(prims_scan.ARGSORT, _as_1d(x), dim=_dim(x, dim), descending=builtins.bool(descending)), x)


def sort(input: TensorLike, dim: int = -1, descending: bool = False,
         stable: bool = False) -> ValuesIndices:  # noqa: A002
    """(values, indices) of the input sorted along dim; the values' gradient goes back through the indices.

    Example:
        >>> jg.sort(jg.tensor([3.0, 1.0, 2.0]))
        ValuesIndices(values=tensor([1., 2., 3.]), indices=tensor([1, 2, 0]))
    """
    x = _tensor(input)
    indices = argsort(x, dim, descending, stable)
    if x.ndim == 0:
        return ValuesIndices(prims.clone(x), indices)
    return ValuesIndices(prims.gather(x, _dim(x, dim), indices), indices)


def topk(input: TensorLike, k: int, dim: int = -1, largest: bool = True,
         sorted: bool = True) -> ValuesIndices:  # noqa: A002
    """The k largest (or smallest) values along dim, in order, and their indices.

    Example:
        >>> jg.topk(jg.tensor([3.0, 1.0, 2.0]), 2)
        ValuesIndices(values=tensor([3., 2.]), indices=tensor([0, 2]))
    """
    x = _tensor(input)
    d = _dim(x, dim)
    size = x.shape[d] if x.ndim else 1
    if not 0 <= k <= size:
        raise RuntimeError(f"topk(): selected index k out of range: k={k} but the size of dim {d} is {size}")
    order = argsort(_as_1d(x), d, descending=largest)
    indices = prims.getitem(order, (slice(None),) * d + (slice(0, k),))
    values = prims.gather(_as_1d(x), d, indices)
    return ValuesIndices(_from_1d(values, x) if k else values, _from_1d(indices, x) if k else indices)


def median(input: TensorLike, dim: int | None = None, keepdim: bool = False) -> Any:  # noqa: A002
    """The lower median ((n-1)//2-th smallest) of all elements, or (values, indices) along dim.

    Example:
        >>> jg.median(jg.tensor([3.0, 1.0, 2.0]))
        tensor(2.)
    """
    x = _tensor(input)
    if dim is None:
        flat = prims.reshape(x, (-1,))
        if flat.shape[0] == 0:  # no elements: NaN, as in PyTorch
            return prims.as_tensor_operand(np.array(np.nan, dtype=flat.dtype), flat.dtype)
        pick = argsort(flat, 0)[(flat.shape[0] - 1) // 2]
        return prims.getitem(flat, pick)
    d = _dim(x, dim)
    size = x.shape[d] if x.ndim else 1
    if size == 0:
        raise IndexError(f"median(): Expected reduction dim {d} to have non-zero size.")
    order = argsort(_as_1d(x), d)
    indices = prims.getitem(order, (slice(None),) * d + (slice((size - 1) // 2, (size - 1) // 2 + 1),))
    values = prims.gather(_as_1d(x), d, indices)
    if not keepdim or x.ndim == 0:
        values, indices = prims.squeeze(values, d), prims.squeeze(indices, d)
    return ValuesIndices(values, indices)


# ----- moments --------------------------------------------------------------------------------------------


def var_mean(input: TensorLike, dim: Dims = None, unbiased: bool | None = None, keepdim: bool = False, *,
             correction: Number | None = None) -> tuple[Tensor, Tensor]:  # noqa: A002
    """(var, mean) over dim, as torch.var_mean.

    Example:
        >>> jg.var_mean(jg.tensor([1.0, 2.0, 3.0]))
        (tensor(1.), tensor(2.))
    """
    return (prims.var(input, dim, unbiased, keepdim, correction=correction),
            prims.mean(prims.as_floating(input), dim, keepdim))


def std_mean(input: TensorLike, dim: Dims = None, unbiased: bool | None = None, keepdim: bool = False, *,
             correction: Number | None = None) -> tuple[Tensor, Tensor]:  # noqa: A002
    """(std, mean) over dim, as torch.std_mean.

    Example:
        >>> jg.std_mean(jg.tensor([1.0, 2.0, 3.0]))
        (tensor(1.), tensor(2.))
    """
    return (prims.std(input, dim, unbiased, keepdim, correction=correction),
            prims.mean(prims.as_floating(input), dim, keepdim))


# ----- histogram ------------------------------------------------------------------------------------------


def histc(input: TensorLike, bins: int = 100, min: float = 0, max: float = 0) -> Tensor:  # noqa: A002
    """Counts of the elements in `bins` equal-width bins over [min, max] (the data's range when
    both are 0); elements outside are ignored. Not differentiable.

    Example:
        >>> jg.histc(jg.tensor([3.0, 1.0, 2.0]), bins=3, min=0, max=3)
        tensor([0., 1., 2.])
    """
    x = _tensor(input)
    if not dtypes.is_floating(x.dtype):
        raise RuntimeError(f"histc: expected a floating point input, got {dtypes.name(x.dtype)}")
    if bins <= 0:
        raise RuntimeError(f"histc(): bins must be > 0, but got {bins} for dimension 0")
    if min > max:
        raise RuntimeError(f"histc(): max must be larger than min, got min={min} and max={max}")
    flat = prims.reshape(x, (-1,)).detach()
    if min == max and flat.shape[0]:
        lo, hi = prims.amin(flat), prims.amax(flat)
    else:
        lo, hi = prims.as_tensor_operand(builtins.float(min), x.dtype), prims.as_tensor_operand(
            builtins.float(max), x.dtype)
    same = prims.eq(lo, hi)
    lo, hi = prims.where(same, prims.sub(lo, 1.0), lo), prims.where(same, prims.add(hi, 1.0), hi)
    position = prims.cast(prims.mul(prims.div(prims.sub(flat, lo), prims.sub(hi, lo)), builtins.float(bins)),
                          dtypes.int64)
    position = prims.minimum(position, bins - 1)  # x == max falls in the last bin
    inside = prims.logical_and(prims.ge(flat, lo), prims.le(flat, hi))
    bin_ids = prims.constant_like(np.arange(bins), dtypes.int64, position)
    hits = prims.logical_and(prims.eq(prims.unsqueeze(position, -1), bin_ids), prims.unsqueeze(inside, -1))
    return prims.cast(prims.sum(prims.cast(hits, dtypes.int64), 0), x.dtype)
