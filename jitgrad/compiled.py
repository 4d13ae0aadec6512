"""Compiled mode: jit, jit_grad, grad, value_and_grad.

Each compiled function keeps a dictionary from the input signature (shapes, dtypes, which
inputs require grad, static arguments, the argument structure) to an executable: traced once,
simplified, fused, lowered and compiled (Numba's disk cache makes a new process skip the
compile). A call is that dictionary lookup plus one call of the compiled entry point.

Non-array arguments (Python numbers, strings, None) are static: they are part of the
signature (by type and exact value, see call_cache) and baked into the graph, so each new value
traces again (like JAX's static_argnums, applied automatically) -- tracing them as scalars
would make `if n > 0` impossible in user code, and numbers that change every call belong in
arrays (a function that keeps retracing for new numbers says so, once). Each function keeps a
bounded number of signatures (`set_cache_limit`); `clear_cache()` empties memory and disk.
"""
from __future__ import annotations

import functools
import logging
import time
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from . import call_cache, core, devices, frontend_cache
from .alias_reads import aliased_read
from .call_args import (
    LeanCall,
    _array_of,
    _describe,
    _device_of,
    _fast_key,
    _fast_path,
    _host_or_gpu,
    _LeanCallStaleError,
    _numpy_or_tensor,
    _prepare,
    _symbolic,
    _wrap_output,
    entry_point,
)
from .compiled_backward import CompiledFunctionBackward, CompiledOutputBackward
from .core import TensorBase
from .executable import Executable, InterpreterFallbackWarning, LazyExecutable, in_place_aliased
from .frontend_cache import FrontEnd
from .grad_mode import _state as _grad_state
from .grad_mode import enable_grad
from .ir import Graph
from .lean_grad import LeanGradCall
from .lean_step import LeanStep
from .prims_mask import MaskCountChangedError
from .tensor import Tensor
from .tracing import TracingError, trace
from .tree import flatten_args, unflatten

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from typing import Any

log = logging.getLogger("jitgrad.compile")


def _log_compile(fn_name: str, what: str, leaves, seconds: float) -> None:
    log.info("traced %s %s for (%s) in %.2f s: new signature", what, fn_name, _describe(leaves), seconds)


def _name(fn: Callable, kind: str) -> str:
    base = "".join(c if c.isalnum() else "_" for c in getattr(fn, "__name__", "fn"))
    return f"{kind}_{base}"



