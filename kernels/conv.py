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
    (left padding, the image, right padding), with no test per element."""
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
                for a in range(oh):
                    y = a * sh - top + i * dh
                    at = row + a * ow
                    if y < 0 or y >= h:
                        for q in range(ow):
                            cols[at + q] = 0
                        continue
                    for q in range(q_lo):
                        cols[at + q] = 0
                    src = plane + y * w + start
                    if sw == 1:
                        for q in range(q_lo, q_hi):
                            cols[at + q] = xf[src + q]
                    else:
                        for q in range(q_lo, q_hi):
                            cols[at + q] = xf[src + q * sw]
                    for q in range(q_hi, ow):
                        cols[at + q] = 0


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
                for a in range(oh):
                    y = a * sh - top + i * dh
                    if y < 0 or y >= h:
                        continue
                    at = row + a * ow
                    dst = plane + y * w + start
                    for q in range(q_lo, q_hi):
                        of[dst + q * sw] += cols[at + q]


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
    prod = np.empty(0 if nb == 1 else og * ld, x.dtype)
    for b0 in range(0, n, nb):
        m = min(nb, n - b0)
        for g in range(groups):
            if direct:
                gemm(w_trans, False, og, p, k, flat_w, g * og * k, lda, flat_x, (b0 * c + g * cg) * p, p, 0.0,
                     flat_out, (b0 * o + g * og) * p, p)
                continue
            for bi in range(m):
                _fill_columns(cols, x, b0 + bi, g * cg, cg, kh, kw, sh, sw, top, left, dh, dw, oh, ow, ld, bi * p)
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
            for bi in range(m):
                _add_columns(out, cols, b0 + bi, gi * cg, cg, kh, kw, sh, sw, top, left, dh, dw, oh, ow, ld, bi * p)
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
    rows = np.empty(0 if nb == 1 else og * ld, x.dtype)
    for b0 in range(0, n, nb):
        m = min(nb, n - b0)
        beta = 0.0 if b0 == 0 else 1.0
        for gi in range(groups):
            if direct:
                gemm(False, True, og, k, p, flat_g, (b0 * o + gi * og) * p, p, flat_x, (b0 * c + gi * cg) * p, p,
                     beta, flat_out, gi * og * k, k)
                continue
            for bi in range(m):
                _fill_columns(cols, x, b0 + bi, gi * cg, cg, kh, kw, sh, sw, top, left, dh, dw, oh, ow, ld, bi * p)
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
    [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]: (16, O, C) from w (O, C, 3, 3); when `turned`,
    those of the input gradient's convolution, (16, C, O) with g = w[o, c] rotated by 180 degrees."""
    o, c = w.shape[0], w.shape[1]
    u = np.empty((16, c, o) if turned else (16, o, c), w.dtype)
    uf = u.reshape(16, o * c)
    half = w.dtype.type(0.5)
    for a in range(o):
        for b in range(c):
            at = b * o + a if turned else a * c + b
            # G g: its columns j (g's rows 0, 1, 2, or 2, 1, 0 and columns turned)
            k0, k2 = (2, 0) if turned else (0, 2)
            c0, c1, c2 = (2, 1, 0) if turned else (0, 1, 2)
            p0, p1, p2 = w[a, b, k0, c0], w[a, b, 1, c0], w[a, b, k2, c0]
            q0, q1, q2 = w[a, b, k0, c1], w[a, b, 1, c1], w[a, b, k2, c1]
            r0, r1, r2 = w[a, b, k0, c2], w[a, b, 1, c2], w[a, b, k2, c2]
            gp = (p0, half * (p0 + p1 + p2), half * (p0 - p1 + p2), p2)
            gq = (q0, half * (q0 + q1 + q2), half * (q0 - q1 + q2), q2)
            gr = (r0, half * (r0 + r1 + r2), half * (r0 - r1 + r2), r2)
            for i in range(4):  # (G g) G^T, row i
                tp, tq, tr = gp[i], gq[i], gr[i]
                uf[i * 4, at] = tp
                uf[i * 4 + 1, at] = half * (tp + tq + tr)
                uf[i * 4 + 2, at] = half * (tp - tq + tr)
                uf[i * 4 + 3, at] = tr
    return u


