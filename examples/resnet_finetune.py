"""The ResNet-18 of PyTorch's "gentle introduction to torch.autograd", with jitgrad's names:
one training step on a random 3x64x64 image (forward, loss, backward, SGD with momentum), then
fine-tuning: every parameter frozen, `model.fc` replaced by a new 10-class head, and only the
head optimized. Pretrained weights are not downloaded: pass a state_dict file you have
(`torch.save(resnet18(weights=...).state_dict(), f)` converted with numpy) or train from scratch.

Fine-tuning keeps the frozen body in eval mode (batch norm with its running statistics, as is
usual when fine-tuning). With --compiled, the training step runs as one compiled call
(jitgrad.jit of forward, backward and the optimizer step; batch norm's running statistics are
written back by the compiled program) and fine-tuning's loss runs under jit_grad.

Run: python examples/resnet_finetune.py [size] [--compiled]
"""
from __future__ import annotations

import sys
import warnings

import numpy as np

import jitgrad
from jitgrad import models, nn, optim


def training_step(size: int = 64, seed: int = 0, compiled: bool = False):
    """The seed's single training step (compiled: as one jitgrad.jit call); returns (model, loss
    before, loss after the step)."""
    jitgrad.manual_seed(seed)
    model = models.resnet18()
    data = jitgrad.rand(1, 3, size, size)
    labels = jitgrad.rand(1, 1000)
    optimizer = optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)

    def step(data, labels):
        prediction = model(data)  # forward pass
        loss = (prediction - labels).sum()
        loss.backward()  # backward pass
        optimizer.step()  # gradient descent
        return loss

    loss = (jitgrad.jit(step) if compiled else step)(data, labels)
    with jitgrad.no_grad():
        after = (model(data) - labels).sum()
    return model, loss.item(), after.item()


def fine_tune(size: int = 64, steps: int = 3, compiled: bool = False, seed: int = 0):
    """A fresh model (the seed loads the pretrained one again): freeze every parameter, replace
    the classifier with nn.Linear(512, 10), optimize only it, with the frozen body in eval mode.
    Returns (losses, largest change of a frozen parameter, whether a frozen parameter got a .grad)."""
    jitgrad.manual_seed(seed)
    model = models.resnet18()
    for param in model.parameters():
        param.requires_grad = False
    model.fc = nn.Linear(512, 10)
    model.eval()  # the frozen body normalises with its running statistics
    optimizer = optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)
    frozen = {name: p.detach().numpy().copy() for name, p in model.named_parameters() if not p.requires_grad}

    data = jitgrad.rand(4, 3, size, size)
    target = jitgrad.tensor(np.arange(4) % 10)
    loss_fn = nn.CrossEntropyLoss()

    def loss_of(x, y):
        return loss_fn(model(x), y)

    if compiled:
        loss_of = jitgrad.jit_grad(loss_of)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_of(data, target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    params = dict(model.named_parameters())
    change = max(float(np.abs(params[name].detach().numpy() - value).max()) for name, value in frozen.items())
    frozen_grads = any(params[name].grad is not None for name in frozen)
    return losses, change, frozen_grads


def main(size: int = 64, steps: int = 3, compiled: bool = False):
    _, before, after = training_step(size, compiled=compiled)
    mode = "compiled" if compiled else "eager"
    print(f"training step ({mode}): loss {before:.4f} -> {after:.4f} after one SGD-momentum step")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # ops that run between compiled programs
        losses, change, frozen_grads = fine_tune(size, steps, compiled)
    print(f"fine-tuning the new fc only ({mode}): losses " + ", ".join(f"{v:.4f}" for v in losses))
    print(f"largest change of a frozen parameter: {change}; frozen parameters with a .grad: {frozen_grads}")
    return before, after, losses, change, frozen_grads


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(int(args[0]) if args else 64, compiled="--compiled" in sys.argv)
