"""Convolution, pooling and batch normalisation (torch.nn.functional's names and argument
checks): conv2d/conv1d bind the conv primitives; pooling and batch norm are composed from
primitives (gather on max-pool indices, depthwise conv, matmul with bin matrices, reductions),
so every gradient comes from VJP rules declared once."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .. import core, prims, prims_conv
from ..core import Symbolic, TensorBase
from ..grad_mode import no_grad

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from typing import Any


def _constant(values, dtype, like: TensorBase) -> TensorBase:
    """A constant (no grad) in `dtype` on the device where `like` lives."""
    out = prims.lift(values, dtype, like=like)
    if not core.on_host(like._data) and not isinstance(like._data, Symbolic):
        out = prims.to_device(out, like.device)
    return out


def _pair(value, name: str, n: int = 2) -> tuple:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return (int(value),) * n
    value = tuple(int(v) for v in value)
    if len(value) == 1:
        return value * n
    if len(value) != n:
        raise RuntimeError(f"expected {name} to be a single integer value or a list of {n} values, got {list(value)}")
    return value


def _sizes(t: TensorBase) -> str:
    return str(list(t.shape))


def _conv_padding(padding, stride, dilation, kernel) -> tuple:
    """(top, bottom, left, right) from an int, a pair, 'valid' or 'same' (extra on the high side, as PyTorch)."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding != "same":
            raise ValueError(f"Invalid padding string '{padding}', should be one of {{'valid', 'same'}}")
        if any(s != 1 for s in stride):
            raise ValueError("padding='same' is not supported for strided convolutions")
        out = []
        for d, k in zip(dilation, kernel, strict=True):
            total = d * (k - 1)
            out += [total // 2, total - total // 2]
        return tuple(out)
    ph, pw = _pair(padding, "padding")
    if ph < 0 or pw < 0:
        raise RuntimeError("negative padding is not supported")
    return (ph, ph, pw, pw)


def _check_conv(name: str, input: TensorBase, weight: TensorBase, groups: int, rank: int) -> None:  # noqa: A002
    if input.ndim not in (rank + 1, rank + 2):
        raise RuntimeError(f"Expected {rank + 1}D (unbatched) or {rank + 2}D (batched) input to {name}, but got "
                           f"input of size: {_sizes(input)}")
    if weight.ndim != rank + 2:
        raise RuntimeError(f"Expected {rank + 2}-dimensional weight for {rank + 2}-dimensional input "
                           f"{_sizes(input)}, but got {weight.ndim}-dimensional weight of size {_sizes(weight)} "
                           f"instead")
    if groups < 1:
        raise RuntimeError("non-positive groups is not supported")
    if weight.shape[0] % groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, "
                           f"but got weight of size {_sizes(weight)} instead")
    channels = input.shape[input.ndim - rank - 1]
    if channels != weight.shape[1] * groups:
        shown = _sizes(input) if input.ndim == rank + 2 else str([1, *input.shape])
        raise RuntimeError(f"Given groups={groups}, weight of size {_sizes(weight)}, expected input{shown} to have "
                           f"{weight.shape[1] * groups} channels, but got {channels} channels instead")
    if input.dtype != weight.dtype:
        raise RuntimeError(f"Input type ({input.dtype}) and weight type ({weight.dtype}) should be the same")


