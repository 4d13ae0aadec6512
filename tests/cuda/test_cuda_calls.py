"""The library calls on CUDA (kernels/cuda/calls.py, indexed.py, rows.py, batched matmul): every
op-table case lowers to ONE CUDA program, bad indices raise the CPU's errors from GPU kernels
(eager and compiled), scatter-adds are bit-identical to the CPU's sequential sums on every run,
and var/std are one stable pass. Runs under Numba's simulator (tiny shapes):

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda/test_cuda_calls.py
"""
import numpy as np
import pytest
from gpu_targets import needs_cuda
from op_table import CASES, jitgrad_fn, make_inputs

import jitgrad as jg

pytestmark = needs_cuda
TRACEABLE = [c for c in CASES if not c.eager_only]


def _graphs(case):
    from jitgrad.adjoint import split
    from jitgrad.tracing import trace
    xs = make_inputs(case, np.float64)
    graph = trace(jitgrad_fn(case), xs)
    wrt = tuple(i for i, x in enumerate(xs) if x.requires_grad)
    return [graph] + (list(split(graph, wrt)) if wrt else [])


@pytest.mark.parametrize("case", TRACEABLE, ids=lambda c: c.name)
def test_case_lowers_to_one_cuda_program(case):
    """No equation of an op-table case falls back on CUDA: each graph is one CUDA program, or for
    each traced boolean mask one split at its count (the count pass ends a program, the next
    starts with the compaction), and every program's source renders (the kernels compile when it
    first runs)."""
    from jitgrad._kernels.cuda import program
    from jitgrad.fuse import FallbackGroup, fuse
    from jitgrad.lower import lower
    from jitgrad.simplify import simplify

    for graph in _graphs(case):
        g = simplify(graph)
        split_at = {grp.eqn.prim.name for grp in fuse(g, "cuda") if isinstance(grp, FallbackGroup)}
        assert not split_at, f"{case.name}: CUDA programs split at {split_at}"
        plan = lower(g, "p", "cuda")
        masks = [e for e in g.eqns if e.prim.name == "mask_select" and e.params["site"] >= 0]
        assert [seg.split is not None for seg in plan.segments] == [False, True] * len(masks) + [False]
        for seg in plan.segments:
            if seg.program is not None:
                program.render(seg.program)


X = np.arange(12.0).reshape(3, 4)


def _gpu_and_cpu(fn, *args):
    """The exception of fn on the CPU (eager), and on the GPU eagerly and compiled."""
    errors = []
    gpu_args = [a.cuda() for a in args]
    for call, xs in ((fn, args), (fn, gpu_args), (jg.jit_grad(fn), gpu_args)):
        with pytest.raises(Exception) as info:
            call(*xs)
        errors.append(info.value)
    return errors


@pytest.mark.parametrize("bad", [3, 7, -4])
def test_out_of_range_index_refused_on_gpu(bad):
    """An index array entry outside [-size, size) raises the CPU's IndexError naming it, from
    the GPU kernel's error slot, eagerly and in a compiled program."""
    x = jg.tensor(X)
    idx = jg.tensor(np.array([0, bad, 1, bad]))
    cpu, *gpu = _gpu_and_cpu(lambda a, i: a[i].sum(), x, idx)
    assert type(cpu) is IndexError and f"index {bad} is out of bounds" in str(cpu) and "size 3" in str(cpu)
    for err in gpu:  # (the words of the CPU's compiled bounds check)
        assert type(err) is IndexError and str(err) == f"index {bad} is out of bounds for dimension 0 with size 3"


@pytest.mark.parametrize("bad", [4, -1])
def test_gather_index_refused_on_gpu(bad):
    """gather refuses indices outside [0, size) with the CPU's RuntimeError naming the first."""
    x = jg.tensor(X)
    idx = jg.tensor(np.array([[0, 1], [1, bad], [3, 2 * bad]]))
    cpu, *gpu = _gpu_and_cpu(lambda a, i: a.gather(1, i), x, idx)
    assert isinstance(cpu, RuntimeError) and f"gather(): index {bad} is out of bounds for dimension 1" in str(cpu)
    for err in gpu:
        assert type(err) is type(cpu) and str(err) == str(cpu)


def test_bad_index_in_backward_and_second_term_then_good_call_works():
    """The second index array's bad entry is named with its dimension; the next call is fine."""
    x = jg.tensor(X, device="cuda", requires_grad=True)
    rows = jg.tensor(np.array([0, 2]), device="cuda")
    fn = jg.jit_grad(lambda a, i, j: a[i, j].sum())
    with pytest.raises(IndexError, match="index 4 is out of bounds for dimension 1 with size 4"):
        fn(x, rows, jg.tensor(np.array([1, 4]), device="cuda"))
    fn(x, rows, jg.tensor(np.array([-1, 0]), device="cuda")).backward()
    expected = np.zeros((3, 4))
    expected[0, 3] = expected[2, 0] = 1.0
    np.testing.assert_array_equal(x.grad.numpy(), expected)


