"""One declaration per op, kept: reductions carry their combine rule, finalisation, NaN policy and
index variant (read by fusion, lowering and the GPU back end through kernels/reductions.py's one
table); elementwise ops carry their scalar templates (filled by templates.py for the fused loops and
the eager GPU kernels alike, no op-name matching); and the op table's compiled column can run its
programs as Python without changing what they compute."""
from __future__ import annotations

import ast
import math
import os
from pathlib import Path

import numpy as np
import pytest

import jitgrad
from jitgrad import core, fuse, prims, templates
from jitgrad._kernels import cpu, reductions
from jitgrad._kernels.spec import Array, Load, Loop, Program, Reduce, Stmt, Store
from jitgrad.ir import Eqn, Var

ROOT = Path(__file__).resolve().parent.parent
REDUCTIONS = [p for p in prims.ALL if p.reduction is not None]


def test_every_plain_reduction_is_declared_with_a_table_row():
    """sum, mean, prod, amax/amin, max/min (and their index variants) name a row of the one kernel
    table, with the NaN policy the row implements; norm/var/std are composite (no row)."""
    names = {p.name for p in REDUCTIONS}
    assert {"sum", "mean", "prod", "amax", "amin", "max", "min", "max_dim", "min_dim", "argmax", "argmin"} <= names
    for prim in REDUCTIONS:
        row = reductions.row(prim.reduction.combine)
        assert row.nan == prim.reduction.nan, prim.name
    assert prims.BY_NAME["argmax"].reduction.returns_index
    assert prims.BY_NAME["max_dim"].reduction.index == "argmax"
    assert prims.BY_NAME["mean"].reduction.scale(4) == 0.25


def test_mean_of_nothing_is_nan_from_the_declaration():
    """The finalisation of mean is declared once: 1/n, and NaN for an empty reduction (eager's value)."""
    assert math.isnan(prims.MEAN.reduction.scale(0))
    assert prims.SUM.reduction.scale(0) == 1.0


@pytest.mark.parametrize("python", [False, True], ids=["numba", "python"])
def test_compiled_mean_over_an_empty_dim_is_nan(python, monkeypatch):
    if python:
        monkeypatch.setenv("JITGRAD_CPU_KERNELS", "python")
    x = jitgrad.tensor(np.zeros((0, 3), np.float32))
    eager = x.mean(0).numpy()
    compiled = jitgrad.jit(lambda t: t.mean(0))(x).numpy()
    assert np.isnan(eager).all() and np.isnan(compiled).all() and compiled.shape == (3,)
    assert np.isnan(jitgrad.jit(lambda t: t.mean())(x).numpy())


def test_fusion_reads_the_declarations():
    """A reduction fuses into loops because it is declared with a combine rule over `dims`, not by name."""
    x = Var((3, 4), np.dtype(np.float64))
    out = Var((3,), np.dtype(np.float64))
    for prim in (prims.SUM, prims.MEAN, prims.PROD, prims.AMAX, prims.MIN):
        assert fuse.is_fusable_reduction(Eqn(prim, (x,), {"dims": (1,), "keepdim": False}, out))
    index = Var((3,), np.dtype(np.int64))
    assert not fuse.is_fusable_reduction(Eqn(prims.ARGMAX, (x,), {"dim": 1, "keepdim": False}, index))
    assert not fuse.is_fusable_reduction(Eqn(prims.VAR, (x,), {"dims": (1,), "correction": 1, "keepdim": False}, out))


def test_nan_policies_of_the_table():
    """'propagate' rows let a NaN element win; a row that ignores NaN skips it (rendered as Python)."""
    for op, row in reductions.TABLE.items():
        acc, step = "acc", row.step("acc", "v", False)
        env = {"np": np, "acc": np.float64(2.0), "v": np.float64(np.nan)}
        value = eval(step, env)
        if row.nan == "propagate":
            assert np.isnan(value), op
        else:
            assert value == 2.0 or value == 0.0, op  # (the identity, combined: unchanged)
        assert acc in step


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found.add(("." * node.level) + (node.module or ""))
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def test_eager_gpu_kernels_do_not_import_the_compiler():
    """cuda/eager.py fills templates through templates.py; the lowering (lower.py) is compiled mode's."""
    found = _imports(ROOT / "jitgrad" / "cuda" / "eager.py")
    assert not any(m.endswith("lower") for m in found), found


