"""Convolution, pooling and batch-norm layers: PyTorch's init, outputs and gradients with copied
weights, running statistics, train/eval, state_dict, and bad input named as PyTorch names it."""
from __future__ import annotations

import math

import numpy as np
import pytest

import jitgrad
from jitgrad import nn

torch = pytest.importorskip("torch")


def _copy_params(src, dst) -> None:
    """Copy torch module `src`'s state into jitgrad module `dst` (same names)."""
    dst.load_state_dict({k: v.detach().numpy().copy() for k, v in src.state_dict().items()})


def _compare(jmod, tmod, shape, seed=0, rtol=1e-9, atol=1e-10):
    """Outputs, input gradients and parameter gradients agree (float64)."""
    x = np.random.default_rng(seed).standard_normal(shape)
    jx, tx = jitgrad.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    jy, ty = jmod(jx), tmod(tx)
    np.testing.assert_allclose(jy.detach().numpy(), ty.detach().numpy(), rtol=rtol, atol=atol)
    g = np.random.default_rng(seed + 1).standard_normal(ty.shape)
    jy.backward(jitgrad.tensor(g))
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(jx.grad.numpy(), tx.grad.numpy(), rtol=rtol, atol=atol)
    tparams = dict(tmod.named_parameters())
    for name, p in jmod.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tparams[name].grad.numpy(), rtol=rtol, atol=atol, err_msg=name)


@pytest.mark.parametrize("kwargs", [
    dict(kernel_size=3), dict(kernel_size=3, stride=2, padding=1, bias=False),
    dict(kernel_size=(3, 2), padding="same", dilation=2), dict(kernel_size=3, groups=2, padding=(1, 0)),
    dict(kernel_size=3, groups=4, padding=1)], ids=str)
def test_conv2d_matches_torch(kwargs):
    out = 8 if kwargs.get("groups", 1) == 4 else 6
    t = torch.nn.Conv2d(4, out, **kwargs).double()
    j = nn.Conv2d(4, out, dtype=jitgrad.float64, **kwargs)
    _copy_params(t, j)
    _compare(j, t, (2, 4, 7, 6))


def test_conv1d_matches_torch():
    t = torch.nn.Conv1d(3, 5, 3, stride=2, padding=2, dilation=2).double()
    j = nn.Conv1d(3, 5, 3, stride=2, padding=2, dilation=2, dtype=jitgrad.float64)
    _copy_params(t, j)
    _compare(j, t, (2, 3, 11))


def test_default_init_is_pytorchs_and_seeded():
    """kaiming_uniform(a=sqrt(5)) gives U(+-1/sqrt(fan_in)); the bias the same bound; same seed, same weights."""
    jitgrad.manual_seed(3)
    a = nn.Conv2d(16, 32, 3)
    jitgrad.manual_seed(3)
    b = nn.Conv2d(16, 32, 3)
    np.testing.assert_array_equal(a.weight.detach().numpy(), b.weight.detach().numpy())
    bound = 1 / math.sqrt(16 * 9)
    w = a.weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound
    assert np.abs(a.bias.detach().numpy()).max() <= bound
    assert a.weight.dtype == np.float32 and a.weight.shape == (32, 16, 3, 3)


@pytest.mark.parametrize("layer", ["max", "max-ceil", "avg", "avg-exclude", "adaptive", "adaptive-global",
                                   "adaptive-max"])
def test_pooling_layers_match_torch(layer):
    make = {"max": lambda m: m.MaxPool2d(3, 2, 1), "max-ceil": lambda m: m.MaxPool2d(2, ceil_mode=True),
            "avg": lambda m: m.AvgPool2d(3, 2, 1),
            "avg-exclude": lambda m: m.AvgPool2d(3, 2, 1, count_include_pad=False),
            "adaptive": lambda m: m.AdaptiveAvgPool2d((3, 4)),
            "adaptive-global": lambda m: m.AdaptiveAvgPool2d(1),
            "adaptive-max": lambda m: m.AdaptiveMaxPool2d((4, 5))}[layer]
    _compare(make(nn), make(torch.nn), (2, 3, 7, 9))


