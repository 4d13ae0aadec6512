"""The op table: every primitive, declared once, in one tuple (`ALL`, and `BY_NAME`), and the
public op wrappers re-exported so `prims.sin(x)` and `prims.SIN` name them in one place.

A declaration (core.Primitive) carries everything every layer needs: shape/dtype rule, NumPy
implementation, VJP rule written with jitgrad's own ops (so it runs eagerly, on tracers and to
any order), and for elementwise ops the scalar template fused kernels inline. Declarations live
with their wrappers, one module per op family, each importing only the families before it:

    prims_promotion    operands lifted to tensors; dtype promotion through `cast`
    prims_device       moves between devices (`to_device`)
    prims_elementwise  unary, binary, comparison, where, clamp; `unbroadcast`
    prims_mask         mask_select/mask_scatter (traced boolean masks)
    prims_index        getitem/setitem/unindex, gather/scatter_add, narrow/select
    prims_shape        reshape, expand, permute, transpose, squeeze, unsqueeze, cat, stack
    prims_reduce       sum, nansum, mean, max/min, prod, norm, var, std, argmax/argmin
    prims_matmul       matmul, mm
    prims_conv         conv2d (and its two VJP halves), max-pool argmax
    prims_math         more elementwise math: asin..atanh, erf, exp2/log2/log10, atan2, fmod, ...
    prims_scan         cumsum, cumprod, argsort
"""
from __future__ import annotations

from .core import lift
from .prims_conv import CONV_PRIMS
from .prims_device import (
    DEVICE_PRIMS,
    TO_DEVICE,
    constant_like,
    to_device,
)
from .prims_elementwise import (
    ABS,
    ADD,
    CLAMP,
    CLONE,
    COS,
    DIV,
    ELEMENTWISE_PRIMS,
    EQ,
    EXP,
    EXPM1,
    GE,
    GT,
    LE,
    LOG,
    LOG1P,
    LOGICAL_AND,
    LOGICAL_NOT,
    LOGICAL_OR,
    LT,
    MAXIMUM,
    MINIMUM,
    MUL,
    NE,
    NEG,
    POW,
    POW_SCALAR,
    RECIPROCAL,
    RELU,
    RPOW_SCALAR,
    RSUB_SCALAR,
    SIGMOID,
    SIGN,
    SIN,
    SQRT,
    STOP_GRADIENT,
    SUB,
    TAN,
    TANH,
    WHERE,
    abs,
    add,
    clamp,
    clone,
    cos,
    div,
    eq,
    exp,
    expm1,
    ge,
    gt,
    le,
    log,
    log1p,
    logical_and,
    logical_not,
    logical_or,
    lt,
    maximum,
    minimum,
    mul,
    ne,
    needs_grad,
    neg,
    pow,
    pow_scalar,
    quiet,
    rdiv_scalar,
    reciprocal,
    relu,
    rpow_scalar,
    rsub_scalar,
    sigmoid,
    sign,
    sin,
    sqrt,
    stop_gradient,
    sub,
    tan,
    tanh,
    unbroadcast,
    where,
    zero_constant_like,
)
from .prims_index import (
    GATHER,
    GETITEM,
    INDEX_PRIMS,
    SCATTER_ADD,
    SETITEM,
    UNINDEX,
    gather,
    getitem,
    getitem_spec,
    indexed_shape,
    narrow,
    scatter_add_to,
    select,
    setitem,
    setitem_spec,
    unindex,
)
from .prims_mask import MASK_PRIMS, MASK_SCATTER, MASK_SELECT, MaskCountChangedError, mask_scatter, mask_select
from .prims_math import MATH_PRIMS
from .prims_matmul import (
    MATMUL_PRIM,
    MATMUL_PRIMS,
    matmul,
    mm,
)
from .prims_promotion import (
    CAST,
    PROMOTION_PRIMS,
    as_floating,
    as_tensor_operand,
    cast,
    dtype_bounds,
    float_promoted,
    is_python_scalar,
    promoted,
)
from .prims_reduce import (
    AMAX,
    AMIN,
    ARGMAX,
    ARGMIN,
    MAX,
    MAX_DIM,
    MEAN,
    MIN,
    MIN_DIM,
    NANSUM,
    NORM,
    PROD,
    PROD_EXACT_MAX,
    REDUCTION_PRIMS,
    STD,
    SUM,
    VAR,
    MaxMin,
    amax,
    amin,
    argmax,
    argmin,
    max,
    mean,
    min,
    nansum,
    norm,
    prod,
    std,
    sum,
    var,
)
from .prims_scan import SCAN_PRIMS
from .prims_shape import (
    CAT,
    EXPAND,
    PERMUTE,
    RESHAPE,
    SHAPE_PRIMS,
    SQUEEZE,
    STACK,
    TRANSPOSE,
    UNSQUEEZE,
    broadcast_to,
    cat,
    expand,
    flatten,
    permute,
    reshape,
    squeeze,
    stack,
    t,
    transpose,
    unsqueeze,
)

# Every declared primitive, for the table-driven tests and the back ends: each family module lists
# its own declarations, so a new op is declared (and listed) in one file.
ALL = (ELEMENTWISE_PRIMS + PROMOTION_PRIMS + DEVICE_PRIMS + REDUCTION_PRIMS + MATMUL_PRIMS + SHAPE_PRIMS + INDEX_PRIMS
       + MASK_PRIMS + CONV_PRIMS + MATH_PRIMS + SCAN_PRIMS)
BY_NAME = {p.name: p for p in ALL}
