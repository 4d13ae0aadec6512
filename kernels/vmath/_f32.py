"""float32 kernels: every operation stays in float32 (full SIMD width).

Where one float32 is not precise enough, values are carried as hi + lo float32
pairs (tan's reduced argument) rather than in float64, which would halve the
vector width. Exception: ``pow_f32`` evaluates log2/exp2 in float64 (the
product y*log2(x) needs ~40 bits; a float32-pair log2 reached only ~2**-28).
"""
import math

from . import _coeffs as coef
from ._f64 import big_sin_cos
from ._prims import (
    F32,
    F64,
    I32,
    I64,
    LN2,
    LOG2E,
    PIO2,
    as_f32,
    as_f64,
    f32_bits,
    f32_from_bits,
    f64_bits,
    f64_from_bits,
    fma,
    horner,
    horner2,
    i32_add,
    i32_and,
    i32_sar,
    i32_shl,
    kernel,
    kernel_inline,
    split,
)

_ZERO, _HALF, _ONE, _TWO = F32(0.0), F32(0.5), F32(1.0), F32(2.0)
_INF, _NAN = F32(math.inf), F32(math.nan)
_MAGIC = F32(12582912.0)          # 1.5 * 2**23: (t + M) - M rounds t to an integer
_RINT_MAX = F32(4194304.0)        # 2**22: the magic trick is exact below this
_LOG2E = F32(1.4426950408889634)
_LN2_HI, _LN2_LO = split(LN2, F32, 2)
_IL2_HI, _IL2_LO = split(LOG2E, F32, 2)
_PIO2_A, _PIO2_B, _PIO2_C = split(PIO2, F32, 3)
_TWO_OVER_PI = F32(0.6366197723675814)
_EXP = as_f32(coef.EXP_F32)
_EXP2 = as_f32(coef.EXP2_F32)
_LOG1P = as_f32(coef.LOG1P_F32)
_LOG1P_L2E = as_f32([c * 1.4426950408889634 for c in coef.LOG1P_F32])
_HALF_L2E = F32(-0.5 * 1.4426950408889634)
_TAN = as_f32(coef.TAN_F32)
_SIN = as_f32(coef.SIN_F32)
_COS = as_f32(coef.COS_F32)
_TANH = as_f32(coef.TANH_F32)
_ERF0_HI, _ERF0_LO = split(repr(coef.ERF0_F32[0]), F32, 2)
_ERF0_TAIL = as_f32(coef.ERF0_F32[1:])
_ERF1 = as_f32(coef.ERF1_F32)
_ERF2 = as_f32(coef.ERF2_F32)
_SQRT_HALF_BITS = I32(0x3F3504F3)  # bits of sqrt(0.5): log mantissa lands in [sqrt(.5), sqrt(2))
_MANT_MASK = I32(0x007FFFFF)
_TWO23 = F32(8388608.0)
_TWO24 = F32(16777216.0)
_TINY_ODD = F32(2.0**-13)   # below this sin/tan/tanh(x) round to x
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


@kernel_inline
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


@kernel_inline
def exp_f32(x):
    """exp(x) for float32, <1 ulp; overflow/underflow/subnormals as NumPy. Below -104 (where exp
    rounds to 0) the core runs on 0 instead: at the clamp its arithmetic went through subnormals,
    slow on x86 (a causal softmax's masked -1e9 entries made the exp loop ~3x slower)."""
    under = x < F32(-104.0)
    y = _exp_core(F32(0.0) if under else _clamp(x, F32(-104.0), F32(89.0)))
    return x if x != x else (F32(0.0) if under else y)


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
    ix = i32_add(f32_bits(x), -_SQRT_HALF_BITS)
    k = i32_sar(ix, I32(23))
    m = f32_from_bits(i32_add(i32_and(ix, _MANT_MASK), _SQRT_HALF_BITS))
    return F32(k), m - _ONE


