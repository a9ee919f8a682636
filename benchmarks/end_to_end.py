"""End to end: wall time and peak memory of the full comparison and of the quick notebook run.

Run from the repository root:

    python benchmarks/end_to_end.py comparison [--seeds 0 1 2] [--epochs 10]
    python benchmarks/end_to_end.py notebooks
    python benchmarks/end_to_end.py epochs [--epochs 4] [--image-size 300]

`comparison` runs the tutorial's default comparison (300x300, batch 128, RMSprop 1e-4, 10
epochs, 3 seeds, both arms) on a stand-in for horses_or_humans that works offline: a folder
of synthetic PNGs with its split sizes (1027 train, 256 test) and image size. The numbers
are the running machine's time and memory for the tutorial's workload, and its accuracies are
synthetic-data results, not horses_or_humans results. The comparison's tables and plots are
kept in benchmarks/results/comparison_synthetic_300/ (`--output-dir`), its timings in
benchmarks/results/end_to_end_comparison.json (`--output`).

`notebooks` times `pytest --nbmake notebooks/` in quick mode, as CI runs it; when pytest
fails, it shows pytest's last lines, writes nothing and exits with pytest's code.

`epochs` asks whether an epoch runs at the speed of its training steps: the default
comparison's training (300x300, batch 128, GC RMSprop 1e-4, accuracy, op determinism, the
augmenting pipeline of `load_dataset`) on the stand-in folder (1027 training images: 9
steps an epoch; `--source synthetic`: the synthetic source's 512, 4 steps), without
evaluation. A steady epoch's training time (the mean of the epochs after the first, or with
`--interleave` the median of epoch / steps pairs) is divided by its steps' compute: the same
model's `train_on_batch` on one fixed in-memory batch, times the number of steps. Each row
also gives the CPU seconds (all threads) of one step and of one batch of the pipeline
iterated alone: on a machine whose cores the step keeps busy, the epoch cannot beat 1 +
their ratio. Rows: the pipeline iterated afresh every epoch (what `train_arm` does); the
pipeline repeated, so that it keeps preparing batches across epoch boundaries
(`fit(train.repeat(), steps_per_epoch=...)`: the same batches in epoch 1, other shuffles
from epoch 2 on, so not the package default); and both without augmentation.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import (
    RESULTS,
    ROOT,
    at_least,
    buildable_image_size,
    check_folder,
    check_output,
    cpu_seconds,
    load_average,
    median_seconds,
    peak_rss_mib,
    print_table,
    write_results,
)

HORSES_OR_HUMANS_SPLITS = {"train": 1027, "test": 256}
COMPARISON_OUTPUT_DIR = RESULTS / "comparison_synthetic_300"  # the one the README cites
RESULT_NAMES = {
    "comparison": "end_to_end_comparison",
    "notebooks": "end_to_end_notebooks",
    "epochs": "epochs",
}


def write_stand_in(folder: Path, image_size: int, seed: int = 0) -> Path:
    """A folder of synthetic PNGs with horses_or_humans' split sizes and image size."""
    import tensorflow as tf

    from gc_tutorial.datasets.arrays import SYNTHETIC_CLASS_NAMES, synthetic_images

    for split, count in HORSES_OR_HUMANS_SPLITS.items():
        images, labels = synthetic_images(count, image_size, seed, split)
        for index, (image, label) in enumerate(zip(images, labels)):
            target = folder / split / SYNTHETIC_CLASS_NAMES[label]
            target.mkdir(parents=True, exist_ok=True)
            (target / f"{index:04d}.png").write_bytes(tf.io.encode_png(image).numpy())
    return folder


def comparison(args, config) -> None:
    """The comparison `config` (checked by `comparison_config`) on a fresh stand-in folder."""
    from gc_tutorial.comparison import run_comparison

    output_dir = comparison_output_dir(args)
    with tempfile.TemporaryDirectory() as scratch:
        folder = write_stand_in(Path(scratch) / "stand_in", args.image_size)
        start = time.perf_counter()
        result = run_comparison(config.replace(dataset=str(folder)), output_dir=output_dir)
        total = time.perf_counter() - start
    print(result.report())
    history = result.history
    per_epoch = history.groupby("epoch")[["train_time_s", "eval_time_s"]].mean().reset_index()
    rows = per_epoch.to_dict(orient="records")
    print_table(rows, ["epoch", "train_time_s", "eval_time_s"])
    print(f"total wall time: {total:.0f} s; peak RSS: {peak_rss_mib():.0f} MiB")
    size = f"{args.image_size}x{args.image_size}"
    splits = "/".join(str(count) for count in HORSES_OR_HUMANS_SPLITS.values())
    write_results(
        RESULT_NAMES["comparison"],
        {
            "parameters": vars(args),
            "dataset": f"folder of synthetic PNGs with horses_or_humans' sizes ({splits}, {size})",
            "total_wall_s": total,
            "runs": len(args.seeds) * 2,
            "per_epoch_mean_s": rows,
            "peak_rss_mib": peak_rss_mib(),
            "comparison_output": _shown(output_dir),
            "report": result.report(),
        },
        args.output,
    )


