"""Runs one optimizer step over a param group, per dtype, with one of three executors:

* NUMPY: NumPy in-place ops per tensor (several passes over memory, one call per op);
* PER_TENSOR: one fused Numba kernel call per tensor (one pass over memory);
* ONE_CALL: one fused Numba kernel call for ALL tensors of the dtype (chunks of at most
  ONE_CALL_MAX_TENSORS: each tensor is its own argument, no lists, no concatenation).

Both Numba executors run the optimizer's update rule (kernels/optim_rules.py) rendered into a
loop by kernels/optim.py, through a cached _Plan: the flat views of parameters and state, the
kernel, and the hyper-parameters as scalars, reused while the same arrays and options come back.

choose() picks by the measured rule in its docstring; the group option fused=False forces NUMPY.
Parameters whose storage is in GPU memory take a fourth executor, CUDA: the same rule rendered
into one fused kernel launch per tensor (kernels/cuda/optim.py), whatever the group's `fused`
option says.
"""
from __future__ import annotations

import numpy as np

from jitgrad._kernels import optim as kernels

from .. import core, devices, prims
from ..call_args import entry_point
from ..nn.module import storage_moves

NUMPY, PER_TENSOR, ONE_CALL, CUDA = "numpy", "per_tensor", "one_call", "cuda"
# Mean tensor size (elements) below which ONE_CALL beats PER_TENSOR (see choose()).
ONE_CALL_MAX_MEAN_SIZE = 4096
# At most this many tensors per ONE_CALL kernel (its arguments; bounds its compile time).
ONE_CALL_MAX_TENSORS = 32


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
    """Update every parameter of `group` that has a gradient; bump each one's version counter.
    (Optimizer.step first tries the group's _GroupPlan, `opt._cache[index]`, which this leaves.)"""
    if opt._moves_seen != storage_moves[0]:
        _follow_moves(opt)
    by_dtype: dict = {}
    for p in group["params"]:
        if p._grad is not None:
            data = p._data
            # Host storage is keyed by dtype alone; GPU storage by (CUDA, dtype).
            key = data.dtype if type(data) is np.ndarray or core.on_host(data) else (CUDA, data.dtype)
            by_dtype.setdefault(key, []).append(p)
    for dtype, params in by_dtype.items():
        if type(dtype) is tuple:
            _cuda_step(opt, group, params, dtype[1])
            continue
        keys = []
        for p in params:
            st = opt.state.get(p)
            if st is None:
                opt.state[p] = {}
                st = opt.state[p]
                opt._init_state(group, p, st)
            keys.append(opt._advance(group, p, st))
        mode = _update(opt, index, group, dtype, params, keys)
        if len(by_dtype) == 1 and mode != NUMPY and keys.count(keys[0]) == len(keys):
            opt._cache[index] = _GroupPlan(opt, index, group, params, mode)


def _update(opt, index: int, group: dict, dtype, params: list, keys: list) -> str:
    """Update host `params` (one dtype, step keys `keys` counted already); returns the executor used."""
    names = opt.state_names
    uniform = keys.count(keys[0]) == len(keys)
    # (float16: NumPy's update; Numba's CPU target has no float16)
    mode = NUMPY if opt._rule is None or dtype == np.float16 else choose(group, params, uniform)
    if mode == NUMPY:
        for p, key in zip(params, keys, strict=True):
            st = opt.state[p]
            opt._numpy_update(group, p._data, p._grad._data, [st[n]._data if n in st else None for n in names], key)
    else:
        by_key: dict = {}
        for p, key in zip(params, keys, strict=True):
            by_key.setdefault(key, []).append(p)
        for key, same in by_key.items():
            _planned(opt, index, group, dtype, same, key, mode == ONE_CALL)
    for p in params:
        p._version_counter.bump("optimizer.step")
    return mode


