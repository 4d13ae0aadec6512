"""Each workload in PyTorch eager mode (CPU, float32), written idiomatically."""
from __future__ import annotations

import os

import torch

from . import first_call_copies, model_rows

if os.environ.get("OMP_NUM_THREADS", "").isdigit():
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


def _leaf(array, requires_grad: bool = True) -> torch.Tensor:
    return torch.tensor(array, requires_grad=requires_grad)


def _clear(*params: torch.Tensor) -> None:
    for p in params:
        p.grad = None


def sin_sum(inp: dict):
    a = _leaf(inp["a"])

    def run():
        _clear(a)
        out = (2 * a.sin() + 1).sum()
        out.backward()
        return out, (a.grad,)
    return run


def model(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return w * x + b


def regression(inp: dict):
    """W2 with torch.optim.SGD: zero_grad, backward, step."""
    x, y = _leaf(inp["x"], False), _leaf(inp["y"], False)
    p0, lr, epochs = inp["params"], inp["lr"], inp["epochs"]

    def run(epochs: int = epochs):
        params = _leaf(p0)
        opt = torch.optim.SGD([params], lr=lr)
        loss = None
        for _ in range(epochs):
            opt.zero_grad()
            loss = ((model(x, *params) - y) ** 2).mean()
            loss.backward()
            opt.step()
        return loss, (params,)
    return run


def mlp(inp: dict):
    x, t = _leaf(inp["x"], False), _leaf(inp["target"], False)
    net = torch.nn.Sequential(torch.nn.Linear(1000, 100), torch.nn.ReLU(), torch.nn.Linear(100, 10))
    with torch.no_grad():
        for p, k in zip(net.parameters(), ("w1", "b1", "w2", "b2"), strict=True):
            p.copy_(torch.from_numpy(inp[k]))
    loss_fn = torch.nn.MSELoss()

    def run():
        net.zero_grad()
        loss = loss_fn(net(x), t)
        loss.backward()
        return loss, tuple(p.grad for p in net.parameters())
    return run


def chain(inp: dict):
    x, y = _leaf(inp["x"]), _leaf(inp["y"])

    def run():
        _clear(x, y)
        f = ((x * y + x.sin()).tanh() * (-x * x).exp() + (y * y).log1p()).mean()
        f.backward()
        return f, (x.grad, y.grad)
    return run


def rnn(inp: dict):
    w_h, w_x = _leaf(inp["w_h"]), _leaf(inp["w_x"])
    h, x = _leaf(inp["h"], False), _leaf(inp["x"], False)

    def run():
        _clear(w_h, w_x)
        f = (w_h @ h + w_x @ x).tanh().sum()
        f.backward()
        return f, (w_h.grad, w_x.grad)
    return run


def div_mul_loop(inp: dict):
    x, y, z0 = _leaf(inp["x"]), _leaf(inp["y"]), _leaf(inp["z0"], False)
    steps = inp["steps"]

    def run():
        _clear(x, y)
        z = z0
        for _ in range(steps):
            z = (z / x) * y
        out = z.sum()
        out.backward()
        return out, (x.grad, y.grad)
    return run


def tiny_chain(inp: dict):
    x, y, ops = _leaf(inp["x"]), _leaf(inp["y"]), inp["ops"]

    def run():
        _clear(x, y)
        z = x
        for _ in range(ops):
            z = z * y
        out = z.sum()
        out.backward()
        return out, (x.grad, y.grad)
    return run


def conv(inp: dict):
    x, w, b = _leaf(inp["x"]), _leaf(inp["w"]), _leaf(inp["b"])
    r = _leaf(inp["r"], False)

    def run():
        _clear(x, w, b)
        value = (torch.nn.functional.conv2d(x, w, b, padding=1) * r).sum()
        value.backward()
        return value, (x.grad, w.grad, b.grad)
    return run


def _resnet18() -> torch.nn.Module:
    """torchvision's ResNet-18 when it imports, else the same layers written out (same names)."""
    try:
        import torchvision  # noqa: PLC0415
        return torchvision.models.resnet18(weights=None)
    except Exception:  # noqa: BLE001 - a torchvision built for another torch raises RuntimeError
        pass
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self, inplanes, planes, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.downsample = None if stride == 1 and inplanes == planes else nn.Sequential(
                nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            return self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))) + identity)

    class ResNet18(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            self.layer1 = nn.Sequential(Block(64, 64, 1), Block(64, 64, 1))
            self.layer2 = nn.Sequential(Block(64, 128, 2), Block(128, 128, 1))
            self.layer3 = nn.Sequential(Block(128, 256, 2), Block(256, 256, 1))
            self.layer4 = nn.Sequential(Block(256, 512, 2), Block(512, 512, 1))
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(512, 1000)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))
    return ResNet18()


def resnet(inp: dict):
    x, labels = _leaf(inp["x"], False), _leaf(inp["labels"], False)
    model = _resnet18()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in inp["state"].items()})
    optimizer = torch.optim.SGD(model.parameters(), lr=inp["lr"], momentum=inp["momentum"])

    def run():
        optimizer.zero_grad()
        loss = (model(x) - labels).sum()
        loss.backward()
        optimizer.step()
        return loss, (model.fc.weight.detach().clone(),)
    return run


def mlp_step(inp: dict):
    """W3S: one torch.optim.SGD step of W3's MLP."""
    x, t = _leaf(inp["x"], False), _leaf(inp["target"], False)
    net = torch.nn.Sequential(torch.nn.Linear(1000, 100), torch.nn.ReLU(), torch.nn.Linear(100, 10))
    with torch.no_grad():
        for p, k in zip(net.parameters(), ("w1", "b1", "w2", "b2"), strict=True):
            p.copy_(torch.from_numpy(inp[k]))
    opt = torch.optim.SGD(net.parameters(), lr=inp["lr"])
    loss_fn = torch.nn.MSELoss()

    def run():
        opt.zero_grad()
        loss = loss_fn(net(x), t)
        loss.backward()
        opt.step()
        return loss, tuple(net.parameters())
    return first_call_copies(run, lambda p: p.detach().clone())


FACTORIES = {"W1": sin_sum, "W2": regression, "W3": mlp, "W3S": mlp_step, "W4": chain, "W5": rnn, "W6": div_mul_loop,
             "OH": tiny_chain, "W7": conv, "W8": resnet}
FACTORIES.update(model_rows.factories(
    torch, lambda a, grad: torch.tensor(a, requires_grad=grad and a.dtype.kind == 'f'), None))
