"""The examples run (small sizes) and give what PyTorch gives for the same computation."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name: str):
    """Import examples/<name>.py (its folder on sys.path for the shared _plotting module)."""
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def torch_regression(epochs: int, lr: float):
    """The seed's SGD loop in PyTorch (float32): the oracle for all three forms."""
    torch = pytest.importorskip("torch")
    plotting = load("_plotting")
    x, y = torch.tensor(plotting.X), torch.tensor(plotting.Y)
    params = torch.tensor([1.0, 0.01], requires_grad=True)
    opt = torch.optim.SGD([params], lr=lr)
    losses = []
    for _ in range(epochs):
        opt.zero_grad()
        loss = ((params[0] * x + params[1] - y) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return params.detach().numpy(), losses


@pytest.mark.parametrize("form", ["regression_numpy", "regression_autograd", "regression_optim"])
def test_regression_forms_match_torch(form):
    params, losses = load(form).main(epochs=300, lr=1e-4)
    want_params, want_losses = torch_regression(300, 1e-4)
    np.testing.assert_allclose(params.detach().numpy(), want_params, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(losses, want_losses, rtol=1e-4)
    assert losses[-1] < losses[0]


def test_regression_plots_written(tmp_path):
    pytest.importorskip("matplotlib")
    load("regression_optim").main(epochs=5, plot=True, out_dir=str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["regression_optim_fit.png", "regression_optim_loss.png"]


def test_plots_without_matplotlib_say_so(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert load("_plotting").save_plots("x", 1.0, 0.0, [1.0], str(tmp_path)) == []
    assert "matplotlib is not installed" in capsys.readouterr().out


def test_tiny_model_learns():
    model, losses = load("tiny_model").main(epochs=8, batch=8)
    assert [n for n, _ in model.named_children()] == ["linear1", "activation", "linear2"]
    assert losses[-1] < 0.5 * losses[0]


def test_fine_tune_keeps_frozen_weights():
    _, pre, tune, frozen_change, head_change = load("fine_tune").main(epochs=15)
    assert frozen_change == 0.0 and head_change > 0
    assert pre[-1] < pre[0] and tune[-1] < tune[0]
