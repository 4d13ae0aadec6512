"""CUDA kernels of the indexed library calls (kernels/indexed.py describes the form): reads and
writes through runtime index arrays that stay on the device. One generated kernel per index
structure (number of index arrays, which have sel maps, whether negative indices wrap) computes
every element's source position with the CPU loop's own lines (kernels.indexed.position_lines);
strides and sizes are runtime arguments, so other shapes reuse it. Then:

- take: out[o] = src[pos[o]];
- put: out = x; out[pos[o]] = value[...] where the LAST o writing a position wins (NumPy's and
  the CPU loop's rule): each position's winner is the largest o (an integer atomic max, which
  does not depend on the order threads run in);
- scatter_add: out[pos[o]] += g[o] in increasing o, as the CPU loop adds: positions are counted
  (integer atomics), an exclusive scan gives each target its segment, sources are placed in
  their segment and each segment sorted by o, then one thread per target sums its segment in
  that order. The result is bit-identical to the CPU's and to itself on every run (no float
  atomics, whose sums depend on the order threads arrive in).

Bounds: an index outside the array is never read; its element records (o, term) in an error
slot with an integer atomic min, so the first bad element in the CPU loop's order is the one
reported, and `check` raises the CPU loop's own IndexError / RuntimeError naming it."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import cuda  # module global: the simulator patches kernel globals

from ..indexed import position_lines
from ..spec import IndexOutOfRangeError
from . import runtime
from .layout import flat

NO_ERROR = np.iinfo(np.int64).max
_kernels: dict = {}


def _positions_source(n_terms: int, has_sel: tuple, wraps: bool) -> str:
    """Kernel `positions`: pos[o] = the source position of element o, or -1 (its index is out
    of range; recorded in err[slot] as o * n_terms + term, smallest first)."""
    def refuse(k: int) -> list[str]:
        record = [f"cuda.atomic.min(err, slot, _o * {n_terms} + {k})", "_j = 0", "_bad = True"]
        if not wraps:
            return record
        return [f"if -sizes[{k}] <= _j < 0:", f"    _j += sizes[{k}]", "else:"] + ["    " + r for r in record]

    terms = [(f"i{k}", f"m{k}" if has_sel[k] else "", f"sizes[{k}]", f"strides[{k}]") for k in range(n_terms)]
    args = ["base"] + [f"i{k}" for k in range(n_terms)] + [f"m{k}" for k in range(n_terms) if has_sel[k]]
    body = ["_bad = False"] + position_lines("base", terms, refuse) + ["pos[_o] = -1 if _bad else _p"]
    lines = ["import numpy as np", "from numba import cuda", "", "",
             "@cuda.jit(cache=True)",
             f"def positions({', '.join(args)}, strides, sizes, err, slot, pos):",
             "    for _o in range(cuda.grid(1), base.size, cuda.gridsize(1)):"]
    lines += ["        " + line for line in body]
    return "\n".join(lines) + "\n"


def _positions_kernel(n_terms: int, has_sel: tuple, wraps: bool):
    key = (n_terms, has_sel, wraps)
    kernel = _kernels.get(key)
    if kernel is None:
        text = _positions_source(n_terms, has_sel, wraps)
        kernel = _kernels[key] = runtime.load_generated(text, f"index positions {n_terms} {wraps}").positions
    return kernel


def error_slots(n: int):
    """A device array of n error slots, each 'no error' (one per indexed call of a program)."""
    return runtime.full((max(n, 1),), NO_ERROR, np.int64)


def positions(base, indexes: Sequence, sels: Sequence, strides: tuple, sizes: tuple, wraps: bool, err, slot: int):
    """int64 device array shaped like `base`: each element's source position, -1 where an index
    is out of range (recorded in err[slot]). sels[k] is None where index k is read at o itself."""
    # (an index array may be a host tensor captured by a traced function: moved here)
    indexes = [i if runtime.is_device_array(i) else runtime.to_device(i) for i in indexes]
    base_flat = flat(base)
    pos = runtime.empty((base_flat.size,), np.int64)
    if base_flat.size:
        has_sel = tuple(s is not None for s in sels)
        kernel = _positions_kernel(len(indexes), has_sel, bool(wraps))
        args = [flat(i) for i in indexes] + [flat(s) for s in sels if s is not None]
        runtime.launch(kernel, base_flat.size)(base_flat, *args, tuple(int(s) for s in strides),
                                               tuple(int(s) for s in sizes), err, int(slot), pos)
    return pos


def check(err, calls: Sequence) -> None:
    """Raise the error of the first call (in program order) that recorded an out-of-range index,
    as the CPU loop raises it. calls: per slot, (message prefix, wraps, index arrays, sel maps
    (None: read at o), dims, sizes), or (a function, its arguments): called with the slot's value
    first (a boolean mask's count error, kernels/cuda/masks.py)."""
    found = runtime.to_host(err)
    for slot, record in enumerate(calls):
        key = int(found[slot])
        if key == NO_ERROR:
            continue
        if callable(record[0]):
            record[0](key, *record[1:])
            continue
        message, wraps, indexes, sels, dims, sizes = record
        o, k = divmod(key, len(indexes))
        at = o if sels[k] is None else int(runtime.to_host(flat(sels[k])[o:o + 1])[0])
        index = indexes[k] if runtime.is_device_array(indexes[k]) else runtime.to_device(indexes[k])
        j = int(runtime.to_host(flat(index)[at:at + 1])[0])
        text = f"{message}index {j} is out of bounds for dimension {dims[k]} with size {sizes[k]}"
        raise IndexError(text) if wraps else IndexOutOfRangeError(text)  # (RuntimeError too, as on the CPU)


# ----- the value kernels --------------------------------------------------------------------


@cuda.jit(cache=True)
def _take(src, pos, out):
    for o in range(cuda.grid(1), pos.size, cuda.gridsize(1)):
        p = pos[o]
        if p >= 0:
            out[o] = src[p]


@cuda.jit(cache=True)
def _claim(pos, winner):
    """winner[p] = the largest o writing position p (the last write, in the CPU loop's order)."""
    for o in range(cuda.grid(1), pos.size, cuda.gridsize(1)):
        p = pos[o]
        if p >= 0:
            cuda.atomic.max(winner, p, o)


@cuda.jit(cache=True)
def _put(dst, pos, winner, value, vmap, mode):
    """dst[pos[o]] = value[v] for the winning o; v = o (mode 0), 0 (mode 1) or vmap[o] (mode 2)."""
    for o in range(cuda.grid(1), pos.size, cuda.gridsize(1)):
        p = pos[o]
        if p >= 0 and winner[p] == o:
            v = o if mode == 0 else (0 if mode == 1 else vmap[o])
            dst[p] = value[v]


@cuda.jit(cache=True)
def _count(pos, counts):
    for o in range(cuda.grid(1), pos.size, cuda.gridsize(1)):
        p = pos[o]
        if p >= 0:
            cuda.atomic.add(counts, p, 1)


@cuda.jit(cache=True)
def _place(pos, cursor, order):
    """order[cursor[p]++] = o: each source lands in its target's segment (in any order)."""
    for o in range(cuda.grid(1), pos.size, cuda.gridsize(1)):
        p = pos[o]
        if p >= 0:
            order[cuda.atomic.add(cursor, p, 1)] = o


@cuda.jit(cache=True)
def _sum_segments(out, g, order, starts, counts):
    """One thread per target: its segment sorted by source (insertion sort, segments are short
    in practice), then summed in that order onto out[p]."""
    for p in range(cuda.grid(1), counts.size, cuda.gridsize(1)):
        lo = starts[p]
        hi = lo + counts[p]
        for a in range(lo + 1, hi):
            v = order[a]
            b = a - 1
            while b >= lo and order[b] > v:
                order[b + 1] = order[b]
                b -= 1
            order[b + 1] = v
        if hi > lo:
            acc = out[p]
            for a in range(lo, hi):
                acc += g[order[a]]
            out[p] = acc


# ----- exclusive scan of int64 counts (chunks scanned in parallel, chunk totals serially) -----

_CHUNK = 64


@cuda.jit(cache=True)
def _scan_chunks(counts, starts, totals, chunk):
    for c in range(cuda.grid(1), totals.size, cuda.gridsize(1)):
        acc = 0
        end = (c + 1) * chunk
        if end > counts.size:
            end = counts.size
        for i in range(c * chunk, end):
            starts[i] = acc
            acc += counts[i]
        totals[c] = acc


@cuda.jit(cache=True)
def _scan_totals(totals):
    if cuda.grid(1) == 0:
        acc = 0
        for c in range(totals.size):
            t = totals[c]
            totals[c] = acc
            acc += t


@cuda.jit(cache=True)
def _add_offsets(starts, totals, chunk):
    for i in range(cuda.grid(1), starts.size, cuda.gridsize(1)):
        starts[i] += totals[i // chunk]


def exclusive_scan(counts):
    """starts[i] = counts[0] + ... + counts[i-1] for a 1-D int64 device array."""
    n = counts.size
    starts = runtime.empty((n,), np.int64)
    if n:
        chunks = -(-n // _CHUNK)
        totals = runtime.empty((chunks,), np.int64)
        runtime.launch(_scan_chunks, chunks)(counts, starts, totals, _CHUNK)
        runtime.configure(_scan_totals, 1, 1)(totals)
        runtime.launch(_add_offsets, n)(starts, totals, _CHUNK)
    return starts


# ----- the calls -----------------------------------------------------------------------------


def take(src, base, indexes, sels, strides, sizes, wraps, err, slot, out_shape, dtype):
    """out[o] = src.flat[position(o)]: getitem with index arrays, gather."""
    out = runtime.empty(tuple(out_shape), dtype)
    pos = positions(base, indexes, sels, strides, sizes, wraps, err, slot)
    if pos.size:
        runtime.launch(_take, pos.size)(flat(src), pos, flat(out))
    return out


def put(x, base, indexes, sels, strides, sizes, err, slot, value, vmap, scalar: bool):
    """A copy of x with x.flat[position(o)] = value[...] (the last o of a repeated position wins);
    vmap: the value element each target element takes (None: o itself, or 0 when `scalar`)."""
    from .elementwise import elementwise
    out = elementwise("x0", [x], tuple(x.shape), x.dtype)
    pos = positions(base, indexes, sels, strides, sizes, True, err, slot)
    if pos.size:
        winner = runtime.full((max(out.size, 1),), -1, np.int64)
        runtime.launch(_claim, pos.size)(pos, winner)
        mode = 2 if vmap is not None else (1 if scalar else 0)
        vm = flat(vmap) if vmap is not None else winner
        runtime.launch(_put, pos.size)(flat(out), pos, winner, flat(value), vm, mode)
    return out


def scatter_add(g, base, indexes, sels, strides, sizes, wraps, err, slot, out_shape, dtype):
    """zeros(out_shape) with out.flat[position(o)] += g.flat[o], summed in increasing o."""
    out = runtime.zeros(tuple(out_shape), dtype)
    pos = positions(base, indexes, sels, strides, sizes, wraps, err, slot)
    if pos.size and out.size:
        counts = runtime.zeros((out.size,), np.int64)
        runtime.launch(_count, pos.size)(pos, counts)
        starts = exclusive_scan(counts)
        cursor = runtime.empty((out.size,), np.int64)
        cursor.copy_to_device(starts)
        order = runtime.empty((pos.size,), np.int64)
        runtime.launch(_place, pos.size)(pos, cursor, order)
        runtime.launch(_sum_segments, out.size)(flat(out), flat(g), order, starts, counts)
    return out
