"""Compiled mode computes what eager mode computes (issue #19): each test function runs eagerly,
under `jit`, `jit_grad` and `grad`/`value_and_grad`, several calls in a row with Python state
changed between calls, and every run must give the same values, gradients, `.grad` fields,
parameters and buffers. Refusals (what compiled mode cannot mean) raise TracingError before
anything is changed."""
from __future__ import annotations

import random
import warnings

import numpy as np
import pytest

import jitgrad as jg
from jitgrad import nn

MODES = ("eager", "jit", "jit_grad", "value_and_grad")


def _snapshot(state: dict) -> dict:
    """Values and .grad of every tensor (and a Module's parameters and buffers) in `state`."""
    out = {}
    for name, obj in state.items():
        items = list(obj.state_dict(keep_vars=True).items()) if isinstance(obj, nn.Module) else [("", obj)]
        for key, t in items:
            out[f"{name}.{key}"] = t.detach().numpy().copy()
            if t.grad is not None:
                out[f"{name}.{key}.grad"] = t.grad.numpy().copy()
    return out


def run_mode(mode: str, make, inputs, change=None, steps: int = 3) -> list:
    """Build a fresh world with `make()` -> (fn, state), call fn `steps` times in `mode`, calling
    change(state, step) after each call; returns what each call gave and left behind."""
    jg.manual_seed(0)
    fn, state = make()
    compiled = {"eager": fn, "jit": jg.jit(fn), "jit_grad": jg.jit_grad(fn),
                "value_and_grad": jg.value_and_grad(fn)}[mode]
    records = []
    for step in range(steps):
        x = jg.tensor(inputs(step), requires_grad=mode in ("eager", "jit_grad"))
        jg.manual_seed(100 + step)  # the same draws for random ops in every mode
        record = {}
        if mode == "value_and_grad":
            value, grad = compiled(x)
            record["x.grad"] = grad.numpy()
        else:
            value = compiled(x)
            if mode != "jit":
                value.backward()
                record["x.grad"] = x.grad.numpy()
        record["value"] = value.detach().numpy().copy()
        record["x"] = x.detach().numpy().copy()
        record.update(_snapshot(state))
        records.append(record)
        if change is not None:
            change(state, step)
    return records


def check_modes(make, inputs, change=None, steps: int = 3, modes=MODES, rtol: float = 1e-5) -> list:
    """Every mode's records equal eager mode's (jit: values and state; value_and_grad: values,
    x's gradient and state, as it leaves .grad fields alone)."""
    expected = run_mode("eager", make, inputs, change, steps)
    for mode in modes:
        if mode == "eager":
            continue
        got = run_mode(mode, make, inputs, change, steps)
        for step, (e, g) in enumerate(zip(expected, got, strict=True)):
            keys = [k for k in e if not (k.endswith(".grad") and k != "x.grad" and mode == "value_and_grad")]
            if mode == "jit":
                keys = [k for k in keys if not k.endswith(".grad")]
            for k in keys:
                assert k in g, f"{mode}, call {step}: {k} missing (eager has it)"
                assert g[k].dtype == e[k].dtype, f"{mode}, call {step}: {k} is {g[k].dtype}, eager {e[k].dtype}"
                np.testing.assert_allclose(g[k], e[k], rtol=rtol, atol=1e-6, err_msg=f"{mode}, call {step}: {k}")
    return expected


def _vec(step):
    return [1.0 + step, 2.0, -0.5 * step]


# ---------------------------------------------------------------------------------------------
# 1. detach() and no_grad inside compiled functions
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["jit_grad", "grad"])
def test_issue_reproducers_detach_and_no_grad(mode):
    def detached(x):
        return (x.detach() * x).sum()

    def no_grad_block(x):
        with jg.no_grad():
            c = x * 2
        return (c * x).sum()

    def detached_max(x):
        return (x * x.detach().max()).sum()

    for fn, value, expected in [(detached, [1.0, 2.0], [1.0, 2.0]), (no_grad_block, [1.0, 2.0], [2.0, 4.0]),
                                (detached_max, [1.0, 2.0, 3.0], [3.0, 3.0, 3.0])]:
        if mode == "grad":
            g = jg.grad(fn)(np.array(value))
        else:
            x = jg.tensor(value, requires_grad=True)
            jg.jit_grad(fn)(x).backward()
            g = x.grad.numpy()
        np.testing.assert_allclose(g, expected, err_msg=fn.__name__)


def test_detach_and_no_grad_match_eager_in_every_mode():
    def make():
        w = jg.tensor([0.5, -1.0, 2.0], requires_grad=True)

        def fn(x):
            with jg.no_grad():
                scale = (x * w).sum()
            y = jg.tanh(x * w) * scale + x.detach() ** 2 * w
            return (y * x).sum() + (w.detach() * x).mean()
        return fn, {"w": w}

    check_modes(make, _vec)


