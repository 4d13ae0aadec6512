"""float32 kernels: every operation stays in float32 (full SIMD width).

Exception: ``pow_f32`` evaluates log2/exp2 in float64, which is what makes a
<1 ulp float32 pow cheap (the product y*log2(x) needs ~40 bits).
"""
import math

import numpy as np

from . import _coeffs as C
from ._prims import (F32, F64, I32, I64, as_f32, as_f64, f32_bits, f32_from_bits,
                     f64_bits, f64_from_bits, fma, horner, horner2, kernel, split)

LN2 = '0.693147180559945309417232121458176568075500134360255254120680'
LOG2E = '1.442695040888963407359924681001892137426645954152985934135449'
PIO2 = '1.570796326794896619231321691639751442098584699687552910487472'

_ZERO, _HALF, _ONE, _TWO = F32(0.0), F32(0.5), F32(1.0), F32(2.0)
_INF, _NAN = F32(math.inf), F32(math.nan)
_MAGIC = F32(12582912.0)          # 1.5 * 2**23: (t + M) - M rounds t to an integer
_RINT_MAX = F32(4194304.0)        # 2**22: the magic trick is exact below this
_LOG2E = F32(1.4426950408889634)
_LN2_HI, _LN2_LO = split(LN2, F32, 2)
_IL2_HI, _IL2_LO = split(LOG2E, F32, 2)
_PIO2_A, _PIO2_B, _PIO2_C = split(PIO2, F32, 3)
_TWO_OVER_PI = F32(0.6366197723675814)
_EXP = as_f32(C.EXP_F32)
_EXP2 = as_f32(C.EXP2_F32)
_LOGR = as_f32(C.LOGR_F32)
_SIN = as_f32(C.SIN_F32)
_COS = as_f32(C.COS_F32)
_TANH = as_f32(C.TANH_F32)
_ERF0 = as_f32(C.ERF0_F32)
_ERF1 = as_f32(C.ERF1_F32)
_ERF2 = as_f32(C.ERF2_F32)
_SQRT_HALF_BITS = I32(0x3F3504F3)  # bits of sqrt(0.5): log mantissa lands in [sqrt(.5), sqrt(2))
_MANT_MASK = I32(0x007FFFFF)
_TWO23 = F32(8388608.0)
_TWO24 = F32(16777216.0)
_TINY_NORMAL = F32(1.1754943508222875e-38)


@kernel
def _rint(t):
    """Round to nearest integer (ties to even), exact for |t| < 2**22."""
    return (t + _MAGIC) - _MAGIC


@kernel
def _pow2i(n):
    """2**n for integer-valued float n in [-126, 127], built from exponent bits."""
    return f32_from_bits(I32((n + F32(127.0)) * _TWO23))


@kernel
def _ldexp(p, k):
    """p * 2**k for integer-valued k in [-151, 129], rounding once (subnormals ok)."""
    k1 = _rint(k * _HALF)
    return p * _pow2i(k1) * _pow2i(k - k1)


@kernel
def _clamp(x, lo, hi):
    """Clamp x to [lo, hi]; NaN maps to hi (callers restore NaN at the end)."""
    y = x if x < hi else hi
    return y if y > lo else lo


@kernel
def _exp_reduce(x):
    """Split x = k*ln2 + r with |r| <= ln2/2 (Cody-Waite, exact first step)."""
    k = _rint(x * _LOG2E)
    r = fma(-k, _LN2_HI, x)
    return k, fma(-k, _LN2_LO, r)


@kernel
def _expm1_poly(r):
    """exp(r) - 1 for |r| <= ln2/2: r + r*r*P(r)."""
    return fma(r * r, horner(r, _EXP), r)


@kernel
def _exp_core(x):
    """exp(x) for x in [-104, 89] (no special-value handling)."""
    k, r = _exp_reduce(x)
    return _ldexp(_expm1_poly(r) + _ONE, k)


