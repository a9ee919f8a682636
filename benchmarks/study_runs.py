"""One study run in several ways: each way's wall time, and how far its results agree.

Each way is an output folder of `python -m gc_tutorial.study` for the same dataset, settings
and seeds; its `study.json` records the command, the wall time, where the cells ran and the
machine. Every two ways are compared: the summary (`summary.csv`), every run's final
training loss, test loss and test accuracy (a run: optimizer x learning rate x seed x arm),
each cell's GC - baseline mean and whether the difference was detected, and the differences
at each arm's best learning rate (`best_learning_rates.csv`).

    python benchmarks/study_runs.py --dataset digits \\
        "committed=docs/study" "LocalCluster=runs/local-out"
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from common import check_output, print_table, write_results

from gc_tutorial.grids.study_outputs import load_study_record
from gc_tutorial.grids.tables import final_epochs

FINAL_METRICS = ["train_loss", "test_loss", "test_accuracy"]
RUN_KEYS = ["optimizer", "learning_rate", "seed", "arm"]
CELL_KEYS = ["optimizer", "learning_rate", "metric"]


def way(text: str) -> tuple[str, Path]:
    """An argparse `type`: "name=folder", the folder holding a study's files."""
    name, separator, folder = text.rpartition("=")
    if not separator or not name:
        raise argparse.ArgumentTypeError(f"must be NAME=FOLDER, got {text!r}")
    if not (Path(folder) / "summary.csv").is_file():
        raise argparse.ArgumentTypeError(f"{folder} holds no study (no summary.csv)")
    return name, Path(folder)


def final_values(folder: Path, dataset: str) -> pd.DataFrame:
    """Each run's last epoch, indexed by optimizer, learning rate, seed and arm."""
    study = pd.read_csv(folder / "study.csv")
    final = final_epochs(study[study["dataset"] == dataset])
    return final.set_index(RUN_KEYS)[FINAL_METRICS].sort_index()


def summary_rows(folder: Path, dataset: str) -> pd.DataFrame:
    summary = pd.read_csv(folder / "summary.csv")
    return summary[summary["dataset"] == dataset].set_index(CELL_KEYS).sort_index()


def agreement(reference: Path, other: Path, dataset: str) -> dict:
    """How `other`'s results differ from `reference`'s."""
    one, two = final_values(reference, dataset), final_values(other, dataset)
    if not one.index.equals(two.index):
        raise SystemExit(f"{other} and {reference} hold different runs of {dataset}")
    difference = (two - one).abs()
    largest = difference["test_accuracy"].idxmax()
    cells_one, cells_two = summary_rows(reference, dataset), summary_rows(other, dataset)
    return {
        "summary_identical": cells_one.equals(cells_two),
        "runs": len(difference),
        "runs_with_identical_final_values": int((difference == 0).all(axis=1).sum()),
        "final_value_difference": {
            metric: {
                "median": float(np.median(difference[metric])),
                "p90": float(np.quantile(difference[metric], 0.9)),
                "max": float(difference[metric].max()),
            }
            for metric in FINAL_METRICS
        },
        "largest_test_accuracy_difference_in": (
            dict(zip(RUN_KEYS, map(str, largest))) if difference.to_numpy().any() else None
        ),
        "cells": len(cells_one),
        "largest_difference_of_a_cell_mean": float(
            (cells_two["mean"] - cells_one["mean"]).abs().max()
        ),
        "cells_with_the_same_verdict": int((cells_two["detected"] == cells_one["detected"]).sum()),
        "at_best_learning_rates": {
            name: at_best(folder, dataset)
            for name, folder in (("one", reference), ("other", other))
        },
    }


def at_best(folder: Path, dataset: str) -> dict[str, str]:
    """Per optimizer, GC - baseline at each arm's best learning rate, as the README gives it."""
    best = pd.read_csv(folder / "best_learning_rates.csv")
    return {
        row.optimizer: f"{row.mean:+.4f} ({row.ci_low:+.4f} to {row.ci_high:+.4f})"
        + (", detected" if row.detected else "")
        for row in best[best["dataset"] == dataset].itertuples()
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ways", nargs="+", type=way, help="NAME=FOLDER, one per way")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--output", default=None, help="the JSON file to write")
    args = parser.parse_args(argv)
    path = check_output(parser, "study_runs", args.output)
    rows = []
    for name, folder in args.ways:
        record = load_study_record(folder).get(args.dataset)
        if record is None:
            parser.error(f"{folder}/study.json records no {args.dataset} study")
        rows.append(
            {
                "way": name,
                "command": record["command"],
                "where": record.get("workers", "one process"),
                "wall_time_min": record["wall_time_min"],
                "load_average_before": record.get("load_average_before"),
                "machine": record["environment"],
            }
        )
    pairs = [
        {"ways": [first, second], **agreement(one, other, args.dataset)}
        for index, (first, one) in enumerate(args.ways)
        for second, other in args.ways[index + 1 :]
    ]
    print_table(rows, ["way", "where", "wall_time_min"])
    if pairs:  # one way alone has nothing to agree with
        print_table(
            [{**pair, "ways": " / ".join(pair["ways"])} for pair in pairs],
            ["ways", "summary_identical", "runs_with_identical_final_values", "runs"],
        )
    payload = {
        "command": shlex.join(["python", "benchmarks/study_runs.py", *(argv or sys.argv[1:])]),
        "dataset": args.dataset,
        "rows": rows,
        "pairs": pairs,
    }
    write_results("study_runs", payload, path)


if __name__ == "__main__":
    main()
