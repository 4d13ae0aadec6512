"""Each workload in jitgrad's eager mode on the GPU (the eager variant's code, GPU tensors)."""
from __future__ import annotations

import jitgrad as jg

from . import jitgrad_eager
from .gpu import jitgrad_unavailable, on_device


def unavailable() -> str | None:
    return jitgrad_unavailable()


FACTORIES = {key: on_device(factory, jg.set_default_device, jg.cuda.synchronize)
             for key, factory in jitgrad_eager.FACTORIES.items()}
