"""Lean generated code for small programs (issue 13): 0-d temporaries are scalar locals, short
loops run over their exact size without a padded scratch buffer, and a fori_loop's body is
inlined in its loop with every buffer allocated once and the state written in place."""
from __future__ import annotations

import re

import numpy as np
import pytest

import jitgrad as jg
from jitgrad import loops

XS = np.linspace(-1.0, 2.0, 11)
YS = np.linspace(0.5, 3.0, 11)


def _mse(p, x, y):
    return ((p[0] * x + p[1] - y) ** 2).mean()


def test_zero_d_temporaries_are_scalars_and_outputs_stay_arrays():
    value_and_grad = jg.value_and_grad(_mse)
    p, x, y = jg.tensor([0.5, -1.0], dtype=jg.float64), jg.tensor(XS), jg.tensor(YS)
    loss, grad = value_and_grad(p, x, y)
    text = value_and_grad.source(p, x, y)
    # only the loss (an output) is a 0-d array; p[0], p[1] and the gradient's two sums are scalars
    assert text.count("lib.empty((), ") == 1, text
    assert re.search(r"= in\d+\[0:1\]\[0\]", text), text
    q = jg.tensor([0.5, -1.0], dtype=jg.float64, requires_grad=True)
    want = _mse(q, x, y)
    want.backward()
    assert isinstance(loss, jg.Tensor) and loss.shape == ()
    np.testing.assert_allclose(loss.numpy(), want.detach().numpy(), rtol=1e-14)
    np.testing.assert_allclose(grad.numpy(), q.grad.numpy(), rtol=1e-14)


def test_short_loops_run_unpadded_long_chains_padded():
    value_and_grad = jg.value_and_grad(_mse)
    args = (jg.tensor([0.5, -1.0]), jg.tensor(XS.astype(np.float32)), jg.tensor(YS.astype(np.float32)))
    assert "_pad_" not in value_and_grad.source(*args)

    def chain(z, x, y):
        for _ in range(40):
            z = z / x * y
        return z
    compiled = jg.jit(chain)
    z, x, y = (jg.tensor(np.linspace(1.0, 2.0, 6) + k) for k in range(3))
    assert "_pad_" in compiled.source(z, x, y)  # (a long chain on 6 elements runs in vector lanes)
    np.testing.assert_allclose(compiled(z, x, y).numpy(), chain(z, x, y).numpy(), rtol=1e-13)


def _loop_of(body):
    return next(loop for key, loop in loops._cache.items() if key[0] is body)


def test_fori_body_inlined_without_allocations_per_iteration():
    loss_and_grad = jg.value_and_grad(lambda p: _mse(p, jg.tensor(XS), jg.tensor(YS)))

    def body(i, state):
        p, _ = state
        loss, g = loss_and_grad(p)
        return p - 0.1 * g, loss

    init = (np.array([0.0, 0.0]), np.float64(0.0))
    p, loss = jg.fori_loop(40, body, init)
    text = _loop_of(body)._loop[2]
    body_text = text[text.index("for _index in range("):]
    assert "empty(" not in body_text and "np.zeros" not in body_text and ".copy()" not in body_text, text
    q = np.zeros(2)
    for _ in range(40):
        err = q[0] * XS + q[1] - YS
        want_loss = (err ** 2).mean()
        q = q - 0.1 * np.array([2 * (err * XS).mean(), 2 * err.mean()])
    np.testing.assert_allclose(p, q, rtol=1e-12)
    np.testing.assert_allclose(loss, want_loss, rtol=1e-12)
    assert np.array_equal(init[0], [0.0, 0.0])  # (the caller's arrays are never written)


def _python_loop(n, body, state):
    for i in range(n):
        state = body(jg.tensor(i), state)
    return state


def test_fori_state_swapped_and_viewed_is_read_before_written():
    """New state values that are old state values (swapped) or views of them (reshape): the loop
    writes the state in place only after reading every new value."""
    def body(i, state):
        a, b, c = state
        return b.reshape(2, 3), a.reshape(3, 2) + 1.0, c

    init = (np.arange(6.0).reshape(2, 3), np.arange(6.0, 12.0).reshape(3, 2), np.array([7.0]))
    got = jg.fori_loop(5, body, init)
    want = _python_loop(5, body, tuple(jg.tensor(a) for a in init))
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w.numpy())


def test_fori_state_from_a_captured_tensor_leaves_it_unchanged():
    c = jg.tensor([1.0, 2.0], dtype=jg.float64)

    def body(i, state):
        (s, t) = state
        return c, s + t

    got = jg.fori_loop(4, body, (np.array([0.0, 0.0]), np.array([5.0, 5.0])))
    want = _python_loop(4, body, (jg.tensor([0.0, 0.0], dtype=jg.float64), jg.tensor([5.0, 5.0], dtype=jg.float64)))
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w.numpy())
    np.testing.assert_array_equal(c.numpy(), [1.0, 2.0])


def test_fori_loop_in_python_run_mode(monkeypatch: pytest.MonkeyPatch):
    """JITGRAD_CPU_KERNELS=python runs the loop's generated text as Python (the tests' fast path)."""
    monkeypatch.setenv("JITGRAD_CPU_KERNELS", "python")

    def body(i, state):
        total, x = state
        return total + i.to(jg.float64) * x.sum(), x * 0.5

    total, x = jg.fori_loop(1, 6, body, (np.float64(0.0), np.array([1.0, 3.0])))
    want_total, want_x = 0.0, np.array([1.0, 3.0])
    for i in range(1, 6):
        want_total, want_x = want_total + i * want_x.sum(), want_x * 0.5
    np.testing.assert_allclose(total, want_total, rtol=1e-14)
    np.testing.assert_allclose(x, want_x, rtol=1e-14)


def _check_against_python_loop(n, body, init):
    got = jg.fori_loop(n, body, init)
    want = _python_loop(n, body, tuple(jg.tensor(np.asarray(a)) for a in init))
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w.numpy(), rtol=1e-12)


def test_fori_inlined_loop_with_large_state_constants_and_library_calls():
    """Preallocated outputs and parallel loops (a large state), constants of the body's program,
    the index, and a matmul whose result the loop does not allocate itself."""
    _check_against_python_loop(3, lambda i, s: (s[0] * 0.5 + s[1].sum() * 1e-9, s[1] + 1.0),
                               (np.linspace(0, 1, 200_000), np.ones(70_000)))
    _check_against_python_loop(4, lambda i, s: (s[0] * jg.tensor(np.array([1.0, 2.0, 3.0])) + i.to(jg.float64),
                                                s[1] + 1), (np.ones(3), np.int64(0)))
    w = jg.tensor(np.random.default_rng(0).standard_normal((4, 4)) * 0.3)
    _check_against_python_loop(5, lambda i, s: ((w @ s[0]).tanh() + s[0][0:1, :] * 0.1,), (np.ones((4, 3)),))
    _check_against_python_loop(6, lambda i, s: ((s[0] * 3.0).sin() + 0.5,), (np.float64(0.3),))


def test_fori_body_run_as_kernels_loops_over_its_calls():
    """A body whose program runs as kernels and a Python driver (a convolution: see
    kernels.cpu.split_pays) cannot be inlined; the loop calls it once per index instead."""
    w = jg.tensor(np.random.default_rng(0).standard_normal((2, 2, 3, 3)) * 0.2)

    def body(i, s):
        return (jg.nn.functional.conv2d(s[0], w, padding=1).tanh() + s[0] * 0.5,)

    _check_against_python_loop(3, body, (np.ones((1, 2, 5, 5)),))
    assert _loop_of(body)._loop is False
