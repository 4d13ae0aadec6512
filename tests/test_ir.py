"""The IR: builder, printer (golden snapshots), verification, trees, reference interpreter."""
from __future__ import annotations

import os

import numpy as np
import pytest

import jitgrad as jg
from jitgrad import prims
from jitgrad.adjoint import vjp_graph
from jitgrad.interpret import evaluate, replay
from jitgrad.ir import Builder, Eqn, Graph, Var, format_params, verify
from jitgrad.simplify import simplify
from jitgrad.tree import flatten, num_leaves, unflatten

SNAPSHOTS = os.path.join(os.path.dirname(__file__), "snapshots")


def check_snapshot(name: str, text: str) -> None:
    """Compare with tests/snapshots/<name>.txt; JITGRAD_UPDATE_SNAPSHOTS=1 rewrites it."""
    path = os.path.join(SNAPSHOTS, name + ".txt")
    if os.environ.get("JITGRAD_UPDATE_SNAPSHOTS") == "1":
        with open(path, "w") as f:
            f.write(text + "\n")
    with open(path) as f:
        expected = f.read()
    assert text + "\n" == expected, f"IR listing changed; if intended, rerun with JITGRAD_UPDATE_SNAPSHOTS=1\n{text}"


def linreg(w, b, xs, ys):
    return jg.mean((w * xs + b - ys) ** 2)


ARGS = (np.asarray(0.5, np.float32), np.asarray(0.0, np.float32), np.linspace(0, 1, 11, dtype=np.float32),
        np.linspace(1, 3, 11, dtype=np.float32))


def test_snapshot_forward():
    check_snapshot("linreg_forward", str(jg.make_ir(linreg)(*ARGS)))


def test_snapshot_value_and_grad_before_and_after_simplify():
    graph = jg.make_ir(jg.value_and_grad(linreg, (0, 1)))(*ARGS)
    check_snapshot("linreg_value_and_grad", str(graph))
    check_snapshot("linreg_value_and_grad_simplified", str(simplify(graph)))


def test_snapshot_mlp_with_array_constant():
    w = np.arange(6, dtype=np.float32).reshape(3, 2) / 10

    def layer(x, b):
        return jg.relu(x @ w + b).sum(dim=1, keepdim=True)

    check_snapshot("layer_forward", str(jg.make_ir(layer)(np.ones((4, 3), np.float32), np.zeros(2, np.float32))))


def test_listing_is_deterministic_and_readable():
    g1, g2 = (jg.make_ir(linreg)(*ARGS) for _ in range(2))
    assert str(g1) == str(g2)
    lines = str(g1).splitlines()
    assert lines[0] == "{ lambda a:f32[] b:f32[] c:f32[11] d:f32[11] ;"
    assert lines[-1] == "  in (i,) }"
    assert "mean[dims=(0,) keepdim=False] h" in lines[-2]
    assert all(line == line.rstrip() for line in lines)


def test_params_print_compactly():
    assert format_params({"dims": (0,), "keepdim": False}) == "[dims=(0,) keepdim=False]"
    assert format_params({"dtype": np.dtype(np.float64)}) == "[dtype=f64]"
    assert format_params({"spec": (("s", None, 2, None), ("i", 1))}) == "[spec=(('s',None,2,None),('i',1))]"
    assert format_params({}) == ""


def test_builder_emits_through_bind_and_builds_a_valid_graph():
    b = Builder()
    x = jg.Tensor._wrap(b.input((2, 3), jg.float32))
    y = (x * 2).sum(0)
    assert isinstance(y._data, Var) and y.shape == (3,)
    graph = b.build([x._data], [y._data])
    verify(graph)
    assert [e.prim.name for e in graph.eqns] == ["mul", "sum"]
    assert graph.eqns[0].prim is prims.BY_NAME["mul"]
    np.testing.assert_allclose(evaluate(graph, np.ones((2, 3)))[0], [4.0, 4.0, 4.0])


def test_verify_catches_broken_graphs():
    x = Var((3,), np.dtype(np.float32))
    bad = Var((4,), np.dtype(np.float32))
    with pytest.raises(ValueError, match="rule says"):
        verify(Graph([x], [Eqn(prims.SIN, (x,), {}, bad)], [bad]))
    y = Var((3,), np.dtype(np.float32))
    with pytest.raises(ValueError, match="before it is defined"):
        verify(Graph([x], [Eqn(prims.SIN, (y,), {}, bad)], [bad]))


def test_evaluate_checks_inputs_and_casts_dtypes():
    graph = jg.make_ir(lambda x: x * 2)(np.ones(3, np.float32))
    with pytest.raises(TypeError, match="takes 1 inputs, got 2"):
        evaluate(graph, np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        evaluate(graph, np.ones(4))
    out = evaluate(graph, np.ones(3, np.float64))[0]
    assert out.dtype == np.float32


def test_replay_runs_eagerly_with_autograd():
    graph = jg.make_ir(lambda x: jg.sum(jg.sin(x)))(np.ones(3, np.float32))
    x = jg.tensor(np.array([0.1, 0.2, 0.3], np.float32), requires_grad=True)
    (out,) = replay(graph, [x])
    out.backward()
    np.testing.assert_allclose(x.grad.numpy(), np.cos([0.1, 0.2, 0.3]), rtol=1e-6)


def test_graph_helpers():
    graph = vjp_graph(jg.make_ir(linreg)(*ARGS), wrt=(0, 1))
    counts = graph.prim_counts()
    assert sum(counts.values()) == len(graph)
    uses = graph.use_counts()
    assert all(uses.get(v, 0) >= 1 for v in graph.outputs)
    assert set(graph.producers()) == {e.out for e in graph.eqns}


def test_tree_round_trip():
    tree_in = {"a": [1, np.zeros(2)], "b": (np.ones(1), None)}
    leaves, tree = flatten(tree_in)
    assert len(leaves) == 2 and num_leaves(tree) == 2
    out = unflatten(tree, ["L0", "L1"])
    assert out == {"a": [1, "L0"], "b": ("L1", None)}
    with pytest.raises(ValueError, match="fewer leaves"):
        unflatten(tree, ["x"])
    with pytest.raises(ValueError, match="more leaves"):
        unflatten(tree, ["x", "y", "z"])
    mm = jg.max(jg.tensor([[1.0, 3.0]]), dim=1)
    leaves, tree = flatten(mm)
    assert type(unflatten(tree, leaves)).__name__ == "MaxMin"
