"""What TRF's compiled training step is made of runs faster and computes the same: loops of many stores
cut into loops of a few (kernels.loop_split), exp inlined where a loop calls it twice, and products of
two batched operands run by the kernel-sequence driver as np.matmul over permuted views."""
from __future__ import annotations

import numpy as np
import pytest

import jitgrad as jg
from jitgrad._kernels import cpu, loop_split
from jitgrad._kernels.spec import Array, Load, Loop, Program, Stmt, Store

RNG = np.random.default_rng(0)
SHAPE = (32, 16, 16)  # 8,192 elements: past loop_split.MIN_ELEMENTS


def _many_stores(in_place: bool = False) -> tuple[Loop, list, list]:
    """A layer-norm-like chain of six stores over SHAPE, each store a step further along it, with
    one exp per pair; `in_place`: the loop also writes its first input."""
    loads = (Load("a", "x"), Load("m", "mu"), Load("s", "sd"))
    stmts, stores = [], []
    prev = "a"
    for k in range(6):
        stmts.append(Stmt(f"t{k}", f"({prev} - m) / s * np.float32(0.{k + 1})" if k % 2 == 0
                          else f"vm.exp_f32({prev} * s) * np.float32(0.5)"))
        stores.append(Store("x" if in_place and k == 5 else f"y{k}", f"t{k}"))
        prev = f"t{k}"
    arrays = [Array("x", SHAPE, "float32"), Array("mu", SHAPE[:-1] + (1,), "float32"),
              Array("sd", SHAPE[:-1] + (1,), "float32")]
    temps = [Array(f"y{k}", SHAPE, "float32") for k in range(6 - in_place)]
    return Loop(SHAPE, loads, tuple(stmts), tuple(stores)), arrays, temps


def _reference(x, mu, sd):
    out, prev = [], x.astype(np.float64)
    for k in range(6):
        prev = (prev - mu) / sd * (k + 1) / 10 if k % 2 == 0 else np.exp(prev * sd) * 0.5
        out.append(prev)
    return out


def test_a_loop_of_many_stores_runs_as_loops_of_three_with_the_same_values():
    loop, inputs, temps = _many_stores()
    pieces = loop_split.pieces(loop)
    assert [[s.array for s in p.stores] for p in pieces] == [["y0", "y1", "y2"], ["y3", "y4", "y5"]]
    assert [ld.array for ld in pieces[1].loads] == ["x", "mu", "sd"]  # (the second recomputes the chain)
    program = Program("many_stores", tuple(inputs), tuple(t.name for t in temps), temporaries=tuple(temps),
                      steps=(loop,))
    fn = cpu.compile_program(program)
    assert fn.source.count("for _i0 in range(lib.runtime_extent(32)):") == 2
    x = RNG.standard_normal(SHAPE).astype(np.float32) * 0.1
    mu = RNG.standard_normal(SHAPE[:-1] + (1,)).astype(np.float32) * 0.1
    sd = RNG.uniform(0.5, 1.5, SHAPE[:-1] + (1,)).astype(np.float32)
    for got, want in zip(fn(x, mu, sd), _reference(x, mu, sd), strict=True):
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)


def test_short_in_place_or_reducing_loops_are_not_cut():
    loop, _, _ = _many_stores(in_place=True)
    assert loop_split.pieces(loop) == [loop]  # a later piece would read what an earlier one wrote
    short = Loop((8, 16), loop.loads, loop.stmts, tuple(Store(f"y{k}", f"t{k}") for k in range(6)))
    assert loop_split.pieces(short) == [short]
    carried = Loop(SHAPE, loop.loads, (Stmt("c", "c + a"),) + loop.stmts,
                   tuple(Store(f"y{k}", f"t{k}") for k in range(6)))
    assert loop_split.pieces(carried) == [carried]


