"""Compiled mode computes what eager mode computes, or fails the same way (issue 19 items 4, 6,
8-11; issue 11 item 16): signature keys, aliasing, exact folding, threads, the cache directory,
validation in both modes, bounded caches."""
import os
import threading
import uuid
import warnings

import numpy as np
import pytest

import jitgrad as jg
from jitgrad import compiled


def _modes(fn):
    """fn eagerly (on tensors) and compiled (on NumPy arrays)."""
    return {"eager": lambda *a: fn(*[jg.tensor(x) if isinstance(x, np.ndarray) else x for x in a]),
            "jit": jg.jit(fn)}


def _np(x):
    return x.numpy() if isinstance(x, jg.Tensor) else np.asarray(x)


# --- item 4: static argument keys ------------------------------------------------------------


def test_static_keys_distinguish_signed_zero_int_float_and_bool():
    x = np.array([1.0, 2.0])
    f = jg.jit(lambda x, s: x * s)
    assert np.signbit(f(x, 0.0)).tolist() == [False, False]
    assert np.signbit(f(x, -0.0)).tolist() == [True, True]
    i = np.array([1, 2])
    g = jg.jit(lambda x, s: x * s)
    assert g(i, 2).dtype == np.int64
    assert g(i, 2.0).dtype == np.float32  # a Python float promotes an int tensor to the default dtype
    assert (jg.tensor(i) * 2.0).dtype == jg.float32
    b = np.array([True, False])
    h = jg.jit(lambda x, s: x + s)
    np.testing.assert_array_equal(h(b, True), (jg.tensor(b) + True).numpy())
    np.testing.assert_array_equal(h(b, 1), (jg.tensor(b) + 1).numpy())
    assert h(b, 1).dtype == np.int64


def test_nan_static_is_one_signature():
    f = jg.jit(lambda x, s: x + s)
    x = np.ones(2)
    for _ in range(3):
        assert np.isnan(f(x, float("nan"))).all()
    assert len(f._cache) == 1


# --- issue 11 item 16 -------------------------------------------------------------------------


@pytest.mark.parametrize("make", [jg.jit, jg.grad, jg.value_and_grad])
def test_same_array_and_python_number_twice(make):
    x = np.array([1.0, 2.0, 3.0])
    fn = (lambda x, s: x * s) if make is jg.jit else (lambda x, s: (x * s).sum())
    f = make(fn)
    first = f(x, 2.5)
    second = f(x, 2.5)
    for a, b in zip(np.atleast_1d(first) if make is not jg.value_and_grad else first,
                    np.atleast_1d(second) if make is not jg.value_and_grad else second):
        np.testing.assert_array_equal(a, b)


