"""`--contended`: the table run again while another process keeps one core busy.

Each ok cell's contended median is divided by its quiet median from the same invocation; the
goal (issue 20) is that no row gets slower than 1.2x when one core is taken.
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from typing import Iterator

CONTENDED_GOAL = 1.2
_BUSY_LOOP = "while True:\n    pass\n"


@contextlib.contextmanager
def busy_core(core: int | None = None) -> Iterator[int]:
    """A Python busy loop pinned to one core (the last usable one by default) while the block runs."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
    target = cores[-1] if core is None else core

    def pin() -> None:
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {target})

    proc = subprocess.Popen([sys.executable, "-c", _BUSY_LOOP], preexec_fn=pin,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield target
    finally:
        proc.kill()
        proc.wait()


def ratios(quiet: dict, contended: dict) -> list[dict]:
    """Per (row, column): quiet and contended medians and their ratio."""
    out = []
    by_key = {r["key"]: r for r in contended["rows"]}
    for row in quiet["rows"]:
        other = by_key.get(row["key"])
        if other is None:
            continue
        for col, cell in row["cells"].items():
            c = other["cells"].get(col, {})
            if cell.get("status") == "ok" and c.get("status") == "ok":
                r = c["median_s"] / cell["median_s"]
                out.append({"row": row["key"], "label": row["label"], "column": col, "quiet_s": cell["median_s"],
                            "contended_s": c["median_s"], "ratio": r, "met": r <= CONTENDED_GOAL})
    return out


def markdown(rows: list[dict], core: int, threads: dict) -> str:
    """The contended table: each cell's slowdown with one core busy, the goal met or not."""
    n = threads.get("NUMBA_NUM_THREADS", "?")
    policy = os.environ.get("OMP_WAIT_POLICY", "unset")
    lines = ["", f"## Contended: a busy loop on core {core} (threads {n}, OMP_WAIT_POLICY {policy})", "",
             f"| row | column | quiet | contended | contended / quiet | goal ≤ {CONTENDED_GOAL:g}× |",
             "|---|---|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['row']} {r['label']} | {r['column']} | {_fmt(r['quiet_s'])} | {_fmt(r['contended_s'])} "
                     f"| {r['ratio']:.2f} | {'met' if r['met'] else 'NOT met'} |")
    worst = max((r["ratio"] for r in rows), default=float("nan"))
    lines += ["", f"worst slowdown {worst:.2f}× ({sum(not r['met'] for r in rows)} of {len(rows)} cells over the goal)"]
    return "\n".join(lines)


def _fmt(seconds: float) -> str:
    return f"{seconds * 1e3:.3f} ms" if seconds >= 1e-4 else f"{seconds * 1e6:.1f} µs"
