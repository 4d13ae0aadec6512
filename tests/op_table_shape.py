"""Op-table cases of the shape, selection and scatter ops of shape_ops.py (added to
op_table.CASES: gradcheck to second order, the PyTorch oracle, compiled vs eager)."""
from __future__ import annotations

_COMPOSED = "torch records one native node; jitgrad composes the op from primitives"


def add_cases(case, s, idx) -> None:
    """Register the cases through op_table's `case` and spec helpers `s` (values), `idx` (indices)."""
    def named(name, prims, fn, *inputs, **kw):
        kw.setdefault("no_node_name", _COMPOSED)
        case(name, prims, fn, *inputs, **kw)

    named("split-size", "getitem", lambda m, x: m.split(x, 2, 1), s(3, 5))
    named("split-sections", "getitem", lambda m, x: x.split([1, 3], 0), s(4, 2))
    named("chunk", "getitem", lambda m, x: m.chunk(x, 3, -1), s(2, 7))
    named("chunk-method", "getitem", lambda m, x: x.chunk(2), s(5, 2))
    named("unbind", "getitem", lambda m, x: m.unbind(x, 1), s(2, 3))
    named("repeat", "reshape expand", lambda m, x: x.repeat(2, 1, 3), s(3, 2))
    named("repeat-tuple", "reshape expand", lambda m, x: x.repeat((2, 2)), s(3, 1))
    named("tile", "reshape expand", lambda m, x: m.tile(x, (2,)), s(2, 3))
    named("tile-method", "reshape expand", lambda m, x: x.tile(2, 1, 2), s(2, 3))
    named("repeat_interleave-int", "expand reshape", lambda m, x: m.repeat_interleave(x, 2, dim=1), s(2, 3))
    named("repeat_interleave-flat", "expand reshape", lambda m, x: x.repeat_interleave(3), s(2, 2))
    named("repeat_interleave-counts", "getitem",
          lambda m, x: m.repeat_interleave(x, m.tensor([2, 0, 1]), dim=0), s(3, 2))
    named("flip", "getitem", lambda m, x: m.flip(x, (0, 2)), s(2, 3, 2))
    named("flip-method-varargs", "getitem", lambda m, x: x.flip(-1), s(2, 3))
    named("fliplr", "getitem", lambda m, x: m.fliplr(x), s(2, 3))
    named("flipud", "getitem", lambda m, x: x.flipud(), s(3, 2))
    named("roll", "getitem", lambda m, x: m.roll(x, (1, -2), (0, 1)), s(3, 4))
    named("roll-flat", "getitem reshape", lambda m, x: x.roll(5), s(3, 2))
    named("diagonal", "getitem", lambda m, x: m.diagonal(x), s(3, 4))
    named("diagonal-offset-dims", "getitem permute", lambda m, x: m.diagonal(x, -1, 2, 0), s(3, 2, 4))
    named("diagonal-method-offset", "getitem", lambda m, x: x.diagonal(1), s(3, 4))
    named("diag-vector", "setitem", lambda m, x: m.diag(x), s(3))
    named("diag-vector-offset", "setitem", lambda m, x: x.diag(-2), s(3))
    named("diag-matrix", "getitem", lambda m, x: m.diag(x, 1), s(3, 4))
    named("diag_embed", "setitem", lambda m, x: m.diag_embed(x), s(2, 3))
    named("diag_embed-offset-dims", "setitem permute", lambda m, x: x.diag_embed(1, 0, 2), s(2, 3))
    named("trace", "getitem sum", lambda m, x: m.trace(x), s(3, 4))
    named("tril", "where", lambda m, x: m.tril(x), s(3, 4))
    named("tril-offset-batched", "where", lambda m, x: x.tril(-1), s(2, 3, 3))
    named("triu", "where", lambda m, x: m.triu(x, 1), s(4, 3))
    named("masked_fill", "where gt", lambda m, x, y: m.masked_fill(x, y > 0, -2.0), s(3, 4), s(4, grad=False))
    named("masked_fill-tensor-value", "where gt",
          lambda m, x, v: x.masked_fill(x.detach() > 0, v), s(3, 4, domain="away"), s())
    named("masked_fill_-inplace", "where gt", lambda m, x: (x * 1).masked_fill_(x.detach() > 0, 0.5),
          s(3, 4, domain="away"))
    named("masked_select", "getitem gt", lambda m, x, y: m.masked_select(x, y > 0), s(3, 4), s(4, grad=False))
    named("index_select", "getitem", lambda m, x, i: m.index_select(x, 1, i), s(3, 4), idx(5, high=4))
    named("index_select-dim0-method", "getitem", lambda m, x, i: x.index_select(0, i), s(3, 2), idx(4, high=3))
    named("scatter", "setitem", lambda m, x, i, v: m.scatter(x, 1, i, v), s(3, 5), idx(3, 1, high=5),
          s(3, 1))
    named("scatter-value", "setitem", lambda m, x, i: x.scatter(0, i, value=1.5), s(3, 2),
          idx(1, 2, high=3))
    named("scatter_add-function", "scatter_add add", lambda m, x, i, v: m.scatter_add(x, 0, i, v), s(3, 4),
          idx(5, 4, high=3), s(5, 4))
    named("scatter_add-method-bigger-src", "scatter_add add", lambda m, x, i, v: x.scatter_add(1, i, v), s(2, 4),
          idx(2, 3, high=4), s(2, 5, grad=False))
    named("take_along_dim", "gather", lambda m, x, i: m.take_along_dim(x, i, 1), s(3, 4), idx(3, 2, high=4))
    named("take_along_dim-broadcast", "gather expand", lambda m, x, i: x.take_along_dim(i, 0), s(3, 4),
          idx(2, 1, high=3))
    named("take_along_dim-flat", "gather reshape", lambda m, x, i: m.take_along_dim(x, i), s(3, 4),
          idx(5, high=12))
    named("one_hot", "eq cast", lambda m, i: m.nn.functional.one_hot(i, 5), idx(3, 2, high=5), grad=False)
    named("one_hot-inferred-classes", "eq cast", lambda m, i: m.nn.functional.one_hot(i), idx(4, high=3), grad=False,
          eager_only="num_classes=-1 reads the indices' values")
