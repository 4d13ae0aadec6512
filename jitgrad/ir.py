"""The IR: a flat, typed SSA graph of primitive applications, its builder and its printer.

A `Graph` has explicit `inputs`, `constants`, `eqns` (in execution order) and `outputs`; every
value is a `Var` (shape, dtype, device). Constants are Vars holding `.value` (a read-only
NumPy array); 0-d ones print inline, others as `const` lines. Each `Eqn(prim, inputs, params,
out)` names a primitive declared in `jitgrad.prims` and its attributes. One output per eqn.

`Builder.emit` is what `core.bind` calls when an input is symbolic, so tracing runs the same
op declarations as eager mode. The printer names values a, b, c... in order of appearance,
so the listing is deterministic and diffable.
"""
from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Sequence

import numpy as np

from . import dtypes, shapes
from .core import Primitive, Symbolic
from .tree import num_leaves, seq

_SHORT = {dtypes.float16: "f16", dtypes.float32: "f32", dtypes.float64: "f64", dtypes.uint8: "u8",
          dtypes.int8: "i8", dtypes.int16: "i16", dtypes.int32: "i32", dtypes.int64: "i64", dtypes.bool_: "bool"}


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic GC while building or rewriting a big graph: the many small objects
    made would trigger full collections whose cost grows with the heap (quadratic overall)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Var(Symbolic):
    """One SSA value: an input, a constant (`value` is set) or an equation's output."""

    __slots__ = ("shape", "dtype", "device", "builder", "value", "id")

    def __init__(self, shape: tuple, dtype: np.dtype, builder=None, value: np.ndarray | None = None,
                 device: str = "cpu", id: int = -1) -> None:  # noqa: A002
        self.shape = tuple(shape)
        self.dtype = dtype
        self.device = device
        self.builder = builder
        self.value = value
        self.id = id

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return shapes.numel(self.shape)

    @property
    def is_const(self) -> bool:
        return self.value is not None

    @property
    def name(self) -> str:
        """A short name for debugging (`v12`); listings rename values in order instead."""
        return f"v{self.id}"

    def __repr__(self) -> str:
        return f"{self.name}:{type_str(self)}"


def type_str(v) -> str:
    """`f32[3,4]`: dtype and shape of a value."""
    return f"{_SHORT.get(v.dtype, str(v.dtype))}[{','.join(str(s) for s in v.shape)}]"


def const_var(value, builder=None, id: int = -1) -> Var:  # noqa: A002
    """A constant Var holding a read-only copy of `value` (dtype mapped onto jitgrad's set)."""
    arr = np.asarray(value)
    dt = dtypes.from_numpy_dtype(arr.dtype)
    arr = np.array(arr, dtype=dt, copy=True)
    arr.flags.writeable = False
    return Var(arr.shape, dt, builder, arr, id=id)


class Eqn:
    """out = prim(*inputs, **params)."""

    __slots__ = ("prim", "inputs", "params", "out")

    def __init__(self, prim: Primitive, inputs: Sequence[Var], params: dict, out: Var) -> None:
        self.prim = prim
        self.inputs = tuple(inputs)
        self.params = params
        self.out = out

    def replace_inputs(self, inputs: Sequence[Var]) -> Eqn:
        return Eqn(self.prim, inputs, self.params, self.out)

    def __repr__(self) -> str:
        return f"Eqn({self.out!r} = {self.prim.name}{format_params(self.params)} " \
               f"{' '.join(v.name for v in self.inputs)})"


