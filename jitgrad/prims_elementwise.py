"""Elementwise primitives, each declared once: shape/dtype rule, NumPy implementation, VJP rule
written with jitgrad's own ops (so it runs eagerly, on tracers, and to any order) and the scalar
template that fused kernels inline; below each group, the public wrappers that promote dtypes and
call `bind`. Also `unbroadcast`, the VJP of broadcasting, which the autograd engine applies to the
cotangents of every broadcasting rule (Tensor.sum_to_size).

Templates (see templates.py) use {0}, {1}... for operands, {name} for params, and {zero}/{one} for
literals typed like the kernel; only Python operators, math.*, vm.* and `a if c else b` appear in
them; a template that depends on the dtypes is a function (templates.per_kind, templates.pow_scalar).
"""
from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

import numpy as np

from . import dtypes, shapes, templates
from .autograd_graph import Zero
from .core import ELEMENTWISE, Primitive, TensorBase, bind, full_like_data, lift
from .prims_promotion import as_floating, as_tensor_operand, cast, dtype_bounds, float_promoted, promoted

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from ._typing import Number, TensorLike
    from .tensor import Tensor

# ---------------------------------------------------------------------------------------------
# Shape/dtype rules shared by several declarations
# ---------------------------------------------------------------------------------------------


def _same(x, **_):
    return x.shape, x.dtype


def _broadcast(x, y, **_):
    return shapes.broadcast(x.shape, y.shape), x.dtype


def _compare(x, y, **_):
    return shapes.broadcast(x.shape, y.shape), dtypes.bool_


def _neg_rule(x, **_):
    if x.dtype == dtypes.bool_:
        raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported. If you are trying to "
                           "invert a mask, use the `~` or `logical_not()` operator instead.")
    return x.shape, x.dtype


def _sub_rule(x, y, **_):
    if x.dtype == dtypes.bool_ and y.dtype == dtypes.bool_:
        raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or "
                           "`logical_xor()` operator instead.")
    return _broadcast(x, y)


def _pow_scalar_rule(x, exponent):
    if not dtypes.is_floating(x.dtype) and isinstance(exponent, (builtins.int, np.integer)) and exponent < 0:
        raise RuntimeError("Integers to negative integer powers are not allowed.")
    return x.shape, x.dtype


def unbroadcast(g, shape):
    """Sum a cotangent back to `shape` (the VJP of NumPy broadcasting)."""
    shape = tuple(shape)
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    dims = tuple(range(lead)) + tuple(
        i + lead for i, s in enumerate(shape) if s == 1 and g.shape[i + lead] != 1)
    if dims:
        g = g.sum(dims, keepdim=True)  # methods: reductions and reshape are declared in later modules
    return g.reshape(shape) if g.shape != shape else g


def needs_grad(t) -> bool:
    """Whether a VJP rule must produce a cotangent for this input."""
    return t.requires_grad


# ---------------------------------------------------------------------------------------------
# Elementwise unary
# ---------------------------------------------------------------------------------------------


# Below these exp(-x) overflows: there the two-sided form keeps sigmoid's subnormal values.
_SIGMOID_FAST_FLOOR = {np.dtype(np.float32): -80.0, np.dtype(np.float64): -700.0}


def _sigmoid_impl(x):
    """1 / (1 + exp(-x)) in four in-place passes (PyTorch's formula) where exp(-x) cannot overflow,
    else 1 / (1 + e) where x >= 0 and e / (1 + e) elsewhere, with e = exp(-|x|)."""
    floor = _SIGMOID_FAST_FLOOR.get(x.dtype) if type(x) is np.ndarray and x.ndim and x.size else None
    if floor is not None and np.minimum.reduce(x, axis=None) > floor:  # (False for NaN: the general form)
        e = np.negative(x)
        np.exp(e, out=e)
        e += 1
        return np.reciprocal(e, out=e)
    if type(x) is not np.ndarray or x.ndim == 0:
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
    e = np.abs(x)
    np.negative(e, out=e)
    np.exp(e, out=e)
    d = 1 + e
    pos = np.divide(1, d)
    return np.where(x >= 0, pos, np.divide(e, d, out=e)).astype(x.dtype, copy=False)


