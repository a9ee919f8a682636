"""The comparison's config: each field checked alone, and the checks between fields."""

from pathlib import Path

import pytest

from gc_tutorial.checks import SMALLEST_IMAGE_SIZE
from gc_tutorial.config import ComparisonConfig, check_setting
from gc_tutorial.files.saving import check_output_dir


def test_an_image_too_small_for_the_model_is_refused_when_the_config_is_made():
    with pytest.raises(ValueError, match=r"`image_size` must be an int >= 11\. Received: image"):
        ComparisonConfig(image_size=SMALLEST_IMAGE_SIZE - 1)
    assert ComparisonConfig(image_size=SMALLEST_IMAGE_SIZE).image_size == SMALLEST_IMAGE_SIZE


def test_digits_are_never_flipped_or_rotated():
    with pytest.raises(ValueError, match=r"`augment` must be False for dataset 'digits'"):
        ComparisonConfig(dataset="digits")
    assert ComparisonConfig(dataset="digits", augment=False).augment is False
    assert ComparisonConfig(dataset="synthetic").augment is True


def test_a_setting_is_checked_alone_without_the_checks_between_settings():
    assert check_setting("dataset", "digits") == "digits"
    assert check_setting("momentum", 0.9) == 0.9
    assert check_setting("optimizer", "Adam") == "adam"
    with pytest.raises(ValueError, match=r"`epochs` must be an int >= 1"):
        check_setting("epochs", 0)


ONE_CHANGE_PER_FIELD = {
    "dataset": "synthetic",
    "data_dir": "/tmp/tfds",
    "image_size": 64,
    "batch_size": 32,
    "epochs": 3,
    "optimizer": "adam",
    "learning_rate": 1e-3,
    "momentum": 0.5,
    "seeds": (0, 1),
    "conv_only": True,
    "centralize": "update",
    "augment": False,
    "max_examples": 100,
    "steps_per_execution": 1,
    "jit_compile": False,
    "precision": "mixed_bfloat16",
}


def test_every_field_has_a_change_below():
    assert set(ONE_CHANGE_PER_FIELD) == set(ComparisonConfig.__dataclass_fields__)


@pytest.mark.parametrize("name, value", ONE_CHANGE_PER_FIELD.items())
def test_changing_any_one_field_changes_the_identity(name, value):
    default = ComparisonConfig()
    changed = default.replace(**{name: value})
    assert changed.identity() != default.identity()
    assert ComparisonConfig.from_config(changed.get_config()).identity() == changed.identity()


def test_momentum_is_an_optimizer_option():
    assert ComparisonConfig(optimizer="sgd", momentum=0.9).optimizer_options() == {"momentum": 0.9}
    assert ComparisonConfig(optimizer="sgd").optimizer_options() == {}


def test_an_unknown_optimizer_is_named_as_the_setting():
    message = r"`optimizer` must be a Keras optimizer's name.*Received: optimizer='x'"
    with pytest.raises(ValueError, match=message):
        ComparisonConfig(optimizer="x")


def test_home_is_expanded_in_data_paths_and_the_output_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    config = ComparisonConfig(dataset="~/images", data_dir="~/tfds")
    assert (config.dataset, config.data_dir) == (str(tmp_path / "images"), str(tmp_path / "tfds"))
    assert (
        config.identity()
        == ComparisonConfig(
            dataset=str(tmp_path / "images"), data_dir=str(tmp_path / "tfds")
        ).identity()
    )
    assert check_output_dir("~/results", "digits") == tmp_path / "results"


@pytest.mark.parametrize(
    "output, dataset", [("data/results", "data"), (".", "data"), ("a", "a/data")]
)
def test_an_output_dir_inside_or_around_a_folder_dataset_is_refused(
    monkeypatch, tmp_path, output, dataset
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / dataset / "cats").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"`output_dir` must be neither inside the dataset"):
        check_output_dir(output, dataset)
    assert check_output_dir("elsewhere", dataset) == Path("elsewhere")
    assert check_output_dir("data/results", "digits") == Path("data/results")
