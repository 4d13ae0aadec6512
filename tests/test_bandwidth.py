"""The big-array goal table (benchmarks.bandwidth): goals judged from a report, compute floors timed
with data in cache, and the lines that say where a goal not met stands against its floor."""
from __future__ import annotations

import time

import numpy as np
import pytest

from benchmarks import bandwidth
from benchmarks.bandwidth import JIT, NUMPY


def _report(jit_s: float, numpy_s: float, n: int = 1000) -> dict:
    cell = {"status": "ok", "median_s": jit_s, "min_s": jit_s}
    return {"rows": [{"key": "W1b", "size": n, "cells": {JIT: cell, NUMPY: {**cell, "median_s": numpy_s}}},
                     {"key": "W2", "size": n, "cells": {}}]}


def _record(**kw) -> dict:
    base = {"row": "W4", "n": 4_000_000, "ratio": 0.3, "max_ratio": 0.12, "gbps": 12.0, "triad_gbps": 40.0,
            "fraction": 0.3, "threads": 2, "budget_s": 1.6e-9, "bytes_per_element": 16,
            "math": "sin and cos", "loop_s": 2.4e-9, "ufuncs_s": 2.6e-9}
    return {**base, **kw}


def test_goal_rows_judges_ratio_and_bandwidth_of_the_big_array_rows_only():
    rows = bandwidth.goal_rows(_report(jit_s=1e-4, numpy_s=1e-3), floors=False)
    assert [r["row"] for r in rows] == ["W1b"]
    (r,) = rows
    assert r["ratio"] == pytest.approx(0.1) and r["max_ratio"] == 0.15
    assert r["gbps"] == pytest.approx(8 * 1000 / 1e-4 / 1e9)           # one array read, one written
    assert r["fraction"] == pytest.approx(r["gbps"] / r["triad_gbps"])
    assert r["budget_s"] == pytest.approx(0.15 * 1e-3 * r["threads"] / 1000)
    assert "loop_s" not in r                                            # small N: no floor timed
    assert "≤ 0.15× met" in bandwidth.markdown(rows)
    slow = bandwidth.goal_rows(_report(jit_s=1e-3, numpy_s=1e-3), floors=False)
    assert "≤ 0.15× NOT met" in bandwidth.markdown(slow)


def test_rows_without_both_cells_are_left_out():
    report = _report(1e-4, 1e-3)
    report["rows"][0]["cells"][JIT] = {"status": "error"}
    assert bandwidth.goal_rows(report, floors=False) == []


def test_per_element_time_is_the_slope_so_a_fixed_cost_cancels():
    def make(n):
        a = np.ones(n, np.float32)
        out = np.empty_like(a)

        def run():
            time.sleep(2e-4)            # a fixed cost per call, as large as the work
            np.sin(a, out=out)
        return run
    slope = bandwidth.per_element_s(make, sizes=(4096, 65_536), seconds=0.01)
    with_fixed_cost = min(bandwidth._mean_of(make(65_536), 5) for _ in range(3)) / 65_536
    assert 0 < slope < with_fixed_cost
    assert bandwidth.per_element_s(lambda n: lambda: None, sizes=(10, 20), seconds=0.001) < 1e-9


def test_compute_floor_times_the_compiled_loop_and_the_numpy_ufuncs():
    floor = bandwidth.compute_floor("W1b", sizes=(1024, 8192))
    assert floor["loop_s"] > 0 and floor["ufuncs_s"] > 0
    assert floor["loop_s"] < 1e-6 and floor["ufuncs_s"] < 1e-6      # ns per element, not a whole call
    calls = bandwidth.GOALS["W4"].math({"x": np.ones(4, np.float32), "y": np.ones(4, np.float32)})
    assert [f.__name__ for f, _ in calls] == ["sin", "cos", "tanh", "exp", "log1p"]
    assert all(x.dtype == np.float32 and x.shape == (4,) for _, x in calls)


def test_floor_lines_say_out_of_reach_when_the_loop_needs_more_than_the_goal_leaves():
    lines = bandwidth.floor_lines(_record())
    assert lines[0].startswith("- W4: out of reach here: on 2 threads the ≤ 0.12× goal leaves 1.60 ns")
    assert "2.40 ns per element with its data in cache" in lines[0] and "take 2.60 ns" in lines[0]
    most = 16 * 2 / 2.4e-9 / 1e9                                        # 13.3 GB/s, 33% of 40
    assert lines[1] == (f"- W4: out of reach here: at the in-cache speed of its loop on 2 threads, the call could "
                        f"move at most {most:.1f} GB/s ({most / 40:.0%} of the triad; goal ≥ 40%)")


def test_floor_lines_under_a_reachable_goal_and_none_under_goals_met():
    (line,) = bandwidth.floor_lines(_record(loop_s=1.0e-9, fraction=0.5))
    assert line.startswith("- W4: floor:") and line.endswith("the rest is waiting for memory")
    assert bandwidth.floor_lines(_record(ratio=0.1, fraction=0.5)) == []
    assert bandwidth.floor_lines({k: v for k, v in _record().items() if k != "loop_s"}) == []
    assert "- W4: out of reach here" in bandwidth.markdown([_record()])
