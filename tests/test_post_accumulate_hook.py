"""Tensor.register_post_accumulate_grad_hook: runs after `.grad` holds the accumulated sum (PyTorch's
semantics, checked against PyTorch), on leaves only, removable, in eager and compiled (jit_grad) backward."""
import numpy as np
import pytest

import jitgrad as jg

torch = pytest.importorskip("torch")


def _record(lib, seen):
    def hook(t):
        seen.append(np.array(t.grad.detach().numpy() if lib is torch else t.grad.numpy()))
    return hook


def test_hook_sees_accumulated_grad_like_pytorch():
    x0 = np.array([1.0, -2.0, 3.0])
    results = {}
    for lib in (jg, torch):
        x = lib.tensor(x0, requires_grad=True)
        seen = []
        x.register_post_accumulate_grad_hook(_record(lib, seen))
        (x * x).sum().backward()       # grad 2x
        (x * 3.0).sum().backward()     # the hook sees 2x + 3, not 3
        results[lib] = seen
    assert len(results[jg]) == len(results[torch]) == 2
    for a, b in zip(results[jg], results[torch]):
        np.testing.assert_allclose(a, b)
    np.testing.assert_allclose(results[jg][1], 2 * x0 + 3)


def test_hook_receives_the_tensor_and_runs_after_register_hook():
    x = jg.tensor([1.0, 2.0], requires_grad=True)
    order = []
    x.register_hook(lambda g: order.append(("pre", x.grad)))
    x.register_post_accumulate_grad_hook(lambda t: order.append(("post", t is x, t.grad.numpy().tolist())))
    (x * 2.0).sum().backward()
    assert order[0] == ("pre", None)
    assert order[1] == ("post", True, [2.0, 2.0])


def test_handle_remove_stops_the_hook():
    x = jg.tensor([1.0], requires_grad=True)
    calls = []
    handle = x.register_post_accumulate_grad_hook(lambda t: calls.append(1))
    (x * 2.0).sum().backward()
    handle.remove()
    (x * 2.0).sum().backward()
    assert calls == [1]


def test_refused_on_non_leaf_and_on_tensor_without_grad():
    x = jg.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="non-leaf"):
        (x * 2.0).register_post_accumulate_grad_hook(lambda t: None)
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        jg.tensor([1.0]).register_post_accumulate_grad_hook(lambda t: None)


def test_not_run_by_autograd_grad():
    x = jg.tensor([1.0], requires_grad=True)
    calls = []
    x.register_post_accumulate_grad_hook(lambda t: calls.append(1))
    jg.autograd.grad((x * 2.0).sum(), x)
    assert calls == []


def test_runs_after_compiled_backward():
    w = jg.nn.Parameter(jg.tensor([0.75, -1.0]))
    seen = []
    w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.numpy().copy()))

    @jg.jit_grad
    def loss(w, x):
        return ((w * x).sum()) ** 2

    x = jg.tensor([2.0, 1.0])
    loss(w, x).backward()
    assert len(seen) == 1
    np.testing.assert_allclose(seen[0], 2 * (0.75 * 2 - 1.0) * np.array([2.0, 1.0]))
