"""Training on the GPU as PyTorch users write it: Module.to/cuda/cpu move parameters in place,
the optimizers update GPU parameters with fused CUDA kernels (kernels/cuda/optim.py), and a few
steps of a tiny MLP end with the same parameters as the same steps on the CPU. Runs under Numba's
simulator (tiny shapes):

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda/test_gpu_training.py
"""
import copy
import pickle
import warnings

import numpy as np
import pytest
from gpu_targets import needs_cuda

import jitgrad as jg
from jitgrad import nn

pytestmark = needs_cuda

OPTIMIZERS = {
    "sgd": lambda ps: jg.optim.SGD(ps, lr=0.1),
    "sgd-momentum": lambda ps: jg.optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.1),
    "sgd-nesterov-wd": lambda ps: jg.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    "sgd-maximize": lambda ps: jg.optim.SGD(ps, lr=0.05, weight_decay=0.1, maximize=True),
    "adam": lambda ps: jg.optim.Adam(ps, lr=0.01, weight_decay=0.01),
    "adam-amsgrad": lambda ps: jg.optim.Adam(ps, lr=0.01, amsgrad=True),
    "adamw": lambda ps: jg.optim.AdamW(ps, lr=0.01),
    "adamw-amsgrad-maximize": lambda ps: jg.optim.AdamW(ps, lr=0.01, amsgrad=True, maximize=True),
}


def mlp(dtype=jg.float64):
    jg.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4, dtype=dtype), nn.ReLU(), nn.Linear(4, 3, dtype=dtype), nn.Tanh())


def data(dtype=np.float64):
    rng = np.random.default_rng(1)
    return rng.standard_normal((5, 3)).astype(dtype), np.array([0, 2, 1, 2, 0])


def train(device, make_opt, steps=3, loss="ce", compiled=False, dtype=jg.float64):
    """`steps` steps of the MLP on `device`: (parameters as host arrays, last loss)."""
    model = mlp(dtype).to(device)
    opt = make_opt(model.parameters())
    x, y = data(dtype)
    x, y = jg.tensor(x, device=device), jg.tensor(y, device=device)
    if loss == "ce":
        fn = nn.CrossEntropyLoss()
    else:
        y = jg.tensor(np.linspace(-0.5, 0.5, 15).reshape(5, 3).astype(x.dtype), device=device)
        fn = nn.MSELoss()
    step = jg.jit_grad(lambda x, y: fn(model(x), y)) if compiled else (lambda x, y: fn(model(x), y))
    for _ in range(steps):
        opt.zero_grad()
        out = step(x, y)
        out.backward()
        opt.step()
    assert all(p.is_cuda == (device == "cuda") for p in model.parameters())
    return [p.detach().cpu().numpy() for p in model.parameters()], out.item()


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_training_on_gpu_matches_cpu(name):
    cpu, cpu_loss = train("cpu", OPTIMIZERS[name])
    gpu, gpu_loss = train("cuda", OPTIMIZERS[name])
    np.testing.assert_allclose(gpu_loss, cpu_loss, rtol=1e-12)
    for a, b in zip(gpu, cpu, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_float32_adam_on_gpu_matches_cpu():
    cpu, _ = train("cpu", OPTIMIZERS["adamw-amsgrad-maximize"], loss="mse", dtype=jg.float32)
    gpu, _ = train("cuda", OPTIMIZERS["adamw-amsgrad-maximize"], loss="mse", dtype=jg.float32)
    for a, b in zip(gpu, cpu, strict=True):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["sgd-nesterov-wd", "adam-amsgrad"])
