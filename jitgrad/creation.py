"""Tensor factories (leaves, no graph): tensor, zeros, ones, arange, rand, ..., and the one
random generator behind manual_seed."""
from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

import numpy as np

from . import core, devices, dtypes
from .core import TensorBase
from .generator import DEFAULT_SEED, numpy_generator
from .generator import default_generator as _default
from .tensor import Tensor, infer_dtype, plain_values, storage_from

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from collections.abc import Sequence
    from typing import Any

    from ._typing import ArrayLike, DeviceLike, DTypeLike, Number

_device_stream = [DEFAULT_SEED, 0]  # (seed, draws so far): each device draw (GPU) gets its own derived seed


def manual_seed(seed: int) -> np.random.Generator:
    """Reset the random generators (host and GPU); the same seed gives the same
    rand/randn/randint/init.

    Example:
        >>> _ = jg.manual_seed(42)
        >>> a = jg.rand(3)
        >>> _ = jg.manual_seed(42)
        >>> jg.rand(3).tolist() == a.tolist()
        True
    """
    _default.manual_seed(seed)
    manual_seed_device(seed)
    return _default.numpy


def manual_seed_device(seed: int) -> None:
    """Reset only the random stream of device back ends (jitgrad.cuda.manual_seed)."""
    _device_stream[0], _device_stream[1] = builtins.int(seed), 0


def _next_device_seed() -> int:
    _device_stream[1] += 1
    return builtins.int(np.random.SeedSequence([_device_stream[0] % 2**63, _device_stream[1]]).generate_state(1)[0])


def initial_seed() -> int:
    """The seed last given to jg.manual_seed (or chosen at import).

    Example:
        >>> _ = jg.manual_seed(7)
        >>> jg.initial_seed()
        7
    """
    return _default.initial_seed()


def default_generator() -> np.random.Generator:
    return _default.numpy


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
    """A new leaf tensor holding a copy of `data` (nested lists, numbers, arrays, tensors).

    Example:
        >>> jg.tensor([[1, 2], [3, 4]])
        tensor([[1, 2],
                [3, 4]])
        >>> jg.tensor([1.0, 2.0], requires_grad=True)
        tensor([1., 2.], requires_grad=True)
        >>> jg.tensor(3.5, dtype=jg.float64)
        tensor(3.5000, dtype=jitgrad.float64)
    """
    t = Tensor._wrap(storage_from(data, dtype, device))
    if requires_grad:
        t.requires_grad = True
    return t


