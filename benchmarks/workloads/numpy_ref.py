"""The baseline: each workload in plain NumPy with its gradient written by hand.

Written the way a careful NumPy programmer would: the same algorithm as the autodiff variants
(no algebraic shortcuts that change the work, e.g. W6 keeps its loop), float32 throughout, and
in-place ufuncs (`out=`) wherever a temporary can be reused.
"""
from __future__ import annotations

import numpy as np

from . import first_call_copies

F32 = np.float32


def sin_sum(inp: dict):
    """W1: out = sum(2 sin a + 1); d out / d a = 2 cos a."""
    a = inp["a"]

    def run():
        t = np.sin(a)
        t *= 2
        t += 1
        value = t.sum()
        grad = np.cos(a, out=t)
        grad *= 2
        return value, (grad,)
    return run


def regression(inp: dict):
    """W2: SGD on mean((w x + b - y)^2); d/dw = 2 mean(err x), d/db = 2 mean(err)."""
    x, y, p0, epochs = inp["x"], inp["y"], inp["params"], inp["epochs"]
    lr = F32(inp["lr"])
    n = x.size
    two_over_n = F32(2.0 / n)

    def run(epochs: int = epochs):
        params = p0.copy()
        err = np.empty_like(x)
        grad = np.empty(2, dtype=F32)
        loss = None
        for _ in range(epochs):
            np.multiply(x, params[0], out=err)
            err += params[1]
            err -= y
            loss = np.dot(err, err) / F32(n)
            grad[0] = np.dot(err, x)
            grad[1] = err.sum()
            grad *= two_over_n
            grad *= lr
            params -= grad
        return loss, (params,)
    return run


def mlp(inp: dict):
    """W3: mean((relu(x W1^T + b1) W2^T + b2 - t)^2) and the grads of W1, b1, W2, b2."""
    x, t, w1, b1, w2, b2 = (inp[k] for k in ("x", "target", "w1", "b1", "w2", "b2"))
    scale = F32(2.0 / t.size)

    def run():
        a = x @ w1.T
        a += b1
        np.maximum(a, 0, out=a)          # a = relu(h); a > 0 exactly where h > 0
        d = a @ w2.T
        d += b2
        d -= t                            # d = out - target
        flat = d.ravel()
        value = np.dot(flat, flat) / F32(t.size)
        d *= scale                        # d = d loss / d out
        g_w2 = d.T @ a
        g_b2 = d.sum(axis=0)
        g_a = d @ w2
        g_a *= a > 0                      # through the ReLU
        g_w1 = g_a.T @ x
        g_b1 = g_a.sum(axis=0)
        return value, (g_w1, g_b1, g_w2, g_b2)
    return run


def mlp_step(inp: dict):
    """W3S: W3's loss and gradients (above), then p -= lr * grad for each parameter."""
    params = {k: inp[k].copy() for k in ("w1", "b1", "w2", "b2")}
    grads_of = mlp({**inp, **params})
    lr = F32(inp["lr"])

    def run():
        value, grads = grads_of()
        for k, g in zip(("w1", "b1", "w2", "b2"), grads, strict=True):
            g *= lr
            params[k] -= g
        return value, tuple(params.values())
    return first_call_copies(run, np.copy)


def chain(inp: dict):
    """W4: f = mean(tanh(x y + sin x) e + log1p(y^2)), e = exp(-x^2), with u = x y + sin x, t = tanh u:
    df/dx = [(1 - t^2) e (y + cos x) - 2 x t e] / n,  df/dy = [(1 - t^2) e x + 2 y / (1 + y^2)] / n."""
    x, y = inp["x"], inp["y"]
    inv_n = F32(1.0 / x.size)

    def run():
        buf = np.sin(x)
        t = np.multiply(x, y)
        t += buf
        np.tanh(t, out=t)                        # t = tanh(x y + sin x)
        e = np.square(x)
        np.negative(e, out=e)
        np.exp(e, out=e)                         # e = exp(-x^2)
        y2 = np.square(y)
        te = np.multiply(t, e)
        value = (te.sum() + np.log1p(y2, out=buf).sum()) * inv_n
        du = np.square(t, out=t)
        np.subtract(1, du, out=du)
        du *= e
        du *= inv_n                              # du = (1 - t^2) e / n
        g_x = np.cos(x, out=buf)
        g_x += y
        g_x *= du
        te *= x
        te *= 2 * inv_n
        g_x -= te
        g_y = np.multiply(du, x, out=du)
        y2 += 1
        np.divide(y, y2, out=y2)
        y2 *= 2 * inv_n
        g_y += y2
        return value, (g_x, g_y)
    return run