@kernel
def _expm1_core(x):
    """expm1(x) for x in [-30, 89]: 2**k * expm1(r) + (2**k - 1), via s = 2**(k-1)."""
    k, r = _exp_reduce(x)
    s = _pow2i(k - _ONE)
    return fma(_expm1_poly(r), s, s - _HALF) * _TWO


@kernel
def exp_f32(x):
    """exp(x) for float32, <1 ulp; overflow/underflow/subnormals as NumPy."""
    y = _exp_core(_clamp(x, F32(-104.0), F32(89.0)))
    return x if x != x else y


@kernel
def exp2_f32(x):
    """2**x for float32."""
    xc = _clamp(x, F32(-151.0), F32(129.0))
    k = _rint(xc)
    y = _ldexp(horner(xc - k, _EXP2), k)
    return x if x != x else y


@kernel
def expm1_f32(x):
    """exp(x) - 1 for float32, accurate near 0 (returns x itself for |x| < 2**-25)."""
    y = _expm1_core(_clamp(x, F32(-30.0), F32(89.0)))
    return x if (x != x) | (abs(x) < F32(2.9802322e-08)) else y


@kernel
def _log_split(x):
    """For normal positive x: x = 2**k * m, m in [sqrt(.5), sqrt(2)); returns (k, m - 1)."""
    ix = f32_bits(x) - _SQRT_HALF_BITS
    k = I32(ix >> 23)
    m = f32_from_bits(I32((ix & _MANT_MASK) + _SQRT_HALF_BITS))
    return F32(k), m - _ONE


@kernel
def _log1p_small(f):
    """log(1 + f) for f in [sqrt(.5) - 1, sqrt(2) - 1] as (hi, lo)."""
    s = f / (_TWO + f)
    z = s * s
    hfsq = _HALF * f * f
    hi = f - hfsq
    lo = ((f - hi) - hfsq) + s * fma(z, horner(z, _LOGR), hfsq)
    return hi, lo


@kernel
def _log_specials(x, y):
    """Apply log's special cases: -inf at 0, NaN below 0, x itself at +inf/NaN."""
    y = -_INF if x == _ZERO else y
    y = _NAN if x < _ZERO else y
    return x if (x != x) | (x == _INF) else y


@kernel
def _prescale(x):
    """Scale subnormal x up by 2**24 so the exponent trick works; returns (x, -k)."""
    sub = x < _TINY_NORMAL
    return (x * _TWO24 if sub else x), (F32(-24.0) if sub else _ZERO)


@kernel
def log_f32(x):
    """Natural log for float32."""
    xs, kadj = _prescale(x)
    k, f = _log_split(xs)
    k = k + kadj
    hi, lo = _log1p_small(f)
    y = fma(k, _LN2_HI, fma(k, _LN2_LO, lo) + hi)
    return _log_specials(x, y)


@kernel
def log2_f32(x):
    """Base-2 log for float32 (log(m) kept as hi + lo so integer results are exact)."""
    xs, kadj = _prescale(x)
    k, f = _log_split(xs)
    k = k + kadj
    hi, lo = _log1p_small(f)
    p = hi * _LOG2E
    pe = fma(hi, _LOG2E, -p) + fma(hi, _IL2_LO, lo * _LOG2E)
    sh = k + p
    se = (k - sh) + p
    y = sh + (se + pe)
    return _log_specials(x, y)


@kernel
def log1p_f32(x):
    """log(1 + x) for float32; u = 1 + x with its rounding error folded back in."""
    u = _ONE + x
    c = x - (u - _ONE)
    uc = _clamp(u, _TINY_NORMAL, F32(3.0e38))
    k, f = _log_split(uc)
    kc = k if k < F32(100.0) else F32(100.0)
    f = f + c * _pow2i(-kc)
    hi, lo = _log1p_small(f)
    y = fma(k, _LN2_HI, fma(k, _LN2_LO, lo) + hi)
    y = -_INF if u == _ZERO else y
    y = _NAN if x < -_ONE else y
    y = x if abs(x) < F32(5.9604645e-08) else y
    return x if (x != x) | (x == _INF) else y


