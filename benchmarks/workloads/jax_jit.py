"""Each workload in JAX: `jax.jit(jax.value_and_grad(f))`, float32 on the CPU; every call blocks
until its result is ready, so the timing covers the work and not just the dispatch."""
from __future__ import annotations

import jax
import jax.numpy as jnp


def _compiled(f, argnums, *args):
    """A zero-arg callable computing (value, grads) of f at args through one jitted function."""
    step = jax.jit(jax.value_and_grad(f, argnums=argnums))
    args = tuple(jnp.asarray(a) for a in args)

    def run():
        value, grads = jax.block_until_ready(step(*args))
        return value, tuple(grads) if isinstance(grads, tuple) else (grads,)
    return run


def sin_sum(inp: dict):
    return _compiled(lambda a: jnp.sum(2 * jnp.sin(a) + 1), 0, inp["a"])


def regression(inp: dict):
    lr, epochs = inp["lr"], inp["epochs"]
    x, y, p0 = (jnp.asarray(inp[k]) for k in ("x", "y", "params"))

    def loss_fn(params, x, y):
        w, b = params
        return jnp.mean((w * x + b - y) ** 2)

    @jax.jit
    def step(params, x, y):
        loss, grad = jax.value_and_grad(loss_fn)(params, x, y)
        return loss, params - lr * grad

    def run(epochs: int = epochs):
        params, loss = p0, None
        for _ in range(epochs):
            loss, params = step(params, x, y)
        return jax.block_until_ready(loss), (jax.block_until_ready(params),)
    return run


def mlp(inp: dict):
    def loss_fn(w1, b1, w2, b2, x, t):
        h = jax.nn.relu(x @ w1.T + b1)
        return jnp.mean((h @ w2.T + b2 - t) ** 2)
    return _compiled(loss_fn, (0, 1, 2, 3), *(inp[k] for k in ("w1", "b1", "w2", "b2", "x", "target")))


def chain(inp: dict):
    def f(x, y):
        return jnp.mean(jnp.tanh(x * y + jnp.sin(x)) * jnp.exp(-x * x) + jnp.log1p(y * y))
    return _compiled(f, (0, 1), inp["x"], inp["y"])


def rnn(inp: dict):
    def f(w_h, w_x, h, x):
        return jnp.sum(jnp.tanh(w_h @ h + w_x @ x))
    return _compiled(f, (0, 1), inp["w_h"], inp["w_x"], inp["h"], inp["x"])


def div_mul_loop(inp: dict):
    steps = inp["steps"]

    def f(x, y, z0):
        return jnp.sum(jax.lax.fori_loop(0, steps, lambda _, z: (z / x) * y, z0))
    return _compiled(f, (0, 1), inp["x"], inp["y"], inp["z0"])


def tiny_chain(inp: dict):
    ops = inp["ops"]

    def f(x, y):
        return jnp.sum(jax.lax.fori_loop(0, ops, lambda _, z: z * y, x))
    return _compiled(f, (0, 1), inp["x"], inp["y"])


def mlp_step(inp: dict):
    """W3S: one SGD step of W3's MLP as a jitted functional update."""
    lr = inp["lr"]
    x, t = jnp.asarray(inp["x"]), jnp.asarray(inp["target"])

    def loss_fn(params):
        w1, b1, w2, b2 = params
        return jnp.mean((jax.nn.relu(x @ w1.T + b1) @ w2.T + b2 - t) ** 2)

    @jax.jit
    def step(params):
        loss, grads = jax.value_and_grad(loss_fn)(params)
        return loss, tuple(p - lr * g for p, g in zip(params, grads))

    state = {"params": tuple(jnp.asarray(inp[k]) for k in ("w1", "b1", "w2", "b2"))}

    def run():
        loss, state["params"] = step(state["params"])
        return jax.block_until_ready(loss), state["params"]
    return run


FACTORIES = {"W1": sin_sum, "W2": regression, "W3": mlp, "W3S": mlp_step, "W4": chain, "W5": rnn, "W6": div_mul_loop,
             "OH": tiny_chain}
