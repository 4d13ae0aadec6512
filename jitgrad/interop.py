"""Meeting other array libraries: NumPy ufuncs called on tensors (`np.sin(t)` runs `jg.sin`, so
the result stays differentiable), and clear errors when a foreign tensor (PyTorch, JAX, CuPy)
is mixed with a jitgrad tensor in one op.

`np.sin(t)` gives a Tensor, as `np.sin(torch_tensor)` gives a torch.Tensor. For ufuncs jitgrad
implements, the jitgrad op runs (recorded for autograd, traced in compiled mode); other ufuncs run
in NumPy on the values of tensors that do not require grad, and are refused with a TypeError on
tensors that do (NumPy cannot record a gradient).
"""
from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from . import dtypes
from .core import TensorBase

# NumPy ufunc -> the jitgrad function computing it (a name in the op namespace, `jg.<name>`).
UFUNC_OPS: dict[np.ufunc, str] = {
    np.add: "add", np.subtract: "sub", np.multiply: "mul", np.true_divide: "div", np.power: "pow",
    np.negative: "neg", np.positive: "clone", np.absolute: "abs", np.sign: "sign", np.reciprocal: "reciprocal",
    np.exp: "exp", np.expm1: "expm1", np.log: "log", np.log1p: "log1p", np.sqrt: "sqrt",
    np.sin: "sin", np.cos: "cos", np.tan: "tan", np.tanh: "tanh",
    np.maximum: "maximum", np.minimum: "minimum", np.matmul: "matmul",
    np.equal: "eq", np.not_equal: "ne", np.less: "lt", np.less_equal: "le", np.greater: "gt",
    np.greater_equal: "ge", np.logical_and: "logical_and", np.logical_or: "logical_or",
    np.logical_not: "logical_not",
}

# A NumPy value on the left of an operator (`np.float32(2) * t`, `array - t`): the tensor's
# reflected operator, so the graph is recorded as for a Python number there (`2 * t`).
REFLECTED: dict[np.ufunc, str] = {
    np.add: "__radd__", np.subtract: "__rsub__", np.multiply: "__rmul__", np.true_divide: "__rtruediv__",
    np.power: "__rpow__", np.matmul: "__rmatmul__",
}


def _library(value: object) -> str:
    return type(value).__module__.split(".")[0]


def operand_error(value: object) -> TypeError:
    """The TypeError for an operand jitgrad cannot use, saying how to convert foreign tensors."""
    kind = type(value).__name__
    library = _library(value)
    if library == "torch":
        return TypeError(f"a jitgrad tensor and a torch.{kind} cannot be mixed in one op: convert with "
                         "jg.from_dlpack(t) (PyTorch -> jitgrad; t.detach() first if it requires grad) or "
                         "torch.from_dlpack(x) (jitgrad -> PyTorch)")
    if hasattr(value, "__dlpack__") or hasattr(value, "__cuda_array_interface__"):
        return TypeError(f"a jitgrad tensor and a {library}.{kind} cannot be mixed in one op: convert with "
                         "jg.from_dlpack(a) (shares memory) or jg.tensor(a) (copies)")
    return TypeError(f"unsupported operand type {kind}; expected a Tensor, a NumPy array or a number")


def _requires_grad(values: tuple) -> bool:
    return any(isinstance(v, TensorBase) and v.requires_grad for v in values)


def _to_numpy(value: Any) -> Any:
    return value.numpy(force=True) if isinstance(value, TensorBase) else value


def array_ufunc(tensor_type: type, ops: ModuleType, ufunc: np.ufunc, method: str, inputs: tuple,
                kwargs: dict[str, Any]) -> Any:
    """Tensor.__array_ufunc__: the jitgrad op when there is one; else NumPy on the values of
    tensors that do not require grad (the result wrapped back into a Tensor when jitgrad holds its
    dtype), and a TypeError for tensors that do."""
    for value in inputs:
        if not isinstance(value, (TensorBase, np.ndarray, np.generic, bool, int, float)):
            return NotImplemented  # another library's array: let it (or Python) answer
    name = UFUNC_OPS.get(ufunc)
    out = kwargs.get("out")
    if name is not None and method == "__call__" and not kwargs:
        if len(inputs) == 2 and not isinstance(inputs[0], TensorBase) and ufunc in REFLECTED:
            return getattr(inputs[1], REFLECTED[ufunc])(inputs[0])
        op: Callable[..., Any] = getattr(ops, name)
        return op(*inputs)
    call = f"np.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
    if _requires_grad(inputs) or (out is not None and _requires_grad(tuple(out))):
        hint = (f"use jg.{name}(...) without NumPy keywords" if name is not None and method == "__call__"
                else "write it with jitgrad ops, or call it on t.detach() when no gradient is needed")
        raise TypeError(f"{call} on a tensor that requires grad: NumPy cannot record the gradient; {hint}")
    if out is not None and any(isinstance(o, TensorBase) for o in out):
        raise TypeError(f"{call}(..., out=tensor): jitgrad tensors are written through their in-place methods "
                        "(t.copy_(...), t.add_(...)), not by NumPy")
    result = getattr(ufunc, method)(*(_to_numpy(v) for v in inputs), **kwargs)
    return _wrap(tensor_type, result)


def _wrap(tensor_type: type, result: Any) -> Any:
    if isinstance(result, tuple):
        return tuple(_wrap(tensor_type, r) for r in result)
    if isinstance(result, (np.ndarray, np.generic)) and result.dtype in dtypes._CATEGORY:
        return tensor_type._wrap(np.asarray(result))
    return result
