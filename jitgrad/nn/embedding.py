"""Embedding: a learnable lookup table of vectors indexed by integer ids (torch.nn.Embedding)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .. import dtypes
from ..core import TensorBase
from ..grad_mode import no_grad
from ..tensor import Tensor
from . import functional_layers as FL  # noqa: N812
from . import init
from .module import Module
from .parameter import Parameter

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from typing import Any

    from .._typing import DTypeLike


class Embedding(Module):
    """weight[ids] with weight of shape (num_embeddings, embedding_dim), initialised N(0, 1); the row
    of padding_idx is zeroed at init and gets no gradient."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                 sparse: bool = False, _weight: TensorBase | None = None, _freeze: bool = False,
                 dtype: DTypeLike = None) -> None:
        super().__init__()
        for name, n in (("num_embeddings", num_embeddings), ("embedding_dim", embedding_dim)):
            if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
                raise ValueError(f"Embedding: {name} must be a non-negative int, got {n!r}")
        if max_norm is not None or scale_grad_by_freq or sparse:
            raise ValueError("Embedding: max_norm, scale_grad_by_freq and sparse are not supported by jitgrad "
                             "(gradients are dense); renormalise the table yourself under jitgrad.no_grad()")
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        self.padding_idx = None if padding_idx is None else FL._padding_index(padding_idx, self.num_embeddings)
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        if _weight is None:
            dt = dtypes.as_dtype(dtype)
            self.weight = Parameter(Tensor._wrap(np.empty((self.num_embeddings, self.embedding_dim), dtype=dt)),
                                    requires_grad=not _freeze)
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (self.num_embeddings, self.embedding_dim):
                raise AssertionError(f"Shape of weight {list(_weight.shape)} does not match num_embeddings and "
                                     "embedding_dim")
            self.weight = Parameter(_weight, requires_grad=not _freeze)

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx] = 0.0

    def forward(self, input: TensorBase) -> TensorBase:  # noqa: A002
        return FL.embedding(input, self.weight, self.padding_idx)

    @classmethod
    def from_pretrained(cls, embeddings: TensorBase, freeze: bool = True, padding_idx: int | None = None,
                        **kwargs: Any) -> Embedding:
        """An Embedding whose table is `embeddings` (2-D); frozen (no gradient) unless freeze=False."""
        if embeddings.ndim != 2:
            raise AssertionError("Embeddings parameter is expected to be 2-dimensional")
        rows, cols = embeddings.shape
        return cls(rows, cols, padding_idx=padding_idx, _weight=embeddings, _freeze=freeze, **kwargs)

    def extra_repr(self) -> str:
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        return text + (f", padding_idx={self.padding_idx}" if self.padding_idx is not None else "")
