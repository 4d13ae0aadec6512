"""The primitive record, the tensor's storage/autograd slots, and bind(): the single dispatch
point through which every op runs, eagerly on NumPy or symbolically into an IR graph."""
from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from . import devices, dtypes
from .autograd_graph import PrimNode, VersionCounter
from .grad_mode import _state as _grad_state

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from .graph import Node
    from .tensor import Tensor

ELEMENTWISE, REDUCTION, MATMUL, SHAPE, INDEX, OTHER, TRANSFER = (
    "elementwise", "reduction", "matmul", "shape", "index", "other", "transfer")


def _no_finish(count: int) -> float:
    return 1.0


def mean_scale(count: int) -> float:
    """mean's finalisation: the sum times 1/count; the mean of no elements is NaN (as NumPy and eager mode)."""
    return 1.0 / count if count else math.nan


@dataclass(frozen=True)
class Reduction:
    """What the back ends need of a reduction primitive, declared with it.

    combine: the row of kernels/reductions.py's table that folds elements (its identity starts
        the accumulator and is an empty reduction's result): 'sum', 'prod', 'max', 'min', ...;
    scale(count) -> float: the finalisation, a factor applied to the combined value of `count`
        elements (mean_scale for mean; 1 for the others);
    nan: 'propagate' (a NaN element makes the result NaN, as NumPy's sum/max) or 'ignore' (NaN
        elements are skipped, as nansum): the table row implements it, a test checks they agree;
    index: the index-carrying variant: for an arg-reduction (argmax), True; for a reduction whose
        gradient or second result uses one (max along a dim), that primitive's name; else None."""

    combine: str
    scale: Callable[[int], float] = _no_finish
    nan: str = "propagate"
    index: bool | str | None = None

    @property
    def returns_index(self) -> bool:
        return self.index is True


@dataclass(frozen=True, eq=False)
class Primitive:
    """Everything every layer needs to know about one op; declared once in a prims_* module (prims.ALL).

    abstract(*avals, **params) -> (shape, dtype): the shape/dtype rule (eager and tracer).
    impl(*arrays, **params) -> ndarray: the NumPy implementation.
    vjp(g, out, *inputs, **params) -> tuple of input cotangents (None where no gradient),
        written with jitgrad ops so it runs on eager tensors and on tracers alike.
    template: for elementwise ops, the scalar expression (see templates.py: a format string with
        {0}, {1}... for operands and {name} for params, or a function of the dtypes), in the
        subset that compiles under numba.njit and numba.cuda.
    reduction: for reductions, the combine rule, finalisation, NaN policy and index variant.
    """

    name: str
    impl: Callable
    abstract: Callable
    vjp: Callable | None
    kind: str
    node_name: str
    template: str | Callable | None = None
    params: tuple[str, ...] = ()
    reduction: Reduction | None = None
    # False for a VJP that is user code (autograd.Function.backward): it is never run on probe
    # values to find what it reads, so its node saves every operand.
    probe_vjp: bool = True

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

    # A view (of basic indexing, narrow, transpose, reshape...) shares storage and the version counter
    # with `_base`, the tensor that owns the memory; `_view_chain` is the sequence of view ops that
    # makes it from `_base`, and `_view_src_fn` the base's grad_fn that its own grad_fn was made from.
    __slots__ = ("_data", "_requires_grad", "_grad_fn", "_grad", "_version_counter", "_retains_grad",
                 "_accumulator", "_base", "_view_chain", "_view_src_fn", "__weakref__")
    # The class of op results when it differs from the inputs' class (nn.Parameter -> Tensor).
    _op_result = None

    @classmethod
    def _wrap(cls, data, requires_grad: bool = False, grad_fn=None, version=None):
        t = object.__new__(cls)
        t._data = data if type(data) is _ndarray else as_storage(data)
        t._requires_grad = requires_grad
        t._grad_fn = grad_fn
        t._grad = None
        t._version_counter = VersionCounter() if version is None else version
        t._retains_grad = False
        t._accumulator = None
        t._base = None
        return t

    @property
    def grad_fn(self) -> Node | None:
        """The node that made this tensor (None for leaves). A view whose base was changed in place
        since gets a grad_fn regenerated from the base's new history, as PyTorch does lazily."""
        base = self._base
        if base is not None and base._grad_fn is not self._view_src_fn:
            refresh_view(self)
        return self._grad_fn

    @grad_fn.setter
    def grad_fn(self, node) -> None:
        self._grad_fn = node

    @property
    def _version(self) -> int:
        """How many in-place writes this storage has seen (PyTorch's Tensor._version)."""
        return self._version_counter.value

    @property
    def shape(self) -> tuple[int, ...]:
        shape = self._data.shape
        return shape if type(shape) is tuple else tuple(shape)  # (Numba's CUDA simulator has its own type)

    @property
    def dtype(self) -> dtypes.DType:
        return dtypes.public(self._data.dtype)

    @property
    def ndim(self) -> int:
        return len(self._data.shape)

    @property
    def requires_grad(self) -> bool:
        base = self._base
        if base is not None and base._grad_fn is not self._view_src_fn:
            refresh_view(self)
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

    def _is_view(self) -> bool:
        """Whether this tensor is a view of `_base` (shares its storage and version counter)."""
        return self._base is not None

    def detach(self) -> Tensor:
        """A new tensor sharing storage (and the version counter) with no autograd history."""
        return type(self)._wrap(self._data, version=self._version_counter)


