"""Tests for kernels.vmath: accuracy, special values, vectorisation, CUDA simulator."""
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from numba import njit
from vmath_kernels import asm, run

from jitgrad._kernels import vmath as vm
from jitgrad._kernels.vmath import _prims

UNARY = [op for op in vm.FUNCTIONS if vm.ARITY[op] == 1]
DTYPES = [np.float32, np.float64]
BOUND = {np.float32: 2.0, np.float64: 4.0}


def reference(op, x):
    """Long-double (float64 for erf) reference values."""
    ld = np.asarray(x, np.longdouble)
    with np.errstate(all='ignore'):
        if op == 'erf':
            return np.array([math.erf(float(v)) for v in x], np.longdouble)
        if op == 'sigmoid':
            return 1 / (1 + np.exp(-ld))
        if op == 'rsqrt':
            return 1 / np.sqrt(ld)
        return getattr(np, op)(ld)


def ulp_error(got, ref, dtype):
    """Elementwise |got - ref| in ulps of ref rounded to dtype (0 where both agree)."""
    with np.errstate(all='ignore'):
        r = ref.astype(dtype)
        err = np.abs(got.astype(np.longdouble) - ref) / np.spacing(np.abs(r)).astype(np.longdouble)
    same = (got == r) | (np.isnan(got) & np.isnan(r))
    bad = ~same & (np.isnan(got) | np.isnan(r) | np.isinf(got) | np.isinf(r))
    return np.where(same, 0.0, np.where(bad, np.inf, err.astype(np.float64)))


def samples(op, dtype, n=4000, seed=0):
    """Inputs covering each op's interesting range, log-uniform and linear."""
    rng = np.random.default_rng(seed)
    lo, hi = {'exp': (-110, 90), 'expm1': (-20, 90), 'exp2': (-155, 130), 'tanh': (-12, 12),
              'sigmoid': (-110, 40), 'erf': (-5, 5), 'sin': (-1e4, 1e4), 'cos': (-1e4, 1e4),
              'tan': (-1e4, 1e4)}.get(op, (-100, 100))
    if dtype == np.float64 and op in ('exp', 'expm1', 'exp2', 'sigmoid'):
        lo, hi = lo * 7, hi * 7.9
    mag = np.exp2(rng.uniform(-40, 20, n)) * rng.choice([-1, 1], n)
    x = np.concatenate([mag, rng.uniform(lo, hi, n)])
    if op in ('log', 'log2', 'sqrt', 'rsqrt'):
        x = np.abs(x) * np.exp2(rng.integers(-140, 100, x.size)).astype(np.float64)
        x = np.where(x > 0, x, 1.0)
    if op == 'log1p':
        x = np.where(x < -1, np.abs(x), x)
    if op in ('sin', 'cos', 'tan'):
        x = np.clip(x, -1e5, 1e5)
    x = x.astype(dtype)
    return x[np.isfinite(x)]


@pytest.mark.parametrize('dtype', DTYPES, ids=['f32', 'f64'])
@pytest.mark.parametrize('op', UNARY)
def test_accuracy(op, dtype):
    """Max error stays within 2 ulp (float32) / 4 ulp (float64) on sampled inputs."""
    x = samples(op, dtype)
    err = ulp_error(run(op, dtype, x), reference(op, x), dtype)
    worst = int(np.argmax(err))
    assert err[worst] <= BOUND[dtype], (op, x[worst], err[worst])


SPECIAL = [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 0.5, -0.5, 2.0, 1e-30, -1e-30,
           1e-40, -1e-40, 5e-324, 1e30, -1e30, 3.4e38, -3.4e38, 1e300, -1e300, 88.72, 88.73,
           -87.4, -103.9, -104.0, 709.78, 709.79, -745.1, -745.2, 127.9, 128.0, -149.0,
           -150.0, -1074.0, 1024.0]


