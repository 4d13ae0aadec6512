"""The CPU target: a spec.Program becomes numba.njit code (prange for large loops), compiled once
per generated text and cached on disk. A small program is ONE function (one Numba dispatch per
call); a large one is one kernel per step, keyed by its structure (kernels.structure), so that
repeated structure compiles once and no function grows without bound, sequenced by a generated
plain-Python driver. The source is kept for debugging."""
from __future__ import annotations

import ast
import math
import os
import sys
import time

import numba
import numpy as np
from numba.core.registry import CPUDispatcher

from . import cache, conv, fori_source, host_steps, library, small_products, source, structure, threads, vmath
from .spec import Call, Program

# Loops of at least this many elements run in parallel chunks (prange); smaller ones stay
# serial (a parallel region costs ~10 us to start, and parallel=True ~0.5 s more to compile).
# Measured here (2 cores, the 4M-chain value-and-grad kernel, ~6 ns/element serial): parallel
# 36.7 vs serial 49.3 us at 8,192 elements, 110 vs 198 us at 32,768, 406 vs 690 us at 131,072.
# But a program that also calls BLAS suffers when its loops are parallel: Numba's OpenMP
# threads spin after their region while OpenBLAS's threads start (the MLP at batch 1024 went
# from 2.9 to 8.0 ms with a 32,768 threshold). At 131,072 elements, the MLP's epilogues stay
# serial and the big elementwise workloads are parallel.
PARALLEL_THRESHOLD = 1 << 17


def parallel_threshold() -> int:
    """The parallel threshold programs are rendered with: PARALLEL_THRESHOLD, or never parallel when
    Numba can run one thread only (NUMBA_NUM_THREADS=1: the most set_num_threads allows; the
    benchmarks' one-thread runs set it). A prange on one thread is pure cost: TRF's bias + ReLU over (32, 16, 256)
    took 79-108 us as a parallel loop on one thread and 18 us serial (its four such loops ~0.6 ms of
    a 7.9 ms training step)."""
    return PARALLEL_THRESHOLD if numba.config.NUMBA_NUM_THREADS > 1 else sys.maxsize


class CompiledProgram:
    """A compiled Program: call it with the input arrays (and constants); `.source` is the text."""

    #: The caller allocates the program's `preallocated` buffers and passes them (see spec.Program).
    caller_buffers = True

    def __init__(self, program: Program, text: str, fn, compile_seconds: float) -> None:
        self.program = program
        self.source = text
        self.fn = fn
        self.compile_seconds = compile_seconds

    def __call__(self, *arrays):
        return self.fn(*arrays)

    def form(self) -> tuple:
        """What `from_form` needs to load this program again without generating its source."""
        return ("single", self.source)

    def rebuild(self) -> None:
        """Drop Numba's on-disk entry for this program (e.g. a corrupt file) and start afresh:
        the next call compiles and writes a new entry."""
        module = sys.modules[self.fn.py_func.__module__]
        cache.purge_compiled(module)
        options = {k: v for k, v in self.fn.targetoptions.items() if k not in ("nopython", "cache")}
        self.fn = threads.entry_point(
            numba.njit(cache=bool(getattr(module, "__file__", None)), **options)(self.fn.py_func))


def render(program: Program, threshold: int | None = None) -> str:
    """The module text, with the njit decorator the program needs (threshold: parallel_threshold(),
    read at call time so that benchmarks.parallel_threshold can vary it). parallel=True only
    when the text has a prange: without one Numba warns (NumbaPerformanceWarning) at compile.
    No C-callable (cfunc) wrapper: nothing calls one, and for a kernel of many array arguments
    it cost a quarter of the compile (the GRU's 147-argument recurrence: 4.9 -> 3.6 s CPU)."""
    threshold = parallel_threshold() if threshold is None else threshold
    text = source.render(program, threshold)
    parallel = "numba.prange(" in text
    decorator = (f"@numba.njit(cache=True, parallel={parallel}, error_model='numpy', "
                 "fastmath={'contract'}, nogil=True, no_cfunc_wrapper=True)")
    return text.replace(f"\ndef {program.name}(", f"\n{decorator}\ndef {program.name}(", 1)


