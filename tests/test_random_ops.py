"""jitgrad.Generator and generator= on every random function: the same seed gives the same
numbers, a generator's stream is independent of the global one, and bad arguments are refused
with PyTorch's exception types."""
from __future__ import annotations

import numpy as np
import pytest

import jitgrad

DRAWS = {
    "rand": lambda g: jitgrad.rand(2, 3, generator=g),
    "randn": lambda g: jitgrad.randn(4, generator=g),
    "randint": lambda g: jitgrad.randint(0, 10, (5,), generator=g),
    "randperm": lambda g: jitgrad.randperm(6, generator=g),
    "normal": lambda g: jitgrad.normal(1.0, 2.0, (3,), generator=g),
    "normal_": lambda g: jitgrad.zeros(3).normal_(0.0, 2.0, generator=g),
    "uniform_": lambda g: jitgrad.zeros(3).uniform_(-1.0, 1.0, generator=g),
    "bernoulli_": lambda g: jitgrad.zeros(8).bernoulli_(0.5, generator=g),
    "bernoulli": lambda g: jitgrad.bernoulli(jitgrad.full((8,), 0.5), generator=g),
    "bernoulli-method": lambda g: jitgrad.full((8,), 0.3).bernoulli(generator=g),
    "multinomial": lambda g: jitgrad.multinomial(jitgrad.tensor([[1.0, 2.0, 3.0, 4.0]]), 3, generator=g),
    "multinomial-method": lambda g: jitgrad.tensor([0.2, 0.8]).multinomial(5, True, generator=g),
}


@pytest.mark.parametrize("name", sorted(DRAWS))
def test_a_seeded_generator_repeats_its_numbers_whatever_the_global_stream_does(name):
    draw = DRAWS[name]
    first = draw(jitgrad.Generator().manual_seed(7)).numpy()
    jitgrad.rand(10)  # the global stream moves; the generator's does not
    again = draw(jitgrad.Generator().manual_seed(7)).numpy()
    np.testing.assert_array_equal(first, again)
    other = [draw(jitgrad.Generator().manual_seed(seed)).numpy() for seed in (8, 9, 10)]
    assert any(not np.array_equal(first, o) for o in other)


@pytest.mark.parametrize("name", sorted(DRAWS))
def test_the_global_seed_repeats_the_numbers_without_a_generator(name):
    jitgrad.manual_seed(3)
    first = DRAWS[name](None).numpy()
    jitgrad.manual_seed(3)
    np.testing.assert_array_equal(first, DRAWS[name](None).numpy())


def test_generator_api():
    g = jitgrad.Generator()
    assert g.manual_seed(5) is g and g.initial_seed() == 5 and g.device == "cpu"
    state = g.get_state()
    a = jitgrad.rand(3, generator=g)
    g.set_state(state)
    np.testing.assert_array_equal(a.numpy(), jitgrad.rand(3, generator=g).numpy())
    seed = g.seed()
    assert g.initial_seed() == seed
    assert isinstance(jitgrad.default_generator, jitgrad.Generator)


def test_samples_have_the_right_values():
    g = jitgrad.Generator().manual_seed(0)
    assert sorted(jitgrad.randperm(50, generator=g).tolist()) == list(range(50))
    picks = jitgrad.multinomial(jitgrad.tensor([[0.0, 1.0, 1.0, 1.0]] * 20), 3, generator=g)
    assert picks.dtype == jitgrad.int64 and all(sorted(row) == [1, 2, 3] for row in picks.tolist())
    coin = jitgrad.bernoulli(jitgrad.full((4000,), 0.25, dtype=jitgrad.float64), generator=g)
    assert coin.dtype == jitgrad.float64 and abs(coin.mean().item() - 0.25) < 0.03
    u = jitgrad.zeros(4000).uniform_(2.0, 3.0, generator=g)
    assert 2.0 <= u.min().item() and u.max().item() < 3.0


def test_in_place_fills_follow_autograd_rules():
    w = jitgrad.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        w.normal_()
    with jitgrad.no_grad():
        w.uniform_(1.0, 2.0)
    assert w.requires_grad and w.detach().min().item() >= 1.0


def test_a_generator_draws_afresh_at_each_compiled_call():
    g = jitgrad.Generator().manual_seed(1)
    f = jitgrad.jit(lambda x: x + jitgrad.rand(3, generator=g))
    a, b = f(jitgrad.zeros(3)).numpy(), f(jitgrad.zeros(3)).numpy()
    assert not np.array_equal(a, b)
    g.manual_seed(1)
    np.testing.assert_array_equal(f(jitgrad.zeros(3)).numpy(), a)


@pytest.mark.parametrize("call, match", [
    (lambda: jitgrad.multinomial(jitgrad.tensor([0.0, 1.0]), 3), "without replacement"),
    (lambda: jitgrad.multinomial(jitgrad.tensor([-1.0, 1.0]), 1), "element < 0"),
    (lambda: jitgrad.multinomial(jitgrad.tensor([0.0, 0.0]), 1), "sum of probabilities <= 0"),
    (lambda: jitgrad.multinomial(jitgrad.ones(2, 2, 2), 1), "1 or 2 dim"),
    (lambda: jitgrad.bernoulli(jitgrad.tensor([2.0])), "must lie in \\[0, 1\\]"),
    (lambda: jitgrad.zeros(2).bernoulli_(1.5), "p to be in \\[0, 1\\]"),
    (lambda: jitgrad.randperm(-1), "negative dimension -1"),
    (lambda: jitgrad.zeros(2).normal_(0.0, -1.0), "std >= 0.0"),
    (lambda: jitgrad.zeros(2).uniform_(1.0, 0.0), "from=1.0 > to=0.0"),
    (lambda: jitgrad.randint(5, 5, (2,)), "'from' to be less than 'to'"),
])
def test_bad_arguments_are_refused(call, match):
    with pytest.raises(RuntimeError, match=match):
        call()


def test_a_generator_argument_of_the_wrong_type_is_a_type_error():
    with pytest.raises(TypeError, match="generator must be a jitgrad.Generator"):
        jitgrad.rand(2, generator=3)
