"""Bad input to the ops of reduce_ops.py, and orderings with NaN, infinities and ties, against PyTorch."""
from __future__ import annotations

import numpy as np
import pytest

import jitgrad

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("call, exc, match", [
    (lambda m, x: m.topk(x, 5), RuntimeError, "selected index k out of range"),
    (lambda m, x: m.softmax(x.long(), 0), RuntimeError, "floating point"),
    (lambda m, x: m.histc(x, bins=0), RuntimeError, "bins must be > 0"),
    (lambda m, x: m.histc(x, 4, 1.0, 0.0), RuntimeError, "max must be larger than min"),
    (lambda m, x: m.median(x[:, :0], 1), IndexError, "non-zero size"),
    (lambda m, x: m.cumsum(x, 2), IndexError, "out of range"),
])
def test_bad_input_is_refused_as_torch_refuses_it(call, exc, match):
    x = np.arange(12.0).reshape(3, 4)
    with pytest.raises(exc, match=match):
        call(jitgrad, jitgrad.tensor(x))
    with pytest.raises(exc):
        call(torch, torch.tensor(x))


@pytest.mark.parametrize("descending", [False, True])
def test_sort_places_nan_and_infinities_as_torch(descending):
    values = [1.0, np.nan, np.inf, -np.inf, 2.0, np.nan, 1.0]
    got = jitgrad.sort(jitgrad.tensor(values), descending=descending, stable=True)
    want = torch.sort(torch.tensor(values), descending=descending, stable=True)
    np.testing.assert_array_equal(got.values.numpy(), want.values.numpy())
    np.testing.assert_array_equal(got.indices.numpy(), want.indices.numpy())


def test_integer_sort_and_scans_match_torch():
    values = [3, -1, 2, 2, 0]
    got, want = jitgrad.tensor(values), torch.tensor(values)
    for name in ("cumsum", "cumprod"):
        np.testing.assert_array_equal(getattr(got, name)(0).numpy(), getattr(want, name)(0).numpy())
        assert str(getattr(got, name)(0).dtype) == "int64"
    np.testing.assert_array_equal(got.sort(descending=True).values.numpy(), want.sort(descending=True).values.numpy())


def test_softmax_of_all_minus_inf_rows_matches_torch():
    x = [[-np.inf, -np.inf], [0.0, -np.inf]]
    expected = torch.softmax(torch.tensor(x), 1).numpy()
    np.testing.assert_array_equal(jitgrad.softmax(jitgrad.tensor(x), 1).numpy(), expected)
    np.testing.assert_array_equal(jitgrad.logsumexp(jitgrad.tensor(x), 1).numpy(),
                                  torch.logsumexp(torch.tensor(x), 1).numpy())


@pytest.mark.filterwarnings("ignore:jitgrad. no fused kernel")
def test_scans_and_sorts_run_under_jit():
    """No scan or sort kernel yet: they run in the reference interpreter between compiled programs."""
    f = jitgrad.jit(lambda x: x.cumsum(0) + x.sort(0).values * x.cumprod(0))
    x = jitgrad.tensor([[0.5, 2.0], [1.5, -1.0], [3.0, 0.25]])
    np.testing.assert_allclose(f(x).numpy(), (x.cumsum(0) + x.sort(0).values * x.cumprod(0)).numpy())
