"""Throughput of kernels.vmath loops vs NumPy ufuncs and math.* loops.

    python -m benchmarks.vmath_speed [--quick] [--dtype float32|float64]
    python -m benchmarks.vmath_speed --goals [--reps 15] [--step 4099]

Prints a Markdown table of ns/element (single thread, best of several runs). ``--goals``
prints the issue-20 table instead: each goal function on the same 4M float32 array against
NumPy's own ufunc (``out=`` given, 1 thread, timings interleaved, best of --reps), the ratio
with its goal (<= 1.2x) as met or not, and the max error in ulp over the whole float32 range
(every --step-th bit pattern, against NumPy's float64 result rounded) with its bound (2 ulp).
"""
import argparse
import math
import os
import sys
import time

import numba
import numpy as np
from numba import njit

if not __package__:  # run as a file: the repository root, for `import jitgrad`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from jitgrad._kernels import vmath as vm  # noqa: E402

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
    """The fused expression tanh(x*y + sin(x)) * exp(-x*x) + log1p(y*y), as generated code runs it: sin's
    branch-free fast version with the range check max-reduced alongside, the full-range pass only if needed
    (a loop calling the full sin, whose large-argument path is a call, does not vectorise)."""
    k = 0 if dtype == np.float32 else 1
    sfx = ('_f32', '_f64')[k]
    tanh, sin, exp, log1p = (getattr(vm, f + sfx) for f in ('tanh', 'sin', 'exp', 'log1p'))
    sin_fast, large_check = getattr(vm, vm.FAST['sin'][k]), getattr(vm, vm.LARGE_CHECK[k])
    zero = large_check.py_func(dtype(0))

    @njit(**OPTS)
    def fused(x, y, out):
        large = zero
        for i in range(x.size):
            a, b = x[i], y[i]
            out[i] = tanh(a * b + sin_fast(a)) * exp(-a * a) + log1p(b * b)
            c = large_check(a)
            large = c if c > large else large
        if large > 0:
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


GOAL_FUNCTIONS = ('exp', 'log', 'log1p', 'sin', 'cos', 'tanh', 'sigmoid')
GOAL_RATIO = 1.2
GOAL_ULP32 = 2.0


def _numpy_call(op, x, out):
    """NumPy's ufunc into out (sigmoid has none: the hand-written 1 / (1 + exp(-x)))."""
    if op == 'sigmoid':
        return lambda: _sigmoid_np(x)
    f = NUMPY[op]
    return lambda: f(x, out=out)


def interleaved_best(fns, reps):
    """Best wall time of each callable, the calls interleaved (so load drifts hit all alike)."""
    best = [math.inf] * len(fns)
    for _ in range(reps):
        for i, fn in enumerate(fns):
            t = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t)
    return best


def _reference64(op, x):
    """float64 NumPy result for float32 inputs x (libm, < 1 ulp of float64)."""
    with np.errstate(all='ignore'):
        d = x.astype(np.float64)
        if op == 'sigmoid':
            return 1 / (1 + np.exp(-d))
        return getattr(np, op)(d)


def ulp32_error(y, ref):
    """Elementwise error of float32 y in ulp of the float64 reference (0 where both NaN/equal)."""
    with np.errstate(all='ignore'):
        r32 = ref.astype(np.float32)
        err = np.abs(y.astype(np.float64) - ref) / np.spacing(np.abs(r32)).astype(np.float64)
    same = (y == r32) | (np.isnan(y) & np.isnan(ref))
    bad = np.isnan(y) | np.isnan(ref) | np.isinf(y) | np.isinf(r32)
    return np.where(same, 0.0, np.where(bad, np.inf, err))


def whole_range_ulp(op, loop, step):
    """(max ulp, worst x) of a float32 loop over every step-th float32 bit pattern."""
    x = np.arange(0, 1 << 32, step, dtype=np.uint64).astype(np.uint32).view(np.float32)
    y = np.empty_like(x)
    loop(x, y)
    err = ulp32_error(y, _reference64(op, x))
    i = int(np.argmax(err))
    return float(err[i]), float(x[i])


def goals_table(n, reps, step, rng) -> list[dict]:
    """The issue-20 vmath rows: ns/element vs NumPy (same array, same run) and whole-range ulp."""
    rows = []
    for op in GOAL_FUNCTIONS:
        (x,) = _inputs(op, n, np.float32, rng)
        out = np.empty_like(x)
        loop = _vmath_loop(op, np.float32)   # (sin/cos: as generated code runs them, range-checked)
        loop(x, out)
        t_np, t_vm = interleaved_best([_numpy_call(op, x, out), lambda x=x, out=out, loop=loop: loop(x, out)], reps)
        ulp, worst = whole_range_ulp(op, loop, step)
        rows.append({'op': op, 'numpy_ns': t_np / n * 1e9, 'vmath_ns': t_vm / n * 1e9,
                     'ratio': t_vm / t_np, 'ulp': ulp, 'worst_x': worst})
    return rows


def print_goals(rows, n, step) -> None:
    """Markdown table of goals_table's rows, each goal printed as met or not."""
    print(f'float32, n={n}, 1 thread, numpy {np.__version__}, numba {numba.__version__}, '
          f'load average {os.getloadavg()[0]:.1f}; ulp over every {step}th float32 bit pattern\n')
    print('| function | NumPy ns/el | vmath ns/el | vmath / NumPy | goal <= 1.2x | max ulp (whole range) '
          '| worst x | goal <= 2 ulp |')
    print('|---|---|---|---|---|---|---|---|')
    for r in rows:
        speed = 'met' if r['ratio'] <= GOAL_RATIO else 'NOT met'
        acc = 'met' if r['ulp'] <= GOAL_ULP32 else 'NOT met'
        print(f"| {r['op']} | {r['numpy_ns']:.3f} | {r['vmath_ns']:.3f} | {r['ratio']:.2f} | {speed} "
              f"| {r['ulp']:.2f} | {r['worst_x']:.6g} | {acc} |", flush=True)
    print('\n(sigmoid: NumPy has no ufunc; its column is the hand-written 1 / (1 + np.exp(-x)))')


def main() -> None:
    """Print the throughput table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--quick', action='store_true', help='256K elements, fewer repeats')
    ap.add_argument('--dtype', default='float32', choices=['float32', 'float64'])
    ap.add_argument('--n', type=int, default=0)
    ap.add_argument('--goals', action='store_true', help='issue-20 goal table (float32, 4M, whole-range ulp)')
    ap.add_argument('--reps', type=int, default=0, help='timed repetitions (best of)')
    ap.add_argument('--step', type=int, default=4099, help='--goals: float32 bit-pattern stride for ulp')
    a = ap.parse_args()
    numba.set_num_threads(1)
    if a.goals:
        n = a.n or (1 << 22)
        print_goals(goals_table(n, a.reps or 15, a.step, np.random.default_rng(0)), n, a.step)
        return
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
