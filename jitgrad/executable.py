"""One traced graph made runnable: simplified, fused, lowered and compiled for a device, with
the reference interpreter taking over (with one warning) for ops that have no kernel or a
program Numba fails to compile."""
from __future__ import annotations

import dataclasses
import logging
import time
import warnings
from collections.abc import Callable, Sequence

import numpy as np

from jitgrad._kernels import cpu

from . import compile_log, core, devices
from .buffer_pool import BufferPool
from .dtypes import kernel_dtype
from .fuse import fallback_reason
from .ir import Graph
from .lower import Plan, lower
from .prims_mask import MaskCountChangedError
from .simplify import simplify

log = logging.getLogger("jitgrad.compile")
_warned_fallbacks: set = set()
_HALF = np.dtype(np.float16)


class Executable:
    """A graph fused, lowered and compiled for one device ('cpu': numba.njit; 'cuda':
    numba.cuda kernels): `run(arrays)` -> list of output arrays on that device."""

    def __init__(self, graph: Graph, name: str, reason: str, device: str = "cpu",
                 in_place: dict | None = None, buffered: tuple = ()) -> None:
        """`in_place` (output index -> input index): outputs the program may write into that
        input's storage; `buffered`: output indices it may fill in caller-allocated buffers
        (lower_inplace.py). `in_place_outputs` then says which it does (run still returns them all)."""
        start = time.perf_counter()
        self.device = device
        self.label = name
        self.graph = simplify(graph)
        self._half_inputs = [i for i, v in enumerate(self.graph.inputs) if v.dtype == _HALF]
        self._half_outputs = [i for i, v in enumerate(self.graph.outputs) if v.dtype == _HALF]
        self.widens_float16 = bool(self._half_inputs or self._half_outputs)
        if device != "cpu" and (self.widens_float16 or any(e.out.dtype == _HALF for e in self.graph.eqns)):
            raise TypeError(f"{name}: float16 values are not supported in compiled mode on {device}; cast them "
                            "with .float() first, or run this function eagerly")
        self.plan: Plan = lower(self.graph, name, device)
        self.in_place_outputs: dict = {}  # output index -> input index written in place
        if (in_place or buffered) and device == "cpu" and not self.widens_float16 and len(self.plan.segments) == 1 \
                and self.plan.segments[0].program is not None:
            self._lower_in_place(in_place or {}, buffered, reason)
        self.compiled = []
        for seg in self.plan.segments:
            if seg.split is not None:
                self.compiled.append(None)
            elif seg.program is None:
                _warn_fallback(seg.eqn.prim.name, fallback_reason(seg.eqn, device))
                self.compiled.append(None)
            elif device == "cpu":
                self.compiled.append(self._compiled_in_place or cpu.compile_program(seg.program, reason=reason))
            else:
                self.compiled.append(devices.backend(device).compile_program(seg.program, reason=reason))
        # (large outputs reused across calls)
        self._pools = [BufferPool(_buffer_specs(seg.program, c)) if seg.program is not None and device == "cpu"
                       else None for seg, c in zip(self.plan.segments, self.compiled)]
        self._by_name = {n: v for v, n in self.plan.names.items()}
        self._device_consts: dict = {}
        self._input_index = {f"in{i}": i for i in range(len(self.graph.inputs))}
        self.trace_seconds = time.perf_counter() - start  # (compile_log reports it)
        single = len(self.compiled) == 1 and self.compiled[0] is not None and device == "cpu"
        self._compiled_run = self._run_single if single else self._run_segments
        if self.widens_float16:
            self._compiled_run = self._widened(self._compiled_run)
            self._run_reference = self._widened(self._run_reference)
        self.run = self._first_run
        if single:
            program = self.plan.segments[0].program
            self._set_single(program, [self._const_value(a.name) for a in program.constants])

    def _lower_in_place(self, in_place: dict, buffered: tuple, reason: str) -> None:
        """Rewrite the one program so that it writes the `in_place` outputs into their inputs and,
        when it runs as one compiled function (a kernel sequence returns arrays at no cost), fills
        the `buffered` ones in caller buffers; compile it (`_compiled_in_place`)."""
        from .lower_inplace import pass_buffers, write_in_place
        program = self.plan.segments[0].program
        outs = program.outputs
        once = {o for o in outs if outs.count(o) == 1}  # (one value for two outputs: returned as before)
        in_place = {j: i for j, i in in_place.items() if outs[j] in once}
        buffered = tuple(j for j in buffered if outs[j] in once and j not in in_place)
        program, done = write_in_place(program, {outs[j]: f"in{i}" for j, i in in_place.items()})
        compiled = cpu.compile_program(program, reason=reason)
        self._out_slots = {j: ("input", in_place[j]) for j in in_place if outs[j] in done}
        if buffered and getattr(compiled, "caller_buffers", True):
            program, filled = pass_buffers(program, {outs[j] for j in buffered})
            if filled:
                compiled = cpu.compile_program(program, reason=reason)
                first = len(program.preallocated) - len(filled)
                order = sorted(filled)
                self._out_slots.update({j: ("buffer", first + order.index(outs[j])) for j in buffered
                                        if outs[j] in filled})
        self.in_place_outputs = {j: i for j, (kind, i) in self._out_slots.items() if kind == "input"}
        returned = [j for j in range(len(outs)) if j not in self._out_slots]
        self._returned = returned
        self.plan.segments[0] = dataclasses.replace(self.plan.segments[0], program=program)
        self._compiled_in_place = compiled

    # (no in-place outputs: the defaults, also for executables made by from_record)
    _compiled_in_place = None
    _out_slots: dict = {}
    _returned: list = []
    in_place_outputs: dict = {}

    def _set_single(self, program, consts: list) -> None:
        """The fields of the one-program call path (see _run_single)."""
        self._arg_index = [self._input_index[a.name] for a in program.inputs]
        self._consts = consts
        self._prealloc = _buffer_specs(program, self.compiled[0])
        self._pool = self._pools[0]
        self._fn = self.compiled[0].fn

    def record(self) -> dict | None:
        """What `from_record` needs to make this executable again in another process without
        its graph (jitgrad.frontend_cache), or None when it is not one CPU program."""
        if not (self.single_program and self.device == "cpu") or self.widens_float16 or type(self.compiled[0]) not in (
                cpu.CompiledProgram, cpu.KernelSequence):
            return None  # (float16 edges: not stored, see __init__)
        program = self.plan.segments[0].program
        return {"label": self.label, "n_inputs": len(self.graph.inputs),
                "program": dataclasses.replace(program, steps=()),  # (the call needs only its signature)
                "consts": [np.asarray(c) for c in self._consts], "form": self.compiled[0].form()}

    @classmethod
    def from_record(cls, record: dict, graph_source: Callable[[], Graph]) -> Executable:
        """The executable `record` describes, its programs loaded from their stored source (no
        tracing, lowering or source generation); `graph_source()` traces its graph again only
        if something asks for `graph` or `plan` (debugging, tests)."""
        start = time.perf_counter()
        self = cls.__new__(cls)
        self.device = "cpu"
        self.label = record["label"]
        self._half_inputs, self._half_outputs, self.widens_float16 = [], [], False  # (see record)
        self._graph_source = graph_source
        program = record["program"]
        self.compiled = [cpu.from_form(program, record["form"], "front-end cache")]
        self._pools = [BufferPool(_buffer_specs(program, self.compiled[0]))]
        self._device_consts = {}
        self._input_index = {f"in{i}": i for i in range(record["n_inputs"])}
        self._compiled_run = self._run_single
        self.run = self._first_run
        self._set_single(program, record["consts"])
        self.trace_seconds = time.perf_counter() - start
        return self

    def __getattr__(self, name: str):
        # graph, plan and what lowering derives from them, for an executable made by
        # from_record: traced and lowered again on first use (never on the call path)
        if name in ("graph", "plan", "_by_name") and "_graph_source" in self.__dict__:
            graph = simplify(self.__dict__.pop("_graph_source")())
            self.graph = graph
            self.plan = lower(graph, self.label, self.device)
            self._by_name = {n: v for v, n in self.plan.names.items()}
            return getattr(self, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def single_program(self) -> bool:
        return len(self.compiled) == 1 and self.compiled[0] is not None

    def _first_run(self, arrays: Sequence[np.ndarray]):
        """The first call compiles (or loads from disk). A cache entry that fails to load is
        deleted and rebuilt; a Numba failure never reaches the user: the graph then runs in
        the reference interpreter, with a warning."""
        with compile_log.first_run(self.label, sum(c is not None for c in self.compiled), self.trace_seconds) as rec:
            return self._first_run_logged(arrays, rec)

    def _first_run_logged(self, arrays: Sequence[np.ndarray], record):
        from numba.core.errors import NumbaError
        start = time.perf_counter()
        try:
            try:
                result = self._compiled_run(arrays)
            except (NumbaError, MemoryError):  # (out of host or GPU memory: no cache entry to blame)
                raise
            except (IndexError, RuntimeError):  # a kernel's bounds check refused an index: the user's error
                raise  # (or a boolean mask's count differs from the traced one: MaskCountChangedError)
            except Exception as exc:  # a corrupt or unreadable on-disk cache entry, or the program's own error
                if getattr(exc, "_jitgrad_reference_error", False) or all(c is None for c in self.compiled):
                    raise  # raised by an op run in the reference interpreter: the program's real error
                if compile_log.compile_failed(record, exc):
                    raise  # Numba failed to compile: reported below
                log.info("rebuilding a cache entry that failed to load (%s: %s)", type(exc).__name__, exc)
                for compiled in self.compiled:
                    if compiled is not None:
                        compiled.rebuild()
                if self.single_program:
                    self._fn = self.compiled[0].fn
                result = self._compiled_run(arrays)
        except Exception as exc:
            if not (isinstance(exc, NumbaError) or compile_log.compile_failed(record, exc)):
                raise
            warnings.warn(compile_log.failure_message(self.compiled, exc), RuntimeWarning, stacklevel=4)
            self.run = self._run_reference
            return self._run_reference(arrays)
        self.compile_seconds = time.perf_counter() - start
        self.run = self._compiled_run
        return result

    def _widened(self, run):
        """`run` with float16 inputs converted to float32, the dtype kernels compute float16 in
        (dtypes.kernel_dtype), and float16 outputs converted back."""
        half_inputs, half_outputs = self._half_inputs, self._half_outputs

        def run_widened(arrays: Sequence[np.ndarray]) -> list:
            arrays = list(arrays)
            for i in half_inputs:
                arrays[i] = np.asarray(arrays[i], dtype=np.float32)
            outs = list(run(arrays))
            for i in half_outputs:
                outs[i] = np.asarray(outs[i]).astype(np.float16)
            return outs
        return run_widened

    def _run_reference(self, arrays: Sequence[np.ndarray]) -> list:
        from .interpret import evaluate
        if self.device == "cpu":
            return evaluate(self.graph, *arrays)
        outs = evaluate(self.graph, *[core.host_array(a) for a in arrays])
        return [_to_device(o, self.device) for o in outs]

    def _const_value(self, name: str) -> np.ndarray:
        value = self._device_consts.get(name)
        if value is None:
            value = self._by_name[name].value  # (ascontiguousarray makes 0-d 1-d)
            value = np.asarray(value, dtype=kernel_dtype(value.dtype), order="C")
            if self.device != "cpu":
                value = self._device_consts[name] = _to_device(value, self.device)  # moved once, reused by every call
        return value

    def _run_single(self, arrays: Sequence[np.ndarray]) -> tuple:
        pool = self._pool
        buffers = pool.take() if pool.active else [np.empty(shape, dtype) for shape, dtype in self._prealloc]
        outs = self._fn(*[arrays[i] for i in self._arg_index], *self._consts, *buffers)
        if not self._out_slots:
            return outs
        full = [None] * (len(self._returned) + len(self._out_slots))  # (every output, as without in-place writes)
        for j, (kind, i) in self._out_slots.items():
            full[j] = arrays[i] if kind == "input" else buffers[i]
        if self._returned:  # (a program that returns nothing returns 0)
            for j, value in zip(self._returned, outs, strict=True):
                full[j] = value
        return full

    def _run_segments(self, arrays: Sequence[np.ndarray]) -> list:
        env = {f"in{i}": a for i, a in enumerate(arrays)}
        gpu = self.device != "cpu"
        for seg, compiled, pool in zip(self.plan.segments, self.compiled, self._pools):
            if seg.split is not None:  # a boolean mask's count: the next program was compiled for one
                count = int(core.host_array(env[seg.split.count]))
                if count != seg.split.expected:
                    raise MaskCountChangedError(seg.split.site, count, seg.split.expected)
                continue
            if compiled is None:
                eqn = seg.eqn
                args = [self._lookup(env, v) for v in eqn.inputs]
                try:
                    if gpu:  # the op's eager GPU kernel
                        out = devices.backend(self.device).run(eqn.prim, args, eqn.params, eqn.out.shape,
                                                               eqn.out.dtype)
                    else:
                        # C order: the next compiled program reshapes it (NumPy's advanced indexing
                        # may return another layout)
                        out = np.asarray(eqn.prim.impl(*args, **eqn.params), dtype=kernel_dtype(eqn.out.dtype),
                                         order="C")
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
        return self._const_value(name) if name is not None else _to_device(np.asarray(v.value), self.device)

    def source(self) -> str:
        parts = []
        for k, compiled in enumerate(self.compiled):
            if compiled is None:
                seg = self.plan.segments[k]
                if seg.split is not None:
                    s = seg.split
                    parts.append(f"# split: boolean mask {s.mask} selects a data-dependent number of elements; the "
                                 f"caller checks {s.count} == {s.expected} (the count the next program is compiled "
                                 f"for) and traces again for another count\n")
                    continue
            parts.append(compiled.source if compiled is not None else
                         f"# reference interpreter: {self.plan.segments[k].eqn!r}\n")
        return "\n".join(parts)


def in_place_aliased(arrays: list, in_place: dict) -> bool:
    """Whether an input that a program writes in place (`in_place`: output index -> input index)
    shares memory with another of its inputs (then the program must not write it in place).

    >>> a = np.zeros(4)
    >>> in_place_aliased([a, a[1:]], {0: 0}), in_place_aliased([a, np.ones(2)], {0: 0})
    (True, False)
    """
    for i in in_place.values():
        a = arrays[i]
        if type(a) is not np.ndarray:
            return True
        for k, b in enumerate(arrays):
            if k != i and isinstance(b, np.ndarray) and np.may_share_memory(a, b):
                return True
    return False


def _to_device(array: np.ndarray, device: str):
    """A host constant copied onto the device the program runs on."""
    return devices.backend(device).move(array, device)


def _buffer_specs(program, compiled) -> list:
    """(shape, dtype) of the buffers a program expects its caller to allocate: none for a
    kernel sequence, whose driver allocates and frees its own (see cpu.KernelSequence)."""
    if not getattr(compiled, "caller_buffers", True):
        return []
    return [(a.shape, np.dtype(a.dtype)) for a in program.preallocated]


class InterpreterFallbackWarning(RuntimeWarning):
    """A primitive has no compiled kernel on this target: it runs in the reference interpreter
    between two compiled programs (tests turn this into an error: every op must compile)."""


def _warn_fallback(name: str, reason: str) -> None:
    if name not in _warned_fallbacks:
        _warned_fallbacks.add(name)
        warnings.warn(f"jitgrad: no fused kernel for '{name}'; {reason}", InterpreterFallbackWarning,
                      stacklevel=4)


class LazyExecutable:
    """An Executable built (simplified, lowered, compiled) on first use: jit_grad's backward,
    which forward-only calls never pay for (issue 14)."""

    def __init__(self, build: Callable[[], Executable]) -> None:
        self._make = build
        self.built: Executable | None = None

    def _build(self) -> Executable:
        if self.built is None:
            self.built = self._make()
        return self.built

    def run(self, arrays: Sequence[np.ndarray]):
        return self._build().run(arrays)

    def __getattr__(self, name: str):
        return getattr(self._build(), name)
