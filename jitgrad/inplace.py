"""In-place ops with PyTorch's autograd semantics: the write goes into the tensor's storage (so
every view of it sees it), the version counter is bumped, and the history is rewritten. A write
through a view rewrites its base's history with a CopySlices node, as PyTorch does."""
from __future__ import annotations

import weakref
from collections.abc import Callable

import numpy as np

from . import core, devices, dtypes, prims
from .autograd_graph import Node, edge_to
from .core import Symbolic, TensorBase, bind
from .grad_mode import _state as _grad_state


class CopySlices(Node):
    """The grad_fn of a base after an in-place write through one of its views.

    Forward: base_new = base_old with the view region replaced by `value`. Backward, for the
    cotangent g of base_new: the value gets view(g) and base_old gets g zeroed in the region.
    Both are computed with the view ops and their VJP rules (so create_graph works), never with
    a formula of their own."""

    __slots__ = ("chain",)

    def __init__(self, base: TensorBase, chain: tuple, value: TensorBase) -> None:
        super().__init__((edge_to(base), edge_to(value)))
        self.chain = chain

    def name(self) -> str:
        return "torch::autograd::CopySlices"

    def apply(self, grad, create_graph: bool) -> tuple:
        parents = [grad]
        for prim, params, extra in self.chain:
            parents.append(bind(prim, parents[-1], *extra, **params))
        g_value = parents[-1]
        region = type(grad)._wrap(core.full_like_data(grad._data, g_value.shape, grad.dtype, 1))
        for i in reversed(range(len(self.chain))):  # scatter the ones back: the region's mask
            prim, params, extra = self.chain[i]
            parent = type(grad)._wrap(parents[i]._data, requires_grad=True)  # its shape is what is used
            region = prim.vjp(region.detach(), parents[i + 1], parent, *extra, **params)[0]
        g_base = prims.where(region.detach() != 0, 0.0, grad)
        return g_base, g_value


def _describe(t: TensorBase) -> str:
    return f"a {dtypes.name(t.dtype)} tensor of shape {list(t.shape)}"


def _refuse_on_leaves(t: TensorBase, op_name: str) -> None:
    """PyTorch's refusals: an in-place op on a leaf that requires grad, or on a view of one."""
    base = t._base
    if base is None and t._requires_grad and t._grad_fn is None:
        raise RuntimeError(
            f"a leaf Variable that requires grad is being used in an in-place operation ({op_name}): the leaf "
            f"is {_describe(t)}. Wrap the update in `with jitgrad.no_grad():` (as optimizers do), or use the "
            "out-of-place op.")
    if base is not None and base._requires_grad and base._grad_fn is None:
        raise RuntimeError(
            f"a view of a leaf Variable that requires grad is being used in an in-place operation ({op_name}): "
            f"the view is {_describe(t)}, of the leaf {_describe(base)}. Wrap the update in "
            "`with jitgrad.no_grad():`, or .clone() the view (or the leaf) first and write into the copy.")


def _move_retained_grad(t: TensorBase, old, new) -> None:
    """retain_grad() follows the tensor to its new history: .grad is that of the final value."""
    if t._retains_grad and old is not None and old is not new:
        old._retained = None
        new._retained = weakref.ref(t)


def _set_history(t: TensorBase, node) -> None:
    old = t._grad_fn
    t._grad_fn = node
    t._requires_grad = True
    _move_retained_grad(t, old, node)


def _write(target: TensorBase, values) -> None:
    """Copy `values` (storage of the same shape and dtype) into target's storage, in place."""
    data = target._data
    if isinstance(data, Symbolic) or isinstance(values, Symbolic):
        target._data = values
    elif not core.on_host(data):
        devices.backend_of(data).copy_into(data, values)
    else:
        np.copyto(data, values)


def inplace(self: TensorBase, op_name: str, compute: Callable, operands: tuple = ()) -> TensorBase:
    """Run `compute` out of place on self's current value, write the result into self's storage,
    bump its version, and (when recording) make the result's history self's: directly, or through
    the base's CopySlices node when self is a view. `operands` are the op's other tensor inputs."""
    recording = _grad_state.enabled
    base = self._base
    if recording:
        _refuse_on_leaves(self, op_name)
    if core.on_host(self._data) and not self._data.flags.writeable:
        raise RuntimeError(f"in-place {op_name} on {_describe(self)} whose memory is read-only (an expanded "
                           "or broadcast view: several elements share one memory location); call .clone() first")
    tracked = recording and (self.requires_grad or any(
        isinstance(o, TensorBase) and o.requires_grad for o in operands))
    src = self
    if tracked:
        # The op's node may read self's old value: give it a snapshot that keeps self's history.
        snapshot = self._data if isinstance(self._data, Symbolic) else core.copy_data(self._data)
        src = type(self)._wrap(snapshot, requires_grad=self._requires_grad, grad_fn=self._grad_fn)
    result = compute(src)
    if tuple(result.shape) != tuple(self.shape):
        raise RuntimeError(f"output with shape {list(self.shape)} doesn't match the broadcast shape "
                           f"{list(result.shape)} (in-place {op_name})")
    if result.dtype != self.dtype:
        if dtypes.is_floating(result.dtype) and not dtypes.is_floating(self.dtype):
            raise RuntimeError(f"result type {dtypes.name(result.dtype)} can't be cast to the desired output "
                               f"type {dtypes.name(self.dtype)} (in-place {op_name})")
        result = prims.cast(result, self.dtype)
    if isinstance(self._data, Symbolic) or isinstance(result._data, Symbolic):
        # Inside a trace: functionalised, the tensor is rebound to its new value (see tracing.py).
        builder = result._data.builder if isinstance(result._data, Symbolic) else self._data.builder
        builder.in_place_ops += 1
        builder.rebind(self, builder.operand(result._data))
    else:
        _write(self, result._data)
    self._version_counter.bump(op_name)
    if not recording or result._grad_fn is None:
        return self
    if base is not None:
        # A write through a view: the base's new history is CopySlices(base's old history, result);
        # this view (and every other view of the base) regenerates its grad_fn from it when used.
        _set_history(base, CopySlices(base, self._view_chain, result))
    else:
        _set_history(self, result._grad_fn)
    return self
