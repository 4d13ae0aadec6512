"""Graph -> Graph simplification passes, and `simplify`, which runs them in a fixed, visible
order (PASSES) until nothing changes. Each pass returns its input unchanged (the same object)
when it finds nothing to do; that is how the fixed point is detected.

Algebraic rules (`algebraic`), and when they are safe:
* x + 0, 0 + x, x - 0, x * 1, 1 * x, x / 1 -> x, when the result has x's shape and dtype and
  the rewrite is exact: x + (+0.0) is +0.0 for x = -0.0, so a float zero added must be -0.0
  and one subtracted +0.0. Constants count as "all elements equal" only when their bits are
  equal (0.0 and -0.0 differ).
* x * 0 is never folded: inf * 0 and nan * 0 are nan, and x's finiteness is not known. (Zero
  cotangents never reach the graph: the adjoint transform carries them as symbolic zeros,
  `autograd_graph.Zero`, and skips the VJP rules they would feed.)
* x ** 1 (pow_scalar), neg(neg x), cast to the same dtype, reshape/expand to the same shape, clone -> x;
  to_device -> x (a compiled graph runs wholly on the device of its arguments, so a move is a copy);
  reshape(reshape x) -> one reshape;
  reshape(sum[keepdim=True] x) -> sum[keepdim=False] x when the sum has no other use.
* sum(expand x) over dims that expand broadcast -> x * count (a sum over no elements is 0, not
  x * 0, which is nan for infinite x).
* transpose(transpose x) -> x; transpose(a @ b) -> transpose(b) @ transpose(a) for matrices
  and for batches of them of equal rank (transposes of the last two dims) when the product has
  no other use (exact: the same products and sums, in the same order).
* unindex(a, rows i..j of dim 0) + unindex(b, rows j..k) -> cat(a, b) written into rows i..k
  (exact but for a zero's sign: -0.0 + 0.0 is +0.0, the cat keeps -0.0).
* exp(log x) -> x only when x comes from an op whose result is >= 0 or nan (exp, sqrt,
  sigmoid, abs, relu): for x < 0, log x is nan, so the rewrite would change results.
  log(exp x) is never rewritten (exp overflows to inf for large x).
* An elementwise op's input that is `expand` of a 0-d value, or an array constant whose
  elements are all equal, is replaced by the 0-d value: elementwise ops broadcast anyway.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import dtypes, shapes
from .core import ELEMENTWISE
from .ir import Eqn, Graph, Var, const_var, gc_paused
from .prims import BY_NAME

FOLD_LIMIT = 10_000  # constant folding only makes constants smaller than this (elements)
_NOT_FOLDED = {"expand"}  # a broadcast constant stays a broadcast of a small one


class _Rewriter:
    """Builds the rewritten eqn list, with a substitution map from old vars to new ones."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.sub: dict = {}
        self.eqns: list = []
        self.producer: dict = {}
        self.changed = False
        self._uses: dict | None = None

    def uses(self) -> dict:
        """Use counts in the input graph (for rules that only fire on single-use values)."""
        if self._uses is None:
            self._uses = self.graph.use_counts()
        return self._uses

    def emit(self, prim_name: str, inputs: tuple, **params) -> Var:
        """Append a new eqn (shape/dtype from the primitive's rule) and return its output."""
        prim = BY_NAME[prim_name]
        shape, dtype = prim.abstract(*inputs, **params)
        out = Var(shape, dtype)
        self.keep(Eqn(prim, inputs, params, out))
        return out

    def keep(self, e: Eqn) -> None:
        self.eqns.append(e)
        self.producer[e.out] = e

    def const(self, value) -> Var:
        return const_var(value)


def _run(graph: Graph, rule: Callable) -> Graph:
    """Apply `rule(rw, eqn)` to each eqn in order. It returns None (keep the eqn), an Eqn
    (keep that one instead) or a Var with the eqn's type (use it in place of eqn.out)."""
    rw = _Rewriter(graph)
    sub = rw.sub
    for e in graph.eqns:
        if sub:
            ins = tuple(sub.get(v, v) for v in e.inputs)
            if ins != e.inputs:
                e = e.replace_inputs(ins)
        r = rule(rw, e)
        if r is None:
            rw.keep(e)
        elif isinstance(r, Eqn):
            rw.changed = True
            rw.keep(r)
        else:
            if r.shape != e.out.shape or r.dtype != e.out.dtype:
                raise AssertionError(f"internal error: rewrite of {e.prim.name} changed its type")
            rw.changed = True
            sub[e.out] = r
    if not rw.changed:
        return graph
    outputs = [sub.get(v, v) for v in graph.outputs]
    return graph.replace(eqns=rw.eqns, outputs=outputs)


