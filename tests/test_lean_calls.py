"""The lean call paths of compiled functions and optimizers (issue 13, items 2 and 3): a call with
the same argument objects as the last one skips the signature work, and must still see every
change the full path would (requires_grad, storage, grad mode, in-place writes, options)."""
from __future__ import annotations

import numpy as np
import pytest

import jitgrad as jg
from jitgrad import compiled
from jitgrad.optim import fused, optimizer


def _data():
    rng = np.random.default_rng(0)
    return jg.tensor(rng.standard_normal(7)), jg.tensor(rng.standard_normal(7))


def _loss(p, x, y):
    return ((p[0] * x + p[1] - y) ** 2).mean()


def _train(loss_fn, steps: int, momentum: float = 0.0):
    x, y = _data()
    p = jg.tensor([1.0, 0.5], dtype=jg.float64, requires_grad=True)
    opt = jg.optim.SGD([p], lr=0.05, momentum=momentum)
    grads, losses = [], []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(p, x, y)
        loss.backward()
        grads.append(p.grad)
        losses.append(float(loss))
        opt.step()
    return p, opt, grads, losses


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_jit_grad_loop_matches_eager(momentum):
    pe, oe, ge, le = _train(_loss, 6, momentum)
    pc, oc, gc, lc = _train(jg.jit_grad(_loss), 6, momentum)
    np.testing.assert_allclose(lc, le, rtol=1e-12)
    np.testing.assert_allclose(pc.detach().numpy(), pe.detach().numpy(), rtol=1e-12)
    assert pc._version == pe._version
    for a, b in zip(gc, ge, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)
    assert len({id(g) for g in gc}) == len(gc)  # zero_grad() sets None: a new .grad tensor every step
    se, sc = oe.state_dict(), oc.state_dict()
    for k, v in se["state"].items():
        for name, value in v.items():
            np.testing.assert_allclose(np.asarray(sc["state"][k][name]), np.asarray(value), rtol=1e-12)


def test_jit_grad_same_arguments_skip_the_signature(monkeypatch):
    f = jg.jit_grad(_loss)
    x, y = _data()
    p = jg.tensor([1.0, 0.5], dtype=jg.float64, requires_grad=True)
    f(p, x, y).backward()
    f(p, x, y).backward()

    def refuse(*a, **k):
        raise AssertionError("signature rebuilt for the same arguments")
    monkeypatch.setattr(compiled, "_prepare", refuse)
    loss = f(p, x, y)
    loss.backward()
    np.testing.assert_allclose(float(loss), float(_loss(p, x, y)), rtol=1e-14)
    with pytest.raises(AssertionError, match="signature rebuilt"):  # another argument: the full path
        f(p, x, jg.tensor(np.zeros(7)))


def test_jit_grad_lean_path_sees_changes():
    f = jg.jit_grad(_loss)
    x, y = _data()
    p = jg.tensor([1.0, 0.5], dtype=jg.float64, requires_grad=True)
    for _ in range(2):
        f(p, x, y).backward()
    # a new storage for p: its values are used
    with jg.no_grad():
        p.data = jg.tensor([2.0, -1.0], dtype=jg.float64)
    np.testing.assert_allclose(float(f(p, x, y)), float(_loss(p, x, y)), rtol=1e-14)
    # x starts requiring grad: it gets a gradient
    x.requires_grad_()
    f(p, x, y).backward()
    f(p, x, y).backward()
    expected = x.grad.numpy().copy()
    x.grad = None
    _loss(p, x, y).backward()
    np.testing.assert_allclose(expected, 2 * x.grad.numpy(), rtol=1e-12)
    # no grad mode: the output has no graph
    with jg.no_grad():
        out = f(p, x, y)
    assert not out.requires_grad and out.grad_fn is None
    # an input with history: the gradient flows on through the engine
    q = jg.tensor([1.0, 1.0], dtype=jg.float64, requires_grad=True)
    r = jg.tensor([1.0, 1.0], dtype=jg.float64, requires_grad=True)
    p2, r2 = q * 2, r * 2
    for _ in range(2):
        f(p2, x, y).backward(retain_graph=True)
        _loss(r2, x, y).backward(retain_graph=True)
    np.testing.assert_allclose(q.grad.numpy(), r.grad.numpy(), rtol=1e-12)


def test_jit_grad_lean_path_refuses_stale_inputs():
    f = jg.jit_grad(_loss)
    x, y = _data()
    p = jg.tensor([1.0, 0.5], dtype=jg.float64, requires_grad=True)
    f(p, x, y)
    f(p, x, y)
    loss = f(p, x, y)
    with jg.no_grad():
        p.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_grad_of_a_tensor_that_starts_requiring_grad_is_differentiable():
    g = jg.grad(lambda x: (x ** 3).sum())
    x = jg.tensor([1.0, 2.0])
    g(x)
    g(x)
    x.requires_grad_()
    out = g(x)  # eager transform now (as on a first call): a gradient with a graph
    assert out.requires_grad
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 12.0])