def test_compiled_training_on_gpu_matches_cpu(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # reference-interpreter notices
        cpu, cpu_loss = train("cpu", OPTIMIZERS[name], loss="mse", compiled=True)
        gpu, gpu_loss = train("cuda", OPTIMIZERS[name], loss="mse", compiled=True)
    np.testing.assert_allclose(gpu_loss, cpu_loss, rtol=1e-12)
    for a, b in zip(gpu, cpu, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_module_moves_in_place_and_back():
    model = mlp()
    params = list(model.parameters())
    before = [p.detach().numpy().copy() for p in params]
    x, _ = data()
    model(jg.tensor(x)).sum().backward()
    grads = [p.grad for p in params]
    assert model.cuda() is model
    assert list(model.parameters()) == params and all(a is b for a, b in zip(model.parameters(), params))
    assert all(p.is_cuda and p.requires_grad and p.grad.is_cuda for p in params)
    assert all(p.grad is g for p, g in zip(params, grads))  # the grad tensors move in place too
    assert model(jg.tensor(x, device="cuda")).is_cuda
    assert model.to("cpu", jg.float32) is model
    assert all(not p.is_cuda and p.dtype == np.float32 and p.grad.dtype == np.float32 for p in params)
    model.to(device="cuda", dtype=jg.float64)
    assert all(p.is_cuda and p.dtype == np.float64 for p in params)
    model.to(jg.tensor([1.0], dtype=jg.float32))  # to(tensor): its device and dtype
    for p, b in zip(params, before):
        assert not p.is_cuda and p.dtype == np.float32
        np.testing.assert_allclose(p.detach().numpy(), b, rtol=1e-6)
    with pytest.raises(TypeError, match="floating point"):
        model.to(jg.int64)


def test_optimizer_built_before_the_move_keeps_working():
    ref, _ = train("cpu", OPTIMIZERS["adam-amsgrad"], steps=4)
    model = mlp()
    opt = OPTIMIZERS["adam-amsgrad"](model.parameters())
    x, y = data()
    fn = nn.CrossEntropyLoss()
    for device in ["cpu", "cuda", "cpu", "cuda"]:  # the state follows the parameters
        model.to(device)
        opt.zero_grad()
        fn(model(jg.tensor(x, device=device)), jg.tensor(y, device=device)).backward()
        opt.step()
        state = opt.state[model[0].weight]
        assert state["exp_avg"].is_cuda == (device == "cuda") == state["max_exp_avg_sq"].is_cuda
    for p, r in zip(model.parameters(), ref):
        np.testing.assert_allclose(p.detach().cpu().numpy(), r, rtol=1e-12, atol=1e-14)


def test_zero_grad_on_gpu():
    model = mlp().cuda()
    opt = jg.optim.SGD(model.parameters(), lr=0.1)
    model(jg.tensor(data()[0], device="cuda")).sum().backward()
    g = model[0].weight.grad
    opt.zero_grad(set_to_none=False)
    assert model[0].weight.grad is g and g.is_cuda and not g.numpy().any()
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_state_dicts_round_trip_between_devices():
    gpu = mlp().cuda()
    opt = jg.optim.Adam(gpu.parameters(), lr=0.1)
    gpu(jg.tensor(data()[0], device="cuda")).sum().backward()
    opt.step()
    sd = gpu.state_dict()
    assert all(t.is_cuda for t in sd.values())
    cpu = nn.Sequential(nn.Linear(3, 4, dtype=jg.float64), nn.ReLU(), nn.Linear(4, 3, dtype=jg.float64), nn.Tanh())
    cpu.load_state_dict(sd)  # GPU values into a CPU module: copied to the host
    for (k, a), b in zip(sd.items(), cpu.state_dict().values()):
        assert not b.is_cuda
        np.testing.assert_array_equal(a.cpu().numpy(), b.numpy(), err_msg=k)
    target = mlp().cuda()
    weight = target[0].weight
    with jg.no_grad():
        for p in cpu.parameters():
            p.mul_(2.0)
    target.load_state_dict(cpu.state_dict())  # CPU values into a GPU module: copied onto the GPU
    assert target[0].weight is weight and weight.is_cuda
    np.testing.assert_array_equal(weight.detach().cpu().numpy(), cpu[0].weight.detach().numpy())
    opt2 = jg.optim.Adam(target.parameters(), lr=0.1)
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))
    assert opt2.state[weight]["exp_avg"].is_cuda
    cpu_opt = jg.optim.Adam(cpu.parameters(), lr=0.1)
    cpu_opt.load_state_dict(opt.state_dict())  # GPU state into a CPU optimizer: onto the host
    assert not cpu_opt.state[cpu[0].weight]["exp_avg"].is_cuda


def test_gpu_modules_copy_and_pickle_onto_the_gpu():
    model = mlp().cuda()
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert all(p.is_cuda for p in clone.parameters())
        for a, b in zip(clone.parameters(), model.parameters()):
            assert a is not b
            np.testing.assert_array_equal(a.detach().cpu().numpy(), b.detach().cpu().numpy())


def test_init_and_weighted_losses_on_gpu():
    jg.manual_seed(3)
    cpu = nn.Linear(4, 3, dtype=jg.float64)
    jg.manual_seed(3)
    gpu = nn.Linear(4, 3, dtype=jg.float64).cuda()
    jg.manual_seed(4)
    nn.init.normal_(cpu.weight)
    nn.init.constant_(cpu.bias, 0.5)
    jg.manual_seed(4)
    nn.init.normal_(gpu.weight)
    nn.init.constant_(gpu.bias, 0.5)
    np.testing.assert_array_equal(gpu.weight.detach().cpu().numpy(), cpu.weight.detach().numpy())
    x, y = data()
    x = np.concatenate([x, x[:, :1]], axis=1)
    y[1] = -100  # ignored
    w = np.array([0.5, 1.0, 2.0])
    for reduction in ("mean", "sum", "none"):
        outs = []
        for m, dev in ((cpu, "cpu"), (gpu, "cuda")):
            m.zero_grad()
            fn = nn.CrossEntropyLoss(weight=jg.tensor(w, device=dev), reduction=reduction)
            loss = fn(m(jg.tensor(x, device=dev)), jg.tensor(y, device=dev))
            loss.sum().backward()
            outs.append((loss.detach().cpu().numpy(), m.weight.grad.cpu().numpy()))
        for a, b in zip(*outs):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    with pytest.raises(IndexError, match="out of bounds"):
        nn.functional.cross_entropy(gpu(jg.tensor(x, device="cuda")), jg.tensor([0, 1, 3, 0, 0], device="cuda"))