_VIEW_KINDS = (SHAPE, INDEX)

# Set by tensor.py: the class that Python scalars and arrays are lifted into.
default_tensor_type: list = [TensorBase]
# Set by the profiler while it records: called as hook(run, prim, args, params).
profile_hook: list = [None]
# Set by anomaly mode while on: called as hook(node) for each recorded node (keeps the forward stack).
record_hook: list = [None]


class _Tracing(threading.local):
    """The Builder of the user function being traced in this thread (set by tracing.py). While it
    is set, an op on a tensor that existed before the trace began (a parameter, buffer or any
    tensor from the enclosing scope) is recorded too, that tensor becoming a captured input,
    not run once at trace time: compiled functions read such tensors' current values at every
    call (see Builder.outside)."""

    builder = None


tracing = _Tracing()
# Bumped whenever a Module's parameters, buffers, submodules or training flags are assigned:
# compiled functions traced before the bump retrace, since the Python code they ran may now
# read other tensors (m.weight = Parameter(...)) or take another branch (m.eval()).
module_epoch: list = [0]


def python_state() -> tuple:
    """The Python state a trace may have read and a compiled call must match (its guard)."""
    return module_epoch[0], dtypes._default_float[0]


def as_storage(data) -> object:
    """`data` as tensor storage: an ndarray (a NumPy scalar such as np.add of two 0-d arrays
    returns becomes a 0-d array), a GPU array, or a symbolic IR value; anything else is an error."""
    if isinstance(data, (np.ndarray, Symbolic)):
        return data
    if isinstance(data, np.generic):
        return np.asarray(data)
    if devices.backend_of(data) is not None:
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
    return devices.backend_of(data).full(shape, dtype, value)


def copy_data(data) -> object:
    """A fresh copy of (host or device) storage."""
    if on_host(data):
        return np.array(data, copy=True)
    return devices.backend_of(data).copy(data)


def host_array(data) -> np.ndarray:
    """The values of storage as a NumPy array (a copy when the storage is GPU memory)."""
    if on_host(data):
        return data
    return devices.backend_of(data).to_host(data)


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


def _host_impl(prim, datas: list, params: dict, shape: tuple, dtype):
    """The primitive's NumPy implementation on host arrays, as an array of the rule's dtype, its
    shape checked against the rule's."""
    data = prim.impl(*datas, **params) if params else prim.impl(*datas)
    # (dtype is usually a DType: compare NumPy dtypes by identity first, as NumPy's == with a
    # foreign object converts it and costs more than the op itself on small arrays)
    np_dtype = dtype.dtype if type(dtype) is _DType else dtype
    if type(data) is not _ndarray or (data.dtype is not np_dtype and data.dtype != np_dtype):
        data = np.asarray(data, dtype=np_dtype)
    if data.shape != shape:
        raise AssertionError(f"internal error: {prim.name} made shape {data.shape}, rule says {shape}")
    return data

