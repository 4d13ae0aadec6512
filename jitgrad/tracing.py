"""Tracing: run a user function on symbolic tensors and record its ops as an IR Graph.

What becomes what while tracing:
* Tensors and NumPy arrays passed as arguments (also inside nested lists/tuples/dicts) become
  graph inputs; the argument structure is kept in `graph.in_tree`.
* Python numbers (and anything else that is not an array) passed as arguments are static:
  their values are baked into the graph as constants, so a new value means a new trace.
  `static_argnums` makes whole arguments static (arrays included).
* Python scalars and NumPy arrays met inside the function become constants, and so do tensors
  the function makes itself.
* Tensors from the enclosing scope (any tensor made before the trace began: parameters and
  buffers of a Module, a plain `jitgrad.tensor(..., requires_grad=True)`, a tensor a closure
  holds) become extra inputs after the arguments (`graph.captured`): compiled functions read
  their current values at every call and send gradients back to those that require grad.
* `detach()` and ops run under `no_grad` on values that require grad are recorded through the
  `stop_gradient` primitive (the function is traced with the real requires-grad structure of
  its inputs), so the adjoint stops there as eager autograd does.
* In-place ops on arguments and captured tensors are functionalised: the trace rebinds the
  tensor to its new value, the final value is an extra output (`graph.writebacks` names the
  target), and compiled functions write it back (bumping the version) after each call.
* Random draws (`jitgrad.rand`, `randn`, ...) become runtime inputs (`graph.random_inputs`),
  drawn from jitgrad's generator at every call, in trace order (so the same seed gives the
  same numbers as eager mode).
* Python control flow over Python values is unrolled. Reading a tensor's value (`float(t)`,
  `t.item()`, `if t > 0:`, `t.numpy()`, `t.tolist()`) raises TracingError naming the line.
"""
from __future__ import annotations

import linecache
import os
import random
import sys
import warnings
from collections.abc import Callable, Sequence

import numpy as np

from . import core, dtypes, prims
from .alias_reads import reads_after_writes
from .autograd_graph import VersionCounter, stale_saved_value
from .core import Symbolic, TensorBase
from .ir import Builder, Graph, Var, gc_paused
from .step_effects import GradSlot, StepEffects
from .tensor import Tensor
from .tree import flatten, flatten_args, unflatten

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


class TracingError(RuntimeError):
    """User code read the value of a traced tensor (the value only exists when the graph runs).

    Example:
        >>> f = jg.jit(lambda x: x * 2 if x.sum() > 0 else x)
        >>> try:
        ...     f(jg.ones(2))
        ... except jg.TracingError as e:
        ...     print('TracingError')
        ...
        TracingError
    """


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

    def unsupported(self, what: str, ways_out: str) -> Exception:
        filename, line = user_frame(2)
        code = linecache.getline(filename, line).strip() if line else ""
        where = f"{filename}:{line}" + (f": `{code}`" if code else "")
        return TracingError(f"{what} inside a compiled function is not supported\n  at {where}\nWays out: {ways_out}")

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


