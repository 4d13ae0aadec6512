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

import numpy as np

from kernels import cpu

from . import call_cache, core, dtypes
from .buffer_pool import BufferPool
from .core import Symbolic, TensorBase
from .grad_mode import _state as _grad_state
from .grad_mode import enable_grad
from .graph import FREED_MESSAGE, Node, edge_to
from .interpret import replay
from .ir import Graph
from .lower import Plan, lower
from .simplify import simplify
from .tensor import Tensor
from .trace import trace
from .tree import flatten_args, make_rebuilder, unflatten

log = logging.getLogger("jitgrad.compile")
_warned_fallbacks: set = set()


class Executable:
    """A graph fused, lowered and compiled for one device ('cpu': numba.njit; 'cuda':
    numba.cuda kernels): `run(arrays)` -> list of output arrays on that device."""

    def __init__(self, graph: Graph, name: str, reason: str, device: str = "cpu") -> None:
        start = time.perf_counter()
        self.device = device
        self.graph = simplify(graph)
        self.plan: Plan = lower(self.graph, name, device)
        self.compiled = []
        for seg in self.plan.segments:
            if seg.program is None:
                _warn_fallback(seg.eqn.prim.name)
                self.compiled.append(None)
            elif device == "cuda":
                from kernels.cuda import program as cuda_program  # lazy: CPU users never load numba.cuda
                self.compiled.append(cuda_program.compile_program(seg.program, reason=reason))
            else:
                self.compiled.append(cpu.compile_program(seg.program, reason=reason))
        self._pools = [BufferPool(_buffer_specs(seg.program)) if seg.program is not None and device == "cpu"
                       else None for seg in self.plan.segments]  # (large outputs reused across calls)
        self._by_name = {n: v for v, n in self.plan.names.items()}
        self._device_consts: dict = {}
        self._input_index = {f"in{i}": i for i in range(len(self.graph.inputs))}
        self.trace_seconds = time.perf_counter() - start
        single = len(self.compiled) == 1 and self.compiled[0] is not None and device == "cpu"
        self._compiled_run = self._run_single if single else self._run_segments
        self.run = self._first_run
        if single:
            program = self.plan.segments[0].program
            self._arg_index = [self._input_index[a.name] for a in program.inputs]
            self._consts = [self._const_value(a.name) for a in program.constants]
            self._prealloc = _buffer_specs(program)
            self._pool = self._pools[0]
            self._fn = self.compiled[0].fn

    @property
    def single_program(self) -> bool:
        return len(self.compiled) == 1 and self.compiled[0] is not None

    def _first_run(self, arrays: Sequence[np.ndarray]):
        """The first call compiles (or loads from disk). A cache entry that fails to load is
        deleted and rebuilt; a Numba failure never reaches the user: the graph then runs in
        the reference interpreter, with a warning."""
        from numba.core.errors import NumbaError
        start = time.perf_counter()
        try:
            try:
                result = self._compiled_run(arrays)
            except (NumbaError, MemoryError):  # (out of host or GPU memory: no cache entry to blame)
                raise
            except (IndexError, RuntimeError):  # a kernel's bounds check refused an index: the user's error
                raise
            except Exception as exc:  # a corrupt or unreadable on-disk cache entry, or the program's own error
                if getattr(exc, "_jitgrad_reference_error", False) or all(c is None for c in self.compiled):
                    raise  # raised by an op run in the reference interpreter: the program's real error
                log.info("rebuilding a cache entry that failed to load (%s: %s)", type(exc).__name__, exc)
                for compiled in self.compiled:
                    if compiled is not None:
                        compiled.rebuild()
                if self.single_program:
                    self._fn = self.compiled[0].fn
                result = self._compiled_run(arrays)
        except NumbaError as exc:
            name = next((c.program.name for c in self.compiled if c is not None), "a program")
            warnings.warn(
                f"jitgrad could not compile {name} ({type(exc).__name__}: {str(exc).splitlines()[0]}); running "
                "it in the reference interpreter instead. This is a jitgrad bug: please report it with "
                "fn.source(*args).", RuntimeWarning, stacklevel=3)
            self.run = self._run_reference
            return self._run_reference(arrays)
        self.compile_seconds = time.perf_counter() - start
        self.run = self._compiled_run
        return result

    def _run_reference(self, arrays: Sequence[np.ndarray]) -> list:
        from .interpret import evaluate
        if self.device == "cpu":
            return evaluate(self.graph, *arrays)
        outs = evaluate(self.graph, *[core.host_array(a) for a in arrays])
        return [_to_gpu(o) for o in outs]

    def _const_value(self, name: str) -> np.ndarray:
        value = self._device_consts.get(name)
        if value is None:
            value = np.asarray(self._by_name[name].value, order="C")  # (ascontiguousarray makes 0-d 1-d)
            if self.device == "cuda":
                value = self._device_consts[name] = _to_gpu(value)  # moved once, reused by every call
        return value

    def _run_single(self, arrays: Sequence[np.ndarray]) -> tuple:
        pool = self._pool
        buffers = pool.take() if pool.active else [np.empty(shape, dtype) for shape, dtype in self._prealloc]
        return self._fn(*[arrays[i] for i in self._arg_index], *self._consts, *buffers)

    def _run_segments(self, arrays: Sequence[np.ndarray]) -> list:
        env = {f"in{i}": a for i, a in enumerate(arrays)}
        gpu = self.device == "cuda"
        for seg, compiled, pool in zip(self.plan.segments, self.compiled, self._pools):
            if compiled is None:
                eqn = seg.eqn
                args = [self._lookup(env, v) for v in eqn.inputs]
                try:
                    if gpu:  # the op's eager GPU kernel
                        out = core.device_backend[0].run(eqn.prim, args, eqn.params, eqn.out.shape, eqn.out.dtype)
                    else:
                        # C order: the next compiled program reshapes it (NumPy's advanced indexing
                        # may return another layout)
                        out = np.asarray(eqn.prim.impl(*args, **eqn.params), dtype=eqn.out.dtype, order="C")
                except Exception as exc:
                    exc._jitgrad_reference_error = True  # (not a compile-cache problem: see _first_run)
                    raise
                env[self.plan.names[eqn.out]] = out
                continue
            program = seg.program
            args = [env[a.name] for a in program.inputs] + [self._const_value(a.name) for a in program.constants]
            if gpu:
                outs = compiled(*args)
            else:
                outs = compiled.fn(*args, *pool.take())
            for name, value in zip(program.outputs, outs):
                env[name] = value
        return [self._lookup(env, v) for v in self.graph.outputs]

    def _lookup(self, env: dict, v) -> np.ndarray:
        if v.value is None:
            return env[self.plan.names[v]]
        if self.device == "cpu":
            return np.asarray(v.value)
        name = self.plan.names.get(v)
        return self._const_value(name) if name is not None else _to_gpu(np.asarray(v.value))

    def source(self) -> str:
        parts = []
        for seg, compiled in zip(self.plan.segments, self.compiled):
            parts.append(compiled.source if compiled is not None else
                         f"# reference interpreter: {seg.eqn!r}\n")
        return "\n".join(parts)


