"""Which BLAS library compiled kernels call for sgemm / dgemm: NumPy's own when its 64-bit-integer
entry points can be found, else the one Numba's np.dot calls (SciPy's).

Why: NumPy wheels bundle their own OpenBLAS (``scipy_openblas64_``), and Numba's np.dot calls the
one SciPy bundles, often an older release. On the same core they differ a lot for the skinny
products of training steps: sgemm 100x16x1000 ('tn') ran in 59 us with NumPy's OpenBLAS 0.3.31 and
100 us with SciPy's 0.3.30 (1 thread, Haswell kernels), and no shape measured was slower. Calling
NumPy's makes a compiled matmul as fast as the eager one (which runs on NumPy) and gives both modes
the same library.

How: generated code calls the symbols ``jitgrad_sgemm`` / ``jitgrad_dgemm`` (kernels.blas), which
take the reference-BLAS (Fortran) arguments with 64-bit integers. At import this module binds
them for LLVM (``llvmlite.binding.add_symbol``), before any cached kernel that calls them is
loaded: to NumPy's functions when found (looked up through the dependencies of NumPy's extension
module, so wherever the wheel keeps the library), else to small compiled adapters that forward to
``numba_xxgemm``, the entry point of Numba's own np.dot. The symbol names never change, so a kernel
cached on disk loads whichever library is bound. ``JITGRAD_BLAS=numba`` chooses the adapters.
"""
from __future__ import annotations

import ctypes
import os

import numba
from llvmlite import binding, ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

#: The symbol generated code calls for each dtype's gemm (see module docstring).
SYMBOLS = {"float32": "jitgrad_sgemm", "float64": "jitgrad_dgemm"}

# NumPy's 64-bit-integer (ILP64) gemm, by the names its wheels have used ({} = 's' or 'd').
_NUMPY_NAMES = ("scipy_{}gemm_64_", "{}gemm_64_")

_CHAR = ir.IntType(8)
_VOIDP = ir.IntType(8).as_pointer()


def numpy_gemm() -> dict | None:
    """{'float32': address, 'float64': address} of NumPy's ILP64 sgemm and dgemm, or None when
    this NumPy has none that can be found (another BLAS, or a platform whose loader does not search
    a library's dependencies).

    >>> found = numpy_gemm()
    >>> found is None or sorted(found) == ["float32", "float64"]
    True
    """
    try:
        from numpy._core import _multiarray_umath as module
    except ImportError:  # (NumPy 1.x)
        try:
            from numpy.core import _multiarray_umath as module
        except ImportError:
            return None
    try:
        lib = ctypes.CDLL(module.__file__)
    except OSError:
        return None
    for name in _NUMPY_NAMES:
        found = {}
        for dtype, kind in (("float32", "s"), ("float64", "d")):
            fn = getattr(lib, name.format(kind), None)
            if fn is not None:
                found[dtype] = ctypes.cast(fn, ctypes.c_void_p).value
        if len(found) == 2:
            return found
    return None


@intrinsic
def _numba_xxgemm(typingctx, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """numba_xxgemm (Numba's np.dot entry point, values not references) called with the arguments
    of a reference-BLAS gemm (pointers to the flags, sizes and scalars)."""
    scalar = alpha
    if not (isinstance(scalar, types.CPointer) and str(scalar.dtype) in SYMBOLS):
        return None
    kind = "s" if str(scalar.dtype) == "float32" else "d"
    sig = types.void(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)

    def codegen(context, builder, signature, args):
        from numba.np.linalg import ensure_blas  # noqa: PLC0415 - Numba's own check that BLAS is there
        ensure_blas()
        intp = context.get_value_type(types.intp)
        ta_, tb_, m_, n_, k_, alpha_, a_, lda_, b_, ldb_, beta_, c_, ldc_ = args

        def size(ptr):
            return builder.sext(builder.load(ptr), intp) if ptr.type.pointee.width < intp.width \
                else builder.load(ptr)

        def void(ptr):
            return builder.bitcast(ptr, _VOIDP)

        fnty = ir.FunctionType(ir.IntType(32), [_CHAR, _CHAR, _CHAR, intp, intp, intp, _VOIDP, _VOIDP, intp,
                                                _VOIDP, intp, _VOIDP, _VOIDP, intp])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "numba_xxgemm")
        builder.call(fn, (ir.Constant(_CHAR, ord(kind)), builder.load(ta_), builder.load(tb_), size(m_), size(n_),
                          size(k_), void(alpha_), void(a_), size(lda_), void(b_), size(ldb_), void(beta_), void(c_),
                          size(ldc_)))
        return context.get_dummy_value()

    return sig, codegen


def _adapter(dtype: str):
    """A C function with the ILP64 reference-BLAS gemm signature that forwards to numba_xxgemm."""
    f, i, ch = types.CPointer(getattr(types, dtype)), types.CPointer(types.int64), types.CPointer(types.int8)

    def gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
        _numba_xxgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    return numba.cfunc(types.void(ch, ch, i, i, i, f, f, i, f, i, f, f, i), cache=True)(gemm)


def _bind() -> str:
    """Bind SYMBOLS (see module docstring); the name of the library bound: 'numpy' or 'numba'."""
    found = None if os.environ.get("JITGRAD_BLAS", "").lower() == "numba" else numpy_gemm()
    if found is None:
        _ADAPTERS.extend(_adapter(dtype) for dtype in SYMBOLS)  # (kept alive: LLVM holds their address)
        found = {dtype: cfunc.address for dtype, cfunc in zip(SYMBOLS, _ADAPTERS)}
    for dtype, symbol in SYMBOLS.items():
        binding.add_symbol(symbol, found[dtype])
    return "numba" if _ADAPTERS else "numpy"


_ADAPTERS: list = []

#: The library SYMBOLS call: 'numpy' (NumPy's bundled BLAS) or 'numba' (Numba's np.dot's).
LIBRARY = _bind()