def _fill(prim, dtype, params=None, arity=1):
    dt = np.dtype(dtype)
    return templates.scalar_expression(prim, params or {}, dt, dt, [f"x{i}" for i in range(arity)])


def test_vmath_choice_is_in_the_template():
    """Float templates call kernels.vmath where it has the function (written vm.f or math.f), and
    the integer forms are the declaration's own (per_kind), whatever the op is called."""
    assert _fill(prims.SIGMOID, np.float32) == "vm.sigmoid_f32(x0)"
    assert _fill(prims.SIN, np.float64) == "vm.sin_f64(x0)"
    assert _fill(prims.SQRT, np.float32) == "math.sqrt(x0)"
    assert _fill(prims.POW, np.float32, arity=2) == "vm.pow_f32(x0, x1)"
    assert _fill(prims.POW, np.int64, arity=2) == "(x0 ** x1)"
    assert _fill(prims.ABS, np.int32) == "(x0 if x0 >= 0 else -x0)"
    assert _fill(prims.ABS, np.float64) == "math.fabs(x0)"
    assert _fill(prims.POW_SCALAR, np.float64, {"exponent": 3}) == "(x0 * x0 * x0)"
    assert _fill(prims.CAST, np.float64, {"dtype": np.dtype(np.bool_)}) == "(x0 != 0)"


def test_a_plain_template_string_stays_valid():
    """A new op declared with a plain format string (math.* calls, {one}/{zero}) needs nothing else."""
    prim = core.Primitive("softsign_demo", lambda x: x / (1 + np.abs(x)), lambda x: (x.shape, x.dtype), None,
                          core.ELEMENTWISE, "", "({0} / ({one} + math.fabs({0})) + math.tanh({zero}))")
    assert _fill(prim, np.float32) == "(x0 / (np.float32(1.0) + math.fabs(x0)) + vm.tanh_f32(np.float32(0.0)))"
    assert _fill(prim, np.int64) == "(x0 / (np.int64(1) + math.fabs(x0)) + math.tanh(np.int64(0)))"
    with pytest.raises(TypeError, match="floating operands only"):
        _fill(core.Primitive("f", None, None, None, core.ELEMENTWISE, "", "vm.exp({0})"), np.int64)


def _program() -> Program:
    x = Array("x", (3, 5), "float32")
    loop = Loop((3, 5), (Load("a", "x"),), (Stmt("t", "vm.tanh_f32(a) * math.sqrt(a)", "tanh"),),
                stores=(Store("y", "t"),), reduces=(Reduce("s", "sum", "t", (1,), 0.2, "mean"),))
    return Program("decl_demo", (x,), ("y", "s"), temporaries=(Array("y", (3, 5), "float32"),
                                                               Array("s", (3,), "float32")), steps=(loop,))


def test_python_run_mode_runs_the_same_source(monkeypatch):
    """JITGRAD_CPU_KERNELS=python runs the very text Numba compiles, as Python (sqrt of a negative
    is NaN, as compiled), with the compiled program's results."""
    x = np.linspace(-1, 2, 15, dtype=np.float32).reshape(3, 5)
    compiled = cpu.compile_program(_program())
    monkeypatch.setenv("JITGRAD_CPU_KERNELS", "python")
    python = cpu.compile_program(_program())
    assert isinstance(python, cpu.PythonProgram) and python.source == compiled.source
    got, want = python(x), compiled(x)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-6, equal_nan=True)
    assert np.isnan(got[0][0, 0])


def test_the_engine_unbroadcasts_once():
    """Broadcasting rules return cotangents in the output's shape; the node (the engine) sums each
    back to its input's shape, so calling a grad_fn gives input-shaped gradients as in PyTorch."""
    x = jitgrad.tensor(np.ones((3, 1))).requires_grad_()
    y = jitgrad.tensor(np.arange(4.0)).requires_grad_()
    g = jitgrad.tensor(np.arange(12.0).reshape(3, 4))
    raw = prims.ADD.vjp(g, None, x, y)
    assert raw[0].shape == (3, 4) and raw[1].shape == (3, 4)
    gx, gy = (x * y).grad_fn(g)
    np.testing.assert_array_equal(gx.detach().numpy(), (g.numpy() * y.detach().numpy()).sum(1, keepdims=True))
    np.testing.assert_array_equal(gy.detach().numpy(), (g.numpy() * x.detach().numpy()).sum(0))
    a = jitgrad.tensor(np.ones((2, 3, 4))).requires_grad_()
    v = jitgrad.tensor(np.ones(4)).requires_grad_()
    ga, gv = jitgrad.autograd.grad((jitgrad.matmul(a, v) ** 2).sum(), [a, v])
    assert ga.shape == (2, 3, 4) and gv.shape == (4,)


