"""The benchmark scripts run and write what the README quotes (tiny sizes: no timings here)."""

import importlib
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from script_helpers import folder_on_path

pytestmark = pytest.mark.slow  # the benchmark scripts; CI runs them: python -m pytest -m slow

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
    with folder_on_path(ROOT / "benchmarks"):
        yield importlib.import_module("common"), importlib.import_module("gc_overhead")


def test_the_median_interval_is_a_pair_of_order_statistics(benchmarks):
    common, _ = benchmarks
    values = [float(v) for v in range(15, 0, -1)]
    assert common.median_ci(values) == (4.0, 12.0)  # binomial: P(at most 3 of 15 below) < 2.5%
    assert common.median_ci(values[:6]) == (10.0, 15.0)  # the smallest n with a 95% interval
    assert common.median_ci(values[:5]) is None


def test_the_verdict_needs_the_whole_interval_on_one_side_of_the_target(benchmarks):
    _, gc_overhead = benchmarks
    baseline = [1.0] * 12

    def verdict(ratios):  # each ratio twice: balanced pairs of repeats give the ratio itself
        return gc_overhead.ratio_summary(baseline, [r for r in ratios for _ in (0, 1)])["verdict"]

    assert verdict([1.00, 1.01, 1.01, 1.02, 1.03, 1.03]) == "within"
    assert verdict([1.04, 1.05, 1.05, 1.06, 1.07, 1.20]) == "over"
    assert verdict([0.99, 1.00, 1.01, 1.04, 1.05, 1.06]) == "undecided"
    few = gc_overhead.ratio_summary([1.0] * 11, [1.0] * 11)["verdict"]
    assert few == "too few repeats for an interval (12 needed)"


def test_an_advantage_of_running_first_cancels_in_balanced_pairs(benchmarks):
    """Whichever arm runs second is 5% slower; GC itself costs 2%. Repeat 0 runs plain first."""
    _, gc_overhead = benchmarks
    pairs = [1.02 * (1.05 if repeat % 2 == 0 else 1 / 1.05) for repeat in range(13)]
    summary = gc_overhead.interval_summary(pairs)
    assert summary["pair_ratio_median"] == pytest.approx(1.02)
    assert summary["pair_ratio_ci95"] == pytest.approx([1.02, 1.02])
    assert summary["plain_first_median"] == pytest.approx(1.071)
    assert summary["gc_first_median"] == pytest.approx(1.02 / 1.05)
    assert statistics.median(pairs) == pytest.approx(1.071)  # all repeats: the majority order


def test_a_saved_result_is_summarised_again_from_its_ratios(benchmarks, tmp_path, capsys):
    _, gc_overhead = benchmarks
    ratios = [1.02 * (1.05 if repeat % 2 == 0 else 1 / 1.05) for repeat in range(13)]
    row = {"image_size": 64, "optimizer": "sgd", "pair_ratio_median": 1.071, "pair_ratios": ratios}
    saved = tmp_path / "saved.json"
    saved.write_text(
        json.dumps({"benchmark": "gc_overhead", "machine": {"cpu": "x"}, "rows": [row]})
    )
    output = tmp_path / "again.json"
    gc_overhead.main(["--resummarise", str(saved), "--output", str(output)])
    results = json.loads(output.read_text())
    assert results["machine"] == {"cpu": "x"}  # the machine it ran on, not this one
    (again,) = results["rows"]
    assert again["pair_ratio_median"] == pytest.approx(1.02)
    assert again["pair_ratios"] == ratios and list(again)[-1] == "pair_ratios"
    del row["pair_ratios"]  # a result saved before the ratios were kept
    saved.write_text(json.dumps({"benchmark": "gc_overhead", "rows": [row]}))
    with pytest.raises(SystemExit) as exit_info:
        gc_overhead.main(["--resummarise", str(saved), "--output", str(output)])
    assert exit_info.value.code == 2
    assert "keeps no per-repeat ratios" in capsys.readouterr().err
    for text, error in (("[1, 2]", "is not a gc_overhead result"), ("{", "cannot read")):
        saved.write_text(text)
        with pytest.raises(SystemExit):
            gc_overhead.main(["--resummarise", str(saved), "--output", str(output)])
        assert error in capsys.readouterr().err


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
        "gc_overhead.py", "--sizes", "16", "--batch-size", "2", "--repeats", "12",
        "--steps-per-repeat", "2", "--optimizers", "sgd", "--output", str(output),
    )  # fmt: skip
    results = json.loads(output.read_text())
    assert results["parameters"]["steps_per_repeat"] == 2
    (row,) = results["rows"]
    low, high = row["pair_ratio_ci95"]
    assert low <= row["pair_ratio_median"] <= high
    assert row["verdict"] in ("within", "over", "undecided")
    assert len(row["pair_ratios"]) == 12


