"""jitgrad.cuda: the GPU as PyTorch users query it (is_available, device_count, synchronize,
manual_seed). Nothing here imports numba.cuda until a function is called, so CPU users never
load it; GPU tensors are made with device="cuda" or .to("cuda")/.cuda()."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .. import devices
from ..creation import manual_seed_device

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from .._typing import DeviceLike


def _load_backend() -> devices.Backend:
    from . import backend  # lazy: loading the back end imports numba.cuda (slow, and optional)
    return backend.load()


devices.register_backend("cuda", _load_backend)


def _runtime():
    from jitgrad._kernels.cuda import runtime  # lazy: importing numba.cuda is slow and optional
    return runtime


def is_available() -> bool:
    """True when a CUDA GPU (or Numba's simulator, NUMBA_ENABLE_CUDASIM=1) can run jitgrad ops."""
    try:
        return _runtime().available()
    except ImportError:
        return False


def is_simulated() -> bool:
    """True when 'cuda' tensors run on Numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1)."""
    return is_available() and _runtime().simulated()


def device_count() -> int:
    """Number of usable GPUs (0 without one)."""
    return _runtime().device_count() if is_available() else 0


def get_device_name(device: DeviceLike = None) -> str:
    """The GPU's name, e.g. 'NVIDIA H100 80GB HBM3' ('simulator' under NUMBA_ENABLE_CUDASIM=1)."""
    _runtime().require()
    return _runtime().device_name()


def current_device() -> int:
    """The index of the GPU jitgrad uses (always 0: one device per process)."""
    _runtime().require()
    return 0


def synchronize() -> None:
    """Wait for every queued GPU kernel to finish (kernels launch asynchronously; time with this)."""
    _runtime().require()
    _runtime().synchronize()


def manual_seed(seed: int) -> None:
    """Seed the GPU random-number stream used by rand/randn(device='cuda')."""
    manual_seed_device(int(seed))


__all__ = ["is_available", "is_simulated", "device_count", "get_device_name", "current_device",
           "synchronize", "manual_seed"]
