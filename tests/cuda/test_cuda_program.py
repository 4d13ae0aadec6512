"""CUDA-simulator tests of kernels.cuda.program: hand-built spec.Programs give the CPU target's
results (run with NUMBA_ENABLE_CUDASIM=1).

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda/test_cuda_program.py
"""

import numpy as np
import pytest
from gpu_targets import ON_CUDA, needs_cuda, simulator_only

from jitgrad._kernels import cpu
from jitgrad._kernels.spec import Array, Call, Load, Loop, Program, Reduce, Stmt, Store

pytestmark = needs_cuda
if ON_CUDA:
    from numba import cuda  # noqa: F401 (imported before any kernel module, as the simulator needs)

    from jitgrad._kernels.cuda import program as cuda_program
    from jitgrad._kernels.cuda import runtime

RNG = np.random.default_rng(0)


def _arr(name, host):
    return Array(name, tuple(host.shape), host.dtype.name)


def _run(name, inputs: dict, outputs, temps, steps, exact=False, rtol=1e-6, atol=1e-12, preallocated=(),
         known=None):
    """Run the program on the CPU target and on CUDA; compare every output (against `known[name]` where
    given instead of the CPU's); return the CUDA program."""
    prog = Program(name, tuple(_arr(k, v) for k, v in inputs.items()), tuple(outputs),
                   temporaries=tuple(t for t in temps if t.name not in preallocated), steps=tuple(steps),
                   preallocated=tuple(t for t in temps if t.name in preallocated))
    host_buffers = [np.empty(a.shape, a.dtype) for a in prog.preallocated]  # the CPU caller allocates them
    want = cpu.compile_program(prog)(*inputs.values(), *host_buffers)
    want = [(known or {}).get(out, w) for out, w in zip(outputs, want, strict=True)]
    compiled = cuda_program.compile_program(prog)
    got = compiled(*[runtime.to_device(v) for v in inputs.values()])
    assert len(got) == len(want)
    for out_name, w, g in zip(outputs, want, got, strict=True):
        assert runtime.is_device_array(g), out_name
        g = runtime.to_host(g)
        assert g.shape == w.shape and g.dtype == w.dtype, (out_name, g.shape, w.shape, g.dtype, w.dtype)
        if exact or w.dtype.kind in 'bi':
            np.testing.assert_array_equal(g, w, err_msg=out_name)
        else:
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=out_name)
    return compiled


def test_flat_elementwise_with_casts_constants_vm_call_and_hoisted_loads():
    x = RNG.standard_normal((5, 7)).astype(np.float32)
    y = RNG.standard_normal((5, 7)).astype(np.float32)
    one = np.array([[2.5]], np.float32)  # one element: read once, before the loop
    zero_d = np.array(-0.5, np.float32)
    loop = Loop((5, 7), (Load('a', 'x'), Load('b', 'y'), Load('c', 'one'), Load('d', 'z')),
                (Stmt('t', 'vm.sin_f32(a) * c + np.float32(0.5)', 'sin/mul/add'),
                 Stmt('u', '(t if b > np.float32(0.0) else np.float32(np.nan))'),
                 Stmt('v', 'math.sqrt(math.fabs(a)) + d'),
                 Stmt('w', '(np.float32(np.inf) if b > np.float32(1.5) else v)'),
                 Stmt('i', 'np.int32(a * np.float32(10.0))')),
                stores=(Store('o1', 'u'), Store('o2', 'w'), Store('o3', 'i')))
    temps = [Array('o1', (5, 7), 'float32'), Array('o2', (5, 7), 'float32'), Array('o3', (5, 7), 'int32')]
    prog = _run('flat', {'x': x, 'y': y, 'one': one, 'z': zero_d}, ['o1', 'o2', 'o3'], temps, [loop],
                rtol=1e-5, atol=1e-6)  # the CPU target contracts a * b + c into an FMA
    src = prog.source
    assert 'vm_sin_f32 = _vm.cuda_device' in src and 'vm.sin_f32(' not in src
    assert 'c = one[0, 0]' in src and 'd = z[()]' in src
    assert runtime.device_key() in src
    assert 'copy_to_host' not in src and 'synchronize' not in src
    assert '# sin/mul/add' in src


