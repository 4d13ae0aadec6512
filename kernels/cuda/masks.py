"""CUDA kernels of traced boolean masks (kernels/masks.py's calls, on the device): x is viewed as
(pre, m, post) with the flat mask's m elements in the middle.

Two passes over the mask, each block owning BLOCK consecutive mask elements and each thread
PER_THREAD consecutive ones of its block:

- count: each block counts its True elements (per-thread counts summed in shared memory); an
  exclusive scan of the block counts gives every block its offset and the total. `count_true`
  ends a program with that total: the host reads it to size what follows (the program split of
  jitgrad/lower.py, the only host step);
- compact: each thread counts its elements again, an exclusive scan of the thread counts in
  shared memory gives its offset inside the block, and it writes the positions of its True
  elements at block offset + thread offset. `where` lists them in increasing order, NumPy's
  boolean-indexing order, on every run (no atomics).

mask_select reads x through `where`; mask_scatter (its adjoint) writes g back through it into
zeros (each target once). A mask selecting another number of elements than the program was
compiled for writes nothing past its buffers and is reported by the program's error check."""
from __future__ import annotations

import numpy as np
from numba import cuda  # module global: the simulator patches kernel globals

from . import runtime
from .indexed import exclusive_scan
from .layout import flat

THREADS = runtime.REDUCE_THREADS  # threads per block (a power of two)
PER_THREAD = 4 if runtime.simulated() else 16  # consecutive mask elements per thread
BLOCK = THREADS * PER_THREAD
NO_ERROR = np.iinfo(np.int64).max  # (the value of kernels.cuda.indexed's empty error slot)


@cuda.jit(device=True)
def _end(mask, start):
    """The end of the thread's span starting at `start` (clipped to the mask; not min(): Numba 0.68
    fails to compile that call in a CUDA device function)."""
    end = start + PER_THREAD
    return end if end < mask.size else mask.size


@cuda.jit(device=True)
def _thread_count(mask, start):
    """True elements among mask[start : start + PER_THREAD] (clipped to the mask)."""
    end = _end(mask, start)
    n = 0
    for j in range(start, end):
        if mask[j]:
            n += 1
    return n


@cuda.jit(cache=True)
def _count_blocks(mask, block_counts):
    """block_counts[b] = the number of True elements among block b's BLOCK mask elements."""
    counts = cuda.shared.array(THREADS, np.int64)
    tid = cuda.threadIdx.x
    b = cuda.blockIdx.x
    counts[tid] = _thread_count(mask, b * BLOCK + tid * PER_THREAD)
    cuda.syncthreads()
    s = THREADS // 2
    while s > 0:
        if tid < s:
            counts[tid] += counts[tid + s]
        cuda.syncthreads()
        s //= 2
    if tid == 0:
        block_counts[b] = counts[0]


@cuda.jit(cache=True)
def _total(block_counts, starts, total, expected, err, slot):
    """total[0] = the number of True elements; where it is not `expected` (>= 0), err[slot] = it."""
    if cuda.grid(1) == 0:
        last = block_counts.size - 1
        n = starts[last] + block_counts[last] if last >= 0 else 0
        total[0] = n
        if expected >= 0 and n != expected:
            err[slot] = n


@cuda.jit(cache=True)
def _compact(mask, starts, where):
    """where[k] = the position of the k-th True element (positions past where.size not written)."""
    offsets = cuda.shared.array(THREADS, np.int64)
    tid = cuda.threadIdx.x
    b = cuda.blockIdx.x
    start = b * BLOCK + tid * PER_THREAD
    n = _thread_count(mask, start)
    offsets[tid] = n
    cuda.syncthreads()
    step = 1
    while step < THREADS:  # inclusive scan of the thread counts (Hillis-Steele)
        v = offsets[tid - step] if tid >= step else 0
        cuda.syncthreads()
        offsets[tid] += v
        cuda.syncthreads()
        step *= 2
    k = starts[b] + offsets[tid] - n
    for j in range(start, _end(mask, start)):
        if mask[j]:
            if k < where.size:
                where[k] = j
            k += 1


