"""`python -m benchmarks.arch_report [--root DIR] [--before DIR] [--graph]`: the architecture's
figures, read from the source with `ast` (nothing is imported or run, so any checkout works, e.g.
an old commit exported with `git archive REV | tar -x -C DIR`):

* the import graph of jitgrad/ and kernels/ -- every import, module-level and inside functions
  (those under `if TYPE_CHECKING:` never run and are left out) -- and its cycles (there should be
  none; tests/test_import_layers.py fails on any);
* module sizes in lines, largest first, with the modules over the ~500-line guideline marked; with
  --before, the sizes of both trees side by side.

tests/test_import_layers.py uses this module's parser and cycle search, so the report and the
test cannot disagree.
"""
from __future__ import annotations

import argparse
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("jitgrad", "kernels")
SIZE_GUIDELINE = 500  # lines: a module over this should be split by job, unless it is one table


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def type_only_nodes(tree: ast.AST) -> set[int]:
    """Nodes under `if TYPE_CHECKING:`: imports there never run (annotations only), so they are
    not part of the data flow and close no cycle."""
    return {id(inner) for node in ast.walk(tree) if isinstance(node, ast.If) and _is_type_checking(node.test)
            for stmt in node.body for inner in ast.walk(stmt)}


def imports(path: Path, package: list[str], top_level_only: bool) -> list[tuple[int, str]]:
    """(line, dotted module name) for each import; `package` is the module's own dotted parts."""
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    type_only = type_only_nodes(tree)
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


def module_names(root: Path = ROOT) -> dict[str, Path]:
    """Dotted name -> file of every module in jitgrad/ and kernels/ (a package is its __init__)."""
    found = {}
    for top in PACKAGES:
        for path in sorted((root / top).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[0] == "kernels":  # the back end is imported as jitgrad._kernels
                parts = ["jitgrad", "_kernels", *parts[1:]]
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the project modules it imports anywhere in its text (`from p import m` of a
    submodule m is an edge to p.m; `from . import name` of a package attribute, an edge to the
    package, whose __init__ imports its modules)."""
    modules = module_names(root)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name.split(".") + (["__init__"] if path.name == "__init__.py" else [])
        tree = ast.parse(path.read_text(), filename=str(path))
        type_only = type_only_nodes(tree)
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


def module_sizes(root: Path = ROOT) -> dict[str, int]:
    """Dotted module name -> its length in lines (as `wc -l` counts them)."""
    return {name: path.read_text().count("\n") for name, path in module_names(root).items()}


def _short(name: str) -> str:
    return name.removeprefix("jitgrad.") if name.startswith("jitgrad.") else name


def graph_lines(graph: dict[str, set[str]]) -> list[str]:
    """`module -> imported modules`, one line per module (jitgrad.* written without the prefix)."""
    return [f"{_short(m)} -> {' '.join(_short(t) for t in sorted(graph[m])) or '(nothing)'}" for m in sorted(graph)]


def cycle_lines(cycles: list[list[str]]) -> list[str]:
    return ["cycles: none"] if not cycles else ["cycles:"] + ["    " + " -> ".join(c) for c in cycles]


def size_lines(after: dict[str, int], before: dict[str, int] | None = None, top: int = 0) -> list[str]:
    """The size table, largest first (`top` rows, 0: all), then per-package totals."""
    names = sorted(set(after) | set(before or {}), key=lambda n: (-after.get(n, 0), -(before or {}).get(n, 0), n))
    if top:
        names = names[:top]
    rows = []
    for n in names:
        mark = " *" if after.get(n, 0) > SIZE_GUIDELINE else ""
        if before is None:
            rows.append(f"{after[n]:>6}  {n}{mark}")
        else:
            b, a = before.get(n), after.get(n)
            rows.append(f"{'-' if b is None else b:>6} {'-' if a is None else a:>6}  {n}{mark}")
    header = "  lines  module" if before is None else "before  after  module"
    totals = []
    for package in PACKAGES:
        line = f"{package}/: " + _summary(after, package)
        if before is not None:
            line += f" (before: {_summary(before, package)})"
        totals.append(line)
    return [header, *rows, f"(* over {SIZE_GUIDELINE} lines)", *totals]


def _summary(sizes: dict[str, int], package: str) -> str:
    own = [v for k, v in sizes.items() if k == package or k.startswith(package + ".")]
    over = sum(1 for v in own if v > SIZE_GUIDELINE)
    return f"{sum(own)} lines in {len(own)} modules, {over} over {SIZE_GUIDELINE}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=f"python -m {__package__}.arch_report", description=__doc__.split("\n\n")[0])
    p.add_argument("--root", type=Path, default=ROOT, help="the checkout to report on (default: this one)")
    p.add_argument("--before", type=Path, help="an older checkout: its cycles and sizes are shown beside")
    p.add_argument("--graph", action="store_true", help="print the whole import graph, one line per module")
    p.add_argument("--top", type=int, default=0, help="only the N largest modules in the size table")
    args = p.parse_args(argv)
    graph = import_graph(args.root)
    edges = sum(len(v) for v in graph.values())
    print(f"== import graph of {args.root}: {len(graph)} modules, {edges} imports (function-level included)")
    if args.graph:
        print("\n".join(graph_lines(graph)))
    print("\n".join(cycle_lines(find_cycles(graph))))
    before = None
    if args.before is not None:
        old = import_graph(args.before)
        print(f"== before ({args.before}): {len(old)} modules, {sum(len(v) for v in old.values())} imports")
        print("\n".join(cycle_lines(find_cycles(old))))
        before = module_sizes(args.before)
    print("== module sizes in lines")
    print("\n".join(size_lines(module_sizes(args.root), before, args.top)))
    return 1 if find_cycles(graph) else 0


if __name__ == "__main__":
    raise SystemExit(main())
