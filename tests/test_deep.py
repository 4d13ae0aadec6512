"""Deep graphs: backward is iterative (no recursion limit), linear in the graph size, and
freeing a 10,000-deep graph does not overflow the stack."""
from __future__ import annotations

import gc
import sys
import time

import numpy as np

import jitgrad as jg


def _chain(n: int):
    x = jg.tensor([0.5, -0.25], dtype=jg.float64, requires_grad=True)
    z = x
    for _ in range(n):
        z = z * 1.0001 + 0.001
    return x, z


def _timed_backward(n: int) -> float:
    x, z = _chain(n)
    start = time.perf_counter()
    z.sum().backward()
    elapsed = time.perf_counter() - start
    np.testing.assert_allclose(x.grad.numpy(), [1.0001 ** n] * 2, rtol=1e-9)
    return elapsed


def test_backward_through_10000_ops_without_recursion_error():
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(min(limit, 1000))  # make any recursion fail loudly
    try:
        x = jg.tensor([1.5], dtype=jg.float64, requires_grad=True)
        z = x
        for _ in range(10_000):
            z = z.sin() + z
        (g,) = jg.autograd.grad(z.sum(), x)
    finally:
        sys.setrecursionlimit(limit)
    # same value computed in NumPy by the chain rule
    v, d = np.array([1.5]), np.array([1.0])
    for _ in range(10_000):
        d = d * (np.cos(v) + 1)
        v = np.sin(v) + v
    np.testing.assert_allclose(g.numpy(), d, rtol=1e-9)


def test_division_multiplication_loop_1000_steps():
    x = jg.tensor([1.1, 0.9], dtype=jg.float64, requires_grad=True)
    y = jg.tensor([1.05, 0.95], dtype=jg.float64, requires_grad=True)
    z = jg.ones(2, dtype=jg.float64)
    for _ in range(1000):
        z = (z / x) * y
    z.sum().backward()
    xv, yv = np.array([1.1, 0.9]), np.array([1.05, 0.95])
    zv = (yv / xv) ** 1000
    np.testing.assert_allclose(z.detach().numpy(), zv, rtol=1e-9)
    np.testing.assert_allclose(x.grad.numpy(), -1000 * zv / xv, rtol=1e-9)
    np.testing.assert_allclose(y.grad.numpy(), 1000 * zv / yv, rtol=1e-9)


def test_backward_time_grows_linearly():
    _timed_backward(200)  # warm up
    small = min(_timed_backward(1_000) for _ in range(3))
    large = min(_timed_backward(10_000) for _ in range(2))
    assert large < 30 * small, f"10k ops took {large:.3f}s, 1k ops {small:.3f}s: worse than linear"


def test_deleting_a_10000_deep_graph_does_not_crash():
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(min(limit, 1000))
    try:
        x, z = _chain(10_000)
        del x, z  # refcount cascade through 20,000 nodes
        gc.collect()
        x, z = _chain(10_000)
        z.sum().backward()  # freeing saved values and the graph after backward
        del z
        gc.collect()
    finally:
        sys.setrecursionlimit(limit)
