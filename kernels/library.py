"""Hand-written kernels that are not fused (matmul and layout changes), callable from the
generated njit function. `call_source` renders a spec.Call as one line of that function."""
from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from . import blas, blas_call, blas_entry, conv, indexed, masks, scans
from .conv import adaptive_max_pool2d_indices, conv2d, conv2d_input_grad, conv2d_weight_grad, max_pool2d_indices
from .extents import runtime_extent  # noqa: F401 (generated loops call lib.runtime_extent)
from .masks import count_true, mask_scatter, mask_select  # noqa: F401 (generated code calls lib.count_true)
from .piece_calls import piece  # noqa: F401 (generated modules register their pieces with lib.piece)
from .scans import argsort_along, scan_along  # noqa: F401 (generated code calls lib.scan_along)
from .spec import Array, Call, IndexOutOfRangeError

# The convolution kernels generated code calls as lib.<op> (see conv.call_source).
CONV_KERNELS = (conv2d, conv2d_input_grad, conv2d_weight_grad, max_pool2d_indices, adaptive_max_pool2d_indices)


# Reduction steps. Their additions carry the `reassoc` fast-math flag, which survives LLVM's
# inlining into the generated loop, so the loop's sum vectorises (several partial sums in a
# vector register) while every other instruction of the loop keeps strict IEEE order (the
# vmath kernels depend on it).
@numba.njit(cache=True, fastmath={"reassoc", "contract"}, error_model="numpy")
def reduce_add(acc, value):
    """acc + value, reassociable."""
    return acc + value


@numba.njit(cache=True, fastmath={"reassoc", "contract"}, error_model="numpy")
def reduce_mul(acc, value):
    """acc * value, reassociable."""
    return acc * value


def reduce_max(acc, value):
    """The larger of acc and value, a NaN winning (NumPy's max). Compiled for floats it is LLVM's
    llvm.maximum, a reduction the loop vectoriser keeps in vector lanes: the select below runs as
    a scalar chain (a softmax's masked row max over (32, 4, 16, 16): 36 -> 16 us)."""
    return value if (value > acc) | (value != value) else acc


def reduce_min(acc, value):
    """The smaller of acc and value, a NaN winning (NumPy's min); llvm.minimum for floats."""
    return value if (value < acc) | (value != value) else acc


def _llvm_extreme(name: str):
    """An intrinsic calling llvm.<name> (maximum or minimum: NaN-propagating, -0 < +0) on two
    floats of one type."""
    @intrinsic
    def extreme(typingctx, acc, value):
        if not (isinstance(acc, types.Float) and acc == value):
            return None

        def codegen(context, builder, signature, args):
            ty = args[0].type
            fnty = ir.FunctionType(ty, [ty, ty])
            suffix = "f32" if isinstance(ty, ir.FloatType) else "f64"
            return builder.call(cgutils.get_or_insert_function(builder.module, fnty, f"llvm.{name}.{suffix}"), args)
        return acc(acc, value), codegen
    return extreme


_maximum = _llvm_extreme("maximum")
_minimum = _llvm_extreme("minimum")


@overload(reduce_max)
def _reduce_max_overload(acc, value):
    if isinstance(acc, types.Float) and acc == value:
        return lambda acc, value: _maximum(acc, value)
    return lambda acc, value: value if (value > acc) | (value != value) else acc


@overload(reduce_min)
def _reduce_min_overload(acc, value):
    if isinstance(acc, types.Float) and acc == value:
        return lambda acc, value: _minimum(acc, value)
    return lambda acc, value: value if (value < acc) | (value != value) else acc


@intrinsic
def _fetch_and_increment(typingctx, counter):
    """The next chunk number for the calling thread: an atomic fetch-and-increment of
    ``counter[0]`` (an int64 array shared by the threads of one parallel loop).

    Parallel loops hand out their fixed chunks from this counter instead of splitting them
    statically among threads, so a thread slowed by another process (a busy core) takes fewer
    chunks instead of keeping the others waiting at the end of the loop.
    """
    if not (isinstance(counter, types.Array) and counter.dtype == types.int64):
        return None

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, value=args[0]).data
        return builder.atomic_rmw("add", data, ir.Constant(ir.IntType(64), 1), "monotonic")

    return types.int64(counter), codegen


