"""Elementwise math ops of math_ops.py beyond the op table: integer and special-value inputs,
Python-bool results, and their errors, each against PyTorch."""
from __future__ import annotations

import numpy as np
import pytest

import jitgrad

torch = pytest.importorskip("torch")


def _same(jg_out, th_out):
    assert str(jg_out.dtype).replace("jitgrad.", "") in str(th_out.dtype)
    np.testing.assert_array_equal(jg_out.numpy(), th_out.numpy())


@pytest.mark.parametrize("op", ["fmod", "remainder"])
def test_integer_modulo_matches_torch(op):
    a, b = [5, -5, 7, -7, 0], [3, 3, -2, -2, 4]
    expected = getattr(torch, op)(torch.tensor(a), torch.tensor(b))
    _same(getattr(jitgrad, op)(jitgrad.tensor(a), jitgrad.tensor(b)), expected)
    compiled = jitgrad.jit(lambda x, y: getattr(jitgrad, op)(x, y))
    _same(compiled(jitgrad.tensor(a), jitgrad.tensor(b)), expected)


def test_integer_modulo_by_zero_is_refused():
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        jitgrad.remainder(jitgrad.tensor([1, 2]), jitgrad.tensor([1, 0]))


def test_nan_to_num_defaults_match_torch():
    values = [np.nan, np.inf, -np.inf, 1.5]
    for dtype in (jitgrad.float32, jitgrad.float64):
        th_dtype = torch.float32 if dtype == jitgrad.float32 else torch.float64
        x, t = jitgrad.tensor(values, dtype=dtype), torch.tensor(values, dtype=th_dtype)
        _same(jitgrad.nan_to_num(x), torch.nan_to_num(t))
        _same(jitgrad.jit(lambda v: v.nan_to_num(posinf=2.0))(x), t.nan_to_num(posinf=2.0))


def test_special_value_predicates_match_torch():
    values = [np.nan, np.inf, -np.inf, -0.0, 0.0, -1.0]
    x, t = jitgrad.tensor(values), torch.tensor(values)
    for op in ("isnan", "isinf", "isfinite", "signbit"):
        _same(getattr(jitgrad, op)(x), getattr(torch, op)(t))
    ints = jitgrad.tensor([1, -2]), torch.tensor([1, -2])
    for op in ("isnan", "isinf", "isfinite", "signbit"):
        _same(getattr(ints[0], op)(), getattr(ints[1], op)())


def test_isin_and_invert_match_torch():
    e, t = [[1, 2], [3, 4]], [2, 4, 9]
    _same(jitgrad.isin(jitgrad.tensor(e), jitgrad.tensor(t)), torch.isin(torch.tensor(e), torch.tensor(t)))
    _same(jitgrad.isin(jitgrad.tensor(e), jitgrad.tensor(t), invert=True),
          torch.isin(torch.tensor(e), torch.tensor(t), invert=True))


@pytest.mark.parametrize("kw", [{}, {"rtol": 0.0, "atol": 0.2}, {"equal_nan": True}])
def test_isclose_allclose_match_torch(kw):
    a = [1.0, np.inf, -np.inf, np.nan, 2.0, 1.0]
    b = [1.0 + 1e-7, np.inf, np.inf, np.nan, 2.1, np.inf]
    expected = torch.isclose(torch.tensor(a), torch.tensor(b), **kw)
    _same(jitgrad.isclose(jitgrad.tensor(a), jitgrad.tensor(b), **kw), expected)
    assert jitgrad.allclose(jitgrad.tensor(a[:1]), jitgrad.tensor(b[:1]), **kw) is torch.allclose(
        torch.tensor(a[:1]), torch.tensor(b[:1]), **kw)
    assert jitgrad.tensor(a).allclose(jitgrad.tensor(b), **kw) is torch.tensor(a).allclose(torch.tensor(b), **kw)


def test_isclose_refuses_negative_tolerances():
    with pytest.raises(RuntimeError, match="rtol and atol must be non-negative"):
        jitgrad.isclose(jitgrad.tensor([1.0]), jitgrad.tensor([1.0]), atol=-1.0)


def test_modulo_of_bools_is_refused():
    with pytest.raises(RuntimeError, match="not implemented for 'Bool'"):
        jitgrad.fmod(jitgrad.tensor([True]), jitgrad.tensor([True]))


def test_integer_inputs_of_float_functions_give_the_default_float():
    for op in ("asin", "erf", "log2", "rsqrt", "sinc", "deg2rad"):
        _same(getattr(jitgrad, op)(jitgrad.tensor([1, 0])), getattr(torch, op)(torch.tensor([1, 0])))
