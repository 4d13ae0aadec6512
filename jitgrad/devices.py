"""Devices and their back ends. 'cpu' (NumPy storage, run by core.bind and the CPU kernels
directly) is always present; every other device type is a back end registered here by name
(jitgrad/cuda registers 'cuda'), and every module reaches device storage only through it:
allocation, transfers, random numbers, eager ops and program compilation (see Backend)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np


class device:  # noqa: N801 - PyTorch spells it jitgrad.device("cpu")
    """A device name such as 'cpu' or 'cuda:0' (type plus optional index).

    Example:
        >>> jg.device('cuda:1')
        device(type='cuda', index=1)
        >>> jg.device('cpu') == 'cpu'
        True
    """

    __slots__ = ("type", "index")

    def __init__(self, spec: device | str = "cpu", index: int | None = None) -> None:
        if isinstance(spec, device):
            spec, index = spec.type, spec.index if index is None else index
        if not isinstance(spec, str):
            raise TypeError(f"device must be a string like 'cpu' or 'cuda:0', got {type(spec).__name__}")
        kind, _, idx = spec.partition(":")
        if kind != "cpu" and kind not in _loaders:
            raise RuntimeError(f"Expected one of {', '.join(device_types())} device type at start of device "
                               f"string: {spec}")
        self.type = kind
        self.index = int(idx) if idx else index

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            other = device(other)
        if not isinstance(other, device):
            return NotImplemented
        return self.type == other.type and (self.index or 0) == (other.index or 0)

    def __hash__(self) -> int:
        return hash((self.type, self.index or 0))

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        return f"device(type='{self.type}'" + ("" if self.index is None else f", index={self.index}") + ")"


CPU = device("cpu")


def as_device(spec) -> device:
    """Normalise a device argument (None means cpu)."""
    return CPU if spec is None else device(spec)


class Backend(Protocol):
    """What a device type other than 'cpu' provides. Storage is that back end's array type (always
    C-contiguous); `device` arguments are strings such as 'cuda:0' or 'cpu'."""

    def is_device_array(self, data: Any) -> bool:
        """Whether `data` is this back end's storage."""

    def device_of(self, data: Any) -> device:
        """The device that holds `data`."""

    def full(self, shape: tuple, dtype: np.dtype, value: Any) -> Any:
        """New storage of `shape` filled with `value`."""

    def copy(self, data: Any) -> Any:
        """A fresh copy of this back end's storage."""

    def copy_into(self, dst: Any, src: Any) -> None:
        """Write `src` (storage of this back end, or a host scalar; broadcastable) into `dst` in place."""

    def move(self, data: Any, device: str) -> Any:
        """Host or device storage copied onto `device` (this back end's type, or 'cpu')."""

    def to_host(self, data: Any) -> np.ndarray:
        """The values of device storage as a new NumPy array."""

    def import_array(self, obj: Any) -> Any:
        """Storage sharing the memory of a foreign device array (e.g. __cuda_array_interface__)."""

    def array_interface(self, data: Any) -> dict:
        """The array-interface dict that exports `data` to other libraries."""

    def random(self, kind: str, shape: tuple, dtype: np.dtype, seed: int) -> Any:
        """Fresh random storage: kind 'uniform' ([0, 1)) or 'normal', one stream per seed."""

    def run(self, prim: Any, datas: list, params: dict, shape: tuple, dtype: np.dtype) -> Any:
        """Run a primitive eagerly on storage of which at least one operand is this back end's."""

    call_prims: frozenset
    """The primitives whose library calls (jitgrad/lower_calls.py: indexing with index arrays,
    cat/stack, row reductions, batched matmul) its compiled programs run; any other such op
    splits a program and runs eagerly in between (optional: none when absent)."""

    kernel_prims: frozenset
    """The primitives its compiled programs run through the back end's own kernel for the whole
    op (a kernels.spec Call 'prim' with the op's name and params; optional)."""

    def compile_program(self, program: Any, reason: str) -> Callable:
        """A kernels.spec Program compiled for this device: called with its input and constant
        storage, it returns its outputs' storage; `.program`, `.source` (the generated text) and
        `.rebuild()` (drop a corrupt cache entry and compile afresh), as kernels.cpu gives them."""


# device type -> function that loads its back end (imports it, checks the device is usable and
# raises why not); a back end is loaded on first use, so CPU users never import it.
_loaders: dict[str, Callable[[], Backend]] = {}
_loaded: dict[str, Backend] = {}
_by_storage_type: dict[type, Backend] = {}


def register_backend(device_type: str, load: Callable[[], Backend]) -> None:
    """Make `device_type` a device: `load()` returns its Backend (called on first use)."""
    if device_type == "cpu" or not device_type.isidentifier():
        raise ValueError(f"cannot register a back end named {device_type!r}")
    _loaders[device_type] = load


def device_types() -> tuple[str, ...]:
    """'cpu' and every registered device type."""
    return ("cpu",) + tuple(_loaders)


def backend(spec) -> Backend:
    """The back end of a device ('cuda', 'cuda:0', a device), loaded and checked usable on first
    use (its loader raises a clear error when the device cannot be used)."""
    kind = spec.type if isinstance(spec, device) else str(spec).partition(":")[0]
    found = _loaded.get(kind)
    if found is None:
        if kind not in _loaders:
            raise RuntimeError(f"no back end for device type {kind!r}: cpu storage is NumPy's, and the "
                               f"registered device types are {', '.join(device_types())}")
        found = _loaded[kind] = _loaders[kind]()
    return found


def backend_of(data) -> Backend | None:
    """The loaded back end whose storage `data` is (None for host arrays and anything else)."""
    found = _by_storage_type.get(type(data))
    if found is None:
        for candidate in _loaded.values():
            if candidate.is_device_array(data):
                _by_storage_type[type(data)] = candidate
                return candidate
    return found


_default_device: list = [None]  # set_default_device: where factories put tensors when no device is given


def set_default_device(spec: device | str) -> None:
    """Make factories (tensor, zeros, rand, ...) create tensors on `spec` unless told otherwise
    (PyTorch's torch.set_default_device); None or 'cpu' restores the host.

    Example:
        >>> jg.set_default_device('cpu')
        >>> jg.zeros(1).device
        device(type='cpu')
    """
    if spec is not None and as_device(spec).type != "cpu":
        backend(spec)  # checked usable now (a clear error says why not)
    _default_device[0] = None if spec is None else as_device(spec)


def get_default_device() -> device:
    """The device new tensors are made on (`'cpu'` unless changed).

    Example:
        >>> jg.get_default_device()
        device(type='cpu')
    """
    return _default_device[0] or CPU


def placement(spec) -> tuple[device | None, Backend | None]:
    """(device, its back end) where a new tensor goes: `spec`, else the default device; (None, None)
    for the host."""
    if spec is None:
        spec = _default_device[0]
    if spec is None:
        return None, None
    spec = as_device(spec)
    return (None, None) if spec.type == "cpu" else (spec, backend(spec))
