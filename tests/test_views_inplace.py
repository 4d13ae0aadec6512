"""Views, in-place ops, gradient accumulation and saved tensors, with PyTorch as the oracle:
each scenario is ONE body run on jitgrad and on torch (`m` is the module), its results compared."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import jitgrad as jg
from jitgrad import autograd

torch = pytest.importorskip("torch")


def _arrays(values) -> list:
    """Numbers of a (nested) result: tensors become float64 arrays, None stays None."""
    out = []
    for v in values if isinstance(values, (tuple, list)) else (values,):
        if v is None or isinstance(v, (bool, int, float, str)):
            out.append(v)
        else:
            out.append(np.asarray(v.detach().numpy(), dtype=np.float64))
    return out


def same_as_torch(body, rtol: float = 1e-6, allowed_warning: str | None = None) -> None:
    """Run body(jitgrad) and body(torch) with warnings as errors (but `allowed_warning`, a message
    prefix); their results must agree."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        if allowed_warning:
            warnings.filterwarnings("ignore", message=allowed_warning)
        ours, theirs = _arrays(body(jg)), _arrays(body(torch))
    assert len(ours) == len(theirs)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if isinstance(b, np.ndarray):
            assert a is not None, f"result {i}: jitgrad gives None, torch {b}"
            np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-12, err_msg=f"result {i}")
        else:
            assert a == b, f"result {i}: jitgrad {a!r}, torch {b!r}"


def _grid(m, rows=3, cols=4, requires_grad=False):
    return m.tensor(np.arange(rows * cols, dtype=np.float64).reshape(rows, cols) / 7 - 0.6,
                    requires_grad=requires_grad)


def _weights(m, shape=(3, 4)):
    return m.tensor(np.linspace(-1.3, 1.7, int(np.prod(shape))).reshape(shape))


# ---------------------------------------------------------------------------------------------
# 2. In-place ops through views reach the base and rewrite its history (CopySlices)
# ---------------------------------------------------------------------------------------------


def test_inplace_through_basic_index_view_changes_base():
    def body(m):
        x = m.tensor([1.0, 2.0, 3.0])
        x[1].add_(5)                 # a 0-d view
        x[0:2].mul_(2)
        y = m.tensor(np.arange(6.0).reshape(2, 3))
        y.T[2].sub_(1)               # a view of a view
        y.select(0, 1).narrow(0, 0, 2).div_(4)
        y.unsqueeze(0).squeeze(0)[0, 0].fill_(9)
        return x, y
    same_as_torch(body)


def test_narrow_inplace_on_nonleaf_base_routes_gradients():
    def body(m):
        a = _grid(m, requires_grad=True)
        b = m.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=m.float64, requires_grad=True)
        x = a * 2
        x.narrow(1, 2, 2).mul_(b)    # reads the old slice (for b) and b (for the slice)
        (x * _weights(m)).sum().backward()
        return x, a.grad, b.grad, x.requires_grad, x.is_leaf
    same_as_torch(body)


def test_narrow_inplace_with_only_the_operand_requiring_grad():
    def body(m):
        b = m.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=m.float64, requires_grad=True)
        x = _grid(m)
        x.narrow(1, 2, 2).add_(b)
        assert x.requires_grad and not x.is_leaf
        (x * x).sum().backward()
        return x, b.grad
    same_as_torch(body)


def test_base_grad_fn_is_copyslices():
    x = _grid(jg, requires_grad=True) * 1
    x[:, 1].add_(1)
    tx = _grid(torch, requires_grad=True) * 1
    tx[:, 1].add_(1)
    assert x.grad_fn.name() == tx.grad_fn.name() == "torch::autograd::CopySlices"


