"""Public elementwise math functions beyond prims.py's: wrappers of prims_math's primitives
(integer inputs of float functions become the default float, as in PyTorch), and the ops
composed from existing primitives, whose gradients then come from those (square, deg2rad,
clamp_min, isnan, isclose, ...)."""
from __future__ import annotations

import builtins
import math
from typing import TYPE_CHECKING

import numpy as np

from . import dtypes, prims, prims_math
from .core import TensorBase, bind

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from ._typing import TensorLike
    from .tensor import Tensor


def _floating(x) -> TensorBase:
    x = prims.as_tensor_operand(x)
    return x if dtypes.is_floating(x.dtype) else prims.cast(x, dtypes.get_default_dtype())


def asin(x: TensorLike) -> Tensor:
    """The arcsine, elementwise (integer inputs become the default float).

    Example:
        >>> jg.asin(jg.tensor([0.5, 0.25]))
        tensor([0.5236, 0.2527])
    """
    return bind(prims_math.ASIN, _floating(x))


def acos(x: TensorLike) -> Tensor:
    """The arccosine, elementwise (integer inputs become the default float).

    Example:
        >>> jg.acos(jg.tensor([0.5, 0.25]))
        tensor([1.0472, 1.3181])
    """
    return bind(prims_math.ACOS, _floating(x))


def atan(x: TensorLike) -> Tensor:
    """The arctangent, elementwise (integer inputs become the default float).

    Example:
        >>> jg.atan(jg.tensor([0.5, 0.25]))
        tensor([0.4636, 0.2450])
    """
    return bind(prims_math.ATAN, _floating(x))


def sinh(x: TensorLike) -> Tensor:
    """The hyperbolic sine, elementwise.

    Example:
        >>> jg.sinh(jg.tensor([0.5, 0.25]))
        tensor([0.5211, 0.2526])
    """
    return bind(prims_math.SINH, _floating(x))


def cosh(x: TensorLike) -> Tensor:
    """The hyperbolic cosine, elementwise.

    Example:
        >>> jg.cosh(jg.tensor([0.5, 0.25]))
        tensor([1.1276, 1.0314])
    """
    return bind(prims_math.COSH, _floating(x))


def asinh(x: TensorLike) -> Tensor:
    """The inverse hyperbolic sine, elementwise.

    Example:
        >>> jg.asinh(jg.tensor([0.5, 0.25]))
        tensor([0.4812, 0.2475])
    """
    return bind(prims_math.ASINH, _floating(x))


def acosh(x: TensorLike) -> Tensor:
    """The inverse hyperbolic cosine, elementwise (NaN below 1).

    Example:
        >>> jg.acosh(jg.tensor([1.5, 2.0]))
        tensor([0.9624, 1.3170])
    """
    return bind(prims_math.ACOSH, _floating(x))


def atanh(x: TensorLike) -> Tensor:
    """The inverse hyperbolic tangent, elementwise (NaN outside [-1, 1]).

    Example:
        >>> jg.atanh(jg.tensor([0.5, 0.25]))
        tensor([0.5493, 0.2554])
    """
    return bind(prims_math.ATANH, _floating(x))


def erf(x: TensorLike) -> Tensor:
    """The error function, elementwise.

    Example:
        >>> jg.erf(jg.tensor([0.5, 0.25]))
        tensor([0.5205, 0.2763])
    """
    return bind(prims_math.ERF, _floating(x))


def erfc(x: TensorLike) -> Tensor:
    """The complementary error function 1 - erf(x), elementwise (accurate for large x).

    Example:
        >>> jg.erfc(jg.tensor([0.5, 0.25]))
        tensor([0.4795, 0.7237])
    """
    return bind(prims_math.ERFC, _floating(x))


def exp2(x: TensorLike) -> Tensor:
    """2 ** x, elementwise.

    Example:
        >>> jg.exp2(jg.tensor([0.5, 0.25]))
        tensor([1.4142, 1.1892])
    """
    return bind(prims_math.EXP2, _floating(x))


def log2(x: TensorLike) -> Tensor:
    """The base-2 logarithm, elementwise.

    Example:
        >>> jg.log2(jg.tensor([0.5, 0.25]))
        tensor([-1., -2.])
    """
    return bind(prims_math.LOG2, _floating(x))


def log10(x: TensorLike) -> Tensor:
    """The base-10 logarithm, elementwise.

    Example:
        >>> jg.log10(jg.tensor([0.5, 0.25]))
        tensor([-0.3010, -0.6021])
    """
    return bind(prims_math.LOG10, _floating(x))


