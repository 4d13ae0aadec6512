"""TensorFlow's GradientTape API on jitgrad's one eager engine (not a second engine).

    with jitgrad.GradientTape() as tape:
        tape.watch(x)                 # x need not require grad: it does inside the tape
        y = f(x)
    dx = tape.gradient(y, x)

How it maps onto eager autograd: the engine records a graph for every op whose input requires
grad, so `watch(t)` on a leaf that does not require grad sets `t.requires_grad = True` for the
tape's scope (the user's own tensor object: nothing is swapped) and restores it on exit;
`gradient()` then calls `autograd.grad` on the recorded graph. Leaves that already require grad
(Parameters) are the "variables" that `watch_accessed_variables=True` picks up by themselves.
Gradients follow TensorFlow: a non-scalar target is summed (or weighted by `output_gradients`),
sources may be any nest of lists/tuples/dicts (kept in the result), unconnected sources give None
(or zeros with `unconnected_gradients="zero"`), and a non-persistent tape computes one set of
gradients only. While any tape is recording, `gradient()` builds a differentiable graph, so
nested tapes give higher derivatives.

Differences from TensorFlow: jitgrad records by requires_grad, not by scope, so ops run after
the `with` block on tensors that still require grad (Parameters) are differentiable too.
"""
from __future__ import annotations

import threading
import warnings
from typing import TYPE_CHECKING

import numpy as np

from . import dtypes
from .autodiff import gradients
from .core import TensorBase
from .grad_mode import no_grad
from .prims import stack
from .shapes import numel

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from collections.abc import Sequence
    from typing import Any

    from .tensor import Tensor

_UNCONNECTED = ("none", "zero")


class _TapeStack(threading.local):
    def __init__(self) -> None:
        self.tapes: list = []


_recording = _TapeStack()


def _flatten(structure, what: str) -> tuple[list, object]:
    """(leaf tensors, a template that `_rebuild` fills back in) of a nest of lists/tuples/dicts."""
    if isinstance(structure, TensorBase):
        return [structure], None
    if isinstance(structure, dict):
        leaves, spec = [], {}
        for key in structure:
            sub, spec[key] = _flatten(structure[key], what)
            leaves.append(sub)
        return [t for sub in leaves for t in sub], (dict, spec, [len(s) for s in leaves])
    if isinstance(structure, (list, tuple)):
        leaves, specs = [], []
        for item in structure:
            sub, spec = _flatten(item, what)
            leaves.append(sub)
            specs.append(spec)
        return [t for sub in leaves for t in sub], (type(structure), specs, [len(s) for s in leaves])
    raise TypeError(f"GradientTape: {what} must be a Tensor or a nest of lists/tuples/dicts of Tensors, found "
                    f"a {type(structure).__name__}")


def _rebuild(template, values: list):
    if template is None:
        return values[0]
    kind, specs, sizes = template
    parts, at = [], 0
    items = specs.items() if kind is dict else enumerate(specs)
    for (key, spec), size in zip(items, sizes, strict=True):
        parts.append((key, _rebuild(spec, values[at:at + size])))
        at += size
    if kind is dict:
        return {k: v for k, v in parts}
    rebuilt = [v for _, v in parts]
    return rebuilt if kind is list else kind(rebuilt) if kind is tuple else kind(*rebuilt)