def as_tensor(data: ArrayLike, dtype: DTypeLike = None, device: DeviceLike = None) -> Tensor:
    """Like tensor(), but shares memory with a NumPy array (or returns a tensor) when possible.

    Example:
        >>> a = np.array([1.0, 2.0])
        >>> t = jg.as_tensor(a)
        >>> t
        tensor([1., 2.], dtype=jitgrad.float64)
        >>> a[0] = 5.0
        >>> t
        tensor([5., 2.], dtype=jitgrad.float64)
    """
    if isinstance(data, TensorBase):
        data = data if dtype is None else data.to(dtype)
        return data if device is None else data.to(device)
    dt = dtypes.as_dtype(dtype) if dtype is not None else infer_dtype(data)
    return _leaf(np.asarray(plain_values(data), dtype=dt), False, device)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with `array` (its dtype must be one jitgrad supports).

    Example:
        >>> jg.from_numpy(np.arange(3))
        tensor([0, 1, 2])
    """
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    dtypes.as_dtype(array.dtype)
    return _leaf(array, False)


def zeros(*size: int | Sequence[int], dtype: DTypeLike = None, device: DeviceLike = None,
          requires_grad: bool = False) -> Tensor:
    """A tensor of zeros; the shape as separate sizes or one sequence.

    Example:
        >>> jg.zeros(2, 3)
        tensor([[0., 0., 0.],
                [0., 0., 0.]])
    """
    return full(_size(size), 0, dtype=dtypes.as_dtype(dtype), device=device, requires_grad=requires_grad)


def ones(*size: int | Sequence[int], dtype: DTypeLike = None, device: DeviceLike = None,
         requires_grad: bool = False) -> Tensor:
    """A tensor of ones; the shape as separate sizes or one sequence.

    Example:
        >>> jg.ones((2,), dtype=jg.int64)
        tensor([1, 1])
    """
    return full(_size(size), 1, dtype=dtypes.as_dtype(dtype), device=device, requires_grad=requires_grad)


def empty(*size: int | Sequence[int], dtype: DTypeLike = None, device: DeviceLike = None,
          requires_grad: bool = False) -> Tensor:
    """An uninitialised tensor of the given shape (its values are arbitrary).

    Example:
        >>> jg.empty(2, 3).shape
        (2, 3)
    """
    return zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)


def full(size: int | Sequence[int], fill_value: Number, dtype: DTypeLike = None, device: DeviceLike = None,
         requires_grad: bool = False) -> Tensor:
    """A tensor of the given shape filled with `fill_value`.

    Example:
        >>> jg.full((2, 2), 7.0)
        tensor([[7., 7.],
                [7., 7.]])
    """
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
    """Zeros with the shape, dtype and device of `x`.

    Example:
        >>> jg.zeros_like(jg.tensor([1, 2, 3]))
        tensor([0, 0, 0])
    """
    shape, dt = _like(x, dtype)
    return zeros(shape, dtype=dt, device=_device_of(x, device), requires_grad=requires_grad)


def ones_like(x: Tensor, dtype: DTypeLike = None, device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    """Ones with the shape, dtype and device of `x`.

    Example:
        >>> jg.ones_like(jg.tensor([[1.5, 2.5]]))
        tensor([[1., 1.]])
    """
    shape, dt = _like(x, dtype)
    return ones(shape, dtype=dt, device=_device_of(x, device), requires_grad=requires_grad)


def empty_like(x: Tensor, dtype: DTypeLike = None, device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    """An uninitialised tensor like `x`.

    Example:
        >>> jg.empty_like(jg.ones(2, 2)).shape
        (2, 2)
    """
    return zeros_like(x, dtype, device, requires_grad)


def full_like(x: Tensor, fill_value: Number, dtype: DTypeLike = None, device: DeviceLike = None,
              requires_grad: bool = False) -> Tensor:
    """A tensor like `x` filled with `fill_value`.

    Example:
        >>> jg.full_like(jg.zeros(3), 0.5)
        tensor([0.5000, 0.5000, 0.5000])
    """
    shape, dt = _like(x, dtype)
    return full(shape, fill_value, dtype=dt, device=_device_of(x, device), requires_grad=requires_grad)


def rand_like(x: Tensor, dtype: DTypeLike = None, device: DeviceLike = None, requires_grad: bool = False, *,
              generator: Any = None) -> Tensor:
    """Uniform [0, 1) numbers with the shape, dtype and device of `x`.

    Example:
        >>> _ = jg.manual_seed(0)
        >>> jg.rand_like(jg.zeros(2, 2)).shape
        (2, 2)
    """
    shape, dt = _like(x, dtype)
    return rand(shape, generator=generator, dtype=dt, device=_device_of(x, device), requires_grad=requires_grad)


def randn_like(x: Tensor, dtype: DTypeLike = None, device: DeviceLike = None, requires_grad: bool = False, *,
               generator: Any = None) -> Tensor:
    """Standard normal numbers with the shape, dtype and device of `x`.

    Example:
        >>> _ = jg.manual_seed(0)
        >>> jg.randn_like(jg.zeros(3)).shape
        (3,)
    """
    shape, dt = _like(x, dtype)
    return randn(shape, generator=generator, dtype=dt, device=_device_of(x, device), requires_grad=requires_grad)


def arange(start: Number, end: Number | None = None, step: Number = 1, dtype: DTypeLike = None,
           device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    """Values in [start, end) by step; integer arguments give int64, any float the default float.

    Example:
        >>> jg.arange(5)
        tensor([0, 1, 2, 3, 4])
        >>> jg.arange(1.0, 2.0, 0.25)
        tensor([1.0000, 1.2500, 1.5000, 1.7500])
    """
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
    """`steps` evenly spaced values from `start` to `end`, both included.

    Example:
        >>> jg.linspace(0, 1, 5)
        tensor([0.0000, 0.2500, 0.5000, 0.7500, 1.0000])
    """
    dt = dtypes.as_dtype(dtype)
    return _leaf(np.linspace(start, end, steps, dtype=np.float64).astype(dt), requires_grad, device)


def eye(n: int, m: int | None = None, dtype: DTypeLike = None, device: DeviceLike = None,
        requires_grad: bool = False) -> Tensor:
    """The identity matrix (n x m, m = n by default).

    Example:
        >>> jg.eye(2)
        tensor([[1., 0.],
                [0., 1.]])
        >>> jg.eye(2, 3, dtype=jg.int64)
        tensor([[1, 0, 0],
                [0, 1, 0]])
    """
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


def rand(*size: int | Sequence[int], generator: Any = None, dtype: DTypeLike = None, device: DeviceLike = None,
         requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1) from the seeded generator.

    Example:
        >>> _ = jg.manual_seed(0)
        >>> x = jg.rand(2, 3)
        >>> x.shape, x.dtype
        ((2, 3), jitgrad.float32)
        >>> bool(jg.amin(x) >= 0) and bool(jg.amax(x) < 1)
        True
    """
    dt, shape = _float_dtype(dtype), _size(size)
    backend = devices.placement(device)[1]
    if backend is not None:
        return _random(lambda: backend.random("uniform", shape, dt, _next_device_seed()), shape, dt, requires_grad,
                       device)
    rng = numpy_generator(generator)
    if dt.itemsize < 4:  # NumPy draws float32/float64 only; float16 rounds a float32 draw (kept below 1)
        below_one = np.nextafter(np.float16(1), np.float16(0))
        return _random(lambda: np.minimum(rng.random(shape, dtype=np.float32).astype(dt), below_one), shape, dt,
                       requires_grad, device)
    return _random(lambda: rng.random(shape, dtype=dt), shape, dt, requires_grad, device)


