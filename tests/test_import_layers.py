"""Imports follow the data flow: kernels/ imports nothing from jitgrad; a jitgrad module imports
only modules earlier in LAYERS, at module level and inside functions alike; and no chain of
imports (function-level ones included) leads from a module back to itself. Parsed with ast, so
nothing is executed."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# A module may import only modules listed before it (a package counts as one entry).
LAYERS = ["version", "unsupported", "dtypes", "shapes", "devices", "grad_mode", "generator", "templates",
          "autograd_graph", "core", "_typing", "interop", "prims_conv", "prims_promotion", "prims_device",
          "prims_elementwise", "prims_index", "prims_shape", "prims_reduce", "prims_matmul", "prims_math",
          "prims_scan", "prims", "math_ops", "shape_ops", "reduce_ops", "linalg_ops", "random_ops", "autodiff",
          "inplace", "tensor_methods", "printing", "tensor_ops", "tensor_inplace", "tensor", "creation", "autograd",
          "tree", "ir", "step_effects", "tracing", "interpret", "adjoint", "transforms", "simplify", "fuse",
          "lower_calls", "lower", "cuda", "buffer_pool", "call_cache", "compile_log", "executable", "call_args",
          "compiled_backward", "compiled", "loops", "distributed", "nn", "models", "optim", "tape", "viz", "utils",
          "serialization"]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _type_only_nodes(tree: ast.AST) -> set[int]:
    """Nodes under `if TYPE_CHECKING:`: imports there never run (annotations only), so they are
    not part of the data flow and close no cycle."""
    return {id(inner) for node in ast.walk(tree) if isinstance(node, ast.If) and _is_type_checking(node.test)
            for stmt in node.body for inner in ast.walk(stmt)}


def _imports(path: Path, package: list[str], top_level_only: bool) -> list[tuple[int, str]]:
    """(line, dotted module name) for each import; `package` is the module's own dotted parts."""
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    type_only = _type_only_nodes(tree)
    found = []
    for node in nodes:
        if id(node) in type_only:
            continue
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
    """Function-level imports count too: a lazy import against the order is a hidden cycle (a back
    end loaded on first use is reached through devices.register_backend, not imported)."""
    backward, unlisted = _edges(top_level_only=False)
    with capsys.disabled():
        print(f"\n[import layers] modules not in LAYERS (not checked): {sorted(unlisted)}")
    assert not backward, "imports against the data-flow order:\n" + "\n".join(backward)


def _module_names() -> dict[str, Path]:
    """Dotted name -> file of every module in jitgrad/ and kernels/ (a package is its __init__)."""
    found = {}
    for top in ("jitgrad", "kernels"):
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports anywhere in its text (`from p import m` of a
    submodule m is an edge to p.m; `from . import name` of a package attribute, an edge to the
    package, whose __init__ imports its modules)."""
    modules = _module_names()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name.split(".") + (["__init__"] if path.name == "__init__.py" else [])
        tree = ast.parse(path.read_text(), filename=str(path))
        type_only = _type_only_nodes(tree)
        targets = set()
        for node in ast.walk(tree):
            if id(node) in type_only:
                continue
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = package[:len(package) - node.level] if node.level else []
                mod = ".".join(base + ([node.module] if node.module else []))
                for alias in node.names:
                    sub = f"{mod}.{alias.name}" if mod else alias.name
                    targets.add(sub if sub in modules else mod)
        graph[name] = {m for m in targets if m in modules and m != name}
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a path a -> ... -> a) per strongly connected component with more than one
    module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(set(component))
    return [_cycle_through(graph, component) for component in components]


def _cycle_through(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest path from the component's first module back to itself, inside the component."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for node in frontier:
            for child in sorted(graph.get(node, ())):
                if child == start:
                    return paths[node] + [start]
                if child in component and child not in paths:
                    paths[child] = paths[node] + [child]
                    nxt.append(child)
        frontier = nxt
    raise AssertionError(f"no cycle through {start}")  # unreachable for a strongly connected component


def test_no_import_cycles():
    """No module reaches itself through imports, module-level or inside functions, in jitgrad/
    and kernels/ (a lazy import that closes a cycle hides a wrong dependency direction)."""
    cycles = find_cycles(_import_graph())
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
