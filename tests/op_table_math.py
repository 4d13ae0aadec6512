"""Op-table cases of the elementwise math ops of math_ops.py (added to op_table.CASES, so
gradcheck to second order, the PyTorch oracle and the compiled-vs-eager checks run on them)."""
from __future__ import annotations

_COMPOSED = "torch records one native node; jitgrad composes the op from primitives"
_SCALAR_OTHER = "torch names the Tensor-Tensor overload ...Backward1 (checked by the tensor-other case)"


def add_cases(case, s) -> None:
    """Register the cases through op_table's `case` and spec helper `s`."""
    def unary(op, **kw):
        return lambda m, x: getattr(m, op)(x, **kw)

    def method(op, *args):
        return lambda m, x: getattr(x, op)(*args)

    for op, domain in [("asin", "unit"), ("acos", "unit"), ("atan", "real"), ("sinh", "real"), ("cosh", "real"),
                       ("asinh", "real"), ("atanh", "unit"), ("erf", "real"), ("erfc", "real"), ("exp2", "real"),
                       ("log2", "pos"), ("log10", "pos"), ("rsqrt", "pos"), ("sinc", "away"), ("square", "real")]:
        prim = "pow_scalar" if op == "square" else op
        case(op, prim, unary(op), s(3, 4, domain=domain))
        case(f"{op}-method", prim, method(op), s(5, domain=domain))
    case("acosh", "acosh", lambda m, x: m.acosh(x + 1.5), s(3, 4, domain="pos"))
    case("acosh-method", "acosh", lambda m, x: (x + 1.2).acosh(), s(5, domain="pos"))
    case("arcsin-alias", "asin", lambda m, x: m.arcsin(x), s(4, domain="unit"))
    case("arctan2-alias", "atan2", lambda m, y, x: m.arctan2(y, x), s(4), s(4, domain="away"))
    case("sinc-at-zero", "sinc", unary("sinc"), s(5, domain="one_zero"),
         no_second_order="at 0 the first derivative is masked to 0 (as torch masks it): no second derivative there")
    case("erf-float-composed", "erf mul exp", lambda m, x: m.erf(x) * m.exp(x), s(2, 3))
    case("deg2rad", "mul", unary("deg2rad"), s(3, 2), no_node_name=_COMPOSED)
    case("rad2deg", "mul", method("rad2deg"), s(3, 2), no_node_name=_COMPOSED)

    case("atan2", "atan2", lambda m, y, x: m.atan2(y, x), s(3, 4), s(3, 4, domain="away"))
    case("atan2-broadcast", "atan2", lambda m, y, x: y.atan2(x), s(3, 1), s(4, domain="away"))
    case("hypot", "hypot", lambda m, x, y: m.hypot(x, y), s(3, 4, domain="away"), s(4, domain="away"))
    case("fmod", "fmod", lambda m, x, y: m.fmod(x, y), s(3, 4), s(3, 4, domain="away"))
    case("fmod-broadcast", "fmod", lambda m, x, y: x.fmod(y), s(2, 3), s(3, domain="away"))
    case("remainder", "remainder", lambda m, x, y: m.remainder(x, y), s(3, 4), s(3, 4, domain="away"))
    case("remainder-operator", "remainder", lambda m, x, y: x % y, s(2, 3), s(3, domain="away"))
    case("floor_divide", "floor_divide", lambda m, x, y: m.floor_divide(x, y), s(3, 4), s(3, 4, domain="away"),
         torch_fn=lambda t, x, y: t.div(x, y, rounding_mode="floor"))
    case("floor_divide-operator", "floor_divide", lambda m, x, y: x // y, s(2, 3), s(3, domain="away"),
         torch_fn=lambda t, x, y: t.div(x, y, rounding_mode="floor"))
    case("floor_divide-rscalar", "floor_divide", lambda m, x: 1.0 // x, s(2, 3, domain="away"),
         torch_fn=lambda t, x: t.div(t.ones_like(x), x, rounding_mode="floor"), no_node_name=_SCALAR_OTHER)
    case("all-any", "logical_not ne sum eq gt",
         lambda m, x: (x.all(), m.all(x, dim=1), x.any(0, keepdim=True), m.any(x > 1)), s(3, 4, domain="ints"),
         grad=False)
    case("fmod-scalar", "fmod", lambda m, x: m.fmod(x, 0.7), s(3, 4), no_node_name=_SCALAR_OTHER)
    case("remainder-scalar", "remainder", lambda m, x: x % 0.7, s(3, 4), no_node_name=_SCALAR_OTHER)

    case("nan_to_num", "nan_to_num log", lambda m, x: m.nan_to_num(m.log(x)), s(3, 4, domain="away"))
    case("nan_to_num-values", "nan_to_num div", lambda m, x: (x / (x - x.detach())).nan_to_num(1.5, 7.0, -3.0),
         s(3, 4, domain="away"),
         no_gradcheck="every element is +-inf or nan: the masked gradient is 0 (checked against torch)")
    case("clamp_min", "clamp", lambda m, x: m.clamp_min(x, -0.5), s(3, 4, domain="clamp_safe"),
         no_node_name="torch names it ClampMinBackward0; jitgrad records clamp (ClampBackward1)")
    case("clamp_max-method", "clamp", method("clamp_max", 0.5), s(3, 4, domain="clamp_safe"),
         no_node_name="torch names it ClampMaxBackward0; jitgrad records clamp (ClampBackward1)")
    case("clamp_min-tensor", "maximum", lambda m, x, y: x.clamp_min(y), s(3, 4, domain="distinct"),
         s(4, domain="distinct"), no_node_name="torch names it ClampMinBackward1; jitgrad records maximum")

    case("signbit", "signbit", unary("signbit"), s(3, 4), grad=False)
    case("isnan", "ne log", lambda m, x: m.isnan(m.log(x)), s(3, 4, domain="ints"), grad=False)
    case("isinf", "eq abs log", lambda m, x: m.log(x).isinf(), s(3, 4, domain="ints"), grad=False)
    case("isfinite", "eq ne logical_and", lambda m, x: m.log(x).isfinite(), s(3, 4, domain="ints"), grad=False)
    case("isin", "eq sum gt", lambda m, x, y: m.isin(x, y), s(3, 4, domain="ints"), s(5, domain="ints"), grad=False)
    case("isclose", "le sub eq", lambda m, x, y: m.isclose(x, y, rtol=0.1, atol=0.5), s(3, 4), s(4), grad=False)
    case("isclose-equal-nan", "le ne", lambda m, x: x.log().isclose(x.log(), equal_nan=True), s(3, 4, domain="ints"),
         grad=False)
