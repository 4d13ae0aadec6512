"""Convolution, pooling, normalisation, dropout and resizing layers (torch.nn's names, arguments, parameter and buffer
names, and default initialisation)."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .. import dtypes, prims
from ..core import Symbolic, TensorBase
from ..grad_mode import no_grad
from ..tensor import Tensor
from . import functional_conv as F  # noqa: N812 - PyTorch's spelling
from . import functional_image as FI  # noqa: N812
from . import init
from .module import Module
from .parameter import Parameter

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from typing import Any

    from .._typing import DTypeLike, ShapeLike


def _tuple(value, n: int) -> tuple:
    return (int(value),) * n if isinstance(value, (int, np.integer)) else tuple(int(v) for v in value)


class _ConvNd(Module):
    """Weight (out, in/groups, *kernel) and bias (out,), initialised as PyTorch does:
    kaiming_uniform(a=sqrt(5)) and U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""

    _rank = 2
    _transposed = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] | None = 1, padding: int | tuple[int, int] = 0,
                 dilation: int | tuple[int, int] = 1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 dtype: DTypeLike = None) -> None:
        super().__init__()
        n = self._rank
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups:
            raise ValueError("out_channels must be divisible by groups")
        if padding_mode != "zeros":
            raise ValueError(f"padding_mode {padding_mode!r} is not supported; only 'zeros' (pad the input with "
                             "jitgrad.nn.functional ops for other modes)")
        if isinstance(padding, str) and padding not in ("same", "valid"):
            raise ValueError(f"Invalid padding string {padding!r}, should be one of {{'valid', 'same'}}")
        self.in_channels, self.out_channels, self.groups = int(in_channels), int(out_channels), int(groups)
        self.kernel_size, self.stride, self.dilation = _tuple(kernel_size, n), _tuple(stride, n), _tuple(dilation, n)
        if padding == "same" and any(s != 1 for s in self.stride):
            raise ValueError("padding='same' is not supported for strided convolutions")
        self.padding = padding if isinstance(padding, str) else _tuple(padding, n)
        self.padding_mode = padding_mode
        dt = dtypes.as_dtype(dtype)
        shape = (self.out_channels, self.in_channels // self.groups, *self.kernel_size) if not self._transposed \
            else (self.in_channels, self.out_channels // self.groups, *self.kernel_size)
        self.weight = Parameter(Tensor._wrap(np.empty(shape, dtype=dt)))
        if bias:
            self.bias = Parameter(Tensor._wrap(np.empty((self.out_channels,), dtype=dt)))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * int(np.prod(self.kernel_size))
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self._rank:
            s += f", padding={self.padding!r}" if isinstance(self.padding, str) else f", padding={self.padding}"
        if self.dilation != (1,) * self._rank:
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class Conv2d(_ConvNd):
    """2-D convolution over (N, C, H, W) or (C, H, W) input."""

    def forward(self, input: TensorBase) -> TensorBase:  # noqa: A002
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class Conv1d(_ConvNd):
    """1-D convolution over (N, C, L) or (C, L) input."""

    _rank = 1

    def forward(self, input: TensorBase) -> TensorBase:  # noqa: A002
        return F.conv1d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class ConvTranspose2d(_ConvNd):
    """2-D transposed convolution; weight (in, out/groups, kh, kw), PyTorch's initialisation."""

    _transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] | None = 1, padding: int | tuple[int, int] = 0,
                 output_padding: int | tuple[int, int] = 0, groups: int = 1, bias: bool = True,
                 dilation: int | tuple[int, int] = 1, padding_mode: str = "zeros",
                 dtype: DTypeLike = None) -> None:
        if isinstance(padding, str):
            raise ValueError("ConvTranspose2d does not support string padding; give the padding as integers")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, dtype)
        self.output_padding = _tuple(output_padding, 2)

    def forward(self, input: TensorBase) -> TensorBase:  # noqa: A002
        return F.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding, self.output_padding,
                                  self.groups, self.dilation)


class MaxPool2d(Module):
    def __init__(self, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None,
                 padding: int | tuple[int, int] = 0, dilation: int | tuple[int, int] = 1, return_indices: bool = False,
                 ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, input: TensorBase) -> Any:  # noqa: A002
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                            self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    def __init__(self, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None,
                 padding: int | tuple[int, int] = 0, ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None) -> None:
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, input: TensorBase) -> TensorBase:  # noqa: A002
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    def __init__(self, output_size: int | tuple[int, int] | None) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input: TensorBase) -> TensorBase:  # noqa: A002
        return F.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(Module):
    def __init__(self, output_size: int | tuple[int, int] | None, return_indices: bool = False) -> None:
        super().__init__()
        self.output_size, self.return_indices = output_size, return_indices

    def forward(self, input: TensorBase) -> Any:  # noqa: A002
        return F.adaptive_max_pool2d(input, self.output_size, self.return_indices)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


