"""Imports follow the data flow: kernels/ imports nothing from jitgrad; a jitgrad module imports
only modules earlier in LAYERS, at module level and inside functions alike; and no chain of
imports (function-level ones included) leads from a module back to itself. Parsed with ast, so
nothing is executed (the parser and the cycle search are benchmarks/arch_report.py's, which prints
the graph and the module sizes)."""
from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.arch_report import find_cycles, import_graph
from benchmarks.arch_report import imports as _imports

ROOT = Path(__file__).resolve().parent.parent
# A module may import only modules listed before it (a package counts as one entry).
LAYERS = ["_layout", "_kernels",  # jitgrad/_layout.py; jitgrad._kernels is kernels/
          "version", "unsupported", "dtypes", "shapes", "devices", "grad_mode", "generator", "templates",
          "autograd_graph", "core", "_typing", "interop", "prims_conv", "prims_promotion", "prims_device",
          "prims_elementwise", "prims_mask", "prims_index", "prims_shape", "prims_reduce", "prims_matmul", "prims_math",
          "prims_scan", "prims", "vjp_replay", "math_ops", "shape_ops", "reduce_ops", "linalg_ops", "random_ops",
          "autodiff",
          "inplace", "tensor_methods", "printing", "tensor_ops", "tensor_inplace", "tensor", "creation", "autograd",
          "tree", "fingerprint", "ir", "step_effects", "alias_reads", "tracing", "interpret", "adjoint", "transforms",
          "simplify", "fuse",
          "lower_calls", "lower", "lower_inplace", "cuda", "buffer_pool", "call_cache", "compile_log", "executable",
          "lean_guards",
          "call_args", "lean_step",
          "compiled_backward", "lean_grad", "frontend_cache", "compiled", "loops", "distributed", "nn", "models",
          "optim", "tape", "viz", "utils",
          "serialization"]


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
    """Function-level imports count too: a lazy import against the order is a hidden cycle (a back
    end loaded on first use is reached through devices.register_backend, not imported)."""
    backward, unlisted = _edges(top_level_only=False)
    with capsys.disabled():
        print(f"\n[import layers] modules not in LAYERS (not checked): {sorted(unlisted)}")
    assert not backward, "imports against the data-flow order:\n" + "\n".join(backward)


def test_no_import_cycles():
    """No module reaches itself through imports, module-level or inside functions, in jitgrad/
    and kernels/ (a lazy import that closes a cycle hides a wrong dependency direction)."""
    cycles = find_cycles(import_graph(ROOT))
    assert not cycles, "import cycles:\n" + "\n".join("    " + " -> ".join(c) for c in cycles)


def test_find_cycles_reports_each_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"f"}, "f": {"e"}, "g": set()}
    assert sorted(find_cycles(graph)) == [["a", "b", "c", "a"], ["e", "f", "e"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


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


def test_arch_report_prints_the_graph_and_sizes(capsys, tmp_path):
    """benchmarks/arch_report.py: the graph with no cycles, and sizes beside an older tree's."""
    from benchmarks import arch_report
    old = tmp_path / "old"
    (old / "jitgrad").mkdir(parents=True)
    (old / "kernels").mkdir()
    (old / "jitgrad" / "a.py").write_text("from . import b\n")
    (old / "jitgrad" / "b.py").write_text("def f():\n    from . import a\n")  # a cycle through a lazy import
    assert arch_report.main(["--root", str(old), "--graph"]) == 1
    out = capsys.readouterr().out
    assert "a -> b" in out and "jitgrad.a -> jitgrad.b -> jitgrad.a" in out
    assert arch_report.main(["--before", str(old), "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert "cycles: none" in out and "before  after  module" in out
    assert "(before: 3 lines in 2 modules, 0 over 500)" in out
