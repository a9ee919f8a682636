"""Batch runs: the comparison notebook over a grid of optimizers x learning rates x seeds.

Each run executes the notebook with papermill into its own folder (the executed
notebook plus the comparison's tables and plots). A run is identified by all the
parameters it was given, the notebook's code and quick mode (see `run_identity`); it is
complete once `complete.json`, written last, says so. A rerun skips complete runs with
the same identity, reruns incomplete ones, and stops before any training if a run was
made with other settings (unless `replace=True`, which moves the old run aside and
reruns it). A failing run leaves its error in error.txt and the others go on.
`collect_runs` gathers the complete runs.
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
from gc_tutorial.config import ComparisonConfig, config_defaults
from gc_tutorial.parameters import (
    NOTEBOOK_DEFAULTS,
    TUTORIAL_DEFAULTS,
    check_parameter,
    quick_mode,
    refuse_unknown_names,
)
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
SET_PER_RUN = (*GRID_KEYS, "output_dir")  # the notebook must have these; -p must not set them


def run_name(optimizer: str, learning_rate: float, seed: int) -> str:
    """The folder name of one grid run, e.g. 'rmsprop-lr0.0001-seed0'."""
    return safe_name(f"{check_optimizer_name(optimizer)}-lr{learning_rate:g}-seed{int(seed)}")


def run_identity(parameters: dict, notebook_code: str, quick: bool) -> str:
    """A short hash of what a run computes: its parameters (where it writes left out),
    the hash of the notebook's code (`notebook_fingerprint`) and quick mode.

    The notebook counts by its code cells, its parameters cell included, not by its
    name, prose, outputs or metadata: once its code changes, the old runs no longer show
    what it computes, so they count as made with other settings (kept, refused unless
    replaced); editing its text, or renaming it, reruns nothing. Quick mode counts
    because it changes every parameter the run was not given.
    """
    kept = {key: value for key, value in parameters.items() if key != "output_dir"}
    identity = {"parameters": kept, "notebook_code": notebook_code, "quick_mode": quick}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def notebook_fingerprint(notebook: Path) -> dict:
    """The notebook's file name and a short hash of its code cells' sources."""
    import nbformat  # installed with papermill

    try:
        cells = nbformat.read(notebook, as_version=4).cells
    except Exception as error:  # not JSON, not a notebook: the user gave the wrong file
        raise ValueError(
            f"`notebook` must be a Jupyter notebook that nbformat can read. "
            f"Received: notebook={str(notebook)!r} ({type(error).__name__})."
        ) from None
    code = [cell.source for cell in cells if cell.cell_type == "code"]
    digest = hashlib.sha256(json.dumps(code).encode()).hexdigest()[:16]
    return {"name": notebook.name, "code_sha256": digest}


def _import_papermill():
    try:
        import papermill
    except ImportError:
        raise ImportError(
            "Batch runs execute notebooks with papermill: pip install 'gc-tutorial[batch]'."
        ) from None
    return papermill


def check_notebook_parameters(notebook: str | os.PathLike, parameters: dict) -> dict:
    """Refuse a notebook without the parameters each run sets, names the notebook does not
    have (with the closest real one), names the grid sets, and bad values."""
    papermill = _import_papermill()
    known = papermill.inspect_notebook(str(notebook))
    missing = [name for name in SET_PER_RUN if name not in known]
    if missing:
        raise ValueError(
            f"`notebook` must have the parameters {', '.join(SET_PER_RUN)}, which each run "
            f"sets. Received: notebook={str(notebook)!r}, without {', '.join(missing)}."
        )
    refuse_unknown_names(set(parameters) - set(known), known, "The notebook has no parameter")
    clash = set(parameters) & set(SET_PER_RUN)
    if clash:
        raise ValueError(f"{sorted(clash)} are set by the grid; do not pass them as parameters.")
    # Names the package does not know belong to a notebook of your own, which checks them.
    return {
        name: check_parameter(name, value) if name in TUTORIAL_DEFAULTS else value
        for name, value in parameters.items()
    }


def grid_points(
    optimizers: Sequence[str], learning_rates: Sequence[float], seeds: Sequence[int]
) -> list[tuple[str, float, int]]:
    """Every (optimizer, learning rate, seed), checked, exact duplicates dropped.

    Optimizer names count in any case ("SGD" is "sgd"). Learning rates that differ only
    after their 6th significant digit would share a run folder: they are refused.
    """
    optimizers = list(dict.fromkeys(check_optimizer_name(name) for name in optimizers))
    rates = list(dict.fromkeys(check_number("learning_rates", rate) for rate in learning_rates))
    seeds = list(check_seeds("seeds", list(seeds))) if seeds else []
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
            raise ValueError(f"Run {run_name(optimizer, rate, seed)}: {error}") from None


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
    `output_dir` are set per run. Everything is checked before the first run starts:
    the grid (`grid_points`), that the notebook has every parameter a run sets, every
    parameter's name and value, and each run's comparison config.
    """
    papermill = _import_papermill()
    notebook = Path(notebook)
    if not notebook.is_file():
        raise FileNotFoundError(f"Notebook {str(notebook)!r} not found.")
    if notebook.suffix != ".ipynb":
        raise ValueError(f"`notebook` must be a .ipynb file. Received: notebook={str(notebook)!r}.")
    grid = grid_points(optimizers, learning_rates, seeds)
    fingerprint = notebook_fingerprint(notebook)
    shared = check_notebook_parameters(notebook, dict(parameters or {}))
    check_run_configs(shared, grid)
    context = {"notebook": fingerprint, "quick_mode": quick_mode()}
    with lock_folder(prepare_output_dir(runs_dir)) as runs_dir:
        plans = [_plan(runs_dir, shared, context, *point) for point in grid]
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
            _execute(papermill, notebook, plan, kernel_name)
            status = "done"
        except Exception as error:  # one failing run must not stop the others
            write_atomically(folder / "error.txt", "".join(traceback.format_exception(error)))
            status = f"failed: {type(error).__name__} (see {folder / 'error.txt'})"
        statuses.append({**row, "status": status, "seconds": round(time.perf_counter() - start, 1)})
    return pd.DataFrame(statuses)


