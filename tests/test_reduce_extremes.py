"""Compiled max/min reductions run through kernels.library.reduce_max/reduce_min (LLVM's
NaN-propagating maximum/minimum for floats, which vectorise): NumPy's results on rows with NaN,
infinities, ties and a single element, for float and integer dtypes."""
from __future__ import annotations

import numpy as np
import pytest

import jitgrad as jg
from jitgrad._kernels import library, reductions


def _rows(dtype):
    rows = np.array([
        [1.0, 5.0, -2.0, 5.0, 0.5, 3.0, -7.0, 2.0, 4.0, 1.5, 0.0, -1.0, 2.5, 3.5, -0.5, 4.5],
        [np.nan, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0],
        [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, np.nan],
        [-np.inf] * 16,
        [np.inf, -np.inf] * 8,
        [3.0] * 16,
    ])
    return rows.astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("op", ["amax", "amin"])
def test_compiled_row_extremes_match_numpy_with_nan_and_infinities(dtype, op):
    x = _rows(dtype)
    fn = jg.jit(lambda t: getattr(t, op)(-1))
    got = fn(jg.tensor(x)).numpy()
    np.testing.assert_array_equal(got, getattr(np, op)(x, -1))
    assert f"lib.reduce_{op[1:]}(" in fn.source(jg.tensor(x))


def test_compiled_integer_extremes_match_numpy():
    x = np.random.default_rng(4).integers(-50, 50, (5, 24))
    fn = jg.jit(lambda t: (t.amax(-1), t.amin(0)))
    top, low = fn(jg.tensor(x))
    np.testing.assert_array_equal(top.numpy(), x.max(-1))
    np.testing.assert_array_equal(low.numpy(), x.min(0))


def test_python_versions_propagate_nan_like_the_compiled_ones():
    """(the Python run mode calls the helpers' Python bodies)"""
    assert np.isnan(library.reduce_max(np.float32(1), np.float32(np.nan)))
    assert np.isnan(library.reduce_min(np.float32(np.nan), np.float32(1)))
    assert library.reduce_max(2, 7) == 7 and library.reduce_min(2, 7) == 2


def test_cuda_code_keeps_plain_operators():
    """CUDA reductions ask for non-reassociable steps: no CPU library helper in their text."""
    text = reductions.combine("max", "acc", "v", reassociable=False)
    assert "lib." not in text and "v != v" in text