class _Entry:
    """What one signature compiled to: the traced graph, the tensors it captured from the
    enclosing scope, the Python state it read (its guard), and executables built on first use
    (or loaded from the front-end cache, `frontend`: then the graph is traced again only if
    something needs it, see `from_record`)."""

    def __init__(self, graph: Graph | None, name: str, device: str = "cpu",
                 frontend: FrontEnd | None = None) -> None:
        self.name = name
        self.device = device  # where the arrays of this signature live: 'cpu' or 'cuda'
        self.frontend = frontend
        self._forward_only = self._split = self._vjp = None
        self._split_graphs = None  # () -> (forward, backward) graphs of the current split
        self._partial_backwards: dict = {}  # cotangents known zero -> backward executable
        self.backward_aliasing: dict = {}  # wrt -> per gradient: .grad needs a copy (shared or read-only memory)
        self._backward_runners: dict = {}  # wrt -> arrays -> the backward's outputs (see backward_runner)
        self._backward_fns: dict = {}  # wrt -> the compiled backward those runners call
        self.wrt: tuple = ()
        self.python_state = core.python_state()
        self.in_place = False  # jit (not jit_grad): the forward writes updated tensors in place (lower_inplace)
        self._plain_forward = None
        if graph is None:  # (from_record)
            return
        self._graph = graph
        self.captured = graph.captured
        self.captured_state = self._captured_state()
        self.random_inputs = graph.random_inputs
        self.writebacks = graph.writebacks
        self.alias_reads = graph.alias_reads  # arguments read after an in-place write (alias_reads.py)
        self.effects = graph.effects  # a traced training step's .grad slots and guards (step_effects.py)
        self.stale_saved_value = graph.stale_saved_value
        n_grads = len(self.effects.new_grads) if self.effects is not None else 0
        self.n_outputs = len(graph.outputs)
        # the function's own outputs come first, then write-backs, then new .grad values
        self.n_results = self.n_outputs - len(self.writebacks) - n_grads
        self.out_tree = graph.out_tree[2][0] if self.writebacks or n_grads else graph.out_tree

    @classmethod
    def from_record(cls, meta: dict, name: str, frontend: FrontEnd, retrace: Callable[[], Graph]) -> _Entry:
        """An entry whose executables come from the front-end cache; `retrace()` gives its graph
        when something needs it (double backward, another set of differentiated inputs)."""
        self = cls(None, name, "cpu", frontend)
        self._graph, self._retrace = None, retrace
        self.captured, self.captured_state, self.random_inputs, self.writebacks = [], (), [], []
        self.alias_reads = ()
        self.effects = None
        self.stale_saved_value = meta["stale_saved_value"]
        self.n_outputs = self.n_results = meta["n_outputs"]
        self.out_tree = meta["out_tree"]
        return self

    @property
    def graph(self) -> Graph:
        if self._graph is None:
            self._graph = self._retrace()
        return self._graph

    def _meta(self) -> dict:
        """What from_record needs besides the executables."""
        return {"stale_saved_value": self.stale_saved_value, "n_outputs": self.n_outputs, "out_tree": self.out_tree}

    def _executable(self, role: str, make_graph: Callable[[], Graph], label: str) -> Executable:
        """The executable for `role` ('forward', or a forward or backward for one `wrt`): from
        the front-end cache when it has it, else built from `make_graph()` (and stored)."""
        fe = self.frontend
        if fe is not None:
            record = fe.load(role)
            if record is not None:
                return Executable.from_record(record["executable"], make_graph)
        exe = Executable(make_graph(), label, "new signature", self.device)
        record = exe.record() if fe is not None else None
        if record is not None:
            fe.save(role, self._meta(), record)
        return exe

    def _captured_state(self) -> tuple:
        return tuple((t._requires_grad, t._data.shape, t._data.dtype) for t in self.captured)

    def current(self) -> bool:
        """False when Python state the trace read changed since tracing (retrace): module
        structure or training flags, the default dtype, or a captured tensor's requires_grad,
        shape or dtype."""
        return core.python_state() == self.python_state and self._captured_state() == self.captured_state \
            and (self.effects is None or self.effects.current())

    def reads_written_alias(self, leaves) -> bool:
        """Whether this call passes an argument that shares storage with a tensor the function writes
        in place and reads it after the write: the program would read the old values (run eagerly)."""
        return bool(self.alias_reads) and aliased_read(self.alias_reads, self.writebacks, leaves)

    def arrays(self, leaves) -> list:
        """The input arrays of a call: arguments, captured tensors' current values, fresh random draws."""
        arrays = [_array_of(x) for x in leaves] + [_array_of(t) for t in self.captured]
        return arrays + [draw() for draw in self.random_inputs] if self.random_inputs else arrays

    def inputs(self, leaves, arrays: list) -> list:
        """The call's inputs as the backward sees them (random draws as the arrays drawn)."""
        return list(leaves) + self.captured + arrays[len(leaves) + len(self.captured):]

    def before_write_back(self, inputs: list, leaves) -> list:
        """`inputs` with the tensors about to be written back replaced by copies of their values
        (they do not require grad: tracing.py refuses that), for a backward that reads them."""
        inputs = list(inputs)
        written = set()
        for target, _ in self.writebacks:
            t = leaves[target] if isinstance(target, int) else target
            if isinstance(t, TensorBase):
                written.add(id(t._version_counter))
            i = target if isinstance(target, int) else \
                next((len(leaves) + k for k, t in enumerate(self.captured) if t is target), None)
            if i is None:
                continue  # written without being read: not an input
            x = inputs[i]
            inputs[i] = Tensor._wrap(core.copy_data(x._data if isinstance(x, TensorBase) else np.asarray(x)))
        for i, x in enumerate(inputs):  # an alias of a written tensor (a captured ``buffer.detach()``) shares
            if isinstance(x, TensorBase) and id(x._version_counter) in written:  # its version counter
                inputs[i] = Tensor._wrap(core.copy_data(x._data))
        return inputs

    def results(self, outs: list, leaves) -> list:
        """The function's own outputs, after writing the final values of tensors that in-place ops
        changed inside it back into them (functionalised in-place ops, see tracing.py)."""
        n_written = self.n_results + len(self.writebacks)
        for (target, bumps), value in zip(self.writebacks, outs[self.n_results:n_written], strict=True):
            _write_back(leaves[target] if isinstance(target, int) else target, value, bumps)
        if self.effects is not None:
            self.effects.apply(outs[n_written:self.n_outputs],
                               [x._data if isinstance(x, TensorBase) else x for x in (*leaves, *self.captured)])
        return outs[:self.n_results]


    @property
    def forward_only(self) -> Executable:
        if self._forward_only is None:
            if self.in_place and (self.writebacks or self.effects is not None):
                self._forward_only = Executable(self.graph, self.name, "new signature", self.device,
                                                *self._in_place_outputs())
            else:
                self._forward_only = self._executable("forward", lambda: self.graph, self.name)
        return self._forward_only

    def _in_place_outputs(self) -> tuple[dict, tuple]:
        """(write-back output index -> the index of the input it updates, the other output indices:
        filled in caller buffers where the program allows)."""
        n_leaves = len(self.graph.inputs) - len(self.captured) - len(self.random_inputs)
        targets = {}
        for k, (target, _) in enumerate(self.writebacks):
            i = target if isinstance(target, int) else \
                next((n_leaves + c for c, t in enumerate(self.captured) if t is target), None)
            if i is not None:
                targets[self.n_results + k] = i
        return targets, tuple(j for j in range(self.n_outputs) if j not in targets)

    def run_forward(self, arrays: list) -> list:
        """The forward on `arrays`; where an input written in place shares memory with another input
        (a view of a parameter passed as an argument), the program that returns new values instead."""
        exe = self.forward_only
        if self.effects is not None:
            self.effects.release_grads()
        if exe.in_place_outputs and in_place_aliased(arrays, exe.in_place_outputs):
            if self._plain_forward is None:
                self._plain_forward = Executable(self.graph, self.name, "aliased in-place inputs", self.device)
            return self._plain_forward.run(arrays)
        return exe.run(arrays)

    def grad_executables(self, wrt: tuple) -> tuple[Executable, Executable]:
        """(forward returning outputs + residuals, backward) for differentiating w.r.t. `wrt`."""
        if self._split is None or self.wrt != wrt:
            graphs: list = []

            def split_graphs() -> tuple[Graph, Graph]:
                if not graphs:
                    from .adjoint import split
                    graphs.extend(split(self.graph, wrt))
                return graphs[0], graphs[1]
            role = "wrt" + "_".join(map(str, wrt))
            self.wrt = wrt
            fwd = self._executable(f"{role}_fwd", lambda: split_graphs()[0], f"{self.name}_fwd")
            bwd = LazyExecutable(lambda: self._executable(f"{role}_bwd", lambda: split_graphs()[1],
                                                          f"{self.name}_bwd"))  # (backward: on first use)
            self._split = (fwd, bwd)
            self._vjp = None
            self._split_graphs = split_graphs
            self._partial_backwards = {}
            self.backward_aliasing = {}
            self._backward_runners = {}
            self._backward_fns = {}
        return self._split

    def backward_runner(self, wrt: tuple) -> Callable[[list], Sequence]:
        """A function running the backward for `wrt` on its argument list (residuals, cotangents):
        once the backward is one compiled CPU program taking exactly those arrays, its compiled
        function itself (no argument gathering per call); its Executable's run until then."""
        runner = self._backward_runners.get(wrt)
        if runner is not None:
            return runner
        exe = self.grad_executables(wrt)[1]
        built = exe.built if isinstance(exe, LazyExecutable) else exe
        if built is None or built.run != built._compiled_run or not built.single_program or built.device != "cpu" \
                or built.widens_float16 or built._consts or built._prealloc \
                or built._arg_index != list(range(len(built._arg_index))):
            return exe.run
        fn = self._backward_fns[wrt] = built._fn
        runner = self._backward_runners[wrt] = lambda arrays: fn(*arrays)
        return runner

    def backward_entry(self, wrt: tuple, arrays: list) -> Callable[[list], Sequence] | None:
        """backward_runner(wrt) bound to the compiled overload for the types of `arrays` (no type dispatch
        per call), for a caller whose later argument lists have these very types (the nodes of one lean
        call, lean_grad.py: the same input arrays into the same forward overload, the same seed); None
        while the backward is not one compiled program taking them (not built yet, say)."""
        runner = self.backward_runner(wrt)
        fn = self._backward_fns.get(wrt)
        if fn is None or runner is not self._backward_runners.get(wrt):
            return None
        call = entry_point(fn, arrays)
        return lambda arrays: call(*arrays)

    def backward_with_zeros(self, wrt: tuple, zero: tuple) -> Executable:
        """The backward for calls whose cotangents at positions `zero` are zero (outputs the caller
        did not use): it takes the residuals and the other cotangents only, and the zeros are
        symbolic (adjoint.with_zero_cotangents), so no zero-filled array is made or read."""
        self.grad_executables(wrt)
        found = self._partial_backwards.get(zero)
        if found is None:
            split_graphs = self._split_graphs

            def graph() -> Graph:
                from .adjoint import with_zero_cotangents
                fwd, bwd = split_graphs()
                return with_zero_cotangents(bwd, len(fwd.outputs) - len(self.graph.outputs), zero)
            role = "wrt" + "_".join(map(str, wrt)) + "_bwd_zero" + "_".join(map(str, zero))
            found = self._partial_backwards[zero] = LazyExecutable(
                lambda: self._executable(role, graph, f"{self.name}_bwd"))
        return found

    @property
    def vjp_graph(self) -> Graph:
        if self._vjp is None:
            from .adjoint import vjp_graph
            self._vjp = vjp_graph(self.graph, self.wrt, unused="zeros", seed_scalar=False)
        return self._vjp


