"""The GPU optimizer update is the rule of kernels/optim_rules.py rendered for CUDA (no formula
of its own): for every SGD and Adam/AdamW variant, one GPU update equals the CPU kernel's update
of the same rule, and the optimizers' GPU steps equal their CPU steps. Tiny shapes, simulator:

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda/test_cuda_optim_rules.py
"""
import inspect

import numpy as np
import pytest
from gpu_targets import ON_CUDA, needs_cuda

import jitgrad as jg
from jitgrad._kernels import optim_rules

pytestmark = needs_cuda
if ON_CUDA:
    from jitgrad._kernels import optim as cpu_optim
    from jitgrad._kernels.cuda import optim as cuda_optim
    from jitgrad._kernels.cuda import runtime

SGD_FLAGS = {
    "plain": dict(maximize=False, weight_decay=False, momentum=False, nesterov=False),
    "momentum": dict(maximize=False, weight_decay=False, momentum=True, nesterov=False),
    "nesterov-wd": dict(maximize=False, weight_decay=True, momentum=True, nesterov=True),
    "maximize-wd": dict(maximize=True, weight_decay=True, momentum=False, nesterov=False),
}
ADAM_FLAGS = {
    "adam-wd": dict(maximize=False, weight_decay=True, decoupled=False, amsgrad=False),
    "adamw": dict(maximize=False, weight_decay=True, decoupled=True, amsgrad=False),
    "adam-amsgrad": dict(maximize=False, weight_decay=False, decoupled=False, amsgrad=True),
    "adamw-amsgrad-maximize": dict(maximize=True, weight_decay=True, decoupled=True, amsgrad=True),
}
HYPERS = {"lr": 0.1, "weight_decay": 0.01, "momentum": 0.9, "buf_keep": 0.9, "d_keep": 0.8,
          "one_minus_beta1": 0.1, "beta2": 0.999, "one_minus_beta2": 0.001, "eps": 1e-8, "decay": 0.999,
          "step_size": 0.02, "bc2_sqrt": 0.05}
CASES = [(optim_rules.sgd, name, flags, ("momentum_buffer",) if flags["momentum"] else ())
         for name, flags in SGD_FLAGS.items()]
CASES += [(optim_rules.adam, name, flags,
           ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if flags["amsgrad"] else ()))
          for name, flags in ADAM_FLAGS.items()]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rule,name,flags,names", CASES, ids=[c[1] for c in CASES])
def test_gpu_update_is_the_cpu_rule(rule, name, flags, names, dtype):
    rng = np.random.default_rng(3)
    p, g = (rng.standard_normal(7).astype(dtype) for _ in range(2))
    states = [np.abs(rng.standard_normal(7)).astype(dtype) for _ in names]
    hypers = tuple(dtype(HYPERS[h]) for h in cpu_optim.hyper_names(rule, flags, names))
    gp, gg, gs = runtime.to_device(p), runtime.to_device(g), [runtime.to_device(s) for s in states]
    cuda_optim.step(rule, flags, names, gp, gg, gs, hypers)
    cpu_p, cpu_s = p.copy(), [s.copy() for s in states]
    cpu_optim.step_kernel(rule, flags, names, 1)(cpu_p, g, *cpu_s, *hypers)
    tol = dict(rtol=1e-6, atol=1e-7) if dtype == np.float32 else dict(rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(runtime.to_host(gp), cpu_p, **tol)
    assert not np.allclose(cpu_p, p)  # the update did something
    for a, b in zip(gs, cpu_s, strict=True):
        np.testing.assert_allclose(runtime.to_host(a), b, **tol)
    assert runtime.to_host(gp).dtype == dtype


def test_the_cuda_kernel_is_rendered_from_the_rule():
    flags = ADAM_FLAGS["adamw-amsgrad-maximize"]
    text = cuda_optim.render(optim_rules.adam, flags, ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"))
    cpu_text = cpu_optim.render(optim_rules.adam, flags, ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"), 1, "k")
    update = next(line.split("=", 1)[1] for line in text.splitlines() if line.strip().startswith("k_p[k_i] ="))
    assert update in cpu_text  # the very same expression as the CPU loop's
    source = inspect.getsource(cuda_optim)
    for word in ("exp_avg", "beta", "nesterov", "dampening", "momentum"):
        assert word not in source  # no hand-written update left in the CUDA module


def test_empty_parameter_is_a_no_op():
    empty = runtime.to_device(np.zeros(0))
    cuda_optim.step(optim_rules.sgd, SGD_FLAGS["plain"], (), empty, empty, [], (np.float64(0.1),))


@pytest.mark.parametrize("make", [
    lambda ps: jg.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    lambda ps: jg.optim.AdamW(ps, lr=0.01, amsgrad=True),
], ids=["sgd-nesterov-wd", "adamw-amsgrad"])
def test_optimizer_steps_on_gpu_equal_cpu_steps(make):
    results = []
    for device in ("cpu", "cuda"):
        w = jg.tensor(np.linspace(-1.0, 1.0, 6).reshape(2, 3), device=device, requires_grad=True)
        opt = make([w])
        for _ in range(3):
            opt.zero_grad()
            (w * w * w).sum().backward()
            opt.step()
        results.append(w.detach().cpu().numpy())
    np.testing.assert_allclose(results[1], results[0], rtol=1e-13)
