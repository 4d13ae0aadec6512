"""Direct CUDA kernels for the convolution primitives of jitgrad/prims_conv.py (NCHW, stride,
padding (top, bottom, left, right), dilation, groups) and the argmax of max pooling. Each is a
gather: one thread per output element sums (or searches) what it reads, so there are no atomics
and every run gives the same bits:

- conv2d: one thread per output (n, o, y, x) sums its group's channels and kernel taps;
- conv2d_input_grad: one thread per input element sums the output gradients whose windows
  cover it (the taps where (h + top - i * dh) is a multiple of the stride);
- conv2d_weight_grad: one thread per weight element sums over the batch and output positions;
Sums accumulate in float64 (as the CPU's row kernels do).
- max_pool2d_indices / adaptive_max_pool2d_indices: one thread per window, the flat index
  (h * W + w) of its first maximum, padding read as -inf and a NaN winning (NumPy's argmax,
  which the CPU implementation uses).
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda  # module global: the simulator patches kernel globals

from . import runtime
from .layout import flat


@cuda.jit(cache=True)
def _conv2d(x, w, out, dims, geometry):
    """dims = (N, C, H, W, O, OH, OW, KH, KW, G); geometry = (sh, sw, top, left, dh, dw)."""
    n_, c_, h_, w_, o_, oh_, ow_, kh_, kw_, groups = dims
    sh, sw, top, left, dh, dw = geometry
    cg = c_ // groups
    og = o_ // groups
    for e in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        ox = e % ow_
        oy = (e // ow_) % oh_
        o = (e // (ow_ * oh_)) % o_
        n = e // (ow_ * oh_ * o_)
        c0 = (o // og) * cg
        acc = 0.0
        for c in range(cg):
            for i in range(kh_):
                y = oy * sh - top + i * dh
                if 0 <= y < h_:
                    for j in range(kw_):
                        xx = ox * sw - left + j * dw
                        if 0 <= xx < w_:
                            acc += x[((n * c_ + c0 + c) * h_ + y) * w_ + xx] * w[((o * cg + c) * kh_ + i) * kw_ + j]
        out[e] = acc


@cuda.jit(cache=True)
def _input_grad(g, w, out, dims, geometry):
    """out (N, C, H, W) = the input gradient of conv2d for output gradient g (N, O, OH, OW)."""
    n_, c_, h_, w_, o_, oh_, ow_, kh_, kw_, groups = dims
    sh, sw, top, left, dh, dw = geometry
    cg = c_ // groups
    og = o_ // groups
    for e in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        xx = e % w_
        y = (e // w_) % h_
        c = (e // (w_ * h_)) % c_
        n = e // (w_ * h_ * c_)
        grp = c // cg
        c_in_group = c - grp * cg
        acc = 0.0
        for i in range(kh_):
            ty = y + top - i * dh
            if ty >= 0 and ty % sh == 0 and ty // sh < oh_:
                oy = ty // sh
                for j in range(kw_):
                    tx = xx + left - j * dw
                    if tx >= 0 and tx % sw == 0 and tx // sw < ow_:
                        ox = tx // sw
                        for k in range(og):
                            o = grp * og + k
                            tap = ((o * cg + c_in_group) * kh_ + i) * kw_ + j
                            acc += g[((n * o_ + o) * oh_ + oy) * ow_ + ox] * w[tap]
        out[e] = acc


@cuda.jit(cache=True)
def _weight_grad(x, g, out, dims, geometry):
    """out (O, C/G, KH, KW) = the weight gradient of conv2d for input x and output gradient g."""
    n_, c_, h_, w_, o_, oh_, ow_, kh_, kw_, groups = dims
    sh, sw, top, left, dh, dw = geometry
    cg = c_ // groups
    og = o_ // groups
    for e in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        j = e % kw_
        i = (e // kw_) % kh_
        c = (e // (kw_ * kh_)) % cg
        o = e // (kw_ * kh_ * cg)
        channel = (o // og) * cg + c
        acc = 0.0
        for n in range(n_):
            for oy in range(oh_):
                y = oy * sh - top + i * dh
                if 0 <= y < h_:
                    for ox in range(ow_):
                        xx = ox * sw - left + j * dw
                        if 0 <= xx < w_:
                            acc += g[((n * o_ + o) * oh_ + oy) * ow_ + ox] * x[((n * c_ + channel) * h_ + y) * w_ + xx]
        out[e] = acc


@cuda.jit(device=True)
def _better(v, best):
    """v replaces the running maximum: NumPy's argmax keeps the first NaN, else the first max."""
    if best != best:
        return False
    return v != v or v > best


