"""LayerNorm (torch.nn.LayerNorm); the batch norms live with the convolution layers in nn.conv."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .. import dtypes
from ..core import TensorBase
from ..tensor import Tensor
from . import functional_layers as FL  # noqa: N812
from .module import Module
from .parameter import Parameter

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from collections.abc import Sequence

    from .._typing import DTypeLike


class LayerNorm(Module):
    """Normalises over the trailing normalized_shape dims, then scales by weight (ones) and shifts by bias (zeros)."""

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, dtype: DTypeLike = None) -> None:
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
        self.normalized_shape = tuple(int(s) for s in shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        dt = dtypes.as_dtype(dtype)
        if elementwise_affine:
            self.weight = Parameter(Tensor._wrap(np.ones(self.normalized_shape, dtype=dt)))
            if bias:
                self.bias = Parameter(Tensor._wrap(np.zeros(self.normalized_shape, dtype=dt)))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, input: TensorBase) -> TensorBase:  # noqa: A002
        return FL.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
