"""Batch runs with papermill: identity per run, honest resumes, contained failures."""

import functools
import json
import shutil
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from gc_tutorial.grids import batch
from gc_tutorial.grids.batch import collect_runs, grid_points, main, run_name
from gc_tutorial.grids.grid import COMPLETE_MARKER
from gc_tutorial.grids.notebook_runs import parse_value
from gc_tutorial.grids.saved import MixedResultsError
from gc_tutorial.grids.tables import summarize_grid

run_grid = functools.partial(batch.run_grid, workers=0)  # in this process: no cluster to start

NOTEBOOKS = Path(__file__).parents[1] / "notebooks"
TINY_COMPARISON = """\
assert learning_rate < 1, "a run that fails"  # at once, before TensorFlow loads

from gc_tutorial.comparison import run_comparison

run_comparison("synthetic", seeds=seeds, epochs=epochs, image_size=16, batch_size=16,
               max_examples=16, optimizer=optimizer, learning_rate=learning_rate,
               output_dir=output_dir, verbose=0)
"""


def write_tiny_notebook(folder: Path) -> Path:
    parameters = nbformat.v4.new_code_cell(
        'optimizer = "sgd"\nlearning_rate = 0.01\nmomentum = None\nseeds = [0]\nepochs = 1\n'
        'output_dir = "out"'
    )
    parameters.metadata["tags"] = ["parameters"]
    notebook = nbformat.v4.new_notebook(
        cells=[parameters, nbformat.v4.new_code_cell(TINY_COMPARISON)],
        metadata={
            "kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}
        },
    )
    path = folder / "tiny.ipynb"
    nbformat.write(notebook, path)
    return path


@pytest.fixture
def tiny_notebook(tmp_path):
    return write_tiny_notebook(tmp_path)


ONE_RUN = {"optimizers": ["sgd"], "learning_rates": [1e-3], "seeds": [0]}


@pytest.fixture(autouse=True)
def out_of_quick_mode(monkeypatch):
    """Every test starts out of quick mode, as the one run below was made."""
    monkeypatch.setenv("GC_TUTORIAL_QUICK", "0")


@pytest.fixture(scope="module")
def one_grid(tmp_path_factory):
    """The statuses and runs folder of a grid that names one run (ONE_RUN, every other
    parameter at the tiny notebook's default) twice over: the run that several tests start
    from, trained once per test process (each test gets a copy, `runs_with_one_run`)."""
    folder = tmp_path_factory.mktemp("one-grid")
    grid = {"optimizers": ["sgd", "SGD"], "learning_rates": [1e-3, 0.001], "seeds": [0]}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GC_TUTORIAL_QUICK", "0")
        statuses = run_grid(write_tiny_notebook(folder), folder / "runs", **grid)
    return statuses, folder / "runs"


@pytest.fixture
def runs_with_one_run(one_grid, tiny_notebook, tmp_path) -> Path:
    """A runs folder holding ONE_RUN, complete, as the tiny notebook made it."""
    runs_dir = tmp_path / "runs"
    shutil.copytree(one_grid[1], runs_dir)
    return runs_dir


@pytest.mark.slow
def test_grid_skips_complete_runs_and_contains_failures(tiny_notebook, tmp_path):
    runs_dir = tmp_path / "runs"
    grid = {"optimizers": ["sgd"], "learning_rates": [0.01, 5.0], "seeds": [0]}
    first = run_grid(tiny_notebook, runs_dir, **grid)
    assert list(first["status"].str.split(":").str[0]) == ["done", "failed"]
    done, failed = runs_dir / run_name("sgd", 0.01, 0), runs_dir / run_name("sgd", 5.0, 0)
    assert (done / "results.json").is_file() and (done / "comparison.ipynb").is_file()
    assert (done / COMPLETE_MARKER).is_file() and not (failed / COMPLETE_MARKER).exists()
    assert "a run that fails" in (failed / "error.txt").read_text()

    second = run_grid(tiny_notebook, runs_dir, **grid)
    assert list(second["status"].str.split(" ").str[0]) == ["skipped", "failed:"]

    runs = collect_runs(runs_dir)
    assert len(runs) == 2 and set(runs["arm"]) == {"baseline", "gc"}
    assert runs["synthetic"].all() and set(runs["learning_rate"]) == {0.01}


