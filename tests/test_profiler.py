"""jitgrad.autograd.profiler: what is recorded (ops, backward nodes, labelled regions, compiled
code), self vs total time under nesting, grouping, the table, the Chrome trace, threads."""
from __future__ import annotations

import json
import re
import threading
import time

import numpy as np
import pytest

import jitgrad as jg
from jitgrad import autodiff, core
from jitgrad.autograd import profiler


def _step(x, w):
    y = (x @ w).tanh().sum()
    y.backward()
    return y


def _names(prof) -> list:
    return [e.name for e in prof.events()]


def test_ops_and_backward_nodes_are_recorded():
    x, w = jg.randn(3, 4), jg.randn(4, 2, requires_grad=True)
    with profiler.profile() as prof:
        _step(x, w)
    rows = {r.key: r for r in prof.key_averages()}
    assert rows["matmul"].count >= 2  # forward, plus the backward's matmuls
    assert rows["tanh"].count == 1 and rows["sum"].count == 1
    for node in ("SumBackward0", "TanhBackward0", "MmBackward0"):
        assert rows[node].count == 1
    kinds = {e.name: e.kind for e in prof.events()}
    assert kinds["tanh"] == profiler.OP and kinds["TanhBackward0"] == profiler.BACKWARD


def test_hooks_are_off_outside_the_profile_even_after_an_error():
    with pytest.raises(ZeroDivisionError):
        with profiler.profile():
            assert core.profile_hook[0] is not None and autodiff.apply_hook[0] is not None
            raise ZeroDivisionError
    assert core.profile_hook[0] is None and autodiff.apply_hook[0] is None
    assert not profiler.is_profiling()


def test_profiling_changes_no_results():
    x, w = jg.randn(3, 4), jg.randn(4, 2, requires_grad=True)
    y_plain = _step(x, w)
    g_plain = w.grad.numpy().copy()
    w.grad = None
    with profiler.profile(record_shapes=True):
        y_prof = _step(x, w)
    np.testing.assert_array_equal(y_plain.detach().numpy(), y_prof.detach().numpy())
    np.testing.assert_array_equal(g_plain, w.grad.numpy())


def test_backward_node_total_includes_the_ops_of_its_rule():
    w = jg.randn(4, 2, requires_grad=True)
    with profiler.profile() as prof:
        (jg.randn(3, 4) @ w).sum().backward()
    mm = next(e for e in prof.events() if e.name == "MmBackward0")
    inner = [e for e in prof.events() if e.depth == mm.depth + 1 and e.thread == mm.thread
             and mm.start_ns <= e.start_ns <= mm.start_ns + mm.duration_ns]
    assert any(e.name == "matmul" for e in inner)
    assert mm.self_ns == mm.duration_ns - sum(e.duration_ns for e in inner)


def test_nested_record_function_self_and_total_times():
    with profiler.profile() as prof:
        with profiler.record_function("outer"):
            time.sleep(0.01)
            with profiler.record_function("inner"):
                time.sleep(0.02)
                jg.ones(3).sin()
    ev = {e.name: e for e in prof.events()}
    outer, inner, sin = ev["outer"], ev["inner"], ev["sin"]
    assert (outer.depth, inner.depth, sin.depth) == (0, 1, 2)
    assert inner.self_ns == inner.duration_ns - sin.duration_ns
    assert outer.self_ns == outer.duration_ns - inner.duration_ns
    assert outer.duration_ns >= 0.03e9 and inner.duration_ns >= 0.02e9
    assert 0.01e9 <= outer.self_ns < outer.duration_ns - 0.02e9
    assert ev["outer"].kind == profiler.USER


def test_record_function_is_a_decorator_and_a_no_op_without_profile():
    @profiler.record_function("labelled")
    def f(x):
        return x * 2

    np.testing.assert_array_equal(f(jg.ones(2)).numpy(), [2.0, 2.0])  # no profile: nothing recorded, no error
    with profiler.profile() as prof:
        f(jg.ones(2))
        f(jg.ones(2))
    row = {r.key: r for r in prof.key_averages()}["labelled"]
    assert row.count == 2
    with pytest.raises(TypeError, match="str label"):
        profiler.record_function(3)


def test_key_averages_groups_by_input_shape():
    with profiler.profile(record_shapes=True) as prof:
        jg.ones(2, 3) @ jg.ones(3, 4)
        jg.ones(2, 3) @ jg.ones(3, 4)
        jg.ones(5, 3) @ jg.ones(3, 1)
    by_name = [r for r in prof.key_averages() if r.key == "matmul"]
    assert len(by_name) == 1 and by_name[0].count == 3 and by_name[0].input_shapes is None
    by_shape = {r.input_shapes: r.count for r in prof.key_averages(group_by_input_shape=True) if r.key == "matmul"}
    assert by_shape == {((2, 3), (3, 4)): 2, ((5, 3), (3, 1)): 1}
    avg = by_name[0]
    assert avg.cpu_time == pytest.approx(avg.cpu_time_total / 3)
    with profiler.profile() as plain:
        jg.ones(2).sin()
    with pytest.raises(RuntimeError, match="record_shapes=True"):
        plain.key_averages(group_by_input_shape=True)


def _table_rows(text: str) -> list:
    lines = text.splitlines()
    rules = [i for i, line in enumerate(lines) if line.startswith("---")]
    return [re.split(r"\s{2,}", line.strip()) for line in lines[rules[1] + 1:rules[2]]]