def randn(*size: int | Sequence[int], generator: Any = None, dtype: DTypeLike = None, device: DeviceLike = None,
          requires_grad: bool = False) -> Tensor:
    """Standard normal samples from the seeded generator.

    Example:
        >>> _ = jg.manual_seed(0)
        >>> jg.randn(4).shape
        (4,)
    """
    dt, shape = _float_dtype(dtype), _size(size)
    backend = devices.placement(device)[1]
    if backend is not None:
        return _random(lambda: backend.random("normal", shape, dt, _next_device_seed()), shape, dt, requires_grad,
                       device)
    rng = numpy_generator(generator)
    draw_dtype = np.float32 if dt.itemsize < 4 else dt  # (float16: a float32 draw, rounded)
    return _random(lambda: rng.standard_normal(shape, dtype=draw_dtype).astype(dt, copy=False), shape, dt,
                   requires_grad, device)


def randint(low: int, high: int | None = None, size: int | Sequence[int] = (), *, generator: Any = None,
            dtype: DTypeLike = None, device: DeviceLike = None) -> Tensor:
    """Integers in [low, high) (randint(high, size) also works), int64 by default.

    Example:
        >>> _ = jg.manual_seed(0)
        >>> jg.randint(0, 10, (3,)).dtype
        jitgrad.int64
    """
    if high is None:
        low, high = 0, low
    dt, shape = dtypes.int64 if dtype is None else dtypes.as_dtype(dtype), _size((size,))
    if high <= low:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    rng = numpy_generator(generator)
    return _random(lambda: rng.integers(low, high, size=shape, dtype=np.int64).astype(dt), shape, dt, False, device)


def normal(mean: float = 0.0, std: float = 1.0, size: int | Sequence[int] = (), *, generator: Any = None,
           dtype: DTypeLike = None, requires_grad: bool = False) -> Tensor:
    """Normal numbers with the given mean and standard deviation (jitgrad's generator).

    Example:
        >>> _ = jg.manual_seed(0)
        >>> abs(jg.normal(5.0, 0.1, size=(1000,)).mean().item() - 5.0) < 0.05
        True
    """
    if std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
    dt, shape = _float_dtype(dtype), _size((size,))
    rng = numpy_generator(generator)
    return _random(lambda: (mean + std * rng.standard_normal(shape)).astype(dt), shape, dt, requires_grad, None)


def randperm(n: int, *, generator: Any = None, dtype: DTypeLike = None, device: DeviceLike = None,
             requires_grad: bool = False) -> Tensor:
    """A random permutation of 0..n-1 (int64 by default).

    Example:
        >>> sorted(jg.randperm(4, generator=jg.Generator().manual_seed(0)).tolist())
        [0, 1, 2, 3]
    """
    if n < 0:
        raise RuntimeError(f"Trying to create tensor with negative dimension {n}: [{n}]")
    dt = dtypes.int64 if dtype is None else dtypes.as_dtype(dtype)
    rng = numpy_generator(generator)
    return _random(lambda: rng.permutation(builtins.int(n)).astype(dt), (builtins.int(n),), dt, requires_grad, device)


def from_dlpack(obj: Any) -> Tensor:
    """A tensor sharing `obj`'s memory: host arrays through DLPack (NumPy, PyTorch CPU, JAX CPU);
    GPU arrays through __cuda_array_interface__ (CuPy, PyTorch CUDA, Numba), as Numba's device
    arrays have no DLPack import.

    Example:
        >>> jg.from_dlpack(np.array([1.0, 2.0], dtype=np.float32))
        tensor([1., 2.])
    """
    if isinstance(obj, TensorBase):  # a jitgrad tensor (on any device): the same storage, no history
        return obj.detach()
    device_type = obj.__dlpack_device__()[0] if hasattr(obj, "__dlpack_device__") else None
    if device_type in (None, 1) and hasattr(obj, "__dlpack__"):
        array = np.from_dlpack(obj)
        if dtypes.from_numpy_dtype(array.dtype) != array.dtype:
            raise TypeError(f"from_dlpack: jitgrad tensors hold {dtypes.SUPPORTED}, not {array.dtype}; convert "
                            "it first (e.g. .astype(np.int64))")
        return Tensor._wrap(array)
    if hasattr(obj, "__cuda_array_interface__"):
        return Tensor._wrap(devices.backend("cuda").import_array(obj))
    raise TypeError(f"from_dlpack: {type(obj).__name__} has neither __dlpack__ (host memory) nor "
                    "__cuda_array_interface__ (GPU memory)")
