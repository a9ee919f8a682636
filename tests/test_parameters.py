"""Notebook parameters: checks papermill does not make, unknown names, and quick mode."""

import pytest

from gc_tutorial.config import ComparisonConfig, config_defaults
from gc_tutorial.parameters import (
    NOTEBOOK_DEFAULTS,
    QUICK_OVERRIDES,
    TUTORIAL_DEFAULTS,
    quick_mode,
    resolve_parameters,
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
        ("grid_learning_rates", [0.1, "x"], "`grid_learning_rates`"),
        ("grid_optimizers", ["sgd", "x"], "`grid_optimizers\\[1\\]` must be a known optimizer"),
        ("seed", 2**32, "`seed` must be an int >= 0 and < 4294967296"),
    ],
)
def test_bad_values_get_a_clear_error(full_mode, name, value, message):
    with pytest.raises(ValueError, match=message):
        resolve_parameters(**{name: value})


def test_unknown_parameter_is_refused_with_the_closest_name(full_mode):
    with pytest.raises(ValueError, match="did you mean `epochs`"):
        resolve_parameters(epoch=3)


def test_a_passed_name_the_notebook_lacks_is_refused(full_mode):
    # papermill -p epoch 1 on a notebook whose parameter is `epochs`:
    with pytest.raises(ValueError, match="no parameter `epoch` \\(did you mean `epochs`\\?\\)"):
        resolve_parameters(epochs=10, passed={"epoch"})


def test_numpy_integers_are_accepted(full_mode):
    import numpy as np

    settings = resolve_parameters(seeds=[np.int64(3)], epochs=np.int32(2))
    assert settings.seeds == [3] and type(settings.seeds[0]) is int and settings.epochs == 2


def test_full_mode_keeps_the_values(full_mode, capsys):
    settings = resolve_parameters(dataset="horses_or_humans", epochs=10, learning_rate=1)
    assert (settings.dataset, settings.epochs, settings.learning_rate) == (
        "horses_or_humans",
        10,
        1.0,
    )
    assert settings.quick is False and settings.overridden == {}
    assert "Full tutorial run" in capsys.readouterr().out


def test_quick_mode_overrides_what_was_not_passed(quick, capsys):
    settings = resolve_parameters(
        dataset=TUTORIAL_DEFAULTS["dataset"],
        epochs=TUTORIAL_DEFAULTS["epochs"],
        image_size=24,
        passed={"epochs"},
    )
    assert settings.quick is True
    assert settings.dataset == QUICK_OVERRIDES["dataset"] == "digits"
    assert settings.image_size == QUICK_OVERRIDES["image_size"]  # not passed: overridden
    assert settings.epochs == 10  # passed (even at its default value): kept
    assert set(settings.overridden) == {"dataset", "image_size"}
    banner = capsys.readouterr().out
    assert "QUICK MODE" in banner and "'dataset': 'digits'" in banner


def test_quick_mode_is_digits_without_augmentation():
    assert QUICK_OVERRIDES["dataset"] == "digits" and QUICK_OVERRIDES["augment"] is False


def test_defaults_come_from_the_config_once(full_mode):
    assert {k: TUTORIAL_DEFAULTS[k] for k in config_defaults()} == config_defaults()
    assert set(TUTORIAL_DEFAULTS) == set(config_defaults()) | set(NOTEBOOK_DEFAULTS)
    config = resolve_parameters(epochs=3, seeds=[4]).config()
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
    settings = resolve_parameters(passed=(), **values)  # each value is fine alone
    with pytest.raises(ValueError, match=word):
        settings.config()


def test_digits_without_augmentation_resolve(full_mode):
    settings = resolve_parameters(passed=(), dataset="digits", augment=False)
    assert settings.config().dataset == "digits"


def notebook_namespace(declared: dict, injected: dict | None = None) -> dict:
    """What a notebook's globals() hold after its parameters cell (and papermill's)."""
    namespace = {"__annotations__": {name: type(value) for name, value in declared.items()}}
    namespace.update(declared, In=[], Out={}, get_ipython=print, _exit_code=1)
    namespace.update(injected or {})
    return namespace


def test_a_notebook_namespace_gives_its_declared_parameters(full_mode):
    namespace = notebook_namespace({"epochs": 10, "seeds": [0, 1, 2]}, {"epochs": 4})
    settings = resolve_parameters(namespace)
    assert (settings.epochs, settings.seeds) == (4, [0, 1, 2])
    assert set(vars(settings)) == {"epochs", "seeds", "quick", "overridden"}


def test_a_name_papermill_injected_that_the_notebook_lacks_is_refused(full_mode):
    namespace = notebook_namespace({"epochs": 10}, {"epoch": 4})
    with pytest.raises(ValueError, match=r"no parameter `epoch` \(did you mean `epochs`\?\)"):
        resolve_parameters(namespace)


def test_quick_mode_replaces_only_what_is_still_at_its_default(quick):
    namespace = notebook_namespace({"dataset": "horses_or_humans", "epochs": 10, "image_size": 300})
    namespace["image_size"] = 24  # papermill -p image_size 24
    settings = resolve_parameters(namespace)
    assert (settings.dataset, settings.epochs, settings.image_size) == ("digits", 3, 24)
    assert set(settings.overridden) == {"dataset", "epochs"}


def test_parameters_read_the_config_not_the_comparison():
    import ast
    from pathlib import Path

    import gc_tutorial.parameters as parameters

    tree = ast.parse(Path(parameters.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "gc_tutorial.comparison" not in imported