def expected_special(op, x):
    """NumPy's own result at special inputs (the behaviour we must reproduce)."""
    with np.errstate(all='ignore'):
        if op == 'erf':
            return np.array([math.erf(v) if not math.isnan(v) else math.nan for v in x], x.dtype)
        if op == 'sigmoid':
            return (1 / (1 + np.exp(-x.astype(np.longdouble)))).astype(x.dtype)
        if op == 'rsqrt':
            return (1 / np.sqrt(x.astype(np.longdouble))).astype(x.dtype)
        return getattr(np, op)(x.astype(np.longdouble)).astype(x.dtype)


@pytest.mark.parametrize('dtype', DTYPES, ids=['f32', 'f64'])
@pytest.mark.parametrize('op', UNARY)
def test_special_values(op, dtype):
    """+-0 (with sign), +-inf, NaN, subnormals and overflow/underflow edges match NumPy."""
    with np.errstate(all='ignore'):
        x = np.array(SPECIAL, np.float64).astype(dtype)
    if op in ('sin', 'cos', 'tan'):
        x = x[~(np.abs(x) > 2.0**20)]
    got = run(op, dtype, x)
    exp = expected_special(op, x)
    for xi, g, e in zip(x, got, exp, strict=True):
        if np.isnan(e):
            assert np.isnan(g), (op, xi, g)
        elif np.isinf(e) or e == 0:
            assert g == e and np.signbit(g) == np.signbit(e), (op, xi, g, e)
        else:
            err = ulp_error(np.array([g]), np.array([e], np.longdouble), dtype)[0]
            assert err <= 1.0, (op, xi, g, e)


POW_X = [0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, np.inf, -np.inf, np.nan, 3.0, 1e-40]
POW_Y = [0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 3.0, -3.0, 0.5, -0.5, np.inf, -np.inf, np.nan,
         2.0**30 + 1, 2.0**60, 1e10, 130.0, -150.0]


@pytest.mark.parametrize('dtype', DTYPES, ids=['f32', 'f64'])
def test_pow_special_cases(dtype):
    """pow's C99 special cases (zero/inf/nan bases, odd/even integer exponents) match np.power."""
    with np.errstate(all='ignore'):
        xx, yy = np.meshgrid(np.array(POW_X, dtype), np.array(POW_Y, np.float64).astype(dtype))
        x, y = xx.ravel(), yy.ravel()
        exp = np.power(x, y)
    got = run('pow', dtype, x, y)
    err = ulp_error(got, exp.astype(np.longdouble), dtype)
    sign_ok = (np.signbit(got) == np.signbit(exp)) | np.isnan(exp)
    bad = (err > 1) | ~sign_ok
    assert not bad.any(), list(zip(x[bad], y[bad], got[bad], exp[bad], strict=True))


@pytest.mark.parametrize('dtype', DTYPES, ids=['f32', 'f64'])
def test_pow_accuracy(dtype):
    """Random positive bases, and negative bases with integer exponents."""
    rng = np.random.default_rng(3)
    n = 4000
    x = np.exp2(rng.uniform(-20, 20, n))
    y = rng.uniform(-30, 30, n)
    neg = rng.random(n) < 0.3
    y = np.where(neg, np.round(y), y)
    x = np.where(neg, -x, x)
    x, y = x.astype(dtype), y.astype(dtype)
    with np.errstate(all='ignore'):
        ref = np.power(x.astype(np.longdouble), y.astype(np.longdouble))
    err = ulp_error(run('pow', dtype, x, y), ref, dtype)
    worst = int(np.argmax(err))
    assert err[worst] <= BOUND[dtype], (x[worst], y[worst], err[worst])


_PACKED = re.compile(r'\bv(?:add|sub|mul|div|sqrt|max|min|f?n?m(?:add|sub)\d*)p[sd]\b[^\n]*%[xyz]mm')


