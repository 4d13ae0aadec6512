"""RMSprop, Adagrad, Adadelta and LBFGS against PyTorch: the same tiny model with copied weights,
trained N steps in both, gives the same parameters (float32 ~1e-6, float64 ~1e-12); state dicts
round-trip for every optimizer; bad options raise PyTorch's exception types."""
from __future__ import annotations

import numpy as np
import pytest

import jitgrad
from jitgrad import nn, optim

torch = pytest.importorskip("torch")

CONFIGS = {
    "rmsprop": ("RMSprop", dict(lr=0.01)),
    "rmsprop momentum+wd": ("RMSprop", dict(lr=0.01, alpha=0.9, momentum=0.8, weight_decay=0.1, eps=1e-6)),
    "rmsprop centered": ("RMSprop", dict(lr=0.005, centered=True)),
    "rmsprop centered+momentum+maximize": ("RMSprop", dict(lr=0.005, centered=True, momentum=0.5, maximize=True)),
    "adagrad": ("Adagrad", dict(lr=0.1)),
    "adagrad all options": ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.3,
                                            eps=1e-6)),
    "adadelta": ("Adadelta", dict()),
    "adadelta options": ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-5, weight_decay=0.2, maximize=True)),
}

X = np.random.default_rng(0).standard_normal((6, 4))
Y = np.random.default_rng(1).standard_normal((6, 3))


def twin_models(dtype):
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3)).to(dtype)
    jm = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3))
    if dtype == torch.float64:
        jm.double()
    jm.load_state_dict(tm.state_dict())
    return tm, jm


def losses(tm, jm, dtype):
    np_dtype = np.float64 if dtype == torch.float64 else np.float32
    lt = ((tm(torch.tensor(X, dtype=dtype)) - torch.tensor(Y, dtype=dtype)) ** 2).mean()
    lj = ((jm(jitgrad.tensor(X.astype(np_dtype))) - jitgrad.tensor(Y.astype(np_dtype))) ** 2).mean()
    return lt, lj


def tolerance(dtype):
    return dict(rtol=1e-5, atol=1e-6) if dtype == torch.float32 else dict(rtol=1e-11, atol=1e-12)


def assert_same_params(tm, jm, dtype, what=""):
    for pt, pj in zip(tm.parameters(), jm.parameters(), strict=True):
        np.testing.assert_allclose(pj.detach().numpy(), pt.detach().numpy(), **tolerance(dtype), err_msg=what)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("config", list(CONFIGS))
def test_matches_pytorch_step_for_step(config, dtype):
    name, kwargs = CONFIGS[config]
    tm, jm = twin_models(dtype)
    to = getattr(torch.optim, name)(tm.parameters(), **kwargs)
    jo = getattr(optim, name)(jm.parameters(), **kwargs)
    for step in range(6):
        to.zero_grad()
        jo.zero_grad()
        lt, lj = losses(tm, jm, dtype)
        lt.backward()
        lj.backward()
        to.step()
        jo.step()
        assert_same_params(tm, jm, dtype, f"{config} after step {step}")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("kwargs", [dict(), dict(history_size=3, max_iter=7), dict(line_search_fn="strong_wolfe"),
                                    dict(line_search_fn="strong_wolfe", history_size=2, lr=0.5, max_iter=10)],
                         ids=["default", "short history", "strong_wolfe", "strong_wolfe short history"])
def test_lbfgs_matches_pytorch(kwargs, dtype):
    if dtype == torch.float32:
        # float32: over many inner iterations L-BFGS amplifies last-bit differences of the forward
        # pass (BLAS vs PyTorch's matmul summation order) to ~1e-5 after 20; the float64 runs show
        # the algorithm itself matches to 1e-12, so float32 runs short steps at ~1e-6.
        kwargs = dict(kwargs, max_iter=4)
    tm, jm = twin_models(dtype)
    to = torch.optim.LBFGS(tm.parameters(), **kwargs)
    jo = optim.LBFGS(jm.parameters(), **kwargs)
    counts = {"torch": 0, "jitgrad": 0}

    def closure_t():
        counts["torch"] += 1
        to.zero_grad()
        lt, _ = losses(tm, jm, dtype)
        lt.backward()
        return lt

    def closure_j():
        counts["jitgrad"] += 1
        jo.zero_grad()
        _, lj = losses(tm, jm, dtype)
        lj.backward()
        return lj

    tol = tolerance(dtype) if dtype == torch.float64 else dict(rtol=1e-5, atol=5e-6)
    for step in range(3):
        lt = to.step(closure_t)
        lj = jo.step(closure_j)
        np.testing.assert_allclose(lj.item(), lt.item(), **tol, err_msg=f"loss at step {step}")
        for pt, pj in zip(tm.parameters(), jm.parameters(), strict=True):
            np.testing.assert_allclose(pj.detach().numpy(), pt.detach().numpy(), **tol, err_msg=f"step {step}")
    assert counts["jitgrad"] == counts["torch"]
    assert jo.state[jm[0].weight]["func_evals"] == to.state[tm[0].weight]["func_evals"]
    assert jo.state[jm[0].weight]["n_iter"] == to.state[tm[0].weight]["n_iter"]


