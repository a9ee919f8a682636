"""benchmarks/device_profile.py: busy time, events and kinds from the JAX and PyTorch profilers."""

import gzip
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from script_helpers import folder_on_path

pytestmark = pytest.mark.slow  # the benchmark scripts; CI runs them: python -m pytest -m slow

ROOT = Path(__file__).parents[1]
SCRIPT = ROOT / "benchmarks" / "device_profile.py"


@pytest.fixture(scope="module")
def device_profile():
    with folder_on_path(ROOT / "benchmarks"):
        yield importlib.import_module("device_profile")


def run_script(*args: str, backend: str = "jax") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "KERAS_BACKEND": backend},
    )


def profile_tiny_step(tmp_path: Path, backend: str) -> dict:
    output = tmp_path / "profile.json"
    result = run_script(
        "--image-size", "32", "--batch-size", "4", "--steps", "2",
        "--trace-dir", str(tmp_path / "trace"), "--output", str(output), backend=backend,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(output.read_text())


def check_profile(profile: dict, tmp_path: Path) -> None:
    assert profile["device_kind"] == "cpu"
    assert sum(row["share_of_event_time"] for row in profile["rows"]) == pytest.approx(1, abs=1e-9)
    seconds = {row["kind"]: row["seconds_per_step"] for row in profile["rows"]}
    assert seconds["pooling"] > 0
    assert (
        seconds["convolution"] + seconds["XLA CPU: YNNPACK calls (convolutions, dense, pooling)"]
        > 0
    )
    assert 0 < profile["device_busy_s_per_step"] <= profile["wall_s_per_step"]
    assert profile["events_per_step"] > 0 and profile["top"]
    # The saved trace alone, gzipped as gpu_check.sh brings it back, gives the same summary.
    trace = Path(profile["parameters"]["trace"])
    packed = tmp_path / (trace.name + ".gz")
    packed.write_bytes(gzip.compress(trace.read_bytes()))
    again = tmp_path / "again.json"
    result = run_script(
        "--summarise", str(packed), "--steps", "2",
        "--wall-s-per-step", str(profile["wall_s_per_step"]), "--output", str(again),
        backend=profile["parameters"]["backend"],
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(again.read_text())
    assert summary["rows"] == profile["rows"] and summary["top"] == profile["top"]
    assert summary["busy_share"] == profile["busy_share"]


def test_a_jax_step_is_profiled_and_summarised_again_from_its_trace(tmp_path):
    pytest.importorskip("jax", reason="the JAX backend is an extra: pip install -e '.[jax]'")
    check_profile(profile_tiny_step(tmp_path, "jax"), tmp_path)


def test_a_torch_step_is_profiled_and_summarised_again_from_its_trace(tmp_path):
    pytest.importorskip("torch")
    check_profile(profile_tiny_step(tmp_path, "torch"), tmp_path)


def test_a_torch_gpu_trace_counts_its_kernels_only(device_profile, tmp_path):
    """The GPU branch, without a GPU: a chrome trace with two kernels, a copy and CPU ops."""

    def event(category, name, tid, start, duration):
        return {"ph": "X", "cat": category, "name": name, "pid": 0, "tid": tid,
                "ts": start, "dur": duration}  # fmt: skip

    trace = {
        "traceEvents": [
            event("cpu_op", "aten::conv2d", 1, 0, 90),
            event("kernel", "sm90_xmma_fprop_implicit_gemm", 7, 10, 30),
            event("kernel", "void at::native::vectorized_elementwise_kernel", 7, 50, 10),
            event("gpu_memcpy", "Memcpy DtoH (Device -> Pinned)", 8, 55, 10),
            {"ph": "i", "name": "marker", "pid": 0, "tid": 7, "ts": 0},
        ]
    }
    device_kind, events = device_profile.chrome_trace_events(trace)
    assert device_kind == "gpu" and len(events) == 3
    summary = device_profile.summarise(device_kind, events, steps=1, wall=100e-6)
    assert summary["device_busy_s_per_step"] == pytest.approx(45e-6)  # 10-40 and 50-65
    assert summary["busy_share"] == pytest.approx(0.45)
    seconds = {row["kind"]: row["seconds_per_step"] for row in summary["rows"]}
    assert seconds["convolution"] == pytest.approx(30e-6)
    assert seconds["elementwise and fusions"] == pytest.approx(10e-6)
    assert seconds["memory copies and sets"] == pytest.approx(10e-6)


def test_intervals_overlapping_are_counted_once(device_profile):
    assert device_profile.union_seconds([(0, 2), (1, 3), (5, 6)]) == 4
    assert device_profile.union_seconds([(0, 10), (2, 3)]) == 10


def test_only_outermost_events_of_a_track_count(device_profile):
    events = [
        ("op", 0, 10, "a"),
        ("inner", 2, 5, "a"),
        ("later", 10, 12, "a"),
        ("other", 3, 4, "b"),
    ]
    assert [name for name, *_ in device_profile.outermost(events)] == ["op", "other", "later"]


@pytest.mark.parametrize(
    "name, kind",
    [
        ("cudnn-conv-bias-activation.3", "convolution"),
        ("convert_fusion.2", "elementwise and fusions"),  # "convert" is no convolution
        ("sm90_xmma_gemm_f32f32_tf32f32_f32_tn_n", "matrix multiply"),
        ("aten::native_dropout", "dropout and random numbers"),
        ("wrapped_reduce-window.1", "pooling"),
        ("input_reduce_fusion.5", "reductions"),
        ("ynn_fusion.24", "XLA CPU: YNNPACK calls (convolutions, dense, pooling)"),
        ("wrapped_iota.1", "pooling"),
        ("while.74", "other"),
    ],
)
def test_events_are_sorted_into_kinds_by_name(device_profile, name, kind):
    assert device_profile.kind_of(name) == kind


def test_a_bad_argument_is_one_line_and_exit_2(tmp_path):
    result = run_script("--steps", "0")
    assert result.returncode == 2
    assert "argument --steps: must be an integer >= 1, got 0" in result.stderr.splitlines()[-1]
    result = run_script("--summarise", str(tmp_path / "missing.json"))
    assert result.returncode == 2 and "no such file" in result.stderr.splitlines()[-1]
    empty = tmp_path / "empty.json"
    empty.write_text('{"traceEvents": []}')
    result = run_script("--summarise", str(empty))
    assert result.returncode == 2 and "no events" in result.stderr.splitlines()[-1]
    result = run_script("--image-size", "32", backend="tensorflow")
    assert (
        result.returncode == 2 and "throughput.py --profile-ops" in result.stderr.splitlines()[-1]
    )


def refused(capsys, main, argv: list[str]) -> str:
    """The one error line of `main(argv)`, which must exit 2."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].count("error:") == 1 and not any("Traceback" in line for line in lines)
    return lines[-1]


@pytest.mark.parametrize(
    "name, content",
    [
        ("truncated.json", b'{"traceEvents": [{"ph": "X", "na'),
        ("no_events.json", b'{"displayTimeUnit": "ns"}'),
        ("a_list.json", b"[]"),
        ("truncated.json.gz", gzip.compress(b'{"traceEvents": []}')[:-8]),
        ("not_gzip.json.gz", b"plain text"),
    ],
    ids=["truncated", "no traceEvents", "a list", "truncated gzip", "not gzip"],
)
def test_a_trace_that_does_not_read_is_one_line_and_exit_2(
    device_profile, capsys, tmp_path, name, content
):
    trace, output = tmp_path / name, tmp_path / "summary.json"
    trace.write_bytes(content)
    argv = ["--summarise", str(trace), "--output", str(output)]
    assert f"--summarise {trace}: not a trace this reads" in refused(
        capsys, device_profile.main, argv
    )
    assert not output.exists()


def test_a_trace_dir_or_output_that_cannot_be_written_is_one_line_and_exit_2(
    device_profile, capsys, monkeypatch, tmp_path
):
    monkeypatch.setattr(device_profile, "_backend", lambda args: "jax")
    a_file, output = tmp_path / "a_file", tmp_path / "profile.json"
    a_file.write_text("")
    argv = ["--image-size", "11", "--batch-size", "1", "--steps", "1", "--output", str(output)]
    error = refused(capsys, device_profile.main, [*argv, "--trace-dir", str(a_file)])
    assert f"--trace-dir: {a_file} is a file, not a folder" in error
    trace = tmp_path / "trace.json"
    trace.write_text('{"traceEvents": []}')
    argv = ["--summarise", str(trace), "--output", str(a_file / "summary.json")]
    assert "is a file, not a folder" in refused(capsys, device_profile.main, argv)
    assert not output.exists()
