"""Compare a jitgrad nn layer (or function) with PyTorch's on the same weights and inputs: output
values, input gradients and parameter gradients, eagerly or compiled through jit_grad."""
from __future__ import annotations

import numpy as np
from helpers import cotangent

import jitgrad as jg


def copy_weights(jg_module, torch_module) -> None:
    """Load the torch module's parameters and buffers into the jitgrad module (same names)."""
    state = {k: jg.tensor(v.detach().numpy().copy()) for k, v in torch_module.state_dict().items()}
    jg_module.load_state_dict(state)


def _flat(value) -> list:
    if value is None:
        return []
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _flat(v)]
    return [value]


def _leaves(arrays, lib):
    out = []
    for a in arrays:
        a = np.asarray(a)
        if a.dtype.kind == "f":
            t = jg.tensor(a.copy()) if lib == "jg" else _torch().tensor(a.copy())
            out.append(t.requires_grad_())
        else:
            out.append(jg.tensor(a.copy()) if lib == "jg" else _torch().tensor(a.copy()))
    return out


def _torch():
    import torch
    return torch


def run(fn, module, arrays, lib: str, compiled: bool = False):
    """(output arrays, input-gradient arrays, {param name: grad array}) of fn(module, *inputs)
    with a fixed random cotangent per floating output."""
    xs = _leaves(arrays, lib)
    if module is not None:
        module.zero_grad()
    def call(*a):
        return fn(module, *a)

    if compiled:
        call = jg.jit_grad(call)
    outs = _flat(call(*xs))
    total = None
    for o in outs:
        if o.dtype.is_floating_point if lib == "torch" else o.dtype.kind == "f":
            if not o.requires_grad:
                continue
            c = cotangent(tuple(o.shape), np.dtype(str(o.dtype).replace("torch.", "")))
            term = (o * (jg.tensor(c) if lib == "jg" else _torch().tensor(c))).sum()
            total = term if total is None else total + term
    if total is not None:
        total.backward()
    values = [o.detach().numpy() for o in outs]
    grads = [None if not getattr(x, "requires_grad", False) or x.grad is None else x.grad.numpy() for x in xs]
    params = {} if module is None else {n: (None if p.grad is None else p.grad.numpy())
                                        for n, p in module.named_parameters()}
    return values, grads, params


def assert_close(a, b, rtol, atol, what):
    assert (a is None) == (b is None), f"{what}: {a is None} vs torch {b is None}"
    if a is not None:
        assert a.shape == b.shape, f"{what}: shape {a.shape} vs torch {b.shape}"
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=what)


def compare(fn_jg, fn_torch, arrays, jg_module=None, torch_module=None, rtol=1e-5, atol=1e-6,
            compiled: bool = False) -> None:
    """fn_jg(jg_module, *inputs) and fn_torch(torch_module, *inputs) agree (values, input and parameter grads)."""
    if jg_module is not None:
        copy_weights(jg_module, torch_module)
    ours = run(fn_jg, jg_module, arrays, "jg", compiled)
    theirs = run(fn_torch, torch_module, arrays, "torch")
    assert len(ours[0]) == len(theirs[0])
    for i, (a, b) in enumerate(zip(ours[0], theirs[0])):
        assert_close(a, b, rtol, atol, f"output {i}")
    for i, (a, b) in enumerate(zip(ours[1], theirs[1])):
        if b is None and a is not None and not a.any():
            continue
        assert_close(a, b, rtol, atol, f"gradient of input {i}")
    assert ours[2].keys() == theirs[2].keys()
    for name in theirs[2]:
        assert_close(ours[2][name], theirs[2][name], rtol, atol, f"gradient of {name}")
