"""Products composed from matmul, reshape, permute and sum (their gradients come from those):
outer, bmm, addmm, baddbmm, tensordot and einsum. einsum contracts its operands pairwise as
batched matrix products, so every contraction runs through BLAS (or the compiled matmul)."""
from __future__ import annotations

import builtins
import string
from typing import TYPE_CHECKING

from . import prims, shape_ops, shapes
from .core import TensorBase

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from collections.abc import Sequence

    from ._typing import Number, TensorLike
    from .tensor import Tensor


def _tensor(x) -> TensorBase:
    return prims.as_tensor_operand(x)


def outer(input: TensorLike, vec2: TensorLike) -> Tensor:  # noqa: A002 - PyTorch's argument names
    """The outer product of two vectors: out[i, j] = input[i] * vec2[j].

    Example:
        >>> jg.outer(jg.tensor([1.0, 2.0]), jg.tensor([1.0, 3.0]))
        tensor([[1., 3.],
                [2., 6.]])
    """
    a, b = _tensor(input), _tensor(vec2)
    for name, t in (("self", a), ("vec2", b)):
        if t.ndim != 1:
            raise RuntimeError(f"outer: Expected 1-D argument {name}, but got {t.ndim}-D")
    return prims.mul(prims.reshape(a, (a.shape[0], 1)), b)  # (as PyTorch records it: a view, then mul)


def bmm(input: TensorLike, mat2: TensorLike) -> Tensor:  # noqa: A002
    """Batched matrix product of (b, n, m) and (b, m, p) tensors (no broadcasting, as in PyTorch).

    Example:
        >>> jg.bmm(jg.ones(1, 2, 2), jg.ones(1, 2, 1))
        tensor([[[2.],
                 [2.]]])
    """
    a, b = _tensor(input), _tensor(mat2)
    if a.ndim != 3 or b.ndim != 3:
        raise RuntimeError(f"bmm: expected 3-D tensors, but got {a.ndim}-D and {b.ndim}-D (use matmul to broadcast)")
    if a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        raise RuntimeError(f"bmm: shapes {tuple(a.shape)} and {tuple(b.shape)} do not match: expected (b, n, m) and "
                           "(b, m, p)")
    return prims.matmul(a, b)


def _scaled_sum(input, product, beta, alpha):  # noqa: A002
    """beta * input + alpha * product, where beta == 0 ignores input (its NaNs too), as in PyTorch."""
    if alpha != 1:
        product = prims.mul(product, alpha)
    if beta == 0:  # input still gets a (zero) gradient, as in PyTorch
        return prims.add(product, prims.where(True, 0.0, input))
    return prims.add(prims.mul(input, beta) if beta != 1 else input, product)


def addmm(input: TensorLike, mat1: TensorLike, mat2: TensorLike, *, beta: Number = 1,
          alpha: Number = 1) -> Tensor:  # noqa: A002
    """beta * input + alpha * (mat1 @ mat2) for 2-D mat1 and mat2 (input broadcasts).

    Example:
        >>> jg.addmm(jg.zeros(2, 2), jg.tensor([[1.0, 2.0], [3.0, 4.0]]), jg.eye(2))
        tensor([[1., 2.],
                [3., 4.]])
    """
    product = prims.mm(mat1, mat2)
    x = _tensor(input)
    if shapes.broadcast(x.shape, product.shape) != tuple(product.shape):
        raise RuntimeError(f"addmm: input of shape {tuple(x.shape)} cannot be broadcast to the product's "
                           f"{tuple(product.shape)}")
    return _scaled_sum(x, product, beta, alpha)


def baddbmm(input: TensorLike, batch1: TensorLike, batch2: TensorLike, *, beta: Number = 1,
            alpha: Number = 1) -> Tensor:  # noqa: A002
    """beta * input + alpha * bmm(batch1, batch2) (input broadcasts).

    Example:
        >>> jg.baddbmm(jg.zeros(1, 2, 1), jg.ones(1, 2, 2), jg.ones(1, 2, 1))
        tensor([[[2.],
                 [2.]]])
    """
    product = bmm(batch1, batch2)
    x = _tensor(input)
    if shapes.broadcast(x.shape, product.shape) != tuple(product.shape):
        raise RuntimeError(f"baddbmm: input of shape {tuple(x.shape)} cannot be broadcast to the product's "
                           f"{tuple(product.shape)}")
    return _scaled_sum(x, product, beta, alpha)


