"""Loop versioning for sin/cos/tan: a loop runs with the vectorisable `*_fast_*` functions while
it counts the elements they cannot reduce accurately (`trig_large_*`, see kernels.vmath); only
when that count is not 0 does the loop run again, with the full-range functions, whose branch
to the exact reduction would keep the loop from vectorising. Arguments of ordinary size pay
one compare and add per call; large ones get correct results, not a fast wrong one."""
from __future__ import annotations

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


def fast_version(loop: Loop, counter: str, flat: bool) -> Loop | None:
    """`loop` with fast trig functions that also counts large arguments into `counter` (a 0-d
    int64 array reduced by the loop when `flat`, else a scalar updated in the body); None when
    the loop has no trig calls or cannot run twice (it reads an array it writes)."""
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
    check = " + ".join(checks)
    if flat:
        count = Reduce(counter, "sum", check, tuple(range(len(loop.shape))), origin="large sin/cos/tan arguments")
        return replace(loop, stmts=stmts, reduces=loop.reduces + (count,))
    return replace(loop, stmts=stmts + (Stmt(counter, f"{counter} + {check}", "large sin/cos/tan arguments"),))
