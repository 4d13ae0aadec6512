"""PyTorch's torch.utils namespace: data loading (utils.data)."""
from . import data

__all__ = ["data"]
