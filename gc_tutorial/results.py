"""A comparison's results: the result type, its files written whole, read back checked.

A result folder holds exactly one comparison: `save_reserved` writes the tables and
results.json into a staging folder beside it (where `run_comparison` has drawn the
plots) and swaps that into place. results.json records the settings' identity and a
hash of every table, so `load_comparison` refuses a folder whose files do not belong
together, and it recomputes the summaries from the per-epoch table to catch an edited
one. A folder holding anything but a comparison's files (`COMPARISON_FILES`) is refused
and never deleted, and a lock beside it keeps out a second comparison.

The tables are computed in `analysis` and the report written in `report`; their names
are importable from here as well.
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

from gc_tutorial.analysis import (
    ARMS,
    HISTORY_COLUMNS,
    PAIRED_METRICS,
    paired_differences,
    paired_statistics,
    per_run_table,
    summarize,
)
from gc_tutorial.report import (
    REPORT_METRICS,
    data_notes,
    describe_environment,
    describe_paired,
    format_report,
    mean_std,
    memory_gib,
    processor_name,
)
from gc_tutorial.storage import (
    check_replaceable,
    reserve_folder,
    swap_into_place,
    write_atomically,
)

__all__ = [  # names other modules import from here, those of `analysis` and `report` too
    "ARMS",
    "COMPARISON_FILES",
    "HISTORY_COLUMNS",
    "PAIRED_METRICS",
    "REPORT_METRICS",
    "ComparisonResult",
    "MixedResultsError",
    "check_output_dir",
    "data_notes",
    "describe_environment",
    "describe_paired",
    "file_sha256",
    "format_report",
    "jsonable",
    "load_comparison",
    "mean_std",
    "memory_gib",
    "paired_differences",
    "paired_statistics",
    "per_run_table",
    "processor_name",
    "records",
    "reserve_output_dir",
    "summarize",
]

TABLE_FILES = ("history.csv", "summary.csv", "paired.csv", "statistics.csv")
PLOT_FILES = ("learning_curves.png", "final_test_accuracy.png", "epoch_times.png")
RESULTS_FILE = "results.json"
COMPARISON_FILES = frozenset((*TABLE_FILES, *PLOT_FILES, RESULTS_FILE))  # all a save writes
HOLDS = "an earlier comparison's files"
DERIVED_TABLES = ("summary", "paired", "statistics")  # recomputed from "history" on load
RELATIVE_TOLERANCE = 1e-9  # for numbers recomputed from a table read back


class MixedResultsError(RuntimeError):
    """A result folder that is not one whole comparison: files missing, changed or unreadable."""


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
        check_output_dir(folder, kept_in=staging)  # again: nothing that appeared is deleted
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


def check_output_dir(folder: str | os.PathLike, kept_in: Path | None = None) -> None:
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


def load_comparison(folder: str | os.PathLike) -> ComparisonResult:
    """Read back a comparison written by `ComparisonResult.save`.

    Raises `FileNotFoundError` for a folder without a finished comparison, and
    `MixedResultsError` if results.json cannot be read as one, if its tables are not the
    ones it was written with, or if a summary in it does not follow from its per-epoch
    table (an edited number).
    """
    folder = Path(folder).expanduser()
    path = folder / RESULTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"No results.json in {str(folder)!r}: not a finished comparison.")
    payload = _read_payload(path)
    for name, digest in payload.get("files", {}).items():
        if not (folder / name).is_file() or file_sha256(folder / name) != digest:
            raise MixedResultsError(
                f"{str(folder / name)!r} does not belong to the comparison recorded in "
                f"{str(path)!r} (missing or changed since): refusing to mix results."
            )
    try:
        result = ComparisonResult(
            history=pd.DataFrame(payload["history"], columns=HISTORY_COLUMNS),
            summary=pd.DataFrame(payload["summary"]),
            paired=pd.DataFrame(payload["paired"]),
            statistics=pd.DataFrame(payload.get("statistics", [])),
            parameters=dict(payload["parameters"]),
            environment=dict(payload["environment"]),
            dataset=dict(payload["dataset"]),
            identity=payload.get("identity", ""),
            output_dir=folder,
        )
        _check_tables_agree(result, payload, folder, path)
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise MixedResultsError(
            f"{str(path)!r} is not a comparison's results.json (its tables cannot be read: "
            f"{type(error).__name__}: {error}). Run the comparison again into this folder."
        ) from None
    return result


def _read_payload(path: Path) -> dict:
    """results.json as the dict a save writes; `MixedResultsError` naming it otherwise."""
    try:
        payload = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MixedResultsError(
            f"{str(path)!r} is not a comparison's results.json (unreadable JSON: {error}). "
            "Run the comparison again into this folder, or remove the file."
        ) from None
    required = {"history", "summary", "paired", "parameters", "environment", "dataset"}
    missing = sorted(required - set(payload)) if isinstance(payload, dict) else None
    if missing is None or missing:
        what = f"no {', '.join(missing)}" if missing else f"a JSON {type(payload).__name__}"
        raise MixedResultsError(
            f"{str(path)!r} is not a comparison's results.json ({what}). "
            "Run the comparison again into this folder, or remove the file."
        )
    return payload


def _check_tables_agree(result: ComparisonResult, payload: dict, folder: Path, path: Path):
    """Refuse a results.json whose per-epoch table is not history.csv's, or whose summaries
    do not follow from that table."""
    if "history.csv" in payload.get("files", {}):
        table = pd.read_csv(folder / "history.csv", dtype={"arm": str, "initial_weights": str})
        _refuse_unless_same(records(table), payload["history"], "history", path)
    kinds = {"seed": int, "epoch": int, "arm": str, "diverged": bool, "initial_weights": str}
    history = result.history.astype({name: kinds.get(name, float) for name in HISTORY_COLUMNS})
    paired = paired_differences(history)
    recomputed = {"paired": paired}
    if "num_train" in result.dataset:
        recomputed["summary"] = summarize(history, result.dataset["num_train"])
    if payload.get("statistics"):
        confidence = payload["statistics"][0].get("confidence", 0.95)
        recomputed["statistics"] = paired_statistics(paired, confidence)
    for name, table in recomputed.items():
        _refuse_unless_same(records(table), payload[name], name, path)


def _refuse_unless_same(expected: list[dict], found: list[dict], name: str, path: Path) -> None:
    if len(expected) != len(found) or not all(map(_same_record, expected, found)):
        raise MixedResultsError(
            f"The {name} table in {str(path)!r} does not follow from the comparison's "
            f"per-epoch table (edited since it was saved?): refusing to mix results."
        )


def _same_record(expected: dict, found) -> bool:
    if not isinstance(found, dict) or set(expected) != set(found):
        return False
    return all(_same_value(expected[key], found[key]) for key in expected)


def _same_value(expected, found) -> bool:
    numbers = (int, float)
    if isinstance(expected, numbers) and isinstance(found, numbers):
        return math.isclose(expected, found, rel_tol=RELATIVE_TOLERANCE, abs_tol=1e-12)
    return expected == found


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
