"""Device runtime of the CUDA back end: availability with a reason, device properties and launch
configurations, allocation with clear out-of-memory errors, host<->device transfers, RNG seeds."""
from __future__ import annotations

import functools
import math
import threading
import warnings
from typing import Any

import numpy as np
from numba.core import config

try:  # numba.cuda may be missing (a Numba without its CUDA target): require() reports it
    from numba import cuda
    _IMPORT_ERROR: BaseException | None = None
except Exception as exc:  # pragma: no cover - depends on the installation
    cuda = None
    _IMPORT_ERROR = exc

WAYS_OUT = (
    "To use the GPU, install `jitgrad[cuda]` on a machine with an NVIDIA GPU and its driver; "
    "or set NUMBA_ENABLE_CUDASIM=1 in the environment before importing jitgrad to run CUDA code "
    "on Numba's (slow) CUDA simulator."
)
_SIM_PROPERTIES = {"sm_count": 1, "max_threads_per_block": 1024, "warp_size": 32,
                   "max_shared_memory_per_block": 48 * 1024}
_GPU_THREADS = 256          # threads per block of grid-stride loops on a real GPU
_GPU_BLOCKS_PER_SM = 32     # cap on blocks: sm_count * this, the rest is grid-stride
_SIM_THREADS = 8            # the simulator runs every thread as a Python thread: keep it tiny
_SIM_BLOCKS = 2


class CudaUnavailable(RuntimeError):  # noqa: N818  (name fixed by the API contract)
    """No usable CUDA device (or simulator); the message says why and the ways out."""


class DeviceOutOfMemory(MemoryError):  # noqa: N818  (name fixed by the API contract)
    """A device allocation failed; the message names bytes, shape, dtype and free/total memory."""


def simulated() -> bool:
    """True when Numba runs CUDA code on its simulator (NUMBA_ENABLE_CUDASIM=1 at import)."""
    return bool(config.ENABLE_CUDASIM)


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@functools.cache
def _problem() -> str | None:
    """Why CUDA is unusable here (None when it is usable); computed once, never raises."""
    if _IMPORT_ERROR is not None:
        return f"numba.cuda could not be imported ({_first_line(_IMPORT_ERROR)})"
    if simulated():
        return None
    try:
        from numba.cuda.cudadrv import driver as drv
    except Exception as exc:
        return f"numba.cuda's driver module could not be imported ({_first_line(exc)})"
    try:
        ok = drv.driver.is_available
        error = drv.driver.initialization_error
    except Exception as exc:
        ok, error = False, _first_line(exc)
    if not ok:
        error = " ".join(str(error).split())
        if "NO_DEVICE" in error:
            return f"a CUDA driver was found but no GPU ({error})"
        if "cannot be found" in error or "not found" in error:
            return f"no CUDA driver was found ({error})"
        return f"the CUDA driver could not be initialised ({error})"
    try:
        count = drv.driver.get_device_count()
    except Exception as exc:
        return f"a CUDA driver was found but it could not list GPUs ({_first_line(exc)})"
    if count == 0:
        return "a CUDA driver was found but no GPU"
    try:
        from numba.cuda.cudadrv import nvvm
        if not nvvm.is_available():
            return ("a GPU was found but libNVVM (part of the CUDA toolkit, e.g. the cuda-nvcc "
                    "package) is missing, so kernels cannot be compiled")
    except Exception as exc:
        return f"a GPU was found but libNVVM could not be loaded ({_first_line(exc)})"
    return None


def available() -> bool:
    """A real GPU or the simulator is usable (never raises)."""
    return _problem() is None


def require() -> None:
    """Raise CudaUnavailable, naming the problem found and the ways out, unless available()."""
    problem = _problem()
    if problem is not None:
        raise CudaUnavailable(f"CUDA is not available: {problem}. {WAYS_OUT}")


@functools.cache
def _device():
    require()
    return None if simulated() else cuda.get_current_device()


def device_name() -> str:
    """E.g. 'NVIDIA H100 80GB HBM3', or 'simulator'."""
    dev = _device()
    if dev is None:
        return "simulator"
    name = dev.name
    return name.decode() if isinstance(name, bytes) else str(name)


def compute_capability() -> tuple[int, int]:
    """(major, minor) of the current device; the simulator reports Numba's fake one."""
    dev = _device()
    return tuple(cuda.current_context().compute_capability if dev is None else dev.compute_capability)