# ---------------------------------------------------------------------------------------------
# Dead code, common subexpressions, constants
# ---------------------------------------------------------------------------------------------


def dce(graph: Graph) -> Graph:
    """Drop equations whose outputs nothing uses (every primitive is pure)."""
    live = set(graph.outputs)
    kept = []
    for e in reversed(graph.eqns):
        if e.out in live:
            kept.append(e)
            live.update(e.inputs)
    if len(kept) == len(graph.eqns):
        return graph
    kept.reverse()
    return graph.replace(eqns=kept)


def freeze(x) -> object:
    """A hashable key for a param value (tuples, nested tuples, dtypes, arrays, dicts)."""
    if isinstance(x, (tuple, list)):
        return (type(x).__name__,) + tuple(freeze(v) for v in x)
    if isinstance(x, dict):
        return ("dict",) + tuple((k, freeze(v)) for k, v in sorted(x.items()))
    if isinstance(x, (np.dtype, dtypes.DType)):
        return ("dtype", x.str)
    if isinstance(x, np.ndarray):
        return ("array", x.dtype.str, x.shape, x.tobytes())
    if isinstance(x, float):  # keeps 1.0 and 1 (and True), 0.0 and -0.0 apart; every NaN is one key
        return ("float", "nan" if x != x else float(x).hex())
    try:
        hash(x)
    except TypeError:
        return ("repr", repr(x))
    return (type(x).__name__, x)


def _const_key(v: Var):
    if v.size > FOLD_LIMIT:
        return None
    return (v.dtype.str, v.shape, v.value.tobytes())


def cse(graph: Graph) -> Graph:
    """Merge equal constants, then equations with the same primitive, params and inputs."""
    consts: dict = {}
    seen: dict = {}

    def canon(v: Var) -> Var:
        if v.value is None:
            return v
        k = _const_key(v)
        return v if k is None else consts.setdefault(k, v)

    def rule(rw, e):
        ins = tuple(canon(v) for v in e.inputs)
        key = (e.prim.name, freeze(e.params), ins)
        hit = seen.get(key)
        if hit is not None:
            return hit
        seen[key] = e.out
        return None if ins == e.inputs else e.replace_inputs(ins)

    return _run(graph, rule)


def fold_constants(graph: Graph) -> Graph:
    """Evaluate (with the NumPy impl) equations whose inputs are all constants, when the
    result has fewer than FOLD_LIMIT elements; `expand` is left for `algebraic`."""

    def rule(rw, e):
        if e.prim.name in _NOT_FOLDED or e.out.size >= FOLD_LIMIT:
            return None
        if not all(v.value is not None for v in e.inputs):
            return None
        with np.errstate(all="ignore"):
            value = np.asarray(e.prim.impl(*[v.value for v in e.inputs], **e.params), dtype=e.out.dtype)
        return rw.const(value)

    return _run(graph, rule)


# ---------------------------------------------------------------------------------------------
# Algebraic simplification
# ---------------------------------------------------------------------------------------------


def _scalar_of(rw, v: Var):
    """The value when v is a constant with all elements equal, possibly broadcast by
    expand/reshape, as a 0-d array; else None."""
    for _ in range(8):
        if v.value is not None:
            flat = v.value.reshape(-1)
            if flat.size == 0 or flat.tobytes() != np.full_like(flat, flat[0]).tobytes():
                return None  # (bitwise: [0.0, -0.0] is not one value)
            return flat[0]
        e = rw.producer.get(v)
        if e is None or e.prim.name not in ("expand", "reshape"):
            return None
        v = e.inputs[0]
    return None


def _is(rw, v: Var, number, negative_zero: bool | None = None) -> bool:
    """v is a constant equal to `number` everywhere; for a float zero, `negative_zero` asks for
    its sign (-0.0 or +0.0)."""
    s = _scalar_of(rw, v)
    if s is None or s != number or np.isnan(s):
        return False
    if negative_zero is None or number != 0 or v.dtype.kind != "f":
        return True
    return bool(np.signbit(s)) == negative_zero


def _same_type(a: Var, b: Var) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype


def _identity_operand(rw, e, out, x, other, number, negative_zero=None):
    return x if _same_type(x, out) and _is(rw, other, number, negative_zero) else None


def _add(rw, e):
    x, y = e.inputs
    return _identity_operand(rw, e, e.out, x, y, 0, True) or _identity_operand(rw, e, e.out, y, x, 0, True) \
        or _adjacent_unindexes(rw, e)


_FULL = ("s", None, None, None)


