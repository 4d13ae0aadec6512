"""PyTorch's torch.utils namespace."""
from . import data