class FunctionTraceBuilder(TraceBuilder):
    """The builder of a user function's trace: it captures tensors from outside the function,
    records stop-gradients, functionalises in-place writes to outside tensors and turns random
    draws into runtime inputs (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.start_serial = VersionCounter().serial  # storages made before this are from outside
        self.mutated: dict = {}  # id(tensor) -> (tensor, its storage before the trace)
        self.random_inputs: list = []  # (input Var, draw() -> a fresh array)
        self.blocked = set()
        self._stopped: dict = {}  # Var -> its stop_gradient Var
        self._storage_values: dict = {}  # id(storage of a mutated outside tensor) -> its current Var
        # A training step's effects on Python state (see step_effects.py):
        self.adopted: dict = {}  # id -> tensor made during the trace that counts as outside (optimizer state)
        self.updated: set = set()  # ids of leaves that require grad updated under no_grad (optimizer.step)
        self.grad_slots: dict = {}  # id(tensor) -> (tensor, its .grad before the trace)
        self.guard_fns: list = []  # () -> a value the compiled call requires (evaluated when the trace ends)
        self.on_success: list = []  # run once, when the trace succeeded (commits optimizer state)
        self.after_call: list = []  # run after every compiled call (optimizer counters)
        self.pending: dict = {}  # scratch of traced optimizers (state made by this trace, by key)
        self.argument_ids: dict = {}  # id(tensor passed as an argument) -> its position among the inputs
        self.first_writes: dict = {}  # id(tensor) -> (equations traced before its first in-place write, tensor)

    def outside(self, tensor) -> bool:
        return (tensor._version_counter.serial < self.start_serial or id(tensor) in self.adopted) \
            and not isinstance(tensor._data, Symbolic)

    def adopt(self, tensor) -> None:
        """Treat `tensor`, made during the trace, as a tensor from outside (optimizer state made
        on the first step: captured as an input, its final value written back)."""
        self.adopted[id(tensor)] = tensor

    def runtime_scalar(self, dtype, make: Callable[[], np.ndarray]):
        """A 0-d tensor of `dtype` whose value `make()` (a 0-d array of that dtype) gives afresh
        before every call (a hyper-parameter)."""
        return Tensor._wrap(self.random_input((), np.dtype(dtype), make))

    def update(self, tensor, value, bump: str | None) -> None:
        """Write `value` (a tensor) into an outside tensor, as the optimizer's in-place update does
        (allowed on parameters: done under no_grad, as in eager mode); bump its version if `bump`."""
        self.updated.add(id(tensor))
        self.rebind(tensor, self.operand(value._data))
        if bump:
            tensor._version_counter.bump(bump)

    # ----- .grad slots (see step_effects.py) ---------------------------------------------------

    def touch_grad(self, tensor, observes: bool) -> None:
        """Remember tensor's .grad before its first change in this trace; `observes`: this first
        use depends on it (accumulating into it, zeroing it in place), so calls check it is the same."""
        if id(tensor) in self.grad_slots:
            return
        original = tensor._grad
        self.grad_slots[id(tensor)] = (tensor, original)
        if observes:
            self.guard_fns.append(lambda: tensor._grad)

    def grad_of(self, tensor):
        """tensor.grad as the trace sees it (reading it is an assumption calls check)."""
        self.touch_grad(tensor, True)
        return tensor._grad

    def accumulate_grad(self, variable, g) -> None:
        """backward() inside the trace, into a tensor from outside: as eager's AccumulateGrad (a
        new .grad, or an in-place add into the existing one), recorded and repeated by calls."""
        from .grad_mode import no_grad
        self.touch_grad(variable, True)
        old = variable._grad
        if old is None:
            variable._grad = Tensor._wrap(g._data)
            return
        with no_grad():
            total = prims.add(old, g)
        if isinstance(old._data, Symbolic) and id(old) not in self.mutated:
            variable._grad = Tensor._wrap(total._data)  # made by this trace: not visible outside
        else:
            self.rebind(old, self.operand(total._data))
            old._version_counter.bump("AccumulateGrad")

    def zero_grad(self, tensor, set_to_none: bool) -> None:
        """Optimizer.zero_grad / Module.zero_grad inside the trace (see nn.module.zero_grad_of)."""
        self.touch_grad(tensor, not set_to_none)
        g = tensor._grad
        if g is None:
            return
        if set_to_none:
            tensor._grad = None
            return
        zeros = prims.expand(Tensor._wrap(self.const(np.zeros((), g.dtype))), tuple(g.shape))
        if isinstance(g._data, Symbolic) and id(g) not in self.mutated:
            tensor._grad = Tensor._wrap(zeros._data)  # made by this trace: not visible outside
            return
        g._requires_grad = False
        self.rebind(g, self.operand(zeros._data))
        g._version_counter.bump("zero_")

    def stop_gradient(self, var: Var) -> Var:
        """`var` as a value no gradient flows through (once per Var)."""
        stopped = self._stopped.get(var)
        if stopped is None:
            stopped = self._stopped[var] = self.emit(prims.STOP_GRADIENT, (var,), {}, var.shape, var.dtype)
        return stopped

    def result(self, data):
        """An output datum of the function: values made under no_grad leave through a stop."""
        return self.stop_gradient(data) if isinstance(data, Var) and data in self.blocked else data

    def rebind(self, tensor, value: Var) -> None:
        """Functionalise an in-place op: a tensor from outside the function is rebound for the rest
        of the trace (restored after it, written back by calls), and other outside tensors sharing
        its storage (e.g. its detach()) read `value` from now on too."""
        self.first_writes.setdefault(id(tensor), (len(self.eqns), tensor))
        if id(tensor) in self.mutated or self.outside(tensor):
            if id(tensor) not in self.mutated:
                self.mutated[id(tensor)] = (tensor, (tensor._data, tensor._requires_grad, tensor._grad_fn),
                                            tensor._version_counter.value)
            self._storage_values[id(self.mutated[id(tensor)][1][0])] = value
        tensor._data = value

    def capture(self, tensor) -> Var:
        value = self._storage_values.get(id(tensor._data))
        return value if value is not None else super().capture(tensor)

    def random_input(self, shape: tuple, dtype, draw) -> Var:
        """An input whose value `draw()` makes afresh at every call (a random draw)."""
        var = self.input(shape, dtype)
        self.random_inputs.append((var, draw))
        return var


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
          static_argnums: Sequence[int] = (), mask_counts: tuple = ()) -> Graph:
    """Run `fn(*args, **kwargs)` on symbolic tensors and return the recorded Graph; `mask_counts`:
    how many elements the traced boolean masks select, in trace order, where a run told
    (`graph.mask_counts` holds the counts the trace assumed; see prims_mask)."""
    kwargs = kwargs or {}
    static_set = {i % len(args) for i in static_argnums} if args else set()
    for i in static_argnums:
        if not -len(args) <= i < len(args):
            raise ValueError(f"static_argnums contains {i}, but the function got {len(args)} positional arguments")
    with gc_paused():
        return _trace(fn, args, kwargs, static_set, tuple(mask_counts))


def _trace(fn: Callable, args: Sequence, kwargs: dict, static_set: set, mask_counts: tuple = ()) -> Graph:
    builder = FunctionTraceBuilder()
    builder.mask_counts = mask_counts
    leaves, in_tree = flatten_args(args, kwargs, static_set)
    tensors = [_input_tensor(builder, leaf) for leaf in leaves]
    builder.argument_ids = {id(leaf): k for k, leaf in enumerate(leaves) if isinstance(leaf, TensorBase)}
    for t, leaf in zip(tensors, leaves, strict=True):
        t._requires_grad = isinstance(leaf, TensorBase) and leaf._requires_grad  # the real structure
    in_vars = [t._data for t in tensors]
    call_args, call_kwargs = unflatten(in_tree, tensors)
    outer, core.tracing.builder = core.tracing.builder, builder  # ops on captured tensors are recorded too
    random_states = _global_random_states()
    bumps: dict = {}  # id(outside tensor) -> how many in-place ops changed it
    final_grads: list = []  # (tensor, its .grad at the end of the trace)
    try:
        result = fn(*call_args, **call_kwargs)
        writebacks = _writebacks(builder, tensors, in_vars)
        out_leaves, out_tree = flatten(result)
        # (checked before outside tensors get their versions back)
        stale = stale_saved_value([getattr(leaf, "grad_fn", None) for leaf in out_leaves]) \
            if builder.in_place_ops else None
    finally:
        core.tracing.builder = outer
        for tensor, original in builder.grad_slots.values():
            final_grads.append((tensor, tensor._grad, original))
            tensor._grad = original  # calls set it (step_effects)
        for tensor, original, version in builder.mutated.values():
            bumps[id(tensor)] = tensor._version_counter.value - version
            # The trace changes nothing outside the function: compiled calls write back.
            (tensor._data, tensor._requires_grad, tensor._grad_fn), tensor._version_counter.value = original, version
    if outer is None and not _same_states(random_states, _global_random_states()):
        _warn_global_random(fn)
    slots = [_grad_slot(builder, tensor, final, original) for tensor, final, original in final_grads]
    new_grads = [builder.result(builder.operand(final._data)) for _, final, original in final_grads
                 if _computed_grad(builder, final, original)]
    outputs = [builder.result(_output_datum(leaf)) for leaf in out_leaves] + [var for _, var in writebacks] + new_grads
    if writebacks or new_grads:
        extra = len(writebacks) + len(new_grads)
        out_tree = ("seq", tuple, (out_tree, ("seq", tuple, tuple(("leaf",) for _ in range(extra)))))
    captured = list(builder.captured.values())
    graph = builder.build(in_vars + [v for _, v in captured] + [v for v, _ in builder.random_inputs], outputs,
                          in_tree=in_tree, out_tree=out_tree)
    graph.captured = [t for t, _ in captured]
    graph.stale_saved_value = stale
    graph.random_inputs = [draw for _, draw in builder.random_inputs]
    graph.mask_counts = tuple(builder.mask_sites)
    graph.writebacks = [(target, tensors[target]._version_counter.value if isinstance(target, int)
                         else bumps[id(target)]) for target, _ in writebacks]
    writes = [builder.first_writes.get(id(tensors[target] if isinstance(target, int) else target), (0,))[0]
              for target, _ in writebacks]
    graph.alias_reads = reads_after_writes(graph.eqns, graph.outputs, graph.outputs[:len(out_leaves)],
                                            in_vars, writes) \
        if writes else ()
    for commit in builder.on_success:
        commit()
    if slots or builder.guard_fns or builder.after_call:
        guards = [(fn, fn()) for fn in builder.guard_fns]
        graph.effects = StepEffects(guards, slots, builder.after_call, Tensor._wrap)
    return graph


def _grad_slot(builder: FunctionTraceBuilder, tensor, final, original) -> GradSlot:
    """How calls leave tensor.grad: a new tensor (program output), None, or a tensor from outside."""
    if _computed_grad(builder, final, original):
        return GradSlot(tensor, True, None)
    return GradSlot(tensor, False, final)


def _computed_grad(builder: FunctionTraceBuilder, final, original) -> bool:
    """Whether the trace left a .grad that the function computed: a traced value, or a constant
    made while tracing (a gradient that does not depend on the inputs, such as a bias's under a
    sum); calls give each a new tensor from the program's outputs."""
    if final is None or final is original:
        return False
    return isinstance(final._data, Symbolic) or final._version_counter.serial >= builder.start_serial


