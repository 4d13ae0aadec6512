"""Parameter: a leaf Tensor that a Module registers as trainable when assigned as an attribute."""
from __future__ import annotations

import numpy as np

from .. import core, devices
from ..autograd_graph import VersionCounter
from ..core import TensorBase
from ..tensor import Tensor


class Parameter(Tensor):
    """A leaf tensor that requires grad (by default) and shares storage with the data it wraps.

    Ops on a Parameter return plain Tensors (as in PyTorch), so only what is assigned as a
    Parameter is registered by a Module."""

    _op_result = Tensor

    def __new__(cls, data=None, requires_grad: bool = True):
        if data is None:
            data = Tensor._wrap(np.zeros((0,), dtype=np.float32))
        if not isinstance(data, TensorBase):
            raise TypeError(f"Parameter(data) expects a jitgrad Tensor, got {type(data).__name__}; wrap "
                            "it first with jitgrad.tensor(...)")
        if data.grad_fn is not None:
            data = data.detach()
        param = TensorBase._wrap.__func__(cls, data._data, version=data._version_counter)
        param.requires_grad = requires_grad
        return param

    @staticmethod
    def _wrap(data, requires_grad: bool = False, grad_fn=None, version=None) -> Tensor:
        """Values derived from a Parameter (detach, .data, constants) are plain Tensors."""
        return Tensor._wrap(data, requires_grad=requires_grad, grad_fn=grad_fn, version=version)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__

    def __reduce_ex__(self, protocol):
        data = self._data
        if core.on_host(data):
            return (_rebuild_parameter, (np.array(data), self._requires_grad))
        return (_rebuild_parameter, (core.host_array(data), self._requires_grad, str(self.device)))

    def __deepcopy__(self, memo) -> Parameter:
        copy = _rebuild_parameter(core.copy_data(self._data), self._requires_grad)
        if self._grad is not None:
            copy._grad = Tensor._wrap(core.copy_data(self._grad._data))
        memo[id(self)] = copy
        return copy


def _rebuild_parameter(array, requires_grad: bool, device: str = "cpu") -> Parameter:
    """Unpickle / deep-copy helper: a Parameter with its own storage and version counter (a GPU
    parameter is pickled as host values plus its device, and unpickled onto that device)."""
    if device != "cpu":
        array = devices.backend(device).move(array, device)
    param = TensorBase._wrap.__func__(Parameter, array, version=VersionCounter())
    param.requires_grad = requires_grad
    return param