def _to_gpu(array: np.ndarray):
    from .cuda import eager
    return eager.to_device(array)


def _buffer_specs(program) -> list:
    """(shape, dtype) of the buffers a program expects its caller to allocate."""
    return [(a.shape, np.dtype(a.dtype)) for a in program.preallocated]


class InterpreterFallbackWarning(RuntimeWarning):
    """A primitive has no compiled kernel on this target: it runs in the reference interpreter
    between two compiled programs (tests turn this into an error: every op must compile)."""


def _warn_fallback(name: str) -> None:
    if name not in _warned_fallbacks:
        _warned_fallbacks.add(name)
        warnings.warn(f"jitgrad: no fused kernel for '{name}'; it runs in the reference interpreter "
                      "between compiled programs", InterpreterFallbackWarning, stacklevel=4)


# ---------------------------------------------------------------------------------------------
# Signatures
# ---------------------------------------------------------------------------------------------


def _array_of(leaf) -> np.ndarray:
    data = leaf._data if isinstance(leaf, TensorBase) else leaf
    if not isinstance(data, np.ndarray) and core.device_backend[0] is not None and _is_gpu(data):
        return data  # GPU storage is C-contiguous by construction
    if not isinstance(data, np.ndarray):
        data = np.asarray(data)
    if data.dtype.char not in _NATIVE:  # float16, uint8, ...: computed as eager mode does (float32, int64, ...)
        data = data.astype(dtypes.from_numpy_dtype(data.dtype))
    if not data.flags.c_contiguous:
        data = np.ascontiguousarray(data)
    return data


