"""Content-hash keyed compile cache. Generated source is written to a real file named by the hash
of its text, of every kernels/ source it calls (kernels.source_deps: an edit to vmath changes
the key, so old machine code is never reused) and of the jitgrad/Numba/llvmlite versions (temp
file + rename, so concurrent writers are safe), registered in sys.modules and imported: Numba's
own cache=True then keeps the machine code next to it, so a new process pays no compile time. A
file whose text doesn't match its name is treated as corrupt and rewritten. The directory is
trimmed to $JITGRAD_CACHE_MAX_MB (oldest files first); when it cannot be used at all, modules
are compiled in memory."""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import os
import py_compile
import re
import sys
import threading
import types
import warnings
from pathlib import Path

import llvmlite
import numba
from numba.core.caching import FunctionCache, IndexDataCacheFile
from numba.core.dispatcher import Dispatcher
from numba.core.runtime.nrt import rtsys

from . import source_deps
from .cache_files import KERNELS_VERSION, cache_dir, write_atomic_bytes  # noqa: F401 (this module's API)

log = logging.getLogger("jitgrad.compile")


def _enable_log_from_env() -> None:
    """JITGRAD_LOG=compile prints one line per compiled or cache-loaded program."""
    if "compile" in os.environ.get("JITGRAD_LOG", "").split(","):
        if not log.handlers:
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter("[jitgrad] %(message)s"))
            log.addHandler(handler)
        log.setLevel(logging.INFO)


_enable_log_from_env()


def source_key(source: str) -> str:
    """The cache key of a generated module: its text, the kernels/ sources it imports (and
    what they import), and the versions of everything that compiles it."""
    h = hashlib.sha256()
    h.update(f"{KERNELS_VERSION}|{numba.__version__}|{llvmlite.__version__}|".encode())
    h.update(source_deps.dependency_digest(source).encode())
    h.update(source.encode())
    return h.hexdigest()[:24]


def _write_atomic(path: Path, text: str) -> None:
    write_atomic_bytes(path, text.encode("utf-8"))


# Generated modules by name, once fully executed: what other threads may use. (sys.modules gets
# a module before its code has run -- Numba's cache needs that -- so it is not checked alone.)
_loaded: dict = {}
_load_lock = threading.RLock()
_warned_no_disk = False


def load_module(source: str, reason: str = ""):
    """Import the generated module for `source` (from memory, or from the cache directory).
    Thread-safe: a module is visible to callers only once its code has run. When the cache
    directory cannot be used (read-only, full, missing), the module is compiled in memory
    (no disk cache) after one warning."""
    key = source_key(source)
    name = f"jitgrad_generated_{key}"
    module = _loaded.get(name)
    if module is not None:
        return module
    with _load_lock:
        module = _loaded.get(name)
        if module is None:
            module = _load_locked(name, source, reason)
            _loaded[name] = module
    return module


def _load_locked(name: str, source: str, reason: str):
    module = sys.modules.get(name)
    if module is not None and getattr(module, "__jitgrad_source__", None) == source:
        return module
    try:
        path = _ensure_file(name, source)
    except OSError as exc:
        _warn_no_disk(exc)
        return _load_in_memory(name, source, reason)
    if "lib.matmul2d" in source:  # (its cached machine code calls the bound product of its dtypes)
        from . import blas_call
        for dtype in _product_dtypes(source):
            blas_call.ensure_bound(dtype)
    _ensure_bytecode(path)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    module.__jitgrad_source__ = source
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    for value in list(vars(module).values()):
        tolerate_io_errors(value)
    _bind_pieces_before_load(module, source)
    log.info("loaded %s%s", path.name, f" ({reason})" if reason else "")
    return module


def _product_dtypes(source: str) -> list[str]:
    """The dtypes of the bound matrix products (kernels.blas_call) a generated module may call:
    those its marker line names (kernels.blas_call.PRODUCTS_MARKER; binding one costs a disk load,
    ~15 ms of a warm first call), else every dtype its text names."""
    from . import blas_call
    marked = re.search(f"^{re.escape(blas_call.PRODUCTS_MARKER)}(.*)$", source, re.M)
    named = marked.group(1).split() if marked else [d for d in blas_call.SYMBOLS if d in source]
    return [d for d in named if d in blas_call.SYMBOLS]


def _bind_pieces_before_load(module, source: str) -> None:
    """A module whose function calls pieces by symbol (kernels.piece_calls) binds them before its
    machine code is loaded from disk (a cold compile binds them when it types the calls)."""
    if "lib.piece(" not in source:
        return
    from . import piece_calls
    symbols = tuple(re.findall(r'lib\.piece\(\w+, "(\w+)"', source))
    for value in vars(module).values():
        if isinstance(value, Dispatcher) and not value.py_func.__name__.startswith("_piece_"):
            before_load(value, functools.partial(piece_calls.bind, symbols))


