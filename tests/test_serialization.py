"""jitgrad.save / jitgrad.load (the safe .npz format; torch.save files read through torch), and
pickling / deepcopy of tensors and modules, compared with PyTorch's behaviour."""
from __future__ import annotations

import collections
import copy
import io
import math
import pickle
import zipfile

import numpy as np
import pytest

import jitgrad
from jitgrad import nn, optim

torch = pytest.importorskip("torch")


def model():
    jitgrad.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))


def test_tensor_round_trip_keeps_values_dtype_and_flags(tmp_path):
    x = jitgrad.tensor([[1.5, -2.0], [math.inf, math.nan]], dtype=jitgrad.float64, requires_grad=True)
    ints = jitgrad.tensor([1, 2, 3])
    path = tmp_path / "t.jg"
    jitgrad.save({"x": x, "ints": ints, "flag": jitgrad.tensor([True, False])}, path)
    loaded = jitgrad.load(path)
    np.testing.assert_array_equal(loaded["x"].detach().numpy(), x.detach().numpy())
    assert loaded["x"].dtype == np.float64 and loaded["x"].requires_grad and loaded["x"].is_leaf
    assert loaded["ints"].dtype == np.int64 and loaded["ints"].tolist() == [1, 2, 3]
    assert loaded["flag"].dtype == np.bool_
    assert isinstance(jitgrad.load(io.BytesIO(_saved_bytes(x))), jitgrad.Tensor)


def _saved_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    jitgrad.save(obj, buffer)
    return buffer.getvalue()


def test_nested_containers_and_plain_values_round_trip():
    shared = jitgrad.ones(2)
    obj = {"list": [shared, (1, 2.5, "s", None, True)], "shared again": shared, 3: -7,
           "od": collections.OrderedDict(b=1, a=2), "counter": collections.Counter([2, 2, 5]),
           "array": np.arange(4, dtype=np.int16), "np scalar": np.float32(0.1), "big": 2 ** 70,
           "floats": [0.1, -0.0, math.inf]}
    loaded = jitgrad.load(io.BytesIO(_saved_bytes(obj)))
    assert loaded["list"][1] == (1, 2.5, "s", None, True)
    assert loaded["list"][0] is loaded["shared again"]  # a tensor saved twice is loaded once
    assert loaded[3] == -7 and loaded["big"] == 2 ** 70
    assert isinstance(loaded["od"], collections.OrderedDict) and list(loaded["od"]) == ["b", "a"]
    assert loaded["counter"] == collections.Counter([2, 2, 5])
    assert loaded["array"].dtype == np.int16 and loaded["np scalar"] == np.float32(0.1)
    assert loaded["floats"][1] == 0.0 and math.copysign(1, loaded["floats"][1]) == -1


def test_module_state_dict_round_trip(tmp_path):
    m = model()
    jitgrad.save(m.state_dict(), tmp_path / "m.jg")
    m2 = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    m2.load_state_dict(jitgrad.load(tmp_path / "m.jg"))
    x = jitgrad.randn(5, 3)
    np.testing.assert_array_equal(m2(x).detach().numpy(), m(x).detach().numpy())


@pytest.mark.parametrize("make", [lambda p: optim.Adam(p, lr=0.01, amsgrad=True),
                                  lambda p: optim.SGD(p, lr=0.1, momentum=0.9),
                                  lambda p: optim.RMSprop(p, centered=True, momentum=0.3),
                                  lambda p: optim.LBFGS(p, max_iter=3)], ids=["adam", "sgd", "rmsprop", "lbfgs"])
def test_checkpoint_of_model_and_optimizer_resumes_training(tmp_path, make):
    x, y = jitgrad.randn(6, 3), jitgrad.randn(6, 2)

    def train(m, opt, steps):
        for _ in range(steps):
            def closure():
                opt.zero_grad()
                loss = ((m(x) - y) ** 2).mean()
                loss.backward()
                return loss
            opt.step(closure)

    m = model()
    opt = make(list(m.parameters()))
    train(m, opt, 2)
    jitgrad.save({"model": m.state_dict(), "optim": opt.state_dict(), "epoch": 2}, tmp_path / "ckpt.jg")
    ckpt = jitgrad.load(tmp_path / "ckpt.jg")
    m2 = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    m2.load_state_dict(ckpt["model"])
    opt2 = make(list(m2.parameters()))
    opt2.load_state_dict(ckpt["optim"])
    assert ckpt["epoch"] == 2
    train(m, opt, 2)
    train(m2, opt2, 2)
    for a, b in zip(m.parameters(), m2.parameters(), strict=True):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def test_unsafe_objects_are_refused():
    with pytest.raises(TypeError, match="Save its state"):
        jitgrad.save({"model": model()}, io.BytesIO())
    with pytest.raises(TypeError, match="dtype object"):
        jitgrad.save(np.array([object()]), io.BytesIO())


class Payload:
    """Stands for arbitrary code in a pickle: unpickling it would import and build this class."""

    def __reduce__(self):
        return (print, ("this should never run",))


