"""Compiled calls reuse their large output buffers once the caller has dropped them (jitgrad.buffer_pool),
and never hand out a buffer that is still referenced (outputs, views, Tensors, saved residuals)."""
import gc
import threading
import weakref

import numpy as np
import pytest

import jitgrad as jg
from jitgrad import buffer_pool, lower
from jitgrad.buffer_pool import BufferPool


@pytest.fixture
def pool_everything(monkeypatch):
    """Preallocate and pool every buffer, however small (keeps the tests' arrays tiny)."""
    monkeypatch.setattr(buffer_pool, "MIN_BYTES", 0)
    monkeypatch.setattr(lower, "PREALLOCATE_MIN", 0)


def _w1(a):
    return (2 * jg.sin(a) + 1).sum()


def test_pool_reuses_only_unreferenced_buffers():
    pool = BufferPool([((256,), np.float32), ((3,), np.float64)], min_bytes=1024)
    assert pool.pooled == [True, False]
    a, small = pool.take()
    ref = weakref.ref(a)
    b, _ = pool.take()
    assert b is not a                       # a is still held
    del a
    gc.collect()
    c, small2 = pool.take()
    assert c is ref() and c is not b        # the dropped one comes back, the held one does not
    assert small2 is not small


def test_default_threshold_leaves_small_calls_alone():
    f = jg.value_and_grad(_w1)
    x = np.ones(8, np.float32)
    f(x)
    assert not f.executable(x)._pool.active


def test_gradient_buffer_reused_after_drop(pool_everything):
    f = jg.value_and_grad(_w1)
    a = np.linspace(0, 3, 64, dtype=np.float32)
    _, g1 = f(a)
    ref = weakref.ref(g1)
    del g1
    _, g2 = f(a * 2)
    assert g2 is ref()                      # written into the same array: no fresh allocation
    np.testing.assert_allclose(g2, 2 * np.cos(a * 2), rtol=1e-5, atol=1e-6)


def test_held_outputs_and_views_are_never_overwritten(pool_everything):
    f = jg.value_and_grad(_w1)
    a = np.linspace(0, 3, 64, dtype=np.float32)
    _, g1 = f(a)
    _, g2 = f(a + 1)
    view = g2[::2]
    del g2
    _, g3 = f(a + 2)
    _, g4 = f(a + 3)
    np.testing.assert_allclose(g1, 2 * np.cos(a), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(view, 2 * np.cos(a + 1)[::2], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(g3, 2 * np.cos(a + 2), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(g4, 2 * np.cos(a + 3), rtol=1e-5, atol=1e-6)


def test_saved_residuals_survive_a_second_forward(pool_everything):
    torch = pytest.importorskip("torch")
    f = jg.jit_grad(lambda x: jg.tanh(jg.sin(x) * x))
    a = np.linspace(-2, 2, 32, dtype=np.float32)
    x1, x2 = jg.tensor(a, requires_grad=True), jg.tensor(a * 3, requires_grad=True)
    y1 = f(x1)
    y2 = f(x2)
    y1.sum().backward()
    y2.sum().backward()
    for x, arr in ((x1, a), (x2, a * 3)):
        t = torch.tensor(arr, requires_grad=True)
        torch.tanh(torch.sin(t) * t).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_threads_never_share_a_buffer(pool_everything):
    f = jg.value_and_grad(_w1)
    base = np.linspace(0, 3, 512, dtype=np.float32)
    f(base)
    errors = []

    def work(k):
        for i in range(50):
            x = base + np.float32(k * 100 + i)
            _, g = f(x)
            if not np.allclose(g, 2 * np.cos(x), rtol=1e-4, atol=1e-5):
                errors.append((k, i))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