def rsqrt(x: TensorLike) -> Tensor:
    """1 / sqrt(x).

    Example:
        >>> jg.rsqrt(jg.tensor([0.5, 0.25]))
        tensor([1.4142, 2.0000])
    """
    return bind(prims_math.RSQRT, _floating(x))


def sinc(x: TensorLike) -> Tensor:
    """The normalised sinc: sin(pi x) / (pi x), 1 at 0.

    Example:
        >>> jg.sinc(jg.tensor([0.5, 0.25]))
        tensor([0.6366, 0.9003])
    """
    return bind(prims_math.SINC, _floating(x))


def atan2(input: TensorLike, other: TensorLike) -> Tensor:  # noqa: A002 - PyTorch's argument name
    """The angle of the point (other, input): atan(input / other) in the right quadrant.

    Example:
        >>> jg.atan2(jg.tensor([0.5, 0.25]), jg.tensor([1.0, 1.0]))
        tensor([0.4636, 0.2450])
    """
    return bind(prims_math.ATAN2, *prims.float_promoted(input, other))


def hypot(input: TensorLike, other: TensorLike) -> Tensor:  # noqa: A002
    """sqrt(input**2 + other**2) without overflow.

    Example:
        >>> jg.hypot(jg.tensor([3.0, 5.0]), jg.tensor([4.0, 12.0]))
        tensor([ 5., 13.])
    """
    return bind(prims_math.HYPOT, *prims.float_promoted(input, other))


def fmod(input: TensorLike, other: TensorLike) -> Tensor:  # noqa: A002
    """C's remainder: input - trunc(input / other) * other (the sign of input).

    Example:
        >>> jg.fmod(jg.tensor([-3.0, 3.0]), 2.0)
        tensor([-1.,  1.])
    """
    return bind(prims_math.FMOD, *_modulo_operands("fmod", input, other))


def remainder(input: TensorLike, other: TensorLike) -> Tensor:  # noqa: A002
    """Python's modulo: input - floor(input / other) * other (the sign of other).

    Example:
        >>> jg.remainder(jg.tensor([-3.0, 3.0]), 2.0)
        tensor([1., 1.])
    """
    return bind(prims_math.REMAINDER, *_modulo_operands("remainder", input, other))


def floor_divide(input: TensorLike, other: TensorLike) -> Tensor:  # noqa: A002
    """floor(input / other) with Python's rounding (also ``input // other``); integers stay integers.
    The gradient is zero, as for PyTorch's ``div(rounding_mode="floor")``.

    Example:
        >>> jg.floor_divide(jg.tensor([7.0, -7.0]), 2.0)
        tensor([ 3., -4.])
        >>> jg.tensor([7, -7]) // 2
        tensor([ 3, -4])
    """
    return bind(prims_math.FLOOR_DIVIDE, *_modulo_operands("floor_divide", input, other))


def _modulo_operands(name: str, x, y):
    x, y = prims.promoted(x, y)
    if x.dtype == dtypes.bool_:
        raise RuntimeError(f"{name}(): \"{name}_cpu\" not implemented for 'Bool' (convert with .int() or .float())")
    if not dtypes.is_floating(x.dtype) and isinstance(y._data, np.ndarray) and np.any(y._data == 0):
        raise RuntimeError("ZeroDivisionError: integer " + name + " by zero (the divisor `other` has a zero)")
    return x, y


def nan_to_num(input: TensorLike, nan: float = 0.0, posinf: float | None = None,
               neginf: float | None = None) -> Tensor:  # noqa: A002
    """NaN -> nan, +inf -> posinf (default: the dtype's largest), -inf -> neginf (its lowest).

    Example:
        >>> jg.nan_to_num(jg.tensor([float('nan'), 1.0]))
        tensor([0., 1.])
    """
    x = prims.as_tensor_operand(input)
    if not dtypes.is_floating(x.dtype):
        return prims.clone(x)
    info = np.finfo(x.dtype)
    posinf = builtins.float(info.max) if posinf is None else builtins.float(posinf)
    neginf = builtins.float(info.min) if neginf is None else builtins.float(neginf)
    return bind(prims_math.NAN_TO_NUM, x, nan=builtins.float(nan), posinf=posinf, neginf=neginf)


def signbit(input: TensorLike) -> Tensor:  # noqa: A002
    """Whether the sign bit is set (True for -0.0 and negative values).

    Example:
        >>> jg.signbit(jg.tensor([0.5, 0.25]))
        tensor([False, False])
    """
    return bind(prims_math.SIGNBIT, prims.as_tensor_operand(input))


# ----- composed from primitives ------------------------------------------------------------------


