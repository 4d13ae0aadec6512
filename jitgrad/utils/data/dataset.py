"""Datasets: the map-style base, the iterable base, TensorDataset, Subset and random_split."""
from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

from ...core import TensorBase
from . import rng


class Dataset:
    """A map-style dataset: subclasses define __getitem__(index) and __len__()."""

    def __getitem__(self, index):
        raise TypeError(f"{type(self).__name__} is a Dataset without __getitem__; define it in the subclass")


class IterableDataset:
    """A dataset that is a stream: subclasses define __iter__ (DataLoader batches what it yields)."""

    def __iter__(self):
        raise TypeError(f"{type(self).__name__} is an IterableDataset without __iter__; define it in the subclass")


class TensorDataset(Dataset):
    """Item i is (t[i] for each tensor): tensors that share their first dimension."""

    def __init__(self, *tensors: TensorBase) -> None:
        for t in tensors:
            if not isinstance(t, TensorBase):
                raise TypeError(f"TensorDataset takes jitgrad Tensors, got {type(t).__name__}")
            if t.ndim == 0:
                raise ValueError("TensorDataset needs tensors with at least one dimension (the sample index)")
        if len({t.shape[0] for t in tensors}) > 1:
            raise ValueError(f"Size mismatch between tensors: first dimensions {[t.shape[0] for t in tensors]}")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0] if self.tensors else 0


class Subset(Dataset):
    """The items of `dataset` at `indices`, in that order."""

    def __init__(self, dataset, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, index):
        if isinstance(index, list):
            return self.dataset[[self.indices[i] for i in index]]
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)


def random_split(dataset, lengths: Sequence[int | float], generator=None) -> list[Subset]:
    """Split into non-overlapping random Subsets of the given lengths, or fractions summing to 1
    (floored, the remainder given one by one to the first subsets, as PyTorch does)."""
    n = len(dataset)
    lengths = list(lengths)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        for i, frac in enumerate(lengths):
            if frac < 0 or frac > 1:
                raise ValueError(f"Fraction at index {i} is not between 0 and 1")
        counts = [int(math.floor(n * frac)) for frac in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        for i, count in enumerate(counts):
            if count == 0:
                warnings.warn(f"Length of split at index {i} is 0. This might result in an empty dataset.",
                              UserWarning, stacklevel=2)
        lengths = counts
    if any(not isinstance(x, int) or x < 0 for x in lengths):
        raise ValueError(f"random_split lengths must be non-negative integers or fractions summing to 1, got {lengths}")
    if sum(lengths) != n:
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    order = rng.resolve(generator).permutation(n).tolist()
    subsets, offset = [], 0
    for length in lengths:
        subsets.append(Subset(dataset, order[offset:offset + length]))
        offset += length
    return subsets