def test_max_pool_return_indices_match_torch():
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 7))
    jv, ji = nn.MaxPool2d(3, 2, 1, return_indices=True)(jitgrad.tensor(x))
    tv, ti = torch.nn.MaxPool2d(3, 2, 1, return_indices=True)(torch.tensor(x))
    np.testing.assert_array_equal(ji.numpy(), ti.numpy())
    assert ji.dtype == np.int64
    np.testing.assert_array_equal(jv.numpy(), tv.numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_max_pool_padding_never_wins_eager_and_compiled(dtype):
    # Windows of -inf values (and NaN) next to padding: the index is an in-image position, as
    # PyTorch's; eager mode padded with -inf, which won such windows and pointed outside the image.
    x = np.full((1, 2, 3, 4), -np.inf, dtype)
    x[0, 1, 1, 2] = np.nan
    x[0, 1, 2, 0] = 5

    def pool(t):
        return jitgrad.nn.functional.max_pool2d(t, 3, 2, 1, ceil_mode=True, return_indices=True)
    tv, ti = torch.nn.functional.max_pool2d(torch.tensor(x.astype(np.float32)), 3, 2, 1, ceil_mode=True,
                                             return_indices=True)
    for fn in (pool, jitgrad.jit(pool)):
        jv, ji = fn(jitgrad.tensor(x))
        np.testing.assert_array_equal(ji.numpy(), ti.numpy())
        np.testing.assert_array_equal(jv.numpy(), tv.numpy().astype(dtype))


def test_adaptive_max_pool_indices_match_torch_with_nan_and_ties():
    x = np.random.default_rng(2).integers(0, 3, (2, 3, 7, 5)).astype(np.float32)
    x[1, 2, 3, 1] = np.nan
    jv, ji = jitgrad.nn.functional.adaptive_max_pool2d(jitgrad.tensor(x), (3, 2), return_indices=True)
    tv, ti = torch.nn.functional.adaptive_max_pool2d(torch.tensor(x), (3, 2), return_indices=True)
    np.testing.assert_array_equal(ji.numpy(), ti.numpy())
    np.testing.assert_array_equal(jv.numpy(), tv.numpy())


def test_batchnorm2d_train_and_eval_match_torch():
    t = torch.nn.BatchNorm2d(3).double()
    j = nn.BatchNorm2d(3, dtype=jitgrad.float64)
    with torch.no_grad():
        t.weight.uniform_(0.5, 1.5)
        t.bias.uniform_(-0.5, 0.5)
    _copy_params(t, j)
    for step in range(3):
        _compare(j, t, (4, 3, 5, 5), seed=step)
    for key, value in t.state_dict().items():
        np.testing.assert_allclose(j.state_dict()[key].numpy(), value.numpy(), rtol=1e-12, err_msg=key)
    assert int(j.num_batches_tracked.item()) == 3
    assert [n for n, _ in j.named_buffers()] == ["running_mean", "running_var", "num_batches_tracked"]
    j.eval()
    t.eval()
    _compare(j, t, (2, 3, 4, 4), seed=7)
    assert int(j.num_batches_tracked.item()) == 3  # eval leaves the statistics alone


def test_batchnorm_cumulative_average_and_no_running_stats():
    for kwargs in (dict(momentum=None), dict(track_running_stats=False), dict(affine=False)):
        t = torch.nn.BatchNorm2d(2, **kwargs).double()
        j = nn.BatchNorm2d(2, dtype=jitgrad.float64, **kwargs)
        for step in range(2):
            _compare(j, t, (3, 2, 3, 3), seed=step)
        assert sorted(j.state_dict()) == sorted(t.state_dict())
        for key, value in t.state_dict().items():
            np.testing.assert_allclose(j.state_dict()[key].numpy(), value.numpy(), rtol=1e-12, err_msg=key)


def test_channel_mismatch_names_expected_and_given_shapes():
    conv = nn.Conv2d(3, 8, 3)
    with pytest.raises(RuntimeError, match=r"expected input\[8, 4, 64, 64\] to have 3 channels, but got 4 "
                                           r"channels instead"):
        conv(jitgrad.zeros(8, 4, 64, 64))
    with pytest.raises(RuntimeError, match=r"Expected 3D \(unbatched\) or 4D \(batched\) input to conv2d, but got "
                                           r"input of size: \[64, 64\]"):
        conv(jitgrad.zeros(64, 64))
    with pytest.raises(RuntimeError, match=r"Kernel size: \(3 x 3\). Kernel size can't be greater"):
        conv(jitgrad.zeros(1, 3, 2, 2))
    with pytest.raises(RuntimeError, match="Expected 2D \\(unbatched\\) or 3D"):
        nn.Conv1d(3, 4, 3)(jitgrad.zeros(1, 3, 5, 5))
    with pytest.raises(ValueError, match="expected 4D input \\(got 3D input\\)"):
        nn.BatchNorm2d(3)(jitgrad.zeros(3, 4, 4))
    with pytest.raises(RuntimeError, match=r"expected input\[2, 4, 5, 5\] to have 3 channels, but got 4"):
        nn.BatchNorm2d(3)(jitgrad.zeros(2, 4, 5, 5))
    with pytest.raises(ValueError, match="padding='same' is not supported for strided convolutions"):
        nn.Conv2d(3, 3, 3, stride=2, padding="same")
    with pytest.raises(RuntimeError, match="Expected 3D or 4D"):
        nn.MaxPool2d(2)(jitgrad.zeros(4, 4))
    with pytest.raises(RuntimeError, match="pad should be at most half"):
        nn.MaxPool2d(2, padding=2)(jitgrad.zeros(1, 1, 4, 4))


def test_torch_raises_the_same_exception_types():
    """The error types above are PyTorch's (checked against torch itself)."""
    with pytest.raises(RuntimeError, match="to have 3 channels, but got 4 channels instead"):
        torch.nn.Conv2d(3, 8, 3)(torch.zeros(8, 4, 64, 64))
    with pytest.raises(ValueError, match="expected 4D input"):
        torch.nn.BatchNorm2d(3)(torch.zeros(3, 4, 4))


def test_load_state_dict_reports_missing_and_unexpected_keys():
    bn = nn.BatchNorm2d(2)
    state = dict(bn.state_dict())
    del state["running_var"]
    state["extra"] = np.zeros(2)
    with pytest.raises(RuntimeError, match=r'Missing key\(s\) in state_dict: "running_var"\.[\s\S]*'
                                           r'Unexpected key\(s\) in state_dict: "extra"\.'):
        bn.load_state_dict(state)
    state["running_mean"] = np.full(2, 5.0, dtype=np.float32)
    result = bn.load_state_dict(state, strict=False)
    assert result.missing_keys == ["running_var"] and result.unexpected_keys == ["extra"]
    np.testing.assert_array_equal(bn.running_mean.numpy(), [5.0, 5.0])


def test_sequential_cnn_matches_torch_and_flatten():
    def build(m, **kw):
        return m.Sequential(m.Conv2d(3, 4, 3, padding=1, **kw), m.BatchNorm2d(4, **kw), m.ReLU(), m.MaxPool2d(2),
                            m.Flatten(), m.Linear(4 * 2 * 2, 3, **kw))
    t = build(torch.nn, dtype=torch.float64)
    j = build(nn, dtype=jitgrad.float64)
    _copy_params(t, j)
    _compare(j, t, (2, 3, 4, 4))


def test_groupnorm_upsample_pixelshuffle_layers_match_torch():
    t = torch.nn.GroupNorm(2, 4).double()
    j = nn.GroupNorm(2, 4, dtype=jitgrad.float64)
    with torch.no_grad():
        t.weight.uniform_(0.5, 1.5)
        t.bias.uniform_(-0.5, 0.5)
    _copy_params(t, j)
    _compare(j, t, (2, 4, 3, 5))
    _compare(nn.Upsample(scale_factor=2, mode="bilinear"), torch.nn.Upsample(scale_factor=2, mode="bilinear"),
             (1, 2, 3, 4))
    _compare(nn.Upsample(size=(4, 7)), torch.nn.Upsample(size=(4, 7)), (1, 2, 3, 4))
    _compare(nn.PixelShuffle(3), torch.nn.PixelShuffle(3), (1, 18, 2, 3))


def test_dropout2d_zeroes_whole_channels_and_is_identity_in_eval():
    jitgrad.manual_seed(0)
    layer = nn.Dropout2d(0.5)
    x = jitgrad.ones(4, 16, 3, 3, requires_grad=True)
    y = layer(x)
    per_channel = y.detach().numpy().reshape(4, 16, 9)
    assert set(np.unique(per_channel)) <= {0.0, 2.0}
    assert (per_channel.min(-1) == per_channel.max(-1)).all()  # whole channels dropped or kept
    assert 0 < (per_channel[..., 0] == 0).sum() < 64
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.detach().numpy())
    layer.eval()
    assert layer(x) is x or np.array_equal(layer(x).detach().numpy(), x.detach().numpy())


