"""Every kernel family of kernels.cuda compiles to PTX for a real H100 (compute capability 9.0).

The CUDA simulator runs kernels as Python, so it accepts code that real CUDA compilation rejects
(untyped globals, object-mode constructs, float64 creeping into float32 code). These tests need no
GPU and no driver, only libNVVM (the CUDA toolkit): they generate each kernel's source the way a
launch on an H100 would (runtime queries answered by a fake H100), then run the full Numba CUDA
pipeline (typing, lowering, NVVM) on concrete argument types, as a launch would type them.

Numba compiles device functions (kernels.vmath.cuda_device, numba.cuda.random's xoroshiro128+)
for the *current* device's compute capability, which asks the driver; the `h100` fixture answers
that query with cc 9.0 instead, so kernels calling device functions are validated too.
"""
from __future__ import annotations

import inspect
import os
import re
import types as pytypes

import numpy as np
import pytest

if os.environ.get('NUMBA_ENABLE_CUDASIM') == '1':
    pytest.skip('PTX compilation needs the real CUDA target, not the simulator', allow_module_level=True)
cuda = pytest.importorskip('numba.cuda')
from numba.cuda.cudadrv import nvvm  # noqa: E402

if not nvvm.is_available():
    pytest.skip('libNVVM (CUDA toolkit) not found: cannot compile kernels to PTX', allow_module_level=True)
try:  # NVIDIA's numba-cuda also needs NVRTC, from its [cu12] extra or a system toolkit
    cuda.compile_ptx(lambda a: None, 'void(float32[::1])', cc=(9, 0))
except Exception as exc:  # noqa: BLE001 - any missing piece of the toolchain
    pytest.skip(f'the CUDA compiler toolchain is incomplete here: {exc}', allow_module_level=True)

import numba  # noqa: E402
from numba import types as nt  # noqa: E402

from jitgrad._kernels.spec import Array, Call, Load, Loop, Program, Reduce, Stmt, Store  # noqa: E402

CC = (9, 0)
H100 = pytypes.SimpleNamespace(name='NVIDIA H100 80GB HBM3', compute_capability=CC, MULTIPROCESSOR_COUNT=132,
                               MAX_THREADS_PER_BLOCK=1024, WARP_SIZE=32, MAX_SHARED_MEMORY_PER_BLOCK=48 * 1024)


def _clear_runtime_caches(runtime) -> None:
    for fn in (runtime.device_key, runtime.properties, runtime._max_blocks, runtime._total_memory,
               runtime._device, runtime._problem):
        fn.cache_clear()


@pytest.fixture(scope='module')
def h100(tmp_path_factory):
    """kernels.cuda.runtime answers as an H100 would; device functions compile for cc 9.0."""
    from jitgrad._kernels.cuda import runtime
    _clear_runtime_caches(runtime)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv('JITGRAD_CACHE_DIR', str(tmp_path_factory.mktemp('ptx_cache')))
            mp.setattr(runtime, '_problem', lambda: None)
            mp.setattr(runtime, '_device', lambda: H100)
            mp.setattr(numba.cuda.dispatcher, 'get_current_device', lambda: H100)
            yield runtime
    finally:
        _clear_runtime_caches(runtime)  # nothing computed for the fake H100 outlives the tests


def arr(dtype, ndim: int = 1):
    """Numba type of a C-contiguous device array (what a launch infers from a DeviceNDArray)."""
    return nt.Array(numba.from_dtype(np.dtype(dtype)), ndim, 'C')


def tup(n: int):
    """Numba type of a tuple of n Python ints (shapes, strides)."""
    return nt.UniTuple(nt.int64, n)


def scalar(dtype):
    return numba.from_dtype(np.dtype(dtype))


def ptx(kernel, *argtypes) -> str:
    """PTX of a kernel (a cuda.jit dispatcher or its Python function) for cc 9.0."""
    fn = getattr(kernel, 'py_func', kernel)
    code, restype = cuda.compile_ptx(fn, argtypes, cc=CC)
    assert restype == nt.void and '.entry' in code and '.target sm_90' in code
    return code


def f64_ops(code: str) -> list[str]:
    """float64 arithmetic instructions in PTX (float32 kernels should have none)."""
    return re.findall(r'^\s*((?:add|sub|mul|fma|div|cvt)\.[\w.]*f64[\w.]*)', code, re.M)


