"""GPU tensors as users meet them (issue #7): device="cuda" on creation functions, .to/.cuda/.cpu
(recorded as ToCopyBackward0, gradients flow back to the source device), .numpy() copies,
device-mixing errors, repr, in-place ops and version counters, random numbers, DLPack and the
CUDA Array Interface, out-of-memory during backward, and compiled mode (jit, jit_grad, grad,
value_and_grad) with a compile cache keyed by device. Runs under Numba's simulator (tiny shapes):

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda/test_gpu_tensors.py
"""
import sys
import warnings

import numpy as np
import pytest
from gpu_targets import ON_CUDA, needs_cuda, real_gpu_only, simulator_only

import jitgrad as jg

pytestmark = [needs_cuda,
              # xoroshiro128p's uint64 arithmetic wraps on purpose; the simulator runs it in NumPy
              pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning"),
              pytest.mark.filterwarnings("ignore:jitgrad. '.*' has no CUDA kernel yet:UserWarning")]

if ON_CUDA:
    from jitgrad._kernels.cuda import runtime


def gpu(values, dtype=None, requires_grad=False):
    return jg.tensor(values, dtype=dtype, device="cuda", requires_grad=requires_grad)


def host(t) -> np.ndarray:
    return np.array(t.detach().numpy(), copy=True)


# ----- creation and storage -------------------------------------------------------------------


@simulator_only
def test_runtime_queries_under_the_simulator():
    assert jg.cuda.is_available() and jg.cuda.is_simulated()
    assert jg.cuda.device_count() == 1 and jg.cuda.current_device() == 0
    assert jg.cuda.get_device_name() == "simulator"
    jg.cuda.synchronize()


@pytest.mark.parametrize("make, expected", [
    (lambda d: jg.tensor([[1.0, 2.0], [3.0, 4.0]], device=d), np.array([[1, 2], [3, 4]], np.float32)),
    (lambda d: jg.zeros(2, 3, device=d), np.zeros((2, 3), np.float32)),
    (lambda d: jg.ones((3,), dtype=jg.float64, device=d), np.ones(3)),
    (lambda d: jg.full((2, 2), 7, device=d), np.full((2, 2), 7, np.int64)),
    (lambda d: jg.full((2,), 2.5, device=d), np.full(2, 2.5, np.float32)),
    (lambda d: jg.empty(4, device=d).zero_(), np.zeros(4, np.float32)),
    (lambda d: jg.arange(5, device=d), np.arange(5)),
    (lambda d: jg.arange(0.0, 1.0, 0.25, device=d), np.arange(0, 1, 0.25, dtype=np.float32)),
    (lambda d: jg.eye(3, device=d), np.eye(3, dtype=np.float32)),
    (lambda d: jg.linspace(0, 1, 5, device=d), np.linspace(0, 1, 5, dtype=np.float32)),
    (lambda d: jg.tensor(True, device=d), np.array(True)),
    (lambda d: jg.tensor(3, dtype=jg.int32, device=d), np.array(3, np.int32)),
], ids=["tensor", "zeros", "ones-f64", "full-int", "full-float", "empty", "arange", "arange-float", "eye",
        "linspace", "bool-0d", "int32-0d"])
def test_creation_functions_take_device_cuda(make, expected):
    t = make("cuda")
    assert t.device == jg.device("cuda:0") and t.is_cuda and t.device.type == "cuda"
    assert runtime.is_device_array(t._data) and not isinstance(t._data, np.ndarray)
    assert t.dtype == expected.dtype and tuple(t.shape) == expected.shape
    np.testing.assert_array_equal(host(t), expected)
    ref = make("cpu")
    assert not ref.is_cuda and ref.dtype == t.dtype
    np.testing.assert_array_equal(host(ref), host(t))