def tensordot(a: TensorLike, b: TensorLike, dims: int | Sequence[Sequence[int]] = 2) -> Tensor:
    """Sum of products over dims of a and b: `dims` = n (a's last n with b's first n) or a pair of
    dim lists.

    Example:
        >>> jg.tensordot(jg.ones(2, 3), jg.ones(3, 2), dims=1)
        tensor([[3., 3.],
                [3., 3.]])
    """
    a, b = _tensor(a), _tensor(b)
    if isinstance(dims, (builtins.int,)) or (isinstance(dims, TensorBase) and dims.ndim == 0):
        n = builtins.int(dims)
        if n < 0:
            raise RuntimeError(f"tensordot expects dims >= 0, but got dims={n}")
        dims_a, dims_b = list(range(a.ndim - n, a.ndim)), list(range(n))
    else:
        dims_a, dims_b = ([d] if isinstance(d, builtins.int) else list(d) for d in dims)
    dims_a = [shapes.normalize_dim(d, a.ndim) for d in dims_a]
    dims_b = [shapes.normalize_dim(d, b.ndim) for d in dims_b]
    if len(dims_a) != len(dims_b):
        raise RuntimeError(f"both dimension lists should have same length, got {len(dims_a)} and {len(dims_b)}")
    for da, db in zip(dims_a, dims_b):
        if a.shape[da] != b.shape[db]:
            raise RuntimeError(f"contracted dimensions need to match, but first has size {a.shape[da]} in dim {da} "
                               f"and second has size {b.shape[db]} in dim {db}")
    free_a = [d for d in range(a.ndim) if d not in dims_a]
    free_b = [d for d in range(b.ndim) if d not in dims_b]
    k = shapes.numel(tuple(a.shape[d] for d in dims_a))
    left = prims.reshape(prims.permute(a, tuple(free_a + dims_a)), (-1, k))
    right = prims.reshape(prims.permute(b, tuple(dims_b + free_b)), (k, -1))
    out_shape = tuple(a.shape[d] for d in free_a) + tuple(b.shape[d] for d in free_b)
    return prims.reshape(prims.matmul(left, right), out_shape)


# ----- einsum ------------------------------------------------------------------------------------


def _parse(equation: str, operands: list) -> tuple[list[str], str]:
    """Each operand's subscripts and the output's, with '...' spelled as capital letters."""
    equation = equation.replace(" ", "")
    lhs, arrow, rhs = equation.partition("->")
    inputs = lhs.split(",")
    if len(inputs) != len(operands):
        raise ValueError("einsum(): more operands were provided than specified in the equation"
                         if len(operands) > len(inputs) else
                         "einsum(): fewer operands were provided than specified in the equation")
    spare = iter(string.ascii_uppercase)
    ellipsis = ""
    for k, (subs, t) in enumerate(zip(inputs, operands)):
        letters = subs.replace("...", "")
        if not all(c in string.ascii_letters for c in letters):
            raise ValueError(f"einsum(): invalid subscript in operand {k}: '{subs}' (use letters and '...')")
        if "..." in subs:
            n = t.ndim - len(letters)
            if n < 0:
                raise RuntimeError(f"einsum(): the number of subscripts in the equation ({len(letters)}) is more "
                                   f"than the number of dimensions ({t.ndim}) for operand {k}")
            while len(ellipsis) < n:
                ellipsis = next(spare) + ellipsis
            inputs[k] = subs.replace("...", ellipsis[len(ellipsis) - n:])
        elif len(subs) != t.ndim:
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({len(subs)}) does not match "
                               f"the number of dimensions ({t.ndim}) for operand {k} and no ellipsis was given")
    if arrow:
        out = rhs.replace("...", ellipsis)
        for c in out:
            if not any(c in s for s in inputs):
                raise ValueError(f"einsum(): output subscript {c} does not appear in the equation for any input "
                                 "operand")
    else:
        counts = {c: sum(s.count(c) for s in inputs) for c in set("".join(inputs))}
        out = ellipsis + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ellipsis))
    return inputs, out


def _take_diagonals(t: TensorBase, subs: str) -> tuple[TensorBase, str]:
    """A letter repeated within one operand ('ii') selects the diagonal of those dims."""
    while True:
        repeated = next((c for c in subs if subs.count(c) > 1), None)
        if repeated is None:
            return t, subs
        i = subs.index(repeated)
        j = subs.index(repeated, i + 1)
        if t.shape[i] != t.shape[j]:
            raise RuntimeError(f"einsum(): subscript {repeated} is repeated for operand but the sizes don't match, "
                               f"{t.shape[i]} != {t.shape[j]}")
        t = shape_ops.diagonal(t, 0, i, j)
        subs = "".join(c for k, c in enumerate(subs) if k not in (i, j)) + repeated


