"""The GC study: paired comparisons over optimizers x learning rates x many seeds.

    python -m gc_tutorial.study --dataset digits     # or synthetic, or a folder

Each cell (optimizer x learning rate) is one `run_comparison` over all the seeds, run by
`gc_tutorial.grid` (a LocalCluster by default; `--workers`, `--sequential`, `--scheduler`)
into its own folder under `--runs-dir`; a rerun skips cells finished with the same settings.
Then `<output-dir>/study.csv` (one row per dataset x optimizer x learning_rate x seed x arm
x epoch) gets this study's rows, and every derived file is recomputed (`study_outputs`).
"""

from __future__ import annotations

import argparse
import os
import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from gc_tutorial.analysis import HISTORY_COLUMNS
from gc_tutorial.checks import DIGITS, check_seeds, check_text, fail
from gc_tutorial.command_line import EXPECTED_ERRORS, command_line_message, config_help, flag
from gc_tutorial.config import ComparisonConfig
from gc_tutorial.files.environment import describe_environment
from gc_tutorial.files.saving import COMPARISON_FILES
from gc_tutorial.files.storage import (
    FolderInUseError,
    check_only_ours,
    lock_file,
    prepare_output_dir,
)
from gc_tutorial.grids.cluster import add_grid_arguments, check_workers, describe_where, where_flags
from gc_tutorial.grids.grid import (
    INTERRUPTED,
    Cell,
    CellsFailed,
    GridPlan,
    check_outcomes,
    in_this_process,
    run_plan,
    use_threads,
)
from gc_tutorial.grids.runs_folder import safe_name
from gc_tutorial.grids.saved import load_comparison
from gc_tutorial.grids.study_outputs import (
    STUDY_FILES,
    load_study_record,
    merged_study,
    recompute_study,
    recorded_study,
    write_study,
)
from gc_tutorial.grids.tables import TARGET_ACCURACY

# Three learning rates per optimizer, spanning its usual range.
STUDY_GRID = {
    "sgd": (1e-3, 1e-2, 1e-1),
    "rmsprop": (1e-4, 1e-3, 1e-2),
    "adam": (1e-4, 1e-3, 1e-2),
    "adamw": (1e-4, 1e-3, 1e-2),
}
STUDY_MOMENTUM = {"sgd": 0.9}  # SGD with momentum 0.9; the others keep Keras's defaults
STUDY_SEEDS = tuple(range(10))
DEFAULT_OUTPUT_DIR = "docs/study"
DEFAULT_RUNS_DIR = "runs/study"
# The comparison settings of a study, on any dataset (what "reached" means: `TARGET_ACCURACY`).
STUDY_SETTINGS = {"image_size": 24, "epochs": 15, "batch_size": 64, "augment": False}
# The settings a study may change, each a `ComparisonConfig` field and a command-line flag.
STUDY_OVERRIDES = ("epochs", "image_size", "batch_size", "augment", "max_examples")
# One row per dataset x optimizer x learning_rate x seed x arm x epoch.
STUDY_COLUMNS = [
    "dataset",
    "optimizer",
    "learning_rate",
    *(name for name in HISTORY_COLUMNS if name not in ("eval_time_s", "initial_weights")),
]


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
        return GridPlan(self.cells[0][0].parent, cells, COMPARISON_FILES)


def train_cell(folder: Path, config: ComparisonConfig) -> None:
    """One study cell: the comparison of `config` over all its seeds, written to `folder`."""
    # Imported here, where a cell runs: the command line answers a bad flag before Keras loads.
    from gc_tutorial.comparison import run_comparison

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