def compile_loop(program: Program, name: str, index: str | None, state: list,
                 threshold: int | None = None) -> tuple[CompiledProgram, list[str]]:
    """The program inlined in a loop that writes its outputs into the state in place (see
    fori_source.render_fori), compiled (or run as Python in the Python run mode), and the names of
    the loop function's trailing parameters."""
    threshold = parallel_threshold() if threshold is None else threshold
    text, others = fori_source.render_fori(program, threshold, name, index, state)
    if runs_as_python():
        return PythonProgram(program, text, _as_python(name, text), 0.0), others
    parallel = "numba.prange(" in text
    decorator = (f"@numba.njit(cache=True, parallel={parallel}, error_model='numpy', "
                 "fastmath={'contract'}, nogil=True)")
    text = text.replace(f"\ndef {name}(", f"\n{decorator}\ndef {name}(", 1)
    return load_text(name, text, "fori_loop", program), others


def compile_program(program: Program, threshold: int | None = None, reason: str = ""):
    """Generate, import and return the compiled entry point (compiled lazily on first call
    by Numba, or loaded from Numba's disk cache): one function, or kernels and a driver when
    that compiles faster (see `split_pays`)."""
    if runs_as_python() or len(program.steps) < 2:  # (one step: nothing to split; see split_pays)
        return compile_single(program, threshold, reason)
    kernels = structure.kernel_steps(program)
    texts = [None if _on_host(step) else render(k.program, threshold) for k, step in zip(kernels, program.steps)]
    if split_pays(program, texts):
        return KernelSequence(program, texts, _driver_source(program, kernels), reason)
    return compile_single(program, threshold, reason)


# No generated function is longer than this many lines: a longer program runs as one kernel per
# step (the 10,035-line function of a 1000-step loop took 16.4 s to compile, and a GRU's backward
# did not compile in 15 minutes). Smaller programs stay ONE function: one Numba dispatch per
# call. (Splitting smaller programs by a compile-time model made MLPE 2.3x and OH 18x slower
# per call: the driver's calls and allocations cost more than the fused function.)
MAX_SINGLE_LINES = 1500

# A shorter program still splits when it has at least SPLIT_MIN_KERNELS kernel steps doing at least
# SPLIT_MIN_WORK loop elements each on average. The single function's compile grows with its kernel
# steps (each library call and buffer is inlined at its site) whatever the sizes, while the driver
# costs a few microseconds per kernel call, small next to that much work. Measured (1 thread): the
# 2-block Transformer's jit_grad (49 and 70 kernel steps, 393 and 877 lines; ~20,000 elements per
# kernel step at batch 32, ~1,300 at batch 2) compiled cold in 171 s as two functions and 24 s CPU
# as kernels; MLPE (at most 22 kernel steps) and OH (one step) stay one function.
SPLIT_MIN_KERNELS = 32
SPLIT_MIN_WORK = 1024


def split_pays(program: Program, texts: list) -> bool:
    """Split into kernels (`texts`: each step's kernel text, None for a step the driver runs)
    when the one function would be longer than MAX_SINGLE_LINES, when it calls a convolution
    kernel (Numba links those large kernels into the calling function, where LLVM inlines every
    call site: a ResNet-18 training step as one function had not compiled after 17 minutes,
    while a convolution called from the driver costs a microsecond next to its milliseconds),
    or when it has many kernel steps that each do enough work (see SPLIT_MIN_KERNELS)."""
    if len(program.steps) < 2:
        return False
    if structure.line_count(program) > MAX_SINGLE_LINES or any(_calls_conv(step) for step in program.steps):
        return True
    kernels = sum(text is not None for text in texts)
    return kernels >= SPLIT_MIN_KERNELS and structure.loop_work(program) >= SPLIT_MIN_WORK * kernels


def _calls_conv(step) -> bool:
    return isinstance(step, Call) and step.op in conv.OPS


