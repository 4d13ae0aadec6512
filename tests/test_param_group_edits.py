"""Edits of `optimizer.param_groups` between compiled training steps: the compiled step re-reads
the options only when an edit was counted (optim/groups.py), so every kind of edit must be
counted, or, for a group the optimizer cannot watch (a plain dict put in the list), re-read
at every call. Each test trains eagerly and compiled with the same edits and compares."""
from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import jitgrad as jg
from jitgrad import nn
from jitgrad.optim.groups import ParamGroup

X = np.random.default_rng(0).standard_normal((4, 3))
Y = np.random.default_rng(1).standard_normal((4, 2))


def _model() -> nn.Module:
    jg.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()


def _replace_with_plain(opt, model):
    opt.param_groups[0] = dict(opt.param_groups[0], lr=0.03)


def _edit_plain(opt, model):
    group = opt.param_groups[0]
    assert type(group) is dict  # the user's own dict: its edits are not counted
    group["lr"] = 0.2
    group["momentum"] = 0.0


def _add_group(opt, model):
    opt.add_param_group({"params": list(model[2].parameters()), "lr": 0.05, "momentum": 0.5})


# name -> edits applied after 2, 4, ... steps
EDITS = {
    "set_lr": [lambda opt, m: opt.param_groups[0].__setitem__("lr", 0.01)],
    "update_momentum": [lambda opt, m: opt.param_groups[0].update(momentum=0.5)],
    "ior_weight_decay": [lambda opt, m: opt.param_groups[0].__ior__({"weight_decay": 0.1})],
    "pop_then_setdefault": [lambda opt, m: (opt.param_groups[0].pop("dampening"),
                                            opt.param_groups[0].setdefault("dampening", 0.25))],
    "reassign_list": [lambda opt, m: setattr(opt, "param_groups", [dict(opt.param_groups[0], lr=0.04)])],
    "replace_group_then_edit_it": [_replace_with_plain, _edit_plain],
    "add_param_group": [_add_group],
    "lr_back_and_forth": [lambda opt, m: opt.param_groups[0].__setitem__("lr", 0.01),
                          lambda opt, m: opt.param_groups[0].__setitem__("lr", 0.1)],
}


def _train(edits, compiled: bool, make_opt=lambda ps: jg.optim.SGD(ps, lr=0.1, momentum=0.9)):
    model = _model()
    opt = make_opt(model[0].parameters())

    def step(x, y):
        model.zero_grad()  # (also the parameters of a group added later)
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    fn = jg.jit(step) if compiled else step
    x, y = jg.tensor(X), jg.tensor(Y)
    losses = [float(fn(x, y)) for _ in range(2)]
    for edit in edits:
        edit(opt, model)
        losses += [float(fn(x, y)) for _ in range(2)]
    return model, opt, losses


OPTIMIZERS = {"sgd": lambda ps: jg.optim.SGD(ps, lr=0.1, momentum=0.9),
              "adamw": lambda ps: jg.optim.AdamW(ps, lr=0.1)}  # (AdamW: a step key that changes every call)


CASES = [(o, e) for o in sorted(OPTIMIZERS) for e in sorted(EDITS)
         if o == "sgd" or e not in ("update_momentum", "pop_then_setdefault")]  # (options of SGD)


@pytest.mark.parametrize(("optimizer", "name"), CASES)
def test_param_group_edits_between_compiled_steps_act_as_in_eager_mode(optimizer, name):
    make = OPTIMIZERS[optimizer]
    (m_e, o_e, l_e), (m_c, o_c, l_c) = _train(EDITS[name], False, make), _train(EDITS[name], True, make)
    np.testing.assert_allclose(l_c, l_e, rtol=1e-12)
    for p_e, p_c in zip(m_e.parameters(), m_c.parameters(), strict=True):
        np.testing.assert_allclose(p_c.detach().numpy(), p_e.detach().numpy(), rtol=1e-12, atol=1e-15)
        assert (p_e.grad is None) == (p_c.grad is None)
    s_e, s_c = o_e.state_dict(), o_c.state_dict()
    assert s_e["param_groups"] == s_c["param_groups"]
    for k, st in s_e["state"].items():
        for n, v in st.items():
            np.testing.assert_allclose(np.asarray(s_c["state"][k][n]), np.asarray(v), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("clone", [copy.deepcopy, lambda o: pickle.loads(pickle.dumps(o))])
def test_copied_optimizer_counts_edits_of_its_own_groups(clone):
    opt = jg.optim.SGD([jg.ones(2, requires_grad=True)], lr=0.1)
    other = clone(opt)
    assert type(other.param_groups[0]) is ParamGroup
    before, mine = other._groups_version[0], opt._groups_version[0]
    other.param_groups[0]["lr"] = 0.5
    assert other._groups_version[0] == before + 1
    assert opt._groups_version[0] == mine and opt.param_groups[0]["lr"] == 0.1
    assert other._groups_version_now() == other._groups_version[0]
