"""A fair, timed comparison of training with and without Gradient Centralization.

For each seed, a baseline arm and a GC arm train the same model from the same
initial weights, on the same batches, augmentations and dropout masks, with the
same optimizer family, learning rate and schedule: the only difference is GC.
The settings are one `ComparisonConfig`; the results are a `ComparisonResult`.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from gc_tutorial._quiet_tensorflow import load_keras_quietly
from gc_tutorial.analysis import (
    ARMS,
    HISTORY_COLUMNS,
    paired_differences,
    paired_statistics,
    summarize,
)
from gc_tutorial.config import ComparisonConfig
from gc_tutorial.data import DatasetInfo, load_dataset
from gc_tutorial.model import build_model, loss_for
from gc_tutorial.optimizers import make_optimizer
from gc_tutorial.results import ComparisonResult, jsonable

load_keras_quietly()  # before Keras's first import: TensorFlow's start-up logs stay out
import keras  # noqa: E402

# A run has diverged when its loss is not finite, or when its training loss exceeds
# DIVERGENCE_FACTOR times the loss of guessing uniformly (ln of the number of classes).
DIVERGENCE_FACTOR = 10.0


def run_comparison(
    config: ComparisonConfig | str | os.PathLike | None = None,
    /,
    *,
    output_dir: str | os.PathLike | None = None,
    tensorboard_dir: str | os.PathLike | None = None,
    verbose: int = 2,
    **settings,
) -> ComparisonResult:
    """Train a baseline arm and a GC arm for every seed and compare them.

    Args:
        config: a `ComparisonConfig`; or, for short, the dataset name, with the other
            settings as keywords: `run_comparison("digits", augment=False, epochs=5)`.
        output_dir: if given, the tables, plots and results.json are written there, all or
            nothing (`gc_tutorial.files.saving`); checked, and held against other runs, first.
        tensorboard_dir: if given, TensorBoard logs of every arm go to
            `<tensorboard_dir>/seed<N>/<arm>` (`tensorboard --logdir <tensorboard_dir>`).
        verbose: Keras `fit` verbosity (2: one line per epoch).
        **settings: `ComparisonConfig` fields that replace those of `config`.
    """
    if config is None or isinstance(config, (str, os.PathLike)):
        if config is not None:
            settings = {"dataset": config, **settings}
        config = ComparisonConfig(**settings)
    elif not isinstance(config, ComparisonConfig):
        raise ValueError(
            "`config` must be a ComparisonConfig or a dataset name. "
            f"Received: config={config!r} ({type(config).__name__})."
        )
    elif settings:
        config = config.replace(**settings)
    logs = None if tensorboard_dir is None else Path(tensorboard_dir).expanduser()
    if output_dir is None:
        return _compare(config, verbose, logs)
    # A results folder has rules (one run at a time, written whole): loaded only to save.
    from gc_tutorial.files import saving

    output_dir = saving.check_output_dir(output_dir, config.dataset)
    with saving.reserve_output_dir(output_dir) as (folder, staging):  # refuses a second run
        result = _compare(
            config, verbose, logs, keep=lambda so_far: saving.keep_history(so_far, staging)
        )
        saving.save_comparison_plots(result.history, staging)  # swapped in with the tables
        saving.save_reserved(result, folder, staging)
    return result


def _compare(
    config: ComparisonConfig, verbose: int, logs: Path | None, keep: Callable | None = None
) -> ComparisonResult:
    """Both arms for every seed, the second from the first one's initial weights, and the
    tables; `keep`, if given, gets the history so far after each arm. Each arm's compiled
    model trains every seed."""
    enable_determinism()
    runs = [(seed, arm) for seed in config.seeds for arm in ARMS]
    rows, info, starts, compiled = [], None, {}, {}
    for index, (seed, arm) in enumerate(runs, start=1):
        trained = train_arm(
            arm,
            seed,
            config,
            verbose,
            start=starts.get(seed),
            announce=f"Run {index}/{len(runs)}",
            tensorboard_dir=None if logs is None else logs / f"seed{seed}" / arm,
            compiled=compiled.get(arm),
        )
        info, starts[seed], compiled[arm] = trained.info, trained.initial_weights, trained.compiled
        rows += trained.rows
        if keep is not None:
            keep(pd.DataFrame(rows, columns=HISTORY_COLUMNS))
    history = pd.DataFrame(rows, columns=HISTORY_COLUMNS)
    check_fair_start(history)
    paired = paired_differences(history)
    return ComparisonResult(
        history=history,
        summary=summarize(history, info.num_train),
        paired=paired,
        statistics=paired_statistics(paired),
        parameters=config.get_config(),
        dataset=jsonable(asdict(info)),
        identity=config.identity(),
    )


def enable_determinism() -> None:
    """Make TensorFlow ops (and tf.data) deterministic, so a seed always gives the same numbers."""
    if keras.backend.backend() == "tensorflow" or "tensorflow" in sys.modules:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


class CompiledArm(NamedTuple):
    """An arm's compiled model, and its optimizer's variables before the first step."""

    model: keras.Model
    optimizer_start: list[np.ndarray]


class TrainedArm(NamedTuple):
    """One arm, trained: its data, one row per epoch, its initial weights, and its compiled
    model to restart for the next seed (None where `restart` cannot)."""

    info: DatasetInfo
    rows: list[dict]
    initial_weights: list[np.ndarray]
    compiled: CompiledArm | None = None


def train_arm(
    arm: str,
    seed: int,
    config: ComparisonConfig,
    verbose: int = 2,
    start: list[np.ndarray] | None = None,
    announce: str | None = None,
    tensorboard_dir: Path | None = None,
    compiled: CompiledArm | None = None,
) -> TrainedArm:
    """Train one arm of one seed, as notebook 4 does by hand, under `config.precision`.

    The model's weights and dropout seeds come from `seed` alone (`build_model`), never from
    Python's global `random`; `start`, if given, replaces the initial weights (the first
    arm's, for the second). `announce` is printed with the seed and arm once the data has
    loaded. `compiled`, this arm's compiled model from an earlier seed, is restarted from
    this seed's start (`restart`): Keras then traces its steps once per arm, not per seed.
    """
    keras.utils.set_random_seed(seed)  # TensorFlow's global seed, under which tf.data shuffles
    data = load_dataset(
        config.dataset,
        image_size=config.image_size,
        batch_size=config.batch_size,
        augment=config.augment,
        shuffle=True,
        seed=seed,
        max_examples=config.max_examples,
        data_dir=config.data_dir,
    )
    if announce:
        print(f"{announce}: seed {seed}, {arm}", flush=True)
    with dtype_policy(config.precision):
        model = build_model(data.info.image_shape, data.info.num_classes, seed=seed)
        if start is not None:
            model.set_weights(start)
        start = model.get_weights()
        if compiled is None:
            compiled = compile_arm(model, arm, config, data.info.num_classes)
        else:
            restart(compiled, model)
        rows = _fit(compiled.model, data, arm, seed, config, verbose, tensorboard_dir)
    return TrainedArm(data.info, rows, start, compiled if _restartable(compiled) else None)


@contextlib.contextmanager
def dtype_policy(precision: str):
    """Keras's global dtype policy set to `precision` inside the block, restored after it."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def float32_output(model: keras.Model) -> keras.Model:
    """Under a mixed policy, let the output layer compute in float32 (Keras's advice for a
    stable softmax/sigmoid and loss); its weights are float32 under every policy."""
    output_layer = model.layers[-1]
    if output_layer.compute_dtype != "float32":
        output_layer.dtype_policy = "float32"
    return model


