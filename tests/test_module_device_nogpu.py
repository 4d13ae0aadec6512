"""Without a GPU (and without the simulator) Module.cuda()/to('cuda') raise the runtime's clear
CudaUnavailable error and leave the module on the CPU, untouched. Skipped where CUDA is usable."""
import numpy as np
import pytest

import jitgrad as jg
from jitgrad import nn
from jitgrad._kernels.cuda import runtime


@pytest.fixture
def unavailable():
    if runtime.available():
        pytest.skip("CUDA (or the simulator) is usable here")


def _model():
    return nn.Sequential(nn.Linear(3, 2, dtype=jg.float64), nn.ReLU(), nn.Linear(2, 1, dtype=jg.float64))


@pytest.mark.parametrize("move", [lambda m: m.cuda(), lambda m: m.to("cuda"), lambda m: m.to("cuda", jg.float32),
                                  lambda m: m.to(device="cuda:0")], ids=["cuda", "to", "to-dtype", "to-kw"])
def test_cuda_without_gpu_raises_and_keeps_the_module_on_cpu(unavailable, move):
    model = _model()
    model(jg.tensor(np.ones((4, 3)))).sum().backward()
    params = list(model.parameters())
    before = [(p._data, p.grad._data) for p in params]
    with pytest.raises(runtime.CudaUnavailable, match="CUDA is not available") as err:
        move(model)
    assert "NUMBA_ENABLE_CUDASIM=1" in str(err.value)
    assert all(a is b for a, b in zip(model.parameters(), params))
    for p, (data, grad) in zip(params, before):
        assert p.device == jg.device("cpu") and p._data is data and p.grad._data is grad
        assert p.dtype == np.float64
    opt = jg.optim.SGD(model.parameters(), lr=0.1)
    opt.step()  # still trains on the CPU


def test_cpu_moves_are_in_place_without_a_gpu():
    model = _model()
    params = list(model.parameters())
    assert model.cpu() is model and model.to("cpu") is model
    assert model.to("cpu", jg.float32) is model
    assert all(a is b for a, b in zip(model.parameters(), params)) and all(p.dtype == np.float32 for p in params)
