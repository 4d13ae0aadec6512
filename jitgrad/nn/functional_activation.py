"""Activation functions of torch.nn.functional (gelu, silu, elu, leaky_relu, softplus, hardtanh,
relu6) and dropout, composed from jitgrad's primitives so their gradients (to any order, eager
and compiled) come from the primitives' VJP rules."""
from __future__ import annotations

import math

import numpy as np
from numpy.polynomial import chebyshev

from .. import core, prims
from ..core import Symbolic, TensorBase
from ..creation import rand

# erf(x) = x * g(x^2) for |x| <= _ERF_CUT, with g(u) = erf(sqrt u) / sqrt u (entire in u) as a
# Chebyshev series in t = 2u/_ERF_CUT^2 - 1, fitted once at import from math.erf; beyond the cut
# erf(x) = sign(x) to float64 precision (erfc(6) ~ 2e-17). Absolute error < 3e-14 in value and
# < 1e-10 in derivative. (Composed for now: a primitive erf with its own kernel template is
# the better home once the op table has one.)
_ERF_CUT = 6.0
_ERF_DEGREE = 40


def _erf_over_x(u: float) -> float:
    return math.erf(math.sqrt(u)) / math.sqrt(u) if u > 0 else 2.0 / math.sqrt(math.pi)


_ERF_COEFFS = tuple(float(c) for c in chebyshev.chebinterpolate(
    lambda t: np.array([_erf_over_x((v + 1.0) * _ERF_CUT ** 2 / 2.0) for v in np.atleast_1d(t)]), _ERF_DEGREE))


def erf(x: TensorBase) -> TensorBase:
    """The error function, composed from elementwise primitives (Clenshaw sum of a Chebyshev fit)."""
    x = prims.as_tensor_operand(x)
    inside = prims.clamp(x, -_ERF_CUT, _ERF_CUT)
    t = inside * inside * (2.0 / _ERF_CUT ** 2) - 1.0
    two_t = t * 2.0
    b1 = b2 = None
    for c in reversed(_ERF_COEFFS[1:]):
        b = c if b1 is None else (two_t * b1 + c if b2 is None else two_t * b1 - b2 + c)
        b1, b2 = b, b1
    series = t * b1 - b2 + _ERF_COEFFS[0]
    return prims.where(prims.gt(prims.abs(x), _ERF_CUT), prims.sign(x), inside * series)


def gelu(input: TensorBase, approximate: str = "none") -> TensorBase:  # noqa: A002
    """x * Phi(x) with the exact normal CDF (erf), or PyTorch's tanh form when approximate='tanh'."""
    x = prims.as_tensor_operand(input)
    if approximate == "tanh":
        inner = (x + x * x * x * 0.044715) * math.sqrt(2.0 / math.pi)
        return x * 0.5 * (prims.tanh(inner) + 1.0)
    if approximate != "none":
        raise RuntimeError(f"approximate argument must be either none or tanh, got {approximate!r}")
    return x * 0.5 * (erf(x * (1.0 / math.sqrt(2.0))) + 1.0)


def silu(input: TensorBase, inplace: bool = False) -> TensorBase:  # noqa: A002
    """x * sigmoid(x) (also called swish)."""
    x = prims.as_tensor_operand(input)
    return _maybe_inplace(x, x * prims.sigmoid(x), inplace)


def elu(input: TensorBase, alpha: float = 1.0, inplace: bool = False) -> TensorBase:  # noqa: A002
    """x for x > 0, alpha * (exp(x) - 1) otherwise (exp of the clamped value, so no inf reaches the gradient)."""
    x = prims.as_tensor_operand(input)
    positive = prims.gt(x, 0.0)
    negative = prims.expm1(prims.where(positive, 0.0, x)) * alpha
    return _maybe_inplace(x, prims.where(positive, x, negative), inplace)


def leaky_relu(input: TensorBase, negative_slope: float = 0.01, inplace: bool = False) -> TensorBase:  # noqa: A002
    """x for x > 0, negative_slope * x otherwise."""
    x = prims.as_tensor_operand(input)
    return _maybe_inplace(x, prims.where(prims.gt(x, 0.0), x, x * negative_slope), inplace)


def softplus(input: TensorBase, beta: float = 1.0, threshold: float = 20.0) -> TensorBase:  # noqa: A002
    """log(1 + exp(beta * x)) / beta, and x itself where beta * x > threshold (PyTorch's switch)."""
    x = prims.as_tensor_operand(input)
    scaled = x * beta
    linear = prims.gt(scaled, threshold)
    smooth = prims.log1p(prims.exp(prims.where(linear, float(threshold), scaled)))
    if beta != 1.0:
        smooth = smooth / beta
    return prims.where(linear, x, smooth)


def hardtanh(input: TensorBase, min_val: float = -1.0, max_val: float = 1.0,  # noqa: A002
             inplace: bool = False) -> TensorBase:
    """x clamped to [min_val, max_val]; the gradient is 1 strictly inside, 0 on and outside the bounds."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) cannot be greater than max_val ({max_val})")
    x = prims.as_tensor_operand(input)
    inside = prims.logical_and(prims.gt(x, min_val), prims.lt(x, max_val))
    out = prims.where(inside, x, prims.clamp(x, min_val, max_val).detach())
    return _maybe_inplace(x, out, inplace)


def relu6(input: TensorBase, inplace: bool = False) -> TensorBase:  # noqa: A002
    """min(max(x, 0), 6)."""
    return hardtanh(input, 0.0, 6.0, inplace)


def _maybe_inplace(x: TensorBase, out: TensorBase, inplace: bool) -> TensorBase:
    """PyTorch's inplace=True: the result written into x (refused on a leaf that requires grad)."""
    return x.copy_(out) if inplace else out


def dropout(input: TensorBase, p: float = 0.5, training: bool = True, inplace: bool = False) -> TensorBase:  # noqa: A002
    """Zero each element with probability p and scale the rest by 1/(1-p) while training; identity otherwise."""
    x = prims.as_tensor_operand(input)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return x
    on_gpu = not core.on_host(x._data) and not isinstance(x._data, Symbolic)
    keep = prims.cast(prims.ge(rand(*x.shape, dtype=x.dtype, device=x.device if on_gpu else None), p), x.dtype)
    out = x * (keep * (1.0 / (1.0 - p))) if p < 1.0 else x * keep
    return _maybe_inplace(x, out, inplace)
