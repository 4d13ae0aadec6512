"""Other array libraries meet jitgrad tensors: NumPy ufuncs run the differentiable jitgrad op,
torch tensors in a jitgrad op get an error saying how to convert, graph pictures display in
Jupyter."""
from __future__ import annotations

import os
import stat

import numpy as np
import pytest

import jitgrad as jg
from jitgrad import viz

torch = pytest.importorskip("torch")

UNARY_UFUNCS = [np.sin, np.cos, np.tan, np.tanh, np.exp, np.expm1, np.log, np.log1p, np.sqrt, np.negative,
                np.absolute, np.reciprocal]


@pytest.mark.parametrize("ufunc", UNARY_UFUNCS, ids=lambda u: u.__name__)
def test_numpy_ufunc_on_a_tensor_is_the_differentiable_jitgrad_op(ufunc):
    values = np.array([0.3, 0.7, 1.4])
    x = jg.tensor(values, requires_grad=True)
    y = ufunc(x)
    assert isinstance(y, jg.Tensor) and y.grad_fn is not None
    y.sum().backward()
    tx = torch.tensor(values, requires_grad=True)
    ty = getattr(torch, {"absolute": "abs", "negative": "neg"}.get(ufunc.__name__, ufunc.__name__))(tx)
    ty.sum().backward()
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6)


def test_binary_ufuncs_and_operators_with_an_array_on_the_left():
    x = jg.tensor([1.0, 2.0], requires_grad=True)
    a = np.array([3.0, 4.0], dtype=np.float32)
    for out in (np.multiply(a, x), a * x, np.power(x, 2.0), np.maximum(x, a), a @ x):
        assert isinstance(out, jg.Tensor) and out.grad_fn is not None
    (a * x + np.float32(2) * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), a + 2)
    assert isinstance(np.less(x, a), jg.Tensor) and np.less(x, a).dtype == jg.bool


def test_ufunc_jitgrad_lacks_refuses_a_tensor_that_requires_grad():
    x = jg.tensor([0.5, 1.0], requires_grad=True)
    with pytest.raises(TypeError, match=r"np\.arctan on a tensor that requires grad.*detach"):
        np.arctan(x)
    with pytest.raises(TypeError, match=r"np\.add on a tensor that requires grad.*jg\.add"):
        np.add(x, 1.0, out=np.empty(2, np.float32))
    with pytest.raises(TypeError, match=r"np\.add\.reduce on a tensor that requires grad"):
        np.add.reduce(x)


def test_ufunc_jitgrad_lacks_runs_in_numpy_without_grad_and_gives_a_tensor():
    x = jg.tensor([0.5, 1.0])
    y = np.arctan(x)  # as np.arctan(torch_tensor) gives a torch.Tensor
    assert isinstance(y, jg.Tensor)
    np.testing.assert_allclose(y.numpy(), np.arctan([0.5, 1.0]), rtol=1e-6)
    assert np.add.reduce(x).item() == 1.5
    with pytest.raises(TypeError, match="out=tensor"):
        np.add(x, 1.0, out=(jg.zeros(2),))


def test_ufunc_in_compiled_mode_is_traced():
    f = jg.jit_grad(lambda x: np.sin(x).sum())
    x = jg.tensor([0.1, 0.2], requires_grad=True)
    f(x).backward()
    np.testing.assert_allclose(x.grad.numpy(), np.cos([0.1, 0.2]), rtol=1e-6)


@pytest.mark.parametrize("op", [lambda a, t: a + t, lambda a, t: t + a, lambda a, t: a * t, lambda a, t: a @ t,
                                lambda a, t: jg.maximum(a, t), lambda a, t: jg.where(a > 0, a, t)],
                         ids=["add", "radd", "mul", "matmul", "maximum", "where"])
def test_mixing_a_torch_tensor_says_how_to_convert(op):
    a = jg.ones(2, 2)
    t = torch.ones(2, 2)
    with pytest.raises(TypeError, match=r"torch\.Tensor cannot be mixed.*jg\.from_dlpack\(t\).*torch\.from_dlpack"):
        op(a, t)


def test_the_conversions_the_error_names_work_both_ways():
    t = torch.tensor([1.0, 2.0], requires_grad=True)
    x = jg.from_dlpack(t.detach())
    assert isinstance(x, jg.Tensor) and x.tolist() == [1.0, 2.0]
    back = torch.from_dlpack(jg.tensor([3.0, 4.0]))
    assert back.tolist() == [3.0, 4.0]


def test_other_operand_types_say_what_is_expected():
    with pytest.raises(TypeError, match="unsupported operand type str; expected a Tensor, a NumPy array or a number"):
        jg.ones(2) + "a"


def test_graph_display_without_dot_shows_the_text_and_how_to_install(monkeypatch):
    monkeypatch.setenv("PATH", "")
    dot = viz.to_dot(jg.ones(2, requires_grad=True) * 2)
    assert isinstance(dot, str) and dot.startswith("digraph")
    assert dot._repr_svg_() is None
    bundle = dot._repr_mimebundle_()
    assert set(bundle) == {"text/plain"} and "apt-get install graphviz" in bundle["text/plain"]
    with pytest.raises(RuntimeError, match="Graphviz's `dot` program"):
        dot.svg()


def test_graph_display_runs_dot_for_jupyter(monkeypatch, tmp_path):
    fake = tmp_path / "dot"  # stands in for Graphviz: checks the arguments, echoes an SVG around its input
    fake.write_text('#!/bin/sh\n[ "$1" = "-Tsvg" ] || exit 3\necho "<svg>$(grep -c -- -\\> -) edges</svg>"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(tmp_path) + os.pathsep + os.environ.get("PATH", ""))
    x = jg.ones(2, requires_grad=True)
    dot = viz.to_dot((x * 2).sum())
    assert dot._repr_svg_() == "<svg>3 edges</svg>\n"  # leaf -> mul -> sum -> output
    bundle = dot._repr_mimebundle_()
    assert bundle["image/svg+xml"].startswith("<svg>") and bundle["text/plain"] == str(dot)
