"""SGD with momentum, dampening, Nesterov, weight decay and maximize (PyTorch's update rule)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from kernels.optim import sgd_many, sgd_one

from .optimizer import Optimizer, _zeros_like, required

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from typing import Any


class SGD(Optimizer):
    """d = g (+ wd*p); b = d on the first step, else momentum*b + (1-dampening)*d;
    d = d + momentum*b (Nesterov) or b; p -= lr*d. fused=False runs NumPy instead of Numba."""

    state_names = ("momentum_buffer",)
    _kernel_one = staticmethod(sgd_one)
    _kernel_cuda = "sgd_one"
    _kernel_many = staticmethod(sgd_many)

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

    def _advance(self, group: dict, p, state: dict) -> tuple:
        if group["momentum"] != 0 and "momentum_buffer" not in state:
            state["momentum_buffer"] = _zeros_like(p)  # set to d by this step
            return (True,)
        return (False,)

    def _scalars(self, group: dict, key: tuple, dtype) -> tuple:
        f = dtype.type
        return (f(group["lr"]), f(group["weight_decay"]), f(group["momentum"]), f(1 - group["dampening"]),
                bool(group["nesterov"]), bool(group["maximize"]), key[0])

    def _numpy_update(self, group: dict, p, g, arrays: list, key: tuple) -> None:
        d = -g if group["maximize"] else g
        if group["weight_decay"] != 0:
            d = d + group["weight_decay"] * p
        momentum = group["momentum"]
        if momentum != 0:
            buf = arrays[0]
            if key[0]:
                buf[...] = d
            else:
                buf *= momentum
                buf += (1 - group["dampening"]) * d
            d = d + momentum * buf if group["nesterov"] else buf
        p -= group["lr"] * d
