"""Where the disk cache lives and how its files are written: the part of kernels.cache that
modules it loads (kernels.piece_calls, kernels.piece_ir) use too, kept apart so that they do not
import the cache module that imports them."""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numba

KERNELS_VERSION = "1"


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


def write_atomic_bytes(path: Path, data: bytes) -> None:
    """Write a cache file so that readers see the old file or the whole new one, never a part
    (temporary file + rename: concurrent writers are safe)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
