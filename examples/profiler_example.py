"""Profile a few training steps of a small MLP: print PyTorch's style of table and write a Chrome
trace (open it at chrome://tracing or https://ui.perfetto.dev).

    python examples/profiler_example.py --trace mlp_trace.json
"""
from __future__ import annotations

import argparse
import os
import tempfile

import jitgrad as jg
from jitgrad import nn, optim
from jitgrad.autograd import profiler


def make_model() -> nn.Module:
    """A 16-32-1 MLP with a tanh hidden layer."""
    return nn.Sequential(nn.Linear(16, 32), nn.Tanh(), nn.Linear(32, 1))


def train_step(model: nn.Module, opt: optim.Optimizer, loss_fn, x, y) -> float:
    """One SGD step, each phase in its own labelled region."""
    with profiler.record_function("forward"):
        loss = loss_fn(model(x), y)
    with profiler.record_function("backward"):
        opt.zero_grad()
        loss.backward()
    with profiler.record_function("optimizer.step"):
        opt.step()
    return loss.item()


def main(trace_path: str | None = None, steps: int = 3, quiet: bool = False) -> profiler.profile:
    """Profile `steps` training steps; print the table and write the trace. Returns the profile."""
    jg.manual_seed(0)
    model = make_model()
    opt = optim.SGD(model.parameters(), lr=0.05)
    loss_fn = nn.MSELoss()
    x, y = jg.randn(64, 16), jg.randn(64, 1)
    train_step(model, opt, loss_fn, x, y)  # warm-up, outside the profile
    with profiler.profile(record_shapes=True) as prof:
        for _ in range(steps):
            with profiler.record_function("train_step"):
                loss = train_step(model, opt, loss_fn, x, y)
    if trace_path is None:
        trace_path = os.path.join(tempfile.gettempdir(), "jitgrad_mlp_trace.json")
    prof.export_chrome_trace(trace_path)
    if not quiet:
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))
        print(prof.key_averages(group_by_input_shape=True).table(sort_by="cpu_time_total", row_limit=8))
        print(f"final loss {loss:.4f}; Chrome trace written to {trace_path}")
    return prof


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trace", default=None, help="where to write the Chrome trace JSON")
    parser.add_argument("--steps", type=int, default=3, help="training steps to profile")
    args = parser.parse_args()
    main(args.trace, args.steps)