def test_the_overhead_benchmark_can_compile_both_steps(tmp_path):
    output = tmp_path / "gc_overhead.json"
    run_benchmark(
        "gc_overhead.py", "--sizes", "16", "--batch-size", "2", "--repeats", "6",
        "--optimizers", "sgd", "--jit-compile", "--output", str(output),
    )  # fmt: skip
    results = json.loads(output.read_text())
    assert results["parameters"]["jit_compile"] is True
    (row,) = results["rows"]
    assert len(row["pair_ratios"]) == 6


def test_the_torch_foreach_variant_of_gc_must_give_the_package_numbers(benchmarks, monkeypatch):
    torch = pytest.importorskip("torch")
    _, gc_overhead = benchmarks
    grads = [torch.randn(3, 3, 2, 4), torch.randn(5, 3)]
    costs = gc_overhead.gc_ops_cost(grads, repeats=2, calls=1)
    assert set(costs) == {"gc_ops_us", "foreach_gc_ops_us"}
    monkeypatch.setattr(gc_overhead, "centralize_gradient", lambda grad: grad)  # no GC at all
    with pytest.raises(AssertionError, match="other numbers"):
        gc_overhead.gc_ops_cost(grads, repeats=2, calls=1)


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
    # Times, not checked against any value (a busy machine can even make the difference
    # negative): each is reported, and the host-bound ratio follows from the added time.
    timed = ["apply_us", "gc_apply_us", "gc_added_host_us", "gc_ops_us", "foreach_gc_ops_us"]
    assert all(math.isfinite(row[name]) for name in timed)
    assert row["gc_added_host_us"] == pytest.approx(row["gc_apply_us"] - row["apply_us"])
    expected = 1 + row["gc_added_host_us"] / 1e6 / row["baseline_step_s"]
    assert row["ratio_if_host_bound"] == pytest.approx(expected)


