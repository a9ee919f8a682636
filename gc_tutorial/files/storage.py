"""Writing results: folders that are folders, files whole or absent, one run per folder.

A results folder is replaced as a whole (`reserve_folder`, `swap_into_place`) only when
every visible entry in it is one our code writes (`check_only_ours`): anything else is
refused, named, and never deleted.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import tempfile
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import BinaryIO, TextIO


class FolderInUseError(RuntimeError):
    """Another process holds the lock of a runs folder or of an output folder."""


def prepare_output_dir(output_dir: str | os.PathLike, name: str = "output_dir") -> Path:
    """Create `output_dir` (`~` expanded) if needed and check that files can be written in it.

    `name` is the argument named in the one-line errors: a path that is a file, or that
    runs through one, and a folder that cannot be written to.
    """
    folder = Path(output_dir).expanduser()
    check_writable(folder, name, beside=False)
    folder.mkdir(exist_ok=True)
    return folder


def check_writable(folder: Path, name: str = "output_dir", *, beside: bool = True) -> None:
    """Refuse, in one line naming `name`, a `folder` that is a file or lies under one, and
    one that cannot be written in; with `beside`, the folder that holds it (where a swap
    stages and locks) must be writable too. Creates the folders above `folder`."""
    received = f"Received: {name}={str(folder)!r}"
    for path in (folder, *folder.parents):
        if path.is_dir():
            break
        if path.exists() or path.is_symlink():
            where = "is" if path == folder else f"is inside {str(path)!r}, which is"
            raise NotADirectoryError(
                f"`{name}` must be a folder: {str(folder)!r} {where} not a folder. {received}"
            )
    places = [folder] if folder.is_dir() else []
    if beside or not places:
        places.append(folder.parent)
    try:
        for place in places:
            place.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=place):
                pass
    except OSError as error:
        reason = "files cannot be created there" if error.errno == errno.ENOENT else None
        raise PermissionError(
            f"Cannot write results in {str(place)!r} ({reason or error.strerror}): `{name}` "
            f"must be a folder you can write to. {received}"
        ) from None


def write_atomically(path: str | os.PathLike, data: str | bytes) -> None:
    """Write a file so that a crash leaves either the old file or the new one, never half of one.

    The file gets the permissions any new file gets (0666 less the umask, so 0644 under the
    usual umask 022): results are there to be read. A write that fails (a full disk, a folder
    that vanished) raises an `OSError` that names the file and the cause.
    """
    path = Path(path)
    try:
        tmp_path, tmp = _create_temporary_file(path)
    except OSError as error:
        raise _naming(error, path) from None
    try:
        with tmp:
            tmp.write(data.encode() if isinstance(data, str) else data)  # str as UTF-8
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_path, path)
    except OSError as error:
        tmp_path.unlink(missing_ok=True)
        raise _naming(error, path) from None
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def _naming(error: OSError, path: Path) -> OSError:
    """`error` (same class and errno) saying which file could not be written, and why."""
    return type(error)(error.errno, f"Cannot write {str(path)!r}: {error.strerror}")


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


def foreign_entries(
    folder: str | os.PathLike, our_names: Collection[str], *, hidden: bool = False
) -> list[str]:
    """The entries of `folder` that our code did not write, sorted: every name not in
    `our_names`, and any of those names that is a folder (we write files). Hidden entries are
    counted only with `hidden`: where a folder is swapped, they are moved back, never deleted;
    where it is deleted (a grid's incomplete cell), they count as anything else."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(
        entry.name
        for entry in folder.iterdir()
        if (hidden or not entry.name.startswith(".")) and not _is_ours(entry, our_names)
    )


def _is_ours(entry: Path, our_names: Collection[str]) -> bool:
    return entry.name in our_names and not entry.is_dir()


def check_only_ours(
    folder: str | os.PathLike,
    our_names: Collection[str],
    *,
    name: str = "output_dir",
    holds: str = "files this project writes",
    note: str = "",
    hidden: bool = False,
) -> None:
    """Refuse a `folder` that holds anything our code did not write, naming those entries.

    A folder may be replaced as a whole only when every entry in it is one of `our_names`
    (see `foreign_entries`; hidden ones too with `hidden`). `name` is the argument named in
    the message, `holds` says what such a folder holds, `note` is added (e.g. where results
    wait).
    """
    folder = Path(folder)
    others = foreign_entries(folder, our_names, hidden=hidden)
    if others:
        more = f", and {len(others) - 5} more" if len(others) > 5 else ""
        raise ValueError(
            f"`{name}` must be a new or empty folder, or hold only {holds} to replace as a "
            f"whole (nothing else is ever deleted); it holds {', '.join(others[:5])}{more}."
            f"{note} Choose another folder, or move those out. Received: {name}={str(folder)!r}"
        )


