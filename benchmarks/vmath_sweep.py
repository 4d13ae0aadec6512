"""Accuracy sweep of kernels.vmath against libm in float64/long double.

float32 unary functions: every float32 bit pattern (``--exhaustive``, 2**32
inputs, about half a minute per function on 2 cores) or a dense strided subset
(default: every 257th pattern, plus special values). float64 and pow: random
samples, log-uniform in magnitude, against long-double NumPy (or float64 libm
for erf). Reports max error in ulp of the correctly rounded result.

    python benchmarks/vmath_sweep.py [--exhaustive] [--only exp,sin] [--n64 2000000]
"""
import argparse
import math
import os
import sys
import time

import numba
import numpy as np
from numba import njit, prange

if not __package__:  # run as a file: the repository root, for `import jitgrad`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from jitgrad._kernels import vmath as vm  # noqa: E402
from jitgrad._kernels.vmath._prims import f32_bits, f32_from_bits  # noqa: E402

F32_BOUND, F64_BOUND = 2.0, 4.0
TRIG_BOUND_F32 = math.inf  # sin/cos/tan are accurate over the whole range (exact reduction
TAN_BOUND_F32 = math.inf   # for large arguments, kernels/vmath/_trig_big.py)
TRIG_BOUND_F64 = math.inf


@njit(error_model='numpy')
def _ulp32(a):
    """Spacing of float32 at |a| (a a float32 magnitude, finite)."""
    b = f32_bits(np.float32(a)) & np.int32(0x7F800000)
    if b == 0:
        return 2.0**-149
    return np.float64(f32_from_bits(np.int32(b))) * 2.0**-23


@njit(error_model='numpy')
def _err32(y, ref):
    """Error of float32 y in ulp of float64 reference ref."""
    r32 = np.float32(ref)
    if y == r32 or (y != y and ref != ref):
        return 0.0
    if y != y or ref != ref or math.isinf(y) or math.isinf(r32):
        return math.inf
    return abs(np.float64(y) - ref) / _ulp32(abs(r32))


def _ref64(op):
    """Numba-compilable float64 reference for op (libm)."""
    table = {
        'exp': lambda x: math.exp(x), 'expm1': lambda x: math.expm1(x),
        'exp2': lambda x: 2.0 ** x, 'log': lambda x: math.log(x) if x > 0 else
        (-math.inf if x == 0 else math.nan),
        'log1p': lambda x: math.log1p(x) if x > -1 else (-math.inf if x == -1 else math.nan),
        'log2': lambda x: math.log2(x) if x > 0 else (-math.inf if x == 0 else math.nan),
        'sin': lambda x: math.sin(x), 'cos': lambda x: math.cos(x),
        'tan': lambda x: math.tan(x), 'tanh': lambda x: math.tanh(x),
        'sigmoid': lambda x: 1.0 / (1.0 + math.exp(-x)), 'erf': lambda x: math.erf(x),
        'sqrt': lambda x: math.sqrt(x) if x >= 0 else math.nan,
        'rsqrt': lambda x: 1.0 / math.sqrt(x) if x > 0 else
        (math.copysign(math.inf, x) if x == 0 else math.nan),
    }
    return njit(error_model='numpy')(table[op])


def make_sweep32(op):
    """Compiled (lo, hi, step) -> per-block (max err, worst bits, n over bound)."""
    f = vm.resolve(op, np.float32)
    ref = _ref64(op)

    @njit(parallel=True, error_model='numpy')
    def sweep(lo, hi, step, nblk, xmax):
        """Sweep bit patterns lo, lo+step, ... < hi in nblk parallel blocks."""
        worst = np.zeros(nblk)
        where = np.zeros(nblk, np.int64)
        over = np.zeros(nblk, np.int64)
        count = (hi - lo + step - 1) // step
        per = (count + nblk - 1) // nblk
        for b in prange(nblk):
            for j in range(b * per, min(count, (b + 1) * per)):
                bits = lo + j * step
                x = f32_from_bits(np.int32(np.int64(bits) - (1 << 32) if bits >= (1 << 31) else bits))
                if not abs(x) < xmax and abs(x) != np.inf:
                    continue
                e = _err32(f(x), ref(np.float64(x)))
                if e > worst[b]:
                    worst[b] = e
                    where[b] = bits
                if e > 2.0:
                    over[b] += 1
        return worst, where, over

    return sweep


