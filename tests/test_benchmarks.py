"""The benchmark harness: a whole run at tiny sizes, the correctness gate, timing and the CLI's errors."""
from __future__ import annotations

import dataclasses
import importlib.util
import io
import json
import os
import types
import warnings

import numpy as np
import pytest

import jitgrad.compiled
import jitgrad.executable
from benchmarks import harness, report
from benchmarks.__main__ import main, parse_args
from benchmarks.workloads import (
    BASELINE,
    CASES,
    EAGER,
    JIT,
    STEP,
    TORCH,
    VARIANTS,
    NotAvailableError,
    Variant,
    data,
    jitgrad_eager,
    jitgrad_jit,
    jitgrad_step,
    numpy_ref,
)

CASE = {c.key: c for c in CASES}
NO_NUMPY_BASELINE = {"W8", "MLPE", "GRU", "TRF", "EMB"}  # whole models: no hand-written NumPy version


def _settings(**kw) -> harness.Settings:
    return harness.Settings(**{"mode": "smoke", "min_time": 0.0, "min_reps": 2, "max_reps": 2, **kw})


def test_smoke_run_checks_and_times_every_row(tmp_path):
    """Every row at tiny sizes; the jit column is left to the CLI test below (its first compile is slow),
    and so are the GRU and Transformer whole-step compiles (MLPE's is checked here)."""
    variants = tuple(dataclasses.replace(v, rows=("W2", "W3S", "MLPE")) if v.name == STEP else v
                     for v in VARIANTS if v.name != JIT)
    result = harness.run(_settings(), variants=variants, stream=io.StringIO())
    result["machine"] = report.machine_info()
    report.write(result, tmp_path)
    saved = json.loads((tmp_path / "results.json").read_text())
    markdown = (tmp_path / "results.md").read_text()
    assert saved["rows"] == json.loads(json.dumps(result["rows"]))
    assert [r["key"] for r in saved["rows"]] == [c.key for c in CASES]
    has_torch = importlib.util.find_spec("torch") is not None
    assert (TORCH in saved["columns"]) == has_torch
    assert (importlib.util.find_spec("matplotlib") is not None) == (tmp_path / "results.png").exists()
    for row in saved["rows"]:
        cells = row["cells"]
        if row["key"] in NO_NUMPY_BASELINE:   # checked against the first column that ran (jitgrad eager)
            assert cells[BASELINE]["status"] == "n/a"
        else:
            assert cells[BASELINE]["status"] == "ok" and cells[BASELINE]["ratio"] == 1.0
        assert cells[EAGER]["status"] == "ok", (row["key"], cells[EAGER])   # eager grads match NumPy's
        assert cells[EAGER]["median_s"] > 0 and cells[EAGER]["reps"] == (1 if row["per"] == "run" else 2)
        if has_torch:
            assert cells[TORCH]["status"] == "ok", (row["key"], cells[TORCH])
        assert f"| {row['key']} " in markdown
    assert "≤ 1.3× NumPy" in markdown and "≤ 2× PyTorch eager" in markdown and "≤ 0.7× PyTorch eager" in markdown
    oh = next(r for r in saved["rows"] if r["key"] == "OH")["cells"][BASELINE]
    assert oh["per_unit_s"] == pytest.approx(oh["median_s"] / CASE["OH"].sizes["smoke"])


def test_model_rows_run_compiled_and_agree_with_eager(monkeypatch):
    """The model rows' jit column (no interpreter fallback: the cell would record its warning)
    matches jitgrad eager, which the smoke run checks against PyTorch."""
    monkeypatch.setattr(jitgrad.executable, "_warned_fallbacks", set())
    for key in ("MLPE", "EMB"):
        case = CASE[key]
        ref = harness.run_cell(case, jitgrad_eager, _settings(), None)[1]
        record, _ = harness.run_cell(case, jitgrad_jit, _settings(), ref)
        assert record["status"] == "ok" and "warnings" not in record, record
    # the whole training step under jg.jit (issue 15's compiled column): same loss and gradients
    record, _ = harness.run_cell(CASE["MLPE"], jitgrad_step, _settings(),
                                 harness.run_cell(CASE["MLPE"], jitgrad_eager, _settings(), None)[1])
    assert record["status"] == "ok" and "warnings" not in record, record
    goals = [(g.variant, g.against, g.max_ratio) for g in (CASE["MLPE"].goal, *CASE["MLPE"].more_goals)]
    assert goals == [(JIT, TORCH, 0.7), (STEP, TORCH, 0.5), (EAGER, TORCH, 2.0)]  # issues 15 and 21


