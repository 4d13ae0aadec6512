"""A whole training step under jitgrad.jit writes the new parameters and optimizer state into their
own storage and its other outputs into caller buffers (lower_inplace.py; issues 13 and 16), and
still leaves everything as the same steps run eagerly do."""
from __future__ import annotations

import numpy as np
import pytest

import jitgrad as jg
from jitgrad._kernels import cpu
from jitgrad._kernels.spec import Array, Call, Load, Loop, Program, Store
from jitgrad.lower_inplace import pass_buffers, write_in_place


def _data():
    rng = np.random.default_rng(3)
    return jg.tensor(rng.standard_normal(9)), jg.tensor(rng.standard_normal(9))


def _train(compiled: bool, steps: int, momentum: float = 0.0, hold_view: bool = False):
    x, y = _data()
    p = jg.tensor([1.0, 0.5], dtype=jg.float64, requires_grad=True)
    opt = jg.optim.SGD([p], lr=0.05, momentum=momentum)

    def step(x, y):
        opt.zero_grad()
        loss = ((p[0] * x + p[1] - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss
    fn = jg.jit(step) if compiled else step
    storage = p._data
    view = p.detach()[1:] if hold_view else None
    losses, grads, views = [], [], []
    for _ in range(steps):
        losses.append(float(fn(x, y)))
        grads.append(p.grad)
        if view is not None:
            views.append(float(view[0]))
    assert p._data is storage  # (eager updates in place too)
    return p, opt, losses, grads, views, fn


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_whole_step_updates_in_place_and_matches_eager(momentum):
    pe, oe, le, ge, ve, _ = _train(False, 5, momentum, hold_view=True)
    pc, oc, lc, gc, vc, fn = _train(True, 5, momentum, hold_view=True)
    np.testing.assert_allclose(lc, le, rtol=1e-12)
    np.testing.assert_allclose(vc, ve, rtol=1e-12)  # a view the user holds sees every update
    np.testing.assert_allclose(pc.detach().numpy(), pe.detach().numpy(), rtol=1e-12)
    assert pc._version == pe._version
    for a, b in zip(gc, ge, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)
        assert a._version == b._version
    assert len({id(g) for g in gc}) == len(gc) and len({id(g._data) for g in gc}) == len(gc)
    for k, v in oe.state_dict()["state"].items():
        for name, value in v.items():
            np.testing.assert_allclose(np.asarray(oc.state_dict()["state"][k][name]), np.asarray(value), rtol=1e-12)
    x, y = _data()
    exe = fn.executable(x, y)
    assert sorted(exe.in_place_outputs.values()) == ([2] if momentum == 0.0 else [2, 3])  # parameter (+ momentum)
    assert "return 0" in exe.source()  # loss and gradient in caller buffers: nothing returned (boxed)


def test_alias_of_an_updated_parameter_is_read_as_eager_mode_reads_it():
    """A view of the parameter passed as an argument: an input that shares the storage the program
    writes in place (the call runs the program without in-place writes, see _Entry.run_forward)."""
    def run(compiled: bool):
        p = jg.tensor([1.0, -2.0, 0.5], dtype=jg.float64, requires_grad=True)
        opt = jg.optim.SGD([p], lr=0.1)

        def step(a):
            opt.zero_grad()
            loss = (p * p).sum() + (a * p).sum()
            loss.backward()
            opt.step()
            return loss
        fn = jg.jit(step) if compiled else step
        a = p.detach()
        losses = [float(fn(a)) for _ in range(3)]
        if compiled:
            assert next(iter(fn._cache.entries.values()))._plain_forward is not None
        return losses, p.detach().numpy()
    (le, pe), (lc, pc) = run(False), run(True)
    np.testing.assert_allclose(lc, le, rtol=1e-12)
    np.testing.assert_allclose(pc, pe, rtol=1e-12)


def test_jit_grad_writes_back_by_copy():
    """jit_grad's backward reads inputs from before the write-back: its forward never writes in place."""
    buf = jg.zeros(3, dtype=jg.float64)

    def f(w):
        buf.add_(w.detach())
        return (w * buf).sum()
    g = jg.jit_grad(f)
    w = jg.tensor([1.0, 2.0, 3.0], dtype=jg.float64, requires_grad=True)
    g(w).backward()
    g(w).backward()
    entry = next(iter(g._cache.entries.values()))
    assert not entry.in_place
    np.testing.assert_allclose(w.grad.numpy(), [1.0 + 2.0, 2.0 + 4.0, 3.0 + 6.0])


def _arr(name: str, n: int = 4) -> Array:
    return Array(name, (n,), "float64")


def test_in_place_output_of_a_loop_that_is_the_last_reader_is_stored_into_its_input():
    loop = Loop((4,), (Load("l0", "in0"), Load("l1", "in1")), (), (Store("a2", "l0 + l1"),))
    p = Program("f_rename", (_arr("in0"), _arr("in1")), ("a2",), (_arr("a2"),), (loop,))
    q, done = write_in_place(p, {"a2": "in0"})
    assert done == {"a2"} and q.outputs == () and len(q.steps) == 1 and q.steps[0].stores[0].array == "in0"
    x, y = np.arange(4.0), np.full(4, 10.0)
    cpu.compile_program(q).fn(x, y)
    np.testing.assert_array_equal(x, [10.0, 11.0, 12.0, 13.0])


def test_in_place_output_read_later_is_copied_after_its_last_reader():
    """The input is read by a later step: the new value goes through its temporary and a copy
    placed after that step, so the later step reads the old value."""
    first = Loop((4,), (Load("l0", "in0"),), (), (Store("a1", "l0 * 2.0"),))
    later = Loop((4,), (Load("l0", "in0"),), (), (Store("a2", "l0 + 1.0"),))
    p = Program("f_copy", (_arr("in0"),), ("a1", "a2"), (_arr("a1"), _arr("a2")), (first, later))
    q, done = write_in_place(p, {"a1": "in0"})
    assert done == {"a1"} and q.outputs == ("a2",) and len(q.steps) == 3
    assert q.steps[2].stores[0].array == "in0" and q.steps[0].stores[0].array == "a1"
    q, filled = pass_buffers(q, {"a2"})
    assert filled == {"a2"} and q.outputs == () and [a.name for a in q.preallocated] == ["a2"]
    x, out = np.arange(4.0), np.empty(4)
    cpu.compile_program(q).fn(x, out)
    np.testing.assert_array_equal(x, [0.0, 2.0, 4.0, 6.0])
    np.testing.assert_array_equal(out, [1.0, 2.0, 3.0, 4.0])


def test_in_place_needs_a_matching_input():
    loop = Loop((4,), (Load("l0", "in0"),), (), (Store("a1", "l0 * 2.0"),))
    p = Program("f_none", (_arr("in0"), _arr("in1", 3)), ("a1", "a1"), (_arr("a1"),), (loop,))
    assert write_in_place(p, {"a1": "in1"})[1] == set()  # another shape; and returned twice
    assert pass_buffers(p, {"a1"})[1] == set()


def test_matrix_product_fills_a_caller_buffer():
    """BLAS writes a product into the buffer the caller passes (kernels.library.into_source)."""
    mat = Array("a2", (2, 3), "float64")
    p = Program("f_mm", (Array("in0", (2, 4), "float64"), Array("in1", (4, 3), "float64")), ("a2",), (mat,),
                (Call("matmul", ("in0", "in1"), "a2"),))
    q, filled = pass_buffers(p, {"a2"})
    assert filled == {"a2"} and q.outputs == () and [a.name for a in q.preallocated] == ["a2"]
    compiled = cpu.compile_program(q)
    assert "lib.matmul2d_into(in0, in1, a2)" in compiled.source
    x, y, out = np.arange(8.0).reshape(2, 4), np.arange(12.0).reshape(4, 3), np.full((2, 3), np.nan)
    compiled.fn(x, y, out)
    np.testing.assert_array_equal(out, x @ y)
    vec = Program("f_mv", (Array("in0", (2, 4), "float64"), _arr("in1")), ("a2",), (Array("a2", (2,), "float64"),),
                  (Call("matmul", ("in0", "in1"), "a2"),))
    assert pass_buffers(vec, {"a2"})[1] == set()  # (a matrix-vector product allocates its own result)


def test_mlp_step_returns_nothing_and_matches_eager():
    """An MLP's whole SGD step: its weight gradients are products, filled in caller buffers, so the
    program returns nothing (LeanCall's step path) and every value is eager mode's."""
    rng = np.random.default_rng(5)
    x, t = jg.tensor(rng.standard_normal((4, 6))), jg.tensor(rng.standard_normal((4, 2)))
    init = [rng.standard_normal(s) for s in ((3, 6), (3,), (2, 3), (2,))]

    def train(compiled: bool):
        params = [jg.tensor(v.copy(), requires_grad=True) for v in init]
        opt = jg.optim.SGD(params, lr=0.1)

        def step(x, t):
            opt.zero_grad()
            w1, b1, w2, b2 = params
            loss = ((jg.relu(x @ w1.t() + b1) @ w2.t() + b2 - t) ** 2).mean()
            loss.backward()
            opt.step()
            return loss
        fn = jg.jit(step) if compiled else step
        losses = [float(fn(x, t)) for _ in range(4)]
        return losses, params, fn
    le, pe, _ = train(False)
    lc, pc, fn = train(True)
    np.testing.assert_allclose(lc, le, rtol=1e-12)
    for a, b in zip(pc, pe, strict=True):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12)
    source = fn.executable(x, t).source()
    assert "return 0" in source and source.count("lib.matmul2d_into(") == 2  # (the two weight gradients)