def test_sum_to_size_matches_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    for size in [(3, 1), (1, 3, 4), (4,), (2, 1, 1), ()]:
        want = torch.tensor(x).sum_to_size(size).numpy()
        np.testing.assert_allclose(jitgrad.tensor(x).sum_to_size(size).numpy(), want, rtol=1e-12)
    np.testing.assert_allclose(jitgrad.tensor(x).sum_to_size(3, 1).numpy(), torch.tensor(x).sum_to_size(3, 1).numpy())
    with pytest.raises(RuntimeError, match="not expandable"):
        jitgrad.tensor(x).sum_to_size(5)


# ----- a new reduction is three files ----------------------------------------------------------

NANPROD_DECLARATION = '''

def _nanprod_vjp(g, out, x, dims, keepdim):
    """NaN elements count as one: their gradient is 0; the others' is g times the product of the rest."""
    kept = where(x == x, x, 1.0)
    return (where(x == x, _expand_back(g * out, x, dims, keepdim) / kept, 0.0),)


NANPROD = _reduction("nanprod", lambda x, dims, keepdim: np.nanprod(x, axis=dims, keepdims=keepdim),
                     _nanprod_vjp, "NanprodBackward0", reduction=Reduction("nanprod", nan="ignore"))


def nanprod(x: TensorLike, dim: Dims = None, keepdim: bool = False) -> Tensor:
    """The product with NaN elements counted as one (NumPy's nanprod).

    Example:
        >>> jg.nanprod(jg.tensor([2.0, float('nan'), 3.0]))
        tensor(6.)
    """
    x = as_tensor_operand(x)
    return bind(NANPROD, x, dims=_dims(x, dim), keepdim=keepdim)

'''
CUBE_DECLARATION = '''

CUBE = _unary("cube", lambda x: x * x * x, lambda g, out, x: (g * (x * x * 3.0),), "({0} * {0} * {0})",
              "CubeBackward0")


def cube(x: TensorLike) -> Tensor:
    """x ** 3, elementwise.

    Example:
        >>> jg.cube(jg.tensor([2.0]))
        tensor([8.])
    """
    return bind(CUBE, as_floating(x))

'''
NANPROD_ROW = '''    "nanprod": Row(lambda dt: _typed(1, dt), _skip_nan(_PROD, 1), widen=True, nan="ignore"),
'''
NANPROD_CHECKS = '''
import warnings
import numpy as np
import jitgrad as jg
from jitgrad.executable import InterpreterFallbackWarning

warnings.simplefilter("error", InterpreterFallbackWarning)  # the compiled column must fuse, not interpret
assert "nanprod" in jg.__all__ and jg.nanprod.__module__ == "jitgrad.prims_reduce"
x = np.array([[1.5, np.nan, -2.0], [0.5, 3.0, np.nan]])
want = np.nanprod(x, axis=1)
eager = jg.nanprod(jg.tensor(x), 1).numpy()
np.testing.assert_allclose(eager, want)
f = jg.jit(lambda t: jg.nanprod(t, 1))
np.testing.assert_allclose(f(x), want)
assert "nanprod" in f.source(x)  # a fused loop of the new reduction, named by its IR equation
# gradient: eager, compiled and finite differences (no NaN there), to second order
t = jg.tensor(x, requires_grad=True)
jg.nanprod(t, 1).sum().backward()
dense = np.where(np.isnan(x), 1.0, x)
np.testing.assert_allclose(t.grad.numpy(), np.where(np.isnan(x), 0.0, dense.prod(1, keepdims=True) / dense))
np.testing.assert_allclose(jg.grad(lambda t: jg.nanprod(t, 1).sum())(x), t.grad.numpy())
y = jg.tensor(np.array([[1.5, 0.7, -2.0], [0.5, 3.0, 1.2]]), requires_grad=True)
assert jg.autograd.gradcheck(lambda t: jg.nanprod(t, 0), (y,))
assert jg.autograd.gradgradcheck(lambda t: jg.nanprod(t, 0), (y,))
# the GPU (Numba's simulator): eager kernels and a compiled program from the same declaration
g = jg.tensor(x, device="cuda")
np.testing.assert_allclose(jg.nanprod(g, 1).cpu().numpy(), want)
np.testing.assert_allclose(jg.jit(lambda t: jg.nanprod(t, 1))(g).cpu().numpy(), want)
# the elementwise op: public, eager, fused with its neighbours, GPU, gradients
assert "cube" in jg.__all__
z = np.array([0.5, -1.5, 2.0])
np.testing.assert_allclose(jg.cube(jg.tensor(z)).numpy(), z ** 3)
h = jg.jit(lambda t: jg.cube(jg.sin(t)).sum())
np.testing.assert_allclose(h(z), (np.sin(z) ** 3).sum())
assert "cube" in h.source(z)
np.testing.assert_allclose(jg.grad(lambda t: jg.cube(t).sum())(z), 3 * z ** 2)
u = jg.tensor(z, requires_grad=True)
assert jg.autograd.gradcheck(jg.cube, (u,)) and jg.autograd.gradgradcheck(jg.cube, (u,))
np.testing.assert_allclose(jg.cube(jg.tensor(z, device="cuda")).cpu().numpy(), z ** 3)
print("nanprod and cube work")
'''


