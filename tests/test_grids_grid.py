"""The grid runner: complete or absent cells, contained failures, resumes by identity,
and the same files from a LocalCluster worker as from this process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gc_tutorial.grids.cluster import check_workers, describe_where, local_cluster
from gc_tutorial.grids.grid import (
    COMPLETE_MARKER,
    ERROR_FILE,
    STAGING_FOLDER,
    Cell,
    CellFiles,
    GridPlan,
    execute_cell,
    run_plan,
    store_cell,
)

CALLS = []


def write_square(folder: Path, value: int) -> None:
    """A cell task: two files, one in a subfolder; 13 fails."""
    CALLS.append(value)
    if value == 13:
        raise ArithmeticError("unlucky value")
    folder.mkdir(parents=True)
    (folder / "square.txt").write_text(str(value * value))
    (folder / "tables").mkdir()
    (folder / "tables" / "value.json").write_text(json.dumps({"value": value}))


def chatty(folder: Path, value: int) -> None:
    """A cell task that prints, then writes a file; 13 fails after printing."""
    print(f"working on {value}")
    if value == 13:
        raise ArithmeticError("unlucky value")
    folder.mkdir(parents=True)
    (folder / "value.txt").write_text(str(value))


def interrupt(folder: Path, value: int) -> None:
    raise KeyboardInterrupt


def cells(*values, task=write_square, **settings) -> tuple[Cell, ...]:
    return tuple(
        Cell(f"cell-{value}", {"value": value, **settings}, task, {"value": value})
        for value in values
    )


def visible(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if not path.name.startswith("."))


def test_a_failing_cell_records_its_error_and_the_others_finish(tmp_path):
    plan = GridPlan(tmp_path / "runs", cells(2, 13, 3))
    outcomes = run_plan(plan, workers=0, progress=False)
    assert [outcome.status for outcome in outcomes] == ["done", "failed", "done"]
    assert (plan.runs_dir / "cell-3" / "square.txt").read_text() == "9"
    assert (plan.runs_dir / "cell-3" / "tables" / "value.json").is_file()
    failed = plan.runs_dir / "cell-13"
    assert "ArithmeticError: unlucky value" in (failed / ERROR_FILE).read_text()
    assert visible(failed) == [ERROR_FILE]
    marker = json.loads((plan.runs_dir / "cell-2" / COMPLETE_MARKER).read_text())
    assert marker == {"identity": plan.cells[0].identity, "settings": {"value": 2}}
    assert not (plan.runs_dir / STAGING_FOLDER).exists()


def test_what_a_cell_prints_stays_off_the_terminal_and_a_failed_cell_keeps_it(tmp_path, capsys):
    plan = GridPlan(tmp_path / "runs", cells(2, 13, task=chatty))
    run_plan(plan, workers=0, progress=False)
    assert "working on" not in capsys.readouterr().out
    error = (plan.runs_dir / "cell-13" / ERROR_FILE).read_text()
    assert error.startswith("working on 13\n") and "unlucky value" in error
    assert visible(plan.runs_dir / "cell-2") == [COMPLETE_MARKER, "value.txt"]


def test_where_the_cells_ran_is_said_in_words(monkeypatch):
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    assert describe_where(0, None) == "one process, one cell at a time, one TensorFlow thread"
    assert describe_where(2, None) == "LocalCluster of 2 one-thread workers"
    assert describe_where(None, "tcp://host:8786") == "Dask scheduler tcp://host:8786"


def test_a_rerun_skips_complete_cells_and_retries_failed_ones(tmp_path):
    plan = GridPlan(tmp_path / "runs", cells(2, 13))
    run_plan(plan, workers=0, progress=False)
    CALLS.clear()
    outcomes = run_plan(plan, workers=0, progress=False)
    assert [outcome.status for outcome in outcomes] == ["skipped", "failed"] and CALLS == [13]


def test_other_settings_are_a_state_and_replacing_moves_the_old_cell_aside(tmp_path):
    runs = tmp_path / "runs"
    run_plan(GridPlan(runs, cells(2, epochs=1)), workers=0, progress=False)
    plan = GridPlan(runs, cells(2, epochs=2))
    assert plan.state(plan.cells[0]) == "other settings"
    run_plan(plan, workers=0, progress=False)
    assert plan.state(plan.cells[0]) == "complete"
    assert len(list((runs / ".replaced").iterdir())) == 1


def test_ctrl_c_leaves_complete_cells_complete_and_nothing_half_written(tmp_path):
    plan = GridPlan(tmp_path / "runs", (*cells(2), *cells(5, task=interrupt)))
    with pytest.raises(KeyboardInterrupt):
        run_plan(plan, workers=0, progress=False)
    assert visible(plan.runs_dir) == ["cell-2"]
    assert plan.state(plan.cells[0]) == "complete"
    assert not (plan.runs_dir / STAGING_FOLDER).exists()


def test_a_cell_may_only_write_inside_its_folder(tmp_path):
    plan = GridPlan(tmp_path, cells(2))
    for name in ("../escape.txt", "/etc/passwd", COMPLETE_MARKER):
        with pytest.raises(ValueError, match="may not write"):
            store_cell(plan, plan.cells[0], CellFiles({name: b"x"}, "", 0.0))
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "cell-2").exists()


def test_identity_is_over_settings_and_context_only():
    one, same = cells(2, momentum=None)[0], cells(2, momentum=None)[0]
    assert one.identity == same.identity
    assert one.identity != cells(2, momentum=0.9)[0].identity
    assert one.identity != Cell(one.name, one.settings, write_square, {}, {"code": "x"}).identity


@pytest.mark.parametrize("workers", [-1, 1.5, True, "2"])
def test_workers_must_be_a_count(workers):
    with pytest.raises(ValueError, match="`--workers` must be an int >= 0"):
        check_workers(workers)


def test_a_local_cluster_writes_the_same_files_as_this_process(tmp_path):
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests/
    here = GridPlan(tmp_path / "here", cells(2, 13, 3))
    there = GridPlan(tmp_path / "there", here.cells)
    run_plan(here, workers=0, progress=False)
    outcomes = run_plan(there, workers=1, progress=False)
    assert [outcome.status for outcome in outcomes] == ["done", "failed", "done"]
    for cell in here.cells[::2]:
        written = {
            path.relative_to(there.folder(cell)).as_posix(): path.read_bytes()
            for path in there.folder(cell).rglob("*")
            if path.is_file()
        }
        assert json.loads(written.pop(COMPLETE_MARKER))["identity"] == cell.identity
        assert written == execute_cell(cell).files


def test_a_worker_sizes_tensorflows_threads_without_loading_it():
    # A notebook cell's worker only starts a kernel, which reads the variables when it loads
    # TensorFlow: loading it in the worker too would cost each worker seconds for nothing.
    code = (
        "import os, sys\n"
        "from gc_tutorial.grids.grid import use_threads\n"
        "use_threads(1)\n"
        "print('tensorflow' in sys.modules, os.environ['TF_NUM_INTRAOP_THREADS'])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["False", "1"], done.stderr


THREADS_OF_A_CELL = """
import sys
from pathlib import Path
import tensorflow as tf
from gc_tutorial.grids.grid import Cell, GridPlan, run_plan

