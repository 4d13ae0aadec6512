"""DistributedDataParallel: every rank holds the same parameters, computes gradients on its shard of the
batch, and after backward holds the gradients averaged over all ranks (PyTorch's semantics).

Gradients are averaged in buckets: parameters are grouped (in reverse registration order, close to the
order backward produces their gradients) into flat buffers of at most `bucket_cap_mb`; a bucket's
allreduce starts (nonblocking) from the post-accumulate-grad hook of its last parameter, while backward
goes on; the last bucket waits for all of them and writes the averages back into `.grad`. Buckets start
in index order on every rank, so ranks never issue collectives in different orders.
"""
from __future__ import annotations

import contextlib
import functools
import weakref

import numpy as np

from ...core import TensorBase
from ...distributed.collectives import broadcast, mark_written
from ...distributed.world import check_same_everywhere, current, wait
from ..module import Module


class _Bucket:
    """Parameters whose gradients are averaged together in one flat buffer."""

    def __init__(self, index: int, params: list) -> None:
        self.index = index
        self.params = params
        self.dtype = params[0].dtype
        sizes = [int(np.prod(p.shape, dtype=np.int64)) for p in params]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.flat = np.empty(int(self.offsets[-1]), dtype=self.dtype)
        self.layout = (index, str(self.dtype), tuple(tuple(p.shape) for p in params))
        self.ready = 0
        self.request = None

    def views(self):
        for i, p in enumerate(self.params):
            yield p, self.flat[self.offsets[i]:self.offsets[i + 1]].reshape(p.shape)


