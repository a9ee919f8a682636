"""A comparison's results: the per-epoch table, what is derived from it, and its printout.

`gc_tutorial.files.saving` writes a result into a folder, whole; `gc_tutorial.grids.saved` reads
one back, checked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from gc_tutorial.stats import paired_summary

REPORT_METRICS = [
    ("final_test_accuracy", "Test accuracy (final):"),
    ("best_test_accuracy", "Test accuracy (best):"),
    ("final_test_loss", "Test loss (final):"),
    ("final_train_loss", "Train loss (final):"),
    ("final_train_accuracy", "Train accuracy:"),
]


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
        """The 'Comparing performance' printout: mean +- std over seeds per arm, then the
        paired GC - baseline test with its interval."""
        p = self.parameters
        lines = [
            f"Comparing performance: {self.dataset.get('name')} ({self.dataset.get('kind')}), "
            f"{p['optimizer']} lr={p['learning_rate']:g}, {p['epochs']} epoch(s), "
            f"seeds {p['seeds']}, image {p['image_size']}px, batch {p['batch_size']}",
            *data_notes([self.dataset]),
        ]
        for row in self.summary.itertuples():
            using = "Using" if row.arm == "gc" else "Not using"
            lines += [
                f"{using} Gradient Centralization",
                *(
                    f"  {title:<22} {_row_mean_std(row, metric)}"
                    for metric, title in REPORT_METRICS
                ),
                f"  First epoch (data cache; tracing in seed 1): {row.first_epoch_time_s_mean:.2f} "
                f"s; steady epoch: {_row_mean_std(row, 'steady_epoch_time_s', 2)} s "
                f"({row.images_per_second_mean:.1f} images/s)",
            ]
            if row.diverged:
                lines.append(f"  Diverged in {row.diverged} of {row.seeds} seed(s).")
        diff = self.paired["final_test_accuracy_diff"]
        lines.append(
            "Paired difference GC - baseline, final test accuracy, per seed: "
            + ", ".join(f"seed {s}: {d:+.4f}" for s, d in zip(self.paired["seed"], diff))
        )
        lines.append(describe_paired(diff.to_numpy(dtype=float)))
        return "\n".join(lines)


def data_notes(datasets: list[dict]) -> list[str]:
    """The NOTE lines for results made on these datasets (`DatasetInfo` records): one for
    synthetic data and one for digits, neither of which is horses_or_humans."""
    notes = []
    if any(dataset.get("synthetic") for dataset in datasets):
        notes.append(
            "NOTE: SYNTHETIC data, generated offline: these are not horses_or_humans results."
        )
    if any(dataset.get("kind") == "digits" for dataset in datasets):
        notes.append("NOTE: scikit-learn digits (real, offline): not horses_or_humans results.")
    return notes


def describe_paired(differences: np.ndarray, what: str = "GC - baseline") -> str:
    """The paired summary in words, or why there is none."""
    if len(differences) < 2:
        return "One seed: no confidence interval (run 2 or more seeds to get one)."
    if not np.isfinite(differences).all():
        return "A run diverged (non-finite metric): no confidence interval."
    return paired_summary(differences).describe(what)


def _row_mean_std(row, metric: str, digits: int = 4) -> str:
    """'mean +- std', with 'n/a' for the std of a single seed."""
    mean, std = getattr(row, f"{metric}_mean"), getattr(row, f"{metric}_std")
    return f"{mean:.{digits}f} +- {'n/a' if not np.isfinite(std) else f'{std:.{digits}f}'}"


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