def _ensure_bytecode(path: Path) -> None:
    """Write the module's bytecode next to it when missing, also where Python writes none
    (PYTHONDONTWRITEBYTECODE): this cache is jitgrad's, and compiling the text of a long program
    again in every process (0.12 s for a 1000-step loop's 10,000 lines) is most of a warm first
    call. The import reads it back, checked against the source's time stamp and size as usual."""
    if not sys.dont_write_bytecode:
        return
    target = importlib.util.cache_from_source(str(path))
    if os.path.exists(target):
        return
    try:
        py_compile.compile(str(path), cfile=target, doraise=True)
    except (OSError, py_compile.PyCompileError):
        pass  # (the import compiles it in memory)


class _TolerantCache(FunctionCache):
    """Numba's per-function disk cache, unable to fail a call: an entry that cannot be read
    (corrupt, truncated, another version's) is a miss and its files are deleted; one that
    cannot be written (read-only or full disk) is skipped after the one cache warning.
    `before_load`: what must run before machine code is loaded (binding the symbols it calls)."""

    before_load = None

    def load_overload(self, sig, target_context):
        # Numba's own load_overload first refreshes the target context: it imports and registers
        # every typing and lowering registry (numba.np.arraymath, linalg and scipy, random, ...),
        # ~0.25 s once per process, which rebuilding machine code from disk does not use (any
        # later compile refreshes the context itself). Only the symbols loaded code may call are
        # bound here: the runtime's allocator (NRT) and the hash secret (hashing's import).
        # Threads are launched by the entry's own reload hooks. A warm first call is a disk read.
        try:
            rtsys.initialize(target_context)
            import numba.cpython.hashing  # noqa: F401
            if self.before_load is not None:
                self.before_load()
            with self._guard_against_spurious_io_errors():
                return self._load_overload(sig, target_context)
        except Exception as exc:  # noqa: BLE001 - whatever the bytes were, they are not machine code
            log.info("ignored an unreadable cache entry of %s (%s: %s); compiling it again",
                     self._cache_file._index_name, type(exc).__name__, exc)
            self._delete_entry_files()
            return None

    def save_overload(self, sig, data):
        try:
            super().save_overload(sig, data)
        except OSError as exc:
            _warn_no_disk(exc)
        except Exception as exc:  # noqa: BLE001 - not saved: the next process compiles again
            log.info("could not save %s (%s: %s)", self._cache_file._index_name, type(exc).__name__, exc)

    def _delete_entry_files(self) -> None:
        stem = self._cache_file._index_name[:-len(".nbi")]
        for f in Path(self._cache_path).glob(stem + ".*"):
            try:
                f.unlink()
            except OSError:
                pass


class _StampedCache(_TolerantCache):
    """A library function's disk cache whose entries are valid only for one `stamp` besides the
    function's own file: the hash of the sources of the functions it calls (Numba checks the
    function's file alone, so an edit to a callee's module would leave old machine code)."""

    def __init__(self, py_func, stamp: str) -> None:
        super().__init__(py_func)
        own = self._cache_file._source_stamp
        self._cache_file = IndexDataCacheFile(self._cache_path, self._impl.filename_base, (own, stamp))


def cache_on_disk(dispatchers: list, stamp: str) -> int:
    """Keep the machine code of library dispatchers (kernels.vmath's) in Numba's disk cache next
    to their source (or Numba's user-wide cache directory), valid only while `stamp` is unchanged:
    a new process then loads what every generated kernel calls instead of compiling it (the
    sigmoid, tanh, log and exp of a GRU cost ~10% of its cold compile). A function whose cache
    cannot be set up stays compiled in memory. Returns how many were given a disk cache.

    >>> cache_on_disk([], "a stamp")
    0
    """
    done = 0
    for dispatcher in dispatchers:
        try:
            dispatcher._cache = _StampedCache(dispatcher.py_func, stamp)
        except Exception as exc:  # noqa: BLE001 - no usable cache location: compile in memory, as before
            log.info("no disk cache for %s (%s: %s)", dispatcher.py_func.__qualname__, type(exc).__name__, exc)
            continue
        done += 1
    return done


def before_load(dispatcher, hook) -> None:
    """Run `hook()` before `dispatcher`'s machine code is loaded from the disk cache (no-op when it
    has no cache of jitgrad's)."""
    if isinstance(getattr(dispatcher, "_cache", None), _TolerantCache):
        dispatcher._cache.before_load = hook


