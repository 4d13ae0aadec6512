"""The NumPy VJP rules of host_vjp.py give the tensor rules' cotangents bit for bit (shapes, dtypes,
values) for every requires-grad pattern, dispatch no primitive, fall back to the tensor rule where
dtypes differ, and keep the in-place modification errors."""
from __future__ import annotations

import numpy as np
import pytest

import jitgrad as jg
from jitgrad import core, host_vjp

rng = np.random.default_rng(7)


def _t(shape, dtype=np.float32, requires_grad=True, positive=False):
    a = rng.standard_normal(shape).astype(dtype)
    return jg.tensor(np.abs(a) + 0.5 if positive else a, requires_grad=requires_grad)


# (name, inputs factory, op): every rule in host_vjp.RULES appears, with broadcasting, 0-d and batched cases.
CASES = [
    ("add", lambda: (_t((4, 3)), _t((3,))), lambda x, y: x + y),
    ("add0d", lambda: (_t(()), _t((2, 1))), lambda x, y: x + y),
    ("sub", lambda: (_t((4, 3)), _t((4, 1))), lambda x, y: x - y),
    ("mul", lambda: (_t((2, 3, 4)), _t((3, 1))), lambda x, y: x * y),
    ("div", lambda: (_t((5, 3)), _t((3,), positive=True)), lambda x, y: x / y),
    ("neg", lambda: (_t((6,)),), lambda x: -x),
    ("rsub", lambda: (_t((3, 2)),), lambda x: 1 - x),
    ("square", lambda: (_t((3, 4)),), lambda x: x ** 2),
    ("cube", lambda: (_t((3, 4)),), lambda x: x ** 3),
    ("pow float", lambda: (_t((3, 4), positive=True),), lambda x: x ** 2.5),
    ("exp", lambda: (_t((3, 4)),), jg.exp),
    ("log", lambda: (_t((3, 4), positive=True),), jg.log),
    ("tanh", lambda: (_t((8, 5)),), jg.tanh),
    ("sigmoid", lambda: (_t((8, 5)),), jg.sigmoid),
    ("sigmoid0d", lambda: (_t(()),), jg.sigmoid),
    ("mm", lambda: (_t((32, 30)), _t((30, 20))), lambda a, b: a @ b),
    ("mv", lambda: (_t((5, 4)), _t((4,))), lambda a, b: a @ b),
    ("vm", lambda: (_t((4,)), _t((4, 3))), lambda a, b: a @ b),
    ("dot", lambda: (_t((4,)), _t((4,))), lambda a, b: a @ b),
    ("bmm", lambda: (_t((2, 3, 4, 5)), _t((2, 3, 5, 2))), lambda a, b: a @ b),
    ("3d@2d", lambda: (_t((3, 7, 4)), _t((4, 6))), lambda a, b: a @ b),
    ("bcast bmm", lambda: (_t((3, 4)), _t((2, 4, 5))), lambda a, b: a @ b),
    ("reshape", lambda: (_t((4, 6)),), lambda x: x.reshape(2, 12)),
    ("transpose", lambda: (_t((2, 3, 4)),), lambda x: x.transpose(0, 2)),
    ("expand", lambda: (_t((3, 1)),), lambda x: x.expand(2, 3, 5)),
    ("sum all", lambda: (_t((3, 4)),), lambda x: x.sum()),
    ("sum dim", lambda: (_t((3, 4, 2)),), lambda x: x.sum(1)),
    ("sum keepdim", lambda: (_t((3, 4, 2)),), lambda x: x.sum((0, 2), keepdim=True)),
    ("mean all", lambda: (_t((3, 7)),), lambda x: x.mean()),
    ("mean dim", lambda: (_t((3, 7)),), lambda x: x.mean(-1, keepdim=True)),
    ("amax", lambda: (jg.tensor(np.float32([[1, 3, 3], [2, 0, 1]]), requires_grad=True),),
     lambda x: x.amax(-1, keepdim=True)),
    ("amax nokeep", lambda: (_t((4, 5)),), lambda x: x.amax(0)),
    ("amin", lambda: (_t((4, 5)),), lambda x: x.amin(1)),
    ("cat", lambda: (_t((4, 2)), _t((4, 3)), _t((4, 1))), lambda *xs: jg.cat(xs, 1)),
    ("cat dim0", lambda: (_t((1, 3)), _t((2, 3))), lambda *xs: jg.cat(xs, 0)),
    ("embedding", lambda: (_t((27, 10)),), lambda e: e[jg.tensor(rng.integers(0, 27, (8, 3)))]),
    ("slice", lambda: (_t((5, 4)),), lambda x: x[1:4, ::2]),
    ("gather", lambda: (_t((6, 5)),), lambda x: x.gather(1, jg.tensor(rng.integers(0, 5, (6, 2))))),
    ("float64", lambda: (_t((3, 4), np.float64), _t((4, 2), np.float64)), lambda a, b: a @ b),
]


def _patterns(n):
    """Every requires-grad pattern with at least one input requiring grad."""
    return [p for p in np.ndindex(*(2,) * n) if any(p)]


