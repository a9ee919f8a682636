"""The GC study: paired comparisons over optimizers x learning rates x many seeds.

One command runs the grid for one dataset and writes tidy tables and plots:

    python -m gc_tutorial.study --dataset digits
    python -m gc_tutorial.study --dataset synthetic

Each grid cell (optimizer x learning rate) is one `run_comparison` over all the
seeds, written into its own folder under `--runs-dir`; a rerun skips cells that
finished with the same parameters, so an interrupted study resumes. Then
`<output-dir>/study.csv` (one row per dataset x optimizer x learning_rate x seed x
arm x epoch) is rewritten with this dataset's rows, and every derived table and
plot is recomputed from it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gc_tutorial.checks import check_seeds, check_text, fail
from gc_tutorial.config import ComparisonConfig, config_help, flag
from gc_tutorial.data import DIGITS, SYNTHETIC, load_dataset
from gc_tutorial.experiment import EXPECTED_ERRORS, command_line_message, run_comparison
from gc_tutorial.grid import (
    ERROR_FILE,
    SCHEDULER_VARIABLE,
    Cell,
    GridPlan,
    add_grid_arguments,
    check_workers,
    run_plan,
)
from gc_tutorial.results import ARMS, HISTORY_COLUMNS, describe_environment, load_comparison
from gc_tutorial.stats import SUMMARY_FIELDS, PairedSummary, paired_summary
from gc_tutorial.storage import (
    FolderInUseError,
    lock_file,
    prepare_output_dir,
    safe_name,
    write_atomically,
)

# Three learning rates per optimizer, spanning its usual range.
STUDY_GRID = {
    "sgd": (1e-3, 1e-2, 1e-1),
    "rmsprop": (1e-4, 1e-3, 1e-2),
    "adam": (1e-4, 1e-3, 1e-2),
    "adamw": (1e-4, 1e-3, 1e-2),
}
STUDY_MOMENTUM = {"sgd": 0.9}  # SGD with momentum 0.9; the others keep Keras's defaults
STUDY_SEEDS = tuple(range(10))
STUDY_CONFIDENCE = 0.95  # of every interval the study reports
DEFAULT_OUTPUT_DIR = "docs/study"
DEFAULT_RUNS_DIR = "runs/study"
# Per dataset: the comparison settings and the test accuracy "reached" means. Any other
# source (a folder, a tensorflow-datasets name) gets the digits settings.
STUDY_SETTINGS = {
    "digits": {"image_size": 24, "epochs": 15, "batch_size": 64, "augment": False},
    "synthetic": {"image_size": 24, "epochs": 15, "batch_size": 64, "augment": False},
}
TARGET_ACCURACY = {"digits": 0.9, "synthetic": 0.6}
# The settings a study may change, each a `ComparisonConfig` field and a command-line flag.
STUDY_OVERRIDES = ("epochs", "image_size", "batch_size", "augment", "max_examples")
# How the study's README names each kind of source (`DatasetInfo.kind`).
DATASET_LABELS = {
    "digits": "real handwritten digits",
    "synthetic": "SYNTHETIC data",
    "folder": "images from a folder",
    "tfds": "tensorflow-datasets",
}
# One row per dataset x optimizer x learning_rate x seed x arm x epoch.
STUDY_COLUMNS = [
    "dataset",
    "optimizer",
    "learning_rate",
    *(name for name in HISTORY_COLUMNS if name not in ("eval_time_s", "initial_weights")),
]
CELL_KEYS = ["dataset", "optimizer", "learning_rate"]


@dataclass(frozen=True)
class StudyPlan:
    """A checked study: what `run_planned_study` trains, and where it writes."""

    dataset: str
    optimizers: list[str]
    seeds: list[int]
    settings: dict
    cells: list[tuple[Path, ComparisonConfig]]  # (runs folder, comparison) per grid cell
    output_dir: Path

    def grid(self) -> GridPlan:
        """The grid runner's plan: one cell per (optimizer, learning rate), all seeds."""
        cells = tuple(
            Cell(folder.name, config.get_config(), train_cell, {"config": config})
            for folder, config in self.cells
        )
        return GridPlan(self.cells[0][0].parent, cells)


