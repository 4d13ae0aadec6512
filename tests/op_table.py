"""ONE table of op cases, shared by every mode's tests (eager now; compiled and IR later).

A case's `fn(m, *xs)` is written against a namespace `m` (jitgrad or torch: the same code runs
on both); `torch_fn` overrides it where jitgrad's spelling has no torch twin. Input specs say
shapes and value domains (positive for log, away from kinks for abs/relu, distinct values for
max, integer indices for gather). `make_inputs(case, dtype)` builds the leaf tensors.
"""
from __future__ import annotations

import functools
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from op_table_conv import add_cases as add_conv_cases
from op_table_conv import add_image_cases
from op_table_linalg import add_cases as add_linalg_cases
from op_table_math import add_cases as add_math_cases
from op_table_reduce import add_cases as add_reduce_cases
from op_table_shape import add_cases as add_shape_cases

import jitgrad
from jitgrad import prims

# ---------------------------------------------------------------------------------------------
# Input specs and value domains
# ---------------------------------------------------------------------------------------------


def _away(rng, shape):
    """|x| in [0.3, 1.5]: away from the kink at 0 (abs, relu, sign, division)."""
    return rng.uniform(0.3, 1.5, shape) * rng.choice([-1.0, 1.0], shape)


def _distinct(rng, shape):
    """Values at least 0.25 apart (no ties for max/min/sort-like ops)."""
    n = int(np.prod(shape, dtype=np.int64))
    return ((rng.permutation(n) - n / 2) * 0.3 + rng.uniform(0, 0.05, n)).reshape(shape)


def _with_zeros(count):
    def make(rng, shape):
        x = _away(rng, shape).reshape(-1)
        x[rng.choice(x.size, count, replace=False)] = 0.0
        return x.reshape(shape)
    return make


def _clamp_safe(rng, shape):
    """Values away from the clamp bounds -0.5 and 0.5 used by the clamp cases."""
    centre = rng.choice([-1.0, 0.0, 1.0], shape)
    return centre + rng.uniform(-0.35, 0.35, shape)


DOMAINS: dict[str, Callable] = {
    "real": lambda rng, shape: rng.standard_normal(shape),
    "pos": lambda rng, shape: rng.uniform(0.5, 2.0, shape),
    "unit": lambda rng, shape: rng.uniform(-0.9, 0.9, shape),
    "away": _away,
    "distinct": _distinct,
    "ints": lambda rng, shape: rng.integers(-2, 3, shape).astype(np.float64),  # many ties
    "one_zero": _with_zeros(1),
    "two_zeros": _with_zeros(2),
    "clamp_safe": _clamp_safe,
    "with_nan": lambda rng, shape: np.where(np.arange(np.prod(shape, dtype=int)).reshape(shape) % 5 == 1, np.nan,
                                            rng.standard_normal(shape)),
}


@dataclass(frozen=True)
class Spec:
    """One input: shape, value domain, and whether it requires grad. high > 0 makes an int64
    index input with values in [0, high) (never requiring grad)."""

    shape: tuple
    domain: str = "real"
    grad: bool = True
    high: int = 0


@dataclass(frozen=True)
class Case:
    """One op case. Empty reason strings mean "checked"; a non-empty one says why not."""

    name: str
    prims: tuple            # jitgrad.prims names this case must bind
    fn: Callable            # fn(m, *xs) with m = jitgrad (or torch, unless torch_fn is given)
    inputs: tuple           # of Spec
    torch_fn: Callable | None = None  # torch_fn(torch, *xs) where the spelling differs
    grad: bool = True       # False: outputs are not differentiable (values only)
    no_gradcheck: str = ""  # why finite differences do not apply at these inputs
    no_second_order: str = ""  # why second order is meaningless
    no_node_name: str = ""  # why grad_fn.name() differs from torch by design
    eager_only: str = ""    # why the case cannot be traced (compiled mode must refuse it clearly)
    tol: float = 1.0        # multiplier on the float32 torch tolerances
    eps: float = 1e-6       # finite-difference step (larger where values pass through float32)

    def jg(self, *xs):
        """Run on jitgrad tensors."""
        return self.fn(jitgrad, *xs)

    def th(self, *xs):
        """Run on torch tensors."""
        import torch
        return (self.torch_fn or self.fn)(torch, *xs)

    def __repr__(self) -> str:
        return self.name


def make_inputs(case: Case, dtype=np.float64) -> list:
    """Leaf tensors for a case; values depend only on the case name (reproducible)."""
    rng = np.random.default_rng(zlib.crc32(case.name.encode()))
    out = []
    for spec in case.inputs:
        if spec.high:
            out.append(jitgrad.tensor(rng.integers(0, spec.high, spec.shape), dtype=jitgrad.int64))
            continue
        values = np.asarray(DOMAINS[spec.domain](rng, spec.shape), dtype=np.float64)
        t = jitgrad.tensor(values.astype(dtype), dtype=dtype)
        out.append(t.requires_grad_() if spec.grad and case.grad else t)
    return out