@cuda.jit(cache=True)
def _max_pool_indices(x, out, dims, geometry):
    """dims = (H, W, OH, OW, KH, KW); geometry = (sh, sw, ph, pw, dh, dw); out int64."""
    h_, w_, oh_, ow_, kh_, kw_ = dims
    sh, sw, ph, pw, dh, dw = geometry
    for e in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        ox = e % ow_
        oy = (e // ow_) % oh_
        plane = e // (ow_ * oh_)
        best = -math.inf
        at = 0
        first = True
        for i in range(kh_):
            y = oy * sh - ph + i * dh
            for j in range(kw_):
                xx = ox * sw - pw + j * dw
                v = -math.inf
                if 0 <= y < h_ and 0 <= xx < w_:
                    v = np.float64(x[(plane * h_ + y) * w_ + xx])
                if first or _better(v, best):
                    best = v
                    at = y * w_ + xx
                    first = False
        out[e] = at


@cuda.jit(cache=True)
def _adaptive_max_indices(x, out, dims):
    """dims = (H, W, OH, OW): bin [floor(i*H/OH), ceil((i+1)*H/OH)) per axis; out int64."""
    h_, w_, oh_, ow_ = dims
    for e in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        ox = e % ow_
        oy = (e // ow_) % oh_
        plane = e // (ow_ * oh_)
        y0 = (oy * h_) // oh_
        y1 = -((-(oy + 1) * h_) // oh_)
        x0 = (ox * w_) // ow_
        x1 = -((-(ox + 1) * w_) // ow_)
        best = np.float64(x[(plane * h_ + y0) * w_ + x0])
        at = y0 * w_ + x0
        for y in range(y0, y1):
            for xx in range(x0, x1):
                v = np.float64(x[(plane * h_ + y) * w_ + xx])
                if _better(v, best):
                    best = v
                    at = y * w_ + xx
        out[e] = at


def _launch(kernel, out, *args) -> None:
    if out.size:
        runtime.launch(kernel, out.size)(*args)


def _geometry(stride, padding, dilation) -> tuple:
    return (int(stride[0]), int(stride[1]), int(padding[0]), int(padding[2]), int(dilation[0]), int(dilation[1]))


def conv2d(x, w, out_shape, stride, padding, dilation, groups):
    """The conv2d primitive: x (N, C, H, W), w (O, C/G, KH, KW) -> out_shape (N, O, OH, OW)."""
    out = runtime.empty(tuple(out_shape), x.dtype)
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    dims = (n, c, h, wd, o, out_shape[2], out_shape[3], kh, kw, int(groups))
    _launch(_conv2d, out, flat(x), flat(w), flat(out), tuple(int(d) for d in dims),
            _geometry(stride, padding, dilation))
    return out


def conv2d_input_grad(g, w, out_shape, stride, padding, dilation, groups):
    """The conv2d_input_grad primitive: g (N, O, OH, OW), w -> the input gradient (out_shape)."""
    out = runtime.empty(tuple(out_shape), g.dtype)
    n, c, h, wd = out_shape
    o, _, kh, kw = w.shape
    dims = (n, c, h, wd, o, g.shape[2], g.shape[3], kh, kw, int(groups))
    _launch(_input_grad, out, flat(g), flat(w), flat(out), tuple(int(d) for d in dims),
            _geometry(stride, padding, dilation))
    return out


def conv2d_weight_grad(x, g, out_shape, stride, padding, dilation, groups):
    """The conv2d_weight_grad primitive: x (N, C, H, W), g (N, O, OH, OW) -> out_shape (O, C/G, KH, KW)."""
    out = runtime.empty(tuple(out_shape), x.dtype)
    n, c, h, wd = x.shape
    o, _, kh, kw = out_shape
    dims = (n, c, h, wd, o, g.shape[2], g.shape[3], kh, kw, int(groups))
    _launch(_weight_grad, out, flat(x), flat(g), flat(out), tuple(int(d) for d in dims),
            _geometry(stride, padding, dilation))
    return out


def max_pool2d_indices(x, out_shape, kernel, stride, padding, dilation):
    """The max_pool2d_indices primitive (padding = (ph, pw)): int64 indices of out_shape."""
    out = runtime.empty(tuple(out_shape), np.int64)
    dims = (x.shape[2], x.shape[3], out_shape[2], out_shape[3], kernel[0], kernel[1])
    geometry = (stride[0], stride[1], padding[0], padding[1], dilation[0], dilation[1])
    _launch(_max_pool_indices, out, flat(x), flat(out), tuple(int(d) for d in dims), tuple(int(v) for v in geometry))
    return out


def adaptive_max_pool2d_indices(x, out_shape):
    """The adaptive_max_pool2d_indices primitive: int64 indices of out_shape."""
    out = runtime.empty(tuple(out_shape), np.int64)
    dims = (x.shape[2], x.shape[3], out_shape[2], out_shape[3])
    _launch(_adaptive_max_indices, out, flat(x), flat(out), tuple(int(d) for d in dims))
    return out


def run(name: str, datas: list, params: dict, shape: tuple):
    """Run the primitive `name` (one of jitgrad/prims_conv.py's) with its declared params."""
    if name == "max_pool2d_indices":
        return max_pool2d_indices(datas[0], shape, params["kernel"], params["stride"], params["padding"],
                                  params["dilation"])
    if name == "adaptive_max_pool2d_indices":
        return adaptive_max_pool2d_indices(datas[0], shape)
    fn = {"conv2d": conv2d, "conv2d_input_grad": conv2d_input_grad, "conv2d_weight_grad": conv2d_weight_grad}[name]
    return fn(datas[0], datas[1], shape, params["stride"], params["padding"], params["dilation"], params["groups"])


PRIMS = ("conv2d", "conv2d_input_grad", "conv2d_weight_grad", "max_pool2d_indices", "adaptive_max_pool2d_indices")
