"""The data pipeline: every kind of source, determinism, learnability, and bad input."""

import io
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image, ImageOps

from gc_tutorial import data
from gc_tutorial.data import (
    DatasetInfo,
    DatasetUnavailableError,
    augment_images,
    augment_transforms,
    load_dataset,
)


def batches(dataset, epochs=1):
    """All `(images, labels)` of `epochs` passes over `dataset`, as numpy arrays."""
    return [(x.numpy(), y.numpy()) for _ in range(epochs) for x, y in dataset]


def assert_batches(dataset, image_size, num_classes=2, max_batch=None):
    for images, labels in batches(dataset):
        assert images.dtype == np.float32 and labels.dtype == np.int32
        assert images.shape[1:] == (image_size, image_size, 3)
        assert images.shape[0] == labels.shape[0] and labels.ndim == 1
        assert max_batch is None or images.shape[0] <= max_batch
        assert 0.0 <= images.min() and images.max() <= 1.0
        assert set(labels) <= set(range(num_classes))


def same_batches(first, second):
    return len(first) == len(second) and all(
        np.array_equal(x1, x2) and np.array_equal(y1, y2)
        for (x1, y1), (x2, y2) in zip(first, second)
    )


def write_images(folder: Path, counts: dict[str, int], size=(20, 24), seed=0):
    """Write `counts[class]` PNGs of random pixels into `folder/<class>/`."""
    rng = np.random.default_rng(seed)
    for name, count in counts.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        for index in range(count):
            pixels = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
            png = tf.io.encode_png(pixels).numpy()
            (folder / name / f"{index:03d}.png").write_bytes(png)


EXIF_ORIENTATION = 0x0112


def quadrants(size=16):
    """A square image of four colours, one per quadrant: every flip and turn of it differs."""
    image = np.zeros((size, size, 3), np.uint8)
    half = size // 2
    image[:half, :half], image[:half, half:] = (255, 0, 0), (0, 255, 0)
    image[half:, :half], image[half:, half:] = (0, 0, 255), (255, 255, 0)
    return image


def save_with_orientation(target, pixels, orientation, format, **save_options):
    """Save `pixels` to `target` (a path or a file) in `format`, with an EXIF orientation tag."""
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = orientation
    Image.fromarray(pixels).save(target, format, exif=exif, **save_options)


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
    assert data.tfds_splits(available) == expected


def test_tfds_without_test_split_reads_the_last_fifth_of_train(monkeypatch):
    requested = []
    monkeypatch.setattr(data, "tfds_splits", lambda available: ("train[:80%]", "train[80%:]"))
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
    monkeypatch.setattr(data, "network_reachable", lambda *args, **kwargs: False)
    start = time.monotonic()
    with pytest.raises(DatasetUnavailableError) as error:
        load_dataset("horses_or_humans", data_dir=tmp_path)
    assert time.monotonic() - start < 15
    message = str(error.value)
    assert isinstance(error.value, RuntimeError)
    for words in ("not prepared", "unreachable", "data_dir=", "folder of images", "synthetic"):
        assert words in message


def test_network_reachable_answers_quickly():
    import socket

    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        assert data.network_reachable("127.0.0.1", port, timeout_s=2.0) is True
    assert data.network_reachable("127.0.0.1", port, timeout_s=2.0) is False  # closed now
    start = time.monotonic()
    assert data.network_reachable("unreachable.invalid", 443, timeout_s=1.0) is False
    assert time.monotonic() - start < 5


def test_unknown_source_name_lists_the_kinds_of_source():
    with pytest.raises(ValueError, match="no_such_dataset_xyz") as error:
        load_dataset("no_such_dataset_xyz")
    for kind in ("tensorflow-datasets", "folder", "synthetic"):
        assert kind in str(error.value)


# --- Image folders ---------------------------------------------------------------------


def test_folder_of_class_folders_splits_by_seed(tmp_path):
    write_images(tmp_path, {"horses": 10, "humans": 15})
    loaded = load_dataset(tmp_path, image_size=16, batch_size=8, augment=False)
    info = loaded.info
    assert (info.kind, info.synthetic, info.class_names) == ("folder", False, ("horses", "humans"))
    assert (info.num_train, info.num_test) == (20, 5)  # 20% of each class is test
    assert str(tmp_path) in info.origin
    assert_batches(loaded.train, 16, max_batch=8)
    test_labels = np.concatenate([labels for _, labels in batches(loaded.test)])
    assert sorted(test_labels) == [0, 0, 1, 1, 1]

    def test_images(seed):
        return batches(load_dataset(str(tmp_path), image_size=16, seed=seed).test)

    assert same_batches(test_images(0), test_images(0))
    assert not same_batches(test_images(0), test_images(1))


