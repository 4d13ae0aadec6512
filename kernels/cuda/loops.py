"""CUDA kernel text for one spec.Loop: a grid-stride elementwise kernel, or a reduction kernel.
Reduction strategies, chosen from the loop's shape only:
- tiny reduced spaces (at most SERIAL_MAX elements): one thread per output, looping serially;
- kept innermost dims (at least WARP_OUTPUTS consecutive outputs after the last reduced dim, e.g.
  a bias gradient: sum over the leading dims of (B, T, C)): one thread per output, so the threads
  of a warp read consecutive addresses at every step; when the outputs alone cannot fill the
  device, the reduced range is split into chunks (a job per (chunk, output)) whose partials a
  second short kernel combines in chunk order;
- otherwise (the reduced dims are innermost): one block per output with a shared-memory tree over
  the reduced index (coalesced there); large reductions add partials per block and a second
  combining kernel.
All deterministic (fixed order for a given shape and device), no float atomics. Element semantics
are the CPU loops': kernels.source's broadcast loads, and kernels/reductions.py's table for each
reduction's identity, combining step and accumulator (NaN-propagating max/min, float32 sums in
float64). Eager GPU reductions (kernels/cuda/reduce.py) are one-loop programs of this generator."""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

from .. import reductions, source
from ..spec import Array, Loop, Reduce
from . import runtime
from .elementwise import rewrite_vm_calls

# A reduced index space of at most this many elements runs serially in one thread per output.
SERIAL_MAX = 16
# Partials per output of a split reduction: at most this many blocks share one output.
MAX_SPLIT = 4 * runtime.REDUCE_THREADS
# At least this many consecutive outputs (a warp's worth) after the last reduced dim: one thread
# per output reads coalesced, so it beats a block per output (whose threads would read addresses
# that many elements apart).
WARP_OUTPUTS = 32
# Fewest reduced elements per chunk of a chunked thread-per-output reduction (each chunk costs a
# partial write and a read in the combining kernel).
MIN_CHUNK = 32

@dataclass
class Rendered:
    """A loop's module-level text (kernels and their configured launchers) and host lines."""

    kernels: list[str] = field(default_factory=list)
    host: list[str] = field(default_factory=list)
    vm: set = field(default_factory=set)


def np_type(dtype: str) -> str:
    """Source text of a NumPy scalar type usable in kernels."""
    return "np.bool_" if dtype == "bool" else f"np.{dtype}"


def _pow2_at_least(n: int) -> int:
    return 1 << max(0, n - 1).bit_length()


def _rewrite(expr: str, used: set) -> str:
    """vm.sin_f32( -> vm_sin_f32( (a module-level CUDA device function); `used` collects the names."""
    return rewrite_vm_calls(expr, used)[0]


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.depth = 0

    def line(self, text: str, comment: str = "") -> None:
        self.lines.append("    " * self.depth + text + (f"  # {comment}" if comment else ""))

    def block(self, header: str) -> _Writer:
        self.line(header)
        self.depth += 1
        return self

    def end(self, n: int = 1) -> None:
        self.depth -= n

    def text(self) -> str:
        return "\n".join(self.lines)


def identity(op: str, dtype: str) -> str:
    """Source text of the identity of `op` in `dtype` (the result of an empty reduction)."""
    return reductions.identity(op, dtype)


def combine(op: str, acc: str, value: str) -> str:
    """acc (op)= value, where value is a name; the reduction table's rule in plain operators."""
    return reductions.combine(op, acc, value, reassociable=False)


