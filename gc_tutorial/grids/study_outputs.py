"""A study's files: study.csv merged, study.json recorded, the derived tables, plots and README.

Studies of several datasets (and optimizers) may share one folder: each writes its own rows
of study.csv and its own entry of study.json; every derived file is recomputed from the
whole study.csv, so `recompute_study` rebuilds them all from it (nothing is trained).
"""

from __future__ import annotations

import importlib.resources
import json
import os
import shutil
from pathlib import Path

import pandas as pd

from gc_tutorial.files.saving import save_figure
from gc_tutorial.files.storage import prepare_output_dir, write_atomically
from gc_tutorial.grids.plots import plot_best_learning_rates, plot_epochs_to_target, plot_forest
from gc_tutorial.grids.study_report import study_readme
from gc_tutorial.grids.tables import (
    compare_at_best_learning_rates,
    epochs_to_target,
    summarize_study,
)

STUDY_FILES = frozenset(
    (
        *("study.csv", "study.json", "summary.csv", "best_learning_rates.csv"),
        *("epochs_to_target.csv", "forest.png", "learning_rates.png", "epochs_to_target.png"),
        "README.md",
    )
)  # all a study writes into its output folder


def merged_study(
    output_dir: Path, dataset: str, optimizers: list[str], rows: pd.DataFrame
) -> pd.DataFrame:
    """study.csv with the rows of `dataset` x `optimizers` replaced by `rows`; other datasets
    and other optimizers are kept (the study refuses, before training, to keep rows made with
    other settings)."""
    path = Path(output_dir) / "study.csv"
    if path.is_file():
        earlier = pd.read_csv(path)
        ours = (earlier["dataset"] == dataset) & earlier["optimizer"].isin(optimizers)
        rows = pd.concat([earlier[~ours], rows], ignore_index=True)
    study = rows.sort_values(["dataset", "optimizer", "learning_rate", "seed", "arm", "epoch"])
    return study.reset_index(drop=True)


def recorded_study(output_dir: Path, dataset: str, run: dict) -> dict:
    """study.json with `run` as the record of `dataset`: the settings, grid, machine and time.

    With the same settings and seeds, the grid adds the optimizers already recorded in the
    folder; the times add up over the invocations of the same study (a resumed study counts
    the time its earlier invocations trained), and start again when the settings or the grid
    change."""
    record = load_study_record(output_dir)
    earlier = record.get(dataset, {})
    run = dict(run)
    if (earlier.get("settings"), earlier.get("seeds")) == (run["settings"], run["seeds"]):
        grid = {**earlier.get("grid", {}), **run["grid"]}
        if earlier.get("grid") == grid:
            run["wall_time_min"] += earlier.get("wall_time_min", 0.0)
            run["cell_time_min"] += earlier.get("cell_time_min", 0.0)
        run["grid"] = grid
    run["wall_time_min"] = round(run["wall_time_min"], 1)
    run["cell_time_min"] = round(run["cell_time_min"], 1)
    return {**record, dataset: run}


def committed_study() -> Path:
    """The folder of the committed study's study.csv and study.json, as installed with the
    package (the repository's docs/study/)."""
    return Path(str(importlib.resources.files("gc_tutorial.grids") / "committed_study"))


def load_study_record(folder: str | os.PathLike) -> dict:
    """study.json of `folder` (per dataset: how its study was run), or {} if there is none."""
    path = Path(folder) / "study.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def write_study(output_dir: str | os.PathLike, study: pd.DataFrame, record: dict) -> None:
    """Every file of a study: study.csv and study.json as given, and what follows from them
    (summary.csv, best_learning_rates.csv, epochs_to_target.csv, the plots, README.md).

    All are written into a staging folder first and then moved into `output_dir` one by one,
    so a failed write (a full disk) leaves the study that was there as it was.
    """
    folder = prepare_output_dir(output_dir)
    staging = folder / ".gc_tutorial-study-staging"
    shutil.rmtree(staging, ignore_errors=True)  # ours: only this function writes it
    staging.mkdir()
    try:
        summary = summarize_study(study)
        at_best = compare_at_best_learning_rates(study)
        reach = epochs_to_target(study)
        tables = {"study.csv": study, "summary.csv": summary}
        tables.update({"best_learning_rates.csv": at_best, "epochs_to_target.csv": reach})
        for name, table in tables.items():
            write_atomically(staging / name, table.to_csv(index=False))
        write_atomically(staging / "study.json", json.dumps(record, indent=2) + "\n")
        save_figure(plot_forest(summary, at_best), staging / "forest.png")
        save_figure(plot_best_learning_rates(study), staging / "learning_rates.png")
        save_figure(plot_epochs_to_target(study, reach), staging / "epochs_to_target.png")
        readme = study_readme(summary, at_best, reach, record)
        write_atomically(staging / "README.md", readme)
        for path in staging.iterdir():
            os.replace(path, folder / path.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def recompute_study(output_dir: str | os.PathLike) -> pd.DataFrame:
    """Rewrite every derived table, plot and the README of `output_dir` from its study.csv."""
    path = Path(output_dir) / "study.csv"
    if not path.is_file():
        raise FileNotFoundError(f"`--output-dir` {str(output_dir)!r} has no study.csv.")
    study = pd.read_csv(path)
    write_study(output_dir, study, load_study_record(output_dir))
    return study
