"""Collectives over the process group, with PyTorch's names and in-place semantics, on CPU Tensors and
NumPy arrays. async_op=True starts the nonblocking MPI call and returns a Work whose wait() finishes
it; otherwise the blocking MPI call runs. Every call first checks (one tiny allreduce) that all
ranks passed the same shapes and dtypes, so a mismatch raises on every rank instead of corrupting."""
from __future__ import annotations

import datetime
import enum

import numpy as np

from .. import dtypes
from ..core import TensorBase
from .world import _World, check_same_everywhere, current, wait


class ReduceOp(enum.Enum):
    """How all_reduce / reduce_scatter combine the ranks' values (PyTorch's dist.ReduceOp)."""

    SUM = "sum"
    AVG = "avg"
    MAX = "max"
    MIN = "min"


class Work:
    """The handle of a collective started with async_op=True: wait() completes it (PyTorch's Work)."""

    def __init__(self, world: _World, request, what: str, finish=None) -> None:
        self._world, self._request, self._what, self._finish = world, request, what, finish
        self._done = False

    def is_completed(self) -> bool:
        """True once wait() has finished the collective."""
        return self._done

    def wait(self, timeout=None) -> bool:
        """Block until the collective has finished and its results are in the output tensors; raise
        RuntimeError after `timeout` (seconds or a timedelta; default: the process group's)."""
        if not self._done:
            seconds = None
            if timeout is not None:
                seconds = timeout.total_seconds() if isinstance(timeout, datetime.timedelta) else float(timeout)
            wait(self._world, self._request, self._what, seconds)
            if self._finish is not None:
                self._finish()
            self._done = True
        return True


def mark_written(tensor: TensorBase, op_name: str) -> None:
    """Bump the version counter of a tensor whose storage a collective wrote (autograd then knows)."""
    tensor._version_counter.bump(op_name)


class _Buffer:
    """A contiguous host array for MPI to read or write, and how to put its result back."""

    def __init__(self, target, what: str, name: str) -> None:
        self.what = what
        if isinstance(target, TensorBase):
            data = target._data
            if type(data) is not np.ndarray:
                raise RuntimeError(f"{what}: {name} is on device '{target.device}'; jitgrad.distributed works on "
                                   "CPU tensors: move it with .cpu() first")
        elif isinstance(target, np.ndarray):
            data = target
        else:
            raise TypeError(f"{what}: {name} must be a jitgrad.Tensor or a NumPy array, got {type(target).__name__}")
        self.target, self.data = target, data
        self.array = data if data.flags.c_contiguous else np.ascontiguousarray(data)

    def written(self) -> None:
        """The collective wrote self.array: copy into a non-contiguous original and bump the version."""
        if self.array is not self.data:
            np.copyto(self.data, self.array)
        if isinstance(self.target, TensorBase):
            mark_written(self.target, self.what)


def _mpi_op(world: _World, op: ReduceOp, dtype: np.dtype, what: str):
    if not isinstance(op, ReduceOp):
        raise TypeError(f"{what}: op must be a jitgrad.distributed.ReduceOp, got {op!r}")
    if dtype == np.bool_ and op in (ReduceOp.SUM, ReduceOp.AVG):
        raise TypeError(f"{what}: ReduceOp.{op.name} is not defined for bool tensors; use MAX (any) or MIN (all)")
    if op is ReduceOp.AVG and not dtypes.is_floating(dtype):
        raise TypeError(f"{what}: ReduceOp.AVG needs a floating dtype, got {dtypes.name(dtype)}; use SUM and "
                        "divide, or convert with .float()")
    mpi = world.MPI
    if dtype == np.bool_:  # MPI reduces bools with logical ops only
        return mpi.LOR if op is ReduceOp.MAX else mpi.LAND
    return {ReduceOp.SUM: mpi.SUM, ReduceOp.AVG: mpi.SUM, ReduceOp.MAX: mpi.MAX, ReduceOp.MIN: mpi.MIN}[op]


def _meta(buf: _Buffer) -> tuple:
    return (tuple(buf.array.shape), str(buf.array.dtype))


def _run(world: _World, what: str, async_op: bool, start, run, finish=None):
    """async_op: start() the nonblocking MPI call and hand back its Work. Otherwise run() the blocking
    one: Open MPI's blocking algorithms are up to 2x faster for large messages, and the metadata check
    just before (nonblocking, with the timeout) has already seen every rank arrive at this collective."""
    if async_op:
        return Work(world, start(), what, finish)
    run()
    if finish is not None:
        finish()
    return None


def _check_rank(world: _World, rank: int, what: str, name: str) -> int:
    if not isinstance(rank, (int, np.integer)) or not 0 <= rank < world.size:
        raise ValueError(f"{what}: {name}={rank!r} is not a rank of this world (0..{world.size - 1})")
    return int(rank)


def all_reduce(tensor, op: ReduceOp = ReduceOp.SUM, async_op: bool = False):
    """Combine `tensor` across all ranks with `op`, in place: every rank ends with the result."""
    what = "all_reduce"
    world = current(what)
    buf = _Buffer(tensor, what, "tensor")
    mpi_op = _mpi_op(world, op, buf.array.dtype, what)
    check_same_everywhere(world, ("all_reduce", op.name) + _meta(buf), what)
    args = (world.MPI.IN_PLACE, buf.array)

    def finish():
        if op is ReduceOp.AVG:
            np.divide(buf.array, world.size, out=buf.array)
        buf.written()
    return _run(world, what, async_op, lambda: world.comm.Iallreduce(*args, op=mpi_op),
                lambda: world.comm.Allreduce(*args, op=mpi_op), finish)


