"""A long fused loop over few elements, run as pieces of bounded length that repeated structure
shares.

Why: Numba spends 2-3 ms typing, lowering and optimising each statement of a generated function,
so the 10,000-statement loop of 1000 steps of `z = z / x * y` (forward and backward) took ~30 s
to compile as one function. Here the statements are cut into pieces of at most MAX_PIECE_STMTS,
each a serial helper named by the hash of its canonical text (values renamed in order of first
use, rows passed in a table): the pieces of an unrolled loop's forward chain, or of its backward
chain, are the same text and compile once. The values that cross a cut live in a row each of
the loop's scratch buffer (one per dtype, rows of whole vectors), so every piece runs over all
lanes at once. The generated function calls its pieces through bound symbols
(kernels.piece_calls): nothing is linked into it and optimised again."""
from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass

from .extents import loop_extent
from .reductions import accumulator_dtype, combine, identity
from .spec import Array, Loop, Stmt

#: Pieces hold at most this many statements (a multiple of 2, 3, 4, 6, 8, 12 and 16: the periods
#: of common unrolled bodies, so a chain's steady-state pieces start at the same phase and match).
#: Pieces compiled by Numba with many stores stay scalar (LLVM's dependence analysis gives up past
#: ~100 pairs of accesses): the 1000-step loop ran 55 us per call with pieces of 120, 36-52 with 40
#: or 48. Pieces of plain arithmetic are emitted as vector code (kernels.piece_ir): 12 us.
MAX_PIECE_STMTS = 48
#: Only loops longer than this are cut (shorter ones compile in about a second as they are; the
#: compiled programs of the benchmark table's workloads keep their loops whole).
MIN_CUT_STMTS = 500
#: ... and only loops over at most this many elements: every crossing value is kept whole, a
#: row of this many lanes (cheap only for small arrays; a long chain over big arrays keeps
#: its values in registers as one loop).
MAX_ELEMENTS = 256

_NAME = re.compile(r"\b[A-Za-z_]\w*\b")
#: Stands for the row-offset table in a helper's call arguments (see `helper`).
ROWS_ARGUMENT = "{rows}"
#: Pieces are called through their symbols, not linked into the caller (kernels.piece_calls).
DECORATOR = ("_piece = numba.njit(cache=True, error_model='numpy', fastmath={'contract'}, nogil=True, "
             "no_cpython_wrapper=True)")
#: The line that registers a piece after its definition.
REGISTER = '_call{name} = lib.piece({name}, "jitgrad{name}", {kinds!r})'


@dataclass(frozen=True)
class Row:
    """Where a value of the loop lives between pieces: row `row` of the scratch buffer of `dtype`."""

    dtype: str
    row: int


def applies(loop: Loop, arrays: dict[str, Array], elements: int, parallel: bool) -> bool:
    """Whether `loop` (a flat loop over `elements`) runs as pieces: long, small, serial, every
    statement's dtype known (a crossing value's row needs it), and no bool scalar operand (a
    piece's scalar arguments are passed as C values, and bool has no one C width in Numba)."""
    return (not parallel and len(loop.stmts) > MIN_CUT_STMTS and elements <= MAX_ELEMENTS
            and all(st.dtype for st in loop.stmts)
            and not any(arrays[ld.array].dtype == "bool" and math.prod(arrays[ld.array].shape) == 1
                        for ld in loop.loads))


