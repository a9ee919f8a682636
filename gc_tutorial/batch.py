"""Batch runs: the comparison notebook over a grid of optimizers x learning rates x seeds.

Each run executes the notebook with papermill into its own folder (the executed
notebook plus the comparison's tables and plots). A run is identified by all the
parameters it was given; it is complete once `complete.json`, written last, says so.
A rerun skips complete runs with the same identity, reruns incomplete ones, and stops
before any training if a run was made with other parameters (unless `replace=True`,
which moves the old run aside and reruns it). A failing run leaves its error in
error.txt and the others go on. `collect_runs` gathers the complete runs.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import shutil
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from gc_tutorial.centralization import check_optimizer_name
from gc_tutorial.checks import check_number, check_seeds
from gc_tutorial.config import config_defaults
from gc_tutorial.parameters import NOTEBOOK_DEFAULTS, check_parameter, refuse_unknown_names
from gc_tutorial.results import MixedResultsError, load_comparison
from gc_tutorial.storage import (
    FolderInUseError,
    lock_folder,
    prepare_output_dir,
    safe_name,
    write_atomically,
)

EXECUTED_NOTEBOOK = "comparison.ipynb"
COMPLETE_MARKER = "complete.json"
REPLACED_FOLDER = ".replaced"
GRID_KEYS = ("optimizer", "learning_rate", "seeds")


def run_name(optimizer: str, learning_rate: float, seed: int) -> str:
    """The folder name of one grid run, e.g. 'rmsprop-lr0.0001-seed0'."""
    return safe_name(f"{check_optimizer_name(optimizer)}-lr{learning_rate:g}-seed{int(seed)}")


def run_identity(parameters: dict) -> str:
    """A short hash of a run's parameters (where it writes left out)."""
    kept = {key: value for key, value in parameters.items() if key != "output_dir"}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]


def _import_papermill():
    try:
        import papermill
    except ImportError:
        raise ImportError(
            "Batch runs execute notebooks with papermill: pip install 'gc-tutorial[batch]'."
        ) from None
    return papermill


def check_notebook_parameters(notebook: str | os.PathLike, parameters: dict) -> dict:
    """Refuse names the notebook does not have (with the closest real one) and bad values."""
    papermill = _import_papermill()
    known = papermill.inspect_notebook(str(notebook))
    refuse_unknown_names(set(parameters) - set(known), known, "The notebook has no parameter")
    return {name: check_parameter(name, value) for name, value in parameters.items()}


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
) -> pd.DataFrame:
    """Run `notebook` once per (optimizer, learning rate, seed); return one status row per run.

    `parameters` go to every run (e.g. dataset, epochs); the grid's own values and
    `output_dir` are set per run. Everything is checked before the first run starts.
    """
    papermill = _import_papermill()
    notebook = Path(notebook)
    if not notebook.is_file():
        raise FileNotFoundError(f"Notebook {str(notebook)!r} not found.")
    optimizers = [check_optimizer_name(name) for name in optimizers]
    learning_rates = [check_number("learning_rates", rate) for rate in learning_rates]
    seeds = list(check_seeds("seeds", list(seeds))) if seeds else []
    grid = list(itertools.product(optimizers, learning_rates, seeds))
    if not grid:
        raise ValueError("The grid is empty: give at least one optimizer, learning rate and seed.")
    shared = check_notebook_parameters(notebook, dict(parameters or {}))
    clash = set(shared) & set(GRID_KEYS)
    if clash:
        raise ValueError(f"{sorted(clash)} are set by the grid; do not pass them as parameters.")
    with lock_folder(prepare_output_dir(runs_dir)) as runs_dir:
        plans = [_plan(runs_dir, shared, *point) for point in grid]
        _stop_on_other_settings(plans, replace)
        return _run_plans(papermill, notebook, runs_dir, plans, kernel_name)


