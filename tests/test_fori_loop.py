"""jitgrad.fori_loop: the body traced once and compiled as a loop (JAX's semantics)."""
from __future__ import annotations

import numpy as np
import pytest

import jitgrad as jg


def test_index_and_state_as_in_a_python_loop():
    def body(i, state):
        total, x = state
        return total + i.to(jg.float64) * x.sum(), x * 0.5
    init = (np.float64(0.0), np.array([1.0, 3.0]))
    total, x = jg.fori_loop(2, 7, body, init)
    want_total, want_x = 0.0, np.array([1.0, 3.0])
    for i in range(2, 7):
        want_total, want_x = want_total + i * want_x.sum(), want_x * 0.5
    np.testing.assert_allclose(total, want_total, rtol=1e-14)
    np.testing.assert_allclose(x, want_x, rtol=1e-14)
    assert isinstance(x, np.ndarray)


def test_gradient_descent_matches_python_loop_and_traces_once():
    xs, ys = np.linspace(0, 1, 5), np.linspace(1, 3, 5)
    traces = []
    loss_and_grad = jg.value_and_grad(lambda p: ((p[0] * jg.tensor(xs) + p[1] - jg.tensor(ys)) ** 2).mean())

    def body(i, state):
        traces.append(i)
        p, _ = state
        loss, g = loss_and_grad(p)
        return p - 0.1 * g, loss

    p, loss = jg.fori_loop(50, body, (jg.tensor([0.0, 0.0], dtype=jg.float64), np.float64(0.0)))
    assert len(traces) == 1 and isinstance(p, jg.Tensor)
    q = np.zeros(2)
    for _ in range(50):
        err = q[0] * xs + q[1] - ys
        want_loss = (err ** 2).mean()
        q = q - 0.1 * np.array([2 * (err * xs).mean(), 2 * err.mean()])
    np.testing.assert_allclose(p.numpy(), q, rtol=1e-12)
    np.testing.assert_allclose(loss.numpy(), want_loss, rtol=1e-12)
    jg.fori_loop(50, body, (jg.tensor([0.0, 0.0], dtype=jg.float64), np.float64(0.0)))
    assert len(traces) == 1  # (cached: same body, same state types)
    from jitgrad import loops
    assert any(loop._loop is not None for loop in loops._cache.values())  # a compiled loop, not Python's


def test_empty_range_returns_init():
    x = np.arange(3.0)
    np.testing.assert_array_equal(jg.fori_loop(3, 3, lambda i, s: s * 2, x), x)


def test_body_must_keep_structure_and_types():
    with pytest.raises(TypeError, match="structure"):
        jg.fori_loop(3, lambda i, s: (s, s), np.ones(2))
    with pytest.raises(TypeError, match="shape and dtype"):
        jg.fori_loop(3, lambda i, s: s.sum(), np.ones(2))


def test_bounds_must_be_ints():
    with pytest.raises(TypeError, match="upper must be a Python int"):
        jg.fori_loop(0, 2.5, lambda i, s: s, np.ones(2))


def test_impure_body_refused():
    w = jg.tensor([1.0, 2.0])

    def body(i, s):
        w.mul_(2.0)
        return s + w
    with pytest.raises(jg.TracingError, match="pure function"):
        jg.fori_loop(3, body, np.zeros(2))
