"""The adjoint (reverse-mode) transform of a Graph, and its forward/backward split.

`vjp_graph` replays the graph on symbolic tensors with the differentiated inputs requiring
grad, then runs the ONE reverse engine (`autodiff.gradients`): the primitives' VJP rules run on
symbolic tensors and emit the adjoint equations. Applying it to its own result gives second
derivatives (Hessian-vector products) with no extra code.

`split` cuts a VJP graph in two for eager autograd (a compiled forward, then `backward()`):
the forward returns the outputs plus *residuals*, the backward takes residuals + cotangents.
Residual rule: a forward value the backward needs is
* recomputed in the backward when it is cheap — an elementwise or shape op — since its own
  inputs are then needed there instead (recursively), so the backward fuses into fewer passes
  over memory and saves fewer temporaries (`sum(2*sin(a)+1)` saves only `a`, not sin or cos);
* saved when it is a graph input, or made by anything expensive: matmul, reductions,
  indexing, gathers (e.g. an MLP saves its matmul outputs and recomputes relu from them).
Constants are available on both sides and are never residuals.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import dtypes
from .autodiff import gradients
from .core import ELEMENTWISE, SHAPE
from .grad_mode import enable_grad
from .interpret import replay
from .ir import Eqn, Graph, Var, gc_paused
from .prims import cast, expand
from .tensor import Tensor
from .tracing import TraceBuilder
from .tree import LEAF, seq, static

CHEAP_KINDS = (ELEMENTWISE, SHAPE)


def _wrt_tuple(wrt, n_inputs: int) -> tuple:
    nums = (wrt,) if isinstance(wrt, int) else tuple(wrt)
    out = []
    for i in nums:
        if not -n_inputs <= i < n_inputs:
            raise ValueError(f"wrt={i} is out of range for a graph with {n_inputs} inputs")
        out.append(i % n_inputs)
    return tuple(out)


def vjp_graph(graph: Graph, wrt: int | Sequence[int] = (0,), unused: str = "zeros",
              seed_scalar: bool = True) -> Graph:
    """A Graph computing graph's outputs and the VJP w.r.t. inputs `wrt`.

    Inputs: graph's inputs, then one cotangent per floating output -- except a single
    one-element output with `seed_scalar`, whose cotangent is 1. Outputs: graph's outputs,
    then one gradient per `wrt` input. An input the outputs do not depend on gets zeros
    (unused="zeros") or no output at all (unused="none": out_tree holds None there).
    """
    with gc_paused():
        return _vjp_graph(graph, wrt, unused, seed_scalar)


def _vjp_graph(graph: Graph, wrt, unused: str, seed_scalar: bool) -> Graph:
    if unused not in ("zeros", "none"):
        raise ValueError(f"unused must be 'zeros' or 'none', got {unused!r}")
    wrt = _wrt_tuple(wrt, len(graph.inputs))
    for i in wrt:
        v = graph.inputs[i]
        if not dtypes.is_floating(v.dtype):
            raise TypeError(f"cannot differentiate with respect to input {i}: it is {dtypes.name(v.dtype)}, and only "
                            "floating inputs have gradients (leave it out of wrt/argnums)")
    builder = TraceBuilder()
    ins = [Tensor._wrap(builder.input(v.shape, v.dtype), requires_grad=i in wrt)
           for i, v in enumerate(graph.inputs)]
    with enable_grad():
        outs = replay(graph, ins, builder)
    floating = [k for k, o in enumerate(outs) if dtypes.is_floating(o.dtype)]
    seeded = seed_scalar and len(outs) == 1 and len(floating) == 1 and outs[0].numel() == 1
    cts = {} if seeded else {k: Tensor._wrap(builder.input(outs[k].shape, outs[k].dtype)) for k in floating}
    # The seed 1 and unused-input zeros are symbolic 0-d constants broadcast by graph ops, so
    # no input-sized array is baked into the graph.
    seed = [expand(Tensor._wrap(builder.const(np.ones((), outs[0].dtype))), outs[0].shape)] if seeded else None
    diff = [k for k in floating if outs[k].requires_grad]
    builder.adjoint = True
    grads: list = [None] * len(wrt)
    if diff:
        targets = [ins[i] for i in wrt]
        gos = seed if seeded else [cts[k] for k in diff]
        grads = list(gradients([outs[k] for k in diff], targets, grad_outputs=gos, allow_unused=True))
    out_vars, grad_trees = [], []
    for i, g in zip(wrt, grads, strict=False):
        x = ins[i]
        if g is None:
            if unused == "none":
                grad_trees.append(static(None))
                continue
            g = expand(Tensor._wrap(builder.const(np.zeros((), x.dtype))), x.shape)
        elif g.dtype != x.dtype:
            g = cast(g, x.dtype)
        out_vars.append(g._data)
        grad_trees.append(LEAF)
    inputs = [t._data for t in ins] + [cts[k]._data for k in sorted(cts)]
    outputs = [o._data for o in outs] + out_vars
    out_tree = seq(graph.out_tree, seq(*grad_trees))
    return builder.build(inputs, outputs, out_tree=out_tree)


def _primal_mask(graph: Graph, cotangents: set) -> dict:
    """{var: True if it does not depend on any cotangent input}."""
    primal = {v: v not in cotangents for v in graph.inputs}
    for c in graph.constants:
        primal[c] = True
    for e in graph.eqns:
        primal[e.out] = all(primal[v] for v in e.inputs)
    return primal


def _ancestors(eqns: Sequence[Eqn], roots: Sequence[Var], stop=None) -> set:
    """Vars computed by `eqns` that `roots` depend on (not walking past vars in `stop`)."""
    producer = {e.out: e for e in eqns}
    seen, stack = set(), [v for v in roots]
    while stack:
        v = stack.pop()
        if v in seen:
            continue
        seen.add(v)
        e = producer.get(v)
        if e is None or (stop is not None and v in stop):
            continue
        stack.extend(e.inputs)
    return seen


def split(graph: Graph, wrt: int | Sequence[int] = (0,)) -> tuple[Graph, Graph]:
    """(forward, backward) Graphs for `graph` (see the module docstring for the residual rule).

    forward: graph's inputs -> graph's outputs + residuals.
    backward: residuals + one cotangent per floating output -> one gradient per `wrt` input.
    The residuals are `backward.inputs[:len(forward.outputs) - len(graph.outputs)]`."""
    with gc_paused():
        return _split(graph, wrt)


def _split(graph: Graph, wrt) -> tuple[Graph, Graph]:
    vjp = _vjp_graph(graph, wrt, unused="zeros", seed_scalar=False)
    n_in, n_out = len(graph.inputs), len(graph.outputs)
    primal_inputs, cts = vjp.inputs[:n_in], vjp.inputs[n_in:]
    primal = _primal_mask(vjp, set(cts))
    producer = {e.out: e for e in vjp.eqns}
    fwd_outs, grads = vjp.outputs[:n_out], vjp.outputs[n_out:]

    # Walk the backward from its outputs: cotangent-dependent eqns always run there; a primal
    # value it reads is recomputed when cheap, saved otherwise.
    bwd_vars: set = set()
    residuals: dict = {}
    stack = list(grads)
    while stack:
        v = stack.pop()
        if v in bwd_vars or v in residuals or v.value is not None:
            continue
        e = producer.get(v)
        if e is None:
            if primal.get(v, False):
                residuals[v] = None  # a primal graph input
            continue  # a cotangent input
        if primal[v] and e.prim.kind not in CHEAP_KINDS:
            residuals[v] = None
            continue
        bwd_vars.add(v)
        stack.extend(e.inputs)
    order = {v: i for i, v in enumerate(primal_inputs)}
    order.update({e.out: n_in + i for i, e in enumerate(vjp.eqns)})
    res = sorted(residuals, key=order.__getitem__)
    fwd_needed = _ancestors(vjp.eqns, list(fwd_outs) + res)
    fwd_eqns = [e for e in vjp.eqns if e.out in fwd_needed]
    bwd_eqns = [e for e in vjp.eqns if e.out in bwd_vars]
    forward = Graph(primal_inputs, fwd_eqns, list(fwd_outs) + res, in_tree=graph.in_tree,
                    out_tree=seq(graph.out_tree, seq(*(LEAF,) * len(res))))
    backward = Graph(res + list(cts), bwd_eqns, grads)
    return forward, backward
