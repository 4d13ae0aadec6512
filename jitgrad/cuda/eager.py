"""Eager ops on GPU storage. core.bind hands every op with an input in GPU memory to `run`,
which picks the kernel family from the op's declaration: elementwise ops fill the op's scalar
template (the same text the fused CPU loops use) into a generated CUDA kernel; reductions,
matmul, layout changes (views.py), convolutions and scans call the kernels in kernels/cuda;
indexing with index arrays or boolean masks, norm/var/std and batched matmul run the library call a compiled
program would run for them (built from lower_calls.py's Call). GPU storage is always a
C-contiguous device array: shape ops write new arrays (as in JAX), so no two GPU tensors alias
and in-place writes can never reach a value saved for backward through a hidden view."""
from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from jitgrad._kernels.cuda import calls, conv, elementwise, layout, matmul, reduce, runtime, scan
from jitgrad._kernels.spec import Array

from .. import core, devices, dtypes, prims, shapes
from ..core import ELEMENTWISE, INDEX, MATMUL, REDUCTION, TRANSFER, Primitive
from ..ir import Eqn, Var
from ..lower_calls import lower_call
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
    if prim.name in conv.PRIMS:
        return conv.run(prim.name, [_on_device(d) for d in datas], params, tuple(shape))
    if prim.name in scan.PRIMS:
        return scan.run(prim.name, [_on_device(d) for d in datas], params, dtype)
    if prim.name == "cat":
        return layout.concatenate(datas, params["dim"])
    if prim.name == "stack":
        dim = params["dim"] % (len(datas[0].shape) + 1)
        parts = [d.reshape(d.shape[:dim] + (1,) + d.shape[dim:]) for d in datas]
        return layout.concatenate(parts, dim)
    return _on_host(prim, datas, params, dtype)


_INDEXED = {"getitem", "unindex", "setitem", "gather", "scatter_add", "mask_select", "mask_scatter"}
_calls: dict = {}  # (op, params, operand shapes and dtypes) -> (function, its constants on the GPU)


def _indexed(name: str, datas: list, params: dict, shape: tuple, dtype: np.dtype):
    """Indexing with index arrays, setitem, gather, boolean-mask selection and their adjoints:
    the library call that compiled programs run (jitgrad/lower_calls.py -> kernels/cuda/calls.py),
    index arrays and masks on the GPU, bounds and mask counts checked in the kernel."""
    return _library_call(prims.BY_NAME[name], [_on_device(d) for d in datas], params, shape, dtype)


def _library_call(prim: Primitive, datas: list, params: dict, shape: tuple, dtype: np.dtype):
    """The call's function run on `datas`; float16 operands are widened to float32 and a float16
    result rounded back (kernels compute float16 in float32, as the CPU kernels do)."""
    if np.dtype(dtype) == np.float16 or any(d.dtype == np.float16 for d in datas):
        wide = [_cast(d, np.float32) if d.dtype == np.float16 else d for d in datas]
        out_dtype = np.float32 if np.dtype(dtype) == np.float16 else dtype
        out = _library_call(prim, wide, params, shape, out_dtype)
        return _cast(out, np.float16) if np.dtype(dtype) == np.float16 else out
    key = (prim.name, repr(sorted(params.items())), tuple((tuple(d.shape), str(d.dtype)) for d in datas))
    entry = _calls.get(key)
    if entry is None:
        entry = _calls[key] = _prepare_call(prim, datas, params, shape, dtype)
    fn, consts = entry
    return fn(*datas, *consts)


def _cast(data, dtype: np.dtype):
    return elementwise.elementwise("x0", [data], tuple(data.shape), np.dtype(dtype))


def _prepare_call(prim: Primitive, datas: list, params: dict, shape: tuple, dtype: np.dtype):
    """The function and constants of the one-equation program `prim(*datas)`: its Call from
    lower_calls (the integer maps it registers become GPU constants, made once per key)."""
    ins = [Var(tuple(d.shape), np.dtype(d.dtype)) for d in datas]
    eqn = Eqn(prim, ins, params, Var(tuple(shape), np.dtype(dtype)))
    names = [f"x{i}" for i in range(len(datas))]
    arrays = {n: Array(n, v.shape, v.dtype.name) for n, v in zip(names, ins)}
    consts: dict = {}

    def const(value: np.ndarray) -> str:
        name = f"c{len(consts)}"
        consts[name] = runtime.to_device(np.ascontiguousarray(value))
        arrays[name] = Array(name, tuple(value.shape), value.dtype.name)
        return name

    step = lower_call(eqn, names, "out", const)
    arrays["out"] = Array("out", tuple(shape), np.dtype(dtype).name)
    return calls.function(step, arrays, names + list(consts)), list(consts.values())


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
    finalisation scale, or its index-carrying kernel; norm/var/std are row-kernel calls."""
    x = datas[0]
    if x.dtype == np.float16:  # accumulated in float32 and rounded once, as PyTorch and the CPU kernels do
        wide = np.dtype(np.float32) if np.dtype(dtype) == np.float16 else dtype
        out = _reduction(prim, [_cast(_on_device(x), np.float32), *datas[1:]], params, shape, wide)
        return _cast(out, np.float16) if np.dtype(dtype) == np.float16 else out
    reduction = prim.reduction
    if reduction is None:  # norm, var, std: the row kernels compiled programs call
        return _library_call(prim, [x], params, tuple(shape), dtype)
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


def _matmul(a, b, shape: tuple, dtype: np.dtype):
    """np.matmul semantics: vectors and matrices on the 2-D kernel; with a batch, the library
    call compiled programs run (one product over flattened rows, or the batched kernel reading
    broadcast operands through batch maps)."""
    a = _on_device(a)
    b = _on_device(b)
    if len(a.shape) > 2 or len(b.shape) > 2:
        return _library_call(prims.MATMUL_PRIM, [a, b], {}, tuple(shape), dtype)
    a2 = a.reshape((1,) + tuple(a.shape)) if len(a.shape) == 1 else a
    b2 = b.reshape(tuple(b.shape) + (1,)) if len(b.shape) == 1 else b
    return matmul.matmul(a2, b2).reshape(tuple(shape))


def _on_device(d):
    return to_device(d) if core.on_host(d) else d


def _on_host(prim: Primitive, datas: list, params: dict, dtype: np.dtype):
    """A primitive with no CUDA kernel (none of the op table's; a newly declared op until it
    gets one): computed by the NumPy implementation on host copies, with a one-time warning."""
    if prim.name not in _warned_host:
        _warned_host.add(prim.name)
        warnings.warn(f"jitgrad: '{prim.name}' has no CUDA kernel yet; for GPU tensors it runs on the CPU "
                      "(inputs copied to the host, the result copied back)", HostFallbackWarning, stacklevel=5)
    host = [d if core.on_host(d) else runtime.to_host(d) for d in datas]
    out = prim.impl(*host, **params)
    return to_device(np.asarray(out, dtype=dtype))