def _bind(prim: Primitive, args: tuple, params: dict):
    datas = []
    host = True  # every operand a NumPy array (the common eager case: no device, no tracer)
    for a in args:
        base = a._base
        if base is not None and base._grad_fn is not a._view_src_fn:
            refresh_view(a)
        d = a._data
        if type(d) is not _ndarray:
            host = False
        datas.append(d)
    if host and (prim.kind in _PLANNED_KINDS or len(args) == 1 and prim in _PLANNED_ALONE) \
            and tracing.builder is None:
        plan = _plan_of(prim, args, params, datas)
        if plan is not None:
            dtype = plan[1]
            return _result(prim, args, params, datas, _host_impl(prim, datas, params, plan[0], dtype), dtype, None,
                           plan)
    shape, dtype = prim.abstract(*args, **params) if params else prim.abstract(*args)
    builder = None
    if host and tracing.builder is None and prim.kind is not TRANSFER:
        return _result(prim, args, params, datas, _host_impl(prim, datas, params, shape, dtype), dtype, None)
    on_device = None  # the first operand's storage that is not a host array
    for d in datas:
        if type(d) is not _ndarray:
            if isinstance(d, Symbolic):
                builder = d.builder
                break
            if on_device is None and not isinstance(d, np.ndarray):
                on_device = d
    traced = tracing.builder
    if builder is None and traced is not None:
        for a in args:
            if traced.outside(a):
                builder = traced
                break
    if builder is None and (on_device is not None or prim.kind is TRANSFER):
        data = devices.backend_of(on_device).run(prim, datas, params, shape, dtype) if on_device is not None \
            else prim.impl(*datas, **params)
    elif builder is None:
        data = _host_impl(prim, datas, params, shape, dtype)
    else:
        for i, a in enumerate(args):
            if not isinstance(datas[i], Symbolic) and (a._requires_grad or builder.outside(a)):
                datas[i] = builder.capture(a)
        blocked = builder.blocked
        if blocked is None:
            data = builder.emit(prim, datas, params, shape, dtype)
        elif _grad_state.enabled:
            if blocked:  # values made under no_grad: an op that records gradients reads them through a stop
                datas = [builder.stop_gradient(d) if isinstance(d, Symbolic) and d in blocked else d for d in datas]
            data = builder.emit(prim, datas, params, shape, dtype)
        else:
            data = builder.emit(prim, datas, params, shape, dtype)
            if prim.vjp is not None and any(a._requires_grad or isinstance(d, Symbolic) and d in blocked
                                            for a, d in zip(args, datas)):
                blocked.add(data)  # made under no_grad from values that carry gradients
    return _result(prim, args, params, datas, data, dtype, builder)


# Kinds of primitive whose shape rule reads only the operands' shapes and dtypes and the params:
# an eager op on host arrays finds its result's shape, dtype and node reads by one lookup (_plan_of).
_PLANNED_KINDS = (ELEMENTWISE, REDUCTION, SHAPE)
# Other primitives whose rule reads only those when they have one operand (basic indexing, x[i]).
_PLANNED_ALONE: set = set()
_plans: dict = {}
_PLANS_LIMIT = 4096


def planned_alone(prim: Primitive) -> Primitive:
    """Declare that `prim`'s shape rule reads only shapes, dtypes and params when it has one
    operand (see _plan_of); returns `prim`."""
    _PLANNED_ALONE.add(prim)
    return prim


