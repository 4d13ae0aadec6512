"""Compiled matrix products call the BLAS that kernels.blas_entry binds (NumPy's own where found)
and hand it their operands in place through the transpose flags and leading dimensions
(kernels.blas.matmul); the adapters to Numba's np.dot entry point serve where NumPy's is not found."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from jitgrad._kernels import blas, blas_entry, library


def _operands(dtype):
    """(name, a, b) of one product in many layouts: C, Fortran, transposed views, a window of rows
    (row stride larger than the row), reversed rows (a copy is needed), single rows and columns."""
    rng = np.random.default_rng(7)
    a = rng.standard_normal((5, 7)).astype(dtype)
    b = rng.standard_normal((7, 3)).astype(dtype)
    wide_a = rng.standard_normal((5, 11)).astype(dtype)
    yield "C C", a, b
    yield "F F", np.asfortranarray(a), np.asfortranarray(b)
    yield "transposed views", np.ascontiguousarray(a.T).T, np.ascontiguousarray(b.T).T
    yield "row window", wide_a[:, 2:9], b
    yield "reversed rows", a[::-1], b[::-1]
    yield "every other column", wide_a[:, ::2][:, :5], np.repeat(b, 2, axis=1)[:5, ::2]
    yield "one row", a[:1], b
    yield "one column", a, b[:, 1:2]
    yield "one row of a window", wide_a[2:3, 1:8], b
    x, w = rng.standard_normal((3, 600)).astype(dtype), rng.standard_normal((20, 600)).astype(dtype)
    assert blas.computes_transpose(3, 20, 600, 0, 1)
    yield "x @ W.T computed as (W @ x.T).T", x, w.T
    yield "the same from a window of x", rng.standard_normal((3, 700)).astype(dtype)[:, 50:650], w.T


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_matches_numpy_in_every_layout(dtype):
    for name, a, b in _operands(dtype):
        expected = a.astype(np.float64) @ b.astype(np.float64)
        got = library.matmul2d(a, b)
        assert got.dtype == dtype and got.flags.c_contiguous, name
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5, err_msg=name)
        out = np.full(expected.shape, np.nan, dtype)
        library.matmul2d_into(a, b, out)
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5, err_msg=name)


def test_empty_products():
    a, b = np.ones((3, 0), np.float32), np.ones((0, 2), np.float32)
    np.testing.assert_array_equal(library.matmul2d(a, b), np.zeros((3, 2), np.float32))
    out = np.full((3, 2), 5.0)
    blas.matmul_into(np.ones((3, 0)), np.ones((0, 2)), out)
    np.testing.assert_array_equal(out, np.zeros((3, 2)))
    assert library.matmul2d(np.ones((0, 4)), np.ones((4, 2))).shape == (0, 2)


def test_misaligned_shapes_raise():
    with pytest.raises(ValueError, match="not aligned"):
        blas.matmul_into(np.ones((2, 3)), np.ones((4, 2)), np.empty((2, 2)))


def test_vector_products_and_other_dtypes_still_go_through_np_dot():
    m, v = np.arange(6.0).reshape(2, 3), np.arange(3.0)
    np.testing.assert_array_equal(library.matmul2d(m, v), m @ v)
    np.testing.assert_array_equal(library.matmul2d(v, m.T), v @ m.T)
    c = (np.arange(4) + 1j).reshape(2, 2)
    np.testing.assert_allclose(library.matmul2d(c, c), c @ c)


def test_in_place_layout():
    x = np.zeros((4, 6), np.float32)
    assert tuple(blas.in_place_layout(x)) == (0, 6)
    assert tuple(blas.in_place_layout(x.T)) == (1, 6)
    assert tuple(blas.in_place_layout(x[:, 1:4])) == (0, 6)  # rows 6 elements apart
    assert tuple(blas.in_place_layout(x[::2])) == (0, 12)
    assert tuple(blas.in_place_layout(x[::-1])) == (-1, 0)  # (negative row stride: copied)
    assert tuple(blas.in_place_layout(x[:, ::2])) == (-1, 0)
    assert tuple(blas.in_place_layout(x[:1, ::2])) == (1, 2)  # one row: columns of one element, 2 apart


def test_numpy_blas_is_bound_where_found():
    found = blas_entry.numpy_gemm()
    if os.environ.get("JITGRAD_BLAS", "").lower() == "numba" or found is None:
        assert blas_entry.LIBRARY == "numba"
    else:
        assert blas_entry.LIBRARY == "numpy" and set(found) == set(blas_entry.SYMBOLS)


def test_adapters_to_numbas_blas_compute_the_same_products():
    """JITGRAD_BLAS=numba binds the adapters (the path of a NumPy without a findable BLAS)."""
    code = textwrap.dedent("""
        import numpy as np
        from jitgrad._kernels import blas, blas_entry, library
        assert blas_entry.LIBRARY == "numba", blas_entry.LIBRARY
        rng = np.random.default_rng(1)
        for dtype in (np.float32, np.float64):
            a, b = rng.standard_normal((6, 4)).astype(dtype), rng.standard_normal((5, 4)).astype(dtype)
            np.testing.assert_allclose(library.matmul2d(a, b.T), a @ b.T, rtol=1e-5)
            out = np.zeros(6 * 5, dtype)
            blas.gemm(False, True, 6, 5, 4, a.ravel(), 0, 4, b.ravel(), 0, 4, 0.0, out, 0, 5)
            np.testing.assert_allclose(out.reshape(6, 5), a @ b.T, rtol=1e-5)
        print("ok")
    """)
    env = {**os.environ, "JITGRAD_BLAS": "numba"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]


def test_a_cold_product_compiles_one_function_per_layer_and_no_message_formatting(tmp_path):
    """With empty caches, a product's first call compiles matmul2d, its overload and blas's product, each
    once: the layout helpers and the gemm call are inlined (one call site), and no array assignment
    compiles Numba's shape-mismatch message (its string formatting was ~5 s of a cold MLP's 23 s)."""
    code = textwrap.dedent("""
        import json, numpy as np
        from numba.core import event
        names = []
        class Listener(event.Listener):
            def on_start(self, ev):
                d = ev.data.get("dispatcher")
                names.append(getattr(getattr(d, "py_func", None), "__qualname__", str(d)))
            def on_end(self, ev):
                pass
        event.register("numba:compile", Listener())
        from jitgrad._kernels import library
        a = np.ones((4, 3)); b = np.ones((5, 3))
        assert np.array_equal(library.matmul2d(a, b.T), a @ b.T)
        print(json.dumps(names))
    """)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba"), "JITGRAD_CACHE_DIR": str(tmp_path / "jg")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    names = json.loads(out.stdout.strip().splitlines()[-1])
    assert not [n for n in names if "raise_with_shape_context" in n or "join" in n], names
    assert not [n for n in names if "_gemm_into" in n or "in_place_layout" in n], names
    assert sum("matmul2d" in n for n in names) == 1, names
