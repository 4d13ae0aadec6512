"""The CUDA back end as devices.Backend: GPU storage, transfers and random numbers from
kernels/cuda, eager ops through eager.run, and fused programs compiled by kernels/cuda/program.
Registered for the device type 'cuda' by jitgrad/cuda/__init__.py and loaded on first use."""
from __future__ import annotations

from typing import Any

import numpy as np

from jitgrad._kernels.cuda import conv, program, random, runtime, scan

from . import eager


class CudaBackend:
    """devices.Backend for NVIDIA GPUs (or Numba's CUDA simulator)."""

    is_device_array = staticmethod(eager.is_device_array)
    device_of = staticmethod(eager.device_of)
    full = staticmethod(eager.full)
    copy = staticmethod(eager.copy)
    copy_into = staticmethod(eager.copy_into)
    move = staticmethod(eager.move)
    to_host = staticmethod(eager.to_host)
    import_array = staticmethod(eager.from_cuda_array)
    array_interface = staticmethod(eager.array_interface)
    run = staticmethod(eager.run)
    call_prims = frozenset({"getitem", "unindex", "setitem", "gather", "scatter_add", "cat", "stack", "max_dim",
                            "min_dim", "argmax", "argmin", "norm", "var", "std", "matmul", "mask_select",
                            "mask_scatter"})  # kernels/cuda/calls.py
    kernel_prims = frozenset(conv.PRIMS + scan.PRIMS)  # kernels/cuda/conv.py, scan.py: eager and in programs

    @staticmethod
    def random(kind: str, shape: tuple, dtype: np.dtype, seed: int) -> Any:
        draw = {"uniform": random.uniform, "normal": random.normal}[kind]
        return draw(shape, dtype, seed)

    @staticmethod
    def compile_program(spec: Any, reason: str) -> Any:
        return program.compile_program(spec, reason=reason)


def load() -> CudaBackend:
    """The back end, once a GPU (or the simulator) is found usable: CudaUnavailable says why not."""
    runtime.require()
    return CudaBackend()
