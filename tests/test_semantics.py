"""PyTorch's eager autograd semantics, one test per behaviour (torch is the oracle where the
answer is not obvious)."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import check_torch, to_torch
from op_table import GRAD_CASES, make_inputs

import jitgrad as jg

torch = pytest.importorskip("torch")


def leaf(values, dtype=jg.float32):
    return jg.tensor(values, dtype=dtype, requires_grad=True)


# ---------------------------------------------------------------------------------------------
# Attributes
# ---------------------------------------------------------------------------------------------


def test_data_shares_storage_and_is_detached():
    x = leaf([1.0, 2.0])
    y = x.sin()
    d = x.data
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    d.mul_(3)  # allowed: .data is outside autograd, as in torch
    assert x.detach().numpy().tolist() == [3.0, 6.0]
    y.sum().backward()  # .data writes do not trip the version check (torch: same)
    np.testing.assert_allclose(x.grad.numpy(), np.cos([3.0, 6.0]), rtol=1e-6)


def test_basic_attributes():
    x = jg.zeros(2, 3)
    assert x.dtype == jg.float32 and x.shape == (2, 3) and tuple(x.shape) == (2, 3)
    assert x.device == jg.device("cpu") and str(x.device) == "cpu" and x.device == "cpu"
    assert x.grad is None and x.grad_fn is None and x.is_leaf and not x.requires_grad
    y = leaf([1.0]) * 2
    assert not y.is_leaf and y.requires_grad and y.grad_fn is not None


def test_requires_grad_settable_on_leaves_only():
    x = jg.ones(2)
    x.requires_grad = True
    assert x.requires_grad
    y = x * 2
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad = False
    x.requires_grad = False
    assert not x.requires_grad


@pytest.mark.parametrize("make", [lambda: jg.tensor([1, 2]), lambda: jg.tensor([True])], ids=["int", "bool"])
def test_requires_grad_on_non_float_is_an_error(make):
    with pytest.raises(RuntimeError, match="floating point"):
        make().requires_grad = True
    with pytest.raises(RuntimeError, match="floating point"):
        jg.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError):
        torch.tensor([1, 2]).requires_grad = True  # the oracle agrees


def test_size_dim_numel_item_tolist():
    x = jg.arange(6).reshape(2, 3)
    assert x.size() == (2, 3) and x.size(1) == 3 and x.size(-1) == 3
    assert x.dim() == 2 and x.ndim == 2 and x.numel() == 6 and len(x) == 2
    assert x.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert jg.tensor(2.5).item() == 2.5 and isinstance(jg.tensor(3).item(), int)
    assert jg.tensor([[7.0]]).item() == 7.0
    with pytest.raises(RuntimeError, match="6 elements"):
        x.item()
    assert float(jg.tensor(1.5)) == 1.5 and int(jg.tensor(4)) == 4


def test_numpy_shares_memory_and_refuses_grad():
    x = jg.zeros(3)
    a = x.numpy()
    a[0] = 5
    assert x.tolist() == [5.0, 0.0, 0.0]
    assert np.shares_memory(np.asarray(x), a)
    np.testing.assert_array_equal(np.asarray(x, dtype=np.float64), [5, 0, 0])
    g = leaf([1.0])
    with pytest.raises(RuntimeError, match=r"detach\(\)\.numpy\(\)"):
        g.numpy()
    with pytest.raises(RuntimeError):
        np.asarray(g)
    assert g.detach().numpy().tolist() == [1.0]


# ---------------------------------------------------------------------------------------------
# Graph nodes: names and structure match torch's
# ---------------------------------------------------------------------------------------------


def _first_diff_output(outs):
    outs = outs if isinstance(outs, tuple) else (outs,)
    return next(o for o in outs if o.requires_grad)


def _structure(node, depth: int):
    """(name, children carrying gradient) down to `depth`, via .name() in both libraries.
    (None, 0) edges are dropped: torch omits edges for inputs that never take a gradient
    (where's condition, index tensors) where jitgrad keeps one per input."""
    name = node.name().replace("torch::autograd::", "")
    if depth == 0:
        return name
    return name, tuple(_structure(n, depth - 1) for n, _ in node.next_functions if n is not None)


NAMED_CASES = [c for c in GRAD_CASES if not c.no_node_name]


@pytest.mark.parametrize("case", NAMED_CASES, ids=lambda c: c.name)
def test_node_names_match_torch(case):
    """grad_fn.name() is torch's class name, and next_functions has torch's shape one level down."""
    xs = make_inputs(case, np.float32)
    out = _first_diff_output(case.jg(*xs))
    ref = _first_diff_output(case.th(*[to_torch(torch, x) for x in xs]))
    assert out.grad_fn.name() == type(ref.grad_fn).__name__
    assert _structure(out.grad_fn, 1) == _structure(ref.grad_fn, 1)


def test_next_functions_and_accumulate_grad():
    x, w = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    y = (x * w).sin() + 1.0
    assert y.grad_fn.name() == "AddBackward0"
    (sin_node, _), (none_node, _) = y.grad_fn.next_functions
    assert none_node is None and sin_node.name() == "SinBackward0"
    mul_node = sin_node.next_functions[0][0]
    (ax, _), (aw, _) = mul_node.next_functions
    assert ax.name() == "torch::autograd::AccumulateGrad" == torch.ones(1, requires_grad=True).mul(2) \
        .grad_fn.next_functions[0][0].name()
    assert ax.variable is x and aw.variable is w
    z = x * 2
    assert z.grad_fn.next_functions[0][0] is ax  # one AccumulateGrad per leaf, reused


# ---------------------------------------------------------------------------------------------
# backward / grad
# ---------------------------------------------------------------------------------------------


def test_backward_with_gradient():
    x = leaf([1.0, 2.0, 3.0])
    (x * x).backward(jg.tensor([1.0, 0.5, -1.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0, -6.0])


def test_backward_accumulates_into_grad():
    x = leaf([1.0, 2.0])
    y = (x * 3).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 6.0])
    x.grad = None
    (x * 1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0])