def quiet(impl):
    """`impl` without NumPy's floating-point warnings (log(0), 0 * inf, overflow): PyTorch returns
    those IEEE values silently. Normally the warning is filtered (see core.py); where warnings are
    errors (or np.seterr raises) the call is redone under np.errstate, so the common path pays
    nothing for it."""
    def run(*arrays, **params):
        try:
            return impl(*arrays, **params)
        except (RuntimeWarning, FloatingPointError):
            with np.errstate(all="ignore"):
                return impl(*arrays, **params)
    run.__name__ = getattr(impl, "__name__", "impl")
    # (a plain one-output ufunc: the eager backward may call it with out=, see vjp_replay._compile)
    run.ufunc = impl if isinstance(impl, np.ufunc) and impl.nout == 1 else None
    return run


def _unary(name, impl, vjp, template, node_name, rule=_same):
    return Primitive(name, quiet(impl), rule, vjp, ELEMENTWISE, node_name, template)


NEG = _unary("neg", np.negative, lambda g, out, x: (neg(g),), "(-{0})", "NegBackward0", rule=_neg_rule)
ABS = _unary("abs", np.abs, lambda g, out, x: (g * sign(x),),
             templates.per_kind("math.fabs({0})", "({0} if {0} >= 0 else -{0})"), "AbsBackward0")
SIGN = _unary("sign", np.sign, lambda g, out, x: (Zero.of(x),),
              "({one} if {0} > {zero} else (-{one} if {0} < {zero} else {0}))", "SignBackward0")
EXP = _unary("exp", np.exp, lambda g, out, x: (g * out,), "math.exp({0})", "ExpBackward0")
EXPM1 = _unary("expm1", np.expm1, lambda g, out, x: (g * (out + 1),), "math.expm1({0})", "Expm1Backward0")
LOG = _unary("log", np.log, lambda g, out, x: (g / x,), "math.log({0})", "LogBackward0")
LOG1P = _unary("log1p", np.log1p, lambda g, out, x: (g / (x + 1),), "math.log1p({0})", "Log1PBackward0")
SQRT = _unary("sqrt", np.sqrt, lambda g, out, x: (g / (out * 2),), "math.sqrt({0})", "SqrtBackward0")
SIN = _unary("sin", np.sin, lambda g, out, x: (g * cos(x),), "math.sin({0})", "SinBackward0")
COS = _unary("cos", np.cos, lambda g, out, x: (-(g * sin(x)),), "math.cos({0})", "CosBackward0")
TAN = _unary("tan", np.tan, lambda g, out, x: (g * (out * out + 1),), "math.tan({0})", "TanBackward0")
TANH = _unary("tanh", np.tanh, lambda g, out, x: (g * (1 - out * out),), "math.tanh({0})", "TanhBackward0")
SIGMOID = _unary("sigmoid", _sigmoid_impl, lambda g, out, x: (g * (out * (1 - out)),),
                 "vm.sigmoid({0})", "SigmoidBackward0")
RELU = _unary("relu", lambda x: np.maximum(x, 0).astype(x.dtype, copy=False),
              lambda g, out, x: (g * (out > 0),), "({zero} if {0} <= {zero} else {0})", "ReluBackward0")


CLONE = Primitive("clone", lambda x: x.copy(), _same, lambda g, out, x: (g,), ELEMENTWISE,
                  "CloneBackward0", "{0}")

# The value of x with no gradient flowing through it: what detach() and no_grad blocks mean inside
# a traced function (the adjoint stops here). Not differentiable; simplify removes it after the adjoint.
STOP_GRADIENT = Primitive("stop_gradient", lambda x: x.copy(), _same, None, ELEMENTWISE, "StopGradient", "{0}")


def stop_gradient(x):
    """x's value as a tensor that no gradient flows through (detach() inside a trace)."""
    return bind(STOP_GRADIENT, as_tensor_operand(x))


def neg(x: TensorLike) -> Tensor:
    """The negation -x, elementwise (also `-x`).

    Example:
        >>> jg.neg(jg.tensor([1.0, -2.0]))
        tensor([-1.,  2.])
    """
    return bind(NEG, as_tensor_operand(x))


