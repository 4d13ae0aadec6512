"""Lowering: a fused graph -> a Plan of kernels.spec Programs (filled op templates, planned
buffers). Without fallback equations the plan is ONE program: one compiled entry point, one
Numba dispatch per call. A fallback equation (no back-end kernel for it on the target) splits
the plan: the reference interpreter runs it between two compiled programs.

A traced boolean mask (prims_mask's mask_select) splits the plan too, and only there: the size
of its result is data-dependent. The program before ends with the count pass; the caller checks
the count against the one the graph was traced for (MaskSplit) before the next program, compiled
for that count, compacts. Both programs say so in a comment of their generated source."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from jitgrad._kernels.spec import Array, Call, Load, Loop, Program, Reduce, Stmt, Store

from . import dtypes, shapes
from .dtypes import kernel_dtype
from .fuse import FallbackGroup, LoopGroup, fuse, is_call_op, is_fusable_reduction, kernel_prims, materialized
from .ir import Eqn, Graph, Var
from .lower_calls import lower_call
from .templates import literal, scalar_expression
from .version import __version__


@dataclass
class MaskSplit:
    """Between two programs: array `count` (written by the count pass of the program before)
    must equal `expected`, the count traced boolean mask number `site` was traced for."""

    count: str
    expected: int
    site: int
    mask: str


@dataclass
class Segment:
    """One step of a plan: a compiled program, an equation for the reference interpreter, or the
    count check of a boolean-mask split."""

    program: Program | None = None
    eqn: Eqn | None = None
    split: MaskSplit | None = None


@dataclass
class Plan:
    """Programs and fallback equations in order; `names` maps each Var to its array name."""

    segments: list
    names: dict
    graph: Graph
    loops: int
    library_calls: int



class _Namer:
    """Array and scalar names for Vars, and literal text for inlined 0-d constants; `windows`:
    Vars computed straight into a slice of another Var's array (see cat_windows)."""

    def __init__(self, graph: Graph) -> None:
        self.windows: dict[Var, tuple] = {}  # Var -> (parent Var, index text, contiguous)
        self.arrays: dict[Var, str] = {}
        for i, v in enumerate(graph.inputs):
            self.arrays[v] = f"in{i}"
        self.count = 0

    def scalar(self, v: Var) -> str:
        """A fresh loop-local scalar name (deterministic, so the source text is a stable cache key)."""
        self.count += 1
        return f"t{self.count}"

    def array(self, v: Var) -> str:
        name = self.arrays.get(v)
        if name is None:
            self.count += 1
            name = self.arrays[v] = (f"k{self.count}" if v.value is not None else f"a{self.count}")
        return name


def _is_inline_const(v: Var) -> bool:
    return v.value is not None and v.ndim == 0


def expression(eqn: Eqn, operands: list[str]) -> str:
    """The scalar expression of one elementwise equation: its declaration's template, filled."""
    x_dtype = eqn.inputs[0].dtype if eqn.inputs else eqn.out.dtype
    return scalar_expression(eqn.prim, eqn.params, kernel_dtype(x_dtype), kernel_dtype(eqn.out.dtype), operands)


def _array(namer: _Namer, v: Var) -> Array:
    window = namer.windows.get(v)
    view = None if window is None else (namer.array(window[0]),) + tuple(window[1:])
    return Array(namer.array(v), tuple(v.shape), dtypes.name(kernel_dtype(v.dtype)), view)