def test_image_function_errors():
    F = nn.functional  # noqa: N806
    with pytest.raises(RuntimeError, match="Padding size should be less than the corresponding input dimension"):
        F.pad(jitgrad.zeros(1, 1, 3, 3), (3, 0), mode="reflect")
    with pytest.raises(ValueError, match="padding mode 'circular' is not supported"):
        F.pad(jitgrad.zeros(1, 1, 3, 3), (1, 1), mode="circular")
    with pytest.raises(ValueError, match="only one of size or scale_factor"):
        F.interpolate(jitgrad.zeros(1, 1, 3, 3))
    with pytest.raises(RuntimeError, match="divisible by the square of upscale_factor"):
        F.pixel_shuffle(jitgrad.zeros(1, 3, 2, 2), 2)
    with pytest.raises(ValueError, match="num_channels must be divisible by num_groups"):
        nn.GroupNorm(3, 4)
    with pytest.raises(ValueError, match="dropout probability"):
        nn.Dropout2d(1.5)


def test_conv_transpose2d_layer_matches_torch_and_inits_like_it():
    kwargs = dict(stride=2, padding=1, output_padding=1, groups=2, dilation=1)
    t = torch.nn.ConvTranspose2d(4, 6, 3, **kwargs).double()
    j = nn.ConvTranspose2d(4, 6, 3, dtype=jitgrad.float64, **kwargs)
    assert j.weight.shape == tuple(t.weight.shape) == (4, 3, 3, 3)
    bound = 1 / math.sqrt(3 * 9)  # PyTorch's fan_in of a transposed weight: dim 1 times the kernel
    assert np.abs(j.weight.detach().numpy()).max() <= bound and np.abs(j.bias.detach().numpy()).max() <= bound
    _copy_params(t, j)
    _compare(j, t, (2, 4, 5, 4))
    with pytest.raises(RuntimeError, match=r"expected input\[2, 3, 5, 5\] to have 4 channels"):
        j(jitgrad.zeros(2, 3, 5, 5, dtype=jitgrad.float64))


def test_fold_and_unfold_errors():
    with pytest.raises(RuntimeError, match="Only 3D or 4D input"):
        nn.functional.unfold(jitgrad.zeros(3, 4), 2)
    with pytest.raises(RuntimeError, match="number of sliding blocks 2 \\* 2 = 4, but got input.size\\(1\\)=8 and "
                                           "input.size\\(2\\)=5"):
        nn.functional.fold(jitgrad.zeros(1, 8, 5), (3, 3), 2)
