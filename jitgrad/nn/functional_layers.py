"""embedding, layer_norm and bilinear of torch.nn.functional, composed from jitgrad's primitives."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .. import dtypes, prims
from ..core import Symbolic, TensorBase

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from collections.abc import Sequence


def _check_indices(name: str, input: TensorBase) -> TensorBase:  # noqa: A002
    input = prims.as_tensor_operand(input)
    if input.dtype.kind not in "iu":
        raise RuntimeError(f"{name}: expected indices of an integer dtype (int64 or int32), got "
                           f"{dtypes.name(input.dtype)}; convert them with .long()")
    return input


def embedding(input: TensorBase, weight: TensorBase, padding_idx: int | None = None,  # noqa: A002
              max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
              sparse: bool = False) -> TensorBase:
    """Rows of the (num_embeddings, dim) table `weight` at the integer ids `input` (any shape).

    The row of padding_idx gets no gradient. The backward is indexing's adjoint: a scatter-add
    of the output gradient into the table's rows (a compiled loop, eager and compiled)."""
    ids = _check_indices("embedding", input)
    if weight.ndim != 2:
        raise RuntimeError(f"embedding: 'weight' must be 2-D (num_embeddings, embedding_dim), got shape "
                           f"{list(weight.shape)}")
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise ValueError("embedding: max_norm, scale_grad_by_freq and sparse are not supported by jitgrad "
                         "(gradients are dense); renormalise the table yourself under jitgrad.no_grad()")
    rows = weight.shape[0]
    out = prims.getitem(weight, ids)
    if isinstance(ids._data, Symbolic):
        # Traced: the indexing kernel raises IndexError for ids >= rows but wraps negative ones,
        # as x[-1] must; a gather (which refuses negative indices, naming them) of zeros guards them.
        negatives = prims.reshape(prims.where(prims.lt(ids, 0), ids, 0), (-1,))
        guard = prims.gather(prims.as_tensor_operand(np.zeros((rows,), dtype=weight.dtype)), 0, negatives)
        out = out + prims.reshape(guard, tuple(ids.shape) + (1,))
    else:
        found = np.asarray(ids.numpy())
        bad = found[(found < 0) | (found >= rows)]
        if bad.size:
            raise IndexError(f"embedding: index {int(bad.reshape(-1)[0])} is out of range for a table of "
                             f"{rows} rows (valid ids are 0..{rows - 1})")
    if padding_idx is None:
        return out
    padding_idx = _padding_index(padding_idx, rows)
    at_padding = prims.unsqueeze(prims.eq(ids, padding_idx), -1)
    return prims.where(at_padding, out.detach(), out)  # same values; no gradient into the padding row


def _padding_index(padding_idx: int, rows: int) -> int:
    if not -rows <= padding_idx < rows:
        raise AssertionError(f"Padding_idx must be within num_embeddings (got {padding_idx} for {rows} rows)")
    return padding_idx % rows


def layer_norm(input: TensorBase, normalized_shape: int | Sequence[int], weight: TensorBase | None = None,  # noqa: A002
               bias: TensorBase | None = None, eps: float = 1e-5) -> TensorBase:
    """(x - mean) / sqrt(var + eps) * weight + bias over the trailing `normalized_shape` dims (biased var)."""
    x = prims.as_tensor_operand(input)
    shape = (int(normalized_shape),) if isinstance(normalized_shape, (int, np.integer)) else \
        tuple(int(s) for s in normalized_shape)
    k = len(shape)
    if k == 0 or tuple(x.shape[x.ndim - k:]) != shape or x.ndim < k:
        raise RuntimeError(f"Given normalized_shape={list(shape)}, expected input with shape "
                           f"[*, {', '.join(map(str, shape))}], but got input of size{list(x.shape)}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != shape:
            raise RuntimeError(f"layer_norm: expected {name} of shape {list(shape)}, got {list(t.shape)}")
    dims = tuple(range(x.ndim - k, x.ndim))
    mean = prims.mean(x, dims, keepdim=True)
    centred = x - mean
    var = prims.mean(centred * centred, dims, keepdim=True)
    out = centred * (1.0 / prims.sqrt(var + eps))
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def bilinear(input1: TensorBase, input2: TensorBase, weight: TensorBase,
             bias: TensorBase | None = None) -> TensorBase:
    """y[..., o] = sum_ij input1[..., i] weight[o, i, j] input2[..., j] + bias[o]."""
    x1, x2 = prims.as_tensor_operand(input1), prims.as_tensor_operand(input2)
    if weight.ndim != 3 or x1.shape[-1:] != weight.shape[1:2] or x2.shape[-1:] != weight.shape[2:3] \
            or tuple(x1.shape[:-1]) != tuple(x2.shape[:-1]):
        raise RuntimeError(f"bilinear: expected input1 (*, {weight.shape[1] if weight.ndim == 3 else 'in1'}), "
                           f"input2 (*, {weight.shape[2] if weight.ndim == 3 else 'in2'}) with the same leading "
                           f"dims and weight (out, in1, in2); got {list(x1.shape)}, {list(x2.shape)}, "
                           f"{list(weight.shape)}")
    lead = tuple(x1.shape[:-1])
    n_out, n1, n2 = weight.shape
    a = prims.reshape(x1, (-1, n1))
    b = prims.reshape(x2, (-1, n2))
    # (N, in1) @ (in1, out*in2) -> (N, out, in2), then contract in2 with x2.
    w = prims.reshape(prims.permute(weight, (1, 0, 2)), (n1, n_out * n2))
    mixed = prims.reshape(prims.matmul(a, w), (-1, n_out, n2))
    out = prims.sum(mixed * prims.unsqueeze(b, 1), -1)
    if bias is not None:
        out = out + bias
    return prims.reshape(out, lead + (n_out,))