def train_cell(folder: Path, config: ComparisonConfig) -> None:
    """One study cell: the comparison of `config` over all its seeds, written to `folder`."""
    run_comparison(config, output_dir=folder, verbose=0)


def check_study_grid(optimizers: Sequence[str] | None) -> list[str]:
    """The optimizers to run, lower-cased; an empty or unknown one is a `ValueError`."""
    if optimizers is None:
        return list(STUDY_GRID)
    if isinstance(optimizers, str) or not optimizers:
        raise ValueError(
            f"`optimizers` must be a non-empty list of {', '.join(STUDY_GRID)}. "
            f"Received: optimizers={optimizers!r}"
        )
    names = [name.lower() if isinstance(name, str) else name for name in optimizers]
    unknown = [name for name in names if name not in STUDY_GRID]
    if unknown:
        raise ValueError(
            f"Unknown optimizer(s) {unknown} for the study; its grid has "
            f"{', '.join(STUDY_GRID)}. Received: optimizers={list(optimizers)!r}"
        )
    return list(dict.fromkeys(names))


def check_study_seeds(seeds: Sequence[int]) -> list[int]:
    """The seeds as a list: at least 2 distinct ones, since the study pairs over seeds."""
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence) or len(seeds) < 2:
        fail("seeds", seeds, "a list of at least 2 distinct ints >= 0 and < 2**32")
    return list(check_seeds("seeds", seeds))


def study_settings(dataset: str, overrides: dict) -> dict:
    """`dataset`'s comparison settings (`STUDY_SETTINGS`) with `overrides` (None: keep)."""
    unknown = sorted(set(overrides) - set(STUDY_OVERRIDES))
    if unknown:
        raise ValueError(
            f"Unknown study setting(s) {unknown}; the study takes {', '.join(STUDY_OVERRIDES)}."
        )
    given = {name: value for name, value in overrides.items() if value is not None}
    return {**STUDY_SETTINGS.get(dataset, STUDY_SETTINGS[DIGITS]), **given}


def plan_study(
    dataset: str = DIGITS,
    *,
    output_dir: str | os.PathLike = DEFAULT_OUTPUT_DIR,
    runs_dir: str | os.PathLike = DEFAULT_RUNS_DIR,
    optimizers: Sequence[str] | None = None,
    seeds: Sequence[int] = STUDY_SEEDS,
    **overrides,
) -> StudyPlan:
    """Check every argument of `run_study`, that `dataset` loads if a cell is still to
    train, that both folders can be written, that the complete cells can be read, and that
    study.csv holds no rows this study would mix with. Trains nothing."""
    names = check_study_grid(optimizers)
    seeds = check_study_seeds(seeds)
    dataset = check_text(
        "dataset", os.fspath(dataset) if isinstance(dataset, os.PathLike) else dataset
    )
    settings = study_settings(dataset, overrides)
    cells = _study_cells(dataset, names, seeds, settings, Path(runs_dir))
    plan = StudyPlan(dataset, names, seeds, settings, cells, Path(output_dir))
    grid = plan.grid()
    if any(grid.state(cell) != "complete" for cell in grid.cells):
        _check_dataset_loads(plan)
    check_writable_folder(plan.output_dir, "--output-dir")
    check_writable_folder(grid.runs_dir, "--runs-dir")
    for cell in grid.cells:
        if grid.state(cell) == "complete":
            _load_cell(grid.folder(cell))
    _check_study_rows(plan)
    return plan


def check_writable_folder(folder: Path, name: str) -> Path:
    """Create `folder` if needed and check that files can be written in it; else a one-line
    `ValueError` naming the flag."""
    try:
        prepare_output_dir(folder)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        reason = error.strerror or str(error)
        raise ValueError(
            f"`{name}` must be a folder this user can write to. Received: {name[2:]}="
            f"{str(folder)!r} ({reason})."
        ) from None
    return folder


def _load_cell(folder: Path):
    """A complete cell's comparison; one that cannot be read is a `ValueError` naming it."""
    try:
        return load_comparison(folder)
    except Exception as error:  # edited or broken files: whatever load_comparison raises
        raise ValueError(
            f"The study cell in {str(folder)!r} (under `--runs-dir`) cannot be read: "
            f"{type(error).__name__}: {error} Delete that folder to train the cell again."
        ) from None


