"""examples/resnet_finetune.py: the seed's ResNet-18 training step gives PyTorch's losses, and
fine-tuning trains only the new head, eagerly and compiled (same losses), with no gradient for
frozen parameters, not even in the compiled backward program."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from test_examples import load

import jitgrad
from jitgrad import models, nn

SIZE = 40  # the smallest multiple of 8 whose layer4 output keeps 2x2 values per channel (batch norm)


def test_training_step_matches_torch():
    torch = pytest.importorskip("torch")
    from test_resnet import _TorchResNet  # noqa: PLC0415 - the reference architecture

    example = load("resnet_finetune")
    _, before, after = example.training_step(SIZE)
    jitgrad.manual_seed(0)  # the example's model, data and labels, again
    jmodel = models.resnet18()
    data, labels = jitgrad.rand(1, 3, SIZE, SIZE), jitgrad.rand(1, 1000)
    tmodel = _TorchResNet([2, 2, 2, 2])
    tmodel.load_state_dict({k: torch.tensor(v.numpy()) for k, v in jmodel.state_dict().items()})
    x, y = torch.tensor(data.numpy()), torch.tensor(labels.numpy())
    loss = (tmodel(x) - y).sum()
    loss.backward()
    torch.optim.SGD(tmodel.parameters(), lr=1e-2, momentum=0.9).step()
    with torch.no_grad():
        t_after = (tmodel(x) - y).sum().item()
    np.testing.assert_allclose(before, loss.item(), rtol=1e-4)
    np.testing.assert_allclose(after, t_after, rtol=1e-3)
    assert after < before


def test_fine_tuning_eager_and_compiled_agree_and_freeze():
    example = load("resnet_finetune")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        eager = example.fine_tune(SIZE, steps=2)
        compiled = example.fine_tune(SIZE, steps=2, compiled=True)
    for losses, change, frozen_grads in (eager, compiled):
        assert change == 0.0 and not frozen_grads
        assert losses[1] < losses[0]
    np.testing.assert_allclose(compiled[0], eager[0], rtol=1e-5)


def test_compiled_backward_computes_only_the_heads_gradient():
    """The generated backward program of a frozen-body model differentiates w.r.t. fc only."""
    jitgrad.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(4, 3)).eval()
    for p in model.parameters():
        p.requires_grad = False
    model[5] = nn.Linear(4, 3)
    step = jitgrad.jit_grad(lambda x: model(x).sum())
    x = jitgrad.rand(2, 3, 6, 6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        _, backward = step.grad_executables(x)
    shapes = sorted(tuple(v.shape) for v in backward.graph.outputs)
    assert shapes == [(3,), (3, 4)], shapes  # fc.bias and fc.weight, nothing for the frozen convolution
    names = {e.prim.name for e in backward.graph.eqns}
    assert not names & {"conv2d_input_grad", "conv2d_weight_grad"}, names
