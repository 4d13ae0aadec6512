"""EVERY primitive, declared once: shape/dtype rule, NumPy implementation, VJP rule written
with jitgrad's own ops (so it runs eagerly, on tracers, and to any order), and a scalar
template for elementwise ops. Below each group: the public wrappers that promote dtypes,
lift Python scalars, and call `bind`.

Templates use {0}, {1}... for operands, {name} for params, and {zero}/{one} for literals
typed like the kernel; only Python operators, math.* and `a if c else b` appear in them.
"""
from __future__ import annotations

import builtins
from collections import namedtuple

import numpy as np

from . import devices, dtypes, shapes
from .core import (
    ELEMENTWISE,
    INDEX,
    MATMUL,
    REDUCTION,
    SHAPE,
    TRANSFER,
    Primitive,
    Symbolic,
    TensorBase,
    bind,
    full_like_data,
    lift,
)
from .prims_conv import CONV_PRIMS

# ---------------------------------------------------------------------------------------------
# Shape/dtype rules shared by several declarations
# ---------------------------------------------------------------------------------------------


def _same(x, **_):
    return x.shape, x.dtype


def _broadcast(x, y, **_):
    return shapes.broadcast(x.shape, y.shape), x.dtype


def _compare(x, y, **_):
    return shapes.broadcast(x.shape, y.shape), dtypes.bool_


def _reduced(x, dims, keepdim, **_):
    return shapes.reduce(x.shape, dims, keepdim), x.dtype


def _summed(x, dims, keepdim):
    dt = x.dtype if dtypes.is_floating(x.dtype) else dtypes.int64
    return shapes.reduce(x.shape, dims, keepdim), dt


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


def _extreme_rule(name: str, single_dim: bool, out_dtype=None):
    """Shape rule of max/min-like reductions: a reduced dim of size 0 has no extreme (PyTorch's
    IndexError), in eager mode and while tracing alike."""
    def rule(x, keepdim, **params):
        dims = (params["dim"],) if single_dim else params["dims"]
        for d in dims:
            if x.shape[d] == 0:
                raise IndexError(f"{name}(): Expected reduction dim {d} to have non-zero size.")
        return shapes.reduce(x.shape, dims, keepdim), out_dtype or x.dtype
    return rule


def _no_grad_rule(*_args, **_params):
    return None


def unbroadcast(g, shape):
    """Sum a cotangent back to `shape` (the VJP of NumPy broadcasting)."""
    shape = tuple(shape)
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    dims = tuple(range(lead)) + tuple(
        i + lead for i, s in enumerate(shape) if s == 1 and g.shape[i + lead] != 1)
    if dims:
        g = sum(g, dims, keepdim=True)
    return reshape(g, shape) if g.shape != shape else g


def _needs(t) -> bool:
    """Whether a VJP rule must produce a cotangent for this input."""
    return t.requires_grad


# ---------------------------------------------------------------------------------------------
# Elementwise unary
# ---------------------------------------------------------------------------------------------


