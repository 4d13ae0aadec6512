"""Big-array goals (issue 20): W1 and W4 against NumPy and against the machine's memory bandwidth.

A STREAM-like triad (a = b + s*c, float32, Numba prange on the benchmark's threads) is measured
in the same run at the row's N; a row's achieved bandwidth counts the bytes its compiled
value-and-gradient call must move at least (inputs read once, gradients written once).

Under a goal not met, the row's compute floor: the compiled loop's time per element with its
data in cache (no memory traffic to wait for), against the time per element and thread that the
goal leaves, and the row's sin/cos/tanh/exp/log1p calls alone through NumPy's SIMD ufuncs, also
in cache. A loop that needs more than the goal leaves even in cache cannot meet it by moving
memory faster; only faster math could.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np


def _w1_math(inp: dict) -> list[tuple[np.ufunc, np.ndarray]]:
    """W1's transcendental calls: sin a (the value) and cos a (the gradient)."""
    return [(np.sin, inp["a"]), (np.cos, inp["a"])]


def _w4_math(inp: dict) -> list[tuple[np.ufunc, np.ndarray]]:
    """W4's: sin x and cos x, tanh(x y + sin x), exp(-x^2), log1p(y^2)."""
    x, y = inp["x"], inp["y"]
    return [(np.sin, x), (np.cos, x), (np.tanh, x * y + np.sin(x)), (np.exp, -x * x), (np.log1p, y * y)]


@dataclass(frozen=True)
class BigArrayGoal:
    """A row's goal: jitgrad jit at most `max_ratio` x NumPy; the float32 arrays its call must read
    and write; its transcendental calls as NumPy ufuncs on its inputs (for the compute floor)."""

    max_ratio: float
    reads: int
    writes: int
    math: Callable[[dict], list[tuple[np.ufunc, np.ndarray]]]
    math_names: str


GOALS = {"W1b": BigArrayGoal(0.15, 1, 1, _w1_math, "sin and cos"),
         "W4": BigArrayGoal(0.12, 2, 2, _w4_math, "sin, cos, tanh, exp and log1p")}
BANDWIDTH_GOAL = 0.40
JIT, NUMPY = "jitgrad jit", "NumPy (hand-written grads)"
#: Element counts whose arrays stay in this CPU's L2 (W4 at the larger: four 256 KiB arrays); both
#: below the parallel threshold, so the compiled loop runs serially, on one thread.
IN_CACHE_SIZES = (16_384, 65_536)


def per_element_s(make: Callable[[int], Callable[[], Any]], sizes: tuple[int, int] = IN_CACHE_SIZES,
                  seconds: float = 0.05) -> float:
    """Seconds per element of `make(n)()`: the slope of its best call time between two sizes, so
    the fixed cost of a call (argument checks, allocation, dispatch) cancels out."""
    best = []
    for n in sizes:
        fn = make(n)
        fn()  # (compiles for this shape, warms the cache)
        reps = max(3, int(seconds / max(_mean_of(fn, 1), 1e-7)))
        best.append(min(_mean_of(fn, reps) for _ in range(5)))
    return max(best[1] - best[0], 0.0) / (sizes[1] - sizes[0])


def _mean_of(fn: Callable[[], Any], reps: int) -> float:
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t) / reps


def compute_floor(key: str, sizes: tuple[int, int] = IN_CACHE_SIZES) -> dict:
    """Seconds per element, with the data in cache, of row `key`'s compiled value-and-gradient call
    (`loop_s`) and of its transcendental calls through NumPy's ufuncs (`ufuncs_s`)."""
    from .workloads import CASES, jitgrad_jit

    case = next(c for c in CASES if c.key == key)
    goal = GOALS[key]

    def ufuncs(n: int) -> Callable[[], None]:
        calls = [(f, x, np.empty_like(x)) for f, x in goal.math(case.make_inputs(n))]

        def run() -> None:
            for f, x, out in calls:
                f(x, out=out)
        return run

    return {"loop_s": per_element_s(lambda n: jitgrad_jit.FACTORIES[case.workload](case.make_inputs(n)), sizes),
            "ufuncs_s": per_element_s(ufuncs, sizes)}


