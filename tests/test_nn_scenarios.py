"""Scenario: small recurrent language models trained for 25 steps in jitgrad and in PyTorch from the
same weights on the same batches; every step's loss agrees (float64 to 1e-10, float32 to 1e-5)."""
from __future__ import annotations

import numpy as np
import pytest
from nn_compare import copy_weights

import jitgrad as jg
from jitgrad import nn as jnn

torch = pytest.importorskip("torch")

TEXT = "the quick brown fox jumps over the lazy dog; a small corpus for a tiny char-level model. " * 3
CHARS = sorted(set(TEXT))
IDS = np.array([CHARS.index(c) for c in TEXT])


def batches(steps: int, batch: int, length: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        starts = rng.integers(0, len(IDS) - length - 1, batch)
        x = np.stack([IDS[s:s + length] for s in starts])
        y = np.stack([IDS[s + 1:s + length + 1] for s in starts])
        yield x, y


def make_model(nn, kind: str):
    class CharModel(nn.Module):
        """Embedding -> recurrent layer -> LayerNorm -> Linear over the vocabulary."""

        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(len(CHARS), 8, padding_idx=0)
            if kind == "gru":
                self.rnn = nn.GRU(8, 12, batch_first=True)
            else:
                self.rnn = nn.LSTM(8, 12, num_layers=2, batch_first=True, dropout=0.0)
            self.norm = nn.LayerNorm(12)
            self.head = nn.Linear(12, len(CHARS))

        def forward(self, x):
            h, _ = self.rnn(self.embed(x))
            return self.head(self.norm(h))

    return CharModel()


@pytest.mark.parametrize("dtype, tol", [("float64", 1e-10), ("float32", 1e-5)])
@pytest.mark.parametrize("kind, optimizer", [("gru", "Adam"), ("lstm", "SGD")])
def test_char_language_model_trains_like_torch(kind, optimizer, dtype, tol):
    torch.manual_seed(0)
    tm = make_model(torch.nn, kind).to(getattr(torch, dtype))
    jm = make_model(jnn, kind).to(getattr(jg, dtype))
    copy_weights(jm, tm)
    kwargs = {"lr": 0.01} if optimizer == "Adam" else {"lr": 0.5, "momentum": 0.9}
    t_opt = getattr(torch.optim, optimizer)(tm.parameters(), **kwargs)
    j_opt = getattr(jg.optim, optimizer)(jm.parameters(), **kwargs)
    t_loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.05)
    j_loss_fn = jnn.CrossEntropyLoss(label_smoothing=0.05)
    losses = []
    for x, y in batches(25, 4, 10):
        t_opt.zero_grad()
        lt = t_loss_fn(tm(torch.tensor(x)).reshape(-1, len(CHARS)), torch.tensor(y).reshape(-1))
        lt.backward()
        t_opt.step()
        j_opt.zero_grad()
        lj = j_loss_fn(jm(jg.tensor(x)).reshape(-1, len(CHARS)), jg.tensor(y).reshape(-1))
        lj.backward()
        j_opt.step()
        losses.append((lj.item(), lt.item()))
    ours, theirs = np.array(losses).T
    np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol)
    assert theirs[-1] < theirs[0]  # it learns