def _plan(
    runs_dir: Path, shared: dict, context: dict, optimizer: str, learning_rate: float, seed: int
) -> dict:
    name = run_name(optimizer, learning_rate, seed)
    folder = runs_dir / name
    parameters = {
        **shared,
        "optimizer": optimizer,
        "learning_rate": learning_rate,
        "seeds": [seed],
        "output_dir": str(folder.resolve()),
    }
    identity = run_identity(parameters, context["notebook"]["code_sha256"], context["quick_mode"])
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
        "context": context,
        "state": state,
        "marker": marker,
    }


def _read_marker(folder: Path) -> dict | None:
    try:
        return json.loads((folder / COMPLETE_MARKER).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _stop_on_other_settings(plans: list[dict], replace: bool) -> None:
    """Before any run: name the runs made with other settings, unless replacing them."""
    others = [plan for plan in plans if plan["state"] == "other settings"]
    if not others or replace:
        return
    described = [f"{plan['run']} ({'; '.join(_changes(plan))})" for plan in others[:5]]
    more = f", and {len(others) - 5} more" if len(others) > 5 else ""
    raise ValueError(
        f"{len(others)} run(s) in this runs folder were made with other settings: "
        + ", ".join(described)
        + more
        + ". Use another runs folder, or pass replace=True (--replace) to move them aside "
        f"(into {REPLACED_FOLDER}/) and run them again."
    )


def _changes(plan: dict) -> list[str]:
    """What differs between a run on disk and the planned one, e.g. 'epochs: 1 -> 2'."""
    before, after = plan["marker"].get("parameters", {}), plan["parameters"]
    changes = [
        f"{key}: {before.get(key)!r} -> {after.get(key)!r}"
        for key in sorted((set(before) | set(after)) - {"output_dir"})
        if before.get(key) != after.get(key)
    ]
    code_before = _notebook_label(plan["marker"].get("notebook"))
    code_after = _notebook_label(plan["context"]["notebook"])
    if code_before != code_after:
        changes.append(f"notebook code: {code_before} -> {code_after}")
    quick_before = plan["marker"].get("quick_mode")
    if quick_before != plan["context"]["quick_mode"]:
        changes.append(f"quick mode: {quick_before} -> {plan['context']['quick_mode']}")
    return changes


def _notebook_label(fingerprint: dict | None) -> str:
    if not fingerprint:
        return "not recorded"
    return f"{fingerprint.get('name')} {fingerprint.get('code_sha256')}"


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


def _execute(papermill, notebook: Path, plan: dict, kernel_name) -> None:
    """Run the notebook, write the executed copy atomically, then the marker, last."""
    folder = plan["folder"]
    partial = folder / f".partial.{EXECUTED_NOTEBOOK}"
    papermill.execute_notebook(
        str(notebook),
        str(partial),
        parameters=plan["parameters"],
        kernel_name=kernel_name,
        cwd=str(notebook.parent),
        progress_bar=False,
    )
    os.replace(partial, folder / EXECUTED_NOTEBOOK)
    marker = {"identity": plan["identity"], "parameters": plan["parameters"], **plan["context"]}
    write_atomically(folder / COMPLETE_MARKER, json.dumps(marker, indent=2) + "\n")


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
        notebook = (_read_marker(marker.parent) or {}).get("notebook") or {}
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
    """A -p value as papermill's own -p parses it (`papermill.cli._resolve_type`): exactly
    "True", "False" and "None", then whatever int() and then float() accept, else the
    string itself ("1e-1" is 0.1; "yes", "true" and "[0, 1]" stay strings)."""
    if text in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[text]
    for number in (int, float):
        try:
            return number(text)
        except ValueError:
            pass
    return text


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
    except (ValueError, OSError, ImportError, MixedResultsError, FolderInUseError) as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    print(statuses.to_string(index=False))
    print(summary.to_string(index=False) if not summary.empty else "No finished run yet.")
    if statuses["status"].str.startswith("failed").any():
        raise SystemExit(1)


if __name__ == "__main__":
    main()