def abs(x: TensorLike) -> Tensor:  # noqa: A001 - PyTorch's name
    """The absolute value ``|x|``, elementwise (also `abs(x)`).

    Example:
        >>> jg.abs(jg.tensor([-1.5, 2.0]))
        tensor([1.5000, 2.0000])
    """
    return bind(ABS, as_tensor_operand(x))


def sign(x: TensorLike) -> Tensor:
    """The sign of x (-1, 0 or 1), elementwise; its gradient is zero.

    Example:
        >>> jg.sign(jg.tensor([-2.0, 0.0, 3.0]))
        tensor([-1.,  0.,  1.])
    """
    return bind(SIGN, as_tensor_operand(x))


def exp(x: TensorLike) -> Tensor:
    """e to the power x, elementwise.

    Example:
        >>> jg.exp(jg.tensor([0.0, 1.0]))
        tensor([1.0000, 2.7183])
    """
    return bind(EXP, as_floating(x))


def expm1(x: TensorLike) -> Tensor:
    """exp(x) - 1, accurate for small x.

    Example:
        >>> jg.expm1(jg.tensor([0.0, 1e-3]))
        tensor([0.0000, 0.0010])
    """
    return bind(EXPM1, as_floating(x))


def log(x: TensorLike) -> Tensor:
    """The natural logarithm, elementwise.

    Example:
        >>> jg.log(jg.tensor([1.0, 2.718282]))
        tensor([0.0000, 1.0000])
    """
    return bind(LOG, as_floating(x))


def log1p(x: TensorLike) -> Tensor:
    """log(1 + x), accurate for small x.

    Example:
        >>> jg.log1p(jg.tensor([0.0, 1e-3]))
        tensor([0.0000, 0.0010])
    """
    return bind(LOG1P, as_floating(x))


def sqrt(x: TensorLike) -> Tensor:
    """The square root, elementwise.

    Example:
        >>> jg.sqrt(jg.tensor([4.0, 2.0]))
        tensor([2.0000, 1.4142])
    """
    return bind(SQRT, as_floating(x))


def sin(x: TensorLike) -> Tensor:
    """The sine (radians), elementwise.

    Example:
        >>> jg.sin(jg.tensor([0.0, 1.5707964]))
        tensor([0., 1.])
    """
    return bind(SIN, as_floating(x))


def cos(x: TensorLike) -> Tensor:
    """The cosine (radians), elementwise.

    Example:
        >>> jg.cos(jg.tensor([0.0, 3.1415927]))
        tensor([ 1., -1.])
    """
    return bind(COS, as_floating(x))


def tan(x: TensorLike) -> Tensor:
    """The tangent (radians), elementwise.

    Example:
        >>> jg.tan(jg.tensor([0.0, 0.7853982]))
        tensor([0., 1.])
    """
    return bind(TAN, as_floating(x))


def tanh(x: TensorLike) -> Tensor:
    """The hyperbolic tangent, elementwise.

    Example:
        >>> jg.tanh(jg.tensor([-1.0, 0.0, 1.0]))
        tensor([-0.7616,  0.0000,  0.7616])
    """
    return bind(TANH, as_floating(x))


def sigmoid(x: TensorLike) -> Tensor:
    """The logistic function 1 / (1 + exp(-x)), elementwise.

    Example:
        >>> jg.sigmoid(jg.tensor([-1.0, 0.0, 1.0]))
        tensor([0.2689, 0.5000, 0.7311])
    """
    return bind(SIGMOID, as_floating(x))


def relu(x: TensorLike) -> Tensor:
    """max(x, 0), elementwise (gradient 0 at x = 0, as PyTorch).

    Example:
        >>> jg.relu(jg.tensor([-1.0, 0.0, 2.0]))
        tensor([0., 0., 2.])
    """
    return bind(RELU, as_tensor_operand(x))


def clone(x: TensorLike) -> Tensor:
    """A copy with its own storage; gradients flow back to `x`.

    Example:
        >>> jg.clone(jg.tensor([1.0, 2.0]))
        tensor([1., 2.])
    """
    return bind(CLONE, as_tensor_operand(x))


# ---------------------------------------------------------------------------------------------
# Elementwise binary and ternary
# ---------------------------------------------------------------------------------------------


# Rules of broadcasting ops return cotangents in the output's (broadcast) shape: the autograd
# engine sums each back to its input's shape (graph.PrimNode.apply), once for every rule.