@contextlib.contextmanager
def reserve_folder(
    output_dir: str | os.PathLike,
    our_names: Collection[str],
    name: str = "output_dir",
    holds: str = "files this project writes",
) -> Iterator[tuple[Path, Path]]:
    """Hold `output_dir` (`~` expanded, resolved) for one run that will replace it as a whole:
    yield it and its new, empty staging folder beside it.

    Refused, before any work, when it cannot be written, is the current folder or holds it,
    holds anything but `our_names` (`check_only_ours`), or another run holds it
    (`FolderInUseError`, from a lock file beside it). A staging folder left by an
    interrupted run is discarded; this run's is removed when a write fails, or is left empty.
    """
    folder = Path(output_dir).expanduser().resolve()
    check_writable(folder, name)
    lock_path = folder.parent / f".{folder.name}.lock"
    with lock_file(lock_path, f"{name} {str(folder)!r}", remove=True):
        check_replaceable(folder, our_names, name, holds=holds)
        staging = staging_folder(folder)
        try:
            yield folder, staging
        except OSError:  # a write failed (a full disk): leave no half-written files behind
            shutil.rmtree(staging, ignore_errors=True)
            raise
        finally:
            if staging.is_dir() and not any(staging.iterdir()):
                staging.rmdir()  # nothing was written: leave no empty staging folder behind


def check_replaceable(
    folder: Path,
    our_names: Collection[str],
    name: str = "output_dir",
    *,
    holds: str = "files this project writes",
    note: str = "",
) -> None:
    """Refuse a `folder` that `swap_into_place` must not replace: a file, the current folder
    or one holding it, or a folder holding anything but `our_names`."""
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(
            f"`{name}` must be a folder: {str(folder)!r} is not a folder. "
            f"Received: {name}={str(folder)!r}"
        )
    if folder == Path.cwd() or folder in Path.cwd().parents:
        raise ValueError(
            f"`{name}` must not be the current folder or hold it: saving replaces it as a "
            f"whole.{note} Received: {name}={str(folder)!r}"
        )
    check_only_ours(folder, our_names, name=name, holds=holds, note=note)


def staging_folder(folder: Path) -> Path:
    """A new, empty staging folder beside `folder`, where a run writes until it is complete.

    One left by an interrupted run (its finished parts, kept apart) is discarded, so
    nothing of it can leak into this run's results.
    """
    staging = folder.parent / f".{folder.name}.staging"
    if staging.exists():
        print(f"Discarding an interrupted comparison's files in {staging}.", flush=True)
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    return staging


def swap_into_place(staging: Path, folder: Path, our_names: Collection[str]) -> None:
    """Replace `folder` by `staging`; only `our_names` of the old folder are deleted.

    The old folder is moved aside (as `.<name>.old`), `staging` moved into place, and every
    other entry of the old one (hidden ones, anything that appeared since it was checked)
    moved back. A crash leaves the old or the new folder whole, and the rest in `.old`,
    which the next swap moves back first.
    """
    old = folder.parent / f".{folder.name}.old"
    if old.exists():  # a swap that was cut short
        if folder.exists():
            _move_back(old, folder, our_names)
        else:
            os.replace(old, folder)
    if folder.exists():
        os.replace(folder, old)
    os.replace(staging, folder)
    if old.exists():
        _move_back(old, folder, our_names)


def _move_back(old: Path, folder: Path, our_names: Collection[str]) -> None:
    """Move every entry of `old` that is not one of `our_names` into `folder`, then delete
    `old` if only ours are left; refuse to delete anything else."""
    for entry in old.iterdir():
        if not _is_ours(entry, our_names) and not os.path.lexists(folder / entry.name):
            os.replace(entry, folder / entry.name)
    left = [entry.name for entry in old.iterdir() if not _is_ours(entry, our_names)]
    if left:
        raise FileExistsError(
            f"{str(old)!r} holds {', '.join(sorted(left))}, which {str(folder)!r} also holds: "
            "nothing was deleted. Move them where they belong, then remove that folder."
        )
    shutil.rmtree(old)
