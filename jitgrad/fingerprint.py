"""A content fingerprint of a Python function: what a trace of it can depend on, or None.

The warm front-end cache (frontend_cache.py) keys a traced, lowered program by this
fingerprint, so that a new process can skip tracing when the function is unchanged. The
fingerprint covers the function's code (bytecode, constants and names, recursively through
nested functions), its defaults, the values of its closure cells and of every global it
names, and (recursively) the plain Python functions those are. Functions, classes and modules
of jitgrad, NumPy and the standard library are named, not hashed: their code is covered by
the cache key's source digest and library versions.

The safety rule: anything whose value a trace could read but that cannot be hashed by
content -- an object of a user class, a mutable container, a user module (whose attributes
can change), a large array -- makes the whole fingerprint None, and the caller traces as
usual. Nothing is ever guessed.
"""
from __future__ import annotations

import builtins
import dis
import functools
import hashlib
import types
from collections.abc import Callable

import numpy as np

# Modules (and their submodules) whose functions, classes and attributes are named, not
# hashed: jitgrad's own sources are in the front-end cache key, the rest are versioned
# libraries whose contents a user program does not change.
NAMED_MODULES = ("jitgrad", "kernels", "numpy", "math", "cmath", "operator", "functools", "itertools",
                 "builtins", "collections", "typing", "dataclasses", "enum", "warnings")
MAX_ARRAY_BYTES = 1 << 20  # closed-over arrays are hashed by content up to this size


class UnhashableError(Exception):
    """Something a trace may read has no content hash (see the module docstring)."""


def fingerprint(fn: Callable) -> str | None:
    """The hex digest of everything a trace of `fn` can read, or None when some of it cannot
    be hashed safely (then the caller does not use a cache keyed by it).

    Example:
        >>> fingerprint(max) == fingerprint(max)  # (a builtin: named, not hashed)
        True
        >>> fingerprint([1, 2]) is None  # a mutable container cannot be hashed safely
        True
    """
    h = hashlib.sha256()
    try:
        _Hasher(h).value(fn)
    except (UnhashableError, RecursionError):
        return None
    return h.hexdigest()


def _named_module(name: str | None) -> bool:
    return bool(name) and name.split(".")[0] in NAMED_MODULES


class _Hasher:
    def __init__(self, h) -> None:
        self.h = h
        self.seen: dict[int, int] = {}  # id(function) -> its position, for recursion

    def put(self, *parts) -> None:
        for p in parts:
            self.h.update(repr(p).encode())
            self.h.update(b"\x00")

    def value(self, v) -> None:
        kind = type(v)
        if v is None or kind in (bool, int, float, complex, str, bytes):
            self.put(kind.__name__, v.hex() if kind is float else v)
        elif kind in (tuple, frozenset):
            items = v if kind is tuple else sorted(v, key=repr)
            self.put(kind.__name__, len(items))
            for item in items:
                self.value(item)
        elif kind is types.FunctionType:
            self.function(v)
        elif kind is functools.partial:
            self.put("partial")
            self.value(v.func)
            self.value(tuple(v.args))
            self.value(tuple(sorted(v.keywords.items())))
        elif kind is types.ModuleType:
            if not _named_module(v.__name__):
                raise UnhashableError(f"module {v.__name__}")  # a user module's attributes can change
            self.put("module", v.__name__)
        elif kind is np.ndarray:
            if v.nbytes > MAX_ARRAY_BYTES or v.dtype.hasobject:
                raise UnhashableError("a large or object array")
            self.put("ndarray", v.shape, v.dtype.str)
            self.h.update(np.ascontiguousarray(v).tobytes())
        elif isinstance(v, np.generic):
            self.put("scalar", v.dtype.str, v.item())
        elif kind is np.dtype or isinstance(v, np.dtype):
            self.put("dtype", v.str)
        elif isinstance(v, (type, types.BuiltinFunctionType, np.ufunc)) or callable(v) and kind.__name__ in (
                "builtin_function_or_method", "method_descriptor", "wrapper_descriptor", "_ArrayFunctionDispatcher"):
            module = getattr(v, "__module__", None) or ("numpy" if isinstance(v, np.ufunc) else None)
            if not _named_module(module):
                raise UnhashableError(f"{v!r} of module {module}")
            self.put("named", module, getattr(v, "__qualname__", getattr(v, "__name__", None)))
        else:
            # An instance of a user class, a mutable container, a bound method, a tensor...
            raise UnhashableError(f"a {kind.__name__}")

    def function(self, fn: types.FunctionType) -> None:
        if _named_module(fn.__module__):
            self.put("named", fn.__module__, fn.__qualname__)
            return
        if id(fn) in self.seen:  # recursion: refer to the earlier occurrence
            self.put("again", self.seen[id(fn)])
            return
        self.seen[id(fn)] = len(self.seen)
        self.put("function")
        self.code(fn.__code__)
        self.value(fn.__defaults__)
        self.value(tuple(sorted((fn.__kwdefaults__ or {}).items())))
        for cell in fn.__closure__ or ():
            try:
                contents = cell.cell_contents
            except ValueError:  # an empty cell (a name assigned later in the enclosing scope)
                self.put("empty cell")
                continue
            self.value(contents)
        names = sorted(_global_names(fn.__code__))
        if "random" in names and any(getattr(fn.__globals__.get(n), "__name__", "").startswith("numpy")
                                     for n in names):
            raise UnhashableError("NumPy's random numbers (a trace bakes the draws in: each trace must draw)")
        for name in names:
            if name in fn.__globals__:
                self.put("global", name)
                self.value(fn.__globals__[name])
            elif hasattr(builtins, name):
                self.put("builtin", name)
            # else: an attribute name (x.sum) or an undefined global (a NameError when traced)

    def code(self, code: types.CodeType) -> None:
        if _writes_outer_state(code):
            raise UnhashableError("the function assigns a global or an enclosing function's variable, or imports a "
                                  "module")
        self.put(code.co_code, code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars,
                 code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount, code.co_flags)
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                self.code(const)
            else:
                self.value(const)


_OUTER_WRITES = {"STORE_GLOBAL", "DELETE_GLOBAL"}


def _writes_outer_state(code: types.CodeType) -> bool:
    """Whether the code assigns a global or (nonlocal) a variable of an enclosing function (a
    trace with such side effects must run, not be skipped), or imports a module that is not
    named (what it reads from it is not hashed)."""
    for ins in dis.get_instructions(code):
        if ins.opname in _OUTER_WRITES:
            return True
        if ins.opname == "IMPORT_NAME" and not _named_module(ins.argval):
            return True  # (a module imported inside the function: its attributes are not hashed)
        if ins.opname in ("STORE_DEREF", "DELETE_DEREF") and ins.argval in code.co_freevars:
            return True
    return False


def _global_names(code: types.CodeType) -> set[str]:
    """Names a code object (and the code nested in it) may look up as globals."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names
