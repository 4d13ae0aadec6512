"""One rank of the multi-rank tests (tests/test_distributed_mpi.py starts it under mpiexec):
`python -m mpi4py tests/distributed_worker.py SCENARIO [SCENARIO:ARG,ARG ...]`. Every check is an assert; a failing rank
raises, `-m mpi4py` aborts the job, and the test sees a non-zero exit status and this output."""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import jitgrad as jg  # noqa: E402
import jitgrad.distributed as dist  # noqa: E402
from jitgrad.nn.parallel import DistributedDataParallel  # noqa: E402
from jitgrad.utils.data import DistributedSampler  # noqa: E402

TOL = {np.dtype(np.float32): 1e-6, np.dtype(np.float64): 1e-12}


def collectives() -> None:
    rank, size = dist.get_rank(), dist.get_world_size()
    import numba
    expected_threads = max(1, min(os.cpu_count() // size, len(os.sched_getaffinity(0))))  # all ranks on one machine
    assert numba.get_num_threads() == dist.threads_per_rank() == expected_threads, (numba.get_num_threads(), size)
    ranks = np.arange(size, dtype=np.float64)
    for op, expect in [(dist.ReduceOp.SUM, ranks.sum()), (dist.ReduceOp.AVG, ranks.mean()),
                       (dist.ReduceOp.MAX, size - 1), (dist.ReduceOp.MIN, 0)]:
        t = jg.tensor([float(rank), float(rank)])
        assert dist.all_reduce(t, op=op) is None
        assert np.array_equal(t.numpy(), [expect, expect]), (op, t)
    a = np.full((2, 3), rank, dtype=np.int64)
    work = dist.all_reduce(a, async_op=True)
    assert isinstance(work, dist.Work)
    assert work.wait() and work.is_completed()
    assert (a == ranks.sum()).all()
    strided = np.zeros((4, 4))[:, ::2]  # non-contiguous: reduced through a copy, written back
    strided[...] = rank + 1
    dist.all_reduce(strided)
    assert (strided == (ranks + 1).sum()).all()

    b = jg.tensor(np.arange(3.0) + 10 * rank)
    dist.broadcast(b, src=size - 1)
    assert np.array_equal(b.numpy(), np.arange(3.0) + 10 * (size - 1))

    out = [jg.zeros(2, dtype=jg.float64) for _ in range(size)]
    dist.all_gather(out, jg.tensor([rank, -rank], dtype=jg.float64))
    for r in range(size):
        assert np.array_equal(out[r].numpy(), [r, -r])

    piece = jg.zeros(2, dtype=jg.float64)
    dist.reduce_scatter(piece, [jg.tensor([r * 10.0 + rank, 1.0], dtype=jg.float64) for r in range(size)])
    assert np.array_equal(piece.numpy(), [size * rank * 10.0 + ranks.sum(), size]), piece

    got = [np.zeros(3) for _ in range(size)] if rank == 0 else None
    dist.gather(np.full(3, rank + 0.5), got, dst=0)
    if rank == 0:
        assert all((got[r] == r + 0.5).all() for r in range(size))

    mine = np.zeros(2, dtype=np.float32)
    dist.scatter(mine, [np.full(2, r * 2.0, np.float32) for r in range(size)] if rank == 1 else None, src=1)
    assert (mine == rank * 2.0).all()

    works = [dist.all_reduce(np.ones(4) * rank, async_op=True) for _ in range(3)] + [dist.barrier(async_op=True)]
    for w in works:
        w.wait()

    sampler = DistributedSampler(range(10), shuffle=True, seed=3)
    mine_idx = np.array(list(sampler), dtype=np.int64)
    gathered = [np.zeros(len(sampler), np.int64) for _ in range(size)]
    dist.all_gather(gathered, mine_idx)
    covered = np.concatenate(gathered)
    assert set(covered.tolist()) == set(range(10)) and len(covered) == len(sampler) * size, covered
    print(f"rank {rank}: collectives ok", flush=True)


def _model(seed: int, dtype):
    jg.manual_seed(seed)
    model = jg.nn.Sequential(jg.nn.Linear(5, 7), jg.nn.Tanh(), jg.nn.Linear(7, 3))
    return model.double() if dtype == np.float64 else model


def _optimizer(kind: str, params):
    if kind == "sgd":
        return jg.optim.SGD(params, lr=0.1, momentum=0.9)
    return jg.optim.Adam(params, lr=0.01)


def _train(model, batches, kind: str, compiled: bool, no_sync_ctx=None, steps: int = 4):
    """`steps` optimizer steps; each step sums the gradients of its micro-batches (loss / count each)."""
    opt = _optimizer(kind, model.parameters())
    mse = jg.nn.MSELoss()

    def loss_of(x, y):
        return mse(model(x), y)
    loss_fn = jg.jit_grad(loss_of) if compiled else loss_of
    for _ in range(steps):
        opt.zero_grad()
        for i, (x, y) in enumerate(batches):
            last = i == len(batches) - 1
            ctx = no_sync_ctx() if (no_sync_ctx is not None and not last) else contextlib.nullcontext()
            with ctx:
                (loss_fn(x, y) * (1.0 / len(batches))).backward()
        opt.step()


# (dtype, optimizer, compiled, micro-batches per step): every value of each axis, in few runs.
TRAIN_CASES = {
    "f64-eager-sgd-nosync": (np.float64, "sgd", False, 2),
    "f64-jit-adam": (np.float64, "adam", True, 1),
    "f32-eager-adam-nosync": (np.float32, "adam", False, 2),
    "f32-jit-sgd-nosync": (np.float32, "sgd", True, 2),
}


def train(*cases: str) -> None:
    """DDP on shards == one process on the full batch (f32 to 1e-6, f64 to 1e-12)."""
    rank, size = dist.get_rank(), dist.get_world_size()
    batch = 12
    for case in cases or TRAIN_CASES:
        dtype, kind, compiled, micro = TRAIN_CASES[case]
        rng = np.random.default_rng(7)
        X = rng.standard_normal((batch, 5)).astype(dtype)
        Y = rng.standard_normal((batch, 3)).astype(dtype)
        shard = slice(rank * batch // size, (rank + 1) * batch // size)
        reference = _model(0, dtype)
        full = [(jg.tensor(X[k::micro]), jg.tensor(Y[k::micro])) for k in range(micro)]
        _train(reference, full, kind, compiled)
        inner = _model(rank, dtype)  # different on each rank: DDP copies rank 0's parameters
        ddp = DistributedDataParallel(inner, bucket_cap_mb=0.0001)  # several buckets
        xs, ys = X[shard], Y[shard]
        local = [(jg.tensor(xs[k::micro]), jg.tensor(ys[k::micro])) for k in range(micro)]
        _train(ddp, local, kind, compiled, ddp.no_sync if micro > 1 else None)
        for (name, p), q in zip(inner.named_parameters(), reference.parameters()):
            err = np.abs(p.detach().numpy() - q.detach().numpy()).max()
            assert err <= TOL[np.dtype(dtype)], (case, name, err)
        print(f"rank {rank}: {case}: matches full-batch training (max difference {err:.1e})", flush=True)


def mismatch() -> None:
    rank = dist.get_rank()
    try:
        dist.all_reduce(np.zeros(3 + rank))
    except RuntimeError as exc:
        assert "differ across ranks" in str(exc) and "rank 1" in str(exc), exc
    else:
        raise AssertionError("mismatched shapes were not detected")
    try:
        dist.all_reduce(np.zeros(3, dtype=np.float32 if rank else np.float64))
    except RuntimeError as exc:
        assert "float32" in str(exc) and "float64" in str(exc), exc
    else:
        raise AssertionError("mismatched dtypes were not detected")
    try:
        DistributedDataParallel(jg.nn.Linear(3, 2 + rank))
    except RuntimeError as exc:
        assert "differ across ranks" in str(exc), exc
    else:
        raise AssertionError("mismatched models were not detected")
    # Same parameters, different bucket layouts (bucket_cap_mb differs): caught before the first allreduce.
    ddp = DistributedDataParallel(jg.nn.Linear(3, 2), bucket_cap_mb=25.0 if rank == 0 else 1e-6)
    try:
        ddp(jg.ones(1, 3)).sum().backward()
    except RuntimeError as exc:
        assert "gradient bucket 0" in str(exc) and "differ across ranks" in str(exc), exc
    else:
        raise AssertionError("mismatched bucket layouts were not detected")
    dist.barrier()  # the group still works after the errors
    print(f"rank {rank}: mismatches raised on every rank", flush=True)


def dead_rank() -> None:
    if dist.get_rank() == 1:
        os.kill(os.getpid(), signal.SIGKILL)  # dies without a word, as a crashed process would
    dist.all_reduce(np.ones(4))
    raise AssertionError("all_reduce returned although a rank had died")


def silent_rank() -> None:
    if dist.get_rank() == 1:
        time.sleep(60)  # alive but never joins the collective
    dist.all_reduce(np.ones(4))
    raise AssertionError("all_reduce returned although a rank never joined it")


SCENARIOS = {"collectives": collectives, "train": train, "mismatch": mismatch, "dead_rank": dead_rank,
             "silent_rank": silent_rank}

if __name__ == "__main__":
    dist.init_process_group("mpi", timeout=float(os.environ.get("JITGRAD_TEST_TIMEOUT", "60")))
    assert dist.get_world_size() > 1, "launch with mpiexec -n 2 or more"
    for spec in sys.argv[1:]:  # "collectives", "train", "train:CASE,CASE", ...
        name, _, args = spec.partition(":")
        SCENARIOS[name](*[a for a in args.split(",") if a])
    dist.destroy_process_group()
