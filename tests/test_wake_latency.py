"""benchmarks.wake_latency: a row per idle time, latencies positive and ordered."""
from __future__ import annotations

from benchmarks import wake_latency


def test_measure_gives_a_row_per_idle_time():
    rows = wake_latency.measure(idles_s=(0.0, 0.002), reps=3)
    assert [r["idle_s"] for r in rows] == [0.0, 0.002]
    assert all(0 < r["min_s"] <= r["median_s"] <= r["max_s"] < 5.0 for r in rows)


def test_main_prints_the_table(capsys):
    assert wake_latency.main(["--reps", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| idle before |") and len(lines) == 2 + 5