class DistributedDataParallel(Module):
    """Wrap `module` for data-parallel training over jitgrad.distributed (init_process_group first).

    Construction checks that every rank has the same parameter shapes and dtypes and copies rank 0's
    parameters and buffers to all ranks. Inside `with ddp.no_sync():` backward only accumulates locally;
    the first backward after it averages the accumulated gradients."""

    def __init__(self, module: Module, bucket_cap_mb: float = 25.0, broadcast_buffers: bool = True) -> None:
        super().__init__()
        what = "DistributedDataParallel"
        world = current(what)
        if not isinstance(module, Module):
            raise TypeError(f"{what} wraps a jitgrad.nn.Module, got {type(module).__name__}")
        if not bucket_cap_mb > 0:
            raise ValueError(f"bucket_cap_mb must be positive, got {bucket_cap_mb}")
        self.module = module
        self.broadcast_buffers = broadcast_buffers
        self._world = world
        named = list(module.named_parameters())
        buffers = list(module.named_buffers())
        for name, t in named + buffers:
            if type(t._data) is not np.ndarray:
                raise RuntimeError(f"{what}: '{name}' is on device '{t.device}'; DistributedDataParallel averages "
                                   "gradients of CPU parameters: call module.cpu() first")
        check_same_everywhere(world, tuple((n, tuple(t.shape), str(t.dtype)) for n, t in named + buffers),
                              f"{what} (parameters and buffers)")
        for _, t in named + buffers:
            broadcast(t, src=0)
        trained = [p for _, p in named if p.requires_grad]
        if not trained:
            raise RuntimeError(f"{what} is used on a module that has no parameter that requires gradient")
        self._buckets = _make_buckets(trained[::-1], int(bucket_cap_mb * 2**20))
        self._bucket_of = {id(p): b for b in self._buckets for p in b.params}
        self._checked_layouts: set = set()
        self._next_bucket = 0
        self._arrived: set = set()  # ids of the parameters whose gradient this backward produced so far
        self._sync = True
        hook = functools.partial(_grad_ready_of, weakref.ref(self))  # the parameters do not keep DDP alive
        self._hooks = [p.register_post_accumulate_grad_hook(hook) for p in trained]

    def forward(self, *args, **kwargs):
        self._check_previous_reduction()
        if self.broadcast_buffers and self.training and self._world.size > 1:
            for b in self.module.buffers():
                broadcast(b, src=0)
        return self.module(*args, **kwargs)

    @contextlib.contextmanager
    def no_sync(self):
        """Backward passes inside only accumulate `.grad` locally (gradient accumulation); the first
        backward outside averages the sum."""
        previous, self._sync = self._sync, False
        try:
            yield
        finally:
            self._sync = previous

    def extra_repr(self) -> str:
        sizes = ", ".join(str(len(b.params)) for b in self._buckets)
        return f"world_size={self._world.size}, buckets=[{sizes}] parameters"

    # ----- the gradient reduction ------------------------------------------------------------------

    def _grad_ready(self, param: TensorBase) -> None:
        """Post-accumulate-grad hook: count the parameter; start every bucket that is complete, in order."""
        if not self._sync:
            return
        bucket = self._bucket_of[id(param)]
        bucket.ready += 1
        self._arrived.add(id(param))
        for started in self._buckets[:self._next_bucket]:
            started.request.Test()  # MPI progresses nonblocking collectives only inside MPI calls
        try:
            while self._next_bucket < len(self._buckets) and self._is_full(self._buckets[self._next_bucket]):
                self._start(self._buckets[self._next_bucket])
                self._next_bucket += 1
            if self._next_bucket == len(self._buckets):
                self._finish()
        except BaseException:
            self._reset()  # the error is what the user sees, not a stale count at the next forward
            raise

    def __del__(self) -> None:
        for handle in getattr(self, "_hooks", ()):
            handle.remove()

    @staticmethod
    def _is_full(bucket: _Bucket) -> bool:
        return bucket.ready == len(bucket.params)

    def _start(self, bucket: _Bucket) -> None:
        world = self._world
        if bucket.layout not in self._checked_layouts:  # once per layout: every rank, the same point
            check_same_everywhere(world, bucket.layout, f"DistributedDataParallel gradient bucket {bucket.index}")
            self._checked_layouts.add(bucket.layout)
        for p, view in bucket.views():
            np.copyto(view, p._grad._data)
        bucket.request = world.comm.Iallreduce(world.MPI.IN_PLACE, bucket.flat, op=world.MPI.SUM)
        bucket.request.Test()  # lets MPI make progress while backward goes on

    def _finish(self) -> None:
        world = self._world
        for bucket in self._buckets:
            wait(world, bucket.request, f"DistributedDataParallel gradient allreduce (bucket {bucket.index})")
            bucket.request = None
            np.divide(bucket.flat, world.size, out=bucket.flat)
            for p, view in bucket.views():
                grad = p._grad
                if type(grad._data) is np.ndarray and grad._data.flags.writeable:
                    np.copyto(grad._data, view)
                    mark_written(grad, "DistributedDataParallel")
                else:
                    p._grad = type(grad)._wrap(view.copy())
        self._reset()

    def _reset(self) -> None:
        for bucket in self._buckets:
            bucket.ready = 0
            bucket.request = None
        self._next_bucket = 0
        self._arrived.clear()

    def _check_previous_reduction(self) -> None:
        """A backward that gave only some parameters a gradient leaves buckets half counted: say so."""
        if not self._arrived:
            return
        missing = [name for name, p in self.module.named_parameters()
                   if id(p) in self._bucket_of and id(p) not in self._arrived]
        for b in self._buckets[:self._next_bucket]:  # started on every rank: complete them, then reset
            wait(self._world, b.request, "DistributedDataParallel (abandoned bucket)")
        self._reset()  # so the error is reported once
        raise RuntimeError(
            "Expected to have finished reduction in the prior iteration before starting a new one: the last "
            "backward gave gradients to only some parameters, so their average across ranks was not computed. "
            f"Parameters that received no gradient: {missing}. Make every parameter take part in the loss "
            "(or set requires_grad=False on the unused ones before wrapping).")


def _grad_ready_of(ddp_ref, param) -> None:
    """The hook on each parameter: forwards to its DistributedDataParallel while that still exists."""
    ddp = ddp_ref()
    if ddp is not None:
        ddp._grad_ready(param)


def _make_buckets(params: list, cap_bytes: int) -> list:
    """Consecutive parameters of one dtype, up to cap_bytes per bucket (a larger parameter gets its own)."""
    buckets, current_params, size = [], [], 0
    for p in params:
        nbytes = int(np.prod(p.shape, dtype=np.int64)) * p.dtype.itemsize
        if current_params and (p.dtype != current_params[0].dtype or size + nbytes > cap_bytes):
            buckets.append(_Bucket(len(buckets), current_params))
            current_params, size = [], 0
        current_params.append(p)
        size += nbytes
    if current_params:
        buckets.append(_Bucket(len(buckets), current_params))
    return buckets