def _cumulative_momentum(count: TensorBase, dtype) -> float | TensorBase:
    """1 / batches seen: a number in eager mode; while tracing a 0-d tensor computed from the
    counter (its value changes at every compiled call, so it cannot be a constant)."""
    if isinstance(count._data, Symbolic):
        return 1.0 / prims.cast(count, dtype)
    return 1.0 / float(count.item())


class _BatchNorm(Module):
    """Per-channel normalisation: batch statistics in training (running_mean/running_var
    updated with `momentum`, or a cumulative average when momentum is None), running
    statistics in eval mode; weight/bias when affine."""

    _input_ranks: tuple = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, dtype: DTypeLike = None) -> None:
        super().__init__()
        self.num_features, self.eps, self.momentum = int(num_features), eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        dt = dtypes.as_dtype(dtype)
        if affine:
            self.weight = Parameter(Tensor._wrap(np.ones((self.num_features,), dtype=dt)))
            self.bias = Parameter(Tensor._wrap(np.zeros((self.num_features,), dtype=dt)))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor._wrap(np.zeros((self.num_features,), dtype=dt)))
            self.register_buffer("running_var", Tensor._wrap(np.ones((self.num_features,), dtype=dt)))
            self.register_buffer("num_batches_tracked", Tensor._wrap(np.array(0, dtype=np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            with no_grad():
                self.running_mean.zero_()
                self.running_var.fill_(1.0)
                self.num_batches_tracked.zero_()

    def _check_input_dim(self, input: TensorBase) -> None:  # noqa: A002
        if input.ndim not in self._input_ranks:
            ranks = " or ".join(f"{r}D" for r in self._input_ranks)
            raise ValueError(f"expected {ranks} input (got {input.ndim}D input)")
        if input.shape[1] != self.num_features:
            raise RuntimeError(f"{type(self).__name__}: expected input{list(input.shape)} to have "
                               f"{self.num_features} channels, but got {input.shape[1]} channels instead")

    def forward(self, input: TensorBase) -> TensorBase:  # noqa: A002
        input = prims.as_tensor_operand(input)
        self._check_input_dim(input)
        momentum = 0.0 if self.momentum is None else self.momentum
        use_batch_stats = self.training or not self.track_running_stats
        if self.training and self.track_running_stats:
            with no_grad():
                self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative moving average
                momentum = _cumulative_momentum(self.num_batches_tracked, self.running_mean.dtype)
        update = self.training and self.track_running_stats
        return F.batch_norm(input, self.running_mean if update or not use_batch_stats else None,
                            self.running_var if update or not use_batch_stats else None,
                            self.weight, self.bias, use_batch_stats, momentum, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L) input."""

    _input_ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W) input."""

    _input_ranks = (4,)


class GroupNorm(Module):
    """Group normalisation (weight ones, bias zeros when affine)."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 dtype: DTypeLike = None) -> None:
        super().__init__()
        if num_channels % num_groups:
            raise ValueError("num_channels must be divisible by num_groups")
        self.num_groups, self.num_channels, self.eps, self.affine = int(num_groups), int(num_channels), eps, affine
        dt = dtypes.as_dtype(dtype)
        if affine:
            self.weight = Parameter(Tensor._wrap(np.ones((self.num_channels,), dtype=dt)))
            self.bias = Parameter(Tensor._wrap(np.zeros((self.num_channels,), dtype=dt)))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, input: TensorBase) -> TensorBase:  # noqa: A002
        return FI.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


class Dropout2d(Module):
    """Zeroes whole channels with probability p in training mode."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p

    def forward(self, input: TensorBase) -> TensorBase:  # noqa: A002
        return FI.dropout2d(input, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Upsample(Module):
    """interpolate() as a layer (nearest or bilinear)."""

    def __init__(self, size: ShapeLike | None = None, scale_factor: float | tuple[float, float] | None = None,
                 mode: str = "nearest", align_corners: bool | None = None) -> None:
        super().__init__()
        self.size, self.scale_factor, self.mode, self.align_corners = size, scale_factor, mode, align_corners

    def forward(self, input: TensorBase) -> TensorBase:  # noqa: A002
        return FI.interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners)

    def extra_repr(self) -> str:
        what = f"size={self.size}" if self.size is not None else f"scale_factor={self.scale_factor}"
        return f"{what}, mode='{self.mode}'"


class PixelShuffle(Module):
    def __init__(self, upscale_factor: int) -> None:
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, input: TensorBase) -> TensorBase:  # noqa: A002
        return FI.pixel_shuffle(input, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"
