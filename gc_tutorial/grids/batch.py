"""Batch runs: the comparison notebook over a grid of optimizers x learning rates x seeds.

Each run executes the notebook with papermill into its own folder (the executed
notebook plus the comparison's tables and plots), as one cell of `gc_tutorial.grid`: on a
Dask `LocalCluster` by default, in this process (`workers=0`) or on a running cluster
(`scheduler=`). A run is identified by its resolved parameters (the notebook's defaults
written out, so passing a default changes nothing), the notebook's code and quick mode;
it is complete once `complete.json`, written last, says so. A rerun skips complete runs
with the same identity, reruns incomplete ones, and stops before any training if a run
was made with other settings (unless `replace=True`, which moves the old run aside and
reruns it). A failing run leaves its error in error.txt and the others go on.
`collect_runs` gathers the complete runs.
"""

from __future__ import annotations

import argparse
import importlib.resources
import itertools
import json
import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from gc_tutorial._quiet_tensorflow import load_tensorflow_quietly
from gc_tutorial.checks import DIGITS, SYNTHETIC, check_number, check_optimizer_name, check_seeds
from gc_tutorial.config import ComparisonConfig, config_defaults
from gc_tutorial.files.saving import COMPARISON_FILES
from gc_tutorial.files.storage import FolderInUseError, prepare_output_dir
from gc_tutorial.grids.cluster import add_grid_arguments, check_workers
from gc_tutorial.grids.grid import (
    COMPLETE_MARKER,
    ERROR_FILE,
    INTERRUPTED,
    Cell,
    GridPlan,
    read_marker,
    run_plan,
)
from gc_tutorial.grids.notebook_runs import (
    EXECUTED_NOTEBOOK,
    GRID_KEYS,
    check_notebook_parameters,
    execute_notebook,
    import_papermill,
    notebook_defaults,
    notebook_fingerprint,
    parse_value,
    stop_on_mixing,
    stop_on_other_settings,
)
from gc_tutorial.grids.parameters import GRID_DEFAULTS
from gc_tutorial.grids.runs_folder import lock_folder, safe_name
from gc_tutorial.grids.saved import MixedResultsError, load_comparison
from gc_tutorial.grids.tables import summarize_grid
from gc_tutorial.parameters import quick_mode
from gc_tutorial.results import jsonable


def comparison_notebook() -> Path:
    """The comparison notebook (notebook 4) as installed with the package: batch runs need no
    copy of the repository."""
    return Path(str(importlib.resources.files("gc_tutorial.grids") / "comparison_notebook.ipynb"))


def run_name(optimizer: str, learning_rate: float, seed: int) -> str:
    """The folder name of one grid run, e.g. 'rmsprop-lr0.0001-seed0'."""
    return safe_name(f"{check_optimizer_name(optimizer)}-lr{learning_rate:g}-seed{int(seed)}")


def grid_points(
    optimizers: Sequence[str], learning_rates: Sequence[float], seeds: Sequence[int]
) -> list[tuple[str, float, int]]:
    """Every (optimizer, learning rate, seed), checked, exact duplicates dropped.

    Optimizer names count in any case ("SGD" is "sgd"). Learning rates that differ only
    after their 6th significant digit would share a run folder: they are refused.
    """
    optimizers = list(dict.fromkeys(check_optimizer_name(name) for name in optimizers))
    rates = list(dict.fromkeys(check_number("learning_rates", rate) for rate in learning_rates))
    seeds = list(check_seeds("seeds", list(dict.fromkeys(seeds)))) if seeds else []
    grid = list(itertools.product(optimizers, rates, seeds))
    if not grid:
        raise ValueError("The grid is empty: give at least one optimizer, learning rate and seed.")
    folders: dict[str, tuple] = {}
    for point in grid:
        first = folders.setdefault(run_name(*point), point)
        if first != point:
            raise ValueError(
                "`learning_rates` must differ within their first 6 significant digits, which "
                f"name the run folders. Received: learning_rates={list(learning_rates)!r} "
                f"({first[1]!r} and {point[1]!r} both give {run_name(*point)!r})."
            )
    return grid


def check_run_configs(shared: dict, grid: list[tuple[str, float, int]]) -> None:
    """Build every grid point's `ComparisonConfig` (defaults, `shared`, the point) before any
    run, so that a value no run can use (momentum for adam) stops the grid at once."""
    defaults = ComparisonConfig()
    settings = {name: value for name, value in shared.items() if name in config_defaults()}
    for optimizer, rate, seed in grid:
        try:
            defaults.replace(**settings, optimizer=optimizer, learning_rate=rate, seeds=(seed,))
        except ValueError as error:
            message = str(error).replace("--no-augment", "-p augment False")  # batch's flag
            raise ValueError(f"Run {run_name(optimizer, rate, seed)}: {message}") from None


