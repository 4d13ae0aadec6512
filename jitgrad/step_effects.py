"""What a traced training step does to Python-visible state besides tensor storage, made
repeatable at every compiled call.

A whole training step (`opt.zero_grad(); loss.backward(); opt.step()`) traced by jit changes:
* `.grad` slots of parameters: set to None, given a new tensor, or updated in place. The trace
  records each slot's final state; calls set it again (new gradients are outputs of the program).
* optimizer state: created once while tracing (committed when the trace succeeds), then
  written back as in-place outputs; Python counters (Adam's step) advance after each call.
* what the trace assumed: a `.grad` it read (None or that very tensor), the optimizer's
  structure (flags, which state exists). Calls check these guards and retrace when one changed.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .core import Symbolic


class GradSlot:
    """One parameter's `.grad` as the trace left it: `new` (the program computes a new tensor:
    an extra output), or `value` (None, or a tensor that existed before) set after each call."""

    __slots__ = ("tensor", "new", "value")

    def __init__(self, tensor, new: bool, value) -> None:
        self.tensor, self.new, self.value = tensor, new, value


class StepEffects:
    """Guards, `.grad` slots and after-call actions of one traced function (see module doc)."""

    __slots__ = ("guards", "slots", "new_grads", "after_call", "_wrap", "_aliasing")

    def __init__(self, guards: list, slots: list, after_call: list, wrap: Callable) -> None:
        self.guards = guards  # [(fn, value the compiled program assumes)]
        self.slots = [s for s in slots if not s.new]
        self.new_grads = [s.tensor for s in slots if s.new]  # one program output each, in this order
        self.after_call = after_call
        self._wrap = wrap  # Tensor._wrap
        # Per new gradient: whether the program hands it back in an input's storage (the gradient of
        # b in (b * c).sum() is c itself). Fixed by the program's structure; found on the first call.
        self._aliasing: list | None = None

    def current(self) -> bool:
        """False when Python state the trace assumed changed (the caller retraces)."""
        for fn, value in self.guards:
            now = fn()
            if now is not value and (type(now) is not tuple or now != value):  # tensors: by identity
                return False
        return True

    def apply(self, grads: list, inputs) -> None:
        """After a call: set `.grad` slots (new gradients from `grads`, the program's outputs;
        `inputs`: the arrays it was called with), then run the after-call actions (optimizer counters).
        A gradient in an input's storage is copied: as in eager mode, `.grad` is a tensor of its own."""
        for slot in self.slots:
            slot.tensor._grad = slot.value
        wrap = self._wrap
        aliasing = self._aliasing
        if aliasing is None:
            arrays = [a for a in inputs if type(a) is np.ndarray]
            aliasing = self._aliasing = [  # (an earlier gradient too: each .grad has storage of its own)
                type(g) is np.ndarray and any(np.may_share_memory(g, a) for a in [*arrays, *grads[:k]])
                for k, g in enumerate(grads)]
        for t, g, alias in zip(self.new_grads, grads, aliasing, strict=True):
            # A fresh program output becomes the new `.grad` as it is (as eager mode's new tensor); one in an
            # input's storage, or a broadcast constant (a bias's gradient under a sum), gets storage of its own.
            if type(g) is not np.ndarray:
                g = np.asarray(g)
            elif alias or not g.flags.writeable:
                g = g.copy()
            t._grad = wrap(g)
        for action in self.after_call:
            action()

    def release_grads(self) -> None:
        """Before a call: drop the `.grad` tensors this step replaces (its `zero_grad()` set them to
        None), so that their memory is free for the step's own, as in eager mode.

        >>> import jitgrad as jg
        >>> p = jg.ones(2, requires_grad=True)
        >>> p.grad = jg.zeros(2)
        >>> StepEffects([], [GradSlot(p, True, None)], [], jg.Tensor._wrap).release_grads()
        >>> p.grad is None
        True
        """
        for t in self.new_grads:
            t._grad = None


def symbolic(tensor) -> bool:
    return tensor is not None and isinstance(tensor._data, Symbolic)