def _sum_out(t: TensorBase, subs: str, keep: set) -> tuple[TensorBase, str]:
    drop = tuple(k for k, c in enumerate(subs) if c not in keep)
    if drop:
        t = prims.sum(t, drop)
        subs = "".join(c for c in subs if c in keep)
    return t, subs


def _arrange(t: TensorBase, subs: str, order: str, sizes: dict) -> TensorBase:  # sizes: t's own
    """t permuted to the letters of `order` it has, with size-1 dims for those it lacks."""
    perm = tuple(subs.index(c) for c in order if c in subs)
    if perm != tuple(range(len(perm))):
        t = prims.permute(t, perm)
    return prims.reshape(t, tuple(sizes[c] if c in subs else 1 for c in order))


def _contract(a, sa: str, b, sb: str, keep: set) -> tuple[TensorBase, str]:
    """a and b multiplied and summed over the letters they share that `keep` lacks, as one batched
    matmul: (batch, free_a, summed) @ (batch, summed, free_b). Shared letters of size 1 on one
    side broadcast."""
    batch = "".join(c for c in sa if c in sb and c in keep)
    summed = "".join(c for c in sa if c in sb and c not in keep)
    free_a = "".join(c for c in sa if c not in sb)
    free_b = "".join(c for c in sb if c not in sa)
    size_a, size_b = dict(zip(sa, a.shape)), dict(zip(sb, b.shape))
    shared = {c: builtins.max(size_a[c], size_b[c]) for c in batch + summed}
    sizes = {**size_a, **size_b, **shared}

    def flat(t, parts):
        return prims.reshape(t, tuple(shapes.numel(tuple(sizes[c] for c in p)) for p in parts))

    left = prims.expand(_arrange(a, sa, batch + free_a + summed, size_a),
                        tuple(sizes[c] for c in batch + free_a + summed))
    right = prims.expand(_arrange(b, sb, batch + summed + free_b, size_b),
                         tuple(sizes[c] for c in batch + summed + free_b))
    out = prims.matmul(flat(left, (batch, free_a, summed)), flat(right, (batch, summed, free_b)))
    letters = batch + free_a + free_b
    return prims.reshape(out, tuple(sizes[c] for c in letters)), letters


def einsum(equation: str, *operands: TensorLike) -> Tensor:
    """Einstein summation ('ij,jk->ik', 'bhqd,bhkd->bhqk', 'ii->i', '...ij->...ji'), contracted pairwise
    left to right through batched matmul.

    Example:
        >>> jg.einsum('ij,jk->ik', jg.tensor([[1.0, 2.0]]), jg.tensor([[3.0], [4.0]]))
        tensor([[11.]])
    """
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands:
        raise ValueError("einsum(): must provide at least one operand")
    tensors = list(prims.promoted(*operands)) if len(operands) > 1 else [_tensor(operands[0])]
    inputs, out = _parse(equation, tensors)
    sizes: dict = {}
    for t, subs in zip(tensors, inputs):
        for c, n in zip(subs, t.shape):
            if n != 1 and sizes.get(c, 1) not in (1, n):
                raise RuntimeError(f"einsum(): operands do not broadcast with remapped shapes: subscript {c} has "
                                   f"sizes {sizes[c]} and {n}")
            sizes[c] = builtins.max(sizes.get(c, 1), n)
    pending = []
    for t, subs in zip(tensors, inputs):
        pending.append(_take_diagonals(t, subs))
    acc, sacc = None, ""
    for k, (t, subs) in enumerate(pending):
        later = set(out).union(*(s for _, s in pending[k + 1:]))
        if acc is None:
            acc, sacc = _sum_out(t, subs, later)
            continue
        t, subs = _sum_out(t, subs, later | set(sacc))
        acc, sacc = _sum_out(acc, sacc, later | set(subs))
        acc, sacc = _contract(acc, sacc, t, subs, later)
    acc, sacc = _sum_out(acc, sacc, set(out))
    perm = tuple(sacc.index(c) for c in out)
    return prims.permute(acc, perm) if perm != tuple(range(len(perm))) else acc