def _s(*shape, domain="real", grad=True):
    return Spec(tuple(shape), domain, grad)


def _idx(*shape, high):
    return Spec(tuple(shape), "real", False, high)


CASES: list[Case] = []


def case(name, prims, fn, *inputs, **kw) -> None:
    if isinstance(prims, str):
        prims = tuple(prims.split())
    CASES.append(Case(name, tuple(prims), fn, tuple(inputs), **kw))


# ---------------------------------------------------------------------------------------------
# Elementwise unary
# ---------------------------------------------------------------------------------------------

_KINK = "the second derivative is zero almost everywhere; checked, though trivially"
UNARY = [  # (name, domain)
    ("neg", "real"), ("abs", "away"), ("sign", "away"), ("exp", "real"), ("expm1", "real"),
    ("log", "pos"), ("log1p", "pos"), ("sqrt", "pos"), ("sin", "real"), ("cos", "real"),
    ("tan", "unit"), ("tanh", "real"), ("sigmoid", "real"), ("relu", "away"),
]
for _name, _dom in UNARY:
    for _shape in [(3, 4), (), (2, 1, 3)]:
        case(f"{_name}-{'x'.join(map(str, _shape)) or '0d'}", _name,
             (lambda op: lambda m, x: getattr(m, op)(x))(_name), _s(*_shape, domain=_dom))
    case(f"{_name}-method", _name, (lambda op: lambda m, x: getattr(x, op)())(_name), _s(2, 3, domain=_dom))
case("neg-operator", "neg", lambda m, x: -x, _s(3))
case("abs-operator", "abs", lambda m, x: abs(x), _s(3, domain="away"))
case("exp-large", "exp", lambda m, x: m.exp(x * 30), _s(4), tol=3)
case("sigmoid-saturated", "sigmoid mul", lambda m, x: m.sigmoid(x * 40), _s(5, domain="away"),
     no_gradcheck="sigmoid(40x) is flat to 1e-7: finite differences see only rounding noise")

# ---------------------------------------------------------------------------------------------
# Elementwise binary, broadcasting pairs, scalars
# ---------------------------------------------------------------------------------------------


PAIRS = [((3, 4), (3, 4)), ((3, 1), (1, 4)), ((2, 3, 4), (4,)), ((), (3,)), ((3, 4), ()), ((2, 1, 3), (4, 1))]
BINARY = [  # (name, operator form, domain of x, domain of y)
    ("add", lambda x, y: x + y, "real", "real"),
    ("sub", lambda x, y: x - y, "real", "real"),
    ("mul", lambda x, y: x * y, "real", "real"),
    ("div", lambda x, y: x / y, "real", "away"),
    ("pow", lambda x, y: x ** y, "pos", "real"),
    ("maximum", None, "distinct", "distinct"),
    ("minimum", None, "distinct", "distinct"),
]
for _name, _op, _dx, _dy in BINARY:
    for _a, _b in PAIRS:
        _tag = f"{'x'.join(map(str, _a)) or '0d'}_{'x'.join(map(str, _b)) or '0d'}"
        case(f"{_name}-{_tag}", _name, (lambda op: lambda m, x, y: getattr(m, op)(x, y))(_name),
             _s(*_a, domain=_dx), _s(*_b, domain=_dy))
    if _op is not None:
        case(f"{_name}-operator", _name, (lambda op: lambda m, x, y: op(x, y))(_op),
             _s(2, 3, domain=_dx), _s(3, domain=_dy))
    case(f"{_name}-one-input-no-grad", _name, (lambda op: lambda m, x, y: getattr(m, op)(x, y))(_name),
         _s(2, 3, domain=_dx), _s(2, 1, domain=_dy, grad=False))

case("add-scalar", "add", lambda m, x: x + 2.5, _s(3, 2))
case("radd-scalar", "add", lambda m, x: 2 + x, _s(3, 2))
case("add-alpha", "add mul", lambda m, x, y: m.add(x, y, alpha=2), _s(3), _s(3),
     no_node_name="torch keeps alpha inside AddBackward0; jitgrad records the scaling as a mul node")
