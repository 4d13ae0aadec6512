"""Runs one optimizer step over a param group, per dtype, with one of three executors:

* NUMPY: NumPy in-place ops per tensor (several passes over memory, one call per op);
* PER_TENSOR: one fused Numba kernel call per tensor (one pass over memory);
* ONE_CALL: one fused Numba kernel call for ALL tensors of the dtype (parameters and state in
  cached typed Lists, gradients concatenated into one flat buffer).

choose() picks by the measured rule in its docstring; the group option fused=False forces NUMPY.
Parameters whose storage is in GPU memory take a fourth executor, CUDA: one fused kernel launch
per tensor (kernels/cuda/optim.py), whatever the group's `fused` option says.
"""
from __future__ import annotations

import operator

import numpy as np

from .. import core, devices, prims
from ..nn.module import storage_moves

NUMPY, PER_TENSOR, ONE_CALL, CUDA = "numpy", "per_tensor", "one_call", "cuda"
# Mean tensor size (elements) below which ONE_CALL beats PER_TENSOR (see choose()).
ONE_CALL_MAX_MEAN_SIZE = 4096
_DUMMY = {}


def dummy(dtype: np.dtype) -> np.ndarray:
    """A 1-element stand-in for a state array the kernel does not touch (e.g. no momentum)."""
    d = _DUMMY.get(dtype)
    if d is None:
        d = _DUMMY[dtype] = np.zeros(1, dtype=dtype)
    return d


def choose(group: dict, params: list, uniform: bool) -> str:
    """NUMPY when the group says fused=False; otherwise a Numba kernel: ONE_CALL for batches of
    small tensors (mean size < ONE_CALL_MAX_MEAN_SIZE) that share one step count, PER_TENSOR
    for large tensors (there ONE_CALL's extra gradient copy costs more than the calls it saves).
    Measured with benchmarks/optim_step.py (figures in the module docstring there)."""
    mode = group.get("fused")
    if mode is False:
        return NUMPY
    if isinstance(mode, str):
        return mode
    if not uniform or len(params) == 1:
        return PER_TENSOR
    total = 0
    for p in params:
        total += p._data.size
    return ONE_CALL if total < ONE_CALL_MAX_MEAN_SIZE * len(params) else PER_TENSOR


def step_group(opt, index: int, group: dict) -> None:
    """Update every parameter of `group` that has a gradient; bump each one's version counter."""
    if opt._moves_seen != storage_moves[0]:
        _follow_moves(opt)
    by_dtype: dict = {}
    for p in group["params"]:
        if p._grad is not None:
            data = p._data
            # Host storage is keyed by dtype alone; GPU storage by (CUDA, dtype).
            key = data.dtype if type(data) is np.ndarray or core.on_host(data) else (CUDA, data.dtype)
            by_dtype.setdefault(key, []).append(p)
    names = opt.state_names
    for dtype, params in by_dtype.items():
        if type(dtype) is tuple:
            _cuda_step(opt, group, params, dtype[1])
            continue
        keys = []
        arrays = []
        for p in params:
            st = opt.state.get(p)
            if st is None:
                st = opt.state[p] = {}
                opt._init_state(group, p, st)
            keys.append(opt._advance(group, p, st))
            arrays.append([st[n]._data if n in st else dummy(dtype) for n in names])
        uniform = keys.count(keys[0]) == len(keys)
        mode = NUMPY if opt._kernel_one is None else choose(group, params, uniform)
        if mode == ONE_CALL and uniform and all(p._data.flags.c_contiguous for p in params):
            _one_call(opt, index, group, dtype, params, arrays, keys[0])
        else:
            for p, arrs, key in zip(params, arrays, keys, strict=True):
                _per_tensor(opt, group, p, arrs, key, mode == NUMPY)
        for p in params:
            p._version_counter.bump("optimizer.step")