def test_table_sorted_limited_and_shaped_like_torch():
    with profiler.profile(record_shapes=True) as prof:
        with profiler.record_function("slow"):
            time.sleep(0.005)
        for _ in range(3):
            jg.ones(4).exp()
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=2)
    rows = _table_rows(table)
    assert len(rows) == 2 and rows[0][0] == "slow"
    header = re.split(r"\s{2,}", table.splitlines()[1].strip())
    columns = ["Name", "Self CPU %", "Self CPU", "CPU total %", "CPU total", "CPU time avg", "# of Calls"]
    assert header == columns  # as torch: shapes only when grouped by them
    grouped = prof.key_averages(group_by_input_shape=True).table()
    assert re.split(r"\s{2,}", grouped.splitlines()[1].strip()) == columns + ["Input Shapes"]
    assert "Self CPU time total:" in table
    exp_row = next(r for r in _table_rows(prof.key_averages(group_by_input_shape=True).table()) if r[0] == "exp")
    assert exp_row[6] == "3" and exp_row[7] == "[[4]]"
    with pytest.raises(ValueError, match="sort_by"):
        prof.key_averages().table(sort_by="wall_time")


@pytest.mark.parametrize("by_shape", [False, True])
def test_table_header_matches_torch(by_shape):
    torch = pytest.importorskip("torch")
    with torch.autograd.profiler.profile(record_shapes=True) as tprof:
        torch.ones(3).sin()
    theirs = tprof.key_averages(group_by_input_shape=by_shape).table()
    with profiler.profile(record_shapes=True) as prof:
        jg.ones(3).sin()
    ours = prof.key_averages(group_by_input_shape=by_shape).table()
    assert re.split(r"\s{2,}", ours.splitlines()[1].strip()) == re.split(r"\s{2,}", theirs.splitlines()[1].strip())


def test_percentages_add_up():
    with profiler.profile() as prof:
        (jg.ones(3, requires_grad=True) * 2).sum().backward()
    rows = _table_rows(prof.table())
    total = sum(float(r[1].rstrip("%")) for r in rows)
    assert total == pytest.approx(100.0, abs=0.1)


def test_chrome_trace_is_valid_trace_event_json(tmp_path):
    with profiler.profile(record_shapes=True) as prof:
        with profiler.record_function("region"):
            (jg.ones(2, 2, requires_grad=True) * 3).sum().backward()
    path = tmp_path / "trace.json"
    prof.export_chrome_trace(str(path))
    trace = json.loads(path.read_text())
    events = trace["traceEvents"]
    assert len(events) == len(prof.events())
    for e in events:
        assert {"name", "ph", "ts", "dur", "pid", "tid", "args"} <= set(e)
        assert e["ph"] == "X" and e["dur"] >= 0 and e["ts"] >= 0
    region = next(e for e in events if e["name"] == "region")
    mul = next(e for e in events if e["name"] == "mul")
    assert region["ts"] <= mul["ts"] and mul["ts"] + mul["dur"] <= region["ts"] + region["dur"] + 1e-3
    assert mul["args"]["Input Shapes"] == "[[2, 2], []]"


def test_compile_and_kernel_hooks():
    profiler.record_compile("f", 1.0)  # no profile: ignored
    profiler.record_kernel("f", 1.0)
    with profiler.profile() as prof:
        assert profiler.is_profiling()
        with profiler.record_function("call"):
            profiler.record_compile("fused_0", 0.002)
            profiler.record_kernel("fused_0", 0.0005)
    ev = {e.name: e for e in prof.events()}
    assert ev["compile::fused_0"].duration_ns == 2_000_000 and ev["compile::fused_0"].kind == profiler.COMPILE
    assert ev["kernel::fused_0"].duration_ns == 500_000 and ev["kernel::fused_0"].kind == profiler.KERNEL
    call = ev["call"]
    assert call.self_ns == call.duration_ns - 2_500_000
    assert ev["kernel::fused_0"].depth == 1
    with profiler.profile(), pytest.raises(ValueError, match=">= 0"):
        profiler.record_kernel("k", -1.0)


def test_events_from_other_threads_carry_their_tid():
    seen = {}

    def work():
        seen["tid"] = threading.get_native_id()
        with profiler.record_function("worker"):
            jg.ones(3).cos()

    with profiler.profile() as prof:
        t = threading.Thread(target=work)
        t.start()
        t.join()
        jg.ones(3).sin()
    ev = {e.name: e for e in prof.events()}
    assert ev["cos"].thread == seen["tid"] == ev["worker"].thread
    assert ev["sin"].thread == threading.get_native_id() != seen["tid"]
    assert ev["cos"].depth == 1 and ev["sin"].depth == 0  # separate nesting stacks per thread


def test_one_profile_at_a_time_and_disabled_profile():
    with profiler.profile():
        with pytest.raises(RuntimeError, match="already recording"):
            with profiler.profile():
                pass
    with profiler.profile(enabled=False) as prof:
        jg.ones(2).sin()
        assert core.profile_hook[0] is None
    assert prof.events() == []


def test_profiler_example_runs(tmp_path, capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "examples" / "profiler_example.py"
    spec = importlib.util.spec_from_file_location("profiler_example", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    trace = tmp_path / "mlp.json"
    prof = example.main(str(trace), steps=2)
    printed = capsys.readouterr().out
    assert "Self CPU time total" in printed and "Input Shapes" in printed
    rows = {r.key: r for r in prof.key_averages()}
    assert rows["train_step"].count == 2 and rows["MmBackward0"].count >= 2
    assert len(json.loads(trace.read_text())["traceEvents"]) == len(prof.events())
