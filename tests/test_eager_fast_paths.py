"""Eager mode's fast paths (the common host, no-hook, no-graph case) compute exactly what the general
path computes, keep its errors, and dispatch fewer primitives: unbroadcasting and summing cotangents
in backward, cached index shapes, shared zero stand-ins, weak Python-number promotion."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import dispatched_prims

import jitgrad as jg
from jitgrad import autograd_graph, prims_index


def _broadcast_loss(x, b, c):
    return ((x + b) * c).sum()


def test_backward_unbroadcasts_host_cotangents_without_dispatch():
    """b (shape (3,)) and c (a 0-d tensor) are broadcast against x (4, 3): their cotangents are summed
    back by NumPy in the engine, with no sum or reshape primitive of their own dispatched."""
    rng = np.random.default_rng(0)
    x = jg.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    b = jg.tensor(rng.standard_normal(3), requires_grad=True)
    c = jg.tensor(rng.standard_normal(()), requires_grad=True)
    _broadcast_loss(x, b, c).backward()  # (the first backward records sum's and mul's rules: vjp_replay.py)
    x.grad = b.grad = c.grad = None
    loss = _broadcast_loss(x, b, c)
    ran = dispatched_prims(loss.backward)
    assert ran == [], ran  # (their recordings replay on NumPy arrays: no unbroadcast sum either)
    xs, bs, cs = (t.detach().numpy() for t in (x, b, c))
    assert np.array_equal(b.grad.numpy(), np.sum(np.broadcast_to(cs, (4, 3)), axis=(0,), keepdims=True).reshape(3))
    assert np.array_equal(c.grad.numpy(), np.sum(xs + bs, axis=(0, 1), keepdims=True).reshape(()))
    assert np.array_equal(x.grad.numpy(), np.broadcast_to(cs, (4, 3)))


def test_fast_unbroadcast_equals_the_general_path():
    """The same gradients, bit for bit, as with create_graph=True (which takes the general path)."""
    rng = np.random.default_rng(1)
    arrays = (rng.standard_normal((2, 5, 3)).astype(np.float32), rng.standard_normal((5, 1)).astype(np.float32),
              rng.standard_normal(()).astype(np.float32))
    fast = [jg.tensor(a, requires_grad=True) for a in arrays]
    slow = [jg.tensor(a, requires_grad=True) for a in arrays]
    _broadcast_loss(*fast).backward()
    _broadcast_loss(*slow).backward(create_graph=True)
    for f, s in zip(fast, slow):
        assert f.grad.dtype == s.grad.dtype and f.grad.shape == s.grad.shape
        assert np.array_equal(f.grad.numpy(), s.grad.detach().numpy())


def test_cotangents_of_a_reused_value_are_summed_without_dispatch():
    """x feeds three ops: its three cotangents are added by NumPy in the engine."""
    x = jg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    loss = (x * 2.0 + x.exp() + x.sin()).sum()
    ran = dispatched_prims(loss.backward)
    assert "add" not in ran, ran
    assert np.allclose(x.grad.numpy(), 2.0 + np.exp([1.0, 2.0, 3.0]) + np.cos([1.0, 2.0, 3.0]))


def test_profiler_still_sees_the_unbroadcast_sum():
    """With the profiler recording, the engine takes the general path: the sum is an event."""
    x = jg.tensor(np.ones((4, 3)), requires_grad=True)
    b = jg.tensor(np.ones(3), requires_grad=True)
    loss = (x + b).sum()
    with jg.autograd.profiler.profile() as prof:
        loss.backward()
    names = {e.name for e in prof.function_events}
    assert "sum" in names, names


def test_cached_index_shapes_keep_bounds_errors():
    """A cached (shape, index) -> shape never skips a bounds check: each new index is checked."""
    x = jg.tensor(np.arange(6.0).reshape(2, 3))
    assert x[1, 2].item() == 5.0
    assert x[1, 2].item() == 5.0  # (from the cache)
    for _ in range(2):
        with pytest.raises(IndexError):
            x[2, 0]
        with pytest.raises(IndexError):
            x[:, 3]
    assert (2, 3) in {k[0] for k in prims_index._BASIC_SHAPES}


def test_advanced_index_order_is_cached_per_rank():
    """PyTorch's placement of the advanced block depends on the index arrays' ranks, not their values."""
    x = jg.tensor(np.arange(24.0).reshape(2, 3, 4))
    i = jg.tensor([[0, 1], [1, 0]])
    assert x[0, :, i].shape == (3, 2, 2)  # (PyTorch: the int is a select before the array index)
    assert x[0, :, jg.tensor([1, 2, 3])].shape == (3, 3)
    assert x[:, i].shape == (2, 2, 2, 4)


def test_zero_stand_ins_are_shared_and_read_only():
    """An input a VJP rule never reads is a shared zero-stride zero array that nobody can write."""
    a = autograd_graph._zeros_view((3, 2), np.dtype(np.float32))
    b = autograd_graph._zeros_view((3, 2), np.dtype(np.float32))
    assert a is b and not a.flags.writeable and a.strides == (0, 0)
    with pytest.raises(ValueError):
        a[0, 0] = 1.0


@pytest.mark.parametrize("dtype", [jg.float32, jg.float64])
def test_python_int_with_a_float_tensor_keeps_its_dtype(dtype):
    """A Python int is weak, as a float is: it takes the float tensor's dtype on either side."""
    x = jg.tensor([1.0, 2.0], dtype=dtype, requires_grad=True)
    for y in (x * 2, 2 * x, x / 2, x - 3, 3 - x, x + 1):
        assert y.dtype == dtype
    ((x * 2) / 4).sum().backward()
    assert x.grad.dtype == dtype and np.array_equal(x.grad.numpy(), np.full(2, 0.5, dtype=dtype.dtype))
    assert (jg.tensor([1, 2]) * 2).dtype == jg.int64
    assert (jg.tensor([1, 2]) * 2.5).dtype == jg.float32


