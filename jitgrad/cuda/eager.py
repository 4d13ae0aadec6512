"""Eager ops on GPU storage. core.bind hands every op with an input in GPU memory to `run`,
which picks the kernel family from the op's declaration: elementwise ops fill the op's scalar
template (the same text the fused CPU loops use) into a generated CUDA kernel; reductions,
matmul, layout changes (views.py) and indexing call the kernels in kernels/cuda. GPU storage is always a
C-contiguous device array: shape ops write new arrays (as in JAX), so no two GPU tensors alias
and in-place writes can never reach a value saved for backward through a hidden view."""
from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from kernels.cuda import elementwise, index, layout, matmul, reduce, runtime

from .. import core, devices, dtypes, prims, shapes
from ..core import ELEMENTWISE, INDEX, MATMUL, REDUCTION, TRANSFER, Primitive
from ..templates import scalar_expression
from . import views

CUDA = devices.device("cuda", 0)
_VIEW_PRIMS = {"reshape", "expand", "permute", "transpose", "squeeze", "unsqueeze", "getitem"}
_warned_host: set = set()


class HostFallbackWarning(UserWarning):
    """An op ran on the CPU for GPU tensors (copied to the host and back): correct, but slow."""


# ----- storage -------------------------------------------------------------------------------


def is_device_array(data) -> bool:
    return runtime.is_device_array(data)


def to_device(array: np.ndarray):
    """A C-contiguous GPU copy of a host array."""
    runtime.require()
    return runtime.to_device(array)


def move(data, device: str):
    """The TO_DEVICE primitive's work: storage copied onto `device` ('cpu' or 'cuda[:0]')."""
    target = devices.device(device)
    host = core.on_host(data)
    if target.type == "cpu":
        return np.array(data, copy=True) if host else runtime.to_host(data)
    if target.index not in (None, 0):
        runtime.require()
        if target.index >= runtime.device_count():
            raise RuntimeError(f"CUDA error: invalid device ordinal {target.index}: this machine has "
                               f"{runtime.device_count()} GPU(s); jitgrad uses 'cuda:0'")
    return to_device(data) if host else copy(data)


def full(shape: tuple, dtype: np.dtype, value):
    return runtime.full(tuple(shape), value, np.dtype(dtype))


def copy(data):
    return elementwise.elementwise("x0", [data], tuple(data.shape), data.dtype)


def copy_into(dst, src) -> None:
    """Write `src` (device array, broadcastable) into the device array `dst` in place."""
    elementwise.elementwise_into(dst, "x0", [src])


def to_host(data) -> np.ndarray:
    return runtime.to_host(data)


def device_of(data) -> devices.device:
    return CUDA


def array_interface(data) -> dict:
    """The CUDA Array Interface of GPU storage (a real GPU only: the simulator has no device pointers)."""
    if runtime.simulated():
        raise AttributeError("__cuda_array_interface__: Numba's CUDA simulator has no device pointers; "
                             "it is available on a real GPU")
    return data.__cuda_array_interface__


def from_cuda_array(obj):
    """GPU storage sharing the memory of an object with __cuda_array_interface__ (CuPy, PyTorch,
    Numba); a C-contiguous copy when its layout is strided."""
    runtime.require()
    if runtime.simulated():
        raise TypeError("importing __cuda_array_interface__ objects needs a real GPU (Numba's simulator cannot)")
    from numba import cuda
    arr = cuda.as_cuda_array(obj)
    if np.dtype(arr.dtype) not in _DTYPES:
        raise TypeError(f"jitgrad tensors hold {dtypes.SUPPORTED}, not {arr.dtype}")
    return arr if arr.is_c_contiguous() else copy(arr)


_DTYPES = {np.dtype(t) for t in ("bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64")}


# ----- dispatch ------------------------------------------------------------------------------


