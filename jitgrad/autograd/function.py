"""torch.autograd.Function for jitgrad: user-defined ops with a hand-written backward.

`MyFn.apply(*args)` runs `MyFn.forward(ctx, *args)` with grad mode off, then passes each
differentiable output through one `function_output` primitive: the identity on its value, with
the tensor inputs, the tensors saved on ctx and the tensors stored as ctx attributes as further
operands. Its VJP rule calls `MyFn.backward(ctx, *grads)` with the saved tensors rebound to those
operands. Because the rule is an ordinary VJP rule, the same path serves eager autograd (a graph
node named `MyFnBackward`), double backward (the user's backward is recorded when it uses jitgrad
ops) and compiled mode: inside jit_grad/jit the forward's ops are traced like any code and the
backward is traced into the adjoint graph like any VJP rule; the identity is simplified away.

The primitive lives here, not in the op table: it is the extension point for user code, with no
NumPy rule or kernel of its own.
"""
from __future__ import annotations

import copy
import functools
from typing import TYPE_CHECKING

import numpy as np

from .. import dtypes, prims, shapes
from ..core import OTHER, Primitive, TensorBase, bind
from ..grad_mode import _state as _grad_state
from ..grad_mode import no_grad

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from collections.abc import Callable, Sequence
    from typing import Any

    from ..tensor import Tensor


class FunctionCtx:
    """The `ctx` of forward/backward: save_for_backward, saved_tensors, needs_input_grad,
    mark_non_differentiable, set_materialize_grads; any other attribute may hold user data."""

    def __init__(self) -> None:
        self.to_save: tuple = ()
        self.needs_input_grad: tuple = ()
        self.non_differentiable: tuple = ()
        self.materialize_grads = True

    def save_for_backward(self, *tensors: Sequence[Tensor]) -> None:
        """Keep tensors (or None) for backward; they come back as ctx.saved_tensors."""
        for i, t in enumerate(tensors):
            if t is not None and not isinstance(t, TensorBase):
                raise TypeError(f"save_for_backward can only save variables, but argument {i} is of type "
                                f"{type(t).__name__}; store other values as ctx attributes")
        self.to_save = tensors

    @property
    def saved_tensors(self) -> tuple:
        return self.to_save

    def mark_non_differentiable(self, *tensors: Sequence[Tensor]) -> None:
        """Outputs that get no gradient (integer results, indices): they never require grad."""
        self.non_differentiable = self.non_differentiable + tensors

    def set_materialize_grads(self, value: bool) -> None:
        """With False, backward receives None (not zeros) for the outputs that got no gradient."""
        self.materialize_grads = bool(value)

    def mark_dirty(self, *tensors: Sequence[Tensor]) -> None:
        raise RuntimeError("jitgrad's autograd.Function does not support in-place forward (mark_dirty); return "
                           "a new tensor from forward instead")


_CTX_FIELDS = frozenset(("to_save", "needs_input_grad", "non_differentiable", "materialize_grads"))


def _node_name(params, in_shapes) -> str:
    return f"{params['fn'].__name__}Backward"


def _function_output_vjp(g, out, value, *operands, fn, ctx, index, outputs, n_inputs, saved, attrs, arg_slots):
    """Call fn.backward with g for output `index` (zeros or None for the others) and the saved
    tensors rebound to this node's operands; return one cotangent per operand."""
    inputs = operands[:n_inputs]
    n_saved = len([s for s, _ in saved if s])
    saved_ops = iter(operands[n_inputs:n_inputs + n_saved])
    attr_ops = operands[n_inputs + n_saved:]
    run_ctx = copy.copy(ctx)
    # A saved output is this node's own output when it is the one being differentiated: that
    # value carries the node's history, so a backward written with jitgrad ops differentiates again.
    rebound = []
    for present, source in saved:
        value = next(saved_ops) if present else None
        rebound.append(out if present and source == index else value)
    run_ctx.to_save = tuple(rebound)
    for name, t in zip(attrs, attr_ops):
        setattr(run_ctx, name, t)
    grads = []
    for k, (shape, dtype) in enumerate(outputs):
        if k == index:
            grads.append(g)
        elif ctx.materialize_grads and shape is not None:
            grads.append(type(g)._wrap(np.zeros(shape, dtype=dtype)))
        else:
            grads.append(None)
    result = fn.backward(run_ctx, *grads)
    result = result if isinstance(result, tuple) else (result,)
    name = f"{fn.__name__}Backward"
    if len(result) != len(arg_slots):
        if len(result) > len(arg_slots) and all(r is None for r in result[len(arg_slots):]):
            result = result[:len(arg_slots)]
        else:
            raise RuntimeError(f"function {name} returned an incorrect number of gradients (expected "
                               f"{len(arg_slots)}, got {len(result)})")
    cotangents = []
    for position, (slot, r) in enumerate(zip(arg_slots, result)):
        if slot is None:
            if r is not None:
                raise RuntimeError(f"function {name} returned a gradient different than None at position "
                                   f"{position + 1}, but the corresponding forward input was not a Variable")
            continue
        x = inputs[slot]
        if r is None or not x.requires_grad:
            cotangents.append(None)
            continue
        r = prims.as_tensor_operand(r)
        if tuple(r.shape) != tuple(x.shape):
            if not _expandable(tuple(x.shape), tuple(r.shape)):
                raise RuntimeError(f"Function {name} returned an invalid gradient at index {position} - got "
                                   f"{list(r.shape)} but expected shape compatible with {list(x.shape)}")
            r = prims.unbroadcast(r, tuple(x.shape))
        if r.dtype != x.dtype:
            r = prims.cast(r, x.dtype)
        cotangents.append(r)
    return (None,) + tuple(cotangents) + (None,) * (len(operands) - n_inputs)