def _check_study_rows(plan: StudyPlan) -> None:
    """Refuse a study.csv whose rows of this dataset, for optimizers this study does not
    run, were made with other settings or seeds (they would be mixed with these)."""
    earlier = load_study_record(plan.output_dir).get(plan.dataset)
    if not earlier or set(earlier.get("grid", {})) <= set(plan.optimizers):
        return
    if (earlier.get("settings"), earlier.get("seeds")) != (plan.settings, plan.seeds):
        kept = sorted(set(earlier["grid"]) - set(plan.optimizers))
        raise ValueError(
            f"`--output-dir` {str(plan.output_dir)!r} holds a {plan.dataset} study of "
            f"{', '.join(kept)} with other settings or seeds ({earlier.get('settings')}, "
            f"seeds {earlier.get('seeds')}); run those optimizers too (--optimizers), "
            "or choose another --output-dir."
        )


def _study_cells(dataset, optimizers, seeds, settings, runs_dir: Path) -> list:
    """(runs folder, `ComparisonConfig`) per grid cell. The dataset's folder under `runs_dir`
    is `safe_name(dataset)`: a dataset given as a path never puts runs into that path."""
    root = runs_dir / safe_name(dataset)
    return [
        (
            root / f"{optimizer}-lr{rate:g}",
            ComparisonConfig(
                dataset=dataset,
                seeds=seeds,
                optimizer=optimizer,
                learning_rate=rate,
                momentum=STUDY_MOMENTUM.get(optimizer),
                **settings,
            ),
        )
        for optimizer in optimizers
        for rate in STUDY_GRID[optimizer]
    ]


def _check_dataset_loads(plan: StudyPlan) -> None:
    """Load the dataset once, so that a bad source fails before the first cell trains."""
    settings = plan.settings
    load_dataset(
        plan.dataset,
        image_size=settings["image_size"],
        batch_size=settings["batch_size"],
        augment=False,
        max_examples=settings.get("max_examples"),
    )


def run_study(
    dataset: str = DIGITS,
    *,
    output_dir: str | os.PathLike = DEFAULT_OUTPUT_DIR,
    runs_dir: str | os.PathLike = DEFAULT_RUNS_DIR,
    optimizers: Sequence[str] | None = None,
    seeds: Sequence[int] = STUDY_SEEDS,
    workers: int | None = None,
    scheduler: str | None = None,
    **overrides,
) -> pd.DataFrame:
    """Run (or resume) the study's grid on `dataset`; return the full study table.

    Args:
        dataset: "digits" or "synthetic" (settings in `STUDY_SETTINGS`), or any
            source `run_comparison` takes (with the digits settings), such as a folder.
        output_dir: where study.csv, the derived tables and the plots go.
        runs_dir: one folder per grid cell, for resuming.
        optimizers: a subset of `STUDY_GRID` (default: all four).
        seeds: at least 2; every cell runs every seed.
        workers, scheduler: where the cells run (see `grid.run_plan`): by default on a
            `LocalCluster` with one worker per core; 0 workers: in this process.
        **overrides: the settings in `STUDY_OVERRIDES` that replace the dataset's.

    Every argument is checked by `plan_study` before anything trains.
    """
    check_workers(workers)
    plan = plan_study(
        dataset,
        output_dir=output_dir,
        runs_dir=runs_dir,
        optimizers=optimizers,
        seeds=seeds,
        **overrides,
    )
    return run_planned_study(plan, workers=workers, scheduler=scheduler)


class StudyCellsFailed(RuntimeError):
    """Some cells of a study raised; the others are complete and kept for the rerun."""


