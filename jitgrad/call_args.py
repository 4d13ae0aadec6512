"""The arguments and results of a compiled call: signature keys, input arrays, the NumPy-only
fast path, and outputs wrapped back into Tensors (sharing version counters with inputs they alias)."""
from __future__ import annotations

import numpy as np

from . import call_cache, core, devices, dtypes
from .core import Symbolic, TensorBase
from .executable import Executable, in_place_aliased
from .lean_guards import LeanCallStaleError as _LeanCallStaleError
from .lean_guards import checks_of, make_guard
from .tensor import Tensor
from .tree import flatten_args, make_rebuilder, unflatten


def _array_of(leaf) -> np.ndarray:
    data = leaf._data if isinstance(leaf, TensorBase) else leaf
    if not isinstance(data, np.ndarray) and devices.backend_of(data) is not None:
        return data  # GPU storage is C-contiguous by construction
    if not isinstance(data, np.ndarray):
        data = np.asarray(data)
    if data.dtype.char not in _NATIVE and data.dtype.char != "e":  # uint16, ...: stored as eager mode does (int64)
        data = data.astype(dtypes.from_numpy_dtype(data.dtype))
    if not data.flags.c_contiguous:
        data = np.ascontiguousarray(data)
    return data


def _leaf_key(leaf) -> tuple:
    if isinstance(leaf, TensorBase):
        data = leaf._data
        if type(data) is np.ndarray or isinstance(data, Symbolic):
            return (data.shape, data.dtype.char, leaf._requires_grad)
        return (tuple(data.shape), np.dtype(data.dtype).char, leaf._requires_grad, _device_type(data))
    arr = np.asarray(leaf)
    dt = dtypes.from_numpy_dtype(arr.dtype)
    return (arr.shape, dt.char, False)


def _device_type(data) -> str:
    """The device type ('cuda', ...) of a back end's storage."""
    return devices.backend_of(data).device_of(data).type


def _prepare(args: tuple, kwargs: dict, static_argnums: tuple):
    """(signature key, leaves, any Tensor among them) for a call."""
    if not kwargs and not static_argnums:
        simple = True
        for a in args:
            if not isinstance(a, (TensorBase, np.ndarray)):
                simple = False
                break
        if simple:
            key = tuple(_leaf_key(a) for a in args)
            return key, list(args), any(isinstance(a, TensorBase) for a in args)
    static_set = {i % len(args) for i in static_argnums} if args else set()
    leaves, tree = flatten_args(args, kwargs, static_set, call_cache.keyed_static)
    key = (call_cache.exact_tree(tree), tuple(_leaf_key(x) for x in leaves))
    return key, leaves, any(isinstance(x, TensorBase) for x in leaves)


def _describe(leaves) -> str:
    return ", ".join(f"{dtypes.name(np.dtype(k[1]))}{list(k[0])}" for k in map(_leaf_key, leaves))


def _fast_key(args: tuple):
    """The signature of a call with NumPy arrays only (None otherwise): the hot path's key."""
    key = []
    for a in args:
        if type(a) is not np.ndarray:
            return None
        key.append((a.shape, a.dtype.char))
    return tuple(key)


