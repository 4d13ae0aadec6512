"""Fused optimizer updates (SGD, Adam/AdamW) as Numba kernels: one pass over memory per tensor,
no NumPy temporaries. Imports nothing from jitgrad.

Two entry points per optimizer:
* ``sgd_one`` / ``adam_one``: one tensor (1-D contiguous views of parameter, gradient, state);
* ``sgd_many`` / ``adam_many``: every tensor of a batch in ONE call: parameters and state as
  numba typed Lists of 1-D views (built once and reused while the arrays stay the same), the
  gradients concatenated into one flat array with ``offsets[k]`` where tensor k starts.
The CPU update math lives once, in ``_sgd_range`` / ``_adam_range`` (a loop over one tensor: as
a loop with a known non-negative index it vectorises; an inlined per-element helper did not,
measured 7x slower).
kernels/cuda/optim.py repeats the same element math as grid-stride CUDA kernels: change both together.
Float scalars arrive in the arrays' dtype and every constant is precomputed by the caller, so a
float32 update is float32 math (as in PyTorch) and vectorises: no float64 literal in the loops.
"""
from __future__ import annotations

import math

import numba
import numpy as np

# error_model="numpy": no zero-division checks in the loop, so it vectorises. No fastmath: NaN
# and inf propagate as in PyTorch.
_JIT = dict(cache=True, nogil=True, error_model="numpy")


@numba.njit(**_JIT)
def _sgd_range(p, g, buf, lr, weight_decay, momentum, one_minus_dampening, nesterov, maximize, first):
    """SGD over one 1-D tensor (and its momentum buffer buf, untouched when momentum == 0)."""
    for i in range(p.size):
        d = -g[i] if maximize else g[i]
        if weight_decay != 0:
            d = d + weight_decay * p[i]
        if momentum != 0:
            buf[i] = d if first else momentum * buf[i] + one_minus_dampening * d
            d = d + momentum * buf[i] if nesterov else buf[i]
        p[i] = p[i] - lr * d


@numba.njit(**_JIT)
def _adam_range(p, g, m, v, vmax, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decay, amsgrad,
                maximize, step_size, bc2_sqrt):
    """Adam over one 1-D tensor; AdamW passes weight_decay=0 and decay=1-lr*wd (Adam: decay=1)."""
    for i in range(p.size):
        d = -g[i] if maximize else g[i]
        x = p[i] * decay
        if weight_decay != 0:
            d = d + weight_decay * x
        m[i] = m[i] + one_minus_beta1 * (d - m[i])
        v[i] = beta2 * v[i] + one_minus_beta2 * d * d
        vi = v[i]
        if amsgrad:
            if vi > vmax[i]:
                vmax[i] = vi
            vi = vmax[i]
        p[i] = x - step_size * m[i] / (math.sqrt(vi) / bc2_sqrt + eps)


@numba.njit(**_JIT)
def sgd_one(p, g, buf, lr, weight_decay, momentum, one_minus_dampening, nesterov, maximize, first):
    """SGD on one tensor: p, g, buf are 1-D contiguous (buf unused when momentum == 0)."""
    _sgd_range(p, g, buf, lr, weight_decay, momentum, one_minus_dampening, nesterov, maximize, first)


@numba.njit(**_JIT)
def sgd_many(ps, g, offsets, bufs, lr, weight_decay, momentum, one_minus_dampening, nesterov, maximize, first):
    """SGD on every tensor of a batch: ps/bufs typed Lists, g all gradients back to back."""
    for k in range(len(ps)):
        p = ps[k]
        _sgd_range(p, g[offsets[k]:offsets[k] + p.size], bufs[k], lr, weight_decay, momentum, one_minus_dampening,
                   nesterov, maximize, first)


@numba.njit(**_JIT)
def adam_one(p, g, m, v, vmax, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decay, amsgrad,
             maximize, step_size, bc2_sqrt):
    """Adam/AdamW on one tensor (vmax unused unless amsgrad)."""
    _adam_range(p, g, m, v, vmax, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decay, amsgrad,
                maximize, step_size, bc2_sqrt)


@numba.njit(**_JIT)
def adam_many(ps, g, offsets, ms, vs, vmaxs, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decay,
              amsgrad, maximize, step_size, bc2_sqrt):
    """Adam/AdamW on every tensor of a batch (all at the same step count)."""
    for k in range(len(ps)):
        p = ps[k]
        _adam_range(p, g[offsets[k]:offsets[k] + p.size], ms[k], vs[k], vmaxs[k], one_minus_beta1, beta2,
                    one_minus_beta2, eps, weight_decay, decay, amsgrad, maximize, step_size, bc2_sqrt)


def typed_list(arrays: list[np.ndarray]) -> numba.typed.List:
    """A numba typed List of 1-D contiguous arrays (all of one dtype)."""
    out = numba.typed.List()
    for a in arrays:
        out.append(a)
    return out
