"""torch.autograd.functional for jitgrad: jacobian, hessian, vjp, jvp, hvp, vhp of a Python function.

Everything runs on the one eager engine (`jitgrad.autograd.grad`); forward-mode products use the
double-VJP trick. Conventions follow PyTorch: a Tensor argument gives Tensor results, a tuple of
Tensors gives tuples (a list is accepted as a tuple); jacobian of tuple outputs w.r.t. tuple inputs
is a tuple (per output) of tuples (per input), each of shape `output.shape + input.shape`; results
are detached unless `create_graph=True`, in which case they are differentiable (higher order).
With `strict=False` an output that does not depend on an input gives zeros; with `strict=True`
that raises RuntimeError. `vectorize` is accepted for compatibility and ignored: jitgrad always
loops, one backward pass per output element (or per product).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ..autodiff import gradients
from ..core import TensorBase
from ..grad_mode import enable_grad
from ..prims import clone, stack
from ..shapes import numel

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from typing import Any

_STRATEGIES = ("reverse-mode", "forward-mode")

# strict-mode complaints, by the pass in which a gradient turned out to be missing
_INDEPENDENT = {
    "back": "The output of the user-provided function is independent of input {i}; this is not allowed "
            "in strict mode (pass strict=False to get zeros instead).",
    "back_trick": "The gradient with respect to the input is independent of entry {i} of the dummy "
                  "grad_outputs used by the double-VJP trick for forward-mode products; this is not allowed "
                  "in strict mode (pass strict=False to get zeros instead).",
    "double_back": "The jacobian of the user-provided function is independent of input {i}; this is not "
                   "allowed in strict mode (pass strict=False to get zeros instead).",
    "double_back_trick": "The hessian of the user-provided function is independent of entry {i} of the "
                         "grad_jacobian used by the double-VJP trick; this is not allowed in strict mode "
                         "(pass strict=False to get zeros instead).",
}


# ---------------------------------------------------------------------------------------------
# Argument handling shared by the six functions
# ---------------------------------------------------------------------------------------------


def _tupled(value, what: str, fn: str) -> tuple[bool, tuple]:
    """(was it a tuple?, the value as a tuple of Tensors); TypeError naming the culprit otherwise."""
    is_tuple = isinstance(value, (tuple, list))
    items = tuple(value) if is_tuple else (value,)
    for i, item in enumerate(items):
        if not isinstance(item, TensorBase):
            where = f"the value at index {i}" if is_tuple else f"the given {what}"
            raise TypeError(f"The {what} given to {fn} must be either a Tensor or a tuple of Tensors, but "
                            f"{where} has type {type(item).__name__}.")
    return is_tuple, items


def _prepare(tensors: tuple, create_graph: bool, need_graph: bool) -> tuple:
    """Fresh tensor objects: detached (requiring grad when `need_graph`), or, when the caller wants
    a graph back to them (create_graph), a differentiable copy."""
    out = []
    for t in tensors:
        if create_graph and t.requires_grad:
            out.append(clone(t))
        else:
            fresh = t.detach()
            if need_graph:
                fresh.requires_grad = True
            out.append(fresh)
    return tuple(out)


def _finish(result, create_graph: bool):
    """Detach (possibly nested tuples of) results unless the caller asked for a graph."""
    if isinstance(result, tuple):
        return tuple(_finish(r, create_graph) for r in result)
    return result if create_graph else result.detach()


def _unpack(result: tuple, is_tuple: bool):
    return result if is_tuple else result[0]


def _unpack2(result: tuple, outer_tuple: bool, inner_tuple: bool):
    if not inner_tuple:
        result = tuple(r[0] for r in result)
    return result if outer_tuple else result[0]


def _check_v(v: tuple, like: tuple, like_is_tuple: bool) -> None:
    if len(v) != len(like):
        if like_is_tuple:
            raise RuntimeError(f"v is a tuple of invalid length: should be {len(like)} but got {len(v)}.")
        raise RuntimeError("The given v should contain a single Tensor.")
    for i, (a, b) in enumerate(zip(v, like, strict=True)):
        if tuple(a.shape) != tuple(b.shape):
            where = f"Entry {i} in " if like_is_tuple else ""
            raise RuntimeError(f"{where}v has invalid size: should be {list(b.shape)} but got {list(a.shape)}.")


def _default_v_allowed(tensors: tuple, role: str) -> None:
    if len(tensors) != 1 or numel(tensors[0].shape) != 1:
        raise RuntimeError(f"The vector v can only be None if the {role} is a single Tensor with a single "
                           "element; pass v explicitly.")


def _outputs_need_grad(outputs: tuple, strict: bool) -> None:
    if not strict:
        return
    for i, out in enumerate(outputs):
        if not out.requires_grad:
            raise RuntimeError(f"Output {i} of the user-provided function does not require gradients. The "
                               "outputs must be computed in a differentiable manner from the inputs when "
                               "running in strict mode.")


def _single_scalar(outputs: tuple, is_tuple: bool, fn: str) -> None:
    if is_tuple or len(outputs) != 1:
        raise RuntimeError(f"The function given to {fn} should return a single Tensor")
    if numel(outputs[0].shape) != 1:
        raise RuntimeError(f"The Tensor returned by the function given to {fn} should contain a single element "
                           f"(it has shape {list(outputs[0].shape)}); reduce it first, e.g. with .sum()")


def _grads(outputs: tuple, inputs: tuple, grad_outputs: tuple | None = None, *, create_graph: bool,
           retain_graph: bool | None = None) -> tuple:
    """autograd.grad that skips outputs that need no gradient and gives None for unused inputs."""
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    pairs = [(o, g) for o, g in zip(outputs, grad_outputs, strict=True) if o is not None and o.requires_grad]
    if not pairs:
        return (None,) * len(inputs)
    return gradients([o for o, _ in pairs], list(inputs), [g for _, g in pairs], retain_graph=retain_graph,
                        create_graph=create_graph, allow_unused=True)


def _fill_zeros(grads: tuple, refs: tuple, strict: bool, create_graph: bool, stage: str) -> tuple:
    """Zeros where no gradient flowed (errors instead in strict mode)."""
    out = []
    for i, (g, ref) in enumerate(zip(grads, refs, strict=True)):
        if g is None:
            if strict:
                raise RuntimeError(_INDEPENDENT[stage].format(i=i))
            g = _zeros(ref.shape, ref.dtype, ref)
        elif strict and create_graph and not g.requires_grad:
            what = "hessian" if "double" in stage else "jacobian"
            raise RuntimeError(f"The {what} of the user-provided function is independent of input {i}; this is "
                               "not allowed in strict mode when create_graph=True.")
        out.append(g)
    return tuple(out)


def _zeros(shape, dtype, like) -> TensorBase:
    return type(like)._wrap(np.zeros(tuple(shape), dtype=dtype))


def _dummy_like(t) -> TensorBase:
    """A zero tensor requiring grad: the stand-in cotangent of the double-VJP trick (any finite
    value works, since a VJP is linear in its cotangent)."""
    return type(t)._wrap(np.zeros(t.shape, dtype=t.dtype), requires_grad=True)


# ---------------------------------------------------------------------------------------------
# The public functions
# ---------------------------------------------------------------------------------------------


def vjp(func: Callable, inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False) -> Any:
    """(func(inputs), v^T J): the vector-Jacobian product at `inputs` (v may be omitted for a
    single-element output)."""
    with enable_grad():
        in_tuple, ins = _tupled(inputs, "inputs", "vjp")
        ins = _prepare(ins, create_graph, need_graph=True)
        out_tuple, outs = _tupled(func(*ins), "outputs of the user-provided function", "vjp")
        _outputs_need_grad(outs, strict)
        if v is not None:
            vs = _prepare(_tupled(v, "v", "vjp")[1], create_graph, need_graph=False)
            _check_v(vs, outs, out_tuple)
        else:
            _default_v_allowed(outs, "output of the user-provided function")
            vs = None
        res = _fill_zeros(_grads(outs, ins, vs, create_graph=create_graph), ins, strict, create_graph, "back")
    return _unpack(_finish(outs, create_graph), out_tuple), _unpack(_finish(res, create_graph), in_tuple)


def jvp(func: Callable, inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False) -> Any:
    """(func(inputs), J v): the Jacobian-vector product at `inputs`.

    Computed with the double-VJP trick (no forward-mode engine): u -> J^T u is linear, so the VJP
    of that map at a dummy u, applied to v, is J v. Costs two reverse passes.
    """
    with enable_grad():
        in_tuple, ins = _tupled(inputs, "inputs", "jvp")
        ins = _prepare(ins, create_graph, need_graph=True)
        if v is not None:
            vs = _prepare(_tupled(v, "v", "jvp")[1], create_graph, need_graph=False)
            _check_v(vs, ins, in_tuple)
        else:
            _default_v_allowed(ins, "input to the user-provided function")
            vs = None
        out_tuple, outs = _tupled(func(*ins), "outputs of the user-provided function", "jvp")
        _outputs_need_grad(outs, strict)
        dummies = tuple(_dummy_like(o) for o in outs)
        jt_u = _grads(outs, ins, dummies, create_graph=True)
        if strict:
            for i, g in enumerate(jt_u):
                if g is None or not g.requires_grad:
                    raise RuntimeError(f"The gradient with respect to input {i} is independent of the inputs of "
                                       "the user-provided function; this is not allowed in strict mode.")
        if vs is None:
            vs = tuple(type(t)._wrap(np.ones(t.shape, dtype=t.dtype)) for t in ins)
        res = _grads(jt_u, dummies, vs, create_graph=create_graph)
        res = _fill_zeros(res, outs, strict, create_graph, "back_trick")
    return _unpack(_finish(outs, create_graph), out_tuple), _unpack(_finish(res, create_graph), out_tuple)


def jacobian(func: Callable, inputs: Any, create_graph: bool = False, strict: bool = False, vectorize: bool = False,
             strategy: str = "reverse-mode") -> Any:
    """The Jacobian of `func` at `inputs`, each block of shape output.shape + input.shape.

    `vectorize` and `strategy` are accepted for PyTorch compatibility; jitgrad always builds the
    Jacobian row by row, one reverse pass per output element, with one-hot cotangents.
    """
    if strategy not in _STRATEGIES:
        raise ValueError(f"jacobian: strategy must be one of {_STRATEGIES}, got {strategy!r}")
    if strict and vectorize:
        raise RuntimeError("jacobian: strict=True and vectorize=True are not supported together (as in PyTorch); "
                           "set one of them to False.")
    with enable_grad():
        in_tuple, ins = _tupled(inputs, "inputs", "jacobian")
        ins = _prepare(ins, create_graph, need_graph=True)
        out_tuple, outs = _tupled(func(*ins), "outputs of the user-provided function", "jacobian")
        _outputs_need_grad(outs, strict)
        blocks = tuple(_jacobian_of_output(i, out, ins, create_graph, strict) for i, out in enumerate(outs))
    return _unpack2(_finish(blocks, create_graph), out_tuple, in_tuple)


def _jacobian_of_output(index: int, out, ins: tuple, create_graph: bool, strict: bool) -> tuple:
    """d out / d each input, one row per element of `out`."""
    n = numel(out.shape)
    rows: list[list] = [[] for _ in ins]
    basis = np.zeros(n, dtype=out.dtype)
    for k in range(n):
        basis[k] = 1
        onehot = type(out)._wrap(basis.reshape(out.shape).copy())
        basis[k] = 0
        for j, g in enumerate(_grads((out,), ins, (onehot,), create_graph=create_graph, retain_graph=True)):
            if g is None:
                if strict:
                    raise RuntimeError(f"Output {index} of the user-provided function is independent of input "
                                       f"{j}; this is not allowed in strict mode (pass strict=False to get "
                                       "zeros instead).")
                g = _zeros(ins[j].shape, ins[j].dtype, ins[j])
            elif strict and create_graph and not g.requires_grad:
                raise RuntimeError(f"The jacobian of the user-provided function is independent of input {j}; "
                                   "this is not allowed in strict mode when create_graph=True.")
            rows[j].append(g)
    blocks = []
    for j, x in enumerate(ins):
        shape = tuple(out.shape) + tuple(x.shape)
        if n == 0:
            blocks.append(_zeros(shape, x.dtype, x))
        elif create_graph:
            blocks.append(stack(rows[j]).reshape(shape))
        else:
            blocks.append(type(x)._wrap(np.stack([r._data for r in rows[j]]).reshape(shape)))
    return tuple(blocks)


def hessian(func: Callable, inputs: Any, create_graph: bool = False, strict: bool = False, vectorize: bool = False,
            outer_jacobian_strategy: str = "reverse-mode") -> Any:
    """The Hessian of a scalar function: the jacobian of its gradient. For tuple inputs, a tuple of
    tuples with block [i][j] of shape inputs[i].shape + inputs[j].shape. `vectorize` and
    `outer_jacobian_strategy` are accepted for compatibility (always a reverse-mode loop)."""
    if outer_jacobian_strategy not in _STRATEGIES:
        raise ValueError(f"hessian: outer_jacobian_strategy must be one of {_STRATEGIES}, got "
                         f"{outer_jacobian_strategy!r}")
    in_tuple, ins = _tupled(inputs, "inputs", "hessian")

    def scalar_func(*xs):
        is_tuple, outs = _tupled(func(*xs), "outputs of the user-provided function", "hessian")
        _outputs_need_grad(outs, strict)
        _single_scalar(outs, is_tuple, "hessian")
        return outs[0].reshape(())

    def gradient_func(*xs):
        jac = jacobian(scalar_func, xs, create_graph=True)
        if strict:
            for i, g in enumerate(jac):
                if not g.requires_grad:
                    raise RuntimeError(f"While computing the hessian, the jacobian of the user-provided function "
                                       f"with respect to input {i} turned out independent of the input (a linear "
                                       "function, for example); this is not allowed in strict mode.")
        return jac

    res = jacobian(gradient_func, ins, create_graph=create_graph, strict=strict, vectorize=vectorize)
    return _unpack2(res, in_tuple, in_tuple)


def _scalar_gradient(func: Callable, ins: tuple, fn: str, strict: bool) -> tuple:
    """(outputs tuple, is_tuple, gradient with a graph) of a single-element function."""
    out_tuple, outs = _tupled(func(*ins), "outputs of the user-provided function", fn)
    _outputs_need_grad(outs, strict)
    _single_scalar(outs, out_tuple, fn)
    jac = _grads(outs, ins, create_graph=True)
    if strict:
        for i, g in enumerate(jac):
            if g is None or not g.requires_grad:
                raise RuntimeError(f"While computing the {fn}, the jacobian of the user-provided function with "
                                   f"respect to input {i} turned out independent of the input; this is not "
                                   "allowed in strict mode.")
    return outs, out_tuple, jac


def _hessian_product_args(func, inputs, v, create_graph, fn):
    in_tuple, ins = _tupled(inputs, "inputs", fn)
    ins = _prepare(ins, create_graph, need_graph=True)
    if v is not None:
        vs = _prepare(_tupled(v, "v", fn)[1], create_graph, need_graph=False)
        _check_v(vs, ins, in_tuple)
    else:
        _default_v_allowed(ins, "input to the user-provided function")
        vs = tuple(type(t)._wrap(np.ones(t.shape, dtype=t.dtype)) for t in ins)
    return in_tuple, ins, vs


def vhp(func: Callable, inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False) -> Any:
    """(func(inputs), v^T H) for a scalar function: the VJP of its gradient."""
    with enable_grad():
        in_tuple, ins, vs = _hessian_product_args(func, inputs, v, create_graph, "vhp")
        outs, out_tuple, jac = _scalar_gradient(func, ins, "vhp", strict)
        res = _grads(jac, ins, vs, create_graph=create_graph)
        res = _fill_zeros(res, ins, strict, create_graph, "double_back")
    return _unpack(_finish(outs, create_graph), out_tuple), _unpack(_finish(res, create_graph), in_tuple)


def hvp(func: Callable, inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False) -> Any:
    """(func(inputs), H v) for a scalar function, by the double-VJP trick on its gradient
    (equal to vhp for twice continuously differentiable functions, whose Hessian is symmetric)."""
    with enable_grad():
        in_tuple, ins, vs = _hessian_product_args(func, inputs, v, create_graph, "hvp")
        outs, out_tuple, jac = _scalar_gradient(func, ins, "hvp", strict)
        dummies = tuple(_dummy_like(x) for x in ins)
        h_u = _grads(jac, ins, dummies, create_graph=True)
        res = _grads(h_u, dummies, vs, create_graph=create_graph)
        res = _fill_zeros(res, ins, strict, create_graph, "double_back_trick")
    return _unpack(_finish(outs, create_graph), out_tuple), _unpack(_finish(res, create_graph), in_tuple)


__all__ = ["vjp", "jvp", "jacobian", "hessian", "vhp", "hvp"]
