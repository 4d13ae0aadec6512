"""Reduction primitives, each declared once: sum, nansum, mean, amax/amin, max/min (whole and along a
dim, with indices), prod, norm, var, std, argmax/argmin; with their wrappers. Dims are
normalised to a sorted tuple before bind."""
from __future__ import annotations

import builtins
from collections import namedtuple
from typing import TYPE_CHECKING

import numpy as np

from . import dtypes, shapes
from .core import REDUCTION, Primitive, Reduction, TensorBase, bind, mean_scale
from .prims_device import constant_like
from .prims_elementwise import abs, maximum, minimum, pow, quiet, sign, where
from .prims_index import scatter_add_to
from .prims_promotion import as_floating, as_tensor_operand, cast
from .prims_shape import expand, permute, reshape, unsqueeze

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from typing import Any

    from ._typing import Dims, DTypeLike, TensorLike
    from .tensor import Tensor


def _reduced(x, dims, keepdim, **_):
    return shapes.reduce(x.shape, dims, keepdim), x.dtype


def _summed(x, dims, keepdim):
    dt = x.dtype if dtypes.is_floating(x.dtype) else dtypes.int64
    return shapes.reduce(x.shape, dims, keepdim), dt


def _extreme_rule(name: str, single_dim: bool, out_dtype=None):
    """Shape rule of max/min-like reductions: a reduced dim of size 0 has no extreme (PyTorch's
    IndexError), in eager mode and while tracing alike."""
    def rule(x, keepdim, **params):
        dims = (params["dim"],) if single_dim else params["dims"]
        for d in dims:
            if x.shape[d] == 0:
                raise IndexError(f"{name}(): Expected reduction dim {d} to have non-zero size.")
        return shapes.reduce(x.shape, dims, keepdim), out_dtype or x.dtype
    return rule


def _expand_back(g, x, dims, keepdim):
    """Broadcast a reduced cotangent back over x's shape."""
    if not keepdim:
        g = reshape(g, shapes.reduce(x.shape, dims, True))
    return expand(g, x.shape)


def _sum_vjp(g, out, x, dims, keepdim):
    return (_expand_back(g, x, dims, keepdim),)


def _mean_vjp(g, out, x, dims, keepdim):
    n = shapes.numel(tuple(x.shape[d] for d in dims))
    return (_expand_back(g / n, x, dims, keepdim),)


def _extreme_reduce_vjp(g, out, x, dims, keepdim):
    """amax/amin: the gradient is shared evenly among the elements equal to the result (with a
    NaN result none is, and the gradient is NaN, as in PyTorch)."""
    o = _kept(out, x, dims, keepdim)  # (the comparison and the product broadcast: no expands)
    mask = cast(x == o, g.dtype)
    count = sum(mask, dims, keepdim=True)
    return (_kept(g, x, dims, keepdim) * mask / count,)


def _kept(g, x, dims, keepdim):
    """A reduced value with its reduced dims kept as size 1 (0-d stays 0-d): it broadcasts against x."""
    return reshape(g, shapes.reduce(x.shape, dims, True)) if not keepdim and g.ndim else g


def _extreme_all_vjp(g, out, x, dims, keepdim):
    """max()/min() over all elements: shared evenly among the elements equal to the result, where
    a NaN result counts every NaN as equal (PyTorch's evenly_distribute rule: the gradient goes to
    the NaNs)."""
    o = _expand_back(out, x, dims, keepdim)
    mask = cast((x == o) | ((x != x) & (o != o)), g.dtype)
    count = sum(mask, dims, keepdim=True)
    return (_expand_back(g, x, dims, keepdim) * mask / count,)


# Reductions of at most this many elements differentiate prod exactly to every order (through
# the products of all-but-one elements, an n x n intermediate); larger ones use out / x, exact
# to first order everywhere and to second order unless two or more elements are zero.
PROD_EXACT_MAX = 64


