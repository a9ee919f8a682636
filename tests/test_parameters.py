"""Notebook parameters: type checks papermill does not make, and quick mode."""

import pytest

from gc_tutorial.parameters import QUICK_VALUES, TUTORIAL_DEFAULTS, quick_mode, resolve_parameters


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
            "`epochs` must be an int >= 1; got 1.5 \\(float\\). With papermill: -p epochs",
        ),
        ("epochs", 0, "`epochs` must be an int >= 1"),
        ("image_size", "300", "`image_size` must be an int >= 1"),
        ("batch_size", True, "`batch_size`"),
        ("learning_rate", -0.1, "`learning_rate` must be a number >= 0"),
        ("seeds", "[0, 1]", "`seeds` must be a non-empty list of distinct ints"),
        ("seeds", [0, 0], "distinct"),
        ("seeds", [0, -1], "`seeds` must be an int >= 0"),
        ("augment", "False", "`augment` must be True or False"),
        ("optimizer", "adagrad", "known optimizers"),
        ("max_examples", 0, "`max_examples`"),
        ("dataset", "", "`dataset` must be a non-empty string"),
        ("grid_learning_rates", [0.1, "x"], "`grid_learning_rates`"),
    ],
)
def test_bad_values_get_a_clear_error(full_mode, name, value, message):
    with pytest.raises(ValueError, match=message):
        resolve_parameters(**{name: value})


def test_unknown_parameter_is_refused(full_mode):
    with pytest.raises(ValueError, match="Unknown parameter"):
        resolve_parameters(epoch=3)


def test_full_mode_keeps_the_values(full_mode, capsys):
    settings = resolve_parameters(dataset="horses_or_humans", epochs=10, learning_rate=1)
    assert (settings.dataset, settings.epochs, settings.learning_rate) == (
        "horses_or_humans",
        10,
        1.0,
    )
    assert settings.quick is False
    assert "Full tutorial run" in capsys.readouterr().out


def test_quick_mode_replaces_only_values_left_at_their_default(quick, capsys):
    settings = resolve_parameters(
        dataset=TUTORIAL_DEFAULTS["dataset"], epochs=TUTORIAL_DEFAULTS["epochs"], image_size=24
    )
    assert settings.quick is True
    assert settings.dataset == QUICK_VALUES["dataset"] == "synthetic"
    assert settings.epochs == QUICK_VALUES["epochs"]
    assert settings.image_size == 24  # given explicitly: kept
    assert "QUICK MODE" in capsys.readouterr().out


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
