"""float64 kernels (same algorithms as ``_f32`` with longer polynomials)."""
import math

from . import _coeffs as coef
from ._prims import (
    F64,
    I32,
    I64,
    LN2,
    LOG2E,
    PIO2,
    as_f64,
    f64_bits,
    f64_from_bits,
    fma,
    horner,
    horner4,
    kernel,
    kernel_inline,
    split,
)
from ._trig_big import reduce_big

_ZERO, _HALF, _ONE, _TWO = F64(0.0), F64(0.5), F64(1.0), F64(2.0)
_INF, _NAN = F64(math.inf), F64(math.nan)
_MAGIC = F64(6755399441055744.0)      # 1.5 * 2**52
_RINT_MAX = F64(2.0**51)
_LOG2E = F64(1.4426950408889634)
_LN2_HI, _LN2_LO = split(LN2, F64, 2)
_LN2_HI42, _LN2_LO42 = split(LN2, F64, 2, bits=42)   # k * HI exact for |k| < 2**11
_IL2_HI, _IL2_LO = split(LOG2E, F64, 2)
_PIO2_A, _PIO2_B, _PIO2_C = split(PIO2, F64, 3)
_TWO_OVER_PI = F64(0.6366197723675814)
_EXP = as_f64(coef.EXP_F64)
_EXP2 = as_f64(coef.EXP2_F64)
_LOGR = as_f64(coef.LOGR_F64)
_LOGR_POW = as_f64(coef.LOGR_POW64)
_SIN = as_f64(coef.SIN_F64)
_COS = as_f64(coef.COS_F64)
_TANH = as_f64(coef.TANH_F64)
_ERF0_HI, _ERF0_LO = split('1.128379167095512573896158903121545171688101258657997713688171', F64, 2)
_ERF0_TAIL = as_f64(coef.ERF0_F64[1:])
_ERF1, _ERF2 = as_f64(coef.ERF1_F64), as_f64(coef.ERF2_F64)
_ERF3, _ERF4 = as_f64(coef.ERF3_F64), as_f64(coef.ERF4_F64)
_SQRT_HALF_BITS = 0x3FE6A09E667F3BCD
_MANT_MASK = 0x000FFFFFFFFFFFFF
_TWO52 = F64(2.0**52)
_TWO53 = F64(2.0**53)
_TWO54 = F64(2.0**54)
_TINY_ODD = F64(2.0**-27)   # below this sin/tan/tanh(x) round to x
_TINY_NORMAL = F64(2.2250738585072014e-308)


@kernel
def _rint(t):
    """Round to nearest integer (ties to even), exact for |t| < 2**51."""
    return (t + _MAGIC) - _MAGIC


@kernel
def _pow2i(n):
    """2**n for integer-valued float n in [-1022, 1023], built from exponent bits."""
    return f64_from_bits(I64(I32(n + F64(1023.0))) << 52)


@kernel
def _ldexp(p, k):
    """p * 2**k for integer-valued k in [-1077, 1025], rounding once."""
    k1 = _rint(k * _HALF)
    return p * _pow2i(k1) * _pow2i(k - k1)


@kernel
def _clamp(x, lo, hi):
    """Clamp x to [lo, hi]; NaN maps to hi."""
    y = x if x < hi else hi
    return y if y > lo else lo


@kernel
def _exp_reduce(x):
    """x = k*ln2 + r, |r| <= ln2/2 (exact first Cody-Waite step thanks to FMA)."""
    k = _rint(x * _LOG2E)
    r = fma(-k, _LN2_HI, x)
    return k, fma(-k, _LN2_LO, r)


@kernel
def _expm1_poly(r):
    """exp(r) - 1 for |r| <= ln2/2."""
    return fma(r * r, horner(r, _EXP), r)


@kernel
def _exp_core(x):
    """exp(x) for x in [-746, 710] (no special values)."""
    k, r = _exp_reduce(x)
    return _ldexp(_expm1_poly(r) + _ONE, k)


@kernel
def _expm1_core(x):
    """expm1(x) for x in [-40, 710]."""
    k, r = _exp_reduce(x)
    s = _pow2i(k - _ONE)
    return fma(_expm1_poly(r), s, s - _HALF) * _TWO


