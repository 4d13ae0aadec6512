"""Scalar templates of elementwise ops: the text an op's declaration carries, filled for operand names
and dtypes. The fused CPU and CUDA loops (lower.py) and the eager GPU kernels (cuda/eager.py) all
fill templates here, so each op's math is written once, on its declaration.

A template is either a format string or a function. Strings use {0}, {1}... for operands, {name}
for params, {zero}/{one} for literals typed like the first operand, and only Python operators,
math.*, vm.* and `a if c else b`. With floating operands, `vm.f(` names kernels.vmath's vectorisable
`f` and `math.f(` becomes it too where vmath has `f` (sqrt and fabs stay: one instruction each), so
fused loops never call libm. A function template, template(operands, params, x_dtype, out_dtype),
returns the text itself: for ops whose text depends on the dtypes or params (casts, integer abs,
small integer powers)."""
from __future__ import annotations

import math
import re
from collections.abc import Callable

import numpy as np

from jitgrad._kernels import vmath

from . import dtypes

Template = str | Callable[[list, dict, np.dtype, np.dtype], str]

_CALL = re.compile(r"\b(math|vm)\.(\w+)\(")
# Templates may use math.sqrt and math.fabs as they are: both are single instructions.
_HARDWARE = {"sqrt", "fabs"}


def literal(value, dtype: np.dtype) -> str:
    """Source text of a scalar typed like `dtype` (so float32 loops stay float32)."""
    name = dtypes.name(dtype)
    if dtype == dtypes.bool_:
        return "True" if bool(value) else "False"
    if dtype.kind == "f":
        v = float(value)
        if math.isnan(v):
            return f"np.{name}(np.nan)"
        if math.isinf(v):
            return f"np.{name}({'-' if v < 0 else ''}np.inf)"
        return f"np.{name}({v!r})"
    return f"np.{name}({int(value)})"


def suffix(dtype: np.dtype) -> str:
    """vmath's name suffix for a floating dtype."""
    return "f32" if dtype == dtypes.float32 else "f64"


def fill(template: Template, operands: list[str], params: dict, x_dtype: np.dtype, out_dtype: np.dtype) -> str:
    """The scalar expression of `template` for these operand names, params and dtypes."""
    if callable(template):
        return template(operands, params, x_dtype, out_dtype)
    filled = {k: (literal(v, x_dtype) if isinstance(v, (int, float)) and not isinstance(v, bool) else v)
              for k, v in params.items()}
    text = template.format(*operands, zero=literal(0, x_dtype), one=literal(1, x_dtype), **filled)
    return _vector_calls(text, x_dtype)


def _vector_calls(text: str, dtype: np.dtype) -> str:
    """`vm.f(` -> `vm.f_f32(` (or _f64), and `math.f(` too where vmath has f, for floating dtypes."""
    if dtype.kind != "f":
        if "vm." in text:
            raise TypeError(f"template {text!r} calls kernels.vmath, which takes floating operands only, "
                            f"not {dtypes.name(dtype)}; write an integer form of the template (per_kind)")
        return text

    def call(m: re.Match) -> str:
        module, name = m.group(1), m.group(2)
        if module == "vm" or (name in vmath.FUNCTIONS and name not in _HARDWARE):
            return f"vm.{name}_{suffix(dtype)}("
        return m.group(0)
    return _CALL.sub(call, text)


def per_kind(floating: str, other: str) -> Template:
    """A template written one way for floating operands and another for integer and bool ones."""
    def template(operands: list, params: dict, x_dtype: np.dtype, out_dtype: np.dtype) -> str:
        return fill(floating if x_dtype.kind == "f" else other, operands, params, x_dtype, out_dtype)
    return template


def cast(operands: list, params: dict, x_dtype: np.dtype, out_dtype: np.dtype) -> str:
    """The cast template: to bool by comparison with 0, else the NumPy scalar constructor."""
    target = params["dtype"]
    if target == dtypes.bool_:
        return f"({operands[0]} != 0)"
    return f"np.{dtypes.name(dtypes.kernel_dtype(target))}({operands[0]})"  # (float16 computes in float32)


def pow_scalar(operands: list, params: dict, x_dtype: np.dtype, out_dtype: np.dtype) -> str:
    """x ** c for a constant c: small integer powers by multiplication, halves by sqrt."""
    x, exponent = operands[0], params["exponent"]
    one = literal(1, out_dtype)
    if exponent == int(exponent) and abs(exponent) <= 8:
        n = int(abs(exponent))
        body = one if n == 0 else "(" + " * ".join([x] * n) + ")"
        return f"({one} / {body})" if exponent < 0 else body
    if out_dtype.kind == "f" and exponent == 0.5:
        return f"math.sqrt({x})"
    if out_dtype.kind == "f" and exponent == -0.5:
        return f"({one} / math.sqrt({x}))"
    if out_dtype.kind == "f":
        return f"vm.pow_{suffix(out_dtype)}({x}, {literal(exponent, out_dtype)})"
    return f"({x} ** {int(exponent)})"


def scalar_expression(prim, params: dict, x_dtype: np.dtype, out_dtype: np.dtype, operands: list[str]) -> str:
    """An elementwise primitive's template filled for these operand names and dtypes; a primitive
    without one (expand, a one-element reshape: see fuse.py) passes its operand through."""
    if prim.template is None:
        return operands[0]
    text = fill(prim.template, operands, params, x_dtype, out_dtype)
    if out_dtype.kind in "iu" and out_dtype.itemsize < 4:
        # Numba computes int8/int16/uint8 arithmetic in int64: wrap as the stored type does (PyTorch's result)
        text = f"np.{dtypes.name(out_dtype)}({text})"
    return text
