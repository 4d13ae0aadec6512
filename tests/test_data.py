"""jitgrad.utils.data: datasets, samplers, default collation and the DataLoader (order, shuffle,
drop_last, collate_fn, generator, worker processes), against PyTorch's behaviour."""
from __future__ import annotations

from collections import namedtuple

import numpy as np
import pytest

import jitgrad
from jitgrad.utils import data

torch = pytest.importorskip("torch")

X = np.arange(20, dtype=np.float32).reshape(10, 2)
Y = np.arange(10) % 3


def tensor_dataset():
    return data.TensorDataset(jitgrad.tensor(X), jitgrad.tensor(Y))


def test_tensor_dataset_items_and_length():
    ds = tensor_dataset()
    assert len(ds) == 10
    x, y = ds[3]
    assert x.tolist() == [6.0, 7.0] and y.item() == 0
    with pytest.raises(ValueError, match="Size mismatch"):
        data.TensorDataset(jitgrad.zeros(3), jitgrad.zeros(4))


@pytest.mark.parametrize("batch_size, drop_last", [(1, False), (3, False), (3, True), (10, True), (12, False)])
def test_batches_in_order_match_pytorch(batch_size, drop_last):
    jl = data.DataLoader(tensor_dataset(), batch_size=batch_size, drop_last=drop_last)
    tl = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.tensor(X), torch.tensor(Y)),
                                     batch_size=batch_size, drop_last=drop_last)
    assert len(jl) == len(tl)
    jb, tb = list(jl), list(tl)
    assert len(jb) == len(tb)
    for (jx, jy), (tx, ty) in zip(jb, tb, strict=True):
        np.testing.assert_array_equal(jx.numpy(), tx.numpy())
        np.testing.assert_array_equal(jy.numpy(), ty.numpy())
        assert jx.dtype == np.float32 and jy.dtype == np.int64


def test_shuffle_is_a_permutation_reproducible_by_generator():
    def epoch(seed):
        loader = data.DataLoader(tensor_dataset(), batch_size=4, shuffle=True,
                                 generator=np.random.default_rng(seed))
        return np.concatenate([y.numpy() * 0 + x.numpy()[:, 0] / 2 for x, y in loader]).astype(int).tolist()

    first = epoch(1)
    assert sorted(first) == list(range(10)) and first != list(range(10))
    assert epoch(1) == first and epoch(2) != first
    jitgrad.manual_seed(5)
    a = [x.numpy().tolist() for x, _ in data.DataLoader(tensor_dataset(), batch_size=5, shuffle=True)]
    jitgrad.manual_seed(5)
    b = [x.numpy().tolist() for x, _ in data.DataLoader(tensor_dataset(), batch_size=5, shuffle=True)]
    assert a == b
    loader = data.DataLoader(tensor_dataset(), batch_size=10, shuffle=True)
    assert [x.numpy().tolist() for x, _ in loader] != [x.numpy().tolist() for x, _ in loader]  # new order each epoch


Point = namedtuple("Point", "x y")


def test_default_collate_structures_match_pytorch():
    samples = [{"a": np.array([i, i + 1.0]), "b": (i, float(i) / 2, "s%d" % i), "p": Point(i, [i, True])}
               for i in range(3)]
    jb = data.default_collate(samples)
    tb = torch.utils.data.default_collate(samples)
    np.testing.assert_array_equal(jb["a"].numpy(), tb["a"].numpy())
    assert jb["a"].dtype == np.float64
    assert isinstance(jb["b"], list) and isinstance(tb["b"], list)
    assert jb["b"][0].dtype == np.int64 and jb["b"][1].dtype == np.float64
    np.testing.assert_array_equal(jb["b"][1].numpy(), tb["b"][1].numpy())
    assert jb["b"][2] == tb["b"][2] == ("s0", "s1", "s2")
    assert data.default_collate(["x", "y"]) == ["x", "y"]
    assert isinstance(jb["p"], Point) and jb["p"].x.tolist() == [0, 1, 2]
    assert jb["p"].y[1].dtype == np.bool_ and tb["p"].y[1].dtype == torch.bool
    stacked = data.default_collate([jitgrad.ones(2, 3), jitgrad.zeros(2, 3)])
    assert stacked.shape == (2, 2, 3)
    with pytest.raises(RuntimeError, match="equal size"):
        data.default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="found object"):
        data.default_collate([object(), object()])
    with pytest.raises(TypeError, match="dtype <U"):
        data.default_collate([np.array(["a"]), np.array(["b"])])


def test_custom_collate_and_plain_list_dataset():
    loader = data.DataLoader(list(range(7)), batch_size=3, collate_fn=lambda batch: sum(batch))
    assert list(loader) == [3, 12, 6]
    unbatched = data.DataLoader([np.array([1, 2]), np.array([3, 4])], batch_size=None)
    assert [b.tolist() for b in unbatched] == [[1, 2], [3, 4]]


