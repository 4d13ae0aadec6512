"""The pieces of a long loop (kernels.chain_pieces) that are plain float arithmetic, compiled
straight to LLVM IR instead of through Numba.

Why: Numba spends ~0.45 s typing and lowering one 48-statement piece (every `a / b` is resolved
through its operator templates twice, in typing and in lowering), while LLVM optimises and
compiles the same loop in a few hundredths of a second; the 1000-step `z = z / x * y` loop has
four such pieces. A piece's text is a small, regular Python function (window copies, a lane
loop of loads, arithmetic and stores), so it is translated here statement by statement. Only
what this module can translate exactly as Numba would is taken: integer index arithmetic,
loads and stores through the piece's pointers, `+ - * /` and negation of float32 or float64
values of one dtype, `np.float32(...)`/`np.float64(...)` constants and casts, and
`lib.runtime_extent`. Anything else (a math function, a comparison, a bare Python float that
Numba would widen to float64) raises UnsupportedPieceError and the piece compiles through Numba as before.

A piece's loop over its lanes (every access `p[invariant + i]`) is emitted as vector code, one
vector operation per statement: LLVM's loop vectoriser, facing ~50 stores through one pointer,
gave up on its alias checks and left those loops scalar (the 1000-step loop's value and gradient:
40 us per call with scalar pieces, 12 us with vector ones; 20 us as the one huge function that
took 16 s to compile).

The code is built by Numba's own code generator (its optimisation pipeline, target machine and
fast-math flag `contract`, as the Numba-compiled piece has), and kept in the cache directory as
object code keyed by the IR text and the target.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import logging
import pickle
from pathlib import Path

import numpy as np
from llvmlite import ir

log = logging.getLogger("jitgrad.compile")

_FLOATS = {"float32": ir.FloatType(), "float64": ir.DoubleType()}
_POINTEES = {"float32": ir.FloatType(), "float64": ir.DoubleType(), "int64": ir.IntType(64),
             "uint8": ir.IntType(8)}
_I64 = ir.IntType(64)
_FLAGS = ("contract",)  # (the generated code's fastmath={'contract'})
_ELEMENT_BYTES = {"float32": 4, "float64": 8}
#: Lane loops up to this trip count are emitted as vector code (a piece's rows are 8 lanes).
MAX_LANES = 16


class UnsupportedPieceError(Exception):
    """The piece uses something this translator does not take; Numba compiles it."""


class _Function:
    """Translates one piece function's statements into `builder` (values typed by dtype name)."""

    def __init__(self, builder: ir.IRBuilder, params: dict) -> None:
        self.builder = builder
        self.values = dict(params)  # name -> (llvm value, dtype name; pointers as "float32*")
        self.lanes = 0  # inside a lane loop emitted as vector code: its width (see `lane_loop`)
        self.lane = ""  # ... and its index variable

    def statements(self, body: list) -> None:
        for node in body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                self.assign(node.targets[0], node.value)
            elif isinstance(node, ast.For) and not node.orelse:
                self.loop(node)
            else:
                raise UnsupportedPieceError(type(node).__name__)

    def assign(self, target, value) -> None:
        if isinstance(target, ast.Name):
            if target.id in self.values:
                raise UnsupportedPieceError(f"{target.id} assigned twice")  # (SSA only: no loop-carried names)
            self.values[target.id] = self.expr(value)
        elif isinstance(target, ast.Subscript):
            pointer, pointee = self.element(target)
            stored, dtype = self.expr(value)
            if dtype != pointee:
                raise UnsupportedPieceError(f"a {dtype} stored to {pointee}")
            if self.lanes:
                stored = self.vector(stored, dtype)
            self.builder.store(stored, pointer, align=_ELEMENT_BYTES[dtype] if self.lanes else None)
        else:
            raise UnsupportedPieceError(type(target).__name__)

    def loop(self, node: ast.For) -> None:
        call = node.iter
        if not (isinstance(node.target, ast.Name) and isinstance(call, ast.Call) and _dotted(call.func) == "range"
                and len(call.args) == 1 and not call.keywords):
            raise UnsupportedPieceError("a loop that is not over range(n)")
        lanes = self.lane_width(node)
        if lanes:
            self.lane_loop(node, lanes)
            return
        extent, dtype = self.expr(call.args[0])
        if dtype != "int64":
            raise UnsupportedPieceError("a loop extent that is not an integer")
        b = self.builder
        before = b.block
        head, body, done = (b.append_basic_block(n) for n in ("loop", "body", "done"))
        b.branch(head)
        b.position_at_end(head)
        index = b.phi(_I64)
        index.add_incoming(ir.Constant(_I64, 0), before)
        b.cbranch(b.icmp_signed("<", index, extent), body, done)
        b.position_at_end(body)
        outer = self.values
        self.values = dict(outer)
        if node.target.id in outer:
            raise UnsupportedPieceError(f"loop variable {node.target.id} shadows a value")
        self.values[node.target.id] = (index, "int64")
        self.statements(node.body)
        self.values = outer
        index.add_incoming(b.add(index, ir.Constant(_I64, 1)), b.block)
        b.branch(head)
        b.position_at_end(done)

    def lane_width(self, node: ast.For) -> int:
        """The trip count of a loop to emit as vector code, or 0. Taken: a loop over a constant
        (or `lib.runtime_extent` of a constant) of at most MAX_LANES whose body is assignments
        that index float pointers only as `p[invariant + i]` and use `i` nowhere else. Its lanes
        are then independent: the rows of a piece are whole vectors apart (kernels.chain_pieces),
        so lane i touches only addresses `invariant + i`. The loop vectoriser would do the same,
        but its alias checks give up on a piece's ~50 stores, and the loop stayed scalar."""
        arg, i = node.iter.args[0], node.target.id
        if isinstance(arg, ast.Call) and _dotted(arg.func) == "lib.runtime_extent" and len(arg.args) == 1:
            arg = arg.args[0]
        if not (isinstance(arg, ast.Constant) and type(arg.value) is int and 2 <= arg.value <= MAX_LANES):
            return 0
        lane_uses = 0
        for stmt in node.body:
            if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1):
                return 0
            for sub in ast.walk(stmt):
                if isinstance(sub, ast.Name) and sub.id == i:
                    lane_uses -= 1
                elif isinstance(sub, ast.Subscript):
                    kind = self.values.get(sub.value.id, (None, ""))[1] if isinstance(sub.value, ast.Name) else ""
                    if kind[:-1] not in _FLOATS or not kind.endswith("*") or _lane_offset(sub.slice, i) is None:
                        return 0
                    lane_uses += 1
        return arg.value if lane_uses == 0 else 0

    def lane_loop(self, node: ast.For, lanes: int) -> None:
        """The loop's body once, on vectors of `lanes` elements (see `lane_width`)."""
        outer = self.values
        self.values, self.lanes, self.lane = dict(outer), lanes, node.target.id
        try:
            self.statements(node.body)
        finally:
            self.values, self.lanes, self.lane = outer, 0, ""

    def element(self, node: ast.Subscript) -> tuple:
        """(pointer to the element, its dtype) of `p[index]` with `p` a pointer parameter; in a
        lane loop, a pointer to the vector of `p[invariant + i]` over the lanes."""
        if not isinstance(node.value, ast.Name) or node.value.id not in self.values:
            raise UnsupportedPieceError("a subscript of something other than a parameter")
        base, kind = self.values[node.value.id]
        if not kind.endswith("*"):
            raise UnsupportedPieceError("a subscript of a scalar")
        index_node = _lane_offset(node.slice, self.lane) if self.lanes else node.slice
        index, dtype = self.expr(index_node)
        if dtype != "int64":
            raise UnsupportedPieceError("a non-integer index")
        pointer = self.builder.gep(base, [index])
        if self.lanes:
            pointer = self.builder.bitcast(pointer, ir.VectorType(_POINTEES[kind[:-1]], self.lanes).as_pointer())
        return pointer, kind[:-1]

    def vector(self, value, dtype: str):
        """`value` as a vector of the lane loop's width (a scalar is broadcast)."""
        if isinstance(value.type, ir.VectorType):
            return value
        vtype = ir.VectorType(_FLOATS[dtype], self.lanes)
        if isinstance(value, ir.Constant):
            return ir.Constant(vtype, [value.constant] * self.lanes)
        b, i32 = self.builder, ir.IntType(32)
        one = b.insert_element(ir.Constant(vtype, ir.Undefined), value, ir.Constant(i32, 0))
        return b.shuffle_vector(one, ir.Constant(vtype, ir.Undefined), ir.Constant(ir.VectorType(i32, self.lanes),
                                                                                   [0] * self.lanes))

    def expr(self, node) -> tuple:
        b = self.builder
        if isinstance(node, ast.Name):
            if node.id not in self.values:
                raise UnsupportedPieceError(f"unknown name {node.id}")
            return self.values[node.id]
        if isinstance(node, ast.Constant):
            if type(node.value) is int:
                return ir.Constant(_I64, node.value), "int64"
            raise UnsupportedPieceError(f"constant {node.value!r}")  # (a bare float is float64 to Numba)
        if isinstance(node, ast.Subscript):
            pointer, dtype = self.element(node)
            if dtype == "uint8":
                raise UnsupportedPieceError("a byte row")
            if self.lanes:
                return b.load(pointer, align=_ELEMENT_BYTES[dtype]), dtype
            return b.load(pointer), dtype
        if isinstance(node, ast.UnaryOp):
            value, dtype = self.expr(node.operand)
            if isinstance(node.op, ast.UAdd):
                return value, dtype
            if isinstance(node.op, ast.USub) and dtype in _FLOATS:
                return b.fneg(value, flags=_FLAGS), dtype
            raise UnsupportedPieceError(type(node.op).__name__)
        if isinstance(node, ast.BinOp):
            return self.binary(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        raise UnsupportedPieceError(type(node).__name__)

    def binary(self, node: ast.BinOp) -> tuple:
        (left, lt), (right, rt) = self.expr(node.left), self.expr(node.right)
        if lt != rt:
            raise UnsupportedPieceError(f"mixed {lt} and {rt}")
        b, op = self.builder, type(node.op)
        if lt == "int64":
            if op in (ast.Add, ast.Sub, ast.Mult):
                return {ast.Add: b.add, ast.Sub: b.sub, ast.Mult: b.mul}[op](left, right), lt
        elif lt in _FLOATS and op in (ast.Add, ast.Sub, ast.Mult, ast.Div):
            emit = {ast.Add: b.fadd, ast.Sub: b.fsub, ast.Mult: b.fmul, ast.Div: b.fdiv}[op]
            if isinstance(left.type, ir.VectorType) != isinstance(right.type, ir.VectorType):
                left, right = self.vector(left, lt), self.vector(right, lt)
            return emit(left, right, flags=_FLAGS), lt
        raise UnsupportedPieceError(f"{op.__name__} of {lt}")

    def call(self, node: ast.Call) -> tuple:
        name = _dotted(node.func)
        if node.keywords or len(node.args) != 1:
            raise UnsupportedPieceError(f"call of {name}")
        arg = node.args[0]
        if name == "lib.runtime_extent":  # (an extent LLVM cannot fold: kernels.extents)
            value, dtype = self.expr(arg)
            if dtype != "int64":
                raise UnsupportedPieceError("runtime_extent of a non-integer")
            return self.builder.asm(ir.FunctionType(_I64, [_I64]), "", "=r,0", [value], side_effect=False), "int64"
        if name in ("np.float32", "np.float64"):
            dtype = name[3:]
            if isinstance(arg, ast.Constant) and type(arg.value) in (int, float):
                return ir.Constant(_FLOATS[dtype], float(getattr(np, dtype)(arg.value))), dtype
            if isinstance(arg, ast.UnaryOp) and isinstance(arg.op, ast.USub) and isinstance(arg.operand, ast.Constant) \
                    and type(arg.operand.value) in (int, float):
                return ir.Constant(_FLOATS[dtype], float(getattr(np, dtype)(-arg.operand.value))), dtype
            value, have = self.expr(arg)
            if have == dtype:
                return value, dtype
            if have in _FLOATS:
                cast = self.builder.fptrunc if dtype == "float32" else self.builder.fpext
                target = _FLOATS[dtype]
                if isinstance(value.type, ir.VectorType):
                    target = ir.VectorType(target, value.type.count)
                return cast(value, target), dtype
        raise UnsupportedPieceError(f"call of {name}")


def _lane_offset(index, lane: str):
    """The invariant part X of a subscript `X + lane` (or `lane + X`) whose X does not use
    `lane`; None for any other subscript."""
    if not (isinstance(index, ast.BinOp) and isinstance(index.op, ast.Add)):
        return None
    for this, other in ((index.right, index.left), (index.left, index.right)):
        if isinstance(this, ast.Name) and this.id == lane \
                and not any(isinstance(n, ast.Name) and n.id == lane for n in ast.walk(other)):
            return other
    return None


def _dotted(node) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return "?"


def _ir_type(kind: str):
    if kind.endswith("*"):
        if kind[:-1] not in _POINTEES:
            raise UnsupportedPieceError(f"a pointer to {kind[:-1]}")
        return _POINTEES[kind[:-1]].as_pointer()
    if kind not in _POINTEES or kind == "uint8":
        raise UnsupportedPieceError(f"a scalar of {kind}")
    return _POINTEES[kind]


def module_ir(source: str, function: str, kinds: tuple[str, ...], module: ir.Module) -> None:
    """Define `function` in `module`: the piece whose Python text is `source` (one def with
    parameters of `kinds`, see kernels.chain_pieces.helper), returning nothing. Raises
    UnsupportedPieceError when the text uses anything this module does not translate."""
    tree = ast.parse(source)
    defs = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    if len(defs) != 1:
        raise UnsupportedPieceError("not one function")
    node = defs[0]
    params = [a.arg for a in node.args.args]
    if len(params) != len(kinds):
        raise UnsupportedPieceError("parameters and kinds differ")
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [_ir_type(k) for k in kinds]), function)
    fn.attributes.add("nounwind")
    builder = ir.IRBuilder(fn.append_basic_block("entry"))
    translator = _Function(builder, {p: (arg, k) for p, arg, k in zip(params, fn.args, kinds)})
    translator.statements(node.body)
    builder.ret_void()