@kernel
def exp_f64(x):
    """exp(x) for float64."""
    y = _exp_core(_clamp(x, F64(-746.0), F64(710.0)))
    return x if x != x else y


@kernel
def exp2_f64(x):
    """2**x for float64."""
    xc = _clamp(x, F64(-1077.0), F64(1025.0))
    k = _rint(xc)
    y = _ldexp(horner(xc - k, _EXP2), k)
    return x if x != x else y


@kernel
def expm1_f64(x):
    """exp(x) - 1 for float64."""
    y = _expm1_core(_clamp(x, F64(-40.0), F64(710.0)))
    return x if (x != x) | (abs(x) < F64(5.551115123125783e-17)) else y


@kernel
def _log_split(x):
    """x = 2**k * m, m in [sqrt(.5), sqrt(2)); returns (k, m - 1)."""
    ix = f64_bits(x) - _SQRT_HALF_BITS
    k = F64(I32(ix >> 52))
    return k, f64_from_bits((ix & _MANT_MASK) + _SQRT_HALF_BITS) - _ONE


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
    """log's special cases: -inf at 0, NaN below 0, x itself at +inf/NaN."""
    y = -_INF if x == _ZERO else y
    y = _NAN if x < _ZERO else y
    return x if (x != x) | (x == _INF) else y


@kernel
def _prescale(x):
    """Scale subnormal x by 2**54; returns (x, exponent adjustment)."""
    sub = x < _TINY_NORMAL
    return (x * _TWO54 if sub else x), (F64(-54.0) if sub else _ZERO)


@kernel
def log_f64(x):
    """Natural log for float64."""
    xs, kadj = _prescale(x)
    k, f = _log_split(xs)
    k = k + kadj
    hi, lo = _log1p_small(f)
    y = fma(k, _LN2_HI, fma(k, _LN2_LO, lo) + hi)
    return _log_specials(x, y)


@kernel
def log2_f64(x):
    """Base-2 log for float64."""
    xs, kadj = _prescale(x)
    k, f = _log_split(xs)
    k = k + kadj
    hi, lo = _log1p_small(f)
    p = hi * _LOG2E
    pe = fma(hi, _LOG2E, -p) + fma(hi, _IL2_LO, lo * _LOG2E)
    sh = k + p
    se = (k - sh) + p
    return _log_specials(x, sh + (se + pe))


@kernel
def log1p_f64(x):
    """log(1 + x) for float64."""
    u = _ONE + x
    c = x - (u - _ONE)
    k, f = _log_split(_clamp(u, _TINY_NORMAL, F64(1.7e308)))
    kc = k if k < F64(1000.0) else F64(1000.0)
    f = f + c * _pow2i(-kc)
    hi, lo = _log1p_small(f)
    y = fma(k, _LN2_HI, fma(k, _LN2_LO, lo) + hi)
    y = -_INF if u == _ZERO else y
    y = _NAN if x < -_ONE else y
    y = x if abs(x) < F64(1.1102230246251565e-16) else y
    return x if (x != x) | (x == _INF) else y


@kernel
def _trig_reduce(x):
    """x = k*pi/2 + r with 3-part FMA Cody-Waite; returns (r, m) with m the int64 whose two low
    bits are k mod 4.

    k = rint(x*2/pi) by the rounding constant 1.5 * 2**52, whose sum with x*2/pi holds k in its
    low mantissa bits (exact for |x| < 2**51): the quadrant costs integer ANDs later, not a
    second rounding and float compares (as ``_f32._trig_reduce``). Accurate for |x| < 2**20
    (the fast range); beyond, r is only kept bounded.
    """
    sk = x * _TWO_OVER_PI + _MAGIC
    k = sk - _MAGIC
    r = fma(-k, _PIO2_A, x)
    r = fma(-k, _PIO2_B, r)
    r = fma(-k, _PIO2_C, r)
    r = r if abs(r) < _TWO else _ZERO   # |x| beyond the bound (or inf/NaN): stay bounded
    return r, f64_bits(sk)


@kernel
def _sin_poly(r, z):
    """sin(r) for |r| <= pi/4."""
    return fma(r * z, horner(z, _SIN), r)


@kernel
def _cos_poly(z):
    """cos(r) for |r| <= pi/4, z = r*r; 1 - z/2 split so its rounding error is kept."""
    hz = _HALF * z
    w = _ONE - hz
    return w + (((_ONE - w) - hz) + z * z * horner(z, _COS))