def test_lbfgs_minimises_a_quadratic():
    """On a convex quadratic, L-BFGS with line search reaches the minimum in one step()."""
    a = jitgrad.tensor([[3.0, 0.5], [0.5, 1.0]], dtype=jitgrad.float64)
    b = jitgrad.tensor([1.0, -2.0], dtype=jitgrad.float64)
    x = jitgrad.zeros(2, dtype=jitgrad.float64, requires_grad=True)
    opt = optim.LBFGS([x], line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = 0.5 * (x @ (a @ x)) - b @ x
        loss.backward()
        return loss

    opt.step(closure)
    expected = np.linalg.solve(a.numpy(), b.numpy())
    np.testing.assert_allclose(x.detach().numpy(), expected, atol=1e-5)


@pytest.mark.parametrize("config", ["rmsprop centered+momentum+maximize", "adagrad all options", "adadelta options"])
def test_state_dict_resumes_training_exactly(config):
    """Train 3 steps, save the state dict, load it into a fresh optimizer over a copy of the model,
    train 3 more in both: identical to training 6 steps in one optimizer (and to PyTorch)."""
    name, kwargs = CONFIGS[config]
    dtype = torch.float64
    tm, jm = twin_models(dtype)
    to = getattr(torch.optim, name)(tm.parameters(), **kwargs)
    jo = getattr(optim, name)(jm.parameters(), **kwargs)

    def train(models, opts, steps):
        for _ in range(steps):
            for o in opts:
                o.zero_grad()
            lt, lj = losses(*models, dtype)
            lt.backward()
            lj.backward()
            for o in opts:
                o.step()

    train((tm, jm), (to, jo), 3)
    saved = jo.state_dict()
    assert set(saved["state"][0]) == set(to.state_dict()["state"][0])
    jm2 = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3)).double()
    jm2.load_state_dict(jm.state_dict())
    jo2 = getattr(optim, name)(jm2.parameters(), **kwargs)
    jo2.load_state_dict(saved)
    train((tm, jm2), (to, jo2), 3)
    assert_same_params(tm, jm2, dtype, "resumed")


def test_adagrad_state_exists_before_the_first_step_as_in_pytorch():
    tm, jm = twin_models(torch.float32)
    ts = torch.optim.Adagrad(tm.parameters(), initial_accumulator_value=0.5).state_dict()["state"]
    js = optim.Adagrad(jm.parameters(), initial_accumulator_value=0.5).state_dict()["state"]
    assert sorted(js) == sorted(ts) and set(js[0]) == set(ts[0])
    assert js[0]["step"].item() == 0.0 and js[0]["sum"].detach().numpy().tolist() == ts[0]["sum"].numpy().tolist()


def test_lbfgs_state_dict_round_trip():
    dtype = torch.float64
    tm, jm = twin_models(dtype)
    to = torch.optim.LBFGS(tm.parameters(), max_iter=4)
    jo = optim.LBFGS(jm.parameters(), max_iter=4)

    def closures(model_j, opt_j):
        def closure_t():
            to.zero_grad()
            lt, _ = losses(tm, model_j, dtype)
            lt.backward()
            return lt

        def closure_j():
            opt_j.zero_grad()
            _, lj = losses(tm, model_j, dtype)
            lj.backward()
            return lj
        return closure_t, closure_j

    ct, cj = closures(jm, jo)
    to.step(ct)
    jo.step(cj)
    jm2 = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3)).double()
    jm2.load_state_dict(jm.state_dict())
    jo2 = optim.LBFGS(jm2.parameters(), max_iter=4)
    jo2.load_state_dict(jo.state_dict())
    ct, cj = closures(jm2, jo2)
    to.step(ct)
    jo2.step(cj)
    assert_same_params(tm, jm2, dtype, "LBFGS resumed from a state dict")