# ---- elementwise ---------------------------------------------------------------------------------

F32, F64, I32, I64, B = np.float32, np.float64, np.int32, np.int64, np.bool_

# (expr, operand kinds, operand dtypes, out dtype, rank of the broadcast space, float32-only?)
ELEMENTWISE = [
    ('vm.tanh_f32(x0) * x1 + np.float32(0.5)', 'ff', (F32, F32), F32, 0, True),
    # sin/cos/tan_f32 reduce |x| >= 2**17 exactly through float64: a branch only such arguments take
    ('vm.sin_f32(x0) * x1 + np.float32(0.5)', 'ff', (F32, F32), F32, 0, False),
    ('(x0 if x0 > x1 else x1)', 'bf', (F32, F32), F32, 2, True),
    ('vm.exp_f64(x0) - x1', 'b1', (F64, F64), F64, 3, False),
    ('(x0 > x1)', 'fs', (I32, I64), B, 0, False),
    ('np.float32(x0) * x1', 'fb', (I32, F32), F32, 2, True),
    ('(np.float32(np.nan) if x0 != x0 else math.sqrt(math.fabs(x0)))', 'f', (F32,), F32, 0, True),
    ('vm.pow_f32(x0, np.float32(1.5)) + vm.tanh_f32(x1) * vm.sigmoid_f32(x1)', 'fs', (F32, F32), F32, 0, False),
    ('(x0 & x1)', 'bb', (B, B), B, 2, False),
    ('(x0 // x1 if x1 != 0 else np.int64(0))', 'ff', (I64, I64), I64, 0, False),
    ('(x0 != 0)', 'f', (F64,), B, 0, False),
]


@pytest.mark.parametrize('expr,kinds,dtypes,out,ndim,f32_only', ELEMENTWISE,
                         ids=[f'e{i}' for i in range(len(ELEMENTWISE))])
def test_elementwise_kernels(h100, expr, kinds, dtypes, out, ndim, f32_only):
    from jitgrad._kernels.cuda import elementwise as ew
    kernel = h100.load_generated(ew._source(expr, tuple(kinds), ndim), 'ptx test').kernel
    args = [arr(out)]
    for kind, dtype in zip(kinds, dtypes, strict=True):
        args.append(scalar(dtype) if kind == 's' else arr(dtype))
    if 'b' in kinds:
        args += [tup(ndim)] * (1 + kinds.count('b'))
    code = ptx(kernel, *args)
    if f32_only:
        assert not f64_ops(code), f64_ops(code)


@pytest.mark.parametrize('dtype', [F32, F64, I32, I64, B], ids=lambda d: np.dtype(d).name)
def test_fill_kernel(h100, dtype):
    from jitgrad._kernels.cuda.fill import fill
    ptx(fill, arr(dtype), scalar(dtype))


# ---- reductions ----------------------------------------------------------------------------------

# Eager reductions are one-loop programs of the compiled programs' generator (kernels/cuda/loops.py):
# (op, input dtype, output dtype, canonical shape, reduced dims, scale)
REDUCE = [
    ('sum', F32, F32, (6, 4000), (1,), 1 / 4000),     # mean of float32, float64 accumulator, block tree
    ('sum', F32, F32, (300_000,), (0,), 1.0),           # partials + a combining pass
    ('max', F32, F32, (7, 40, 3000), (0, 2), 1.0),
    ('min', F64, F64, (5000, 64), (0,), 1.0),           # kept inner dim: a thread per output, chunks
    ('prod', I32, I32, (10, 12), (1,), 1.0),            # small: serial per output
    ('max', I64, I64, (4096,), (0,), 1.0),
    ('sum', B, I64, (4096, 8), (0,), 1.0),
    ('max', B, B, (8, 4096), (1,), 1.0),
]


@pytest.mark.parametrize('op,dtype,out,shape,axes,scale', REDUCE, ids=[f'r{i}' for i in range(len(REDUCE))])
def test_reduce_kernels(h100, op, dtype, out, shape, axes, scale):
    from jitgrad._kernels.cuda import program as cuda_program
    from jitgrad._kernels.cuda import reduce as red
    prog = red.program_spec(op, np.dtype(dtype), np.dtype(out), shape, axes, scale)
    compiled = cuda_program.compile_program(prog, 'ptx test')
    _check_program_kernels(prog, compiled, f32_only=False)


