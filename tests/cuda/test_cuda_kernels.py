"""CUDA-simulator tests of kernels.cuda runtime, layout, matmul, elementwise, reduce and random
against NumPy on tiny shapes (run with NUMBA_ENABLE_CUDASIM=1):

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda/test_cuda_kernels.py
"""
import warnings

import numpy as np
import pytest
from gpu_targets import ON_CUDA, needs_cuda, simulator_only

pytestmark = needs_cuda
if ON_CUDA:
    from numba import cuda  # noqa: F401  (module global: the simulator patches kernel globals)

    from jitgrad._kernels.cuda import elementwise as ew
    from jitgrad._kernels.cuda import layout, matmul, random, reduce, runtime

DTYPES = [np.float32, np.float64, np.int32, np.int64, np.bool_]
RNG = np.random.default_rng(0)


def sample(shape, dtype):
    """Small values of dtype (ints in [-3, 3], bools mixed)."""
    x = RNG.standard_normal(shape) * 2
    return (x > 0) if dtype == np.bool_ else x.astype(dtype)


def dev(x):
    return runtime.to_device(np.asarray(x))


def host(d):
    return runtime.to_host(d)


# ---- runtime -----------------------------------------------------------------------------------

@simulator_only
def test_runtime_reports_the_simulator():
    assert runtime.available() and runtime.simulated()
    runtime.require()
    assert runtime.device_name() == 'simulator'
    assert 'sim' in runtime.device_key() and runtime.device_count() == 1
    props = runtime.properties()
    assert {'sm_count', 'max_threads_per_block', 'warp_size', 'max_shared_memory_per_block'} <= set(props)
    blocks, threads = runtime.launch_config(10_000)
    assert blocks * threads <= 64 and runtime.launch_config(0)[0] == 1
    assert runtime.REDUCE_THREADS & (runtime.REDUCE_THREADS - 1) == 0


@pytest.mark.parametrize('dtype', DTYPES, ids=lambda d: np.dtype(d).name)
def test_allocation_and_transfers(dtype):
    for shape in [(), (0,), (2, 3)]:
        d = runtime.empty(shape, dtype)
        assert runtime.is_device_array(d) and d.shape == shape and d.dtype == dtype
    np.testing.assert_array_equal(host(runtime.zeros((2, 3), dtype)), np.zeros((2, 3), dtype))
    np.testing.assert_array_equal(host(runtime.full((3,), 1, dtype)), np.ones(3, dtype))
    full0 = host(runtime.full((), 1, dtype))
    assert full0.shape == () and full0 == 1
    x = sample((2, 3), dtype)
    d = runtime.to_device(x.T)  # non-contiguous host input: contiguous device copy
    assert d.shape == (3, 2) and d.is_c_contiguous()
    np.testing.assert_array_equal(host(d), x.T)
    assert host(runtime.to_device(np.array(5, dtype))).shape == ()
    assert not runtime.is_device_array(x)


def test_bad_and_huge_allocations():
    with pytest.raises(ValueError, match='negative'):
        runtime.empty((2, -1), np.float32)
    with pytest.raises(runtime.DeviceOutOfMemory) as err:  # NumPy refuses it at once, nothing allocated
        runtime.empty((10**9, 10**9), np.float64)
    msg = str(err.value)
    assert '8000000000000000000 bytes' in msg and '(1000000000, 1000000000)' in msg and 'float64' in msg
    msg = runtime.oom_message(3 * 2**30, (3, 2**28), np.float32, free=2**30, total=80 * 2**30, detail='x')
    assert '3.00 GiB' in msg and '(3, 268435456)' in msg and 'float32' in msg and '1.00 GiB free of 80.00 GiB' in msg


def test_seed_stream_is_deterministic():
    runtime.manual_seed(7)
    first = [runtime.next_seed() for _ in range(3)]
    runtime.manual_seed(7)
    assert [runtime.next_seed() for _ in range(3)] == first
    assert len(set(first)) == 3 and all(0 <= s < 2**63 for s in first)
    runtime.manual_seed(8)
    assert runtime.next_seed() != first[0]


