"""Moves between devices: the `to_device` primitive (recorded as PyTorch records .to(device), so
gradients flow back to the source device) and constants placed on a tensor's device."""
from __future__ import annotations

import numpy as np

from . import devices
from .core import TRANSFER, Primitive, Symbolic, TensorBase, bind, lift
from .prims_promotion import as_tensor_operand


def _to_device_impl(x, device, source):
    """Host-to-device copies (device sources go through their back end's run, see core.bind)."""
    if devices.device(device).type == "cpu":
        return np.array(x, copy=True)
    return devices.backend(device).move(x, device)


# A move between devices: recorded as PyTorch records .to(device), so gradients flow back to the
# source device.
TO_DEVICE = Primitive("to_device", _to_device_impl, lambda x, device, source: (x.shape, x.dtype),
                      lambda g, out, x, device, source: (to_device(g, source),), TRANSFER,
                      "ToCopyBackward0", params=("device", "source"))


def to_device(x, device) -> TensorBase:
    """x copied onto `device` ('cpu', 'cuda', 'cuda:0'), differentiably."""
    x = as_tensor_operand(x)
    return bind(TO_DEVICE, x, device=str(devices.as_device(device)), source=str(x.device))


def constant_like(value: np.ndarray, dtype, like: TensorBase) -> TensorBase:
    """A constant for a VJP rule, on the device of `like` (GPU rules must not mix in host arrays)."""
    c = lift(value, dtype, like)
    data = like._data
    if type(data) is np.ndarray or isinstance(data, Symbolic):
        return c
    return bind(TO_DEVICE, c, device=str(like.device), source="cpu")


# Moves between devices declared here, in prims.ALL's order.
DEVICE_PRIMS = (TO_DEVICE,)