@pytest.mark.parametrize('op,dtype', [('max', F32), ('min', F64), ('max', I64), ('min', B)],
                         ids=['max_f32', 'min_f64', 'max_i64', 'min_bool'])
def test_arg_reduce_kernels(h100, op, dtype):
    from jitgrad._kernels.cuda import reduce as red
    val = 'int32' if dtype == B else np.dtype(dtype).name
    kernel = h100.load_generated(red._arg_source(op, val), 'ptx test').kernel
    ptx(kernel, arr(dtype), arr(dtype), arr(I64), nt.int64, nt.int64)


# ---- matmul, layout, random ----------------------------------------------------------------------

@pytest.mark.parametrize('a,b', [(F32, F32), (F64, F64), (F32, F64), (I64, I64)],
                         ids=['f32', 'f64', 'f32_f64', 'i64'])
def test_matmul_kernels(h100, a, b):
    from jitgrad._kernels.cuda import matmul
    out = np.result_type(a, b)
    code = ptx(matmul._kernel(out), arr(a, 3), arr(b, 3), arr(out, 3), arr(I64), arr(I64))
    if out == F32:
        assert not f64_ops(code), f64_ops(code)


@pytest.mark.parametrize('name,dtype,ndim', [('_gather', F32, 1), ('_gather', B, 3), ('_scatter', I64, 2),
                                             ('_scatter', F64, 4), ('_scatter_add', F32, 2),
                                             ('_scatter_add', F64, 1)])
def test_layout_kernels(h100, name, dtype, ndim):
    from jitgrad._kernels.cuda import layout
    ptx(getattr(layout, name), arr(dtype), arr(dtype), tup(ndim), tup(ndim), nt.int64)


@pytest.mark.parametrize('dtype', [F32, F64, I64, B], ids=['f32', 'f64', 'i64', 'bool'])
def test_indexed_kernels(h100, dtype):
    from jitgrad._kernels.cuda import indexed
    pos = arr(I64)
    ptx(indexed._take, arr(dtype), pos, arr(dtype))
    ptx(indexed._put, arr(dtype), pos, pos, arr(dtype), pos, nt.int64)
    if dtype != B:
        ptx(indexed._sum_segments, arr(dtype), arr(dtype), pos, pos, pos)


@pytest.mark.parametrize('n_terms,has_sel,wraps', [(1, (False,), True), (2, (True, False), True),
                                                   (1, (False,), False)])
def test_index_position_kernels(h100, n_terms, has_sel, wraps):
    """The generated positions kernel (bounds checks recorded with an integer atomic min), for
    int64 and int32 index arrays."""
    from jitgrad._kernels.cuda import indexed
    kernel = h100.load_generated(indexed._positions_source(n_terms, has_sel, wraps), 'ptx test').positions
    for index in (I64, I32):
        maps = [arr(I64)] * sum(has_sel)
        ptx(kernel, arr(I64), *[arr(index)] * n_terms, *maps, tup(n_terms), tup(n_terms), arr(I64), nt.int64,
            arr(I64))


def test_scatter_add_helper_kernels(h100):
    from jitgrad._kernels.cuda import indexed
    pos = arr(I64)
    ptx(indexed._claim, pos, pos)
    ptx(indexed._count, pos, pos)
    ptx(indexed._place, pos, pos, pos)
    ptx(indexed._scan_chunks, pos, pos, pos, nt.int64)
    ptx(indexed._scan_totals, pos)
    ptx(indexed._add_offsets, pos, pos, nt.int64)


@pytest.mark.parametrize('dtype', [F32, F64, I64, B], ids=['f32', 'f64', 'i64', 'bool'])
def test_boolean_mask_kernels(h100, dtype):
    """The traced-mask passes (block counts and the compaction, both with shared-memory scans;
    the total and its count check) and the select/scatter through the positions."""
    from jitgrad._kernels.cuda import masks
    pos = arr(I64)
    ptx(masks._count_blocks, arr(B), pos)
    ptx(masks._total, pos, pos, pos, nt.int64, pos, nt.int64)
    ptx(masks._compact, arr(B), pos, pos)
    code = ptx(masks._select, arr(dtype), pos, arr(dtype), nt.int64, nt.int64, nt.int64)
    ptx(masks._scatter, arr(dtype), pos, arr(dtype), nt.int64, nt.int64, nt.int64)
    if dtype == F32:
        assert not f64_ops(code), f64_ops(code)


