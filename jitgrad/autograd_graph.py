"""Autograd graph nodes (PyTorch's grad_fn objects): one node per recorded primitive
application, AccumulateGrad for leaves, saved values with version-counter checks; and `Zero`,
the symbolic zero cotangent the nodes and the engine pass instead of zero arrays."""
from __future__ import annotations

import itertools
import weakref

import numpy as np

from . import dtypes, shapes

FREED_MESSAGE = (
    "Trying to backward through the graph a second time (or directly access saved tensors after "
    "they have already been freed). Saved intermediate values of the graph are freed when you call "
    ".backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the "
    "graph a second time or if you need to access saved tensors after calling backward."
)


_next_serial = itertools.count().__next__


class VersionCounter:
    """Counts in-place writes to a storage; shared by tensors that share memory (detach, views)."""

    __slots__ = ("value", "last_op", "serial")

    def __init__(self) -> None:
        self.value = 0
        self.last_op = ""
        # Creation order of storages: a trace captures the tensors made before it began (see tracing.py).
        self.serial = _next_serial()

    def bump(self, op_name: str) -> None:
        self.value += 1
        self.last_op = op_name


class Zero:
    """A symbolic zero cotangent (as JAX's ``ad.Zero``): the gradient of a value the result does not
    depend on, with a shape and dtype but no storage. VJP rules return it instead of a zero array;
    the engine (``autodiff.run_backward``) skips VJP rules for it, a sum with it is the other term,
    and it becomes an array only where one is needed (``.grad``, ``autograd.grad``'s results, hooks,
    a traced graph's outputs). ``like`` is a tensor on the storage the zeros would live on."""

    __slots__ = ("shape", "dtype", "like")

    def __init__(self, shape: tuple, dtype: np.dtype, like) -> None:
        self.shape = tuple(shape)
        self.dtype = dtype
        self.like = like

    @classmethod
    def of(cls, x) -> Zero:
        """The zero cotangent of tensor x (its shape, dtype and storage kind)."""
        return cls(x.shape, x.dtype, x)

    def sum_to_size(self, shape: tuple) -> Zero:
        """Unbroadcasting a zero is a zero of the smaller shape."""
        return Zero(shape, self.dtype, self.like)

    def __add__(self, other):
        return other

    __radd__ = __add__

    def __repr__(self) -> str:
        return f"Zero(shape={self.shape}, dtype={self.dtype})"


class Node:
    """A backward function. `next_functions` holds (node, 0) per input, None where no grad flows."""

    __slots__ = ("next_functions", "_retained", "_metadata", "__weakref__")

    def __init__(self, next_functions: tuple) -> None:
        self.next_functions = next_functions
        self._retained = None
        self._metadata = None

    @property
    def _next(self) -> tuple:
        """The node of each input (None where no gradient flows): the engine walks these."""
        return tuple([edge[0] for edge in self.next_functions])

    @property
    def metadata(self) -> dict:
        """Free-form per-node storage (hooks, anomaly-mode stacks), created on first use."""
        if self._metadata is None:
            self._metadata = {}
        return self._metadata

    def name(self) -> str:
        return type(self).__name__

    def apply(self, grad, create_graph: bool) -> tuple:
        """Input gradients (aligned with next_functions) for the output gradient `grad`."""
        raise RuntimeError(f"{self.name()} cannot be applied")

    def release(self) -> None:
        """Free saved values after a backward pass that did not retain the graph."""

    def __call__(self, grad):
        return self.apply(grad, create_graph=False)

    def __repr__(self) -> str:
        return f"<{self.name()} object at {hex(id(self))}>"


class AccumulateGrad(Node):
    """The graph node of a leaf that requires grad: gradients arriving here go to `.grad`."""

    __slots__ = ("variable",)
    _next = ()  # (a leaf: no inputs)

    def __init__(self, variable) -> None:
        super().__init__(())
        self.variable = variable

    def name(self) -> str:
        return "torch::autograd::AccumulateGrad"


def _edge(tensor):
    """The node a gradient for `tensor` goes to: its grad_fn, its leaf accumulator, or None."""
    if not tensor._requires_grad:
        return None
    fn = tensor._grad_fn
    return fn if fn is not None else accumulator_of(tensor)


def _metadata(tensor) -> tuple:
    """What a node keeps of a host input its rule does not read: (class id, shape, dtype, requires_grad)."""
    cls_id = _CLASS_IDS.get(type(tensor))
    if cls_id is None:
        cls_id = _class_id(type(tensor))
    data = tensor._data
    return (cls_id, data.shape, data.dtype, tensor._requires_grad)


