"""The warm front-end cache: a new process skips tracing, simplifying, lowering and generating
source for a function it has compiled before (issue 14: a warm first call of a 1000-step loop
spent seconds there before Numba even loaded its machine code).

The key (`FrontEnd.key`) covers everything a traced program depends on: the function's
content fingerprint (fingerprint.py: code, defaults, closure values, the globals it names),
the kind of transform and its parameters, the call signature (shapes, dtypes, which inputs
require grad, exact static values), the default dtype, the lowering settings, every source
file of jitgrad/ and kernels/ and the library versions. Under it, each executable a call
needs (the forward, or forward and backward for one set of differentiated inputs) is stored
as a record: the program's generated source text(s) and the few values needed to call it.
The machine code itself stays in Numba's cache next to the generated source (kernels.cache).

Only what a trace fully determines is stored: programs with no captured tensors, random
draws, write-backs or training-step effects, on the CPU, compiled as one entry point. When
anything cannot be hashed safely (fingerprint.py's safety rule) there is no key and the
function is traced as usual. A record that cannot be read is a miss; one that cannot be
written is skipped. $JITGRAD_FRONTEND_CACHE=0 turns the cache off.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pickle
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from . import dtypes
from .fingerprint import fingerprint

log = logging.getLogger("jitgrad.compile")
FORMAT = 1
_PLAIN_TYPES = (type(None), bool, int, float, complex, str, bytes, tuple, list, dict)
_source_digest: list = []


def enabled() -> bool:
    """Whether the front-end cache is used ($JITGRAD_FRONTEND_CACHE=0 turns it off; the
    Python run mode of the tests' kernels never uses it)."""
    from jitgrad._kernels import cpu
    return os.environ.get("JITGRAD_FRONTEND_CACHE", "1") != "0" and not cpu.runs_as_python()


def source_digest() -> str:
    """A hash of every source file of jitgrad/ and kernels/ (once per process): an edit anywhere
    in the compiler makes every front-end record a miss. Reading and hashing the ~190 files
    costs ~10 ms of a warm first call, so the digest is kept in the cache directory under the
    files' names, sizes and modification times (what Python's own bytecode cache trusts) and
    recomputed whenever any of them differs."""
    if not _source_digest:
        from jitgrad import _kernels as kernels
        _source_digest.append(digest_of_packages([str(Path(__file__).resolve().parent),
                                                  str(Path(kernels.__file__).resolve().parent)]))
    return _source_digest[0]


def digest_of_packages(packages: list[str]) -> str:
    """The hash of the names and bytes of every .py file under `packages`, read from the memo
    in the cache directory when no file's name, size or modification time changed since."""
    files = [entry for package in packages for entry in _python_files(package)]
    stamp = hashlib.sha256()
    for name, path in files:
        st = os.stat(path)
        stamp.update(f"{name}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    digest = _read_memo(stamp.hexdigest())
    if digest is None:
        h = hashlib.sha256()
        for name, path in files:
            h.update(name.encode())
            with open(path, "rb") as f:
                h.update(f.read())
        digest = h.hexdigest()
        _write_memo(stamp.hexdigest(), digest)
    return digest


def _python_files(package: str) -> list[tuple[str, str]]:
    """(name relative to the package's parent, path) of each .py file of `package`, sorted by
    the name's parts (os.walk and string slicing: pathlib's rglob and relative_to cost ~4 ms)."""
    base = len(os.path.dirname(package)) + 1
    found = []
    for folder, subfolders, names in os.walk(package):
        subfolders[:] = [d for d in subfolders if d != "__pycache__"]
        found += [(os.path.join(folder, n)[base:], os.path.join(folder, n)) for n in names if n.endswith(".py")]
    return sorted(found, key=lambda entry: entry[0].split(os.sep))


def _memo_path() -> Path:
    """The file that keeps the source digest with the stamp of the files it was computed from."""
    from jitgrad._kernels import cache
    return cache.cache_dir() / "sources.digest"


def _read_memo(stamp: str) -> str | None:
    """The digest kept for `stamp`, or None (missing, unreadable, another stamp's)."""
    try:
        kept_stamp, digest = _memo_path().read_text().split()
    except Exception:  # noqa: BLE001 - missing or unreadable: the files are read again
        return None
    return digest if kept_stamp == stamp and len(digest) == 64 else None


def _write_memo(stamp: str, digest: str) -> None:
    """Keep `digest` for `stamp`; a disk that refuses it only costs the next process ~10 ms."""
    from jitgrad._kernels import cache
    try:
        cache.write_atomic_bytes(_memo_path(), f"{stamp} {digest}\n".encode())
    except Exception as exc:  # noqa: BLE001 - not saved: the next process reads the files again
        log.info("could not save the source digest (%s: %s)", type(exc).__name__, exc)


def lowering_settings() -> tuple:
    """Module-level settings that change generated code (tests and benchmarks vary them)."""
    import llvmlite
    import numba

    from jitgrad._kernels import chain_pieces, cpu

    from . import fuse, lower
    env = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("JITGRAD_")
                       and k not in ("JITGRAD_LOG", "JITGRAD_CACHE_DIR", "JITGRAD_CACHE_MAX_MB")))
    return (FORMAT, cpu.parallel_threshold(), cpu.MAX_SINGLE_LINES, cpu.SPLIT_MIN_KERNELS, cpu.SPLIT_MIN_WORK,
            lower.MAX_LOOP_EQNS, lower.PREALLOCATE_MIN, chain_pieces.MAX_PIECE_STMTS, chain_pieces.MIN_CUT_STMTS,
            chain_pieces.MAX_ELEMENTS,
            tuple(sorted(fuse.CPU_CALL_OPS)), fuse.HAVE_SCIPY_BLAS, _qualified(cpu.render),
            _qualified(cpu.compile_program), env, np.__version__, numba.__version__, llvmlite.__version__,
            sys.version_info[:3])