def cat_windows(graph: Graph, groups: list, device: str) -> dict:
    """Inputs of cat/stack that a fused loop computes for that cat alone: {Var: (cat's output,
    index text of its slice, whether the slice is one C-ordered block, its blocks (see
    kernels.spec.Array))}. The loop stores them
    straight into their slice of cat's output buffer (no temporary, no copy). Only in a plan
    that stays one program (a split would put the loop and the cat in two programs)."""
    if device != "cpu" or any(isinstance(g, FallbackGroup) or (not isinstance(g, LoopGroup)
                                                               and g.eqn.prim.name == "mask_select")
                              for g in groups):
        return {}
    home: dict = {}
    for g, group in enumerate(groups):
        if isinstance(group, LoopGroup):
            for eqn in group.eqns:
                if not is_fusable_reduction(eqn):
                    home[eqn.out] = g
    consumers: dict = {}
    for eqn in graph.eqns:
        for v in eqn.inputs:
            consumers.setdefault(v, []).append(eqn)
    outputs = set(graph.outputs)
    windows: dict = {}
    for group in groups:
        if isinstance(group, LoopGroup) or group.eqn.prim.name not in ("cat", "stack"):
            continue
        cat = group.eqn
        dim, start = cat.params["dim"], 0
        for v in cat.inputs:
            width = v.shape[dim] if cat.prim.name == "cat" else 1
            g = home.get(v)
            if g is not None and v not in outputs and v not in windows and cat.inputs.count(v) == 1 \
                    and v.dtype == cat.out.dtype and tuple(groups[g].shape) == tuple(v.shape) \
                    and all(u is cat or u in groups[g].eqns for u in consumers.get(v, ())):
                parts = [":"] * dim + [f"{start}:{start + width}" if cat.prim.name == "cat" else str(start)]
                # (no trailing full slices: Numba types a[2:5] of a C array as C, a[2:5, :] as any layout)
                inner = shapes.numel(tuple(cat.out.shape[dim + 1:]))
                blocks = (shapes.numel(tuple(cat.out.shape[:dim])), shapes.numel(tuple(cat.out.shape[dim:])),
                          start * inner, width * inner)
                windows[v] = (cat.out, ", ".join(parts), dim == 0, blocks)
            start += width
    return windows


def _lower_loop(group: LoopGroup, namer: _Namer, needed: set, program_arrays: dict) -> Loop:
    loads, stmts, stores, reduces = [], [], [], []
    local: dict[Var, str] = {}
    loaded: dict[Var, str] = {}

    def operand(v: Var) -> str:
        if v in local:
            return local[v]
        if _is_inline_const(v):
            return literal(np.asarray(v.value)[()], kernel_dtype(v.dtype))
        if v not in loaded:
            arr = _array(namer, v)
            program_arrays[arr.name] = (arr, v)
            loaded[v] = f"l{len(loaded)}_{arr.name}"
            loads.append(Load(loaded[v], arr.name))
        return loaded[v]

    for eqn in group.eqns:
        target = namer.scalar(eqn.out)
        origin = f"{eqn.prim.name} -> {namer.array(eqn.out) if eqn.out in needed else target}"
        if is_fusable_reduction(eqn):
            value = operand(eqn.inputs[0])
            arr = _array(namer, eqn.out)
            program_arrays[arr.name] = (arr, eqn.out)
            reduction = eqn.prim.reduction
            count = math.prod(eqn.inputs[0].shape[d] for d in eqn.params["dims"])
            reduces.append(Reduce(arr.name, reduction.combine, value, tuple(eqn.params["dims"]),
                                  reduction.scale(count), origin))
            continue
        stmts.append(Stmt(target, expression(eqn, [operand(v) for v in eqn.inputs]), origin,
                          dtypes.name(kernel_dtype(eqn.out.dtype))))
        local[eqn.out] = target
        if eqn.out in needed:
            arr = _array(namer, eqn.out)
            program_arrays[arr.name] = (arr, eqn.out)
            if arr.view is not None:  # (its parent, cat's output, belongs to this program too)
                parent = namer.windows[eqn.out][0]
                program_arrays[arr.view[0]] = (_array(namer, parent), parent)
            stores.append(Store(arr.name, target, origin))
    return Loop(tuple(group.shape), tuple(loads), tuple(stmts), tuple(stores), tuple(reduces))


