"""The whole contract between jitgrad's lowering and the back ends: a Program is plain data.

A Program is one compiled entry point (the whole forward, or the whole backward). Its steps
run in order: fused loops (elementwise statements, optionally ending in reductions) and
library calls (matmul and other unfused kernels). Array names are identifiers in the
generated source; scalar expressions are already-filled op templates over temporaries.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import reductions

DTYPES = ("bool", "uint8", "int8", "int16", "int32", "int64", "float32", "float64")


class IndexOutOfRangeError(IndexError, RuntimeError):
    """An index outside its dim (gather, scatter, one_hot, loss targets), raised by eager checks and
    compiled kernels alike: an IndexError naming the bad value, and also the RuntimeError PyTorch
    raises for gather and scatter."""


@dataclass(frozen=True)
class Array:
    """An array value of the program: an argument, a temporary, or a constant. A temporary may be
    a `view`: (parent array, index text, contiguous, blocks) -- a window of another array of the
    program (an input of cat written straight into its slice of cat's output); `contiguous`: the
    window is one C-ordered block (a leading slice), so loops may run over it flat; `blocks`
    (pre, width, offset, w) or None: the window is columns offset..offset+w of the parent
    viewed as (pre, width), so loops may run over it row by row, each row flat."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    view: tuple | None = None

    @property
    def strided(self) -> bool:
        """A window that is not one C-ordered block (loops index it by dims)."""
        return self.view is not None and not self.view[2]

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"unsupported dtype {self.dtype!r} for array {self.name}; expected one of {DTYPES}")


@dataclass(frozen=True)
class Load:
    """Read `array` at the loop index into scalar `target` (NumPy broadcasting: the array's
    dims align with the loop's last dims, and size-1 dims read index 0)."""

    target: str
    array: str


@dataclass(frozen=True)
class Stmt:
    """`target = expr`, one scalar temporary; `origin` names the IR equation it came from;
    `dtype` its value's dtype where known ("" otherwise: kernels.chain_pieces then keeps the loop whole)."""

    target: str
    expr: str
    origin: str = ""
    dtype: str = ""


@dataclass(frozen=True)
class Store:
    """Write scalar `value` into `array` (shaped like the loop, or broadcast-compatible) at the index."""

    array: str
    value: str
    origin: str = ""


@dataclass(frozen=True)
class Reduce:
    """Accumulate scalar `value` with `op` over loop dims `dims` into `array` (the loop's shape
    with those dims removed, or kept as 1 when keepdim). `scale` multiplies the result (mean)."""

    array: str
    op: str
    value: str
    dims: tuple[int, ...]
    scale: float = 1.0
    origin: str = ""

    def __post_init__(self) -> None:
        reductions.row(self.op)  # a row of the reduction table (ValueError otherwise)

    def scaled(self, acc: str) -> str:
        """Source text of the accumulator times `scale` (the mean of no elements is NaN: 0 * nan;
        a variance with no degrees of freedom scales by inf)."""
        if self.scale == 1.0:
            return acc
        if self.scale != self.scale:
            return f"{acc} * math.nan"
        if self.scale in (float("inf"), float("-inf")):
            return f"{acc} * {'-' if self.scale < 0 else ''}math.inf"
        return f"{acc} * {self.scale!r}"


@dataclass(frozen=True)
class Loop:
    """One pass over the iteration space `shape`: loads, statements, stores and reductions.
    All reductions of one loop reduce the same dims."""

    shape: tuple[int, ...]
    loads: tuple[Load, ...]
    stmts: tuple[Stmt, ...]
    stores: tuple[Store, ...] = ()
    reduces: tuple[Reduce, ...] = ()

    @property
    def reduced_dims(self) -> tuple[int, ...]:
        dims = {r.dims for r in self.reduces}
        if len(dims) > 1:
            raise ValueError(f"a loop's reductions must share their dims, got {sorted(dims)}")
        return dims.pop() if dims else ()


@dataclass(frozen=True)
class Call:
    """A library kernel that is not fused: `op` in library.OPS, writing `output`."""

    op: str
    inputs: tuple[str, ...]
    output: str
    params: tuple = ()
    origin: str = ""


@dataclass(frozen=True)
class Program:
    """One compiled entry point: arguments in, steps in order, outputs returned as a tuple.
    `constants` are arrays passed as extra trailing arguments by the caller, then the
    `preallocated` arrays: large buffers the caller allocates with NumPy (whose allocator asks
    the kernel for huge pages: writing a fresh 40 MB array costs half the page faults)."""

    name: str
    inputs: tuple[Array, ...]
    outputs: tuple[str, ...]
    temporaries: tuple[Array, ...] = ()
    steps: tuple = ()
    constants: tuple[Array, ...] = ()
    notes: tuple[str, ...] = field(default=(), compare=False)
    preallocated: tuple[Array, ...] = ()

    def arrays(self) -> dict[str, Array]:
        return {a.name: a for a in self.inputs + self.constants + self.temporaries + self.preallocated}

    @property
    def arguments(self) -> tuple[Array, ...]:
        """The entry point's parameters, in order."""
        return self.inputs + self.constants + self.preallocated