def test_cli_writes_table_json_and_chart(tmp_path, capsys):
    assert main(["--smoke", "--only", "W1a", "--out", str(tmp_path)]) == 0
    saved = json.loads((tmp_path / "results.json").read_text())
    assert (tmp_path / "results.md").read_text() == capsys.readouterr().out.rstrip("\n") + "\n"
    assert saved["settings"]["mode"] == "smoke" and [r["key"] for r in saved["rows"]] == ["W1a"]
    assert saved["machine"]["cpu"] and saved["machine"]["versions"]["numpy"] == np.__version__
    jit_cell = saved["rows"][0]["cells"][JIT]
    assert jit_cell["status"] == ("n/a" if jitgrad_jit.unavailable() else "ok"), jit_cell


def test_wrong_gradient_is_caught_before_timing():
    case = CASE["W1a"]
    ref = harness.run_cell(case, numpy_ref, _settings(), None)[1]
    calls = []

    def off_by_one_percent(inp):
        run = numpy_ref.sin_sum(inp)

        def bad():
            calls.append(1)
            value, (grad,) = run()
            return value, (grad * np.float32(1.01),)
        return bad
    module = types.SimpleNamespace(FACTORIES={"W1": off_by_one_percent})
    cell, _ = harness.run_cell(case, module, _settings(), ref)
    assert cell["status"] == "wrong" and cell["reason"].startswith("a.grad")
    assert "median_s" not in cell and len(calls) == 1


def test_unavailable_and_failing_factories_give_na_and_error():
    def missing(inp):
        raise NotAvailableError("needs jitgrad.frobnicate")

    def broken(inp):
        raise ZeroDivisionError("boom")
    for factory, status, words in ((missing, "n/a", "frobnicate"), (broken, "error", "ZeroDivisionError: boom")):
        module = types.SimpleNamespace(FACTORIES={"W1": factory})
        cell, result = harness.run_cell(CASE["W1a"], module, _settings(), None)
        assert cell["status"] == status and words in cell["reason"] and result is None


