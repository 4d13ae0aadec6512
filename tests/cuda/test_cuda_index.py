"""kernels/cuda/index.py under the simulator: take, put (last write wins) and add_at
(duplicates summed in source order, identical bits on every run) against NumPy."""

import numpy as np
import pytest
from gpu_targets import needs_cuda

pytestmark = needs_cuda


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_take_put_add_at_match_numpy(dtype):
    from kernels.cuda import index, runtime

    rng = np.random.default_rng(0)
    src = rng.normal(size=(3, 4)).astype(dtype) if dtype != np.int64 else rng.integers(-9, 9, (3, 4))
    positions = np.array([[5, 0, 11], [5, 5, 2]], np.int64)
    dev = runtime.to_device(src)
    np.testing.assert_array_equal(runtime.to_host(index.take(dev, positions)), src.reshape(-1)[positions])

    values = np.arange(6, dtype=dtype).reshape(2, 3)
    expected = src.copy().reshape(-1)
    expected[positions.reshape(-1)] = values.reshape(-1)  # NumPy: the last duplicate wins
    out = runtime.to_device(src)
    index.put(out, positions, runtime.to_device(values))
    np.testing.assert_array_equal(runtime.to_host(out).reshape(-1), expected)

    expected = src.copy().reshape(-1)
    np.add.at(expected, positions.reshape(-1), values.reshape(-1))
    out = runtime.to_device(src)
    index.add_at(out, positions, runtime.to_device(values))
    np.testing.assert_array_equal(runtime.to_host(out).reshape(-1), expected)


def test_add_at_is_deterministic_with_many_duplicates():
    from kernels.cuda import index, runtime

    rng = np.random.default_rng(1)
    values = rng.normal(size=200).astype(np.float32) * 1e4
    positions = rng.integers(0, 3, 200)
    results = []
    for _ in range(3):
        out = runtime.zeros((3,), np.float32)
        index.add_at(out, positions, runtime.to_device(values))
        results.append(runtime.to_host(out))
    assert all(np.array_equal(r, results[0]) for r in results)
    expected = np.zeros(3, np.float32)
    for p, v in zip(positions, values):  # source order, float32 accumulation
        expected[p] += v
    np.testing.assert_array_equal(results[0], expected)


def test_empty_positions_do_nothing():
    from kernels.cuda import index, runtime

    out = runtime.to_device(np.ones(4))
    index.put(out, np.zeros((0,), np.int64), runtime.to_device(np.zeros(0)))
    index.add_at(out, np.zeros((0,), np.int64), runtime.to_device(np.zeros(0)))
    assert index.take(out, np.zeros((0, 2), np.int64)).shape == (0, 2)
    np.testing.assert_array_equal(runtime.to_host(out), np.ones(4))
