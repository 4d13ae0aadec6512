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
  indexing, gathers (e.g. an MLP saves its matmul outputs and recomputes relu from them);
* saved, too, when it ends a chain of at least RECOMPUTE_DEPTH cheap ops and the forward
  reads it from an array anyway (the input of a matmul, a concatenation, an indexing op): a
  recurrent net's hidden state. Recomputing it would chain every time step's forward into one
  backward loop whose size, and compile time, grow with the sequence length; saved, each
  step's backward recomputes only its own gates, and the steps share one compiled loop.
Constants are available on both sides and are never residuals.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import dtypes, shapes
from .autodiff import gradients, materialize
from .autograd_graph import Zero
from .core import ELEMENTWISE, REDUCTION, SHAPE
from .grad_mode import enable_grad
from .interpret import replay
from .ir import Eqn, Graph, Var, const_var, gc_paused
from .prims import BY_NAME, cast, expand
from .tensor import Tensor
from .tracing import TraceBuilder
from .tree import LEAF, seq, static

CHEAP_KINDS = (ELEMENTWISE, SHAPE)
#: A cheap value this many cheap ops (or more) deep, read from an array by the forward, is saved.
RECOMPUTE_DEPTH = 8


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
            g = materialize(Zero.of(x))  # (a graph output: an array is needed, a broadcast 0-d zero)
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


def _deep_array_values(eqns: Sequence[Eqn], primal: dict) -> set:
    """Primal values at the end of a chain of at least RECOMPUTE_DEPTH cheap ops that some primal
    op reads from an array (anything but a fused elementwise op, a broadcast or a reduction):
    saving them costs no extra pass in the forward, recomputing them costs the whole chain."""
    depth: dict = {}
    read_from_arrays: set = set()
    for e in eqns:
        if not primal[e.out]:
            continue
        kind = e.prim.kind
        if kind in CHEAP_KINDS:
            depth[e.out] = 1 + max((depth.get(v, 0) for v in e.inputs), default=0)
        if kind not in (ELEMENTWISE, REDUCTION) and e.prim.name != "expand":
            read_from_arrays.update(e.inputs)
    return {v for v in read_from_arrays if depth.get(v, 0) >= RECOMPUTE_DEPTH}


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
    checkpoints = _deep_array_values(vjp.eqns, primal)

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
        if primal[v] and (e.prim.kind not in CHEAP_KINDS or v in checkpoints):
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


def with_zero_cotangents(backward: Graph, n_residuals: int, zero: Sequence[int]) -> Graph:
    """`backward` (residuals + cotangents -> gradients, from `split`) for calls where the cotangents
    at positions `zero` (among the cotangent inputs) are zero, e.g. an output the caller did not use.

    Those inputs are dropped and carried as symbolic zeros: a backward graph is linear in its
    cotangents, so an equation whose cotangent operands are all zero computes a zero and is dropped
    (the VJP rule it came from is skipped), an add or sub with a zero is the other term, and a zero
    is materialised (a 0-d constant, broadcast) only where a consumer needs an array: an operand of
    an op mixing it with a nonzero cotangent, or a graph output."""
    cts = backward.inputs[n_residuals:]
    zeros = {cts[i] for i in zero}
    linear = set(cts)  # values that depend on a cotangent (the rest are primal)
    sub: dict = {}
    eqns: list = []

    def array(v: Var, shape=None) -> Var:
        if v not in zeros:
            return sub.get(v, v)
        scalar = const_var(np.zeros((), v.dtype))
        shape = v.shape if shape is None else shape
        if not shape:
            return scalar
        out = Var(shape, v.dtype)
        eqns.append(Eqn(BY_NAME["expand"], (scalar,), {"shape": tuple(shape)}, out))
        return out

    def emit(name: str, inputs: tuple, out: Var, **params) -> None:
        eqns.append(Eqn(BY_NAME[name], inputs, params, out))

    for e in backward.eqns:
        if not any(v in linear for v in e.inputs):
            eqns.append(e.replace_inputs(tuple(sub.get(v, v) for v in e.inputs)))
            continue
        linear.add(e.out)
        live = [v for v in e.inputs if v in linear and v not in zeros]
        if not live:
            zeros.add(e.out)
            continue
        if e.prim.name in ("add", "sub") and len(live) == 1 and any(v in zeros for v in e.inputs):
            other = live[0]
            x = sub.get(other, other)
            if e.prim.name == "sub" and other is e.inputs[1]:
                y = Var(x.shape, x.dtype)
                emit("neg", (x,), y)
                x = y
            if x.dtype != e.out.dtype:
                y = Var(x.shape, e.out.dtype)
                emit("cast", (x,), y, dtype=e.out.dtype)
                x = y
            if x.shape != e.out.shape:
                y = Var(e.out.shape, e.out.dtype)
                emit("expand", (x,), y, shape=e.out.shape)
                x = y
            sub[e.out] = x
            continue
        # (an elementwise op broadcasts a 0-d zero itself, unless the zero operand sets the shape)
        scalar_ok = e.prim.kind == ELEMENTWISE and shapes.broadcast_many(
            *(() if v in zeros else v.shape for v in e.inputs)) == e.out.shape
        eqns.append(e.replace_inputs(tuple(array(v, () if scalar_ok else None) for v in e.inputs)))
    outputs = [array(v) for v in backward.outputs]
    inputs = backward.inputs[:n_residuals] + [v for v in cts if v not in zeros]
    return Graph(inputs, eqns, outputs, in_tree=None, out_tree=backward.out_tree)
