"""A recorded graph leaves few objects for Python's cycle collector (a full collection walks every
tracked object, and a graph lives across collections): per op a node, its input-node tuple and
its saved-inputs tuple, no (node, 0) pairs or saved-value tuple, and no version counter for an
output its rule does not read; next_functions still reads as PyTorch's pairs."""
from __future__ import annotations

import gc

import numpy as np

import jitgrad as jg


def _tracked_per_op(build, ops: int) -> float:
    gc.collect()
    gc.collect()
    before = len(gc.get_objects())
    keep = build()
    gc.collect()
    gc.collect()
    after = len(gc.get_objects())
    del keep
    return (after - before) / ops


def test_tracked_objects_per_recorded_op():
    w = jg.tensor(np.ones((4, 4), np.float32), requires_grad=True)

    def build():
        h = jg.tensor(np.ones((2, 4), np.float32))
        for _ in range(100):  # 4 ops: matmul, add, sigmoid (reads its output), mul
            h = jg.sigmoid(h @ w + 1.0) * h
        return h

    assert _tracked_per_op(build, 400) < 4.5  # (9 before: pairs, saved tuples, every output's counter)


def test_next_functions_are_pairs():
    x = jg.tensor([1.0, 2.0], requires_grad=True)
    c = jg.tensor([3.0, 4.0])
    y = x * 2.0
    z = y * c
    nf = z.grad_fn.next_functions
    assert nf == ((y.grad_fn, 0), (None, 0))
    assert type(y.grad_fn.next_functions[0][0]).__name__ == "AccumulateGrad"
    assert y.grad_fn.next_functions[0][0].variable is x


def test_unread_output_changed_in_place_is_no_error():
    """mul's rule reads its inputs, not its output: writing the output in place leaves backward valid."""
    x = jg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3.0
    with jg.no_grad():
        y.add_(1.0)
    y.sum().backward()
    assert np.array_equal(x.grad.numpy(), np.float32([3.0, 3.0]))