@numba.njit(cache=True, fastmath={"contract"})
def _winograd_conv(x, u, top, left, oh, ow):
    """The stride-1 3x3 convolution (N, C, H, W) -> (N, O, OH, OW) of x with the transformed weight
    u (16, O, C), padded `top` and `left` (the far sides follow from OH, OW). Images go through in
    chunks of about COLUMNS tiles: per chunk the input tiles' transforms V (16, C, tiles) = B^T d B,
    16 GEMMs M = U V, and the outputs A^T M A."""
    n, c, h, wd = x.shape
    o = u.shape[1]
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
    v = np.empty((c, 16, cols), x.dtype)  # (per channel the 16 positions' rows: no 16 streams a page apart)
    m = np.empty((o, 16, cols), x.dtype)
    uf, vf, mf = u.reshape(-1), v.reshape(-1), m.reshape(-1)
    r = np.empty((4, wp), x.dtype)
    even = oh % 2 == 0 and ow % 2 == 0
    for b0 in range(0, n, nb):
        mb = min(nb, n - b0)
        for bi in range(mb):
            _winograd_inputs(x, b0 + bi, bi * t, top, left, th, tw, xp, r, v)
        for k in range(16):
            gemm(False, False, o, mb * t, c, uf, k * o * c, c, vf, k * cols, 16 * cols, 0.0, mf, k * cols, 16 * cols)
        for bi in range(mb):  # A^T M A per tile
            b = b0 + bi
            for oc in range(o):
                for ty in range(th):
                    ya = 2 * ty
                    at = bi * t + ty * tw
                    for tx in range(tw):
                        q = at + tx
                        s00 = m[oc, 0, q] + m[oc, 4, q] + m[oc, 8, q]
                        s01 = m[oc, 1, q] + m[oc, 5, q] + m[oc, 9, q]
                        s02 = m[oc, 2, q] + m[oc, 6, q] + m[oc, 10, q]
                        s03 = m[oc, 3, q] + m[oc, 7, q] + m[oc, 11, q]
                        s10 = m[oc, 4, q] - m[oc, 8, q] - m[oc, 12, q]
                        s11 = m[oc, 5, q] - m[oc, 9, q] - m[oc, 13, q]
                        s12 = m[oc, 6, q] - m[oc, 10, q] - m[oc, 14, q]
                        s13 = m[oc, 7, q] - m[oc, 11, q] - m[oc, 15, q]
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
def _winograd_inputs(x, b, col0, top, left, th, tw, xp, r, v):
    """v[ch, :, col0 + ty*tw + tx] = B^T d B for the 4x4 patch d at (2 ty, 2 tx) of channel ch of
    image b padded by (top, left), B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]:
    row combinations on the tile row's 4 padded rows (r), then column combinations per tile. xp is
    one padded channel whose border is zero; r holds 4 rows of its width."""
    c, h, wd = x.shape[1], x.shape[2], x.shape[3]
    hp, wp = xp.shape[0], xp.shape[1]
    y0, y1 = min(top, hp), min(top + h, hp)  # the rows and columns of xp the image fills
    x0, x1 = min(left, wp), min(left + wd, wp)
    for ch in range(c):
        for yy in range(y0, y1):
            for xx in range(x0, x1):
                xp[yy, xx] = x[b, ch, yy - top, xx - left]
        for ty in range(th):
            ya = 2 * ty
            for q in range(wp):
                d0, d1, d2, d3 = xp[ya, q], xp[ya + 1, q], xp[ya + 2, q], xp[ya + 3, q]
                r[0, q] = d0 - d2
                r[1, q] = d1 + d2
                r[2, q] = d2 - d1
                r[3, q] = d1 - d3
            at = col0 + ty * tw
            for i in range(4):
                for tx in range(tw):
                    e0, e1, e2, e3 = r[i, 2 * tx], r[i, 2 * tx + 1], r[i, 2 * tx + 2], r[i, 2 * tx + 3]
                    v[ch, i * 4, at + tx] = e0 - e2
                    v[ch, i * 4 + 1, at + tx] = e1 + e2
                    v[ch, i * 4 + 2, at + tx] = e2 - e1
                    v[ch, i * 4 + 3, at + tx] = e1 - e3


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
    v = np.empty((c, 16, cols), x.dtype)
    dy = np.empty((o, 16, cols), x.dtype)
    m = np.empty((16, o, c), x.dtype)
    vf, dyf, mf = v.reshape(-1), dy.reshape(-1), m.reshape(-1)
    zero = x.dtype.type(0)
    even = oh % 2 == 0 and ow % 2 == 0
    for b0 in range(0, n, nb):
        mb = min(nb, n - b0)
        for bi in range(mb):
            b = b0 + bi
            _winograd_inputs(x, b, bi * t, top, left, th, tw, xp, r, v)
            for oc in range(o):
                for ty in range(th):
                    ya = 2 * ty
                    at = bi * t + ty * tw
                    for tx in range(tw):
                        xa = 2 * tx
                        q = at + tx
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
                        dy[oc, 0, q] = e00
                        dy[oc, 1, q] = e00 + e01
                        dy[oc, 2, q] = e00 - e01
                        dy[oc, 3, q] = -e01
                        dy[oc, 4, q] = f0
                        dy[oc, 5, q] = f0 + f1
                        dy[oc, 6, q] = f0 - f1
                        dy[oc, 7, q] = -f1
                        dy[oc, 8, q] = h0
                        dy[oc, 9, q] = h0 + h1
                        dy[oc, 10, q] = h0 - h1
                        dy[oc, 11, q] = -h1
                        dy[oc, 12, q] = -e10
                        dy[oc, 13, q] = -e10 - e11
                        dy[oc, 14, q] = e11 - e10
                        dy[oc, 15, q] = e11
        beta = 0.0 if b0 == 0 else 1.0
        for k in range(16):
            gemm(False, True, o, c, mb * t, dyf, k * cols, 16 * cols, vf, k * cols, 16 * cols, beta, mf, k * o * c, c)
    half = x.dtype.type(0.5)
    for oc in range(o):
        for ch in range(c):
            # G^T M (3 x 4), G^T = [[1, 1/2, 1/2, 0], [0, 1/2, -1/2, 0], [0, 1/2, 1/2, 1]], then each row h -> h G
            for j in range(4):
                m0, m1, m2, m3 = m[j, oc, ch], m[4 + j, oc, ch], m[8 + j, oc, ch], m[12 + j, oc, ch]
                r[0, j] = m0 + half * (m1 + m2)
                r[1, j] = half * (m1 - m2)
                r[2, j] = half * (m1 + m2) + m3
            for i in range(3):
                h0, h1, h2, h3 = r[i, 0], r[i, 1], r[i, 2], r[i, 3]
                out[oc, ch, i, 0] = h0 + half * (h1 + h2)
                out[oc, ch, i, 1] = half * (h1 - h2)
                out[oc, ch, i, 2] = half * (h1 + h2) + h3
    return out


