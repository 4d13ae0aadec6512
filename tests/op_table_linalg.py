"""Op-table cases of the products of linalg_ops.py (added to op_table.CASES: gradcheck to
second order, the PyTorch oracle, compiled vs eager)."""
from __future__ import annotations

_COMPOSED = "torch records one native node; jitgrad composes the op from matmul, reshape and permute"


def add_cases(case, s) -> None:
    """Register the cases through op_table's `case` and spec helper `s`."""
    case("outer", "mul reshape", lambda m, a, b: m.outer(a, b), s(3), s(4))
    case("outer-method", "mul", lambda m, a, b: a.outer(b), s(2), s(3))
    case("bmm", "matmul", lambda m, a, b: m.bmm(a, b), s(2, 3, 4), s(2, 4, 2))
    case("bmm-method", "matmul", lambda m, a, b: a.bmm(b), s(3, 1, 2), s(3, 2, 2))
    case("addmm", "matmul add mul", lambda m, c, a, b: m.addmm(c, a, b, beta=0.5, alpha=2.0), s(3, 4), s(3, 2),
         s(2, 4), no_node_name=_COMPOSED)
    case("addmm-broadcast-bias", "matmul add", lambda m, c, a, b: c.addmm(a, b), s(4), s(3, 2), s(2, 4),
         no_node_name=_COMPOSED)
    case("addmm-beta0", "matmul mul", lambda m, c, a, b: m.addmm(c, a, b, beta=0, alpha=1.5), s(3, 4), s(3, 2),
         s(2, 4), no_node_name=_COMPOSED)
    case("baddbmm", "matmul add mul", lambda m, c, a, b: m.baddbmm(c, a, b, beta=2.0, alpha=-1.0), s(1, 3, 2),
         s(2, 3, 4), s(2, 4, 2), no_node_name=_COMPOSED)
    case("tensordot-int", "matmul reshape permute", lambda m, a, b: m.tensordot(a, b, 2), s(2, 3, 4), s(3, 4, 2),
         no_node_name=_COMPOSED)
    case("tensordot-lists", "matmul reshape permute", lambda m, a, b: m.tensordot(a, b, ([0, 2], [1, 0])),
         s(2, 3, 4), s(4, 2, 5), no_node_name=_COMPOSED)
    for tag, eq, shapes in [("matmul", "ij,jk->ik", [(3, 4), (4, 2)]),
                            ("attention", "bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)]),
                            ("diagonal", "ii->i", [(3, 3)]), ("trace", "ii", [(3, 3)]),
                            ("ellipsis-transpose", "...ij->...ji", [(2, 3, 4)]),
                            ("dot-all", "ij,ij->", [(3, 4), (3, 4)]), ("outer", "i,j->ij", [(3,), (4,)]),
                            ("chain", "bij,bjk,bkl->bil", [(2, 3, 4), (2, 4, 2), (2, 2, 3)]),
                            ("implicit-output", "ba,ca", [(2, 3), (4, 3)]),
                            ("broadcast-ellipsis", "ab,b...->a...", [(2, 3), (3, 2, 2)]),
                            ("sum-one-side", "ijk,ik->j", [(2, 3, 4), (2, 4)])]:
        n = len(shapes)
        case(f"einsum-{tag}", "sum" if n == 1 and "->i" not in eq and eq != "...ij->...ji" else
             ("getitem" if eq == "ii->i" else "permute" if n == 1 else "matmul"),
             (lambda e: lambda m, *xs: m.einsum(e, *xs))(eq), *(s(*sh) for sh in shapes), no_node_name=_COMPOSED)
