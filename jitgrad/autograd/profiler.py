"""A CPU profiler shaped like torch.autograd.profiler: per-op and per-backward-node timings,
nested `record_function` regions, grouped tables and Chrome trace export.

    with jitgrad.autograd.profiler.profile(record_shapes=True) as prof:
        with jitgrad.autograd.profiler.record_function("step"):
            loss = model(x).sum()
            loss.backward()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=10))
    prof.export_chrome_trace("trace.json")          # open in chrome://tracing or ui.perfetto.dev

What is recorded while a profile is active (one at a time, process-wide):
  * every primitive application, through `core.profile_hook` (event name: the primitive's name,
    e.g. "mul"; with record_shapes=True, its input shapes);
  * every backward node the engine applies, through `autodiff.apply_hook` (name: the grad_fn
    name, e.g. "MulBackward0"); the ops its VJP rule runs nest inside it;
  * `record_function(label)` regions;
  * compiled code, through the hook API for the back end: `record_compile(name, seconds)` and
    `record_kernel(name, seconds)` add an event ("compile::name" / "kernel::name") of the given
    duration ending now, nested in whatever region is open on the calling thread. They cost one
    check when no profile is active; `is_profiling()` lets callers skip their own timing then.

Self time is total time minus the total time of the events directly nested inside, per thread.
Events from other threads are kept with their thread id (`tid`). Profiling changes no results:
the hooks only time the calls they wrap. When no profile is active the engine pays one `is None`
check per op and one per backward call.
"""
from __future__ import annotations

import functools
import json
import os
import threading
import time
from dataclasses import dataclass

from .. import autodiff, core

_active: list = [None]  # the profile currently recording, if any

OP, BACKWARD, USER, COMPILE, KERNEL = "op", "backward", "user_annotation", "compile", "kernel"
_now = time.perf_counter_ns


@dataclass
class FunctionEvent:
    """One timed region: times are nanoseconds from the profile's start (use the *_us properties)."""

    name: str
    kind: str
    start_ns: int
    duration_ns: int
    self_ns: int
    thread: int
    depth: int
    input_shapes: tuple | None = None

    @property
    def cpu_time_total(self) -> float:
        return self.duration_ns / 1e3

    @property
    def self_cpu_time_total(self) -> float:
        return self.self_ns / 1e3


@dataclass
class FunctionEventAvg:
    """Events grouped under one key (name, and input shapes when grouping by them); times in us."""

    key: str
    count: int = 0
    cpu_time_total: float = 0.0
    self_cpu_time_total: float = 0.0
    input_shapes: tuple | None = None

    @property
    def cpu_time(self) -> float:
        """Average total time per call (us)."""
        return self.cpu_time_total / self.count if self.count else 0.0

    @property
    def self_cpu_time(self) -> float:
        """Average self time per call (us)."""
        return self.self_cpu_time_total / self.count if self.count else 0.0


_SORT_KEYS = ("self_cpu_time_total", "cpu_time_total", "cpu_time", "self_cpu_time", "count")


def _format_time(us: float) -> str:
    if us >= 1e6:
        return f"{us / 1e6:.3f}s"
    if us >= 1e3:
        return f"{us / 1e3:.3f}ms"
    return f"{us:.3f}us"


def _format_shapes(shapes) -> str:
    return "" if shapes is None else str([list(s) for s in shapes])


