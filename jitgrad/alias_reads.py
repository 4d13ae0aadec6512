"""Arguments read after an in-place write that they may alias.

A compiled function gets its arguments as values: an argument that shares storage with a tensor the
function writes in place (``p.detach()`` or a slice of it passed in, while ``opt.step()`` updates
``p``) reads, in eager mode, the new values after the write; the traced program reads the values from
before the call. The trace records which arguments are read after each write (`reads_after_writes`);
a call whose arguments do share that storage (`aliased_read`) runs the function eagerly instead.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .core import TensorBase
from .ir import Eqn, Var

# Ops whose eager result is a view of their operand: reading it reads the operand's storage.
VIEW_PRIMS = frozenset({"reshape", "expand", "permute", "transpose", "squeeze", "unsqueeze", "getitem",
                        "stop_gradient"})


def reads_after_writes(eqns: Sequence[Eqn], outputs: Sequence, returned: Sequence, arguments: Sequence[Var],
                       writes: Sequence[int]) -> tuple:
    """((w, argument positions read at or after trace position ``writes[w]``), ...) for the writes
    that some argument is read after. A read is a live equation (or a graph output) using the
    argument or a view of it; ``outputs``: all the graph's outputs, ``returned``: the function's own
    (read when it returns); ``writes[w]``: the number of equations traced before write w.

    >>> import jitgrad as jg
    >>> from jitgrad.ir import Builder
    >>> b = Builder()
    >>> x, y = b.input((2,), jg.float64), b.input((2,), jg.float64)
    >>> before = b.emit(jg.prims.BY_NAME["mul"], (x, y), {}, (2,), x.dtype)
    >>> after = b.emit(jg.prims.BY_NAME["getitem"], (y,), {"spec": ()}, (2,), y.dtype)
    >>> reads_after_writes(b.eqns, [before, after], [before, after], [x, y], [1])
    ((0, (1,)),)
    """
    live = {v for v in outputs if isinstance(v, Var)}
    used = []
    for e in reversed(eqns):
        if e.out in live:
            live.update(e.inputs)
            used.append(e)
    used.reverse()
    position = {id(e): i for i, e in enumerate(eqns)}
    of = {}  # Var -> the argument positions whose storage it reads
    for k, v in enumerate(arguments):
        of.setdefault(v, set()).add(k)
    last = [-1] * len(arguments)
    for e in used:
        found = set()
        for v in e.inputs:
            found |= of.get(v, set())
        for k in found:
            last[k] = position[id(e)]
        if found and e.prim.name in VIEW_PRIMS:
            of[e.out] = found
    for v in returned:
        for k in of.get(v, ()) if isinstance(v, Var) else ():
            last[k] = len(eqns)
    out = []
    for w, at in enumerate(writes):
        readers = tuple(k for k, end in enumerate(last) if end >= at)
        if readers:
            out.append((w, readers))
    return tuple(out)


def aliased_read(alias_reads: tuple, writebacks: Sequence, leaves: Sequence) -> bool:
    """Whether an argument read after a write shares memory with the written tensor in this call
    (`alias_reads` from `reads_after_writes`; `writebacks`: (target, bumps), the target an argument
    position or a tensor).

    >>> import jitgrad as jg
    >>> p = jg.zeros(3)
    >>> aliased_read(((0, (0,)),), [(p, 1)], [p.detach()[1:]]), aliased_read(((0, (0,)),), [(p, 1)], [jg.zeros(3)])
    (True, False)
    """
    for w, readers in alias_reads:
        target = writebacks[w][0]
        written = _storage(leaves[target] if isinstance(target, int) else target)
        for k in readers:
            if isinstance(target, int) and k == target:
                continue
            read = _storage(leaves[k])
            if read is written:
                return True
            if type(read) is np.ndarray and type(written) is np.ndarray:
                if np.may_share_memory(read, written) and np.shares_memory(read, written):
                    return True
            elif type(read) is not np.ndarray and type(written) is not np.ndarray and _device_overlap(read, written):
                return True
    return False


def _device_overlap(a, b) -> bool:
    """Whether two device arrays' address ranges overlap (True where their addresses are unknown)."""
    try:
        ranges = []
        for x in (a, b):
            ptr = x.__cuda_array_interface__["data"][0]
            ranges.append((ptr, ptr + x.nbytes))
    except (AttributeError, KeyError, TypeError):
        return True
    return ranges[0][0] < ranges[1][1] and ranges[1][0] < ranges[0][1]


def _storage(x):
    return x._data if isinstance(x, TensorBase) else x
