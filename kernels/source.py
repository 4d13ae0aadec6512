"""Program -> Python source text of ONE function (all loops and library calls inside it), so a
call of the compiled program is one Numba dispatch. Each generated line of loop bodies names
the IR equation it came from in a trailing comment."""
from __future__ import annotations

import math
import re

from . import chain_pieces, library, loop_split, reductions, trig_versions
from .blas_call import PRODUCTS_MARKER
from .extents import loop_extent, outer_extent
from .reductions import accumulator_dtype, combine
from .spec import Array, Call, Loop, Program, Reduce


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.depth = 1
        self.helpers: list[str] = []  # serial functions called from parallel chunks
        self.scalars: set[str] = set()  # 0-d temporaries kept as local scalars (see scalar_temporaries)
        self.hoist: list[str] | None = None  # allocations go here (before a loop) instead (see render_fori)
        self.products: set[str] = set()  # dtypes of the bound matrix products called (kernels.blas_call)

    def element(self, array: Array) -> str:
        """The text of the one element of a one-element array: a scalar local, or its element."""
        if array.name in self.scalars:
            return array.name
        return f"{array.name}[{', '.join('0' for _ in array.shape) or '()'}]"

    def line(self, text: str, comment: str = "") -> None:
        pad = "    " * self.depth
        self.lines.append(f"{pad}{text}" + (f"  # {comment}" if comment else ""))

    def indent(self) -> None:
        self.depth += 1

    def dedent(self) -> None:
        self.depth -= 1


def _index(array: Array, loop_shape: tuple[int, ...], ivars: list[str]) -> str:
    """Broadcast index of `array` inside a loop over `loop_shape`."""
    n, r = len(loop_shape), len(array.shape)
    if r == 0:
        return "()"
    parts = []
    for j, size in enumerate(array.shape):
        k = n - r + j
        parts.append(ivars[k] if size == loop_shape[k] and size != 1 else "0")
    return ", ".join(parts)


def _is_flat(loop: Loop, arrays: dict[str, Array]) -> bool:
    """All loads and stores cover the loop shape exactly and reductions reduce everything:
    the loop can run over one flat index (best for SIMD)."""
    for load in loop.loads:
        if arrays[load.array].shape != loop.shape and math.prod(arrays[load.array].shape) != 1:
            return False
    for store in loop.stores:
        if arrays[store.array].shape != loop.shape or arrays[store.array].strided:
            return False
    return not loop.reduces or set(loop.reduced_dims) == set(range(len(loop.shape)))


def _is_scalar_load(load, arrays: dict) -> bool:
    return math.prod(arrays[load.array].shape) == 1


def _emit_hoisted_loads(w: _Writer, loop: Loop, arrays: dict) -> None:
    """One-element arrays are read once, before the loop (Numba's parfors also need it)."""
    for load in loop.loads:
        if _is_scalar_load(load, arrays):
            w.line(f"{load.target} = {w.element(arrays[load.array])}")


def _emit_body(w: _Writer, loop: Loop, arrays: dict, element) -> None:
    """Loads, statements and stores of one iteration; element(name) is the text of the
    array element the iteration reads or writes."""
    for load in loop.loads:
        if not _is_scalar_load(load, arrays):
            w.line(f"{load.target} = {element(load.array)}")
    for stmt in loop.stmts:
        w.line(f"{stmt.target} = {stmt.expr}", stmt.origin)
    for store in loop.stores:
        if store.array in w.scalars:  # (an array store casts to its dtype; so does a scalar's)
            w.line(f"{store.array} = np.{arrays[store.array].dtype}({store.value})", store.origin)
        else:
            w.line(f"{element(store.array)} = {store.value}", store.origin)


def _acc_name(r: Reduce) -> str:
    return f"_acc_{r.array}"


def _init_expr(r: Reduce, arrays: dict) -> str:
    """The accumulator's starting value: the identity in the accumulator dtype."""
    return reductions.identity(r.op, accumulator_dtype(arrays[r.array].dtype, r.op))


def _identity(r: Reduce, arrays: dict) -> str:
    """The value that leaves a reduction unchanged (for padding lanes)."""
    return reductions.identity(r.op, arrays[r.array].dtype)


