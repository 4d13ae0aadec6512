"""Host lines of a CUDA program for the library calls of jitgrad/lower_calls.py, from the same
spec.Call the CPU target renders (kernels/indexed.py, kernels/library.py): indexed reads and
writes with runtime index arrays (kernels/cuda/indexed.py), cat/stack as strided writes into
one buffer, max/min with indices (kernels/cuda/reduce.py), norm and var/std over rows
(kernels/cuda/rows.py), batched matmul (kernels/cuda/matmul.py), and traced boolean masks (the
count pass and the compaction, kernels/cuda/masks.py); and the 'prim' calls of the ops a
program runs through their whole-op kernel (kernels/cuda/conv.py, scan.py). Index calls record
bounds errors in the program's error slots (mask calls, a count other than the compiled one);
`error_check` gives the lines that allocate them and, at the end of the program, raise the
first one recorded: a program with index or mask calls reads those slots back once per call
(one small copy to the host, which waits for the GPU)."""
from __future__ import annotations

import math

import numpy as np

from .. import indexed, library
from ..spec import Array, Call
from . import conv, masks
from .layout import contiguous_strides

OPS = indexed.OPS + library.ROW_OPS + masks.OPS + ("prim",)
# the module each op's host line calls, as the generated program imports it
MODULES = {
    "_ix": "from jitgrad._kernels.cuda import indexed as _ix",
    "_layout": "from jitgrad._kernels.cuda import layout as _layout",
    "_red": "from jitgrad._kernels.cuda import reduce as _red",
    "_rows": "from jitgrad._kernels.cuda import rows as _rows",
    "_mm": "from jitgrad._kernels.cuda import matmul as _mm",
    "_conv": "from jitgrad._kernels.cuda import conv as _conv",
    "_scan": "from jitgrad._kernels.cuda import scan as _scan",
    "_mask": "from jitgrad._kernels.cuda import masks as _mask",
}


def _np(dtype: str) -> str:
    return "np.bool_" if dtype == "bool" else f"np.{dtype}"


def _tuple(items) -> str:
    items = list(items)
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def render(step: Call, arrays: dict[str, Array], slot: int) -> tuple[list[str], str | None, set]:
    """(host lines, this call's error record or None, modules used). `slot`: the call's error
    slot when it checks indices."""
    if step.op in indexed.INDEX_OPS:
        return _index(step, arrays, slot)
    if step.op == "cat":
        return _cat(step, arrays), None, {"_layout"}
    if step.op == "batched_matmul":
        return _batched_matmul(step, arrays), None, {"_mm"}
    if step.op == "prim":
        return _prim(step, arrays)
    if step.op in masks.OPS:
        return _mask(step, arrays, slot)
    if step.op in library.ROW_OPS:
        return _rows_call(step, arrays), None, {"_layout", "_red", "_rows"}
    raise ValueError(f"the CUDA target has no kernel for library call {step.op!r}; known: {OPS}")


def _index(step: Call, arrays: dict, slot: int):
    terms, value, message = step.params
    wraps = not message
    out = arrays[step.output]
    src, base = step.inputs[0], step.inputs[1]
    indexes = _tuple(t[0] for t in terms)
    sels = _tuple(t[1] or "None" for t in terms)
    strides = repr(tuple(t[2] for t in terms))
    sizes = repr(tuple(t[3] for t in terms))
    dims = repr(tuple(t[4] for t in terms))
    o = step.output
    common = f"{base}, {indexes}, {sels}, {strides}, {sizes}"
    if step.op == "put":
        vname, vmap, scalar = value
        line = f"{o} = _ix.put({src}, {common}, _err, {slot}, {vname}, {vmap or 'None'}, {scalar})"
    else:
        fn = "take" if step.op == "take" else "scatter_add"
        line = (f"{o} = _ix.{fn}({src}, {common}, {wraps}, _err, {slot}, {tuple(out.shape)!r}, "
                f"{_np(out.dtype)})")
    record = f"({message!r}, {wraps}, {indexes}, {sels}, {dims}, {sizes})"
    return [line], record, {"_ix"}


def _mask(step: Call, arrays: dict, slot: int):
    """count_true: the count pass (a 0-d int64 device array, read by the host at the program
    split). mask_select / mask_scatter: params = ((pre, m, post) view of x, count), as on the CPU
    (kernels/masks.py); a mask selecting another count is recorded in the error slot."""
    o = step.output
    if step.op == "count_true":
        return [f"{o} = _mask.count_true({step.inputs[0]})"], None, {"_mask"}
    view, count = step.params
    src, mask = step.inputs
    line = (f"{o} = _mask.{step.op}({src}, {mask}, {tuple(view)!r}, {count}, _err, {slot}, "
            f"{tuple(arrays[o].shape)!r})")
    return [line], f"(_mask.check, {count})", {"_mask", "_ix"}  # (_ix: the error slots)