def _write_back(target, value, bumps: int) -> None:
    """Copy `value` into a tensor's (or NumPy array's) storage; bump a tensor's version once per
    in-place op the function ran on it, as eager mode does."""
    if isinstance(target, TensorBase):
        data = target._data
        if value is data:
            pass  # (the program wrote it in place)
        elif core.on_host(data):
            np.copyto(data, core.host_array(value))
        else:
            devices.backend_of(data).copy_into(data, value)
        for _ in range(bumps):
            target._version_counter.bump("an in-place op inside a compiled function")
    elif value is not target:
        np.copyto(target, value)



class _CompiledFunction:
    """A per-signature cache of compiled entries for one user function (jit: forward only)."""

    kind = "jit"

    def __init__(self, fn: Callable, static_argnums=(), fallback: bool = False) -> None:
        self.fn = fn
        self.fallback = fallback  # a TracingError runs fn eagerly (one warning) instead of raising
        self.eagerly = False  # set once a trace failed with fallback=True
        self.static_argnums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
        self._cache = call_cache.LRUCache(getattr(fn, "__qualname__", getattr(fn, "__name__", "a function")))
        self._fast: dict = {}  # NumPy-only signatures -> a direct call (see _fast_path)
        self._lean = None  # the last Tensor call's LeanCall (same argument objects again: see call_args)
        self._by_counts: dict = {}  # (key, counts of the first k traced masks) -> the entry traced for them
        self._warned_alias = False  # a call ran eagerly for an aliased argument read after a write (warned once)
        self._cache.on_evict = self._clear_fast  # (the fast paths hold executables too)
        functools.update_wrapper(self, fn, updated=())  # not __dict__: fn may be compiled too

    def _clear_fast(self) -> None:
        self._fast.clear()
        self._lean = None

    def _traced_fn(self) -> Callable:
        return self.fn

    def _run_eagerly(self, leaves) -> bool:
        """Whether this call bypasses compilation (see _CompiledGrad)."""
        return False

    def _aliased_call(self, args: tuple, kwargs: dict, eager: Callable):
        """A call whose argument aliases a tensor the function writes in place and reads it after the
        write (alias_reads.py): `eager` runs it, as the compiled program would read the old values."""
        if not self._warned_alias:
            self._warned_alias = True
            warnings.warn(f"jitgrad.{self.kind}({getattr(self.fn, '__name__', 'fn')}): an argument shares storage "
                          "with a tensor the function updates in place (e.g. a parameter's detach() or a view of it) "
                          "and is read after the update; such calls run eagerly. Pass a copy (.clone()) to keep "
                          "them compiled.", RuntimeWarning, stacklevel=3)
        return eager(*args, **kwargs)

    def _lean_allowed(self, args: tuple) -> bool:
        """Whether calls with these arguments may take the lean path (LeanCall)."""
        return True

    def _frontend_params(self) -> tuple:
        """What besides the function and the signature decides the traced program."""
        return (self.kind, self.static_argnums)

    def _needed_role(self, leaves) -> str:
        """The front-end record a call with these arguments runs (see _Entry._executable)."""
        return "forward"

    def _cached_entry(self, key, args, kwargs, leaves) -> tuple[_Entry | None, FrontEnd | None]:
        """(an entry loaded from the front-end cache, or None; the front-end key, or None)."""
        start = time.perf_counter()
        frontend = FrontEnd.for_call(self.fn, self._frontend_params(), key)
        if frontend is None:
            return None, None
        record = frontend.load(self._needed_role(leaves))
        if record is None:
            return None, frontend
        stand_ins, tree = flatten_args(args, kwargs, {i % len(args) for i in self.static_argnums} if args else set())
        stand_in_args, stand_in_kwargs = unflatten(tree, [frontend_cache.stand_in(x) for x in stand_ins])

        def retrace() -> Graph:
            with enable_grad():
                return trace(self._traced_fn(), stand_in_args, stand_in_kwargs, self.static_argnums)
        entry = _Entry.from_record(record["meta"], _name(self.fn, self.kind), frontend, retrace)
        log.info("loaded the traced %s %s for (%s) from the front-end cache in %.3f s", self.kind,
                 getattr(self.fn, "__name__", "fn"), _describe(leaves), time.perf_counter() - start)
        return entry, frontend

    def _entry(self, key, args, kwargs, leaves, mask_counts: tuple | None = None) -> _Entry:
        entry = self._cache.get(key) if mask_counts is None else self._by_counts.get((key, mask_counts))
        if entry is None or not entry.current():
            frontend = None
            if mask_counts is None:  # (a traced mask's programs are traced per count, never stored)
                entry, frontend = self._cached_entry(key, args, kwargs, leaves)
                if entry is not None:
                    self._cache.put(key, entry)
                    return entry
            start = time.perf_counter()
            try:
                with enable_grad(), frontend_cache.warnings_watched() as warned:  # (stop-gradients must not
                    graph = trace(self._traced_fn(), args, kwargs, self.static_argnums,  # depend on the grad mode)
                                  mask_counts or ())
            except TracingError as exc:
                if not self.fallback:
                    raise
                self.eagerly = True
                warnings.warn(f"jitgrad.jit({getattr(self.fn, '__name__', 'fn')}, fallback=True) runs eagerly from now "
                              f"on: {exc}", RuntimeWarning, stacklevel=3)
                raise _FallbackError from None
            device = _device_of(leaves, graph.captured)
            cacheable = frontend is not None and device == "cpu" and not warned and not graph.mask_counts \
                and frontend_cache.cacheable(graph)
            entry = _Entry(graph, _name(self.fn, self.kind), device, frontend if cacheable else None)
            entry.in_place = self.kind == "jit"
            self._cache.put(key, entry)
            _log_compile(getattr(self.fn, "__name__", "fn"), self.kind, leaves, time.perf_counter() - start)
            counts = graph.mask_counts
            for k in range(len(counts)):
                self._by_counts[(key, counts[:k + 1])] = entry
            while len(self._by_counts) > 4 * call_cache.cache_limit():
                del self._by_counts[next(iter(self._by_counts))]  # (oldest first)
        elif mask_counts is not None:
            self._cache.put(key, entry)  # the next call starts from the counts seen last
        return entry

    def _run_counted(self, key, args, kwargs, leaves, entry: _Entry, run: Callable, arrays=None) -> tuple:
        """(entry, arrays, run(entry, arrays)) for this call. A traced boolean mask whose count
        differs from the one the entry was traced for raises MaskCountChangedError where the program
        is split (see lower.py); the entry traced for the counts seen so far (traced now if new,
        once per count) runs instead, on the same arrays (random draws included)."""
        arrays = entry.arrays(leaves) if arrays is None else arrays
        while True:
            try:
                return entry, arrays, run(entry, arrays)
            except MaskCountChangedError as changed:
                counts = entry.graph.mask_counts[:changed.site] + (changed.count,)
                old = entry
                entry = self._entry(key, args, kwargs, leaves, counts)
                if len(entry.random_inputs) != len(old.random_inputs):
                    arrays = entry.arrays(leaves)

    def __call__(self, *args, **kwargs):
        lean = self._lean
        if lean is not None and not kwargs:
            try:
                return lean(args)
            except _LeanCallStaleError:
                self._lean = None
        if not kwargs:
            fast = self._fast.get(_fast_key(args))
            if fast is not None:
                return fast(args)
        if self.eagerly:
            return self._traced_fn()(*args, **kwargs)
        key, leaves, any_tensor = _prepare(args, kwargs, self.static_argnums)
        if self._run_eagerly(leaves):
            return self._traced_fn()(*args, **kwargs)
        entry = self._cache.get(key)
        if entry is None or not entry.current():
            if _symbolic(leaves):
                return self._traced_fn()(*args, **kwargs)
            try:
                entry = self._entry(key, args, kwargs, leaves)
            except _FallbackError:
                return self._traced_fn()(*args, **kwargs)
        if entry.alias_reads and entry.reads_written_alias(leaves):
            return self._aliased_call(args, kwargs, self._traced_fn())
        entry, _, raw = self._run_counted(key, args, kwargs, leaves, entry, lambda e, a: e.run_forward(a))
        exe = entry.forward_only
        outs = entry.results(raw, leaves)
        if any_tensor and not kwargs and not self.static_argnums and exe.run == exe._compiled_run \
                and exe.single_program and exe.device == "cpu" and _plain(args) and self._lean_allowed(args):
            try:
                lean = LeanCall(entry, exe, args, any_tensor)
                self._lean = LeanStep(lean).run if lean.step is not None else lean
            except _LeanCallStaleError:
                pass
        fast_key = _fast_key(args)
        if fast_key is not None and not any_tensor and not kwargs and not self.static_argnums and not entry.captured \
                and not entry.random_inputs and not entry.writebacks:
            fast = _fast_path(entry.forward_only, entry.out_tree, self)
            if fast is not None:
                self._fast[fast_key] = fast
        return _numpy_or_tensor(outs, entry.out_tree, any_tensor, leaves)

    def _slow(self, args: tuple):
        """The full call path (used by the fast path when an argument needs conversion)."""
        key, leaves, any_tensor = _prepare(args, {}, self.static_argnums)
        entry = self._entry(key, args, {}, leaves)
        entry, _, raw = self._run_counted(key, args, {}, leaves, entry, lambda e, a: e.run_forward(a))
        return _numpy_or_tensor(entry.results(raw, leaves), entry.out_tree, any_tensor)

    def executable(self, *args, **kwargs) -> Executable:
        """The compiled executable for these arguments (compiling it if needed)."""
        key, leaves, _ = _prepare(args, kwargs, self.static_argnums)
        return self._entry(key, args, kwargs, leaves).forward_only

    def source(self, *args, **kwargs) -> str:
        """The generated source for these arguments; each loop line names its IR equation."""
        return self.executable(*args, **kwargs).source()