def _run_plans(papermill, notebook: Path, runs_dir: Path, plans: list[dict], kernel_name):
    from tqdm import tqdm  # plain text: also readable in an executed notebook or a site

    statuses = []
    for plan in (progress := tqdm(plans, desc="grid runs", unit="run")):
        progress.set_postfix_str(plan["run"])
        row = {key: plan[key] for key in ("run", "optimizer", "learning_rate", "seed")}
        if plan["state"] == "complete":
            statuses.append(
                {**row, "status": "skipped (complete, same parameters)", "seconds": 0.0}
            )
            continue
        folder = plan["folder"]
        _clear_for_rerun(folder, plan, runs_dir)
        start = time.perf_counter()
        try:
            _execute(papermill, notebook, folder, plan["parameters"], kernel_name)
            status = "done"
        except Exception as error:  # one failing run must not stop the others
            write_atomically(folder / "error.txt", "".join(traceback.format_exception(error)))
            status = f"failed: {type(error).__name__} (see {folder / 'error.txt'})"
        statuses.append({**row, "status": status, "seconds": round(time.perf_counter() - start, 1)})
    return pd.DataFrame(statuses)


def _plan(runs_dir: Path, shared: dict, optimizer: str, learning_rate: float, seed: int) -> dict:
    name = run_name(optimizer, learning_rate, seed)
    folder = runs_dir / name
    parameters = {
        **shared,
        "optimizer": optimizer,
        "learning_rate": learning_rate,
        "seeds": [seed],
        "output_dir": str(folder.resolve()),
    }
    identity = run_identity(parameters)
    marker = _read_marker(folder)
    if marker is None:
        state = "new" if not folder.exists() else "incomplete"
    else:
        state = "complete" if marker.get("identity") == identity else "other settings"
    return {
        "run": name,
        "optimizer": optimizer,
        "learning_rate": learning_rate,
        "seed": seed,
        "folder": folder,
        "parameters": parameters,
        "identity": identity,
        "state": state,
        "marker": marker,
    }