def test_rmsprop_momentum_switched_on_later_gets_a_buffer():
    w = jitgrad.tensor([1.0, -2.0], requires_grad=True)
    opt = optim.RMSprop([w], lr=0.1)
    for momentum in (0.0, 0.9):
        opt.param_groups[0]["momentum"] = momentum
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()
    assert opt.state[w]["momentum_buffer"].shape == (2,)


def test_numpy_rule_is_used_for_every_layout():
    """A non-contiguous gradient (from a transposed use) updates the same as PyTorch."""
    w_t = torch.tensor(X[:4, :3], requires_grad=True)
    w_j = jitgrad.tensor(X[:4, :3], requires_grad=True)
    to, jo = torch.optim.RMSprop([w_t], lr=0.1), optim.RMSprop([w_j], lr=0.1)
    for _ in range(3):
        (w_t.t() @ torch.tensor(X[:4, :2])).sin().sum().backward()
        (w_j.t() @ jitgrad.tensor(X[:4, :2])).sin().sum().backward()
        to.step()
        jo.step()
    np.testing.assert_allclose(w_j.detach().numpy(), w_t.detach().numpy(), rtol=1e-11)


@pytest.mark.parametrize("make, message", [
    (lambda p: optim.RMSprop(p, lr=-1), "Invalid learning rate"),
    (lambda p: optim.RMSprop(p, alpha=-0.1), "Invalid alpha"),
    (lambda p: optim.RMSprop(p, momentum=-0.1), "Invalid momentum"),
    (lambda p: optim.RMSprop(p, eps=-1), "Invalid epsilon"),
    (lambda p: optim.Adagrad(p, lr_decay=-1), "Invalid lr_decay"),
    (lambda p: optim.Adagrad(p, initial_accumulator_value=-1), "Invalid initial_accumulator_value"),
    (lambda p: optim.Adagrad(p, weight_decay=-1), "Invalid weight_decay"),
    (lambda p: optim.Adadelta(p, rho=1.5), "Invalid rho"),
    (lambda p: optim.Adadelta(p, lr=-0.1), "Invalid learning rate"),
    (lambda p: optim.LBFGS(p, lr=-1), "Invalid learning rate"),
    (lambda p: optim.LBFGS(p, max_iter=0), "Invalid max_iter"),
    (lambda p: optim.LBFGS([{"params": p[:1]}, {"params": p[1:]}]), "parameter groups"),
])
def test_bad_options_raise_value_error(make, message):
    params = list(nn.Linear(2, 2).parameters())
    with pytest.raises(ValueError, match=message):
        make(params)


def test_lbfgs_bad_line_search_and_missing_closure():
    params = list(nn.Linear(2, 2).parameters())
    with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported"):
        optim.LBFGS(params, line_search_fn="backtracking")
    with pytest.raises(TypeError):
        optim.LBFGS(params).step()
    with pytest.raises(TypeError, match="requires a closure"):
        optim.LBFGS(params).step(None)


def test_lbfgs_stops_at_once_when_the_gradient_is_zero():
    x = jitgrad.zeros(3, requires_grad=True)
    opt = optim.LBFGS([x])
    calls = []

    def closure():
        calls.append(1)
        opt.zero_grad()
        loss = (x * x).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 0.0
    assert len(calls) == 1 and x.detach().numpy().tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("name, kwargs", [("RMSprop", dict(lr=0.01, momentum=0.5, centered=True)),
                                          ("Adagrad", dict(lr=0.1, lr_decay=0.01)),
                                          ("Adadelta", dict(rho=0.8))])
def test_pytorch_optimizer_state_file_resumes_in_jitgrad(tmp_path, name, kwargs):
    """A PyTorch optimizer's state_dict saved with torch.save, read with jitgrad.load, continues
    the same training in jitgrad (same state names and layout as PyTorch)."""
    dtype = torch.float64
    tm, jm = twin_models(dtype)
    to = getattr(torch.optim, name)(tm.parameters(), **kwargs)
    for _ in range(2):
        to.zero_grad()
        losses(tm, jm, dtype)[0].backward()
        to.step()
    torch.save({"model": tm.state_dict(), "optim": to.state_dict()}, tmp_path / "ckpt.pt")
    ckpt = jitgrad.load(tmp_path / "ckpt.pt")
    jm.load_state_dict(ckpt["model"])
    jo = getattr(optim, name)(jm.parameters(), **kwargs)
    jo.load_state_dict(ckpt["optim"])
    for step in range(3):
        to.zero_grad()
        jo.zero_grad()
        lt, lj = losses(tm, jm, dtype)
        lt.backward()
        lj.backward()
        to.step()
        jo.step()
        assert_same_params(tm, jm, dtype, f"{name} after resumed step {step}")