def _add_vjp(g, out, x, y):
    return g, g


def _sub_vjp(g, out, x, y):
    return g, neg(g) if needs_grad(y) else None


def _mul_vjp(g, out, x, y):
    return (g * y if needs_grad(x) else None,
            g * x if needs_grad(y) else None)


def _div_vjp(g, out, x, y):
    return (g / y if needs_grad(x) else None,
            -(g * x) / (y * y) if needs_grad(y) else None)


def _pow_vjp(g, out, x, y):
    # PyTorch's conventions at x == 0: d/dx is 0 where y == 0 (not 0 * 0**-1 = nan); d/dy is 0
    # where y >= 0 (not nan from 0 * log 0) and out * log(0) = -inf where y < 0.
    gx = where(y == 0, 0.0, g * y * pow(x, y - 1)) if needs_grad(x) else None
    gy = where((x == 0) & (y >= 0), 0.0, g * out * log(x)) if needs_grad(y) else None
    return gx, gy


def _extremum_vjp(loses):
    """maximum/minimum: the gradient goes to the operand that is picked, half each on a tie, and
    in full to both where either is NaN (PyTorch's rule: only a strict loser gets 0)."""
    def vjp(g, out, x, y):
        half = where(x == y, 0.5, 1.0)
        return (g * half * cast(logical_not(loses(x, y)), g.dtype) if needs_grad(x) else None,
                g * half * cast(logical_not(loses(y, x)), g.dtype) if needs_grad(y) else None)
    return vjp


def _binary(name, impl, vjp, template, node_name, rule=_broadcast):
    return Primitive(name, quiet(impl), rule, vjp, ELEMENTWISE, node_name, template)


ADD = _binary("add", np.add, _add_vjp, "({0} + {1})", "AddBackward0")
SUB = _binary("sub", np.subtract, _sub_vjp, "({0} - {1})", "SubBackward0", rule=_sub_rule)
MUL = _binary("mul", np.multiply, _mul_vjp, "({0} * {1})", "MulBackward0")
DIV = _binary("div", np.true_divide, _div_vjp, "({0} / {1})", "DivBackward0")
POW = _binary("pow", np.power, _pow_vjp, templates.per_kind("vm.pow({0}, {1})", "({0} ** {1})"), "PowBackward1")
MAXIMUM = _binary("maximum", np.maximum, _extremum_vjp(lambda x, y: x < y),
                  "({0} if (({0} >= {1}) | ({0} != {0})) else {1})", "MaximumBackward0")
MINIMUM = _binary("minimum", np.minimum, _extremum_vjp(lambda x, y: x > y),
                  "({0} if (({0} <= {1}) | ({0} != {0})) else {1})", "MinimumBackward0")
EQ = _binary("eq", np.equal, None, "({0} == {1})", "", rule=_compare)
NE = _binary("ne", np.not_equal, None, "({0} != {1})", "", rule=_compare)
LT = _binary("lt", np.less, None, "({0} < {1})", "", rule=_compare)
LE = _binary("le", np.less_equal, None, "({0} <= {1})", "", rule=_compare)
GT = _binary("gt", np.greater, None, "({0} > {1})", "", rule=_compare)
GE = _binary("ge", np.greater_equal, None, "({0} >= {1})", "", rule=_compare)
LOGICAL_AND = _binary("logical_and", np.logical_and, None, "({0} & {1})", "", rule=_compare)
LOGICAL_OR = _binary("logical_or", np.logical_or, None, "({0} | {1})", "", rule=_compare)
LOGICAL_NOT = Primitive("logical_not", np.logical_not, lambda x: (x.shape, dtypes.bool_), None,
                        ELEMENTWISE, "", "(not {0})")


def _pow_scalar_vjp(g, out, x, exponent):
    if exponent == 0:
        return (Zero.of(x),)
    # (x ** 1 is x exactly: for x ** 2 the power is skipped)
    base = x if exponent - 1 == 1 else pow_scalar(x, exponent - 1)
    return (g * (base * exponent),)


POW_SCALAR = Primitive("pow_scalar", quiet(lambda x, exponent: np.power(x, x.dtype.type(exponent))),
                       _pow_scalar_rule, _pow_scalar_vjp, ELEMENTWISE, "PowBackward0", templates.pow_scalar,
                       params=("exponent",))


