"""Tensor factories: dtypes, values, memory sharing, and seeded random generation."""
from __future__ import annotations

import numpy as np
import pytest

import jitgrad as jg


def test_tensor_infers_dtype_and_copies():
    a = np.array([1.0, 2.0])
    t = jg.tensor(a)
    assert t.dtype == jg.float64  # a NumPy array keeps its dtype
    a[0] = 9
    assert t.tolist() == [1.0, 2.0]
    assert jg.tensor([1.0, 2]).dtype == jg.float32  # Python floats: the default dtype
    assert jg.tensor([1, 2]).dtype == jg.int64
    assert jg.tensor([True]).dtype == jg.bool
    assert jg.tensor(3.5).shape == () and jg.tensor([[1], [2]]).shape == (2, 1)
    assert jg.tensor([1, 2], dtype=jg.float64).dtype == jg.float64


def test_as_tensor_and_from_numpy_share_memory():
    a = np.arange(3.0)
    for t in (jg.as_tensor(a), jg.from_numpy(a)):
        a[1] = 7
        assert t.tolist()[1] == 7
        t.numpy()[2] = 5
        assert a[2] == 5
    t = jg.tensor([1.0])
    assert jg.as_tensor(t) is t
    with pytest.raises(TypeError, match="np.ndarray"):
        jg.from_numpy([1, 2])


def test_zeros_ones_full_and_like():
    assert jg.zeros(2, 3).tolist() == [[0.0] * 3] * 2 and jg.zeros((2, 3)).shape == (2, 3)
    assert jg.ones(2).dtype == jg.float32 and jg.ones(2, dtype=jg.int64).dtype == jg.int64
    f = jg.full((2,), 1.5)
    assert f.tolist() == [1.5, 1.5] and f.dtype == jg.float32
    assert jg.full((2,), 3).dtype == jg.int64
    x = jg.ones(2, 3, dtype=jg.float64)
    for like, value in [(jg.zeros_like(x), 0), (jg.ones_like(x), 1), (jg.full_like(x, 4.0), 4)]:
        assert like.shape == (2, 3) and like.dtype == jg.float64 and np.all(like.numpy() == value)
    assert jg.zeros_like(x, dtype=jg.int32).dtype == jg.int32
    assert jg.ones(2, requires_grad=True).requires_grad
    with pytest.raises(ValueError, match="non-negative"):
        jg.zeros(-1)


def test_arange_int_vs_float():
    assert jg.arange(5).dtype == jg.int64 and jg.arange(5).tolist() == [0, 1, 2, 3, 4]
    assert jg.arange(1, 7, 2).tolist() == [1, 3, 5]
    a = jg.arange(0, 1, 0.25)
    assert a.dtype == jg.float32 and a.tolist() == [0.0, 0.25, 0.5, 0.75]
    assert jg.arange(3.0).dtype == jg.float32 and jg.arange(3, dtype=jg.float64).dtype == jg.float64
    with pytest.raises(RuntimeError, match="nonzero"):
        jg.arange(0, 3, 0)


def test_linspace_and_eye():
    ls = jg.linspace(0, 1, 5)
    assert ls.dtype == jg.float32 and ls.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert jg.eye(3).tolist() == np.eye(3).tolist() and jg.eye(2, 3).shape == (2, 3)


def test_random_ranges_and_dtypes():
    r = jg.rand(1000)
    assert r.dtype == jg.float32 and 0 <= r.numpy().min() and r.numpy().max() < 1
    n = jg.randn(4000, dtype=jg.float64)
    assert n.dtype == jg.float64 and abs(n.numpy().mean()) < 0.1 and abs(n.numpy().std() - 1) < 0.1
    i = jg.randint(3, 7, (500,))
    assert i.dtype == jg.int64 and i.numpy().min() == 3 and i.numpy().max() == 6
    assert jg.randint(5, size=(2, 2)).shape == (2, 2)
    assert jg.rand(2, 3).shape == (2, 3) and jg.randn((2, 3)).shape == (2, 3)
    with pytest.raises(RuntimeError, match="floating"):
        jg.rand(2, dtype=jg.int64)


def test_manual_seed_reproducibility():
    jg.manual_seed(123)
    a = (jg.rand(3).tolist(), jg.randn(3).tolist(), jg.randint(0, 100, (3,)).tolist())
    jg.manual_seed(123)
    b = (jg.rand(3).tolist(), jg.randn(3).tolist(), jg.randint(0, 100, (3,)).tolist())
    assert a == b and jg.initial_seed() == 123
    jg.manual_seed(124)
    assert jg.rand(3).tolist() != a[0]


def test_default_dtype_is_float32_and_settable():
    assert jg.get_default_dtype() == jg.float32
    jg.set_default_dtype(jg.float64)
    assert jg.tensor([1.0]).dtype == jg.float64 and jg.zeros(1).dtype == jg.float64
    with pytest.raises(TypeError, match="floating"):
        jg.set_default_dtype(jg.int64)


def test_to_dtype():
    x = jg.tensor([1.7, -2.2])
    assert x.to(jg.float64).dtype == jg.float64
    assert x.to(jg.int64).tolist() == [1, -2]
    assert x.to(dtype=jg.float64).dtype == jg.float64
    assert x.to(jg.ones(1, dtype=jg.float64)).dtype == jg.float64
    assert x.to(np.float16).dtype == jg.float16
    with pytest.raises(TypeError, match="not supported"):
        x.to(np.complex64)


def test_torch_factories_agree():
    torch = pytest.importorskip("torch")
    for name, args in [("arange", (5,)), ("arange", (0, 1, 0.25)), ("linspace", (0, 1, 5)), ("eye", (3,)),
                       ("zeros", (2, 3)), ("ones", (2,))]:
        ours, ref = getattr(jg, name)(*args), getattr(torch, name)(*args)
        assert jg.dtypes.name(ours.dtype) == str(ref.dtype).replace("torch.", ""), name
        np.testing.assert_allclose(ours.numpy(), ref.numpy(), err_msg=name)
