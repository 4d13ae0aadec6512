"""DistributedSampler: each rank draws an equal, disjoint shard of a dataset's indices (PyTorch's
torch.utils.data.DistributedSampler); set_epoch(e) reshuffles identically on every rank."""
from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from ...distributed import world


class DistributedSampler:
    """Indices rank, rank + R, rank + 2R, ... of a (per-epoch shuffled) permutation of range(len(dataset)),
    padded by repeating its start (or cut, with drop_last) so that every rank gets the same count."""

    def __init__(self, dataset, num_replicas: int | None = None, rank: int | None = None, shuffle: bool = True,
                 seed: int = 0, drop_last: bool = False) -> None:
        if num_replicas is None:
            num_replicas = world.current("DistributedSampler (num_replicas=None)").size
        if rank is None:
            rank = world.current("DistributedSampler (rank=None)").rank
        if num_replicas < 1:
            raise ValueError(f"num_replicas must be >= 1, got {num_replicas}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas, self.rank = int(num_replicas), int(rank)
        self.shuffle, self.seed, self.drop_last = shuffle, int(seed), drop_last
        self.epoch = 0
        n = len(dataset)
        if drop_last and n % self.num_replicas:
            self.num_samples = math.ceil((n - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def __iter__(self) -> Iterator[int]:
        n = len(self.dataset)
        if self.shuffle:
            indices = np.random.default_rng(self.seed + self.epoch).permutation(n)
        else:
            indices = np.arange(n)
        if self.total_size > n:  # pad by repeating the start (several times for tiny datasets)
            indices = np.resize(indices, self.total_size)
        indices = indices[:self.total_size]
        return iter(indices[self.rank:self.total_size:self.num_replicas].tolist())

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Shuffle with a new seed (seed + epoch): call before each epoch, with the same value on all ranks."""
        self.epoch = int(epoch)
