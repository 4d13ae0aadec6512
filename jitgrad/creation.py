"""Tensor factories (leaves, no graph): tensor, zeros, ones, arange, rand, ..., and the one
random generator behind manual_seed."""
from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

import numpy as np

from . import core, devices, dtypes
from .core import TensorBase
from .tensor import Tensor, infer_dtype, plain_values, storage_from

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from collections.abc import Sequence
    from typing import Any

    from ._typing import ArrayLike, DeviceLike, DTypeLike, Number

DEFAULT_SEED = 67280421310721  # PyTorch's default_generator initial seed
_generator = [np.random.Generator(np.random.PCG64(DEFAULT_SEED))]
_seed = [DEFAULT_SEED]
_device_stream = [DEFAULT_SEED, 0]  # (seed, draws so far): each device draw (GPU) gets its own derived seed


def manual_seed(seed: int) -> np.random.Generator:
    """Reset the random generators (host and GPU); the same seed gives the same
    rand/randn/randint/init."""
    _seed[0] = builtins.int(seed)
    _generator[0] = np.random.Generator(np.random.PCG64(_seed[0]))
    manual_seed_device(seed)
    return _generator[0]


def manual_seed_device(seed: int) -> None:
    """Reset only the random stream of device back ends (jitgrad.cuda.manual_seed)."""
    _device_stream[0], _device_stream[1] = builtins.int(seed), 0


def _next_device_seed() -> int:
    _device_stream[1] += 1
    return builtins.int(np.random.SeedSequence([_device_stream[0] % 2**63, _device_stream[1]]).generate_state(1)[0])


def initial_seed() -> int:
    return _seed[0]


def default_generator() -> np.random.Generator:
    return _generator[0]


def _leaf(array, requires_grad: bool, device=None) -> Tensor:
    """A leaf holding `array` (host data, or GPU storage already made) on `device`."""
    if isinstance(array, np.ndarray):
        target, backend = devices.placement(device)
        if backend is not None:
            array = backend.move(array, str(target))
    t = Tensor._wrap(array)
    if requires_grad:
        t.requires_grad = True
    return t


def _size(size) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, (builtins.int, np.integer)) or s < 0:
            raise ValueError(f"sizes must be non-negative integers, got {tuple(size)}")
    return tuple(builtins.int(s) for s in size)


def tensor(data: ArrayLike, dtype: DTypeLike = None, device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    """A new leaf tensor holding a copy of `data` (nested lists, numbers, arrays, tensors)."""
    t = Tensor._wrap(storage_from(data, dtype, device))
    if requires_grad:
        t.requires_grad = True
    return t


def as_tensor(data: ArrayLike, dtype: DTypeLike = None, device: DeviceLike = None) -> Tensor:
    """Like tensor(), but shares memory with a NumPy array (or returns a tensor) when possible."""
    if isinstance(data, TensorBase):
        data = data if dtype is None else data.to(dtype)
        return data if device is None else data.to(device)
    dt = dtypes.as_dtype(dtype) if dtype is not None else infer_dtype(data)
    return _leaf(np.asarray(plain_values(data), dtype=dt), False, device)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with `array` (its dtype must be one jitgrad supports)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    dtypes.as_dtype(array.dtype)
    return _leaf(array, False)


def zeros(*size: int | Sequence[int], dtype: DTypeLike = None, device: DeviceLike = None,
          requires_grad: bool = False) -> Tensor:
    return full(_size(size), 0, dtype=dtypes.as_dtype(dtype), device=device, requires_grad=requires_grad)


def ones(*size: int | Sequence[int], dtype: DTypeLike = None, device: DeviceLike = None,
         requires_grad: bool = False) -> Tensor:
    return full(_size(size), 1, dtype=dtypes.as_dtype(dtype), device=device, requires_grad=requires_grad)


def empty(*size: int | Sequence[int], dtype: DTypeLike = None, device: DeviceLike = None,
          requires_grad: bool = False) -> Tensor:
    return zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)


def full(size: int | Sequence[int], fill_value: Number, dtype: DTypeLike = None, device: DeviceLike = None,
         requires_grad: bool = False) -> Tensor:
    dt = dtypes.as_dtype(dtype) if dtype is not None else dtypes.scalar_dtype(fill_value)
    shape = _size((size,))
    backend = devices.placement(device)[1]
    if backend is not None:
        return _leaf(backend.full(shape, dt, fill_value), requires_grad, device)
    return _leaf(np.full(shape, fill_value, dtype=dt), requires_grad, device)


def _like(x, dtype):
    return x.shape, (x.dtype if dtype is None else dtypes.as_dtype(dtype))


def _device_of(x, device):
    """*_like keeps x's device unless told otherwise (as in PyTorch)."""
    if device is not None:
        return device
    return x.device if isinstance(x, TensorBase) else None


