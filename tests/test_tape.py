"""jitgrad.GradientTape: TensorFlow's tape API on the eager engine (watching, structures, None for
unconnected sources, persistence, jacobian, nested tapes, a small regression trained with it)."""
from __future__ import annotations

import numpy as np
import pytest

import jitgrad as jg


def test_watch_a_constant_and_take_its_gradient():
    x = jg.tensor([1.0, 2.0, 3.0])
    with jg.GradientTape() as tape:
        tape.watch(x)
        assert x.requires_grad  # part of the recorded graph inside the tape
        y = (x * x).sum()
    assert not x.requires_grad and x.grad_fn is None  # restored: the user's object, unchanged
    g = tape.gradient(y, x)
    np.testing.assert_allclose(g.numpy(), [2.0, 4.0, 6.0])
    assert x.grad is None  # the tape never touches .grad
    assert tape.watched_variables() == (x,)


def test_sources_structure_is_preserved():
    a, b, c = jg.tensor(1.0), jg.tensor([2.0, 3.0]), jg.tensor(4.0)
    with jg.GradientTape() as tape:
        tape.watch([a, {"b": b, "c": c}])
        y = a * b.sum() * c
    grads = tape.gradient(y, {"first": a, "rest": (b, [c])})
    assert set(grads) == {"first", "rest"}
    assert isinstance(grads["rest"], tuple) and isinstance(grads["rest"][1], list)
    assert grads["first"].item() == pytest.approx(20.0)
    np.testing.assert_allclose(grads["rest"][0].numpy(), [4.0, 4.0])
    assert grads["rest"][1][0].item() == pytest.approx(5.0)
    single = jg.GradientTape()
    with single:
        single.watch(a)
        z = a * 3
    assert isinstance(single.gradient(z, a), jg.Tensor)


def test_unconnected_sources_give_none_or_zeros():
    x, unused = jg.tensor([1.0, 2.0]), jg.tensor([5.0])
    with jg.GradientTape(persistent=True) as tape:
        tape.watch([x, unused])
        y = x.sum()
    assert tape.gradient(y, [x, unused])[1] is None
    zero = tape.gradient(y, [x, unused], unconnected_gradients="zero")[1]
    np.testing.assert_array_equal(zero.numpy(), [0.0])
    never_watched = jg.tensor(2.0)
    assert tape.gradient(y, never_watched) is None
    with pytest.raises(ValueError, match="unconnected_gradients"):
        tape.gradient(y, x, unconnected_gradients="nan")


def test_target_without_grad_gives_none():
    x = jg.tensor([1.0])
    with jg.GradientTape() as tape:
        tape.watch(x)
        with tape.stop_recording():
            y = x * 2  # not recorded
    assert tape.gradient(y, x) is None


def test_non_scalar_and_several_targets_are_summed_and_weighted():
    x = jg.tensor([1.0, 2.0])
    with jg.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * x           # non-scalar target: TF differentiates its sum
        z = x.sin()
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), [2.0, 4.0])
    np.testing.assert_allclose(tape.gradient([y, z], x).numpy(), 2 * x.numpy() + np.cos(x.numpy()), rtol=1e-6)
    weighted = tape.gradient(y, x, output_gradients=jg.tensor([10.0, 0.5]))
    np.testing.assert_allclose(weighted.numpy(), [20.0, 2.0])
    with pytest.raises(ValueError, match="output_gradients"):
        tape.gradient([y, z], x, output_gradients=[jg.ones(2)])


def test_non_persistent_tape_computes_one_set_of_gradients():
    x = jg.tensor(3.0)
    with jg.GradientTape() as tape:
        tape.watch(x)
        y = x * x
    assert tape.gradient(y, x).item() == pytest.approx(6.0)
    with pytest.raises(RuntimeError, match="non-persistent GradientTape"):
        tape.gradient(y, x)
    with jg.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * x
        z = y * x
    assert tape.gradient(y, x).item() == pytest.approx(6.0)
    assert tape.gradient(z, x).item() == pytest.approx(27.0)
    assert tape.gradient(z, y).item() == pytest.approx(3.0)  # w.r.t. an intermediate


def test_jacobian_matches_torch():
    torch = pytest.importorskip("torch")
    data = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]])
    x, w = jg.tensor(data), jg.tensor(data.T[:, :1] * 0.7)
    with jg.GradientTape() as tape:
        tape.watch([x, w])
        y = (x @ w).tanh() * x
    jx, jw = tape.jacobian(y, [x, w])
    tx, tw = torch.autograd.functional.jacobian(lambda a, b: torch.tanh(a @ b) * a,
                                                (torch.tensor(data), torch.tensor(data.T[:, :1] * 0.7)))
    np.testing.assert_allclose(jx.numpy(), tx.numpy(), atol=1e-12)
    np.testing.assert_allclose(jw.numpy(), tw.numpy(), atol=1e-12)
    assert tuple(jx.shape) == (2, 3, 2, 3)
    with pytest.raises(RuntimeError, match="non-persistent"):
        tape.jacobian(y, x)