def test_view_taken_before_base_inplace_gets_regenerated_history():
    def body(m):
        a = _grid(m, requires_grad=True)
        r = m.tensor(0.5, dtype=m.float64, requires_grad=True)
        x = a.clone()
        t, row, flat = x.T, x[1], x.reshape(-1)
        x.add_(r)
        assert t.requires_grad and row.requires_grad and flat.grad_fn is not None
        ((t * _weights(m, (4, 3))).sum() + (row ** 2).sum() + flat[5]).backward()
        return a.grad, r.grad
    same_as_torch(body)


def test_view_of_plain_tensor_requires_grad_after_base_takes_a_gradient_operand():
    def body(m):
        x = m.zeros(2, 3, dtype=m.float64)
        v = x[1]
        r = m.tensor([1.0, 2.0, 3.0], dtype=m.float64, requires_grad=True)
        x.mul_(2).add_(r)
        assert v.requires_grad
        (v * v).sum().backward()
        return v, r.grad
    same_as_torch(body)


def test_chain_of_views_inplace_and_second_order():
    def body(m):
        a = _grid(m, requires_grad=True)
        x = a.sin()
        x.transpose(0, 1)[1:3].mul_(x[0, 0].clone())  # scales by a value of the base itself
        (g,) = m.autograd.grad((x ** 2).sum(), a, create_graph=True)
        (gg,) = m.autograd.grad(g.sum(), a)
        return x, g, gg
    same_as_torch(body)


def test_view_inplace_gradcheck():
    def f(a, b):
        x = a * 1.5
        x[1:, ::2].mul_(b)
        x.select(1, 1).sin_()
        return x
    a = jg.tensor(np.random.default_rng(0).standard_normal((3, 4)), requires_grad=True)
    b = jg.tensor(np.random.default_rng(1).standard_normal((2, 2)), requires_grad=True)
    assert autograd.gradcheck(f, (a, b))
    assert autograd.gradgradcheck(f, (a, b))


def test_inplace_on_view_of_leaf_requiring_grad_is_refused():
    for m in (jg, torch):
        x = m.ones(2, 3, requires_grad=True)
        with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad is being used in an "
                                               "in-place operation"):
            x[0].add_(1)
        with m.no_grad():  # the way out the message names
            x[0].add_(1)
        assert x.detach().numpy()[0].tolist() == [2.0, 2.0, 2.0]


def test_refusal_names_the_tensor_the_op_and_the_way_out():
    x = jg.ones(2, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"\(mul_\).*float32 tensor of shape \[3\].*no_grad"):
        x[1].mul_(2)
    with pytest.raises(RuntimeError, match=r"\(sin_\).*float32 tensor of shape \[2, 3\].*no_grad"):
        x.sin_()


def test_write_through_expanded_view_is_refused():
    for m in (jg, torch):
        x = m.zeros(3)
        with pytest.raises(RuntimeError):
            x.expand(2, 3).add_(1)


def test_detached_view_writes_values_not_history():
    def body(m):
        a = _grid(m, requires_grad=True)
        x = a * 2
        x.detach()[0].zero_()
        assert x.grad_fn.name().endswith("MulBackward0")
        x.sum().backward()
        return x, a.grad
    same_as_torch(body)


# ---------------------------------------------------------------------------------------------
# 3. Gradient accumulation is in place
# ---------------------------------------------------------------------------------------------


def test_grad_accumulates_into_the_same_tensor():
    def body(m):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        (x * 2).sum().backward()
        g = x.grad
        (x * 3).sum().backward()
        return g, x.grad is g
    same_as_torch(body)


def test_grad_is_a_new_tensor_when_create_graph():
    def body(m):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        (x * 2).sum().backward()
        g = x.grad
        (x ** 2).sum().backward(create_graph=True)
        return g, x.grad, x.grad is g, x.grad.requires_grad
    same_as_torch(body, allowed_warning="Using backward\\(\\) with create_graph=True")