def test_broadcast_loads_and_broadcast_store():
    x = RNG.standard_normal((3, 4, 5))
    row = RNG.standard_normal((4, 1))
    col = RNG.standard_normal(5)
    s = np.array(3.0)
    loop = Loop((3, 4, 5), (Load('a', 'x'), Load('b', 'row'), Load('c', 'col'), Load('d', 's')),
                (Stmt('t', 'a * b + c * d'), Stmt('u', 'b * 2.0')),
                stores=(Store('o', 't'), Store('ob', 'u')))
    temps = [Array('o', (3, 4, 5), 'float64'), Array('ob', (4, 1), 'float64')]
    _run('bcast', {'x': x, 'row': row, 'col': col, 's': s}, ['o', 'ob'], temps, [loop], rtol=1e-14)


def _reduction_steps(op, x_name, shape, dtype, mean):
    """Loops reducing one (3, 5, 7) array every way: all dims (partials + a combining kernel, with a
    store beside), trailing (block tree per output, with a store), leading, middle and leading
    two with keepdim (one thread per output). `mean` scales each result by 1/count."""
    specs = [('all', (0, 1, 2), ()), ('all_keep', (0, 1, 2), (1, 1, 1)), ('lead', (0,), (5, 7)),
             ('trail', (1, 2), (3,)), ('mid_keep', (1,), (3, 1, 7)), ('lead2_keep', (0, 1), (1, 1, 7))]
    steps, temps = [], []
    for tag, dims, out_shape in specs:
        out = f'r_{tag}'
        sc = 1.0 / int(np.prod([shape[d] for d in dims])) if mean else 1.0
        copy = {'all': 'copy', 'trail': 'copy2'}.get(tag)
        stores = (Store(copy, 'v'),) if copy else ()
        steps.append(Loop(shape, (Load('v', x_name),), (), stores=stores,
                          reduces=(Reduce(out, op, 'v', dims, sc, origin=f'{op} {tag}'),)))
        temps.append(Array(out, out_shape, dtype))
    temps += [Array('copy', shape, dtype), Array('copy2', shape, dtype)]
    return steps, temps, [t.name for t in temps]


@pytest.mark.parametrize('op,mean', [('sum', False), ('sum', True), ('max', False), ('min', False),
                                     ('prod', False)], ids=['sum', 'mean', 'max', 'min', 'prod'])
def test_reductions_over_all_leading_trailing_and_kept_dims(op, mean):
    x = RNG.uniform(0.7, 1.3, (3, 5, 7))
    steps, temps, outs = _reduction_steps(op, 'x', x.shape, 'float64', mean)
    prog = _run(f'red_{op}_{int(mean)}', {'x': x}, outs, temps, steps, rtol=1e-12)
    assert '_fin(' in prog.source  # the full reduction ran as partials + a combining kernel
    assert 'cuda.syncthreads()' in prog.source


def test_float32_sum_accumulates_in_float64_and_int_and_bool_reductions():
    x = np.array([1e8, 1.0, -1e8, 1.0] * 10, np.float32)  # float32 accumulation would lose the ones
    k = RNG.integers(-50, 50, (4, 6)).astype(np.int32)
    big = RNG.integers(-2**40, 2**40, (4, 6))
    m = RNG.standard_normal((4, 6)) > 0
    steps = [Loop((40,), (Load('a', 'x'),), (), reduces=(Reduce('s32', 'sum', 'a', (0,)),)),
             Loop((4, 6), (Load('b', 'k'),), (), reduces=(Reduce('ks', 'sum', 'b', (1,)),
                                                          Reduce('kp', 'prod', 'b', (1,)))),
             Loop((4, 6), (Load('c', 'big'),), (), reduces=(Reduce('bmax', 'max', 'c', (0, 1)),
                                                            Reduce('bmin', 'min', 'c', (0, 1)))),
             Loop((4, 6), (Load('d', 'm'),), (), reduces=(Reduce('cnt', 'sum', 'd', (0,)),))]
    temps = [Array('s32', (), 'float32'), Array('ks', (4,), 'int32'), Array('kp', (4,), 'int32'),
             Array('bmax', (), 'int64'), Array('bmin', (), 'int64'), Array('cnt', (6,), 'int64')]
    inputs = {'x': x, 'k': k, 'big': big, 'm': m}
    prog = _run('accum', inputs, [t.name for t in temps], temps, steps, exact=True)
    dev = [runtime.to_device(v) for v in inputs.values()]
    first, again = (runtime.to_host(prog(*dev)[0]) for _ in range(2))
    assert first.tobytes() == again.tobytes()  # fixed combination order: the same bits every call


