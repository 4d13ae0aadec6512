"""Pure shape rules on tuples: broadcasting, reductions, reshapes, permutations."""
from __future__ import annotations

from collections.abc import Sequence

Shape = tuple[int, ...]


def broadcast(a: Shape, b: Shape) -> Shape:
    """NumPy broadcasting of two shapes; the error names both shapes. Results are cached (an eager
    op's shape rule runs once per call, with the same few shape pairs over and over)."""
    if a == b or not b:
        return a
    if not a:
        return b
    try:
        found = _BROADCASTS.get((a, b))
    except TypeError:  # (a list: not hashable)
        return _broadcast(a, b)
    if found is None:
        if len(_BROADCASTS) >= 4096:
            _BROADCASTS.clear()
        found = _BROADCASTS[(a, b)] = _broadcast(a, b)
    return found


_BROADCASTS: dict = {}


def _broadcast(a: Shape, b: Shape) -> Shape:
    n = max(len(a), len(b))
    pa = (1,) * (n - len(a)) + tuple(a)
    pb = (1,) * (n - len(b)) + tuple(b)
    out = []
    for i, (x, y) in enumerate(zip(pa, pb)):
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            raise ValueError(
                f"shapes {tuple(a)} and {tuple(b)} cannot be broadcast together: the size of "
                f"dimension {i - n} is {x} in one and {y} in the other (sizes must match or be 1)"
            )
    return tuple(out)


def broadcast_many(*shapes: Shape) -> Shape:
    """Broadcast any number of shapes."""
    out: Shape = ()
    for s in shapes:
        out = broadcast(out, s)
    return out


def normalize_dim(dim: int, ndim: int, what: str = "dim") -> int:
    """Turn a possibly negative dim into 0..ndim-1, with PyTorch's IndexError otherwise."""
    if type(dim) is int and 0 <= dim < ndim:
        return dim
    lo, hi = -max(ndim, 1), max(ndim, 1) - 1
    if not isinstance(dim, int):
        raise TypeError(f"{what} must be an int, got {type(dim).__name__}")
    if dim < lo or dim > hi:
        raise IndexError(f"Dimension out of range (expected to be in range of [{lo}, {hi}], but got {dim})")
    return dim % max(ndim, 1) if ndim else 0


def normalize_dims(dims, ndim: int) -> tuple[int, ...]:
    """dims=None means all dims; an int or a sequence is normalised, sorted and checked unique."""
    if dims is None:
        return tuple(range(ndim))
    if isinstance(dims, int):
        dims = (dims,)
    out = tuple(sorted(normalize_dim(d, ndim) for d in dims)) if ndim else ()
    if len(set(out)) != len(out):
        raise RuntimeError(f"dim {tuple(dims)} appears multiple times in the list of dims")
    return out


def reduce(shape: Shape, dims: tuple[int, ...], keepdim: bool) -> Shape:
    """Shape after reducing normalised `dims`."""
    if keepdim:
        return tuple(1 if i in dims else s for i, s in enumerate(shape))
    return tuple(s for i, s in enumerate(shape) if i not in dims)


def numel(shape: Shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def infer_reshape(shape: Shape, new: Sequence[int]) -> Shape:
    """Resolve one -1 in `new`; error names both shapes when the sizes disagree."""
    new = tuple(int(s) for s in new)
    total = numel(shape)
    if new.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred (-1) in reshape")
    if -1 in new:
        rest = numel(tuple(s for s in new if s != -1))
        if rest == 0 or total % rest:
            raise RuntimeError(f"shape '{list(new)}' is invalid for input of size {total}")
        new = tuple(total // rest if s == -1 else s for s in new)
    if any(s < 0 for s in new) or numel(new) != total:
        raise RuntimeError(f"shape '{list(new)}' is invalid for input of size {total} (input shape {tuple(shape)})")
    return new


def check_permutation(dims: Sequence[int], ndim: int) -> tuple[int, ...]:
    """Normalise a permutation of range(ndim), or raise naming what is wrong."""
    if len(dims) != ndim:
        raise RuntimeError(f"permute: number of dims don't match: got {len(dims)} dims for a {ndim}-d tensor")
    out = tuple(normalize_dim(d, ndim) for d in dims)
    if len(set(out)) != ndim:
        raise RuntimeError(f"permute: repeated dim in {tuple(dims)}")
    return out


def inverse_permutation(perm: Sequence[int]) -> tuple[int, ...]:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


def matmul(a: Shape, b: Shape) -> Shape:
    """NumPy/PyTorch matmul shape rule (1-D, 2-D, batched with broadcasting)."""
    if len(a) == 0 or len(b) == 0:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are {len(a)}D and {len(b)}D")
    a2 = (1,) + tuple(a) if len(a) == 1 else tuple(a)
    b2 = tuple(b) + (1,) if len(b) == 1 else tuple(b)
    if a2[-1] != b2[-2]:
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied: shapes {tuple(a)} and {tuple(b)} "
            f"(inner sizes {a2[-1]} and {b2[-2]} must match)"
        )
    batch = broadcast(a2[:-2], b2[:-2])
    out = batch + (a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return out
