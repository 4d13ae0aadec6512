"""Convolution and pooling primitives, declared once (part of prims.ALL): conv2d and the two
halves of its VJP, whose VJPs are each other (so gradients of any order use only these three),
and the argmax of max pooling (its values and gradient then come from gather).

All run in NCHW layout through BLAS: float32/float64 in the compiled kernels that compiled
programs call too (kernels/conv.py); other dtypes as the input's sliding windows, a strided
view (im2col without index arithmetic), multiplied with the weight by np.matmul. conv1d is conv2d
with a height of 1 (see nn/functional_conv.py, which checks user input with PyTorch's messages).
"""
from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ._kernels import conv as conv_kernels
from .core import OTHER, Primitive, bind

# Params of every convolution primitive: stride (sh, sw), padding (top, bottom, left, right),
# dilation (dh, dw), groups.
CONV_PARAMS = ("stride", "padding", "dilation", "groups")


def conv_out_size(size: int, kernel: int, stride: int, pad_lo: int, pad_hi: int, dilation: int) -> int:
    """Output length of a convolution along one axis (PyTorch's floor formula)."""
    return (size + pad_lo + pad_hi - dilation * (kernel - 1) - 1) // stride + 1


def _out_hw(hw, khw, stride, padding, dilation) -> tuple[int, int]:
    return (conv_out_size(hw[0], khw[0], stride[0], padding[0], padding[1], dilation[0]),
            conv_out_size(hw[1], khw[1], stride[1], padding[2], padding[3], dilation[1]))


def _padded(x: np.ndarray, padding, value=0.0) -> np.ndarray:
    top, bottom, left, right = padding
    if not (top or bottom or left or right):
        return x
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=value)


def _windows(xp: np.ndarray, khw, out_hw, stride, dilation) -> np.ndarray:
    """A read-only view (N, C, KH, KW, OH, OW) of the padded input's sliding windows."""
    n, c = xp.shape[:2]
    s0, s1, s2, s3 = xp.strides
    shape = (n, c, khw[0], khw[1], out_hw[0], out_hw[1])
    strides = (s0, s1, s2 * dilation[0], s3 * dilation[1], s2 * stride[0], s3 * stride[1])
    return as_strided(xp, shape, strides, writeable=False)


