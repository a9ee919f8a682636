"""Sources: tensorflow-datasets, scikit-learn's digits, synthetic data; checks before decoding."""

import time
import warnings

import numpy as np
import pytest
import tensorflow_datasets as tfds
from data_helpers import assert_batches, batches, same_batches, split_examples

from gc_tutorial import sources
from gc_tutorial.checks import DatasetUnavailableError
from gc_tutorial.data import load_dataset
from gc_tutorial.datasets import arrays


def user_warnings(function):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        function()
    return [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


@pytest.mark.parametrize(
    "source, max_examples, few",
    [
        ("synthetic", 1, "train split: ['discs', 'rings']; test split: ['discs', 'rings']"),
        ("synthetic", 3, "train split: ['rings']; test split: ['rings']"),
        ("digits", 15, "train split: ['0', '2', '5', '6', '7', '8']; test split: "),
    ],
)
def test_a_split_with_fewer_than_two_images_of_a_class_is_a_warning(source, max_examples, few):
    messages = user_warnings(
        lambda: load_dataset(source, image_size=8, augment=False, max_examples=max_examples)
    )
    assert len(messages) == 1
    assert f"{source!r} has fewer than 2 images of some classes ({few}" in messages[0]
    assert f"max_examples={max_examples})" in messages[0]


@pytest.mark.parametrize(
    "source, max_examples", [("synthetic", None), ("synthetic", 4), ("digits", None)]
)
def test_splits_of_two_images_per_class_or_more_load_without_a_warning(source, max_examples):
    assert not user_warnings(
        lambda: load_dataset(source, image_size=8, augment=False, max_examples=max_examples)
    )


@pytest.mark.parametrize("source, image_size", [("synthetic", 16), ("digits", 8)])
def test_no_image_is_in_both_splits(source, image_size):
    loaded = load_dataset(source, image_size=image_size, augment=False)
    train, test = (dict(split_examples(split)) for split in (loaded.train, loaded.test))
    assert len(train) == loaded.info.num_train and len(test) == loaded.info.num_test  # distinct
    assert not train.keys() & test.keys()
    assert set(train.values()) == set(test.values()) == set(range(loaded.info.num_classes))


# --- tensorflow-datasets ---------------------------------------------------------------


@pytest.mark.parametrize("image_size", [300, 32])
def test_tfds_source_under_mock_data(image_size):
    with tfds.testing.mock_data(num_examples=10):
        loaded = load_dataset(
            "horses_or_humans", image_size=image_size, batch_size=4, max_examples=8
        )
        assert_batches(loaded.train, image_size, max_batch=4)
        assert_batches(loaded.test, image_size, max_batch=4)
    info = loaded.info
    assert (info.kind, info.synthetic, info.name) == ("tfds", False, "horses_or_humans")
    assert info.class_names == ("horses", "humans") and info.num_classes == 2
    assert (info.num_train, info.num_test) == (8, 8)
    assert info.image_shape == (image_size, image_size, 3)
    assert "tensorflow-datasets horses_or_humans" in info.origin


@pytest.mark.parametrize(
    "available, expected",
    [
        ({"train", "test"}, ("train", "test")),
        ({"train", "validation"}, ("train", "validation")),
        ({"train"}, ("train[:80%]", "train[80%:]")),
    ],
)
def test_tfds_test_split_choice(available, expected):
    assert sources.tfds_splits(available) == expected


def test_tfds_without_test_split_reads_the_last_fifth_of_train(monkeypatch):
    requested = []
    monkeypatch.setattr(sources, "tfds_splits", lambda available: ("train[:80%]", "train[80%:]"))
    real_as_dataset = tfds.core.DatasetBuilder.as_dataset

    def recording_as_dataset(self, split=None, **kwargs):
        requested.append(split)
        return real_as_dataset(self, split=split, **kwargs)

    monkeypatch.setattr(tfds.core.DatasetBuilder, "as_dataset", recording_as_dataset)
    with tfds.testing.mock_data(num_examples=5):
        loaded = load_dataset("cats_vs_dogs", image_size=16, batch_size=4, augment=False)
        assert_batches(loaded.train, 16)
        assert_batches(loaded.test, 16)
        assert len(batches(loaded.test)) == 2  # the test split is read, not left empty
    assert requested[-2:] == ["train[:80%]", "train[80%:]"]
    assert loaded.info.class_names == ("cat", "dog")
    assert "splits train[:80%]/train[80%:]" in loaded.info.origin


def test_tfds_offline_and_unprepared_fails_fast_and_names_alternatives(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "network_reachable", lambda *args, **kwargs: False)
    start = time.monotonic()
    with pytest.raises(DatasetUnavailableError) as error:
        load_dataset("horses_or_humans", data_dir=tmp_path)
    assert time.monotonic() - start < 15
    message = str(error.value)
    assert isinstance(error.value, OSError)
    for words in ("not prepared", "unreachable", "data_dir=", "folder of images", "synthetic"):
        assert words in message


def test_network_reachable_answers_quickly():
    import socket

    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        assert sources.network_reachable("127.0.0.1", port, timeout_s=2.0) is True
    assert sources.network_reachable("127.0.0.1", port, timeout_s=2.0) is False  # closed now
    start = time.monotonic()
    assert sources.network_reachable("unreachable.invalid", 443, timeout_s=1.0) is False
    assert time.monotonic() - start < 5


def test_unknown_source_name_lists_the_kinds_of_source():
    with pytest.raises(ValueError, match="no_such_dataset_xyz") as error:
        load_dataset("no_such_dataset_xyz")
    for kind in ("tensorflow-datasets", "folder", "synthetic"):
        assert kind in str(error.value)


def test_a_tfds_version_that_does_not_exist_is_a_clear_error():
    with pytest.raises(ValueError, match="horses_or_humans:9.9.9"):
        load_dataset("horses_or_humans:9.9.9", image_size=8)


# --- Synthetic -------------------------------------------------------------------------


def test_synthetic_is_deterministic_and_says_so():
    def arrays(seed):
        loaded = load_dataset("synthetic", image_size=24, max_examples=16, seed=seed)
        return loaded, batches(loaded.train, epochs=2) + batches(loaded.test)

    loaded, first = arrays(0)
    assert same_batches(first, arrays(0)[1])
    assert not same_batches(first, arrays(1)[1])
    info = loaded.info
    assert info.synthetic and info.kind == "synthetic"
    assert info.class_names == ("discs", "rings")
    assert "SYNTHETIC" in info.origin and "SYNTHETIC" in info.describe()
    assert (info.num_train, info.num_test) == (16, 16)
    assert_batches(loaded.train, 24)


def test_synthetic_default_sizes():
    info = load_dataset("synthetic", image_size=8).info
    assert (info.num_train, info.num_test) == (512, 128)


# --- scikit-learn digits -----------------------------------------------------------------


def test_digits_are_real_rgb_images_in_ten_named_classes():
    loaded = load_dataset("digits", image_size=16, batch_size=256, augment=False)
    info = loaded.info
    assert (info.kind, info.name, info.synthetic) == ("digits", "digits", False)
    assert info.class_names == tuple("0123456789") and info.num_classes == 10
    assert "scikit-learn" in info.origin and "handwritten" in info.origin
    assert info.num_train + info.num_test == 1797
    assert info.num_test == pytest.approx(0.2 * 1797, abs=1)
    assert_batches(loaded.test, 16, num_classes=10)
    images = np.concatenate([x for x, _ in batches(loaded.test)])
    assert images.max() == pytest.approx(1.0) and images.min() == 0.0
    assert np.array_equal(images[..., 0], images[..., 2])  # grey scans as RGB


def test_digits_test_split_is_stratified_and_the_same_for_every_seed():
    tests = [
        batches(load_dataset("digits", image_size=8, batch_size=64, augment=False, seed=seed).test)
        for seed in (0, 1, 7)
    ]
    assert same_batches(tests[0], tests[1]) and same_batches(tests[0], tests[2])
    labels = np.concatenate([y for _, y in tests[0]])
    assert np.bincount(labels, minlength=10).min() >= 35  # every digit, ~36 each
    trains = [
        batches(load_dataset("digits", image_size=8, batch_size=64, augment=False, seed=seed).train)
        for seed in (0, 1)
    ]
    assert not same_batches(trains[0], trains[1])  # seeds shuffle the training set


def test_digits_8px_images_are_the_scikit_learn_pixels():
    from sklearn.datasets import load_digits

    images, labels = arrays.digits_images()
    _, test_index = arrays.digits_split()
    loaded = load_dataset("digits", image_size=8, batch_size=2000, augment=False)
    ((test_images, test_labels),) = batches(loaded.test)
    expected = load_digits().images[test_index] / 16.0
    assert np.array_equal(test_labels, labels[test_index])
    np.testing.assert_allclose(test_images[..., 1], expected, atol=0.5 / 255)


@pytest.mark.parametrize("split, size", [("train", 512), ("test", 128)])
def test_synthetic_splits_hold_their_own_stream_in_order_with_labels(split, size):
    loaded = load_dataset("synthetic", image_size=12, augment=False, shuffle=False, seed=3)
    images, labels = arrays.synthetic_images(size, 12, 3, split)
    ((loaded_images, loaded_labels),) = batches(getattr(loaded, split).rebatch(size))
    np.testing.assert_array_equal(np.round(loaded_images * 255).astype(np.uint8), images)
    np.testing.assert_array_equal(loaded_labels, labels)
    assert list(labels[:4]) == [0, 1, 0, 1]  # discs and rings in turn


def test_digits_train_split_is_the_scikit_learn_train_indices_with_their_labels():
    images, labels = arrays.digits_images()
    train_index, test_index = arrays.digits_split()
    assert not set(train_index) & set(test_index)
    assert len(train_index) + len(test_index) == len(labels)
    loaded = load_dataset("digits", image_size=8, batch_size=2000, augment=False, shuffle=False)
    ((train_images, train_labels),) = batches(loaded.train)
    np.testing.assert_array_equal(train_labels, labels[train_index])
    np.testing.assert_array_equal(
        np.round(train_images * 255).astype(np.uint8), images[train_index]
    )