case("rsub-scalar", "rsub_scalar", lambda m, x: 1.5 - x, _s(3, 2))
case("sub-scalar", "sub", lambda m, x: x - 1, _s(3, 2))
case("mul-scalar", "mul", lambda m, x: x * 3, _s(3, 2))
case("rmul-scalar", "mul", lambda m, x: 0.5 * x, _s(3, 2))
case("div-scalar", "div", lambda m, x: x / 4, _s(3, 2))
case("rdiv-scalar", "reciprocal mul", lambda m, x: 2.0 / x, _s(3, 2, domain="away"))
case("reciprocal", "reciprocal", lambda m, x: m.reciprocal(x), _s(3, 2, domain="away"))
case("x-times-x", "mul", lambda m, x: x * x, _s(3))
case("pow-scalar-int", "pow_scalar", lambda m, x: x ** 3, _s(3, 2))
case("pow-scalar-2-negative-base", "pow_scalar", lambda m, x: m.pow(x, 2), _s(4))
case("pow-scalar-half", "pow_scalar", lambda m, x: x ** 0.5, _s(3, 2, domain="pos"))
case("pow-scalar-neg", "pow_scalar", lambda m, x: x ** -2, _s(3, 2, domain="pos"))
case("pow-scalar-zero", "pow_scalar", lambda m, x: x ** 0, _s(3, 2))
case("pow-scalar-one", "pow_scalar", lambda m, x: x ** 1.0, _s(3))
case("rpow-scalar-base", "rpow_scalar", lambda m, x: 2.0 ** x, _s(3, 2))
case("rpow-int-base", "rpow_scalar", lambda m, x: 3 ** x, _s(3, 2))
case("pow-tensor-0d-exponent", "pow", lambda m, x, y: m.pow(x, y), _s(3, domain="pos"), _s())
case("maximum-ties", "maximum", lambda m, x, y: m.maximum(x, y), _s(4, 3, domain="ints"), _s(3, domain="ints"),
     no_gradcheck="ties are kinks; the split-gradient convention is checked against torch")
case("minimum-ties", "minimum", lambda m, x, y: m.minimum(x, y), _s(4, 3, domain="ints"), _s(3, domain="ints"),
     no_gradcheck="ties are kinks; the split-gradient convention is checked against torch")
case("max-binary", "maximum", lambda m, x, y: m.max(x, y), _s(2, 3, domain="distinct"), _s(3, domain="distinct"))
case("min-binary", "minimum", lambda m, x, y: m.min(x, y), _s(2, 3, domain="distinct"), _s(3, domain="distinct"))

case("clamp-both", "clamp", lambda m, x: m.clamp(x, -0.5, 0.5), _s(3, 4, domain="clamp_safe"))
case("clamp-min", "clamp", lambda m, x: m.clamp(x, min=-0.5), _s(3, 4, domain="clamp_safe"))
case("clamp-max", "clamp", lambda m, x: x.clamp(max=0.5), _s(3, 4, domain="clamp_safe"))
case("clamp-tensor-bounds", "maximum minimum", lambda m, x, lo, hi: m.clamp(x, lo, hi),
     _s(3, 4, domain="distinct"), _s(4, domain="distinct"), _s(3, 1, domain="distinct"),
     no_node_name="torch records one ClampBackward0 node for tensor bounds; jitgrad composes maximum/minimum")
case("clip", "clamp", lambda m, x: m.clip(x, -0.5, 0.5), _s(5, domain="clamp_safe"))
case("where", "where gt", lambda m, c, x, y: m.where(c > 0, x, y), _s(3, 4, grad=False), _s(3, 4), _s(4))
case("where-broadcast-cond", "where gt", lambda m, c, x, y: m.where(c > 0, x, y), _s(3, 1, grad=False),
     _s(1, 4), _s(3, 4))
case("where-scalar-other", "where gt", lambda m, x: m.where(x > 0, x, 0.0), _s(3, 4, domain="away"))
case("where-method", "where gt", lambda m, x, y: x.where(x > 0, y), _s(3, 4, domain="away"), _s(4))

for _name, _op in [("eq", lambda x, y: x == y), ("ne", lambda x, y: x != y), ("lt", lambda x, y: x < y),
                   ("le", lambda x, y: x <= y), ("gt", lambda x, y: x > y), ("ge", lambda x, y: x >= y)]:
    case(f"{_name}-operator", _name, (lambda op: lambda m, x, y: op(x, y))(_op),
         _s(3, 4, domain="ints"), _s(4, domain="ints"), grad=False)
    case(f"{_name}-function", _name, (lambda op: lambda m, x, y: getattr(m, op)(x, y))(_name),
         _s(3, 1, domain="ints"), _s(1, 4, domain="ints"), grad=False)
    case(f"{_name}-scalar", _name, (lambda op: lambda m, x: op(x, 0))(_op), _s(5, domain="ints"), grad=False)