def run_planned_study(
    plan: StudyPlan, *, workers: int | None = None, scheduler: str | None = None
) -> pd.DataFrame:
    """Train (or resume) the cells of `plan`; write study.csv, study.json and what follows."""
    start = time.perf_counter()
    grid = plan.grid()
    outcomes = run_plan(grid, workers=workers, scheduler=scheduler)
    minutes = (time.perf_counter() - start) / 60
    failed = [outcome for outcome in outcomes if outcome.status == "failed"]
    if failed:
        names = ", ".join(str(grid.folder(outcome.cell) / ERROR_FILE) for outcome in failed)
        raise StudyCellsFailed(
            f"{len(failed)} of {len(outcomes)} study cells failed (see {names}); the others "
            "are complete: run the same command again to retry only the failed ones."
        )
    trained = sum(outcome.seconds for outcome in outcomes) / 60
    print(
        f"[study {plan.dataset}] {len(outcomes)} cells x {len(plan.seeds)} seeds in "
        f"{minutes:.1f} min"
    )
    tables, kinds = [], set()
    for folder, config in plan.cells:
        comparison = _load_cell(folder)
        kinds.add(comparison.dataset["kind"])
        tables.append(
            _tidy(comparison.history, plan.dataset, config.optimizer, config.learning_rate)
        )
    rows = pd.concat(tables, ignore_index=True)
    # Studies of other datasets may share output_dir: one at a time reads, merges and writes.
    lock = plan.output_dir / ".study.lock"
    with lock_file(lock, f"study {str(plan.output_dir)!r}", remove=True, wait=True):
        study = _merge_into_study(plan, rows)
        _record_run(plan, kinds.pop(), minutes, trained, describe_workers(workers, scheduler))
        write_study_outputs(study, plan.output_dir)
    return study


def describe_workers(workers: int | None, scheduler: str | None) -> str:
    """Where the cells ran, in words, for study.json."""
    scheduler = scheduler or os.environ.get(SCHEDULER_VARIABLE)
    if scheduler:
        return f"Dask scheduler {scheduler}"
    if workers == 0:
        return "one process"
    return f"LocalCluster of {workers or os.cpu_count()} one-thread workers"


def _tidy(history: pd.DataFrame, dataset: str, optimizer: str, learning_rate: float):
    table = history.assign(dataset=dataset, optimizer=optimizer, learning_rate=learning_rate)
    return table[STUDY_COLUMNS]


def _merge_into_study(plan: StudyPlan, rows: pd.DataFrame) -> pd.DataFrame:
    """study.csv with this study's rows (dataset x its optimizers) replaced by `rows`; other
    datasets and, when `_check_study_rows` allowed it, other optimizers are kept."""
    path = prepare_output_dir(plan.output_dir) / "study.csv"
    if path.is_file():
        earlier = pd.read_csv(path)
        ours = (earlier["dataset"] == plan.dataset) & earlier["optimizer"].isin(plan.optimizers)
        rows = pd.concat([earlier[~ours], rows], ignore_index=True)
    study = rows.sort_values(["dataset", "optimizer", "learning_rate", "seed", "arm", "epoch"])
    study = study.reset_index(drop=True)
    write_atomically(path, study.to_csv(index=False))
    return study


def _record_run(
    plan: StudyPlan, kind: str, minutes: float, cell_minutes: float, workers: str
) -> None:
    """study.json: per dataset, the settings, grid, machine and time of its run.

    The times add up over the invocations of the same study (a resumed study counts the
    time its earlier invocations trained), and start again when the settings change."""
    path = plan.output_dir / "study.json"
    record = load_study_record(plan.output_dir)
    earlier = record.get(plan.dataset, {})
    grid = {name: list(STUDY_GRID[name]) for name in plan.optimizers}
    same = (earlier.get("settings"), earlier.get("seeds")) == (plan.settings, plan.seeds)
    if same:
        grid = {**earlier.get("grid", {}), **grid}
        if earlier.get("grid") == grid:
            minutes += earlier.get("wall_time_min", 0.0)
            cell_minutes += earlier.get("cell_time_min", 0.0)
    record[plan.dataset] = {
        "kind": kind,
        "settings": plan.settings,
        "seeds": plan.seeds,
        "grid": {name: grid[name] for name in STUDY_GRID if name in grid},
        "momentum": STUDY_MOMENTUM,
        "target_accuracy": TARGET_ACCURACY.get(plan.dataset),
        "wall_time_min": round(minutes, 1),
        "cell_time_min": round(cell_minutes, 1),
        "workers": workers,
        "environment": describe_environment(),
        "command": study_command(plan),
    }
    write_atomically(path, json.dumps(record, indent=2) + "\n")


