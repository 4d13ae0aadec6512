"""PyTorch's torch.utils.data: datasets, samplers, default collation and the DataLoader."""
from .collate import default_collate, default_convert
from .dataloader import DataLoader, get_worker_info
from .dataset import Dataset, IterableDataset, Subset, TensorDataset, random_split
from .distributed import DistributedSampler
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "Subset", "random_split", "Sampler", "SequentialSampler",
           "RandomSampler", "SubsetRandomSampler", "BatchSampler", "DataLoader", "DistributedSampler",
           "default_collate", "default_convert", "get_worker_info"]