def conv2d(input: TensorBase, weight: TensorBase, bias: TensorBase | None = None,  # noqa: A002
           stride: int | tuple[int, int] | None = 1, padding: int | tuple[int, int] = 0,
           dilation: int | tuple[int, int] = 1, groups: int = 1) -> TensorBase:
    """2-D cross-correlation over NCHW (or CHW) input, PyTorch's torch.nn.functional.conv2d."""
    input, weight = prims.as_tensor_operand(input), prims.as_tensor_operand(weight)
    _check_conv("conv2d", input, weight, groups, 2)
    batched = input.ndim == 4
    x = input if batched else prims.unsqueeze(input, 0)
    stride, dilation = _pair(stride, "stride"), _pair(dilation, "dilation")
    if any(s <= 0 for s in stride):
        raise RuntimeError("non-positive stride is not supported")
    if any(d <= 0 for d in dilation):
        raise RuntimeError("dilation should be greater than zero")
    kernel = tuple(weight.shape[2:])
    pad = _conv_padding(padding, stride, dilation, kernel)
    ph, pw = x.shape[2] + pad[0] + pad[1], x.shape[3] + pad[2] + pad[3]
    eff = (dilation[0] * (kernel[0] - 1) + 1, dilation[1] * (kernel[1] - 1) + 1)
    if ph < eff[0] or pw < eff[1]:
        raise RuntimeError(f"Calculated padded input size per channel: ({ph} x {pw}). Kernel size: "
                           f"({eff[0]} x {eff[1]}). Kernel size can't be greater than actual input size")
    out = prims_conv.conv2d(x, weight, stride, pad, dilation, groups)
    if bias is not None:
        bias = prims.as_tensor_operand(bias)
        if bias.shape != (weight.shape[0],):
            raise RuntimeError(f"Given weight of size {_sizes(weight)}, expected bias to be 1-dimensional with "
                               f"{weight.shape[0]} elements, but got bias of size {_sizes(bias)} instead")
        out = out + prims.reshape(bias, (1, -1, 1, 1))
    return out if batched else prims.squeeze(out, 0)


def conv1d(input: TensorBase, weight: TensorBase, bias: TensorBase | None = None,  # noqa: A002
           stride: int | tuple[int, int] | None = 1, padding: int | tuple[int, int] = 0,
           dilation: int | tuple[int, int] = 1, groups: int = 1) -> TensorBase:
    """1-D cross-correlation over NCL (or CL) input: conv2d with a height of one."""
    input, weight = prims.as_tensor_operand(input), prims.as_tensor_operand(weight)
    _check_conv("conv1d", input, weight, groups, 1)
    (stride,), (dilation,) = _pair(stride, "stride", 1), _pair(dilation, "dilation", 1)
    if not isinstance(padding, str):
        (padding,) = _pair(padding, "padding", 1)
        padding = (0, padding)
    out = conv2d(prims.unsqueeze(input, -2), prims.unsqueeze(weight, -2), bias, (1, stride), padding,
                 (1, dilation), groups)
    return prims.squeeze(out, -2)


def conv_transpose2d(input: TensorBase, weight: TensorBase, bias: TensorBase | None = None,  # noqa: A002
                     stride: int | tuple[int, int] | None = 1, padding: int | tuple[int, int] = 0,
                     output_padding: int | tuple[int, int] = 0, groups: int = 1,
                     dilation: int | tuple[int, int] = 1) -> TensorBase:
    """The transposed convolution (the input gradient of conv2d), weight (in, out/groups, kh, kw)."""
    input, weight = prims.as_tensor_operand(input), prims.as_tensor_operand(weight)
    if input.ndim not in (3, 4):
        raise RuntimeError(f"Expected 3D (unbatched) or 4D (batched) input to conv_transpose2d, but got input of "
                           f"size: {_sizes(input)}")
    if weight.ndim != 4:
        raise RuntimeError(f"Expected 4-dimensional weight for conv_transpose2d, got weight of size {_sizes(weight)}")
    channels = input.shape[input.ndim - 3]
    if channels != weight.shape[0] or weight.shape[0] % groups:
        shown = _sizes(input) if input.ndim == 4 else str([1, *input.shape])
        raise RuntimeError(f"Given transposed=1, weight of size {_sizes(weight)}, expected input{shown} to have "
                           f"{weight.shape[0]} channels, but got {channels} channels instead")
    if input.dtype != weight.dtype:
        raise RuntimeError(f"Input type ({input.dtype}) and weight type ({weight.dtype}) should be the same")
    x = input if input.ndim == 4 else prims.unsqueeze(input, 0)
    stride, dilation = _pair(stride, "stride"), _pair(dilation, "dilation")
    padding, output_padding = _pair(padding, "padding"), _pair(output_padding, "output_padding")
    if any(op >= max(s, d) for op, s, d in zip(output_padding, stride, dilation, strict=True)):
        raise RuntimeError(f"output padding must be smaller than either stride or dilation, but got "
                           f"output_padding={list(output_padding)}, stride={list(stride)}, dilation={list(dilation)}")
    out_hw = tuple((x.shape[2 + a] - 1) * stride[a] - 2 * padding[a] + dilation[a] * (weight.shape[2 + a] - 1)
                   + output_padding[a] + 1 for a in (0, 1))
    if min(out_hw) <= 0:
        raise RuntimeError(f"conv_transpose2d: the output size {list(out_hw)} is not positive for input "
                           f"{_sizes(input)}")
    pad = (padding[0], padding[0], padding[1], padding[1])
    out = prims_conv.conv2d_input_grad(x, weight, stride, pad, dilation, groups, out_hw)
    if bias is not None:
        out = out + prims.reshape(prims.as_tensor_operand(bias), (1, -1, 1, 1))
    return out if input.ndim == 4 else prims.squeeze(out, 0)