def test_advanced_index_feeds_a_fused_program():
    y = np.arange(12.).reshape(4, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "no fused kernel for 'getitem'"
        out = jg.jit(lambda y: y[:, [1, 2]] * 2)(y)
    np.testing.assert_array_equal(out, (jg.tensor(y)[:, [1, 2]] * 2).numpy())


def test_mean_over_no_elements_is_nan_compiled_too():
    x = np.zeros((0, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's "mean of empty slice"
        eager = jg.tensor(x).mean(0).numpy()
    out = jg.jit(lambda x: x.mean(0))(x)
    assert out.shape == eager.shape == (3,)
    assert np.isnan(out).all() and np.isnan(eager).all()


# --- item 6: aliasing, exact folding, clamp ---------------------------------------------------


@pytest.mark.parametrize("compiled_fn", [False, True])
def test_output_aliasing_an_input_shares_its_version_counter(compiled_fn):
    f = jg.jit_grad(lambda t: t) if compiled_fn else (lambda t: t)
    w = jg.tensor([1.0, 2.0], requires_grad=True)
    h = w * 2
    y = f(h)
    z = (h ** 2).sum()
    with jg.no_grad():
        y.mul_(3)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.backward()


def test_folding_keeps_signed_zeros():
    x = np.array([1.0, 1.0])
    c = jg.tensor([0.0, -0.0])
    out = jg.jit(lambda x: x * c)(x)
    assert np.signbit(out).tolist() == [False, True]
    assert np.signbit((jg.tensor(x) * c).numpy()).tolist() == [False, True]
    # x + 0.0 is not x for x = -0.0
    nz = np.array([-0.0])
    assert not np.signbit(jg.jit(lambda x: x + 0.0)(nz))[0]
    assert np.signbit(jg.jit(lambda x: x - 0.0)(nz))[0]


def test_sum_of_an_empty_broadcast_is_zero_not_x_times_zero():
    x = np.array([np.inf, 1.0, np.nan])
    fn = lambda x: x.expand(0, 3).sum(0)  # noqa: E731
    eager = fn(jg.tensor(x)).numpy()
    np.testing.assert_array_equal(eager, [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(jg.jit(fn)(x), eager)


def test_clamp_with_min_above_max_gives_max_like_pytorch():
    torch = pytest.importorskip("torch")
    x = np.array([0.0, 1.5, 3.0, np.nan])
    expected = torch.tensor(x).clamp(2.0, 1.0).numpy()
    np.testing.assert_array_equal(jg.tensor(x).clamp(2.0, 1.0).numpy(), expected)
    np.testing.assert_array_equal(jg.jit(lambda x: x.clamp(2.0, 1.0))(x), expected)


@pytest.mark.parametrize("dtype,bound", [(np.float32, 2.0), (np.float64, 4.0)])
def test_compiled_trig_is_accurate_for_large_arguments(dtype, bound):
    x = np.array([2767877888.0, -1e22, 3.0e38, 1.5, 2.0**40, -123456789.0], dtype)
    f = jg.jit(lambda x: (jg.sin(x), jg.cos(x), jg.tan(x)))
    ref = np.stack([np.sin(x.astype(np.longdouble)), np.cos(x.astype(np.longdouble)),
                    np.tan(x.astype(np.longdouble))])
    got = np.stack(f(x))
    ulps = np.abs(got.astype(np.longdouble) - ref) / np.spacing(np.abs(ref.astype(dtype))).astype(np.longdouble)
    assert ulps.max() <= bound, ulps
    assert got[0, 0] == np.float32(np.sin(2767877888.0)) if dtype == np.float32 else True
    eager = jg.stack([jg.sin(jg.tensor(x)), jg.cos(jg.tensor(x)), jg.tan(jg.tensor(x))]).numpy()
    np.testing.assert_allclose(got, eager, rtol=4 * np.finfo(dtype).eps, atol=0)


# --- item 8: threads, the interpreter's own errors, float16 -----------------------------------


def test_first_call_from_many_threads():
    k = float(uuid.uuid4().int % 1000) + 0.5  # a program text no earlier test compiled
    f = jg.jit(lambda x: jg.tanh(x) * k + 1)
    x = np.linspace(-1, 1, 7)
    barrier = threading.Barrier(6)
    results, errors = [], []

    def work():
        barrier.wait()
        try:
            results.append(f(x))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for r in results:
        np.testing.assert_allclose(r, np.tanh(x) * k + 1, rtol=1e-12)


def test_interpreter_error_is_the_programs_own():
    x, i = np.arange(3.0), np.array([5])
    with pytest.raises(IndexError):
        jg.tensor(x)[jg.tensor(i)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "no fused kernel for 'getitem'"
        with pytest.raises(IndexError):
            jg.jit(lambda x, i: x[i])(x, i)


def test_float16_arrays_compute_as_eager_mode_does():
    x = np.array([0.5, 1.0, 2.0], np.float16)
    eager = jg.sin(jg.tensor(x)) * 2
    out = jg.jit(lambda x: jg.sin(x) * 2)(x)
    assert out.dtype == eager.numpy().dtype == np.float16  # (kernels compute it in float32, then round)
    np.testing.assert_allclose(out, eager.numpy(), rtol=1e-3)


# --- item 9: an unusable cache directory --------------------------------------------------------


def test_unusable_cache_dir_compiles_in_memory_with_one_warning(tmp_path, monkeypatch):
    from jitgrad._kernels import cache
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("JITGRAD_CACHE_DIR", str(blocker / "cache"))  # (root ignores chmod)
    monkeypatch.setattr(cache, "_warned_no_disk", False)
    k1, k2 = (float(uuid.uuid4().int % 997) + 0.25 for _ in range(2))
    x = np.linspace(0, 1, 5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = jg.jit(lambda x: jg.exp(x) * k1)(x)
        b = jg.jit(lambda x: jg.exp(x) + k2)(x)
    np.testing.assert_allclose(a, np.exp(x) * k1, rtol=1e-12)
    np.testing.assert_allclose(b, np.exp(x) + k2, rtol=1e-12)
    mine = [w for w in caught if "JITGRAD_CACHE_DIR" in str(w.message)]
    assert len(mine) == 1, [str(w.message) for w in caught]


def test_corrupt_source_entry_in_a_writable_dir_is_rewritten(tmp_path, monkeypatch):
    from jitgrad._kernels import cache
    monkeypatch.setenv("JITGRAD_CACHE_DIR", str(tmp_path))
    text = f"Y = {uuid.uuid4().int % 10**9}\n"
    path = cache.cache_dir() / f"jitgrad_generated_{cache.source_key(text)}.py"
    path.write_bytes(b"\xff\xfe garbage")
    assert cache.load_module(text).Y == int(text.split("=")[1])


# --- item 10: the same validation in both modes -----------------------------------------------


BAD = [
    ("int ** -1", lambda x: x ** -1, np.array([1, 2]), RuntimeError, "Integers to negative integer powers"),
    ("bool - bool", lambda x: x - x, np.array([True, False]), RuntimeError, "two bool tensors"),
    ("-bool", lambda x: -x, np.array([True]), RuntimeError, "Negation, the `-` operator, on a bool"),
    ("narrow past the end", lambda x: x.narrow(0, 2, 5), np.arange(3.0), RuntimeError,
     r"start \(2\) \+ length \(5\) exceeds dimension size \(3\)"),
    ("flatten(2, 1)", lambda x: x.flatten(2, 1), np.zeros((2, 3, 4)), RuntimeError,
     "start_dim cannot come after end_dim"),
    ("amax over an empty dim", lambda x: x.amax(0), np.zeros((0, 3)), IndexError,
     r"amax\(\): Expected reduction dim 0 to have non-zero size"),
    ("max(dim) over an empty dim", lambda x: x.max(0)[0], np.zeros((0, 3)), IndexError,
     r"max\(\): Expected reduction dim 0 to have non-zero size"),
]


@pytest.mark.parametrize("mode", ["eager", "jit"])
@pytest.mark.parametrize("name,fn,x,error,message", BAD, ids=[b[0] for b in BAD])
def test_invalid_arguments_rejected_in_both_modes(mode, name, fn, x, error, message):
    with pytest.raises(error, match=message):
        _modes(fn)[mode](x)


@pytest.mark.parametrize("name,fn,x,error,message", BAD, ids=[b[0] for b in BAD])
def test_invalid_arguments_match_pytorch(name, fn, x, error, message):
    torch = pytest.importorskip("torch")
    with pytest.raises(error, match=message):
        fn(torch.tensor(x))


def test_data_dependent_index_errors_in_both_modes():
    x = np.array([1.0, 2.0, 3.0])
    with pytest.raises(IndexError, match=r"The shape of the mask \[2\] at index 0 does not match"):
        jg.tensor(x)[jg.tensor([True, False])]
    with pytest.raises(RuntimeError, match="index -1 is out of bounds for dimension 0 with size 3"):
        jg.tensor(x).gather(0, jg.tensor([-1]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # gather runs in the reference interpreter
        with pytest.raises(RuntimeError, match="index -1 is out of bounds"):
            jg.jit(lambda x, i: x.gather(0, i))(x, np.array([-1]))


def test_extreme_over_a_non_empty_result_of_an_empty_tensor():
    x = np.zeros((0, 3))
    for mode in ("eager", "jit"):
        out = _np(_modes(lambda t: t.amax(1))[mode](x))
        assert out.shape == (0,)


# --- item 11: bounded caches --------------------------------------------------------------------


@pytest.fixture
def limit_two():
    compiled.set_cache_limit(2)
    yield
    compiled.set_cache_limit(None)


def test_executables_are_evicted_least_recently_used(limit_two):
    f = jg.jit(lambda x: x * 3)
    for n in (1, 2, 3, 1):
        np.testing.assert_array_equal(f(np.ones(n)), np.full(n, 3.0))
    assert len(f._cache) == 2
    with pytest.raises(ValueError, match="positive int"):
        compiled.set_cache_limit(0)


def test_retracing_for_changing_numbers_warns_once():
    f = jg.jit(lambda x, lr: x * lr)
    x = np.ones(2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(12):
            f(x, 0.1 * (i + 1))
    mine = [w for w in caught if "as an array or tensor" in str(w.message)]
    assert len(mine) == 1


def test_clear_cache_empties_memory_and_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("JITGRAD_CACHE_DIR", str(tmp_path))
    f = jg.jit(lambda x: jg.exp(x) * 2)
    f(np.ones(3))
    assert list(tmp_path.rglob("*.py"))
    compiled.clear_cache()
    assert len(f._cache) == 0
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]
    np.testing.assert_allclose(f(np.ones(3)), np.exp(np.ones(3)) * 2)  # and compiles again


def test_disk_cache_is_trimmed_oldest_first(tmp_path):
    from jitgrad._kernels import cache
    for i in range(4):
        p = tmp_path / f"jitgrad_generated_{i}.py"
        p.write_text("x" * 1000)
        os.utime(p, (i, i))
    removed = cache.trim(tmp_path, 2500, keep=tmp_path / "jitgrad_generated_0.py")
    assert removed == 2
    assert sorted(p.name for p in tmp_path.glob("*.py")) == ["jitgrad_generated_0.py", "jitgrad_generated_3.py"]
