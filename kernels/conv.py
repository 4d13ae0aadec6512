"""Convolution and pooling kernels for compiled CPU programs (NCHW, as PyTorch), with their
`spec.Call` rendering. Params everywhere: stride (sh, sw), padding (top, bottom, left, right),
dilation (dh, dw), groups.

Per image and group, the windows are copied to columns (C/G*KH*KW, OH*OW) and multiplied with
the weight in one GEMM on BLAS (kernels/blas.gemm, no copy of the weight per call); a 1x1,
stride-1, unpadded convolution reads the image itself. The weight gradient is g times the
columns (accumulated over images); at stride 1 the input gradient is the convolution of g
with the turned, transposed weight, so all three are GEMMs whose inner dimension is
channels*KH*KW (576 for a 3x3 on 64 channels). Measured at W7 (3x3, 64->64, 32x32, batch 16,
1 thread, CPU ms fwd/input grad/weight grad): 15.7/15.8/16.2 here against 22-30 each for one
GEMM per kernel tap over shifted NHWC rows (inner dimension 64: BLAS ran at half speed).
"""
from __future__ import annotations

import numba
import numpy as np

from .blas import gemm
from .spec import Array, Call

OPS = ("conv2d", "conv2d_input_grad", "conv2d_weight_grad", "max_pool2d_indices", "adaptive_max_pool2d_indices")


# ---------------------------------------------------------------------------------------------
# Columns per image (strides, groups, 1x1)
# ---------------------------------------------------------------------------------------------

@numba.njit(cache=True, inline="always")
def _inside(start, step, size, count):
    """The first and one-past-last q in [0, count) whose position start + q*step is in [0, size)."""
    lo = 0 if start >= 0 else (-start + step - 1) // step
    hi = 0 if start >= size else (size - start + step - 1) // step
    hi = min(max(hi, 0), count)
    return min(lo, hi), hi


@numba.njit(cache=True)
def _fill_columns(cols, x, b, c0, cg, kh, kw, sh, sw, top, left, dh, dw, oh, ow, ld, col0):
    """cols (CG*KH*KW rows, `ld` apart) flat, columns col0..col0+OH*OW: the windows of channels
    c0.. of image b, zero on padding.
    Stride 1 with OW == W (a "same" convolution): each column row is the image plane shifted,
    one contiguous copy, then its padding columns zeroed; otherwise row by row in three runs
    (left padding, the image, right padding), with no test per element. The runs are copied
    between views indexed from 0: indexed at computed offsets into the whole arrays, each access
    carries Numba's negative-index wraparound, which kept the loops from vectorising (ResNet-18's
    7x7/2 stem at batch 8: 1.04 -> 0.67 ms; a valid 3x3 on 64x32x32, batch 16: 11 -> 3.5 ms)."""
    h, w = x.shape[2], x.shape[3]
    p = oh * ow
    xf = x.reshape(-1)
    for ch in range(cg):
        plane = ((b * x.shape[1]) + c0 + ch) * h * w
        for i in range(kh):
            a_lo = min(max(top - i * dh, 0), oh)  # output rows whose input row is inside the image
            a_hi = max(min(h + top - i * dh, oh), a_lo) if sh == 1 else a_lo
            for j in range(kw):
                row = ((ch * kh + i) * kw + j) * ld + col0
                start = j * dw - left
                q_lo, q_hi = _inside(start, sw, w, ow)
                if sh == 1 and sw == 1 and ow == w and a_hi > a_lo and q_hi > q_lo:
                    for k in range(row, row + a_lo * ow):
                        cols[k] = 0
                    first = row + a_lo * ow + q_lo
                    last = row + (a_hi - 1) * ow + q_hi
                    src = plane + (i * dh - top) * w + start - row  # (the shift of x's index from cols')
                    cols[first:last] = xf[first + src:last + src]
                    for a in range(a_lo, a_hi):
                        at = row + a * ow
                        for q in range(q_lo):
                            cols[at + q] = 0
                        for q in range(q_hi, ow):
                            cols[at + q] = 0
                    for k in range(row + a_hi * ow, row + p):
                        cols[k] = 0
                    continue
                n = q_hi - q_lo  # (the image's run in each row: from x's s0, every sw-th)
                s0 = start + q_lo * sw
                for a in range(oh):
                    y = a * sh - top + i * dh
                    dst = cols[row + a * ow:row + (a + 1) * ow]
                    if y < 0 or y >= h or n <= 0:
                        for q in range(ow):
                            dst[q] = 0
                        continue
                    for q in range(q_lo):
                        dst[q] = 0
                    for q in range(q_hi, ow):
                        dst[q] = 0
                    d = dst[q_lo:q_hi]
                    src = xf[plane + y * w + s0:plane + y * w + s0 + (n - 1) * sw + 1]
                    if sw == 1:
                        for q in range(n):
                            d[q] = src[q]
                    elif sw == 2:  # (a constant stride vectorises)
                        for q in range(n):
                            d[q] = src[2 * q]
                    else:
                        for q in range(n):
                            d[q] = src[q * sw]


