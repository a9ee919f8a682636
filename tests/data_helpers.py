"""Helpers shared by the data tests: batches as arrays, image folders, which file is which image."""

from pathlib import Path

import numpy as np
import tensorflow as tf


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


def split_examples(dataset) -> list[tuple[bytes, int]]:
    """Each `(image, label)` of an unaugmented split, the image as its uint8 bytes."""
    return [
        (np.round(image * 255).astype(np.uint8).tobytes(), int(label))
        for images, labels in batches(dataset)
        for image, label in zip(images, labels)
    ]


def files_by_image(root: Path) -> dict[bytes, str]:
    """Every real (unlinked) PNG under `root`, by its pixels: its path relative to `root`."""
    return {
        tf.io.decode_png(path.read_bytes(), channels=3).numpy().tobytes(): str(
            path.relative_to(root)
        )
        for path in sorted(root.rglob("*.png"))
        if path.is_file() and not path.is_symlink()
    }


def loaded_files(loaded, root: Path) -> dict[str, list[tuple[str, int]]]:
    """Which files of `root` each split of `loaded` holds, with their labels (sorted).

    Needs images saved at `image_size` (nothing resized) and no augmentation.
    """
    by_image = files_by_image(root)
    return {
        split: sorted((by_image[image], label) for image, label in split_examples(dataset))
        for split, dataset in (("train", loaded.train), ("test", loaded.test))
    }