def _sigmoid_impl(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def _quiet(impl):
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
    return run


def _unary(name, impl, vjp, template, node_name, rule=_same):
    return Primitive(name, _quiet(impl), rule, vjp, ELEMENTWISE, node_name, template)


NEG = _unary("neg", np.negative, lambda g, out, x: (neg(g),), "(-{0})", "NegBackward0", rule=_neg_rule)
ABS = _unary("abs", np.abs, lambda g, out, x: (g * sign(x),), "math.fabs({0})", "AbsBackward0")
SIGN = _unary("sign", np.sign, lambda g, out, x: (zeros_like_(x),),
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
                 "({one} / ({one} + math.exp(-{0})))", "SigmoidBackward0")
RELU = _unary("relu", lambda x: np.maximum(x, 0).astype(x.dtype, copy=False),
              lambda g, out, x: (g * (out > 0),), "({zero} if {0} <= {zero} else {0})", "ReluBackward0")


def _cast_rule(x, dtype):
    return x.shape, dtype


def _cast_vjp(g, out, x, dtype):
    return (cast(g, x.dtype) if dtypes.is_floating(x.dtype) else None,)


CAST = Primitive("cast", lambda x, dtype: x.astype(dtype), _cast_rule, _cast_vjp, ELEMENTWISE,
                 "ToCopyBackward0", "{dtype}({0})", params=("dtype",))
CLONE = Primitive("clone", lambda x: x.copy(), _same, lambda g, out, x: (g,), ELEMENTWISE,
                  "CloneBackward0", "{0}")

# The value of x with no gradient flowing through it: what detach() and no_grad blocks mean inside
# a traced function (the adjoint stops here). Not differentiable; simplify removes it after the adjoint.
STOP_GRADIENT = Primitive("stop_gradient", lambda x: x.copy(), _same, None, ELEMENTWISE, "StopGradient", "{0}")


def stop_gradient(x):
    """x's value as a tensor that no gradient flows through (detach() inside a trace)."""
    return bind(STOP_GRADIENT, as_tensor_operand(x))


def _to_device_impl(x, device, source):
    """Host-to-GPU copies (GPU sources go through the CUDA back end, see core.bind)."""
    if devices.device(device).type == "cpu":
        return np.array(x, copy=True)
    from .cuda import eager  # lazy: the CUDA back end loads only when a GPU tensor is asked for
    eager.install()
    return eager.move(x, device)


# A move between devices: recorded as PyTorch records .to(device), so gradients flow back to the
# source device.
TO_DEVICE = Primitive("to_device", _to_device_impl, lambda x, device, source: (x.shape, x.dtype),
                      lambda g, out, x, device, source: (to_device(g, source),), TRANSFER,
                      "ToCopyBackward0", params=("device", "source"))


def to_device(x, device) -> TensorBase:
    """x copied onto `device` ('cpu', 'cuda', 'cuda:0'), differentiably."""
    x = as_tensor_operand(x)
    return bind(TO_DEVICE, x, device=str(devices.as_device(device)), source=str(x.device))


def _floating(x):
    """Integer and bool inputs of float-only functions become the default float (as in PyTorch)."""
    x = as_tensor_operand(x)
    return x if dtypes.is_floating(x.dtype) else cast(x, dtypes.get_default_dtype())


def neg(x):
    return bind(NEG, as_tensor_operand(x))


def abs(x):  # noqa: A001 - PyTorch's name
    return bind(ABS, as_tensor_operand(x))


def sign(x):
    return bind(SIGN, as_tensor_operand(x))


def exp(x):
    return bind(EXP, _floating(x))


def expm1(x):
    return bind(EXPM1, _floating(x))


def log(x):
    return bind(LOG, _floating(x))


def log1p(x):
    return bind(LOG1P, _floating(x))


def sqrt(x):
    return bind(SQRT, _floating(x))


def sin(x):
    return bind(SIN, _floating(x))


def cos(x):
    return bind(COS, _floating(x))


def tan(x):
    return bind(TAN, _floating(x))


def tanh(x):
    return bind(TANH, _floating(x))


def sigmoid(x):
    return bind(SIGMOID, _floating(x))


def relu(x):
    return bind(RELU, as_tensor_operand(x))


def cast(x, dtype):
    """Convert to `dtype` (recorded as ToCopyBackward0; gradients flow back for floats)."""
    dtype = dtypes.as_dtype(dtype)
    x = as_tensor_operand(x)
    return x if x.dtype == dtype else bind(CAST, x, dtype=dtype)


def clone(x):
    return bind(CLONE, as_tensor_operand(x))


# ---------------------------------------------------------------------------------------------
# Elementwise binary and ternary
# ---------------------------------------------------------------------------------------------


def _add_vjp(g, out, x, y):
    return unbroadcast(g, x.shape), unbroadcast(g, y.shape)


def _sub_vjp(g, out, x, y):
    return unbroadcast(g, x.shape), unbroadcast(neg(g), y.shape)


def _mul_vjp(g, out, x, y):
    return (unbroadcast(g * y, x.shape) if _needs(x) else None,
            unbroadcast(g * x, y.shape) if _needs(y) else None)


def _div_vjp(g, out, x, y):
    return (unbroadcast(g / y, x.shape) if _needs(x) else None,
            unbroadcast(-(g * x) / (y * y), y.shape) if _needs(y) else None)


def _pow_vjp(g, out, x, y):
    # PyTorch's conventions at x == 0: d/dx is 0 where y == 0 (not 0 * 0**-1 = nan); d/dy is 0
    # where y >= 0 (not nan from 0 * log 0) and out * log(0) = -inf where y < 0.
    gx = unbroadcast(where(y == 0, 0.0, g * y * pow(x, y - 1)), x.shape) if _needs(x) else None
    gy = None
    if _needs(y):
        gy = unbroadcast(where((x == 0) & (y >= 0), 0.0, g * out * log(x)), y.shape)
    return gx, gy


def _extremum_vjp(loses):
    """maximum/minimum: the gradient goes to the operand that is picked, half each on a tie, and
    in full to both where either is NaN (PyTorch's rule: only a strict loser gets 0)."""
    def vjp(g, out, x, y):
        half = where(x == y, 0.5, 1.0)
        return (unbroadcast(g * half * cast(logical_not(loses(x, y)), g.dtype), x.shape) if _needs(x) else None,
                unbroadcast(g * half * cast(logical_not(loses(y, x)), g.dtype), y.shape) if _needs(y) else None)
    return vjp


def _binary(name, impl, vjp, template, node_name, rule=_broadcast):
    return Primitive(name, _quiet(impl), rule, vjp, ELEMENTWISE, node_name, template)


ADD = _binary("add", np.add, _add_vjp, "({0} + {1})", "AddBackward0")
SUB = _binary("sub", np.subtract, _sub_vjp, "({0} - {1})", "SubBackward0", rule=_sub_rule)
MUL = _binary("mul", np.multiply, _mul_vjp, "({0} * {1})", "MulBackward0")
DIV = _binary("div", np.true_divide, _div_vjp, "({0} / {1})", "DivBackward0")
POW = _binary("pow", np.power, _pow_vjp, "({0} ** {1})", "PowBackward1")
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
        return (zeros_like_(x),)
    return (g * (pow_scalar(x, exponent - 1) * exponent),)


POW_SCALAR = Primitive("pow_scalar", _quiet(lambda x, exponent: np.power(x, x.dtype.type(exponent))),
                       _pow_scalar_rule, _pow_scalar_vjp, ELEMENTWISE, "PowBackward0", "({0} ** {exponent})",
                       params=("exponent",))


def _rpow_scalar_vjp(g, out, x, base):
    # d/dx base**x = base**x * log(base); PyTorch's convention at base 0: 0 where x >= 0, -inf below.
    if base == 0:
        return (where(x >= 0, 0.0, g * out * -np.inf),)
    return (g * out * (np.log(base) if base > 0 else np.nan),)


# Reflected ops with a Python number on the left, recorded as PyTorch records them: `2 - b` is
# RsubBackward1 and `2 ** b` PowBackward2, each with b as its one input; `2 / b` is 2 * reciprocal(b).
RSUB_SCALAR = Primitive("rsub_scalar", _quiet(lambda x, value: np.subtract(x.dtype.type(value), x)), _same,
                        lambda g, out, x, value: (neg(g),), ELEMENTWISE, "RsubBackward1", "({value} - {0})",
                        params=("value",))
RPOW_SCALAR = Primitive("rpow_scalar", _quiet(lambda x, base: np.power(x.dtype.type(base), x)), _same,
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
    zero = zeros_like_(g)
    return (None,
            unbroadcast(where(c, g, zero), x.shape) if _needs(x) else None,
            unbroadcast(where(c, zero, g), y.shape) if _needs(y) else None)


WHERE = Primitive("where", np.where, _where_rule, _where_vjp, ELEMENTWISE, "WhereBackward0",
                  "({1} if {0} else {2})")


def as_tensor_operand(value, dtype=None) -> TensorBase:
    """A tensor for an op operand: tensors pass through, arrays and scalars become constants."""
    if isinstance(value, TensorBase):
        return value
    if isinstance(value, np.ndarray):
        return lift(value, dtypes.from_numpy_dtype(value.dtype) if dtype is None else dtype)
    if isinstance(value, (builtins.bool, builtins.int, builtins.float, np.generic)):
        return lift(value, dtypes.scalar_dtype(value) if dtype is None else dtype)
    if isinstance(value, (list, tuple)):
        arr = np.asarray(value)
        return lift(arr, dtypes.from_numpy_dtype(arr.dtype) if dtype is None else dtype)
    raise TypeError(f"expected a Tensor, array or number as an operand, got {type(value).__name__}")


def _promoted(*operands):
    """Operands as tensors of one dtype, by PyTorch's promotion (Python scalars are weak)."""
    if len(operands) == 2:
        x, y = operands
        if isinstance(x, TensorBase):
            if isinstance(y, TensorBase):
                if x._data.dtype == y._data.dtype:
                    return operands
            elif type(y) is builtins.float and x._data.dtype.kind == "f":
                return x, lift(y, x._data.dtype, x)
    like = None
    keys = []
    for op in operands:
        if isinstance(op, TensorBase):
            if like is None:
                like = op
            keys.append(op.dtype if op.ndim else dtypes.ZeroDim(op.dtype))
        elif isinstance(op, np.ndarray):
            keys.append(dtypes.from_numpy_dtype(op.dtype))
        elif isinstance(op, (builtins.bool, builtins.int, builtins.float)):
            keys.append(op)
        elif isinstance(op, np.generic):
            keys.append(op.item())
        else:
            raise TypeError(f"unsupported operand type {type(op).__name__}; expected a Tensor or a number")
    dt = dtypes.result_type(*keys)
    out = []
    for op in operands:
        if isinstance(op, TensorBase):
            out.append(op if op.dtype == dt else bind(CAST, op, dtype=dt))
        else:
            out.append(lift(op, dt, like))
    return out


def _float_promoted(*operands):
    ops = _promoted(*operands)
    if not dtypes.is_floating(ops[0].dtype):
        ops = [cast(o, dtypes.get_default_dtype()) for o in ops]
    return ops


def add(x, y, alpha=1):
    if alpha != 1:
        y = mul(y, alpha)
    return bind(ADD, *_promoted(x, y))


def sub(x, y, alpha=1):
    if alpha != 1:
        y = mul(y, alpha)
    return bind(SUB, *_promoted(x, y))


def mul(x, y):
    return bind(MUL, *_promoted(x, y))


def div(x, y):
    """True division (integers give the default float, as in PyTorch)."""
    return bind(DIV, *_float_promoted(x, y))


def pow(x, exponent):  # noqa: A001
    """x ** exponent; a Python-number exponent is an attribute (PowBackward0), a tensor one an operand."""
    if isinstance(exponent, (builtins.int, builtins.float)) and not isinstance(exponent, builtins.bool) \
            and isinstance(x, TensorBase):
        if isinstance(exponent, builtins.float) and not dtypes.is_floating(x.dtype):
            x = cast(x, dtypes.get_default_dtype())
        return bind(POW_SCALAR, x, exponent=exponent)
    return bind(POW, *_promoted(x, exponent))


def pow_scalar(x, exponent):
    return bind(POW_SCALAR, x, exponent=exponent)


def is_python_scalar(value) -> bool:
    """A Python (or NumPy) number that is not a bool: the left operand of a reflected scalar op."""
    return isinstance(value, (builtins.int, builtins.float, np.number)) and not isinstance(value, builtins.bool)


def rsub_scalar(value, x):
    """value - x for a Python number `value` (RsubBackward1: x is the node's only input)."""
    x = _promoted(x, value)[0]
    return bind(RSUB_SCALAR, x, value=value.item() if isinstance(value, np.generic) else value)


def rpow_scalar(base, x):
    """base ** x for a Python number `base` (PowBackward2: x is the node's only input)."""
    x = _promoted(x, base)[0]
    return bind(RPOW_SCALAR, x, base=base.item() if isinstance(base, np.generic) else base)


def reciprocal(x):
    """1 / x (integers are converted to the default float dtype first, as in PyTorch)."""
    return bind(RECIPROCAL, _floating(x))


def rdiv_scalar(value, x):
    """value / x for a Python number `value`, computed as PyTorch does: reciprocal(x) * value."""
    return mul(reciprocal(x), value)


def maximum(x, y):
    return bind(MAXIMUM, *_promoted(x, y))


def minimum(x, y):
    return bind(MINIMUM, *_promoted(x, y))


def eq(x, y):
    return bind(EQ, *_promoted(x, y))


def ne(x, y):
    return bind(NE, *_promoted(x, y))


def lt(x, y):
    return bind(LT, *_promoted(x, y))


def le(x, y):
    return bind(LE, *_promoted(x, y))


def gt(x, y):
    return bind(GT, *_promoted(x, y))


def ge(x, y):
    return bind(GE, *_promoted(x, y))


def logical_and(x, y):
    return bind(LOGICAL_AND, *(cast(t, dtypes.bool_) for t in _promoted(x, y)))


def logical_or(x, y):
    return bind(LOGICAL_OR, *(cast(t, dtypes.bool_) for t in _promoted(x, y)))


def logical_not(x):
    return bind(LOGICAL_NOT, cast(as_tensor_operand(x), dtypes.bool_))


def clamp(x, min=None, max=None):  # noqa: A002
    """Clamp into [min, max]; tensor bounds go through maximum/minimum."""
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
        x = _floating(x)
    lo, hi = _dtype_bounds(x.dtype)
    lo = lo if min is None else x.dtype.type(min).item()
    hi = hi if max is None else x.dtype.type(max).item()
    return bind(CLAMP, x, min=lo, max=hi)


def _dtype_bounds(dtype):
    if dtypes.is_floating(dtype):
        return -np.inf, np.inf
    if dtype == dtypes.bool_:
        return False, True
    info = np.iinfo(dtype)
    return builtins.int(info.min), builtins.int(info.max)


def where(condition, x, y):
    """Select x where condition holds, else y (broadcasting all three)."""
    c = as_tensor_operand(condition)
    if c.dtype != dtypes.bool_:
        c = cast(c, dtypes.bool_)
    x, y = _promoted(x, y)
    return bind(WHERE, c, x, y)


def zeros_like_(x):
    """A zero constant shaped like x (used inside VJP rules; no graph)."""
    if isinstance(x, TensorBase):
        return type(x)._wrap(full_like_data(x._data, x.shape, x.dtype, 0))
    return lift(np.zeros(x.shape, dtype=x.dtype), x.dtype)


# ---------------------------------------------------------------------------------------------
# Reductions (dims are normalised to a sorted tuple before bind)
# ---------------------------------------------------------------------------------------------


def _expand_back(g, x, dims, keepdim):
    """Broadcast a reduced cotangent back over x's shape."""
    if not keepdim:
        g = reshape(g, shapes.reduce(x.shape, dims, True))
    return expand(g, x.shape)


def _sum_vjp(g, out, x, dims, keepdim):
    return (_expand_back(g, x, dims, keepdim),)


def _mean_vjp(g, out, x, dims, keepdim):
    n = shapes.numel(tuple(x.shape[d] for d in dims))
    return (_expand_back(g / n, x, dims, keepdim),)


def _extreme_reduce_vjp(g, out, x, dims, keepdim):
    """amax/amin: the gradient is shared evenly among the elements equal to the result (with a
    NaN result none is, and the gradient is NaN, as in PyTorch)."""
    o = _expand_back(out, x, dims, keepdim)
    mask = cast(x == o, g.dtype)
    count = sum(mask, dims, keepdim=True)
    return (_expand_back(g, x, dims, keepdim) * mask / count,)


def _extreme_all_vjp(g, out, x, dims, keepdim):
    """max()/min() over all elements: shared evenly among the elements equal to the result, where
    a NaN result counts every NaN as equal (PyTorch's evenly_distribute rule: the gradient goes to
    the NaNs)."""
    o = _expand_back(out, x, dims, keepdim)
    mask = cast((x == o) | ((x != x) & (o != o)), g.dtype)
    count = sum(mask, dims, keepdim=True)
    return (_expand_back(g, x, dims, keepdim) * mask / count,)


# Reductions of at most this many elements differentiate prod exactly to every order (through
# the products of all-but-one elements, an n x n intermediate); larger ones use out / x, exact
# to first order everywhere and to second order unless two or more elements are zero.
PROD_EXACT_MAX = 64


def _prod_vjp(g, out, x, dims, keepdim):
    n = shapes.numel(tuple(x.shape[d] for d in dims))
    if 0 < n <= PROD_EXACT_MAX:
        local = _products_of_others(x, dims)
    else:
        # d out / d x_i = product of the others: out / x_i where x_i != 0; at a lone zero the
        # product of the non-zero elements; with two or more zeros, 0.
        is_zero = x == 0
        zeros = sum(cast(is_zero, g.dtype), dims, keepdim=True)
        others = prod(where(is_zero, 1.0, x), dims, keepdim=True)
        full = _expand_back(out, x, dims, keepdim)
        at_zero = where(expand(zeros == 1, x.shape), expand(others, x.shape), 0.0)
        local = where(is_zero, at_zero, full / where(is_zero, 1.0, x))
    return (_expand_back(g, x, dims, keepdim) * local,)


def _constant_like(value: np.ndarray, dtype, like: TensorBase) -> TensorBase:
    """A constant for a VJP rule, on the device of `like` (GPU rules must not mix in host arrays)."""
    c = lift(value, dtype, like)
    data = like._data
    if type(data) is np.ndarray or isinstance(data, Symbolic):
        return c
    return bind(TO_DEVICE, c, device=str(like.device), source="cpu")


def _products_of_others(x, dims):
    """For each element, the product of the other elements of its reduction (shape of x):
    row i of an n x n matrix holds the n elements with the i-th replaced by 1."""
    kept = tuple(d for d in range(x.ndim) if d not in dims)
    n = shapes.numel(tuple(x.shape[d] for d in dims))
    lead = tuple(x.shape[d] for d in kept)
    rows = reshape(permute(x, kept + tuple(dims)), lead + (1, n))
    eye = _constant_like(np.eye(n, dtype=np.bool_), dtypes.bool_, x)
    others = prod(where(eye, 1.0, expand(rows, lead + (n, n))), -1)
    inverse = shapes.inverse_permutation(kept + tuple(dims))
    return permute(reshape(others, lead + tuple(x.shape[d] for d in dims)), inverse)


def _norm_impl(x, p, dims, keepdim):
    if p == 2:
        return np.sqrt(np.sum(x * x, axis=dims, keepdims=keepdim))
    if p == np.inf:
        return np.max(np.abs(x), axis=dims, keepdims=keepdim, initial=0)
    if p == 1:
        return np.sum(np.abs(x), axis=dims, keepdims=keepdim)
    return np.sum(np.abs(x) ** p, axis=dims, keepdims=keepdim) ** (1.0 / p)


def _norm_vjp(g, out, x, p, dims, keepdim):
    o = _expand_back(out, x, dims, keepdim)
    ge = _expand_back(g, x, dims, keepdim)
    if p == 2:
        local = x / where(o == 0, 1.0, o)
    elif p == 1:
        local = sign(x)
    elif p == np.inf:
        a = abs(x)
        mask = cast(a == o, g.dtype)
        local = sign(x) * mask / expand(sum(mask, dims, keepdim=True), x.shape)
    else:
        local = x * pow(abs(x), p - 2) / where(o == 0, 1.0, pow(o, p - 1))
    return (ge * local,)


def _var_impl(x, dims, correction, keepdim):
    n = shapes.numel(tuple(x.shape[d] for d in dims))
    with np.errstate(divide="ignore", invalid="ignore"):
        denominator = builtins.max(n - correction, 0)  # 0: inf (nan for a zero variance), as in PyTorch
        return np.var(x, axis=dims, keepdims=keepdim, ddof=0) * (n / denominator if denominator else np.inf)


def _var_vjp(g, out, x, dims, correction, keepdim):
    n = shapes.numel(tuple(x.shape[d] for d in dims))
    centred = x - mean(x, dims, keepdim=True)
    denominator = builtins.max(n - correction, 0)
    return (_expand_back(g, x, dims, keepdim) * centred * (2.0 / denominator if denominator else np.inf),)


def _std_vjp(g, out, x, dims, correction, keepdim):
    n = shapes.numel(tuple(x.shape[d] for d in dims))
    centred = x - mean(x, dims, keepdim=True)
    o = _expand_back(out, x, dims, keepdim)
    denominator = builtins.max(n - correction, 0)
    return (_expand_back(g, x, dims, keepdim) * centred * (1.0 / denominator if denominator else np.inf) / o,)


def _full_or_dim(stem):
    """PyTorch names a full reduction ...Backward0 and one over given dims ...Backward1."""
    def label(params, in_shapes):
        full = len(params["dims"]) == len(in_shapes[0]) and not params["keepdim"]
        return f"{stem}Backward{0 if full else 1}"
    return label


def _reduction(name, impl, vjp, node_name, rule=_reduced, extra=()):
    return Primitive(name, _quiet(impl), rule, vjp, REDUCTION, node_name, params=extra + ("dims", "keepdim"))


SUM = _reduction("sum", lambda x, dims, keepdim: np.sum(x, axis=dims, keepdims=keepdim),
                 _sum_vjp, _full_or_dim("Sum"), rule=_summed)
MEAN = _reduction("mean", lambda x, dims, keepdim: np.mean(x, axis=dims, keepdims=keepdim),
                  _mean_vjp, _full_or_dim("Mean"))
AMAX = _reduction("amax", lambda x, dims, keepdim: np.amax(x, axis=dims, keepdims=keepdim),
                  _extreme_reduce_vjp, "AmaxBackward0", rule=_extreme_rule("amax", False))
AMIN = _reduction("amin", lambda x, dims, keepdim: np.amin(x, axis=dims, keepdims=keepdim),
                  _extreme_reduce_vjp, "AminBackward0", rule=_extreme_rule("amin", False))
MAX = _reduction("max", lambda x, dims, keepdim: np.amax(x, axis=dims, keepdims=keepdim),
                 _extreme_all_vjp, "MaxBackward1", rule=_extreme_rule("max", False))
MIN = _reduction("min", lambda x, dims, keepdim: np.amin(x, axis=dims, keepdims=keepdim),
                 _extreme_all_vjp, "MinBackward1", rule=_extreme_rule("min", False))


def _extreme_dim_vjp(arg):
    def vjp(g, out, x, dim, keepdim):
        # The gradient goes to the element whose index max(dim)/min(dim) returns (PyTorch's rule).
        index = arg(x, dim, keepdim=True)
        return (scatter_add_to(g if keepdim else unsqueeze(g, dim), index, dim, x.shape),)
    return vjp


MAX_DIM = Primitive("max_dim", lambda x, dim, keepdim: np.amax(x, axis=dim, keepdims=keepdim),
                    _extreme_rule("max", True), _extreme_dim_vjp(lambda x, d, keepdim: argmax(x, d, keepdim)),
                    REDUCTION, "MaxBackward0", params=("dim", "keepdim"))
MIN_DIM = Primitive("min_dim", lambda x, dim, keepdim: np.amin(x, axis=dim, keepdims=keepdim),
                    _extreme_rule("min", True), _extreme_dim_vjp(lambda x, d, keepdim: argmin(x, d, keepdim)),
                    REDUCTION, "MinBackward0", params=("dim", "keepdim"))
PROD = _reduction("prod", lambda x, dims, keepdim: np.prod(x, axis=dims, keepdims=keepdim),
                  _prod_vjp, _full_or_dim("Prod"), rule=_summed)
NORM = _reduction("norm", _norm_impl, _norm_vjp, "LinalgVectorNormBackward0", extra=("p",))
VAR = _reduction("var", _var_impl, _var_vjp, "VarBackward0", extra=("correction",))
STD = _reduction("std", lambda x, dims, correction, keepdim: np.sqrt(_var_impl(x, dims, correction, keepdim)),
                 _std_vjp, "StdBackward0", extra=("correction",))
ARGMAX = Primitive("argmax", lambda x, dim, keepdim: np.expand_dims(np.argmax(x, axis=dim), dim)
                   if keepdim else np.argmax(x, axis=dim),
                   _extreme_rule("argmax", True, dtypes.int64), None, REDUCTION, "", params=("dim", "keepdim"))
ARGMIN = Primitive("argmin", lambda x, dim, keepdim: np.expand_dims(np.argmin(x, axis=dim), dim)
                   if keepdim else np.argmin(x, axis=dim),
                   _extreme_rule("argmin", True, dtypes.int64), None, REDUCTION, "", params=("dim", "keepdim"))

def _dims(x, dim):
    return shapes.normalize_dims(dim, x.ndim)


def sum(x, dim=None, keepdim=False, dtype=None):  # noqa: A001
    x = as_tensor_operand(x)
    if dtype is not None:
        x = cast(x, dtype)
    return bind(SUM, x, dims=_dims(x, dim), keepdim=keepdim)


def mean(x, dim=None, keepdim=False, dtype=None):
    x = as_tensor_operand(x)
    if dtype is not None:
        x = cast(x, dtype)
    if not dtypes.is_floating(x.dtype):
        raise RuntimeError(
            "mean(): could not infer output dtype. Input dtype must be either a floating point or "
            f"complex dtype. Got: {dtypes.name(x.dtype)} (convert with .float() first)")
    return bind(MEAN, x, dims=_dims(x, dim), keepdim=keepdim)


MaxMin = namedtuple("MaxMin", ["values", "indices"])


def _check_nonempty(x, name: str, error=RuntimeError) -> None:
    """A reduction over every dim of an empty tensor (no dim given) has no extreme."""
    if shapes.numel(x.shape) == 0:
        raise error(f"{name}(): Expected reduction dim to be specified for input.numel() == 0. Specify the "
                    "reduction dim with the 'dim' argument.")


def amax(x, dim=None, keepdim=False):
    x = as_tensor_operand(x)
    if dim is None or dim == ():
        _check_nonempty(x, "amax")
    return bind(AMAX, x, dims=_dims(x, dim), keepdim=keepdim)


def amin(x, dim=None, keepdim=False):
    x = as_tensor_operand(x)
    if dim is None or dim == ():
        _check_nonempty(x, "amin")
    return bind(AMIN, x, dims=_dims(x, dim), keepdim=keepdim)


def max(x, dim=None, keepdim=False):  # noqa: A001
    """max(x) -> the maximum; max(x, dim) -> (values, indices); max(x, tensor) -> maximum."""
    if isinstance(dim, (TensorBase, np.ndarray)):
        return maximum(x, dim)
    x = as_tensor_operand(x)
    if dim is None:
        _check_nonempty(x, "max")
        return bind(MAX, x, dims=tuple(range(x.ndim)), keepdim=False)
    d = shapes.normalize_dim(dim, x.ndim)
    return MaxMin(bind(MAX_DIM, x, dim=d, keepdim=keepdim), argmax(x, d, keepdim))


def min(x, dim=None, keepdim=False):  # noqa: A001
    """min(x) -> the minimum; min(x, dim) -> (values, indices); min(x, tensor) -> minimum."""
    if isinstance(dim, (TensorBase, np.ndarray)):
        return minimum(x, dim)
    x = as_tensor_operand(x)
    if dim is None:
        _check_nonempty(x, "min")
        return bind(MIN, x, dims=tuple(range(x.ndim)), keepdim=False)
    d = shapes.normalize_dim(dim, x.ndim)
    return MaxMin(bind(MIN_DIM, x, dim=d, keepdim=keepdim), argmin(x, d, keepdim))


def argmax(x, dim=None, keepdim=False):
    x = as_tensor_operand(x)
    if dim is None:
        _check_nonempty(x, "argmax", IndexError)
        return bind(ARGMAX, reshape(x, (-1,)), dim=0, keepdim=False)
    return bind(ARGMAX, x, dim=shapes.normalize_dim(dim, x.ndim), keepdim=keepdim)


def argmin(x, dim=None, keepdim=False):
    x = as_tensor_operand(x)
    if dim is None:
        _check_nonempty(x, "argmin", IndexError)
        return bind(ARGMIN, reshape(x, (-1,)), dim=0, keepdim=False)
    return bind(ARGMIN, x, dim=shapes.normalize_dim(dim, x.ndim), keepdim=keepdim)


def prod(x, dim=None, keepdim=False):
    x = as_tensor_operand(x)
    return bind(PROD, x, dims=_dims(x, dim), keepdim=keepdim)


def norm(x, p="fro", dim=None, keepdim=False):
    """Vector p-norm over `dim` (all elements by default): p in {'fro', 2, 1, inf, other > 0}."""
    x = _floating(x)
    p = 2 if p in ("fro", 2) else p
    if not isinstance(p, (builtins.int, builtins.float)) or p <= 0:
        raise ValueError(f"norm: p must be 'fro' or a positive number (or inf), got {p!r}")
    return bind(NORM, x, p=builtins.float(p), dims=_dims(x, dim), keepdim=keepdim)


def _correction(unbiased, correction):
    if correction is not None:
        return correction
    return 1 if unbiased is None or unbiased else 0


def var(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    x = _floating(x)
    return bind(VAR, x, dims=_dims(x, dim), correction=_correction(unbiased, correction), keepdim=keepdim)


def std(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    x = _floating(x)
    return bind(STD, x, dims=_dims(x, dim), correction=_correction(unbiased, correction), keepdim=keepdim)


# ---------------------------------------------------------------------------------------------
# Matmul
# ---------------------------------------------------------------------------------------------


def _matmul_rule(a, b):
    if a.dtype != b.dtype:
        raise RuntimeError(f"expected both matmul operands to have the same dtype, got "
                           f"{dtypes.name(a.dtype)} and {dtypes.name(b.dtype)}")
    return shapes.matmul(a.shape, b.shape), a.dtype


def _matmul_vjp(g, out, a, b):
    a2 = a if a.ndim > 1 else unsqueeze(a, 0)
    b2 = b if b.ndim > 1 else unsqueeze(b, -1)
    g2 = reshape(g, shapes.matmul(a2.shape, b2.shape))
    ga = gb = None
    if _needs(a):
        ga = reshape(unbroadcast(matmul(g2, transpose(b2, -1, -2)), a2.shape), a.shape)
    if _needs(b):
        gb = reshape(unbroadcast(matmul(transpose(a2, -1, -2), g2), b2.shape), b.shape)
    return ga, gb


def _matmul_node_name(params, in_shapes):
    ranks = (len(in_shapes[0]), len(in_shapes[1]))
    return {(1, 1): "DotBackward0", (2, 1): "MvBackward0", (2, 2): "MmBackward0"}.get(ranks, "BmmBackward0")


MATMUL_PRIM = Primitive("matmul", np.matmul, _matmul_rule, _matmul_vjp, MATMUL, _matmul_node_name)


def matmul(a, b):
    """Matrix product with NumPy's rules: 1-D, 2-D and batched (broadcast batch dims)."""
    a, b = _promoted(a, b)
    return bind(MATMUL_PRIM, a, b)


def mm(a, b):
    """2-D matrix product (errors on other ranks, as in PyTorch)."""
    if as_tensor_operand(a).ndim != 2 or as_tensor_operand(b).ndim != 2:
        raise RuntimeError(f"mm: expected 2-D tensors, got {as_tensor_operand(a).ndim}-D and "
                           f"{as_tensor_operand(b).ndim}-D (use matmul for other ranks)")
    return matmul(a, b)


# ---------------------------------------------------------------------------------------------
# Shape ops
# ---------------------------------------------------------------------------------------------


def _shape_to(x, shape):
    return tuple(shape), x.dtype


RESHAPE = Primitive("reshape", lambda x, shape: np.reshape(x, shape), _shape_to,
                    lambda g, out, x, shape: (reshape(g, x.shape),), SHAPE, "ViewBackward0",
                    params=("shape",))


def _expand_rule(x, shape):
    if shapes.broadcast(x.shape, shape) != tuple(shape):
        raise RuntimeError(f"The expanded size of the tensor {tuple(shape)} must match the existing "
                           f"size {tuple(x.shape)} at non-singleton dimensions")
    return tuple(shape), x.dtype


EXPAND = Primitive("expand", lambda x, shape: np.broadcast_to(x, shape), _expand_rule,
                   lambda g, out, x, shape: (unbroadcast(g, x.shape),), SHAPE, "ExpandBackward0",
                   params=("shape",))


def _permute_rule(x, dims):
    return tuple(x.shape[d] for d in dims), x.dtype


PERMUTE = Primitive("permute", lambda x, dims: np.transpose(x, dims), _permute_rule,
                    lambda g, out, x, dims: (permute(g, shapes.inverse_permutation(dims)),), SHAPE,
                    "PermuteBackward0", params=("dims",))


def _swap(ndim, d0, d1):
    perm = list(range(ndim))
    perm[d0], perm[d1] = perm[d1], perm[d0]
    return tuple(perm)


TRANSPOSE = Primitive("transpose", lambda x, dim0, dim1: np.swapaxes(x, dim0, dim1),
                      lambda x, dim0, dim1: (_permute_rule(x, _swap(x.ndim, dim0, dim1))),
                      lambda g, out, x, dim0, dim1: (transpose(g, dim0, dim1),), SHAPE,
                      "TransposeBackward0", params=("dim0", "dim1"))
def _squeeze_name(params, in_shapes):
    """PyTorch names squeeze() SqueezeBackward0 and squeeze(dim) SqueezeBackward1."""
    return "SqueezeBackward1" if params["explicit"] else "SqueezeBackward0"


SQUEEZE = Primitive("squeeze", lambda x, dims, explicit: np.squeeze(x, axis=dims),
                    lambda x, dims, explicit: (tuple(s for i, s in enumerate(x.shape) if i not in dims), x.dtype),
                    lambda g, out, x, dims, explicit: (reshape(g, x.shape),), SHAPE,
                    _squeeze_name, params=("dims", "explicit"))
UNSQUEEZE = Primitive("unsqueeze", lambda x, dim: np.expand_dims(x, dim),
                      lambda x, dim: (x.shape[:dim] + (1,) + x.shape[dim:], x.dtype),
                      lambda g, out, x, dim: (reshape(g, x.shape),), SHAPE, "UnsqueezeBackward0",
                      params=("dim",))


def _cat_rule(*xs, dim):
    first = xs[0]
    for x in xs[1:]:
        if x.ndim != first.ndim or any(a != b for i, (a, b) in enumerate(zip(x.shape, first.shape)) if i != dim):
            raise RuntimeError(f"Sizes of tensors must match except in dimension {dim}: got shapes "
                               f"{tuple(first.shape)} and {tuple(x.shape)}")
    size = builtins.sum(x.shape[dim] for x in xs)
    return first.shape[:dim] + (size,) + first.shape[dim + 1:], first.dtype


def _cat_vjp(g, out, *xs, dim):
    grads, start = [], 0
    for x in xs:
        n = x.shape[dim]
        grads.append(narrow(g, dim, start, n) if _needs(x) else None)
        start += n
    return tuple(grads)


def _stack_rule(*xs, dim):
    for x in xs[1:]:
        if x.shape != xs[0].shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {tuple(xs[0].shape)} "
                               f"and {tuple(x.shape)}")
    s = xs[0].shape
    return s[:dim] + (len(xs),) + s[dim:], xs[0].dtype


def _stack_vjp(g, out, *xs, dim):
    return tuple(select(g, dim, i) if _needs(x) else None for i, x in enumerate(xs))


CAT = Primitive("cat", lambda *xs, dim: np.concatenate(xs, axis=dim), _cat_rule, _cat_vjp, SHAPE,
                "CatBackward0", params=("dim",))
STACK = Primitive("stack", lambda *xs, dim: np.stack(xs, axis=dim), _stack_rule, _stack_vjp, SHAPE,
                  "StackBackward0", params=("dim",))


def reshape(x, *shape):
    x = as_tensor_operand(x)
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    shape = shapes.infer_reshape(x.shape, shape)
    return x if shape == x.shape else bind(RESHAPE, x, shape=shape)


def expand(x, *shape):
    x = as_tensor_operand(x)
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    lead = len(shape) - x.ndim
    if lead < 0:
        raise RuntimeError(f"expand: the number of sizes provided ({len(shape)}) must be greater or equal "
                           f"to the number of dimensions in the tensor ({x.ndim})")
    shape = tuple(x.shape[i - lead] if s == -1 else builtins.int(s) for i, s in enumerate(shape))
    return x if shape == x.shape else bind(EXPAND, x, shape=shape)


def broadcast_to(x, shape):
    return expand(x, tuple(shape))


def permute(x, *dims):
    x = as_tensor_operand(x)
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = dims[0]
    return bind(PERMUTE, x, dims=shapes.check_permutation(dims, x.ndim))


def transpose(x, dim0, dim1):
    x = as_tensor_operand(x)
    d0, d1 = shapes.normalize_dim(dim0, x.ndim), shapes.normalize_dim(dim1, x.ndim)
    return bind(TRANSPOSE, x, dim0=builtins.min(d0, d1), dim1=builtins.max(d0, d1))


def t(x):
    """Transpose of a tensor of rank <= 2 (PyTorch's .t())."""
    x = as_tensor_operand(x)
    if x.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {x.ndim}D")
    return x if x.ndim < 2 else transpose(x, 0, 1)


def squeeze(x, dim=None):
    x = as_tensor_operand(x)
    if dim is None:
        dims = tuple(i for i, s in enumerate(x.shape) if s == 1)
    else:
        dims = tuple(d for d in shapes.normalize_dims(dim, x.ndim) if x.shape[d] == 1)
    return x if not dims else bind(SQUEEZE, x, dims=dims, explicit=dim is not None)


def unsqueeze(x, dim):
    x = as_tensor_operand(x)
    return bind(UNSQUEEZE, x, dim=shapes.normalize_dim(dim, x.ndim + 1))


def cat(tensors, dim=0):
    xs = _promoted(*tensors) if len(tensors) else []
    if not xs:
        raise RuntimeError("cat expects a non-empty list of tensors")
    return bind(CAT, *xs, dim=shapes.normalize_dim(dim, xs[0].ndim))


def stack(tensors, dim=0):
    xs = _promoted(*tensors) if len(tensors) else []
    if not xs:
        raise RuntimeError("stack expects a non-empty list of tensors")
    return bind(STACK, *xs, dim=shapes.normalize_dim(dim, xs[0].ndim + 1))


def narrow(x, dim, start, length):
    """The slice [start, start+length) along dim (a view, as in PyTorch); it must lie inside the dim."""
    x = as_tensor_operand(x)
    dim = shapes.normalize_dim(dim, x.ndim)
    size = x.shape[dim]
    if not -size <= start <= size:
        raise IndexError(f"start out of range (expected to be in range of [{-size}, {size}], but got {start})")
    start = start + size if start < 0 else start
    if length < 0:
        raise RuntimeError("narrow(): length must be non-negative.")
    if start + length > size:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({size}).")
    index = (slice(None),) * dim + (slice(start, start + length),)
    return getitem(x, index)


def select(x, dim, index):
    """The sub-tensor at `index` along dim (that dim removed)."""
    return getitem(x, (slice(None),) * dim + (index,))


def flatten(x, start_dim=0, end_dim=-1):
    x = as_tensor_operand(x)
    if x.ndim == 0:
        return reshape(x, (1,))
    s = shapes.normalize_dim(start_dim, x.ndim)
    e = shapes.normalize_dim(end_dim, x.ndim)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    return reshape(x, x.shape[:s] + (-1,) + x.shape[e + 1:])


# ---------------------------------------------------------------------------------------------
# Indexing: the index is a hashable spec; integer index arrays are operands after x
# ---------------------------------------------------------------------------------------------


def _index_of(spec, arrays):
    """Rebuild a NumPy index tuple from a spec and its index arrays."""
    out = []
    for item in spec:
        kind = item[0]
        if kind == "a":
            out.append(arrays[item[1]])
        elif kind == "i":
            out.append(item[1])
        elif kind == "s":
            out.append(slice(item[1], item[2], item[3]))
        elif kind == "n":
            out.append(None)
        else:
            out.append(Ellipsis)
    return tuple(out)


def _advanced_block(spec, arrays, ndim: int) -> tuple:
    """Where the dims of the advanced (integer-array) indices go: (NumPy's position, PyTorch's
    position, number of dims), positions counted in output dims.

    PyTorch applies an int index (and a 0-d index tensor) as select() before the array indices,
    so ints never join the advanced block; NumPy counts them in it. Both then put the block where
    the first array index stands if the array indices are adjacent, else in front. So
    `x[3, 2:, [1, 3]]` is (4, 2) in PyTorch and (2, 4) in NumPy; jitgrad follows PyTorch."""
    items = []
    for item in spec:
        if item[0] == "e":
            used = builtins.sum(1 for it in spec if it[0] in "isa")
            items.extend([("s",)] * (ndim - used))
        elif item[0] == "a":
            items.append(("a", np.ndim(arrays[item[1]])))
        else:
            items.append(item)
    arrays_nd = [it for it in items if it[0] == "a"]
    if not arrays_nd:
        return 0, 0, 0
    block = builtins.max(it[1] for it in arrays_nd)

    def position(is_advanced):
        kept = [it for it in items if is_advanced(it) or it[0] in "sn"]
        where = [k for k, it in enumerate(kept) if is_advanced(it)]
        if not where or where[-1] - where[0] + 1 != len(where):
            return 0
        return builtins.sum(1 for it in kept[:where[0]] if not is_advanced(it))

    numpy_at = position(lambda it: it[0] in "ia")
    torch_at = position(lambda it: it[0] == "a" and it[1] > 0)
    return numpy_at, torch_at, block


def _to_torch_order(result, spec, arrays, ndim: int, inverse: bool = False):
    """NumPy's result of x[index] with its advanced block moved to PyTorch's place (inverse=True:
    a PyTorch-ordered array moved back to NumPy's order, for writes and the adjoint)."""
    numpy_at, torch_at, block = _advanced_block(spec, arrays, ndim)
    if numpy_at == torch_at or block == 0:
        return result
    src, dst = list(range(numpy_at, numpy_at + block)), list(range(torch_at, torch_at + block))
    return np.moveaxis(result, dst, src) if inverse else np.moveaxis(result, src, dst)


def _getitem_impl(x, *arrays, spec):
    """x[index] in PyTorch's order; basic indexing gives a view even when it selects one element
    (NumPy returns a scalar copy for x[1] but a 0-d view for x[1, ...]), so writes through x[1] reach x."""
    index = _index_of(spec, arrays)
    if not arrays and ("e",) not in spec:
        return x[index + (Ellipsis,)]
    return np.asarray(_to_torch_order(x[index], spec, arrays, x.ndim))


def _probe(shape, spec, arrays):
    """Indexing result shape (PyTorch's), found by indexing a zero-stride stand-in (also checks bounds)."""
    stand_in = np.lib.stride_tricks.as_strided(np.zeros(1, dtype=np.bool_), shape, (0,) * len(shape))
    stand_ins = [a if isinstance(a, np.ndarray) else np.zeros(a.shape, dtype=np.int64) for a in arrays]
    try:
        return _to_torch_order(stand_in[_index_of(spec, stand_ins)], spec, stand_ins, len(shape)).shape
    except IndexError as exc:
        raise IndexError(f"{exc} (indexing a tensor of shape {tuple(shape)})") from None


def _getitem_rule(x, *arrays, spec):
    return _probe(x.shape, spec, [a._data if isinstance(a, TensorBase) else a for a in arrays]), x.dtype


def _getitem_vjp(g, out, x, *arrays, spec):
    return (unindex(g, *arrays, spec=spec, shape=x.shape),) + (None,) * len(arrays)


def _getitem_name(params, in_shapes):
    """PyTorch records one node per indexing step (full slices and ... record none): name the last."""
    spec = params["spec"]
    if any(item[0] == "a" for item in spec):
        return "IndexBackward0"
    for item in reversed(spec):
        if item[0] == "i":
            return "SelectBackward0"
        if item[0] == "n":
            return "UnsqueezeBackward0"
        if item[0] == "s" and item[1:] != (None, None, None):
            return "SliceBackward0"
    return "SliceBackward0" if any(item[0] == "s" for item in spec) else "AliasBackward0"


def _unindex_impl(g, *arrays, spec, shape):
    out = np.zeros(shape, dtype=g.dtype)
    index = _index_of(spec, arrays)
    if arrays:
        np.add.at(out, index, _to_torch_order(g, spec, arrays, len(shape), inverse=True))
    else:
        out[index] += g
    return out


GETITEM = Primitive("getitem", _getitem_impl,
                    _getitem_rule, _getitem_vjp, INDEX, _getitem_name, params=("spec",))
UNINDEX = Primitive("unindex", _unindex_impl, lambda g, *arrays, spec, shape: (tuple(shape), g.dtype),
                    lambda gg, out, g, *arrays, spec, shape: (getitem_spec(gg, spec, arrays),) +
                    (None,) * len(arrays), INDEX, "IndexPutBackward0", params=("spec", "shape"))


def _spec_of(index, x):
    """Split a user index into (hashable spec, list of integer index tensors)."""
    if not isinstance(index, tuple):
        index = (index,)
    spec, arrays = [], []
    pos = 0  # the dim of x that the next index item applies to
    for item in index:
        if item is None:
            spec.append(("n",))
            continue
        elif item is Ellipsis:
            spec.append(("e",))
            pos += x.ndim - builtins.sum(_dims_consumed(i) for i in index)
            continue
        elif isinstance(item, slice):
            parts = [None if v is None else _index_int(v) for v in (item.start, item.stop, item.step)]
            spec.append(("s", *parts))
        elif isinstance(item, (builtins.bool, np.bool_)):
            raise IndexError("indexing with a Python bool is not supported; use a boolean tensor mask")
        elif isinstance(item, (builtins.int, np.integer)):
            spec.append(("i", builtins.int(item)))
        else:
            arr = as_tensor_operand(item)
            if arr.dtype == dtypes.bool_:
                _check_mask_shape(arr.shape, x.shape, pos)
                pos += arr.ndim
                if isinstance(arr._data, Symbolic):
                    raise TypeError("boolean-mask indexing has a data-dependent shape and cannot be traced; "
                                    "use jitgrad.where(mask, x, 0) instead")
                for part in np.nonzero(arr._data):
                    spec.append(("a", len(arrays)))
                    arrays.append(lift(part, dtypes.int64, arr))
                continue
            if dtypes.is_floating(arr.dtype):
                raise IndexError("tensors used as indices must be long, int or bool tensors, got "
                                 f"{dtypes.name(arr.dtype)}")
            spec.append(("a", len(arrays)))
            arrays.append(arr)
        pos += 1
    return tuple(spec), arrays


def _dims_consumed(item) -> int:
    """How many dims of the indexed tensor an index item uses (a boolean mask: its ndim)."""
    if item is None or item is Ellipsis:
        return 0
    if isinstance(item, (TensorBase, np.ndarray)) and item.dtype in (np.bool_, dtypes.bool_):
        return item.ndim
    return 1


def _check_mask_shape(mask_shape: tuple, shape: tuple, pos: int) -> None:
    """A boolean mask must match the dims it indexes (PyTorch's IndexError)."""
    for k, size in enumerate(mask_shape):
        d = pos + k
        if d >= len(shape) or shape[d] != size:
            raise IndexError(f"The shape of the mask {list(mask_shape)} at index {k} does not match the shape of "
                             f"the indexed tensor {list(shape)} at index {d}")


def _index_int(v):
    if isinstance(v, TensorBase):
        raise TypeError("slice bounds must be Python ints, not tensors")
    return builtins.int(v)


def getitem(x, index):
    """x[index]: ints, slices, None, Ellipsis, integer arrays/tensors, boolean masks."""
    x = as_tensor_operand(x)
    spec, arrays = _spec_of(index, x)
    return bind(GETITEM, x, *arrays, spec=spec)


def getitem_spec(x, spec, arrays):
    return bind(GETITEM, x, *arrays, spec=spec)


def unindex(g, *arrays, spec, shape):
    """Zeros of `shape` with g added at x[index] (the VJP of indexing; repeats accumulate)."""
    return bind(UNINDEX, g, *arrays, spec=spec, shape=tuple(shape))


def _setitem_rule(x, v, *arrays, spec):
    target = _probe(x.shape, spec, [a._data if isinstance(a, TensorBase) else a for a in arrays])
    shapes.broadcast(target, v.shape)
    if shapes.broadcast(target, v.shape) != target:
        raise RuntimeError(f"shape mismatch: value tensor of shape {tuple(v.shape)} cannot be broadcast to "
                           f"indexing result of shape {target}")
    return x.shape, x.dtype


def _setitem_impl(x, v, *arrays, spec):
    out = x.copy()
    if arrays:  # v is shaped as PyTorch's x[index]: broadcast, then in NumPy's order
        v = _to_torch_order(np.broadcast_to(v, _probe(x.shape, spec, arrays)), spec, arrays, x.ndim, inverse=True)
    out[_index_of(spec, arrays)] = v
    return out


def _setitem_vjp(g, out, x, v, *arrays, spec):
    gx = None
    if _needs(x):
        gx = setitem_spec(g, lift(0, g.dtype, g), spec, arrays)
    gv = unbroadcast(getitem_spec(g, spec, arrays), v.shape) if _needs(v) else None
    return (gx, gv) + (None,) * len(arrays)


SETITEM = Primitive("setitem", _setitem_impl, _setitem_rule, _setitem_vjp, INDEX,
                    lambda p, s: "IndexPutBackward0" if any(i[0] == "a" for i in p["spec"]) else "CopySlices",
                    params=("spec",))


def setitem(x, index, value):
    """Out-of-place x[index] = value (the in-place form is Tensor.__setitem__)."""
    x = as_tensor_operand(x)
    spec, arrays = _spec_of(index, x)
    value = _promoted(x, value)[1]
    return bind(SETITEM, x, value, *arrays, spec=spec)


def setitem_spec(x, value, spec, arrays):
    return bind(SETITEM, x, value, *arrays, spec=spec)


def _gather_rule(x, index, dim):
    if index.ndim != x.ndim:
        raise RuntimeError(f"gather: index tensor must have the same number of dimensions as input "
                           f"({index.ndim} vs {x.ndim})")
    for d in range(x.ndim):
        if d != dim and index.shape[d] > x.shape[d]:
            raise RuntimeError(f"gather: size of index {tuple(index.shape)} exceeds input {tuple(x.shape)} "
                               f"at dimension {d}")
    return tuple(index.shape), x.dtype


def _gather_impl(x, index, dim):
    trimmed = x[tuple(slice(0, s) if d != dim else slice(None) for d, s in enumerate(index.shape))]
    _check_along(index, dim, x.shape[dim], "gather")
    return np.take_along_axis(trimmed, index, axis=dim)


def _check_along(index, dim, size, op):
    """gather/scatter_add indices lie in [0, size) (no negative ones, as in PyTorch): the first
    offending one is named, in the same words as the compiled kernels' bounds check."""
    bad = np.flatnonzero((index < 0) | (index >= size))
    if bad.size:
        raise RuntimeError(f"{op}(): index {builtins.int(index.reshape(-1)[bad[0]])} is out of bounds for "
                           f"dimension {dim} with size {size}")


def _scatter_add_impl(g, index, dim, shape):
    _check_along(index, dim, shape[dim], "scatter_add")
    out = np.zeros(shape, dtype=g.dtype)
    grid = list(np.indices(index.shape, sparse=True))
    grid[dim] = index
    np.add.at(out, tuple(grid), g)
    return out


GATHER = Primitive("gather", _gather_impl, _gather_rule,
                   lambda g, out, x, index, dim: (scatter_add_to(g, index, dim, x.shape), None),
                   INDEX, "GatherBackward0", params=("dim",))
SCATTER_ADD = Primitive("scatter_add", _scatter_add_impl, lambda g, index, dim, shape: (tuple(shape), g.dtype),
                        lambda gg, out, g, index, dim, shape: (gather(gg, dim, index), None),
                        INDEX, "ScatterAddBackward0", params=("dim", "shape"))


def gather(x, dim, index):
    """out[i][j] = x[index[i][j]][j] for dim=0 (PyTorch's gather)."""
    x = as_tensor_operand(x)
    index = as_tensor_operand(index)
    if dtypes.is_floating(index.dtype) or index.dtype == dtypes.bool_:
        raise RuntimeError(f"gather(): Expected dtype int64 for index, got {dtypes.name(index.dtype)}")
    return bind(GATHER, x, index, dim=shapes.normalize_dim(dim, x.ndim))


def scatter_add_to(g, index, dim, shape):
    """Zeros of `shape` with g added at the gather positions (the VJP of gather)."""
    return bind(SCATTER_ADD, g, index, dim=dim, shape=tuple(shape))


# Every declared primitive, for the table-driven tests and the back ends.
ALL = (NEG, ABS, SIGN, EXP, EXPM1, LOG, LOG1P, SQRT, SIN, COS, TAN, TANH, SIGMOID, RELU, CAST, CLONE,
       STOP_GRADIENT,
       TO_DEVICE,
       ADD, SUB, MUL, DIV, POW, POW_SCALAR, RSUB_SCALAR, RPOW_SCALAR, RECIPROCAL, MAXIMUM, MINIMUM, CLAMP, WHERE,
       EQ, NE, LT, LE, GT, GE, LOGICAL_AND, LOGICAL_OR, LOGICAL_NOT,
       SUM, MEAN, AMAX, AMIN, MAX, MIN, MAX_DIM, MIN_DIM, PROD, NORM, VAR, STD, ARGMAX, ARGMIN,
       MATMUL_PRIM, RESHAPE, EXPAND, PERMUTE, TRANSPOSE, SQUEEZE, UNSQUEEZE, CAT, STACK,
       GETITEM, UNINDEX, SETITEM, GATHER, SCATTER_ADD) + CONV_PRIMS
BY_NAME = {p.name: p for p in ALL}
