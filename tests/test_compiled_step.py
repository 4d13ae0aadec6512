"""A whole training step under jitgrad.jit (forward, backward, optimizer update in one program)
leaves parameters, .grad, optimizer state, version counters and state dicts exactly as the same
steps run eagerly do."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import jitgrad as jg
from jitgrad import nn

X = np.random.default_rng(0).standard_normal((4, 3))
Y = np.random.default_rng(1).standard_normal((4, 2))


def _model() -> nn.Module:
    jg.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()


def _run(make_opt, compiled: bool, steps: int = 3, zero: str = "start", lr_schedule=None):
    model = _model()
    opt = make_opt(model.parameters())

    def step(x, y):
        if zero == "start":
            opt.zero_grad()
        elif zero == "start_keep":
            opt.zero_grad(set_to_none=False)
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        if zero == "end":
            opt.zero_grad()
        return loss

    fn = jg.jit(step) if compiled else step
    x, y = jg.tensor(X), jg.tensor(Y)
    losses = []
    for i in range(steps):
        if lr_schedule is not None:
            opt.param_groups[0]["lr"] = lr_schedule(i)
        losses.append(float(fn(x, y)))
    return model, opt, losses


def _close(a, b) -> None:
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=1e-15)


def _same(eager, compiled) -> None:
    (m_e, o_e, l_e), (m_c, o_c, l_c) = eager, compiled
    _close(l_e, l_c)
    for (name, p_e), (_, p_c) in zip(m_e.named_parameters(), m_c.named_parameters(), strict=True):
        _close(p_e.detach().numpy(), p_c.detach().numpy())
        assert p_e._version == p_c._version, name
        assert (p_e.grad is None) == (p_c.grad is None), name
        if p_e.grad is not None:
            _close(p_e.grad.numpy(), p_c.grad.numpy())
            assert p_e.grad._version == p_c.grad._version, name
    for k, v in m_e.state_dict().items():
        _close(v.numpy(), m_c.state_dict()[k].numpy())
    s_e, s_c = o_e.state_dict(), o_c.state_dict()
    assert s_e["param_groups"] == s_c["param_groups"]
    assert s_e["state"].keys() == s_c["state"].keys()
    for i, st in s_e["state"].items():
        assert st.keys() == s_c["state"][i].keys()
        for k, v in st.items():
            _close(v.numpy(), s_c["state"][i][k].numpy())


OPTIMIZERS = {
    "sgd": lambda ps: jg.optim.SGD(ps, lr=0.1),
    "sgd_momentum_dampening_wd": lambda ps: jg.optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.2, weight_decay=0.01),
    "sgd_nesterov_maximize": lambda ps: jg.optim.SGD(ps, lr=0.05, momentum=0.5, nesterov=True, maximize=True),
    "adam": lambda ps: jg.optim.Adam(ps, lr=0.01, weight_decay=0.1),
    "adam_amsgrad": lambda ps: jg.optim.Adam(ps, lr=0.01, amsgrad=True, betas=(0.8, 0.9)),
    "adamw": lambda ps: jg.optim.AdamW(ps, lr=0.01, weight_decay=0.1),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_compiled_step_matches_eager(name):
    make = OPTIMIZERS[name]
    _same(_run(make, False), _run(make, True))


@pytest.mark.parametrize("zero", ["start_keep", "end", "none"])
def test_grad_slots_match_eager(zero):
    make = OPTIMIZERS["sgd_momentum_dampening_wd"]
    _same(_run(make, False, zero=zero), _run(make, True, zero=zero))


def test_grad_tensor_kept_in_place_like_eager():
    model, opt, _ = _run(OPTIMIZERS["sgd"], True, steps=2, zero="start_keep")
    held = [p.grad for p in model.parameters()]
    step = jg.jit(lambda x, y: (opt.zero_grad(set_to_none=False), ((model(x) - y) ** 2).mean().backward(),
                                opt.step()))
    step(jg.tensor(X), jg.tensor(Y))
    assert all(p.grad is g for p, g in zip(model.parameters(), held))


def test_learning_rate_change_takes_effect_without_recompiling():
    schedule = [0.1, 0.01, 0.3, 0.0].__getitem__
    make = OPTIMIZERS["adam"]
    eager = _run(make, False, steps=4, lr_schedule=schedule)
    model = _model()
    opt = make(model.parameters())
    traces = []

    @jg.jit
    def step(x, y):
        traces.append(1)
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    losses = []
    for i in range(4):
        opt.param_groups[0]["lr"] = schedule(i)
        losses.append(float(step(jg.tensor(X), jg.tensor(Y))))
    assert len(traces) == 1
    _same(eager, (model, opt, losses))


def test_scheduler_drives_compiled_step():
    model = _model()
    opt = jg.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    sched = jg.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    model_e = _model()
    opt_e = jg.optim.SGD(model_e.parameters(), lr=0.5, momentum=0.9)
    sched_e = jg.optim.lr_scheduler.StepLR(opt_e, step_size=1, gamma=0.5)

    def make_step(m, o):
        def step(x, y):
            o.zero_grad()
            loss = ((m(x) - y) ** 2).mean()
            loss.backward()
            o.step()
            return loss
        return step
    compiled, eager = jg.jit(make_step(model, opt)), make_step(model_e, opt_e)
    for _ in range(3):
        compiled(jg.tensor(X), jg.tensor(Y))
        sched.step()
        eager(jg.tensor(X), jg.tensor(Y))
        sched_e.step()
    for p, q in zip(model.parameters(), model_e.parameters()):
        _close(p.detach().numpy(), q.detach().numpy())


def test_step_without_compiled_rule_names_the_line():
    model = _model()
    opt = jg.optim.RMSprop(model.parameters(), lr=0.01)

    @jg.jit
    def step(x, y):
        opt.zero_grad()
        ((model(x) - y) ** 2).mean().backward()
        opt.step()  # the line named

    with pytest.raises(jg.TracingError, match=r"RMSprop.step\(\).*\n.*opt.step\(\)  # the line named"):
        step(jg.tensor(X), jg.tensor(Y))
    assert not opt.state and all(p.grad is None for p in model.parameters())  # the trace changed nothing


def test_item_inside_step_names_the_line():
    model = _model()
    opt = jg.optim.SGD(model.parameters(), lr=0.01)

    @jg.jit
    def step(x, y):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        if loss.item() > 0:  # data-dependent
            loss.backward()
        opt.step()

    with pytest.raises(jg.TracingError, match="loss.item"):
        step(jg.tensor(X), jg.tensor(Y))


def test_fallback_runs_eagerly_with_one_warning():
    make = lambda ps: jg.optim.RMSprop(ps, lr=0.01)  # noqa: E731
    model = _model()
    opt = make(model.parameters())

    def step(x, y):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    compiled = jg.jit(step, fallback=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        losses = [float(compiled(jg.tensor(X), jg.tensor(Y))) for _ in range(3)]
    assert len([w for w in caught if "eagerly" in str(w.message)]) == 1
    model_e = _model()
    opt_e = make(model_e.parameters())
    eager = [float(s) for s in (_eager_step(model_e, opt_e) for _ in range(3))]
    _close(losses, eager)


def _eager_step(model, opt):
    opt.zero_grad()
    loss = ((model(jg.tensor(X)) - jg.tensor(Y)) ** 2).mean()
    loss.backward()
    opt.step()
    return loss


def test_held_grad_is_not_overwritten_by_the_next_step():
    """A .grad the user holds keeps this step's values (eager makes a new tensor each step); an
    unheld one may be reused, which nobody can observe."""
    model = _model()
    opt = jg.optim.SGD(model.parameters(), lr=0.1)

    @jg.jit
    def step(x, y):
        opt.zero_grad()
        ((model(x) - y) ** 2).mean().backward()
        opt.step()

    x, y = jg.tensor(X), jg.tensor(Y)
    step(x, y)
    step(x, y)
    p = next(model.parameters())
    held, values = p.grad, p.grad.numpy().copy()
    step(x, y)
    assert p.grad is not held and held._version == 0
    np.testing.assert_array_equal(held.numpy(), values)
    assert not np.array_equal(p.grad.numpy(), values)


def test_parameter_passed_as_argument_is_refused_not_silently_left_unchanged():
    """A compiled function's arguments are values: a parameter passed as one would get its gradient
    on a traced copy, and the step would never update the real parameter."""
    w = jg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    opt = jg.optim.SGD([w], lr=0.1)
    x = jg.tensor(np.array([3.0, 4.0]))

    def step(w, x):
        opt.zero_grad()
        (w * x).sum().backward()
        opt.step()

    with pytest.raises(jg.TracingError, match=r"parameter passed as an argument.*input 0") as info:
        jg.jit(step)(w, x)
    assert "enclosing scope" in str(info.value)
    np.testing.assert_array_equal(w.detach().numpy(), [1.0, 2.0])
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        jg.jit(step, fallback=True)(w, x)
    np.testing.assert_allclose(w.detach().numpy(), [0.7, 1.6])


STATE_EDITS = {
    "replace_buffer": lambda opt, p: opt.state[p].__setitem__("momentum_buffer", jg.ones_like(p)),
    "delete_param_state": lambda opt, p: opt.state.__delitem__(p),
    "clear": lambda opt, p: opt.state.clear(),
    "assign_new_dict": lambda opt, p: setattr(opt, "state", {}),
    "pop_buffer": lambda opt, p: opt.state[p].pop("momentum_buffer"),
}


@pytest.mark.parametrize("edit", sorted(STATE_EDITS))
def test_direct_edits_of_optimizer_state_are_seen_by_compiled_steps(edit):
    """Replacing or removing state tensors between compiled calls retraces: the program must not
    keep updating the tensors the trace captured."""
    results = []
    for compiled in (False, True):
        model = _model()
        opt = jg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

        def step(x, y, model=model, opt=opt):
            opt.zero_grad()
            loss = ((model(x) - y) ** 2).mean()
            loss.backward()
            opt.step()
            return loss

        fn = jg.jit(step) if compiled else step
        x, y = jg.tensor(X), jg.tensor(Y)
        losses = [float(fn(x, y)) for _ in range(2)]
        STATE_EDITS[edit](opt, next(iter(model.parameters())))
        losses += [float(fn(x, y)) for _ in range(2)]
        results.append((model, opt, losses))
    _same(*results)


def test_gradient_that_does_not_depend_on_the_inputs():
    """A bias's gradient under a plain sum is a constant of the trace (the batch size): the
    compiled step gives it as a new, writable .grad at every call, as eager mode does."""
    runs = []
    for compiled_step in (False, True):
        model = _model()
        opt = jg.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def step(x, model=model, opt=opt):
            opt.zero_grad()
            loss = model(x).sum()
            loss.backward()
            opt.step()
            return loss

        fn = jg.jit(step) if compiled_step else step
        grads = []
        for _ in range(3):
            loss = float(fn(jg.tensor(X)))
            bias_grad = model[2].bias.grad
            grads.append(bias_grad.numpy().copy())
            bias_grad.mul_(100.0)  # the user's own tensor: changing it changes no later step
        runs.append((loss, grads, [p.detach().numpy().copy() for p in model.parameters()]))
    (loss_e, grads_e, params_e), (loss_c, grads_c, params_c) = runs
    _close(loss_e, loss_c)
    np.testing.assert_array_equal(grads_c, grads_e)
    assert grads_c[0].tolist() == [4.0, 4.0]
    for a, b in zip(params_e, params_c, strict=True):
        _close(a, b)


def test_a_gradient_equal_to_a_captured_tensor_is_a_tensor_of_its_own():
    """The gradient of b in (b * c).sum() is c's value: eager mode gives .grad its own storage, so an
    in-place change of b.grad (clipping, scaling) never touches c. The compiled step must too."""
    b = jg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    c = jg.tensor(np.array([3.0, 4.0]))
    opt = jg.optim.SGD([b], lr=0.1)

    @jg.jit
    def step():
        opt.zero_grad()
        (b * c).sum().backward()
        opt.step()

    for _ in range(3):  # (the first call takes the full path, the others the lean one)
        step()
        assert not np.shares_memory(b.grad.numpy(), c.numpy())
        b.grad.mul_(0.0)
        np.testing.assert_array_equal(c.numpy(), [3.0, 4.0])
    np.testing.assert_allclose(b.detach().numpy(), [1.0 - 0.9, 2.0 - 1.2])
