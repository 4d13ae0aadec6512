"""The fill kernel: every element of a flat device array set to one value. Kept apart from
runtime.py, whose allocation helpers launch it, so that module-global `cuda` here is Numba's
own (the simulator patches kernel globals; tests swap runtime's `cuda` for fakes)."""
from __future__ import annotations

from numba import cuda  # module global: the simulator patches kernel globals


@cuda.jit(cache=True)
def fill(out, value):
    """out[i] = value over a flat view."""
    start = cuda.grid(1)
    step = cuda.gridsize(1)
    for i in range(start, out.size, step):
        out[i] = value
