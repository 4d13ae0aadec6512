"""Exact range reduction for sin/cos/tan of large arguments (Payne-Hanek, float64 digits).

Cody-Waite reduction (``_f64._trig_reduce``) loses accuracy once k*pi/2 needs more bits of pi
than its three parts hold. Here x * 2/pi is computed exactly enough, whatever |x| (up to the
largest float64): x's 53-bit significand as three 24-bit digits times 24-bit digits of 2/pi
(each product < 2**48, each column sum < 2**50: exact in float64), carries propagated, the
multiples of 4 dropped, and the fraction summed from the top in double-double -- 7 columns
(~168 bits) cover the worst case (|x mod pi/2| ~ 2**-61 |x| for float64 arguments).

Only called for large |x| (the callers branch on a cheap range check), so its cost does not
touch the common range. Straight-line arithmetic and one constant table,
so it compiles under numba.njit and numba.cuda.jit(device=True) alike.
"""
import math

import numpy as np

from ._prims import F64, I32, I64, f64_bits, f64_from_bits, fma, kernel


def _two_over_pi_digits(n: int) -> np.ndarray:
    """The first n 24-bit digits of the fraction of 2/pi (2/pi = sum d[k] 2**(-24(k+1)))."""
    bits = 24 * n + 64
    one = 1 << (bits + 16)

    def arctan_inv(m: int) -> int:  # arctan(1/m) * one, by its Taylor series in integers
        total, term, k, m2 = 0, one // m, 1, m * m
        while term:
            total += term // k if (k // 2) % 2 == 0 else -(term // k)
            term //= m2
            k += 2
        return total

    pi = 4 * (4 * arctan_inv(5) - arctan_inv(239))  # Machin's formula, scaled by `one`
    frac = (2 * one * one // pi) >> 16             # 2/pi * 2**bits (2/pi < 1: all fraction)
    return np.array([(frac >> (bits - 24 * (k + 1))) & 0xFFFFFF for k in range(n)], dtype=np.float64)


_DIGITS = _two_over_pi_digits(56)   # enough for exponents up to 1023 (+ 7 columns)
_TWO24 = F64(16777216.0)
_INV24 = F64(1.0 / 16777216.0)
_PIO2_HI = F64(1.5707963267948966)
_PIO2_LO = F64(6.123233995736766e-17)


@kernel
def _floor(t):
    """floor(t) as a float64 (|t| < 2**62 here)."""
    return F64(math.floor(t))


@kernel
def _pow2(n):
    """The bits of 2.0**n for an integer n in [-1022, 1023]."""
    return I64(n + 1023) << 52


@kernel
def _two_sum(a, b):
    """(s, e) with s = fl(a + b) and a + b = s + e exactly."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


@kernel
def reduce_big(x):
    """For finite x with |x| >= 2**20: (r_hi, r_lo, q) with x = (4n + q) * pi/2 + r, r = r_hi + r_lo
    (|r| <= ~pi/4, double-double), q in -1..2 (a float)."""
    ax = abs(x)
    e0 = I32((f64_bits(ax) >> 52) & 0x7FF) - 1023          # unbiased exponent (ax is normal)
    m = ax * _scale_exact(52 - e0)                             # the significand as an integer < 2**53
    x0 = _floor(m * _INV24 * _INV24)
    rest = m - x0 * _TWO24 * _TWO24
    x1 = _floor(rest * _INV24)
    x2 = rest - x1 * _TWO24
    # x * 2/pi = sum_j D_j 2**(e0 - 28 - 24 j),  D_j = x0 C[j] + x1 C[j-1] + x2 C[j-2]
    j0 = (e0 - 29 + 23) // 24
    j0 = j0 if j0 > 0 else 0
    s0 = e0 - 28 - 24 * j0                                     # in [-22, 1]
    d0 = _column(x0, x1, x2, j0)
    d1 = _column(x0, x1, x2, j0 + 1)
    d2 = _column(x0, x1, x2, j0 + 2)
    d3 = _column(x0, x1, x2, j0 + 3)
    d4 = _column(x0, x1, x2, j0 + 4)
    d5 = _column(x0, x1, x2, j0 + 5)
    d6 = _column(x0, x1, x2, j0 + 6)
    # carries, least significant first: every column below the top ends in [0, 2**24)
    c = _floor(d6 * _INV24)
    d6 -= c * _TWO24
    d5 += c
    c = _floor(d5 * _INV24)
    d5 -= c * _TWO24
    d4 += c
    c = _floor(d4 * _INV24)
    d4 -= c * _TWO24
    d3 += c
    c = _floor(d3 * _INV24)
    d3 -= c * _TWO24
    d2 += c
    c = _floor(d2 * _INV24)
    d2 -= c * _TWO24
    d1 += c
    c = _floor(d1 * _INV24)
    d1 -= c * _TWO24
    d0 += c
    top = d0 * _scale_exact(s0)
    top = top - F64(4.0) * _floor(top * F64(0.25))           # mod 4, exact
    u = _scale_exact(s0 - 24)
    approx = top + d1 * u + d2 * (u * _INV24)
    n = _floor(approx + F64(0.5))
    hi = (top - n) + d1 * u                                     # exact (see the module docstring)
    hi, lo = _two_sum(hi, d2 * (u * _INV24))
    u = u * _INV24 * _INV24
    hi, t = _two_sum(hi, d3 * u)
    lo += t
    u = u * _INV24
    hi, t = _two_sum(hi, d4 * u)
    lo += t
    u = u * _INV24
    hi, t = _two_sum(hi, d5 * u + d6 * (u * _INV24))
    lo += t
    hi, lo = _two_sum(hi, lo)
    # r = (hi + lo) * pi/2 in double-double
    r = hi * _PIO2_HI
    rl = fma(hi, _PIO2_HI, -r) + (hi * _PIO2_LO + lo * _PIO2_HI)
    r, rl = _two_sum(r, rl)
    q = n - F64(4.0) * _floor(n * F64(0.25))
    if x < 0:
        r, rl = -r, -rl
        q = F64(0.0) if q == F64(0.0) else F64(4.0) - q
    q = q - F64(4.0) if q == F64(3.0) else q                   # the callers' convention: -1..2
    return r, rl, q


@kernel
def _scale_exact(n):
    """2.0**n for an integer n in [-2044, 2046] (two exact factors: no overflow or subnormals)."""
    h = n // 2
    return f64_from_bits(_pow2(h)) * f64_from_bits(_pow2(n - h))


@kernel
def _column(x0, x1, x2, j):
    """D_j = x0 C[j] + x1 C[j-1] + x2 C[j-2] (C[k] = 0 for k < 0): exact, < 2**50."""
    a = _DIGITS[j]
    b = _DIGITS[j - 1] if j >= 1 else F64(0.0)
    c = _DIGITS[j - 2] if j >= 2 else F64(0.0)
    return x0 * a + x1 * b + x2 * c
