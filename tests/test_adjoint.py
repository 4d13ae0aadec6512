"""The adjoint transform: every op of the table and the tutorials' functions give, traced and
interpreted, the values and gradients of eager mode; second order; unused/integer inputs; split."""
from __future__ import annotations

import numpy as np
import pytest
from ir_helpers import check_all_modes, eager
from op_table import CASES, make_inputs

import jitgrad as jg
from jitgrad.adjoint import split, vjp_graph
from jitgrad.interpret import evaluate
from jitgrad.simplify import simplify
from jitgrad.tracing import TracingError, make_ir

TRACEABLE = [c for c in CASES if not c.eager_only]


@pytest.mark.parametrize("case", TRACEABLE, ids=repr)
def test_every_op_matches_eager(case):
    xs = make_inputs(case)
    wrt = [i for i, x in enumerate(xs) if x.requires_grad] if case.grad else []
    check_all_modes(case.jg, xs, wrt or None, rtol=1e-6 * max(case.tol, 1), atol=1e-9)


def test_boolean_mask_indexing_traces_with_an_assumed_count():
    """A traced mask's selection is one mask_select whose count is an assumption (every element)
    that compiled mode checks when it runs (see test_traced_masks.py)."""
    x = np.arange(4.0)
    text = str(make_ir(lambda x: x[x > 1])(x))
    assert "mask_select[pos=0 count=4 site=0]" in text
    with pytest.raises(TypeError, match="data-dependent shape"):
        make_ir(lambda x: x[x > 1, None])(x)


# --- the seed tutorials' functions ------------------------------------------------------------

rng = np.random.default_rng(0)
A = rng.standard_normal(11).astype(np.float32)
B = rng.standard_normal(11).astype(np.float32)
W0 = np.asarray(0.7, np.float32)


def sin_sum(a):
    return jg.sum(2 * jg.sin(a) + 1)


def w_plus_x(w, x):
    return (w + x) * (w + 1)


def cubic(a, b):
    return 3 * a ** 3 - b ** 2


def linreg(w, b, xs, ys):
    return jg.mean((w * xs + b - ys) ** 2)


def mlp(x, w1, b1, w2, b2, t):
    h = jg.relu(x @ w1 + b1)
    y = h @ w2 + b2
    return jg.mean((y - t) ** 2)


def rnn_cell(w_h, w_x, h, x):
    return jg.sum(jg.tanh(w_h @ h + w_x @ x))


def loop(x, y):
    z = x
    for _ in range(20):
        z = (z / x) * y
    return jg.sum(z)


MLP_ARGS = [rng.standard_normal(s).astype(np.float32) for s in [(4, 3), (3, 5), (5,), (5, 2), (2,), (4, 2)]]
COMPOSITES = {
    "sin_sum": (sin_sum, [A]),
    "w_plus_x": (w_plus_x, [W0, A]),
    "cubic": (cubic, [A, B]),
    "linreg": (linreg, [W0, np.asarray(0.1, np.float32), A, 2 * A + 1]),
    "mlp": (mlp, MLP_ARGS),
    "rnn_cell": (rnn_cell, [rng.standard_normal(s).astype(np.float32) for s in [(3, 3), (3, 2), (3,), (2,)]]),
    "loop": (loop, [np.full(5, 1.01, np.float32), np.full(5, 0.99, np.float32)]),
}


@pytest.mark.parametrize("name", list(COMPOSITES))
def test_composites_match_eager(name):
    fn, xs = COMPOSITES[name]
    check_all_modes(fn, xs, rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["sin_sum", "linreg", "mlp", "rnn_cell", "loop"])
def test_composites_match_torch(name):
    torch = pytest.importorskip("torch")
    fn, xs = COMPOSITES[name]
    graph = vjp_graph(make_ir(fn)(*xs), wrt=range(len(xs)))
    res = evaluate(graph, *xs)
    ts = [torch.tensor(x, requires_grad=True) for x in xs]
    torch_fns = {"sin_sum": lambda a: torch.sum(2 * torch.sin(a) + 1),
                 "mlp": lambda x, w1, b1, w2, b2, t: torch.mean((torch.relu(x @ w1 + b1) @ w2 + b2 - t) ** 2),
                 "rnn_cell": lambda wh, wx, h, x: torch.sum(torch.tanh(wh @ h + wx @ x)),
                 "linreg": lambda w, b, xs, ys: torch.mean((w * xs + b - ys) ** 2),
                 "loop": lambda x, y: torch.sum(_torch_loop(x, y))}
    tfn = torch_fns.get(name, fn)
    out = tfn(*ts)
    out.backward()
    np.testing.assert_allclose(res[0], out.detach().numpy(), rtol=1e-5)
    for got, t in zip(res[1:], ts, strict=False):
        np.testing.assert_allclose(got, t.grad.numpy(), rtol=1e-4, atol=1e-6)