def test_gradient_penalty_inside_jit_grad():
    torch = pytest.importorskip("torch")

    def penalty(m, x):
        y = (m.sin(x) * x ** 2).sum()
        (g,) = m.autograd.grad(y, x, create_graph=True)
        return y + (g ** 2).sum()

    value = [0.3, -1.2, 2.0]
    tx = torch.tensor(value, dtype=torch.float64, requires_grad=True)
    penalty(torch, tx).backward()
    x = jg.tensor(value, dtype=jg.float64, requires_grad=True)
    out = jg.jit_grad(lambda t: penalty(jg, t))(x)
    out.backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(jg.grad(lambda t: penalty(jg, t))(np.array(value)), tx.grad.numpy(), rtol=1e-10)


@pytest.mark.parametrize("call", ["register_hook", "retain_grad"])
def test_hooks_on_traced_values_are_refused_clearly(call):
    def fn(x):
        y = x * 2
        y.register_hook(lambda g: g * 3) if call == "register_hook" else y.retain_grad()
        return y.sum()

    with pytest.raises(jg.TracingError, match=rf"(?s){call}\(\).*test_jit_differential.py"):
        jg.jit_grad(fn)(jg.tensor([1.0, 2.0], requires_grad=True))
    x = jg.tensor([1.0, 2.0], requires_grad=True)  # eagerly it works
    fn(x).backward()
    assert x.grad is not None


# ---------------------------------------------------------------------------------------------
# 2. captured tensors are inputs read at every call
# ---------------------------------------------------------------------------------------------


def _regression(compile_it: bool, x, y) -> tuple:
    """The README's regression (params captured by a closure), four SGD steps."""
    params = jg.tensor([1.0, 0.01], requires_grad=True)
    loss_fn = jg.jit_grad(lambda x, y: ((params[0] * x + params[1] - y) ** 2).mean()) if compile_it else \
        (lambda x, y: ((params[0] * x + params[1] - y) ** 2).mean())
    opt = jg.optim.SGD([params], lr=1e-4)
    losses, grads = [], []
    for _ in range(4):
        opt.zero_grad()
        loss = loss_fn(x, y)
        loss.backward()
        losses.append(loss.item())
        grads.append(params.grad.numpy().copy())
        opt.step()
    return losses, grads, params.detach().numpy()


def test_readme_regression_compiled_trains_like_eager():
    x = jg.tensor([35.7, 55.9, 58.2, 81.9, 56.3, 48.9, 33.9, 21.8, 48.4, 60.4, 68.4])
    y = jg.tensor([0.5, 14.0, 15.0, 28.0, 11.0, 8.0, 3.0, -4.0, 6.0, 13.0, 21.0])
    (le, ge, pe), (lc, gc, pc) = _regression(False, x, y), _regression(True, x, y)
    assert len(set(lc)) == 4, "the compiled loss must change as params are updated"
    np.testing.assert_allclose(lc, le, rtol=1e-5)
    np.testing.assert_allclose(gc, ge, rtol=1e-4)
    np.testing.assert_allclose(pc, pe, rtol=1e-5)


def test_captured_tensors_updated_between_calls():
    def make():
        scale = jg.tensor([1.0, 2.0, 3.0], requires_grad=True)
        offset = jg.tensor([0.5, 0.5, 0.5])  # no grad: still read at every call

        def fn(x):
            return ((x * scale[0] + scale - offset) ** 2).sum()
        return fn, {"scale": scale, "offset": offset}

    def change(state, step):
        with jg.no_grad():
            state["scale"].mul_(0.5)
            state["scale"].grad = None
        state["offset"].add_(1.0)

    check_modes(make, _vec, change)


def test_grad_of_python_float_with_captured_parameter():
    w = jg.tensor(3.0, requires_grad=True)
    assert jg.grad(lambda a: a * a * w)(2.0) == pytest.approx(12.0)
    assert jg.grad(lambda a: a * a)(3.0) == pytest.approx(6.0)
    assert w.grad is None


# ---------------------------------------------------------------------------------------------
# 3. and 5. guarded Python state: module attributes, train/eval, default dtype, grad mode
# ---------------------------------------------------------------------------------------------


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 2)
        self.register_buffer("bias_shift", jg.zeros(2))

    def forward(self, x):
        h = self.lin(x) + self.bias_shift
        return h * 2.0 if self.training else h


def test_parameter_reassigned_after_compiling():
    def make():
        net = _Net()

        def fn(x):
            return (net(x) ** 2).sum()
        return fn, {"net": net}

    def change(state, step):
        net = state["net"]
        net.zero_grad()
        if step == 0:
            net.lin.weight = nn.Parameter(jg.ones(2, 3) * 0.25)
        else:
            net.bias_shift = jg.tensor([1.0, -1.0])

    check_modes(make, _vec, change)


def test_reassigned_parameter_receives_the_gradient():
    net = _Net()
    step = jg.jit_grad(lambda x: net(x).sum())
    x = jg.ones(3)
    step(x).backward()
    old = net.lin.weight
    old_grad = old.grad.numpy().copy()
    net.lin.weight = nn.Parameter(jg.full((2, 3), 2.0))
    out = step(x)
    np.testing.assert_allclose(out.item(), net(x).sum().item(), rtol=1e-6)
    out.backward()
    assert net.lin.weight.grad is not None
    np.testing.assert_array_equal(old.grad.numpy(), old_grad)  # the orphan is left alone


