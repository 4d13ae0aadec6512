"""Thread settings for parallel kernels: a fork-safe threading layer, serialised launches where
that layer needs it, and OpenMP threads that sleep when idle.

Fork safety. Numba's default threading layer here is GNU OpenMP, which is not fork-safe: a
``multiprocessing`` worker forked after a parallel kernel ran is killed by SIGTERM at its
first parallel kernel ("fork() called from a process already using GNU OpenMP") and a
``Pool`` then waits forever for its result. So, unless the user chose a layer
(``NUMBA_THREADING_LAYER``, ``NUMBA_THREADING_LAYER_PRIORITY`` or ``numba.config.THREADING_LAYER``
set before the first parallel call), jitgrad asks Numba for ``"forksafe"``: TBB when it is
installed (fork- and thread-safe), else the ``workqueue`` layer. Workqueue aborts the process
when two threads launch parallel kernels at once, so while it is the layer in use, launches of
jitgrad's parallel entry points are serialised by one lock (:class:`ParallelEntry`); a
parallel kernel already keeps every core busy, so running two at once gained little anyway.
Measured cost of workqueue against OpenMP: ``python -m benchmarks.threading_layers``.

Wait policy. With libgomp's default wait policy, a thread that finishes its share of a
parallel loop spins, and on a machine whose cores other processes keep busy that made a
131,072-element parallel kernel take a median 48 ms instead of 0.1 ms (load 9 on 2 cores).
``OMP_WAIT_POLICY=PASSIVE`` makes idle threads block at once (median 97 us under the same
load). It matters to users who choose the ``omp`` layer and to OpenMP-built BLAS libraries;
libgomp reads it once, when loaded, so it is set when ``kernels`` is imported (a value the user
set is kept).
"""
from __future__ import annotations

import os
import threading

#: The wait policy jitgrad asks OpenMP for unless the environment already names one.
DEFAULT_WAIT_POLICY = "PASSIVE"

#: The threading layer jitgrad asks Numba for unless the user chose one.
DEFAULT_LAYER = "forksafe"


def set_default_wait_policy(environ=os.environ) -> str:
    """OMP_WAIT_POLICY as it is now: PASSIVE unless the user chose another value."""
    return environ.setdefault("OMP_WAIT_POLICY", DEFAULT_WAIT_POLICY)


def user_chose_layer(environ=os.environ, config=None) -> bool:
    """Whether the user named a threading layer (or an order of preference) for Numba."""
    if config is None:
        from numba.core import config
    return ("NUMBA_THREADING_LAYER" in environ or "NUMBA_THREADING_LAYER_PRIORITY" in environ
            or str(config.THREADING_LAYER).lower() != "default")


def set_default_layer(environ=os.environ, config=None) -> str:
    """Numba's threading layer request as it is now: "forksafe" unless the user chose one.
    (Numba reads it at the first parallel call, so a later user setting still wins.)"""
    if config is None:
        from numba.core import config
    if not user_chose_layer(environ, config):
        config.THREADING_LAYER = DEFAULT_LAYER
    return str(config.THREADING_LAYER)


WAIT_POLICY = set_default_wait_policy()
LAYER_REQUEST = set_default_layer()

_launch_lock = threading.Lock()


def _new_lock_in_child() -> None:
    """A forked child gets a fresh lock (another thread of the parent may have held it at fork)."""
    global _launch_lock
    _launch_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_lock_in_child)
# Whether launches must be serialised: None until the first parallel launch has loaded a
# layer (then True for workqueue, False for the thread-safe ones).
_serialise: list = [None]


def layer_in_use() -> str | None:
    """The threading layer Numba loaded ('tbb', 'omp', 'workqueue'), None before any parallel call."""
    from numba.np.ufunc import parallel
    if not parallel._is_initialized:
        return None
    import numba
    return numba.threading_layer()


class ParallelEntry:
    """A ``parallel=True`` entry point called from Python: the Numba dispatcher itself, except
    that while the workqueue layer is in use its launches are serialised (workqueue aborts the
    process on concurrent launches). Other attributes are the dispatcher's."""

    __slots__ = ("dispatcher",)

    def __init__(self, dispatcher) -> None:
        self.dispatcher = dispatcher

    def __call__(self, *args):
        if _serialise[0] is False:
            return self.dispatcher(*args)
        with _launch_lock:
            result = self.dispatcher(*args)
            if _serialise[0] is None:
                _serialise[0] = layer_in_use() not in ("tbb", "omp")
        return result

    def __getattr__(self, name: str):
        return getattr(self.dispatcher, name)


def entry_point(dispatcher):
    """`dispatcher` as jitgrad calls it: wrapped in a ParallelEntry when it launches parallel work."""
    if getattr(dispatcher, "targetoptions", {}).get("parallel"):
        return ParallelEntry(dispatcher)
    return dispatcher