class KernelSequence:
    """A program run as kernels (one per step, shared by every step of the same structure)
    called in order by a generated plain-Python driver. The driver takes the program's inputs
    and constants and allocates every other buffer itself (preallocated ones too), each when
    it is first written, and drops it after its last use: a large program's peak memory is
    what is alive at once, not the sum of its intermediates."""

    #: The driver allocates its own buffers: the caller passes none (no pool keeps them alive).
    caller_buffers = False

    def __init__(self, program: Program, texts: list, driver_source: str, reason: str) -> None:
        """`texts`: each step's kernel source (None for a step the driver runs itself)."""
        start = time.perf_counter()
        self.program = program
        self.texts = texts
        self.kernels: dict[str, CompiledProgram] = {}  # by text: one compiled kernel per structure
        self.step_kernels = []
        for text in texts:
            if text is None:
                self.step_kernels.append(None)
                continue
            if text not in self.kernels:
                self.kernels[text] = load_text(structure.KERNEL_NAME, text, reason)
            self.step_kernels.append(self.kernels[text])
        self.driver_source = driver_source
        self._bind()
        self.source = "\n".join([self.driver_source] + [c.source for c in self.kernels.values()])
        self.compile_seconds = time.perf_counter() - start

    def _bind(self) -> None:
        namespace = {f"_k{i}": c.fn for i, c in enumerate(self.step_kernels) if c is not None}
        namespace.update(np=np, lib=library, small_product=small_products.product)
        exec(compile(self.driver_source, f"<jitgrad driver {self.program.name}>", "exec"), namespace)
        self.fn = namespace[self.program.name]

    def __call__(self, *arrays):
        return self.fn(*arrays)

    def form(self) -> tuple:
        """What `from_form` needs to load these kernels and their driver again."""
        return ("sequence", tuple(self.texts), self.driver_source)

    def rebuild(self) -> None:
        """Rebuild every kernel's cache entry (see CompiledProgram.rebuild)."""
        for compiled in self.kernels.values():
            compiled.rebuild()
        self._bind()


def _on_host(step) -> bool:
    """Steps the driver runs as NumPy (kernels.host_steps)."""
    return host_steps.on_host(step)


def _driver_source(program: Program, kernels: list) -> str:
    """A plain-Python function of the program's inputs and constants calling each step's kernel."""
    own = {a.name for a in program.inputs + program.constants}
    lines = [f"def {program.name}({', '.join(a.name for a in program.inputs + program.constants)}):"]
    arrays = program.arrays()
    allocated: set = set()
    host = host_steps.plan(program)
    for i, (k, step) in enumerate(zip(kernels, program.steps)):
        if _on_host(step):
            text = host_steps.source(step, arrays, host)
            lines.extend(f"    {line}" for line in (text.split("\n") if text else ()))
            allocated.add(step.output)
            continue
        for name in k.args:
            if name not in own and name not in allocated:
                lines.extend(f"    {text}" for text in source.allocation(arrays[name], arrays, allocated, "np.empty"))
        outs = (", ".join(k.outputs) + ", = ") if k.outputs else ""
        allocated.update(k.outputs)
        origin = getattr(step, "origin", "") or "; ".join(
            s.origin for s in getattr(step, "stores", ()) + getattr(step, "reduces", ()))[:100]
        lines.append(f"    {outs}_k{i}({', '.join(k.args)})  # {origin}")
    outs = ", ".join(program.outputs)
    lines.append(f"    return ({outs}{',' if len(program.outputs) == 1 else ''})")
    return _with_releases("\n".join(lines) + "\n", own | set(program.outputs))


def _with_releases(text: str, kept: set) -> str:
    """The driver `text` with a `del` after the statement that last uses each local array
    (those in `kept`, the arguments and outputs, stay): an intermediate's memory returns as
    soon as nothing later reads it (a view keeps its base alive through NumPy's own reference)."""
    body = ast.parse(text).body[0].body
    last: dict[str, int] = {}
    for k, stmt in enumerate(body):
        for node in ast.walk(stmt):
            if isinstance(node, ast.Name):
                last[node.id] = k
    releases: dict[int, list] = {}
    locals_ = {node.id for stmt in body for node in ast.walk(stmt)
               if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)}
    for name in sorted(locals_ - kept):
        releases.setdefault(last[name], []).append(name)
    lines = text.split("\n")
    for k in sorted(releases, reverse=True):
        lines.insert(body[k].end_lineno, f"    del {', '.join(releases[k])}")
    return "\n".join(lines)