def test_like_functions_keep_the_device_unless_told():
    x = gpu([1.0, 2.0, 3.0])
    for t in (jg.zeros_like(x), jg.ones_like(x), jg.full_like(x, 2.0), jg.empty_like(x), jg.rand_like(x),
              jg.randn_like(x)):
        assert t.is_cuda and tuple(t.shape) == (3,) and t.dtype == jg.float32
    assert not jg.zeros_like(x, device="cpu").is_cuda
    assert jg.ones_like(jg.ones(2), device="cuda").is_cuda
    np.testing.assert_array_equal(host(jg.full_like(x, 2.0)), [2, 2, 2])


def test_tensor_and_as_tensor_of_a_gpu_tensor():
    """As in PyTorch: tensor(t) copies on t's device; as_tensor(t, device=...) moves."""
    x = gpu([1.0, 2.0])
    t = jg.tensor(x)
    assert t.is_cuda and t._data is not x._data
    np.testing.assert_array_equal(host(t), [1, 2])
    assert not jg.tensor(x, device="cpu").is_cuda
    assert jg.as_tensor(x) is x
    moved = jg.as_tensor(x, device="cpu")
    assert not moved.is_cuda
    np.testing.assert_array_equal(moved.numpy(), [1, 2])


def test_storage_is_a_contiguous_device_array_and_never_aliased():
    x = gpu(np.arange(6.0).reshape(2, 3))
    for y in (x.t(), x.reshape(3, 2), x[:, 1:], x.unsqueeze(0), x.expand(2, 2, 3), x.clone(), x.detach()):
        assert runtime.is_device_array(y._data) and y._data.is_c_contiguous()
    assert x.t()._data is not x._data and x.detach()._data is x._data  # detach shares, as in PyTorch


def test_repr_shows_the_device():
    w = gpu([1.0, 2.0], requires_grad=True)
    assert repr(w) == "tensor([1., 2.], device='cuda:0', requires_grad=True)"
    assert repr(w * 2) == "tensor([2., 4.], device='cuda:0', grad_fn=<MulBackward0>)"
    assert repr(jg.tensor(1, device="cuda")) == "tensor(1, device='cuda:0')"
    assert "device" not in repr(jg.tensor([1.0]))
    f64 = jg.zeros(2, dtype=jg.float64, device="cuda")
    assert str(f64) == "tensor([0., 0.], device='cuda:0', dtype=jitgrad.float64)"


def test_numpy_copies_to_the_host():
    x = gpu([1.5, 2.0, 3.0])
    h = x.numpy()
    assert type(h) is np.ndarray and h.dtype == np.float32
    h[0] = 100.0  # a copy: the GPU tensor does not change
    np.testing.assert_array_equal(host(x), [1.5, 2.0, 3.0])
    assert "copy" in jg.Tensor.numpy.__doc__ and "GPU" in jg.Tensor.numpy.__doc__
    np.testing.assert_array_equal(np.asarray(x), [1.5, 2.0, 3.0])
    assert x[0].item() == 1.5 and float(x[1]) == 2.0 and x.tolist() == [1.5, 2.0, 3.0] and bool(x[0] > 1)
    with pytest.raises(RuntimeError, match="requires grad"):
        gpu([1.0], requires_grad=True).numpy()


# ----- moves between devices --------------------------------------------------------------------


def test_to_cuda_cpu_round_trip_and_no_op_moves():
    x = jg.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=jg.float64)
    for g in (x.to("cuda"), x.cuda(), x.to(jg.device("cuda:0")), x.to("cuda:0"), x.cuda(0), x.to(device="cuda")):
        assert g.is_cuda and g.dtype == jg.float64
        back = g.cpu()
        assert not back.is_cuda and type(back._data) is np.ndarray
        np.testing.assert_array_equal(back.numpy(), x.numpy())
    g = x.cuda()
    assert g.cuda() is g and g.to("cuda") is g and x.cpu() is x
    copied = g.to(g.device, copy=True)
    assert copied is not g and copied._data is not g._data and copied.is_cuda
    both = x.to("cuda", jg.float32)
    assert both.is_cuda and both.dtype == jg.float32


