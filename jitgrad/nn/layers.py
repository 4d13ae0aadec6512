"""Layers: Linear, Bilinear, the basic activations, Flatten/Unflatten/Identity, and the containers
Sequential/ModuleList."""
from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import numpy as np

from .. import dtypes, prims
from ..core import TensorBase
from ..tensor import Tensor
from . import functional as F  # noqa: N812 - PyTorch's spelling
from . import functional_layers as FL  # noqa: N812
from . import init
from .module import Module
from .parameter import Parameter

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from collections.abc import Sequence
    from typing import Any

    from .._typing import DTypeLike


class Linear(Module):
    """y = x @ weight.T + bias, with PyTorch's default init: U(-1/sqrt(in), 1/sqrt(in)) for both."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype: DTypeLike = None) -> None:
        super().__init__()
        for name, n in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
                raise ValueError(f"Linear: {name} must be a non-negative int, got {n!r}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        dt = dtypes.as_dtype(dtype)
        self.weight = Parameter(Tensor._wrap(np.empty((self.out_features, self.in_features), dtype=dt)))
        if bias:
            self.bias = Parameter(Tensor._wrap(np.empty((self.out_features,), dtype=dt)))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-uniform weight (a=sqrt(5)) and a bias in the same +-1/sqrt(fan_in) range."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: TensorBase) -> TensorBase:  # noqa: A002
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class ReLU(Module):
    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: TensorBase) -> TensorBase:  # noqa: A002
        return F.relu(input, self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Tanh(Module):
    def forward(self, input: TensorBase) -> TensorBase:  # noqa: A002
        return F.tanh(input)


class Sigmoid(Module):
    def forward(self, input: TensorBase) -> TensorBase:  # noqa: A002
        return F.sigmoid(input)


class Softmax(Module):
    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: TensorBase) -> TensorBase:  # noqa: A002
        return F.softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    def forward(self, input: TensorBase) -> TensorBase:  # noqa: A002
        return F.log_softmax(input, self.dim)


class Identity(Module):
    def forward(self, input: TensorBase) -> TensorBase:  # noqa: A002
        return input


class Flatten(Module):
    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input: TensorBase) -> TensorBase:  # noqa: A002
        return prims.flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Splits dimension `dim` into `unflattened_size` (the inverse of Flatten)."""

    def __init__(self, dim: int, unflattened_size: Sequence[int]) -> None:
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, input: TensorBase) -> TensorBase:  # noqa: A002
        x = prims.as_tensor_operand(input)
        dim = self.dim % x.ndim if x.ndim else 0
        sizes = list(self.unflattened_size)
        known = int(np.prod([s for s in sizes if s != -1]))
        if sizes.count(-1) > 1 or (-1 not in sizes and known != x.shape[dim]) or \
                (-1 in sizes and (known == 0 or x.shape[dim] % known)):
            raise RuntimeError(f"unflatten: Provided sizes {list(self.unflattened_size)} don't multiply up to the "
                               f"size of dim {self.dim} ({x.shape[dim]}) in the input tensor")
        return prims.reshape(x, tuple(x.shape[:dim]) + tuple(sizes) + tuple(x.shape[dim + 1:]))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class Bilinear(Module):
    """y = x1^T A x2 + b with weight A of shape (out, in1, in2), init U(-1/sqrt(in1), 1/sqrt(in1))."""

    def __init__(self, in1_features: int, in2_features: int, out_features: int, bias: bool = True,
                 dtype: DTypeLike = None) -> None:
        super().__init__()
        self.in1_features, self.in2_features, self.out_features = in1_features, in2_features, out_features
        dt = dtypes.as_dtype(dtype)
        self.weight = Parameter(Tensor._wrap(np.empty((out_features, in1_features, in2_features), dtype=dt)))
        if bias:
            self.bias = Parameter(Tensor._wrap(np.empty((out_features,), dtype=dt)))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1 / math.sqrt(self.in1_features) if self.in1_features > 0 else 0.0
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1: TensorBase, input2: TensorBase) -> TensorBase:
        return FL.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")


class _IndexedModules(Module):
    """Children named '0', '1', ...: indexing, len, iteration and append shared by the containers."""

    def _index(self, idx: int) -> str:
        n = len(self._modules)
        if not isinstance(idx, (int, np.integer)) or not -n <= idx < n:
            raise IndexError(f"index {idx} is out of range for {type(self).__name__} of length {n}")
        return list(self._modules)[idx % n]

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return type(self)(*list(self._modules.values())[idx])
        return self._modules[self._index(idx)]

    def __setitem__(self, idx: int, module: Module) -> None:
        self.add_module(self._index(idx), module)

    def __delitem__(self, idx: int) -> None:
        modules = list(self._modules.values())
        del modules[idx]
        self._modules.clear()
        for i, m in enumerate(modules):
            self.add_module(str(i), m)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module) -> Any:
        self.add_module(str(len(self._modules)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> Any:
        for m in modules:
            self.append(m)
        return self


class Sequential(_IndexedModules):
    """Calls its modules in order; Sequential(m0, m1, ...) or Sequential(OrderedDict(name=module))."""

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(modules):
                if not isinstance(m, Module):
                    raise TypeError(f"Sequential: argument {i} is a {type(m).__name__}, not a Module")
                self.add_module(str(i), m)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return Sequential(OrderedDict(list(self._modules.items())[idx]))
        return super().__getitem__(idx)

    def forward(self, input: Any) -> Any:  # noqa: A002
        out = input
        for m in self._modules.values():
            out = m(out)
        return out


class ModuleList(_IndexedModules):
    """A list of modules whose parameters are registered (it has no forward of its own)."""

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return ModuleList(list(self._modules.values())[idx])
        return super().__getitem__(idx)
