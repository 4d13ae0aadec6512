"""Reverse-mode autodiff: ONE loop over graph nodes and their VJP rules.

The eager tape and the IR adjoint both run through `run_backward`: on concrete tensors it
computes gradients; on symbolic tensors (while tracing) the same VJP rules emit the adjoint
equations. No recursion anywhere, so 10,000-node graphs are fine.
"""
from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from . import dtypes
from .autograd_graph import AccumulateGrad, PrimNode, Zero, edge_to
from .core import Symbolic, TensorBase, copy_data, default_tensor_type, full_like_data, on_host, profile_hook, tracing
from .devices import backend_of
from .grad_mode import set_grad_enabled
from .prims import cast, expand
from .shapes import numel
from .vjp_replay import apply as host_apply
from .vjp_replay import arrays as host_arrays

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from typing import Any

# Called with (node, input_grads) after each backward node when anomaly detection is on, and with
# (node, exception) when the node raised (to name the forward line); the exception is re-raised after.
anomaly_hook: list = [None]
# Set by the profiler while it records: called as hook(node, grad, create_graph) in place of node.apply.
apply_hook: list = [None]


def _seq(x) -> list:
    if x is None:
        return []
    if isinstance(x, TensorBase):
        return [x]
    return list(x)


def _root_grads(outputs: list, grad_outputs: list, create_graph: bool) -> list:
    """Default cotangent 1 for single-element outputs; check user-given ones."""
    if len(grad_outputs) != len(outputs):
        raise RuntimeError(f"grad can be given for each output: got {len(grad_outputs)} gradients for "
                           f"{len(outputs)} outputs")
    out = []
    for i, (t, g) in enumerate(zip(outputs, grad_outputs)):
        if not t.requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have a grad_fn")
        if g is None:
            if numel(t.shape) != 1:
                raise RuntimeError(
                    f"grad can be implicitly created only for scalar outputs (output {i} has shape "
                    f"{list(t.shape)}); pass gradient=... with that shape, or reduce it first (e.g. .sum())")
            data = t._data
            g = type(t)._wrap(_ones(data.shape, data.dtype) if type(data) is np.ndarray
                              else full_like_data(data, t.shape, t.dtype, 1))
        else:
            if not isinstance(g, TensorBase):
                g = type(t)._wrap(np.asarray(g, dtype=t.dtype))
            if tuple(g.shape) != tuple(t.shape):
                raise RuntimeError(f"Mismatch in shape: grad_output[{i}] has a shape of {list(g.shape)} and "
                                   f"output[{i}] has a shape of {list(t.shape)}.")
            if not isinstance(g._data, Symbolic) and on_host(g._data) != on_host(t._data):
                raise RuntimeError(f"grad_output[{i}] is on device '{g.device}' but output[{i}] is on device "
                                   f"'{t.device}'; move the gradient with .to(output.device)")
            if g.dtype != t.dtype:
                if not dtypes.is_floating(g.dtype):
                    raise RuntimeError(f"grad_output[{i}] must be floating, got {dtypes.name(g.dtype)}")
                g = cast(g, t.dtype)
            if not create_graph:
                g = g.detach()
        out.append(g)
    return out



_ONES: dict = {}


def _ones(shape: tuple, dtype: np.dtype) -> np.ndarray:
    """A fresh host array of ones (a copy of a kept one: np.full costs several times more)."""
    ones = _ONES.get((shape, dtype))
    if ones is None:
        if len(_ONES) >= 64:
            _ONES.clear()
        ones = _ONES[(shape, dtype)] = np.ones(shape, dtype)
    return ones.copy()


def _topological(root_nodes: list) -> list:
    """Nodes reachable from the roots, each after every node that feeds it a gradient."""
    deps: dict = {}  # (a node is in deps once reached from another: the seen set of the walk)
    if len(root_nodes) == 1:  # (backward() of one loss: no duplicates to drop)
        roots = [] if root_nodes[0] is None else list(root_nodes)
    else:
        roots = list(dict.fromkeys(n for n in root_nodes if n is not None))  # a node listed twice is one root
    is_root = set(roots)
    stack = list(roots)
    while stack:
        for nxt in stack.pop()._next:
            if nxt is None:
                continue
            count = deps.get(nxt)
            if count is None:
                deps[nxt] = 1
                if nxt not in is_root:
                    stack.append(nxt)
            else:
                deps[nxt] = count + 1
    ready = [n for n in roots if n not in deps]
    order = []
    while ready:
        node = ready.pop()
        order.append(node)
        for nxt in node._next:
            if nxt is None:
                continue
            deps[nxt] -= 1
            if deps[nxt] == 0:
                ready.append(nxt)
    return order


