"""jitgrad.autograd.Function (custom forward/backward), utils.checkpoint and inference_mode against
PyTorch: eager values and gradients, double backward, and the same Functions inside jit_grad/jit
(the user's backward traced into the adjoint like any VJP rule)."""
from __future__ import annotations

import numpy as np
import pytest

import jitgrad as jg
from jitgrad import nn
from jitgrad.autograd.function import once_differentiable

torch = pytest.importorskip("torch")


def make_functions(lib):
    """The same custom Functions written against jitgrad or torch (PyTorch tutorial shapes)."""

    class MyExp(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            return g * y

    class Legendre3(lib.autograd.Function):
        """0.5 (5x^3 - 3x) with a scale stored as a ctx attribute and a non-tensor argument."""

        @staticmethod
        def forward(ctx, x, scale, w):
            ctx.save_for_backward(x, w)
            ctx.scale = scale
            return 0.5 * (5 * x ** 3 - 3 * x) * scale * w

        @staticmethod
        def backward(ctx, g):
            x, w = ctx.saved_tensors
            needs = ctx.needs_input_grad
            assert needs[1] is False
            gx = g * 1.5 * (5 * x ** 2 - 1) * ctx.scale * w if needs[0] else None
            gw = (g * 0.5 * (5 * x ** 3 - 3 * x) * ctx.scale).sum(0) if needs[2] else None
            return gx, None, gw

    class SplitMinMax(lib.autograd.Function):
        """Two outputs, one of them non-differentiable (an index)."""

        @staticmethod
        def forward(ctx, x):
            hi = x.amax(1)
            idx = x.argmax(1)
            ctx.mark_non_differentiable(idx)
            ctx.save_for_backward(x, idx)
            lo = x * 2
            return hi, idx, lo

        @staticmethod
        def backward(ctx, g_hi, g_idx, g_lo):
            x, idx = ctx.saved_tensors
            g = g_lo * 2
            onehot = (lib.arange(x.shape[1]).reshape(1, -1) == idx.reshape(-1, 1)).to(x.dtype)
            return g + onehot * g_hi.reshape(-1, 1)

    class ScaleByTensorAttr(lib.autograd.Function):
        """A tensor stored as a plain ctx attribute (common in tutorials) instead of save_for_backward."""

        @staticmethod
        def forward(ctx, x, w):
            ctx.w = w
            ctx.x = x
            return x * w

        @staticmethod
        def backward(ctx, g):
            return g * ctx.w, (g * ctx.x).sum(0)

    return MyExp, Legendre3, SplitMinMax, ScaleByTensorAttr


JG_FNS, TORCH_FNS = make_functions(jg), make_functions(torch)
RNG = np.random.default_rng(5)
X = RNG.standard_normal((3, 4))
W = RNG.standard_normal(4)


def _both(body, compiled=False):
    """body(fns, lib, x, w) in both libraries; returns (outputs, x.grad, w.grad) of each."""
    results = []
    for lib, fns in ((jg, JG_FNS), (torch, TORCH_FNS)):
        x = lib.tensor(X.copy(), requires_grad=True)
        w = lib.tensor(W.copy(), requires_grad=True)
        def run(a, b, fns=fns, lib=lib):
            return body(fns, lib, a, b)

        if compiled and lib is jg:
            run = jg.jit_grad(run)
        out = run(x, w)
        outs = out if isinstance(out, tuple) else (out,)
        total = sum((o * lib.tensor(np.cos(np.arange(o.numel())).reshape(tuple(o.shape)))).sum()
                    for o in outs if o.dtype in (lib.float64, lib.float32) and o.requires_grad)
        total.backward()
        results.append(([o.detach().numpy() for o in outs], x.grad, w.grad))
    (o1, gx1, gw1), (o2, gx2, gw2) = results
    for a, b in zip(o1, o2):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    for a, b in ((gx1, gx2), (gw1, gw2)):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-14)


BODIES = {
    "exp": lambda f, lib, x, w: f[0].apply(x * w),
    "legendre": lambda f, lib, x, w: f[1].apply(x, 0.7, w),
    "two_outputs": lambda f, lib, x, w: f[2].apply(x * w),
    "tensor_attr": lambda f, lib, x, w: f[3].apply(x.sin(), w),
    "chained": lambda f, lib, x, w: f[0].apply(f[1].apply(x, 0.3, w) * 0.1).sum(1),
}


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("name", BODIES)
def test_custom_function_matches_torch(name, compiled):
    _both(BODIES[name], compiled)


