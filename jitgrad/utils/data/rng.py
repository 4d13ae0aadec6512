"""The random generator a data utility draws from: the one passed as generator=, else jitgrad's
global generator (so jitgrad.manual_seed makes shuffling and splits reproducible)."""
from __future__ import annotations

import numpy as np

from ... import creation
from ...generator import Generator, numpy_generator


def resolve(generator) -> np.random.Generator:
    """The NumPy generator of `generator` (a jitgrad.Generator, or a NumPy Generator as jitgrad.manual_seed
    returns), or the global one when None."""
    if generator is None:
        return creation.default_generator()
    if isinstance(generator, (np.random.Generator, Generator)):
        return numpy_generator(generator)
    raise TypeError("generator must be a jitgrad.Generator or numpy.random.Generator (e.g. the one "
                    f"jitgrad.manual_seed returns) or None, got {type(generator).__name__}")
