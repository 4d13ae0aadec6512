"""Cut a fused loop that stores many arrays into loops of a few stores each.

Why: LLVM vectorises a loop over Numba arrays only after run-time checks that its stores overlap
none of its other arrays; past a few stores the checks are too many and the loop stays scalar.
TRF's backward recomputes four layer norms in one loop of 15 stores over (32, 16, 64): 390 us as
one loop, 165 us as five loops of three stores; its softmax recomputation (6 stores, 2 exps)
went from 310 to 220 us. Each piece recomputes the statements its stores need (cheap next to a
scalar loop), so only loops with no reduction and no array both read and written are cut.
"""
from __future__ import annotations

import math
import re

from .spec import Loop

#: A loop with more stores than this is cut into pieces of at most this many stores.
MAX_STORES = 3
#: ... when it runs over at least this many elements (a short loop's checks cost little).
MIN_ELEMENTS = 4096

_NAME = re.compile(r"\b[A-Za-z_]\w*\b")


def pieces(loop: Loop) -> list[Loop]:
    """`loop` cut into loops of at most MAX_STORES consecutive stores each, every piece with the
    loads and statements its stores need (in their order); [loop] when it is not cut.

    >>> from jitgrad._kernels.spec import Load, Stmt, Store
    >>> loop = Loop((4096,), (Load("a", "x"),), tuple(Stmt(f"t{k}", f"a + {k}") for k in range(4)),
    ...             tuple(Store(f"y{k}", f"t{k}") for k in range(4)))
    >>> [[s.array for s in p.stores] for p in pieces(loop)]
    [['y0', 'y1', 'y2'], ['y3']]
    """
    if len(loop.stores) <= MAX_STORES or loop.reduces or math.prod(loop.shape) < MIN_ELEMENTS:
        return [loop]
    if {ld.array for ld in loop.loads} & {st.array for st in loop.stores}:
        return [loop]  # (in place: a later piece would read what an earlier one wrote)
    targets = {st.target for st in loop.stmts} | {ld.target for ld in loop.loads}
    uses = {st.target: set(_NAME.findall(st.expr)) & targets for st in loop.stmts}
    if any(target in used for target, used in uses.items()):
        return [loop]  # (a value carried from one iteration to the next)
    out = []
    for k in range(0, len(loop.stores), MAX_STORES):
        stores = loop.stores[k:k + MAX_STORES]
        needed: set = set()
        todo = [name for st in stores for name in _NAME.findall(st.value) if name in targets]
        while todo:
            name = todo.pop()
            if name not in needed:
                needed.add(name)
                todo.extend(uses.get(name, ()))
        out.append(Loop(loop.shape, tuple(ld for ld in loop.loads if ld.target in needed),
                        tuple(st for st in loop.stmts if st.target in needed), stores))
    return out
