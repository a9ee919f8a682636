"""The comparison's config: each field checked alone, and the checks between fields."""

import pytest

from gc_tutorial.config import ComparisonConfig, check_setting
from gc_tutorial.model import SMALLEST_IMAGE_SIZE


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