def _plain(args: tuple) -> bool:
    """Arguments a LeanCall can take as they are: host Tensors and NumPy arrays, C-contiguous, in
    the dtypes programs compute in."""
    for a in args:
        data = a._data if isinstance(a, TensorBase) else a
        if type(data) is not np.ndarray or not data.flags.c_contiguous or data.dtype.char not in "fdil?":
            return False
    return True


class _FallbackError(Exception):
    """A trace failed and the function was compiled with fallback=True."""


def jit(fn: Callable | None = None, *, static_argnums: int | Sequence[int] = (), fallback: bool = False) -> Any:
    """Compile fn's forward (no gradients): NumPy arrays in -> arrays out, Tensors -> Tensors.

    fn may be a whole training step (`opt.zero_grad(); loss.backward(); opt.step()`): its
    backward, optimizer update and `.grad` changes are compiled into the same program (see
    tracing.py and step_effects.py). What a trace cannot express raises TracingError naming the
    line; with fallback=True fn runs eagerly instead, with one warning.

    Example:
        >>> f = jg.jit(lambda x: (jg.sin(x) ** 2 + jg.cos(x) ** 2).sum())
        >>> f(jg.zeros(4))
        tensor(4.)
    """
    if fn is None:
        return functools.partial(jit, static_argnums=static_argnums, fallback=fallback)
    return _CompiledFunction(fn, static_argnums, fallback)