def test_backward_to_leaves_keeps_the_program_output(monkeypatch):
    f = jg.jit_grad(lambda a, b: (a * b).sin().sum())
    a = jg.tensor([1.0, 2.0, 3.0], dtype=jg.float64, requires_grad=True)
    b = jg.tensor([0.5, -1.0, 2.0], dtype=jg.float64)
    f(a, b).backward()
    a.grad = None
    loss = f(a, b)
    entry = loss.grad_fn.entry
    runner = entry.backward_runner(entry.wrt)
    returned = []

    def recording(arrays):
        returned.append(runner(arrays))
        return returned[-1]
    monkeypatch.setattr(entry, "backward_runner", lambda wrt: recording)
    loss.backward()
    assert a.grad._data is returned[0][0]  # no copy of a fresh gradient
    np.testing.assert_allclose(a.grad.numpy(), b.numpy() * np.cos(a.detach().numpy() * b.numpy()), rtol=1e-14)


def test_gradient_that_is_an_input_is_copied_every_call():
    f = jg.jit_grad(lambda a, c: (a * c).sum())  # d/da = c, which the program may hand back as it is
    a = jg.tensor([1.0, 2.0], dtype=jg.float64, requires_grad=True)
    c = jg.tensor([3.0, 4.0], dtype=jg.float64)
    for _ in range(3):
        a.grad = None
        f(a, c).backward()
        assert not np.shares_memory(a.grad._data, c._data)
        a.grad.mul_(0)
        np.testing.assert_array_equal(c.numpy(), [3.0, 4.0])


def _two_optimizers(make):
    ps = [[jg.tensor(np.arange(1.0, 4.0) * k, requires_grad=True), jg.tensor(np.ones((2, 2)) * k, requires_grad=True)]
          for k in (1.0, 1.0)]
    return ps, make(ps[0], None), make(ps[1], False)  # (fused=False: the NumPy update, the reference)


@pytest.mark.parametrize("make", [
    lambda ps, fused: jg.optim.SGD(ps, lr=0.1, momentum=0.9, fused=fused),
    lambda ps, fused: jg.optim.Adam(ps, lr=0.01, fused=fused),
])
def test_optimizer_step_plan_follows_changes(make):
    (pa, pb), oa, ob = _two_optimizers(make)

    def step(params, opt, which=(0, 1), scale=1.0):
        opt.zero_grad()
        loss = sum(((p * scale) ** 2).sum() for i, p in enumerate(params) if i in which)
        loss.backward()
        opt.step()
    for params, opt in ((pa, oa), (pb, ob)):
        step(params, opt)
        step(params, opt)
        opt.param_groups[0]["lr"] *= 0.5  # a new learning rate
        step(params, opt)
        step(params, opt, which=(1,))  # one parameter without a gradient
        step(params, opt)
        with jg.no_grad():
            params[0].data = params[0].detach() * 1.5  # new storage
        step(params, opt, scale=2.0)
        opt.load_state_dict(opt.state_dict())
        step(params, opt)
        opt.param_groups[0]["weight_decay"] = 0.1  # another rule (flags): another kernel
        step(params, opt)
        opt.param_groups[0]["maximize"] = True
        step(params, opt)
        step(params, opt, which=(0,))
    for a, b in zip(pa, pb, strict=True):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-12)
        assert a._version == b._version


def test_optimizer_step_plan_skips_the_grouping(monkeypatch):
    ps = [jg.tensor([1.0, 2.0], requires_grad=True), jg.tensor([3.0], requires_grad=True)]
    opt = jg.optim.SGD(ps, lr=0.1)
    for _ in range(2):
        opt.zero_grad()
        sum((p * p).sum() for p in ps).backward()
        opt.step()

    def refuse(*a, **k):
        raise AssertionError("grouped again")
    monkeypatch.setattr(fused, "choose", refuse)
    monkeypatch.setattr(optimizer, "no_grad", refuse)  # (the plan runs NumPy and Numba only)
    before = [p.detach().numpy().copy() for p in ps]
    opt.zero_grad()
    sum((p * p).sum() for p in ps).backward()
    opt.step()
    for p, b in zip(ps, before, strict=True):
        np.testing.assert_allclose(p.detach().numpy(), b * 0.8, rtol=1e-6)


@pytest.mark.parametrize("compiled_step", [False, True])
def test_whole_step_gives_a_new_grad_tensor_each_step(compiled_step):
    """zero_grad() at the start of a step: each step's .grad is a tensor of its own, as eagerly
    (the compiled step hands over the program's output; no copy into last step's tensor)."""
    import weakref
    x, y = _data()
    p = jg.tensor([1.0, 0.5], dtype=jg.float64, requires_grad=True)
    opt = jg.optim.SGD([p], lr=0.05)

    def step(x, y):
        opt.zero_grad()
        loss = _loss(p, x, y)
        loss.backward()
        opt.step()
        return loss
    fn = jg.jit(step) if compiled_step else step
    fn(x, y)
    fn(x, y)
    last = weakref.ref(p.grad)
    fn(x, y)
    assert p.grad is not last()
    assert p.grad._version == 0