def test_warnings_of_a_variant_are_recorded_not_printed():
    def noisy(inp):
        run = numpy_ref.sin_sum(inp)

        def fn():
            warnings.warn("slow path taken", RuntimeWarning, stacklevel=1)
            return run()
        return fn
    ref = harness.run_cell(CASE["W1a"], numpy_ref, _settings(), None)[1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cell, _ = harness.run_cell(CASE["W1a"], types.SimpleNamespace(FACTORIES={"W1": noisy}), _settings(), ref)
    assert cell["status"] == "ok" and cell["warnings"] == ["RuntimeWarning: slow path taken"]


def test_missing_optional_library_hides_the_column_and_missing_required_one_reads_na():
    variants = (Variant(BASELINE, "numpy_ref"), Variant("ghost", "numpy_ref", needs="no_such_lib_zq", optional=True),
                Variant("needed", "numpy_ref", needs="no_such_lib_zq"))
    report = harness.run(_settings(only=("W1a",)), variants=variants, stream=io.StringIO())
    assert report["columns"] == [BASELINE, "needed"]
    assert report["hidden_columns"] == {"ghost": "no_such_lib_zq is not installed"}
    assert report["rows"][0]["cells"]["needed"] == {"status": "n/a", "reason": "no_such_lib_zq is not installed"}


def test_mismatch_reports_what_differs():
    ok = (np.float32(3.0), np.array([1.0, 0.0, -2.0], np.float32))
    names = ("value", "x.grad")
    assert harness.mismatch(ok, ok, names, 1e-3) is None
    near_zero = (ok[0], ok[1] + np.float32(1e-3))      # within rtol * max|want| of entries near zero
    assert harness.mismatch(near_zero, ok, names, 1e-3) is None
    assert "x.grad: shape" in harness.mismatch((ok[0], ok[1][:2]), ok, names, 1e-3)
    assert "dtype float64" in harness.mismatch((ok[0], ok[1].astype(np.float64)), ok, names, 1e-3)
    assert "not finite" in harness.mismatch((np.float32(np.nan), ok[1]), ok, names, 1e-3)
    assert harness.mismatch((np.float32(3.1), ok[1]), ok, names, 1e-3).startswith("value: max |error|")


def test_timing_respects_repetition_limits():
    calls = []
    samples = harness.time_calls(lambda: calls.append(1), _settings(min_reps=3, max_reps=7, min_time=10.0))
    assert len(samples) == len(calls) == 7
    samples = harness.time_calls(lambda: None, _settings(min_reps=4, max_reps=100, min_time=0.0))
    assert len(samples) == 4 and all(s >= 0 for s in samples)


def test_a_rows_columns_are_timed_in_alternating_rounds_sharing_the_budget():
    """A slow minute of the machine must hit every column of a row, not one: each round times every
    column in turn, and the rounds share min_reps and max_reps out."""
    log = []
    fns = {"a": lambda: log.append("a"), "b": lambda: log.append("b")}
    samples = harness.time_interleaved(fns, _settings(min_reps=4, max_reps=4, rounds=2))
    assert log == ["a", "a", "b", "b", "a", "a", "b", "b"]
    assert len(samples["a"]) == len(samples["b"]) == 4


def test_a_column_that_fails_while_timed_keeps_its_error_and_the_others_go_on():
    def broken():
        raise RuntimeError("boom")
    settings = _settings(min_reps=3, max_reps=3, rounds=3)
    samples = harness.time_interleaved({"bad": broken, "good": lambda: None}, settings)
    assert isinstance(samples["bad"], RuntimeError) and len(samples["good"]) == 3
    with pytest.raises(ValueError, match="rounds must be at least 1"):
        _settings(rounds=0)


def test_progress_bar_counts_to_total():
    out = io.StringIO()
    bar = harness.Progress(2, out, width=10)
    bar.show("first")
    bar.step()
    bar.step()
    bar.close()
    text = out.getvalue()
    assert "[----------] 0/2" in text and "[##########] 2/2" in text and "first" in text


def test_w2_numpy_baseline_lands_on_the_stated_answer():
    """330,000 epochs of SGD end at w = 0.5358, b = -17.2503, loss = 2.9279 (about 4 s)."""
    value, (params,) = numpy_ref.regression(data.regression(data.W2_EPOCHS))()
    want_loss, (want_params,) = data.W2_LANDING
    assert value == pytest.approx(want_loss, abs=1e-3)
    np.testing.assert_allclose(params, want_params, atol=2e-3)


def test_only_selects_workloads_and_rows_case_insensitively():
    assert [c.key for c in harness.select_cases(("W1", "w3b"))] == ["W1a", "W1b", "W3b"]
    assert harness.select_cases(None) == CASES


def test_bad_arguments_are_refused_with_a_clear_message(capsys):
    assert main(["--smoke", "--only", "W1,W9"]) == 2
    err = capsys.readouterr().err
    assert "unknown workload(s) W9" in err and "W1, W2" in err
    for argv, words in ((["--reps", "0"], "--reps must be at least 1"), (["--threads", "-1"], "--threads must be 0"),
                        (["--quick", "--smoke"], "not allowed with")):
        with pytest.raises(SystemExit):
            parse_args(argv)
        assert words in capsys.readouterr().err
    with pytest.raises(ValueError, match="mode must be one of full, quick, smoke"):
        harness.Settings(mode="fast")
    with pytest.raises(ValueError, match="first variant must be the baseline"):
        harness.run(_settings(), variants=(Variant(EAGER, "jitgrad_eager"),))


def test_training_step_rows_state_their_goals_and_land_together():
    """W2 and W3S: every training-step column agrees with NumPy; W2 states four goals (one in seconds);
    the step-only columns read n/a elsewhere, with one note."""
    from benchmarks.workloads import FORI, STEP
    variants = tuple(v for v in VARIANTS if v.name in (BASELINE, EAGER, JIT, STEP, FORI))
    result = harness.run(_settings(only=("W2", "W3S", "W1a")), variants=variants, stream=io.StringIO())
    rows = {r["key"]: r for r in result["rows"]}
    for key in ("W2", "W3S"):
        for name in (EAGER, JIT, STEP):
            assert rows[key]["cells"][name]["status"] == "ok", (key, name, rows[key]["cells"][name])
    assert rows["W2"]["cells"][FORI]["status"] == "ok"
    assert rows["W1a"]["cells"][STEP]["status"] == "n/a"
    goals = rows["W2"]["goals"]
    assert [g["variant"] for g in goals] == [STEP, JIT, EAGER, FORI]
    assert goals[3]["full_max_seconds"] == 0.020 and goals[3]["met"] is not None
    # (stated for the 330,000-epoch run: a shorter run is held to the same time per epoch)
    assert goals[3]["max_seconds"] == pytest.approx(0.020 * rows["W2"]["size"] / 330_000)
    result["machine"] = report.machine_info()
    text = report.markdown(result)
    assert "(the goal 20 ms at full size, scaled to this size): measured" in text
    assert text.count("runs the W2 rows only") == 1
    floor = rows["W3S"]["floor"]  # (timed beside the columns: the two GEMMs every column computes)
    assert floor["what"].startswith("the step's two") and floor["median_s"] > 0
    assert rows["W2"]["floor"] is None


def test_a_floor_is_printed_under_a_goal_not_met_above_or_below_its_bound():
    """A row's floor (work every column does) is named under a ratio goal not met: above the goal's
    bound no column could meet the goal on this machine; below it, the line says how much time the
    rest of the step has left under the bound. Under a goal met it is not printed."""
    goal = {"variant": STEP, "against": JIT, "max_ratio": 0.5, "ratio": 0.8, "met": False}
    row = {"cells": {JIT: {"status": "ok", "median_s": 120e-6}}, "floor": {"what": "two GEMMs", "median_s": 90e-6}}
    line, = report._floor_line(row, goal)
    assert "out of reach here: two GEMMs alone take 90 µs (0.75× jitgrad jit), above the goal's 60 µs" in line
    row["floor"]["median_s"] = 45e-6
    line, = report._floor_line(row, goal)
    assert "floor: two GEMMs alone take 45 µs (0.38× jitgrad jit), leaving 15 µs under the goal's 60 µs" in line
    assert report._floor_line(row, {**goal, "ratio": 0.4, "met": True}) == []
    assert report._floor_line({**row, "floor": None}, goal) == []


def test_transformer_floor_runs_each_product_of_the_step_once():
    """TRF's floor: 3 GEMMs per projection (forward, input and weight gradients) for the 4 of each
    block and the output layer, and 6 attention products per block, of the step's shapes."""
    from benchmarks.workloads import data, floors
    inp = data.transformer(2)
    run = floors.transformer_products(inp)
    products = run.products
    assert len(products) == 27 + 12
    for a, b, out in products:
        assert out.shape == np.matmul(a, b).shape
    assert run() is products[-1][2]


def test_transformer_compiled_cells_run_by_default_like_the_gru_ones():
    """The Transformer runs as kernels (24 s CPU cold, not minutes): its jit and whole-step cells run
    unless JITGRAD_BENCH_SKIP_SLOW_COMPILES=1 leaves out every slow compile (the GRU's as well)."""
    assert CASE["TRF"].skips == CASE["GRU"].skips
    assert (JIT in CASE["TRF"].skips) == (os.environ.get("JITGRAD_BENCH_SKIP_SLOW_COMPILES") == "1")


def test_a_goal_in_seconds_is_judged_at_the_scaled_limit():
    """A goal stated in seconds for the full size is met or not against its limit scaled to the run's
    size: 1.91 ms for 3,000 epochs misses a 20 ms goal for 330,000 epochs (0.18 ms at this size)."""
    from benchmarks.workloads import FORI, Goal
    goal = Goal(FORI, BASELINE, 0.0, max_seconds=0.020)
    cells = {FORI: {"status": "ok", "median_s": 1.91e-3}, BASELINE: {"status": "ok", "median_s": 0.02}}
    slow = harness._goal(goal, cells, 3_000 / 330_000)
    assert slow["max_seconds"] == pytest.approx(0.020 * 3_000 / 330_000) and slow["met"] is False
    cells[FORI]["median_s"] = 0.1e-3
    assert harness._goal(goal, cells, 3_000 / 330_000)["met"] is True
    cells[FORI]["median_s"] = 19e-3
    assert harness._goal(goal, cells, 1.0)["met"] is True


def test_parallel_threshold_verdict_says_whether_the_threshold_fits():
    """benchmarks.parallel_threshold's last line: where parallel first wins, and whether the
    current threshold agrees with every measured size."""
    from benchmarks.parallel_threshold import verdict

    rows = [(8192, {"serial": 10.0, "parallel 2 threads": 30.0}),
            (131072, {"serial": 100.0, "parallel 2 threads": 60.0})]
    assert "from N = 131,072" in verdict(rows, "parallel 2 threads", 131072)
    assert "agrees with every" in verdict(rows, "parallel 2 threads", 131072)
    assert "does NOT agree" in verdict(rows, "parallel 2 threads", 8192)


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux /proc")
def test_thread_faults_sees_this_threads_first_touches():
    """benchmarks.first_touch counts minor page faults per thread: writing fresh pages (a new
    anonymous mapping: malloc could hand back memory touched before) in the calling thread shows
    up under this thread's id."""
    import mmap
    import threading

    from benchmarks.first_touch import thread_faults

    me = threading.get_native_id()
    pages = mmap.mmap(-1, 1 << 24)
    before = thread_faults()[me]
    np.frombuffer(pages, np.uint8)[::4096] = 1
    assert thread_faults()[me] - before >= 1


def test_conv_layers_prints_every_resnet18_convolution_and_the_blas_core(capsys):
    """benchmarks.conv_layers: one row per distinct ResNet-18 convolution (with PyTorch's columns
    when it imports), the totals, and the sgemm rate with the OpenBLAS core that ran it."""
    from benchmarks.conv_layers import RESNET18
    from benchmarks.conv_layers import main as conv_layers_main

    conv_layers_main(["--batch", "1", "--size", "16", "--repeat", "1"])
    out = capsys.readouterr().out
    assert "64->64 3x3/1 on 4x4" in out and "512->512 3x3/1 on 1x1" in out
    assert len([line for line in out.splitlines() if "->" in line]) == len(RESNET18)
    assert "all (times count)" in out
    assert "sgemm 64x1024x576:" in out and "OpenBLAS core" in out


def test_small_products_prints_each_layout_against_np_matmul(capsys):
    """benchmarks.small_products: one checked row per layout, both columns and their ratio."""
    from benchmarks.small_products import cases
    from benchmarks.small_products import main as small_products_main

    small_products_main(["--reps", "5", "--dtype", "float64"])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "(us)" not in line]
    assert len(rows) == len(cases("float64"))
    assert all(len(row.split("|")) == 6 for row in rows) and "q @ k^T" in rows[0]