@pytest.mark.parametrize('dtype', [F32, F64])
def test_row_kernels(h100, dtype):
    """Welford var/std and the p-norm per row (float64 accumulation, as on the CPU)."""
    from jitgrad._kernels.cuda import rows
    ptx(rows._moments, arr(dtype), arr(dtype), nt.int64, nt.int64, nt.boolean)
    ptx(rows._norm, arr(dtype), arr(dtype), nt.int64, nt.float64)


@pytest.mark.parametrize('dtype', [F32, F64])
def test_conv_and_pool_kernels(h100, dtype):
    """The direct convolution kernels (and their gradients) and the pooling argmax kernels."""
    from jitgrad._kernels.cuda import conv
    for kernel in (conv._conv2d, conv._input_grad, conv._weight_grad):
        ptx(kernel, arr(dtype), arr(dtype), arr(dtype), tup(10), tup(6))
    ptx(conv._max_pool_indices, arr(dtype), arr(I64), tup(6), tup(6))
    ptx(conv._adaptive_max_indices, arr(dtype), arr(I64), tup(4))


@pytest.mark.parametrize('dtype,out', [(F32, F32), (F64, F64), (I64, I64), (B, I64), (I32, I64)])
def test_scan_and_argsort_kernels(h100, dtype, out):
    from jitgrad._kernels.cuda import scan
    ptx(scan._scan, arr(dtype), arr(out), nt.int64, nt.int64, nt.int64, nt.boolean)
    if dtype != B:
        ptx(scan._argsort, arr(dtype), arr(I64), nt.int64, nt.int64, nt.boolean)


def test_concatenate_scatters_promoted_dtypes(h100):
    from jitgrad._kernels.cuda import layout
    ptx(layout._scatter, arr(F64), arr(F32), tup(2), tup(2), nt.int64)  # float32 part of a float64 cat


@pytest.mark.parametrize('name,dtype', [('_uniform_f32', F32), ('_uniform_f64', F64), ('_normal', F32),
                                        ('_normal', F64)])
def test_random_kernels(h100, name, dtype):
    from jitgrad._kernels.cuda import random
    states = nt.Array(numba.from_dtype(random.xoroshiro128p_dtype), 1, 'C')
    code = ptx(getattr(random, name), arr(dtype), states, nt.uint64)
    if name == '_uniform_f32':
        assert not f64_ops(code), f64_ops(code)


# ---- compiled programs ---------------------------------------------------------------------------

def _program(name, inputs: list[Array], outputs, temps, steps) -> Program:
    return Program(name, tuple(inputs), tuple(outputs), temporaries=tuple(temps), steps=tuple(steps))


def _flat_program():
    x, y, one, z = (Array('x', (64, 70), 'float32'), Array('y', (64, 70), 'float32'),
                    Array('one', (1, 1), 'float32'), Array('z', (), 'float32'))
    loop = Loop((64, 70), (Load('a', 'x'), Load('b', 'y'), Load('c', 'one'), Load('d', 'z')),
                (Stmt('t', 'vm.tanh_f32(a) * c + np.float32(0.5)', 'tanh/mul/add'),
                 Stmt('u', '(t if b > np.float32(0.0) else np.float32(np.nan))'),
                 Stmt('v', 'math.sqrt(math.fabs(a)) + d * vm.exp_f32(b)'),
                 Stmt('w', '(np.float32(np.inf) if b > np.float32(1.5) else v)'),
                 Stmt('i', 'np.int32(a * np.float32(10.0))'),
                 Stmt('m', '(a > b)')),
                stores=(Store('o1', 'u'), Store('o2', 'w'), Store('o3', 'i'), Store('o4', 'm')))
    temps = [Array('o1', (64, 70), 'float32'), Array('o2', (64, 70), 'float32'),
             Array('o3', (64, 70), 'int32'), Array('o4', (64, 70), 'bool')]
    return _program('flat', [x, y, one, z], ['o1', 'o2', 'o3', 'o4'], temps, [loop]), True