def test_invalid_device_ordinal_is_a_clear_error():
    with pytest.raises(RuntimeError, match="invalid device ordinal 1"):
        jg.ones(2).to("cuda:1")


def test_moves_are_recorded_and_gradients_flow_back_to_the_source_device():
    a = jg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = a.cuda()
    assert b.grad_fn.name() == "ToCopyBackward0" and not b.is_leaf
    (b * b).sum().backward()
    assert not a.grad.is_cuda
    np.testing.assert_allclose(a.grad.numpy(), [2, 4, 6])

    c = gpu([1.0, 2.0], requires_grad=True)
    d = c.cpu()
    assert d.grad_fn.name() == "ToCopyBackward0"
    (d * 3).sum().backward()
    assert c.grad.is_cuda
    np.testing.assert_allclose(host(c.grad), [3, 3])

    e = jg.tensor([1.0, 2.0], requires_grad=True)
    f = e.to("cuda", jg.float64)  # dtype and device at once: the gradient comes back as float32 on cpu
    (f * f).sum().backward()
    assert not e.grad.is_cuda and e.grad.dtype == jg.float32
    np.testing.assert_allclose(e.grad.numpy(), [2, 4])


def test_round_trip_grad_and_second_order_through_moves():
    a = jg.tensor([0.5, 1.0], dtype=jg.float64, requires_grad=True)
    y = (a.cuda().sin() * 2).cpu().sum()
    (g,) = jg.autograd.grad(y, a, create_graph=True)
    assert not g.is_cuda
    np.testing.assert_allclose(g.detach().numpy(), 2 * np.cos([0.5, 1.0]))
    (h,) = jg.autograd.grad(g.sum(), a)
    np.testing.assert_allclose(h.numpy(), -2 * np.sin([0.5, 1.0]))


def test_mixing_devices_in_one_op_names_both_devices():
    g, c = gpu([1.0, 2.0, 3.0]), jg.tensor([1.0, 2.0, 3.0])
    cases = [lambda: g + c, lambda: c * g, lambda: jg.cat([g, c]), lambda: gpu([[1.0, 2.0]]) @ jg.ones(2, 1),
             lambda: jg.where(jg.tensor([True, False, True]), g, 0.0), lambda: jg.maximum(g, c)]
    for case in cases:
        with pytest.raises(RuntimeError, match="two devices, cuda:0 and cpu") as err:
            case()
        assert ".to('cuda')" in str(err.value)
    # 0-d host tensors are scalars and mix with GPU tensors (as in PyTorch)
    np.testing.assert_allclose(host(g + jg.tensor(1.0)), [2, 3, 4])
    out = gpu([1.0], requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="grad_output\\[0\\] is on device 'cpu'.*cuda:0"):
        out.backward(jg.tensor([1.0]))


# ----- in-place ops ----------------------------------------------------------------------------


def test_inplace_ops_on_gpu_tensors_write_storage_and_bump_versions():
    x = gpu([1.0, 2.0, 3.0])
    storage = x._data
    steps = [("add_", (1.0,), [2, 3, 4]), ("mul_", (2.0,), [4, 6, 8]), ("sub_", (1.0,), [3, 5, 7]),
             ("div_", (2.0,), [1.5, 2.5, 3.5]), ("clamp_", (2.0, 3.0), [2, 2.5, 3]),
             ("add_", (gpu([1.0, 1.0, 1.0]),), [3, 3.5, 4]), ("pow_", (2,), [9, 12.25, 16]),
             ("sqrt_", (), [3, 3.5, 4]), ("neg_", (), [-3, -3.5, -4]), ("abs_", (), [3, 3.5, 4]),
             ("zero_", (), [0, 0, 0]), ("fill_", (0.5,), [0.5, 0.5, 0.5]), ("sin_", (), np.sin([0.5] * 3)),
             ("copy_", (gpu([7.0, 8.0, 9.0]),), [7, 8, 9]), ("exp_", (), np.exp([7, 8, 9]))]
    for i, (op, args, expected) in enumerate(steps, start=1):
        assert getattr(x, op)(*args) is x
        assert x._version == i, op
        assert x._data is storage, f"{op} replaced the storage instead of writing it"
        np.testing.assert_allclose(host(x), expected, rtol=1e-6, err_msg=op)
    x += 1
    x *= 0.5
    assert x._version == len(steps) + 2
    x[0] = 9.0
    x[1:] = gpu([4.0, 4.0])
    np.testing.assert_allclose(host(x), [9, 4, 4])
    assert x._data is storage


