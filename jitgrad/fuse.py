"""Fusion: group the equations of a simplified graph into passes over memory.

A LoopGroup is one loop over an iteration shape: elementwise equations (with broadcasting
loads) and reductions of values of that shape, all computed per element in one pass; a
reduction's result is only available after its loop, so its consumers land in a later group.
Matmul, reshapes and transposes are library steps (matmul's elementwise epilogue fuses into the
loop that reads its result). Every other op of the table is a library call too (indexing with
index arrays, setitem, gather/scatter_add, cat/stack, max/min/argmax/argmin along a dim, norm,
var/std, batched matmul, the scans cumsum/cumprod and argsort, traced boolean masks,
convolution and pooling: see lower_calls.py), rendered by kernels/indexed.py and
kernels/library.py on the CPU and by the back end's target for a device (CUDA:
kernels/cuda/calls.py, for the primitives its Backend lists in `call_prims` and
`kernel_prims`), so a graph is one program (a traced mask splits it once: lower.py); an op a
target cannot run falls back to the reference interpreter (or, on a device, its eager kernel)
between programs.

The greedy rule, in equation order: an equation joins the earliest existing loop of its
iteration shape in which all its inputs are ready (computed earlier in that loop, or by an
earlier step) and which then reads at most MAX_LOOP_INPUTS arrays that no loop makes;
otherwise it opens a new loop. Loops of one graph therefore run in creation order and every
value is produced before it is read.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field

import numpy as np

from . import devices, prims
from .core import ELEMENTWISE
from .ir import Eqn, Graph, Var
from .shapes import numel

# ops (by primitive name) that the CPU target runs as library calls (see lower_calls.py); a
# device back end lists those it renders as `call_prims` (devices.Backend)
CPU_CALL_OPS = {"getitem", "unindex", "setitem", "gather", "scatter_add", "cat", "stack", "max_dim", "min_dim",
                "argmax", "argmin", "norm", "var", "std", "matmul", "cumsum", "cumprod", "argsort", "mask_select",
                "mask_scatter", "max_pool2d_indices", "adaptive_max_pool2d_indices"}
# convolutions: BLAS kernels (kernels/conv.py) for float32/float64; other dtypes run through NumPy
CPU_CONV_OPS = {"conv2d", "conv2d_input_grad", "conv2d_weight_grad"}
LIBRARY_OPS = {"matmul", "reshape", "squeeze", "unsqueeze", "permute", "transpose"}


@dataclass
class LoopGroup:
    """One fused loop: `eqns` in order; all reductions reduce `reduce_dims` of `shape`."""

    shape: tuple
    eqns: list = field(default_factory=list)
    reduce_dims: tuple | None = None


@dataclass
class LibraryGroup:
    """A single unfused kernel (matmul, a reshape view, a transpose copy)."""

    eqn: Eqn


@dataclass
class FallbackGroup:
    """An equation with no back-end kernel: run by the reference interpreter."""

    eqn: Eqn


_SIZE_ONE_VIEWS = {"reshape", "squeeze", "unsqueeze"}


def is_fusable_elementwise(eqn: Eqn) -> bool:
    """Elementwise ops with a template, expand (a broadcasting load), and reshapes of
    one-element values (which only move a scalar around)."""
    prim = eqn.prim
    if prim.kind == ELEMENTWISE and prim.template is not None or prim is prims.EXPAND:
        return True
    return prim.name in _SIZE_ONE_VIEWS and numel(eqn.out.shape) == 1



def is_fusable_reduction(eqn: Eqn) -> bool:
    """Reductions declared with a combine rule over `dims` (not the index-carrying ones, and not
    max/min along one dim, whose second result is an index: see lower_calls.py)."""
    reduction = eqn.prim.reduction
    return reduction is not None and not reduction.returns_index and "dims" in eqn.params


def iteration_shape(eqn: Eqn) -> tuple:
    """The loop shape an equation runs over: its output's, or its input's for a reduction."""
    return tuple(eqn.inputs[0].shape) if is_fusable_reduction(eqn) else tuple(eqn.out.shape)


# Numba's np.dot needs SciPy's BLAS wrappers; without SciPy a matmul runs through NumPy between
# compiled programs (correct, one more dispatch).
HAVE_SCIPY_BLAS = importlib.util.find_spec("scipy") is not None
SCIPY_MISSING = ("SciPy is not installed (Numba's np.dot calls BLAS through scipy.linalg.cython_blas), so "
                 "matmul runs through NumPy between compiled programs; install it with `python -m pip install "
                 "scipy` to compile matmuls into the fused kernels")


def fallback_reason(eqn: Eqn, device: str = "cpu") -> str:
    """Why an equation classified 'fallback' has no compiled kernel, for the user's warning."""
    if eqn.prim.name == "matmul" and device == "cpu" and not HAVE_SCIPY_BLAS:
        return SCIPY_MISSING
    return "it runs in the reference interpreter between compiled programs"


