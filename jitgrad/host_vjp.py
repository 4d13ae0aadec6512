"""NumPy forms of the commonest VJP rules, for the eager engine's no-graph backward on host arrays.

Each form runs the same primitive implementations, in the same order and on the same operands, as
its rule's binds would (so the cotangents are bit-identical), without building a tensor, checking
a shape rule or promoting dtypes per step: a rule runs here only when every floating operand has
the cotangent's dtype (no promotion would happen), else the engine runs the rule itself.
tests/test_host_vjp.py checks every form against its rule, bit for bit, for every requires-grad pattern.
"""
from __future__ import annotations

import numpy as np

from . import shapes
from .autograd_graph import PrimNode, host_sum_to
from .prims_elementwise import ADD, DIV, EXP, LOG, MUL, NEG, POW_SCALAR, RSUB_SCALAR, SIGMOID, SUB, TANH
from .prims_index import GATHER, GETITEM, SCATTER_ADD, UNINDEX
from .prims_matmul import MATMUL_PRIM
from .prims_reduce import AMAX, AMIN, MEAN, SUM
from .prims_shape import CAT, EXPAND, RESHAPE, TRANSPOSE

_mul, _div, _neg, _rsub = MUL.impl, DIV.impl, NEG.impl, RSUB_SCALAR.impl
_matmul, _swap, _reshape, _expand = MATMUL_PRIM.impl, TRANSPOSE.impl, RESHAPE.impl, EXPAND.impl
_sum, _pow = SUM.impl, POW_SCALAR.impl


def _floats_match(g: np.ndarray, *arrays: np.ndarray) -> bool:
    """g is float32/float64 and every array has its dtype (the rule's ops would promote nothing)."""
    dt = g.dtype
    if dt.kind != "f" or dt.itemsize < 4:
        return False
    for a in arrays:
        if a.dtype is not dt and a.dtype != dt:
            return False
    return True


def _add(g, out, xs, needs):
    return (g, g) if _floats_match(g, *xs) else None


def _sub(g, out, xs, needs):
    if not _floats_match(g, *xs):
        return None
    return g, _neg(g) if needs[1] else None


def _mul_rule(g, out, xs, needs):
    x, y = xs
    if not _floats_match(g, x, y):
        return None
    return _mul(g, y) if needs[0] else None, _mul(g, x) if needs[1] else None


def _div_rule(g, out, xs, needs):
    x, y = xs
    if not _floats_match(g, x, y):
        return None
    return (_div(g, y) if needs[0] else None,
            _div(_neg(_mul(g, x)), _mul(y, y)) if needs[1] else None)


def _neg_rule(g, out, xs, needs, **_):
    return (_neg(g),) if _floats_match(g, xs[0]) else None


def _exp(g, out, xs, needs):
    return (_mul(g, out),) if _floats_match(g, out) else None


def _log(g, out, xs, needs):
    return (_div(g, xs[0]),) if _floats_match(g, xs[0]) else None


def _tanh(g, out, xs, needs):
    return (_mul(g, _rsub(_mul(out, out), value=1)),) if _floats_match(g, out) else None


def _sigmoid(g, out, xs, needs):
    return (_mul(g, _mul(out, _rsub(out, value=1))),) if _floats_match(g, out) else None


def _pow_scalar_rule(g, out, xs, needs, exponent):
    x = xs[0]
    if not _floats_match(g, x) or type(exponent) not in (int, float) or exponent == 0:
        return None  # (x ** 0: the tensor rule's symbolic zero)
    base = x if exponent - 1 == 1 else _pow(x, exponent=exponent - 1)
    return (_mul(g, _mul(base, np.asarray(exponent, dtype=x.dtype))),)


def _matmul_rule(g, out, xs, needs):
    a, b = xs
    if not _floats_match(g, a, b):
        return None
    a2 = a if a.ndim > 1 else np.expand_dims(a, 0)
    b2 = b if b.ndim > 1 else np.expand_dims(b, -1)
    shape = shapes.matmul(a2.shape, b2.shape)
    g2 = g if g.shape == shape else _reshape(g, shape)
    ga = gb = None
    if needs[0]:
        ga = _matmul(g2, _swap(b2, -1, -2))
        if a.ndim == 1:
            ga = _reshape(ga, ga.shape[:-2] + ga.shape[-1:])
    if needs[1]:
        if a2.ndim > 2 and b2.ndim == 2:  # one (K, rows) @ (rows, N) product, as the rule
            rows = int(np.prod(a2.shape[:-1]))
            gb = _matmul(_swap(_reshape(a2, (rows, a2.shape[-1])), 0, 1), _reshape(g2, (rows, g2.shape[-1])))
        else:
            gb = _matmul(_swap(a2, -1, -2), g2)
        if b.ndim == 1:
            gb = _reshape(gb, gb.shape[:-1])
    return ga, gb


def _reshape_rule(g, out, xs, needs, shape):
    x = xs[0]
    return (g if g.shape == x.shape else _reshape(g, x.shape),) if _floats_match(g, x) else None


