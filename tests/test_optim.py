"""jitgrad.optim against PyTorch: same weights and data give the same losses, gradients and
parameters after several steps, for every option and every executor (NumPy, Numba per tensor,
one Numba call per dtype); plus param groups, state dicts, skipping and error paths."""
from __future__ import annotations

import numpy as np
import pytest

import jitgrad
from jitgrad import nn, optim
from jitgrad.optim import fused

torch = pytest.importorskip("torch")

MODES = [False, fused.PER_TENSOR, fused.ONE_CALL]

CONFIGS = {
    "sgd": ("SGD", dict(lr=0.1)),
    "sgd momentum": ("SGD", dict(lr=0.1, momentum=0.9)),
    "sgd nesterov+wd": ("SGD", dict(lr=0.1, momentum=0.8, nesterov=True, weight_decay=0.05)),
    "sgd dampening+maximize": ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, maximize=True)),
    "adam": ("Adam", dict(lr=0.01)),
    "adam wd+amsgrad": ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, amsgrad=True)),
    "adam maximize": ("Adam", dict(lr=0.01, maximize=True)),
    "adamw": ("AdamW", dict(lr=0.01)),
    "adamw amsgrad": ("AdamW", dict(lr=0.02, weight_decay=0.3, amsgrad=True)),
}

X = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
T = np.array([0, 1, 2, 1, 0, 2])


def twin_models(dtype=torch.float32):
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3)).to(dtype)
    jm = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3))
    if dtype == torch.float64:
        jm.double()
    jm.load_state_dict(tm.state_dict())
    return tm, jm


def train_both(tm, jm, to, jo, steps=4, dtype=torch.float32):
    """Run both; after each step compare loss, grads and params."""
    x_t, x_j = torch.tensor(X, dtype=dtype), jitgrad.tensor(X.astype(np.float64 if dtype == torch.float64
                                                                       else np.float32))
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == torch.float32 else dict(rtol=1e-11, atol=1e-12)
    for step in range(steps):
        to.zero_grad()
        jo.zero_grad()
        lt = torch.nn.functional.cross_entropy(tm(x_t), torch.tensor(T))
        lj = nn.functional.cross_entropy(jm(x_j), jitgrad.tensor(T))
        lt.backward()
        lj.backward()
        np.testing.assert_allclose(lj.item(), lt.item(), **tol, err_msg=f"loss at step {step}")
        for pt, pj in zip(tm.parameters(), jm.parameters(), strict=True):
            assert (pj.grad is None) == (pt.grad is None)
            if pt.grad is not None:
                np.testing.assert_allclose(pj.grad.numpy(), pt.grad.numpy(), **tol, err_msg=f"grad at step {step}")
        to.step()
        jo.step()
        for pt, pj in zip(tm.parameters(), jm.parameters(), strict=True):
            np.testing.assert_allclose(pj.detach().numpy(), pt.detach().numpy(), **tol,
                                       err_msg=f"param after step {step}")


@pytest.mark.parametrize("mode", MODES, ids=["numpy", "per_tensor", "one_call"])
@pytest.mark.parametrize("config", CONFIGS)
def test_matches_torch(config, mode):
    name, kw = CONFIGS[config]
    tm, jm = twin_models()
    train_both(tm, jm, getattr(torch.optim, name)(tm.parameters(), **kw),
               getattr(optim, name)(jm.parameters(), fused=mode, **kw))