def test_folder_with_train_and_test_folders(tmp_path):
    write_images(tmp_path / "train", {"cats": 4, "dogs": 3})
    write_images(tmp_path / "test", {"cats": 2, "dogs": 1}, size=(16, 16))
    loaded = load_dataset(tmp_path, image_size=8, batch_size=2, max_examples=5)
    assert loaded.info.class_names == ("cats", "dogs")
    assert (loaded.info.num_train, loaded.info.num_test) == (5, 3)
    assert_batches(loaded.train, 8, max_batch=2)
    assert_batches(loaded.test, 8, max_batch=2)


def test_folder_keeps_image_values(tmp_path):
    for split in ("train", "test"):
        write_images(tmp_path / split, {"a": 1, "b": 1}, size=(8, 8))
    loaded = load_dataset(tmp_path, image_size=8, batch_size=4, augment=False, shuffle=False)
    ((images, labels),) = batches(loaded.train)
    png = tmp_path / "train" / ("a", "b")[labels[0]] / "000.png"
    expected = tf.io.decode_png(png.read_bytes())
    np.testing.assert_allclose(images[0], expected.numpy() / 255.0, atol=1e-6)


def test_exif_orientation_is_applied(tmp_path):
    for split in ("train", "test"):
        write_images(tmp_path / split, {"b": 1}, size=(16, 16))
        (tmp_path / split / "a").mkdir()
        photo = tmp_path / split / "a" / "photo.jpg"
        save_with_orientation(photo, quadrants(), 6, "JPEG", quality=95, subsampling=0)
    loaded = load_dataset(tmp_path, image_size=16, batch_size=4, augment=False, shuffle=False)
    ((images, labels),) = batches(loaded.test)
    loaded_photo = images[list(labels).index(0)]
    with Image.open(tmp_path / "test" / "a" / "photo.jpg") as photo:
        assert photo.getexif()[EXIF_ORIENTATION] == 6
        as_stored = np.asarray(photo) / 255.0
        upright = np.asarray(ImageOps.exif_transpose(photo)) / 255.0
    np.testing.assert_allclose(upright, np.rot90(quadrants(), k=-1) / 255.0, atol=0.1)  # 6: turn
    np.testing.assert_allclose(loaded_photo, upright, atol=3 / 255)  # a quarter clockwise
    assert np.abs(loaded_photo - as_stored).max() > 0.5


@pytest.mark.parametrize("orientation", range(1, 9))
def test_each_exif_orientation_turns_the_image_as_pillow_does(orientation):
    pixels = np.random.default_rng(orientation).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    png = io.BytesIO()
    save_with_orientation(png, pixels, orientation, "PNG")
    expected = np.asarray(ImageOps.exif_transpose(Image.open(png)))
    turned = data._apply_exif_orientation(tf.constant(pixels), tf.constant(orientation))
    np.testing.assert_array_equal(turned.numpy(), expected)


def test_every_format_tensorflow_decodes_is_loaded(tmp_path):
    formats = {"1.png": "PNG", "2.jpg": "JPEG", "3.JPEG": "JPEG", "4.bmp": "BMP", "5.gif": "GIF"}
    if hasattr(tf.io, "decode_webp"):  # a TensorFlow that decodes WebP
        formats["6.webp"] = "WEBP"
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for file_name, format in formats.items():
            pixels = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / name / file_name, format)
    loaded = load_dataset(tmp_path, image_size=8)
    assert loaded.info.num_train + loaded.info.num_test == 2 * len(formats)


