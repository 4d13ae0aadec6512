"""A device back end is one object registered with devices.register_backend: the toy back end
below (NumPy arrays in a wrapper type, CPU kernels for compiled programs) is registered from
this file alone, and tensors on it run eagerly, differentiate, move between devices and compile
through the same code paths as GPU tensors, with no other module of jitgrad told about it."""
from __future__ import annotations

import numpy as np
import pytest

import jitgrad as jg
from jitgrad import devices
from jitgrad._kernels import cpu
from jitgrad.core import TRANSFER

torch = pytest.importorskip("torch")


class ToyArray:
    """Storage of the toy device: a host array that jitgrad must not treat as one."""

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray) -> None:
        self.array = np.asarray(array, order="C")  # (ascontiguousarray makes 0-d arrays 1-d)

    @property
    def shape(self) -> tuple:
        return self.array.shape

    @property
    def dtype(self) -> np.dtype:
        return self.array.dtype

    @property
    def size(self) -> int:
        return self.array.size

    def reshape(self, shape) -> ToyArray:
        return ToyArray(self.array.reshape(shape))


def _host(data) -> np.ndarray:
    return data.array if isinstance(data, ToyArray) else np.asarray(data)


class ToyProgram:
    """A CPU-compiled program called with toy storage (buffers the program expects its caller to
    allocate are made here)."""

    def __init__(self, compiled) -> None:
        self.compiled, self.program, self.source = compiled, compiled.program, compiled.source
        self.calls = 0

    def __call__(self, *arrays):
        self.calls += 1
        buffers = [np.empty(a.shape, a.dtype) for a in self.program.preallocated]
        outs = self.compiled.fn(*[_host(a) for a in arrays], *buffers)
        return tuple(ToyArray(np.asarray(o)) for o in outs)

    def rebuild(self) -> None:
        self.compiled.rebuild()


class ToyBackend:
    """devices.Backend over ToyArray; counts what jitgrad asks of it."""

    def __init__(self) -> None:
        self.ran: list[str] = []
        self.programs: list[ToyProgram] = []

    def is_device_array(self, data) -> bool:
        return isinstance(data, ToyArray)

    def device_of(self, data) -> devices.device:
        return devices.device("toy")

    def full(self, shape, dtype, value):
        return ToyArray(np.full(shape, value, dtype=dtype))

    def copy(self, data):
        return ToyArray(data.array.copy())

    def copy_into(self, dst, src) -> None:
        np.copyto(dst.array, _host(src))

    def move(self, data, device: str):
        values = np.array(_host(data), copy=True)
        return values if devices.device(device).type == "cpu" else ToyArray(values)

    def to_host(self, data) -> np.ndarray:
        return data.array.copy()

    def import_array(self, obj):
        return ToyArray(np.asarray(obj))

    def array_interface(self, data) -> dict:
        return data.array.__array_interface__

    def random(self, kind: str, shape, dtype, seed: int):
        rng = np.random.default_rng(seed)
        return ToyArray((rng.random(shape) if kind == "uniform" else rng.standard_normal(shape)).astype(dtype))

    def run(self, prim, datas, params, shape, dtype):
        self.ran.append(prim.name)
        if prim.kind is TRANSFER:
            return self.move(datas[0], params["device"])
        out = np.asarray(prim.impl(*[_host(d) for d in datas], **params), dtype=dtype)
        return ToyArray(out.reshape(shape))

    def compile_program(self, program, reason: str):
        compiled = ToyProgram(cpu.compile_program(program, reason=reason))
        self.programs.append(compiled)
        return compiled


@pytest.fixture
def toy(monkeypatch):
    """The toy back end registered as device type 'toy' for one test."""
    backend = ToyBackend()
    monkeypatch.setattr(devices, "_loaders", dict(devices._loaders))
    monkeypatch.setattr(devices, "_loaded", dict(devices._loaded))
    monkeypatch.setattr(devices, "_by_storage_type", dict(devices._by_storage_type))
    devices.register_backend("toy", lambda: backend)
    return backend


def test_unregistered_device_type_is_refused():
    with pytest.raises(RuntimeError, match="Expected one of cpu, cuda device type"):
        jg.device("toy")
    with pytest.raises(RuntimeError, match="no back end for device type 'tpu'"):
        devices.backend("tpu")


def test_register_backend_refuses_bad_names(toy):
    with pytest.raises(ValueError, match="cannot register"):
        devices.register_backend("cpu", lambda: toy)
    assert devices.device_types() == ("cpu", "cuda", "toy")


def test_eager_ops_and_gradients_run_on_the_registered_backend(toy):
    x_np = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
    x = jg.tensor(x_np, requires_grad=True)
    xt = torch.tensor(x_np, requires_grad=True)
    y = x.to("toy")
    assert y.device == jg.device("toy") and isinstance(y._data, ToyArray)
    loss = (y.sin() * y + y.exp().sum(1, keepdim=True)).mean()
    assert isinstance(loss._data, ToyArray) and {"sin", "mul", "exp", "sum", "add", "mean"} <= set(toy.ran)
    loss.backward()
    (xt.sin() * xt + xt.exp().sum(1, keepdim=True)).mean().backward()
    assert x.grad.device == jg.device("cpu")  # the gradient came back through to_device's VJP
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(loss.item(), float(torch.mean(xt.sin() * xt + xt.exp().sum(1, keepdim=True)).detach()))


def test_factories_and_in_place_writes_use_the_backend(toy):
    z = jg.zeros(2, 3, device="toy")
    assert isinstance(z._data, ToyArray) and z.device.type == "toy"
    z.add_(1.0)
    z[0] = jg.tensor([4.0, 5.0, 6.0]).to("toy")
    np.testing.assert_array_equal(z.numpy(), [[4, 5, 6], [1, 1, 1]])
    r = jg.rand(4, device="toy")
    assert isinstance(r._data, ToyArray) and ((r.numpy() >= 0) & (r.numpy() < 1)).all()
    assert jg.tensor([1.0, 2.0], device="toy").cpu().tolist() == [1.0, 2.0]


def test_compiled_functions_compile_through_the_backend(toy):
    x_np = np.linspace(-1.0, 1.0, 6).reshape(2, 3)
    w = jg.tensor(x_np, requires_grad=True).to("toy").detach().requires_grad_()
    loss = jg.jit_grad(lambda a: (a.tanh() * a).sum())
    out = loss(w)
    out.backward()
    assert toy.programs and all(p.calls for p in toy.programs)
    assert isinstance(out._data, ToyArray) and isinstance(w.grad._data, ToyArray)
    wt = torch.tensor(x_np, requires_grad=True)
    (wt.tanh() * wt).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), wt.grad.numpy(), rtol=1e-12)