def test_a_misspelt_parameter_stops_the_grid_before_any_run(tiny_notebook, tmp_path):
    grid = {"optimizers": ["sgd"], "learning_rates": [0.01], "seeds": [0]}
    with pytest.raises(ValueError, match="no parameter `epoch` \\(did you mean `epochs`\\?\\)"):
        run_grid(tiny_notebook, tmp_path / "runs", parameters={"epoch": 1}, **grid)
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_a_rerun_with_other_parameters_never_mixes(tiny_notebook, runs_with_one_run):
    runs_dir = runs_with_one_run  # sgd 1e-3 seed 0, 1 epoch
    one = {"optimizers": ["sgd"], "learning_rates": [1e-3]}
    with pytest.raises(ValueError, match="epochs: 1 -> 2"):
        run_grid(tiny_notebook, runs_dir, seeds=[0, 1], parameters={"epochs": 2}, **one)
    assert not (runs_dir / run_name("sgd", 1e-3, 1)).exists()  # stopped before any run
    statuses = run_grid(
        tiny_notebook, runs_dir, seeds=[0, 1], parameters={"epochs": 2}, replace=True, **one
    )
    assert list(statuses["status"]) == ["done", "done"]
    runs = collect_runs(runs_dir)
    assert set(runs["epochs"]) == {2} and len(runs) == 4
    assert len(list((runs_dir / ".replaced").iterdir())) == 1  # the 1-epoch run, kept aside


@pytest.mark.slow
def test_a_run_killed_before_its_marker_is_run_again(tiny_notebook, runs_with_one_run):
    runs_dir = runs_with_one_run
    folder = runs_dir / run_name("sgd", 1e-3, 0)
    (folder / COMPLETE_MARKER).unlink()  # killed after results.json, before the marker
    (folder / "comparison.ipynb").write_text("")
    assert collect_runs(runs_dir).empty
    statuses = run_grid(tiny_notebook, runs_dir, **ONE_RUN)
    assert list(statuses["status"]) == ["done"]
    assert json.loads((folder / "comparison.ipynb").read_text())["cells"]


@pytest.mark.slow
def test_collect_runs_refuses_runs_with_different_shared_parameters(
    tiny_notebook, runs_with_one_run, tmp_path
):
    runs_dir = runs_with_one_run  # sgd 1e-3 seed 0, 1 epoch
    other = tmp_path / "other"
    run_grid(
        tiny_notebook,
        other,
        optimizers=["sgd"],
        learning_rates=[1e-3],
        seeds=[1],
        parameters={"epochs": 2},
    )
    (other / run_name("sgd", 1e-3, 1)).rename(runs_dir / run_name("sgd", 1e-3, 1))
    with pytest.raises(MixedResultsError, match="different shared parameters"):
        collect_runs(runs_dir)


def test_collect_runs_of_an_empty_folder_is_empty(tmp_path):
    assert collect_runs(tmp_path).empty
    assert summarize_grid(pd.DataFrame()).empty


def test_summarize_grid_is_the_paired_difference_per_cell():
    runs = pd.DataFrame(
        [
            {
                "optimizer": "sgd",
                "learning_rate": 0.1,
                "seed": seed,
                "arm": arm,
                "final_test_accuracy": acc,
            }
            for seed, (b, g) in enumerate([(0.8, 0.9), (0.7, 0.75), (0.6, 0.5)])
            for arm, acc in (("baseline", b), ("gc", g))
        ]
    )
    row = summarize_grid(runs).iloc[0]
    assert row["mean"] == pytest.approx((0.1 + 0.05 - 0.1) / 3)
    assert (row["wins"], row["losses"], row["seeds"]) == (2, 1, 3)
    assert row["baseline_mean"] == pytest.approx(0.7)


