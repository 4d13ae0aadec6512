"""Replays of the declared VJP rules on bare host arrays, for the eager engine's no-graph backward.

The first time a signature (primitive, params, cotangent and input shapes and dtypes, which inputs
need grad) is seen, the primitive's own VJP rule runs once on stand-in values that record every
primitive it binds; later passes replay that recording by calling each primitive's NumPy ``impl`` on
the saved arrays. Same impls, same operands, same order as the rule on tensors, so the cotangents are
bit-identical, without tensors, dispatch or shape rules per step. Once a replay has run checked for a
node signature (core.Reads), it is compiled into straight-line Python kept with that signature, which
later nodes of the signature call directly. No gradient formula is written here:
a rule that cannot be recorded exactly (it reads data, returns a constant or a zero, is user code)
is marked and the engine runs it on tensors.
"""
from __future__ import annotations

import numpy as np

from . import dtypes
from .autograd_graph import (
    FREED_MESSAGE,
    PrimNode,
    _modified_error,
    _output_modified_error,
    _sum_to_plan,
    _zeros_view,
    host_sum_to,
)
from .core import Reads, Symbolic, TensorBase, default_tensor_type, tracing
from .grad_mode import _state as _grad_state
from .shapes import numel

_ndarray = np.ndarray
_UNRECORDABLE = False  # the cache's mark for a signature whose rule runs on tensors
_cache: dict = {}
_CACHE_LIMIT = 4096


_OTHER = object()  # a compiled replay's answer for a node it was not made for (see _compile)


class _UnrecordableError(Exception):
    """The rule did something a recording cannot repeat exactly."""


class _Slot(Symbolic):
    """A stand-in value while a rule is recorded: the `index` of its value in the recording."""

    __slots__ = ("shape", "dtype", "builder", "index")

    def __init__(self, shape: tuple, dtype: np.dtype, builder: _Recorder, index: int) -> None:
        self.shape, self.dtype, self.builder, self.index = tuple(shape), dtype, builder, index


class _Recorder:
    """The `builder` of slot values (see ir.Builder): each bound primitive becomes a step that reads
    slots and constants (host arrays the rule made from shapes or Python numbers)."""

    blocked = None  # (no no_grad tracking, no captured tensors)

    def __init__(self, operands: int) -> None:
        self.count = operands  # slots 0..operands-1: g, out, the inputs
        self.constants: list = []  # (slot, array)
        self.steps: list = []  # (prim, slots read, params, NumPy dtype, shape, slot written)

    def outside(self, tensor) -> bool:
        return False

    def capture(self, tensor) -> _Slot:
        raise _UnrecordableError("a tensor from outside the rule")

    def value_error(self, what: str) -> Exception:
        return _UnrecordableError(what)

    def emit(self, prim, datas, params, shape, dtype) -> _Slot:
        reads = []
        for d in datas:
            if type(d) is _Slot and d.builder is self:
                reads.append(d.index)
            elif type(d) is _ndarray:
                self.constants.append((self.count, d))
                reads.append(self.count)
                self.count += 1
            else:
                raise _UnrecordableError(f"{prim.name} read a value that is not a recorded one")
        np_dtype = dtype.dtype if type(dtype) is dtypes.DType else np.dtype(dtype)
        out = _Slot(shape, np_dtype, self, self.count)
        self.steps.append((prim, tuple(reads), params, np_dtype, tuple(shape), self.count))
        self.count += 1
        return out


def _record(prim, params: dict, g: np.ndarray, out: np.ndarray, datas: list, needs: list):
    """(constants, steps, result slots) of `prim`'s VJP rule for these operands' shapes and dtypes,
    or _UNRECORDABLE."""
    n = len(datas)
    recorder = _Recorder(n + 2)
    cls = default_tensor_type[0]
    g_t = cls._wrap(_Slot(g.shape, g.dtype, recorder, 0))
    out_t = cls._wrap(_Slot(out.shape, out.dtype, recorder, 1))
    inputs = [cls._wrap(_Slot(d.shape, d.dtype, recorder, i + 2), requires_grad=need)
              for i, (d, need) in enumerate(zip(datas, needs))]
    enabled = _grad_state.enabled
    _grad_state.enabled = False
    try:
        grads = prim.vjp(g_t, out_t, *inputs, **params)
    except Exception:  # noqa: BLE001 - data-dependent or not traceable: the tensor rule runs instead
        return _UNRECORDABLE
    finally:
        _grad_state.enabled = enabled
    if len(grads) != n:
        return _UNRECORDABLE  # (the tensor rule raises the internal error)
    results = []
    for gi, need in zip(grads, needs):
        if gi is None or not need:
            results.append(None)
        elif isinstance(gi, TensorBase) and type(gi._data) is _Slot and gi._data.builder is recorder:
            results.append(gi._data.index)
        else:
            return _UNRECORDABLE  # a constant or a symbolic Zero: the engine's tensor path handles those
    # Slots renumbered so that a replay's list of values is g, out, inputs, constants, step results.
    order = {i: i for i in range(n + 2)}
    for slot, _ in recorder.constants:
        order[slot] = len(order)
    for step in recorder.steps:
        order[step[5]] = len(order)
    constants = tuple([c for _, c in recorder.constants])
    steps = tuple([(prim_.impl, tuple([order[r] for r in reads]), params_ or None, np_dtype, shape)
                   for prim_, reads, params_, np_dtype, shape, _ in recorder.steps])
    return constants, steps, tuple([None if r is None else order[r] for r in results])