def test_copy_between_devices():
    """copy_ takes a source on another device (as in PyTorch), in both directions."""
    g = gpu([0.0, 0.0, 0.0])
    g.copy_(jg.tensor([1.0, 2.0, 3.0], dtype=jg.float64))
    assert g.is_cuda and g.dtype == jg.float32
    np.testing.assert_array_equal(host(g), [1, 2, 3])
    c = jg.zeros(3)
    c.copy_(gpu([4.0, 5.0, 6.0]))
    assert not c.is_cuda
    np.testing.assert_array_equal(c.numpy(), [4, 5, 6])
    g.copy_(jg.tensor(2.0))  # broadcast from a 0-d host value
    np.testing.assert_array_equal(host(g), [2, 2, 2])
    src = jg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    dst = gpu([0.0, 0.0, 0.0]) * 1
    dst.copy_(src)
    (dst * gpu([1.0, 2.0, 3.0])).sum().backward()
    assert not src.grad.is_cuda
    np.testing.assert_allclose(src.grad.numpy(), [1, 2, 3])


def test_inplace_on_a_leaf_that_requires_grad_is_refused():
    leaf = gpu([1.0, 2.0], requires_grad=True)
    for op in (lambda: leaf.add_(1), lambda: leaf.zero_(), lambda: leaf.sin_(), lambda: leaf.fill_(1.0)):
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            op()
    with jg.no_grad():
        leaf.mul_(2)
    np.testing.assert_array_equal(host(leaf), [2, 4])


def test_a_saved_value_modified_in_place_is_detected():
    a = gpu([1.0, 2.0], requires_grad=True)
    b = a * 2
    c = b.sin()
    b.mul_(3)
    with pytest.raises(RuntimeError, match="modified by an inplace operation.*SinBackward0"):
        c.sum().backward()


def test_inplace_ops_on_non_leaves_are_differentiated():
    a = gpu([1.0, 2.0], dtype=jg.float64, requires_grad=True)
    b = a * 1
    b.sin_()
    b.mul_(a)
    b.sum().backward()
    np.testing.assert_allclose(host(a.grad), np.cos([1, 2]) * [1, 2] + np.sin([1, 2]))


# ----- random numbers ----------------------------------------------------------------------------


def test_gpu_random_numbers_are_seeded_and_well_formed():
    jg.manual_seed(3)
    r1 = host(jg.rand(64, device="cuda"))
    jg.manual_seed(3)
    r2 = host(jg.rand(64, device="cuda"))
    r3 = host(jg.rand(64, device="cuda"))
    np.testing.assert_array_equal(r1, r2)
    assert not np.array_equal(r2, r3)
    assert r1.dtype == np.float32 and r1.min() >= 0 and r1.max() < 1 and len(np.unique(r1)) == 64
    jg.cuda.manual_seed(3)
    np.testing.assert_array_equal(host(jg.rand(64, device="cuda")), r1)
    n = host(jg.randn(4000, dtype=jg.float64, device="cuda"))
    assert n.dtype == np.float64 and abs(n.mean()) < 0.1 and abs(n.std() - 1) < 0.1
    assert tuple(jg.randn(2, 3, device="cuda").shape) == (2, 3)
    ints = jg.randint(0, 5, (20,), device="cuda")
    assert ints.is_cuda and ints.dtype == jg.int64 and 0 <= host(ints).min() and host(ints).max() < 5
    w = jg.randn(3, device="cuda", requires_grad=True)
    assert w.is_leaf and w.requires_grad


