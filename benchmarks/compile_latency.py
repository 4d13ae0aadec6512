"""First-call latency of compiled functions, cold (empty disk cache) and warm (a new process
with the disk cache the cold run filled), against issue #14's goals.

    python -m benchmarks.compile_latency [--only mlp,loop] [--steps 1000[,3000]] [--repeat 1] [--log]

Each cell is a fresh process (importing jitgrad is not counted) that times the first
`value_and_grad` call: tracing, lowering and Numba's compile or disk-cache load. Rows:
the MLP 1000-100-10 (batch 16, workload W3a) and the `z = (z / x) * y` loop (W6). --log
passes JITGRAD_LOG=compile through, to see where the time goes. Runs on 1 thread.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_CHILD = """
import json, sys, time
t0 = time.perf_counter()
import jitgrad
from jitgrad.benchmarks.workloads import data, jitgrad_jit
imported = time.perf_counter() - t0
row, size = sys.argv[1], int(sys.argv[2])
run = (jitgrad_jit.mlp(data.mlp(size)) if row == "mlp" else jitgrad_jit.div_mul_loop(data.div_mul_loop(size)))
c, t = time.process_time(), time.perf_counter()
run()
first, first_cpu = time.perf_counter() - t, time.process_time() - c
t = time.perf_counter()
run()
print(json.dumps({"first": first, "first_cpu": first_cpu, "second": time.perf_counter() - t, "import": imported}))
"""


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    size: int
    cold_goal: float
    warm_goal: float


def rows(steps: int | list[int]) -> list[Row]:
    """The MLP row, then a loop row per step count (goals: 2 s cold at 1000 steps, 5 s at 3000)."""
    counts = [steps] if isinstance(steps, int) else steps
    return [Row("mlp", "MLP 1000-100-10 value_and_grad (batch 16)", 16, 1.0, 0.1)] + [
        Row("loop", f"{n:,}-iteration z = (z / x) * y value_and_grad", n, 2.0 if n <= 1000 else 5.0 * n / 3000, 0.1)
        for n in counts]


def first_call(row: Row, cache_dir: str, log: bool) -> dict:
    env = dict(os.environ, JITGRAD_CACHE_DIR=cache_dir, NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    if log:
        env["JITGRAD_LOG"] = "compile"
    done = subprocess.run([sys.executable, "-c", _CHILD, row.key, str(row.size)], cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=None if log else subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{row.label}: the child process failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(row: Row, repeat: int, log: bool) -> tuple[dict, dict]:
    """(cold, warm) first calls ({"first": wall s, "first_cpu": CPU s}), best of `repeat`
    fresh caches (on a busy machine the CPU seconds are the steadier figure)."""
    cold = warm = {"first": float("inf"), "first_cpu": float("inf")}
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="jitgrad-latency-") as cache_dir:
            cold = min(cold, first_call(row, cache_dir, log), key=lambda r: r["first"])
            warm = min(warm, first_call(row, cache_dir, log), key=lambda r: r["first"])
    return cold, warm


def _verdict(seconds: float, goal: float) -> str:
    return f"{'met' if seconds <= goal else 'NOT met'} (goal <= {goal:g} s)"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog=f"python -m {__package__}.compile_latency", description=__doc__.splitlines()[0])
    p.add_argument("--only", default="mlp,loop", help="comma-separated rows: mlp, loop")
    p.add_argument("--steps", default="1000", help="iterations of the loop row (comma-separated: one row each)")
    p.add_argument("--repeat", type=int, default=1, help="best of this many cold+warm pairs")
    p.add_argument("--log", action="store_true", help="show the children's JITGRAD_LOG=compile lines")
    args = p.parse_args(argv)
    wanted = set(args.only.split(","))
    print("| first call (fresh process, 1 thread) | cold s (CPU s) | goal | warm s (CPU s) | goal |")
    print("|---|---:|---|---:|---|")
    for row in rows([int(n) for n in args.steps.split(",")]):
        if row.key not in wanted:
            continue
        cold, warm = measure(row, args.repeat, args.log)
        print(f"| {row.label} | {cold['first']:.2f} ({cold['first_cpu']:.2f}) "
              f"| {_verdict(cold['first'], row.cold_goal)} "
              f"| {warm['first']:.3f} ({warm['first_cpu']:.3f}) "
              f"| {_verdict(warm['first'], row.warm_goal)} |", flush=True)


if __name__ == "__main__":
    main()
