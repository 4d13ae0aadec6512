"""Every op compiles: each op-table case's forward and backward graphs lower to ONE compiled
CPU program (no reference-interpreter segment), the new kernels agree with eager mode and
PyTorch, and bad indices are refused in compiled mode exactly as in eager mode."""
import warnings

import numpy as np
import pytest
from helpers import check_modes, check_torch
from op_table import CASES, NO_COMPILED_KERNEL, jitgrad_fn, make_inputs

import jitgrad
from jitgrad import compiled, executable
from jitgrad.adjoint import split
from jitgrad.fuse import FallbackGroup, fuse
from jitgrad.lower import lower
from jitgrad.simplify import simplify
from jitgrad.tracing import trace

TRACEABLE = [c for c in CASES if not c.eager_only]


def _graphs(case):
    """The graphs compiled mode lowers for a case: the forward alone, and the split
    forward/backward pair when some input requires grad."""
    xs = make_inputs(case, np.float64)
    graph = trace(jitgrad_fn(case), xs)
    wrt = tuple(i for i, x in enumerate(xs) if x.requires_grad)
    return [graph] + (list(split(graph, wrt)) if wrt else [])


@pytest.mark.parametrize("case", TRACEABLE, ids=lambda c: c.name)
def test_case_lowers_to_one_program(case):
    """No equation of any op-table case falls back to the reference interpreter on the CPU."""
    for graph in _graphs(case):
        g = simplify(graph)
        fallbacks = {grp.eqn.prim.name for grp in fuse(g) if isinstance(grp, FallbackGroup)}
        assert fallbacks <= NO_COMPILED_KERNEL, f"{case.name}: {fallbacks} run in the reference interpreter"
        if not fallbacks:
            plan = lower(g, "p")
            masks = [e for e in g.eqns if e.prim.name == "mask_select" and e.params["site"] >= 0]
            splits = [seg for seg in plan.segments if seg.split is not None]
            assert len(splits) == len(masks), "a plan is split only where a traced boolean mask's count is checked"
            assert len(plan.segments) == 1 + 2 * len(masks)
            assert all(seg.program is not None for seg in plan.segments if seg.split is None)


CHECKED = ["getitem-array-2d", "getitem-array-repeated", "getitem-index-tensor-dim1", "getitem-neg-index-array",
           "unindex", "setitem-array-rows", "setitem-broadcast-col", "setitem-int", "gather-dim1", "scatter_add",
           "cat-dim1-three", "stack-0d", "stack-last", "max-dim-ties", "min-dim", "argmax", "argmin-full",
           "norm-p3-keepdim", "norm-pinf-dim", "var-dims-tuple", "std-correction2-keepdim",
           "matmul-batched-2d", "matmul-broadcast-batch", "matmul-1d-batched",
           "matmul-batched-1d", "cumsum-neg-dim-3d", "cumsum-bool", "cumprod-two-zeros", "cumprod-long-scan",
           "sort-descending-dim0", "argsort-descending-ties", "topk-smallest-dim0", "median-full",
           "conv2d", "conv2d-stride-pad", "conv2d-groups-dilation", "conv2d-same-even-kernel",
           "conv2d-depthwise", "conv2d-bias", "conv1d", "conv2d_input_grad", "conv2d_weight_grad", "conv_transpose2d",
           "conv_transpose2d-stride1", "unfold", "fold", "max_pool2d", "max_pool2d-ceil-dilation", "max_pool2d-indices",
           "adaptive_max_pool2d", "adaptive_max_pool2d-indices", "avg_pool2d", "avg_pool2d-ceil-exclude-pad"]


@pytest.mark.parametrize("name", CHECKED)
def test_new_kernels_match_eager_and_torch(name, monkeypatch):
    """Compiled values and gradients equal eager's (and so PyTorch's), with no fallback warning."""
    case = next(c for c in CASES if c.name == name)
    monkeypatch.setattr(executable, "_warned_fallbacks", set())
    with warnings.catch_warnings():
        warnings.simplefilter("error", compiled.InterpreterFallbackWarning)
        check_modes(jitgrad_fn(case), make_inputs(case, np.float64), rtol=1e-10, atol=1e-12)
    pytest.importorskip("torch")
    check_torch(jitgrad_fn(case), case.th, make_inputs(case, np.float64), rtol=1e-9, atol=1e-11)


