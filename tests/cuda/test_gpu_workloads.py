"""The seed workloads W1..W6 (benchmarks/workloads) on the GPU at tiny sizes: the benchmark code
itself runs with its leaves made on the GPU (eager mode) or its inputs given as GPU tensors
(compiled mode: value_and_grad, and jit_grad in the W2 training loop), and must give the CPU
eager values and gradients. Runs under Numba's simulator:

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda/test_gpu_workloads.py
"""

import numpy as np
import pytest
from gpu_targets import needs_cuda

import jitgrad as jg
from benchmarks.workloads import data
from benchmarks.workloads import jitgrad_eager as eager_workloads
from benchmarks.workloads import jitgrad_jit as jit_workloads

pytestmark = needs_cuda


def _small_mlp(batch: int = 2, n_in: int = 12, hidden: int = 6, n_out: int = 3) -> dict:
    """W3's network (Linear - ReLU - Linear, MSE to a target) with data.mlp's recipe, shrunk:
    the simulator runs every CUDA thread as a Python thread."""
    rng = np.random.default_rng(data.SEED)
    w1, b1 = data._linear_init(rng, hidden, n_in)
    w2, b2 = data._linear_init(rng, n_out, hidden)
    return {"x": rng.standard_normal((batch, n_in), dtype=np.float32),
            "target": rng.standard_normal((batch, n_out), dtype=np.float32),
            "w1": w1, "b1": b1, "w2": w2, "b2": b2}


INPUTS = {
    "W1": lambda: data.sin_sum(16),          # sum(2 sin a + 1)
    "W2": lambda: data.regression(4),        # 4 SGD epochs of the F -> C regression
    "W3": _small_mlp,                        # MLP forward/backward
    "W4": lambda: data.chain(16),            # mean(tanh(xy + sin x) exp(-x^2) + log1p(y^2))
    "W5": lambda: data.rnn(4),               # sum(tanh(W_h h + W_x x))
    "W6": lambda: data.div_mul_loop(4),      # z = (z / x) * y, 4 times
}


def _host(t) -> np.ndarray:
    return np.array(t.detach().numpy() if isinstance(t, jg.Tensor) else t, copy=True)


def _run(factories: dict, key: str, inp: dict, device: str) -> tuple[np.ndarray, list]:
    value, results = factories[key](inp)()
    for t in (value, *results):
        where = t.device.type if isinstance(t, jg.Tensor) else "cpu"  # (NumPy in, NumPy out on the CPU)
        assert where == device, f"{key}: a result is on {where}"
    return _host(value), [_host(r) for r in results]


def _gpu_leaf(array, requires_grad: bool = True) -> jg.Tensor:
    return jg.tensor(array, requires_grad=requires_grad, device="cuda")


def _on_gpu(inp: dict) -> dict:
    return {k: jg.tensor(v, device="cuda") if isinstance(v, np.ndarray) else v for k, v in inp.items()}


@pytest.fixture(scope="module")
def cpu_reference() -> dict:
    """Each workload's value and results (gradients, or W2's trained parameters) in CPU eager mode."""
    return {key: _run(eager_workloads.FACTORIES, key, make(), "cpu") for key, make in INPUTS.items()}


def _assert_close(key: str, mode: str, got: tuple, ref: tuple) -> None:
    np.testing.assert_allclose(got[0], ref[0], rtol=1e-5, atol=1e-6, err_msg=f"{key} {mode}: value")
    assert len(got[1]) == len(ref[1])
    for i, (g, r) in enumerate(zip(got[1], ref[1])):
        assert g.shape == r.shape and g.dtype == r.dtype == np.float32
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-6, err_msg=f"{key} {mode}: result {i}")


@pytest.mark.parametrize("key", sorted(INPUTS))
def test_workload_gpu_eager_matches_cpu(key, cpu_reference, monkeypatch):
    monkeypatch.setattr(eager_workloads, "_leaf", _gpu_leaf)
    _assert_close(key, "gpu eager", _run(eager_workloads.FACTORIES, key, INPUTS[key](), "cuda"), cpu_reference[key])


@pytest.mark.parametrize("key", sorted(INPUTS))
def test_workload_gpu_compiled_matches_cpu(key, cpu_reference):
    run = jit_workloads.FACTORIES[key](_on_gpu(INPUTS[key]()))
    first = _run({key: lambda _: run}, key, None, "cuda")
    _assert_close(key, "gpu compiled", first, cpu_reference[key])
    again = _run({key: lambda _: run}, key, None, "cuda")  # a second call: the cached executables
    _assert_close(key, "gpu compiled (cached)", again, cpu_reference[key])


def test_the_cpu_reference_is_the_compiled_cpu_result_too(cpu_reference):
    """The reference itself: CPU compiled agrees with CPU eager on these inputs."""
    for key, make in INPUTS.items():
        _assert_close(key, "cpu compiled", _run(jit_workloads.FACTORIES, key, make(), "cpu"), cpu_reference[key])