@pytest.mark.parametrize("name, kw", [("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
                                      ("Adam", dict(lr=0.01, amsgrad=True))])
def test_matches_torch_float64(name, kw):
    tm, jm = twin_models(torch.float64)
    train_both(tm, jm, getattr(torch.optim, name)(tm.parameters(), **kw),
               getattr(optim, name)(jm.parameters(), **kw), dtype=torch.float64)


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_param_groups_with_different_lr(name):
    tm, jm = twin_models()
    kw = dict(momentum=0.9) if name == "SGD" else {}
    to = getattr(torch.optim, name)([{"params": tm[0].parameters()}, {"params": tm[2].parameters(), "lr": 0.5}],
                                    lr=0.05, **kw)
    jo = getattr(optim, name)([{"params": jm[0].parameters()}, {"params": jm[2].parameters(), "lr": 0.5}],
                              lr=0.05, **kw)
    assert [g["lr"] for g in jo.param_groups] == [0.05, 0.5]
    train_both(tm, jm, to, jo)


def test_add_param_group_later():
    tm, jm = twin_models()
    to = torch.optim.Adam(tm[0].parameters(), lr=0.01)
    jo = optim.Adam(jm[0].parameters(), lr=0.01)
    train_both(tm, jm, to, jo, steps=2)
    to.add_param_group({"params": tm[2].parameters(), "lr": 0.03})
    jo.add_param_group({"params": jm[2].parameters(), "lr": 0.03})
    train_both(tm, jm, to, jo, steps=2)


@pytest.mark.parametrize("mode", MODES, ids=["numpy", "per_tensor", "one_call"])
def test_params_without_grad_are_skipped(mode):
    a, b = nn.Parameter(jitgrad.ones(3)), nn.Parameter(jitgrad.ones(2))
    opt = optim.Adam([a, b], lr=0.1, fused=mode)
    (a * 2).sum().backward()
    va, vb = a._version, b._version
    opt.step()
    assert b.grad is None and np.array_equal(b.detach().numpy(), np.ones(2)) and b not in opt.state
    assert not np.allclose(a.detach().numpy(), 1.0) and opt.state[a]["step"] == 1
    assert a._version == va + 1 and b._version == vb


def test_update_is_in_place_and_keeps_identity():
    p = nn.Parameter(jitgrad.tensor([1.0, 2.0]))
    storage = p._data
    opt = optim.SGD([p], lr=0.5)
    (p * p).sum().backward()
    opt.step()
    assert p._data is storage and p.is_leaf and p.requires_grad
    np.testing.assert_allclose(p.detach().numpy(), [0.0, 0.0])


def test_mixed_steps_in_one_batch():
    """A param that missed steps (no grad) has its own step count; bias correction follows it."""
    tm, jm = twin_models()
    to, jo = torch.optim.Adam(tm.parameters(), lr=0.01), optim.Adam(jm.parameters(), lr=0.01, fused=fused.ONE_CALL)
    for model in (tm, jm):
        model[2].weight.requires_grad_(False)
    train_both(tm, jm, to, jo, steps=2)
    for model in (tm, jm):
        model[2].weight.requires_grad_(True)
    train_both(tm, jm, to, jo, steps=2)
    assert jo.state[jm[2].weight]["step"] == 2 and jo.state[jm[0].weight]["step"] == 4


@pytest.mark.parametrize("name, kw", [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(lr=0.01, amsgrad=True))])
def test_state_dict_round_trip(name, kw):
    tm, jm = twin_models()
    jo = getattr(optim, name)(jm.parameters(), **kw)
    to = getattr(torch.optim, name)(tm.parameters(), **kw)
    train_both(tm, jm, to, jo, steps=2)
    saved = jo.state_dict()
    assert sorted(saved["state"]) == [0, 1, 2, 3] and saved["param_groups"][0]["params"] == [0, 1, 2, 3]
    if name == "Adam":
        assert saved["state"][0]["step"].item() == 2.0
        assert set(saved["state"][0]) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    fresh = getattr(optim, name)(jm.parameters(), lr=123.0)
    fresh.load_state_dict(saved)
    assert fresh.param_groups[0]["lr"] == kw["lr"]
    train_both(tm, jm, to, fresh, steps=2)


def test_state_dict_errors():
    p, q = nn.Parameter(jitgrad.ones(2)), nn.Parameter(jitgrad.ones(2))
    saved = optim.SGD([p], lr=0.1).state_dict()
    with pytest.raises(ValueError, match="doesn't match the size"):
        optim.SGD([p, q], lr=0.1).load_state_dict(saved)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        optim.SGD([{"params": [p]}, {"params": [q]}], lr=0.1).load_state_dict(saved)


def test_zero_grad_and_closure():
    p = nn.Parameter(jitgrad.tensor([3.0]))
    opt = optim.SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 9.0
    np.testing.assert_allclose(p.detach().numpy(), [1.5])
    g = p.grad
    opt.zero_grad(set_to_none=False)
    assert p.grad is g and p.grad.item() == 0.0
    opt.zero_grad()
    assert p.grad is None


def test_repr():
    text = repr(optim.SGD([nn.Parameter(jitgrad.ones(1))], lr=0.1))
    assert text.startswith("SGD (\nParameter Group 0\n") and "    lr: 0.1\n" in text


@pytest.mark.parametrize("make, match", [
    (lambda p: optim.SGD(p, lr=-1.0), "Invalid learning rate"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=-0.5), "Invalid momentum"),
    (lambda p: optim.SGD(p, lr=0.1, nesterov=True), "Nesterov momentum requires"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "Nesterov momentum requires"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.999)), "Invalid beta parameter at index 0"),
    (lambda p: optim.Adam(p, eps=-1.0), "Invalid epsilon"),
    (lambda p: optim.AdamW(p, weight_decay=-1.0), "Invalid weight_decay"),
    (lambda p: optim.SGD([], lr=0.1), "empty parameter list"),
    (lambda p: optim.SGD([p[0], p[0]], lr=0.1), "same parameter twice"),
    (lambda p: optim.SGD([{"params": p}, {"params": p}], lr=0.1), "more than one parameter group"),
    (lambda p: optim.SGD([p[0] * 2], lr=0.1), "non-leaf"),
])
def test_option_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make([nn.Parameter(jitgrad.ones(2))])


def test_type_errors():
    p = nn.Parameter(jitgrad.ones(2))
    with pytest.raises(TypeError, match="iterable of Tensors"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        optim.SGD({p}, lr=0.1)


def test_kernel_choice_rule():
    small = [nn.Parameter(jitgrad.ones(3)) for _ in range(4)]
    big = [nn.Parameter(jitgrad.ones(100, 100)), nn.Parameter(jitgrad.ones(100))]
    assert fused.choose({"fused": None}, small, uniform=True) == fused.ONE_CALL
    assert fused.choose({"fused": None}, small, uniform=False) == fused.PER_TENSOR
    assert fused.choose({"fused": None}, big, uniform=True) == fused.PER_TENSOR
    assert fused.choose({"fused": False}, small, uniform=True) == fused.NUMPY
