"""Convolution and pooling kernels for compiled CPU programs (NCHW, as PyTorch), with their
`spec.Call` rendering. Params everywhere: stride (sh, sw), padding (top, bottom, left, right),
dilation (dh, dw), groups.

Two ways to a convolution, both on BLAS (kernels/blas.gemm, no copy of the weight per call):
* stride 1, one group, a kernel wider than 1x1 (most convolutions of a CNN): the padded image
  as NHWC rows (N*Hp*Wp, C); kernel tap (i, j) reads the rows shifted by i*dh*Wp + j*dw, so each
  tap is one GEMM over all images, accumulated in place (beta = 1). Rows that fall on the
  padding are computed and cropped (a few percent of the work). No im2col copy.
* anything else (strides, groups, 1x1): per image and group, the windows copied to columns
  (C/G*KH*KW, OH*OW) and one GEMM with the weight (a 1x1, stride-1, unpadded convolution reads
  the image itself).
The input and weight gradients run the same two ways with the roles of the operands swapped.
"""
from __future__ import annotations

import numba
import numpy as np

from .blas import gemm
from .spec import Array, Call

OPS = ("conv2d", "conv2d_input_grad", "conv2d_weight_grad", "max_pool2d_indices", "adaptive_max_pool2d_indices")


def uses_shift(stride, groups, kernel) -> bool:
    """Whether a convolution takes the shifted-rows way (see the module doc)."""
    return tuple(stride) == (1, 1) and groups == 1 and kernel[0] * kernel[1] > 1


# ---------------------------------------------------------------------------------------------
# Shifted rows (stride 1, one group)
# ---------------------------------------------------------------------------------------------

@numba.njit(cache=True)
def _tap_offsets(kh, kw, dh, dw, wp):
    offsets = np.empty(kh * kw, np.int64)
    for i in range(kh):
        for j in range(kw):
            offsets[i * kw + j] = i * dh * wp + j * dw
    return offsets


@numba.njit(cache=True)
def _image_rows(x, top, left, hp, wp):
    """The zero-padded NHWC image of NCHW x as flat rows (N*Hp*Wp, C)."""
    n, c, h, w = x.shape
    out = np.zeros(n * hp * wp * c, x.dtype)
    for b in range(n):
        for ch in range(c):
            for i in range(h):
                base = ((b * hp + top + i) * wp + left) * c + ch
                for j in range(w):
                    out[base + j * c] = x[b, ch, i, j]
    return out


@numba.njit(cache=True)
def _grad_rows(g, hp, wp):
    """g (N, O, OH, OW) as flat rows (N*Hp*Wp, O) of the forward's layout, zero where cropped."""
    n, o, oh, ow = g.shape
    out = np.zeros(n * hp * wp * o, g.dtype)
    for b in range(n):
        for oc in range(o):
            for i in range(oh):
                base = (b * hp + i) * wp * o + oc
                for j in range(ow):
                    out[base + j * o] = g[b, oc, i, j]
    return out


@numba.njit(cache=True)
def _tap_weights(w):
    """w (O, C, KH, KW) as taps (KH*KW, O, C), flat."""
    o, c, kh, kw = w.shape
    out = np.empty(kh * kw * o * c, w.dtype)
    for oc in range(o):
        for ch in range(c):
            for i in range(kh):
                for j in range(kw):
                    out[((i * kw + j) * o + oc) * c + ch] = w[oc, ch, i, j]
    return out


@numba.njit(cache=True)
def _shift_forward(x, w, top, bottom, left, right, dh, dw, oh, ow):
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    hp, wp = h + top + bottom, wd + left + right
    out = np.empty((n, o, oh, ow), x.dtype)
    if n == 0 or oh <= 0 or ow <= 0 or o == 0:
        return out
    xr = _image_rows(x, top, left, hp, wp)
    wt = _tap_weights(w)
    offsets = _tap_offsets(kh, kw, dh, dw, wp)
    length = n * hp * wp - offsets[-1]
    y = np.empty(length * o, x.dtype)
    for t in range(kh * kw):
        gemm(False, True, length, o, c, xr, offsets[t] * c, c, wt, t * o * c, c, 0.0 if t == 0 else 1.0, y, 0, o)
    for b in range(n):
        for oc in range(o):
            for i in range(oh):
                base = (b * hp + i) * wp * o + oc
                for j in range(ow):
                    out[b, oc, i, j] = y[base + j * o]
    return out


