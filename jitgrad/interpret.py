"""Running a Graph: `evaluate` with the NumPy implementations (the reference the compiled back
end is tested against, and its fallback), and `replay`, which re-binds each equation on
tensors (eagerly, or symbolically into a new builder; used by the adjoint transform).
Both are one loop over the equations: no recursion, so deep graphs are fine."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .core import TensorBase, bind
from .ir import Builder, Graph
from .tensor import Tensor


def _check_inputs(graph: Graph, arrays: Sequence) -> list:
    if len(arrays) != len(graph.inputs):
        raise TypeError(f"the graph takes {len(graph.inputs)} inputs, got {len(arrays)}")
    out = []
    for i, (v, a) in enumerate(zip(graph.inputs, arrays, strict=False)):
        a = a._data if isinstance(a, TensorBase) else np.asarray(a)
        if tuple(a.shape) != v.shape:
            raise ValueError(f"input {i} should have shape {v.shape}, got {tuple(a.shape)}")
        if a.dtype != v.dtype:
            a = a.astype(v.dtype)
        out.append(a)
    return out


def evaluate(graph: Graph, *arrays) -> list[np.ndarray]:
    """The graph's outputs for these input arrays, computed with each primitive's NumPy impl."""
    env: dict = {}
    for v, a in zip(graph.inputs, _check_inputs(graph, arrays), strict=False):
        env[v] = a
    for c in graph.constants:
        env[c] = c.value
    with np.errstate(all="ignore"):  # IEEE results (inf, nan) without warnings, as in eager mode
        for e in graph.eqns:
            out = e.out
            data = e.prim.impl(*[env[v] for v in e.inputs], **e.params)
            if type(data) is not np.ndarray or data.dtype != out.dtype:
                data = np.asarray(data, dtype=out.dtype)
            env[out] = data
    return [env[v] if v.value is None else v.value for v in graph.outputs]


def replay(graph: Graph, tensors: Sequence[TensorBase], builder: Builder | None = None) -> list:
    """Re-bind every equation on `tensors` (concrete or symbolic): autograd records as usual.
    With `builder`, constants become that builder's constants."""
    if len(tensors) != len(graph.inputs):
        raise TypeError(f"the graph takes {len(graph.inputs)} inputs, got {len(tensors)}")
    env: dict = dict(zip(graph.inputs, tensors, strict=False))
    for c in graph.constants:
        data = builder.const(c.value) if builder is not None else c.value
        env[c] = Tensor._wrap(data)
    for e in graph.eqns:
        env[e.out] = bind(e.prim, *[env[v] for v in e.inputs], **e.params)
    return [env[v] for v in graph.outputs]
