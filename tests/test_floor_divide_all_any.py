"""``//`` (floor_divide) and all/any against PyTorch: integer dtypes stay integers, Python's
rounding for floats, integer division by zero refused, and compiled mode equal to eager."""
from __future__ import annotations

import numpy as np
import pytest

import jitgrad as jg

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("dtype", ["int64", "int32", "int16", "float32", "float64"])
def test_floor_divide_matches_torch_for_every_sign(dtype):
    a = np.array([7, -7, 7, -7, 0, 9], dtype=dtype)
    b = np.array([2, 2, -2, -2, 3, 4], dtype=dtype)
    want = torch.div(torch.from_numpy(a), torch.from_numpy(b), rounding_mode="floor").numpy()
    got = jg.tensor(a) // jg.tensor(b)
    assert got.dtype == want.dtype and np.array_equal(got.numpy(), want)
    compiled = jg.jit(lambda x, y: x // y)(jg.tensor(a), jg.tensor(b))
    assert compiled.dtype == want.dtype and np.array_equal(compiled.numpy(), want)


def test_float_floor_divide_uses_pythons_rounding():
    """1.0 // 0.1 is 9.0 in Python, NumPy and PyTorch (floor(1.0 / 0.1) would be 10)."""
    x = jg.tensor([1.0], dtype=jg.float64)
    assert (x // 0.1).item() == 9.0 == torch.div(torch.tensor([1.0], dtype=torch.float64), 0.1,
                                                 rounding_mode="floor").item()
    assert jg.jit(lambda t: t // 0.1)(x).item() == 9.0


def test_integer_floor_divide_by_zero_is_refused():
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        jg.tensor([1, 2]) // jg.tensor([1, 0])


def test_floor_divide_gradient_is_zero_like_torchs_floor_division():
    x = jg.tensor([3.5, -1.25], requires_grad=True)
    (x // 2.0).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0]


@pytest.mark.parametrize("values", [[[1, 0, 2], [3, 4, 5]], [[0, 0, 0], [1, 1, 1]], [[True, False], [True, True]]])
def test_all_and_any_match_torch(values):
    a, t = jg.tensor(values), torch.tensor(values)
    for dim, keepdim in ((None, False), (0, False), (1, True), (-1, False)):
        kw = {} if dim is None else {"dim": dim, "keepdim": keepdim}
        for name in ("all", "any"):
            got, want = getattr(a, name)(**kw), getattr(t, name)(**kw)
            assert got.dtype == jg.bool_ and got.tolist() == want.tolist(), (name, kw)
            assert getattr(jg, name)(a, **kw).tolist() == want.tolist()