def _leading_rows(rw, v: Var) -> tuple | None:
    """(lo, hi, value) when `v` is a single-use unindex of `value` into rows lo..hi of dim 0 (an
    int there, `value` then lacking that dim, or a unit-step slice; every other dim whole)."""
    p = _producer_is(rw, v, ("unindex",))
    if p is None or len(p.inputs) != 1 or rw.uses().get(v) != 1 or not v.ndim:
        return None
    spec, n, g = p.params["spec"], v.shape[0], p.inputs[0]
    if not spec or any(item not in (_FULL, ("e",)) for item in spec[1:]):
        return None
    if spec[0][0] == "i":
        lo = spec[0][1] + n if spec[0][1] < 0 else spec[0][1]
        if g.shape != v.shape[1:]:
            return None
        return lo, lo + 1, g
    if spec[0][0] == "s" and spec[0][3] in (None, 1):
        lo, hi, _ = slice(spec[0][1], spec[0][2]).indices(n)
        return (lo, hi, g) if hi > lo and g.shape == (hi - lo,) + v.shape[1:] else None
    return None


def _adjacent_unindexes(rw, e):
    """unindex(a, rows i..j) + unindex(b, rows j..k) -> unindex(cat(a, b), rows i..k), or cat(a, b)
    itself when i..k is all of dim 0 (the adjoint of q, k, v = qkv[0], qkv[1], qkv[2]: one buffer
    written by the cat instead of three zeroed ones summed). Each row is one operand's, the other's
    zero: the sum is that operand exactly, except that -0.0 + 0.0 would give +0.0 (a zero's sign)."""
    x, y = e.inputs
    if x.shape != e.out.shape or y.shape != e.out.shape or x.dtype != e.out.dtype or y.dtype != e.out.dtype:
        return None
    a, b = _leading_rows(rw, x), _leading_rows(rw, y)
    if a is None or b is None:
        return None
    if b[1] == a[0]:
        a, b = b, a
    if a[1] != b[0]:
        return None
    rows: list = []
    for v in (a[2], b[2]):
        inner = _producer_is(rw, v, ("cat",))
        if inner is not None and inner.params["dim"] == 0 and rw.uses().get(v) == 1:
            rows.extend(inner.inputs)  # (one cat of all the rows, not a cat of cats: one copy each)
        else:
            rows.append(v if v.ndim == e.out.ndim else rw.emit("reshape", (v,), shape=(1,) + v.shape))
    joined = rw.emit("cat", tuple(rows), dim=0)
    if (a[0], b[1]) == (0, e.out.shape[0]):
        return joined
    return rw.emit("unindex", (joined,), spec=(("s", a[0], b[1], None),), shape=e.out.shape)


def _sub(rw, e):
    x, y = e.inputs
    return _identity_operand(rw, e, e.out, x, y, 0, False)


def _mul(rw, e):
    x, y = e.inputs
    return _identity_operand(rw, e, e.out, x, y, 1) or _identity_operand(rw, e, e.out, y, x, 1)


def _div(rw, e):
    x, y = e.inputs
    return _identity_operand(rw, e, e.out, x, y, 1)


def _producer_is(rw, v: Var, names) -> Eqn | None:
    p = rw.producer.get(v)
    return p if p is not None and p.prim.name in names else None


def _neg(rw, e):
    p = _producer_is(rw, e.inputs[0], ("neg",))
    return p.inputs[0] if p is not None else None


def _same_dtype(rw, e):
    return e.inputs[0] if e.inputs[0].dtype == e.params["dtype"] else None


def _same_shape(rw, e):
    x = e.inputs[0]
    if x.shape == e.out.shape:
        return x
    if e.prim.name == "reshape":
        p = _producer_is(rw, x, ("reshape",))
        if p is not None:
            return Eqn(e.prim, (p.inputs[0],), e.params, e.out)
        p = _producer_is(rw, x, ("sum", "mean"))
        if p is not None and p.params["keepdim"] and rw.uses().get(x) == 1 \
                and e.out.shape == shapes.reduce(p.inputs[0].shape, p.params["dims"], False):
            return Eqn(p.prim, p.inputs, {**p.params, "keepdim": False}, e.out)
    return None


def _pow_one(rw, e):
    return e.inputs[0] if e.params["exponent"] == 1 else None


def _clone(rw, e):
    return e.inputs[0]


_NONNEGATIVE = ("exp", "sqrt", "sigmoid", "abs", "relu")


def _exp(rw, e):
    p = _producer_is(rw, e.inputs[0], ("log",))
    if p is not None and _producer_is(rw, p.inputs[0], _NONNEGATIVE) is not None:
        return p.inputs[0]
    return None


