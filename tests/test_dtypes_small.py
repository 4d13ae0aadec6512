"""int8, int16, uint8 and float16 tensors against PyTorch: dtype attributes, the promotion table,
values of casts and ops, factories, conversions, float16 gradients, and compiled mode."""
from __future__ import annotations

import copy
import itertools
import pickle

import numpy as np
import pytest

import jitgrad as jg

torch = pytest.importorskip("torch")

NAMES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]
JG = {n: getattr(jg, n) for n in NAMES}
TORCH = {n: getattr(torch, n) for n in NAMES}


def _torch_name(dtype) -> str:
    return str(dtype).replace("torch.", "")


@pytest.mark.parametrize("name", NAMES)
def test_dtype_attributes_match_torch(name):
    d, t = JG[name], TORCH[name]
    assert d.is_floating_point == t.is_floating_point
    assert d.itemsize == t.itemsize
    assert d.is_signed == t.is_signed
    assert d.is_complex is False
    assert repr(d) == f"jitgrad.{name}"
    assert isinstance(d, jg.dtype)
    assert d == np.dtype(name) and np.dtype(name) == d and hash(d) == hash(np.dtype(name))
    assert jg.zeros(2, dtype=d).dtype is d
    assert pickle.loads(pickle.dumps(d)) is d and copy.deepcopy(d) is d


def test_torch_aliases():
    assert jg.half is jg.float16 and jg.short is jg.int16
    assert jg.tensor([1.0]).dtype.is_floating_point and not jg.tensor([1]).dtype.is_floating_point


@pytest.mark.parametrize("a,b", list(itertools.product(NAMES, NAMES)))
def test_promotion_table_matches_torch(a, b):
    x = jg.ones(2, dtype=JG[a]) + jg.ones(2, dtype=JG[b])
    expected = torch.ones(2, dtype=TORCH[a]) + torch.ones(2, dtype=TORCH[b])
    assert x.dtype.name == _torch_name(expected.dtype)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("scalar", [True, 3, 2.5])
def test_promotion_with_python_scalars_and_zero_dim(name, scalar):
    expected = torch.ones(2, dtype=TORCH[name]) * scalar
    assert (jg.ones(2, dtype=JG[name]) * scalar).dtype.name == _torch_name(expected.dtype)
    for zero in ["int64", "float64", "uint8"]:
        expected = torch.ones(2, dtype=TORCH[name]) * torch.tensor(1, dtype=TORCH[zero])
        got = jg.ones(2, dtype=JG[name]) * jg.tensor(1, dtype=JG[zero])
        assert got.dtype.name == _torch_name(expected.dtype), zero


VALUES = [-300.0, -129.0, -128.0, -1.0, 0.0, 1.0, 2.5, 127.0, 200.0, 255.0, 256.0, 1000.0]


@pytest.mark.parametrize("src,dst", [(s, d) for s in NAMES for d in NAMES])
def test_casts_match_torch(src, dst):
    # Only values both libraries define: float -> integer casts of values out of the target's range
    # are undefined behaviour in C (PyTorch's result depends on the CPU), so those go through int64.
    values = torch.tensor(VALUES, dtype=torch.float64).to(TORCH[src])
    if TORCH[src].is_floating_point and not TORCH[dst].is_floating_point and dst != "bool":
        info = torch.iinfo(TORCH[dst])
        values = values[(values >= info.min) & (values <= info.max)]
    ours = jg.tensor(values.to(torch.float64).numpy()).to(JG[src])
    np.testing.assert_array_equal(ours.numpy(), values.numpy())
    np.testing.assert_array_equal(ours.to(JG[dst]).numpy(), values.to(TORCH[dst]).numpy())


@pytest.mark.parametrize("method,name", [("half", "float16"), ("byte", "uint8"), ("char", "int8"),
                                         ("short", "int16"), ("int", "int32"), ("long", "int64"),
                                         ("float", "float32"), ("double", "float64"), ("bool", "bool")])