@kernel
def _trig_reduce(x):
    """x = k*pi/2 + r, |r| <= ~pi/4; returns (r, q) with q = k mod 4 in -2..2.

    3-part Cody-Waite with FMAs: exact first step; accurate while |x| < 2**22.
    """
    t = x * _TWO_OVER_PI
    k = _rint(t) if abs(t) < _RINT_MAX else t
    r = fma(-k, _PIO2_A, x)
    r = fma(-k, _PIO2_B, r)
    r = fma(-k, _PIO2_C, r)
    q4 = k * F32(0.25)
    q = k - F32(4.0) * (_rint(q4) if abs(q4) < _RINT_MAX else q4)
    r = r if abs(r) < _TWO else _ZERO   # |x| beyond the bound: stay bounded
    return r, q


@kernel
def _sin_poly(r, z):
    """sin(r) for |r| <= pi/4."""
    return fma(r * z, horner(z, _SIN), r)


@kernel
def _cos_poly(z):
    """cos(r) for |r| <= pi/4, z = r*r."""
    return fma(z * z, horner(z, _COS), _ONE - _HALF * z)


@kernel
def _finite_or_nan(x, y):
    """y for finite x, NaN for +-inf and NaN."""
    return y if abs(x) < _INF else x - x


@kernel
def sin_f32(x):
    """sin(x) for float32 (accurate range reduction for |x| < 2**22)."""
    r, q = _trig_reduce(x)
    z = r * r
    odd = (q == _ONE) | (q == -_ONE)
    v = _cos_poly(z) if odd else _sin_poly(r, z)
    neg = (q == _TWO) | (q == -_TWO) | (q == -_ONE)
    return _finite_or_nan(x, -v if neg else v)


@kernel
def cos_f32(x):
    """cos(x) for float32 (accurate range reduction for |x| < 2**22)."""
    r, q = _trig_reduce(x)
    z = r * r
    odd = (q == _ONE) | (q == -_ONE)
    v = _sin_poly(r, z) if odd else _cos_poly(z)
    neg = (q == _TWO) | (q == -_TWO) | (q == _ONE)
    return _finite_or_nan(x, -v if neg else v)


@kernel
def tan_f32(x):
    """tan(x) = sin(r)/cos(r) or -cos(r)/sin(r) by quadrant parity."""
    r, q = _trig_reduce(x)
    z = r * r
    s = _sin_poly(r, z)
    c = _cos_poly(z)
    odd = (q == _ONE) | (q == -_ONE)
    v = (-c if odd else s) / (s if odd else c)
    return _finite_or_nan(x, v)


@kernel
def tanh_f32(x):
    """tanh: odd polynomial for |x| < 0.625, else expm1(2|x|) / (expm1(2|x|) + 2)."""
    a = abs(x)
    z = x * x
    small = fma(x * z, horner(z, _TANH), x)
    e = _expm1_core(_TWO * _clamp(a, _ZERO, F32(9.5)))
    t = e / (e + _TWO)
    t = -t if x < _ZERO else t
    y = small if a < F32(0.625) else t
    return x if x != x else y


@kernel
def sigmoid_f32(x):
    """Logistic 1 / (1 + exp(-x)), evaluated as z/(1+z) for x < 0 to keep precision."""
    z = _exp_core(-_clamp(abs(x), _ZERO, F32(104.0)))
    d = _ONE + z
    y = (z if x < _ZERO else _ONE) / d
    return x if x != x else y


