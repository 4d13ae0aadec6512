"""BLAS gemm callable from njit code with the full interface NumPy's np.dot hides: offsets into
buffers, leading dimensions, transposes and beta (accumulate into the result), and `matmul`, a
matrix product that hands BLAS its operands in place through the transpose flags and leading
dimensions (a transposed view or a slice of rows costs no copy). Both call the gemm that
kernels.blas_entry binds (NumPy's own BLAS when it can be found); compiled functions using them
cache to disk like np.dot's."""
from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from .blas_entry import SYMBOLS

_CHAR = ir.IntType(8)
_I64 = ir.IntType(64)


@intrinsic
def _xgemm(typingctx, trans_a, trans_b, m, n, k, alpha, a, a_off, lda, b, b_off, ldb, beta, c, c_off, ldc):
    """Column-major BLAS: c = alpha op(a) op(b) + beta c, each matrix starting `*_off` elements
    after the first element of a float array of any layout (the caller gives the leading
    dimensions that address it)."""
    arrays = (a, b, c)
    if not all(isinstance(t, types.Array) for t in arrays):
        return None
    if str(c.dtype) not in SYMBOLS or a.dtype != c.dtype or b.dtype != c.dtype:
        return None
    sig = types.void(trans_a, trans_b, m, n, k, alpha, a, a_off, lda, b, b_off, ldb, beta, c, c_off, ldc)

    def codegen(context, builder, signature, args):
        tys = signature.args
        value_type = context.get_value_type(c.dtype)

        def ref(value):  # (reference BLAS takes every argument by address)
            return cgutils.alloca_once_value(builder, value)

        def size(i):
            return ref(context.cast(builder, args[i], tys[i], types.int64))

        def flag(i):
            yes = builder.icmp_signed("!=", context.cast(builder, args[i], tys[i], types.int64), ir.Constant(_I64, 0))
            return ref(builder.select(yes, ir.Constant(_CHAR, ord("T")), ir.Constant(_CHAR, ord("N"))))

        def pointer(i, off):
            data = context.make_array(tys[i])(context, builder, args[i]).data
            return builder.gep(data, [context.cast(builder, args[off], tys[off], types.intp)])

        def scalar(i):
            return ref(context.cast(builder, args[i], tys[i], c.dtype))

        ptr, i64p = value_type.as_pointer(), _I64.as_pointer()
        fnty = ir.FunctionType(ir.VoidType(), [_CHAR.as_pointer()] * 2 + [i64p] * 3 + [ptr, ptr, i64p, ptr, i64p,
                                                                                         ptr, ptr, i64p])
        fn = cgutils.get_or_insert_function(builder.module, fnty, SYMBOLS[str(c.dtype)])
        builder.call(fn, (flag(0), flag(1), size(2), size(3), size(4), scalar(5), pointer(6, 7), size(8),
                          pointer(9, 10), size(11), scalar(12), pointer(13, 14), size(15)))
        return context.get_dummy_value()

    return sig, codegen


@numba.njit(cache=True)
def gemm(trans_a, trans_b, m, n, k, a, a_off, lda, b, b_off, ldb, beta, c, c_off, ldc):
    """Row-major c[m, n] = op(a)[m, k] @ op(b)[k, n] + beta * c on flat C-contiguous buffers: each
    matrix starts at its offset, rows `ld*` elements apart; op transposes when `trans_*`.
    Empty products (k == 0) scale c by beta as BLAS would not be asked to."""
    if m == 0 or n == 0:
        return
    if k == 0:
        for i in range(m):
            for j in range(n):
                c[c_off + i * ldc + j] = c[c_off + i * ldc + j] * beta if beta != 0.0 else 0.0
        return
    # Row-major C is column-major C^T = op(b)^T op(a)^T: swap the operands, keep the flags.
    _xgemm(trans_b, trans_a, n, m, k, 1.0, b, b_off, ldb, a, a_off, lda, beta, c, c_off, ldc)


@numba.njit(cache=True, inline="always")
def in_place_layout(x):
    """(transposed, leading dimension) that let row-major BLAS read matrix `x` where it lies:
    (0, row stride) for rows of contiguous elements, (1, column stride) for contiguous columns
    (a transposed view), in elements; (-1, 0) when neither holds (a copy is needed).

    >>> x = np.zeros((4, 6))
    >>> in_place_layout(x), in_place_layout(x.T), in_place_layout(x[:, :3]), in_place_layout(x[::-1])
    ((0, 6), (1, 6), (0, 6), (-1, 0))
    """
    rows, cols = x.shape
    size = x.itemsize
    s0, s1 = x.strides
    if (cols == 1 or s1 == size) and (rows == 1 or (s0 % size == 0 and s0 >= cols * size)):
        return 0, s0 // size if rows > 1 else cols
    if (rows == 1 or s0 == size) and (cols == 1 or (s1 % size == 0 and s1 >= rows * size)):
        return 1, s1 // size if cols > 1 else rows
    return -1, 0


