"""The tutorial's data: Horses or Humans (or any image-classification source) as `tf.data`.

`load_dataset` takes a tensorflow-datasets name, a folder of class subfolders, or
`"digits"` (scikit-learn's real handwritten digits, offline), or `"synthetic"`
(generated offline), and returns batched train and test datasets
built by one pipeline (`build_pipeline`), plus a `DatasetInfo` that says where the
images came from.
"""

from __future__ import annotations

import os
import socket
import threading
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import tensorflow as tf
from PIL import Image

from gc_tutorial.checks import SEED_LIMIT, check_bool, check_int, check_optional_int, fail

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
SYNTHETIC = "synthetic"
DIGITS = "digits"
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
FOLDER_TEST_FRACTION = 0.2
# Where tensorflow-datasets downloads Horses or Humans from.
TFDS_DOWNLOAD_HOST = ("storage.googleapis.com", 443)
SOURCE_KINDS = (
    "a tensorflow-datasets image-classification name (e.g. 'horses_or_humans'), "
    "the path to a folder of class subfolders (<dir>/<class>/*.png), "
    "'digits' (scikit-learn's real handwritten digits, offline), "
    "or 'synthetic' (generated offline)"
)


class DatasetUnavailableError(RuntimeError):
    """A tensorflow-datasets dataset is not prepared locally and cannot be downloaded."""


@dataclass(frozen=True)
class DatasetInfo:
    """What `load_dataset` loaded: where from, which classes, how many images of what shape."""

    name: str
    kind: Literal["tfds", "folder", "digits", "synthetic"]
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


class _Examples(NamedTuple):
    """Unbatched `(image or file path, int32 label)` examples of one source, before the pipeline."""

    train: tf.data.Dataset
    test: tf.data.Dataset
    num_train: int
    num_test: int
    name: str
    kind: Literal["tfds", "folder", "digits", "synthetic"]
    origin: str
    class_names: tuple[str, ...]


def load_dataset(
    source: str | os.PathLike = "horses_or_humans",
    *,
    image_size: int = 300,
    batch_size: int = 128,
    augment: bool = True,
    shuffle: bool = True,
    seed: int = 0,
    max_examples: int | None = None,
    data_dir: str | os.PathLike | None = None,
) -> LoadedDataset:
    """Load an image-classification dataset as batched train and test `tf.data.Dataset`s.

    Args:
        source: a tensorflow-datasets name (default "horses_or_humans"), the path to a
            folder of class subfolders (`<dir>/<class>/*.png`, or `<dir>/train/<class>/`
            and `<dir>/test/<class>/`, where `validation/`, `val/` or `valid/` may stand
            for `test/`), "digits" for scikit-learn's 1,797 real
            handwritten digits (10 classes "0".."9", offline; the stratified 80/20
            split is the same for every seed), or "synthetic" for generated discs
            vs rings.
        image_size: images are resized to `image_size` x `image_size` x 3.
        batch_size: examples per batch.
        augment: randomly flip, rotate and zoom the training images. Not for
            "digits": a flip or a large rotation changes a digit's class (a 6
            becomes a 9, a 2 a mirrored 2), so use `augment=False` there.
        shuffle: shuffle the training examples, differently each epoch.
        seed: makes splitting, shuffling and augmentation repeatable: the same seed
            gives the same batches, under the same TensorFlow global seed (tf.data
            combines the two; `run_comparison` sets both, with
            `keras.utils.set_random_seed(seed)`).
        max_examples: keep at most this many examples of each split.
        data_dir: tensorflow-datasets data directory (where prepared datasets live).

    A folder of images is read as follows:
        - Every format that `tf.io.decode_image` reads is loaded: .png, .jpg, .jpeg, .bmp,
          .gif (its first frame), and .webp where TensorFlow reads it (it has
          `tf.io.decode_webp`; still, opaque WebP only). Images in nested subfolders of a
          class folder (links followed) belong to that class. Other files in class
          folders (.tiff, .txt, ...) are skipped, with a warning that counts them per
          extension; files directly in `<dir>` are ignored.
        - Hidden entries are ignored: names starting with "." (also macOS's "._*" files),
          "__MACOSX" folders, Thumbs.db and desktop.ini.
        - A JPEG's EXIF orientation is applied, as photo viewers do, so a photo taken with
          the camera turned loads upright.
        - With `train/` and `test/` folders, a test class that train lacks is an error. A
          class left without test images (a class of one image, or by `max_examples`) is
          named in a warning.
        - Files that do not decode are named in an error, and an `image_size` whose cache
          (`num_images * image_size**2 * 3` bytes) would not fit in the available memory is
          refused, both before training starts.
    """
    image_size = check_int("image_size", image_size)
    batch_size = check_int("batch_size", batch_size)
    check_bool("augment", augment)
    check_bool("shuffle", shuffle)
    seed = check_int("seed", seed, 0, SEED_LIMIT)
    max_examples = check_optional_int("max_examples", max_examples)
    if source == DIGITS and augment:
        fail(
            "augment",
            augment,
            "False for source 'digits' (a flip or a rotation changes a digit's class: a 6 "
            "becomes a 9)",
        )
    examples = _load_examples(source, image_size, seed, max_examples, data_dir)
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
    augmentation (under half its cost on float32), and are rescaled per batch.
    Shuffling and augmentation apply to training only, and are seeded: the same seed
    gives the same batches, epoch after epoch.
    """
    parallel = dict(num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    dataset = examples.map(lambda image, label: (_decode(image), label), **parallel)
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
    # Fixed parallelism (AUTOTUNE then resolves to a default) rather than tf.data's
    # autotuner, which starts anew with each epoch's iterator: on 2 cores it left the
    # process 1.3-1.5 cores in some epochs, making them up to 1.4x slower. The batches
    # are the same either way.
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.prefetch(2).with_options(options)


def _decode(image: tf.Tensor) -> tf.Tensor:
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
    """The Keras example's augmentation as one resampling per image, seeded.

    The example chains `RandomFlip("horizontal_and_vertical")`, `RandomRotation(0.3)`
    and `RandomZoom(0.2)`. Here each image draws the same kinds of parameters (a flip
    on each axis with probability 1/2, an angle of up to 0.3 of a turn either way, a
    zoom of 1 +- 0.2), composed into one affine transform (`augment_transforms`) and
    applied once with bilinear interpolation and reflected borders, as the layers do.
    OpenCV's `warpAffine` does the resampling: on uint8 images, as the training pipeline
    passes them, it takes under a third of the CPU time of TensorFlow's
    `ImageProjectiveTransformV3` on float32 ones, which matters because the augmentation
    shares the CPU with the training step.

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
    flips = tf.where(
        tf.random.stateless_uniform([batch, 2], flip_seed) < 0.5, -1.0, 1.0
    )  # (x, y) signs
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


