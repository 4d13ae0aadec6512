"""PyTorch-style repr of tensors: tensor([1.0000, 2.5000], requires_grad=True)."""
from __future__ import annotations

import numpy as np

from . import dtypes
from .core import Symbolic

_DEFAULT_SHOWN = {dtypes.int64, dtypes.bool_}


def _float_formatter(arr: np.ndarray):
    finite = arr[np.isfinite(arr)]
    if finite.size == 0:
        return lambda v: _special(v) or f"{v:.4f}"
    mags = np.abs(finite)
    big, small = mags.max(), mags[mags > 0].min() if (mags > 0).any() else 0.0
    if np.all(finite == np.round(finite)) and big < 1e8:
        return lambda v: _special(v) or f"{v:.0f}."
    if big >= 1e8 or (small and small < 1e-4) or (big / max(small, 1e-300) > 1e3 and big > 1e3):
        return lambda v: _special(v) or f"{v:.4e}"
    return lambda v: _special(v) or f"{v:.4f}"


def _special(v) -> str:
    if np.isnan(v):
        return "nan"
    if np.isinf(v):
        return "inf" if v > 0 else "-inf"
    return ""


def format_array(arr: np.ndarray) -> str:
    """The bracketed values, as PyTorch prints them."""
    kwargs = dict(separator=", ", prefix="tensor(", threshold=1000, edgeitems=3, max_line_width=80)
    if arr.dtype.kind == "f":
        fmt = _float_formatter(arr)
        # Width from the finite values only: PyTorch leaves inf/nan unpadded beside them.
        width = max((len(fmt(v)) for v in arr.flat if np.isfinite(v)), default=0)
        return np.array2string(arr, formatter={"float_kind": lambda v: fmt(v).rjust(width)}, **kwargs)
    if arr.dtype == np.bool_:
        # Padded to the widest value present, as PyTorch: tensor(True), [True, True], [ True, False].
        width = 5 if (~arr).any() else 4
        return np.array2string(arr, formatter={"bool": lambda v: str(bool(v)).rjust(width)}, **kwargs)
    return np.array2string(arr, **kwargs)


def tensor_repr(t) -> str:
    """tensor(values[, dtype=...][, grad_fn=<...> | requires_grad=True])."""
    data = t._data
    extras = []
    if isinstance(data, Symbolic):
        body = f"<traced {dtypes.name(data.dtype)}{list(data.shape)}>"
    else:
        body = format_array(data) if data.size else "[]"
        if data.size == 0 and data.ndim > 1:
            extras.append(f"size={tuple(data.shape)}")
    if str(t.device) != "cpu":
        extras.append(f"device='{t.device}'")
    if t.dtype != dtypes.get_default_dtype() and t.dtype not in _DEFAULT_SHOWN:
        extras.append(f"dtype=jitgrad.{dtypes.name(t.dtype)}")
    if t.grad_fn is not None:
        extras.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    return "tensor(" + ", ".join([body] + extras) + ")"
