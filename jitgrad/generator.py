"""Random number generators: jitgrad.Generator (PyTorch's torch.Generator: manual_seed, seed,
initial_seed, get_state/set_state) and the default one behind jitgrad.manual_seed. Every random
function takes `generator=`; `numpy_generator` turns that argument into the NumPy generator drawn from."""
from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from ._typing import DeviceLike

DEFAULT_SEED = 67280421310721  # PyTorch's default_generator initial seed


class Generator:
    """A seeded stream of random numbers (PCG64), independent of the global one.

    Example:
        >>> g = jg.Generator().manual_seed(7)
        >>> a = jg.rand(3, generator=g)
        >>> jg.allclose(a, jg.rand(3, generator=jg.Generator().manual_seed(7)))
        True
    """

    __slots__ = ("device", "_seed", "_rng")

    def __init__(self, device: DeviceLike = "cpu") -> None:
        self.device = str(device)
        self._seed = DEFAULT_SEED
        self._rng = np.random.Generator(np.random.PCG64(DEFAULT_SEED))

    def manual_seed(self, seed: int) -> Generator:
        """Restart the stream from `seed` (the same seed gives the same numbers); returns self."""
        if not isinstance(seed, (builtins.int, np.integer)) or isinstance(seed, builtins.bool):
            raise TypeError(f"manual_seed expected an int seed, got {type(seed).__name__}")
        self._seed = builtins.int(seed) % 2**64
        # Reseeded in place: draws already traced into compiled functions hold this very object.
        self._rng.bit_generator.state = np.random.PCG64(self._seed).state
        return self

    def seed(self) -> int:
        """Restart the stream from a fresh non-deterministic seed, and return that seed."""
        return self.manual_seed(builtins.int(np.random.SeedSequence().generate_state(1, np.uint64)[0]))._seed

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> dict:
        """The stream's position (a dict: PCG64's state), for set_state."""
        return {"seed": self._seed, "bit_generator": self._rng.bit_generator.state}

    def set_state(self, state: dict) -> Generator:
        self._seed = state["seed"]
        self._rng.bit_generator.state = state["bit_generator"]
        return self

    @property
    def numpy(self) -> np.random.Generator:
        """The NumPy generator this one draws from."""
        return self._rng

    def __repr__(self) -> str:
        return f"<jitgrad.Generator device={self.device} initial_seed={self._seed}>"


default_generator = Generator()


def numpy_generator(generator: Any) -> np.random.Generator:
    """The NumPy generator to draw from for a `generator=` argument: the default one for None, a
    jitgrad.Generator's stream, or a numpy.random.Generator as it is."""
    if generator is None:
        return default_generator.numpy
    if isinstance(generator, Generator):
        return generator.numpy
    if isinstance(generator, np.random.Generator):
        return generator
    raise TypeError(f"generator must be a jitgrad.Generator (or None), got {type(generator).__name__}")