case("compare-requires-grad-input", "gt", lambda m, x: x > 0, _s(5),  # output does not require grad
     no_node_name="a comparison records no node")
case("logical-and", "logical_and gt lt", lambda m, x, y: (x > 0) & (y < 0), _s(3, 4), _s(4), grad=False)
case("logical-or", "logical_or gt lt", lambda m, x, y: m.logical_or(x > 0, y < 0), _s(3, 4), _s(4), grad=False)
case("logical-not", "logical_not gt", lambda m, x: ~(x > 0), _s(3, 4), grad=False)

# ---------------------------------------------------------------------------------------------
# Reductions
# ---------------------------------------------------------------------------------------------

for _name in ["sum", "mean"]:
    _f = (lambda op: lambda m, x, *a, **k: getattr(m, op)(x, *a, **k))(_name)
    case(f"{_name}-full", _name, lambda m, x, f=_f: f(m, x), _s(3, 4))
    case(f"{_name}-0d", _name, lambda m, x, f=_f: f(m, x), _s())
    case(f"{_name}-dim1", _name, lambda m, x, f=_f: f(m, x, 1), _s(3, 4))
    case(f"{_name}-dim-neg-keepdim", _name, lambda m, x, f=_f: f(m, x, -1, keepdim=True), _s(2, 3, 4))
    case(f"{_name}-dims-tuple", _name, lambda m, x, f=_f: f(m, x, (0, 2)), _s(2, 3, 4))
    case(f"{_name}-dims-tuple-keepdim", _name, lambda m, x, f=_f: f(m, x, (0, 2), keepdim=True), _s(2, 3, 4))
    case(f"{_name}-size1-dim", _name, lambda m, x, f=_f: f(m, x, 1), _s(3, 1, 2))
    case(f"{_name}-method", _name, (lambda op: lambda m, x: getattr(x, op)(0))(_name), _s(3, 2))
case("sum-int", "sum", lambda m, x: m.sum(x.long()), _s(3, 4, domain="ints"), grad=False)
case("sum-bool", "sum gt", lambda m, x: (x > 0).sum(1), _s(3, 4), grad=False)
case("nansum-full", "nansum", lambda m, x: m.nansum(x), _s(3, 4, domain="with_nan"))
case("nansum-dims-keepdim", "nansum", lambda m, x: m.nansum(x, (0, 2), keepdim=True), _s(2, 3, 4, domain="with_nan"))
case("nansum-method", "nansum", lambda m, x: x.nansum(1), _s(3, 4, domain="with_nan"))
case("nansum-int", "nansum", lambda m, x: m.nansum(x.long(), 1), _s(3, 4, domain="ints"), grad=False)

for _name, _val in [("max", "amax"), ("min", "amin")]:
    _dim = f"{_name}_dim arg{_name}"
    case(f"{_name}-full", _name, (lambda op: lambda m, x: getattr(m, op)(x))(_name), _s(3, 4, domain="distinct"))
    case(f"{_name}-dim", _dim, (lambda op: lambda m, x: getattr(m, op)(x, 1))(_name),
         _s(3, 4, domain="distinct"))
    case(f"{_name}-dim-keepdim-values", _dim,
         (lambda op: lambda m, x: getattr(x, op)(0, keepdim=True).values)(_name), _s(3, 4, domain="distinct"))
    case(f"{_name}-full-ties", _name, (lambda op: lambda m, x: getattr(m, op)(x))(_name), _s(3, 4, domain="ints"),
         no_gradcheck="ties are kinks; the even split is checked against torch")
    case(f"{_name}-dim-ties", _dim, (lambda op: lambda m, x: getattr(m, op)(x, 1).values)(_name),
         _s(3, 4, domain="ints"), no_gradcheck="ties are kinks; torch sends the gradient to the returned index",
         no_node_name="the name is checked by the max-dim/min-dim cases")
    case(f"{_val}-dims", _val, (lambda op: lambda m, x: getattr(m, op)(x, (0, 2)))(_val),
         _s(2, 3, 4, domain="distinct"))
    case(f"{_val}-keepdim", _val, (lambda op: lambda m, x: getattr(m, op)(x, -1, keepdim=True))(_val),
         _s(2, 3, 4, domain="distinct"))
    case(f"{_val}-ties", _val, (lambda op: lambda m, x: getattr(m, op)(x, 1))(_val), _s(3, 4, domain="ints"),
         no_gradcheck="ties are kinks; the even split is checked against torch")
    case(f"arg{_name}", f"arg{_name}", (lambda op: lambda m, x: getattr(m, op)(x, 1))(f"arg{_name}"),
         _s(3, 4, domain="distinct"), grad=False)
    case(f"arg{_name}-full", f"arg{_name}", (lambda op: lambda m, x: getattr(x, op)())(f"arg{_name}"),
         _s(3, 4, domain="distinct"), grad=False)