def test_the_host_cost_needs_the_torch_backend():
    """Refused on TensorFlow, the backend every install has (JAX and PyTorch are extras)."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gc_overhead.py"), "--host-cost"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "KERAS_BACKEND": "tensorflow"},
        timeout=300,
    )
    assert result.returncode == 2
    assert "--host-cost needs KERAS_BACKEND=torch" in result.stderr.splitlines()[-1]


@pytest.fixture(scope="module")
def script():
    """A benchmark script as a module, by name (they import their sibling `common`)."""
    with folder_on_path(ROOT / "benchmarks"):
        yield importlib.import_module


def results_state() -> dict:
    """Each result file and its time of change; the short-lived write checks of tests that run
    meanwhile (refused runs check the folder too) are not results."""
    with folder_on_path(ROOT / "benchmarks"):
        from common import WRITE_CHECK_PREFIX
    files = (ROOT / "benchmarks" / "results").rglob("*")
    return {
        path: path.stat().st_mtime_ns
        for path in files
        if not path.name.startswith(WRITE_CHECK_PREFIX)
    }


def refused(capsys, main, argv: list[str]) -> str:
    """The error line of `main(argv)`, which must exit 2 and leave the cited results alone."""
    before = results_state()
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert results_state() == before
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].count("error:") == 1 and not any("Traceback" in line for line in lines)
    return lines[-1]


TINY = ["--image-size", "11", "--batch-size", "1"]  # small work, should a check be missing
TINY_ARGUMENTS = {
    "throughput": [*TINY, "--steps", "1", "--peak-size", "8", "--peak-repeats", "1",
                   "--configurations", "default", "--timeout", "120"],
    "gc_overhead": ["--sizes", "11", "--batch-size", "1", "--repeats", "1", "--optimizers", "sgd"],
    "peer_pytorch": [*TINY, "--steps", "1", "--configurations", "eager-nchw", "--timeout", "120"],
    "precision": ["--epochs", "1", "--seeds", "0", "1"],
    "pipeline": [*TINY, "--images", "2", "--epochs", "1", "--steps", "0"],
    "end_to_end epochs": ["epochs", "--image-size", "11", "--steps", "1", "--epochs", "2",
                          "--source", "synthetic", "--variants", "fresh"],
    "end_to_end comparison": ["comparison", "--image-size", "11", "--epochs", "1", "--seeds", "0"],
}  # fmt: skip


@pytest.mark.parametrize(
    "name, argv, error",
    [
        ("throughput", ["--steps", "0"], "argument --steps: must be an integer >= 1, got 0"),
        ("throughput", ["--timeout", "0"], "argument --timeout: must be an integer >= 1, got 0"),
        ("throughput", ["--peak-repeats", "0"], "argument --peak-repeats: must be an integer >= 1"),
        ("throughput", ["--profile-ops", "--steps", "0"], "argument --steps: must be an integer"),
        ("throughput", ["--image-size", "5"], "argument --image-size: must be an integer >= 11"),
        ("gc_overhead", ["--sizes", "11", "8"], "--sizes: must be an integer >= 11, got 8"),
        ("gc_overhead", ["--host-cost", "--jit-compile"], "--host-cost times the eager"),
        ("peer_pytorch", ["--steps", "0"], "argument --steps: must be an integer >= 1, got 0"),
        ("precision", ["--epochs", "0"], "argument --epochs: must be an integer >= 1, got 0"),
        ("precision", ["--seeds", "-1", "1"], "argument --seeds: must be an integer >= 0, got -1"),
        ("precision", ["--seeds", "3"], "--seeds must be two or more distinct seeds, got 3"),
        ("precision", ["--seeds", "1", "1"], "--seeds must be two or more distinct seeds"),
        ("pipeline", ["--images", "0"], "argument --images: must be an integer >= 1, got 0"),
        ("pipeline", ["--batch-size", "0"], "argument --batch-size: must be an integer >= 1"),
        ("pipeline", ["--epochs", "0"], "argument --epochs: must be an integer >= 1, got 0"),
        ("pipeline", ["--source", "/nonexistent"], "--source /nonexistent: Image folder"),
        ("end_to_end epochs", ["--epochs", "1", "--interleave"],
         "--epochs: must be an integer >= 2"),
        ("end_to_end epochs", ["--epochs", "1"], "--epochs: must be an integer >= 2, got 1"),
        ("end_to_end epochs", ["--steps", "0"], "argument --steps: must be an integer >= 1, got 0"),
    ],
)  # fmt: skip
def test_a_bad_count_or_size_is_one_line_and_exit_2(script, capsys, tmp_path, name, argv, error):
    output = tmp_path / "result.json"
    main = script(name.split()[0]).main
    argv = [*TINY_ARGUMENTS[name], *argv, "--output", str(output)]
    assert error in refused(capsys, main, argv)
    assert not output.exists()


def test_the_comparison_checks_its_settings_before_writing_its_stand_in(
    script, capsys, monkeypatch
):
    end_to_end = script("end_to_end")

    def write_stand_in(folder, image_size, seed=0):
        raise AssertionError("the stand-in was written before the settings were checked")

    monkeypatch.setattr(end_to_end, "write_stand_in", write_stand_in)
    comparison = TINY_ARGUMENTS["end_to_end comparison"]
    error = refused(capsys, end_to_end.main, [*comparison, "--epochs", "0"])
    assert "argument --epochs: must be an integer >= 1, got 0" in error
    error = refused(capsys, end_to_end.main, [*comparison, "--seeds", "1", "1"])
    assert "`seeds` must be a non-empty list of distinct ints" in error


def test_the_stand_in_is_a_folder_of_horses_or_humans_sizes_that_loads(script, tmp_path):
    end_to_end = script("end_to_end")
    folder = end_to_end.write_stand_in(tmp_path / "stand_in", image_size=11)
    from gc_tutorial.data import load_dataset

    info = load_dataset(folder, image_size=11, augment=False).info
    sizes = end_to_end.HORSES_OR_HUMANS_SPLITS
    assert (info.num_train, info.num_test) == (sizes["train"], sizes["test"])
    assert info.class_names == ("discs", "rings") and info.kind == "folder"


def test_the_pipeline_benchmark_generates_its_synthetic_images(script):
    images, labels = script("pipeline").source_images("synthetic", 4, 11, seed=0)
    assert images.shape == (4, 11, 11, 3) and images.dtype == "uint8"
    assert list(labels) == [0, 1, 0, 1]


@pytest.mark.parametrize("name", list(TINY_ARGUMENTS) + ["end_to_end notebooks"])
@pytest.mark.parametrize("where", ["in a file", "unwritable"])
def test_an_output_that_cannot_be_written_is_refused_before_any_work(
    script, capsys, tmp_path, name, where
):
    if where == "in a file":
        (tmp_path / "a_file").write_text("")
        output, error = tmp_path / "a_file" / "result.json", "is a file, not a folder"
    else:
        if not Path("/proc/self").is_dir():
            pytest.skip("needs Linux's /proc, where no file can be made")
        output, error = Path("/proc/result.json"), "--output: cannot write in /proc"
    argv = TINY_ARGUMENTS.get(name, ["notebooks"])
    assert error in refused(capsys, script(name.split()[0]).main, [*argv, "--output", str(output)])
    assert not output.exists()


def test_the_op_and_layer_profiles_need_tensorflow(script, capsys, monkeypatch, tmp_path):
    import keras

    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    output = tmp_path / "profile.json"
    for profile in ("--profile-ops", "--profile-layers"):
        argv = [*TINY_ARGUMENTS["throughput"], profile, "--output", str(output)]
        error = refused(capsys, script("throughput").main, argv)
        assert f"{profile} profiles TensorFlow's step: it needs KERAS_BACKEND=tensorflow" in error
    assert not output.exists()


def test_the_comparison_writes_where_it_is_told_and_names_its_image_size(
    script, monkeypatch, tmp_path
):
    import pandas as pd

    import gc_tutorial.comparison

    end_to_end, calls = script("end_to_end"), {}

    def run_comparison(config, output_dir):
        calls.update(config=config, output_dir=output_dir)
        history = pd.DataFrame({"epoch": [1], "train_time_s": [1.0], "eval_time_s": [0.5]})
        return SimpleNamespace(history=history, report=lambda: "a report")

    monkeypatch.setattr(gc_tutorial.comparison, "run_comparison", run_comparison)
    monkeypatch.setattr(end_to_end, "write_stand_in", lambda folder, image_size: folder)
    folder, output = tmp_path / "comparison", tmp_path / "end_to_end.json"
    end_to_end.main(
        ["comparison", "--image-size", "32", "--epochs", "2", "--seeds", "0", "1",
         "--output-dir", str(folder), "--output", str(output)]
    )  # fmt: skip
    assert calls["output_dir"] == folder
    assert (calls["config"].image_size, calls["config"].epochs) == (32, 2)
    written = json.loads(output.read_text())
    assert written["dataset"].endswith("(1027/256, 32x32)")
    assert written["comparison_output"] == str(folder.resolve())


def test_failing_notebooks_write_nothing_and_exit_with_pytests_code(
    script, capsys, monkeypatch, tmp_path
):
    end_to_end = script("end_to_end")
    tail = "FAILED notebooks/1_gc_in_keras.ipynb::1_gc_in_keras.ipynb - CellExecutionError"
    failed = subprocess.CompletedProcess([], 3, stdout=f"F.\n{tail}\n", stderr="")
    monkeypatch.setattr(end_to_end.subprocess, "run", lambda *args, **kwargs: failed)
    output = tmp_path / "notebooks.json"
    with pytest.raises(SystemExit) as exit_info:
        end_to_end.main(["notebooks", "--output", str(output)])
    assert exit_info.value.code == 3
    assert tail in capsys.readouterr().out
    assert not output.exists()


def test_gpu_check_runs_every_step_when_one_fails(tmp_path):
    """A fake python3 on PATH: the PyTorch GC overhead step fails, the others still run."""
    calls, scratch, fake = tmp_path / "calls.txt", tmp_path / "tmp", tmp_path / "bin" / "python3"
    fake.parent.mkdir()
    scratch.mkdir()
    fake.write_text(
        f'#!/bin/sh\necho "$KERAS_BACKEND $*" >> "{calls}"\n'
        'case "$KERAS_BACKEND $*" in torch*gc_overhead.py*) exit 1;; esac\n'
    )
    fake.chmod(0o755)
    result = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}", "TMPDIR": str(scratch),
             "OUT": str(tmp_path / "out"), "GPU_CHECK_QUICK": "1"},
    )  # fmt: skip
    assert result.returncode == 1
    profiled = [
        line.split()[0] for line in calls.read_text().splitlines() if "device_profile" in line
    ]
    assert profiled == ["torch", "jax"]
    lines = calls.read_text().splitlines()
    overheads = [line.split()[0] for line in lines if "gc_overhead" in line]
    assert overheads == ["torch", "jax"]
    # Keras is imported with the PyTorch backend: a GPU machine may have no TensorFlow.
    keras_imports = [line for line in lines if " -c import" in line]
    assert len(keras_imports) == 2  # the check for Keras, and the versions line
    assert all(line.startswith("torch -c import") for line in keras_imports)
    assert result.stderr.splitlines()[-2:] == ["failed steps:", "  GC overhead, PyTorch backend"]
    assert not any(scratch.iterdir())  # its trace folders removed


def test_the_study_comparison_finds_the_one_run_that_changed(script, capsys, tmp_path):
    study_runs = script("study_runs")
    one, other = tmp_path / "one", tmp_path / "other"
    for folder in (one, other):
        shutil.copytree(ROOT / "docs" / "study", folder)
    study = pd.read_csv(other / "study.csv")
    run = study[(study.dataset == "digits") & (study.optimizer == "sgd") & (study.seed == 3)]
    run = run[(run.learning_rate == 0.1) & (run.arm == "gc")]
    study.loc[run["epoch"].idxmax(), "test_accuracy"] += 0.5
    study.to_csv(other / "study.csv", index=False)

    same = study_runs.agreement(one, one, "digits")
    assert same["summary_identical"] and same["runs_with_identical_final_values"] == 240
    changed = study_runs.agreement(one, other, "digits")
    assert changed["runs_with_identical_final_values"] == 239
    assert changed["final_value_difference"]["test_accuracy"]["max"] == pytest.approx(0.5)
    where = {"optimizer": "sgd", "learning_rate": "0.1", "seed": "3", "arm": "gc"}
    assert changed["largest_test_accuracy_difference_in"] == where

    output = tmp_path / "study_runs.json"
    study_runs.main([f"a={one}", f"b={other}", "--output", str(output)])
    result = json.loads(output.read_text())
    assert [row["way"] for row in result["rows"]] == ["a", "b"]
    assert [pair["ways"] for pair in result["pairs"]] == [["a", "b"]]
    study_runs.main([f"a={one}", "--output", str(output)])  # one way: its row, nothing to pair
    result = json.loads(output.read_text())
    assert [row["way"] for row in result["rows"]] == ["a"] and result["pairs"] == []
    error = refused(capsys, study_runs.main, [f"a={one}", f"b={tmp_path}"])
    assert f"{tmp_path} holds no study (no summary.csv)" in error


@pytest.fixture(scope="module")
def tables():
    """docs/benchmark_tables.py as a module: the site's tables, generated from the JSON."""
    with folder_on_path(ROOT / "docs"):
        yield importlib.import_module("benchmark_tables")


