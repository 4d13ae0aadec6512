"""Loop extents the compiler cannot see as constants, so short loops vectorise.

LLVM fully unrolls a loop with a small constant trip count (say 16) before its loop vectoriser
runs, and the unrolled copies of a long body (an ``exp``) then stay scalar: a softmax's ``exp``
over rows of 16 measured ~110 us for 32k elements, against ~10 us with the same loop over a
trip count LLVM cannot fold (the vectoriser then keeps the loop and runs it in vector registers).
"""
from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

# Inner loops with a constant extent in [OPAQUE_MIN, OPAQUE_MAX) run over runtime_extent(extent):
# measured on rows of 4..128 float32 (an exp body, a multiply-add body), the opaque extent was
# 2-11x faster from 8 to 64 elements, equal at 128, and slower at 4 for a short body.
OPAQUE_MIN = 8
OPAQUE_MAX = 128


def runtime_extent(n: int) -> int:
    """``n`` itself; compiled, a value LLVM cannot constant-fold (see the module docstring). This
    Python version serves the Python run mode (JITGRAD_CPU_KERNELS=python).

    >>> runtime_extent(16)
    16
    """
    return n


def loop_extent(n: int) -> str:
    """The source text of a generated loop's extent ``n``: ``lib.runtime_extent(n)`` when a
    constant one would be fully unrolled instead of vectorised, else the literal.

    >>> loop_extent(16), loop_extent(4), loop_extent(1024)
    ('lib.runtime_extent(16)', '4', '1024')
    """
    return f"lib.runtime_extent({n})" if OPAQUE_MIN <= n < OPAQUE_MAX else str(n)


def outer_extent(n: int) -> str:
    """The source text of an enclosing loop's extent: opaque too when it is above 1. With constant
    small outer extents LLVM fully unrolls them around the vectorised inner loop, each copy with its
    own run-time overlap checks and remainder: a divide over (32, 4, 16, 16) by (32, 4, 16, 1) grew
    to 12,000 lines of machine code that took 6.9 s to compile and ran in 37 us; with every extent
    opaque it compiles in 0.19 s and runs in 11 us (TRF's training step compiles 54 such kernels).

    >>> outer_extent(4), outer_extent(1)
    ('lib.runtime_extent(4)', '1')
    """
    return f"lib.runtime_extent({n})" if n > 1 else str(n)


@intrinsic
def _opaque(typingctx, n):
    """``n`` passed through an empty inline-assembly statement: its value is unknown to LLVM (no
    side effects, so it is still hoisted out of loops and merged with equal ones)."""
    if not isinstance(n, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        value = context.cast(builder, args[0], signature.args[0], types.int64)
        fnty = ir.FunctionType(ir.IntType(64), [ir.IntType(64)])
        return builder.asm(fnty, "", "=r,0", [value], side_effect=False)

    return types.int64(n), codegen


@overload(runtime_extent)
def _runtime_extent_compiled(n):
    if isinstance(n, types.Integer):
        return lambda n: _opaque(n)
    return None
