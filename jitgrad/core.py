"""The primitive record, the tensor's storage/autograd slots, and bind(): the single dispatch
point through which every op runs, eagerly on NumPy or symbolically into an IR graph."""
from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from . import dtypes
from .grad_mode import _state as _grad_state
from .graph import PrimNode, VersionCounter

ELEMENTWISE, REDUCTION, MATMUL, SHAPE, INDEX, OTHER, TRANSFER = (
    "elementwise", "reduction", "matmul", "shape", "index", "other", "transfer")


@dataclass(frozen=True, eq=False)
class Primitive:
    """Everything every layer needs to know about one op; declared once in prims.py.

    abstract(*avals, **params) -> (shape, dtype): the shape/dtype rule (eager and tracer).
    impl(*arrays, **params) -> ndarray: the NumPy implementation.
    vjp(g, out, *inputs, **params) -> tuple of input cotangents (None where no gradient),
        written with jitgrad ops so it runs on eager tensors and on tracers alike.
    template: for elementwise ops, a scalar expression with {0}, {1}... for operands and
        {name} for params, in the subset that compiles under numba.njit and numba.cuda.
    """

    name: str
    impl: Callable
    abstract: Callable
    vjp: Callable | None
    kind: str
    node_name: str
    template: str | None = None
    params: tuple[str, ...] = ()
    saves_values: bool = True
    reads_output: bool = True  # the VJP reads `out`: in-place writes to the output then invalidate it
    doc: str = field(default="", repr=False)

    @property
    def differentiable(self) -> bool:
        return self.vjp is not None

    def __repr__(self) -> str:
        return f"Primitive({self.name})"


class Symbolic:
    """Base of values that are not data but names in a graph under construction (IR vars).
    Subclasses carry `shape`, `dtype` and the `builder` whose emit() records an equation."""

    __slots__ = ()
    shape: tuple
    dtype: np.dtype


class TensorBase:
    """Storage and autograd slots of a tensor. The public class (tensor.Tensor) adds methods."""

    __slots__ = ("_data", "_requires_grad", "grad_fn", "_grad", "_version", "_retains_grad",
                 "_accumulator", "_base", "__weakref__")
    # The class of op results when it differs from the inputs' class (nn.Parameter -> Tensor).
    _op_result = None
    # nn.Parameter: ops on it are recorded while tracing even when no input is symbolic (see tracing).
    _recorded_in_traces = False

    @classmethod
    def _wrap(cls, data, requires_grad: bool = False, grad_fn=None, version=None):
        t = object.__new__(cls)
        t._data = data if type(data) is _ndarray else as_storage(data)
        t._requires_grad = requires_grad
        t.grad_fn = grad_fn
        t._grad = None
        t._version = VersionCounter() if version is None else version
        t._retains_grad = False
        t._accumulator = None
        t._base = None
        return t

    @property
    def shape(self):
        return self._data.shape

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def ndim(self) -> int:
        return len(self._data.shape)

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        value = bool(value)
        if self.grad_fn is not None:
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables. If you want to use a computed "
                "variable in a subgraph that doesn't require differentiation use var_no_grad = var.detach()."
            )
        if value and not dtypes.is_floating(self.dtype):
            raise RuntimeError(
                f"only Tensors of floating point dtype can require gradients (this one is "
                f"{dtypes.name(self.dtype)}); convert it first with .float() or .double()"
            )
        self._requires_grad = value

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    def detach(self):
        """A new tensor sharing storage (and the version counter) with no autograd history."""
        return type(self)._wrap(self._data, version=self._version)


_VIEW_KINDS = (SHAPE, INDEX)

# Set by tensor.py: the class that Python scalars and arrays are lifted into.
default_tensor_type: list = [TensorBase]
# Set by the profiler while it records: called as hook(run, prim, args, params).
profile_hook: list = [None]
# Set by anomaly mode while on: called as hook(node) for each recorded node (keeps the forward stack).
record_hook: list = [None]


class _Tracing(threading.local):
    """The Builder of the trace being recorded in this thread (set by trace.py). While it is set,
    an op on an nn.Parameter that requires grad is recorded too (the parameter a captured
    input), not run once at trace time, so compiled functions read parameters' current values
    at every call (e.g. weight.t() in nn.Linear: GPU storage is never aliased)."""

    builder = None


tracing = _Tracing()
# Set by jitgrad.cuda when a GPU tensor is first made: the object that runs ops on device storage
# (run, full, copy, copy_into, to_host, device; see jitgrad/cuda/eager.py).
device_backend: list = [None]


