"""How a grid scales: the same cells in one process and on a LocalCluster of 1 and 2 workers.

The grid: digits, 2 optimizers x 2 learning rates x 4 seeds (one cell per seed, both arms),
15 epochs at 24 px, no augmentation, run by `gc_tutorial.grids.grid.run_plan`, which gives
every cell one TensorFlow thread wherever it runs. Each way gets a fresh runs folder; cells
per minute count the whole run, cluster start-up included. The runs are checked to give the
same final metrics, bit for bit, and where a cell's time goes. For scale, the same cells
also run one after the other in a new process with TensorFlow's default threads, outside
the grid runner: faster per cell than one thread, but with other numbers (the order of
float sums follows the thread count). Then `steps_per_execution`: the study's model trained
for a few epochs with 1 and 32 steps per call, timed, and its final weights compared.

    python benchmarks/grid_scaling.py            # writes benchmarks/results/grid_scaling.json
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

from common import check_output, load_average, print_table, write_results

from gc_tutorial.config import ComparisonConfig
from gc_tutorial.grids.grid import Cell, GridPlan, run_plan
from gc_tutorial.grids.study import train_cell

GRID = {"optimizers": ("sgd", "adam"), "learning_rates": (1e-3, 1e-2), "seeds": (0, 1, 2, 3)}
SETTINGS = {"dataset": "digits", "image_size": 24, "epochs": 15, "batch_size": 64}
WAYS = {
    "this process, one cell at a time": 0,
    "LocalCluster, 1 worker": 1,
    "LocalCluster, 2 workers": 2,
}
METRICS = ["train_loss", "test_loss", "test_accuracy"]
DEFAULT_THREADS = "one process, TensorFlow's default threads (other numbers)"
THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS")


def grid_cells(epochs: int, seeds: int) -> tuple[Cell, ...]:
    cells = []
    for optimizer in GRID["optimizers"]:
        for rate in GRID["learning_rates"]:
            for seed in GRID["seeds"][:seeds]:
                config = ComparisonConfig(
                    **{**SETTINGS, "epochs": epochs},
                    augment=False,
                    optimizer=optimizer,
                    learning_rate=rate,
                    momentum=0.9 if optimizer == "sgd" else None,
                    seeds=(seed,),
                )
                name = f"{optimizer}-lr{rate:g}-seed{seed}"
                cells.append(Cell(name, config.get_config(), train_cell, {"config": config}))
    return tuple(cells)


def run_way(cells: tuple[Cell, ...], workers: int, folder: Path) -> tuple[float, dict, dict]:
    """Seconds for the whole grid, each cell's final metrics, and where a cell's time went."""
    import pandas as pd

    plan = GridPlan(folder, cells)
    start = time.perf_counter()
    outcomes = run_plan(plan, workers=workers, progress=False)
    seconds = time.perf_counter() - start
    failed = [outcome.cell.name for outcome in outcomes if outcome.status != "done"]
    if failed:
        raise RuntimeError(f"cells failed: {failed}")
    finals, histories = {}, []
    for cell in cells:
        history = pd.read_csv(plan.folder(cell) / "history.csv")
        histories.append(history)
        last = history.sort_values("epoch").groupby("arm").tail(1).sort_values("arm")
        finals[cell.name] = last[METRICS].to_numpy().tolist()
    return seconds, finals, where_the_time_goes(outcomes, pd.concat(histories))


def default_threads_way(epochs: int, seeds: int) -> tuple[float, dict, dict]:
    """`run_way` for the cells' tasks called one after the other in a new process that keeps
    TensorFlow's default threads (this one has given its TensorFlow one thread)."""
    command = [sys.executable, __file__, "--tasks-here", "--epochs", str(epochs)]
    environment = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    done = subprocess.run(
        [*command, "--seeds", str(seeds)], env=environment, capture_output=True, text=True
    )
    if done.returncode:
        raise RuntimeError(f"the default-threads run failed:\n{done.stderr}")
    seconds, finals, parts = json.loads(done.stdout.splitlines()[-1])
    return seconds, finals, parts


def run_tasks_here(cells: tuple[Cell, ...], folder: Path) -> tuple[float, dict, dict]:
    """`run_way` without the grid runner: each cell's task, called in this process as it is."""
    import pandas as pd

    outcomes, finals, histories = [], {}, []
    start = time.perf_counter()
    for cell in cells:
        cell_start = time.perf_counter()
        cell.task(folder / cell.name, **cell.arguments)
        outcomes.append(SimpleNamespace(seconds=time.perf_counter() - cell_start))
        history = pd.read_csv(folder / cell.name / "history.csv")
        histories.append(history)
        last = history.sort_values("epoch").groupby("arm").tail(1).sort_values("arm")
        finals[cell.name] = last[METRICS].to_numpy().tolist()
    seconds = time.perf_counter() - start
    return seconds, finals, where_the_time_goes(outcomes, pd.concat(histories))


