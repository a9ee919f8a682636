"""A Dask worker's memory settings and TensorFlow on CPU: one study cell, two environments.

Dask starts every worker process with MALLOC_TRIM_THRESHOLD_=65536 (its config key
`distributed.nanny.pre-spawn-environ`). The same cell (digits, 24 px, batch 64, RMSprop 1e-3,
as the study trains it, with fewer seeds and epochs) runs as a task on a LocalCluster of one
one-thread worker, first with Dask's default environment, then with the grid's
(`gc_tutorial.grids.cluster.local_cluster`, which leaves glibc's settings alone). The
worker reports its epochs' times and, from `getrusage`, its page faults and CPU time in user
and system mode; the two histories must be identical (the timings aside).

    python benchmarks/worker_memory.py     # writes benchmarks/results/worker_memory.json
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys

from common import at_least, check_output, load_average, print_table, write_results

from gc_tutorial.config import ComparisonConfig
from gc_tutorial.grids.cluster import local_cluster

SETTINGS = {"dataset": "digits", "image_size": 24, "batch_size": 64, "augment": False}
CELL = {"optimizer": "rmsprop", "learning_rate": 1e-3}
VARIABLE = "MALLOC_TRIM_THRESHOLD_"
TIMES = ["train_time_s", "eval_time_s"]


def train_in_worker(config: ComparisonConfig) -> dict:
    """The task: the cell, trained in the worker, with what the worker's process spent on it."""
    import os
    import resource
    import time

    from gc_tutorial.comparison import run_comparison
    from gc_tutorial.grids.grid import use_threads

    use_threads(1)  # as a grid's cell does in a one-thread worker
    before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    history = run_comparison(config, verbose=0).history
    seconds, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF)
    later = history["epoch"] > 1
    return {
        "environment": os.environ.get(VARIABLE, "not set"),
        "seconds": round(seconds, 1),
        "steady_epoch_s": round(history.loc[later, "train_time_s"].mean(), 3),
        "page_faults": after.ru_minflt - before.ru_minflt,
        "user_s": round(after.ru_utime - before.ru_utime, 1),
        "system_s": round(after.ru_stime - before.ru_stime, 1),
        "history": history.drop(columns=TIMES).to_json(),
    }


def dask_default_cluster():
    """A LocalCluster of one one-thread worker, with Dask's default settings."""
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        silence_logs=logging.ERROR,
    )


def grid_cluster():
    """The grid's LocalCluster (`gc_tutorial.grids.cluster.local_cluster`) of one worker."""
    return local_cluster(1)


def in_a_worker(config: ComparisonConfig, cluster) -> dict:
    """`train_in_worker` as a task on `cluster` (a context manager, closed after)."""
    from distributed import Client

    with cluster as running, Client(running) as client:
        return client.submit(train_in_worker, config, pure=False).result()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=at_least(1), default=2, help="seeds of the cell")
    parser.add_argument("--epochs", type=at_least(2), default=6)
    parser.add_argument("--max-examples", type=at_least(16), default=None)
    parser.add_argument("--output", default=None, help="the JSON file to write")
    args = parser.parse_args(argv)
    path = check_output(parser, "worker_memory", args.output)
    config = ComparisonConfig(
        **SETTINGS,
        **CELL,
        epochs=args.epochs,
        seeds=tuple(range(args.seeds)),
        max_examples=args.max_examples,
    )
    # Dask's first: its cluster leaves the variable in this process's environment, which the
    # grid's cluster must then keep from its worker.
    ways = {"Dask's default": dask_default_cluster, "the grid's (gc_tutorial)": grid_cluster}
    rows, histories = [], []
    for way, cluster in ways.items():
        load = load_average()
        row = in_a_worker(config, cluster())
        histories.append(row.pop("history"))
        rows.append({"way": way, **row, "load_average_before": load})
    for row in rows:
        row["speed_up"] = round(rows[0]["steady_epoch_s"] / row["steady_epoch_s"], 2)
    identical = histories[0] == histories[1]
    columns = ["way", "environment", "steady_epoch_s", "speed_up", "page_faults", "system_s"]
    print_table(rows, columns)
    print(f"identical histories (losses, accuracies, initial weights): {identical}")
    payload = {
        "command": shlex.join(["python", "benchmarks/worker_memory.py", *(argv or sys.argv[1:])]),
        "cell": {**SETTINGS, **CELL, "epochs": args.epochs, "seeds": args.seeds},
        "variable": VARIABLE,
        "rows": rows,
        "identical_histories": identical,
    }
    write_results("worker_memory", payload, path)
    if not identical:
        raise SystemExit("the two environments gave different histories")


if __name__ == "__main__":
    main()
