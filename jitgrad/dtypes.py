"""The dtype set and the one promotion function (PyTorch's rules, incl. weak Python scalars)."""
from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from ._typing import DTypeLike

_pyfloat, _pyint, _pybool = builtins.float, builtins.int, builtins.bool

class DType:
    """A jitgrad dtype (``jg.float32``, ``t.dtype``): the NumPy dtype it stores plus PyTorch's
    attributes (``is_floating_point``, ``is_signed``, ``itemsize``). It equals, hashes like and
    converts to that NumPy dtype, so NumPy calls accept it wherever they accept a dtype.

    Example:
        >>> jg.float16.is_floating_point, jg.float16.itemsize, jg.uint8.is_signed
        (True, 2, False)
        >>> jg.tensor([1, 2], dtype=jg.int8).dtype == np.int8
        True
    """

    __slots__ = ("dtype", "kind", "char", "itemsize", "name", "type", "is_floating_point", "is_signed",
                 "is_complex", "_hash")

    def __init__(self, np_dtype: np.dtype) -> None:
        self.dtype = np_dtype  # (NumPy reads a dtype from an object's `.dtype`)
        self.kind, self.char, self.itemsize, self.type = np_dtype.kind, np_dtype.char, np_dtype.itemsize, np_dtype.type
        self.name = _NAMES[np_dtype]
        self.is_floating_point = np_dtype.kind == "f"
        self.is_signed = np_dtype.kind in "fi"
        self.is_complex = False
        self._hash = hash(np_dtype)

    def __eq__(self, other: object) -> builtins.bool:
        if isinstance(other, DType):
            return self.dtype == other.dtype
        try:
            return builtins.bool(self.dtype == other)
        except TypeError:
            return NotImplemented

    def __hash__(self) -> builtins.int:
        return self._hash

    def __getattr__(self, attr: str) -> object:  # the rest of np.dtype's attributes (str, num, byteorder...)
        return getattr(self.dtype, attr)

    def __repr__(self) -> str:
        return f"jitgrad.{self.name}"

    def __str__(self) -> str:  # as NumPy's: code that builds names from str(dtype) keeps working
        return self.name

    def __reduce__(self) -> tuple:
        return _by_name, (self.name,)

    def __copy__(self) -> DType:
        return self

    def __deepcopy__(self, memo: dict) -> DType:
        return self


_NP = {n: np.dtype(n) for n in ("bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64")}
_NAMES = {d: n for n, d in _NP.items()}
# The public DType of each supported NumPy dtype (looked up by dtype.num: Tensor.dtype's hot path).
_PUBLIC = {d: DType(d) for d in _NP.values()}
_BY_NUM = {d.num: t for d, t in _PUBLIC.items()}


def _by_name(name: str) -> DType:
    return _PUBLIC[_NP[name]]


def public(dtype: np.dtype) -> DType:
    """The DType users see for a storage's NumPy dtype."""
    try:
        return _BY_NUM[dtype.num]
    except (KeyError, AttributeError):
        return _PUBLIC[np.dtype(dtype)]


bool_ = public(_NP["bool"])
uint8 = public(_NP["uint8"])
int8 = public(_NP["int8"])
int16 = public(_NP["int16"])
int32 = public(_NP["int32"])
int64 = public(_NP["int64"])
float16 = public(_NP["float16"])
float32 = public(_NP["float32"])
float64 = public(_NP["float64"])

float = float32  # noqa: A001 - PyTorch spells the default float dtype this way
double = float64
half = float16
long = int64
int = int32  # noqa: A001
short = int16
bool = bool_  # noqa: A001

_default_float = [float32.dtype]

# Category order for promotion: bool < integer < floating.
_CATEGORY = {d: {"b": 0, "u": 1, "i": 1, "f": 2}[d.kind] for d in _NP.values()}
SUPPORTED = "bool, uint8, int8, int16, int32, int64, float16, float32, float64"


def get_default_dtype() -> DType:
    """The dtype Python floats and float factories produce (float32, as in PyTorch).

    Example:
        >>> jg.get_default_dtype()
        jitgrad.float32
    """
    return public(_default_float[0])


def set_default_dtype(dtype: DTypeLike) -> None:
    """Set the default floating dtype (float16, float32 or float64).

    Example:
        >>> jg.set_default_dtype(jg.float64)
        >>> jg.tensor([1.0]).dtype
        jitgrad.float64
        >>> jg.set_default_dtype(jg.float32)
    """
    dtype = as_dtype(dtype)
    if not is_floating(dtype):
        raise TypeError(f"set_default_dtype: only floating dtypes are allowed, got {name(dtype)}")
    _default_float[0] = dtype


