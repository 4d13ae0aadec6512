"""Source text of the data-movement library calls that are not plain views: indexed reads and
writes with runtime index arrays (getitem/gather, their scatter-add adjoints, setitem),
concatenation and stacking into one output buffer, and batched matmul as a loop of BLAS calls.

Index calls share one form. For output element o (flat, C order) the source position is
`base[o] + sum_k stride_k * wrap(index_k[sel_k[o]])`, where `base` and `sel_k` are integer
maps the lowering computes once from the static index structure (passed as constants) and
`index_k` are the runtime index arrays. Every index is bounds-checked in the loop: an
out-of-range one raises IndexError naming it, the dimension and the size (never a wrong read).
"""
from __future__ import annotations

from .spec import Array, Call

# Call params of an index op: (terms, value, message). terms: per index array, (index array,
# its sel map or "" when sel is the identity, stride, size, dim). value (put only): (value
# array, its map from target elements or "", whether it has one element). message: the error
# text's prefix: empty for indexing (negative indices wrap, IndexError), the op's name for
# gather and scatter_add (negative indices refused, RuntimeError, as in PyTorch). The loop
# runs over the base map's elements (the output for take, the gradient for scatter_add, the
# indexed target for put).
INDEX_OPS = ("take", "scatter_add", "put")
ROW_OPS = ("take_rows", "scatter_rows")
OPS = INDEX_OPS + ROW_OPS + ("cat", "batched_matmul")


def _flat(name: str) -> str:
    return f"{name}.reshape(-1)"


def position_lines(base: str, terms: list, refuse) -> list[str]:
    """The lines computing `_p`, the source position of element `_o`, shared by the CPU loop
    below and the CUDA kernels (kernels/cuda/indexed.py): `base[_o]` plus each index (read at
    `_o` or through its sel map) times its stride. terms: (index array, sel map or "", size
    text, stride text) as names in the generated code; `refuse(k)` gives the lines run for an
    index of term k outside [0, size) (with `_j` holding it): wrap, raise or record it."""
    lines = [f"_p = {base}[_o]"]
    for k, (index, sel, size, stride) in enumerate(terms):
        lines.append(f"_j = {index}[{sel}[_o]]" if sel else f"_j = {index}[_o]")
        lines.append(f"if _j < 0 or _j >= {size}:")
        lines += ["    " + line for line in refuse(k)]
        lines.append(f"_p += _j * {stride}")
    return lines


def index_source(step: Call, arrays: dict[str, Array]) -> str:
    """The loop of a take (out[o] = x[pos]), scatter_add (out[pos] += g[o]) or put
    (out = x; out[pos] = v[vmap[o]]) call; `step.inputs` = (source, base, *terms' arrays)."""
    terms, value, message = step.params
    wraps = not message  # indexing wraps negative indices; gather and scatter_add refuse them
    out = arrays[step.output]
    src, base = step.inputs[0], step.inputs[1]
    n = 1
    for s in arrays[base].shape:  # the loop runs over the base map's elements
        n *= s
    o = step.output
    lines = []
    if step.op == "take":
        lines.append(f"{o} = np.empty({tuple(out.shape)!r}, np.{out.dtype})")
    elif step.op == "scatter_add":
        lines.append(f"{o} = np.zeros({tuple(out.shape)!r}, np.{out.dtype})")
    else:
        lines.append(f"{o} = np.ascontiguousarray({src}).copy()")
    if n == 0:
        return "\n".join(lines)
    lines.append(f"{o}_f = {_flat(o)}")
    data = value[0] if step.op == "put" else src
    lines.append(f"{o}_s = {_flat('np.ascontiguousarray(' + data + ')')}")
    lines.append(f"{o}_b = {_flat(base)}")
    for k, (index, sel, _stride, _size, _dim) in enumerate(terms):
        lines.append(f"{o}_i{k} = {_flat(index)}")
        if sel:
            lines.append(f"{o}_m{k} = {_flat(sel)}")
    if step.op == "put" and value[1]:
        lines.append(f"{o}_v = {_flat(value[1])}")
    lines.append(f"for _o in range({n}):")

    def refuse(k: int) -> list[str]:
        _index, _sel, _stride, size, dim = terms[k]
        return [f"_j = lib.checked_index({message!r}, _j, {dim}, {size}, {wraps})"]

    lines += ["    " + line for line in position_lines(
        f"{o}_b", [(f"{o}_i{k}", f"{o}_m{k}" if t[1] else "", str(t[3]), str(t[2])) for k, t in enumerate(terms)],
        refuse)]
    if step.op == "take":
        lines.append(f"    {o}_f[_o] = {o}_s[_p]")
    elif step.op == "scatter_add":
        lines.append(f"    {o}_f[_p] += {o}_s[_o]")
    else:
        v_at = f"{o}_v[_o]" if value[1] else ("0" if value[2] else "_o")
        lines.append(f"    {o}_f[_p] = {o}_s[{v_at}]")
    return "\n".join(lines)


