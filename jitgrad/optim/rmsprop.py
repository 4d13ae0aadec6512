"""RMSprop with momentum, centering, weight decay and maximize (PyTorch's update rule, in NumPy)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .optimizer import Optimizer, _zeros_like, lerp_

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from typing import Any


class RMSprop(Optimizer):
    """v = alpha*v + (1-alpha)*g^2; centered: m = lerp(m, g, 1-alpha), v' = v - m^2;
    b = momentum*b + g/(sqrt(v')+eps), p -= lr*b (or p -= lr*g/(sqrt(v')+eps) without momentum)."""

    state_names = ("square_avg", "momentum_buffer", "grad_avg")

    def __init__(self, params: Any, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0,
                 momentum: float = 0.0, centered: bool = False, *, maximize: bool = False) -> None:
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def _validate(self, group: dict) -> None:
        if not 0.0 <= group["lr"]:
            raise ValueError(f"Invalid learning rate: {group['lr']}")
        if not 0.0 <= group["eps"]:
            raise ValueError(f"Invalid epsilon value: {group['eps']}")
        if not 0.0 <= group["momentum"]:
            raise ValueError(f"Invalid momentum value: {group['momentum']}")
        if not 0.0 <= group["weight_decay"]:
            raise ValueError(f"Invalid weight_decay value: {group['weight_decay']}")
        if not 0.0 <= group["alpha"]:
            raise ValueError(f"Invalid alpha value: {group['alpha']}")

    def _init_state(self, group: dict, p, state: dict) -> None:
        state["step"] = 0
        state["square_avg"] = _zeros_like(p)
        if group["momentum"] > 0:
            state["momentum_buffer"] = _zeros_like(p)
        if group["centered"]:
            state["grad_avg"] = _zeros_like(p)

    def _advance(self, group: dict, p, state: dict) -> tuple:
        # Buffers for options switched on after the first step (e.g. momentum set by a scheduler).
        if group["momentum"] > 0 and "momentum_buffer" not in state:
            state["momentum_buffer"] = _zeros_like(p)
        if group["centered"] and "grad_avg" not in state:
            state["grad_avg"] = _zeros_like(p)
        state["step"] += 1
        return ()

    def _numpy_update(self, group: dict, p, g, arrays: list, key: tuple) -> None:
        square_avg, buf, grad_avg = arrays
        alpha = group["alpha"]
        d = -g if group["maximize"] else g
        if group["weight_decay"] != 0:
            d = d + group["weight_decay"] * p
        square_avg *= alpha
        square_avg += (1 - alpha) * d * d
        if group["centered"]:
            lerp_(grad_avg, d, 1 - alpha)
            avg = np.sqrt(square_avg - grad_avg * grad_avg)
        else:
            avg = np.sqrt(square_avg)
        avg += group["eps"]
        if group["momentum"] > 0:
            buf *= group["momentum"]
            buf += d / avg
            p -= group["lr"] * buf
        else:
            p -= group["lr"] * d / avg