@numba.njit(cache=True)
def _add_columns(out, cols, b, c0, cg, kh, kw, sh, sw, top, left, dh, dw, oh, ow, ld, col0):
    """The adjoint of _fill_columns: each column entry added into the image position it came from."""
    h, w = out.shape[2], out.shape[3]
    of = out.reshape(-1)
    for ch in range(cg):
        plane = ((b * out.shape[1]) + c0 + ch) * h * w
        for i in range(kh):
            for j in range(kw):
                row = ((ch * kh + i) * kw + j) * ld + col0
                start = j * dw - left
                q_lo, q_hi = _inside(start, sw, w, ow)
                n = q_hi - q_lo
                if n <= 0:
                    continue
                s0 = start + q_lo * sw
                for a in range(oh):
                    y = a * sh - top + i * dh
                    if y < 0 or y >= h:
                        continue
                    src = cols[row + a * ow + q_lo:row + a * ow + q_hi]  # (views from 0, as _fill_columns)
                    dst = of[plane + y * w + s0:plane + y * w + s0 + (n - 1) * sw + 1]
                    if sw == 1:
                        for q in range(n):
                            dst[q] += src[q]
                    else:
                        for q in range(n):
                            dst[q * sw] += src[q]


# Rows shorter than this (small images: ResNet-18's 4x4 and 2x2 stages at 64x64) fill their columns
# through a table of each window position's source instead of row by row: the per-row setup cost
# more than the copies (512 channels at 2x2, batch 8: 0.64 -> 0.12 ms; 256 at 4x4: 0.47 -> 0.11).
SHORT_ROWS = 8


@numba.njit(cache=True)
def _window_table(h, w, kh, kw, sh, sw, top, left, dh, dw, oh, ow):
    """For output rows shorter than SHORT_ROWS: tab[tap*OH*OW + position] = the offset in an image
    plane that the tap reads at that output position, -1 on padding; else an empty table."""
    p = oh * ow
    tab = np.empty(kh * kw * p if ow < SHORT_ROWS else 0, np.int64)
    if tab.size == 0:
        return tab
    for i in range(kh):
        for j in range(kw):
            for a in range(oh):
                y = a * sh - top + i * dh
                for q in range(ow):
                    xq = q * sw - left + j * dw
                    inside = 0 <= y < h and 0 <= xq < w
                    tab[(i * kw + j) * p + a * ow + q] = y * w + xq if inside else -1
    return tab


@numba.njit(cache=True)
def _fill_chunk(cols, x, b0, m, c0, cg, kh, kw, sh, sw, top, left, dh, dw, oh, ow, ld, tab):
    """_fill_columns for images b0..b0+m side by side (image bi at column bi*OH*OW), through the
    window table when there is one."""
    if tab.size == 0:
        for bi in range(m):
            _fill_columns(cols, x, b0 + bi, c0, cg, kh, kw, sh, sw, top, left, dh, dw, oh, ow, ld, bi * oh * ow)
        return
    c, t, p = x.shape[1], kh * kw, oh * ow
    plane_size = x.shape[2] * x.shape[3]
    xf = x.reshape(-1)
    for bi in range(m):
        for ch in range(cg):
            plane = ((b0 + bi) * c + c0 + ch) * plane_size
            image = xf[plane:plane + plane_size]  # (views indexed from 0: see _fill_columns)
            base = ch * t * ld + bi * p
            for tap in range(t):
                dst, sources = cols[base + tap * ld:base + tap * ld + p], tab[tap * p:(tap + 1) * p]
                for q in range(p):
                    s = sources[q]
                    dst[q] = image[max(s, 0)] if s >= 0 else 0


@numba.njit(cache=True)
def _add_chunk(out, cols, b0, m, c0, cg, kh, kw, sh, sw, top, left, dh, dw, oh, ow, ld, tab):
    """The adjoint of _fill_chunk: _add_columns for images b0..b0+m."""
    if tab.size == 0:
        for bi in range(m):
            _add_columns(out, cols, b0 + bi, c0, cg, kh, kw, sh, sw, top, left, dh, dw, oh, ow, ld, bi * oh * ow)
        return
    c, t, p = out.shape[1], kh * kw, oh * ow
    plane_size = out.shape[2] * out.shape[3]
    of = out.reshape(-1)
    for bi in range(m):
        for ch in range(cg):
            plane = ((b0 + bi) * c + c0 + ch) * plane_size
            image = of[plane:plane + plane_size]
            base = ch * t * ld + bi * p
            for tap in range(t):
                src, targets = cols[base + tap * ld:base + tap * ld + p], tab[tap * p:(tap + 1) * p]
                for q in range(p):
                    s = targets[q]
                    if s >= 0:
                        image[s] += src[q]


@numba.njit(cache=True)
def _reads_image(kh, kw, sh, sw, top, bottom, left, right):
    return kh == 1 and kw == 1 and sh == 1 and sw == 1 and top == 0 and bottom == 0 and left == 0 and right == 0


# Images per GEMM: enough for this many product columns. The late layers of a CNN have small
# images (2x2 in ResNet-18's last stage at 64x64): one GEMM per image would read the whole
# weight for 4 columns; a chunk of images reads it once.
COLUMNS = 256


