"""What every benchmark records and prints: the machine, versions, a table, a JSON file."""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))


def machine() -> dict:
    """The machine a benchmark ran on, as the README quotes it."""
    from gc_tutorial.experiment import describe_environment

    environment = describe_environment()
    keys = ("platform", "processor", "cpu_count", "memory_gib", "gpus", "python", "keras")
    return {key: environment[key] for key in keys} | {"tensorflow": environment["tensorflow"]}


def median_seconds(step, repeats: int) -> tuple[float, list[float]]:
    """Median wall time of `step()` over `repeats` calls, and every time measured."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def peak_rss_mib(children: bool = False) -> float:
    """Peak resident memory of this process (or of its largest finished child), in MiB."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return round(resource.getrusage(who).ru_maxrss / 1024, 1)


def print_table(rows: list[dict], columns: list[str]) -> None:
    """A plain-text table, one row per dict, numbers rounded for reading."""

    def text(value):
        return f"{value:.3g}" if isinstance(value, float) else str(value)

    cells = [[text(row.get(column, "")) for column in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))


def write_results(name: str, payload: dict, output: str | os.PathLike | None = None) -> Path:
    """Write `payload` and the machine as JSON, in benchmarks/results/ unless told otherwise."""
    from gc_tutorial.storage import prepare_output_dir, write_atomically

    path = Path(output) if output else RESULTS / f"{name}.json"
    prepare_output_dir(path.parent)
    payload = {"benchmark": name, "machine": machine(), **payload}
    write_atomically(path, json.dumps(payload, indent=2) + "\n")
    print(f"\nwritten: {path}")
    return path


def platform_line() -> str:
    return f"{platform.platform()}, {os.cpu_count()} CPU cores"