def test_a_short_end_to_end_run_is_repeated_and_a_long_one_is_not():
    """End-to-end cells (W2's training loops) are timed by whole runs: a run shorter than a tenth of
    min_time is run again and reported by its median; a long run is timed once."""
    import time

    def paced(seconds):
        def factory(inp):
            run = numpy_ref.regression(inp)

            def fn(epochs=None):
                time.sleep(seconds)
                return run() if epochs is None else run(epochs)
            return fn
        return types.SimpleNamespace(FACTORIES={"W2": factory})

    settings = _settings(min_time=0.1, min_reps=1, max_reps=50)
    short, _ = harness.run_cell(CASE["W2"], paced(0.0), settings, None)
    long, _ = harness.run_cell(CASE["W2"], paced(0.02), settings, None)
    assert short["status"] == long["status"] == "ok"
    assert short["reps"] >= 1 + harness.E2E_REPEAT_MIN_RUNS
    assert long["reps"] == 1


def test_compile_latency_rows_are_one_flag_away():
    """`python -m benchmarks --compile-latency` appends issue 14's first-call rows: the MLP, a loop
    row per step count with its goal (2 s cold at 1,000 steps, 5 s at 3,000), the model rows."""
    from benchmarks import compile_latency
    assert parse_args(["--compile-latency"]).compile_latency and not parse_args([]).compile_latency
    rows = compile_latency.rows([1000, 3000])
    assert [(r.key, r.size, r.cold_goal, r.warm_goal) for r in rows] == [
        ("mlp", 16, 1.0, 0.1), ("loop", 1000, 2.0, 0.1), ("loop", 3000, 5.0, 0.1)]
    assert compile_latency.rows(1000) == rows[:2]