class Graph:
    """inputs -> outputs through `eqns`. `in_tree`/`out_tree` (jitgrad.tree descriptions)
    rebuild the caller's argument and result structures from the flat lists."""

    __slots__ = ("inputs", "constants", "eqns", "outputs", "in_tree", "out_tree", "captured", "random_inputs",
                 "writebacks", "stale_saved_value", "effects", "mask_counts", "alias_reads")

    def __init__(self, inputs: Sequence[Var], eqns: Sequence[Eqn], outputs: Sequence[Var],
                 constants: Sequence[Var] | None = None, in_tree: tuple | None = None,
                 out_tree: tuple | None = None, captured: Sequence = ()) -> None:
        # `captured`: tensors read from the enclosing scope that became the LAST inputs (see
        # Builder.capture); the caller passes their current values on every call.
        self.captured = list(captured)
        # `random_inputs`: draw() functions for the inputs after the captured ones (fresh random
        # numbers at every call); `writebacks`: where each of the LAST outputs is written after a
        # call (an argument's leaf index, or a captured tensor), see tracing.py.
        self.random_inputs: list = []
        self.writebacks: list = []
        # Arguments read after a write-back target's first in-place write (alias_reads.py).
        self.alias_reads: tuple = ()
        # The error eager backward would raise (an in-place op changed a value saved for backward).
        self.stale_saved_value: str | None = None
        # What a traced training step does to Python state (.grad slots, guards): step_effects.py.
        self.effects = None
        # How many elements each traced boolean mask was assumed to select (prims_mask), in trace order.
        self.mask_counts: tuple = ()
        self.inputs = list(inputs)
        self.eqns = list(eqns)
        self.outputs = list(outputs)
        self.constants = list(constants) if constants is not None else used_constants(self.eqns, self.outputs)
        self.in_tree = in_tree if in_tree is not None else seq(*(("leaf",),) * len(self.inputs))
        self.out_tree = out_tree if out_tree is not None else seq(*(("leaf",),) * len(self.outputs))
        if num_leaves(self.out_tree) != len(self.outputs):
            raise ValueError(f"out_tree has {num_leaves(self.out_tree)} leaves for {len(self.outputs)} outputs")

    def __len__(self) -> int:
        return len(self.eqns)

    def __str__(self) -> str:
        return pretty(self)

    __repr__ = __str__

    def producers(self) -> dict:
        """{var: the eqn that computes it}."""
        return {e.out: e for e in self.eqns}

    def use_counts(self) -> dict:
        """{var: how many eqn inputs and outputs refer to it}."""
        counts: dict = {}
        for e in self.eqns:
            for v in e.inputs:
                counts[v] = counts.get(v, 0) + 1
        for v in self.outputs:
            counts[v] = counts.get(v, 0) + 1
        return counts

    def prim_counts(self) -> dict:
        """{primitive name: number of eqns}, for tests and reports."""
        counts: dict = {}
        for e in self.eqns:
            counts[e.prim.name] = counts.get(e.prim.name, 0) + 1
        return counts

    def replace(self, **changes) -> Graph:
        """A copy with some fields replaced (constants recomputed unless given)."""
        fields = {"inputs": self.inputs, "eqns": self.eqns, "outputs": self.outputs,
                  "in_tree": self.in_tree, "out_tree": self.out_tree, "captured": self.captured}
        fields.update(changes)
        return Graph(**fields)


def used_constants(eqns: Sequence[Eqn], outputs: Sequence[Var]) -> list:
    """Constant Vars referenced by eqns or outputs, in order of first use."""
    seen: dict = {}
    for e in eqns:
        for v in e.inputs:
            if v.value is not None and v not in seen:
                seen[v] = None
    for v in outputs:
        if v.value is not None and v not in seen:
            seen[v] = None
    return list(seen)


# ---------------------------------------------------------------------------------------------
# Builder: what core.bind calls while tracing
# ---------------------------------------------------------------------------------------------


class Builder:
    """Records equations as symbolic ops are bound; `build` makes the Graph."""

    def __init__(self) -> None:
        self.eqns: list[Eqn] = []
        self.count = 0
        self.captured: dict = {}  # id(tensor) -> (tensor, input Var), see capture()
        # Vars computed under no_grad from values that carry gradients, or None where the builder
        # does not track them (only user-function traces do, see trace.FunctionTraceBuilder).
        self.blocked: set | None = None
        self.in_place_ops = 0  # in-place ops that rebound a tensor to a value of this graph
        self.mask_counts: tuple = ()  # how many elements each traced boolean mask selects (trace order)
        self.mask_sites: list = []  # the counts this trace assumed, in trace order (see mask_count)

    def new_var(self, shape: tuple, dtype: np.dtype) -> Var:
        self.count += 1
        return Var(shape, dtype, self, id=self.count)

    def input(self, shape: tuple, dtype) -> Var:
        """A fresh graph input of this shape and dtype."""
        return self.new_var(tuple(shape), dtypes.as_dtype(dtype))

    def const(self, value) -> Var:
        """A constant of this graph (copied, read-only)."""
        self.count += 1
        return const_var(value, self, id=self.count)

    def capture(self, tensor) -> Var:
        """An implicit input for a concrete tensor from the enclosing scope that requires grad
        (a parameter): its value is read at every call and gradients flow back to it."""
        entry = self.captured.get(id(tensor))
        if entry is None:
            entry = self.captured[id(tensor)] = (tensor, self.input(tensor.shape, tensor.dtype))
        return entry[1]

    def outside(self, tensor) -> bool:
        """Whether `tensor` is a concrete tensor from outside the function being built, whose ops
        must be recorded with it as a captured input (only user-function traces have such)."""
        return False

    def rebind(self, tensor, value: Var) -> None:
        """An in-place op gives `tensor` the value `value` of this graph."""
        tensor._data = value

    def operand(self, data) -> Var:
        """A Var for an input datum of an op: our Vars pass, arrays become constants."""
        if isinstance(data, Var):
            if data.builder is not self and data.value is None:
                raise RuntimeError("an op mixes values of two different traces (a traced tensor leaked out of "
                                   "the function that made it, e.g. stored in a global); pass it as an argument")
            return data
        if isinstance(data, Symbolic):
            raise TypeError(f"cannot use a {type(data).__name__} in this trace")
        return self.const(data)

    def emit(self, prim: Primitive, datas: Sequence, params: dict, shape: tuple, dtype: np.dtype) -> Var:
        """Record out = prim(*datas, **params) and return out (called by core.bind)."""
        inputs = tuple(self.operand(d) for d in datas)
        out = self.new_var(shape, dtype)
        self.eqns.append(Eqn(prim, inputs, dict(params), out))
        return out

    def mask_count(self, mask: Var) -> tuple[int, int]:
        """(count, site) for a traced boolean mask: the site is its index in trace order, the count
        the one given for it (`mask_counts`, known from a run) or else an assumption, every element:
        compiled mode checks it when the program runs and traces again for another count
        (see prims_mask)."""
        site = len(self.mask_sites)
        count = self.mask_counts[site] if site < len(self.mask_counts) else mask.size
        self.mask_sites.append(count)
        return count, site

    def unsupported(self, what: str, ways_out: str) -> Exception:
        """The error raised for what a trace cannot record (tracing.py refines it)."""
        return RuntimeError(f"{what} is not supported while building a graph; {ways_out}")

    def value_error(self, what: str) -> Exception:
        """The error raised when user code reads a symbolic value (tracing.py refines it)."""
        return RuntimeError(f"{what} needs the value of a symbolic tensor, which is not known while building a graph")

    def build(self, inputs: Sequence[Var], outputs: Sequence, in_tree=None, out_tree=None) -> Graph:
        """The Graph of everything emitted so far (dead code included; simplify.dce removes it)."""
        outs = [self.operand(o) for o in outputs]
        return Graph(inputs, self.eqns, outs, in_tree=in_tree, out_tree=out_tree)