def test_embedding_backward_is_bit_identical_to_the_cpu_on_every_run():
    """Repeated rows accumulate in index order on the GPU (sorted segments, no float atomics):
    float32 sums equal the CPU's sequential ones bit for bit, eagerly and compiled."""
    rng = np.random.default_rng(0)
    table = rng.normal(size=(5, 3)).astype(np.float32)
    tokens = rng.integers(0, 5, size=(7, 4))
    tokens[:, 0] = 2  # one row hit many times
    g = (rng.normal(size=(7, 4, 3)) * 1e3).astype(np.float32)

    def loss(w, i):
        return (w[i] * jg.tensor(g, device=w.device)).sum()

    expected = np.zeros_like(table)
    for (r, c), token in np.ndenumerate(tokens):  # the CPU loop's order
        expected[token] += g[r, c]
    for fn in (loss, jg.jit_grad(loss)):
        for _ in range(2):
            w = jg.tensor(table, device="cuda", requires_grad=True)
            fn(w, jg.tensor(tokens, device="cuda")).backward()
            np.testing.assert_array_equal(w.grad.numpy(), expected)


def test_setitem_with_repeated_indices_keeps_the_last_write():
    """x[idx] = v with a repeated index: the last write wins, as in NumPy and the CPU loop."""
    x = np.zeros(4)
    idx = np.array([1, 3, 1, 1, 0])
    v = np.arange(5.0) + 1
    expected = x.copy()
    expected[idx] = v

    def assign(a, i, b):
        a = a.clone()
        a[i] = b
        return a
    for fn in (assign, jg.jit(assign)):
        out = fn(jg.tensor(x, device="cuda"), jg.tensor(idx, device="cuda"), jg.tensor(v, device="cuda"))
        np.testing.assert_array_equal(out.numpy(), expected)


def test_var_and_std_are_one_stable_pass():
    """Welford's update with Chan's merge: a large offset does not swamp the variance."""
    rng = np.random.default_rng(1)
    x = 1e8 + rng.normal(size=(3, 37))
    cases = [(lambda a: a.var(1), x.var(1, ddof=1)), (lambda a: a.std(1, correction=0), x.std(1)),
             (jg.jit(lambda a: a.var(1)), x.var(1, ddof=1))]
    for fn, want in cases:
        np.testing.assert_allclose(fn(jg.tensor(x, device="cuda")).numpy(), want, rtol=1e-6)


def test_batched_matmul_reads_broadcast_batches_without_copies():
    """(2, 1, 3, 4) @ (5, 4, 2): one batched kernel over the 10 broadcast products."""
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(2, 1, 3, 4)), rng.normal(size=(5, 4, 2))
    for fn in (lambda p, q: p @ q, jg.jit(lambda p, q: p @ q)):
        out = fn(jg.tensor(a, device="cuda"), jg.tensor(b, device="cuda"))
        np.testing.assert_allclose(out.numpy(), a @ b, rtol=1e-12)


@pytest.mark.parametrize("descending", [False, True])
def test_argsort_on_gpu_orders_nans_and_ties_as_the_cpu(descending):
    """Stable, NaN as the largest value (first when descending), along a middle dim."""
    x = np.array([[3.0, np.nan, 1.0, 3.0, -np.inf, np.nan, 0.0, -0.0],
                  [2.0, 2.0, np.inf, 1.0, np.nan, 5.0, -1.0, 2.0]]).T.reshape(2, 8, 1) \
        .repeat(2, axis=2)
    want = jg.argsort(jg.tensor(x), dim=1, descending=descending).numpy()
    got = jg.argsort(jg.tensor(x, device="cuda"), dim=1, descending=descending).numpy()
    np.testing.assert_array_equal(got, want)


def test_cumsum_on_gpu_is_the_cpus_sequential_sum():
    """float32 prefix sums in index order: the same bits as NumPy's (the CPU eager) scan."""
    x = (np.random.default_rng(3).normal(size=(3, 50, 2)) * 1e3).astype(np.float32)
    got = jg.cumsum(jg.tensor(x, device="cuda"), 1).numpy()
    np.testing.assert_array_equal(got, np.cumsum(x, axis=1))


def test_char_mlp_training_step_is_one_gpu_program_per_pass_and_matches_the_cpu(monkeypatch):
    """Embedding lookup, tanh layer and cross_entropy (gather; scatter_add and unindex in the
    backward) compiled for the GPU: no split, loss and gradients equal to CPU eager mode."""
    import warnings

    from jitgrad import executable
    from jitgrad.nn import functional

    monkeypatch.setattr(executable, "_warned_fallbacks", set())
    rng = np.random.default_rng(4)
    params = [rng.normal(size=s) for s in ((7, 3), (6, 5), (5,), (5, 7))]
    tokens, targets = rng.integers(0, 7, (4, 2)), rng.integers(0, 7, 4)

    def loss(table, w1, b1, w2, x, y):
        return functional.cross_entropy((table[x].reshape(4, 6) @ w1 + b1).tanh() @ w2, y)

    results = []
    for device, fn in (("cpu", loss), ("cuda", jg.jit_grad(loss))):
        ws = [jg.tensor(p, device=device, requires_grad=True) for p in params]
        with warnings.catch_warnings():
            warnings.simplefilter("error", executable.InterpreterFallbackWarning)
            out = fn(*ws, jg.tensor(tokens, device=device), jg.tensor(targets, device=device))
            out.backward()
        results.append([out.detach().numpy()] + [w.grad.numpy() for w in ws])
    for got, want in zip(results[1], results[0]):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
