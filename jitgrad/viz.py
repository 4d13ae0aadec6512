"""Graph pictures: Graphviz DOT text for an eager autograd graph (a tensor's grad_fn chain) or for
a traced IR graph, and `render()` to an image file when Graphviz is installed. The DOT text is a
`DotSource` (a str) that Jupyter displays as an SVG picture when Graphviz's `dot` program is found.

Eager graphs are drawn like torchviz: one box per backward node (`MulBackward0`), leaves as
blue `AccumulateGrad` boxes with their shapes, the output tensor(s) in green; edges run from
inputs to the nodes that consume them. IR graphs are read duck-typed (anything with `eqns`,
each with `prim.name`, `inputs`, `outputs` or `out`, and an optional fused-group id `group`;
the graph's `inputs`/`outputs` when present), so this module does not import the IR.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from typing import TYPE_CHECKING

from .autograd_graph import AccumulateGrad, Node
from .core import TensorBase

if TYPE_CHECKING:  # annotations of the public API (jitgrad/_typing.py)
    from typing import Any

_DOT_HINT = ("install Graphviz: `apt-get install graphviz`, `brew install graphviz` or `conda install graphviz` "
             "(to_dot() gives the DOT text without it)")
_INSTALL_HINT = ("rendering needs the `graphviz` Python package and Graphviz's `dot` program: install them "
                 "with `pip install graphviz` and `apt-get install graphviz` (or `brew install graphviz`, "
                 "`conda install python-graphviz`); to_dot() works without either")


class DotSource(str):
    """DOT text (a str, so it prints and compares as before) that Jupyter shows as a picture:
    `_repr_svg_`/`_repr_mimebundle_` run Graphviz's `dot` program; without it, the display is the
    DOT text plus a line saying what to install."""

    def svg(self) -> str:
        """The picture as SVG text, drawn by Graphviz's `dot` program (RuntimeError without it)."""
        dot = shutil.which("dot")
        if dot is None:
            raise RuntimeError(f"drawing a graph needs Graphviz's `dot` program, which was not found; {_DOT_HINT}")
        try:
            done = subprocess.run([dot, "-Tsvg"], input=str(self), capture_output=True, text=True, timeout=60,
                                  check=True)
        except (OSError, subprocess.SubprocessError) as exc:
            raise RuntimeError(f"Graphviz's `dot` failed to draw the graph ({exc}); {_DOT_HINT}") from exc
        return done.stdout

    def _repr_svg_(self) -> str | None:
        """Jupyter's SVG display; None (so the text is shown) when `dot` is missing or fails."""
        try:
            return self.svg()
        except RuntimeError:
            return None

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        """The SVG picture and the DOT text; without `dot`, the text and how to get the picture."""
        try:
            return {"image/svg+xml": self.svg(), "text/plain": str(self)}
        except RuntimeError as exc:
            return {"text/plain": f"{self}\n(graph picture not shown: {exc})"}


def _quote(text: str) -> str:
    """A DOT double-quoted string (newlines become DOT's \\n)."""
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _shape_text(shape) -> str:
    return str(tuple(int(s) for s in shape))