def _torch_loop(x, y):
    z = x
    for _ in range(20):
        z = (z / x) * y
    return z


def test_scalar_output_is_seeded_with_one():
    graph = vjp_graph(make_ir(sin_sum)(A))
    assert len(graph.inputs) == 1
    value, g = evaluate(graph, A)
    np.testing.assert_allclose(g, 2 * np.cos(A), rtol=1e-6)
    assert "const" not in str(graph)  # the seed is a broadcast scalar, not an input-sized array


def test_fan_out_and_broadcasting_accumulate():
    fn = lambda w, x: jg.sum(w * x + w * w)  # noqa: E731 - w (shape (1,)) broadcast and used three times
    w, x = np.asarray([0.5], np.float32), A
    _, gw, gx = evaluate(vjp_graph(make_ir(fn)(w, x), wrt=(0, 1)), w, x)
    np.testing.assert_allclose(gw, [A.sum() + 2 * 0.5 * 11], rtol=1e-5)
    np.testing.assert_allclose(gx, np.full(11, 0.5), rtol=1e-6)


# --- unused, integer and non-differentiable inputs ---------------------------------------------

def test_unused_inputs_zeros_or_none():
    graph = make_ir(lambda a, b: jg.sum(a * 2))(A, B)
    zeros = vjp_graph(graph, wrt=(0, 1), unused="zeros")
    assert len(zeros.outputs) == 3
    np.testing.assert_array_equal(evaluate(zeros, A, B)[2], np.zeros(11, np.float32))
    none = vjp_graph(graph, wrt=(0, 1), unused="none")
    assert len(none.outputs) == 2
    from jitgrad.tree import unflatten
    value, (ga, gb) = unflatten(none.out_tree, evaluate(none, A, B))
    assert gb is None
    np.testing.assert_allclose(ga, np.full(11, 2.0))
    with pytest.raises(ValueError, match="unused must be"):
        vjp_graph(graph, unused="nan")


def test_integer_inputs_are_not_differentiated():
    idx = np.array([0, 2, 2])
    graph = make_ir(lambda x, i: jg.sum(jg.gather(x, 0, i) * i))(A, idx)
    g = evaluate(vjp_graph(graph, wrt=0), A, idx)[1]
    want = np.zeros(11, np.float32)
    want[2] = 4.0
    np.testing.assert_allclose(g, want)
    with pytest.raises(TypeError, match="input 1: it is int64"):
        vjp_graph(graph, wrt=(0, 1))
    with pytest.raises(ValueError, match="out of range"):
        vjp_graph(graph, wrt=5)


def test_non_differentiable_ops_stop_gradients():
    fn = lambda x: jg.sum(x * (x > 0) + jg.argmax(x))  # noqa: E731
    _, g = evaluate(vjp_graph(make_ir(fn)(A)), A)
    np.testing.assert_allclose(g, (A > 0).astype(np.float32))


def test_output_independent_of_input_gives_zero_gradient():
    graph = vjp_graph(make_ir(lambda x: jg.sum(jg.ones(3)) + 0 * jg.sum(x.detach()))(A))
    np.testing.assert_array_equal(evaluate(graph, A)[1], np.zeros(11))


# --- higher order ------------------------------------------------------------------------------

def test_adjoint_of_adjoint_gives_hessian_vector_products():
    f = lambda x: jg.sum(jg.sin(x) * x)  # noqa: E731 - Hessian diag: 2cos x - x sin x
    x, v = A.astype(np.float64), B.astype(np.float64)
    first = vjp_graph(make_ir(f)(x))                         # x -> (f, g)
    second = vjp_graph(first, wrt=0)                         # x, df, dg -> (f, g, df*g + H dg)
    assert len(second.inputs) == 3
    f_val, g, hvp = evaluate(second, x, np.zeros(()), v)
    np.testing.assert_allclose(g, np.sin(x) + x * np.cos(x), rtol=1e-12)
    np.testing.assert_allclose(hvp, (2 * np.cos(x) - x * np.sin(x)) * v, rtol=1e-12)
    np.testing.assert_allclose(evaluate(simplify(second), x, np.zeros(()), v)[2], hvp, rtol=1e-12)


def test_grad_of_grad_traced_matches_closed_form():
    f = lambda x: jg.sum(jg.exp(x) * x)  # noqa: E731 - d2/dx2 = (x + 2) e^x
    x = np.asarray(0.3)
    graph = make_ir(jg.grad(jg.grad(f)))(x)
    np.testing.assert_allclose(evaluate(graph, x)[0], (x + 2) * np.exp(x), rtol=1e-12)
    np.testing.assert_allclose(jg.grad(jg.grad(f))(x), (x + 2) * np.exp(x), rtol=1e-12)