def test_eval_and_train_switch_the_compiled_branch():
    def make():
        net = _Net()

        def fn(x):
            return (net(x) * x[:2]).sum()
        return fn, {"net": net}

    def change(state, step):
        state["net"].zero_grad()
        state["net"].train(step % 2 == 1)

    check_modes(make, _vec, change, steps=4)


def test_default_dtype_change_after_compiling():
    def make():
        def fn(x):
            return (x * jg.ones(3) + jg.tensor(0.5)).sum()
        return fn, {}

    def change(state, step):
        jg.set_default_dtype(jg.float64 if step % 2 == 0 else jg.float32)

    check_modes(make, lambda step: np.array(_vec(step), np.float64), change, steps=3, rtol=1e-7)
    jg.set_default_dtype(jg.float32)
    f = jg.jit(lambda x: x + jg.zeros(2))
    assert f(np.ones(2, np.int64)).dtype == np.float32
    jg.set_default_dtype(jg.float64)
    assert f(np.ones(2, np.int64)).dtype == np.float64  # (the NumPy fast path is guarded too)


def test_first_call_under_no_grad_then_training():
    step = jg.jit_grad(lambda x: (x * x).sum())
    x = jg.tensor([1.0, 2.0], requires_grad=True)
    with jg.no_grad():
        assert not step(x).requires_grad
    step(x).backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])


def test_new_shapes_between_calls():
    def make():
        w = jg.tensor(1.5, requires_grad=True)

        def fn(x):
            return (jg.sin(x) * w).sum()
        return fn, {"w": w}

    check_modes(make, lambda step: [0.1 * i for i in range(step + 2)], lambda s, i: setattr(s["w"], "grad", None))


# ---------------------------------------------------------------------------------------------
# 5. random numbers
# ---------------------------------------------------------------------------------------------


def test_random_ops_draw_fresh_numbers_like_eager():
    def make():
        def fn(x):
            keep = jg.rand(3) > 0.3  # dropout-like
            return ((x * keep) * 2.0 + jg.randn(3) * 0.1).sum()
        return fn, {}

    records = check_modes(make, _vec, steps=3)
    assert len({r["value"].item() for r in records}) == 3
    f = jg.jit(lambda x: x + jg.randn(3))
    assert not np.array_equal(f(jg.zeros(3)).numpy(), f(jg.zeros(3)).numpy())


def test_python_random_in_a_trace_warns_once():
    f = jg.jit(lambda x: x * random.random())
    with pytest.warns(RuntimeWarning, match="frozen into the compiled function"):
        f(jg.ones(2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f(jg.ones(3))  # a retrace of the same function does not warn again
    g = jg.jit(lambda x: x * np.random.rand())
    with pytest.warns(RuntimeWarning, match="np.random"):
        g(jg.ones(2))


# ---------------------------------------------------------------------------------------------
# 7. in-place ops inside compiled functions
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["mul_", "iadd", "setitem"])
def test_in_place_ops_on_arguments(op):
    def fn(x):
        if op == "mul_":
            x.mul_(2)
        elif op == "iadd":
            x += 1
        else:
            x[0] = 5
        return (x * x).sum()

    results = []
    for run in (fn, jg.jit(fn)):
        x = jg.tensor([1.0, 2.0, 3.0])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # setitem has no fused kernel
            out = run(x)
        results.append((out.item(), x.numpy().copy(), x._version))
    assert results[1][0] == pytest.approx(results[0][0])
    np.testing.assert_array_equal(results[1][1], results[0][1])
    assert results[1][2] == results[0][2]


def test_in_place_update_of_a_captured_buffer():
    def make():
        running = jg.zeros(3)
        w = jg.tensor([1.0, -2.0, 0.5], requires_grad=True)

        def fn(x):
            y = x * w
            with jg.no_grad():
                running.mul_(0.9).add_(0.1 * y)
            return (y * running).sum()
        return fn, {"running": running, "w": w}

    check_modes(make, _vec, lambda s, i: setattr(s["w"], "grad", None), steps=3)


def test_in_place_refusals_change_nothing():
    w = jg.tensor([1.0, 2.0], requires_grad=True)
    buf = jg.tensor([0.0, 0.0])

    def gives_history(x):
        buf.add_(x * w)  # eagerly buf would get autograd history
        return buf.sum()

    def changes_a_leaf(x):
        with jg.no_grad():
            w.mul_(2)
        return (w * x).sum()

    for fn in (gives_history, changes_a_leaf):
        with pytest.raises(jg.TracingError, match="in-place"):
            jg.jit_grad(fn)(jg.ones(2))
        np.testing.assert_array_equal(buf.numpy(), [0.0, 0.0])
        np.testing.assert_array_equal(w.detach().numpy(), [1.0, 2.0])
        assert buf._version == 0 and w._version == 0
        assert not isinstance(buf._data, jg.core.Symbolic) and not buf.requires_grad
