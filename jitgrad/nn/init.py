"""In-place initialisers (PyTorch's torch.nn.init), drawing from jitgrad's seeded generator."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import core, devices
from ..core import TensorBase
from ..generator import numpy_generator

_GAINS = {"linear": 1.0, "conv1d": 1.0, "conv2d": 1.0, "conv3d": 1.0, "sigmoid": 1.0,
          "tanh": 5.0 / 3.0, "relu": math.sqrt(2.0), "selu": 3.0 / 4.0}


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (leaky_relu takes its negative slope as param)."""
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity not in _GAINS:
        raise ValueError(f"unsupported nonlinearity {nonlinearity!r}; use one of "
                         f"{sorted(_GAINS) + ['leaky_relu']}")
    return _GAINS[nonlinearity]


def _calculate_fan_in_and_fan_out(tensor: TensorBase) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of shape (out, in, *kernel)."""
    if tensor.ndim < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions "
                         f"(got shape {list(tensor.shape)})")
    receptive = int(np.prod(tensor.shape[2:])) if tensor.ndim > 2 else 1
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _fill(tensor: TensorBase, values: np.ndarray) -> TensorBase:
    """Write values into the tensor's storage (no graph) and bump its version counter. Samples
    come from the host generator whatever the device, so a GPU layer is initialised exactly as the
    same layer on the CPU (one host-to-device copy per call)."""
    data = tensor._data
    if core.on_host(data):
        data[...] = values
    else:
        backend = devices.backend_of(data)
        values = np.asarray(values, dtype=data.dtype)
        backend.copy_into(data, backend.move(values, str(backend.device_of(data))) if values.ndim else values[()])
    tensor._version_counter.bump("init")
    return tensor


def uniform_(tensor: TensorBase, a: float = 0.0, b: float = 1.0, generator: Any = None) -> TensorBase:
    """Fill with U(a, b) samples (from `generator`, a jitgrad.Generator, or the default one)."""
    return _fill(tensor, numpy_generator(generator).uniform(a, b, tensor.shape))


def normal_(tensor: TensorBase, mean: float = 0.0, std: float = 1.0, generator: Any = None) -> TensorBase:
    """Fill with N(mean, std^2) samples (from `generator`, a jitgrad.Generator, or the default one)."""
    return _fill(tensor, mean + std * numpy_generator(generator).standard_normal(tensor.shape))


def constant_(tensor: TensorBase, val: float) -> TensorBase:
    return _fill(tensor, val)


def zeros_(tensor: TensorBase) -> TensorBase:
    return _fill(tensor, 0)


def ones_(tensor: TensorBase) -> TensorBase:
    return _fill(tensor, 1)


def _fan(tensor: TensorBase, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode {mode!r} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def kaiming_uniform_(tensor: TensorBase, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", generator: Any = None) -> TensorBase:
    """U(-bound, bound) with bound = gain * sqrt(3 / fan) (He et al.)."""
    fan = _fan(tensor, mode)
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan) if fan else 0.0
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor: TensorBase, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", generator: Any = None) -> TensorBase:
    fan = _fan(tensor, mode)
    return normal_(tensor, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan) if fan else 0.0, generator)


def xavier_uniform_(tensor: TensorBase, gain: float = 1.0, generator: Any = None) -> TensorBase:
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor: TensorBase, gain: float = 1.0, generator: Any = None) -> TensorBase:
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)