def arrays(node: PrimNode, g: np.ndarray) -> list | None:
    """The input cotangents of `node` for the host cotangent array `g` (None where no gradient flows),
    each summed back to its input's shape, by a replay of the node's recorded VJP rule; None when the
    rule cannot be replayed (the engine then runs it on tensors).

    Example:
        >>> x = jg.tensor([0.0, 1.0], requires_grad=True)
        >>> [gx.round(2) for gx in arrays(jg.tanh(x).grad_fn, np.ones(2, np.float32))]
        [array([1.  , 0.42], dtype=float32)]
    """
    prim = node.prim
    if not prim.probe_vjp or tracing.builder is not None:
        return None  # (user code runs every time; inside a trace the tensor rule may capture)
    dt = g.dtype
    if dt.kind != "f":
        return None
    signature = node._reads
    compiled = type(signature) is Reads and g.shape == node._out_shape \
        and (dt is node._out_dtype or dt == node._out_dtype)
    if compiled:  # (the node's signature fixes every shape: a replay compiled for it?)
        runner = signature.runner
        if runner is not None and runner[0] is prim.vjp:
            got = runner[1](node, g)
            if got is not _OTHER:
                return got
    saved = node.saved_host()
    if saved is None:
        return None
    datas, needs, out = saved
    # (an input that needs a gradient is floating: only those can require grad)
    key = [prim, prim.vjp, g.shape, dt, *needs]  # (the rule itself: a re-declared rule records afresh)
    for d in datas:
        key.append(d.shape)
        key.append(d.dtype)
    params = node.params
    if params:
        key.append(tuple(params.items()))
    key = tuple(key)
    try:
        recording = _cache.get(key)
    except TypeError:  # unhashable params: the tensor rule
        return None
    if recording is None:
        recording = _record(prim, params, g, out, datas, needs)
        if len(_cache) >= _CACHE_LIMIT:
            _cache.clear()
        _cache[key] = recording
    if recording is _UNRECORDABLE:
        return None
    constants, steps, results = recording
    # The replay: each recorded step's impl on the arrays it read, cast and checked as core._host_impl does.
    values = [g, out, *datas, *constants]
    for impl, reads, step_params, np_dtype, shape in steps:
        data = impl(*map(values.__getitem__, reads)) if step_params is None \
            else impl(*map(values.__getitem__, reads), **step_params)
        if type(data) is not _ndarray or data.dtype is not np_dtype:
            data = np.asarray(data, dtype=np_dtype)
        if data.shape != shape:
            raise AssertionError(f"internal error: {impl} made shape {data.shape}, its rule says {shape}")
        values.append(data)
    grads = []
    for r, d in zip(results, datas):
        if r is None:
            grads.append(None)
            continue
        gi = values[r]
        if gi.shape != d.shape:
            gi = host_sum_to(gi, d.shape)
            if gi is None:
                return None
        grads.append(gi)
    runner = signature.runner if compiled else None
    if compiled and (runner is None or runner[0] is not prim.vjp):
        # Checked once by the loop above: later passes run it as straight-line code. (One per signature:
        # the first needs pattern's; another, rare, runs the loop above without compiling again.)
        signature.runner = (prim.vjp, _compile(signature, recording, needs, g, out, datas))
    return grads


#: Steps with outputs of at least this many bytes run through _large_ufunc_step (NumPy elides
#: temporaries from the same size on); below, its checks would cost more than they save.
LARGE_STEP_BYTES = 1 << 18
#: Ufuncs whose value on one element is the value on every copy of it, bit for bit (SIMD and
#: scalar loops round alike): run once when every operand repeats one value.
_EXACT_ON_SCALARS = frozenset([np.add, np.subtract, np.multiply, np.true_divide, np.negative])