def test_embedding_lookup_is_one_program_and_matches_torch(monkeypatch):
    """An embedding lookup and its backward (scatter-add of repeated rows) compile to one program
    each and agree with PyTorch, repeats included."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    table = rng.standard_normal((27, 10))
    idx = rng.integers(0, 27, (32, 3))
    idx[0, :] = 5  # repeats accumulate

    def f(w, i):
        return (jitgrad.tanh(w[i]) * 1.5).sum()

    fn = jitgrad.jit_grad(f)
    w = jitgrad.tensor(table, requires_grad=True)
    monkeypatch.setattr(executable, "_warned_fallbacks", set())
    with warnings.catch_warnings():
        warnings.simplefilter("error", compiled.InterpreterFallbackWarning)
        fn(w, jitgrad.tensor(idx)).backward()
    tw = torch.tensor(table, requires_grad=True)
    (torch.tanh(tw[torch.tensor(idx)]) * 1.5).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-12, atol=1e-12)


def _both_modes(fn, *args):
    """Run fn eagerly and compiled; return the two exceptions (type and message)."""
    errors = []
    for call in (fn, jitgrad.jit_grad(fn)):
        with pytest.raises(Exception) as info:
            call(*args)
        errors.append(info.value)
    return errors


X = np.arange(12.0).reshape(3, 4)


@pytest.mark.parametrize("bad", [3, 7, -4, -9])
def test_out_of_range_index_refused_in_both_modes(bad):
    """An index array entry outside [-size, size) raises IndexError naming it, eager and compiled."""
    x = jitgrad.tensor(X, requires_grad=True)
    idx = jitgrad.tensor(np.array([0, bad, 1]))
    for err in _both_modes(lambda a, i: a[i].sum(), x, idx):
        assert type(err) is IndexError and f"index {bad}" in str(err) and "size 3" in str(err)


def test_out_of_range_index_in_second_dim_and_in_backward_refused():
    """Bounds are checked per indexed dim, and a good call after a refused one still works."""
    x = jitgrad.tensor(X, requires_grad=True)
    fn = jitgrad.jit_grad(lambda a, i: a[:, i].sum())
    with pytest.raises(IndexError, match="index 4 is out of bounds for dimension 1 with size 4"):
        fn(x, jitgrad.tensor(np.array([4])))
    fn(x, jitgrad.tensor(np.array([-1, 0]))).backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.tile([1.0, 0, 0, 1], (3, 1)))


@pytest.mark.parametrize("bad", [4, -1])
def test_gather_and_scatter_indices_refused_in_both_modes(bad):
    """gather refuses indices outside [0, size) with PyTorch's RuntimeError naming the index (an
    IndexOutOfRangeError: also an IndexError, as Python code expects of a bad index)."""
    x = jitgrad.tensor(X, requires_grad=True)
    idx = jitgrad.tensor(np.array([[0, bad], [1, 2], [3, 3]]))
    for err in _both_modes(lambda a, i: a.gather(1, i).sum(), x, idx):
        assert isinstance(err, RuntimeError) and isinstance(err, IndexError)
        assert f"index {bad} is out of bounds for dimension 1 with size 4" in str(err)
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError, match=f"index {bad} is out of bounds"):
        torch.tensor(X).gather(1, torch.tensor(idx.numpy()))


def test_mask_of_wrong_shape_refused_in_both_modes():
    """A boolean mask whose shape differs from the dims it covers raises PyTorch's IndexError
    naming both shapes (never a read of the wrong elements)."""
    x = jitgrad.tensor(X, requires_grad=True)
    mask = np.ones((2, 4), bool)
    for err in _both_modes(lambda a: a[mask].sum(), x):
        assert type(err) is IndexError and "mask [2, 4]" in str(err) and "[3, 4]" in str(err)
    with pytest.raises(IndexError, match="mask"):
        jitgrad.tensor(X)[:, np.ones(3, bool)]


def test_constant_mask_compiles_and_matches_eager():
    """A mask known while tracing (a constant) selects the same elements in compiled mode."""
    mask = X % 3 == 0
    f = lambda a: (a[mask] * 2).sum()  # noqa: E731
    check_modes(f, [jitgrad.tensor(X, requires_grad=True)])


def test_mismatched_cat_refused_in_both_modes():
    """cat of tensors whose other dims differ raises RuntimeError naming both shapes."""
    a = jitgrad.tensor(X, requires_grad=True)
    b = jitgrad.tensor(np.zeros((2, 3)), requires_grad=True)
    for err in _both_modes(lambda p, q: jitgrad.cat([p, q]).sum(), a, b):
        assert type(err) is RuntimeError and "(3, 4)" in str(err) and "(2, 3)" in str(err)


def test_var_one_pass_is_stable_for_a_large_offset():
    """Welford's update keeps var exact where the sum-of-squares formula loses every digit."""
    x = 1e9 + np.array([[1.0, 2.0, 3.0, 4.0]])
    out = jitgrad.jit(lambda a: jitgrad.var(a, 1))(x)
    np.testing.assert_allclose(out, [np.var(x, ddof=1)], rtol=1e-12)