def rnn(inp: dict):
    """W5: f = sum(tanh(W_h h + W_x x)); with g = 1 - tanh^2: df/dW_h = g h^T, df/dW_x = g x^T."""
    w_h, h, w_x, x = inp["w_h"], inp["h"], inp["w_x"], inp["x"]

    def run():
        z = w_h @ h
        z += w_x @ x
        np.tanh(z, out=z)
        value = z.sum()
        np.square(z, out=z)
        np.subtract(1, z, out=z)
        return value, (z @ h.T, z @ x.T)
    return run


def div_mul_loop(inp: dict):
    """W6: z <- (z / x) * y repeated; reverse pass over the saved quotients q = z / x:
    dy += g q, g <- g y / x, dx -= g q (with the new g)."""
    x, y, z0, steps = inp["x"], inp["y"], inp["z0"], inp["steps"]

    def run():
        z = z0
        saved = []
        for _ in range(steps):
            q = z / x
            z = q * y
            saved.append(q)
        value = z.sum()
        g = np.ones_like(z)
        g_x = np.zeros_like(x)
        g_y = np.zeros_like(y)
        for q in reversed(saved):
            g_y += g * q
            g = g * y
            g /= x
            g_x -= g * q
        return value, (g_x, g_y)
    return run


def tiny_chain(inp: dict):
    """OH: z <- z * y repeated on 4 elements, value sum(z); reverse pass: dy += g z_prev, g <- g y."""
    x, y, ops = inp["x"], inp["y"], inp["ops"]

    def run():
        z = x
        saved = []
        for _ in range(ops):
            saved.append(z)
            z = z * y
        value = z.sum()
        g = np.ones_like(z)
        g_y = np.zeros_like(y)
        for prev in reversed(saved):
            g_y += g * prev
            g = g * y
        return value, (g, g_y)
    return run


def conv(inp: dict):
    """W7: y = conv2d(x, w, padding=1) + b through im2col and one GEMM; value = sum(y r);
    dL/dw = r . cols^T, dL/db = sum r, dL/dx = col2im(w^T r)."""
    x, w, b, r = inp["x"], inp["w"], inp["b"], inp["r"]
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    w2 = w.reshape(o, -1)

    def run():
        xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
        win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))  # (n, c, h, w, kh, kw)
        cols = np.ascontiguousarray(win.transpose(1, 4, 5, 0, 2, 3)).reshape(c * kh * kw, n * h * wd)
        y = (w2 @ cols).reshape(o, n, h, wd).transpose(1, 0, 2, 3) + b.reshape(1, o, 1, 1)
        value = np.vdot(y, r)
        r2 = np.ascontiguousarray(r.transpose(1, 0, 2, 3)).reshape(o, -1)
        g_w = (r2 @ cols.T).reshape(w.shape)
        g_b = r.sum(axis=(0, 2, 3))
        g_cols = (w2.T @ r2).reshape(c, kh, kw, n, h, wd)
        g_xp = np.zeros_like(xp)
        for i in range(kh):
            for j in range(kw):
                g_xp[:, :, i:i + h, j:j + wd] += g_cols[:, i, j].transpose(1, 0, 2, 3)
        return value, (g_xp[:, :, 1:-1, 1:-1], g_w, g_b)
    return run


FACTORIES = {"W1": sin_sum, "W2": regression, "W3": mlp, "W3S": mlp_step, "W4": chain, "W5": rnn, "W6": div_mul_loop,
             "OH": tiny_chain, "W7": conv}