def test_conversion_methods(method, name):
    data = [0.0, 1.5, -2.0, 100.0]
    got = getattr(jg.tensor(data), method)()
    expected = getattr(torch.tensor(data), method)()
    assert got.dtype is JG[name]
    np.testing.assert_array_equal(got.numpy(), expected.numpy())
    assert jg.tensor(data).to(JG[name]).dtype is JG[name]
    assert jg.tensor(data).to(dtype=name).dtype is JG[name]


@pytest.mark.parametrize("name", ["uint8", "int8", "int16", "float16"])
def test_factories_and_numpy_keep_the_dtype(name):
    d = JG[name]
    for made in [jg.zeros(2, 3, dtype=d), jg.ones(2, dtype=d), jg.full((2,), 7, dtype=d), jg.empty(2, dtype=d),
                 jg.arange(5, dtype=d), jg.tensor([1, 2], dtype=d), jg.zeros_like(jg.zeros(2), dtype=d),
                 jg.eye(2, dtype=d), jg.as_tensor(np.zeros(2), dtype=d)]:
        assert made.dtype is d
    array = np.array([1, 2, 3], dtype=name)
    assert jg.tensor(array).dtype is d and jg.from_numpy(array).dtype is d and jg.as_tensor(array).dtype is d
    assert jg.tensor(array).numpy().dtype == np.dtype(name)
    if d.is_floating_point:
        assert jg.rand(3, dtype=d).dtype is d and jg.randn(3, dtype=d).dtype is d
    else:
        assert jg.randint(0, 5, (3,), dtype=d).dtype is d


INT_OPS = {
    "add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y,
    "div": lambda x, y: x / y, "remainder": lambda x, y: x % y,
    "neg": lambda x, y: -x, "abs": lambda x, y: abs(x), "lt": lambda x, y: x < y, "eq": lambda x, y: x == y,
    "maximum": lambda x, y: x.maximum(y),
    "sum": lambda x, y: x.sum(), "sum_dim": lambda x, y: x.sum(0), "prod": lambda x, y: x.prod(),
    "cumsum": lambda x, y: x.cumsum(0), "max": lambda x, y: x.max(), "argmax": lambda x, y: x.argmax(),
    "clamp": lambda x, y: x.clamp(0, 50),
    "where": lambda x, y: jg.where(x > y, x, y) if isinstance(x, jg.Tensor) else torch.where(x > y, x, y),
    "scalar": lambda x, y: x * 3 + 1, "float_scalar": lambda x, y: x * 0.5, "sqrt": lambda x, y: x.abs().sqrt(),
    "exp": lambda x, y: (x.abs() % 5).exp(), "matmul": lambda x, y: x.reshape(2, 3) @ y.reshape(3, 2),
}


@pytest.mark.parametrize("name", ["uint8", "int8", "int16"])
@pytest.mark.parametrize("op", sorted(INT_OPS))
def test_small_integer_ops_match_torch(name, op):
    a = [3, 120, 7, 100, 250 if name == "uint8" else -100, 9]
    b = [2, 3, 5, 7, 11, 13]
    tx, ty = torch.tensor(a).to(TORCH[name]), torch.tensor(b).to(TORCH[name])
    jx, jy = jg.tensor(tx.numpy()), jg.tensor(ty.numpy())
    if op == "matmul" and name != "int16":
        pytest.skip("PyTorch's CPU matmul has no uint8/int8 kernel")
    if op == "abs" and name == "uint8":
        pytest.skip("abs of uint8 is the identity in both")
    expected, got = INT_OPS[op](tx, ty), INT_OPS[op](jx, jy)
    assert got.dtype.name == _torch_name(expected.dtype)
    np.testing.assert_allclose(got.numpy().astype(np.float64), expected.numpy().astype(np.float64), rtol=1e-6)