def load_study_record(folder: str | os.PathLike) -> dict:
    """study.json of `folder` (per dataset: how its study was run), or {} if there is none."""
    path = Path(folder) / "study.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def study_command(plan: StudyPlan) -> str:
    """The `python -m gc_tutorial.study` command that runs `plan` again: each choice that
    differs from the command's default, as its flag."""
    words = ["python", "-m", "gc_tutorial.study", "--dataset", plan.dataset]
    defaults = STUDY_SETTINGS.get(plan.dataset, STUDY_SETTINGS[DIGITS])
    for name, value in plan.settings.items():
        if defaults.get(name) == value:
            continue
        if isinstance(value, bool):
            words.append(flag(name) if value else f"--no-{flag(name)[2:]}")
        else:
            words += [flag(name), str(value)]
    if plan.optimizers != list(STUDY_GRID):
        words += ["--optimizers", *plan.optimizers]
    if plan.seeds != list(STUDY_SEEDS):
        words += ["--seeds", *map(str, plan.seeds)]
    if plan.output_dir != Path(DEFAULT_OUTPUT_DIR):
        words += ["--output-dir", str(plan.output_dir)]
    return shlex.join(words)


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
                "processor": run["environment"]["processor"],
                "cores": run["environment"]["cpu_count"],
                "command": run["command"],
            }
            for dataset, run in record.items()
        }
    )


# --- Derived tables -------------------------------------------------------------------


def final_epochs(study: pd.DataFrame) -> pd.DataFrame:
    """One row per dataset x optimizer x learning_rate x seed x arm: its last epoch's row,
    NaN values included (a run whose last loss is NaN ended NaN)."""
    keys = [*CELL_KEYS, "seed", "arm"]
    ordered = study.sort_values([*keys, "epoch"])
    return ordered.groupby(keys).tail(1).reset_index(drop=True)


def paired_table(study: pd.DataFrame, metric: str = "test_accuracy") -> pd.DataFrame:
    """Final `metric` per seed for both arms, and their difference gc - baseline."""
    final = final_epochs(study)
    wide = final.pivot_table(index=[*CELL_KEYS, "seed"], columns="arm", values=metric)
    wide = wide.reset_index()
    wide["difference"] = wide["gc"] - wide["baseline"]
    return wide


def summarize_study(study: pd.DataFrame, metric: str = "test_accuracy") -> pd.DataFrame:
    """summary.csv: per dataset x optimizer x learning_rate, `paired_summary` of the final
    `metric` differences (GC - baseline), with each arm's mean, how many of its runs
    diverged (stopped early: their final value is not comparable) and whether a
    difference is detected (`PairedSummary.detected`, and no run diverged)."""
    diverged = diverged_runs(study)
    rows = []
    for keys, cell in paired_table(study, metric).groupby(CELL_KEYS):
        fields, detected = _paired_fields(cell["difference"].to_numpy())
        counts = {f"{arm}_diverged": int(diverged.get((*keys, arm), 0)) for arm in ARMS}
        rows.append(
            {
                **dict(zip(CELL_KEYS, keys, strict=True)),
                "metric": f"final_{metric}",
                "baseline_mean": cell["baseline"].mean(),
                "gc_mean": cell["gc"].mean(),
                **fields,
                **counts,
                "detected": detected and not any(counts.values()),
            }
        )
    return pd.DataFrame(rows)


def _paired_fields(differences: np.ndarray) -> tuple[dict, bool]:
    """`paired_summary`'s fields for the finite `differences` (a seed whose final value is
    NaN in either arm is left out, and `n` counts the seeds kept), and whether a difference
    is detected. With fewer than 2 seeds kept, every field but `n` is NaN."""
    finite = differences[np.isfinite(differences)]
    if len(finite) < 2:
        return {field: len(finite) if field == "n" else math.nan for field in SUMMARY_FIELDS}, False
    summary = paired_summary(finite, STUDY_CONFIDENCE)
    return {field: getattr(summary, field) for field in SUMMARY_FIELDS}, summary.detected


def diverged_runs(study: pd.DataFrame) -> pd.Series:
    """How many runs diverged, per dataset x optimizer x learning_rate x arm."""
    final = final_epochs(study)
    return final.groupby([*CELL_KEYS, "arm"])["diverged"].apply(
        lambda runs: runs.astype(bool).sum()
    )