def _is_gpu(data) -> bool:
    from kernels.cuda import runtime
    return runtime.is_device_array(data)


def _leaf_key(leaf) -> tuple:
    if isinstance(leaf, TensorBase):
        data = leaf._data
        if type(data) is np.ndarray or isinstance(data, Symbolic):
            return (data.shape, data.dtype.char, leaf._requires_grad)
        return (tuple(data.shape), np.dtype(data.dtype).char, leaf._requires_grad, "cuda")
    arr = np.asarray(leaf)
    dt = dtypes.from_numpy_dtype(arr.dtype)
    return (arr.shape, dt.char, False)


def _prepare(args: tuple, kwargs: dict, static_argnums: tuple):
    """(signature key, leaves, any Tensor among them) for a call."""
    if not kwargs and not static_argnums:
        simple = True
        for a in args:
            if not isinstance(a, (TensorBase, np.ndarray)):
                simple = False
                break
        if simple:
            key = tuple(_leaf_key(a) for a in args)
            return key, list(args), any(isinstance(a, TensorBase) for a in args)
    static_set = {i % len(args) for i in static_argnums} if args else set()
    leaves, tree = flatten_args(args, kwargs, static_set, call_cache.keyed_static)
    key = (call_cache.exact_tree(tree), tuple(_leaf_key(x) for x in leaves))
    return key, leaves, any(isinstance(x, TensorBase) for x in leaves)


def _describe(leaves) -> str:
    return ", ".join(f"{dtypes.name(np.dtype(k[1]))}{list(k[0])}" for k in map(_leaf_key, leaves))


def _log_compile(fn_name: str, what: str, leaves, seconds: float) -> None:
    log.info("compiled %s %s for (%s) in %.2f s: new signature", what, fn_name, _describe(leaves), seconds)


def _fast_key(args: tuple):
    """The signature of a call with NumPy arrays only (None otherwise): the hot path's key."""
    key = []
    for a in args:
        if type(a) is not np.ndarray:
            return None
        key.append((a.shape, a.dtype.char))
    return tuple(key)


def _fast_path(exe: Executable, out_tree, owner):
    """A call of the compiled entry point with no more Python around it than the dictionary
    lookup that found it (NumPy arrays in and out; anything unusual takes the full path)."""
    if not exe.single_program or exe.run != exe._compiled_run:
        return None
    fn, consts, index, buffers = exe._fn, tuple(exe._consts), exe._arg_index, exe._prealloc
    if exe._pool.active:  # large outputs: reused when free (a few us; small calls keep np.empty)
        take = exe._pool.take
        identity = index == list(range(len(index)))
        rebuild = make_rebuilder(out_tree)

        def call_pooled(args):
            for a in args:
                if not a.flags.c_contiguous or a.dtype.char not in _NATIVE:
                    return owner._slow(args)
            extra = (*consts, *take())
            return rebuild(fn(*args, *extra) if identity else fn(*[args[i] for i in index], *extra))
        return call_pooled
    identity = index == list(range(len(index)))
    rebuild = make_rebuilder(out_tree)
    state = core.python_state()

    def call(args):
        if core.python_state() != state:  # e.g. a new default dtype: the full path retraces
            owner._fast.clear()
            return owner(*args)
        for a in args:
            if not a.flags.c_contiguous or a.dtype.char not in _NATIVE:
                return owner._slow(args)
        extra = (*consts, *[np.empty(shape, dtype) for shape, dtype in buffers]) if buffers else consts
        return rebuild(fn(*args, *extra) if identity else fn(*[args[i] for i in index], *extra))
    return call


_NATIVE = {"f", "d", "i", "l", "?"}


def _numpy_or_tensor(arrays, out_tree, as_tensor: bool, leaves=()):
    outs = []
    for a in arrays:
        a = _host_or_gpu(a)
        outs.append(_wrap_output(a, leaves) if as_tensor else a)
    return unflatten(out_tree, outs)