def run(prim: Primitive, datas: list, params: dict, shape: tuple, dtype: np.dtype):
    """Run `prim` on storage of which at least one input is in GPU memory."""
    _check_devices(prim, datas)
    kind = prim.kind
    if kind is ELEMENTWISE:
        return _elementwise(prim, datas, params, shape, dtype)
    if kind is REDUCTION:
        return _reduction(prim, datas, params, shape, dtype)
    if kind is MATMUL:
        return _matmul(datas[0], datas[1], shape, dtype)
    if kind is TRANSFER:
        return move(datas[0], params["device"])
    if prim.name in _VIEW_PRIMS and len(datas) == 1 and views.basic(params):
        return views.copy_of_view(prim, datas[0], params, tuple(shape))
    if prim.name == "unindex" and len(datas) == 1 and views.basic(params):
        return views.unindex(datas[0], params["spec"], tuple(shape), dtype)
    if prim.name in _INDEXED:
        return _indexed(prim.name, datas, params, tuple(shape), dtype)
    if prim.name == "cat":
        return layout.concatenate(datas, params["dim"])
    if prim.name == "stack":
        dim = params["dim"] % (len(datas[0].shape) + 1)
        parts = [d.reshape(d.shape[:dim] + (1,) + d.shape[dim:]) for d in datas]
        return layout.concatenate(parts, dim)
    return _on_host(prim, datas, params, dtype)


_INDEXED = {"getitem", "unindex", "setitem", "gather", "scatter_add"}


def _indexed(name: str, datas: list, params: dict, shape: tuple, dtype: np.dtype):
    """Integer-array and mask indexing, gather and their adjoints: NumPy's own implementation
    applied to element positions (on the host, with the index arrays) gives a position map; the
    values move on the GPU (take / put / deterministic add_at)."""
    x = datas[0]
    host_index = [d if core.on_host(d) else runtime.to_host(d) for d in datas[2 if name == "setitem" else 1:]]
    if name == "gather":
        return index.take(x, prims.GATHER.impl(_positions(x.shape), *host_index, **params))
    if name == "getitem":
        return index.take(x, prims.GETITEM.impl(_positions(x.shape), *host_index, **params))
    if name == "setitem":
        positions = prims.GETITEM.impl(_positions(x.shape), *host_index, **params)
        out = copy(x)
        value = datas[1][()] if core.on_host(datas[1]) else datas[1]
        index.put(out, positions, elementwise.elementwise("x0", [value], positions.shape, dtype))
        return out
    out = runtime.zeros(shape, dtype)
    if name == "unindex":
        positions = prims.GETITEM.impl(_positions(shape), *host_index, spec=params["spec"])
    else:  # scatter_add: the adjoint of gather from an array of `shape`
        positions = prims.GATHER.impl(_positions(shape), *host_index, dim=params["dim"])
    index.add_at(out, np.asarray(positions), x)
    return out


def _positions(shape: tuple) -> np.ndarray:
    return np.arange(shapes.numel(tuple(shape)), dtype=np.int64).reshape(shape)


def _check_devices(prim: Primitive, datas: Sequence) -> None:
    """Every array operand must be on the GPU; 0-d host values are scalars (as in PyTorch)."""
    skip_after = (2 if prim.name == "setitem" else 1) if prim.kind is INDEX else len(datas)  # host index ok
    for d in datas[:skip_after]:
        if core.on_host(d) and d.ndim > 0:
            raise RuntimeError(
                f"Expected all tensors to be on the same device, but found at least two devices, {CUDA} and "
                f"cpu! (in op '{prim.name}': a cpu tensor of shape {list(d.shape)}); move it with "
                ".to('cuda') or move the others with .cpu()")


def _elementwise(prim: Primitive, datas: list, params: dict, shape: tuple, dtype: np.dtype):
    operands = [d[()] if core.on_host(d) else d for d in datas]
    x_dtype = datas[0].dtype
    expr = scalar_expression(prim, params, x_dtype, dtype, [f"x{i}" for i in range(len(datas))])
    return elementwise.elementwise(expr, operands, tuple(shape), dtype)


def _reduction(prim: Primitive, datas: list, params: dict, shape: tuple, dtype: np.dtype):
    """A reduction as its declaration says: its combine rule (the kernel table's row), its
    finalisation scale, or its index-carrying kernel; norm/var/std compose plain reductions."""
    x = datas[0]
    reduction = prim.reduction
    if reduction is None:  # norm, var, std: composed of elementwise kernels and plain reductions
        return _composite_reduction(prim.name, x, params, tuple(shape), dtype)
    ndim = len(x.shape)
    if reduction.returns_index:
        dim, keepdim = params["dim"], params["keepdim"]
        if dim is None:
            x, dim, keepdim = x.reshape((x.size,)), 0, False
        _, index = reduce.arg_reduce(x, reduction.combine, dim % max(1, len(x.shape)), keepdim)
        return index.reshape(shape) if tuple(index.shape) != tuple(shape) else index
    if "dim" in params:  # along one dim (max_dim, min_dim)
        dims = (params["dim"] % max(1, ndim),) if ndim else ()
    else:
        dims = tuple(range(ndim)) if params["dims"] is None else tuple(sorted(d % max(1, ndim) for d in params["dims"]))
    scale = reduction.scale(shapes.numel(tuple(x.shape[d] for d in dims)))
    out = reduce.reduce(x, reduction.combine, dims, params["keepdim"], dtype, scale)
    return out.reshape(shape) if tuple(out.shape) != tuple(shape) else out


