"""Each workload in jitgrad's eager mode, written as a PyTorch user would write it."""
from __future__ import annotations

import jitgrad as jg

from . import first_call_copies, model_rows


def _leaf(array, requires_grad: bool = True) -> jg.Tensor:
    return jg.tensor(array, requires_grad=requires_grad)


def _clear(*params: jg.Tensor) -> None:
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


def model(x: jg.Tensor, w: jg.Tensor, b: jg.Tensor) -> jg.Tensor:
    return w * x + b


def regression(inp: dict):
    """W2 as a PyTorch user writes it: optim.SGD, zero_grad, backward, step."""
    x, y = _leaf(inp["x"], False), _leaf(inp["y"], False)
    p0, lr, epochs = inp["params"], inp["lr"], inp["epochs"]

    def run(epochs: int = epochs):
        params = _leaf(p0)
        opt = jg.optim.SGD([params], lr=lr)
        loss = None
        for _ in range(epochs):
            opt.zero_grad()
            loss = ((model(x, *params) - y) ** 2).mean()
            loss.backward()
            opt.step()
        return loss, (params,)
    return run


def mlp(inp: dict):
    x, t = _leaf(inp["x"], False), _leaf(inp["target"], False)
    params = w1, b1, w2, b2 = tuple(_leaf(inp[k]) for k in ("w1", "b1", "w2", "b2"))

    def run():
        _clear(*params)
        h = (x @ w1.t() + b1).relu()
        loss = ((h @ w2.t() + b2 - t) ** 2).mean()
        loss.backward()
        return loss, tuple(p.grad for p in params)
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


def conv(inp: dict):
    x, w, b = _leaf(inp["x"]), _leaf(inp["w"]), _leaf(inp["b"])
    r = _leaf(inp["r"], False)

    def run():
        _clear(x, w, b)
        value = (jg.nn.functional.conv2d(x, w, b, padding=1) * r).sum()
        value.backward()
        return value, (x.grad, w.grad, b.grad)
    return run


def resnet_model(inp: dict):
    """jitgrad's ResNet-18 holding the workload's initial weights."""
    model = jg.models.resnet18()
    model.load_state_dict(inp["state"])
    return model


def resnet(inp: dict):
    """One SGD-momentum step per call on one model (the first call, which is checked, starts
    from the workload's weights; timed calls keep training it)."""
    x, labels = _leaf(inp["x"], False), _leaf(inp["labels"], False)
    model = resnet_model(inp)
    optimizer = jg.optim.SGD(model.parameters(), lr=inp["lr"], momentum=inp["momentum"])

    def run():
        optimizer.zero_grad()
        loss = (model(x) - labels).sum()
        loss.backward()
        optimizer.step()
        return loss, (model.fc.weight.detach().clone(),)
    return run


def mlp_loss(x, t, w1, b1, w2, b2):
    """W3's loss (W3S trains with it)."""
    return ((jg.relu(x @ w1.t() + b1) @ w2.t() + b2 - t) ** 2).mean()


def mlp_step(inp: dict, compile_loss=None):
    """W3S: one SGD step as a PyTorch user writes it (compile_loss: jit_grad for the jit column)."""
    x, t = _leaf(inp["x"], False), _leaf(inp["target"], False)
    params = [_leaf(inp[k].copy()) for k in ("w1", "b1", "w2", "b2")]
    opt = jg.optim.SGD(params, lr=inp["lr"])
    loss_fn = compile_loss(mlp_loss) if compile_loss else mlp_loss

    def run():
        opt.zero_grad()
        loss = loss_fn(x, t, *params)
        loss.backward()
        opt.step()
        return loss, tuple(params)
    return first_call_copies(run, lambda p: p.detach().clone())


FACTORIES = {"W1": sin_sum, "W2": regression, "W3": mlp, "W3S": mlp_step, "W4": chain, "W5": rnn, "W6": div_mul_loop,
             "OH": tiny_chain, "W7": conv, "W8": resnet}
FACTORIES.update(model_rows.factories(
    jg, lambda a, grad: jg.tensor(a, requires_grad=grad and a.dtype.kind == 'f'), None))
