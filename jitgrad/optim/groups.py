"""An optimizer's `param_groups`: a list of dicts that count their own edits, so a compiled
training step checks one integer per call (instead of re-reading every option) to know that the
learning rate, another option or the groups themselves changed since its last call.

Every edit counts (``group["lr"] = ...`` by a scheduler, ``update``, ``pop``, ``append``, a group
replaced): the counter only tells compiled steps to re-read the options, never what changed.
In-place edits of a value (a list of betas changed item by item) are not seen, as before.
"""
from __future__ import annotations

from typing import Any


class ParamGroup(dict):
    """One group (options plus 'params'): a dict whose edits bump the shared counter `version`.

    >>> version = [0]
    >>> g = ParamGroup(version, {"lr": 0.1})
    >>> g["lr"] = 0.01
    >>> version, g
    ([1], {'lr': 0.01})
    """

    __slots__ = ("_version",)

    def __init__(self, version: list, items: Any = ()) -> None:
        super().__init__(items)
        self._version = version

    def _edited(self) -> None:
        _bump(self)

    def __setitem__(self, key, value) -> None:
        dict.__setitem__(self, key, value)
        self._edited()

    def __delitem__(self, key) -> None:
        dict.__delitem__(self, key)
        self._edited()

    def __ior__(self, other):
        dict.update(self, other)
        self._edited()
        return self

    def update(self, *args, **kwargs) -> None:
        dict.update(self, *args, **kwargs)
        self._edited()

    def setdefault(self, key, default=None):
        value = dict.setdefault(self, key, default)
        self._edited()
        return value

    def pop(self, key, *default):
        value = dict.pop(self, key, *default)
        self._edited()
        return value

    def popitem(self):
        item = dict.popitem(self)
        self._edited()
        return item

    def clear(self) -> None:
        dict.clear(self)
        self._edited()


def _bump(container) -> None:
    """Count an edit (none while unpickling or deep-copying fills a container not given its counter yet)."""
    version = getattr(container, "_version", None)
    if version is not None:
        version[0] += 1


def _edits(name: str):
    method = getattr(list, name)

    def edit(self, *args, **kwargs):
        result = method(self, *args, **kwargs)
        _bump(self)
        return result
    edit.__name__ = name
    edit.__doc__ = f"list.{name}, counted as an edit."
    return edit


class ParamGroups(list):
    """The list of groups: its edits (a group appended, removed or replaced) bump `version` too.

    >>> version = [0]
    >>> groups = ParamGroups(version)
    >>> groups.append({"lr": 0.1})
    >>> version
    [1]
    """

    __slots__ = ("_version",)

    def __init__(self, version: list, items: Any = ()) -> None:
        super().__init__(items)
        self._version = version

    for _name in ("__setitem__", "__delitem__", "__iadd__", "__imul__", "append", "extend", "insert", "pop",
                  "remove", "clear", "sort", "reverse"):
        locals()[_name] = _edits(_name)
    del _name
