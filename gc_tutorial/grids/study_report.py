"""The study's README and run table: text from the study's tables and its study.json.

Generated from the tables, so the words always match the files (`study_readme`); notebook 6
quotes the same sentences (`at_best_sentences`) and shows how each study was run
(`study_runs_table`).
"""

from __future__ import annotations

import pandas as pd

from gc_tutorial.analysis import ARMS
from gc_tutorial.grids.tables import STUDY_CONFIDENCE
from gc_tutorial.stats import SUMMARY_FIELDS, PairedSummary

# How the study's README names each kind of source (`DatasetInfo.kind`).
DATASET_LABELS = {
    "digits": "real handwritten digits",
    "synthetic": "SYNTHETIC data",
    "folder": "images from a folder",
    "tfds": "tensorflow-datasets",
}


def study_runs_table(record: dict) -> pd.DataFrame:
    """study.json as a table: one column per dataset, what was run and how long it took."""
    return pd.DataFrame(
        {
            dataset: {
                **run["settings"],
                "seeds": len(run["seeds"]),
                "cells": sum(len(rates) for rates in run["grid"].values()),
                "target accuracy": run["target_accuracy"],
                "wall time (min)": run["wall_time_min"],
                "where": run.get("workers", "n/a"),
                "processor": run["environment"]["processor"],
                "cores": run["environment"]["cpu_count"],
                "command": run["command"],
            }
            for dataset, run in record.items()
        }
    )


def at_best_sentences(at_best: pd.DataFrame) -> list[str]:
    """Per row of `compare_at_best_learning_rates`: the optimizer, each arm's learning rate
    and the paired difference in words, with its interval."""
    return [
        f"{row['optimizer']} (baseline lr {row['baseline_learning_rate']:g}, GC lr "
        f"{row['gc_learning_rate']:g}): "
        + (
            _summary(row).describe("difference")
            if row["n"] >= 2
            else f"only {row['n']} seed(s) with a final value in both arms: no paired summary."
        )
        + _diverged_note(row)
        for row in at_best.to_dict(orient="records")
    ]


def dataset_label(dataset: str, run: dict | None) -> str:
    """What the data of `dataset` are, from the kind its study.json `run` recorded."""
    kind = (run or {}).get("kind", dataset if dataset in ("digits", "synthetic") else None)
    label = DATASET_LABELS.get(kind, "kind of data not recorded")
    return label if dataset == "horses_or_humans" else f"{label}; not horses_or_humans"


