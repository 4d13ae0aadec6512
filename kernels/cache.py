"""Content-hash keyed compile cache. Generated source is written to a real file named by the
hash of its text and the jitgrad/Numba versions (temp file + rename, so concurrent writers are
safe), registered in sys.modules and imported: Numba's own cache=True then keeps the machine
code next to it, so a new process pays no compile time. A file whose text doesn't match its
name is treated as corrupt and rewritten."""
from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import sys
import tempfile
from pathlib import Path

import numba

KERNELS_VERSION = "1"
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


def cache_dir() -> Path:
    """$JITGRAD_CACHE_DIR, else $XDG_CACHE_HOME/jitgrad (~/.cache/jitgrad), per version."""
    root = os.environ.get("JITGRAD_CACHE_DIR")
    if root:
        base = Path(root)
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "jitgrad"
    path = base / f"k{KERNELS_VERSION}-numba{numba.__version__}-py{sys.version_info[0]}{sys.version_info[1]}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def source_key(source: str) -> str:
    h = hashlib.sha256()
    h.update(f"{KERNELS_VERSION}|{numba.__version__}|".encode())
    h.update(source.encode())
    return h.hexdigest()[:24]


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_module(source: str, reason: str = ""):
    """Import the generated module for `source` (from memory, or from the cache directory)."""
    key = source_key(source)
    name = f"jitgrad_generated_{key}"
    module = sys.modules.get(name)
    if module is not None:
        return module
    path = cache_dir() / f"{name}.py"
    try:
        ok = path.read_text(encoding="utf-8") == source
    except (OSError, UnicodeDecodeError):
        ok = False
    if not ok:
        _write_atomic(path, source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    log.info("loaded %s%s", path.name, f" ({reason})" if reason else "")
    return module


def purge_compiled(module) -> int:
    """Delete Numba's cache files of a generated module (after they failed to load)."""
    path = Path(module.__file__)
    removed = 0
    for f in (path.parent / "__pycache__").glob(path.stem + ".*"):
        try:
            f.unlink()
            removed += 1
        except OSError:
            pass
    return removed