def _selector(channels: int, kernel, dtype, like) -> TensorBase:
    """(C*kh*kw, 1, kh, kw) one-hot kernels: grouped by channel, output c*kh*kw + i*kw + j picks tap (i, j)."""
    taps = kernel[0] * kernel[1]
    one_hot = np.eye(taps).reshape(taps, 1, *kernel)
    return _constant(np.tile(one_hot, (channels, 1, 1, 1)), dtype, like=like)


def unfold(input: TensorBase, kernel_size: int | tuple[int, int], dilation: int | tuple[int, int] = 1,
           padding: int | tuple[int, int] = 0, stride: int | tuple[int, int] | None = 1) -> TensorBase:  # noqa: A002
    """Sliding local blocks (N, C, H, W) -> (N, C*kh*kw, L): a grouped convolution with one-hot kernels."""
    input = prims.as_tensor_operand(input)
    if input.ndim not in (3, 4):
        raise RuntimeError(f"Input Error: Only 3D or 4D input Tensors are supported (got {input.ndim}D)")
    x = input if input.ndim == 4 else prims.unsqueeze(input, 0)
    kernel = _pair(kernel_size, "kernel_size")
    c = x.shape[1]
    out = conv2d(x, _selector(c, kernel, x.dtype, x), None, stride, padding, dilation, groups=c)
    out = prims.reshape(out, (x.shape[0], out.shape[1], -1))
    return out if input.ndim == 4 else prims.squeeze(out, 0)


def fold(input: TensorBase, output_size: int | tuple[int, int] | None, kernel_size: int | tuple[int, int],
         dilation: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0,
         stride: int | tuple[int, int] | None = 1) -> TensorBase:  # noqa: A002
    """The adjoint of unfold: (N, C*kh*kw, L) blocks summed into (N, C, H, W)."""
    input = prims.as_tensor_operand(input)
    if input.ndim not in (2, 3):
        raise RuntimeError(f"Input Error: Only unbatched (2D) or batched (3D) input Tensors are supported "
                           f"(got {input.ndim}D)")
    x = input if input.ndim == 3 else prims.unsqueeze(input, 0)
    kernel, size = _pair(kernel_size, "kernel_size"), _pair(output_size, "output_size")
    stride, dilation, padding = _pair(stride, "stride"), _pair(dilation, "dilation"), _pair(padding, "padding")
    taps = kernel[0] * kernel[1]
    blocks = [prims_conv.conv_out_size(size[a], kernel[a], stride[a], padding[a], padding[a], dilation[a])
              for a in (0, 1)]
    if x.shape[1] % taps or x.shape[2] != blocks[0] * blocks[1]:
        raise RuntimeError(f"Given output_size={list(size)}, kernel_size={list(kernel)}, dilation={list(dilation)}, "
                           f"padding={list(padding)}, stride={list(stride)}, expected size of input's dimension 1 "
                           f"to be divisible by the product of kernel_size and dimension 2 to match the calculated "
                           f"number of sliding blocks {blocks[0]} * {blocks[1]} = {blocks[0] * blocks[1]}, but got "
                           f"input.size(1)={x.shape[1]} and input.size(2)={x.shape[2]}")
    c = x.shape[1] // taps
    cols = prims.reshape(x, (x.shape[0], x.shape[1], *blocks))
    pad = (padding[0], padding[0], padding[1], padding[1])
    out = prims_conv.conv2d_input_grad(cols, _selector(c, kernel, x.dtype, x), stride, pad, dilation, c, size)
    return out if input.ndim == 3 else prims.squeeze(out, 0)