def test_a_recorded_op_leaves_few_objects_for_the_cycle_collector():
    """A graph lives across Python's collections, and a full collection walks every tracked
    object: each recorded op keeps at most 8 tracked objects (10 before versions became a tuple
    and the node's class references moved out of its tuples)."""
    import collections
    import gc

    a = jg.tensor(np.ones((4, 4), np.float32), requires_grad=True)
    b = jg.tensor(np.ones(4, np.float32), requires_grad=True)
    gc.collect()
    before = collections.Counter(type(o).__name__ for o in gc.get_objects())
    x = a
    for _ in range(50):
        x = (x * b + b).tanh()
    gc.collect()
    added = collections.Counter(type(o).__name__ for o in gc.get_objects()) - before
    assert sum(added.values()) / 150 <= 8, added
    assert "list" not in added or added["list"] < 10, added
    x.sum().backward()
    assert b.grad is not None and a.grad.shape == (4, 4)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_mean_is_numpys_mean_bit_for_bit(dtype):
    """mean's direct reduction for float32/float64 gives np.mean's values exactly (float16: np.mean itself)."""
    rng = np.random.default_rng(3)
    for shape, dim in (((11,), None), ((32, 27), 1), ((7, 5, 3), (0, 2)), ((1000,), 0), ((), None)):
        x = (rng.standard_normal(shape) * 100).astype(dtype)
        for keepdim in (False, True):
            got = jg.tensor(x).mean(dim, keepdim=keepdim).numpy()
            dims = tuple(range(x.ndim)) if dim is None else dim
            want = np.asarray(np.mean(x, axis=dims, keepdims=keepdim))
            assert got.dtype == want.dtype and np.array_equal(got, want)


def test_vjps_compute_nothing_for_inputs_without_grad():
    """(x - y) ** 2 with y constant, then a full mean: sub's rule makes no -g for y, x ** 2's
    rule no x ** 1 (the same gradient as PyTorch's). The tensor rules run under create_graph (without
    it, sub's and mean's rules replay on NumPy arrays: test_vjp_replay.py)."""
    x = jg.tensor([1.0, 2.0, 4.0], requires_grad=True)
    y = jg.tensor([0.5, 0.5, 0.5])
    loss = ((x - y) ** 2).mean()
    ran = dispatched_prims(lambda: loss.backward(create_graph=True))
    assert "neg" not in ran and "pow_scalar" not in ran, ran
    assert np.allclose(x.grad.detach().numpy(), np.float32([1.0, 3.0, 7.0]) / 3, rtol=1e-6, atol=0)
    x.grad = None
    z = jg.tensor([0.5, 0.5, 0.5], requires_grad=True)
    ((x - z) ** 3).sum().backward()
    assert np.allclose(z.grad.numpy(), -3 * (x.detach().numpy() - 0.5) ** 2)


@pytest.mark.parametrize("xshape,ishape,dim", [((6, 5), (6, 2), 1), ((6, 5), (3, 5), 0), ((4, 5, 3), (2, 5, 2), 1),
                                               ((4, 5, 3), (4, 1, 3), 2), ((7,), (4,), 0), ((3, 4), (2, 3), 0)])