def test_grad_fn_name_and_non_differentiable_output():
    MyExp, _, SplitMinMax, _ = JG_FNS
    x = jg.tensor(X, requires_grad=True)
    assert type(MyExp.apply(x).grad_fn).__name__ != "" and MyExp.apply(x).grad_fn.name() == "MyExpBackward"
    hi, idx, lo = SplitMinMax.apply(x)
    assert hi.requires_grad and lo.requires_grad and not idx.requires_grad
    with jg.no_grad():
        assert not MyExp.apply(x).requires_grad


def test_double_backward_through_a_custom_function():
    MyExp = JG_FNS[0]
    x = jg.tensor(X, requires_grad=True)
    (g,) = jg.autograd.grad(MyExp.apply(x).sum(), [x], create_graph=True)
    (gg,) = jg.autograd.grad(g.sum(), [x])
    np.testing.assert_allclose(gg.numpy(), np.exp(X), rtol=1e-12)


def test_compiled_grad_of_a_custom_function():
    MyExp = JG_FNS[0]
    f = jg.grad(lambda x: MyExp.apply(x).sum())
    np.testing.assert_allclose(np.asarray(f(X)), np.exp(X), rtol=1e-12)
    np.testing.assert_allclose(jg.jit(lambda x: MyExp.apply(x) * 2)(jg.tensor(X)).numpy(), 2 * np.exp(X))


def test_once_differentiable_refuses_second_order():
    class Cube(jg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        @once_differentiable
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 3 * x * x * g

    x = jg.tensor(X, requires_grad=True)
    Cube.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 * X * X)
    v = jg.ones(3, 4, dtype=jg.float64, requires_grad=True)  # a cotangent with history (as in PyTorch's rule)
    (g,) = jg.autograd.grad(Cube.apply(x), [x], [v], create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):
        g.sum().backward()


def test_bad_backward_results():
    class WrongCount(jg.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            return x * y

        @staticmethod
        def backward(ctx, g):
            return g

    class WrongShape(jg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g[0]

    x = jg.tensor(X, requires_grad=True)
    with pytest.raises(RuntimeError, match="incorrect number of gradients"):
        WrongCount.apply(x, x).sum().backward()
    with pytest.raises(RuntimeError, match="invalid gradient at index 0"):
        WrongShape.apply(x).sum().backward()
    with pytest.raises(TypeError, match="save_for_backward"):
        class SavesNumber(jg.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(3)
                return x

        SavesNumber.apply(x)


def test_saved_tensor_modified_in_place_is_detected():
    MyExp = JG_FNS[0]
    x = jg.tensor(X, requires_grad=True)
    h = x * 1.0
    y = JG_FNS[1].apply(h, 1.0, jg.tensor(W))
    with jg.no_grad():
        pass
    h.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()
    assert MyExp is not None


def test_setup_context_form():
    class Square(jg.autograd.Function):
        @staticmethod
        def forward(x):
            return x * x

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(inputs[0])

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * x * g

    x = jg.tensor(X, requires_grad=True)
    Square.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * X)


# ----- checkpoint and inference_mode ---------------------------------------------------------------------


def test_checkpoint_matches_plain_backward_including_dropout_and_parameters():
    jg.manual_seed(0)
    block = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Dropout(0.3), nn.Linear(6, 2))
    x = jg.tensor(X, requires_grad=True)
    jg.manual_seed(1)
    block(x).pow(2).sum().backward()
    plain = [p.grad.numpy().copy() for p in block.parameters()] + [x.grad.numpy().copy()]
    block.zero_grad()
    x.grad = None
    jg.manual_seed(1)
    out = jg.utils.checkpoint.checkpoint(block, x, use_reentrant=False)
    assert out.grad_fn.name() == "_CheckpointFunctionBackward"
    out.pow(2).sum().backward()
    for a, b in zip([p.grad.numpy() for p in block.parameters()] + [x.grad.numpy()], plain):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_checkpoint_inside_jit_grad():
    block = nn.Sequential(nn.Linear(4, 3), nn.Tanh())
    x = jg.tensor(X.astype(np.float32), requires_grad=True)
    f = jg.jit_grad(lambda a: jg.utils.checkpoint.checkpoint(block, a).sum())
    f(x).backward()
    expected = jg.tensor(X.astype(np.float32), requires_grad=True)
    block(expected).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), expected.grad.numpy(), rtol=1e-5)


def test_inference_mode():
    x = jg.tensor(X, requires_grad=True)
    assert not jg.is_inference_mode_enabled()
    with jg.inference_mode():
        assert jg.is_inference_mode_enabled() and not jg.is_grad_enabled()
        assert not (x * 2).requires_grad
    with jg.inference_mode(False):
        assert (x * 2).requires_grad

    @jg.inference_mode()
    def f(a):
        return a * 2

    @jg.inference_mode
    def g(a):
        return a * 3

    assert not f(x).requires_grad and not g(x).requires_grad
    assert jg.is_grad_enabled() and not jg.is_inference_mode_enabled()