@kernel
def _log1p_tail(f):
    """log(1 + f) - f for f in [sqrt(.5) - 1, sqrt(2) - 1]: f*f*(f*P(f) - 1/2), no division."""
    return (f * f) * fma(f, horner(f, _LOG1P), -_HALF)


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
def _log_kf(k, f):
    """k*ln2 + log(1 + f), the small terms summed first."""
    return fma(k, _LN2_HI, f + fma(k, _LN2_LO, _log1p_tail(f)))


@kernel
def log_f32(x):
    """Natural log for float32."""
    xs, kadj = _prescale(x)
    k, f = _log_split(xs)
    return _log_specials(x, _log_kf(k + kadj, f))


@kernel
def log2_f32(x):
    """Base-2 log for float32: k + log2e*(f + tail), log2e as hi + lo (x = 2**k exact)."""
    xs, kadj = _prescale(x)
    k, f = _log_split(xs)
    t = (f * f) * fma(f, horner(f, _LOG1P_L2E), _HALF_L2E)
    return _log_specials(x, (k + kadj) + fma(f, _IL2_HI, fma(f, _IL2_LO, t)))


@kernel
def log1p_f32(x):
    """log(1 + x) for float32; u = 1 + x with its rounding error folded back in."""
    u = _ONE + x
    c = x - (u - _ONE)
    uc = _clamp(u, _TINY_NORMAL, F32(3.4028235e38))
    k, f = _log_split(uc)
    kc = k if k < F32(100.0) else F32(100.0)
    y = _log_kf(k, fma(c, _pow2i(-kc), f))
    y = -_INF if u == _ZERO else y
    y = _NAN if x < -_ONE else y
    y = x if abs(x) < F32(5.9604645e-08) else y
    return x if (x != x) | (x == _INF) else y


@kernel
def _trig_reduce(x):
    """x = k*pi/2 + r, |r| <= ~pi/4; returns (r, m) with m the int32 whose two low bits are k mod 4.

    k = rint(x*2/pi) by the rounding constant 1.5 * 2**23, whose sum with x*2/pi holds k in its
    low mantissa bits (exact for |x| < 2**22): the quadrant costs two integer ANDs later, not
    float rounding and comparisons. 3-part Cody-Waite with FMAs, exact first step: <= 2 ulp
    results for |x| < 2**17 (the fast range); beyond, r is only kept bounded.
    """
    sk = x * _TWO_OVER_PI + _MAGIC
    k = sk - _MAGIC
    r = fma(-k, _PIO2_A, x)
    r = fma(-k, _PIO2_B, r)
    r = fma(-k, _PIO2_C, r)
    r = r if abs(r) < _TWO else _ZERO   # |x| beyond the bound (or inf/NaN): stay bounded
    return r, f32_bits(sk)


@kernel
def _sin_poly(r, z):
    """sin(r) for |r| <= pi/4."""
    return fma(r * z, horner(z, _SIN), r)


@kernel
def _cos_poly(z):
    """cos(r) for |r| <= pi/4, z = r*r; the rounding error of 1 - z/2 is kept."""
    hz = _HALF * z
    w = _ONE - hz
    return w + (((_ONE - w) - hz) + z * z * horner(z, _COS))


@kernel
def _finite_or_nan(x, y):
    """y for finite x, NaN for +-inf and NaN."""
    return y if abs(x) < _INF else x - x


_BIG = F32(131072.0)   # 2**17: from here on, the float64 path with exact range reduction


@kernel
def _big_f32(x, which):
    """sin (which=0), cos (1) or tan (2) of a large float32 through float64 (exact reduction
    there, then one rounding to float32); off the common range, so its speed does not matter."""
    s, c = big_sin_cos(F64(x))
    v = s if which == 0 else (c if which == 1 else s / c)
    return F32(v)


@kernel
def trig_large_f32(x):
    """1 where sin/cos/tan_fast_f32(x) is not accurate (finite |x| >= 2**17), else 0 (int32:
    as wide as the float lanes): the cheap range check a vectorised loop max-reduces to decide
    whether to recompute with sin/cos/tan_f32."""
    return I32(1) if (abs(x) >= _BIG) & (abs(x) < _INF) else I32(0)