def _needed(order: list, targets: set) -> set:
    """Nodes from which some target is reachable (the rest need not run)."""
    needed = set()
    for node in reversed(order):
        if node in targets or any(n in needed for n in node._next if n is not None):
            needed.add(node)
    return needed


def run_backward(outputs: Sequence, grad_outputs: Sequence, inputs: Sequence | None, *,
                 capture: bool, create_graph: bool, retain_graph: bool) -> dict:
    """Propagate cotangents from `outputs` back through the graph.

    capture=False (backward): accumulate into `.grad` of leaves (only of `inputs` if given).
    capture=True (autograd.grad): return {node: cotangent} for the nodes of `inputs`, touch no `.grad`.
    """
    root_nodes = [edge_to(t)[0] for t in outputs]
    order = _topological(root_nodes)
    target_nodes = None
    owners: dict = {}
    if inputs is not None:
        target_nodes = {edge_to(t)[0] for t in inputs}
        target_nodes.discard(None)
        needed = _needed(order, target_nodes)
        owners = {t.grad_fn: t for t in inputs if t.grad_fn is not None}
    grads: dict = {}
    for node, g in zip(root_nodes, grad_outputs):
        grads[node] = g if node not in grads else grads[node] + g
    captured: dict = {}
    deliveries: list = []  # (tensor, gradient, owned) for .grad, written only once the whole pass succeeded
    hook = anomaly_hook[0]
    timed_apply = apply_hook[0]
    # No graph built and nobody watching the ops: PrimNodes unbroadcast and sums of host cotangents
    # run on NumPy directly (the same np.sum / np.add their primitives dispatch to).
    host_fast = not create_graph and timed_apply is None and profile_hook[0] is None
    # Plain backward() with nothing watching: cotangents of the default tensor class on the host
    # pass between PrimNodes with replayed rules as bare arrays (vjp_replay.arrays), and become tensors
    # of that class only where a consumer needs one (a hook, retain_grad, .grad, a tensor rule).
    array_cls = default_tensor_type[0] if host_fast and hook is None and target_nodes is None else None
    with set_grad_enabled(create_graph):
        for node in order:
            g = grads.pop(node, None)
            if g is None or (target_nodes is not None and node not in needed):
                if not retain_graph:
                    node.release()
                continue
            if array_cls is not None:
                data = g if type(g) is np.ndarray else g._data if type(g) is array_cls else None
                if data is not None and type(node) is PrimNode and node._metadata is None \
                        and node._retained is None and type(data) is np.ndarray:
                    input_grads = host_arrays(node, data)
                    if input_grads is not None:
                        for nxt, ig in zip(node._next, input_grads):
                            if nxt is None or ig is None:
                                continue
                            prev = grads.get(nxt)
                            if prev is None:
                                grads[nxt] = ig
                            elif type(prev) is np.ndarray and prev.shape == ig.shape and prev.dtype is ig.dtype:
                                grads[nxt] = np.add(prev, ig)
                            else:
                                grads[nxt] = _add_tensors(_as_tensor(prev, array_cls), array_cls._wrap(ig), host_fast)
                        if not retain_graph:
                            node.release()
                        continue
                if type(g) is np.ndarray:
                    g = array_cls._wrap(g)
            if type(g) is Zero and (isinstance(node, AccumulateGrad) or node._retained is not None or node in owners
                                    or (target_nodes is not None and node in target_nodes)
                                    or (node._metadata is not None and node._metadata.get("hooks"))):
                g = materialize(g)  # a consumer that needs an array: .grad, a result, a hook
            if node._metadata is not None and node._metadata.get("hooks"):
                g = _run_tensor_hooks(node._metadata["hooks"], g)
            if target_nodes is not None and node in target_nodes:
                captured[node] = g
            if node._retained is not None or (owners and not capture):
                _deliver_retained(node, g, {} if capture else owners, deliveries)
            if isinstance(node, AccumulateGrad):
                if not capture and (target_nodes is None or node in target_nodes):
                    # (this loop's stale references to earlier cotangents, so that only the
                    # pass's own references to g remain for _sole_reference to count)
                    data = input_grads = ig = prev = None
                    owned = not create_graph and _sole_reference(g)
                    if getattr(node.variable, "_post_accumulate_grad_hooks", None):
                        # Its hooks act during backward (DDP buckets, optimizer-in-backward), as in
                        # PyTorch: this leaf's .grad is written now, not with the others at the end.
                        _accumulate_all([(node.variable, g, owned)], create_graph)
                        _run_post_accumulate_hooks(node.variable)
                    else:
                        deliveries.append((node.variable, g, owned))
                continue
            try:
                if type(g) is Zero:  # no VJP rule runs for a zero cotangent
                    input_grads = _zero_input_grads(node, g, create_graph)
                elif host_fast and type(node) is PrimNode:  # (anomaly mode: the rule on tensors)
                    input_grads = host_apply(node, g) if hook is None else node.apply_host(g)
                elif timed_apply is None:
                    input_grads = node.apply(g, create_graph)
                else:
                    input_grads = timed_apply(node, g, create_graph)
            except Exception as exc:
                if hook is not None:
                    hook(node, exc)
                raise
            if hook is not None:
                hook(node, input_grads)
            for nxt, ig in zip(node._next, input_grads):
                if nxt is None or ig is None:
                    continue
                if target_nodes is not None and nxt not in needed:
                    continue
                prev = grads.get(nxt)
                if prev is None:
                    grads[nxt] = ig
                else:
                    grads[nxt] = _add_tensors(_as_tensor(prev, array_cls), ig, host_fast)
            if not retain_graph:
                node.release()
        _accumulate_all(deliveries, create_graph)
    return captured


