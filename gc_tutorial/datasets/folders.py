"""Folders of images as a source: `<dir>/<class>/*.png`, or `train/` and `test/` class folders.

Users' folders are read as they are: hidden entries and macOS zip leftovers are ignored,
nested subfolders belong to their class, JPEG EXIF orientation is applied, `validation/`,
`val/` or `valid/` may stand for `test/`. Each file is read once and only from inside its class
folder, and only regular files are opened (a named pipe would block forever).
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from gc_tutorial._quiet_tensorflow import load_tensorflow_quietly
from gc_tutorial.sources import Examples, check_cache_fits_in_memory, decode_image

load_tensorflow_quietly()  # before TensorFlow's first import: no start-up logs in notebooks
import tensorflow as tf  # noqa: E402

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
FOLDER_TEST_FRACTION = 0.2
# Never a class nor an image: hidden entries (".*", so also macOS's "._*" AppleDouble files),
# the "__MACOSX" folder of zips made on macOS, and Windows's thumbnail caches.
HIDDEN_NAMES = ("__MACOSX", "Thumbs.db", "desktop.ini")
# Folder names of a split layout, in order of preference for the test split.
SPLIT_FOLDER_NAMES = ("train", "test", "validation", "val", "valid")
EXIF_ORIENTATION_TAG = 0x0112
EXIF_EXTENSIONS = (".jpg", ".jpeg")  # where cameras write an orientation


@dataclass
class _Skipped:
    """What reading a folder left out, counted, for one warning of each kind at the end."""

    extensions: Counter = field(default_factory=Counter)  # files TensorFlow does not decode
    links_out: int = 0  # links whose target lies outside their class folder
    repeated_files: int = 0  # paths to a file already read
    repeated_folders: int = 0  # links to a folder already read
    not_regular: int = 0  # named pipes, sockets, devices, broken links


def folder_examples(root: Path, image_size: int, seed: int, max_examples: int | None) -> Examples:
    """A folder's images as `(image, label)`: decoded, and turned upright, in the pipeline."""
    if not root.is_dir():
        raise FileNotFoundError(f"Image folder {str(root)!r} does not exist (or is not a folder).")
    class_names, train_files, test_files = folder_files(root, seed)
    rng = np.random.default_rng(seed)  # mix the classes, so the first N hold all of them
    train_files, test_files = (
        [files[i] for i in rng.permutation(len(files))][:max_examples]
        for files in (train_files, test_files)
    )
    check_cache_fits_in_memory(len(train_files) + len(test_files), image_size)
    bad = undecodable_images([path for path, _ in train_files + test_files])
    if bad:
        _warn_undecodable(root, bad)
        train_files, test_files = (
            [item for item in files if item[0] not in bad] for files in (train_files, test_files)
        )
    for split, files in (("train", train_files), ("test", test_files)):
        if not files:
            raise ValueError(
                f"Image folder {str(root)!r} leaves no images for the {split} split: a class "
                "needs 2 images or more to give one to each split (or use train/ and test/ "
                "folders)."
            )
        _warn_classes_without_images(root, class_names, split, files)
    return Examples(
        train=_decoded_files(train_files),
        test=_decoded_files(test_files),
        num_train=len(train_files),
        num_test=len(test_files),
        name=root.resolve().name,
        kind="folder",
        origin=f"image folder {root.resolve()}",
        class_names=class_names,
    )


def folder_files(
    root: Path, seed: int
) -> tuple[tuple[str, ...], list[tuple[str, int]], list[tuple[str, int]]]:
    """The class names, and the `(file path, label)` pairs of the train and the test images; each
    file once, by its first path in class order, train before test."""
    splits, skipped, seen = _split_folders(root), _Skipped(), set()
    if splits is not None:
        train, test = splits
        class_names = _class_names(train)
        _check_test_classes(train, test, class_names)
        train_files = _class_files(root, train, class_names, seen, skipped)
        test_files = _class_files(root, test, class_names, seen, skipped, must_have_images=False)
    else:
        class_names = _class_names(root)
        files = _class_files(root, root, class_names, seen, skipped)
        train_files, test_files = _split_files(files, seed)
    _warn_skipped(root, skipped)
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
            "but not both splits. `dataset` must hold class folders (<dir>/<class>/*.png), or "
            "train/<class>/ with test/<class>/ (or validation/, val/, valid/)."
        )
    return None


def _image_extensions() -> tuple[str, ...]:
    """The extensions of the images that `tf.io.decode_image` reads here."""
    webp = (".webp",) if hasattr(tf.io, "decode_webp") else ()  # newer TensorFlow only
    return IMAGE_EXTENSIONS + webp


def _class_files(
    root: Path,
    folder: Path,
    class_names: tuple[str, ...],
    seen: set[tuple[int, int]],
    skipped: _Skipped,
    must_have_images: bool = True,
) -> list[tuple[str, int]]:
    """Every image under `folder/<class>/` (subfolders too) as `(file path, label)`, sorted;
    a file already in `seen` is skipped as a repeat."""
    files = []
    for label, name in enumerate(class_names):
        skipped_before = Counter(skipped.extensions)
        images = _unseen(_class_folder_images(root, folder / name, skipped), seen, skipped)
        if must_have_images and not images:
            others = skipped.extensions - skipped_before
            found = f"; found only {_count_per_extension(others)}" if others else ""
            raise ValueError(
                f"Class folder {str(folder / name)!r} has no images "
                f"(looked for {', '.join(_image_extensions())}{found})."
            )
        files += [(str(path), label) for path in images]
    return files