def _broadcast_program():
    shape = (30, 40, 50)
    ins = [Array('x', shape, 'float64'), Array('row', (40, 1), 'float64'), Array('col', (50,), 'float64'),
           Array('s', (), 'float64')]
    loop = Loop(shape, (Load('a', 'x'), Load('b', 'row'), Load('c', 'col'), Load('d', 's')),
                (Stmt('t', 'a * b + vm.log1p_f64(c * d)'), Stmt('u', 'b * 2.0')),
                stores=(Store('o', 't'), Store('ob', 'u')))
    temps = [Array('o', shape, 'float64'), Array('ob', (40, 1), 'float64')]
    return _program('bcast', ins, ['o', 'ob'], temps, [loop]), False


def _reduction_program(op, dtype, mean):
    """Every strategy: a full reduction of a large loop (partials + a combining kernel, with a
    store beside), trailing (block tree per output), leading and middle (one thread per output,
    small reduced spaces), keepdim."""
    shape = (6, 10, 700)
    specs = [('all', (0, 1, 2), ()), ('all_keep', (0, 1, 2), (1, 1, 1)), ('lead', (0,), (10, 700)),
             ('trail', (1, 2), (6,)), ('mid_keep', (1,), (6, 1, 700)), ('lead2_keep', (0, 1), (1, 1, 700))]
    steps, temps = [], [Array('copy', shape, dtype)]
    for tag, dims, out_shape in specs:
        out = f'r_{tag}'
        sc = 1.0 / int(np.prod([shape[d] for d in dims])) if mean else 1.0
        stores = (Store('copy', 'v'),) if tag == 'all' else ()
        steps.append(Loop(shape, (Load('v', 'x'),), (), stores=stores,
                          reduces=(Reduce(out, op, 'v', dims, sc, origin=f'{op} {tag}'),)))
        temps.append(Array(out, out_shape, dtype))
    return _program(f'red_{op}_{dtype}', [Array('x', shape, dtype)], [t.name for t in temps], temps, steps), False


def _mixed_reduction_program():
    """float32 sums in float64, int and bool reductions, two reductions in one loop, a 0-d loop."""
    steps = [Loop((4000,), (Load('a', 'x'),), (), reduces=(Reduce('s32', 'sum', 'a', (0,)),)),
             Loop((40, 60), (Load('b', 'k'),), (), reduces=(Reduce('ks', 'sum', 'b', (1,)),
                                                            Reduce('kp', 'prod', 'b', (1,)))),
             Loop((40, 60), (Load('c', 'big'),), (), reduces=(Reduce('bmax', 'max', 'c', (0, 1)),
                                                              Reduce('bmin', 'min', 'c', (0, 1)))),
             Loop((40, 6), (Load('d', 'm'),), (), reduces=(Reduce('cnt', 'sum', 'd', (0,)),)),
             Loop((400, 6), (Load('d', 'm2'),), (), reduces=(Reduce('any', 'max', 'd', (0, 1)),
                                                            Reduce('all', 'min', 'd', (0, 1)))),
             Loop((), (Load('e', 'z'),), (Stmt('f', 'e * 3.0'),), stores=(Store('o', 'f'),),
                  reduces=(Reduce('r', 'sum', 'f', (), 0.5),))]
    ins = [Array('x', (4000,), 'float32'), Array('k', (40, 60), 'int32'), Array('big', (40, 60), 'int64'),
           Array('m', (40, 6), 'bool'), Array('m2', (400, 6), 'bool'), Array('z', (), 'float64')]
    temps = [Array('s32', (), 'float32'), Array('ks', (40,), 'int32'), Array('kp', (40,), 'int32'),
             Array('bmax', (), 'int64'), Array('bmin', (), 'int64'), Array('cnt', (6,), 'int64'),
             Array('o', (), 'float64'), Array('r', (), 'float64'), Array('any', (), 'bool'), Array('all', (), 'bool')]
    return _program('mixed', ins, [t.name for t in temps], temps, steps), False


