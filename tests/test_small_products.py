"""kernels.small_products: stacks of small matrix products against np.matmul, for every operand
layout a driver passes (views of permuted projections, transposes, slices of a stack, flips)."""
from __future__ import annotations

import numpy as np
import pytest

from jitgrad._kernels import small_products

RNG = np.random.default_rng(11)
TOL = {"float32": dict(rtol=1e-5, atol=1e-5), "float64": dict(rtol=1e-12, atol=1e-12)}


def _stack(shape, dtype):
    return RNG.standard_normal(shape).astype(dtype)


def _layouts(dtype):
    """(name, a, b, out): every operand and result layout the driver produces, and edge sizes."""
    qkv = _stack((3, 16, 96), dtype).reshape(3, 16, 3, 4, 8).transpose(2, 0, 3, 1, 4)  # (3, 3, 4, 16, 8)
    q, k, v = qkv[0], qkv[1], qkv[2]
    att = _stack((3, 4, 16, 16), dtype)
    permuted_out = np.empty((3, 16, 4, 8), dtype).transpose(0, 2, 1, 3)
    stacked_out = np.empty((3, 3, 4, 16, 8), dtype)[1]
    return [
        ("q @ k^T (b's columns strided)", q, k.transpose(0, 1, 3, 2), np.empty((3, 4, 16, 16), dtype)),
        ("att @ v into a permuted buffer", att, v, permuted_out),
        ("att^T @ q into a slice of a stack", att.transpose(0, 1, 3, 2), q, stacked_out),
        ("contiguous", att, _stack((3, 4, 16, 16), dtype), np.empty((3, 4, 16, 16), dtype)),
        ("odd sides (m % 4, n % tile)", _stack((2, 3, 13, 7), dtype), _stack((2, 3, 7, 19), dtype),
         np.empty((2, 3, 13, 19), dtype)),
        ("negative strides", att[::-1, :, ::-1], att[:, ::-1, :, ::-1],
         np.empty((3, 4, 16, 16), dtype)[::-1, :, :, ::-1]),
        ("3-D stacks", _stack((5, 9, 6), dtype), _stack((5, 6, 33), dtype), np.empty((5, 9, 33), dtype)),
        ("1 x 1 matrices", _stack((4, 2, 1, 1), dtype), _stack((4, 2, 1, 1), dtype), np.empty((4, 2, 1, 1), dtype)),
        ("largest side", _stack((1, 2, 64, 64), dtype), _stack((1, 2, 64, 64), dtype), np.empty((1, 2, 64, 64), dtype)),
    ]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_layout_matches_np_matmul(dtype):
    for name, a, b, out in _layouts(dtype):
        assert small_products.suits(a.shape, b.shape, dtype), name
        out[...] = np.nan
        small_products.product(a, b, out)
        np.testing.assert_allclose(out, np.matmul(a.astype(np.float64), b.astype(np.float64)), err_msg=name,
                                   **TOL[dtype])


def test_empty_inner_dimension_gives_zeros_and_empty_stacks_write_nothing():
    out = np.full((2, 3, 4, 5), 7.0, np.float32)
    small_products.product(np.ones((2, 3, 4, 0), np.float32), np.ones((2, 3, 0, 5), np.float32), out)
    assert (out == 0).all()
    empty = np.empty((0, 3, 4, 5), np.float32)
    small_products.product(np.ones((0, 3, 4, 2), np.float32), np.ones((0, 3, 2, 5), np.float32), empty)


def test_read_only_operands_are_multiplied_too():
    a, b = _stack((2, 3, 4, 5), "float32"), _stack((2, 3, 5, 6), "float32")
    a.flags.writeable = False
    out = np.empty((2, 3, 4, 6), np.float32)
    small_products.product(a, b, out)
    np.testing.assert_allclose(out, a @ b, rtol=1e-5, atol=1e-5)


def test_only_unbroadcast_stacks_of_small_float_matrices_suit():
    assert small_products.suits((2, 4, 16, 16), (2, 4, 16, 16), "float32")
    assert not small_products.suits((2, 4, 16, 16), (1, 4, 16, 16), "float32")  # broadcast batch: np.matmul
    assert not small_products.suits((2, 4, 16, 65), (2, 4, 65, 16), "float32")  # beyond MAX_SIDE: BLAS
    assert not small_products.suits((2, 16, 16), (2, 16, 16), "int64")
    assert not small_products.suits((2, 2, 2, 16, 16), (2, 2, 2, 16, 16), "float32")  # 5-D
    assert not small_products.suits((16, 16), (16, 16), "float32")  # matrices go to BLAS


def test_the_committed_tiles_module_is_the_generators_output():
    """kernels/small_product_tiles.py is generated: edit small_products.py and run write_tiles()."""
    from pathlib import Path
    committed = Path(small_products.__file__).with_name("small_product_tiles.py").read_text(encoding="utf-8")
    assert committed == small_products.module_source() + "\n"
    assert "c3_15 += x3 * y15" in committed and "def product_float64(" in committed