def table_lines(tables, name: str) -> list[str]:
    (table,) = [table for table in tables.TABLES if table.name == name]
    return tables.markdown(table).splitlines()


def test_every_benchmark_table_is_generated_from_files_that_exist(tables, tmp_path):
    written = tables.write_tables(tmp_path)
    assert [path.stem for path in written] == [table.name for table in tables.TABLES]
    for table, path in zip(tables.TABLES, written, strict=True):
        text = path.read_text()
        assert "```bash\n" in text and "Machine" in text, table.name
        rows = [line for line in text.splitlines() if line.startswith("| ")]
        assert len(rows) >= 2, f"{table.name}: no rows"
        assert len({line.count("|") for line in rows}) == 1, table.name
        assert rows[0].count("|") <= len(table.header) + 1, table.name
        for name in table.files:
            assert f"benchmarks/results/{name}" in table.command or name in text, name
    results = ROOT / "benchmarks" / "results"
    used = {name for table in tables.TABLES for name in table.files}
    unused = {
        str(path.relative_to(results))
        for path in results.rglob("*.json")
        if not (path.parent / "summary.csv").is_file()  # a comparison's own folder
    } - used
    assert not unused, f"results no table shows: {unused}"


def test_the_gpu_overhead_table_is_the_committed_run(tables):
    """Each cell of the H200 GC-overhead table: the median paired ratio and its 95% interval of
    gc_overhead_{torch,jax}.json, to 3 decimals, its verdict, and the step range."""
    lines = table_lines(tables, "gc_overhead_gpu")
    results = ROOT / "benchmarks" / "results" / "gpu_h200"
    verdicts = {"within": "met", "undecided": "undecided", "over": "over"}
    for backend, name in (("JAX", "jax"), ("PyTorch", "torch")):
        rows = json.loads((results / f"gc_overhead_{name}.json").read_text())["rows"]
        for size in (300, 64):
            cells = [r for r in rows if r["image_size"] == size]
            by_optimizer = {r["optimizer"]: r for r in cells}
            ratios = [
                "{:.3f} ({:.3f}-{:.3f}), {}".format(
                    r["pair_ratio_median"], *r["pair_ratio_ci95"], verdicts[r["verdict"]]
                )
                for r in (by_optimizer[o] for o in ("sgd", "rmsprop", "adam"))
            ]
            steps = [r["baseline_step_s"] * 1e3 for r in cells]
            expected = (
                f"| {backend} | {size}x{size} | {min(steps):.1f} ms - {max(steps):.1f} ms | "
                + " | ".join(ratios)
                + " |"
            )
            assert expected in lines, expected