def _as_tensor(g, cls):
    """A cotangent held as a bare host array (see run_backward) as a tensor of `cls`."""
    return cls._wrap(g) if type(g) is np.ndarray else g


def _add_tensors(prev, ig, host_fast: bool):
    """The sum of two cotangents of one node (np.add directly for host tensors of one dtype)."""
    if host_fast and _same_host(prev, ig):
        cls = type(prev)
        return (cls._op_result or cls)._wrap(np.add(prev._data, ig._data))
    return add_cotangents(prev, ig)


def _same_host(a, b) -> bool:
    """Two cotangent tensors on the host of one shape and dtype (their sum is one np.add)."""
    if not isinstance(a, TensorBase) or not isinstance(b, TensorBase):
        return False  # (a symbolic Zero, or a compiled node's packed cotangents)
    da, db = a._data, b._data
    return type(da) is np.ndarray and type(db) is np.ndarray and da.shape == db.shape and da.dtype is db.dtype


def add_cotangents(a, b):
    """a + b for cotangents, where None is "no gradient" and a symbolic Zero is the other term."""
    if a is None or type(a) is Zero:
        return b if b is not None else a
    if b is None or type(b) is Zero:
        return a
    return a + b


def materialize(zero: Zero) -> TensorBase:
    """The zero cotangent as a tensor, for a consumer that needs an array. While tracing it is a
    0-d constant broadcast by ``expand``, so no zero-filled array is baked into the graph."""
    like = zero.like
    data = like._data
    if isinstance(data, Symbolic):
        scalar = type(like)._wrap(data.builder.const(np.zeros((), zero.dtype)))
        return expand(scalar, zero.shape) if zero.shape else scalar
    return type(like)._wrap(full_like_data(data, zero.shape, zero.dtype, 0))


def _zero_input_grads(node, zero: Zero, create_graph: bool) -> tuple:
    """A node's input cotangents for a zero output cotangent: zeros, without running its rule
    (nodes that know their inputs say so with ``zero_grads``; others see a materialised zero)."""
    zero_grads = getattr(node, "zero_grads", None)
    if zero_grads is not None:
        return zero_grads(zero)
    return node.apply(materialize(zero), create_graph)


def _run_tensor_hooks(hooks: list, g):
    """Tensor.register_hook functions: each sees the gradient and may return a replacement."""
    for hook in list(hooks):
        replaced = hook(g)
        if replaced is not None:
            if tuple(replaced.shape) != tuple(g.shape):
                raise RuntimeError(f"hook returned a gradient of shape {list(replaced.shape)}; expected "
                                   f"{list(g.shape)}")
            g = replaced
    return g


