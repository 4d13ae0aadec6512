"""Adadelta with weight decay and maximize (PyTorch's update rule, in NumPy)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .optimizer import Optimizer, _zeros_like

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from typing import Any


class Adadelta(Optimizer):
    """v = rho*v + (1-rho)*g^2; delta = sqrt(u+eps)/sqrt(v+eps) * g; u = rho*u + (1-rho)*delta^2;
    p -= lr*delta."""

    state_names = ("square_avg", "acc_delta")

    def __init__(self, params: Any, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6, weight_decay: float = 0.0,
                 *, maximize: bool = False) -> None:
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _validate(self, group: dict) -> None:
        if not 0.0 <= group["lr"]:
            raise ValueError(f"Invalid learning rate: {group['lr']}")
        if not 0.0 <= group["rho"] <= 1.0:
            raise ValueError(f"Invalid rho value: {group['rho']}")
        if not 0.0 <= group["eps"]:
            raise ValueError(f"Invalid epsilon value: {group['eps']}")
        if not 0.0 <= group["weight_decay"]:
            raise ValueError(f"Invalid weight_decay value: {group['weight_decay']}")

    def _init_state(self, group: dict, p, state: dict) -> None:
        state["step"] = 0
        state["square_avg"] = _zeros_like(p)
        state["acc_delta"] = _zeros_like(p)

    def _advance(self, group: dict, p, state: dict) -> tuple:
        state["step"] += 1
        return ()

    def _numpy_update(self, group: dict, p, g, arrays: list, key: tuple) -> None:
        square_avg, acc_delta = arrays
        rho, eps = group["rho"], group["eps"]
        d = -g if group["maximize"] else g
        if group["weight_decay"] != 0:
            d = d + group["weight_decay"] * p
        square_avg *= rho
        square_avg += (1 - rho) * d * d
        std = np.sqrt(square_avg + eps)
        delta = np.sqrt(acc_delta + eps)
        delta /= std
        delta *= d
        acc_delta *= rho
        acc_delta += (1 - rho) * delta * delta
        p -= group["lr"] * delta