def _columns(x, khw, out_hw, stride, padding, dilation, groups) -> np.ndarray:
    """im2col: (N, G, C/G*KH*KW, OH*OW), contiguous."""
    n, c = x.shape[:2]
    win = _windows(_padded(x, padding), khw, out_hw, stride, dilation)
    return win.reshape(n, groups, c // groups * khw[0] * khw[1], out_hw[0] * out_hw[1])


# float32/float64 (every convolution of a model) run the compiled kernels of kernels/conv.py, the
# very ones compiled programs call: eager and compiled mode compute alike, at BLAS speed. Other
# dtypes take the NumPy im2col below.
_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _flat_params(stride, padding, dilation, groups) -> tuple:
    return (*stride, *padding, *dilation, groups)


def _conv2d_impl(x, w, stride, padding, dilation, groups):
    o, _, kh, kw = w.shape
    out_hw = _out_hw(x.shape[2:], (kh, kw), stride, padding, dilation)
    if x.dtype in _KERNEL_DTYPES:
        return conv_kernels.conv2d(np.ascontiguousarray(x), np.ascontiguousarray(w),
                                   *_flat_params(stride, padding, dilation, groups), *out_hw)
    n = x.shape[0]
    cols = _columns(x, (kh, kw), out_hw, stride, padding, dilation, groups)
    out = np.matmul(w.reshape(groups, o // groups, -1), cols)  # (N, G, O/G, OH*OW)
    return out.reshape(n, o, *out_hw)


def _input_grad_impl(g, w, stride, padding, dilation, groups, input_hw):
    """The input's gradient of conv2d: W^T g per window (BLAS), then col2im by KH*KW strided adds."""
    if g.dtype in _KERNEL_DTYPES:
        return conv_kernels.conv2d_input_grad(np.ascontiguousarray(g), np.ascontiguousarray(w),
                                              *_flat_params(stride, padding, dilation, groups), *input_hw)
    n, o, oh, ow = g.shape
    _, cg, kh, kw = w.shape
    wt = w.reshape(groups, o // groups, cg * kh * kw).transpose(0, 2, 1)
    dcols = np.matmul(wt, g.reshape(n, groups, o // groups, oh * ow)).reshape(n, groups * cg, kh, kw, oh, ow)
    top, bottom, left, right = padding
    hp, wp = input_hw[0] + top + bottom, input_hw[1] + left + right
    gxp = np.zeros((n, groups * cg, hp, wp), dtype=g.dtype)
    (sh, sw), (dh, dw) = stride, dilation
    for i in range(kh):
        for j in range(kw):
            gxp[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw] += dcols[:, :, i, j]
    return gxp[:, :, top:top + input_hw[0], left:left + input_hw[1]]


def _weight_grad_impl(x, g, stride, padding, dilation, groups, kernel):
    """The weight's gradient of conv2d: g times the im2col columns, summed over the batch."""
    if x.dtype in _KERNEL_DTYPES:
        return conv_kernels.conv2d_weight_grad(np.ascontiguousarray(x), np.ascontiguousarray(g),
                                               *_flat_params(stride, padding, dilation, groups), *kernel)
    n, o, oh, ow = g.shape
    cols = _columns(x, kernel, (oh, ow), stride, padding, dilation, groups)  # (N, G, K, P)
    g4 = g.reshape(n, groups, o // groups, oh * ow)
    gw = np.einsum("ngop,ngkp->gok", g4, cols, optimize=True)
    return gw.reshape(o, x.shape[1] // groups, *kernel)


def _conv2d_rule(x, w, stride, padding, dilation, groups):
    return (x.shape[0], w.shape[0], *_out_hw(x.shape[2:], w.shape[2:], stride, padding, dilation)), x.dtype


def _check_grad_shape(g_hw, input_hw, kernel, stride, padding, dilation) -> None:
    expected = _out_hw(input_hw, kernel, stride, padding, dilation)
    if tuple(g_hw) != expected:
        raise RuntimeError(f"conv2d gradient: the output gradient's spatial size {list(g_hw)} does not match "
                           f"the convolution's output size {list(expected)} for input size {list(input_hw)}")


def _input_grad_rule(g, w, stride, padding, dilation, groups, input_hw):
    _check_grad_shape(g.shape[2:], input_hw, w.shape[2:], stride, padding, dilation)
    return (g.shape[0], w.shape[1] * groups, *input_hw), g.dtype


def _weight_grad_rule(x, g, stride, padding, dilation, groups, kernel):
    _check_grad_shape(g.shape[2:], x.shape[2:], kernel, stride, padding, dilation)
    return (g.shape[1], x.shape[1] // groups, *kernel), x.dtype


def _conv2d_vjp(g, out, x, w, **p):
    gx = conv2d_input_grad(g, w, input_hw=tuple(x.shape[2:]), **p) if x.requires_grad else None
    gw = conv2d_weight_grad(x, g, kernel=tuple(w.shape[2:]), **p) if w.requires_grad else None
    return gx, gw


def _input_grad_vjp(h, out, g, w, input_hw, **p):
    # out = J(w)^T g is bilinear: <h, J(w)^T g> = <conv2d(h, w), g>.
    dg = conv2d(h, w, **p) if g.requires_grad else None
    dw = conv2d_weight_grad(h, g, kernel=tuple(w.shape[2:]), **p) if w.requires_grad else None
    return dg, dw


def _weight_grad_vjp(h, out, x, g, kernel, **p):
    # out = dW(x, g) is bilinear: <h, dW(x, g)> = <conv2d(x, h), g>.
    dx = conv2d_input_grad(g, h, input_hw=tuple(x.shape[2:]), **p) if x.requires_grad else None
    dg = conv2d(x, h, **p) if g.requires_grad else None
    return dx, dg


CONV2D = Primitive("conv2d", _conv2d_impl, _conv2d_rule, _conv2d_vjp, OTHER, "ConvolutionBackward0",
                   params=CONV_PARAMS)
CONV2D_INPUT_GRAD = Primitive("conv2d_input_grad", _input_grad_impl, _input_grad_rule, _input_grad_vjp, OTHER,
                              "ConvolutionBackwardBackward0", params=CONV_PARAMS + ("input_hw",))
CONV2D_WEIGHT_GRAD = Primitive("conv2d_weight_grad", _weight_grad_impl, _weight_grad_rule, _weight_grad_vjp,
                               OTHER, "ConvolutionBackwardBackward0", params=CONV_PARAMS + ("kernel",))


def conv2d(x, w, stride, padding, dilation, groups):
    """The raw primitive on checked 4-D operands of one dtype (padding = (top, bottom, left, right))."""
    return bind(CONV2D, x, w, stride=tuple(stride), padding=tuple(padding), dilation=tuple(dilation),
                groups=int(groups))


def conv2d_input_grad(g, w, stride, padding, dilation, groups, input_hw):
    """The input's gradient of conv2d for output gradient g (a transposed convolution)."""
    return bind(CONV2D_INPUT_GRAD, g, w, stride=tuple(stride), padding=tuple(padding),
                dilation=tuple(dilation), groups=int(groups), input_hw=tuple(input_hw))


def conv2d_weight_grad(x, g, stride, padding, dilation, groups, kernel):
    """The weight's gradient of conv2d for input x and output gradient g."""
    return bind(CONV2D_WEIGHT_GRAD, x, g, stride=tuple(stride), padding=tuple(padding),
                dilation=tuple(dilation), groups=int(groups), kernel=tuple(kernel))


# ---------------------------------------------------------------------------------------------
# Max pooling: the argmax of each window; values and gradients come from gather on it
# ---------------------------------------------------------------------------------------------

POOL_PARAMS = ("kernel", "stride", "padding", "dilation", "ceil_mode")


def pool_out_size(size: int, kernel: int, stride: int, pad: int, dilation: int, ceil_mode: bool) -> int:
    """Output length of a pooling window along one axis (PyTorch's rule, including ceil_mode's
    "the last window starts inside the input or its left padding")."""
    span = size + 2 * pad - dilation * (kernel - 1) - 1
    out = (math.ceil(span / stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _pool_out_hw(hw, kernel, stride, padding, dilation, ceil_mode):
    return tuple(pool_out_size(hw[a], kernel[a], stride[a], padding[a], dilation[a], ceil_mode) for a in (0, 1))


def _max_pool_indices_impl(x, kernel, stride, padding, dilation, ceil_mode):
    n, c, h, w = x.shape
    oh, ow = _pool_out_hw((h, w), kernel, stride, padding, dilation, ceil_mode)
    if x.dtype in _KERNEL_DTYPES or x.dtype == np.float16:  # (float16 widens exactly, NaN and order kept)
        # The compiled programs' kernel: one pass, padding never wins (the NumPy windows below pad
        # with -inf, which wins a window of -inf values and points outside the image).
        xk = x if x.dtype in _KERNEL_DTYPES else x.astype(np.float32)
        return conv_kernels.max_pool2d_indices(np.ascontiguousarray(xk), *kernel, *stride, *padding, *dilation,
                                               oh, ow)
    # Pad with -inf on the left by `padding` and on the right as far as the last window reaches.
    extra_h = max(0, (oh - 1) * stride[0] + dilation[0] * (kernel[0] - 1) + 1 - h - padding[0])
    extra_w = max(0, (ow - 1) * stride[1] + dilation[1] * (kernel[1] - 1) + 1 - w - padding[1])
    xp = _padded(x, (padding[0], extra_h, padding[1], extra_w), value=-np.inf)
    win = _windows(xp, kernel, (oh, ow), stride, dilation)  # (N, C, KH, KW, OH, OW)
    flat = win.reshape(n, c, kernel[0] * kernel[1], oh, ow)
    k = np.argmax(flat, axis=2)  # first maximum, as PyTorch
    rows = np.arange(oh).reshape(oh, 1) * stride[0] - padding[0] + (k // kernel[1]) * dilation[0]
    cols = np.arange(ow) * stride[1] - padding[1] + (k % kernel[1]) * dilation[1]
    return (rows * w + cols).astype(np.int64)


def _max_pool_indices_rule(x, kernel, stride, padding, dilation, ceil_mode):
    return (*x.shape[:2], *_pool_out_hw(x.shape[2:], kernel, stride, padding, dilation, ceil_mode)), np.dtype(
        np.int64)


MAX_POOL2D_INDICES = Primitive("max_pool2d_indices", _max_pool_indices_impl, _max_pool_indices_rule, None, OTHER,
                               "", params=POOL_PARAMS)


def max_pool2d_indices(x, kernel, stride, padding, dilation, ceil_mode):
    """For each pooling window of a 4-D x, the flat index (h * W + w) of its first maximum."""
    return bind(MAX_POOL2D_INDICES, x, kernel=tuple(kernel), stride=tuple(stride), padding=tuple(padding),
                dilation=tuple(dilation), ceil_mode=bool(ceil_mode))


def _adaptive_bins(size: int, out: int) -> list:
    """PyTorch's adaptive pooling bins along one axis: [floor(i*size/out), ceil((i+1)*size/out))."""
    return [((i * size) // out, -((-(i + 1) * size) // out)) for i in range(out)]


def _adaptive_max_indices_impl(x, output_size):
    n, c, h, w = x.shape
    oh, ow = output_size
    if x.dtype in _KERNEL_DTYPES:
        return conv_kernels.adaptive_max_pool2d_indices(np.ascontiguousarray(x), oh, ow)
    out = np.empty((n, c, oh, ow), dtype=np.int64)
    for i, (h0, h1) in enumerate(_adaptive_bins(h, oh)):
        for j, (w0, w1) in enumerate(_adaptive_bins(w, ow)):
            k = np.argmax(x[:, :, h0:h1, w0:w1].reshape(n, c, -1), axis=2)
            out[:, :, i, j] = (h0 + k // (w1 - w0)) * w + w0 + k % (w1 - w0)
    return out


ADAPTIVE_MAX_POOL2D_INDICES = Primitive(
    "adaptive_max_pool2d_indices", _adaptive_max_indices_impl,
    lambda x, output_size: ((*x.shape[:2], *output_size), np.dtype(np.int64)), None, OTHER, "",
    params=("output_size",))


def adaptive_max_pool2d_indices(x, output_size):
    """For each adaptive pooling bin of a 4-D x, the flat index (h * W + w) of its first maximum."""
    return bind(ADAPTIVE_MAX_POOL2D_INDICES, x, output_size=tuple(output_size))


CONV_PRIMS = (CONV2D, CONV2D_INPUT_GRAD, CONV2D_WEIGHT_GRAD, MAX_POOL2D_INDICES, ADAPTIVE_MAX_POOL2D_INDICES)