@pytest.mark.parametrize('op', ['max', 'min'])
def test_nan_propagates_through_max_and_min(op):
    x = RNG.standard_normal((4, 9))
    x[1, 3] = np.nan
    x[3, 8] = np.nan
    steps = [Loop((4, 9), (Load('a', 'x'),), (), reduces=(Reduce('full', op, 'a', (0, 1)),)),
             Loop((4, 9), (Load('a', 'x'),), (), reduces=(Reduce('rows', op, 'a', (1,)),)),
             Loop((4, 9), (Load('a', 'x'),), (), reduces=(Reduce('cols', op, 'a', (0,)),))]
    temps = [Array('full', (), 'float64'), Array('rows', (4,), 'float64'), Array('cols', (9,), 'float64')]
    _run(f'nan_{op}', {'x': x}, ['full', 'rows', 'cols'], temps, steps, exact=True)


def test_empty_reductions_give_identities_and_preallocated_buffers_are_optional():
    x = np.zeros((0, 3))
    steps = [Loop((0, 3), (Load('a', 'x'),), (), reduces=(Reduce('s', 'sum', 'a', (0,)),
                                                          Reduce('p', 'prod', 'a', (0,)))),
             Loop((0, 3), (Load('a', 'x'),), (), reduces=(Reduce('mx', 'max', 'a', (0,)),)),
             Loop((0, 3), (Load('a', 'x'),), (Stmt('b', 'a + 1.0'),), stores=(Store('e', 'b'),))]
    temps = [Array('s', (3,), 'float64'), Array('p', (3,), 'float64'), Array('mx', (3,), 'float64'),
             Array('e', (0, 3), 'float64')]
    prog = _run('empty', {'x': x}, ['s', 'p', 'mx', 'e'], temps, steps, exact=True, preallocated=('s',))
    buf = runtime.empty((3,), np.float64)
    s = prog(runtime.to_device(x), buf)[0]
    assert s is buf and np.all(runtime.to_host(s) == 0)


def test_zero_d_loop_and_reduction_over_no_dims():
    x = np.array(4.0)
    loop = Loop((), (Load('a', 'x'),), (Stmt('b', 'a * 3.0'),), stores=(Store('o', 'b'),),
                reduces=(Reduce('r', 'sum', 'b', (), 0.5),))
    _run('zero_d', {'x': x}, ['o', 'r'], [Array('o', (), 'float64'), Array('r', (), 'float64')], [loop],
         exact=True)


def test_matmul_calls_with_matrices_and_vectors_then_an_epilogue():
    a = RNG.standard_normal((5, 3)).astype(np.float32)
    w = RNG.standard_normal((3, 4)).astype(np.float32)
    v = RNG.standard_normal(3).astype(np.float32)
    u = RNG.standard_normal(5).astype(np.float32)
    bias = RNG.standard_normal(4).astype(np.float32)
    steps = [Call('matmul', ('a', 'w'), 'h', origin='matmul -> h'),
             Call('matmul', ('a', 'v'), 'av'), Call('matmul', ('u', 'a'), 'ua'), Call('matmul', ('v', 'v'), 'vv'),
             Loop((5, 4), (Load('p', 'h'), Load('q', 'bias')),
                  (Stmt('z', 'p + q'), Stmt('r', '(z if z > np.float32(0.0) else np.float32(0.0))')),
                  stores=(Store('out', 'r'),))]
    temps = [Array('h', (5, 4), 'float32'), Array('av', (5,), 'float32'), Array('ua', (3,), 'float32'),
             Array('vv', (), 'float32'), Array('out', (5, 4), 'float32')]
    _run('mm', {'a': a, 'w': w, 'v': v, 'u': u, 'bias': bias}, ['h', 'av', 'ua', 'vv', 'out'], temps, steps,
         rtol=1e-5)