def _rpow_scalar_vjp(g, out, x, base):
    # d/dx base**x = base**x * log(base); PyTorch's convention at base 0: 0 where x >= 0, -inf below.
    if base == 0:
        return (where(x >= 0, 0.0, g * out * -np.inf),)
    return (g * out * (np.log(base) if base > 0 else np.nan),)


# Reflected ops with a Python number on the left, recorded as PyTorch records them: `2 - b` is
# RsubBackward1 and `2 ** b` PowBackward2, each with b as its one input; `2 / b` is 2 * reciprocal(b).
RSUB_SCALAR = Primitive("rsub_scalar", quiet(lambda x, value: np.subtract(x.dtype.type(value), x)), _same,
                        lambda g, out, x, value: (neg(g),), ELEMENTWISE, "RsubBackward1", "({value} - {0})",
                        params=("value",))
RPOW_SCALAR = Primitive("rpow_scalar", quiet(lambda x, base: np.power(x.dtype.type(base), x)), _same,
                        _rpow_scalar_vjp, ELEMENTWISE, "PowBackward2", "({base} ** {0})", params=("base",))
RECIPROCAL = _unary("reciprocal", np.reciprocal, lambda g, out, x: (neg(g) * (out * out),), "({one} / {0})",
                    "ReciprocalBackward0")


def _clamp_vjp(g, out, x, min, max):
    inside = (x >= min) & (x <= max)
    return (g * inside,)


CLAMP = Primitive("clamp", lambda x, min, max: np.clip(x, min, max).astype(x.dtype, copy=False), _same,
                  _clamp_vjp, ELEMENTWISE, "ClampBackward1",
                  "({max} if ({min} if {0} < {min} else {0}) > {max} else ({min} if {0} < {min} else {0}))",
                  params=("min", "max"))


def _where_rule(c, x, y):
    return shapes.broadcast_many(c.shape, x.shape, y.shape), x.dtype


def _where_vjp(g, out, c, x, y):
    return (None,
            where(c, g, 0.0) if needs_grad(x) else None,
            where(c, 0.0, g) if needs_grad(y) else None)


WHERE = Primitive("where", np.where, _where_rule, _where_vjp, ELEMENTWISE, "WhereBackward0",
                  "({1} if {0} else {2})")


def add(x: TensorLike, y: TensorLike, alpha: Number = 1) -> Tensor:
    """x + alpha * y, elementwise with broadcasting (also `x + y`).

    Example:
        >>> jg.add(jg.tensor([1.0, 2.0]), 10, alpha=2)
        tensor([21., 22.])
    """
    if alpha != 1:
        y = mul(y, alpha)
    return bind(ADD, *promoted(x, y))


def sub(x: TensorLike, y: TensorLike, alpha: Number = 1) -> Tensor:
    """x - alpha * y, elementwise with broadcasting (also `x - y`).

    Example:
        >>> jg.sub(jg.tensor([5.0, 7.0]), jg.tensor([1.0, 2.0]))
        tensor([4., 5.])
    """
    if alpha != 1:
        y = mul(y, alpha)
    return bind(SUB, *promoted(x, y))


def mul(x: TensorLike, y: TensorLike) -> Tensor:
    """x * y, elementwise with broadcasting (also `x * y`).

    Example:
        >>> jg.mul(jg.tensor([[1.0], [2.0]]), jg.tensor([3.0, 4.0]))
        tensor([[3., 4.],
                [6., 8.]])
    """
    return bind(MUL, *promoted(x, y))


def div(x: TensorLike, y: TensorLike) -> Tensor:
    """True division (integers give the default float, as in PyTorch).

    Example:
        >>> jg.div(jg.tensor([1.0, 3.0]), 2)
        tensor([0.5000, 1.5000])
    """
    return bind(DIV, *float_promoted(x, y))