def best_learning_rates(study: pd.DataFrame) -> pd.DataFrame:
    """Each arm's best learning rate per dataset x optimizer, chosen on the TRAINING loss.

    The criterion is the mean over seeds of the final training loss (a diverged run
    counts as infinite loss); the test set plays no part in the choice.
    """
    final = final_epochs(study)
    final["train_loss"] = final["train_loss"].where(np.isfinite(final["train_loss"]), np.inf)
    final.loc[final["diverged"].astype(bool), "train_loss"] = np.inf
    means = final.groupby(["dataset", "optimizer", "arm", "learning_rate"], as_index=False)[
        "train_loss"
    ].mean()
    best = means.loc[means.groupby(["dataset", "optimizer", "arm"])["train_loss"].idxmin()]
    return best.rename(columns={"train_loss": "mean_final_train_loss"}).reset_index(drop=True)


def compare_at_best_learning_rates(study: pd.DataFrame) -> pd.DataFrame:
    """GC at its own best learning rate vs the baseline at its own, paired by seed."""
    best = best_learning_rates(study).set_index(["dataset", "optimizer", "arm"])["learning_rate"]
    final = final_epochs(study)
    diverged = diverged_runs(study)
    rows = []
    for (dataset, optimizer), runs in final.groupby(["dataset", "optimizer"]):
        arms = {
            arm: runs[
                (runs["arm"] == arm) & (runs["learning_rate"] == best[(dataset, optimizer, arm)])
            ].set_index("seed")["test_accuracy"]
            for arm in ("baseline", "gc")
        }
        difference = (arms["gc"] - arms["baseline"]).dropna()  # `n` says if a seed is left out
        fields, detected = _paired_fields(difference.to_numpy())
        paired = difference.index
        counts = {
            f"{arm}_diverged": int(diverged.get((dataset, optimizer, rate, arm), 0))
            for arm, rate in ((arm, best[(dataset, optimizer, arm)]) for arm in ARMS)
        }
        rows.append(
            {
                "dataset": dataset,
                "optimizer": optimizer,
                "baseline_learning_rate": best[(dataset, optimizer, "baseline")],
                "gc_learning_rate": best[(dataset, optimizer, "gc")],
                "baseline_mean": arms["baseline"][paired].mean(),
                "gc_mean": arms["gc"][paired].mean(),
                **fields,
                **counts,
                "detected": detected and not any(counts.values()),
            }
        )
    return pd.DataFrame(rows)


def epochs_to_target(study: pd.DataFrame, targets: dict | None = None) -> pd.DataFrame:
    """Per run at each arm's best learning rate: the first epoch whose test accuracy
    reaches the dataset's target (NaN if never), and the paired summary per optimizer
    over the seeds where both arms reached it."""
    targets = TARGET_ACCURACY if targets is None else targets
    best = best_learning_rates(study)
    chosen = study.merge(best[["dataset", "optimizer", "arm", "learning_rate"]])
    rows = []
    for (dataset, optimizer), runs in chosen.groupby(["dataset", "optimizer"]):
        target = targets.get(dataset, 0.9)
        first = {
            arm: runs[runs["arm"] == arm]
            .groupby("seed")
            .apply(lambda run, t=target: _first_epoch_reaching(run, t), include_groups=False)
            for arm in ("baseline", "gc")
        }
        both = (first["gc"] - first["baseline"]).dropna()
        summary = paired_summary(both.to_numpy(), STUDY_CONFIDENCE) if len(both) >= 2 else None
        rows.append(
            {
                "dataset": dataset,
                "optimizer": optimizer,
                "target_test_accuracy": target,
                "baseline_reached": int(first["baseline"].notna().sum()),
                "gc_reached": int(first["gc"].notna().sum()),
                "seeds": len(first["baseline"]),
                "baseline_mean_epochs": first["baseline"].mean(),
                "gc_mean_epochs": first["gc"].mean(),
                **{
                    field: (getattr(summary, field) if summary else math.nan)
                    for field in SUMMARY_FIELDS
                },
            }
        )
    return pd.DataFrame(rows)


def _first_epoch_reaching(run: pd.DataFrame, target: float) -> float:
    reached = run.loc[run["test_accuracy"] >= target, "epoch"]
    return float(reached.min()) if len(reached) else math.nan