@pytest.mark.parametrize(
    "notebook, grid, error, message",
    [
        ("missing.ipynb", {}, FileNotFoundError, "missing.ipynb"),
        (None, {"optimizers": []}, ValueError, "grid is empty"),
        (None, {"optimizers": ["../../x"]}, ValueError, "must be a Keras optimizer's name"),
        (None, {"learning_rates": [float("inf")]}, ValueError, "learning_rates"),
        (None, {"seeds": [0, -1]}, ValueError, "seeds"),
        (
            None,
            {"learning_rates": [1e-4, 1.000001e-4]},
            ValueError,
            "`learning_rates` must differ within their first 6 significant digits.*"
            "0.0001 and 0.0001000001 both give 'sgd-lr0.0001-seed0'",
        ),
        (
            None,
            {"optimizers": ["sgd", "adam"], "parameters": {"momentum": 0.9}},
            ValueError,
            "Run adam-lr0.1-seed0: `momentum` must be None for optimizer 'adam'",
        ),
        (None, {"parameters": {"output_dir": "elsewhere"}}, ValueError, "set by the grid"),
        (
            NOTEBOOKS / "01_data.ipynb",
            {},
            ValueError,
            "`notebook` must have the parameters optimizer, learning_rate, seeds, output_dir.*"
            "without optimizer, learning_rate, seeds, output_dir",
        ),
    ],
)
def test_bad_grid_input(tiny_notebook, tmp_path, notebook, grid, error, message):
    notebook = tiny_notebook if notebook is None else tmp_path / notebook
    grid = {"optimizers": ["sgd"], "learning_rates": [0.1], "seeds": [0], **grid}
    with pytest.raises(error, match=message):
        run_grid(notebook, tmp_path / "runs", **grid)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "text, value",
    [
        ("2", 2),
        ("0.5", 0.5),
        ("True", True),
        ("None", None),
        ("synthetic", "synthetic"),
        ("1e-1", 0.1),
        ("1_000", 1000),
        ("yes", "yes"),
        ("off", "off"),
        ("true", "true"),
        ("[0, 1]", "[0, 1]"),
    ],
)
def test_command_line_values_are_parsed_like_papermill(text, value):
    from papermill.cli import _resolve_type  # what `papermill -p NAME VALUE` does

    assert parse_value(text) == value and type(parse_value(text)) is type(value)
    assert parse_value(text) == _resolve_type(text) and type(_resolve_type(text)) is type(value)


def test_duplicate_grid_points_and_seeds_are_dropped():
    points = grid_points(["sgd", "SGD"], [1e-3, 0.001], [0, 0, 1])
    assert points == [("sgd", 0.001, 0), ("sgd", 0.001, 1)]


@pytest.mark.slow
def test_duplicate_grid_points_run_once(one_grid):
    statuses, runs_dir = one_grid  # sgd and SGD, 1e-3 and 0.001
    assert [path.name for path in runs_dir.glob("[!.]*")] == ["sgd-lr0.001-seed0"]
    assert list(statuses["run"]) == ["sgd-lr0.001-seed0"] and list(statuses["status"]) == ["done"]


@pytest.mark.slow
def test_a_run_is_identified_by_the_notebook_code_and_quick_mode(
    tiny_notebook, runs_with_one_run, monkeypatch
):
    runs_dir, one = runs_with_one_run, {"optimizers": ["sgd"], "learning_rates": [1e-3]}
    notebook = nbformat.read(tiny_notebook, as_version=4)
    notebook.cells.append(nbformat.v4.new_markdown_cell("Prose changes no result."))
    nbformat.write(notebook, tiny_notebook)
    statuses = run_grid(tiny_notebook, runs_dir, seeds=[0], **one)
    assert list(statuses["status"]) == ["skipped (complete, same parameters)"]

    monkeypatch.setenv("GC_TUTORIAL_QUICK", "1")
    with pytest.raises(ValueError, match="sgd-lr0.001-seed0 \\(quick mode: False -> True\\)"):
        run_grid(tiny_notebook, runs_dir, seeds=[0], **one)
    monkeypatch.setenv("GC_TUTORIAL_QUICK", "0")
    notebook.cells[1].source += "\nprint('code changes the result')"
    nbformat.write(notebook, tiny_notebook)
    with pytest.raises(ValueError, match="notebook code: tiny.ipynb [0-9a-f]{16} -> tiny.ipynb"):
        run_grid(tiny_notebook, runs_dir, seeds=[0], **one)
    run_grid(tiny_notebook, runs_dir, seeds=[1], **one)  # a new run, with the new code
    with pytest.raises(MixedResultsError, match="notebook code"):
        collect_runs(runs_dir)


