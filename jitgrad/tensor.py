"""Tensor: the user-facing array: attributes, values, autograd and device/dtype conversion. Its
operators and op methods come from the mixins of tensor_ops.py (out of place, calling the wrappers
that prims.py exports) and tensor_inplace.py (writing into the storage)."""
from __future__ import annotations

import builtins
import warnings
import weakref
from typing import TYPE_CHECKING

import numpy as np

from . import autodiff, core, devices, dtypes, interop, prims, shapes, unsupported
from .autograd_graph import accumulator_of
from .core import Symbolic, TensorBase
from .grad_mode import _state as _grad_state
from .printing import tensor_repr
from .tensor_inplace import TensorInplaceOps
from .tensor_methods import LinalgMethods, OpMethods, RandomMethods, ReduceMethods, ShapeMethods
from .tensor_ops import TensorOps

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from collections.abc import Callable, Iterator, Sequence
    from typing import Any

    from ._typing import ArrayLike, DeviceLike, DTypeLike


def to_arguments(args: tuple, kwargs: dict) -> tuple:
    """(device, dtype, copy) of a .to(...) call, as PyTorch reads them: to(dtype), to(device),
    to(device, dtype), to(other tensor), to(0) for cuda:0, and the keywords."""
    kwargs = dict(kwargs)
    dtype = kwargs.pop("dtype", None)
    device = kwargs.pop("device", None)
    kwargs.pop("non_blocking", None)
    copy = bool(kwargs.pop("copy", False))
    if kwargs:
        raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
    for a in args:
        if isinstance(a, TensorBase):
            device, dtype = a.device, a.dtype
        elif isinstance(a, (str, devices.device)):
            device = a
        elif isinstance(a, (int, np.integer)) and not isinstance(a, bool):
            device = devices.device("cuda", int(a))
        elif a is not None:
            dtype = a
    return device, dtype, copy


def infer_dtype(data) -> np.dtype:
    """PyTorch's inference: Python floats -> default float, ints -> int64, bools -> bool."""
    if isinstance(data, (np.ndarray, np.generic)):
        return dtypes.from_numpy_dtype(data.dtype)
    if isinstance(data, TensorBase):
        return data.dtype
    arr = np.asarray(plain_values(data))
    if arr.dtype == object:
        raise TypeError("could not infer a dtype: nested sequences must be rectangular and hold numbers")
    if arr.dtype.kind == "f" or arr.dtype.kind == "c":
        return dtypes.get_default_dtype()
    return dtypes.from_numpy_dtype(arr.dtype)


def plain_values(data):
    """Replace tensors inside nested lists by their values."""
    if isinstance(data, TensorBase):
        return data.detach().numpy()
    if isinstance(data, (list, tuple)):
        return [plain_values(d) for d in data]
    return data


def storage_from(data, dtype=None, device=None) -> object:
    """A copy of user data (nested lists, numbers, arrays, tensors) as storage in `dtype` (inferred
    as PyTorch does by default) on `device` (by default: a tensor's own device, else the default)."""
    dt = dtypes.as_dtype(dtype) if dtype is not None else infer_dtype(data)
    if device is None and isinstance(data, TensorBase) and data.device.type != "cpu":
        device = data.device  # as in PyTorch: the copy stays on the tensor's device
    array = np.array(plain_values(data), dtype=dt, copy=True)
    target, backend = devices.placement(device)
    return array if backend is None else backend.move(array, str(target))


