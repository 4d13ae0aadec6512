"""Op-table cases of the scans, softmax family, orderings and moments of reduce_ops.py (added
to op_table.CASES: gradcheck to second order, the PyTorch oracle, compiled vs eager)."""
from __future__ import annotations

_COMPOSED = "torch records one native node; jitgrad composes the op from primitives"
# Cases whose scans and sorts have no GPU kernels yet: on GPU tensors they run on the host
# (HostFallbackWarning); filled in by add_cases.
HOST_FALLBACK_CASES: set[str] = set()
_GATHER = "the values are a gather at the sorted indices (GatherBackward0); torch records its own node"


def add_cases(case, s) -> None:
    """Register the cases through op_table's `case` and spec helper `s`."""
    def on_host(name, prims, *args, **kw):
        """A case that binds cumsum, cumprod or argsort (GPU kernels: kernels/cuda/scan.py)."""
        case(name, prims, *args, **kw)

    on_host("cumsum", "cumsum", lambda m, x: m.cumsum(x, 1), s(3, 4))
    on_host("cumsum-method-dim0", "cumsum", lambda m, x: x.cumsum(0), s(3, 2))
    on_host("cumsum-neg-dim-3d", "cumsum", lambda m, x: m.cumsum(x, -2), s(2, 3, 2))
    on_host("cumsum-bool", "cumsum gt", lambda m, x: (x > 0).cumsum(0), s(5), grad=False)
    on_host("cumsum-0d", "cumsum", lambda m, x: m.cumsum(x, 0), s())
    on_host("cumprod", "cumprod", lambda m, x: m.cumprod(x, 1), s(3, 4, domain="away"))
    on_host("cumprod-method-dim0", "cumprod", lambda m, x: x.cumprod(0), s(3, 2, domain="away"))
    on_host("cumprod-one-zero", "cumprod", lambda m, x: m.cumprod(x, 0), s(5, domain="one_zero"))
    on_host("cumprod-two-zeros", "cumprod", lambda m, x: m.cumprod(x, -1), s(2, 5, domain="two_zeros"))
    on_host("cumprod-long-scan", "cumprod", lambda m, x: m.cumprod(x * 0.1 + 0.88, 0), s(66, domain="pos"), tol=10.0)

    case("softmax-function", "exp sum div amax", lambda m, x: m.softmax(x, -1), s(3, 4), no_node_name=_COMPOSED)
    case("softmax-method-dim0", "exp sum div", lambda m, x: x.softmax(0), s(3, 4), no_node_name=_COMPOSED)
    case("softmax-dtype", "exp sum div", lambda m, x: m.softmax(x, 1, dtype=m.float64), s(2, 3),
         no_node_name=_COMPOSED)
    case("log_softmax-function", "exp sum log sub", lambda m, x: m.log_softmax(x, 1), s(3, 4),
         no_node_name=_COMPOSED)
    case("log_softmax-method", "exp sum log sub", lambda m, x: x.log_softmax(-1), s(2, 3, 2), no_node_name=_COMPOSED)
    case("logsumexp", "exp sum log add", lambda m, x: m.logsumexp(x, 1), s(3, 4), no_node_name=_COMPOSED)
    case("logsumexp-dims-keepdim", "exp sum log add", lambda m, x: x.logsumexp((0, 2), keepdim=True), s(2, 3, 2),
         no_node_name=_COMPOSED)

    distinct = dict(domain="distinct")
    on_host("sort-values", "argsort gather", lambda m, x: m.sort(x, 1).values, s(3, 4, **distinct),
            no_node_name=_GATHER)
    on_host("sort-descending-dim0", "argsort gather", lambda m, x: x.sort(0, descending=True)[0], s(3, 4, **distinct),
         no_node_name=_GATHER)
    on_host("sort-indices", "argsort", lambda m, x: m.sort(x).indices, s(3, 4, **distinct), grad=False)
    on_host("sort-ties-stable", "argsort", lambda m, x: m.sort(x, stable=True)[1], s(3, 5, domain="ints"), grad=False)
    on_host("argsort", "argsort", lambda m, x: m.argsort(x, 0), s(4, 3, **distinct), grad=False)
    on_host("argsort-descending-ties", "argsort", lambda m, x: x.argsort(descending=True, stable=True),
         s(2, 6, domain="ints"), grad=False)
    on_host("topk", "argsort gather", lambda m, x: m.topk(x, 2).values, s(3, 4, **distinct), no_node_name=_GATHER)
    on_host("topk-smallest-dim0", "argsort gather", lambda m, x: x.topk(2, 0, largest=False)[0], s(3, 4, **distinct),
         no_node_name=_GATHER)
    on_host("topk-indices", "argsort", lambda m, x: m.topk(x, 3, 1).indices, s(2, 5, **distinct), grad=False)
    on_host("median-full", "argsort getitem", lambda m, x: m.median(x), s(3, 4, **distinct), no_node_name=_GATHER)
    on_host("median-dim", "argsort gather", lambda m, x: x.median(1).values, s(3, 4, **distinct), no_node_name=_GATHER)
    on_host("median-dim-keepdim-indices", "argsort", lambda m, x: m.median(x, 0, keepdim=True)[1], s(5, 2, **distinct),
         grad=False)

    case("var_mean", "var mean", lambda m, x: m.var_mean(x, 1), s(3, 4), no_node_name=_COMPOSED)
    case("std_mean-correction0", "std mean", lambda m, x: m.std_mean(x, correction=0), s(3, 4),
         no_node_name=_COMPOSED)
    case("histc", "cast sum eq", lambda m, x: m.histc(x.detach(), 5), s(20), grad=False)
    case("histc-range", "cast sum eq", lambda m, x: x.detach().histc(4, -0.5, 0.5), s(3, 4), grad=False)
