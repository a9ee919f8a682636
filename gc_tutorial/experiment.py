"""A fair, timed comparison of training with and without Gradient Centralization.

For each seed, a baseline arm and a GC arm train the same model from the same
initial weights, on the same batches, augmentations and dropout masks, with the
same optimizer family, learning rate and schedule: the only difference is GC.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from gc_tutorial.centralization import (
    check_bool,
    check_learning_rate,
    check_optimizer_name,
    make_optimizer,
)
from gc_tutorial.data import load_dataset
from gc_tutorial.model import build_model, loss_for
from gc_tutorial.plots import save_comparison_plots
from gc_tutorial.storage import prepare_output_dir, write_atomically

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
RESULT_FILES = ("history.csv", "summary.csv", "paired.csv", "results.json")


@dataclass
class ComparisonResult:
    """Everything a comparison produced: the tidy per-epoch table and what is derived from it."""

    history: pd.DataFrame  # one row per arm x seed x epoch
    summary: pd.DataFrame  # one row per arm
    paired: pd.DataFrame  # one row per seed: GC - baseline
    parameters: dict
    environment: dict
    dataset: dict
    output_dir: Path | None = None

    def report(self) -> str:
        """The 'Comparing performance' printout: mean +- std over seeds, test metrics first."""
        return format_report(self)

    def save(self, output_dir: str | os.PathLike) -> Path:
        """Write CSV tables, results.json and the plots into `output_dir`, each file atomically."""
        folder = prepare_output_dir(output_dir)
        write_atomically(folder / "history.csv", self.history.to_csv(index=False))
        write_atomically(folder / "summary.csv", self.summary.to_csv(index=False))
        write_atomically(folder / "paired.csv", self.paired.to_csv(index=False))
        save_comparison_plots(self.history, folder)
        payload = {
            "parameters": self.parameters,
            "environment": self.environment,
            "dataset": self.dataset,
            "summary": _records(self.summary),
            "paired": _records(self.paired),
            "history": _records(self.history),
        }
        write_atomically(folder / "results.json", json.dumps(payload, indent=2) + "\n")
        self.output_dir = folder
        return folder


def run_comparison(
    dataset: str | os.PathLike = "horses_or_humans",
    *,
    seeds: Sequence[int] = (0, 1, 2),
    epochs: int = 10,
    optimizer: str = "rmsprop",
    learning_rate: float = 1e-4,
    momentum: float | None = None,
    batch_size: int = 128,
    image_size: int = 300,
    augment: bool = True,
    max_examples: int | None = None,
    conv_only: bool = False,
    data_dir: str | os.PathLike | None = None,
    output_dir: str | os.PathLike | None = None,
    jit_compile: bool | str = "auto",
    verbose: int = 2,
) -> ComparisonResult:
    """Train a baseline arm and a GC arm for every seed and compare them.

    Args:
        dataset: anything `gc_tutorial.data.load_dataset` takes as `source`.
        seeds: one paired baseline/GC comparison per seed.
        epochs, optimizer, learning_rate, batch_size, image_size, augment,
            max_examples, data_dir: shared by both arms.
        momentum: the optimizer's momentum (SGD, RMSprop); None keeps its default.
        conv_only: GC arm centralizes convolution kernels only.
        output_dir: if given, CSV/JSON tables and PNG plots are written there.
        jit_compile: passed to `model.compile`. Keras's "auto" turns XLA off
            while TensorFlow op determinism is on, as it is here.
        verbose: Keras `fit` verbosity (2: one line per epoch).
    """
    parameters = check_parameters(
        dataset=os.fspath(dataset),
        seeds=seeds,
        epochs=epochs,
        optimizer=optimizer,
        learning_rate=learning_rate,
        momentum=momentum,
        batch_size=batch_size,
        image_size=image_size,
        augment=augment,
        max_examples=max_examples,
        conv_only=conv_only,
        data_dir=None if data_dir is None else os.fspath(data_dir),
        jit_compile=jit_compile,
    )
    folder = None if output_dir is None else prepare_output_dir(output_dir)
    enable_determinism()
    runs = [(seed, arm) for seed in parameters["seeds"] for arm in ARMS]
    rows, info = [], None
    for index, (seed, arm) in enumerate(runs, start=1):
        print(f"Run {index}/{len(runs)}: seed {seed}, {arm}", flush=True)
        info, arm_rows = train_arm(arm, seed, parameters, verbose=verbose)
        rows += arm_rows
        if folder is not None:  # an interrupted comparison keeps the arms it finished
            write_atomically(
                folder / "history.csv",
                pd.DataFrame(rows, columns=HISTORY_COLUMNS).to_csv(index=False),
            )
    history = pd.DataFrame(rows, columns=HISTORY_COLUMNS)
    check_fair_start(history)
    result = ComparisonResult(
        history=history,
        summary=summarize(history, info.num_train),
        paired=paired_differences(history),
        parameters=parameters,
        environment=describe_environment(parameters["jit_compile"]),
        dataset=_jsonable(asdict(info)),
    )
    if output_dir is not None:
        result.save(output_dir)
    return result


def check_parameters(**parameters) -> dict:
    """Validate a comparison's parameters before any data is loaded or any training starts."""
    seeds = parameters["seeds"]
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence) or not seeds:
        raise ValueError(f"`seeds` must be a non-empty list of ints, got {seeds!r}.")
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"Every seed must be an int >= 0, got {seed!r} in seeds={seeds!r}.")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"`seeds` has repeats: {seeds!r}.")
    epochs = parameters["epochs"]
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"`epochs` must be an int >= 1, got {epochs!r}.")
    for flag in ("augment", "conv_only"):
        check_bool(flag, parameters[flag])
    momentum = parameters["momentum"]
    if momentum is not None:
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)):
            raise ValueError(f"`momentum` must be a number in [0, 1) or None, got {momentum!r}.")
        if not 0 <= momentum < 1:
            raise ValueError(f"`momentum` must be in [0, 1), got {momentum!r}.")
        if check_optimizer_name(parameters["optimizer"]) not in ("sgd", "rmsprop"):
            raise ValueError(
                f"`momentum` applies to sgd and rmsprop only, got optimizer "
                f"{parameters['optimizer']!r} with momentum={momentum!r}."
            )
    if parameters["jit_compile"] not in (True, False, "auto"):
        raise ValueError(
            f"`jit_compile` must be True, False or 'auto', got {parameters['jit_compile']!r}."
        )
    return {
        **parameters,
        "seeds": list(seeds),
        "optimizer": check_optimizer_name(parameters["optimizer"]),
        "learning_rate": check_learning_rate(parameters["learning_rate"]),
    }