class Tensor(TensorOps, TensorInplaceOps, OpMethods, ShapeMethods, ReduceMethods, LinalgMethods,
             RandomMethods, TensorBase):
    """An n-dimensional array with PyTorch's autograd semantics (eager mode).

    Example:
        >>> x = jg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
        >>> x.shape, x.dtype
        ((2, 2), jitgrad.float32)
        >>> y = (x @ x).sum()
        >>> y.backward()
        >>> x.grad
        tensor([[ 7., 11.],
                [ 9., 13.]])
    """

    def __new__(cls, data: ArrayLike = (), dtype: DTypeLike = None, requires_grad: builtins.bool = False) -> Tensor:
        t = cls._wrap(storage_from(data, dtype))
        if requires_grad:
            t.requires_grad = True
        return t

    # ----- attributes -------------------------------------------------------------------------

    @property
    def device(self) -> devices.device:
        data = self._data
        if type(data) is np.ndarray:
            return devices.CPU
        if isinstance(data, Symbolic):
            return devices.device(getattr(data, "device", "cpu"))
        return devices.backend_of(data).device_of(data)

    @property
    def is_cuda(self) -> builtins.bool:
        return self.device.type == "cuda"

    @property
    def data(self) -> Tensor:
        """A tensor sharing this storage with no history (and, as in PyTorch, its own version counter)."""
        return type(self)._wrap(self._data)

    @data.setter
    def data(self, value: Tensor) -> None:
        if not isinstance(value, TensorBase):
            raise TypeError(f"data must be set to a Tensor, got {type(value).__name__}")
        if self._requires_grad and not dtypes.is_floating(value.dtype):
            raise RuntimeError(f"data set to a tensor that requires gradients must be floating point or complex "
                               f"dtype (got {dtypes.name(value.dtype)}); convert it with "
                               f".to({dtypes.name(self.dtype)}) first, or call requires_grad_(False)")
        self._data = value._data

    @property
    def grad(self) -> Tensor | None:
        if self.grad_fn is not None and not self._retains_grad and self._grad is None:
            warnings.warn(
                "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad "
                "attribute won't be populated during autograd.backward(). If you indeed want the .grad "
                "field to be populated for a non-leaf Tensor, use .retain_grad() on the non-leaf Tensor.",
                UserWarning, stacklevel=2)
        return self._grad

    @grad.setter
    def grad(self, value) -> None:
        if value is not None:
            if not isinstance(value, TensorBase):
                raise TypeError(f"assigned grad must be a Tensor or None, got {type(value).__name__}")
            if value is self:
                raise RuntimeError("can't assign Variable as its own grad; assign a copy (x.grad = x.detach().clone())")
            if tuple(value.shape) != tuple(self.shape):
                raise RuntimeError(f"assigned grad has data of a different size: {list(value.shape)} vs "
                                   f"{list(self.shape)}")
            if value.dtype != self.dtype:
                raise RuntimeError(f"assigned grad has data of a different type: {dtypes.name(value.dtype)} "
                                   f"vs {dtypes.name(self.dtype)}")
        self._grad = value

    @property
    def T(self) -> Tensor:  # noqa: N802
        return prims.permute(self, tuple(reversed(range(self.ndim))))

    @property
    def mT(self) -> Tensor:  # noqa: N802
        return prims.transpose(self, -2, -1)

    @property
    def retains_grad(self) -> builtins.bool:
        return self._retains_grad

    def size(self, dim: builtins.int | None = None) -> Any:
        """The shape (a tuple), or the size of one dim.

        Example:
            >>> x = jg.zeros(2, 3)
            >>> x.size()
            (2, 3)
            >>> x.size(1)
            3
        """
        return self.shape if dim is None else self.shape[dim]

    def dim(self) -> builtins.int:
        """The number of dims (also `ndim`).

        Example:
            >>> jg.zeros(2, 3).dim()
            2
        """
        return self.ndim

    def numel(self) -> builtins.int:
        """The number of elements.

        Example:
            >>> jg.zeros(2, 3).numel()
            6
        """
        return shapes.numel(self.shape)

    nelement = numel

    def element_size(self) -> builtins.int:
        """Bytes per element.

        Example:
            >>> jg.zeros(1, dtype=jg.float64).element_size()
            8
        """
        return self.dtype.itemsize

    def is_floating_point(self) -> builtins.bool:
        """Whether the dtype is float32 or float64.

        Example:
            >>> jg.tensor([1]).is_floating_point()
            False
        """
        return dtypes.is_floating(self.dtype)

    def __len__(self) -> builtins.int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    __hash__ = object.__hash__
    # NumPy scalars/arrays on the left of an operator defer to Tensor's reflected op (as torch).
    __array_priority__ = 1000

    # ----- values -----------------------------------------------------------------------------

    def _concrete(self, what: str) -> np.ndarray:
        data = self._data
        if type(data) is np.ndarray:
            return data
        if isinstance(data, Symbolic):
            raise data.builder.value_error(what)
        return core.host_array(data)

    def numpy(self, *, force: builtins.bool = False) -> np.ndarray:
        """The NumPy array sharing this tensor's memory; for a GPU tensor, a copy on the host
        (writes to it do not reach the GPU). Refused on a tensor that requires grad unless grad
        mode is off (inside no_grad, as PyTorch allows) or force=True.

        Example:
            >>> jg.tensor([1.0, 2.0]).numpy()
            array([1., 2.], dtype=float32)
        """
        if self._requires_grad and not force and _grad_state.enabled and not isinstance(self._data, Symbolic):
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() "
                               "instead.")
        return self._concrete("t.numpy()")

    def __array__(self, dtype: DTypeLike = None, copy: builtins.bool | None = None) -> np.ndarray:
        arr = self.numpy()
        return arr if dtype is None else arr.astype(dtype, copy=False)

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs, **kwargs):
        """NumPy ufuncs on tensors: `np.sin(t)` is `jg.sin(t)` (differentiable, a Tensor as torch
        gives); see jitgrad/interop.py for ufuncs jitgrad lacks."""
        return interop.array_ufunc(type(self), prims, ufunc, method, inputs, kwargs)

    def item(self) -> Any:
        """The Python number held by a one-element tensor.

        Example:
            >>> jg.tensor([[2.5]]).item()
            2.5
        """
        data = self._concrete("t.item()")
        if data.size != 1:
            raise RuntimeError(f"a Tensor with {data.size} elements cannot be converted to Scalar")
        return data.reshape(()).item()

    def tolist(self) -> Any:
        """The values as nested Python lists (a number for a 0-d tensor).

        Example:
            >>> jg.tensor([[1, 2], [3, 4]]).tolist()
            [[1, 2], [3, 4]]
        """
        return self._concrete("t.tolist()").tolist()

    def __float__(self) -> builtins.float:
        self._concrete("float(t)")
        return builtins.float(self.item())

    def __int__(self) -> builtins.int:
        self._concrete("int(t)")
        return builtins.int(self.item())

    def __index__(self) -> builtins.int:
        if self.dtype.kind not in "iu" or self.numel() != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return builtins.int(self.item())

    def __bool__(self) -> builtins.bool:
        data = self._concrete("bool(t) (an `if` or `while` on a tensor)")
        if data.size != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return builtins.bool(data.reshape(()).item())

    def __dir__(self) -> list[str]:
        """The attributes that work: without the placeholders of PyTorch names jitgrad lacks."""
        return [name for name in super().__dir__() if name not in unsupported.missing_tensor_attributes]

    def __reduce_ex__(self, protocol):
        """Pickle as values plus requires_grad (and device): like PyTorch, .grad and the graph are not
        pickled, and a non-leaf comes back as a leaf that requires grad."""
        array = self._concrete("pickle")  # (refuses tracer values with the usual message)
        args = (np.array(array) if core.on_host(self._data) else array, self._requires_grad, str(self.device))
        return (_rebuild_tensor, args if type(self) is Tensor else args + (type(self),))

    def __deepcopy__(self, memo: dict[builtins.int, Any]) -> Tensor:
        """A leaf with its own storage, requires_grad and a copy of .grad; non-leaf tensors are
        refused, as in PyTorch."""
        if self.grad_fn is not None:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) support the deepcopy "
                               "protocol at the moment. Call .detach() (or .clone().detach()) first to copy the "
                               "values.")
        self._concrete("deepcopy")  # refuses tracer values with the usual message
        copy = type(self)._wrap(core.copy_data(self._data))
        copy._requires_grad = self._requires_grad
        memo[id(self)] = copy
        if self._grad is not None:
            copy._grad = self._grad.__deepcopy__(memo)
        return copy

    def __repr__(self) -> str:
        return tensor_repr(self)

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        if self.ndim == 0 and not isinstance(self._data, Symbolic):
            return format(self.item(), spec)
        return repr(self)

    # ----- autograd ---------------------------------------------------------------------------

    def backward(self, gradient: Tensor | None = None, retain_graph: builtins.bool | None = None,
                 create_graph: builtins.bool = False, inputs: Sequence[Tensor] | Tensor | None = None) -> None:
        """Accumulate gradients of this tensor into the leaves' `.grad`.

        Example:
            >>> x = jg.tensor([1.0, 2.0], requires_grad=True)
            >>> (x ** 2).sum().backward()
            >>> x.grad
            tensor([2., 4.])
        """
        autodiff.backward(self, None if gradient is None else [gradient], retain_graph, create_graph, inputs)

    def detach(self) -> Tensor:
        """A new tensor sharing storage (and the version counter) with no autograd history.
        Inside a traced function, a traced value that requires grad goes through stop_gradient,
        so the compiled adjoint respects the detach as eager autograd does.

        Example:
            >>> x = jg.tensor([1.0], requires_grad=True)
            >>> (x * 2).detach()
            tensor([2.])
        """
        if self._requires_grad and isinstance(self._data, Symbolic):
            out = prims.stop_gradient(self)
            out._version_counter = self._version_counter
            return out
        return TensorBase.detach(self)

    def detach_(self) -> Tensor:
        """Detach in place: this tensor becomes a leaf with no history (refused on views, as in PyTorch:
        the view's history is tied to its base's).

        Example:
            >>> y = jg.tensor([1.0], requires_grad=True) * 2
            >>> y.detach_()
            tensor([2.])
            >>> y.requires_grad
            False
        """
        if self._base is not None:
            raise RuntimeError("Can't detach views in-place. Use detach() instead (it returns a new tensor "
                               "sharing the memory, with no history).")
        self.grad_fn = None
        self._requires_grad = False
        return self

    def requires_grad_(self, requires_grad: builtins.bool = True) -> Tensor:
        """Set requires_grad in place (leaves); on a non-leaf, which already requires grad, True is a
        no-op as in PyTorch (the attribute assignment and False are refused).

        Example:
            >>> jg.zeros(2).requires_grad_()
            tensor([0., 0.], requires_grad=True)
        """
        if requires_grad and self.grad_fn is not None:
            return self
        self.requires_grad = requires_grad
        return self

    def retain_grad(self) -> None:
        """Populate `.grad` of this non-leaf during backward.

        Example:
            >>> x = jg.tensor([1.0], requires_grad=True)
            >>> y = x * 3
            >>> y.retain_grad()
            >>> (y * y).sum().backward()
            >>> y.grad
            tensor([6.])
        """
        if not self._requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if isinstance(self._data, Symbolic):
            raise self._data.builder.unsupported(
                "retain_grad() on a traced tensor",
                "the traced tensor only exists while tracing, so its .grad could never be read: return the "
                "value as an output of the function and call retain_grad() on the output, or run the function "
                "eagerly (without jit/jit_grad).")
        if self.grad_fn is not None:
            self.grad_fn._retained = weakref.ref(self)
            self._retains_grad = True

    def register_hook(self, hook: Callable[..., Any]) -> Any:
        """Call hook(grad) when this tensor's gradient is computed; a returned tensor replaces it.

        Example:
            >>> x = jg.tensor([1.0, 2.0], requires_grad=True)
            >>> _ = x.register_hook(lambda g: g * 10)
            >>> (x * 2).sum().backward()
            >>> x.grad
            tensor([20., 20.])
        """
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if isinstance(self._data, Symbolic):
            raise self._data.builder.unsupported(
                "register_hook() on a traced tensor",
                "a hook is Python code run during backward, which the compiled backward cannot call: register "
                "the hook on the function's output or argument outside the compiled function, write the "
                "gradient change into the function (e.g. a custom scaling of the value), or run the function "
                "eagerly (without jit/jit_grad).")
        node = self.grad_fn if self.grad_fn is not None else accumulator_of(self)
        if self.grad_fn is None:
            self._hooked_accumulator = node  # the leaf's node is weakly cached: keep it (and its hooks)
        hooks = node.metadata.setdefault("hooks", [])
        hooks.append(hook)
        return _HookHandle(hooks, hook)

    def register_post_accumulate_grad_hook(self, hook: Callable[..., Any]) -> Any:
        """Call hook(self) after backward has accumulated a gradient into this leaf's `.grad` (PyTorch's
        name): unlike register_hook, it sees the accumulated sum, e.g. to reduce it across processes.

        Example:
            >>> w = jg.tensor([1.0], requires_grad=True)
            >>> _ = w.register_post_accumulate_grad_hook(lambda p: print('grad', p.grad))
            >>> (w * 3).sum().backward()
            grad tensor([3.])
        """
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors; "
                               "use register_hook to see the gradient of an intermediate result")
        hooks = self.__dict__.setdefault("_post_accumulate_grad_hooks", [])
        hooks.append(hook)
        return _HookHandle(hooks, hook)

    # ----- conversion -------------------------------------------------------------------------

    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """to(dtype), to(device), to(device, dtype), to(other): self when nothing changes (unless
        copy=True). Moves between devices are differentiable: the gradient goes back to the source.

        Example:
            >>> jg.tensor([1, 2]).to(jg.float64)
            tensor([1., 2.], dtype=jitgrad.float64)
            >>> jg.tensor([1.5]).to('cpu').device
            device(type='cpu')
        """
        dev, dtype, copy = to_arguments(args, kwargs)
        out = self
        if dtype is not None:
            out = prims.cast(out, dtype)
        if dev is not None and devices.as_device(dev) != self.device:
            out = prims.to_device(out, dev)
        elif copy and out is self:  # a copy recorded as PyTorch records it (ToCopyBackward0)
            out = prims.to_device(out, self.device)
        return out

    def cpu(self) -> Tensor:
        """This tensor in host memory (self when it is already there); differentiable.

        Example:
            >>> jg.tensor([1.0]).cpu().device
            device(type='cpu')
        """
        return self.to("cpu")

    def cuda(self, device: DeviceLike = None) -> Tensor:
        """This tensor in GPU memory (self when it is already there); differentiable. Needs a GPU and
        the `cuda` extra (`jg.cuda.is_available()`), so its example is `t.cuda()` in the README's GPU
        section rather than a doctest here."""
        return self.to("cuda" if device is None else devices.device("cuda", device) if isinstance(device, int)
                       else device)

    @property
    def __cuda_array_interface__(self) -> dict:
        """The GPU buffer, for CuPy, PyTorch and Numba to read without a copy (GPU tensors only)."""
        data = self._data
        if type(data) is np.ndarray or isinstance(data, Symbolic) or self._requires_grad:
            raise AttributeError("__cuda_array_interface__ is only defined for GPU tensors that do not require "
                                 "grad (use .cuda(), and .detach() first if it requires grad)")
        return devices.backend_of(data).array_interface(data)

    def __dlpack__(self, *args: Any, **kwargs: Any) -> Any:
        """DLPack export (CPU tensors: NumPy's; GPU tensors export __cuda_array_interface__ instead,
        as Numba's device arrays have no DLPack support)."""
        if self.device.type != "cpu":
            raise BufferError("jitgrad GPU tensors export __cuda_array_interface__, not DLPack: use "
                              "torch.as_tensor(t, device='cuda'), cupy.asarray(t) or numba.cuda.as_cuda_array(t)")
        return self.detach().numpy().__dlpack__(*args, **kwargs)

    def __dlpack_device__(self) -> tuple:
        return (1, 0) if self.device.type == "cpu" else (2, self.device.index or 0)

    def float(self) -> Tensor:
        """A float32 copy (self when it already is float32).

        Example:
            >>> jg.tensor([1, 2]).float()
            tensor([1., 2.])
        """
        return prims.cast(self, dtypes.float32)

    def double(self) -> Tensor:
        """A float64 copy (self when it already is float64).

        Example:
            >>> jg.tensor([1, 2]).double()
            tensor([1., 2.], dtype=jitgrad.float64)
        """
        return prims.cast(self, dtypes.float64)

    def long(self) -> Tensor:
        """An int64 copy, truncating toward zero.

        Example:
            >>> jg.tensor([1.7]).long()
            tensor([1])
        """
        return prims.cast(self, dtypes.int64)

    def int(self) -> Tensor:
        """An int32 copy, truncating toward zero.

        Example:
            >>> jg.tensor([1.7]).int()
            tensor([1], dtype=jitgrad.int32)
        """
        return prims.cast(self, dtypes.int32)

    def bool(self) -> Tensor:
        """A bool copy: True where the value is not zero.

        Example:
            >>> jg.tensor([0.0, 2.0]).bool()
            tensor([False,  True])
        """
        return prims.cast(self, dtypes.bool_)

    def half(self) -> Tensor:
        """A float16 copy (stored in 2 bytes; NumPy computes its ops in float32 and rounds).

        Example:
            >>> jg.tensor([1.0, 2.5]).half()
            tensor([1.0000, 2.5000], dtype=jitgrad.float16)
        """
        return prims.cast(self, dtypes.float16)

    def byte(self) -> Tensor:
        """A uint8 copy (values wrap modulo 256, as in PyTorch).

        Example:
            >>> jg.tensor([1, 255, 256]).byte()
            tensor([  1, 255,   0], dtype=jitgrad.uint8)
        """
        return prims.cast(self, dtypes.uint8)

    def char(self) -> Tensor:
        """An int8 copy (values wrap into -128..127, as in PyTorch).

        Example:
            >>> jg.tensor([1, 127, 128]).char()
            tensor([   1,  127, -128], dtype=jitgrad.int8)
        """
        return prims.cast(self, dtypes.int8)

    def short(self) -> Tensor:
        """An int16 copy.

        Example:
            >>> jg.tensor([1.7, -300.0]).short()
            tensor([   1, -300], dtype=jitgrad.int16)
        """
        return prims.cast(self, dtypes.int16)

    def type_as(self, other: Tensor) -> Tensor:
        """Cast to the dtype of `other`.

        Example:
            >>> jg.tensor([1, 2]).type_as(jg.zeros(1))
            tensor([1., 2.])
        """
        return prims.cast(self, other.dtype)

    def contiguous(self) -> Tensor:
        """A tensor with C-ordered storage (self when it already is).

        Example:
            >>> jg.zeros(2, 3).t().contiguous().shape
            (3, 2)
        """
        return self

    def clone(self) -> Tensor:
        """Same as jg.clone(self).

        Example:
            >>> jg.tensor([1.0, 2.0]).clone()
            tensor([1., 2.])
        """
        return prims.clone(self)


