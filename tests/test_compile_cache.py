"""The disk cache of compiled kernels: never stale (its key covers the kernels/ sources that
generated code calls), and never a reason for a call to fail (unusable, full or corrupt cache
directories, processes racing to fill it, kernels Numba refuses to compile)."""
from __future__ import annotations

import errno
import importlib.util
import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
import uuid
import warnings
from pathlib import Path

import numpy as np
import pytest

import jitgrad as jg
from jitgrad._kernels import cache, source_deps

ROOT = Path(__file__).resolve().parent.parent
GENERATED_HEADER = ("import math\nfrom jitgrad._kernels import library as lib\n"
                    "from jitgrad._kernels import vmath as vm\n")


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


# The copy of the back end is found first on sys.path (as the top-level `kernels`), or named by
# JITGRAD_KERNELS_DIR (as `jitgrad._kernels`, the name it has inside jitgrad).
_TANH_SCRIPT = textwrap.dedent("""
    import sys
    sys.path[:0] = [sys.argv[1], sys.argv[2]]
    import numpy as np
    import jitgrad as jg
    backend = sys.modules.get("jitgrad._kernels") or sys.modules["kernels"]
    assert backend.__file__.startswith(sys.argv[1]), backend.__file__
    x = np.linspace(-2, 2, 9, dtype=np.float32)
    print(repr(jg.jit(lambda x: jg.tanh(x))(x).tolist()))
""")