def _finish(r: Reduce, arrays: dict, acc: str) -> str:
    dt = arrays[r.array].dtype
    value = r.scaled(acc)
    return f"np.{dt}({value})"


# Flat loops shorter than this run over this many lanes (inputs copied into padded buffers):
# LLVM does not vectorise a loop whose trip count is below the vector width, and a long
# dependent chain per element (e.g. 1000 steps of z = z / x * y on 6 elements) then runs one
# element at a time. Padded, the whole chain runs once in vector registers (~5x faster).
PAD_LANES = 16
# ... but only a loop of at least this many statements: the scratch buffer costs an allocation
# and two copies per call (~50-100 ns), more than a short body saves (W2's 7-statement loop over
# 11 points ran in ~10 ns unpadded, the padded version with its scratch ~100 ns).
PAD_MIN_STMTS = 32


# Serial flat loops of at least this many elements run their blocked float32 sums (see
# reductions.block_dtype) through the chunk helpers too; shorter ones keep the inline loop (the
# helpers cost two calls and compile time, more than a short loop gains).
SERIAL_BLOCKED_MIN = 16384


def _whole(w: _Writer, name: str) -> str:
    """The assignment target that sets every element of a one-element result (a reduction's)."""
    return name if name in w.scalars else f"{name}[()]"


def _emit_single(w: _Writer, loop: Loop, arrays: dict) -> None:
    """A loop over one element: its body straight-line, no loop and no flat views (a scalar
    temporary is then a local variable: nothing is allocated)."""
    _emit_hoisted_loads(w, loop, arrays)
    _emit_body(w, loop, arrays, lambda name: w.element(arrays[name]))
    for r in loop.reduces:
        w.line(f"{_acc_name(r)} = {_init_expr(r, arrays)}")
        w.line(combine(r.op, _acc_name(r), r.value), r.origin)
        w.line(f"{_whole(w, r.array)} = {_finish(r, arrays, _acc_name(r))}")


