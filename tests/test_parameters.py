"""Notebook parameters: checks papermill does not make, unknown names, and quick mode."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from gc_tutorial.config import ComparisonConfig, config_defaults
from gc_tutorial.grids.parameters import GRID_DEFAULTS, check_grid_parameters
from gc_tutorial.parameters import (
    NOTEBOOK_DEFAULTS,
    QUICK_OVERRIDES,
    TUTORIAL_DEFAULTS,
    check_parameters,
    quick_mode,
)


@pytest.fixture
def full_mode(monkeypatch):
    monkeypatch.setenv("GC_TUTORIAL_QUICK", "0")


@pytest.fixture
def quick(monkeypatch):
    monkeypatch.setenv("GC_TUTORIAL_QUICK", "1")


@pytest.mark.parametrize(
    "name, value, message",
    [
        (
            "epochs",
            1.5,
            "`epochs` must be an int >= 1. Received: epochs=1.5 \\(float\\). "
            "With papermill: -p epochs 10",
        ),
        ("epochs", 0, "`epochs` must be an int >= 1"),
        ("image_size", "300", "`image_size` must be an int >= 1"),
        ("batch_size", True, "`batch_size`"),
        ("learning_rate", -0.1, "`learning_rate` must be a finite number >= 0"),
        ("learning_rate", float("inf"), "`learning_rate` must be a finite number"),
        ("seeds", "[0, 1]", "`seeds` must be a non-empty list of distinct ints"),
        ("seeds", [0, 0], "distinct"),
        ("seeds", [0, -1], "`seeds\\[1\\]` must be an int >= 0"),
        ("augment", "False", "`augment` must be True or False"),
        ("optimizer", "nosuch", "nosuch"),
        ("max_examples", 0, "`max_examples`"),
        ("dataset", "", "`dataset` must be a non-empty string"),
        ("seed", 2**32, "`seed` must be an int >= 0 and < 4294967296"),
    ],
)
def test_bad_values_get_a_clear_error(full_mode, name, value, message):
    with pytest.raises(ValueError, match=message):
        check_parameters(**{name: value})


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("grid_learning_rates", [0.1, "x"], "`grid_learning_rates`"),
        ("grid_optimizers", ["sgd", "x"], "`grid_optimizers\\[1\\]` must be a known optimizer"),
        ("grid_optimizers", [], "With papermill: -y 'grid_optimizers: \\['sgd'"),
        ("launch_grid", 1, "`launch_grid` must be True or False"),
    ],
)
def test_the_grid_notebooks_parameters_are_checked_too(full_mode, name, value, message):
    with pytest.raises(ValueError, match=message):
        check_grid_parameters(**{name: value})


def test_the_lesson_does_not_know_the_grid_notebooks_parameters(full_mode):
    with pytest.raises(ValueError, match="Unknown parameter `runs_dir`"):
        check_parameters(runs_dir="runs/grid")
    assert not set(GRID_DEFAULTS) & set(TUTORIAL_DEFAULTS)


def test_unknown_parameter_is_refused_with_the_closest_name(full_mode):
    with pytest.raises(ValueError, match="did you mean `epochs`"):
        check_parameters(epoch=3)


def test_a_passed_name_the_notebook_lacks_is_refused(full_mode):
    # papermill -p epoch 1 on a notebook whose parameter is `epochs`:
    with pytest.raises(ValueError, match="no parameter `epoch` \\(did you mean `epochs`\\?\\)"):
        check_parameters(epochs=10, passed={"epoch"})


def test_numpy_integers_are_accepted(full_mode):
    import numpy as np

    settings = check_parameters(seeds=[np.int64(3)], epochs=np.int32(2))
    assert settings.seeds == [3] and type(settings.seeds[0]) is int and settings.epochs == 2


def test_full_mode_keeps_the_values(full_mode, capsys):
    settings = check_parameters(dataset="horses_or_humans", epochs=10, learning_rate=1)
    assert (settings.dataset, settings.epochs, settings.learning_rate) == (
        "horses_or_humans",
        10,
        1.0,
    )
    assert settings.quick is False and settings.changed == {}
    assert "Full tutorial run" in capsys.readouterr().out


def test_quick_mode_changes_what_is_at_its_default_and_was_not_passed(quick, capsys):
    settings = check_parameters(
        dataset=TUTORIAL_DEFAULTS["dataset"],
        epochs=TUTORIAL_DEFAULTS["epochs"],
        image_size=TUTORIAL_DEFAULTS["image_size"],
        batch_size=24,
        passed={"epochs"},
    )
    assert settings.quick is True
    assert settings.dataset == QUICK_OVERRIDES["dataset"] == "digits"
    assert settings.image_size == QUICK_OVERRIDES["image_size"]  # at its default: changed
    assert settings.epochs == 10  # passed (even at its default value): kept
    assert settings.batch_size == 24  # set to another value than the default: kept
    assert set(settings.changed) == {"dataset", "image_size"}
    banner = capsys.readouterr().out
    assert "QUICK MODE" in banner and "dataset 'horses_or_humans' -> 'digits'" in banner
    assert "Kept as passed: epochs" in banner


def test_quick_mode_is_digits_without_augmentation():
    assert QUICK_OVERRIDES["dataset"] == "digits" and QUICK_OVERRIDES["augment"] is False


def test_defaults_come_from_the_config_once(full_mode):
    assert {k: TUTORIAL_DEFAULTS[k] for k in config_defaults()} == config_defaults()
    assert set(TUTORIAL_DEFAULTS) == set(config_defaults()) | set(NOTEBOOK_DEFAULTS)
    config = check_parameters(epochs=3, seeds=[4]).config()
    assert config == ComparisonConfig(epochs=3, seeds=(4,))


@pytest.mark.parametrize(
    "value, expected", [("1", True), ("true", True), ("0", False), ("", False)]
)
def test_quick_mode_switch(monkeypatch, value, expected):
    monkeypatch.setenv("GC_TUTORIAL_QUICK", value)
    assert quick_mode() is expected


def test_quick_mode_switch_rejects_other_values(monkeypatch):
    monkeypatch.setenv("GC_TUTORIAL_QUICK", "maybe")
    with pytest.raises(ValueError, match="GC_TUTORIAL_QUICK"):
        quick_mode()


@pytest.mark.parametrize(
    "values, word",
    [
        ({"dataset": "digits", "augment": True}, "`augment` must be False for dataset 'digits'"),
        ({"optimizer": "adam", "momentum": 0.9}, "`momentum` must be None for optimizer 'adam'"),
    ],
    ids=["digits-augment", "adam-momentum"],
)
def test_settings_that_conflict_are_refused_by_their_config(full_mode, values, word):
    settings = check_parameters(passed=(), **values)  # each value is fine alone
    with pytest.raises(ValueError, match=word):
        settings.config()


def test_digits_without_augmentation_resolve(full_mode):
    settings = check_parameters(passed=(), dataset="digits", augment=False)
    assert settings.config().dataset == "digits"


def notebook_namespace(declared: dict, injected: dict | None = None) -> dict:
    """What a notebook's globals() hold after its parameters cell, and papermill's cell."""
    namespace = {"__annotations__": {name: type(value) for name, value in declared.items()}}
    cells = [
        "import keras",
        "".join(f"{k}: {type(v).__name__} = {v!r}\n" for k, v in declared.items()),
    ]
    if injected:
        cells.append("# Parameters\n" + "".join(f"{k} = {v!r}\n" for k, v in injected.items()))
    namespace.update(declared, In=cells, Out={}, get_ipython=print, _exit_code=1)
    namespace.update(injected or {})
    return namespace


def test_a_notebook_namespace_gives_its_declared_parameters_as_plain_variables(full_mode):
    namespace = notebook_namespace({"epochs": 10, "seeds": [0, 1, 2]}, {"epochs": 4})
    settings = check_parameters(namespace)
    assert (settings.epochs, settings.seeds) == (4, [0, 1, 2])
    assert set(vars(settings)) == {"epochs", "seeds", "quick", "changed"}
    assert (namespace["epochs"], namespace["seeds"]) == (4, [0, 1, 2])


def test_a_name_papermill_injected_that_the_notebook_lacks_is_refused(full_mode):
    namespace = notebook_namespace({"epochs": 10}, {"epoch": 4})
    with pytest.raises(ValueError, match=r"no parameter `epoch` \(did you mean `epochs`\?\)"):
        check_parameters(namespace)


def test_checking_again_after_later_cells_ran_gives_the_same_values(quick):
    namespace = notebook_namespace({"dataset": "horses_or_humans", "epochs": 10, "seeds": [0]})
    first = vars(check_parameters(namespace)).copy()
    namespace.update(config=object(), settings=first, yours=3.0, result=[1])  # later cells
    again = vars(check_parameters(namespace))
    assert again["epochs"] == first["epochs"] == 3 and again["dataset"] == "digits"
    assert namespace["epochs"] == 3


def test_quick_mode_replaces_only_what_is_still_at_its_default(quick, capsys):
    namespace = notebook_namespace({"dataset": "horses_or_humans", "epochs": 10, "image_size": 24})
    settings = check_parameters(namespace)
    assert (settings.dataset, settings.epochs, settings.image_size) == ("digits", 3, 24)
    assert set(settings.changed) == {"dataset", "epochs"}
    assert "epochs 10 -> 3" in capsys.readouterr().out


def test_quick_mode_keeps_what_papermill_passed_even_at_its_default(quick):
    # papermill -p epochs 10 on the notebook: its injected cell says so.
    namespace = notebook_namespace({"dataset": "horses_or_humans", "epochs": 10}, {"epochs": 10})
    settings = check_parameters(namespace)
    assert (settings.dataset, settings.epochs) == ("digits", 10)


def test_quick_mode_writes_into_temporary_folders_made_once_per_kernel(
    quick, tmp_path, monkeypatch
):
    import gc_tutorial.grids.parameters as grid_parameters

    monkeypatch.setattr(grid_parameters, "_quick_runs_dir", [])

    def run_cell():  # the parameters cell, then its check, as a (re-)run executes them
        namespace = notebook_namespace({"runs_dir": GRID_DEFAULTS["runs_dir"]})
        return Path(check_grid_parameters(namespace).runs_dir)

    folder = run_cell()
    assert folder.is_dir() and folder.is_relative_to(tempfile.gettempdir())
    assert not any(folder.iterdir())
    (folder / "grid.json").write_text("{}")
    assert run_cell() == folder  # a re-run finds what the first run wrote
    shutil.rmtree(folder)  # deleted by hand: the next run makes a new one
    assert run_cell().is_dir()
    passed = notebook_namespace({"runs_dir": "x"}, {"runs_dir": str(tmp_path / "mine")})
    assert check_grid_parameters(passed).runs_dir == str(tmp_path / "mine")
    grid = check_grid_parameters(
        notebook_namespace({k: GRID_DEFAULTS[k] for k in ("launch_grid", "grid_optimizers")})
    )
    assert grid.launch_grid is True and grid.grid_optimizers == ["rmsprop"]  # quick values
    unsaved = notebook_namespace({"output_dir": TUTORIAL_DEFAULTS["output_dir"]})
    assert check_parameters(unsaved).output_dir is None  # notebook 4 saves only when asked


def test_parameters_read_the_config_not_the_comparison():
    import ast

    import gc_tutorial.parameters as parameters

    tree = ast.parse(Path(parameters.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "gc_tutorial.comparison" not in imported


def test_the_lessons_check_loads_keras_and_the_grid_notebooks_check_does_not():
    # Notebooks 5 and 6 read runs and tables: their first cell need not wait for TensorFlow.
    code = (
        "import sys\n"
        "from gc_tutorial.grids.parameters import check_grid_parameters\n"
        "from gc_tutorial.parameters import check_parameters\n"
        "check_grid_parameters(passed=(), runs_dir='runs')\n"
        "print('keras loaded:', 'keras' in sys.modules)\n"
        "check_parameters(passed=(), epochs=1)\n"
        "print('keras loaded:', 'keras' in sys.modules)\n"
    )
    environment = {**os.environ, "GC_TUTORIAL_QUICK": "0"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment, timeout=300
    )
    loaded = [line for line in done.stdout.splitlines() if line.startswith("keras loaded:")]
    assert loaded == ["keras loaded: False", "keras loaded: True"], done.stderr
