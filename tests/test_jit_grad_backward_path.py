"""loss.backward() on one jit_grad node feeding leaves takes a short path (no engine walk): it must
accumulate into .grad exactly as the engine does (objects, versions, values, errors)."""
from __future__ import annotations

import numpy as np
import pytest

import jitgrad as jg


def _pair():
    a = jg.tensor([1.0, 2.0, 3.0], dtype=jg.float64, requires_grad=True)
    b = jg.tensor([0.5, -1.0, 2.0], dtype=jg.float64, requires_grad=True)
    return a, b


def _f(a, b):
    return (a * b).sin().sum()


@pytest.mark.parametrize("compiled", [False, True])
def test_accumulation_objects_and_versions_match_eager(compiled):
    f = jg.jit_grad(_f) if compiled else _f
    a, b = _pair()
    f(a, b).backward()
    first = a.grad
    assert first._version == 0
    f(a, b).backward()  # accumulates in place into the same tensor
    assert a.grad is first and first._version == 1
    np.testing.assert_allclose(first.numpy(), 2 * b.detach().numpy() * np.cos(np.array([0.5, -2.0, 6.0])),
                               rtol=1e-14)


def test_short_path_agrees_with_engine_on_values_and_versions():
    a, b = _pair()
    c, d = _pair()
    f = jg.jit_grad(_f)
    for _ in range(3):
        f(a, b).backward()
        _f(c, d).backward()
    for x, y in ((a, c), (b, d)):
        np.testing.assert_allclose(x.grad.numpy(), y.grad.numpy(), rtol=1e-14)
        assert x.grad._version == y.grad._version


def test_second_backward_without_retain_graph_is_refused():
    a, b = _pair()
    loss = jg.jit_grad(_f)(a, b)
    loss.backward()
    with pytest.raises(RuntimeError, match="second time"):
        loss.backward()
    loss = jg.jit_grad(_f)(a, b)
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_allclose(a.grad.numpy(), 3 * b.detach().numpy() * np.cos(np.array([0.5, -2.0, 6.0])),
                               rtol=1e-14)


def test_same_leaf_twice_and_hooks_still_right():
    a, _ = _pair()
    jg.jit_grad(lambda x, y: (x * y).sum())(a, a).backward()
    np.testing.assert_allclose(a.grad.numpy(), 2 * a.detach().numpy())
    assert a.grad._version == 0  # delivered once, as the engine does
    seen = []
    b = jg.tensor([1.0, 2.0], requires_grad=True)
    b.register_hook(lambda g: seen.append(g) or g * 2)
    jg.jit_grad(lambda x: (x * x).sum())(b).backward()
    assert len(seen) == 1
    np.testing.assert_allclose(b.grad.numpy(), 4 * b.detach().numpy())


def test_in_place_change_before_backward_is_refused():
    a, b = _pair()
    loss = jg.jit_grad(_f)(a, b)
    with jg.no_grad():
        a.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_engine_walk_is_skipped(monkeypatch):
    from jitgrad import autodiff
    a, b = _pair()
    loss = jg.jit_grad(_f)(a, b)

    def no_walk(*args, **kwargs):
        raise AssertionError("the engine walked the graph")
    monkeypatch.setattr(autodiff, "run_backward", no_walk)
    loss.backward()
    assert a.grad is not None and b.grad is not None
