"""Adam and AdamW (decoupled weight decay), with amsgrad and maximize (PyTorch's update rule)."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

from jitgrad._kernels import optim_rules

from .optimizer import Optimizer, _zeros_like

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from typing import Any


class Adam(Optimizer):
    """m = lerp(m, d, 1-b1); v = b2*v + (1-b2)*d^2; p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps),
    with v replaced by its running max under amsgrad. fused=False runs NumPy instead of Numba."""

    state_names = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    _rule = staticmethod(optim_rules.adam)
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

    def _lazy_state(self, group: dict, p, state: dict) -> list:
        if group["amsgrad"] and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = _zeros_like(p)
            return ["max_exp_avg_sq"]
        return []

    def _advance(self, group: dict, p, state: dict) -> tuple:
        self._lazy_state(group, p, state)
        state["step"] += 1
        return (state["step"],)

    def _compiled_key(self, group: dict, p, state: dict) -> tuple:
        return (state["step"] + 1,)  # the step the call makes

    def _after_compiled_step(self, params: list) -> None:
        state = self.state
        for p in params:
            state[p]["step"] += 1
        if self._fresh:
            self._fresh.difference_update(map(id, params))

    def _flags(self, group: dict) -> dict:
        return {"maximize": bool(group["maximize"]), "weight_decay": group["weight_decay"] != 0,
                "decoupled": self._decoupled, "amsgrad": bool(group["amsgrad"])}

    def _flag_values(self, group: dict) -> tuple:
        return group["maximize"], group["weight_decay"] != 0, group["amsgrad"]

    def _hypers(self, group: dict, key: tuple) -> dict:
        lr, (beta1, beta2), wd = group["lr"], group["betas"], group["weight_decay"]
        step = key[0]
        return {"one_minus_beta1": 1 - beta1, "beta2": beta2, "one_minus_beta2": 1 - beta2, "eps": group["eps"],
                "weight_decay": wd, "decay": 1 - lr * wd if self._decoupled else 1.0,
                "step_size": lr / (1 - beta1 ** step), "bc2_sqrt": math.sqrt(1 - beta2 ** step)}


class AdamW(Adam):
    """Adam with decoupled weight decay: ``p *= 1 - lr * weight_decay`` before the Adam step."""

    _decoupled = True

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
                 fused: bool | None = None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize, fused=fused)