def test_the_cpu_overhead_table_is_the_committed_run(tables):
    lines = table_lines(tables, "gc_overhead_cpu")
    results = ROOT / "benchmarks" / "results"
    verdicts = {"within": "met", "undecided": "undecided", "over": "over"}
    for name, label in (
        ("gc_overhead", "| TensorFlow | 300x300 |"),
        ("gc_overhead_64", "| TensorFlow | 64x64 |"),
        ("gc_overhead_torch_cpu", "| PyTorch | 64x64 |"),
    ):
        rows = {
            r["optimizer"]: r for r in json.loads((results / f"{name}.json").read_text())["rows"]
        }
        cells = [
            "{:.3f} ({:.3f}-{:.3f}), {}".format(
                r["pair_ratio_median"], *r["pair_ratio_ci95"], verdicts[r["verdict"]]
            )
            for r in (rows[o] for o in ("sgd", "rmsprop", "adam"))
        ]
        (line,) = [line for line in lines if line.startswith(label)]
        assert line.endswith(" | " + " | ".join(cells) + " |"), line


def test_a_table_names_the_machine_of_its_file(tables):
    lines = table_lines(tables, "throughput_gpu")
    machine = json.loads(
        (ROOT / "benchmarks" / "results" / "gpu_h200" / "throughput_gpu.json").read_text()
    )["machine"]
    (line,) = [line for line in lines if line.startswith("Machine: ")]
    assert machine["device"] in line and machine["python"] in line and machine["keras"] in line