def test_retain_graph_allows_second_backward_and_freed_graph_errors():
    x = leaf([0.5])
    y = x.exp().sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp([0.5]), rtol=1e-6)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_add_only_graph_can_run_twice_like_torch():
    """Nodes that saved nothing have nothing to free (torch: same)."""
    x, tx = leaf([1.0, 2.0]), torch.tensor([1.0, 2.0], requires_grad=True)
    for t in (x, tx):
        y = (t + 1 - 2).sum()
        y.backward()
        y.backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())


@pytest.mark.parametrize("fn, d2", [(lambda m, x: x ** 3, lambda x: 6 * x),
                                    (lambda m, x: m.sin(x), lambda x: -np.sin(x))], ids=["cube", "sin"])
def test_create_graph_higher_order(fn, d2):
    x = leaf([0.3, -1.2, 2.0], dtype=jg.float64)
    (g,) = jg.autograd.grad(fn(jg, x).sum(), x, create_graph=True)
    assert g.requires_grad and g.grad_fn is not None
    g.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), d2(x.detach().numpy()), rtol=1e-12)
    # also through Tensor.backward(create_graph=True): x.grad itself has a graph
    z = leaf([0.7], dtype=jg.float64)
    fn(jg, z).sum().backward(create_graph=True)
    (gg,) = jg.autograd.grad(z.grad.sum(), z)
    np.testing.assert_allclose(gg.numpy(), d2(np.array([0.7])), rtol=1e-12)


def test_backward_inputs_restricts_accumulation():
    x, y = leaf([1.0]), leaf([2.0])
    h = x * y
    (h * h).sum().backward(inputs=[x])
    np.testing.assert_allclose(x.grad.numpy(), [2 * 1 * 2 * 2])
    assert y.grad is None
    h2 = x * y
    (h2 * 3).sum().backward(inputs=[h2])  # a non-leaf input gets .grad
    np.testing.assert_allclose(h2.grad.numpy(), [3.0])


def test_autograd_backward_function():
    x = leaf([1.0, 2.0])
    a, b = x * 2, x * x
    jg.autograd.backward([a, b], [jg.ones(2), jg.tensor([1.0, 1.0])])
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 6.0])


def test_autograd_grad_basics():
    x, y = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    out = (x * y).sum()
    gx, gy = jg.autograd.grad(out, [x, y])
    np.testing.assert_allclose(gx.numpy(), [3, 4])
    np.testing.assert_allclose(gy.numpy(), [1, 2])
    assert x.grad is None and y.grad is None  # grad() does not touch .grad


def test_autograd_grad_allow_unused():
    x, unused = leaf([1.0]), leaf([2.0])
    out = (x * 2).sum()
    with pytest.raises(RuntimeError, match="allow_unused=True"):
        jg.autograd.grad(out, [x, unused], retain_graph=True)
    gx, gu = jg.autograd.grad(out, [x, unused], allow_unused=True)
    assert gu is None and gx.tolist() == [2.0]