def tolerate_io_errors(value) -> None:
    """Give a cache=True dispatcher the cache that never fails a call (no-op for other values)."""
    if isinstance(value, Dispatcher) and type(getattr(value, "_cache", None)) is FunctionCache:
        value._cache = _TolerantCache(value.py_func)


def _ensure_file(name: str, source: str) -> Path:
    """The cache file holding `source` (written when missing or corrupt; the cache is then
    trimmed to its size limit)."""
    path = cache_dir() / f"{name}.py"
    try:
        ok = path.read_text(encoding="utf-8") == source
    except (OSError, UnicodeDecodeError):
        ok = False
    if not ok:
        _write_atomic(path, source)
        trim(path.parent, max_bytes(), keep=path)
    return path


def _warn_no_disk(exc: OSError) -> None:
    global _warned_no_disk
    if not _warned_no_disk:
        _warned_no_disk = True
        warnings.warn(
            f"jitgrad: the kernel cache directory cannot be used ({type(exc).__name__}: {exc}); compiling in "
            "memory instead, so new processes compile again. Set JITGRAD_CACHE_DIR to a writable directory "
            "to keep compiled kernels.", RuntimeWarning, stacklevel=5)


def _load_in_memory(name: str, source: str, reason: str):
    """The module executed from memory; Numba's disk cache needs a file, so it is switched off."""
    module = types.ModuleType(name)
    module.__jitgrad_source__ = source
    module.__file__ = None
    text = source.replace("cache=True", "cache=False")
    sys.modules[name] = module
    try:
        exec(compile(text, f"<jitgrad generated {name}>", "exec"), module.__dict__)
    except BaseException:
        del sys.modules[name]
        raise
    log.info("compiled %s in memory%s", name, f" ({reason})" if reason else "")
    return module


def source_path(fn) -> str | None:
    """The file holding a generated function's source (None when it was compiled in memory)."""
    module = sys.modules.get(getattr(getattr(fn, "py_func", fn), "__module__", None) or "")
    return getattr(module, "__file__", None)


def forget(module) -> None:
    """Drop a generated module from the loaded set, so that the next load imports it afresh."""
    with _load_lock:
        _loaded.pop(module.__name__, None)
        sys.modules.pop(module.__name__, None)


def purge_compiled(module) -> int:
    """Delete Numba's cache files of a generated module (after they failed to load)."""
    if not getattr(module, "__file__", None):
        return 0
    path = Path(module.__file__)
    removed = 0
    for f in (path.parent / "__pycache__").glob(path.stem + ".*"):
        try:
            f.unlink()
            removed += 1
        except OSError:
            pass
    return removed


DEFAULT_MAX_MB = 1024


def max_bytes() -> int:
    """The disk cache's size limit: $JITGRAD_CACHE_MAX_MB megabytes (default 1024)."""
    try:
        return int(float(os.environ.get("JITGRAD_CACHE_MAX_MB", DEFAULT_MAX_MB)) * (1 << 20))
    except ValueError:
        return DEFAULT_MAX_MB << 20


def _entries(directory: Path) -> list:
    """Every cache file as (mtime, size, path): generated sources and Numba's files next to them."""
    out = []
    # (generated sources, the front-end records of jitgrad.frontend_cache, the object code of
    # kernels.piece_ir, Numba's files)
    for f in list(directory.glob("*.py")) + list(directory.glob("*.pkl")) + list(directory.glob("*.ir.o")) + \
            list((directory / "__pycache__").glob("*")):
        try:
            st = f.stat()
        except OSError:
            continue
        out.append((st.st_mtime, st.st_size, f))
    return out


def trim(directory: Path, limit: int, keep: Path | None = None) -> int:
    """Delete the oldest cache files until the directory holds at most `limit` bytes (the
    file `keep`, just written, stays). Returns how many files were removed."""
    entries = sorted(_entries(directory), key=lambda e: e[0])
    total = sum(size for _, size, _ in entries)
    removed = 0
    for _, size, f in entries:
        if total <= limit:
            break
        if keep is not None and f.name.startswith(keep.stem):
            continue
        try:
            f.unlink()
        except OSError:
            continue
        total -= size
        removed += 1
    return removed


def clear() -> int:
    """Delete every file of the disk cache (this version's directory) and forget the loaded
    modules (functions already compiled keep theirs). Returns how many files were removed."""
    with _load_lock:
        for name in list(_loaded):
            sys.modules.pop(name, None)
        _loaded.clear()
    try:
        directory = cache_dir()
    except OSError:
        return 0
    removed = 0
    for _, _, f in _entries(directory):
        try:
            f.unlink()
            removed += 1
        except OSError:
            pass
    return removed