def test_a_worker_without_dasks_memory_trimming_trains_the_same_numbers(script, tmp_path):
    import cloudpickle

    worker_memory = script("worker_memory")
    cloudpickle.register_pickle_by_value(worker_memory)  # its task runs in a Dask worker
    output = tmp_path / "worker_memory.json"
    arguments = ["--seeds", "1", "--epochs", "2", "--max-examples", "64"]
    worker_memory.main([*arguments, "--output", str(output)])
    result = json.loads(output.read_text())
    assert result["identical_histories"] is True
    assert [row["environment"] for row in result["rows"]] == ["65536", "not set"]
    assert all(row["page_faults"] > 0 for row in result["rows"])


def test_a_cell_compiled_once_per_arm_gives_the_histories_of_one_compiled_per_seed(
    script, capsys, tmp_path
):
    compiled_once = script("compiled_once")
    output = tmp_path / "compiled_once.json"
    arguments = ["--seeds", "2", "--epochs", "2", "--max-examples", "64"]
    compiled_once.main([*arguments, "--output", str(output)])
    result = json.loads(output.read_text())
    assert result["identical_histories"] is True
    assert [row["way"] for row in result["rows"]][0] == "each arm compiled anew"
    assert result["cell"]["seeds"] == 2 and result["machine"]["cpu_count"] >= 1
    error = refused(capsys, compiled_once.main, ["--seeds", "1"])
    assert "--seeds: must be an integer >= 2, got 1" in error


def test_a_grid_gives_the_same_numbers_in_this_process_and_on_workers(tmp_path):
    # Started with TensorFlow's default threads: the grid runner gives each cell one thread.
    output = tmp_path / "grid_scaling.json"
    thread_variables = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS")
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "grid_scaling.py")]
        + ["--epochs", "1", "--seeds", "1", "--output", str(output)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
        env={k: v for k, v in os.environ.items() if k not in thread_variables},
    )
    result = json.loads(output.read_text())
    assert [row["workers"] for row in result["rows"]] == [0, 1, 2, None]
    agreement = result["agreement"]
    for ways in ("1_vs_2_workers", "this_process_vs_2_workers"):
        assert set(agreement[f"max_abs_difference_{ways}"].values()) == {0.0}, agreement
    assert result["speed_ups"]["2_workers_vs_this_process"] > 0
