"""Folders of images: formats, layouts, EXIF, bad input; each real file once, in one split."""

import io
import os
import socket
import threading
import time
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf
from data_helpers import assert_batches, batches, loaded_files, same_batches, write_images
from PIL import Image, ImageOps

from gc_tutorial import sources
from gc_tutorial.data import load_dataset
from gc_tutorial.datasets import folders

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
    turned = folders._apply_exif_orientation(tf.constant(pixels), tf.constant(orientation))
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
    with pytest.warns(UserWarning, match="transparent WebP.*clear.webp"):
        loaded = load_dataset(tmp_path, image_size=8, augment=False)
    assert loaded.info.num_train + loaded.info.num_test == 4


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


def test_only_files_inside_their_class_folder_are_read_links_out_are_skipped(tmp_path):
    write_images(tmp_path / "data", {"a": 2, "b": 2})
    write_images(tmp_path / "elsewhere", {"more": 2})
    (tmp_path / "data" / "a" / "linked").symlink_to(tmp_path / "elsewhere" / "more")  # skipped
    (tmp_path / "data" / "a" / "passwd.png").symlink_to("/etc/passwd")  # never opened
    (tmp_path / "data" / "a" / "inner").mkdir()
    (tmp_path / "data" / "a" / "inner" / "up").symlink_to(tmp_path / "data" / "a")  # read once
    with pytest.warns(UserWarning, match=r"Skipped 3 link\(s\).*: 2 out of their class folder, "
                      r"1 to a folder already read"):  # fmt: skip
        loaded = load_dataset(tmp_path / "data", image_size=8, augment=False)
    labels = np.concatenate([y for split in loaded[:2] for _, y in batches(split)])
    assert sorted(labels) == [0] * 2 + [1] * 2


def test_two_paths_to_one_file_count_once(tmp_path):
    write_images(tmp_path, {"a": 3, "b": 3})
    first = sorted((tmp_path / "a").glob("*.png"))[0]
    os.link(first, tmp_path / "a" / "hard-link.png")
    (tmp_path / "a" / "soft-link.png").symlink_to(first)
    with pytest.warns(UserWarning, match=r"Skipped 2 link\(s\).*: 2 to a file already read"):
        loaded = load_dataset(tmp_path, image_size=8, augment=False)
    assert loaded.info.num_train + loaded.info.num_test == 6


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
def test_a_corrupt_image_is_skipped_and_named(tmp_path, content):
    write_images(tmp_path, {"horses": 3, "humans": 3})
    (tmp_path / "humans" / "broken.png").write_bytes(content)
    with pytest.warns(UserWarning, match="broken.png"):
        loaded = load_dataset(tmp_path, image_size=8, augment=False)
    assert loaded.info.num_train + loaded.info.num_test == 6


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

    monkeypatch.setattr(folders, "undecodable_images", no_decoding)
    memory = SimpleNamespace(available=16 * 2**30)
    monkeypatch.setattr(sources.psutil, "virtual_memory", lambda: memory)
    start = time.monotonic()
    with pytest.raises(ValueError, match="`image_size`") as error:
        load_dataset(tmp_path, image_size=10_000)
    assert time.monotonic() - start < 10
    for part in ("1000 images", "10000x10000x3", "279.4 GiB", "16.0 GiB", "image_size=10000"):
        assert part in str(error.value)


# --- Each real file once, in one split, under its label --------------------


def class_of(path: str, class_names) -> int:
    """The label of a file path relative to the root: its class folder's index."""
    parts = path.split(os.sep)
    return class_names.index(parts[1] if parts[0] in ("train", "test") else parts[0])


def assert_each_file_once_with_its_label(loaded, root):
    files = loaded_files(loaded, root)
    names = loaded.info.class_names
    for split in ("train", "test"):
        assert all(label == class_of(path, names) for path, label in files[split]), split
    train, test = ({path for path, _ in files[split]} for split in ("train", "test"))
    assert not train & test  # no file in both splits
    assert len(train) + len(test) == len(files["train"]) + len(files["test"])  # none twice
    return files


def test_a_link_out_of_its_class_folder_is_skipped_not_read_twice(tmp_path):
    write_images(tmp_path, {"cats": 20, "dogs": 20}, size=(8, 8))
    (tmp_path / "cats" / "up").symlink_to("..")  # the whole dataset, inside cats/
    (tmp_path / "dogs" / "cat.png").symlink_to(tmp_path / "cats" / "001.png")
    (tmp_path / "dogs" / "again.png").symlink_to(tmp_path / "dogs" / "000.png")
    with pytest.warns(UserWarning, match=r"Skipped 3 link\(s\)") as caught:
        loaded = load_dataset(tmp_path, image_size=8, augment=False)
    assert "2 out of their class folder, 1 to a file already read" in str(caught[0].message)
    assert (loaded.info.num_train, loaded.info.num_test) == (32, 8)
    files = assert_each_file_once_with_its_label(loaded, tmp_path)
    assert len(files["train"]) + len(files["test"]) == 40