# --- Sources ---------------------------------------------------------------------------


def _load_examples(
    source: object,
    image_size: int,
    seed: int,
    max_examples: int | None,
    data_dir: str | os.PathLike | None,
) -> _Examples:
    """Dispatch on the kind of source: synthetic, a folder, or a tensorflow-datasets name."""
    if isinstance(source, os.PathLike):
        return _folder_examples(Path(source).expanduser(), image_size, seed, max_examples)
    if not isinstance(source, str) or not source:
        raise ValueError(f"Unknown `source` {source!r}; it must be {SOURCE_KINDS}.")
    if source == SYNTHETIC:
        return _synthetic_examples(image_size, seed, max_examples)
    if source == DIGITS:
        return _digits_examples(image_size, max_examples)
    path = Path(source).expanduser()
    if source.startswith(("/", ".", "~")) or path.is_dir():
        return _folder_examples(path, image_size, seed, max_examples)
    return _tfds_examples(source, max_examples, data_dir)


def _count(dataset: tf.data.Dataset) -> int:
    cardinality = int(dataset.cardinality())
    if cardinality >= 0:
        return cardinality
    return int(dataset.reduce(np.int64(0), lambda count, _: count + 1))


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


def _tfds_examples(
    name: str, max_examples: int | None, data_dir: str | os.PathLike | None
) -> _Examples:
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=None if data_dir is None else os.fspath(data_dir))
    except AssertionError as error:  # tfds's answer to a version it does not have
        raise ValueError(f"Unknown `source` {name!r}: {str(error).strip()}") from None
    except ValueError as error:  # includes tfds's DatasetNotFoundError
        if "/" in name:
            raise FileNotFoundError(
                f"No folder {name!r}, and no tensorflow-datasets dataset of that name."
            ) from None
        raise ValueError(
            f"Unknown `source` {name!r}: not a tensorflow-datasets name. "
            f"`source` must be {SOURCE_KINDS}."
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
    return _Examples(
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
            "cannot be downloaded. Alternatives: pass `data_dir=` pointing at a folder "
            "that holds a prepared copy, pass the path to a folder of images "
            "(<dir>/<class>/*.png) as `source`, or use `source='synthetic'` "
            "(generated offline, not real photographs)."
        )
    builder.download_and_prepare()


# Never a class nor an image: hidden entries (".*", so also macOS's "._*" AppleDouble files),
# the "__MACOSX" folder of zips made on macOS, and Windows's thumbnail caches.
HIDDEN_NAMES = ("__MACOSX", "Thumbs.db", "desktop.ini")
# Folder names of a split layout, in order of preference for the test split.
SPLIT_FOLDER_NAMES = ("train", "test", "validation", "val", "valid")
EXIF_ORIENTATION_TAG = 0x0112
EXIF_EXTENSIONS = (".jpg", ".jpeg")  # where cameras write an orientation


def _folder_examples(root: Path, image_size: int, seed: int, max_examples: int | None) -> _Examples:
    """A folder's images as `(image, label)`: decoded, and turned upright, in the pipeline."""
    if not root.is_dir():
        raise FileNotFoundError(f"Image folder {str(root)!r} does not exist (or is not a folder).")
    class_names, train_files, test_files = _folder_files(root, seed)
    rng = np.random.default_rng(seed)  # mix the classes, so the first N hold all of them
    train_files, test_files = (
        [files[i] for i in rng.permutation(len(files))][:max_examples]
        for files in (train_files, test_files)
    )
    if not test_files:
        raise ValueError(
            f"Image folder {str(root)!r} leaves no images for the test split: a class needs "
            "2 images or more to give one to each split (or use train/ and test/ folders)."
        )
    for split, files in (("train", train_files), ("test", test_files)):
        _warn_classes_without_images(root, class_names, split, files)
    check_cache_fits_in_memory(len(train_files) + len(test_files), image_size)
    _check_images_decode([path for path, _ in train_files + test_files])
    return _Examples(
        train=_decoded_files(train_files),
        test=_decoded_files(test_files),
        num_train=len(train_files),
        num_test=len(test_files),
        name=root.resolve().name,
        kind="folder",
        origin=f"image folder {root.resolve()}",
        class_names=class_names,
    )


def _folder_files(
    root: Path, seed: int
) -> tuple[tuple[str, ...], list[tuple[str, int]], list[tuple[str, int]]]:
    """The class names, and the `(file path, label)`s of the train and the test images."""
    splits = _split_folders(root)
    if splits is not None:
        train, test = splits
        class_names = _class_names(train)
        _check_test_classes(train, test, class_names)
        train_files, train_skipped = _class_files(train, class_names)
        test_files, test_skipped = _class_files(test, class_names, must_have_images=False)
        skipped = train_skipped + test_skipped
    else:
        class_names = _class_names(root)
        files, skipped = _class_files(root, class_names)
        train_files, test_files = _split_files(files, seed)
    _warn_skipped_files(root, skipped)
    return class_names, train_files, test_files


def _is_hidden(name: str) -> bool:
    return name.startswith(".") or name in HIDDEN_NAMES


def _subfolder_names(folder: Path) -> tuple[str, ...]:
    return tuple(sorted(p.name for p in folder.iterdir() if p.is_dir() and not _is_hidden(p.name)))


def _class_names(folder: Path) -> tuple[str, ...]:
    names = _subfolder_names(folder)
    if len(names) < 2:
        raise ValueError(
            f"Image folder {str(folder)!r} has {len(names)} class subfolder(s) {list(names)}; "
            "it needs at least two (<dir>/<class>/*.png)."
        )
    return names


def _check_test_classes(train: Path, test: Path, class_names: tuple[str, ...]) -> None:
    """Refuse a test class that train lacks: the model could never predict it."""
    unknown = [name for name in _subfolder_names(test) if name not in class_names]
    if unknown:
        raise ValueError(
            f"Image folder {str(test)!r} has class folder(s) {unknown} that "
            f"{str(train)!r} lacks; the test classes must be train classes "
            f"{list(class_names)}."
        )


def _split_folders(root: Path) -> tuple[Path, Path] | None:
    """The train and test folders of a split layout, or None for class folders.

    `test/` is the test split, or else `validation/`, `val/` or `valid/`. A folder
    named like a split without the other split is refused: read as class folders,
    it would train the model to tell the splits apart.
    """
    by_lower = {name.lower(): name for name in _subfolder_names(root)}
    present = [name for name in SPLIT_FOLDER_NAMES if name in by_lower]
    test = next((name for name in present if name != "train"), None)
    if "train" in present and test is not None:
        return root / by_lower["train"], root / by_lower[test]
    if present:
        raise ValueError(
            f"Image folder {str(root)!r} has split folder(s) {[by_lower[n] for n in present]} "
            "but not both splits. `source` must hold class folders (<dir>/<class>/*.png), or "
            "train/<class>/ with test/<class>/ (or validation/, val/, valid/)."
        )
    return None


def _image_extensions() -> tuple[str, ...]:
    """The extensions of the images that `tf.io.decode_image` reads here."""
    webp = (".webp",) if hasattr(tf.io, "decode_webp") else ()  # newer TensorFlow only
    return IMAGE_EXTENSIONS + webp


def _class_files(
    folder: Path, class_names: tuple[str, ...], must_have_images: bool = True
) -> tuple[list[tuple[str, int]], Counter]:
    """Every image under `folder/<class>/` (subfolders too) as `(file path, label)`, sorted.

    Also returns how many other files were skipped, per extension.
    """
    extensions = _image_extensions()
    files, skipped = [], Counter()
    for label, name in enumerate(class_names):
        images, others = _class_folder_files(folder / name, extensions)
        if must_have_images and not images:
            found = f"; found only {_count_per_extension(others)}" if others else ""
            raise ValueError(
                f"Class folder {str(folder / name)!r} has no images "
                f"(looked for {', '.join(extensions)}{found})."
            )
        files += [(str(path), label) for path in images]
        skipped += others
    return files, skipped


def _class_folder_files(
    class_folder: Path, extensions: tuple[str, ...]
) -> tuple[list[Path], Counter]:
    """The images anywhere under `class_folder`, sorted, and its other files counted per extension.

    Hidden entries are left out. A missing folder has neither.
    """
    images, others, seen = [], Counter(), set()
    for folder, subfolders, names in os.walk(class_folder, followlinks=True):
        if os.path.realpath(folder) in seen:  # a link back up the tree: read it once
            subfolders[:] = []
            continue
        seen.add(os.path.realpath(folder))
        subfolders[:] = [name for name in subfolders if not _is_hidden(name)]
        for name in names:
            if _is_hidden(name):
                continue
            extension = Path(name).suffix.lower()
            if extension in extensions:
                images.append(Path(folder, name))
            else:
                others[extension or "(no extension)"] += 1
    return sorted(images), others


def _count_per_extension(counts: Counter) -> str:
    """'.tiff: 2, .txt: 1': most common first."""
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{extension}: {count}" for extension, count in ordered)


def _warn_skipped_files(root: Path, skipped: Counter) -> None:
    if skipped:
        warnings.warn(
            f"Skipped {sum(skipped.values())} file(s) in image folder {str(root)!r} that "
            f"TensorFlow does not decode ({', '.join(_image_extensions())} are loaded): "
            f"{_count_per_extension(skipped)}.",
            stacklevel=2,
        )


def _split_files(
    files: list[tuple[str, int]], seed: int
) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """Split per class: a seeded FOLDER_TEST_FRACTION (at least one) of each class goes to test."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label in sorted({label for _, label in files}):
        class_files = [item for item in files if item[1] == label]
        order = rng.permutation(len(class_files))
        num_test = max(round(FOLDER_TEST_FRACTION * len(order)), 1) if len(order) > 1 else 0
        test += [class_files[i] for i in order[:num_test]]
        train += [class_files[i] for i in order[num_test:]]
    return train, test


def _warn_classes_without_images(
    root: Path, class_names: tuple[str, ...], split: str, files: list[tuple[str, int]]
) -> None:
    """Name the classes that `files`, the train or the test split, holds no image of."""
    present = {label for _, label in files}
    missing = [name for label, name in enumerate(class_names) if label not in present]
    if missing:
        consequence = {
            "train": "the model never sees them",
            "test": "the test accuracy says nothing about them",
        }[split]
        warnings.warn(
            f"Image folder {str(root)!r} leaves class(es) {missing} without {split} images, "
            f"so {consequence}. Add images of them (a seeded split needs two of a class), "
            "or raise `max_examples`.",
            stacklevel=2,
        )


def _check_images_decode(paths: list[str]) -> None:
    """Decode every file once, in parallel, and name the ones that fail."""
    checks = tf.data.Dataset.from_tensor_slices(paths).enumerate()
    checks = checks.map(
        lambda index, path: (index, tf.shape(_decode(path))),
        num_parallel_calls=tf.data.AUTOTUNE,
    ).ignore_errors()
    decoded = {int(index) for index, _ in checks.as_numpy_iterator()}
    bad = [path for index, path in enumerate(paths) if index not in decoded]
    if bad:
        shown = ", ".join(repr(path) for path in bad[:5])
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        any_webp = any(path.lower().endswith(".webp") for path in bad)
        webp = " TensorFlow reads no animated or transparent WebP." if any_webp else ""
        raise ValueError(f"Cannot decode {len(bad)} image file(s): {shown}{more}.{webp}")


def _decoded_files(files: list[tuple[str, int]]) -> tf.data.Dataset:
    """`(image, label)` of each `(file path, label)`: decoded to RGB and turned upright."""
    paths = [path for path, _ in files]
    orientations = np.array([_exif_orientation(path) for path in paths], np.int32)
    labels = np.array([label for _, label in files], np.int32)
    return tf.data.Dataset.from_tensor_slices((paths, orientations, labels)).map(
        lambda path, orientation, label: (
            _apply_exif_orientation(_decode(path), orientation),
            label,
        ),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )


def _exif_orientation(path: str) -> int:
    """A JPEG's EXIF orientation, 1 to 8 (1: as stored), read from its header; 1 for others."""
    if Path(path).suffix.lower() not in EXIF_EXTENSIONS:
        return 1
    try:
        with Image.open(path) as image:
            orientation = image.getexif().get(EXIF_ORIENTATION_TAG, 1)
    except Exception:  # Pillow raises many kinds on a broken header; decoding it fails anyway
        return 1
    return orientation if orientation in range(1, 9) else 1


def _apply_exif_orientation(image: tf.Tensor, orientation: tf.Tensor) -> tf.Tensor:
    """Turn a decoded image upright, as Pillow's `ImageOps.exif_transpose` does.

    `tf.io.decode_image` ignores the orientation that cameras write, so a photo taken
    with the camera turned would otherwise load lying on its side.
    """

    def transposed():
        return tf.transpose(image, [1, 0, 2])

    upright = [
        lambda: image,  # 1: as stored
        lambda: image[:, ::-1],  # 2: mirrored left to right
        lambda: image[::-1, ::-1],  # 3: half a turn
        lambda: image[::-1],  # 4: mirrored top to bottom
        transposed,  # 5: mirrored along the main diagonal
        lambda: transposed()[:, ::-1],  # 6: a quarter turn clockwise
        lambda: transposed()[::-1, ::-1],  # 7: mirrored along the other diagonal
        lambda: transposed()[::-1],  # 8: a quarter turn counter-clockwise
    ]
    return tf.switch_case(orientation - 1, upright, default=upright[0])


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


def _synthetic_examples(image_size: int, seed: int, max_examples: int | None) -> _Examples:
    sizes = {split: min(size, max_examples or size) for split, size in SYNTHETIC_SIZES.items()}
    check_cache_fits_in_memory(sum(sizes.values()), image_size)
    splits = [
        synthetic_images(sizes[split], image_size, seed, split) for split in ("train", "test")
    ]
    return _in_memory_examples(
        splits, SYNTHETIC, "synthetic", SYNTHETIC_ORIGIN, SYNTHETIC_CLASS_NAMES
    )


def _in_memory_examples(splits, name, kind, origin, class_names) -> _Examples:
    """`_Examples` from ((train images, train labels), (test images, test labels)) arrays."""
    (train, num_train), (test, num_test) = (
        (tf.data.Dataset.from_tensor_slices((images, labels)), len(labels))
        for images, labels in splits
    )
    return _Examples(train, test, num_train, num_test, name, kind, origin, class_names)


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


def _digits_examples(image_size: int, max_examples: int | None) -> _Examples:
    images, labels = digits_images()
    train_index, test_index = (index[:max_examples] for index in digits_split())
    check_cache_fits_in_memory(len(train_index) + len(test_index), image_size)
    splits = [(images[index], labels[index]) for index in (train_index, test_index)]
    class_names = tuple(str(digit) for digit in range(10))
    return _in_memory_examples(splits, DIGITS, "digits", DIGITS_ORIGIN, class_names)
