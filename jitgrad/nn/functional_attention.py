"""Attention of torch.nn.functional: scaled_dot_product_attention and multi_head_attention_forward
(the computation behind nn.MultiheadAttention), composed from batched matmuls and softmax."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .. import dtypes, prims
from ..core import TensorBase
from . import functional_basic as F  # noqa: N812
from .functional_activation import dropout

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from .._typing import Number
    from ..tensor import Tensor


def _additive_mask(mask: TensorBase, dtype) -> TensorBase:
    """A boolean mask (True = not allowed) as -inf/0, or a float mask as it is (added to the scores)."""
    mask = prims.as_tensor_operand(mask)
    if mask.dtype == dtypes.bool_:
        return prims.where(mask, prims.as_tensor_operand(-np.inf, dtype), prims.as_tensor_operand(0.0, dtype))
    if not dtypes.is_floating(mask.dtype):
        raise RuntimeError(f"attention masks must be bool or floating, got {dtypes.name(mask.dtype)}")
    return prims.cast(mask, dtype) if mask.dtype != dtype else mask


def _causal_mask(length: int, source: int, dtype) -> TensorBase:
    above = np.triu(np.ones((length, source), dtype=bool), k=1)
    return prims.as_tensor_operand(np.where(above, -np.inf, 0.0).astype(dtype))


def scaled_dot_product_attention(query: TensorBase, key: TensorBase, value: TensorBase,
                                 attn_mask: TensorBase | None = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None) -> TensorBase:
    """softmax(q k^T * scale + mask) v over the last two dims (scale defaults to 1/sqrt(head dim))."""
    q, k, v = (prims.as_tensor_operand(t) for t in (query, key, value))
    if q.ndim < 2 or k.ndim != q.ndim or v.ndim != q.ndim or q.shape[-1] != k.shape[-1] \
            or k.shape[-2] != v.shape[-2]:
        raise RuntimeError(f"scaled_dot_product_attention: expected query (..., L, E), key (..., S, E) and value "
                           f"(..., S, Ev), got {list(q.shape)}, {list(k.shape)}, {list(v.shape)}")
    if is_causal and attn_mask is not None:
        raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be set when is_causal=True")
    factor = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = prims.matmul(q * factor, prims.transpose(k, -2, -1))
    if is_causal:
        scores = scores + _causal_mask(q.shape[-2], k.shape[-2], q.dtype)
    elif attn_mask is not None:
        scores = scores + _additive_mask(attn_mask, q.dtype)
    weights = F.softmax(scores, -1)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p)
    return prims.matmul(weights, v)


def _project(x: TensorBase, weight: TensorBase, bias: TensorBase | None) -> TensorBase:
    return F.linear(x, weight, bias)


def multi_head_attention_forward(query: Tensor, key: Tensor, value: Number, embed_dim_to_check: int, num_heads: int,  # noqa: C901
                                 in_proj_weight: Tensor | None, in_proj_bias: Tensor | None, bias_k: Tensor | None,
                                 bias_v: Tensor | None, add_zero_attn: bool, dropout_p: float, out_proj_weight: Tensor,
                                 out_proj_bias: Tensor | None, training: bool = True,
                                 key_padding_mask: Tensor | None = None, need_weights: bool = True,
                                 attn_mask: Tensor | None = None, use_separate_proj_weight: bool = False,
                                 q_proj_weight: Tensor | None = None, k_proj_weight: Tensor | None = None,
                                 v_proj_weight: Tensor | None = None, static_k: Tensor | None = None,
                                 static_v: Tensor | None = None, average_attn_weights: bool = True,
                                 is_causal: bool = False) -> Tensor:
    """Multi-head attention of (L, N, E) query and (S, N, Ek/Ev) key/value (or unbatched (L, E)):
    returns (output (L, N, E), weights (N, L, S) averaged over heads, or (N, H, L, S), or None)."""
    if bias_k is not None or bias_v is not None or add_zero_attn or static_k is not None or static_v is not None:
        raise ValueError("multi_head_attention_forward: bias_k/bias_v, add_zero_attn and static_k/static_v are "
                         "not supported by jitgrad; build the attention from scaled_dot_product_attention")
    q_in, k_in, v_in = (prims.as_tensor_operand(t) for t in (query, key, value))
    unbatched = q_in.ndim == 2
    if unbatched:
        q_in, k_in, v_in = (prims.unsqueeze(t, 1) for t in (q_in, k_in, v_in))
        if key_padding_mask is not None:
            key_padding_mask = prims.unsqueeze(prims.as_tensor_operand(key_padding_mask), 0)
    if q_in.ndim != 3 or k_in.ndim != 3 or v_in.ndim != 3:
        raise AssertionError(f"query, key and value should be 3-D (batched) or 2-D (unbatched), got "
                             f"{q_in.ndim}-D, {k_in.ndim}-D and {v_in.ndim}-D")
    length, batch, embed = q_in.shape
    source = k_in.shape[0]
    if embed != embed_dim_to_check:
        raise AssertionError(f"was expecting embedding dimension of {embed_dim_to_check}, but got {embed}")
    if embed % num_heads:
        raise AssertionError(f"embed_dim {embed} not divisible by num_heads {num_heads}")
    if k_in.shape[:2] != v_in.shape[:2] or k_in.shape[1] != batch:
        raise AssertionError(f"key shape {list(k_in.shape)} does not match value shape {list(v_in.shape)} "
                             f"(or the query's batch {batch})")
    if is_causal and attn_mask is None:
        raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the Transformer module "
                           "method `generate_square_subsequent_mask` to create this mask.")
    head = embed // num_heads
    if use_separate_proj_weight:
        biases = (None, None, None) if in_proj_bias is None else \
            (in_proj_bias[0:embed], in_proj_bias[embed:2 * embed], in_proj_bias[2 * embed:])
        q = _project(q_in, q_proj_weight, biases[0])
        k = _project(k_in, k_proj_weight, biases[1])
        v = _project(v_in, v_proj_weight, biases[2])
    else:
        w = in_proj_weight
        b = (None, None, None) if in_proj_bias is None else \
            (in_proj_bias[0:embed], in_proj_bias[embed:2 * embed], in_proj_bias[2 * embed:])
        q = _project(q_in, w[0:embed], b[0])
        k = _project(k_in, w[embed:2 * embed], b[1])
        v = _project(v_in, w[2 * embed:], b[2])

    def heads(t: TensorBase, n: int) -> TensorBase:  # (n, N, E) -> (N * H, n, head)
        return prims.transpose(prims.reshape(t, (n, batch * num_heads, head)), 0, 1)

    q, k, v = heads(q, length), heads(k, source), heads(v, source)
    scores = prims.matmul(q * (1.0 / math.sqrt(head)), prims.transpose(k, 1, 2))  # (N*H, L, S)
    if attn_mask is not None:
        mask = _additive_mask(attn_mask, scores.dtype)
        if mask.ndim == 2:
            if tuple(mask.shape) != (length, source):
                raise RuntimeError(f"The shape of the 2D attn_mask is {list(mask.shape)}, but should be "
                                   f"{[length, source]}.")
        elif tuple(mask.shape) != (batch * num_heads, length, source):
            raise RuntimeError(f"The shape of the 3D attn_mask is {list(mask.shape)}, but should be "
                               f"{[batch * num_heads, length, source]}.")
        scores = scores + mask
    if key_padding_mask is not None:
        pad = _additive_mask(key_padding_mask, scores.dtype)
        if tuple(pad.shape) != (batch, source):
            raise AssertionError(f"expecting key_padding_mask shape of {(batch, source)}, but got "
                                 f"{tuple(pad.shape)}")
        pad = prims.reshape(prims.expand(prims.reshape(pad, (batch, 1, 1, source)), (batch, num_heads, 1, source)),
                            (batch * num_heads, 1, source))
        scores = scores + pad
    weights = F.softmax(scores, -1)
    if training and dropout_p > 0.0:
        weights = dropout(weights, dropout_p)
    out = prims.matmul(weights, v)  # (N*H, L, head)
    out = prims.reshape(prims.transpose(out, 0, 1), (length * batch, embed))
    out = prims.reshape(F.linear(out, out_proj_weight, out_proj_bias), (length, batch, embed))
    if unbatched:
        out = prims.squeeze(out, 1)
    if not need_weights:
        return out, None
    weights = prims.reshape(weights, (batch, num_heads, length, source))
    if average_attn_weights:
        weights = prims.mean(weights, 1)
    if unbatched:
        weights = prims.squeeze(weights, 0)
    return out, weights