def zeros_like(x: Tensor, dtype: DTypeLike = None, device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    shape, dt = _like(x, dtype)
    return zeros(shape, dtype=dt, device=_device_of(x, device), requires_grad=requires_grad)


def ones_like(x: Tensor, dtype: DTypeLike = None, device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    shape, dt = _like(x, dtype)
    return ones(shape, dtype=dt, device=_device_of(x, device), requires_grad=requires_grad)


def empty_like(x: Tensor, dtype: DTypeLike = None, device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    return zeros_like(x, dtype, device, requires_grad)


def full_like(x: Tensor, fill_value: Number, dtype: DTypeLike = None, device: DeviceLike = None,
              requires_grad: bool = False) -> Tensor:
    shape, dt = _like(x, dtype)
    return full(shape, fill_value, dtype=dt, device=_device_of(x, device), requires_grad=requires_grad)


def rand_like(x: Tensor, dtype: DTypeLike = None, device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    shape, dt = _like(x, dtype)
    return rand(shape, dtype=dt, device=_device_of(x, device), requires_grad=requires_grad)


def randn_like(x: Tensor, dtype: DTypeLike = None, device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    shape, dt = _like(x, dtype)
    return randn(shape, dtype=dt, device=_device_of(x, device), requires_grad=requires_grad)


def arange(start: Number, end: Number | None = None, step: Number = 1, dtype: DTypeLike = None,
           device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    """Values in [start, end) by step; integer arguments give int64, any float the default float."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise RuntimeError("arange: step must be nonzero")
    if dtype is None:
        any_float = any(isinstance(v, builtins.float) for v in (start, end, step))
        dt = dtypes.get_default_dtype() if any_float else dtypes.int64
    else:
        dt = dtypes.as_dtype(dtype)
    return _leaf(np.arange(start, end, step).astype(dt), requires_grad, device)


def linspace(start: Number, end: Number, steps: int, dtype: DTypeLike = None, device: DeviceLike = None,
             requires_grad: bool = False) -> Tensor:
    dt = dtypes.as_dtype(dtype)
    return _leaf(np.linspace(start, end, steps, dtype=np.float64).astype(dt), requires_grad, device)


def eye(n: int, m: int | None = None, dtype: DTypeLike = None, device: DeviceLike = None,
        requires_grad: bool = False) -> Tensor:
    return _leaf(np.eye(n, m, dtype=dtypes.as_dtype(dtype)), requires_grad, device)


def _float_dtype(dtype):
    dt = dtypes.as_dtype(dtype)
    if not dtypes.is_floating(dt):
        raise RuntimeError(f"random floats need a floating dtype, got {dtypes.name(dt)}")
    return dt


def _random(draw, shape: tuple, dtype, requires_grad: bool, device) -> Tensor:
    """A leaf of `draw()` (fresh numbers from jitgrad's generators). Inside a traced function the
    draw is a runtime input of the trace, drawn again at every call of the compiled function, in
    the order the trace met it (so a seed gives the numbers eager mode gives)."""
    builder = core.tracing.builder
    if builder is None:
        return _leaf(draw(), requires_grad, device)
    t = Tensor._wrap(builder.random_input(shape, dtype, draw))
    t._requires_grad = requires_grad
    return t


def rand(*size: int | Sequence[int], dtype: DTypeLike = None, device: DeviceLike = None,
         requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1) from the seeded generator."""
    dt, shape = _float_dtype(dtype), _size(size)
    backend = devices.placement(device)[1]
    if backend is not None:
        return _random(lambda: backend.random("uniform", shape, dt, _next_device_seed()), shape, dt, requires_grad,
                       device)
    return _random(lambda: _generator[0].random(shape, dtype=dt), shape, dt, requires_grad, device)


def randn(*size: int | Sequence[int], dtype: DTypeLike = None, device: DeviceLike = None,
          requires_grad: bool = False) -> Tensor:
    """Standard normal samples from the seeded generator."""
    dt, shape = _float_dtype(dtype), _size(size)
    backend = devices.placement(device)[1]
    if backend is not None:
        return _random(lambda: backend.random("normal", shape, dt, _next_device_seed()), shape, dt, requires_grad,
                       device)
    return _random(lambda: _generator[0].standard_normal(shape, dtype=dt), shape, dt, requires_grad, device)


def randint(low: int, high: int | None = None, size: int | Sequence[int] = (), dtype: DTypeLike = None,
            device: DeviceLike = None) -> Tensor:
    """Integers in [low, high) (randint(high, size) also works), int64 by default."""
    if high is None:
        low, high = 0, low
    dt, shape = dtypes.int64 if dtype is None else dtypes.as_dtype(dtype), _size((size,))
    return _random(lambda: _generator[0].integers(low, high, size=shape, dtype=np.int64).astype(dt), shape, dt,
                   False, device)


def normal(mean: float = 0.0, std: float = 1.0, size: int | Sequence[int] = (), dtype: DTypeLike = None,
           requires_grad: bool = False) -> Tensor:
    dt, shape = _float_dtype(dtype), _size((size,))
    return _random(lambda: (mean + std * _generator[0].standard_normal(shape)).astype(dt), shape, dt,
                   requires_grad, None)


def from_dlpack(obj: Any) -> Tensor:
    """A tensor sharing `obj`'s memory: host arrays through DLPack (NumPy, PyTorch CPU, JAX CPU);
    GPU arrays through __cuda_array_interface__ (CuPy, PyTorch CUDA, Numba), as Numba's device
    arrays have no DLPack import."""
    if isinstance(obj, TensorBase):  # a jitgrad tensor (on any device): the same storage, no history
        return obj.detach()
    device_type = obj.__dlpack_device__()[0] if hasattr(obj, "__dlpack_device__") else None
    if device_type in (None, 1) and hasattr(obj, "__dlpack__"):
        array = np.from_dlpack(obj)
        if dtypes.from_numpy_dtype(array.dtype) != array.dtype:
            raise TypeError(f"jitgrad tensors hold bool, int32, int64, float32 or float64, not {array.dtype}")
        return Tensor._wrap(array)
    if hasattr(obj, "__cuda_array_interface__"):
        return Tensor._wrap(devices.backend("cuda").import_array(obj))
    raise TypeError(f"from_dlpack: {type(obj).__name__} has neither __dlpack__ (host memory) nor "
                    "__cuda_array_interface__ (GPU memory)")