def _composite_reduction(name: str, x, params: dict, shape: tuple, dtype: np.dtype):
    """norm, var and std as the NumPy implementations in prims.py compute them, from GPU passes."""
    dims, keepdim = tuple(params["dims"]), params["keepdim"]
    count = shapes.numel(tuple(x.shape[d] for d in dims))
    full = tuple(x.shape)
    if name == "norm":
        p = params["p"]
        if p == 2:
            squares = elementwise.elementwise("(x0 * x0)", [x], full, dtype)
            total = _reduce(squares, "sum", dims, keepdim, dtype)
            return elementwise.elementwise("math.sqrt(x0)", [total], shape, dtype)
        magnitude = elementwise.elementwise("math.fabs(x0)", [x], full, dtype)
        if p == np.inf:
            return runtime.zeros(shape, dtype) if count == 0 else _reduce(magnitude, "max", dims, keepdim, dtype)
        if p == 1:
            return _reduce(magnitude, "sum", dims, keepdim, dtype)
        powers = elementwise.elementwise("math.pow(x0, x1)", [magnitude, dtype.type(p)], full, dtype)
        total = _reduce(powers, "sum", dims, keepdim, dtype)
        return elementwise.elementwise("math.pow(x0, x1)", [total, dtype.type(1.0 / p)], shape, dtype)
    mean = _reduce(x, "sum", dims, True, dtype, core.mean_scale(count))
    deviations = elementwise.elementwise("((x0 - x1) * (x0 - x1))", [x, mean], full, dtype)
    denominator = max(count - params["correction"], 0)
    variance = _reduce(deviations, "sum", dims, keepdim, dtype, 1.0 / denominator if denominator else float("inf"))
    return variance if name == "var" else elementwise.elementwise("math.sqrt(x0)", [variance], shape, dtype)


def _reduce(x, op: str, dims: tuple, keepdim: bool, dtype: np.dtype, scale: float = 1.0):
    return reduce.reduce(x, op, dims, keepdim, dtype, scale)


def _matmul(a, b, shape: tuple, dtype: np.dtype):
    """np.matmul semantics (vectors, matrices, broadcast batches) on the 2-D/3-D kernel."""
    a = _on_device(a)
    b = _on_device(b)
    a2 = a.reshape((1,) + tuple(a.shape)) if len(a.shape) == 1 else a
    b2 = b.reshape(tuple(b.shape) + (1,)) if len(b.shape) == 1 else b
    batch = shapes.broadcast(tuple(a2.shape[:-2]), tuple(b2.shape[:-2]))
    if not batch:
        out = matmul.matmul(a2, b2)
    else:
        n = shapes.numel(batch)
        a3 = _expand_batch(a2, batch).reshape((n,) + tuple(a2.shape[-2:]))
        b3 = _expand_batch(b2, batch).reshape((n,) + tuple(b2.shape[-2:]))
        out = matmul.matmul(a3, b3)
    return out.reshape(tuple(shape))


def _on_device(d):
    return to_device(d) if core.on_host(d) else d


def _expand_batch(x, batch: tuple):
    full_shape = tuple(batch) + tuple(x.shape[-2:])
    if tuple(x.shape) == full_shape:
        return x
    (_, strides), offset = views.geometry_of(tuple(x.shape), lambda v: np.broadcast_to(v, full_shape))
    return layout.strided_copy(x, full_shape, strides, offset)


def _on_host(prim: Primitive, datas: list, params: dict, dtype: np.dtype):
    """Ops without a CUDA kernel yet (integer-array indexing, setitem, gather, scatter_add):
    computed by the NumPy implementation on host copies, with a one-time warning."""
    if prim.name not in _warned_host:
        _warned_host.add(prim.name)
        warnings.warn(f"jitgrad: '{prim.name}' has no CUDA kernel yet; for GPU tensors it runs on the CPU "
                      "(inputs copied to the host, the result copied back)", HostFallbackWarning, stacklevel=5)
    host = [d if core.on_host(d) else runtime.to_host(d) for d in datas]
    out = prim.impl(*host, **params)
    return to_device(np.asarray(out, dtype=dtype))
