"""jitgrad.distributed in one process: errors before init_process_group, `import jitgrad` without
mpi4py, DistributedSampler (against PyTorch's), and a world of size 1 (started without mpiexec).
The multi-rank runs are in test_distributed_mpi.py."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import jitgrad as jg
import jitgrad.distributed as dist
from jitgrad.nn.parallel import DistributedDataParallel
from jitgrad.utils.data import DistributedSampler

ROOT = Path(__file__).resolve().parent.parent


def test_import_jitgrad_does_not_import_mpi4py():
    code = ("import sys, jitgrad, jitgrad.distributed, jitgrad.nn.parallel, jitgrad.utils.data; "
            "assert 'mpi4py' not in sys.modules, 'mpi4py was imported'; print('clean')")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "clean" in run.stdout, run.stderr


@pytest.mark.parametrize("call", [
    lambda: dist.all_reduce(np.ones(2)),
    lambda: dist.broadcast(np.ones(2), src=0),
    lambda: dist.all_gather([np.ones(2)], np.ones(2)),
    lambda: dist.reduce_scatter(np.ones(2), [np.ones(2)]),
    lambda: dist.gather(np.ones(2), [np.ones(2)]),
    lambda: dist.scatter(np.ones(2), [np.ones(2)]),
    lambda: dist.barrier(),
    lambda: dist.get_rank(),
    lambda: dist.get_world_size(),
    lambda: dist.destroy_process_group(),
    lambda: DistributedDataParallel(jg.nn.Linear(2, 2)),
    lambda: DistributedSampler(range(4)),
])
def test_use_before_init_process_group_raises(call):
    assert not dist.is_initialized()
    with pytest.raises(RuntimeError, match=r"has not been initialized; call jitgrad.distributed.init_process_group"):
        call()


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="backend 'nccl' is not supported"):
        dist.init_process_group("nccl")


# ----- DistributedSampler (needs no process group when num_replicas and rank are given) ---------------

@pytest.mark.parametrize("n, replicas, drop_last", [(10, 3, False), (10, 3, True), (2, 4, False), (12, 4, False)])
def test_sampler_shards_like_pytorch_without_shuffle(n, replicas, drop_last):
    torch = pytest.importorskip("torch")
    from torch.utils.data.distributed import DistributedSampler as TorchSampler
    for rank in range(replicas):
        ours = DistributedSampler(range(n), num_replicas=replicas, rank=rank, shuffle=False, drop_last=drop_last)
        theirs = TorchSampler(range(n), num_replicas=replicas, rank=rank, shuffle=False, drop_last=drop_last)
        assert list(ours) == list(theirs) and len(ours) == len(theirs)
    assert torch is not None


def test_sampler_shuffles_into_equal_disjoint_shards_and_set_epoch_reshuffles():
    def shards(epoch):
        out = []
        for rank in range(3):
            s = DistributedSampler(range(12), num_replicas=3, rank=rank, seed=5)
            s.set_epoch(epoch)
            out.append(list(s))
        return out
    first = shards(0)
    assert sorted(sum(first, [])) == list(range(12)) and {len(s) for s in first} == {4}
    assert shards(0) == first  # every rank computes the same permutation
    assert shards(1) != first and sorted(sum(shards(1), [])) == list(range(12))


def test_sampler_rejects_a_bad_rank():
    with pytest.raises(ValueError, match="Invalid rank 3"):
        DistributedSampler(range(4), num_replicas=3, rank=3)


# ----- a world of size 1 (mpi4py needed) ------------------------------------------------------------

@pytest.fixture
def world():
    pytest.importorskip("mpi4py")
    dist.init_process_group("mpi", timeout=30)
    yield
    dist.destroy_process_group()


def test_world_of_size_one(world):
    import numba
    assert dist.is_initialized() and dist.get_rank() == 0 and dist.get_world_size() == 1
    assert numba.get_num_threads() == dist.threads_per_rank() >= 1
    with pytest.raises(RuntimeError, match="twice"):
        dist.init_process_group("mpi")


def test_threads_per_rank_is_set_and_restored():
    pytest.importorskip("mpi4py")
    import numba
    before = numba.get_num_threads()
    dist.init_process_group("mpi", threads_per_rank=1)
    try:
        assert numba.get_num_threads() == dist.threads_per_rank() == 1
    finally:
        dist.destroy_process_group()
    assert numba.get_num_threads() == before
    with pytest.raises(ValueError, match="threads_per_rank must be >= 1"):
        dist.init_process_group("mpi", threads_per_rank=0)
    assert not dist.is_initialized()


def test_example_runs_in_one_process(world):
    import importlib.util
    spec = importlib.util.spec_from_file_location("ddp_train", ROOT / "examples" / "ddp_train.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    result = example.train(epochs=2, samples=512, batch_size=64, verbose=False)
    assert result["ranks"] == 1 and result["accuracy"] > 0.5 and result["gradient_bytes"] == 85008


def test_collectives_on_one_rank(world):
    t = jg.tensor([1.0, -2.0])
    for op in dist.ReduceOp:
        dist.all_reduce(t, op=op)
        assert t.numpy().tolist() == [1.0, -2.0]
    out = [jg.zeros(2)]
    assert dist.all_gather(out, jg.tensor([3.0, 4.0]), async_op=True).wait()
    assert out[0].numpy().tolist() == [3.0, 4.0]
    piece = np.zeros(2)
    dist.reduce_scatter(piece, [np.array([5.0, 6.0])], op=dist.ReduceOp.AVG)
    assert piece.tolist() == [5.0, 6.0]
    got = [np.zeros(1)]
    dist.gather(np.array([7.0]), got)
    dist.scatter(piece, [np.array([8.0, 9.0])])
    assert got[0].tolist() == [7.0] and piece.tolist() == [8.0, 9.0]
    flags = np.array([True, False])
    dist.all_reduce(flags, op=dist.ReduceOp.MAX)
    assert flags.tolist() == [True, False]


def test_collective_input_errors(world):
    with pytest.raises(TypeError, match="AVG needs a floating dtype"):
        dist.all_reduce(np.ones(2, np.int64), op=dist.ReduceOp.AVG)
    with pytest.raises(TypeError, match="not defined for bool"):
        dist.all_reduce(np.ones(2, bool))
    with pytest.raises(TypeError, match="must be a jitgrad.Tensor or a NumPy array, got list"):
        dist.all_reduce([1.0, 2.0])
    with pytest.raises(TypeError, match="op must be a jitgrad.distributed.ReduceOp"):
        dist.all_reduce(np.ones(2), op="sum")
    with pytest.raises(ValueError, match="src=1 is not a rank of this world"):
        dist.broadcast(np.ones(2), src=1)
    with pytest.raises(ValueError, match="one tensor per rank"):
        dist.all_gather([np.ones(2), np.ones(2)], np.ones(2))
    with pytest.raises(ValueError, match="must match the tensor's shape"):
        dist.all_gather([np.ones(3)], np.ones(2))


@pytest.mark.parametrize("compiled", [False, True])
def test_ddp_on_one_rank_trains_as_the_plain_module(world, compiled):
    def run(wrap):
        jg.manual_seed(0)
        model = jg.nn.Sequential(jg.nn.Linear(3, 4), jg.nn.Tanh(), jg.nn.Linear(4, 1)).double()
        net = DistributedDataParallel(model) if wrap else model
        opt = jg.optim.Adam(net.parameters(), lr=0.1)
        x = jg.tensor(np.linspace(-1, 1, 12).reshape(4, 3))
        y = jg.tensor(np.arange(4.0).reshape(4, 1))

        def loss_of(x, y):
            return ((net(x) - y) ** 2).mean()
        loss_fn = jg.jit_grad(loss_of) if compiled else loss_of
        for _ in range(3):
            opt.zero_grad()
            loss_fn(x, y).backward()
            opt.step()
        return [p.detach().numpy() for p in model.parameters()]
    for a, b in zip(run(True), run(False)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_ddp_state_dict_and_no_sync(world):
    ddp = DistributedDataParallel(jg.nn.Linear(2, 1))
    assert sorted(ddp.state_dict()) == ["module.bias", "module.weight"]
    x = jg.ones(1, 2)
    with ddp.no_sync():
        ddp(x).sum().backward()
    ddp(x).sum().backward()
    np.testing.assert_allclose(ddp.module.weight.grad.numpy(), [[2.0, 2.0]])


def test_ddp_reports_parameters_left_without_gradient(world):
    class TwoHeads(jg.nn.Module):
        def __init__(self):
            super().__init__()
            self.used = jg.nn.Linear(2, 1)
            self.unused = jg.nn.Linear(2, 1)

        def forward(self, x):
            return self.used(x)
    ddp = DistributedDataParallel(TwoHeads(), bucket_cap_mb=1e-6)  # one bucket per parameter
    ddp(jg.ones(1, 2)).sum().backward()
    with pytest.raises(RuntimeError, match=r"Expected to have finished reduction.*unused\.(weight|bias)"):
        ddp(jg.ones(1, 2))
    ddp(jg.ones(1, 2))  # reported once; the state was reset


def test_ddp_refuses_a_module_without_trainable_parameters(world):
    with pytest.raises(RuntimeError, match="no parameter that requires gradient"):
        DistributedDataParallel(jg.nn.ReLU())


def test_missing_mpi4py_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # import mpi4py now raises ImportError
    with pytest.raises(ImportError, match=r'pip install "jitgrad\[distributed\]"'):
        dist.init_process_group("mpi")
    assert not dist.is_initialized() and not dist.is_available()


def test_work_wait_timeout_and_hooks_removed_with_ddp(world):
    import datetime
    work = dist.all_reduce(np.ones(2), async_op=True)
    assert work.wait(timeout=datetime.timedelta(seconds=5)) and work.is_completed()
    model = jg.nn.Linear(2, 1)
    ddp = DistributedDataParallel(model)
    assert len(model.weight._post_accumulate_grad_hooks) == 1
    del ddp
    import gc
    gc.collect()
    assert model.weight._post_accumulate_grad_hooks == []
    model(jg.ones(1, 2)).sum().backward()  # the plain module trains on


def test_ring_allreduce_estimate_of_the_benchmark():
    from benchmarks.distributed import ring_allreduce_s
    assert ring_allreduce_s(1e6, 1, 1e-6, 1e9) == 0.0  # one machine: nothing to send
    # 2 machines: 2 steps of latency, and each machine sends and receives half the data twice
    assert ring_allreduce_s(1e6, 2, 1e-6, 1e9) == pytest.approx(2e-6 + 1e-3)


def test_ddp_starts_buckets_while_backward_is_still_running(world):
    """The last layer's bucket is already started when the first layer's gradient arrives."""
    model = jg.nn.Sequential(jg.nn.Linear(3, 4), jg.nn.Tanh(), jg.nn.Linear(4, 2))
    ddp = DistributedDataParallel(model, bucket_cap_mb=1e-6)  # one bucket per parameter
    started_then = []
    model[0].weight.register_hook(lambda g: started_then.append(ddp._next_bucket))
    ddp(jg.ones(1, 3)).sum().backward()
    assert started_then and started_then[0] >= 2  # the two buckets of model[2] (weight, bias)
    assert ddp._next_bucket == 0  # all finished and reset after backward