def compile_arm(
    model: keras.Model, arm: str, config: ComparisonConfig, classes: int
) -> CompiledArm:
    """Compile `model` as the arm's config says, and note its optimizer's starting state."""
    model = float32_output(model)
    model.compile(
        optimizer=make_optimizer(
            config.optimizer,
            gc=arm == "gc",
            learning_rate=config.learning_rate,
            conv_only=config.conv_only and arm == "gc",
            **({"centralize": config.centralize} if arm == "gc" else {}),
            **config.optimizer_options(),
        ),
        loss=loss_for(classes),
        metrics=["accuracy"],
        jit_compile=config.jit_compile,
        steps_per_execution=config.steps_per_execution,
    )
    model.optimizer.build(model.trainable_variables)  # as the first step would
    return CompiledArm(model, [np.array(variable) for variable in model.optimizer.variables])


def restart(compiled: CompiledArm, model: keras.Model) -> None:
    """Set `compiled.model` to start as `model` (a new model of another seed) would: its
    weights and dropout seed states, and an optimizer state as before the first step."""
    for variable, value in zip(compiled.model.variables, model.variables, strict=True):
        variable.assign(value)
    for variable, value in zip(
        compiled.model.optimizer.variables, compiled.optimizer_start, strict=True
    ):
        variable.assign(value)


def _restartable(compiled: CompiledArm) -> bool:
    """Whether `restart` gives a new optimizer's state: its variables start as scalars or zeros,
    not from the weights (Adagrad's 0.1 accumulators, Schedule-Free's weight copies)."""
    return all(value.ndim == 0 or not value.any() for value in compiled.optimizer_start)


def _fit(model, data, arm: str, seed: int, config: ComparisonConfig, verbose: int, logs):
    """Train the compiled `model` for the arm's epochs; one row per epoch."""
    initial_weights = weights_fingerprint(model)
    timer = EpochTimer()
    limit = DIVERGENCE_FACTOR * math.log(data.info.num_classes)
    callbacks = [timer, keras.callbacks.TerminateOnNaN(), StopOnDivergence(limit)]
    if logs is not None:
        callbacks.append(keras.callbacks.TensorBoard(str(logs), write_graph=False))
    fit = model.fit(
        data.train,
        validation_data=data.test,
        epochs=config.epochs,
        callbacks=callbacks,
        shuffle=False,  # the training set is already shuffled, by its seed
        verbose=verbose,
    )
    logs = fit.history
    diverged = has_diverged(logs["loss"], limit)
    if diverged:
        print(
            f"  seed {seed}, {arm}: diverged (loss not finite or above {limit:.3g}, "
            f"{DIVERGENCE_FACTOR:g} x ln(classes)); arm stopped and marked diverged."
        )
    return [
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


def has_diverged(losses: Sequence[float], limit: float) -> bool:
    """The divergence rule: a training loss that is not finite or exceeds `limit`."""
    return any(not math.isfinite(loss) or loss > limit for loss in losses)


class StopOnDivergence(keras.callbacks.Callback):
    """Stop training after an epoch whose loss breaks the divergence rule."""

    def __init__(self, limit: float):
        super().__init__()
        self.limit = limit

    def on_epoch_end(self, epoch, logs=None):
        if has_diverged([float((logs or {}).get("loss", 0.0))], self.limit):
            self.model.stop_training = True


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