def enable_determinism() -> None:
    """Make TensorFlow ops (and tf.data) deterministic, so a seed always gives the same numbers."""
    if keras.backend.backend() == "tensorflow" or "tensorflow" in sys.modules:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def train_arm(arm: str, seed: int, parameters: dict, verbose: int = 2):
    """Train one arm from the seed's initial weights; return the dataset info and per-epoch rows."""
    keras.utils.set_random_seed(seed)
    data = load_dataset(
        parameters["dataset"],
        image_size=parameters["image_size"],
        batch_size=parameters["batch_size"],
        augment=parameters["augment"],
        shuffle=True,
        seed=seed,
        max_examples=parameters["max_examples"],
        data_dir=parameters["data_dir"],
    )
    model = build_model(data.info.image_shape, data.info.num_classes)
    model.compile(
        optimizer=make_optimizer(
            parameters["optimizer"],
            gc=arm == "gc",
            learning_rate=parameters["learning_rate"],
            conv_only=parameters["conv_only"] and arm == "gc",
            **_optimizer_options(parameters),
        ),
        loss=loss_for(data.info.num_classes),
        metrics=["accuracy"],
        jit_compile=parameters["jit_compile"],
    )
    initial_weights = weights_fingerprint(model)
    timer = EpochTimer()
    fit = model.fit(
        data.train,
        validation_data=data.test,
        epochs=parameters["epochs"],
        callbacks=[timer, keras.callbacks.TerminateOnNaN()],
        shuffle=False,  # the training set is already shuffled, by its seed
        verbose=verbose,
    )
    logs = fit.history
    diverged = not all(math.isfinite(loss) for loss in logs["loss"])
    rows = [
        {
            "seed": seed,
            "arm": arm,
            "epoch": epoch + 1,
            "train_loss": logs["loss"][epoch],
            "train_accuracy": logs["accuracy"][epoch],
            "test_loss": logs["val_loss"][epoch],
            "test_accuracy": logs["val_accuracy"][epoch],
            "train_time_s": timer.train_times[epoch],
            "eval_time_s": timer.eval_times[epoch],
            "diverged": diverged,
            "initial_weights": initial_weights,
        }
        for epoch in range(len(logs["loss"]))
    ]
    if diverged:
        print(f"  seed {seed}, {arm}: loss became NaN/inf; arm stopped and marked diverged.")
    return data.info, rows