def test_optimizer_step_plan_with_momentum_switched_on_and_a_new_group():
    def run(fused_option):
        ps = [jg.tensor([1.0, -2.0], requires_grad=True), jg.tensor([0.5], requires_grad=True)]
        extra = jg.tensor([3.0, 1.0, -1.0], requires_grad=True)
        opt = jg.optim.SGD(ps, lr=0.1, fused=fused_option)
        for i in range(8):
            if i == 3:
                opt.param_groups[0]["momentum"] = 0.9  # a momentum buffer appears: another plan
            if i == 5:
                opt.add_param_group({"params": [extra], "lr": 0.01})
            opt.zero_grad()
            (sum((p ** 2).sum() for p in ps) + (extra ** 3).sum()).backward()
            opt.step()
        return [p.detach().numpy() for p in (*ps, extra)]
    for a, b in zip(run(None), run(False), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)


@pytest.mark.parametrize("kind", ["readonly", "transposed", "plain"])
def test_optimizer_step_plan_with_unusual_gradient_arrays(kind):
    """The plan calls the kernel's compiled overload directly only for plain gradient arrays; a
    read-only or non-contiguous `.grad` takes Numba's dispatch (or a copy) and updates the same."""
    def run(fused_option):
        p = jg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
        opt = jg.optim.SGD([p], lr=0.1, momentum=0.5, fused=fused_option)
        for i in range(5):
            g = np.arange(6.0).reshape(2, 3) * (i + 1) - 2.0
            if kind == "readonly" and i >= 2:
                g.flags.writeable = False
            if kind == "transposed" and i >= 2:
                g = np.ascontiguousarray(g.T).T
            p.grad = jg.tensor(g) if kind != "readonly" else jg.Tensor._wrap(g)
            opt.step()
        return p.detach().numpy()
    np.testing.assert_allclose(run(None), run(False), rtol=1e-12)


def test_jit_grad_backward_before_the_backward_program_is_built():
    """Several lean calls before the first backward: the backward runs through its Executable until it
    is built, then through its compiled overload; the gradients are eager mode's all along."""
    f = jg.jit_grad(_loss)
    x, y = _data()
    p = jg.tensor([1.0, 0.5], dtype=jg.float64, requires_grad=True)
    losses = [f(p, x, y) for _ in range(3)]
    for loss in losses * 2:
        p.grad = None
        loss.backward(retain_graph=True)
        q = p.detach().requires_grad_()
        _loss(q, x, y).backward()
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12)


def test_jit_grad_lean_call_with_two_outputs_and_an_integer_one():
    """The generated lean call wraps each output as the full path does: the floating ones share one
    backward (one CompiledOutputBackward each), an integer one has no graph."""
    f = jg.jit_grad(lambda a, b: ((a * b).sum(), (a ** 2).mean(), (b > 0).sum()))
    a = jg.tensor([1.0, -2.0, 3.0], dtype=jg.float64, requires_grad=True)
    b = jg.tensor([0.5, 1.5, -1.0], dtype=jg.float64)
    for k in range(4):
        a.grad = None
        s, m, count = f(a, b)
        assert not count.requires_grad and int(count) == 2
        (s * k + m).backward()
        q = a.detach().requires_grad_()
        ((q * b).sum() * k + (q ** 2).mean()).backward()
        np.testing.assert_allclose(a.grad.numpy(), q.grad.numpy(), rtol=1e-12, atol=1e-12)  # (0 vs 1e-16)
        assert s.grad_fn is not m.grad_fn


def test_a_lean_call_with_another_argument_count_takes_the_full_path():
    """After the lean path is set up (a compiled function, and a whole training step), a call with
    fewer or more arguments gets Python's own TypeError, and the next right call its right value."""
    x, y = _data()

    @jg.jit
    def f(a, b):
        return a * b + 1

    want = x.numpy() * y.numpy() + 1
    f(x, y)
    np.testing.assert_allclose(f(x, y).numpy(), want)
    for args in ((x,), (x, y, x)):
        with pytest.raises(TypeError, match="positional argument"):
            f(*args)
    np.testing.assert_allclose(f(x, y).numpy(), want)

    p = jg.tensor([1.0, 0.5], dtype=jg.float64, requires_grad=True)
    opt = jg.optim.SGD([p], lr=0.05)

    @jg.jit
    def step(a, b):
        opt.zero_grad()
        loss = _loss(p, a, b)
        loss.backward()
        opt.step()
        return loss

    losses = [float(step(x, y)) for _ in range(3)]
    with pytest.raises(TypeError, match="positional argument"):
        step(x)
    losses.append(float(step(x, y)))
    _, _, _, eager = _train(_loss, 4)
    np.testing.assert_allclose(losses, eager, rtol=1e-12)
