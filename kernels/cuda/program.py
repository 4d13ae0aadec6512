"""The CUDA target: a spec.Program becomes one generated module with a @cuda.jit kernel per loop
and a plain host function that allocates, launches in order and returns device arrays (no
copy to the host, no synchronisation), so a forward or backward is a fixed sequence of
asynchronous launches. The source is kept for debugging; the module file is keyed by device."""
from __future__ import annotations

import math
import sys
import time

import numpy as np

from .. import cache
from ..cpu import CompiledProgram
from ..spec import Array, Call, Loop, Program
from . import calls, loops, runtime
from .elementwise import vm_binding


class CudaProgram(CompiledProgram):
    """A compiled Program: call it with device arrays (inputs, then constants; see `render`)."""

    def rebuild(self) -> None:
        """Drop Numba's on-disk kernels of this program (e.g. a corrupt cache file) and import the
        module afresh: its kernels compile again on their next launch."""
        module = sys.modules.get(self.fn.__module__)
        if module is not None:
            cache.purge_compiled(module)
            cache.forget(module)
        self.fn = getattr(cache.load_module(self.source, "rebuild"), self.program.name)


def _c_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    """C-order strides of `shape`, in elements."""
    strides, step = [], 1
    for s in reversed(shape):
        strides.append(step)
        step *= max(s, 1)
    return tuple(reversed(strides))


def _slice_view(shape: tuple[int, ...], slices: str) -> np.ndarray:
    """The basic-index view `slices` (source text) of an array of `shape`, over element numbers."""
    base = np.arange(math.prod(shape), dtype=np.int64).reshape(shape)
    return eval(f"_a[{slices}]", {"_a": base})  # text made by jitgrad's lowering (basic slices)