def test_autograd_grad_outputs_and_non_leaf_inputs():
    x = leaf([1.0, 2.0, 3.0])
    h = x * x
    out = h.sin()
    (gh,) = jg.autograd.grad(out, h, grad_outputs=jg.tensor([1.0, 2.0, 3.0]), retain_graph=True)
    np.testing.assert_allclose(gh.numpy(), np.cos([1.0, 4.0, 9.0]) * [1, 2, 3], rtol=1e-6)
    with pytest.raises(RuntimeError, match="scalar outputs"):
        jg.autograd.grad(out, x)


def test_two_leaves_never_share_a_grad_tensor():
    x, y = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (x + y).sum().backward()
    assert x.grad is not y.grad
    x.grad.add_(10)
    assert y.grad.tolist() == [1.0, 1.0]


def test_retain_grad_and_non_leaf_grad_warning():
    x = leaf([1.0, 2.0])
    h = x * 3
    k = x * 4
    h.retain_grad()
    (h * k).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), k.detach().numpy())
    assert h.retains_grad
    with pytest.warns(UserWarning, match="retain_grad"):
        assert k.grad is None


# ---------------------------------------------------------------------------------------------
# detach, clone, conversion
# ---------------------------------------------------------------------------------------------


def test_detach_shares_storage():
    x = leaf([1.0, 2.0])
    d = x.detach()
    assert not d.requires_grad and d.grad_fn is None
    assert np.shares_memory(d.numpy(), x.detach().numpy())
    y = x * 2
    y.detach_()
    assert y.grad_fn is None and not y.requires_grad and y.is_leaf


def test_detached_write_is_seen_by_version_check():
    """detach() shares the version counter (torch: same), so a write through it is caught."""
    x = leaf([1.0, 2.0])
    y = x.sin()
    x.detach().mul_(2)
    with pytest.raises(RuntimeError, match="mul_"):
        y.sum().backward()


def test_clone_copies_and_records():
    x = leaf([1.0, 2.0])
    c = x.clone()
    assert c.grad_fn.name() == "CloneBackward0"
    assert not np.shares_memory(c.detach().numpy(), x.detach().numpy())
    c.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]


def test_requires_grad_():
    x = jg.ones(2)
    assert x.requires_grad_() is x and x.requires_grad
    assert x.requires_grad_(False) is x and not x.requires_grad


def test_to_returns_self_when_unchanged_and_float_double():
    x = leaf([1.0, 2.0])
    assert x.to(jg.float32) is x and x.to("cpu") is x and x.to(jg.device("cpu")) is x and x.cpu() is x
    assert x.float() is x
    d = x.double()
    assert d.dtype == jg.float64 and d.grad_fn.name() == "ToCopyBackward0"
    f = x.to(jg.float64).float()
    assert f.dtype == jg.float32
    f.sum().backward()
    assert x.grad.dtype == jg.float32 and x.grad.tolist() == [1.0, 1.0]
    with pytest.raises(RuntimeError, match="cuda"):
        x.to("cuda")


# ---------------------------------------------------------------------------------------------
# In-place ops
# ---------------------------------------------------------------------------------------------

INPLACE = {
    "add_": lambda m, y, o: y.add_(o),
    "sub_": lambda m, y, o: y.sub_(o, alpha=2),
    "mul_": lambda m, y, o: y.mul_(o),
    "div_": lambda m, y, o: y.div_(o),
    "zero_": lambda m, y, o: y.zero_(),
    "fill_": lambda m, y, o: y.fill_(0.25),
    "copy_": lambda m, y, o: y.copy_(o),
    "clamp_": lambda m, y, o: y.clamp_(-0.5, 0.5),
    "sin_": lambda m, y, o: m.sin_(y),
    "iadd": lambda m, y, o: y.__iadd__(o),
    "isub": lambda m, y, o: y.__isub__(o),
    "imul": lambda m, y, o: y.__imul__(o),
    "itruediv": lambda m, y, o: y.__itruediv__(o),
}


@pytest.mark.parametrize("op", list(INPLACE))
def test_inplace_refused_on_leaf_requiring_grad(op):
    x, o = leaf([1.0, 2.0]), jg.tensor([0.5, 0.5])
    name = op if op.endswith("_") else {"iadd": "add_", "isub": "sub_", "imul": "mul_", "itruediv": "div_"}[op]
    with pytest.raises(RuntimeError, match=rf"leaf Variable that requires grad .*\({name}\)"):
        INPLACE[op](jg, x, o)
    with jg.no_grad():
        INPLACE[op](jg, x, o)  # allowed under no_grad
    assert x.is_leaf and x.requires_grad