def _read_marker(folder: Path) -> dict | None:
    try:
        return json.loads((folder / COMPLETE_MARKER).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _stop_on_other_settings(plans: list[dict], replace: bool) -> None:
    """Before any run: name the runs made with other parameters, unless replacing them."""
    others = [plan for plan in plans if plan["state"] == "other settings"]
    if not others or replace:
        return
    lines = []
    for plan in others[:5]:
        before = plan["marker"].get("parameters", {})
        changes = [
            f"{key}: {before.get(key)!r} -> {plan['parameters'].get(key)!r}"
            for key in sorted(set(before) | set(plan["parameters"]) - {"output_dir"})
            if before.get(key) != plan["parameters"].get(key)
        ]
        lines.append(f"  {plan['run']}: {'; '.join(changes) or 'other notebook'}")
    more = f"\n  ... and {len(others) - 5} more" if len(others) > 5 else ""
    raise ValueError(
        f"{len(others)} run(s) in this runs folder were made with other parameters:\n"
        + "\n".join(lines)
        + more
        + "\nUse another runs folder, or pass replace=True (--replace) to move them aside "
        f"(into {REPLACED_FOLDER}/) and run them again."
    )


def _clear_for_rerun(folder: Path, plan: dict, runs_dir: Path) -> None:
    if plan["state"] == "other settings":
        aside = runs_dir / REPLACED_FOLDER / f"{plan['run']}-{plan['marker'].get('identity')}"
        aside.parent.mkdir(exist_ok=True)
        shutil.rmtree(aside, ignore_errors=True)
        os.replace(folder, aside)
        print(f"Moved {folder.name} (other parameters) to {aside}; running it again.")
    elif plan["state"] == "incomplete":
        shutil.rmtree(folder)  # an interrupted run belongs to nobody: start it afresh
    folder.mkdir(parents=True)


def _execute(papermill, notebook: Path, folder: Path, parameters: dict, kernel_name) -> None:
    """Run the notebook, write the executed copy atomically, then the marker, last."""
    partial = folder / f".partial.{EXECUTED_NOTEBOOK}"
    papermill.execute_notebook(
        str(notebook),
        str(partial),
        parameters=parameters,
        kernel_name=kernel_name,
        cwd=str(notebook.parent),
        progress_bar=False,
    )
    os.replace(partial, folder / EXECUTED_NOTEBOOK)
    marker = {"identity": run_identity(parameters), "parameters": parameters}
    write_atomically(folder / COMPLETE_MARKER, json.dumps(marker, indent=2) + "\n")


def collect_runs(runs_dir: str | os.PathLike) -> pd.DataFrame:
    """One row per complete run x arm, with the run's parameters and final metrics.

    Runs without `complete.json` (running, failed, interrupted) are left out; an
    empty table is returned when there is none. Runs whose shared parameters differ
    (other epochs, dataset, ...) are refused with `MixedResultsError`.
    """
    rows, settings = [], {}
    for marker in sorted(Path(runs_dir).glob(f"*/{COMPLETE_MARKER}")):
        comparison = load_comparison(marker.parent)
        parameters = comparison.parameters
        shared = {k: v for k, v in parameters.items() if k not in GRID_KEYS}
        settings.setdefault(json.dumps(shared, sort_keys=True), marker.parent.name)
        for summary in comparison.summary.to_dict(orient="records"):
            rows.append(
                {
                    "run": marker.parent.name,
                    "dataset": comparison.dataset.get("name"),
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
            f"(e.g. runs {sorted(settings.values())}): refusing to average them together."
        )
    return pd.DataFrame(rows)


def summarize_grid(runs: pd.DataFrame) -> pd.DataFrame:
    """Per optimizer x learning rate: each arm's mean and the paired test over seeds."""
    from gc_tutorial.stats import SUMMARY_FIELDS, paired_summary

    if runs.empty:
        return runs
    rows = []
    for (optimizer, rate), cell in runs.groupby(["optimizer", "learning_rate"]):
        wide = cell.pivot(index="seed", columns="arm", values="final_test_accuracy")
        row = {
            "optimizer": optimizer,
            "learning_rate": rate,
            "seeds": len(wide),
            "baseline_mean": wide["baseline"].mean(),
            "gc_mean": wide["gc"].mean(),
        }
        differences = (wide["gc"] - wide["baseline"]).dropna().to_numpy()
        if len(differences) >= 2:
            summary = paired_summary(differences)
            row.update({field: getattr(summary, field) for field in SUMMARY_FIELDS})
        rows.append(row)
    return pd.DataFrame(rows)


def parse_value(text: str):
    """-p values as papermill parses them: bools, None, ints, floats, lists, else the string."""
    import yaml

    if text == "None":
        return None
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return value if isinstance(value, (bool, int, float, list, type(None))) else text


def main(argv: Sequence[str] | None = None) -> None:
    """Command line for a grid; see the README's "Batch runs" section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebook", default="notebooks/04_comparison.ipynb")
    parser.add_argument("--runs-dir", default=NOTEBOOK_DEFAULTS["runs_dir"])
    parser.add_argument("--optimizers", nargs="+", default=NOTEBOOK_DEFAULTS["grid_optimizers"])
    parser.add_argument(
        "--learning-rates",
        type=float,
        nargs="+",
        default=NOTEBOOK_DEFAULTS["grid_learning_rates"],
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
    args = parser.parse_args(argv)
    try:
        statuses = run_grid(
            args.notebook,
            args.runs_dir,
            optimizers=args.optimizers,
            learning_rates=args.learning_rates,
            seeds=args.seeds,
            parameters={name: parse_value(value) for name, value in args.parameter},
            replace=args.replace,
        )
        summary = summarize_grid(collect_runs(args.runs_dir))
    except (ValueError, FileNotFoundError, MixedResultsError, FolderInUseError) as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    print(statuses.to_string(index=False))
    print(summary.to_string(index=False) if not summary.empty else "No finished run yet.")
    if statuses["status"].str.startswith("failed").any():
        raise SystemExit(1)


if __name__ == "__main__":
    main()
