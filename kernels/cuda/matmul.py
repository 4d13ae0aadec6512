"""Tiled shared-memory matmul for (m,k)@(k,n) and batched (B,m,k)@(B,k,n). A block of TILE x TILE
threads computes a (TILE*MICRO)^2 output tile, each thread MICRO x MICRO outputs in registers, from
TILE-deep slices of A and B staged in shared memory; grid z (and grid-stride loops) cover the batch.
One generated kernel per dtype (cuda.shared.array needs its dtype and size as constants)."""
from __future__ import annotations

import numpy as np
from numba import cuda  # noqa: F401  (the generated module imports it; kept for the simulator)

from . import runtime

TILE = runtime.TILE                      # threads per block side, and the k depth of a stage
MICRO = 2 if runtime.simulated() else 4  # outputs per thread per side
BLOCK = TILE * MICRO                     # output tile side per block
_MAX_GRID_YZ = 65535

_TEMPLATE = '''import numpy as np
from numba import cuda

TILE = {tile}
MICRO = {micro}
BLOCK = TILE * MICRO


@cuda.jit(cache=True)
def matmul_kernel(a, b, out, a_of, b_of):
    """out[z] = a[a_of[z]] @ b[b_of[z]] for 3-D arrays; {acc} accumulation; tiles staged in
    shared memory."""
    sa = cuda.shared.array((BLOCK, TILE), np.{acc})
    sb = cuda.shared.array((TILE, BLOCK), np.{acc})
    acc = cuda.local.array((MICRO, MICRO), np.{acc})
    av = cuda.local.array(MICRO, np.{acc})
    bv = cuda.local.array(MICRO, np.{acc})
    nb, m, n = out.shape
    k = a.shape[2]
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    for z in range(cuda.blockIdx.z, nb, cuda.gridDim.z):
        za = a_of[z]
        zb = b_of[z]
        for row0 in range(cuda.blockIdx.y * BLOCK, m, cuda.gridDim.y * BLOCK):
            for col0 in range(cuda.blockIdx.x * BLOCK, n, cuda.gridDim.x * BLOCK):
                for i in range(MICRO):
                    for j in range(MICRO):
                        acc[i, j] = 0
                for k0 in range(0, k, TILE):
                    kk = k0 + tx
                    for i in range(MICRO):
                        r = row0 + ty + i * TILE
                        sa[ty + i * TILE, tx] = {cast}(a[za, r, kk]) if (r < m and kk < k) else {zero}
                    kk = k0 + ty
                    for j in range(MICRO):
                        c = col0 + tx + j * TILE
                        sb[ty, tx + j * TILE] = {cast}(b[zb, kk, c]) if (c < n and kk < k) else {zero}
                    cuda.syncthreads()
                    for t in range(TILE):
                        for i in range(MICRO):
                            av[i] = sa[ty + i * TILE, t]
                        for j in range(MICRO):
                            bv[j] = sb[t, tx + j * TILE]
                        for i in range(MICRO):
                            for j in range(MICRO):
                                acc[i, j] += av[i] * bv[j]
                    cuda.syncthreads()
                for i in range(MICRO):
                    r = row0 + ty + i * TILE
                    if r < m:
                        for j in range(MICRO):
                            c = col0 + tx + j * TILE
                            if c < n:
                                out[z, r, c] = {store}
'''

_kernels: dict = {}


def _kernel(dtype: np.dtype):
    """The generated kernel for result dtype (bool multiplies as int32, stores acc != 0)."""
    kernel = _kernels.get(dtype)
    if kernel is None:
        acc = "int32" if dtype == np.bool_ else dtype.name
        store = "acc[i, j] != 0" if dtype == np.bool_ else "acc[i, j]"
        text = _TEMPLATE.format(tile=TILE, micro=MICRO, acc=acc, cast=f"np.{acc}", zero=f"np.{acc}(0)", store=store)
        kernel = _kernels[dtype] = runtime.load_generated(text, f"matmul {dtype.name}").matmul_kernel
    return kernel


def _as3d(x):
    return x.reshape(1, *x.shape) if len(x.shape) == 2 else x


def _batch_map(of) -> object:
    """A batch map (an int, n: [0, ..., n-1]; or a tuple of ints) as a device array, made once."""
    found = _maps.get(of)
    if found is None:
        values = np.arange(of, dtype=np.int64) if isinstance(of, int) else np.asarray(of, np.int64)
        found = _maps[of] = runtime.to_device(values)
    return found


_maps: dict = {}


def matmul(a, b):
    """a @ b for 2-D (m,k)@(k,n) or batched 3-D (B,m,k)@(B,k,n); dtype as NumPy promotes it."""
    if len(a.shape) != len(b.shape) or len(a.shape) not in (2, 3):
        raise ValueError(f"matmul: expected two 2-D or two 3-D arrays, got shapes {a.shape} and {b.shape}")
    a3, b3 = _as3d(a), _as3d(b)
    if int(a3.shape[0]) != int(b3.shape[0]):
        raise ValueError(f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} are not aligned")
    out = batched(a3, b3, None, None)
    return out.reshape(out.shape[1:]) if len(a.shape) == 2 else out


def batched(a3, b3, a_of, b_of):
    """out[z] = a3[a_of[z]] @ b3[b_of[z]] for 3-D operands; a_of / b_of: the batch element of
    each operand that output element z reads (host int sequences of one length), or None for
    z itself (a broadcast batch without copying the operand)."""
    nb = len(a_of) if a_of is not None else (len(b_of) if b_of is not None else int(a3.shape[0]))
    _, m, k = (int(d) for d in a3.shape)
    _, k2, n = (int(d) for d in b3.shape)
    if k != k2:
        raise ValueError(f"matmul: shapes {tuple(a3.shape)} and {tuple(b3.shape)} are not aligned")
    dtype = np.result_type(a3.dtype, b3.dtype)
    out = runtime.empty((nb, m, n), dtype)
    if m * n * nb == 0:
        return out
    if k == 0:
        runtime.fill_into(out, 0)
        return out
    maps = [_batch_map(nb if of is None else tuple(int(i) for i in of)) for of in (a_of, b_of)]
    grid = (-(-n // BLOCK), min(-(-m // BLOCK), _MAX_GRID_YZ), min(nb, _MAX_GRID_YZ))
    runtime.configure(_kernel(dtype), grid, (TILE, TILE))(a3, b3, out, *maps)
    return out