@pytest.mark.parametrize('dtype', DTYPES, ids=['f32', 'f64'])
@pytest.mark.parametrize('op', list(vm.FUNCTIONS))
def test_loop_vectorises(op, dtype):
    """A loop calling the function from another njit function uses packed SIMD arithmetic."""
    text = asm(op, dtype)
    assert _PACKED.search(text), f'{op} {dtype.__name__}: no packed arithmetic in loop'
    assert not re.search(r'call\w*\s+\w*(exp|log|sin|cos|tan|pow|erf|fma)', text), 'libm call'


@pytest.mark.parametrize('dtype', DTYPES, ids=['f32', 'f64'])
def test_trig_large_arguments_stay_bounded(dtype):
    """For large arguments sin/cos stay finite and within [-1, 1]."""
    x = np.array([1e7, -3e9, 1e20, 3.3e38], dtype)
    for op in ('sin', 'cos'):
        y = run(op, dtype, x)
        assert np.all(np.abs(y) <= 1), (op, y)


@pytest.mark.parametrize('dtype', DTYPES, ids=['f32', 'f64'])
@pytest.mark.parametrize('op', ['sin', 'cos', 'tan'])
def test_trig_accurate_over_the_whole_range(op, dtype):
    """Exact range reduction: the ulp bound holds up to the largest finite value (the loop runs
    the fast version, sees large arguments and runs again with the full-range function)."""
    rng = np.random.default_rng(7)
    top = 128 if dtype == np.float32 else 1024
    x = rng.uniform(1, 2, 3000) * np.exp2(rng.integers(10, top, 3000).astype(np.float64))
    x = np.concatenate([x, -x[:500], [2767877888.0, 6381956970095103 * 2.0**797, 1e22, 2.0**17, 2.0**20]])
    with np.errstate(over='ignore'):
        x = x.astype(dtype)
    x = x[np.isfinite(x)]
    x = np.concatenate([x, np.finfo(dtype).max * np.array([1, -1], dtype)])
    err = ulp_error(run(op, dtype, x), reference(op, x), dtype)
    worst = int(np.argmax(err))
    assert err[worst] <= BOUND[dtype], (op, x[worst], err[worst])


def test_trig_fast_versions_skip_the_branch():
    """The fast versions and the range check are what vectorised loops call: branch-free, and
    the check flags exactly the finite arguments beyond the Cody-Waite bound."""
    x32 = np.array([1.0, 2.0**17 * 0.999, 2.0**17, -3e9, np.inf, np.nan], np.float32)
    x64 = np.array([1.0, 2.0**20 * 0.999, 2.0**20, -1e300, np.inf, np.nan])
    assert [int(vm.trig_large_f32(v)) for v in x32] == [0, 0, 1, 1, 0, 0]
    assert [int(vm.trig_large_f64(v)) for v in x64] == [0, 0, 1, 1, 0, 0]
    assert float(vm.sin_f32(np.float32(2767877888.0))) == np.float32(np.sin(2767877888.0))
    assert vm.sin_fast_f64(0.5) == vm.sin_f64(0.5)


@pytest.mark.parametrize('dtype', DTYPES, ids=['f32', 'f64'])
def test_tan_near_multiples_of_half_pi(dtype):
    """tan is accurate where reduction cancels most: next to k*pi/2, up to the 2**17 bound."""
    k = np.concatenate([np.arange(1, 60), np.geomspace(60, 83000, 300).round()])
    base = (k * (np.pi / 2)).astype(dtype)
    x = np.concatenate([base, np.nextafter(base, dtype(0)), np.nextafter(base, dtype(np.inf))])
    x = np.concatenate([x, -x])
    err = ulp_error(run('tan', dtype, x), reference('tan', x), dtype)
    worst = int(np.argmax(err))
    assert err[worst] <= BOUND[dtype], (x[worst], err[worst])


