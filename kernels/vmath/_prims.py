"""Primitives shared by the vmath kernels: bit casts, fused multiply-add, Horner.

Each primitive is a plain Python function (so the CUDA simulator and ``py_func``
callers can run it) with a Numba ``overload`` for compiled targets (CPU and CUDA),
lowering to a single LLVM instruction: ``bitcast`` or ``llvm.fma``.
"""
import decimal
import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

F32 = np.float32
F64 = np.float64
I32 = np.int32
I64 = np.int64

#: Constants to 60 digits (split into float parts by `split`), shared by both precisions.
LN2 = '0.693147180559945309417232121458176568075500134360255254120680'
LOG2E = '1.442695040888963407359924681001892137426645954152985934135449'
PIO2 = '1.570796326794896619231321691639751442098584699687552910487472'

#: Options for every kernel: allow FMA contraction only (NaN/inf/-0 stay IEEE),
#: and no ZeroDivisionError checks (a branch that would block vectorisation).
JIT_OPTIONS = {'fastmath': {'contract'}, 'error_model': 'numpy'}

#: (no C-callable wrapper: the kernels are called from Numba code or Python, never through a
#: C function pointer, and the wrapper is compiled with every function)
kernel = njit(**JIT_OPTIONS, no_cfunc_wrapper=True)

#: For functions too big for LLVM's inliner (pow): Numba-IR inlining into callers.
kernel_inline = njit(**JIT_OPTIONS, inline='always', no_cfunc_wrapper=True)


def _bitcast_intrinsic(src, dst, llty):
    """Build an intrinsic reinterpreting the bits of a ``src`` value as ``dst``."""

    @intrinsic
    def cast(typingctx, x):
        """Reinterpret the bits of x."""
        if x != src:
            return None

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], llty)

        return dst(src), codegen

    return cast


_f32_as_i32 = _bitcast_intrinsic(types.float32, types.int32, ir.IntType(32))
_i32_as_f32 = _bitcast_intrinsic(types.int32, types.float32, ir.FloatType())
_f64_as_i64 = _bitcast_intrinsic(types.float64, types.int64, ir.IntType(64))
_i64_as_f64 = _bitcast_intrinsic(types.int64, types.float64, ir.DoubleType())


def f32_bits(x):
    """Bits of a float32 as int32 (Python fallback for the simulator)."""
    return np.float32(x).view(np.int32)


def f32_from_bits(i):
    """float32 with the given int32 bit pattern (Python fallback)."""
    return np.int32(i).view(np.float32)


def f64_bits(x):
    """Bits of a float64 as int64 (Python fallback)."""
    return np.float64(x).view(np.int64)


def f64_from_bits(i):
    """float64 with the given int64 bit pattern (Python fallback)."""
    return np.int64(i).view(np.float64)


@overload(f32_bits, target='generic')
def _ov_f32_bits(x):
    """Compiled f32_bits: one bitcast."""
    return lambda x: _f32_as_i32(np.float32(x))


@overload(f32_from_bits, target='generic')
def _ov_f32_from_bits(i):
    """Compiled f32_from_bits: one bitcast."""
    return lambda i: _i32_as_f32(np.int32(i))


@overload(f64_bits, target='generic')
def _ov_f64_bits(x):
    """Compiled f64_bits: one bitcast."""
    return lambda x: _f64_as_i64(np.float64(x))


@overload(f64_from_bits, target='generic')
def _ov_f64_from_bits(i):
    """Compiled f64_from_bits: one bitcast."""
    return lambda i: _i64_as_f64(np.int64(i))


def _wrap32(v: int):
    """Python int wrapped to a two's-complement int32."""
    return np.int32(((int(v) + (1 << 31)) % (1 << 32)) - (1 << 31))


def i32_add(a, b):
    """a + b in int32 with wrap-around (Python fallback)."""
    return _wrap32(int(a) + int(b))


def i32_and(a, b):
    """Bitwise a & b of int32 values (Python fallback)."""
    return _wrap32(int(a) & int(b))


def i32_sar(a, n):
    """Arithmetic shift right of an int32 (Python fallback)."""
    return _wrap32(int(a) >> int(n))


def i32_shl(a, n):
    """Shift left of an int32, wrapping (Python fallback)."""
    return _wrap32(int(a) << int(n))


def _i32_binop(op):
    """Intrinsic applying an LLVM i32 instruction, so Numba does not widen to int64.

    Numba types int32 + int32 as int64; on vectors that costs sign extensions,
    two half-width operations and packing back (about a dozen extra instructions).
    """

    @intrinsic
    def binop(typingctx, a, b):
        """One i32 instruction."""
        if not (isinstance(a, types.Integer) and isinstance(b, types.Integer)):
            return None

        def codegen(context, builder, signature, args):
            i32 = ir.IntType(32)
            x, y = (context.cast(builder, v, t, types.int32)
                    for v, t in zip(args, signature.args, strict=True))
            assert x.type == i32
            return getattr(builder, op)(x, y)

        return types.int32(a, b), codegen

    return binop


