"""Where a parallel (prange) kernel starts to beat a serial one, on 1 and 2 threads.

    python -m benchmarks.parallel_threshold [--sizes 8192,32768,131072,524288] [--reps 30]

Times W4's compiled value-and-gradient (mean(tanh(xy + sin x) exp(-x^2) + log1p(y^2)))
compiled serial (kernels.cpu.PARALLEL_THRESHOLD above N) and parallel (threshold 0), the
parallel one run with 1 and with 2 Numba threads; best of --reps, interleaved.
kernels.cpu.PARALLEL_THRESHOLD is the size from which parallel pays off. Each row also shows
the chunking a parallel loop of that size gets (min(64, N // 4096) fixed chunks, claimed one
at a time from a shared counter: kernels.source), and the last line says whether the current
threshold agrees with the measurement.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np

if not __package__:  # run as a file: the repository root, for `import jitgrad`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import numba  # noqa: E402

import jitgrad as jg  # noqa: E402
from jitgrad._kernels import cpu  # noqa: E402


def _w4(x, y):
    return (jg.tanh(x * y + jg.sin(x)) * jg.exp(-x * x) + jg.log1p(y * y)).mean()




def measure(n: int, reps: int) -> dict:
    """Best µs per call: serial, parallel on 1 thread, parallel on 2 threads."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal(n, dtype=np.float32), rng.standard_normal(n, dtype=np.float32)
    serial, parallel = jg.value_and_grad(_w4, argnums=(0, 1)), None
    cpu.PARALLEL_THRESHOLD, saved = 1 << 62, cpu.PARALLEL_THRESHOLD
    serial(x, y)
    cpu.PARALLEL_THRESHOLD = 0
    parallel = jg.value_and_grad(lambda a, b: _w4(a, b), argnums=(0, 1))
    parallel(x, y)
    cpu.PARALLEL_THRESHOLD = saved
    threads = min(2, numba.config.NUMBA_NUM_THREADS)
    best = {"serial": math.inf, "parallel 1 thread": math.inf, f"parallel {threads} threads": math.inf}
    for _ in range(reps):
        for name in best:
            numba.set_num_threads(1 if "1 thread" in name else threads)
            fn = serial if name == "serial" else parallel
            t = time.perf_counter()
            fn(x, y)
            best[name] = min(best[name], time.perf_counter() - t)
    numba.set_num_threads(threads)
    return {k: v * 1e6 for k, v in best.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="8192,32768,131072,524288")
    ap.add_argument("--reps", type=int, default=30)
    a = ap.parse_args()
    print(f"Numba threading layer: numba.config.THREADING_LAYER={numba.config.THREADING_LAYER}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}, load average {os.getloadavg()[0]:.1f}; "
          f"current threshold {cpu.PARALLEL_THRESHOLD:,}\n")
    rows = [(int(s), measure(int(s), a.reps)) for s in a.sizes.split(",")]
    names = list(rows[0][1])
    print("| N | chunks | " + " | ".join(f"{n} µs" for n in names) + " | parallel (2 threads) / serial |")
    print("|---:|---:|" + "---:|" * (len(names) + 1))
    for n, r in rows:
        print(f"| {n:,} | {max(1, min(64, n // 4096))} | " + " | ".join(f"{r[k]:.1f}" for k in names)
              + f" | {r[names[-1]] / r['serial']:.2f} |")
    print("\n" + verdict(rows, names[-1], cpu.PARALLEL_THRESHOLD))


def verdict(rows: list, parallel_name: str, threshold: int) -> str:
    """Whether the threshold agrees with the rows: parallel slower below it, faster from it on."""
    wins = [n for n, r in rows if r[parallel_name] < r["serial"]]
    first = min(wins) if wins else None
    agree = all((n >= threshold) == (r[parallel_name] < r["serial"]) for n, r in rows)
    where = f"from N = {first:,}" if first is not None else "at no measured size"
    return (f"threshold {threshold:,}: {parallel_name} beat serial {where}; the threshold "
            f"{'agrees with' if agree else 'does NOT agree with'} every measured size")


if __name__ == "__main__":
    main()
