"""Writing results: folders that are folders, files written whole or not at all."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def prepare_output_dir(output_dir: str | os.PathLike) -> Path:
    """Create `output_dir` if needed; refuse a path that is an existing file."""
    folder = Path(output_dir)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"output_dir {str(folder)!r} exists and is not a folder.")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_atomically(path: str | os.PathLike, data: str | bytes) -> None:
    """Write a file so that a crash leaves either the old file or the new one, never half of one."""
    path = Path(path)
    mode = "wb" if isinstance(data, bytes) else "w"
    with tempfile.NamedTemporaryFile(
        mode, dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    ) as tmp:
        tmp.write(data)
        tmp.flush()
        os.fsync(tmp.fileno())
    try:
        os.replace(tmp.name, path)
    except BaseException:
        Path(tmp.name).unlink(missing_ok=True)
        raise
