"""Issue 14: the warm front-end cache. A compiled function met again -- in a new process, or as
a new compiled object in this one -- skips tracing, lowering and source generation when its
code, the values it closes over and the globals it reads are unchanged; any change, or
anything that cannot be hashed safely, traces again. Tiny shapes; the timing is in
benchmarks/compile_latency.py."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import numpy as np
import pytest

import jitgrad as jg
import jitgrad.compiled
from jitgrad.fingerprint import fingerprint

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def traces(tmp_path, monkeypatch):
    """A fresh cache directory; the list grows by one per trace of a user function."""
    monkeypatch.setenv("JITGRAD_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("JITGRAD_FRONTEND_CACHE", raising=False)
    monkeypatch.delenv("JITGRAD_CPU_KERNELS", raising=False)
    calls = []
    real = jitgrad.compiled.trace

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)
    monkeypatch.setattr(jitgrad.compiled, "trace", counting)
    return calls


def _module(source: str, **names) -> dict:
    """Execute `source` as a user module (its functions are hashed by content, not named)."""
    namespace = {"__name__": f"user_{uuid.uuid4().hex[:8]}", "jg": jg, "np": np, **names}
    exec(compile(textwrap.dedent(source), "<user module>", "exec"), namespace)
    return namespace


X = np.linspace(0.1, 1.0, 6).reshape(2, 3)


def test_a_new_compiled_object_of_the_same_function_skips_the_trace(traces):
    mod = _module("""
        def f(x):
            return (jg.sin(x) * 2.0).sum()
    """)
    first = jg.value_and_grad(mod["f"])(X)
    assert len(traces) == 1
    again = jg.value_and_grad(mod["f"])(X)  # (an empty in-memory cache: what a new process has)
    assert len(traces) == 1
    np.testing.assert_allclose(again[0], first[0])
    np.testing.assert_allclose(again[1], 2 * np.cos(X))


def test_another_signature_is_another_record(traces):
    mod = _module("def f(x):\n    return (x * x).sum()\n")
    jg.grad(mod["f"])(X)
    jg.grad(mod["f"])(X.astype(np.float32))
    assert len(traces) == 2
    np.testing.assert_allclose(jg.grad(mod["f"])(X[:1]), 2 * X[:1])
    assert len(traces) == 3


def test_editing_the_body_a_helper_or_a_closed_over_constant_traces_again(traces):
    body = "def f(x):\n    return (helper(x) * K).sum()\n"
    helper = "def helper(x):\n    return jg.exp(x)\n"
    base = _module(helper + body, K=2.0)
    jg.grad(base["f"])(X)
    jg.grad(_module(helper + body, K=2.0)["f"])(X)
    assert len(traces) == 1  # same code, same constant: a hit
    edited_body = _module(helper + body.replace("* K", "* K + 1.0"), K=2.0)
    np.testing.assert_allclose(jg.grad(edited_body["f"])(X), 2.0 * np.exp(X))
    edited_helper = _module(helper.replace("exp", "sin") + body, K=2.0)
    np.testing.assert_allclose(jg.grad(edited_helper["f"])(X), 2.0 * np.cos(X))
    other_constant = _module(helper + body, K=3.0)
    np.testing.assert_allclose(jg.grad(other_constant["f"])(X), 3.0 * np.exp(X))
    assert len(traces) == 4


def test_a_closed_over_array_is_hashed_by_content(traces):
    def make(c):
        def f(x):
            return (x * c).sum()
        return f
    c = np.array([1.0, 2.0, 3.0])
    jg.grad(make(c))(X)
    np.testing.assert_allclose(jg.grad(make(c.copy()))(X), np.broadcast_to(c, X.shape))
    assert len(traces) == 1
    np.testing.assert_allclose(jg.grad(make(c * 2))(X), np.broadcast_to(c * 2, X.shape))
    assert len(traces) == 2


class _Scale:
    def __init__(self, k: float) -> None:
        self.k = k


def test_what_cannot_be_hashed_is_traced_every_time(traces, tmp_path):
    cell = [2.0]
    obj = _Scale(2.0)
    config = _module("K = 2.0")
    config_module = type(jg)("user_config")
    config_module.K = 2.0
    fns = [
        lambda: (lambda x: (x * cell[0]).sum()),  # a mutable container
        lambda: (lambda x: (x * obj.k).sum()),  # an object of a user class
        lambda: (lambda x: (x * config_module.K).sum()),  # a user module's attribute
    ]
    for make in fns:
        jg.grad(make())(X)
        jg.grad(make())(X)
    assert len(traces) == 2 * len(fns)
    assert not list(tmp_path.rglob("fe_*.pkl"))
    assert fingerprint(lambda x: x * config["K"]) is None  # (config is a dict: mutable)


def test_a_function_that_assigns_a_global_or_nonlocal_is_never_skipped(traces):
    mod = _module("""
        count = 0
        def f(x):
            global count
            count += 1
            return x.sum()
    """)
    jg.grad(mod["f"])(X)
    jg.grad(mod["f"])(X)
    assert mod["count"] == 2 and len(traces) == 2

    def outer():
        n = 0

        def f(x):
            nonlocal n
            n += 1
            return x.sum()
        return f
    assert fingerprint(outer()) is None


def test_a_module_imported_inside_the_function_is_not_hashed():
    def reads_a_user_module(x):
        import test_frontend_cache as settings  # (any module that is not jitgrad, numpy or the stdlib)
        return x * settings.X.sum()

    def imports_numpy(x):
        import numpy
        return x * numpy.pi
    assert fingerprint(reads_a_user_module) is None
    assert fingerprint(lambda x: x * np.random.rand()) is None  # (each trace draws anew)
    assert fingerprint(imports_numpy) is not None


def test_jit_grad_forward_and_backward_come_from_the_cache_and_match_eager(traces):
    mod = _module("""
        def loss(w, x):
            return (jg.tanh(x @ w) ** 2).mean()
    """)
    rng = np.random.default_rng(0)
    w0, x = rng.standard_normal((3, 2)), rng.standard_normal((4, 3))

    def run(fn):
        w = jg.tensor(w0, requires_grad=True)
        value = fn(w, jg.tensor(x))
        value.backward()
        return value.item(), w.grad.numpy()
    first = run(jg.jit_grad(mod["loss"]))
    assert len(traces) == 1
    again = run(jg.jit_grad(mod["loss"]))
    assert len(traces) == 1
    eager = run(mod["loss"])
    np.testing.assert_allclose(again[0], eager[0], rtol=1e-12)
    np.testing.assert_allclose(again[1], eager[1], rtol=1e-12)
    np.testing.assert_allclose(first[1], again[1], rtol=0)


def test_double_backward_of_a_cached_entry_traces_its_graph_again(traces):
    mod = _module("def f(w):\n    return (w ** 3).sum()\n")
    w0 = np.array([0.5, -1.0, 2.0])
    jg.jit_grad(mod["f"])(jg.tensor(w0, requires_grad=True)).backward()
    w = jg.tensor(w0, requires_grad=True)
    loss = jg.jit_grad(mod["f"])(w)
    assert len(traces) == 1
    (g,) = jg.autograd.grad(loss, w, create_graph=True)
    assert len(traces) == 2  # (the adjoint graph was needed: traced again on stand-in arguments)
    g.sum().backward()
    np.testing.assert_allclose(g.detach().numpy(), 3 * w0 ** 2)
    np.testing.assert_allclose(w.grad.numpy(), 6 * w0)


def test_a_cached_executable_still_shows_its_graph_and_source(traces):
    mod = _module("def f(x):\n    return jg.cos(x).sum()\n")
    fresh = jg.jit(mod["f"]).executable(X)
    cached = jg.jit(mod["f"]).executable(X)
    assert len(traces) == 1
    assert cached.source() == fresh.source()
    assert cached.plan.loops == fresh.plan.loops and str(cached.graph) == str(fresh.graph)


def test_a_corrupt_record_is_a_miss(traces, tmp_path):
    mod = _module("def f(x):\n    return (x + 1.0).sum()\n")
    jg.grad(mod["f"])(X)
    (record,) = tmp_path.rglob("fe_*.pkl")
    record.write_bytes(b"not a pickle")
    np.testing.assert_allclose(jg.grad(mod["f"])(X), np.ones_like(X))
    assert len(traces) == 2


def test_the_cache_can_be_turned_off(traces, monkeypatch):
    monkeypatch.setenv("JITGRAD_FRONTEND_CACHE", "0")
    mod = _module("def f(x):\n    return (x * 2.0).sum()\n")
    jg.grad(mod["f"])(X)
    jg.grad(mod["f"])(X)
    assert len(traces) == 2


_CHILD = """
import time, numpy as np, jitgrad as jg
def f(x, y, z):
    for _ in range(40):
        z = (z / x) * y
    return z.sum()
