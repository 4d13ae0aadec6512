"""Eager backward without needless buffers: a leaf's first gradient takes the cotangent the pass
made instead of a copy (as PyTorch's AccumulateGrad steals an unshared one); large replayed
steps write into temporaries nothing reads after them, and a step whose operands each repeat one
value (the cotangent of a sum times a constant) is computed once and broadcast. Checked: values
bit for bit as before, and no gradient ever sharing memory with another or with a caller's tensor.
Shapes are just above vjp_replay.LARGE_STEP_BYTES, where these paths start."""
from __future__ import annotations

import numpy as np
import pytest

import jitgrad as jg
from jitgrad import vjp_replay

N = vjp_replay.LARGE_STEP_BYTES // 4 + 8  # float32 elements: large steps


def _leaf(values) -> jg.Tensor:
    return jg.tensor(np.asarray(values, np.float32), requires_grad=True)


def _grad(t: jg.Tensor) -> np.ndarray:
    return t.grad.detach().numpy()


@pytest.fixture
def a() -> jg.Tensor:
    return _leaf(np.linspace(0.0, 2 * np.pi, N))


def _owns(array: np.ndarray) -> bool:
    return array.base is None and array.flags.writeable and array.flags.c_contiguous


def test_first_gradient_is_the_pass_own_array_and_later_ones_add_into_it(a):
    (2 * a.sin() + 1).sum().backward()
    first = a.grad
    expected = (2 * np.cos(a.detach().numpy())).astype(np.float32)
    np.testing.assert_allclose(_grad(a), expected, rtol=1e-6, atol=1e-6)
    assert _owns(_grad(a))
    (2 * a.sin() + 1).sum().backward()
    assert a.grad is first                                   # accumulated in place, as PyTorch does
    np.testing.assert_allclose(_grad(a), 2 * expected, rtol=1e-6, atol=1e-6)


def test_the_leaf_takes_the_replay_result_and_the_replay_writes_into_its_temporary(monkeypatch):
    """W1's backward: sum -> broadcast ones, times 2 (one value: computed once), times cos a (into
    cos a's buffer), and that buffer becomes a.grad (no copy). (A shape of its own: replays
    compiled before the spy would call the real helper.)"""
    a = _leaf(np.linspace(0.0, 2 * np.pi, N + 3))
    outcomes = []

    def spy(ufunc, operands, out, dtype, shape):
        got = real(ufunc, operands, out, dtype, shape)
        outcomes.append(("broadcast" if got is not None and not got.flags.writeable else
                         "in place" if got is not None and got is out else "impl",
                         None if got is None else got.ctypes.data))   # (an address: no reference to it)
        return got
    real = vjp_replay._large_ufunc_step
    monkeypatch.setattr(vjp_replay, "_large_ufunc_step", spy)
    for _ in range(3):
        a.grad = None
        outcomes.clear()
        (2 * a.sin() + 1).sum().backward()
    assert [o for o, _ in outcomes] == ["broadcast", "impl", "in place"]   # 2 g; cos a; g cos a
    assert _grad(a).ctypes.data == outcomes[-1][1]               # stolen, not copied
    np.testing.assert_allclose(_grad(a), 2 * np.cos(a.detach().numpy()), rtol=1e-6, atol=1e-6)


def test_a_cotangent_shared_by_two_leaves_gives_each_its_own_gradient():
    x, y = _leaf(np.ones(N)), _leaf(np.full(N, 2.0))
    (x * 3 + y).sum().backward()
    (x + y).backward(jg.tensor(np.full(N, 5.0, np.float32)))  # add passes one array to both leaves
    gx, gy = _grad(x), _grad(y)
    assert not np.shares_memory(gx, gy)
    gx += 100                                                # one leaf's gradient, changed in place
    assert np.all(gy == 6.0) and np.all(gx == 108.0)


def test_a_root_gradient_the_caller_passed_is_copied_not_taken():
    x = _leaf(np.ones(N))
    t = jg.tensor(np.full(N, 7.0, np.float32))
    (x + 1).backward(t)
    assert not np.shares_memory(_grad(x), t.numpy())
    x.grad.detach().numpy()[:] = 0   # (the leaf's gradient is its own: the caller's tensor keeps its values)
    assert np.all(t.numpy() == 7.0)