def comparison_config(parser: argparse.ArgumentParser, args):
    """The comparison's settings and its --output-dir, checked before the stand-in is written."""
    from gc_tutorial.config import ComparisonConfig
    from gc_tutorial.files.saving import check_results_replaceable

    try:
        config = ComparisonConfig(
            dataset="stand-in", seeds=args.seeds, epochs=args.epochs, image_size=args.image_size
        )
    except ValueError as error:
        parser.error(str(error))
    output_dir = comparison_output_dir(args).resolve()
    check_folder(parser, "--output-dir", output_dir.parent)
    try:
        check_results_replaceable(output_dir)
    except (ValueError, OSError) as error:
        parser.error(f"--output-dir: {error}")
    return config


def comparison_output_dir(args) -> Path:
    return Path(args.output_dir) if args.output_dir else COMPARISON_OUTPUT_DIR


def _shown(path: Path) -> str:
    """`path` relative to the repository where it lies inside it, as the README cites it."""
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def notebooks(args) -> None:
    env = {**os.environ, "GC_TUTORIAL_QUICK": "1"}
    command = [sys.executable, "-m", "pytest", "--nbmake", "notebooks", "-q"]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    total = time.perf_counter() - start
    if done.returncode != 0:  # a time of notebooks that fail is no result
        print((done.stdout + done.stderr)[-3000:])
        print(f"pytest --nbmake notebooks failed (exit {done.returncode}): nothing written")
        raise SystemExit(done.returncode)
    print(done.stdout[-600:])
    print(f"pytest --nbmake notebooks (quick mode): {total:.0f} s, exit {done.returncode}")
    print(f"peak RSS of the largest process: {peak_rss_mib(children=True):.0f} MiB")
    write_results(
        RESULT_NAMES["notebooks"],
        {
            "command": "GC_TUTORIAL_QUICK=1 python -m pytest --nbmake notebooks",
            "wall_s": total,
            "exit_code": done.returncode,
            "peak_rss_mib_largest_process": peak_rss_mib(children=True),
        },
        args.output,
    )


EPOCH_VARIANTS = {
    "fresh": {"augment": True, "repeat": False},  # a new iterator every epoch: train_arm
    "repeated": {"augment": True, "repeat": True},
    "fresh-no-augment": {"augment": False, "repeat": False},
    "repeated-no-augment": {"augment": False, "repeat": True},
}


def epochs(args) -> None:
    if args.source == "stand-in":
        with tempfile.TemporaryDirectory() as scratch:
            epochs_on(args, write_stand_in(Path(scratch) / "stand_in", args.image_size))
    else:
        epochs_on(args, "synthetic")


def epochs_on(args, source) -> None:
    import math

    import keras
    import numpy as np

    from gc_tutorial import make_optimizer
    from gc_tutorial.comparison import EpochTimer, enable_determinism
    from gc_tutorial.data import load_dataset
    from gc_tutorial.model import build_model, loss_for

    enable_determinism()

    def compiled_model():
        keras.utils.set_random_seed(0)
        model = build_model((args.image_size, args.image_size, 3))
        model.compile(
            optimizer=make_optimizer("rmsprop", gc=True, learning_rate=1e-4),
            loss=loss_for(2),
            metrics=["accuracy"],
        )
        return model

    rows = []
    for name in args.variants or list(EPOCH_VARIANTS):
        variant = EPOCH_VARIANTS[name]
        print(f"{name} ... (load average {load_average()})", flush=True)
        data = load_dataset(
            source, image_size=args.image_size, batch_size=128, augment=variant["augment"]
        )
        steps = math.ceil(data.info.num_train / 128)
        model, timer = compiled_model(), EpochTimer()
        train = data.train.repeat() if variant["repeat"] else data.train
        fit = dict(steps_per_epoch=steps if variant["repeat"] else None, verbose=0)
        if args.interleave:  # epoch, its steps' compute, epoch, ...: pairs see the same machine
            model.fit(train, epochs=1, **fit)  # tracing, filling the cache
            epoch_times, computes, ratios = [], [], []
            for _ in range(args.epochs - 1):
                model.fit(train, epochs=1, callbacks=[timer], **fit)
                epoch_times.append(timer.train_times[0])
                step_s, compute_s, step_cpu_s = steps_compute(model, data, steps, args.steps)
                computes.append(compute_s)
                ratios.append(epoch_times[-1] / compute_s)
            first_epoch = None
            epoch_s, compute_s = float(np.median(epoch_times)), float(np.median(computes))
            ratio = float(np.median(ratios))
        else:
            model.fit(train, epochs=args.epochs, callbacks=[timer], **fit)
            first_epoch, epoch_times = timer.train_times[0], timer.train_times
            epoch_s = float(np.mean(timer.train_times[1:]))
            step_s, compute_s, step_cpu_s = steps_compute(model, data, steps, args.steps)
            ratio, ratios = epoch_s / compute_s, None
        pipeline_cpu_s = pipeline_cpu_per_batch(data.train)
        rows.append(
            {
                "variant": name,
                "images": data.info.num_train,
                "steps": steps,
                "first_epoch_s": first_epoch,
                "steady_epoch_s": epoch_s,
                "step_s": step_s,
                "steps_compute_s": compute_s,
                "epoch_over_steps": ratio,
                "pipeline_cpu_s_per_batch": pipeline_cpu_s,
                "step_cpu_s": step_cpu_s,
                "epoch_times_s": epoch_times,
                "pair_ratios": ratios,
                "load_average": load_average(),
            }
        )
        print_table(rows[-1:], list(rows[-1])[:10])
    print()
    columns = ["variant", "steady_epoch_s", "steps_compute_s", "epoch_over_steps"]
    print_table(rows, columns + ["pipeline_cpu_s_per_batch", "step_cpu_s"])
    write_results(RESULT_NAMES["epochs"], {"parameters": vars(args), "rows": rows}, args.output)


