"""Finite-difference gradient checks (first and second order), computed in float64."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ..autodiff import gradients
from ..core import TensorBase
from ..grad_mode import enable_grad
from ..tensor import Tensor

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from typing import Any


class GradcheckError(RuntimeError):
    """Analytical and numerical Jacobians disagree."""


def _tuple(x) -> tuple:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _as_float64(inputs: tuple) -> tuple:
    out = []
    for x in inputs:
        if isinstance(x, TensorBase) and x.requires_grad:
            out.append(Tensor._wrap(np.array(x._data, dtype=np.float64)).requires_grad_())
        else:
            out.append(x)
    return tuple(out)


def _outputs(func, inputs) -> list:
    outs = _tuple(func(*inputs))
    return [o for o in outs if isinstance(o, TensorBase) and o.dtype.kind == "f"]


def _numerical(func, inputs, diff_idx, eps) -> list:
    """d outputs / d inputs by central differences: one matrix (n_out x n_in) per (output, input)."""
    base = _outputs(func, inputs)
    jac = [[np.zeros((o.numel(), inputs[i].numel())) for i in diff_idx] for o in base]
    for col, i in enumerate(diff_idx):
        x = inputs[i]
        flat = np.array(x._data, dtype=np.float64).reshape(-1)
        for k in range(flat.size):
            values = []
            for step in (eps, -eps):
                pert = flat.copy()
                pert[k] += step
                args = list(inputs)
                args[i] = Tensor._wrap(pert.reshape(x.shape)).requires_grad_()
                outs = _outputs(func, args)
                _check_same_shapes(base, outs, i, k, step)
                values.append([np.array(o._data, dtype=np.float64).reshape(-1) for o in outs])
            for r, (plus, minus) in enumerate(zip(*values)):
                jac[r][col][:, k] = (plus - minus) / (2 * eps)
    return jac


def _check_same_shapes(base: list, perturbed: list, input_index: int, element: int, step: float) -> None:
    """A function whose outputs change shape under a small perturbation has no Jacobian to compare:
    fail (AssertionError, as PyTorch's gradcheck does, whatever raise_exception says)."""
    shapes = [tuple(o.shape) for o in base]
    new = [tuple(o.shape) for o in perturbed]
    if shapes != new:
        raise AssertionError(f"Expected `func` to return outputs with the same shape when inputs are perturbed "
                             f"on element {element} of input {input_index} by {step:g}, but got: shapes {new} "
                             f"and {shapes}.")


def _analytical(func, inputs, diff_idx) -> list:
    with enable_grad():
        outs = _outputs(func, inputs)
    diff_inputs = [inputs[i] for i in diff_idx]
    jac = [[np.zeros((o.numel(), inputs[i].numel())) for i in diff_idx] for o in outs]
    for r, o in enumerate(outs):
        if not o.requires_grad:
            continue
        for k in range(o.numel()):
            seed = np.zeros(o.numel(), dtype=o.dtype)
            seed[k] = 1
            gs = gradients(o, diff_inputs, Tensor._wrap(seed.reshape(o.shape)), retain_graph=True, allow_unused=True)
            for col, g in enumerate(gs):
                if g is not None:
                    jac[r][col][k, :] = np.asarray(g._data, dtype=np.float64).reshape(-1)
    return jac


def gradcheck(func: Callable, inputs: Any, *, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True) -> bool:
    """Compare autograd's Jacobian of `func` at `inputs` with central finite differences.

    Inputs that require grad are copied to float64 first, so float32 code is checked at
    float64 precision. Returns True, or raises GradcheckError naming the worst entry."""
    inputs = _as_float64(_tuple(inputs))
    diff_idx = [i for i, x in enumerate(inputs) if isinstance(x, TensorBase) and x.requires_grad]
    if not diff_idx:
        raise ValueError("gradcheck expects at least one input tensor to require gradient")
    numerical = _numerical(func, inputs, diff_idx, eps)
    analytical = _analytical(func, inputs, diff_idx)
    for r, (num_row, ana_row) in enumerate(zip(numerical, analytical)):
        for col, (n, a) in enumerate(zip(num_row, ana_row)):
            bad = np.abs(a - n) > atol + rtol * np.abs(n)
            if bad.any():
                k, j = np.argwhere(bad)[0]
                msg = (f"Jacobian mismatch for output {r} with respect to input {diff_idx[col]}: at "
                       f"(output element {k}, input element {j}) analytical {a[k, j]!r} vs numerical "
                       f"{n[k, j]!r}\nnumerical:\n{n}\nanalytical:\n{a}")
                if raise_exception:
                    raise GradcheckError(msg)
                return False
    return True


def gradgradcheck(func: Callable, inputs: Any, grad_outputs: Any = None, *, eps: float = 1e-6, atol: float = 1e-5,
                  rtol: float = 1e-3, raise_exception: bool = True, seed: int = 0) -> bool:
    """Check second derivatives: gradcheck of the VJP (with create_graph=True) of `func`."""
    inputs = _as_float64(_tuple(inputs))
    diff_idx = [i for i, x in enumerate(inputs) if isinstance(x, TensorBase) and x.requires_grad]
    with enable_grad():
        outs = _outputs(func, inputs)
    rng = np.random.default_rng(seed)
    if grad_outputs is None:
        grad_outputs = [Tensor._wrap(rng.standard_normal(o.shape)).requires_grad_() for o in outs]
    else:
        grad_outputs = list(_as_float64(_tuple(grad_outputs)))
    n_in = len(inputs)

    def vjp_of_func(*args):
        xs, gos = args[:n_in], args[n_in:]
        with enable_grad():
            ys = [o for o in _outputs(func, xs) if o.requires_grad]
            gs = gradients(ys, [xs[i] for i in diff_idx], list(gos[:len(ys)]), create_graph=True, allow_unused=True)
        return tuple(g for g in gs if g is not None)

    return gradcheck(vjp_of_func, tuple(inputs) + tuple(grad_outputs), eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)
