"""The compiled CPU convolution kernels (kernels/conv.py) against PyTorch, float64, on every
path: columns copied row by row, as shifted planes ("same" stride-1 convolutions) or through the
window table (output rows shorter than conv.SHORT_ROWS); the input gradient as a convolution of
the output gradient (stride 1) or added back from columns."""
from __future__ import annotations

import numpy as np
import pytest

from jitgrad._kernels import conv

torch = pytest.importorskip("torch")

CASES = [  # (N, C, H, W), (O, KH, KW), stride, (top, bottom, left, right), dilation, groups
    ((2, 2, 17, 16), (3, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),    # images of >= COLUMNS outputs: one per GEMM
    ((2, 2, 33, 32), (3, 3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 1),    # the same, strided
    ((9, 4, 2, 3), (5, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),      # small images: several per GEMM
    ((7, 4, 3, 2), (6, 2, 2), (2, 1), (1, 0, 1, 1), (1, 1), 2),      # the same, strided, groups
    ((5, 3, 1, 1), (4, 1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1),      # 1x1 images, 1x1 kernel
    ((2, 3, 7, 6), (4, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),      # "same": shifted planes
    ((2, 4, 5, 5), (6, 3, 3), (1, 1), (0, 0, 0, 0), (1, 1), 2),      # valid, groups
    ((1, 2, 8, 7), (3, 3, 2), (1, 1), (2, 1, 0, 3), (1, 1), 1),      # asymmetric padding
    ((2, 3, 9, 9), (2, 3, 3), (1, 1), (2, 2, 2, 2), (2, 2), 1),      # dilation, "same"
    ((2, 3, 9, 8), (4, 3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 1),      # stride 2
    ((2, 4, 6, 6), (4, 3, 3), (1, 2), (1, 1, 0, 2), (1, 1), 4),      # depthwise, mixed stride
    ((2, 3, 5, 4), (5, 1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1),      # 1x1 reads the image
    ((1, 2, 6, 6), (2, 5, 5), (1, 1), (4, 4, 4, 4), (1, 1), 1),      # padding wider than the image's reach
    ((1, 2, 4, 4), (3, 3, 3), (1, 1), (3, 0, 0, 3), (1, 1), 1),      # padding beyond the kernel: columns way
    ((1, 2, 9, 12), (3, 3, 2), (1, 1), (2, 1, 0, 3), (1, 1), 1),     # rows long enough to copy row by row:
    ((2, 4, 6, 18), (4, 3, 3), (1, 2), (1, 1, 0, 2), (1, 1), 4),     # asymmetric padding; depthwise, strided
    # Winograd's F(2x2, 3x3) (stride-1 3x3 on large enough outputs): forward and both gradients
    ((2, 3, 16, 16), (4, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),    # even output: whole tiles
    ((2, 2, 18, 17), (3, 3, 3), (1, 1), (2, 0, 1, 2), (1, 1), 1),    # asymmetric padding
    ((2, 3, 18, 19), (5, 3, 3), (1, 1), (0, 0, 0, 0), (1, 1), 1),    # valid: odd output width, partial tiles
    ((8, 32, 8, 8), (16, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),    # O*C and the tiles' rows 2^k: padded strides
]
WINOGRAD = CASES[-4:]


def _torch_conv(x, w, stride, pad, dilation, groups):
    xp = torch.nn.functional.pad(x, (pad[2], pad[3], pad[0], pad[1]))
    return torch.nn.functional.conv2d(xp, w, stride=stride, dilation=dilation, groups=groups)


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_kernels_match_torch(case):
    xs, (o, kh, kw), stride, pad, dilation, groups = case
    rng = np.random.default_rng(len(str(case)))
    x = rng.standard_normal(xs)
    w = rng.standard_normal((o, xs[1] // groups, kh, kw))
    tx = torch.from_numpy(x).requires_grad_()
    tw = torch.from_numpy(w).requires_grad_()
    ty = _torch_conv(tx, tw, stride, pad, dilation, groups)
    g = rng.standard_normal(tuple(ty.shape))
    ty.backward(torch.from_numpy(g))
    params = (*stride, *pad, *dilation, groups)
    y = conv.conv2d(x, w, *params, *ty.shape[2:])
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-10, atol=1e-10)
    gx = conv.conv2d_input_grad(g, w, *params, *xs[2:])
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=1e-10, atol=1e-10)
    gw = conv.conv2d_weight_grad(x, g, *params, kh, kw)
    np.testing.assert_allclose(gw, tw.grad.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("case", WINOGRAD, ids=[str(i) for i in range(len(WINOGRAD))])
def test_winograd_cases_take_winograds_path(case):
    """The cases above that name Winograd's path take it, for the forward and both gradients (a
    change of the thresholds must not leave that path untested)."""
    xs, (o, kh, kw), stride, pad, dilation, groups = case
    oh, ow = xs[2] + pad[0] + pad[1] - kh + 1, xs[3] + pad[2] + pad[3] - kw + 1
    assert conv._winograd_applies(kh, kw, *stride, *dilation, groups, pad[0], pad[2], xs[0], oh, ow)
    pt, _, pl, _ = conv._as_conv_pads(kh, kw, *pad, *dilation)
    assert conv._winograd_applies(kh, kw, *stride, *dilation, groups, pt, pl, xs[0], xs[2], xs[3])


def test_winograd_float32_error_is_that_of_the_columns():
    """In float32 Winograd's transforms keep the error of the columns' GEMM (both against float64)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 16, 20, 20)).astype(np.float32)
    w = rng.standard_normal((8, 16, 3, 3)).astype(np.float32)
    params = (1, 1, 1, 1, 1, 1, 1, 1, 1)
    exact = conv._columns_forward(x.astype(np.float64), w.astype(np.float64), *params, 20, 20)
    wino = conv.conv2d(x, w, *params, 20, 20)
    columns = conv._columns_forward(x, w, *params, 20, 20)
    scale = np.abs(exact).max()
    assert np.abs(wino - exact).max() / scale < 2 * max(np.abs(columns - exact).max() / scale, 1e-7)


@pytest.mark.parametrize("window", [(3, 2, 1), (2, 2, 0), (3, 1, 1)], ids=["3x3/2 pad 1", "2x2/2", "3x3/1 pad 1"])
def test_max_pool_indices_match_torch_with_ties_and_nans(window):
    """The first maximum of each window (ties: the first), padding never, a NaN winning: torch's
    indices, on the unrolled 3x3 windows and the general loop alike. (NaNs at most one per window:
    with two, torch takes the last and these kernels the first, as NumPy's argmax.)"""
    k, s, p = window
    rng = np.random.default_rng(5)
    x = rng.integers(-2, 3, (2, 3, 9, 8)).astype(np.float32)
    x[:, :, ::4, ::4][rng.random(x[:, :, ::4, ::4].shape) < 0.3] = np.nan
    _, want = torch.nn.functional.max_pool2d(torch.from_numpy(x), k, s, p, return_indices=True)
    oh, ow = want.shape[2:]
    got = conv.max_pool2d_indices(x, k, k, s, s, p, p, 1, 1, oh, ow)
    np.testing.assert_array_equal(got, want.numpy())


def _first_max_indices(x, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow):
    """Each window's first maximum (row-major order), a NaN winning (the first one), padding never:
    the semantics the kernel keeps, window by window in plain Python."""
    n, c, h, w = x.shape
    out = np.full((n, c, oh, ow), -1, np.int64)
    for b, ch, a, q in np.ndindex(n, c, oh, ow):
        best = None
        for i in range(kh):
            for j in range(kw):
                y, xx = a * sh - ph + i * dh, q * sw - pw + j * dw
                if not (0 <= y < h and 0 <= xx < w):
                    continue
                v = x[b, ch, y, xx]
                if best is None or (not np.isnan(best) and (np.isnan(v) or v > best)):
                    best, out[b, ch, a, q] = v, y * w + xx
    return out


def test_max_pool_indices_are_each_windows_first_maximum_on_random_windows():
    """Kernel sizes, strides, dilations, paddings and image sizes drawn at random (whole 3-wide
    windows read unrolled, clipped ones one by one), with ties, NaNs and -inf: the first maximum."""
    rng = np.random.default_rng(11)
    checked = 0
    while checked < 40:
        kh, kw, sh, sw, dh, dw = (int(v) for v in rng.integers(1, 4, 6))
        ph, pw = int(rng.integers(0, (kh - 1) * dh // 2 + 1)), int(rng.integers(0, (kw - 1) * dw // 2 + 1))
        h, w = (int(v) for v in rng.integers(1, 14, 2))
        oh, ow = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
        if oh <= 0 or ow <= 0:
            continue
        x = rng.integers(-2, 3, (2, 2, h, w)).astype(np.float32)
        x[rng.random(x.shape) < 0.1] = np.nan
        x[rng.random(x.shape) < 0.05] = -np.inf
        params = (kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)
        np.testing.assert_array_equal(conv.max_pool2d_indices(x, *params), _first_max_indices(x, *params),
                                      err_msg=str(params))
        checked += 1
