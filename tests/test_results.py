"""A comparison's folder: replaced only when it holds nothing but our files, read back checked.

Nothing here trains: an earlier comparison is saved from a hand-made per-epoch table, and
every run that must be refused has its training replaced by a failure.
"""

import json

import pandas as pd
import pytest

from gc_tutorial import analysis, comparison, experiment
from gc_tutorial.files import environment, saving
from gc_tutorial.files.saving import (
    COMPARISON_FILES,
    reserve_output_dir,
    save_comparison,
    save_comparison_plots,
    save_reserved,
)
from gc_tutorial.grids.saved import MixedResultsError, load_comparison
from gc_tutorial.results import ComparisonResult

QUICK = ["--dataset", "digits", "--no-augment", "--image-size", "16", "--epochs", "1"]
QUICK += ["--seeds", "0", "--max-examples", "64"]


def hand_made_history() -> pd.DataFrame:
    rows = [
        {
            "seed": seed,
            "arm": arm,
            "epoch": epoch,
            "train_loss": 1.0 / epoch + seed,
            "train_accuracy": 0.5,
            "test_loss": 1.0,
            "test_accuracy": accuracy + 0.05 * epoch,
            "train_time_s": 1.0 + epoch,
            "eval_time_s": 0.1,
            "diverged": False,
            "initial_weights": f"w{seed}",
        }
        for seed, (baseline, gc) in enumerate([(0.6, 0.7), (0.65, 0.6), (0.5, 0.8)])
        for arm, accuracy in (("baseline", baseline), ("gc", gc))
        for epoch in (1, 2)
    ]
    return pd.DataFrame(rows, columns=analysis.HISTORY_COLUMNS)


def hand_made_result() -> ComparisonResult:
    history = hand_made_history()
    paired = analysis.paired_differences(history)
    return ComparisonResult(
        history=history,
        summary=analysis.summarize(history, num_train=100),
        paired=paired,
        statistics=analysis.paired_statistics(paired),
        parameters={
            "optimizer": "adam",
            "learning_rate": 0.001,
            "epochs": 2,
            "seeds": [0, 1, 2],
            "image_size": 16,
            "batch_size": 32,
        },
        environment={"python": "3"},
        dataset={"name": "digits", "kind": "digits", "num_train": 100},
        identity="hand-made",
    )


def saved_comparison(folder) -> ComparisonResult:
    """Save as `run_comparison` does: plots into the staging folder, then the result."""
    result = hand_made_result()
    with reserve_output_dir(folder) as (reserved, staging):
        save_comparison_plots(result.history, staging)
        save_reserved(result, reserved, staging)
    return result


@pytest.fixture
def no_training(monkeypatch):
    """Any training, or even loading the data, fails the test: refusals come first."""
    monkeypatch.setattr(comparison, "train_arm", pytest.fail)
    monkeypatch.setattr(comparison, "load_dataset", pytest.fail)


def refused_in_one_line(capsys, output_dir) -> str:
    with pytest.raises(SystemExit) as exit_info:
        experiment.main([*QUICK, "--output-dir", str(output_dir)])
    error = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and len(error.splitlines()) == 1, error
    assert "Traceback" not in error and "--output-dir" in error, error
    return error


def test_a_folder_with_a_results_json_and_user_files_is_refused_and_kept(
    no_training, tmp_path, capsys
):
    folder = tmp_path / "P"
    folder.mkdir()
    (folder / "results.json").write_text("{}\n")
    (folder / "thesis.tex").write_text("t\n")
    (folder / "src").mkdir()
    (folder / "src" / "main.py").write_text("c\n")
    error = refused_in_one_line(capsys, folder)
    assert "it holds src, thesis.tex." in error and "nothing else is ever deleted" in error
    assert (folder / "thesis.tex").read_text() == "t\n"
    assert (folder / "src" / "main.py").read_text() == "c\n"
    assert (folder / "results.json").read_text() == "{}\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["P"]  # no lock, no staging


@pytest.mark.parametrize("added", ["notes.txt", "mine/", "history.csv/"])
def test_an_earlier_comparison_with_something_added_is_refused(no_training, tmp_path, added):
    folder = tmp_path / "D"
    saved_comparison(folder)
    name = added.rstrip("/")
    if added.endswith("/"):
        (folder / name).unlink(missing_ok=True)
        (folder / name).mkdir()
        (folder / name / "keep.txt").write_text("keep me")
    else:
        (folder / name).write_text("keep me")
    before = sorted(path.name for path in folder.iterdir())
    with pytest.raises(ValueError, match=rf"new or empty folder.* it holds {name}\. "):
        comparison.run_comparison("digits", augment=False, output_dir=folder)
    assert sorted(path.name for path in folder.iterdir()) == before
    kept = folder / name / "keep.txt" if added.endswith("/") else folder / name
    assert kept.read_text() == "keep me"


def test_an_earlier_comparison_alone_is_replaced_and_hidden_entries_kept(tmp_path, capsys):
    folder = tmp_path / "D"
    first = saved_comparison(folder)
    assert {path.name for path in folder.iterdir()} == COMPARISON_FILES
    (folder / ".ipynb_checkpoints").mkdir()
    second = hand_made_result()
    second.identity = "another"
    save_comparison(
        second, folder
    )  # tables and results.json only: the old plots go with the old result
    assert "(other settings: hand-made -> another)" in capsys.readouterr().out
    assert load_comparison(folder).identity == "another" != first.identity
    assert (folder / ".ipynb_checkpoints").is_dir()
    assert not (folder / "learning_curves.png").exists()


