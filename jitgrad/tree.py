"""Flatten nested lists/tuples/dicts of arrays into a flat leaf list plus a tree description,
and rebuild them: how traced functions take and return structured values.

A tree description is a tuple: ("leaf",) for an array/tensor, ("static", value) for anything
else (numbers, None, strings; kept as is), ("seq", type, children) for lists/tuples (named
tuples too), ("dict", keys, children) for dicts. Descriptions are hashable when statics are.
"""
from __future__ import annotations

import numpy as np

from .core import TensorBase

LEAF = ("leaf",)


def is_leaf(x) -> bool:
    """Tensors and NumPy arrays are leaves (they become graph inputs/outputs)."""
    return isinstance(x, (TensorBase, np.ndarray))


def flatten(x) -> tuple[list, tuple]:
    """(leaves in order, tree description) of a nested structure."""
    leaves: list = []
    return leaves, _flatten(x, leaves)


def _flatten(x, leaves: list) -> tuple:
    if is_leaf(x):
        leaves.append(x)
        return LEAF
    if isinstance(x, (list, tuple)):
        return ("seq", type(x), tuple(_flatten(c, leaves) for c in x))
    if isinstance(x, dict):
        return ("dict", tuple(x), tuple(_flatten(v, leaves) for v in x.values()))
    return ("static", x)


def unflatten(tree: tuple, leaves) -> object:
    """Rebuild the structure described by `tree` with `leaves` in place of its leaves."""
    it = iter(leaves)
    out = _unflatten(tree, it)
    if next(it, _END) is not _END:
        raise ValueError("unflatten: more leaves than the tree has places for")
    return out


_END = object()


def _unflatten(tree: tuple, it):
    kind = tree[0]
    if kind == "leaf":
        value = next(it, _END)
        if value is _END:
            raise ValueError("unflatten: fewer leaves than the tree has places for")
        return value
    if kind == "static":
        return tree[1]
    if kind == "seq":
        children = [_unflatten(c, it) for c in tree[2]]
        cls = tree[1]
        if cls is list or cls is tuple:
            return cls(children)
        if hasattr(cls, "_fields"):
            return cls(*children)
        return cls(children)
    return dict(zip(tree[1], (_unflatten(c, it) for c in tree[2]), strict=False))


def num_leaves(tree: tuple) -> int:
    """How many leaves a tree description has."""
    n, stack = 0, [tree]
    while stack:
        t = stack.pop()
        if t[0] == "leaf":
            n += 1
        elif t[0] in ("seq", "dict"):
            stack.extend(t[2])
    return n


def seq(*children: tuple) -> tuple:
    """The description of a tuple of the given subtrees."""
    return ("seq", tuple, tuple(children))


def static(value) -> tuple:
    return ("static", value)


def make_rebuilder(tree: tuple):
    """A function rebuilding `tree`'s structure from a flat sequence of leaves: the
    structure is walked once here, not at every call (compiled functions' hot path)."""
    if tree == ("leaf",):
        return lambda leaves: leaves[0]
    counter = [0]

    def build(t):
        kind = t[0]
        if kind == "leaf":
            i = counter[0]
            counter[0] += 1
            return lambda leaves: leaves[i]
        if kind == "static":
            value = t[1]
            return lambda leaves: value
        parts = [build(c) for c in t[2]]
        if kind == "seq":
            cls = t[1]
            if cls is tuple:
                return lambda leaves: tuple([p(leaves) for p in parts])
            if cls is list:
                return lambda leaves: [p(leaves) for p in parts]
            if hasattr(cls, "_fields"):
                return lambda leaves: cls(*[p(leaves) for p in parts])
            return lambda leaves: cls([p(leaves) for p in parts])
        keys = t[1]
        return lambda leaves: dict(zip(keys, [p(leaves) for p in parts]))
    return build(tree)


def flatten_args(args, kwargs: dict, static_set, static_node=static) -> tuple[list, tuple]:
    """Leaves and tree of a call's (args, kwargs); positions in `static_set` are kept whole
    as `static_node(arg)` (a trace bakes them in; a signature key hashes them)."""
    leaves, arg_trees = [], []
    for i, a in enumerate(args):
        if i in static_set:
            arg_trees.append(static_node(a))
        else:
            ls, t = flatten(a)
            leaves.extend(ls)
            arg_trees.append(t)
    kw_leaves, kw_tree = flatten(dict(kwargs))
    leaves.extend(kw_leaves)
    return leaves, ("seq", tuple, (("seq", tuple, tuple(arg_trees)), kw_tree))
