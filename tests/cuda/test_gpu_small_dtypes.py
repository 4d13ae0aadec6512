"""int8, int16, uint8 and float16 tensors on the GPU (the simulator in CI): eager kernels keep the
dtype; compiled mode runs the integer ones and refuses float16 with a TypeError that says what to do
(the CPU kernels compute float16 in float32; the CUDA programs do not yet)."""
import numpy as np
import pytest
from gpu_targets import needs_cuda

import jitgrad as jg

pytestmark = needs_cuda


@pytest.mark.parametrize("name", ["int8", "int16", "uint8", "float16"])
def test_gpu_eager_keeps_small_dtypes(name):
    x = jg.tensor([1, 2, 100], dtype=getattr(jg, name), device="cuda")
    y = x * 3 + x
    assert y.dtype is getattr(jg, name) and y.device.type == "cuda"
    expected = (np.array([1, 2, 100], dtype=name) * np.array(3, dtype=name) + np.array([1, 2, 100], dtype=name))
    np.testing.assert_array_equal(y.cpu().numpy(), expected)


@pytest.mark.parametrize("name", ["int8", "int16", "uint8"])
def test_gpu_compiled_small_integers_wrap_as_eager(name):
    x = jg.tensor([1, 2, 100], dtype=getattr(jg, name), device="cuda")
    got = jg.jit(lambda a: a * 3 + a)(x)
    assert got.dtype is getattr(jg, name)
    np.testing.assert_array_equal(got.cpu().numpy(), (x * 3 + x).cpu().numpy())


def test_gpu_compiled_float16_is_refused_clearly():
    x = jg.tensor([1.0, 2.0], dtype=jg.float16, device="cuda")
    with pytest.raises(TypeError, match="float16 values are not supported in compiled mode on cuda; cast them"):
        jg.jit(lambda a: a * 2)(x)


def test_gpu_eager_float16_indexing_and_masks_keep_the_dtype():
    """Library calls on float16 GPU tensors (index arrays, gather, boolean masks, their
    gradients) compute in float32 and return float16, as on the CPU."""
    from jitgrad import prims
    xv = np.array([[1.5, -2.0, 3.25], [0.5, 4.0, -1.0]], np.float16)
    x = jg.tensor(xv, device="cuda", requires_grad=True)
    idx = jg.tensor(np.array([1, 0, 1]), device="cuda")
    picked = x[idx]
    gathered = x.gather(1, jg.tensor(np.array([[2], [0]]), device="cuda"))
    selected = prims.mask_select(x, x > 0, 0)
    for got, want in ((picked, xv[[1, 0, 1]]), (gathered, xv[[0, 1], [2, 0]][:, None]), (selected, xv[xv > 0])):
        assert got.dtype is jg.float16
        np.testing.assert_array_equal(got.detach().cpu().numpy(), want)
    ones = jg.tensor(np.ones(picked.shape, np.float16), device="cuda")
    picked.backward(ones)
    selected.backward(jg.tensor(np.ones(selected.shape, np.float16), device="cuda"))
    assert x.grad.dtype is jg.float16
    np.testing.assert_array_equal(x.grad.cpu().numpy(), np.array([[2, 1, 2], [3, 3, 2]], np.float16))


@pytest.mark.parametrize("op", ["sum", "mean0", "amax1", "argmax1", "max0", "var1", "norm"])
def test_gpu_eager_float16_reductions_accumulate_in_float32(op):
    """float16 reductions on the GPU (they raised "unsupported dtype 'float16'"): accumulated in
    float32 and rounded once, the CPU's values and dtypes."""
    fn = {"sum": lambda t: t.sum(), "mean0": lambda t: t.mean(0), "amax1": lambda t: t.amax(1),
          "argmax1": lambda t: t.argmax(1), "max0": lambda t: t.max(0).values, "var1": lambda t: t.var(1),
          "norm": lambda t: t.norm()}[op]
    a = np.random.default_rng(3).standard_normal((5, 4)).astype(np.float16)
    want = fn(jg.tensor(a))
    got = fn(jg.tensor(a, device="cuda"))
    assert got.dtype is want.dtype and got.device.type == "cuda"
    np.testing.assert_allclose(got.cpu().numpy().astype(np.float64), want.numpy().astype(np.float64),
                               rtol=2e-3, atol=2e-3)
