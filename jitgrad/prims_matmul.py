"""Matrix product, declared once (1-D, 2-D and batched, named as PyTorch names each), and mm."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import dtypes, shapes
from .core import MATMUL, Primitive, bind
from .prims_elementwise import needs_grad
from .prims_promotion import as_tensor_operand, promoted
from .prims_shape import reshape, transpose, unsqueeze

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from ._typing import TensorLike
    from .tensor import Tensor


def _matmul_rule(a, b):
    if a.dtype != b.dtype:
        raise RuntimeError(f"expected both matmul operands to have the same dtype, got "
                           f"{dtypes.name(a.dtype)} and {dtypes.name(b.dtype)}")
    return shapes.matmul(a.shape, b.shape), a.dtype


def _matmul_vjp(g, out, a, b):
    a2 = a if a.ndim > 1 else unsqueeze(a, 0)
    b2 = b if b.ndim > 1 else unsqueeze(b, -1)
    g2 = reshape(g, shapes.matmul(a2.shape, b2.shape))
    ga = gb = None
    # Batch dims broadcast: the engine sums the cotangents back over them (as for any broadcasting rule).
    if needs_grad(a):
        ga = matmul(g2, transpose(b2, -1, -2))
        if a.ndim == 1:  # drop the row dim that unsqueeze added
            ga = reshape(ga, ga.shape[:-2] + ga.shape[-1:])
    if needs_grad(b):
        if a2.ndim > 2 and b2.ndim == 2:
            # b is shared by every batch element: ONE (K, rows) @ (rows, N) product over the
            # flattened rows, not a batch of products summed afterwards (a linear layer on a sequence)
            rows = int(np.prod(a2.shape[:-1]))
            gb = matmul(transpose(reshape(a2, (rows, a2.shape[-1])), 0, 1), reshape(g2, (rows, g2.shape[-1])))
        else:
            gb = matmul(transpose(a2, -1, -2), g2)
        if b.ndim == 1:  # drop the column dim
            gb = reshape(gb, gb.shape[:-1])
    return ga, gb


def _matmul_node_name(params, in_shapes):
    ranks = (len(in_shapes[0]), len(in_shapes[1]))
    return {(1, 1): "DotBackward0", (2, 1): "MvBackward0", (2, 2): "MmBackward0"}.get(ranks, "BmmBackward0")


MATMUL_PRIM = Primitive("matmul", np.matmul, _matmul_rule, _matmul_vjp, MATMUL, _matmul_node_name)


def matmul(a: TensorLike, b: TensorLike) -> Tensor:
    """Matrix product with NumPy's rules: 1-D, 2-D and batched (broadcast batch dims).

    Example:
        >>> a = jg.tensor([[1.0, 2.0], [3.0, 4.0]])
        >>> jg.matmul(a, jg.tensor([1.0, 1.0]))
        tensor([3., 7.])
        >>> (a @ a).shape
        (2, 2)
    """
    a, b = promoted(a, b)
    return bind(MATMUL_PRIM, a, b)


def mm(a: TensorLike, b: TensorLike) -> Tensor:
    """2-D matrix product (errors on other ranks, as in PyTorch).

    Example:
        >>> jg.mm(jg.eye(2), jg.tensor([[1.0, 2.0], [3.0, 4.0]]))
        tensor([[1., 2.],
                [3., 4.]])
    """
    if as_tensor_operand(a).ndim != 2 or as_tensor_operand(b).ndim != 2:
        raise RuntimeError(f"mm: expected 2-D tensors, got {as_tensor_operand(a).ndim}-D and "
                           f"{as_tensor_operand(b).ndim}-D (use matmul for other ranks)")
    return matmul(a, b)


# The matrix product declared here, in prims.ALL's order.
MATMUL_PRIMS = (MATMUL_PRIM,)