def _per_tensor(opt, group: dict, p, arrays: list, key: tuple, numpy: bool) -> None:
    data, grad = p._data, p._grad._data
    if numpy or not data.flags.c_contiguous:
        opt._numpy_update(group, data, grad, arrays, key)
        return
    flat = [a.reshape(-1) for a in arrays]
    opt._kernel_one(data.reshape(-1), np.ascontiguousarray(grad).reshape(-1), *flat,
                    *opt._scalars(group, key, data.dtype))


class _Batch:
    """Typed Lists, offsets and gradient buffer of one (group, dtype) batch, reused while the
    same arrays come back step after step."""

    __slots__ = ("held", "lists", "offsets", "gbuf")

    def __init__(self, held: list, columns: list, sizes: list, dtype: np.dtype) -> None:
        from kernels.optim import typed_list
        self.held = held
        self.lists = [typed_list([a.reshape(-1) for a in col]) for col in columns]
        self.offsets = np.zeros(len(sizes), dtype=np.int64)
        np.cumsum(sizes[:-1], out=self.offsets[1:])
        self.gbuf = np.empty(int(np.sum(sizes)), dtype=dtype)


def _one_call(opt, index: int, group: dict, dtype, params: list, arrays: list, key: tuple) -> None:
    held = [p._data for p in params]
    for arrs in arrays:
        held.extend(arrs)
    batch = opt._cache.get((index, dtype))
    if batch is None or len(batch.held) != len(held) or not all(map(operator.is_, batch.held, held)):
        columns = [[p._data for p in params]] + [list(col) for col in zip(*arrays, strict=True)]
        batch = opt._cache[(index, dtype)] = _Batch(held, columns, [p._data.size for p in params], dtype)
    np.concatenate([p._grad._data for p in params], axis=None, out=batch.gbuf)
    lists = batch.lists
    opt._kernel_many(lists[0], batch.gbuf, batch.offsets, *lists[1:], *opt._scalars(group, key, dtype))


# ----- GPU parameters --------------------------------------------------------------------------


def _cuda_step(opt, group: dict, params: list, dtype: np.dtype) -> None:
    """One fused kernel launch per GPU parameter; state found on the host (a parameter moved
    after earlier steps, a loaded state dict) is moved to the GPU first."""
    if not opt._kernel_cuda:
        raise RuntimeError(f"{type(opt).__name__} has no GPU update kernel yet: its parameters must be on the CPU "
                           "(move the model with .cpu(), or use SGD/Adam/AdamW for GPU parameters)")
    from kernels.cuda import optim as cuda_optim
    kernel = getattr(cuda_optim, opt._kernel_cuda)
    names = opt.state_names
    for p in params:
        st = opt.state.get(p)
        if st is None:
            st = opt.state[p] = {}
            opt._init_state(group, p, st)
        key = opt._advance(group, p, st)
        arrays = []
        for n in names:
            t = st.get(n)
            if t is None:
                arrays.append(cuda_optim.dummy(dtype))
                continue
            if core.on_host(t._data):
                t._data = _moved(t._data, p)
            arrays.append(t._data)
        kernel(p._data, p._grad._data, *arrays, *opt._scalars(group, key, dtype))
        p._version_counter.bump("optimizer.step")


def _moved(data, p):
    """`data` (state storage) copied onto the device of parameter p."""
    return devices.backend(p.device).move(data, str(p.device))


def _follow_moves(opt) -> None:
    """After Module.to moved or converted parameters, move their state tensors along onto the
    parameter's device and dtype (checked once per step through a global counter, so the CPU
    path pays nothing per parameter)."""
    for p, st in opt.state.items():
        on_host = core.on_host(p._data)
        for t in st.values():
            if not isinstance(t, core.TensorBase) or tuple(t.shape) != tuple(p.shape):
                continue
            if core.on_host(t._data) != on_host:
                t._data = core.host_array(t._data) if on_host else _moved(t._data, p)
            if t.dtype != p.dtype:
                t._data = t._data.astype(p.dtype) if on_host else _cast(t._data, p.dtype)
    opt._cache.clear()
    opt._moves_seen = storage_moves[0]


def _cast(data, dtype):
    return devices.backend_of(data).run(prims.CAST, [data], {"dtype": dtype}, tuple(data.shape), dtype)
