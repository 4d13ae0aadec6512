"""The process group: which MPI communicator the collectives use, this process's rank, the world size,
the collective timeout, and the threads each rank gives its parallel kernels.

mpi4py is imported here only inside init_process_group, so `import jitgrad` never loads MPI.
"""
from __future__ import annotations

import datetime
import hashlib
import os
import time

DEFAULT_TIMEOUT = datetime.timedelta(minutes=30)  # PyTorch's default for CPU process groups
INSTALL_HINT = 'install the extra: pip install "jitgrad[distributed]" (mpi4py and a bundled Open MPI)'


class _World:
    """The initialised process group (one per process, as PyTorch's default group)."""

    def __init__(self, mpi, comm, timeout_s: float, threads: int, threads_before: int) -> None:
        self.MPI = mpi
        self.comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self.timeout_s = timeout_s
        self.threads = threads
        self.threads_before = threads_before


_world: list = [None]


def is_available() -> bool:
    """True when the MPI back end (mpi4py) can be imported."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return True


def is_initialized() -> bool:
    """True between init_process_group and destroy_process_group."""
    return _world[0] is not None


def current(what: str) -> _World:
    """The process group, or a RuntimeError naming the call that needed it."""
    world = _world[0]
    if world is None:
        raise RuntimeError(f"{what}: the default process group has not been initialized; call "
                           "jitgrad.distributed.init_process_group(backend='mpi') first")
    return world


def init_process_group(backend: str = "mpi", *, timeout: datetime.timedelta | float | None = None,
                       threads_per_rank: int | None = None) -> None:
    """Join the MPI world this process was launched in (`mpiexec -n N python -m mpi4py script.py`); a
    process started without mpiexec is a world of size 1. Each rank then runs its parallel kernels on
    `threads_per_rank` threads (default: this machine's cores divided by the ranks on it).
    `timeout` (seconds or a timedelta) bounds every collective: a rank that stops answering makes the
    others raise instead of waiting forever."""
    if backend not in ("mpi", None):
        raise ValueError(f"backend {backend!r} is not supported: jitgrad.distributed runs on MPI (backend='mpi')")
    if _world[0] is not None:
        raise RuntimeError("trying to initialize the default process group twice; call "
                           "destroy_process_group() first")
    if threads_per_rank is not None and threads_per_rank < 1:
        raise ValueError(f"threads_per_rank must be >= 1, got {threads_per_rank}")
    timeout_s = _seconds(DEFAULT_TIMEOUT if timeout is None else timeout)
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ImportError(f"jitgrad.distributed needs mpi4py: {INSTALL_HINT}") from exc
    comm = MPI.COMM_WORLD.Dup()  # our own context: user MPI traffic never matches jitgrad's
    local = comm.Split_type(MPI.COMM_TYPE_SHARED)
    ranks_here = local.Get_size()
    local.Free()
    import numba
    threads_before = numba.get_num_threads()
    threads = _set_threads(ranks_here, threads_per_rank)
    _world[0] = _World(MPI, comm, timeout_s, threads, threads_before)


def destroy_process_group() -> None:
    """Leave the process group (MPI itself stays initialised until the process exits); the kernels get
    back the thread count they had before init_process_group."""
    import numba
    world = current("destroy_process_group")
    world.comm.Free()
    numba.set_num_threads(world.threads_before)
    _world[0] = None


def get_rank() -> int:
    """This process's rank in the default group (0 .. world size - 1)."""
    return current("get_rank").rank


def get_world_size() -> int:
    """The number of processes in the default group."""
    return current("get_world_size").size


def threads_per_rank() -> int:
    """The threads this rank's parallel kernels use (set by init_process_group)."""
    return current("threads_per_rank").threads


def _seconds(timeout) -> float:
    seconds = timeout.total_seconds() if isinstance(timeout, datetime.timedelta) else float(timeout)
    if not seconds > 0:
        raise ValueError(f"timeout must be positive, got {timeout!r}")
    return seconds


def _set_threads(ranks_here: int, requested: int | None) -> int:
    """cores / ranks on this machine (at least 1, at most the cores this rank may run on), for Numba's
    parallel loops: N ranks each starting all-core thread pools would oversubscribe the machine."""
    import numba
    if requested is None:
        cores = os.cpu_count() or 1
        allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
        requested = max(1, min(cores // max(ranks_here, 1), allowed))
    threads = min(int(requested), numba.config.NUMBA_NUM_THREADS)
    numba.set_num_threads(threads)
    return threads


# ----- waiting with a deadline -----------------------------------------------------------------------

def wait(world: _World, request, what: str, timeout_s: float | None = None) -> None:
    """Complete a nonblocking MPI request, raising if it has not finished within `timeout_s` (default: the
    group's timeout).

    Spins on Test() (which is also what drives MPI's progress on the collective), yielding the core
    between tries after the first few hundred, so oversubscribed ranks do not starve the ones they wait for."""
    if request.Test():
        return
    limit = world.timeout_s if timeout_s is None else timeout_s
    deadline = time.perf_counter() + limit
    spins = 0
    while not request.Test():
        spins += 1
        if spins > 200:
            time.sleep(0)
            if spins % 256 == 0 and time.perf_counter() > deadline:
                raise RuntimeError(
                    f"{what} on rank {world.rank} of {world.size} timed out after {limit:g} s: another "
                    "rank died or is not calling the same collective. (Launch with `mpiexec ... python -m "
                    "mpi4py script.py` so that the job aborts; the timeout is init_process_group(timeout=...).)")


# ----- cross-rank metadata check ----------------------------------------------------------------------

def check_same_everywhere(world: _World, description: tuple, what: str) -> None:
    """Raise RuntimeError on EVERY rank unless `description` (shapes, dtypes, ...) is equal on all ranks.

    Costs one allreduce of two int64s: the MAX of (h, -h) gives max and -min of a hash of the
    description. Only on a mismatch are the descriptions gathered, to say which rank differs."""
    import numpy as np
    digest = hashlib.blake2b(repr(description).encode(), digest_size=8).digest()
    h = int.from_bytes(digest, "little") & ((1 << 62) - 1)
    buf = np.array([h, -h], dtype=np.int64)
    wait(world, world.comm.Iallreduce(world.MPI.IN_PLACE, buf, op=world.MPI.MAX), f"{what} (metadata check)")
    if buf[0] == -buf[1]:
        return
    everyone = world.comm.allgather(description)
    lines = [f"  rank {r}: {d}" for r, d in enumerate(everyone)]
    raise RuntimeError(f"{what}: tensors differ across ranks (every rank must pass the same shapes and "
                       f"dtypes):\n" + "\n".join(lines))
