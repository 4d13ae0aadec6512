"""The operators and out-of-place methods of Tensor (a mixin): each calls the op wrapper that
prims.py exports, so a tensor method and the function of the same name are one code path."""
from __future__ import annotations

import builtins

from . import prims, shapes


class TensorOps:
    """Operators (+, *, @, ==, [], ...) and math, reduction and shape methods of Tensor."""

    __slots__ = ()

    # ----- operators --------------------------------------------------------------------------

    def __add__(self, other):
        return prims.add(self, other)

    def __radd__(self, other):
        # Commutative: the tensor is operand 0, as PyTorch records `2 + b` (next_functions[0] is b's node).
        return prims.add(self, other)

    def __sub__(self, other):
        return prims.sub(self, other)

    def __rsub__(self, other):
        if prims.is_python_scalar(other):
            return prims.rsub_scalar(other, self)
        return prims.sub(other, self)

    def __mul__(self, other):
        return prims.mul(self, other)

    def __rmul__(self, other):
        # Commutative: the tensor is operand 0, as PyTorch records `2 * b` (next_functions[0] is b's node).
        return prims.mul(self, other)

    def __truediv__(self, other):
        return prims.div(self, other)

    def __rtruediv__(self, other):
        if prims.is_python_scalar(other):
            return prims.rdiv_scalar(other, self)
        return prims.div(other, self)

    def __pow__(self, other):
        return prims.pow(self, other)

    def __rpow__(self, other):
        if prims.is_python_scalar(other):
            return prims.rpow_scalar(other, self)
        return prims.pow(other, self)

    def __matmul__(self, other):
        return prims.matmul(self, other)

    def __rmatmul__(self, other):
        return prims.matmul(other, self)

    def __neg__(self):
        return prims.neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return prims.abs(self)

    def __eq__(self, other):  # noqa: D105 - elementwise, as in PyTorch
        return prims.eq(self, other)

    def __ne__(self, other):
        return prims.ne(self, other)

    def __lt__(self, other):
        return prims.lt(self, other)

    def __le__(self, other):
        return prims.le(self, other)

    def __gt__(self, other):
        return prims.gt(self, other)

    def __ge__(self, other):
        return prims.ge(self, other)

    def __and__(self, other):
        return prims.logical_and(self, other)

    def __or__(self, other):
        return prims.logical_or(self, other)

    def __invert__(self):
        return prims.logical_not(self)

    def __getitem__(self, index):
        return prims.getitem(self, index)

    # ----- math methods -----------------------------------------------------------------------

    def add(self, other, alpha=1):
        return prims.add(self, other, alpha=alpha)

    def sub(self, other, alpha=1):
        return prims.sub(self, other, alpha=alpha)

    def mul(self, other):
        return prims.mul(self, other)

    def div(self, other):
        return prims.div(self, other)

    def pow(self, exponent):
        return prims.pow(self, exponent)

    def matmul(self, other):
        return prims.matmul(self, other)

    def mm(self, other):
        return prims.mm(self, other)

    def neg(self):
        return prims.neg(self)

    def abs(self):
        return prims.abs(self)

    def sign(self):
        return prims.sign(self)

    def exp(self):
        return prims.exp(self)

    def expm1(self):
        return prims.expm1(self)

    def log(self):
        return prims.log(self)

    def log1p(self):
        return prims.log1p(self)

    def sqrt(self):
        return prims.sqrt(self)

    def reciprocal(self):
        return prims.reciprocal(self)

    def sin(self):
        return prims.sin(self)

    def cos(self):
        return prims.cos(self)

    def tan(self):
        return prims.tan(self)

    def tanh(self):
        return prims.tanh(self)

    def sigmoid(self):
        return prims.sigmoid(self)

    def relu(self):
        return prims.relu(self)

    def maximum(self, other):
        return prims.maximum(self, other)

    def minimum(self, other):
        return prims.minimum(self, other)

    def clamp(self, min=None, max=None):  # noqa: A002
        return prims.clamp(self, min, max)

    clip = clamp

    def where(self, condition, other):
        return prims.where(condition, self, other)

    def eq(self, other):
        return prims.eq(self, other)

    def ne(self, other):
        return prims.ne(self, other)

    def lt(self, other):
        return prims.lt(self, other)

    def le(self, other):
        return prims.le(self, other)

    def gt(self, other):
        return prims.gt(self, other)

    def ge(self, other):
        return prims.ge(self, other)

    def sum(self, dim=None, keepdim=False, dtype=None):
        return prims.sum(self, dim, keepdim, dtype=dtype)

    def mean(self, dim=None, keepdim=False, dtype=None):
        return prims.mean(self, dim, keepdim, dtype=dtype)

    def nansum(self, dim=None, keepdim=False, dtype=None):
        return prims.nansum(self, dim, keepdim, dtype=dtype)

    def sum_to_size(self, *size):
        """Summed over the dims that broadcasting to this shape added or expanded, down to `size`
        (PyTorch's sum_to_size; the autograd engine calls it on cotangents of broadcasting ops)."""
        shape = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else tuple(size)
        try:
            expandable = shapes.broadcast(shape, self.shape) == tuple(self.shape)
        except ValueError:
            expandable = False
        if not expandable:
            raise RuntimeError(f"size {{{list(shape)}}} is not expandable to size {{{list(self.shape)}}}.")
        return prims.unbroadcast(self, shape)

    def max(self, dim=None, keepdim=False):
        return prims.max(self, dim, keepdim)

    def min(self, dim=None, keepdim=False):
        return prims.min(self, dim, keepdim)

    def amax(self, dim=None, keepdim=False):
        return prims.amax(self, dim, keepdim)

    def amin(self, dim=None, keepdim=False):
        return prims.amin(self, dim, keepdim)

    def argmax(self, dim=None, keepdim=False):
        return prims.argmax(self, dim, keepdim)

    def argmin(self, dim=None, keepdim=False):
        return prims.argmin(self, dim, keepdim)

    def prod(self, dim=None, keepdim=False):
        return prims.prod(self, dim, keepdim)

    def norm(self, p="fro", dim=None, keepdim=False):
        return prims.norm(self, p, dim, keepdim)

    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return prims.var(self, dim, unbiased, keepdim, correction=correction)

    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return prims.std(self, dim, unbiased, keepdim, correction=correction)

    # ----- shape methods ----------------------------------------------------------------------

    def reshape(self, *shape):
        return prims.reshape(self, *shape)

    def view(self, *shape):
        if len(shape) == 1 and not isinstance(shape[0], (tuple, list, builtins.int)):
            return self.to(shape[0])
        return prims.reshape(self, *shape)

    def view_as(self, other):
        return prims.reshape(self, other.shape)

    def reshape_as(self, other):
        return prims.reshape(self, other.shape)

    def flatten(self, start_dim=0, end_dim=-1):
        return prims.flatten(self, start_dim, end_dim)

    def expand(self, *shape):
        return prims.expand(self, *shape)

    def expand_as(self, other):
        return prims.expand(self, other.shape)

    def broadcast_to(self, shape):
        return prims.broadcast_to(self, shape)

    def permute(self, *dims):
        return prims.permute(self, *dims)

    def transpose(self, dim0, dim1):
        return prims.transpose(self, dim0, dim1)

    def t(self):
        return prims.t(self)

    def squeeze(self, dim=None):
        return prims.squeeze(self, dim)

    def unsqueeze(self, dim):
        return prims.unsqueeze(self, dim)

    def gather(self, dim, index):
        return prims.gather(self, dim, index)

    def narrow(self, dim, start, length):
        return prims.narrow(self, dim, start, length)

    def select(self, dim, index):
        return prims.select(self, dim, index)
