"""Runs one optimizer step over a param group, per dtype, with one of three executors:

* NUMPY: NumPy in-place ops per tensor (several passes over memory, one call per op);
* PER_TENSOR: one fused Numba kernel call per tensor (one pass over memory);
* ONE_CALL: one fused Numba kernel call for ALL tensors of the dtype (parameters and state in
  cached typed Lists, gradients concatenated into one flat buffer).

choose() picks by the measured rule in its docstring; the group option fused=False forces NUMPY.
"""
from __future__ import annotations

import operator

import numpy as np

NUMPY, PER_TENSOR, ONE_CALL = "numpy", "per_tensor", "one_call"
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
    by_dtype: dict = {}
    for p in group["params"]:
        if p._grad is not None:
            by_dtype.setdefault(p._data.dtype, []).append(p)
    names = opt.state_names
    for dtype, params in by_dtype.items():
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
        mode = choose(group, params, uniform)
        if mode == ONE_CALL and uniform and all(p._data.flags.c_contiguous for p in params):
            _one_call(opt, index, group, dtype, params, arrays, keys[0])
        else:
            for p, arrs, key in zip(params, arrays, keys, strict=True):
                _per_tensor(opt, group, p, arrs, key, mode == NUMPY)
        for p in params:
            p._version.bump("optimizer.step")


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