case("prod-full", "prod", lambda m, x: m.prod(x), _s(3, 4, domain="away"))
case("prod-dim", "prod", lambda m, x: m.prod(x, 1), _s(3, 4, domain="away"))
case("prod-dim-keepdim", "prod", lambda m, x: x.prod(0, keepdim=True), _s(3, 4, domain="away"))
case("prod-one-zero", "prod", lambda m, x: m.prod(x), _s(5, domain="one_zero"))
case("prod-two-zeros", "prod", lambda m, x: m.prod(x), _s(5, domain="two_zeros"))
case("prod-dim-one-zero", "prod", lambda m, x: m.prod(x, 1), _s(2, 4, domain="one_zero"))

for _p, _tag in [(2, "2"), (1, "1"), (float("inf"), "inf"), (3, "3")]:
    _dom = "distinct" if _tag == "inf" else "away"
    case(f"norm-p{_tag}-full", "norm", (lambda p: lambda m, x: m.norm(x, p))(_p), _s(3, 4, domain=_dom))
    case(f"norm-p{_tag}-dim", "norm", (lambda p: lambda m, x: m.norm(x, p, 1))(_p), _s(3, 4, domain=_dom))
    case(f"norm-p{_tag}-keepdim", "norm", (lambda p: lambda m, x: x.norm(p, -1, True))(_p), _s(2, 3, domain=_dom))
case("norm-default", "norm", lambda m, x: x.norm(), _s(3, 2))

for _name in ["var", "std"]:
    case(f"{_name}-full", _name, (lambda op: lambda m, x: getattr(m, op)(x))(_name), _s(3, 4))
    case(f"{_name}-dim", _name, (lambda op: lambda m, x: getattr(m, op)(x, 1))(_name), _s(3, 4))
    case(f"{_name}-correction0", _name, (lambda op: lambda m, x: getattr(m, op)(x, 0, correction=0))(_name),
         _s(3, 4))
    case(f"{_name}-correction2-keepdim", _name,
         (lambda op: lambda m, x: getattr(m, op)(x, dim=1, correction=2, keepdim=True))(_name), _s(3, 5))
    case(f"{_name}-unbiased-false", _name, (lambda op: lambda m, x: getattr(x, op)(unbiased=False))(_name),
         _s(2, 3))
    case(f"{_name}-dims-tuple", _name, (lambda op: lambda m, x: getattr(m, op)(x, (0, 2)))(_name), _s(2, 3, 2))
    case(f"{_name}-no-degrees-of-freedom", _name,
         (lambda op: lambda m, x: getattr(x, op)(dim=1, correction=4))(_name), _s(3, 4), grad=False)

# ---------------------------------------------------------------------------------------------
# Matmul
# ---------------------------------------------------------------------------------------------

_BMM = "torch lowers batched matmul through reshapes (UnsafeViewBackward0/ExpandBackward0 at the top)"
case("matmul-1d-1d", "matmul", lambda m, a, b: m.matmul(a, b), _s(3), _s(3))
case("matmul-2d-1d", "matmul", lambda m, a, b: m.matmul(a, b), _s(2, 3), _s(3))
case("matmul-1d-2d", "matmul", lambda m, a, b: m.matmul(a, b), _s(3), _s(3, 4),
     no_node_name="torch lowers vector @ matrix to mm + squeeze (SqueezeBackward4)")
case("matmul-2d-2d", "matmul", lambda m, a, b: m.matmul(a, b), _s(2, 3), _s(3, 4))
case("matmul-batched", "matmul", lambda m, a, b: a @ b, _s(2, 2, 3), _s(2, 3, 4), no_node_name=_BMM)
case("matmul-batched-2d", "matmul", lambda m, a, b: a @ b, _s(2, 2, 3), _s(3, 4), no_node_name=_BMM)
case("matmul-broadcast-batch", "matmul", lambda m, a, b: a @ b, _s(2, 1, 2, 3), _s(3, 3, 2), no_node_name=_BMM)
case("matmul-batched-1d", "matmul", lambda m, a, b: a @ b, _s(2, 2, 3), _s(3), no_node_name=_BMM)
case("matmul-1d-batched", "matmul", lambda m, a, b: a @ b, _s(3), _s(2, 3, 4), no_node_name=_BMM)
case("mm", "matmul", lambda m, a, b: m.mm(a, b), _s(3, 2), _s(2, 4))
case("mm-method", "matmul", lambda m, a, b: a.mm(b), _s(3, 2), _s(2, 4))
case("matmul-operator", "matmul", lambda m, a, b: a @ b, _s(3, 2), _s(2, 4))
case("matmul-one-no-grad", "matmul", lambda m, a, b: a @ b, _s(3, 2), _s(2, 4, grad=False))
case("matmul-reflected-constant", "matmul", lambda m, b: m.ones(3, 2, dtype=b.dtype, device=b.device) @ b, _s(2, 4))