class _HookHandle:
    """Returned by register_hook; remove() unregisters the hook."""

    def __init__(self, hooks: list, hook) -> None:
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


def _rebuild_tensor(array: np.ndarray, requires_grad: bool, device: str = "cpu", cls: type = Tensor) -> Tensor:
    """Unpickle helper: a leaf tensor of class `cls` with its own storage (on `device`; GPU values
    are pickled as host arrays)."""
    if device != "cpu":
        array = devices.backend(device).move(array, device)
    t = TensorBase._wrap.__func__(cls, array)
    t._requires_grad = requires_grad
    return t


core.default_tensor_type[0] = Tensor
# PyTorch Tensor attributes jitgrad lacks raise a clear AttributeError (placeholders, not a
# __getattr__, which would slow every attribute access: CPython does not specialise attribute
# loads on types that define one).
unsupported.install_tensor_placeholders(Tensor)


# Functional in-place forms (jitgrad.sin_(x) is x.sin_()).
add_ = Tensor.add_
sub_ = Tensor.sub_
mul_ = Tensor.mul_
div_ = Tensor.div_
pow_ = Tensor.pow_
clamp_ = Tensor.clamp_
zero_ = Tensor.zero_
fill_ = Tensor.fill_
neg_ = Tensor.neg_
abs_ = Tensor.abs_
exp_ = Tensor.exp_
log_ = Tensor.log_
sqrt_ = Tensor.sqrt_
sin_ = Tensor.sin_
cos_ = Tensor.cos_
tanh_ = Tensor.tanh_
sigmoid_ = Tensor.sigmoid_
relu_ = Tensor.relu_
