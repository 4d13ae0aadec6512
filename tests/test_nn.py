"""jitgrad.nn: Module API behaviour, Linear init, state_dict, and losses/functional vs PyTorch."""
from __future__ import annotations

import math

import numpy as np
import pytest

import jitgrad
from jitgrad import nn
from jitgrad.nn import functional as F  # noqa: N812


def mlp():
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = mlp()
        self.scale = nn.Parameter(jitgrad.ones(2))
        self.note = "plain attribute"

    def forward(self, x):
        return self.body(x) * self.scale


# ----- Module API -------------------------------------------------------------------------------


def test_registration_and_traversal():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["scale", "body.0.weight", "body.0.bias", "body.2.weight", "body.2.bias"]
    assert len(list(net.parameters())) == 5
    assert [n for n, _ in net.named_children()] == ["body"]
    assert [type(m).__name__ for m in net.modules()] == ["Net", "Sequential", "Linear", "ReLU", "Linear"]
    assert list(net.children())[0] is net.body
    assert net.note == "plain attribute" and "note" not in net._parameters
    assert list(net.parameters(recurse=False)) == [net.scale]


def test_shared_parameter_listed_once():
    net = Net()
    net.body[2].weight = net.body[2].weight  # re-assign: still one entry
    net.other = net.body[0]  # same module under two names
    assert len(list(net.parameters())) == 5


def test_assignment_errors():
    lin = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="cannot assign 'Tensor' as parameter 'weight'"):
        lin.weight = jitgrad.zeros(2, 2)
    lin.bias = None
    assert lin.bias is None and [n for n, _ in lin.named_parameters()] == ["weight"]

    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(jitgrad.ones(1))

    with pytest.raises(AttributeError, match="super\\(\\).__init__\\(\\)"):
        Early()
    with pytest.raises(NotImplementedError, match="forward"):
        nn.Module()(1)
    with pytest.raises(AttributeError, match="'Linear' object has no attribute 'nope'"):
        _ = lin.nope


def test_call_runs_forward_and_ops_on_parameters_give_tensors():
    jitgrad.manual_seed(0)
    net = Net()
    out = net(jitgrad.randn(5, 3))
    assert out.shape == (5, 2) and type(out) is jitgrad.Tensor and out.grad_fn is not None
    w = net.body[0].weight
    assert type(w * 2) is jitgrad.Tensor
    assert type(w.detach()) is jitgrad.Tensor and type(w.data) is jitgrad.Tensor
    assert w.is_leaf and w.requires_grad


def test_parameter_repr_and_dtype_check():
    p = nn.Parameter(jitgrad.tensor([1.0, 2.0]))
    assert repr(p) == "Parameter containing:\ntensor([1., 2.], requires_grad=True)"
    assert not nn.Parameter(jitgrad.tensor([1.0]), requires_grad=False).requires_grad
    with pytest.raises(RuntimeError, match="floating point"):
        nn.Parameter(jitgrad.tensor([1, 2]))
    with pytest.raises(TypeError, match="jitgrad Tensor"):
        nn.Parameter([1.0])


def test_module_repr():
    assert repr(mlp()) == ("Sequential(\n  (0): Linear(in_features=3, out_features=4, bias=True)\n  (1): ReLU()\n"
                           "  (2): Linear(in_features=4, out_features=2, bias=True)\n)")
    assert repr(Net()).startswith("Net(\n  (body): Sequential(\n    (0): Linear(")
    assert repr(nn.MSELoss(reduction="sum")) == "MSELoss(reduction='sum')"


def test_train_eval_zero_grad_requires_grad():
    net = Net()
    assert net.training and net.body[1].training
    net.eval()
    assert not net.training and not net.body[1].training
    net.train()
    assert net.body[2].training
    net(jitgrad.randn(2, 3)).sum().backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None for g in grads)
    net.zero_grad(set_to_none=False)
    assert all(p.grad is g and not p.grad.numpy().any() for p, g in zip(net.parameters(), grads, strict=True))
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.body.requires_grad_(False)
    assert [p.requires_grad for p in net.parameters()] == [True, False, False, False, False]