# ---------------------------------------------------------------------------------------------
# Entry points (C-contiguous float32/float64 operands)
# ---------------------------------------------------------------------------------------------

@numba.njit(cache=True)
def conv2d(x, w, sh, sw, top, bottom, left, right, dh, dw, groups, oh, ow):
    """conv2d of x (N, C, H, W) with w (O, C/G, KH, KW) into (N, O, OH, OW): Winograd's for a
    stride-1 3x3 convolution on large images, else through columns."""
    if _winograd_applies(w.shape[2], w.shape[3], sh, sw, dh, dw, groups, top, left, x.shape[0], oh, ow):
        return _winograd_conv(x, _winograd_weights(w, False), top, left, oh, ow)
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
        return _winograd_conv(g, _winograd_weights(w, True), pt, pl, h, wd)
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
def _window_range(start, step, dil, size, k):
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
    NaN does (the first NaN), as PyTorch. Each window's rows and columns inside the image are found
    once per output row and column; a whole 3x3 window is read unrolled, and its running maximum
    kept by selects, not branches (ResNet-18's pool at batch 8: 2.3 against 4.9 ms)."""
    n, c, h, w = x.shape
    out = np.empty((n, c, oh, ow), np.int64)
    rows = np.empty((oh, 2), np.int64)
    cols = np.empty((ow, 2), np.int64)
    for a in range(oh):
        rows[a, 0], rows[a, 1] = _window_range(a * sh - ph, 1, dh, h, kh)
    for q in range(ow):
        cols[q, 0], cols[q, 1] = _window_range(q * sw - pw, 1, dw, w, kw)
    three = kh == 3 and kw == 3 and dh == 1 and dw == 1
    xf, of = x.reshape(-1), out.reshape(-1)
    for bc in range(n * c):
        plane = bc * h * w
        for a in range(oh):
            y0 = a * sh - ph
            il, ih = rows[a, 0], rows[a, 1]
            for q in range(ow):
                x0 = q * sw - pw
                jl, jh = cols[q, 0], cols[q, 1]
                if il >= ih or jl >= jh:  # (a window of padding only)
                    of[(bc * oh + a) * ow + q] = -1
                    continue
                first = (y0 + il * dh) * w + x0 + jl * dw
                best = xf[plane + first]
                at = first
                if three and ih - il == 3 and jh - jl == 3:
                    for k in range(1, 9):
                        pos = first + (k // 3) * w + k % 3
                        v = xf[plane + pos]
                        take = ((v > best) | (v != v)) & (best == best)
                        best = v if take else best
                        at = pos if take else at
                else:
                    for i in range(il, ih):
                        row = (y0 + i * dh) * w + x0
                        for j in range(jl, jh):
                            pos = row + j * dw
                            v = xf[plane + pos]
                            take = ((v > best) | (v != v)) & (best == best)
                            best = v if take else best
                            at = pos if take else at
                of[(bc * oh + a) * ow + q] = at
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
