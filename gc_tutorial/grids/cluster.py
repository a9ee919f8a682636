"""Where a grid's cells run: in this process, on a Dask `LocalCluster` started and stopped
here, or on a running Dask scheduler; the command-line flags that choose it. Each cell runs
with one TensorFlow thread wherever it runs (`grid.use_threads`)."""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import logging
import os
import threading
from collections.abc import Callable, Iterator

SCHEDULER_VARIABLE = "DASK_SCHEDULER_ADDRESS"
SCHEDULER_TIMEOUT_S = 10
# Dask starts each worker process with MALLOC_TRIM_THRESHOLD_=65536, so that freed memory goes
# back to the system at once. Set at all, it turns off glibc's adaptive thresholds: TensorFlow's
# buffers are then mapped and faulted in anew at every op, and a CPU epoch takes about twice as
# long (`benchmarks/worker_memory.py`). The LocalCluster's workers keep glibc's own settings.
TRIM_VARIABLE = "MALLOC_TRIM_THRESHOLD_"
WORKER_ENVIRONMENT = {f"distributed.nanny.pre-spawn-environ.{TRIM_VARIABLE}": None}


def add_grid_arguments(parser: argparse.ArgumentParser) -> None:
    """--workers, --sequential and --scheduler: where a grid's cells run (`grid.run_plan`)."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--workers",
        type=int,
        default=None,
        help="process workers of the LocalCluster the command starts (default: one per core)",
    )
    where.add_argument(
        "--sequential",
        dest="workers",
        action="store_const",
        const=0,
        help="run the cells one after the other in this process (same as --workers 0); like "
        "a worker, each with one TensorFlow thread, so with the same numbers",
    )
    where.add_argument(
        "--scheduler",
        default=None,
        help=f"address of a running Dask scheduler, e.g. tcp://host:8786 (default: "
        f"${SCHEDULER_VARIABLE}, else a LocalCluster)",
    )


def describe_where(workers: int | None, scheduler: str | None) -> str:
    """Where `run_plan` runs the cells with these arguments, in words."""
    scheduler = scheduler or os.environ.get(SCHEDULER_VARIABLE)
    if scheduler:
        return f"Dask scheduler {scheduler}"
    if workers == 0:
        return "one process, one cell at a time, one TensorFlow thread"
    return f"LocalCluster of {workers or os.cpu_count()} one-thread workers"


def where_flags(workers: int | None, scheduler: str | None) -> list[str]:
    """The command-line flags that run cells where these arguments run them."""
    scheduler = scheduler or os.environ.get(SCHEDULER_VARIABLE)
    if scheduler:
        return ["--scheduler", scheduler]
    return {None: [], 0: ["--sequential"]}.get(workers, ["--workers", str(workers)])


def check_workers(workers: int | None) -> None:
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)):
        raise ValueError(f"`--workers` must be an int >= 0. Received: workers={workers!r}")
    if workers is not None and workers < 0:
        raise ValueError(f"`--workers` must be an int >= 0. Received: workers={workers!r}")


def dask_results(
    cells: list, run: Callable, keys: dict, workers: int | None, scheduler: str | None, say
) -> Iterator[tuple]:
    """(cell, run(cell)) as each cell finishes on Dask, or (cell, the exception) for a cell that
    could not run; `keys` names each cell's task, `say` prints a line (the dashboard's address)."""
    from distributed import as_completed

    with _client(workers, scheduler) as client:
        if importlib.util.find_spec("bokeh") is not None:
            say(f"Dask dashboard: {client.dashboard_link}")
        futures = {client.submit(run, cell, key=keys[cell.name]): cell for cell in cells}
        for future in as_completed(futures):
            try:
                yield futures[future], future.result()
            except Exception as error:
                yield futures[future], error


def _scheduler_answer(address: str) -> str | None:
    """None if a Dask scheduler answers at `address`, else what went wrong, in a few words.

    A server that is not Dask's may never answer Dask's handshake, and the Dask client then
    waits forever: the attempt runs in a thread of its own, given up after a while.
    """
    from distributed import Client

    found = {}

    def connect():
        try:
            with Client(address, timeout=f"{SCHEDULER_TIMEOUT_S}s", set_as_default=False):
                found["answer"] = None
        except Exception as error:  # whatever a wrong address or a foreign server gives
            found["answer"] = f"{type(error).__name__}: {error}"

    attempt = threading.Thread(target=connect, daemon=True)
    attempt.start()
    attempt.join(2 * SCHEDULER_TIMEOUT_S)
    if attempt.is_alive():
        return f"no Dask scheduler answered within {2 * SCHEDULER_TIMEOUT_S} s"
    return found["answer"]


@contextlib.contextmanager
def _client(workers: int | None, scheduler: str | None):
    """A Dask client of `scheduler`, or of a `LocalCluster` started and closed here."""
    from distributed import Client

    if scheduler:
        answer = _scheduler_answer(scheduler)
        if answer is not None:
            raise ValueError(
                f"`--scheduler` must be the address of a running Dask scheduler. Received: "
                f"scheduler={scheduler!r} ({answer})."
            )
        with Client(scheduler, timeout=f"{SCHEDULER_TIMEOUT_S}s") as client:
            yield client
        return
    before = _descendants()
    with local_cluster(workers or os.cpu_count() or 1) as cluster, Client(cluster) as client:
        try:
            yield client
        except KeyboardInterrupt:  # Ctrl-C: this grid's workers (and their kernels) stop now
            _kill(_descendants() - before)
            raise


@contextlib.contextmanager
def local_cluster(workers: int):
    """A `LocalCluster` of `workers` one-thread process workers, started without Dask's
    `MALLOC_TRIM_THRESHOLD_` (`WORKER_ENVIRONMENT`), and closed at the end of the block.

    The variable is also left out of this process's environment while the cluster runs: a
    LocalCluster with Dask's defaults, started earlier in this process, writes it there, and
    every worker started since (restarted ones too) would inherit it.
    """
    import dask
    from distributed import LocalCluster

    inherited = os.environ.pop(TRIM_VARIABLE, None)
    try:
        with dask.config.set(WORKER_ENVIRONMENT):
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",  # any free port: grids started side by side never clash
                silence_logs=logging.ERROR,
            )
        with cluster:
            yield cluster
    finally:
        if inherited is not None:
            os.environ[TRIM_VARIABLE] = inherited


def _descendants() -> set[int]:
    """The process ids of this process's children, their children, and so on, but for
    multiprocessing's resource tracker, which ends with this process and cleans up after the
    others."""
    import psutil  # installed with distributed

    pids = set()
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "resource_tracker" not in " ".join(child.cmdline()):
                pids.add(child.pid)
    return pids


def _kill(pids: set[int]) -> None:
    """Kill the processes `pids` that are still running, and wait for them."""
    import psutil

    processes = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            processes.append(psutil.Process(pid))
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(processes, timeout=5)