def run_grid(
    notebook: str | os.PathLike,
    runs_dir: str | os.PathLike,
    *,
    optimizers: Sequence[str],
    learning_rates: Sequence[float],
    seeds: Sequence[int],
    parameters: dict | None = None,
    kernel_name: str | None = None,
    replace: bool = False,
    workers: int | None = None,
    scheduler: str | None = None,
) -> pd.DataFrame:
    """Run `notebook` once per (optimizer, learning rate, seed); return one status row per run.

    `parameters` go to every run (e.g. dataset, epochs); the grid's own values and
    `output_dir` are set per run. Everything is checked before the first run starts:
    the grid (`grid_points`), that the notebook has every parameter a run sets, every
    parameter's name and value, each run's comparison config, and that a folder dataset
    loads. A relative path in `dataset` or `data_dir` is taken from the current folder.
    `workers` and `scheduler` say where the runs execute (see `grid.run_plan`).
    """
    import_papermill()
    check_workers(workers)
    notebook = Path(notebook)
    if not notebook.is_file():
        raise FileNotFoundError(f"Notebook {str(notebook)!r} not found.")
    if notebook.suffix != ".ipynb":
        raise ValueError(f"`notebook` must be a .ipynb file. Received: notebook={str(notebook)!r}.")
    grid = grid_points(optimizers, learning_rates, seeds)
    fingerprint = notebook_fingerprint(notebook)
    given = resolve_paths(check_notebook_parameters(notebook, dict(parameters or {})))
    check_run_configs(given, grid)
    defaults = notebook_defaults(notebook, given)
    context = {"notebook": fingerprint, "quick_mode": quick_mode()}
    with lock_folder(prepare_output_dir(runs_dir)) as runs_dir:
        plan = GridPlan(
            runs_dir,
            tuple(_cell(notebook, given, defaults, context, kernel_name, *p) for p in grid),
            COMPARISON_FILES | {EXECUTED_NOTEBOOK},
        )
        stop_on_other_settings(plan, replace)
        if replace:
            stop_on_mixing(plan)  # replacing is asked for to average: never after training
        check_datasets(plan)
        outcomes = run_plan(plan, workers=workers, scheduler=scheduler, lock=False)
    return pd.DataFrame([_status(plan, outcome) for outcome in outcomes])


def resolve_paths(parameters: dict) -> dict:
    """`dataset` (when it names a folder) and `data_dir` as absolute paths, taken from the
    current folder, so that no run reads them from the notebook's folder or a worker's."""
    resolved = dict(parameters)
    for name in ("dataset", "data_dir"):
        value = resolved.get(name)
        if not isinstance(value, str) or value in (DIGITS, SYNTHETIC):
            continue
        path = Path(value).expanduser()
        if name == "data_dir" or value.startswith(("/", ".", "~")) or path.is_dir():
            resolved[name] = str(path.resolve())
    return resolved


def _cell(notebook, given, defaults, context, kernel_name, optimizer, rate, seed) -> Cell:
    point = {"optimizer": optimizer, "learning_rate": rate, "seeds": [seed]}
    if "by_hand" in defaults:  # notebook 4's first seed by hand: run_comparison trains it too
        point["by_hand"] = False
    settings = {**defaults, **given, **point}
    settings.pop("output_dir", None)
    return Cell(
        run_name(optimizer, rate, seed),
        jsonable(settings),
        execute_notebook,
        {
            "source": notebook.read_text(),
            "name": notebook.name,
            "parameters": {**given, **point},
            "kernel_name": kernel_name,
            "cwd": str(notebook.parent.resolve()),
        },
        context,
    )


def _status(plan: GridPlan, outcome) -> dict:
    cell = outcome.cell
    settings = cell.settings
    row = {
        "run": cell.name,
        "optimizer": settings["optimizer"],
        "learning_rate": settings["learning_rate"],
        "seed": settings["seeds"][0],
    }
    if outcome.status == "skipped":
        return {**row, "status": "skipped (complete, same parameters)", "seconds": 0.0}
    status = "done"
    if outcome.status == "failed":
        kind = outcome.error.strip().splitlines()[-1].split(":")[0] or "error"
        status = f"failed: {kind} (see {plan.folder(cell) / ERROR_FILE})"
    return {**row, "status": status, "seconds": round(outcome.seconds, 1)}


