"""The kernels back end on hand-built programs: generated loops agree with NumPy."""
import numpy as np
import pytest

from jitgrad._kernels import cpu
from jitgrad._kernels.spec import Array, Call, Load, Loop, Program, Reduce, Stmt, Store

RNG = np.random.default_rng(0)


def _compile(name, inputs, outputs, temps, steps, threshold=cpu.PARALLEL_THRESHOLD):
    prog = Program(name, tuple(inputs), tuple(outputs), temporaries=tuple(temps), steps=tuple(steps))
    return cpu.compile_program(prog, threshold=threshold)


def test_flat_loop_with_broadcast_free_inputs_and_full_reduction():
    x = RNG.standard_normal(1000).astype(np.float32)
    y = RNG.standard_normal(1000).astype(np.float32)
    loop = Loop((1000,), (Load("a", "x"), Load("b", "y")),
                (Stmt("t", "a * b + a", "mul/add"),),
                stores=(Store("out", "t"),), reduces=(Reduce("total", "sum", "t", (0,)),))
    fn = _compile("flat", [Array("x", (1000,), "float32"), Array("y", (1000,), "float32")], ["out", "total"],
                  [Array("out", (1000,), "float32"), Array("total", (), "float32")], [loop])
    out, total = fn(x, y)
    np.testing.assert_allclose(out, x * y + x, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(total, np.sum((x * y + x).astype(np.float64)), rtol=1e-5)
    assert "# mul/add" in fn.source


def test_nested_loop_broadcasts_and_reduces_some_dims():
    x = RNG.standard_normal((3, 4, 5))
    b = RNG.standard_normal((4, 1))
    loop = Loop((3, 4, 5), (Load("p", "x"), Load("q", "b")), (Stmt("t", "p * q"),),
                stores=(Store("prod", "t"),),
                reduces=(Reduce("s", "sum", "t", (0, 2)), Reduce("m", "max", "t", (0, 2))))
    fn = _compile("nested", [Array("x", (3, 4, 5), "float64"), Array("b", (4, 1), "float64")],
                  ["prod", "s", "m"],
                  [Array("prod", (3, 4, 5), "float64"), Array("s", (4,), "float64"), Array("m", (1, 4, 1), "float64")],
                  [loop])
    prod, s, m = fn(x, b)
    np.testing.assert_allclose(prod, x * b)
    np.testing.assert_allclose(s, (x * b).sum(axis=(0, 2)))
    np.testing.assert_allclose(m, (x * b).max(axis=(0, 2), keepdims=True))


@pytest.mark.parametrize("op, ref", [("max", np.max), ("min", np.min)])
def test_extreme_reductions_propagate_nan_like_numpy(op, ref):
    x = np.array([1.0, np.nan, 3.0, -2.0])
    loop = Loop((4,), (Load("a", "x"),), (), reduces=(Reduce("r", op, "a", (0,)),))
    fn = _compile(f"nan_{op}", [Array("x", (4,), "float64")], ["r"], [Array("r", (), "float64")], [loop])
    assert np.isnan(fn(x)[0]) and np.isnan(ref(x))
    y = np.array([1.0, 5.0, -3.0])
    loop = Loop((3,), (Load("a", "x"),), (), reduces=(Reduce("r", op, "a", (0,)),))
    fn = _compile(f"plain_{op}", [Array("x", (3,), "float64")], ["r"], [Array("r", (), "float64")], [loop])
    assert fn(y)[0] == ref(y)


def test_parallel_chunked_reduction_matches_serial():
    n = 300_000
    x = RNG.standard_normal(n).astype(np.float32)
    loop = Loop((n,), (Load("a", "x"),), (Stmt("t", "a * a"),), reduces=(Reduce("s", "sum", "t", (0,), scale=1 / n),))
    fn = _compile("par_mean", [Array("x", (n,), "float32")], ["s"], [Array("s", (), "float32")], [loop], threshold=1)
    assert "prange" in fn.source
    np.testing.assert_allclose(fn(x)[0], np.mean(x.astype(np.float64) ** 2), rtol=1e-6)


def test_matmul_library_call_then_fused_epilogue():
    a = RNG.standard_normal((4, 3))
    w = RNG.standard_normal((3, 2))
    bias = RNG.standard_normal(2)
    steps = [Call("matmul", ("a", "w"), "h", origin="matmul"),
             Loop((4, 2), (Load("p", "h"), Load("q", "bias")),
                  (Stmt("z", "p + q"), Stmt("r", "z if z > 0.0 else 0.0")), stores=(Store("out", "r"),))]
    fn = _compile("mm_relu", [Array("a", (4, 3), "float64"), Array("w", (3, 2), "float64"),
                              Array("bias", (2,), "float64")], ["out"],
                  [Array("h", (4, 2), "float64"), Array("out", (4, 2), "float64")], steps)
    np.testing.assert_allclose(fn(a, w, bias)[0], np.maximum(a @ w + bias, 0))


def test_same_source_is_loaded_once_per_process():
    from jitgrad._kernels import cache
    text = "def f():\n    return 1\n"
    assert cache.load_module(text) is cache.load_module(text)


def test_reduction_over_leading_dims_runs_in_memory_order():
    x = RNG.standard_normal((6, 5)).astype(np.float32)
    loop = Loop((6, 5), (Load("p", "x"),), (Stmt("t", "p * p"),), stores=(Store("sq", "t"),),
                reduces=(Reduce("s", "sum", "t", (0,)), Reduce("m", "max", "p", (0,), origin="max")))
    fn = _compile("leading", [Array("x", (6, 5), "float32")], ["sq", "s", "m"],
                  [Array("sq", (6, 5), "float32"), Array("s", (1, 5), "float32"), Array("m", (5,), "float32")],
                  [loop])
    sq, s, m = fn(x)
    # an array of accumulators (float32: 6 terms each, at most a block of the blocked sums)
    assert "_acc_s = lib.empty((5,), np.float32)" in fn.source
    np.testing.assert_allclose(sq, x * x, rtol=1e-6)
    np.testing.assert_allclose(s, (x * x).sum(0, keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(m, x.max(0))


def test_parallel_chunks_are_claimed_from_a_shared_counter():
    """Parallel loops hand out chunks through lib.claim_chunk (one task per thread, each taking
    the next chunk when done), so a thread slowed by another process takes fewer chunks; the
    result is the same, bit for bit, whatever the thread count."""
    import numba

    n = 300_000
    x = RNG.standard_normal(n).astype(np.float32)
    loop = Loop((n,), (Load("a", "x"),), (Stmt("t", "a * a + 1"),), stores=(Store("y", "t"),),
                reduces=(Reduce("s", "sum", "t", (0,)),))
    fn = _compile("par_claim", [Array("x", (n,), "float32")], ["y", "s"],
                  [Array("y", (n,), "float32"), Array("s", (), "float32")], [loop], threshold=1)
    assert "lib.claim_chunk(_next)" in fn.source
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        y1, s1 = (np.array(v) for v in fn(x))
        numba.set_num_threads(threads)
        y2, s2 = fn(x)
    finally:
        numba.set_num_threads(threads)
    np.testing.assert_array_equal(y1, x * x + 1)
    np.testing.assert_array_equal(y2, y1)
    assert s2 == s1


def _on_one_and_all_threads(fn, *args):
    """fn(*args) on one thread and on all of them (copies of the first results)."""
    import numba

    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        first = [np.array(v) for v in fn(*args)]
    finally:
        numba.set_num_threads(threads)
    return first, fn(*args)


def _only_claimed_pranges(text):
    """Every parallel loop of a generated text runs claimed chunks (no static prange over the data)."""
    import re

    found = re.findall(r"numba\.prange\(([^)]*)\)", text)
    return bool(found) and set(found) == {"_nchunks"} and text.count("lib.claim_chunk(_next)") == 2 * len(found)


def test_nested_parallel_loops_claim_chunks_of_their_outer_dim():
    """A broadcasting loop with a row sum and a sin (a large argument makes the exact version run
    again) runs its outer dim in claimed chunks; results match NumPy and do not depend on the
    thread count."""
    rows, cols = 1000, 40  # (9 chunks)
    x = RNG.standard_normal((rows, cols)).astype(np.float32)
    b = RNG.standard_normal(cols).astype(np.float32)
    x[rows - 1, 3] = 1e6  # (in the last chunk: the fast version's flag must reach the rerun)
    loop = Loop((rows, cols), (Load("p", "x"), Load("q", "b")), (Stmt("t", "vm.sin_f32(p) * q"),),
                stores=(Store("y", "t"),), reduces=(Reduce("s", "sum", "t", (1,)),))
    fn = _compile("par_nested_claim", [Array("x", (rows, cols), "float32"), Array("b", (cols,), "float32")],
                  ["y", "s"], [Array("y", (rows, cols), "float32"), Array("s", (rows,), "float32")], [loop],
                  threshold=1)
    assert _only_claimed_pranges(fn.source) and "_nchunks = 9" in fn.source
    (y1, s1), (y2, s2) = _on_one_and_all_threads(fn, x, b)
    want = np.sin(x.astype(np.float64)) * b
    np.testing.assert_allclose(y2, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s2, want.sum(1), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(y2, y1)
    np.testing.assert_array_equal(s2, s1)


def test_parallel_row_loops_claim_chunks_of_rows():
    """A loop writing into a window of a cat's output runs row by row in claimed chunks; the
    large-argument flag of its sin is kept per chunk and still triggers the exact rerun."""
    rows, cols = 1031, 24  # (6 chunks)
    x = RNG.standard_normal((rows, cols)).astype(np.float32)
    x[rows - 1, 5] = 1e6
    window = Array("y", (rows, cols), "float32", ("P", f":, {cols}:", False, (rows, 2 * cols, cols, cols)))
    loop = Loop((rows, cols), (Load("p", "x"),), (Stmt("t", "vm.sin_f32(p) + p"),), stores=(Store("y", "t"),))
    fn = _compile("par_rows_claim", [Array("x", (rows, cols), "float32")], ["P"],
                  [Array("P", (rows, 2 * cols), "float32"), window], [loop], threshold=1)
    assert "_rows0" in fn.source and _only_claimed_pranges(fn.source) and "_nchunks = 6" in fn.source
    (p1,), (p2,) = _on_one_and_all_threads(fn, x)
    np.testing.assert_allclose(p2[:, cols:], np.sin(x.astype(np.float64)) + x, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(p2[:, cols:], p1[:, cols:])


def test_chunk_count_is_fixed_by_the_loop_not_the_threads():
    from jitgrad._kernels import source

    assert source.chunk_count(4_000_000, 4_000_000) == source.MAX_CHUNKS
    assert source.chunk_count(8191, 8191) == 1
    assert source.chunk_count(5, 10_000_000) == 5  # (at most one chunk per outer iteration)
    assert source.chunk_count(1000, 131_072) == 131_072 // source.CHUNK_MIN


def test_claim_chunk_hands_out_each_number_once():
    """claim_chunk is an atomic fetch-and-increment: threads racing for 10,000 numbers get each
    exactly once."""
    import numba

    from jitgrad._kernels import library as lib

    @numba.njit(parallel=True)
    def claim_all(total, taken):
        counter = np.zeros(1, np.int64)
        for _t in numba.prange(16):
            c = lib.claim_chunk(counter)
            while c < total:
                taken[c] += 1
                c = lib.claim_chunk(counter)

    taken = np.zeros(10_000, np.int64)
    claim_all(10_000, taken)
    assert np.all(taken == 1)


def test_kernels_compile_no_wrapper_nothing_calls():
    # The program function is called from Python only (no C wrapper); its serial helpers are
    # called from the program only (neither wrapper): a wrapper is compiled per function and
    # costs ~17 ms of compile per array argument.
    n = 300_000
    x = RNG.standard_normal(n).astype(np.float32)
    loop = Loop((n,), (Load("a", "x"),), (Stmt("t", "a + a"),), stores=(Store("out", "t"),))
    fn = _compile("par_twice", [Array("x", (n,), "float32")], ["out"], [Array("out", (n,), "float32")], [loop],
                  threshold=1)
    np.testing.assert_array_equal(fn(x)[0], x + x)
    assert fn.fn.targetoptions.get("no_cfunc_wrapper") is True
    helpers = [v for k, v in vars(__import__(fn.fn.py_func.__module__)).items() if k.startswith("_chunk")]
    assert helpers and all(h.targetoptions.get("no_cpython_wrapper") and h.targetoptions.get("no_cfunc_wrapper")
                           for h in helpers)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_batched_matmul_writes_each_product_into_its_output_slice(dtype):
    """A true batch runs one BLAS call per element writing straight into the output's slice
    (lib.matmul2d_into): no temporary product copied element by element, and a broadcast batch
    of b read through its index table."""
    a = RNG.standard_normal((3, 2, 4, 5)).astype(dtype)
    b = RNG.standard_normal((2, 5, 3)).astype(dtype)
    of_b = (0, 1, 0, 1, 0, 1)
    step = Call("batched_matmul", ("a", "b"), "out", ((6, 4, 5), (2, 5, 3), (6, 4, 3), None, of_b), "matmul")
    fn = _compile("bmm_into", [Array("a", (3, 2, 4, 5), dtype), Array("b", (2, 5, 3), dtype)], ["out"],
                  [Array("out", (3, 2, 4, 3), dtype)], [step])
    assert "lib.matmul2d_into(" in fn.source and "copy_into" not in fn.source
    np.testing.assert_allclose(fn(a, b)[0], a @ b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(), (5,), (3, 4), (2, 1, 3, 2, 2), (0, 3), (3, 0)])
def test_row_copies_fills_and_accumulations_cover_every_rank(shape):
    """lib.copy_into / add_into / fill_zero (row loops rendered per rank) on whole arrays."""
    from jitgrad._kernels import library as lib
    a, b = RNG.standard_normal(shape).astype(np.float32), RNG.standard_normal(shape).astype(np.float32)
    d = a.copy()
    lib.add_into(d, b)
    np.testing.assert_array_equal(d, a + b)
    lib.copy_into(d, b)
    np.testing.assert_array_equal(d, b)
    lib.fill_zero(d)
    assert not d.any()


def test_row_loops_write_through_strided_slices_and_read_transposes():
    import numba

    from jitgrad._kernels import library as lib

    @numba.njit
    def into_slices(a, b, c):
        lib.add_into(a[2:3, :, 1:], b)
        lib.copy_into(a[0, :, 1:], b[0])
        lib.fill_zero(a[1, ::2])
        lib.copy_into(a[1, 1::2, :3], c.T)

    a, b, c = RNG.standard_normal((3, 4, 5)), RNG.standard_normal((1, 4, 4)), RNG.standard_normal((3, 2))
    want = a.copy()
    want[2:3, :, 1:] += b
    want[0, :, 1:] = b[0]
    want[1, ::2] = 0
    want[1, 1::2, :3] = c.T
    into_slices(a, b, c)
    np.testing.assert_array_equal(a, want)


def _helper_ir(fn, name, **arrays):
    """The LLVM IR of a generated program's serial helper `name`, compiled afresh (one loaded from
    the disk cache keeps no IR) for a call over `arrays` (its parameters after ``_n``, by name)."""
    import inspect

    import numba

    helper = vars(__import__(fn.fn.py_func.__module__))[name]
    options = {k: v for k, v in helper.targetoptions.items() if k not in ("no_cpython_wrapper", "nopython")}
    fresh = numba.njit(**options)(helper.py_func)
    params = list(inspect.signature(helper.py_func).parameters)[1:]
    fresh(8, *[arrays[p][:8] for p in params])
    return "\n".join(fresh.inspect_llvm().values())


def _trig_sum_loop(n):
    """A W4-like flat float32 loop (sin and cos of one input, a stored gradient, a mean) and its arrays."""
    loop = Loop((n,), (Load("a", "x"),),
                (Stmt("s", "vm.sin_f32(a)"), Stmt("c", "vm.cos_f32(a)"), Stmt("t", "s * c + a")),
                stores=(Store("g", "c * np.float32(2.0)"),), reduces=(Reduce("m", "sum", "t", (0,), scale=1 / n),))
    return loop, [Array("x", (n,), "float32")], [Array("g", (n,), "float32"), Array("m", (), "float32")]


def _trig_sum_program(n, name):
    loop, inputs, temps = _trig_sum_loop(n)
    return _compile(name, inputs, ["g", "m"], temps, [loop], threshold=1)


@pytest.mark.skipif(not __import__("jitgrad._kernels.vector_width", fromlist=["x"]).FULL_WIDTH,
                    reason="needs an AVX-512 host (Numba's loops at 16 float32 lanes)")
def test_parallel_float32_sum_keeps_the_loop_at_full_vector_width():
    """A float32 loop with a sum and sin/cos range flags vectorises at 16 lanes: the chunk's sum
    accumulates in float32 blocks (a float64 accumulator made LLVM pick 8 lanes for the whole
    loop) and the flags are max-combined as int32 (int32 + int32 is int64 in Numba)."""
    n = 300_000
    x = RNG.uniform(-10, 10, n).astype(np.float32)
    fn = _trig_sum_program(n, "par_width")
    g, m = fn(x)
    np.testing.assert_allclose(g, 2 * np.cos(x.astype(np.float64)), rtol=1e-6, atol=1e-6)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(m, np.mean(np.sin(x64) * np.cos(x64) + x64), rtol=1e-5, atol=1e-7)
    ir = _helper_ir(fn, "_chunk0", x=x, g=g)
    assert "<16 x float>" in ir
    assert "x double>" not in ir and "x i64>" not in ir


def test_blocked_float32_sum_is_as_accurate_as_float64_accumulation():
    """Each parallel chunk sums 4096-element blocks in float32 and adds the block totals in
    float64: a sum of a million values of mixed sign and magnitude stays within a few float32
    roundings of the exact sum, and the result is the same whatever the thread count."""
    import math

    import numba

    n = 1_000_000
    x = (RNG.standard_normal(n) * np.exp(RNG.uniform(-8, 8, n))).astype(np.float32) + np.float32(1.0)
    loop = Loop((n,), (Load("a", "x"),), (), reduces=(Reduce("s", "sum", "a", (0,)),))
    fn = _compile("par_blocked_sum", [Array("x", (n,), "float32")], ["s"], [Array("s", (), "float32")], [loop],
                  threshold=1)
    assert "_tot_" in fn.source
    exact = math.fsum(x.astype(np.float64))
    scale = float(np.abs(x.astype(np.float64)).sum())
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        s1 = float(fn(x)[0])
    finally:
        numba.set_num_threads(threads)
    s2 = float(fn(x)[0])
    assert s1 == s2
    assert abs(s1 - exact) <= 4 * np.finfo(np.float32).eps * max(abs(exact), 1e-3 * scale)


@pytest.mark.skipif(not __import__("jitgrad._kernels.vector_width", fromlist=["x"]).FULL_WIDTH,
                    reason="needs an AVX-512 host (Numba's loops at 16 float32 lanes)")
def test_serial_float32_sum_of_a_long_loop_runs_blocked_at_full_width():
    """Below the parallel threshold a long float32 loop with a sum runs through the same blocked
    helpers (16 lanes); two such loops in one program each keep their own result name."""
    n = 50_000
    x = RNG.uniform(-10, 10, n).astype(np.float32)
    loop, inputs, temps = _trig_sum_loop(n)
    second = Loop((n,), (Load("a", "x"),), (Stmt("q", "a * a"),), reduces=(Reduce("m2", "sum", "q", (0,)),))
    fn = _compile("serial_width", inputs, ["g", "m", "m2"], [*temps, Array("m2", (), "float32")],
                  [loop, second], threshold=cpu.PARALLEL_THRESHOLD)
    assert "prange" not in fn.source and "_tot_" in fn.source
    g, m, m2 = fn(x)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(g, 2 * np.cos(x64), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(m, np.mean(np.sin(x64) * np.cos(x64) + x64), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(m2, np.sum(x64 * x64), rtol=1e-6)
    ir = _helper_ir(fn, "_chunk0", x=x, g=g)
    assert "<16 x float>" in ir and "x double>" not in ir


@pytest.mark.parametrize("n, threshold", [(300_000, 1), (50_000, cpu.PARALLEL_THRESHOLD), (1000, 1)])
def test_one_large_trig_argument_reruns_the_loop_with_exact_reduction(n, threshold):
    """The fast sin/cos loop max-combines its per-call range flags (int32); one argument past
    2**17 among ordinary ones makes the loop run again with the full-range functions."""
    x = RNG.uniform(-10, 10, n).astype(np.float32)
    x[n // 3] = np.float32(3.0e7)
    loop, inputs, temps = _trig_sum_loop(n)
    fn = _compile(f"trig_rerun_{n}_{threshold}", inputs, ["g", "m"], temps, [loop], threshold=threshold)
    assert "max(vm.trig_large_f32(a), vm.trig_large_f32(a))" in fn.source
    g, m = fn(x)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(g, 2 * np.cos(x64), rtol=2e-6, atol=1e-6)
    np.testing.assert_allclose(m, np.mean(np.sin(x64) * np.cos(x64) + x64), rtol=1e-5, atol=1e-7)


def test_short_inner_loops_run_over_an_extent_llvm_cannot_unroll():
    # A softmax's exp over rows of 16 (the row max broadcast): a constant trip count of 16 is fully
    # unrolled by LLVM and the exp copies stay scalar, so the inner loop's extent is opaque.
    x = RNG.standard_normal((4, 3, 16)).astype(np.float32)
    mx = x.max(-1, keepdims=True)
    loop = Loop((4, 3, 16), (Load("p", "x"), Load("q", "mx")), (Stmt("t", "vm.exp_f32(p - q)"),),
                stores=(Store("e", "t"),), reduces=(Reduce("s", "sum", "t", (2,)),))
    short = Loop((4, 3, 4), (Load("p", "x4"), Load("q", "mx")), (Stmt("t", "p - q"),), stores=(Store("d", "t"),))
    fn = _compile("softmax_rows", [Array("x", (4, 3, 16), "float32"), Array("mx", (4, 3, 1), "float32"),
                                   Array("x4", (4, 3, 4), "float32")], ["e", "s", "d"],
                  [Array("e", (4, 3, 16), "float32"), Array("s", (4, 3), "float32"),
                   Array("d", (4, 3, 4), "float32")], [loop, short])
    x4 = x[..., :4].copy()
    e, s, d = fn(x, mx, x4)
    assert "for _i2 in range(lib.runtime_extent(16)):" in fn.source
    assert "for _i2 in range(4):" in fn.source  # (short rows stay unrolled: measured faster)
    # (enclosing loops are opaque too: unrolled around a vectorised row, they multiply its code)
    assert "for _i0 in range(lib.runtime_extent(4)):" in fn.source
    assert "for _i1 in range(lib.runtime_extent(3)):" in fn.source
    np.testing.assert_allclose(e, np.exp(x - mx), rtol=2e-6)
    np.testing.assert_allclose(s, np.exp(x - mx).sum(-1), rtol=1e-5)
    np.testing.assert_array_equal(d, x4 - mx)


@pytest.mark.parametrize("n", [1, 8, 16, 127, 128, 1000])
def test_runtime_extent_is_the_extent_compiled_and_in_python(n):
    import numba

    from jitgrad._kernels import library as lib

    @numba.njit
    def count(m):
        total = 0
        for _ in range(lib.runtime_extent(m)):
            total += 1
        return total
    assert count(n) == n == lib.runtime_extent(n)


def test_a_large_loop_renders_serial_when_numba_has_one_thread(monkeypatch):
    """A prange on one thread only costs (TRF's bias + ReLU: ~80 us parallel, 18 us serial): with
    NUMBA_NUM_THREADS=1 a loop past the parallel threshold renders serial, with more it stays parallel."""
    import numba
    n = cpu.PARALLEL_THRESHOLD
    loop = Loop((n,), (Load("a", "x"),), (Stmt("t", "a * a + a"),), stores=(Store("out", "t"),))
    prog = Program("one_thread", (Array("x", (n,), "float32"),), ("out",),
                   temporaries=(Array("out", (n,), "float32"),), steps=(loop,))
    monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", 2)
    assert cpu.parallel_threshold() == cpu.PARALLEL_THRESHOLD and "numba.prange(" in cpu.render(prog)
    monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", 1)
    text = cpu.render(prog)
    assert "numba.prange(" not in text and "parallel=False" in text
    fn = cpu.compile_program(prog)
    x = RNG.standard_normal(n).astype(np.float32)
    np.testing.assert_allclose(fn(x)[0], x * x + x, rtol=1e-6, atol=1e-6)
