"""jitgrad's back end: fused-kernel code generation and the Numba CPU/CUDA targets.

This package imports nothing from ``jitgrad``; ``kernels.spec`` is the whole contract.
"""
