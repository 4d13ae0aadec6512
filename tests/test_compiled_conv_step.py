"""A CNN's whole training step (forward with batch norm in training mode, loss, backward,
SGD with momentum) under jitgrad.jit: one compiled program that also writes batch norm's
running statistics and batch counter back, leaving the model as eager steps (and PyTorch) do."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import jitgrad as jg
from jitgrad import compiled, executable, nn

X = np.random.default_rng(0).standard_normal((2, 3, 8, 8))
Y = np.array([0, 2])


def _cnn(momentum=0.1) -> nn.Module:
    jg.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4, momentum=momentum), nn.ReLU(),
        nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4, momentum=momentum), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)).double()


def _train(model, compiled_step: bool, steps: int = 3) -> list:
    opt = jg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def step(x, y):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    fn = jg.jit(step) if compiled_step else step
    x, y = jg.tensor(X), jg.tensor(Y)
    return [float(fn(x, y)) for _ in range(steps)]


def _state(model) -> dict:
    return {k: np.array(v.detach().numpy() if hasattr(v, "detach") else v) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("momentum", [0.1, None], ids=["momentum", "cumulative"])
def test_training_step_with_batch_norm_compiles_to_one_program_and_matches_eager(momentum, monkeypatch):
    monkeypatch.setattr(executable, "_warned_fallbacks", set())
    eager_model, compiled_model = _cnn(momentum), _cnn(momentum)
    eager_losses = _train(eager_model, False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", compiled.InterpreterFallbackWarning)
        compiled_losses = _train(compiled_model, True)
    np.testing.assert_allclose(compiled_losses, eager_losses, rtol=1e-12)
    eager_state, compiled_state = _state(eager_model), _state(compiled_model)
    assert list(eager_state) == list(compiled_state)
    for name, value in eager_state.items():
        np.testing.assert_allclose(compiled_state[name], value, rtol=1e-11, atol=1e-13, err_msg=name)
    assert int(compiled_model[1].num_batches_tracked) == 3
    for b_e, b_c in zip(eager_model.buffers(), compiled_model.buffers(), strict=True):
        assert b_c._version == b_e._version


def test_training_step_with_batch_norm_matches_torch():
    torch = pytest.importorskip("torch")
    model = _cnn()
    tm = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1, bias=False), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2), torch.nn.Conv2d(4, 4, 3, stride=2, padding=1), torch.nn.BatchNorm2d(4),
        torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 3)).double()
    tm.load_state_dict({k: torch.tensor(v) for k, v in _state(model).items()})
    losses = _train(model, True)
    opt = torch.optim.SGD(tm.parameters(), lr=0.1, momentum=0.9)
    x, y = torch.tensor(X), torch.tensor(Y)
    torch_losses = []
    for _ in range(3):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(tm(x), y)
        loss.backward()
        opt.step()
        torch_losses.append(loss.item())
    np.testing.assert_allclose(losses, torch_losses, rtol=1e-10)
    ours = _state(model)
    for name, value in tm.state_dict().items():
        np.testing.assert_allclose(ours[name], value.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)


def test_jit_grad_of_a_training_mode_model_updates_running_statistics():
    """jit_grad's forward writes the running statistics back at every call, as eager forwards do."""
    eager_model, compiled_model = _cnn(), _cnn()
    loss_fn = jg.jit_grad(lambda x, y: nn.functional.cross_entropy(compiled_model(x), y))
    x, y = jg.tensor(X), jg.tensor(Y)
    for _ in range(2):
        loss = loss_fn(x, y)
        loss.backward()
        eager_loss = nn.functional.cross_entropy(eager_model(x), y)
        eager_loss.backward()
        np.testing.assert_allclose(float(loss), float(eager_loss), rtol=1e-12)
    eager_state, compiled_state = _state(eager_model), _state(compiled_model)
    for name, value in eager_state.items():
        np.testing.assert_allclose(compiled_state[name], value, rtol=1e-12, atol=1e-14, err_msg=name)
    for (name, p_e), p_c in zip(eager_model.named_parameters(), compiled_model.parameters(), strict=True):
        np.testing.assert_allclose(p_c.grad.numpy(), p_e.grad.numpy(), rtol=1e-10, atol=1e-13, err_msg=name)


def test_resnet_training_step_compiled_matches_eager(monkeypatch):
    """The seed's step (forward with every block kind of ResNet-18: 7x7 stride-2 convolution,
    max pooling, basic blocks with and without a strided 1x1 downsample, global average pooling,
    fc; batch norm in training mode; SGD momentum) on ResNet-10 ([1, 1, 1, 1] blocks), float64.
    The fused loops run as plain Python (the convolution kernels compile): the same program text,
    without a minutes-long compile of a whole ResNet in the test suite. Batch 4 at 32x32 keeps 4
    values per channel in the last batch norms (with 2 they are ill-conditioned: the normalised
    values are +-1 and the gradients below them rounding noise)."""
    from jitgrad.models.resnet import ResNet  # noqa: PLC0415
    monkeypatch.setenv("JITGRAD_CPU_KERNELS", "python")
    x = jg.tensor(np.random.default_rng(0).standard_normal((4, 3, 32, 32)))
    y = jg.tensor(np.array([0, 3, 1, 9]))
    runs = []
    for compiled_step in (False, True):
        jg.manual_seed(0)
        model = ResNet([1, 1, 1, 1], num_classes=10).double()
        opt = jg.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def step(x, y, model=model, opt=opt):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss

        fn = jg.jit(step) if compiled_step else step
        runs.append(([float(fn(x, y)) for _ in range(2)], _state(model)))
    (eager_losses, eager_state), (losses, state) = runs
    np.testing.assert_allclose(losses, eager_losses, rtol=1e-9)
    for name, value in eager_state.items():
        np.testing.assert_allclose(state[name], value, rtol=1e-7, atol=1e-9, err_msg=name)
