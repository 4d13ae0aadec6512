"""A user's script written against jitgrad's public API; `mypy --strict` must accept it
(tests/test_typing.py runs mypy on this file only, the library's internals followed silently)."""
from __future__ import annotations

import numpy as np

import jitgrad as jg
from jitgrad import nn, optim


class TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.hidden = nn.Linear(3, 8)
        self.out = nn.Linear(8, 1)

    def forward(self, x: jg.Tensor) -> jg.Tensor:
        h: jg.Tensor = jg.relu(self.hidden(x))
        y: jg.Tensor = self.out(h)
        return y


def eager_gradients() -> tuple[float, list[float]]:
    a = jg.linspace(0.0, 6.2832, 25, requires_grad=True)
    out = (2 * a.sin() + 1).sum()
    out.backward()
    grad = a.grad
    assert grad is not None
    return out.item(), grad.tolist()


def train(steps: int) -> float:
    jg.manual_seed(0)
    model = TinyNet()
    opt = optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = nn.MSELoss()
    x = jg.randn(16, 3)
    y = x.sum(dim=1, keepdim=True) * 0.5
    loss = jg.tensor(0.0)
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    return float(loss)


@jg.jit_grad
def mse(w: jg.Tensor, b: jg.Tensor, x: jg.Tensor, y: jg.Tensor) -> jg.Tensor:
    return ((w * x + b - y) ** 2).mean()


def compiled() -> np.ndarray:
    x = jg.tensor([1.0, 2.0, 3.0])
    y = jg.tensor([2.0, 4.0, 6.0])
    w = jg.tensor(1.0, requires_grad=True)
    b = jg.tensor(0.0, requires_grad=True)
    mse(w, b, x, y).backward()
    vg = jg.value_and_grad(lambda t: (jg.sin(t) ** 2).sum())
    _value, grad = vg(np.linspace(0.0, 1.0, 5, dtype=np.float32))
    return np.asarray(grad)


def tensors() -> list[jg.Tensor]:
    z = jg.zeros(2, 3, dtype=jg.float64)
    o = jg.ones_like(z)
    r = jg.arange(6).reshape(2, 3).float()
    with jg.no_grad():
        m = jg.maximum(z, o) + r.mean(dim=0)
    i: jg.Tensor = jg.cat([z, o], dim=0)
    k: jg.Tensor = jg.where(r > 2, r, jg.zeros_like(r))
    n: jg.Tensor = jg.stack([r, r]).transpose(0, 1).unsqueeze(0)
    return [m, i, k, n, jg.from_numpy(np.ones(3)), jg.tensor([[1, 2]], dtype=jg.int64)]


def functional_grad() -> list[jg.Tensor]:
    x = jg.tensor([1.0, 2.0], requires_grad=True)
    (g,) = jg.autograd.grad((x ** 3).sum(), [x], create_graph=True)
    ok: bool = jg.autograd.gradcheck(lambda t: (t * t).sum(), (jg.tensor([0.5], dtype=jg.float64,
                                                                          requires_grad=True),))
    assert ok
    return [g]


if __name__ == "__main__":
    print(eager_gradients()[0], train(3), compiled(), len(tensors()), functional_grad())
