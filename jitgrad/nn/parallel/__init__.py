"""PyTorch's torch.nn.parallel: data-parallel training across processes (over jitgrad.distributed)."""
from .data_parallel import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