def test_exp_is_inlined_into_a_program_that_calls_it_twice():
    """LLVM's inliner left vm.exp_f32 (or its core) a scalar call in a function with two call sites:
    the second of two softmax loops ran 5x slower. Inlined in Numba's IR, no call is left."""
    import numba
    shape = (8, 4, 16, 16)
    loops = tuple(Loop(shape, (Load("a", "x"), Load("k", "mask"), Load("m", "mx")),
                       (Stmt("w", f"(a * np.float32({scale}) if k else np.float32(-1e9))"),
                        Stmt("e", "vm.exp_f32(w - m)")),
                       (Store(out, "e"),)) for scale, out in ((0.25, "y"), (0.5, "z")))
    program = Program("two_softmax_rows", (Array("x", shape, "float32"), Array("mask", shape[2:], "bool"),
                                           Array("mx", shape[:3] + (1,), "float32")), ("y", "z"),
                      temporaries=(Array("y", shape, "float32"), Array("z", shape, "float32")), steps=loops)
    compiled = cpu.compile_program(program)
    x = RNG.standard_normal(shape).astype(np.float32)
    mask = np.tril(np.ones(shape[2:], bool))
    mx = np.ones(shape[:3] + (1,), np.float32)
    y, z = compiled(x, mask, mx)
    np.testing.assert_allclose(y, np.where(mask, np.exp(x * 0.25 - 1.0), 0.0), rtol=2e-6)
    np.testing.assert_allclose(z, np.where(mask, np.exp(x * 0.5 - 1.0), 0.0), rtol=2e-6)
    options = {k: v for k, v in compiled.fn.targetoptions.items() if k not in ("nopython", "cache")}
    fresh = numba.njit(**options)(compiled.fn.py_func)  # (one loaded from the disk cache keeps no IR)
    fresh(x, mask, mx)
    ir = "\n".join(fresh.inspect_llvm().values())
    calls = [line for line in ir.splitlines() if "call " in line and "vmath" in line]  # (mangled names)
    assert not calls, calls[:3]


def _attention(q, k, v):
    att = q @ k.transpose(-1, -2) * 0.25
    att = jg.exp(att - att.amax(-1, keepdim=True))
    att = att / att.sum(-1, keepdim=True)
    return ((att @ v).permute(0, 2, 1, 3) ** 2).sum()


@pytest.fixture
def always_split(monkeypatch):
    """Every program of two or more steps runs as kernels and a driver (as TRF's do)."""
    monkeypatch.setattr(cpu, "MAX_SINGLE_LINES", 0)


def test_batched_products_run_as_small_products_over_views_and_match_eager(always_split):
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal((2, 3, 5, 4)).astype(np.float32) for _ in range(3)]
    compiled = jg.jit_grad(_attention)
    fwd, bwd = compiled.grad_executables(*(jg.tensor(a, requires_grad=True) for a in arrays))
    ts = [jg.tensor(a, requires_grad=True) for a in arrays]
    loss = compiled(*ts)
    loss.backward()
    es = [jg.tensor(a, requires_grad=True) for a in arrays]
    expected = _attention(*es)
    expected.backward()
    np.testing.assert_allclose(loss.item(), expected.item(), rtol=1e-5)
    for t, e in zip(ts, es, strict=True):
        np.testing.assert_allclose(t.grad.numpy(), e.grad.numpy(), rtol=1e-4, atol=1e-5)
    drivers = [c.driver_source for exe in (fwd, bwd) for c in exe.compiled if isinstance(c, cpu.KernelSequence)]
    assert len(drivers) == 2
    text = "\n".join(drivers)
    assert text.count("small_product(") >= 3 and "np.matmul(" not in text and "batched_matmul" not in text
    # k.transpose(-1, -2) read as a strided view by the product, not copied
    assert any(line.strip().split(" = ")[1].startswith("np.transpose(") for line in text.splitlines()
               if " = np.transpose(" in line)


def _qkv_attention(x, w):
    """TRF's attention on a (2, 5, 8) batch: q, k and v sliced from one permuted projection."""
    qkv = (x @ w).reshape(2, 5, 3, 2, 4).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    att = jg.exp((q @ k.transpose(-1, -2)) * 0.5 - 1.0)
    o = (att @ v).permute(0, 2, 1, 3).reshape(2, 5, 8)
    return (o * o).sum()


def _qkv_inputs():
    rng = np.random.default_rng(2)
    return rng.standard_normal((2, 5, 8)).astype(np.float32), rng.standard_normal((8, 24)).astype(np.float32) * 0.3


def test_views_and_products_into_their_permute_match_eager(always_split):
    """Forward only (q, k, v are no residuals): q, k, v stay views of the projection, and att @ v is
    written straight into the permuted buffer the output projection reads."""
    x, w = _qkv_inputs()
    compiled = jg.jit(_qkv_attention)
    got = compiled(jg.tensor(x), jg.tensor(w))
    np.testing.assert_allclose(got.item(), _qkv_attention(jg.tensor(x), jg.tensor(w)).item(), rtol=1e-5)
    (seq,) = [c for c in compiled.executable(jg.tensor(x), jg.tensor(w)).compiled if isinstance(c, cpu.KernelSequence)]
    lines = seq.driver_source.splitlines()
    assert any("= np.reshape(" in line and "[0:1," in line for line in lines)  # q: a view, not a copy
    in_place = {line.split(" = ")[0].strip() for line in lines if "# written in place" in line}
    assert any(line.strip().startswith("small_product(") and line.strip()[:-1].split(", ")[-1] in in_place
               for line in lines)


