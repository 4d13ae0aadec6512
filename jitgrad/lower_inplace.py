"""In-place outputs of a lowered program: a compiled training step writes the new values of the
tensors it updates (parameters, optimizer state) into their own storage, and its new gradients
into buffers the caller passes, instead of returning new arrays that the caller copies back.

Returning arrays costs Numba a boxing each (most of a small step's call), and keeps old and new
values alive together (a ResNet's parameters and momentum twice over). An output is written into
its input's storage by the loop that computes it when that loop is the last reader of the input,
at the same index; otherwise through a copy right after the input's last reader.
"""
from __future__ import annotations

import dataclasses

from jitgrad._kernels.spec import Call, Load, Loop, Program, Store


def write_in_place(program: Program, targets: dict[str, str]) -> tuple[Program, set[str]]:
    """`program` with each output `o` of `targets` (output name -> input name) written into that
    input's storage and no longer returned; also the set of outputs it did that for (outputs that
    the program does not compute itself, or returns twice, stay returned).

    >>> from jitgrad._kernels.spec import Array
    >>> loop = Loop((2,), (Load("l0", "in0"),), (), (Store("a1", "l0 * 2.0"),))
    >>> p = Program("f", (Array("in0", (2,), "float64"),), ("a1",), (Array("a1", (2,), "float64"),), (loop,))
    >>> q, done = write_in_place(p, {"a1": "in0"})
    >>> q.outputs, q.steps[0].stores[0].array, done
    ((), 'in0', {'a1'})
    """
    steps = list(program.steps)
    arrays = program.arrays()
    temps = {a.name: a for a in program.temporaries + program.preallocated}
    done = set()
    for out, inp in targets.items():
        a = temps.get(out)
        if a is None or program.outputs.count(out) != 1 or a.view is not None or inp not in arrays \
                or arrays[inp].shape != a.shape or arrays[inp].dtype != a.dtype \
                or any(b.view is not None and b.view[0] == out for b in arrays.values()):
            continue
        family = _views_of(inp, steps, arrays)
        writers = [k for k, st in enumerate(steps) if out in _writes(st)]
        last_read = max((k for k, st in enumerate(steps) if family & _reads(st)), default=-1)
        if len(writers) == 1 and _renamable(steps[writers[0]], a.shape, inp, family) and last_read <= writers[0] \
                and not any(isinstance(st, Call) and out in st.inputs for st in steps[writers[0] + 1:]):
            k = writers[0]
            steps[k] = _rename(steps[k], out, inp)
            steps[k + 1:] = [_rename(st, out, inp) for st in steps[k + 1:]]
        else:
            at = max([last_read] + writers) + 1
            steps.insert(at, Loop(a.shape, (Load("c0", out),), (), (Store(inp, "c0", f"in place -> {inp}"),)))
        done.add(out)
    if not done:
        return program, done
    return dataclasses.replace(
        program, steps=tuple(steps), outputs=tuple(o for o in program.outputs if o not in done),
        temporaries=tuple(t for t in program.temporaries if t.name not in done or _still_used(t.name, steps)),
        preallocated=tuple(t for t in program.preallocated if t.name not in done or _still_used(t.name, steps))), done


def pass_buffers(program: Program, names: set[str]) -> tuple[Program, set[str]]:
    """`program` taking the outputs `names` as caller-allocated trailing arguments (after the other
    preallocated ones, in sorted order) that it fills instead of returning them; also the set of
    outputs it did that for (those it computes itself, returned once, not windows of another array).

    >>> from jitgrad._kernels.spec import Array
    >>> loop = Loop((2,), (Load("l0", "in0"),), (), (Store("a1", "l0 * 2.0"),))
    >>> p = Program("f", (Array("in0", (2,), "float64"),), ("a1",), (Array("a1", (2,), "float64"),), (loop,))
    >>> q, done = pass_buffers(p, {"a1"})
    >>> q.outputs, [a.name for a in q.preallocated], done
    ((), ['a1'], {'a1'})
    """
    temps = {t.name: t for t in program.temporaries}
    done = {n for n in names if n in temps and temps[n].view is None
            and program.outputs.count(n) == 1 and all(n not in _writes(st) or _fills_existing(st, temps[n])
                                                      for st in program.steps)}
    if not done:
        return program, done
    return dataclasses.replace(
        program, outputs=tuple(o for o in program.outputs if o not in done),
        temporaries=tuple(t for t in program.temporaries if t.name not in done),
        preallocated=program.preallocated + tuple(temps[n] for n in sorted(done))), done


def _fills_existing(step, out) -> bool:
    """`step` writes `out` into a buffer allocated before it (a fused loop, a concatenation whose
    inputs were written into their slices of the buffer: kernels.indexed.cat_source's `exists`, or
    a matrix product, which BLAS writes into a buffer it is given: kernels.library.into_source), so
    that buffer may be one the caller passes; other library calls allocate their own result."""
    if isinstance(step, Loop):
        return True
    return (step.op == "cat" and bool(step.params[2])) or (step.op == "matmul" and len(out.shape) == 2)


def _writes(step) -> set[str]:
    if isinstance(step, Loop):
        return {s.array for s in step.stores} | {r.array for r in step.reduces}
    return {step.output}


def _reads(step) -> set[str]:
    if isinstance(step, Loop):
        return {ld.array for ld in step.loads}
    return set(step.inputs)


def _views_of(inp: str, steps: list, arrays: dict) -> set[str]:
    """`inp` and every array that may share its storage: windows of it, and (conservatively) what
    any library call computes from it (a basic index or reshape may return a view)."""
    family = {inp}
    grew = True
    while grew:
        grew = False
        for a in arrays.values():
            if a.view is not None and a.view[0] in family and a.name not in family:
                family.add(a.name)
                grew = True
        for st in steps:
            if isinstance(st, Call) and set(st.inputs) & family and st.output not in family:
                family.add(st.output)
                grew = True
    return family


def _renamable(step, shape: tuple, inp: str, family: set[str]) -> bool:
    """Whether loop `step` may store its output (of `shape`, `inp`'s shape) straight into `inp`: it
    runs over exactly that shape and every read of `inp`'s storage in it is a load of `inp` itself,
    at the loop index (read before the store of that index)."""
    if not isinstance(step, Loop) or step.reduces or step.shape != shape:
        return False
    return all(ld.array not in family or ld.array == inp for ld in step.loads)


def _rename(step, old: str, new: str):
    if isinstance(step, Loop):
        return dataclasses.replace(
            step, loads=tuple(dataclasses.replace(ld, array=new) if ld.array == old else ld for ld in step.loads),
            stores=tuple(dataclasses.replace(s, array=new) if s.array == old else s for s in step.stores))
    if old in step.inputs:
        return dataclasses.replace(step, inputs=tuple(new if n == old else n for n in step.inputs))
    return step


def _still_used(name: str, steps: list) -> bool:
    return any(name in _reads(st) | _writes(st) for st in steps)