# ---------------------------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------------------------


def _check_pool(name: str, input: TensorBase, kernel, stride, padding) -> None:  # noqa: A002
    if input.ndim not in (3, 4):
        raise RuntimeError(f"{name}: Expected 3D or 4D (batch mode) tensor for input, but got input of size: "
                           f"{_sizes(input)}")
    if any(k <= 0 for k in kernel):
        raise RuntimeError(f"{name}: kernel_size must be greater than zero, but got {list(kernel)}")
    if any(s <= 0 for s in stride):
        raise RuntimeError(f"{name}: stride must be greater than zero, but got {list(stride)}")
    if any(p > k // 2 for p, k in zip(padding, kernel, strict=True)):
        raise RuntimeError(f"{name}: pad should be at most half of effective kernel size, but got "
                           f"pad={list(padding)}, kernel_size={list(kernel)}")


def _pool_args(name, input, kernel_size, stride, padding, dilation=1):  # noqa: A002
    kernel = _pair(kernel_size, "kernel_size")
    stride = kernel if stride is None or (not isinstance(stride, int) and len(stride) == 0) else _pair(stride, "stride")
    padding, dilation = _pair(padding, "padding"), _pair(dilation, "dilation")
    _check_pool(name, input, kernel, stride, padding)
    return kernel, stride, padding, dilation


def _batched(input: TensorBase) -> TensorBase:  # noqa: A002
    return input if input.ndim == 4 else prims.unsqueeze(input, 0)


def _check_out(name, x, out_hw):
    if out_hw[0] <= 0 or out_hw[1] <= 0:
        raise RuntimeError(f"{name}: Given input size: {list(x.shape[1:])}. Calculated output size: "
                           f"{[x.shape[1], *out_hw]}. Output size is too small")


def max_pool2d(input: TensorBase, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None,  # noqa: A002
               padding: int | tuple[int, int] = 0, dilation: int | tuple[int, int] = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Any:
    """Maximum over each window; with return_indices also the flat h*W+w index of each maximum."""
    input = prims.as_tensor_operand(input)
    kernel, stride, padding, dilation = _pool_args("max_pool2d", input, kernel_size, stride, padding, dilation)
    x = _batched(input)
    n, c, h, w = x.shape
    _check_out("max_pool2d", x, tuple(prims_conv.pool_out_size(x.shape[2 + a], kernel[a], stride[a], padding[a],
                                                               dilation[a], ceil_mode) for a in (0, 1)))
    idx = prims_conv.max_pool2d_indices(x.detach(), kernel, stride, padding, dilation, ceil_mode)
    oh, ow = idx.shape[2:]
    out = prims.reshape(prims.gather(prims.reshape(x, (n, c, h * w)), 2, prims.reshape(idx, (n, c, oh * ow))),
                        (n, c, oh, ow))
    if input.ndim == 3:
        out, idx = prims.squeeze(out, 0), prims.squeeze(idx, 0)
    return (out, idx) if return_indices else out


def adaptive_max_pool2d(input: TensorBase, output_size: int | tuple[int, int] | None,
                        return_indices: bool = False) -> Any:  # noqa: A002
    """Maximum over PyTorch's adaptive bins; with return_indices also the flat h*W+w index of each."""
    input = prims.as_tensor_operand(input)
    if input.ndim not in (3, 4):
        raise RuntimeError(f"adaptive_max_pool2d(): Expected 3D or 4D tensor, but got: {_sizes(input)}")
    x = _batched(input)
    n, c, h, w = x.shape
    sizes = (output_size,) * 2 if isinstance(output_size, (int, np.integer)) else tuple(output_size)
    sizes = tuple(x.shape[2 + a] if sizes[a] is None else int(sizes[a]) for a in (0, 1))
    if min(sizes) <= 0 or h == 0 or w == 0:
        raise RuntimeError(f"adaptive_max_pool2d(): output size {list(sizes)} and input size {_sizes(input)} must "
                           "be positive")
    idx = prims_conv.adaptive_max_pool2d_indices(x.detach(), sizes)
    out = prims.reshape(prims.gather(prims.reshape(x, (n, c, h * w)), 2, prims.reshape(idx, (n, c, -1))),
                        (n, c, *sizes))
    if input.ndim == 3:
        out, idx = prims.squeeze(out, 0), prims.squeeze(idx, 0)
    return (out, idx) if return_indices else out


def _depthwise_sum(x: TensorBase, kernel, stride, pad) -> TensorBase:
    """Window sums of every channel: a conv2d of (N*C, 1, H, W) with a kernel of ones
    (pad = (top, bottom, left, right) zeros)."""
    n, c, h, w = x.shape
    ones = _constant(np.ones((1, 1, *kernel)), x.dtype, like=x)
    out = prims_conv.conv2d(prims.reshape(x, (n * c, 1, h, w)), ones, stride, pad, (1, 1), 1)
    return prims.reshape(out, (n, c, *out.shape[2:]))


def avg_pool2d(input: TensorBase, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None,  # noqa: A002
               padding: int | tuple[int, int] = 0, ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> TensorBase:
    """Mean over each window (a depthwise convolution with a constant kernel, so it is linear).
    Divisors as PyTorch: the window's cells inside the padded input (count_include_pad) or
    inside the input itself; windows that ceil_mode adds past the padding count only what they cover."""
    input = prims.as_tensor_operand(input)
    kernel, stride, padding, _ = _pool_args("avg_pool2d", input, kernel_size, stride, padding)
    x = _batched(input)
    h, w = x.shape[2:]
    out_hw = tuple(prims_conv.pool_out_size(x.shape[2 + a], kernel[a], stride[a], padding[a], 1, ceil_mode)
                   for a in (0, 1))
    _check_out("avg_pool2d", x, out_hw)
    # Zeros past the right/bottom padding where ceil_mode's last window reaches beyond it.
    extra = [max(0, (out_hw[a] - 1) * stride[a] + kernel[a] - x.shape[2 + a] - 2 * padding[a]) for a in (0, 1)]
    pad = (padding[0], padding[0] + extra[0], padding[1], padding[1] + extra[1])
    sums = _depthwise_sum(x, kernel, stride, pad)
    if divisor_override:
        out = sums / float(divisor_override)
    elif not any(extra) and (count_include_pad or not any(padding)):
        out = sums / float(kernel[0] * kernel[1])
    else:
        if count_include_pad:  # cells of the padded input, not of ceil_mode's overhang
            mask, mask_pad = np.ones((1, 1, h + 2 * padding[0], w + 2 * padding[1])), (0, extra[0], 0, extra[1])
        else:
            mask, mask_pad = np.ones((1, 1, h, w)), pad
        counts = _depthwise_sum(_constant(mask, x.dtype, like=x), kernel, stride, mask_pad)
        out = sums / counts
    return out if input.ndim == 4 else prims.squeeze(out, 0)


def _bin_matrix(size: int, out: int, dtype) -> np.ndarray:
    """(out, size) averaging matrix of adaptive pooling: row i averages [floor(i*size/out), ceil((i+1)*size/out))."""
    m = np.zeros((out, size))
    for i in range(out):
        start, end = (i * size) // out, -((-(i + 1) * size) // out)
        m[i, start:end] = 1.0 / (end - start)
    return m.astype(dtype)


def adaptive_avg_pool2d(input: TensorBase, output_size: int | tuple[int, int] | None) -> TensorBase:  # noqa: A002
    """Mean over PyTorch's adaptive bins: B_h @ x @ B_w^T with constant bin matrices (a global
    mean when the output is 1x1)."""
    input = prims.as_tensor_operand(input)
    if input.ndim not in (3, 4):
        raise RuntimeError(f"adaptive_avg_pool2d(): Expected 3D or 4D tensor, but got {_sizes(input)}")
    sizes = _pair(output_size, "output_size") if output_size is not None and not isinstance(output_size, (
        tuple, list)) else tuple(output_size)
    h, w = input.shape[input.ndim - 2:]
    oh, ow = (h if sizes[0] is None else sizes[0]), (w if sizes[1] is None else sizes[1])
    if oh == 1 and ow == 1:
        return prims.mean(input, (-2, -1), keepdim=True)
    bh = _constant(_bin_matrix(h, oh, input.dtype), input.dtype, like=input)
    bw = _constant(_bin_matrix(w, ow, input.dtype).T, input.dtype, like=input)
    return prims.matmul(prims.matmul(bh, input), bw)


# ---------------------------------------------------------------------------------------------
# Batch normalisation
# ---------------------------------------------------------------------------------------------


def batch_norm(input: TensorBase, running_mean: TensorBase | None, running_var: TensorBase | None,  # noqa: A002
               weight: TensorBase | None = None, bias: TensorBase | None = None, training: bool = False,
               momentum: float | TensorBase = 0.1, eps: float = 1e-5) -> TensorBase:
    """Normalise each channel (dim 1) by batch statistics (training; running stats updated in
    place with ``momentum`` (a number, or a 0-d tensor), the variance unbiased) or by the running
    statistics (eval).

    >>> import jitgrad as jg
    >>> rm, rv = jg.zeros(2), jg.ones(2)
    >>> y = jg.nn.functional.batch_norm(jg.tensor([[1.0, 2.0], [3.0, 6.0]]), rm, rv, training=True)
    >>> rm
    tensor([0.2000, 0.4000])
    """
    input = prims.as_tensor_operand(input)
    if input.ndim < 2:
        raise ValueError(f"expected 2D or more input (got {input.ndim}D input)")
    c = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is not None and tuple(t.shape) != (c,):
            raise RuntimeError(f"batch_norm: expected {name} to have shape [{c}] (the input's channels), "
                               f"got {_sizes(t)}")
    shape = (1, c) + (1,) * (input.ndim - 2)
    dims = (0, *range(2, input.ndim))
    if training:
        count = int(np.prod(input.shape)) // c
        if count <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size {_sizes(input)}")
        mean = prims.mean(input, dims, keepdim=True)
        centred = input - mean
        var = prims.mean(centred * centred, dims, keepdim=True)
        if running_mean is not None or running_var is not None:
            # In place under no_grad: a compiled (traced) function functionalises these writes and
            # writes the final running statistics back into the buffers after each call.
            with no_grad():
                if running_mean is not None:
                    running_mean.mul_(1 - momentum).add_(prims.reshape(mean.detach(), (c,)) * momentum)
                if running_var is not None:
                    unbiased = prims.reshape(var.detach(), (c,)) * (count / (count - 1))
                    running_var.mul_(1 - momentum).add_(unbiased * momentum)
        scale = 1.0 / prims.sqrt(var + eps)  # per channel: the full-size tensor is touched once
    else:
        if running_mean is None or running_var is None:
            raise RuntimeError("batch_norm: running_mean and running_var must be given when training=False")
        centred = input - prims.reshape(running_mean, shape)
        scale = prims.reshape(1.0 / prims.sqrt(running_var + eps), shape)
    if weight is not None:
        scale = scale * prims.reshape(weight, shape)
    out = centred * scale
    if bias is not None:
        out = out + prims.reshape(bias, shape)
    return out