def square(input: TensorLike) -> Tensor:  # noqa: A002
    """input * input (recorded as PyTorch records it: pow(input, 2)).

    Example:
        >>> jg.square(jg.tensor([0.5, 0.25]))
        tensor([0.2500, 0.0625])
    """
    return prims.pow(prims.as_tensor_operand(input), 2)


def deg2rad(input: TensorLike) -> Tensor:  # noqa: A002
    """Degrees to radians, elementwise.

    Example:
        >>> jg.deg2rad(jg.tensor([0.5, 0.25]))
        tensor([0.0087, 0.0044])
    """
    return prims.mul(_floating(input), math.pi / 180.0)


def rad2deg(input: TensorLike) -> Tensor:  # noqa: A002
    """Radians to degrees, elementwise.

    Example:
        >>> jg.rad2deg(jg.tensor([0.5, 0.25]))
        tensor([28.6479, 14.3239])
    """
    return prims.mul(_floating(input), 180.0 / math.pi)


def clamp_min(input: TensorLike, min: TensorLike | None) -> Tensor:  # noqa: A002
    """max(input, min), elementwise (as clamp(input, min=min)).

    Example:
        >>> jg.clamp_min(jg.tensor([0.5, 0.25]), 0.3)
        tensor([0.5000, 0.3000])
    """
    return prims.clamp(input, min=min)


def clamp_max(input: TensorLike, max: TensorLike | None) -> Tensor:  # noqa: A002
    """min(input, max), elementwise (as clamp(input, max=max)).

    Example:
        >>> jg.clamp_max(jg.tensor([0.5, 0.25]), 0.3)
        tensor([0.3000, 0.2500])
    """
    return prims.clamp(input, max=max)


def isnan(input: TensorLike) -> Tensor:  # noqa: A002
    """Whether each element is NaN.

    Example:
        >>> jg.isnan(jg.tensor([0.5, 0.25]))
        tensor([False, False])
    """
    x = prims.as_tensor_operand(input)
    return prims.ne(x, x)


def isinf(input: TensorLike) -> Tensor:  # noqa: A002
    """Whether each element is +inf or -inf.

    Example:
        >>> jg.isinf(jg.tensor([0.5, 0.25]))
        tensor([False, False])
    """
    x = prims.as_tensor_operand(input)
    if not dtypes.is_floating(x.dtype):
        return prims.ne(x, x)
    return prims.eq(prims.abs(x), math.inf)


def isfinite(input: TensorLike) -> Tensor:  # noqa: A002
    """Whether each element is neither NaN nor infinite.

    Example:
        >>> jg.isfinite(jg.tensor([0.5, 0.25]))
        tensor([True, True])
    """
    x = prims.as_tensor_operand(input)
    if not dtypes.is_floating(x.dtype):
        return prims.eq(x, x)
    return prims.logical_and(prims.eq(x, x), prims.ne(prims.abs(x), math.inf))


def isin(elements: TensorLike, test_elements: TensorLike, *, invert: bool = False) -> Tensor:
    """Whether each element of `elements` occurs in `test_elements` (a broadcast comparison).

    Example:
        >>> jg.isin(jg.tensor([1, 2, 3]), jg.tensor([2, 5]))
        tensor([False,  True, False])
    """
    e = prims.as_tensor_operand(elements)
    t = prims.reshape(prims.as_tensor_operand(test_elements), (-1,))
    e, t = prims.promoted(e, t)
    hits = prims.gt(prims.sum(prims.cast(prims.eq(prims.unsqueeze(e, -1), t), dtypes.int64), -1), 0)
    return prims.logical_not(hits) if invert else hits


def isclose(input: TensorLike, other: TensorLike, rtol: float = 1e-05, atol: float = 1e-08,
            equal_nan: bool = False) -> Tensor:  # noqa: A002
    """``abs(input - other) <= atol + rtol * abs(other)``, elementwise (equal infinities are close).

    Example:
        >>> jg.isclose(jg.tensor([0.5, 0.25]), jg.tensor([0.5, 0.3]))
        tensor([ True, False])
    """
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


def allclose(input: TensorLike, other: TensorLike, rtol: float = 1e-05, atol: float = 1e-08,
             equal_nan: bool = False) -> bool:  # noqa: A002
    """Whether isclose holds everywhere (a Python bool: reads values, so eager mode only).

    Example:
        >>> jg.allclose(jg.tensor([0.5, 0.25]), jg.tensor([0.5, 0.25]))
        True
    """
    close = isclose(input, other, rtol, atol, equal_nan)
    return builtins.bool(np.all(close.numpy()))
