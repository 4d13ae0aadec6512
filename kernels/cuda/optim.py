"""Fused optimizer updates (SGD, Adam/AdamW) on GPU memory: one grid-stride kernel launch per
tensor, one pass over parameter, gradient and state, no host copies. Imports nothing from jitgrad.

The element math is exactly that of kernels/optim.py's ``_sgd_range`` / ``_adam_range`` (same
argument lists, float scalars in the arrays' dtype, every constant precomputed by the caller),
so a float32 update is float32 math and GPU and CPU steps agree. Arrays are C-contiguous device
arrays of one shape; a state array the update does not touch (no momentum, no amsgrad) may be a
one-element stand-in (see dummy()).
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda  # module global: the simulator patches kernel globals

from kernels.cuda import runtime
from kernels.cuda.layout import flat

_DUMMY: dict = {}


@cuda.jit(cache=True)
def _sgd_kernel(p, g, buf, lr, weight_decay, momentum, one_minus_dampening, nesterov, maximize, first):
    """SGD over one flat tensor (and its momentum buffer buf, untouched when momentum == 0)."""
    start = cuda.grid(1)
    step = cuda.gridsize(1)
    for i in range(start, p.size, step):
        d = -g[i] if maximize else g[i]
        if weight_decay != 0:
            d = d + weight_decay * p[i]
        if momentum != 0:
            buf[i] = d if first else momentum * buf[i] + one_minus_dampening * d
            d = d + momentum * buf[i] if nesterov else buf[i]
        p[i] = p[i] - lr * d


@cuda.jit(cache=True)
def _adam_kernel(p, g, m, v, vmax, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decay, amsgrad,
                 maximize, step_size, bc2_sqrt):
    """Adam over one flat tensor; AdamW passes weight_decay=0 and decay=1-lr*wd (Adam: decay=1)."""
    start = cuda.grid(1)
    step = cuda.gridsize(1)
    for i in range(start, p.size, step):
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


def dummy(dtype) -> object:
    """A one-element device array standing in for a state array the kernel does not touch."""
    dtype = np.dtype(dtype)
    d = _DUMMY.get(dtype)
    if d is None:
        d = _DUMMY[dtype] = runtime.zeros((1,), dtype)
    return d


def sgd_one(p, g, buf, lr, weight_decay, momentum, one_minus_dampening, nesterov, maximize, first) -> None:
    """SGD on one GPU tensor in place (parameter, gradient, buffer as device arrays, then SGD._scalars)."""
    if p.size:
        runtime.launch(_sgd_kernel, p.size)(flat(p), flat(g), flat(buf), lr, weight_decay, momentum,
                                            one_minus_dampening, nesterov, maximize, first)


def adam_one(p, g, m, v, vmax, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decay, amsgrad,
             maximize, step_size, bc2_sqrt) -> None:
    """Adam/AdamW on one GPU tensor in place (parameter, gradient, state as device arrays, then Adam._scalars)."""
    if p.size:
        runtime.launch(_adam_kernel, p.size)(flat(p), flat(g), flat(m), flat(v), flat(vmax), one_minus_beta1, beta2,
                                             one_minus_beta2, eps, weight_decay, decay, amsgrad, maximize,
                                             step_size, bc2_sqrt)