def _wrap_output(array, leaves) -> Tensor:
    """An output as a Tensor; one that IS an input's storage (`lambda t: t`, a reshape of it)
    shares that input's version counter, as the view it is in eager mode, so that in-place ops
    on either are seen by the autograd checks."""
    for x in leaves:
        if isinstance(x, TensorBase) and type(x._data) is np.ndarray and type(array) is np.ndarray \
                and np.may_share_memory(array, x._data):
            return Tensor._wrap(array, version=x._version_counter)
    return Tensor._wrap(array)


def _host_or_gpu(a):
    """Program outputs as NumPy arrays (scalars made 0-d), GPU storage as it is."""
    return a if type(a) is np.ndarray or (not isinstance(a, (np.generic, int, float, bool)) and _is_gpu(a)) \
        else np.asarray(a)


def _symbolic(leaves) -> bool:
    """Called while another function is being traced: run inline (nesting, jit inside jit)."""
    for x in leaves:
        if isinstance(x, TensorBase) and isinstance(x._data, Symbolic):
            return True
    return False


def _device_of(leaves, captured) -> str:
    """'cuda' when the arrays of a call live on the GPU, 'cpu' when on the host; mixing is an error."""
    found = set()
    for x in list(leaves) + list(captured):
        data = x._data if isinstance(x, TensorBase) else x
        if data is None:
            continue
        if isinstance(data, np.ndarray) and data.ndim == 0:
            continue  # 0-d host values go with either device, as in eager mode
        if isinstance(data, np.ndarray) and data.dtype.kind in "biu" and any(x is c for c in captured):
            continue  # a captured host index tensor indexes GPU data too, as in eager mode (PyTorch allows it)
        found.add("cpu" if isinstance(data, (np.ndarray, np.generic, int, float, bool)) else "cuda")
    if len(found) > 1:
        raise RuntimeError("Expected all tensors to be on the same device, but found at least two devices, cuda:0 "
                           "and cpu! (arguments of a compiled function, or parameters it uses); move them with "
                           ".to(...) first")
    return found.pop() if found else "cpu"


def _name(fn: Callable, kind: str) -> str:
    base = "".join(c if c.isalnum() else "_" for c in getattr(fn, "__name__", "fn"))
    return f"{kind}_{base}"


class _Entry:
    """What one signature compiled to: the traced graph, the tensors it captured from the
    enclosing scope, the Python state it read (its guard), and executables built on first use."""

    def __init__(self, graph: Graph, name: str, device: str = "cpu") -> None:
        self.graph = graph
        self.name = name
        self.device = device  # where the arrays of this signature live: 'cpu' or 'cuda'
        self.captured = graph.captured
        self.captured_state = self._captured_state()
        self.python_state = core.python_state()
        self.random_inputs = graph.random_inputs
        self.writebacks = graph.writebacks
        self.n_outputs = len(graph.outputs)
        self.n_results = self.n_outputs - len(self.writebacks)  # the function's own outputs come first
        self.out_tree = graph.out_tree[2][0] if self.writebacks else graph.out_tree
        self._forward_only = self._split = self._vjp = None
        self.wrt: tuple = ()

    def _captured_state(self) -> tuple:
        return tuple((t._requires_grad, t._data.shape, t._data.dtype) for t in self.captured)

    def current(self) -> bool:
        """False when Python state the trace read changed since tracing (retrace): module
        structure or training flags, the default dtype, or a captured tensor's requires_grad,
        shape or dtype."""
        return core.python_state() == self.python_state and self._captured_state() == self.captured_state

    def arrays(self, leaves) -> list:
        """The input arrays of a call: arguments, captured tensors' current values, fresh random draws."""
        arrays = [_array_of(x) for x in leaves] + [_array_of(t) for t in self.captured]
        return arrays + [draw() for draw in self.random_inputs] if self.random_inputs else arrays

    def inputs(self, leaves, arrays: list) -> list:
        """The call's inputs as the backward sees them (random draws as the arrays drawn)."""
        return list(leaves) + self.captured + arrays[len(leaves) + len(self.captured):]

    def before_write_back(self, inputs: list, leaves) -> list:
        """`inputs` with the tensors about to be written back replaced by copies of their values
        (they do not require grad: trace.py refuses that), for a backward that reads them."""
        inputs = list(inputs)
        for target, _ in self.writebacks:
            i = target if isinstance(target, int) else \
                next((len(leaves) + k for k, t in enumerate(self.captured) if t is target), None)
            if i is None:
                continue  # written without being read: not an input
            x = inputs[i]
            inputs[i] = Tensor._wrap(core.copy_data(x._data if isinstance(x, TensorBase) else np.asarray(x)))
        return inputs

    def results(self, outs: list, leaves) -> list:
        """The function's own outputs, after writing the final values of tensors that in-place ops
        changed inside it back into them (functionalised in-place ops, see trace.py)."""
        for (target, bumps), value in zip(self.writebacks, outs[self.n_results:self.n_outputs], strict=True):
            _write_back(leaves[target] if isinstance(target, int) else target, value, bumps)
        return outs[:self.n_results]


    @property
    def forward_only(self) -> Executable:
        if self._forward_only is None:
            self._forward_only = Executable(self.graph, self.name, "new signature", self.device)
        return self._forward_only

    def grad_executables(self, wrt: tuple) -> tuple[Executable, Executable]:
        """(forward returning outputs + residuals, backward) for differentiating w.r.t. `wrt`."""
        if self._split is None or self.wrt != wrt:
            from .adjoint import split
            fwd, bwd = split(self.graph, wrt)
            self.wrt = wrt
            self._split = (Executable(fwd, f"{self.name}_fwd", "new signature", self.device),
                           Executable(bwd, f"{self.name}_bwd", "new signature", self.device))
            self._vjp = None
        return self._split

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
        if core.on_host(data):
            np.copyto(data, core.host_array(value))
        else:
            core.device_backend[0].copy_into(data, value)
        for _ in range(bumps):
            target._version_counter.bump("an in-place op inside a compiled function")
    else:
        np.copyto(target, value)