def _fast_path(exe: Executable, out_tree, owner):
    """A call of the compiled entry point with no more Python around it than the dictionary
    lookup that found it (NumPy arrays in and out; anything unusual takes the full path)."""
    if not exe.single_program or exe.run != exe._compiled_run or exe.widens_float16:
        return None
    fn, consts, index, buffers = exe._fn, tuple(exe._consts), exe._arg_index, exe._prealloc
    if exe._pool.active:  # large outputs: reused when free (a few us; small calls keep np.empty)
        take = exe._pool.take
        identity = index == list(range(len(index)))
        rebuild = make_rebuilder(out_tree)

        def call_pooled(args):
            for a in args:
                if not a.flags.c_contiguous or a.dtype.char not in _NATIVE:
                    return owner._slow(args)
            extra = (*consts, *take())
            return rebuild(fn(*args, *extra) if identity else fn(*[args[i] for i in index], *extra))
        return call_pooled
    identity = index == list(range(len(index)))
    rebuild = make_rebuilder(out_tree)
    state = core.python_state()

    def call(args):
        if core.python_state() != state:  # e.g. a new default dtype: the full path retraces
            owner._fast.clear()
            return owner(*args)
        for a in args:
            if not a.flags.c_contiguous or a.dtype.char not in _NATIVE:
                return owner._slow(args)
        extra = (*consts, *[np.empty(shape, dtype) for shape, dtype in buffers]) if buffers else consts
        return rebuild(fn(*args, *extra) if identity else fn(*[args[i] for i in index], *extra))
    return call


_NATIVE = {"f", "d", "i", "l", "?", "b", "h", "B"}  # (float16 'e' is converted by the Executable)


def _numpy_or_tensor(arrays, out_tree, as_tensor: bool, leaves=()):
    outs = []
    for a in arrays:
        a = _host_or_gpu(a)
        outs.append(_wrap_output(a, leaves) if as_tensor else a)
    return unflatten(out_tree, outs)


def _wrap_output(array, leaves) -> Tensor:
    """An output as a Tensor; one that IS an input's storage (`lambda t: t`, a reshape of it)
    shares that input's version counter, as the view it is in eager mode, so that in-place ops
    on either are seen by the autograd checks."""
    for x in leaves:
        if isinstance(x, TensorBase) and type(x._data) is np.ndarray and type(array) is np.ndarray \
                and np.may_share_memory(array, x._data):
            return Tensor._wrap(array, version=x._version_counter)
    return Tensor._wrap(array)


def _host_or_gpu(a):
    """Program outputs as NumPy arrays (scalars made 0-d), GPU storage as it is."""
    if type(a) is np.ndarray:
        return a
    if not isinstance(a, (np.generic, int, float, bool)) and devices.backend_of(a) is not None:
        return a
    return np.asarray(a)


def _symbolic(leaves) -> bool:
    """Called while another function is being traced: run inline (nesting, jit inside jit)."""
    for x in leaves:
        if isinstance(x, TensorBase) and isinstance(x._data, Symbolic):
            return True
    return False


def _device_of(leaves, captured) -> str:
    """'cuda' when the arrays of a call live on the GPU, 'cpu' when on the host; mixing is an error."""
    found = set()
    for x in list(leaves) + list(captured):
        data = x._data if isinstance(x, TensorBase) else x
        if data is None:
            continue
        if isinstance(data, np.ndarray) and data.ndim == 0:
            continue  # 0-d host values go with either device, as in eager mode
        if isinstance(data, np.ndarray) and data.dtype.kind in "biu" and any(x is c for c in captured):
            continue  # a captured host index tensor indexes GPU data too, as in eager mode (PyTorch allows it)
        found.add("cpu" if isinstance(data, (np.ndarray, np.generic, int, float, bool)) else _device_type(data))
    if len(found) > 1:
        raise RuntimeError("Expected all tensors to be on the same device, but found at least two devices, cuda:0 "
                           "and cpu! (arguments of a compiled function, or parameters it uses); move them with "
                           ".to(...) first")
    return found.pop() if found else "cpu"


def entry_point(fn, program_args: list):
    """The compiled overload of Numba function `fn` for these arguments, called without Numba's
    type dispatch (`fn` itself where there is none: not a Numba dispatcher, or not compiled for them)."""
    try:
        return fn.overloads[tuple(fn.typeof_pyval(a) for a in program_args)].entry_point
    except (AttributeError, KeyError, TypeError):
        return fn


