"""`python -m benchmarks [--quick] [--only W1,W3] [--reps N] [--out DIR] [--threads N]`.

Thread counts are capped through environment variables BEFORE NumPy, Numba or PyTorch are
imported (they read them once, at import), so this module imports them only inside main().
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS", "NUMBA_NUM_THREADS")
XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
DEFAULT_THREADS = 1


def usable_cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=f"python -m {__package__}", description=(
        "Time value+gradient workloads in NumPy (hand-written gradients), jitgrad (eager, jit), PyTorch and "
        "JAX (when installed); every variant is checked against NumPy first."))
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smaller sizes, fewer epochs and repetitions (< 2 min)")
    size.add_argument("--smoke", action="store_true", help="tiny sizes and 2 repetitions: checks the harness runs")
    p.add_argument("--only", default=None, help="comma-separated workloads or rows to run, e.g. W1,W3 or W1b")
    p.add_argument("--reps", type=int, default=None, help="at most this many timed repetitions per cell")
    p.add_argument("--min-time", type=float, default=None, help="repeat each cell until this many seconds")
    p.add_argument("--rounds", type=int, default=None,
                   help="time a row's columns in this many alternating rounds (default 5; smoke 1)")
    p.add_argument("--threads", type=int, default=None, help=(
        "threads for BLAS, OpenMP, Numba and PyTorch; 0 = all usable cores (default: $OMP_NUM_THREADS if set, else "
        "1: NumPy's ufuncs run on one core, so one thread compares per-core efficiency, and multi-threaded BLAS and "
        "OpenMP slow down badly on a machine that other jobs keep busy)"))
    p.add_argument("--contended", action="store_true", help=(
        "run the table twice, quiet and with a busy loop on one core, and print each cell's slowdown "
        "(goal: at most 1.2x)"))
    p.add_argument("--compile-latency", action="store_true", help=(
        "then time first calls with an empty kernel cache, each in a fresh process (issue 14's rows: "
        "MLP and the 1,000- and 3,000-step loops cold and warm, the GRU at T=16 and 32, the Transformer)"))
    p.add_argument("--out", type=Path, default=None, help="directory for results.md/.json/.png "
                   "(default: benchmarks/results in a checkout, else the current directory)")
    args = p.parse_args(argv)
    if args.reps is not None and args.reps < 1:
        p.error(f"--reps must be at least 1, got {args.reps}")
    if args.threads is not None and args.threads < 0:
        p.error(f"--threads must be 0 (all usable cores) or more, got {args.threads}")
    if args.min_time is not None and args.min_time < 0:
        p.error(f"--min-time must be >= 0, got {args.min_time}")
    return args


def cap_threads(threads: int | None) -> dict[str, str]:
    """Set the thread variables (an explicit --threads wins over the environment); returns them."""
    if threads is None:
        n = os.environ.get("OMP_NUM_THREADS", str(DEFAULT_THREADS))
    else:
        n = str(threads or usable_cores())
    for name in THREAD_VARIABLES:
        if threads is not None:
            os.environ[name] = n
        else:
            os.environ.setdefault(name, n)
    if n == "1" and "XLA_FLAGS" not in os.environ:   # JAX's CPU back end reads no *_NUM_THREADS variable
        os.environ["XLA_FLAGS"] = XLA_ONE_THREAD
    return {name: os.environ[name] for name in (*THREAD_VARIABLES, "XLA_FLAGS") if name in os.environ}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if "numpy" in sys.modules and args.threads is None:
        threads = {name: os.environ[name] for name in THREAD_VARIABLES if name in os.environ}
    else:
        threads = cap_threads(args.threads)
    from . import harness, report

    mode = "quick" if args.quick else "smoke" if args.smoke else "full"
    timing = {"full": (0.2, 5, 1000, 5), "quick": (0.05, 3, 200, 5), "smoke": (0.0, 2, 2, 1)}[mode]
    min_time = args.min_time if args.min_time is not None else timing[0]
    max_reps = args.reps if args.reps is not None else timing[2]
    only = tuple(w.strip() for w in args.only.split(",") if w.strip()) if args.only else None
    try:
        settings = harness.Settings(mode=mode, only=only, min_time=min_time, min_reps=timing[1], max_reps=max_reps,
                                    rounds=args.rounds if args.rounds is not None else timing[3],
                                    out=args.out or harness.RESULTS_DIR, threads=threads)
        harness.select_cases(only)
    except ValueError as exc:
        print(f"python -m {__package__}: error: {exc}", file=sys.stderr)
        return 2
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    result = harness.run(settings)
    result["machine"] = report.machine_info()
    if load is not None:
        result["machine"]["load_average"] = [round(x, 2) for x in load]
    from . import bandwidth
    result["big_array_goals"] = bandwidth.goal_rows(result)
    extra = bandwidth.markdown(result["big_array_goals"]) if result["big_array_goals"] else ""
    if args.contended:
        from . import contended
        with contended.busy_core() as core:
            busy = harness.run(settings)
        result["contended"] = {"core": core, "cells": contended.ratios(result, busy)}
        extra += "\n" + contended.markdown(result["contended"]["cells"], core, threads)
    notes = report.write(result, settings.out, extra)
    print(report.markdown(result) + extra)
    for note in notes:
        print(note, file=sys.stderr)
    if args.compile_latency:
        from . import compile_latency, compile_latency_models
        print("\n## Compile latency (first calls in fresh processes, 1 thread)\n", flush=True)
        compile_latency.main(["--steps", "1000,3000"])
        print()
        compile_latency_models.main([])
    written = [str(settings.out / n) for n in ("results.md", "results.json", "results.png")
               if (settings.out / n).exists()]
    print(f"written: {', '.join(written)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
