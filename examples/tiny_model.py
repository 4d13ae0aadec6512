"""TinyModel: Linear(100, 200) - ReLU - Linear(200, 10), trained a few steps on random data with
CrossEntropyLoss and SGD (the softmax is inside the loss, as in PyTorch).

Run: python examples/tiny_model.py [epochs]
"""
from __future__ import annotations

import sys

import jitgrad
from jitgrad import nn, optim


class TinyModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear1 = nn.Linear(100, 200)
        self.activation = nn.ReLU()
        self.linear2 = nn.Linear(200, 10)

    def forward(self, x):
        return self.linear2(self.activation(self.linear1(x)))


def main(epochs: int = 20, batch: int = 32, lr: float = 0.1, plot: bool = False, seed: int = 0):
    """Fit random labels of random inputs; return (model, per-epoch losses) (plot is unused)."""
    jitgrad.manual_seed(seed)
    model = TinyModel()
    x = jitgrad.randn(batch, 100)
    y = jitgrad.randint(0, 10, (batch,))
    optimizer = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return model, losses


if __name__ == "__main__":
    trained, history = main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
    print(trained)
    probs = nn.functional.softmax(trained(jitgrad.randn(1, 100)), dim=1)
    print("softmax of one prediction:", probs)
    print("loss per epoch:", " ".join(f"{v:.4f}" for v in history))
