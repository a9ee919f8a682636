"""A comparison's results: the per-epoch table and what is derived from it.

`gc_tutorial.files.saving` writes a result into a folder, whole; `gc_tutorial.grids.saved` reads
one back, checked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from gc_tutorial.report import format_report


@dataclass
class ComparisonResult:
    """Everything a comparison produced: the tidy per-epoch table and what is derived from it."""

    history: pd.DataFrame  # one row per arm x seed x epoch
    summary: pd.DataFrame  # one row per arm
    paired: pd.DataFrame  # one row per seed: GC - baseline
    statistics: pd.DataFrame  # one row per metric: paired_summary of the per-seed differences
    parameters: dict
    dataset: dict
    identity: str = ""
    environment: dict = field(default_factory=dict)  # the machine: recorded when saved
    output_dir: Path | None = None  # where `saving.save_comparison` put it

    def report(self) -> str:
        """The 'Comparing performance' printout: mean +- std over seeds, then the paired test."""
        return format_report(self)


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