def _node_and_grad(make, op, pattern):
    inputs = make()
    for t, need in zip(inputs, pattern):
        t.requires_grad = bool(need)
    out = op(*inputs)
    g = jg.tensor(rng.standard_normal(out.shape).astype(out.detach().numpy().dtype))
    return out.grad_fn, g


def _same(a, b):
    if a is None or b is None:
        return a is None and b is None
    da, db = a.detach().numpy(), b.detach().numpy()
    return da.dtype == db.dtype and da.shape == db.shape and da.tobytes() == db.tobytes()


@pytest.mark.parametrize("name,make,op", CASES, ids=[c[0] for c in CASES])
def test_numpy_rule_equals_tensor_rule_bit_for_bit(name, make, op):
    for pattern in _patterns(len(make())):
        node, g = _node_and_grad(make, op, pattern)
        assert node.prim in host_vjp.RULES, node.prim
        fast = host_vjp.apply(node, g)
        slow = node.apply_host(g)
        assert len(fast) == len(slow)
        for f, s in zip(fast, slow):
            assert _same(f, s), (name, pattern)


def test_every_rule_is_covered_and_dispatches_nothing():
    covered, seen = set(), []
    original = core._bind

    def counting(prim, args, params):
        seen.append(prim.name)
        return original(prim, args, params)

    for _, make, op in CASES:
        node, g = _node_and_grad(make, op, (1,) * len(make()))
        covered.add(node.prim)
        core._bind = counting
        try:
            host_vjp.apply(node, g)
        finally:
            core._bind = original
        assert seen == [], (node.prim, seen)
    assert covered == set(host_vjp.RULES)


def test_mixed_dtypes_take_the_tensor_rule():
    """float32 * float64 (0-d, a weak operand in PyTorch's promotion): the NumPy rule declines, the
    tensor rule runs and promotes as before."""
    x, y = _t((3,)), _t((), np.float64)
    node = (x * y).grad_fn
    g = jg.tensor(np.ones(3, np.float32))
    assert host_vjp.RULES[node.prim](g.numpy(), None, [x.detach().numpy(), y.detach().numpy()], [True, True]) is None
    fast, slow = host_vjp.apply(node, g), node.apply_host(g)
    assert all(_same(f, s) for f, s in zip(fast, slow))


def test_sub_makes_no_negation_for_a_constant():
    x, y = _t((3,)), _t((3,), requires_grad=False)
    g = np.ones(3, np.float32)
    gx, gy = host_vjp.RULES[(x - y).grad_fn.prim](g, None, [x.detach().numpy(), y.numpy()], [True, False])
    assert gx is g and gy is None


def test_in_place_change_of_a_saved_value_still_raises():
    x = _t((4,))
    y = x * 1.0
    out = jg.tanh(y)
    with jg.no_grad():
        out.add_(1.0)
    with pytest.raises(RuntimeError, match="output 0 of TanhBackward0 is at version 1; expected version 0"):
        out.sum().backward()
    a, b = _t((3,)), _t((3,))
    c = a * 1.0
    loss = (c * b).sum()
    with jg.no_grad():
        c.mul_(2.0)
    with pytest.raises(RuntimeError, match="input 0 of MulBackward0"):
        loss.backward()


def test_freed_graph_still_raises():
    x = _t((3,))
    loss = jg.tanh(x).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        loss.backward()


def test_model_gradients_unchanged():
    """A GRU-like step's gradients: the engine (NumPy rules) equals create_graph's tensor rules."""
    def loss_of(ps):
        e, w, b = ps
        h = jg.zeros((4, 5))
        total = 0.0
        for t in range(3):
            xh = jg.cat([e[jg.tensor([t, t + 1, 0, 2])], h], 1)
            z = jg.sigmoid(xh @ w + b)
            h = (1 - z) * jg.tanh(xh @ w) + z * h
            top = h.amax(-1, keepdim=True)
            total = total + (h - (jg.exp(h - top).sum(-1, keepdim=True).log() + top)).mean()
        return total / 3
    arrays = (rng.standard_normal((6, 3)), rng.standard_normal((8, 5)), rng.standard_normal(5))
    fast = [jg.tensor(a.astype(np.float32), requires_grad=True) for a in arrays]
    slow = [jg.tensor(a.astype(np.float32), requires_grad=True) for a in arrays]
    loss_of(fast).backward()
    loss_of(slow).backward(create_graph=True)
    for f, s in zip(fast, slow):
        assert _same(f.grad, s.grad)


def test_hooks_and_retain_grad_in_a_chain_of_numpy_rules():
    """Cotangents pass between NumPy rules as bare arrays: a hook in the chain still sees (and may
    replace) a tensor, and retain_grad still fills .grad, as on the tensor path."""
    def run(create_graph):
        x = jg.tensor(np.float32([0.5, -1.0, 2.0]), requires_grad=True)
        a = jg.tanh(x * 2.0)
        b = a * a
        seen = []
        b.register_hook(lambda g: seen.append(g) or g * 3.0)
        a.retain_grad()
        (jg.sigmoid(b) + b).sum().backward(create_graph=create_graph)
        return x.grad.detach(), a.grad.detach(), seen[0].detach()
    fast, slow = run(False), run(True)
    for f, s in zip(fast, slow):
        assert isinstance(f, jg.Tensor) and _same(f, s)