def _sum(rw, e):
    """sum(expand(x), dims) where every summed dim was broadcast -> count * x (reshaped)."""
    p = _producer_is(rw, e.inputs[0], ("expand",))
    if p is None:
        return None
    x, full = p.inputs[0], p.out.shape
    padded = (1,) * (len(full) - x.ndim) + x.shape
    dims, keepdim = e.params["dims"], e.params["keepdim"]
    if any(padded[d] != 1 for d in dims) or x.dtype != e.out.dtype:
        return None
    count = 1
    for d in dims:
        count *= full[d]
    if count == 0:  # the sum of no elements
        return rw.emit("expand", (rw.const(np.zeros((), e.out.dtype)),), shape=e.out.shape) if e.out.ndim \
            else rw.const(np.zeros((), e.out.dtype))
    small = shapes.reduce(padded, dims, keepdim)
    v = x
    if small != x.shape:
        v = rw.emit("reshape", (v,), shape=small)
    if small != e.out.shape:
        v = rw.emit("expand", (v,), shape=e.out.shape)
    return rw.emit("mul", (v, rw.const(np.asarray(count, dtype=e.out.dtype))))


def _is_matrix_transpose(e: Eqn) -> bool:
    """A transpose of the last two dims (of a matrix, or of each matrix of a batch)."""
    nd = e.inputs[0].ndim if e.inputs else 0
    if nd < 2:
        return False
    if e.prim.name == "transpose":
        return {e.params["dim0"] % nd, e.params["dim1"] % nd} == {nd - 2, nd - 1}
    return e.prim.name == "permute" and tuple(e.params["dims"]) == tuple(range(nd - 2)) + (nd - 1, nd - 2)


def _transpose(rw, e):
    """T(T(x)) -> x; T(a @ b) -> T(b) @ T(a) for matrices and batches of them (T: a transpose of
    the last two dims) when the product has no other use (the adjoint of x @ W.T makes
    (x.T @ g).T: this way BLAS reads transposed views and no large transposed copy is made; the
    adjoint of attention's q @ k.T makes (T(q) @ g).T, which becomes T(g) @ q, one copy fewer)."""
    if not _is_matrix_transpose(e):
        return None
    x = e.inputs[0]
    p = rw.producer.get(x)
    if p is None:
        return None
    if _is_matrix_transpose(p):
        return p.inputs[0]
    if p.prim.name == "matmul" and rw.uses().get(x) == 1 and p.inputs[0].ndim == p.inputs[1].ndim >= 2:
        a, b = p.inputs
        return rw.emit("matmul", (rw.emit("transpose", (b,), dim0=b.ndim - 2, dim1=b.ndim - 1),
                                  rw.emit("transpose", (a,), dim0=a.ndim - 2, dim1=a.ndim - 1)))
    return None


def _broadcast_scalars(rw, e):
    """Elementwise op: feed 0-d values directly instead of their broadcasts."""
    if len(e.inputs) < 2:
        return None
    new = list(e.inputs)
    for i, v in enumerate(e.inputs):
        if v.ndim == 0:
            continue
        s = _scalar_of(rw, v)
        if s is not None:
            new[i] = rw.const(np.asarray(s, dtype=v.dtype))
        else:
            p = _producer_is(rw, v, ("expand",))
            if p is not None and p.inputs[0].ndim == 0:
                new[i] = p.inputs[0]
        if new[i] is not v and shapes.broadcast_many(*(u.shape for u in new)) != e.out.shape:
            new[i] = v
    if all(a is b for a, b in zip(new, e.inputs, strict=False)):
        return None
    return e.replace_inputs(new)


ALGEBRAIC_RULES = {
    "add": _add, "sub": _sub, "mul": _mul, "div": _div, "neg": _neg, "cast": _same_dtype,
    "reshape": _same_shape, "expand": _same_shape, "clone": _clone, "to_device": _clone, "exp": _exp,
    "stop_gradient": _clone,  # (simplify runs after the adjoint, where stop_gradient matters)
    "function_output": _clone,  # autograd.Function's output: its custom VJP has been applied by now
    "pow_scalar": _pow_one, "sum": _sum, "transpose": _transpose, "permute": _transpose,
}


def algebraic(graph: Graph) -> Graph:
    """Apply the identities in the module docstring (one rule per primitive, then broadcasts)."""

    def rule(rw, e):
        fn = ALGEBRAIC_RULES.get(e.prim.name)
        r = fn(rw, e) if fn is not None else None
        if r is None and e.prim.kind == ELEMENTWISE:
            r = _broadcast_scalars(rw, e)
        return r

    return _run(graph, rule)


# ---------------------------------------------------------------------------------------------
# The pipeline
# ---------------------------------------------------------------------------------------------

PASSES: tuple = (fold_constants, algebraic, cse, dce)


def simplify(graph: Graph, passes=PASSES, max_rounds: int = 50) -> Graph:
    """Run `passes` in order, repeatedly, until a whole round changes nothing."""
    with gc_paused():
        for _ in range(max_rounds):
            before = graph
            for p in passes:
                graph = p(graph)
            if graph is before:
                break
    return graph
