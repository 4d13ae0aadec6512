"""Training utilities with GPU tensors (under Numba's simulator or on a GPU): the NumPy-rule
optimizers refuse GPU parameters with a clear error; clip_grad_norm_, pickling, deepcopy and
jg.save/load keep tensors on (or move them to) the GPU.

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda/test_gpu_utils.py
"""
import copy
import io
import pickle

import numpy as np
import pytest
from gpu_targets import needs_cuda

import jitgrad as jg
from jitgrad import nn, optim

pytestmark = needs_cuda


def gpu_model_with_grads():
    jg.manual_seed(0)
    model = nn.Linear(3, 2, dtype=jg.float64).cuda()
    model(jg.ones(4, 3, dtype=jg.float64).cuda()).sum().backward()
    return model


@pytest.mark.parametrize("make", [optim.RMSprop, optim.Adagrad, optim.Adadelta])
def test_numpy_rule_optimizers_refuse_gpu_parameters(make):
    model = gpu_model_with_grads()
    with pytest.raises(RuntimeError, match="has no GPU update kernel yet"):
        make(model.parameters()).step()
    with pytest.raises(RuntimeError, match="CPU memory only"):
        optim.LBFGS(model.parameters())


def test_clip_grad_norm_on_gpu_matches_cpu():
    model = gpu_model_with_grads()
    cpu_grads = [p.grad.cpu().numpy() for p in model.parameters()]
    total = nn.utils.clip_grad_norm_(model.parameters(), 0.5)
    expected = np.sqrt(sum((g ** 2).sum() for g in cpu_grads))
    assert total.item() == pytest.approx(expected)
    for p, g in zip(model.parameters(), cpu_grads):
        assert p.grad.is_cuda
        np.testing.assert_allclose(p.grad.cpu().numpy(), g * 0.5 / (expected + 1e-6))


def test_gpu_tensors_pickle_deepcopy_and_save_on_the_gpu():
    x = jg.tensor([1.0, 2.0], dtype=jg.float64).cuda().requires_grad_()
    (x * x).sum().backward()
    for clone in (pickle.loads(pickle.dumps(x)), copy.deepcopy(x)):
        assert clone.is_cuda and clone.requires_grad and clone.detach().cpu().tolist() == [1.0, 2.0]
    assert copy.deepcopy(x).grad.is_cuda
    buffer = io.BytesIO()
    jg.save({"x": x}, buffer)
    buffer.seek(0)
    assert jg.load(buffer)["x"].is_cuda
    buffer.seek(0)
    on_cpu = jg.load(buffer, map_location="cpu")["x"]
    assert not on_cpu.is_cuda and on_cpu.requires_grad and on_cpu.detach().tolist() == [1.0, 2.0]
