"""A study on a real Dask cluster: a scheduler and two workers started as separate local
processes, one of them killed mid-grid. The cells are rerun on the other worker and the
study equals, bit for bit, the same cells run one after the other in one process."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow  # CI runs it: python -m pytest -m slow

distributed = pytest.importorskip("distributed")

STUDY = [
    *("--dataset", "digits", "--optimizers", "adam", "--seeds", "0", "1"),
    *("--epochs", "1", "--image-size", "16", "--max-examples", "128", "--batch-size", "64"),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(*command: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, *command],
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.fixture
def cluster():
    """(scheduler address, client) of a scheduler and two one-thread workers without nannies
    (a killed worker stays dead)."""
    address = f"tcp://127.0.0.1:{free_port()}"
    port = address.rsplit(":", 1)[1]
    processes = [
        start("-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", port)
    ]
    worker = ("-m", "distributed.cli.dask_worker", address, "--nthreads", "1", "--no-nanny")
    processes += [start(*worker) for _ in range(2)]
    try:
        with distributed.Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
            yield address, client
    finally:
        for process in processes:
            process.kill()
            process.wait()


def test_a_study_survives_a_killed_worker_and_equals_the_sequential_one(cluster, tmp_path):
    address, client = cluster
    study = [sys.executable, "-m", "gc_tutorial.study", *STUDY]
    out, runs = tmp_path / "cluster", tmp_path / "cluster-runs"
    running = subprocess.Popen(
        [*study, "--scheduler", address, "--output-dir", str(out), "--runs-dir", str(runs)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    killed = None
    deadline = time.monotonic() + 240
    while killed is None and running.poll() is None and time.monotonic() < deadline:
        busy = [worker for worker, keys in client.processing().items() if keys]
        if busy:
            time.sleep(3)  # well inside the cell: TensorFlow is loading or training
            killed = client.run(os.getpid, workers=busy[:1])[busy[0]]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.2)
    output, _ = running.communicate(timeout=300)
    assert killed is not None, output
    assert running.returncode == 0, output

    sequential = tmp_path / "sequential"
    done = subprocess.run(
        [*study, "--sequential", "--output-dir", str(sequential)]
        + ["--runs-dir", str(tmp_path / "sequential-runs")],
        env={k: v for k, v in os.environ.items() if not k.startswith("TF_NUM_")},  # defaults
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr

    cells = [path for path in (runs / "digits").iterdir() if not path.name.startswith(".")]
    assert sorted(cell.name for cell in cells) == ["adam-lr0.0001", "adam-lr0.001", "adam-lr0.01"]
    assert all((cell / "complete.json").is_file() for cell in cells)
    timing = ["train_time_s"]
    there = pd.read_csv(out / "study.csv").drop(columns=timing)
    here = pd.read_csv(sequential / "study.csv").drop(columns=timing)
    pd.testing.assert_frame_equal(there, here, check_exact=True)
    assert (out / "summary.csv").read_bytes() == (sequential / "summary.csv").read_bytes()


def test_a_scheduler_that_is_not_there_is_a_one_line_error(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "gc_tutorial.study", *STUDY]
        + ["--scheduler", f"tcp://127.0.0.1:{free_port()}", "--output-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(tmp_path),
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1].startswith("study.py: error: `--scheduler`")


def test_a_server_that_is_not_a_dask_scheduler_is_the_same_one_line_error(tmp_path):
    with socket.socket() as server:  # accepts connections and never answers them
        server.bind(("127.0.0.1", 0))
        server.listen()
        address = f"tcp://127.0.0.1:{server.getsockname()[1]}"
        done = subprocess.run(
            [sys.executable, "-m", "gc_tutorial.study", *STUDY]
            + ["--scheduler", address, "--output-dir", str(tmp_path / "out")]
            + ["--runs-dir", str(tmp_path / "runs")],
            capture_output=True,
            text=True,
            timeout=180,
        )
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1].startswith("study.py: error: `--scheduler`")
    assert "Traceback" not in done.stderr


def test_ctrl_c_on_a_study_leaves_no_process_of_its_own_running(tmp_path):
    psutil = pytest.importorskip("psutil")
    study = [sys.executable, "-m", "gc_tutorial.study", *STUDY[:7], "--epochs", "20"]
    study += ["--image-size", "16", "--max-examples", "256", "--batch-size", "16", "--workers", "2"]
    study += ["--output-dir", str(tmp_path / "out"), "--runs-dir", str(tmp_path / "runs")]
    running = subprocess.Popen(study, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started, deadline = set(), time.monotonic() + 180
    while time.monotonic() < deadline and len(started) < 3:  # the tracker and two workers
        started |= {child.pid for child in psutil.Process(running.pid).children(recursive=True)}
        time.sleep(0.5)
    time.sleep(5)  # the workers are training
    started |= {child.pid for child in psutil.Process(running.pid).children(recursive=True)}
    interrupted = time.monotonic()
    running.send_signal(signal.SIGINT)
    _, errors = running.communicate(timeout=60)

    def alive():
        return [
            pid
            for pid in started
            if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        ]

    # A killed worker's exit, which hands its memory back, takes seconds on a busy machine.
    while alive() and time.monotonic() < interrupted + 30:
        time.sleep(0.2)
    assert len(started) >= 3 and alive() == []
    assert running.returncode == 130
    assert errors.strip().splitlines()[-1] == (
        "study.py: interrupted: the complete cells are kept, and the same command runs the rest."
    )