def broadcast(tensor, src: int, async_op: bool = False):
    """Copy rank `src`'s `tensor` into `tensor` on every other rank, in place."""
    what = "broadcast"
    world = current(what)
    src = _check_rank(world, src, what, "src")
    buf = _Buffer(tensor, what, "tensor")
    check_same_everywhere(world, ("broadcast", src) + _meta(buf), what)
    finish = buf.written if world.rank != src else None
    return _run(world, what, async_op, lambda: world.comm.Ibcast(buf.array, root=src),
                lambda: world.comm.Bcast(buf.array, root=src), finish)


def _same_shaped(items, like: _Buffer, world: _World, what: str, name: str) -> list:
    items = list(items)
    if len(items) != world.size:
        raise ValueError(f"{what}: {name} must hold one tensor per rank ({world.size}), got {len(items)}")
    bufs = [_Buffer(t, what, f"{name}[{i}]") for i, t in enumerate(items)]
    for i, b in enumerate(bufs):
        if _meta(b) != _meta(like):
            raise ValueError(f"{what}: {name}[{i}] has shape {b.array.shape} and dtype {b.array.dtype}; every "
                             f"entry must match the tensor's shape {like.array.shape} and dtype {like.array.dtype}")
    return bufs


def all_gather(tensor_list: list, tensor, async_op: bool = False):
    """Fill tensor_list[r] with rank r's `tensor`, on every rank."""
    what = "all_gather"
    world = current(what)
    send = _Buffer(tensor, what, "tensor")
    outs = _same_shaped(tensor_list, send, world, what, "tensor_list")
    check_same_everywhere(world, ("all_gather",) + _meta(send), what)
    recv = np.empty((world.size,) + send.array.shape, send.array.dtype)

    def finish():
        for r, out in enumerate(outs):
            np.copyto(out.array, recv[r])
            out.written()
    return _run(world, what, async_op, lambda: world.comm.Iallgather(send.array, recv),
                lambda: world.comm.Allgather(send.array, recv), finish)


def reduce_scatter(output, input_list: list, op: ReduceOp = ReduceOp.SUM, async_op: bool = False):
    """output on rank r = input_list[r] combined across all ranks with `op`."""
    what = "reduce_scatter"
    world = current(what)
    out = _Buffer(output, what, "output")
    ins = _same_shaped(input_list, out, world, what, "input_list")
    mpi_op = _mpi_op(world, op, out.array.dtype, what)
    check_same_everywhere(world, ("reduce_scatter", op.name) + _meta(out), what)
    send = np.stack([b.array for b in ins]) if ins else np.empty((0,), out.array.dtype)

    def finish():
        if op is ReduceOp.AVG:
            np.divide(out.array, world.size, out=out.array)
        out.written()
    return _run(world, what, async_op, lambda: world.comm.Ireduce_scatter_block(send, out.array, op=mpi_op),
                lambda: world.comm.Reduce_scatter_block(send, out.array, op=mpi_op), finish)


def gather(tensor, gather_list: list | None = None, dst: int = 0, async_op: bool = False):
    """On rank `dst`, fill gather_list[r] with rank r's `tensor` (other ranks pass gather_list=None)."""
    what = "gather"
    world = current(what)
    dst = _check_rank(world, dst, what, "dst")
    send = _Buffer(tensor, what, "tensor")
    outs = None
    if world.rank == dst:
        if gather_list is None:
            raise ValueError(f"{what}: rank {dst} (dst) must pass gather_list, one tensor per rank")
        outs = _same_shaped(gather_list, send, world, what, "gather_list")
    elif gather_list:
        raise ValueError(f"{what}: only rank dst={dst} passes gather_list; rank {world.rank} must pass None")
    check_same_everywhere(world, ("gather", dst) + _meta(send), what)
    recv = np.empty((world.size,) + send.array.shape, send.array.dtype) if outs is not None else None

    def finish():
        for r, out in enumerate(outs or ()):
            np.copyto(out.array, recv[r])
            out.written()
    return _run(world, what, async_op, lambda: world.comm.Igather(send.array, recv, root=dst),
                lambda: world.comm.Gather(send.array, recv, root=dst), finish)


def scatter(tensor, scatter_list: list | None = None, src: int = 0, async_op: bool = False):
    """Rank r's `tensor` becomes scatter_list[r] of rank `src` (other ranks pass scatter_list=None)."""
    what = "scatter"
    world = current(what)
    src = _check_rank(world, src, what, "src")
    out = _Buffer(tensor, what, "tensor")
    send = None
    if world.rank == src:
        if scatter_list is None:
            raise ValueError(f"{what}: rank {src} (src) must pass scatter_list, one tensor per rank")
        send = np.stack([b.array for b in _same_shaped(scatter_list, out, world, what, "scatter_list")])
    elif scatter_list:
        raise ValueError(f"{what}: only rank src={src} passes scatter_list; rank {world.rank} must pass None")
    check_same_everywhere(world, ("scatter", src) + _meta(out), what)
    return _run(world, what, async_op, lambda: world.comm.Iscatter(send, out.array, root=src),
                lambda: world.comm.Scatter(send, out.array, root=src), out.written)


def barrier(async_op: bool = False):
    """Return only once every rank has called barrier()."""
    what = "barrier"
    world = current(what)
    return _run(world, what, async_op, world.comm.Ibarrier, lambda: wait(world, world.comm.Ibarrier(), what))
