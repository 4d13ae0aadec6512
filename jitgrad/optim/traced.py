"""optimizer.step() inside a training step traced whole by jitgrad.jit: the optimizer's update
rule (kernels/optim_rules.py) emitted as IR, writing parameters and state back in place.

Hyper-parameters are runtime inputs computed from `param_groups` before every call (a new
learning rate or a scheduler's takes effect without recompiling); the step count and the
first-step marker are Python state that advances after every call; state tensors a first step
needs are made while tracing and kept once the trace succeeded.
"""
from __future__ import annotations

import functools

import numpy as np

from .. import prims

_TENSOR_OPS = type("TensorOps", (), {"sqrt": staticmethod(prims.sqrt), "maximum": staticmethod(prims.maximum)})


class _Hypers:
    """The rule's hyper-parameters for one (group, dtype) of a traced step: each name the rule
    reads becomes a runtime 0-d input. Before each call the first input's draw computes them all
    (0-d arrays, kept while param_groups is not edited, groups.py, and the step key stays the same)."""

    def __init__(self, opt, index: int, first_param, builder, dtype) -> None:
        self.opt, self.index, self.first_param, self.builder, self.dtype = opt, index, first_param, builder, dtype
        self.tensors: dict = {}
        self.arrays: dict = {}
        self.group = None  # the group the arrays were computed from, at param_groups edit count `version`
        self.version = None
        self.key = None  # and at this step key

    def first(self, name: str) -> np.ndarray:
        """The draw of the first input: all the arrays computed (when something they depend on
        changed), `name`'s returned."""
        opt = self.opt
        group = self.group
        version = opt._groups_version[0]
        if version != self.version or self.version is None:  # options edited (a new lr): read them again
            group = opt.param_groups[self.index]
            self.version = opt._groups_version_now()
            self.key = None
        p = self.first_param
        key = opt._compiled_key(group, p, opt._state[p])  # (not the property: read before every call)
        if key is not self.key and key != self.key:
            dtype = self.dtype
            values = opt._hypers(group, key)
            self.arrays = {name: np.asarray(values[name], dtype) for name in self.tensors}
            self.group, self.key = group, key
        return self.arrays[name]

    def later(self, name: str) -> np.ndarray:
        """The draw of any other input: computed by the first one's."""
        return self.arrays[name]

    def __getitem__(self, name: str):
        t = self.tensors.get(name)
        if t is None:
            make = functools.partial(self.later if self.tensors else self.first, name)
            self.tensors[name] = None
            t = self.tensors[name] = self.builder.runtime_scalar(self.dtype, make)
        return t


def trace_step(opt, builder) -> None:
    """Emit one step of `opt` into the trace of `builder` (a FunctionTraceBuilder)."""
    name = type(opt).__name__
    if opt._rule is None:
        raise builder.unsupported(
            f"{name}.step()",
            f"{name} has no compiled update rule (SGD, Adam and AdamW have one): call optimizer.step() after "
            "the compiled call, or pass fallback=True to jitgrad.jit to run the whole step eagerly")
    _refuse_parameters_passed_as_arguments(opt, builder, name)
    builder.guard_fns.append(opt._structure)  # evaluated when the trace ends (state made by it included)
    for index, group in enumerate(opt.param_groups):
        params = [p for p in group["params"] if builder.grad_of(p) is not None]
        if params:
            _trace_group(opt, builder, index, group, params)


def _refuse_parameters_passed_as_arguments(opt, builder, name: str) -> None:
    """A compiled function's arguments are values: a parameter passed as one is traced as a new
    input, so its gradient would land on that input and the real parameter would silently never
    be updated. Refuse it, naming the way out."""
    arguments = builder.argument_ids
    for index, group in enumerate(opt.param_groups):
        for k, p in enumerate(group["params"]):
            if id(p) in arguments:
                raise builder.unsupported(
                    f"{name}.step() on a parameter passed as an argument (param_groups[{index}]['params'][{k}], "
                    f"the compiled function's tensor input {arguments[id(p)]})",
                    "the arguments of a compiled function are values, so the step would update a copy and the "
                    "parameter would never change. Use the parameters from the enclosing scope (the model and "
                    "optimizer the function closes over) and pass only data (inputs, targets) as arguments")


def _trace_group(opt, builder, index: int, group: dict, params: list) -> None:
    flags = opt._flags(group)
    pending = builder.pending.setdefault(id(opt), {})
    states, made_here = [], set()
    for p in params:
        state = opt.state.get(p)
        if state is None:
            state = pending.get(id(p))
        if state is None:
            state = pending[id(p)] = {}
            opt._init_state(group, p, state)
            _commit(builder, opt, p, state, list(state), fresh=False)
            made_here.add(id(p))
        made = opt._lazy_state(group, p, state)
        if made:
            _commit(builder, opt, p, state, made, fresh=True)
            made_here.add(id(p))
        states.append(state)
    # The hyper-parameters follow one parameter's step key (first step, step count). When the
    # group's parameters are at different steps (state of some removed or loaded), each gets its
    # own; the next call sees them aligned (the structure guard) and retraces with shared ones.
    aligned = len(made_here) in (0, len(params)) and \
        len({opt._compiled_key(group, p, st) for p, st in zip(params, states, strict=True)
             if id(p) not in made_here}) <= 1
    hypers: dict = {}
    for p, state in zip(params, states, strict=True):
        for value in state.values():
            if hasattr(value, "_data"):
                builder.adopt(value)
        key = p.dtype if aligned else (p.dtype, id(p))
        h = hypers.get(key)
        if h is None:
            h = hypers[key] = _Hypers(opt, index, p, builder, p.dtype)
        arrays = {n: state[n] for n in opt.state_names if n in state}
        new_p, new_state = opt._rule(p, p._grad, arrays, h, flags, _TENSOR_OPS)
        builder.update(p, new_p, "optimizer.step")
        for n, value in new_state.items():
            builder.update(state[n], value, None)
    builder.after_call.append(functools.partial(opt._after_compiled_step, params))


def _commit(builder, opt, p, state: dict, names: list, fresh: bool) -> None:
    """Keep the state the trace made once it succeeded; lazy state (SGD's momentum buffer) is
    marked fresh: the coming call is its first step."""
    def commit() -> None:
        st = opt.state.setdefault(p, state)
        for n in names:
            st[n] = state[n]
        if fresh:
            opt._fresh.add(id(p))
        opt._epoch += 1
    builder.on_success.append(commit)

