"""DataLoader: batches of a dataset's samples, in order or shuffled, collated into tensors; with
num_workers > 0 the batches are loaded by a pool of worker processes (in order)."""
from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ... import creation
from .collate import default_collate, default_convert
from .dataset import IterableDataset
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler


@dataclass(frozen=True)
class WorkerInfo:
    """What get_worker_info() returns inside a worker process."""

    id: int
    num_workers: int
    seed: int
    dataset: object


_worker_info: list = [None]


def get_worker_info() -> WorkerInfo | None:
    """This worker's id, worker count, seed and dataset copy; None in the main process."""
    return _worker_info[0]


class DataLoader:
    """Iterate over batches of `dataset`: batch_size samples each (the last one shorter unless
    drop_last), shuffled each epoch when shuffle=True (from `generator`, or jitgrad's global
    generator), collated by collate_fn (default_collate)."""

    def __init__(self, dataset, batch_size: int | None = 1, shuffle: bool | None = None,
                 sampler: Sampler | None = None, batch_sampler: Sampler | None = None, num_workers: int = 0,
                 collate_fn: Callable | None = None, pin_memory: bool = False, drop_last: bool = False,
                 timeout: float = 0, worker_init_fn: Callable | None = None, generator=None) -> None:
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable "
                             f"multiprocessing (got {num_workers!r})")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        self.dataset = dataset
        self.num_workers = num_workers
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.pin_memory = pin_memory
        self.generator = generator
        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable:
            if shuffle not in (None, False):
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle option, but got "
                                 f"shuffle={shuffle}")
            if sampler is not None or batch_sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified sampler and batch_sampler")
        elif not (hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")):
            raise TypeError(f"DataLoader needs a dataset with __getitem__ and __len__ (or an IterableDataset), got "
                            f"{type(dataset).__name__}")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, "
                                 "and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None:
            if drop_last:
                raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with "
                                 "drop_last")
        elif isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        if sampler is None and not self._iterable:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None and not self._iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        auto_batching = batch_sampler is not None or (self._iterable and batch_size is not None)
        self.collate_fn = collate_fn if collate_fn is not None else (
            default_collate if auto_batching else default_convert)

    def _index_batches(self) -> Iterator:
        """What each loaded item is made from: lists of indices (batched) or single indices."""
        return iter(self.batch_sampler) if self.batch_sampler is not None else iter(self.sampler)

    def __len__(self) -> int:
        if self._iterable:
            n = len(self.dataset)
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return len(self.batch_sampler) if self.batch_sampler is not None else len(self.sampler)

    def __iter__(self) -> Iterator:
        if self._iterable:
            return self._iterate_stream()
        if self.num_workers == 0:
            return (_fetch(self.dataset, self.collate_fn, key) for key in self._index_batches())
        return self._iterate_with_workers()

    def _iterate_stream(self) -> Iterator:
        if self.num_workers > 0:
            raise ValueError("DataLoader: num_workers > 0 with an IterableDataset is not supported by jitgrad yet "
                             "(each worker would yield the whole stream); use num_workers=0")
        if self.batch_size is None:
            for item in self.dataset:
                yield self.collate_fn(item)
            return
        batch = []
        for item in self.dataset:
            batch.append(item)
            if len(batch) == self.batch_size:
                yield self.collate_fn(batch)
                batch = []
        if batch and not self.drop_last:
            yield self.collate_fn(batch)

    def _iterate_with_workers(self) -> Iterator:
        """Load batches in a process pool, in order; each worker is seeded base_seed + worker id
        and runs worker_init_fn(worker id) first, as in PyTorch."""
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        base_seed = int(creation.default_generator().integers(0, 2 ** 62))
        ids = context.Queue()
        for worker_id in range(self.num_workers):
            ids.put(worker_id)
        pool = context.Pool(self.num_workers, initializer=_init_worker,
                            initargs=(ids, self.num_workers, base_seed, self.dataset, self.collate_fn,
                                      self.worker_init_fn))
        try:
            results = pool.imap(_fetch_in_worker, self._index_batches(), chunksize=1)
            while True:
                try:
                    yield results.next(self.timeout or None)
                except StopIteration:
                    return
                except multiprocessing.TimeoutError:
                    raise RuntimeError(f"DataLoader timed out after {self.timeout} seconds waiting for a batch "
                                       "from its worker processes") from None
        finally:
            pool.terminate()
            pool.join()


def _fetch(dataset, collate_fn: Callable, key):
    if isinstance(key, list):
        return collate_fn([dataset[i] for i in key])
    return collate_fn(dataset[key])


_worker_state: dict = {}


def _init_worker(ids, num_workers: int, base_seed: int, dataset, collate_fn: Callable, worker_init_fn) -> None:
    worker_id = ids.get()
    seed = base_seed + worker_id
    creation.manual_seed(seed % 2 ** 63)
    _worker_info[0] = WorkerInfo(worker_id, num_workers, seed, dataset)
    _worker_state.update(dataset=dataset, collate_fn=collate_fn)
    if worker_init_fn is not None:
        worker_init_fn(worker_id)


def _fetch_in_worker(key):
    return _fetch(_worker_state["dataset"], _worker_state["collate_fn"], key)
