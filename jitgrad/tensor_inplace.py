"""The in-place operators and methods of Tensor (a mixin): each computes the new value out of place
and writes it into the tensor's storage through inplace.inplace, which bumps the version counter
and rewrites the autograd history."""
from __future__ import annotations

from typing import TYPE_CHECKING

from . import core, prims
from .core import Symbolic, TensorBase
from .inplace import inplace as _inplace

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from typing import Any

    from ._typing import Number, TensorLike
    from .tensor import Tensor


class TensorInplaceOps:
    """x[i] = v, +=, -=, *=, /= and the trailing-underscore methods (add_, sin_, zero_, copy_, ...)."""

    __slots__ = ()

    # ----- in-place operators and methods -----------------------------------------------------

    def __setitem__(self, index: Any, value: TensorLike) -> None:
        _inplace(self, "setitem", lambda src: prims.setitem(src, index, value), (value,))

    def __iadd__(self, other: TensorLike) -> Tensor:
        return _inplace(self, "add_", lambda src: prims.add(src, other), (other,))

    def __isub__(self, other: TensorLike) -> Tensor:
        return _inplace(self, "sub_", lambda src: prims.sub(src, other), (other,))

    def __imul__(self, other: TensorLike) -> Tensor:
        return _inplace(self, "mul_", lambda src: prims.mul(src, other), (other,))

    def __itruediv__(self, other: TensorLike) -> Tensor:
        return _inplace(self, "div_", lambda src: prims.div(src, other), (other,))

    def add_(self, other: TensorLike, alpha: Number = 1) -> Tensor:
        """In place: ``self += alpha * other`` (bumps the version counter).

        Example:
            >>> x = jg.tensor([1.0, 2.0])
            >>> x.add_(1.0)
            tensor([2., 3.])
            >>> x
            tensor([2., 3.])
        """
        return _inplace(self, "add_", lambda src: prims.add(src, other, alpha=alpha), (other,))

    def sub_(self, other: TensorLike, alpha: Number = 1) -> Tensor:
        """In place: ``self -= alpha * other``.

        Example:
            >>> x = jg.tensor([1.0, 2.0])
            >>> x.sub_(0.5)
            tensor([0.5000, 1.5000])
        """
        return _inplace(self, "sub_", lambda src: prims.sub(src, other, alpha=alpha), (other,))

    def mul_(self, other: TensorLike) -> Tensor:
        """In place: ``self *= other``.

        Example:
            >>> x = jg.tensor([1.0, 2.0])
            >>> x.mul_(3)
            tensor([3., 6.])
            >>> x
            tensor([3., 6.])
        """
        return _inplace(self, "mul_", lambda src: prims.mul(src, other), (other,))

    def div_(self, other: TensorLike) -> Tensor:
        """In place: ``self /= other``.

        Example:
            >>> x = jg.tensor([1.0, 2.0])
            >>> x.div_(2)
            tensor([0.5000, 1.0000])
        """
        return _inplace(self, "div_", lambda src: prims.div(src, other), (other,))

    def pow_(self, exponent: TensorLike) -> Tensor:
        """In place: ``self **= exponent``.

        Example:
            >>> x = jg.tensor([1.0, 2.0])
            >>> x.pow_(2)
            tensor([1., 4.])
        """
        return _inplace(self, "pow_", lambda src: prims.pow(src, exponent), (exponent,))

    def clamp_(self, min: TensorLike | None = None, max: TensorLike | None = None) -> Tensor:  # noqa: A002
        """In place: self clamped to [min, max].

        Example:
            >>> x = jg.tensor([-2.0, 2.0])
            >>> x.clamp_(-1, 1)
            tensor([-1.,  1.])
        """
        return _inplace(self, "clamp_", lambda src: prims.clamp(src, min, max), (min, max))

    clip_ = clamp_

    def neg_(self) -> Tensor:
        """In place: self = -self.

        Example:
            >>> jg.tensor([1.0, -2.0]).neg_()
            tensor([-1.,  2.])
        """
        return _inplace(self, "neg_", prims.neg)

    def abs_(self) -> Tensor:
        """In place: ``self = |self|``.

        Example:
            >>> jg.tensor([1.0, -2.0]).abs_()
            tensor([1., 2.])
        """
        return _inplace(self, "abs_", prims.abs)

    def exp_(self) -> Tensor:
        """In place: self = exp(self).

        Example:
            >>> jg.tensor([0.0]).exp_()
            tensor([1.])
        """
        return _inplace(self, "exp_", prims.exp)

    def log_(self) -> Tensor:
        """In place: self = log(self).

        Example:
            >>> jg.tensor([1.0]).log_()
            tensor([0.])
        """
        return _inplace(self, "log_", prims.log)

    def sqrt_(self) -> Tensor:
        """In place: self = sqrt(self).

        Example:
            >>> jg.tensor([4.0]).sqrt_()
            tensor([2.])
        """
        return _inplace(self, "sqrt_", prims.sqrt)

    def sin_(self) -> Tensor:
        """In place: self = sin(self).

        Example:
            >>> jg.tensor([0.0]).sin_()
            tensor([0.])
        """
        return _inplace(self, "sin_", prims.sin)

    def cos_(self) -> Tensor:
        """In place: self = cos(self).

        Example:
            >>> jg.tensor([0.0]).cos_()
            tensor([1.])
        """
        return _inplace(self, "cos_", prims.cos)

    def tanh_(self) -> Tensor:
        """In place: self = tanh(self).

        Example:
            >>> jg.tensor([0.0]).tanh_()
            tensor([0.])
        """
        return _inplace(self, "tanh_", prims.tanh)

    def sigmoid_(self) -> Tensor:
        """In place: self = sigmoid(self).

        Example:
            >>> jg.tensor([0.0]).sigmoid_()
            tensor([0.5000])
        """
        return _inplace(self, "sigmoid_", prims.sigmoid)

    def relu_(self) -> Tensor:
        """In place: self = max(self, 0).

        Example:
            >>> jg.tensor([-1.0, 1.0]).relu_()
            tensor([0., 1.])
        """
        return _inplace(self, "relu_", prims.relu)

    def zero_(self) -> Tensor:
        """In place: every value set to 0.

        Example:
            >>> x = jg.ones(2)
            >>> x.zero_()
            tensor([0., 0.])
        """
        return _inplace(self, "zero_", lambda src: prims.mul(src, 0) if src.requires_grad
                        else type(src)._wrap(core.full_like_data(src._data, src.shape, src.dtype, 0)))

    def fill_(self, value: TensorLike) -> Tensor:
        """In place: every value set to `value`.

        Example:
            >>> x = jg.zeros(2)
            >>> x.fill_(3.0)
            tensor([3., 3.])
        """
        def fill(src):
            if isinstance(value, TensorBase):
                filled = prims.expand(prims.cast(value, src.dtype), src.shape)
            else:
                filled = type(src)._wrap(core.full_like_data(src._data, src.shape, src.dtype, value))
            return filled if not src.requires_grad else prims.add(prims.mul(src, 0), filled)
        return _inplace(self, "fill_", fill, (value,))

    def copy_(self, src_tensor: TensorLike) -> Tensor:
        """In place: the values of `src_tensor` (broadcast to self's shape) copied into self.

        Example:
            >>> x = jg.zeros(2)
            >>> x.copy_(jg.tensor([1.0, 2.0]))
            tensor([1., 2.])
        """
        def copy(src):
            value = prims.cast(prims.as_tensor_operand(src_tensor), src.dtype)
            if not isinstance(value._data, Symbolic) and not isinstance(src._data, Symbolic) \
                    and value.device != src.device:  # copy_ crosses devices, as in PyTorch (differentiably)
                value = prims.to_device(value, src.device)
            value = prims.expand(value, src.shape)
            return value if not src.requires_grad else prims.add(prims.mul(src, 0), value)
        return _inplace(self, "copy_", copy, (src_tensor,))
