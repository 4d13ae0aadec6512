"""A Program's steps as kernels keyed by their structure. Each step (a fused loop or a library
call) becomes a one-step Program whose arrays and scalars are renamed in order of first use,
so its generated text -- and so its compile-cache key -- depends on the scalar expression,
dtypes, shapes and the pattern of its loads and stores, not on where it sits in the graph:
the time steps of an unrolled RNN, the layers of a Transformer or the pieces of a long
elementwise chain render to the same text and compile once."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

from .spec import Array, Call, Load, Loop, Program, Stmt, Store

_TOKEN = re.compile(r"\b[A-Za-z_]\w*\b")
KERNEL_NAME = "kernel"  # the function name of every step's kernel


@dataclass(frozen=True)
class KernelStep:
    """One step as a kernel: `program` (canonical names) and, in its argument order, the
    names in the enclosing program of its arguments (`args`: the arrays a loop reads, then
    those it writes) and of the arrays it returns (`outputs`: a library call's result)."""

    program: Program
    args: tuple[str, ...]
    outputs: tuple[str, ...]


def reads_and_writes(step) -> tuple[list[str], list[str]]:
    """Arrays a step reads (in order of first use) and writes (stores, reductions, call output)."""
    if isinstance(step, Loop):
        writes = list(dict.fromkeys([s.array for s in step.stores] + [r.array for r in step.reduces]))
        reads = list(dict.fromkeys(ld.array for ld in step.loads))
    elif isinstance(step, Call):
        writes = [step.output]
        reads = list(dict.fromkeys(step.inputs))
    else:
        raise TypeError(f"unknown program step {step!r}")
    return [r for r in reads if r not in writes], writes


def kernel_step(step, arrays: dict[str, Array], notes: tuple = ()) -> KernelStep:
    """The step as a one-step Program with canonical names (`x0..` read, `y0..` written, loads
    `l0..`, statements `t0..`), taking the buffers it writes as trailing arguments (allocated by
    the caller: an allocation inside a Numba function costs ~0.1 s of compile time each, and
    the pieces of a long chain write dozens)."""
    reads, writes = reads_and_writes(step)
    names = {a: f"x{k}" for k, a in enumerate(reads)}
    names.update({a: f"y{k}" for k, a in enumerate(writes)})

    def arr(name: str) -> Array:
        a = arrays[name]  # (a window stays marked strided: the kernel indexes it by dims)
        return Array(names[name], a.shape, a.dtype, None if a.view is None else ("", "", a.view[2], None))

    if isinstance(step, Loop):
        new_step = _rename_loop(step, names)
    else:
        new_step = replace(step, inputs=tuple(names[n] for n in step.inputs), output=names[step.output],
                           params=_rename_params(step.params, names), origin=_op_of(step.origin))
    if isinstance(step, Call) and not fills_existing(step):  # (library calls allocate their own result)
        program = Program(KERNEL_NAME, tuple(arr(r) for r in reads), tuple(names[w] for w in writes),
                          temporaries=tuple(arr(w) for w in writes), steps=(new_step,), notes=notes)
        return KernelStep(program, tuple(reads), tuple(writes))
    program = Program(KERNEL_NAME, tuple(arr(r) for r in reads), (), steps=(new_step,), notes=notes,
                      preallocated=tuple(arr(w) for w in writes))
    return KernelStep(program, tuple(reads) + tuple(writes), ())


def fills_existing(step) -> bool:
    """A cat call whose output buffer exists already (fused loops wrote some inputs into it)."""
    return isinstance(step, Call) and step.op == "cat" and bool(step.params[2])


def _op_of(origin: str) -> str:
    """The op name of an origin comment ("mul -> a5" -> "mul"): array names are not structure."""
    return origin.split(" -> ")[0]


def _rename_params(params, names: dict):
    if isinstance(params, str):
        return names.get(params, params)
    if isinstance(params, tuple):
        return tuple(_rename_params(p, names) for p in params)
    return params


def _rename_loop(loop: Loop, names: dict) -> Loop:
    scalars: dict[str, str] = {}
    for k, ld in enumerate(loop.loads):
        scalars[ld.target] = f"l{k}"
    for k, st in enumerate(loop.stmts):
        scalars[st.target] = f"t{k}"

    def expr(text: str) -> str:
        return _TOKEN.sub(lambda m: scalars.get(m.group(0), m.group(0)), text)

    return replace(loop,
                   loads=tuple(Load(scalars[ld.target], names[ld.array]) for ld in loop.loads),
                   stmts=tuple(Stmt(scalars[st.target], expr(st.expr), _op_of(st.origin), st.dtype)
                               for st in loop.stmts),
                   stores=tuple(Store(names[s.array], expr(s.value), _op_of(s.origin)) for s in loop.stores),
                   reduces=tuple(replace(r, array=names[r.array], value=expr(r.value), origin=_op_of(r.origin))
                                 for r in loop.reduces))


def kernel_steps(program: Program) -> list[KernelStep]:
    """Every step of `program` as a structurally named kernel, in order."""
    arrays = program.arrays()
    return [kernel_step(step, arrays, program.notes) for step in program.steps]


def line_count(program: Program) -> int:
    """The rough size of the single generated function for `program` (statements and calls)."""
    n = 0
    for step in program.steps:
        n += len(step.loads) + len(step.stmts) + len(step.stores) + len(step.reduces) + 4 \
            if isinstance(step, Loop) else 2
    return n


def loop_work(program: Program) -> int:
    """The elements a call of `program` iterates over in its fused loops (the product of each
    loop's shape, summed): a size-dependent measure of its work per call, library calls apart.

    >>> loop = Loop((4, 8), (), ())
    >>> copy = Call("copy", ("x",), "y", (), "")
    >>> loop_work(Program("p", (Array("x", (4, 8), "float32"),), (), steps=(loop, copy, loop)))
    64
    """
    return sum(math.prod(step.shape) for step in program.steps if isinstance(step, Loop))
