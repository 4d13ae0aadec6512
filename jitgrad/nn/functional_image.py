"""Image-shaped functions of torch.nn.functional composed from primitives (indexing, reshapes,
reductions), so their gradients of any order come from VJP rules declared once: pad,
interpolate (nearest, bilinear), pixel_shuffle, group_norm, dropout2d."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .. import core, prims
from ..core import Symbolic, TensorBase
from ..creation import rand

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from .._typing import ShapeLike

_PAD_MODES = ("constant", "reflect", "replicate")


def _constant(values, dtype, like: TensorBase) -> TensorBase:
    """A constant (no grad) in `dtype` on the device where `like` lives."""
    out = prims.lift(values, dtype, like=like)
    if not core.on_host(like._data) and not isinstance(like._data, Symbolic):
        out = prims.to_device(out, like.device)
    return out


def _source_index(size: int, lo: int, hi: int, mode: str) -> np.ndarray:
    """For each padded position along one axis, the input position it copies (reflect/replicate)."""
    pos = np.arange(-lo, size + hi)
    if mode == "replicate":
        return np.clip(pos, 0, size - 1)
    period = 2 * (size - 1)
    pos = np.abs(pos) % period if period else np.zeros_like(pos)
    return np.where(pos >= size, period - pos, pos)


def pad(input: TensorBase, pad: tuple, mode: str = "constant", value: float | None = None) -> TensorBase:  # noqa: A002
    """Pad the last len(pad)//2 dimensions; pad = (left, right, top, bottom, ...) as PyTorch orders it."""
    input = prims.as_tensor_operand(input)
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError(f"Padding length must be divisible by 2 and at most twice the number of dimensions "
                         f"({input.ndim}), got {len(pad)}")
    if mode not in _PAD_MODES:
        raise ValueError(f"padding mode {mode!r} is not supported; use one of {_PAD_MODES}")
    out = input
    for k in range(len(pad) // 2):
        dim, lo, hi = input.ndim - 1 - k, pad[2 * k], pad[2 * k + 1]
        size = out.shape[dim]
        if mode == "constant":
            if lo < 0 or hi < 0:
                out = prims.narrow(out, dim, max(-lo, 0), size - max(-lo, 0) - max(-hi, 0))
                lo, hi = max(lo, 0), max(hi, 0)
            parts = []
            for n in (lo, hi):
                shape = list(out.shape)
                shape[dim] = n
                parts.append(_constant(np.full(shape, 0.0 if value is None else value), out.dtype, like=out))
            out = prims.cat([parts[0], out, parts[1]], dim) if lo or hi else out
            continue
        if mode == "reflect" and (lo >= size or hi >= size):
            raise RuntimeError(f"Argument #4: Padding size should be less than the corresponding input dimension, "
                               f"but got: padding ({lo}, {hi}) at dimension {dim} of input {list(input.shape)}")
        if lo < 0 or hi < 0:
            raise RuntimeError(f"negative padding is only supported in constant mode, got {pad}")
        index = prims.as_tensor_operand(_source_index(size, lo, hi, mode))
        out = prims.getitem(out, (slice(None),) * dim + (index,))
    return out


def _scale_factors(input, size, scale_factor) -> tuple:  # noqa: A002
    """(output sizes, the given scale factors or None): PyTorch maps output to input positions
    with 1/scale_factor when one is given, else with in/out."""
    spatial = input.ndim - 2
    if (size is None) == (scale_factor is None):
        raise ValueError("only one of size or scale_factor should be defined")
    if size is not None:
        out = (int(size),) * spatial if isinstance(size, (int, np.integer)) else tuple(int(s) for s in size)
        return out, None
    scales = (float(scale_factor),) * spatial if isinstance(scale_factor, (int, float)) \
        else tuple(float(s) for s in scale_factor)
    return tuple(int(np.floor(i * s)) for i, s in zip(input.shape[2:], scales, strict=True)), scales


def _gather_axis(x: TensorBase, dim: int, index: np.ndarray) -> TensorBase:
    return prims.getitem(x, (slice(None),) * dim + (prims.as_tensor_operand(index),))


def interpolate(input: TensorBase, size: ShapeLike | None = None,  # noqa: A002
                scale_factor: float | tuple[float, float] | None = None, mode: str = "nearest",
                align_corners: bool | None = None) -> TensorBase:
    """Resize the spatial dims of (N, C, *spatial) input: 'nearest' copies (floor(o * in/out)),
    'linear'/'bilinear' interpolate axis by axis with PyTorch's half-pixel (or corner) alignment."""
    input = prims.as_tensor_operand(input)
    if input.ndim < 3:
        raise ValueError(f"interpolate expects (N, C, *spatial) input, got {input.ndim}D input")
    if mode not in ("nearest", "linear", "bilinear"):
        raise ValueError(f"interpolate mode {mode!r} is not supported; use nearest, linear or bilinear")
    if mode == "nearest" and align_corners is not None:
        raise ValueError("align_corners option can only be set with the interpolating modes: linear | bilinear | "
                         "bicubic | trilinear")
    out_sizes, given = _scale_factors(input, size, scale_factor)
    out = input
    for k, n_out in enumerate(out_sizes):
        dim, n_in = 2 + k, input.shape[2 + k]
        ratio = 1.0 / given[k] if given is not None else n_in / n_out
        o = np.arange(n_out)
        if mode == "nearest":
            out = _gather_axis(out, dim, np.minimum(np.floor(o * ratio).astype(np.int64), n_in - 1))
            continue
        if align_corners:
            src = o * ((n_in - 1) / (n_out - 1)) if n_out > 1 else np.zeros(n_out)
        else:
            src = np.maximum((o + 0.5) * ratio - 0.5, 0.0)
        lo = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
        hi = np.minimum(lo + 1, n_in - 1)
        shape = [1] * input.ndim
        shape[dim] = n_out
        frac = _constant((src - lo).reshape(shape), out.dtype, like=out)
        a, b = _gather_axis(out, dim, lo), _gather_axis(out, dim, hi)
        out = a + (b - a) * frac
    return out


def pixel_shuffle(input: TensorBase, upscale_factor: int) -> TensorBase:  # noqa: A002
    """(*, C*r*r, H, W) -> (*, C, H*r, W*r)."""
    input = prims.as_tensor_operand(input)
    r = int(upscale_factor)
    if input.ndim < 3:
        raise RuntimeError(f"pixel_shuffle expects input to have at least 3 dimensions, but got input with "
                           f"{input.ndim} dimension(s)")
    *lead, c, h, w = input.shape
    if c % (r * r):
        raise RuntimeError(f"pixel_shuffle expects its input's 'channel' dimension to be divisible by the square of "
                           f"upscale_factor, but input.size(-3)={c} is not divisible by {r * r}")
    x = prims.reshape(input, (-1, c // (r * r), r, r, h, w))
    x = prims.permute(x, 0, 1, 4, 2, 5, 3)
    return prims.reshape(x, (*lead, c // (r * r), h * r, w * r))


def group_norm(input: TensorBase, num_groups: int, weight: TensorBase | None = None,  # noqa: A002
               bias: TensorBase | None = None, eps: float = 1e-5) -> TensorBase:
    """Normalise each group of channels of each sample by its own mean and (biased) variance."""
    input = prims.as_tensor_operand(input)
    n, c = input.shape[:2]
    if c % num_groups:
        raise RuntimeError(f"Expected number of channels in input to be divisible by num_groups, but got input of "
                           f"shape {list(input.shape)} and num_groups={num_groups}")
    x = prims.reshape(input, (n, num_groups, -1))
    centred = x - prims.mean(x, -1, keepdim=True)
    var = prims.mean(centred * centred, -1, keepdim=True)
    out = prims.reshape(centred / prims.sqrt(var + eps), input.shape)
    shape = (1, c) + (1,) * (input.ndim - 2)
    if weight is not None:
        out = out * prims.reshape(weight, shape)
    if bias is not None:
        out = out + prims.reshape(bias, shape)
    return out


def dropout2d(input: TensorBase, p: float = 0.5, training: bool = True) -> TensorBase:  # noqa: A002
    """Zero whole channels with probability p (scaling the rest by 1/(1-p)) while training."""
    input = prims.as_tensor_operand(input)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    if input.ndim not in (3, 4):
        raise ValueError(f"dropout2d expects 3D or 4D input, got {input.ndim}D input")
    shape = tuple(input.shape)[:input.ndim - 2] + (1, 1)
    on_gpu = not core.on_host(input._data) and not isinstance(input._data, Symbolic)
    keep = (rand(*shape, dtype=input.dtype, device=input.device if on_gpu else None) >= p).to(input.dtype)
    return input * (keep / (1.0 - p)) if p < 1.0 else input * keep
