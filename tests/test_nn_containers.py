"""ModuleDict, ParameterList, ParameterDict, forward hooks, apply/named_modules/zero_grad and
train()/eval() propagation, compared with PyTorch's behaviour."""
from __future__ import annotations

import numpy as np
import pytest

import jitgrad as jg
from jitgrad import nn

torch = pytest.importorskip("torch")


def build(lib_nn, tensor):
    class Net(lib_nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = lib_nn.ModuleDict({"a": lib_nn.Linear(3, 4), "b": lib_nn.Dropout(0.5)})
            self.blocks["c"] = lib_nn.Linear(4, 2)
            self.scales = lib_nn.ParameterList([lib_nn.Parameter(tensor(np.ones(2)))])
            self.scales.append(tensor(np.full(2, 2.0)))  # a plain tensor becomes a Parameter
            self.extra = lib_nn.ParameterDict({"shift": lib_nn.Parameter(tensor(np.zeros(2)))})

        def forward(self, x):
            h = self.blocks["c"](self.blocks["b"](self.blocks["a"](x)))
            for s in self.scales:
                h = h * s
            return h + self.extra["shift"]

    return Net()


def test_containers_register_like_torch():
    ours, theirs = build(nn, jg.tensor), build(torch.nn, torch.tensor)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert list(ours.blocks.keys()) == ["a", "b", "c"] and "b" in ours.blocks and len(ours.blocks) == 3
    assert isinstance(ours.scales[1], nn.Parameter) and len(ours.scales) == 2
    assert set(ours.state_dict()) == set(theirs.state_dict())
    ours.eval()
    assert not ours.blocks["b"].training
    ours.train()
    assert ours.blocks["b"].training
    popped = ours.blocks.pop("c")
    assert isinstance(popped, nn.Linear) and "c" not in ours.blocks
    del ours.extra["shift"]
    assert len(ours.extra) == 0
    with pytest.raises(TypeError, match="Module"):
        ours.blocks["d"] = 3
    with pytest.raises(TypeError, match="Parameter or Tensor"):
        ours.scales.append(1.0)
    with pytest.raises(IndexError, match="out of range"):
        ours.scales[5]  # noqa: B018


def test_state_dict_round_trip_with_torch_weights():
    ours, theirs = build(nn, jg.tensor), build(torch.nn, torch.tensor)
    ours.load_state_dict({k: jg.tensor(v.numpy()) for k, v in theirs.state_dict().items()})
    ours.eval(), theirs.eval()
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    np.testing.assert_allclose(ours(jg.tensor(x)).detach().numpy(), theirs(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)


def test_forward_hooks_match_torch_semantics():
    for lib_nn, tensor in ((nn, jg.tensor), (torch.nn, torch.tensor)):
        layer = lib_nn.Linear(2, 2)
        seen = []
        pre = layer.register_forward_pre_hook(lambda m, args: (args[0] * 2,))
        post = layer.register_forward_hook(lambda m, args, out: out * 0 + 7)
        first = layer.register_forward_hook(lambda m, args, out, seen=seen: seen.append(("first", out.shape)),
                                            prepend=True)
        kw = layer.register_forward_pre_hook(lambda m, args, kwargs, seen=seen: seen.append(("kw", len(args))),
                                             with_kwargs=True)
        out = layer(tensor(np.ones((1, 2), dtype=np.float32)))
        assert out.detach().numpy().tolist() == [[7.0, 7.0]]
        assert seen == [("kw", 1), ("first", (1, 2))]
        for h in (pre, post, first, kw):
            h.remove()
        x = tensor(np.ones((1, 2), dtype=np.float32))
        np.testing.assert_allclose(layer(x).detach().numpy(), (x @ layer.weight.T + layer.bias).detach().numpy())


def test_forward_hook_always_call_runs_on_error():
    layer = nn.Linear(2, 2)
    calls = []
    layer.register_forward_hook(lambda m, a, o: calls.append(o), always_call=True)
    with pytest.raises(RuntimeError):
        layer(jg.ones(1, 3))
    assert calls == [None]
    with pytest.raises(TypeError, match="callable"):
        layer.register_forward_hook(3)


def test_apply_named_modules_zero_grad():
    net = build(nn, jg.tensor)
    names = []
    net.apply(lambda m: names.append(type(m).__name__))
    assert names[-1] == "Net" and names.count("Linear") == 2
    net(jg.ones(1, 3)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(not p.grad.numpy().any() for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
