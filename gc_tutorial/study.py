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
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from gc_tutorial.config import ComparisonConfig
from gc_tutorial.experiment import run_comparison
from gc_tutorial.results import HISTORY_COLUMNS, describe_environment, load_comparison
from gc_tutorial.stats import SUMMARY_FIELDS, PairedSummary, paired_summary
from gc_tutorial.storage import prepare_output_dir, write_atomically

# Three learning rates per optimizer, spanning its usual range.
STUDY_GRID = {
    "sgd": (1e-3, 1e-2, 1e-1),
    "rmsprop": (1e-4, 1e-3, 1e-2),
    "adam": (1e-4, 1e-3, 1e-2),
    "adamw": (1e-4, 1e-3, 1e-2),
}
STUDY_MOMENTUM = {"sgd": 0.9}  # SGD with momentum 0.9; the others keep Keras's defaults
STUDY_SEEDS = tuple(range(10))
# Per dataset: the comparison settings and the test accuracy "reached" means.
STUDY_SETTINGS = {
    "digits": {"image_size": 24, "epochs": 15, "batch_size": 64, "augment": False},
    "synthetic": {"image_size": 24, "epochs": 15, "batch_size": 64, "augment": False},
}
TARGET_ACCURACY = {"digits": 0.9, "synthetic": 0.6}
# One row per dataset x optimizer x learning_rate x seed x arm x epoch.
STUDY_COLUMNS = [
    "dataset",
    "optimizer",
    "learning_rate",
    *(name for name in HISTORY_COLUMNS if name not in ("eval_time_s", "initial_weights")),
]
CELL_KEYS = ["dataset", "optimizer", "learning_rate"]


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
    return names


def run_study(
    dataset: str = "digits",
    *,
    output_dir: str | os.PathLike = "docs/study",
    runs_dir: str | os.PathLike = "runs/study",
    optimizers: Sequence[str] | None = None,
    seeds: Sequence[int] = STUDY_SEEDS,
    **overrides,
) -> pd.DataFrame:
    """Run (or resume) the study's grid on `dataset`; return the full study table.

    Args:
        dataset: "digits" or "synthetic" (settings in `STUDY_SETTINGS`), or any
            source `run_comparison` takes, with `overrides` for its settings.
        output_dir: where study.csv, the derived tables and the plots go.
        runs_dir: one folder per grid cell, for resuming.
        optimizers: a subset of `STUDY_GRID` (default: all four).
        seeds: at least 2; every cell runs every seed.
        **overrides: `run_comparison` settings that replace the dataset's defaults
            (`epochs`, `image_size`, `batch_size`, `augment`, `max_examples`).
    """
    names = check_study_grid(optimizers)
    settings = {**STUDY_SETTINGS.get(dataset, STUDY_SETTINGS["digits"]), **overrides}
    seeds = list(seeds)
    if len(seeds) < 2:
        raise ValueError(f"The study needs at least 2 seeds. Received: seeds={seeds!r}")
    cells = [(name, rate) for name in names for rate in STUDY_GRID[name]]
    start, cpu_start = time.perf_counter(), time.process_time()
    tables = []
    for index, (optimizer, learning_rate) in enumerate(cells, start=1):
        folder = Path(runs_dir) / dataset / f"{optimizer}-lr{learning_rate:g}"
        elapsed = time.perf_counter() - start
        print(
            f"[study {dataset}] cell {index}/{len(cells)}: {optimizer} lr={learning_rate:g} "
            f"({elapsed / 60:.1f} min so far)",
            flush=True,
        )
        config = ComparisonConfig(
            dataset=dataset,
            seeds=seeds,
            optimizer=optimizer,
            learning_rate=learning_rate,
            momentum=STUDY_MOMENTUM.get(optimizer),
            **settings,
        )
        comparison = _finished_cell(folder, config)
        if comparison is None:
            comparison = run_comparison(config, output_dir=folder, verbose=0)
        tables.append(_tidy(comparison.history, dataset, optimizer, learning_rate))
    minutes = (time.perf_counter() - start) / 60
    print(f"[study {dataset}] {len(cells)} cells x {len(seeds)} seeds in {minutes:.1f} min")
    study = _merge_into_study(Path(output_dir), dataset, pd.concat(tables, ignore_index=True))
    cpu_minutes = (time.process_time() - cpu_start) / 60
    _record_run(Path(output_dir), dataset, settings, seeds, names, minutes, cpu_minutes)
    write_study_outputs(study, output_dir)
    return study


