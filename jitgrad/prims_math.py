"""Elementwise math primitives beyond prims.py's core set (part of prims.ALL), each declared
once: NumPy implementation, VJP rule and scalar template (so they fuse in compiled mode; names
that kernels/vmath knows, such as erf, exp2, log2 and rsqrt, use its vectorisable versions).

The VJP rules are written with Tensor operators and methods (they run on eager tensors and on
tracers alike), so this module needs nothing declared after it. The public wrappers, which
promote dtypes, are in math_ops.py.
"""
from __future__ import annotations

import math

import numpy as np

from . import dtypes, shapes
from .autograd_graph import Zero
from .core import ELEMENTWISE, Primitive, bind
from .prims_elementwise import needs_grad as needs
from .prims_elementwise import quiet, unbroadcast

_LN2 = math.log(2.0)
_LN10 = math.log(10.0)


def _same(x, **_):
    return x.shape, x.dtype


def _broadcast(x, y, **_):
    return shapes.broadcast(x.shape, y.shape), x.dtype


def _special(name: str):
    """scipy.special's ufunc when SciPy is installed, else math's function applied per element."""
    try:
        from scipy import special  # noqa: PLC0415 - optional dependency
        return getattr(special, name)
    except ImportError:
        scalar = np.vectorize(getattr(math, name), otypes=[np.float64])
        return lambda x: scalar(x).astype(x.dtype, copy=False)


def _unary(name, impl, vjp, template, node_name):
    return Primitive(name, quiet(impl), _same, vjp, ELEMENTWISE, node_name, template)


def _binary(name, impl, vjp, template, node_name):
    return Primitive(name, quiet(impl), _broadcast, vjp, ELEMENTWISE, node_name, template)


# ----- inverse trigonometric and hyperbolic -----------------------------------------------------

ASIN = _unary("asin", np.arcsin, lambda g, out, x: (g / (1 - x * x).sqrt(),), "math.asin({0})", "AsinBackward0")
ACOS = _unary("acos", np.arccos, lambda g, out, x: (-(g / (1 - x * x).sqrt()),), "math.acos({0})",
              "AcosBackward0")
ATAN = _unary("atan", np.arctan, lambda g, out, x: (g / (x * x + 1),), "math.atan({0})", "AtanBackward0")
SINH = _unary("sinh", np.sinh, lambda g, out, x: (g * bind(COSH, x),), "math.sinh({0})", "SinhBackward0")
COSH = _unary("cosh", np.cosh, lambda g, out, x: (g * bind(SINH, x),), "math.cosh({0})", "CoshBackward0")
ASINH = _unary("asinh", np.arcsinh, lambda g, out, x: (g / (x * x + 1).sqrt(),), "math.asinh({0})",
               "AsinhBackward0")
ACOSH = _unary("acosh", np.arccosh, lambda g, out, x: (g / (x * x - 1).sqrt(),), "math.acosh({0})",
               "AcoshBackward0")
ATANH = _unary("atanh", np.arctanh, lambda g, out, x: (g / (1 - x * x),), "math.atanh({0})", "AtanhBackward0")

# ----- error function, powers of two and ten ------------------------------------------------------

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
ERF = _unary("erf", _special("erf"), lambda g, out, x: (g * ((-(x * x)).exp() * _TWO_OVER_SQRT_PI),),
             "math.erf({0})", "ErfBackward0")
ERFC = _unary("erfc", _special("erfc"), lambda g, out, x: (-(g * ((-(x * x)).exp() * _TWO_OVER_SQRT_PI)),),
              "math.erfc({0})", "ErfcBackward0")
EXP2 = _unary("exp2", np.exp2, lambda g, out, x: (g * (out * _LN2),), "math.exp({0} * 0.6931471805599453)",
              "Exp2Backward0")
LOG2 = _unary("log2", np.log2, lambda g, out, x: (g / (x * _LN2),), "(math.log({0}) * 1.4426950408889634)",
              "Log2Backward0")
LOG10 = _unary("log10", np.log10, lambda g, out, x: (g / (x * _LN10),), "math.log10({0})", "Log10Backward0")
RSQRT = _unary("rsqrt", lambda x: np.reciprocal(np.sqrt(x)), lambda g, out, x: (g * (out * out * out) * -0.5,),
               "({one} / math.sqrt({0}))", "RsqrtBackward0")