x, y, z = (np.full((2, 3), v, np.float32) for v in (1.5, 1.25, 2.0))
t = time.perf_counter()
value, grads = jg.value_and_grad(f, argnums=(0, 1))(x, y, z)
print("first call", time.perf_counter() - t, float(value))
"""


def test_a_second_process_skips_the_front_end(tmp_path):
    env = dict(os.environ, JITGRAD_CACHE_DIR=str(tmp_path), JITGRAD_LOG="compile", PYTHONPATH=str(ROOT))
    env.pop("JITGRAD_CPU_KERNELS", None)
    env.pop("JITGRAD_FRONTEND_CACHE", None)
    runs = [subprocess.run([sys.executable, "-c", _CHILD], env=env, cwd=ROOT, capture_output=True, text=True,
                           check=True) for _ in range(2)]
    assert "[jitgrad] traced value_and_grad f" in runs[0].stderr
    assert "from the front-end cache" in runs[1].stderr and "[jitgrad] traced" not in runs[1].stderr
    values = [float(r.stdout.split()[-1]) for r in runs]
    assert values[0] == values[1] == pytest.approx(6 * 2.0 * (1.25 / 1.5) ** 40, rel=1e-4)


def test_a_trace_that_warned_runs_again_and_warns_again(traces):
    mod = _module("""
        import warnings
        def f(x):
            warnings.warn("while tracing", UserWarning)
            return (x * 2.0).sum()
    """)
    assert fingerprint(mod["f"]) is not None
    for _ in range(2):
        with pytest.warns(UserWarning, match="while tracing"):
            jg.grad(mod["f"])(X)
    assert len(traces) == 2


def _package(root: Path, files: dict[str, str]) -> str:
    for name, text in files.items():
        path = root / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return str(root / "pkg")


def test_the_source_digest_sees_an_edit_of_the_same_size_through_its_memo(tmp_path, monkeypatch):
    """The digest of the compiler's sources is kept under the files' names, sizes and times; an
    edit that keeps the size still changes the time, so the digest is computed again."""
    from jitgrad import frontend_cache
    monkeypatch.setenv("JITGRAD_CACHE_DIR", str(tmp_path / "cache"))
    package = _package(tmp_path, {"__init__.py": "", "a.py": "x = 1\n", "sub/b.py": "y = 2\n"})
    first = frontend_cache.digest_of_packages([package])
    assert frontend_cache.digest_of_packages([package]) == first  # (from the memo)
    b = Path(package) / "sub" / "b.py"
    stat = b.stat()
    b.write_text("y = 3\n")
    os.utime(b, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    edited = frontend_cache.digest_of_packages([package])
    assert edited != first
    b.write_text("y = 2\n")
    os.utime(b, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000))
    assert frontend_cache.digest_of_packages([package]) == first  # (the bytes, not the times, are hashed)


def test_a_corrupt_or_foreign_source_digest_memo_is_ignored(tmp_path, monkeypatch):
    from jitgrad import frontend_cache
    monkeypatch.setenv("JITGRAD_CACHE_DIR", str(tmp_path / "cache"))
    package = _package(tmp_path, {"__init__.py": "", "a.py": "x = 1\n"})
    first = frontend_cache.digest_of_packages([package])
    memo = frontend_cache._memo_path()
    for text in ("garbage", "", f"{'0' * 64} {'1' * 64}\n", "\x00\xff"):
        memo.write_text(text)
        assert frontend_cache.digest_of_packages([package]) == first
    memo.unlink()
    memo.mkdir()  # (unreadable and unwritable as a file: still computed)
    assert frontend_cache.digest_of_packages([package]) == first