def test_gather_equals_take_along_axis(xshape, ishape, dim):
    """gather's direct indexing gives np.take_along_axis's values (on x trimmed to index's extent)."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal(xshape).astype(np.float32)
    index = rng.integers(0, xshape[dim], ishape)
    got = jg.gather(jg.tensor(x), dim, jg.tensor(index)).numpy()
    trimmed = x[tuple(slice(0, s) if d != dim else slice(None) for d, s in enumerate(ishape))]
    want = np.take_along_axis(trimmed, index, axis=dim)
    assert got.dtype == want.dtype and got.shape == want.shape and np.array_equal(got, want)


@pytest.mark.parametrize("bad", [5, -1])
def test_gather_out_of_range_names_the_first_bad_index(bad):
    index = np.array([[0, 1], [bad, 2], [7, 1]])
    with pytest.raises(IndexError, match=f"gather\\(\\): index {bad} is out of bounds for dimension 1 with size 5"):
        jg.gather(jg.tensor(np.zeros((3, 5), np.float32)), 1, jg.tensor(index))


def test_row_lookup_shape_and_bounds():
    """x[rows] (an embedding lookup): the shape without indexing a stand-in, negative rows allowed,
    and an out-of-range row still raises the general path's IndexError."""
    table = jg.tensor(np.arange(12, dtype=np.float32).reshape(4, 3))
    rows = np.array([[0, -1], [3, 2]])
    assert table[jg.tensor(rows)].shape == (2, 2, 3)
    assert np.array_equal(table[jg.tensor(rows)].numpy(), table.numpy()[rows])
    assert prims_index.indexed_shape((4, 3), (("a", 0), ("s", None, None, None)), [rows]) == (2, 2, 3)
    for bad in (4, -5):
        with pytest.raises(IndexError, match=f"index {bad} is out of bounds .*indexing a tensor of shape \\(4, 3\\)"):
            table[jg.tensor(np.array([0, bad]))]


def test_cat_shape_rule_and_errors():
    a, b = jg.ones(2, 3), jg.ones(2, 4)
    assert jg.cat([a, b, a], 1).shape == (2, 10) and jg.cat([a, a], -2).shape == (4, 3)
    with pytest.raises(RuntimeError, match=r"Sizes of tensors must match except in dimension 0: got shapes \(2, 3\) "
                                           r"and \(2, 4\)"):
        jg.cat([a, b], 0)
    with pytest.raises(RuntimeError, match=r"got shapes \(2, 3\) and \(2, 3, 1\)"):
        jg.cat([a, jg.ones(2, 3, 1)], 1)
    with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)"):
        jg.cat([a, a], 2)
    assert jg.cat([a, b], True).shape == (2, 7)  # (a bool dim is an int, as in Python)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_fast_form_and_its_tail(dtype):
    """sigmoid's four-pass form (where exp(-x) cannot overflow) and its two-sided form (elsewhere:
    subnormal results, NaN) both stay within 2 ulp of the float64/long-double logistic."""
    rng = np.random.default_rng(7)
    tail = -700.0 if dtype == np.float64 else -80.0
    for x in (rng.uniform(tail + 1, 40, 500), np.concatenate([rng.uniform(tail - 30, 40, 500), [-103.0, 0.0]])):
        x = x.astype(dtype)
        got = jg.sigmoid(jg.tensor(x)).numpy()
        want = (1 / (1 + np.exp(-x.astype(np.longdouble)))).astype(dtype)
        ulps = np.abs(got.astype(np.longdouble) - want) / np.spacing(np.maximum(np.abs(want), np.finfo(dtype).tiny))
        assert got.dtype == dtype and ulps.max() <= 2, (x[np.argmax(ulps)], ulps.max())
    assert np.isnan(jg.sigmoid(jg.tensor(np.array([1.0, np.nan], dtype))).numpy()[1])


def test_expand_is_a_read_only_view_of_its_operand():
    """expand's direct zero-stride view equals np.broadcast_to's (values, strides, read-only, shared
    memory) on contiguous operands, and non-contiguous ones take np.broadcast_to itself."""
    rng = np.random.default_rng(8)
    base = jg.tensor(rng.standard_normal((4, 6)).astype(np.float32))
    for x, shape in ((base[:, :1].clone(), (4, 5)), (base[0], (3, 6)), (jg.tensor(2.0), (2, 3)),
                     (base.reshape(4, 1, 6), (2, 4, 3, 6)), (base[:, ::2], (2, 4, 3))):
        got = x.expand(*shape).numpy()
        want = np.broadcast_to(x.numpy(), shape)
        assert got.shape == want.shape and got.strides == want.strides and np.array_equal(got, want)
        assert not got.flags.writeable


@pytest.mark.parametrize("have,shape", [((4, 3), (3,)), ((4, 3), ()), ((3,), ()), ((4, 3), (4, 1)), ((2, 4, 3), (1, 3)),
                                        ((2, 4, 3), (4, 1)), ((4, 3), (1, 3)), ((), ()), ((4, 3), (4, 3))])
def test_host_sum_to_gives_arrays_of_the_target_shape(have, shape):
    """The cotangent summed back to an input's shape is an ndarray of that shape (a full reduction
    included: a NumPy scalar there once broke 0-d parameters' second epoch)."""
    data = np.random.default_rng(9).standard_normal(have).astype(np.float32)
    got = autograd_graph.host_sum_to(data, shape)
    lead = len(have) - len(shape)
    dims = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(shape) if s == 1 and have[i + lead] != 1)
    want = np.sum(data, axis=dims, keepdims=True).reshape(shape)
    assert type(got) is np.ndarray and got.shape == shape and np.allclose(got, want, rtol=1e-6)
