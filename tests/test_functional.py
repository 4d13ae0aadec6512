"""jitgrad.autograd.functional against torch.autograd.functional: values, result structure
(tensors vs tuples, tuples of tuples), strict-mode errors and create_graph."""
from __future__ import annotations

import numpy as np
import pytest

import jitgrad as jg
from jitgrad.autograd import functional as jf

torch = pytest.importorskip("torch")
TF = torch.autograd.functional

RNG = np.random.default_rng(7)
A = RNG.standard_normal(3)
B = RNG.standard_normal((2, 3))
C = RNG.standard_normal(2)
V3 = RNG.standard_normal(3)
V2 = RNG.standard_normal(2)
V23 = RNG.standard_normal((2, 3))


def jt(*arrays):
    return tuple(jg.tensor(a, dtype=jg.float64) for a in arrays)


def tt(*arrays):
    return tuple(torch.tensor(a, dtype=torch.float64) for a in arrays)


def assert_same(ours, theirs, atol=1e-10):
    """Same nesting (tensor / tuple / tuple of tuples) and same values."""
    if isinstance(theirs, tuple):
        assert isinstance(ours, tuple) and len(ours) == len(theirs), (type(ours), ours)
        for o, t in zip(ours, theirs, strict=True):
            assert_same(o, t, atol)
        return
    assert isinstance(ours, jg.Tensor), type(ours)
    assert tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), atol=atol, rtol=1e-9)


# Each case: a function written once against a namespace `m` (jitgrad or torch), and its inputs.
def f_unary(m, x):
    return m.sin(x) * x


def f_scalar(m, x):
    return (m.exp(x) * x).sum()


def f_two_in(m, x, y):
    return (x * y).sum(0) + m.tanh(x).prod(0)


def f_two_out(m, x):
    return x * x, m.sin(x).sum()


def f_tuple_tuple(m, x, y):
    return x.sum() * y, m.exp(y) + x[0]


def f_scalar_two(m, x, y):
    return (x.sum(0) * m.sin(y.sum()) * x.sum(0)).sum() + (y * y * y).sum()


JACOBIAN_CASES = [
    ("unary", f_unary, (A,)),
    ("scalar_out", f_scalar, (A,)),
    ("two_inputs", f_two_in, (B, B + 0.5)),
    ("two_outputs", f_two_out, (A,)),
    ("tuple_in_tuple_out", f_tuple_tuple, (A, C)),
]


def call(fn, m, inputs_are_tuple):
    return (lambda *xs: fn(m, *xs)) if inputs_are_tuple else (lambda x: fn(m, x))


def pack(values, as_tuple):
    return values if as_tuple else values[0]


# a single input is passed both bare and as a 1-tuple; several inputs only as a tuple
JACOBIAN_PARAMS = [pytest.param(fn, arrays, as_tuple, id=f"{name}-{'tuple' if as_tuple else 'tensor'}")
                   for name, fn, arrays in JACOBIAN_CASES for as_tuple in (True, False)
                   if as_tuple or len(arrays) == 1]


@pytest.mark.parametrize("fn,arrays,as_tuple", JACOBIAN_PARAMS)
def test_jacobian_matches_torch(fn, arrays, as_tuple):
    ours = jf.jacobian(call(fn, jg, True), pack(jt(*arrays), as_tuple))
    theirs = TF.jacobian(call(fn, torch, True), pack(tt(*arrays), as_tuple))
    assert_same(ours, theirs)


def test_jacobian_independent_output_gives_zeros_or_strict_error():
    def f(m, x, y):
        return x * 2.0

    ours = jf.jacobian(lambda x, y: f(jg, x, y), jt(A, C))
    theirs = TF.jacobian(lambda x, y: f(torch, x, y), tt(A, C))
    assert_same(ours, theirs)
    with pytest.raises(RuntimeError, match="independent of input 1"):
        jf.jacobian(lambda x, y: f(jg, x, y), jt(A, C), strict=True)
    with pytest.raises(RuntimeError, match="independent of input 1"):
        TF.jacobian(lambda x, y: f(torch, x, y), tt(A, C), strict=True)


def test_jacobian_strict_rejects_an_output_that_needs_no_grad():
    with pytest.raises(RuntimeError, match="Output 0 .* does not require gradients"):
        jf.jacobian(lambda x: jg.ones(3, dtype=jg.float64), jt(A)[0], strict=True)
    ours = jf.jacobian(lambda x: jg.ones(2, dtype=jg.float64), jt(A)[0])
    assert_same(ours, torch.zeros(2, 3, dtype=torch.float64))


