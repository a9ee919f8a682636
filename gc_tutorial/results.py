"""A comparison's results: the result type, and its files written whole.

A result folder holds exactly one comparison: `save_reserved` writes the tables and
results.json into a staging folder beside it (where `run_comparison` has drawn the plots) and
swaps that into place. A folder holding anything but a comparison's files
(`COMPARISON_FILES`) is refused and never deleted, and a lock beside it keeps out a second
comparison. `gc_tutorial.grids.saved` reads a result folder back, checked.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gc_tutorial.report import format_report
from gc_tutorial.storage import check_replaceable, reserve_folder, swap_into_place, write_atomically

TABLE_FILES = ("history.csv", "summary.csv", "paired.csv", "statistics.csv")
PLOT_FILES = ("learning_curves.png", "final_test_accuracy.png", "epoch_times.png")
RESULTS_FILE = "results.json"
COMPARISON_FILES = frozenset((*TABLE_FILES, *PLOT_FILES, RESULTS_FILE))  # all a save writes
HOLDS = "an earlier comparison's files"


@dataclass
class ComparisonResult:
    """Everything a comparison produced: the tidy per-epoch table and what is derived from it."""

    history: pd.DataFrame  # one row per arm x seed x epoch
    summary: pd.DataFrame  # one row per arm
    paired: pd.DataFrame  # one row per seed: GC - baseline
    statistics: pd.DataFrame  # one row per metric: paired_summary of the per-seed differences
    parameters: dict
    environment: dict
    dataset: dict
    identity: str = ""
    output_dir: Path | None = None

    def report(self) -> str:
        """The 'Comparing performance' printout: mean +- std over seeds, then the paired test."""
        return format_report(self)

    def save(self, output_dir: str | os.PathLike) -> Path:
        """Write the tables and results.json into `output_dir`, all or nothing.

        `output_dir` must be new, empty, or hold only an earlier comparison's files, which
        are replaced (and said out loud); see `reserve_output_dir`. The plots are drawn by
        `plots.save_comparison_plots` (as `run_comparison` does, into the staging folder).
        """
        with reserve_output_dir(output_dir) as (folder, staging):
            return self.save_reserved(folder, staging)

    def save_reserved(self, folder: Path, staging: Path) -> Path:
        """`save` into a folder that `reserve_output_dir` holds: write `staging`, swap it in.

        Whatever else is already in `staging` (the plots) is swapped in with it.
        """
        tables = {
            "history.csv": self.history,
            "summary.csv": self.summary,
            "paired.csv": self.paired,
            "statistics.csv": self.statistics,
        }
        for name, table in tables.items():
            write_atomically(staging / name, table.to_csv(index=False))
        payload = {
            "identity": self.identity,
            "parameters": self.parameters,
            "environment": self.environment,
            "dataset": self.dataset,
            "summary": records(self.summary),
            "paired": records(self.paired),
            "statistics": records(self.statistics),
            "history": records(self.history),
            "files": {name: file_sha256(staging / name) for name in TABLE_FILES},
        }
        write_atomically(staging / RESULTS_FILE, json.dumps(payload, indent=2) + "\n")
        check_results_replaceable(
            folder, kept_in=staging
        )  # again: nothing that appeared is deleted
        _announce_replacement(folder, self.identity)
        swap_into_place(staging, folder, COMPARISON_FILES)
        self.output_dir = folder
        return folder


@contextlib.contextmanager
def reserve_output_dir(output_dir: str | os.PathLike) -> Iterator[tuple[Path, Path]]:
    """Hold `output_dir` for one comparison; yield it (`~` expanded, resolved) and its empty
    staging folder.

    Refused, before any training, unless it can be written and is new, empty or holds
    only a comparison's files (`COMPARISON_FILES`; hidden entries are kept, never
    counted), and while another comparison holds it (`FolderInUseError`, from a lock
    file beside it). See `storage.reserve_folder`.
    """
    with reserve_folder(output_dir, COMPARISON_FILES, holds=HOLDS) as (folder, staging):
        yield folder, staging


def check_results_replaceable(folder: str | os.PathLike, kept_in: Path | None = None) -> None:
    """Refuse an `output_dir` whose replacement would delete anything but a comparison's files.

    `kept_in` names where finished results wait when refused at save time.
    """
    waiting = f" The finished results wait in {str(kept_in)!r}." if kept_in else ""
    folder = Path(folder).expanduser().resolve()
    check_replaceable(folder, COMPARISON_FILES, holds=HOLDS, note=waiting)


def _announce_replacement(folder: Path, identity: str) -> None:
    path = folder / RESULTS_FILE
    if not path.is_file():
        return
    try:
        earlier = json.loads(path.read_text())
    except (OSError, ValueError):
        earlier = None
    old_identity = earlier.get("identity") if isinstance(earlier, dict) else None
    settings = (
        "" if old_identity == identity else f" (other settings: {old_identity} -> {identity})"
    )
    print(f"Replacing the finished comparison in {folder}{settings}.", flush=True)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def records(frame: pd.DataFrame) -> list[dict]:
    return jsonable(frame.to_dict(orient="records"))


def jsonable(value):
    """Plain Python values for json.dumps: numpy scalars unwrapped, NaN/inf as None."""
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