def _prim(step: Call, arrays: dict):
    """A primitive run by its whole-op kernel (kernels/cuda/conv.py, scan.py), as eager mode runs
    it; params = (primitive name, its params as sorted items)."""
    name, items = step.params
    out = arrays[step.output]
    module = "_conv" if name in conv.PRIMS else "_scan"
    extra = repr(tuple(out.shape)) if module == "_conv" else _np(out.dtype)
    line = f"{step.output} = {module}.run({name!r}, {_tuple(step.inputs)}, {dict(items)!r}, {extra})"
    return [line], None, {module}


def _cat(step: Call, arrays: dict) -> list[str]:
    """Each input written into its slice of one output buffer (the slice's strides and offset
    found by slicing a grid of element numbers, as the layout calls do)."""
    out = arrays[step.output]
    slices, views, exists = step.params  # exists: inputs fused loops wrote in place (CPU only)
    lines = [] if exists else [f"{out.name} = _rt.empty({tuple(out.shape)!r}, {_np(out.dtype)})"]
    if math.prod(out.shape) == 0:
        return lines or ["pass"]
    grid = np.arange(math.prod(out.shape), dtype=np.int64).reshape(out.shape)
    for name, sl, view in zip(step.inputs, slices, views, strict=True):
        part = eval(f"_g[{sl}]", {"_g": grid})  # text made by jitgrad's lowering (basic slices)
        if part.size == 0:
            continue
        strides = tuple(st // grid.itemsize for st in part.strides)
        src = name if tuple(view) == tuple(arrays[name].shape) else f"{name}.reshape({tuple(view)!r})"
        lines.append(f"_layout.strided_scatter({out.name}, {src}, {strides!r}, {int(part.flat[0])})")
    return lines or ["pass"]


def _rows_call(step: Call, arrays: dict) -> list[str]:
    """extreme (max/min along a dim and its index), moments (var/std) and norm over rows of the
    input, permuted so the reduced dims come last (params as kernels/library.py's rows_source)."""
    x = arrays[step.inputs[0]]
    out = arrays[step.output]
    perm, view, extra = step.params
    o = step.output
    src = x.name
    if perm is not None:
        strides = contiguous_strides(x.shape)
        shape = tuple(x.shape[p] for p in perm)
        src = f"_layout.strided_copy({x.name}, {shape!r}, {tuple(strides[p] for p in perm)!r}, 0)"
    rows = f"{src}.reshape({tuple(view)!r})"
    if step.op == "extreme":
        want_max, want_index = extra
        call = f"_red.arg_reduce({rows}, {'max' if want_max else 'min'!r}, 1, False)[{1 if want_index else 0}]"
    elif step.op == "moments":
        correction, take_sqrt = extra
        call = f"_rows.moments({rows}, {correction!r}, {take_sqrt})"
    else:
        p = "math.inf" if extra == float("inf") else repr(float(extra))
        call = f"_rows.norm({rows}, {p})"
    return [f"{o} = {call}.reshape({tuple(out.shape)!r})"]


def _batched_matmul(step: Call, arrays: dict) -> list[str]:
    """params as kernels/indexed.py's batched_matmul_source: one product over the flattened rows
    when only the left operand has batch dims, else the batched kernel reading each output
    batch element's operands through the batch maps (no broadcast copies)."""
    a, b = step.inputs
    out = arrays[step.output]
    a3, b3, out3, a_of, b_of = step.params
    o = step.output
    if b3 is None:
        b_shape = arrays[b].shape
        right = b if len(b_shape) == 2 else f"{b}.reshape(({b_shape[0]}, 1))"
        return [f"{o} = _mm.matmul({a}.reshape({tuple(a3)!r}), {right}).reshape({tuple(out.shape)!r})"]
    return [f"{o} = _mm.batched({a}.reshape({tuple(a3)!r}), {b}.reshape({tuple(b3)!r}), {a_of!r}, {b_of!r})"
            f".reshape({tuple(out.shape)!r})"]


def error_check(records: list[str]) -> list[str]:
    """The lines that allocate the program's error slots (first) and check them (last)."""
    if not records:
        return [], []
    return [f"_err = _ix.error_slots({len(records)})"], [f"_ix.check(_err, {_tuple(records)})"]


def function(step: Call, arrays: dict[str, Array], params: list[str]):
    """The call as a Python function of the arrays named in `params` (device arrays), returning
    its output: the host lines a compiled program would run for it, with its own error slot
    checked before returning (eager GPU ops run exactly what compiled programs run)."""
    lines, record, uses = render(step, arrays, 0)
    allocate, check = error_check([record] if record else [])
    body = allocate + lines + check + [f"return {step.output}"]
    text = f"def _call({', '.join(params)}):\n" + "\n".join("    " + line for line in body) + "\n"
    scope = {"np": np, "math": math}
    exec("from jitgrad._kernels.cuda import runtime as _rt\n" + "\n".join(MODULES[m] for m in sorted(uses)), scope)
    exec(compile(text, f"<jitgrad CUDA call {step.op}>", "exec"), scope)  # text generated above
    fn = scope["_call"]
    fn.source = text
    return fn
