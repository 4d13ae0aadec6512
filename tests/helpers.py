"""The three checks every op goes through: finite differences (check_grads), agreement of
every execution mode (check_modes), and agreement with PyTorch (check_torch)."""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np

import jitgrad
from jitgrad import core
from jitgrad.core import TensorBase


def _tuple(x) -> tuple:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _is_float(dtype) -> bool:
    return np.dtype(dtype).kind == "f"


def cotangent(shape, dtype, seed: int = 1234) -> np.ndarray:
    """A fixed random cotangent (not ones, so unbroadcasting and permutation mistakes show)."""
    rng = np.random.default_rng(seed + 7 * len(shape) + int(np.prod(shape, dtype=np.int64)))
    return rng.uniform(0.5, 1.5, size=shape).astype(dtype) * rng.choice([-1.0, 1.0], size=shape).astype(dtype)


def fresh_leaves(inputs: Sequence) -> list:
    """New leaf tensors with the same values and requires_grad flags (no shared storage)."""
    out = []
    for x in inputs:
        if isinstance(x, TensorBase):
            t = jitgrad.tensor(np.array(x.detach().numpy(), copy=True), dtype=x.dtype)
            out.append(t.requires_grad_() if x.requires_grad else t)
        else:
            out.append(x)
    return out


# ---------------------------------------------------------------------------------------------
# check_grads
# ---------------------------------------------------------------------------------------------


def check_grads(fn: Callable, inputs: Sequence, order: int = 2, *, eps: float = 1e-6, atol: float = 1e-5,
                rtol: float = 1e-3) -> None:
    """First (and, with order=2, second) derivatives of fn against central differences, in float64."""
    inputs = tuple(fresh_leaves(inputs))
    assert jitgrad.autograd.gradcheck(fn, inputs, eps=eps, atol=atol, rtol=rtol)
    if order >= 2:
        assert jitgrad.autograd.gradgradcheck(fn, inputs, eps=eps, atol=atol, rtol=rtol)


# ---------------------------------------------------------------------------------------------
# check_modes: one runner per execution mode; adding a mode is one entry in RUNNERS and MODES
# ---------------------------------------------------------------------------------------------


def outputs_and_grads(call: Callable, inputs: Sequence) -> tuple[list, list]:
    """Run `call` on fresh leaves; return (output arrays, gradient arrays or None per input).

    Gradients are those of sum(output * fixed cotangent) over the floating outputs that
    require grad, taken with jitgrad.autograd.grad so any mode whose outputs carry a grad_fn
    (eager nodes, or one compiled adjoint node) is measured the same way."""
    xs = fresh_leaves(inputs)
    outs = _tuple(call(*xs))
    values = [np.array(o.detach().numpy(), copy=True) for o in outs]
    diff = [o for o in outs if _is_float(o.dtype) and o.requires_grad]
    wrt = [x for x in xs if isinstance(x, TensorBase) and x.requires_grad]
    grads = [None] * len(xs)
    if diff and wrt:
        cots = [jitgrad.tensor(cotangent(o.shape, o.dtype)) for o in diff]
        gs = jitgrad.autograd.grad(diff, wrt, cots, allow_unused=True)
        found = iter(gs)
        for i, x in enumerate(xs):
            if isinstance(x, TensorBase) and x.requires_grad:
                g = next(found)
                grads[i] = None if g is None else np.array(g.numpy(), copy=True)
    return values, grads


def _eager_runner(fn: Callable, inputs: Sequence) -> tuple[list, list]:
    return outputs_and_grads(fn, inputs)


# mode name -> runner(fn, inputs) -> (outputs, grads); adding a mode is one entry here and in MODES.
def _compiled_runner(fn: Callable, inputs: Sequence) -> tuple[list, list]:
    """Through jitgrad.jit_grad: traced, fused, compiled forward and backward."""
    return outputs_and_grads(jitgrad.jit_grad(fn), inputs)


def to_gpu_leaves(inputs: Sequence) -> list:
    """GPU leaf copies of the inputs (same values and requires_grad flags)."""
    out = []
    for x in inputs:
        if isinstance(x, TensorBase):
            t = x.detach().cuda()
            out.append(t.requires_grad_() if x.requires_grad else t)
        else:
            out.append(x)
    return out