def _view_geometry(view: np.ndarray, out_shape: tuple[int, ...]) -> tuple[tuple[int, ...], int]:
    """Element strides for `out_shape` (view's shape up to size-1 dims) and the first element."""
    live = [st // view.itemsize for s, st in zip(view.shape, view.strides, strict=True) if s != 1]
    strides = []
    for s in out_shape:
        strides.append(live.pop(0) if s != 1 else 0)
    offset = int(view.flat[0]) if view.size else 0
    return tuple(strides), offset


def _np(dtype: str) -> str:
    return loops.np_type(dtype)


def _matmul_source(step: Call, arrays: dict[str, Array]) -> str:
    a, b = (arrays[n] for n in step.inputs)
    out = step.output
    if len(a.shape) == 3 and len(b.shape) == 3 and a.shape[0] == b.shape[0]:
        return f"{out} = _mm.matmul({a.name}, {b.name})"
    if len(a.shape) > 2 or len(b.shape) > 2:
        raise ValueError(f"CUDA matmul takes matrices, vectors or equal-batch 3-D stacks, got {a.shape} @ {b.shape}")
    left = a.name if len(a.shape) == 2 else f"{a.name}.reshape((1, {a.shape[0]}))"
    right = b.name if len(b.shape) == 2 else f"{b.name}.reshape(({b.shape[0]}, 1))"
    text = f"_mm.matmul({left}, {right})"
    if len(a.shape) == 1 or len(b.shape) == 1:
        text += f".reshape({tuple(arrays[out].shape)!r})"
    return f"{out} = {text}"


def _copy_source(out: Array, src: str, shape: tuple, strides: tuple, offset: int) -> str:
    if math.prod(shape) == 0:
        return f"{out.name} = _rt.empty({tuple(shape)!r}, {_np(out.dtype)})"
    return f"{out.name} = _layout.strided_copy({src}, {tuple(shape)!r}, {tuple(strides)!r}, {offset})"


def call_source(step: Call, arrays: dict[str, Array]) -> str:
    """One host line (or a few) running a library call through kernels.cuda."""
    x = arrays[step.inputs[0]]
    out = arrays[step.output]
    if step.op == "matmul":
        return _matmul_source(step, arrays)
    if step.op in ("transpose_view", "permute"):
        perm = tuple(step.params[0]) if step.op == "permute" else tuple(reversed(range(len(x.shape))))
        st = _c_strides(x.shape)
        return _copy_source(out, x.name, tuple(x.shape[p] for p in perm), tuple(st[p] for p in perm), 0)
    if step.op == "reshape":
        shape = tuple(step.params[0])
        return f"{out.name} = {x.name}" if shape == x.shape else f"{out.name} = {x.name}.reshape({shape!r})"
    if step.op == "getitem_basic":
        slices, out_shape = step.params
        strides, offset = _view_geometry(_slice_view(x.shape, slices), tuple(out_shape))
        return _copy_source(out, x.name, tuple(out_shape), strides, offset)
    if step.op == "unindex_basic":
        slices, shape, sliced = step.params
        view = _slice_view(tuple(shape), slices)
        strides, offset = _view_geometry(view, tuple(sliced))
        line = f"{out.name} = _rt.zeros({tuple(shape)!r}, {_np(out.dtype)})"
        if math.prod(sliced) == 0:
            return line
        src = x.name if tuple(sliced) == x.shape else f"{x.name}.reshape({tuple(sliced)!r})"
        return f"{line}\n_layout.strided_scatter({out.name}, {src}, {strides!r}, {offset})"
    raise ValueError(f"unknown library op {step.op!r}; known: {('matmul',) + _LAYOUT_OPS}")


_LAYOUT_OPS = ("transpose_view", "permute", "reshape", "getitem_basic", "unindex_basic")


def _written(step) -> list[str]:
    if isinstance(step, Loop):
        return [s.array for s in step.stores] + [r.array for r in step.reduces]
    return []


def render(program: Program) -> str:
    """The module text. The host function takes program.inputs then program.constants (device
    arrays); program.preallocated are optional trailing arguments: it allocates those not given."""
    arrays = program.arrays()
    kernels: list[str] = []
    host: list[str] = []
    vm: set = set()
    allocated = {a.name for a in program.inputs + program.constants + program.preallocated}
    uses = set()
    checks: list[str] = []  # error records of the calls that check indices, in program order
    for i, step in enumerate(program.steps):
        for name in _written(step):
            if name not in allocated:
                a = arrays[name]
                host.append(f"{name} = _rt.empty({tuple(a.shape)!r}, {_np(a.dtype)})")
                allocated.add(name)
        if isinstance(step, Loop):
            r = loops.render_loop(step, arrays, f"_loop{i}")
            kernels += r.kernels
            host += r.host
            vm |= r.vm
        elif isinstance(step, Call):
            if step.op in calls.OPS:
                lines, record, used = calls.render(step, arrays, len(checks))
                uses |= used
                if record is not None:
                    checks.append(record)
            else:
                lines = call_source(step, arrays).split("\n")
                uses.add("_mm" if step.op == "matmul" else "_layout")
            host += lines[:-1] + [lines[-1] + (f"  # {step.origin}" if step.origin else "")]
        else:
            raise TypeError(f"unknown program step {step!r}")
    out = [f'"""Generated by jitgrad for program {program.name} (CUDA); do not edit."""',
           f"# device: {runtime.device_key()}",
           "import math  # noqa: F401 (expressions call math.*)",
           "",
           "import numpy as np",
           "from numba import cuda",
           "",
           "from jitgrad._kernels import vmath as _vm  # noqa: F401",
           "from jitgrad._kernels.cuda import runtime as _rt",
           "from jitgrad._kernels.cuda.loops import launcher as _launcher  # noqa: F401"]
    out += [calls.MODULES[m] for m in sorted(uses)]
    out += ["", "_CACHE = not _rt.simulated()"]
    out += [vm_binding(fn, suffix) for fn, suffix in sorted(vm)]
    for text in kernels:
        out += ["", "", text] if text.startswith("@") else [text]
    params = [a.name for a in program.inputs + program.constants]
    params += [f"{a.name}=None" for a in program.preallocated]
    out += ["", "", f"def {program.name}({', '.join(params)}):"]
    body = [f"# {note}" for note in program.notes]
    body += [f"# {a.name}: {a.dtype}{list(a.shape)}" for a in program.arguments]
    for a in program.preallocated:
        body.append(f"if {a.name} is None:")
        body.append(f"    {a.name} = _rt.empty({tuple(a.shape)!r}, {_np(a.dtype)})")
    allocate_errors, check_errors = calls.error_check(checks)
    body += allocate_errors + host + check_errors
    outs = ", ".join(program.outputs)
    body.append(f"return ({outs}{',' if len(program.outputs) == 1 else ''})")
    out += ["    " + line for line in body]
    return "\n".join(out) + "\n"


def compile_program(program: Program, reason: str = "") -> CudaProgram:
    """Generate, import and return the entry point (kernels compile on their first launch, or
    load from Numba's cache next to the generated file on a real GPU)."""
    runtime.require()
    text = render(program)
    start = time.perf_counter()
    module = cache.load_module(text, reason)
    fn = getattr(module, program.name)
    return CudaProgram(program, text, fn, time.perf_counter() - start)