def sweep32(op, step):
    """Run the float32 sweep for op; returns (max ulp, worst x, n over bound, seconds)."""
    sweep = make_sweep32(op)
    xmax = {'sin': TRIG_BOUND_F32, 'cos': TRIG_BOUND_F32, 'tan': TAN_BOUND_F32}.get(op, math.inf)
    sweep(0, 64, 1, 2, xmax)   # compile
    t = time.perf_counter()
    worst, where, over = 0.0, 0, 0
    chunk = 1 << 28
    for lo in range(0, 1 << 32, chunk):
        w, b, o = sweep(lo, lo + chunk, step, 64, xmax)
        i = int(np.argmax(w))
        if w[i] > worst:
            worst, where = float(w[i]), int(b[i])
        over += int(o.sum())
    x = np.array([where], np.uint32).view(np.float32)[0]
    return worst, float(x), over, time.perf_counter() - t


def _samples64(n, rng, lo_exp=-30, hi_exp=30, signed=True):
    """Log-uniform float64 samples with random signs plus a few special values."""
    x = np.exp2(rng.uniform(lo_exp, hi_exp, n)) * (rng.choice([-1.0, 1.0], n) if signed else 1.0)
    return x


def _ref_ld(op, x):
    """Long-double (or float64) NumPy reference for float64 inputs."""
    ld = x.astype(np.longdouble)
    with np.errstate(all='ignore'):
        if op == 'sigmoid':
            return 1 / (1 + np.exp(-ld))
        if op == 'erf':
            return np.array([math.erf(v) for v in x], np.longdouble)
        if op == 'rsqrt':
            return 1 / np.sqrt(ld)
        return getattr(np, op)(ld)


def ulp64_err(y, ref):
    """Elementwise error of float64 y in ulp of the long-double reference."""
    r64 = ref.astype(np.float64)
    with np.errstate(all='ignore'):
        err = np.abs(y.astype(np.longdouble) - ref) / np.spacing(np.abs(r64)).astype(np.longdouble)
    same = (y == r64) | (np.isnan(y) & np.isnan(r64))
    err = np.where(same, 0, err)
    err = np.where(~same & (np.isnan(y) | np.isnan(r64) | np.isinf(y) | np.isinf(r64)), np.inf, err)
    return err.astype(np.float64)


RANGES64 = {'exp': (-745, 709), 'expm1': (-40, 709), 'exp2': (-1075, 1023), 'sigmoid': (-745, 40),
            'tanh': (-25, 25), 'erf': (-7, 7), 'sin': (-1e5, 1e5), 'cos': (-1e5, 1e5),
            'tan': (-1e5, 1e5)}


def apply(f, *args):
    """Evaluate a scalar njit function over arrays (through a compiled loop)."""
    out = np.empty_like(args[0])
    _loop1(f, args[0], out) if len(args) == 1 else _loop2(f, args[0], args[1], out)
    return out


@njit(error_model='numpy')
def _loop1(f, x, out):
    for i in range(x.size):
        out[i] = f(x[i])


@njit(error_model='numpy')
def _loop2(f, x, y, out):
    for i in range(x.size):
        out[i] = f(x[i], y[i])


