"""Data-parallel figures: allreduce latency (1 KiB / 1 MiB / 64 MiB, 2 ranks) and training throughput of
examples/ddp_train.py with 1 and 2 ranks, on this machine (shared memory). Not part of `python -m
benchmarks` (it starts MPI jobs and takes about a minute).

Run: python -m benchmarks.distributed [--quick] [--ranks 1,2]
     (it starts `mpiexec -n R python -m mpi4py -m benchmarks.distributed --child ...` itself)
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = {"1 KiB": 2**10, "1 MiB": 2**20, "64 MiB": 2**26}
# ASSUMED networks for the many-machine estimate (not measured here): per-message latency, bandwidth.
NETWORKS = {"10 Gb/s Ethernet (assumed 25 µs, 1.1 GB/s)": (25e-6, 1.1e9),
            "100 Gb/s InfiniBand (assumed 2 µs, 11 GB/s)": (2e-6, 11e9)}
RESULT = "RESULT "


def local_mpiexec_env() -> dict:
    """One-machine Open MPI 5 job: shared memory between ranks, PMIx on loopback, runs as root too."""
    env = dict(os.environ)
    env.update({"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1", "OMPI_MCA_btl": "self,sm",
                "PMIX_MCA_ptl_tcp_if_include": "lo", "PYTHONPATH": str(ROOT)})
    return env


def mpiexec(ranks: int, child_args: list[str], limit_s: float = 600) -> dict:
    """Run this module's child mode on `ranks` ranks; rank 0's RESULT line, parsed."""
    beside = Path(sys.executable).parent / "mpiexec"
    exe = str(beside) if beside.exists() else shutil.which("mpiexec")
    if exe is None:
        raise SystemExit('mpiexec not found: pip install "jitgrad[distributed]"')
    cmd = [exe, "-n", str(ranks), sys.executable, "-m", "mpi4py", "-m", f"{__package__}.distributed", "--child",
           *child_args]
    run = subprocess.run(cmd, cwd=ROOT, env=local_mpiexec_env(), capture_output=True, text=True, timeout=limit_s,
                         stdin=subprocess.DEVNULL)
    for line in run.stdout.splitlines():
        if line.startswith(RESULT):
            return json.loads(line[len(RESULT):])
    raise SystemExit(f"{' '.join(cmd)} failed ({run.returncode}):\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")


# ----- child mode: runs inside each rank ----------------------------------------------------------------

def child_latency(quick: bool) -> dict:
    """Seconds per in-place float32 allreduce (SUM), slowest rank, through mpi4py and through jitgrad."""
    import numpy as np
    from mpi4py import MPI

    import jitgrad.distributed as dist
    dist.init_process_group("mpi")
    comm = MPI.COMM_WORLD
    out = {}
    for label, nbytes in SIZES.items():
        a = np.ones(nbytes // 4, np.float32)
        reps = max(3, min(2000, int((0.3 if quick else 1.0) * 2**27 / nbytes)))
        for name, call in (("mpi4py", lambda a=a: comm.Allreduce(MPI.IN_PLACE, a)),
                           ("jitgrad", lambda a=a: dist.all_reduce(a))):
            for _ in range(3):
                call()
            comm.Barrier()
            start = time.perf_counter()
            for _ in range(reps):
                call()
            elapsed = (time.perf_counter() - start) / reps
            out[f"{label} {name}"] = comm.allreduce(elapsed, op=MPI.MAX)
    return out


def child_throughput(epochs: int, samples: int, batch: int) -> dict:
    sys.path.insert(0, str(ROOT / "examples"))
    import ddp_train
    return ddp_train.train(epochs=epochs, samples=samples, batch_size=batch, verbose=False)


def child(argv: list[str]) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["latency", "throughput"])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--samples", type=int, default=8192)
    p.add_argument("--batch", type=int, default=256)
    args = p.parse_args(argv)
    result = child_latency(args.quick) if args.what == "latency" else child_throughput(args.epochs, args.samples,
                                                                                       args.batch)
    import jitgrad.distributed as dist
    if dist.get_rank() == 0:
        print(RESULT + json.dumps(result), flush=True)


# ----- parent mode: starts the jobs and prints the table ------------------------------------------------

def _us(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f} µs" if seconds < 1e-3 else f"{seconds * 1e3:,.2f} ms"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        child(argv[1:])
        return 0
    p = argparse.ArgumentParser(prog=f"python -m {__package__}.distributed", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer repetitions and a shorter training run")
    p.add_argument("--ranks", default="1,2", help="rank counts for the throughput rows (default 1,2)")
    args = p.parse_args(argv)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    epochs, samples = (3, 4096) if args.quick else (4, 8192)
    print(f"# jitgrad.distributed on this machine ({os.cpu_count()} cores, load average {load:.1f})\n")
    latency = mpiexec(2, ["latency"] + (["--quick"] if args.quick else []))
    print("| allreduce, float32 SUM in place, 2 ranks | mpi4py | jitgrad.distributed.all_reduce |")
    print("|---|---:|---:|")
    for label in SIZES:
        print(f"| {label} | {_us(latency[f'{label} mpi4py'])} | {_us(latency[f'{label} jitgrad'])} |")
    print("\n| examples/ddp_train.py (MLP 32-128-128-4, Adam, eager) | samples/s | accuracy |")
    print("|---|---:|---:|")
    base, r = None, None
    for ranks in [int(r) for r in args.ranks.split(",")]:
        for per_rank in sorted({256 // ranks, 256}):  # the same global batch (strong), the same per rank (weak)
            batch = per_rank * ranks
            r = mpiexec(ranks, ["throughput", "--epochs", str(epochs), "--samples", str(samples), "--batch",
                                str(batch)])
            base = base or r["samples_per_s"]
            print(f"| {ranks} rank{'s' if ranks > 1 else ''}, global batch {batch} ({per_rank} per rank) | "
                  f"{r['samples_per_s']:,.0f} ({r['samples_per_s'] / base:.2f}×) | {r['accuracy']:.3f} |")
    print("\nmeasured: every figure above (one run; this shared machine varies by ±40%).")
    if base:
        _estimate(256 / base, r["gradient_bytes"])
    return 0


def ring_allreduce_s(nbytes: float, machines: int, latency_s: float, bandwidth: float) -> float:
    """Ring allreduce: 2(N-1) steps, each moving nbytes/N: 2(N-1)*latency + 2(N-1)/N * nbytes/bandwidth."""
    return 2 * (machines - 1) * latency_s + 2 * (machines - 1) / machines * nbytes / bandwidth


def _estimate(step_s: float, grad_bytes: int) -> None:
    """Weak scaling (each machine keeps a batch of 256): step = measured 1-rank step + allreduce estimate."""
    print(f"\nESTIMATED weak scaling, one rank per machine, batch 256 per machine: step = measured 1-rank step "
          f"({step_s * 1e3:.2f} ms) + ring allreduce of the {grad_bytes / 1e3:.0f} kB gradient on an ASSUMED network "
          "(no overlap counted)\n")
    counts = (2, 4, 8, 16, 64)
    print("| network | " + " | ".join(f"{n} machines" for n in counts) + " |")
    print("|---|" + "---:|" * len(counts))
    for name, (lat, bw) in NETWORKS.items():
        cells = []
        for n in counts:
            step = step_s + ring_allreduce_s(grad_bytes, n, lat, bw)
            cells.append(f"{n * 256 / step:,.0f}/s ({step_s / step:.0%})")
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
