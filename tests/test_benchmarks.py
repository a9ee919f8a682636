"""The benchmark scripts run and write what the README quotes (tiny sizes: no timings here)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def run_benchmark(script: str, *args: str) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
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
