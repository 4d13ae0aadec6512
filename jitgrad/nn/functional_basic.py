"""The basic stateless network functions (linear, relu/tanh/sigmoid, softmax/log_softmax, mse,
nll and cross entropy) that the other functional modules build on; composed from jitgrad ops so
their gradients come from the primitives' VJP rules. nn.functional re-exports them."""
from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

from .. import core, dtypes, prims, reduce_ops
from ..core import Symbolic, TensorBase

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from .._typing import DTypeLike

_REDUCTIONS = ("mean", "sum", "none")


def linear(input: TensorBase, weight: TensorBase, bias: TensorBase | None = None) -> TensorBase:  # noqa: A002
    """input @ weight.T + bias, with weight of shape (out_features, in_features)."""
    if input.shape[-1:] != weight.shape[-1:]:
        raise RuntimeError(f"linear: input's last dimension is {input.shape[-1] if input.ndim else None} but "
                           f"weight has shape {list(weight.shape)} (out_features, in_features); they must "
                           "agree on in_features")
    out = prims.matmul(input, prims.t(weight))
    return out if bias is None else out + bias


def relu(input: TensorBase, inplace: bool = False) -> TensorBase:  # noqa: A002
    return input.relu_() if inplace else prims.relu(input)


def tanh(input: TensorBase) -> TensorBase:  # noqa: A002
    return prims.tanh(input)


def sigmoid(input: TensorBase) -> TensorBase:  # noqa: A002
    return prims.sigmoid(input)


def _softmax_dim(ndim: int, dim: int | None, name: str) -> int:
    if dim is None:
        warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to include "
                      "dim=X as an argument.", UserWarning, stacklevel=3)
        return 0 if ndim in (0, 1, 3) else 1
    return dim


def log_softmax(input: TensorBase, dim: int | None = None, _stacklevel: int = 3,  # noqa: A002
                dtype: DTypeLike = None) -> TensorBase:
    """x - log(sum(exp(x))) along dim, stably (jitgrad.log_softmax, with the implicit dim of old code)."""
    return reduce_ops.log_softmax(input, _softmax_dim(input.ndim, dim, "log_softmax"), dtype)


def softmax(input: TensorBase, dim: int | None = None, _stacklevel: int = 3,  # noqa: A002
            dtype: DTypeLike = None) -> TensorBase:
    """exp(x) / sum(exp(x)) along dim, stably (jitgrad.softmax, with the implicit dim of old code)."""
    return reduce_ops.softmax(input, _softmax_dim(input.ndim, dim, "softmax"), dtype)


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction!r} is not a valid value for reduction; use one of {_REDUCTIONS}")


def _reduce(loss: TensorBase, reduction: str) -> TensorBase:
    if reduction == "mean":
        return prims.mean(loss)
    if reduction == "sum":
        return prims.sum(loss)
    return loss


def mse_loss(input: TensorBase, target: TensorBase, reduction: str = "mean") -> TensorBase:  # noqa: A002
    """Mean (or sum, or elementwise) squared error."""
    _check_reduction(reduction)
    pred, target = prims.as_tensor_operand(input), prims.as_tensor_operand(target)
    if tuple(pred.shape) != tuple(target.shape):
        warnings.warn(f"Using a target size ({list(target.shape)}) that is different to the input size "
                      f"({list(pred.shape)}). This will likely lead to incorrect results due to broadcasting. "
                      "Please ensure they have the same size.", UserWarning, stacklevel=2)
    diff = pred - target
    return _reduce(diff * diff, reduction)