def _global_random_states() -> tuple:
    """The states of Python's and NumPy's global random generators (to see if a trace drew from them)."""
    state = np.random.get_state(legacy=False)
    return random.getstate(), state["state"]["key"].copy(), state["state"]["pos"]


def _same_states(a: tuple, b: tuple) -> bool:
    return a[0] == b[0] and a[2] == b[2] and np.array_equal(a[1], b[1])


_warned_random: set = set()


def _warn_global_random(fn: Callable) -> None:
    """Warn once per function: its Python/NumPy random draws ran once, while tracing."""
    name = getattr(fn, "__qualname__", getattr(fn, "__name__", repr(fn)))
    code = getattr(getattr(fn, "__wrapped__", fn), "__code__", name)
    if code in _warned_random:
        return
    _warned_random.add(code)
    filename, line = user_frame(2)
    warnings.warn_explicit(
        f"the traced function {name} drew numbers from Python's `random` or NumPy's global `np.random` "
        "generator: those draws ran once, while tracing, and are frozen into the compiled function (every "
        "call reuses them). Use jitgrad.rand / jitgrad.randn / jitgrad.randint inside compiled functions "
        "(fresh numbers at every call), or pass the random values as arguments.", RuntimeWarning, filename, line)


def _writebacks(builder: FunctionTraceBuilder, tensors: list, in_vars: list) -> list:
    """[(target, final Var)] for arguments (target: leaf index) and outside tensors (target: the
    tensor) that in-place ops rebound while tracing; refuses what cannot be written back."""
    found = [(i, t) for i, (t, v) in enumerate(zip(tensors, in_vars, strict=True)) if t._data is not v]
    found += [(tensor, tensor) for tensor, _, _ in builder.mutated.values()]
    out = []
    for target, t in found:
        what = f"argument {target}" if isinstance(target, int) else "a tensor from outside the function"
        if id(t) in builder.updated and t.grad_fn is None:
            pass  # a parameter updated under no_grad (optimizer.step), as eager mode allows
        elif t._requires_grad and t.grad_fn is None:
            raise TracingError(
                f"an in-place op inside a compiled function changed {what}, a leaf that requires grad (a parameter): "
                "the compiled function would not differentiate through the change as eager mode does. Update it "
                "outside the compiled function (e.g. optimizer.step() after the call), or run the function eagerly.")
        elif t._requires_grad:
            raise TracingError(
                f"an in-place op inside a compiled function made {what} depend on values that require grad; "
                "its new value and history cannot be written back after the call. Use the out-of-place op "
                "(y = x * 2, not x.mul_(2)) and return the result, or run the function eagerly.")
        out.append((target, builder.result(builder.operand(t._data))))
    return out


def make_ir(fn: Callable, static_argnums: int | Sequence[int] = ()) -> Callable[..., Graph]:
    """`make_ir(fn)(*example_args)` -> the traced Graph of fn (print it to read it).

    Example:
        >>> print(jg.make_ir(lambda x: (jg.exp(x) * 2).sum())(jg.ones(3)))
        { lambda a:f32[3] ;
            b:f32[3] = exp a
            c:f32[3] = mul b 2.0:f32[]
            d:f32[] = sum[dims=(0,) keepdim=False] c
          in (d,) }
    """
    nums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)

    def traced(*args, **kwargs) -> Graph:
        return trace(fn, args, kwargs, nums)

    traced.__name__ = f"make_ir({getattr(fn, '__name__', 'fn')})"
    return traced
