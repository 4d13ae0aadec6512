"""JAX-style functional transforms `grad` and `value_and_grad`, run by the eager engine.

They work on concrete tensors and on traced ones alike, so `make_ir(value_and_grad(f))(x)`
shows the value-and-gradient graph, and they nest (`grad(grad(f))`): when an argument already
requires grad (an outer transform is differentiating), the gradient is built with
create_graph=True so the outer one can differentiate it. NumPy arrays in -> NumPy arrays out;
Tensors in -> Tensors out. Arguments' own `.grad` fields are never touched.
"""
from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence

import numpy as np

from . import dtypes
from .autodiff import gradients
from .core import Symbolic, TensorBase
from .grad_mode import enable_grad
from .prims import clone, expand
from .tensor import Tensor


def _argnums(argnums: int | Sequence[int], n_args: int) -> tuple:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    if not nums:
        raise ValueError("argnums must name at least one argument")
    for i in nums:
        if not isinstance(i, int) or not -n_args <= i < n_args:
            raise ValueError(f"argnums={argnums!r} names argument {i}, but the function was called with "
                             f"{n_args} positional arguments")
    return tuple(i % n_args for i in nums)


def _diff_arg(x, index: int) -> Tensor:
    """A tensor that requires grad, standing for argument `index` (linked to x's history)."""
    if isinstance(x, TensorBase):
        if not dtypes.is_floating(x.dtype):
            raise TypeError(f"grad: argument {index} is a {dtypes.name(x.dtype)} tensor; only floating "
                            "arguments can be differentiated (leave it out of argnums, or convert it with .float())")
        if x.requires_grad:
            return clone(x)
        return x.detach().requires_grad_()
    if isinstance(x, (builtins.float, builtins.int, np.generic)) and not isinstance(x, (builtins.bool, np.bool_)):
        x = np.asarray(x, dtype=dtypes.scalar_dtype(x) if isinstance(x, builtins.float) else None)
    if isinstance(x, np.ndarray):
        if x.dtype.kind != "f":
            raise TypeError(f"grad: argument {index} has dtype {x.dtype}; only floating arguments can be "
                            "differentiated (leave it out of argnums, or pass a float array)")
        return Tensor._wrap(np.asarray(x, dtype=dtypes.from_numpy_dtype(x.dtype))).requires_grad_()
    raise TypeError(f"grad: argument {index} must be a Tensor, NumPy array or float to be differentiated, "
                    f"got {type(x).__name__}")


def _check_scalar(out) -> Tensor:
    if not isinstance(out, TensorBase):
        raise TypeError(f"the function must return a scalar Tensor, got {type(out).__name__} (with has_aux=True, "
                        "return (scalar, aux))")
    if out.numel() != 1 or not dtypes.is_floating(out.dtype):
        raise TypeError(f"the function must return a one-element floating tensor, got shape {tuple(out.shape)} "
                        f"{dtypes.name(out.dtype)} (reduce it, e.g. with .sum(), or use autograd.grad with "
                        "grad_outputs)")
    return out


def _seed(out: TensorBase):
    """The cotangent 1; while tracing, a symbolic 0-d constant (so the adjoint's broadcasts stay
    ops on a scalar instead of input-sized constant arrays baked into the graph)."""
    data = out._data
    one = np.ones((), out.dtype)
    if isinstance(data, Symbolic):
        return expand(Tensor._wrap(data.builder.const(one)), out.shape)
    return Tensor._wrap(np.broadcast_to(one, out.shape))


def _to_numpy(x):
    if isinstance(x, TensorBase):
        if isinstance(x._data, Symbolic):  # traced (jitgrad.grad compiled): an array once the graph runs
            return x.detach()
        return np.asarray(x.detach()._data)
    if isinstance(x, (list, tuple)):
        return type(x)(_to_numpy(v) for v in x)
    return x


def eager_value_and_grad(fn: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """A function returning (fn(*args), d fn / d args[argnums]); ((value, aux), grads) with has_aux."""

    def wrapped(*args, **kwargs):
        nums = _argnums(argnums, len(args))
        numpy_mode = not any(isinstance(args[i], TensorBase) for i in nums)
        nested = any(isinstance(args[i], TensorBase) and args[i].requires_grad for i in nums)
        call = list(args)
        for i in nums:
            call[i] = _diff_arg(args[i], i)
        with enable_grad():
            result = fn(*call, **kwargs)
            if has_aux and not (isinstance(result, tuple) and len(result) == 2):
                raise TypeError("with has_aux=True the function must return a pair (scalar, aux)")
            out, aux = result if has_aux else (result, None)
            out = _check_scalar(out)
            targets = [call[i] for i in nums]
            if out.requires_grad:
                grads = gradients(out, targets, _seed(out), allow_unused=True, create_graph=nested)
            else:
                grads = (None,) * len(targets)
        grads = tuple(g if g is not None else Tensor._wrap(np.zeros(t.shape, t.dtype))
                      for g, t in zip(grads, targets, strict=True))
        if not nested:
            out = out.detach()
        if numpy_mode:
            out, grads, aux = _to_numpy(out), _to_numpy(grads), _to_numpy(aux)
        g = grads[0] if isinstance(argnums, int) else grads
        return ((out, aux), g) if has_aux else (out, g)

    wrapped.__name__ = f"value_and_grad({getattr(fn, '__name__', 'fn')})"
    wrapped.__wrapped__ = fn
    return wrapped


def eager_grad(fn: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """A function returning d fn / d args[argnums] (a tuple for a tuple argnums); (grads, aux) with has_aux."""
    vg = eager_value_and_grad(fn, argnums, has_aux)

    def wrapped(*args, **kwargs):
        value, g = vg(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    wrapped.__name__ = f"grad({getattr(fn, '__name__', 'fn')})"
    wrapped.__wrapped__ = fn
    return wrapped
