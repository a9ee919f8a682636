"""One grid runner: cells that each fill one folder, run on Dask, resumed by identity.

A grid is a `GridPlan`: a runs folder and its cells (`Cell`). A cell is a task (a module-level
function that writes one folder's files) with the resolved settings that identify it.
`run_plan` runs the cells that are not complete yet:

- in this process (`workers=0`), on a `LocalCluster` it starts and closes (`workers=N`
  process workers with one thread each; default: one per core), or on an existing cluster
  (`scheduler="tcp://host:8786"`, or the `DASK_SCHEDULER_ADDRESS` variable);
- a worker writes a cell into its own temporary folder and returns the files' bytes, so
  workers need no shared filesystem. This process writes them into a hidden staging
  folder, the completion marker last, then swaps the staging folder into place: a cell
  folder is complete (`complete.json`) or failed (`error.txt`), never half-written;
- a worker killed mid-cell makes Dask run the cell again elsewhere; a cell that raises
  records its error and the others go on; Ctrl-C leaves complete cells complete;
- a rerun skips every cell whose `complete.json` holds the same identity;
- every cell runs with one TensorFlow thread, wherever it runs: the order of float sums
  follows the thread count, so a cell gives the same numbers here and on any worker.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from gc_tutorial.files.storage import check_only_ours, write_atomically
from gc_tutorial.grids.cluster import SCHEDULER_VARIABLE, check_workers, dask_results
from gc_tutorial.grids.runs_folder import lock_folder

COMPLETE_MARKER = "complete.json"
ERROR_FILE = "error.txt"
REPLACED_FOLDER = ".replaced"
STAGING_FOLDER = ".gc_tutorial-staging"  # in the runs folder: where cells are written first
STAGED_CELL = re.compile(r".+-[0-9a-f]{8}(\.old)?")  # what store_cell puts there
INTERRUPTED = "interrupted: the complete cells are kept, and the same command runs the rest."
CELL_THREADS = 1  # TensorFlow threads of every cell, wherever it runs (`use_threads`)


@dataclass(frozen=True)
class Cell:
    """One grid cell: `task(folder, **arguments)` writes its files into a new `folder`.

    `settings` are the resolved settings the cell computes with (JSON values; defaults
    written out, so passing a default explicitly changes nothing) and `context` what else
    decides its result (such as the notebook's code); together they are its identity.
    """

    name: str
    settings: dict
    task: Callable[..., None]
    arguments: dict = field(default_factory=dict)
    context: dict = field(default_factory=dict)

    @property
    def identity(self) -> str:
        """A short hash of `settings` and `context`."""
        text = json.dumps({"settings": self.settings, **self.context}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def marker(self) -> dict:
        """What `complete.json` records: the identity, the settings and the context."""
        return {"identity": self.identity, "settings": self.settings, **self.context}


@dataclass(frozen=True)
class GridPlan:
    """A runs folder and the cells to fill it with, one folder per cell."""

    runs_dir: Path
    cells: tuple[Cell, ...]
    our_names: frozenset[str] = frozenset()  # what a cell writes: an incomplete cell may hold

    def folder(self, cell: Cell) -> Path:
        return self.runs_dir / cell.name

    def state(self, cell: Cell) -> str:
        """'new', 'complete' (same identity), 'other settings', or 'incomplete'."""
        folder, marker = self.folder(cell), read_marker(self.folder(cell))
        if marker is None:
            return "incomplete" if folder.exists() else "new"
        return "complete" if marker.get("identity") == cell.identity else "other settings"


@dataclass(frozen=True)
class CellOutcome:
    """What became of one cell: 'done', 'skipped' (complete already) or 'failed'."""

    cell: Cell
    status: str
    seconds: float = 0.0
    error: str = ""


@dataclass(frozen=True)
class CellFiles:
    """A cell's files as a worker returns them: relative path -> bytes, or its error."""

    files: dict[str, bytes]
    error: str
    seconds: float


def read_marker(folder: Path) -> dict | None:
    """`complete.json` of `folder`, or None when it is absent or unreadable."""
    try:
        marker = json.loads((Path(folder) / COMPLETE_MARKER).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return marker if isinstance(marker, dict) else None


def execute_cell(cell: Cell) -> CellFiles:
    """Run `cell` in a new temporary folder and return its files (where the cell runs).

    TensorFlow gets its `CELL_THREADS` threads first (`use_threads`). What the task prints is
    kept out of the terminal (workers' lines would scatter around the progress bar) and
    goes into `error.txt` if the cell fails.
    """
    use_threads()
    start, printed = time.perf_counter(), io.StringIO()
    with tempfile.TemporaryDirectory(prefix="gc-cell-") as scratch:
        folder = Path(scratch) / cell.name
        try:
            with contextlib.redirect_stdout(printed):
                cell.task(folder, **cell.arguments)
            error = ""
        except Exception as raised:  # one failing cell must not stop the others
            error = printed.getvalue() + "".join(traceback.format_exception(raised))
        files = {} if error else read_tree(folder)
    return CellFiles(files, error, time.perf_counter() - start)


def use_threads(threads: int = CELL_THREADS) -> None:
    """Size TensorFlow's thread pools: through the environment, which TensorFlow reads when it
    loads (later in this process, or in a notebook kernel started from here), and, where this
    process has loaded it already (a study cell's task), through its configuration.

    Raises `RuntimeError` where this process has run TensorFlow with other threads already:
    its pools are fixed then, and its numbers would not be a worker's.
    """
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:  # set before this process's first op, or never
            running = tf.config.threading.get_intra_op_parallelism_threads() or int(
                os.environ.get("TF_NUM_INTRAOP_THREADS") or 0
            )
            if running != threads:
                raise RuntimeError(
                    f"This process has run TensorFlow with {running or 'its default'} "
                    f"thread(s); a grid's cells run with {threads}, so that they give the same "
                    "numbers wherever they run. Run the grid from a new process (a new "
                    "kernel), or on Dask workers."
                ) from None
    for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
        os.environ[name] = str(threads)


def read_tree(folder: Path) -> dict[str, bytes]:
    """Every regular file under `folder`, by its relative POSIX path."""
    if not folder.is_dir():
        return {}
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


def store_cell(plan: GridPlan, cell: Cell, result: CellFiles) -> None:
    """Write a cell's files into a staging folder, its marker (or error.txt) last, then swap
    the staging folder in place of the cell's folder (one of another identity moved aside)."""
    staging = plan.runs_dir / STAGING_FOLDER / f"{cell.name}-{secrets.token_hex(4)}"
    staging.mkdir(parents=True)
    for name, data in result.files.items():
        path = PurePosixPath(name)
        if path.is_absolute() or ".." in path.parts or name in (COMPLETE_MARKER, ERROR_FILE):
            raise ValueError(f"Cell {cell.name} returned a file it may not write: {name!r}.")
        target = staging.joinpath(*path.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, data)
    if result.error:
        write_atomically(staging / ERROR_FILE, result.error)
    else:
        write_atomically(staging / COMPLETE_MARKER, json.dumps(cell.marker(), indent=2) + "\n")
    folder = plan.folder(cell)
    if plan.state(cell) == "other settings":
        aside = plan.runs_dir / REPLACED_FOLDER / f"{cell.name}-{read_marker(folder)['identity']}"
        aside.parent.mkdir(exist_ok=True)
        shutil.rmtree(aside, ignore_errors=True)
        os.replace(folder, aside)
        print(f"Moved {folder.name} (other settings) to {aside}.", flush=True)
    old = staging.with_name(f"{staging.name}.old")
    if folder.exists():
        os.replace(folder, old)
    os.replace(staging, folder)
    shutil.rmtree(old, ignore_errors=True)


def run_plan(
    plan: GridPlan,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    lock: bool = True,
) -> list[CellOutcome]:
    """Run the cells of `plan` that are not complete; one `CellOutcome` per cell, in order.

    Args:
        workers: 0 runs the cells one after the other in this process; N starts a
            `LocalCluster` of N process workers with one thread each (default: one per
            core), closed at the end.
        scheduler: the address of a running Dask scheduler (default: the environment
            variable `DASK_SCHEDULER_ADDRESS`); its workers run the cells.
        progress: a progress bar over cells, with the count of failed ones.
        lock: hold the runs folder's lock (refusing a second grid at once); False when
            the caller holds it already.
    """
    check_workers(workers)
    scheduler = scheduler or os.environ.get(SCHEDULER_VARIABLE) or None
    with lock_folder(plan.runs_dir) if lock else contextlib.nullcontext():
        _clear_staging(plan.runs_dir)
        outcomes = {
            cell.name: CellOutcome(cell, "skipped")
            for cell in plan.cells
            if plan.state(cell) == "complete"
        }
        pending = [cell for cell in plan.cells if cell.name not in outcomes]
        for cell in pending:  # an incomplete folder is replaced: only if all in it is ours
            if plan.state(cell) == "incomplete":
                names = {*plan.our_names, COMPLETE_MARKER, ERROR_FILE}
                check_only_ours(
                    plan.folder(cell), names, name="runs_dir", holds="a cell's files", hidden=True
                )
        try:
            for cell, result in _results(pending, workers, scheduler, progress):
                store_cell(plan, cell, result)
                status = "failed" if result.error else "done"
                outcomes[cell.name] = CellOutcome(cell, status, result.seconds, result.error)
        finally:
            _clear_staging(plan.runs_dir)
    return [outcomes[cell.name] for cell in plan.cells]


def _clear_staging(runs_dir: Path) -> None:
    """Remove what store_cell left in the staging folder (an interrupted grid's), and the
    folder if nothing else is in it: anything else there is not ours to delete."""
    staging = runs_dir / STAGING_FOLDER
    if not staging.is_dir():
        return
    for entry in staging.iterdir():
        if entry.is_dir() and not entry.is_symlink() and STAGED_CELL.fullmatch(entry.name):
            shutil.rmtree(entry)
    with contextlib.suppress(OSError):
        staging.rmdir()


class CellsFailed(RuntimeError):
    """Some cells of a grid raised; the others are complete and kept for the rerun."""


def check_outcomes(plan: GridPlan, outcomes: list[CellOutcome]) -> list[CellOutcome]:
    """`outcomes`, if no cell failed; else `CellsFailed` naming each failed cell's error.txt."""
    failed = [outcome for outcome in outcomes if outcome.status == "failed"]
    if failed:
        names = ", ".join(str(plan.folder(outcome.cell) / ERROR_FILE) for outcome in failed)
        raise CellsFailed(
            f"{len(failed)} of {len(outcomes)} cells failed (see {names}); the others are "
            "complete: run the same command again to retry only the failed ones."
        )
    return outcomes


def _results(
    cells: list[Cell], workers: int | None, scheduler: str | None, progress: bool
) -> Iterator[tuple[Cell, CellFiles]]:
    """(cell, its files) as each cell finishes, with a progress bar on a terminal (rate,
    time left, failed cells) and one closing line (also in a notebook, which gets no bar)."""
    from tqdm import tqdm

    if not cells:
        return
    # disable=None: no bar where stderr is not a terminal (a notebook, a log file)
    bar = tqdm(total=len(cells), desc="grid cells", unit="cell", disable=None if progress else True)
    failed, start = 0, time.perf_counter()
    with bar:
        for cell, result in _finished(cells, workers, scheduler, bar):
            failed += bool(result.error)
            bar.set_postfix_str(f"last: {cell.name}, failed: {failed}")
            bar.update()
            yield cell, result
    if progress:
        minutes = (time.perf_counter() - start) / 60
        print(f"grid: {len(cells)} cells run in {minutes:.1f} min, {failed} failed", flush=True)


def in_this_process(workers: int | None, scheduler: str | None) -> bool:
    """Whether `run_plan` runs the cells in this process with these arguments; where it does,
    a caller that uses TensorFlow first (a dataset check) calls `use_threads` before."""
    return workers == 0 and not (scheduler or os.environ.get(SCHEDULER_VARIABLE))


def _finished(cells, workers, scheduler, bar) -> Iterator[tuple[Cell, CellFiles]]:
    if in_this_process(workers, scheduler):
        for cell in cells:
            yield cell, execute_cell(cell)
        return
    keys = {cell.name: f"cell-{cell.name}-{cell.identity}" for cell in cells}
    for cell, result in dask_results(cells, execute_cell, keys, workers, scheduler, bar.write):
        if isinstance(result, Exception):  # e.g. KilledWorker: the cell killed every worker
            result = CellFiles({}, f"{type(result).__name__}: {result}\n", 0.0)
        yield cell, result