@functools.cache
def device_key() -> str:
    """Name + compute capability (+ 'sim'): part of every generated kernel source's header."""
    major, minor = compute_capability()
    return f"{device_name()} cc{major}.{minor}" + (" sim" if simulated() else "")


def device_count() -> int:
    """Number of usable devices (the simulator counts as one); 0 when unavailable."""
    if not available():
        return 0
    try:
        return len(cuda.gpus)
    except Exception:
        return 0


@functools.cache
def properties() -> dict:
    """sm_count, max_threads_per_block, warp_size, max_shared_memory_per_block of the device."""
    dev = _device()
    if dev is None:
        return dict(_SIM_PROPERTIES)
    return {"sm_count": int(dev.MULTIPROCESSOR_COUNT),
            "max_threads_per_block": int(dev.MAX_THREADS_PER_BLOCK),
            "warp_size": int(dev.WARP_SIZE),
            "max_shared_memory_per_block": int(dev.MAX_SHARED_MEMORY_PER_BLOCK)}


# Power-of-two block sizes, compile-time constants of kernels (cuda.shared.array sizes).
REDUCE_THREADS = _SIM_THREADS if simulated() else _GPU_THREADS
TILE = 4 if simulated() else 16


@functools.cache
def _max_blocks() -> int:
    return _SIM_BLOCKS if simulated() else properties()["sm_count"] * _GPU_BLOCKS_PER_SM