@simulator_only
def test_random_numbers_after_a_launch_of_another_size(monkeypatch):
    """Cached launch configurations must not share state. The simulator's kernel[grid, block]
    returns the kernel itself, re-configured: a cached (kernel, 1 block) entry then launches 2
    blocks over a 1-block state buffer (IndexError), and a seed's numbers depend on launch order."""
    monkeypatch.setattr(runtime, "_configured", {})  # start from no cached launch configuration
    jg.manual_seed(5)
    first = host(jg.rand(6, device="cuda"))
    assert tuple(jg.rand(16, device="cuda").shape) == (16,)
    jg.manual_seed(5)
    np.testing.assert_array_equal(host(jg.rand(6, device="cuda")), first)


def test_strided_host_arrays_move_as_their_values():
    a = np.arange(12.0).reshape(3, 4)
    for view in (a.T, a[:, ::2], a[::-1]):
        np.testing.assert_array_equal(host(jg.from_numpy(view).cuda()), view)
        np.testing.assert_array_equal(host(jg.tensor(view, device="cuda")), view)


# ----- interchange -----------------------------------------------------------------------------


@simulator_only
def test_cuda_array_interface_in_the_simulator():
    with pytest.raises(AttributeError, match="simulator has no device pointers"):
        gpu([1.0]).__cuda_array_interface__  # noqa: B018
    assert not hasattr(gpu([1.0]), "__cuda_array_interface__")
    with pytest.raises(AttributeError, match="GPU tensors"):
        jg.tensor([1.0]).__cuda_array_interface__  # noqa: B018
    assert not hasattr(jg.tensor([1.0]), "__cuda_array_interface__")
    with pytest.raises(AttributeError, match="detach"):
        gpu([1.0], requires_grad=True).__cuda_array_interface__  # noqa: B018


def test_dlpack_round_trips_with_numpy():
    a = np.arange(6.0).reshape(2, 3)
    t = jg.from_dlpack(a)
    assert not t.is_cuda and t.dtype == jg.float64
    a[0, 0] = 42.0  # shares memory
    assert t[0, 0].item() == 42.0
    back = np.from_dlpack(jg.tensor([1.0, 2.0]))
    np.testing.assert_array_equal(back, [1, 2])
    assert jg.tensor([1.0]).__dlpack_device__() == (1, 0)
    g = gpu([1.0, 2.0])
    assert g.__dlpack_device__() == (2, 0)
    with pytest.raises(BufferError, match="__cuda_array_interface__"):
        np.from_dlpack(g)
    assert jg.from_dlpack(np.ones(2, np.float16)).dtype == jg.float16
    with pytest.raises(TypeError, match="not uint16"):
        jg.from_dlpack(np.ones(2, np.uint16))


def test_from_dlpack_of_a_jitgrad_tensor_returns_it_on_its_device():
    g = gpu([1.0, 2.0])
    t = jg.from_dlpack(g)
    assert t.is_cuda and t._data is g._data
    c = jg.tensor([1.0, 2.0])
    assert jg.from_dlpack(c)._data.ctypes.data == c._data.ctypes.data


