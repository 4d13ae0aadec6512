"""jitgrad's back end: fused-kernel code generation and the Numba CPU/CUDA targets.

This package imports nothing from ``jitgrad``; ``kernels.spec`` is the whole contract.
Importing it first selects full-width (AVX-512) vectors for Numba where the CPU has them
(``kernels.vector_width``), which must happen before Numba's first compilation, and a passive
OpenMP wait policy (``kernels.threads``), before Numba loads its OpenMP threading layer, and
malloc thresholds that keep freed temporaries in the process (``kernels.heap``).
"""
from . import heap, threads, vector_width  # noqa: F401  (side effects: before any njit / parallel call)