class _LoopText:
    """Shared pieces of one loop's kernels: indices, loads, body, reduction targets."""

    def __init__(self, loop: Loop, arrays: dict[str, Array], vm: set) -> None:
        self.loop, self.arrays, self.vm = loop, arrays, vm
        self.ivars = [f"_i{d}" for d in range(len(loop.shape))]
        self.hoisted = [ld for ld in loop.loads if math.prod(arrays[ld.array].shape) == 1]
        self.reduced = loop.reduced_dims
        self.kept = [d for d in range(len(loop.shape)) if d not in self.reduced]

    def element(self, name: str) -> str:
        return f"{name}[{source._index(self.arrays[name], self.loop.shape, self.ivars)}]"

    def unravel(self, w: _Writer, flat: str, dims: list[int]) -> None:
        """Index variables of `dims` (C order) from the flat index `flat` over them."""
        shape = self.loop.shape
        live = [d for d in dims if shape[d] != 1]
        for d in dims:
            if shape[d] == 1:
                w.line(f"{self.ivars[d]} = 0")
        if len(live) == 1:
            w.line(f"{self.ivars[live[0]]} = {flat}")
        elif live:
            w.line(f"_q = {flat}")
            for d in reversed(live[1:]):
                w.line(f"{self.ivars[d]} = _q % {shape[d]}")
                w.line(f"_q = _q // {shape[d]}")
            w.line(f"{self.ivars[live[0]]} = _q")

    def hoist(self, w: _Writer) -> None:
        for ld in self.hoisted:
            a = self.arrays[ld.array]
            w.line(f"{ld.target} = {ld.array}[{', '.join('0' for _ in a.shape) or '()'}]")

    def body(self, w: _Writer) -> None:
        for ld in self.loop.loads:
            if ld not in self.hoisted:
                w.line(f"{ld.target} = {self.element(ld.array)}")
        for st in self.loop.stmts:
            w.line(f"{st.target} = {_rewrite(st.expr, self.vm)}", st.origin)
        for st in self.loop.stores:
            w.line(f"{self.element(st.array)} = {_rewrite(st.value, self.vm)}", st.origin)

    def accumulate(self, w: _Writer) -> None:
        for r in self.loop.reduces:
            w.line(f"_v_{r.array} = {_rewrite(r.value, self.vm)}", r.origin)
            w.line(combine(r.op, _acc(r), f"_v_{r.array}"))

    def init(self, w: _Writer) -> None:
        for r in self.loop.reduces:
            w.line(f"{_acc(r)} = {identity(r.op, self.acc_dtype(r))}")

    def acc_dtype(self, r: Reduce) -> str:
        return reductions.accumulator_dtype(self.arrays[r.array].dtype, r.op)

    def target(self, r: Reduce) -> str:
        """The output element of reduction r (keepdim when the output has the loop's rank)."""
        n = len(self.loop.shape)
        if len(self.arrays[r.array].shape) == n:
            idx = ", ".join("0" if d in self.reduced else self.ivars[d] for d in range(n))
        else:
            idx = ", ".join(self.ivars[d] for d in self.kept)
        return f"{r.array}[{idx or '()'}]"

    def finish(self, r: Reduce, value: str) -> str:
        scaled = r.scaled(value)
        return f"{np_type(self.arrays[r.array].dtype)}({scaled})"

    def params(self) -> list[str]:
        names = [ld.array for ld in self.loop.loads] + [s.array for s in self.loop.stores]
        return list(dict.fromkeys(names))


def _acc(r: Reduce) -> str:
    return f"_acc_{r.array}"


def _kernel_header(w: _Writer, name: str, params: list[str]) -> None:
    w.line("@cuda.jit(cache=_CACHE)")
    w.block(f"def {name}({', '.join(params)}):")


