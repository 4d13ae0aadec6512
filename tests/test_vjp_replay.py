"""The eager engine's no-graph backward replays each primitive's declared VJP rule (vjp_replay.py):
for every primitive of the op table the replay gives the tensor rule's cotangents bit for bit and
dispatches nothing; the formulas come from the op declarations only (no hand-written copy); rules
that cannot be recorded run on tensors; the in-place modification errors stay."""
from __future__ import annotations

import ast
import dataclasses
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from helpers import dispatched_prims
from op_table import GRAD_CASES, jitgrad_fn, make_inputs

import jitgrad as jg
from jitgrad import core, vjp_replay
from jitgrad.autograd_graph import PrimNode, Zero
from jitgrad.core import Primitive
from jitgrad.prims_elementwise import TANH

rng = np.random.default_rng(7)


def _t(shape, dtype=np.float32, requires_grad=True, positive=False):
    a = rng.standard_normal(shape).astype(dtype)
    return jg.tensor(np.abs(a) + 0.5 if positive else a, requires_grad=requires_grad)


# (name, inputs factory, op): the commonest rules of real models, with broadcasting, 0-d and batched cases
# (the op table's cases below add every other primitive).
CASES = [
    ("add", lambda: (_t((4, 3)), _t((3,))), lambda x, y: x + y),
    ("add0d", lambda: (_t(()), _t((2, 1))), lambda x, y: x + y),
    ("sub", lambda: (_t((4, 3)), _t((4, 1))), lambda x, y: x - y),
    ("mul", lambda: (_t((2, 3, 4)), _t((3, 1))), lambda x, y: x * y),
    ("div", lambda: (_t((5, 3)), _t((3,), positive=True)), lambda x, y: x / y),
    ("neg", lambda: (_t((6,)),), lambda x: -x),
    ("rsub", lambda: (_t((3, 2)),), lambda x: 1 - x),
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
    da = a if isinstance(a, np.ndarray) else a.detach().numpy()
    db = b if isinstance(b, np.ndarray) else b.detach().numpy()
    return da.dtype == db.dtype and da.shape == db.shape and da.tobytes() == db.tobytes()


def _check_replay(node, g) -> bool:
    """The replay of node's rule for cotangent tensor g equals the rule run on tensors, bit for bit, for
    every input that needs a gradient (True), or the replay declined (False); the second replay (of the
    recording the first made) dispatches no primitive."""
    got = vjp_replay.arrays(node, g._data)
    want = node.apply_host(g)
    needs = [nxt is not None for nxt in node._next]
    if got is None:
        return False
    assert len(got) == len(want)
    for i, (f, s) in enumerate(zip(got, want)):
        if needs[i]:
            assert _same(f, s), (node.prim, i)
    again = []
    assert dispatched_prims(lambda: again.extend(vjp_replay.arrays(node, g._data))) == []
    for i, (f, s) in enumerate(zip(again, want)):  # (the replay compiled by the first pass)
        if needs[i]:
            assert _same(f, s), (node.prim, i, "second replay")
    return True


@pytest.mark.parametrize("name,make,op", CASES, ids=[c[0] for c in CASES])
def test_replay_equals_tensor_rule_bit_for_bit(name, make, op):
    for pattern in _patterns(len(make())):
        node, g = _node_and_grad(make, op, pattern)
        assert _check_replay(node, g), (name, pattern)


def _prim_nodes(outputs) -> list:
    """Every PrimNode of the graphs behind `outputs`."""
    stack = [t.grad_fn for t in outputs if isinstance(t, jg.Tensor) and t.grad_fn is not None]
    seen, nodes = set(), []
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if type(node) is PrimNode:
            nodes.append(node)
        stack.extend(getattr(node, "_next", ()))
    return nodes


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("case", GRAD_CASES, ids=lambda c: c.name)
def test_op_table_replays_equal_tensor_rules(case, dtype):
    """Each primitive node of each op-table case: the replay equals the rule on tensors, bit for bit. It
    declines only a rule that returns a symbolic zero (sign, floor_divide, x ** 0), which the engine passes
    on without running rules (a bare array cannot stand for it)."""
    outs = jitgrad_fn(case)(*make_inputs(case, dtype))
    outs = list(outs) if isinstance(outs, (tuple, list)) else [outs]
    for node in _prim_nodes(outs):
        if np.dtype(node._out_dtype).kind != "f":
            continue
        g = jg.tensor(rng.standard_normal(node._out_shape).astype(node._out_dtype))
        if not _check_replay(node, g):
            zeros = [type(w) is Zero for w, nxt in zip(node.apply_host(g), node._next) if nxt is not None]
            assert any(zeros), f"{node.prim.name}'s rule was not replayed"


def test_no_gradient_formula_outside_the_op_declarations():
    """The hand-written NumPy VJP forms (host_vjp.py) are gone, and the replay has no per-primitive code:
    it names no primitive and imports no prims module; a rule declared differently is replayed as declared."""
    assert importlib.util.find_spec("jitgrad.host_vjp") is None
    assert not any(isinstance(v, Primitive) or (isinstance(v, dict) and any(isinstance(k, Primitive) for k in v))
                   for k, v in vars(vjp_replay).items() if k != "_cache")
    tree = ast.parse(Path(vjp_replay.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not any(m and m.startswith("prims") for m in imported), imported

    def doubled_rule(g, out, x):  # a different formula, declared with the primitive
        return (g * (1 - out * out) * 2.0,)

    doubled = dataclasses.replace(TANH, vjp=doubled_rule)
    for _ in range(2):  # (the first backward records the rule, the second replays it)
        x = _t((5,))
        y = core.bind(doubled, x)
        g = jg.tensor(rng.standard_normal(5).astype(np.float32))
        want = doubled_rule(g, y.detach(), x.detach())[0]
        ran = dispatched_prims(lambda y=y, g=g: y.backward(g))
    assert ran == [] and _same(x.grad, want)


def test_mixed_dtypes_replay_the_promotion():
    """float32 * float64 (0-d, a weak operand in PyTorch's promotion): the recording holds the rule's
    casts, so the replay promotes as the tensor rule does."""
    x, y = _t((3,)), _t((), np.float64)
    node = (x * y).grad_fn
    g = jg.tensor(np.ones(3, np.float32))
    assert _check_replay(node, g)


def test_unrecordable_rules_run_on_tensors():
    """A rule that reads data (user code of autograd.Function, never recorded) runs on tensors each time."""
    calls = []

    class Square(jg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            calls.append(1)
            (x,) = ctx.saved_tensors
            return g * 2 * x

    for _ in range(2):
        x = _t((3,))
        Square.apply(x).sum().backward()
        assert np.array_equal(x.grad.numpy(), 2 * x.detach().numpy())
    assert calls == [1, 1]


@pytest.mark.parametrize("mode", ["plain", "create_graph", "anomaly", "profiler"])
def test_watched_backward_runs_the_rule_on_tensors(mode):
    """With a graph built, anomaly mode or the profiler, tanh's rule runs on tensors (its primitives are
    dispatched) even once its recording exists; a plain backward replays it. (A tensor hook sees a tensor
    cotangent and the rule still replays: test_hooks_and_retain_grad_in_a_chain_of_replayed_rules.)"""
    def backward():
        x = _t((4,))
        y = jg.tanh(x * 1.0)
        loss = y.sum()
        if mode == "create_graph":
            return dispatched_prims(lambda: loss.backward(create_graph=True))
        if mode == "anomaly":
            with jg.autograd.detect_anomaly():
                return dispatched_prims(loss.backward)
        if mode == "profiler":
            with jg.autograd.profiler.profile():
                return dispatched_prims(loss.backward)
        return dispatched_prims(loss.backward)
    jg.tanh(_t((4,)) * 1.0).sum().backward()  # (records tanh's and mul's rules)
    ran = backward()
    assert ("multiply" in ran or "mul" in ran) == (mode != "plain"), ran


def test_sub_makes_no_negation_for_a_constant():
    x, y = _t((3,)), _t((3,), requires_grad=False)
    g = np.ones(3, np.float32)
    node = (x - y).grad_fn
    vjp_replay.arrays(node, g)
    assert dispatched_prims(lambda: vjp_replay.arrays(node, g)) == []
    gx, gy = vjp_replay.arrays(node, g)
    assert gx is g and gy is None


@pytest.mark.parametrize("warm", [False, True], ids=["first pass", "compiled replay"])
def test_in_place_change_of_a_saved_value_still_raises(warm):
    """As PyTorch: the recorded replay (first pass) and the one compiled for the node signature
    (later passes) both refuse a saved value changed in place, and a freed graph."""
    for modify in ([True] if not warm else [False, False, True]):
        x = _t((4,))
        y = x * 1.0
        out = jg.tanh(y)
        if modify:
            with jg.no_grad():
                out.add_(1.0)
            with pytest.raises(RuntimeError, match="output 0 of TanhBackward0 is at version 1; expected version 0"):
                out.sum().backward()
        else:
            out.sum().backward()
        a, b = _t((3,)), _t((3,))
        c = a * 1.0
        loss = (c * b).sum()
        if modify:
            with jg.no_grad():
                c.mul_(2.0)
            with pytest.raises(RuntimeError, match="input 0 of MulBackward0"):
                loss.backward()
        else:
            loss.backward()
            with pytest.raises(RuntimeError, match="backward through the graph a second time"):
                loss.backward()


def test_freed_graph_still_raises():
    x = _t((3,))
    loss = jg.tanh(x).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        loss.backward()


def test_model_gradients_unchanged():
    """A GRU-like step's gradients: the engine (replayed rules) equals create_graph's tensor rules."""
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


def test_hooks_and_retain_grad_in_a_chain_of_replayed_rules():
    """Cotangents pass between replayed rules as bare arrays: a hook in the chain still sees (and may
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


def test_a_replay_compiled_for_a_signature_serves_its_later_nodes_and_declines_a_replaced_storage():
    """The first backward through a signature checks its replay step by step, then compiles it into
    straight-line code kept with the signature (core.Reads): later graphs' nodes of that signature
    run it, with the same gradients bit for bit. A saved input whose storage was replaced by one of
    another shape makes it decline, and the rule runs on tensors (the right gradient, no error)."""
    w = jg.tensor(rng.standard_normal(3).astype(np.float32), requires_grad=True)
    x = jg.tensor(rng.standard_normal((4, 3)).astype(np.float32))
    grads = []
    for _ in range(3):
        w.grad = None
        loss = (w * x).tanh().sum()
        node = loss.grad_fn._next[0]._next[0]  # mul
        loss.backward()
        grads.append(w.grad.numpy().copy())
    assert isinstance(node._reads, core.Reads) and node._reads.runner is not None
    assert all(np.array_equal(grads[0], g) for g in grads[1:])
    want = (1 - np.tanh(w.detach().numpy() * x.numpy()) ** 2) * x.numpy()
    np.testing.assert_allclose(grads[0], want.sum(0), rtol=1e-6)

    y = jg.tensor(rng.standard_normal((4, 3)).astype(np.float32))
    out = w * y
    y.data = jg.tensor(rng.standard_normal((2, 4, 3)).astype(np.float32))  # (its storage swapped after the op)
    g = np.ones((4, 3), np.float32)
    assert out.grad_fn._reads.runner is not None and vjp_replay.arrays(out.grad_fn, g) is None
    (gw, _), = [out.grad_fn.apply_host(jg.tensor(g))]
    assert gw.shape == (3,)


def test_a_node_whose_input_stopped_requiring_grad_takes_the_checked_replay():
    """A leaf that stops requiring grad between the forward and backward gives its node another
    needs pattern than its signature's compiled replay: that node runs the checked replay (the right
    gradient for the other input, none for it), and the compiled one stays for the usual nodes."""
    w = _t((3,))
    for _ in range(2):
        x = _t((3,))
        w.grad = None
        (w * x).sum().backward()
    node_reads = (w * x).grad_fn._reads
    runner = node_reads.runner
    assert runner is not None
    x = _t((3,))
    w.grad = None
    loss = (w * x).sum()
    x.requires_grad_(False)
    loss.backward()
    np.testing.assert_array_equal(w.grad.numpy(), x.numpy())
    assert x.grad is None and node_reads.runner is runner
