"""Each workload through jitgrad's compiled mode on the GPU: the jit variant's code with its
NumPy inputs made GPU tensors, so every call runs fused numba.cuda kernels."""
from __future__ import annotations

import numpy as np

import jitgrad as jg

from . import jitgrad_jit
from .gpu import jitgrad_unavailable, on_device


def unavailable() -> str | None:
    return jitgrad_unavailable()


def _to_gpu(inputs: dict) -> dict:
    return {k: jg.tensor(v, device="cuda") if isinstance(v, np.ndarray) and k != "params" else v
            for k, v in inputs.items()}


FACTORIES = {key: on_device(factory, jg.set_default_device, jg.cuda.synchronize, _to_gpu)
             for key, factory in jitgrad_jit.FACTORIES.items()}
