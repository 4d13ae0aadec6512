"""Running a CPU variant's factories on the GPU: tensors are created on the GPU (the library's
default device is switched while a factory builds its inputs and while a call runs), and each
call waits for the GPU to finish, so the timed call includes the kernels, not only their launch."""
from __future__ import annotations

import os
from typing import Any, Callable

# The simulator runs kernels in Python: GPU columns appear only on a real GPU unless asked for
# (tests run the GPU columns under the simulator at smoke sizes with this variable set).
ALLOW_SIMULATOR = "JITGRAD_BENCH_GPU_SIMULATOR"


def jitgrad_unavailable() -> str | None:
    import jitgrad as jg
    if not jg.cuda.is_available():
        return "no CUDA GPU"
    if jg.cuda.is_simulated() and os.environ.get(ALLOW_SIMULATOR) != "1":
        return f"Numba's CUDA simulator only (set {ALLOW_SIMULATOR}=1 to run it anyway)"
    return None


def on_device(factory: Callable, set_default: Callable, synchronize: Callable,
              convert: Callable | None = None) -> Callable:
    """factory(inputs) -> run, rebuilt so that tensors live on the GPU and run() synchronizes."""
    def make(inputs: dict[str, Any]):
        set_default("cuda")
        try:
            run = factory(convert(inputs) if convert else inputs)
        finally:
            set_default(None)

        def timed(*args):
            set_default("cuda")
            try:
                result = run(*args)
            finally:
                set_default(None)
            synchronize()
            return result
        return timed
    return make