@cuda.jit(cache=True)
def _select(x, where, out, m, count, post):
    """out[p, k, q] = x[p, where[k], q] over flat views (nothing written where where[k] is -1: the
    program then raises its count error)."""
    for o in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        p = o // (count * post)
        r = o - p * count * post
        k = r // post
        j = where[k]
        if j >= 0:
            out[o] = x[(p * m + j) * post + r - k * post]


@cuda.jit(cache=True)
def _scatter(g, where, out, m, count, post):
    """out[p, where[k], q] = g[p, k, q] over flat views (out holds zeros; each target once)."""
    for o in range(cuda.grid(1), g.size, cuda.gridsize(1)):
        p = o // (count * post)
        r = o - p * count * post
        k = r // post
        j = where[k]
        if j >= 0:
            out[(p * m + j) * post + r - k * post] = g[o]


def _block_scan(mask):
    """(block counts, their exclusive scan) of a flat device mask (one block per BLOCK elements)."""
    blocks = -(-mask.size // BLOCK)
    counts = runtime.empty((blocks,), np.int64)
    if blocks:
        runtime.configure(_count_blocks, blocks, THREADS)(mask, counts)
    return counts, exclusive_scan(counts)


def count_true(mask):
    """A 0-d int64 device array: how many elements of the device mask are True (the count pass)."""
    flat_mask = flat(mask)
    counts, starts = _block_scan(flat_mask)
    total = runtime.empty((1,), np.int64)
    unused = runtime.full((1,), NO_ERROR, np.int64)
    runtime.configure(_total, 1, 1)(counts, starts, total, -1, unused, 0)
    return total.reshape(())


def selected(mask, count: int, err, slot: int):
    """int64 device array of the positions of the `count` True elements of the flat mask, in
    increasing order; a mask with another count records it in err[slot] (unwritten positions
    read -1)."""
    flat_mask = flat(mask)
    where = runtime.full((count,), -1, np.int64)
    counts, starts = _block_scan(flat_mask)
    total = runtime.empty((1,), np.int64)
    runtime.configure(_total, 1, 1)(counts, starts, total, int(count), err, int(slot))
    if counts.size and count:
        runtime.configure(_compact, counts.size, THREADS)(flat_mask, starts, where)
    return where


def mask_select(x, mask, view: tuple, count: int, err, slot: int, out_shape: tuple):
    """x[mask] for x viewed as view = (pre, m, post): out[p, k, q] = x[p, j_k, q], j_k the k-th True
    element of the flat mask."""
    _, m, post = (int(v) for v in view)
    out = runtime.empty(tuple(out_shape), x.dtype)
    where = selected(mask, count, err, slot)
    if out.size:
        runtime.launch(_select, out.size)(flat(x), where, flat(out), m, int(count), post)
    return out


def mask_scatter(g, mask, view: tuple, count: int, err, slot: int, out_shape: tuple):
    """Zeros of out_shape (viewed as (pre, m, post)) with g[p, k, q] put at [p, j_k, q]: mask_select's
    adjoint."""
    _, m, post = (int(v) for v in view)
    out = runtime.zeros(tuple(out_shape), g.dtype)
    where = selected(mask, count, err, slot)
    if g.size:
        runtime.launch(_scatter, g.size)(flat(g), where, flat(out), m, int(count), post)
    return out


def check(found: int, expected: int) -> None:
    """Raise the CPU kernel's error for a mask whose count differs from the compiled one."""
    more = "more" if found > expected else "fewer"
    raise RuntimeError(f"boolean mask selects {more} elements ({found}) than this program was compiled for "
                       f"({expected})")


OPS = ("count_true", "mask_select", "mask_scatter")