_ndarray = np.ndarray


def accumulator_of(leaf) -> AccumulateGrad:
    """The (cached, weakly held) AccumulateGrad node of a leaf tensor."""
    ref = leaf._accumulator
    node = ref() if ref is not None else None
    if node is None:
        node = AccumulateGrad(leaf)
        leaf._accumulator = weakref.ref(node)
    return node


def edge_to(tensor) -> tuple:
    """The next_functions entry for an input tensor."""
    if not tensor.requires_grad:  # (the property: a view whose base changed in place gets its history first)
        return (None, 0)
    return (_edge(tensor), 0)




class PrimNode(Node):
    """Backward node of one primitive application; its VJP rule is written with jitgrad ops.

    `reads` = (per input, output): the values the VJP rule reads for this requires-grad pattern
    (derived from the rule, see core.vjp_reads). Only those are version-checked, and a node that
    reads none keeps working after backward without retain_graph, as PyTorch's nodes that save nothing.
    """

    # (What a node keeps is shaped to leave few objects for Python's cycle collector to track: a
    # graph lives across its collections, and a full one walks every tracked object. Tuples of
    # numbers, shapes and NumPy dtypes stop being tracked; lists and tuples holding a class do not.
    # So the saved values are slots, not a tuple; the edges are one tuple of nodes, not (node, 0)
    # pairs (next_functions builds those on demand); an output the rule does not read keeps no
    # version counter.)
    __slots__ = ("prim", "params", "_next", "_inputs", "_versions", "_out_data", "_out_counter", "_out_version",
                 "_out_cls", "_out_shape", "_out_dtype", "_in_shapes", "_reads")

    def __init__(self, prim, params: dict, inputs: tuple, output, reads: tuple) -> None:
        # Each input, or of a host input the rule does not read only (class id, shape, dtype,
        # requires_grad), so its memory can be freed (device and symbolic inputs are kept: rules
        # need their device). Versions are kept of the inputs the rule reads only (none: no tuple).
        reads_inputs, reads_out = reads
        if len(inputs) == 1:  # (the common arities unrolled: a node is made per op)
            a, = inputs
            self._next = (_edge(a),)
            self._versions = (a._version_counter.value,) if reads_inputs[0] else ()
            self._inputs = (a if reads_inputs[0] or type(a._data) is not _ndarray else _metadata(a),)
        elif len(inputs) == 2:
            a, b = inputs
            read_a, read_b = reads_inputs
            self._next = (_edge(a), _edge(b))
            self._versions = (a._version_counter.value, b._version_counter.value) if read_a or read_b else ()
            self._inputs = (a if read_a or type(a._data) is not _ndarray else _metadata(a),
                            b if read_b or type(b._data) is not _ndarray else _metadata(b))
        else:
            self._next = tuple([_edge(t) for t in inputs])
            self._versions = tuple([t._version_counter.value for t in inputs]) if True in reads_inputs else ()
            self._inputs = tuple([t if read or type(t._data) is not _ndarray else _metadata(t)
                                  for t, read in zip(inputs, reads_inputs)])
        self._retained = None
        self._metadata = None
        self.prim = prim
        self.params = params
        self._reads = reads
        if type(prim.node_name) is not str:
            self._in_shapes = tuple([t.shape for t in inputs])
        out_data = output._data
        self._out_cls = type(output)
        self._out_shape = out_data.shape
        self._out_dtype = out_data.dtype
        if reads_out or type(out_data) is not np.ndarray:
            counter = output._version_counter
            self._out_data = out_data
            self._out_counter = counter
            self._out_version = counter.value
        else:
            self._out_data = self._out_counter = None
            self._out_version = 0

    @property
    def next_functions(self) -> tuple:
        """(node, 0) per input, (None, 0) where no gradient flows (PyTorch's next_functions)."""
        return tuple([(n, 0) for n in self._next])

    def name(self) -> str:
        label = self.prim.node_name
        return label if isinstance(label, str) else label(self.params, self._in_shapes)

    def saved_values(self, attach: bool = True):
        """(inputs, output) as tensors; with `attach` the output is re-attached to this node
        (its history, for higher order), else it is a detached tensor."""
        inputs = self._inputs
        if inputs is None:
            raise RuntimeError(FREED_MESSAGE)
        versions, out_data, out_counter, out_version = self._versions, self._out_data, self._out_counter, \
            self._out_version
        reads_inputs, reads_out = self._reads
        if False in reads_inputs:
            inputs = tuple([_stand_in(t) if type(t) is tuple else t for t in inputs])
        cls = self._out_cls
        if out_data is None:
            out_data = _zeros_view(self._out_shape, self._out_dtype)
        for i, (t, v) in enumerate(zip(inputs, versions)):
            if reads_inputs[i] and t._version_counter.value != v:
                raise _modified_error(t, self, i, v)
        if reads_out and out_counter.value != out_version:
            raise _output_modified_error(self, out_counter, out_version)
        if attach:
            return inputs, cls._wrap(out_data, requires_grad=True, grad_fn=self, version=out_counter)
        return inputs, cls._wrap(out_data, version=out_counter)

    def saved_host(self) -> tuple | None:
        """(input arrays, their requires-grad flags, output array) for a replayed VJP rule (vjp_replay.py),
        checked as saved_values checks them (unread values are zero views); None when a value is not
        a host array."""
        inputs = self._inputs
        if inputs is None:
            raise RuntimeError(FREED_MESSAGE)
        versions, out_data = self._versions, self._out_data
        reads_inputs, reads_out = self._reads
        datas, needs = [], []
        for i, t in enumerate(inputs):
            if type(t) is tuple:
                datas.append(_zeros_view(t[1], t[2]))
                needs.append(t[3])
                continue
            data = t._data
            if type(data) is not np.ndarray:
                return None
            if reads_inputs[i] and t._version_counter.value != versions[i]:
                raise _modified_error(t, self, i, versions[i])
            datas.append(data)
            needs.append(t.requires_grad)
        if out_data is None:
            out_data = _zeros_view(self._out_shape, self._out_dtype)
        elif type(out_data) is not np.ndarray:
            return None
        if reads_out and self._out_counter.value != self._out_version:
            raise _output_modified_error(self, self._out_counter, self._out_version)
        return datas, needs, out_data

    def apply(self, grad, create_graph: bool) -> tuple:
        inputs, out = self.saved_values(attach=create_graph)
        grads = self.prim.vjp(grad, out, *inputs, **self.params)
        if len(grads) != len(inputs):
            raise RuntimeError(f"internal error: VJP of {self.prim.name} returned {len(grads)} grads "
                               f"for {len(inputs)} inputs")
        # The engine's chore, done here once for every rule: a cotangent in the broadcast shape of
        # the output is summed back to its input's shape (so no VJP rule unbroadcasts).
        return tuple([gi if gi is None or gi.shape == t.shape else gi.sum_to_size(t.shape)
                      for gi, t in zip(grads, inputs)])

    def apply_host(self, grad) -> tuple:
        """apply(grad, create_graph=False) for the engine's common case (no graph built, no profiler):
        a cotangent on the host in the broadcast shape of the output is summed back to its input's
        shape by NumPy directly, the same np.sum and reshape that sum_to_size would dispatch."""
        inputs, out = self.saved_values(attach=False)
        grads = self.prim.vjp(grad, out, *inputs, **self.params)
        if len(grads) != len(inputs):
            raise RuntimeError(f"internal error: VJP of {self.prim.name} returned {len(grads)} grads "
                               f"for {len(inputs)} inputs")
        result = []
        for gi, t in zip(grads, inputs):
            if gi is not None:
                shape = t.shape
                if gi.shape != shape:
                    gi = _host_sum_to(gi, shape)
            result.append(gi)
        return tuple(result)

    def zero_grads(self, zero) -> tuple:
        """Input cotangents for a zero output cotangent: a zero for each input with an edge."""
        inputs = self._inputs
        if inputs is None:
            raise RuntimeError(FREED_MESSAGE)
        return tuple([None if node is None else Zero.of(_stand_in(t) if type(t) is tuple else t)
                      for node, t in zip(self._next, inputs)])

    def release(self) -> None:
        reads_inputs, reads_out = self._reads
        if reads_out or True in reads_inputs:
            self._inputs = self._out_data = self._out_counter = None


