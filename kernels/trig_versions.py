"""Loop versioning for sin/cos/tan: a loop runs with the vectorisable `*_fast_*` functions while
it flags the elements they cannot reduce accurately (`trig_large_*`, see kernels.vmath); only
when some element was flagged does the loop run again, with the full-range functions, whose branch
to the exact reduction would keep the loop from vectorising. Arguments of ordinary size pay
one compare and integer max per call; large ones get correct results, not a fast wrong one."""
from __future__ import annotations

import functools
import re
from dataclasses import replace

from .spec import Loop, Reduce, Stmt

_TRIG_CALL = re.compile(r"\bvm\.(sin|cos|tan)_(f32|f64)\(")


def _call_arguments(expr: str) -> list[tuple[str, str]] | None:
    """(dtype suffix, argument text) of each sin/cos/tan call in expr; None when an argument
    cannot be cut out (unbalanced text)."""
    found = []
    for m in _TRIG_CALL.finditer(expr):
        depth, i = 1, m.end()
        while i < len(expr) and depth:
            depth += {"(": 1, ")": -1}.get(expr[i], 0)
            i += 1
        if depth:
            return None
        found.append((m.group(2), expr[m.end():i - 1]))
    return found


def counter_dtype(loop: Loop, flat: bool) -> str:
    """The dtype of the large-argument flag: as wide as the calls' floats (int32 for float32
    only, so the flat loop's max reduction stays at full vector width), int64 for sums."""
    sfx = {m.group(2) for s in loop.stmts for m in _TRIG_CALL.finditer(s.expr)}
    return "int32" if flat and sfx == {"f32"} else "int64"


def fast_version(loop: Loop, counter: str, flat: bool) -> Loop | None:
    """`loop` with fast trig functions that also flags large arguments in `counter` (a 0-d
    array max-reduced by the loop when `flat`, else a scalar summed in the body; > 0 means
    rerun); None when the loop has no trig calls or cannot run twice (it reads what it writes)."""
    checks = []
    for stmt in loop.stmts:
        args = _call_arguments(stmt.expr)
        if args is None:
            return None
        checks += [f"vm.trig_large_{sfx}({arg})" for sfx, arg in args]
    if not checks:
        return None
    if {ld.array for ld in loop.loads} & ({s.array for s in loop.stores} | {r.array for r in loop.reduces}):
        return None
    stmts = tuple(replace(s, expr=_TRIG_CALL.sub(lambda m: f"vm.{m.group(1)}_fast_{m.group(2)}(", s.expr))
                  for s in loop.stmts)
    if flat:
        # max of the int32 flags stays int32 (Numba types int32 + int32 as int64, and 64-bit lanes
        # would halve the loop's vector width)
        check = functools.reduce(lambda a, b: f"max({a}, {b})", checks)
        count = Reduce(counter, "max", check, tuple(range(len(loop.shape))), origin="large sin/cos/tan arguments")
        return replace(loop, stmts=stmts, reduces=loop.reduces + (count,))
    check = " + ".join(checks)
    return replace(loop, stmts=stmts + (Stmt(counter, f"{counter} + {check}", "large sin/cos/tan arguments"),))
