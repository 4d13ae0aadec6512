"""The "how compiled mode works" page's examples, produced by real calls when the docs build
(so the text shown is what this version of jitgrad prints)."""
from __future__ import annotations

import os

import jitgrad as jg
from jitgrad import fuse as fusion
from jitgrad.simplify import simplify

X = jg.tensor([35.7, 55.9, 58.2, 81.9, 56.3])
Y = jg.tensor([0.5, 14.0, 15.0, 28.0, 11.0])


def loss_fn(w: jg.Tensor, b: jg.Tensor, x: jg.Tensor, y: jg.Tensor) -> jg.Tensor:
    return ((w * x + b - y) ** 2).mean()


def layer(w: jg.Tensor, x: jg.Tensor) -> jg.Tensor:
    return (jg.tanh(x @ w + 1.0) * 0.5).sum()


def fusion_picture(graph) -> str:
    """Each step of the fused plan as a box listing the IR equations it runs."""
    lines = []
    for index, group in enumerate(fusion.fuse(graph)):
        if isinstance(group, fusion.LoopGroup):
            names = [f"{e.prim.name} -> {e.out.shape}" for e in group.eqns]
            title = f"step {index}: ONE fused loop over shape {tuple(group.shape)}"
        else:
            names = [f"{group.eqn.prim.name} -> {group.eqn.out.shape}"]
            kind = "library call" if isinstance(group, fusion.LibraryGroup) else "reference interpreter"
            title = f"step {index}: {kind}"
        width = max(len(title), *(len(n) for n in names)) + 2
        lines.append("+" + "-" * width + "+")
        lines.append("| " + title.ljust(width - 1) + "|")
        lines.append("|" + "-" * width + "|")
        lines += ["|   " + n.ljust(width - 3) + "|" for n in names]
        lines.append("+" + "-" * width + "+")
    return "\n".join(lines) + "\n"


def write_all(folder: str) -> None:
    os.makedirs(folder, exist_ok=True)
    w, b = jg.tensor(1.0, requires_grad=True), jg.tensor(0.01, requires_grad=True)
    graph = jg.make_ir(loss_fn)(w, b, X, Y)
    compiled = jg.jit_grad(loss_fn)
    texts = {
        "ir.txt": str(graph),
        "simplified.txt": str(simplify(graph)),
        "fusion.txt": fusion_picture(simplify(graph)),
        "layer_ir.txt": str(jg.make_ir(layer)(jg.ones(3, 4), jg.ones(2, 3))),
        "layer_fusion.txt": fusion_picture(simplify(jg.make_ir(layer)(jg.ones(3, 4), jg.ones(2, 3)))),
        "source.txt": compiled.source(w, b, X, Y),
        "dot.txt": jg.viz.to_dot(graph),
    }
    for name, text in texts.items():
        with open(os.path.join(folder, name), "w") as f:
            f.write(text if text.endswith("\n") else text + "\n")


if __name__ == "__main__":
    write_all(os.path.join(os.path.dirname(__file__), "_generated"))