def test_second_order_mlp_hvp_matches_finite_differences():
    xs = [a.astype(np.float64) for a in MLP_ARGS]
    first = vjp_graph(make_ir(mlp)(*xs), wrt=1)
    second = vjp_graph(first, wrt=1)
    v = np.random.default_rng(1).standard_normal(xs[1].shape)
    hvp = evaluate(second, *xs, np.zeros(()), v)[-1]
    eps = 1e-6

    def g(w1):
        return evaluate(first, *xs[:1], w1, *xs[2:])[1]
    fd = (g(xs[1] + eps * v) - g(xs[1] - eps * v)) / (2 * eps)
    np.testing.assert_allclose(hvp, fd, rtol=1e-5, atol=1e-8)


# --- split ---------------------------------------------------------------------------------------

def _residual_count(fwd, graph):
    return len(fwd.outputs) - len(graph.outputs)


def test_split_sin_sum_saves_only_the_input():
    graph = make_ir(sin_sum)(A)
    fwd, bwd = split(graph)
    residuals = fwd.outputs[len(graph.outputs):]
    assert residuals == [fwd.inputs[0]]   # a itself: no saved sin or cos
    assert "cos" in bwd.prim_counts() and "cos" not in fwd.prim_counts()
    value, res = evaluate(fwd, A)
    (g,) = evaluate(bwd, res, np.asarray(1.0, np.float32))
    np.testing.assert_allclose(g, 2 * np.cos(A), rtol=1e-6)


def test_split_mlp_saves_matmul_outputs():
    graph = make_ir(mlp)(*MLP_ARGS)
    fwd, bwd = split(graph, wrt=(1, 2, 3, 4))
    n = len(graph.outputs)
    residuals = fwd.outputs[n:]
    producers = fwd.producers()
    saved_prims = sorted(producers[v].prim.name for v in residuals if v in producers)
    assert saved_prims == ["matmul", "matmul"]
    assert "relu" in bwd.prim_counts()    # recomputed from the saved matmul output
    assert "matmul" in bwd.prim_counts() and bwd.prim_counts()["matmul"] == 3  # grads only, no forward matmul
    values, grads = eager(mlp, MLP_ARGS, (1, 2, 3, 4), [np.asarray(1.0, np.float32)])
    out = evaluate(fwd, *MLP_ARGS)
    got = evaluate(bwd, *out[n:], np.asarray(1.0, np.float32))
    for a, b in zip(got, grads, strict=False):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_split_saves_reductions_and_checks_wrt():
    graph = make_ir(lambda x: jg.sum(x / jg.sum(x * x)))(A)
    fwd, bwd = split(graph)
    prods = fwd.producers()
    assert [prods[v].prim.name for v in fwd.outputs[1:] if v in prods] == ["sum"]
    with pytest.raises(TypeError, match="only floating"):
        split(make_ir(lambda i: jg.sum(i * 2))(np.arange(3)))


def test_tracing_error_inside_adjoint_replay_is_impossible():
    # The adjoint replays a graph, never user code: a graph made once can be differentiated anywhere.
    graph = make_ir(cubic)(A, B)
    with pytest.raises(TracingError):
        make_ir(lambda a: float(a))(A)
    assert len(vjp_graph(graph, wrt=(0, 1)).outputs) == 3


# --- functional transforms (eager engine; work traced too) ---------------------------------------

def test_value_and_grad_numpy_in_numpy_out():
    value, (gw, gb) = jg.value_and_grad(linreg, argnums=(0, 1))(*COMPOSITES["linreg"][1])
    assert isinstance(value, np.ndarray) and isinstance(gw, np.ndarray)
    _, want = eager(linreg, COMPOSITES["linreg"][1], (0, 1), [np.asarray(1.0, np.float32)])
    np.testing.assert_allclose([gw, gb], want, rtol=1e-5)
    g = jg.grad(sin_sum)(A)
    np.testing.assert_allclose(g, 2 * np.cos(A), rtol=1e-6)


def test_grad_tensors_in_tensors_out_and_argument_grads_untouched():
    g = jg.grad(sin_sum)(jg.tensor(A))
    assert isinstance(g, jg.Tensor) and not g.requires_grad
    np.testing.assert_allclose(g.numpy(), 2 * np.cos(A), rtol=1e-6)
    # An argument that requires grad: the gradient stays differentiable (as torch.func.grad does)
    x = jg.tensor(A, requires_grad=True)
    g = jg.grad(sin_sum)(x)
    assert x.grad is None and g.requires_grad
    g.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), -2 * np.sin(A), rtol=1e-6)


def test_grad_has_aux_and_unused_and_python_float():
    g, aux = jg.grad(lambda x, y: (jg.sum(x * 3), "aux"), argnums=(0, 1), has_aux=True)(A, B)
    assert aux == "aux"
    np.testing.assert_allclose(g[0], np.full(11, 3.0))
    np.testing.assert_array_equal(g[1], np.zeros(11))
    np.testing.assert_allclose(jg.grad(lambda x: x * x)(3.0), 6.0)


