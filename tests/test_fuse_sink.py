"""Sinking (jitgrad/fuse.py): an elementwise value moves into the later loop that reads it, so it
stays in a register; but a loop stops growing at MAX_LOOP_INPUTS arrays, so a gradient summed
over T uses of a weight is not one loop with T inputs (its compile time would grow with T)."""
from __future__ import annotations

import numpy as np

import jitgrad as jg
from jitgrad.adjoint import split
from jitgrad.fuse import MAX_LOOP_INPUTS, LoopGroup, fuse
from jitgrad.simplify import simplify
from jitgrad.tracing import make_ir

rng = np.random.default_rng(3)


def _arrays_read(group: LoopGroup) -> int:
    made = {e.out for e in group.eqns}
    return len({v for e in group.eqns for v in e.inputs if v not in made and v.value is None})


def _weight_used_per_step(xs, w):
    total = 0.0
    for t in range(xs.shape[0]):
        total = total + jg.sum(jg.tanh(xs[t] @ w))
    return total


def _backward_loops(steps: int) -> list:
    xs = rng.standard_normal((steps, 3, 4)).astype(np.float32)
    w = rng.standard_normal((4, 5)).astype(np.float32)
    _, bwd = split(make_ir(_weight_used_per_step)(xs, w), wrt=(1,))
    return [g for g in fuse(simplify(bwd)) if isinstance(g, LoopGroup)]


def test_a_recomputed_value_sinks_into_the_loop_that_reads_it():
    x = rng.standard_normal((4, 5)).astype(np.float32)
    graph = simplify(make_ir(lambda a: jg.sum(jg.exp(a) * 2.0 + a))(x))
    (loop,) = [g for g in fuse(graph) if isinstance(g, LoopGroup)]
    assert [e.prim.name for e in loop.eqns][-1] == "sum" and "exp" in [e.prim.name for e in loop.eqns]


def test_a_gradient_summed_over_many_uses_runs_in_loops_of_bounded_inputs():
    assert MAX_LOOP_INPUTS < 40
    loops = _backward_loops(40)
    assert max(_arrays_read(g) for g in loops) <= MAX_LOOP_INPUTS + 1  # (+1: a running sum from the loop before)
    assert max(len(g.eqns) for g in _backward_loops(80)) == max(len(g.eqns) for g in loops)


def test_a_gradient_summed_over_many_uses_matches_eager():
    xs = rng.standard_normal((37, 3, 4)).astype(np.float32)
    w = rng.standard_normal((4, 5)).astype(np.float32)
    wc, we = jg.tensor(w, requires_grad=True), jg.tensor(w, requires_grad=True)
    jg.jit_grad(_weight_used_per_step)(jg.tensor(xs), wc).backward()
    _weight_used_per_step(jg.tensor(xs), we).backward()
    np.testing.assert_allclose(wc.grad.numpy(), we.grad.numpy(), rtol=1e-5, atol=1e-5)
