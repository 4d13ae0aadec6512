"""Throughput of kernels.vmath loops vs NumPy ufuncs and math.* loops.

    python -m benchmarks.vmath_speed [--quick] [--dtype float32|float64]

Prints a Markdown table of ns/element (single thread, best of several runs).
"""
import argparse
import math
import os
import sys
import time

import numba
import numpy as np
from numba import njit

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from kernels import vmath as vm  # noqa: E402

OPTS = vm.JIT_OPTIONS


def _sigmoid_np(x):
    """NumPy reference sigmoid (three temporaries)."""
    return 1 / (1 + np.exp(-x))


NUMPY = {
    'exp': np.exp, 'expm1': np.expm1, 'exp2': np.exp2, 'log': np.log, 'log1p': np.log1p,
    'log2': np.log2, 'sin': np.sin, 'cos': np.cos, 'tan': np.tan, 'tanh': np.tanh,
    'sigmoid': _sigmoid_np, 'erf': None, 'pow': np.power, 'sqrt': np.sqrt,
    'rsqrt': lambda x: 1 / np.sqrt(x),
}

MATH = {
    'exp': lambda x: math.exp(x), 'expm1': lambda x: math.expm1(x),
    'exp2': lambda x: 2.0 ** x, 'log': lambda x: math.log(x),
    'log1p': lambda x: math.log1p(x), 'log2': lambda x: math.log2(x),
    'sin': lambda x: math.sin(x), 'cos': lambda x: math.cos(x), 'tan': lambda x: math.tan(x),
    'tanh': lambda x: math.tanh(x), 'sigmoid': lambda x: 1 / (1 + math.exp(-x)),
    'erf': lambda x: math.erf(x), 'pow': lambda x, y: x ** y, 'sqrt': lambda x: math.sqrt(x),
    'rsqrt': lambda x: 1 / math.sqrt(x),
}


def _loop1(f):
    """Compiled out[i] = f(x[i])."""
    @njit(**OPTS)
    def loop(x, out):
        for i in range(x.size):
            out[i] = f(x[i])
    return loop


def _loop_versioned(fast, check, full, dtype):
    """The loop jitgrad generates for sin/cos/tan: fast version plus range check, then a second
    pass with the full-range function only if some argument was large."""
    zero = check.py_func(dtype(0))  # 0 as an int32 (float32) / int64 (float64): as wide as the lanes

    @njit(**OPTS)
    def loop(x, out):
        large = zero
        for i in range(x.size):
            out[i] = fast(x[i])
            c = check(x[i])
            large = c if c > large else large  # (an integer max: vectorises, like generated code)
        if large > 0:
            for i in range(x.size):
                out[i] = full(x[i])
    return loop


def _vmath_loop(op, dtype):
    """The compiled loop of vmath's op, as generated code runs it."""
    if op in vm.FAST:
        k = 0 if np.dtype(dtype) == np.float32 else 1
        return _loop_versioned(getattr(vm, vm.FAST[op][k]), getattr(vm, vm.LARGE_CHECK[k]), vm.resolve(op, dtype),
                               np.dtype(dtype).type)
    return (_loop2 if op == 'pow' else _loop1)(vm.resolve(op, dtype))


def _loop2(f):
    """Compiled out[i] = f(x[i], y[i])."""
    @njit(**OPTS)
    def loop(x, y, out):
        for i in range(x.size):
            out[i] = f(x[i], y[i])
    return loop


def _best(fn, reps):
    """Best wall time of reps calls."""
    best = math.inf
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _inputs(op, n, dtype, rng):
    """Representative inputs for op."""
    x = rng.uniform(-10, 10, n)
    if op in ('log', 'log2', 'sqrt', 'rsqrt'):
        x = rng.uniform(0.01, 100, n)
    elif op == 'log1p':
        x = rng.uniform(-0.9, 100, n)
    elif op == 'pow':
        return x.__abs__().astype(dtype), rng.uniform(-3, 3, n).astype(dtype)
    elif op in ('sin', 'cos', 'tan'):
        x = rng.uniform(-100, 100, n)
    return (x.astype(dtype),)


def bench_op(op, n, dtype, reps, rng):
    """(numpy, vmath, math) ns/element for one op."""
    args = _inputs(op, n, dtype, rng)
    out = np.empty(n, dtype)
    mk = _loop2 if op == 'pow' else _loop1
    vloop = _vmath_loop(op, dtype)
    mf = MATH[op]
    mloop = mk(njit(**OPTS)(mf))
    vloop(*args, out)
    mloop(*args, out)
    res = []
    npf = NUMPY[op]
    if npf is None:
        res.append(math.nan)
    else:
        with np.errstate(all='ignore'):
            res.append(_best(lambda: npf(*args), reps) / n * 1e9)
    res.append(_best(lambda: vloop(*args, out), reps) / n * 1e9)
    res.append(_best(lambda: mloop(*args, out), reps) / n * 1e9)
    return res


def bench_fused(n, dtype, reps, rng):
    """The fused expression tanh(x*y + sin(x)) * exp(-x*x) + log1p(y*y)."""
    sfx = '_f32' if dtype == np.float32 else '_f64'
    tanh, sin, exp, log1p = (getattr(vm, f + sfx) for f in ('tanh', 'sin', 'exp', 'log1p'))

    @njit(**OPTS)
    def fused(x, y, out):
        for i in range(x.size):
            a, b = x[i], y[i]
            out[i] = tanh(a * b + sin(a)) * exp(-a * a) + log1p(b * b)

    x = rng.uniform(-3, 3, n).astype(dtype)
    y = rng.uniform(-3, 3, n).astype(dtype)
    out = np.empty(n, dtype)
    fused(x, y, out)
    t_np = _best(lambda: np.tanh(x * y + np.sin(x)) * np.exp(-x * x) + np.log1p(y * y), reps)
    t_vm = _best(lambda: fused(x, y, out), reps)
    return t_np / n * 1e9, t_vm / n * 1e9


def main() -> None:
    """Print the throughput table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--quick', action='store_true', help='256K elements, fewer repeats')
    ap.add_argument('--dtype', default='float32', choices=['float32', 'float64'])
    ap.add_argument('--n', type=int, default=0)
    a = ap.parse_args()
    numba.set_num_threads(1)
    dtype = np.dtype(a.dtype).type
    n = a.n or (1 << 18 if a.quick else 1 << 22)
    reps = 3 if a.quick else 7
    rng = np.random.default_rng(0)
    print(f'{a.dtype}, n={n}, single thread, numpy {np.__version__}, numba {numba.__version__}\n')
    print('| function | NumPy ns/el | vmath loop ns/el | math.* loop ns/el | vmath / NumPy |')
    print('|---|---|---|---|---|')
    for op in vm.FUNCTIONS:
        t_np, t_vm, t_m = bench_op(op, n, dtype, reps, rng)
        ratio = f'{t_vm / t_np:.2f}' if t_np == t_np else 'n/a'
        print(f'| {op} | {t_np:.2f} | {t_vm:.2f} | {t_m:.2f} | {ratio} |', flush=True)
    t_np, t_vm = bench_fused(n, dtype, reps, rng)
    print(f'| fused tanh(x*y+sin(x))*exp(-x*x)+log1p(y*y) | {t_np:.2f} | {t_vm:.2f} | '
          f'| {t_vm / t_np:.2f} (speed-up {t_np / t_vm:.1f}x) |')


if __name__ == '__main__':
    main()