@kernel
def erf_f32(x):
    """erf: x*P(x*x) for |x| < 1, piecewise polynomials on [1, 2.5), [2.5, 4), 1 beyond."""
    a = abs(x)
    z = x * x
    small = x * horner(z, _ERF0)
    lo = a < F32(2.5)
    t = a - (F32(1.75) if lo else F32(3.25))
    big = horner2(t, lo, _ERF1, _ERF2)
    big = _ONE if a >= F32(4.0) else big
    big = -big if x < _ZERO else big
    return small if a < _ONE else big


@kernel
def sqrt_f32(x):
    """Square root via the hardware instruction (llvm.sqrt)."""
    return np.sqrt(x)


@kernel
def rsqrt_f32(x):
    """1 / sqrt(x) (two correctly rounded steps, <= 1 ulp)."""
    return _ONE / np.sqrt(x)


# ---- pow: log2 and exp2 in float64 ---------------------------------------------
_D_ONE, _D_TWO, _D_HALF = F64(1.0), F64(2.0), F64(0.5)
_D_LOG2E = F64(1.4426950408889634)
_D_LOGR = as_f64(C.LOGR_POW32)
_D_EXP2 = as_f64(C.EXP2_POW32)
_D_MAGIC = F64(6755399441055744.0)   # 1.5 * 2**52
_D_SQRT_HALF_BITS = 0x3FE6A09E667F3BCD


@kernel
def _log2_pow(x):
    """log2(x) in float64 for a positive finite float32 x (relative error ~1e-15)."""
    d = F64(x)
    ix = f64_bits(d) - _D_SQRT_HALF_BITS
    k = F64(I32(ix >> 52))
    f = f64_from_bits((ix & 0x000FFFFFFFFFFFFF) + _D_SQRT_HALF_BITS) - _D_ONE
    s = f / (_D_TWO + f)
    z = s * s
    hfsq = _D_HALF * f * f
    lg = f - (hfsq - s * fma(z, horner(z, _D_LOGR), hfsq))
    return fma(lg, _D_LOG2E, k)


@kernel
def _exp2_pow(t):
    """2**t in float64 for t in [-160, 130] (relative error ~1e-13)."""
    k = (t + _D_MAGIC) - _D_MAGIC
    p = horner(t - k, _D_EXP2)
    return p * f64_from_bits(I64(I32(k + F64(1023.0))) << 52)


@kernel
def _is_int(y):
    """Whether float32 y is an integer (every |y| >= 2**23 is)."""
    return (abs(y) >= _TWO23) | (_rint(y) == y)


@kernel
def _is_odd(y):
    """Whether float32 y is an odd integer."""
    h = y * _HALF
    return (abs(y) < _TWO24) & _is_int(y) & (_rint(h) != h)


@kernel
def pow_f32(x, y):
    """x**y for float32 with C99/NumPy special cases, via exp2(y*log2|x|) in float64."""
    ax = abs(x)
    fin = (ax > _ZERO) & (ax < _INF)
    t = F64(y) * _log2_pow(ax if fin else _ONE)
    tc = t if t < F64(130.0) else F64(130.0)
    tc = tc if tc > F64(-160.0) else F64(-160.0)
    v = F32(_exp2_pow(tc))
    yint = _is_int(y)
    yodd = _is_odd(y)
    # zero / infinite base
    v0 = _INF if y < _ZERO else _ZERO
    v = v0 if ax == _ZERO else v
    vi = _ZERO if y < _ZERO else _INF
    v = vi if ax == _INF else v
    v = -v if yodd & (f32_bits(x) < I32(0)) else v
    v = _NAN if (x < _ZERO) & (x > -_INF) & (not yint) & (abs(y) < _INF) else v
    # infinite exponent
    vy = _ONE if ax == _ONE else ((_INF if y > _ZERO else _ZERO) if ax > _ONE
                                  else (_ZERO if y > _ZERO else _INF))
    v = vy if abs(y) == _INF else v
    v = x + y if (x != x) | (y != y) else v
    return _ONE if (y == _ZERO) | (x == _ONE) else v