class _CompiledFunction:
    """A per-signature cache of compiled entries for one user function (jit: forward only)."""

    kind = "jit"

    def __init__(self, fn: Callable, static_argnums=()) -> None:
        self.fn = fn
        self.static_argnums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
        self._cache = call_cache.LRUCache(getattr(fn, "__qualname__", getattr(fn, "__name__", "a function")))
        self._fast: dict = {}  # NumPy-only signatures -> a direct call (see _fast_path)
        self._cache.on_evict = self._fast.clear  # (the fast paths hold executables too)
        functools.update_wrapper(self, fn, updated=())  # not __dict__: fn may be compiled too

    def _traced_fn(self) -> Callable:
        return self.fn

    def _run_eagerly(self, leaves) -> bool:
        """Whether this call bypasses compilation (see _CompiledGrad)."""
        return False

    def _entry(self, key, args, kwargs, leaves) -> _Entry:
        entry = self._cache.get(key)
        if entry is None or not entry.current():
            start = time.perf_counter()
            with enable_grad():  # the graph's stop-gradients must not depend on the grad mode of the first call
                graph = trace(self._traced_fn(), args, kwargs, self.static_argnums)
            entry = _Entry(graph, _name(self.fn, self.kind), _device_of(leaves, graph.captured))
            self._cache.put(key, entry)
            _log_compile(getattr(self.fn, "__name__", "fn"), self.kind, leaves, time.perf_counter() - start)
        return entry

    def __call__(self, *args, **kwargs):
        if not kwargs:
            fast = self._fast.get(_fast_key(args))
            if fast is not None:
                return fast(args)
        key, leaves, any_tensor = _prepare(args, kwargs, self.static_argnums)
        if self._run_eagerly(leaves):
            return self._traced_fn()(*args, **kwargs)
        entry = self._cache.get(key)
        if entry is None or not entry.current():
            if _symbolic(leaves):
                return self._traced_fn()(*args, **kwargs)
            entry = self._entry(key, args, kwargs, leaves)
        outs = entry.results(entry.forward_only.run(entry.arrays(leaves)), leaves)
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
        outs = entry.results(entry.forward_only.run(entry.arrays(leaves)), leaves)
        return _numpy_or_tensor(outs, entry.out_tree, any_tensor)

    def executable(self, *args, **kwargs) -> Executable:
        """The compiled executable for these arguments (compiling it if needed)."""
        key, leaves, _ = _prepare(args, kwargs, self.static_argnums)
        return self._entry(key, args, kwargs, leaves).forward_only

    def source(self, *args, **kwargs) -> str:
        """The generated source for these arguments; each loop line names its IR equation."""
        return self.executable(*args, **kwargs).source()


