"""nn.utils against PyTorch: clip_grad_norm_ (every norm type, the returned total norm, the
non-finite error), clip_grad_value_, parameters_to_vector and vector_to_parameters."""
from __future__ import annotations

import math

import numpy as np
import pytest

import jitgrad
from jitgrad import nn

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(0)
GRADS = [RNG.standard_normal((3, 4)), RNG.standard_normal(5), RNG.standard_normal((2, 2))]


def twin_params(scale=1.0, dtype=np.float32):
    jp, tp = [], []
    for g in GRADS:
        j = jitgrad.tensor(np.zeros(g.shape, dtype), requires_grad=True)
        t = torch.zeros(g.shape, dtype=torch.float32 if dtype == np.float32 else torch.float64, requires_grad=True)
        j.grad = jitgrad.tensor((g * scale).astype(dtype))
        t.grad = torch.tensor((g * scale).astype(dtype))
        jp.append(j)
        tp.append(t)
    return jp, tp


@pytest.mark.parametrize("norm_type", [2.0, 1, 3.5, math.inf, -math.inf, 0])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_pytorch(norm_type, max_norm):
    jp, tp = twin_params()
    total_j = nn.utils.clip_grad_norm_(jp, max_norm, norm_type=norm_type)
    total_t = torch.nn.utils.clip_grad_norm_(tp, max_norm, norm_type=norm_type)
    np.testing.assert_allclose(total_j.item(), total_t.item(), rtol=1e-6)
    for j, t in zip(jp, tp, strict=True):
        np.testing.assert_allclose(j.grad.numpy(), t.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_clip_grad_norm_single_tensor_float64_and_no_grads():
    jp, tp = twin_params(dtype=np.float64)
    total = nn.utils.clip_grad_norm_(jp[0], 1.0)
    assert total.item() == pytest.approx(torch.nn.utils.clip_grad_norm_(tp[0], 1.0).item(), rel=1e-14)
    assert jp[0].grad.dtype == np.float64
    assert nn.utils.clip_grad_norm_([jitgrad.zeros(2, requires_grad=True)], 1.0).item() == 0.0


def test_clip_grad_norm_non_finite():
    jp, tp = twin_params()
    jp[1].grad = jitgrad.tensor(np.full(5, np.inf, np.float32))
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_(jp, 1.0, error_if_nonfinite=True)
    assert math.isinf(nn.utils.clip_grad_norm_(jp, 1.0).item())  # scales by the non-finite norm, as PyTorch
    with pytest.raises(RuntimeError, match="norm_type"):
        nn.utils.clip_grad_norm_(jp, 1.0, norm_type=-1)


def test_clip_grad_value_matches_pytorch():
    jp, tp = twin_params()
    nn.utils.clip_grad_value_(jp, 0.5)
    torch.nn.utils.clip_grad_value_(tp, 0.5)
    for j, t in zip(jp, tp, strict=True):
        np.testing.assert_array_equal(j.grad.numpy(), t.grad.numpy())


def test_parameters_to_vector_and_back():
    torch.manual_seed(0)
    tm = torch.nn.Linear(3, 2)
    jm = nn.Linear(3, 2)
    jm.load_state_dict(tm.state_dict())
    vj = nn.utils.parameters_to_vector(jm.parameters())
    vt = torch.nn.utils.parameters_to_vector(tm.parameters())
    np.testing.assert_array_equal(vj.detach().numpy(), vt.detach().numpy())
    (vj * jitgrad.arange(8.0)).sum().backward()  # differentiable: each parameter gets its slice
    np.testing.assert_array_equal(jm.weight.grad.numpy().reshape(-1), np.arange(6.0))
    new = jitgrad.arange(8.0)
    nn.utils.vector_to_parameters(new, jm.parameters())
    torch.nn.utils.vector_to_parameters(torch.arange(8.0), tm.parameters())
    np.testing.assert_array_equal(jm.weight.detach().numpy(), tm.weight.detach().numpy())
    np.testing.assert_array_equal(jm.bias.detach().numpy(), [6.0, 7.0])
    assert jm.weight.requires_grad
    with pytest.raises(TypeError, match="expected a jitgrad Tensor"):
        nn.utils.vector_to_parameters(np.zeros(8), jm.parameters())
    with pytest.raises(RuntimeError, match="8 elements"):
        nn.utils.vector_to_parameters(jitgrad.zeros(7), jm.parameters())
