"""One installed top-level package: the back end is `jitgrad._kernels` (the repository's kernels/
folder in a checkout), it imports itself relatively, nothing imports a top-level `kernels`, and
a `kernels` module of the user's (or of another distribution) does not matter. (The wheel's own
checks are in tests/test_wheel.py.)"""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import jitgrad
import jitgrad._kernels as backend

ROOT = Path(__file__).resolve().parent.parent


def _absolute_imports(folder: str, names: tuple[str, ...]) -> list[str]:
    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            mods = []
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                mods = [node.module]
            found += [f"{path.relative_to(ROOT)}:{node.lineno} {m}" for m in mods
                      if m.split(".")[0] in names]
    return found


def test_the_back_end_is_a_subpackage_of_jitgrad_made_of_the_kernels_folder():
    assert backend.__name__ == "jitgrad._kernels"
    assert Path(backend.__file__).resolve() == (ROOT / "kernels" / "__init__.py").resolve()
    from jitgrad._kernels import vmath
    assert vmath.__name__ == "jitgrad._kernels.vmath"
    assert "kernels" not in sys.modules, "a top-level `kernels` module was imported"


def test_kernels_imports_itself_relatively_and_nothing_imports_top_level_kernels():
    assert _absolute_imports("kernels", ("kernels",)) == []
    for folder in ("jitgrad", "tests", "benchmarks", "examples", "docs"):
        assert _absolute_imports(folder, ("kernels",)) == [], folder
    assert _absolute_imports("benchmarks", ("benchmarks",)) == []


def _run(code: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(1, {str(ROOT)!r}); {code}"], cwd=cwd,
                          capture_output=True, text=True, timeout=300, env=dict(os.environ, **env))


def test_import_jitgrad_with_a_kernels_module_in_the_working_directory(tmp_path):
    (tmp_path / "kernels.py").write_text("raise ImportError('the user\\'s kernels.py was imported')\n")
    pkg = tmp_path / "benchmarks"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("raise ImportError('the user\\'s benchmarks package was imported')\n")
    done = _run("import jitgrad as jg; f = jg.jit(lambda x: (x * 2).sum()); print(float(f(jg.ones(3))))", tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("6.0")


def test_a_missing_back_end_folder_is_a_clear_import_error(tmp_path):
    done = _run("import jitgrad", tmp_path, JITGRAD_KERNELS_DIR=str(tmp_path / "nowhere"))
    assert done.returncode != 0
    assert "ImportError: jitgrad's back end is missing" in done.stderr and "JITGRAD_KERNELS_DIR=" in done.stderr


def test_generated_source_imports_the_back_end_by_its_package_name():
    f = jitgrad.jit(lambda x: jitgrad.tanh(x).sum())
    source = f.source(jitgrad.ones(3))
    assert "from jitgrad._kernels import" in source and "from kernels" not in source


def test_benchmarks_run_under_both_names():
    for module in ("benchmarks", "jitgrad.benchmarks"):
        done = subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        assert f"python -m {module}" in done.stdout
