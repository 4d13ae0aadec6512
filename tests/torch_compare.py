"""One test body run against jitgrad and against PyTorch, results compared: the helpers of the
scenario and semantics suites (test_seed_scenarios.py, test_autograd_semantics.py)."""
from __future__ import annotations

import numpy as np
import pytest

import jitgrad as jg

torch = pytest.importorskip("torch")


def as_numpy(value):
    """A tensor of either library (or a number) as a NumPy array."""
    if value is None:
        return None
    if isinstance(value, (jg.Tensor, torch.Tensor)):
        return np.asarray(value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value.detach().numpy())
    return np.asarray(value)


def assert_same(ours, theirs, rtol=1e-5, atol=1e-6, where=""):
    """Nested results (tensors, numbers, lists, dicts, None) agree elementwise."""
    if isinstance(theirs, dict):
        assert ours.keys() == theirs.keys(), where
        for k in theirs:
            assert_same(ours[k], theirs[k], rtol, atol, f"{where}[{k!r}]")
        return
    if isinstance(theirs, (list, tuple)):
        assert len(ours) == len(theirs), where
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert_same(a, b, rtol, atol, f"{where}[{i}]")
        return
    if theirs is None or isinstance(theirs, (bool, str)):
        assert ours == theirs, f"{where}: {ours!r} != {theirs!r}"
        return
    a, b = as_numpy(ours), as_numpy(theirs)
    assert a.shape == b.shape, f"{where}: shape {a.shape} != {b.shape}"
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=where)


def run_both(body, **tol):
    """body(m) with m = jitgrad and m = torch; their results must agree."""
    assert_same(body(jg), body(torch), where=body.__name__, **tol)
