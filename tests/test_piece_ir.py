"""Pieces of plain float arithmetic compiled straight to LLVM IR (kernels.piece_ir): the same bits
as the Numba-compiled piece, everything else left to Numba, and object code kept on disk."""
import ctypes
import os
import subprocess
import sys

import numpy as np
import pytest

from jitgrad._kernels import chain_pieces, piece_calls, piece_ir
from jitgrad._kernels.spec import Stmt

WIDTH = 8


def _piece(exprs: list[str], dtype: str, scalar: str | None = None):
    """(text, symbol, kinds, offsets) of a piece computing `exprs` (t1, t2, ... from t0 and x)."""
    stmts = tuple(Stmt(f"t{k + 1}", e, dtype=dtype) for k, e in enumerate(exprs))
    rows = {f"t{k}": chain_pieces.Row(dtype, k) for k in range(len(exprs) + 1)}
    scalars = {"x": scalar} if scalar else {}
    if not scalar:
        rows["x"] = chain_pieces.Row(dtype, len(exprs) + 1)
    name, symbol, text, kinds, _, offsets = chain_pieces.helper(stmts, rows, scalars, WIDTH, {dtype: len(exprs) + 2})
    return text, name, symbol, kinds, offsets


def _run(address: int, kinds, pad: np.ndarray, offsets, scalar=None) -> np.ndarray:
    pad = pad.copy()
    table = np.array(offsets, np.int64)
    c = {"float32": ctypes.c_float, "float64": ctypes.c_double}
    argtypes = [ctypes.c_void_p, ctypes.c_void_p] + ([c[kinds[2]]] if scalar is not None else [])
    args = [pad.ctypes.data, table.ctypes.data] + ([scalar] if scalar is not None else [])
    ctypes.CFUNCTYPE(None, *argtypes)(address)(*args)
    return pad


def _numba_address(text: str, name: str, kinds):
    namespace: dict = {}
    exec(text.rsplit("\n", 1)[0], _piece_globals(), namespace)  # (the def, not its registration line)
    fn = namespace[name]
    sig = piece_calls.signature(kinds)
    fn.compile(sig)
    result = fn.overloads[sig]
    return result, result.library.get_pointer_to_function(result.fndesc.llvm_cfunc_wrapper_name)


def _piece_globals() -> dict:
    import numba

    from jitgrad._kernels import library as lib
    return {"numba": numba, "np": np, "lib": lib,
            "_piece": numba.njit(error_model="numpy", fastmath={"contract"}, nogil=True, no_cpython_wrapper=True)}


CHAINS = [
    ["(t0 / x)", "(t1 * x)", "(t2 - t0)", "(-t3)", "(t4 + t2)", "(t5 * t5 + t1)"],
    ["(t0 * np.{dt}(0.5))", "(t1 / np.{dt}(-3))", "(np.{dt}(2.0) - t2 * x)", "(+t3)"],
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("chain", range(len(CHAINS)))
@pytest.mark.parametrize("scalar", [False, True])
def test_an_ir_piece_computes_the_same_bits_as_numbas(dtype, chain, scalar):
    exprs = [e.format(dt=dtype) for e in CHAINS[chain]]
    text, name, symbol, kinds, offsets = _piece(exprs, dtype, dtype if scalar else None)
    _, address = piece_ir.compile_piece(text, symbol, kinds, None)
    _, reference = _numba_address(text, name, kinds)
    rng = np.random.default_rng(chain)
    pad = rng.uniform(0.5, 2.0, 40 * WIDTH).astype(dtype)
    x = float(rng.uniform(0.5, 2.0)) if scalar else None
    got, want = _run(address, kinds, pad, offsets, x), _run(reference, kinds, pad, offsets, x)
    assert not np.array_equal(got, pad)  # (it wrote its outputs)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("expr", ["(t0 * 2.0)", "math.exp(t0)", "vm.exp_f32(t0)", "(t0 > x)", "(t0 ** 2)",
                                  "abs(t0)", "(t0 if x else t0)", "np.float64(t0)"])
def test_what_the_translator_does_not_take_is_left_to_numba(expr):
    text, _, symbol, kinds, _ = _piece([expr], "float32")
    with pytest.raises(piece_ir.UnsupportedPieceError):
        piece_ir.compile_piece(text, symbol, kinds, None)


_CHILD = """
import numpy as np
import jitgrad as jg
from jitgrad._kernels import chain_pieces
chain_pieces.MAX_PIECE_STMTS, chain_pieces.MIN_CUT_STMTS = 12, 36
def f(x, y, z):
    for _ in range(25):
        z = (z / x) * y
    return z.sum()
x, y, z = np.full((2, 3), 1.01, np.float32), np.full((2, 3), 0.99, np.float32), np.full((2, 3), 2.0, np.float32)
value, (gx,) = jg.value_and_grad(f, argnums=(0,))(x, y, z)
print(repr(float(value)), repr(float(gx[0, 0])))
"""


def test_ir_pieces_are_kept_on_disk_and_a_corrupt_one_is_compiled_again(tmp_path):
    env = dict(os.environ, JITGRAD_CACHE_DIR=str(tmp_path))

    def run():
        done = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        return done.stdout

    first = run()
    kept = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.ir.o")}
    assert len(kept) >= 2  # (the forward chain's piece and the backward chain's)
    assert run() == first
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.ir.o")} == kept  # (loaded, not written again)
    for p in kept:
        p.write_bytes(b"not object code")
    assert run() == first
    assert all(p.read_bytes() != b"not object code" for p in kept)


def test_a_lane_loop_is_emitted_as_vector_code():
    """A piece's loop over its lanes becomes one vector operation per statement: LLVM's loop
    vectoriser gave up on a piece's ~50 stores through one pointer (W6: 40 -> 12 us per call)."""
    from llvmlite import ir
    text, name, symbol, kinds, offsets = _piece(CHAINS[0], "float32")
    module = ir.Module()
    piece_ir.module_ir(text, "f", kinds, module)
    body = str(module)
    assert f"fdiv contract <{WIDTH} x float>" in body and f"store <{WIDTH} x float>" in body


@pytest.mark.parametrize("index", ["_i * 2", "_i + _i", "rows[0] + _i"])
def test_a_loop_whose_lanes_may_touch_each_other_stays_scalar(index):
    from llvmlite import ir
    source = f"def f(p0, rows):\n    for _i in range(8):\n        p0[{index}] = p0[_i] + np.float32(1.0)\n"
    module = ir.Module()
    piece_ir.module_ir(source, "f", ("float32*", "int64*"), module)
    assert "x float>" not in str(module)