def claim_chunk(counter):
    """The next chunk number (see _fetch_and_increment, what compiled code runs). This Python version
    serves the Python run mode (JITGRAD_CPU_KERNELS=python), where one thread runs the loop."""
    chunk = counter[0]
    counter[0] = chunk + 1
    return chunk


@overload(claim_chunk)
def _claim_chunk_compiled(counter):
    if isinstance(counter, types.Array) and counter.dtype == types.int64:
        return lambda counter: _fetch_and_increment(counter)
    return None


# Copies, zero fills and accumulations into arrays of any rank and layout (slices of a buffer).
# NumPy's slice assignment in Numba compiles a shape check whose error message pulls in Numba's
# string formatting (~2 s of compile time in every new process), and an element-by-element
# np.ndindex loop costs ~8 ns an element (5x a GEMM's output in a batched product); so each is a
# loop over the rows (np.ndindex over all but the last dim) with a plain inner loop, rendered per
# rank by an overload of a Python function that does the same with NumPy (the Python run mode).

def _copy_rows(dst, src):
    dst[...] = src


def _add_rows(dst, src):
    dst[...] += src


def _zero_rows(dst, src):
    dst[...] = 0


def _rows_overload(kind: str):
    """The compiled row loop of `kind` ('copy', 'add', 'zero') for the rank of dst."""
    def typer(dst, src):
        if not isinstance(dst, types.Array):
            return None
        if dst.ndim == 0:
            if kind == "copy":
                def scalar(dst, src):
                    dst[()] = src[()]
            elif kind == "add":
                def scalar(dst, src):
                    dst[()] += src[()]
            else:
                def scalar(dst, src):
                    dst[()] = 0
            return scalar
        if kind == "copy":
            def rows(dst, src):
                n = dst.shape[-1]
                for idx in np.ndindex(dst.shape[:-1]):
                    d, s = dst[idx], src[idx]
                    for j in range(n):
                        d[j] = s[j]
        elif kind == "add":
            def rows(dst, src):
                n = dst.shape[-1]
                for idx in np.ndindex(dst.shape[:-1]):
                    d, s = dst[idx], src[idx]
                    for j in range(n):
                        d[j] += s[j]
        else:
            def rows(dst, src):
                n = dst.shape[-1]
                for idx in np.ndindex(dst.shape[:-1]):
                    d = dst[idx]
                    for j in range(n):
                        d[j] = 0
        return rows
    return typer


overload(_copy_rows)(_rows_overload("copy"))
overload(_add_rows)(_rows_overload("add"))
overload(_zero_rows)(_rows_overload("zero"))


# Allocation and flattening through functions kept in the disk cache: Numba compiles the
# implementations of `np.empty`, `np.ones` and `ndarray.reshape` anew in every process (~0.35 s and ~0.45 s
# of a cold first call on this machine, each), where a cached function calling them loads.
@numba.njit(cache=True)
def empty(shape, dtype):
    """np.empty(shape, dtype)."""
    return np.empty(shape, dtype)


@numba.njit(cache=True)
def ones(shape, dtype):
    """np.ones(shape, dtype)."""
    return np.ones(shape, dtype)


@numba.njit(cache=True)
def flat(a):
    """`a` (C-contiguous) as a 1-D view: a.reshape(a.size)."""
    return a.reshape(a.size)


@numba.njit(cache=True)
def copy_into(dst, src):
    """dst[...] = src for arrays of one shape (any layout), row by row."""
    _copy_rows(dst, src)


@numba.njit(cache=True)
def fill_zero(dst):
    """dst[...] = 0, row by row: an unindex's buffer, allocated once by a loop around the
    program and zeroed on every iteration."""
    _zero_rows(dst, dst)