def study_settings(overrides: dict) -> dict:
    """The study's comparison settings (`STUDY_SETTINGS`) with `overrides` (None: keep)."""
    unknown = sorted(set(overrides) - set(STUDY_OVERRIDES))
    if unknown:
        raise ValueError(
            f"Unknown study setting(s) {unknown}; the study takes {', '.join(STUDY_OVERRIDES)}."
        )
    given = {name: value for name, value in overrides.items() if value is not None}
    return {**STUDY_SETTINGS, **given}


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
    settings = study_settings(overrides)
    cells = _study_cells(dataset, names, seeds, settings, Path(runs_dir))
    plan = StudyPlan(dataset, names, seeds, settings, cells, Path(output_dir))
    grid = plan.grid()
    if any(grid.state(cell) != "complete" for cell in grid.cells):  # fail before training
        from gc_tutorial.data import load_dataset  # TensorFlow: only where a dataset loads

        loading = ("image_size", "batch_size", "max_examples")
        load_dataset(dataset, augment=False, **{k: settings.get(k) for k in loading})
    prepare_output_dir(plan.output_dir, "--output-dir")
    check_only_ours(plan.output_dir, STUDY_FILES, name="--output-dir", holds="a study's files")
    prepare_output_dir(grid.runs_dir, "--runs-dir")
    for cell in grid.cells:
        if grid.state(cell) == "complete":
            _load_cell(grid.folder(cell))
    _check_study_rows(plan)
    return plan


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
        dataset: "digits", "synthetic" or any source `run_comparison` takes, such as a
            folder; every one trains with `STUDY_SETTINGS`.
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
    if in_this_process(workers, scheduler):
        use_threads()  # before the dataset check's first TensorFlow op
    plan = plan_study(
        dataset,
        output_dir=output_dir,
        runs_dir=runs_dir,
        optimizers=optimizers,
        seeds=seeds,
        **overrides,
    )
    return run_planned_study(plan, workers=workers, scheduler=scheduler)


def run_planned_study(
    plan: StudyPlan, *, workers: int | None = None, scheduler: str | None = None
) -> pd.DataFrame:
    """Train (or resume) the cells of `plan`; write study.csv, study.json and what follows.

    study.json records the wall time and the machine, with its load average before the cells
    started (above the core count, other processes shared the cores and the time)."""
    load_before = [round(load, 2) for load in os.getloadavg()]
    start = time.perf_counter()
    grid = plan.grid()
    outcomes = check_outcomes(grid, run_plan(grid, workers=workers, scheduler=scheduler))
    minutes = (time.perf_counter() - start) / 60
    cell_minutes = sum(outcome.seconds for outcome in outcomes) / 60
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
        study = merged_study(plan.output_dir, plan.dataset, plan.optimizers, rows)
        run = {
            "kind": kinds.pop(),
            "settings": plan.settings,
            "seeds": plan.seeds,
            "grid": {name: list(STUDY_GRID[name]) for name in plan.optimizers},
            "momentum": STUDY_MOMENTUM,
            "target_accuracy": TARGET_ACCURACY.get(plan.dataset),
            "wall_time_min": minutes,
            "cell_time_min": cell_minutes,
            "load_average_before": load_before,
            "workers": describe_where(workers, scheduler),
            "environment": describe_environment(),
            "command": study_command(plan, workers, scheduler),
        }
        write_study(plan.output_dir, study, recorded_study(plan.output_dir, plan.dataset, run))
    return study


def _tidy(history: pd.DataFrame, dataset: str, optimizer: str, learning_rate: float):
    table = history.assign(dataset=dataset, optimizer=optimizer, learning_rate=learning_rate)
    return table[STUDY_COLUMNS]


def study_command(plan: StudyPlan, workers: int | None = None, scheduler: str | None = None):
    """The `python -m gc_tutorial.study` command that runs `plan` again: each choice that
    differs from the command's default, as its flag, and where the cells ran."""
    words = ["python", "-m", "gc_tutorial.study", "--dataset", plan.dataset]
    for name, value in plan.settings.items():
        if STUDY_SETTINGS.get(name) == value:
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
    return shlex.join(words + where_flags(workers, scheduler))


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


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: `python -m gc_tutorial.study --dataset digits`. A bad argument is one
    line and exit status 2, before anything trains; failed cells give exit status 1."""
    parser = study_parser()
    args = parser.parse_args(argv)
    try:
        if args.recompute:
            recompute_study(args.output_dir)
            return
        run_study(
            args.dataset,
            output_dir=args.output_dir,
            runs_dir=args.runs_dir,
            optimizers=args.optimizers,
            seeds=args.seeds,
            workers=args.workers,
            scheduler=args.scheduler,
            **{name: getattr(args, name) for name in STUDY_OVERRIDES},
        )
    except (*EXPECTED_ERRORS, FolderInUseError) as error:
        parser.exit(2, f"{parser.prog}: error: {command_line_message(error)}\n")
    except CellsFailed as error:
        parser.exit(1, f"{parser.prog}: {error}\n")
    except KeyboardInterrupt:
        parser.exit(130, f"{parser.prog}: {INTERRUPTED}\n")


if __name__ == "__main__":
    main()