def _large_ufunc_steps(steps: tuple) -> set:
    """Indices of the recorded steps that call a plain ufunc, without params, on a large output."""
    return {j for j, (impl, _, params, np_dtype, shape) in enumerate(steps)
            if getattr(impl, "ufunc", None) is not None and params is None
            and numel(shape) * np_dtype.itemsize >= LARGE_STEP_BYTES}


def _large_ufunc_step(ufunc, operands: tuple, out, dtype: np.dtype, shape: tuple):
    """One large ufunc step of a replay without a fresh buffer where none is needed: when every
    operand repeats one value (the cotangent of a sum, broadcast, times a constant) the ufunc runs
    once and its value is broadcast, read-only; else, given `out` (a temporary of the replay that
    nothing reads after this step, see _reusable_operands), the ufunc writes into it. None: neither
    applies, the caller runs the step's impl. Values are those of the impl's out-of-place call;
    floating-point warnings are silenced as `quiet` silences them."""
    if ufunc in _EXACT_ON_SCALARS and all(not any(o.strides) and o.dtype == dtype for o in operands):
        with np.errstate(all="ignore"):
            value = ufunc(*[o[(0,) * o.ndim] for o in operands])
        return np.broadcast_to(np.asarray(value, dtype=dtype), shape)
    if out is not None and out.flags.writeable:  # (a broadcast value above is read-only)
        with np.errstate(all="ignore"):
            return ufunc(*operands, out=out)
    return None


def _reusable_operands(steps: tuple, results: tuple, operand_dtypes: list, large: set) -> dict:
    """{step index: slot} for the `large` ufunc steps (see _large_ufunc_steps) that can write their
    result into one of their operands: those whose operands all have its dtype, reading the result of an earlier
    ufunc step (a fresh array, or one such step's buffer already reused: no view of anything the
    rule was given) of its own shape that no later step reads and that is not a cotangent. The
    values are those out-of-place calls give (same ufunc loop, same dtype); NumPy's floating-point
    warnings are silenced around it, as `quiet` does after the fact."""
    first = len(operand_dtypes)
    dtypes_, shapes, fresh = dict(enumerate(operand_dtypes)), {}, set()
    for j, (impl, _, _, np_dtype, shape) in enumerate(steps):
        dtypes_[first + j], shapes[first + j] = np_dtype, shape
        if getattr(impl, "ufunc", None) is not None:
            fresh.add(first + j)
    last_read: dict = {}
    for j, (_, reads, _, _, _) in enumerate(steps):
        for r in reads:
            last_read[r] = j
    kept = set(results)
    reuse = {}
    for j in sorted(large):
        _, reads, _, np_dtype, shape = steps[j]
        if any(dtypes_[r] != np_dtype for r in reads):
            continue
        for r in reads:
            if r in fresh and r not in kept and last_read[r] == j and shapes[r] == shape:
                reuse[j] = r
                break
    return reuse


