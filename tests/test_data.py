"""The data pipeline: decode, resize, shuffle, batch, augment; determinism and bad arguments."""

import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from data_helpers import batches, same_batches

from gc_tutorial.data import DatasetInfo, augment_images, augment_transforms, load_dataset

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


# --- Bad arguments -------------------------------------------------------------------------


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


def test_describe_names_the_dataset():
    info = DatasetInfo("x", "folder", "/data/x", ("a", "b"), 2, 3, 1, (8, 8, 3), False)
    text = info.describe()
    assert "a, b" in text and "/data/x" in text and "8x8x3" in text
    assert "SYNTHETIC" not in text


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


def test_digits_docstring_warns_about_flips():
    assert "6" in load_dataset.__doc__ and "9" in load_dataset.__doc__


def test_digits_are_never_augmented():
    with pytest.raises(ValueError, match=r"`augment` must be False for dataset 'digits'"):
        load_dataset("digits", image_size=8)


def test_augmenting_leaves_the_test_split_alone():
    plain, augmented = (
        load_dataset("synthetic", image_size=16, batch_size=8, max_examples=16, augment=flag)
        for flag in (False, True)
    )
    assert same_batches(batches(plain.test), batches(augmented.test))
    assert not same_batches(batches(plain.train), batches(augmented.train))
