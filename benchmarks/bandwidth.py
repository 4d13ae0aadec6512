"""Big-array goals (issue 20): W1 and W4 against NumPy and against the machine's memory bandwidth.

A STREAM-like triad (a = b + s*c, float32, Numba prange on the benchmark's threads) is measured
in the same run at the row's N; a row's achieved bandwidth counts the bytes its compiled
value-and-gradient call must move at least (inputs read once, gradients written once).
"""
from __future__ import annotations

import time

import numpy as np

#: row key -> (max ratio jitgrad jit / NumPy, float32 arrays read, float32 arrays written)
GOALS = {"W1b": (0.15, 1, 1), "W4": (0.12, 2, 2)}
BANDWIDTH_GOAL = 0.40
JIT, NUMPY = "jitgrad jit", "NumPy (hand-written grads)"


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


def goal_rows(report: dict) -> list[dict]:
    """The W1b/W4 goal records of a benchmark report (rows not run are left out)."""
    out = []
    for row in report["rows"]:
        if row["key"] not in GOALS:
            continue
        max_ratio, reads, writes = GOALS[row["key"]]
        jit, base = row["cells"].get(JIT, {}), row["cells"].get(NUMPY, {})
        if jit.get("status") != "ok" or base.get("status") != "ok":
            continue
        n = row["size"]
        gbps = (reads + writes) * 4 * n / jit["min_s"] / 1e9
        triad = triad_gbps(n)
        out.append({"row": row["key"], "n": n, "ratio": jit["median_s"] / base["median_s"], "max_ratio": max_ratio,
                    "gbps": gbps, "triad_gbps": triad, "fraction": gbps / triad})
    return out


def markdown(rows: list[dict]) -> str:
    """The big-array goals, each printed as met or not."""
    lines = ["", "## Big-array goals (jitgrad jit, same run)", "",
             "| row | N | jit / NumPy | goal | GB/s (best call) | triad GB/s | fraction | goal ≥ 40% |",
             "|---|---:|---:|---|---:|---:|---:|---|"]
    for r in rows:
        speed = f"≤ {r['max_ratio']:g}× {'met' if r['ratio'] <= r['max_ratio'] else 'NOT met'}"
        bw = "met" if r["fraction"] >= BANDWIDTH_GOAL else "NOT met"
        lines.append(f"| {r['row']} | {r['n']:,} | {r['ratio']:.3f} | {speed} | {r['gbps']:.1f} "
                     f"| {r['triad_gbps']:.1f} | {r['fraction']:.0%} | {bw} |")
    return "\n".join(lines)
