"""Matrix products that compiled code calls through a bound symbol instead of linking them in.

Why: Numba links the machine code of every jitted function a kernel calls into the kernel and
LLVM optimises the whole again, once per kernel. The product (layout checks, transposes, copies
of operands BLAS cannot read in place, the gemm call) cost ~0.5 s of each matmul kernel's cold
compile that way: a 3-D @ 2-D kernel with a column-major weight took 0.70 s, against 0.11 s for
the same kernel calling gemm directly (TRF's training step compiles ~20 such kernels).

How: `product_into` (the compiled matrix product, kernels.blas.product_into's contract) passes
each operand's data pointer, shape and byte strides to the C symbol ``jitgrad_product_f32`` /
``jitgrad_product_f64``: a function compiled once per process (or loaded from the disk cache)
that views them as arrays again and runs kernels.blas.product_into. `ensure_bound` binds the
symbols (``llvmlite.binding.add_symbol``) on first use: when a kernel that calls them is typed,
and before machine code that calls them is loaded from the disk cache (kernels.cache binds them
for generated modules that call lib.matmul2d and library.matmul2d's own cache). The names never
change, so cached kernels stay valid across processes.
"""
from __future__ import annotations

import numba
import numpy as np
from llvmlite import binding, ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from . import blas

#: The symbol compiled code calls for each dtype's product (see module docstring).
SYMBOLS = {"float32": "jitgrad_product_f32", "float64": "jitgrad_product_f64"}
#: The comment line by which a generated module names the dtypes of the products it calls
#: (kernels.source writes it, kernels.cache binds those products before loading its machine code).
PRODUCTS_MARKER = "# bound products: "

_I64 = ir.IntType(64)


@numba.njit(cache=True, inline="always")
def _view(pointer, rows, cols, stride0, stride1, itemsize):
    """The (rows, cols) matrix at `pointer` with these byte strides (of any sign)."""
    extent = 0 if rows == 0 or cols == 0 else 1 + ((rows - 1) * abs(stride0) + (cols - 1) * abs(stride1)) // itemsize
    return np.lib.stride_tricks.as_strided(numba.carray(pointer, extent), shape=(rows, cols),
                                           strides=(stride0, stride1))


@numba.njit(cache=True)
def _product_at(a, m, k, a0, a1, b, n, b0, b1, out):
    """out[m, n] = a[m, k] @ b[k, n] (the operands by pointer and byte strides, out C-contiguous)."""
    result = numba.carray(out, (m, n))
    size = result.itemsize
    blas.product_into(_view(a, m, k, a0, a1, size), _view(b, k, n, b0, b1, size), result)


def _signature(dtype: str) -> tuple:
    p, i = types.CPointer(getattr(types, dtype)), types.int64
    return (p, i, i, i, i, p, i, i, i, p)


_bound: dict = {}  # dtype -> the compiled overload the symbol points into (kept alive)
_binding = False


def ensure_bound(dtype: str | None = None) -> None:
    """Bind the symbol of `dtype` (every one when None) to the compiled product: compiled, or
    loaded from the disk cache, on first need in a process; nothing afterwards."""
    global _binding
    wanted = SYMBOLS if dtype is None else (dtype,)
    if _binding or all(d in _bound for d in wanted):
        return
    _binding = True
    try:
        for d in wanted:
            if d not in _bound:
                sig = _signature(d)
                _product_at.compile(sig)
                result = _product_at.overloads[sig]
                address = result.library.get_pointer_to_function(result.fndesc.llvm_cfunc_wrapper_name)
                binding.add_symbol(SYMBOLS[d], address)
                _bound[d] = result
    finally:
        _binding = False


@intrinsic
def _call_product(typingctx, a, b, out):
    """The symbol's call with the operands' pointers, shapes and byte strides."""
    if not blas.matrices(a, b, out):
        return None
    if str(out.dtype) not in SYMBOLS or a.dtype != out.dtype or b.dtype != out.dtype:
        return None
    ensure_bound(str(out.dtype))

    def codegen(context, builder, signature, args):
        parts = []
        for ty, value in zip(signature.args, args):
            array = context.make_array(ty)(context, builder, value)
            parts.append((array.data, cgutils.unpack_tuple(builder, array.shape, 2),
                          cgutils.unpack_tuple(builder, array.strides, 2)))
        (pa, (m, k), (a0, a1)), (pb, (_, n), (b0, b1)), (po, _, _) = parts
        ptr = pa.type
        fnty = ir.FunctionType(ir.VoidType(), [ptr, _I64, _I64, _I64, _I64, ptr, _I64, _I64, _I64, ptr])
        fn = cgutils.get_or_insert_function(builder.module, fnty, SYMBOLS[str(out.dtype)])
        builder.call(fn, (pa, m, k, a0, a1, pb, n, b0, b1, po))
        return context.get_dummy_value()

    return types.void(a, b, out), codegen


def product_into(a, b, out):
    """out[...] = a @ b (matrices of one float dtype; out C-contiguous, of the product's shape).
    Compiled: the overload below; this body runs where generated code runs as Python."""
    blas.product_into(a, b, out)


@overload(product_into)
def _product_into_overload(a, b, out):
    if not blas.matrices(a, b, out):
        return None

    def impl(a, b, out):
        blas.check_aligned(a, b, out)
        _call_product(a, b, out)
    return impl
