"""jitgrad.viz: DOT for eager autograd graphs and (duck-typed) IR graphs, parsed back and
counted against the graph; render() errors and its call into the graphviz package."""
from __future__ import annotations

import re
import sys
import types
from dataclasses import dataclass, field

import pytest

import jitgrad as jg
from jitgrad import viz

NODE = re.compile(r"^\s*(n\d+) \[label=\"((?:[^\"\\]|\\.)*)\"", re.M)
EDGE = re.compile(r"^\s*(n\d+) -> (n\d+)", re.M)


def parse(dot: str) -> tuple[dict, list]:
    """({node id: label}, [(src, dst)]) from to_dot's output."""
    assert dot.startswith("digraph ") and dot.rstrip().endswith("}")
    assert dot.count("{") == dot.count("}")
    nodes = dict(NODE.findall(dot))
    edges = EDGE.findall(dot)
    for src, dst in edges:
        assert src in nodes and dst in nodes, (src, dst)
    return nodes, edges


def reachable(fn) -> tuple[set, int]:
    """Distinct grad_fn nodes under `fn` and the number of (non-None) edges between them."""
    seen, stack, edges = set(), [fn], 0
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        for nxt, _ in node.next_functions:
            if nxt is not None:
                edges += 1
                stack.append(nxt)
    return seen, edges


def test_eager_graph_counts_and_labels():
    x = jg.randn(2, 3, requires_grad=True)
    w = jg.randn(3, 4, requires_grad=True)
    const = jg.randn(2, 4)
    y = ((x @ w).sin() * const + x.sum()).sum()
    nodes, edges = parse(viz.to_dot(y))
    fns, fn_edges = reachable(y.grad_fn)
    assert len(nodes) == len(fns) + 1          # + the output tensor
    assert len(edges) == fn_edges + 1          # + grad_fn -> output
    labels = sorted(label.split("\\n")[0] for label in nodes.values())
    assert labels.count("AccumulateGrad") == 2
    for name in ("MmBackward0", "SinBackward0", "MulBackward0", "AddBackward0", "SumBackward0", "output"):
        assert name in labels
    assert "AccumulateGrad\\n(2, 3)" in nodes.values() and "AccumulateGrad\\n(3, 4)" in nodes.values()
    assert "output\\n()" in nodes.values()


def test_repeated_input_draws_two_edges_and_one_leaf():
    x = jg.randn(3, requires_grad=True)
    nodes, edges = parse(viz.to_dot(x * x))
    assert len(nodes) == 3 and len(edges) == 3


def test_show_shapes_off_and_other_roots():
    x = jg.randn(3, requires_grad=True)
    a, b = x.sin(), x.cos()
    nodes, _ = parse(viz.to_dot([a, b], show_shapes=False))
    assert {"output 0", "output 1", "SinBackward0", "CosBackward0", "AccumulateGrad"} == set(nodes.values())
    nodes, edges = parse(viz.to_dot(a.grad_fn))
    assert len(nodes) == 2 and len(edges) == 1
    nodes, edges = parse(viz.to_dot(jg.ones(2)))  # no graph at all: just the tensor
    assert len(nodes) == 1 and not edges
    with pytest.raises(TypeError, match="expected a Tensor"):
        viz.to_dot(42)


def test_deep_graph_needs_no_recursion():
    x = jg.randn(2, requires_grad=True)
    y = x
    for _ in range(3000):
        y = y * 1.0
    nodes, edges = parse(viz.to_dot(y))
    assert len(nodes) == 3002 and len(edges) == 3001


@dataclass
class FakePrim:
    name: str


@dataclass(eq=False)
class FakeVar:
    name: str
    shape: tuple = (3,)
    dtype: str = "float32"


@dataclass
class FakeEqn:
    prim: FakePrim
    inputs: list
    out: FakeVar
    group: int | None = None
    params: dict = field(default_factory=dict)


