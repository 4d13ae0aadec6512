"""Runs the benchmark table: checks every variant against the NumPy baseline, then times it
(warm-up, then adaptive repetitions, median), with a text progress bar on stderr."""
from __future__ import annotations

import gc
import importlib
import importlib.util
import statistics
import sys
import time
import traceback
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, TextIO

import numpy as np

from .workloads import BASELINE, CASES, MODES, VARIANTS, Case, NotAvailableError, Variant


def default_results_dir() -> Path:
    """benchmarks/results in a checkout (next to pyproject.toml); installed (``python -m
    jitgrad.benchmarks``), the current directory: results never go into site-packages."""
    here = Path(__file__).resolve().parent
    return here / "results" if (here.parent / "pyproject.toml").is_file() else Path.cwd()


RESULTS_DIR = default_results_dir()


@dataclass
class Settings:
    """How much to run and how long to time each cell."""

    mode: str = "full"
    only: tuple[str, ...] | None = None
    min_time: float = 0.2
    min_reps: int = 5
    max_reps: int = 1000
    #: A row's cells are timed in this many alternating rounds (see time_interleaved).
    rounds: int = 5
    rtol: float = 1e-3
    out: Path = RESULTS_DIR
    threads: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.max_reps < 1 or self.min_reps < 1:
            raise ValueError(f"repetitions must be at least 1, got min_reps={self.min_reps}, max_reps={self.max_reps}")
        if self.min_time < 0:
            raise ValueError(f"min_time must be >= 0 seconds, got {self.min_time}")
        if self.rounds < 1:
            raise ValueError(f"rounds must be at least 1, got {self.rounds}")
        self.min_reps = min(self.min_reps, self.max_reps)


def select_cases(only: tuple[str, ...] | None, cases: tuple[Case, ...] = CASES) -> tuple[Case, ...]:
    """The cases whose workload id or case key is named in `only` (all when None)."""
    if not only:
        return cases
    wanted = {w.lower() for w in only}
    known = {c.workload.lower() for c in cases} | {c.key.lower() for c in cases}
    unknown = [w for w in only if w.lower() not in known]
    if unknown:
        raise ValueError(f"unknown workload(s) {', '.join(unknown)} in --only; choose from "
                         f"{', '.join(dict.fromkeys(c.workload for c in cases))} (or a row key such as W1b)")
    return tuple(c for c in cases if c.workload.lower() in wanted or c.key.lower() in wanted)


# ----- results and checks ----------------------------------------------------------------------

def to_numpy(x: Any) -> np.ndarray:
    """A framework's tensor (jitgrad, PyTorch, JAX) or a number as a NumPy array."""
    if isinstance(x, np.ndarray):
        return x
    detach = getattr(x, "detach", None)
    if callable(detach):
        x = detach()
    return np.asarray(x)


def as_numpy_result(result: Any, n_outputs: int) -> tuple[np.ndarray, ...]:
    """(value, (g1, g2, ...)) -> (value, g1, g2, ...) as arrays, refusing a malformed result."""
    if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], (tuple, list))):
        raise TypeError("a benchmark callable must return (value, (grad, ...))")
    flat = (result[0], *result[1])
    if len(flat) != n_outputs:
        raise TypeError(f"a benchmark callable returned {len(flat)} outputs, expected {n_outputs}")
    return tuple(to_numpy(x) for x in flat)


def mismatch(got: tuple, want: tuple, names: tuple[str, ...], rtol: float, check_dtype: bool = True) -> str | None:
    """None when `got` matches `want` output by output, else what differs (first failure).

    Each output is compared with tolerance rtol * |want| + rtol * max|want|, so entries near zero
    in a large gradient do not fail on float32 rounding alone.
    """
    for name, g, w in zip(names, got, want, strict=True):
        g, w = np.asarray(g), np.asarray(w)
        if g.shape != w.shape:
            return f"{name}: shape {g.shape}, expected {w.shape}"
        if check_dtype and g.dtype != np.float32:
            return f"{name}: dtype {g.dtype}, expected float32"
        if not np.all(np.isfinite(g)):
            return f"{name}: not finite"
        w64, g64 = w.astype(np.float64), g.astype(np.float64)
        scale = float(np.max(np.abs(w64))) if w64.size else 0.0
        err = np.abs(g64 - w64)
        bound = rtol * np.abs(w64) + rtol * scale
        if np.any(err > bound):
            worst = int(np.argmax(err - bound))
            return (f"{name}: max |error| {float(err.max()):.3g} over a bound of {float(bound.flat[worst]):.3g} "
                    f"(got {float(g64.flat[worst]):.6g}, expected {float(w64.flat[worst]):.6g})")
    return None


