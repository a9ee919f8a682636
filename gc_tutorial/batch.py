"""Batch runs: the comparison notebook over a grid of optimizers x learning rates x seeds.

Each run executes the notebook with papermill into its own folder (the executed
notebook plus the comparison's tables and plots). A run whose results.json
exists is finished and skipped on a rerun; a failing run leaves its error in
error.txt and the others go on. `collect_runs` gathers whatever runs exist.
"""

from __future__ import annotations

import argparse
import itertools
import os
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from gc_tutorial.experiment import load_comparison
from gc_tutorial.storage import prepare_output_dir, write_atomically

EXECUTED_NOTEBOOK = "comparison.ipynb"


def run_name(optimizer: str, learning_rate: float, seed: int) -> str:
    """The folder name of one grid run, e.g. 'rmsprop-lr0.0001-seed0'."""
    return f"{optimizer}-lr{learning_rate:g}-seed{seed}"


def run_grid(
    notebook: str | os.PathLike,
    runs_dir: str | os.PathLike,
    *,
    optimizers: Sequence[str],
    learning_rates: Sequence[float],
    seeds: Sequence[int],
    parameters: dict | None = None,
    kernel_name: str | None = None,
) -> pd.DataFrame:
    """Run `notebook` once per (optimizer, learning rate, seed); return one status row per run.

    `parameters` go to every run (e.g. dataset, epochs); the grid's own values
    and `output_dir` are set per run.
    """
    import papermill
    from tqdm.auto import tqdm

    notebook = Path(notebook)
    if not notebook.is_file():
        raise FileNotFoundError(f"Notebook {str(notebook)!r} not found.")
    runs_dir = prepare_output_dir(runs_dir)
    grid = list(itertools.product(optimizers, learning_rates, seeds))
    if not grid:
        raise ValueError("The grid is empty: give at least one optimizer, learning rate and seed.")
    statuses = []
    for optimizer, learning_rate, seed in (progress := tqdm(grid, desc="grid runs", unit="run")):
        name = run_name(optimizer, learning_rate, seed)
        progress.set_postfix_str(name)
        folder = runs_dir / name
        row = {"run": name, "optimizer": optimizer, "learning_rate": learning_rate, "seed": seed}
        if (folder / "results.json").is_file():
            statuses.append({**row, "status": "skipped (finished before)", "seconds": 0.0})
            continue
        folder.mkdir(exist_ok=True)
        (folder / "error.txt").unlink(missing_ok=True)
        start = time.perf_counter()
        try:
            papermill.execute_notebook(
                str(notebook),
                str(folder / EXECUTED_NOTEBOOK),
                parameters={
                    **(parameters or {}),
                    "optimizer": optimizer,
                    "learning_rate": learning_rate,
                    "seeds": [seed],
                    "output_dir": str(folder.resolve()),
                },
                kernel_name=kernel_name,
                cwd=str(notebook.parent),
                progress_bar=False,
            )
            status = "done"
        except Exception as error:  # one failing run must not stop the others
            write_atomically(folder / "error.txt", "".join(traceback.format_exception(error)))
            status = f"failed: {type(error).__name__} (see {folder / 'error.txt'})"
        seconds = round(time.perf_counter() - start, 1)
        statuses.append({**row, "status": status, "seconds": seconds})
    return pd.DataFrame(statuses)


def collect_runs(runs_dir: str | os.PathLike) -> pd.DataFrame:
    """One row per finished run x arm, with the run's parameters and final metrics.

    Folders without results.json (running, failed) are left out; an empty
    table is returned when there is no finished run yet.
    """
    rows = []
    for results in sorted(Path(runs_dir).glob("*/results.json")):
        comparison = load_comparison(results.parent)
        parameters = comparison.parameters
        for summary in comparison.summary.to_dict(orient="records"):
            rows.append(
                {
                    "run": results.parent.name,
                    "dataset": comparison.dataset.get("name"),
                    "synthetic": comparison.dataset.get("synthetic"),
                    "optimizer": parameters["optimizer"],
                    "learning_rate": parameters["learning_rate"],
                    "seeds": tuple(parameters["seeds"]),
                    "epochs": parameters["epochs"],
                    "image_size": parameters["image_size"],
                    "arm": summary["arm"],
                    "final_test_accuracy": summary["final_test_accuracy_mean"],
                    "best_test_accuracy": summary["best_test_accuracy_mean"],
                    "final_test_loss": summary["final_test_loss_mean"],
                    "steady_epoch_time_s": summary["steady_epoch_time_s_mean"],
                    "diverged": summary["diverged"],
                }
            )
    return pd.DataFrame(rows)


def summarize_grid(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over runs (seeds) per optimizer x learning rate x arm."""
    if runs.empty:
        return runs
    grouped = runs.groupby(["optimizer", "learning_rate", "arm"])
    summary = grouped[["final_test_accuracy", "best_test_accuracy", "final_test_loss"]].agg(
        ["mean", "std"]
    )
    summary.columns = [f"{metric}_{stat}" for metric, stat in summary.columns]
    summary.insert(0, "runs", grouped.size())
    return summary.reset_index()


def main(argv: Sequence[str] | None = None) -> None:
    """Command line for a grid; see the README's "Batch runs" section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebook", default="notebooks/04_comparison.ipynb")
    parser.add_argument("--runs-dir", default="runs/grid")
    parser.add_argument("--optimizers", nargs="+", default=["sgd", "rmsprop", "adam"])
    parser.add_argument("--learning-rates", type=float, nargs="+", default=[1e-3, 1e-4])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="a notebook parameter for every run, e.g. -p epochs 2 (ints/floats/bools parsed)",
    )
    args = parser.parse_args(argv)
    statuses = run_grid(
        args.notebook,
        args.runs_dir,
        optimizers=args.optimizers,
        learning_rates=args.learning_rates,
        seeds=args.seeds,
        parameters={name: _parse_value(value) for name, value in args.parameter},
    )
    print(statuses.to_string(index=False))
    summary = summarize_grid(collect_runs(args.runs_dir))
    print(summary.to_string(index=False) if not summary.empty else "No finished run yet.")
    if statuses["status"].str.startswith("failed").any():
        raise SystemExit(1)


def _parse_value(text: str):
    """-p values as papermill parses them: bools, None, ints, floats, else the string."""
    if text in ("True", "False"):
        return text == "True"
    if text == "None":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


if __name__ == "__main__":
    main()
