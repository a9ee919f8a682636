"""A saved comparison read back, checked: what batch runs and the study read.

results.json records the settings' identity and a hash of every table, so `load_comparison`
refuses a folder whose files do not belong together, and it recomputes the summaries from the
per-epoch table to catch an edited one.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pandas as pd

from gc_tutorial.analysis import HISTORY_COLUMNS, paired_differences, paired_statistics, summarize
from gc_tutorial.files.saving import RESULTS_FILE, file_sha256
from gc_tutorial.results import ComparisonResult, records

RELATIVE_TOLERANCE = 1e-9  # for numbers recomputed from a table read back


class MixedResultsError(RuntimeError):
    """A result folder that is not one whole comparison: files missing, changed or unreadable."""


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