class GuardedCall:
    """What a lean call path checks on every call: the same argument objects, each with the same
    storage and ``requires_grad`` (part of the signature; ``grad()`` runs eagerly on tensors that
    require grad), the same for the tensors the function captured, and the same Python state
    (default dtype, grad mode...): `guard(args)`, generated for the snapshot (lean_guards.py).
    Shared by `LeanCall` and `lean_grad.LeanGradCall`."""

    __slots__ = ("args", "datas", "arg_grads", "captured", "captured_datas", "captured_grad", "state", "guard")

    def _snapshot(self, entry, args: tuple) -> None:
        self.args = args
        self.datas = [a._data if isinstance(a, TensorBase) else a for a in args]
        self.arg_grads = [a._requires_grad if isinstance(a, TensorBase) else False for a in args]
        self.captured = list(entry.captured)
        self.captured_datas = [t._data for t in self.captured]
        self.captured_grad = [t._requires_grad for t in self.captured]
        self.state = core.python_state()
        if any(type(a) is not np.ndarray and not isinstance(a, TensorBase) for a in args):
            raise _LeanCallStaleError  # (the full path converts such arguments)
        self.guard = make_guard(args, checks_of(args, self.captured), self.state)


class LeanCall(GuardedCall):
    """The call path of a compiled function called again with the same argument objects (the
    training-step loop): the guards that matter, the input arrays gathered without conversion,
    the compiled overload's own entry point (no type dispatch), write-backs and `.grad` slots.
    Anything unusual -- another argument, a replaced storage, changed Python state -- raises
    _LeanCallStaleError and the full path runs (and rebuilds this). A whole training step (`step`
    set) is called through `lean_step.LeanStep`, made from this."""

    __slots__ = ("entry_guards", "draws", "call", "consts", "prealloc", "index", "n_results", "writes", "effects",
                 "aliases", "rebuild", "as_tensor", "template", "draw_slots", "buffer_slots", "slots",
                 "step", "single_leaf")

    def __init__(self, entry, exe: Executable, args: tuple, as_tensor: bool) -> None:
        self._snapshot(entry, args)
        self.effects = entry.effects
        self.draws = list(entry.random_inputs)
        self.index, self.consts, self.prealloc = exe._arg_index, tuple(exe._consts), exe._prealloc
        arrays = self.arrays()
        program_args = [arrays[i] for i in self.index] + list(self.consts) + \
            [np.empty(shape, dtype) for shape, dtype in self.prealloc]
        # The program's arguments with the fixed ones in place; draws (and buffers) filled per call.
        n_fixed = len(self.datas) + len(self.captured_datas)
        self.template = program_args
        # Drawn in the order the trace made them, as the full path does: a later draw may reuse what the
        # first computed (an optimizer's hyper-parameters, optim/traced.py), whatever the program's argument order.
        self.draw_slots = [(k, self.draws[i - n_fixed]) for i, k in sorted(
            (i, k) for k, i in enumerate(self.index) if i >= n_fixed)]
        self.buffer_slots = [(len(self.index) + len(self.consts) + k, shape, dtype)
                             for k, (shape, dtype) in enumerate(self.prealloc)]
        self.call = entry_point(exe._fn, program_args)
        self.n_results = entry.n_results
        self.writes = []
        leaves = list(args)
        for target, bumps in entry.writebacks:
            t = leaves[target] if isinstance(target, int) else target
            data = t._data if isinstance(t, TensorBase) else t
            if type(data) is not np.ndarray:
                raise _LeanCallStaleError
            self.writes.append((data, t._version_counter if isinstance(t, TensorBase) else None, bumps))
        self.rebuild = make_rebuilder(entry.out_tree)
        self.single_leaf = entry.out_tree == ("leaf",)  # (rebuild returns its one output)
        self.as_tensor = as_tensor
        self.slots = self.step = None  # outputs the program writes in place or into buffers (lower_inplace)
        if exe._out_slots:
            if in_place_aliased(arrays, exe.in_place_outputs):
                raise _LeanCallStaleError  # (the full path runs the program without in-place writes)
            base = len(self.index) + len(self.consts)
            self.slots = ([(j, arrays[i], None) if kind == "input" else (j, None, base + i)
                           for j, (kind, i) in exe._out_slots.items()], exe._returned,
                          len(exe._returned) + len(exe._out_slots))
            n = self.n_results
            if not exe._returned and as_tensor and self.effects is not None and all(
                    exe._out_slots[j][0] == "input" for j in range(n, n + len(entry.writebacks))):
                self.step = self._step_plan(exe._out_slots, len(entry.writebacks))
        self.aliases = None  # per output: the leaf whose storage it may share (found on the first call)

    def arrays(self) -> list:
        arrays = list(self.datas)
        arrays += self.captured_datas
        for draw in self.draws:
            arrays.append(draw())
        return arrays

    def _step_plan(self, out_slots: dict, n_writes: int) -> tuple:
        """What `lean_step.LeanStep` needs: every write-back is in place and every other output in a fresh buffer, so
        no output is returned, compared or copied (a whole training step, lower_inplace.py). The guard's
        storage checks come flattened into one list: (tensor, its storage, its requires_grad)."""
        n = self.n_results
        bumped = [counter for _, counter, bumps in self.writes if counter is not None for _ in range(bumps)]
        first = len(self.index) + len(self.consts)
        results = [first + out_slots[j][1] for j in range(n)]
        grads = [first + out_slots[j][1] for j in range(n + n_writes, len(out_slots))]
        checks = [(a, d, rg) for a, d, rg in zip(self.args, self.datas, self.arg_grads, strict=True)
                  if type(a) is not np.ndarray]
        checks += zip(self.captured, self.captured_datas, self.captured_grad, strict=True)
        effects = self.effects
        grad_slots = [(slot.tensor, slot.value) for slot in effects.slots]
        return (bumped, results, grads, checks, effects.new_grads, grad_slots, effects.after_call,
                self.draw_slots, self.buffer_slots)

    def _all_outputs(self, outs, program_args: list) -> list:
        """Every output of the graph: those the program returned, and those it wrote in place or
        into the buffers it was passed."""
        slots, returned, n = self.slots
        full = [None] * n
        for j, array, k in slots:
            full[j] = array if k is None else program_args[k]
        if returned:  # (a program that returns nothing returns 0)
            for j, value in zip(returned, outs):
                full[j] = value
        return full

    def __call__(self, args: tuple):
        self.guard(args)
        if self.effects is not None:
            if not self.effects.current():
                raise _LeanCallStaleError
            self.effects.release_grads()
        program_args = self.template
        if self.draw_slots or self.buffer_slots:
            program_args = program_args.copy()
            for k, draw in self.draw_slots:
                program_args[k] = draw()
            for k, shape, dtype in self.buffer_slots:
                program_args[k] = np.empty(shape, dtype)
        outs = self.call(*program_args)
        if self.slots is not None:
            outs = self._all_outputs(outs, program_args)
        n = self.n_results
        k = n
        for data, counter, bumps in self.writes:
            if outs[k] is not data:
                np.copyto(data, outs[k])
            k += 1
            if counter is not None:
                for _ in range(bumps):
                    counter.bump("an in-place op inside a compiled function")
        if self.effects is not None:
            self.effects.apply(outs[k:], program_args)
        results = []
        for i in range(n):
            a = outs[i]
            results.append(a if type(a) is np.ndarray else _host_or_gpu(a))
        if self.as_tensor:
            mine = self.args
            aliases = self.aliases
            if aliases is None:
                aliases = self.aliases = [any(isinstance(x, TensorBase) and type(x._data) is np.ndarray
                                              and np.may_share_memory(a, x._data) for x in mine) for a in results]
            wrap = Tensor._wrap
            for i in range(n):
                results[i] = _wrap_output(results[i], mine) if aliases[i] else wrap(results[i])
        return self.rebuild(results)