def write_study_outputs(study: pd.DataFrame, output_dir: str | os.PathLike) -> None:
    """summary.csv, best_learning_rates.csv, epochs_to_target.csv and the plots."""
    from gc_tutorial.plots import (
        plot_best_learning_rates,
        plot_epochs_to_target,
        plot_forest,
        save_figure,
    )

    folder = prepare_output_dir(output_dir)
    summary = summarize_study(study)
    at_best = compare_at_best_learning_rates(study)
    reach = epochs_to_target(study)
    write_atomically(folder / "summary.csv", summary.to_csv(index=False))
    write_atomically(folder / "best_learning_rates.csv", at_best.to_csv(index=False))
    write_atomically(folder / "epochs_to_target.csv", reach.to_csv(index=False))
    save_figure(plot_forest(summary, at_best), folder / "forest.png")
    save_figure(plot_best_learning_rates(study), folder / "learning_rates.png")
    save_figure(plot_epochs_to_target(study, reach), folder / "epochs_to_target.png")
    record = load_study_record(folder)
    write_atomically(folder / "README.md", study_readme(summary, at_best, reach, record))


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
    kind = (run or {}).get("kind", dataset if dataset in (DIGITS, SYNTHETIC) else None)
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
        lines.append(
            f"- `{run['command']}`: {settings}; {len(run['seeds'])} seeds; grid "
            f"{run['grid']}; SGD momentum 0.9. {run['wall_time_min']} min wall time "
            f"({_time_spent(run)}) on "
            f"{environment['processor']} ({environment['cpu_count']} cores, "
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
    """How study.json says the time was spent: CPU time (one process), or cell time."""
    if "cpu_time_min" in run:
        return f"{run['cpu_time_min']} min of CPU time"
    return f"{run.get('cell_time_min', 'n/a')} min of cell time, {run.get('workers', 'n/a')}"


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


def study_parser() -> argparse.ArgumentParser:
    """The command line of `python -m gc_tutorial.study`: one flag per `run_study` argument."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=DIGITS, help="digits, synthetic, or any source")
    parser.add_argument("--output-dir", default=DEFAULT_OUTPUT_DIR)
    parser.add_argument("--runs-dir", default=DEFAULT_RUNS_DIR)
    parser.add_argument("--optimizers", nargs="+", default=None, help=", ".join(STUDY_GRID))
    parser.add_argument("--seeds", type=int, nargs="+", default=list(STUDY_SEEDS))
    help_texts = config_help()
    for name in STUDY_OVERRIDES:
        options = {"type": int} if name != "augment" else {"action": argparse.BooleanOptionalAction}
        parser.add_argument(
            flag(name),
            dest=name,
            default=None,
            help=f"{help_texts[name]} (default: the dataset's)",
            **options,
        )
    add_grid_arguments(parser)
    parser.add_argument(
        "--recompute",
        action="store_true",
        help="train nothing: recompute the tables, plots and README of --output-dir from its "
        "study.csv",
    )
    return parser


def recompute_study(output_dir: str | os.PathLike) -> pd.DataFrame:
    """Rewrite every derived table, plot and the README of `output_dir` from its study.csv."""
    path = Path(output_dir) / "study.csv"
    if not path.is_file():
        raise FileNotFoundError(f"`--output-dir` {str(output_dir)!r} has no study.csv.")
    study = pd.read_csv(path)
    write_study_outputs(study, output_dir)
    return study


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: `python -m gc_tutorial.study --dataset digits`. A bad argument is one
    line and exit status 2, before anything trains; failed cells give exit status 1."""
    parser = study_parser()
    args = parser.parse_args(argv)
    try:
        if args.recompute:
            recompute_study(args.output_dir)
            return
        check_workers(args.workers)
        plan = plan_study(
            args.dataset,
            output_dir=args.output_dir,
            runs_dir=args.runs_dir,
            optimizers=args.optimizers,
            seeds=args.seeds,
            **{name: getattr(args, name) for name in STUDY_OVERRIDES},
        )
        run_planned_study(plan, workers=args.workers, scheduler=args.scheduler)
    except (*EXPECTED_ERRORS, FolderInUseError) as error:
        parser.exit(2, f"{parser.prog}: error: {command_line_message(error)}\n")
    except StudyCellsFailed as error:
        parser.exit(1, f"{parser.prog}: {error}\n")


if __name__ == "__main__":
    main()
