"""PyTorch's torch.utils.data namespace."""
from .distributed import DistributedSampler

__all__ = ["DistributedSampler"]
