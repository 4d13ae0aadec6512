"""Public elementwise math functions beyond prims.py's: wrappers of prims_math's primitives
(integer inputs of float functions become the default float, as in PyTorch), and the ops
composed from existing primitives, whose gradients then come from those (square, deg2rad,
clamp_min, isnan, isclose, ...)."""
from __future__ import annotations

import builtins
import math

import numpy as np

from . import dtypes, prims, prims_math
from .core import TensorBase, bind


def _floating(x) -> TensorBase:
    x = prims.as_tensor_operand(x)
    return x if dtypes.is_floating(x.dtype) else prims.cast(x, dtypes.get_default_dtype())


def asin(x):
    return bind(prims_math.ASIN, _floating(x))


def acos(x):
    return bind(prims_math.ACOS, _floating(x))


def atan(x):
    return bind(prims_math.ATAN, _floating(x))


def sinh(x):
    return bind(prims_math.SINH, _floating(x))


def cosh(x):
    return bind(prims_math.COSH, _floating(x))


def asinh(x):
    return bind(prims_math.ASINH, _floating(x))


def acosh(x):
    return bind(prims_math.ACOSH, _floating(x))


def atanh(x):
    return bind(prims_math.ATANH, _floating(x))


def erf(x):
    return bind(prims_math.ERF, _floating(x))


def erfc(x):
    return bind(prims_math.ERFC, _floating(x))


def exp2(x):
    return bind(prims_math.EXP2, _floating(x))


def log2(x):
    return bind(prims_math.LOG2, _floating(x))


def log10(x):
    return bind(prims_math.LOG10, _floating(x))


def rsqrt(x):
    """1 / sqrt(x)."""
    return bind(prims_math.RSQRT, _floating(x))


def sinc(x):
    """The normalised sinc: sin(pi x) / (pi x), 1 at 0."""
    return bind(prims_math.SINC, _floating(x))


def atan2(input, other):  # noqa: A002 - PyTorch's argument name
    """The angle of the point (other, input): atan(input / other) in the right quadrant."""
    return bind(prims_math.ATAN2, *prims.float_promoted(input, other))


def hypot(input, other):  # noqa: A002
    """sqrt(input**2 + other**2) without overflow."""
    return bind(prims_math.HYPOT, *prims.float_promoted(input, other))


def fmod(input, other):  # noqa: A002
    """C's remainder: input - trunc(input / other) * other (the sign of input)."""
    return bind(prims_math.FMOD, *_modulo_operands("fmod", input, other))


def remainder(input, other):  # noqa: A002
    """Python's modulo: input - floor(input / other) * other (the sign of other)."""
    return bind(prims_math.REMAINDER, *_modulo_operands("remainder", input, other))


def _modulo_operands(name: str, x, y):
    x, y = prims.promoted(x, y)
    if x.dtype == dtypes.bool_:
        raise RuntimeError(f"{name}(): \"{name}_cpu\" not implemented for 'Bool' (convert with .int() or .float())")
    if not dtypes.is_floating(x.dtype) and isinstance(y._data, np.ndarray) and np.any(y._data == 0):
        raise RuntimeError("ZeroDivisionError: integer " + name + " by zero (the divisor `other` has a zero)")
    return x, y


def nan_to_num(input, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None):  # noqa: A002
    """NaN -> nan, +inf -> posinf (default: the dtype's largest), -inf -> neginf (its lowest)."""
    x = prims.as_tensor_operand(input)
    if not dtypes.is_floating(x.dtype):
        return prims.clone(x)
    info = np.finfo(x.dtype)
    posinf = builtins.float(info.max) if posinf is None else builtins.float(posinf)
    neginf = builtins.float(info.min) if neginf is None else builtins.float(neginf)
    return bind(prims_math.NAN_TO_NUM, x, nan=builtins.float(nan), posinf=posinf, neginf=neginf)


def signbit(input):  # noqa: A002
    """Whether the sign bit is set (True for -0.0 and negative values)."""
    return bind(prims_math.SIGNBIT, prims.as_tensor_operand(input))


# ----- composed from primitives ------------------------------------------------------------------


def square(input):  # noqa: A002
    """input * input (recorded as PyTorch records it: pow(input, 2))."""
    return prims.pow(prims.as_tensor_operand(input), 2)


def deg2rad(input):  # noqa: A002
    return prims.mul(_floating(input), math.pi / 180.0)


def rad2deg(input):  # noqa: A002
    return prims.mul(_floating(input), 180.0 / math.pi)


def clamp_min(input, min):  # noqa: A002
    return prims.clamp(input, min=min)


def clamp_max(input, max):  # noqa: A002
    return prims.clamp(input, max=max)


def isnan(input):  # noqa: A002
    x = prims.as_tensor_operand(input)
    return prims.ne(x, x)


def isinf(input):  # noqa: A002
    x = prims.as_tensor_operand(input)
    if not dtypes.is_floating(x.dtype):
        return prims.ne(x, x)
    return prims.eq(prims.abs(x), math.inf)


def isfinite(input):  # noqa: A002
    x = prims.as_tensor_operand(input)
    if not dtypes.is_floating(x.dtype):
        return prims.eq(x, x)
    return prims.logical_and(prims.eq(x, x), prims.ne(prims.abs(x), math.inf))


def isin(elements, test_elements, *, invert: bool = False):
    """Whether each element of `elements` occurs in `test_elements` (a broadcast comparison)."""
    e = prims.as_tensor_operand(elements)
    t = prims.reshape(prims.as_tensor_operand(test_elements), (-1,))
    e, t = prims.promoted(e, t)
    hits = prims.gt(prims.sum(prims.cast(prims.eq(prims.unsqueeze(e, -1), t), dtypes.int64), -1), 0)
    return prims.logical_not(hits) if invert else hits


def isclose(input, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False):  # noqa: A002
    """|input - other| <= atol + rtol * |other|, elementwise (equal infinities are close)."""
    if rtol < 0 or atol < 0:
        raise RuntimeError(f"isclose(): rtol and atol must be non-negative, got rtol={rtol} and atol={atol}")
    x, y = prims.promoted(input, other)
    close = prims.eq(x, y)
    if dtypes.is_floating(x.dtype):
        near = prims.le(prims.abs(prims.sub(x, y)), prims.add(prims.mul(prims.abs(y), rtol), atol))
        close = prims.logical_or(close, prims.logical_and(near, isfinite(prims.sub(x, y))))
        if equal_nan:
            close = prims.logical_or(close, prims.logical_and(isnan(x), isnan(y)))
    return close


def allclose(input, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:  # noqa: A002
    """Whether isclose holds everywhere (a Python bool: reads values, so eager mode only)."""
    close = isclose(input, other, rtol, atol, equal_nan)
    return builtins.bool(np.all(close.numpy()))
