"""An argument that shares storage with a tensor a compiled function writes in place, read after the
write, sees the new values as in eager mode (alias_reads.py: such calls run eagerly, with one warning)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import jitgrad as jg
from jitgrad.alias_reads import aliased_read, reads_after_writes


def _sgd_run(compiled: bool, make_arg, momentum: float, read_after: bool, steps: int = 4):
    """Losses, parameter values and gradients of `steps` SGD steps whose argument comes from `make_arg(p)`."""
    p = jg.tensor([1.0, -2.0, 0.5], dtype=jg.float64, requires_grad=True)
    opt = jg.optim.SGD([p], lr=0.1, momentum=momentum)

    def step(a):
        opt.zero_grad()
        loss = (p * p).sum() + 0.5 * (a * p[-a.shape[0]:]).sum()
        loss.backward()
        opt.step()
        return loss + (a * a).sum() if read_after else loss
    fn = jg.jit(step) if compiled else step
    a = make_arg(p)
    out = []
    for _ in range(steps):
        loss = fn(a)
        out.append((float(loss), p.detach().numpy().copy(), p.grad.numpy().copy()))
    return out


def _assert_same(eager, compiled) -> None:
    for (le, pe, ge), (lc, pc, gc) in zip(eager, compiled, strict=True):
        np.testing.assert_allclose(lc, le, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(pc, pe, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(gc, ge, rtol=1e-12, atol=1e-12)


ARGS = {"detached": lambda p: p.detach(), "slice view": lambda p: p.detach()[1:]}


@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("arg", sorted(ARGS))
def test_alias_of_a_parameter_read_after_the_step_sees_the_new_values(arg: str, momentum: float):
    """Fails on the old main: the compiled step read the argument's values from before opt.step()."""
    eager = _sgd_run(False, ARGS[arg], momentum, True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compiled = _sgd_run(True, ARGS[arg], momentum, True)
    _assert_same(eager, compiled)
    assert sum("updates in place" in str(w.message) for w in caught) == 1  # one warning, not one per call


@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("arg", sorted(ARGS))
def test_alias_read_only_before_the_step_stays_compiled(arg: str, momentum: float):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _assert_same(_sgd_run(False, ARGS[arg], momentum, False), _sgd_run(True, ARGS[arg], momentum, False))


def test_argument_read_after_the_step_without_alias_stays_compiled():
    """A copy of the parameter (no shared storage) is read after the step: the compiled program runs."""
    def copy(p):
        return p.detach().clone()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (an eager call would warn)
        _assert_same(_sgd_run(False, copy, 0.9, True), _sgd_run(True, copy, 0.9, True))


def test_the_parameter_itself_as_an_argument_of_a_step_is_refused():
    p = jg.tensor([1.0, 2.0], dtype=jg.float64, requires_grad=True)
    opt = jg.optim.SGD([p], lr=0.1)

    def step(a):
        opt.zero_grad()
        (a * a).sum().backward()
        opt.step()
        return a.sum()
    with pytest.raises(jg.TracingError, match="parameter passed as an argument"):
        jg.jit(step)(p)


def _buffer_run(compiled: bool, update: str, steps: int = 3):
    """Steps without an optimizer that update a buffer in place under no_grad (running statistics, as
    BatchNorm keeps), with an argument aliasing the buffer (a slice of its detach()) read after the update."""
    w = jg.tensor([1.0, -2.0, 0.5], dtype=jg.float64, requires_grad=True)
    running = jg.tensor([0.5, 1.0, 1.5], dtype=jg.float64)

    def step(x, r):
        w.grad = None
        loss = ((w * x - 0.25) ** 2).sum()
        loss.backward()
        with jg.no_grad():
            if update == "isub":
                buf = running
                buf -= 0.1 * x
            else:
                running.mul_(0.5).add_(x * w, alpha=0.5)
        return loss + (r * 3.0).sum()
    fn = jg.jit(step) if compiled else step
    x, r = jg.tensor([0.3, 0.2, -0.1], dtype=jg.float64), running.detach()[1:]
    out = []
    for _ in range(steps):
        loss = fn(x, r)
        out.append((float(loss), running.numpy().copy(), w.grad.numpy().copy()))
    return out


@pytest.mark.parametrize("update", ["isub", "mul_add_"])
def test_in_place_buffer_update_without_an_optimizer_is_read_through_an_alias(update: str):
    """Fails on the old main (the buffer's values from before the update)."""
    eager = _buffer_run(False, update)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = _buffer_run(True, update)
    _assert_same(eager, compiled)


def test_manual_parameter_update_in_a_compiled_function_is_refused():
    """(The no-optimizer ``p -= lr * p.grad`` on a parameter is refused with a clear error, not compiled.)"""
    p = jg.tensor([1.0, 2.0], dtype=jg.float64, requires_grad=True)

    def step(a):
        nonlocal p
        (p * p).sum().backward()
        with jg.no_grad():
            p -= 0.1 * p.grad
        return a.sum()
    with pytest.raises(jg.TracingError, match="a leaf that requires grad"):
        jg.jit(step)(p.detach())


def _jit_grad_run(compiled: bool, steps: int = 3):
    buf = jg.zeros(3, dtype=jg.float64)
    w = jg.tensor([1.0, 2.0, 3.0], dtype=jg.float64, requires_grad=True)

    def f(w, b):
        buf.add_(w.detach())
        return (w * b).sum()
    g = jg.jit_grad(f) if compiled else f
    b = buf.detach()
    out = []
    for _ in range(steps):
        w.grad = None
        loss = g(w, b)
        loss.backward()
        out.append((float(loss), buf.numpy().copy(), w.grad.numpy().copy()))
    return out


def test_jit_grad_reads_an_aliased_argument_after_the_in_place_write():
    """Fails on the old main: the loss and gradient used the buffer's values from before buf.add_."""
    eager = _jit_grad_run(False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = _jit_grad_run(True)
    _assert_same(eager, compiled)


def test_reads_after_writes_follows_views_and_ignores_dead_code():
    b = jg.ir.Builder()
    x = b.input((3,), jg.float64)
    view = b.emit(jg.prims.BY_NAME["reshape"], (x,), {"shape": (3, 1)}, (3, 1), x.dtype)  # before the write
    dead = b.emit(jg.prims.BY_NAME["exp"], (x,), {}, (3,), x.dtype)  # after it, but unused
    late = b.emit(jg.prims.BY_NAME["exp"], (view,), {}, (3, 1), x.dtype)  # after it, through the view
    assert dead is not None
    assert reads_after_writes(b.eqns, [late], [late], [x], [1]) == ((0, (0,)),)
    assert reads_after_writes(b.eqns, [view], [], [x], [1]) == ()


def test_aliased_read_is_exact_for_disjoint_slices():
    p = jg.zeros(4, dtype=jg.float64)
    assert not aliased_read(((0, (0,)),), [(p, 1)], [jg.zeros(4)])
    store = np.zeros(8)
    assert not aliased_read(((0, (0,)),), [(1, 1)], [store[::2], store[1::2]])
    assert aliased_read(((0, (0,)),), [(1, 1)], [store[2:5], store[4:]])


def _argument_write_run(compiled: bool):
    x = jg.tensor([1.0, 2.0, 3.0], dtype=jg.float64)

    def f(x, v):
        x.add_(1.0)
        return v.sum() * 2
    g = jg.jit(f) if compiled else f
    return [(float(g(x, x[1:])), x.numpy().copy(), np.zeros(1)) for _ in range(3)]


def test_an_argument_written_in_place_is_read_through_another_argument():
    """Fails on the old main (10.0 where eager gives 14.0: the view read the value before x.add_)."""
    eager = _argument_write_run(False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = _argument_write_run(True)
    _assert_same(eager, compiled)


def _view_before_step_run(compiled: bool):
    p = jg.tensor([1.0, -2.0, 0.5], dtype=jg.float64, requires_grad=True)
    opt = jg.optim.Adam([p], lr=0.1)

    def step(a):
        v = a.reshape(3, 1)  # a view made before the update, read after it
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        opt.step()
        return loss + (v * v).sum()
    g = jg.jit(step) if compiled else step
    a = p.detach()
    return [(float(g(a)), p.detach().numpy().copy(), p.grad.numpy().copy()) for _ in range(3)]


def test_a_view_of_an_aliased_argument_made_before_the_step_is_read_after_it():
    """Fails on the old main (Adam; the view read the parameter's value from before opt.step())."""
    eager = _view_before_step_run(False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = _view_before_step_run(True)
    _assert_same(eager, compiled)
