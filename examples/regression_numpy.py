"""Fahrenheit -> Celsius regression, form 1 of 3: the gradient written by hand with array ops
(no autograd). 330,000 epochs at lr 1e-4 reach w = 0.5358, b = -17.2503, loss = 2.9279.

Run: python examples/regression_numpy.py [epochs]
"""
from __future__ import annotations

import sys

from _plotting import X, Y, save_plots

import jitgrad


def model(x, w, b):
    return w * x + b


def loss_fn(pred, y):
    return ((pred - y) ** 2).mean()


def grad_fn(x, y, pred):
    """d(loss)/d(w, b) for the mean squared error of w*x + b, derived by hand."""
    dloss_dpred = 2 * (pred - y) / pred.shape[0]
    return jitgrad.stack([(dloss_dpred * x).sum(), dloss_dpred.sum()])


def main(epochs: int = 330_000, lr: float = 1e-4, plot: bool = False, log_every: int = 0, out_dir: str = "."):
    """Train w, b from [1.0, 0.01]; return (params, per-epoch losses)."""
    x, y = jitgrad.tensor(X), jitgrad.tensor(Y)
    params = jitgrad.tensor([1.0, 0.01])
    losses = []
    for epoch in range(1, epochs + 1):
        w, b = params[0], params[1]
        pred = model(x, w, b)
        losses.append(loss_fn(pred, y).item())
        params = params - lr * grad_fn(x, y, pred)
        if log_every and epoch % log_every == 0:
            print(f"epoch {epoch}: loss {losses[-1]:.4f}, params {params.tolist()}")
    if plot:
        save_plots("regression_numpy", params[0].item(), params[1].item(), losses, out_dir)
    return params, losses


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 330_000
    final, history = main(n, plot=True, log_every=max(n // 10, 1))
    print(f"w = {final[0].item():.4f}, b = {final[1].item():.4f}, loss = {history[-1]:.4f}")