class _CompiledGrad(_CompiledFunction):
    """grad / value_and_grad: the traced function is the functional transform of fn."""

    def __init__(self, fn, argnums, has_aux, with_value, static_argnums=()) -> None:
        super().__init__(fn, static_argnums)
        self.argnums, self.has_aux, self.with_value = argnums, has_aux, with_value
        self.kind = "value_and_grad" if with_value else "grad"

    def _frontend_params(self) -> tuple:
        return (self.kind, self.static_argnums, self.argnums, self.has_aux)

    def _traced_fn(self) -> Callable:
        from . import transforms
        make = transforms.eager_value_and_grad if self.with_value else transforms.eager_grad
        return make(self.fn, argnums=self.argnums, has_aux=self.has_aux)

    def _lean_allowed(self, args: tuple) -> bool:
        # Not with an argument that requires grad: whether such a call runs eagerly depends on the grad
        # mode, which the lean path does not check.
        return not any(isinstance(a, TensorBase) and a._requires_grad for a in args)

    def _run_eagerly(self, leaves) -> bool:
        # Arguments with autograd history: the gradient must stay differentiable (higher
        # order, as torch.func.grad gives), so the transform runs eagerly on the engine.
        return _grad_state.enabled and any(isinstance(x, TensorBase) and x._requires_grad for x in leaves)