@kernel
def sin_f32(x):
    """sin(x) for float32, <= 2 ulp for every x (exact range reduction through float64 for
    |x| >= 2**17). The branch keeps a loop from vectorising: loops use sin_fast_f32 plus
    trig_large_f32 and call this only when some element is large."""
    if trig_large_f32(x):
        return _big_f32(x, 0)
    return sin_fast_f32(x)


@kernel
def cos_f32(x):
    """cos(x) for float32, <= 2 ulp for every x (see sin_f32)."""
    if trig_large_f32(x):
        return _big_f32(x, 1)
    return cos_fast_f32(x)


@kernel
def tan_f32(x):
    """tan(x) for float32, <= 2 ulp for every x (see sin_f32)."""
    if trig_large_f32(x):
        return _big_f32(x, 2)
    return tan_fast_f32(x)


@kernel
def sin_fast_f32(x):
    """sin(x) for float32, vectorisable; <= 2 ulp for |x| < 2**17 (finite, in [-1, 1], beyond).

    Branch-free quadrant: k mod 4 = m; odd m takes cos(r), m in {2, 3} negates."""
    r, m = _trig_reduce(x)
    z = r * r
    v = _cos_poly(z) if i32_and(m, I32(1)) != I32(0) else _sin_poly(r, z)
    v = -v if i32_and(m, I32(2)) != I32(0) else v
    return _finite_or_nan(x, x if abs(x) < _TINY_ODD else v)


@kernel
def cos_fast_f32(x):
    """cos(x) for float32, vectorisable; <= 2 ulp for |x| < 2**17 (finite, in [-1, 1], beyond).

    Branch-free quadrant: odd k mod 4 takes sin(r), k mod 4 in {1, 2} negates."""
    r, m = _trig_reduce(x)
    z = r * r
    v = _sin_poly(r, z) if i32_and(m, I32(1)) != I32(0) else _cos_poly(z)
    v = -v if i32_and(i32_add(m, I32(1)), I32(2)) != I32(0) else v
    return _finite_or_nan(x, v)


@kernel
def tan_fast_f32(x):
    """tan for float32, vectorisable; <= 2 ulp for |x| < 2**17 (~1.3e5), finite beyond.

    Cody-Waite reduction x = k*pi/2 + (r + rl) whose second step is an exact
    Fast2Sum (tan magnifies errors in r), tan(r) = r + r**3*P(r*r), and for odd
    k -1/tan(r) with one Newton correction of the reciprocal. The parity of k
    is read from the low bit of the rounding-constant sum; +-inf/NaN give NaN
    through the arithmetic itself.
    """
    sk = x * _TWO_OVER_PI + _MAGIC
    k = sk - _MAGIC
    odd = i32_and(f32_bits(sk), I32(1)) != I32(0)
    r1 = fma(-k, _PIO2_A, x)             # exact
    p = k * _PIO2_B
    pl = fma(k, _PIO2_B, -p)             # k*B == p + pl exactly
    s = r1 - p
    tail = fma(-k, _PIO2_C, ((r1 - s) - p) - pl)
    r = s + tail
    big = abs(r) >= _TWO                 # |x| > 2**22: no accurate reduction, stay finite
    rl = _ZERO if big else (s - r) + tail
    r = _ZERO if big else r
    z = r * r
    lo = (r * z) * horner(z, _TAN)
    d = r + lo
    dl = ((r - d) + lo) + fma(rl, d * d, rl)    # tan(r + rl) ~ d + dl
    inv = -_ONE / d
    e = fma(inv, d, _ONE) + inv * dl
    v = fma(inv, e, inv) if odd & (not big) else d + dl
    return x if abs(x) < _TINY_ODD else v


_TANH_SMALL = F32(0.625)      # below: odd polynomial; from here: 1 - 2 / (e**(2|x|) + 1)
_TANH_ONE = F32(9.02)         # tanh rounds to 1 from here on (and 2|x| log2(e) stays < 27)
_TWO_LOG2E = F32(2.885390081777927)
_MAGIC_BIAS = F32(12582912.0 + 127.0)   # rounding constant whose low bits hold rint(t) + 127


