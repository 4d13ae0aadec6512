"""kernels/cuda/indexed.py under the simulator: take, put (last write wins) and scatter_add
(duplicates summed in source order, identical bits on every run) against NumPy, with the index
arrays on the device and out-of-range indices recorded, never read."""

import numpy as np
import pytest
from gpu_targets import needs_cuda

pytestmark = needs_cuda


def _one_term(positions: np.ndarray, size: int):
    """(base, indexes, sels, strides, sizes) of x.flat[positions] for a flat x of `size`."""
    from jitgrad._kernels.cuda import runtime
    base = runtime.to_device(np.zeros(positions.shape, np.int64))
    return base, [runtime.to_device(positions)], [None], (1,), (size,)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_take_put_scatter_add_match_numpy(dtype):
    from jitgrad._kernels.cuda import indexed, runtime

    rng = np.random.default_rng(0)
    src = rng.normal(size=12).astype(dtype) if dtype != np.int64 else rng.integers(-9, 9, 12)
    positions = np.array([[5, 0, 11], [5, 5, -1]], np.int64)
    wrapped = positions % 12
    term = _one_term(positions, 12)
    err = indexed.error_slots(1)
    dev = runtime.to_device(src)
    got = indexed.take(dev, *term, True, err, 0, (2, 3), src.dtype)
    np.testing.assert_array_equal(runtime.to_host(got), src[wrapped])

    values = np.arange(6, dtype=dtype).reshape(2, 3)
    expected = src.copy()
    expected[wrapped.reshape(-1)] = values.reshape(-1)  # NumPy: the last duplicate wins
    out = indexed.put(dev, *term, err, 0, runtime.to_device(values), None, False)
    np.testing.assert_array_equal(runtime.to_host(out), expected)

    expected = np.zeros(12, dtype)
    np.add.at(expected, wrapped.reshape(-1), values.reshape(-1))
    out = indexed.scatter_add(runtime.to_device(values), *term, True, err, 0, (12,), np.dtype(dtype))
    np.testing.assert_array_equal(runtime.to_host(out), expected)
    indexed.check(err, [("", True, term[1], term[2], (0,), (12,))])  # nothing recorded


def test_scatter_add_is_deterministic_with_many_duplicates():
    from jitgrad._kernels.cuda import indexed, runtime

    rng = np.random.default_rng(1)
    values = rng.normal(size=200).astype(np.float32) * 1e4
    positions = rng.integers(0, 3, 200)
    results = []
    for _ in range(3):
        err = indexed.error_slots(1)
        out = indexed.scatter_add(runtime.to_device(values), *_one_term(positions, 3), False, err, 0, (3,),
                                  np.dtype(np.float32))
        results.append(runtime.to_host(out))
    assert all(np.array_equal(r, results[0]) for r in results)
    expected = np.zeros(3, np.float32)
    for p, v in zip(positions, values):  # source order, float32 accumulation
        expected[p] += v
    np.testing.assert_array_equal(results[0], expected)


def test_out_of_range_index_is_recorded_not_read():
    """The first bad element (in the CPU loop's order) is the one named; no element reads
    outside the array (the simulator would raise on such a read)."""
    from jitgrad._kernels.cuda import indexed, runtime

    positions = np.array([1, 40, 2, 3, -5], np.int64)
    term = _one_term(positions, 4)
    err = indexed.error_slots(2)
    indexed.take(runtime.to_device(np.arange(4.0)), *term, True, err, 1, (5,), np.dtype(np.float64))
    assert runtime.to_host(err)[0] == indexed.NO_ERROR
    with pytest.raises(IndexError, match="^index 40 is out of bounds for dimension 0 with size 4$"):
        indexed.check(err, [("", True, term[1], term[2], (0,), (4,))] * 2)
    with pytest.raises(RuntimeError, match="^gather\\(\\): index 40 is out"):
        indexed.check(err, [("gather(): ", False, term[1], term[2], (0,), (4,))] * 2)


def test_empty_positions_do_nothing():
    from jitgrad._kernels.cuda import indexed, runtime

    term = _one_term(np.zeros((0, 2), np.int64), 4)
    err = indexed.error_slots(1)
    dev = runtime.to_device(np.ones(4))
    assert indexed.take(dev, *term, True, err, 0, (0, 2), np.dtype(np.float64)).shape == (0, 2)
    out = indexed.put(dev, *term, err, 0, runtime.to_device(np.zeros((0, 2))), None, False)
    np.testing.assert_array_equal(runtime.to_host(out), np.ones(4))
    out = indexed.scatter_add(runtime.to_device(np.zeros((0, 2))), *term, True, err, 0, (4,), np.dtype(np.float64))
    np.testing.assert_array_equal(runtime.to_host(out), np.zeros(4))
