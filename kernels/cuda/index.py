"""Index kernels driven by a position map: `take` (out[i] = src[map[i]]), `put` (out[map[k]] =
src[k], last write wins as in NumPy) and `add_at` (out[map[k]] += src[k], duplicates summed in
source order: deterministic, no float atomics). The caller computes the map on the host (NumPy
applied to positions), so every NumPy indexing rule holds by construction."""
from __future__ import annotations

import numpy as np
from numba import cuda  # module global: the simulator patches kernel globals

from kernels.cuda import runtime
from kernels.cuda.layout import flat


@cuda.jit(cache=True)
def _take(src, positions, out):
    """out[i] = src[positions[i]]."""
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = src[positions[i]]


@cuda.jit(cache=True)
def _put(dst, targets, src, sources):
    """dst[targets[k]] = src[sources[k]] (targets distinct)."""
    for k in range(cuda.grid(1), targets.size, cuda.gridsize(1)):
        dst[targets[k]] = src[sources[k]]


@cuda.jit(cache=True)
def _segment_add(dst, targets, src, order, starts):
    """dst[targets[k]] += src[order[j]] for j in [starts[k], starts[k+1]), in that order."""
    for k in range(cuda.grid(1), targets.size, cuda.gridsize(1)):
        acc = dst[targets[k]]
        for j in range(starts[k], starts[k + 1]):
            acc += src[order[j]]
        dst[targets[k]] = acc


def take(src, positions: np.ndarray):
    """A new device array shaped like `positions` (host int64) holding src.flat[positions]."""
    out = runtime.empty(positions.shape, src.dtype)
    if out.size:
        runtime.launch(_take, out.size)(flat(src), runtime.to_device(positions.reshape(-1)), flat(out))
    return out


def put(dst, positions: np.ndarray, src) -> None:
    """dst.flat[positions] = src (same shape as positions) in place; the last of duplicate
    positions wins, as NumPy's assignment does."""
    pos = positions.reshape(-1)
    if not pos.size:
        return
    reversed_unique, first_from_end = np.unique(pos[::-1], return_index=True)
    sources = (pos.size - 1 - first_from_end).astype(np.int64)
    runtime.launch(_put, reversed_unique.size)(flat(dst), runtime.to_device(reversed_unique.astype(np.int64)),
                                               flat(src), runtime.to_device(sources))


def add_at(dst, positions: np.ndarray, src) -> None:
    """dst.flat[positions] += src (same shape as positions) in place; duplicates accumulate in
    source order, so results are identical on every run."""
    pos = positions.reshape(-1)
    if not pos.size:
        return
    order = np.argsort(pos, kind="stable").astype(np.int64)
    targets, counts = np.unique(pos[order], return_counts=True)
    starts = np.zeros(targets.size + 1, np.int64)
    np.cumsum(counts, out=starts[1:])
    runtime.launch(_segment_add, targets.size)(flat(dst), runtime.to_device(targets.astype(np.int64)), flat(src),
                                               runtime.to_device(order), runtime.to_device(starts))