# ---- layout ------------------------------------------------------------------------------------

def test_strided_copy_views():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    d = dev(x)
    cases = [
        ((4, 3, 2), (1, 4, 12), 0, x.transpose(2, 1, 0)),           # permute
        ((2, 3), (12, -1), 3, x.reshape(2, 12)[:, 3::-1][:, :3]),    # negative step
        ((2, 2, 4), (12, 8, 1), 0, x[:, ::2, :]),                    # slice with step
        ((3, 2, 4), (0, 12, 1), 0, np.broadcast_to(x[:, 0], (3, 2, 4))),  # expand
        ((), (), 5, np.float32(5)),                                   # 0-d element
        ((0, 3), (3, 1), 0, np.zeros((0, 3), np.float32)),            # empty
        ((24,), (1,), 0, x.ravel()),                                  # reshape
    ]
    for shape, strides, offset, ref in cases:
        got = host(layout.strided_copy(d, shape, strides, offset))
        assert got.shape == np.shape(ref)
        np.testing.assert_array_equal(got, ref)
    b = host(layout.strided_copy(dev(np.array([True, False, True])), (3,), (-1,), 2))
    np.testing.assert_array_equal(b, [True, False, True][::-1])
    with pytest.raises(IndexError):
        layout.strided_copy(d, (5,), (6,), 0)


def test_strided_scatter_sets_and_accumulates():
    ref = np.zeros((3, 4))
    d = dev(ref)
    src = np.arange(4.0).reshape(2, 2)
    layout.strided_scatter(d, dev(src), (8, -1), 2)       # rows 0, 2; columns 2, 1
    ref.ravel()[[2, 1, 10, 9]] = src.ravel()
    np.testing.assert_array_equal(host(d), ref)
    layout.strided_scatter(d, dev(src), (8, -1), 2, accumulate=True)
    ref.ravel()[[2, 1, 10, 9]] += src.ravel()
    np.testing.assert_array_equal(host(d), ref)
    layout.strided_scatter(d, dev(np.float64(9.0)), (), 0)
    assert host(d)[0, 0] == 9.0


def test_concatenate():
    a, b = sample((2, 3), np.float32), sample((2, 1), np.float64)
    for axis in (1, -1):
        got = host(layout.concatenate([dev(a), dev(b)], axis))
        np.testing.assert_array_equal(got, np.concatenate([a, b], axis))
        assert got.dtype == np.float64
    c = [sample((1, 2), np.int32), sample((0, 2), np.int32), sample((2, 2), np.int32)]
    np.testing.assert_array_equal(host(layout.concatenate([dev(v) for v in c], 0)), np.concatenate(c, 0))
    with pytest.raises(ValueError):
        layout.concatenate([dev(a), dev(b)], 0)


# ---- matmul ------------------------------------------------------------------------------------

@pytest.mark.parametrize('dtype', [np.float32, np.float64, np.int32, np.bool_], ids=lambda d: np.dtype(d).name)
def test_matmul_matches_numpy(dtype):
    for sa, sb in [((5, 7), (7, 9)), ((2, 3, 5), (2, 5, 4)), ((1, 1), (1, 1)), ((3, 0), (0, 2)), ((0, 3), (3, 2))]:
        a, b = sample(sa, dtype), sample(sb, dtype)
        got, ref = host(matmul.matmul(dev(a), dev(b))), a @ b
        assert got.shape == ref.shape and got.dtype == ref.dtype
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


def test_matmul_spans_several_tiles_and_rejects_bad_shapes():
    a, b = sample((2, 2 * matmul.BLOCK + 1, 6), np.float64), sample((2, 6, matmul.BLOCK + 3), np.float64)
    np.testing.assert_allclose(host(matmul.matmul(dev(a), dev(b))), a @ b, rtol=1e-12)
    with pytest.raises(ValueError):
        matmul.matmul(dev(a), dev(b[0]))
    with pytest.raises(ValueError):
        matmul.matmul(dev(a[0]), dev(a[0]))


