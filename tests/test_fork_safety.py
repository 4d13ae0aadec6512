"""Parallel kernels and processes/threads: multiprocessing workers (fork and spawn) call compiled
functions after the parent ran a parallel kernel; threads launch parallel kernels at once;
compiling a parallel program never warns (NumbaPerformanceWarning)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest

import jitgrad as jg
from jitgrad._kernels import cpu, threads

ROOT = Path(__file__).resolve().parent.parent

_POOL_SCRIPT = textwrap.dedent("""
    import multiprocessing as mp, sys
    sys.path.insert(0, sys.argv[2])
    import numpy as np
    import numba
    import jitgrad as jg
    from jitgrad._kernels import cpu

    cpu.PARALLEL_THRESHOLD = 64  # a parallel kernel at a tiny size
    f = jg.jit(lambda x: jg.tanh(x) * 2 + 1)
    x = np.linspace(-1, 1, 256)

    def work(i):
        return float(f(x * i).sum())

    if __name__ == "__main__":
        assert "numba.prange" in f.source(x)
        expected = [float((np.tanh(x * i) * 2 + 1).sum()) for i in range(4)]
        first = work(1)  # the parent runs the parallel kernel first
        with mp.get_context(sys.argv[1]).Pool(2) as pool:
            got = pool.map(work, range(4))
        assert np.allclose(got, expected, rtol=1e-9), (got, expected)
        print("layer", numba.threading_layer())
""")


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_pool_workers_call_compiled_functions_after_a_parallel_kernel(method, tmp_path):
    if method not in __import__("multiprocessing").get_all_start_methods():
        pytest.skip(f"no {method} start method here")
    script = tmp_path / "pool_script.py"  # (spawn re-imports the main module from a file)
    script.write_text(_POOL_SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_THREADING_LAYER")}
    env.update(JITGRAD_CACHE_DIR=str(tmp_path / "cache"), NUMBA_NUM_THREADS="2")
    try:
        done = subprocess.run([sys.executable, str(script), method, str(ROOT)], capture_output=True, text=True,
                              env=env, timeout=240)
    except subprocess.TimeoutExpired as exc:  # (the old failure: a worker killed, the Pool waiting forever)
        pytest.fail(f"the Pool hung: {exc.stderr}")
    assert done.returncode == 0, done.stderr
    assert "fork() called" not in done.stderr
    assert done.stdout.strip().startswith("layer ")


def test_a_user_chosen_layer_is_kept():
    class Config:
        THREADING_LAYER = "default"

    config = Config()
    assert threads.set_default_layer({}, config) == "forksafe"
    config.THREADING_LAYER = "omp"
    assert threads.set_default_layer({}, config) == "omp"
    config.THREADING_LAYER = "default"
    assert threads.set_default_layer({"NUMBA_THREADING_LAYER": "omp"}, config) == "default"
    assert threads.set_default_layer({"NUMBA_THREADING_LAYER_PRIORITY": "omp tbb workqueue"}, config) == "default"


def test_parallel_kernels_launched_from_many_threads(monkeypatch):
    monkeypatch.setattr(cpu, "PARALLEL_THRESHOLD", 64)
    f = jg.jit(lambda x: jg.exp(x) * 3 - 1)
    x = np.linspace(-1, 1, 512)
    assert isinstance(f.executable(x).compiled[0].fn, threads.ParallelEntry)
    f(x)
    barrier = threading.Barrier(4)
    errors = []

    def work():
        barrier.wait()
        for _ in range(20):
            if not np.allclose(f(x), np.exp(x) * 3 - 1):
                errors.append("wrong result")

    workers = [threading.Thread(target=work) for _ in range(4)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert not errors  # (with workqueue unguarded, the process aborts here)


@pytest.mark.parametrize("reduce", [lambda x: (x * 2).sum(0), lambda x: (x * 2).sum(), lambda x: jg.tanh(x).mean(1)],
                         ids=["leading", "full", "trailing"])
def test_parallel_programs_compile_without_performance_warnings(reduce, monkeypatch, tmp_path):
    monkeypatch.setenv("JITGRAD_CACHE_DIR", str(tmp_path))  # (compiled here, not loaded from disk)
    monkeypatch.setattr(cpu, "PARALLEL_THRESHOLD", 64)
    x = np.ones((40, 30))
    f = jg.jit(reduce)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = f(x)
    np.testing.assert_allclose(got, reduce(jg.tensor(x)).numpy())
    source = f.source(x)
    assert ("parallel=True" in source) == ("numba.prange(" in source)
