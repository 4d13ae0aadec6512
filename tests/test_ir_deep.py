"""Deep graphs: 3,000 iterations of z = (z / x) * y (6,000 forward equations, ~33,000 with the
adjoint) trace, differentiate, simplify, split and evaluate with no recursion, in time linear
in graph size (1k vs 10k VJP equations, generous bound)."""
from __future__ import annotations

import sys
import time

import numpy as np

import jitgrad as jg
from jitgrad.adjoint import split, vjp_graph
from jitgrad.interpret import evaluate
from jitgrad.simplify import PASSES, simplify
from jitgrad.tracing import make_ir

X = np.full(4, 1.001, np.float32)
Y = np.full(4, 0.999, np.float32)


def chain(x, y, n):
    z = x
    for _ in range(n):
        z = (z / x) * y
    return jg.sum(z)


def pipeline(n: int) -> dict:
    """Seconds for each stage on the n-iteration chain, and the graphs' sizes."""
    times, sizes = {}, {}
    t = time.process_time()
    graph = make_ir(chain, static_argnums=2)(X, Y, n)
    times["trace"] = time.process_time() - t
    t = time.process_time()
    vjp = vjp_graph(graph, wrt=(0, 1))
    times["vjp"] = time.process_time() - t
    for p in PASSES:
        t = time.process_time()
        p(vjp)
        times[p.__name__] = time.process_time() - t
    t = time.process_time()
    small = simplify(vjp)
    times["simplify"] = time.process_time() - t
    t = time.process_time()
    split(graph, wrt=(0, 1))
    times["split"] = time.process_time() - t
    t = time.process_time()
    res = evaluate(small, X, Y)
    times["evaluate"] = time.process_time() - t
    sizes.update(forward=len(graph), vjp=len(vjp), simplified=len(small))
    return {"times": times, "sizes": sizes, "result": res}


def test_deep_chain_is_correct_without_recursion():
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)  # anything recursive over the graph would fail here
    try:
        out = pipeline(3000)
    finally:
        sys.setrecursionlimit(limit)
    assert out["sizes"]["forward"] == 6001 and out["sizes"]["vjp"] > 30000
    value, gx, gy = out["result"]
    # z_n = x^(1-n) y^n per element: dz/dx = (1-n) (y/x)^n, dz/dy = n (x/y) (y/x)^n
    r = 0.999 / 1.001
    np.testing.assert_allclose(value, 4 * 1.001 * r ** 3000, rtol=2e-3)
    np.testing.assert_allclose(gx, (1 - 3000) * r ** 3000, rtol=2e-3)
    np.testing.assert_allclose(gy, 3000 * 1.001 / 0.999 * r ** 3000, rtol=2e-3)
    assert sum(out["times"].values()) < 30  # "a few seconds" on a quiet machine; generous here


def test_time_is_linear_in_graph_size():
    pipeline(50)  # warm up imports and caches
    smalls = [pipeline(83) for _ in range(3)]    # ~1,000 equations in the VJP graph
    big = pipeline(833)     # ~10,000
    ratio_size = big["sizes"]["vjp"] / smalls[0]["sizes"]["vjp"]
    for stage in ("trace", "vjp", "simplify", "split", "evaluate"):
        # process CPU time (other processes do not count), best of three small runs and a 2 ms floor:
        # millisecond timings are noise-dominated, and the bound is about growth, not about jitter
        small = min(r["times"][stage] for r in smalls)
        ratio = big["times"][stage] / max(small, 2e-3)
        assert ratio < 4 * ratio_size, f"{stage}: {ratio:.1f}x time for {ratio_size:.1f}x equations"