def test_sequential_container():
    seq = mlp()
    assert len(seq) == 3 and isinstance(seq[-1], nn.Linear) and isinstance(seq[1], nn.ReLU)
    assert [type(m).__name__ for m in seq] == ["Linear", "ReLU", "Linear"]
    head = seq[1:]
    assert isinstance(head, nn.Sequential) and len(head) == 2 and head[1] is seq[2]
    with pytest.raises(IndexError, match="out of range"):
        seq[3]
    seq.append(nn.Tanh())
    assert len(seq) == 4 and seq(jitgrad.randn(1, 3)).shape == (1, 2)
    with pytest.raises(TypeError, match="not a Module"):
        nn.Sequential(nn.ReLU(), 3)


def test_linear_init_bounds_and_seed():
    jitgrad.manual_seed(3)
    a = nn.Linear(50, 20)
    jitgrad.manual_seed(3)
    b = nn.Linear(50, 20)
    assert np.array_equal(a.weight.detach().numpy(), b.weight.detach().numpy())
    assert np.array_equal(a.bias.detach().numpy(), b.bias.detach().numpy())
    bound = 1 / math.sqrt(50)
    w = a.weight.detach().numpy()
    assert w.dtype == np.float32 and np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert np.abs(a.bias.detach().numpy()).max() <= bound
    assert nn.Linear(2, 3, bias=False).bias is None


# ----- state dict -------------------------------------------------------------------------------


def test_state_dict_round_trip():
    src, dst = Net(), Net()
    sd = src.state_dict()
    assert list(sd) == ["scale", "body.0.weight", "body.0.bias", "body.2.weight", "body.2.bias"]
    assert all(not v.requires_grad for v in sd.values())
    weight = dst.body[0].weight
    version = weight._version
    assert dst.load_state_dict(sd) == ([], [])
    assert dst.body[0].weight is weight and weight._version > version
    x = jitgrad.randn(4, 3)
    assert np.array_equal(src(x).detach().numpy(), dst(x).detach().numpy())
    # values are copied, not shared
    sd["scale"].numpy()[0] = 42.0
    assert dst.scale.detach().numpy()[0] == 1.0


def test_load_state_dict_errors():
    lin = nn.Linear(3, 2)
    sd = lin.state_dict()
    del sd["bias"]
    sd["extra"] = jitgrad.zeros(1)
    with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "bias"') as err:
        lin.load_state_dict(sd)
    assert 'Unexpected key(s) in state_dict: "extra"' in str(err.value) and "strict=False" in str(err.value)
    assert lin.load_state_dict(sd, strict=False) == (["bias"], ["extra"])
    with pytest.raises(RuntimeError, match=r"size mismatch for weight: copying a param with shape \[2, 2\]"):
        lin.load_state_dict({"weight": jitgrad.zeros(2, 2), "bias": jitgrad.zeros(2)})
    with pytest.raises(TypeError, match="dict-like"):
        lin.load_state_dict([1, 2])


def test_buffers_in_state_dict():
    m = nn.Module()
    m.register_buffer("running", jitgrad.zeros(2))
    m.register_buffer("scratch", jitgrad.zeros(2), persistent=False)
    assert list(m.state_dict()) == ["running"] and len(list(m.buffers())) == 2


def test_double_converts_in_place():
    lin = nn.Linear(2, 2)
    w = lin.weight
    lin.double()
    assert lin.weight is w and w.dtype == np.float64 and lin(jitgrad.randn(1, 2).double()).dtype == np.float64


# ----- losses and functional vs PyTorch ---------------------------------------------------------

torch = pytest.importorskip("torch")


def _pair(array, requires_grad=True):
    return (jitgrad.tensor(array, requires_grad=requires_grad),
            torch.tensor(array, requires_grad=requires_grad))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_matches_torch(reduction):
    rng = np.random.default_rng(0)
    (xj, xt), (yj, yt) = _pair(rng.standard_normal((4, 3))), _pair(rng.standard_normal((4, 3)), False)
    lj, lt = nn.MSELoss(reduction)(xj, yj), torch.nn.MSELoss(reduction=reduction)(xt, yt)
    np.testing.assert_allclose(lj.detach().numpy(), lt.detach().numpy(), rtol=1e-12)
    lj.sum().backward()
    lt.sum().backward()
    np.testing.assert_allclose(xj.grad.numpy(), xt.grad.numpy(), rtol=1e-12)


CE_CASES = {
    "mean": dict(reduction="mean"),
    "sum": dict(reduction="sum"),
    "none": dict(reduction="none"),
    "weight": dict(weight=[0.2, 1.0, 3.0, 0.5]),
    "ignore_index": dict(ignore_index=2),
    "weight+ignore": dict(weight=[0.2, 1.0, 3.0, 0.5], ignore_index=1, reduction="sum"),
}


