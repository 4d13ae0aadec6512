"""Each workload in PyTorch eager mode on a CUDA GPU (the CPU variant's code, GPU tensors)."""
from __future__ import annotations

import torch

from . import torch_eager
from .gpu import on_device


def unavailable() -> str | None:
    return None if torch.cuda.is_available() else "no CUDA GPU for PyTorch"


FACTORIES = {key: on_device(factory, torch.set_default_device, torch.cuda.synchronize)
             for key, factory in torch_eager.FACTORIES.items()}
