"""A long fused loop over a few elements runs as pieces of bounded length that repeated
structure shares (kernels.chain_pieces): same values and gradients as eager mode, far fewer
distinct pieces than piece calls. Piece sizes are shrunk here so that the tests compile fast."""
import re

import numpy as np
import pytest

import jitgrad as jg
from jitgrad._kernels import chain_pieces
from jitgrad._kernels.spec import Array, Load, Loop, Stmt

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")  # (not the interpreter's fallback)


@pytest.fixture
def small_pieces(monkeypatch):
    monkeypatch.setattr(chain_pieces, "MAX_PIECE_STMTS", 12)
    monkeypatch.setattr(chain_pieces, "MIN_CUT_STMTS", 36)


def _chain(steps):
    def f(x, y, z):
        for _ in range(steps):
            z = (z / x) * y
        return z.sum()
    return f


def _source(f, *args) -> str:
    return "\n".join(c.source for c in f.executable(*args).compiled)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_an_unrolled_chain_runs_as_shared_pieces_with_eager_values(small_pieces, dtype):
    rng = np.random.default_rng(3)
    x, y, z = (rng.uniform(0.9, 1.1, (2, 3)).astype(dtype) for _ in range(3))
    f = jg.value_and_grad(_chain(40), argnums=(0, 1, 2))
    value, grads = f(x, y, z)
    text = _source(f, x, y, z)
    defined = re.findall(r"^def (_piece_\w+)", text, re.M)
    calls = re.findall(r"^ +_call(_piece_\w+)\(", text, re.M)
    assert set(calls) == set(defined)
    assert len(calls) >= 20 and len(defined) <= len(calls) / 3, (len(defined), len(calls))
    ts = [jg.tensor(a, requires_grad=True) for a in (x, y, z)]
    loss = _chain(40)(*ts)
    loss.backward()
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(value, loss.detach().numpy(), rtol=rtol)
    for g, t in zip(grads, ts):
        assert g.dtype == dtype
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=rtol)


def test_pieces_keep_comparisons_casts_and_scalar_operands(small_pieces):
    """Crossing values of several dtypes (bool masks, float64 from a cast) and a 0-d operand."""
    def f(x, s):
        z = x
        for _ in range(12):
            z = jg.where(z > 0.5, z * s, z + s)
            z = (z.double() * 0.9).float() - 0.01
        return (z * z).sum()

    rng = np.random.default_rng(4)
    x = rng.uniform(0, 1, (3, 2)).astype(np.float32)
    s = np.float32(0.7)
    step = jg.value_and_grad(f, argnums=(0,))
    value, (gx,) = step(x, np.asarray(s))
    assert "_piece_" in _source(step, x, np.asarray(s))
    xt = jg.tensor(x, requires_grad=True)
    loss = f(xt, jg.tensor(np.asarray(s)))
    loss.backward()
    np.testing.assert_allclose(value, loss.detach().numpy(), rtol=1e-5)
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-5)


def test_a_one_element_chain_is_cut_too(small_pieces):
    x, y, z = (np.asarray(v) for v in (1.01, 0.99, 2.0))
    f = jg.value_and_grad(_chain(30), argnums=(0,))
    value, (gx,) = f(x, y, z)
    assert "_piece_" in _source(f, x, y, z)
    expected = 2.0 * (0.99 / 1.01) ** 30
    np.testing.assert_allclose(value, expected, rtol=1e-12)
    np.testing.assert_allclose(gx, -30 * expected / 1.01, rtol=1e-12)


def test_the_piece_text_names_values_by_structure_not_position():
    rows = {f"t{k}": chain_pieces.Row("float32", k) for k in range(8)}
    first = (Stmt("t1", "(t0 / x)", dtype="float32"), Stmt("t2", "(t1 * y)", dtype="float32"))
    later = (Stmt("t5", "(t4 / x)", dtype="float32"), Stmt("t6", "(t5 * y)", dtype="float32"))
    scalars = {"x": "float32", "y": "float32"}
    windows = {"float32": 10}
    name1, symbol1, text1, kinds1, args1, rows1 = chain_pieces.helper(first, rows, scalars, 8, windows)
    name2, symbol2, text2, kinds2, args2, rows2 = chain_pieces.helper(later, rows, scalars, 8, windows)
    assert (name1, symbol1, text1, kinds1) == (name2, symbol2, text2, kinds2)
    # (the input window, the input rows, the first output row; each row times the lane count)
    assert rows1 == [80, 0, 8] and rows2 == [80, 32, 40]
    assert args1 == ["_pad_float32", chain_pieces.ROWS_ARGUMENT, "x", "y"]
    assert kinds1 == ("float32*", "int64*", "float32", "float32")
    other = {"x": "float64", "y": "float32"}  # the same text with another scalar dtype: another symbol
    assert chain_pieces.helper(first, rows, other, 8, windows)[1] != symbol1


def test_loops_without_known_dtypes_too_large_or_with_bool_scalars_stay_whole():
    stmts = tuple(Stmt(f"t{k}", "1.0") for k in range(chain_pieces.MIN_CUT_STMTS + 1))
    assert not chain_pieces.applies(Loop((4,), (), stmts), {}, 4, False)
    typed = tuple(Stmt(s.target, s.expr, dtype="float64") for s in stmts)
    assert chain_pieces.applies(Loop((4,), (), typed), {}, 4, False)
    big = chain_pieces.MAX_ELEMENTS + 1
    assert not chain_pieces.applies(Loop((big,), (), typed), {}, big, False)
    assert not chain_pieces.applies(Loop((4,), (), typed), {}, 4, True)
    flag = {"m": Array("m", (), "bool")}
    assert not chain_pieces.applies(Loop((4,), (Load("l0_m", "m"),), typed), flag, 4, False)


_CHILD = """
import sys
import numpy as np
import jitgrad as jg
from jitgrad._kernels import chain_pieces
chain_pieces.MAX_PIECE_STMTS, chain_pieces.MIN_CUT_STMTS = 12, 36
def f(x, y, z):
    for _ in range(25):
        z = (z / x) * y
    return z.sum()
x, y, z = np.full((2, 3), 1.01), np.full((2, 3), 0.99), np.full((2, 3), 2.0)
value, (gx,) = jg.value_and_grad(f, argnums=(0,))(x, y, z)
print(repr(float(value)), repr(float(gx[0, 0])))
"""


def test_a_second_process_loads_the_pieces_caller_from_disk(tmp_path):
    """The caller's cached machine code calls the pieces' symbols: they are bound before it loads."""
    import os
    import subprocess
    import sys
    env = dict(os.environ, JITGRAD_CACHE_DIR=str(tmp_path), JITGRAD_LOG="compile")
    runs = [subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, timeout=600)
            for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr
    assert "1 loaded from disk" in runs[1].stderr, runs[1].stderr
    value, gx = (float(v) for v in runs[1].stdout.split())
    expected = 6 * 2.0 * (0.99 / 1.01) ** 25
    assert runs[0].stdout == runs[1].stdout
    assert abs(value - expected) < 1e-12 * expected
    assert abs(gx - (-25 * expected / 6 / 1.01)) < 1e-12 * expected
