"""SGD with momentum, dampening, Nesterov, weight decay and maximize (PyTorch's update rule)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from jitgrad._kernels import optim_rules

from .optimizer import Optimizer, _zeros_like, required

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from typing import Any


# The step keys of a compiled step (see _compiled_key): whether the call is the parameter's first step.
_FIRST_STEP = (True,)
_LATER_STEP = (False,)


class SGD(Optimizer):
    """d = g (+ wd*p); b = d on the first step, else momentum*b + (1-dampening)*d;
    d = d + momentum*b (Nesterov) or b; p -= lr*d. fused=False runs NumPy instead of Numba."""

    state_names = ("momentum_buffer",)
    _rule = staticmethod(optim_rules.sgd)

    def __init__(self, params: Any, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False,
                 fused: bool | None = None) -> None:
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize, fused=fused)
        super().__init__(params, defaults)

    def _validate(self, group: dict) -> None:
        if group["lr"] is required or group["lr"] < 0.0:
            raise ValueError(f"Invalid learning rate: {group['lr']}")
        if group["momentum"] < 0.0:
            raise ValueError(f"Invalid momentum value: {group['momentum']}")
        if group["weight_decay"] < 0.0:
            raise ValueError(f"Invalid weight_decay value: {group['weight_decay']}")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def _lazy_state(self, group: dict, p, state: dict) -> list:
        if group["momentum"] != 0 and "momentum_buffer" not in state:
            state["momentum_buffer"] = _zeros_like(p)  # set to d by the first step
            return ["momentum_buffer"]
        return []

    def _advance(self, group: dict, p, state: dict) -> tuple:
        if self._lazy_state(group, p, state) or id(p) in self._fresh:
            self._fresh.discard(id(p))
            return (True,)
        return (False,)

    def _compiled_key(self, group: dict, p, state: dict) -> tuple:
        return _FIRST_STEP if self._fresh and id(p) in self._fresh else _LATER_STEP  # (no tuple per call)

    def _after_compiled_step(self, params: list) -> None:
        if self._fresh:
            for p in params:
                self._fresh.discard(id(p))

    def _flags(self, group: dict) -> dict:
        return {"maximize": bool(group["maximize"]), "weight_decay": group["weight_decay"] != 0,
                "momentum": group["momentum"] != 0, "nesterov": bool(group["nesterov"])}

    def _flag_values(self, group: dict) -> tuple:
        return group["maximize"], group["weight_decay"] != 0, group["momentum"] != 0, group["nesterov"]

    def _hypers(self, group: dict, key: tuple) -> dict:
        momentum = group["momentum"]
        first = key[0]
        return {"lr": group["lr"], "weight_decay": group["weight_decay"], "momentum": momentum,
                "buf_keep": 0.0 if first else momentum, "d_keep": 1.0 if first else 1 - group["dampening"]}
