"""The tutorial's data: Horses or Humans (or any image-classification source) as `tf.data`.

`load_dataset` reads a source (`gc_tutorial.sources`: tensorflow-datasets; `gc_tutorial.datasets`:
folders, digits, synthetic) and returns batched train and test datasets from one pipeline
(`build_pipeline`), with a `DatasetInfo` that says where the images came from.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from gc_tutorial._quiet_tensorflow import load_tensorflow_quietly
from gc_tutorial.checks import (
    DIGITS,
    SEED_LIMIT,
    SYNTHETIC,
    check_bool,
    check_digits_not_augmented,
    check_int,
    check_optional_int,
)
from gc_tutorial.sources import (
    Examples,
    SourceKind,
    check_cache_fits_in_memory,
    dataset_folder,
    decode_image,
    tfds_examples,
)

load_tensorflow_quietly()  # before TensorFlow's first import: no start-up logs in notebooks
import tensorflow as tf  # noqa: E402


@dataclass(frozen=True)
class DatasetInfo:
    """What `load_dataset` loaded: where from, which classes, how many images of what shape."""

    name: str
    kind: SourceKind
    origin: str
    class_names: tuple[str, ...]
    num_classes: int
    num_train: int
    num_test: int
    image_shape: tuple[int, int, int]
    synthetic: bool

    def describe(self) -> str:
        """A few lines for a notebook to print."""
        height, width, channels = self.image_shape
        lines = [
            f"Dataset: {self.name} ({self.kind})",
            f"Origin: {self.origin}",
            f"Classes ({self.num_classes}): {', '.join(self.class_names)}",
            f"Images: {self.num_train} train, {self.num_test} test, "
            f"each {height}x{width}x{channels}",
        ]
        if self.synthetic:
            banner = "!!! SYNTHETIC DATA: generated offline, not real photographs !!!"
            lines = [banner, *lines, banner]
        return "\n".join(lines)


class LoadedDataset(NamedTuple):
    """Batched `(images, labels)` datasets, images float32 in [0, 1], labels int32."""

    train: tf.data.Dataset
    test: tf.data.Dataset
    info: DatasetInfo


def load_dataset(
    dataset: str | os.PathLike = "horses_or_humans",
    *,
    image_size: int = 300,
    batch_size: int = 128,
    augment: bool = True,
    shuffle: bool = True,
    seed: int = 0,
    max_examples: int | None = None,
    data_dir: str | os.PathLike | None = None,
) -> LoadedDataset:
    """Load an image-classification dataset as batched train and test `tf.data.Dataset` objects.

    Args:
        dataset: a tensorflow-datasets name (default "horses_or_humans"); a folder of class
            subfolders (`<dir>/<class>/*.png`, or `<dir>/train/<class>/` and
            `<dir>/test/<class>/`); "digits", scikit-learn's 1,797 real handwritten digits
            (offline, one stratified 80/20 split for every seed); or "synthetic", generated
            discs vs rings. The site's data page gives every rule.
        image_size: images are resized to `image_size` x `image_size` x 3.
        batch_size: examples per batch.
        augment: randomly flip, rotate and zoom the training images. Never for "digits": a
            flip or a rotation changes a digit's class (a 6 becomes a 9).
        shuffle: shuffle the training examples, differently each epoch.
        seed: under the same TensorFlow global seed (`keras.utils.set_random_seed`), the same
            seed gives the same split, batches and augmentation.
        max_examples: keep at most this many examples of each split.
        data_dir: tensorflow-datasets data directory (where prepared datasets live).

    A cache that would not fit in memory is refused before any image is decoded.
    """
    image_size = check_int("image_size", image_size)
    batch_size = check_int("batch_size", batch_size)
    check_bool("augment", augment)
    check_bool("shuffle", shuffle)
    seed = check_int("seed", seed, 0, SEED_LIMIT)
    max_examples = check_optional_int("max_examples", max_examples)
    check_digits_not_augmented(augment, dataset)
    examples = load_examples(dataset, image_size, seed, max_examples, data_dir)
    check_cache_fits_in_memory(examples.num_train + examples.num_test, image_size)
    pipeline = dict(image_size=image_size, batch_size=batch_size, seed=seed)
    train = build_pipeline(
        examples.train, training=True, augment=augment, shuffle=shuffle, **pipeline
    )
    test = build_pipeline(examples.test, training=False, augment=False, shuffle=False, **pipeline)
    info = DatasetInfo(
        name=examples.name,
        kind=examples.kind,
        origin=examples.origin,
        class_names=examples.class_names,
        num_classes=len(examples.class_names),
        num_train=examples.num_train,
        num_test=examples.num_test,
        image_shape=(image_size, image_size, 3),
        synthetic=examples.kind == SYNTHETIC,
    )
    return LoadedDataset(train, test, info)


def load_examples(
    dataset: str | os.PathLike,
    image_size: int,
    seed: int,
    max_examples: int | None,
    data_dir: str | os.PathLike | None,
) -> Examples:
    """The examples of `dataset`; the readers of folders, digits and synthetic load when named."""
    folder = dataset_folder(dataset)
    if folder is not None:
        from gc_tutorial.datasets.folders import folder_examples

        return folder_examples(folder, image_size, seed, max_examples)
    if dataset == SYNTHETIC:
        from gc_tutorial.datasets.arrays import synthetic_examples

        return synthetic_examples(image_size, seed, max_examples)
    if dataset == DIGITS:
        from gc_tutorial.datasets.arrays import digits_examples

        return digits_examples(image_size, max_examples)
    return tfds_examples(dataset, max_examples, data_dir)


def build_pipeline(
    examples: tf.data.Dataset,
    *,
    image_size: int,
    batch_size: int,
    training: bool,
    augment: bool,
    shuffle: bool,
    seed: int,
) -> tf.data.Dataset:
    """decode -> resize -> cache -> shuffle -> batch -> augment -> rescale -> prefetch.

    Images stay uint8 up to the cache (a quarter of float32's memory) and through the
    augmentation, and are rescaled per batch. Shuffling and augmentation (training only)
    are seeded: the same seed gives the same batches, epoch after epoch.
    """
    parallel = dict(num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    dataset = examples.map(lambda image, label: (decode_image(image), label), **parallel)
    dataset = dataset.map(lambda image, label: (_resize(image, image_size), label), **parallel)
    dataset = dataset.cache()
    if training and shuffle:
        buffer_size = max(int(dataset.cardinality()), 1024)  # the whole split
        dataset = dataset.shuffle(buffer_size, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    if training and augment:
        # One seed per batch, different every epoch and the same in every run: the
        # augmentation is a pure function of (batch, seed), so it can run in parallel.
        batch_seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        dataset = tf.data.Dataset.zip(dataset, batch_seeds).map(
            lambda batch, batch_seed: (augment_images(batch[0], batch_seed), batch[1]),
            **parallel,
        )
    dataset = dataset.map(lambda images, labels: (_rescale(images), labels), **parallel)
    # Fixed parallelism, not tf.data's autotuner: it starts anew each epoch and on 2 cores left
    # some epochs up to 1.4x slower. The batches are the same either way.
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.prefetch(2).with_options(options)


def _resize(image: tf.Tensor, image_size: int) -> tf.Tensor:
    """Resize to `image_size` square, as uint8; skipped where the size already fits."""
    if tuple(image.shape[:2]) == (image_size, image_size):
        return image
    resized = tf.image.resize(image, (image_size, image_size), antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)


def _rescale(images: tf.Tensor) -> tf.Tensor:
    return tf.cast(images, tf.float32) / 255.0


def augment_images(
    images: tf.Tensor,
    seed: tf.Tensor | int,
    rotation_factor: float = 0.3,
    zoom_factor: float = 0.2,
) -> tf.Tensor:
    """The Keras example's augmentation as one seeded resampling per image.

    Each image draws the parameters of the example's `RandomFlip("horizontal_and_vertical")`,
    `RandomRotation(0.3)` and `RandomZoom(0.2)` (a flip per axis with probability 1/2, an angle
    up to 0.3 of a turn, a zoom of 1 +- 0.2), composed into one affine transform
    (`augment_transforms`). OpenCV applies it (bilinear, borders reflected, as the layers do)
    on uint8 images in under a third of TensorFlow's CPU time: see the site's data page.

    Args:
        images: a batch `(batch, height, width, channels)`, uint8 or float32; the result
            has the same dtype (uint8 results are rounded).
        seed: an int or a tensor that stateless random ops accept (scalar or shape (2,)).
    """
    batch, height, width = tf.unstack(tf.shape(images)[:3])
    transforms = augment_transforms(batch, height, width, seed, rotation_factor, zoom_factor)
    augmented = tf.numpy_function(_warp_affine, [images, transforms], images.dtype, stateful=False)
    augmented.set_shape(images.shape)
    return augmented


def augment_transforms(
    batch: tf.Tensor | int,
    height: tf.Tensor | int,
    width: tf.Tensor | int,
    seed: tf.Tensor | int,
    rotation_factor: float = 0.3,
    zoom_factor: float = 0.2,
) -> tf.Tensor:
    """Each image's affine map `(batch, 2, 3)`: output pixel (x, y) samples the input at
    `transform @ (x, y, 1)`, i.e. center + zoom * rotation @ flip @ ((x, y) - center)."""
    seed = tf.cast(tf.reshape(seed, [-1]), tf.int64)
    seed = tf.concat([seed, tf.zeros([2], tf.int64)], 0)[:2]
    flip_seed, angle_seed, zoom_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
    # Each image's signs of x and y, its angle and its zoom
    flips = tf.where(tf.random.stateless_uniform([batch, 2], flip_seed) < 0.5, -1.0, 1.0)
    angle = tf.random.stateless_uniform(
        [batch], angle_seed, -rotation_factor * 2 * np.pi, rotation_factor * 2 * np.pi
    )
    zoom = 1.0 + tf.random.stateless_uniform([batch], zoom_seed, -zoom_factor, zoom_factor)
    cos, sin = tf.cos(angle) * zoom, tf.sin(angle) * zoom
    a0, a1 = cos * flips[:, 0], -sin * flips[:, 1]
    b0, b1 = sin * flips[:, 0], cos * flips[:, 1]
    center_x = (tf.cast(width, tf.float32) - 1) / 2
    center_y = (tf.cast(height, tf.float32) - 1) / 2
    a2 = center_x - a0 * center_x - a1 * center_y
    b2 = center_y - b0 * center_x - b1 * center_y
    return tf.reshape(tf.stack([a0, a1, a2, b0, b1, b2], axis=1), [-1, 2, 3])


def _warp_affine(images: np.ndarray, transforms: np.ndarray) -> np.ndarray:
    """Resample each image at its transform: bilinear, borders reflected (TensorFlow's
    and Keras's "reflect", OpenCV's BORDER_REFLECT)."""
    import cv2  # imported here: only augmenting needs it

    height, width = images.shape[1:3]
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP  # the transform maps output to input
    out = np.empty_like(images)
    for image, transform, result in zip(images, transforms, out):
        warped = cv2.warpAffine(
            image, transform, (width, height), flags=flags, borderMode=cv2.BORDER_REFLECT
        )
        result[...] = warped.reshape(result.shape)  # OpenCV drops a single channel's axis
    return out
