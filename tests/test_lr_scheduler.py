"""optim.lr_scheduler against PyTorch: the same schedule on the same optimizer gives the same
learning rates (get_last_lr and the groups' lr) epoch after epoch; state dicts resume; bad
arguments raise PyTorch's exception types."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import jitgrad
from jitgrad import optim
from jitgrad.optim import lr_scheduler

torch = pytest.importorskip("torch")


def twin_optimizers(kind="SGD", groups=2, **kwargs):
    """A jitgrad and a PyTorch optimizer of `kind` with `groups` param groups (lrs 0.1, 0.05, ...)."""
    jp = [jitgrad.zeros(2, requires_grad=True) for _ in range(groups)]
    tp = [torch.zeros(2, requires_grad=True) for _ in range(groups)]
    jo = getattr(optim, kind)([{"params": [p], "lr": 0.1 / (i + 1)} for i, p in enumerate(jp)], **kwargs)
    to = getattr(torch.optim, kind)([{"params": [p], "lr": 0.1 / (i + 1)} for i, p in enumerate(tp)], **kwargs)
    return jo, to


SCHEDULES = {
    "StepLR": lambda m, o: m.StepLR(o, step_size=3, gamma=0.5),
    "MultiStepLR": lambda m, o: m.MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.3),
    "ExponentialLR": lambda m, o: m.ExponentialLR(o, gamma=0.9),
    "CosineAnnealingLR": lambda m, o: m.CosineAnnealingLR(o, T_max=7, eta_min=0.001),
    "CosineAnnealingLR no eta_min": lambda m, o: m.CosineAnnealingLR(o, T_max=4),
    "LambdaLR": lambda m, o: m.LambdaLR(o, lr_lambda=lambda e: 0.95 ** e + 0.01 * e),
    "LambdaLR per group": lambda m, o: m.LambdaLR(o, lr_lambda=[lambda e: 1 / (1 + e), lambda e: 0.9 ** e]),
    "OneCycleLR": lambda m, o: m.OneCycleLR(o, max_lr=[1.0, 0.5], total_steps=30),
    "OneCycleLR linear three_phase": lambda m, o: m.OneCycleLR(o, max_lr=0.3, epochs=5, steps_per_epoch=6,
                                                               anneal_strategy="linear", three_phase=True,
                                                               pct_start=0.25, div_factor=10.0),
}


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_schedule_matches_pytorch(name):
    jo, to = twin_optimizers("SGD", momentum=0.9)
    js, ts = SCHEDULES[name](lr_scheduler, jo), SCHEDULES[name](torch.optim.lr_scheduler, to)
    epochs = 29 if name.startswith("OneCycle") else 40
    for epoch in range(epochs + 1):
        np.testing.assert_allclose(js.get_last_lr(), ts.get_last_lr(), rtol=1e-13, atol=1e-15, err_msg=f"{epoch}")
        assert [g["lr"] for g in jo.param_groups] == js.get_last_lr()
        np.testing.assert_allclose([g["momentum"] for g in jo.param_groups],
                                   [g["momentum"] for g in to.param_groups], rtol=1e-13)
        if epoch < epochs:
            to.step()
            jo.step()
            js.step()
            ts.step()


def test_one_cycle_cycles_adam_beta1():
    jo, to = twin_optimizers("Adam")
    js = lr_scheduler.OneCycleLR(jo, max_lr=0.01, total_steps=10)
    ts = torch.optim.lr_scheduler.OneCycleLR(to, max_lr=0.01, total_steps=10)
    for _ in range(9):
        to.step()
        js.step()
        ts.step()
        np.testing.assert_allclose([g["betas"][0] for g in jo.param_groups],
                                   [g["betas"][0] for g in to.param_groups], rtol=1e-13)
        np.testing.assert_allclose(js.get_last_lr(), ts.get_last_lr(), rtol=1e-13)
    with pytest.raises(ValueError, match="Tried to step 11 times"):
        js.step()
        js.step()


def test_schedulers_chain_like_pytorch():
    """Two recursive schedulers on one optimizer compose (each scales the current lr)."""
    jo, to = twin_optimizers()
    jss = [lr_scheduler.ExponentialLR(jo, 0.9), lr_scheduler.StepLR(jo, 2, 0.5)]
    tss = [torch.optim.lr_scheduler.ExponentialLR(to, 0.9), torch.optim.lr_scheduler.StepLR(to, 2, 0.5)]
    for _ in range(10):
        to.step()
        for s in jss + tss:
            s.step()
        np.testing.assert_allclose(jss[1].get_last_lr(), tss[1].get_last_lr(), rtol=1e-13)


@pytest.mark.parametrize("kwargs", [dict(), dict(mode="max", factor=0.5, patience=2, threshold=0.1),
                                    dict(threshold_mode="abs", threshold=0.05, cooldown=2, patience=1,
                                         min_lr=[0.02, 0.0]),
                                    dict(mode="max", threshold_mode="abs", patience=0, eps=0.02)])
def test_reduce_lr_on_plateau_matches_pytorch(kwargs):
    jo, to = twin_optimizers()
    js = lr_scheduler.ReduceLROnPlateau(jo, **kwargs)
    ts = torch.optim.lr_scheduler.ReduceLROnPlateau(to, **kwargs)
    metrics = [1.0, 0.9, 0.95, 0.95, 0.96, 0.8, 0.81, 0.85, 0.9, 0.79] * 4 + list(np.linspace(1, 2, 20))
    for m in metrics:
        js.step(m)
        ts.step(torch.tensor(m))
        assert js.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-13)
        assert (js.num_bad_epochs, js.cooldown_counter, js.best) == (ts.num_bad_epochs, ts.cooldown_counter,
                                                                      pytest.approx(ts.best))


@pytest.mark.parametrize("name", ["StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR"])
def test_closed_form_with_epoch_argument(name):
    jo, to = twin_optimizers()
    js, ts = SCHEDULES[name](lr_scheduler, jo), SCHEDULES[name](torch.optim.lr_scheduler, to)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for epoch in [3, 7, 2, 11]:
            to.step()
            js.step(epoch)
            ts.step(epoch)
            np.testing.assert_allclose(js.get_last_lr(), ts.get_last_lr(), rtol=1e-13)


def test_cosine_is_the_closed_form_over_a_period():
    jo, _ = twin_optimizers(groups=1)
    s = lr_scheduler.CosineAnnealingLR(jo, T_max=10, eta_min=0.01)
    for epoch in range(1, 11):
        s.step()
        assert s.get_last_lr()[0] == pytest.approx(0.01 + 0.09 * (1 + math.cos(math.pi * epoch / 10)) / 2)


@pytest.mark.parametrize("name", ["StepLR", "CosineAnnealingLR", "OneCycleLR", "LambdaLR"])
def test_state_dict_resumes_the_schedule(name):
    jo, _ = twin_optimizers()
    s = SCHEDULES[name](lr_scheduler, jo)
    for _ in range(5):
        s.step()
    state = s.state_dict()
    assert "optimizer" not in state and state["last_epoch"] == 5
    jo2, _ = twin_optimizers()
    s2 = SCHEDULES[name](lr_scheduler, jo2)
    jo2.load_state_dict(jo.state_dict())
    s2.load_state_dict(state)
    for _ in range(6):
        s.step()
        s2.step()
        assert s2.get_last_lr() == s.get_last_lr()


def test_lambda_state_dict_keeps_callable_objects_state_but_not_functions():
    class Warmup:
        def __init__(self):
            self.scale = 2.0

        def __call__(self, epoch):
            return self.scale * epoch

    jo, _ = twin_optimizers()
    s = lr_scheduler.LambdaLR(jo, [Warmup(), lambda e: 1.0])
    state = s.state_dict()
    assert state["lr_lambdas"] == [{"scale": 2.0}, None]
    s.lr_lambdas[0].scale = 5.0
    s.load_state_dict(state)
    assert s.lr_lambdas[0].scale == 2.0


def test_bad_arguments():
    jo, _ = twin_optimizers()
    with pytest.raises(TypeError, match="is not an Optimizer"):
        lr_scheduler.StepLR(object(), step_size=2)
    with pytest.raises(ValueError, match="step_size"):
        lr_scheduler.StepLR(jo, step_size=0)
    with pytest.raises(ValueError, match="T_max"):
        lr_scheduler.CosineAnnealingLR(jo, T_max=0)
    with pytest.raises(ValueError, match="T_max"):
        lr_scheduler.CosineAnnealingLR(jo, T_max="10")
    with pytest.raises(ValueError, match="total_steps OR"):
        lr_scheduler.OneCycleLR(jo, max_lr=0.1)
    with pytest.raises(ValueError, match="Expected positive integer total_steps"):
        lr_scheduler.OneCycleLR(jo, max_lr=0.1, total_steps=0)
    with pytest.raises(ValueError, match="expected 2 values for max_lr"):
        lr_scheduler.OneCycleLR(jo, max_lr=[0.1, 0.2, 0.3], total_steps=5)
    with pytest.raises(ValueError, match="Factor should be < 1.0"):
        lr_scheduler.ReduceLROnPlateau(jo, factor=1.5)
    with pytest.raises(ValueError, match="mode sideways is unknown"):
        lr_scheduler.ReduceLROnPlateau(jo, mode="sideways")
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas"):
        lr_scheduler.LambdaLR(jo, [lambda e: 1.0])
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(jo, step_size=2, last_epoch=3)
    with pytest.raises(TypeError):
        lr_scheduler.LRScheduler(jo)


def test_one_cycle_needs_momentum_or_betas():
    """A scheduler that changes an option the optimizer lacks is refused (Adagrad has no momentum)."""
    p = [jitgrad.zeros(2, requires_grad=True)]
    with pytest.raises(ValueError, match="must support momentum or beta1"):
        lr_scheduler.OneCycleLR(optim.Adagrad(p), max_lr=0.1, total_steps=5)
    s = lr_scheduler.OneCycleLR(optim.Adagrad(p), max_lr=0.1, total_steps=5, cycle_momentum=False)
    assert s.get_last_lr() == [pytest.approx(0.004)]