def sweep64(op, n, rng):
    """Max ulp error of op_f64 on n random samples (mixed log-uniform and linear)."""
    f = vm.resolve(op, np.float64)
    top = min(math.log2(TRIG_BOUND_F64), 1023) if op in ('sin', 'cos', 'tan') else 1023
    parts = [_samples64(n // 2, rng, -1074, top)]
    lo, hi = RANGES64.get(op, (-50, 50))
    parts.append(rng.uniform(lo, hi, n - n // 2))
    x = np.concatenate(parts)
    if op in ('log', 'log2', 'sqrt', 'rsqrt'):
        x = np.abs(x)
    if op == 'log1p':
        x = np.where(x < -1, np.abs(x), x)
    t = time.perf_counter()
    y = apply(f, x)
    ref = _ref_ld(op, x)
    err = ulp64_err(y, ref)
    i = int(np.argmax(err))
    return float(err[i]), float(x[i]), int((err > F64_BOUND).sum()), time.perf_counter() - t


def pow_check(dtype, n, rng):
    """Max ulp error of pow on random (x, y) pairs, x > 0 and x < 0 with integer y."""
    x = np.exp2(rng.uniform(-20, 20, n))
    y = rng.uniform(-30, 30, n)
    neg = rng.random(n) < 0.25
    y = np.where(neg, np.round(y), y)
    x = np.where(neg, -x, x)
    ok = np.abs(y * np.log2(np.abs(x))) < (125 if dtype == np.float32 else 1000)
    x, y = x[ok].astype(dtype), y[ok].astype(dtype)
    got = apply(vm.resolve('pow', dtype), x, y)
    with np.errstate(all='ignore'):
        ref = np.power(x.astype(np.longdouble), y.astype(np.longdouble))
    if dtype == np.float32:
        r = ref.astype(np.float64)
        err = np.abs(got.astype(np.float64) - r) / np.spacing(np.abs(r).astype(np.float32)).astype(np.float64)
        err = np.where(got == r.astype(np.float32), 0, err)
    else:
        err = ulp64_err(got, ref)
    i = int(np.argmax(err))
    return float(err[i]), (float(x[i]), float(y[i]))


def main() -> None:
    """Command-line entry point: print a Markdown accuracy table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--exhaustive', action='store_true', help='all 2**32 float32 inputs')
    ap.add_argument('--step', type=int, default=257, help='float32 stride when not exhaustive')
    ap.add_argument('--only', default='', help='comma-separated ops')
    ap.add_argument('--n64', type=int, default=1_000_000, help='float64 samples per op')
    ap.add_argument('--skip64', action='store_true')
    ap.add_argument('--skip32', action='store_true')
    a = ap.parse_args()
    ops = [o for o in vm.FUNCTIONS if o != 'pow']
    if a.only:
        ops = [o for o in ops if o in a.only.split(',')]
    step = 1 if a.exhaustive else a.step
    rng = np.random.default_rng(1)
    print(f'numba {numba.__version__}, threads {numba.get_num_threads()}, '
          f'float32 stride {step} ({(1 << 32) // step} inputs per op)\n')
    print('| op | f32 max ulp | f32 worst x | f32 >2ulp | f32 s | f64 max ulp | f64 worst x | f64 s |')
    print('|---|---|---|---|---|---|---|---|')
    t0 = time.perf_counter()
    for op in ops:
        r32 = sweep32(op, step) if not a.skip32 else (math.nan, math.nan, 0, 0.0)
        r64 = sweep64(op, a.n64, rng) if not a.skip64 else (math.nan, math.nan, 0, 0.0)
        print(f'| {op} | {r32[0]:.3f} | {r32[1]:.9g} | {r32[2]} | {r32[3]:.1f} '
              f'| {r64[0]:.3f} | {r64[1]:.17g} | {r64[3]:.1f} |', flush=True)
    if not a.only or 'pow' in a.only.split(','):
        e32, w32 = pow_check(np.float32, 2_000_000, rng)
        e64, w64 = pow_check(np.float64, a.n64, rng)
        print(f'| pow (random pairs) | {e32:.3f} | {w32} | | | {e64:.3f} | {w64} | |')
    print(f'\ntotal {time.perf_counter() - t0:.1f} s')


if __name__ == '__main__':
    main()