_i32_add = _i32_binop('add')
_i32_and = _i32_binop('and_')
_i32_sar = _i32_binop('ashr')
_i32_shl = _i32_binop('shl')


@overload(i32_add, target='generic')
def _ov_i32_add(a, b):
    """Compiled i32_add: one i32 add."""
    return lambda a, b: _i32_add(a, b)


@overload(i32_and, target='generic')
def _ov_i32_and(a, b):
    """Compiled i32_and: one i32 and."""
    return lambda a, b: _i32_and(a, b)


@overload(i32_sar, target='generic')
def _ov_i32_sar(a, n):
    """Compiled i32_sar: one i32 ashr."""
    return lambda a, n: _i32_sar(a, n)


@overload(i32_shl, target='generic')
def _ov_i32_shl(a, n):
    """Compiled i32_shl: one i32 shl."""
    return lambda a, n: _i32_shl(a, n)


def _two_prod(a: float, b: float):
    """Exact a*b as a float pair (Dekker split; Python floats)."""
    p = a * b
    s = 134217729.0
    ah = a * s - (a * s - a)
    bh = b * s - (b * s - b)
    al, bl = a - ah, b - bh
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def fma(a, b, c):
    """a*b + c with a single rounding (Python fallback; exact via fsum)."""
    if isinstance(a, np.float32):
        p, c = float(a) * float(b), float(c)
        return np.float32(math.fsum((p, c)) if math.isfinite(p + c) else p + c)
    a, b, c = float(a), float(b), float(c)
    if not (math.isfinite(a) and math.isfinite(b) and math.isfinite(c)):
        return np.float64(a * b + c)
    p, e = _two_prod(a, b)
    if not math.isfinite(p) or abs(p) > 1e300:
        return np.float64(a * b + c)
    return np.float64(math.fsum((p, e, c)))


@intrinsic
def _llvm_fma(typingctx, a, b, c):
    """llvm.fma on three floats of one type."""
    if not (isinstance(a, types.Float) and a == b == c):
        return None

    def codegen(context, builder, signature, args):
        ty = args[0].type
        fnty = ir.FunctionType(ty, [ty, ty, ty])
        fn = builder.module.declare_intrinsic('llvm.fma', [ty], fnty)
        return builder.call(fn, args)

    return a(a, a, a), codegen


@overload(fma, target='generic')
def _ov_fma(a, b, c):
    """Compiled fma: the llvm.fma intrinsic (one vfmadd on x86 with FMA)."""
    if isinstance(a, types.Float) and a == b == c:
        return lambda a, b, c: _llvm_fma(a, b, c)


@kernel
def horner(z, c):
    """Evaluate sum c[i] z**i by Horner's rule with FMAs (unrolled by LLVM)."""
    p = c[len(c) - 1]
    for i in range(len(c) - 2, -1, -1):
        p = fma(p, z, c[i])
    return p


@kernel
def horner2(z, first, c1, c2):
    """Horner with per-lane coefficients: c1 where ``first`` else c2 (blends)."""
    p = c1[len(c1) - 1] if first else c2[len(c2) - 1]
    for i in range(len(c1) - 2, -1, -1):
        p = fma(p, z, c1[i] if first else c2[i])
    return p


@kernel
def horner4(z, b1, b2, b3, c1, c2, c3, c4):
    """Horner selecting c1/c2/c3/c4 per lane by the first true of b1, b2, b3."""
    n = len(c1) - 1
    p = c1[n] if b1 else (c2[n] if b2 else (c3[n] if b3 else c4[n]))
    for i in range(n - 1, -1, -1):
        p = fma(p, z, c1[i] if b1 else (c2[i] if b2 else (c3[i] if b3 else c4[i])))
    return p


def as_f32(values):
    """Tuple of float32 constants."""
    return tuple(F32(v) for v in values)


def as_f64(values):
    """Tuple of float64 constants."""
    return tuple(F64(v) for v in values)


def split(digits: str, dtype, parts: int, bits: int = 0):
    """Split a decimal constant into ``parts`` dtype values summing to it.

    With ``bits`` > 0 the leading part keeps only that many significant bits, so
    that its product with a small integer is exact without an FMA.
    """
    out = []
    with decimal.localcontext() as ctx:
        ctx.prec = 60
        rest = decimal.Decimal(digits)
        for i in range(parts):
            v = float(rest)
            if i == 0 and bits:
                m, e = math.frexp(v)
                v = math.ldexp(math.floor(m * 2.0**bits), e - bits)
            v = dtype(v)
            out.append(v)
            rest -= decimal.Decimal(float(v))
    return tuple(out)
