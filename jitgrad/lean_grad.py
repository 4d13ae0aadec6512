"""jit_grad's call path for a call with the same argument objects as the last one (the training
loop): identity guards, the compiled forward's own entry point on a prepared argument list, one
backward node made without the generic constructor's per-input work. Anything unusual raises
_LeanCallStaleError and the caller takes the full path (which rebuilds this)."""
from __future__ import annotations

import numpy as np

from .autograd_graph import accumulator_of
from .call_args import GuardedCall, _host_or_gpu, _LeanCallStaleError, _wrap_output, entry_point
from .compiled_backward import CompiledFunctionBackward, CompiledOutputBackward
from .core import TensorBase
from .grad_mode import _state as _grad_state
from .tensor import Tensor
from .tree import make_rebuilder


class LeanGradCall(GuardedCall):
    """One jit_grad signature called with the same arguments: what the full path recomputes per
    call (signature key, input list, which inputs are differentiated, graph edges, output aliasing)
    held here; per call only the guards, the program, the version snapshot and the wrapping run."""

    __slots__ = ("entry", "wrt", "inputs", "leaves_wrt", "edges", "call", "program_args", "n", "diff",
                 "outputs_meta", "n_results", "aliases", "rebuild", "runner")

    def __init__(self, entry, exe, args: tuple, wrt: tuple, outs: list) -> None:
        """`exe`: the compiled forward that returns outputs + residuals; `outs`: the first call's
        outputs (their dtypes say which are differentiable)."""
        if entry.writebacks or entry.random_inputs or entry.effects is not None:
            raise _LeanCallStaleError
        self._snapshot(entry, args)
        self.entry, self.wrt = entry, wrt
        self.inputs = [*args, *self.captured]
        # Differentiated inputs are leaves (checked per call): their edge is their AccumulateGrad.
        self.leaves_wrt = [self.inputs[i] for i in wrt]
        for t in self.leaves_wrt:
            if t._grad_fn is not None:
                raise _LeanCallStaleError
        self.edges = tuple((accumulator_of(t), 0) if isinstance(t, TensorBase) and t._requires_grad else (None, 0)
                           for t in self.inputs)
        arrays = [*self.datas, *self.captured_datas]
        self.program_args = [arrays[i] for i in exe._arg_index] + list(exe._consts)
        if exe._prealloc:
            raise _LeanCallStaleError
        self.call = entry_point(exe._fn, self.program_args)
        self.n = entry.n_outputs
        self.n_results = entry.n_results
        self.diff = [i for i, a in enumerate(outs) if a.dtype.kind == "f"]
        self.outputs_meta = [(outs[i].shape, outs[i].dtype) for i in self.diff]
        self.aliases = [any(type(x._data) is np.ndarray and np.may_share_memory(a, x._data)
                            for x in self.inputs if isinstance(x, TensorBase)) for a in outs]
        self.rebuild = make_rebuilder(entry.out_tree)
        self.runner = [None]  # what runs the backward of this call's nodes (CompiledFunctionBackward.prepared)

    def __call__(self, args: tuple):
        if not _grad_state.enabled:
            raise _LeanCallStaleError
        self.guard(args)
        for t in self.leaves_wrt:
            if t._grad_fn is not None:
                raise _LeanCallStaleError
        results = self.call(*self.program_args)
        n = self.n
        residuals = [a if type(a) is np.ndarray else _host_or_gpu(a) for a in results[n:]]
        node = CompiledFunctionBackward.prepared(self.entry, self.inputs, self.edges, residuals, self.outputs_meta,
                                                 self.runner)
        inputs = self.inputs
        tensors = []
        for k in range(self.n_results):
            a = results[k]
            if type(a) is not np.ndarray:
                a = _host_or_gpu(a)
            tensors.append(_wrap_output(a, inputs) if self.aliases[k] else Tensor._wrap(a))
        diff = self.diff
        single = len(diff) == 1
        for k, i in enumerate(diff):
            if i < self.n_results:
                t = tensors[i]
                t._requires_grad = True
                t._grad_fn = node if single else CompiledOutputBackward(node, k)
        return self.rebuild(tensors)