def test_tan_large_arguments_stay_finite():
    """For large arguments float32 tan returns finite values (NaN only for inf/NaN)."""
    x = np.array([3e5, -1e7, 3e9, 1e20, -3.3e38, np.inf, -np.inf, np.nan], np.float32)
    y = run('tan', np.float32, x)
    assert np.all(np.isfinite(y[:5])) and np.all(np.isnan(y[5:])), y


@pytest.mark.parametrize('dtype', DTYPES, ids=['f32', 'f64'])
@pytest.mark.parametrize('op', ['sin', 'cos', 'tan'])
def test_trig_at_quadrant_boundaries(op, dtype):
    """The quadrant read from the rounding constant's low bits is right on both sides of every
    k*pi/4 (where rint(x*2/pi) changes or the polynomial swaps), for negative k too."""
    base = (np.arange(-400, 401) * (np.pi / 4)).astype(dtype)
    x = np.concatenate([base] + [base + np.asarray(base * np.finfo(dtype).eps * d, dtype)
                                 for d in (-3, -1, 1, 3)])
    x = x[np.abs(np.cos(x.astype(np.float64))) > 1e-6] if op == 'tan' else x
    err = ulp_error(run(op, dtype, x), reference(op, x), dtype)
    worst = int(np.argmax(err))
    assert err[worst] <= BOUND[dtype], (op, x[worst], err[worst])


def test_tanh_f32_at_its_switch_points():
    """float32 tanh keeps 2 ulp on every float32 next to where it changes formula (|x| = 0.625,
    polynomial to 1 - 2/(e**(2|x|) + 1)) and where it clamps (9.02), and on a dense sweep between."""
    bits = np.concatenate([np.float32(v).view(np.int32) + np.arange(-20000, 20000, dtype=np.int32)
                           for v in (0.625, 9.02)])
    x = np.concatenate([bits.view(np.float32), np.linspace(0.5, 9.5, 20001, dtype=np.float32)])
    x = np.concatenate([x, -x])
    err = ulp_error(run('tanh', np.float32, x), reference('tanh', x), np.float32)
    worst = int(np.argmax(err))
    assert err[worst] <= BOUND[np.float32], (x[worst], err[worst])
    assert np.all(run('tanh', np.float32, np.array([9.02, 9.5, 1e30, np.inf], np.float32)) == 1)


def test_int32_primitives_wrap_like_compiled():
    """i32_add/i32_and/i32_sar/i32_shl: Python fallbacks and compiled versions agree (int32 wrap)."""
    big, one = np.int32(2**31 - 1), np.int32(1)
    cases = [(big, one), (np.int32(-5), np.int32(3)), (np.int32(-2**31), np.int32(-1)),
             (np.int32(0x4B40007F), np.int32(2))]

    @njit
    def compiled(a, b):
        return (_prims.i32_add(a, b), _prims.i32_and(a, b), _prims.i32_sar(a, np.int32(1)),
                _prims.i32_shl(a, np.int32(23)))

    for a, b in cases:
        py = (_prims.i32_add(a, b), _prims.i32_and(a, b), _prims.i32_sar(a, np.int32(1)),
              _prims.i32_shl(a, np.int32(23)))
        assert py == compiled(a, b), (a, b)
    assert _prims.i32_add(big, one) == -2**31
    assert _prims.i32_shl(np.int32(0x4B40007F), np.int32(23)) == 127 << 23   # tanh's 2**k


def test_resolve_and_table():
    """FUNCTIONS names exist and resolve() maps dtypes to them."""
    for op, (n32, n64) in vm.FUNCTIONS.items():
        assert vm.resolve(op, np.dtype('float32')) is getattr(vm, n32)
        assert vm.resolve(op, np.float64) is getattr(vm, n64)
    with pytest.raises(TypeError):
        vm.resolve('exp', np.int32)


def test_no_cuda_import():
    """Importing kernels.vmath must not import numba.cuda."""
    code = 'import sys, kernels.vmath; print("numba.cuda" in sys.modules)'
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         cwd=_ROOT, check=True)
    assert out.stdout.strip() == 'False'


_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