# ---------------------------------------------------------------------------------------------
# Shape ops
# ---------------------------------------------------------------------------------------------

case("transpose", "transpose", lambda m, x: m.transpose(x, 0, 1), _s(3, 4))
case("transpose-3d-neg", "transpose", lambda m, x: x.transpose(-1, 0), _s(2, 3, 4))
case("T-2d", "permute", lambda m, x: x.T, _s(3, 4))
case("t", "transpose", lambda m, x: x.t(), _s(3, 4),
     no_node_name="jitgrad's t() is transpose(0, 1) (TransposeBackward0); torch names it TBackward0")
case("mT", "transpose", lambda m, x: x.mT, _s(2, 3, 4))
case("permute", "permute", lambda m, x: m.permute(x, (2, 0, 1)), _s(2, 3, 4))
case("permute-method-varargs", "permute", lambda m, x: x.permute(1, 2, 0), _s(2, 3, 4))
case("reshape", "reshape", lambda m, x: m.reshape(x, (4, 3)), _s(3, 4))
case("reshape-infer", "reshape", lambda m, x: x.reshape(-1), _s(3, 4))
case("reshape-0d", "reshape", lambda m, x: x.reshape(1, 1), _s())
case("view", "reshape", lambda m, x: x.view(2, 6), _s(3, 4))
case("view-as", "reshape", lambda m, x, y: x.view_as(y), _s(3, 4), _s(12, grad=False))
case("flatten", "reshape", lambda m, x: m.flatten(x, 1), _s(2, 3, 2))
case("expand", "expand", lambda m, x: x.expand(2, 3, 4), _s(3, 1))
case("expand-neg1", "expand", lambda m, x: x.expand(-1, 4), _s(3, 1))
case("expand-0d", "expand", lambda m, x: x.expand(3), _s())
case("broadcast_to", "expand", lambda m, x: m.broadcast_to(x, (2, 3, 4)), _s(4))
case("expand-as", "expand", lambda m, x, y: x.expand_as(y), _s(1, 4), _s(3, 4, grad=False))
case("squeeze-all", "squeeze", lambda m, x: m.squeeze(x), _s(3, 1, 2, 1))
case("squeeze-dim", "squeeze", lambda m, x: x.squeeze(1), _s(3, 1, 2))
case("squeeze-0d-like", "squeeze", lambda m, x: x.squeeze(), _s(1, 1))
case("unsqueeze", "unsqueeze", lambda m, x: m.unsqueeze(x, 0), _s(3, 2))
case("unsqueeze-neg", "unsqueeze", lambda m, x: x.unsqueeze(-1), _s(3, 2))
case("unsqueeze-0d", "unsqueeze", lambda m, x: x.unsqueeze(0), _s())
case("cat-dim0", "cat", lambda m, x, y: m.cat([x, y]), _s(2, 3), _s(1, 3))
case("cat-dim1-three", "cat", lambda m, x, y, z: m.cat((x, y, z), dim=1), _s(2, 1), _s(2, 3), _s(2, 2))
case("cat-neg-dim-one-no-grad", "cat", lambda m, x, y: m.cat([x, y], -1), _s(2, 2), _s(2, 3, grad=False))
case("stack", "stack", lambda m, x, y: m.stack([x, y]), _s(2, 3), _s(2, 3))
case("stack-last", "stack", lambda m, x, y, z: m.stack((x, y, z), dim=-1), _s(2, 3), _s(2, 3), _s(2, 3))
case("stack-0d", "stack", lambda m, x, y: m.stack([x, y]), _s(), _s())
case("narrow", "getitem", lambda m, x: x.narrow(1, 1, 2), _s(3, 4))
case("select", "getitem", lambda m, x: x.select(1, 2), _s(3, 4))

# ---------------------------------------------------------------------------------------------
# Indexing
# ---------------------------------------------------------------------------------------------

