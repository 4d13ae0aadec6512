"""Fahrenheit -> Celsius regression, form 2 of 3: autograd computes the gradient; the update is
written by hand under no_grad (in place, so params stays the same leaf tensor).

Run: python examples/regression_autograd.py [epochs]
"""
from __future__ import annotations

import sys

from _plotting import X, Y, save_plots

import jitgrad


def model(x, w, b):
    return w * x + b


def loss_fn(pred, y):
    return ((pred - y) ** 2).mean()


def main(epochs: int = 330_000, lr: float = 1e-4, plot: bool = False, log_every: int = 0, out_dir: str = "."):
    """Train w, b from [1.0, 0.01]; return (params, per-epoch losses)."""
    x, y = jitgrad.tensor(X), jitgrad.tensor(Y)
    params = jitgrad.tensor([1.0, 0.01], requires_grad=True)
    losses = []
    for epoch in range(1, epochs + 1):
        if params.grad is not None:
            params.grad.zero_()
        loss = loss_fn(model(x, params[0], params[1]), y)
        loss.backward()
        with jitgrad.no_grad():
            params -= lr * params.grad
        losses.append(loss.item())
        if log_every and epoch % log_every == 0:
            print(f"epoch {epoch}: loss {losses[-1]:.4f}, params {params.tolist()}")
    if plot:
        save_plots("regression_autograd", params[0].item(), params[1].item(), losses, out_dir)
    return params, losses


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 330_000
    final, history = main(n, plot=True, log_every=max(n // 10, 1))
    print(f"w = {final[0].item():.4f}, b = {final[1].item():.4f}, loss = {history[-1]:.4f}")
