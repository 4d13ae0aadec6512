"""The matrix product compiled code calls through a bound symbol (kernels.blas_call): the same
values as NumPy for every operand layout, and kernels that call it without linking its code in."""
from __future__ import annotations

import numba
import numpy as np
import pytest

from jitgrad._kernels import blas_call, library

RNG = np.random.default_rng(7)


@numba.njit
def _product(a, b):
    out = np.empty((a.shape[0], b.shape[1]), a.dtype)
    blas_call.product_into(a, b, out)
    return out


def _layouts(a, b):
    """(name, a, b): contiguous, transposed views, negative strides, every other row or column."""
    return [("C", a, b), ("a transposed view", np.ascontiguousarray(a.T).T, b),
            ("b column-major", a, np.asfortranarray(b)), ("reversed", a[::-1], b[:, ::-1]),
            ("strided", np.repeat(a, 2, axis=0)[::2], np.repeat(b, 2, axis=1)[:, ::2])]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_bound_product_equals_numpy_for_every_layout(dtype):
    a = RNG.standard_normal((7, 5)).astype(dtype)
    b = RNG.standard_normal((5, 3)).astype(dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for name, x, y in _layouts(a, b):
        np.testing.assert_allclose(_product(x, y), x @ y, rtol=tol, atol=tol, err_msg=name)


@pytest.mark.parametrize("shapes", [((0, 5), (5, 3)), ((4, 0), (0, 3)), ((4, 5), (5, 0))])
def test_empty_products_have_the_product_shape_and_zeros(shapes):
    a, b = (np.ones(s, np.float32) for s in shapes)
    out = _product(a, b)
    assert out.shape == (shapes[0][0], shapes[1][1]) and not out.any()


def test_misaligned_operands_raise_a_value_error():
    with pytest.raises(ValueError, match="not aligned"):
        _product(np.ones((2, 3), np.float32), np.ones((4, 2), np.float32))


def test_a_kernel_calls_the_product_by_symbol_instead_of_linking_it():
    @numba.njit
    def kernel(a, b):
        return library.matmul2d(a, b)

    a, b = np.ones((4, 3), np.float32), np.ones((3, 2), np.float32)
    np.testing.assert_array_equal(kernel(a, b), a @ b)
    ir = next(iter(kernel.inspect_llvm().values()))
    assert "@jitgrad_product_f32(" in ir
    assert "jitgrad_sgemm" not in ir  # (the gemm call lives in the bound function only)


def test_a_generated_module_names_the_products_it_calls_for_its_warm_load():
    """A warm load binds (loads from disk) only the products the module's marker line names: a
    float32 program with a float64 accumulator binds the float32 product alone."""
    import jitgrad as jg
    from jitgrad._kernels import cache

    def loss(w, x):
        return (x @ w).sum()

    w, x = np.ones((3, 2), np.float32), np.ones((4, 3), np.float32)
    text = jg.jit(loss).source(w, x)
    assert "# bound products: float32\n" in text
    assert cache._product_dtypes(text) == ["float32"]
    assert cache._product_dtypes("y = lib.matmul2d(a, b)  # float32 and float64 arrays") == ["float32", "float64"]
