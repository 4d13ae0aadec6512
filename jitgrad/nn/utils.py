"""Training utilities over parameters (PyTorch's torch.nn.utils): gradient clipping by norm or
value, and conversion between a parameter list and one flat vector. Written with jitgrad ops,
so they run wherever the gradients live (CPU or GPU)."""
from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from .. import prims
from ..core import TensorBase
from ..grad_mode import no_grad

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "vector_to_parameters"]


def _as_list(parameters) -> list:
    return [parameters] if isinstance(parameters, TensorBase) else list(parameters)


def _vector_norm(x: TensorBase, norm_type: float) -> TensorBase:
    """The norm of all elements of x: max|x| (inf), min|x| (-inf), count of nonzeros (0),
    else (sum |x|^p)^(1/p)."""
    if norm_type == math.inf:
        return prims.amax(prims.abs(x))
    if norm_type == -math.inf:
        return prims.amin(prims.abs(x))
    if norm_type == 0:
        return prims.sum(prims.cast(prims.ne(x, 0), x.dtype))
    if norm_type == 2:
        return prims.sqrt(prims.sum(prims.mul(x, x)))
    if norm_type == 1:
        return prims.sum(prims.abs(x))
    return prims.pow(prims.sum(prims.pow(prims.abs(x), norm_type)), 1.0 / norm_type)


def clip_grad_norm_(parameters: Iterable[TensorBase] | TensorBase, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> TensorBase:
    """Scale all gradients in place so that their joint norm (the norm of the per-tensor norms) is
    at most max_norm; returns the joint norm before clipping (a 0-d tensor)."""
    norm_type = float(norm_type)
    if math.isnan(norm_type) or (norm_type < 0 and norm_type != -math.inf):
        raise RuntimeError(f"clip_grad_norm_: norm_type must be >= 0, inf or -inf, got {norm_type}")
    grads = [p.grad for p in _as_list(parameters) if p.grad is not None]
    with no_grad():
        if not grads:
            return prims.as_tensor_operand(0.0)
        per_tensor = prims.stack([_vector_norm(g, norm_type) for g in grads])
        total = _vector_norm(per_tensor, norm_type)
        value = total.item()
        if error_if_nonfinite and not math.isfinite(value):
            raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, "
                               "so it cannot be clipped. To disable this error and scale the gradients by the "
                               "non-finite norm anyway, set `error_if_nonfinite=False`")
        coefficient = prims.clamp(prims.div(float(max_norm), prims.add(total, 1e-6)), max=1.0)
        with np.errstate(invalid="ignore"):  # inf * 0 under a non-finite norm is NaN, silently as in PyTorch
            for g in grads:
                g.mul_(prims.cast(coefficient, g.dtype))
    return total


def clip_grad_value_(parameters: Iterable[TensorBase] | TensorBase, clip_value: float) -> None:
    """Clamp every gradient in place to [-clip_value, clip_value]."""
    clip_value = float(clip_value)
    with no_grad():
        for p in _as_list(parameters):
            if p.grad is not None:
                p.grad.clamp_(-clip_value, clip_value)


def parameters_to_vector(parameters: Iterable[TensorBase]) -> TensorBase:
    """All parameters flattened and concatenated into one 1-D tensor (differentiable)."""
    params = _as_list(parameters)
    if not params:
        raise ValueError("parameters_to_vector got no parameters")
    _check_one_device(params)
    return prims.cat([prims.reshape(p, (-1,)) for p in params])


def vector_to_parameters(vec: TensorBase, parameters: Iterable[TensorBase]) -> None:
    """Set each parameter's data to its slice of the 1-D tensor vec (the inverse of parameters_to_vector)."""
    if not isinstance(vec, TensorBase):
        raise TypeError(f"expected a jitgrad Tensor, but got: {type(vec).__name__}")
    params = _as_list(parameters)
    _check_one_device(params + [vec])
    total = sum(int(math.prod(p.shape)) for p in params)
    if vec.ndim != 1 or vec.shape[0] != total:
        raise RuntimeError(f"vector_to_parameters: vec must be 1-D with {total} elements (the parameters' total), "
                           f"got shape {list(vec.shape)}")
    offset = 0
    for p in params:
        n = int(math.prod(p.shape))
        p.data = prims.reshape(prims.narrow(vec.detach(), 0, offset, n), tuple(p.shape)).data
        offset += n


def _check_one_device(tensors: list) -> None:
    devices = {str(t.device) for t in tensors}
    if len(devices) > 1:
        raise TypeError(f"Found tensors on different devices ({sorted(devices)}); move them to one device first")