def _tanh_in_new_process(package_parent: Path, cache_dir: Path) -> list:
    env = dict(os.environ, JITGRAD_CACHE_DIR=str(cache_dir), NUMBA_NUM_THREADS="1",
               JITGRAD_KERNELS_DIR=str(package_parent / "kernels"))
    done = subprocess.run([sys.executable, "-c", _TANH_SCRIPT, str(package_parent), str(ROOT)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    return eval(done.stdout.strip().splitlines()[-1])


def test_a_new_process_with_an_edited_vmath_function_computes_with_it(tmp_path):
    kernels = _copy_kernels(tmp_path / "pkg")
    x = np.linspace(-2, 2, 9, dtype=np.float32)
    first = _tanh_in_new_process(kernels.parent, tmp_path / "cache")
    np.testing.assert_allclose(first, np.tanh(x), rtol=1e-6, atol=1e-7)
    body = "    a = abs(x)\n    ac = _TANH_ONE if a > _TANH_ONE else a\n"   # tanh_f32's first lines
    _edit(kernels / "vmath" / "_f32.py", body, "    return x * F32(0.0) + F32(0.25)\n" + body)
    second = _tanh_in_new_process(kernels.parent, tmp_path / "cache")  # same cache directory
    assert second == [0.25] * 9


_VMATH_HITS_SCRIPT = _TANH_SCRIPT + textwrap.dedent("""
    print(sum(backend.vmath.tanh_f32.stats.cache_hits.values()))
""")


def _tanh_and_vmath_hits(package_parent: Path, cache_dir: Path) -> tuple[list, int]:
    env = dict(os.environ, JITGRAD_CACHE_DIR=str(cache_dir), NUMBA_NUM_THREADS="1",
               JITGRAD_KERNELS_DIR=str(package_parent / "kernels"))
    done = subprocess.run([sys.executable, "-c", _VMATH_HITS_SCRIPT, str(package_parent), str(ROOT)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    *_, values, hits = done.stdout.strip().splitlines()
    return eval(values), int(hits)


def test_vmath_functions_load_from_disk_until_any_vmath_source_changes(tmp_path):
    # A new process (even with an empty kernel cache) loads vm.tanh_f32 instead of compiling it;
    # an edit to _prims.py -- not tanh_f32's own file, which is all Numba checks -- is seen.
    kernels = _copy_kernels(tmp_path / "pkg")
    x = np.linspace(-2, 2, 9, dtype=np.float32)
    first, hits = _tanh_and_vmath_hits(kernels.parent, tmp_path / "cache1")
    np.testing.assert_allclose(first, np.tanh(x), rtol=1e-6, atol=1e-7)
    assert hits == 0
    again, hits = _tanh_and_vmath_hits(kernels.parent, tmp_path / "cache2")
    assert again == first and hits == 1
    _edit(kernels / "vmath" / "_prims.py", "    p = c[len(c) - 1]\n    for i in range(len(c) - 2, -1, -1):\n",
          "    return z - z\n    p = c[len(c) - 1]\n    for i in range(len(c) - 2, -1, -1):\n")  # horner: 0
    edited, hits = _tanh_and_vmath_hits(kernels.parent, tmp_path / "cache3")
    assert hits == 0
    np.testing.assert_allclose(edited, np.where(abs(x) < 0.625, x, np.sign(x)))


def test_the_vmath_stamp_covers_the_whole_package(tmp_path):
    from jitgrad._kernels import vmath
    same, edited = (_copy_kernels(tmp_path / name) for name in ("same", "edited"))
    _edit(edited / "vmath" / "_prims.py", '"""', '"""Edited. ')
    assert vmath.stamp(same) == vmath.stamp()
    assert vmath.stamp(edited) != vmath.stamp()
    assert vmath.tanh_f32._cache._cache_file._source_stamp[1] == vmath.stamp()


# --- bad input: unusable, full, missing or corrupt cache directories ---------------------------


def _kernel_module_text(k: float) -> str:
    return (f"import numba\n\n\n@numba.njit(cache=True)\ndef scale(x):\n    return x * {k!r}\n")


def _unique() -> float:
    return float(uuid.uuid4().int % 10**6) + 0.5


@pytest.mark.parametrize("garbage", [b"", b"\x80\x04garbage", b"not a pickle at all" * 50],
                         ids=["empty", "truncated", "noise"])
def test_corrupt_numba_cache_files_are_a_miss(garbage, tmp_path, monkeypatch):
    monkeypatch.setenv("JITGRAD_CACHE_DIR", str(tmp_path))
    k = _unique()
    text = _kernel_module_text(k)
    module = cache.load_module(text)
    assert module.scale(2.0) == 2.0 * k  # compiled, and saved next to the source
    files = sorted((Path(module.__file__).parent / "__pycache__").glob(Path(module.__file__).stem + ".*"))
    assert {f.suffix for f in files} == {".nbi", ".nbc", ".pyc"}  # (Numba's and the module's bytecode)
    for f in files:
        f.write_bytes(garbage)
    cache.forget(module)
    again = cache.load_module(text)  # a new process would see the same files
    assert again is not module
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert again.scale(3.0) == 3.0 * k


def test_generated_bytecode_is_kept_even_where_python_writes_none(tmp_path, monkeypatch):
    """A long program's module is compiled to bytecode once (PYTHONDONTWRITEBYTECODE or not): a new
    process imports it without compiling its text again; a stale or corrupt bytecode file is ignored."""
    monkeypatch.setenv("JITGRAD_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    k = _unique()
    text = _kernel_module_text(k)
    module = cache.load_module(text)
    pyc = Path(importlib.util.cache_from_source(module.__file__))
    assert pyc.is_file()
    pyc.write_bytes(b"garbage")
    cache.forget(module)
    assert cache.load_module(text).scale(2.0) == 2.0 * k


def test_a_corrupt_data_file_behind_a_valid_index_is_a_miss(tmp_path, monkeypatch):
    monkeypatch.setenv("JITGRAD_CACHE_DIR", str(tmp_path))
    k = _unique()
    text = _kernel_module_text(k)
    module = cache.load_module(text)
    module.scale(1.0)
    for f in (Path(module.__file__).parent / "__pycache__").glob("*.nbc"):
        f.write_bytes(f.read_bytes()[:40])
    cache.forget(module)
    assert cache.load_module(text).scale(2.0) == 2.0 * k


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EROFS, errno.EACCES], ids=["full", "read-only", "denied"])
def test_a_cache_that_cannot_be_written_compiles_in_memory_with_one_warning(error, tmp_path, monkeypatch):
    monkeypatch.setenv("JITGRAD_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(cache, "_warned_no_disk", False)

    def refuse(path, text):
        raise OSError(error, os.strerror(error), str(path))

    monkeypatch.setattr(cache, "_write_atomic", refuse)
    k1, k2 = _unique(), _unique()
    x = np.linspace(0, 1, 5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = jg.jit(lambda x: jg.exp(x) * k1)(x)
        b = jg.jit(lambda x: jg.exp(x) - k2)(x)
    np.testing.assert_allclose(a, np.exp(x) * k1, rtol=1e-12)
    np.testing.assert_allclose(b, np.exp(x) - k2, rtol=1e-12)
    mine = [str(w.message) for w in caught if "JITGRAD_CACHE_DIR" in str(w.message)]
    assert len(mine) == 1 and os.strerror(error) in mine[0], [str(w.message) for w in caught]


def test_numba_failing_to_save_machine_code_never_fails_a_call(tmp_path, monkeypatch):
    from numba.core import caching
    monkeypatch.setenv("JITGRAD_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(cache, "_warned_no_disk", False)

    def disk_full(self, key, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(caching.IndexDataCacheFile, "save", disk_full)
    k1, k2 = _unique(), _unique()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert cache.load_module(_kernel_module_text(k1)).scale(2.0) == 2.0 * k1
        assert cache.load_module(_kernel_module_text(k2)).scale(2.0) == 2.0 * k2
    mine = [str(w.message) for w in caught if "JITGRAD_CACHE_DIR" in str(w.message)]
    assert len(mine) == 1 and "No space left" in mine[0]


def test_a_missing_cache_directory_is_created(tmp_path, monkeypatch):
    target = tmp_path / "not" / "there" / "yet"
    monkeypatch.setenv("JITGRAD_CACHE_DIR", str(target))
    k = _unique()
    x = np.linspace(0, 1, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(jg.jit(lambda x: jg.sin(x) + k)(x), np.sin(x) + k, rtol=1e-12)
    assert list(target.rglob("jitgrad_generated_*.py"))


_RACE_SCRIPT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, sys.argv[1])
    import numpy as np
    import jitgrad as jg
    start_at = float(sys.argv[2])
    x = np.linspace(-1, 1, 33)
    f = jg.value_and_grad(lambda x: (jg.tanh(x) * jg.exp(x) + 0.125).sum())
    while time.time() < start_at:  # both processes compile at the same moment
        time.sleep(0.001)
    value, grad = f(x)
    expected = np.tanh(x) * np.exp(x) + 0.125
    assert np.isclose(value, expected.sum(), rtol=1e-12), value
    assert np.allclose(grad, (1 - np.tanh(x) ** 2) * np.exp(x) + np.tanh(x) * np.exp(x), rtol=1e-12)
    print("ok")
""")


def test_two_processes_fill_one_empty_cache_at_once(tmp_path):
    env = dict(os.environ, JITGRAD_CACHE_DIR=str(tmp_path / "cache"), NUMBA_NUM_THREADS="1")
    start_at = time.time() + 6.0  # (after both have imported jitgrad)
    procs = [subprocess.Popen([sys.executable, "-c", _RACE_SCRIPT, str(ROOT), str(start_at)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0 and out.strip() == "ok", err
    # and what they left is a valid cache for a third process
    third = subprocess.run([sys.executable, "-c", _RACE_SCRIPT, str(ROOT), "0"], env=env, capture_output=True,
                           text=True, timeout=300)
    assert third.returncode == 0 and third.stdout.strip() == "ok", third.stderr


_WARM_SCRIPT = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, sys.argv[1])
    import numpy as np
    import jitgrad as jg
    a = np.linspace(-1, 1, 48 * 32).reshape(48, 32).astype(np.float32)
    b = np.cos(np.arange(32 * 8, dtype=np.float32)).reshape(32, 8)
    v, (ga, gb) = jg.value_and_grad(lambda a, b: jg.tanh(a @ b).sum(), argnums=(0, 1))(a, b)
    d = 1 - np.tanh(a @ b) ** 2
    assert np.isclose(v, np.tanh(a @ b).sum(), rtol=1e-4) and np.allclose(ga, d @ b.T, atol=1e-4)
    big = np.linspace(0, 1, 1 << 18)  # a parallel loop (above the threshold, 2 threads)
    assert np.allclose(jg.grad(lambda x: (jg.sin(x) * x).sum())(big), np.cos(big) * big + np.sin(big))
    take = jg.jit(lambda t, i: t[i] * 2)
    try:
        take(jg.tensor(b), jg.tensor(np.array([1, 40])))
        raised = ""
    except IndexError as e:
        raised = str(e)
    print(json.dumps({"raised": raised, "registries": "numba.np.arraymath" in sys.modules}))
""")


def test_a_warm_process_runs_cached_kernels_without_numbas_compiler_registries(tmp_path):
    """A new process whose kernels are all on disk loads them without Numba's registry refresh
    (~0.25 s): BLAS calls, parallel loops and a bounds error raised inside a kernel all work."""
    env = dict(os.environ, JITGRAD_CACHE_DIR=str(tmp_path / "cache"), NUMBA_NUM_THREADS="2")
    runs = [subprocess.run([sys.executable, "-c", _WARM_SCRIPT, str(ROOT)], env=env, capture_output=True,
                           text=True, timeout=600) for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr
    cold, warm = (json.loads(run.stdout.strip().splitlines()[-1]) for run in runs)
    assert cold["registries"] and not warm["registries"]
    assert "40" in warm["raised"] and warm["raised"] == cold["raised"]


# --- a kernel Numba fails to compile --------------------------------------------------------------


def test_a_kernel_numba_cannot_compile_is_a_reported_bug_and_runs_in_the_interpreter(tmp_path, monkeypatch):
    from jitgrad._kernels import cpu
    monkeypatch.setenv("JITGRAD_CACHE_DIR", str(tmp_path))
    render = cpu.render

    def broken(program, threshold=None):
        text = render(program, threshold)
        head = f"def {program.name}("
        start = text.index(head)
        body = text.index(":\n", start) + 2
        return text[:body] + "    _injected = np.no_such_function(1)\n" + text[body:]

    monkeypatch.setattr(cpu, "render", broken)
    k = _unique()
    x = np.linspace(0, 1, 7)
    with pytest.warns(RuntimeWarning, match="jitgrad bug") as caught:
        got = jg.jit(lambda x: jg.cos(x) * k)(x)
    np.testing.assert_allclose(got, np.cos(x) * k, rtol=1e-12)
    message = next(str(w.message) for w in caught if "jitgrad bug" in str(w.message))
    path = message.split("the generated source is ")[1].split(";")[0]
    assert Path(path).is_file() and "np.no_such_function" in Path(path).read_text()


# --- what a compile costs: JITGRAD_LOG=compile and the progress line ----------------------------


def test_the_compile_log_gives_numba_typing_and_llvm_time_of_the_first_call(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("JITGRAD_CACHE_DIR", str(tmp_path))
    k = _unique()
    x = np.linspace(0, 1, 5)
    with caplog.at_level(logging.INFO, logger="jitgrad.compile"):
        jg.jit(lambda x: jg.tanh(x) * k)(x)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("first call of")]
    assert len(lines) == 1, [r.getMessage() for r in caplog.records]
    found = re.search(r"Numba typing and passes ([\d.]+) s, LLVM ([\d.]+) s \(1 of 1 programs compiled", lines[0])
    assert found, lines[0]
    typing, llvm = map(float, found.groups())
    assert typing > 0 and llvm > 0  # (the old log said "0.00 s": Numba compiles at the first call)
    assert any(r.getMessage().startswith("traced jit") for r in caplog.records)


def test_a_long_compile_prints_one_progress_line_when_logging(tmp_path, monkeypatch, capsys):
    from jitgrad import compile_log
    monkeypatch.setenv("JITGRAD_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("JITGRAD_LOG", "compile")
    monkeypatch.setattr(compile_log, "PROGRESS_AFTER", 0.0)  # every compile counts as long
    k = _unique()
    jg.jit(lambda x: jg.exp(x) + k)(np.ones(3))
    err = capsys.readouterr().err
    assert re.search(r"\[jitgrad\] compiling jit__lambda_\w*: \d/1 programs", err), err
    assert re.search(r"\[jitgrad\] compiled jit__lambda_\w*: 1 programs in [\d.]+ s\n", err), err


def test_no_progress_line_in_a_pipe_without_logging(tmp_path, monkeypatch, capsys):
    from jitgrad import compile_log
    monkeypatch.setenv("JITGRAD_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("JITGRAD_LOG", raising=False)
    monkeypatch.setattr(compile_log, "PROGRESS_AFTER", 0.0)
    jg.jit(lambda x: jg.exp(x) * _unique())(np.ones(3))
    assert "compiling" not in capsys.readouterr().err


def test_the_progress_line_is_rewritten_in_place_on_a_terminal(monkeypatch):
    from jitgrad import compile_log

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(compile_log, "PROGRESS_AFTER", 0.0)
    screen = Terminal()
    progress = compile_log._Progress("step", 3, stream=screen)
    for done in (1, 2, 3):
        progress.update(done)
    progress.finish()
    text = screen.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")  # one line, finished once
    assert "\r[jitgrad] compiling step: 2/3 programs" in text and "compiled step: 3 programs" in text


def test_library_functions_are_stamped_with_the_sources_they_call(tmp_path):
    """lib.matmul2d links kernels.blas's code into its cached machine code: its disk cache (and
    blas's and conv's) is valid only for the sources library.py imports, blas.py included."""
    from jitgrad._kernels import blas, conv, library, source_deps
    text = f"from {source_deps.PACKAGE} import library\n"
    stamp = source_deps.dependency_digest(text)
    for fn in (library.matmul2d, blas.gemm, blas.matmul, conv.conv2d):
        assert fn._cache._cache_file._source_stamp[1] == stamp, fn
    same, edited = (_copy_kernels(tmp_path / name) for name in ("same", "edited"))
    _edit(edited / "blas.py", '"""', '"""Edited. ')
    assert source_deps.dependency_digest(text, same) == stamp
    assert source_deps.dependency_digest(text, edited) != stamp