@pytest.mark.parametrize("case", CE_CASES)
def test_cross_entropy_matches_torch(case):
    kw = dict(CE_CASES[case])
    rng = np.random.default_rng(1)
    xj, xt = _pair(rng.standard_normal((5, 4)) * 3)
    target = np.array([0, 2, 3, 2, 1])
    kj, kt = dict(kw), dict(kw)
    if "weight" in kw:
        kj["weight"] = jitgrad.tensor(kw["weight"], dtype=jitgrad.float64)
        kt["weight"] = torch.tensor(kw["weight"], dtype=torch.float64)
    lj = nn.CrossEntropyLoss(**kj)(xj, jitgrad.tensor(target))
    lt = torch.nn.CrossEntropyLoss(**kt)(xt, torch.tensor(target))
    np.testing.assert_allclose(lj.detach().numpy(), lt.detach().numpy(), rtol=1e-10)
    lj.sum().backward()
    lt.sum().backward()
    np.testing.assert_allclose(xj.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_cross_entropy_shapes_and_probabilities_vs_torch():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 4))  # (N, C, d1)
    t = rng.integers(0, 3, (2, 4))
    np.testing.assert_allclose(F.cross_entropy(jitgrad.tensor(x), jitgrad.tensor(t)).item(),
                               torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(t)).item())
    v = rng.standard_normal(3)  # unbatched
    np.testing.assert_allclose(F.cross_entropy(jitgrad.tensor(v), jitgrad.tensor(1)).item(),
                               torch.nn.functional.cross_entropy(torch.tensor(v), torch.tensor(1)).item())
    probs = rng.dirichlet(np.ones(3), size=4)
    logits = rng.standard_normal((4, 3))
    np.testing.assert_allclose(F.cross_entropy(jitgrad.tensor(logits), jitgrad.tensor(probs)).item(),
                               torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor(probs)).item())


def test_log_softmax_is_stable_and_matches_torch():
    x = np.array([[1000.0, 0.0, -1000.0], [1.0, 2.0, 3.0]], dtype=np.float32)
    xj, xt = _pair(x)
    lj, lt = F.log_softmax(xj, dim=1), torch.log_softmax(xt, dim=1)
    assert np.isfinite(lj.detach().numpy()).all()
    np.testing.assert_allclose(lj.detach().numpy(), lt.detach().numpy(), rtol=1e-6)
    (lj * lj).sum().backward()
    (lt * lt).sum().backward()
    np.testing.assert_allclose(xj.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(F.softmax(xj, dim=0).detach().numpy(), torch.softmax(xt, dim=0).detach().numpy(),
                               rtol=1e-6)


def test_loss_errors():
    x = jitgrad.randn(3, 4)
    with pytest.raises(IndexError, match="Target 7 is out of bounds"):
        F.cross_entropy(x, jitgrad.tensor([0, 7, 1]))
    with pytest.raises(ValueError, match="Expected target of shape \\[3\\]"):
        F.cross_entropy(x, jitgrad.tensor([0, 1]))
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        nn.MSELoss(reduction="avg")
    with pytest.warns(UserWarning, match="different to the input size"):
        F.mse_loss(jitgrad.randn(3, 1), jitgrad.randn(3))


def test_mlp_forward_backward_matches_torch():
    tm = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Sigmoid(), torch.nn.Linear(4, 2), torch.nn.Tanh())
    jm = nn.Sequential(nn.Linear(3, 4), nn.Sigmoid(), nn.Linear(4, 2), nn.Tanh())
    jm.load_state_dict(tm.state_dict())  # torch tensors are accepted as array-likes
    x = np.random.default_rng(3).standard_normal((5, 3)).astype(np.float32)
    yj, yt = jm(jitgrad.tensor(x)), tm(torch.tensor(x))
    np.testing.assert_allclose(yj.detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    yj.sum().backward()
    yt.sum().backward()
    for (name, pj), pt in zip(jm.named_parameters(), tm.parameters(), strict=True):
        np.testing.assert_allclose(pj.grad.numpy(), pt.grad.numpy(), rtol=1e-5, atol=1e-6, err_msg=name)


def test_frozen_parameter_gets_no_grad():
    m = mlp()
    m[0].weight.requires_grad = False
    m(jitgrad.randn(2, 3)).sum().backward()
    assert m[0].weight.grad is None and m[0].bias.grad is not None