def _qualified(fn) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', '?')}"


def _plain_key(k) -> bool:
    """Whether a signature key's repr says all there is (no objects of user classes)."""
    if isinstance(k, tuple):
        return all(_plain_key(x) for x in k)
    if isinstance(k, type):
        return k in _PLAIN_TYPES or k.__module__ == "numpy"
    if type(k) in _PLAIN_TYPES or isinstance(k, np.dtype):
        return True
    return type(k).__name__ == "_Keyed"  # (call_cache's marker of a whole static argument)


class FrontEnd:
    """The front-end records of one function at one signature (see the module docstring)."""

    def __init__(self, key: str) -> None:
        self.key = key

    @classmethod
    def for_call(cls, fn, params: tuple, signature) -> FrontEnd | None:
        """The records' key for calling `fn` (a transform with `params`) at `signature`, or
        None when the cache is off or something the trace may read cannot be hashed."""
        if not enabled() or not _plain_key(signature) or any(
                len(leaf) > 3 for leaf in _leaf_keys(signature)):  # (device arrays: not cached)
            return None
        fp = fingerprint(fn)
        if fp is None:
            return None
        h = hashlib.sha256()
        for part in (fp, params, signature, dtypes.get_default_dtype().str, lowering_settings(), source_digest()):
            h.update(repr(part).encode())
            h.update(b"\x00")
        return cls(h.hexdigest()[:32])

    def _path(self, role: str) -> Path:
        from jitgrad._kernels import cache
        return cache.cache_dir() / f"fe_{self.key}_{role}.pkl"

    def load(self, role: str) -> dict | None:
        """The record stored for `role`, or None (missing, unreadable, another key's)."""
        try:
            with open(self._path(role), "rb") as f:
                record = pickle.load(f)
        except FileNotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001 - a corrupt or foreign file is a miss, never an error
            log.info("ignored an unreadable front-end record %s (%s: %s)", role, type(exc).__name__, exc)
            return None
        if not isinstance(record, dict) or record.get("key") != self.key or record.get("role") != role:
            return None
        return record

    def save(self, role: str, meta: dict, executable: dict) -> None:
        """Store `role`'s record; a disk that refuses it only costs the next process a trace."""
        from jitgrad._kernels import cache
        record = {"key": self.key, "role": role, "meta": meta, "executable": executable}
        try:
            path = self._path(role)
            cache.write_atomic_bytes(path, pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL))
        except Exception as exc:  # noqa: BLE001 - not saved: the next process traces again
            log.info("could not save the front-end record %s (%s: %s)", role, type(exc).__name__, exc)


def _leaf_keys(signature) -> list:
    """The per-leaf keys of a call_cache signature (simple calls: the key is that tuple)."""
    if len(signature) == 2 and isinstance(signature[0], tuple) and signature[0][:1] == ("seq",):
        return list(signature[1])
    return list(signature)


_watch = threading.local()
_watch_installed: list = []


@contextlib.contextmanager
def warnings_watched() -> Iterator[list]:
    """Collect the categories of warnings shown in this thread inside the block (they are
    shown as usual): a trace that warned must run again in the next process, where the user
    should see the same warnings, so it is not stored. (Wraps `warnings._showwarnmsg` once per
    process, which Python's own warning machinery calls for every warning it shows.)"""
    if not _watch_installed:
        shown = warnings._showwarnmsg

        def show(msg) -> None:
            seen = getattr(_watch, "seen", None)
            if seen is not None:
                seen.append(msg.category)
            shown(msg)
        warnings._showwarnmsg = show
        _watch_installed.append(show)
    outer = getattr(_watch, "seen", None)
    _watch.seen = seen = []
    try:
        yield seen
    finally:
        _watch.seen = outer
        if outer is not None:
            outer.extend(seen)


def cacheable(graph) -> bool:
    """Whether a traced graph is fully determined by the front-end key (nothing it reads at
    call time besides its arguments)."""
    return not (graph.captured or graph.random_inputs or graph.writebacks or graph.effects is not None)


def stand_in(leaf):
    """An argument with `leaf`'s shape, dtype and requires_grad and no memory (zero strides):
    enough to trace again when a cached entry needs its graph."""
    from .core import TensorBase
    from .tensor import Tensor
    if isinstance(leaf, TensorBase):
        t = Tensor._wrap(np.broadcast_to(np.zeros((), leaf._data.dtype), leaf._data.shape))
        t._requires_grad = leaf._requires_grad
        return t
    arr = np.asarray(leaf)
    return np.broadcast_to(np.zeros((), arr.dtype), arr.shape)


__all__ = ["FrontEnd", "cacheable", "enabled", "stand_in", "source_digest", "warnings_watched"]