def test_jacobian_create_graph_is_differentiable():
    x = jt(A)[0].requires_grad_()
    jac = jf.jacobian(lambda a: a.sin() * a, x, create_graph=True)
    assert jac.requires_grad
    jac.sum().backward()
    xt = tt(A)[0].requires_grad_()
    TF.jacobian(lambda a: a.sin() * a, xt, create_graph=True).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), atol=1e-12)


def test_jacobian_without_create_graph_is_detached():
    x = jt(A)[0].requires_grad_()
    jac = jf.jacobian(lambda a: a * a, x)
    assert not jac.requires_grad and jac.grad_fn is None
    assert x.grad is None  # the function was run on a detached copy


def test_vectorize_is_accepted_and_strict_with_vectorize_is_refused():
    assert_same(jf.jacobian(lambda a: a * a, jt(A)[0], vectorize=True),
                TF.jacobian(lambda a: a * a, tt(A)[0]))  # (torch's vectorize=True costs seconds of vmap set-up)
    with pytest.raises(RuntimeError, match="strict"):
        jf.jacobian(lambda a: a * a, jt(A)[0], strict=True, vectorize=True)
    with pytest.raises(ValueError, match="strategy"):
        jf.jacobian(lambda a: a * a, jt(A)[0], strategy="sideways")


@pytest.mark.parametrize("as_tuple", [False, True])
def test_hessian_matches_torch(as_tuple):
    if as_tuple:
        ours = jf.hessian(lambda x, y: f_scalar_two(jg, x, y), jt(B, C))
        theirs = TF.hessian(lambda x, y: f_scalar_two(torch, x, y), tt(B, C))
    else:
        ours = jf.hessian(lambda x: f_scalar(jg, x), jt(A)[0])
        theirs = TF.hessian(lambda x: f_scalar(torch, x), tt(A)[0])
    assert_same(ours, theirs)


def test_hessian_create_graph_gives_third_derivatives():
    x = jt(A)[0].requires_grad_()
    h = jf.hessian(lambda a: (a ** 4).sum(), x, create_graph=True)
    h.sum().backward()  # d/dx sum(diag(12 x^2)) = 24 x
    np.testing.assert_allclose(x.grad.numpy(), 24 * A, rtol=1e-12)


def test_hessian_needs_a_single_element_output():
    with pytest.raises(RuntimeError, match="single element"):
        jf.hessian(lambda a: a * a, jt(A)[0])
    with pytest.raises(RuntimeError, match="single Tensor"):
        jf.hessian(lambda a: (a.sum(), a.sum()), jt(A)[0])


def test_hessian_strict_flags_a_linear_function():
    with pytest.raises(RuntimeError, match="independent"):
        jf.hessian(lambda a: (a * 3.0).sum(), jt(A)[0], strict=True)
    assert_same(jf.hessian(lambda a: (a * 3.0).sum(), jt(A)[0]), torch.zeros(3, 3, dtype=torch.float64))


@pytest.mark.parametrize("fn_name", ["vjp", "jvp"])
@pytest.mark.parametrize("case", ["tensor", "tuples"])
def test_vjp_jvp_match_torch(fn_name, case):
    ours_fn, theirs_fn = getattr(jf, fn_name), getattr(TF, fn_name)
    if case == "tensor":
        args, v_out, v_in = (A,), V3, V3
        fj, ft = (lambda x: f_unary(jg, x)), (lambda x: f_unary(torch, x))
        inj, intt = jt(A)[0], tt(A)[0]
        v = v_out if fn_name == "vjp" else v_in
        vj, vt = jt(v)[0], tt(v)[0]
    else:
        args = (A, C)
        fj, ft = (lambda x, y: f_tuple_tuple(jg, x, y)), (lambda x, y: f_tuple_tuple(torch, x, y))
        inj, intt = jt(*args), tt(*args)
        v = (V2, V2 * 0.5) if fn_name == "vjp" else (V3, V2)
        vj, vt = jt(*v), tt(*v)
    assert_same(ours_fn(fj, inj, vj), theirs_fn(ft, intt, vt))


def test_vjp_default_v_only_for_single_element_outputs():
    assert_same(jf.vjp(lambda x: f_scalar(jg, x), jt(A)[0]), TF.vjp(lambda x: f_scalar(torch, x), tt(A)[0]))
    with pytest.raises(RuntimeError, match="v can only be None"):
        jf.vjp(lambda x: x * x, jt(A)[0])