# ---- elementwise -------------------------------------------------------------------------------

def test_vm_calls_are_rewritten():
    text, bindings = ew.rewrite_vm_calls('vm.sin_f32(x0) + vm.exp_f64(vm.sin_f32(x1))')
    assert text == 'vm_sin_f32(x0) + vm_exp_f64(vm_sin_f32(x1))'
    assert bindings == ['vm_exp_f64 = _vm.cuda_device("exp", np.float64)',
                        'vm_sin_f32 = _vm.cuda_device("sin", np.float32)']


def test_elementwise_broadcasting_and_scalars():
    a = sample((2, 3), np.float32)
    b = sample((3,), np.float32)
    got = host(ew.elementwise('vm.sin_f32(x0) * x1 + x2', [dev(a), dev(b), np.float32(2)], (2, 3), np.float32))
    np.testing.assert_allclose(got, np.sin(a) * b + 2, rtol=1e-6, atol=1e-6)
    c, e = sample((2, 1, 3), np.float64), sample((4, 1), np.float64)
    got = host(ew.elementwise('(x0 if x0 > x1 else x1)', [dev(c), dev(e)], (2, 4, 3), np.float64))
    np.testing.assert_array_equal(got, np.maximum(c, e))
    got = host(ew.elementwise('x0 > x1', [dev(a), 0.5], (2, 3), np.bool_))
    np.testing.assert_array_equal(got, a > 0.5)
    got = host(ew.elementwise('x0 + x1 * x2', [dev(np.float64(3)), dev(np.ones(1)), np.array([2.0])], (), np.float64))
    assert got.shape == () and got == 5.0
    ints = sample((3, 1), np.int32)
    got = host(ew.elementwise('x0 * x1 + x2', [dev(ints), dev(sample((1, 4), np.int32)), 1], (3, 4), np.int64))
    assert got.dtype == np.int64
    flags = sample((2, 3), np.bool_)
    got = host(ew.elementwise('(x1 if x0 else np.float32(0))', [dev(flags), dev(a)], (2, 3), np.float32))
    np.testing.assert_array_equal(got, np.where(flags, a, 0))
    assert ew.elementwise('x0', [dev(np.zeros((0, 3)))], (0, 3), np.float64).shape == (0, 3)
    with pytest.raises(ValueError):
        ew.elementwise('x0', [dev(np.zeros((2, 3)))], (3, 3), np.float64)


def test_elementwise_into_and_kernel_cache():
    x = sample((4,), np.float64)
    d = dev(x)
    ew.elementwise_into(d, 'x0 * x1', [d, 3.0])   # in place
    np.testing.assert_array_equal(host(d), x * 3)
    n = len(ew._kernels)
    ew.elementwise_into(d, 'x0 * x1', [d, 2.0])
    assert len(ew._kernels) == n
    np.testing.assert_array_equal(host(d), x * 6)
    key = next(k for k in ew._kernels if k[0] == 'x0 * x1')
    with open(ew._kernels[key].py_func.__globals__['__file__']) as f:
        assert runtime.device_key() in f.readline()


# ---- reductions --------------------------------------------------------------------------------

NP_REDUCE = {'sum': np.sum, 'prod': np.prod, 'max': np.max, 'min': np.min}


def check_reduce(x, op, axes, keepdim=False, scale=1.0):
    ref = np.asarray(NP_REDUCE[op](x, axis=axes, keepdims=keepdim))
    if scale != 1.0:
        ref = ref * scale
    got = host(reduce.reduce(dev(x), op, axes, keepdim, ref.dtype, scale))
    assert got.shape == ref.shape and got.dtype == ref.dtype, (op, axes, got.shape, ref.shape)
    np.testing.assert_allclose(got, ref, rtol=1e-5, err_msg=f'{op} {axes} {x.dtype}')