def _gpu_runner(fn: Callable, inputs: Sequence, compiled: bool) -> tuple[list, list]:
    """fn on GPU tensors (eagerly, or through jit_grad); outputs and gradients copied to the host."""
    xs = to_gpu_leaves(fresh_leaves(inputs))
    call = jitgrad.jit_grad(fn) if compiled else fn
    outs = _tuple(call(*xs))
    for o in outs:
        assert o.device.type == "cuda", f"an output of a GPU computation is on {o.device}"
    values = [np.array(o.detach().numpy(), copy=True) for o in outs]
    diff = [o for o in outs if _is_float(o.dtype) and o.requires_grad]
    wrt = [x for x in xs if isinstance(x, TensorBase) and x.requires_grad]
    grads = [None] * len(xs)
    if diff and wrt:
        cots = [jitgrad.tensor(cotangent(o.shape, o.dtype), device="cuda") for o in diff]
        gs = jitgrad.autograd.grad(diff, wrt, cots, allow_unused=True)
        found = iter(gs)
        for i, x in enumerate(xs):
            if isinstance(x, TensorBase) and x.requires_grad:
                g = next(found)
                if g is not None:
                    assert g.device.type == "cuda", f"gradient {i} of a GPU input is on {g.device}"
                grads[i] = None if g is None else np.array(g.numpy(), copy=True)
    return values, grads


RUNNERS: dict[str, Callable] = {
    "eager": _eager_runner, "compiled": _compiled_runner,
    # GPU modes (tests/cuda runs them under Numba's simulator; on a real GPU as they are)
    "cuda-eager": lambda fn, inputs: _gpu_runner(fn, inputs, compiled=False),
    "cuda-compiled": lambda fn, inputs: _gpu_runner(fn, inputs, compiled=True),
}
MODES: list[str] = ["eager", "compiled"]
GPU_MODES: list[str] = ["eager", "cuda-eager", "cuda-compiled"]


def check_modes(fn: Callable, inputs: Sequence, *, rtol: float = 1e-6, atol: float = 1e-8,
                modes: Sequence[str] | None = None) -> None:
    """Every mode in `modes` (default MODES) gives the values and gradients of the first (eager)."""
    reference = None
    for mode in (MODES if modes is None else modes):
        outs, grads = RUNNERS[mode](fn, inputs)
        for i, (g, x) in enumerate(zip(grads, inputs, strict=True)):
            if g is not None:
                assert g.shape == tuple(x.shape), f"{mode}: gradient {i} has shape {g.shape}, input {x.shape}"
                assert g.dtype == x.dtype, f"{mode}: gradient {i} has dtype {g.dtype}, input {x.dtype}"
        if reference is None:
            reference = (mode, outs, grads)
            continue
        ref_mode, ref_outs, ref_grads = reference
        assert len(outs) == len(ref_outs), f"{mode} gave {len(outs)} outputs, {ref_mode} {len(ref_outs)}"
        for i, (a, b) in enumerate(zip(outs, ref_outs, strict=True)):
            assert a.shape == b.shape and a.dtype == b.dtype, f"output {i}: {mode} {a.shape} {a.dtype} vs " \
                                                              f"{ref_mode} {b.shape} {b.dtype}"
            np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"output {i}: {mode} vs {ref_mode}")
        for i, (a, b) in enumerate(zip(grads, ref_grads, strict=True)):
            assert (a is None) == (b is None), f"gradient {i}: {mode} {a is None} vs {ref_mode} {b is None}"
            if a is not None:
                np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"gradient {i}: {mode} vs {ref_mode}")


# ---------------------------------------------------------------------------------------------
# check_torch
# ---------------------------------------------------------------------------------------------


def torch_dtype_name(dtype) -> str:
    return str(dtype).replace("torch.", "")


def to_torch(torch, x):
    """A torch leaf with the same values and requires_grad flag as a jitgrad tensor."""
    if not isinstance(x, TensorBase):
        return x
    t = torch.tensor(np.array(x.detach().numpy(), copy=True))
    return t.requires_grad_() if x.requires_grad else t