# ----- timing ----------------------------------------------------------------------------------

#: An end-to-end run shorter than min_time / E2E_REPEAT_FRACTION is run again (at least
#: E2E_REPEAT_MIN_RUNS more times, until min_time) and reported by its median, like a repeated call:
#: the quick table's W2 fori_loop cell (3,000 epochs, ~0.1 ms) measured 0.27 ms as one run and
#: 0.10-0.11 ms as the best of several. Long runs (an eager training loop of seconds) stay single.
E2E_REPEAT_FRACTION = 10
E2E_REPEAT_MIN_RUNS = 5

def time_calls(fn: Callable[[], Any], settings: Settings) -> list[float]:
    """Seconds per call of fn, repeated until min_time has passed and min_reps are done (or max_reps)."""
    samples: list[float] = []
    start = time.perf_counter()
    while len(samples) < settings.max_reps:
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
        if len(samples) >= settings.min_reps and time.perf_counter() - start >= settings.min_time:
            break
    return samples


def time_interleaved(fns: dict[str, Callable[[], Any]], settings: Settings) -> dict[str, list[float] | Exception]:
    """Samples of every fn of one row, taken in `settings.rounds` rounds that time each fn in turn
    (min_time, min_reps and max_reps shared out over the rounds): the speed of a shared machine
    drifts by tens of percent within minutes, and a slow minute then hits every column of the row
    instead of one (the ratios are what the goals judge). A fn that raises gets its exception."""
    rounds = min(settings.rounds, settings.max_reps)  # (never more samples than max_reps)
    share = replace(settings, min_time=settings.min_time / rounds, min_reps=-(-settings.min_reps // rounds),
                    max_reps=settings.max_reps // rounds)
    samples: dict[str, list[float] | Exception] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            if isinstance(samples[name], Exception):
                continue
            gc.collect()
            try:
                samples[name] += time_calls(fn, share)
            except Exception as exc:  # noqa: BLE001 - one failing cell must not stop the table
                samples[name] = exc
    return samples


def summarize(samples: list[float], per_ops: int) -> dict:
    """Median and spread of the samples, per call and per unit (op) of the row."""
    q = statistics.quantiles(samples, n=4) if len(samples) >= 2 else [samples[0]] * 3
    median = statistics.median(samples)
    return {"median_s": median, "min_s": min(samples), "q1_s": q[0], "q3_s": q[2], "reps": len(samples),
            "per_ops": per_ops, "per_unit_s": median / per_ops}


class Progress:
    """A one-line text progress bar on stderr (plain lines when stderr is not a terminal)."""

    def __init__(self, total: int, stream: TextIO | None = None, width: int = 28) -> None:
        self.total, self.done, self.width = total, 0, width
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.perf_counter()

    def show(self, label: str) -> None:
        filled = self.width * self.done // max(self.total, 1)
        bar = "#" * filled + "-" * (self.width - filled)
        line = f"[{bar}] {self.done}/{self.total} {time.perf_counter() - self.start:6.1f}s  {label}"
        if self.tty:
            self.stream.write("\r" + line[:118].ljust(118))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def step(self) -> None:
        self.done += 1

    def close(self) -> None:
        self.show("done")
        if self.tty:
            self.stream.write("\n")
        self.stream.flush()


# ----- running -----------------------------------------------------------------------------------

def load_variant(variant: Variant) -> tuple[Any | None, str | None]:
    """(module with FACTORIES, None) or (None, why it cannot run here)."""
    if variant.needs and importlib.util.find_spec(variant.needs) is None:
        return None, f"{variant.needs} is not installed"
    try:
        module = importlib.import_module(f".workloads.{variant.module}", __package__)
    except Exception as exc:  # noqa: BLE001 - a broken optional library must not stop the run
        return None, f"import failed: {type(exc).__name__}: {exc}"
    probe = getattr(module, "unavailable", None)
    reason = probe() if probe else None
    return (None, reason) if reason else (module, None)


def _known_answer(case: Case, size: int) -> tuple | None:
    """The row's stated answer at this size as a flat tuple of arrays (None: compare with NumPy)."""
    expected = case.expected(size) if case.expected is not None else None
    if expected is None:
        return None
    return (np.asarray(expected[0]), *(np.asarray(o) for o in expected[1]))


def run_cell(case: Case, module: Any, settings: Settings, reference: tuple | None,
             deferred: dict | None = None) -> tuple[dict, tuple | None]:
    """Check one (row, variant) cell and time it; returns its record and its result as NumPy arrays.

    The result is compared with the row's stated answer when it has one, else with `reference`
    (the NumPy baseline's result; None while running the baseline itself). Warnings raised by
    the variant are kept in the record instead of breaking the progress bar. With `deferred`
    (a dict), a repeated-call cell is checked only and its timed callable left in deferred["fn"]
    (the row times its cells together, time_interleaved); end-to-end cells are timed here.
    """
    size = case.sizes[settings.mode]
    factory = module.FACTORIES.get(case.workload)
    if factory is None:
        return {"status": "n/a", "reason": f"no {case.workload} implementation"}, None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        record, result = _check_and_time(case, factory, size, settings, _known_answer(case, size) or reference,
                                         deferred)
    messages = list(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))
    if messages:
        record["warnings"] = messages
    return record, result


def _check_and_time(case: Case, factory: Callable, size: int, settings: Settings,
                    want: tuple | None, deferred: dict | None = None) -> tuple[dict, tuple | None]:
    try:
        fn = factory(case.make_inputs(size))
        t0 = time.perf_counter()
        if case.warmup_size is not None:   # end to end: warm up on a short run, then check and time one full run
            fn(min(case.warmup_size, size))
            t0 = time.perf_counter()
        raw = fn()                          # otherwise the warm-up, whose result is checked before any timing
        first = time.perf_counter() - t0
        result = as_numpy_result(raw, len(case.outputs))
        del raw
        problem = mismatch(result, want, case.outputs, settings.rtol) if want is not None else None
        if problem:
            return {"status": "wrong", "reason": problem}, result
        if case.warmup_size is not None:
            samples = [first]
            if first < settings.min_time / E2E_REPEAT_FRACTION:  # (short: one run is mostly noise)
                gc.collect()
                samples += time_calls(fn, replace(settings, min_reps=E2E_REPEAT_MIN_RUNS))
        elif deferred is not None:
            deferred["fn"] = fn
            return {"status": "ok", "first_call_s": first}, result
        else:
            gc.collect()
            samples = time_calls(fn, settings)
    except NotAvailableError as exc:
        return {"status": "n/a", "reason": str(exc)}, None
    except Exception as exc:  # noqa: BLE001 - one failing cell must not stop the table
        tb = traceback.extract_tb(exc.__traceback__)[-1]
        where = f"{Path(tb.filename).name}:{tb.lineno}"
        return {"status": "error", "reason": f"{type(exc).__name__}: {exc} ({where})"}, None
    record = {"status": "ok", "first_call_s": first, **summarize(samples, case.per_ops(size) if case.per_ops else 1)}
    return record, result


def run(settings: Settings, cases: tuple[Case, ...] = CASES, variants: tuple[Variant, ...] = VARIANTS,
        stream: TextIO | None = None) -> dict:
    """Run every selected cell; the report is a plain dict (written as results.json)."""
    cases = select_cases(settings.only, cases)
    if not variants or variants[0].name != BASELINE:
        raise ValueError(f"the first variant must be the baseline {BASELINE!r}")
    loaded, hidden = {}, {}
    for v in variants:
        module, reason = load_variant(v)
        if module is None and v.optional:
            hidden[v.name] = reason
        else:
            loaded[v.name] = (module, reason, v.rows)
    if loaded[BASELINE][0] is None:
        raise RuntimeError(f"the NumPy baseline could not be loaded: {loaded[BASELINE][1]}")
    columns = list(loaded)
    gc.collect()
    gc.freeze()      # the libraries' own objects: later collections (between cells) skip them
    progress = Progress(len(cases) * len(columns), stream)
    started = time.time()
    rows = []
    try:
        for case in cases:
            rows.append(_run_row(case, columns, loaded, settings, progress))
    finally:
        gc.unfreeze()
    progress.close()
    return {"settings": {"mode": settings.mode, "only": list(settings.only or []), "min_time_s": settings.min_time,
                         "min_reps": settings.min_reps, "max_reps": settings.max_reps, "rounds": settings.rounds,
                         "rtol": settings.rtol},
            "threads": settings.threads, "columns": columns, "hidden_columns": hidden,
            "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
            "duration_s": time.time() - started, "rows": rows}


def _run_row(case: Case, columns: list[str], loaded: dict, settings: Settings, progress: Progress) -> dict:
    """Every cell of one row, baseline first; the row's record with ratios and goal."""
    cells, reference, timed = {}, None, {}
    for name in columns:
        progress.show(f"{case.key} {case.title[:40]} | {name}")
        module, reason, _ = loaded[name]
        if module is None:
            cells[name] = {"status": "n/a", "reason": reason}
        elif name in case.skips:
            cells[name] = {"status": "n/a", "reason": case.skips[name]}
        elif loaded[name][2] is not None and case.workload not in loaded[name][2]:
            cells[name] = {"status": "n/a", "reason": f"runs the {', '.join(loaded[name][2])} rows only"}
        else:
            deferred: dict = {}
            cells[name], result = run_cell(case, module, settings, reference, deferred)
            if "fn" in deferred:
                timed[name] = deferred["fn"]
            if name == BASELINE:
                # "wrong": it missed the stated answer; "n/a": a model too large to hand-write in NumPy
                if cells[name]["status"] not in ("ok", "wrong", "n/a"):
                    raise RuntimeError(f"{case.key}: the NumPy baseline failed: {cells[name]['reason']}")
                reference = result
            elif reference is None and cells[name]["status"] == "ok":
                reference = result   # no NumPy baseline: the first column that ran is the reference
            if result is not None and case.expected is not None:
                cells[name]["result"] = [np.asarray(r).tolist() for r in result]
        progress.step()
        gc.collect()
    size = case.sizes[settings.mode]
    floor = None
    if timed and case.floor is not None:  # (timed in the same rounds as the columns)
        timed[FLOOR] = case.floor.make(case.make_inputs(size))
    if timed:
        progress.show(f"{case.key} {case.title[:40]} | timing {len(timed)} columns in turn")
        for name, samples in time_interleaved(timed, settings).items():
            if name == FLOOR:
                if not isinstance(samples, Exception):
                    floor = {"what": case.floor.what, "median_s": statistics.median(samples)}
                continue
            if isinstance(samples, Exception):
                cells[name] = {"status": "error", "reason": f"{type(samples).__name__}: {samples} (while timing)"}
            else:
                cells[name].update(summarize(samples, case.per_ops(size) if case.per_ops else 1))
        timed.clear()
    base = cells[BASELINE].get("median_s")
    for cell in cells.values():
        if cell["status"] == "ok" and base:
            cell["ratio"] = cell["median_s"] / base
    expected = _known_answer(case, size)
    return {"key": case.key, "workload": case.workload, "label": case.label(settings.mode), "per": case.per,
            "size": size, "outputs": list(case.outputs), "cells": cells,
            "expected": None if expected is None else [x.tolist() for x in expected],
            "goal": _goal(case.goal, cells, size / case.sizes["full"]),
            "goals": [_goal(g, cells, size / case.sizes["full"])
                      for g in ((case.goal,) if case.goal else ()) + case.more_goals],
            "floor": floor}


#: The timing name of a row's floor (workloads.Floor) among its columns'.
FLOOR = "floor"


def _goal(g, cells: dict, scale: float = 1.0) -> dict | None:
    """A goal of the row with its measured ratio, or seconds (None when there is no goal). A goal
    in seconds is stated for the full size: a run at another size (--quick) is held to it
    scaled by the size ratio (the work is linear in the size: epochs)."""
    if g is None:
        return None
    out = {"variant": g.variant, "against": g.against, "max_ratio": g.max_ratio, "ratio": None, "met": None}
    a, b = cells.get(g.variant, {}), cells.get(g.against, {})
    if g.max_seconds is not None:
        out.update(max_seconds=g.max_seconds * scale, full_max_seconds=g.max_seconds, seconds=None)
        if a.get("status") == "ok":
            out["seconds"] = a["median_s"]
            out["met"] = a["median_s"] <= out["max_seconds"]
        else:
            out["why"] = f"{g.variant} not measured"
        return out
    if a.get("status") == "ok" and b.get("status") == "ok":
        out["ratio"] = a["median_s"] / b["median_s"]
        out["met"] = out["ratio"] <= g.max_ratio
    else:
        out["why"] = f"{g.variant if a.get('status') != 'ok' else g.against} not measured"
    return out
