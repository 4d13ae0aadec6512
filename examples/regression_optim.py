"""Fahrenheit -> Celsius regression, form 3 of 3: autograd plus jitgrad.optim.SGD.

Run: python examples/regression_optim.py [epochs]
"""
from __future__ import annotations

import sys

from _plotting import X, Y, save_plots

import jitgrad
from jitgrad import nn, optim


def model(x, w, b):
    return w * x + b


def main(epochs: int = 330_000, lr: float = 1e-4, plot: bool = False, log_every: int = 0, out_dir: str = "."):
    """Train w, b from [1.0, 0.01]; return (params, per-epoch losses)."""
    x, y = jitgrad.tensor(X), jitgrad.tensor(Y)
    params = jitgrad.tensor([1.0, 0.01], requires_grad=True)
    optimizer = optim.SGD([params], lr=lr)
    loss_fn = nn.MSELoss()
    losses = []
    for epoch in range(1, epochs + 1):
        optimizer.zero_grad()
        loss = loss_fn(model(x, params[0], params[1]), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if log_every and epoch % log_every == 0:
            print(f"epoch {epoch}: loss {losses[-1]:.4f}, params {params.tolist()}")
    if plot:
        save_plots("regression_optim", params[0].item(), params[1].item(), losses, out_dir)
    return params, losses


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 330_000
    final, history = main(n, plot=True, log_every=max(n // 10, 1))
    print(f"w = {final[0].item():.4f}, b = {final[1].item():.4f}, loss = {history[-1]:.4f}")
