"""jitgrad: PyTorch-style autograd on NumPy, with traced, fused Numba kernels.

This module only re-exports the public API; each name is defined in the module named below.
"""
from . import _layout  # noqa: F401 - first: in a checkout, jitgrad._kernels is the kernels/ folder
from . import autograd, cuda, distributed, models, nn, optim, utils, viz
from . import unsupported as _unsupported
from .creation import (arange, as_tensor, empty, empty_like, eye, from_dlpack, from_numpy, full, full_like,
                       initial_seed, linspace, manual_seed, normal, ones, ones_like, rand, rand_like, randint, randn,
                       randn_like, randperm, tensor, zeros, zeros_like)
from .devices import device, get_default_device, set_default_device
from .dtypes import (DType, bool_, double, float16, float32, float64, get_default_dtype, half, int8, int16, int32,
                     int64, long, set_default_dtype, short, uint8)
from .generator import Generator, default_generator
from .grad_mode import (enable_grad, inference_mode, is_grad_enabled, is_inference_mode_enabled, no_grad,
                        set_grad_enabled)
from .compiled import grad, jit, jit_grad, value_and_grad
from .linalg_ops import addmm, baddbmm, bmm, einsum, outer, tensordot
from .math_ops import (acos, acosh, allclose, asin, asinh, atan, atan2, atanh, clamp_max, clamp_min, cosh,
                       deg2rad, erf, erfc, exp2, fmod, hypot, isclose, isfinite, isin, isinf, isnan, log2, log10,
                       nan_to_num, rad2deg, remainder, floor_divide, rsqrt, signbit, sinc, sinh, square)
from .loops import fori_loop
from .prims import (broadcast_to, cast, cat, expand, flatten, gather, matmul, mm, narrow, permute, reshape, select,
                    squeeze, stack, t, transpose, unsqueeze)
# The op families' public wrappers, each listed in its module's __all__ next to the declarations
# (`def sin` in prims_elementwise.py, `def sum` in prims_reduce.py): a new op is not named here.
from . import prims_elementwise, prims_reduce
from .prims_elementwise import *  # noqa: F403
from .prims_reduce import *  # noqa: F403
from .random_ops import bernoulli, multinomial
from .reduce_ops import (all, any, argsort, cumprod, cumsum, histc, log_softmax, logsumexp, median, softmax, sort,
                         std_mean, topk, var_mean)
from .serialization import load, save
from .shape_ops import (chunk, diag, diag_embed, diagonal, flip, fliplr, flipud, index_select, masked_fill,
                        masked_select, repeat_interleave, roll, scatter, scatter_add, split, take_along_dim, tile,
                        trace, tril, triu, unbind)
from .tape import GradientTape
from .tensor import (Tensor, abs_, add_, clamp_, cos_, div_, exp_, fill_, log_, mul_, neg_, pow_, relu_,
                     sigmoid_, sin_, sqrt_, sub_, tanh_, zero_)
from .tracing import TracingError, make_ir
from .version import __version__

bool = bool_  # noqa: A001 - jitgrad.bool, as torch.bool
dtype = DType  # isinstance(x.dtype, jg.dtype), as torch.dtype
float = float32  # noqa: A001
clip = prims_elementwise.clamp
# jitgrad.trace is torch.trace (the sum of a matrix's diagonal, shape_ops); the IR tracer is
# jitgrad.make_ir (jax.make_jaxpr's role): make_ir(fn)(*args) is the traced graph.
negative = prims_elementwise.neg
multiply = prims_elementwise.mul
divide = prims_elementwise.div
true_divide = prims_elementwise.div
subtract = prims_elementwise.sub
concat = cat
concatenate = cat
ger = outer
arcsin, arccos, arctan, arcsinh, arccosh, arctanh, arctan2 = asin, acos, atan, asinh, acosh, atanh, atan2


__all__ = [  # the public API (mypy --strict reads re-exports from here)
    "all", "any", "floor_divide",
    "__version__", "autograd", "cuda", "distributed", "models", "nn", "optim", "utils", "viz", "arange", "as_tensor",
    "empty", "empty_like", "eye", "from_dlpack", "from_numpy", "full", "full_like", "get_default_device",
    "initial_seed", "linspace", "manual_seed", "normal", "ones", "ones_like", "rand", "rand_like", "randint",
    "randn", "randn_like", "set_default_device", "tensor", "zeros", "zeros_like", "device", "bool_", "double",
    "float32", "float64", "get_default_dtype", "int32", "int64", "long", "set_default_dtype", "DType", "dtype",
    "float16", "half", "int8", "int16", "short", "uint8", "enable_grad",
    "is_grad_enabled", "no_grad", "set_grad_enabled", "grad", "jit", "jit_grad", "value_and_grad", "broadcast_to",
    "cast", "cat", "expand", "flatten", "gather", "matmul", "mm", "narrow", "permute", "reshape", "select",
    "squeeze", "stack", "t", "transpose", "unsqueeze", "load", "save", "GradientTape", "Tensor", "abs_", "add_",
    "clamp_", "cos_", "div_", "exp_", "fill_", "log_", "mul_", "neg_", "pow_", "relu_", "sigmoid_", "sin_", "sqrt_",
    "sub_", "tanh_", "zero_", "TracingError", "make_ir", "bool", "float", "clip", "negative", "multiply", "divide",
    "true_divide", "subtract", "concat", "concatenate",
    # the ops of math_ops, shape_ops, reduce_ops, linalg_ops and random_ops (issue 15), random generators,
    # inference mode
    "acos", "acosh", "addmm", "allclose", "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctan2", "arctanh",
    "argsort", "asin", "asinh", "atan", "atan2", "atanh", "baddbmm", "bernoulli", "bmm", "chunk", "clamp_max",
    "clamp_min", "cosh", "cumprod", "cumsum", "deg2rad", "diag", "diag_embed", "diagonal", "einsum", "erf", "erfc",
    "exp2", "flip", "fliplr", "flipud", "fmod", "ger", "histc", "hypot", "index_select", "isclose", "isfinite",
    "isin", "isinf", "isnan", "log10", "log2", "log_softmax", "logsumexp", "masked_fill", "masked_select", "median",
    "multinomial", "nan_to_num", "outer", "rad2deg", "remainder", "repeat_interleave", "roll", "rsqrt", "scatter",
    "scatter_add", "signbit", "sinc", "sinh", "softmax", "sort", "split", "square", "std_mean", "take_along_dim",
    "tensordot", "tile", "topk", "trace", "tril", "triu", "unbind", "var_mean", "Generator", "randperm",
    "inference_mode", "is_inference_mode_enabled",
]
__all__ += prims_elementwise.__all__
__all__ += prims_reduce.__all__

# PyTorch names jitgrad lacks: a clear AttributeError (see jitgrad/unsupported).
__getattr__ = _unsupported.module_getattr(__name__)