def _calls_program():
    """Library calls (host code) around a fused epilogue: the kernels of a model's forward."""
    steps = [Call('matmul', ('a', 'w'), 'h'), Call('transpose_view', ('w',), 'wt'),
             Loop((50, 40), (Load('p', 'h'), Load('q', 'bias')),
                  (Stmt('z', 'p + q'), Stmt('r', '(z if z > np.float32(0.0) else np.float32(0.0))')),
                  stores=(Store('out', 'r'),),
                  reduces=(Reduce('lsum', 'sum', 'r', (0, 1), 1.0 / 2000),))]
    ins = [Array('a', (50, 30), 'float32'), Array('w', (30, 40), 'float32'), Array('bias', (40,), 'float32')]
    temps = [Array('h', (50, 40), 'float32'), Array('wt', (40, 30), 'float32'), Array('out', (50, 40), 'float32'),
             Array('lsum', (), 'float32')]
    return _program('calls', ins, ['out', 'lsum', 'wt'], temps, steps), False


def _coalesced_reduction_program():
    """Reductions keeping the innermost dims (a bias gradient) as an H100 runs them: one thread per
    output in one pass (outputs fill the device), in chunks combined by one thread per output (few
    chunks) or by a block tree per output (many chunks); keepdim, a store, broadcast and hoisted
    loads, a middle dim before a kept inner run; float32 (float64 partials), int32, bool."""
    steps = [Loop((20, 300_000), (Load('a', 'x'),), (), reduces=(Reduce('one_pass', 'sum', 'a', (0,), 0.05),)),
             Loop((100, 32_768), (Load('a', 'y'),), (), reduces=(Reduce('few_chunks', 'max', 'a', (0,)),)),
             Loop((64, 64, 64), (Load('a', 'z'), Load('b', 'bias'), Load('c', 'one')), (Stmt('t', 'a * c + b'),),
                  stores=(Store('zy', 't'),),
                  reduces=(Reduce('many_chunks', 'sum', 't', (0, 1), 1.0 / 4096),
                           Reduce('many_min', 'min', 't', (0, 1)))),
             Loop((8, 512, 64), (Load('d', 'k'),), (), reduces=(Reduce('mid', 'sum', 'd', (1,)),)),
             Loop((4096, 40), (Load('e', 'm'),), (), reduces=(Reduce('cnt', 'sum', 'e', (0,)),
                                                                  Reduce('anyv', 'max', 'e', (0,))))]
    ins = [Array('x', (20, 300_000), 'float32'), Array('y', (100, 32_768), 'float64'),
           Array('z', (64, 64, 64), 'float32'), Array('bias', (64,), 'float32'), Array('one', (1, 1), 'float32'),
           Array('k', (8, 512, 64), 'int32'), Array('m', (4096, 40), 'bool')]
    temps = [Array('one_pass', (300_000,), 'float32'), Array('few_chunks', (1, 32_768), 'float64'),
             Array('zy', (64, 64, 64), 'float32'), Array('many_chunks', (64,), 'float32'),
             Array('many_min', (1, 1, 64), 'float32'), Array('mid', (8, 64), 'int32'),
             Array('cnt', (40,), 'int64'), Array('anyv', (40,), 'bool')]
    return _program('coalesced', ins, [t.name for t in temps], temps, steps), False


PROGRAMS = {
    'flat': _flat_program,
    'broadcast': _broadcast_program,
    'sum_f32_mean': lambda: _reduction_program('sum', 'float32', True),
    'max_f64': lambda: _reduction_program('max', 'float64', False),
    'min_i64': lambda: _reduction_program('min', 'int64', False),
    'prod_f64': lambda: _reduction_program('prod', 'float64', False),
    'mixed': _mixed_reduction_program,
    'calls': _calls_program,
    'coalesced': _coalesced_reduction_program,
}


def _kernels_of(fn) -> list:
    """The cuda.jit kernels (not device functions) of a generated program module."""
    return [v for k, v in sorted(fn.__globals__.items())
            if isinstance(v, numba.cuda.dispatcher.CUDADispatcher) and k.startswith('_loop')]


def _check_program_kernels(prog, compiled, f32_only: bool) -> None:
    """Every kernel of a compiled program compiles to PTX for the argument types a launch gives it."""
    arrays = prog.arrays()
    partials = dict(re.findall(r'(_part\w+) = _rt\.empty\(\(\d+,\), np\.(\w+)\)', compiled.source))
    kernels = _kernels_of(compiled.fn)
    assert kernels, compiled.source
    for kernel in kernels:
        argtypes = []
        for p in inspect.signature(kernel.py_func).parameters:
            if p in partials:
                argtypes.append(arr(partials[p]))
            else:
                a = arrays[p]
                argtypes.append(arr(a.dtype, len(a.shape)))
        code = ptx(kernel, *argtypes)
        if f32_only:
            assert not f64_ops(code), (kernel.py_func.__name__, f64_ops(code))