def test_dlpack_round_trips_with_torch_cpu():
    torch = pytest.importorskip("torch")
    t = torch.arange(4, dtype=torch.float32)
    j = jg.from_dlpack(t)
    assert j.dtype == jg.float32 and not j.is_cuda
    t[0] = 10.0
    assert j[0].item() == 10.0
    k = jg.tensor([1.0, 2.0, 3.0], dtype=jg.float64)
    back = torch.from_dlpack(k)
    assert back.dtype == torch.float64 and back.tolist() == [1.0, 2.0, 3.0]
    # GPU results through the host, compared with torch on the CPU
    j2 = jg.from_dlpack(torch.from_dlpack(gpu([[1.0, 2.0], [3.0, 4.0]]).cpu()))
    np.testing.assert_array_equal(j2.numpy(), [[1, 2], [3, 4]])


# ----- torch as the oracle ----------------------------------------------------------------------


def test_gpu_results_match_torch_cpu():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    a_np, b_np = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    a, b = gpu(a_np, requires_grad=True), gpu(b_np, requires_grad=True)
    ta, tb = torch.tensor(a_np, requires_grad=True), torch.tensor(b_np, requires_grad=True)

    out = ((a @ b).tanh() * a.sum(1, keepdim=True).exp()).mean(0) + b.amax(0)
    tout = ((ta @ tb).tanh() * ta.sum(1, keepdim=True).exp()).mean(0) + tb.amax(0)
    np.testing.assert_allclose(host(out), tout.detach().numpy(), rtol=1e-10)
    cot = np.array([1.0, -2.0])
    out.backward(gpu(cot))
    tout.backward(torch.tensor(cot))
    np.testing.assert_allclose(host(a.grad), ta.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(host(b.grad), tb.grad.numpy(), rtol=1e-10)

    x_np = rng.standard_normal((2, 3, 4)).astype(np.float32)
    x, tx = gpu(x_np), torch.tensor(x_np)
    pairs = [(x.permute(2, 0, 1)[1:, :, ::2], tx.permute(2, 0, 1)[1:, :, ::2]),
             (jg.nn.functional.softmax(x, -1), tx.softmax(-1)),
             (x.argmax(1), tx.argmax(1)),
             (jg.stack([x[0], x[1]], 1), torch.stack([tx[0], tx[1]], 1)),
             (x.prod(2), tx.prod(2)),
             (x.clamp(-0.5, 0.5).sigmoid(), tx.clamp(-0.5, 0.5).sigmoid())]
    for mine, ref in pairs:
        assert mine.is_cuda
        np.testing.assert_allclose(host(mine), ref.numpy(), rtol=1e-5, atol=1e-6)


# ----- out of memory -------------------------------------------------------------------------


class _FailInAccumulation:
    """Stands in for numba.cuda inside kernels.cuda.runtime: allocations made while .grad is being
    accumulated run out of memory; everything else goes to the real module."""

    def __init__(self, real) -> None:
        self._real = real
        self.failures = 0

    def __getattr__(self, name):
        return getattr(self._real, name)

    def device_array(self, shape, dtype, *args, **kwargs):
        frame = sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_name == "accumulate_grad":
                self.failures += 1
                raise MemoryError("out of memory (simulated)")
            frame = frame.f_back
        return self._real.device_array(shape, dtype, *args, **kwargs)


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "jit_grad"])
def test_out_of_memory_in_grad_accumulation_leaves_grad_unchanged(monkeypatch, compiled):
    a = gpu(np.ones((2, 3)), dtype=jg.float32, requires_grad=True)
    loss = jg.jit_grad(lambda x: (x * x).sum()) if compiled else (lambda x: (x * x).sum())
    loss(a).backward()
    before, values = a.grad, host(a.grad)
    fake = _FailInAccumulation(runtime.cuda)
    monkeypatch.setattr(runtime, "cuda", fake)
    out = loss(a)
    with pytest.raises(runtime.DeviceOutOfMemory) as err:
        out.backward()
    assert fake.failures == 1
    msg = str(err.value)
    assert "out of memory" in msg and "24 bytes" in msg and "(2, 3)" in msg and "float32" in msg
    assert isinstance(err.value, MemoryError)
    assert a.grad is before
    np.testing.assert_array_equal(host(a.grad), values)
    monkeypatch.undo()
    loss(a).backward()  # and it works again afterwards
    np.testing.assert_allclose(host(a.grad), 2 * values)


