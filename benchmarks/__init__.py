"""Benchmarks of jitgrad against NumPy (hand-written gradients), PyTorch and JAX: `python -m benchmarks`.

Kept free of imports on purpose: `python -m benchmarks` must set the thread-count environment
variables before NumPy, Numba or PyTorch are first imported.
"""
