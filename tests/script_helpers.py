"""Helpers shared by the tests of the scripts in benchmarks/ and docs/, which are not a package."""

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def folder_on_path(folder: Path) -> Iterator[None]:
    """Put `folder` first on `sys.path` while the block runs, so that its scripts import as
    modules (and import their siblings), as they do when run from that folder."""
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        sys.path.remove(str(folder))