def test_a_cotangent_kept_by_a_hook_or_retain_grad_is_not_the_leaf_gradient(a):
    kept = []
    y = a * 1.5
    y.register_hook(lambda g: kept.append(g))
    z = y.sin()
    z.retain_grad()
    z.sum().backward()
    stored = kept[0].detach().numpy()
    leaf = _grad(a)
    assert not np.shares_memory(leaf, stored) and not np.shares_memory(leaf, _grad(z))
    np.testing.assert_allclose(leaf, 1.5 * stored, rtol=1e-6)


def test_a_cotangent_a_hook_on_the_leaf_kept_stays_as_it_was(a):
    kept = []
    a.register_hook(lambda g: kept.append(g))
    for _ in range(2):
        (a.sin() * 2).sum().backward()
    first = kept[0].detach().numpy()
    assert not np.shares_memory(_grad(a), first)
    np.testing.assert_allclose(_grad(a), 2 * first, rtol=1e-6)   # .grad accumulated, the kept one did not


def test_the_gradient_of_a_sum_times_a_constant_is_a_full_writable_array(a):
    (3 * a).sum().backward()
    assert _owns(_grad(a)) and np.all(_grad(a) == 3.0)
    (a * 2).mean().backward()
    np.testing.assert_array_equal(_grad(a), np.float32(3.0) + np.float32(2.0) / np.float32(N))


@pytest.mark.parametrize("name, f", [
    ("tanh", lambda x: (x.tanh() * 3).sum()),
    ("sigmoid", lambda x: jg.sigmoid(x * 0.5).sum()),
    ("chain", lambda x: ((x * x + x.sin()).tanh() * (-(x * x)).exp() + (x * x).log1p()).mean()),
    ("pow", lambda x: (x ** 3 / 4 - x * 2).sum()),
])
def test_replayed_large_steps_give_the_values_of_out_of_place_calls(name, f):
    """The first backward of a signature runs the recorded steps out of place; later ones run the
    compiled replay (in-place temporaries, broadcast constants): the gradients agree bit for bit."""
    values = np.random.default_rng(0).standard_normal(N).astype(np.float32)
    grads = []
    for _ in range(3):
        x = _leaf(values)
        f(x).backward()
        grads.append(_grad(x).copy())
    np.testing.assert_array_equal(grads[1], grads[0])
    np.testing.assert_array_equal(grads[2], grads[0])


def test_floating_point_errors_stay_quiet_in_steps_written_in_place():
    """Overflow inside a replayed step gives inf, as the out-of-place impls give it, also where
    NumPy is set to raise (the in-place call must not be redone on its own overwritten operand)."""
    values = np.full(N, 1e20, np.float32)
    results = []
    with np.errstate(all="raise"):
        for _ in range(3):
            x = _leaf(values)
            (x ** 3).sum().backward()
            results.append(_grad(x).copy())
    assert all(np.all(np.isinf(r)) for r in results)


def test_large_step_helper_paths():
    """_large_ufunc_step: a broadcast value computed once (read-only), an in-place write into a
    writable temporary, and None (run the impl) otherwise."""
    f32 = np.float32
    ones = np.broadcast_to(np.ones((), f32), (N,))
    two = np.array(2.0, f32)
    value = vjp_replay._large_ufunc_step(np.multiply, (ones, two), None, np.dtype(f32), (N,))
    assert value.shape == (N,) and not value.flags.writeable and np.all(value == 2.0)
    temp = np.arange(N, dtype=f32)
    got = vjp_replay._large_ufunc_step(np.multiply, (temp, two), temp, np.dtype(f32), (N,))
    assert got is temp and temp[3] == 6.0
    assert vjp_replay._large_ufunc_step(np.multiply, (temp, two), None, np.dtype(f32), (N,)) is None
    assert vjp_replay._large_ufunc_step(np.multiply, (temp, two), value, np.dtype(f32), (N,)) is None
    assert vjp_replay._large_ufunc_step(np.sin, (ones,), None, np.dtype(f32), (N,)) is None  # not exact on scalars
    half = np.broadcast_to(np.ones((), np.float64), (N,))
    assert vjp_replay._large_ufunc_step(np.multiply, (half, two), None, np.dtype(f32), (N,)) is None