@pytest.mark.parametrize('dtype', DTYPES, ids=lambda d: np.dtype(d).name)
def test_reduce_matches_numpy(dtype):
    warnings.simplefilter('ignore')
    x = sample((3, 4, 5), dtype)
    for op in NP_REDUCE:
        for axes, keep in [((), False), ((0,), True), ((2,), False), ((0, 2), False), ((0, 1, 2), True)]:
            check_reduce(x, op, axes, keep)


def test_reduce_large_nan_scale_and_empty():
    x = RNG.standard_normal(300).astype(np.float32)
    check_reduce(x, 'sum', (0,))                       # partials + second pass
    check_reduce(RNG.standard_normal((2, 150)), 'sum', (1,), True, 0.5)
    check_reduce(RNG.standard_normal((150, 3)), 'min', (0,))   # threads over outputs, chunked
    check_reduce(RNG.standard_normal((40, 8)), 'sum', (0,), False, 0.25)
    check_reduce(RNG.integers(-9, 9, (40, 8)), 'max', (0,))
    x[17] = np.nan
    check_reduce(x, 'max', (0,))
    y = RNG.standard_normal((6, 40))
    y[3, 5] = np.nan
    check_reduce(y, 'max', (0,))
    check_reduce(y, 'min', (1,))
    check_reduce(np.full((), 3.0), 'sum', (), False, 2.0)
    check_reduce(np.zeros((0, 3)), 'sum', (0,))
    check_reduce(np.zeros((0, 3)), 'prod', (0,), True)
    check_reduce(np.zeros((0, 3)), 'max', (1,))
    with pytest.raises(ValueError, match='no identity'):
        reduce.reduce(dev(np.zeros((0, 3))), 'max', (0,), False, np.float64)


def test_reduce_is_deterministic():
    x = dev(RNG.standard_normal(500).astype(np.float32))
    first = host(reduce.reduce(x, 'sum', (0,), False, np.float32))
    assert host(reduce.reduce(x, 'sum', (0,), False, np.float32)) == first


@pytest.mark.parametrize('dtype', [np.float64, np.int32, np.bool_], ids=lambda d: np.dtype(d).name)
def test_arg_reduce_matches_numpy(dtype):
    x = RNG.integers(0, 3, (3, 4, 2)).astype(dtype)  # many ties: the first index must win
    for op, npf, npv in [('max', np.argmax, np.max), ('min', np.argmin, np.min)]:
        for axis, keep in [(0, False), (1, True), (-1, False)]:
            vals, idx = reduce.arg_reduce(dev(x), op, axis, keep)
            np.testing.assert_array_equal(host(idx), npf(x, axis=axis, keepdims=keep))
            np.testing.assert_array_equal(host(vals), npv(x, axis=axis, keepdims=keep))
            assert host(vals).dtype == x.dtype and host(idx).dtype == np.int64


def test_arg_reduce_nan_and_errors():
    x = RNG.standard_normal(20)
    x[[7, 13]] = np.nan
    for op in ('max', 'min'):
        vals, idx = reduce.arg_reduce(dev(x), op, 0, False)
        assert host(idx) == 7 and np.isnan(host(vals))
    with pytest.raises(ValueError):
        reduce.arg_reduce(dev(np.zeros((2, 0))), 'max', 1, False)


# ---- random ------------------------------------------------------------------------------------

def test_random_is_deterministic_and_in_range():
    warnings.simplefilter('ignore')  # numba's xoroshiro code overflows uint64 on purpose
    a = host(random.uniform((4, 10), np.float32, 123))
    assert a.dtype == np.float32 and a.shape == (4, 10) and a.min() >= 0 and a.max() < 1
    np.testing.assert_array_equal(host(random.uniform((4, 10), np.float32, 123)), a)
    assert (host(random.uniform((4, 10), np.float32, 124)) != a).mean() > 0.9
    n = host(random.normal((200,), np.float64, 5))
    assert n.dtype == np.float64 and np.isfinite(n).all() and abs(n.mean()) < 0.3 and 0.7 < n.std() < 1.3
    assert host(random.uniform((), np.float64, 1)).shape == ()
    with pytest.raises(TypeError):
        random.uniform((2,), np.int32, 1)
