"""Tracing: inputs, static arguments, argument/result trees, constants, unrolled control flow,
and TracingError pointing at the user's line."""
from __future__ import annotations

import inspect

import numpy as np
import pytest

import jitgrad as jg
from jitgrad.interpret import evaluate
from jitgrad.ir import verify
from jitgrad.tracing import TracingError, make_ir, trace
from jitgrad.tree import unflatten

X = np.arange(1.0, 4.0, dtype=np.float32)


def test_tensors_and_arrays_become_inputs_numbers_are_static():
    graph = make_ir(lambda x, y, k: x * k + y)(jg.tensor(X), X.astype(np.float64), 3.0)
    assert [str(v.dtype) for v in graph.inputs] == ["float32", "float64"]
    assert "3.0:f32[]" in str(graph)
    verify(graph)
    (out,) = evaluate(graph, X, X)
    np.testing.assert_allclose(out, X * 3 + X)


def test_nested_arguments_and_results_keep_their_structure():
    def fn(params, data, scale=1.0):
        y = params["w"] * data[0] + params["b"]
        return {"y": y * scale, "pair": (y, data[1])}

    params = {"w": X, "b": np.float32(1) + X}
    graph = make_ir(fn)(params, (X, X * 2), scale=2.0)
    assert len(graph.inputs) == 4
    out = unflatten(graph.out_tree, evaluate(graph, X, X + 1, X, X * 2))
    np.testing.assert_allclose(out["y"], 2 * (X * X + X + 1))
    np.testing.assert_allclose(out["pair"][1], X * 2)
    args, kwargs = unflatten(graph.in_tree, ["w", "b", "d0", "d1"])
    assert args == ({"w": "w", "b": "b"}, ("d0", "d1")) and kwargs == {"scale": 2.0}


def test_static_argnums_bakes_arrays_and_checks_range():
    graph = make_ir(lambda x, c: x + c, static_argnums=1)(X, np.ones(3, np.float32))
    assert len(graph.inputs) == 1 and len(graph.constants) == 1
    with pytest.raises(ValueError, match="static_argnums contains 3"):
        make_ir(lambda x: x, static_argnums=3)(X)


def test_python_control_flow_is_unrolled():
    def fn(x, n):
        for i in range(n):
            x = x * 2 if i % 2 else x + 1
        return x

    graph = make_ir(fn, static_argnums=1)(X, 4)
    assert [e.prim.name for e in graph.eqns] == ["add", "mul", "add", "mul"]


def test_constants_met_inside_become_graph_constants():
    table = np.array([1.0, 2.0, 3.0], np.float32)
    graph = make_ir(lambda x: x * table + 2.5)(X)
    assert len(graph.constants) == 2  # the array, and the scalar (printed inline)
    assert "const" in str(graph) and "2.5:f32[]" in str(graph)
    table[0] = 100  # constants are copies: later changes do not leak into the graph
    np.testing.assert_allclose(evaluate(graph, X)[0], X * [1, 2, 3] + 2.5)


def test_constant_and_input_outputs():
    graph = make_ir(lambda x: (x, jg.ones(2), 3))(X)
    out = unflatten(graph.out_tree, evaluate(graph, X))
    np.testing.assert_allclose(out[0], X)
    np.testing.assert_allclose(out[1], np.ones(2))
    assert out[2] == 3


def _line_of(fn, text):
    src, start = inspect.getsourcelines(fn)
    return start + next(i for i, line in enumerate(src) if text in line)


def read_float(x):
    return float(x.sum())  # READ


def read_item(x):
    return x.sum().item()  # READ


def branch(x):
    if x.sum() > 0:  # READ
        return x
    return -x


def to_numpy(x):
    return np.sin(x.numpy())  # READ


def to_list(x):
    return x.tolist()  # READ


@pytest.mark.parametrize("fn, what", [(read_float, "float(t)"), (read_item, "t.item()"),
                                      (branch, "bool(t)"), (to_numpy, "t.numpy()"), (to_list, "t.tolist()")])
def test_value_reads_raise_tracing_error_at_the_user_line(fn, what):
    with pytest.raises(TracingError) as info:
        make_ir(fn)(X)
    msg = str(info.value)
    assert what in msg
    assert f"{__file__}:{_line_of(fn, '# READ')}" in msg
    assert "jitgrad.where" in msg and "eagerly" in msg and "argument" in msg


def test_tracing_error_is_exported_and_a_runtime_error():
    assert jg.TracingError is TracingError and issubclass(TracingError, RuntimeError)


def test_values_from_another_trace_are_refused():
    leaked = []
    make_ir(lambda x: leaked.append(x) or x)(X)
    with pytest.raises(RuntimeError, match="two different traces"):
        make_ir(lambda y: y + leaked[0])(X)


def test_tracing_does_not_touch_grad_state():
    x = jg.tensor(X, requires_grad=True)
    graph = trace(lambda t: (t * 2).sum(), (x,))
    assert x.grad is None and len(graph.eqns) == 2


def test_numpy_of_a_differentiated_traced_tensor_is_a_tracing_error():
    with pytest.raises(TracingError, match="t.numpy()"):
        make_ir(jg.grad(lambda x: jg.sum(x) * float(np.sum(x.numpy()))))(X)


def test_jitgrad_trace_is_torch_trace_and_make_ir_the_public_tracer():
    """jitgrad.trace(x) is PyTorch's torch.trace (the tracing machinery lives in jitgrad.tracing,
    so the name is free); jitgrad.make_ir(fn)(*args) is the IR graph, as jax.make_jaxpr is a jaxpr."""
    def fn(x):
        return (x.sin() * 2).sum()

    assert float(jg.trace(jg.tensor([[1.0, 2.0], [3.0, 4.0]]))) == 5.0
    graph = jg.make_ir(fn)(X)
    (out,) = evaluate(graph, X)
    np.testing.assert_allclose(out, (np.sin(X) * 2).sum(), rtol=1e-6)
