"""The steps a kernel-sequence driver (kernels.cpu.KernelSequence) runs itself, as NumPy: views,
copies, BLAS calls, products of two batched operands and concatenations. A kernel would cost a
compile (~0.15 s) for what NumPy does in microseconds, and NumPy reads strided views in place.

Measured in TRF's training step (1 thread): its attention products, (128, 16, 16) float32 pairs,
ran in 38 us as np.matmul (40 us reading a transposed view) against 52 us as a kernel's loop of
one BLAS call per batch element after a transposing copy (~17 us); q, k and v, sliced from one
permuted (3, 32, 4, 16, 16) copy (50 us), are read as views of the projection instead; the
backward's stack of the three gradients (76 us as a kernel of row copies) then permuted (50 us)
is one NumPy copy of each gradient into its place in the permuted result; a gradient that a
product computes for that stack alone is written by np.matmul straight into its place (the copies
cost ~20 us each, 6 per step). Stacks of small matrices are now multiplied by
kernels.small_products instead (22-39 us for the same products, reading the same views).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import conv, library, small_products
from .spec import Call, Program

#: Host steps whose result may stay a strided view of their input (see HostPlan.views).
VIEW_OPS = ("permute", "getitem_basic", "reshape")


def is_product(step) -> bool:
    """A product of two batched operands (attention's q @ k^T, att @ v): np.matmul, or
    kernels.small_products for stacks of small matrices."""
    return isinstance(step, Call) and step.op == "batched_matmul" and step.params[1] is not None


def _small(step: Call, arrays: dict) -> bool:
    """Whether `step`'s product runs through kernels.small_products."""
    a, b = (arrays[name] for name in step.inputs)
    return a.dtype == b.dtype == arrays[step.output].dtype and small_products.suits(a.shape, b.shape, a.dtype)


def _product_line(step: Call, arrays: dict, out: str) -> str:
    """The call writing `step`'s product into the existing array `out`."""
    a, b = step.inputs
    return f"small_product({a}, {b}, {out})" if _small(step, arrays) else f"np.matmul({a}, {b}, out={out})"


def is_host_cat(step) -> bool:
    """A cat or stack whose buffer no fused loop wrote into (see jitgrad's cat_windows)."""
    return isinstance(step, Call) and step.op == "cat" and not step.params[2]


def on_host(step) -> bool:
    """Whether the driver runs `step` itself (convolutions: it calls their cached kernels)."""
    return isinstance(step, Call) and (step.op in library.OPS or step.op in conv.OPS or is_product(step)
                                       or is_host_cat(step))


@dataclass
class HostPlan:
    """`views`: outputs of permutes, basic indexes and reshapes that only host products (or other
    such views) read, not program outputs: kept as strided views, which np.matmul reads in place.
    `into_permuted`: cat or product output -> the permute (its only reader) whose result the step
    writes straight into, through a view of it in the step's layout (one copy fewer).
    `into_cat`: product output -> (the cat that reads it, through reshapes that only add or drop
    size-1 dims, and the cat input it becomes): the product writes into its slice of the cat's
    buffer, which the first such product allocates (`opened`); `skipped`: those reshapes' outputs."""

    views: set = field(default_factory=set)
    into_permuted: dict = field(default_factory=dict)
    into_cat: dict = field(default_factory=dict)
    skipped: set = field(default_factory=set)
    opened: set = field(default_factory=set)


def plan(program: Program) -> HostPlan:
    """The views and fused cat-permute pairs of `program`'s driver."""
    readers: dict = {}
    for step in program.steps:
        for name in (step.inputs if isinstance(step, Call) else {ld.array for ld in step.loads}):
            readers.setdefault(name, []).append(step)
    outputs = set(program.outputs)
    found = HostPlan()
    for step in reversed(program.steps):  # (a step's readers come after it)
        if isinstance(step, Call) and step.op in VIEW_OPS and step.output not in outputs and readers.get(step.output) \
                and all(is_product(r) or _is_view(r, found) for r in readers[step.output]):
            found.views.add(step.output)
    for step in program.steps:
        if not (is_host_cat(step) or is_product(step)) or step.output in outputs:
            continue
        users = readers.get(step.output, [])
        if len(users) == 1 and isinstance(users[0], Call) and users[0].op == "permute" \
                and users[0].output not in found.views:
            found.into_permuted[step.output] = users[0]
    _plan_into_cat(program, readers, outputs, found)
    return found


def _squeezed(shape) -> tuple:
    return tuple(d for d in shape if d != 1)


def _plan_into_cat(program: Program, readers: dict, outputs: set, found: HostPlan) -> None:
    """Products whose only reader is a host cat, directly or through one reshape that only adds or
    drops size-1 dims (so the cat's slice, reshaped to the product's shape, stays a view), and whose
    dtype is the cat's: found.into_cat and found.skipped (see HostPlan)."""
    arrays = program.arrays()
    for step in program.steps:
        if not is_product(step) or step.output in outputs or step.output in found.into_permuted:
            continue
        name, users = step.output, readers.get(step.output, [])
        skipped = None
        if len(users) == 1 and isinstance(users[0], Call) and users[0].op == "reshape" \
                and users[0].output not in outputs and users[0].output not in found.views:
            skipped, name = users[0].output, users[0].output
            users = readers.get(name, [])
        if len(users) != 1 or not is_host_cat(users[0]) or users[0].inputs.count(name) != 1:
            continue
        cat = users[0]
        view = cat.params[1][cat.inputs.index(name)]
        if _squeezed(view) != _squeezed(arrays[step.output].shape) \
                or arrays[step.output].dtype != arrays[cat.output].dtype:
            continue
        found.into_cat[step.output] = (cat, name)
        if skipped is not None:
            found.skipped.add(skipped)


def _is_view(step, found: HostPlan) -> bool:
    return isinstance(step, Call) and step.op in VIEW_OPS and step.output in found.views


def source(step: Call, arrays: dict, host: HostPlan) -> str | None:
    """The driver's line(s) for `step` (None: nothing, its result was written by an earlier step)."""
    out, ins = step.output, step.inputs
    if out in host.skipped:
        return None
    if is_product(step) and out in host.into_cat:
        return "\n".join(_product_into_cat(step, arrays, host))
    if is_product(step):
        permute = host.into_permuted.get(out)
        if permute is None and _small(step, arrays):
            result = arrays[out]
            return f"{out} = np.empty({tuple(result.shape)!r}, np.{result.dtype})\n" + _product_line(step, arrays, out)
        if permute is None:
            return f"{out} = np.matmul({ins[0]}, {ins[1]})"
        return "\n".join(_permuted_buffer(out, permute, arrays) + [_product_line(step, arrays, out)])
    if step.op == "permute" and any(p is step for p in host.into_permuted.values()):
        return None
    if out in host.views:
        if step.op == "permute":
            return f"{out} = np.transpose({ins[0]}, {tuple(step.params[0])!r})"
        if step.op == "getitem_basic":
            return f"{out} = np.reshape({ins[0]}[{step.params[0]}], {tuple(step.params[1])!r})"
        return f"{out} = np.reshape({ins[0]}, {tuple(step.params[0])!r})"
    if is_host_cat(step):
        return _cat(step, arrays, host)
    return library.call_source(step, arrays)


def _cat_buffer(step: Call, arrays: dict, host: HostPlan) -> list[str]:
    """The lines allocating a cat's result (none when a product into it already did): a fresh array,
    or with a permute as its only reader (host.into_permuted), a view of the permute's fresh output
    in the cat's layout (the permute's step then does nothing)."""
    if step.output in host.opened:
        return []
    host.opened.add(step.output)
    out = arrays[step.output]
    permute = host.into_permuted.get(step.output)
    if permute is None:
        return [f"{out.name} = np.empty({tuple(out.shape)!r}, np.{out.dtype})"]
    return _permuted_buffer(out.name, permute, arrays)


def _product_into_cat(step: Call, arrays: dict, host: HostPlan) -> list[str]:
    """np.matmul writing into the product's slice of its cat's result (allocated here if first); the
    slice and the product differ by size-1 dims only, so np.reshape gives a view of it, never a copy."""
    cat, name = host.into_cat[step.output]
    sl = cat.params[0][cat.inputs.index(name)]
    shape = tuple(arrays[step.output].shape)
    return _cat_buffer(cat, arrays, host) + [
        _product_line(step, arrays, f"np.reshape({cat.output}[{sl}], {shape!r})")]


def _cat(step: Call, arrays: dict, host: HostPlan) -> str:
    """Each input copied into its slice of the result by NumPy (but those products wrote there)."""
    slices, views, _ = step.params
    written = {name for cat, name in host.into_cat.values() if cat is step}
    lines = _cat_buffer(step, arrays, host)
    for name, sl, view in zip(step.inputs, slices, views, strict=True):
        if name in written:
            continue
        src = name if tuple(view) == tuple(arrays[name].shape) else f"np.reshape({name}, {tuple(view)!r})"
        lines.append(f"{step.output}[{sl}] = {src}")
    return "\n".join(lines)


def _permuted_buffer(name: str, permute: Call, arrays: dict) -> list[str]:
    """Lines allocating `permute`'s output and binding `name` to the view of it in the layout of the
    permute's input (writing `name` writes the permuted result)."""
    perm = tuple(permute.params[0])
    inverse = tuple(perm.index(d) for d in range(len(perm)))
    final = arrays[permute.output]
    return [f"{final.name} = np.empty({tuple(final.shape)!r}, np.{final.dtype})",
            f"{name} = np.transpose({final.name}, {inverse!r})  # written in place: {final.name}"]