@numba.njit(cache=True)
def _chunk(n, p):
    return max(1, min(n, COLUMNS // max(p, 1)))


@numba.njit(cache=True)
def _gather_rows(buf, ld, src, b0, m, o, o0, og, p):
    """buf[oc, bi*p + q] = src[b0 + bi, o0 + oc, q] (src flat (N, O, P)): images side by side."""
    for bi in range(m):
        for oc in range(og):
            at, frm = oc * ld + bi * p, ((b0 + bi) * o + o0 + oc) * p
            for q in range(p):
                buf[at + q] = src[frm + q]


@numba.njit(cache=True)
def _scatter_rows(dst, buf, ld, b0, m, o, o0, og, p):
    """The inverse of _gather_rows: dst[b0 + bi, o0 + oc, q] = buf[oc, bi*p + q]."""
    for bi in range(m):
        for oc in range(og):
            at, to = oc * ld + bi * p, ((b0 + bi) * o + o0 + oc) * p
            for q in range(p):
                dst[to + q] = buf[at + q]


@numba.njit(cache=True)
def _columns_forward(x, w, sh, sw, top, bottom, left, right, dh, dw, groups, oh, ow):
    o, cg, kh, kw = w.shape
    return _columns_forward_flat(x, w.reshape(-1), False, o, cg, kh, kw, sh, sw, top, bottom, left, right, dh, dw,
                                 groups, oh, ow)


@numba.njit(cache=True)
def _columns_forward_flat(x, flat_w, w_trans, o, cg, kh, kw, sh, sw, top, bottom, left, right, dh, dw, groups, oh, ow):
    """_columns_forward with the weight flat: group g's (O/G, CG*KH*KW) block, or when `w_trans`
    its transpose (CG*KH*KW, O/G), at g*O/G*CG*KH*KW."""
    n, c, h, wd = x.shape
    og = o // groups
    k, p = cg * kh * kw, oh * ow
    lda = og if w_trans else k
    out = np.empty((n, o, oh, ow), x.dtype)
    if out.size == 0:
        return out
    flat_out, flat_x = out.reshape(-1), x.reshape(-1)
    nb = _chunk(n, p)
    ld = nb * p
    direct = nb == 1 and _reads_image(kh, kw, sh, sw, top, bottom, left, right)
    cols = np.empty(0 if direct else k * ld, x.dtype)
    tab = _window_table(h, wd, kh, kw, sh, sw, top, left, dh, dw, oh, ow)
    prod = np.empty(0 if nb == 1 else og * ld, x.dtype)
    for b0 in range(0, n, nb):
        m = min(nb, n - b0)
        for g in range(groups):
            if direct:
                gemm(w_trans, False, og, p, k, flat_w, g * og * k, lda, flat_x, (b0 * c + g * cg) * p, p, 0.0,
                     flat_out, (b0 * o + g * og) * p, p)
                continue
            _fill_chunk(cols, x, b0, m, g * cg, cg, kh, kw, sh, sw, top, left, dh, dw, oh, ow, ld, tab)
            if nb == 1:
                gemm(w_trans, False, og, p, k, flat_w, g * og * k, lda, cols, 0, p, 0.0,
                     flat_out, (b0 * o + g * og) * p, p)
            else:
                gemm(w_trans, False, og, m * p, k, flat_w, g * og * k, lda, cols, 0, ld, 0.0, prod, 0, ld)
                _scatter_rows(flat_out, prod, ld, b0, m, o, g * og, og, p)
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
    nb = _chunk(n, p)
    ld = nb * p
    direct = nb == 1 and _reads_image(kh, kw, sh, sw, top, bottom, left, right)
    cols = np.empty(0 if direct else k * ld, g.dtype)
    tab = _window_table(h, wd, kh, kw, sh, sw, top, left, dh, dw, oh, ow)
    rows = np.empty(0 if nb == 1 else og * ld, g.dtype)
    for b0 in range(0, n, nb):
        m = min(nb, n - b0)
        for gi in range(groups):
            if direct:
                gemm(True, False, k, p, og, flat_w, gi * og * k, k, flat_g, (b0 * o + gi * og) * p, p, 0.0,
                     flat_out, (b0 * c + gi * cg) * p, p)
                continue
            if nb == 1:
                gemm(True, False, k, p, og, flat_w, gi * og * k, k, flat_g, (b0 * o + gi * og) * p, p, 0.0, cols, 0, p)
            else:
                _gather_rows(rows, ld, flat_g, b0, m, o, gi * og, og, p)
                gemm(True, False, k, m * p, og, flat_w, gi * og * k, k, rows, 0, ld, 0.0, cols, 0, ld)
            _add_chunk(out, cols, b0, m, gi * cg, cg, kh, kw, sh, sw, top, left, dh, dw, oh, ow, ld, tab)
    return out


@numba.njit(cache=True)
def _columns_weight_grad(x, g, sh, sw, top, bottom, left, right, dh, dw, groups, kh, kw):
    n, c, h, wd = x.shape
    o, oh, ow = g.shape[1], g.shape[2], g.shape[3]
    og, cg = o // groups, c // groups
    k, p = cg * kh * kw, oh * ow
    if o * cg * kh * kw == 0 or n == 0 or p == 0:
        return np.zeros((o, cg, kh, kw), x.dtype)
    # The first chunk's GEMM writes the sum (beta 0), the others add to it: no zero-filled pass over
    # the weight-sized output (ResNet-18's last stage: 9.4 MB per call for 32 product columns).
    out = np.empty((o, cg, kh, kw), x.dtype)
    flat_out, flat_x, flat_g = out.reshape(-1), x.reshape(-1), g.reshape(-1)
    nb = _chunk(n, p)
    ld = nb * p
    direct = nb == 1 and _reads_image(kh, kw, sh, sw, top, bottom, left, right)
    cols = np.empty(0 if direct else k * ld, x.dtype)
    tab = _window_table(h, wd, kh, kw, sh, sw, top, left, dh, dw, oh, ow)
    rows = np.empty(0 if nb == 1 else og * ld, x.dtype)
    for b0 in range(0, n, nb):
        m = min(nb, n - b0)
        beta = 0.0 if b0 == 0 else 1.0
        for gi in range(groups):
            if direct:
                gemm(False, True, og, k, p, flat_g, (b0 * o + gi * og) * p, p, flat_x, (b0 * c + gi * cg) * p, p,
                     beta, flat_out, gi * og * k, k)
                continue
            _fill_chunk(cols, x, b0, m, gi * cg, cg, kh, kw, sh, sw, top, left, dh, dw, oh, ow, ld, tab)
            if nb == 1:
                gemm(False, True, og, k, p, flat_g, (b0 * o + gi * og) * p, p, cols, 0, p, beta,
                     flat_out, gi * og * k, k)
            else:
                _gather_rows(rows, ld, flat_g, b0, m, o, gi * og, og, p)
                gemm(False, True, og, k, m * p, rows, 0, ld, cols, 0, ld, beta, flat_out, gi * og * k, k)
    return out


@numba.njit(cache=True)
def _flipped_transposed(w, groups):
    """The weight of the convolution that computes a stride-1 convolution's input gradient from
    its output gradient, stored transposed (as _columns_forward_flat's `w_trans` reads it): for
    group g, the (O/G*KH*KW, C/G) matrix [(oc, i, j), ch] = w[g*O/G + oc, ch, KH-1-i, KW-1-j].
    Each output channel's block is written from its own contiguous weights (no strided pass
    over the whole weight)."""
    o, cg, kh, kw = w.shape
    t = kh * kw
    out = np.empty(o * cg * t, w.dtype)
    flat = w.reshape(-1)
    for oc in range(o):  # (the groups' blocks follow each other, as the output channels do)
        base = oc * t * cg
        for ch in range(cg):
            src = (oc * cg + ch) * t
            for tap in range(t):
                out[base + (t - 1 - tap) * cg + ch] = flat[src + tap]
    return out


@numba.njit(cache=True)
def _as_conv_pads(kh, kw, top, bottom, left, right, dh, dw):
    """Padding of the input gradient as a convolution of the output gradient (stride 1): the
    kernel's reach less the forward's padding, on each side (negative: that way does not apply)."""
    return dh * (kh - 1) - top, dh * (kh - 1) - bottom, dw * (kw - 1) - left, dw * (kw - 1) - right


# ---------------------------------------------------------------------------------------------
# Winograd F(2x2, 3x3): stride-1 3x3 convolutions on large images
# ---------------------------------------------------------------------------------------------
# Each 2x2 output tile is A^T [(G w G^T) * (B^T d B)] A over its 4x4 input patch d: 16 products
# per tile where the columns' GEMM makes 36 (2.25x fewer multiplications), as 16 GEMMs
# (O x C) @ (C x tiles), one per position of the 4x4 transformed tile. Measured at W7 (3x3, 64->64,
# 32x32, batch 16, 1 thread, ms): forward 11 against 16-17.8 through columns, input gradient 11
# against 16.3, weight gradient (the adjoint steps) 11.6 against 19.3; the error is that of the
# columns (~5e-7 relative in float32). Small images lose: the weight's transform (16 x O x C)
# outgrows the work (ResNet-18's 512-channel 2x2 stage: 15 against 2.9 ms for the forward).
WINOGRAD_MIN_PIXELS = 64  # per image (ResNet-18 at 64x64: its 8x8 stage gains, its 4x4 one loses)
WINOGRAD_MIN_OUTPUTS = 512  # per channel over the batch: below, the weight's transform dominates


@numba.njit(cache=True)
def _winograd_applies(kh, kw, sh, sw, dh, dw, groups, top, left, n, oh, ow):
    """Whether a convolution (of n images into OH x OW outputs) goes through Winograd's transforms."""
    return kh == 3 and kw == 3 and sh == 1 and sw == 1 and dh == 1 and dw == 1 and groups == 1 \
        and top >= 0 and left >= 0 and oh * ow >= WINOGRAD_MIN_PIXELS and n * oh * ow >= WINOGRAD_MIN_OUTPUTS


@numba.njit(cache=True)
def _winograd_weights(w, turned):
    """U[k] = G g G^T at position k of the 4x4 tile for each 3x3 kernel g, G = [[1, 0, 0],
    [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]], from w (O, C, 3, 3): row k of the result holds
    U[k] as an (O, C) matrix; when `turned`, those of the input gradient's convolution, (C, O),
    with g = w[o, c] rotated by 180 degrees. Pairs go in blocks of 16: their kernels gathered entry
    by entry, then each position written as a run along the block, in a loop across pairs that
    vectorises. The rows are _padded_stride apart (128 channels each way: 0.79 -> 0.15 ms)."""
    o, c = w.shape[0], w.shape[1]
    uf = np.empty((16, _padded_stride(o * c)), w.dtype)
    wf = w.reshape(-1)
    half = w.dtype.type(0.5)
    outer, inner = (c, o) if turned else (o, c)
    g = np.empty((9, 16), w.dtype)  # (a block's kernels, entry by entry)
    step = 9 * c if turned else 9  # (from one pair's kernel to the next's along the inner loop)
    for i in range(outer):
        for j0 in range(0, inner, 16):
            count = min(16, inner - j0)
            first = (j0 * c + i) * 9 if turned else (i * inner + j0) * 9  # (w[o, c] of the block's first pair)
            for r in range(9):
                src = 8 - r if turned else r  # (turned: g[r // 3, r % 3] = w[2 - r // 3, 2 - r % 3])
                for k in range(count):
                    g[r, k] = wf[first + k * step + src]
            e = i * inner + j0  # (the block's first column in U)
            for k in range(count):
                g00, g01, g02 = g[0, k], g[1, k], g[2, k]
                g10, g11, g12 = g[3, k], g[4, k], g[5, k]
                g20, g21, g22 = g[6, k], g[7, k], g[8, k]
                # G g: g's row 0, half the rows' sum, half their alternating sum, row 2; then each row
                # (t0, t1, t2) -> (t0, half the sum, half the alternating sum, t2)
                t10, t11, t12 = half * (g00 + g10 + g20), half * (g01 + g11 + g21), half * (g02 + g12 + g22)
                t20, t21, t22 = half * (g00 - g10 + g20), half * (g01 - g11 + g21), half * (g02 - g12 + g22)
                uf[0, e + k] = g00
                uf[1, e + k] = half * (g00 + g01 + g02)
                uf[2, e + k] = half * (g00 - g01 + g02)
                uf[3, e + k] = g02
                uf[4, e + k] = t10
                uf[5, e + k] = half * (t10 + t11 + t12)
                uf[6, e + k] = half * (t10 - t11 + t12)
                uf[7, e + k] = t12
                uf[8, e + k] = t20
                uf[9, e + k] = half * (t20 + t21 + t22)
                uf[10, e + k] = half * (t20 - t21 + t22)
                uf[11, e + k] = t22
                uf[12, e + k] = g20
                uf[13, e + k] = half * (g20 + g21 + g22)
                uf[14, e + k] = half * (g20 - g21 + g22)
                uf[15, e + k] = g22
    return uf


@numba.njit(cache=True)
def _padded_stride(size):
    """A row length of at least `size` elements that is no multiple of 4 KiB in bytes for float32
    or float64 (one cache line more where it would be): the 16 rows of a Winograd transform written
    or read side by side then fall in different cache sets. 16 streams a power-of-two size apart
    (O*C with 2^k channels) evicted each other from the same sets: 5x slower."""
    return size + 16 if size % 512 == 0 else size


@numba.njit(cache=True, fastmath={"contract"})
def _winograd_conv(x, uf, o, top, left, oh, ow):
    """The stride-1 3x3 convolution (N, C, H, W) -> (N, O, OH, OW) of x with the transformed weight
    uf (_winograd_weights: row k the (O, C) matrix U[k]), padded `top` and `left` (the far sides
    follow from OH, OW). Images go through in chunks of about COLUMNS tiles: per chunk the input
    tiles' transforms V (16, C, tiles) = B^T d B, 16 GEMMs M = U V, and the outputs A^T M A."""
    n, c, h, wd = x.shape
    us = uf.shape[1]
    th, tw = (oh + 1) // 2, (ow + 1) // 2
    t = th * tw
    out = np.empty((n, o, oh, ow), x.dtype)
    if out.size == 0:
        return out
    if c == 0:
        out[...] = 0
        return out
    nb = max(1, min(n, COLUMNS // t))
    cols = nb * t
    hp, wp = 2 * th + 2, 2 * tw + 2
    xp = np.zeros((hp, wp), x.dtype)  # one padded channel; the border stays zero
    # Per channel the 16 positions' rows side by side (no 16 streams a page apart), the channels
    # _padded_stride apart (GEMM rows 2^k floats apart: 10-20% slower products)
    ld = _padded_stride(16 * cols)
    v = np.empty((c, ld), x.dtype)
    m = np.empty((o, ld), x.dtype)
    uflat, vf, mf = uf.reshape(-1), v.reshape(-1), m.reshape(-1)
    r = np.empty((4, wp), x.dtype)
    even = oh % 2 == 0 and ow % 2 == 0
    for b0 in range(0, n, nb):
        mb = min(nb, n - b0)
        for bi in range(mb):
            _winograd_inputs(x, b0 + bi, bi * t, top, left, th, tw, xp, r, v, cols)
        for k in range(16):
            gemm(False, False, o, mb * t, c, uflat, k * us, c, vf, k * cols, ld, 0.0, mf, k * cols, ld)
        for bi in range(mb):  # A^T M A per tile
            b = b0 + bi
            for oc in range(o):
                mo = m[oc, :16 * cols].reshape(16, cols)  # (row k: position k of each tile)
                for ty in range(th):
                    ya = 2 * ty
                    at = bi * t + ty * tw
                    for tx in range(tw):
                        q = np.uint64(at + tx)  # (unsigned: no wraparound test per access, see _fill_columns)
                        s00 = mo[0, q] + mo[4, q] + mo[8, q]
                        s01 = mo[1, q] + mo[5, q] + mo[9, q]
                        s02 = mo[2, q] + mo[6, q] + mo[10, q]
                        s03 = mo[3, q] + mo[7, q] + mo[11, q]
                        s10 = mo[4, q] - mo[8, q] - mo[12, q]
                        s11 = mo[5, q] - mo[9, q] - mo[13, q]
                        s12 = mo[6, q] - mo[10, q] - mo[14, q]
                        s13 = mo[7, q] - mo[11, q] - mo[15, q]
                        xa = 2 * tx
                        if even:  # (whole tiles only)
                            out[b, oc, ya, xa] = s00 + s01 + s02
                            out[b, oc, ya, xa + 1] = s01 - s02 - s03
                            out[b, oc, ya + 1, xa] = s10 + s11 + s12
                            out[b, oc, ya + 1, xa + 1] = s11 - s12 - s13
                            continue
                        out[b, oc, ya, xa] = s00 + s01 + s02  # (the last tiles' outputs beyond the image dropped)
                        if xa + 1 < ow:
                            out[b, oc, ya, xa + 1] = s01 - s02 - s03
                        if ya + 1 < oh:
                            out[b, oc, ya + 1, xa] = s10 + s11 + s12
                            if xa + 1 < ow:
                                out[b, oc, ya + 1, xa + 1] = s11 - s12 - s13
    return out


@numba.njit(cache=True, fastmath={"contract"})
def _winograd_inputs(x, b, col0, top, left, th, tw, xp, r, v, cols):
    """v[ch, k*cols + col0 + ty*tw + tx] = (B^T d B)[k] for the 4x4 patch d at (2 ty, 2 tx) of channel ch of
    image b padded by (top, left), B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]:
    row combinations on the tile row's 4 padded rows (r), then column combinations per tile. xp is
    one padded channel whose border is zero; r holds 4 rows of its width."""
    c, h, wd = x.shape[1], x.shape[2], x.shape[3]
    hp, wp = xp.shape[0], xp.shape[1]
    y0, y1 = min(top, hp), min(top + h, hp)  # the rows and columns of xp the image fills
    x0, x1 = min(left, wp), min(left + wd, wp)
    for ch in range(c):
        for yy in range(y0, y1):  # (views indexed from 0: see _fill_columns)
            dst, src = xp[yy, x0:x1], x[b, ch, yy - top, x0 - left:x1 - left]
            for q in range(x1 - x0):
                dst[q] = src[q]
        for ty in range(th):
            ya = 2 * ty
            for q in range(wp):
                d0, d1, d2, d3 = xp[ya, q], xp[ya + 1, q], xp[ya + 2, q], xp[ya + 3, q]
                r[0, q] = d0 - d2
                r[1, q] = d1 + d2
                r[2, q] = d2 - d1
                r[3, q] = d1 - d3
            at = col0 + ty * tw
            vc = v[ch]
            for i in range(4):
                row = np.uint64(4 * i * cols + at)  # (unsigned: no wraparound test per store, see _fill_columns)
                s1, s2, s3 = np.uint64(cols), np.uint64(2 * cols), np.uint64(3 * cols)
                ri = r[i]
                for tx in range(tw):
                    e0, e1, e2, e3 = ri[2 * tx], ri[2 * tx + 1], ri[2 * tx + 2], ri[2 * tx + 3]
                    k = row + np.uint64(tx)
                    vc[k] = e0 - e2
                    vc[k + s1] = e1 + e2
                    vc[k + s2] = e2 - e1
                    vc[k + s3] = e1 - e3


@numba.njit(cache=True, fastmath={"contract"})
def _winograd_weight_grad(x, g, top, left):
    """The weight gradient (O, C, 3, 3) of the stride-1 3x3 convolution of x (padded `top`,
    `left`) for its output gradient g (N, O, OH, OW), by the adjoint of _winograd_conv's steps:
    dW = G^T [sum over tiles of (A dy A^T) * (B^T d B)] G, the sum over tiles of each of the 16
    positions one GEMM (O x tiles) @ (tiles x C), accumulated over chunks of images. A dy A^T of a
    last tile reaching beyond OH or OW takes zeros there (those outputs were dropped)."""
    n, c = x.shape[0], x.shape[1]
    o, oh, ow = g.shape[1], g.shape[2], g.shape[3]
    out = np.zeros((o, c, 3, 3), x.dtype)
    if n == 0 or o == 0 or c == 0 or oh == 0 or ow == 0:
        return out
    th, tw = (oh + 1) // 2, (ow + 1) // 2
    t = th * tw
    nb = max(1, min(n, COLUMNS // t))
    cols = nb * t
    xp = np.zeros((2 * th + 2, 2 * tw + 2), x.dtype)
    r = np.empty((4, 2 * tw + 2), x.dtype)
    ld = _padded_stride(16 * cols)  # (as in _winograd_conv)
    v = np.empty((c, ld), x.dtype)
    dy = np.empty((o, ld), x.dtype)
    ms = _padded_stride(o * c)
    m = np.empty((16, ms), x.dtype)  # (row k: the (O, C) matrix at position k)
    vf, dyf, mf = v.reshape(-1), dy.reshape(-1), m.reshape(-1)
    zero = x.dtype.type(0)
    even = oh % 2 == 0 and ow % 2 == 0
    for b0 in range(0, n, nb):
        mb = min(nb, n - b0)
        for bi in range(mb):
            b = b0 + bi
            _winograd_inputs(x, b, bi * t, top, left, th, tw, xp, r, v, cols)
            for oc in range(o):
                dyo = dy[oc, :16 * cols].reshape(16, cols)
                for ty in range(th):
                    ya = 2 * ty
                    at = bi * t + ty * tw
                    for tx in range(tw):
                        xa = 2 * tx
                        q = np.uint64(at + tx)
                        if even:  # (whole tiles)
                            e00, e01 = g[b, oc, ya, xa], g[b, oc, ya, xa + 1]
                            e10, e11 = g[b, oc, ya + 1, xa], g[b, oc, ya + 1, xa + 1]
                        else:
                            e00 = g[b, oc, ya, xa]
                            e01 = g[b, oc, ya, xa + 1] if xa + 1 < ow else zero
                            e10 = g[b, oc, ya + 1, xa] if ya + 1 < oh else zero
                            e11 = g[b, oc, ya + 1, xa + 1] if ya + 1 < oh and xa + 1 < ow else zero
                        # A e A^T, A = [[1, 0], [1, 1], [1, -1], [0, -1]]: the rows of A e, each f -> f A^T
                        f0, f1 = e00 + e10, e01 + e11
                        h0, h1 = e00 - e10, e01 - e11
                        dyo[0, q] = e00
                        dyo[1, q] = e00 + e01
                        dyo[2, q] = e00 - e01
                        dyo[3, q] = -e01
                        dyo[4, q] = f0
                        dyo[5, q] = f0 + f1
                        dyo[6, q] = f0 - f1
                        dyo[7, q] = -f1
                        dyo[8, q] = h0
                        dyo[9, q] = h0 + h1
                        dyo[10, q] = h0 - h1
                        dyo[11, q] = -h1
                        dyo[12, q] = -e10
                        dyo[13, q] = -e10 - e11
                        dyo[14, q] = e11 - e10
                        dyo[15, q] = e11
        beta = 0.0 if b0 == 0 else 1.0
        for k in range(16):
            gemm(False, True, o, c, mb * t, dyf, k * cols, ld, vf, k * cols, ld, beta, mf, k * ms, c)
    _winograd_weight_output(m, out)
    return out


@numba.njit(cache=True, fastmath={"contract"})
def _winograd_weight_output(m, out):
    """out[o, c] = G^T M G (3 x 3) for each pair's 4x4 M (row k of m: position k, the pairs along
    it), G^T = [[1, 1/2, 1/2, 0], [0, 1/2, -1/2, 0], [0, 1/2, 1/2, 1]]. Pairs go in blocks of 16,
    in a loop across the block that vectorises; each block's 9 x 16 results then copied into place
    (128 channels each way: 0.26 -> 0.1 ms)."""
    pairs = out.shape[0] * out.shape[1]
    of = out.reshape(-1)
    half = m.dtype.type(0.5)
    res = np.empty((9, 16), m.dtype)
    for e0 in range(0, pairs, 16):
        count = min(16, pairs - e0)
        for k in range(count):
            e = e0 + k
            # G^T M: row 0 = M's rows 0 + (1 + 2)/2, row 1 = (1 - 2)/2, row 2 = (1 + 2)/2 + 3; per column j
            a0 = m[0, e] + half * (m[4, e] + m[8, e])
            a1 = m[1, e] + half * (m[5, e] + m[9, e])
            a2 = m[2, e] + half * (m[6, e] + m[10, e])
            a3 = m[3, e] + half * (m[7, e] + m[11, e])
            b0 = half * (m[4, e] - m[8, e])
            b1 = half * (m[5, e] - m[9, e])
            b2 = half * (m[6, e] - m[10, e])
            b3 = half * (m[7, e] - m[11, e])
            c0 = half * (m[4, e] + m[8, e]) + m[12, e]
            c1 = half * (m[5, e] + m[9, e]) + m[13, e]
            c2 = half * (m[6, e] + m[10, e]) + m[14, e]
            c3 = half * (m[7, e] + m[11, e]) + m[15, e]
            # then each row (h0, h1, h2, h3) -> (h0 + (h1 + h2)/2, (h1 - h2)/2, (h1 + h2)/2 + h3)
            res[0, k] = a0 + half * (a1 + a2)
            res[1, k] = half * (a1 - a2)
            res[2, k] = half * (a1 + a2) + a3
            res[3, k] = b0 + half * (b1 + b2)
            res[4, k] = half * (b1 - b2)
            res[5, k] = half * (b1 + b2) + b3
            res[6, k] = c0 + half * (c1 + c2)
            res[7, k] = half * (c1 - c2)
            res[8, k] = half * (c1 + c2) + c3
        for k in range(count):
            for i in range(9):
                of[(e0 + k) * 9 + i] = res[i, k]


# ---------------------------------------------------------------------------------------------
# Entry points (C-contiguous float32/float64 operands)
# ---------------------------------------------------------------------------------------------

@numba.njit(cache=True)
def conv2d(x, w, sh, sw, top, bottom, left, right, dh, dw, groups, oh, ow):
    """conv2d of x (N, C, H, W) with w (O, C/G, KH, KW) into (N, O, OH, OW): Winograd's for a
    stride-1 3x3 convolution on large images, else through columns."""
    if _winograd_applies(w.shape[2], w.shape[3], sh, sw, dh, dw, groups, top, left, x.shape[0], oh, ow):
        return _winograd_conv(x, _winograd_weights(w, False), w.shape[0], top, left, oh, ow)
    return _columns_forward(x, w, sh, sw, top, bottom, left, right, dh, dw, groups, oh, ow)


@numba.njit(cache=True)
def conv2d_input_grad(g, w, sh, sw, top, bottom, left, right, dh, dw, groups, h, wd):
    """The input's gradient (N, C, H, W) of conv2d for the output gradient g (N, O, OH, OW):
    at stride 1 the convolution of g with the turned, transposed weight (one GEMM per image
    with the long dimension O*KH*KW), else W^T g per image (or chunk of small images) added
    back into place; a 3x3 kernel on large images goes through Winograd's transforms. Small
    images take the second way at stride 1 too: there the weight is larger than the activations,
    and turning it (a copy) cost more than the GEMM (ResNet-18's last stage at 64x64: 7.5
    against 4 ms a call)."""
    kh, kw = w.shape[2], w.shape[3]
    pt, pb, pl, pr = _as_conv_pads(kh, kw, top, bottom, left, right, dh, dw)
    big = _chunk(g.shape[0], g.shape[2] * g.shape[3]) == 1  # (small images: no weight copy, see the doc)
    if min(min(pt, pb), min(pl, pr)) >= 0 and _winograd_applies(kh, kw, sh, sw, dh, dw, groups, pt, pl, g.shape[0],
                                                                  h, wd):
        return _winograd_conv(g, _winograd_weights(w, True), w.shape[1], pt, pl, h, wd)
    if big and sh == 1 and sw == 1 and kh * kw > 1 and min(min(pt, pb), min(pl, pr)) >= 0:
        o, cg = w.shape[0], w.shape[1]
        return _columns_forward_flat(g, _flipped_transposed(w, groups), True, cg * groups, o // groups, kh, kw,
                                     1, 1, pt, pb, pl, pr, dh, dw, groups, h, wd)
    return _columns_input_grad(g, w, sh, sw, top, bottom, left, right, dh, dw, groups, h, wd)


@numba.njit(cache=True)
def conv2d_weight_grad(x, g, sh, sw, top, bottom, left, right, dh, dw, groups, kh, kw):
    """The weight's gradient (O, C/G, KH, KW) of conv2d for input x and output gradient g (by
    Winograd's transforms for a stride-1 3x3 convolution on large images, else columns)."""
    if _winograd_applies(kh, kw, sh, sw, dh, dw, groups, top, left, x.shape[0], g.shape[2], g.shape[3]):
        return _winograd_weight_grad(x, g, top, left)
    return _columns_weight_grad(x, g, sh, sw, top, bottom, left, right, dh, dw, groups, kh, kw)


@numba.njit(cache=True)
def _window_range(start, dil, size, k):
    """The kernel offsets i in [lo, hi) whose position start + i*dil lies in [0, size)."""
    lo = 0
    while lo < k and start + lo * dil < 0:
        lo += 1
    hi = k
    while hi > lo and start + (hi - 1) * dil >= size:
        hi -= 1
    return lo, hi


@numba.njit(cache=True)
def max_pool2d_indices(x, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow):
    """For each window, the flat index (h * W + w) of its first maximum; padding never wins and a
    NaN does (the first NaN), as PyTorch. Separable, per image plane: each input row's best over
    every output column's window columns (its column, int32), then each output row's best over its
    window rows in order, which keeps the first maximum (and the first NaN) in row-major order. A
    whole 3-wide window is read unrolled and both passes run along the output columns with selects,
    loops that vectorise (ResNet-18's pool at batch 8: 1.1 ms, against 2.3 for one window at a time
    and 4.9 with branches)."""
    n, c, h, w = x.shape
    if w >= 2 ** 31:
        raise ValueError("max_pool2d: image rows of 2**31 or more elements are not supported")
    out = np.empty((n, c, oh, ow), np.int64)
    rows = np.empty((oh, 2), np.int64)
    cols = np.empty((ow, 2), np.int64)
    for a in range(oh):
        rows[a, 0], rows[a, 1] = _window_range(a * sh - ph, dh, h, kh)
    for q in range(ow):
        cols[q, 0], cols[q, 1] = _window_range(q * sw - pw, dw, w, kw)
    q_lo = 0  # [q_lo, q_hi): the output columns whose windows lie whole inside the image
    while q_lo < ow and not (cols[q_lo, 0] == 0 and cols[q_lo, 1] == kw):
        q_lo += 1
    q_hi = q_lo
    while q_hi < ow and cols[q_hi, 0] == 0 and cols[q_hi, 1] == kw:
        q_hi += 1
    whole = q_hi - q_lo if kw == 3 and dw == 1 else 0  # (columns read unrolled)
    row_best = np.empty((h, ow), x.dtype)
    row_col = np.empty((h, ow), np.int32)  # (-1: the window has no column inside the image)
    best = np.empty(ow, x.dtype)
    xf, of = x.reshape(-1), out.reshape(-1)
    for bc in range(n * c):
        plane = xf[bc * h * w:(bc + 1) * h * w]  # (views indexed from 0: see _fill_columns)
        for y in range(h):
            line, bv, bi = plane[y * w:(y + 1) * w], row_best[y], row_col[y]
            for e in range(ow - whole):  # the other columns, window by window
                q = e + whole if e >= q_lo and whole > 0 else e
                jl, jh = cols[q, 0], cols[q, 1]
                if jl >= jh:
                    bv[q], bi[q] = 0, -1
                    continue
                x0 = q * sw - pw
                b, at = line[x0 + jl * dw], x0 + jl * dw
                for j in range(jl + 1, jh):
                    v = line[x0 + j * dw]
                    take = ((v > b) | (v != v)) & (b == b)
                    b = v if take else b
                    at = x0 + j * dw if take else at
                bv[q], bi[q] = b, np.int32(at)
            for k in range(whole):
                p0 = (q_lo + k) * sw - pw
                v0, v1, v2 = line[p0], line[p0 + 1], line[p0 + 2]
                t1 = ((v1 > v0) | (v1 != v1)) & (v0 == v0)
                b = v1 if t1 else v0
                t2 = ((v2 > b) | (v2 != v2)) & (b == b)
                bv[q_lo + k] = v2 if t2 else b
                bi[q_lo + k] = np.int32(p0 + 2 if t2 else (p0 + 1 if t1 else p0))
        for a in range(oh):
            o = of[(bc * oh + a) * ow:(bc * oh + a + 1) * ow]
            il, ih = rows[a, 0], rows[a, 1]
            if il >= ih:  # (a window of padding rows only)
                for q in range(ow):
                    o[q] = -1
                continue
            y = a * sh - ph + il * dh
            bv, bi = row_best[y], row_col[y]
            for q in range(ow):
                best[q] = bv[q]
                o[q] = y * w + bi[q] if bi[q] >= 0 else -1
            for i in range(il + 1, ih):
                y = a * sh - ph + i * dh
                bv, bi = row_best[y], row_col[y]
                for q in range(ow):
                    v, b = bv[q], best[q]
                    take = ((v > b) | (v != v)) & (b == b) & (bi[q] >= 0)
                    best[q] = v if take else b
                    o[q] = y * w + bi[q] if take else o[q]
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
