"""The pieces of a long loop (kernels.chain_pieces) called through bound symbols, not linked in.

Why: Numba links the machine code of every jitted function a function calls into it and LLVM
optimises and compiles the whole again. A piece shared by 80 call sites is linked once, but
its IR was still optimised and compiled twice: of the 1000-step `z = z / x * y` loop's ~14 s
cold compile, ~10 s went to the calling function, ~5 s of it re-optimising the linked pieces.

How (as kernels.blas_call does for matrix products): the generated module registers each piece
(`piece`: its dispatcher, its symbol ``jitgrad_piece_<hash>`` and its argument kinds) and gets
back the function its caller calls; compiled, that call is a call of the symbol with the scratch
buffers' and row table's data pointers and the scalar inputs. The symbol is bound (``llvmlite.binding.add_symbol``) to
the piece's compiled C entry when a call is typed, and before cached machine code that calls it
is loaded (kernels.cache). Symbols are named by the piece's text and argument kinds, so cached
callers stay valid across processes.
"""
from __future__ import annotations

import inspect
import threading

import numpy as np
from llvmlite import binding, ir
from numba import types
from numba.core import cgutils
from numba.core.imputils import lower_builtin
from numba.core.typing.templates import AbstractTemplate, infer_global
from numba.core.typing.templates import signature as nb_signature

_registered: dict[str, tuple] = {}  # symbol -> (piece function, argument kinds)
_bound: dict[str, object] = {}  # symbol -> the compiled overload its address points into (kept alive)
_lock = threading.RLock()


def signature(kinds: tuple[str, ...]) -> tuple:
    """The Numba argument types of `kinds` (see `piece`)."""
    return tuple(types.CPointer(getattr(types, k[:-1])) if k.endswith("*") else getattr(types, k) for k in kinds)


def bind(symbols) -> None:
    """Bind each of `symbols` (registered) to its piece's compiled C entry: compiled, or loaded
    from the disk cache, on first need in a process."""
    with _lock:
        for symbol in symbols:
            if symbol in _bound:
                continue
            fn, kinds = _registered[symbol]
            _bound[symbol], address = _compiled(fn, symbol, kinds)
            binding.add_symbol(symbol, address)


#: Pieces of plain float arithmetic are compiled straight to LLVM IR (kernels.piece_ir), the
#: rest through Numba; both give the symbol the same C signature.
PIECES_AS_IR = True


def _compiled(fn, symbol: str, kinds: tuple[str, ...]) -> tuple[object, int]:
    """(what keeps the code alive, the address of the piece's C entry)."""
    if PIECES_AS_IR:
        from . import piece_ir
        try:
            return piece_ir.compile_piece(inspect.getsource(fn.py_func), symbol, kinds, _cache_dir())
        except (piece_ir.UnsupportedPieceError, OSError, TypeError):  # (or no source file: compiled in memory)
            pass
    sig = signature(kinds)
    fn.compile(sig)
    result = fn.overloads[sig]
    return result, result.library.get_pointer_to_function(result.fndesc.llvm_cfunc_wrapper_name)


def _cache_dir():
    """The directory pieces compiled to IR keep their object code in (None: not usable)."""
    from .cache_files import cache_dir
    try:
        return cache_dir()
    except OSError:
        return None


def piece(fn, symbol: str, kinds: tuple[str, ...]):
    """Register a generated piece and return the function that calls it (generated code calls it
    with the scratch buffers, the row table and the piece's start in it, and the scalar inputs).
    `kinds` names the piece's arguments' types ("float32*": a pointer to a scratch buffer's data,
    "int64*": to the row table, "float64": a scalar). Compiled code calls the bound symbol in
    place (a typing template and a lowering of its own: no function compiled per piece); as
    Python, the piece's Python function runs on flat views of the buffers (it indexes them flat,
    as it does their pointers)."""
    _registered.setdefault(symbol, (fn, kinds))
    table = kinds.index("int64*")  # (called with the whole table and the piece's start in it)

    def call(*args) -> None:
        py_func = getattr(fn, "py_func", fn)
        args = list(args)
        args[table:table + 2] = [args[table][args[table + 1]:]]
        py_func(*(a.reshape(-1) if isinstance(a, np.ndarray) else a for a in args))

    call.__name__ = call.__qualname__ = f"call_{symbol}"

    class _Typing(AbstractTemplate):
        key = call

        def generic(self, args, kws):
            if kws or len(args) != len(kinds) + 1 or not isinstance(args[table], types.Array):
                return None
            bind([symbol])
            return nb_signature(types.none, *(types.unliteral(a) for a in args))

    infer_global(call, types.Function(_Typing))

    @lower_builtin(call, types.VarArg(types.Any))
    def _lower(context, builder, sig, llargs):
        values = [builder.extract_value(value, context.data_model_manager[ty].get_field_position("data"))
                  if isinstance(ty, types.Array) else value for ty, value in zip(sig.args, llargs)]
        values[table:table + 2] = [builder.gep(values[table], [values[table + 1]])]  # (the piece's row offsets)
        fnty = ir.FunctionType(ir.VoidType(), [v.type for v in values])
        builder.call(cgutils.get_or_insert_function(builder.module, fnty, symbol), values)
        return context.get_dummy_value()

    return call