def test_jvp_default_v_only_for_single_element_inputs():
    one = np.array([0.3])
    assert_same(jf.jvp(lambda x: x.exp() * 2, jt(one)[0]), TF.jvp(lambda x: x.exp() * 2, tt(one)[0]))
    with pytest.raises(RuntimeError, match="v can only be None"):
        jf.jvp(lambda x: x * x, jt(A)[0])


def test_v_shape_and_length_are_checked():
    with pytest.raises(RuntimeError, match="invalid size"):
        jf.vjp(lambda x: x * x, jt(A)[0], jt(V2)[0])
    with pytest.raises(RuntimeError, match="invalid length"):
        jf.jvp(lambda x, y: x * y, jt(A, A), jt(V3))
    with pytest.raises(TypeError, match="must be either a Tensor or a tuple of Tensors"):
        jf.vjp(lambda x: x, A)
    with pytest.raises(TypeError, match="outputs of the user-provided function"):
        jf.jacobian(lambda x: 3.0, jt(A)[0])


def test_vjp_strict_and_non_strict_on_unused_input():
    ours = jf.vjp(lambda x, y: x * 2.0, jt(A, C), jt(V3)[0])
    theirs = TF.vjp(lambda x, y: x * 2.0, tt(A, C), tt(V3)[0])
    assert_same(ours, theirs)
    with pytest.raises(RuntimeError, match="independent of input 1"):
        jf.vjp(lambda x, y: x * 2.0, jt(A, C), jt(V3)[0], strict=True)


def test_jvp_strict_on_constant_output():
    with pytest.raises(RuntimeError, match="strict"):
        jf.jvp(lambda x: jg.ones(3, dtype=jg.float64), jt(A)[0], jt(V3)[0], strict=True)
    out, tangent = jf.jvp(lambda x: jg.ones(3, dtype=jg.float64), jt(A)[0], jt(V3)[0])
    np.testing.assert_array_equal(tangent.numpy(), np.zeros(3))


@pytest.mark.parametrize("fn_name", ["hvp", "vhp"])
@pytest.mark.parametrize("case", ["tensor", "tuples"])
def test_hvp_vhp_match_torch(fn_name, case):
    ours_fn, theirs_fn = getattr(jf, fn_name), getattr(TF, fn_name)
    if case == "tensor":
        ours = ours_fn(lambda x: f_scalar(jg, x), jt(A)[0], jt(V3)[0])
        theirs = theirs_fn(lambda x: f_scalar(torch, x), tt(A)[0], tt(V3)[0])
    else:
        ours = ours_fn(lambda x, y: f_scalar_two(jg, x, y), jt(B, C), jt(V23, V2))
        theirs = theirs_fn(lambda x, y: f_scalar_two(torch, x, y), tt(B, C), tt(V23, V2))
    assert_same(ours, theirs)


def test_hvp_needs_scalar_function():
    with pytest.raises(RuntimeError, match="single element"):
        jf.hvp(lambda x: x * x, jt(A)[0], jt(V3)[0])
    with pytest.raises(RuntimeError, match="single element"):
        jf.vhp(lambda x: x * x, jt(A)[0], jt(V3)[0])


@pytest.mark.parametrize("fn_name", ["vjp", "jvp", "hvp", "vhp"])
def test_products_with_create_graph_are_differentiable(fn_name):
    fn = (lambda m, x: (m.sin(x) * x * x).sum()) if fn_name in ("hvp", "vhp") else (lambda m, x: m.sin(x) * x)
    x = jt(A)[0].requires_grad_()
    xt = tt(A)[0].requires_grad_()
    out, prod = getattr(jf, fn_name)(lambda a: fn(jg, a), x, jt(V3)[0], create_graph=True)
    out_t, prod_t = getattr(TF, fn_name)(lambda a: fn(torch, a), xt, tt(V3)[0], create_graph=True)
    assert prod.requires_grad and out.requires_grad
    (prod * prod).sum().backward()
    (prod_t * prod_t).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), atol=1e-10)


def test_results_match_for_float32_inputs():
    x = jg.tensor(A, dtype=jg.float32)
    jac = jf.jacobian(lambda a: a.exp(), x)
    assert jac.dtype == jg.float32
    np.testing.assert_allclose(jac.numpy(), np.diag(np.exp(A)), rtol=1e-5)
