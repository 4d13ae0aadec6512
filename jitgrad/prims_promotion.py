"""Operands of the op wrappers: Python scalars, arrays and lists lifted to tensors, and dtype
promotion by PyTorch's rules (Python scalars are weak), through the one `cast` primitive."""
from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

import numpy as np

from . import dtypes, interop, templates
from .core import ELEMENTWISE, Primitive, TensorBase, bind, lift

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from ._typing import DTypeLike, TensorLike
    from .tensor import Tensor


def _cast_rule(x, dtype):
    return x.shape, dtype


def _cast_vjp(g, out, x, dtype):
    return (cast(g, x.dtype) if dtypes.is_floating(x.dtype) else None,)


CAST = Primitive("cast", lambda x, dtype: x.astype(dtype), _cast_rule, _cast_vjp, ELEMENTWISE,
                 "ToCopyBackward0", templates.cast, params=("dtype",))


def as_tensor_operand(value, dtype=None) -> TensorBase:
    """A tensor for an op operand: tensors pass through, arrays and scalars become constants."""
    if isinstance(value, TensorBase):
        return value
    if isinstance(value, np.ndarray):
        return lift(value, dtypes.from_numpy_dtype(value.dtype) if dtype is None else dtype)
    if isinstance(value, (builtins.bool, builtins.int, builtins.float, np.generic)):
        return lift(value, dtypes.scalar_dtype(value) if dtype is None else dtype)
    if isinstance(value, (list, tuple)):
        arr = np.asarray(value)
        return lift(arr, dtypes.from_numpy_dtype(arr.dtype) if dtype is None else dtype)
    raise TypeError(f"expected a Tensor, array or number as an operand, got {type(value).__name__}")


def promoted(*operands):
    """Operands as tensors of one dtype, by PyTorch's promotion (Python scalars are weak)."""
    if len(operands) == 2:
        x, y = operands
        if isinstance(x, TensorBase):
            if isinstance(y, TensorBase):
                if x._data.dtype == y._data.dtype:
                    return operands
            elif (type(y) is builtins.float or type(y) is builtins.int) and x._data.dtype.kind == "f":
                return x, lift(y, x._data.dtype, x)  # a weak Python number takes a float tensor's dtype
        elif (type(x) is builtins.float or type(x) is builtins.int) and isinstance(y, TensorBase) \
                and y._data.dtype.kind == "f":
            return lift(x, y._data.dtype, y), y
    like = None
    keys = []
    for op in operands:
        if isinstance(op, TensorBase):
            if like is None:
                like = op
            keys.append(op.dtype if op.ndim else dtypes.ZeroDim(op.dtype))
        elif isinstance(op, np.ndarray):
            keys.append(dtypes.from_numpy_dtype(op.dtype))
        elif isinstance(op, (builtins.bool, builtins.int, builtins.float)):
            keys.append(op)
        elif isinstance(op, np.generic):
            keys.append(op.item())
        else:
            raise interop.operand_error(op)
    dt = dtypes.result_type(*keys)
    out = []
    for op in operands:
        if isinstance(op, TensorBase):
            out.append(op if op.dtype == dt else bind(CAST, op, dtype=dt))
        else:
            out.append(lift(op, dt, like))
    return out


def float_promoted(*operands):
    ops = promoted(*operands)
    if not dtypes.is_floating(ops[0].dtype):
        ops = [cast(o, dtypes.get_default_dtype()) for o in ops]
    return ops


def as_floating(x):
    """Integer and bool inputs of float-only functions become the default float (as in PyTorch)."""
    x = as_tensor_operand(x)
    return x if dtypes.is_floating(x.dtype) else cast(x, dtypes.get_default_dtype())


def cast(x: TensorLike, dtype: DTypeLike) -> Tensor:
    """Convert to `dtype` (recorded as ToCopyBackward0; gradients flow back for floats).

    Example:
        >>> jg.cast(jg.tensor([1.7, -1.7]), jg.int64)
        tensor([ 1, -1])
    """
    dtype = dtypes.as_dtype(dtype)
    x = as_tensor_operand(x)
    return x if x.dtype == dtype else bind(CAST, x, dtype=dtype)


def is_python_scalar(value) -> bool:
    """A Python (or NumPy) number that is not a bool: the left operand of a reflected scalar op."""
    return isinstance(value, (builtins.int, builtins.float, np.number)) and not isinstance(value, builtins.bool)


def dtype_bounds(dtype):
    if dtypes.is_floating(dtype):
        return -np.inf, np.inf
    if dtype == dtypes.bool_:
        return False, True
    info = np.iinfo(dtype)
    return builtins.int(info.min), builtins.int(info.max)


# The cast primitive (promotion's one op) declared here, in prims.ALL's order.
PROMOTION_PRIMS = (CAST,)
