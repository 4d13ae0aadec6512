"""The random generator a data utility draws from: the one passed as generator=, else jitgrad's
global generator (so jitgrad.manual_seed makes shuffling and splits reproducible)."""
from __future__ import annotations

import numpy as np

from ... import creation


def resolve(generator) -> np.random.Generator:
    """`generator` (a NumPy Generator, as jitgrad.manual_seed returns) or the global one when None."""
    if generator is None:
        return creation.default_generator()
    if isinstance(generator, np.random.Generator):
        return generator
    raise TypeError(f"generator must be a numpy.random.Generator (e.g. the one jitgrad.manual_seed(seed) returns) "
                    f"or None, got {type(generator).__name__}")