class _GroupPlan:
    """A group's whole step as the last one ran it (which parameters have a gradient, one host
    dtype, one step key, a Numba executor and its _Plan): the next step with the same shape of
    work skips the grouping. run() returns False, before changing anything, where the general
    path must run (its checks are those the general path would reach the same decisions by)."""

    __slots__ = ("all", "has_grad", "params", "dtype", "mode", "fused", "plan_key", "values", "stamp")

    def __init__(self, opt, index: int, group: dict, params: list, mode: str) -> None:
        self.all = list(group["params"])
        self.has_grad = [p._grad is not None for p in self.all]
        self.params = params
        self.dtype = params[0]._data.dtype
        self.mode = mode
        self.fused = group.get("fused")
        self.plan_key = (index, self.dtype, mode == ONE_CALL, tuple(map(id, params)))
        self.values = None  # the group's options when its flags were last found unchanged
        # param_groups' edit count then (None: not counted, some group is a plain dict): while it stays the
        # same, so do the options, and `values` is not built again
        self.stamp = None

    def run(self, opt, group: dict) -> bool:
        current = group["params"]
        if len(current) != len(self.all):
            return False
        plan = opt._cache.get(self.plan_key)
        if plan is None:
            return False
        if self.stamp is None or opt._groups_version[0] != self.stamp:  # param_groups edited since (groups.py)
            values = tuple(group.values())
            if values != self.values:  # options changed: the same executor and flags?
                if group.get("fused") != self.fused or plan.flag_values != opt._flag_values(group):
                    return False
                self.values = values
            self.stamp = opt._groups_version_now()
        values = self.values
        for p, q, had in zip(current, self.all, self.has_grad):
            if p is not q or (p._grad is not None) is not had:
                return False
        dtype = self.dtype
        state = opt._state
        params = self.params
        for p in params:
            data = p._data
            if type(data) is not np.ndarray or state.get(p) is None:
                return False
            d, g = data.dtype, p._grad._data.dtype
            if (d is not dtype and d != dtype) or (g is not dtype and g != dtype):
                return False
        keys = [opt._advance(group, p, state[p]) for p in params]  # (counts the step: no way back from here)
        key = keys[0]
        if keys.count(key) != len(keys) or not plan.current(opt, params, group):
            _update(opt, self.plan_key[0], group, dtype, params, keys)
            return True
        plan.run(opt, group, dtype, key, values)
        for p in params:
            p._version_counter.bump("optimizer.step")
        return True


