"""The loop of jitgrad.fori_loop as generated source: a program's body inlined in a `for` loop
that allocates its buffers once and writes the new state into the state arrays in place."""
from __future__ import annotations

from .source import emit_steps, header, with_helpers
from .spec import Program


def render_fori(program: Program, parallel_threshold: int, name: str, index: str | None,
                state: list[str]) -> tuple[str, list[str]]:
    """The module text of `name(lower, upper, s0, .., *others)`: the program's body inlined in a
    `for` loop over [lower, upper) that writes the program's outputs (the new state) into the
    state arrays s0.. in place, and the names of `others` (the program's other inputs and
    constants, in order). `index`: the 0-d int64 input set to the loop index (None: unread);
    `state[k]`: the input holding state k (None: unread). Arrays the loops write are allocated
    once before the loop; outputs not in such a buffer are copied first (one may be a view of
    the state that the copies overwrite)."""
    if len(state) != len(program.outputs):
        raise ValueError(f"fori program {program.name}: {len(state)} state values but {len(program.outputs)} outputs")
    arrays = program.arrays()
    inputs = {a.name for a in program.inputs}
    others = [a.name for a in program.inputs + program.constants if a.name != index and a.name not in state]
    params = ["lower", "upper"] + [f"s{k}" for k in range(len(state))] + others
    w = header(name)
    w.line(f"def {name}({', '.join(params)}):")
    w.depth = 1
    for k, s in enumerate(state):
        w.line(f"s{k} = s{k}.copy()  # (the loop writes the state in place)")
        if s is not None and s in inputs:
            w.line(f"{s} = s{k}")
    if index in inputs:
        w.line(f"{index} = lib.empty((), np.int64)")
    for a in program.preallocated:
        w.line(f"{a.name} = lib.empty({tuple(a.shape)!r}, np.{a.dtype})")
    hoisted: list[str] = []
    w.hoist = hoisted
    loop_at = len(w.lines)
    w.line("for _index in range(lower, upper):")
    w.indent()
    if index in inputs:
        w.line(f"{index}[()] = _index")
    emit_steps(w, program, parallel_threshold)
    buffers = {line.split(" = ", 1)[0] for line in hoisted} | {a.name for a in program.preallocated}
    for k, out in enumerate(program.outputs):
        if out not in buffers:  # a state input, or a call's result that may be a view of one
            w.line(f"_new{k} = np.ascontiguousarray({out}).copy()")
    for k, out in enumerate(program.outputs):
        src = out if out in buffers else f"_new{k}"
        w.line(f"s{k}[()] = {src}[()]" if not arrays[out].shape else f"lib.copy_into(s{k}, {src})")
    w.dedent()
    w.lines[loop_at:loop_at] = ["    " + line for line in hoisted]
    w.line(f"return ({', '.join(f's{k}' for k in range(len(state)))},)")
    return with_helpers(w, name), others
