"""Losses of torch.nn.functional beyond mse/nll/cross_entropy: l1, smooth_l1, huber, binary cross
entropy (on probabilities and on logits), kl_div, cosine_embedding, margin_ranking, and
cross_entropy with label_smoothing. Composed from jitgrad's primitives; every one takes PyTorch's
`reduction` ('mean', 'sum' or 'none')."""
from __future__ import annotations

import warnings

from .. import core, dtypes, prims
from ..core import Symbolic, TensorBase
from . import functional_basic as F  # noqa: N812


def _pair(name: str, input, target) -> tuple[TensorBase, TensorBase]:  # noqa: A002
    """input and target as tensors of one floating dtype, with PyTorch's warning for shapes that broadcast."""
    x, t = prims.as_tensor_operand(input), prims.as_tensor_operand(target)
    if tuple(x.shape) != tuple(t.shape):
        warnings.warn(f"Using a target size ({list(t.shape)}) that is different to the input size "
                      f"({list(x.shape)}). This will likely lead to incorrect results due to broadcasting. "
                      "Please ensure they have the same size.", UserWarning, stacklevel=3)
    if t.dtype != x.dtype and dtypes.is_floating(x.dtype):
        t = prims.cast(t, x.dtype)
    return x, t


def _reduced(loss: TensorBase, reduction: str) -> TensorBase:
    F._check_reduction(reduction)
    return F._reduce(loss, reduction)


def l1_loss(input: TensorBase, target: TensorBase, reduction: str = "mean") -> TensorBase:  # noqa: A002
    """|input - target|."""
    F._check_reduction(reduction)
    x, t = _pair("l1_loss", input, target)
    return _reduced(prims.abs(x - t), reduction)


def smooth_l1_loss(input: TensorBase, target: TensorBase, reduction: str = "mean",  # noqa: A002
                   beta: float = 1.0) -> TensorBase:
    """0.5 d^2 / beta where |d| < beta, |d| - 0.5 beta elsewhere (plain L1 when beta == 0)."""
    F._check_reduction(reduction)
    if beta < 0:
        raise RuntimeError(f"smooth_l1_loss does not support negative values for beta (got {beta})")
    x, t = _pair("smooth_l1_loss", input, target)
    d = prims.abs(x - t)
    if beta == 0:
        return _reduced(d, reduction)
    return _reduced(prims.where(prims.lt(d, beta), d * d * (0.5 / beta), d - 0.5 * beta), reduction)


def huber_loss(input: TensorBase, target: TensorBase, reduction: str = "mean",  # noqa: A002
               delta: float = 1.0) -> TensorBase:
    """0.5 d^2 where |d| < delta, delta (|d| - 0.5 delta) elsewhere."""
    F._check_reduction(reduction)
    if delta <= 0:
        raise RuntimeError(f"huber_loss does not support non-positive values for delta (got {delta})")
    x, t = _pair("huber_loss", input, target)
    d = prims.abs(x - t)
    return _reduced(prims.where(prims.lt(d, delta), d * d * 0.5, (d - 0.5 * delta) * delta), reduction)


def binary_cross_entropy(input: TensorBase, target: TensorBase, weight: TensorBase | None = None,  # noqa: A002
                         reduction: str = "mean") -> TensorBase:
    """-(t log p + (1 - t) log(1 - p)) of probabilities p, each log clamped at -100 (PyTorch's rule)."""
    F._check_reduction(reduction)
    p, t = prims.as_tensor_operand(input), prims.as_tensor_operand(target)
    if tuple(p.shape) != tuple(t.shape):
        raise ValueError(f"Using a target size ({list(t.shape)}) that is different to the input size "
                         f"({list(p.shape)}) is deprecated. Please ensure they have the same size.")
    data = p._data
    if not isinstance(data, Symbolic):
        values = core.host_array(data)
        if ((values < 0) | (values > 1)).any():
            raise RuntimeError("all elements of input should be between 0 and 1 (binary_cross_entropy takes "
                               "probabilities; for logits use binary_cross_entropy_with_logits)")
    t = prims.cast(t, p.dtype) if t.dtype != p.dtype else t
    log_p = prims.clamp(prims.log(p), min=-100.0)
    log_q = prims.clamp(prims.log(1.0 - p), min=-100.0)
    loss = -(t * log_p + (1.0 - t) * log_q)
    if weight is not None:
        loss = loss * weight
    return _reduced(loss, reduction)