def _optimizer_options(parameters: dict) -> dict:
    momentum = parameters.get("momentum")
    return {} if momentum is None else {"momentum": momentum}


class EpochTimer(keras.callbacks.Callback):
    """Wall time of each epoch's training part and of its evaluation on the test set."""

    def on_train_begin(self, logs=None):
        self.train_times, self.eval_times = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()
        self._eval_start = None

    def on_test_begin(self, logs=None):
        self._eval_start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        end = time.perf_counter()
        eval_start = self._eval_start or end
        self.train_times.append(eval_start - self._epoch_start)
        self.eval_times.append(end - eval_start)


def weights_fingerprint(model: keras.Model) -> str:
    """A short hash of a model's weights: equal fingerprints mean identical weights."""
    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()[:16]


def check_fair_start(history: pd.DataFrame) -> None:
    """Both arms of a seed must start from identical weights; anything else is a bug."""
    starts = history.groupby("seed")["initial_weights"].nunique()
    if (starts > 1).any():
        raise RuntimeError(
            f"Arms started from different weights for seeds {list(starts[starts > 1].index)}."
        )


def summarize(history: pd.DataFrame, num_train: int) -> pd.DataFrame:
    """One row per arm: final and best test accuracy, losses, times; mean and std over seeds."""
    per_run = _per_run(history)
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
    summary = grouped[metrics].agg(["mean", "std"])
    summary.columns = [f"{metric}_{stat}" for metric, stat in summary.columns]
    summary.insert(0, "seeds", grouped.size())
    summary.insert(1, "diverged", grouped["diverged"].sum().astype(int))
    return summary.reset_index()


def paired_differences(history: pd.DataFrame) -> pd.DataFrame:
    """One row per seed: GC minus baseline for the final metrics, and the epoch-time ratio."""
    per_run = _per_run(history).set_index(["seed", "arm"])
    gc, baseline = per_run.xs("gc", level="arm"), per_run.xs("baseline", level="arm")
    paired = pd.DataFrame(
        {
            f"{metric}_diff": gc[metric] - baseline[metric]
            for metric in (
                "final_test_accuracy",
                "best_test_accuracy",
                "final_test_loss",
                "final_train_loss",
            )
        }
    )
    paired["steady_epoch_time_ratio"] = gc["steady_epoch_time_s"] / baseline["steady_epoch_time_s"]
    paired["any_diverged"] = gc["diverged"] | baseline["diverged"]
    return paired.reset_index()