@numba.njit(cache=True)
def add_into(dst, src):
    """dst[...] += src for arrays of one shape (any layout), row by row."""
    _add_rows(dst, src)


def _blas_matrices(*arrays) -> bool:
    """Whether kernels.blas.matmul takes these operand types (float32 or float64 matrices of one dtype)."""
    return all(isinstance(t, types.Array) and t.ndim == 2 and t.dtype == arrays[0].dtype for t in arrays) \
        and str(arrays[0].dtype) in blas_entry.SYMBOLS


def _product(a, b):
    """a @ b (compiled: the overload below; this body runs where generated code runs as Python)."""
    return np.dot(a, b)


@overload(_product)
def _product_overload(a, b):
    if _blas_matrices(a, b):
        def product(a, b):  # (the product itself is called, not linked in: see kernels.blas_call)
            out = np.empty((a.shape[0], b.shape[1]), a.dtype)
            blas_call.product_into(a, b, out)
            return out
        return product
    return lambda a, b: np.dot(a, b)


def _product_into(a, b, out):
    """out[...] = a @ b (compiled: the overload below; this body runs where generated code runs as Python)."""
    np.dot(a, b, out)


@overload(_product_into)
def _product_into_overload(a, b, out):
    if _blas_matrices(a, b, out):
        return lambda a, b, out: blas_call.product_into(a, b, out)
    return lambda a, b, out: np.dot(a, b, out)


@numba.njit(cache=True)
def matmul2d(a, b):
    """Matrix/vector products through BLAS: float matrices through kernels.blas.matmul (operands
    read in place, transposed views included), other products through np.dot."""
    return _product(a, b)


@numba.njit(cache=True)
def matmul2d_into(a, b, out):
    """out[...] = a @ b for matrices, written by BLAS straight into `out` (C-contiguous, of the
    product's shape and dtype): one batch element of a batched product, with no temporary
    product to copy element by element (copy_into ran at ~8 ns an element, 5x the GEMM)."""
    _product_into(a, b, out)


@numba.njit(cache=True)
def add_at_flat(out, positions, values):
    """out[positions[k]] += values[k] for every k, repeats accumulating: NumPy's np.add.at on flat
    arrays, ~50x faster (the eager backward of indexing, embedding lookups and gather). The
    positions come from NumPy indexing of the target's own positions, so they are in range."""
    for k in range(positions.size):
        out[positions[k]] += values[k]


@numba.njit(cache=True)
def scatter_add_along(out, index, values, dim):
    """out[..., index[i], ...] += values[i] along `dim` for every element i of index, in index's C
    order (the compiled scatter_add loop's order, so both modes add repeats in the same order):
    eager scatter_add, with no position array. out is C-contiguous; index and values are
    C-contiguous and of one shape; an index outside [0, size) raises RuntimeError naming it."""
    flat = out.reshape(-1)
    ix = index.reshape(-1)
    vals = values.reshape(-1)
    nd = index.ndim
    strides = np.empty(nd, np.int64)
    step = 1
    for d in range(nd - 1, -1, -1):
        strides[d] = step
        step *= out.shape[d]
    size = out.shape[dim]
    for k in range(ix.size):
        j = ix[k]
        if j < 0 or j >= size:
            checked_index("scatter_add(): ", j, dim, size, False)
        rest = k
        p = 0
        for d in range(nd - 1, -1, -1):
            c = rest % index.shape[d]
            rest //= index.shape[d]
            p += (j if d == dim else c) * strides[d]
        flat[p] += vals[k]


@numba.njit(cache=True)
def add_rows(out, rows, values):
    """out[rows[i], :] += values[i, :] for every i (2-D out and values; rows in range): the
    scatter-add of an embedding table's gradient, row by contiguous row."""
    width = out.shape[1]
    for i in range(rows.size):
        r = rows[i]
        for k in range(width):
            out[r, k] += values[i, k]


OPS = ("matmul", "transpose_view", "permute", "reshape", "getitem_basic", "unindex_basic")


