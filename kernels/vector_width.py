"""Full-width SIMD on AVX-512 CPUs: turn off LLVM's "prefer 256-bit vectors" tuning.

Why: LLVM tunes every AVX-512 CPU model it knows (Skylake-SP ... Emerald Rapids) with
``prefer-256-bit``, so Numba's loops, the vmath ones included, vectorise with 8 float32
lanes (ymm) instead of 16 (zmm). On this machine (Emerald Rapids, 1 thread, 4M float32)
the 512-bit loops are 1.3-1.6x faster (exp 0.78 -> 0.61 ns/element, sin 1.27 -> 0.91;
``python -m benchmarks.vmath_speed --goals``). The setting must be in place before
Numba builds its CPU code generator (the first compilation in the process), so it is
applied when ``kernels`` is imported. Numba's disk cache keys entries by the CPU
features, so cached 256-bit code is never mixed in.

Opt out with ``JITGRAD_VECTOR_WIDTH=256`` (e.g. on CPUs whose clock drops under 512-bit
load); an explicit ``NUMBA_CPU_FEATURES`` is always left as it is.
"""
from __future__ import annotations

import os

_FEATURE = '-prefer-256-bit'


def wide_vector_features(host_features: str) -> str | None:
    """Numba feature string with 512-bit vectors preferred, or None when not applicable."""
    if '+avx512f' not in host_features.split(','):
        return None
    return f'{host_features},{_FEATURE}'


def _codegen_started() -> bool:
    """Whether Numba's CPU code generator exists already (then it is too late to change)."""
    from numba.core.registry import cpu_target
    return '_toplevel_target_context' in vars(cpu_target)


def prefer_full_width() -> bool:
    """Set Numba's CPU features so loops use the full AVX-512 width; True when it is in effect."""
    from numba.core import config
    if os.environ.get('JITGRAD_VECTOR_WIDTH', '') == '256':
        return False
    if config.CPU_FEATURES is not None:
        return _FEATURE in config.CPU_FEATURES.split(',')
    if _codegen_started():
        return False
    import llvmlite.binding as llvm
    features = wide_vector_features(llvm.get_host_cpu_features().flatten())
    if features is None:
        return False
    config.CPU_FEATURES = features
    return True


FULL_WIDTH = prefer_full_width()
