"""Writing results: folders that are folders, files written whole or not at all."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import BinaryIO


def prepare_output_dir(output_dir: str | os.PathLike) -> Path:
    """Create `output_dir` if needed; refuse a path that is an existing file."""
    folder = Path(output_dir)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"output_dir {str(folder)!r} exists and is not a folder.")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_atomically(path: str | os.PathLike, data: str | bytes) -> None:
    """Write a file so that a crash leaves either the old file or the new one, never half of one.

    The file gets the permissions any new file gets (0666 less the umask, so 0644 under the
    usual umask 022): results are there to be read.
    """
    path = Path(path)
    tmp_path, tmp = _create_temporary_file(path)
    try:
        with tmp:
            tmp.write(data.encode() if isinstance(data, str) else data)  # str as UTF-8
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def _create_temporary_file(path: Path) -> tuple[Path, BinaryIO]:
    """A new hidden file next to `path`, opened for writing, made as `open` makes files."""
    while True:
        tmp_path = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            descriptor = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        return tmp_path, os.fdopen(descriptor, "wb")