def into_source(step: Call, arrays: dict[str, Array]) -> str | None:
    """The line of a library call that writes into its output's existing buffer (an argument of
    the program: one its caller passes, see jitgrad/lower_inplace.py), or None when the op always
    allocates its own result. So far: matrix products (BLAS writes the product in place).

    >>> arrays = {n: Array(n, (2, 2), "float64") for n in ("in0", "in1", "a2")}
    >>> into_source(Call("matmul", ("in0", "in1"), "a2"), arrays)
    'lib.matmul2d_into(in0, in1, a2)'
    """
    if step.op == "matmul" and len(arrays[step.output].shape) == 2:
        a, b = step.inputs
        return f"lib.matmul2d_into({a}, {b}, {step.output})"
    return None


def call_source(step: Call, arrays: dict[str, Array]) -> str:
    """One line of generated code for a library call."""
    ins = [arrays[n] for n in step.inputs]
    out = arrays[step.output]
    if step.op == "matmul":
        a, b = ins
        if len(a.shape) > 2 or len(b.shape) > 2:
            raise ValueError("library matmul takes matrices and vectors; batched products run through NumPy")
        if len(out.shape) == 0:  # vector . vector: np.dot gives a scalar
            return f"{out.name} = np.empty((), np.{out.dtype}); {out.name}[()] = lib.matmul2d({a.name}, {b.name})"
        return f"{out.name} = lib.matmul2d({a.name}, {b.name})"
    if step.op == "transpose_view":
        return f"{out.name} = {ins[0].name}.T"
    if step.op == "permute":
        return f"{out.name} = np.ascontiguousarray(np.transpose({ins[0].name}, {tuple(step.params[0])!r}))"
    if step.op == "reshape":
        return f"{out.name} = np.ascontiguousarray({ins[0].name}).reshape({tuple(step.params[0])!r})"
    if step.op == "getitem_basic":
        slices, out_shape = step.params
        return f"{out.name} = np.ascontiguousarray({ins[0].name}[{slices}]).reshape({tuple(out_shape)!r})"
    if step.op == "unindex_basic":
        slices, shape, sliced = step.params
        return (f"{out.name} = np.zeros({tuple(shape)!r}, np.{out.dtype}); "
                f"lib.add_into({out.name}[{slices}], np.ascontiguousarray({ins[0].name}).reshape({tuple(sliced)!r}))")
    if step.op in ROW_OPS:
        return rows_source(step, arrays)
    if step.op in indexed.OPS:
        return indexed.call_source(step, arrays)
    if step.op in scans.OPS:
        return scans.call_source(step, arrays)
    if step.op in masks.OPS:
        return masks.call_source(step, arrays)
    if step.op in conv.OPS:
        return conv.call_source(step, arrays)
    raise ValueError(f"unknown library op {step.op!r}; "
                     f"known: {OPS + ROW_OPS + indexed.OPS + scans.OPS + masks.OPS + conv.OPS}")


@numba.njit(cache=True)
def checked_index(prefix, j, dim, size, wraps):
    """An index outside [0, size): a negative one is wrapped once when `wraps` (indexing); any
    other raises naming it (IndexError for indexing; for gather/scatter IndexOutOfRangeError, also the
    RuntimeError PyTorch raises)."""
    if wraps and -size <= j < 0:
        return j + size
    text = prefix + "index " + str(j) + " is out of bounds for dimension " + str(dim) + " with size " + str(size)
    if wraps:
        raise IndexError(text)
    raise IndexOutOfRangeError(text)


@numba.njit(cache=True)
def extreme_along(x3, want_max):
    """Max (or min) over the middle axis of a (pre, n, post) array and the index of the first
    element attaining it; a NaN wins (NumPy's and PyTorch's rule)."""
    pre, n, post = x3.shape
    values = np.empty((pre, post), x3.dtype)
    index = np.zeros((pre, post), np.int64)
    for p in range(pre):
        for q in range(post):
            best = x3[p, 0, q]
            at = 0
            for j in range(1, n):
                if best != best:
                    break
                v = x3[p, j, q]
                if (v > best if want_max else v < best) or v != v:
                    best = v
                    at = j
            values[p, q] = best
            index[p, q] = at
    return values, index


