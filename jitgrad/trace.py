"""Tracing: run a user function on symbolic tensors and record its ops as an IR Graph.

What becomes what while tracing:
* Tensors and NumPy arrays passed as arguments (also inside nested lists/tuples/dicts) become
  graph inputs; the argument structure is kept in `graph.in_tree`.
* Python numbers (and anything else that is not an array) passed as arguments are static:
  their values are baked into the graph as constants, so a new value means a new trace.
  `static_argnums` makes whole arguments static (arrays included).
* Python scalars and NumPy arrays met inside the function become constants, and so do tensors
  from the enclosing scope that don't require grad (pass data that changes as arguments).
* Tensors from the enclosing scope that require grad (parameters of a Module used inside the
  function) become extra inputs after the arguments (`graph.captured`): compiled functions
  read their current values at every call and send gradients back to them.
* Python control flow over Python values is unrolled. Reading a tensor's value (`float(t)`,
  `t.item()`, `if t > 0:`, `t.numpy()`, `t.tolist()`) raises TracingError naming the line.
"""
from __future__ import annotations

import linecache
import os
import sys
from collections.abc import Callable, Sequence

import numpy as np

from . import core, dtypes
from .core import Symbolic, TensorBase
from .ir import Builder, Graph, gc_paused
from .tensor import Tensor
from .tree import flatten, flatten_args, unflatten

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


class TracingError(RuntimeError):
    """User code read the value of a traced tensor (the value only exists when the graph runs)."""


def user_frame(depth: int = 1):
    """(filename, line number) of the innermost stack frame outside the jitgrad package."""
    frame = sys._getframe(depth)
    while frame is not None:
        filename = os.path.abspath(frame.f_code.co_filename)
        if not filename.startswith(_PACKAGE_DIR):
            return frame.f_code.co_filename, frame.f_lineno
        frame = frame.f_back
    return "<unknown>", 0


class TraceBuilder(Builder):
    """A Builder whose value reads raise TracingError pointing at the user's line."""

    def value_error(self, what: str) -> Exception:
        filename, line = user_frame(2)
        code = linecache.getline(filename, line).strip() if line else ""
        where = f"{filename}:{line}" + (f": `{code}`" if code else "")
        return TracingError(
            f"{what} needs the value of a traced tensor, which is not known while tracing\n"
            f"  at {where}\n"
            "Ways out: make the value an argument of the function (Python numbers are static; or mark "
            "the argument with static_argnums); use jitgrad.where(cond, a, b) instead of an `if` on a "
            "tensor; or run the function eagerly, without tracing.")


def _input_tensor(builder: Builder, leaf) -> Tensor:
    if isinstance(leaf, TensorBase):
        if isinstance(leaf._data, Symbolic):
            raise TracingError("a traced tensor was passed into another trace; nested tracing is not supported")
        dtype = leaf.dtype
    else:
        dtype = dtypes.from_numpy_dtype(leaf.dtype)
    return Tensor._wrap(builder.input(leaf.shape, dtype))


def _output_datum(leaf):
    return leaf._data if isinstance(leaf, TensorBase) else np.asarray(leaf)


def trace(fn: Callable, args: Sequence = (), kwargs: dict | None = None,
          static_argnums: Sequence[int] = ()) -> Graph:
    """Run `fn(*args, **kwargs)` on symbolic tensors and return the recorded Graph."""
    kwargs = kwargs or {}
    static_set = {i % len(args) for i in static_argnums} if args else set()
    for i in static_argnums:
        if not -len(args) <= i < len(args):
            raise ValueError(f"static_argnums contains {i}, but the function got {len(args)} positional arguments")
    with gc_paused():
        return _trace(fn, args, kwargs, static_set)


def _trace(fn: Callable, args: Sequence, kwargs: dict, static_set: set) -> Graph:
    builder = TraceBuilder()
    leaves, in_tree = flatten_args(args, kwargs, static_set)
    tensors = [_input_tensor(builder, leaf) for leaf in leaves]
    call_args, call_kwargs = unflatten(in_tree, tensors)
    outer, core.tracing.builder = core.tracing.builder, builder  # ops on captured parameters are recorded too
    try:
        result = fn(*call_args, **call_kwargs)
    finally:
        core.tracing.builder = outer
    out_leaves, out_tree = flatten(result)
    outputs = [_output_datum(leaf) for leaf in out_leaves]
    captured = list(builder.captured.values())
    graph = builder.build([t._data for t in tensors] + [v for _, v in captured], outputs, in_tree=in_tree,
                          out_tree=out_tree)
    graph.captured = [t for t, _ in captured]
    return graph


def make_ir(fn: Callable, static_argnums: int | Sequence[int] = ()) -> Callable[..., Graph]:
    """`make_ir(fn)(*example_args)` -> the traced Graph of fn (print it to read it)."""
    nums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)

    def traced(*args, **kwargs) -> Graph:
        return trace(fn, args, kwargs, nums)

    traced.__name__ = f"make_ir({getattr(fn, '__name__', 'fn')})"
    return traced
