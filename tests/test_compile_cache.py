"""The disk cache of compiled kernels: never stale (its key covers the kernels/ sources that
generated code calls), and never a reason for a call to fail (unusable, full or corrupt cache
directories, processes racing to fill it, kernels Numba refuses to compile)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from kernels import cache, source_deps

ROOT = Path(__file__).resolve().parent.parent
GENERATED_HEADER = "import math\nfrom kernels import library as lib\nfrom kernels import vmath as vm\n"


def _copy_kernels(dest: Path) -> Path:
    shutil.copytree(ROOT / "kernels", dest / "kernels", ignore=shutil.ignore_patterns("__pycache__"))
    return dest / "kernels"


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_editing_a_called_kernels_source_changes_the_key(tmp_path):
    same, vmath_edited, library_edited, cuda_edited = (
        _copy_kernels(tmp_path / name) for name in ("same", "vmath", "library", "cuda"))
    _edit(vmath_edited / "vmath" / "_f32.py", "a = abs(x)\n", "a = abs(x)  # edited\n")
    _edit(library_edited / "library.py", '"""', '"""Edited. ')
    _edit(cuda_edited / "cuda" / "loops.py", '"""', '"""Edited. ')
    digest = source_deps.dependency_digest(GENERATED_HEADER)
    assert digest  # generated CPU code depends on library and vmath
    assert source_deps.dependency_digest(GENERATED_HEADER, same) == digest
    assert source_deps.dependency_digest(GENERATED_HEADER, vmath_edited) != digest
    assert source_deps.dependency_digest(GENERATED_HEADER, library_edited) != digest
    # CPU kernels do not import the CUDA target: editing it keeps their entries
    assert source_deps.dependency_digest(GENERATED_HEADER, cuda_edited) == digest


def test_the_dependency_set_follows_imports_transitively():
    files = {p.relative_to(source_deps.PACKAGE_ROOT).as_posix()
             for p in source_deps.dependency_files(source_deps.imported_modules(GENERATED_HEADER))}
    # library imports indexed (relative import); vmath/__init__ imports _f32, which imports _prims
    assert {"library.py", "indexed.py", "vmath/__init__.py", "vmath/_f32.py", "vmath/_prims.py",
            "vmath/_f64.py", "__init__.py"} <= files
    assert not any(f.startswith("cuda/") for f in files)
    assert source_deps.imported_modules("x = 1\n") == frozenset()
    assert source_deps.dependency_digest("x = 1\n") == ""


def test_the_key_mixes_in_the_dependency_digest(monkeypatch):
    text = GENERATED_HEADER + "Y = 1\n"
    before = cache.source_key(text)
    monkeypatch.setattr(source_deps, "dependency_digest", lambda source, root=None: "other sources")
    assert cache.source_key(text) != before


_TANH_SCRIPT = textwrap.dedent("""
    import sys
    sys.path[:0] = [sys.argv[1], sys.argv[2]]
    import numpy as np
    import kernels, jitgrad as jg
    assert kernels.__file__.startswith(sys.argv[1]), kernels.__file__
    x = np.linspace(-2, 2, 9, dtype=np.float32)
    print(repr(jg.jit(lambda x: jg.tanh(x))(x).tolist()))
""")


def _tanh_in_new_process(package_parent: Path, cache_dir: Path) -> list:
    env = dict(os.environ, JITGRAD_CACHE_DIR=str(cache_dir), NUMBA_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", _TANH_SCRIPT, str(package_parent), str(ROOT)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    return eval(done.stdout.strip().splitlines()[-1])


def test_a_new_process_with_an_edited_vmath_function_computes_with_it(tmp_path):
    kernels = _copy_kernels(tmp_path / "pkg")
    x = np.linspace(-2, 2, 9, dtype=np.float32)
    first = _tanh_in_new_process(kernels.parent, tmp_path / "cache")
    np.testing.assert_allclose(first, np.tanh(x), rtol=1e-6, atol=1e-7)
    _edit(kernels / "vmath" / "_f32.py", "    a = abs(x)\n    z = x * x\n", "    return x * F32(0.0) + F32(0.25)\n    a = abs(x)\n    z = x * x\n")
    second = _tanh_in_new_process(kernels.parent, tmp_path / "cache")  # same cache directory
    assert second == [0.25] * 9