@pytest.mark.skipif(not hasattr(tf.io, "decode_webp"), reason="this TensorFlow reads no WebP")
def test_a_transparent_webp_is_named_with_what_tensorflow_reads(tmp_path):
    write_images(tmp_path, {"a": 2, "b": 2})
    pixels = np.zeros((8, 8, 4), np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a" / "clear.webp", "WEBP", lossless=True)
    with pytest.raises(ValueError, match="clear.webp.*transparent WebP"):
        load_dataset(tmp_path, image_size=8)


def test_files_tensorflow_cannot_decode_are_skipped_with_counts_per_extension(tmp_path):
    write_images(tmp_path, {"a": 3, "b": 3})
    pixels = np.zeros((8, 8, 3), np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a" / "scan1.tiff", "TIFF")
    Image.fromarray(pixels).save(tmp_path / "a" / "scan2.TIFF", "TIFF")
    (tmp_path / "b" / "notes.txt").write_text("not an image")
    with pytest.raises(tf.errors.InvalidArgumentError):  # why .tiff is skipped
        tf.io.decode_image((tmp_path / "a" / "scan1.tiff").read_bytes())
    with pytest.warns(UserWarning, match=r"Skipped 3 file\(s\).*\.tiff: 2, \.txt: 1"):
        loaded = load_dataset(tmp_path, image_size=8)
    assert loaded.info.num_train + loaded.info.num_test == 6


@pytest.mark.parametrize("test_name", ["validation", "val", "Valid"])
def test_a_validation_folder_is_the_test_split(tmp_path, test_name):
    write_images(tmp_path / "train", {"cats": 4, "dogs": 3})
    write_images(tmp_path / test_name, {"cats": 2, "dogs": 1})
    loaded = load_dataset(tmp_path, image_size=8, augment=False)
    assert loaded.info.class_names == ("cats", "dogs")
    assert (loaded.info.num_train, loaded.info.num_test) == (7, 3)


@pytest.mark.parametrize("splits", [("train",), ("validation",), ("test", "validation")])
def test_split_folders_without_both_splits_are_refused_not_read_as_classes(tmp_path, splits):
    for split in splits:
        write_images(tmp_path / split, {"cats": 2, "dogs": 2})
    with pytest.raises(ValueError, match="not both splits"):
        load_dataset(tmp_path, image_size=8)


def test_images_under_a_linked_subfolder_load_into_their_class(tmp_path):
    write_images(tmp_path / "data", {"a": 2, "b": 2})
    write_images(tmp_path / "elsewhere", {"more": 2})
    (tmp_path / "data" / "a" / "linked").symlink_to(tmp_path / "elsewhere" / "more")
    (tmp_path / "data" / "a" / "loop").symlink_to(tmp_path / "data" / "a")  # read once
    loaded = load_dataset(tmp_path / "data", image_size=8, augment=False)
    labels = np.concatenate([y for split in loaded[:2] for _, y in batches(split)])
    assert sorted(labels) == [0] * 4 + [1] * 2


def test_a_folder_given_as_dot_is_named_after_itself(tmp_path, monkeypatch):
    write_images(tmp_path / "pets", {"a": 2, "b": 2})
    monkeypatch.chdir(tmp_path / "pets")
    assert load_dataset(".", image_size=8, augment=False).info.name == "pets"


def test_images_in_nested_subfolders_load_into_their_class(tmp_path):
    write_images(tmp_path, {"a": 2, "b": 2})
    write_images(tmp_path / "a", {"more": 2, "more/deeper": 1, ".ipynb_checkpoints": 1})
    loaded = load_dataset(tmp_path, image_size=8, augment=False)
    assert loaded.info.class_names == ("a", "b")
    labels = np.concatenate([y for split in loaded[:2] for _, y in batches(split)])
    assert sorted(labels) == [0] * 5 + [1] * 2


def test_macos_zip_leftovers_and_hidden_files_are_ignored(tmp_path):
    write_images(tmp_path, {"a": 3, "b": 3})
    write_images(tmp_path / "__MACOSX", {"a": 3, "b": 3})
    for name in ("a", "b"):
        (tmp_path / name / "._000.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
        (tmp_path / name / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (tmp_path / ".hidden_class").mkdir()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = load_dataset(tmp_path, image_size=8)
    assert loaded.info.class_names == ("a", "b")
    assert loaded.info.num_train + loaded.info.num_test == 6
    assert not [w for w in caught if str(tmp_path) in str(w.message)]


def test_a_class_left_without_test_images_is_named_in_a_warning(tmp_path):
    write_images(tmp_path / "split", {"many": 6, "single": 1})
    with pytest.warns(UserWarning, match="'single'"):
        loaded = load_dataset(tmp_path / "split", image_size=8)
    assert loaded.info.num_test == 1
    write_images(tmp_path / "folders" / "train", {"a": 2, "b": 2})
    write_images(tmp_path / "folders" / "test", {"a": 1})
    with pytest.warns(UserWarning, match="'b'"):
        load_dataset(tmp_path / "folders", image_size=8)


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


def test_synthetic_is_learnable_with_augmentation():
    keras.utils.set_random_seed(0)
    loaded = load_dataset("synthetic", image_size=32, batch_size=32, augment=True)
    model = keras.Sequential(
        [
            keras.layers.Input((32, 32, 3)),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.GlobalMaxPooling2D(),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(keras.optimizers.Adam(3e-3), "binary_crossentropy", metrics=["accuracy"])
    model.fit(loaded.train, epochs=15, shuffle=False, verbose=0)
    _, test_accuracy = model.evaluate(loaded.test, verbose=0)
    assert test_accuracy >= 0.75


def test_describe_names_the_dataset():
    info = DatasetInfo("x", "folder", "/data/x", ("a", "b"), 2, 3, 1, (8, 8, 3), False)
    text = info.describe()
    assert "a, b" in text and "/data/x" in text and "8x8x3" in text
    assert "SYNTHETIC" not in text


# --- Determinism -----------------------------------------------------------------------


def test_same_seed_same_batches_for_two_epochs():
    def train_batches(seed):
        loaded = load_dataset("synthetic", image_size=16, batch_size=8, max_examples=32, seed=seed)
        return batches(loaded.train, epochs=2)

    first = train_batches(0)
    assert same_batches(first, train_batches(0))
    assert not same_batches(first[:4], first[4:])  # each epoch reshuffles and re-augments
    other = train_batches(1)
    assert not np.array_equal(
        np.concatenate([y for _, y in first]), np.concatenate([y for _, y in other])
    )


def test_same_batches_with_op_determinism_enabled():
    script = (
        "import numpy as np, tensorflow as tf\n"
        "tf.config.experimental.enable_op_determinism()\n"
        "from gc_tutorial.data import load_dataset\n"
        "def run():\n"
        "    ds = load_dataset('synthetic', image_size=16, batch_size=8, max_examples=24).train\n"
        "    return [b for _ in range(2) for b in ds.as_numpy_iterator()]\n"
        "a, b = run(), run()\n"
        "assert all((x1 == x2).all() and (y1 == y2).all() for (x1, y1), (x2, y2) in zip(a, b))\n"
        "print('same')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1]), "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "same" in result.stdout


# --- Bad input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argument, value",
    [
        ("image_size", 0),
        ("image_size", 32.0),
        ("image_size", True),
        ("batch_size", -1),
        ("batch_size", "8"),
        ("batch_size", False),
        ("max_examples", 0),
        ("max_examples", 2.5),
        ("augment", 1),
        ("shuffle", "yes"),
        ("seed", -1),
    ],
)
def test_bad_arguments(argument, value):
    with pytest.raises(ValueError, match=f"`{argument}`") as error:
        load_dataset("synthetic", **{argument: value})
    assert repr(value) in str(error.value)


def test_missing_folder(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_dataset(missing)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_dataset(str(missing))


def test_folder_with_one_class(tmp_path):
    write_images(tmp_path, {"only": 3})
    with pytest.raises(ValueError, match="only"):
        load_dataset(tmp_path)


def test_class_folder_without_images(tmp_path):
    write_images(tmp_path, {"horses": 3})
    (tmp_path / "humans").mkdir()
    (tmp_path / "humans" / "notes.txt").write_text("no images here")
    with pytest.raises(ValueError, match="humans"):
        load_dataset(tmp_path)


@pytest.mark.parametrize("content", [b"", b"not a png at all", b"\x89PNG\r\n\x1a\n truncated"])
def test_corrupt_image_is_named(tmp_path, content):
    write_images(tmp_path, {"horses": 3, "humans": 3})
    (tmp_path / "humans" / "broken.png").write_bytes(content)
    with pytest.raises(ValueError, match="broken.png"):
        load_dataset(tmp_path)


def test_test_class_that_train_lacks_is_named(tmp_path):
    write_images(tmp_path / "train", {"a": 2, "b": 2})
    write_images(tmp_path / "test", {"a": 1, "x": 1})
    with pytest.raises(ValueError, match="'x'") as error:
        load_dataset(tmp_path)
    assert str(tmp_path / "test") in str(error.value)


def test_image_size_whose_cache_exceeds_memory_is_refused_before_decoding(tmp_path, monkeypatch):
    png = tf.io.encode_png(np.zeros((4, 4, 3), np.uint8)).numpy()
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for index in range(500):
            (tmp_path / name / f"{index:03d}.png").write_bytes(png)

    def no_decoding(paths):
        raise AssertionError("the images were decoded before the size was checked")

    monkeypatch.setattr(data, "_check_images_decode", no_decoding)
    monkeypatch.setattr(data, "available_memory_bytes", lambda: 16 * 2**30, raising=False)
    start = time.monotonic()
    with pytest.raises(ValueError, match="`image_size`") as error:
        load_dataset(tmp_path, image_size=10_000)
    assert time.monotonic() - start < 10
    for part in ("1000 images", "10000x10000x3", "279.4 GiB", "16.0 GiB", "image_size=10000"):
        assert part in str(error.value)


def test_available_memory_is_known_on_linux():
    available = data.available_memory_bytes()
    assert isinstance(available, int) and 0 < available < 2**50


@pytest.mark.parametrize("source", [42, "", None])
def test_bad_source_type(source):
    with pytest.raises(ValueError, match="synthetic"):
        load_dataset(source)


def test_augmentation_without_rotation_or_zoom_is_a_flip_of_each_image():
    rng = np.random.default_rng(0)
    images = tf.constant(rng.random((16, 9, 7, 3)), tf.float32)
    augmented = augment_images(images, seed=3, rotation_factor=0.0, zoom_factor=0.0).numpy()
    flips_seen = set()
    for image, result in zip(images.numpy(), augmented):
        candidates = {
            "none": image,
            "horizontal": image[:, ::-1],
            "vertical": image[::-1, :],
            "both": image[::-1, ::-1],
        }
        matches = [name for name, c in candidates.items() if np.allclose(result, c, atol=1e-5)]
        assert len(matches) == 1, "an augmented image must be exactly one of the four flips"
        flips_seen.add(matches[0])
    assert len(flips_seen) >= 3  # flips on both axes, independently


def test_the_pipelines_run_without_tf_data_autotuning():
    # The autotuner slowed half the epochs on 2 cores (README, "Epochs at the step bound").
    loaded = load_dataset("synthetic", image_size=8, batch_size=4, max_examples=8)
    assert loaded.train.options().autotune.enabled is False
    assert loaded.test.options().autotune.enabled is False


def reference_transform(images, transforms):
    """TensorFlow's own resampler, which Keras's RandomRotation and RandomZoom use."""
    flat = tf.concat([tf.reshape(transforms, [-1, 6]), tf.zeros([len(images), 2])], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=flat,
        output_shape=tf.shape(images)[1:3],
        fill_value=0.0,
        fill_mode="REFLECT",
        interpolation="BILINEAR",
    ).numpy()


def test_augmentation_resamples_as_tensorflow_does_in_float32():
    images = tf.constant(np.random.default_rng(1).random((6, 20, 13, 3)), tf.float32)
    transforms = augment_transforms(6, 20, 13, seed=7)
    augmented = augment_images(images, seed=7).numpy()
    assert augmented.dtype == np.float32 and augmented.shape == images.shape
    np.testing.assert_allclose(augmented, reference_transform(images, transforms), atol=1e-4)


@pytest.mark.parametrize("channels", [1, 3])
def test_augmentation_of_uint8_images_is_tensorflows_resampling_rounded(channels):
    shape = (6, 20, 13, channels)
    images = tf.constant(np.random.default_rng(2).integers(0, 256, shape), tf.uint8)
    augmented = augment_images(images, seed=9).numpy()
    assert augmented.dtype == np.uint8 and augmented.shape == shape
    expected = reference_transform(tf.cast(images, tf.float32), augment_transforms(6, 20, 13, 9))
    assert np.abs(augmented - expected).max() <= 1.0  # rounded to the nearest level


def test_augmentation_is_a_pure_function_of_images_and_seed():
    images = tf.constant(np.random.default_rng(3).integers(0, 256, (4, 16, 16, 3)), tf.uint8)
    first, again, other = (augment_images(images, seed).numpy() for seed in (5, 5, 6))
    assert np.array_equal(first, again) and not np.array_equal(first, other)


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

    images, labels = data.digits_images()
    _, test_index = data.digits_split()
    loaded = load_dataset("digits", image_size=8, batch_size=2000, augment=False)
    ((test_images, test_labels),) = batches(loaded.test)
    expected = load_digits().images[test_index] / 16.0
    assert np.array_equal(test_labels, labels[test_index])
    np.testing.assert_allclose(test_images[..., 1], expected, atol=0.5 / 255)


def test_digits_docstring_warns_about_flips():
    assert "6" in load_dataset.__doc__ and "9" in load_dataset.__doc__


def test_digits_are_never_augmented():
    with pytest.raises(ValueError, match=r"`augment` must be False for source 'digits'"):
        load_dataset("digits", image_size=8)


def test_augmenting_leaves_the_test_split_alone():
    plain, augmented = (
        load_dataset("synthetic", image_size=16, batch_size=8, max_examples=16, augment=flag)
        for flag in (False, True)
    )
    assert same_batches(batches(plain.test), batches(augmented.test))
    assert not same_batches(batches(plain.train), batches(augmented.train))


def test_a_tfds_version_that_does_not_exist_is_a_clear_error():
    with pytest.raises(ValueError, match="horses_or_humans:9.9.9"):
        load_dataset("horses_or_humans:9.9.9", image_size=8)