def triad_gbps(n: int, reps: int = 10) -> float:
    """Best GB/s of a = b + s*c over n float32 elements (3 arrays moved, STREAM's count)."""
    from numba import njit, prange

    @njit(parallel=True, fastmath={"contract"}, error_model="numpy")
    def triad(a, b, c, s):
        for i in prange(a.size):
            a[i] = b[i] + s * c[i]

    a, b, c = np.zeros(n, np.float32), np.ones(n, np.float32), np.full(n, 2.0, np.float32)
    triad(a, b, c, np.float32(3.0))
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        triad(a, b, c, np.float32(3.0))
        best = min(best, time.perf_counter() - t)
    return 3 * 4 * n / best / 1e9


def goal_rows(report: dict, floors: bool | None = None) -> list[dict]:
    """The W1b/W4 goal records of a benchmark report (rows not run are left out). `floors`: time
    each row's compute floor too (default: where N is large enough for cache to matter)."""
    import numba

    threads = numba.get_num_threads()
    out = []
    for row in report["rows"]:
        if row["key"] not in GOALS:
            continue
        goal = GOALS[row["key"]]
        jit, base = row["cells"].get(JIT, {}), row["cells"].get(NUMPY, {})
        if jit.get("status") != "ok" or base.get("status") != "ok":
            continue
        n = row["size"]
        bytes_per_element = (goal.reads + goal.writes) * 4
        gbps = bytes_per_element * n / jit["min_s"] / 1e9
        triad = triad_gbps(n)
        record = {"row": row["key"], "n": n, "ratio": jit["median_s"] / base["median_s"], "max_ratio": goal.max_ratio,
                  "gbps": gbps, "triad_gbps": triad, "fraction": gbps / triad, "threads": threads,
                  "budget_s": goal.max_ratio * base["median_s"] * threads / n,
                  "bytes_per_element": bytes_per_element, "math": goal.math_names}
        if floors or (floors is None and n >= 4 * IN_CACHE_SIZES[1]):
            record.update(compute_floor(row["key"]))
        out.append(record)
    return out


def _ns(seconds: float) -> str:
    return f"{seconds * 1e9:.2f} ns"


def floor_lines(r: dict) -> list[str]:
    """Under a row whose goals are not all met, where its compute floor stands against them."""
    speed_met, bw_met = r["ratio"] <= r["max_ratio"], r["fraction"] >= BANDWIDTH_GOAL
    if "loop_s" not in r or (speed_met and bw_met):
        return []
    on = f"on {r['threads']} thread{'s' if r['threads'] > 1 else ''}"
    loop = (f"the compiled loop takes {_ns(r['loop_s'])} per element with its data in cache, and its "
            f"{r['math']} alone through NumPy's SIMD ufuncs take {_ns(r['ufuncs_s'])}")
    lines = []
    if not speed_met:
        budget = (f"{on} the ≤ {r['max_ratio']:g}× goal leaves {_ns(r['budget_s'])} per element and thread "
                  f"for the whole call, memory traffic included")
        if r["loop_s"] > r["budget_s"]:
            lines.append(f"- {r['row']}: out of reach here: {budget}; {loop}")
        else:
            lines.append(f"- {r['row']}: floor: {budget}; {loop}: the rest is waiting for memory")
    if not bw_met and r["loop_s"] > 0:
        most = r["bytes_per_element"] * r["threads"] / r["loop_s"] / 1e9
        verdict = "out of reach here" if most < BANDWIDTH_GOAL * r["triad_gbps"] else "floor"
        lines.append(f"- {r['row']}: {verdict}: at the in-cache speed of its loop {on}, the call could move at most "
                     f"{most:.1f} GB/s ({most / r['triad_gbps']:.0%} of the triad; goal ≥ {BANDWIDTH_GOAL:.0%})")
    return lines


def markdown(rows: list[dict]) -> str:
    """The big-array goals, each printed as met or not, with the compute floor under those not met."""
    lines = ["", "## Big-array goals (jitgrad jit, same run)", "",
             "| row | N | jit / NumPy | goal | GB/s (best call) | triad GB/s | fraction | goal ≥ 40% |",
             "|---|---:|---:|---|---:|---:|---:|---|"]
    below = []
    for r in rows:
        speed = f"≤ {r['max_ratio']:g}× {'met' if r['ratio'] <= r['max_ratio'] else 'NOT met'}"
        bw = "met" if r["fraction"] >= BANDWIDTH_GOAL else "NOT met"
        lines.append(f"| {r['row']} | {r['n']:,} | {r['ratio']:.3f} | {speed} | {r['gbps']:.1f} "
                     f"| {r['triad_gbps']:.1f} | {r['fraction']:.0%} | {bw} |")
        below += floor_lines(r)
    return "\n".join(lines + ([""] + below if below else []))
