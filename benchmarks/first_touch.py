"""Fresh vs reused output buffers of compiled calls: time and page faults per call.

    python -m benchmarks.first_touch [--n 10000000] [--reps 15] [--per-thread]

W1 (value and gradient of sum(2 sin a + 1)) at N = 10^7 and W4 at 4*10^6 run with the
buffer pool off (every call allocates its gradient arrays, as before: the kernel takes a
page fault per 4 KiB page it first writes) and on (jitgrad.buffer_pool); a 4-element call
shows that small calls pay nothing for the pool. Timings interleaved, best of --reps.

``--per-thread`` shows where a fresh buffer's pages are first touched: the minor page faults
of each call counted per thread (``/proc/self/task/*/stat``), the calling thread against
Numba's worker threads. A fresh gradient array comes from ``np.empty`` (no page touched) and is
first written inside the parallel chunks, so its faults land in the workers that fill it.
"""
from __future__ import annotations

import argparse
import math
import os
import resource
import sys
import time

import numpy as np

if not __package__:  # run as a file: the repository root, for `import jitgrad`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import jitgrad as jg  # noqa: E402
from jitgrad import buffer_pool  # noqa: E402


def _faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def thread_faults() -> dict[int, int]:
    """Minor page faults so far of each thread of this process (Linux), by thread id."""
    out = {}
    for tid in os.listdir('/proc/self/task'):
        try:
            with open(f'/proc/self/task/{tid}/stat') as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        out[int(tid)] = int(fields[7])      # field 10 of stat: minflt
    return out


def faults_by_thread(step, args, reps: int) -> tuple[float, float]:
    """Median minor faults per call (calling thread, other threads) for fresh-buffer calls."""
    main = {t.native_id for t in __import__('threading').enumerate()}
    own, others = [], []
    for _ in range(reps):
        before = thread_faults()
        step(*args)
        after = thread_faults()
        delta = {t: after[t] - before.get(t, 0) for t in after}
        own.append(sum(v for t, v in delta.items() if t in main))
        others.append(sum(v for t, v in delta.items() if t not in main))
    return float(np.median(own)), float(np.median(others))


def _w1(a):
    return (2 * jg.sin(a) + 1).sum()


def _w4(x, y):
    return (jg.tanh(x * y + jg.sin(x)) * jg.exp(-x * x) + jg.log1p(y * y)).mean()


def _compiled(fn, argnums, pooled: bool):
    """A fresh value_and_grad whose executables are built with the pool on or off."""
    saved = buffer_pool.MIN_BYTES
    buffer_pool.MIN_BYTES = saved if pooled else sys.maxsize
    step = jg.value_and_grad(fn, argnums=argnums)
    return step, saved


def measure(fn, argnums, args, reps: int) -> dict:
    """ms/call and minor page faults/call, pool off and on (interleaved)."""
    steps = {}
    for pooled in (False, True):
        step, saved = _compiled(fn, argnums, pooled)
        step(*args)                       # trace + compile with this setting
        buffer_pool.MIN_BYTES = saved
        steps[pooled] = step
    best = {k: math.inf for k in steps}
    faults = {k: [] for k in steps}
    for _ in range(reps):
        for pooled, step in steps.items():
            f0, t = _faults(), time.perf_counter()
            step(*args)
            best[pooled] = min(best[pooled], time.perf_counter() - t)
            faults[pooled].append(_faults() - f0)
    return {k: (best[k] * 1e3, float(np.median(faults[k]))) for k in steps}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--n', type=int, default=10_000_000)
    ap.add_argument('--reps', type=int, default=15)
    ap.add_argument('--per-thread', action='store_true', help='where fresh buffers take their page faults')
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    rows = [
        ('W1', _w1, 0, (np.linspace(0, 2 * np.pi, a.n, dtype=np.float32),)),
        ('W4', _w4, (0, 1), (rng.standard_normal(a.n * 2 // 5, dtype=np.float32),
                             rng.standard_normal(a.n * 2 // 5, dtype=np.float32))),
        ('tiny', _w4, (0, 1), (np.ones(4, np.float32), np.ones(4, np.float32))),
    ]
    if a.per_thread:
        print_per_thread(rows[:2], a.reps)
        return
    print(f'load average {os.getloadavg()[0]:.1f}; best of {a.reps} (ms), median minor page faults per call\n')
    print('| row | N | fresh buffers ms | faults | reused buffers ms | faults | reused / fresh |')
    print('|---|---|---|---|---|---|---|')
    for name, fn, argnums, args in rows:
        reps = a.reps * (200 if name == 'tiny' else 1)
        r = measure(fn, argnums, args, reps)
        (t0, f0), (t1, f1) = r[False], r[True]
        unit = 1e3 if name == 'tiny' else 1.0
        label = 'us' if name == 'tiny' else 'ms'
        print(f'| {name} | {args[0].size:,} | {t0 * unit:.3f} {label} | {f0:.0f} | {t1 * unit:.3f} {label} '
              f'| {f1:.0f} | {t1 / t0:.2f} |', flush=True)


def print_per_thread(rows, reps: int) -> None:
    """Fresh-buffer calls: median minor faults per call in the calling thread and in the rest."""
    import numba
    print(f'{numba.get_num_threads()} Numba threads, layer after first call below; buffer pool off '
          f'(every call allocates), median of {reps} calls\n')
    print('| row | N | faults in calling thread | faults in worker threads | first touched in the parallel chunks |')
    print('|---|---|---|---|---|')
    for name, fn, argnums, args in rows:
        step, saved = _compiled(fn, argnums, pooled=False)
        step(*args)
        own, others = faults_by_thread(step, args, reps)
        buffer_pool.MIN_BYTES = saved
        verdict = 'yes' if others > own else 'no'
        print(f'| {name} | {args[0].size:,} | {own:.0f} | {others:.0f} | {verdict} |', flush=True)
    print(f'\nthreading layer: {numba.threading_layer()}')


if __name__ == '__main__':
    main()
