"""Generated elementwise kernels: a scalar expression over x0, x1, ... applied with NumPy
broadcasting in one grid-stride loop. One kernel per (expr, operand kinds and dtypes, rank, out
dtype), written through kernels.cache and kept in memory; a flat path when no operand broadcasts."""
from __future__ import annotations

import math
import re
from typing import Any, Sequence

import numpy as np

from . import runtime
from .layout import flat

_VM_CALL = re.compile(r"\bvm\.(\w+)_(f32|f64)\(")
_VM_DTYPE = {"f32": "np.float32", "f64": "np.float64"}
_kernels: dict = {}


def rewrite_vm_calls(expr: str, used: set | None = None) -> tuple[str, list[str]]:
    """`vm.sin_f32(` -> `vm_sin_f32(` (a module-level CUDA device function), plus the bindings
    those names need; `used`, when given, collects the (function, suffix) pairs too."""
    found = set(_VM_CALL.findall(expr))
    if used is not None:
        used |= found
    return _VM_CALL.sub(lambda m: f"vm_{m.group(1)}_{m.group(2)}(", expr), sorted(vm_binding(*f) for f in found)


def vm_binding(fn: str, suffix: str) -> str:
    """The module-level line that binds vm_<fn>_<suffix> to its CUDA device function."""
    return f'vm_{fn}_{suffix} = _vm.cuda_device("{fn}", {_VM_DTYPE[suffix]})'


def _is_host_scalar(x: Any) -> bool:
    return not runtime.is_device_array(x)


def _host_scalar(x: Any):
    """A host scalar as a numpy scalar of its own dtype (Python float -> float64, int -> int64)."""
    if isinstance(x, np.ndarray):
        if x.size != 1:
            raise ValueError(f"elementwise: a host operand must be a scalar, got shape {x.shape}")
        return x.reshape(())[()]
    if isinstance(x, np.generic):
        return x
    return np.asarray(x)[()]


def _broadcast_strides(shape: tuple, out_shape: tuple) -> tuple[int, ...]:
    """Element strides of a contiguous `shape` broadcast to out_shape (0 on broadcast dims)."""
    nd = len(out_shape)
    if len(shape) > nd:
        raise ValueError(f"elementwise: operand shape {shape} does not broadcast to {out_shape}")
    padded = (1,) * (nd - len(shape)) + tuple(shape)
    strides, acc = [0] * nd, 1
    for d in range(nd - 1, -1, -1):
        n = padded[d]
        if n == out_shape[d]:
            strides[d] = acc if n != 1 else 0
        elif n != 1:
            raise ValueError(f"elementwise: operand shape {shape} does not broadcast to {out_shape}")
        acc *= n
    return tuple(strides)


def _merge_dims(out_shape: tuple, strides: list[tuple]) -> tuple[tuple, list[tuple]]:
    """Drop size-1 output dims and merge neighbours every operand walks contiguously."""
    keep = [d for d, n in enumerate(out_shape) if n != 1]
    shape = [out_shape[d] for d in keep]
    sts = [[st[d] for d in keep] for st in strides]
    d = len(shape) - 2
    while d >= 0:
        if all(st[d] == st[d + 1] * shape[d + 1] for st in sts):
            shape[d] *= shape.pop(d + 1)
            for st in sts:
                st[d] = st.pop(d + 1)
        d -= 1
    return tuple(shape), [tuple(st) for st in sts]


def _source(expr: str, kinds: tuple, ndim: int) -> str:
    """Module text of the kernel: kinds[j] is 's' (scalar arg), 'f' (same shape), '1' (one
    element) or 'b' (broadcast through a strides tuple)."""
    body, bindings = rewrite_vm_calls(expr)
    params = ["k_out"]
    loads = []
    for j, kind in enumerate(kinds):
        params.append(f"k_a{j}")
        if kind == "s":
            loads.append(f"x{j} = k_a{j}")
        elif kind == "f":
            loads.append(f"x{j} = k_a{j}[k_i]")
        elif kind == "1":
            loads.append(f"x{j} = k_a{j}[0]")
        else:
            pos = " + ".join(f"k_c{d} * k_st{j}[{d}]" for d in range(ndim))
            loads.append(f"x{j} = k_a{j}[{pos}]")
    unravel = []
    if "b" in kinds:
        params.append("k_shape")
        params += [f"k_st{j}" for j, kind in enumerate(kinds) if kind == "b"]
        unravel.append("k_r = k_i")
        for d in range(ndim - 1, 0, -1):
            unravel.append(f"k_c{d} = k_r % k_shape[{d}]")
            unravel.append(f"k_r //= k_shape[{d}]")
        unravel.append("k_c0 = k_r")
    inner = "\n".join("        " + line for line in unravel + loads)
    vm_lines = "\n".join(["from jitgrad._kernels import vmath as _vm", "", *bindings, ""]) if bindings else ""
    return f'''import math

import numpy as np
from numba import cuda

{vm_lines}

# out = {body}
@cuda.jit(cache=True)
def kernel({", ".join(params)}):
    k_start = cuda.grid(1)
    k_step = cuda.gridsize(1)
    for k_i in range(k_start, k_out.size, k_step):
{inner}
        k_out[k_i] = {body}
'''


def _kernel(expr: str, kinds: tuple, dtypes: tuple, ndim: int, out_dtype: np.dtype):
    key = (expr, kinds, dtypes, ndim, out_dtype)
    kernel = _kernels.get(key)
    if kernel is None:
        text = _source(expr, kinds, ndim)
        kernel = _kernels[key] = runtime.load_generated(text, f"elementwise {expr[:60]}").kernel
    return kernel


def elementwise_into(out, expr: str, operands: Sequence) -> None:
    """out[...] = expr(x0, x1, ...) with operands broadcast to out.shape (writes out in place)."""
    n = out.size
    if n == 0:
        return
    out_shape = tuple(out.shape)
    kinds, dtypes, args, bstrides = [], [], [], []
    for x in operands:
        if _is_host_scalar(x):
            v = _host_scalar(x)
            kinds.append("s")
            dtypes.append(v.dtype)
            args.append(v)
            continue
        shape = tuple(x.shape)
        dtypes.append(x.dtype)
        args.append(flat(x))
        if shape == out_shape:
            kinds.append("f")
        elif x.size == 1:  # a one-element array acts as a scalar
            kinds.append("1")
        else:
            kinds.append("b")
            bstrides.append(_broadcast_strides(shape, out_shape))
    ndim = 0
    extra: list = []
    if bstrides:
        shape, bstrides = _merge_dims(out_shape, bstrides)
        ndim = len(shape)
        extra = [shape, *bstrides]
    kernel = _kernel(expr, tuple(kinds), tuple(dtypes), ndim, out.dtype)
    runtime.launch(kernel, n)(flat(out), *args, *extra)


def elementwise(expr: str, operands: Sequence, out_shape: tuple, out_dtype: Any):
    """New array of out_shape/out_dtype holding expr(x0, x1, ...) over broadcast operands."""
    out = runtime.empty(out_shape, out_dtype)
    if math.prod(out.shape):
        elementwise_into(out, expr, operands)
    return out
