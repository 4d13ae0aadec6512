"""Time one step of the optimizers that update through their NumPy rule (RMSprop, Adagrad,
Adadelta) against PyTorch's (single-tensor, 1 thread), on an MLP 256-256-10's parameters,
with Adam (fused Numba kernels) for reference.

Run (from the repository root): python3 -m benchmarks.optim_numpy_rules

Measured on the 2-core dev box under load (load average ~8, so +-30%), us per step,
jitgrad / PyTorch: RMSprop 927 / 1049, Adagrad 768 / 1000, Adadelta 1515 / 2128, Adam 478 / 1865.
"""
from __future__ import annotations

import timeit

import jitgrad
from jitgrad import optim

SHAPES = [(256, 256), (256,), (256, 256), (256,), (10, 256), (10,)]


def time_step(opt, repeat: int = 5, number: int = 200) -> float:
    """Best-of-`repeat` microseconds per step()."""
    opt.step()
    return min(timeit.repeat(opt.step, number=number, repeat=repeat)) / number * 1e6


def main() -> None:
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        torch = None
    for name in ["RMSprop", "Adagrad", "Adadelta", "Adam"]:
        params = [jitgrad.zeros(*s, requires_grad=True) for s in SHAPES]
        for p in params:
            p.grad = jitgrad.ones(*p.shape)
        line = f"{name:9s} jitgrad {time_step(getattr(optim, name)(params, lr=1e-3)):8.1f} us"
        if torch is not None:
            tparams = [torch.zeros(*s, requires_grad=True) for s in SHAPES]
            for p in tparams:
                p.grad = torch.ones(*p.shape)
            line += f"   torch {time_step(getattr(torch.optim, name)(tparams, lr=1e-3)):8.1f} us"
        print(line)


if __name__ == "__main__":
    main()