def compile_single(program: Program, threshold: int | None = None, reason: str = "") -> CompiledProgram:
    """The program as ONE generated function: generate, import and return the compiled entry
    point (compiled lazily on first call
    by Numba, or loaded from Numba's disk cache); in the Python run mode (`runs_as_python`), the
    same generated source run as plain Python."""
    text = render(program, threshold)
    if runs_as_python():
        return PythonProgram(program, text, _as_python(program.name, text), 0.0)
    return load_text(program.name, text, reason, program)


def load_text(name: str, text: str, reason: str = "", program: Program | None = None) -> CompiledProgram:
    """The function `name` of the generated module `text` (compiled by Numba on its first
    call, or loaded from Numba's disk cache)."""
    start = time.perf_counter()
    module = cache.load_module(text, reason)
    fn = threads.entry_point(getattr(module, name))
    return CompiledProgram(program, text, fn, time.perf_counter() - start)


def from_form(program: Program, form: tuple, reason: str = ""):
    """A compiled program loaded again from its `form()` (jitgrad's front-end cache keeps the
    forms of programs it lowered, so a new process need not generate their source again)."""
    if form[0] == "single":
        return load_text(program.name, form[1], reason, program)
    _, texts, driver_source = form
    return KernelSequence(program, list(texts), driver_source, reason)


# ----- the Python run mode -----------------------------------------------------------------------
# $JITGRAD_CPU_KERNELS=python: each program's generated source (the very text Numba would compile,
# so its structure is the one checked) runs as plain Python, with kernels.library's and kernels.vmath's
# functions as their Python versions and math.* as NumPy's IEEE scalar functions (sqrt(-1) is nan,
# not a ValueError, as in Numba). No compile at all: the fast path of the tests' compiled column.


class PythonProgram(CompiledProgram):
    """A program run as Python: nothing on disk to rebuild (an error is the program's own)."""

    def rebuild(self) -> None:
        pass


def runs_as_python() -> bool:
    """Whether programs run as Python (read at each compile, so tests can switch it)."""
    return os.environ.get("JITGRAD_CPU_KERNELS", "numba") == "python"


class _PythonFunctions:
    """A module whose njit functions are read as their Python functions; `vm.<op>_f32`/`_f64`
    results are NumPy scalars of that dtype (as the compiled functions return them)."""

    def __init__(self, module, typed: bool) -> None:
        self._module, self._typed = module, typed

    def __getattr__(self, name: str):
        found = getattr(self._module, name)
        if not isinstance(found, CPUDispatcher):
            return found
        fn = found.py_func
        if self._typed and name.endswith(("_f32", "_f64")):
            scalar = np.float32 if name.endswith("_f32") else np.float64
            typed = fn

            def fn(*args):
                return scalar(typed(*args))
        setattr(self, name, fn)
        return fn


class _IeeeMath:
    """math.* as generated code uses it, with NumPy's IEEE results (nan/inf, never an exception)."""

    def __getattr__(self, name: str):
        found = getattr(np, name, None)
        return found if callable(found) else getattr(math, name)

    fabs = staticmethod(np.fabs)


def _as_python(name: str, text: str):
    """The program function of `text` run as Python (its @_serial helpers too)."""
    namespace: dict = {"__name__": f"jitgrad_python_{name}"}
    text = text.replace("cache=True", "cache=False")  # (only their Python functions run: nothing to cache)
    exec(compile(text, f"<jitgrad program {name} as Python>", "exec"), namespace)  # our generated source
    for key, value in list(namespace.items()):
        if isinstance(value, CPUDispatcher):
            namespace[key] = value.py_func
    namespace.update(lib=_PythonFunctions(library, typed=False), vm=_PythonFunctions(vmath, typed=True),
                     math=_IeeeMath())
    program = namespace[name]

    def run(*arrays):
        with np.errstate(all="ignore"):  # IEEE results, silently, as the compiled program gives them
            return program(*arrays)
    return run
