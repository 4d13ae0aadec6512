"""Boolean masks that are runtime values inside compiled functions (x[mask], masked_select):
a count pass ends one program, the compaction starts the next (compiled for that count), the
split is written in the generated source, and compiled = eager = PyTorch, gradients included."""
import numpy as np
import pytest

import jitgrad
from jitgrad import executable

torch = pytest.importorskip("torch")


@pytest.fixture
def as_python(monkeypatch):
    """Run the generated programs as Python (same source, no Numba compile)."""
    monkeypatch.setenv("JITGRAD_CPU_KERNELS", "python")


def _compare(fn, torch_fn, xv, mv, compiled):
    """Value and gradient of fn(x, mask) against eager mode and PyTorch."""
    x = jitgrad.tensor(xv, requires_grad=True)
    out = compiled(x, jitgrad.tensor(mv))
    out.backward()
    xe = jitgrad.tensor(xv, requires_grad=True)
    fn(xe, jitgrad.tensor(mv)).backward()
    tx = torch.tensor(xv, requires_grad=True)
    tout = torch_fn(tx, torch.tensor(mv))
    tout.backward()
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), xe.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_runtime_mask_compiles_matches_eager_and_torch_as_the_count_changes(monkeypatch):
    """Real Numba programs: the same function with masks selecting 6, 0, 12 and again 6
    elements gives PyTorch's values and gradients; each count is traced once."""
    def f(x, y):
        return (x[y > 0] * 2).sin().sum()

    fn = jitgrad.jit_grad(f)
    traces = []
    real_trace = jitgrad.compiled.trace
    monkeypatch.setattr(jitgrad.compiled, "trace", lambda *a, **k: traces.append(k) or real_trace(*a, **k))
    rng = np.random.default_rng(0)
    xv = rng.standard_normal((4, 3))
    six = np.where(np.arange(12).reshape(4, 3) % 2 == 0, 1.0, -1.0)
    for mv in (six, -np.ones((4, 3)), np.ones((4, 3)), six):
        _compare(f, f, xv, mv, fn)
    # the first trace assumes every element is selected (12), then 6 and 0 trace again; 12 and 6 are cached
    assert len(traces) == 3


@pytest.mark.usefixtures("as_python")
def test_split_is_documented_in_the_generated_source():
    """The program before the split ends with the count pass and says so; the one after says
    which count it was compiled for."""
    fn = jitgrad.jit(lambda x, m: x[m] * 2)
    x, m = np.arange(6.0), np.array([True, False, True, True, False, False])
    np.testing.assert_array_equal(fn(x, m), x[m] * 2)
    text = fn.source(x, m)
    assert "ends with the count pass of boolean mask" in text
    assert "compiled for 3 selected elements" in text
    assert "lib.count_true(" in text and "lib.mask_select(" in text
    assert len(fn.executable(x, m).plan.segments) == 3  # program, count check, program


@pytest.mark.usefixtures("as_python")
@pytest.mark.parametrize("where", ["rows", "cols", "ellipsis", "masked_select"])
def test_mask_positions_and_masked_select_match_torch(where):
    """Masks over leading, middle and trailing dims, and masked_select with broadcasting."""
    rng = np.random.default_rng(1)
    xv = rng.standard_normal((2, 3, 4))
    fns = {
        "rows": (lambda x, m: x[m > 0].exp().sum(), (2,)),
        "cols": (lambda x, m: (x[:, m > 0] ** 2).sum(), (3, 4)),
        "ellipsis": (lambda x, m: x[..., m > 0].tanh().sum(), (4,)),
        "masked_select": (lambda x, m: x.masked_select(m > 0).cos().sum(), (3, 1)),
    }
    fn, mshape = fns[where]
    mv = rng.standard_normal(mshape)
    _compare(fn, fn, xv, mv, jitgrad.jit_grad(fn))