def _per_run(history: pd.DataFrame) -> pd.DataFrame:
    """One row per arm x seed, from the per-epoch table."""
    ordered = history.sort_values(["arm", "seed", "epoch"])
    runs = ordered.groupby(["arm", "seed"], sort=False)
    per_run = pd.DataFrame(
        {
            "final_test_accuracy": runs["test_accuracy"].last(),
            "best_test_accuracy": runs["test_accuracy"].max(),
            "final_train_accuracy": runs["train_accuracy"].last(),
            "final_train_loss": runs["train_loss"].last(),
            "final_test_loss": runs["test_loss"].last(),
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


def format_report(result: ComparisonResult) -> str:
    """Mean +- std over seeds per arm, then the paired GC - baseline differences."""
    p = result.parameters
    lines = [
        f"Comparing performance: {result.dataset.get('name')} ({result.dataset.get('kind')}), "
        f"{p['optimizer']} lr={p['learning_rate']:g}, {p['epochs']} epoch(s), "
        f"seeds {p['seeds']}, image {p['image_size']}px, batch {p['batch_size']}",
    ]
    if result.dataset.get("synthetic"):
        lines.append(
            "NOTE: SYNTHETIC data, generated offline: these are not horses_or_humans results."
        )
    for row in result.summary.itertuples():
        label = (
            "Using Gradient Centralization"
            if row.arm == "gc"
            else "Not using Gradient Centralization"
        )
        lines += [
            label,
            *(f"  {title:<22} {_row_pm(row, metric)}" for metric, title in REPORT_METRICS),
            f"  First epoch (with tracing): {row.first_epoch_time_s_mean:.2f} s; "
            f"steady epoch: {_row_pm(row, 'steady_epoch_time_s', 2)} s "
            f"({row.images_per_second_mean:.1f} images/s)",
        ]
        if row.diverged:
            lines.append(f"  Diverged (NaN loss) in {row.diverged} of {row.seeds} seed(s).")
    diff = result.paired["final_test_accuracy_diff"]
    lines.append(
        "Paired difference GC - baseline, final test accuracy: "
        + ", ".join(f"seed {s}: {d:+.4f}" for s, d in zip(result.paired["seed"], diff))
        + f"; mean {_pm(diff.mean(), diff.std())}"
    )
    return "\n".join(lines)


REPORT_METRICS = [
    ("final_test_accuracy", "Test accuracy (final):"),
    ("best_test_accuracy", "Test accuracy (best):"),
    ("final_test_loss", "Test loss (final):"),
    ("final_train_loss", "Train loss (final):"),
    ("final_train_accuracy", "Train accuracy:"),
]


def _row_pm(row, metric: str, digits: int = 4) -> str:
    return _pm(getattr(row, f"{metric}_mean"), getattr(row, f"{metric}_std"), digits)


def _pm(mean: float, std: float, digits: int = 4) -> str:
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
        "processor": _processor_name(),
        "cpu_count": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "gpus": [device.name for device in tf.config.list_physical_devices("GPU")],
        "jit_compile": jit_compile,
        "op_determinism": True,
    }


def _processor_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def load_comparison(folder: str | os.PathLike) -> ComparisonResult:
    """Read back a comparison written by `ComparisonResult.save`."""
    folder = Path(folder)
    path = folder / "results.json"
    if not path.is_file():
        raise FileNotFoundError(f"No results.json in {str(folder)!r}: not a finished comparison.")
    payload = json.loads(path.read_text())
    return ComparisonResult(
        history=pd.DataFrame(payload["history"], columns=HISTORY_COLUMNS),
        summary=pd.DataFrame(payload["summary"]),
        paired=pd.DataFrame(payload["paired"]),
        parameters=payload["parameters"],
        environment=payload["environment"],
        dataset=payload["dataset"],
        output_dir=folder,
    )


def _records(frame: pd.DataFrame) -> list[dict]:
    return _jsonable(frame.to_dict(orient="records"))


def _jsonable(value):
    """Plain Python values for json.dumps: numpy scalars unwrapped, NaN/inf as None."""
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: `python -m gc_tutorial.experiment --dataset synthetic --epochs 2 ...`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dataset", default="horses_or_humans", help="tfds name, folder or 'synthetic'"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--optimizer", default="rmsprop")
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--image-size", type=int, default=300)
    parser.add_argument("--max-examples", type=int, default=None)
    parser.add_argument("--no-augment", action="store_true")
    parser.add_argument("--conv-only", action="store_true")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--output-dir", default="results/comparison")
    args = parser.parse_args(argv)
    result = run_comparison(
        args.dataset,
        seeds=args.seeds,
        epochs=args.epochs,
        optimizer=args.optimizer,
        learning_rate=args.learning_rate,
        batch_size=args.batch_size,
        image_size=args.image_size,
        augment=not args.no_augment,
        max_examples=args.max_examples,
        conv_only=args.conv_only,
        data_dir=args.data_dir,
        output_dir=args.output_dir,
    )
    print(result.report())
    print(f"Tables and plots written to {result.output_dir}")


if __name__ == "__main__":
    main()
