"""Where images come from: tensorflow-datasets, scikit-learn's digits and generated data.

Each source gives unbatched `(image, int32 label)` examples of a train and a test split
(`Examples`), which `gc_tutorial.data.build_pipeline` turns into batches. Folders of images
are read by `gc_tutorial.files.folders`. Also here: the checks that run before any image is
decoded (is the network reachable, does the cache fit in memory).
"""

from __future__ import annotations

import os
import socket
import threading
import warnings
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np

from gc_tutorial._quiet_tensorflow import load_tensorflow_quietly
from gc_tutorial.checks import DIGITS, SYNTHETIC, DatasetUnavailableError

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
# Where tensorflow-datasets downloads Horses or Humans from.
TFDS_DOWNLOAD_HOST = ("storage.googleapis.com", 443)
SOURCE_KINDS = (
    "a tensorflow-datasets image-classification name (e.g. 'horses_or_humans'), "
    "the path to a folder of class subfolders (<dir>/<class>/*.png), "
    "'digits' (scikit-learn's real handwritten digits, offline), "
    "or 'synthetic' (generated offline)"
)
SourceKind = Literal["tfds", "folder", "digits", "synthetic"]


class Examples(NamedTuple):
    """Unbatched `(image or file path, int32 label)` examples of one source, before the pipeline."""

    train: tf.data.Dataset
    test: tf.data.Dataset
    num_train: int
    num_test: int
    name: str
    kind: SourceKind
    origin: str
    class_names: tuple[str, ...]


def dataset_folder(dataset: str | os.PathLike) -> Path | None:
    """The folder of images that `dataset` names (`~` expanded), or None for a dataset's name.

    A path object is a folder, and so is a string that starts with "/", "." or "~" or
    names an existing folder, unless it is "digits" or "synthetic".
    """
    if isinstance(dataset, os.PathLike):
        return Path(dataset).expanduser()
    if not isinstance(dataset, str) or not dataset:
        raise ValueError(f"Unknown `dataset` {dataset!r}; it must be {SOURCE_KINDS}.")
    if dataset in (SYNTHETIC, DIGITS):
        return None
    path = Path(dataset).expanduser()
    return path if dataset.startswith(("/", ".", "~")) or path.is_dir() else None


def decode_image(image: tf.Tensor) -> tf.Tensor:
    """A file path becomes its decoded uint8 RGB image; a decoded image becomes RGB."""
    if image.dtype == tf.string:
        image = tf.io.decode_image(
            tf.io.read_file(image), channels=3, expand_animations=False, dtype=tf.uint8
        )
    channels = image.shape[-1]
    if channels == 1:
        image = tf.image.grayscale_to_rgb(image)
    elif channels == 4:
        image = image[..., :3]
    return image


# --- Checks before decoding -----------------------------------------------------------


def check_cache_fits_in_memory(num_images: int, image_size: int) -> None:
    """Refuse an `image_size` whose cached images would not fit in the memory available.

    The pipeline caches every image decoded and resized, as uint8: at least
    `num_images * image_size**2 * 3` bytes. Checked before any image is decoded, so a
    size that cannot work fails at once rather than after minutes, or by running out
    of memory.
    """
    needed = num_images * image_size**2 * 3
    available = available_memory_bytes()
    if available is not None and needed > available:
        raise ValueError(
            f"`image_size` is too large for the memory: caching {num_images} images of "
            f"{image_size}x{image_size}x3 bytes (uint8) needs {needed / 2**30:.1f} GiB, but "
            f"{available / 2**30:.1f} GiB is available. Use a smaller `image_size`, or "
            f"fewer images (`max_examples`). Received: image_size={image_size}."
        )