def _sinc_vjp(g, out, x):
    """d/dx sin(pi x)/(pi x) = (cos(pi x) - sinc(x)) / x, and 0 at x = 0 (the denominator is kept
    away from 0 there so no NaN reaches higher orders)."""
    nonzero = x != 0
    safe = x.where(nonzero, 1.0)
    slope = ((safe * math.pi).cos() - out) / safe
    return (g * slope.where(nonzero, 0.0),)


SINC = _unary("sinc", np.sinc, _sinc_vjp,
              "({one} if {0} == {zero} else math.sin(3.141592653589793 * {0}) / (3.141592653589793 * {0}))",
              "SincBackward0")


# ----- NaN and infinity handling ----------------------------------------------------------------


def _finite(x):
    return (x == x) & (x.abs() != math.inf)


NAN_TO_NUM = Primitive(
    "nan_to_num", quiet(lambda x, nan, posinf, neginf: np.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)),
    _same, lambda g, out, x, nan, posinf, neginf: (g * _finite(x),), ELEMENTWISE, "NanToNumBackward0",
    "({nan} if {0} != {0} else ({posinf} if {0} == math.inf else ({neginf} if {0} == -math.inf else {0})))",
    params=("nan", "posinf", "neginf"))
SIGNBIT = Primitive("signbit", np.signbit, lambda x: (x.shape, dtypes.bool_), None, ELEMENTWISE, "",
                    "(math.copysign(1.0, {0}) < 0.0)")

# ----- binary -----------------------------------------------------------------------------------


def _atan2_vjp(g, out, y, x):
    scale = g / (x * x + y * y)
    return (unbroadcast(scale * x, y.shape) if needs(y) else None,
            unbroadcast(-(scale * y), x.shape) if needs(x) else None)


def _hypot_vjp(g, out, x, y):
    scale = g / out
    return (unbroadcast(scale * x, x.shape) if needs(x) else None,
            unbroadcast(scale * y, y.shape) if needs(y) else None)


def _modulo_vjp(g, out, x, y):
    """fmod and remainder: x - q * y with q = trunc(x / y) or floor(x / y), piecewise constant;
    q is recovered as (x - out) / y, exact where the op is differentiable."""
    return (unbroadcast(g, x.shape) if needs(x) else None,
            unbroadcast(-(g * ((x - out) / y)), y.shape) if needs(y) else None)


ATAN2 = _binary("atan2", np.arctan2, _atan2_vjp, "math.atan2({0}, {1})", "Atan2Backward0")
HYPOT = _binary("hypot", np.hypot, _hypot_vjp, "math.hypot({0}, {1})", "HypotBackward0")
# C's remainder (the result takes the dividend's sign), from Python's % (which compiles under
# numba.njit and numba.cuda; math.fmod does not).
FMOD = _binary("fmod", np.fmod, _modulo_vjp,
               "(({0} % {1}) - {1} if ({0} % {1}) != {zero} and (({0} % {1}) < {zero}) != ({0} < {zero}) "
               "else ({0} % {1}))", "FmodBackward1")
# Python's modulo (the result takes the divisor's sign).
REMAINDER = _binary("remainder", np.remainder, _modulo_vjp, "({0} % {1})", "RemainderBackward1")
# Python's floor division (``1.0 // 0.1 == 9.0``, as NumPy and PyTorch): piecewise constant, so its
# gradient is zero, as PyTorch's ``div(rounding_mode="floor")`` gives.
FLOOR_DIVIDE = _binary("floor_divide", np.floor_divide, lambda g, out, x, y: (Zero.of(x), Zero.of(y)),
                       "({0} // {1})", "DivBackward2")

MATH_PRIMS = (ASIN, ACOS, ATAN, SINH, COSH, ASINH, ACOSH, ATANH, ERF, ERFC, EXP2, LOG2, LOG10, RSQRT, SINC,
              NAN_TO_NUM, SIGNBIT, ATAN2, HYPOT, FMOD, REMAINDER, FLOOR_DIVIDE)