def test_grad_errors_are_clear():
    with pytest.raises(TypeError, match="one-element floating"):
        jg.grad(lambda x: x * 2)(A)
    with pytest.raises(TypeError, match="only floating"):
        jg.grad(lambda i: jg.sum(i))(np.arange(3))
    with pytest.raises(ValueError, match="argnums"):
        jg.grad(sin_sum, argnums=2)(A)
    with pytest.raises(TypeError, match="pair"):
        jg.grad(sin_sum, has_aux=True)(A)


def test_make_ir_of_value_and_grad_shows_the_gradient_graph():
    graph = make_ir(jg.value_and_grad(sin_sum))(A)
    assert counts_of(graph) >= {"sin", "cos"}
    value, g = evaluate(graph, A)
    np.testing.assert_allclose(g, 2 * np.cos(A), rtol=1e-6)


def counts_of(graph):
    return set(graph.prim_counts())


@pytest.mark.parametrize("b_shape", [(5, 2), (5,)])
def test_shared_weight_gradient_is_one_product_over_the_flattened_rows(b_shape):
    """(..., M, K) @ (K, N): b's cotangent is ONE (K, rows) @ (rows, N) product, not a batch of
    (K, M) @ (M, N) products summed over the batch afterwards (a linear layer on a sequence)."""
    import torch
    x = rng.standard_normal((4, 3, 5)).astype(np.float32)
    w = rng.standard_normal(b_shape).astype(np.float32)
    c = rng.standard_normal((4, 3, 2) if len(b_shape) == 2 else (4, 3)).astype(np.float32)

    def f(x, w):
        return jg.sum(jg.sin(x @ w) * c)
    fwd, bwd = split(make_ir(f)(x, w), wrt=(1,))
    products = [e for e in bwd.eqns if e.prim.name == "matmul"]
    assert [e.out.ndim for e in products] == [2] and "sum" not in bwd.prim_counts()
    (g,) = evaluate(bwd, *evaluate(fwd, x, w)[1:], np.asarray(1.0, np.float32))
    tw = torch.tensor(w, requires_grad=True)
    (torch.sin(torch.tensor(x) @ tw) * torch.tensor(c)).sum().backward()
    np.testing.assert_allclose(g, tw.grad.numpy(), rtol=1e-5, atol=1e-6)
    check_all_modes(f, [x, w], [0, 1], rtol=1e-5, atol=1e-6)


def _gated_rnn(xs, w, u):
    """A GRU-like recurrence: the hidden state is a short elementwise chain per step, read by the
    next step's matmul (so the forward holds it in an array anyway)."""
    h = jg.zeros((xs.shape[1], w.shape[1]), dtype=np.float32)
    loss = 0.0
    for t in range(xs.shape[0]):
        z = jg.sigmoid(xs[t] @ w + h @ u)
        h = (1 - z) * jg.tanh(xs[t] @ w) + z * h
        loss = loss + jg.sum(h * h)
    return loss


def _largest_backward_loop(steps: int) -> tuple:
    from jitgrad.fuse import LoopGroup, fuse
    xs = rng.standard_normal((steps, 3, 4)).astype(np.float32)
    w = rng.standard_normal((4, 5)).astype(np.float32)
    u = rng.standard_normal((5, 5)).astype(np.float32) * 0.5
    graph = make_ir(_gated_rnn)(xs, w, u)
    fwd, bwd = split(graph, wrt=(1, 2))
    loops = [g for g in fuse(simplify(bwd)) if isinstance(g, LoopGroup)]
    return max(len(g.eqns) for g in loops), (graph, fwd, bwd, (xs, w, u))


def test_split_saves_a_recurrent_state_so_the_backward_loops_do_not_grow_with_the_steps():
    from jitgrad.adjoint import RECOMPUTE_DEPTH
    short, _ = _largest_backward_loop(6)
    long, (graph, fwd, bwd, args) = _largest_backward_loop(24)
    assert long == short, "a backward loop grew with the sequence length: the state is recomputed through every step"
    n = len(graph.outputs)
    producers = fwd.producers()
    saved = [producers[v].prim.name for v in fwd.outputs[n:] if v in producers]
    assert saved.count("add") >= 24 - RECOMPUTE_DEPTH  # the late steps' states h
    values, grads = eager(_gated_rnn, list(args), (1, 2), [np.asarray(1.0, np.float32)])
    out = evaluate(fwd, *args)
    got = evaluate(bwd, *out[n:], np.asarray(1.0, np.float32))
    for a, b in zip(got, grads, strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-5)
    check_all_modes(_gated_rnn, list(args), [1, 2], rtol=2e-5, atol=1e-5)