def as_storage(data) -> object:
    """`data` as tensor storage: an ndarray (a NumPy scalar such as np.add of two 0-d arrays
    returns becomes a 0-d array), a GPU array, or a symbolic IR value; anything else is an error."""
    if isinstance(data, (np.ndarray, Symbolic)):
        return data
    if isinstance(data, np.generic):
        return np.asarray(data)
    backend = device_backend[0]
    if backend is not None and backend.is_device_array(data):
        return data
    raise TypeError(f"tensor storage must be a NumPy array, a GPU array or a traced value, got "
                    f"{type(data).__name__}; build tensors with jitgrad.tensor(...) instead")


def on_host(data) -> bool:
    """Whether tensor storage is a NumPy array (not GPU memory, not a symbolic IR value)."""
    return type(data) is _ndarray or isinstance(data, np.ndarray)


def full_like_data(data, shape: tuple, dtype: np.dtype, value) -> object:
    """Storage filled with `value` on the device that `data` lives on (host for NumPy/symbolic)."""
    if on_host(data) or isinstance(data, Symbolic):
        return np.full(shape, value, dtype=dtype)
    return device_backend[0].full(shape, dtype, value)


def copy_data(data) -> object:
    """A fresh copy of (host or device) storage."""
    if on_host(data):
        return np.array(data, copy=True)
    return device_backend[0].copy(data)


def host_array(data) -> np.ndarray:
    """The values of storage as a NumPy array (a copy when the storage is GPU memory)."""
    if on_host(data):
        return data
    return device_backend[0].to_host(data)


def lift(value, dtype: np.dtype, like: TensorBase | None = None) -> TensorBase:
    """A constant tensor (no grad) holding a Python scalar or array in `dtype`."""
    cls = type(like) if like is not None else default_tensor_type[0]
    return cls._wrap(np.asarray(value, dtype=dtype))


def bind(prim: Primitive, *args: TensorBase, **params):
    """Apply `prim` to tensors: NumPy eagerly, or an IR equation if any input is symbolic;
    record a graph node when grad mode is on and an input requires grad."""
    hook = profile_hook[0]
    if hook is not None:
        return hook(_bind, prim, args, params)
    return _bind(prim, args, params)


def _bind(prim: Primitive, args: tuple, params: dict):
    shape, dtype = prim.abstract(*args, **params) if params else prim.abstract(*args)
    datas = [a._data for a in args]
    builder = None
    on_device = False
    for d in datas:
        if type(d) is not _ndarray:
            if isinstance(d, Symbolic):
                builder = d.builder
                break
            on_device = on_device or not isinstance(d, np.ndarray)
    if builder is None and tracing.builder is not None:
        for a in args:
            if a._requires_grad and a._recorded_in_traces:
                builder = tracing.builder
                break
    if builder is None and (on_device or prim.kind is TRANSFER):
        data = device_backend[0].run(prim, datas, params, shape, dtype) if on_device \
            else prim.impl(*datas, **params)
    elif builder is None:
        data = prim.impl(*datas, **params) if params else prim.impl(*datas)
        if type(data) is not _ndarray or data.dtype != dtype:
            data = np.asarray(data, dtype=dtype)
        if data.shape != shape:
            raise AssertionError(f"internal error: {prim.name} made shape {data.shape}, rule says {shape}")
    else:
        for i, a in enumerate(args):
            if a._requires_grad and not isinstance(datas[i], Symbolic):
                datas[i] = builder.capture(a)
        data = builder.emit(prim, datas, params, shape, dtype)
    cls = type(args[0])
    out = _new(cls._op_result or cls)
    out._data = data
    out._requires_grad = False
    out.grad_fn = None
    out._grad = None
    out._version = VersionCounter()
    out._retains_grad = False
    out._accumulator = None
    out._base = None
    if prim.kind in _VIEW_KINDS and builder is None and type(data) is _ndarray and data.base is not None \
            and np.may_share_memory(data, datas[0]):
        # A NumPy view: in-place writes through either must invalidate values saved from the other.
        out._version = args[0]._version
        out._base = args[0] if args[0]._base is None else args[0]._base
    if _grad_state.enabled and prim.vjp is not None and dtype.kind in _GRAD_KINDS:
        for a in args:
            if a._requires_grad:
                out._requires_grad = True
                out.grad_fn = PrimNode(prim, params, args, out)
                if record_hook[0] is not None:
                    record_hook[0](out.grad_fn)
                break
    return out


_ndarray = np.ndarray
_new = object.__new__
# Only floating (and complex) results can carry gradients: integer and bool results of a
# differentiable op (a cast, a rounding) never require grad, as in PyTorch.
_GRAD_KINDS = "fc"

# NumPy's floating-point warnings from jitgrad's own calls (overflow to inf, log(0), 0/0) are
# not errors in PyTorch semantics: results are IEEE values, as torch returns them silently.
warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"jitgrad(\.|$)",
                        message=r"(overflow|divide by zero|invalid value|underflow)")
