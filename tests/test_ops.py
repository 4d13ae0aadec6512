"""Every case of the op table through the three checks: finite differences to second order,
PyTorch's values and gradients in float32 and float64, and agreement of all modes."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from helpers import RUNNERS, check_grads, check_modes, check_torch, use_kernels_for
from op_table import CASES, GRAD_CASES, NO_COMPILED_KERNEL, jitgrad_fn, make_inputs

import jitgrad
from jitgrad import compiled, executable

GRADCHECK_CASES = [c for c in GRAD_CASES if not c.no_gradcheck]


@pytest.mark.parametrize("case", GRADCHECK_CASES, ids=lambda c: c.name)
def test_gradcheck(case):
    """Analytical first and second derivatives match central differences (float64)."""
    order = 1 if case.no_second_order else 2
    check_grads(jitgrad_fn(case), make_inputs(case, np.float64), order=order, eps=case.eps)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_torch_oracle(case, dtype):
    """Values, output dtypes, requires_grad and gradients match PyTorch."""
    pytest.importorskip("torch")
    if dtype == np.float32:
        rtol, atol = 2e-5 * case.tol, 2e-5 * case.tol
    else:
        rtol, atol = 1e-10, 1e-12
    check_torch(case.jg, case.th, make_inputs(case, dtype), rtol=rtol, atol=atol)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_modes(case, monkeypatch):
    """Every execution mode gives eager's values and gradients, compiled mode with every op in
    compiled kernels (an interpreter fallback raises here, except for NO_COMPILED_KERNEL ops);
    an untraceable case is refused by compiled mode with an error that says why. Programs run as
    Python except for a real-compile sample per kernel family (helpers.use_kernels_for)."""
    use_kernels_for(case.name, monkeypatch)
    monkeypatch.setattr(executable, "_warned_fallbacks", set())  # (it warns once per op otherwise)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", compiled.InterpreterFallbackWarning)
        _check_all_modes(case)
    fallbacks = [w for w in caught if issubclass(w.category, compiled.InterpreterFallbackWarning)]
    for w in caught:  # other warnings keep their usual treatment
        if w not in fallbacks:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    unexpected = [str(w.message) for w in fallbacks if not any(f"'{n}'" in str(w.message) for n in NO_COMPILED_KERNEL)]
    assert not unexpected, unexpected


def _check_all_modes(case) -> None:
    if case.eager_only:
        with pytest.raises((TypeError, jitgrad.TracingError), match="data-dependent"):
            RUNNERS["compiled"](jitgrad_fn(case), make_inputs(case, np.float64))
        check_modes(jitgrad_fn(case), make_inputs(case, np.float64), modes=["eager"])
        return
    check_modes(jitgrad_fn(case), make_inputs(case, np.float64))