# ---------------------------------------------------------------------------------------------
# Checking and printing
# ---------------------------------------------------------------------------------------------


def verify(graph: Graph) -> None:
    """Raise ValueError unless every eqn uses defined values and matches its shape/dtype rule."""
    defined = set(graph.inputs) | set(graph.constants)
    for i, e in enumerate(graph.eqns):
        for v in e.inputs:
            if v not in defined:
                raise ValueError(f"eqn {i} ({e.prim.name}) uses {v!r} before it is defined")
        shape, dtype = e.prim.abstract(*e.inputs, **e.params)
        if tuple(shape) != e.out.shape or dtype != e.out.dtype:
            raise ValueError(f"eqn {i} ({e.prim.name}) declares {type_str(e.out)}, its rule says "
                             f"{_SHORT.get(dtype, dtype)}{list(shape)}")
        if e.out in defined:
            raise ValueError(f"eqn {i} ({e.prim.name}) redefines {e.out!r}")
        defined.add(e.out)
    for v in graph.outputs:
        if v not in defined:
            raise ValueError(f"output {v!r} is not defined")


def _letters(i: int) -> str:
    s = ""
    while True:
        s = chr(97 + i % 26) + s
        i //= 26
        if i == 0:
            return s


def format_value(v) -> str:
    """A param value, compactly: dtypes as f32, tuples without spaces after one item."""
    if isinstance(v, (np.dtype, dtypes.DType)):
        return _SHORT.get(v, str(v))
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, tuple):
        return "(" + ",".join(format_value(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    return repr(v)


def format_params(params: dict) -> str:
    if not params:
        return ""
    return "[" + " ".join(f"{k}={format_value(v)}" for k, v in params.items()) + "]"


def _literal(v: Var) -> str:
    return f"{np.asarray(v.value)[()]!s}:{type_str(v)}"


def pretty(graph: Graph) -> str:
    """The jaxpr-like listing: `{ lambda a:f32[3] ; ... in (d,) }`."""
    names: dict = {}

    def name(v: Var) -> str:
        if v.value is not None and v.ndim == 0:
            return _literal(v)
        n = names.get(v)
        if n is None:
            n = names[v] = _letters(len(names))
        return n

    head = " ".join(f"{name(v)}:{type_str(v)}" for v in graph.inputs)
    lines = ["{ lambda " + head + (" ;" if head else ";")]
    for c in graph.constants:
        if c.ndim:
            lines.append(f"    const {name(c)}:{type_str(c)}")
    for e in graph.eqns:
        args = " ".join(name(v) for v in e.inputs)
        out = name(e.out)
        lines.append(f"    {out}:{type_str(e.out)} = {e.prim.name}{format_params(e.params)} {args}")
    outs = ", ".join(name(v) for v in graph.outputs)
    lines.append(f"  in ({outs}{',' if len(graph.outputs) == 1 else ''}) }}")
    return "\n".join(lines)
