"""How long a sleeping thread takes to start running once woken, after the CPUs were idle a while.

Why: a parallel loop's speed-up on few cores depends on its worker threads starting at once. On a
virtual machine whose idle virtual CPU the host has descheduled, a wake-up can take milliseconds:
a 4 ms two-thread kernel then runs most of its chunks on one thread (claimed chunks keep it
correct and no slower than one thread, see kernels.source). This prints the wake-up latency
after several idle times, so a noisy two-thread benchmark cell can be told from a slow kernel.

    python -m benchmarks.wake_latency
"""
from __future__ import annotations

import argparse
import statistics
import threading
import time

import numpy as np


def wake_latency_s(idle_s: float, busy: np.ndarray, out: np.ndarray) -> float:
    """Seconds from setting an event to the waiting thread running, the waker having slept
    `idle_s` first and then working (a NumPy loop that releases the GIL) while the thread wakes."""
    event, woke = threading.Event(), []
    thread = threading.Thread(target=lambda: (event.wait(), woke.append(time.perf_counter())))
    thread.start()
    time.sleep(idle_s)
    start = time.perf_counter()
    event.set()
    np.sin(busy, out=out)
    thread.join()
    return woke[0] - start


def measure(idles_s: tuple[float, ...] = (0.0, 0.001, 0.005, 0.02, 0.1), reps: int = 15) -> list[dict]:
    """Median, smallest and largest wake-up latency (seconds) after each idle time."""
    busy = np.ones(3_000_000, np.float32)
    out = np.empty_like(busy)
    rows = []
    for idle in idles_s:
        samples = [wake_latency_s(idle, busy, out) for _ in range(reps)]
        rows.append({"idle_s": idle, "median_s": statistics.median(samples), "min_s": min(samples),
                     "max_s": max(samples)})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=15, help="wake-ups per idle time")
    args = parser.parse_args(argv)
    print("| idle before | wake-up median | min | max |\n|---:|---:|---:|---:|")
    for r in measure(reps=args.reps):
        print(f"| {r['idle_s'] * 1e3:g} ms | {r['median_s'] * 1e6:.0f} µs | {r['min_s'] * 1e6:.0f} µs "
              f"| {r['max_s'] * 1e6:.0f} µs |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
