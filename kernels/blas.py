"""BLAS gemm callable from njit code with the full interface NumPy's np.dot hides: offsets into
flat buffers, leading dimensions, transposes and beta (accumulate into the result). It calls
the same entry point as Numba's own np.dot (``numba_xxgemm`` of Numba's helper library, which
loads SciPy's BLAS on first use), so compiled functions using it cache to disk like np.dot's."""
from __future__ import annotations

import numba
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

_KIND = {"float32": "s", "float64": "d"}
_CHAR = ir.IntType(8)
_VOIDP = ir.IntType(8).as_pointer()


@intrinsic
def _xgemm(typingctx, trans_a, trans_b, m, n, k, alpha, a, a_off, lda, b, b_off, ldb, beta, c, c_off, ldc):
    """Column-major BLAS: c = alpha op(a) op(b) + beta c, each matrix starting `*_off` elements
    into a C-contiguous float array (Numba's BLAS loader raises if SciPy is missing)."""
    arrays = (a, b, c)
    if not all(isinstance(t, types.Array) and t.layout == "C" for t in arrays):
        return None
    if str(c.dtype) not in _KIND or a.dtype != c.dtype or b.dtype != c.dtype:
        return None
    sig = types.void(trans_a, trans_b, m, n, k, alpha, a, a_off, lda, b, b_off, ldb, beta, c, c_off, ldc)

    def codegen(context, builder, signature, args):
        from numba.np.linalg import ensure_blas  # noqa: PLC0415 - Numba's own check that BLAS is there
        ensure_blas()
        tys = signature.args
        intp = context.get_value_type(types.intp)

        def as_intp(i):
            return context.cast(builder, args[i], tys[i], types.intp)

        def flag(i):
            yes = builder.icmp_signed("!=", as_intp(i), ir.Constant(intp, 0))
            return builder.select(yes, ir.Constant(_CHAR, ord("t")), ir.Constant(_CHAR, ord("n")))

        def pointer(i, off):
            data = context.make_array(tys[i])(context, builder, args[i]).data
            return builder.bitcast(builder.gep(data, [as_intp(off)]), _VOIDP)

        def scalar(i):
            value = context.cast(builder, args[i], tys[i], c.dtype)
            return builder.bitcast(cgutils.alloca_once_value(builder, value), _VOIDP)

        fnty = ir.FunctionType(ir.IntType(32), [_CHAR, _CHAR, _CHAR, intp, intp, intp, _VOIDP, _VOIDP, intp,
                                                _VOIDP, intp, _VOIDP, _VOIDP, intp])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "numba_xxgemm")
        builder.call(fn, (ir.Constant(_CHAR, ord(_KIND[str(c.dtype)])), flag(0), flag(1), as_intp(2), as_intp(3),
                          as_intp(4), scalar(5), pointer(6, 7), as_intp(8), pointer(9, 10), as_intp(11), scalar(12),
                          pointer(13, 14), as_intp(15)))
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
