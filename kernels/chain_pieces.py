"""A long fused loop over few elements, run as pieces of bounded length that repeated structure
shares.

Why: Numba spends 2-3 ms typing, lowering and optimising each statement of a generated function,
so the 10,000-statement loop of 1000 steps of `z = z / x * y` (forward and backward) took ~30 s
to compile as one function. Here the statements are cut into pieces of at most MAX_PIECE_STMTS,
each a serial helper named by the hash of its canonical text (values renamed in order of first
use, rows passed as arguments): the pieces of an unrolled loop's forward chain, or of its
backward chain, are the same text and compile once. The values that cross a cut live in a row
each of the loop's padded scratch buffer, so every piece runs over whole vector registers, and
the pieces are called from the same generated function (no Python between them)."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from .reductions import accumulator_dtype, combine, identity
from .spec import Array, Loop, Stmt

#: Pieces hold at most this many statements (a multiple of 2, 3, 4, 5, 6 and 8: the periods of
#: common unrolled bodies, so a chain's steady-state pieces start at the same phase and match).
MAX_PIECE_STMTS = 120
#: Only loops longer than this are cut (shorter ones compile in well under a second).
MIN_CUT_STMTS = 3 * MAX_PIECE_STMTS
#: ... and only loops over at most this many elements: the crossing values are kept whole
#: (a row of this many lanes each), which is cheap only for small arrays.
MAX_ELEMENTS = 4096

_NAME = re.compile(r"\b[A-Za-z_]\w*\b")
#: Stands for the row-number argument in a helper's call arguments (see `helper`).
ROWS_ARGUMENT = "{rows}"


@dataclass(frozen=True)
class Row:
    """Where a value of the loop lives between pieces: row `row` of the scratch buffer of `dtype`."""

    dtype: str
    row: int


def applies(loop: Loop, elements: int, parallel: bool) -> bool:
    """Whether `loop` (a flat loop over `elements`) runs as pieces: long, small, serial, and every
    statement's dtype known (a crossing value's row needs it)."""
    return (not parallel and len(loop.stmts) > MIN_CUT_STMTS and elements <= MAX_ELEMENTS
            and all(st.dtype for st in loop.stmts))


def lanes(elements: int) -> int:
    """Lanes of the scratch rows: `elements` rounded up to whole 16-lane vectors."""
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


def helper(piece: tuple[Stmt, ...], rows: dict[str, Row], scalars: set[str], lanes_: int,
           ) -> tuple[str, str, list[str], list[int]]:
    """(name, text, call arguments, row numbers) of the serial helper that runs `piece` over
    every lane. `rows`: where each value read from or written to the scratch buffers lives;
    `scalars`: values the caller holds as locals (one-element loads). The text depends only on
    the piece's structure; the arguments say which buffers it uses, and the row numbers (passed
    as one int64 array, `rows`: literal integer arguments would make Numba compile the helper
    again for every call site) which rows it reads and writes."""
    defined = {st.target for st in piece}
    inputs: list[str] = []
    for st in piece:
        for name in _NAME.findall(st.expr):
            if name not in defined and (name in rows or name in scalars) and name not in inputs:
                inputs.append(name)
    outputs = [st.target for st in piece if st.target in rows]
    pads: list[str] = []
    for name in inputs + outputs:
        if name in rows and rows[name].dtype not in pads:
            pads.append(rows[name].dtype)
    local = {name: f"u{k}" for k, name in enumerate(inputs)}
    local.update({st.target: f"s{k}" for k, st in enumerate(piece)})
    params = [f"p{j}" for j in range(len(pads))] + ["rows"]
    args = [f"_pad_{dt}" for dt in pads] + [ROWS_ARGUMENT]
    numbers: list[int] = []
    head, loads, stores = [], [], []
    for k, name in enumerate(inputs):
        if name in rows:
            head.append(f"a{k} = rows[{len(numbers)}]")
            numbers.append(rows[name].row)
            loads.append(f"u{k} = p{pads.index(rows[name].dtype)}[a{k}, _i]")
        else:
            params.append(f"u{k}")
            args.append(name)
    for k, name in enumerate(outputs):
        head.append(f"b{k} = rows[{len(numbers)}]")
        numbers.append(rows[name].row)
        stores.append(f"p{pads.index(rows[name].dtype)}[b{k}, _i] = {local[name]}")
    body = loads + [f"{local[st.target]} = {_rename(st.expr, local)}" for st in piece] + stores
    lines = [f"def {{name}}({', '.join(params)}):"] + [f"    {line}" for line in head]
    lines.append(f"    for _i in range({lanes_}):")
    lines += [f"        {line}" for line in body]
    lines.append("    return 0")
    text = "\n".join(lines)
    name = "_piece_" + hashlib.sha1(text.encode()).hexdigest()[:16]
    return name, "@_serial\n" + text.replace("{name}", name, 1), args, numbers


def _rename(expr: str, local: dict[str, str]) -> str:
    return _NAME.sub(lambda m: local.get(m.group(0), m.group(0)), expr)


def emit(w, loop: Loop, arrays: dict[str, Array], elements: int, scalar_loads: set[str]) -> None:
    """`loop` as pieces (see the module docstring) into writer `w`: the scratch buffers, the
    copies in, one helper call per piece, then one pass for the stores and reductions, and the
    copies out. `scalar_loads`: load targets already read into locals before the loop."""
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
    for dt, count in counts.items():
        w.line(f"_pad_{dt} = np.ones(({count}, {width}), np.{dt})")
    for name in loaded:
        row = array_rows[name]
        w.line(f"lib.copy_into(_pad_{row.dtype}[{row.row}, :{n}], {name}.reshape({n}))")
    table = f"_rows{len(w.lines)}"  # (the row numbers of every call, a constant of the module)
    numbers: list[int] = []
    for piece in cut:
        name, text, args, piece_rows = helper(piece, rows, scalar_loads, width)
        if text not in w.helpers:
            w.helpers.append(text)
        span = f"{table}[{len(numbers)}:{len(numbers) + len(piece_rows)}]"
        numbers += piece_rows
        args = [span if a == ROWS_ARGUMENT else a for a in args]
        w.line(f"{name}({', '.join(args)})", f"{piece[0].origin} .. {piece[-1].origin}")
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
            w.line(f"lib.copy_into({name}.reshape({n}), _pad_{row.dtype}[{row.row}, :{n}])")