def _expandable(shape: tuple, to: tuple) -> bool:
    """Whether `shape` broadcasts to `to` (a larger gradient is then summed down, as PyTorch does)."""
    try:
        return shapes.broadcast(shape, to) == to
    except (RuntimeError, ValueError):
        return False


FUNCTION_OUTPUT = Primitive(
    "function_output", lambda value, *operands, **params: value,
    lambda value, *operands, **params: (value.shape, value.dtype), _function_output_vjp, OTHER, _node_name,
    params=("fn", "ctx", "index", "outputs", "n_inputs", "saved", "attrs", "arg_slots"), probe_vjp=False)


class Function:
    """Base of user ops: subclass with static ``forward(ctx, *args)`` and ``backward(ctx, *grad_outputs)``,
    then call ``MyFn.apply(*args)``. (PyTorch 2's form, ``forward(*args)`` plus
    ``setup_context(ctx, inputs, output)``, works too.)"""

    @staticmethod
    def forward(ctx: Any, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def backward(ctx: Any, *grad_outputs: Any) -> Any:
        raise NotImplementedError("You must implement either the backward or vjp method for your custom "
                                  "autograd.Function to use it with backward mode AD.")

    @staticmethod
    def setup_context(ctx: Any, inputs: Any, output: Tensor) -> None:
        raise NotImplementedError("setup_context is not implemented.")

    vjp = backward

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("Legacy autograd function with non-static forward method is deprecated. Please use new-"
                           "style autograd function with static forward method (MyFunction.apply(...)).")

    @classmethod
    def apply(cls, *args: Any) -> Any:
        ctx = FunctionCtx()
        grad_on = _grad_state.enabled
        ctx.needs_input_grad = tuple(grad_on and isinstance(a, TensorBase) and a.requires_grad for a in args)
        separate_setup = cls.setup_context is not Function.setup_context
        with no_grad():
            if separate_setup:
                raw = cls.forward(*args)
                cls.setup_context(ctx, args, raw)
            else:
                raw = cls.forward(ctx, *args)
        if not any(ctx.needs_input_grad):
            return raw
        return _link_outputs(cls, ctx, args, raw)


def _link_outputs(cls, ctx: FunctionCtx, args: tuple, raw):
    """Each differentiable output of forward passed through function_output (see the module docstring)."""
    outs = raw if isinstance(raw, tuple) else (raw,)
    tensor_args = [a for a in args if isinstance(a, TensorBase)]
    slots, k = [], 0
    for a in args:
        slots.append(k if isinstance(a, TensorBase) else None)
        k += isinstance(a, TensorBase)
    saved = tuple(ctx.to_save)
    attrs = tuple(name for name, v in vars(ctx).items() if name not in _CTX_FIELDS and isinstance(v, TensorBase))
    operands = tensor_args + [t for t in saved if t is not None] + [getattr(ctx, n) for n in attrs]
    meta = tuple((tuple(o.shape), o.dtype) if isinstance(o, TensorBase) and dtypes.is_floating(o.dtype)
                 else (None, None) for o in outs)
    frozen = {id(t) for t in ctx.non_differentiable}
    # Per saved slot: (present, index of the output it is, or -1).
    saved_sources = tuple((t is not None, next((k for k, o in enumerate(outs) if o is t), -1)) for t in saved)
    linked = []
    for index, o in enumerate(outs):
        if not isinstance(o, TensorBase) or id(o) in frozen or not dtypes.is_floating(o.dtype):
            linked.append(o)
            continue
        linked.append(bind(FUNCTION_OUTPUT, o, *operands, fn=cls, ctx=ctx, index=index, outputs=meta,
                           n_inputs=len(tensor_args), saved=saved_sources, attrs=attrs,
                           arg_slots=tuple(slots)))
    return tuple(linked) if isinstance(raw, tuple) else linked[0]


def once_differentiable(backward: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a backward that is not itself differentiable: it runs with grad mode off, and
    differentiating its result again (create_graph=True) raises an error at that second backward."""

    @functools.wraps(backward)
    def wrapper(ctx, *grads):
        wanted = _grad_state.enabled
        with no_grad():
            result = backward(ctx, *grads)
        if not wanted:
            return result
        anchors = [g for g in grads if isinstance(g, TensorBase) and g.requires_grad]
        if not anchors:
            return result
        many = isinstance(result, tuple)
        marked = tuple(_DelayedError.apply(r, *anchors) if isinstance(r, TensorBase) else r
                       for r in (result if many else (result,)))
        return marked if many else marked[0]

    return wrapper


class _DelayedError(Function):
    """Identity on x, tied to the anchors (the incoming gradients), whose backward refuses: the
    result of a once_differentiable backward under create_graph=True."""

    @staticmethod
    def forward(ctx, x, *anchors):
        return x.clone()

    @staticmethod
    def backward(ctx, *grads):
        raise RuntimeError("trying to differentiate twice a function that was marked with @once_differentiable")


__all__ = ["Function", "FunctionCtx", "once_differentiable"]