def _lower_library(eqn: Eqn, namer: _Namer, program_arrays: dict, views_ok: bool = False,
                   device: str = "cpu") -> Call:
    """One library call; `views_ok`: every reader is a matmul (BLAS reads a transposed view)."""
    ins = []
    for v in eqn.inputs:
        arr = _array(namer, v)
        program_arrays[arr.name] = (arr, v)
        ins.append(arr.name)
    out = _array(namer, eqn.out)
    program_arrays[out.name] = (out, eqn.out)
    name = eqn.prim.name
    origin = f"{name} -> {out.name}"
    if name in kernel_prims(device):  # the back end's kernel for the whole op, with its declared params
        return Call("prim", tuple(ins), out.name, (name, tuple(sorted(eqn.params.items()))), origin)
    if name in ("cat", "stack") and any(v in namer.windows for v in eqn.inputs):
        return lower_call(eqn, ins, out.name, None, in_place=[v in namer.windows for v in eqn.inputs])
    if is_call_op(eqn, device):
        def const(value: np.ndarray) -> str:
            var = Var(value.shape, value.dtype, value=value)
            arr = _array(namer, var)
            program_arrays[arr.name] = (arr, var)
            return arr.name
        return lower_call(eqn, ins, out.name, const, rows=device == "cpu")
    if name == "getitem":
        slices, _ = basic_slices(eqn.params["spec"], eqn.inputs[0].shape)
        return Call("getitem_basic", tuple(ins), out.name, (slices, tuple(eqn.out.shape)), origin)
    if name == "unindex":
        slices, sliced = basic_slices(eqn.params["spec"], eqn.params["shape"])
        return Call("unindex_basic", tuple(ins), out.name, (slices, tuple(eqn.params["shape"]), sliced), origin)
    if name == "matmul":
        return Call("matmul", tuple(ins), out.name, origin=origin)
    if name in ("reshape", "squeeze", "unsqueeze"):
        return Call("reshape", tuple(ins), out.name, (tuple(eqn.out.shape),), origin)
    if views_ok and eqn.inputs[0].ndim == 2 and (name == "transpose" or eqn.params["dims"] == (1, 0)):
        return Call("transpose_view", tuple(ins), out.name, (), origin)
    if name == "permute":
        return Call("permute", tuple(ins), out.name, (tuple(eqn.params["dims"]),), origin)
    perm = list(range(eqn.inputs[0].ndim))
    d0, d1 = eqn.params["dim0"], eqn.params["dim1"]
    perm[d0], perm[d1] = perm[d1], perm[d0]
    return Call("permute", tuple(ins), out.name, (tuple(perm),), origin)


def basic_slices(spec: tuple, shape: tuple) -> tuple[str, tuple]:
    """Source text of the slices that select a basic index (ints, slices, None, Ellipsis)
    keeping every dimension, and the shape that selection has (ints keep a size-1 dim; the
    caller reshapes)."""
    items = [it for it in spec if it[0] != "n"]
    explicit = sum(1 for it in items if it[0] != "e")
    parts, sizes, d = [], [], 0
    for it in items:
        if it[0] == "e":
            for _ in range(len(shape) - explicit):
                parts.append(":")
                sizes.append(shape[d])
                d += 1
            continue
        if it[0] == "i":
            k = it[1] % shape[d]
            parts.append(f"{k}:{k + 1}")
            sizes.append(1)
        else:
            _, start, stop, step = it
            parts.append(":".join("" if v is None else str(v) for v in (start, stop, step)))
            sizes.append(len(range(*slice(start, stop, step).indices(shape[d]))))
        d += 1
    while d < len(shape):
        parts.append(":")
        sizes.append(shape[d])
        d += 1
    return ", ".join(parts) or "...", tuple(sizes)


# A fused loop longer than this many equations is cut into loops of at most this many (values
# crossing a cut go through arrays), and the pieces of a repeated chain (an unrolled loop, its
# adjoint) render to the same kernel. None: not cut. Off by default: measured on the 1000-step
# z = z / x * y loop with 128, every forward value crossing into the adjoint's pieces went
# through an array and the call took 31.9 ms instead of 34 us, while the pieces (dozens of
# stores each) still compiled slowly.
MAX_LOOP_EQNS: int | None = None