def _run_post_accumulate_hooks(variable) -> None:
    """Tensor.register_post_accumulate_grad_hook functions: each sees the leaf once `.grad` holds the sum."""
    hooks = getattr(variable, "_post_accumulate_grad_hooks", None)
    if hooks:
        for hook in list(hooks):
            hook(variable)


def _deliver_retained(node, g, owners: dict, deliveries: list) -> None:
    """`.grad` of a non-leaf named in backward(inputs=...) (`owners`), and of one that called
    retain_grad(): as in PyTorch, the latter is filled whenever its gradient is computed, by
    backward (with or without inputs=) and by autograd.grad alike. Queued in `deliveries`."""
    owner = owners.get(node)
    if owner is not None:
        deliveries.append((owner, g, False))
    ref = node._retained
    tensor = ref() if ref is not None else None
    if tensor is not None and tensor is not owner:
        deliveries.append((tensor, g, False))


# What sys.getrefcount adds for its own argument (1 on CPython 3.11; measured, not assumed).
_GETREFCOUNT_EXTRA = (lambda probe: sys.getrefcount(probe) - 1)(object())


def _sole_reference(g) -> bool:
    """Whether cotangent g (a tensor on its way to a leaf's .grad) and its host array are held by
    nobody but the backward pass: then the leaf's first gradient can take the array instead of a
    copy, as PyTorch's AccumulateGrad steals an unshared gradient. A root gradient the caller passed,
    a cotangent shared by two leaves (x + y), one a hook or retain_grad kept, a broadcast or other
    view: each has more references or no storage of its own, and is copied."""
    data = g._data
    if type(data) is not np.ndarray or data.base is not None or not data.flags.writeable \
            or not data.flags.c_contiguous:
        return False
    # g: the pass's loop variable and this argument; data: g._data and this local.
    return sys.getrefcount(g) - _GETREFCOUNT_EXTRA <= 2 and sys.getrefcount(data) - _GETREFCOUNT_EXTRA <= 2


def _accumulate_all(deliveries: list, create_graph: bool) -> None:
    """Accumulate every gradient of one backward pass into `.grad`: all checked and converted
    first, so an error leaves every `.grad` (and its version counter) as it was. An `owned`
    gradient (see _sole_reference) becomes a leaf's first .grad without a copy."""
    if len(deliveries) == 1:  # (one leaf, on the host, matching: the common small step)
        (variable, g, owned), = deliveries
        data, own = g._data, variable._data
        if type(data) is np.ndarray and type(own) is np.ndarray and data.shape == own.shape \
                and data.dtype is own.dtype and not create_graph and variable._grad is None:
            # (accumulate_grad's first gradient)
            variable._grad = type(g)._wrap(data if owned else np.array(data, copy=True))
            return
    ready = []
    for variable, g, owned in deliveries:
        if tuple(g.shape) != tuple(variable.shape):
            raise RuntimeError(f"internal error: gradient of shape {tuple(g.shape)} for a tensor of shape "
                               f"{tuple(variable.shape)}")
        if g.dtype != variable.dtype:
            g = cast(g, variable.dtype)
        ready.append((variable, g, owned))
    for variable, g, owned in ready:
        accumulate_grad(variable, g, create_graph, owned)


def accumulate_grad(variable: TensorBase, g: TensorBase, create_graph: bool, owned: bool = False) -> None:
    """Add g into variable.grad as PyTorch's AccumulateGrad does: the first gradient is stored as a
    fresh buffer (a detached copy, unless create_graph or `owned`: an array only the backward pass
    held is taken as it is); later ones are added in place into that
    same tensor (so `g = x.grad` held by the user sees them), except when building a graph
    (create_graph), where the sum is a new tensor with history. g has variable's shape and dtype."""
    old = variable._grad
    if create_graph:
        variable._grad = g if old is None else old + g
        return
    data = g._data
    if isinstance(data, Symbolic):
        builder = tracing.builder
        if builder is not None and hasattr(builder, "accumulate_grad") and builder.outside(variable):
            builder.accumulate_grad(variable, g)  # a training step traced whole: calls repeat it
            return
    if old is None:
        variable._grad = type(g)._wrap(data if owned or isinstance(data, Symbolic) else copy_data(data))
        return
    old_data = old._data
    if isinstance(old_data, Symbolic) or isinstance(data, Symbolic):
        variable._grad = type(g)._wrap(old_data + data)
    elif on_host(old_data) and on_host(data):
        if old_data.flags.writeable:
            np.add(old_data, data, out=old_data)
            old._version_counter.bump("AccumulateGrad")
        else:  # e.g. a broadcast view assigned to .grad by the user: it cannot be written
            variable._grad = type(g)._wrap(np.add(old_data, data))
    else:  # GPU storage: the sum is computed (or runs out of memory) before .grad changes
        total = (old.detach() + g.detach())._data
        backend_of(old_data).copy_into(old_data, total)
        old._version_counter.bump("AccumulateGrad")


