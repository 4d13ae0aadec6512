"""An optimizer's `state`: a dict (parameter -> {name: value}) that tells its optimizer when
its structure changes, so compiled training steps, which captured the state tensors while
tracing, retrace instead of silently updating tensors the optimizer no longer holds.

Only structural changes count: a key added or removed, or a tensor value replaced by another
object. Counters (`state[p]["step"] += 1`) and in-place writes into the state tensors do not:
compiled steps read those at every call anyway.
"""
from __future__ import annotations

from typing import Any

from ..core import TensorBase


class _Watched(dict):
    """A dict calling `changed()` on structural edits (see the module docstring)."""

    __slots__ = ("_changed",)

    def __init__(self, changed, items: Any = ()) -> None:
        super().__init__()
        self._changed = changed
        for key, value in dict(items).items():
            dict.__setitem__(self, key, self._wrap(value))

    def _wrap(self, value):
        return value

    def __setitem__(self, key, value) -> None:
        old = self.get(key, _MISSING)
        value = self._wrap(value)
        dict.__setitem__(self, key, value)
        if old is _MISSING or (old is not value and (isinstance(old, (TensorBase, dict))
                                                     or isinstance(value, (TensorBase, dict)))):
            self._changed()

    def __delitem__(self, key) -> None:
        dict.__delitem__(self, key)
        self._changed()

    def pop(self, key, *default):
        had = key in self
        value = dict.pop(self, key, *default)
        if had:
            self._changed()
        return value

    def popitem(self):
        item = dict.popitem(self)
        self._changed()
        return item

    def clear(self) -> None:
        dict.clear(self)
        self._changed()

    def setdefault(self, key, default=None):
        if key not in self:
            self[key] = default
        return self[key]

    def update(self, *args, **kwargs) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def __ior__(self, other):
        self.update(other)
        return self

    def __reduce__(self):  # (rebuilt without calling back an optimizer that is itself being rebuilt)
        return type(self), (self._changed, dict(self))


class _ParamState(_Watched):
    """One parameter's state: {name: tensor or counter}."""

    __slots__ = ()


class OptimizerState(_Watched):
    """`optimizer.state`: parameter -> its state dict (both watched)."""

    __slots__ = ()

    def _wrap(self, value):
        if isinstance(value, dict) and not isinstance(value, _ParamState):
            return _ParamState(self._changed, value)
        return value


_MISSING = object()
