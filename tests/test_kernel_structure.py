"""Issue 14: kernels keyed by structure (repeated structure compiles once), bounded kernel size,
and the backward compiled lazily. Tiny shapes; the compile-time goals are in
benchmarks/compile_latency.py."""
import numpy as np
import pytest

import jitgrad as jg
from jitgrad import lower
from jitgrad._kernels import cpu
from jitgrad._kernels.spec import Loop


def _rnn(steps: int):
    def f(w, h, xs):
        total = 0.0
        for t in range(steps):
            h = jg.tanh(h @ w + xs[t])
            total = total + (h * h).sum()
        return total
    return f


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((4, 4)).astype(np.float32) * 0.5, rng.standard_normal((3, 4)).astype(np.float32),
            rng.standard_normal((6, 3, 4)).astype(np.float32))


@pytest.fixture
def always_split(monkeypatch):
    """Every program of two or more steps runs as kernels (as large programs do)."""
    monkeypatch.setattr(cpu, "MAX_SINGLE_LINES", 0)


def _sequences(exe):
    return [c for c in exe.compiled if isinstance(c, cpu.KernelSequence)]


def test_repeated_time_steps_share_one_compiled_kernel(always_split):
    w, h, xs = _inputs()
    f = jg.value_and_grad(_rnn(6), argnums=(0,))
    value, (gw,) = f(w, h, xs)
    (seq,) = _sequences(f.executable(w, h, xs))
    kernels = [k for k in seq.step_kernels if k is not None]
    # 6 identical time steps, forward and backward: far fewer distinct kernels than kernel steps
    assert len(seq.kernels) < len(kernels) / 2
    for compiled in seq.kernels.values():  # each compiled once (one signature)
        assert len(compiled.fn.overloads) == 1
    wt, ht, xst = (jg.tensor(a, requires_grad=i == 0) for i, a in enumerate((w, h, xs)))
    loss = _rnn(6)(wt, ht, xst)
    loss.backward()
    np.testing.assert_allclose(value, loss.detach().numpy(), rtol=1e-5)
    np.testing.assert_allclose(gw, wt.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_same_structure_in_another_function_reuses_the_kernel(always_split):
    w, h, xs = _inputs()
    f6 = jg.value_and_grad(_rnn(6), argnums=(0,))
    f3 = jg.value_and_grad(_rnn(3), argnums=(0,))
    f6(w, h, xs)
    f3(w, h, xs[:3])
    (s6,) = _sequences(f6.executable(w, h, xs))
    (s3,) = _sequences(f3.executable(w, h, xs[:3]))
    shared = {id(c.fn) for c in s6.kernels.values()} & {id(c.fn) for c in s3.kernels.values()}
    assert shared  # the same dispatcher: compiled once for both functions


def test_long_chain_is_cut_into_bounded_identical_pieces(monkeypatch):
    monkeypatch.setattr(lower, "MAX_LOOP_EQNS", 64)
    def chain(x, y, z):
        for _ in range(300):
            z = (z / x) * y
        return z.sum()

    rng = np.random.default_rng(1)
    x, y, z = (rng.uniform(0.9, 1.1, (2, 3)) for _ in range(3))
    f = jg.value_and_grad(chain, argnums=(0, 1))
    value, (gx, gy) = f(x, y, z)
    exe = f.executable(x, y, z)
    loops = [s for seg in exe.plan.segments for s in seg.program.steps if isinstance(s, Loop)]
    assert len(loops) > 2 and all(len(lp.stmts) <= 64 for lp in loops)
    (seq,) = _sequences(exe)
    assert len(seq.kernels) < len(loops)  # periodic pieces render to one kernel
    assert max(c.source.count("\n") for c in seq.kernels.values()) < 1000
    xt, yt = jg.tensor(x, requires_grad=True), jg.tensor(y, requires_grad=True)
    loss = chain(xt, yt, jg.tensor(z))
    loss.backward()
    np.testing.assert_allclose(value, loss.detach().numpy(), rtol=1e-9)
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-9)
    np.testing.assert_allclose(gy, yt.grad.numpy(), rtol=1e-9)


