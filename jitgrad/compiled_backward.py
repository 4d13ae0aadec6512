"""jit_grad's autograd nodes: one node per compiled call runs the compiled backward program
(or, for create_graph, replays the adjoint graph eagerly); multi-output calls tag cotangents."""
from __future__ import annotations

import numpy as np

from . import devices
from .autodiff import accumulate_grad
from .autograd_graph import FREED_MESSAGE, AccumulateGrad, Node, Zero, edge_to
from .call_args import _array_of, _host_or_gpu
from .core import TensorBase
from .grad_mode import enable_grad
from .interpret import replay
from .shapes import numel
from .tensor import Tensor


class _Packed:
    """Cotangents of several outputs of one compiled call, merged by the engine's `+`."""

    __slots__ = ("parts",)

    def __init__(self, parts: dict) -> None:
        self.parts = parts

    def __add__(self, other: _Packed) -> _Packed:
        merged = dict(self.parts)
        for i, g in other.parts.items():
            merged[i] = merged[i] + g if i in merged else g
        return _Packed(merged)


class CompiledOutputBackward(Node):
    """One output of a multi-output compiled call: forwards its cotangent, tagged."""

    __slots__ = ("index",)

    def __init__(self, shared: Node, index: int) -> None:
        super().__init__(((shared, 0),))
        self.index = index

    def name(self) -> str:
        return "CompiledOutputBackward"

    def apply(self, grad, create_graph: bool) -> tuple:
        return (_Packed({self.index: grad}),)

    def zero_grads(self, zero) -> tuple:
        return (_Packed({}),)  # (a zero part is a missing part)


