"""What a compile costs, told to the user: JITGRAD_LOG=compile timings and a progress line.

Numba compiles a generated program lazily, at its first call, so the cost of a compile is
measured around an executable's first run (`first_run`), from Numba's own compiler events
(``numba.core.event``): the time inside the compiler lock (typing and Numba's passes, or a
load from the disk cache) and, within it, the time inside the LLVM lock (optimising and
emitting machine code). With JITGRAD_LOG=compile one line per first run gives them, next to
the lowering time measured before. A first run that is expected to take more than
PROGRESS_AFTER seconds prints one progress line to stderr (updated in place on a terminal),
when stderr is a terminal or JITGRAD_LOG is set.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
import time
from contextlib import contextmanager

from numba.core import event

log = logging.getLogger("jitgrad.compile")

#: Seconds of (expected) compiling after which the progress line appears.
PROGRESS_AFTER = 2.0


class _Record:
    """Compiler time seen on one thread during one first run."""

    def __init__(self, label: str, programs: int, progress: _Progress | None) -> None:
        self.label, self.programs, self.progress = label, programs, progress
        self.numba = self.llvm = 0.0
        self.done = self.compiled = 0  # programs compiled or loaded; of them, compiled
        self.compile_errors: list = []  # exceptions that ended a Numba compile
        self.depth = {"numba:compiler_lock": 0, "numba:llvm_lock": 0}
        self.started: dict = {}


class _ThreadState(threading.local):
    record: _Record | None = None


_state = _ThreadState()


class _Listener(event.Listener):
    """Adds Numba's compiler and LLVM lock times (outermost acquisitions only) and its compile
    events to the first run in progress on the calling thread."""

    def on_start(self, ev) -> None:
        record = _state.record
        if record is None:
            return
        if ev.kind == "numba:compile":
            if record.depth["numba:compiler_lock"] == 1:
                record.compiled += 1
            return
        record.depth[ev.kind] += 1
        if record.depth[ev.kind] == 1:
            record.started[ev.kind] = time.perf_counter()

    def on_end(self, ev) -> None:
        record = _state.record
        if record is None:
            return
        if ev.kind == "numba:compile":
            details = getattr(ev, "_exc_details", None)  # (Event.is_failed reads it inverted in Numba 0.68)
            if details is not None:
                record.compile_errors.append(details[1])
            return
        record.depth[ev.kind] -= 1
        if record.depth[ev.kind] == 0 and ev.kind in record.started:
            seconds = time.perf_counter() - record.started.pop(ev.kind)
            if ev.kind == "numba:llvm_lock":
                record.llvm += seconds
            else:
                record.numba += seconds
                record.done += 1
                if record.progress is not None:
                    record.progress.update(record.done)


_listener = _Listener()
for _kind in ("numba:compiler_lock", "numba:llvm_lock", "numba:compile"):
    event.register(_kind, _listener)


def logging_on() -> bool:
    return bool(os.environ.get("JITGRAD_LOG", "").strip())


class _Progress:
    """One stderr line "compiling <label>: k/n programs, t s", shown once the compile is
    expected to take more than PROGRESS_AFTER seconds; rewritten in place on a terminal."""

    def __init__(self, label: str, total: int, stream=None) -> None:
        self.label, self.total = label, total
        self.stream = stream if stream is not None else sys.stderr
        self.tty = _isatty(self.stream)
        self.start = time.perf_counter()
        self.done = 0
        self.shown = False
        self._lock = threading.Lock()
        self._timer = threading.Timer(PROGRESS_AFTER, self.update)
        self._timer.daemon = True
        self._timer.start()

    def update(self, done: int | None = None) -> None:
        with self._lock:
            if done is not None:
                self.done = done
            elapsed = time.perf_counter() - self.start
            expected = elapsed if not self.done else elapsed / self.done * max(self.total, self.done)
            if self.shown and not self.tty:
                return  # (a log file gets the first and the last line only)
            if self.shown or elapsed >= PROGRESS_AFTER or (expected > PROGRESS_AFTER and self.done < self.total):
                self._write(f"[jitgrad] compiling {self.label}: {self.done}/{self.total} programs, {elapsed:.1f} s",
                            final=False)

    def finish(self) -> None:
        self._timer.cancel()
        with self._lock:
            if self.shown:
                elapsed = time.perf_counter() - self.start
                self._write(f"[jitgrad] compiled {self.label}: {self.total} programs in {elapsed:.1f} s", final=True)

    def _write(self, text: str, final: bool) -> None:
        if self.tty:
            self.stream.write("\r" + text.ljust(79) + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self.shown = True


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def progress_wanted(stream=None) -> bool:
    """A progress line is for people: shown on a terminal, or when JITGRAD_LOG asks for output."""
    return logging_on() or _isatty(stream if stream is not None else sys.stderr)


@contextmanager
def first_run(label: str, programs: int, lowering_seconds: float = 0.0):
    """Around an executable's first run: collects Numba's compile times on this thread, drives
    the progress line, and logs the breakdown (JITGRAD_LOG=compile)."""
    if _state.record is not None:  # nested: the outer first run counts
        yield _state.record
        return
    progress = _Progress(label, programs) if programs and progress_wanted() else None
    record = _state.record = _Record(label, programs, progress)
    start = time.perf_counter()
    try:
        yield record
    finally:
        _state.record = None
        if progress is not None:
            progress.finish()
        total = time.perf_counter() - start
        loaded = max(record.done - record.compiled, 0)
        numba_part = (f"Numba typing and passes {record.numba - record.llvm:.2f} s, LLVM {record.llvm:.2f} s"
                      if record.compiled else f"Numba loading from disk {record.numba:.2f} s")
        log.info("first call of %s: lowering %.2f s, %s (%d of %d programs compiled, %d loaded from disk), "
                 "first call %.2f s", label, lowering_seconds, numba_part, record.compiled, programs, loaded, total)


def compile_failed(record: _Record | None, exc: BaseException) -> bool:
    """Whether `exc` (or an exception it was raised from) ended a Numba compile during this first
    run: a program Numba could not compile, whatever the exception's type (typing errors are
    NumbaErrors; some of Numba's internal failures are AttributeError, KeyError...)."""
    if record is None or not record.compile_errors:
        return False
    seen = set()
    while exc is not None and id(exc) not in seen:
        if any(exc is e for e in record.compile_errors):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def failure_message(compiled: list, exc: BaseException) -> str:
    """The warning for a program Numba refused to compile: a jitgrad bug, with the path of the
    generated source to attach to the report."""
    from jitgrad._kernels import cache
    failed = next((c for c in compiled if c is not None and not _has_compiled(c)), None)
    failed = failed or next((c for c in compiled if c is not None), None)
    name = failed.program.name if failed is not None else "a program"
    path = cache.source_path(failed.fn) if failed is not None else None
    where = f"the generated source is {path}" if path else "the generated source was compiled in memory"
    return (f"jitgrad could not compile {name} ({type(exc).__name__}: {str(exc).strip().splitlines()[0]}); "
            f"running it in the reference interpreter instead. This is a jitgrad bug: please report it with "
            f"the generated source ({where}; fn.source(*args) prints it).")


def _has_compiled(compiled) -> bool:
    try:
        return bool(compiled.fn.signatures)
    except AttributeError:
        return True