def test_a_test_file_linked_to_a_train_file_is_skipped(tmp_path):
    write_images(tmp_path / "train", {"cats": 3, "dogs": 3}, size=(8, 8))
    write_images(tmp_path / "test", {"cats": 1, "dogs": 1}, size=(8, 8), seed=1)
    (tmp_path / "test" / "dogs" / "seen.png").symlink_to(tmp_path / "train" / "dogs" / "000.png")
    with pytest.warns(UserWarning, match=r"Skipped 1 link\(s\)"):
        loaded = load_dataset(tmp_path, image_size=8, augment=False)
    files = assert_each_file_once_with_its_label(loaded, tmp_path)
    assert files["test"] == [("test/cats/000.png", 0), ("test/dogs/000.png", 1)]


def unblock_readers_after(path, seconds, done):
    """Open the named pipe `path` for writing after `seconds`, so a reader gets end of file."""

    def writer():
        if done.wait(seconds):
            return
        while not done.is_set():
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:  # no reader yet
                time.sleep(0.1)

    threading.Thread(target=writer, daemon=True).start()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this system")
def test_a_named_pipe_or_a_socket_named_like_an_image_is_skipped_not_opened(tmp_path):
    write_images(tmp_path, {"cats": 3, "dogs": 3}, size=(8, 8))
    pipe = tmp_path / "cats" / "pipe.png"
    os.mkfifo(pipe)
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(tmp_path / "dogs" / "socket.jpg"))
    done = threading.Event()
    unblock_readers_after(pipe, 20, done)  # today's hang becomes a failure, not a stuck test
    start = time.monotonic()
    try:
        with pytest.warns(UserWarning, match=r"Skipped 2 item\(s\).*not regular files"):
            loaded = load_dataset(tmp_path, image_size=8, augment=False)
    finally:
        done.set()
        listener.close()
    assert time.monotonic() - start < 20
    assert loaded.info.num_train + loaded.info.num_test == 6
    assert_each_file_once_with_its_label(loaded, tmp_path)


def test_a_capped_folder_dataset_keeps_every_class_in_train(tmp_path):
    write_images(tmp_path, {"a": 10, "b": 10, "c": 10}, size=(8, 8))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a class may be left without test images
        loaded = load_dataset(tmp_path, image_size=8, augment=False, max_examples=6)
    files = assert_each_file_once_with_its_label(loaded, tmp_path)
    assert len(files["train"]) == 6
    assert {label for _, label in files["train"]} == {0, 1, 2}


def test_test_labels_are_train_class_indices_when_test_lacks_the_first_class(tmp_path):
    write_images(tmp_path / "train", {"a": 2, "b": 2, "c": 2}, size=(8, 8))
    write_images(tmp_path / "test", {"b": 1, "c": 1}, size=(8, 8), seed=1)
    with pytest.warns(UserWarning, match="'a'"):
        loaded = load_dataset(tmp_path, image_size=8, augment=False)
    files = assert_each_file_once_with_its_label(loaded, tmp_path)
    assert files["test"] == [("test/b/000.png", 1), ("test/c/000.png", 2)]


@pytest.mark.parametrize("seed", [0, 1])
def test_a_folder_split_puts_each_file_in_one_split_under_its_label(tmp_path, seed):
    write_images(tmp_path, {"cats": 6, "dogs": 5, "owls": 4}, size=(8, 8))
    loaded = load_dataset(tmp_path, image_size=8, augment=False, seed=seed)
    files = assert_each_file_once_with_its_label(loaded, tmp_path)
    assert len(files["train"]) + len(files["test"]) == 15
    assert sorted(label for _, label in files["test"]) == [0, 1, 2]  # one fifth, rounded


def test_a_class_folder_that_links_to_the_dataset_itself_is_refused(tmp_path):
    write_images(tmp_path, {"cats": 2, "dogs": 2}, size=(8, 8))
    (tmp_path / "zebras").symlink_to(tmp_path)
    with pytest.raises(ValueError, match="'.*zebras'.*holds the whole dataset"):
        load_dataset(tmp_path, image_size=8, augment=False)


def test_corrupt_empty_and_misnamed_images_are_skipped_with_a_warning_that_counts_them(tmp_path):
    write_images(tmp_path, {"a": 4, "b": 4})
    (tmp_path / "a" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    (tmp_path / "a" / "empty.jpg").write_bytes(b"")
    (tmp_path / "b" / "notes.png").write_text("not an image at all")
    with pytest.warns(UserWarning, match=r"Skipped 3 image file\(s\) .* cannot be decoded") as seen:
        loaded = load_dataset(tmp_path, image_size=8, augment=False)
    message = str(next(w.message for w in seen if "cannot be decoded" in str(w.message)))
    assert "'a/corrupt.png'" in message and "'b/notes.png'" in message
    assert loaded.info.num_train + loaded.info.num_test == 8
    assert len(list(batches(loaded.train))) > 0
