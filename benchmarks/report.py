"""Turns a harness report into results.md (Markdown table), results.json (raw numbers) and
results.png (log-scale bar chart), with the machine, library versions and thread settings."""
from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import sys
from pathlib import Path

LIBRARIES = ("numpy", "numba", "llvmlite", "torch", "jax", "jaxlib", "matplotlib")


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux, else what platform knows)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(name: str) -> str | None:
    module = sys.modules.get(name)
    if module is not None and getattr(module, "__version__", None):
        return str(module.__version__)
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_info() -> dict:
    """CPU, cores, OS, Python, library versions, BLAS and the thread counts in effect."""
    import numpy as np
    info = {"cpu": cpu_model(), "cores": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version()}
    if hasattr(os, "sched_getaffinity"):
        info["usable_cores"] = len(os.sched_getaffinity(0))
    versions = {name: _version(name) for name in LIBRARIES}
    try:
        import jitgrad
        versions["jitgrad"] = jitgrad.__version__
    except ImportError:
        versions["jitgrad"] = None
    info["versions"] = versions
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["blas"] = f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # noqa: BLE001 - the layout of NumPy's build info is not an API
        info["blas"] = "unknown"
    threads = {}
    if "torch" in sys.modules:
        threads["torch intra-op"] = sys.modules["torch"].get_num_threads()
    if "numba" in sys.modules:
        threads["numba"] = sys.modules["numba"].config.NUMBA_NUM_THREADS
    info["library_threads"] = threads
    if hasattr(os, "getloadavg"):
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return info