class _Plan:
    """One batch of a group's update (its parameters at one step key): the flat views of
    parameters and state, the kernel(s), and the hyper-parameter scalars; valid while the same
    arrays and group options come back."""

    __slots__ = ("held", "calls", "names", "absent", "flag_values", "hyper_names", "seen", "scalars", "entries")

    def __init__(self, opt, group: dict, dtype, params: list, one_call: bool) -> None:
        names = tuple(n for n in opt.state_names if n in opt.state[params[0]])
        self.names = names
        self.absent = tuple(n for n in opt.state_names if n not in names)
        self.held = self._held(opt, params, names)
        flags = opt._flags(group)
        self.flag_values = opt._flag_values(group)
        self.hyper_names = kernels.hyper_names(opt._rule, flags, names)
        size = ONE_CALL_MAX_TENSORS if one_call else 1
        self.calls = []  # (kernel, [(parameter, its flat view, its state's flat views)] of one chunk)
        for start in range(0, len(params), size):
            chunk = params[start:start + size]
            items = [(p, p._data.reshape(-1), tuple(opt.state[p][n]._data.reshape(-1) for n in names)) for p in chunk]
            self.calls.append((kernels.step_kernel(opt._rule, flags, names, len(chunk)), items))
        self.seen = None
        self.scalars = ()
        # per call: the kernel's compiled overload for the arguments it takes when every gradient is a
        # plain aligned, writeable, C-contiguous array (the parameters and state are the plan's own, the
        # scalars of the plan's dtype): called without Numba's type dispatch; found after the first such call
        self.entries = [None] * len(self.calls)

    @staticmethod
    def _held(opt, params: list, names: tuple) -> list:
        held = []
        for p in params:
            held.append(p._data)
            st = opt.state[p]
            held.extend(st[n]._data if n in st else None for n in names)
        return held

    def current(self, opt, params: list, group: dict) -> bool:
        held = self.held
        k = 0
        for p in params:
            if p._data is not held[k]:
                return False
            k += 1
            st = opt._state[p]
            for n in self.names:
                t = st.get(n)
                if t is None or t._data is not held[k]:
                    return False
                k += 1
        if k != len(held):
            return False
        first = opt._state[params[0]]
        for n in self.absent:  # (state made since, e.g. a momentum buffer: another plan)
            if n in first:
                return False
        return True

    def run(self, opt, group: dict, dtype, key: tuple, values: tuple | None = None) -> None:
        """The update; `values`: tuple(group.values()) when the caller has it."""
        seen = (tuple(group.values()) if values is None else values, key)
        if seen != self.seen:
            f = dtype.type
            values = opt._hypers(group, key)
            self.scalars = tuple(f(values[n]) for n in self.hyper_names)
            self.seen = seen
        scalars = self.scalars
        entries = self.entries
        for c, (kernel, items) in enumerate(self.calls):
            args = []
            plain = True
            for p, flat, state in items:
                g = p._grad._data
                flags = g.flags
                if not flags.c_contiguous:
                    g = np.ascontiguousarray(g)
                    plain = False
                elif type(g) is not np.ndarray or not flags.writeable or not flags.aligned:
                    plain = False
                args.append(flat)
                args.append(g if g.ndim == 1 else g.reshape(-1))
                if state:
                    args.extend(state)
            args.extend(scalars)
            if not plain:
                kernel(*args)
                continue
            call = entries[c]
            if call is None:  # (the first call through Numba's dispatch compiles the overload if needed)
                kernel(*args)
                entries[c] = entry_point(kernel, args)
            else:
                call(*args)


def _planned(opt, index: int, group: dict, dtype, params: list, key: tuple, one_call: bool) -> None:
    """Update `params` (all at step key `key`) with the rule's Numba kernel through a cached plan."""
    if not all(p._data.flags.c_contiguous for p in params):
        st = opt.state
        for p in params:
            opt._numpy_update(group, p._data, p._grad._data, [st[p][n]._data if n in st[p] else None
                                                               for n in opt.state_names], key)
        return
    cache_key = (index, dtype, one_call, tuple(map(id, params)))
    plan = opt._cache.get(cache_key)
    if plan is None or plan.flag_values != opt._flag_values(group) or not plan.current(opt, params, group):
        plan = opt._cache[cache_key] = _Plan(opt, group, dtype, params, one_call)
    plan.run(opt, group, dtype, key)


# ----- GPU parameters --------------------------------------------------------------------------


def _cuda_step(opt, group: dict, params: list, dtype: np.dtype) -> None:
    """One fused kernel launch per GPU parameter, the optimizer's rule rendered for CUDA; state
    found on the host (a parameter moved after earlier steps, a loaded state dict) is moved to the
    GPU first."""
    if opt._rule is None:
        raise RuntimeError(f"{type(opt).__name__} has no GPU update kernel yet: its parameters must be on the CPU "
                           "(move the model with .cpu(), or use SGD/Adam/AdamW for GPU parameters)")
    from jitgrad._kernels.cuda import optim as cuda_optim
    flags = opt._flags(group)
    f = dtype.type
    for p in params:
        st = opt.state.get(p)
        if st is None:
            opt.state[p] = {}
            st = opt.state[p]
            opt._init_state(group, p, st)
        key = opt._advance(group, p, st)
        names = tuple(n for n in opt.state_names if n in st)
        arrays = []
        for n in names:
            t = st[n]
            if core.on_host(t._data):
                t._data = _moved(t._data, p)
            arrays.append(t._data)
        values = opt._hypers(group, key)
        hypers = tuple(f(values[n]) for n in kernels.hyper_names(opt._rule, flags, names))
        cuda_optim.step(opt._rule, flags, names, p._data, p._grad._data, arrays, hypers)
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