_SLICE_NAME = "torch records a chain of view nodes for mixed indices; jitgrad records one getitem node"
case("getitem-int", "getitem", lambda m, x: x[1], _s(3, 4))
case("getitem-neg-int", "getitem", lambda m, x: x[-1], _s(3, 4))
case("getitem-int-int", "getitem", lambda m, x: x[1, 2], _s(3, 4), no_node_name=_SLICE_NAME)
case("getitem-slice", "getitem", lambda m, x: x[1:3], _s(4, 2))
case("getitem-slice-step", "getitem", lambda m, x: x[::2], _s(5, 2))
case("getitem-slice-neg", "getitem", lambda m, x: x[:, -3:-1], _s(2, 5))
case("getitem-none", "getitem", lambda m, x: x[None], _s(3, 2))
case("getitem-ellipsis", "getitem", lambda m, x: x[..., 1], _s(2, 3, 4))
case("getitem-mixed", "getitem", lambda m, x: x[:, None, 1:], _s(2, 3), no_node_name=_SLICE_NAME)
case("getitem-int-slice", "getitem", lambda m, x: x[1, ::2], _s(3, 4), no_node_name=_SLICE_NAME)
case("getitem-array-repeated", "getitem", lambda m, x: x[[0, 2, 2, 0]], _s(3, 2))
case("getitem-array-2d", "getitem", lambda m, x: x[[0, 0, 1], [1, 2, 1]], _s(2, 3))
case("getitem-index-tensor", "getitem", lambda m, x, i: x[i], _s(4, 3), _idx(5, high=4))
case("getitem-index-tensor-dim1", "getitem", lambda m, x, i: x[:, i], _s(2, 4), _idx(2, 3, high=4))
_MASK = "a boolean mask's result shape depends on the data"
# A mask computed inside the function is a runtime value: compiled mode selects with mask_select
# (count pass, split, compaction: see prims_mask.py); eagerly the mask's nonzero indices index x.
case("getitem-bool-mask", "getitem gt", lambda m, x: x[x > 0], _s(3, 4, domain="away"))
case("getitem-bool-mask-rows", "getitem gt", lambda m, x, y: x[y > 0], _s(4, 2), _s(4, grad=False))
case("getitem-bool-mask-cols-3d", "getitem gt", lambda m, x, y: x[:, y > 0], _s(2, 3, 4), _s(3, 4, grad=False))
case("getitem-bool-mask-ellipsis", "getitem gt", lambda m, x, y: x[..., y > 0.5], _s(2, 5), _s(5, grad=False))
case("mask_select-prim", "mask_select mask_scatter gt", lambda m, x, y: prims.mask_select(x, y > 0, 1),
     _s(3, 4), _s(4, grad=False), torch_fn=lambda torch, x, y: x[:, y > 0],
     no_node_name="torch names x[:, mask] IndexBackward0 over a slice node")
case("getitem-neg-index-array", "getitem", lambda m, x: x[[-1, 0, -1]], _s(3, 2))


def _torch_setitem(index):
    def fn(torch, x, v):
        y = x.clone()
        y[index] = v
        return y
    return fn


def _inplace_setitem(index):
    def fn(m, x, v):
        y = x * 1
        y[index] = v
        return y
    return fn


for _tag, _index, _vshape in [("int", 1, (4,)), ("slice-step-scalar", np.s_[::2], ()),
                              ("array-rows", [0, 2], (2, 4)), ("broadcast-col", np.s_[:, 1:3], (3, 1)),
                              ("ellipsis", np.s_[..., 0], (3,))]:
    case(f"setitem-{_tag}", "setitem",
         (lambda idx: lambda m, x, v: prims.setitem(x, idx, v))(_index), _s(3, 4), _s(*_vshape),
         torch_fn=_torch_setitem(_index), no_node_name="out-of-place setitem is jitgrad's own op")
    case(f"setitem-inplace-{_tag}", "setitem mul", _inplace_setitem(_index), _s(3, 4), _s(*_vshape),
         no_node_name="torch records the broadcast of the value as ExpandBackward0" if _tag == "broadcast-col" else "")
case("setitem-inplace-mask", "setitem mul gt", lambda m, x, v: _inplace_setitem(x.detach() > 0)(m, x, v),
     _s(3, 4, domain="away"), _s(), eager_only=_MASK)
case("setitem-inplace-constant", "setitem mul",
     lambda m, x: _inplace_setitem(np.s_[1:])(m, x, m.zeros((), dtype=x.dtype)), _s(3, 2))

case("gather-dim0", "gather", lambda m, x, i: m.gather(x, 0, i), _s(3, 4), _idx(2, 4, high=3))
case("gather-dim1", "gather", lambda m, x, i: x.gather(1, i), _s(3, 4), _idx(3, 6, high=4))
case("gather-neg-dim-smaller", "gather", lambda m, x, i: m.gather(x, -1, i), _s(3, 4), _idx(2, 2, high=4))

# Backward-only primitives, called directly (they are the VJPs of getitem and gather).
_UNINDEX_SPEC = (("a", 0),)
case("unindex", "unindex",
     lambda m, g, i: prims.unindex(g, i, spec=_UNINDEX_SPEC, shape=(4, 2)), _s(5, 2), _idx(5, high=4),
     torch_fn=lambda torch, g, i: torch.zeros(4, 2, dtype=g.dtype).index_put((i,), g, accumulate=True),
     no_node_name="unindex is jitgrad's own backward op")