@pytest.mark.parametrize("descending", [False, True])
def test_compiled_argsort_is_stable_with_nan_and_signed_zeros_like_torch(descending):
    """The compiled merge sort keeps equal keys in order and puts NaN last (first when
    descending), as eager mode and PyTorch's stable sort do."""
    torch = pytest.importorskip("torch")
    x = np.array([[3.0, np.nan, 1.0, 1.0, -np.inf, 2.0, np.nan], [0.0, -0.0, 5.0, np.nan, 0.0, 1.0, np.inf]])
    got = jitgrad.jit(lambda a: jitgrad.argsort(a, 1, descending=descending, stable=True))(x)
    eager = jitgrad.argsort(jitgrad.tensor(x), 1, descending=descending, stable=True).numpy()
    want = torch.argsort(torch.tensor(x), dim=1, descending=descending, stable=True).numpy()
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(eager, want)


def test_compiled_scans_equal_eager_bit_for_bit():
    """float32 scans accumulate sequentially in float32 and integer scans in int64, as NumPy's
    cumsum/cumprod (eager mode) do: compiled results are identical, not merely close."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 50, 2)).astype(np.float32)
    ints = rng.integers(-3, 4, (4, 5)).astype(np.int32)
    for fn, a, dim in [(jitgrad.cumsum, x, 1), (jitgrad.cumprod, x, 1), (jitgrad.cumsum, ints, 0),
                       (jitgrad.cumprod, ints, 1), (jitgrad.cumsum, x, -1)]:
        got = jitgrad.jit(lambda v: fn(v, dim))(a)  # noqa: B023
        want = fn(jitgrad.tensor(a), dim).numpy()
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def _gru_like(a, b, h):
    """cat of two fused elementwise results and an input along dim 1, then a reduction."""
    z = jitgrad.cat([jitgrad.sigmoid(a * 2), jitgrad.tanh(b) + 1, h], dim=1)
    return (z * z).sum()


@pytest.mark.filterwarnings("error::RuntimeWarning")  # (a program Numba fails to compile warns)
def test_cat_inputs_from_fused_loops_are_written_into_their_slices():
    """The loop computing an input of cat stores straight into cat's output (a window of it,
    no temporary and no copy); only the plain input is copied. Values and gradients equal eager's."""
    rng = np.random.default_rng(0)
    a, b, h = rng.standard_normal((3, 4)), rng.standard_normal((3, 2)), rng.standard_normal((3, 5))
    xs = [jitgrad.tensor(a, requires_grad=True), jitgrad.tensor(b, requires_grad=True), jitgrad.tensor(h)]
    fn = jitgrad.jit_grad(_gru_like)
    forward = fn.source(*xs).split("# backward")[0]
    assert forward.count("written in place: a slice of") == 2
    assert forward.count("lib.copy_into(") == 1  # h only
    check_modes(_gru_like, xs, rtol=1e-12, atol=1e-12)


@pytest.mark.filterwarnings("error::RuntimeWarning")  # (a program Numba fails to compile warns)
@pytest.mark.parametrize("dim", [0, 1])
def test_stack_of_fused_results_writes_in_place_and_matches_torch(dim):
    """stack along the first dim (contiguous windows: flat loops) and a later dim (strided
    windows: loops indexed by dims) agree with PyTorch, gradients included."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))

    def f(m, x, y):
        s = m.stack([x.sin(), y.cos() * x], dim)
        return (s * m.arange(s.numel(), dtype=s.dtype).reshape(s.shape)).sum()

    fn = jitgrad.jit_grad(lambda x, y: f(jitgrad, x, y))
    xs = [jitgrad.tensor(a, requires_grad=True), jitgrad.tensor(b, requires_grad=True)]
    assert fn.source(*xs).split("# backward")[0].count("written in place: a slice of") == 2
    out = fn(*xs)
    out.backward()
    ts = [torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)]
    f(torch, *ts).backward()
    np.testing.assert_allclose(out.detach().numpy(), f(torch, *ts).detach().numpy(), rtol=1e-12)
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.filterwarnings("error::RuntimeWarning")  # (a program Numba fails to compile warns)
def test_cat_windows_work_when_the_program_runs_as_kernels(monkeypatch):
    """A program split into one kernel per step (the long-program path) allocates the windows
    in its driver and passes cat's existing buffer to the cat kernel."""
    from jitgrad._kernels import cpu
    monkeypatch.setattr(cpu, "MAX_SINGLE_LINES", 0)
    rng = np.random.default_rng(2)
    a, b, h = rng.standard_normal((3, 4)), rng.standard_normal((3, 2)), rng.standard_normal((3, 5))
    fn = jitgrad.jit(_gru_like)
    assert "written in place" in fn.source(a, b, h)
    np.testing.assert_allclose(fn(a, b, h), _gru_like(*map(jitgrad.tensor, (a, b, h))).numpy(), rtol=1e-12)


