"""The kernels of issue 21's follow-up, timed: scans and argsort, a traced boolean mask (count
pass, split, compaction) and a GRU-style cat of fused elementwise results, each as
`jit` / `jit_grad` against jitgrad eager and PyTorch eager (1 thread, best of several runs).

    python -m benchmarks.every_op_kernels [--reps 7]

Prints a Markdown table of microseconds per call (forward + backward where a row says so).
"""
import argparse
import os
import sys
import time

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_name, "1")  # (before NumPy loads BLAS: 1 thread everywhere)

import numpy as np  # noqa: E402

if not __package__:  # run as a file: the repository root, for `import jitgrad`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import jitgrad as jg  # noqa: E402


def _best(fn, reps: int, number: int) -> float:
    """Best time per call over `reps` runs of `number` calls, in microseconds."""
    fn()
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best * 1e6


def _gru_gates(m, x, h, w):
    """A GRU-like step: cat of two fused elementwise results and the state, one matmul, a sum."""
    z = m.cat([m.sigmoid(x * 2.0), m.tanh(h) * 0.5 + 0.5, h], 1)
    return (z @ w).tanh().sum()


def _rows(torch):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 256))
    h = rng.standard_normal((32, 256))
    w = rng.standard_normal((768, 64)) * 0.05
    seq = rng.standard_normal((32, 64))
    mask_src = rng.standard_normal((256, 64))
    return [
        ("cumsum dim 1, 32x64, fwd+bwd", lambda m, a: (m.cumsum(a, 1) ** 2).sum(), (seq,)),
        ("cumprod dim 1, 32x64, fwd+bwd", lambda m, a: m.cumprod(a * 0.01 + 1.0, 1).sum(), (seq,)),
        ("sort dim 1 (values), 32x64, fwd+bwd", lambda m, a: (m.sort(a, 1)[0] * m.arange(64.0)).sum(), (seq,)),
        ("x[x > 0] (traced mask), 256x64, fwd+bwd", lambda m, a: (a[a > 0] ** 2).sum(), (mask_src,)),
        ("GRU-style cat of fused gates, batch 32, fwd+bwd", lambda m, a, b, c: _gru_gates(m, a, b, c), (x, h, w)),
    ]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args(argv)
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        torch = None
    print("| row | jitgrad eager | jitgrad jit_grad | PyTorch eager | jit / torch |")
    print("|---|---:|---:|---:|---:|")
    for name, fn, arrays in _rows(torch):
        def eager(fn=fn, arrays=arrays):
            xs = [jg.tensor(a, requires_grad=True) for a in arrays]
            fn(jg, *xs).backward()

        compiled = jg.jit_grad(lambda *xs, fn=fn: fn(jg, *xs))

        def jit(compiled=compiled, arrays=arrays):
            xs = [jg.tensor(a, requires_grad=True) for a in arrays]
            compiled(*xs).backward()

        t_eager = _best(eager, args.reps, 20)
        t_jit = _best(jit, args.reps, 50)
        t_torch = float("nan")
        if torch is not None:
            def torch_call(fn=fn, arrays=arrays):
                xs = [torch.tensor(a, requires_grad=True) for a in arrays]
                fn(torch, *xs).backward()
            t_torch = _best(torch_call, args.reps, 50)
        print(f"| {name} | {t_eager:.1f} µs | {t_jit:.1f} µs | {t_torch:.1f} µs | {t_jit / t_torch:.2f}× |")


if __name__ == "__main__":
    main()
