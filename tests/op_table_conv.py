"""Op-table cases of the convolution, pooling and batch-norm ops (added to op_table.CASES, so
gradcheck to second order, the PyTorch oracle and the compiled-vs-eager checks run on them)."""
from __future__ import annotations

from jitgrad import prims_conv

_COMPOSED = "torch records one native node; jitgrad composes the op from primitives"
_BIAS = "the bias is a broadcast add after the convolution (AddBackward0 on top)"
_OWN = "jitgrad's own backward primitive"
# Cases whose ops have no GPU kernels yet: on GPU tensors they run on the host (HostFallbackWarning).
# None: kernels/cuda/conv.py runs every convolution and pooling primitive.
HOST_FALLBACK_CASES: set[str] = set()
_P = dict(stride=(2, 1), padding=(1, 1, 0, 0), dilation=(1, 2), groups=2)


def _torch_input_grad(torch, g, w):
    return torch.nn.grad.conv2d_input((2, 4, 6, 7), w, g, stride=(2, 1), padding=(1, 0), dilation=(1, 2),
                                      groups=2)


def _torch_weight_grad(torch, x, g):
    return torch.nn.grad.conv2d_weight(x, (6, 2, 3, 2), g, stride=(2, 1), padding=(1, 0), dilation=(1, 2),
                                       groups=2)


def add_cases(case, s, Spec) -> None:  # noqa: N803 - the Spec class
    """Register the cases through op_table's `case` and spec helper `s`."""
    def conv(**kw):
        return lambda m, x, w: m.nn.functional.conv2d(x, w, **kw)

    case("conv2d", "conv2d", conv(), s(2, 3, 5, 5), s(4, 3, 3, 3))
    case("conv2d-stride-pad", "conv2d", conv(stride=2, padding=1), s(2, 3, 6, 5), s(4, 3, 3, 3))
    case("conv2d-groups-dilation", "conv2d", conv(groups=2, dilation=(2, 1), padding=(2, 0)),
         s(1, 4, 6, 5), s(6, 2, 3, 2))
    case("conv2d-same-even-kernel", "conv2d", conv(padding="same"), s(1, 2, 5, 4), s(3, 2, 2, 3),
         no_node_name=_COMPOSED)
    case("conv2d-depthwise", "conv2d", conv(groups=3, padding=1), s(2, 3, 4, 4), s(6, 1, 3, 3))
    case("conv2d-bias", "conv2d add reshape",
         lambda m, x, w, b: m.nn.functional.conv2d(x, w, b, stride=(1, 2), padding="valid"),
         s(2, 3, 5, 6), s(4, 3, 2, 2), s(4), no_node_name=_BIAS)
    case("conv2d-unbatched", "conv2d squeeze", conv(padding=1), s(3, 4, 4), s(2, 3, 3, 3), no_node_name=_COMPOSED)
    case("conv1d", "conv2d", lambda m, x, w: m.nn.functional.conv1d(x, w, stride=2, padding=1, dilation=2),
         s(2, 3, 9), s(4, 3, 3), no_node_name=_COMPOSED)
    case("conv2d_input_grad", "conv2d_input_grad",
         lambda m, g, w: prims_conv.conv2d_input_grad(g, w, input_hw=(6, 7), **_P), s(2, 6, 3, 5), s(6, 2, 3, 2),
         torch_fn=_torch_input_grad, no_node_name=_OWN)
    case("conv2d_weight_grad", "conv2d_weight_grad",
         lambda m, x, g: prims_conv.conv2d_weight_grad(x, g, kernel=(3, 2), **_P), s(2, 4, 6, 7), s(2, 6, 3, 5),
         torch_fn=_torch_weight_grad, no_node_name=_OWN)

    case("conv_transpose2d", "conv2d_input_grad add reshape",
         lambda m, x, w, b: m.nn.functional.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1,
                                                             groups=2),
         s(2, 4, 3, 2), s(4, 2, 3, 3), s(4), no_node_name=_BIAS)
    case("conv_transpose2d-stride1", "conv2d_input_grad",
         lambda m, x, w: m.nn.functional.conv_transpose2d(x, w, dilation=2), s(1, 3, 3, 4), s(3, 2, 2, 3),
         no_node_name=_COMPOSED)

    case("unfold", "conv2d reshape",
         lambda m, x: m.nn.functional.unfold(x, (2, 3), stride=2, padding=1, dilation=(1, 2)), s(2, 3, 5, 6),
         no_node_name=_COMPOSED)
    case("fold", "conv2d_input_grad reshape",
         lambda m, x: m.nn.functional.fold(x, (5, 6), (2, 3), stride=2, padding=1, dilation=(1, 2)), s(2, 12, 6),
         no_node_name=_COMPOSED)

    distinct = dict(domain="distinct")
    case("max_pool2d", "max_pool2d_indices gather",
         lambda m, x: m.nn.functional.max_pool2d(x, 3, 2, 1), s(2, 3, 7, 6, **distinct), no_node_name=_COMPOSED)
    case("max_pool2d-ceil-dilation", "max_pool2d_indices gather",
         lambda m, x: m.nn.functional.max_pool2d(x, 2, (2, 1), dilation=(1, 2), ceil_mode=True),
         s(1, 2, 5, 6, **distinct), no_node_name=_COMPOSED)
    case("max_pool2d-indices", "max_pool2d_indices",
         lambda m, x: m.nn.functional.max_pool2d(x, 3, 2, 1, return_indices=True)[1], s(2, 3, 7, 6, **distinct),
         grad=False)
    case("adaptive_max_pool2d", "adaptive_max_pool2d_indices gather",
         lambda m, x: m.nn.functional.adaptive_max_pool2d(x, (3, 2)), s(2, 3, 7, 5, **distinct),
         no_node_name=_COMPOSED)
    case("adaptive_max_pool2d-indices", "adaptive_max_pool2d_indices",
         lambda m, x: m.nn.functional.adaptive_max_pool2d(x, (4, 3), return_indices=True)[1],
         s(2, 3, 7, 5, **distinct), grad=False)
    case("avg_pool2d", "conv2d div", lambda m, x: m.nn.functional.avg_pool2d(x, 3, 2, 1), s(2, 3, 7, 6),
         no_node_name=_COMPOSED)
    case("avg_pool2d-ceil-exclude-pad", "conv2d div",
         lambda m, x: m.nn.functional.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
         s(1, 2, 6, 7), no_node_name=_COMPOSED)
    case("adaptive_avg_pool2d", "matmul",
         lambda m, x: m.nn.functional.adaptive_avg_pool2d(x, (3, 2)), s(2, 3, 7, 5), no_node_name=_COMPOSED)
    case("adaptive_avg_pool2d-global", "mean",
         lambda m, x: m.nn.functional.adaptive_avg_pool2d(x, 1), s(2, 3, 4, 5), no_node_name=_COMPOSED)
    case("batch_norm-train", "mean sub div sqrt mul add",
         lambda m, x, w, b: m.nn.functional.batch_norm(x, None, None, w, b, training=True),
         s(4, 3, 2, 3), s(3), s(3), no_node_name=_COMPOSED)
    case("batch_norm-eval", "sub mul add sqrt",
         lambda m, x, rm, rv, w, b: m.nn.functional.batch_norm(x, rm, rv, w, b, training=False, eps=1e-3),
         s(4, 3, 2, 3), Spec((3,), "real", False), Spec((3,), "pos", False), s(3), s(3), no_node_name=_COMPOSED)