@kernel
def tanh_f32(x):
    """tanh for float32, <= 2 ulp: odd polynomial for |x| < 0.625, else 1 - 2 / (e**(2|x|) + 1).

    Branch-free and division-light for full SIMD width (issue 20): e**(2|x|) = 2**k * 2**f
    with k = rint(2|x| log2 e) read from the low bits of the rounding-constant sum (one
    shift gives the exponent field of 2**k: no float-to-int conversion), f = 2|x| log2 e - k
    by one FMA (no rounding of the product), and 2**f a degree-6 polynomial. |x| is clamped
    to 9.02, where tanh rounds to 1. NaN fails ``a >= 0.625`` and so takes the polynomial,
    which returns it; tiny x comes back unchanged, and copysign keeps -0.
    """
    a = abs(x)
    ac = _TANH_ONE if a > _TANH_ONE else a
    sk = ac * _TWO_LOG2E + _MAGIC_BIAS
    f = fma(ac, _TWO_LOG2E, _MAGIC_BIAS - sk)
    e1 = fma(horner(f, _EXP2), f32_from_bits(i32_shl(f32_bits(sk), I32(23))), _ONE)
    z = x * x
    small = fma(x * z, horner(z, _TANH), x)
    return math.copysign(_ONE - _TWO / e1 if a >= _TANH_SMALL else small, x)


@kernel
def sigmoid_f32(x):
    """Logistic 1 / (1 + exp(-x)), evaluated as z/(1+z) for x < 0 to keep precision."""
    z = _exp_core(-_clamp(abs(x), _ZERO, F32(104.0)))
    d = _ONE + z
    dl = (_ONE - d) + z              # d + dl == 1 + z exactly
    num = z if x < _ZERO else _ONE
    rcp = _ONE / d
    q = num * rcp
    rem = fma(-q, d, num) - q * dl   # num - q*(1 + z), nearly exact
    y = fma(rem, rcp, q)
    return x if x != x else y


@kernel
def erf_f32(x):
    """erf: x*P(x*x) for |x| < 1, piecewise polynomials on [1, 2.5), [2.5, 4), 1 beyond."""
    a = abs(x)
    z = x * x
    small = fma(x, _ERF0_HI, x * fma(z, horner(z, _ERF0_TAIL), _ERF0_LO))
    lo = a < F32(2.5)
    t = a - (F32(1.75) if lo else F32(3.25))
    big = horner2(t, lo, _ERF1, _ERF2)
    big = _ONE if a >= F32(4.0) else big
    big = -big if x < _ZERO else big
    return small if a < _ONE else big


@kernel
def sqrt_f32(x):
    """Square root via the hardware instruction (llvm.sqrt)."""
    return math.sqrt(x)


@kernel
def rsqrt_f32(x):
    """1 / sqrt(x) (two correctly rounded steps, <= 1 ulp)."""
    return _ONE / math.sqrt(x)


# ---- pow: log2 and exp2 in float64 ---------------------------------------------
_D_ONE, _D_TWO, _D_HALF = F64(1.0), F64(2.0), F64(0.5)
_D_LOG2E = F64(1.4426950408889634)
_D_LOGR = as_f64(coef.LOGR_POW32)
_D_EXP2 = as_f64(coef.EXP2_POW32)
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
    ay = abs(y)
    ah = ay * _HALF
    rh = (ah + _TWO23) - _TWO23     # nearest integer to ah, exact below 2**23
    return (ay < _TWO24) & (abs(ay - (rh + rh)) == _ONE)


@kernel_inline
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
    v = v * (math.copysign(_ONE, x) if yodd else _ONE)   # (a select on yodd & sign did not vectorise)
    v = _NAN if (x < _ZERO) & (x > -_INF) & (not yint) & (abs(y) < _INF) else v
    # infinite exponent
    vy = _INF if (y > _ZERO) == (ax > _ONE) else _ZERO
    vy = _ONE if ax == _ONE else vy
    v = vy if abs(y) == _INF else v
    v = x + y if (x != x) | (y != y) else v
    return _ONE if (y == _ZERO) | (x == _ONE) else v