class CompiledFunctionBackward(Node):
    """The single grad_fn of a jit_grad call: runs the compiled backward program."""

    __slots__ = ("entry", "residuals", "inputs", "versions", "outputs_meta", "runner")

    def __init__(self, entry, inputs: list, residuals: list, outputs_meta: list) -> None:
        super().__init__(tuple(edge_to(t) if isinstance(t, TensorBase) else (None, 0) for t in inputs))
        self.entry = entry  # the compiled._Entry of the call's signature
        self.runner = None  # see prepared
        self.inputs = inputs
        self.versions = [t._version_counter.value if isinstance(t, TensorBase) else 0 for t in inputs]
        self.residuals = residuals
        self.outputs_meta = outputs_meta  # (shape, dtype) of each differentiable output

    @classmethod
    def prepared(cls, entry, inputs: list, edges: tuple, residuals: list, outputs_meta: list, runner: list,
                 versions: list):
        """The node of one call whose graph edges are known already (the lean call path: the same
        argument objects as before), with the inputs' `versions` read by the caller. `runner`: a list shared
        by the lean call's nodes holding what runs their backward in backward_to_leaves (found by
        the first: its arguments have the same types in every call, see _Entry.backward_entry)."""
        node = object.__new__(cls)
        node.next_functions = edges
        node._retained = node._metadata = None
        node.entry, node.inputs, node.residuals, node.outputs_meta = entry, inputs, residuals, outputs_meta
        node.runner = runner
        node.versions = versions
        return node

    def name(self) -> str:
        return "CompiledFunctionBackward"

    def _zero_filled(self) -> list:
        """Zeros for every cotangent (only the eager higher-order replay needs them as arrays)."""
        device = self.entry.device
        backend = None if device == "cpu" else devices.backend(device)
        return [Tensor._wrap(np.zeros(shape, dtype) if backend is None else backend.full(shape, dtype, 0))
                for shape, dtype in self.outputs_meta]

    def zero_grads(self, zero) -> tuple:
        """Every output's cotangent is zero: so is every input's (no program runs)."""
        return tuple([Zero.of(t) if isinstance(t, TensorBase) and node is not None else None
                      for t, (node, _) in zip(self.inputs, self.next_functions)])

    def apply(self, grad, create_graph: bool) -> tuple:
        if self.residuals is None:
            raise RuntimeError(FREED_MESSAGE)
        self._check_versions()
        parts = grad.parts if isinstance(grad, _Packed) else {0: grad}
        if not parts:
            return self.zero_grads(grad)
        wrt = self.entry.wrt
        if create_graph:
            # Higher order: run the adjoint eagerly on the original inputs, recording a graph.
            zeros = self._zero_filled()
            cts = [parts.get(i, zeros[i]) for i in range(len(self.outputs_meta))]
            inputs = [t if isinstance(t, TensorBase) else Tensor._wrap(_host_or_gpu(t)) for t in self.inputs]
            with enable_grad():
                outs = replay(self.entry.vjp_graph, inputs + cts)
            grads = outs[len(outs) - len(wrt):]
        else:
            # Cotangents of outputs the caller did not use are symbolic zeros: a backward program
            # specialised on which are missing takes only the others.
            missing = tuple(i for i in range(len(self.outputs_meta)) if i not in parts)
            backward = self.entry.backward_with_zeros(wrt, missing) if missing else \
                self.entry.grad_executables(wrt)[1]
            arrays = self.residuals + [_array_of(parts[i]) for i in sorted(parts)]
            grads = [Tensor._wrap(_host_or_gpu(a)) for a in backward.run(arrays)]
        result = [None] * len(self.inputs)
        for i, g in zip(wrt, grads):
            result[i] = g
        return tuple(result)

    def _check_versions(self) -> None:
        if self.entry.stale_saved_value is not None:  # eager backward would refuse it too
            raise RuntimeError(self.entry.stale_saved_value)
        for t, v in zip(self.inputs, self.versions):
            if isinstance(t, TensorBase) and t._version_counter.value != v:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by an inplace "
                    f"operation ({t._version_counter.last_op or 'an in-place op'}): an input of a jit_grad function "
                    f"is at version {t._version_counter.value}; expected version {v} instead.")

    def backward_to_leaves(self, retain_graph: bool) -> bool:
        """`loss.backward()` on this node's single one-element output when it feeds leaves only
        (no hooks, no retain_grad, each leaf once, host arrays): the compiled backward runs with a
        cached seed and its gradients go straight to `.grad` -- the same accumulation as the
        engine's (a new tensor, or an in-place add into the existing one), without the graph
        walk. Returns False (nothing done) where the engine must run."""
        if self._metadata is not None or self._retained is not None or self.residuals is None \
                or len(self.outputs_meta) != 1 or self.entry.device != "cpu":
            return False
        meta = self.outputs_meta[0]
        shape = meta[0]
        if shape and numel(shape) != 1:
            return False
        targets = []
        for node, _ in self.next_functions:
            if node is None:
                continue
            if type(node) is not AccumulateGrad or node._metadata is not None or node._retained is not None \
                    or getattr(node.variable, "_post_accumulate_grad_hooks", None) or node in targets:
                return False
            targets.append(node)
        self._check_versions()
        seed = _SEEDS.get(meta)
        if seed is None:
            seed = _SEEDS[meta] = np.ones(shape, meta[1])
            seed.flags.writeable = False
        arrays = self.residuals + [seed]
        entry = self.entry
        wrt = entry.wrt
        holder = self.runner
        run = None if holder is None else holder[0]
        if run is None:
            if holder is not None:
                run = holder[0] = entry.backward_entry(wrt, arrays)
            if run is None:
                run = entry.backward_runner(wrt)
        grads = [g if type(g) is np.ndarray else _host_or_gpu(g) for g in run(arrays)]
        copied = entry.backward_aliasing.get(wrt)
        if copied is None:  # (which gradients need a copy is fixed by the program: found once)
            copied = entry.backward_aliasing[wrt] = [alias or not g.flags.writeable
                                                     for g, alias in zip(grads, _aliasing(grads, arrays))]
        ready = []
        for i, g, copy in zip(wrt, grads, copied):
            node = self.next_functions[i][0]
            if node is None:
                continue
            variable = node.variable
            if g.shape != variable._data.shape or g.dtype != variable._data.dtype:
                raise AssertionError(f"internal error: a compiled backward returned a gradient of {g.dtype}{g.shape} "
                                     f"for an input of {variable.dtype}{tuple(variable.shape)}")
            ready.append((variable, g, copy))
        for variable, g, copy in ready:
            if variable._grad is None:  # (a fresh program output is nobody else's: no copy needed)
                variable._grad = Tensor._wrap(g.copy() if copy else g)
            else:
                accumulate_grad(variable, Tensor._wrap(g), False)
        if not retain_graph:
            self.release()
        return True

    def release(self) -> None:
        self.residuals = None


def _aliasing(grads: list, arrays: list) -> list:
    """Per gradient a backward program returned: whether it may share memory with its arguments
    (a residual, the seed) or with an earlier gradient (then `.grad` gets a copy, as eager mode
    gives each `.grad` storage of its own). Fixed by the program's structure: found once per
    backward and kept (_Entry.backward_aliasing)."""
    shared = []
    for k, g in enumerate(grads):
        others = [a for a in arrays if type(a) is np.ndarray] + list(grads[:k])
        shared.append(type(g) is not np.ndarray or any(np.may_share_memory(g, a) for a in others))
    return shared


_SEEDS: dict = {}  # (shape, dtype) -> a read-only array of ones: the seed of backward() on a one-element output