def _prod_vjp(g, out, x, dims, keepdim):
    n = shapes.numel(tuple(x.shape[d] for d in dims))
    if 0 < n <= PROD_EXACT_MAX:
        local = _products_of_others(x, dims)
    else:
        # d out / d x_i = product of the others: out / x_i where x_i != 0; at a lone zero the
        # product of the non-zero elements; with two or more zeros, 0.
        is_zero = x == 0
        zeros = sum(cast(is_zero, g.dtype), dims, keepdim=True)
        others = prod(where(is_zero, 1.0, x), dims, keepdim=True)
        full = _expand_back(out, x, dims, keepdim)
        at_zero = where(expand(zeros == 1, x.shape), expand(others, x.shape), 0.0)
        local = where(is_zero, at_zero, full / where(is_zero, 1.0, x))
    return (_expand_back(g, x, dims, keepdim) * local,)


def _products_of_others(x, dims):
    """For each element, the product of the other elements of its reduction (shape of x):
    row i of an n x n matrix holds the n elements with the i-th replaced by 1."""
    kept = tuple(d for d in range(x.ndim) if d not in dims)
    n = shapes.numel(tuple(x.shape[d] for d in dims))
    lead = tuple(x.shape[d] for d in kept)
    rows = reshape(permute(x, kept + tuple(dims)), lead + (1, n))
    eye = constant_like(np.eye(n, dtype=np.bool_), dtypes.bool_, x)
    others = prod(where(eye, 1.0, expand(rows, lead + (n, n))), -1)
    inverse = shapes.inverse_permutation(kept + tuple(dims))
    return permute(reshape(others, lead + tuple(x.shape[d] for d in dims)), inverse)


def _norm_impl(x, p, dims, keepdim):
    if p == 2:
        return np.sqrt(np.sum(x * x, axis=dims, keepdims=keepdim))
    if p == np.inf:
        return np.max(np.abs(x), axis=dims, keepdims=keepdim, initial=0)
    if p == 1:
        return np.sum(np.abs(x), axis=dims, keepdims=keepdim)
    return np.sum(np.abs(x) ** p, axis=dims, keepdims=keepdim) ** (1.0 / p)


def _norm_vjp(g, out, x, p, dims, keepdim):
    o = _expand_back(out, x, dims, keepdim)
    ge = _expand_back(g, x, dims, keepdim)
    if p == 2:
        local = x / where(o == 0, 1.0, o)
    elif p == 1:
        local = sign(x)
    elif p == np.inf:
        a = abs(x)
        mask = cast(a == o, g.dtype)
        local = sign(x) * mask / expand(sum(mask, dims, keepdim=True), x.shape)
    else:
        local = x * pow(abs(x), p - 2) / where(o == 0, 1.0, pow(o, p - 1))
    return (ge * local,)


def _var_impl(x, dims, correction, keepdim):
    n = shapes.numel(tuple(x.shape[d] for d in dims))
    with np.errstate(divide="ignore", invalid="ignore"):
        denominator = builtins.max(n - correction, 0)  # 0: inf (nan for a zero variance), as in PyTorch
        return np.var(x, axis=dims, keepdims=keepdim, ddof=0) * (n / denominator if denominator else np.inf)


def _var_vjp(g, out, x, dims, correction, keepdim):
    n = shapes.numel(tuple(x.shape[d] for d in dims))
    centred = x - mean(x, dims, keepdim=True)
    denominator = builtins.max(n - correction, 0)
    return (_expand_back(g, x, dims, keepdim) * centred * (2.0 / denominator if denominator else np.inf),)


def _std_vjp(g, out, x, dims, correction, keepdim):
    n = shapes.numel(tuple(x.shape[d] for d in dims))
    centred = x - mean(x, dims, keepdim=True)
    o = _expand_back(out, x, dims, keepdim)
    denominator = builtins.max(n - correction, 0)
    return (_expand_back(g, x, dims, keepdim) * centred * (1.0 / denominator if denominator else np.inf) / o,)


