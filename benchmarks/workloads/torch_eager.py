"""Each workload in PyTorch eager mode (CPU, float32), written idiomatically."""
from __future__ import annotations

import os

import torch

if os.environ.get("OMP_NUM_THREADS", "").isdigit():
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


def _leaf(array, requires_grad: bool = True) -> torch.Tensor:
    return torch.tensor(array, requires_grad=requires_grad)


def _clear(*params: torch.Tensor) -> None:
    for p in params:
        p.grad = None


def sin_sum(inp: dict):
    a = _leaf(inp["a"])

    def run():
        _clear(a)
        out = (2 * a.sin() + 1).sum()
        out.backward()
        return out, (a.grad,)
    return run


def model(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return w * x + b


def regression(inp: dict):
    x, y = _leaf(inp["x"], False), _leaf(inp["y"], False)
    p0, lr, epochs = inp["params"], inp["lr"], inp["epochs"]

    def run(epochs: int = epochs):
        params = _leaf(p0)
        loss = None
        for _ in range(epochs):
            if params.grad is not None:
                params.grad.zero_()
            loss = ((model(x, *params) - y) ** 2).mean()
            loss.backward()
            with torch.no_grad():
                params -= lr * params.grad
        return loss, (params,)
    return run


def mlp(inp: dict):
    x, t = _leaf(inp["x"], False), _leaf(inp["target"], False)
    net = torch.nn.Sequential(torch.nn.Linear(1000, 100), torch.nn.ReLU(), torch.nn.Linear(100, 10))
    with torch.no_grad():
        for p, k in zip(net.parameters(), ("w1", "b1", "w2", "b2"), strict=True):
            p.copy_(torch.from_numpy(inp[k]))
    loss_fn = torch.nn.MSELoss()

    def run():
        net.zero_grad()
        loss = loss_fn(net(x), t)
        loss.backward()
        return loss, tuple(p.grad for p in net.parameters())
    return run


def chain(inp: dict):
    x, y = _leaf(inp["x"]), _leaf(inp["y"])

    def run():
        _clear(x, y)
        f = ((x * y + x.sin()).tanh() * (-x * x).exp() + (y * y).log1p()).mean()
        f.backward()
        return f, (x.grad, y.grad)
    return run


def rnn(inp: dict):
    w_h, w_x = _leaf(inp["w_h"]), _leaf(inp["w_x"])
    h, x = _leaf(inp["h"], False), _leaf(inp["x"], False)

    def run():
        _clear(w_h, w_x)
        f = (w_h @ h + w_x @ x).tanh().sum()
        f.backward()
        return f, (w_h.grad, w_x.grad)
    return run


def div_mul_loop(inp: dict):
    x, y, z0 = _leaf(inp["x"]), _leaf(inp["y"]), _leaf(inp["z0"], False)
    steps = inp["steps"]

    def run():
        _clear(x, y)
        z = z0
        for _ in range(steps):
            z = (z / x) * y
        out = z.sum()
        out.backward()
        return out, (x.grad, y.grad)
    return run


def tiny_chain(inp: dict):
    x, y, ops = _leaf(inp["x"]), _leaf(inp["y"]), inp["ops"]

    def run():
        _clear(x, y)
        z = x
        for _ in range(ops):
            z = z * y
        out = z.sum()
        out.backward()
        return out, (x.grad, y.grad)
    return run


FACTORIES = {"W1": sin_sum, "W2": regression, "W3": mlp, "W4": chain, "W5": rnn, "W6": div_mul_loop,
             "OH": tiny_chain}
