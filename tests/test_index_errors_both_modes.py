"""Out-of-range class targets and ids raise an IndexError naming the bad value in eager mode AND
from compiled kernels (cross_entropy, nll_loss, one_hot, Embedding, gather), never a bare
RuntimeError or a silent wrong result; in-range inputs give eager mode's values."""
from __future__ import annotations

import numpy as np
import pytest

import jitgrad as jg

F = jg.nn.functional
EMBEDDING = jg.nn.Embedding(4, 2)

CASES = {
    "cross_entropy": lambda x, t: F.cross_entropy(x, t),
    "cross_entropy_smoothing": lambda x, t: F.cross_entropy(x, t, label_smoothing=0.1),
    "nll_loss": lambda x, t: F.nll_loss(F.log_softmax(x, 1), t),
    "nll_loss_ignore": lambda x, t: F.nll_loss(F.log_softmax(x, 1), t, ignore_index=-100),
    "one_hot": lambda x, t: (F.one_hot(t, 4).float() * x).sum(),
    "embedding": lambda x, t: (EMBEDDING(t).sum(1) * x[:, 0]).sum(),
    "gather": lambda x, t: jg.gather(x, 1, t.reshape(-1, 1)).sum(),
}
MODES = {"eager": lambda f: f, "jit": jg.jit, "jit_grad": jg.jit_grad}


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("bad", [4, 7, -2])
def test_out_of_range_target_raises_index_error_naming_it(case, mode, bad):
    x = jg.tensor(np.linspace(-1, 1, 12).reshape(3, 4), requires_grad=True)
    fn = MODES[mode](CASES[case])
    fn(x, jg.tensor([0, 3, 1]))  # compiles (and runs) with valid targets first
    with pytest.raises(IndexError, match=rf"(index|Target) {bad} is out of"):
        fn(x, jg.tensor([0, bad, 1]))


@pytest.mark.parametrize("mode", ["jit", "jit_grad"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_in_range_targets_match_eager(case, mode):
    x = jg.tensor(np.linspace(-1, 1, 12).reshape(3, 4), requires_grad=True)
    t = jg.tensor([0, 3, 1])
    eager = CASES[case](x, t)
    got = MODES[mode](CASES[case])(x, t)
    np.testing.assert_allclose(got.detach().numpy(), eager.detach().numpy(), rtol=1e-6)


def test_ignored_targets_are_not_range_checked_in_compiled_mode():
    x = jg.tensor(np.linspace(-1, 1, 12).reshape(3, 4), requires_grad=True)
    t = jg.tensor([0, -100, 1])
    loss = jg.jit_grad(lambda a, b: F.cross_entropy(a, b, ignore_index=-100))(x, t)
    np.testing.assert_allclose(loss.item(), F.cross_entropy(x, t, ignore_index=-100).item(), rtol=1e-6)


def test_gather_error_is_also_pytorchs_runtime_error():
    x = jg.tensor([[1.0, 2.0]])
    for fn in (jg.gather, jg.jit(jg.gather, static_argnums=(1,))):
        with pytest.raises(RuntimeError, match="index 2 is out of bounds for dimension 1 with size 2"):
            fn(x, 1, jg.tensor([[2]]))


def test_compiled_one_hot_matches_eager_for_nd_indices():
    t = jg.tensor([[0, 2], [1, 1]])
    got = jg.jit(lambda i: F.one_hot(i, 3))(t)
    assert got.dtype is jg.int64
    np.testing.assert_array_equal(got.numpy(), F.one_hot(t, 3).numpy())
