"""Row reductions that carry more than one running value, on a (rows, n) device array: variance /
standard deviation in one pass (Welford's update per thread, Chan's merge of the threads'
(count, mean, M2) in a shared-memory tree) and the p-norm (a sum of |x|^p, or a NaN-propagating
max for p = inf). One block per row; float64 accumulation, as the CPU's kernels/library.py row
kernels. The tree has a fixed shape for a given block size, so every run gives the same bits."""
from __future__ import annotations

import math

import numpy as np
from numba import cuda  # module global: the simulator patches kernel globals

from . import runtime
from .layout import flat

THREADS = runtime.REDUCE_THREADS  # a power of two


@cuda.jit(cache=True)
def _moments(x, out, n, correction, take_sqrt):
    s_count = cuda.shared.array(THREADS, np.float64)
    s_mean = cuda.shared.array(THREADS, np.float64)
    s_m2 = cuda.shared.array(THREADS, np.float64)
    tid = cuda.threadIdx.x
    for r in range(cuda.blockIdx.x, out.size, cuda.gridDim.x):
        count = 0.0
        mean = 0.0
        m2 = 0.0
        for j in range(tid, n, THREADS):
            v = np.float64(x[r * n + j])
            count += 1.0
            delta = v - mean
            mean += delta / count
            m2 += delta * (v - mean)
        s_count[tid] = count
        s_mean[tid] = mean
        s_m2[tid] = m2
        cuda.syncthreads()
        step = THREADS // 2
        while step > 0:
            if tid < step and s_count[tid + step] > 0.0:
                na = s_count[tid]
                nb = s_count[tid + step]
                total = na + nb
                delta = s_mean[tid + step] - s_mean[tid]
                s_mean[tid] += delta * nb / total
                s_m2[tid] += s_m2[tid + step] + delta * delta * na * nb / total
                s_count[tid] = total
            cuda.syncthreads()
            step //= 2
        if tid == 0:
            denominator = n - correction
            var = s_m2[0] / denominator if denominator > 0 else s_m2[0] * math.inf
            out[r] = math.sqrt(var) if take_sqrt else var
        cuda.syncthreads()


@cuda.jit(cache=True)
def _norm(x, out, n, p):
    s_acc = cuda.shared.array(THREADS, np.float64)
    tid = cuda.threadIdx.x
    is_max = p == math.inf
    for r in range(cuda.blockIdx.x, out.size, cuda.gridDim.x):
        acc = 0.0
        for j in range(tid, n, THREADS):
            a = abs(np.float64(x[r * n + j]))
            if is_max:
                if a > acc or a != a:
                    acc = a
            elif p == 2.0:
                acc += a * a
            elif p == 1.0:
                acc += a
            else:
                acc += a ** p
        s_acc[tid] = acc
        cuda.syncthreads()
        step = THREADS // 2
        while step > 0:
            if tid < step:
                other = s_acc[tid + step]
                if is_max:
                    if other > s_acc[tid] or other != other:
                        s_acc[tid] = other
                else:
                    s_acc[tid] += other
            cuda.syncthreads()
            step //= 2
        if tid == 0:
            total = s_acc[0]
            if p == 2.0:
                total = math.sqrt(total)
            elif p != 1.0 and not is_max:
                total = total ** (1.0 / p)
            out[r] = total
        cuda.syncthreads()


def moments(x2, correction: int, take_sqrt: bool):
    """Variance (standard deviation when take_sqrt) of each row of a contiguous (k, n) array,
    with n - correction as divisor (<= 0 divides by zero as PyTorch does)."""
    rows, n = (int(d) for d in x2.shape)
    out = runtime.empty((rows,), x2.dtype)
    if rows:
        runtime.configure(_moments, runtime.reduce_blocks(rows), THREADS)(flat(x2), out, n, int(correction),
                                                                          bool(take_sqrt))
    return out


def norm(x2, p: float):
    """The p-norm of each row of a contiguous (k, n) array (0 for an empty row)."""
    rows, n = (int(d) for d in x2.shape)
    out = runtime.empty((rows,), x2.dtype)
    if rows:
        runtime.configure(_norm, runtime.reduce_blocks(rows), THREADS)(flat(x2), out, n, float(p))
    return out
