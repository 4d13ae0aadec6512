"""Type aliases of the public API's annotations (imported under TYPE_CHECKING by the modules that
use them, so nothing here runs at import time except the aliases themselves)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Union

import numpy as np

if TYPE_CHECKING:
    from .devices import device
    from .dtypes import DType
    from .tensor import Tensor

Number = Union[bool, int, float]
#: What an op accepts as an operand: a Tensor, a NumPy array or scalar, or a Python number.
TensorLike = Union["Tensor", np.ndarray, np.generic, Number]
#: Nested Python sequences of numbers, NumPy arrays, tensors: what jg.tensor() reads.
ArrayLike = Union["Tensor", np.ndarray, np.generic, Number, Sequence]
#: A dim argument of a reduction: one dim, several, or None for all of them.
Dims = Union[int, Sequence[int], None]
#: A shape: a sequence of sizes (or the sizes as separate arguments, `jg.zeros(2, 3)`).
ShapeLike = Union[int, Sequence[int]]
#: A dtype: jitgrad's (jg.float32, which equals np.dtype('float32')), NumPy's, a type or a name.
DTypeLike = Union["DType", np.dtype, type, str, None]
#: A device: "cpu", "cuda", "cuda:1", a jg.device, or a GPU index.
DeviceLike = Union["device", str, int, None]