def test_a_stack_written_into_its_permute_matches_eager_gradients(always_split):
    """The backward stacks the gradients of q, k and v and permutes them back: one NumPy copy of each
    into its place in the permuted result."""
    x, w = _qkv_inputs()
    compiled = jg.jit_grad(_qkv_attention)
    xt, wt = jg.tensor(x, requires_grad=True), jg.tensor(w, requires_grad=True)
    compiled(xt, wt).backward()
    xe, we = jg.tensor(x, requires_grad=True), jg.tensor(w, requires_grad=True)
    _qkv_attention(xe, we).backward()
    np.testing.assert_allclose(xt.grad.numpy(), xe.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(wt.grad.numpy(), we.grad.numpy(), rtol=1e-4, atol=1e-5)
    _, bwd = compiled.grad_executables(jg.tensor(x, requires_grad=True), jg.tensor(w, requires_grad=True))
    (seq,) = [c for c in bwd.compiled if isinstance(c, cpu.KernelSequence)]
    lines = seq.driver_source.splitlines()
    cat = [line for line in lines if "# written in place" in line]
    assert cat and "np.transpose(" in cat[0]
    # the three gradients are products read by the stack only: each is written into its place
    assert sum("small_product(" in line and ", np.reshape(" in line for line in lines) == 3
    assert not any(line.strip().startswith(("a", "o")) and "] = " in line for line in lines)


def _stacked(a, b):
    """A stack of two products read by the stack alone, one read by the loss too, and an argument."""
    shared = b @ a
    s = jg.stack([a @ b, a, shared, a @ a], 1)
    return (s * s * jg.arange(4.0).reshape(1, 4, 1, 1, 1)).sum() + shared.sum()


def test_products_read_by_a_stack_alone_are_written_into_it_and_match_eager(always_split):
    """Products whose only reader is a stack are computed straight into their slice of
    the stack's buffer; the argument, and a product something else reads too, are copied there."""
    rng = np.random.default_rng(3)
    a, b = (rng.standard_normal((2, 3, 4, 4)).astype(np.float32) for _ in range(2))
    compiled = jg.jit_grad(_stacked)
    at, bt = jg.tensor(a, requires_grad=True), jg.tensor(b, requires_grad=True)
    loss = compiled(at, bt)
    loss.backward()
    ae, be = jg.tensor(a, requires_grad=True), jg.tensor(b, requires_grad=True)
    expected = _stacked(ae, be)
    expected.backward()
    np.testing.assert_allclose(loss.item(), expected.item(), rtol=1e-5)
    np.testing.assert_allclose(at.grad.numpy(), ae.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bt.grad.numpy(), be.grad.numpy(), rtol=1e-4, atol=1e-5)
    forward = jg.jit(_stacked)  # (under jit_grad the products are residuals, outputs of the forward)
    np.testing.assert_allclose(forward(jg.tensor(a), jg.tensor(b)).item(), expected.item(), rtol=1e-5)
    (seq,) = [c for c in forward.executable(jg.tensor(a), jg.tensor(b)).compiled if isinstance(c, cpu.KernelSequence)]
    lines = [line.strip() for line in seq.driver_source.splitlines()]
    into = [line for line in lines if line.startswith("small_product(") and ", np.reshape(" in line]
    copies = [line for line in lines if "] = " in line and "small_product" not in line]
    assert len(into) == 2 and len(copies) == 2, seq.driver_source
    assert lines.index(into[0]) < min(lines.index(c) for c in copies)  # (the first product allocates the stack)


def test_float32_row_sums_no_longer_than_a_block_accumulate_in_float32():
    """A softmax's row sums (rows of 16) accumulate in float32, one block of the blocked sums (a float64
    accumulator halved the row loop's vector width); whole-loop sums keep their float64 accumulator."""
    from jitgrad._kernels.spec import Reduce
    x = RNG.standard_normal((8, 4, 16)).astype(np.float32)
    mx = x.max(-1, keepdims=True)
    rows = Loop(x.shape, (Load("p", "x"), Load("q", "mx")), (Stmt("t", "vm.exp_f32(p - q)"),),
                stores=(Store("e", "t"),), reduces=(Reduce("s", "sum", "t", (2,)),))
    whole = Loop(x.shape, (Load("p", "x"), Load("q", "mx")), (Stmt("u", "p - q"),),
                 reduces=(Reduce("total", "sum", "u", (0, 1, 2)),))
    temps = (Array("e", x.shape, "float32"), Array("s", x.shape[:2], "float32"), Array("total", (), "float32"))
    program = Program("row_sums", (Array("x", x.shape, "float32"), Array("mx", mx.shape, "float32")),
                      ("e", "s", "total"), temporaries=temps, steps=(rows, whole))
    fn = cpu.compile_program(program)
    assert "_acc_s = np.float32(0)" in fn.source and "_acc_total = np.float64(0)" in fn.source
    e, s, total = fn(x, mx)
    np.testing.assert_allclose(s, np.exp(x.astype(np.float64) - mx).sum(-1), rtol=2e-6)
    np.testing.assert_allclose(total, (x.astype(np.float64) - mx).sum(), rtol=1e-5)


def test_exp_below_its_underflow_bound_is_zero_and_above_it_as_numpy():
    import numba

    from jitgrad._kernels import vmath

    @numba.njit
    def exps(x):
        out = np.empty_like(x)
        for i in range(x.size):
            out[i] = vmath.exp_f32(x[i])
        return out

    x = np.array([-1e9, -200, -104.5, -104.0, -103.9, -103.3, -100, -87.4, 0, 88, 89, 100, np.inf, -np.inf, np.nan],
                 np.float32)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(exps(x), np.exp(x))


def test_an_embedding_lookup_and_its_gradient_copy_whole_rows_and_match_eager():
    """table[idx] (one index array on dim 0) and its adjoint run row by row (take_rows, scatter_rows):
    repeated indices accumulate, a negative one wraps, one out of range raises IndexError."""
    rng = np.random.default_rng(4)
    table = rng.standard_normal((7, 3, 2)).astype(np.float32)
    idx = np.array([[0, 6, 6], [-1, 2, 0]])
    weights = rng.standard_normal((2, 3, 3, 2)).astype(np.float32)

    def loss(t, i):
        return (t[i] * jg.tensor(weights)).sum()

    compiled = jg.jit_grad(loss)
    tt = jg.tensor(table, requires_grad=True)
    got = compiled(tt, jg.tensor(idx))
    got.backward()
    te = jg.tensor(table, requires_grad=True)
    expected = loss(te, jg.tensor(idx))
    expected.backward()
    np.testing.assert_allclose(got.item(), expected.item(), rtol=1e-6)
    np.testing.assert_allclose(tt.grad.numpy(), te.grad.numpy(), rtol=1e-6, atol=1e-6)
    fwd, bwd = compiled.grad_executables(jg.tensor(table, requires_grad=True), jg.tensor(idx))
    assert "_r[_o, _c] = " in fwd.source()
    assert "_r[_j, _c] += " in bwd.source()
    with pytest.raises(IndexError, match="index 7 is out of bounds for dimension 0 with size 7"):
        jg.jit(lambda t, i: t[i].sum())(jg.tensor(table), jg.tensor(np.array([1, 7])))


def test_column_sums_of_at_most_a_block_accumulate_in_float32_longer_ones_in_float64():
    """A bias gradient (sum over the batch rows) accumulates each column in float32 when it has at most
    SUM_BLOCK terms, as a row sum does; a longer column keeps the float64 accumulators."""
    from jitgrad._kernels.reductions import SUM_BLOCK
    from jitgrad._kernels.spec import Reduce
    for rows, acc in ((512, "float32"), (SUM_BLOCK + 1, "float64")):
        x = RNG.standard_normal((rows, 3)).astype(np.float32)
        loop = Loop(x.shape, (Load("p", "x"),), (Stmt("t", "p * p"),), stores=(Store("sq", "t"),),
                    reduces=(Reduce("s", "sum", "t", (0,)),))
        program = Program(f"columns_{rows}", (Array("x", x.shape, "float32"),), ("sq", "s"),
                          temporaries=(Array("sq", x.shape, "float32"), Array("s", (3,), "float32")), steps=(loop,))
        fn = cpu.compile_program(program)
        assert f"_acc_s = lib.empty((3,), np.{acc})" in fn.source
        np.testing.assert_allclose(fn(x)[1], (x.astype(np.float64) ** 2).sum(0), rtol=1e-5)


def test_a_driver_allocates_with_numpy_not_through_numba(always_split):
    """A plain-Python driver's buffers come from np.empty: a Numba function called from Python with a
    dtype argument types it on every call (microseconds each: 467 allocations made a GRU step 2.2x
    slower)."""
    x, w = _qkv_inputs()
    compiled = jg.jit_grad(_qkv_attention)
    fwd, bwd = compiled.grad_executables(jg.tensor(x, requires_grad=True), jg.tensor(w, requires_grad=True))
    drivers = [c.driver_source for exe in (fwd, bwd) for c in exe.compiled if isinstance(c, cpu.KernelSequence)]
    text = "\n".join(drivers)
    assert drivers and "= np.empty(" in text
    assert "lib.empty(" not in text and "lib.ones(" not in text and "lib.flat(" not in text