@pytest.mark.parametrize("problem", ["runs folder is a file", "permission denied"])
def test_command_line_errors_are_one_line_and_exit_2(
    tiny_notebook, tmp_path, monkeypatch, capsys, problem
):
    runs_dir = tmp_path / "runs"
    if problem == "runs folder is a file":
        runs_dir.write_text("")
        message = "is not a folder"
    else:

        def refuse(path):
            raise PermissionError(13, "Permission denied", str(path))

        monkeypatch.setattr("gc_tutorial.grids.batch.prepare_output_dir", refuse)
        message = "Permission denied"
    argv = ["--notebook", str(tiny_notebook), "--runs-dir", str(runs_dir), "--seeds", "0"]
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--optimizers", "sgd", "--learning-rates", "0.01"])
    error = capsys.readouterr().err
    assert exit_.value.code == 2 and error.count("\n") == 1
    assert ": error: " in error and message in error


def test_two_batches_cannot_share_a_runs_folder(tiny_notebook, tmp_path):
    from gc_tutorial.files.storage import FolderInUseError
    from gc_tutorial.grids.runs_folder import lock_folder

    grid = {"optimizers": ["sgd"], "learning_rates": [1e-3], "seeds": [0]}
    with lock_folder(tmp_path / "runs"), pytest.raises(FolderInUseError, match="in use"):
        run_grid(tiny_notebook, tmp_path / "runs", **grid)
    assert not (tmp_path / "runs" / run_name("sgd", 1e-3, 0)).exists()


def test_a_relative_dataset_is_taken_from_the_current_folder(tmp_path, monkeypatch):
    from gc_tutorial.grids.batch import resolve_paths

    (tmp_path / "mydata").mkdir()
    (tmp_path / "notebooks" / "mydata").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    resolved = resolve_paths({"dataset": "mydata", "data_dir": "tfds", "epochs": 1})
    assert resolved == {
        "dataset": str(tmp_path / "mydata"),
        "data_dir": str(tmp_path / "tfds"),
        "epochs": 1,
    }
    assert resolve_paths({"dataset": "digits"}) == {"dataset": "digits"}
    assert resolve_paths({"dataset": "mnist"}) == {"dataset": "mnist"}  # a tfds name


@pytest.mark.parametrize("dataset", ["./missing", "missing"])  # a path; a bare name (not tfds)
def test_a_missing_folder_dataset_stops_the_grid_before_any_run(tmp_path, monkeypatch, dataset):
    notebook = NOTEBOOKS / "04_comparison.ipynb"
    monkeypatch.chdir(tmp_path)
    grid = {"optimizers": ["sgd"], "learning_rates": [0.1], "seeds": [0]}
    parameters = {"dataset": dataset, "augment": False}
    with pytest.raises((FileNotFoundError, ValueError), match="missing"):
        run_grid(notebook, tmp_path / "runs", parameters=parameters, **grid)
    assert not [path for path in (tmp_path / "runs").iterdir() if not path.name.startswith(".")]


def test_augmenting_digits_names_the_batch_parameter(tiny_notebook):
    from gc_tutorial.grids.batch import check_run_configs

    with pytest.raises(ValueError) as error:
        check_run_configs({"dataset": "digits", "augment": True}, [("sgd", 0.1, 0)])
    assert "-p augment False" in str(error.value) and "--no-augment" not in str(error.value)


def test_replacing_part_of_a_grid_refuses_up_front_what_it_could_not_average(
    tiny_notebook, tmp_path
):
    runs_dir = tmp_path / "runs"
    other = runs_dir / run_name("sgd", 0.1, 5)
    other.mkdir(parents=True)
    marker = {"identity": "0" * 16, "settings": {"epochs": 2, "optimizer": "sgd"}}
    (other / COMPLETE_MARKER).write_text(json.dumps(marker))
    with pytest.raises(MixedResultsError, match="sgd-lr0.1-seed5"):
        run_grid(
            tiny_notebook,
            runs_dir,
            optimizers=["sgd"],
            learning_rates=[0.1],
            seeds=[0],
            replace=True,
        )
    assert not (runs_dir / run_name("sgd", 0.1, 0)).exists()


@pytest.mark.slow
def test_passing_a_default_explicitly_reruns_nothing(tiny_notebook, runs_with_one_run):
    statuses = run_grid(
        tiny_notebook, runs_with_one_run, parameters={"momentum": None, "epochs": 1}, **ONE_RUN
    )
    assert list(statuses["status"]) == ["skipped (complete, same parameters)"]
