"""CUDA back end through numba.cuda: device runtime, eager kernels (elementwise, reductions, matmul,
layout, random) and compiled programs. Imported lazily, only when a GPU tensor is made; run it on
Numba's simulator by setting NUMBA_ENABLE_CUDASIM=1 before numba is imported."""