def test_load_never_unpickles_a_plain_pickle(tmp_path, capsys):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(Payload(), protocol=2))
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        jitgrad.load(path)  # a plain pickle goes to torch.load(weights_only=True), which refuses code
    assert "should never run" not in capsys.readouterr().out
    bad = io.BytesIO()
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("x.txt", "hello")
    with pytest.raises(ValueError, match="not written by jitgrad.save"):
        jitgrad.load(io.BytesIO(bad.getvalue()))
    with pytest.raises(ValueError, match="neither"):
        jitgrad.load(io.BytesIO(b"hello world"))


def test_load_a_pytorch_state_dict(tmp_path):
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    torch.save(tm.state_dict(), tmp_path / "torch.pt")
    state = jitgrad.load(tmp_path / "torch.pt")
    assert isinstance(state, collections.OrderedDict) and isinstance(state["0.weight"], jitgrad.Tensor)
    jm = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    jm.load_state_dict(state)
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    np.testing.assert_allclose(jm(jitgrad.tensor(x)).detach().numpy(), tm(torch.tensor(x)).detach().numpy(),
                               rtol=1e-6)
    torch.save({"w": torch.nn.Parameter(torch.ones(2)), "step": 3, "t": (torch.arange(3),)}, tmp_path / "p.pt")
    loaded = jitgrad.load(tmp_path / "p.pt")
    assert isinstance(loaded["w"], nn.Parameter) and loaded["step"] == 3 and loaded["t"][0].tolist() == [0, 1, 2]
    torch.save({"h": torch.ones(2, dtype=torch.bfloat16)}, tmp_path / "bf16.pt")
    with pytest.raises(TypeError, match="bfloat16"):
        jitgrad.load(tmp_path / "bf16.pt")


# ----- pickle and deepcopy ---------------------------------------------------------------------


def used_leaf():
    x = jitgrad.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    return x


def test_pickle_of_a_used_leaf_matches_pytorch():
    x = used_leaf()
    x2 = pickle.loads(pickle.dumps(x))
    xt = torch.tensor([1.0, 2.0], requires_grad=True)
    (xt * xt).sum().backward()
    xt2 = pickle.loads(pickle.dumps(xt))
    assert x2.requires_grad == xt2.requires_grad and x2.is_leaf
    assert (x2.grad is None) == (xt2.grad is None)  # PyTorch does not pickle .grad
    assert x2.detach().tolist() == [1.0, 2.0]
    (x2 * 3).sum().backward()  # a working leaf with its own storage
    assert x2.grad.tolist() == [3.0, 3.0] and x.grad.tolist() == [2.0, 4.0]


class Tagged(jitgrad.Tensor):
    """A Tensor subclass (pickling keeps the class, as in PyTorch)."""


def test_pickle_keeps_a_tensor_subclass():
    t = Tagged._wrap(np.array([1.0, 2.0]))
    t2 = pickle.loads(pickle.dumps(t))
    assert type(t2) is Tagged and t2.tolist() == [1.0, 2.0]


def test_pickle_of_a_non_leaf_gives_a_leaf_that_requires_grad_as_pytorch():
    y = used_leaf() * 2
    yt = torch.tensor([1.0, 2.0], requires_grad=True) * 2
    y2, yt2 = pickle.loads(pickle.dumps(y)), pickle.loads(pickle.dumps(yt))
    assert (y2.is_leaf, y2.requires_grad, y2.grad_fn) == (yt2.is_leaf, yt2.requires_grad, None)
    assert y2.detach().tolist() == [2.0, 4.0]


def test_deepcopy_of_leaves_keeps_grad_and_refuses_non_leaves():
    x = used_leaf()
    x2 = copy.deepcopy(x)
    assert x2.grad.tolist() == [2.0, 4.0] and x2.requires_grad and x2.is_leaf
    x2.grad.zero_()
    x2.detach().zero_()
    assert x.grad.tolist() == [2.0, 4.0] and x.detach().tolist() == [1.0, 2.0]  # no shared storage
    with pytest.raises(RuntimeError, match="Only Tensors created explicitly by the user"):
        copy.deepcopy(x * 2)
    with pytest.raises(RuntimeError, match="Only Tensors created explicitly by the user"):
        copy.deepcopy(torch.tensor([1.0], requires_grad=True) * 2)
    shared = [x, x]
    copied = copy.deepcopy(shared)
    assert copied[0] is copied[1]


def test_pickle_and_deepcopy_of_modules():
    m = model()
    loss = m(jitgrad.randn(2, 3)).sum()
    loss.backward()
    for clone in (pickle.loads(pickle.dumps(m)), copy.deepcopy(m)):
        assert isinstance(clone[0].weight, nn.Parameter)
        x = jitgrad.randn(2, 3)
        np.testing.assert_array_equal(clone(x).detach().numpy(), m(x).detach().numpy())
        clone[0].weight.detach().zero_()
        assert m[0].weight.detach().abs().sum().item() > 0
    assert copy.deepcopy(m)[0].weight.grad is not None
