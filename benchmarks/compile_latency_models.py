"""Compile latency of whole models (issue 14; the MLP and loop rows are in compile_latency.py):
the first jit_grad forward + backward in a fresh process with an empty kernel cache, one
thread, against the goals: `python -m benchmarks.compile_latency_models [--only gru16,gru32,trf]`.
Each row runs in its own subprocess (a fresh Numba
and an empty $JITGRAD_CACHE_DIR); the row prints its wall time and the process's CPU time (on
a busy machine the CPU time is the steadier figure) and how many Numba functions it compiled (the time steps of the RNN
and the layers of the Transformer share kernels: a count that grows with T means they do not)."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

# name: (description, goal in seconds or None, code run in the subprocess: it sets `step`, a
# zero-argument callable whose first call is timed)
_SETUP = {
    "gru16": ("GRU-cell LM T=16 (hidden 64, batch 32, emb 16), jit_grad fwd+bwd", 10.0, "T = 16\n"),
    "gru32": ("GRU-cell LM T=32 (same model), jit_grad fwd+bwd", None, "T = 32\n"),
    "trf": ("2-layer Transformer (emb 64, 4 heads, ctx 16, batch 32), jit_grad fwd+bwd", 15.0, "TRF = 1\n"),
}
_MODEL = """
from jitgrad.benchmarks.workloads import data, models
from jitgrad.benchmarks.workloads.model_rows import factories
if "TRF" in globals():
    inp, row = data.transformer(32), "TRF"
else:
    inp, row = data.gru_lm(32, hidden=64, steps=T, emb=16), "GRU"
make = factories(jg, lambda a, grad: jg.tensor(a, requires_grad=grad and a.dtype.kind == 'f'), jg.jit_grad)[row]
step = make(inp)
"""
_TIMER = """
import time
from numba.core import event

class _Count(event.Listener):  # Numba functions compiled (not loaded from a disk cache), callees apart
    depth = compiled = 0

    def on_start(self, ev):
        self.depth += 1
        self.compiled += self.depth == 1

    def on_end(self, ev):
        self.depth -= 1

counter = _Count()
event.register("numba:compile", counter)
c0, t0 = time.process_time(), time.perf_counter()
step()
print(json.dumps({"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0, "compiled": counter.compiled}))
"""


def _code(name: str) -> str:
    extra = _SETUP[name][2]
    body = extra + _MODEL
    return "import json\nimport numpy as np\nimport jitgrad as jg\n" + body + _TIMER


def measure(name: str) -> dict:
    """Time the row's first call in a fresh process with an empty cache and one thread."""
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[var] = "1"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    with tempfile.TemporaryDirectory() as cache:
        env["JITGRAD_CACHE_DIR"] = cache
        out = subprocess.run([sys.executable, "-c", _code(name)], env=env, cwd=root, capture_output=True,
                             text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"row {name} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=f"python -m {__package__}.compile_latency_models", description=__doc__)
    p.add_argument("--only", default=None, help=f"comma-separated rows of {', '.join(_SETUP)}")
    args = p.parse_args(argv)
    names = args.only.split(",") if args.only else list(_SETUP)
    unknown = [n for n in names if n not in _SETUP]
    if unknown:
        p.error(f"unknown rows {unknown}; known: {', '.join(_SETUP)}")
    print("| row | cold first call (wall) | CPU time | Numba functions compiled | goal |")
    print("|---|---:|---:|---:|---|")
    results = {}
    for name in names:
        desc, goal, _ = _SETUP[name]
        r = results[name] = measure(name)
        if name == "gru32" and "gru16" in results:
            ratio = r["wall"] / results["gru16"]["wall"]
            verdict = f"T=32 / T=16 = {ratio:.2f} (goal ≤ 1.3): {'met' if ratio <= 1.3 else 'NOT met'}"
        elif goal is None:
            verdict = "-"
        else:
            verdict = f"≤ {goal:g} s: {'met' if r['wall'] <= goal else 'NOT met'}"
        print(f"| {desc} | {r['wall']:.2f} s | {r['cpu']:.2f} s | {r['compiled']} | {verdict} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