def test_error_mid_backward_leaves_grads_untouched():
    x = jg.tensor([1.0, 2.0], requires_grad=True)
    w = jg.tensor([3.0, 4.0], requires_grad=True)
    (x * w).sum().backward()
    gx, gw = x.grad.numpy().copy(), w.grad.numpy().copy()
    version = x.grad._version
    e = w.exp()
    loss = (e * e).sum() + x.sum()  # the engine reaches x's AccumulateGrad before the clobbered node
    e.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), gx)
    np.testing.assert_array_equal(w.grad.numpy(), gw)
    assert x.grad._version == version


# ---------------------------------------------------------------------------------------------
# 6. retain_grad() then an in-place op: .grad is that of the final value
# ---------------------------------------------------------------------------------------------


def test_retain_grad_follows_inplace_ops():
    def body(m):
        x = m.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = x * 2
        y.retain_grad()
        y.mul_(3).add_(1)
        (y * m.tensor([1.0, 10.0, 100.0])).sum().backward()
        return y.grad, x.grad
    same_as_torch(body)


# ---------------------------------------------------------------------------------------------
# 8. A node saves (and version-checks) only what its VJP rule reads
# ---------------------------------------------------------------------------------------------


def test_inplace_mul_where_only_the_operand_requires_grad():
    def body(m):
        a = m.tensor([1.0, 2.0, 3.0])
        b = m.tensor([4.0, 5.0, 6.0], requires_grad=True)
        a.mul_(b)
        (a * a).sum().backward()
        return a, b.grad
    same_as_torch(body)


def test_unread_input_may_be_modified_before_backward():
    def body(m):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        h = x * 1
        y = h * m.tensor([3.0, 4.0])  # d/dh reads only the constant
        z = h + 5                      # add reads nothing
        h.add_(1)
        (y.sum() + z.sum()).backward()
        return x.grad
    same_as_torch(body)


def test_read_input_modified_before_backward_is_still_caught():
    for m in (jg, torch):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        h = x * 1
        y = h * h
        h.add_(1)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()


def test_saved_values_are_derived_from_the_vjp_rule():
    """No hand-kept flags: what a node reads is found from its rule, per requires-grad pattern."""
    from jitgrad import core
    assert not hasattr(core.Primitive, "saves_values") and not hasattr(core.Primitive, "reads_output")
    x, c = jg.tensor([1.0, 2.0], requires_grad=True), jg.tensor([3.0, 4.0])
    assert (x * c).grad_fn._reads == ((False, True), False)
    assert (c * x).grad_fn._reads == ((True, False), False)
    assert x.exp().grad_fn._reads == ((False,), True)
    assert x.sin().grad_fn._reads == ((True,), False)
    assert (x + c).grad_fn._reads == ((False, False), False)


def test_values_no_rule_reads_are_not_kept_alive():
    """PyTorch frees an intermediate that no backward rule needs; so does jitgrad."""
    import gc
    import weakref
    x = jg.tensor([1.0, 2.0], requires_grad=True)
    h = x.sin()                       # SinBackward reads x, not its output h
    memory = weakref.ref(h._data)
    y = (h + 1).relu()                # AddBackward reads nothing; ReluBackward reads its own output
    del h
    gc.collect()
    assert memory() is None
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.cos([1.0, 2.0]), rtol=1e-6)


def test_node_saving_nothing_can_run_twice_without_retain_graph():
    def body(m):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        y = (x + 1).sum()
        y.backward()
        y.backward()
        return x.grad
    same_as_torch(body)


# ---------------------------------------------------------------------------------------------
# 12. _version is an int that changes
# ---------------------------------------------------------------------------------------------


def test_version_is_an_int_shared_by_views():
    def body(m):
        x = m.zeros(2, 3)
        v0 = x._version
        view = x[1]
        x.add_(1)
        view.mul_(2)
        return (type(v0).__name__, v0, x._version, view._version, x._version != v0, view._base is x,
                view._is_view(), x._is_view(), x.detach()._base is None)
    same_as_torch(body)
