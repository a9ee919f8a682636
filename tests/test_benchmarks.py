"""The benchmark scripts run and write what the README quotes (tiny sizes: no timings here)."""

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def run_benchmark(script: str, *args: str, env: dict | None = None) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def test_the_op_profile_finds_the_convolutions_and_dropout(tmp_path):
    output = tmp_path / "ops.json"
    run_benchmark(
        "throughput.py", "--profile-ops", "--image-size", "48", "--batch-size", "4",
        "--steps", "1", "--output", str(output),
    )  # fmt: skip
    profile = json.loads(output.read_text())
    seconds = {row["kind"]: row["seconds_per_step"] for row in profile["rows"]}
    for kind in [
        "convolution forward",
        "convolution weight",
        "convolution input",
        "dropout: random",
    ]:
        assert next(s for k, s in seconds.items() if k.startswith(kind)) > 0, kind
    shares = sum(row["share_of_op_time"] for row in profile["rows"])
    assert abs(shares - 1) < 1e-9
    assert profile["op_seconds_per_step"] > 0 and profile["wall_s_per_step"] > 0


def test_the_epochs_benchmark_pairs_each_epoch_with_its_steps(tmp_path):
    output = tmp_path / "epochs.json"
    run_benchmark(
        "end_to_end.py", "epochs", "--source", "synthetic", "--image-size", "32",
        "--epochs", "3", "--steps", "1", "--interleave", "--variants", "fresh",
        "--output", str(output),
    )  # fmt: skip
    (row,) = json.loads(output.read_text())["rows"]
    assert row["images"] == 512 and row["steps"] == 4
    assert len(row["pair_ratios"]) == len(row["epoch_times_s"]) == 2
    assert row["pipeline_cpu_s_per_batch"] > 0 and row["step_cpu_s"] > 0


@pytest.fixture(scope="module")
def benchmarks():
    """The benchmark scripts as modules (they import their sibling `common`)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        yield importlib.import_module("common"), importlib.import_module("gc_overhead")
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


def test_the_median_interval_is_a_pair_of_order_statistics(benchmarks):
    common, _ = benchmarks
    values = [float(v) for v in range(15, 0, -1)]
    assert common.median_ci(values) == (4.0, 12.0)  # binomial: P(at most 3 of 15 below) < 2.5%
    assert common.median_ci(values[:6]) == (10.0, 15.0)  # the smallest n with a 95% interval
    assert common.median_ci(values[:5]) is None


def test_the_verdict_needs_the_whole_interval_on_one_side_of_the_target(benchmarks):
    _, gc_overhead = benchmarks
    baseline = [1.0] * 8

    def verdict(ratios):
        return gc_overhead.ratio_summary(baseline, ratios)["verdict"]

    assert verdict([1.00, 1.01, 1.01, 1.02, 1.02, 1.02, 1.03, 1.03]) == "within"
    assert verdict([1.04, 1.05, 1.05, 1.06, 1.06, 1.07, 1.07, 1.20]) == "over"
    assert verdict([0.99, 1.00, 1.01, 1.02, 1.04, 1.05, 1.06, 1.07]) == "undecided"
    assert "too few" in gc_overhead.ratio_summary([1.0] * 5, [1.0] * 5)["verdict"]


def test_the_arms_take_turns_in_swapped_order(benchmarks):
    _, gc_overhead = benchmarks
    calls = []
    functions = {False: lambda: calls.append("plain"), True: lambda: calls.append("gc")}
    seconds = gc_overhead.alternating_seconds(functions, repeats=3, calls=2)
    assert calls == ["plain"] * 2 + ["gc"] * 4 + ["plain"] * 4 + ["gc"] * 2
    assert [len(times) for times in seconds.values()] == [3, 3]


def test_the_overhead_benchmark_reports_an_interval_and_a_verdict(tmp_path):
    output = tmp_path / "gc_overhead.json"
    run_benchmark(
        "gc_overhead.py", "--sizes", "16", "--batch-size", "2", "--repeats", "6",
        "--optimizers", "sgd", "--output", str(output),
    )  # fmt: skip
    (row,) = json.loads(output.read_text())["rows"]
    low, high = row["pair_ratio_ci95"]
    assert low <= row["pair_ratio_median"] <= high
    assert row["verdict"] in ("within", "over", "undecided")
    assert len(row["pair_ratios"]) == 6


def test_the_host_cost_is_two_torch_ops_per_centralized_weight(tmp_path):
    pytest.importorskip("torch")
    output = tmp_path / "gc_overhead.json"
    run_benchmark(
        "gc_overhead.py", "--sizes", "16", "--batch-size", "2", "--repeats", "6",
        "--optimizers", "adam", "--host-cost", "--output", str(output),
        env={"KERAS_BACKEND": "torch"},
    )  # fmt: skip
    (row,) = json.loads(output.read_text())["rows"]
    assert row["gc_added_ops"] == 2 * 7  # a mean and a subtraction for 5 conv + 2 dense kernels
    assert row["gc_added_kernels"] == 0  # no GPU here
    assert row["gc_added_host_us"] > 0
    assert row["ratio_if_host_bound"] > 1


def test_the_host_cost_needs_the_torch_backend():
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gc_overhead.py"), "--host-cost"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "KERAS_BACKEND": "jax"},
        timeout=300,
    )
    assert result.returncode == 2
    assert "--host-cost needs KERAS_BACKEND=torch" in result.stderr.splitlines()[-1]