def pow(x: TensorLike, exponent: TensorLike) -> Tensor:  # noqa: A001
    """x ** exponent; a Python-number exponent is an attribute (PowBackward0), a tensor one an operand.

    Example:
        >>> jg.pow(jg.tensor([2.0, 3.0]), 2)
        tensor([4., 9.])
    """
    if isinstance(exponent, (builtins.int, builtins.float)) and not isinstance(exponent, builtins.bool) \
            and isinstance(x, TensorBase):
        if isinstance(exponent, builtins.float) and not dtypes.is_floating(x.dtype):
            x = cast(x, dtypes.get_default_dtype())
        return bind(POW_SCALAR, x, exponent=exponent)
    return bind(POW, *promoted(x, exponent))


def pow_scalar(x, exponent):
    return bind(POW_SCALAR, x, exponent=exponent)


def rsub_scalar(value, x):
    """value - x for a Python number `value` (RsubBackward1: x is the node's only input)."""
    x = promoted(x, value)[0]
    return bind(RSUB_SCALAR, x, value=value.item() if isinstance(value, np.generic) else value)


def rpow_scalar(base, x):
    """base ** x for a Python number `base` (PowBackward2: x is the node's only input)."""
    x = promoted(x, base)[0]
    return bind(RPOW_SCALAR, x, base=base.item() if isinstance(base, np.generic) else base)


def reciprocal(x: TensorLike) -> Tensor:
    """1 / x (integers are converted to the default float dtype first, as in PyTorch).

    Example:
        >>> jg.reciprocal(jg.tensor([2.0, 4.0]))
        tensor([0.5000, 0.2500])
    """
    return bind(RECIPROCAL, as_floating(x))


def rdiv_scalar(value, x):
    """value / x for a Python number `value`, computed as PyTorch does: reciprocal(x) * value."""
    return mul(reciprocal(x), value)


def maximum(x: TensorLike, y: TensorLike) -> Tensor:
    """The larger of x and y, elementwise with broadcasting (NaN wins, as PyTorch).

    Example:
        >>> jg.maximum(jg.tensor([1.0, 5.0]), jg.tensor([3.0, 2.0]))
        tensor([3., 5.])
    """
    return bind(MAXIMUM, *promoted(x, y))


def minimum(x: TensorLike, y: TensorLike) -> Tensor:
    """The smaller of x and y, elementwise with broadcasting (NaN wins, as PyTorch).

    Example:
        >>> jg.minimum(jg.tensor([1.0, 5.0]), jg.tensor([3.0, 2.0]))
        tensor([1., 2.])
    """
    return bind(MINIMUM, *promoted(x, y))


def eq(x: TensorLike, y: TensorLike) -> Tensor:
    """x == y, elementwise: a bool tensor (also `x == y`).

    Example:
        >>> jg.eq(jg.tensor([1, 2, 3]), 2)
        tensor([False,  True, False])
    """
    return bind(EQ, *promoted(x, y))


def ne(x: TensorLike, y: TensorLike) -> Tensor:
    """x != y, elementwise: a bool tensor (also `x != y`).

    Example:
        >>> jg.ne(jg.tensor([1, 2, 3]), 2)
        tensor([ True, False,  True])
    """
    return bind(NE, *promoted(x, y))


def lt(x: TensorLike, y: TensorLike) -> Tensor:
    """x < y, elementwise: a bool tensor (also `x < y`).

    Example:
        >>> jg.lt(jg.tensor([1, 2, 3]), 2)
        tensor([ True, False, False])
    """
    return bind(LT, *promoted(x, y))


def le(x: TensorLike, y: TensorLike) -> Tensor:
    """x <= y, elementwise: a bool tensor (also `x <= y`).

    Example:
        >>> jg.le(jg.tensor([1, 2, 3]), 2)
        tensor([ True,  True, False])
    """
    return bind(LE, *promoted(x, y))


def gt(x: TensorLike, y: TensorLike) -> Tensor:
    """x > y, elementwise: a bool tensor (also `x > y`).

    Example:
        >>> jg.gt(jg.tensor([1, 2, 3]), 2)
        tensor([False, False,  True])
    """
    return bind(GT, *promoted(x, y))


def ge(x: TensorLike, y: TensorLike) -> Tensor:
    """x >= y, elementwise: a bool tensor (also `x >= y`).

    Example:
        >>> jg.ge(jg.tensor([1, 2, 3]), 2)
        tensor([False,  True,  True])
    """
    return bind(GE, *promoted(x, y))