def test_random_split_lengths_and_fractions():
    ds = tensor_dataset()
    a, b = data.random_split(ds, [7, 3], generator=np.random.default_rng(0))
    assert len(a) == 7 and len(b) == 3
    assert sorted(a.indices + b.indices) == list(range(10))
    parts = data.random_split(range(11), [0.5, 0.3, 0.2], generator=np.random.default_rng(0))
    t_parts = torch.utils.data.random_split(range(11), [0.5, 0.3, 0.2])
    assert [len(p) for p in parts] == [len(p) for p in t_parts] == [6, 3, 2]
    assert sorted(i for p in parts for i in p) == list(range(11))
    with pytest.raises(ValueError, match="Sum of input lengths"):
        data.random_split(ds, [5, 4])
    with pytest.warns(UserWarning, match="index 1 is 0"):
        whole, empty = data.random_split(ds, [1, 0])  # sums to 1: fractions, as in PyTorch
    with pytest.warns(UserWarning, match="index 1 is 0"):
        torch_parts = torch.utils.data.random_split(range(10), [1, 0])
    assert (len(whole), len(empty)) == (10, 0) == tuple(len(p) for p in torch_parts)
    with pytest.raises(ValueError, match="between 0 and 1"):
        data.random_split(ds, [1.5, -0.5])


def test_subset_and_samplers():
    sub = data.Subset(list("abcdef"), [4, 0, 2])
    assert [sub[i] for i in range(len(sub))] == ["e", "a", "c"]
    assert list(data.SequentialSampler(range(4))) == [0, 1, 2, 3]
    assert sorted(data.RandomSampler(range(5), generator=np.random.default_rng(0))) == [0, 1, 2, 3, 4]
    drawn = list(data.RandomSampler(range(3), replacement=True, num_samples=8))
    assert len(drawn) == 8 and set(drawn) <= {0, 1, 2}
    assert list(data.BatchSampler(range(7), 3, drop_last=False)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert len(data.BatchSampler(range(7), 3, drop_last=True)) == 2
    loader = data.DataLoader(list("abcde"), batch_size=2, sampler=data.SubsetRandomSampler([0, 2, 4]),
                             collate_fn=list)
    assert sorted(x for b in loader for x in b) == ["a", "c", "e"]


class Squares(data.IterableDataset):
    def __iter__(self):
        return iter(range(5))


def test_iterable_dataset_batches():
    assert [b.tolist() for b in data.DataLoader(Squares(), batch_size=2)] == [[0, 1], [2, 3], [4]]
    assert [b.tolist() for b in data.DataLoader(Squares(), batch_size=2, drop_last=True)] == [[0, 1], [2, 3]]
    with pytest.raises(ValueError, match="shuffle"):
        data.DataLoader(Squares(), shuffle=True)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(batch_size=0), ValueError, "batch_size should be a positive integer"),
    (dict(batch_size=-2), ValueError, "batch_size should be a positive integer"),
    (dict(batch_size=2.5), ValueError, "batch_size should be a positive integer"),
    (dict(num_workers=-1), ValueError, "num_workers option should be non-negative"),
    (dict(shuffle=True, sampler=[0, 1]), ValueError, "mutually exclusive with shuffle"),
    (dict(batch_size=None, drop_last=True), ValueError, "mutually exclusive with drop_last"),
    (dict(batch_sampler=[[0]], batch_size=3), ValueError, "batch_sampler option is mutually exclusive"),
])
def test_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        data.DataLoader(tensor_dataset(), **kwargs)
    with pytest.raises(TypeError, match="__getitem__ and __len__"):
        data.DataLoader(42)
    with pytest.raises(TypeError, match="generator must be a jitgrad.Generator or numpy.random.Generator"):
        list(data.DataLoader(tensor_dataset(), shuffle=True, generator=3))


class Broken(data.Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, index):
        if index == 2:
            raise KeyError(f"sample {index} is missing")
        return index


def test_an_error_in_a_worker_reaches_the_caller():
    loader = data.DataLoader(Broken(), batch_size=1, num_workers=2, timeout=30)
    with pytest.raises(KeyError, match="sample 2 is missing"):
        list(loader)


def _record_worker(worker_id):
    assert data.get_worker_info().id == worker_id


def test_worker_processes_give_the_same_batches():
    """Two worker processes (tiny dataset, timeout so a stuck pool fails instead of hanging)."""
    plain = [(x.numpy(), y.numpy()) for x, y in data.DataLoader(tensor_dataset(), batch_size=3)]
    loader = data.DataLoader(tensor_dataset(), batch_size=3, num_workers=2, timeout=30,
                             worker_init_fn=_record_worker)
    for _ in range(2):
        parallel = [(x.numpy(), y.numpy()) for x, y in loader]
        assert len(parallel) == len(plain)
        for (px, py), (qx, qy) in zip(parallel, plain, strict=True):
            np.testing.assert_array_equal(px, qx)
            np.testing.assert_array_equal(py, qy)
    assert data.get_worker_info() is None