def _finished_cell(folder: Path, config: ComparisonConfig):
    """The cell's earlier comparison if it finished with the same settings, else None."""
    if not (folder / "results.json").is_file():
        return None
    comparison = load_comparison(folder)
    earlier = ComparisonConfig.from_config(comparison.parameters)
    return comparison if earlier.identity() == config.identity() else None


def _tidy(history: pd.DataFrame, dataset: str, optimizer: str, learning_rate: float):
    table = history.assign(dataset=dataset, optimizer=optimizer, learning_rate=learning_rate)
    return table[STUDY_COLUMNS]


def _merge_into_study(folder: Path, dataset: str, rows: pd.DataFrame) -> pd.DataFrame:
    """study.csv with this dataset's rows replaced by `rows` (other datasets kept)."""
    path = prepare_output_dir(folder) / "study.csv"
    if path.is_file():
        earlier = pd.read_csv(path)
        rows = pd.concat([earlier[earlier["dataset"] != dataset], rows], ignore_index=True)
    study = rows.sort_values(["dataset", "optimizer", "learning_rate", "seed", "arm", "epoch"])
    study = study.reset_index(drop=True)
    write_atomically(path, study.to_csv(index=False))
    return study


def _record_run(folder: Path, dataset, settings, seeds, optimizers, minutes, cpu_minutes) -> None:
    """study.json: per dataset, the settings, grid, machine and time of its run.

    The times add up over the invocations of the same study (a resumed study counts the
    time its earlier invocations trained), and start again when the settings change."""
    path = folder / "study.json"
    record = json.loads(path.read_text()) if path.is_file() else {}
    grid = {name: list(STUDY_GRID[name]) for name in optimizers}
    earlier = record.get(dataset, {})
    same = (earlier.get("settings"), earlier.get("seeds"), earlier.get("grid")) == (
        settings,
        seeds,
        grid,
    )
    if same:
        minutes += earlier.get("wall_time_min", 0.0)
        cpu_minutes += earlier.get("cpu_time_min", 0.0)
    record[dataset] = {
        "settings": settings,
        "seeds": seeds,
        "grid": grid,
        "momentum": STUDY_MOMENTUM,
        "target_accuracy": TARGET_ACCURACY.get(dataset),
        "wall_time_min": round(minutes, 1),
        "cpu_time_min": round(cpu_minutes, 1),
        "environment": describe_environment(),
        "command": " ".join(
            [f"python -m gc_tutorial.study --dataset {dataset}"]
            + [
                f"--{key.replace('_', '-')} {value}"
                for key, value in settings.items()
                if STUDY_SETTINGS.get(dataset, {}).get(key) != value
            ]
        ),
    }
    write_atomically(path, json.dumps(record, indent=2) + "\n")


# --- Derived tables -------------------------------------------------------------------


def final_epochs(study: pd.DataFrame) -> pd.DataFrame:
    """One row per dataset x optimizer x learning_rate x seed x arm: its last epoch."""
    ordered = study.sort_values("epoch")
    return ordered.groupby([*CELL_KEYS, "seed", "arm"], as_index=False).last()


def paired_table(study: pd.DataFrame, metric: str = "test_accuracy") -> pd.DataFrame:
    """Final `metric` per seed for both arms, and their difference gc - baseline."""
    final = final_epochs(study)
    wide = final.pivot_table(index=[*CELL_KEYS, "seed"], columns="arm", values=metric)
    wide = wide.reset_index()
    wide["difference"] = wide["gc"] - wide["baseline"]
    return wide


