"""Quick start as a new user gets it: build the wheel, install it into a fresh virtualenv (not
editable) and run the README's first examples there. The checks of issue #17 item 1 (the wheel
installs only `jitgrad`; a `kernels.py` in the working directory or another distribution's
`kernels` package does not break `import jitgrad`; `python -m jitgrad.benchmarks`) run on the
wheel, where the back end is `jitgrad._kernels`.

Set JITGRAD_SKIP_WHEEL_TEST=1 to skip (it builds and installs, ~1 minute). The virtualenv sees
this interpreter's site-packages through a .pth line, so NumPy/Numba/SciPy need no download."""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

import jitgrad

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

pytestmark = pytest.mark.skipif(os.environ.get("JITGRAD_SKIP_WHEEL_TEST") == "1",
                                reason="JITGRAD_SKIP_WHEEL_TEST=1")

_IGNORE = shutil.ignore_patterns(".git", ".venv*", "build", "dist", "__pycache__", "*.egg-info", ".mypy_cache",
                                 ".ruff_cache", ".pytest_cache", ".hypothesis", "_build", "results")


def _setuptools_is_new_enough() -> bool:
    if importlib.util.find_spec("setuptools") is None:
        return False
    import setuptools
    return int(setuptools.__version__.split(".")[0]) >= 77


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from a copy of the working tree (the tree itself gets no build/ folder)."""
    src = tmp_path_factory.mktemp("src") / "jitgrad"
    shutil.copytree(ROOT, src, ignore=_IGNORE)
    out = tmp_path_factory.mktemp("wheel")
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)]
    if _setuptools_is_new_enough():
        cmd.insert(4, "--no-build-isolation")  # offline; otherwise pip fetches setuptools
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600)
    (found,) = out.glob("jitgrad-*.whl")
    return found


def test_wheel_holds_jitgrad_typed_with_its_licence(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    dist_info = f"jitgrad-{jitgrad.__version__}.dist-info/"
    for needed in ("jitgrad/__init__.py", "jitgrad/py.typed", f"{dist_info}licenses/LICENSE", f"{dist_info}METADATA"):
        assert needed in names, needed
    assert not any(n.startswith("tests/") or n.endswith(".pyc") for n in names)


def test_wheel_holds_only_the_jitgrad_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    dist_info = f"jitgrad-{jitgrad.__version__}.dist-info/"
    strays = [n for n in names if not (n.startswith("jitgrad/") or n.startswith(dist_info))]
    assert not strays, f"files outside jitgrad/ in the wheel: {strays[:10]}"
    for needed in ("jitgrad/py.typed", "jitgrad/_kernels/__init__.py", "jitgrad/_kernels/vmath/__init__.py",
                   "jitgrad/benchmarks/__main__.py", f"{dist_info}licenses/LICENSE", f"{dist_info}METADATA"):
        assert needed in names, needed
    assert not any("/tests/" in n or n.endswith(".pyc") for n in names)


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh virtualenv with the wheel installed (offline, no deps: they come from this
    interpreter's site-packages)."""
    env = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True, timeout=300)
    python = env / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    # Dependencies from this interpreter (a plain path line: its .pth files, e.g. an editable
    # install of this checkout, are not processed).
    paths = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "zz_host_site_packages.pth").write_text("\n".join(sorted(paths)) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q",
                    str(wheel)], check=True, capture_output=True, text=True, timeout=300)
    return env


def _run(venv: Path, code: str, cwd: Path, timeout: int = 600, path: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    if path is not None:
        env["PYTHONPATH"] = str(path)
    env["JITGRAD_CACHE_DIR"] = str(cwd / "jitgrad-cache")
    return subprocess.run([str(venv / "bin" / "python"), "-c", code], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_readme_quick_start_runs_from_the_installed_wheel(venv, tmp_path):
    """The README's first examples, run against the installed wheel (not this checkout)."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)[:2]
    code = "\n".join(blocks) + "\n" + (
        "import jitgrad\n"
        "assert 'site-packages' in jitgrad.__file__, jitgrad.__file__\n"
        "print('QUICKSTART-OK', float(loss), jitgrad.__file__)\n")
    done = _run(venv, code, tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "QUICKSTART-OK" in done.stdout


def test_import_jitgrad_with_a_kernels_module_in_the_working_directory(venv, tmp_path):
    (tmp_path / "kernels.py").write_text("raise ImportError('the user\\'s kernels.py was imported')\n")
    done = _run(venv, "import jitgrad; print(jitgrad.jit(lambda x: (x * 2).sum())(jitgrad.ones(3)).item())", tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_another_distributions_kernels_package_is_left_alone(venv, tmp_path):
    other = tmp_path / "other-site" / "kernels"  # another distribution's top-level `kernels` (a GPU-kernel hub)
    other.mkdir(parents=True)
    (other / "__init__.py").write_text("OTHER_DISTRIBUTION = True\n")
    code = ("import jitgrad, kernels\n"
            "assert getattr(kernels, 'OTHER_DISTRIBUTION', False), 'jitgrad replaced the other kernels package'\n"
            "print('BOTH-OK', jitgrad.jit(lambda x: (x * 2).sum())(jitgrad.ones(3)).item())\n")
    done = _run(venv, code, tmp_path, path=other.parent)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "BOTH-OK 6.0" in done.stdout


def test_installed_benchmarks_write_to_the_working_directory(venv, tmp_path):
    code = ("import sys, runpy, pathlib, jitgrad.benchmarks.harness as h\n"
            "assert h.RESULTS_DIR == pathlib.Path.cwd(), h.RESULTS_DIR\n"
            "sys.argv = ['jitgrad.benchmarks', '--help']\n"
            "runpy.run_module('jitgrad.benchmarks', run_name='__main__')\n")
    done = _run(venv, code, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "python -m jitgrad.benchmarks" in done.stdout and "else the current" in done.stdout