def test_the_result_type_draws_no_plots(tmp_path):
    save_comparison(hand_made_result(), tmp_path / "D")
    assert not any(path.suffix == ".png" for path in (tmp_path / "D").iterdir())
    assert not [name for name in saving.save_reserved.__code__.co_names if "plot" in name]


@pytest.mark.parametrize(
    "table, row, column",
    [("summary", 1, "final_test_accuracy_mean"), ("history", 0, "test_accuracy")],
    ids=["summary", "per-epoch history"],
)
def test_an_edited_table_in_results_json_is_noticed(tmp_path, table, row, column):
    folder = tmp_path / "D"
    saved_comparison(folder)
    path = folder / "results.json"
    payload = json.loads(path.read_text())
    payload[table][row][column] = 0.99
    path.write_text(json.dumps(payload))
    with pytest.raises(MixedResultsError, match=rf"{table} table in .*results.json"):
        load_comparison(folder)


@pytest.mark.parametrize(
    "text, words",
    [
        ("[]", "a JSON list"),
        ('{"identity": "x"', "unreadable JSON"),
        ("{}", "no dataset, environment, history"),
        (
            '{"history": 1, "summary": 2, "paired": 3, "parameters": {}, "environment": {}, '
            '"dataset": {}}',
            "its tables cannot be read",
        ),
    ],
)
def test_a_broken_results_json_is_a_clear_error_naming_it(tmp_path, text, words):
    (tmp_path / "results.json").write_text(text)
    with pytest.raises(MixedResultsError, match=words) as error:
        load_comparison(tmp_path)
    assert str(tmp_path / "results.json") in str(error.value)
    assert len(str(error.value).splitlines()) == 1


def test_a_saved_comparison_reads_back_equal(tmp_path):
    result = saved_comparison(tmp_path / "D")
    loaded = load_comparison(tmp_path / "D")
    pd.testing.assert_frame_equal(loaded.history, result.history)
    pd.testing.assert_frame_equal(loaded.summary, result.summary)
    assert loaded.report() == result.report()


@pytest.mark.parametrize(
    "output_dir, error, words",
    [
        ("/proc/gcout", PermissionError, "Cannot write results in '/proc'"),
        ("{file}/sub/D", NotADirectoryError, "is inside '{file}', which is not a folder"),
        ("{file}", NotADirectoryError, "'{file}' is not a folder"),
    ],
)
def test_output_dirs_that_cannot_be_written_are_one_line_errors_before_training(
    no_training, tmp_path, capsys, output_dir, error, words
):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    output_dir, words = output_dir.format(file=a_file), words.format(file=a_file)
    with pytest.raises(error, match="`output_dir`") as raised:
        comparison.run_comparison("digits", augment=False, output_dir=output_dir)
    assert words in str(raised.value) and "Errno" not in str(raised.value)
    assert words in refused_in_one_line(capsys, output_dir)
    assert a_file.read_text() == "x"


def test_a_read_only_output_dir_is_refused_before_training(no_training, monkeypatch, tmp_path):
    folder = tmp_path / "D"
    folder.mkdir()

    def read_only(*args, dir=None, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("tempfile.TemporaryFile", read_only)
    with pytest.raises(PermissionError, match=r"Permission denied.*`output_dir` must be a folder"):
        comparison.run_comparison("digits", augment=False, output_dir=folder)


def test_a_tilde_in_output_dir_is_the_home_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    with reserve_output_dir("~/results/D") as (folder, staging):
        assert folder == (tmp_path / "results" / "D").resolve()
        assert staging.parent == folder.parent
    save_comparison(hand_made_result(), "~/E")
    assert load_comparison("~/E").identity == "hand-made"
    assert not (tmp_path / "~").exists()


def test_the_environment_names_the_vector_extensions_that_decide_the_last_bits(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("model name\t: A CPU\nflags\t\t: fpu sse4_1 avx2 fma avx avx512f amx_tile\n")
    assert environment.cpu_vector_extensions(cpuinfo) == [
        "avx",
        "avx2",
        "fma",
        "avx512f",
        "amx_tile",
    ]
    assert environment.cpu_vector_extensions(tmp_path / "absent") is None
    described = environment.describe_environment()
    assert described["cpu_vector_extensions"] == environment.cpu_vector_extensions()


def test_the_machine_is_recorded_when_a_new_result_is_saved_and_kept_when_read_back(tmp_path):
    result = hand_made_result()
    result.environment = {}  # as run_comparison returns it: made here, not yet saved
    save_comparison(result, tmp_path / "D")
    assert result.environment == environment.describe_environment()
    assert load_comparison(tmp_path / "D").environment == result.environment
    loaded = load_comparison(tmp_path / "D")
    loaded.environment = {"processor": "another machine"}
    save_comparison(loaded, tmp_path / "E")  # a result read back keeps the machine it was made on
    assert load_comparison(tmp_path / "E").environment == {"processor": "another machine"}
