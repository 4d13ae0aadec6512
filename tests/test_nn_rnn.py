"""Recurrent layers against PyTorch with copied weights: the cells, RNN/LSTM/GRU with num_layers,
batch_first, bidirectional, given or zero initial states, unbatched input; compiled through
jit_grad for GRUCell and LSTM; and the errors PyTorch raises."""
from __future__ import annotations

import numpy as np
import pytest
from nn_compare import compare

import jitgrad as jg
from jitgrad import nn

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(11)
TOL = dict(rtol=1e-10, atol=1e-12)


def _pair(name, *args, **kwargs):
    return getattr(nn, name)(*args, **kwargs).double(), getattr(torch.nn, name)(*args, **kwargs).double()


@pytest.mark.parametrize("name, kwargs", [("RNNCell", {}), ("RNNCell", {"nonlinearity": "relu"}),
                                          ("RNNCell", {"bias": False}), ("GRUCell", {}), ("LSTMCell", {})])
def test_cells_match_torch(name, kwargs):
    jm, tm = _pair(name, 3, 4, **kwargs)
    x = RNG.standard_normal((2, 3))
    h = RNG.standard_normal((2, 4))
    if name == "LSTMCell":
        c = RNG.standard_normal((2, 4))
        compare(lambda m, a, b, d: m(a, (b, d)), lambda m, a, b, d: m(a, (b, d)), [x, h, c], jm, tm, **TOL)
    else:
        compare(lambda m, a, b: m(a, b), lambda m, a, b: m(a, b), [x, h], jm, tm, **TOL)
    compare(lambda m, a: m(a), lambda m, a: m(a), [x], jm, tm, **TOL)  # zero initial state
    compare(lambda m, a: m(a), lambda m, a: m(a), [x[0]], jm, tm, **TOL)  # unbatched
    assert repr(jm) == repr(tm)


def test_gru_cell_compiled_matches_torch():
    jm, tm = _pair("GRUCell", 3, 4)
    x, h = RNG.standard_normal((2, 3)), RNG.standard_normal((2, 4))

    def unrolled(m, a, b):  # three steps of the same cell
        for _ in range(3):
            b = m(a, b)
        return b

    compare(unrolled, unrolled, [x, h], jm, tm, compiled=True, **TOL)


SEQUENCE_CASES = [
    ("RNN", {}), ("RNN", {"nonlinearity": "relu", "num_layers": 2}), ("GRU", {"num_layers": 2}),
    ("GRU", {"batch_first": True, "bidirectional": True}), ("LSTM", {}),
    ("LSTM", {"num_layers": 2, "batch_first": True}), ("LSTM", {"bidirectional": True, "num_layers": 2}),
    ("GRU", {"bias": False}),
]


@pytest.mark.parametrize("given_state", [False, True])
@pytest.mark.parametrize("name, kwargs", SEQUENCE_CASES, ids=[f"{n}-{k}" for n, k in SEQUENCE_CASES])
def test_sequence_layers_match_torch(name, kwargs, given_state):
    jm, tm = _pair(name, 3, 4, **kwargs)
    layers = kwargs.get("num_layers", 1) * (2 if kwargs.get("bidirectional") else 1)
    x = RNG.standard_normal((2, 5, 3) if kwargs.get("batch_first") else (5, 2, 3))
    inputs = [x]
    if given_state:
        inputs += [RNG.standard_normal((layers, 2, 4)) for _ in range(2 if name == "LSTM" else 1)]

    def call(m, a, *state):
        if not state:
            return m(a)
        return m(a, tuple(state) if len(state) == 2 else state[0])

    compare(call, call, inputs, jm, tm, **TOL)
    assert repr(jm) == repr(tm)
    assert [n for n, _ in jm.named_parameters()] == [n for n, _ in tm.named_parameters()]


@pytest.mark.parametrize("name", ["GRU", "LSTM"])
def test_unbatched_sequence_matches_torch(name):
    jm, tm = _pair(name, 3, 4, num_layers=2)
    compare(lambda m, a: m(a), lambda m, a: m(a), [RNG.standard_normal((5, 3))], jm, tm, **TOL)


def test_lstm_compiled_matches_torch():
    jm, tm = _pair("LSTM", 3, 4, num_layers=2, batch_first=True)
    x = RNG.standard_normal((2, 4, 3))
    compare(lambda m, a: m(a), lambda m, a: m(a), [x], jm, tm, compiled=True, **TOL)


def test_dropout_between_layers_only_in_training():
    jg.manual_seed(0)
    m = nn.GRU(3, 4, num_layers=2, dropout=0.5)
    x = jg.tensor(RNG.standard_normal((5, 2, 3)).astype(np.float32))
    a, b = m(x)[0].detach().numpy(), m(x)[0].detach().numpy()
    assert not np.array_equal(a, b)
    m.eval()
    np.testing.assert_array_equal(m(x)[0].detach().numpy(), m(x)[0].detach().numpy())


def test_recurrent_errors():
    m = nn.LSTM(3, 4)
    with pytest.raises(RuntimeError, match="input_size"):
        m(jg.ones(5, 2, 6))
    with pytest.raises(ValueError, match="2D or 3D"):
        m(jg.ones(5, 2, 3, 1))
    with pytest.raises(RuntimeError, match="hidden size"):
        m(jg.ones(5, 2, 3), (jg.ones(1, 3, 4), jg.ones(1, 3, 4)))
    with pytest.raises(RuntimeError, match="hidden size"):
        nn.GRUCell(3, 4)(jg.ones(2, 3), jg.ones(2, 5))
    with pytest.raises(ValueError, match="1D or 2D"):
        nn.RNNCell(3, 4)(jg.ones(1, 2, 3))
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="proj_size"):
        nn.LSTM(3, 4, proj_size=2)