@pytest.mark.usefixtures("as_python")
def test_two_masks_and_a_mask_from_a_random_draw_match_eager():
    """Two traced masks in one function (two splits), and a dropout-like mask from jitgrad.rand
    (the same seed gives eager's numbers, so compiled equals eager)."""
    def f(x):
        kept = x[jitgrad.rand(x.shape) > 0.5]
        return kept[kept > 0].sum() + kept.sum()

    fn = jitgrad.jit_grad(f)
    xv = np.random.default_rng(2).standard_normal(40)
    for seed in (0, 1, 2):
        jitgrad.manual_seed(seed)
        x = jitgrad.tensor(xv, requires_grad=True)
        out = fn(x)
        out.backward()
        jitgrad.manual_seed(seed)
        xe = jitgrad.tensor(xv, requires_grad=True)
        want = f(xe)
        want.backward()
        np.testing.assert_allclose(out.detach().numpy(), want.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(x.grad.numpy(), xe.grad.numpy(), rtol=1e-12)
    assert sum(seg.split is not None for seg in fn.grad_executables(x)[0].plan.segments) == 2


@pytest.mark.usefixtures("as_python")
def test_grad_and_value_and_grad_of_a_masked_function():
    """The functional transforms trace the mask's adjoint (mask_scatter) too."""
    f = lambda x, m: (x[m] ** 3).sum()  # noqa: E731
    x = np.linspace(-1.0, 1.0, 7)
    for m in (x > 0, x > 2, x > -2):
        want = np.where(m, 3 * x ** 2, 0.0)
        np.testing.assert_allclose(jitgrad.grad(f)(x, m), want)
        value, g = jitgrad.value_and_grad(f)(x, m)
        np.testing.assert_allclose(value, (x[m] ** 3).sum())
        np.testing.assert_allclose(g, want)


@pytest.mark.parametrize("shape", [(2, 4), (4,), (3, 4, 1)])
def test_wrong_shape_runtime_mask_raises_torchs_index_error_in_both_modes(shape):
    """A traced mask whose shape does not match the dims it covers: IndexError naming both
    shapes, eagerly and compiled, as PyTorch."""
    x = jitgrad.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    m = jitgrad.tensor(np.ones(shape, bool))
    for call in (lambda a, b: a[b].sum(), jitgrad.jit_grad(lambda a, b: a[b].sum())):
        with pytest.raises(IndexError, match=rf"mask {list(shape)}".replace("[", r"\[").replace("]", r"\]")):
            call(x, m)
    with pytest.raises(IndexError):
        torch.zeros(3, 4)[torch.ones(shape, dtype=torch.bool)]


def test_other_combinations_with_a_traced_mask_are_refused_clearly():
    """A traced mask mixed with ints or index arrays, or assigned through, is refused with a
    TypeError that says what works."""
    x = jitgrad.tensor(np.arange(12.0).reshape(3, 4))
    with pytest.raises(TypeError, match="full slices"):
        jitgrad.jit(lambda a: a[a[:, 0] > 3, 1])(x)
    with pytest.raises(TypeError, match="where"):
        jitgrad.jit(lambda a: a.clone().__setitem__(a > 3, 0.0))(x)


def test_mask_count_checks_in_the_kernel(monkeypatch):
    """The compaction kernel refuses a mask whose count differs from the one it was compiled
    for (never a write past its buffer), even if called directly."""
    monkeypatch.setenv("JITGRAD_CPU_KERNELS", "python")
    from jitgrad._kernels import masks
    out = np.empty((1, 2, 1))
    with pytest.raises(RuntimeError, match="more elements"):
        masks.mask_select.py_func(np.zeros((1, 3, 1)), np.ones(3, bool), out)
    with pytest.raises(RuntimeError, match="fewer elements"):
        masks.mask_select.py_func(np.zeros((1, 3, 1)), np.array([True, False, False]), out)


def test_no_fallback_warning_for_runtime_masks(monkeypatch):
    """x[mask] of a traced mask runs no op in the reference interpreter."""
    monkeypatch.setenv("JITGRAD_CPU_KERNELS", "python")
    monkeypatch.setattr(executable, "_warned_fallbacks", set())
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error", jitgrad.compiled.InterpreterFallbackWarning)
        x = jitgrad.tensor(np.arange(6.0), requires_grad=True)
        jitgrad.jit_grad(lambda a: a[a > 2].sum())(x).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 0, 0, 1, 1, 1])


def test_mask_inside_a_fori_loop_body_is_refused_clearly():
    """A fori_loop body is compiled once for every iteration: a data-dependent selection in it
    is refused at trace time with the way out (never an internal count error later)."""
    with pytest.raises(jitgrad.TracingError, match="boolean mask"):
        jitgrad.fori_loop(0, 3, lambda i, x: x + x[x > 0].sum(), jitgrad.tensor([1.0, -2.0, 3.0]))