class EventList(list):
    """A list of FunctionEventAvg rows with PyTorch's `table()` printer."""

    @property
    def self_cpu_time_total(self) -> float:
        return sum(e.self_cpu_time_total for e in self)

    def table(self, sort_by: str | None = None, row_limit: int = 100, max_name_column_width: int = 55) -> str:
        """The rows as a fixed-width text table, sorted (descending) by `sort_by`."""
        rows = list(self)
        if sort_by is not None:
            if sort_by not in _SORT_KEYS:
                raise ValueError(f"table: sort_by must be one of {_SORT_KEYS}, got {sort_by!r}")
            rows.sort(key=lambda e: getattr(e, sort_by), reverse=True)
        if row_limit is not None and row_limit >= 0:
            rows = rows[:row_limit]
        total = self.self_cpu_time_total
        with_shapes = any(e.input_shapes is not None for e in self)
        name_w = min(max([len("Name")] + [len(e.key) for e in rows]) + 2, max_name_column_width)
        heads = ["Self CPU %", "Self CPU", "CPU total %", "CPU total", "CPU time avg", "# of Calls"]
        widths = [name_w] + [12] * len(heads)
        if with_shapes:
            heads.append("Input Shapes")
            widths.append(max([len("Input Shapes")] + [len(_format_shapes(e.input_shapes)) for e in rows]) + 2)

        def line(cells) -> str:
            return "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))

        def pct(x: float) -> str:
            return f"{100.0 * x / total:.2f}%" if total > 0 else "0.00%"

        rule = "  ".join("-" * w for w in widths)
        out = [rule, line(["Name"] + heads), rule]
        for e in rows:
            name = e.key if len(e.key) <= name_w else e.key[:name_w - 3] + "..."
            cells = [name, pct(e.self_cpu_time_total), _format_time(e.self_cpu_time_total),
                     pct(e.cpu_time_total), _format_time(e.cpu_time_total), _format_time(e.cpu_time),
                     str(e.count)]
            if with_shapes:
                cells.append(_format_shapes(e.input_shapes))
            out.append(line(cells))
        out += [rule, f"Self CPU time total: {_format_time(total)}", ""]
        return "\n".join(out)

    def __str__(self) -> str:
        return self.table()


class _ThreadState(threading.local):
    """Per-thread nesting stack of open regions (each a [children_ns] cell) and the thread's id."""

    def __init__(self) -> None:
        self.stack: list = []
        self.tid = threading.get_native_id()


class profile:  # noqa: N801 - PyTorch's name
    """Context manager that records jitgrad ops, backward nodes and labelled regions (see module doc)."""

    def __init__(self, enabled: bool = True, record_shapes: bool = False) -> None:
        self.enabled = bool(enabled)
        self.record_shapes = bool(record_shapes)
        # Raw records, appended from any thread (list.append is atomic); FunctionEvents are built on demand.
        self._raw: list = []
        self._events: list[FunctionEvent] = []
        self._local = _ThreadState()
        self._t0 = 0
        self._running = False

    # ----- recording ------------------------------------------------------------------------

    def __enter__(self):
        if not self.enabled:
            return self
        if _active[0] is not None:
            raise RuntimeError("a jitgrad profiler is already recording; only one profile can be active at a "
                               "time (nest record_function(...) regions inside it instead)")
        self._raw, self._events = [], []
        self._t0 = time.perf_counter_ns()
        _active[0] = self
        self._running = True
        core.profile_hook[0] = self._op_hook
        autodiff.apply_hook[0] = self._apply_hook
        return self

    def __exit__(self, *exc) -> bool:
        if self._running:
            core.profile_hook[0] = None
            autodiff.apply_hook[0] = None
            _active[0] = None
            self._running = False
        return False

    def _open(self) -> list:
        """Push a frame [children_ns] on this thread's stack."""
        frame = [0]
        self._local.stack.append(frame)
        return frame

    def _close(self, frame: list, name: str, kind: str, start: int, end: int, shapes=None) -> None:
        """Pop `frame`, charge its time to the enclosing region, record the event."""
        local = self._local
        stack = local.stack
        if stack and stack[-1] is frame:
            stack.pop()
        duration = end - start
        if stack:
            stack[-1][0] += duration
        self._raw.append((name, kind, start, duration, duration - frame[0], local.tid, len(stack), shapes))

    def _op_hook(self, run, prim, args, params):
        shapes = tuple(tuple(a.shape) for a in args) if self.record_shapes else None
        frame = [0]
        self._local.stack.append(frame)
        start = _now()
        try:
            return run(prim, args, params)
        finally:
            self._close(frame, prim.name, OP, start, _now(), shapes)

    def _apply_hook(self, node, grad, create_graph):
        shapes = (tuple(grad.shape),) if self.record_shapes else None
        frame = [0]
        self._local.stack.append(frame)
        start = _now()
        try:
            return node.apply(grad, create_graph)
        finally:
            self._close(frame, node.name(), BACKWARD, start, _now(), shapes)

    def _add_finished(self, name: str, kind: str, seconds: float) -> None:
        """An event measured by the caller, ending now (used by record_compile/record_kernel)."""
        if seconds < 0:
            raise ValueError(f"{kind} time must be >= 0 seconds, got {seconds}")
        end = _now()
        duration = int(round(seconds * 1e9))
        self._close(self._open(), name, kind, end - duration, end)

    # ----- results --------------------------------------------------------------------------

    @property
    def function_events(self) -> list[FunctionEvent]:
        """Every recorded event, in order of completion (times from the profile's start)."""
        raw = self._raw
        if len(self._events) != len(raw):
            t0 = self._t0
            self._events = [FunctionEvent(name, kind, start - t0, duration, own, tid, depth, shapes)
                            for name, kind, start, duration, own, tid, depth, shapes in list(raw)]
        return self._events

    def events(self) -> list[FunctionEvent]:
        """Every recorded event, in order of completion."""
        return list(self.function_events)

    @property
    def self_cpu_time_total(self) -> float:
        """Sum of all events' self times, in microseconds."""
        return sum(e.self_ns for e in self.function_events) / 1e3

    def key_averages(self, group_by_input_shape: bool = False) -> EventList:
        """Events grouped by name (and by input shapes too when asked), in order of first appearance."""
        if group_by_input_shape and not self.record_shapes:
            raise RuntimeError("key_averages(group_by_input_shape=True) needs shapes: profile with "
                               "profile(record_shapes=True)")
        groups: dict = {}
        for e in self.function_events:
            key = (e.name, e.input_shapes) if group_by_input_shape else e.name
            avg = groups.get(key)
            if avg is None:
                avg = groups[key] = FunctionEventAvg(e.name, input_shapes=e.input_shapes if group_by_input_shape
                                                     else None)
            avg.count += 1
            avg.cpu_time_total += e.duration_ns / 1e3
            avg.self_cpu_time_total += e.self_ns / 1e3
        return EventList(groups.values())

    def table(self, sort_by: str | None = None, row_limit: int = 100) -> str:
        """Shortcut for key_averages().table(...)."""
        return self.key_averages().table(sort_by=sort_by, row_limit=row_limit)

    def __str__(self) -> str:
        return self.table()

    def export_chrome_trace(self, path: str | os.PathLike) -> None:
        """Write the Chrome trace-event JSON (complete "X" events, microseconds) that chrome://tracing
        and Perfetto open."""
        pid = os.getpid()
        events = sorted(self.function_events, key=lambda e: (e.start_ns, -e.duration_ns))
        trace = []
        for e in events:
            args = {"kind": e.kind, "self_us": round(e.self_ns / 1e3, 3)}
            if e.input_shapes is not None:
                args["Input Shapes"] = _format_shapes(e.input_shapes)
            trace.append({"name": e.name, "cat": e.kind, "ph": "X", "ts": round(e.start_ns / 1e3, 3),
                          "dur": round(e.duration_ns / 1e3, 3), "pid": pid, "tid": e.thread, "args": args})
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"traceEvents": trace, "displayTimeUnit": "ms"}, f)


