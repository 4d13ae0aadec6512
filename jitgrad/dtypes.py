"""The dtype set and the one promotion function (PyTorch's rules, incl. weak Python scalars)."""
from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from ._typing import DTypeLike

_pyfloat, _pyint, _pybool = builtins.float, builtins.int, builtins.bool

float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int32 = np.dtype(np.int32)
int64 = np.dtype(np.int64)
bool_ = np.dtype(np.bool_)

float = float32  # noqa: A001 - PyTorch spells the default float dtype this way
double = float64
long = int64
int = int32  # noqa: A001
bool = bool_  # noqa: A001

_NAMES = {bool_: "bool", int32: "int32", int64: "int64", float32: "float32", float64: "float64"}
_default_float = [float32]

# Category order for promotion: bool < integer < floating.
_CATEGORY = {bool_: 0, int32: 1, int64: 1, float32: 2, float64: 2}


def get_default_dtype() -> np.dtype:
    """The dtype Python floats and float factories produce (float32, as in PyTorch).

    Example:
        >>> jg.get_default_dtype()
        dtype('float32')
    """
    return _default_float[0]


def set_default_dtype(dtype: DTypeLike) -> None:
    """Set the default floating dtype (float32 or float64).

    Example:
        >>> jg.set_default_dtype(jg.float64)
        >>> jg.tensor([1.0]).dtype
        dtype('float64')
        >>> jg.set_default_dtype(jg.float32)
    """
    dtype = as_dtype(dtype)
    if not is_floating(dtype):
        raise TypeError(f"set_default_dtype: only floating dtypes are allowed, got {name(dtype)}")
    _default_float[0] = dtype


def name(dtype: np.dtype) -> str:
    """jitgrad's printed name of a dtype ('float32', ...)."""
    return _NAMES.get(dtype, str(dtype))


def as_dtype(dtype) -> np.dtype:
    """Normalise a user dtype (jitgrad/NumPy dtype, type, or name) to a supported np.dtype."""
    if dtype is None:
        return get_default_dtype()
    if dtype is _pyfloat:
        return get_default_dtype()
    if dtype is _pyint:
        return int64
    if dtype is _pybool:
        return bool_
    try:
        d = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"unknown dtype {dtype!r}; use one of float32, float64, int32, int64, bool") from exc
    if d == np.float16 or d not in _CATEGORY:
        raise TypeError(
            f"dtype {d} is not supported by jitgrad; use one of float32, float64, int32, int64, bool"
        )
    return d


def is_floating(dtype: np.dtype) -> bool:
    """True for float32/float64, the dtypes that can carry gradients."""
    return dtype.kind == "f"


def from_numpy_dtype(dtype: np.dtype) -> np.dtype:
    """Map an arbitrary NumPy dtype onto the supported set (float16->float32, uint8->int64...)."""
    if dtype in _CATEGORY:
        return dtype
    if dtype.kind == "f":
        return float64 if dtype.itemsize > 4 else float32
    if dtype.kind in "iu":
        return int64
    if dtype.kind == "b":
        return bool_
    raise TypeError(f"cannot make a jitgrad tensor from NumPy dtype {dtype}; supported: "
                    "float32, float64, int32, int64, bool")


def scalar_dtype(value) -> np.dtype:
    """The dtype a Python scalar gets when it becomes a tensor on its own."""
    if isinstance(value, _pybool):
        return bool_
    if isinstance(value, _pyint):
        return int64
    if isinstance(value, _pyfloat):
        return get_default_dtype()
    if isinstance(value, np.generic):
        return from_numpy_dtype(value.dtype)
    raise TypeError(f"expected a number, got {type(value).__name__}")


class ZeroDim:
    """Marks the dtype of a 0-d tensor operand for result_type (it ranks below tensors with dims)."""

    __slots__ = ("dtype",)

    def __init__(self, dtype: np.dtype) -> None:
        self.dtype = dtype


def result_type(*operands) -> np.dtype:
    """PyTorch promotion over three tiers: tensors with dims (np.dtype) decide within a category;
    0-d tensors (ZeroDim) count only when they lift the category; Python scalars lift the
    category to its default dtype (int tensor * 2.5 -> float32, float32 * 2.0 -> float32)."""
    dims_dtype = zero_dtype = None
    scalar_cat = -1
    for op in operands:
        if isinstance(op, np.dtype):
            dims_dtype = op if dims_dtype is None else _promote_pair(dims_dtype, op)
        elif isinstance(op, ZeroDim):
            zero_dtype = op.dtype if zero_dtype is None else _promote_pair(zero_dtype, op.dtype)
        else:
            scalar_cat = max(scalar_cat, _CATEGORY[scalar_dtype(op)])
    tensor_dtype = dims_dtype
    if zero_dtype is not None and (tensor_dtype is None or _CATEGORY[zero_dtype] > _CATEGORY[tensor_dtype]):
        tensor_dtype = zero_dtype
    if tensor_dtype is None:
        return {0: bool_, 1: int64, 2: get_default_dtype()}[scalar_cat]
    if scalar_cat > _CATEGORY[tensor_dtype]:
        return {1: int64, 2: get_default_dtype()}[scalar_cat]
    return tensor_dtype


def _promote_pair(a: np.dtype, b: np.dtype) -> np.dtype:
    ca, cb = _CATEGORY[a], _CATEGORY[b]
    if ca != cb:
        return a if ca > cb else b
    return a if a.itemsize >= b.itemsize else b
