"""Random well-typed graphs from the op table, compiled: value and gradients as eager mode."""
import hypothesis
import hypothesis.strategies as st
import numpy as np
from test_ir_property import programs, run_program, shape_lists

import jitgrad as jg


@hypothesis.settings(max_examples=12, deadline=None, database=None,
                     suppress_health_check=[hypothesis.HealthCheck.too_slow])
@hypothesis.given(program=programs, in_shapes=shape_lists, seed=st.integers(0, 2**16))
def test_random_graphs_compiled_match_eager(program, in_shapes, seed):
    rng = np.random.default_rng(seed)
    arrays = [rng.uniform(-1.5, 1.5, s) for s in in_shapes]

    def fn(*xs):
        return run_program(program, xs)

    results = []
    for run in (fn, jg.jit_grad(fn)):
        leaves = [jg.tensor(a, requires_grad=True) for a in arrays]
        out = run(*leaves)
        grads = jg.autograd.grad(out, leaves, allow_unused=True)
        results.append((out.detach().numpy(), [None if g is None else g.numpy() for g in grads]))
    (v_e, g_e), (v_c, g_c) = results
    np.testing.assert_allclose(v_c, v_e, rtol=1e-9, atol=1e-12)
    for a, b in zip(g_c, g_e):
        if b is None:
            assert a is None or not np.any(a)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