@pytest.mark.parametrize('name', list(PROGRAMS))
def test_program_kernels(h100, name):
    from jitgrad._kernels.cuda import program as cuda_program
    prog, f32_only = PROGRAMS[name]()
    compiled = cuda_program.compile_program(prog, 'ptx test')
    _check_program_kernels(prog, compiled, f32_only)
    if name.startswith(('sum', 'max', 'min', 'prod')):
        assert '_fin(' in compiled.source  # the large full reductions ran in two passes
    if name == 'coalesced':  # H100: 132 SMs x 2048 resident threads to fill
        src = compiled.source
        assert '# one thread per output: 300000 outputs\n' in src and '_loop0_fin' not in src
        assert '# one thread per output: 32768 outputs, 4 chunks of 25' in src
        assert '# one thread per output: 64 outputs, 128 chunks of 32' in src
        assert '# one thread per output: 512 outputs, 16 chunks of 32' in src
        assert '# one thread per output: 40 outputs, 128 chunks of 32' in src
        assert 'cuda.shared' in src.split('def _loop2_fin')[1].split('def _loop3')[0]  # 128 chunks: a block tree
        assert 'cuda.shared' not in src.split('def _loop1_fin')[1].split('def _loop2')[0]  # 4: a thread each


# ---- every elementwise template of jitgrad, and kernels.vmath's device functions ----------------

def _template_cases(dtype: np.dtype) -> list[tuple[str, dict, int]]:
    """(primitive name, params, arity) of jitgrad's elementwise templates that apply to dtype."""
    unary_f = ['EXP', 'EXPM1', 'LOG', 'LOG1P', 'SQRT', 'SIN', 'COS', 'TAN', 'TANH', 'SIGMOID']
    if dtype == np.bool_:
        return ([(n, {}, 2) for n in ('EQ', 'NE', 'LT', 'GE', 'LOGICAL_AND', 'LOGICAL_OR')]
                + [('LOGICAL_NOT', {}, 1), ('WHERE', {}, 3)]
                + [('CAST', {'dtype': np.dtype(t)}, 1) for t in (F32, F64, I32, I64)])
    cases = [(n, {}, 1) for n in ['NEG', 'ABS', 'SIGN', 'RELU'] + (unary_f if dtype.kind == 'f' else [])]
    cases += [(n, {}, 2) for n in ('ADD', 'SUB', 'MUL', 'POW', 'MAXIMUM', 'MINIMUM', 'EQ', 'LT', 'GE')]
    cases += [('WHERE', {}, 3), ('CAST', {'dtype': np.dtype(B)}, 1)]
    cases += [('CAST', {'dtype': np.dtype(t)}, 1) for t in (F32, F64, I32, I64) if t != dtype]
    if dtype.kind == 'f':
        cases += [('DIV', {}, 2), ('CLAMP', {'min': -1.0, 'max': 2.0}, 1)]
        cases += [('POW_SCALAR', {'exponent': e}, 1) for e in (2, -1, 0.5, -0.5, 2.5)]
    else:
        cases += [('CLAMP', {'min': -1, 'max': 2}, 1), ('POW_SCALAR', {'exponent': 3}, 1)]
    return cases