def summarize_study(study: pd.DataFrame, metric: str = "test_accuracy") -> pd.DataFrame:
    """summary.csv: per dataset x optimizer x learning_rate, `paired_summary` of the final
    `metric` differences (GC - baseline), with each arm's mean."""
    rows = []
    for keys, cell in paired_table(study, metric).groupby(CELL_KEYS):
        summary = paired_summary(cell["difference"].to_numpy())
        rows.append(
            {
                **dict(zip(CELL_KEYS, keys, strict=True)),
                "metric": f"final_{metric}",
                "baseline_mean": cell["baseline"].mean(),
                "gc_mean": cell["gc"].mean(),
                **{field: getattr(summary, field) for field in SUMMARY_FIELDS},
            }
        )
    return pd.DataFrame(rows)


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
    rows = []
    for (dataset, optimizer), runs in final.groupby(["dataset", "optimizer"]):
        arms = {
            arm: runs[
                (runs["arm"] == arm) & (runs["learning_rate"] == best[(dataset, optimizer, arm)])
            ].set_index("seed")["test_accuracy"]
            for arm in ("baseline", "gc")
        }
        difference = (arms["gc"] - arms["baseline"]).dropna()
        summary = paired_summary(difference.to_numpy())
        rows.append(
            {
                "dataset": dataset,
                "optimizer": optimizer,
                "baseline_learning_rate": best[(dataset, optimizer, "baseline")],
                "gc_learning_rate": best[(dataset, optimizer, "gc")],
                "baseline_mean": arms["baseline"].mean(),
                "gc_mean": arms["gc"].mean(),
                **{field: getattr(summary, field) for field in SUMMARY_FIELDS},
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
        summary = paired_summary(both.to_numpy()) if len(both) >= 2 else None
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
    record_path = folder / "study.json"
    record = json.loads(record_path.read_text()) if record_path.is_file() else {}
    write_atomically(folder / "README.md", study_readme(summary, at_best, reach, record))


def study_readme(
    summary: pd.DataFrame, at_best: pd.DataFrame, reach: pd.DataFrame, record: dict
) -> str:
    """docs/study/README.md: the answer in words, with its intervals, then how it was run.

    Generated from the tables, so the words always match the files."""
    lines = ["# The GC study", ""]  # the answer first: the site's landing page quotes it
    for dataset, rows in at_best.groupby("dataset", sort=False):
        cells = summary[summary["dataset"] == dataset]
        above, below = int((cells["ci_low"] > 0).sum()), int((cells["ci_high"] < 0).sum())
        real = "real handwritten digits" if dataset == "digits" else "SYNTHETIC data"
        lines += [
            f"**{dataset}** ({real}; not horses_or_humans). Final test accuracy, GC - baseline, "
            "each arm at its own best learning rate (chosen on the training loss), paired "
            f"over {int(rows['n'].max())} seeds, 95% CI:",
            "",
        ]
        for row in rows.to_dict(orient="records"):
            summary_row = PairedSummary(
                **{field: row[field] for field in SUMMARY_FIELDS}, confidence=0.95
            )
            lines.append(
                f"- {row['optimizer']} (baseline lr {row['baseline_learning_rate']:g}, GC lr "
                f"{row['gc_learning_rate']:g}): {summary_row.describe('difference')}"
            )
        lines += [
            "",
            f"Over all {len(cells)} optimizer x learning-rate cells at equal learning rates: the "
            f"interval lies above 0 in {above}, below 0 in {below}, and contains 0 in "
            f"{len(cells) - above - below}.",
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
                    f"; paired GC - baseline {row['mean']:+.2f} epochs "
                    f"(95% CI {row['ci_low']:+.2f} to {row['ci_high']:+.2f})"
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
            f"({run.get('cpu_time_min', 'n/a')} min of CPU time) on "
            f"{environment['processor']} ({environment['cpu_count']} cores, "
            f"{environment['memory_gib']} GiB, TensorFlow {environment['tensorflow']})."
        )
    lines += [
        "",
        "## Files",
        "",
        "- `study.csv`: one row per dataset x optimizer x learning_rate x seed x arm x epoch.",
        "- `summary.csv`: `paired_summary` of the final test accuracy per cell (GC - baseline).",
        "- `best_learning_rates.csv`: each arm at its own best learning rate, paired.",
        "- `epochs_to_target.csv`: epochs to the target test accuracy at those learning rates.",
        "- `forest.png`, `learning_rates.png`, `epochs_to_target.png`: the plots; notebook 6 "
        "explains how to read them.",
        "",
    ]
    return "\n".join(lines)


def _epochs(value: float) -> str:
    return "never" if value != value else f"{value:.1f} epochs"


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: `python -m gc_tutorial.study --dataset digits`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits", help="digits or synthetic")
    parser.add_argument("--output-dir", default="docs/study")
    parser.add_argument("--runs-dir", default="runs/study")
    parser.add_argument("--optimizers", nargs="+", default=None, help=", ".join(STUDY_GRID))
    parser.add_argument("--seeds", type=int, nargs="+", default=list(STUDY_SEEDS))
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--max-examples", type=int, default=None)
    args = parser.parse_args(argv)
    overrides = {
        name: value
        for name, value in (
            ("epochs", args.epochs),
            ("image_size", args.image_size),
            ("max_examples", args.max_examples),
        )
        if value is not None
    }
    try:
        check_study_grid(args.optimizers)
    except ValueError as error:
        parser.exit(2, f"error: {error}\n")
    run_study(
        args.dataset,
        output_dir=args.output_dir,
        runs_dir=args.runs_dir,
        optimizers=args.optimizers,
        seeds=args.seeds,
        **overrides,
    )


if __name__ == "__main__":
    main()
