"""Data-parallel training over MPI: an MLP on a synthetic 4-class problem, each rank training on its
shard (DistributedSampler) with gradients averaged by DistributedDataParallel.

Run (4 processes):   mpiexec -n 4 python -m mpi4py examples/ddp_train.py
Run (one process):   python examples/ddp_train.py          (a world of size 1)
Options: --epochs N --samples N --batch-size N (global batch, split over the ranks) --jit (jit_grad loss)
`-m mpi4py` makes a rank that raises abort the whole job instead of leaving the others waiting.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import jitgrad as jg
import jitgrad.distributed as dist
from jitgrad import nn
from jitgrad.nn.parallel import DistributedDataParallel
from jitgrad.utils.data import DistributedSampler

FEATURES, CLASSES, HIDDEN = 32, 4, 128


def synthetic_dataset(samples: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The same inputs and labels on every rank: labels from a fixed random linear teacher."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((samples, FEATURES)).astype(np.float32)
    teacher = rng.standard_normal((FEATURES, CLASSES)).astype(np.float32)
    y = np.argmax(x @ teacher + 0.3 * rng.standard_normal((samples, CLASSES)), axis=1).astype(np.int64)
    return x, y


def train(epochs: int = 5, samples: int = 4096, batch_size: int = 256, compiled: bool = False,
          lr: float = 1e-2, verbose: bool = True) -> dict:
    """Train; return {'ranks', 'samples_per_s' (all ranks together, epochs after the first), 'loss',
    'accuracy', 'gradient_bytes' (what each step averages across ranks)}."""
    if not dist.is_initialized():
        dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    if batch_size % world:
        raise ValueError(f"--batch-size {batch_size} must be divisible by the number of ranks ({world})")
    x, y = synthetic_dataset(samples)
    jg.manual_seed(rank)  # different initial weights per rank: DDP copies rank 0's
    model = DistributedDataParallel(nn.Sequential(nn.Linear(FEATURES, HIDDEN), nn.ReLU(),
                                                  nn.Linear(HIDDEN, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, CLASSES)))
    optimizer = jg.optim.Adam(model.parameters(), lr=lr)
    loss_of = nn.CrossEntropyLoss()

    def step_loss(xb, yb):
        return loss_of(model(xb), yb)
    loss_fn = jg.jit_grad(step_loss) if compiled else step_loss
    sampler = DistributedSampler(range(samples), shuffle=True, seed=0, drop_last=True)
    local_batch = batch_size // world
    if verbose and rank == 0:
        print(f"ranks: {world}, threads per rank: {dist.threads_per_rank()}, global batch {batch_size}", flush=True)
    seen, busy = 0, 0.0
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        order = np.fromiter(sampler, dtype=np.int64)
        dist.barrier()
        start = time.perf_counter()
        steps = 0
        for i in range(0, len(order) - local_batch + 1, local_batch):
            idx = order[i:i + local_batch]
            optimizer.zero_grad()
            loss = loss_fn(jg.tensor(x[idx]), jg.tensor(y[idx]))
            loss.backward()
            optimizer.step()
            steps += 1
        dist.barrier()
        if epoch > 0 or epochs == 1:  # the first epoch pays for compilation: not timed unless it is the only one
            seen += steps * local_batch * world
            busy += time.perf_counter() - start
        if verbose and rank == 0:
            print(f"epoch {epoch}: loss {loss.item():.4f}", flush=True)
    with jg.no_grad():
        accuracy = float((model(jg.tensor(x)).numpy().argmax(axis=1) == y).mean())
    result = {"ranks": world, "samples_per_s": seen / busy if busy else float("nan"), "loss": loss.item(),
              "accuracy": accuracy,
              "gradient_bytes": sum(p.numel() * p.dtype.itemsize for p in model.parameters())}
    if verbose and rank == 0:
        print(f"final accuracy {accuracy:.3f}, {result['samples_per_s']:.0f} samples/s", flush=True)
    return result


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--samples", type=int, default=4096)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--jit", action="store_true", help="compile the loss and its gradient with jit_grad")
    args = p.parse_args(argv)
    return train(args.epochs, args.samples, args.batch_size, args.jit)


if __name__ == "__main__":
    main()