FLOAT16_FUNCTIONS = {
    "arith": lambda x, w: ((x * w + 1.5) / (w.abs() + 1)).sum(),
    "sin_exp": lambda x, w: (x.sin() * w.exp()).sum(),
    "tanh_sigmoid": lambda x, w: (x.tanh() + w.sigmoid() * x).mean(),
    "matmul": lambda x, w: (x.reshape(2, 3) @ w.reshape(3, 2)).sum(),
    "softmax": lambda x, w: (x.softmax(0) * w).sum(),
    "pow_sqrt": lambda x, w: ((x * x + 1).sqrt() + w ** 2).sum(),
    "max_relu": lambda x, w: (x.relu() * w).max() + x.amax(),
}


@pytest.mark.parametrize("fn", sorted(FLOAT16_FUNCTIONS))
def test_float16_values_and_gradients_match_torch(fn):
    rng = np.random.default_rng(0)
    x0, w0 = rng.standard_normal(6).astype(np.float16), rng.standard_normal(6).astype(np.float16)
    f = FLOAT16_FUNCTIONS[fn]
    tx, tw = torch.tensor(x0, requires_grad=True), torch.tensor(w0, requires_grad=True)
    jx, jw = jg.tensor(x0, requires_grad=True), jg.tensor(w0, requires_grad=True)
    expected, got = f(tx, tw), f(jx, jw)
    assert got.dtype is jg.float16 and expected.dtype == torch.float16
    expected.backward()
    got.backward()
    np.testing.assert_allclose(got.detach().numpy().astype(np.float32), expected.detach().numpy().astype(np.float32),
                               rtol=1e-2, atol=1e-2)
    for ours, theirs in [(jx.grad, tx.grad), (jw.grad, tw.grad)]:
        assert ours.dtype is jg.float16
        np.testing.assert_allclose(ours.numpy().astype(np.float32), theirs.numpy().astype(np.float32),
                                   rtol=2e-2, atol=2e-2)


def test_float16_module_training_step_matches_torch():
    torch.manual_seed(0)
    tlin = torch.nn.Linear(4, 3).half()
    lin = jg.nn.Linear(4, 3).half()
    with jg.no_grad():
        lin.weight.copy_(jg.tensor(tlin.weight.detach().numpy()))
        lin.bias.copy_(jg.tensor(tlin.bias.detach().numpy()))
    assert lin.weight.dtype is jg.float16
    x = np.linspace(-1, 1, 8).reshape(2, 4).astype(np.float16)
    topt, opt = torch.optim.SGD(tlin.parameters(), lr=0.1), jg.optim.SGD(lin.parameters(), lr=0.1)
    for _ in range(2):
        tloss = tlin(torch.tensor(x)).pow(2).mean()
        loss = lin(jg.tensor(x)).pow(2).mean()
        topt.zero_grad()
        opt.zero_grad()
        tloss.backward()
        loss.backward()
        topt.step()
        opt.step()
    assert lin.weight.dtype is jg.float16
    np.testing.assert_allclose(lin.weight.detach().numpy().astype(np.float32),
                               tlin.weight.detach().numpy().astype(np.float32), atol=2e-3)


def test_embedding_backward_in_float16():
    emb = jg.nn.Embedding(5, 3).half()
    emb(jg.tensor([0, 2, 2])).sum().backward()
    assert emb.weight.grad.dtype is jg.float16
    np.testing.assert_array_equal(emb.weight.grad.numpy()[:, 0], [1, 0, 2, 0, 0])


@pytest.mark.parametrize("name", ["uint8", "int8", "int16"])
def test_small_integers_compile_and_match_eager(name):
    def f(x, y):
        return (x + y) * 3, (x - y).sum(), x.to(jg.float32) * 0.5, (x > y).to(JG[name])

    x = jg.tensor(np.array([1, 100, 7, 120], dtype=name))
    y = jg.tensor(np.array([3, 100, 2, 9], dtype=name))
    for got, expected in zip(jg.jit(f)(x, y), f(x, y)):
        assert got.dtype is expected.dtype
        np.testing.assert_array_equal(got.numpy(), expected.numpy())