@numba.njit(cache=True)
def _shift_input_grad(g, w, top, bottom, left, right, dh, dw, h, wd):
    n, o, oh, ow = g.shape
    _, c, kh, kw = w.shape
    hp, wp = h + top + bottom, wd + left + right
    out = np.zeros((n, c, h, wd), g.dtype)
    if n == 0 or oh <= 0 or ow <= 0 or c == 0:
        return out
    gr = _grad_rows(g, hp, wp)
    wt = _tap_weights(w)
    offsets = _tap_offsets(kh, kw, dh, dw, wp)
    length = n * hp * wp - offsets[-1]
    gx = np.zeros(n * hp * wp * c, g.dtype)
    for t in range(kh * kw):
        gemm(False, False, length, c, o, gr, 0, o, wt, t * o * c, c, 1.0, gx, offsets[t] * c, c)
    for b in range(n):
        for ch in range(c):
            for i in range(h):
                base = ((b * hp + top + i) * wp + left) * c + ch
                for j in range(wd):
                    out[b, ch, i, j] = gx[base + j * c]
    return out


@numba.njit(cache=True)
def _shift_weight_grad(x, g, top, bottom, left, right, dh, dw, kh, kw):
    n, c, h, wd = x.shape
    o = g.shape[1]
    hp, wp = h + top + bottom, wd + left + right
    out = np.zeros((o, c, kh, kw), x.dtype)
    if n == 0 or g.shape[2] <= 0 or g.shape[3] <= 0 or o == 0 or c == 0:
        return out
    xr = _image_rows(x, top, left, hp, wp)
    gr = _grad_rows(g, hp, wp)
    offsets = _tap_offsets(kh, kw, dh, dw, wp)
    length = n * hp * wp - offsets[-1]
    gt = np.empty(kh * kw * o * c, x.dtype)
    for t in range(kh * kw):
        gemm(True, False, o, c, length, gr, 0, o, xr, offsets[t] * c, c, 0.0, gt, t * o * c, c)
    for oc in range(o):
        for ch in range(c):
            for i in range(kh):
                for j in range(kw):
                    out[oc, ch, i, j] = gt[((i * kw + j) * o + oc) * c + ch]
    return out


# ---------------------------------------------------------------------------------------------
# Columns per image (strides, groups, 1x1)
# ---------------------------------------------------------------------------------------------

@numba.njit(cache=True)
def _fill_columns(cols, x, b, c0, cg, kh, kw, sh, sw, top, left, dh, dw, oh, ow):
    """cols (CG*KH*KW, OH*OW) flat: the windows of channels c0.. of image b, zero on padding."""
    h, w = x.shape[2], x.shape[3]
    p = oh * ow
    for ch in range(cg):
        for i in range(kh):
            for j in range(kw):
                row = ((ch * kh + i) * kw + j) * p
                for a in range(oh):
                    y = a * sh - top + i * dh
                    at = row + a * ow
                    if y < 0 or y >= h:
                        for q in range(ow):
                            cols[at + q] = 0
                        continue
                    for q in range(ow):
                        xc = q * sw - left + j * dw
                        cols[at + q] = x[b, c0 + ch, y, xc] if 0 <= xc < w else 0


@numba.njit(cache=True)
def _add_columns(out, cols, b, c0, cg, kh, kw, sh, sw, top, left, dh, dw, oh, ow):
    """The adjoint of _fill_columns: each column entry added into the image position it came from."""
    h, w = out.shape[2], out.shape[3]
    p = oh * ow
    for ch in range(cg):
        for i in range(kh):
            for j in range(kw):
                row = ((ch * kh + i) * kw + j) * p
                for a in range(oh):
                    y = a * sh - top + i * dh
                    if y < 0 or y >= h:
                        continue
                    at = row + a * ow
                    for q in range(ow):
                        xc = q * sw - left + j * dw
                        if 0 <= xc < w:
                            out[b, c0 + ch, y, xc] += cols[at + q]