@numba.njit(cache=True, inline="always")
def computes_transpose(m, n, k, ta, tb):
    """Whether a product out[m, n] = a @ b is faster computed as out^T = b^T a^T (then copied into
    out): for a layer's x @ W.T (rows of x and W contiguous) with few rows, a long inner dimension
    and more columns than rows. Measured with OpenBLAS 0.3.31 (Haswell kernels, 1 thread): x[16,
    1000] @ W.T[1000, 100] 57 -> 50 us, [8, 2048] @ [2048, 512] 414 -> 306 us, [1, 1000] @ [1000,
    100] 34 -> 24 us; [4, 1000] @ [1000, 256] and [32, 512] @ [512, 4096] the same; 128 rows or
    inner dimensions of 64 and 100 were slower, so they are left alone.

    >>> computes_transpose(16, 100, 1000, 0, 1), computes_transpose(128, 256, 512, 0, 1)
    (True, False)
    """
    return ta == 0 and tb == 1 and m <= 32 and m < n and k >= 512


@numba.njit(cache=True, inline="always")
def _gemm_into(a, ta, lda, b, tb, ldb, out):
    m, n = out.shape
    k = a.shape[1]
    if m == 0 or n == 0:
        return
    # (Element loops, not out[...] = ...: Numba's array assignment compiles its shape-mismatch message,
    # string formatting included, ~5 s of a cold first call.)
    if k == 0:
        for i in range(m):
            for j in range(n):
                out[i, j] = 0
        return
    if computes_transpose(m, n, k, ta, tb):  # (out^T = b^T a^T: each operand read with the other flag)
        tmp = np.empty((n, m), out.dtype)
        _xgemm(1 - ta, 1 - tb, m, n, k, 1.0, a, 0, lda, b, 0, ldb, 0.0, tmp, 0, m)
        for i in range(m):
            for j in range(n):
                out[i, j] = tmp[j, i]
        return
    _xgemm(tb, ta, n, m, k, 1.0, b, 0, ldb, a, 0, lda, 0.0, out, 0, n)


def product_into(a, b, out):
    """out[...] = a @ b (matrices of one float dtype; out C-contiguous, of the product's shape).
    Compiled: the overload below; this body runs where generated code runs as Python."""
    if a.shape[1] != b.shape[0] or out.shape != (a.shape[0], b.shape[1]):
        raise ValueError("matmul: shapes are not aligned")
    np.matmul(a, b, out=out)


def matrices(*tys) -> bool:
    """Whether these Numba types are all 2-D arrays (what the compiled products take)."""
    return all(isinstance(t, types.Array) and t.ndim == 2 for t in tys)


@numba.njit(cache=True, inline="always")
def check_aligned(a, b, out):
    """Raise unless out[m, n] = a[m, k] @ b[k, n] has matching shapes."""
    if a.shape[1] != b.shape[0] or out.shape[0] != a.shape[0] or out.shape[1] != b.shape[1]:
        raise ValueError("matmul: shapes are not aligned")


@overload(product_into)
def _product_into_overload(a, b, out):
    if not matrices(a, b, out):
        return None

    def impl(a, b, out):
        check_aligned(a, b, out)
        ta, lda = in_place_layout(a)
        tb, ldb = in_place_layout(b)
        # One call site, operands copied only where BLAS cannot read them in place (each call site of
        # the inlined gemm is compiled code of its own: a cold first call pays for every one).
        a_read = a if ta >= 0 else np.ascontiguousarray(a)
        b_read = b if tb >= 0 else np.ascontiguousarray(b)
        if ta < 0:
            ta, lda = 0, max(a.shape[1], 1)
        if tb < 0:
            tb, ldb = 0, max(b.shape[1], 1)
        _gemm_into(a_read, ta, lda, b_read, tb, ldb, out)
    return impl


@numba.njit(cache=True)
def matmul(a, b):
    """a @ b for float32 or float64 matrices of any layout, as a new C-contiguous matrix.

    >>> matmul(np.ones((2, 3)), np.arange(6.0).reshape(2, 3).T)
    array([[ 3., 12.],
           [ 3., 12.]])
    """
    out = np.empty((a.shape[0], b.shape[1]), a.dtype)
    product_into(a, b, out)
    return out


@numba.njit(cache=True)
def matmul_into(a, b, out):
    """out[...] = a @ b for float32 or float64 matrices (out C-contiguous, of the product's shape).

    >>> out = np.empty((1, 1)); matmul_into(np.ones((1, 2)), np.ones((2, 1)), out); out
    array([[2.]])
    """
    product_into(a, b, out)
