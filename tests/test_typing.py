"""Typing: every public function and method is annotated, and a user's script that uses the
public API passes `mypy --strict` (mypy reads jitgrad's annotations through py.typed; the
library's own internals are followed silently, not held to --strict)."""
from __future__ import annotations

import importlib
import inspect
import os
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
USER_SCRIPT = ROOT / "tests" / "typing" / "user_script.py"
NAMESPACES = ["jitgrad", "jitgrad.nn", "jitgrad.nn.functional", "jitgrad.nn.init", "jitgrad.optim",
              "jitgrad.optim.lr_scheduler", "jitgrad.autograd", "jitgrad.autograd.functional", "jitgrad.cuda",
              "jitgrad.viz"]


def _public_functions():
    seen = set()
    for name in NAMESPACES:
        mod = importlib.import_module(name)
        for attr in getattr(mod, "__all__", None) or [n for n in dir(mod) if not n.startswith("_")]:
            obj = getattr(mod, attr, None)
            if obj is None or isinstance(obj, types.ModuleType):
                continue
            members = []
            if inspect.isclass(obj) and obj.__module__.startswith("jitgrad"):
                for klass in obj.__mro__:
                    if not klass.__module__.startswith("jitgrad"):
                        continue
                    for member_name, member in vars(klass).items():
                        if member_name.startswith("_") and member_name not in ("__init__", "__call__"):
                            continue
                        member = getattr(member, "__func__", None) or getattr(member, "fget", None) or member
                        members.append((f"{klass.__name__}.{member_name}", member))
            else:
                members.append((f"{name}.{attr}", obj))
            for qual, fn in members:
                fn = inspect.unwrap(fn) if callable(fn) else fn
                if isinstance(fn, types.FunctionType) and fn.__module__.startswith("jitgrad") and id(fn) not in seen:
                    seen.add(id(fn))
                    yield qual, fn


def test_every_public_function_and_method_is_annotated():
    missing = []
    count = 0
    for qual, fn in _public_functions():
        count += 1
        ann = fn.__annotations__
        lacking = [p for p in inspect.signature(fn).parameters if p not in ("self", "cls") and p not in ann]
        if "return" not in ann and not qual.endswith("__init__"):
            lacking.append("return")
        if lacking:
            missing.append(f"{qual} ({fn.__module__}): {', '.join(lacking)}")
    assert count > 300, f"the walk found only {count} public functions"
    assert not missing, "public functions without annotations:\n" + "\n".join(missing)


def _mypy(path: Path) -> tuple[str, int]:
    api = pytest.importorskip("mypy.api")
    cache = os.environ.get("MYPY_CACHE_DIR", str(ROOT / ".mypy_cache"))
    stdout, stderr, status = api.run(["--strict", "--follow-imports=silent", "--cache-dir", cache,
                                      "--python-version", f"{sys.version_info.major}.{sys.version_info.minor}",
                                      str(path)])
    return stdout + stderr, status


def test_user_script_passes_mypy_strict():
    output, status = _mypy(USER_SCRIPT)
    assert status == 0, output


def test_mypy_sees_jitgrad_types_not_any(tmp_path):
    """The check can fail: wrong uses of the API are reported (jitgrad is not seen as Any)."""
    bad = tmp_path / "bad_use.py"
    bad.write_text("import jitgrad as jg\n\n"
                   "n: int = jg.zeros(2)\n"
                   "jg.sin('not a tensor')\n"
                   "jg.tensor([1.0]).sum(keepdim='yes')\n")
    output, status = _mypy(bad)
    assert status == 1
    assert 'Incompatible types in assignment (expression has type "Tensor", variable has type "int")' in output
    assert 'Argument 1 to "sin" has incompatible type "str"' in output
    assert 'Argument "keepdim" to "sum" of ' in output and 'has incompatible type "str"; expected "bool"' in output


def test_user_script_runs():
    ns = {"__name__": "user_script"}
    exec(compile(USER_SCRIPT.read_text(), str(USER_SCRIPT), "exec"), ns)
    value, grad = ns["eager_gradients"]()
    assert abs(value - 25.0) < 1e-3 and len(grad) == 25
    assert ns["train"](2) > 0
    assert ns["compiled"]().shape == (5,)
    assert len(ns["tensors"]()) == 6 and len(ns["functional_grad"]()) == 1