def _plan_of(prim: Primitive, args: tuple, params: dict, datas: list) -> list | None:
    """[result shape, dtype, node reads or None until first needed] of `prim` on host operands of
    these shapes, dtypes and requires-grad flags (the shape rule and vjp_reads once per signature);
    None where the params are unhashable (the caller runs the rule)."""
    if len(args) == 2:  # (flat for the common arities, as vjp_reads' signature)
        a, b = args
        da, db = datas
        key = (prim, da.shape, da.dtype, a._requires_grad, db.shape, db.dtype, b._requires_grad)
    elif len(args) == 1:
        d = datas[0]
        key = (prim, d.shape, d.dtype, args[0]._requires_grad)
    else:
        key = (prim, *[(d.shape, d.dtype, a._requires_grad) for a, d in zip(args, datas)])
    try:
        if params:
            key = (key, tuple(params.items()))
        plan = _plans.get(key)
    except TypeError:  # unhashable params
        return None
    if plan is None:
        shape, dtype = prim.abstract(*args, **params) if params else prim.abstract(*args)
        plan = [shape, dtype, None]
        if len(_plans) >= _PLANS_LIMIT:
            _plans.clear()
        _plans[key] = plan
    return plan


def _result(prim: Primitive, args: tuple, params: dict, datas: list, data, dtype, builder, plan: list | None = None):
    """The output tensor of `prim` holding `data`: a view's version counter and chain, and its
    graph node when grad mode is on and an input requires grad (`plan`: from _plan_of)."""
    cls = type(args[0])
    out = _new(cls._op_result or cls)
    out._data = data
    out._requires_grad = False
    out._grad_fn = None
    out._grad = None
    out._version_counter = None
    out._retains_grad = False
    out._accumulator = None
    out._base = None
    if prim.kind in _VIEW_KINDS and builder is None and type(data) is _ndarray and data.base is not None \
            and np.may_share_memory(data, datas[0]):
        # A NumPy view: it shares the version counter with its base, and remembers how it was made
        # from the base so that in-place writes through it can rewrite the base's history.
        src = args[0]
        step = ((prim, params, args[1:]),)
        root = src._base
        out._version_counter = src._version_counter
        out._base = src if root is None else root
        out._view_chain = step if root is None else src._view_chain + step
        out._view_src_fn = out._base._grad_fn
    else:
        out._version_counter = VersionCounter()
    if _grad_state.enabled and prim.vjp is not None and dtype.kind in _GRAD_KINDS:
        for a in args:
            if a._requires_grad:
                out._requires_grad = True
                if plan is None:
                    reads = vjp_reads(prim, params, args)
                else:
                    reads = plan[2]
                    if reads is None:
                        reads = plan[2] = vjp_reads(prim, params, args)
                out._grad_fn = PrimNode(prim, params, args, out, reads)
                if record_hook[0] is not None:
                    record_hook[0](out._grad_fn)
                break
    return out


def refresh_view(view: TensorBase) -> None:
    """Make a view's grad_fn the view ops applied to its base's current history (after an in-place
    write to the base or to another view of it changed that history), as PyTorch regenerates it."""
    base = view._base
    view._view_src_fn = base._grad_fn
    enabled = _grad_state.enabled
    _grad_state.enabled = True
    try:
        value = base
        for prim, params, extra in view._view_chain:
            value = _bind(prim, (value,) + extra, params)
    finally:
        _grad_state.enabled = enabled
    view._grad_fn = value._grad_fn
    view._requires_grad = value._requires_grad


_ndarray = np.ndarray
_new = object.__new__
_DType = dtypes.DType
# Only floating (and complex) results can carry gradients: integer and bool results of a
# differentiable op (a cast, a rounding) never require grad, as in PyTorch.
_GRAD_KINDS = "fc"

# NumPy's floating-point warnings from jitgrad's own calls (overflow to inf, log(0), 0/0) are
# not errors in PyTorch semantics: results are IEEE values, as torch returns them silently.
warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"jitgrad(\.|$)",
                        message=r"(overflow|divide by zero|invalid value|underflow)")


# ----- what a graph node saves, derived from the VJP rule ----------------------------------------


class _Probe(Symbolic):
    """A stand-in value for running a VJP rule once without data. `origins` are the rule's operands
    (its output `out`, its inputs by position) this value was computed from: the values that the
    rule reads are the origins of the cotangents it returns (using only .shape or .dtype of an
    operand is not a read: sizes are kept by the node anyway)."""

    __slots__ = ("shape", "dtype", "builder", "origins")

    def __init__(self, shape: tuple, dtype: np.dtype, builder: _ProbeBuilder, origins: frozenset) -> None:
        self.shape, self.dtype, self.builder, self.origins = tuple(shape), dtype, builder, origins


