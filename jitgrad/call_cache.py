"""Signature keys and the bounded per-function cache of compiled functions.

A key says exactly what a trace depends on: shapes, dtypes, which inputs require grad, the
argument structure and the *exact* static values -- `0.0` and `-0.0`, `2` and `2.0`, `True`
and `1` are different keys (they trace different graphs), and every NaN is one key (a NaN
static must not retrace at every call).

Each compiled function keeps at most `cache_limit()` entries, least recently used first out
(`set_cache_limit(n)` or $JITGRAD_JIT_CACHE_LIMIT; default 64), and warns once when it keeps
retracing for new values of a Python number (those belong in arrays).
"""
from __future__ import annotations

import math
import os
import threading
import warnings
import weakref
from collections import OrderedDict

DEFAULT_LIMIT = 64
RETRACE_WARN_AFTER = 8  # distinct values of Python numbers for one otherwise-equal signature

_limit = [None]
_registry: weakref.WeakSet = weakref.WeakSet()  # every LRU cache, for clear_all()


def cache_limit() -> int:
    """How many signatures each compiled function keeps (set_cache_limit, else the environment)."""
    if _limit[0] is not None:
        return _limit[0]
    raw = os.environ.get("JITGRAD_JIT_CACHE_LIMIT", "")
    try:
        return max(1, int(raw)) if raw else DEFAULT_LIMIT
    except ValueError:
        return DEFAULT_LIMIT


def set_cache_limit(n: int | None) -> None:
    """Keep at most `n` compiled signatures per compiled function (least recently used are
    dropped first); None restores the default ($JITGRAD_JIT_CACHE_LIMIT or 64)."""
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
        raise ValueError(f"set_cache_limit: expected a positive int or None, got {n!r}")
    _limit[0] = n
    for cache in list(_registry):
        cache.shrink()


def static_key(value):
    """A hashable key equal for two static values exactly when a trace cannot tell them apart."""
    kind = type(value)
    if kind is float:
        return (float, "nan" if math.isnan(value) else value.hex())
    if kind is complex:
        return (complex, static_key(value.real), static_key(value.imag))
    if kind in (tuple, list):
        return (kind, tuple(static_key(v) for v in value))
    if kind is dict:
        return (dict, tuple((static_key(k), static_key(v)) for k, v in value.items()))
    try:
        hash(value)
    except TypeError:
        return (kind, repr(value))
    if isinstance(value, float):  # NumPy float scalars, float subclasses
        return (kind, "nan" if math.isnan(value) else float(value).hex())
    return (kind, value)


def exact_tree(tree: tuple) -> tuple:
    """A tree description (see tree.py) with each static value replaced by its static_key."""
    kind = tree[0]
    if kind == "static":
        value = tree[1]
        if isinstance(value, tuple) and len(value) == 2 and value[0] is _KEYED:
            return tree
        return ("static", (_KEYED, static_key(value)))
    if kind in ("seq", "dict"):
        return (kind, tree[1] if kind == "seq" else tuple(static_key(k) for k in tree[1]),
                tuple(exact_tree(c) for c in tree[2]))
    return tree


class _Keyed:
    """Marks a static already replaced by its key (whole static_argnums arguments)."""

    def __repr__(self) -> str:
        return "<keyed static>"


_KEYED = _Keyed()


def keyed_static(value) -> tuple:
    """The tree node of a whole static argument (static_argnums)."""
    return ("static", (_KEYED, static_key(value)))


_NUMBER_TYPES = (int, float, complex)


def _number_blind(tree):
    """`tree` with the values of static Python numbers removed (what stays equal when only a
    number argument changes)."""
    if isinstance(tree, tuple):
        if len(tree) == 2 and tree[0] in _NUMBER_TYPES and tree[0] is not bool:
            return (tree[0],)
        return tuple(_number_blind(t) for t in tree)
    return tree


class LRUCache:
    """signature key -> compiled entry, bounded, least recently used dropped first; also
    counts retraces caused by changing Python numbers (one warning per function)."""

    def __init__(self, owner_name: str) -> None:
        self.owner_name = owner_name
        self.entries: OrderedDict = OrderedDict()
        self.on_evict = None  # called after entries were dropped (the owner's fast paths go too)
        self._lock = threading.Lock()
        self._values_seen: dict = {}
        self._warned = False
        _registry.add(self)

    def get(self, key):
        entry = self.entries.get(key)
        if entry is not None:
            try:
                self.entries.move_to_end(key)
            except KeyError:  # dropped by another thread meanwhile
                pass
        return entry

    def put(self, key, entry) -> None:
        with self._lock:
            self.entries[key] = entry
            self.entries.move_to_end(key)
        self._note_new_signature(key)
        self.shrink()

    def shrink(self) -> None:
        limit = cache_limit()
        dropped = False
        with self._lock:
            while len(self.entries) > limit:
                self.entries.popitem(last=False)
                dropped = True
        if dropped and self.on_evict is not None:
            self.on_evict()

    def clear(self) -> None:
        with self._lock:
            self.entries.clear()
            self._values_seen.clear()
        if self.on_evict is not None:
            self.on_evict()

    def __len__(self) -> int:
        return len(self.entries)

    def _note_new_signature(self, key) -> None:
        blind = _number_blind(key)
        if blind == key or self._warned:
            return
        seen = self._values_seen.setdefault(blind, set())
        seen.add(key)
        if len(self._values_seen) > 4 * cache_limit():  # keep the bookkeeping bounded too
            self._values_seen = {blind: seen}
        if len(seen) >= RETRACE_WARN_AFTER:
            self._warned = True
            warnings.warn(
                f"jitgrad: {self.owner_name} was traced and compiled {len(seen)} times for new values of a "
                "Python number argument (Python numbers are static: each new value compiles again). Pass "
                "a number that changes between calls as an array or tensor (e.g. jitgrad.tensor(lr)) so "
                "that one compiled program serves every value.", RuntimeWarning, stacklevel=4)


def clear_all() -> None:
    """Drop every compiled function's cached executables (they retrace on their next call)."""
    for cache in list(_registry):
        cache.clear()