def test_layout_calls():
    x = RNG.standard_normal((4, 6))
    y = RNG.standard_normal((2, 3, 4))
    g = RNG.standard_normal((2, 3))
    steps = [Call('transpose_view', ('x',), 'xt'),
             Call('permute', ('y',), 'yp', ((2, 0, 1),)),
             Call('reshape', ('y',), 'yr', ((6, 4),)),
             Call('getitem_basic', ('x',), 'gi', ('1:4, ::2', (3, 3))),
             Call('getitem_basic', ('x',), 'gn', ('2:3, ::-1', (6,))),
             Call('getitem_basic', ('y',), 'ge', ('..., 1:2', (2, 3, 1))),
             Call('unindex_basic', ('g',), 'ui', ('1:3, 0:6:2', (4, 6), (2, 3))),
             Call('unindex_basic', ('x',), 'un', ('0:4, ::-1, 0:1', (4, 6, 1), (4, 6, 1)))]
    temps = [Array('xt', (6, 4), 'float64'), Array('yp', (4, 2, 3), 'float64'), Array('yr', (6, 4), 'float64'),
             Array('gi', (3, 3), 'float64'), Array('gn', (6,), 'float64'), Array('ge', (2, 3, 1), 'float64'),
             Array('ui', (4, 6), 'float64'), Array('un', (4, 6, 1), 'float64')]
    _run('layout', {'x': x, 'y': y, 'g': g}, [t.name for t in temps], temps, steps, exact=True)


# ---- reductions over leading (or middle) dims that keep the innermost dims: one thread per output

def _leading_program(dtype, mean):
    """Loops whose reduced dims precede kept dims with enough outputs (WARP_OUTPUTS) for the
    coalesced thread-per-output strategy: leading one dim, leading two with keepdim, a middle dim
    before a kept inner run, and a loop that also stores (with broadcast and hoisted loads)."""
    x = RNG.uniform(0.5, 1.5, (3, 6, 32)).astype(dtype)
    b = RNG.standard_normal(32).astype(dtype)
    one = np.array([[2.0]], dtype)
    shape = x.shape
    name = np.dtype(dtype).name

    def sc(dims):
        return 1.0 / int(np.prod([shape[d] for d in dims])) if mean else 1.0
    steps = [Loop((18, 32), (Load('v', 'x2'),), (),
                  reduces=(Reduce('lead', 'sum', 'v', (0,), sc((0, 1))),)),
             Loop(shape, (Load('v', 'x'),), (),
                  reduces=(Reduce('lead2_keep', 'sum', 'v', (0, 1), sc((0, 1))),
                           Reduce('lead2_max', 'max', 'v', (0, 1)))),
             Loop((2, 18, 32), (Load('v', 'x3'),), (),
                  reduces=(Reduce('mid', 'min', 'v', (1,)),)),
             Loop(shape, (Load('v', 'x'), Load('w', 'b'), Load('u', 'one')), (Stmt('t', 'v * w + u'),),
                  stores=(Store('y', 't'),), reduces=(Reduce('bias', 'sum', 't', (0, 1), sc((0, 1))),))]
    temps = [Array('lead', (32,), name), Array('lead2_keep', (1, 1, 32), name), Array('lead2_max', (32,), name),
             Array('mid', (2, 32), name), Array('y', shape, name), Array('bias', (32,), name)]
    inputs = {'x': x, 'x2': x.reshape(18, 32), 'x3': RNG.standard_normal((2, 18, 32)).astype(dtype),
              'b': b, 'one': one}
    return inputs, temps, steps


@pytest.mark.parametrize('dtype,mean', [(np.float64, False), (np.float32, True)], ids=['f64', 'f32_mean'])
def test_leading_dim_reductions_run_one_thread_per_output(dtype, mean):
    inputs, temps, steps = _leading_program(dtype, mean)
    tol = 1e-12 if dtype == np.float64 else 1e-6  # float32: the CPU target contracts v * w + u into an FMA
    prog = _run(f'lead_{np.dtype(dtype).name}_{int(mean)}', inputs, [t.name for t in temps], temps, steps,
                rtol=tol, atol=tol)
    assert 'cuda.shared' not in prog.source  # no block trees: threads own outputs
    assert prog.source.count('# one thread per output: 32 outputs') == 3
    assert '# one thread per output: 64 outputs' in prog.source  # the middle reduction (2 x 32 kept)