case("unindex-slice", "unindex",
     lambda m, g: prims.unindex(g, spec=(("s", None, None, 2),), shape=(5, 2)), _s(3, 2),
     torch_fn=lambda torch, g: torch.zeros(5, 2, dtype=g.dtype).slice_scatter(g, 0, None, None, 2),
     no_node_name="unindex is jitgrad's own backward op")
case("scatter_add", "scatter_add",
     lambda m, g, i: prims.scatter_add_to(g, i, 1, (3, 4)), _s(3, 5), _idx(3, 5, high=4),
     torch_fn=lambda torch, g, i: torch.zeros(3, 4, dtype=g.dtype).scatter_add(1, i, g),
     no_node_name="scatter_add_to is jitgrad's own backward op")

# ---------------------------------------------------------------------------------------------
# Casts and copies
# ---------------------------------------------------------------------------------------------

_VIA_F32 = 1e-2  # values round to float32 on the way: a 1e-6 step would measure rounding noise
case("cast-float-double", "cast", lambda m, x: x.float().double() * 2, _s(3, 2), eps=_VIA_F32)
case("cast-to-dtype", "cast", lambda m, x: (x.to(m.float64) * x.to(m.float64)).to(m.float32), _s(3, 2),
     eps=_VIA_F32)
case("cast-to-int", "cast", lambda m, x: x.to(m.int64), _s(3, 2), grad=False)
case("cast-bool-to-float", "cast gt", lambda m, x: (x > 0).float(), _s(3, 2), grad=False)
case("cast-int-to-float-grad", "cast mul", lambda m, x, i: x * i.double(), _s(5), _idx(5, high=4),
     no_node_name="jitgrad records promotion as a ToCopyBackward0 node; torch promotes inside MulBackward0")
case("clone", "clone", lambda m, x: x.clone(), _s(3, 2))
case("to-copy", "to_device", lambda m, x: x.to(x.device, copy=True) * 2, _s(3, 2))
case("clone-function", "clone", lambda m, x: m.clone(x) * 2, _s(3, 2))
# detach() of a traced value that requires grad binds stop_gradient (eager detach binds nothing).
case("stop-gradient-traced", "stop_gradient mul", lambda m, x: x * m.jit_grad(lambda y: y.detach() * y)(x),
     _s(3, 2), torch_fn=lambda t, x: x * (x.detach() * x),
     no_gradcheck="finite differences see through a stop-gradient by design (gradients are compared with torch)",
     no_node_name="the inner compiled call is one CompiledFunctionBackward node")

# ---------------------------------------------------------------------------------------------
# Compositions (several prims per case; VJPs of VJPs meet here)
# ---------------------------------------------------------------------------------------------

case("softmax-composed", "exp sub amax sum div",
     lambda m, x: (lambda e: e / e.sum(-1, keepdim=True))(m.exp(x - x.amax(-1, keepdim=True))), _s(3, 4))
case("mlp-composed", "matmul add relu mean",
     lambda m, x, w, b: m.relu(x @ w + b).mean(), _s(4, 3), _s(3, 5), _s(5))
case("norm-composed", "mul sum sqrt", lambda m, x: m.sqrt((x * x).sum()), _s(3, 4))

add_conv_cases(case, _s, Spec)
add_image_cases(case, _s)
add_math_cases(case, _s)
add_shape_cases(case, _s, _idx)
add_reduce_cases(case, _s)
add_linalg_cases(case, _s)

BY_CASE_NAME = {c.name: c for c in CASES}
assert len(BY_CASE_NAME) == len(CASES), "case names must be unique"

GRAD_CASES = [c for c in CASES if c.grad]

# Cases whose boolean mask is a traced value: compiled (prims_mask's count pass, the program split
# at the count, the compaction) on the CPU (kernels/masks.py) and on CUDA (kernels/cuda/masks.py).
TRACED_MASK_CASES = frozenset({"getitem-bool-mask", "getitem-bool-mask-rows", "getitem-bool-mask-cols-3d",
                               "getitem-bool-mask-ellipsis", "mask_select-prim", "masked_select"})

# Primitives with no compiled CPU kernel yet: they still run in the reference interpreter
# between compiled programs. Every other op must compile.
NO_COMPILED_KERNEL = frozenset()


def jitgrad_fn(c: Case) -> Callable:
    """The case's function on jitgrad tensors, for runners that take fn(*xs)."""
    return functools.partial(c.fn, jitgrad)