class GradientTape:
    """Records operations on watched tensors for automatic differentiation (TensorFlow's API).

    Example:
        >>> x = jg.tensor([3.0])
        >>> with jg.GradientTape() as tape:
        ...     tape.watch(x)
        ...     y = x * x
        ...
        >>> tape.gradient(y, x)
        tensor([6.])
    """

    def __init__(self, persistent: bool = False, watch_accessed_variables: bool = True) -> None:
        self.persistent = bool(persistent)
        self.watch_accessed_variables = bool(watch_accessed_variables)
        self._watched: dict = {}   # id -> tensor (holding it keeps the id unique)
        self._flipped: list = []   # leaves whose requires_grad this tape turned on
        self._active = False
        self._used = False

    # ----- recording ------------------------------------------------------------------------

    def __enter__(self) -> GradientTape:
        if self._active:
            raise RuntimeError("this GradientTape is already recording; create a new tape to nest tapes")
        self._active = True
        _recording.tapes.append(self)
        return self

    def __exit__(self, *exc) -> bool:
        self._active = False
        if self in _recording.tapes:
            _recording.tapes.remove(self)
        self._restore_flipped()
        return False

    def watch(self, tensor: Tensor | Sequence[Tensor]) -> None:
        """Make the tensor(s) (a Tensor or a nest of them) trace-able by this tape."""
        if not self._active:
            raise RuntimeError("GradientTape.watch must be called inside the tape's `with` block (ops run "
                               "before it were not recorded for this tape)")
        for t in _flatten(tensor, "watch()'s argument")[0]:
            if not dtypes.is_floating(t.dtype):
                warnings.warn(f"GradientTape.watch: a {dtypes.name(t.dtype)} tensor cannot have gradients; it is "
                              "not watched (convert it with .float() or .double() first)", stacklevel=2)
                continue
            if not t.requires_grad:
                t.requires_grad = True
                self._flipped.append(t)
            self._watched[id(t)] = t

    def watched_variables(self) -> tuple:
        """The tensors watched explicitly, in order."""
        return tuple(self._watched.values())

    def stop_recording(self) -> no_grad:
        """Context manager in which ops are not recorded (TensorFlow's tape.stop_recording())."""
        if not self._active:
            raise RuntimeError("GradientTape.stop_recording() is only meaningful inside the tape's `with` block")
        return no_grad()

    def reset(self) -> None:
        """Forget what was watched and allow gradient() again (operations stay in the graph)."""
        self._restore_flipped()
        self._flipped = []
        self._watched.clear()
        self._used = False

    def _restore_flipped(self) -> None:
        """Turn requires_grad off again on the leaves watch() turned it on for (they stay listed, so
        gradient() after the with block can turn it on for the engine call)."""
        for t in self._flipped:
            if t.grad_fn is None:
                t._requires_grad = False

    # ----- differentiation ------------------------------------------------------------------

    def gradient(self, target: Tensor, sources: Any, output_gradients: Any = None,
                 unconnected_gradients: str = "none") -> Any:
        """d(sum of target * output_gradients)/d(sources), shaped like `sources` (None where unconnected)."""
        self._start_use("gradient", unconnected_gradients)
        targets, _ = _flatten(target, "target")
        flat_sources, template = _flatten(sources, "sources")
        if output_gradients is None:
            seeds = [None] * len(targets)
        else:
            seeds = _flatten(output_gradients, "output_gradients")[0]
            if len(seeds) != len(targets):
                raise ValueError(f"GradientTape.gradient: {len(seeds)} output_gradients for {len(targets)} "
                                 "targets; give one per target tensor (same structure)")
        grads = self._differentiate(targets, seeds, flat_sources, retain=self.persistent)
        self._used = not self.persistent
        return _rebuild(template, self._fill(grads, flat_sources, unconnected_gradients))

    def jacobian(self, target: Tensor, sources: Any, unconnected_gradients: str = "none",
                 parallel_iterations: int | None = None, experimental_use_pfor: bool = True) -> Any:
        """d target / d sources, each of shape target.shape + source.shape (one reverse pass per element
        of target; `parallel_iterations` and `experimental_use_pfor` are accepted and ignored)."""
        self._start_use("jacobian", unconnected_gradients)
        if not isinstance(target, TensorBase):
            raise TypeError(f"GradientTape.jacobian: target must be a Tensor, got {type(target).__name__}")
        flat_sources, template = _flatten(sources, "sources")
        n = numel(target.shape)
        rows: list[list] = [[] for _ in flat_sources]
        onehot = np.zeros(n, dtype=target.dtype)
        for k in range(n):
            onehot[k] = 1
            seed = type(target)._wrap(onehot.reshape(target.shape).copy())
            onehot[k] = 0
            for j, g in enumerate(self._differentiate([target], [seed], flat_sources, retain=True)):
                rows[j].append(g)
        self._used = not self.persistent
        result = []
        for j, s in enumerate(flat_sources):
            shape = tuple(target.shape) + tuple(s.shape)
            if n and all(g is None for g in rows[j]) and unconnected_gradients == "none":
                result.append(None)
            elif not n or all(g is None for g in rows[j]):
                result.append(type(s)._wrap(np.zeros(shape, dtype=s.dtype)))
            elif any(g is not None and g.grad_fn is not None for g in rows[j]):  # nested tapes: keep the graph
                zero = type(s)._wrap(np.zeros(s.shape, dtype=s.dtype))
                result.append(stack([zero if g is None else g for g in rows[j]]).reshape(shape))
            else:
                parts = [g._data if g is not None else np.zeros(s.shape, dtype=s.dtype) for g in rows[j]]
                result.append(type(s)._wrap(np.stack(parts).reshape(shape)))
        return _rebuild(template, result)

    def _start_use(self, what: str, unconnected_gradients: str) -> None:
        if unconnected_gradients not in _UNCONNECTED:
            raise ValueError(f"GradientTape.{what}: unconnected_gradients must be 'none' or 'zero', got "
                             f"{unconnected_gradients!r}")
        if self._used:
            raise RuntimeError("A non-persistent GradientTape can only be used to compute one set of gradients "
                               "(or jacobians); create it with GradientTape(persistent=True) to call "
                               f"{what}() several times")

    def _tracked(self, source) -> bool:
        """Whether gradients may flow to `source` (TensorFlow: watched, or an accessed variable)."""
        if not source.requires_grad:
            return False
        if source.grad_fn is not None or self.watch_accessed_variables:
            return True
        return id(source) in self._watched

    def _differentiate(self, targets: list, seeds: list, sources: list, retain: bool) -> list:
        """Gradients (or None) for each source, from one engine call."""
        relit = [t for t in self._flipped if id(t) in self._watched and not t.requires_grad]
        for t in relit:  # watched leaves after the with block: requires_grad again for the engine
            t._requires_grad = True
        try:
            pairs = []
            for t, s in zip(targets, seeds, strict=True):
                if not t.requires_grad:
                    continue
                if s is None:
                    s = type(t)._wrap(np.ones(t.shape, dtype=t.dtype))
                elif not isinstance(s, TensorBase):
                    s = type(t)._wrap(np.asarray(s, dtype=t.dtype))
                pairs.append((t, s))
            live = [s for s in sources if self._tracked(s)]
            out = [None] * len(sources)
            if not pairs or not live:
                return out
            higher = bool(_recording.tapes)  # another (or this) tape is recording: keep a graph
            grads = gradients([t for t, _ in pairs], live, [s for _, s in pairs],
                                 retain_graph=retain or higher, create_graph=higher, allow_unused=True)
            by_id = {id(s): g for s, g in zip(live, grads, strict=True)}
            return [by_id.get(id(s)) if self._tracked(s) else None for s in sources]
        finally:
            for t in relit:
                t._requires_grad = False

    @staticmethod
    def _fill(grads: list, sources: list, unconnected: str) -> list:
        if unconnected == "none":
            return grads
        return [g if g is not None else type(s)._wrap(np.zeros(s.shape, dtype=s.dtype))
                for g, s in zip(grads, sources, strict=True)]


__all__ = ["GradientTape"]