def _compile(signature: Reads, recording: tuple, needs: list, g: np.ndarray, out: np.ndarray, datas: list):
    """The replay of `recording` for a node of `signature` whose inputs need gradients as `needs`, as
    one generated function of (node, g): it reads the node's saved values as saved_host does (the
    same freed-graph and in-place errors), calls each step's impl on its slots by name, casts where
    an impl returned another type, and sums each cotangent to its input's shape by a fixed plan.
    It returns _OTHER where the node differs from the one it was made for (another needs pattern, a
    value not on the host): the caller's general path; None where a saved input's storage was
    replaced by one of another shape or dtype: the engine's tensor path."""
    constants, steps, results = recording
    n = len(datas)
    reads_inputs, reads_out = signature
    shapes = [g.shape, out.shape, *[d.shape for d in datas], *[c.shape for c in constants]]
    names = {"_nd": _ndarray, "_asarray": np.asarray, "_reduce": np.add.reduce, "_OTHER": _OTHER,
             "_large_ufunc_step": _large_ufunc_step,
             "_freed": FREED_MESSAGE, "_modified": _modified_error, "_output_modified": _output_modified_error}
    names.update({f"v{k}": c for k, c in enumerate(constants, start=n + 2)})
    used = {r for _, reads, _, _, _ in steps for r in reads} | {r for r in results if r is not None}
    lines = ["def replay(node, v0):", "    inputs = node._inputs", "    if inputs is None:",
             "        raise RuntimeError(_freed)"]
    if True in reads_inputs:
        lines.append("    versions = node._versions")
    for i, d in enumerate(datas):
        k = i + 2
        names[f"need{i}"] = needs[i]
        if not reads_inputs[i]:  # (kept as metadata: its requires-grad flag at the forward)
            lines += [f"    t{i} = inputs[{i}]", f"    if type(t{i}) is not tuple or t{i}[3] is not need{i}:",
                      "        return _OTHER"]
            if k in used:  # (a rule naming a value it does not read sees zeros, as in saved_host)
                names[f"v{k}"] = _zeros_view(d.shape, d.dtype)
            continue
        names.update({f"shape{k}": d.shape, f"dtype{k}": d.dtype})
        lines += [f"    t{i} = inputs[{i}]",
                  f"    if type(t{i}) is tuple:",
                  "        return _OTHER",
                  f"    v{k} = t{i}._data",
                  f"    if type(v{k}) is not _nd:",
                  "        return _OTHER",
                  f"    if t{i}._version_counter.value != versions[{i}]:",
                  f"        raise _modified(t{i}, node, {i}, versions[{i}])",
                  f"    if (t{i}._requires_grad if t{i}._base is None else t{i}.requires_grad) is not need{i}:",
                  "        return _OTHER",
                  f"    if v{k}.shape != shape{k} or v{k}.dtype is not dtype{k} and v{k}.dtype != dtype{k}:",
                  "        return None"]
    if reads_out:
        lines += ["    v1 = node._out_data", "    if type(v1) is not _nd:", "        return _OTHER",
                  "    if node._out_counter.value != node._out_version:",
                  "        raise _output_modified(node, node._out_counter, node._out_version)"]
    elif 1 in used:
        names["v1"] = _zeros_view(out.shape, out.dtype)
    k = n + 2 + len(constants)
    large = _large_ufunc_steps(steps)
    reuse = _reusable_operands(steps, results, [g.dtype, out.dtype, *[d.dtype for d in datas],
                                                 *[c.dtype for c in constants]], large)
    for j, (impl, reads, step_params, np_dtype, shape) in enumerate(steps):
        names.update({f"impl{j}": impl, f"params{j}": step_params, f"dtype{k}": np_dtype})
        operands = ", ".join(f"v{r}" for r in reads) + (f", **params{j}" if step_params is not None else "")
        indent = "    "
        if j in large:  # (see _large_ufunc_step; None: the impl as below)
            names.update({f"ufunc{j}": impl.ufunc, f"shape{k}": shape})
            out_slot = f"v{reuse[j]}" if j in reuse else "None"
            lines += [f"    v{k} = _large_ufunc_step(ufunc{j}, ({operands},), {out_slot}, dtype{k}, shape{k})",
                      f"    if v{k} is None:"]
            indent = "        "
        lines += [f"{indent}v{k} = impl{j}({operands})",
                  f"{indent}if type(v{k}) is not _nd or v{k}.dtype is not dtype{k}:",
                  f"{indent}    v{k} = _asarray(v{k}, dtype=dtype{k})"]
        shapes.append(shape)
        k += 1
    grads = []
    for r, d in zip(results, datas):
        if r is None:
            grads.append("None")
            continue
        value = f"v{r}"
        if shapes[r] != d.shape:
            dims, keepdims, reshape_to = _sum_to_plan(shapes[r], d.shape)  # (the loop above found one)
            if dims:
                value = f"_reduce({value}, axis={dims!r}, keepdims={keepdims})"
            if reshape_to is not None:
                value = f"{value}.reshape({reshape_to!r})"
        grads.append(value)
    lines.append(f"    return [{', '.join(grads)}]")
    exec(compile("\n".join(lines) + "\n", "<jitgrad vjp replay>", "exec"), names)  # (generated here)
    return names["replay"]


def apply(node: PrimNode, grad) -> tuple:
    """node.apply_host(grad) (the input cotangents as tensors, each summed back to its input's shape),
    by a replay of the node's VJP rule where `arrays` can run one.

    Example:
        >>> x = jg.tensor([0.0, 1.0], requires_grad=True)
        >>> apply(jg.tanh(x).grad_fn, jg.ones(2))
        (tensor([1.0000, 0.4200]),)
    """
    g = grad._data
    got = arrays(node, g) if type(g) is _ndarray else None
    if got is None:
        return node.apply_host(grad)
    cls = type(grad)
    cls = cls._op_result or cls
    # (a rule passing the cotangent itself on passes the same tensor, as the tensor rule returns `g`)
    return tuple([None if gi is None else grad if gi is g else cls._wrap(gi) for gi in got])