@numba.njit(cache=True)
def _reads_image(kh, kw, sh, sw, top, bottom, left, right):
    return kh == 1 and kw == 1 and sh == 1 and sw == 1 and top == 0 and bottom == 0 and left == 0 and right == 0


@numba.njit(cache=True)
def _columns_forward(x, w, sh, sw, top, bottom, left, right, dh, dw, groups, oh, ow):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    og = o // groups
    k, p = cg * kh * kw, oh * ow
    out = np.empty((n, o, oh, ow), x.dtype)
    if out.size == 0:
        return out
    flat_out, flat_w, flat_x = out.reshape(-1), w.reshape(-1), x.reshape(-1)
    direct = _reads_image(kh, kw, sh, sw, top, bottom, left, right)
    cols = np.empty(0 if direct else k * p, x.dtype)
    for b in range(n):
        for g in range(groups):
            if direct:
                gemm(False, False, og, p, k, flat_w, g * og * k, k, flat_x, (b * c + g * cg) * p, p, 0.0,
                     flat_out, (b * o + g * og) * p, p)
            else:
                _fill_columns(cols, x, b, g * cg, cg, kh, kw, sh, sw, top, left, dh, dw, oh, ow)
                gemm(False, False, og, p, k, flat_w, g * og * k, k, cols, 0, p, 0.0, flat_out, (b * o + g * og) * p, p)
    return out


@numba.njit(cache=True)
def _columns_input_grad(g, w, sh, sw, top, bottom, left, right, dh, dw, groups, h, wd):
    n, o, oh, ow = g.shape
    _, cg, kh, kw = w.shape
    og = o // groups
    c = cg * groups
    k, p = cg * kh * kw, oh * ow
    out = np.zeros((n, c, h, wd), g.dtype)
    if out.size == 0 or p == 0 or og == 0:
        return out
    flat_out, flat_w, flat_g = out.reshape(-1), w.reshape(-1), g.reshape(-1)
    direct = _reads_image(kh, kw, sh, sw, top, bottom, left, right)
    cols = np.empty(0 if direct else k * p, g.dtype)
    for b in range(n):
        for gi in range(groups):
            if direct:
                gemm(True, False, k, p, og, flat_w, gi * og * k, k, flat_g, (b * o + gi * og) * p, p, 0.0,
                     flat_out, (b * c + gi * cg) * p, p)
            else:
                gemm(True, False, k, p, og, flat_w, gi * og * k, k, flat_g, (b * o + gi * og) * p, p, 0.0, cols, 0, p)
                _add_columns(out, cols, b, gi * cg, cg, kh, kw, sh, sw, top, left, dh, dw, oh, ow)
    return out


@numba.njit(cache=True)
def _columns_weight_grad(x, g, sh, sw, top, bottom, left, right, dh, dw, groups, kh, kw):
    n, c, h, wd = x.shape
    o, oh, ow = g.shape[1], g.shape[2], g.shape[3]
    og, cg = o // groups, c // groups
    k, p = cg * kh * kw, oh * ow
    out = np.zeros((o, cg, kh, kw), x.dtype)
    if out.size == 0 or n == 0 or p == 0:
        return out
    flat_out, flat_x, flat_g = out.reshape(-1), x.reshape(-1), g.reshape(-1)
    direct = _reads_image(kh, kw, sh, sw, top, bottom, left, right)
    cols = np.empty(0 if direct else k * p, x.dtype)
    for b in range(n):
        for gi in range(groups):
            if direct:
                gemm(False, True, og, k, p, flat_g, (b * o + gi * og) * p, p, flat_x, (b * c + gi * cg) * p, p, 1.0,
                     flat_out, gi * og * k, k)
            else:
                _fill_columns(cols, x, b, gi * cg, cg, kh, kw, sh, sw, top, left, dh, dw, oh, ow)
                gemm(False, True, og, k, p, flat_g, (b * o + gi * og) * p, p, cols, 0, p, 1.0, flat_out, gi * og * k, k)
    return out


# ---------------------------------------------------------------------------------------------
# Entry points (C-contiguous float32/float64 operands)
# ---------------------------------------------------------------------------------------------

