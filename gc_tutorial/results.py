"""A comparison's results: the tidy table, what is derived from it, the report, files on disk.

A result folder holds exactly one comparison: `save` writes every file into a
staging folder beside it and swaps that into place, and `results.json` records
the settings' identity and a hash of every other file, so `load_comparison`
refuses a folder whose files do not belong together. A folder holding other
files is refused, and a lock beside it keeps out a second comparison.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import platform
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from gc_tutorial.stats import SUMMARY_FIELDS, paired_summary
from gc_tutorial.storage import lock_file, write_atomically

ARMS = ("baseline", "gc")
HISTORY_COLUMNS = [
    "seed",
    "arm",
    "epoch",
    "train_loss",
    "train_accuracy",
    "test_loss",
    "test_accuracy",
    "train_time_s",
    "eval_time_s",
    "diverged",
    "initial_weights",
]
TABLE_FILES = ("history.csv", "summary.csv", "paired.csv", "statistics.csv")
PAIRED_METRICS = (
    "final_test_accuracy",
    "best_test_accuracy",
    "final_test_loss",
    "final_train_loss",
)
REPORT_METRICS = [
    ("final_test_accuracy", "Test accuracy (final):"),
    ("best_test_accuracy", "Test accuracy (best):"),
    ("final_test_loss", "Test loss (final):"),
    ("final_train_loss", "Train loss (final):"),
    ("final_train_accuracy", "Train accuracy:"),
]


class MixedResultsError(RuntimeError):
    """A result folder whose files do not all belong to one comparison."""


@dataclass
class ComparisonResult:
    """Everything a comparison produced: the tidy per-epoch table and what is derived from it."""

    history: pd.DataFrame  # one row per arm x seed x epoch
    summary: pd.DataFrame  # one row per arm
    paired: pd.DataFrame  # one row per seed: GC - baseline
    statistics: pd.DataFrame  # one row per metric: paired_summary of the per-seed differences
    parameters: dict
    environment: dict
    dataset: dict
    identity: str = ""
    output_dir: Path | None = None

    def report(self) -> str:
        """The 'Comparing performance' printout: mean +- std over seeds, then the paired test."""
        return format_report(self)

    def save(self, output_dir: str | os.PathLike) -> Path:
        """Write the tables, plots and results.json into `output_dir`, all or nothing.

        `output_dir` must be new, empty, or hold an earlier comparison, which is replaced
        (and said out loud); see `reserve_output_dir`.
        """
        with reserve_output_dir(output_dir) as (folder, staging):
            return self.save_reserved(folder, staging)

    def save_reserved(self, folder: Path, staging: Path) -> Path:
        """`save` into a folder that `reserve_output_dir` holds: write `staging`, swap it in."""
        from gc_tutorial.plots import save_comparison_plots

        tables = {
            "history.csv": self.history,
            "summary.csv": self.summary,
            "paired.csv": self.paired,
            "statistics.csv": self.statistics,
        }
        for name, table in tables.items():
            write_atomically(staging / name, table.to_csv(index=False))
        save_comparison_plots(self.history, staging)
        payload = {
            "identity": self.identity,
            "parameters": self.parameters,
            "environment": self.environment,
            "dataset": self.dataset,
            "summary": records(self.summary),
            "paired": records(self.paired),
            "statistics": records(self.statistics),
            "history": records(self.history),
            "files": {name: file_sha256(staging / name) for name in TABLE_FILES},
        }
        write_atomically(staging / "results.json", json.dumps(payload, indent=2) + "\n")
        check_output_dir(folder, kept_in=staging)  # again: nothing that appeared is deleted
        _announce_replacement(folder, self.identity)
        swap_into_place(staging, folder)
        self.output_dir = folder
        return folder


@contextlib.contextmanager
def reserve_output_dir(output_dir: str | os.PathLike) -> Iterator[tuple[Path, Path]]:
    """Hold `output_dir` for one comparison; yield it, resolved, and its empty staging folder.

    It is refused unless it is new, empty or an earlier comparison's, and while another
    comparison holds it (`FolderInUseError`, from a lock file beside it). A staging folder
    left by an interrupted comparison is discarded; an empty one is removed at the end.
    """
    folder = Path(output_dir).resolve()
    _check_writable(folder)
    lock_path = folder.parent / f".{folder.name}.lock"
    with lock_file(lock_path, f"output_dir {str(folder)!r}", remove=True):
        check_output_dir(folder)
        staging = staging_folder(folder)
        try:
            yield folder, staging
        finally:
            if staging.is_dir() and not any(staging.iterdir()):
                staging.rmdir()  # nothing trained: leave no empty staging folder behind


def check_output_dir(folder: Path, kept_in: Path | None = None) -> None:
    """Refuse a folder whose replacement would delete more than an earlier comparison.

    Hidden entries (such as a notebook runner's partial output) do not count: the swap
    keeps them. `kept_in` names where finished results wait when refused at save time.
    """
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"output_dir {str(folder)!r} exists and is not a folder.")
    waiting = f" The finished results wait in {str(kept_in)!r}." if kept_in else ""
    if folder == Path.cwd() or folder in Path.cwd().parents:
        raise ValueError(
            "`output_dir` must not be the current folder or hold it: saving replaces it as a "
            f"whole.{waiting} Received: output_dir={str(folder)!r}"
        )
    others = foreign_entries(folder)
    if others:
        raise ValueError(
            "`output_dir` must be a new or empty folder, or hold an earlier comparison "
            f"(results.json) to replace; it holds {', '.join(others[:3])}"
            f"{', ...' if len(others) > 3 else ''}.{waiting} Choose another folder. "
            f"Received: output_dir={str(folder)!r}"
        )


def foreign_entries(folder: Path) -> list[str]:
    """Visible entries of `folder` that no earlier comparison wrote (all, without results.json)."""
    if not folder.is_dir() or (folder / "results.json").is_file():
        return []
    return sorted(entry.name for entry in folder.iterdir() if not entry.name.startswith("."))


def _check_writable(folder: Path) -> None:
    """Create the folder that holds `folder` and check that files can be written in it."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder.parent):
            pass
    except OSError as error:
        if not isinstance(error, PermissionError) and error.errno != errno.EROFS:
            raise
        raise PermissionError(
            f"Cannot write results beside output_dir {str(folder)!r}: {error.strerror}. "
            "Choose a folder you can write to."
        ) from None


def staging_folder(folder: Path) -> Path:
    """A new, empty staging folder beside `folder`, where a comparison writes until complete.

    One left by an interrupted comparison (its finished arms, kept apart) is discarded,
    so nothing of it can leak into this comparison's results.
    """
    staging = folder.parent / f".{folder.name}.staging"
    if staging.exists():
        print(f"Discarding an interrupted comparison's files in {staging}.", flush=True)
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    return staging


def swap_into_place(staging: Path, folder: Path) -> None:
    """Replace `folder` by `staging`, keeping its hidden entries; a crash leaves one of them
    whole (and the old as .old)."""
    old = folder.parent / f".{folder.name}.old"
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        os.replace(folder, old)
    os.replace(staging, folder)
    if old.is_dir():
        for entry in old.iterdir():
            if entry.name.startswith("."):
                os.replace(entry, folder / entry.name)
    shutil.rmtree(old, ignore_errors=True)


def _announce_replacement(folder: Path, identity: str) -> None:
    path = folder / "results.json"
    if not path.is_file():
        return
    try:
        earlier = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        earlier = {}
    old_identity = earlier.get("identity")
    settings = (
        "" if old_identity == identity else f" (other settings: {old_identity} -> {identity})"
    )
    print(f"Replacing the finished comparison in {folder}{settings}.", flush=True)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def summarize(history: pd.DataFrame, num_train: int) -> pd.DataFrame:
    """One row per arm: final and best test accuracy, losses, times; mean and std over seeds."""
    per_run = per_run_table(history)
    per_run["images_per_second"] = num_train / per_run["steady_epoch_time_s"]
    metrics = [
        "final_test_accuracy",
        "best_test_accuracy",
        "final_train_accuracy",
        "final_train_loss",
        "final_test_loss",
        "first_epoch_time_s",
        "steady_epoch_time_s",
        "images_per_second",
    ]
    grouped = per_run.groupby("arm", sort=False)
    # NaN is kept: a diverged seed's NaN makes the arm's mean NaN, not a mean of the others.
    statistics = {"mean": lambda v: v.mean(skipna=False), "std": lambda v: v.std(skipna=False)}
    summary = pd.DataFrame(
        {
            f"{metric}_{stat}": grouped[metric].agg(function)
            for metric in metrics
            for stat, function in statistics.items()
        }
    )
    summary.insert(0, "seeds", grouped.size())
    summary.insert(1, "diverged", grouped["diverged"].sum().astype(int))
    return summary.reset_index()


def paired_differences(history: pd.DataFrame) -> pd.DataFrame:
    """One row per seed: GC minus baseline for the final metrics, and the epoch-time ratio.

    The time ratio compares the steady epochs (2 onwards) that both arms ran.
    """
    per_run = per_run_table(history).set_index(["seed", "arm"])
    gc, baseline = per_run.xs("gc", level="arm"), per_run.xs("baseline", level="arm")
    paired = pd.DataFrame(
        {f"{metric}_diff": gc[metric] - baseline[metric] for metric in PAIRED_METRICS}
    )
    paired["steady_epoch_time_ratio"] = _common_epoch_time_ratio(history)
    paired["any_diverged"] = gc["diverged"] | baseline["diverged"]
    return paired.reset_index()


def _common_epoch_time_ratio(history: pd.DataFrame) -> pd.Series:
    """Per seed: mean GC epoch time / mean baseline epoch time over the epochs both ran,
    leaving out epoch 1 (tracing, cache filling) when there are later ones."""
    ratios = {}
    for seed, runs in history.groupby("seed"):
        times = runs.pivot_table(index="epoch", columns="arm", values="train_time_s").dropna()
        if len(times) > 1:
            times = times.iloc[1:]
        ratios[seed] = times["gc"].mean() / times["baseline"].mean()
    return pd.Series(ratios, name="steady_epoch_time_ratio")


def paired_statistics(paired: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """`paired_summary` of each per-seed difference column; NaN fields with a single seed."""
    rows = []
    for metric in PAIRED_METRICS:
        differences = paired[f"{metric}_diff"].to_numpy(dtype=float)
        row = {"metric": metric, "confidence": confidence}
        if len(differences) >= 2 and np.isfinite(differences).all():
            summary = paired_summary(differences, confidence)
            row.update({field: getattr(summary, field) for field in SUMMARY_FIELDS})
        else:
            row.update({field: math.nan for field in SUMMARY_FIELDS})
            row["n"] = len(differences)
        rows.append(row)
    return pd.DataFrame(rows)


def per_run_table(history: pd.DataFrame) -> pd.DataFrame:
    """One row per arm x seed, from the per-epoch table; final values are the last epoch's,
    NaN included (a diverged run's final loss is NaN, not an earlier epoch's)."""
    ordered = history.sort_values(["arm", "seed", "epoch"])
    runs = ordered.groupby(["arm", "seed"], sort=False)
    last = runs.tail(1).set_index(["arm", "seed"])  # the last epoch's row, NaN and all
    per_run = pd.DataFrame(
        {
            "final_test_accuracy": last["test_accuracy"],
            "best_test_accuracy": runs["test_accuracy"].max(),
            "final_train_accuracy": last["train_accuracy"],
            "final_train_loss": last["train_loss"],
            "final_test_loss": last["test_loss"],
            "first_epoch_time_s": runs["train_time_s"].first(),
            # Epoch 1 includes graph tracing and filling the data cache: excluded when possible.
            "steady_epoch_time_s": runs["train_time_s"].apply(
                lambda times: times.iloc[1:].mean() if len(times) > 1 else times.iloc[0]
            ),
            "diverged": runs["diverged"].first().astype(bool),
        }
    ).reset_index()
    order = {arm: index for index, arm in enumerate(ARMS)}
    return per_run.sort_values(
        ["arm", "seed"], key=lambda c: c.map(order) if c.name == "arm" else c
    )


def data_notes(datasets: list[dict]) -> list[str]:
    """The NOTE lines for results made on these datasets (`DatasetInfo` records): one for
    synthetic data and one for digits, neither of which is horses_or_humans."""
    notes = []
    if any(dataset.get("synthetic") for dataset in datasets):
        notes.append(
            "NOTE: SYNTHETIC data, generated offline: these are not horses_or_humans results."
        )
    if any(dataset.get("kind") == "digits" for dataset in datasets):
        notes.append("NOTE: scikit-learn digits (real, offline): not horses_or_humans results.")
    return notes


def format_report(result: ComparisonResult) -> str:
    """Mean +- std over seeds per arm, then the paired GC - baseline test with its CI."""
    p = result.parameters
    lines = [
        f"Comparing performance: {result.dataset.get('name')} ({result.dataset.get('kind')}), "
        f"{p['optimizer']} lr={p['learning_rate']:g}, {p['epochs']} epoch(s), "
        f"seeds {p['seeds']}, image {p['image_size']}px, batch {p['batch_size']}",
    ]
    lines += data_notes([result.dataset])
    for row in result.summary.itertuples():
        label = (
            "Using Gradient Centralization"
            if row.arm == "gc"
            else "Not using Gradient Centralization"
        )
        lines += [
            label,
            *(f"  {title:<22} {_row_mean_std(row, metric)}" for metric, title in REPORT_METRICS),
            f"  First epoch (with tracing): {row.first_epoch_time_s_mean:.2f} s; "
            f"steady epoch: {_row_mean_std(row, 'steady_epoch_time_s', 2)} s "
            f"({row.images_per_second_mean:.1f} images/s)",
        ]
        if row.diverged:
            lines.append(f"  Diverged in {row.diverged} of {row.seeds} seed(s).")
    diff = result.paired["final_test_accuracy_diff"]
    lines.append(
        "Paired difference GC - baseline, final test accuracy, per seed: "
        + ", ".join(f"seed {s}: {d:+.4f}" for s, d in zip(result.paired["seed"], diff))
    )
    lines.append(describe_paired(diff.to_numpy(dtype=float)))
    return "\n".join(lines)


def describe_paired(differences: np.ndarray, what: str = "GC - baseline") -> str:
    """The paired summary in words, or why there is none."""
    if len(differences) < 2:
        return "One seed: no confidence interval (run 2 or more seeds to get one)."
    if not np.isfinite(differences).all():
        return "A run diverged (non-finite metric): no confidence interval."
    return paired_summary(differences).describe(what)


def _row_mean_std(row, metric: str, digits: int = 4) -> str:
    return mean_std(getattr(row, f"{metric}_mean"), getattr(row, f"{metric}_std"), digits)


def mean_std(mean: float, std: float, digits: int = 4) -> str:
    """'mean +- std', with 'n/a' for the std of a single seed."""
    std_text = "n/a" if not np.isfinite(std) else f"{std:.{digits}f}"
    return f"{mean:.{digits}f} +- {std_text}"


def describe_environment(jit_compile: bool | str = "auto") -> dict:
    """Versions and the machine, recorded with every result."""
    import tensorflow as tf

    return {
        "python": platform.python_version(),
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "backend": keras.backend.backend(),
        "platform": platform.platform(),
        "processor": processor_name(),
        "cpu_count": os.cpu_count(),
        "memory_gib": memory_gib(),
        "gpus": [device.name for device in tf.config.list_physical_devices("GPU")],
        "jit_compile": jit_compile,
        "op_determinism": True,
    }


def processor_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def load_comparison(folder: str | os.PathLike) -> ComparisonResult:
    """Read back a comparison written by `ComparisonResult.save`.

    Raises `FileNotFoundError` for a folder without a finished comparison, and
    `MixedResultsError` if its tables are not the ones its results.json was written with.
    """
    folder = Path(folder)
    path = folder / "results.json"
    if not path.is_file():
        raise FileNotFoundError(f"No results.json in {str(folder)!r}: not a finished comparison.")
    payload = json.loads(path.read_text())
    for name, digest in payload.get("files", {}).items():
        if not (folder / name).is_file() or file_sha256(folder / name) != digest:
            raise MixedResultsError(
                f"{str(folder / name)!r} does not belong to the comparison recorded in "
                f"{str(path)!r} (missing or changed since): refusing to mix results."
            )
    return ComparisonResult(
        history=pd.DataFrame(payload["history"], columns=HISTORY_COLUMNS),
        summary=pd.DataFrame(payload["summary"]),
        paired=pd.DataFrame(payload["paired"]),
        statistics=pd.DataFrame(payload.get("statistics", [])),
        parameters=payload["parameters"],
        environment=payload["environment"],
        dataset=payload["dataset"],
        identity=payload.get("identity", ""),
        output_dir=folder,
    )


def records(frame: pd.DataFrame) -> list[dict]:
    return jsonable(frame.to_dict(orient="records"))


def jsonable(value):
    """Plain Python values for json.dumps: numpy scalars unwrapped, NaN/inf as None."""
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