def test_out_of_memory_on_the_first_gradient_leaves_grad_none(monkeypatch):
    a = gpu([1.0, 2.0], requires_grad=True)
    out = (a * a).sum()
    monkeypatch.setattr(runtime, "cuda", _FailInAccumulation(runtime.cuda))
    with pytest.raises(runtime.DeviceOutOfMemory, match="8 bytes"):
        out.backward()
    assert a.grad is None


def test_allocation_larger_than_the_device_names_the_size(monkeypatch):
    monkeypatch.setattr(runtime, "_total_memory", lambda: 1024.0)
    with pytest.raises(runtime.DeviceOutOfMemory, match=r"4096 bytes\) for an array of shape \(32, 32\)"):
        jg.zeros(32, 32, device="cuda")


# ----- compiled mode -----------------------------------------------------------------------------


def _f(x, y):
    return (jg.sin(x) * y + 1).sum()


def _pair(dtype=np.float64):
    rng = np.random.default_rng(1)
    return rng.standard_normal(5).astype(dtype), rng.standard_normal(5).astype(dtype)


def test_jit_on_gpu_gives_the_cpu_result_and_the_cache_is_keyed_by_device():
    xn, yn = _pair()
    fn = jg.jit(_f)
    rc = fn(jg.tensor(xn), jg.tensor(yn))
    xg, yg = gpu(xn), gpu(yn)
    rg = fn(xg, yg)
    assert rg.is_cuda and not rc.is_cuda
    np.testing.assert_allclose(host(rg), rc.numpy(), rtol=1e-12)
    assert len(fn._cache) == 2  # one executable per device
    exe = fn.executable(xg, yg)
    assert exe.device == "cuda" and fn.executable(jg.tensor(xn), jg.tensor(yn)).device == "cpu"
    src = fn.source(xg, yg)
    assert f"# device: {runtime.device_key()}" in src and "cuda.jit" in src
    assert runtime.device_key() not in fn.source(jg.tensor(xn), jg.tensor(yn))
    fn(xg, yg)
    fn(gpu(yn), gpu(xn))
    assert len(fn._cache) == 2 and fn.executable(xg, yg) is exe  # repeat calls reuse the entry
    with pytest.raises(RuntimeError, match="two devices, cuda:0 and cpu"):
        fn(jg.tensor(xn), yg)


def test_grad_and_value_and_grad_on_gpu_match_cpu():
    xn, yn = _pair()
    cpu_args, gpu_args = (jg.tensor(xn), jg.tensor(yn)), (gpu(xn), gpu(yn))
    g = jg.grad(_f, argnums=(0, 1))
    for a, b in zip(g(*cpu_args), g(*gpu_args)):
        assert b.is_cuda
        np.testing.assert_allclose(host(b), a.numpy(), rtol=1e-12)
    vg = jg.value_and_grad(_f)
    (vc, gc), (vgpu, ggpu) = vg(*cpu_args), vg(*gpu_args)
    assert vgpu.is_cuda and ggpu.is_cuda
    np.testing.assert_allclose(host(vgpu), vc.numpy(), rtol=1e-12)
    np.testing.assert_allclose(host(ggpu), gc.numpy(), rtol=1e-12)
    np.testing.assert_allclose(host(ggpu), np.cos(xn) * yn, rtol=1e-12)