def pipeline_cpu_per_batch(train) -> float:
    """CPU seconds (all threads) the training pipeline spends per batch, iterated alone."""
    start, batches = cpu_seconds(), 0
    for _ in train:
        batches += 1
    return (cpu_seconds() - start) / batches


def steps_compute(model, data, steps: int, repeats: int) -> tuple[float, float, float]:
    """The median step on one fixed batch, an epoch's steps at that speed (the last batch
    may be smaller), and the CPU seconds (all threads) of one such step."""
    images, labels = next(iter(data.train.take(1)))
    model.train_on_batch(images, labels)  # train_on_batch traces its own function
    start = cpu_seconds()
    step_s, _ = median_seconds(lambda: model.train_on_batch(images, labels), repeats)
    step_cpu_s = (cpu_seconds() - start) / repeats
    last = data.info.num_train - (steps - 1) * 128
    model.train_on_batch(images[:last], labels[:last])
    last_s, _ = median_seconds(lambda: model.train_on_batch(images[:last], labels[:last]), 2)
    return step_s, (steps - 1) * step_s + last_s, step_cpu_s


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    full = modes.add_parser("comparison")
    full.add_argument("--seeds", type=at_least(0), nargs="+", default=[0, 1, 2])
    full.add_argument("--epochs", type=at_least(1), default=10)
    full.add_argument("--image-size", type=buildable_image_size, default=300)
    full.add_argument(
        "--output-dir",
        help="the comparison's tables and plots (default: benchmarks/results/"
        f"{COMPARISON_OUTPUT_DIR.name}/)",
    )
    full.add_argument(
        "--output", help=f"default: benchmarks/results/{RESULT_NAMES['comparison']}.json"
    )
    notebooks_mode = modes.add_parser("notebooks")
    notebooks_mode.add_argument(
        "--output", help=f"default: benchmarks/results/{RESULT_NAMES['notebooks']}.json"
    )
    timed = modes.add_parser("epochs")
    timed.add_argument(
        "--epochs", type=at_least(2), default=4, help="at least 2: the first is left out"
    )
    timed.add_argument("--steps", type=at_least(1), default=4, help="timed train_on_batch steps")
    timed.add_argument("--image-size", type=buildable_image_size, default=300)
    timed.add_argument(
        "--source",
        choices=["stand-in", "synthetic"],
        default="stand-in",
        help="stand-in: PNGs with horses_or_humans' sizes (1027 training images, 9 steps); "
        "synthetic: the synthetic source's 512 (4 steps)",
    )
    timed.add_argument("--variants", nargs="+", choices=list(EPOCH_VARIANTS))
    timed.add_argument("--output", default=None)
    timed.add_argument(
        "--interleave",
        action="store_true",
        help="one epoch per fit call, each followed by its steps' compute (median of pairs)",
    )
    args = parser.parse_args(argv)
    mode_parser = {"comparison": full, "notebooks": notebooks_mode, "epochs": timed}[args.mode]
    config = comparison_config(mode_parser, args) if args.mode == "comparison" else None
    check_output(mode_parser, RESULT_NAMES[args.mode], args.output)
    if args.mode == "comparison":
        comparison(args, config)
    elif args.mode == "notebooks":
        notebooks(args)
    else:
        epochs(args)


if __name__ == "__main__":
    main()