def _full_or_dim(stem):
    """PyTorch names a full reduction ...Backward0 and one over given dims ...Backward1."""
    def label(params, in_shapes):
        full = len(params["dims"]) == len(in_shapes[0]) and not params["keepdim"]
        return f"{stem}Backward{0 if full else 1}"
    return label


def _reduction(name, impl, vjp, node_name, rule=_reduced, extra=(), reduction=None):
    return Primitive(name, quiet(impl), rule, vjp, REDUCTION, node_name, params=extra + ("dims", "keepdim"),
                     reduction=reduction)


def _mean_impl(x, dims, keepdim):
    """np.mean; over no elements NaN (the declared finalisation's value), without NumPy's warning."""
    if type(x) is np.ndarray and x.size and x.dtype.kind == "f" and x.dtype.itemsize >= 4:
        # np.mean's own steps for float32/float64 (its sum, then a true division by the count as
        # an intp, rounded into the sum's dtype), without its Python dispatch layers; a full
        # reduction's scalar sum is divided as a Python float (IEEE double, as NumPy divides it)
        total = np.add.reduce(x, axis=dims, keepdims=keepdim)
        if type(total) is not np.ndarray:
            return np.array(float(total) / x.size, dtype=x.dtype)
        return np.true_divide(total, np.intp(x.size // total.size), out=total, casting="unsafe")
    count = shapes.numel(tuple(x.shape[d] for d in dims))
    if count == 0:
        return np.full(shapes.reduce(x.shape, dims, keepdim), mean_scale(0), dtype=x.dtype)
    return np.mean(x, axis=dims, keepdims=keepdim)


def _nansum_vjp(g, out, x, dims, keepdim):
    """NaN elements were left out of the sum: their gradient is 0 (PyTorch's rule), the others' is g."""
    return (_expand_back(g, x, dims, keepdim) * cast(x == x, g.dtype),)


def _ufunc_reduction(ufunc, function):
    """np.sum / np.amax / np.amin as an impl: on an ndarray, the ufunc reduction they call
    (the same result) without their Python dispatch layers, a large part of a small reduction's cost."""
    reduce = ufunc.reduce

    def impl(x, dims, keepdim):
        if type(x) is np.ndarray:
            return reduce(x, axis=dims, keepdims=keepdim)
        return function(x, axis=dims, keepdims=keepdim)
    impl.__name__ = function.__name__
    return impl


_sum_impl = _ufunc_reduction(np.add, np.sum)
_amax_impl = _ufunc_reduction(np.maximum, np.amax)
_amin_impl = _ufunc_reduction(np.minimum, np.amin)

SUM = _reduction("sum", _sum_impl,
                 _sum_vjp, _full_or_dim("Sum"), rule=_summed, reduction=Reduction("sum"))
NANSUM = _reduction("nansum", lambda x, dims, keepdim: np.nansum(x, axis=dims, keepdims=keepdim),
                    _nansum_vjp, "NansumBackward0", rule=_summed, reduction=Reduction("nansum", nan="ignore"))
MEAN = _reduction("mean", _mean_impl,
                  _mean_vjp, _full_or_dim("Mean"), reduction=Reduction("sum", scale=mean_scale))
AMAX = _reduction("amax", _amax_impl,
                  _extreme_reduce_vjp, "AmaxBackward0", rule=_extreme_rule("amax", False),
                  reduction=Reduction("max"))
AMIN = _reduction("amin", _amin_impl,
                  _extreme_reduce_vjp, "AminBackward0", rule=_extreme_rule("amin", False),
                  reduction=Reduction("min"))
MAX = _reduction("max", _amax_impl,
                 _extreme_all_vjp, "MaxBackward1", rule=_extreme_rule("max", False), reduction=Reduction("max"))
MIN = _reduction("min", _amin_impl,
                 _extreme_all_vjp, "MinBackward1", rule=_extreme_rule("min", False), reduction=Reduction("min"))


def _extreme_dim_vjp(arg):
    def vjp(g, out, x, dim, keepdim):
        # The gradient goes to the element whose index max(dim)/min(dim) returns (PyTorch's rule).
        index = arg(x, dim, keepdim=True)
        return (scatter_add_to(g if keepdim else unsqueeze(g, dim), index, dim, x.shape),)
    return vjp


MAX_DIM = Primitive("max_dim", lambda x, dim, keepdim: np.amax(x, axis=dim, keepdims=keepdim),
                    _extreme_rule("max", True), _extreme_dim_vjp(lambda x, d, keepdim: argmax(x, d, keepdim)),
                    REDUCTION, "MaxBackward0", params=("dim", "keepdim"),
                    reduction=Reduction("max", index="argmax"))
MIN_DIM = Primitive("min_dim", lambda x, dim, keepdim: np.amin(x, axis=dim, keepdims=keepdim),
                    _extreme_rule("min", True), _extreme_dim_vjp(lambda x, d, keepdim: argmin(x, d, keepdim)),
                    REDUCTION, "MinBackward0", params=("dim", "keepdim"),
                    reduction=Reduction("min", index="argmin"))
PROD = _reduction("prod", lambda x, dims, keepdim: np.prod(x, axis=dims, keepdims=keepdim),
                  _prod_vjp, _full_or_dim("Prod"), rule=_summed, reduction=Reduction("prod"))
NORM = _reduction("norm", _norm_impl, _norm_vjp, "LinalgVectorNormBackward0", extra=("p",))
VAR = _reduction("var", _var_impl, _var_vjp, "VarBackward0", extra=("correction",))
STD = _reduction("std", lambda x, dims, correction, keepdim: np.sqrt(_var_impl(x, dims, correction, keepdim)),
                 _std_vjp, "StdBackward0", extra=("correction",))
ARGMAX = Primitive("argmax", lambda x, dim, keepdim: np.expand_dims(np.argmax(x, axis=dim), dim)
                   if keepdim else np.argmax(x, axis=dim),
                   _extreme_rule("argmax", True, dtypes.int64), None, REDUCTION, "", params=("dim", "keepdim"),
                   reduction=Reduction("max", index=True))
ARGMIN = Primitive("argmin", lambda x, dim, keepdim: np.expand_dims(np.argmin(x, axis=dim), dim)
                   if keepdim else np.argmin(x, axis=dim),
                   _extreme_rule("argmin", True, dtypes.int64), None, REDUCTION, "", params=("dim", "keepdim"),
                   reduction=Reduction("min", index=True))


def _dims(x, dim):
    return shapes.normalize_dims(dim, x.ndim)


def sum(x: TensorLike, dim: Dims = None, keepdim: bool = False, dtype: DTypeLike = None) -> Tensor:  # noqa: A001
    """The sum over `dim` (all dims by default); `keepdim` keeps them as size 1.

    Example:
        >>> x = jg.tensor([[1.0, 2.0], [3.0, 4.0]])
        >>> jg.sum(x)
        tensor(10.)
        >>> jg.sum(x, dim=0)
        tensor([4., 6.])
        >>> jg.sum(x, dim=1, keepdim=True)
        tensor([[3.],
                [7.]])
    """
    x = as_tensor_operand(x)
    if dtype is not None:
        x = cast(x, dtype)
    return bind(SUM, x, dims=_dims(x, dim), keepdim=keepdim)


def nansum(x: TensorLike, dim: Dims = None, keepdim: bool = False, dtype: DTypeLike = None) -> Tensor:
    """The sum with NaN elements counted as zero (PyTorch's nansum).

    Example:
        >>> jg.nansum(jg.tensor([1.0, float('nan')]))
        tensor(1.)
    """
    x = as_tensor_operand(x)
    if dtype is not None:
        x = cast(x, dtype)
    return bind(NANSUM, x, dims=_dims(x, dim), keepdim=keepdim)


def mean(x: TensorLike, dim: Dims = None, keepdim: bool = False, dtype: DTypeLike = None) -> Tensor:
    """The mean over `dim` (all dims by default) of a floating tensor.

    Example:
        >>> jg.mean(jg.tensor([[1.0, 2.0], [3.0, 4.0]]), dim=1)
        tensor([1.5000, 3.5000])
    """
    x = as_tensor_operand(x)
    if dtype is not None:
        x = cast(x, dtype)
    if not dtypes.is_floating(x.dtype):
        raise RuntimeError(
            "mean(): could not infer output dtype. Input dtype must be either a floating point or "
            f"complex dtype. Got: {dtypes.name(x.dtype)} (convert with .float() first)")
    return bind(MEAN, x, dims=_dims(x, dim), keepdim=keepdim)


MaxMin = namedtuple("MaxMin", ["values", "indices"])


def _check_nonempty(x, name: str, error=RuntimeError) -> None:
    """A reduction over every dim of an empty tensor (no dim given) has no extreme."""
    if shapes.numel(x.shape) == 0:
        raise error(f"{name}(): Expected reduction dim to be specified for input.numel() == 0. Specify the "
                    "reduction dim with the 'dim' argument.")


def amax(x: TensorLike, dim: Dims = None, keepdim: bool = False) -> Tensor:
    """The largest values over `dim` (the gradient is shared between ties, as PyTorch).

    Example:
        >>> jg.amax(jg.tensor([[1.0, 5.0], [3.0, 2.0]]), dim=1)
        tensor([5., 3.])
    """
    x = as_tensor_operand(x)
    if dim is None or dim == ():
        _check_nonempty(x, "amax")
    return bind(AMAX, x, dims=_dims(x, dim), keepdim=keepdim)


def amin(x: TensorLike, dim: Dims = None, keepdim: bool = False) -> Tensor:
    """The smallest values over `dim` (the gradient is shared between ties, as PyTorch).

    Example:
        >>> jg.amin(jg.tensor([[1.0, 5.0], [3.0, 2.0]]), dim=0)
        tensor([1., 2.])
    """
    x = as_tensor_operand(x)
    if dim is None or dim == ():
        _check_nonempty(x, "amin")
    return bind(AMIN, x, dims=_dims(x, dim), keepdim=keepdim)


def max(x: TensorLike, dim: int | None = None, keepdim: bool = False) -> Any:  # noqa: A001
    """max(x) -> the maximum; max(x, dim) -> (values, indices); max(x, tensor) -> maximum.

    Example:
        >>> x = jg.tensor([[1.0, 5.0], [3.0, 2.0]])
        >>> jg.max(x)
        tensor(5.)
        >>> jg.max(x, dim=1)
        MaxMin(values=tensor([5., 3.]), indices=tensor([1, 0]))
    """
    if isinstance(dim, (TensorBase, np.ndarray)):
        return maximum(x, dim)
    x = as_tensor_operand(x)
    if dim is None:
        _check_nonempty(x, "max")
        return bind(MAX, x, dims=tuple(range(x.ndim)), keepdim=False)
    d = shapes.normalize_dim(dim, x.ndim)
    return MaxMin(bind(MAX_DIM, x, dim=d, keepdim=keepdim), argmax(x, d, keepdim))


def min(x: TensorLike, dim: int | None = None, keepdim: bool = False) -> Any:  # noqa: A001
    """min(x) -> the minimum; min(x, dim) -> (values, indices); min(x, tensor) -> minimum.

    Example:
        >>> x = jg.tensor([[1.0, 5.0], [3.0, 2.0]])
        >>> jg.min(x)
        tensor(1.)
        >>> jg.min(x, dim=0).indices
        tensor([0, 1])
    """
    if isinstance(dim, (TensorBase, np.ndarray)):
        return minimum(x, dim)
    x = as_tensor_operand(x)
    if dim is None:
        _check_nonempty(x, "min")
        return bind(MIN, x, dims=tuple(range(x.ndim)), keepdim=False)
    d = shapes.normalize_dim(dim, x.ndim)
    return MaxMin(bind(MIN_DIM, x, dim=d, keepdim=keepdim), argmin(x, d, keepdim))


def argmax(x: TensorLike, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """The index of the largest value (over the flattened tensor, or along `dim`).

    Example:
        >>> jg.argmax(jg.tensor([[1.0, 5.0], [3.0, 2.0]]), dim=1)
        tensor([1, 0])
    """
    x = as_tensor_operand(x)
    if dim is None:
        _check_nonempty(x, "argmax", IndexError)
        return bind(ARGMAX, reshape(x, (-1,)), dim=0, keepdim=False)
    return bind(ARGMAX, x, dim=shapes.normalize_dim(dim, x.ndim), keepdim=keepdim)


def argmin(x: TensorLike, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """The index of the smallest value (over the flattened tensor, or along `dim`).

    Example:
        >>> jg.argmin(jg.tensor([4.0, 1.0, 3.0]))
        tensor(1)
    """
    x = as_tensor_operand(x)
    if dim is None:
        _check_nonempty(x, "argmin", IndexError)
        return bind(ARGMIN, reshape(x, (-1,)), dim=0, keepdim=False)
    return bind(ARGMIN, x, dim=shapes.normalize_dim(dim, x.ndim), keepdim=keepdim)


def prod(x: TensorLike, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """The product over `dim` (all dims by default).

    Example:
        >>> jg.prod(jg.tensor([[1.0, 2.0], [3.0, 4.0]]), dim=0)
        tensor([3., 8.])
    """
    x = as_tensor_operand(x)
    return bind(PROD, x, dims=_dims(x, dim), keepdim=keepdim)


def norm(x: TensorLike, p: float | str | None = "fro", dim: Dims = None, keepdim: bool = False) -> Tensor:
    """Vector p-norm over `dim` (all elements by default): p in {'fro', 2, 1, inf, other > 0}.

    Example:
        >>> jg.norm(jg.tensor([3.0, 4.0]))
        tensor(5.)
    """
    x = as_floating(x)
    p = 2 if p in ("fro", 2) else p
    if not isinstance(p, (builtins.int, builtins.float)) or p <= 0:
        raise ValueError(f"norm: p must be 'fro' or a positive number (or inf), got {p!r}")
    return bind(NORM, x, p=builtins.float(p), dims=_dims(x, dim), keepdim=keepdim)


def _correction(unbiased, correction):
    if correction is not None:
        return correction
    return 1 if unbiased is None or unbiased else 0


def var(x: TensorLike, dim: Dims = None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction: int | None = None) -> Tensor:
    """The variance over `dim` (Bessel-corrected unless `correction=0` / `unbiased=False`).

    Example:
        >>> jg.var(jg.tensor([1.0, 2.0, 3.0, 4.0]))
        tensor(1.6667)
        >>> jg.var(jg.tensor([1.0, 2.0, 3.0, 4.0]), correction=0)
        tensor(1.2500)
    """
    x = as_floating(x)
    return bind(VAR, x, dims=_dims(x, dim), correction=_correction(unbiased, correction), keepdim=keepdim)


def std(x: TensorLike, dim: Dims = None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction: int | None = None) -> Tensor:
    """The standard deviation over `dim` (Bessel-corrected by default).

    Example:
        >>> jg.std(jg.tensor([1.0, 2.0, 3.0, 4.0]))
        tensor(1.2910)
    """
    x = as_floating(x)
    return bind(STD, x, dims=_dims(x, dim), correction=_correction(unbiased, correction), keepdim=keepdim)


# The reductions declared here, in prims.ALL's order.
# The public wrappers of this family: `jitgrad` re-exports this list (its `__all__ +=`), so a new
# reduction is public by being named here, next to its declaration.
__all__ = [
    "amax", "amin", "argmax", "argmin", "max", "mean", "min", "nansum", "norm", "prod", "std", "sum", "var",
]

REDUCTION_PRIMS = (SUM, NANSUM, MEAN, AMAX, AMIN, MAX, MIN, MAX_DIM, MIN_DIM, PROD, NORM, VAR, STD, ARGMAX, ARGMIN)
