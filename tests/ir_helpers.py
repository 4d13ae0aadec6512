"""Shared by the IR tests: run a function eagerly, traced + interpreted, as a VJP graph, as a
simplified VJP graph and as a forward/backward split, and compare values and gradients."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

import jitgrad
from jitgrad.adjoint import split, vjp_graph
from jitgrad.core import TensorBase
from jitgrad.interpret import evaluate
from jitgrad.prims_mask import MaskCountChangedError
from jitgrad.simplify import simplify
from jitgrad.tracing import trace
from jitgrad.tree import flatten


def _arrays(xs) -> list:
    return [np.asarray(x.detach()._data) if isinstance(x, TensorBase) else np.asarray(x) for x in xs]


def cotangents(outs: Sequence, seed: int = 7) -> list:
    rng = np.random.default_rng(seed)
    return [rng.uniform(0.5, 1.5, o.shape).astype(o.dtype) for o in outs if o.dtype.kind == "f"]


def eager(fn: Callable, xs: Sequence, wrt: Sequence[int], cts: list | None = None) -> tuple[list, list]:
    """(output arrays, gradient arrays for `wrt`, zeros where unused) by eager autograd."""
    leaves = [jitgrad.tensor(a.copy(), dtype=a.dtype) for a in _arrays(xs)]
    for i in wrt:
        leaves[i].requires_grad_()
    outs, _ = flatten(fn(*leaves))
    values = [np.asarray(o.detach()._data) for o in outs]
    diff = [o for o in outs if o.dtype.kind == "f"]
    cts = cotangents(values) if cts is None else cts
    pairs = [(o, c) for o, c in zip(diff, cts, strict=False) if o.requires_grad]
    grads = [None] * len(wrt)
    if pairs:
        grads = jitgrad.autograd.grad([o for o, _ in pairs], [leaves[i] for i in wrt],
                                      [jitgrad.tensor(c) for _, c in pairs], allow_unused=True)
    return values, [np.zeros(leaves[i].shape, leaves[i].dtype) if g is None else np.asarray(g._data)
                    for i, g in zip(wrt, grads, strict=False)]


def traced_for(fn: Callable, xs: Sequence, arrays: list) -> object:
    """fn's graph for these values: traced again, as compiled mode does, with the counts that
    running it reports for its traced boolean masks (see jitgrad/prims_mask.py)."""
    counts: tuple = ()
    while True:
        graph = trace(fn, xs, mask_counts=counts)
        try:
            evaluate(graph, *arrays)
            return graph
        except MaskCountChangedError as changed:
            counts = graph.mask_counts[:changed.site] + (changed.count,)


def check_all_modes(fn: Callable, xs: Sequence, wrt: Sequence[int] | None = None, rtol: float = 1e-5,
                    atol: float = 1e-6) -> dict:
    """Traced forward, VJP graph, simplified VJP graph and split agree with eager mode."""
    arrays = _arrays(xs)
    if wrt is None:
        wrt = [i for i, a in enumerate(arrays) if a.dtype.kind == "f"]
    graph = traced_for(fn, xs, arrays)
    values, grads = eager(fn, arrays, wrt)
    cts = cotangents(values)
    for got, want in zip(evaluate(graph, *arrays), values, strict=False):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
    vjp = vjp_graph(graph, wrt, seed_scalar=False)
    small = simplify(vjp)
    fwd, bwd = split(graph, wrt)
    n = len(values)
    for g in (vjp, small):
        res = evaluate(g, *arrays, *cts)
        for got, want in zip(res[:n], values, strict=False):
            np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
        for got, want in zip(res[n:], grads, strict=False):
            np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
    f_res = evaluate(fwd, *arrays)
    for got, want in zip(f_res[:n], values, strict=False):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
    for got, want in zip(evaluate(bwd, *f_res[n:], *cts), grads, strict=False):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
    return {"graph": graph, "vjp": vjp, "simplified": small, "forward": fwd, "backward": bwd}
