"""Traced boolean masks on CUDA (kernels/cuda/masks.py): the count pass and the compaction run on
the device, in NumPy's boolean-indexing order across many blocks; a compiled GPU function splits
only at the mask's count (no host or interpreter step for the selection); a count other than the
compiled one is refused, never a write past a buffer; a mask of the wrong shape raises PyTorch's
IndexError eagerly and compiled. Runs under Numba's simulator (tiny shapes):

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda/test_cuda_masks.py
"""
import warnings

import numpy as np
import pytest
from gpu_targets import needs_cuda
from op_table import BY_CASE_NAME, TRACED_MASK_CASES, jitgrad_fn, make_inputs

import jitgrad as jg

pytestmark = needs_cuda


def _masks():
    from jitgrad._kernels.cuda import masks, runtime
    return masks, runtime


@pytest.mark.parametrize("blocks,extra,density", [(0, 1, 1.0), (0, 5, 0.5), (3, 7, 0.3), (5, 0, 0.9), (2, 1, 0.0)])
def test_compaction_lists_true_positions_in_order_across_blocks(blocks, extra, density):
    """count_true and the compaction give np.flatnonzero's count and order for masks of one
    element up to several blocks and a partial one (all-True and all-False masks too)."""
    masks, runtime = _masks()
    n = blocks * masks.BLOCK + extra
    mask = np.random.default_rng(n).random(n) < density
    dev = runtime.to_device(mask)
    want = np.flatnonzero(mask)
    count = runtime.to_host(masks.count_true(dev))
    assert count.shape == () and int(count) == want.size
    err = runtime.full((1,), masks.NO_ERROR, np.int64)
    where = runtime.to_host(masks.selected(dev, want.size, err, 0))
    np.testing.assert_array_equal(where, want)
    assert int(runtime.to_host(err)[0]) == masks.NO_ERROR


def test_select_and_scatter_match_numpy_over_a_middle_view():
    """mask_select reads x[:, mask] through the (pre, m, post) view; mask_scatter puts g back
    into zeros (the adjoint), for a mask over two middle dims."""
    masks, runtime = _masks()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 5, 7, 3))
    mask = rng.random((5, 7)) < 0.4
    count = int(mask.sum())
    err = runtime.full((2,), masks.NO_ERROR, np.int64)
    out = masks.mask_select(runtime.to_device(x), runtime.to_device(mask), (2, 35, 3), count, err, 0, (2, count, 3))
    np.testing.assert_array_equal(runtime.to_host(out), x[:, mask])
    g = rng.standard_normal((2, count, 3))
    back = masks.mask_scatter(runtime.to_device(g), runtime.to_device(mask), (2, 35, 3), count, err, 1, x.shape)
    want = np.zeros_like(x)
    want[:, mask] = g
    np.testing.assert_array_equal(runtime.to_host(back), want)
    np.testing.assert_array_equal(runtime.to_host(err), [masks.NO_ERROR] * 2)


@pytest.mark.parametrize("count,word", [(2, "more"), (5, "fewer")])
def test_a_mask_with_another_count_is_refused_by_the_program_check(count, word):
    """A compaction compiled for `count` elements given a mask selecting 3: nothing is written
    past its buffers, and the program's error check raises the CPU kernel's RuntimeError."""
    masks, runtime = _masks()
    from jitgrad._kernels.cuda import indexed
    mask = runtime.to_device(np.array([True, False, True, True, False, False]))
    err = indexed.error_slots(1)
    out = masks.mask_select(runtime.to_device(np.arange(6.0)), mask, (1, 6, 1), count, err, 0, (count,))
    assert out.shape == (count,)
    with pytest.raises(RuntimeError, match=f"{word} elements"):
        indexed.check(err, ((masks.check, count),))


def test_compiled_gpu_masks_run_on_device_kernels_as_the_count_changes(monkeypatch):
    """jit_grad of a masked function on GPU tensors: PyTorch's (= CPU eager's) values and
    gradients for masks selecting 6, 0, 12 and again 6 elements, no host fallback and no
    interpreter segment, and the generated CUDA source runs the mask kernels."""
    from jitgrad import executable
    from jitgrad.cuda.eager import HostFallbackWarning

    monkeypatch.setattr(executable, "_warned_fallbacks", set())

    def f(x, y):
        return (x[y > 0] * 2).sin().sum()

    fn = jg.jit_grad(f)
    rng = np.random.default_rng(0)
    xv = rng.standard_normal((4, 3))
    six = np.where(np.arange(12).reshape(4, 3) % 2 == 0, 1.0, -1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", HostFallbackWarning)
        warnings.simplefilter("error", executable.InterpreterFallbackWarning)
        for mv in (six, -np.ones((4, 3)), np.ones((4, 3)), six):
            x = jg.tensor(xv, device="cuda", requires_grad=True)
            out = fn(x, jg.tensor(mv, device="cuda"))
            out.backward()
            sel = mv > 0
            np.testing.assert_allclose(out.item(), np.sin(xv[sel] * 2).sum(), rtol=1e-12)
            want = np.zeros_like(xv)
            want[sel] = 2 * np.cos(xv[sel] * 2)
            np.testing.assert_allclose(x.grad.cpu().numpy(), want, rtol=1e-12, atol=1e-15)
    g, args = jg.jit(f), (jg.tensor(xv, device="cuda"), jg.tensor(six, device="cuda"))
    g(*args)
    text = g.source(*args)
    assert "_mask.count_true(" in text and "_mask.mask_select(" in text
    assert "ends with the count pass of boolean mask" in text and "compiled for 6 selected elements" in text


@pytest.mark.parametrize("name", sorted(TRACED_MASK_CASES))
def test_mask_cases_run_the_mask_kernels_forward_and_backward(name):
    """Each traced-mask case of the op table, compiled for GPU tensors: the forward counts and
    compacts with the CUDA kernels, the backward puts the gradient back with mask_scatter."""
    case = BY_CASE_NAME[name]
    xs = [x.cuda() for x in make_inputs(case, np.float64)]
    fn = jg.jit_grad(jitgrad_fn(case))
    fn(*xs)
    forward, backward = fn.source(*xs).split("# backward\n")
    assert "_mask.count_true(" in forward and "_mask.mask_select(" in forward
    assert "_mask.mask_scatter(" in backward


@pytest.mark.parametrize("shape", [(2, 4), (4,), (3, 4, 1)])
def test_wrong_shape_mask_raises_torchs_index_error_on_gpu_eager_and_compiled(shape):
    """A mask whose shape does not match the dims it covers: IndexError naming both shapes,
    eagerly and compiled on GPU tensors, as on the CPU and in PyTorch."""
    x = jg.tensor(np.arange(12.0).reshape(3, 4), device="cuda", requires_grad=True)
    m = jg.tensor(np.ones(shape, bool), device="cuda")
    pattern = rf"mask {list(shape)}".replace("[", r"\[").replace("]", r"\]") + r".*tensor \[3, 4\]"
    for call in (lambda a, b: a[b].sum(), jg.jit_grad(lambda a, b: a[b].sum()), jg.jit(lambda a, b: a[b])):
        with pytest.raises(IndexError, match=pattern):
            call(x, m)
