"""jitgrad.fori_loop: a loop whose body is traced once and compiled as a real loop (JAX's
`fori_loop`: `val = body(i, val)` for i in [lower, upper)).

The body is traced into one graph (state in -> state out, the index `i` a 0-d int64 input) and
lowered into one program, whose generated code is inlined in a `for` loop (kernels.fori_source.render_fori):
its buffers are allocated once, the new state is written into the state arrays in place, so a whole
training run (330,000 epochs) is one call from Python that allocates nothing per epoch. The state keeps its
structure, shapes and dtypes from one iteration to the next (a body that changes them is an
error, as in JAX). Tensors the body reads from the enclosing scope are loop-invariant inputs;
in-place writes to them, optimizer steps and random draws inside the body are refused (the
body must be a pure function of `i` and the state: return the new values instead).
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from . import dtypes
from .call_args import _array_of, _describe
from .core import TensorBase
from .executable import Executable
from .grad_mode import enable_grad
from .tensor import Tensor
from .tracing import TracingError, trace
from .tree import flatten, unflatten

_CACHE_SIZE = 64
_cache: OrderedDict = OrderedDict()  # (body, structure, leaf types) -> _Loop


def fori_loop(*args):
    """fori_loop(lower, upper, body, init) -> body(upper-1, ... body(lower+1, body(lower, init)))
    (JAX's signature); fori_loop(n, body, init) is fori_loop(0, n, body, init).

    lower and upper are Python ints; init is an array/Tensor or a nest (tuple, list, dict) of
    them and Python numbers. Returns the final state: NumPy arrays, or Tensors where init had a
    Tensor. Gradients do not flow through the loop (the final state has no history)."""
    if len(args) == 4:
        lower, upper, body, init = args
    elif len(args) == 3:
        lower, (upper, body, init) = 0, args
    else:
        raise TypeError(f"fori_loop takes (lower, upper, body, init) or (n, body, init); got {len(args)} arguments")
    for name, bound in (("lower", lower), ("upper", upper)):
        if isinstance(bound, bool) or not isinstance(bound, (int, np.integer)):
            raise TypeError(f"fori_loop: {name} must be a Python int (the trip count is static), got "
                            f"{type(bound).__name__}")
    if not callable(body):
        raise TypeError(f"fori_loop: body must be callable as body(i, state), got {type(body).__name__}")
    state = _numbers_as_arrays(init)
    leaves, tree = flatten(state)
    as_tensor = any(isinstance(x, TensorBase) for x in leaves)
    arrays = [np.array(_array_of(x), copy=True) for x in leaves]  # (the loop never writes the caller's arrays)
    key = (body, tree, tuple((a.shape, a.dtype.char) for a in arrays))
    loop = _cache.get(key)
    if loop is None:
        loop = _Loop(body, tree, arrays)
        _cache[key] = loop
        if len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    else:
        _cache.move_to_end(key)
    outs = loop.run(int(lower), int(upper), arrays)
    return unflatten(tree, [Tensor._wrap(a) if as_tensor else a for a in outs])


def _numbers_as_arrays(x):
    if isinstance(x, np.generic):
        return np.asarray(x)
    if isinstance(x, (bool, int, float)) and not isinstance(x, TensorBase):
        dtype = np.bool_ if isinstance(x, bool) else np.int64 if isinstance(x, int) else dtypes.get_default_dtype()
        return np.asarray(x, dtype=dtype)
    if isinstance(x, (list, tuple)) and not hasattr(x, "_fields"):
        return type(x)(_numbers_as_arrays(c) for c in x)
    if isinstance(x, dict):
        return {k: _numbers_as_arrays(v) for k, v in x.items()}
    return x


class _Loop:
    """One (body, state signature): the body's executable and the njit loop around it."""

    def __init__(self, body: Callable, tree: tuple, arrays: list) -> None:
        n = len(arrays)

        def flat_body(i, *leaves):
            out = _numbers_as_arrays(body(i, unflatten(tree, list(leaves))))
            out_leaves, out_tree = flatten(out)
            if out_tree != tree:
                raise TypeError("fori_loop: body(i, state) must return the state's structure; got a different "
                                "structure than init")
            return tuple(out_leaves)

        example = [Tensor._wrap(np.zeros((), np.int64))] + [Tensor._wrap(a) for a in arrays]
        with enable_grad():
            graph = trace(flat_body, example)
        if graph.random_inputs or graph.writebacks or graph.effects is not None:
            raise TracingError("fori_loop: the body must be a pure function of (i, state): it drew random "
                               "numbers, wrote into a tensor from outside, or changed .grad/optimizer state. "
                               "Return new values in the state instead (or loop in Python).")
        if graph.mask_counts:
            raise TracingError("fori_loop: the body selects with a boolean mask computed inside it (x[mask]), whose "
                               "size depends on the data of each iteration; use jitgrad.where(mask, x, 0) in the body "
                               "(or loop in Python)")
        for k, (a, v) in enumerate(zip(arrays, graph.outputs, strict=True)):
            if tuple(v.shape) != a.shape or np.dtype(v.dtype) != a.dtype:
                raise TypeError(f"fori_loop: body output {k} is {dtypes.name(v.dtype)}{list(v.shape)} but the state "
                                f"is {_describe([a])}; the body must keep each state value's shape and dtype")
        self.captured = graph.captured
        self.exe = Executable(graph, f"fori_body_{n}", "new signature")
        self.n = n
        self._loop = None

    def run(self, lower: int, upper: int, arrays: list) -> list:
        if upper <= lower:
            return arrays
        exe = self.exe
        captured = [_array_of(t) for t in self.captured]
        if exe.device != "cpu" or not exe.single_program:  # several programs: a Python loop over the calls
            index = np.zeros((), np.int64)
            for i in range(lower, upper):
                index[()] = i
                arrays = list(exe.run([index, *arrays, *captured]))[:self.n]
            return arrays
        if exe.run != exe._compiled_run:  # the first call compiles the body (or falls back)
            index = np.full((), lower, np.int64)
            arrays = [np.asarray(a) for a in exe.run([index, *arrays, *captured])][:self.n]
            lower += 1
            if exe.run != exe._compiled_run:
                return self.run_python(lower, upper, arrays, captured)
        if lower >= upper:
            return arrays
        if self._loop is None:
            self._loop = _compile_loop(exe, self.n)
        if self._loop is False:  # (a program run as kernels and a driver: a Python loop over its calls)
            return self.run_python(lower, upper, arrays, captured)
        fn, others, _ = self._loop
        by_name = {f"in{1 + self.n + k}": c for k, c in enumerate(captured)}
        by_name.update(zip((a.name for a in exe.plan.segments[0].program.constants), exe._consts))
        return list(fn(lower, upper, *arrays, *[by_name[name] for name in others]))

    def run_python(self, lower: int, upper: int, arrays: list, captured: list) -> list:
        index = np.zeros((), np.int64)
        for i in range(lower, upper):
            index[()] = i
            arrays = list(self.exe.run([index, *arrays, *captured]))[:self.n]
        return arrays


def _compile_loop(exe: Executable, n_state: int):
    """(loop, names of its trailing arguments, its source): the body's program inlined in a compiled loop
    `loop(lower, upper, *state, *others)` that writes the new state in place (nothing allocated
    per iteration but what the body's own library calls allocate), or False when the body runs
    as several kernels (see kernels.cpu.compile_program)."""
    from jitgrad._kernels import cpu
    if type(exe.compiled[0]) not in (cpu.CompiledProgram, cpu.PythonProgram):
        return False
    program = exe.plan.segments[0].program
    compiled, others = cpu.compile_loop(program, f"{program.name}_loop", "in0",
                                        [f"in{1 + k}" for k in range(n_state)])
    return compiled.fn, others, compiled.source
