"""Where a ResNet-18 step's convolution time goes: each distinct convolution of the model (batch
8, 3x64x64 by default) timed in the compiled kernels (kernels/conv.py: forward, input gradient,
weight gradient) against PyTorch's (forward; backward as one call), CPU time, best of
`--repeat`, one thread; then the rate of BLAS sgemm at W7's forward product and the OpenBLAS core
doing it (``OPENBLAS_CORETYPE`` forces one: "Haswell" limits sgemm to AVX2 on a CPU with AVX-512).

`python -m benchmarks.conv_layers [--batch 8] [--size 64] [--repeat 5]`

Every convolution here is a GEMM at heart: with both sides at the same sgemm rate the per-layer
ratios show what the columns (im2col), the chunking of small images and the copies add.
"""
from __future__ import annotations

import argparse
import ctypes
import os
import sys
import time

import numpy as np

if not __package__:  # run as a file: the repository root, for `import jitgrad`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from jitgrad._kernels import conv  # noqa: E402
from jitgrad._kernels.blas import gemm  # noqa: E402
from jitgrad.prims_conv import conv_out_size  # noqa: E402

# ResNet-18's convolutions: (in channels, out channels, kernel, stride, padding, input size as a
# fraction of the image's (a divisor), how many the model has).
RESNET18 = ((3, 64, 7, 2, 3, 1, 1), (64, 64, 3, 1, 1, 4, 4), (64, 128, 3, 2, 1, 4, 1), (128, 128, 3, 1, 1, 8, 3),
            (64, 128, 1, 2, 0, 4, 1), (128, 256, 3, 2, 1, 8, 1), (256, 256, 3, 1, 1, 16, 3),
            (128, 256, 1, 2, 0, 8, 1), (256, 512, 3, 2, 1, 16, 1), (512, 512, 3, 1, 1, 32, 3),
            (256, 512, 1, 2, 0, 16, 1))


def best_cpu_ms(run, repeat: int) -> float:
    """The least CPU time of `repeat` calls of run() after one warm-up call, in ms.

    >>> best_cpu_ms(lambda: None, 2) >= 0.0
    True
    """
    run()
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        run()
        times.append(time.process_time() - t0)
    return min(times) * 1e3


def _layer_row(batch: int, size: int, repeat: int, torch, layer: tuple, rng) -> dict:
    ci, co, k, s, p, div, count = layer
    h = max(size // div, 1)
    oh = conv_out_size(h, k, s, p, p, 1)
    x = rng.standard_normal((batch, ci, h, h), dtype=np.float32)
    w = rng.standard_normal((co, ci, k, k), dtype=np.float32)
    g = rng.standard_normal((batch, co, oh, oh), dtype=np.float32)
    params = (s, s, p, p, p, p, 1, 1, 1)
    row = {"layer": f"{ci}->{co} {k}x{k}/{s} on {h}x{h}", "count": count,
           "fwd": best_cpu_ms(lambda: conv.conv2d(x, w, *params, oh, oh), repeat),
           "dx": best_cpu_ms(lambda: conv.conv2d_input_grad(g, w, *params, h, h), repeat) if ci > 3 else 0.0,
           "dw": best_cpu_ms(lambda: conv.conv2d_weight_grad(x, g, *params, k, k), repeat)}
    if torch is not None:
        tx, tw, tg = (torch.from_numpy(a) for a in (x, w, g))
        mask = [ci > 3, True, False]  # (the stem's input needs no gradient, as in the model)
        row["torch fwd"] = best_cpu_ms(lambda: torch.nn.functional.conv2d(tx, tw, stride=s, padding=p), repeat)
        row["torch bwd"] = best_cpu_ms(lambda: torch.ops.aten.convolution_backward(
            tg, tx, tw, None, [s, s], [p, p], [1, 1], False, [0, 0], 1, mask), repeat)
    return row


def layer_times(batch: int, size: int, repeat: int, torch=None) -> list[dict]:
    """One row per distinct convolution of RESNET18 on `size` x `size` images: its shape, count
    and the CPU ms of each half (PyTorch's columns only when `torch` is given)."""
    rng = np.random.default_rng(0)
    return [_layer_row(batch, size, repeat, torch, layer, rng) for layer in RESNET18]


def sgemm_rate(repeat: int) -> float:
    """GFLOP/s of sgemm at W7's per-image forward product (64 x 1024, inner dimension 576), as
    the kernels call it."""
    a, b = np.ones(64 * 576, np.float32), np.ones(576 * 1024, np.float32)
    c = np.empty(64 * 1024, np.float32)
    ms = best_cpu_ms(lambda: gemm(False, False, 64, 1024, 576, a, 0, 576, b, 0, 1024, 0.0, c, 0, 1024), repeat * 4)
    return 2 * 64 * 1024 * 576 / ms / 1e6


def openblas_core() -> str:
    """The core (kernel set) of the OpenBLAS that Numba's gemm calls, read from the loaded library;
    "unknown" when it is not an OpenBLAS with that entry point."""
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if "openblas" in line and line.rstrip().endswith(".so")}
    for path in sorted(paths):
        lib = ctypes.CDLL(path)
        for name in ("scipy_openblas_get_corename", "openblas_get_corename"):
            fn = getattr(lib, name, None)
            if fn is not None:
                fn.restype = ctypes.c_char_p
                return f"{fn().decode()} ({os.path.basename(path)})"
    return "unknown"


def main(argv: list | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=64, help="image height and width (the seed's is 64)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    try:
        import torch  # noqa: PLC0415 - the oracle is optional here
        torch.set_num_threads(1)
    except ImportError:
        torch = None
    rate = sgemm_rate(args.repeat)  # (first: loads BLAS, so that its core can be read)
    print(f"ResNet-18 convolutions, batch {args.batch}, 3x{args.size}x{args.size}, CPU ms per call (best of "
          f"{args.repeat}), load average {os.getloadavg()[0]:.1f}")
    rows = layer_times(args.batch, args.size, args.repeat, torch)
    cols = ["fwd", "dx", "dw"] + (["torch fwd", "torch bwd"] if torch is not None else [])
    print(f"{'layer':28s} {'count':>5s} " + " ".join(f"{c:>9s}" for c in cols))
    totals = dict.fromkeys(cols, 0.0)
    for row in rows:
        print(f"{row['layer']:28s} {row['count']:5d} " + " ".join(f"{row[c]:9.2f}" for c in cols))
        for c in cols:
            totals[c] += row[c] * row["count"]
    print(f"{'all (times count)':28s} {'':5s} " + " ".join(f"{totals[c]:9.1f}" for c in cols))
    if torch is not None:  # (no backward ratio: timed alone, PyTorch's backward of the late layers costs more than
        # its whole W8 step leaves room for, so only the step (W8) compares backward passes)
        ours = totals["fwd"] + totals["dx"] + totals["dw"]
        print(f"forward: {totals['fwd'] / totals['torch fwd']:.2f}x PyTorch's; all three halves: {ours:.1f} ms")
    forced = os.environ.get("OPENBLAS_CORETYPE")
    print(f"sgemm 64x1024x576: {rate:.0f} GFLOP/s on OpenBLAS core {openblas_core()}"
          + (f" (OPENBLAS_CORETYPE={forced} set)" if forced else ""))


if __name__ == "__main__":
    main()