def add_image_cases(case, s) -> None:
    """pad, interpolate, pixel_shuffle, group_norm: compositions of primitives (checked the same way)."""
    def fn(name, **kw):
        return lambda m, x: getattr(m.nn.functional, name)(x, **kw)

    case("pad-constant", "cat", fn("pad", pad=(1, 2, 0, 1), value=0.5), s(2, 3, 4, 5), no_node_name=_COMPOSED)
    case("pad-reflect", "getitem", fn("pad", pad=(2, 1, 1, 3), mode="reflect"), s(1, 2, 4, 5), no_node_name=_COMPOSED)
    case("pad-replicate", "getitem", fn("pad", pad=(1, 2, 2, 0), mode="replicate"), s(1, 2, 3, 4),
         no_node_name=_COMPOSED)
    case("interpolate-nearest", "getitem", fn("interpolate", scale_factor=2), s(1, 2, 3, 4), no_node_name=_COMPOSED)
    case("interpolate-nearest-size", "getitem", fn("interpolate", size=(5, 3)), s(1, 2, 3, 4),
         no_node_name=_COMPOSED)
    case("interpolate-bilinear", "getitem mul add", fn("interpolate", size=(5, 7), mode="bilinear",
                                                       align_corners=False), s(1, 2, 3, 4), no_node_name=_COMPOSED)
    case("interpolate-bilinear-corners", "getitem mul add",
         fn("interpolate", scale_factor=2, mode="bilinear", align_corners=True), s(1, 2, 3, 4), no_node_name=_COMPOSED)
    case("pixel_shuffle", "reshape permute", fn("pixel_shuffle", upscale_factor=2), s(2, 8, 3, 2),
         no_node_name=_COMPOSED)
    case("group_norm", "mean sub div sqrt mul add",
         lambda m, x, w, b: m.nn.functional.group_norm(x, 2, w, b), s(2, 4, 3, 2), s(4), s(4), no_node_name=_COMPOSED)