def bound_loops(groups: list, limit: int | None = None) -> list:
    """`groups` with every LoopGroup longer than `limit` cut into consecutive pieces. Cuts fall
    on multiples of the chain's local period (of op names and parameters), so that the pieces
    of a periodic chain have the same structure (limit: MAX_LOOP_EQNS when not given)."""
    limit = MAX_LOOP_EQNS if limit is None else limit
    if limit is None:
        return groups
    out = []
    for group in groups:
        if not isinstance(group, LoopGroup) or len(group.eqns) <= limit:
            out.append(group)
            continue
        eqns = group.eqns
        sig = [(e.prim.name, repr(sorted(e.params.items()))) for e in eqns]
        start = 0
        while start < len(eqns):
            size = min(limit, len(eqns) - start)
            if start + size < len(eqns):
                period = _period(sig, start, limit)
                size = limit // period * period
            piece = eqns[start:start + size]
            dims = group.reduce_dims if any(is_fusable_reduction(e) for e in piece) else None
            out.append(LoopGroup(group.shape, list(piece), dims))
            start += size
    return out


def _period(sig: list, start: int, window: int) -> int:
    """The smallest p <= window/2 with sig[k] == sig[k + p] over the next `window` items from
    `start` (1 when the chain is not periodic there: any cut is as good as another)."""
    for p in range(1, window // 2 + 1):
        end = min(start + window, len(sig) - p)
        if end - start >= window // 2 and sig[start:end] == sig[start + p:end + p]:
            return p
    return 1


def lower(graph: Graph, name: str = "program", device: str = "cpu") -> Plan:
    """Fuse and lower `graph` into a plan of programs (one when nothing falls back)."""
    groups = bound_loops(fuse(graph, device))
    needed = materialized(graph, groups)
    namer = _Namer(graph)
    namer.windows = cat_windows(graph, groups, device)
    consumers: dict = {}
    for e in graph.eqns:
        for v in e.inputs:
            consumers.setdefault(v, []).append(e)
    outputs = set(graph.outputs)
    chunks: list = []  # (steps, arrays) for compiled runs, an Eqn for the interpreter, or a MaskSplit
    n_loops = n_lib = 0
    for group in groups:
        if isinstance(group, FallbackGroup):
            for v in list(group.eqn.inputs) + [group.eqn.out]:
                namer.array(v)
            chunks.append(group.eqn)
            continue
        if not chunks or isinstance(chunks[-1], (Eqn, MaskSplit)):
            chunks.append(([], {}))
        steps, arrays = chunks[-1]
        if not isinstance(group, LoopGroup) and _splits_here(group.eqn, device):
            chunks.append(_count_pass(group.eqn, namer, steps, arrays))
            chunks.append(([], {}))
            steps, arrays = chunks[-1]
        if isinstance(group, LoopGroup):
            steps.append(_lower_loop(group, namer, needed, arrays))
            n_loops += 1
        else:
            readers = consumers.get(group.eqn.out, [])
            views_ok = bool(readers) and group.eqn.out not in outputs and all(
                r.prim.name == "matmul" for r in readers)
            steps.append(_lower_library(group.eqn, namer, arrays, views_ok, device))
            n_lib += 1
    single = not any(isinstance(c, (Eqn, MaskSplit)) for c in chunks)
    if single and not chunks:
        chunks.append(([], {}))
    segments = []
    for i, chunk in enumerate(chunks):
        if isinstance(chunk, Eqn):
            segments.append(Segment(eqn=chunk))
        elif isinstance(chunk, MaskSplit):
            segments.append(Segment(split=chunk))
        else:
            notes = _split_notes(chunks, i, name)
            segments.append(Segment(program=_program(f"{name}_{i}", graph, chunk[0], chunk[1], namer, single, notes)))
    for v in graph.outputs:
        namer.array(v)
    return Plan(segments, namer.arrays, graph, n_loops, n_lib)


def _splits_here(eqn: Eqn, device: str) -> bool:
    """A traced boolean mask whose count is checked at run time (site >= 0; the backward's
    re-selections have a static count) splits the program before its compaction, on the CPU and
    on a device whose back end compiles masks (elsewhere mask_select is a fallback equation)."""
    return eqn.prim.name == "mask_select" and eqn.params["site"] >= 0


def _count_pass(eqn: Eqn, namer: _Namer, steps: list, arrays: dict) -> MaskSplit:
    """Append the count pass of eqn's mask to the program being built; the split that follows."""
    mask = _array(namer, eqn.inputs[1])
    arrays[mask.name] = (mask, eqn.inputs[1])
    count_var = Var((), dtypes.int64)
    count = _array(namer, count_var)
    arrays[count.name] = (count, count_var)
    steps.append(Call("count_true", (mask.name,), count.name, (), f"mask_select -> {count.name} (count pass)"))
    return MaskSplit(count.name, eqn.params["count"], eqn.params["site"], mask.name)


def _split_notes(chunks: list, i: int, name: str) -> tuple:
    """Comments for the generated source of program i next to a boolean-mask split."""
    notes = []
    if i > 0 and isinstance(chunks[i - 1], MaskSplit):
        s = chunks[i - 1]
        notes.append(f"split before this program: boolean mask {s.mask} has a data-dependent count; this program "
                     f"is compiled for {s.expected} selected elements (checked against {s.count} from program "
                     f"{name}_{i - 2}; another count traces the function again) and starts with the compaction")
    if i + 1 < len(chunks) and isinstance(chunks[i + 1], MaskSplit):
        s = chunks[i + 1]
        notes.append(f"split after this program: it ends with the count pass of boolean mask {s.mask} "
                     f"({s.count}); the size of what follows depends on it (program {name}_{i + 2})")
    return tuple(notes)


def _program(name: str, graph: Graph, steps: list, arrays: dict, namer: _Namer, single: bool,
             split_notes: tuple = ()) -> Program:
    """A Program whose arguments are the arrays it reads but does not write. A single-program
    plan returns the graph's outputs; in a split plan each program returns all it writes."""
    written = set()
    for step in steps:
        if isinstance(step, Loop):
            written.update(st.array for st in step.stores)
            written.update(r.array for r in step.reduces)
        else:
            written.add(step.output)
    if single:
        for v in graph.outputs:
            arr = _array(namer, v)
            arrays.setdefault(arr.name, (arr, v))
        outputs = tuple(namer.array(v) for v in graph.outputs)
    else:
        outputs = tuple(sorted(written))
    args, consts, temps, prealloc = [], [], [], []
    for arr_name in sorted(arrays):
        arr, var = arrays[arr_name]
        if arr_name in written and _preallocate(arr, steps):
            prealloc.append(arr)
        elif arr_name in written:
            temps.append(arr)
        elif var.value is not None:
            consts.append(arr)
        else:
            args.append(arr)
    return Program(name, tuple(args), outputs, temporaries=tuple(temps), steps=tuple(steps),
                   constants=tuple(consts), notes=(f"jitgrad {__version__}",) + split_notes,
                   preallocated=tuple(prealloc))


# Buffers of at least this many elements, written by a loop, are allocated by the caller with
# NumPy (huge pages for fresh memory), not by np.empty inside the compiled function.
PREALLOCATE_MIN = 1 << 16


def _preallocate(arr: Array, steps: list) -> bool:
    if shapes.numel(arr.shape) < PREALLOCATE_MIN or arr.view is not None:
        return False
    return any(isinstance(st, Loop) and (any(x.array == arr.name for x in st.stores)
                                         or any(r.array == arr.name for r in st.reduces)) for st in steps)