def launcher(kernel, blocks: int, threads: int):
    """kernel[blocks, threads], configured once at import. Small grids are deliberate here (a
    reduction with few outputs), so Numba's low-occupancy warning is silenced."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=runtime.SMALL_GRID_WARNING)
        return kernel[blocks, threads]


def _launcher(name: str, blocks: int, threads: int) -> str:
    return f"{name}_launch = _launcher({name}, {blocks}, {threads})"


def _elementwise(lt: _LoopText, name: str, out: Rendered) -> None:
    n = math.prod(lt.loop.shape)
    params = lt.params()
    w = _Writer()
    _kernel_header(w, name, params)
    lt.hoist(w)
    w.block(f"for _i in range(cuda.grid(1), {n}, cuda.gridsize(1)):")
    lt.unravel(w, "_i", list(range(len(lt.loop.shape))))
    lt.body(w)
    blocks, threads = runtime.launch_config(n)
    out.kernels += [w.text(), _launcher(name, blocks, threads)]
    out.host.append(f"{name}_launch({', '.join(params)})")


def _chunks(k: int, r_size: int) -> tuple[int, int]:
    """(parts, chunk) of a thread-per-output reduction: enough (chunk, output) jobs to fill the
    device's resident threads, chunks of at least MIN_CHUNK reduced elements, none empty."""
    parts = max(1, min(-(-runtime.resident_threads() // k), -(-r_size // MIN_CHUNK)))
    chunk = -(-r_size // parts)
    return -(-r_size // chunk), chunk


def _inner_outputs(lt: _LoopText) -> int:
    """Outputs that are consecutive in memory along the loop's innermost index: the product of
    the dims after the last reduced dim of size > 1."""
    shape = lt.loop.shape
    last = max((d for d in lt.reduced if shape[d] != 1), default=-1)
    return math.prod(shape[last + 1:])


def _thread_reduction(lt: _LoopText, name: str, k: int, r_size: int, out: Rendered, parts: int = 1) -> None:
    """One thread per output element, looping over the reduced space: consecutive threads own
    consecutive outputs, so with kept innermost dims each step's reads are contiguous across a
    warp. With parts > 1, a job per (chunk, output), job = chunk * k + output, writes a partial
    (accumulator dtype, unscaled) and a second kernel combines them in chunk order."""
    chunk = -(-r_size // parts)
    parts_of = {r.array: f"_part{name}_{r.array}" for r in lt.loop.reduces}
    outs = [parts_of[r.array] if parts > 1 else r.array for r in lt.loop.reduces]
    params = lt.params() + outs
    w = _Writer()
    _kernel_header(w, name, params)
    w.line(f"# one thread per output: {k} outputs" + (f", {parts} chunks of {chunk}" if parts > 1 else ""))
    lt.hoist(w)
    w.block(f"for _j in range(cuda.grid(1), {k * parts}, cuda.gridsize(1)):")
    if parts > 1:
        w.line(f"_c = _j // {k}")
        w.line(f"_o = _j - _c * {k}")
        w.line(f"_lo = _c * {chunk}")
        w.line(f"_hi = _lo + {chunk} if _lo + {chunk} < {r_size} else {r_size}")
        span = "_lo, _hi"
    else:
        w.line("_o = _j")
        span = f"{r_size}"
    lt.unravel(w, "_o", lt.kept)
    lt.init(w)
    w.block(f"for _r in range({span}):")
    lt.unravel(w, "_r", list(lt.reduced))
    lt.body(w)
    lt.accumulate(w)
    w.end()
    for r in lt.loop.reduces:
        if parts > 1:
            w.line(f"{parts_of[r.array]}[_j] = {_acc(r)}")
        else:
            w.line(f"{lt.target(r)} = {lt.finish(r, _acc(r))}")
    blocks, threads = runtime.launch_config(k * parts)
    out.kernels += [w.text(), _launcher(name, blocks, threads)]
    for r in lt.loop.reduces if parts > 1 else ():
        out.host.append(f"{parts_of[r.array]} = _rt.empty(({k * parts},), {np_type(lt.acc_dtype(r))})")
    out.host.append(f"{name}_launch({', '.join(params)})")
    if parts == 1:
        return
    if parts <= SERIAL_MAX:
        _combine_serial(lt, name + "_fin", k, parts, parts_of, out)
    else:
        _combine_partials(lt, name + "_fin", k, parts, parts_of, out, index=f"_c * {k} + _o")


def _combine_serial(lt: _LoopText, name: str, k: int, parts: int, parts_of: dict, out: Rendered) -> None:
    """Second pass of a chunked thread-per-output reduction with few chunks: one thread per output
    folds its partials (laid out (parts, k): coalesced across threads) in chunk order."""
    params = [parts_of[r.array] for r in lt.loop.reduces] + [r.array for r in lt.loop.reduces]
    w = _Writer()
    _kernel_header(w, name, params)
    w.block(f"for _o in range(cuda.grid(1), {k}, cuda.gridsize(1)):")
    lt.unravel(w, "_o", lt.kept)
    lt.init(w)
    w.block(f"for _c in range({parts}):")
    for r in lt.loop.reduces:
        w.line(f"_v_{r.array} = {parts_of[r.array]}[_c * {k} + _o]")
        w.line(combine(r.op, _acc(r), f"_v_{r.array}"))
    w.end()
    for r in lt.loop.reduces:
        w.line(f"{lt.target(r)} = {lt.finish(r, _acc(r))}")
    blocks, threads = runtime.launch_config(k)
    out.kernels += [w.text(), _launcher(name, blocks, threads)]
    out.host.append(f"{name}_launch({', '.join(params)})")


def _tree(w: _Writer, lt: _LoopText, threads: int) -> None:
    """Shared-memory tree over `threads` lanes (a power of two); lane 0 ends with the result."""
    for r in lt.loop.reduces:
        w.line(f"_sm_{r.array}[_tid] = {_acc(r)}")
    w.line("cuda.syncthreads()")
    w.line(f"_s = {threads // 2}")
    w.block("while _s > 0:")
    w.block("if _tid < _s:")
    for r in lt.loop.reduces:
        a = r.array
        w.line(f"_a_{a} = _sm_{a}[_tid]")
        w.line(f"_b_{a} = _sm_{a}[_tid + _s]")
        w.line(combine(r.op, f"_a_{a}", f"_b_{a}"))
        w.line(f"_sm_{a}[_tid] = _a_{a}")
    w.end()
    w.line("cuda.syncthreads()")
    w.line("_s = _s // 2")
    w.end()


def _shared(w: _Writer, lt: _LoopText, threads: int) -> None:
    w.line("_tid = cuda.threadIdx.x")
    for r in lt.loop.reduces:
        w.line(f"_sm_{r.array} = cuda.shared.array({threads}, {np_type(lt.acc_dtype(r))})")


def _block_reduction(lt: _LoopText, name: str, k: int, r_size: int, out: Rendered) -> None:
    """One block per output (or per output and chunk, then a combining kernel)."""
    threads = min(runtime.REDUCE_THREADS, max(_pow2_at_least(r_size), 32))
    full_blocks = runtime.launch_config(k * r_size)[0]
    split = max(1, min(-(-full_blocks // k), -(-r_size // (4 * threads)), MAX_SPLIT))
    parts = {r.array: f"_part{name}_{r.array}" for r in lt.loop.reduces}
    outs = [parts[r.array] if split > 1 else r.array for r in lt.loop.reduces]
    params = lt.params() + outs
    w = _Writer()
    _kernel_header(w, name, params)
    _shared(w, lt, threads)
    lt.hoist(w)
    w.block(f"for _b in range(cuda.blockIdx.x, {k * split}, cuda.gridDim.x):")
    if split > 1:
        w.line(f"_o = _b // {split}")
        w.line(f"_c = _b - _o * {split}")
        start, step = f"_c * {threads} + _tid", split * threads
    else:
        w.line("_o = _b")
        start, step = "_tid", threads
    lt.unravel(w, "_o", lt.kept)
    lt.init(w)
    w.block(f"for _r in range({start}, {r_size}, {step}):")
    lt.unravel(w, "_r", list(lt.reduced))
    lt.body(w)
    lt.accumulate(w)
    w.end()
    _tree(w, lt, threads)
    w.block("if _tid == 0:")
    for r in lt.loop.reduces:
        if split > 1:
            w.line(f"{parts[r.array]}[_b] = _sm_{r.array}[0]")
        else:
            w.line(f"{lt.target(r)} = {lt.finish(r, f'_sm_{r.array}[0]')}")
    w.end()
    w.line("cuda.syncthreads()")
    out.kernels += [w.text(), _launcher(name, runtime.reduce_blocks(k * split), threads)]
    if split > 1:
        for r in lt.loop.reduces:
            out.host.append(f"{parts[r.array]} = _rt.empty(({k * split},), {np_type(lt.acc_dtype(r))})")
        out.host.append(f"{name}_launch({', '.join(params)})")
        _combine_partials(lt, name + "_fin", k, split, parts, out)
    else:
        out.host.append(f"{name}_launch({', '.join(params)})")


def _combine_partials(lt: _LoopText, name: str, k: int, split: int, parts: dict, out: Rendered,
                      index: str = "") -> None:
    """Second pass of a split reduction: one block per output combines its partials in order;
    `index` is the partial of output _o and chunk _c (default: laid out (k, split))."""
    index = index or f"_o * {split} + _c"
    threads = min(runtime.REDUCE_THREADS, max(_pow2_at_least(split), 2))
    params = [parts[r.array] for r in lt.loop.reduces] + [r.array for r in lt.loop.reduces]
    w = _Writer()
    _kernel_header(w, name, params)
    _shared(w, lt, threads)
    w.block(f"for _o in range(cuda.blockIdx.x, {k}, cuda.gridDim.x):")
    lt.unravel(w, "_o", lt.kept)
    lt.init(w)
    w.block(f"for _c in range(_tid, {split}, {threads}):")
    for r in lt.loop.reduces:
        w.line(f"_v_{r.array} = {parts[r.array]}[{index}]")
        w.line(combine(r.op, _acc(r), f"_v_{r.array}"))
    w.end()
    _tree(w, lt, threads)
    w.block("if _tid == 0:")
    for r in lt.loop.reduces:
        w.line(f"{lt.target(r)} = {lt.finish(r, f'_sm_{r.array}[0]')}")
    w.end()
    w.line("cuda.syncthreads()")
    out.kernels += [w.text(), _launcher(name, runtime.reduce_blocks(k), threads)]
    out.host.append(f"{name}_launch({', '.join(params)})")


def render_loop(loop: Loop, arrays: dict[str, Array], name: str) -> Rendered:
    """Kernels and host lines of one loop; a loop with no elements to write launches nothing."""
    out = Rendered()
    lt = _LoopText(loop, arrays, out.vm)
    if not loop.reduces:
        if math.prod(loop.shape) > 0:
            _elementwise(lt, name, out)
        return out
    k = math.prod(loop.shape[d] for d in lt.kept)
    r_size = math.prod(loop.shape[d] for d in lt.reduced)
    if k == 0:
        return out
    if r_size <= SERIAL_MAX:
        _thread_reduction(lt, name, k, r_size, out)
    elif _inner_outputs(lt) >= WARP_OUTPUTS:
        _thread_reduction(lt, name, k, r_size, out, _chunks(k, r_size)[0])
    else:
        _block_reduction(lt, name, k, r_size, out)
    return out