def binary_cross_entropy_with_logits(input: TensorBase, target: TensorBase,  # noqa: A002
                                     weight: TensorBase | None = None, reduction: str = "mean",
                                     pos_weight: TensorBase | None = None) -> TensorBase:
    """BCE of sigmoid(x), computed stably: (1 - t) x + (1 + (pos_weight - 1) t) softplus(-x)."""
    F._check_reduction(reduction)
    x, t = prims.as_tensor_operand(input), prims.as_tensor_operand(target)
    if tuple(x.shape) != tuple(t.shape):
        raise ValueError(f"Target size ({list(t.shape)}) must be the same as input size ({list(x.shape)})")
    t = prims.cast(t, x.dtype) if t.dtype != x.dtype else t
    # softplus(-x) = -m + log(exp(m) + exp(m - x)) with m = min(x, 0): both exponents <= 0, and the
    # expression does not depend on m, so its gradient is exact everywhere (also at x = 0).
    m = prims.minimum(x, prims.as_tensor_operand(0.0, x.dtype))
    softplus_neg = prims.log(prims.exp(m) + prims.exp(m - x)) - m
    if pos_weight is not None:
        loss = (1.0 - t) * x + ((pos_weight - 1.0) * t + 1.0) * softplus_neg
    else:
        loss = (1.0 - t) * x + softplus_neg
    if weight is not None:
        loss = loss * weight
    return _reduced(loss, reduction)


def kl_div(input: TensorBase, target: TensorBase, reduction: str = "mean",  # noqa: A002
           log_target: bool = False) -> TensorBase:
    """target * (log target - input) pointwise (input holds log-probabilities); reduction may also be 'batchmean'."""
    if reduction not in ("mean", "sum", "none", "batchmean"):
        raise ValueError(f"{reduction!r} is not a valid value for reduction; use 'mean', 'batchmean', 'sum' or 'none'")
    if reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size."
                      "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                      "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
                      UserWarning, stacklevel=2)
    x, t = prims.as_tensor_operand(input), prims.as_tensor_operand(target)
    if log_target:
        loss = prims.exp(t) * (t - x)
    else:
        positive = prims.gt(t, 0.0)
        t_log_t = prims.where(positive, t * prims.log(prims.where(positive, t, 1.0)), 0.0)
        loss = t_log_t - t * x
    if reduction == "batchmean":
        total = prims.sum(loss)
        return total / x.shape[0] if x.ndim > 0 else total
    return F._reduce(loss, reduction)


def cosine_embedding_loss(input1: TensorBase, input2: TensorBase, target: TensorBase, margin: float = 0.0,
                          reduction: str = "mean") -> TensorBase:
    """1 - cos(x1, x2) where target is 1, max(0, cos(x1, x2) - margin) where it is -1 (cos over the last dim)."""
    F._check_reduction(reduction)
    x1, x2, y = (prims.as_tensor_operand(v) for v in (input1, input2, target))
    if x1.ndim not in (1, 2) or tuple(x1.shape) != tuple(x2.shape):
        raise RuntimeError(f"cosine_embedding_loss: expected 1D or 2D inputs of one shape, got {list(x1.shape)} "
                           f"and {list(x2.shape)}")
    if tuple(y.shape) != tuple(x1.shape[:-1]):
        raise RuntimeError(f"cosine_embedding_loss: expected target of shape {list(x1.shape[:-1])}, got "
                           f"{list(y.shape)}")
    eps = 1e-12  # PyTorch's EPSILON on the squared norms
    dot = prims.sum(x1 * x2, -1)
    mag = prims.sqrt((prims.sum(x1 * x1, -1) + eps) * (prims.sum(x2 * x2, -1) + eps))
    cos = dot / mag
    zero = prims.as_tensor_operand(0.0, cos.dtype)
    pos = prims.where(prims.eq(y, 1), 1.0 - cos, zero)
    neg = prims.where(prims.eq(y, -1), prims.maximum(cos - margin, zero), zero)
    return _reduced(pos + neg, reduction)


