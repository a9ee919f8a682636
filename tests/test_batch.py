"""Batch runs with papermill: one folder per run, finished runs skipped, failures contained."""

import nbformat
import pandas as pd
import pytest

from gc_tutorial.batch import _parse_value, collect_runs, run_grid, run_name, summarize_grid

TINY_COMPARISON = """\
from gc_tutorial.experiment import run_comparison

run_comparison("synthetic", seeds=seeds, epochs=1, image_size=16, batch_size=16, max_examples=16,
               optimizer=optimizer, learning_rate=learning_rate, output_dir=output_dir, verbose=0)
"""


@pytest.fixture
def tiny_notebook(tmp_path):
    parameters = nbformat.v4.new_code_cell(
        'optimizer = "sgd"\nlearning_rate = 0.01\nseeds = [0]\noutput_dir = "out"'
    )
    parameters.metadata["tags"] = ["parameters"]
    notebook = nbformat.v4.new_notebook(
        cells=[parameters, nbformat.v4.new_code_cell(TINY_COMPARISON)],
        metadata={
            "kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}
        },
    )
    path = tmp_path / "tiny.ipynb"
    nbformat.write(notebook, path)
    return path


def test_grid_runs_skips_finished_runs_and_contains_failures(tiny_notebook, tmp_path):
    runs_dir = tmp_path / "runs"
    grid = {"optimizers": ["sgd", "no-such-optimizer"], "learning_rates": [0.01], "seeds": [0]}
    first = run_grid(tiny_notebook, runs_dir, **grid)
    assert list(first["status"].str.split(":").str[0]) == ["done", "failed"]
    done, failed = (
        runs_dir / run_name("sgd", 0.01, 0),
        runs_dir / run_name("no-such-optimizer", 0.01, 0),
    )
    assert (done / "results.json").is_file() and (done / "comparison.ipynb").is_file()
    assert "Unknown optimizer" in (failed / "error.txt").read_text()
    assert (failed / "comparison.ipynb").is_file()  # the executed notebook shows where it failed

    second = run_grid(tiny_notebook, runs_dir, **grid)
    assert list(second["status"].str.split(" ").str[0]) == ["skipped", "failed:"]

    runs = collect_runs(runs_dir)
    assert len(runs) == 2 and set(runs["arm"]) == {"baseline", "gc"}
    assert runs["synthetic"].all() and set(runs["optimizer"]) == {"sgd"}
    summary = summarize_grid(runs)
    assert list(summary["runs"]) == [1, 1]


def test_collect_runs_of_an_empty_folder_is_empty(tmp_path):
    assert collect_runs(tmp_path).empty
    assert summarize_grid(pd.DataFrame()).empty


def test_bad_grid_input(tiny_notebook, tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.ipynb"):
        run_grid(
            tmp_path / "missing.ipynb",
            tmp_path,
            optimizers=["sgd"],
            learning_rates=[0.1],
            seeds=[0],
        )
    with pytest.raises(ValueError, match="grid is empty"):
        run_grid(tiny_notebook, tmp_path / "runs", optimizers=[], learning_rates=[0.1], seeds=[0])


@pytest.mark.parametrize(
    "text, value",
    [("2", 2), ("0.5", 0.5), ("True", True), ("None", None), ("synthetic", "synthetic")],
)
def test_command_line_values_are_parsed_like_papermill(text, value):
    assert _parse_value(text) == value and type(_parse_value(text)) is type(value)
