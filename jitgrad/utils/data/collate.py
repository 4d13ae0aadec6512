"""default_collate: a list of samples -> one batch, stacking tensors, arrays and numbers into
tensors and recursing into tuples, lists, named tuples and dicts (PyTorch's rules)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ... import creation, prims
from ...core import TensorBase


def default_collate(batch: list):
    """Collate samples that share a structure into one batch of that structure."""
    elem = batch[0]
    if isinstance(elem, TensorBase):
        return prims.stack(list(batch))
    if isinstance(elem, np.ndarray):
        _check_numeric(elem)
        return creation.tensor(np.stack(batch))
    if isinstance(elem, np.generic):
        _check_numeric(np.asarray(elem))
        return creation.tensor(np.array(batch))
    if isinstance(elem, float):
        return creation.tensor(batch, dtype=np.float64)
    if isinstance(elem, int):
        return creation.tensor(batch)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, Mapping):
        collated = {key: default_collate([d[key] for d in batch]) for key in elem}
        return collated if type(elem) is dict else type(elem)(collated)
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(s) for s in zip(*batch, strict=True)))
    if isinstance(elem, Sequence):
        size = len(elem)
        if any(len(e) != size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        columns = [default_collate(s) for s in zip(*batch, strict=True)]
        return columns if isinstance(elem, (tuple, list)) else type(elem)(columns)
    raise TypeError(f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found "
                    f"{type(elem).__name__}")


def default_convert(data):
    """One sample (batch_size=None): NumPy arrays and numbers inside it become tensors, recursively."""
    if isinstance(data, np.ndarray) and data.dtype.kind in "biuf":
        return creation.tensor(data)
    if isinstance(data, Mapping):
        return {key: default_convert(value) for key, value in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, (list, tuple)):
        return type(data)(default_convert(d) for d in data)
    return data


def _check_numeric(array: np.ndarray) -> None:
    if array.dtype.kind not in "biuf":
        raise TypeError(f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
                        f"found a numpy array of dtype {array.dtype}")
