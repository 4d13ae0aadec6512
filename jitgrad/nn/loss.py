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
    """Cross entropy of logits against int64 class indices (or class probabilities), with label smoothing."""

    def __init__(self, weight: TensorBase | None = None, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:
        super().__init__(weight, ignore_index, reduction)
        self.label_smoothing = label_smoothing

    def forward(self, input: TensorBase, target: TensorBase) -> TensorBase:  # noqa: A002
        return F.cross_entropy(input, target, self.weight, ignore_index=self.ignore_index, reduction=self.reduction,
                               label_smoothing=self.label_smoothing)


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of int64 class indices given log-probabilities."""

    def forward(self, input: TensorBase, target: TensorBase) -> TensorBase:  # noqa: A002
        return F.nll_loss(input, target, self.weight, ignore_index=self.ignore_index, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean (or sum, or elementwise) absolute error."""

    def forward(self, input: TensorBase, target: TensorBase) -> TensorBase:  # noqa: A002
        return F.l1_loss(input, target, self.reduction)


class SmoothL1Loss(_Loss):
    """Squared error below beta, absolute error above (scaled to meet at beta)."""

    def __init__(self, reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(reduction)
        self.beta = beta

    def forward(self, input: TensorBase, target: TensorBase) -> TensorBase:  # noqa: A002
        return F.smooth_l1_loss(input, target, self.reduction, self.beta)


class HuberLoss(_Loss):
    """Squared error below delta, delta-scaled absolute error above."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction)
        self.delta = delta

    def forward(self, input: TensorBase, target: TensorBase) -> TensorBase:  # noqa: A002
        return F.huber_loss(input, target, self.reduction, self.delta)


class BCELoss(_Loss):
    """Binary cross entropy of probabilities, optionally weighted per element."""

    def __init__(self, weight: TensorBase | None = None, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.register_buffer("weight", weight)

    def forward(self, input: TensorBase, target: TensorBase) -> TensorBase:  # noqa: A002
        return F.binary_cross_entropy(input, target, self.weight, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross entropy of logits (stable), with per-element weight and per-class pos_weight."""

    def __init__(self, weight: TensorBase | None = None, reduction: str = "mean",
                 pos_weight: TensorBase | None = None) -> None:
        super().__init__(reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input: TensorBase, target: TensorBase) -> TensorBase:  # noqa: A002
        return F.binary_cross_entropy_with_logits(input, target, self.weight, self.reduction, self.pos_weight)


class KLDivLoss(_Loss):
    """KL divergence of target from input (log-probabilities); reduction may be 'batchmean'."""

    def __init__(self, reduction: str = "mean", log_target: bool = False) -> None:
        if reduction != "batchmean":
            F._check_reduction(reduction)
        Module.__init__(self)
        self.reduction, self.log_target = reduction, log_target

    def forward(self, input: TensorBase, target: TensorBase) -> TensorBase:  # noqa: A002
        return F.kl_div(input, target, self.reduction, self.log_target)


class CosineEmbeddingLoss(_Loss):
    """1 - cos for similar pairs (target 1), max(0, cos - margin) for dissimilar ones (target -1)."""

    def __init__(self, margin: float = 0.0, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.margin = margin

    def forward(self, input1: TensorBase, input2: TensorBase, target: TensorBase) -> TensorBase:
        return F.cosine_embedding_loss(input1, input2, target, self.margin, self.reduction)


class MarginRankingLoss(_Loss):
    """max(0, -target * (input1 - input2) + margin)."""

    def __init__(self, margin: float = 0.0, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.margin = margin

    def forward(self, input1: TensorBase, input2: TensorBase, target: TensorBase) -> TensorBase:
        return F.margin_ranking_loss(input1, input2, target, self.margin, self.reduction)
