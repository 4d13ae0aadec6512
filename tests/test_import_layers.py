"""Imports follow the data flow: kernels/ imports nothing from jitgrad, and a jitgrad module
imports only modules earlier in LAYERS (parsed with ast, so nothing is executed)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# A module may import only modules listed before it (a package counts as one entry).
LAYERS = ["unsupported", "dtypes", "shapes", "devices", "grad_mode", "templates", "graph", "core", "prims_conv", "prims_promotion", "prims_device", "prims_elementwise",
          "prims_index", "prims_shape", "prims_reduce", "prims_matmul", "prims", "autodiff",
          "inplace",
          "printing",
          "tensor_ops", "tensor_inplace", "tensor", "creation", "autograd", "tree", "ir", "trace", "interpret", "adjoint", "transforms",
          "simplify", "fuse", "lower_calls", "lower", "cuda", "buffer_pool", "call_cache", "compile_log", "executable", "call_args", "compiled_backward", "compiled", "distributed", "nn", "models",
          "optim", "tape",
          "viz", "utils", "serialization"]


def _imports(path: Path, package: list[str], top_level_only: bool) -> list[tuple[int, str]]:
    """(line, dotted module name) for each import; `package` is the module's own dotted parts."""
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            if node.module:
                found.append((node.lineno, mod))
            else:  # from . import a, b: each name is a module
                found += [(node.lineno, f"{mod}.{alias.name}") for alias in node.names]
    return found


def _jitgrad_files():
    for path in sorted((ROOT / "jitgrad").rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        yield path, parts


def _layer(dotted: str) -> str | None:
    """The LAYERS entry of a jitgrad module name (jitgrad.autograd.grad -> autograd)."""
    parts = dotted.split(".")
    if parts[0] != "jitgrad" or len(parts) < 2:
        return None
    return parts[1]


def test_kernels_import_nothing_from_jitgrad():
    bad = []
    for path in sorted((ROOT / "kernels").rglob("*.py")):
        package = list(path.relative_to(ROOT).with_suffix("").parts)
        for line, mod in _imports(path, package, top_level_only=False):
            if mod == "jitgrad" or mod.startswith("jitgrad."):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {mod}")
    assert not bad, "kernels/ must not import jitgrad (kernels/spec.py is the contract):\n" + "\n".join(bad)


def _edges(top_level_only: bool):
    rank = {name: i for i, name in enumerate(LAYERS)}
    backward, unlisted = [], set()
    for path, parts in _jitgrad_files():
        own = parts[1] if len(parts) > 1 else None
        if own in (None, "__init__"):
            continue
        if own not in rank:
            unlisted.add(own)
            continue
        for line, mod in _imports(path, parts, top_level_only):
            target = _layer(mod)
            if target is None or target == own:
                continue
            if target not in rank:
                unlisted.add(target)
                continue
            if rank[target] > rank[own]:
                backward.append(f"{path.relative_to(ROOT)}:{line} ({own}) imports {mod} ({target})")
    return backward, unlisted


def test_jitgrad_imports_follow_the_layers(capsys):
    backward, unlisted = _edges(top_level_only=True)
    lazy, _ = _edges(top_level_only=False)
    with capsys.disabled():
        print(f"\n[import layers] modules not in LAYERS (not checked): {sorted(unlisted)}")
        extra = sorted(set(lazy) - set(backward))
        if extra:
            print("[import layers] function-level imports against the order (allowed, to break cycles):")
            print("\n".join("    " + e for e in extra))
    assert not backward, "module-level imports against the data-flow order:\n" + "\n".join(backward)


@pytest.mark.parametrize("source, package, expected", [
    ("from .core import bind", ["jitgrad", "prims"], ["jitgrad.core"]),
    ("from . import dtypes, shapes", ["jitgrad", "prims"], ["jitgrad.dtypes", "jitgrad.shapes"]),
    ("from ..autodiff import grad", ["jitgrad", "autograd", "gradcheck"], ["jitgrad.autodiff"]),
    ("import numpy as np", ["jitgrad", "prims"], ["numpy"]),
])
def test_import_resolution(tmp_path, source, package, expected):
    """The parser resolves relative imports the way Python does."""
    f = tmp_path / "m.py"
    f.write_text(source + "\n")
    assert [m for _, m in _imports(f, package, True)] == expected