class _Dot:
    """Accumulates DOT statements; node ids are n0, n1, ... keyed by the drawn object."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.ids: dict = {}
        self.lines: list[str] = []

    def node_id(self, key) -> str:
        nid = self.ids.get(key)
        if nid is None:
            nid = self.ids[key] = f"n{len(self.ids)}"
        return nid

    def node(self, key, label: str, indent: str = "  ", **attrs) -> str:
        nid = self.node_id(key)
        extra = "".join(f", {k}={_quote(v)}" for k, v in attrs.items())
        self.lines.append(f"{indent}{nid} [label={_quote(label)}{extra}];")
        return nid

    def edge(self, src: str, dst: str, label: str | None = None) -> None:
        extra = f" [label={_quote(label)}]" if label else ""
        self.lines.append(f"  {src} -> {dst}{extra};")

    def text(self) -> str:
        head = [f"digraph {self.name} {{",
                '  node [shape=box, style=filled, fillcolor=white, fontname="Helvetica", fontsize=11];',
                '  edge [fontname="Helvetica", fontsize=9];']
        return DotSource("\n".join(head + self.lines + ["}"]) + "\n")


def to_dot(obj: Any, show_shapes: bool = True) -> DotSource:
    """Graphviz DOT source for a Tensor (or list of Tensors, or a grad_fn Node), or for an IR graph;
    in Jupyter it displays as the picture."""
    if hasattr(obj, "eqns"):
        return _ir_to_dot(obj, show_shapes)
    if isinstance(obj, (TensorBase, Node)):
        return _autograd_to_dot([obj], show_shapes)
    if isinstance(obj, (list, tuple)) and obj and all(isinstance(o, (TensorBase, Node)) for o in obj):
        return _autograd_to_dot(list(obj), show_shapes)
    raise TypeError(f"to_dot: expected a Tensor, a list of Tensors, a grad_fn node or an IR graph (an object "
                    f"with .eqns), got {type(obj).__name__}")


# ---------------------------------------------------------------------------------------------
# Eager autograd graphs
# ---------------------------------------------------------------------------------------------


def _autograd_to_dot(roots: list, show_shapes: bool) -> DotSource:
    dot = _Dot("autograd")
    stack: list = []
    for i, root in enumerate(roots):
        if isinstance(root, Node):
            stack.append(root)
            continue
        label = f"output {i}" if len(roots) > 1 else "output"
        if show_shapes:
            label += "\n" + _shape_text(root.shape)
        colour = "darkolivegreen1" if root.grad_fn is not None else "lightblue"
        out_id = dot.node(("tensor", id(root)), label, fillcolor=colour)
        if root.grad_fn is not None:
            stack.append(root.grad_fn)
            dot.edge(dot.node_id(root.grad_fn), out_id)
    drawn: set = set()
    while stack:  # iterative: deep graphs (thousands of nodes) must not hit the recursion limit
        fn = stack.pop()
        if fn in drawn:
            continue
        drawn.add(fn)
        if isinstance(fn, AccumulateGrad):
            label = "AccumulateGrad"
            if show_shapes:
                label += "\n" + _shape_text(fn.variable.shape)
            dot.node(fn, label, fillcolor="lightblue")
            continue
        dot.node(fn, fn.name())
        for nxt, _ in fn.next_functions:
            if nxt is None:
                continue
            dot.edge(dot.node_id(nxt), dot.node_id(fn))
            if nxt not in drawn:
                stack.append(nxt)
    return dot.text()


# ---------------------------------------------------------------------------------------------
# Traced IR graphs (duck-typed)
# ---------------------------------------------------------------------------------------------


def _key(var):
    """Dict key of an IR variable: by value for plain names/numbers, else by identity."""
    return ("v", var) if isinstance(var, (str, int)) else ("v", id(var))


def _var_label(var, show_shapes: bool) -> str:
    name = getattr(var, "name", None)
    text = str(name) if name is not None else str(var)
    value = getattr(var, "value", None)
    if value is not None and getattr(value, "ndim", 1) == 0:
        return f"{text} = {value.item()!r}"  # a scalar constant: its value says more than its shape
    if show_shapes:
        shape = getattr(var, "shape", None)
        if shape is None:
            shape = getattr(getattr(var, "aval", None), "shape", None)
        if shape is not None:
            text += ": " + _shape_text(shape)
            dtype = getattr(var, "dtype", None)
            if dtype is not None:
                text += f" {dtype}"
    return text


def _eqn_label(name: str, eqn) -> str:
    params = getattr(eqn, "params", None)
    if not params:
        return name
    text = ", ".join(f"{k}={v}" for k, v in params.items())
    return f"{name}\n{text[:60] + '...' if len(text) > 60 else text}"


def _eqn_outputs(eqn) -> list:
    outs = getattr(eqn, "outputs", None)
    if outs is None:
        outs = getattr(eqn, "out", None)
    if outs is None:
        raise TypeError(f"to_dot: IR equation {eqn!r} has neither .outputs nor .out")
    return list(outs) if isinstance(outs, (list, tuple)) else [outs]


def _ir_to_dot(graph, show_shapes: bool) -> DotSource:
    dot = _Dot("ir")
    producer: dict = {}  # var key -> node id that produces it
    for var in getattr(graph, "inputs", ()) or ():
        producer[_key(var)] = dot.node(_key(var), _var_label(var, show_shapes), shape="ellipse",
                                       fillcolor="lightblue")
    groups: dict = {}
    for index, eqn in enumerate(graph.eqns):
        prim = getattr(eqn, "prim", None)
        name = getattr(prim, "name", prim)
        if name is None:
            raise TypeError(f"to_dot: IR equation {eqn!r} has no .prim")
        eqn_key = ("eqn", index)
        group = getattr(eqn, "group", None)
        if group is None:
            dot.node(eqn_key, _eqn_label(str(name), eqn))
        else:
            groups.setdefault(group, []).append((eqn_key, _eqn_label(str(name), eqn)))
            dot.node_id(eqn_key)
        for var in getattr(eqn, "inputs", ()):
            src = producer.get(_key(var))
            if src is None:  # a constant or a captured value: drawn once, where first used
                src = producer[_key(var)] = dot.node(_key(var), _var_label(var, show_shapes), shape="plaintext",
                                                     style="")
            dot.edge(src, dot.node_id(eqn_key), _var_label(var, show_shapes))
        for var in _eqn_outputs(eqn):
            producer[_key(var)] = dot.node_id(eqn_key)
    for group, members in groups.items():
        dot.lines.append(f"  subgraph {_quote('cluster_' + str(group))} {{")
        dot.lines.append(f"    label={_quote(f'fused group {group}')}; style=dashed;")
        for eqn_key, name in members:
            dot.node(eqn_key, name, indent="    ", fillcolor="khaki")
        dot.lines.append("  }")
    for i, var in enumerate(getattr(graph, "outputs", ()) or ()):
        out_id = dot.node(("out", i), f"output {i}", shape="doubleoctagon", fillcolor="darkolivegreen1")
        src = producer.get(_key(var))
        if src is None:
            src = producer[_key(var)] = dot.node(_key(var), _var_label(var, show_shapes), shape="plaintext",
                                                 style="")
        dot.edge(src, out_id, _var_label(var, show_shapes))
    return dot.text()


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------


def render(obj: Any, path: str | os.PathLike, show_shapes: bool = True) -> str:
    """Draw `obj` (anything to_dot takes, or DOT text) into `path`; the format comes from its
    extension (.png, .svg, .pdf, ...). Returns the path written."""
    source = obj if isinstance(obj, str) else to_dot(obj, show_shapes)
    path = os.fspath(path)
    fmt = os.path.splitext(path)[1].lstrip(".").lower()
    if not fmt:
        raise ValueError(f"render: cannot tell the image format of {path!r}; give it an extension such as "
                         ".png or .svg")
    try:
        import graphviz
    except ImportError:
        graphviz = None
    if graphviz is None or shutil.which("dot") is None:
        missing = [what for what, ok in (("the `graphviz` Python package", graphviz is not None),
                                         ("the `dot` program", shutil.which("dot") is not None)) if not ok]
        raise RuntimeError(f"render: {' and '.join(missing)} not found; {_INSTALL_HINT}")
    try:
        graphviz.Source(source).render(outfile=path, format=fmt, cleanup=True)
    except (graphviz.ExecutableNotFound, subprocess.CalledProcessError) as exc:
        raise RuntimeError(f"render: Graphviz failed to write {path!r} ({exc}); {_INSTALL_HINT}") from exc
    return path


__all__ = ["DotSource", "to_dot", "render"]
