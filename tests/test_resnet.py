"""jitgrad.models.resnet18/34 against PyTorch: torchvision's model when it imports, otherwise the
same architecture built here from torch.nn layers; its state_dict loads as is, and outputs,
input gradients and every parameter's gradient agree (train and eval mode)."""
from __future__ import annotations

import numpy as np
import pytest

import jitgrad
from jitgrad import models

torch = pytest.importorskip("torch")


def _torchvision_resnet(name: str):
    try:
        import torchvision  # noqa: PLC0415 - optional
    except Exception:  # noqa: BLE001 - a torchvision wheel not built for this torch raises RuntimeError
        return None
    return getattr(torchvision.models, name)(weights=None)


class _TorchBasicBlock(torch.nn.Module):
    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(planes)
        self.relu = torch.nn.ReLU(inplace=True)
        self.conv2 = torch.nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = torch.nn.Sequential(torch.nn.Conv2d(inplanes, planes, 1, stride, bias=False),
                                                  torch.nn.BatchNorm2d(planes))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class _TorchResNet(torch.nn.Module):
    """torchvision's ResNet with BasicBlocks, written out (same module names)."""

    def __init__(self, layers, num_classes=1000):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(64)
        self.relu = torch.nn.ReLU(inplace=True)
        self.maxpool = torch.nn.MaxPool2d(3, 2, 1)
        inplanes = 64
        for i, (planes, blocks) in enumerate(zip((64, 128, 256, 512), layers, strict=True)):
            stride = 1 if i == 0 else 2
            stage = [_TorchBasicBlock(inplanes, planes, stride)] + [_TorchBasicBlock(planes, planes)
                                                                     for _ in range(blocks - 1)]
            setattr(self, f"layer{i + 1}", torch.nn.Sequential(*stage))
            inplanes = planes
        self.avgpool = torch.nn.AdaptiveAvgPool2d((1, 1))
        self.fc = torch.nn.Linear(512, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def _reference(name: str, num_classes: int):
    model = _torchvision_resnet(name) if num_classes == 1000 else None
    if model is None:
        model = _TorchResNet([2, 2, 2, 2] if name == "resnet18" else [3, 4, 6, 3], num_classes)
    torch.manual_seed(0)
    with torch.no_grad():  # non-trivial batch-norm parameters and statistics
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return model.double()


def _load(jmodel, tmodel):
    state = {k: v.detach().numpy().copy() for k, v in tmodel.state_dict().items()}
    result = jmodel.load_state_dict(state)
    assert result.missing_keys == [] and result.unexpected_keys == []


def _close(actual, desired, err_msg=""):
    """Agreement up to float64 rounding relative to the array's scale (gradients reach 1e4)."""
    scale = max(float(np.abs(desired).max()), 1.0)
    np.testing.assert_allclose(actual, desired, rtol=1e-7, atol=1e-10 * scale, err_msg=err_msg)


def _check(jmodel, tmodel, shape):
    x = np.random.default_rng(1).standard_normal(shape)
    jx, tx = jitgrad.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    jy, ty = jmodel(jx), tmodel(tx)
    _close(jy.detach().numpy(), ty.detach().numpy())
    (jy * jy).sum().backward()
    (ty * ty).sum().backward()
    _close(jx.grad.numpy(), tx.grad.numpy())
    tparams = dict(tmodel.named_parameters())
    jparams = dict(jmodel.named_parameters())
    assert list(jparams) == list(tparams)
    for name, p in jparams.items():
        _close(p.grad.numpy(), tparams[name].grad.numpy(), err_msg=name)
    for name, b in tmodel.named_buffers():
        _close(dict(jmodel.named_buffers())[name].numpy(), b.numpy(), err_msg=name)


def test_resnet18_names_match_torchvision_layout():
    names = list(models.resnet18().state_dict())
    assert names == list(_reference("resnet18", 1000).state_dict())
    assert names[:6] == ["conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
                         "bn1.num_batches_tracked"]
    assert "layer2.0.downsample.0.weight" in names and "layer2.0.downsample.1.running_var" in names
    assert names[-2:] == ["fc.weight", "fc.bias"]


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_resnet18_matches_torch_with_copied_weights(mode):
    tmodel = _reference("resnet18", 1000)
    jmodel = models.resnet18().double()
    _load(jmodel, tmodel)
    getattr(tmodel, mode)()
    getattr(jmodel, mode)()
    _check(jmodel, tmodel, (2, 3, 32, 32) if mode == "train" else (1, 3, 32, 32))


def test_resnet34_matches_torch_in_eval_mode():
    tmodel = _reference("resnet34", 10).eval()
    jmodel = models.resnet34(num_classes=10).double().eval()
    _load(jmodel, tmodel)
    _check(jmodel, tmodel, (1, 3, 32, 32))


def test_load_state_dict_of_a_different_head_reports_keys():
    jmodel = models.resnet18(num_classes=10)
    state = dict(jmodel.state_dict())
    state.pop("fc.bias")
    state["head.weight"] = np.zeros((10, 512), dtype=np.float32)
    with pytest.raises(RuntimeError, match=r'Missing key\(s\) in state_dict: "fc.bias"\.[\s\S]*'
                                           r'Unexpected key\(s\) in state_dict: "head.weight"\.'):
        jmodel.load_state_dict(state)
    result = jmodel.load_state_dict(state, strict=False)
    assert result.missing_keys == ["fc.bias"] and result.unexpected_keys == ["head.weight"]