@numba.njit(cache=True, error_model="numpy")
def moments_rows(x2, correction, take_sqrt):
    """Variance (or standard deviation) of each row of a (k, n) array in one pass (Welford's
    update, accumulated in float64); n - correction <= 0 divides by zero as PyTorch does."""
    k, n = x2.shape
    out = np.empty(k, x2.dtype)
    denominator = max(n - correction, 0)
    for r in range(k):
        mean = 0.0
        m2 = 0.0
        for j in range(n):
            v = np.float64(x2[r, j])
            delta = v - mean
            mean += delta / (j + 1)
            m2 += delta * (v - mean)
        var = m2 / denominator if denominator > 0 else m2 * np.inf
        out[r] = np.sqrt(var) if take_sqrt else var
    return out


@numba.njit(cache=True, error_model="numpy")
def norm_rows(x2, p):
    """The p-norm of each row of a (k, n) array (p = 1, 2, inf or any other positive p),
    accumulated in float64; inf-norm of an empty row is 0 and NaN propagates."""
    k, n = x2.shape
    out = np.empty(k, x2.dtype)
    for r in range(k):
        acc = 0.0
        for j in range(n):
            a = abs(np.float64(x2[r, j]))
            if p == np.inf:
                if a > acc or a != a:
                    acc = a
            elif p == 2.0:
                acc += a * a
            elif p == 1.0:
                acc += a
            else:
                acc += a ** p
        if p == 2.0:
            acc = np.sqrt(acc)
        elif p != 1.0 and p != np.inf:
            acc = acc ** (1.0 / p)
        out[r] = acc
    return out


ROW_OPS = ("extreme", "moments", "norm")


def rows_source(step: Call, arrays: dict[str, Array]) -> str:
    """A reduction over some dims as a kernel over rows: the input permuted so the reduced dims
    come last and viewed as (kept, reduced). params = (permutation, (kept, reduced) or the
    (pre, n, post) view for extreme, op-specific values)."""
    x = step.inputs[0]
    out = arrays[step.output]
    perm, view, extra = step.params
    o = step.output
    src = x if perm is None else f"np.transpose({x}, {tuple(perm)!r})"
    rows = f"np.ascontiguousarray({src}).reshape({tuple(view)!r})"
    if step.op == "extreme":
        want_max, want_index = extra
        pick = 1 if want_index else 0
        return f"{o} = lib.extreme_along({rows}, {want_max})[{pick}].reshape({tuple(out.shape)!r})"
    if step.op == "moments":
        correction, take_sqrt = extra
        return f"{o} = lib.moments_rows({rows}, {correction!r}, {take_sqrt}).reshape({tuple(out.shape)!r})"
    p = "np.inf" if extra == float("inf") else repr(float(extra))
    return f"{o} = lib.norm_rows({rows}, {p}).reshape({tuple(out.shape)!r})"


def _cache_calls_on_disk() -> None:
    """Key the disk cache of this module's functions, and of the modules whose functions call
    another module's (blas: matmul; blas_call: blas; conv: blas.gemm), on the sources they call too: Numba checks
    a function's own file only, so an edit to kernels/blas.py left lib.matmul2d's old machine code
    in use (kernels.cache.cache_on_disk)."""
    import sys

    from numba.core.registry import CPUDispatcher

    from . import cache, source_deps
    stamp = source_deps.dependency_digest(f"from {source_deps.PACKAGE} import library\n")
    modules = (sys.modules[__name__], blas, blas_call, conv)
    cache.cache_on_disk([value for module in modules for value in vars(module).values()
                         if isinstance(value, CPUDispatcher) and value.py_func.__module__ == module.__name__
                         and value._cache is not None and type(value._cache).__name__ != "NullCache"], stamp)
    for calls_product in (matmul2d, matmul2d_into):  # (their machine code calls blas_call's symbol)
        cache.before_load(calls_product, blas_call.ensure_bound)


_cache_calls_on_disk()
