"""Property test: random well-typed expression graphs (elementwise ops with broadcasting,
reductions, matmul where shapes fit) give the same values and gradients traced+interpreted,
as a (simplified) VJP graph, and eagerly; eager gradients match finite differences."""
from __future__ import annotations

import numpy as np
import pytest

import jitgrad as jg
from jitgrad.adjoint import vjp_graph
from jitgrad.interpret import evaluate
from jitgrad.simplify import simplify
from jitgrad.tracing import trace

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies

SHAPES = [(2, 3), (3,), (1, 3), (2, 1), ()]
UNARY = {"sin": jg.sin, "cos": jg.cos, "tanh": jg.tanh, "sigmoid": jg.sigmoid, "neg": jg.neg,
         "square": lambda x: x ** 2, "softplus": lambda x: jg.log1p(jg.exp(jg.tanh(x)))}
BINARY = {"add": jg.add, "sub": jg.sub, "mul": jg.mul, "div": lambda x, y: x / (1.5 + y * y),
          "pow": lambda x, y: (1.2 + jg.sin(x)) ** jg.cos(y)}
OPS = sorted(UNARY) + sorted(BINARY) + ["sum", "mean", "matmul"]


def _broadcastable(s, t) -> bool:
    try:
        np.broadcast_shapes(s, t)
    except ValueError:
        return False
    return True


def run_program(program, xs):
    """Apply the instructions to the values; each instruction picks operands by index."""
    values = list(xs)
    for op, i, j, flag in program:
        a, b = values[i % len(values)], values[j % len(values)]
        if op in UNARY:
            values.append(UNARY[op](a))
        elif op in BINARY and _broadcastable(a.shape, b.shape):
            values.append(BINARY[op](a, b))
        elif op in ("sum", "mean") and a.ndim:
            values.append(getattr(jg, op)(a, dim=j % a.ndim, keepdim=bool(flag)))
        elif op == "matmul" and a.ndim == 2 and b.ndim == 2 and a.shape[1] == b.shape[1]:
            values.append(a @ b.t())
        elif op == "matmul" and a.ndim == 1 and b.ndim >= 1 and a.shape[0] == b.shape[-1]:
            values.append(b @ a)
    return jg.sum(values[-1]) + jg.sum(values[len(xs) - 1]) * 0.5


programs = st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 50), st.integers(0, 50), st.integers(0, 1)),
                    min_size=1, max_size=6)
shape_lists = st.lists(st.sampled_from(SHAPES), min_size=1, max_size=3)


@hypothesis.settings(max_examples=50, deadline=None, database=None,
                     suppress_health_check=[hypothesis.HealthCheck.too_slow])
@hypothesis.given(program=programs, in_shapes=shape_lists, seed=st.integers(0, 2**16))
def test_random_graphs_interpreter_eager_and_finite_differences_agree(program, in_shapes, seed):
    rng = np.random.default_rng(seed)
    arrays = [rng.uniform(-1.5, 1.5, s) for s in in_shapes]

    def fn(*xs):
        return run_program(program, xs)

    graph = trace(fn, arrays)
    leaves = [jg.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*leaves)
    grads = jg.autograd.grad(out, leaves, allow_unused=True)
    want = [np.zeros(a.shape) if g is None else g.numpy() for a, g in zip(arrays, grads, strict=False)]
    np.testing.assert_allclose(evaluate(graph, *arrays)[0], out.detach().numpy(), rtol=1e-12, atol=1e-12)
    vjp = vjp_graph(graph, wrt=range(len(arrays)))
    for g in (vjp, simplify(vjp)):
        res = evaluate(g, *arrays)
        np.testing.assert_allclose(res[0], out.detach().numpy(), rtol=1e-12, atol=1e-12)
        for got, w in zip(res[1:], want, strict=False):
            np.testing.assert_allclose(got, w, rtol=1e-10, atol=1e-12)
    assert jg.autograd.gradcheck(fn, [jg.tensor(a, requires_grad=True) for a in arrays], atol=1e-6)