def available_memory_bytes() -> int | None:
    """The memory new allocations can get: Linux's MemAvailable, else the physical memory.

    None where neither can be read. (MemAvailable does not see a container's own limit.)
    """
    try:
        with open("/proc/meminfo") as meminfo:
            fields = dict(line.split(":", 1) for line in meminfo if ":" in line)
        return int(fields["MemAvailable"].split()[0]) * 1024  # reported in kB
    except (OSError, KeyError, ValueError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def network_reachable(host: str, port: int, timeout_s: float = 3.0) -> bool:
    """Whether a TCP connection to `host:port` opens within `timeout_s` (DNS included)."""
    result = []

    def connect():
        try:
            socket.create_connection((host, port), timeout=timeout_s).close()
            result.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=connect, daemon=True)
    thread.start()
    thread.join(timeout_s)
    return bool(result)


# --- tensorflow-datasets ---------------------------------------------------------------


def tfds_examples(
    name: str, max_examples: int | None, data_dir: str | os.PathLike | None
) -> Examples:
    """A tensorflow-datasets image-classification dataset, downloaded first where needed."""
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=None if data_dir is None else os.fspath(data_dir))
    except AssertionError as error:  # tfds's answer to a version it does not have
        raise ValueError(f"Unknown `dataset` {name!r}: {str(error).strip()}") from None
    except ValueError as error:  # includes tfds's DatasetNotFoundError
        if "/" in name:
            raise FileNotFoundError(
                f"No folder {name!r}, and no tensorflow-datasets dataset of that name."
            ) from None
        raise ValueError(
            f"Unknown `dataset` {name!r}: not a tensorflow-datasets name. "
            f"`dataset` must be {SOURCE_KINDS}."
        ) from error
    features = builder.info.features
    keys = set(features.keys())
    if "image" not in keys or "label" not in keys or not hasattr(features["label"], "names"):
        raise ValueError(
            f"tensorflow-datasets {name!r} is not an image-classification dataset "
            "(it needs 'image' and a ClassLabel 'label' feature)."
        )
    _prepare_tfds(builder)
    splits = tfds_splits(set(builder.info.splits))
    train, test = (
        builder.as_dataset(split=split, as_supervised=True, shuffle_files=False) for split in splits
    )
    if max_examples is not None:
        train, test = train.take(max_examples), test.take(max_examples)
    train, test = (
        ds.map(lambda image, label: (image, tf.cast(label, tf.int32))) for ds in (train, test)
    )
    return Examples(
        train=train,
        test=test,
        num_train=_count(train),
        num_test=_count(test),
        name=name,
        kind="tfds",
        origin=f"tensorflow-datasets {name} {builder.version}, splits {'/'.join(splits)} "
        f"(data_dir={builder.data_dir})",
        class_names=tuple(features["label"].names),
    )


def tfds_splits(available: set[str]) -> tuple[str, str]:
    """The (train, test) splits to read: "test" if there is one, else "validation", else
    the last 20% of "train". (Under `tfds.testing.mock_data` no split is listed.)"""
    if "test" in available or not available:
        return ("train", "test")
    if "validation" in available:
        return ("train", "validation")
    return ("train[:80%]", "train[80%:]")


def _prepare_tfds(builder) -> None:
    """Make sure the dataset can be read: prepared already, or downloaded now if online."""
    if builder.is_prepared():
        return
    try:
        builder.as_dataset(split="train")  # tfds.testing.mock_data serves data unprepared
        return
    except AssertionError:  # tfds's "could not find data in ..."
        pass
    host, port = TFDS_DOWNLOAD_HOST
    if not network_reachable(host, port):
        raise DatasetUnavailableError(
            f"The tensorflow-datasets dataset {builder.name!r} is not prepared in "
            f"{builder.data_dir}, and the network is unreachable ({host}:{port}), so it "
            "cannot be downloaded. Offline, use `dataset='digits'` with `augment=False` "
            "(scikit-learn's real handwritten digits), the path to a folder of images "
            "(<dir>/<class>/*.png) as `dataset`, `data_dir=` a folder holding a prepared "
            "copy, or `dataset='synthetic'` (generated, not real photographs)."
        )
    builder.download_and_prepare()


def _count(dataset: tf.data.Dataset) -> int:
    cardinality = int(dataset.cardinality())
    if cardinality >= 0:
        return cardinality
    return int(dataset.reduce(np.int64(0), lambda count, _: count + 1))


# --- Synthetic and digits: arrays in memory ---------------------------------------------


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