def jit(fn: Callable | None = None, *, static_argnums=()):
    """Compile fn's forward (no gradients): NumPy arrays in -> arrays out, Tensors -> Tensors."""
    if fn is None:
        return functools.partial(jit, static_argnums=static_argnums)
    return _CompiledFunction(fn, static_argnums)


class _CompiledGrad(_CompiledFunction):
    """grad / value_and_grad: the traced function is the functional transform of fn."""

    def __init__(self, fn, argnums, has_aux, with_value, static_argnums=()) -> None:
        super().__init__(fn, static_argnums)
        self.argnums, self.has_aux, self.with_value = argnums, has_aux, with_value
        self.kind = "value_and_grad" if with_value else "grad"

    def _traced_fn(self) -> Callable:
        from . import transforms
        make = transforms.value_and_grad if self.with_value else transforms.grad
        return make(self.fn, argnums=self.argnums, has_aux=self.has_aux)

    def _run_eagerly(self, leaves) -> bool:
        # Arguments with autograd history: the gradient must stay differentiable (higher
        # order, as torch.func.grad gives), so the transform runs eagerly on the engine.
        return _grad_state.enabled and any(isinstance(x, TensorBase) and x._requires_grad for x in leaves)


def grad(fn: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False, *, static_argnums=()):
    """Compiled gradient of a scalar function w.r.t. argument(s) `argnums` (NumPy arrays in ->
    NumPy arrays out; Tensors in -> Tensors out)."""
    return _CompiledGrad(fn, argnums, has_aux, False, static_argnums)


def value_and_grad(fn: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False, *, static_argnums=()):
    """Compiled (value, gradient) of a scalar function w.r.t. argument(s) `argnums`."""
    return _CompiledGrad(fn, argnums, has_aux, True, static_argnums)


# ---------------------------------------------------------------------------------------------
# jit_grad: compiled forward and backward behind one autograd node
# ---------------------------------------------------------------------------------------------


class _Packed:
    """Cotangents of several outputs of one compiled call, merged by the engine's `+`."""

    __slots__ = ("parts",)

    def __init__(self, parts: dict) -> None:
        self.parts = parts

    def __add__(self, other: _Packed) -> _Packed:
        merged = dict(self.parts)
        for i, g in other.parts.items():
            merged[i] = merged[i] + g if i in merged else g
        return _Packed(merged)


class CompiledOutputBackward(Node):
    """One output of a multi-output compiled call: forwards its cotangent, tagged."""

    __slots__ = ("index",)

    def __init__(self, shared: Node, index: int) -> None:
        super().__init__(((shared, 0),))
        self.index = index

    def name(self) -> str:
        return "CompiledOutputBackward"

    def apply(self, grad, create_graph: bool) -> tuple:
        return (_Packed({self.index: grad}),)


class CompiledFunctionBackward(Node):
    """The single grad_fn of a jit_grad call: runs the compiled backward program."""

    __slots__ = ("entry", "residuals", "inputs", "versions", "outputs_meta")

    def __init__(self, entry: _Entry, inputs: list, residuals: list, outputs_meta: list) -> None:
        super().__init__(tuple(edge_to(t) if isinstance(t, TensorBase) else (None, 0) for t in inputs))
        self.entry = entry
        self.inputs = inputs
        self.versions = [t._version_counter.value if isinstance(t, TensorBase) else 0 for t in inputs]
        self.residuals = residuals
        self.outputs_meta = outputs_meta  # (shape, dtype) of each differentiable output

    def name(self) -> str:
        return "CompiledFunctionBackward"

    def _cotangents(self, grad) -> list:
        parts = grad.parts if isinstance(grad, _Packed) else {0: grad}
        gpu = self.entry.device == "cuda"
        return [parts[i] if i in parts else
                Tensor._wrap(core.device_backend[0].full(shape, dtype, 0) if gpu else np.zeros(shape, dtype))
                for i, (shape, dtype) in enumerate(self.outputs_meta)]

    def apply(self, grad, create_graph: bool) -> tuple:
        if self.residuals is None:
            raise RuntimeError(FREED_MESSAGE)
        if self.entry.graph.stale_saved_value is not None:  # eager backward would refuse it too
            raise RuntimeError(self.entry.graph.stale_saved_value)
        for t, v in zip(self.inputs, self.versions):
            if isinstance(t, TensorBase) and t._version_counter.value != v:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by an inplace "
                    f"operation ({t._version_counter.last_op or 'an in-place op'}): an input of a jit_grad function "
                    f"is at version {t._version_counter.value}; expected version {v} instead.")
        cts = self._cotangents(grad)
        wrt = self.entry.wrt
        if create_graph:
            # Higher order: run the adjoint eagerly on the original inputs, recording a graph.
            inputs = [t if isinstance(t, TensorBase) else Tensor._wrap(_host_or_gpu(t)) for t in self.inputs]
            with enable_grad():
                outs = replay(self.entry.vjp_graph, inputs + cts)
            grads = outs[len(outs) - len(wrt):]
        else:
            arrays = self.residuals + [_array_of(g) for g in cts]
            grads = [Tensor._wrap(_host_or_gpu(a)) for a in self.entry.grad_executables(wrt)[1].run(arrays)]
        result = [None] * len(self.inputs)
        for i, g in zip(wrt, grads):
            result[i] = g
        return tuple(result)

    def release(self) -> None:
        self.residuals = None