@kernel
def _finite_or_nan(x, y):
    """y for finite x, NaN otherwise."""
    return y if abs(x) < _INF else x - x


_BIG = F64(2.0**20)   # from here on, Cody-Waite is not accurate enough: exact reduction (_trig_big)


@kernel
def big_sin_cos(x):
    """(sin x, cos x) for finite |x| >= 2**20, from the exact reduction (r + rl, quadrant q)."""
    r, rl, q = reduce_big(x)
    z = r * r
    s = fma(rl, _ONE - _HALF * z, _sin_poly(r, z))   # sin(r + rl) ~ sin r + rl cos r
    c = fma(-rl, r, _cos_poly(z))                    # cos(r + rl) ~ cos r - rl sin r
    odd = (q == _ONE) | (q == -_ONE)
    sv = c if odd else s
    cv = s if odd else c
    sv = -sv if (q == _TWO) | (q == -_ONE) else sv
    cv = -cv if (q == _TWO) | (q == _ONE) else cv
    return sv, cv


@kernel
def trig_large_f64(x):
    """1 where sin/cos/tan_fast_f64(x) is not accurate (finite |x| >= 2**20), else 0 (int64:
    as wide as the float lanes): the cheap range check a vectorised loop max-reduces to decide
    whether to recompute with sin/cos/tan_f64."""
    return I64(1) if (abs(x) >= _BIG) & (abs(x) < _INF) else I64(0)


@kernel
def sin_f64(x):
    """sin(x) for float64, <= 4 ulp for every x (exact range reduction for |x| >= 2**20). The
    branch keeps a loop from vectorising: loops use sin_fast_f64 plus trig_large_f64 and call
    this only when some element is large."""
    if trig_large_f64(x):
        return big_sin_cos(x)[0]
    return sin_fast_f64(x)


@kernel
def cos_f64(x):
    """cos(x) for float64, <= 4 ulp for every x (see sin_f64)."""
    if trig_large_f64(x):
        return big_sin_cos(x)[1]
    return cos_fast_f64(x)


@kernel
def tan_f64(x):
    """tan(x) for float64, <= 4 ulp for every x (see sin_f64)."""
    if trig_large_f64(x):
        sv, cv = big_sin_cos(x)
        return sv / cv
    return tan_fast_f64(x)


@kernel_inline
def sin_fast_f64(x):
    """sin(x) for float64, vectorisable; accurate for |x| < 2**20 (finite, in [-1, 1], beyond).

    Branch-free quadrant: k mod 4 = m; odd m takes cos(r), m in {2, 3} negates."""
    r, m = _trig_reduce(x)
    z = r * r
    v = _cos_poly(z) if (m & I64(1)) != I64(0) else _sin_poly(r, z)
    v = -v if (m & I64(2)) != I64(0) else v
    return _finite_or_nan(x, x if abs(x) < _TINY_ODD else v)


@kernel
def cos_fast_f64(x):
    """cos(x) for float64, vectorisable; accurate for |x| < 2**20 (finite, in [-1, 1], beyond).

    Branch-free quadrant: odd k mod 4 takes sin(r), k mod 4 in {1, 2} negates."""
    r, m = _trig_reduce(x)
    z = r * r
    v = _sin_poly(r, z) if (m & I64(1)) != I64(0) else _cos_poly(z)
    v = -v if ((m + I64(1)) & I64(2)) != I64(0) else v
    return _finite_or_nan(x, v)


@kernel
def tan_fast_f64(x):
    """tan(x) for float64 as a quotient of the sin and cos polynomials, vectorisable; accurate
    for |x| < 2**20 (finite beyond)."""
    r, m = _trig_reduce(x)
    z = r * r
    s = _sin_poly(r, z)
    c = _cos_poly(z)
    odd = (m & I64(1)) != I64(0)
    v = (-c if odd else s) / (s if odd else c)
    return _finite_or_nan(x, x if abs(x) < _TINY_ODD else v)