@dataclass
class FakeGraph:
    inputs: list
    eqns: list
    outputs: list


def fake_graph():
    """x, y -> a = sin x; b = mul a y; c = exp b (a, b, c fused in group 0); d = sum c."""
    x, y = FakeVar("x"), FakeVar("y")
    a, b, c, d = FakeVar("a"), FakeVar("b"), FakeVar("c"), FakeVar("d", ())
    two = FakeVar("2.0", ())
    eqns = [FakeEqn(FakePrim("sin"), [x], a, group=0),
            FakeEqn(FakePrim("mul"), [a, y], b, group=0),
            FakeEqn(FakePrim("exp"), [b], c, group=0),
            FakeEqn(FakePrim("mul"), [c, two], FakeVar("e")),
            FakeEqn(FakePrim("sum"), [c], d, params={"dims": (0,)})]
    return FakeGraph([x, y], eqns, [d, a])


def test_ir_graph_counts_clusters_and_labels():
    graph = fake_graph()
    dot = viz.to_dot(graph)
    nodes, edges = parse(dot)
    # inputs + equations + one constant + outputs
    assert len(nodes) == 2 + len(graph.eqns) + 1 + len(graph.outputs)
    assert len(edges) == sum(len(e.inputs) for e in graph.eqns) + len(graph.outputs)
    assert dot.count("subgraph \"cluster_0\"") == 1
    cluster = dot[dot.index("subgraph"):]
    cluster = cluster[:cluster.index("}")]
    assert sorted(label for _, label in NODE.findall(cluster)) == ["exp", "mul", "sin"]
    assert "x: (3,) float32" in nodes.values()
    assert "sum\\ndims=(0,)" in nodes.values()
    assert "-> n" in dot and '[label="c: (3,) float32"]' in dot  # edges carry the value they pass


def test_ir_graph_from_the_real_tracer_when_available():
    trace = pytest.importorskip("jitgrad.tracing")
    graph = trace.make_ir(lambda x: (x.sin() * 2.0).sum(0))(jg.randn(3, 4))
    nodes, edges = parse(viz.to_dot(graph))
    assert len(edges) == sum(len(e.inputs) for e in graph.eqns) + len(graph.outputs)
    assert sum(1 for label in nodes.values() if label.split("\\n")[0] in ("sin", "mul", "sum")) == 3


def test_ir_equation_without_outputs_is_reported():
    bad = FakeGraph([], [types.SimpleNamespace(prim=FakePrim("sin"), inputs=[])], [])
    with pytest.raises(TypeError, match="neither .outputs nor .out"):
        viz.to_dot(bad)


def test_render_without_graphviz_names_both_and_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "graphviz", None)  # import graphviz -> ImportError
    with pytest.raises(RuntimeError) as info:
        viz.render(jg.ones(1), tmp_path / "g.png")
    message = str(info.value)
    for needle in ("graphviz", "dot", "pip install graphviz", "apt-get install graphviz"):
        assert needle in message
    with pytest.raises(ValueError, match="extension"):
        viz.render(jg.ones(1), tmp_path / "graph")


def test_render_calls_the_graphviz_package(monkeypatch, tmp_path):
    calls = {}

    class Source:
        def __init__(self, source):
            calls["source"] = source

        def render(self, outfile, format, cleanup):  # noqa: A002 - graphviz's keyword
            calls.update(outfile=outfile, format=format)
            open(outfile, "w").close()

    fake = types.SimpleNamespace(Source=Source, ExecutableNotFound=RuntimeError)
    monkeypatch.setitem(sys.modules, "graphviz", fake)
    monkeypatch.setattr(viz.shutil, "which", lambda name: "/usr/bin/dot")
    x = jg.randn(2, requires_grad=True)
    out = viz.render(x.exp(), tmp_path / "graph.svg")
    assert out == str(tmp_path / "graph.svg") and calls["format"] == "svg"
    assert "ExpBackward0" in calls["source"]
