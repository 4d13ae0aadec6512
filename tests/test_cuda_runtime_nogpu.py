"""Without a GPU (and without the simulator) the CUDA runtime says so clearly: which problem was found
and the two ways out. Runs in the normal test run; skipped where CUDA is usable."""
import time

import pytest

from jitgrad._kernels.cuda import runtime


@pytest.fixture
def unavailable():
    if runtime.available():
        pytest.skip('CUDA (or the simulator) is usable here')


def test_require_explains_the_problem_and_the_ways_out(unavailable):
    start = time.perf_counter()
    with pytest.raises(runtime.CudaUnavailable) as err:
        runtime.require()
    assert time.perf_counter() - start < 30
    msg = str(err.value)
    assert msg.startswith('CUDA is not available: ')
    assert any(why in msg for why in ('numba.cuda could not be imported', 'no CUDA driver', 'no GPU',
                                      'CUDA driver could not be initialised', 'libNVVM'))
    assert 'jitgrad[cuda]' in msg and 'NVIDIA GPU' in msg and 'NUMBA_ENABLE_CUDASIM=1' in msg
    assert isinstance(err.value, RuntimeError)


def test_queries_do_not_raise_without_a_device(unavailable):
    assert runtime.available() is False and runtime.simulated() is False
    assert runtime.device_count() == 0
    with pytest.raises(runtime.CudaUnavailable):
        runtime.empty((2,), 'float32')
    with pytest.raises(runtime.CudaUnavailable):
        runtime.device_name()


def test_out_of_memory_error_is_a_memory_error():
    assert issubclass(runtime.DeviceOutOfMemory, MemoryError)
    assert runtime._is_oom(MemoryError()) and not runtime._is_oom(ValueError('x'))

    class FakeApiError(Exception):
        code = 2  # CUDA_ERROR_OUT_OF_MEMORY
    assert runtime._is_oom(FakeApiError('[2] Call to cuMemAlloc results in CUDA_ERROR_OUT_OF_MEMORY'))