def compile_piece(source: str, symbol: str, kinds: tuple[str, ...], cache_dir) -> tuple[object, int]:
    """(the code library keeping it alive, the address of its entry) of the piece `source`,
    loaded from `cache_dir` (None: no disk cache) or compiled by Numba's code generator.
    Raises UnsupportedPieceError (see the module docstring). The disk entry is named by the
    piece's text, this translator's own source and the target, so a warm load builds no IR."""
    from numba.core.compiler_lock import global_compiler_lock
    from numba.core.registry import cpu_target

    codegen = cpu_target.target_context.codegen()
    function = f"{symbol}_ir"
    key = hashlib.sha256(f"{source}|{kinds}|{_own_digest()}|{codegen.magic_tuple()}".encode()).hexdigest()[:24]
    path = None if cache_dir is None else cache_dir / f"{symbol}_{key}.ir.o"
    with global_compiler_lock:
        if path is not None:
            try:
                library = codegen.unserialize_library(pickle.loads(path.read_bytes()))
                return library, library.get_pointer_to_function(function)
            except FileNotFoundError:
                pass
            except Exception as exc:  # noqa: BLE001 - an unreadable entry is a miss
                log.info("ignored an unreadable piece %s (%s: %s)", path.name, type(exc).__name__, exc)
        module = codegen._create_empty_module(symbol)
        module_ir(source, function, kinds, module)
        library = codegen.create_library(symbol)
        library.enable_object_caching()
        library.add_ir_module(module)
        library.finalize()
        address = library.get_pointer_to_function(function)
        if path is not None:
            from .cache_files import write_atomic_bytes
            try:
                write_atomic_bytes(path, pickle.dumps(library.serialize_using_object_code()))
            except OSError as exc:
                log.info("could not save the piece %s (%s)", path.name, exc)
    return library, address


@functools.lru_cache(maxsize=1)
def _own_digest() -> str:
    """The hash of this module's source: a change to the translation is a new disk entry."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
