"""Datasets made as arrays in memory, offline: scikit-learn's digits and generated shapes.

Digits are real handwritten digits, split 80/20 the same way for every seed; quick mode and
the study train on them. The synthetic discs vs rings are generated, not photographs, and
are labelled as such wherever their results appear.
"""

from __future__ import annotations

import warnings

import numpy as np

from gc_tutorial._quiet_tensorflow import load_tensorflow_quietly
from gc_tutorial.checks import DIGITS, SYNTHETIC
from gc_tutorial.sources import Examples, check_cache_fits_in_memory

load_tensorflow_quietly()  # before TensorFlow's first import: no start-up logs in notebooks
import tensorflow as tf  # noqa: E402

DIGITS_ORIGIN = (
    "scikit-learn load_digits: real handwritten digits (UCI Optical Recognition of "
    "Handwritten Digits), 8x8 grey scans of 17 levels (0 to 16)"
)
DIGITS_TEST_FRACTION = 0.2
# The digits split is the same for every seed: seeds vary initialization, shuffling
# and dropout, never the test set.
DIGITS_SPLIT_SEED = 0
SYNTHETIC_CLASS_NAMES = ("discs", "rings")
SYNTHETIC_SIZES = {"train": 512, "test": 128}
SYNTHETIC_ORIGIN = "SYNTHETIC: generated offline by gc_tutorial, not real photographs"


def synthetic_images(
    num_examples: int, image_size: int, seed: int, split: str = "train"
) -> tuple[np.ndarray, np.ndarray]:
    """Discs (label 0) and rings (label 1) on noisy backgrounds, as uint8 images and labels.

    Position, radius, ring width and colours vary, and noise is added, so the classes
    are hard to tell apart: the example's CNN stays near chance on them at 24x24 in 15
    epochs (the study) and reaches 0.55-0.68 test accuracy at 64x64 in 30. Flips,
    rotations and zooms keep a disc a disc and a ring a ring. Example i is the same
    whatever `num_examples` is.
    """
    rng = np.random.default_rng([seed, 0 if split == "train" else 1])
    coordinates = (np.arange(image_size) + 0.5) / image_size
    rows, columns = np.meshgrid(coordinates, coordinates, indexing="ij")
    images = np.empty((num_examples, image_size, image_size, 3), np.uint8)
    labels = np.arange(num_examples, dtype=np.int32) % 2
    for index, label in enumerate(labels):
        radius = rng.uniform(0.15, 0.3)
        center = rng.uniform(radius + 0.05, 0.95 - radius, size=2)
        inner = radius * rng.uniform(0.35, 0.7) if label else 0.0
        distance = np.hypot(rows - center[0], columns - center[1])
        shape = ((distance <= radius) & (distance >= inner))[..., None]
        background = rng.uniform(0.2, 0.8, size=3)
        foreground = np.clip(background + rng.choice([-1, 1], 3) * rng.uniform(0.1, 0.4, 3), 0, 1)
        noise = rng.normal(0.0, 0.12, size=(image_size, image_size, 3))
        image = np.where(shape, foreground, background) + noise
        images[index] = np.clip(np.round(image * 255), 0, 255).astype(np.uint8)
    return images, labels


def synthetic_examples(image_size: int, seed: int, max_examples: int | None) -> Examples:
    """Generated discs vs rings: `SYNTHETIC_SIZES` images per split, or `max_examples`."""
    sizes = {split: min(size, max_examples or size) for split, size in SYNTHETIC_SIZES.items()}
    check_cache_fits_in_memory(sum(sizes.values()), image_size)
    splits = [
        synthetic_images(sizes[split], image_size, seed, split) for split in ("train", "test")
    ]
    return _in_memory_examples(
        splits, SYNTHETIC, "synthetic", SYNTHETIC_ORIGIN, SYNTHETIC_CLASS_NAMES, max_examples
    )


def digits_images() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 handwritten digits as uint8 RGB 8x8 images and int32 labels.

    The scans have 17 grey levels (0..16, ink high); they are scaled to 0..255.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    grey = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1), digits.target.astype(np.int32)


def digits_split() -> tuple[np.ndarray, np.ndarray]:
    """Indices of the digits' train and test images: stratified 80/20, the same every time."""
    from sklearn.model_selection import train_test_split

    _, labels = digits_images()
    return train_test_split(
        np.arange(len(labels)),
        test_size=DIGITS_TEST_FRACTION,
        stratify=labels,
        random_state=DIGITS_SPLIT_SEED,
    )


def digits_examples(image_size: int, max_examples: int | None) -> Examples:
    """scikit-learn's digits, split by `digits_split`; the first `max_examples` of each split."""
    images, labels = digits_images()
    train_index, test_index = (index[:max_examples] for index in digits_split())
    check_cache_fits_in_memory(len(train_index) + len(test_index), image_size)
    splits = [(images[index], labels[index]) for index in (train_index, test_index)]
    class_names = tuple(str(digit) for digit in range(10))
    return _in_memory_examples(splits, DIGITS, "digits", DIGITS_ORIGIN, class_names, max_examples)


def _in_memory_examples(splits, name, kind, origin, class_names, max_examples) -> Examples:
    """`Examples` from ((train images, train labels), (test images, test labels)) arrays."""
    _warn_few_images_per_class(name, class_names, [labels for _, labels in splits], max_examples)
    (train, num_train), (test, num_test) = (
        (tf.data.Dataset.from_tensor_slices((images, labels)), len(labels))
        for images, labels in splits
    )
    return Examples(train, test, num_train, num_test, name, kind, origin, class_names)


def _warn_few_images_per_class(
    name: str, class_names: tuple[str, ...], labels: list[np.ndarray], max_examples: int | None
) -> None:
    """Name the classes of which the train or the test split holds fewer than two images."""
    few = {}
    for split, split_labels in zip(("train", "test"), labels):
        counts = np.bincount(split_labels, minlength=len(class_names))
        names = [label for label, count in zip(class_names, counts) if count < 2]
        if names:
            few[split] = names
    if few:
        listed = "; ".join(f"{split} split: {names}" for split, names in few.items())
        warnings.warn(
            f"Dataset {name!r} has fewer than 2 images of some classes ({listed}; "
            f"max_examples={max_examples}), so a comparison on it means little. Raise "
            "`max_examples`, or leave it None for every image.",
            stacklevel=3,
        )