def cat_source(step: Call, arrays: dict[str, Array]) -> str:
    """Each input written into its slice of one output buffer; params = (slices per input,
    shape each input is viewed as, whether the buffer exists already: inputs computed by fused
    loops were written into their slices there, see lower.py, and are not inputs here)."""
    out = arrays[step.output]
    slices, views, exists = step.params
    lines = [] if exists else [f"{out.name} = np.empty({tuple(out.shape)!r}, np.{out.dtype})"]
    for name, sl, view in zip(step.inputs, slices, views):
        src = name if tuple(view) == tuple(arrays[name].shape) else \
            f"np.ascontiguousarray({name}).reshape({tuple(view)!r})"
        lines.append(f"lib.copy_into({out.name}[{sl}], {src})")
    return "\n".join(lines) or "pass"


def batched_matmul_source(step: Call, arrays: dict[str, Array]) -> str:
    """A matmul with a batch: one GEMM on the flattened view when only the left operand has
    batch dims, else one BLAS call per batch element. params = (a3, b3, out3, a_of, b_of):
    the 3-D shapes each operand is viewed as and, per output batch element, the a and b batch
    element it reads (None: the same index)."""
    a, b = step.inputs
    out = arrays[step.output]
    a3, b3, out3, a_of, b_of = step.params
    o = step.output
    if b3 is None:  # (..., M, K) @ (K, N) or (K,): one GEMM over the flattened rows
        return (f"{o} = np.ascontiguousarray(lib.matmul2d(np.ascontiguousarray({a}).reshape({tuple(a3)!r}), {b}))"
                f".reshape({tuple(out.shape)!r})")
    lines = [f"{o}_a = np.ascontiguousarray({a}).reshape({tuple(a3)!r})",
             f"{o}_b = np.ascontiguousarray({b}).reshape({tuple(b3)!r})",
             f"{o}_o = np.empty({tuple(out3)!r}, np.{out.dtype})"]
    for name, of in (("a", a_of), ("b", b_of)):
        if of is not None:
            lines.append(f"{o}_{name}of = np.array({list(of)!r}, np.int64)")
    ia = "_k" if a_of is None else f"{o}_aof[_k]"
    ib = "_k" if b_of is None else f"{o}_bof[_k]"
    lines.append(f"for _k in range({out3[0]}):")
    lines.append(f"    lib.matmul2d_into({o}_a[{ia}], {o}_b[{ib}], {o}_o[_k])")
    lines.append(f"{o} = {o}_o.reshape({tuple(out.shape)!r})")
    return "\n".join(lines)


def rows_source(step: Call, arrays: dict[str, Array]) -> str:
    """x[idx] for one index array on dim 0 (take_rows: out rows are x's rows idx.flat[i]) or its
    adjoint (scatter_rows: g's rows added into rows idx.flat[i] of zeros); params = (rows of x,
    row size). Each index is checked (a negative one wraps once, as in indexing) and then a whole
    row is copied (or added), a contiguous inner loop, instead of one map lookup per element."""
    src, index = step.inputs
    out = arrays[step.output]
    size, inner = step.params
    o = step.output
    take = step.op == "take_rows"
    lines = [f"{o} = np.{'empty' if take else 'zeros'}({tuple(out.shape)!r}, np.{out.dtype})"]
    n = 1
    for s in arrays[index].shape:
        n *= s
    if n * inner == 0:
        return "\n".join(lines)
    lines += [f"{o}_r = {o}.reshape(({n if take else size}, {inner}))",
              f"{o}_s = np.ascontiguousarray({src}).reshape(({size if take else n}, {inner}))",
              f"{o}_i = {index}.reshape(-1)",
              f"for _o in range({n}):",
              f"    _j = {o}_i[_o]",
              f"    if _j < 0 or _j >= {size}:",
              f"        _j = lib.checked_index('', _j, 0, {size}, True)",
              f"    for _c in range({inner}):"]
    lines.append(f"        {o}_r[_o, _c] = {o}_s[_j, _c]" if take else f"        {o}_r[_j, _c] += {o}_s[_o, _c]")
    return "\n".join(lines)


def call_source(step: Call, arrays: dict[str, Array]) -> str:
    if step.op in INDEX_OPS:
        return index_source(step, arrays)
    if step.op in ROW_OPS:
        return rows_source(step, arrays)
    if step.op == "cat":
        return cat_source(step, arrays)
    if step.op == "batched_matmul":
        return batched_matmul_source(step, arrays)
    raise ValueError(f"unknown indexed op {step.op!r}; known: {OPS}")