def _emit_flat_loop(w: _Writer, loop: Loop, arrays: dict, parallel: bool) -> None:
    n = math.prod(loop.shape)
    if chain_pieces.applies(loop, arrays, n, parallel):
        _emit_hoisted_loads(w, loop, arrays)
        scalars = {ld.target: arrays[ld.array].dtype for ld in loop.loads if _is_scalar_load(ld, arrays)}
        chain_pieces.emit(w, loop, arrays, n, scalars)
        return
    if n == 1 and not parallel:
        _emit_single(w, loop, arrays)
        return
    pad = not parallel and 1 < n < PAD_LANES and len(loop.stmts) >= PAD_MIN_STMTS
    lanes = PAD_LANES if pad else n
    loaded = sorted({ld.array for ld in loop.loads if not _is_scalar_load(ld, arrays)})
    stored = sorted({s.array for s in loop.stores})
    flat = {}
    if pad:
        # One padded scratch array per dtype, a row per array (one allocation each row would
        # cost ~0.1 s of compile time: a piece of a long chain stores dozens of values).
        rows: dict = {}
        for name in loaded + [s for s in stored if s not in loaded]:
            dt = arrays[name].dtype
            rows.setdefault(dt, []).append(name)
        for dt, names in rows.items():
            w.line(f"_pad_{dt} = lib.ones(({len(names)}, {lanes}), np.{dt})")
            for row, name in enumerate(names):
                flat[name] = (f"_pad_{dt}", row)
                if name in loaded:
                    w.line(f"lib.copy_into(_pad_{dt}[{row}, :{n}], lib.flat({name}))")
    else:
        for name in loaded + [s for s in stored if s not in loaded]:
            if arrays[name].shape == (n,) and arrays[name].view is None:
                flat[name] = name  # (already flat: Numba's reshape costs ~20 ns, a loop over 11 elements less)
                continue
            flat[name] = f"{name}_flat"
            w.line(f"{name}_flat = lib.flat({name})")
    _emit_hoisted_loads(w, loop, arrays)

    def body(out: _Writer, suffix: str = "") -> None:
        _emit_body(out, loop, arrays,
                   lambda name: f"{flat[name][0]}[{flat[name][1]}, _i]" if pad else f"{flat[name]}{suffix}[_i]")
        for r in loop.reduces:
            value = r.value if not pad else f"({r.value} if _i < {n} else {_identity(r, arrays)})"
            out.line(combine(r.op, _acc_name(r), value), r.origin)

    if not parallel and not (pad or n < SERIAL_BLOCKED_MIN or not _blocked(loop, arrays)):
        # a serial float32 sum long enough to pay for two helper calls: blocked as a parallel chunk's
        helper, views, hoisted = _emit_chunk_helper(w, loop, arrays, flat, body)
        result = f"_r{len(w.lines)}"  # (one name per loop: Numba types each name once per function)
        w.line(f"{result} = {helper}({', '.join([str(n), *views, *hoisted])})")
        for k, r in enumerate(loop.reduces):
            w.line(f"{_whole(w, r.array)} = {_finish(r, arrays, f'{result}[{k}]')}")
        return
    if not parallel:
        for r in loop.reduces:
            w.line(f"{_acc_name(r)} = {_init_expr(r, arrays)}")
        w.line(f"for _i in range({lanes if pad else loop_extent(lanes)}):")
        w.indent()
        body(w)
        w.dedent()
        for r in loop.reduces:
            w.line(f"{_whole(w, r.array)} = {_finish(r, arrays, _acc_name(r))}")
        if pad:
            for name in stored:
                scratch, row = flat[name]
                w.line(f"lib.copy_into(lib.flat({name}), {scratch}[{row}, :{n}])")
        return
    # Parallel: fixed chunks, one partial per chunk, combined in order (deterministic). Each
    # chunk calls a serial helper function: Numba's parfor body does not vectorise as well as
    # a plain function (measured 2x slower per element), so the loop lives in the helper.
    # The helper gets views of its chunk and counts from 0: with a runtime start index Numba
    # keeps a negative-index check per access and the loop runs 3x slower.
    helper, views, hoisted = _emit_chunk_helper(w, loop, arrays, flat, body)
    call_args = ["_hi - _lo"] + [f"{v}[_lo:_hi]" for v in views] + hoisted
    w.line(f"_nchunks = {chunk_count(n, n)}")
    for r in loop.reduces:
        acc_dt = accumulator_dtype(arrays[r.array].dtype, r.op)
        w.line(f"_part_{r.array} = lib.empty(_nchunks, np.{acc_dt})")
    _open_claimed_chunks(w, n)
    w.line(f"_r = {helper}({', '.join(call_args)})")
    for k, r in enumerate(loop.reduces):
        w.line(f"_part_{r.array}[_c] = _r[{k}]")
    _close_claimed_chunks(w)
    for r in loop.reduces:
        w.line(f"{_acc_name(r)} = _part_{r.array}[0]")
        w.line("for _c in range(1, _nchunks):")
        w.indent()
        w.line(combine(r.op, _acc_name(r), f"_part_{r.array}[_c]"))
        w.dedent()
        w.line(f"{_whole(w, r.array)} = {_finish(r, arrays, _acc_name(r))}")


# A parallel loop runs as fixed chunks of at least CHUNK_MIN elements, at most MAX_CHUNKS of them:
# the chunks do not depend on the thread count, so neither do the results (a sum's partials are
# kept per chunk and combined in chunk order).
MAX_CHUNKS = 64
CHUNK_MIN = 4096


