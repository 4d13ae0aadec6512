"""The benchmark table's GPU columns run and agree with the NumPy baseline (simulator, smoke
sizes; on a real GPU the same columns appear in `python -m benchmarks` by themselves)."""
import io

from gpu_targets import needs_cuda, simulator_only

pytestmark = needs_cuda


def test_gpu_columns_check_and_time(monkeypatch, tmp_path):
    from benchmarks import harness
    from benchmarks.workloads import BASELINE, GPU_EAGER, GPU_JIT, VARIANTS
    from benchmarks.workloads.gpu import ALLOW_SIMULATOR

    monkeypatch.setenv(ALLOW_SIMULATOR, "1")
    variants = tuple(v for v in VARIANTS if v.name in (BASELINE, GPU_EAGER, GPU_JIT))
    settings = harness.Settings(mode="smoke", only=("W1a", "W2", "W6"), min_time=0.0, min_reps=1, max_reps=1,
                                out=tmp_path)
    result = harness.run(settings, variants=variants, stream=io.StringIO())
    assert [r["key"] for r in result["rows"]] == ["W1a", "W2", "W6"]
    for row in result["rows"]:
        for column in (GPU_EAGER, GPU_JIT):
            cell = row["cells"][column]
            assert cell["status"] == "ok", f"{row['key']} {column}: {cell}"


@simulator_only
def test_gpu_columns_hidden_on_the_simulator_unless_asked(monkeypatch):
    from benchmarks.workloads import jitgrad_cuda_eager
    from benchmarks.workloads.gpu import ALLOW_SIMULATOR

    monkeypatch.delenv(ALLOW_SIMULATOR, raising=False)
    assert "simulator" in jitgrad_cuda_eager.unavailable()