def check_datasets(plan: GridPlan) -> None:
    """Load the listing of every folder dataset the runs use, and check that every other name
    is a tensorflow-datasets name, before the first run."""
    checked = set()
    for cell in plan.cells:
        if plan.state(cell) == "complete":
            continue
        settings = cell.settings
        dataset = settings.get("dataset")
        if not isinstance(dataset, str) or dataset in checked or dataset in (DIGITS, SYNTHETIC):
            continue
        checked.add(dataset)
        if not Path(dataset).is_absolute():  # not a folder: a tensorflow-datasets name
            _check_tfds_name(dataset)
            continue
        from gc_tutorial.data import load_dataset  # TensorFlow: only to read a folder

        load_dataset(
            dataset,
            image_size=settings.get("image_size", 32),
            batch_size=settings.get("batch_size", 32),
            augment=False,
            max_examples=settings.get("max_examples"),
        )


def _check_tfds_name(name: str) -> None:
    """Refuse, in a second and offline, a name that tensorflow-datasets does not know."""
    load_tensorflow_quietly()  # tensorflow-datasets loads TensorFlow
    import tensorflow_datasets as tfds

    from gc_tutorial.sources import SOURCE_KINDS

    try:
        tfds.builder_cls(name.split(":")[0].split("/")[0])  # the name without version or config
    except ValueError:  # tfds's DatasetNotFoundError
        raise FileNotFoundError(
            f"`dataset` {name!r} is neither a folder ({str(Path(name).resolve())!r} does not "
            f"exist) nor a tensorflow-datasets name. `dataset` must be {SOURCE_KINDS}."
        ) from None


def collect_runs(runs_dir: str | os.PathLike) -> pd.DataFrame:
    """One row per complete run x arm, with the run's parameters and final metrics.

    Runs without `complete.json` (running, failed, interrupted) are left out; an
    empty table is returned when there is none. Runs whose shared parameters or
    notebook code differ (other epochs, dataset, ...) are refused with `MixedResultsError`.
    """
    rows, settings = [], {}
    for marker in sorted(Path(runs_dir).glob(f"*/{COMPLETE_MARKER}")):
        comparison = load_comparison(marker.parent)
        parameters = comparison.parameters
        notebook = (read_marker(marker.parent) or {}).get("notebook") or {}
        shared = {k: v for k, v in parameters.items() if k not in GRID_KEYS}
        shared["notebook_code"] = notebook.get("code_sha256")
        settings.setdefault(json.dumps(shared, sort_keys=True), marker.parent.name)
        for summary in comparison.summary.to_dict(orient="records"):
            rows.append(
                {
                    "run": marker.parent.name,
                    "dataset": comparison.dataset.get("name"),
                    "kind": comparison.dataset.get("kind"),
                    "synthetic": comparison.dataset.get("synthetic"),
                    "optimizer": parameters["optimizer"],
                    "learning_rate": parameters["learning_rate"],
                    "seed": parameters["seeds"][0],
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
    if len(settings) > 1:
        raise MixedResultsError(
            f"The runs in {str(runs_dir)!r} were made with different shared parameters "
            "or notebook code "
            f"(e.g. runs {sorted(settings.values())}): refusing to average them together."
        )
    return pd.DataFrame(rows)


def main(argv: Sequence[str] | None = None) -> None:
    """Command line for a grid; see the README's "Batch runs" section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--notebook",
        default=None,
        help="the notebook each run executes (default: the comparison notebook, notebook 4, "
        "as installed with the package)",
    )
    parser.add_argument("--runs-dir", default=GRID_DEFAULTS["runs_dir"])
    parser.add_argument("--optimizers", nargs="+", default=GRID_DEFAULTS["grid_optimizers"])
    parser.add_argument(
        "--learning-rates",
        type=float,
        nargs="+",
        default=GRID_DEFAULTS["grid_learning_rates"],
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=config_defaults()["seeds"])
    parser.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="a notebook parameter for every run, e.g. -p epochs 2 (checked against the notebook)",
    )
    parser.add_argument(
        "--replace",
        action="store_true",
        help="rerun runs that were made with other parameters (the old ones are moved aside)",
    )
    add_grid_arguments(parser)
    args = parser.parse_args(argv)
    try:
        statuses = run_grid(
            args.notebook or comparison_notebook(),
            args.runs_dir,
            optimizers=args.optimizers,
            learning_rates=args.learning_rates,
            seeds=args.seeds,
            parameters={name: parse_value(value) for name, value in args.parameter},
            replace=args.replace,
            workers=args.workers,
            scheduler=args.scheduler,
        )
        summary = summarize_grid(collect_runs(args.runs_dir))
    except (ValueError, OSError, ImportError, MixedResultsError, FolderInUseError) as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    except KeyboardInterrupt:
        parser.exit(130, f"{parser.prog}: {INTERRUPTED}\n")
    print(statuses.to_string(index=False))
    print(summary.to_string(index=False) if not summary.empty else "No finished run yet.")
    if statuses["status"].str.startswith("failed").any():
        raise SystemExit(1)


if __name__ == "__main__":
    main()