def chunk_count(extent: int, elements: int) -> int:
    """How many chunks a parallel loop over `extent` outer iterations of `elements` elements in all
    is cut into: MAX_CHUNKS at most, none smaller than CHUNK_MIN elements or than one iteration.

    >>> chunk_count(4_000_000, 4_000_000), chunk_count(131_072, 131_072), chunk_count(3, 3_000_000)
    (64, 32, 3)
    """
    return max(1, min(MAX_CHUNKS, extent, elements // CHUNK_MIN))


def _open_claimed_chunks(w: _Writer, extent: int) -> None:
    """Open a parallel loop over `extent` outer iterations cut into `_nchunks` fixed chunks (a local
    the caller sets, see chunk_count); the body written next runs chunk `_c`, iterations `_lo` to
    `_hi` (close with _close_claimed_chunks).

    The chunks are handed out from a shared counter (lib.claim_chunk, an atomic fetch-and-add): each
    task claims the next chunk until none is left. With a static split, a thread that shares its
    core with another process keeps the loop waiting for its share; claimed chunks let the other
    threads take over. Which thread runs a chunk never changes the result. (One task per chunk, as
    many as any threading layer could give a thread; tasks that start after the last chunk was
    taken return at once. numba.get_num_threads() here would stop Numba's disk cache.)"""
    w.line("_next = np.zeros(1, np.int64)")
    w.line("for _t in numba.prange(_nchunks):")
    w.indent()
    w.line("_c = lib.claim_chunk(_next)")
    w.line("while _c < _nchunks:")
    w.indent()
    w.line(f"_lo = _c * {extent} // _nchunks")
    w.line(f"_hi = (_c + 1) * {extent} // _nchunks")


def _close_claimed_chunks(w: _Writer) -> None:
    """Close the loop _open_claimed_chunks opened: claim the next chunk."""
    w.line("_c = lib.claim_chunk(_next)")
    w.dedent()
    w.dedent()


def _blocked(loop: Loop, arrays: dict) -> bool:
    """Whether some reduction of `loop` accumulates block by block (reductions.block_dtype)."""
    return any(reductions.block_dtype(arrays[r.array].dtype, r.op) for r in loop.reduces)


def _emit_chunk_helper(w: _Writer, loop: Loop, arrays: dict, flat: dict, body) -> tuple[str, list, list]:
    """The serial helper that runs `loop` over `_n` elements of flat views: (its name, view params,
    scalar params). A blocked float32 sum (reductions.block_dtype) runs block by block: each block's
    elements summed in float32 over views of the block, its total added in the accumulator dtype."""
    helper = f"_chunk{len(w.helpers)}"
    hoisted = [ld.target for ld in loop.loads if _is_scalar_load(ld, arrays)]
    views = [flat[name] for name in sorted(flat)]
    blocks = {r.array: reductions.block_dtype(arrays[r.array].dtype, r.op) for r in loop.reduces}
    blocked = any(blocks.values())
    h = _Writer()
    h.depth = 0
    h.line("@_serial")
    h.line(f"def {helper}({', '.join(['_n', *views, *hoisted])}):")
    h.depth = 1
    if blocked:
        for r in loop.reduces:
            h.line(f"_tot_{r.array} = {_init_expr(r, arrays)}")
        h.line(f"for _lo in range(0, _n, {reductions.SUM_BLOCK}):")
        h.indent()
        h.line(f"_m = min({reductions.SUM_BLOCK}, _n - _lo)")
        for v in views:
            h.line(f"{v}_b = {v}[_lo:_lo + _m]")
    for r in loop.reduces:
        block_dt = blocks[r.array]
        h.line(f"{_acc_name(r)} = {reductions.identity(r.op, block_dt) if block_dt else _init_expr(r, arrays)}")
    h.line(f"for _i in range({'_m' if blocked else '_n'}):")
    h.indent()
    body(h, "_b" if blocked else "")
    h.dedent()
    if blocked:
        for r in loop.reduces:
            acc_dt = accumulator_dtype(arrays[r.array].dtype, r.op)
            h.line(combine(r.op, f"_tot_{r.array}", f"np.{acc_dt}({_acc_name(r)})"))
        h.dedent()
    h.line(_return_tuple([f"_tot_{r.array}" if blocked else _acc_name(r) for r in loop.reduces]))
    w.helpers.append("\n".join(h.lines))
    return helper, views, hoisted


def _return_tuple(accs: list[str]) -> str:
    return f"return ({', '.join(accs)}{',' if len(accs) == 1 else ''})" if accs else "return 0"


def _emit_nested_loop(w: _Writer, loop: Loop, arrays: dict, parallel: bool) -> None:
    n = len(loop.shape)
    reduced = loop.reduced_dims
    kept = [d for d in range(n) if d not in reduced]
    order = kept + list(reduced)
    ivars = [f"_i{d}" for d in range(n)]

    def element(name: str) -> str:
        return f"{name}[{_index(arrays[name], loop.shape, ivars)}]"

    def reduce_target(r: Reduce) -> str:
        out = arrays[r.array]
        if r.array in w.scalars:
            return r.array
        if len(out.shape) == n:  # keepdim
            idx = ", ".join("0" if d in reduced else ivars[d] for d in range(n))
        else:
            idx = ", ".join(ivars[d] for d in kept)
        return f"{r.array}[{idx or '()'}]"

    _emit_hoisted_loads(w, loop, arrays)
    if reduced and kept and max(reduced) < min(kept):
        _emit_leading_reduction(w, loop, arrays, kept, ivars, element)
        return
    opened = 0
    claimed = parallel and bool(kept)  # the outermost kept dim runs in claimed chunks
    if claimed:
        w.line(f"_nchunks = {chunk_count(loop.shape[order[0]], math.prod(loop.shape))}")
        _open_claimed_chunks(w, loop.shape[order[0]])
    for pos, d in enumerate(order):
        if pos == len(kept):
            for r in loop.reduces:
                row = math.prod(loop.shape[e] for e in reduced) if kept else None
                w.line(f"{_acc_name(r)} = {_row_init(r, arrays, row)}")
        if claimed and pos == 0:
            extent = "_lo, _hi"
        else:
            extent = loop_extent(loop.shape[d]) if pos == len(order) - 1 else outer_extent(loop.shape[d])
        w.line(f"for {ivars[d]} in range({extent}):")
        w.indent()
        opened += 1
    if not order:  # a 0-d loop
        for r in loop.reduces:
            w.line(f"{_acc_name(r)} = {_init_expr(r, arrays)}")
    _emit_body(w, loop, arrays, element)
    for r in loop.reduces:
        w.line(combine(r.op, _acc_name(r), r.value), r.origin)
    for _ in reduced:
        w.dedent()
        opened -= 1
    for r in loop.reduces:
        w.line(f"{reduce_target(r)} = {_finish(r, arrays, _acc_name(r))}")
    for _ in range(opened):
        w.dedent()
    if claimed:
        _close_claimed_chunks(w)


def _row_acc_dtype(r: Reduce, arrays: dict, count: int | None) -> str:
    """The accumulator dtype of a reduction over rows of `count` elements (None: over the whole
    loop, which keeps its float64 accumulator): a float32 sum of a row no longer than a block
    (reductions.SUM_BLOCK) accumulates in float32, the row being one block of the blocked sums
    (reductions.block_dtype): a float64 accumulator halves the vector width of the row's loop
    (TRF's softmax rows of 16: exp and two row sums, 62 us with float64, 38 us)."""
    block = reductions.block_dtype(arrays[r.array].dtype, r.op)
    if block and count is not None and count <= reductions.SUM_BLOCK:
        return block
    return accumulator_dtype(arrays[r.array].dtype, r.op)


def _row_init(r: Reduce, arrays: dict, count: int | None) -> str:
    """The accumulator's start for a reduction over rows of `count` elements (see _row_acc_dtype)."""
    return reductions.identity(r.op, _row_acc_dtype(r, arrays, count))


def _emit_leading_reduction(w: _Writer, loop: Loop, arrays: dict, kept: list, ivars: list, element) -> None:
    """Reductions over leading dims (a bias gradient: sum over the batch) run in memory order
    into an array of accumulators, so the inner loop is contiguous and vectorises (the general
    order, reduced dims innermost, would walk columns). A float32 sum of at most a block of
    elements per accumulator accumulates in float32, as a row's does (see _row_init)."""
    kshape = tuple(loop.shape[d] for d in kept)
    kidx = ", ".join(ivars[d] for d in kept)
    count = 1
    for s in kshape:
        count *= s
    terms = math.prod(loop.shape[d] for d in loop.reduced_dims)
    for r in loop.reduces:
        acc_dt = _row_acc_dtype(r, arrays, terms)
        w.line(f"{_acc_name(r)} = lib.empty({kshape!r}, np.{acc_dt})")
        w.line(f"{_acc_name(r)}_flat = lib.flat({_acc_name(r)})")
        w.line(f"for _j in range({count}):")
        w.line(f"    {_acc_name(r)}_flat[_j] = {reductions.identity(r.op, acc_dt)}")
    for d in range(len(loop.shape)):
        extent = loop_extent(loop.shape[d]) if d == len(loop.shape) - 1 else outer_extent(loop.shape[d])
        w.line(f"for {ivars[d]} in range({extent}):")
        w.indent()
    _emit_body(w, loop, arrays, element)
    for r in loop.reduces:
        w.line(combine(r.op, f"{_acc_name(r)}[{kidx}]", r.value), r.origin)
    for _ in loop.shape:
        w.dedent()
    for r in loop.reduces:
        # (element by element: an array assignment compiles Numba's shape-check messages)
        dt = arrays[r.array].dtype
        w.line(f"{r.array}_flat = lib.flat({r.array})")
        w.line(f"for _j in range({count}):")
        w.line(f"    {r.array}_flat[_j] = np.{dt}({r.scaled(_acc_name(r) + '_flat[_j]')})")


def render(program: Program, parallel_threshold: int) -> str:
    """The generated module text: imports and one function named `program.name`."""
    w = header(program.name)
    w.line(f"def {program.name}({', '.join(a.name for a in program.arguments)}):")
    w.depth = 1
    for note in program.notes:
        w.line(f"# {note}")
    for a in program.arguments:
        w.line(f"# {a.name}: {a.dtype}{list(a.shape)}")
    emit_steps(w, program, parallel_threshold)
    outs = ", ".join(program.outputs)
    w.line(f"return ({outs}{',' if len(program.outputs) == 1 else ''})" if outs else "return 0")
    return with_helpers(w, program.name)


def header(name: str) -> _Writer:
    """A writer holding the generated module's docstring, imports and serial-helper decorator."""
    w = _Writer()
    w.depth = 0
    w.line(f'"""Generated by jitgrad for program {name}; do not edit."""')
    w.line("import math")
    w.line("import numba")
    w.line("import numpy as np")
    w.line("from jitgrad._kernels import library as lib")
    w.line("from jitgrad._kernels import vmath as vm")
    w.line("")
    # (helpers are called from the program only: no Python or C entry wrappers to compile)
    w.line("_serial = numba.njit(cache=True, error_model='numpy', fastmath={'contract'}, nogil=True, "
           "no_cpython_wrapper=True, no_cfunc_wrapper=True)")
    w.line("")
    w.line("")
    return w


def with_helpers(w: _Writer, name: str) -> str:
    """The module text of `w`, its serial helpers placed before the function `name`."""
    text = "\n".join(w.lines) + "\n"
    if w.products:  # (read before its machine code loads: kernels.cache binds these products only)
        text = text.replace("\nimport math\n", f"\n{PRODUCTS_MARKER}{' '.join(sorted(w.products))}\nimport math\n", 1)
    if w.helpers:
        marker = f"\n\n\ndef {name}("
        text = text.replace(marker, "\n\n\n" + "\n\n\n".join(w.helpers) + marker, 1)
    return text


def emit_steps(w: _Writer, program: Program, parallel_threshold: int) -> None:
    """The program's steps; arrays written by loops are allocated before their first step (into
    `w.hoist` when set), 0-d temporaries that need no array are scalar locals."""
    arrays = program.arrays()
    w.scalars = scalar_temporaries(program)
    allocated = {a.name for a in program.arguments} | w.scalars
    for step in program.steps:
        for name in _written(step):
            if name not in allocated:
                lines = allocation(arrays[name], arrays, allocated)
                for text in lines:
                    w.line(text) if w.hoist is None else w.hoist.append(text)
        if isinstance(step, Loop):
            _emit_loop(w, step, arrays, parallel_threshold)
        elif isinstance(step, Call):
            into = library.into_source(step, arrays) if step.output in allocated else None
            text = into or _scalar_call(w, step, arrays) or library.call_source(step, arrays)
            if "lib.matmul2d" in text:
                w.products.add(arrays[step.output].dtype)
            # A call may be several lines (an indexed loop); the first carries the origin.
            for k, line in enumerate(text.split("\n")):
                w.line(line, step.origin if k == 0 else "")
        else:
            raise TypeError(f"unknown program step {step!r}")


def scalar_temporaries(program: Program) -> set[str]:
    """The 0-d temporaries a generated function keeps as local scalars instead of 0-d arrays (no
    allocation): those only fused loops of one element write (or a basic index picks) and only
    loops (or unindex) read; outputs stay arrays."""
    found = {t.name for t in program.temporaries if t.shape == () and t.view is None}
    found -= set(program.outputs)
    found -= {a.view[0] for a in program.arrays().values() if a.view is not None}
    for step in program.steps:
        if isinstance(step, Loop):
            if math.prod(step.shape) != 1:
                found -= {s.array for s in step.stores}
        elif step.op == "getitem_basic":
            found -= set(step.inputs)
        elif step.op == "unindex_basic" and program.arrays()[step.output].shape:
            found.discard(step.output)
        else:
            found -= set(step.inputs) | {step.output}
    return found


def _scalar_call(w: _Writer, step: Call, arrays: dict) -> str | None:
    """The source of a basic index that picks one element into a scalar, of an unindex (adding a
    scalar in place; its buffer allocated once by a loop around the program, see render_fori),
    or None: the library's line."""
    if step.op == "getitem_basic" and step.output in w.scalars:
        x = arrays[step.inputs[0]]
        zeros = ", ".join("0" for _ in x.shape) or "()"
        view = f"{x.name}[{step.params[0]}]" if x.shape else x.name
        return f"{step.output} = {view}[{zeros}]"
    if step.op == "unindex_basic" and arrays[step.output].shape and arrays[step.output].view is None:
        out, x = arrays[step.output], arrays[step.inputs[0]]
        slices, _, sliced = step.params
        if w.hoist is None:
            lines = [f"{out.name} = np.zeros({tuple(out.shape)!r}, np.{out.dtype})"]
        else:  # (a loop around the program allocates it once, and zeroes it on every iteration)
            w.hoist.extend(allocation(out, arrays, set()))
            lines = [f"lib.fill_zero({out.name})"]
        if x.name in w.scalars:
            zeros = ", ".join("0" for _ in sliced) or "()"
            lines.append(f"{out.name}[{slices}][{zeros}] += {x.name}")
        else:
            flat = f"np.ascontiguousarray({x.name}).reshape({tuple(sliced)!r})"
            lines.append(f"lib.add_into({out.name}[{slices}], {flat})")
        return "\n".join(lines)
    return None


def allocation(t: Array, arrays: dict, allocated: set, empty: str = "lib.empty") -> list[str]:
    """Lines that allocate array `t` (adding to `allocated`): `empty` (lib.empty inside a Numba
    function, np.empty in a plain-Python driver, where calling a Numba function with a dtype
    argument costs microseconds of typing per call), or for a view the window of its parent
    (allocated first when it is not yet): the loop then writes straight into it."""
    lines = []
    if t.view is not None:
        parent, index = t.view[:2]
        if parent not in allocated:
            lines += allocation(arrays[parent], arrays, allocated, empty)
        lines.append(f"{t.name} = {parent}[{index}]  # written in place: a slice of {parent}")
    else:
        lines.append(f"{t.name} = {empty}({tuple(t.shape)!r}, np.{t.dtype})")
    allocated.add(t.name)
    return lines


def _emit_loop(w: _Writer, loop: Loop, arrays: dict, parallel_threshold: int) -> None:
    """A loop; one calling sin/cos/tan runs vectorised with their fast versions and again with
    the full-range ones only if some argument was large (see kernels.trig_versions). A loop of many
    stores runs as several loops of a few (kernels.loop_split)."""
    split = loop_split.pieces(loop)
    if len(split) > 1:
        for piece in split:
            _emit_loop(w, piece, arrays, parallel_threshold)
        return
    parallel = math.prod(loop.shape) >= parallel_threshold
    flat = _is_flat(loop, arrays)
    rows = None if flat else _row_blocks(loop, arrays)
    counter = f"_large{len(w.lines)}"
    fast = trig_versions.fast_version(loop, counter, flat)
    if fast is not None:
        dt = trig_versions.counter_dtype(loop, flat)
        if flat:
            arrays = {**arrays, counter: Array(counter, (), dt)}
            w.line(f"{counter} = np.zeros((), np.{dt})")
        else:
            w.line(f"{counter} = np.{dt}(0)")
        _emit_any_loop(w, fast, arrays, parallel, flat, rows)
        w.line(f"if {counter}{'[()]' if flat else ''} > 0:  # recompute with exact range reduction")
        w.indent()
    _emit_any_loop(w, loop, arrays, parallel, flat, rows)
    if fast is not None:
        w.dedent()


def _emit_any_loop(w: _Writer, loop: Loop, arrays: dict, parallel: bool, flat: bool, rows) -> None:
    if flat:
        _emit_flat_loop(w, loop, arrays, parallel)
    elif rows is not None:
        _emit_row_loop(w, loop, arrays, parallel, rows)
    else:
        _emit_nested_loop(w, loop, arrays, parallel)


def _row_blocks(loop: Loop, arrays: dict) -> int | None:
    """The row count when a loop is flat but for stores into windows of a cat's output (see
    spec.Array.view): it then runs row by row, every row a flat C-ordered run that vectorises
    (indexing the window by dims would not: Numba cannot assume its unit stride). None otherwise."""
    if loop.reduces or sum(bool(re.search(rf"\b{re.escape(st.target)}\b", st.expr)) for st in loop.stmts) > 1:
        return None
    pre = None
    for store in loop.stores:
        a = arrays[store.array]
        if a.shape != loop.shape:
            return None
        if a.view is not None:
            blocks = a.view[3] if len(a.view) > 3 else None
            if blocks is None or (pre is not None and blocks[0] != pre):
                return None
            pre = blocks[0]
    for load in loop.loads:
        a = arrays[load.array]
        if a.view is not None or (a.shape != loop.shape and math.prod(a.shape) != 1):
            return None
    return pre


def _emit_row_loop(w: _Writer, loop: Loop, arrays: dict, parallel: bool, pre: int) -> None:
    """The loop as `pre` rows of flat runs (see _row_blocks)."""
    n = math.prod(loop.shape)
    width = n // pre
    _emit_hoisted_loads(w, loop, arrays)
    names = sorted({ld.array for ld in loop.loads if not _is_scalar_load(ld, arrays)} | {s.array for s in loop.stores})
    for name in names:
        a = arrays[name]
        if a.view is not None:
            parent, _, _, (_, total, _, _) = a.view
            w.line(f"{name}_rows = {parent}.reshape(({pre}, {total}))")
        else:
            w.line(f"{name}_rows = {name}.reshape(({pre}, {width}))")
    rows = []
    for name in names:
        a = arrays[name]
        offset = a.view[3][2] if a.view is not None else None
        rows.append(f"{name}_rows[_r]" if offset is None else f"{name}_rows[_r, {offset}:{offset + width}]")
    # a statement reading its own target sums over the loop (trig_versions' large-argument
    # flag): each row's helper starts it at 0 and returns its part
    carried = [st.target for st in loop.stmts if re.search(rf"\b{re.escape(st.target)}\b", st.expr)]
    if parallel:  # (rows in claimed chunks; the flag's parts kept per chunk, summed after the loop)
        w.line(f"_nchunks = {chunk_count(pre, n)}")
        if len(carried) == 1:
            w.line(f"_part_{carried[0]} = np.zeros(_nchunks, np.int64)")
        _open_claimed_chunks(w, pre)
        w.line("for _r in range(_lo, _hi):")
    else:
        w.line(f"for _r in range({pre}):")
    w.indent()
    # (each row runs in a serial helper: a plain function's loop over 1-D C arrays vectorises,
    # a parfor body or a loop over views inside the program measured 2x slower)
    helper = f"_rows{len(w.helpers)}"
    hoisted = [ld.target for ld in loop.loads if _is_scalar_load(ld, arrays)]
    h = _Writer()
    h.depth = 0
    h.line("@_serial")
    h.line(f"def {helper}({', '.join([f'{name}_row' for name in names] + hoisted)}):")
    h.depth = 1
    for c in carried:
        h.line(f"{c} = 0")
    h.line(f"for _i in range({loop_extent(width)}):")
    h.indent()
    _emit_body(h, loop, arrays, lambda name: f"{name}_row[_i]")
    h.dedent()
    h.line(f"return {carried[0]}" if len(carried) == 1 else "return 0")
    w.helpers.append("\n".join(h.lines))
    call = f"{helper}({', '.join(rows + hoisted)})"
    if len(carried) == 1 and parallel:
        w.line(f"_part_{carried[0]}[_c] += {call}")
    else:
        w.line(f"{carried[0]} += {call}" if len(carried) == 1 else call)
    w.dedent()
    if parallel:
        _close_claimed_chunks(w)
        if len(carried) == 1:
            w.line(f"{carried[0]} += _part_{carried[0]}.sum()")


def _written(step) -> list[str]:
    """Arrays a step writes into and so needs allocated first (library calls allocate their own)."""
    if isinstance(step, Loop):
        return [s.array for s in step.stores] + [r.array for r in step.reduces]
    return []