@pytest.mark.parametrize('dtype', [F32, F64, I32, I64, B], ids=lambda d: np.dtype(d).name)
def test_every_elementwise_template(h100, dtype):
    """jitgrad's op templates (templates.scalar_expression, as eager GPU ops and fused loops use them)
    in one fused loop per dtype: a float32 loop stays float32 except where vmath's pow, a cast
    to float64, or the large-argument branch of sin/cos/tan asks for float64."""
    prims = pytest.importorskip('jitgrad.prims')
    from jitgrad._kernels.cuda import program as cuda_program
    from jitgrad.templates import scalar_expression
    dtype = np.dtype(dtype)
    loads = (Load('a', 'x'), Load('b', 'y'), Load('c', 'm'))
    stmts, stores, temps = [], [], []
    for i, (name, params, arity) in enumerate(_template_cases(dtype)):
        prim = getattr(prims, name)
        operands = ['c', 'a', 'b'] if name == 'WHERE' else ['a', 'b'][:arity]
        out = params.get('dtype', np.dtype(B) if name in ('EQ', 'NE', 'LT', 'GE') else dtype)
        stmts.append(Stmt(f't{i}', scalar_expression(prim, params, dtype, out, operands), name))
        stores.append(Store(f'o{i}', f't{i}'))
        temps.append(Array(f'o{i}', (1000,), out.name))
    ins = [Array('x', (1000,), dtype.name), Array('y', (1000,), dtype.name), Array('m', (1000,), 'bool')]
    loop = Loop((1000,), loads, tuple(stmts), stores=tuple(stores))
    prog = _program(f'templates_{dtype.name}', ins, [t.name for t in temps], temps, [loop])
    compiled = cuda_program.compile_program(prog, 'ptx test')
    (kernel,) = _kernels_of(compiled.fn)
    code = ptx(kernel, *[arr(a.dtype) for a in ins + temps])
    if dtype == F32:
        assert not f64_ops(code) or 'vm_pow_f32' in compiled.source




@pytest.mark.parametrize('dtype', [F32, F64], ids=['float32', 'float64'])
def test_vmath_device_functions(h100, dtype):
    """Every kernels.vmath function as a CUDA device function, called from one kernel."""
    from jitgrad._kernels import vmath
    sfx = 'f32' if dtype == F32 else 'f64'
    fns = list(vmath.FUNCTIONS)
    terms = [f"vm.{f}_{sfx}(x0{', x1' if vmath.ARITY[f] == 2 else ''})" for f in fns]
    from jitgrad._kernels.cuda import elementwise as ew
    kernel = h100.load_generated(ew._source(' + '.join(terms), ('f', 'f'), 0), 'ptx test').kernel
    code = ptx(kernel, arr(dtype), arr(dtype), arr(dtype))
    for f in fns:
        assert f'{f}_{sfx}' in code  # each one was compiled in (by name, as a callee or inlined)


# ---- fused optimizer updates ---------------------------------------------------------------------

@pytest.mark.parametrize('dtype', [F32, F64], ids=['float32', 'float64'])
def test_optim_kernels(h100, dtype):
    """The update rules of kernels/optim_rules.py rendered for CUDA (every term on)."""
    optim = pytest.importorskip('jitgrad._kernels.cuda.optim')
    from jitgrad._kernels import optim_rules
    s, a = scalar(dtype), arr(dtype)
    codes = []
    for rule, flags, names in [
            (optim_rules.sgd, dict(maximize=True, weight_decay=True, momentum=True, nesterov=True),
             ('momentum_buffer',)),
            (optim_rules.adam, dict(maximize=True, weight_decay=True, decoupled=True, amsgrad=True),
             ('exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'))]:
        n_hypers = len(optim.hyper_names(rule, flags, names))
        kernel = optim.step_kernel(rule, flags, names)
        codes.append(ptx(kernel, *[a] * (2 + len(names)), *[s] * n_hypers))
    if dtype == F32:
        assert not any(f64_ops(c) for c in codes), [f64_ops(c) for c in codes]


# ---- launches ------------------------------------------------------------------------------------

def test_small_launches_do_not_warn(h100):
    """Numba warns (NumbaPerformanceWarning) at every new grid under 128 blocks on a real GPU; the
    back end's small grids are deliberate, so runtime.configure/launch silence it."""
    import warnings

    from jitgrad._kernels.cuda import layout, loops

    def small_grid(w):
        return re.search(h100.SMALL_GRID_WARNING, str(w.message)) is not None
    with warnings.catch_warnings(record=True) as raw:
        warnings.simplefilter('always')
        layout._gather[3, 256]
    assert any(small_grid(w) for w in raw)  # what users would see
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter('always')
        h100.configure(layout._scatter, 3, 256)
        h100.configure(layout._scatter, (2, 1, 1), (16, 16))
        h100.launch(layout._scatter_add, 1000)
        loops.launcher(layout._gather, 5, 64)
    assert not [w for w in seen if small_grid(w)]
    assert h100.configure(layout._scatter, 3, 256) is h100.configure(layout._scatter, 3, 256)
