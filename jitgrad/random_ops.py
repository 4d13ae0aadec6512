"""Random ops on tensors, each drawing from `generator=` (a jitgrad.Generator) or the global
stream: bernoulli, multinomial, and the in-place fills normal_, uniform_, bernoulli_. Inside a
traced function a draw is a runtime input of the trace (drawn again at each compiled call)."""
from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from . import core, dtypes, prims
from .core import TensorBase
from .generator import numpy_generator

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from typing import Any

    from ._typing import TensorLike
    from .tensor import Tensor


def _drawn(like: TensorBase, shape: tuple, dtype, draw: Callable[[], np.ndarray]) -> TensorBase:
    """A constant tensor (of like's class) holding draw(); a runtime input while tracing."""
    builder = core.tracing.builder
    if builder is not None:
        return type(like)._wrap(builder.random_input(tuple(shape), dtype, draw))
    return type(like)._wrap(np.asarray(draw(), dtype=dtype))


def _host(t: TensorBase) -> np.ndarray | None:
    data = t._data
    return data if isinstance(data, np.ndarray) else None


def bernoulli(input: TensorLike, p: float | None = None, *,
              generator: Any = None) -> Tensor:  # noqa: A002 - PyTorch's argument name
    """1 with probability `input` (or `p`) per element, else 0, in the input's dtype.

    Example:
        >>> jg.bernoulli(jg.ones(2))
        tensor([1., 1.])
    """
    x = prims.as_tensor_operand(input)
    if not dtypes.is_floating(x.dtype):
        raise RuntimeError(f"bernoulli: expected a floating point probability tensor, got {dtypes.name(x.dtype)}")
    rng = numpy_generator(generator)
    if p is not None:
        if not 0 <= p <= 1:
            raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={p}")
        probs = prims.as_tensor_operand(builtins.float(p), x.dtype)
    else:
        probs = x.detach()
        values = _host(probs)
        if values is not None and (np.any(values < 0) or np.any(values > 1) or np.any(np.isnan(values))):
            raise RuntimeError("bernoulli: the probabilities in `input` must lie in [0, 1]")
    u = _drawn(x, x.shape, x.dtype, lambda: rng.random(x.shape, dtype=np.float64).astype(x.dtype))
    return prims.cast(prims.lt(u, probs), x.dtype)


def multinomial(input: TensorLike, num_samples: int, replacement: bool = False, *,
                generator: Any = None) -> Tensor:  # noqa: A002
    """Indices drawn from the categorical distributions in the rows of `input` (non-negative
    weights, not necessarily normalised); without replacement each index is drawn at most once.

    Example:
        >>> jg.multinomial(jg.tensor([0.0, 1.0]), 1)
        tensor([1])
    """
    x = prims.as_tensor_operand(input)
    if x.ndim not in (1, 2):
        raise RuntimeError(f"prob_dist must be 1 or 2 dim, got {x.ndim}")
    if not dtypes.is_floating(x.dtype):
        raise RuntimeError(f"multinomial only supports floating-point dtypes for input, got: {dtypes.name(x.dtype)}")
    if num_samples <= 0:
        raise RuntimeError(f"cannot sample n_sample <= 0 samples, got num_samples={num_samples}")
    n = x.shape[-1]
    if not replacement and num_samples > n:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
    weights = np.asarray(x.detach().numpy(), dtype=np.float64).reshape(-1, n)
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    totals = weights.sum(-1)
    if np.any(totals <= 0):
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    if not replacement and np.any((weights > 0).sum(-1) < num_samples):
        raise RuntimeError("invalid multinomial distribution (with replacement=False, not enough non-negative "
                           "category to sample)")
    rng = numpy_generator(generator)
    rows = [rng.choice(n, size=num_samples, replace=replacement, p=w / t) for w, t in zip(weights, totals)]
    out = np.asarray(rows, dtype=np.int64).reshape(x.shape[:-1] + (num_samples,))
    return type(x)._wrap(out)


def normal_(self, mean: float = 0.0, std: float = 1.0, *, generator=None):
    """Fill with normal samples, in place."""
    if std < 0:
        raise RuntimeError(f"normal_ expects std >= 0.0, but found std {std}")
    rng = numpy_generator(generator)
    return self.copy_(_drawn(self, self.shape, self.dtype,
                             lambda: (mean + std * rng.standard_normal(self.shape)).astype(self.dtype)))


def uniform_(self, a: float = 0.0, b: float = 1.0, *, generator=None):
    """Fill with uniform samples in [a, b), in place."""
    if a > b:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found from={a} > to={b}")
    rng = numpy_generator(generator)
    return self.copy_(_drawn(self, self.shape, self.dtype, lambda: rng.uniform(a, b, self.shape).astype(self.dtype)))


def bernoulli_(self, p: float = 0.5, *, generator=None):
    """Fill with 1 (probability p) or 0, in place."""
    return self.copy_(bernoulli(self.detach(), p, generator=generator))