def nll_loss_indices(input: TensorBase, target: TensorBase, weight: TensorBase | None = None,  # noqa: A002
                     ignore_index: int = -100, reduction: str = "mean") -> TensorBase:
    """Negative log-likelihood of class indices, given log-probabilities (N, C, ...) or (C,)."""
    _check_reduction(reduction)
    target = prims.as_tensor_operand(target)
    if target.dtype.kind not in "iu":
        raise RuntimeError(f"nll_loss: expected target of integer class indices (int64), got "
                           f"{dtypes.name(target.dtype)}; for class probabilities pass float targets "
                           "of the input's shape to cross_entropy")
    logp = input
    unbatched = logp.ndim == 1
    if unbatched:
        logp, target = prims.unsqueeze(logp, 0), prims.unsqueeze(target, 0)
    if logp.ndim < 1 or tuple(target.shape) != tuple(logp.shape[:1] + logp.shape[2:]):
        raise ValueError(f"Expected target of shape {list(logp.shape[:1] + logp.shape[2:])} for input of "
                         f"shape {list(logp.shape)} (N, C, ...), got {list(target.shape)}")
    classes = logp.shape[1]
    valid = prims.ne(target, ignore_index)
    if not isinstance(target._data, Symbolic):
        idx = core.host_array(target._data)  # (GPU targets: a copy of the class indices)
        idx = idx[idx != ignore_index]
        bad = idx[(idx < 0) | (idx >= classes)]
        if bad.size:
            raise IndexError(f"Target {bad[0]} is out of bounds: there are {classes} classes (0..{classes - 1})")
    safe = prims.cast(prims.where(valid, target, 0), dtypes.int64)
    if weight is not None and tuple(weight.shape) != (classes,):
        raise RuntimeError(f"weight tensor should be defined either for all {classes} classes or no "
                           f"classes but got weight tensor of shape: {list(weight.shape)}")
    w = prims.cast(valid, logp.dtype)
    data = logp._data
    if core.on_host(data) or isinstance(data, Symbolic):
        picked = prims.squeeze(prims.gather(logp, 1, prims.unsqueeze(safe, 1)), 1)
        if weight is not None:
            w = w * prims.getitem(weight.detach(), safe)
    else:  # GPU eager: select through a one-hot mask (elementwise + sum kernels, no host round trip)
        hot = _one_hot_mask(safe, classes, logp)
        picked = prims.sum(prims.where(hot, logp, 0.0), 1)
        if weight is not None:
            shape = (1, classes) + (1,) * (logp.ndim - 2)
            w = w * prims.sum(prims.where(hot, prims.reshape(weight.detach(), shape), 0.0), 1)
    loss = -(picked * w)
    if reduction == "mean":
        return prims.sum(loss) / prims.sum(w)
    out = _reduce(loss, reduction)
    return prims.squeeze(out, 0) if unbatched and reduction == "none" else out


def _one_hot_mask(index: TensorBase, classes: int, like: TensorBase) -> TensorBase:
    """Boolean (N, C, ...) mask, True where the class dim's position equals index (N, ...)."""
    shape = (1, classes) + (1,) * (index.ndim - 1)
    positions = prims.constant_like(np.arange(classes, dtype=np.int64).reshape(shape), dtypes.int64, like)
    return prims.eq(prims.unsqueeze(index, 1), positions)


def cross_entropy_unsmoothed(input: TensorBase, target: TensorBase,  # noqa: A002
                             weight: TensorBase | None = None, ignore_index: int = -100,
                             reduction: str = "mean") -> TensorBase:
    """Cross entropy of logits (N, C, ...) or (C,) against int64 class indices or class probabilities."""
    _check_reduction(reduction)
    target = prims.as_tensor_operand(target)
    class_dim = 0 if input.ndim == 1 else 1
    logp = log_softmax(input, class_dim)
    if target.dtype.kind != "f":
        return nll_loss_indices(logp, target, weight, ignore_index, reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise RuntimeError(f"cross_entropy: class-probability targets must have the input's shape "
                           f"{list(input.shape)}, got {list(target.shape)}")
    if weight is not None:
        shape = [1] * input.ndim
        shape[class_dim] = input.shape[class_dim]
        logp = logp * prims.reshape(weight, tuple(shape))
    loss = -prims.sum(logp * target, class_dim)
    if reduction == "mean" and input.ndim > 1:
        return prims.sum(loss) / (loss.numel() if loss.ndim else 1)
    return _reduce(loss, reduction)