def test_eager_scatter_adds_match_torch_without_np_add_at(monkeypatch):
    """Eager backward of gather (scatter_add), of advanced indexing and of an embedding lookup
    (unindex), repeated indices included, equal PyTorch's; none of them calls np.add.at."""
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(np, "add", _NoAddAt(np.add))
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 5))
    idx = np.array([[0, 0, 4], [1, 1, 1], [3, 2, 3], [4, 4, 0]])
    rows = np.array([[2, 2], [0, 3], [2, 1]])
    cases = [
        (lambda m, a, i: (a.gather(1, i) * m.arange(12.0).reshape(4, 3)).sum(), idx),
        (lambda m, a, i: (a[i] ** 2).sum(), rows),
        (lambda m, a, i: (a[:, i[0]] * 3).sum(), rows),
        (lambda m, a, i: m.scatter_add(m.zeros(4, 5, dtype=a.dtype), 1, i, a[:, :3]).pow(2).sum(), idx),
    ]
    for f, i in cases:
        xa = jitgrad.tensor(x, requires_grad=True)
        f(jitgrad, xa, jitgrad.tensor(i)).backward()
        xt = torch.tensor(x, requires_grad=True)
        f(torch, xt, torch.tensor(i)).backward()
        np.testing.assert_allclose(xa.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-12)


class _NoAddAt:
    """np.add with its `at` method refused (everything else passes through)."""

    def __init__(self, add):
        self._add = add

    def __call__(self, *args, **kwargs):
        return self._add(*args, **kwargs)

    def __getattr__(self, name):
        if name == "at":
            raise AssertionError("np.add.at was called")
        return getattr(self._add, name)


def test_scatter_add_float32_repeats_add_in_the_same_order_in_both_modes():
    """Eager and compiled scatter-adds run over the index in C order, so float32 sums of many
    repeats are identical bit for bit (not merely close), and a bad index is refused alike."""
    rng = np.random.default_rng(4)
    g = rng.standard_normal((64, 8)).astype(np.float32) * np.float32(1e3)
    idx = rng.integers(0, 3, (64, 8))
    f = lambda a, i: jitgrad.scatter_add(jitgrad.zeros(3, 8, dtype=jitgrad.float32), 0, i, a)  # noqa: E731
    eager = f(jitgrad.tensor(g), jitgrad.tensor(idx)).numpy()
    compiled = jitgrad.jit(f)(g, idx)
    np.testing.assert_array_equal(compiled, eager)
    bad = idx.copy()
    bad[5, 2] = 3
    for call in (lambda: f(jitgrad.tensor(g), jitgrad.tensor(bad)), lambda: jitgrad.jit(f)(g, bad)):
        with pytest.raises(RuntimeError, match=r"scatter_add\(\): index 3 is out of (bounds|range) for dimension 0 "
                                               r"with size 3"):
            call()
    with pytest.raises(RuntimeError, match=r"scatter_add\(\): index 3 is out of bounds for dimension 0 with size 3"):
        jitgrad.prims.scatter_add_to(jitgrad.tensor(g), jitgrad.tensor(bad), 0, (3, 8))  # the eager kernel's own check


@pytest.mark.parametrize("a_shape, b_shape", [((0, 3, 5), (0, 5, 4)), ((2, 0, 3, 5), (0, 5, 4)),
                                              ((0, 3, 5), (1, 5, 4))])
def test_batched_matmul_with_an_empty_batch_compiles(a_shape, b_shape):
    """An empty batch (a zero-length batch dim) is an empty product, compiled as in eager mode and
    in PyTorch, gradients included (the call once sized its batch as at least 1 and failed)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    a_np, b_np = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    a, b = jitgrad.tensor(a_np, requires_grad=True), jitgrad.tensor(b_np, requires_grad=True)
    out = jitgrad.jit(lambda x, y: x @ y)(a, b)
    ta, tb = torch.tensor(a_np, requires_grad=True), torch.tensor(b_np, requires_grad=True)
    want = ta @ tb
    assert tuple(out.shape) == tuple(want.shape)
    jitgrad.jit_grad(lambda x, y: (x @ y).sum())(a, b).backward()
    want.sum().backward()
    assert a.grad.shape == a.shape and b.grad.shape == b.shape
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy())
