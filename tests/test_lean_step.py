"""A whole training step under jit called again with the same arguments (jitgrad/lean_step.py):
memory nobody else holds is reused -- last step's `.grad`, the loss returned two steps ago -- and
whatever somebody holds, or whatever the step's assumptions no longer match, is left alone, with
the same values as eager steps."""
from __future__ import annotations

import weakref

import numpy as np
import pytest

import jitgrad as jg
from jitgrad.lean_step import LeanStep


def _setup(lr: float = 0.05):
    rng = np.random.default_rng(1)
    x, y = jg.tensor(rng.standard_normal(7)), jg.tensor(rng.standard_normal(7))
    p = jg.tensor([1.0, 0.5], dtype=jg.float64, requires_grad=True)
    opt = jg.optim.SGD([p], lr=lr)

    def step(x, y):
        opt.zero_grad()
        loss = ((p[0] * x + p[1] - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss
    return x, y, p, opt, step


def _warm(fn, x, y):
    fn(x, y)
    fn(x, y)
    assert isinstance(fn._lean.plan, LeanStep)


def test_unheld_loss_and_grad_are_reused_and_values_match_eager():
    x, y, p, _, step = _setup()
    xe, ye, pe, _, eager = _setup()
    fn = jg.jit(step)
    _warm(fn, x, y)
    eager(xe, ye)
    eager(xe, ye)
    loss_ids, grad_ids = set(), set()
    loss = None
    for _ in range(6):
        loss = fn(x, y)
        expected = eager(xe, ye)
        loss_ids.add(id(loss))
        grad_ids.add(id(p.grad))
        assert float(loss) == pytest.approx(float(expected), rel=1e-12)
        np.testing.assert_allclose(p.grad.numpy(), pe.grad.numpy(), rtol=1e-12)
        np.testing.assert_allclose(p.detach().numpy(), pe.detach().numpy(), rtol=1e-12)
        assert p.grad._version == 0 and loss._version == 0
    assert len(loss_ids) == 2  # two tensors take turns
    assert len(grad_ids) == 1  # last step's gradient, which nobody held, holds this step's


def test_kept_losses_never_change():
    x, y, _, _, step = _setup()
    xe, ye, _, _, eager = _setup()
    fn = jg.jit(step)
    kept = [fn(x, y) for _ in range(5)]
    expected = [float(eager(xe, ye)) for _ in range(5)]
    assert len({id(t) for t in kept}) == 5
    np.testing.assert_allclose([float(t) for t in kept], expected, rtol=1e-12)
    view = fn(x, y).numpy()  # a kept array of a loss that was dropped
    value = view.copy()
    fn(x, y)
    fn(x, y)
    np.testing.assert_array_equal(view, value)


def _hold(g, how: str):
    """What a user keeps of last step's gradient."""
    return {"tensor": lambda: g, "array": lambda: g._data, "weakref": lambda: weakref.ref(g),
            "view": lambda: g[0]}.get(how, lambda: None)()


@pytest.mark.parametrize("hold", ["tensor", "array", "weakref", "view", "requires_grad"])
def test_a_held_or_changed_grad_is_not_reused(hold):
    x, y, p, _, step = _setup()
    fn = jg.jit(step)
    _warm(fn, x, y)
    g = p.grad
    values = g.numpy().copy()
    held = _hold(g, hold)
    if hold == "requires_grad":
        g.requires_grad_()
    del g
    fn(x, y)
    old = {"tensor": lambda: held, "weakref": lambda: held(), "view": lambda: held._base}.get(hold, lambda: None)()
    if old is not None:
        assert p.grad is not old
        np.testing.assert_array_equal(old.numpy(), values)
    if hold == "array":
        assert p.grad._data is not held
        np.testing.assert_array_equal(held, values)
    assert not p.grad.requires_grad and p.grad._version == 0 and not np.array_equal(p.grad.numpy(), values)


def test_grad_changed_in_place_and_dropped_is_reused_at_version_zero():
    x, y, p, _, step = _setup()
    xe, ye, pe, _, eager = _setup()
    fn = jg.jit(step)
    _warm(fn, x, y)
    eager(xe, ye)
    eager(xe, ye)
    for _ in range(3):
        with jg.no_grad():
            p.grad.mul_(0.5)  # (clipping, say) -- then dropped by the next step's zero_grad()
            pe.grad.mul_(0.5)
        fn(x, y)
        eager(xe, ye)
        assert p.grad._version == 0
        np.testing.assert_allclose(p.grad.numpy(), pe.grad.numpy(), rtol=1e-12)
        np.testing.assert_allclose(p.detach().numpy(), pe.detach().numpy(), rtol=1e-12)


def test_loss_given_requires_grad_or_a_weakref_is_not_reused():
    x, y, _, _, step = _setup()
    fn = jg.jit(step)
    _warm(fn, x, y)
    a = fn(x, y)
    a.requires_grad_()
    b = fn(x, y)
    ref_a, ref_b = weakref.ref(a), weakref.ref(b)
    value_b = float(b)
    del a, b
    c = fn(x, y)
    d = fn(x, y)
    assert not c.requires_grad and not d.requires_grad
    for ref in (ref_a, ref_b):  # not reused (freed, or still held by the plan with the value it had)
        assert ref() is not c and ref() is not d
    assert ref_b() is None or float(ref_b()) == value_b


def test_changes_between_lean_steps_are_seen():
    """Another argument object, a replaced parameter storage, a new learning rate, requires_grad
    switched off: each gives what eager steps give."""
    x, y, p, opt, step = _setup()
    xe, ye, pe, opte, eager = _setup()
    fn = jg.jit(step)

    def both():
        loss = fn(x, y)
        expected = eager(xe, ye)
        np.testing.assert_allclose(float(loss), float(expected), rtol=1e-12)
        np.testing.assert_allclose(p.detach().numpy(), pe.detach().numpy(), rtol=1e-12)
        return loss
    for _ in range(3):
        both()
    opt.param_groups[0]["lr"] = opte.param_groups[0]["lr"] = 0.2
    for _ in range(2):
        both()
    x = jg.tensor(x.numpy() * 2.0)  # another argument object
    xe = jg.tensor(xe.numpy() * 2.0)
    for _ in range(2):
        both()
    with jg.no_grad():  # the parameter's storage replaced
        p.data = jg.tensor([0.25, -1.0], dtype=jg.float64)
        pe.data = jg.tensor([0.25, -1.0], dtype=jg.float64)
    for _ in range(2):
        both()
    np.testing.assert_allclose(p.grad.numpy(), pe.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("returns", ["nothing", "two"])
def test_steps_returning_nothing_or_two_outputs(returns):
    def make():
        x, y, p, opt, _ = _setup()

        def step(x, y):
            opt.zero_grad()
            pred = p[0] * x + p[1]
            loss = ((pred - y) ** 2).mean()
            loss.backward()
            opt.step()
            return None if returns == "nothing" else (loss, pred.sum())
        return x, y, p, step
    x, y, p, step = make()
    xe, ye, pe, eager = make()
    fn = jg.jit(step)
    kept = []
    for i in range(5):
        out, expected = fn(x, y), eager(xe, ye)
        if returns == "nothing":
            assert out is None
        else:
            np.testing.assert_allclose([float(t) for t in out], [float(t) for t in expected], rtol=1e-12)
            if i % 2:
                kept.append((out, [float(t) for t in out]))
        np.testing.assert_allclose(p.detach().numpy(), pe.detach().numpy(), rtol=1e-12)
    assert isinstance(fn._lean.plan, LeanStep)
    for out, values in kept:
        assert [float(t) for t in out] == values