def backward(tensors: Any, grad_tensors: Any = None, retain_graph: bool | None = None, create_graph: bool = False,
             inputs: Any = None) -> None:
    """Accumulate d(tensors)/d(leaves) into the leaves' `.grad` (PyTorch's autograd.backward).

    Example:
        >>> x = jg.tensor([1.0, 2.0], requires_grad=True)
        >>> jg.autograd.backward([(x * x).sum()])
        >>> x.grad
        tensor([2., 4.])
    """
    if grad_tensors is None and inputs is None and not create_graph and isinstance(tensors, TensorBase) \
            and anomaly_hook[0] is None and apply_hook[0] is None:
        # One compiled jit_grad node feeding leaves: its own short path (same accumulation).
        direct = getattr(tensors._grad_fn, "backward_to_leaves", None)
        if direct is not None and tensors._requires_grad and direct(bool(retain_graph)):
            return
    outputs = _seq(tensors)
    if not outputs:
        raise RuntimeError("backward() needs at least one tensor")
    grads = _seq(grad_tensors) if grad_tensors is not None else [None] * len(outputs)
    roots = _root_grads(outputs, grads, create_graph)
    if retain_graph is None:
        retain_graph = create_graph
    targets = None
    if inputs is not None:
        targets = _seq(inputs)
        if not targets:
            raise RuntimeError("'inputs' argument to backward() cannot be empty.")
        for t in targets:
            if not t.requires_grad:
                raise RuntimeError("One of the differentiated Tensors does not require grad")
    run_backward(outputs, roots, targets, capture=False, create_graph=create_graph, retain_graph=retain_graph)


def gradients(outputs: Any, inputs: Any, grad_outputs: Any = None, retain_graph: bool | None = None,
              create_graph: bool = False, allow_unused: bool | None = None, materialize_grads: bool = False) -> tuple:
    """d(outputs)/d(inputs) as a tuple, without touching `.grad` (PyTorch's autograd.grad).

    Example:
        >>> x = jg.tensor([1.0, 2.0], requires_grad=True)
        >>> jg.autograd.grad((x ** 3).sum(), x)
        (tensor([ 3., 12.]),)
    """
    outs = _seq(outputs)
    ins = _seq(inputs)
    if not ins:
        raise RuntimeError("grad requires non-empty inputs.")
    for t in ins:
        if not isinstance(t, TensorBase):
            raise TypeError(f"grad: inputs must be Tensors, got {type(t).__name__}")
        if not t.requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    if allow_unused is None:
        allow_unused = materialize_grads
    gos = _seq(grad_outputs) if grad_outputs is not None else [None] * len(outs)
    roots = _root_grads(outs, gos, create_graph)
    if retain_graph is None:
        retain_graph = create_graph
    captured = run_backward(outs, roots, ins, capture=True, create_graph=create_graph,
                            retain_graph=retain_graph)
    result = []
    for t in ins:
        g = captured.get(edge_to(t)[0])
        if g is None:
            if not allow_unused:
                raise RuntimeError("One of the differentiated Tensors appears to not have been used in the "
                                   "graph. Set allow_unused=True if this is the desired behavior.")
            if materialize_grads:  # with create_graph, zeros that can be differentiated again (as PyTorch)
                g = type(t)._wrap(full_like_data(t._data, t.shape, t.dtype, 0), requires_grad=create_graph)
        elif not create_graph:
            g = g.detach()
        result.append(g)
    return tuple(result)