def test_split_program_matches_torch(always_split):
    torch = pytest.importorskip("torch")
    w, h, xs = _inputs(2)
    f = jg.jit_grad(_rnn(4))
    wt = jg.tensor(w, requires_grad=True)
    loss = f(wt, jg.tensor(h), jg.tensor(xs))
    loss.backward()
    wr = torch.tensor(w, requires_grad=True)
    hr = torch.tensor(h)
    total = 0.0
    for t in range(4):
        hr = torch.tanh(hr @ wr + torch.tensor(xs[t]))
        total = total + (hr * hr).sum()
    total.backward()
    np.testing.assert_allclose(loss.detach().numpy(), total.detach().numpy(), rtol=1e-5)
    np.testing.assert_allclose(wt.grad.numpy(), wr.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_backward_is_compiled_on_first_backward_only():
    f = jg.jit_grad(lambda a, b: (jg.sin(a) * b).sum())
    a = jg.tensor(np.linspace(0, 1, 5), requires_grad=True)
    b = jg.tensor(np.linspace(1, 2, 5))
    loss = f(a, b)
    _, bwd = f.grad_executables(a, b)
    assert bwd.built is None  # the forward ran; the adjoint program is not built yet
    loss.backward()
    assert bwd.built is not None
    np.testing.assert_allclose(a.grad.numpy(), np.cos(a.detach().numpy()) * b.numpy())


def test_forward_only_use_never_builds_the_backward():
    f = jg.jit_grad(lambda a: (a * a).sum())
    a = jg.tensor(np.ones(3), requires_grad=True)
    f(a)
    f(a)
    _, bwd = f.grad_executables(a)
    assert bwd.built is None


def test_the_model_latency_rows_count_the_numba_functions_compiled(tmp_path, monkeypatch, capsys):
    # compile_latency_models' timer counts top-level Numba compiles (callees apart): the number
    # that shows whether repeated structure shares kernels.
    import json

    from jitgrad.benchmarks import compile_latency_models

    monkeypatch.setenv("JITGRAD_CACHE_DIR", str(tmp_path))
    x = np.full((3,), 0.25, np.float32)
    scale = 1.0 + float(np.random.default_rng().integers(1 << 20))  # (a kernel no cache holds)
    fn = jg.jit(lambda a: jg.exp(a) * scale)
    exec(compile(compile_latency_models._TIMER, "<timer>", "exec"), {"json": json, "step": lambda: fn(x)})
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    exec(compile(compile_latency_models._TIMER, "<timer>", "exec"), {"json": json, "step": lambda: fn(x)})
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert first["compiled"] >= 1 and again["compiled"] == 0


def _tanh_chain(w, h):
    for _ in range(16):
        h = jg.tanh(h @ w)
    return (h * h).sum()


def _chain_program(n: int):
    """The value-and-grad program of 16 layers tanh(h @ w) at width n (about 47 kernel steps
    of n * n elements each, a few hundred lines), and its arguments."""
    rng = np.random.default_rng(3)
    w, h = rng.standard_normal((n, n)) / np.sqrt(n), rng.standard_normal((n, n))
    f = jg.value_and_grad(_tanh_chain, argnums=(0,))
    (seg,) = f.executable(w, h).plan.segments
    return f, (w, h), seg.program


def _decides_split(program) -> bool:
    from jitgrad._kernels import structure
    texts = [None if cpu._on_host(step) else cpu.render(k.program)
             for k, step in zip(structure.kernel_steps(program), program.steps)]
    return cpu.split_pays(program, texts)


def test_many_heavy_kernel_steps_split_under_the_line_limit(monkeypatch):
    """Issue 14: a program of many kernel steps that each do real work runs as kernels even when
    it is shorter than MAX_SINGLE_LINES (the Transformer's compile: 171 s as one function, 22 s
    as kernels); the same structure on tiny arrays stays one function (one dispatch per call)."""
    monkeypatch.delenv("JITGRAD_CPU_KERNELS", raising=False)
    f, (w, h), program = _chain_program(64)
    kernel_steps = sum(not cpu._on_host(step) for step in program.steps)
    from jitgrad._kernels import structure
    assert kernel_steps >= cpu.SPLIT_MIN_KERNELS and structure.line_count(program) < cpu.MAX_SINGLE_LINES
    assert _decides_split(program)
    assert not _decides_split(_chain_program(4)[2])
    value, (gw,) = f(w, h)
    (seq,) = _sequences(f.executable(w, h))
    assert len(seq.kernels) < kernel_steps / 4  # the 16 layers share their kernels
    wt = jg.tensor(w, requires_grad=True)
    loss = _tanh_chain(wt, jg.tensor(h))
    loss.backward()
    np.testing.assert_allclose(value, loss.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(gw, wt.grad.numpy(), rtol=1e-9, atol=1e-12)
