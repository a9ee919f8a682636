"""Saving a comparison: its folder of tables, plots and results.json, written whole.

A results folder holds exactly one comparison. `reserve_output_dir` holds it for one run
and gives a staging folder beside it; `save_reserved` writes the tables and results.json
there (where `run_comparison` has drawn the plots) and swaps it into place. A folder
holding anything but a comparison's files (`COMPARISON_FILES`) is refused and never
deleted, and a lock beside it keeps out a second comparison. `gc_tutorial.grids.saved`
reads a results folder back, checked. A comparison kept in memory never loads this module.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from gc_tutorial.files.environment import describe_environment
from gc_tutorial.files.storage import (
    check_replaceable,
    reserve_folder,
    swap_into_place,
    write_atomically,
)
from gc_tutorial.plots import plot_epoch_times, plot_final_accuracy, plot_learning_curves
from gc_tutorial.results import ComparisonResult, records

TABLE_FILES = ("history.csv", "summary.csv", "paired.csv", "statistics.csv")
PLOTS = {
    "learning_curves.png": plot_learning_curves,
    "final_test_accuracy.png": plot_final_accuracy,
    "epoch_times.png": plot_epoch_times,
}
RESULTS_FILE = "results.json"
COMPARISON_FILES = frozenset((*TABLE_FILES, *PLOTS, RESULTS_FILE))  # all a save writes
HOLDS = "an earlier comparison's files"


def save_comparison(result: ComparisonResult, output_dir: str | os.PathLike) -> Path:
    """Write the tables and results.json of `result` into `output_dir`, all or nothing.

    `output_dir` must be new, empty, or hold only an earlier comparison's files, which
    are replaced (and said out loud); see `reserve_output_dir`. The plots are drawn by
    `save_comparison_plots` (as `run_comparison` does, into the staging folder).
    """
    with reserve_output_dir(output_dir) as (folder, staging):
        return save_reserved(result, folder, staging)


def save_reserved(result: ComparisonResult, folder: Path, staging: Path) -> Path:
    """`save_comparison` into a folder that `reserve_output_dir` holds: write `staging`,
    swap it in. Whatever else is already in `staging` (the plots) is swapped in with it."""
    tables = {
        "history.csv": result.history,
        "summary.csv": result.summary,
        "paired.csv": result.paired,
        "statistics.csv": result.statistics,
    }
    for name, table in tables.items():
        write_atomically(staging / name, table.to_csv(index=False))
    if not result.environment:  # a new result: this process made it, on this machine
        result.environment = describe_environment(result.parameters.get("jit_compile", "auto"))
    payload = {
        "identity": result.identity,
        "parameters": result.parameters,
        "environment": result.environment,
        "dataset": result.dataset,
        "summary": records(result.summary),
        "paired": records(result.paired),
        "statistics": records(result.statistics),
        "history": records(result.history),
        "files": {name: file_sha256(staging / name) for name in TABLE_FILES},
    }
    write_atomically(staging / RESULTS_FILE, json.dumps(payload, indent=2) + "\n")
    check_results_replaceable(folder, kept_in=staging)  # again: nothing that appeared is deleted
    _announce_replacement(folder, result.identity)
    swap_into_place(staging, folder, COMPARISON_FILES)
    result.output_dir = folder
    return folder


def keep_history(history: pd.DataFrame, staging: Path) -> None:
    """The per-epoch table so far, kept in the staging folder: an interrupted comparison
    keeps its finished arms, apart from any finished results."""
    write_atomically(staging / "history.csv", history.to_csv(index=False))


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


def check_output_dir(output_dir: str | os.PathLike, dataset: str) -> Path:
    """The output folder with `~` expanded; refused if it is inside the dataset's folder
    (its files would be read as a class next time) or holds the dataset's folder."""
    path = Path(output_dir).expanduser()
    data = Path(dataset).expanduser()
    if dataset not in ("digits", "synthetic") and data.is_dir():
        data, resolved = data.resolve(), path.resolve()
        if resolved.is_relative_to(data) or data.is_relative_to(resolved):
            raise ValueError(
                f"`output_dir` must be neither inside the dataset folder {str(data)!r} nor "
                "around it (results there would be read as images on the next run). "
                f"Received: output_dir={str(output_dir)!r}."
            )
    return path


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


def save_comparison_plots(history: pd.DataFrame, folder: str | os.PathLike) -> list[Path]:
    """Write the three comparison plots as PNG into `folder`; return their paths.

    `run_comparison` writes them into the staging folder, before the result is swapped in.
    """
    return [save_figure(plot(history), Path(folder) / name) for name, plot in PLOTS.items()]


def save_figure(figure: plt.Figure, path: str | os.PathLike) -> Path:
    """Save a figure as PNG atomically and close it."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    write_atomically(path, buffer.getvalue())
    return Path(path)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
