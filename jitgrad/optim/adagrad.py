"""Adagrad with learning-rate decay, weight decay and maximize (PyTorch's update rule, in NumPy)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .. import core
from ..tensor import Tensor
from .optimizer import Optimizer

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from typing import Any


class Adagrad(Optimizer):
    """s += g^2; p -= lr/(1+(t-1)*lr_decay) * g/(sqrt(s)+eps), s starting at initial_accumulator_value."""

    state_names = ("sum",)

    def __init__(self, params: Any, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, *, maximize: bool = False) -> None:
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, eps=eps, maximize=maximize)
        super().__init__(params, defaults)
        # Like PyTorch, the state exists from the start (state_dict() before any step lists it).
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(group, p, self.state.setdefault(p, {}))

    def _validate(self, group: dict) -> None:
        if not 0.0 <= group["lr"]:
            raise ValueError(f"Invalid learning rate: {group['lr']}")
        if not 0.0 <= group["lr_decay"]:
            raise ValueError(f"Invalid lr_decay value: {group['lr_decay']}")
        if not 0.0 <= group["weight_decay"]:
            raise ValueError(f"Invalid weight_decay value: {group['weight_decay']}")
        if not 0.0 <= group["initial_accumulator_value"]:
            raise ValueError(f"Invalid initial_accumulator_value value: {group['initial_accumulator_value']}")
        if not 0.0 <= group["eps"]:
            raise ValueError(f"Invalid epsilon value: {group['eps']}")

    def _init_state(self, group: dict, p, state: dict) -> None:
        state["step"] = 0
        state["sum"] = Tensor._wrap(core.full_like_data(p._data, p.shape, p.dtype,
                                                        group["initial_accumulator_value"]))

    def _advance(self, group: dict, p, state: dict) -> tuple:
        state["step"] += 1
        return (state["step"],)

    def _numpy_update(self, group: dict, p, g, arrays: list, key: tuple) -> None:
        (state_sum,) = arrays
        d = -g if group["maximize"] else g
        if group["weight_decay"] != 0:
            d = d + group["weight_decay"] * p
        clr = group["lr"] / (1 + (key[0] - 1) * group["lr_decay"])
        state_sum += d * d
        std = np.sqrt(state_sum)
        std += group["eps"]
        p -= clr * d / std