class _ProbeBuilder:
    """The `builder` of probe values: each op's result comes from the union of its operands' origins."""

    blocked = None  # (no no_grad tracking, no captured tensors: see ir.Builder)

    def outside(self, tensor) -> bool:
        return False

    def emit(self, prim, datas, params, shape, dtype) -> _Probe:
        origins = frozenset()
        for d in datas:
            if type(d) is _Probe:
                origins = origins | d.origins
        return _Probe(shape, dtype, self, origins)

    def capture(self, tensor) -> _Probe:
        return _Probe(tensor.shape, tensor.dtype, self, frozenset())

    def value_error(self, what: str) -> Exception:
        return RuntimeError(f"{what} while probing a VJP rule")


_OUT = "out"
_reads_cache: dict = {}
_READS_CACHE_LIMIT = 4096


class Reads(tuple):
    """(which inputs, whether the output) a node's VJP rule reads, shared by every node of one
    signature (primitive, params, input shapes, dtypes and requires-grad flags); `runner` holds
    (rule, its replay compiled for that signature) once one is (vjp_replay.py), so a backward pass
    finds it through its nodes without building a key."""

    def __new__(cls, found: tuple) -> Reads:
        reads = super().__new__(cls, found)
        reads.runner = None
        return reads


def vjp_reads(prim: Primitive, params: dict, inputs: tuple) -> tuple:
    """(which inputs, whether the output) `prim`'s VJP reads when the inputs that require grad are
    those of `inputs`: found by running the rule once on probe values per (primitive, requires-grad
    pattern, shapes, dtypes, params) and cached. A node saves (and version-checks) only these."""
    if not prim.probe_vjp:
        return (tuple(True for _ in inputs), True)
    if len(inputs) == 2:  # (flat for the common arities: a bool first, never a nested signature's tuple)
        a, b = inputs
        da, db = a._data, b._data
        signature = (a._requires_grad, da.shape, da.dtype, b._requires_grad, db.shape, db.dtype)
    elif len(inputs) == 1:
        a = inputs[0]
        signature = (a._requires_grad, a._data.shape, a._data.dtype)
    else:
        signature = tuple([(t._requires_grad, t._data.shape, t._data.dtype) for t in inputs])
    try:
        key = (prim, signature, tuple(params.items())) if params else (prim, signature)
        found = _reads_cache.get(key)
    except TypeError:  # unhashable params: probe without caching
        key, found = None, None
    if found is not None:
        return found
    found = _probe_vjp(prim, params, inputs, tuple(t._requires_grad for t in inputs))
    if key is not None:
        found = Reads(found)
        if len(_reads_cache) >= _READS_CACHE_LIMIT:
            _reads_cache.clear()
        _reads_cache[key] = found
    return found


def _probe_vjp(prim: Primitive, params: dict, inputs: tuple, needs: tuple) -> tuple:
    builder = _ProbeBuilder()
    cls = default_tensor_type[0]
    probes = [cls._wrap(_Probe(t.shape, t.dtype, builder, frozenset((i,))), requires_grad=n)
              for i, (t, n) in enumerate(zip(inputs, needs))]
    shape, dtype = prim.abstract(*inputs, **params) if params else prim.abstract(*inputs)
    out = cls._wrap(_Probe(shape, dtype, builder, frozenset((_OUT,))))
    g = cls._wrap(_Probe(shape, dtype, builder, frozenset()))
    enabled = _grad_state.enabled
    _grad_state.enabled = False
    try:
        grads = prim.vjp(g, out, *probes, **params)
    except Exception:  # noqa: BLE001 - a rule that cannot run on stand-ins keeps every value (safe)
        return (tuple(True for _ in inputs), True)
    finally:
        _grad_state.enabled = enabled
    read = frozenset()
    for gi in grads:
        if isinstance(gi, TensorBase) and type(gi._data) is _Probe:
            read = read | gi._data.origins
    return (tuple(i in read for i in range(len(inputs))), _OUT in read)