def grad(fn: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False, *,
         static_argnums: int | Sequence[int] = ()) -> Any:
    """Compiled gradient of a scalar function w.r.t. argument(s) `argnums` (NumPy arrays in ->
    NumPy arrays out; Tensors in -> Tensors out).

    Example:
        >>> df = jg.grad(lambda x: (x ** 3).sum())
        >>> df(np.array([1.0, 2.0]))
        array([ 3., 12.])
    """
    return _CompiledGrad(fn, argnums, has_aux, False, static_argnums)


def value_and_grad(fn: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False, *,
                   static_argnums: int | Sequence[int] = ()) -> Any:
    """Compiled (value, gradient) of a scalar function w.r.t. argument(s) `argnums`.

    Example:
        >>> vg = jg.value_and_grad(lambda x: (x ** 2).sum())
        >>> vg(np.array([1.0, 2.0], dtype=np.float32))
        (array(5., dtype=float32), array([2., 4.], dtype=float32))
    """
    return _CompiledGrad(fn, argnums, has_aux, True, static_argnums)


class _JitGrad(_CompiledFunction):
    """jit_grad(fn): compiled forward; the outputs' grad_fn runs the compiled backward."""

    kind = "jit_grad"

    def _needed_role(self, leaves) -> str:
        wrt = tuple(i for i, x in enumerate(leaves) if isinstance(x, TensorBase) and x._requires_grad)
        return "wrt" + "_".join(map(str, wrt)) + "_fwd" if _grad_state.enabled and wrt else "forward"

    def __call__(self, *args, **kwargs):
        lean = self._lean
        if lean is not None and not kwargs:
            try:
                return lean(args)
            except _LeanCallStaleError:
                self._lean = None
        key, leaves, _ = _prepare(args, kwargs, self.static_argnums)
        entry = self._cache.get(key)
        if entry is None or not entry.current():
            if _symbolic(leaves):
                return self.fn(*args, **kwargs)
            entry = self._entry(key, args, kwargs, leaves)
        if entry.alias_reads and entry.reads_written_alias(leaves):
            return self._aliased_call(args, kwargs, self.fn)
        arrays = entry.arrays(leaves)
        inputs = entry.inputs(leaves, arrays)
        wrt = tuple(i for i, x in enumerate(inputs) if isinstance(x, TensorBase) and x._requires_grad)
        if not (_grad_state.enabled and wrt):
            entry, arrays, raw = self._run_counted(key, args, kwargs, leaves, entry,
                                                   lambda e, a: e.forward_only.run(a), arrays)
            return _numpy_or_tensor(entry.results(raw, leaves), entry.out_tree, True, entry.inputs(leaves, arrays))
        entry, arrays, results = self._run_counted(key, args, kwargs, leaves, entry,
                                                   lambda e, a: e.grad_executables(wrt)[0].run(a), arrays)
        inputs = entry.inputs(leaves, arrays)
        n = entry.n_outputs
        outs = [_host_or_gpu(a) for a in results[:n]]
        residuals = [_host_or_gpu(a) for a in results[n:]]
        if entry.writebacks:  # the backward keeps the values from before the write-back
            inputs, residuals = entry.before_write_back(inputs, leaves), [core.copy_data(a) for a in residuals]
        diff = [i for i, a in enumerate(outs) if a.dtype.kind == "f"]  # every floating output has a cotangent
        node = CompiledFunctionBackward(entry, inputs, residuals, [(outs[i].shape, outs[i].dtype) for i in diff])
        if not kwargs and not self.static_argnums and _plain(args):
            self._lean_grad(entry, args, wrt, outs, len(residuals))
        outs = entry.results(outs, leaves)  # (written back after the backward node saw the input versions)
        tensors = [_wrap_output(a, inputs) for a in outs]
        own = [i for i in diff if i < entry.n_results]
        for k, i in enumerate(own):
            t = tensors[i]
            t._requires_grad = True
            t._grad_fn = node if len(diff) == 1 else CompiledOutputBackward(node, k)
        return unflatten(entry.out_tree, tensors)

    def _lean_grad(self, entry: _Entry, args: tuple, wrt: tuple, outs: list, n_residuals: int) -> None:
        """Prepare the lean path (lean_grad.py) for the next call with these same arguments, where
        the forward is one compiled CPU program."""
        exe = entry.grad_executables(wrt)[0]
        if not isinstance(exe, Executable) or exe.run != exe._compiled_run or not exe.single_program \
                or exe.device != "cpu" or exe.widens_float16:
            return
        try:
            self._lean = LeanGradCall(entry, exe, args, wrt, outs, n_residuals).run
        except _LeanCallStaleError:
            pass

    def grad_executables(self, *args, **kwargs) -> tuple[Executable, Executable]:
        """(forward, backward) executables for these arguments (some input must require grad)."""
        key, leaves, _ = _prepare(args, kwargs, self.static_argnums)
        entry = self._entry(key, args, kwargs, leaves)
        inputs = list(leaves) + entry.captured + [None] * len(entry.random_inputs)
        wrt = tuple(i for i, x in enumerate(inputs) if isinstance(x, TensorBase) and x._requires_grad)
        if not wrt:
            raise ValueError("grad_executables: no input (or captured parameter) requires grad")
        return entry.grad_executables(wrt)

    def source(self, *args, **kwargs) -> str:
        key, leaves, _ = _prepare(args, kwargs, self.static_argnums)
        entry = self._entry(key, args, kwargs, leaves)
        if any(isinstance(x, TensorBase) and x._requires_grad for x in list(leaves) + entry.captured):
            fwd, bwd = self.grad_executables(*args, **kwargs)
            return "# forward\n" + fwd.source() + "\n# backward\n" + bwd.source()
        return super().source(*args, **kwargs)


