"""One study cell trained two ways: every arm compiled anew for each seed, or once per arm.

The cell: digits at 24 px, 15 epochs, batch 64, no augmentation, RMSprop at 1e-3, 10 seeds,
as the study trains each of its cells. First with `train_arm` compiling a new model for every
arm of every seed (Keras traces its training and test steps each time), then with
`run_comparison`, which compiles each arm's model once and sets it to each seed's start. Both
run in this process, one after the other; the per-epoch histories must be identical (losses,
accuracies, initial weights; the timings aside), and the wall times and the epochs' times
say where the time went.

    python benchmarks/compiled_once.py     # writes benchmarks/results/compiled_once.json
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time

import pandas as pd
from common import at_least, check_output, load_average, print_table, write_results

from gc_tutorial.analysis import ARMS, HISTORY_COLUMNS
from gc_tutorial.comparison import enable_determinism, run_comparison, train_arm
from gc_tutorial.config import ComparisonConfig

SETTINGS = {"dataset": "digits", "image_size": 24, "epochs": 15, "batch_size": 64}
CELL = {"optimizer": "rmsprop", "learning_rate": 1e-3}
TIMES = ["train_time_s", "eval_time_s"]


def each_arm_compiled_anew(config: ComparisonConfig):
    """Every arm of every seed on a model compiled for that arm and seed alone."""
    rows = []
    for seed in config.seeds:
        start = None
        for arm in ARMS:
            trained = train_arm(arm, seed, config, verbose=0, start=start)
            start, rows = trained.initial_weights, rows + trained.rows
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)


def timed(way: str, train) -> tuple[dict, object]:
    load = load_average()
    start = time.perf_counter()
    history = train()
    seconds = time.perf_counter() - start
    first = history["epoch"] == 1
    row = {
        "way": way,
        "seconds": round(seconds, 1),
        "first_epochs_s": round(history.loc[first, "train_time_s"].sum(), 1),
        "other_epochs_s": round(history.loc[~first, "train_time_s"].sum(), 1),
        "evaluation_s": round(history["eval_time_s"].sum(), 1),
        "load_average_before": load,
    }
    return row, history


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=at_least(2), default=10, help="seeds of the cell")
    parser.add_argument("--epochs", type=at_least(1), default=SETTINGS["epochs"])
    parser.add_argument("--max-examples", type=at_least(16), default=None)
    parser.add_argument("--output", default=None, help="the JSON file to write")
    args = parser.parse_args(argv)
    path = check_output(parser, "compiled_once", args.output)
    config = ComparisonConfig(
        **{**SETTINGS, "epochs": args.epochs},
        **CELL,
        augment=False,
        seeds=tuple(range(args.seeds)),
        max_examples=args.max_examples,
    )
    enable_determinism()
    anew, anew_history = timed("each arm compiled anew", lambda: each_arm_compiled_anew(config))
    once, once_history = timed(
        "each arm compiled once (run_comparison)",
        lambda: run_comparison(config, verbose=0).history,
    )
    identical = anew_history.drop(columns=TIMES).equals(once_history.drop(columns=TIMES))
    once["speed_up"] = round(anew["seconds"] / once["seconds"], 2)
    anew["speed_up"] = 1.0
    rows = [anew, once]
    print_table(rows, ["way", "seconds", "first_epochs_s", "other_epochs_s", "speed_up"])
    print(f"identical histories (losses, accuracies, initial weights): {identical}")
    payload = {
        "command": shlex.join(["python", "benchmarks/compiled_once.py", *(argv or sys.argv[1:])]),
        "cell": {**SETTINGS, **CELL, "epochs": args.epochs, "seeds": args.seeds},
        "rows": rows,
        "identical_histories": identical,
    }
    write_results("compiled_once", payload, path)
    if not identical:
        raise SystemExit("the two ways gave different histories")


if __name__ == "__main__":
    main()
