"""Each workload through jitgrad's compiled mode: `jitgrad.value_and_grad(f, argnums)` over
NumPy arrays (one fused, compiled entry point per call), and `jitgrad.jit_grad` inside an
ordinary training loop (zero_grad, backward, optimizer step) for W2 and W3S.
"""
from __future__ import annotations

import jitgrad as jg

from . import model_rows


def unavailable() -> str | None:
    """Why this column cannot run (None: it can)."""
    return None


def _compiled(f, argnums, *args):
    """A zero-arg callable computing (value, grads) of f at args through one compiled function."""
    step = jg.value_and_grad(f, argnums=argnums)

    def run():
        value, grads = step(*args)
        return value, tuple(grads) if isinstance(grads, (tuple, list)) else (grads,)
    return run


def sin_sum(inp: dict):
    return _compiled(lambda a: (2 * jg.sin(a) + 1).sum(), 0, inp["a"])


def regression(inp: dict):
    """W2 as a PyTorch user writes it, with the loss under jit_grad: optim.SGD, zero_grad, backward, step."""
    loss_fn = jg.jit_grad(lambda params, x, y: ((params[0] * x + params[1] - y) ** 2).mean())
    x, y = jg.tensor(inp["x"]), jg.tensor(inp["y"])
    p0, lr, epochs = inp["params"], inp["lr"], inp["epochs"]

    def run(epochs: int = epochs):
        params = jg.tensor(p0, requires_grad=True)
        opt = jg.optim.SGD([params], lr=lr)
        loss = None
        for _ in range(epochs):
            opt.zero_grad()
            loss = loss_fn(params, x, y)
            loss.backward()
            opt.step()
        return loss, (params,)
    return run


def mlp(inp: dict):
    def loss_fn(w1, b1, w2, b2, x, t):
        h = jg.relu(x @ w1.t() + b1)
        return ((h @ w2.t() + b2 - t) ** 2).mean()
    return _compiled(loss_fn, (0, 1, 2, 3), *(inp[k] for k in ("w1", "b1", "w2", "b2", "x", "target")))


def chain(inp: dict):
    def f(x, y):
        return (jg.tanh(x * y + jg.sin(x)) * jg.exp(-x * x) + jg.log1p(y * y)).mean()
    return _compiled(f, (0, 1), inp["x"], inp["y"])


def rnn(inp: dict):
    def f(w_h, w_x, h, x):
        return jg.tanh(w_h @ h + w_x @ x).sum()
    return _compiled(f, (0, 1), inp["w_h"], inp["w_x"], inp["h"], inp["x"])


def div_mul_loop(inp: dict):
    steps = inp["steps"]

    def f(x, y, z):
        for _ in range(steps):
            z = (z / x) * y
        return z.sum()
    return _compiled(f, (0, 1), inp["x"], inp["y"], inp["z0"])


def tiny_chain(inp: dict):
    ops = inp["ops"]

    def f(x, y):
        z = x
        for _ in range(ops):
            z = z * y
        return z.sum()
    return _compiled(f, (0, 1), inp["x"], inp["y"])


def conv(inp: dict):
    def f(x, w, b, r):
        return (jg.nn.functional.conv2d(x, w, b, padding=1) * r).sum()
    return _compiled(f, (0, 1, 2), inp["x"], inp["w"], inp["b"], inp["r"])


def resnet(inp: dict):
    """The training step with the forward and backward compiled by jit_grad (eager optimizer)."""
    from .jitgrad_eager import resnet_model  # noqa: PLC0415
    x, labels = jg.tensor(inp["x"]), jg.tensor(inp["labels"])
    model = resnet_model(inp)
    optimizer = jg.optim.SGD(model.parameters(), lr=inp["lr"], momentum=inp["momentum"])
    loss_of = jg.jit_grad(lambda x, y: (model(x) - y).sum())

    def run():
        optimizer.zero_grad()
        loss = loss_of(x, labels)
        loss.backward()
        optimizer.step()
        return loss, (model.fc.weight.detach().clone(),)
    return run


def mlp_step(inp: dict):
    """W3S: the idiomatic step with the loss under jit_grad (backward and optimizer step eager)."""
    from .jitgrad_eager import mlp_step as eager_step  # noqa: PLC0415
    return eager_step(inp, jg.jit_grad)


FACTORIES = {"W1": sin_sum, "W2": regression, "W3": mlp, "W3S": mlp_step, "W4": chain, "W5": rnn, "W6": div_mul_loop,
             "OH": tiny_chain, "W7": conv, "W8": resnet}
FACTORIES.update(model_rows.factories(
    jg, lambda a, grad: jg.tensor(a, requires_grad=grad and a.dtype.kind == 'f'), jg.jit_grad))
