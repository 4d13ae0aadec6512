"""Stateless network functions (PyTorch's torch.nn.functional), composed from jitgrad ops so
their gradients come from the primitives' VJP rules. This module is the namespace: the functions
live in the functional_* modules by family."""
from __future__ import annotations

from .. import unsupported as _unsupported
from ..shape_ops import one_hot  # noqa: F401 - re-exported under torch.nn.functional's name
from .functional_activation import dropout, elu, gelu, hardtanh, leaky_relu, relu6, silu, softplus  # noqa: F401
from .functional_attention import multi_head_attention_forward, scaled_dot_product_attention  # noqa: F401
from .functional_basic import (  # noqa: F401
    _REDUCTIONS,
    _check_reduction,
    _one_hot_mask,
    _reduce,
    _softmax_dim,
    cross_entropy_unsmoothed,
    linear,
    log_softmax,
    mse_loss,
    nll_loss_indices,
    relu,
    sigmoid,
    softmax,
    tanh,
)
from .functional_conv import (  # noqa: F401 - re-exported under torch.nn.functional's names
    adaptive_avg_pool2d,
    adaptive_max_pool2d,
    avg_pool2d,
    batch_norm,
    conv1d,
    conv2d,
    conv_transpose2d,
    fold,
    max_pool2d,
    unfold,
)
from .functional_image import dropout2d, group_norm, interpolate, pad, pixel_shuffle  # noqa: F401
from .functional_layers import bilinear, embedding, layer_norm  # noqa: F401
from .functional_loss import (  # noqa: F401
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cosine_embedding_loss,
    cross_entropy,
    huber_loss,
    kl_div,
    l1_loss,
    margin_ranking_loss,
    nll_loss,
    smooth_l1_loss,
)

# PyTorch names jitgrad lacks: a clear AttributeError (see jitgrad/unsupported).
__getattr__ = _unsupported.module_getattr(__name__)