def fmt_time(seconds: float) -> str:
    """A duration with a readable unit: 812 ns, 12.3 µs, 4.56 ms, 1.23 s."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            value = seconds / scale
            return f"{value:.3g} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def _floor_line(row: dict, goal: dict) -> list[str]:
    """Below a ratio goal not met, the row's floor (workloads.Floor): where it is above the goal's
    bound, that no column could meet it here; below it, how much time the rest of the column's
    work has left under the bound."""
    floor = row.get("floor")
    base = row["cells"].get(goal["against"], {}).get("median_s")
    if not floor or goal.get("max_seconds") is not None or not base or goal.get("met"):
        return []
    bound = goal["max_ratio"] * base
    took = (f"{floor['what']} alone take {fmt_time(floor['median_s'])} "
            f"({floor['median_s'] / base:.2f}× {goal['against']})")
    if floor["median_s"] <= bound:
        return [f"  - floor: {took}, leaving {fmt_time(bound - floor['median_s'])} under the goal's "
                f"{fmt_time(bound)} for the rest of the step"]
    return [f"  - out of reach here: {took}, above the goal's {fmt_time(bound)}"]


def _ratio(r: float) -> str:
    return f"{r:.2f}×" if r >= 0.1 else f"{r:.2g}×"


def _cell(cell: dict, baseline: bool) -> str:
    if cell["status"] == "ok":
        text = fmt_time(cell["per_unit_s"])
        return text if baseline or "ratio" not in cell else f"{text} ({_ratio(cell['ratio'])})"
    return {"n/a": "n/a", "wrong": "WRONG", "error": "error"}[cell["status"]]


def _short(values) -> str:
    if isinstance(values, list):
        return "[" + ", ".join(_short(v) for v in values) + "]"
    return f"{values:.6g}"


def _thread_settings(env: dict[str, str]) -> str:
    """The thread variables grouped by value: "OMP_NUM_THREADS, MKL_NUM_THREADS = 1"."""
    if not env:
        return "not capped (library defaults)"
    groups: dict[str, list[str]] = {}
    for name, value in env.items():
        groups.setdefault(value, []).append(name)
    return "; ".join(f"{', '.join(names)} = {value}" for value, names in groups.items())


def _busy_note(machine: dict) -> list[str]:
    """A warning line when other work kept the machine busy at the start of the run."""
    load, cores = machine.get("load_average"), machine.get("usable_cores") or machine.get("cores") or 1
    if not load or load[0] <= 0.5 * cores:
        return [""]
    return ["", f"**Timings are noisy:** the machine was busy with other work (load average {load[0]} on "
            f"{cores} cores at the start of the run).", ""]


def markdown(report: dict) -> str:
    """The whole report as Markdown: header, table, goals, end-to-end results, notes."""
    m, s, cols = report["machine"], report["settings"], report["columns"]
    v = m["versions"]
    libs = ", ".join(f"{k} {v[k]}" for k in ("jitgrad", "numpy", "numba", "torch", "jax", "matplotlib") if v.get(k))
    thread_env = _thread_settings(report["threads"])
    lib_threads = ", ".join(f"{k} {val}" for k, val in m["library_threads"].items())
    load = m.get("load_average")
    lines = [
        "# jitgrad benchmarks",
        "",
        f"- **Run:** `{s['mode']}` mode, started {report['started']}, took {report['duration_s']:.0f} s"
        + (f"; only {', '.join(s['only'])}" if s["only"] else ""),
        f"- **Machine:** {m['cpu']}, {m['cores']} cores ({m.get('usable_cores', '?')} usable), {m['platform']}, "
        f"Python {m['python']}" + (f"; load average at start {load[0]}" if load else ""),
        f"- **Libraries:** {libs}; NumPy BLAS: {m['blas']}",
        f"- **Threads:** {thread_env}" + (f"; in effect: {lib_threads}" if lib_threads else ""),
        f"- **Method:** every cell is first checked against the NumPy baseline, or the row's stated answer where it "
        f"has one, or for the model rows (MLPE, GRU, TRF, EMB: no hand-written NumPy gradients) against jitgrad "
        f"eager, their ratio column too (value and every gradient, "
        f"rtol {s['rtol']:g}, float32), then warmed up, then repeated until {s['min_time_s']:g} s and at least "
        f"{s['min_reps']} repetitions (at most {s['max_reps']}), in {s.get('rounds', 1)} rounds that time the "
        f"row's columns in turn (a slow minute of the machine hits all of them); the table shows the median time "
        f"and, in "
        f"parentheses, its ratio to NumPy measured in the same run (lower is better). End-to-end rows time one "
        f"full run after a short warm-up run.",
        *_busy_note(m),
        "| row | " + " | ".join(cols) + " |",
        "|---|" + "---:|" * len(cols),
    ]
    for row in report["rows"]:
        unit = {"call": "", "op": " — per op", "run": " — total"}[row["per"]]
        cells = [_cell(row["cells"][c], c == cols[0]) for c in cols]
        g = row["goal"]
        goal = f"; goal: {g['variant']} ≤ {g['max_ratio']:g}× {g['against']}" if g else ""
        lines.append(f"| {row['key']} {row['label']}{unit}{goal} | " + " | ".join(cells) + " |")
    goals = [(r, g) for r in report["rows"] for g in (r.get("goals") or ([r["goal"]] if r["goal"] else []))]
    if goals:
        lines += ["", "## Goals", ""]
        for r, g in goals:
            if g.get("max_seconds") is not None:
                head = f"- {r['key']}: {g['variant']} ≤ {g['max_seconds'] * 1e3:.3g} ms"
                if g.get("full_max_seconds", g["max_seconds"]) != g["max_seconds"]:
                    head += f" (the goal {g['full_max_seconds'] * 1e3:g} ms at full size, scaled to this size)"
                measured = None if g["seconds"] is None else f"{g['seconds'] * 1e3:.3g} ms"
            else:
                head = f"- {r['key']}: {g['variant']} ≤ {g['max_ratio']:g}× {g['against']}"
                measured = None if g["ratio"] is None else _ratio(g["ratio"])
            if measured is None:
                lines.append(f"{head}: not measured ({g['why']})")
            else:
                lines.append(f"{head}: measured {measured} — {'met' if g['met'] else 'NOT met'}")
                lines += _floor_line(r, g)
    ends = [r for r in report["rows"] if r["per"] == "run"]
    for r in ends:
        lines += ["", f"## {r['key']} results ({r['label']})", ""]
        names = r["outputs"]
        if r["expected"] is not None:
            pairs = zip(names, r["expected"], strict=True)
            lines.append("- expected: " + ", ".join(f"{n} ≈ {_short(x)}" for n, x in pairs))
        else:
            lines.append("- short run: every variant is checked against the NumPy baseline's result")
        for c in cols:
            cell = r["cells"][c]
            if "result" in cell:
                verdict = "ok" if cell["status"] == "ok" else cell["status"].upper()
                pairs = zip(names, cell["result"], strict=True)
                lines.append(f"- {c}: " + ", ".join(f"{n} {_short(x)}" for n, x in pairs) + f" — {verdict}")
    notes = [f"- {c}: column left out — {why}" for c, why in report["hidden_columns"].items()]
    seen = set()
    for row in report["rows"]:
        for c in cols:
            cell = row["cells"][c]
            if cell["status"] == "n/a" and (c, cell["reason"]) not in seen:
                seen.add((c, cell["reason"]))
                notes.append(f"- {c}: n/a — {cell['reason']}")
            elif cell["status"] in ("wrong", "error"):
                notes.append(f"- {row['key']} {c}: {cell['status'].upper()} — {cell['reason']}")
            for message in cell.get("warnings", ()):
                notes.append(f"- {row['key']} {c} warned: {message}")
    if notes:
        lines += ["", "## Notes", "", *notes]
    return "\n".join(lines) + "\n"


def chart(report: dict, path: Path) -> str | None:
    """Write the log-scale bar chart; returns why not when matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install -e '.[bench]'): no chart"
    rows, cols = report["rows"], report["columns"]
    width = 0.8 / len(cols)
    fig, ax = plt.subplots(figsize=(max(8.0, 1.3 * len(rows)), 5.0))
    for i, c in enumerate(cols):
        xs = [j + (i - (len(cols) - 1) / 2) * width for j, r in enumerate(rows) if r["cells"][c]["status"] == "ok"]
        ys = [r["cells"][c]["per_unit_s"] for r in rows if r["cells"][c]["status"] == "ok"]
        ax.bar(xs, ys, width, label=c)
    ax.set_yscale("log")
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([f"{r['key']}\n{r['label'].split('(')[-1].rstrip(')')}\n({'per ' + r['per']})"
                        for r in rows], fontsize=7)
    ax.set_ylabel("seconds (median; log scale)")
    ax.set_title(f"jitgrad benchmarks ({report['settings']['mode']} mode, {report['machine']['cpu']})")
    ax.legend(fontsize=8)
    ax.grid(axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return None


def write(report: dict, out: Path, extra: str = "") -> list[str]:
    """Write results.md (with `extra` markdown after the table: the big-array goals, the contended
    run), results.json and results.png into `out`; returns notes for the user."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.md").write_text(markdown(report) + extra, encoding="utf-8")
    (out / "results.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    why = chart(report, out / "results.png")
    return [why] if why else []