def classify(eqn: Eqn, device: str = "cpu") -> str:
    """'loop', 'library' or 'fallback'."""
    if is_fusable_elementwise(eqn) or is_fusable_reduction(eqn):
        return "loop"
    if is_call_op(eqn, device) or eqn.prim.name in kernel_prims(device):
        return "library"
    if eqn.prim.name == "matmul":
        # CPU: np.dot inside Numba (matrix and vector products) needs SciPy's BLAS.
        if device != "cpu":
            return "library" if all(v.ndim <= 2 for v in eqn.inputs) else "fallback"
        return "library" if HAVE_SCIPY_BLAS else "fallback"
    if eqn.prim.name in LIBRARY_OPS:
        return "library"
    if eqn.prim.name in ("getitem", "unindex") and is_basic_index(eqn.params["spec"]):
        return "library"
    return "fallback"


def is_call_op(eqn: Eqn, device: str = "cpu") -> bool:
    """Ops lowered to the library calls of lower_calls.py (indexed loops, cat/stack, row
    reductions, batched matmul); 2-D matmul and basic indexing stay plain library steps."""
    name = eqn.prim.name
    if name == "matmul":
        return (device != "cpu" or HAVE_SCIPY_BLAS) and any(v.ndim > 2 for v in eqn.inputs) \
            and name in call_prims(device)
    if name in ("getitem", "unindex") and is_basic_index(eqn.params["spec"]):
        return False
    if name in CPU_CONV_OPS:
        return device == "cpu" and HAVE_SCIPY_BLAS and eqn.out.dtype in (np.float32, np.float64)
    return name in call_prims(device)


def call_prims(device: str) -> frozenset:
    """The primitives whose lower_calls.py calls `device`'s target renders."""
    if device == "cpu":
        return CPU_CALL_OPS
    return getattr(devices.backend(device), "call_prims", frozenset())


def kernel_prims(device: str) -> frozenset:
    """The primitives `device`'s programs run by calling the back end's kernel for the whole op
    (a 'prim' Call: e.g. CUDA's convolutions and scans); none on the CPU."""
    if device == "cpu":
        return frozenset()
    return getattr(devices.backend(device), "kernel_prims", frozenset())


def is_basic_index(spec: tuple) -> bool:
    """Ints, slices, None and Ellipsis only (no index arrays): a view, lowered as slicing."""
    return all(item[0] != "a" for item in spec)


def fuse(graph: Graph, device: str = "cpu") -> list:
    """The graph's equations grouped into LoopGroup/LibraryGroup/FallbackGroup steps, in order."""
    groups: list = []
    producer: dict[Var, int] = {}  # var -> index of the group that computes it
    reduced: set = set()  # vars that are reduction outputs (ready only after their loop)
    by_shape: dict[tuple, list[int]] = {}
    reads: dict[int, set] = {}  # loop group -> the arrays it must read (see MAX_LOOP_INPUTS)
    all_reads: dict[int, set] = {}  # loop group -> the values it reads from other steps
    in_loop: set = set()  # per-element values of loops (not reductions): no array needed
    broadcasts: set = set()  # loop values that are one element or a broadcast of one (shared, not a chain)
    for eqn in graph.eqns:
        kind = classify(eqn, device)
        if kind != "loop":
            groups.append(LibraryGroup(eqn) if kind == "library" else FallbackGroup(eqn))
            producer[eqn.out] = len(groups) - 1
            continue
        shape = iteration_shape(eqn)
        is_reduction = is_fusable_reduction(eqn)
        dims = tuple(eqn.params["dims"]) if is_reduction else None
        chosen = None
        for g in by_shape.get(shape, ()):
            group = groups[g]
            if is_reduction and group.reduce_dims not in (None, dims):
                continue
            if all(_ready_in(v, g, producer, reduced, shape) for v in eqn.inputs) \
                    and _fits_loop(g, eqn, producer, reads, all_reads, in_loop, broadcasts):
                chosen = g
                break
        if chosen is None:
            groups.append(LoopGroup(shape))
            chosen = len(groups) - 1
            by_shape.setdefault(shape, []).append(chosen)
            reads[chosen], all_reads[chosen] = set(), set()
        group = groups[chosen]
        group.eqns.append(eqn)
        reads[chosen].update(v for v in eqn.inputs if v.value is None and v not in in_loop)
        all_reads[chosen].update(v for v in eqn.inputs if v.value is None and producer.get(v) != chosen)
        if not is_reduction:
            in_loop.add(eqn.out)
        if eqn.prim is prims.EXPAND or numel(eqn.out.shape) == 1:
            broadcasts.add(eqn.out)
        if is_reduction:
            group.reduce_dims = dims
            reduced.add(eqn.out)
        producer[eqn.out] = chosen
    return _sink(graph, groups)


