"""A runs folder: held by one grid at a time, one safely named folder per cell."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

from gc_tutorial.files.storage import lock_file, prepare_output_dir

LOCK_FILE_NAME = ".lock"
SAFE_NAME_LENGTH = 100
# Runs of characters outside [A-Za-z0-9._-], and of two or more dots, each become one "_".
UNSAFE_RUNS = re.compile(r"(?:[^A-Za-z0-9._-]|\.\.+)+")


@contextlib.contextmanager
def lock_folder(path: str | os.PathLike, name: str = "runs_dir") -> Iterator[Path]:
    """Hold `path` (a runs folder, created if needed) for this process until the block ends.

    The lock is an `fcntl.flock` on `<path>/.lock`, released when the block ends or the
    process dies. A folder that another process (or another `lock_folder` block) holds is
    refused at once with `FolderInUseError`, rather than waited for, so two runs never
    write into one folder.
    """
    folder = prepare_output_dir(path, name)
    with lock_file(folder / LOCK_FILE_NAME, f"Runs folder {str(folder)!r}"):
        yield folder


def safe_name(text: str) -> str:
    """`text` as one folder name: only [A-Za-z0-9._-], no '..', no leading '.' or '-', never empty.

    A name that is already safe is kept as it is. Any other is cleaned and gets a short
    hash of `text`, so two different texts never share a folder: "a/b" becomes
    "a_b-<hash>", not "a_b", and "../../x" becomes "_x-<hash>", inside the runs folder.
    """
    if not isinstance(text, str):
        raise TypeError(f"`text` must be a str, got {text!r} ({type(text).__name__}).")
    cleaned = UNSAFE_RUNS.sub("_", text).lstrip(".-")
    if text and cleaned == text and len(text) <= SAFE_NAME_LENGTH:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{cleaned[:SAFE_NAME_LENGTH] or 'run'}-{digest}"
