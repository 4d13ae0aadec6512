"""Stacks of small matrix products: kernels.small_products against np.matmul, same arrays, same run.

    python -m benchmarks.small_products [--reps 200] [--dtype float32|float64]

Prints a Markdown table of microseconds per call (best of --reps, the two timed alternately) for
the layouts TRF's training step multiplies: attention's (32, 4, 16, 16) stacks read as views of the
(32, 16, 192) projection, k^T, results written into a permuted buffer, and a few sizes around
them. Set OMP_NUM_THREADS=1 for the 1-thread figures quoted in the module's docstring.
"""
from __future__ import annotations

import argparse
import functools
import os
import sys
import time

import numpy as np

if not __package__:  # run as a file: the repository root, for `import jitgrad`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from jitgrad._kernels import small_products  # noqa: E402


def cases(dtype: str) -> list:
    """(label, a, b, out) for each measured layout."""
    rng = np.random.default_rng(0)
    qkv = rng.standard_normal((32, 16, 192)).astype(dtype).reshape(32, 16, 3, 4, 16).transpose(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    att = rng.standard_normal((32, 4, 16, 16)).astype(dtype)
    fresh = np.empty((32, 4, 16, 16), dtype)
    permuted = np.empty((32, 16, 4, 16), dtype).transpose(0, 2, 1, 3)
    square = {n: rng.standard_normal((32, 4, n, n)).astype(dtype) for n in (8, 32, 64)}
    return [
        ("q @ k^T, (32, 4, 16, 16), views of the projection", q, k.transpose(0, 1, 3, 2), fresh),
        ("att @ v into a permuted buffer", att, v, permuted),
        ("att^T @ v (backward)", att.transpose(0, 1, 3, 2), v, fresh),
        ("contiguous (32, 4, 16, 16)", att, att.copy(), fresh),
    ] + [(f"contiguous (32, 4, {n}, {n})", x, x.copy(), np.empty_like(x)) for n, x in square.items()]


def _best(fn, reps: int) -> float:
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--dtype", default="float32", choices=sorted(small_products.TILE_COLS))
    args = parser.parse_args(argv)
    print(f"| {args.dtype} product | np.matmul (us) | small_products (us) | ratio |")
    print("|---|---:|---:|---:|")
    for label, a, b, out in cases(args.dtype):
        small_products.product(a, b, out)
        np.testing.assert_allclose(out, a @ b, rtol=1e-4, atol=1e-4)
        numpy_t = kernel_t = float("inf")
        run_numpy = functools.partial(np.matmul, a, b, out=out)
        run_kernel = functools.partial(small_products.product, a, b, out)
        for _ in range(5):  # (alternated, so a noisy moment hits both columns)
            numpy_t = min(numpy_t, _best(run_numpy, args.reps // 5))
            kernel_t = min(kernel_t, _best(run_kernel, args.reps // 5))
        print(f"| {label} | {numpy_t * 1e6:.1f} | {kernel_t * 1e6:.1f} | {kernel_t / numpy_t:.2f} |")


if __name__ == "__main__":
    main()