def _changed(tree: Path) -> list:
    return sorted(str(p.relative_to(tree)) for p in tree.rglob("*.py")
                  if p.read_text() != (ROOT / p.relative_to(tree)).read_text())


def _declare(module: Path, declaration: str, name: str, table: str) -> None:
    """Add an op to a family module as ARCHITECTURE.md says: declaration and wrapper, its name in the
    module's __all__ (which makes it public), its declaration in the module's tuple of prims."""
    anchor = "\n# The public wrappers of this family"
    text = module.read_text()
    assert anchor in text and "__all__ = [\n" in text and f"{table} = (" in text, f"{module.name} lists no __all__"
    text = text.replace(anchor, declaration + anchor, 1)
    text = text.replace("__all__ = [\n", f'__all__ = [\n    "{name}",\n', 1)
    text = text.replace(f"{table} = (", f"{table} = ({name.upper()}, ", 1)
    module.write_text(text)


def test_new_ops_touch_few_files(tmp_path):
    """Adds an elementwise op (`cube`) and a reduction (`nanprod`) to a copy of the tree the way
    ARCHITECTURE.md says -- an elementwise op: its family module (+ its tests: 2 files); a reduction:
    its family module and one row of kernels/reductions.py (+ its tests: 3 files) -- and nothing
    else: both are public (jg.cube, jg.nanprod), run eagerly, fuse compiled, run on the GPU
    (simulator) and have gradients to second order."""
    import shutil
    import subprocess
    import sys

    for package in ("jitgrad", "kernels"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    _declare(tmp_path / "jitgrad" / "prims_elementwise.py", CUBE_DECLARATION, "cube", "ELEMENTWISE_PRIMS")
    assert _changed(tmp_path) == ["jitgrad/prims_elementwise.py"]  # + a test: two files
    _declare(tmp_path / "jitgrad" / "prims_reduce.py", NANPROD_DECLARATION, "nanprod", "REDUCTION_PRIMS")
    table = tmp_path / "kernels" / "reductions.py"
    table.write_text(table.read_text().replace('    "nansum": Row(', NANPROD_ROW + '    "nansum": Row(', 1))
    assert _changed(tmp_path) == ["jitgrad/prims_elementwise.py", "jitgrad/prims_reduce.py",
                                  "kernels/reductions.py"]  # the reduction: two + a test: three files
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "NUMBA_ENABLE_CUDASIM": "1",
           "JITGRAD_CACHE_DIR": str(tmp_path / "cache")}
    run = subprocess.run([sys.executable, "-c", NANPROD_CHECKS], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0 and "nanprod and cube work" in run.stdout, run.stdout + run.stderr
