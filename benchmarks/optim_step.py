"""Time one optimizer step per executor (NumPy per tensor, Numba per tensor, one Numba call)
on (a) the MLP 1000-100-10, (b) the 2-parameter regression, (c) 50 tiny tensors; and the
Numba compile time of a cold cache vs a warm one (new processes).

Run: .venv/bin/python benchmarks/optim_step.py [--compile]

Measured on the 2-core dev box under load (load average ~5, so +-30%), us per step,
numpy / Numba per tensor / one Numba call:
    MLP 1000-100-10  SGD 51-78 / 32-71 / 72-90    momentum 131-197 / 55-99 / 62-110
                     Adam 412-539 / 148-211 / 206-241
    2 scalars        SGD 22-26 / 18-29 / 28-31    momentum 38-43 / 16-32 / 17-32    Adam 37-60 / 25-40 / 12-40
    50 tiny tensors  SGD 120-294 / 355-448 / 76-160   momentum 212-431 / 330-359 / 156-174
                     Adam 860 / 821-860 / 158-185
Hence jitgrad.optim.fused.choose(): one call for batches of small tensors, a kernel per tensor
for large ones (the one call's gradient concatenation costs more than the calls it saves).
Compile (--compile): first SGD+Adam steps of both kernel forms in a new process, 4.8-8.2 s
with a cold Numba cache, 1.4-1.6 s with a warm one (cache=True; most of that is importing).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

import numpy as np

import jitgrad
from jitgrad import nn, optim

MODES = ("numpy", "per_tensor", "one_call")


def workloads() -> dict:
    """name -> list of Parameters with gradients set."""
    jitgrad.manual_seed(0)
    mlp = list(nn.Sequential(nn.Linear(1000, 100), nn.ReLU(), nn.Linear(100, 10)).parameters())
    reg = [nn.Parameter(jitgrad.tensor(1.0)), nn.Parameter(jitgrad.tensor(0.01))]
    tiny = [nn.Parameter(jitgrad.randn(3)) for _ in range(50)]
    out = {"mlp 1000-100-10 (4 tensors, 101k)": mlp, "regression w, b (2 scalars)": reg,
           "50 tiny tensors of 3": tiny}
    for params in out.values():
        for p in params:
            p.grad = jitgrad.randn(*p.shape) * 1e-3
    return out


OPTIMIZERS = {
    "SGD": lambda ps, mode: optim.SGD(ps, lr=1e-4, fused=mode),
    "SGD momentum": lambda ps, mode: optim.SGD(ps, lr=1e-4, momentum=0.9, fused=mode),
    "Adam": lambda ps, mode: optim.Adam(ps, lr=1e-4, fused=mode),
}


def time_step(opt, repeat: int) -> float:
    """Best-of-5 mean microseconds per opt.step()."""
    opt.step()
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(repeat):
            opt.step()
        best = min(best, (time.perf_counter() - t) / repeat)
    return best * 1e6


def run_steps() -> None:
    loads = workloads()
    print(f"{'workload':36s} {'optimizer':14s} " + " ".join(f"{m:>12s}" for m in MODES) + "   (us per step)")
    for wname, params in loads.items():
        repeat = 200 if "mlp" in wname else 3000
        for oname, make in OPTIMIZERS.items():
            times = [time_step(make(params, False if m == "numpy" else m), repeat) for m in MODES]
            print(f"{wname:36s} {oname:14s} " + " ".join(f"{t:12.2f}" for t in times))


_FIRST_STEP = """
import time, jitgrad
from jitgrad import nn, optim
p = [nn.Parameter(jitgrad.randn(3)) for _ in range(3)]
for x in p: x.grad = jitgrad.randn(3)
t = time.perf_counter()
for mode in ("per_tensor", "one_call"):
    optim.SGD(p, lr=0.1, momentum=0.9, fused=mode).step(); optim.Adam(p, fused=mode).step()
print(f"{time.perf_counter() - t:.2f}")
"""


def run_compile() -> None:
    """First SGD+Adam steps (both kernels forms) in a new process: cold cache, then warm."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for label in ("cold cache (compiles)", "warm cache (loads)"):
            out = subprocess.run([sys.executable, "-c", _FIRST_STEP], env=env, capture_output=True, text=True,
                                 check=True)
            print(f"first steps, {label}: {out.stdout.strip()} s")


if __name__ == "__main__":
    np.seterr(all="ignore")
    if "--compile" in sys.argv:
        run_compile()
    run_steps()