@numba.njit(cache=True)
def conv2d(x, w, sh, sw, top, bottom, left, right, dh, dw, groups, oh, ow):
    """conv2d of x (N, C, H, W) with w (O, C/G, KH, KW) into (N, O, OH, OW)."""
    if sh == 1 and sw == 1 and groups == 1 and w.shape[2] * w.shape[3] > 1:
        return _shift_forward(x, w, top, bottom, left, right, dh, dw, oh, ow)
    return _columns_forward(x, w, sh, sw, top, bottom, left, right, dh, dw, groups, oh, ow)


@numba.njit(cache=True)
def conv2d_input_grad(g, w, sh, sw, top, bottom, left, right, dh, dw, groups, h, wd):
    """The input's gradient (N, C, H, W) of conv2d for the output gradient g (N, O, OH, OW)."""
    if sh == 1 and sw == 1 and groups == 1 and w.shape[2] * w.shape[3] > 1:
        return _shift_input_grad(g, w, top, bottom, left, right, dh, dw, h, wd)
    return _columns_input_grad(g, w, sh, sw, top, bottom, left, right, dh, dw, groups, h, wd)


@numba.njit(cache=True)
def conv2d_weight_grad(x, g, sh, sw, top, bottom, left, right, dh, dw, groups, kh, kw):
    """The weight's gradient (O, C/G, KH, KW) of conv2d for input x and output gradient g."""
    if sh == 1 and sw == 1 and groups == 1 and kh * kw > 1:
        return _shift_weight_grad(x, g, top, bottom, left, right, dh, dw, kh, kw)
    return _columns_weight_grad(x, g, sh, sw, top, bottom, left, right, dh, dw, groups, kh, kw)


@numba.njit(cache=True)
def max_pool2d_indices(x, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow):
    """For each window, the flat index (h * W + w) of its first maximum; padding never wins and a
    NaN does (the first NaN), as PyTorch."""
    n, c, h, w = x.shape
    out = np.empty((n, c, oh, ow), np.int64)
    for b in range(n):
        for ch in range(c):
            for a in range(oh):
                for q in range(ow):
                    best = x[b, ch, 0, 0] if h > 0 and w > 0 else 0
                    at = -1
                    for i in range(kh):
                        y = a * sh - ph + i * dh
                        if y < 0 or y >= h:
                            continue
                        for j in range(kw):
                            xc = q * sw - pw + j * dw
                            if xc < 0 or xc >= w:
                                continue
                            v = x[b, ch, y, xc]
                            if at < 0 or ((v > best or v != v) and best == best):
                                best = v
                                at = y * w + xc
                    out[b, ch, a, q] = at
    return out


@numba.njit(cache=True)
def adaptive_max_pool2d_indices(x, oh, ow):
    """For each adaptive bin ([floor(i*H/OH), ceil((i+1)*H/OH)) per axis, as PyTorch), the flat
    index of its first maximum (a NaN wins)."""
    n, c, h, w = x.shape
    out = np.empty((n, c, oh, ow), np.int64)
    for b in range(n):
        for ch in range(c):
            for a in range(oh):
                h0, h1 = (a * h) // oh, ((a + 1) * h + oh - 1) // oh
                for q in range(ow):
                    w0, w1 = (q * w) // ow, ((q + 1) * w + ow - 1) // ow
                    best = x[b, ch, h0, w0]
                    at = h0 * w + w0
                    for y in range(h0, h1):
                        for xc in range(w0, w1):
                            v = x[b, ch, y, xc]
                            if (v > best or v != v) and best == best:
                                best = v
                                at = y * w + xc
                    out[b, ch, a, q] = at
    return out


def call_source(step: Call, arrays: dict[str, Array]) -> str:
    """One line of generated code for a convolution or pooling call; params: see lower_calls.py."""
    out = arrays[step.output]
    ins = [f"np.ascontiguousarray({name})" for name in step.inputs]
    args = ", ".join(ins + [str(int(v)) for v in step.params])
    if step.op not in OPS:
        raise ValueError(f"unknown convolution op {step.op!r}; known: {OPS}")
    return f"{out.name} = lib.{step.op}({args})"
