"""Symbolic zero cotangents on GPU storage: jit_grad's backward for a call whose caller used only
some outputs takes no zero cotangents, and all-zero cotangents give zero gradients on the device
(simulator, tiny shapes):

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda/test_gpu_symbolic_zero.py
"""
import numpy as np
from gpu_targets import needs_cuda

import jitgrad as jg

pytestmark = needs_cuda
X = np.array([[0.5, -1.5, 0.0], [2.0, -0.25, 3.0]])


def test_unused_output_and_zero_cotangents_on_the_gpu():
    @jg.jit_grad
    def two(x):
        return jg.sin(x), x * 3

    x = jg.tensor(X, device="cuda", requires_grad=True)
    a, _ = two(x)
    a.sum().backward()
    np.testing.assert_allclose(x.grad.cpu().numpy(), np.cos(X), rtol=1e-12)
    entry = next(iter(two._cache.entries.values()))
    graph = entry.backward_with_zeros(entry.wrt, (1,)).graph
    full = entry.grad_executables(entry.wrt)[1].graph
    assert len(graph.inputs) == len(full.inputs) - 1  # the unused output's cotangent is not an input
    assert graph.prim_counts() == {"cos": 1, "mul": 1}  # g * cos(x): nothing of the other rule (g * 3), no add
    x.grad = None
    a, b = two(x)
    (jg.sign(a) + jg.sign(b)).sum().backward()  # every cotangent of the call is zero
    assert x.grad.is_cuda
    np.testing.assert_array_equal(x.grad.cpu().numpy(), np.zeros_like(X))