def _host_sum_to(g, shape: tuple):
    """g summed over the dims that broadcasting to g's shape added or expanded, down to `shape`
    (sum_to_size on host storage, without dispatch; other storage goes through sum_to_size)."""
    data = getattr(g, "_data", None)
    if type(data) is not np.ndarray:
        return g.sum_to_size(shape)
    data = host_sum_to(data, shape)
    if data is None:
        return g.sum_to_size(shape)  # (raises sum_to_size's error)
    cls = type(g)
    return (cls._op_result or cls)._wrap(data)


def host_sum_to(data: np.ndarray, shape: tuple) -> np.ndarray | None:
    """The array `data` summed over the dims that broadcasting `shape` to its shape added or
    expanded (np.sum's reduction and a reshape), or None when `shape` does not broadcast to it."""
    key = (data.shape, shape if type(shape) is tuple else tuple(shape))
    plan = _SUM_TO_PLANS.get(key)
    if plan is None:
        if len(_SUM_TO_PLANS) >= 1024:
            _SUM_TO_PLANS.clear()
        plan = _SUM_TO_PLANS[key] = _sum_to_plan(*key)
    if plan is False:
        return None
    dims, keepdims, reshape_to = plan
    if dims:
        data = np.add.reduce(data, axis=dims, keepdims=keepdims)  # (np.sum's reduction on an ndarray)
    return data if reshape_to is None else data.reshape(reshape_to)