def launch_config(n: int) -> tuple[int, int]:
    """(blocks, threads) for a grid-stride loop over n items (at least one block)."""
    threads = _SIM_THREADS if simulated() else _GPU_THREADS
    return max(1, min(-(-n // threads), _max_blocks())), threads


# Numba's low-occupancy warning, matched by its text: the built-in numba.cuda and NVIDIA's
# numba-cuda raise it with different NumbaPerformanceWarning classes.
# warnings.filterwarnings matches from the message's start, and Numba wraps it in ANSI highlighting.
SMALL_GRID_WARNING = r".*Grid size \d+ will likely result in GPU under-utilization"
_configured: dict = {}
_MAX_CONFIGURED = 8192  # configured launchers kept (cleared when full: shapes may vary without end)


def configure(kernel, griddim, blockdim):
    """kernel[griddim, blockdim], cached. On a real GPU Numba warns (NumbaPerformanceWarning) at
    every new grid of fewer than 128 blocks; small grids are deliberate here (small tensors, few
    outputs), so that warning is silenced rather than repeated for every small shape."""
    if simulated():  # the simulator's kernel[...] reconfigures and returns the kernel itself: no caching
        return kernel[griddim, blockdim]
    key = (kernel, griddim, blockdim)
    cfg = _configured.get(key)
    if cfg is None:
        if len(_configured) >= _MAX_CONFIGURED:
            _configured.clear()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=SMALL_GRID_WARNING)
            cfg = _configured[key] = kernel[griddim, blockdim]
    return cfg


def launch(kernel, n: int):
    """kernel[blocks, threads] for a grid-stride loop over n items (configured objects cached)."""
    return configure(kernel, *launch_config(n))


def fill_into(out, value: Any) -> None:
    """Set every element of the contiguous device array out to value (no host copy)."""
    from .fill import fill  # lazy: it imports numba.cuda, which may be missing (see require)
    if out.size:
        launch(fill, out.size)(out if len(out.shape) == 1 else out.reshape(out.size), out.dtype.type(value))


def load_generated(body: str, reason: str):
    """Import generated kernel source through kernels.cache; the header holds device_key()."""
    from .. import cache
    return cache.load_module(f"# jitgrad CUDA kernels ({reason}) for {device_key()}\n{body}", reason)


def resident_threads() -> int:
    """Threads the device runs at once (sm_count * 2048; the simulator's tiny launch)."""
    return _SIM_BLOCKS * _SIM_THREADS if simulated() else properties()["sm_count"] * 2048


def reduce_blocks(n_outputs: int) -> int:
    """Blocks for one-block-per-output reductions over n_outputs outputs (grid-stride beyond)."""
    return max(1, min(n_outputs, _max_blocks()))


# ---------------------------------------------------------------------------------------------
# allocation and transfers

def _norm_shape(shape: Any) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    shape = tuple(int(d) for d in shape)
    if any(d < 0 for d in shape):
        raise ValueError(f"negative dimensions are not allowed: shape {shape}")
    return shape


def oom_message(nbytes: int, shape: tuple, dtype: Any, free: float | None = None,
                total: float | None = None, detail: str = "") -> str:
    """The text of DeviceOutOfMemory: what was asked for and what the device has."""
    msg = (f"CUDA out of memory: tried to allocate {_fmt_bytes(nbytes)} ({nbytes} bytes) for an "
           f"array of shape {tuple(shape)} and dtype {np.dtype(dtype).name} on {device_name()}")
    if free is not None and total is not None and math.isfinite(free) and math.isfinite(total):
        msg += f"; {_fmt_bytes(free)} free of {_fmt_bytes(total)} total"
    if detail:
        msg += f" ({detail})"
    return msg + ". Free tensors you no longer need, or use smaller batches."


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n} B"


def _memory_info() -> tuple[float | None, float | None]:
    try:
        info = cuda.current_context().get_memory_info()
        return float(info[0]), float(info[1])
    except Exception:
        return None, None


@functools.cache
def _total_memory() -> float:
    return _memory_info()[1] or math.inf


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    code = getattr(exc, "code", None)
    try:
        if code is not None and int(code) == 2:  # CUDA_ERROR_OUT_OF_MEMORY
            return True
    except (TypeError, ValueError):
        pass
    return "OUT_OF_MEMORY" in str(exc).upper().replace(" ", "_")


def _allocate(make, shape: tuple, dtype: np.dtype):
    require()
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > _total_memory():
        free, total = _memory_info()
        raise DeviceOutOfMemory(oom_message(nbytes, shape, dtype, free, total, "more than the device has"))
    try:
        return make()
    except Exception as exc:
        if not _is_oom(exc):
            raise
        free, total = _memory_info()
        raise DeviceOutOfMemory(oom_message(nbytes, shape, dtype, free, total, _first_line(exc))) from exc


def empty(shape: Any, dtype: Any):
    """Uninitialised C-contiguous device array."""
    shape, dtype = _norm_shape(shape), np.dtype(dtype)
    return _allocate(lambda: cuda.device_array(shape, dtype), shape, dtype)


def full(shape: Any, value: Any, dtype: Any):
    """Device array filled with value (one fill kernel, no host copy)."""
    out = empty(shape, dtype)
    fill_into(out, value)
    return out


def zeros(shape: Any, dtype: Any):
    """Device array of zeros."""
    return full(shape, 0, dtype)


def to_device(host: Any):
    """C-contiguous device copy of a host array (or scalar)."""
    arr = np.asarray(host, order="C")  # (np.ascontiguousarray would make 0-d arrays 1-d)
    return _allocate(lambda: cuda.to_device(arr), arr.shape, arr.dtype)


def to_host(dev: Any) -> np.ndarray:
    """Copy a device array to a new host array."""
    return dev.copy_to_host()


def _device_array_types() -> tuple[type, ...]:
    if cuda is None:
        return ()
    if simulated():
        from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray
        return (FakeCUDAArray,)
    from numba.cuda.cudadrv.devicearray import DeviceNDArrayBase
    return (DeviceNDArrayBase,)


DEVICE_ARRAY_TYPES = _device_array_types()


def is_device_array(x: Any) -> bool:
    """A real numba DeviceNDArray or a simulator FakeCUDAArray."""
    return isinstance(x, DEVICE_ARRAY_TYPES)


def synchronize() -> None:
    """Wait for all launched work on the device."""
    cuda.synchronize()


# ---------------------------------------------------------------------------------------------
# the device RNG's seed stream: manual_seed(s) then next_seed() gives a fixed sequence of seeds

_DEFAULT_SEED = 67280421310721  # PyTorch's default generator seed
_MASK64 = (1 << 64) - 1
_seed_lock = threading.Lock()
_seed_state = [_DEFAULT_SEED, 0]


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def manual_seed(seed: int) -> None:
    """Restart the device seed stream from seed."""
    with _seed_lock:
        _seed_state[0], _seed_state[1] = int(seed) & _MASK64, 0


def initial_seed() -> int:
    """The seed the stream was last started from."""
    return _seed_state[0]


def next_seed() -> int:
    """Next seed of the stream (a non-negative int63, distinct per call)."""
    with _seed_lock:
        base, count = _seed_state
        _seed_state[1] = count + 1
    return _splitmix64(base ^ _splitmix64(count)) >> 1