def _unseen(paths: list[Path], seen: set[tuple[int, int]], skipped: _Skipped) -> list[Path]:
    """The paths whose file (device and inode: a link and its target, or two hard links, are
    one file) is not in `seen`, which then holds them; the others are repeats."""
    unseen = []
    for path in paths:
        status = os.stat(path)
        file = (status.st_dev, status.st_ino)
        if file in seen:
            skipped.repeated_files += 1
        else:
            seen.add(file)
            unseen.append(path)
    return unseen


def _class_folder_images(root: Path, class_folder: Path, skipped: _Skipped) -> list[Path]:
    """The regular image files anywhere under `class_folder`, sorted; `skipped` counts the rest.

    Hidden entries are left out, and every link (to a file or a folder) whose target is not
    inside the class folder: only files under it are read. A missing folder has no images.
    """
    images, folders_read = [], set()
    inside = (os.path.realpath(class_folder), os.path.realpath(root))
    if Path(inside[1]).is_relative_to(inside[0]):
        raise ValueError(
            f"Class folder {str(class_folder)!r} leads to {inside[0]!r}, which holds the whole "
            "dataset; a class folder must hold only the images of its class."
        )
    for folder, subfolders, names in os.walk(class_folder, followlinks=True):
        if os.path.realpath(folder) in folders_read:  # a link back up the tree: read it once
            subfolders[:] = []
            skipped.repeated_folders += 1
            continue
        folders_read.add(os.path.realpath(folder))
        subfolders[:] = [
            name
            for name in subfolders
            if not _is_hidden(name) and _stays_in_class(Path(folder, name), inside[0], skipped)
        ]
        for name in names:
            path = Path(folder, name)
            if _is_hidden(name) or not _is_image(path, skipped):
                continue
            if _stays_in_class(path, inside[0], skipped):
                images.append(path)
    return sorted(images)


def _is_image(path: Path, skipped: _Skipped) -> bool:
    """Whether `path` is a regular file with an image's extension; counts the others."""
    extension = path.suffix.lower()
    if extension not in _image_extensions():
        skipped.extensions[extension or "(no extension)"] += 1
        return False
    if not path.is_file():  # opening a named pipe, a socket or a device could block forever
        skipped.not_regular += 1
        return False
    return True


def _stays_in_class(path: Path, class_folder: str, skipped: _Skipped) -> bool:
    """False for a link whose target lies outside `class_folder` (a real path)."""
    if not path.is_symlink():
        return True
    if Path(os.path.realpath(path)).is_relative_to(class_folder):
        return True
    skipped.links_out += 1
    return False


def _count_per_extension(counts: Counter) -> str:
    """'.tiff: 2, .txt: 1': most common first."""
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{extension}: {count}" for extension, count in ordered)


def _warn_skipped(root: Path, skipped: _Skipped) -> None:
    """One warning for each kind of entry that reading `root` left out, with its count."""
    where = f"in image folder {str(root)!r}"
    if skipped.extensions:
        warnings.warn(
            f"Skipped {sum(skipped.extensions.values())} file(s) {where} that TensorFlow does "
            f"not decode ({', '.join(_image_extensions())} are loaded): "
            f"{_count_per_extension(skipped.extensions)}.",
            stacklevel=2,
        )
    links = {
        "out of their class folder": skipped.links_out,
        "to a file already read": skipped.repeated_files,
        "to a folder already read": skipped.repeated_folders,
    }
    if sum(links.values()):
        counts = ", ".join(f"{count} {kind}" for kind, count in links.items() if count)
        warnings.warn(
            f"Skipped {sum(links.values())} link(s) {where}: {counts}. Each file is read once, "
            "under the class folder that holds it.",
            stacklevel=2,
        )
    if skipped.not_regular:
        warnings.warn(
            f"Skipped {skipped.not_regular} item(s) {where} named like images that are not "
            "regular files (named pipes, sockets, devices or broken links); they are never "
            "opened.",
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


def undecodable_images(paths: list[str]) -> set[str]:
    """The files of `paths` that do not decode (corrupt, empty, or not the format their name
    says), each decoded once, in parallel."""
    checks = tf.data.Dataset.from_tensor_slices(paths).enumerate()
    checks = checks.map(
        lambda index, path: (index, tf.shape(decode_image(path))),
        num_parallel_calls=tf.data.AUTOTUNE,
    ).ignore_errors()
    decoded = {int(index) for index, _ in checks.as_numpy_iterator()}
    return {path for index, path in enumerate(paths) if index not in decoded}


def _warn_undecodable(root: Path, bad: set[str]) -> None:
    """One warning that counts the files that do not decode and names a few."""
    shown = ", ".join(repr(os.path.relpath(path, root)) for path in sorted(bad)[:5])
    more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
    webp = any(path.lower().endswith(".webp") for path in bad)
    note = " (TensorFlow reads no animated or transparent WebP)" if webp else ""
    warnings.warn(
        f"Skipped {len(bad)} image file(s) in image folder {str(root)!r} that cannot be decoded "
        f"(corrupt, empty, or not the format their name says){note}: {shown}{more}.",
        stacklevel=3,
    )


def _decoded_files(files: list[tuple[str, int]]) -> tf.data.Dataset:
    """`(image, label)` of each `(file path, label)`: decoded to RGB and turned upright."""
    paths = [path for path, _ in files]
    orientations = np.array([_exif_orientation(path) for path in paths], np.int32)
    labels = np.array([label for _, label in files], np.int32)
    return tf.data.Dataset.from_tensor_slices((paths, orientations, labels)).map(
        lambda path, orientation, label: (
            _apply_exif_orientation(decode_image(path), orientation),
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
