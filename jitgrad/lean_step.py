"""The call path of a whole training step compiled by jit (`zero_grad(); loss.backward(); step()`
traced into one program), called again with the same argument objects: the loop of a training run.

Per call it runs the guards of `call_args.LeanCall`, the optimizer's hyper-parameter draws, the
compiled overload's entry point and the bookkeeping of `.grad` slots and version counters -- and
no allocation that nobody could tell apart from reusing memory:

* `.grad` tensors. The step's `zero_grad()` drops last step's `.grad` and its backward makes a new
  one (eager mode, PyTorch). Where nobody but the parameter holds last step's gradient (no other
  reference to the tensor or its array, no weak reference, no autograd state of its own), the
  program writes the new gradient into it and it becomes the new `.grad`: nobody can observe that
  it is not a new tensor. A gradient somebody kept keeps its values (a new one is made).
* returned tensors (the loss). Two tensors per small output take turns: a call writes into the
  one that nobody but this plan holds (the loop's `loss = step(x, y)` holds the other), so a
  returned loss the user keeps never changes; when both are held, a new one is made.

Anything else -- another argument, a replaced storage, changed Python state, an optimizer edit
that changes the program -- raises _LeanCallStaleError and the full path runs (and rebuilds this).
"""
from __future__ import annotations

import sys
import weakref

import numpy as np

from . import core, dtypes
from .autograd_graph import VersionCounter
from .call_args import LeanCall, _LeanCallStaleError
from .tensor import Tensor

_refs = sys.getrefcount
_weak_refs = weakref.getweakrefcount
# Outputs up to this many elements take turns in two held tensors (see the module docstring);
# larger ones get a new array per call (their allocation is small next to the work making them).
ROTATE_MAX_ELEMENTS = 4096
# getrefcount of a tensor that nobody but the code reading it holds, at the places read below (the
# local variable and the call's argument; for a rotated output also the plan's list). The tests in
# tests/test_lean_step.py fail if a change of the code below changes these counts.
_FREE_GRAD = 2
_FREE_OUTPUT = 3
_FREE_ARRAY = 2  # an array held by its tensor only (the attribute read and the argument)


class LeanStep:
    """One whole-step signature called again with the same argument objects (see the module doc).
    Built from the LeanCall of a program whose write-backs are all in place and whose other outputs
    (the function's results, new `.grad` values) all go into caller buffers."""

    __slots__ = ("args", "checks", "epoch", "dtype", "guards", "template", "draw_slots", "scratch", "call",
                 "bumped", "grad_plan", "grad_refs", "grad_slots", "after_call", "outputs", "rebuild", "n_args",
                 "__weakref__")

    def __init__(self, lean: LeanCall) -> None:
        bumped, results, grads, checks, new_grads, grad_slots, after_call, draw_slots, buffer_slots = lean.step
        self.args = lean.args
        self.n_args = len(lean.args)
        self.checks = checks
        self.epoch, self.dtype = lean.state  # (core.python_state() at the snapshot)
        self.guards = lean.effects.guards
        self.template = lean.template
        self.draw_slots = draw_slots
        outputs = {k: (shape, dtype) for k, shape, dtype in buffer_slots}
        self.scratch = [(k, shape, dtype) for k, shape, dtype in buffer_slots if k not in results and k not in grads]
        self.call = lean.call
        self.bumped = bumped
        self.grad_plan = [(t, k, *outputs[k]) for t, k in zip(new_grads, grads, strict=True)]
        self.grad_refs = [_dead] * len(grads)  # weak references to the arrays of the gradients this plan made
        self.grad_slots = grad_slots
        self.after_call = after_call
        # per result: (its buffer slot, [two tensors taking turns] or None when it is too large, shape, dtype)
        self.outputs = [(k, [] if _numel(outputs[k][0]) <= ROTATE_MAX_ELEMENTS else None, *outputs[k])
                        for k in results]
        self.rebuild = lean.rebuild

    def __call__(self, args: tuple):
        mine = self.args
        if len(args) != self.n_args:
            raise _LeanCallStaleError
        for a, b in zip(args, mine):
            if a is not b:
                raise _LeanCallStaleError
        for t, d, rg in self.checks:
            if t._data is not d or t._requires_grad is not rg:
                raise _LeanCallStaleError
        if core.module_epoch[0] != self.epoch or dtypes._default_float[0] != self.dtype:
            raise _LeanCallStaleError
        for fn, value in self.guards:  # (StepEffects.current)
            now = fn()
            if now is not value and (type(now) is not tuple or now != value):
                raise _LeanCallStaleError
        program_args = self.template.copy()
        for k, draw in self.draw_slots:
            program_args[k] = draw()
        for k, shape, dtype in self.scratch:
            program_args[k] = np.empty(shape, dtype)
        kept = []  # per new gradient: last step's tensor, now holding this step's gradient, or None
        refs = self.grad_refs
        i = 0
        for t, k, shape, dtype in self.grad_plan:
            g = t._grad
            t._grad = None  # (this step's zero_grad(): freed unless reused)
            if g is not None and _refs(g) == _FREE_GRAD and g._data is refs[i]() and _reusable(g):
                program_args[k] = g._data
                kept.append(g)
            else:
                program_args[k] = np.empty(shape, dtype)
                kept.append(None)
            i += 1
        results = []
        for k, pair, shape, dtype in self.outputs:
            out = None
            if pair is not None:
                for held in pair:
                    if _refs(held) == _FREE_OUTPUT and _reusable(held):
                        out = held
                        break
            if out is None:
                out = Tensor._wrap(np.empty(shape, dtype))
                if pair is not None:
                    if len(pair) == 2:
                        del pair[0]
                    pair.append(out)
            program_args[k] = out._data
            results.append(out)
        self.call(*program_args)
        for counter in self.bumped:
            counter.value += 1
            counter.last_op = "an in-place op inside a compiled function"
        for t, value in self.grad_slots:
            t._grad = value
        i = 0
        for t, k, _, _ in self.grad_plan:
            g = kept[i]
            if g is None:
                g = Tensor._wrap(program_args[k])
                refs[i] = weakref.ref(program_args[k])
            t._grad = g
            i += 1
        for action in self.after_call:
            action()
        return self.rebuild(results)


def _reusable(t) -> bool:
    """Whether tensor `t`, which nobody else holds, can pass for a new one once its array is
    written: its array is its own (no view, no other tensor on it), it has no autograd state and no
    weak reference; its version is reset to 0 (a new tensor's)."""
    if type(t) is not Tensor or t._requires_grad or t._grad is not None or t._accumulator is not None \
            or _refs(t._data) != _FREE_ARRAY or _weak_refs(t):
        return False
    if t._version_counter.value:
        t._version_counter = VersionCounter()
    return True


def _numel(shape: tuple) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _dead():
    """A weak reference that never held anything (for gradients no step has made yet)."""
    return None