class record_function:  # noqa: N801 - PyTorch's name
    """A labelled region (context manager or decorator); recorded only while a profile is active."""

    def __init__(self, name: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"record_function needs a str label, got {type(name).__name__}")
        self.name = name
        self._prof = None

    def __enter__(self):
        prof = _active[0]
        if prof is not None:
            self._prof = prof
            self._frame = prof._open()
            self._start = _now()
        return self

    def __exit__(self, *exc) -> bool:
        prof, self._prof = self._prof, None
        if prof is not None:
            prof._close(self._frame, self.name, USER, self._start, _now())
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with record_function(self.name):
                return fn(*args, **kwargs)

        return wrapper


def is_profiling() -> bool:
    """Whether a profile is recording (compiled code can skip its own timing when not)."""
    return _active[0] is not None


def record_compile(name: str, seconds: float) -> None:
    """Back-end hook: a compilation of `name` that took `seconds`, ending now (no-op when not profiling)."""
    prof = _active[0]
    if prof is not None:
        prof._add_finished(f"compile::{name}", COMPILE, seconds)


def record_kernel(name: str, seconds: float) -> None:
    """Back-end hook: one run of compiled kernel `name` that took `seconds`, ending now (no-op when not
    profiling)."""
    prof = _active[0]
    if prof is not None:
        prof._add_finished(f"kernel::{name}", KERNEL, seconds)


__all__ = ["profile", "record_function", "record_compile", "record_kernel", "is_profiling", "EventList",
           "FunctionEvent", "FunctionEventAvg"]