def study_readme(
    summary: pd.DataFrame, at_best: pd.DataFrame, reach: pd.DataFrame, record: dict
) -> str:
    """docs/study/README.md: the answer in words, with its intervals, then how it was run.

    Generated from the tables, so the words always match the files."""
    lines = ["# The GC study", ""]  # the answer first: the site's landing page quotes it
    level = f"{STUDY_CONFIDENCE:.0%}"
    for dataset, rows in at_best.groupby("dataset", sort=False):
        cells = summary[summary["dataset"] == dataset]
        diverged = (cells["baseline_diverged"] > 0) | (cells["gc_diverged"] > 0)
        above = int((cells["detected"] & (cells["mean"] > 0)).sum())
        below = int((cells["detected"] & (cells["mean"] < 0)).sum())
        lines += [
            f"**{dataset}** ({dataset_label(dataset, record.get(dataset))}). Final test "
            "accuracy, GC - baseline, each arm at its own best learning rate (chosen on the "
            f"training loss), paired over {int(rows['n'].max())} seeds, {level} CI:",
            "",
            *(f"- {sentence}" for sentence in at_best_sentences(rows)),
            "",
            f"Over all {len(cells)} optimizer x learning-rate cells at equal learning rates, "
            f"GC is detectably higher in {above} and lower in {below} (the interval excludes 0 "
            f"and the sign-flip p <= {1 - STUDY_CONFIDENCE:.2g}); the other "
            f"{len(cells) - above - below} show no detected difference"
            + _diverged_cells(cells[diverged])
            + ".",
            "",
        ]
        for row in reach[reach["dataset"] == dataset].to_dict(orient="records"):
            lines.append(
                f"- Epochs to reach {row['target_test_accuracy']:g} test accuracy, "
                f"{row['optimizer']}: "
                f"baseline {_epochs(row['baseline_mean_epochs'])} ({row['baseline_reached']}/"
                f"{row['seeds']} seeds reached it), GC {_epochs(row['gc_mean_epochs'])} "
                f"({row['gc_reached']}/{row['seeds']})"
                + (
                    f"; paired over the {int(row['n'])} seeds where both reached it, GC - "
                    f"baseline {row['mean']:+.2f} epochs ({level} CI {row['ci_low']:+.2f} to "
                    f"{row['ci_high']:+.2f}, p={row['p_value']:.3g}): "
                    + ("detected" if _summary(row).detected else "no detected difference")
                    if row["n"] == row["n"]
                    else ""
                )
            )
        lines.append("")
    lines += ["## How it was run", ""]
    for run in record.values():
        settings = ", ".join(f"{key}={value}" for key, value in run["settings"].items())
        environment = run["environment"]
        extensions = environment.get("cpu_vector_extensions")  # absent from older records
        extensions = f", {' '.join(extensions)}" if extensions else ""
        lines.append(
            f"- `{run['command']}`: {settings}; {len(run['seeds'])} seeds; grid "
            f"{run['grid']}; SGD momentum 0.9. {run['wall_time_min']} min wall time "
            f"({_time_spent(run)}) on "
            f"{environment['processor']} ({environment['cpu_count']} cores{extensions}, "
            f"{environment['memory_gib']} GiB, TensorFlow {environment['tensorflow']})."
        )
    lines += [
        "",
        "## Files",
        "",
        "- `study.csv`: one row per dataset x optimizer x learning_rate x seed x arm x epoch.",
        "- `summary.csv`: `paired_summary` of the final test accuracy per cell (GC - baseline); "
        "`wins`/`ties`/`losses` count the seeds where GC - baseline is > 0, = 0, < 0 (for "
        "epochs to target, fewer is better: `losses` are the seeds where GC was faster); "
        "`*_diverged` count the runs stopped as diverged, whose final values are not "
        "comparable, so a cell with any is never counted as a detected difference.",
        "- `best_learning_rates.csv`: each arm at its own best learning rate, paired.",
        "- `epochs_to_target.csv`: epochs to the target test accuracy at those learning rates.",
        "- `forest.png`, `learning_rates.png`, `epochs_to_target.png`: the plots; notebook 6 "
        "explains how to read them.",
        "",
    ]
    return "\n".join(lines)


def _time_spent(run: dict) -> str:
    """How study.json says the time was spent (CPU time or cell time) and where."""
    if "cpu_time_min" in run:
        spent = f"{run['cpu_time_min']} min of CPU time"
    else:
        spent = f"{run.get('cell_time_min', 'n/a')} min of cell time"
    return f"{spent}, {run.get('workers', 'n/a')}"


def _summary(row: dict) -> PairedSummary:
    return PairedSummary(
        **{field: row[field] for field in SUMMARY_FIELDS}, confidence=STUDY_CONFIDENCE
    )


def _diverged_note(row: dict) -> str:
    counts = {arm: int(row.get(f"{arm}_diverged", 0)) for arm in ARMS}
    if not any(counts.values()):
        return ""
    return (
        f" Diverged runs (not comparable, so not a detected difference): baseline "
        f"{counts['baseline']}, GC {counts['gc']}."
    )


def _diverged_cells(cells: pd.DataFrame) -> str:
    """', leaving out ...' naming the cells where runs diverged, or ''."""
    if cells.empty:
        return ""
    named = [
        f"{row.optimizer} lr {row.learning_rate:g} (diverged: baseline {row.baseline_diverged}, "
        f"GC {row.gc_diverged} of {row.n})"
        for row in cells.itertuples()
    ]
    return f", {len(cells)} of them with diverged runs, never counted: {'; '.join(named)}"


def _epochs(value: float) -> str:
    return "never" if value != value else f"{value:.1f} epochs"
