"""What the fork-safe threading layer costs: a parallel kernel under Numba's OpenMP layer and
under workqueue (jitgrad's default where TBB is not installed, see kernels/threads.py).

    python -m benchmarks.threading_layers [--sizes 131072,524288] [--reps 30] [--rounds 3] [--threads 2]

Each layer runs in its own process (a process loads one layer, once); the rounds alternate
between the layers so that a machine whose load changes affects both alike. Reported: best
µs per call of W4's compiled value-and-gradient (parallel chunks), and workqueue / omp.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

_CHILD = """
import json, sys, time
import numpy as np
import numba
import jitgrad as jg
from jitgrad._kernels import cpu
cpu.PARALLEL_THRESHOLD = 0
sizes, reps = json.loads(sys.argv[1]), int(sys.argv[2])
f = jg.value_and_grad(lambda x, y: (jg.tanh(x * y + jg.sin(x)) * jg.exp(-x * x) + jg.log1p(y * y)).mean(),
                      argnums=(0, 1))
out = {}
for n in sizes:
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal(n, dtype=np.float32), rng.standard_normal(n, dtype=np.float32)
    f(x, y)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        f(x, y)
        best = min(best, time.perf_counter() - t)
    out[n] = best * 1e6
print(json.dumps({"layer": numba.threading_layer(), "us": out}))
"""


def run_layer(layer: str, sizes: list[int], reps: int, threads: int) -> dict:
    env = dict(os.environ, NUMBA_THREADING_LAYER=layer, NUMBA_NUM_THREADS=str(threads))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(sizes), str(reps)], cwd=root, env=env,
                          capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["layer"] == layer, result
    return {int(n): us for n, us in result["us"].items()}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog=f"python -m {__package__}.threading_layers", description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="131072,524288")
    p.add_argument("--reps", type=int, default=30)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    best = {layer: {n: float("inf") for n in sizes} for layer in ("omp", "workqueue")}
    for _ in range(args.rounds):
        for layer in best:
            for n, us in run_layer(layer, sizes, args.reps, args.threads).items():
                best[layer][n] = min(best[layer][n], us)
    print(f"\nparallel W4 value-and-grad, {args.threads} threads, best of {args.rounds} x {args.reps}")
    print("| N | omp µs | workqueue µs | workqueue / omp |")
    print("|---:|---:|---:|---:|")
    for n in sizes:
        o, w = best["omp"][n], best["workqueue"][n]
        print(f"| {n:,} | {o:.1f} | {w:.1f} | {w / o:.2f} |")


if __name__ == "__main__":
    main()