def name(dtype: np.dtype | DType) -> str:
    """jitgrad's printed name of a dtype ('float32', ...)."""
    found = _NAMES.get(dtype)  # (not .get(dtype, str(dtype)): str() of a dtype costs ~10 us, every call)
    return found if found is not None else str(dtype)


def as_dtype(dtype) -> np.dtype:
    """Normalise a user dtype (jitgrad/NumPy dtype, type, or name) to a supported np.dtype."""
    if isinstance(dtype, DType):
        return dtype.dtype
    if dtype is None or dtype is _pyfloat:
        return _default_float[0]
    if dtype is _pyint:
        return _NP["int64"]
    if dtype is _pybool:
        return _NP["bool"]
    try:
        d = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"unknown dtype {dtype!r}; use one of {SUPPORTED}") from exc
    if d not in _CATEGORY:
        raise TypeError(f"dtype {d} is not supported by jitgrad; use one of {SUPPORTED}")
    return d


def is_floating(dtype: np.dtype | DType) -> bool:
    """True for float16/float32/float64, the dtypes that can carry gradients."""
    return dtype.kind == "f"


def kernel_dtype(dtype: np.dtype | DType) -> np.dtype:
    """The dtype compiled kernels compute and store a value in: float16 becomes float32 (Numba's
    CPU target has no float16); compiled calls convert float16 inputs and outputs at the boundary."""
    d = as_dtype(dtype)
    return _NP["float32"] if d.char == "e" else d


def from_numpy_dtype(dtype: np.dtype) -> np.dtype:
    """Map an arbitrary NumPy dtype onto the supported set: the nine jitgrad dtypes are kept;
    wider unsigned integers become int64 and long double float64 (PyTorch has no such tensors)."""
    if dtype in _CATEGORY:
        return dtype.dtype if isinstance(dtype, DType) else dtype
    if dtype.kind == "f":
        return _NP["float64"]
    if dtype.kind in "iu":
        return _NP["int64"]
    raise TypeError(f"cannot make a jitgrad tensor from NumPy dtype {dtype}; supported: {SUPPORTED}")


def scalar_dtype(value) -> np.dtype:
    """The dtype a Python scalar gets when it becomes a tensor on its own."""
    if isinstance(value, _pybool):
        return _NP["bool"]
    if isinstance(value, _pyint):
        return _NP["int64"]
    if isinstance(value, _pyfloat):
        return _default_float[0]
    if isinstance(value, np.generic):
        return from_numpy_dtype(value.dtype)
    raise TypeError(f"expected a number, got {type(value).__name__}")


class ZeroDim:
    """Marks the dtype of a 0-d tensor operand for result_type (it ranks below tensors with dims)."""

    __slots__ = ("dtype",)

    def __init__(self, dtype: np.dtype | DType) -> None:
        self.dtype = dtype


def result_type(*operands) -> np.dtype:
    """PyTorch promotion over three tiers: tensors with dims (dtypes) decide within a category;
    0-d tensors (ZeroDim) count only when they lift the category; Python scalars lift the
    category to its default dtype (int tensor * 2.5 -> float32, float32 * 2.0 -> float32)."""
    dims_dtype = zero_dtype = None
    scalar_cat = -1
    for op in operands:
        if isinstance(op, (np.dtype, DType)):
            dims_dtype = op if dims_dtype is None else _promote_pair(dims_dtype, op)
        elif isinstance(op, ZeroDim):
            zero_dtype = op.dtype if zero_dtype is None else _promote_pair(zero_dtype, op.dtype)
        else:
            scalar_cat = max(scalar_cat, _CATEGORY[scalar_dtype(op)])
    tensor_dtype = dims_dtype
    if zero_dtype is not None and (tensor_dtype is None or _CATEGORY[zero_dtype] > _CATEGORY[tensor_dtype]):
        tensor_dtype = zero_dtype
    if tensor_dtype is None:
        return {0: _NP["bool"], 1: _NP["int64"], 2: _default_float[0]}[scalar_cat]
    if scalar_cat > _CATEGORY[tensor_dtype]:
        return {1: _NP["int64"], 2: _default_float[0]}[scalar_cat]
    return as_dtype(tensor_dtype)


def _promote_pair(a, b):
    """PyTorch's promotion of two tensor dtypes: the higher category wins; within one, the wider
    type, except that uint8 with a signed integer needs a signed type holding both (int16 for int8)."""
    ca, cb = _CATEGORY[a], _CATEGORY[b]
    if ca != cb:
        return a if ca > cb else b
    if a.kind != b.kind and ca == 1:  # uint8 with int8/int16/int32/int64
        signed = a if a.kind == "i" else b
        return signed if signed.itemsize > 1 else _NP["int16"]
    return a if a.itemsize >= b.itemsize else b
