"""W2's whole training run in ONE call: `jitgrad.fori_loop` over a body traced once (loss,
gradient and update) and compiled as a real loop (issue 13)."""
from __future__ import annotations

import numpy as np

import jitgrad as jg


def unavailable() -> str | None:
    """Why this column cannot run (None: it can)."""
    return None


def regression(inp: dict):
    x, y = jg.tensor(inp["x"]), jg.tensor(inp["y"])
    p0, epochs = inp["params"], inp["epochs"]
    lr = np.float32(inp["lr"])
    loss_and_grad = jg.value_and_grad(lambda params: ((params[0] * x + params[1] - y) ** 2).mean())

    def body(i, state):
        params, _ = state
        loss, grad = loss_and_grad(params)
        return params - lr * grad, loss

    def run(epochs: int = epochs):
        params, loss = jg.fori_loop(epochs, body, (p0, np.float32(0)))
        return loss, (params,)
    return run


FACTORIES = {"W2": regression}
