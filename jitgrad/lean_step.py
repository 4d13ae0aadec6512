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

from .autograd_graph import VersionCounter
from .call_args import LeanCall
from .lean_guards import define, guard_lines
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
    (the function's results, new `.grad` values) all go into caller buffers.

    The call is one function generated for this plan (`run`; its text is `source`): the guards,
    slots and actions of the plan written out one per line, each constant a global of its own, so
    that a call runs no loop, tuple unpacking or attribute lookup of the plan (this halves the
    Python time of a small step). The compiled function keeps `run` itself; `run.plan` is this.

    >>> import jitgrad as jg
    >>> w = jg.tensor([1.0, 2.0], requires_grad=True)
    >>> opt = jg.optim.SGD([w], lr=0.1)
    >>> @jg.jit
    ... def step(x):
    ...     opt.zero_grad()
    ...     loss = ((w * x - 1.0) ** 2).sum()
    ...     loss.backward()
    ...     opt.step()
    ...     return loss
    >>> x = jg.tensor([1.0, 1.0])
    >>> step(x), step(x), step(x)
    (tensor(1.), tensor(0.6400), tensor(0.4096))
    >>> isinstance(step._lean.plan, LeanStep), w.grad
    (True, tensor([0.0000, 1.2800]))
    """

    __slots__ = ("names", "source", "run", "__weakref__")

    def __init__(self, lean: LeanCall) -> None:
        bumped, results, grads, checks, new_grads, grad_slots, after_call, draw_slots, buffer_slots = lean.step
        outputs = {k: (shape, dtype) for k, shape, dtype in buffer_slots}
        names = {"np": np, "wrap": Tensor._wrap, "weak": weakref.ref, "refcount": _refs, "weakcount": _weak_refs,
                 "Tensor": Tensor, "VersionCounter": VersionCounter,
                 "call": lean.call, "rebuild": lean.rebuild,
                 "grad_refs": [_dead] * len(grads)}
        lines = ["def run(args):", *guard_lines(lean.args, checks, lean.state, names)]
        for i, (fn, value) in enumerate(lean.effects.guards):  # (StepEffects.current)
            names.update({f"guard{i}": fn, f"value{i}": value})
            lines += [f"    now = guard{i}()",
                      f"    if now is not value{i} and (type(now) is not tuple or now != value{i}):",
                      "        raise Stale"]
        for i, (k, draw) in enumerate(draw_slots):
            names[f"draw{i}"] = draw
            lines.append(f"    s{k} = draw{i}()")
        for i, (k, shape, dtype) in enumerate(buffer_slots):
            if k not in results and k not in grads:
                names.update({f"shape{i}": shape, f"dtype{i}": dtype})
                lines.append(f"    s{k} = np.empty(shape{i}, dtype{i})")
        for i, (t, k) in enumerate(zip(new_grads, grads, strict=True)):
            lines += _take_grad(i, t, k, *outputs[k], names)
        for i, k in enumerate(results):
            lines += _take_output(i, k, *outputs[k], names)
        per_call = {k for k, _ in draw_slots} | {k for k, _, _ in buffer_slots}
        names.update({f"c{k}": value for k, value in enumerate(lean.template) if k not in per_call})
        # (the fixed arguments as globals and the others as locals: no argument list built per call)
        lines.append(f"    call({', '.join(f's{k}' if k in per_call else f'c{k}' for k in range(len(lean.template)))})")
        for i, counter in enumerate(bumped):
            names[f"counter{i}"] = counter
            lines += [f"    counter{i}.value += 1",
                      f"    counter{i}.last_op = 'an in-place op inside a compiled function'"]
        for i, (t, value) in enumerate(grad_slots):
            names.update({f"slot{i}": t, f"slot_value{i}": value})
            lines.append(f"    slot{i}._grad = slot_value{i}")
        for i, k in enumerate(grads):
            lines += [f"    if g{i} is None:",
                      f"        g{i} = wrap(s{k})",
                      f"        grad_refs[{i}] = weak(s{k})",
                      f"    p{i}._grad = g{i}"]
        for i, action in enumerate(after_call):
            names[f"action{i}"] = action
            lines.append(f"    action{i}()")
        if lean.single_leaf and len(results) == 1:
            lines.append("    return out0")
        else:
            lines.append(f"    return rebuild([{''.join(f'out{i}, ' for i in range(len(results)))}])")
        self.source = "\n".join(lines) + "\n"
        self.names = names
        self.run = define(self.source, names, "run")
        self.run.plan = self


def _take_grad(i: int, t, k: int, shape: tuple, dtype, names: dict) -> list[str]:
    """Source lines putting into program argument `k` the array for parameter `t`'s new gradient:
    last step's, where nobody else holds it (then `g{i}` is that tensor; else None)."""
    names.update({f"p{i}": t, f"grad_shape{i}": shape, f"grad_dtype{i}": dtype})
    return [f"    g{i} = p{i}._grad",
            f"    p{i}._grad = None  # (this step's zero_grad(): freed unless reused)",
            f"    if g{i} is not None and refcount(g{i}) == {_FREE_GRAD} and g{i}._data is grad_refs[{i}]() "
            f"and {_reusable(f'g{i}')}:",
            *_renew(f"g{i}", "        "),
            f"        s{k} = g{i}._data",
            "    else:",
            f"        g{i} = None",
            f"        s{k} = np.empty(grad_shape{i}, grad_dtype{i})"]


def _take_output(i: int, k: int, shape: tuple, dtype, names: dict) -> list[str]:
    """Source lines making `out{i}`, the tensor returned for program argument `k`: one of two that
    take turns where nobody else holds it (small outputs), else a new one."""
    names.update({f"out_shape{i}": shape, f"out_dtype{i}": dtype})
    if _numel(shape) > ROTATE_MAX_ELEMENTS:
        return [f"    out{i} = wrap(np.empty(out_shape{i}, out_dtype{i}))", f"    s{k} = out{i}._data"]
    names[f"pair{i}"] = []  # two tensors taking turns
    return [f"    out{i} = None",
            f"    for held in pair{i}:",
            f"        if refcount(held) == {_FREE_OUTPUT} and {_reusable('held')}:",
            *_renew("held", "            "),
            f"            out{i} = held",
            "            break",
            f"    if out{i} is None:",
            f"        out{i} = wrap(np.empty(out_shape{i}, out_dtype{i}))",
            f"        if len(pair{i}) == 2:",
            f"            del pair{i}[0]",
            f"        pair{i}.append(out{i})",
            f"    s{k} = out{i}._data"]


def _reusable(name: str) -> str:
    """The condition (source text) under which tensor `name`, which nobody else holds, can pass for
    a new one once its array is written: its array is its own (no view, no other tensor on it), it
    has no autograd state and no weak reference. (Its version is then reset to 0: `_renew`.)

    >>> _reusable("t")[:52]
    'type(t) is Tensor and not t._requires_grad and t._gr'
    """
    return (f"type({name}) is Tensor and not {name}._requires_grad and {name}._grad is None "
            f"and {name}._accumulator is None and refcount({name}._data) == {_FREE_ARRAY} and not weakcount({name})")


def _renew(name: str, indent: str) -> list[str]:
    """Source lines giving reused tensor `name` a new tensor's version, 0."""
    return [f"{indent}if {name}._version_counter.value:", f"{indent}    {name}._version_counter = VersionCounter()"]


def _numel(shape: tuple) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _dead():
    """A weak reference that never held anything (for gradients no step has made yet)."""
    return None
