"""Symbolic zero cotangents (core.Zero): VJP rules are skipped for them, a sum with one is the other
term, and they become arrays only where a consumer needs one (.grad, autograd.grad's results,
hooks, graph outputs) -- eagerly, in the IR adjoint, and in jit_grad's compiled backward."""
from __future__ import annotations

import numpy as np
import pytest

import jitgrad as jg
from jitgrad import prims
from jitgrad.adjoint import vjp_graph
from jitgrad.autodiff import add_cotangents
from jitgrad.autograd_graph import Zero
from jitgrad.tracing import make_ir

X = np.array([[0.5, -1.5, 0.0], [2.0, -0.25, 3.0]])


def _zero_constants(graph) -> int:
    """Constants of more than one element that are all zero: zero-filled buffers baked into a graph."""
    return sum(1 for c in graph.constants if c.value.size > 1 and not c.value.any())


@pytest.fixture
def exp_vjp_calls():
    """Counts the calls of exp's VJP rule (a frozen declaration, patched for the test only)."""
    calls = []
    rule = prims.EXP.vjp

    def counting(*args, **kwargs):
        calls.append(1)
        return rule(*args, **kwargs)

    object.__setattr__(prims.EXP, "vjp", counting)
    try:
        yield calls
    finally:
        object.__setattr__(prims.EXP, "vjp", rule)


def test_a_zero_cotangent_skips_the_rules_behind_it(exp_vjp_calls):
    torch = pytest.importorskip("torch")
    x = jg.tensor(X, requires_grad=True)
    loss = (jg.sign(jg.exp(x)) * 3).sum()
    exp_vjp_calls.clear()  # (recording a node may probe its rule once, to see what it reads)
    loss.backward()  # sign's gradient is zero: exp's rule need not run
    assert exp_vjp_calls == []
    assert isinstance(x.grad, jg.Tensor) and np.array_equal(x.grad.numpy(), np.zeros_like(X))
    t = torch.tensor(X, requires_grad=True)
    (torch.sign(torch.exp(t)) * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())
    loss = (jg.exp(x) * 2).sum()
    exp_vjp_calls.clear()
    loss.backward()  # a real cotangent still runs it
    assert exp_vjp_calls == [1]


def test_a_zero_is_materialised_for_hooks_retain_grad_and_grad_results():
    torch = pytest.importorskip("torch")
    seen = []
    x = jg.tensor(X, requires_grad=True)
    y = x * 2
    y.retain_grad()
    y.register_hook(lambda g: seen.append(g.numpy().copy()))
    (gx,) = jg.autograd.grad(jg.sign(y).sum(), x, retain_graph=True)
    t = torch.tensor(X, requires_grad=True)
    (tx,) = torch.autograd.grad(torch.sign(t * 2).sum(), t)
    np.testing.assert_array_equal(gx.numpy(), tx.numpy())
    assert not gx.requires_grad and gx.shape == (2, 3)
    np.testing.assert_array_equal(seen[0], np.zeros_like(X))
    jg.sign(y).sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), np.zeros_like(X))
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros_like(X))


def test_sums_with_a_zero_are_the_other_term():
    g = jg.ones(2, 3)
    zero = Zero.of(g)
    assert add_cotangents(zero, g) is g and add_cotangents(g, zero) is g
    assert add_cotangents(None, zero) is zero and add_cotangents(zero, None) is zero
    assert add_cotangents(zero, zero) is zero
    assert zero + g is g and zero.sum_to_size((3,)).shape == (3,)


def test_mixed_zero_and_real_cotangents_match_torch():
    torch = pytest.importorskip("torch")
    x = jg.tensor(X, requires_grad=True)
    (jg.sign(x) * x + jg.where(x > 0, jg.sign(x), x) + x ** 0).sum().backward()
    t = torch.tensor(X, requires_grad=True)
    (torch.sign(t) * t + torch.where(t > 0, torch.sign(t), t) + t ** 0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy())


def test_the_adjoint_graph_has_no_zero_filled_buffers():
    # sign's zero cotangent is symbolic: exp's rule is skipped, and the unsimplified adjoint holds no
    # zero array (on the old flag it held a (2, 3) zero constant and a mul by it for exp's rule).
    graph = make_ir(lambda x: (jg.sign(jg.exp(x)) * 3).sum() + (x * x).sum())(X)
    adjoint = vjp_graph(graph, (0,))
    assert _zero_constants(adjoint) == 0
    exp_out = next(e.out for e in adjoint.eqns if e.prim.name == "exp")
    assert adjoint.use_counts()[exp_out] == 1  # read by sign only: exp's rule (g * exp x) did not run
    # an input used only through a stop-gradient branch: its gradient output is a broadcast 0-d zero
    graph = make_ir(lambda x, y: (jg.sin(x) * y.detach() + jg.sign(y)).sum())(X, X)
    adjoint = vjp_graph(graph, (0, 1))
    assert _zero_constants(adjoint) == 0
    grads = jg.grad(lambda x, y: (jg.sin(x) * y.detach() + jg.sign(y)).sum(), argnums=(0, 1))(X, X)
    np.testing.assert_allclose(grads[0], np.cos(X) * X)
    np.testing.assert_array_equal(grads[1], np.zeros_like(X))


def _backward_of(entry, missing):
    return entry.backward_with_zeros(entry.wrt, missing).graph


def test_jit_grad_backward_of_an_unused_output_takes_no_zero_cotangent():
    torch = pytest.importorskip("torch")

    @jg.jit_grad
    def three(x):
        return jg.sin(x), jg.cos(x) * 2, jg.exp(x) - x

    x = jg.tensor(X, requires_grad=True)
    t = torch.tensor(X, requires_grad=True)
    for used in ((0,), (1,), (0, 2), (1, 2)):
        x.grad, t.grad = None, None
        outs = three(x)
        touts = (torch.sin(t), torch.cos(t) * 2, torch.exp(t) - t)
        sum(outs[i].sum() * (i + 1) for i in used).backward()
        sum(touts[i].sum() * (i + 1) for i in used).backward()
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-12)
        entry = next(iter(three._cache.entries.values()))
        missing = tuple(i for i in range(3) if i not in used)
        graph = _backward_of(entry, missing)
        n_residuals = len(graph.inputs) - len(used)
        full = entry.grad_executables(entry.wrt)[1].graph
        assert len(full.inputs) == n_residuals + 3  # the full backward reads all three cotangents
        assert _zero_constants(graph) == 0
        # nothing of an unused output's rule is left: sin's rule is cos, cos's is sin, exp's is exp
        rules = {0: "cos", 1: "sin", 2: "exp"}
        names = graph.prim_counts()
        assert all(rules[i] not in names for i in missing), names


def test_jit_grad_all_cotangents_zero_gives_zero_gradients():
    torch = pytest.importorskip("torch")

    @jg.jit_grad
    def two(x):
        return jg.sin(x), x * 3

    x = jg.tensor(X, requires_grad=True)
    a, b = two(x)
    (jg.sign(a) + jg.sign(b)).sum().backward()
    t = torch.tensor(X, requires_grad=True)
    (torch.sign(torch.sin(t)) + torch.sign(t * 3)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())
