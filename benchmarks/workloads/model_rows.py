"""Factories for the model rows (MLPE, GRU, TRF, EMB), shared by the jitgrad eager, jitgrad jit
and PyTorch columns: each column converts the same NumPy weights and batch into its tensors
and times one training step (forward, backward, every parameter's gradient)."""
from __future__ import annotations

from collections.abc import Callable

from . import models

MODEL_ROWS = ("MLPE", "GRU", "TRF", "EMB")


def factories(m, to_tensor: Callable, wrap: Callable | None = None) -> dict:
    """{row: factory} for namespace `m`; to_tensor(array, requires_grad) makes its tensors;
    wrap(loss_fn) compiles the loss (jitgrad.jit_grad) or None for eager."""
    def make(name: str):
        def factory(inp: dict):
            names = models.param_names(name, inp)
            params = [to_tensor(inp["params"][k], True) for k in names]
            batch = {k: to_tensor(v, False) for k, v in inp.items() if k in ("x", "y", "g")}
            batch.update({k: v for k, v in inp.items() if k in ("hidden", "layers")})
            causal = to_tensor(inp["causal"], False) if "causal" in inp else None

            def loss_fn(*ps):
                return models.run_model(name, m, dict(zip(names, ps)), batch, causal)
            step = wrap(loss_fn) if wrap else loss_fn

            def run():
                for p in params:
                    p.grad = None
                loss = step(*params)
                loss.backward()
                return loss, tuple(p.grad for p in params)
            return run
        return factory
    return {name: make(name) for name in MODEL_ROWS}
