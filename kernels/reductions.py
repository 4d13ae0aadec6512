"""THE reduction table of the back ends: per combine rule, the source text of its identity, of one
combining step, and the accumulator dtype. The CPU loop generator (source.py) and the CUDA
reduction generator (cuda/loops.py) both render reductions from these rows only, so a new
reduction is one row here (plus its declaration in jitgrad, which names the row).

A row's step is the text of the new accumulator from the old one and an element value (`value`
may be an expression: a row may repeat it, it has no side effects). `reassociable` steps may call
kernels.library's fast-math helpers (CPU code); CUDA code asks for plain operators."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

_INT_LIMITS = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


def _typed(value, dtype: str) -> str:
    """Source text of a scalar constant of `dtype` (valid in njit and numba.cuda code)."""
    if dtype == "bool":
        return "True" if value else "False"
    if isinstance(value, float) and np.isinf(value):
        return f"np.{dtype}({'-' if value < 0 else ''}np.inf)"
    if isinstance(value, int) and value <= -(1 << 62):  # -2**63 as a literal would type as uint64
        return f"np.{dtype}({value + 1} - 1)"
    return f"np.{dtype}({value})"


def _extreme_identity(sign: int) -> Callable[[str], str]:
    """Identity of max (sign -1: the lowest value) or min (sign +1: the highest) in `dtype`."""
    def identity(dtype: str) -> str:
        if dtype == "bool":
            return "True" if sign > 0 else "False"
        if dtype.startswith("float"):
            return _typed(sign * float("inf"), dtype)
        lo, hi = _INT_LIMITS[dtype]
        return _typed(hi if sign > 0 else lo, dtype)
    return identity


def _extreme_step(cmp: str, helper: str) -> Callable[[str, str, bool], str]:
    # NaN propagates as in NumPy: once acc is NaN no comparison is true; a NaN value wins. CPU code
    # calls the library's helper (LLVM's NaN-propagating maximum/minimum for floats: it vectorises).
    return lambda acc, value, reassociable: (f"lib.{helper}({acc}, {value})" if reassociable else
                                             f"{value} if (({value} {cmp} {acc}) | ({value} != {value})) else {acc}")


def _arith_step(operator: str, helper: str) -> Callable[[str, str, bool], str]:
    return lambda acc, value, reassociable: (f"lib.{helper}({acc}, {value})" if reassociable
                                             else f"{acc} {operator} {value}")


def _skip_nan(step: Callable[[str, str, bool], str], neutral: int) -> Callable[[str, str, bool], str]:
    """`step` on elements that are not NaN (a NaN element counts as the identity)."""
    return lambda acc, value, reassociable: step(acc, f"({value} if {value} == {value} else {neutral})", reassociable)


@dataclass(frozen=True)
class Row:
    """One combine rule: `identity(dtype)` starts (and pads) an accumulator, `step(acc, value,
    reassociable)` is the text of the next accumulator; `widen`: float32 elements accumulate in
    float64 (sums and products: more accurate than NumPy's pairwise summation; a long flat CPU
    sum does so per block of SUM_BLOCK elements, see block_dtype); `nan`: what the
    step does with a NaN element, 'propagate' or 'ignore' (the declarations state theirs)."""

    identity: Callable[[str], str]
    step: Callable[[str, str, bool], str]
    widen: bool
    nan: str = "propagate"


_SUM = _arith_step("+", "reduce_add")
_PROD = _arith_step("*", "reduce_mul")

TABLE: dict[str, Row] = {
    "sum": Row(lambda dt: _typed(0, dt), _SUM, widen=True),
    "prod": Row(lambda dt: _typed(1, dt), _PROD, widen=True),
    "max": Row(_extreme_identity(-1), _extreme_step(">", "reduce_max"), widen=False),
    "min": Row(_extreme_identity(+1), _extreme_step("<", "reduce_min"), widen=False),
    "nansum": Row(lambda dt: _typed(0, dt), _skip_nan(_SUM, 0), widen=True, nan="ignore"),
}


def row(op: str) -> Row:
    found = TABLE.get(op)
    if found is None:
        raise ValueError(f"unsupported reduction {op!r}; kernels.reductions.TABLE has {sorted(TABLE)}")
    return found


def accumulator_dtype(dtype: str, op: str) -> str:
    """The dtype a reduction of `dtype` elements accumulates in (bool elements count as int64)."""
    if dtype == "bool":
        return "int64"
    if dtype == "float32" and row(op).widen:
        return "float64"
    return dtype


#: Elements per block of a blocked float32 sum (see block_dtype).
SUM_BLOCK = 4096


def block_dtype(dtype: str, op: str) -> str | None:
    """The dtype a parallel chunk's float32 sum accumulates in block by block (float32; each block's
    total is then added to the float64 accumulator), None for a reduction that is not blocked.

    Why: a float64 accumulator in a float32 loop halves the loop's vector width (LLVM picks 8 lanes
    for the doubles, so every float32 operation runs at 8 lanes instead of 16 on AVX-512: W4's
    fused value-and-gradient loop ran at 3.2 ns/element instead of 1.6); a block of SUM_BLOCK
    elements summed in float32 lanes (about 64 terms per lane) keeps nearly float64's accuracy.
    Products are not blocked (a float32 block could overflow where the whole product does not).

    >>> block_dtype("float32", "sum"), block_dtype("float64", "sum"), block_dtype("float32", "prod")
    ('float32', None, None)
    """
    if dtype == "float32" and op in ("sum", "nansum") and accumulator_dtype(dtype, op) != dtype:
        return dtype
    return None


def identity(op: str, dtype: str) -> str:
    """Source text of `op`'s identity in `dtype` (an empty reduction's result, padding lanes)."""
    return row(op).identity(dtype)


def identity_value(op: str, dtype: str):
    """`op`'s identity as a NumPy scalar of `dtype` (what an empty reduction fills in)."""
    return eval(identity(op, dtype), {"np": np})  # text of this table: a typed NumPy constant


def combine(op: str, acc: str, value: str, reassociable: bool = True) -> str:
    """The statement `acc = acc (op) value`."""
    return f"{acc} = {row(op).step(acc, value, reassociable)}"
