"""Boolean-mask selection whose mask is a runtime value, each primitive declared once:
``mask_select`` (``x[mask]`` with the mask covering dims pos.. of x, elements in the mask's C
order) and its adjoint ``mask_scatter`` (the selected rows put back into zeros).

The result's length is the number of True elements, known only when the program runs. A trace
asks its builder for that count (`Builder.mask_count`): the first trace assumes one, and
compiled mode checks it where the program is split (the count pass ends one program, the
compaction starts the next, see lower.py); another count raises MaskCountChangedError and the
function is traced again for it (so each count seen compiles once). Eagerly the count is
simply read from the mask.
"""
from __future__ import annotations

import numpy as np

from . import dtypes
from .core import INDEX, Primitive, Symbolic, bind


class MaskCountChangedError(RuntimeError):
    """A boolean mask selected another number of elements than the program was traced for
    (compiled mode catches it and traces the function again for the new count)."""

    def __init__(self, site: int, count: int, expected: int) -> None:
        super().__init__(f"boolean mask {site} selects {count} elements; the program was traced for {expected}")
        self.site, self.count, self.expected = site, count, expected


def _selector(pos: int, mask: np.ndarray) -> tuple:
    return (slice(None),) * pos + (mask,)


def masked_shape(shape: tuple, mask_shape: tuple, pos: int, count: int) -> tuple:
    """The shape of x[(:,) * pos + (mask,)]: the mask's dims become one dim of `count`."""
    return tuple(shape[:pos]) + (count,) + tuple(shape[pos + len(mask_shape):])


def _mask_select_impl(x, mask, pos, count, site):
    out = x[_selector(pos, mask)]
    if out.shape[pos] != count:
        raise MaskCountChangedError(site, out.shape[pos], count)
    return out


def _mask_scatter_impl(g, mask, pos, shape):
    out = np.zeros(shape, dtype=g.dtype)
    out[_selector(pos, mask)] = g
    return out


MASK_SELECT = Primitive(
    "mask_select", _mask_select_impl,
    lambda x, mask, pos, count, site: (masked_shape(x.shape, mask.shape, pos, count), x.dtype),
    lambda g, out, x, mask, pos, count, site: (mask_scatter(g, mask, pos, x.shape), None),
    INDEX, "IndexBackward0", params=("pos", "count", "site"))
MASK_SCATTER = Primitive(
    "mask_scatter", _mask_scatter_impl, lambda g, mask, pos, shape: (tuple(shape), g.dtype),
    lambda gg, out, g, mask, pos, shape: (bind(MASK_SELECT, gg, mask, pos=pos, count=g.shape[pos], site=-1), None),
    INDEX, "IndexPutBackward0", params=("pos", "shape"))


def mask_select(x, mask, pos: int = 0):
    """x[(:,) * pos + (mask,)] for a boolean mask covering dims pos.. of x (shapes already
    checked by the caller). The count comes from the mask's data, or from the trace's builder
    when the mask is a traced value."""
    if mask.dtype != dtypes.bool_:
        raise TypeError(f"mask_select takes a boolean mask, got {dtypes.name(mask.dtype)}")
    data = mask._data
    if isinstance(data, Symbolic):
        count, site = data.builder.mask_count(data)
    else:
        count, site = int(np.count_nonzero(np.asarray(data))), -1
    return bind(MASK_SELECT, x, mask, pos=pos, count=count, site=site)


def mask_scatter(g, mask, pos: int, shape: tuple):
    """Zeros of `shape` with g's rows at the True elements of mask (dims pos..): mask_select's VJP."""
    return bind(MASK_SCATTER, g, mask, pos=pos, shape=tuple(shape))


MASK_PRIMS = (MASK_SELECT, MASK_SCATTER)