def lanes(elements: int) -> int:
    """Lanes of the scratch rows: `elements` rounded up to whole 8-lane vectors (one AVX2 float32
    vector: the 1000-step loop ran 2x slower with 16)."""
    return -(-elements // 8) * 8


def pieces(loop: Loop) -> list[tuple[Stmt, ...]]:
    """The loop's statements in consecutive pieces of at most MAX_PIECE_STMTS."""
    return [loop.stmts[k:k + MAX_PIECE_STMTS] for k in range(0, len(loop.stmts), MAX_PIECE_STMTS)]


def crossing(loop: Loop, cut: list[tuple[Stmt, ...]]) -> set[str]:
    """Statement targets read outside their piece: by a later piece, a store or a reduction."""
    home = {st.target: k for k, piece in enumerate(cut) for st in piece}
    out: set[str] = set()
    for k, piece in enumerate(cut):
        for st in piece:
            out.update(name for name in _NAME.findall(st.expr) if home.get(name, k) != k)
    for text in [s.value for s in loop.stores] + [r.value for r in loop.reduces]:
        out.update(name for name in _NAME.findall(text) if name in home)
    return out


def piece_inputs(piece: tuple[Stmt, ...], rows: dict[str, Row], scalars: dict[str, str]) -> list[str]:
    """The values `piece` reads that it does not compute (rows and scalars), in order of first use."""
    defined = {st.target for st in piece}
    inputs: list[str] = []
    for st in piece:
        for name in _NAME.findall(st.expr):
            if name not in defined and (name in rows or name in scalars) and name not in inputs:
                inputs.append(name)
    return inputs


def helper(piece: tuple[Stmt, ...], rows: dict[str, Row], scalars: dict[str, str], width: int,
           windows: dict[str, int]) -> tuple[str, str, str, tuple[str, ...], list[str], list[int]]:
    """(name, symbol, text, argument kinds, call arguments, row offsets) of the helper that runs
    `piece` over every lane. `rows`: where each value read from or written to the scratch
    buffers lives; `scalars`: values the caller holds as locals (one-element loads) and their
    dtypes; `windows`: the first of the rows each buffer keeps for a piece's inputs. The text
    depends only on the piece's structure; the arguments say which buffers it uses and the
    offsets (row times `width`, passed as one int64 table: see ROWS_ARGUMENT) which rows it
    reads and writes. Called through a bound symbol (kernels.piece_calls), the helper gets
    pointers to the buffers' data and indexes them flat.

    The helper first copies its input rows into the window, then runs its statements over the
    lanes reading the window and writing its outputs, consecutive rows: both at constant
    distances from one offset each, so LLVM vectorises the lanes after one overlap check (with
    inputs at offsets of their own it needs a check per input, gives up past eight and runs
    the lanes one by one: 1.5x slower than the whole loop)."""
    inputs = piece_inputs(piece, rows, scalars)
    outputs = [st.target for st in piece if st.target in rows]
    pads: list[str] = []
    for name in inputs + outputs:
        if name in rows and rows[name].dtype not in pads:
            pads.append(rows[name].dtype)
    local = {name: f"u{k}" for k, name in enumerate(inputs)}
    local.update({st.target: f"s{k}" for k, st in enumerate(piece)})
    params = [f"p{j}" for j in range(len(pads))] + ["rows"]
    # (bool rows by byte: Numba cannot store a bool through a pointer to bool)
    kinds = [f"{'uint8' if dt == 'bool' else dt}*" for dt in pads] + ["int64*"]
    args = [f"_pad_{dt}" for dt in pads] + [ROWS_ARGUMENT]
    offsets: list[int] = []
    head: list[str] = []
    slot: dict[str, str] = {}  # input or output -> the text of its row's offset
    for j, dt in enumerate(pads):
        mine = [name for name in inputs if name in rows and rows[name].dtype == dt]
        if not mine:
            continue
        head += [f"w{j} = rows[{len(offsets)}]", f"for _k in range({len(mine)}):",
                 f"    _a = rows[{len(offsets) + 1} + _k]", f"    for _i in range({width}):",
                 f"        p{j}[w{j} + _k * {width} + _i] = p{j}[_a + _i]"]
        offsets += [windows[dt] * width] + [rows[name].row * width for name in mine]
        slot.update({name: f"w{j} + {k * width}" if k else f"w{j}" for k, name in enumerate(mine)})
    for j, dt in enumerate(pads):
        mine = [name for name in outputs if rows[name].dtype == dt]
        if not mine:
            continue
        if [rows[name].row for name in mine] != list(range(rows[mine[0]].row, rows[mine[0]].row + len(mine))):
            raise AssertionError(f"a piece's {dt} outputs must be consecutive rows: {[rows[n] for n in mine]}")
        head.append(f"o{j} = rows[{len(offsets)}]")
        offsets.append(rows[mine[0]].row * width)
        slot.update({name: f"o{j} + {k * width}" if k else f"o{j}" for k, name in enumerate(mine)})
    loads, stores = [], []
    for k, name in enumerate(inputs):
        if name in rows:
            element = f"p{pads.index(rows[name].dtype)}[{slot[name]} + _i]"
            loads.append(f"u{k} = ({element} != 0)" if rows[name].dtype == "bool" else f"u{k} = {element}")
        else:
            params.append(f"u{k}")
            kinds.append(scalars[name])
            args.append(name)
    for name in outputs:
        value = f"np.uint8({local[name]})" if rows[name].dtype == "bool" else local[name]
        stores.append(f"p{pads.index(rows[name].dtype)}[{slot[name]} + _i] = {value}")
    body = loads + [f"{local[st.target]} = {_rename(st.expr, local)}" for st in piece] + stores
    lines = [f"def {{name}}({', '.join(params)}):"] + [f"    {line}" for line in head]
    lines.append(f"    for _i in range({loop_extent(width)}):")  # (opaque: vectorised, not unrolled)
    lines += [f"        {line}" for line in body]
    text = "\n".join(lines)
    digest = hashlib.sha1(f"{text}|{kinds}".encode()).hexdigest()[:20]
    name = f"_piece_{digest}"
    text = f"@_piece\n{text.replace('{name}', name, 1)}\n{REGISTER.format(name=name, kinds=tuple(kinds))}"
    return name, f"jitgrad_piece_{digest}", text, tuple(kinds), args, offsets


def _rename(expr: str, local: dict[str, str]) -> str:
    return _NAME.sub(lambda m: local.get(m.group(0), m.group(0)), expr)


def emit(w, loop: Loop, arrays: dict[str, Array], elements: int, scalar_loads: dict[str, str]) -> None:
    """`loop` as pieces (see the module docstring) into writer `w`: the scratch buffers, the
    copies in, one helper call per piece, then one pass for the stores and reductions, and the
    copies out. `scalar_loads`: load targets already read into locals before the loop, and
    their dtypes."""
    n, width = elements, lanes(elements)
    cut = pieces(loop)
    loaded = sorted({ld.array for ld in loop.loads if ld.target not in scalar_loads})
    stored = sorted({s.array for s in loop.stores})
    counts: dict[str, int] = {}
    array_rows: dict[str, Row] = {}
    for name in loaded + [s for s in stored if s not in loaded]:
        dt = arrays[name].dtype
        array_rows[name] = Row(dt, counts.get(dt, 0))
        counts[dt] = counts.get(dt, 0) + 1
    rows = {ld.target: array_rows[ld.array] for ld in loop.loads if ld.target not in scalar_loads}
    crossing_values = crossing(loop, cut)
    for st in loop.stmts:
        if st.target in crossing_values:
            rows[st.target] = Row(st.dtype, counts.get(st.dtype, 0))
            counts[st.dtype] = counts.get(st.dtype, 0) + 1
    windows: dict[str, int] = {}  # (each dtype's rows for the inputs of the piece running)
    for piece in cut:
        inputs = [name for name in piece_inputs(piece, rows, scalar_loads) if name in rows]
        for dt in {rows[name].dtype for name in inputs}:
            windows[dt] = max(windows.get(dt, 0), sum(rows[name].dtype == dt for name in inputs))
    for dt, size in windows.items():
        windows[dt] = counts.get(dt, 0)
        counts[dt] = counts.get(dt, 0) + size
    for dt, count in counts.items():
        # (uninitialised: filling every row, as np.ones did, cost ~20 us per call of 2,500 rows)
        w.line(f"_pad_{dt} = lib.empty(({count}, {width}), np.{dt})")
    for name in loaded:
        row = array_rows[name]
        w.line(f"lib.copy_into(_pad_{row.dtype}[{row.row}, :{n}], lib.flat({name}))")
        if width > n:  # (the lanes past the elements compute on ones, never on garbage: every
            # other row is written from these before it is read)
            w.line(f"for _i in range({n}, {width}):")
            w.line(f"    _pad_{row.dtype}[{row.row}, _i] = {'True' if row.dtype == 'bool' else '1'}")
    table = f"_rows{len(w.lines)}"  # (the row offsets of every call, a constant of the module)
    if DECORATOR not in w.helpers:
        w.helpers.insert(0, DECORATOR)
    # (read once into a local: Numba lowers every read of a global array as a new copy of its data)
    w.line(f"{table}_local = {table}")
    numbers: list[int] = []
    runs: list[list] = []  # [name, arguments, offsets per call, first offset, calls, first piece, last piece]
    for piece in cut:
        name, _, text, _, args, offsets = helper(piece, rows, scalar_loads, width, windows)
        if text not in w.helpers:
            w.helpers.append(text)
        if runs and runs[-1][:3] == [name, args, len(offsets)]:
            runs[-1][4] += 1
            runs[-1][6] = piece
        else:
            runs.append([name, args, len(offsets), len(numbers), 1, piece, piece])
        numbers += offsets
    # One call per run of the same piece: a loop whose step moves its start in the table (the
    # 1000-step loop: 4 calls instead of 209, each call site costing Numba ~10 ms to type).
    for name, args, stride, start, calls, first, last in runs:
        span = f"{table}_local, {start}" if calls == 1 else f"{table}_local, {start} + _run * {stride}"
        line = f"_call{name}({', '.join(span if a == ROWS_ARGUMENT else a for a in args)})"
        origin = f"{first[0].origin} .. {last[-1].origin}"
        if calls == 1:
            w.line(line, origin)
        else:
            w.line(f"for _run in range({calls}):", origin)
            w.indent()
            w.line(line)
            w.dedent()
    w.helpers.append(f"{table} = np.array({numbers!r}, np.int64)")
    # the stores and reductions, reading their values from the rows
    finals = [s.value for s in loop.stores] + [r.value for r in loop.reduces]
    needed = [name for name in dict.fromkeys(_NAME.findall(" ".join(finals))) if name in rows]
    for r in loop.reduces:
        w.line(f"_acc_{r.array} = {identity(r.op, accumulator_dtype(arrays[r.array].dtype, r.op))}")
    w.line(f"for _i in range({width}):")
    w.indent()
    for name in needed:
        w.line(f"{name} = _pad_{rows[name].dtype}[{rows[name].row}, _i]")
    for s in loop.stores:
        row = array_rows[s.array]
        w.line(f"_pad_{row.dtype}[{row.row}, _i] = {s.value}", s.origin)
    for r in loop.reduces:
        value = f"({r.value} if _i < {n} else {identity(r.op, arrays[r.array].dtype)})"
        w.line(combine(r.op, f"_acc_{r.array}", value), r.origin)
    w.dedent()
    for r in loop.reduces:  # (a 0-d result may be a local scalar of the caller: w.scalars)
        whole = r.array if r.array in w.scalars else f"{r.array}[()]"
        w.line(f"{whole} = np.{arrays[r.array].dtype}({r.scaled(f'_acc_{r.array}')})")
    for name in stored:
        row = array_rows[name]
        if name in w.scalars:
            w.line(f"{name} = _pad_{row.dtype}[{row.row}, 0]")
        else:
            w.line(f"lib.copy_into(lib.flat({name}), _pad_{row.dtype}[{row.row}, :{n}])")
