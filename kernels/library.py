"""Hand-written kernels that are not fused (matmul and layout changes), callable from the
generated njit function. `call_source` renders a spec.Call as one line of that function."""
from __future__ import annotations

import numba
import numpy as np

from .spec import Array, Call


# Reduction steps. Their additions carry the `reassoc` fast-math flag, which survives LLVM's
# inlining into the generated loop, so the loop's sum vectorises (several partial sums in a
# vector register) while every other instruction of the loop keeps strict IEEE order (the
# vmath kernels depend on it).
@numba.njit(cache=True, fastmath={"reassoc", "contract"}, error_model="numpy")
def reduce_add(acc, value):
    """acc + value, reassociable."""
    return acc + value


@numba.njit(cache=True, fastmath={"reassoc", "contract"}, error_model="numpy")
def reduce_mul(acc, value):
    """acc * value, reassociable."""
    return acc * value


@numba.njit(cache=True)
def matmul2d(a, b):
    """Matrix/vector products through BLAS (np.dot; C- or F-ordered operands)."""
    return np.dot(a, b)


OPS = ("matmul", "transpose_view", "permute", "reshape", "getitem_basic", "unindex_basic")


def call_source(step: Call, arrays: dict[str, Array]) -> str:
    """One line of generated code for a library call."""
    ins = [arrays[n] for n in step.inputs]
    out = arrays[step.output]
    if step.op == "matmul":
        a, b = ins
        if len(a.shape) > 2 or len(b.shape) > 2:
            raise ValueError("library matmul takes matrices and vectors; batched products run through NumPy")
        if len(out.shape) == 0:  # vector . vector: np.dot gives a scalar
            return f"{out.name} = np.empty((), np.{out.dtype}); {out.name}[()] = lib.matmul2d({a.name}, {b.name})"
        return f"{out.name} = lib.matmul2d({a.name}, {b.name})"
    if step.op == "transpose_view":
        return f"{out.name} = {ins[0].name}.T"
    if step.op == "permute":
        return f"{out.name} = np.ascontiguousarray(np.transpose({ins[0].name}, {tuple(step.params[0])!r}))"
    if step.op == "reshape":
        return f"{out.name} = np.ascontiguousarray({ins[0].name}).reshape({tuple(step.params[0])!r})"
    if step.op == "getitem_basic":
        slices, out_shape = step.params
        return f"{out.name} = np.ascontiguousarray({ins[0].name}[{slices}]).reshape({tuple(out_shape)!r})"
    if step.op == "unindex_basic":
        slices, shape, sliced = step.params
        return (f"{out.name} = np.zeros({tuple(shape)!r}, np.{out.dtype}); "
                f"{out.name}[{slices}] += np.ascontiguousarray({ins[0].name}).reshape({tuple(sliced)!r})")
    raise ValueError(f"unknown library op {step.op!r}; known: {OPS}")
