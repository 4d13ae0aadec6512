"""GPU tensors asked for where there is no GPU (and no simulator): a clear CudaUnavailable error
that says what is missing and both ways out, from every way of making one; CPU users never load
numba.cuda. Runs in the normal test run; skipped where CUDA (or the simulator) is usable."""
import os
import subprocess
import sys

import pytest

import jitgrad as jg
from jitgrad._kernels.cuda import runtime


@pytest.fixture
def no_gpu():
    if runtime.available():
        pytest.skip("CUDA (or the simulator) is usable here")


def test_is_available_is_false(no_gpu):
    assert jg.cuda.is_available() is False
    assert jg.cuda.is_simulated() is False
    assert jg.cuda.device_count() == 0


MAKERS = {
    "ones": lambda x: jg.ones(2, device="cuda"),
    "zeros": lambda x: jg.zeros(2, 3, device="cuda:0"),
    "tensor": lambda x: jg.tensor([1.0, 2.0], device="cuda"),
    "full": lambda x: jg.full((2,), 3.0, device="cuda"),
    "arange": lambda x: jg.arange(3, device="cuda"),
    "eye": lambda x: jg.eye(2, device=jg.device("cuda")),
    "randn": lambda x: jg.randn(2, device="cuda"),
    "rand": lambda x: jg.rand(2, device="cuda"),
    "randint": lambda x: jg.randint(0, 3, (2,), device="cuda"),
    "zeros_like": lambda x: jg.zeros_like(x, device="cuda"),
    ".cuda()": lambda x: x.cuda(),
    ".to('cuda')": lambda x: x.to("cuda"),
    ".to(device)": lambda x: x.to(jg.device("cuda", 0)),
    ".to(dtype, device)": lambda x: x.to("cuda", jg.float64),
    "requires_grad .cuda()": lambda x: jg.ones(2, requires_grad=True).cuda(),
    "get_device_name": lambda x: jg.cuda.get_device_name(),
    "synchronize": lambda x: jg.cuda.synchronize(),
}


@pytest.mark.parametrize("make", MAKERS.values(), ids=MAKERS.keys())
def test_making_a_gpu_tensor_says_what_is_missing_and_the_ways_out(no_gpu, make):
    x = jg.ones(2)
    with pytest.raises(runtime.CudaUnavailable) as err:
        make(x)
    assert isinstance(err.value, RuntimeError)
    msg = str(err.value)
    assert msg.startswith("CUDA is not available: ")
    assert any(why in msg for why in ("numba.cuda could not be imported", "no CUDA driver", "no GPU",
                                      "CUDA driver could not be initialised", "libNVVM"))
    assert "jitgrad[cuda]" in msg and "NVIDIA GPU" in msg  # way out 1: a GPU machine
    assert "NUMBA_ENABLE_CUDASIM=1" in msg and "simulator" in msg  # way out 2: the simulator
    assert not x.requires_grad and x.grad_fn is None  # nothing changed on the failed move


def test_cpu_tensors_are_untouched(no_gpu):
    x = jg.tensor([1.0, 2.0])
    assert x.device == jg.device("cpu") and not x.is_cuda
    assert x.cpu() is x and x.to("cpu") is x
    assert not hasattr(x, "__cuda_array_interface__")
    jg.cuda.manual_seed(1)  # seeding an absent GPU is harmless (as in PyTorch)


def test_import_jitgrad_does_not_import_numba_cuda():
    code = ("import sys, jitgrad, jitgrad.cuda; x = jitgrad.ones(3, requires_grad=True); "
            "(x * 2).sum().backward(); "
            "assert 'numba.cuda' not in sys.modules, 'numba.cuda was imported'; "
            "assert 'jitgrad._kernels.cuda' not in sys.modules, 'kernels.cuda was imported'; print('ok')")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))), timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