class _JitGrad(_CompiledFunction):
    """jit_grad(fn): compiled forward; the outputs' grad_fn runs the compiled backward."""

    kind = "jit_grad"

    def __call__(self, *args, **kwargs):
        key, leaves, _ = _prepare(args, kwargs, self.static_argnums)
        entry = self._cache.get(key)
        if entry is None or not entry.current():
            if _symbolic(leaves):
                return self.fn(*args, **kwargs)
            entry = self._entry(key, args, kwargs, leaves)
        arrays = entry.arrays(leaves)
        inputs = entry.inputs(leaves, arrays)
        wrt = tuple(i for i, x in enumerate(inputs) if isinstance(x, TensorBase) and x._requires_grad)
        if not (_grad_state.enabled and wrt):
            return _numpy_or_tensor(entry.results(entry.forward_only.run(arrays), leaves), entry.out_tree, True,
                                    inputs)
        forward, _ = entry.grad_executables(wrt)
        results = forward.run(arrays)
        n = entry.n_outputs
        outs = [_host_or_gpu(a) for a in results[:n]]
        residuals = [_host_or_gpu(a) for a in results[n:]]
        if entry.writebacks:  # the backward keeps the values from before the write-back
            inputs, residuals = entry.before_write_back(inputs, leaves), [core.copy_data(a) for a in residuals]
        diff = [i for i, a in enumerate(outs) if a.dtype.kind == "f"]  # every floating output has a cotangent
        node = CompiledFunctionBackward(entry, inputs, residuals, [(outs[i].shape, outs[i].dtype) for i in diff])
        outs = entry.results(outs, leaves)  # (written back after the backward node saw the input versions)
        tensors = [_wrap_output(a, inputs) for a in outs]
        own = [i for i in diff if i < entry.n_results]
        for k, i in enumerate(own):
            t = tensors[i]
            t._requires_grad = True
            t._grad_fn = node if len(diff) == 1 else CompiledOutputBackward(node, k)
        return unflatten(entry.out_tree, tensors)

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


def jit_grad(fn: Callable | None = None, *, static_argnums=()):
    """Compile fn (a function of Tensors) so that its forward runs as fused kernels and its
    outputs' single grad_fn runs the compiled, fused backward: `loss.backward()`, `.grad`
    accumulation, retain_graph, no_grad and optimizers work as in eager mode. Tensors fn reads
    from the enclosing scope (Module parameters and buffers, any tensor made before the trace)
    are inputs too: their current values are used at every call and those that require grad
    receive gradients. detach(), no_grad blocks, random draws and in-place ops mean what they
    mean eagerly (see trace.py)."""
    if fn is None:
        return functools.partial(jit_grad, static_argnums=static_argnums)
    return _JitGrad(fn, static_argnums)


set_cache_limit = call_cache.set_cache_limit
cache_limit = call_cache.cache_limit


def clear_cache() -> None:
    """Forget every compiled function's executables (they trace again on their next call) and
    delete the disk cache of compiled kernels ($JITGRAD_CACHE_DIR)."""
    from kernels import cache
    call_cache.clear_all()
    cache.clear()


__all__ = ["jit", "jit_grad", "grad", "value_and_grad", "Executable", "set_cache_limit", "cache_limit",
           "clear_cache"]