_SUM_TO_PLANS: dict = {}


def _sum_to_plan(have: tuple, shape: tuple):
    """(dims to sum, whether to keep them, the shape to reshape to or None) taking an array of shape
    `have` to `shape`; False when `shape` does not broadcast to `have`."""
    lead = len(have) - len(shape)
    if lead < 0 or shapes.broadcast(shape, have) != have:
        return False
    inner = tuple(i + lead for i, s in enumerate(shape) if s == 1 and have[i + lead] != 1)
    if not inner and shape:  # only leading dims go: the reduction leaves `shape` itself (an array:
        return tuple(range(lead)), False, None  # a full reduction would leave a NumPy scalar)
    kept = tuple(1 if i < lead or i in inner else n for i, n in enumerate(have))
    return tuple(range(lead)) + inner, True, (None if kept == shape else shape)


_CLASSES: list = []
_CLASS_IDS: dict = {}


def _class_id(cls) -> int:
    """A small number naming a tensor class (a tuple holding it then holds no tracked object)."""
    found = _CLASS_IDS.get(cls)
    if found is None:
        found = _CLASS_IDS[cls] = len(_CLASSES)
        _CLASSES.append(cls)
    return found


_ZERO_ITEMS: dict = {}


def _zeros_view(shape: tuple, dtype) -> np.ndarray:
    """Read-only zero-stride zeros of `shape` (no memory): the value of an operand the VJP rule
    never reads (built directly on a one-item buffer per dtype: np.broadcast_to is slow)."""
    key = (shape, dtype)
    view = _ZERO_VIEWS.get(key)
    if view is not None:
        return view
    item = _ZERO_ITEMS.get(dtype)
    if item is None:
        item = np.zeros(1, dtype=dtype)
        item.flags.writeable = False
        _ZERO_ITEMS[dtype] = item
    view = np.ndarray(shape, dtype=dtype, buffer=item, strides=(0,) * len(shape))
    view.flags.writeable = False
    if len(_ZERO_VIEWS) >= 1024:
        _ZERO_VIEWS.clear()
    _ZERO_VIEWS[key] = view  # (read-only and memory-free: one per shape is shared)
    return view


_ZERO_VIEWS: dict = {}


def _stand_in(meta: tuple):
    cls, shape, dtype, requires_grad = meta
    return _CLASSES[cls]._wrap(_zeros_view(shape, dtype), requires_grad=requires_grad)


def stale_saved_value(roots) -> str | None:
    """The error eager backward from `roots` (grad_fn nodes) would raise because an in-place op
    changed a value a node saved, or None. Traces run it after in-place ops: the compiled
    backward uses the values as they were, so it must refuse as eager mode does."""
    seen, stack = set(), [r for r in roots if r is not None]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, PrimNode) and node._inputs is not None:
            try:
                node.saved_values(attach=False)
            except RuntimeError as exc:
                return str(exc)
        stack.extend(n for n, _ in node.next_functions if n is not None)
    return None


def _modified_error(tensor, node: PrimNode, index: int, expected: int) -> RuntimeError:
    return RuntimeError(
        "one of the variables needed for gradient computation has been modified by an inplace "
        f"operation ({tensor._version_counter.last_op or 'an in-place op'}): input {index} of {node.name()}, a "
        f"{dtypes.name(tensor.dtype)} tensor of shape {list(tensor.shape)}, is at version "
        f"{tensor._version_counter.value}; expected version {expected} instead. Hint: avoid modifying it in "
        "place (use the out-of-place op, or .clone() before the in-place op)."
    )


def _output_modified_error(node: PrimNode, counter: VersionCounter, expected: int) -> RuntimeError:
    return RuntimeError(
        f"one of the variables needed for gradient computation has been modified by an inplace "
        f"operation ({counter.last_op or 'an in-place op'}): the output 0 of {node.name()} is at "
        f"version {counter.value}; expected version {expected} instead. Hint: avoid modifying "
        f"it in place (use the out-of-place op, or .clone() before the in-place op)."
    )
