"""A program run as a kernel sequence (any program with a convolution) holds at once only the
intermediates still to be read: its driver allocates each buffer when first written and drops
it after its last use, and the caller keeps no pool of them between calls."""
from __future__ import annotations

import ast
import tracemalloc

import numpy as np

import jitgrad as jg
from jitgrad._kernels import cpu
from jitgrad.nn import functional

LAYERS = 6
SHAPE = (8, 8, 32, 32)  # one activation: 65,536 float64 = 512 KiB (a preallocated size)


def _chain(x, w):
    for _ in range(LAYERS):
        x = functional.relu(functional.conv2d(x, w, padding=1)) * 0.5
    return x.sum()


def _inputs():
    rng = np.random.default_rng(0)
    return jg.tensor(rng.standard_normal(SHAPE)), jg.tensor(rng.standard_normal((8, 8, 3, 3)) * 0.1)


def test_conv_chain_peak_memory_is_a_few_activations_not_all_of_them():
    x, w = _inputs()
    fn = jg.jit(_chain)
    expected = float(_chain(x, w))
    assert np.isclose(float(fn(x, w)), expected, rtol=1e-12)
    exe = fn.executable(x, w)
    assert isinstance(exe.compiled[0], cpu.KernelSequence)
    activation = np.prod(SHAPE) * 8
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        value = float(fn(x, w))
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert np.isclose(value, expected, rtol=1e-12)
    # Alive at once: one layer's input and output and its convolution's scratch (the columns of one
    # image): ~3 activations, never the chain's twelve (as when every
    # intermediate lived to the end).
    assert peak <= 6 * activation, f"peak {peak / activation:.1f} activations"


def test_driver_deletes_every_intermediate_after_its_last_use():
    x, w = _inputs()
    fn = jg.jit(_chain)
    fn(x, w)
    seq = fn.executable(x, w).compiled[0]
    body = ast.parse(seq.driver_source).body[0]
    params = {a.arg for a in body.args.args}
    assert params == {a.name for a in seq.program.inputs + seq.program.constants}  # no caller buffers
    deleted, stored = set(), set()
    for k, stmt in enumerate(body.body):
        names = {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)}
        assert not names & deleted, f"statement {k} uses a deleted name: {ast.unparse(stmt)}"
        if isinstance(stmt, ast.Delete):
            deleted |= {t.id for t in stmt.targets}
        stored |= {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    assert stored - set(seq.program.outputs) <= deleted