def logical_and(x: TensorLike, y: TensorLike) -> Tensor:
    """x and y, elementwise, on truth values (also `x & y`).

    Example:
        >>> jg.logical_and(jg.tensor([True, True, False]), jg.tensor([True, False, False]))
        tensor([ True, False, False])
    """
    return bind(LOGICAL_AND, *(cast(t, dtypes.bool_) for t in promoted(x, y)))


def logical_or(x: TensorLike, y: TensorLike) -> Tensor:
    """x or y, elementwise, on truth values (also `x | y`).

    Example:
        >>> jg.logical_or(jg.tensor([True, False, False]), jg.tensor([True, True, False]))
        tensor([ True,  True, False])
    """
    return bind(LOGICAL_OR, *(cast(t, dtypes.bool_) for t in promoted(x, y)))


def logical_not(x: TensorLike) -> Tensor:
    """not x, elementwise, on truth values (also `~x`).

    Example:
        >>> jg.logical_not(jg.tensor([True, False]))
        tensor([False,  True])
    """
    return bind(LOGICAL_NOT, cast(as_tensor_operand(x), dtypes.bool_))


def clamp(x: TensorLike, min: TensorLike | None = None, max: TensorLike | None = None) -> Tensor:  # noqa: A002
    """Clamp into [min, max]; tensor bounds go through maximum/minimum.

    Example:
        >>> jg.clamp(jg.tensor([-2.0, 0.5, 3.0]), min=-1.0, max=1.0)
        tensor([-1.0000,  0.5000,  1.0000])
    """
    x = as_tensor_operand(x)
    if isinstance(min, TensorBase) or isinstance(max, TensorBase):
        if min is not None:
            x = maximum(x, min)
        if max is not None:
            x = minimum(x, max)
        return x
    if min is None and max is None:
        raise RuntimeError("clamp: at least one of 'min' or 'max' must not be None")
    if isinstance(min, builtins.float) or isinstance(max, builtins.float):
        x = as_floating(x)
    lo, hi = dtype_bounds(x.dtype)
    lo = lo if min is None else x.dtype.type(min).item()
    hi = hi if max is None else x.dtype.type(max).item()
    return bind(CLAMP, x, min=lo, max=hi)


def where(condition: TensorLike, x: TensorLike, y: TensorLike) -> Tensor:
    """Select x where condition holds, else y (broadcasting all three).

    Example:
        >>> x = jg.tensor([-1.0, 2.0, -3.0])
        >>> jg.where(x > 0, x, 0.0)
        tensor([0., 2., 0.])
    """
    c = as_tensor_operand(condition)
    if c.dtype != dtypes.bool_:
        c = cast(c, dtypes.bool_)
    x, y = promoted(x, y)
    return bind(WHERE, c, x, y)


def zero_constant_like(x):
    """A zero constant shaped like x (used inside VJP rules; no graph)."""
    if isinstance(x, TensorBase):
        return type(x)._wrap(full_like_data(x._data, x.shape, x.dtype, 0))
    return lift(np.zeros(x.shape, dtype=x.dtype), x.dtype)


# The public wrappers of this family: `jitgrad` re-exports this list (its `__all__ +=`), so a new op
# is public by being named here, next to its declaration.
__all__ = [
    "abs", "add", "clamp", "clone", "cos", "div", "eq", "exp", "expm1", "ge", "gt", "le", "log", "log1p",
    "logical_and", "logical_not", "logical_or", "lt", "maximum", "minimum", "mul", "ne", "neg", "pow", "reciprocal",
    "relu", "sigmoid", "sign", "sin", "sqrt", "sub", "tan", "tanh", "where",
]

# The elementwise primitives declared here, in prims.ALL's order.
ELEMENTWISE_PRIMS = (NEG, ABS, SIGN, EXP, EXPM1, LOG, LOG1P, SQRT, SIN, COS, TAN, TANH, SIGMOID, RELU, CLONE,
                     STOP_GRADIENT, ADD, SUB, MUL, DIV, POW, POW_SCALAR, RSUB_SCALAR, RPOW_SCALAR, RECIPROCAL,
                     MAXIMUM, MINIMUM, CLAMP, WHERE, EQ, NE, LT, LE, GT, GE, LOGICAL_AND, LOGICAL_OR, LOGICAL_NOT)