def where_the_time_goes(outcomes: list, history) -> dict:
    """A cell's mean seconds: its first epochs (graph tracing, filling the data cache), its
    other epochs' training, the evaluations on the test split, and the rest (start-up, data
    loading, model building, statistics, plots and files)."""
    cells = len(outcomes)
    total = sum(outcome.seconds for outcome in outcomes) / cells
    first = history.loc[history["epoch"] == 1, "train_time_s"].sum() / cells
    steady = history.loc[history["epoch"] > 1, "train_time_s"].sum() / cells
    evaluation = history["eval_time_s"].sum() / cells
    parts = {
        "cell_s": total,
        "first_epochs_s": first,
        "steady_training_s": steady,
        "evaluation_s": evaluation,
        "rest_s": total - first - steady - evaluation,
    }
    return {name: round(value, 2) for name, value in parts.items()}


def largest_difference(one: dict, other: dict) -> dict[str, float]:
    """Per metric, the largest absolute difference of a final value between two ways."""
    return {
        metric: max(
            abs(row_a[index] - row_b[index])
            for name in one
            for row_a, row_b in zip(one[name], other[name], strict=True)
        )
        for index, metric in enumerate(METRICS)
    }


def steps_per_execution_probe(epochs: int) -> list[dict]:
    """The study's model on digits at 24 px, SGD: epoch time and final weights with 1 and 32
    steps per execution (same seed, same batches)."""
    import keras
    import numpy as np

    from gc_tutorial.data import load_dataset
    from gc_tutorial.model import build_model
    from gc_tutorial.optimizers import make_optimizer

    rows, weights = [], {}
    for steps in (1, 32):
        keras.utils.set_random_seed(0)
        data = load_dataset("digits", image_size=24, batch_size=64, augment=False, seed=0)
        model = build_model(data.info.image_shape, data.info.num_classes, seed=0)
        model.compile(
            optimizer=make_optimizer("sgd", gc=True, learning_rate=1e-2),
            loss="sparse_categorical_crossentropy",
            steps_per_execution=steps,
        )
        model.fit(data.train, epochs=1, verbose=0)  # tracing and warm-up
        start = time.perf_counter()
        model.fit(data.train, epochs=epochs, verbose=0)
        seconds = (time.perf_counter() - start) / epochs
        weights[steps] = [np.asarray(w) for w in model.get_weights()]
        rows.append({"steps_per_execution": steps, "epoch_s": round(seconds, 4)})
    same = all(np.array_equal(a, b) for a, b in zip(weights[1], weights[32], strict=True))
    for row in rows:
        row["weights_identical_to_1"] = same
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=SETTINGS["epochs"])
    parser.add_argument("--seeds", type=int, default=len(GRID["seeds"]), choices=(1, 2, 3, 4))
    parser.add_argument("--output", default=None, help="the JSON file to write")
    parser.add_argument("--tasks-here", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.tasks_here:  # the default-threads way, in its own process (`default_threads_way`)
        with tempfile.TemporaryDirectory(prefix="grid-scaling-") as scratch:
            print(json.dumps(run_tasks_here(grid_cells(args.epochs, args.seeds), Path(scratch))))
        return
    path = check_output(parser, "grid_scaling", args.output)
    cells = grid_cells(args.epochs, args.seeds)
    rows, finals = [], {}
    ways = {**WAYS, DEFAULT_THREADS: None}
    with tempfile.TemporaryDirectory(prefix="grid-scaling-") as scratch:
        for way, workers in ways.items():
            load = load_average()
            if workers is None:
                seconds, finals[way], parts = default_threads_way(args.epochs, args.seeds)
            else:
                seconds, finals[way], parts = run_way(cells, workers, Path(scratch) / str(workers))
            rows.append(
                {
                    "way": way,
                    "workers": workers,
                    "seconds": round(seconds, 1),
                    "cells_per_minute": round(60 * len(cells) / seconds, 2),
                    "load_average_before": load,
                    **parts,
                }
            )
    base = rows[0]["seconds"]
    for row in rows:
        row["speed_up"] = round(base / row["seconds"], 2)
    sequential, one, two, default = finals.values()
    agreement = {
        "max_abs_difference_1_vs_2_workers": largest_difference(one, two),
        "max_abs_difference_this_process_vs_2_workers": largest_difference(sequential, two),
        "max_abs_difference_default_threads_vs_2_workers": largest_difference(default, two),
    }
    two_workers = rows[2]["seconds"]
    speed_ups = {
        "2_workers_vs_this_process": round(base / two_workers, 2),
        "2_workers_vs_default_threads": round(rows[3]["seconds"] / two_workers, 2),
    }
    print_table(rows, ["way", "seconds", "cells_per_minute", "speed_up"])
    parts = ["cell_s", "first_epochs_s", "steady_training_s", "evaluation_s", "rest_s"]
    print_table(rows, ["way", *parts])
    print(agreement, speed_ups)
    probe = steps_per_execution_probe(epochs=min(5, args.epochs))
    print_table(probe, ["steps_per_execution", "epoch_s", "weights_identical_to_1"])
    payload = {
        "command": shlex.join(["python", "benchmarks/grid_scaling.py", *sys.argv[1:]]),
        "grid": {**GRID, **SETTINGS, "epochs": args.epochs, "cells": len(cells)},
        "rows": rows,
        "agreement": agreement,
        "speed_ups": speed_ups,
        "steps_per_execution": probe,
    }
    write_results("grid_scaling", payload, path)


if __name__ == "__main__":
    main()