def margin_ranking_loss(input1: TensorBase, input2: TensorBase, target: TensorBase, margin: float = 0.0,
                        reduction: str = "mean") -> TensorBase:
    """max(0, -target * (input1 - input2) + margin)."""
    F._check_reduction(reduction)
    x1, x2, y = (prims.as_tensor_operand(v) for v in (input1, input2, target))
    if not (tuple(x1.shape) == tuple(x2.shape) == tuple(y.shape)):
        raise RuntimeError(f"margin_ranking_loss: input1 {list(x1.shape)}, input2 {list(x2.shape)} and target "
                           f"{list(y.shape)} must have the same shape")
    y = prims.cast(y, x1.dtype) if y.dtype != x1.dtype else y
    return _reduced(prims.relu(-y * (x1 - x2) + margin), reduction)


def cross_entropy(input: TensorBase, target: TensorBase, weight: TensorBase | None = None,  # noqa: A002
                  size_average: bool | None = None, ignore_index: int = -100, reduce: bool | None = None,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> TensorBase:
    """Cross entropy of logits against class indices or probabilities, optionally with label smoothing:
    (1 - s) * CE(target) + s * CE(uniform), weighted and masked as PyTorch does."""
    F._check_reduction(reduction)
    if size_average is not None or reduce is not None:
        raise TypeError("cross_entropy: size_average and reduce are deprecated in PyTorch and not supported; "
                        "use reduction='mean', 'sum' or 'none'")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    x, t = prims.as_tensor_operand(input), prims.as_tensor_operand(target)
    if label_smoothing == 0.0:
        return F.cross_entropy_unsmoothed(x, t, weight, ignore_index, reduction)
    class_dim = 0 if x.ndim == 1 else 1
    classes = x.shape[class_dim]
    if t.dtype.kind == "f":  # probabilities: mix the target with the uniform distribution
        mixed = t * (1.0 - label_smoothing) + label_smoothing / classes
        return F.cross_entropy_unsmoothed(x, mixed, weight, ignore_index, reduction)
    logp = F.log_softmax(x, class_dim)
    nll = F.nll_loss_indices(logp, t, weight, ignore_index, reduction)
    if weight is not None:
        shape = [1] * x.ndim
        shape[class_dim] = classes
        logp = logp * prims.reshape(weight, tuple(shape))
    valid = prims.ne(t, ignore_index)
    smooth = prims.where(valid, -prims.sum(logp, class_dim), 0.0)
    if reduction == "mean":
        if weight is not None:
            safe = prims.where(valid, t, 0)
            denominator = prims.sum(prims.where(valid, prims.getitem(weight.detach(), safe), 0.0))
        else:
            denominator = prims.sum(prims.cast(valid, x.dtype))
        smooth = prims.sum(smooth) / denominator
    elif reduction == "sum":
        smooth = prims.sum(smooth)
    return nll * (1.0 - label_smoothing) + smooth * (label_smoothing / classes)


def nll_loss(input: TensorBase, target: TensorBase, weight: TensorBase | None = None, size_average: bool | None = None,  # noqa: A002
             ignore_index: int = -100, reduce: bool | None = None, reduction: str = "mean") -> TensorBase:
    """Negative log-likelihood of class indices (PyTorch's signature; see functional.nll_loss)."""
    if size_average is not None or reduce is not None:
        raise TypeError("nll_loss: size_average and reduce are deprecated in PyTorch and not supported; "
                        "use reduction='mean', 'sum' or 'none'")
    return F.nll_loss_indices(input, target, weight, ignore_index, reduction)
