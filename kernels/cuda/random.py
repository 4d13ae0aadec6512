"""Device random numbers: uniform [0, 1) and standard normal, from numba.cuda.random's xoroshiro128+
generators, one per launched thread, grid-stride over the output. The states are seeded inside the
kernel (SplitMix64 of seed + thread id, numba's init_xoroshiro128p_state), so a call costs one
launch and no host work; the state buffer is reused. Deterministic per seed and device."""
from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from numba import cuda  # module global: the simulator patches kernel globals
from numba.core.errors import NumbaDeprecationWarning

with warnings.catch_warnings():  # under the simulator numba's own random module warns on import
    warnings.simplefilter("ignore", NumbaDeprecationWarning)
    from numba.cuda.random import init_xoroshiro128p_state, xoroshiro128p_dtype, xoroshiro128p_next

from . import runtime
from .layout import flat

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_TWO_PI = 2.0 * math.pi
_states: dict = {}


@cuda.jit(device=True)
def _seed_thread(states, tid, seed):
    """Give thread tid its own xoroshiro128+ state: SplitMix64(seed + tid * golden)."""
    init_xoroshiro128p_state(states, tid, seed + np.uint64(tid) * _GOLDEN)


@cuda.jit(device=True)
def _unit_f64(states, tid):
    """Uniform float64 in [0, 1) from the top 53 bits."""
    return np.float64(xoroshiro128p_next(states, tid) >> np.uint32(11)) * (1.0 / 9007199254740992.0)


@cuda.jit(device=True)
def _unit_f32(states, tid):
    """Uniform float32 in [0, 1) from the top 24 bits (exact: never rounds up to 1)."""
    return np.float32(xoroshiro128p_next(states, tid) >> np.uint32(40)) * np.float32(1.0 / 16777216.0)


@cuda.jit(cache=True)
def _uniform_f32(out, states, seed):
    tid = cuda.grid(1)
    _seed_thread(states, tid, seed)
    for i in range(tid, out.size, cuda.gridsize(1)):
        out[i] = _unit_f32(states, tid)


@cuda.jit(cache=True)
def _uniform_f64(out, states, seed):
    tid = cuda.grid(1)
    _seed_thread(states, tid, seed)
    for i in range(tid, out.size, cuda.gridsize(1)):
        out[i] = _unit_f64(states, tid)


@cuda.jit(cache=True)
def _normal(out, states, seed):
    """Box-Muller in float64: u1 in (0, 1] so the log is finite; cast on store."""
    tid = cuda.grid(1)
    _seed_thread(states, tid, seed)
    for i in range(tid, out.size, cuda.gridsize(1)):
        u1 = 1.0 - _unit_f64(states, tid)
        u2 = _unit_f64(states, tid)
        out[i] = math.sqrt(-2.0 * math.log(u1)) * math.cos(_TWO_PI * u2)


def _launch(kernel, shape: Any, dtype: Any, seed: int):
    out = runtime.empty(shape, dtype)
    n = out.size
    if n:
        blocks, threads = runtime.launch_config(n)
        states = _states.get(blocks * threads)
        if states is None:
            states = _states[blocks * threads] = runtime.empty((blocks * threads,), xoroshiro128p_dtype)
        runtime.configure(kernel, blocks, threads)(flat(out), states, np.uint64(int(seed) & (2**64 - 1)))
    return out


def _check_float(dtype: Any) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"random numbers need a float32 or float64 dtype, got {dtype}")
    return dtype


def uniform(shape: Any, dtype: Any, seed: int):
    """Device array of uniform samples in [0, 1)."""
    dtype = _check_float(dtype)
    return _launch(_uniform_f32 if dtype == np.float32 else _uniform_f64, shape, dtype, seed)


def normal(shape: Any, dtype: Any, seed: int):
    """Device array of standard normal samples."""
    return _launch(_normal, shape, _check_float(dtype), seed)
