"""Loss modules: thin wrappers that hold the options of the functions in nn.functional."""
from __future__ import annotations

from ..core import TensorBase
from . import functional as F  # noqa: N812 - PyTorch's spelling
from .module import Module


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        F._check_reduction(reduction)
        self.reduction = reduction

    def extra_repr(self) -> str:
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class MSELoss(_Loss):
    """Mean squared error; reduction 'mean', 'sum' or 'none'."""

    def forward(self, input: TensorBase, target: TensorBase) -> TensorBase:  # noqa: A002
        return F.mse_loss(input, target, self.reduction)


class _WeightedLoss(_Loss):
    def __init__(self, weight: TensorBase | None = None, ignore_index: int = -100, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index


class CrossEntropyLoss(_WeightedLoss):
    """Cross entropy of logits against int64 class indices (or class probabilities)."""

    def forward(self, input: TensorBase, target: TensorBase) -> TensorBase:  # noqa: A002
        return F.cross_entropy(input, target, self.weight, self.ignore_index, self.reduction)


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of int64 class indices given log-probabilities."""

    def forward(self, input: TensorBase, target: TensorBase) -> TensorBase:  # noqa: A002
        return F.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)