@kernel
def tanh_f64(x):
    """tanh for float64 (odd polynomial below 0.625, expm1 formula above)."""
    a = abs(x)
    z = x * x
    small = fma(x * z, horner(z, _TANH), x)
    e = _expm1_core(_TWO * _clamp(a, _ZERO, F64(22.0)))
    t = e / (e + _TWO)
    t = -t if x < _ZERO else t
    y = small if a < F64(0.625) else t
    y = x if a < _TINY_ODD else y
    return x if x != x else y


@kernel
def sigmoid_f64(x):
    """Logistic function for float64."""
    z = _exp_core(-_clamp(abs(x), _ZERO, F64(746.0)))
    d = _ONE + z
    dl = (_ONE - d) + z
    num = z if x < _ZERO else _ONE
    rcp = _ONE / d
    q = num * rcp
    y = fma(fma(-q, d, num) - q * dl, rcp, q)
    return x if x != x else y


@kernel_inline
def erf_f64(x):
    """erf for float64: x*P(x*x) below 1, then four blended-coefficient pieces up to 6."""
    a = abs(x)
    z = x * x
    small = fma(x, _ERF0_HI, x * fma(z, horner(z, _ERF0_TAIL), _ERF0_LO))
    b1 = a < _TWO
    b2 = a < F64(3.0)
    b3 = a < F64(4.5)
    mid = F64(1.5) if b1 else (F64(2.5) if b2 else (F64(3.75) if b3 else F64(5.25)))
    big = horner4(a - mid, b1, b2, b3, _ERF1, _ERF2, _ERF3, _ERF4)
    big = _ONE if a >= F64(6.0) else big
    big = -big if x < _ZERO else big
    return small if a < _ONE else big


@kernel
def sqrt_f64(x):
    """Square root via the hardware instruction."""
    return math.sqrt(x)


@kernel
def rsqrt_f64(x):
    """1 / sqrt(x)."""
    return _ONE / math.sqrt(x)


@kernel
def _log_dd(x):
    """log(x) as a double-double (hi, lo), ~2**-64 relative, for positive finite x."""
    xs, kadj = _prescale(x)
    k, f = _log_split(xs)
    k = k + kadj
    d = _TWO + f
    dl = (_TWO - d) + f
    s = f / d
    sl = (fma(-s, d, f) - s * dl) / d
    z = s * s
    rest = F64(2.0) * sl + s * z * horner(z, _LOGR_POW)
    b = k * _LN2_HI42
    a = _TWO * s
    th = b + a
    te = (b - th) + a
    tl = te + (rest + k * _LN2_LO42)
    hi = th + tl
    return hi, tl - (hi - th)


@kernel
def _is_int(y):
    """Whether y is an integer (every |y| >= 2**52 is)."""
    return (abs(y) >= _TWO52) | (_rint(y) == y)


@kernel
def _is_odd(y):
    """Whether y is an odd integer."""
    ay = abs(y)
    ah = ay * _HALF
    rh = (ah + _TWO52) - _TWO52
    return (ay < _TWO53) & (abs(ay - (rh + rh)) == _ONE)


@kernel_inline
def pow_f64(x, y):
    """x**y for float64: exp(y * log|x|) in double-double, C99/NumPy special cases."""
    ax = abs(x)
    fin = (ax > _ZERO) & (ax < _INF)
    lh, ll = _log_dd(ax if fin else _ONE)
    ph = y * lh
    pl = fma(y, lh, -ph) + y * ll
    pc = _clamp(ph, F64(-746.0), F64(710.0))
    pl = pl if pc == ph else _ZERO
    k, r = _exp_reduce(pc)
    v = _ldexp(_expm1_poly(r + pl) + _ONE, k)
    yint = _is_int(y)
    yodd = _is_odd(y)
    v0 = _INF if y < _ZERO else _ZERO
    v = v0 if ax == _ZERO else v
    vi = _ZERO if y < _ZERO else _INF
    v = vi if ax == _INF else v
    v = v * (math.copysign(_ONE, x) if yodd else _ONE)   # (a select on yodd & sign did not vectorise)
    v = _NAN if (x < _ZERO) & (x > -_INF) & (not yint) & (abs(y) < _INF) else v
    vy = _INF if (y > _ZERO) == (ax > _ONE) else _ZERO
    vy = _ONE if ax == _ONE else vy
    v = vy if abs(y) == _INF else v
    v = x + y if (x != x) | (y != y) else v
    return _ONE if (y == _ZERO) | (x == _ONE) else v


