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
from .lean_guards import checks_of, define, guard_lines
from .tensor import Tensor
from .tree import make_rebuilder


class LeanGradCall(GuardedCall):
    """One jit_grad signature called with the same arguments: what the full path recomputes per
    call (signature key, input list, which inputs are differentiated, graph edges, output aliasing)
    held here; per call only the guards, the program, the version snapshot and the wrapping run, in
    one function generated for the snapshot (`run`, which the compiled function keeps; `run.plan`
    is this)."""

    __slots__ = ("entry", "wrt", "inputs", "leaves_wrt", "edges", "call", "program_args", "n", "diff",
                 "outputs_meta", "n_results", "aliases", "rebuild", "runner", "n_residuals", "source", "run")

    def __init__(self, entry, exe, args: tuple, wrt: tuple, outs: list, n_residuals: int) -> None:
        """`exe`: the compiled forward that returns outputs + `n_residuals` residuals; `outs`: the first
        call's outputs (their dtypes say which are differentiable)."""
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
        self.n_residuals = n_residuals

        self.run = self._generate()
        self.run.plan = self

    def _generate(self):
        """The call, written out for this snapshot (lean_guards.py): the guards, the differentiated
        leaves' check, the program, the node (edges known, versions read) and the wrapped outputs.
        Its text is kept as `source`."""
        names = {"grad_state": _grad_state, "call": self.call, "program_args": self.program_args,
                 "host": _host_or_gpu, "ndarray": np.ndarray, "prepared": CompiledFunctionBackward.prepared,
                 "entry": self.entry, "inputs": self.inputs, "edges": self.edges, "meta": self.outputs_meta,
                 "runner": self.runner, "wrap": Tensor._wrap, "wrap_output": _wrap_output,
                 "OutputBackward": CompiledOutputBackward, "rebuild": self.rebuild}
        lines = ["def run(args):", "    if not grad_state.enabled:", "        raise Stale",
                 *guard_lines(self.args, checks_of(self.args, self.captured), self.state, names)]
        if self.leaves_wrt:
            names.update({f"leaf{i}": t for i, t in enumerate(self.leaves_wrt)})
            grown = " or ".join(f"leaf{i}._grad_fn is not None" for i in range(len(self.leaves_wrt)))
            lines += [f"    if {grown}:", "        raise Stale"]
        lines.append("    results = call(*program_args)")
        n = self.n
        residuals = []
        for j in range(self.n_residuals):
            lines += [f"    res{j} = results[{n + j}]",
                      f"    if type(res{j}) is not ndarray:",
                      f"        res{j} = host(res{j})"]
            residuals.append(f"res{j}")
        versions = []
        for i, t in enumerate(self.inputs):
            if isinstance(t, TensorBase):
                names[f"counter{i}"] = t._version_counter
                versions.append(f"counter{i}.value")
            else:
                versions.append("0")
        lines.append(f"    node = prepared(entry, inputs, edges, [{', '.join(residuals)}], meta, runner, "
                     f"[{', '.join(versions)}])")
        single = len(self.diff) == 1
        for k in range(self.n_results):
            lines += [f"    out{k} = results[{k}]",
                      f"    if type(out{k}) is not ndarray:",
                      f"        out{k} = host(out{k})",
                      f"    out{k} = wrap_output(out{k}, inputs)" if self.aliases[k] else f"    out{k} = wrap(out{k})"]
        for k, i in enumerate(self.diff):
            if i < self.n_results:
                node = "node" if single else f"OutputBackward(node, {k})"
                lines += [f"    out{i}._requires_grad = True", f"    out{i}._grad_fn = {node}"]
        lines.append(f"    return rebuild([{''.join(f'out{k}, ' for k in range(self.n_results))}])")
        self.source = "\n".join(lines) + "\n"
        return define(self.source, names, "run")