def _chunked_program():
    """Few outputs over many rows: chunks of the reduced range, partials, a combining kernel.
    float32 sums (float64 partials: the ones survive the 1e8s), NaN through max, an int sum,
    a bool count, keepdim, scale, stores, broadcast and hoisted loads."""
    f = np.array([1e8, 1.0, -1e8, 1.0] * 10, np.float32).reshape(40, 1) * np.ones((1, 4), np.float32)
    g = RNG.standard_normal((30, 5))
    g[7, 1] = np.nan
    g[29, 4] = np.nan
    k = RNG.integers(-50, 50, (2, 20, 4)).astype(np.int32)
    m = RNG.standard_normal((36, 6)) > 0
    row = RNG.standard_normal(5)
    one = np.array([[0.5]])
    steps = [Loop((40, 4), (Load('a', 'f'),), (), reduces=(Reduce('fs', 'sum', 'a', (0,)),)),
             Loop((30, 5), (Load('a', 'g'), Load('b', 'row'), Load('c', 'one')), (Stmt('t', 'a * c + b'),),
                  stores=(Store('gy', 't'),),
                  reduces=(Reduce('gmax', 'max', 't', (0,)), Reduce('gmin', 'min', 't', (0,)))),
             Loop((2, 20, 4), (Load('a', 'k'),), (),
                  reduces=(Reduce('ks', 'sum', 'a', (0, 1)), Reduce('kmean', 'sum', 'a', (0, 1), 0.025))),
             Loop((36, 6), (Load('a', 'm'),), (), reduces=(Reduce('cnt', 'sum', 'a', (0,)),)),
             Loop((30, 5), (Load('a', 'g'),), (), reduces=(Reduce('gkeep', 'sum', 'a', (0,), 1 / 30),))]
    temps = [Array('fs', (4,), 'float32'), Array('gy', (30, 5), 'float64'), Array('gmax', (5,), 'float64'),
             Array('gmin', (5,), 'float64'), Array('ks', (1, 1, 4), 'int32'), Array('kmean', (4,), 'float64'),
             Array('cnt', (6,), 'int64'), Array('gkeep', (1, 5), 'float64')]
    inputs = {'f': f, 'g': g, 'row': row, 'one': one, 'k': k, 'm': m}
    return inputs, temps, steps


@simulator_only
@pytest.mark.parametrize('combine', ['serial', 'block'])
def test_few_outputs_over_many_rows_split_into_chunks(monkeypatch, combine):
    """The simulator's launch fills with 16 threads: with WARP_OUTPUTS and MIN_CHUNK lowered,
    4-6 outputs over 30-40 rows run as (chunk, output) jobs; the partials are combined by one
    thread per output (few chunks) or, with SERIAL_MAX lowered, by a block tree per output."""
    from jitgrad._kernels.cuda import loops
    monkeypatch.setattr(loops, 'WARP_OUTPUTS', 4)
    monkeypatch.setattr(loops, 'MIN_CHUNK', 4)
    if combine == 'block':
        monkeypatch.setattr(loops, 'SERIAL_MAX', 2)
    inputs, temps, steps = _chunked_program()
    # fs: CUDA's chunk partials are float64, so the ones survive the 1e8s (exactly 20); the CPU sums a
    # float32 column this short in float32, as NumPy and PyTorch do, and loses them: compare with the truth.
    known = {'fs': np.full(4, 20, np.float32)}
    prog = _run(f'chunked_{combine}', inputs, [t.name for t in temps], temps, steps, rtol=1e-12, known=known)
    src = prog.source
    assert '# one thread per output: 4 outputs, 4 chunks of 10' in src  # (40, 4) over dim 0
    assert '# one thread per output: 5 outputs, 4 chunks of 8' in src  # (30, 5): 4 chunks fill 16 threads
    assert src.count('_fin(') == 5
    assert ('cuda.shared' in src) == (combine == 'block')
    dev = [runtime.to_device(v) for v in inputs.values()]
    first, again = ([runtime.to_host(a) for a in prog(*dev)] for _ in range(2))
    assert all(a.tobytes() == b.tobytes() for a, b in zip(first, again, strict=True))  # fixed order