@pytest.mark.parametrize("op", list(INPLACE))
def test_inplace_on_non_leaf_matches_torch(op):
    """y = x * w; y.<op>(o); out = y * x: values and gradients of x, w, o as in torch."""
    def fn(m, x, w, o):
        y = x * w
        INPLACE[op](m, y, o)
        return y * x

    x = jg.tensor([0.3, -0.8, 1.2], dtype=jg.float64, requires_grad=True)
    w = jg.tensor([1.5, 0.7, -0.4], dtype=jg.float64, requires_grad=True)
    o = jg.tensor([0.6, -1.1, 0.9], dtype=jg.float64, requires_grad=True)
    check_torch(lambda *a: fn(jg, *a), lambda *a: fn(torch, *a), [x, w, o], rtol=1e-12, atol=1e-12)


def test_manual_sgd_under_no_grad():
    w = leaf([1.0, -2.0])
    target = jg.tensor([0.5, 0.5])
    for _ in range(50):
        loss = ((w - target) ** 2).sum()
        loss.backward()
        with jg.no_grad():
            w -= 0.1 * w.grad
        w.grad.zero_()
    assert w.is_leaf and w.requires_grad and w.grad_fn is None
    np.testing.assert_allclose(w.detach().numpy(), [0.5, 0.5], atol=1e-4)


def test_inplace_bumps_version_and_clobbering_saved_input_errors():
    x = leaf([1.0, 2.0])
    y = x * 1
    z = y.sin()  # saves y
    y.add_(1)
    with pytest.raises(RuntimeError, match=r"modified by an inplace operation \(add_\)"):
        z.sum().backward()


def test_clobbering_saved_output_errors_but_unsaved_output_is_fine():
    x = leaf([1.0, 2.0])
    z = x.exp()  # ExpBackward0 reads its output
    z.mul_(2)
    with pytest.raises(RuntimeError, match=r"\(mul_\).*ExpBackward0"):
        z.sum().backward()
    m = x * 3  # MulBackward0 does not read its output (torch allows this)
    m.mul_(2)
    m.sum().backward()
    assert x.grad.tolist() == [6.0, 6.0]


def test_inplace_keeps_identity_and_records_node():
    x = leaf([1.0, 2.0])
    y = x * 2
    same = y.mul_(3)
    assert same is y and y.grad_fn.name() == "MulBackward0"
    y[0] = 0.0
    assert y.grad_fn.name() == "CopySlices" == type(_torch_copy_slices().grad_fn).__name__


def _torch_copy_slices():
    t = torch.ones(2, requires_grad=True) * 2
    t[0] = 0.0
    return t


# ---------------------------------------------------------------------------------------------
# Operators
# ---------------------------------------------------------------------------------------------

OPERATORS = {
    "add": lambda x, y: x + y, "radd": lambda x, y: 2 + x, "sub": lambda x, y: x - y, "rsub": lambda x, y: 3 - y,
    "mul": lambda x, y: x * y, "rmul": lambda x, y: 1.5 * x, "div": lambda x, y: x / y,
    "rdiv": lambda x, y: 1.0 / y, "pow": lambda x, y: x ** 2, "rpow": lambda x, y: 2 ** y,
    "neg": lambda x, y: -x, "pos": lambda x, y: +x, "abs": lambda x, y: abs(x),
    "matmul": lambda x, y: x @ y,
}


@pytest.mark.parametrize("name", list(OPERATORS))
def test_python_operators(name):
    x = jg.tensor([0.5, 1.5, 2.0], dtype=jg.float64, requires_grad=True)
    y = jg.tensor([1.2, -0.7, 0.4], dtype=jg.float64, requires_grad=True)
    check_torch(OPERATORS[name], OPERATORS[name], [x, y], rtol=1e-12, atol=1e-12)


def test_augmented_assignment_on_non_leaf():
    def fn(x, y):
        z = x * 1
        z -= y
        z += 2
        z *= y
        z /= 4
        return z

    x = jg.tensor([0.5, 1.5], dtype=jg.float64, requires_grad=True)
    y = jg.tensor([1.2, -0.7], dtype=jg.float64, requires_grad=True)
    check_torch(fn, fn, [x, y], rtol=1e-12, atol=1e-12)


