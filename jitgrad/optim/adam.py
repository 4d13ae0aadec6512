"""Adam and AdamW (decoupled weight decay), with amsgrad and maximize (PyTorch's update rule)."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from kernels.optim import adam_many, adam_one

from .optimizer import Optimizer, _zeros_like

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from typing import Any


class Adam(Optimizer):
    """m = lerp(m, d, 1-b1); v = b2*v + (1-b2)*d^2; p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps),
    with v replaced by its running max under amsgrad. fused=False runs NumPy instead of Numba."""

    state_names = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    _kernel_one = staticmethod(adam_one)
    _kernel_cuda = "adam_one"
    _kernel_many = staticmethod(adam_many)
    _decoupled = False

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *, maximize: bool = False,
                 fused: bool | None = None) -> None:
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, fused=fused)
        super().__init__(params, defaults)

    def _validate(self, group: dict) -> None:
        if not 0.0 <= group["lr"]:
            raise ValueError(f"Invalid learning rate: {group['lr']}")
        if not 0.0 <= group["eps"]:
            raise ValueError(f"Invalid epsilon value: {group['eps']}")
        for i, beta in enumerate(group["betas"]):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta} (must be in [0, 1))")
        if not 0.0 <= group["weight_decay"]:
            raise ValueError(f"Invalid weight_decay value: {group['weight_decay']}")

    def _init_state(self, group: dict, p, state: dict) -> None:
        state["step"] = 0
        state["exp_avg"] = _zeros_like(p)
        state["exp_avg_sq"] = _zeros_like(p)

    def _advance(self, group: dict, p, state: dict) -> tuple:
        if group["amsgrad"] and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = _zeros_like(p)
        state["step"] += 1
        return (state["step"],)

    def _scalars(self, group: dict, key: tuple, dtype) -> tuple:
        f = dtype.type
        lr, (beta1, beta2), wd = group["lr"], group["betas"], group["weight_decay"]
        step = key[0]
        step_size = lr / (1 - beta1 ** step)
        bc2_sqrt = math.sqrt(1 - beta2 ** step)
        decay = 1 - lr * wd if self._decoupled else 1.0
        return (f(1 - beta1), f(beta2), f(1 - beta2), f(group["eps"]), f(0.0 if self._decoupled else wd), f(decay),
                bool(group["amsgrad"]), bool(group["maximize"]), f(step_size), f(bc2_sqrt))

    def _numpy_update(self, group: dict, p, g, arrays: list, key: tuple) -> None:
        lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        m, v, vmax = arrays
        d = -g if group["maximize"] else g
        if wd != 0:
            if self._decoupled:
                p *= 1 - lr * wd
            else:
                d = d + wd * p
        m += (1 - beta1) * (d - m)
        v *= beta2
        v += (1 - beta2) * d * d
        if group["amsgrad"]:
            np.maximum(vmax, v, out=vmax)
            v = vmax
        step_size = lr / (1 - beta1 ** key[0])
        bc2_sqrt = math.sqrt(1 - beta2 ** key[0])
        p -= step_size * m / (np.sqrt(v) / bc2_sqrt + eps)


class AdamW(Adam):
    """Adam with decoupled weight decay: ``p *= 1 - lr * weight_decay`` before the Adam step."""

    _decoupled = True

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
                 fused: bool | None = None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize, fused=fused)
