"""Bad input to the ops of shape_ops.py: PyTorch's exception types, messages that name the
argument, and out-of-range indices named by value (never wrapped around silently)."""
from __future__ import annotations

import numpy as np
import pytest

import jitgrad

torch = pytest.importorskip("torch")

X = np.arange(12.0).reshape(3, 4)


def _both(call, exc, match):
    """The call raises `exc` in jitgrad (message matching) and PyTorch refuses it too."""
    with pytest.raises(exc, match=match):
        call(jitgrad, jitgrad.tensor(X))
    with pytest.raises(exc):
        call(torch, torch.tensor(X))




@pytest.mark.parametrize("call, exc, match", [
    (lambda m, x: m.index_select(x, 1, m.tensor([0, 4])), RuntimeError, "index 4 is out of range for dimension 1"),
    (lambda m, x: m.index_select(x, 0, m.tensor([-1])), IndexError, "index -1 is out of range"),
    (lambda m, x: m.index_select(x, 0, m.tensor([0.0])), RuntimeError, "Expected dtype int64 for index"),
    (lambda m, x: x.scatter(0, m.tensor([[5]]), 1.0), RuntimeError, "index 5 is out of range for dimension 0"),
    (lambda m, x: m.scatter_add(x, 1, m.tensor([[0, 7]]), x), RuntimeError,
     "index 7 is out of range for dimension 1"),
    (lambda m, x: x.masked_fill(m.tensor([1, 0, 1, 0]), 0.0), RuntimeError, "only supports boolean masks"),
    (lambda m, x: m.split(x, [1, 1], 0), RuntimeError, "split_sizes to sum exactly to 3"),
    (lambda m, x: m.chunk(x, 0), RuntimeError, "chunk expects `chunks` to be greater than 0"),
    (lambda m, x: x.repeat(2), RuntimeError, "repeat dims can not be smaller"),
    (lambda m, x: m.diagonal(x, 0, 1, -1), RuntimeError, "diagonal dimensions cannot be identical"),
    (lambda m, x: m.tril(x[0]), RuntimeError, "at least 2 dimensions"),
    (lambda m, x: m.trace(x[0]), RuntimeError, "expected a matrix"),
    (lambda m, x: m.roll(x, (1, 2), 0), RuntimeError, "shifts and dimensions must align"),
])
def test_bad_input_is_refused_as_torch_refuses_it(call, exc, match):
    _both(call, exc, match)


@pytest.mark.parametrize("call, bad", [
    (lambda x: x.scatter(0, jitgrad.tensor([[5]]), 1.0), "5"),
    (lambda x: x.scatter_add(0, jitgrad.tensor([[-1]]), x), "-1"),
    (lambda x: jitgrad.index_select(x, 1, jitgrad.tensor([0, 4])), "4"),
    (lambda x: jitgrad.take_along_dim(x, jitgrad.tensor([[9]]), 1), "9"),  # PyTorch reads out of bounds here
    (lambda x: jitgrad.nn.functional.one_hot(jitgrad.tensor([0, 5]), 3), "5"),
    (lambda x: jitgrad.nn.functional.one_hot(jitgrad.tensor([-1, 0]), 3), "-1"),
])
def test_out_of_range_index_errors_are_index_errors(call, bad):
    """The bad index is named in an error that is an IndexError and also the RuntimeError PyTorch
    raises for some of these ops."""
    with pytest.raises(IndexError, match=f"index {bad} is out of") as info:
        call(jitgrad.tensor(X))
    assert isinstance(info.value, RuntimeError)


def test_out_of_range_indices_are_refused_in_compiled_mode():
    f = jitgrad.jit(lambda x, i: jitgrad.index_select(x, 1, i))
    assert f(jitgrad.tensor(X), jitgrad.tensor([3, 0])).tolist() == [[3.0, 0.0], [7.0, 4.0], [11.0, 8.0]]
    with pytest.raises((IndexError, RuntimeError), match="4"):
        f(jitgrad.tensor(X), jitgrad.tensor([4, 0]))


def test_masked_fill_in_place_matches_torch():
    x, t = jitgrad.tensor(X), torch.tensor(X)
    x.masked_fill_(x > 5, -1.0)
    t.masked_fill_(t > 5, -1.0)
    np.testing.assert_array_equal(x.numpy(), t.numpy())