def test_comparison_operators_return_bool_without_grad():
    x = leaf([1.0, 2.0])
    for r in (x > 1, x >= 1, x < 1, x <= 1, x == 1, x != 1):
        assert r.dtype == jg.bool and not r.requires_grad


# ---------------------------------------------------------------------------------------------
# Error paths
# ---------------------------------------------------------------------------------------------


def test_non_scalar_backward_needs_gradient():
    y = leaf([1.0, 2.0]) * 2
    with pytest.raises(RuntimeError, match="implicitly created only for scalar outputs"):
        y.backward()


def test_backward_on_tensor_without_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        jg.ones(2).sum().backward()


def test_broadcast_shape_mismatch_names_both_shapes():
    with pytest.raises((RuntimeError, ValueError), match=r"\(2, 3\).*\(4,\)|\(4,\).*\(2, 3\)"):
        jg.ones(2, 3) + jg.ones(4)


def test_matmul_shape_mismatch_names_both_shapes():
    with pytest.raises((RuntimeError, ValueError), match=r"2.*3.*4.*5"):
        jg.ones(2, 3) @ jg.ones(4, 5)
    with pytest.raises(RuntimeError, match="2-D"):
        jg.mm(jg.ones(3), jg.ones(3, 2))


def test_backward_gradient_shape_mismatch():
    y = leaf([1.0, 2.0]) * 2
    with pytest.raises(RuntimeError, match="Mismatch in shape"):
        y.backward(jg.ones(3))


# ---------------------------------------------------------------------------------------------
# dtype promotion vs torch
# ---------------------------------------------------------------------------------------------

PROMOTION = {
    "int-tensor + float-scalar": (lambda m: m.tensor([1, 2]) + 2.5),
    "int-tensor * int-scalar": (lambda m: m.tensor([1, 2]) * 3),
    "float32 + float64": (lambda m: m.ones(2) + m.ones(2, dtype=m.float64)),
    "float32 * int-scalar": (lambda m: m.ones(2) * 2),
    "float32 + float-scalar": (lambda m: m.ones(2) + 2.0),
    "float64 + int64": (lambda m: m.ones(2, dtype=m.float64) + m.tensor([1, 2])),
    "bool + int": (lambda m: m.tensor([True, False]) + m.tensor([1, 2])),
    "bool * float-scalar": (lambda m: m.tensor([True, False]) * 1.5),
    "bool + bool": (lambda m: m.tensor([True, False]) + m.tensor([True, True])),
    "int32 + int64": (lambda m: m.tensor([1], dtype=m.int32) + m.tensor([2])),
    "int / int": (lambda m: m.tensor([1, 2]) / m.tensor([2, 2])),
    "int / int-scalar": (lambda m: m.tensor([3]) / 2),
    "int ** float-scalar": (lambda m: m.tensor([4]) ** 0.5),
    "float32 + 0-d float64": (lambda m: m.ones(2) + m.tensor(1.0, dtype=m.float64)),
    "int64 + 0-d float64": (lambda m: m.tensor([1]) + m.tensor(1.0, dtype=m.float64)),
    "sum of int32": (lambda m: m.tensor([1, 2], dtype=m.int32).sum()),
    "mean of float64": (lambda m: m.ones(2, dtype=m.float64).mean()),
    "where(int, float)": (lambda m: m.where(m.tensor([True, False]), m.tensor([1, 2]), m.tensor([0.5, 0.5]))),
}


@pytest.mark.parametrize("name", list(PROMOTION))
def test_dtype_promotion_matches_torch(name):
    ours, ref = PROMOTION[name](jg), PROMOTION[name](torch)
    assert jg.dtypes.name(ours.dtype) == str(ref.dtype).replace("torch.", "")
    np.testing.assert_allclose(ours.numpy(), ref.numpy())


def test_storage_is_always_an_array():
    """Issue 11, defect 1: NumPy scalars (np.add of two 0-d arrays returns one) become 0-d
    arrays where storage is wrapped; anything that is not array storage is refused."""
    t = jg.Tensor._wrap(np.add(np.array(1.0), np.array(2.0)))
    assert type(t._data) is np.ndarray and t.shape == () and t.item() == 3.0
    with pytest.raises(TypeError, match="tensor storage must be"):
        jg.Tensor._wrap(1.5)
    w = jg.tensor(1.0, requires_grad=True)
    for _ in range(3):
        (w * 2).backward()
    assert type(w.grad._data) is np.ndarray and w.grad.item() == 6.0
