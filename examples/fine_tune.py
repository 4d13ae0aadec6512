"""Fine-tuning with a frozen layer: pre-train a small MLP on one task, freeze its first layer
(p.requires_grad = False), train only the head on a new task, and check that the frozen
weights did not change while the head's did.

Run: python examples/fine_tune.py [epochs]
"""
from __future__ import annotations

import sys

import numpy as np

import jitgrad
from jitgrad import nn, optim


def make_task(seed: int, n: int = 64):
    """A random 2-class problem on 8 features: a random linear rule labels random inputs."""
    jitgrad.manual_seed(seed)
    x = jitgrad.randn(n, 8)
    y = (x @ jitgrad.randn(8) > 0).long()
    return x, y


def train(model: nn.Module, params, x, y, epochs: int, lr: float) -> list[float]:
    optimizer = optim.Adam(params, lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def main(epochs: int = 100, lr: float = 1e-2, plot: bool = False):
    """Return (model, pre-training losses, fine-tuning losses, max change of the frozen weights)."""
    jitgrad.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 2))
    pre_losses = train(model, model.parameters(), *make_task(1), epochs, lr)

    model.zero_grad()  # drop pre-training gradients (set to None)
    frozen = model[0]
    for p in frozen.parameters():
        p.requires_grad = False
    before = {name: p.detach().numpy().copy() for name, p in frozen.named_parameters()}
    head_before = model[2].weight.detach().numpy().copy()

    trainable = [p for p in model.parameters() if p.requires_grad]
    tune_losses = train(model, trainable, *make_task(2), epochs, lr)

    frozen_change = max(float(np.abs(p.detach().numpy() - before[name]).max())
                        for name, p in frozen.named_parameters())
    head_change = float(np.abs(model[2].weight.detach().numpy() - head_before).max())
    assert frozen.weight.grad is None, "a frozen parameter received a gradient"
    return model, pre_losses, tune_losses, frozen_change, head_change


if __name__ == "__main__":
    _, pre, tune, frozen_change, head_change = main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
    print(f"pre-training loss {pre[0]:.4f} -> {pre[-1]:.4f}")
    print(f"fine-tuning (head only) loss {tune[0]:.4f} -> {tune[-1]:.4f}")
    print(f"largest change of a frozen weight: {frozen_change} (head changed by up to {head_change:.4f})")
