"""The ResNet-18 training step's other goals (issue 16; the step's time is row W8 of
`python -m benchmarks`): the compiled fine-tuning step (everything but a new `fc` frozen) against
the compiled full step, peak memory of one step against PyTorch's, and the compiled step's
first-call (compile) time with an empty kernel cache.

`python -m benchmarks.resnet_step [--batch 8] [--size 64] [--repeat 3] [--only finetune,memory,compile]`

Each measurement runs in its own subprocess with one thread (OMP/OpenBLAS/MKL/Numba), on the
workload's weights and batch (`benchmarks/workloads/data.resnet`). Memory: the growth of the
process's peak resident set (ru_maxrss) over its resident set before the first step (model,
optimizer and batch already built), over three steps: activations, gradients, optimizer state,
kernels' scratch. Times are best-of `--repeat` after one warm-up step; on a busy machine they are
noisy and say so only through the load average printed with them.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

_COMMON = """
import json, resource, time
import numpy as np
from jitgrad.benchmarks.workloads import data
inp = data.resnet(BATCH)
if SIZE != 64:
    inp["x"] = np.ascontiguousarray(inp["x"][:, :, :SIZE, :SIZE])

def rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * (resource.getpagesize() // 1024)

def best_of(run, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return min(times)
"""

_JITGRAD = """
import jitgrad as jg
from jitgrad.benchmarks.workloads.jitgrad_eager import resnet_model
x, labels = jg.tensor(inp["x"]), jg.tensor(inp["labels"])

def make_step(finetune, compiled):
    model = resnet_model(inp)
    if finetune:  # the seed's fine-tuning: freeze everything, a new head, optimise only it
        for p in model.parameters():
            p.requires_grad = False
        model.fc = jg.nn.Linear(512, 1000)
    params = model.fc.parameters() if finetune else model.parameters()
    opt = jg.optim.SGD(params, lr=inp["lr"], momentum=inp["momentum"])

    def step(x, labels):
        opt.zero_grad()
        loss = (model(x) - labels).sum()
        loss.backward()
        opt.step()
        return loss
    fn = jg.jit(step) if compiled else step
    return lambda: fn(x, labels)
"""

_TORCH = """
import torch
torch.set_num_threads(1)
from jitgrad.benchmarks.workloads.torch_eager import _resnet18
model = _resnet18()
model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in inp["state"].items()})
opt = torch.optim.SGD(model.parameters(), lr=inp["lr"], momentum=inp["momentum"])
x, labels = torch.from_numpy(inp["x"]), torch.from_numpy(inp["labels"])

def make_step(finetune, compiled):
    def step():
        opt.zero_grad()
        loss = (model(x) - labels).sum()
        loss.backward()
        opt.step()
        return loss
    return step
"""

_MEMORY = """
step = make_step(False, COMPILED)
before = rss_kib()
for _ in range(3):
    step()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"peak_growth_mib": (peak - before) / 1024}))
"""

_FINETUNE = """
out = {}
for name, finetune in (("full", False), ("finetune", True)):
    step = make_step(finetune, True)
    step()
    out[name] = best_of(step, REPEAT)
print(json.dumps(out))
"""

_COMPILE = """
step = make_step(False, True)
c0, t0 = time.process_time(), time.perf_counter()
step()
first = {"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0}
first["step"] = best_of(step, REPEAT)
print(json.dumps(first))
"""


def _run(code: str, settings: dict, cache_dir: str | None = None, extra_env: dict | None = None) -> dict:
    env = dict(os.environ, **(extra_env or {}))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[var] = "1"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    if cache_dir is not None:
        env["JITGRAD_CACHE_DIR"] = cache_dir
    head = "".join(f"{k} = {v!r}\n" for k, v in settings.items())
    out = subprocess.run([sys.executable, "-c", head + code], env=env, cwd=root, capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        raise RuntimeError(f"measurement failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _met(ratio: float, goal: float) -> str:
    return f"goal <= {goal}x: {'met' if ratio <= goal else 'not met'}"


def main(argv: list | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=64, help="image height and width (the seed's is 64)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="finetune,memory,compile")
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    settings = {"BATCH": args.batch, "SIZE": args.size, "REPEAT": args.repeat}
    print(f"ResNet-18 SGD-momentum step, batch {args.batch}, 3x{args.size}x{args.size}, 1 thread, "
          f"load average {os.getloadavg()[0]:.1f}")
    if "finetune" in only:
        t = _run(_COMMON + _JITGRAD + _FINETUNE, dict(settings, COMPILED=True))
        ratio = t["finetune"] / t["full"]
        print(f"fine-tune step (compiled, all but fc frozen) {t['finetune'] * 1e3:.1f} ms vs full step "
              f"{t['full'] * 1e3:.1f} ms: {ratio:.2f}x, {_met(ratio, 0.6)}")
    if "memory" in only:
        rows = {}
        # The PyTorch process imports jitgrad only for the workload's data: it keeps glibc's own malloc
        # settings, as a PyTorch user's process has them (kernels.heap's thresholds change its baseline).
        untuned = {"JITGRAD_HEAP_TUNING": "0"}
        for name, code, compiled, env in (("jitgrad eager", _JITGRAD, False, None),
                                          ("jitgrad jit", _JITGRAD, True, None),
                                          ("PyTorch eager", _TORCH, False, untuned)):
            try:
                rows[name] = _run(_COMMON + code + _MEMORY, dict(settings, COMPILED=compiled),
                                  extra_env=env)["peak_growth_mib"]
            except RuntimeError as exc:
                if name != "PyTorch eager" or "No module named 'torch'" not in str(exc):
                    raise
        torch_mib = rows.get("PyTorch eager")
        for name, mib in rows.items():
            note = "" if torch_mib is None or name == "PyTorch eager" else \
                f" ({mib / torch_mib:.2f}x PyTorch, {_met(mib / torch_mib, 1.5)})"
            print(f"peak memory growth over 3 steps, {name}: {mib:.0f} MiB{note}")
    if "compile" in only:
        with tempfile.TemporaryDirectory() as cache:
            t = _run(_COMMON + _JITGRAD + _COMPILE, dict(settings, COMPILED=True), cache_dir=cache)
        print(f"compiled step, first call with an empty kernel cache: {t['wall']:.1f} s wall, {t['cpu']:.1f} s CPU "
              f"(then {t['step'] * 1e3:.1f} ms per step)")


if __name__ == "__main__":
    main()
