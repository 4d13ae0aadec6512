"""The training-step rows with the WHOLE step under `jitgrad.jit`: zero_grad, forward,
backward and the optimizer's update traced into one compiled program that writes parameters
(and .grad) in place (issue 13)."""
from __future__ import annotations

import jitgrad as jg

from . import first_call_copies, models
from .jitgrad_eager import mlp_loss, resnet_model
from .model_rows import MODEL_ROWS


def unavailable() -> str | None:
    """Why this column cannot run (None: it can)."""
    return None


def regression(inp: dict):
    """W2: the same parameters and compiled step for every run (each run starts from the initial values)."""
    x, y = jg.tensor(inp["x"]), jg.tensor(inp["y"])
    p0, epochs = inp["params"], inp["epochs"]
    params = jg.tensor(p0, requires_grad=True)
    opt = jg.optim.SGD([params], lr=inp["lr"])

    @jg.jit
    def step(x, y):
        opt.zero_grad()
        loss = ((params[0] * x + params[1] - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    def run(epochs: int = epochs):
        with jg.no_grad():
            params.copy_(jg.tensor(p0))
        loss = None
        for _ in range(epochs):
            loss = step(x, y)
        return loss, (params.detach().clone(),)
    return run


def mlp_step(inp: dict):
    """W3S: one SGD step of W3's MLP as one compiled call."""
    x, t = jg.tensor(inp["x"]), jg.tensor(inp["target"])
    params = [jg.tensor(inp[k].copy(), requires_grad=True) for k in ("w1", "b1", "w2", "b2")]
    opt = jg.optim.SGD(params, lr=inp["lr"])

    @jg.jit
    def step(x, t):
        opt.zero_grad()
        loss = mlp_loss(x, t, *params)
        loss.backward()
        opt.step()
        return loss

    def run():
        return step(x, t), tuple(params)
    return first_call_copies(run, lambda p: p.detach().clone())


def _model_step(name: str):
    """A model row's training step (zero_grad, forward, backward, SGD update) as ONE jg.jit call; it
    returns the loss and every parameter's gradient of that step, as the other columns' steps do
    (they stop before the update: this column does slightly more work)."""
    def factory(inp: dict):
        names = models.param_names(name, inp)
        params = [jg.tensor(inp["params"][k], requires_grad=True) for k in names]
        keys = [k for k in ("x", "y", "g") if k in inp]
        batch = [jg.tensor(inp[k]) for k in keys]
        sizes = {k: v for k, v in inp.items() if k in ("hidden", "layers")}
        causal = jg.tensor(inp["causal"]) if "causal" in inp else None
        opt = jg.optim.SGD(params, lr=1e-3)

        @jg.jit
        def step(*arrays):
            opt.zero_grad()
            loss = models.run_model(name, jg, dict(zip(names, params)), {**dict(zip(keys, arrays)), **sizes}, causal)
            loss.backward()
            opt.step()
            return loss

        def run():
            return step(*batch), tuple(p.grad for p in params)
        return first_call_copies(run, lambda t: t.detach().clone())
    return factory


def resnet(inp: dict):
    """W8: the seed's ResNet-18 SGD-momentum step (batch norm in training mode) as one compiled call."""
    x, labels = jg.tensor(inp["x"]), jg.tensor(inp["labels"])
    model = resnet_model(inp)
    opt = jg.optim.SGD(model.parameters(), lr=inp["lr"], momentum=inp["momentum"])

    @jg.jit
    def step(x, labels):
        opt.zero_grad()
        loss = (model(x) - labels).sum()
        loss.backward()
        opt.step()
        return loss

    def run():
        return step(x, labels), (model.fc.weight,)
    return first_call_copies(run, lambda p: p.detach().clone())


FACTORIES = {"W2": regression, "W3S": mlp_step, "W8": resnet}
FACTORIES.update({name: _model_step(name) for name in MODEL_ROWS if name != "EMB"})
