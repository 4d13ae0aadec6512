"""Optimizer: the base of SGD/Adam/AdamW. Holds param groups (dicts of options plus 'params'),
per-parameter state, and runs each step's updates through one of three executors (fused.py)."""
from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from .. import core
from ..core import TensorBase
from ..grad_mode import enable_grad, no_grad
from ..nn.module import storage_moves, zero_grad_of
from ..tensor import Tensor
from . import fused
from .groups import ParamGroup, ParamGroups
from .state import OptimizerState

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from typing import Any


class _Required:
    """Marks a hyper-parameter that has no default (PyTorch's `required`)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _Required()


class Optimizer:
    """Base class: subclasses declare `defaults` and the three update forms used by fused.run."""

    # Names of per-parameter state tensors, in the order the kernels take them.
    state_names: tuple[str, ...] = ()
    # The update rule, written once (kernels/optim_rules.py): rendered with NumPy for the eager
    # NumPy update, as IR inside a compiled training step, and into the fused CPU and CUDA
    # kernels. None: the subclass has its own _numpy_update, no compiled step and no GPU update.
    _rule = None

    def __init__(self, params: Any, defaults: dict) -> None:
        if isinstance(params, TensorBase):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            f"but got {type(params).__name__}")
        if isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering "
                            "of tensors in sets will change between runs. Please use a list instead.")
        self.defaults = dict(defaults)
        # Bumped by whatever may change which state exists or the groups (eager steps, loading,
        # new groups, a compiled step's trace, edits of `state`): compiled steps recheck their
        # assumptions then.
        self._epoch = 0
        self.state = {}
        # Bumped by every edit of param_groups or of a group (groups.py): compiled steps re-read options then.
        self._groups_version = [0]
        self.param_groups = []
        self._cache: dict = {}
        self._fresh: set = set()  # ids of parameters whose lazy state a compiled step made and has not used yet
        self._structure_at = -1
        self._structure_cache = ()
        self._flags_at = -1
        self._structure_pair = None
        self._moves_seen = storage_moves[0]  # Module.to moves seen (fused._follow_moves)
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, param_group: dict) -> None:
        """Add a group: a dict with 'params' and any options that override the defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, got {type(param_group).__name__}")
        group = ParamGroup(self._groups_version, param_group)
        params = group.get("params")
        if isinstance(params, TensorBase):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering "
                            "of tensors in sets will change between runs. Please use a list instead.")
        else:
            params = list(params) if params is not None else []
        for p in params:
            if not isinstance(p, TensorBase):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {type(p).__name__}")
            if p.grad_fn is not None:
                raise ValueError("can't optimize a non-leaf Tensor (call .detach().requires_grad_() on it, or pass "
                                 "the leaf it was computed from)")
            if p.dtype.kind != "f":
                raise ValueError(f"can only optimize floating-point Tensors, got one of dtype {p.dtype}")
        group["params"] = params
        self._epoch = getattr(self, "_epoch", 0) + 1
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            group.setdefault(name, default)
        existing = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in params}) != len(params):
            raise ValueError("a parameter group contains the same parameter twice")
        if existing & {id(p) for p in params}:
            raise ValueError("some parameters appear in more than one parameter group")
        self._validate(group)
        self.param_groups.append(group)

    def _validate(self, group: dict) -> None:
        """Check a group's options (subclasses raise ValueError naming the bad value)."""

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all optimized parameters (to None by default)."""
        if set_to_none and core.tracing.builder is None:  # (what zero_grad_of does then, without a call per tensor)
            for group in self.param_groups:
                for p in group["params"]:
                    p._grad = None
            return
        for group in self.param_groups:
            for p in group["params"]:
                zero_grad_of(p, set_to_none)

    def step(self, closure: Callable[[], TensorBase] | None = None) -> Any:
        """One update of every parameter that has a gradient (closure re-evaluates the loss first)."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        builder = core.tracing.builder
        if builder is not None and hasattr(builder, "update"):  # inside a training step traced whole
            from .traced import trace_step
            with no_grad():
                trace_step(self, builder)
            return loss
        self._epoch += 1
        plans = self._cache if self._moves_seen == storage_moves[0] else {}
        for index, group in enumerate(self.param_groups):
            plan = plans.get(index)  # (a group's step plan runs NumPy and Numba only: no grad mode needed)
            if plan is None or not plan.run(self, group):
                with no_grad():
                    fused.step_group(self, index, group)
        return loss

    @property
    def param_groups(self) -> list[dict]:
        """The parameter groups: dicts of options plus 'params' (as PyTorch's), edits counted (groups.py)."""
        return self._param_groups

    @param_groups.setter
    def param_groups(self, value: list) -> None:
        version = self._groups_version
        self._param_groups = ParamGroups(version, [g if isinstance(g, ParamGroup) and g._version is version
                                                   else ParamGroup(version, g) for g in value])
        version[0] += 1

    def _groups_version_now(self) -> int | None:
        """The count of edits of param_groups so far; None when some group's edits are not counted
        (a plain dict put in the list directly, bypassing add_param_group): re-read it every time."""
        version = self._groups_version
        for g in self._param_groups:
            if type(g) is not ParamGroup or g._version is not version:
                return None
        return version[0]

    @property
    def state(self) -> dict:
        """Per-parameter state: {parameter: {name: tensor or counter}} (as PyTorch's)."""
        return self._state

    @state.setter
    def state(self, value: dict) -> None:
        self._state = OptimizerState(self._state_changed, value)
        self._state_changed()

    def _state_changed(self) -> None:
        self._epoch += 1

    # ----- what subclasses define ---------------------------------------------------------------

    def _init_state(self, group: dict, p: TensorBase, state: dict) -> None:
        """Create the state tensors of a parameter seen for the first time."""

    def _advance(self, group: dict, p: TensorBase, state: dict) -> tuple:
        """Count this step in `state` (creating lazy state); return what varies per parameter
        (first step, step count) as a tuple: tensors with equal tuples can share one kernel call."""
        return ()

    def _lazy_state(self, group: dict, p: TensorBase, state: dict) -> list:
        """Create the state tensors this step needs that do not exist yet; return their names."""
        return []

    def _compiled_key(self, group: dict, p: TensorBase, state: dict) -> tuple:
        """What _advance would return for the coming compiled step, without counting it."""
        return ()

    def _after_compiled_step(self, params: list) -> None:
        """Count a compiled step of `params` (what _advance counts in eager steps)."""

    def _flags(self, group: dict) -> dict:
        """The rule's static flags (which terms the update has) for a group."""
        return {}

    def _hypers(self, group: dict, key: tuple) -> dict:
        """The rule's float hyper-parameters for a group at a step key (see _advance)."""
        return {}

    def _numpy_update(self, group: dict, p: np.ndarray, g: np.ndarray, arrays: list, key: tuple) -> None:
        """The update rule rendered with NumPy, in place into p and the state arrays."""
        f = p.dtype.type
        h = {name: f(value) for name, value in self._hypers(group, key).items()}
        state = dict(zip(self.state_names, arrays, strict=True))
        new_p, new_state = self._rule(p, g, state, h, self._flags(group), np)
        p[...] = new_p
        for name, value in new_state.items():
            state[name][...] = value

    def _structure(self) -> tuple:
        """What a compiled step's trace depends on: groups, their flags, which state exists, and
        whether each group's parameters share one step key (checked before every compiled call:
        the state part is recomputed only after _epoch moved, the flags only after param_groups was
        edited, groups.py; unchanged, the very same tuple is returned, so the guard is an identity check)."""
        if self._structure_at != self._epoch:
            self._structure_cache = self._state_structure()
            self._structure_at = self._epoch
            self._structure_pair = None
        pair = self._structure_pair
        if pair is None or self._flags_at != self._groups_version[0] or self._flags_at is None:
            self._flags_at = self._groups_version_now()
            pair = self._structure_pair = (self._structure_cache, tuple(map(self._flag_values, self.param_groups)))
        return pair

    def _flag_values(self, group: dict) -> tuple:
        """The group options the rule's flags come from (cheap: read before every compiled call)."""
        return ()

    def _state_structure(self) -> tuple:
        out = []
        state = self.state
        for group in self.param_groups:
            params = group["params"]
            keys = set()
            names = []
            for p in params:
                st = state.get(p)
                if st is None:
                    names.append(None)
                    continue
                names.append(tuple((n, id(v) if isinstance(v, TensorBase) else None) for n, v in st.items()))
                keys.add(self._compiled_key(group, p, st))
            out.append((id(group), tuple(map(id, params)), tuple(names), len(keys) <= 1))
        return tuple(out)

    # ----- state dict -------------------------------------------------------------------------

    def state_dict(self) -> dict:
        """{'state': {index: {name: value}}, 'param_groups': [options + 'params': indices]} as in PyTorch."""
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state:
                    state[index[id(p)]] = {k: _export(k, v) for k, v in self.state[p].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore options and state saved by state_dict() (values are copied)."""
        saved_groups = state_dict.get("param_groups") if isinstance(state_dict, dict) else None
        if saved_groups is None or "state" not in state_dict:
            raise ValueError("optimizer state_dict must be a dict with 'state' and 'param_groups' keys")
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"loaded state dict has a different number of parameter groups ({len(saved_groups)}) "
                             f"than this optimizer ({len(self.param_groups)})")
        for saved, group in zip(saved_groups, self.param_groups, strict=True):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                                 f"optimizer's group ({len(saved['params'])} vs {len(group['params'])} params)")
        by_index = {}
        for saved, group in zip(saved_groups, self.param_groups, strict=True):
            for i, p in zip(saved["params"], group["params"], strict=True):
                by_index[i] = p
        self.state = {}
        for i, values in state_dict["state"].items():
            p = by_index.get(int(i))
            if p is None:
                raise ValueError(f"state for parameter index {i} has no parameter in the param groups")
            self.state[p] = {k: self._import_state(k, v, p) for k, v in values.items()}
        for saved, group in zip(saved_groups, self.param_groups, strict=True):
            for k, v in saved.items():
                if k != "params":
                    group[k] = copy.deepcopy(v)
        self._cache.clear()
        self._fresh.clear()
        self._epoch += 1

    def _import_state(self, name: str, value, p: TensorBase):
        """A loaded state value of parameter p (per-parameter tensors: p's shape, dtype and device)."""
        return _import(name, value, p)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {k}: {group[k]}" for k in sorted(group) if k != "params")
        return "\n".join(lines + [")"])


def _zeros_like(p: TensorBase) -> Tensor:
    """A state tensor of zeros with p's shape and dtype, on p's device."""
    return Tensor._wrap(core.full_like_data(p._data, p.shape, p.dtype, 0))


def lerp_(start: np.ndarray, end: np.ndarray, weight: float) -> None:
    """start += weight*(end-start) in place, evaluated as PyTorch's lerp does (from the nearer end)."""
    if weight < 0.5:
        start += weight * (end - start)
    else:
        start[...] = end - (end - start) * (1 - weight)


def _export(name: str, value):
    """State values as saved: tensors detached (sharing storage), the step count as a float tensor."""
    if name == "step":
        return Tensor._wrap(np.asarray(float(value), dtype=np.float32))
    return value.detach() if isinstance(value, TensorBase) else value


def _import(name: str, value, p: TensorBase):
    """A loaded state value: the step as an int, tensors copied into the parameter's dtype and
    onto its device."""
    if name == "step":
        return int(value.item() if isinstance(value, TensorBase) else value)
    if isinstance(value, TensorBase) or isinstance(value, np.ndarray):
        array = value.detach()._data if isinstance(value, TensorBase) else value
        if tuple(array.shape) != tuple(p.shape):
            raise ValueError(f"state '{name}' has shape {list(array.shape)} but its parameter has shape "
                             f"{list(p.shape)}")
        state = Tensor._wrap(np.array(core.host_array(array), dtype=p.dtype, copy=True))
        # On the parameter's device, as PyTorch's load_state_dict does.
        return state if core.on_host(p._data) else state.to(p.device)
    return copy.deepcopy(value)