def record_threads(folder):
    folder.mkdir(parents=True)
    threads = tf.config.threading.get_intra_op_parallelism_threads()
    (folder / "threads.txt").write_text(str(threads))

if __name__ == "__main__":
    if sys.argv[2] == "ran an op":
        tf.reduce_sum(tf.ones(3))  # TensorFlow's pools are fixed now, at its default threads
    plan = GridPlan(Path(sys.argv[1]), (Cell("one", {}, record_threads, {}),))
    try:
        run_plan(plan, workers=0, progress=False)
    except RuntimeError as error:
        print(error)
"""


@pytest.mark.parametrize("before", ["fresh", "ran an op"])
def test_a_cell_in_this_process_runs_with_one_thread_or_not_at_all(tmp_path, before):
    # The order of float sums follows TensorFlow's thread count: a cell computed here with
    # other threads would not give a worker's numbers, so none is computed.
    script = tmp_path / "threads_of_a_cell.py"
    script.write_text(THREADS_OF_A_CELL)
    runs = tmp_path / "runs"
    thread_variables = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS")
    environment = {k: v for k, v in os.environ.items() if k not in thread_variables}
    done = subprocess.run(
        [sys.executable, str(script), str(runs), before],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
    )
    assert done.returncode == 0, done.stderr
    if before == "fresh":
        assert (runs / "one" / "threads.txt").read_text() == "1", done.stdout
    else:
        assert "has run TensorFlow with its default thread(s)" in done.stdout
        assert "Run the grid from a new process" in done.stdout
        assert not (runs / "one").exists()


def test_an_incomplete_folder_holding_anything_else_is_refused_never_deleted(tmp_path):
    plan = GridPlan(tmp_path / "runs", cells(2), frozenset({"square.txt"}))
    folder = plan.folder(plan.cells[0])
    folder.mkdir(parents=True)
    (folder / "square.txt").write_text("half")
    (folder / "thesis.tex").write_text("mine")
    with pytest.raises(ValueError, match="thesis.tex"):
        run_plan(plan, workers=0, progress=False)
    assert (folder / "thesis.tex").read_text() == "mine"
    (folder / "thesis.tex").unlink()
    assert [outcome.status for outcome in run_plan(plan, workers=0, progress=False)] == ["done"]
    assert (folder / "square.txt").read_text() == "4"


def test_an_incomplete_cell_folder_holding_a_users_file_is_never_replaced(tmp_path):
    (tmp_path / "cell-3").mkdir()
    (tmp_path / "cell-3" / ".my-notes").write_text("mine")  # no complete.json beside it
    plan = GridPlan(tmp_path, cells(3), frozenset({"square.txt", "tables"}))
    with pytest.raises(ValueError, match=r"cell-3.*\.my-notes|\.my-notes.*cell-3"):
        run_plan(plan, workers=0, progress=False)
    assert (tmp_path / "cell-3" / ".my-notes").read_text() == "mine"
    (tmp_path / "cell-3" / ".my-notes").unlink()
    (tmp_path / "cell-3" / "square.txt").write_text("half")  # ours: replaced
    [outcome] = run_plan(plan, workers=0, progress=False)
    assert outcome.status == "done" and (tmp_path / "cell-3" / "square.txt").read_text() == "9"


def test_the_staging_folder_is_the_projects_and_only_its_own_entries_are_removed(tmp_path):
    staging = tmp_path / STAGING_FOLDER
    (staging / "cell-1-0123abcd").mkdir(parents=True)  # left by an interrupted grid: ours
    (staging / "mine").mkdir()
    run_plan(GridPlan(tmp_path, cells(2)), workers=0, progress=False)
    assert [path.name for path in staging.iterdir()] == ["mine"]
    assert STAGING_FOLDER not in ("staging", ".staging", "tmp", ".tmp")


def test_the_grids_workers_start_without_dasks_memory_trimming(monkeypatch):
    """Dask starts its workers with MALLOC_TRIM_THRESHOLD_, which makes a TensorFlow epoch on CPU
    about twice as long (benchmarks/worker_memory.py). The grid's workers start without it, also
    when this process's environment has it (a LocalCluster with Dask's defaults leaves it there)."""
    from distributed import Client

    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    with local_cluster(1) as cluster, Client(cluster) as client:
        values = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
        assert list(values.values()) == [None]
        assert "MALLOC_TRIM_THRESHOLD_" not in os.environ  # a restarted worker inherits none
    assert os.environ["MALLOC_TRIM_THRESHOLD_"] == "65536"  # this process's, put back
