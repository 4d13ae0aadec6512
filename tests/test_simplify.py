"""Simplification passes: each preserves results on the composite graphs, and shrinks the
graphs it should (equation counts before/after)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from test_adjoint import COMPOSITES

import jitgrad as jg
from jitgrad import prims
from jitgrad.adjoint import vjp_graph
from jitgrad.core import bind
from jitgrad.interpret import evaluate
from jitgrad.ir import Builder, verify
from jitgrad.simplify import FOLD_LIMIT, PASSES, algebraic, cse, dce, fold_constants, freeze, simplify
from jitgrad.tracing import make_ir

X = np.array([0.5, 1.5, 2.5], np.float32)
Y = np.array([1.0, -2.0, 0.25], np.float32)


def counts(graph):
    return graph.prim_counts()


def same_results(g1, g2, *args):
    for a, b in zip(evaluate(g1, *args), evaluate(g2, *args), strict=False):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", list(COMPOSITES))
@pytest.mark.parametrize("pass_", list(PASSES) + [simplify], ids=lambda p: p.__name__)
def test_each_pass_preserves_results(name, pass_):
    fn, xs = COMPOSITES[name]
    graph = vjp_graph(make_ir(fn)(*xs), wrt=range(len(xs)), seed_scalar=False)
    cts = [np.random.default_rng(3).uniform(0.5, 1.5, v.shape).astype(v.dtype) for v in graph.inputs[len(xs):]]
    out = pass_(graph)
    verify(out)
    assert len(out) <= len(graph)
    same_results(graph, out, *xs, *cts)


@pytest.mark.parametrize("name", list(COMPOSITES))
def test_simplify_shrinks_every_adjoint(name):
    fn, xs = COMPOSITES[name]
    graph = vjp_graph(make_ir(fn)(*xs), wrt=range(len(xs)))
    if name in ALREADY_MINIMAL:  # (the VJP rules emit nothing that simplify would remove)
        assert len(simplify(graph)) == len(graph)
    else:
        assert len(simplify(graph)) < len(graph)


# cubic's adjoint had only x ** 1 (the VJP of x ** 2) to remove: that rule now multiplies by x.
ALREADY_MINIMAL = {"cubic"}


def make(fn, *args):
    return make_ir(fn)(*args)


def test_dce_drops_unused_equations_only():
    graph = make(lambda x: (jg.sin(x), jg.cos(x))[0] * 2, X)
    out = dce(graph)
    assert len(graph) == 3 and len(out) == 2 and "cos" not in counts(out)
    assert dce(out) is out  # nothing to do: the same object comes back
    same_results(graph, out, X)


def test_cse_merges_equal_equations_and_constants():
    graph = make(lambda x: jg.sin(x) * 2 + jg.sin(x) * 2, X)
    out = cse(graph)
    assert counts(graph) == {"sin": 2, "mul": 2, "add": 1}
    assert counts(out) == {"sin": 1, "mul": 1, "add": 1}
    same_results(graph, out, X)


def test_cse_keys_nested_tuple_and_dtype_params():
    def fn(x):
        a = x[0:2] + x[0:2]
        b = jg.cast(x, jg.float64) * jg.cast(x, jg.float64)
        c = x[1:3]  # a different slice: kept
        return a, b, c

    graph = make(fn, X)
    out = cse(graph)
    assert counts(out) == {"getitem": 2, "add": 1, "cast": 1, "mul": 1}
    same_results(graph, out, X)
    assert freeze((1, (2, np.dtype("float32")))) == freeze((1, (2, np.dtype("float32"))))
    assert freeze(1.0) != freeze(1) and hash(freeze({"a": [1, 2]}))


def _symbolic_consts(fn, *consts):
    """A graph whose constants are symbolic (as in a replayed graph), so ops on them are eqns."""
    b = Builder()
    x = jg.Tensor._wrap(b.input(X.shape, jg.float32))
    cs = [jg.Tensor._wrap(b.const(c)) for c in consts]
    out = fn(x, *cs)
    return b.build([x._data], [out._data])


def test_fold_constants_evaluates_small_constant_subgraphs():
    graph = _symbolic_consts(lambda x, c, d: x * jg.exp(c + d), np.ones(3, np.float32), np.float32(2))
    out = fold_constants(graph)
    assert counts(graph) == {"add": 1, "exp": 1, "mul": 1} and counts(out) == {"mul": 1}
    same_results(graph, out, X)


def test_fold_constants_leaves_big_results_and_expands():
    big = np.ones(FOLD_LIMIT, np.float32)
    b = Builder()
    x = jg.Tensor._wrap(b.input((FOLD_LIMIT,), jg.float32))
    c = jg.Tensor._wrap(b.const(big))
    s = jg.Tensor._wrap(b.const(np.float32(2)))
    graph = b.build([x._data], [(x * jg.sin(c))._data, (x + jg.expand(s, (FOLD_LIMIT,)))._data])
    assert fold_constants(graph) is graph


def test_vjp_graph_constants_fold():
    graph = vjp_graph(make(lambda x: jg.mean(x * x), X))
    assert "div" in counts(graph)  # 1 / n, as the mean rule wrote it
    assert "div" not in counts(fold_constants(graph))


def _alg(fn, *args):
    graph = make(fn, *args)
    out = dce(algebraic(graph))
    verify(out)
    same_results(graph, out, *args)
    return graph, out


@pytest.mark.parametrize("fn", [lambda x: x * 1, lambda x: 1 * x, lambda x: x + (-0.0), lambda x: -0.0 + x,
                                lambda x: x - 0, lambda x: x / 1, lambda x: jg.neg(-x), lambda x: x ** 1,
                                lambda x: jg.clone(x), lambda x: bind(prims.CAST, x, dtype=np.dtype(np.float32)),
                                lambda x: bind(prims.RESHAPE, x, shape=(3,)),
                                lambda x: bind(prims.EXPAND, x, shape=(3,))])
def test_identities_disappear(fn):
    graph, out = _alg(fn, X)
    assert len(graph) >= 1 and len(out) == 0 and out.outputs == out.inputs


@pytest.mark.parametrize("fn", [lambda x: x + 0, lambda x: 0 + x, lambda x: x - (-0.0)])
def test_adding_positive_zero_is_kept(fn):
    """-0.0 + 0.0 is +0.0: x + 0 is not x when x may be -0.0 (exact folding)."""
    x = np.array([-0.0, 1.0], np.float32)
    graph, out = _alg(fn, x)
    assert len(out) == 1
    assert not np.signbit(evaluate(out, x)[0][0])


def test_identities_keep_shape_changes():
    # x + zeros((2, 3)) broadcasts x: not an identity
    graph, out = _alg(lambda x: x + np.zeros((2, 3), np.float32), X)
    assert out.outputs[0].shape == (2, 3) and len(out) == 1


def test_user_zero_is_not_folded():
    graph, out = _alg(lambda x: x * 0, X)
    assert counts(out) == {"mul": 1}  # inf * 0 is nan: a 0 stays (zero cotangents are symbolic, never in graphs)
    consts = _symbolic_consts(lambda x, z: jg.sin(x) * z, np.zeros(3, np.float32))
    assert counts(dce(algebraic(consts))) == {"sin": 1, "mul": 1}


def test_reshape_chains_and_keepdim_sums():
    graph, out = _alg(lambda x: jg.reshape(jg.reshape(x, (3, 1)), (1, 3)), X)
    assert counts(out) == {"reshape": 1}
    graph = vjp_graph(make(lambda x: jg.sum(x * Y), X))
    b = simplify(graph)
    assert "reshape" not in counts(b)


def test_sum_of_expand_becomes_multiply():
    graph, out = _alg(lambda s: jg.sum(jg.expand(s, (4, 3))), np.asarray(2.5, np.float32))
    assert counts(out) == {"mul": 1}
    graph, out = _alg(lambda r: jg.sum(jg.expand(r, (4, 3)), dim=0, keepdim=True), X.reshape(1, 3))
    assert counts(out) == {"mul": 1}
    graph, out = _alg(lambda r: jg.sum(jg.expand(r, (4, 3)), dim=1), X.reshape(1, 3))
    assert "mul" not in counts(out)  # dim 1 was not broadcast: a real sum


def test_exp_log_only_when_safe():
    graph, out = _alg(lambda x: jg.exp(jg.log(jg.exp(x))), X)
    assert counts(out) == {"exp": 1}
    graph, out = _alg(lambda x: jg.exp(jg.log(x)), -X)  # log of negatives is nan: kept
    assert counts(out) == {"log": 1, "exp": 1}
    graph, out = _alg(lambda x: jg.log(jg.exp(x)), X)  # exp may overflow: kept
    assert counts(out) == {"exp": 1, "log": 1}


def test_broadcast_scalars_feed_elementwise_ops_directly():
    graph, out = _alg(lambda x, s: x * jg.expand(s, (3,)), X, np.asarray(2.0, np.float32))
    assert counts(out) == {"mul": 1}
    uniform = _symbolic_consts(lambda x, c: x + c, np.full(3, 4.0, np.float32))
    out = algebraic(uniform)
    assert out.eqns[0].inputs[1].shape == ()
    same_results(uniform, out, X)
    varied = _symbolic_consts(lambda x, c: x + c, np.arange(3, dtype=np.float32))
    assert algebraic(varied) is varied


def test_simplify_reaches_a_fixed_point_and_returns_unchanged_graphs():
    graph = vjp_graph(make(lambda x, y: jg.sum(jg.sin(x) * y + y), X, Y), wrt=(0, 1))
    once = simplify(graph)
    assert simplify(once) is once
    assert [p.__name__ for p in PASSES] == ["fold_constants", "algebraic", "cse", "dce"]


def test_transpose_rules_drop_double_transposes_and_move_them_into_products():
    a = np.random.default_rng(5).standard_normal((3, 4)).astype(np.float32)
    b = np.random.default_rng(6).standard_normal((4, 2)).astype(np.float32)
    graph = jg.make_ir(lambda a, b: (a @ b).t().t().t() * 2)(a, b)
    simpler = simplify(graph)
    names = [e.prim.name for e in simpler.eqns]
    assert names.count("transpose") == 2 and names.count("matmul") == 1  # (a @ b).T -> b.T @ a.T
    np.testing.assert_allclose(evaluate(simpler, a, b)[0], (a @ b).T * 2, rtol=1e-6)


def _split_rows(m, x, y):
    q, k, v = x[0], x[1], x[2]  # (the adjoint sums three unindexes into rows 0, 1 and 2)
    return m.sum(m.exp(q * k) + v * y)


def _two_middle_rows(m, x, y):
    return m.sum(x[1:3] * m.unsqueeze(y, 0)) + m.sum(m.sin(x[-1]))


def _rows_apart(m, x, y):
    return m.sum(x[0] * y) + m.sum(x[2] * y)  # rows 0 and 2: not adjacent, kept


@pytest.mark.parametrize("fn, cats, unindexes", [(_split_rows, 1, 0), (_two_middle_rows, 1, 1), (_rows_apart, 0, 2)])
def test_adjacent_unindexes_sum_as_one_cat(fn, cats, unindexes):
    x = np.random.default_rng(7).standard_normal((4, 3, 5)).astype(np.float32)
    x = x[:3] if fn is _split_rows else x
    y = np.random.default_rng(8).standard_normal((3, 5)).astype(np.float32)
    graph = vjp_graph(make(lambda a, b: fn(jg, a, b), x, y), wrt=(0,))
    out = simplify(graph)
    found = counts(out)
    assert (found.get("cat", 0), found.get("unindex", 0)) == (cats, unindexes)
    same_results(graph, out, x, y)
    xt = torch.tensor(x, requires_grad=True)
    fn(torch, xt, torch.tensor(y)).backward()
    np.testing.assert_allclose(evaluate(out, x, y)[-1], xt.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_batched_transposes_cancel_and_move_into_batched_products():
    # attention's adjoint: (T(q) @ g).T with q's T itself a transpose -> T(g) @ q (one copy, not two)
    rng = np.random.default_rng(9)
    q, k, g = (rng.standard_normal(s).astype(np.float32) for s in ((2, 3, 4, 5), (2, 3, 5, 6), (2, 3, 4, 6)))
    graph = jg.make_ir(lambda q, k, g: jg.transpose(jg.transpose(q, -1, -2) @ g, 2, 3) * 2
                       + jg.transpose(jg.transpose(k, 2, 3), -2, -1).transpose(2, 3))(q, k, g)
    simpler = simplify(graph)
    names = [e.prim.name for e in simpler.eqns]
    assert names.count("transpose") + names.count("permute") == 2 and names.count("matmul") == 1
    np.testing.assert_allclose(evaluate(simpler, q, k, g)[0], np.swapaxes(np.swapaxes(q, -1, -2) @ g, 2, 3) * 2
                               + np.swapaxes(k, 2, 3),
                               rtol=1e-5, atol=1e-6)
    mixed = jg.make_ir(lambda a, w: jg.transpose(a @ w, -1, -2))(q[0], k[0, 0])  # (3-D @ 2-D: kept)
    assert [e.prim.name for e in simplify(mixed).eqns] == ["matmul", "transpose"]
