"""Writing results: folders that are folders, files whole or absent, one run per folder."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, TextIO

LOCK_FILE_NAME = ".lock"
SAFE_NAME_LENGTH = 100
# Runs of characters outside [A-Za-z0-9._-], and of two or more dots, each become one "_".
UNSAFE_RUNS = re.compile(r"(?:[^A-Za-z0-9._-]|\.\.+)+")


class FolderInUseError(RuntimeError):
    """Another process holds the lock of a runs folder or of an output folder."""


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


@contextlib.contextmanager
def lock_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Hold `path` (a runs folder, created if needed) for this process until the block ends.

    The lock is an `fcntl.flock` on `<path>/.lock`, released when the block ends or the
    process dies. A folder that another process (or another `lock_folder` block) holds is
    refused at once with `FolderInUseError`, rather than waited for, so two runs never
    write into one folder.
    """
    folder = prepare_output_dir(path)
    with lock_file(folder / LOCK_FILE_NAME, f"Runs folder {str(folder)!r}"):
        yield folder


@contextlib.contextmanager
def lock_file(
    lock_path: Path, holds: str, *, remove: bool = False, wait: bool = False
) -> Iterator[None]:
    """Hold an `fcntl.flock` on `lock_path` until the block ends; refuse at once if it is held.

    `holds` names what the lock guards, for the `FolderInUseError`. With `remove`, the
    lock file is deleted when the block ends, so it leaves nothing behind. With `wait`,
    a held lock is waited for instead (for short blocks, such as merging into one file).
    """
    import fcntl  # POSIX only: importing it here keeps the rest of this module portable

    with _open_locked(lock_path, holds, wait) as lock:
        lock.truncate(0)
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        try:
            yield
        finally:
            if remove:
                lock_path.unlink(missing_ok=True)  # still locked: a late opener retries
            lock.truncate(0)  # no stale pid for the next holder to be blamed by
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextlib.contextmanager
def _open_locked(lock_path: Path, holds: str, wait: bool = False) -> Iterator[TextIO]:
    """`lock_path` opened and locked; retried if a removing holder deleted it meanwhile."""
    import fcntl

    while True:
        with open(lock_path, "a+") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                raise FolderInUseError(
                    f"{holds} is in use: {_lock_holder(lock)} holds {str(lock_path)!r}. "
                    "Wait for that run to finish, or choose another folder."
                ) from None
            if _is_current(lock, lock_path):
                yield lock
                return


def _is_current(lock: TextIO, lock_path: Path) -> bool:
    """Whether `lock` is still the file at `lock_path` (not one deleted by its last holder)."""
    try:
        return os.path.samestat(os.fstat(lock.fileno()), os.stat(lock_path))
    except FileNotFoundError:
        return False


def _lock_holder(lock: TextIO) -> str:
    """'pid N' as the holder wrote it into the lock file, or 'another process'."""
    lock.seek(0)
    pid = lock.read().strip()
    return f"pid {pid}" if pid.isdigit() else "another process"


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