def check_torch(fn_jg: Callable, fn_torch: Callable, inputs: Sequence, rtol: float = 1e-5,
                atol: float = 1e-6) -> None:
    """fn_jg and fn_torch agree on output values and dtypes, on which outputs require grad,
    and on the gradient of every float input that requires grad (fixed random cotangent)."""
    import torch

    jg_xs = fresh_leaves(inputs)
    th_xs = [to_torch(torch, x) for x in inputs]
    jg_outs = _tuple(fn_jg(*jg_xs))
    th_outs = _tuple(fn_torch(*th_xs))
    assert len(jg_outs) == len(th_outs), f"jitgrad gave {len(jg_outs)} outputs, torch {len(th_outs)}"
    for i, (a, b) in enumerate(zip(jg_outs, th_outs, strict=True)):
        assert tuple(a.shape) == tuple(b.shape), f"output {i}: shape {tuple(a.shape)} vs torch {tuple(b.shape)}"
        assert jitgrad.dtypes.name(a.dtype) == torch_dtype_name(b.dtype), \
            f"output {i}: dtype {a.dtype} vs torch {b.dtype}"
        assert a.requires_grad == b.requires_grad, \
            f"output {i}: requires_grad {a.requires_grad} vs torch {b.requires_grad}"
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"output {i} value")
    pairs = [(a, b) for a, b in zip(jg_outs, th_outs, strict=True) if _is_float(a.dtype) and a.requires_grad]
    wrt = [i for i, x in enumerate(inputs) if isinstance(x, TensorBase) and x.requires_grad]
    if not pairs or not wrt:
        return
    cots = [cotangent(a.shape, a.dtype) for a, _ in pairs]
    jg_grads = jitgrad.autograd.grad([a for a, _ in pairs], [jg_xs[i] for i in wrt],
                                     [jitgrad.tensor(c) for c in cots], allow_unused=True)
    th_grads = torch.autograd.grad([b for _, b in pairs], [th_xs[i] for i in wrt],
                                   [torch.tensor(c) for c in cots], allow_unused=True)
    for i, ga, gb in zip(wrt, jg_grads, th_grads, strict=True):
        if gb is None:
            assert ga is None or not ga.numpy().any(), f"gradient of input {i}: torch has none, jitgrad {ga}"
            continue
        assert ga is not None, f"gradient of input {i}: jitgrad has none, torch {gb}"
        assert tuple(ga.shape) == tuple(gb.shape), f"gradient {i}: shape {tuple(ga.shape)} vs {tuple(gb.shape)}"
        assert jitgrad.dtypes.name(ga.dtype) == torch_dtype_name(gb.dtype), \
            f"gradient {i}: dtype {ga.dtype} vs torch {gb.dtype}"
        np.testing.assert_allclose(ga.numpy(), gb.numpy(), rtol=rtol, atol=atol, err_msg=f"gradient of input {i}")


# ---------------------------------------------------------------------------------------------
# How the op table's compiled column runs its programs
# ---------------------------------------------------------------------------------------------

# Cases whose programs Numba compiles for real: a sample of every kernel family (elementwise with
# vmath and broadcasting, fused reductions, matmul and layout calls, indexed loops, row reductions,
# cat, a composite). Every other case runs its generated source as plain Python (kernels.cpu's Python
# run mode: the same programs, structure checked, no compile); JITGRAD_TEST_FULL_COMPILE=1 compiles all.
REAL_COMPILE = frozenset({
    "sigmoid-2x1x3", "pow-2x1x3_4x1", "where-broadcast-cond", "cast-to-int",
    "mean-dims-tuple-keepdim", "amax-ties", "sum-bool", "prod-dim-one-zero",
    "matmul-2d-2d", "matmul-batched", "transpose-3d-neg",
    "getitem-array-2d", "setitem-array-rows", "gather-dim1", "getitem-slice-step",
    "var-dims-tuple", "max-dim-ties", "norm-pinf-dim", "cat-dim1-three", "mlp-composed",
    "cumprod-two-zeros", "sort-descending-dim0",
})
FULL_COMPILE = os.environ.get("JITGRAD_TEST_FULL_COMPILE") == "1"


def use_kernels_for(case_name: str, monkeypatch) -> None:
    """Run compiled mode's CPU programs as Python for this case unless it is in the real-compile
    sample (or JITGRAD_TEST_FULL_COMPILE=1)."""
    if not FULL_COMPILE and case_name not in REAL_COMPILE:
        monkeypatch.setenv("JITGRAD_CPU_KERNELS", "python")


def dispatched_prims(fn: Callable) -> list:
    """Names of the primitives `fn()` runs through core._bind (the one dispatch point), in order."""
    seen = []
    original = core._bind

    def counting(prim, args, params):
        seen.append(prim.name)
        return original(prim, args, params)

    core._bind = counting
    try:
        fn()
    finally:
        core._bind = original
    return seen