def test_float16_in_compiled_mode_matches_eager():
    def f(x, w):
        return ((x * w).sin() + x.exp()).sum() + (x.float() * 2).half().sum()

    rng = np.random.default_rng(1)
    x = jg.tensor(rng.standard_normal(5).astype(np.float16), requires_grad=True)
    w = jg.tensor(rng.standard_normal(5).astype(np.float16), requires_grad=True)
    eager = f(x, w)
    eager.backward()
    gx, gw = x.grad.numpy().copy(), w.grad.numpy().copy()
    x.grad = w.grad = None
    compiled = jg.jit_grad(f)(x, w)
    compiled.backward()
    assert compiled.dtype is jg.float16 and x.grad.dtype is jg.float16
    np.testing.assert_allclose(compiled.detach().numpy().astype(np.float32), eager.detach().numpy().astype(np.float32),
                               rtol=1e-2)
    np.testing.assert_allclose(x.grad.numpy().astype(np.float32), gx.astype(np.float32), rtol=1e-2, atol=1e-2)
    np.testing.assert_allclose(w.grad.numpy().astype(np.float32), gw.astype(np.float32), rtol=1e-2, atol=1e-2)
    value, grads = jg.value_and_grad(lambda a: (a * a).sum())(np.array([1.5, 2.0], np.float16))
    assert value.dtype == np.float16 and grads.dtype == np.float16
    np.testing.assert_array_equal(grads, [3.0, 4.0])


def test_unsupported_dtypes_are_refused_with_the_supported_list():
    with pytest.raises(TypeError, match="complex64 is not supported by jitgrad; use one of bool, uint8"):
        jg.zeros(2, dtype=np.complex64)
    with pytest.raises(TypeError, match="cannot make a jitgrad tensor from NumPy dtype complex128"):
        jg.tensor(np.array([1j]))


def test_save_load_and_torch_files_keep_small_dtypes(tmp_path):
    tensors = {n: jg.tensor([1, 2, 3], dtype=JG[n]) for n in ["uint8", "int8", "int16", "float16"]}
    jg.save(tensors, tmp_path / "small.jg")
    for n, t in jg.load(tmp_path / "small.jg").items():
        assert t.dtype is JG[n] and t.tolist() == [1, 2, 3]
    torch.save({n: torch.tensor([1, 2, 3], dtype=TORCH[n]) for n in tensors}, tmp_path / "small.pt")
    for n, t in jg.load(tmp_path / "small.pt").items():
        assert t.dtype is JG[n] and t.tolist() == [1, 2, 3]
    torch.save({"u": torch.tensor([1, 2], dtype=torch.uint16)}, tmp_path / "u16.pt")
    with pytest.raises(TypeError, match="torch tensor of dtype torch.uint16 has no jitgrad counterpart"):
        jg.load(tmp_path / "u16.pt")


def test_from_dlpack_keeps_small_dtypes_and_names_the_supported_set():
    for n in ["uint8", "int8", "int16", "float16"]:
        assert jg.from_dlpack(np.zeros(2, dtype=n)).dtype is JG[n]
        assert jg.from_dlpack(torch.zeros(2, dtype=TORCH[n])).dtype is JG[n]
    with pytest.raises(TypeError, match="jitgrad tensors hold bool, uint8, int8, int16.*not uint16"):
        jg.from_dlpack(np.zeros(2, dtype=np.uint16))


def test_numpy_ufuncs_on_small_dtypes_stay_tensors():
    x = jg.tensor([1, 2], dtype=jg.uint8)
    assert isinstance(np.add(x, x), jg.Tensor) and np.add(x, x).dtype is jg.uint8
    assert isinstance(np.bitwise_and(x, x), jg.Tensor) and np.bitwise_and(x, x).dtype is jg.uint8
    assert isinstance(np.sqrt(jg.tensor([4.0], dtype=jg.float16)), jg.Tensor)