def test_jacobian_of_unconnected_source():
    x, other = jg.tensor([1.0, 2.0]), jg.tensor([3.0])
    with jg.GradientTape(persistent=True) as tape:
        tape.watch([x, other])
        y = x * 2
    assert tape.jacobian(y, other) is None
    np.testing.assert_array_equal(tape.jacobian(y, other, unconnected_gradients="zero").numpy(), [[0.0], [0.0]])


def test_watch_accessed_variables():
    w = jg.tensor([1.0, 2.0], requires_grad=True)  # a "variable": a leaf that requires grad
    x = jg.tensor([3.0, 4.0])
    with jg.GradientTape() as tape:
        y = (w * x).sum()
    np.testing.assert_allclose(tape.gradient(y, w).numpy(), [3.0, 4.0])
    with jg.GradientTape(watch_accessed_variables=False, persistent=True) as tape:
        y = (w * x).sum()
    assert tape.gradient(y, w) is None
    with jg.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(w)
        y = (w * x).sum()
    np.testing.assert_allclose(tape.gradient(y, w).numpy(), [3.0, 4.0])
    assert w.requires_grad  # it required grad before the tape, and still does


def test_nested_tapes_give_second_derivatives():
    x = jg.tensor(2.0)
    with jg.GradientTape() as outer:
        outer.watch(x)
        with jg.GradientTape() as inner:
            inner.watch(x)
            y = x * x * x
        dy = inner.gradient(y, x)
    d2y = outer.gradient(dy, x)
    assert dy.item() == pytest.approx(12.0)
    assert d2y.item() == pytest.approx(12.0)  # 6x
    assert not x.requires_grad


def test_usage_errors():
    tape = jg.GradientTape()
    with pytest.raises(RuntimeError, match="inside the tape"):
        tape.watch(jg.ones(1))
    with tape:
        with pytest.warns(UserWarning, match="cannot have gradients"):
            tape.watch(jg.tensor([1, 2]))
        with pytest.raises(TypeError, match="nest of lists"):
            tape.watch(3.0)
        with pytest.raises(RuntimeError, match="already recording"):
            tape.__enter__()
    assert tape.watched_variables() == ()


def test_reset_forgets_watched_tensors():
    x = jg.tensor(1.0)
    with jg.GradientTape() as tape:
        tape.watch(x)
        tape.reset()
        assert not x.requires_grad and tape.watched_variables() == ()
        y = x * 2
    assert tape.gradient(y, x) is None


def _fahrenheit_data():
    celsius = np.array([-40.0, -10.0, 0.0, 8.0, 15.0, 22.0, 38.0])
    fahrenheit = celsius * 1.8 + 32.0
    return jg.tensor(celsius / 100.0), jg.tensor(fahrenheit / 100.0)  # scaled so plain SGD converges


def _train(step_grads, epochs: int = 300, lr: float = 0.5):
    w, b = jg.tensor([0.1]), jg.tensor([0.0])
    for _ in range(epochs):
        gw, gb = step_grads(w, b)
        with jg.no_grad():
            w -= lr * gw
            b -= lr * gb
    return w, b


def test_celsius_to_fahrenheit_regression_same_as_backward():
    c, f = _fahrenheit_data()

    def loss_fn(w, b):
        return ((c * w + b - f) ** 2).mean()

    def with_tape(w, b):
        with jg.GradientTape() as tape:
            tape.watch([w, b])
            loss = loss_fn(w, b)
        return tape.gradient(loss, [w, b])

    def with_backward(w, b):
        w.requires_grad_()
        b.requires_grad_()
        loss_fn(w, b).backward()
        gw, gb = w.grad, b.grad
        w.grad = b.grad = None
        w.requires_grad_(False)
        b.requires_grad_(False)
        return gw, gb

    w1, b1 = _train(with_tape)
    w2, b2 = _train(with_backward)
    np.testing.assert_array_equal(w1.numpy(), w2.numpy())
    np.testing.assert_array_equal(b1.numpy(), b2.numpy())
    assert w1.item() == pytest.approx(1.8, abs=0.05)
    assert b1.item() == pytest.approx(0.32, abs=0.02)


def test_parameters_are_watched_automatically():
    from jitgrad.nn import Parameter

    w = Parameter(jg.tensor([2.0, -1.0]))
    x = jg.tensor([0.5, 3.0])
    with jg.GradientTape() as tape:
        loss = ((w * x).sum() - 1.0) ** 2
    (gw,) = tape.gradient(loss, [w])
    np.testing.assert_allclose(gw.numpy(), 2 * ((2.0 * 0.5 - 3.0) - 1.0) * x.numpy())
    assert w.grad is None and w.requires_grad