def jit_grad(fn: Callable | None = None, *, static_argnums: int | Sequence[int] = ()) -> Any:
    """Compile fn (a function of Tensors) so that its forward runs as fused kernels and its
    outputs' single grad_fn runs the compiled, fused backward: `loss.backward()`, `.grad`
    accumulation, retain_graph, no_grad and optimizers work as in eager mode. Tensors fn reads
    from the enclosing scope (Module parameters and buffers, any tensor made before the trace)
    are inputs too: their current values are used at every call and those that require grad
    receive gradients. detach(), no_grad blocks, random draws and in-place ops mean what they
    mean eagerly (see tracing.py).

    Example:
        >>> @jg.jit_grad
        ... def loss_fn(w, x):
        ...     return ((w * x - 1.0) ** 2).mean()
        ...
        >>> w = jg.tensor(0.5, requires_grad=True)
        >>> loss = loss_fn(w, jg.tensor([1.0, 2.0]))
        >>> loss
        tensor(0.1250, grad_fn=<CompiledFunctionBackward>)
        >>> loss.backward()
        >>> w.grad
        tensor(-0.5000)
    """
    if fn is None:
        return functools.partial(jit_grad, static_argnums=static_argnums)
    return _JitGrad(fn, static_argnums)


set_cache_limit = call_cache.set_cache_limit
cache_limit = call_cache.cache_limit


def clear_cache() -> None:
    """Forget every compiled function's executables (they trace again on their next call) and
    delete the disk cache of compiled kernels ($JITGRAD_CACHE_DIR)."""
    from jitgrad._kernels import cache
    call_cache.clear_all()
    cache.clear()


__all__ = ["jit", "jit_grad", "grad", "value_and_grad", "Executable", "set_cache_limit", "cache_limit",
           "clear_cache", "InterpreterFallbackWarning"]