def _transpose(g, out, xs, needs, dim0, dim1):
    return (_swap(g, dim0, dim1),) if _floats_match(g, xs[0]) else None


def _expand_rule(g, out, xs, needs, shape):
    # unbroadcast: the engine sums the cotangent back to x's shape (the same reduction and reshape)
    return (g,) if _floats_match(g, xs[0]) else None


def _expand_back(g, x, dims, keepdim):
    if not keepdim:
        kept = shapes.reduce(x.shape, dims, True)
        if g.shape != kept:
            g = _reshape(g, kept)
    return g if g.shape == x.shape else _expand(g, shape=x.shape)


def _sum_rule(g, out, xs, needs, dims, keepdim):
    x = xs[0]
    return (_expand_back(g, x, dims, keepdim),) if _floats_match(g, x) else None


def _mean_rule(g, out, xs, needs, dims, keepdim):
    x = xs[0]
    if not _floats_match(g, x):
        return None
    n = shapes.numel(tuple(x.shape[d] for d in dims))
    return (_expand_back(_div(g, np.asarray(n, dtype=g.dtype)), x, dims, keepdim),)


def _extreme_rule(g, out, xs, needs, dims, keepdim):
    x = xs[0]
    if not _floats_match(g, x, out):
        return None
    kept = shapes.reduce(x.shape, dims, True)
    o = _reshape(out, kept) if not keepdim and out.ndim and out.shape != kept else out
    gk = _reshape(g, kept) if not keepdim and g.ndim and g.shape != kept else g
    mask = np.equal(x, o).astype(g.dtype)
    count = _sum(mask, dims=dims, keepdim=True)
    return (_div(_mul(gk, mask), count),)


def _cat_rule(g, out, xs, needs, dim):
    if not _floats_match(g, *xs):
        return None
    grads, start, lead = [], 0, (slice(None),) * dim
    for x, need in zip(xs, needs):
        n = x.shape[dim]
        grads.append(g[lead + (slice(start, start + n),)] if need else None)
        start += n
    return tuple(grads)


def _getitem_rule(g, out, xs, needs, spec):
    x = xs[0]
    if not _floats_match(g, x):
        return None
    arrays = xs[1:]
    return (UNINDEX.impl(g, *arrays, spec=spec, shape=tuple(x.shape)),) + (None,) * len(arrays)


def _gather_rule(g, out, xs, needs, dim):
    x, index = xs
    if not _floats_match(g, x):
        return None
    return SCATTER_ADD.impl(g, index, dim=dim, shape=tuple(x.shape)), None


RULES = {ADD: _add, SUB: _sub, MUL: _mul_rule, DIV: _div_rule, NEG: _neg_rule, RSUB_SCALAR: _neg_rule,
         POW_SCALAR: _pow_scalar_rule, EXP: _exp, LOG: _log, TANH: _tanh, SIGMOID: _sigmoid, MATMUL_PRIM: _matmul_rule,
         RESHAPE: _reshape_rule, TRANSPOSE: _transpose, EXPAND: _expand_rule, SUM: _sum_rule, MEAN: _mean_rule,
         AMAX: _extreme_rule, AMIN: _extreme_rule, CAT: _cat_rule, GETITEM: _getitem_rule, GATHER: _gather_rule}


def arrays(node: PrimNode, g: np.ndarray) -> list | None:
    """The input cotangents of `node` for the host cotangent array `g`, as arrays (None where no
    gradient flows), each summed back to its input's shape; None when the node has no NumPy rule
    or an operand is not a host array of g's dtype (the engine then runs the tensor rule)."""
    rule = RULES.get(node.prim)
    if rule is None:
        return None
    saved = node.saved_host()
    if saved is None:
        return None
    datas, needs, out = saved
    params = node.params
    grads = rule(g, out, datas, needs, **params) if params else rule(g, out, datas, needs)
    if grads is None:
        return None
    result = []
    for gi, d in zip(grads, datas):
        if gi is not None:
            if type(gi) is not np.ndarray:
                gi = np.asarray(gi)
            if gi.shape != d.shape:
                gi = host_sum_to(gi, d.shape)
                if gi is None:
                    return None
        result.append(gi)
    return result


def apply(node: PrimNode, grad) -> tuple:
    """node.apply_host(grad) (the input cotangents as tensors, each summed back to its input's shape),
    by the node's NumPy rule where `arrays` can run it.

    Example:
        >>> x = jg.tensor([0.0, 1.0], requires_grad=True)
        >>> apply(jg.tanh(x).grad_fn, jg.ones(2))
        (tensor([1.0000, 0.4200]),)
    """
    g = grad._data
    got = arrays(node, g) if type(g) is np.ndarray else None
    if got is None:
        return node.apply_host(grad)
    cls = type(grad)
    cls = cls._op_result or cls
    # (a rule passing the cotangent itself on passes the same tensor, as the tensor rule returns `g`)
    return tuple([None if gi is None else grad if gi is g else cls._wrap(gi) for gi in got])
