"""The back end's name in a checkout. Installed, kernels/ and benchmarks/ are the subpackages
jitgrad/_kernels and jitgrad/benchmarks (setup.py maps them); in the repository they stay at the
top level, and this finder gives those folders the installed names, so every module imports
`jitgrad._kernels` whether jitgrad runs from a checkout, an editable install or a wheel. Runs
first in jitgrad/__init__.py, before anything imports the back end.

JITGRAD_KERNELS_DIR names another back-end folder to import as `jitgrad._kernels` (a developer's
edited copy of kernels/; tests/test_compile_cache.py uses it)."""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

_PACKAGE = Path(__file__).resolve().parent
_REPOSITORY = _PACKAGE.parent
BACK_END = "jitgrad._kernels"
OVERRIDE = "JITGRAD_KERNELS_DIR"


def _folders() -> dict[str, Path]:
    """Installed name -> the folder it is read from in this process."""
    kernels = os.environ.get(OVERRIDE)
    return {BACK_END: Path(kernels).resolve() if kernels else _REPOSITORY / "kernels",
            "jitgrad.benchmarks": _REPOSITORY / "benchmarks"}


FOLDERS = _folders()


class CheckoutFinder(importlib.abc.MetaPathFinder):
    """Finds jitgrad._kernels / jitgrad.benchmarks in the repository's kernels/ and benchmarks/
    folders; their submodules are then found through the package's __path__ as usual."""

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        folder = FOLDERS.get(fullname)
        if folder is None or not (folder / "__init__.py").is_file():
            return None
        return importlib.util.spec_from_file_location(fullname, folder / "__init__.py",
                                                      submodule_search_locations=[str(folder)])


def install() -> None:
    """Add the finder unless the subpackages are installed inside jitgrad (a wheel) and no
    other back-end folder is asked for."""
    if (_PACKAGE / "_kernels" / "__init__.py").is_file() and not os.environ.get(OVERRIDE):
        return
    if not (FOLDERS[BACK_END] / "__init__.py").is_file():
        where = f"{OVERRIDE}={FOLDERS[BACK_END]}" if os.environ.get(OVERRIDE) else str(FOLDERS[BACK_END])
        raise ImportError(f"jitgrad's back end is missing: neither {_PACKAGE / '_kernels'} (installed) nor "
                          f"{where} (a checkout's kernels/ folder) holds an __init__.py; reinstall jitgrad")
    if not any(isinstance(finder, CheckoutFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, CheckoutFinder())


install()