#: A loop grows to at most this many array inputs: the T steps of a sequence model's backward
#: (their gates' derivatives from saved matmul results, a weight's gradient summed over its T
#: uses) then run as loops of bounded size that the steps share once compiled, not as one loop
#: with T inputs whose compile time grows with T. An equation that reads a value of the loop (a
#: chain), or is sunk into it, counts only the inputs that are arrays whatever the fusion (graph
#: inputs, results of library steps and of reductions): fusing another loop's value saves a
#: temporary array, so a long elementwise chain stays one loop (lowering cuts a long body into
#: shared pieces, kernels/chain_pieces). An independent equation joining it (one that reads no
#: value of the loop but broadcasts) counts every input.
MAX_LOOP_INPUTS = 16


def _fits_loop(g: int, eqn: Eqn, producer: dict, reads: dict, all_reads: dict, in_loop: set,
               broadcasts: set) -> bool:
    """Can loop g take eqn within MAX_LOOP_INPUTS (see there)?"""
    if any(producer.get(v) == g and v not in broadcasts for v in eqn.inputs):
        return _fits(reads[g], eqn, in_loop)
    return _fits(all_reads[g], eqn, ())


def _fits(reads: set, eqn: Eqn, in_loop: set) -> bool:
    """Can a loop that reads the arrays `reads` take eqn and still read at most MAX_LOOP_INPUTS?"""
    new = sum(1 for v in eqn.inputs if v.value is None and v not in reads and v not in in_loop)
    return new == 0 or len(reads) + new <= MAX_LOOP_INPUTS


def _sink(graph: Graph, groups: list) -> list:
    """Move elementwise equations into the later loop that reads them, when nothing earlier
    does: values then stay in registers instead of a temporary array (the backward's
    recomputed forward values join the loop that consumes them), unless the loop would then
    read more than MAX_LOOP_INPUTS arrays. One-element values may join a loop of any shape
    (they broadcast)."""
    home: dict = {}
    for g, group in enumerate(groups):
        for eqn in _eqns_of(group):
            home[eqn] = g
    consumers: dict = {}
    for eqn in graph.eqns:
        for v in eqn.inputs:
            consumers.setdefault(v, []).append(eqn)
    outputs = set(graph.outputs)
    in_loop = {e.out for grp in groups if isinstance(grp, LoopGroup) for e in grp.eqns if not is_fusable_reduction(e)}
    reads: dict = {}  # group -> the arrays it must read (see MAX_LOOP_INPUTS), built on demand

    def reads_of(g: int) -> set:
        if g not in reads:
            reads[g] = {v for e in groups[g].eqns for v in e.inputs if v.value is None and v not in in_loop}
        return reads[g]

    for eqn in reversed(graph.eqns):
        g = home[eqn]
        if not isinstance(groups[g], LoopGroup) or is_fusable_reduction(eqn) or eqn.out in outputs:
            continue
        users = consumers.get(eqn.out, [])
        if not users:
            continue
        target = min(home[u] for u in users)
        if target <= g or not isinstance(groups[target], LoopGroup):
            continue
        shape = groups[target].shape
        if groups[g].shape != shape and not (numel(eqn.out.shape) == 1 and len(eqn.out.shape) <= len(shape)):
            continue
        target_reads = reads_of(target)
        if not _fits(target_reads, eqn, in_loop):
            continue
        groups[g].eqns.remove(eqn)
        reads.pop(g, None)
        first_user = min(groups[target].eqns.index(u) for u in users if home[u] == target)
        groups[target].eqns.insert(first_user, eqn)
        home[eqn] = target
        target_reads.update(v for v in eqn.inputs if v.value is None and v not in in_loop)
    return [grp for grp in groups if not (isinstance(grp, LoopGroup) and not grp.eqns)]


def _ready_in(v: Var, g: int, producer: dict, reduced: set, shape: tuple) -> bool:
    """Can loop g (iteration `shape`) read v? Yes if made by an earlier step, or earlier in
    loop g itself as a per-element value of the loop's shape."""
    p = producer.get(v)
    if p is None or p < g:
        return True
    return p == g and v not in reduced and tuple(v.shape) == shape


def materialized(graph: Graph, groups: list) -> set:
    """Values that must live in arrays: graph outputs, reduction results, library/fallback
    results, and loop values read by any other step."""
    home: dict = {}
    for i, group in enumerate(groups):
        for eqn in _eqns_of(group):
            home[eqn.out] = i
    needed = set(graph.outputs)
    for i, group in enumerate(groups):
        if isinstance(group, LoopGroup):
            for eqn in group.eqns:
                if is_fusable_reduction(eqn):
                    needed.add(eqn.out)
                for v in eqn.inputs:
                    if home.get(v, i) != i:
                        needed.add(v)
        else:
            needed.add(group.eqn.out)
            needed.update(v for v in group.eqn.inputs if v in home)
    return needed


def _eqns_of(group) -> list:
    return group.eqns if isinstance(group, LoopGroup) else [group.eqn]
