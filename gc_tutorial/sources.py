"""Where images come from: tensorflow-datasets, and what every source shares.

Each source gives unbatched `(image, int32 label)` examples of a train and a test split
(`Examples`) for `gc_tutorial.data.build_pipeline`. The lesson's Horses or Humans comes from
tensorflow-datasets, here; folders, digits and generated shapes from `gc_tutorial.datasets`.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import psutil

from gc_tutorial._quiet_tensorflow import load_tensorflow_quietly
from gc_tutorial.checks import DIGITS, SYNTHETIC, DatasetUnavailableError

load_tensorflow_quietly()  # before TensorFlow's first import: no start-up logs in notebooks
import tensorflow as tf  # noqa: E402

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
    """The folder that `dataset` names (`~` expanded), or None for a dataset's name: a path
    object, or a string that starts with "/", "." or "~" or names an existing folder (but
    never "digits" or "synthetic")."""
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


def check_cache_fits_in_memory(num_images: int, image_size: int) -> None:
    """Refuse, before any image is decoded, an `image_size` whose cached uint8 images (at
    least `num_images * image_size**2 * 3` bytes) would not fit in the memory available."""
    needed = num_images * image_size**2 * 3
    available = psutil.virtual_memory().available  # blind to a container's own limit
    if needed > available:
        raise ValueError(
            f"`image_size` is too large for the memory: caching {num_images} images of "
            f"{image_size}x{image_size}x3 bytes (uint8) needs {needed / 2**30:.1f} GiB, but "
            f"{available / 2**30:.1f} GiB is available. Use a smaller `image_size`, or "
            f"fewer images (`max_examples`). Received: image_size={image_size}."
        )


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