def test_jit_grad_on_gpu_accumulates_into_gpu_grads_and_captures_gpu_parameters():
    xn, yn = _pair(np.float32)
    w = gpu(yn, requires_grad=True)
    fn = jg.jit_grad(lambda x: (jg.tanh(x * w) ** 2).mean())
    x = gpu(xn, requires_grad=True)
    out = fn(x)
    assert out.is_cuda and out.grad_fn.name() == "CompiledFunctionBackward"
    out.backward()
    xe, we = jg.tensor(xn, requires_grad=True), jg.tensor(yn, requires_grad=True)
    ref = (jg.tanh(xe * we) ** 2).mean()
    ref.backward()
    np.testing.assert_allclose(host(out), ref.detach().numpy(), rtol=1e-5)
    assert x.grad.is_cuda and w.grad.is_cuda
    np.testing.assert_allclose(host(x.grad), xe.grad.numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(host(w.grad), we.grad.numpy(), rtol=1e-5, atol=1e-7)
    fn(x).backward()  # accumulates
    np.testing.assert_allclose(host(w.grad), 2 * we.grad.numpy(), rtol=1e-5, atol=1e-7)
    with pytest.raises(RuntimeError, match="two devices"):
        jg.jit_grad(lambda x: (x * jg.ones(5, requires_grad=True)).sum())(x)


def test_jit_grad_on_gpu_detects_inputs_modified_in_place():
    fn = jg.jit_grad(lambda x: (x.exp() * 2).sum())
    a = gpu([0.1, 0.2], requires_grad=True)
    b = a * 1
    out = fn(b)
    b.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.backward()


def test_compiled_gpu_function_indexing_with_a_captured_host_tensor():
    """Integer-array indexing with a captured host index tensor inside a compiled GPU function:
    one program (the index array moved to the GPU by the index call), no warning of any kind."""
    idx = jg.tensor([2, 0, 2])
    fn = jg.jit_grad(lambda x: (x[idx] * 3).sum())
    x = gpu([1.0, 2.0, 3.0], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = fn(x)
        out.backward()
    assert out.is_cuda and x.grad.is_cuda
    np.testing.assert_allclose(host(out), 21.0)
    np.testing.assert_allclose(host(x.grad), [3, 0, 6])


def test_out_of_memory_on_a_first_compiled_call_is_reported(monkeypatch):
    """A compiled GPU function that runs out of memory on its first call raises the memory error
    (naming the size), not a cache-rebuild error; the next call, with memory, works."""
    from jitgrad._kernels.cuda import runtime

    fn = jg.jit(lambda a: (a * a).sum(dim=0))
    x = gpu(np.arange(12.0).reshape(3, 4))
    monkeypatch.setattr(runtime, "_total_memory", lambda: 8.0)  # every allocation is "too large"
    with pytest.raises(runtime.DeviceOutOfMemory, match="bytes"):
        fn(x)
    monkeypatch.undo()
    np.testing.assert_allclose(host(fn(x)), (np.arange(12.0).reshape(3, 4) ** 2).sum(0))


def test_cuda_program_rebuild_recompiles_the_same_program():
    """CudaProgram.rebuild (used when a cached kernel file fails to load) gives a working program."""
    fn = jg.jit(lambda a: jg.tanh(a) * 2)
    x = gpu([0.5, -1.0, 2.0])
    expected = host(fn(x))
    compiled = fn.executable(x).compiled[0]
    compiled.rebuild()
    np.testing.assert_allclose(compiled(x._data)[0].copy_to_host(), expected)


@real_gpu_only
def test_cuda_array_interface_shares_memory_both_ways():
    """On a real GPU: Numba reads a jitgrad GPU tensor without a copy, and jg.from_dlpack takes
    any __cuda_array_interface__ object without a copy."""
    from numba import cuda

    t = gpu([1.0, 2.0, 3.0])
    view = cuda.as_cuda_array(t)
    assert view.__cuda_array_interface__["data"][0] == t.__cuda_array_interface__["data"][0]
    back = jg.from_dlpack(view)
    assert back.is_cuda and back._data.__cuda_array_interface__["data"][0] == view.__cuda_array_interface__["data"][0]
    np.testing.assert_array_equal(host(back), [1.0, 2.0, 3.0])
